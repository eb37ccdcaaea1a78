// Specification of SlotWatch: warnings about the slot are said once per change of state, not at
// every sample: growing lag, nearing max_slot_wal_keep_size, and loss.
#include "wal/slot_health.h"

#include <gtest/gtest.h>

namespace pgpitr::wal {
namespace {

SlotHealth Sample(int64_t lag, std::string wal_status = "reserved") {
  SlotHealth s;
  s.exists = true;
  s.wal_status = std::move(wal_status);
  s.lag_bytes = lag;
  return s;
}

std::vector<SlotEvent::Level> Levels(const std::vector<SlotEvent>& events) {
  std::vector<SlotEvent::Level> out;
  for (const SlotEvent& e : events) out.push_back(e.level);
  return out;
}

TEST(SlotWatch, GrowingLagWarnsOnceAfterEnoughSamplesInARow) {
  SlotWatch watch(3);
  EXPECT_TRUE(watch.Observe(Sample(100)).empty());
  EXPECT_TRUE(watch.Observe(Sample(200)).empty());
  EXPECT_TRUE(watch.Observe(Sample(300)).empty());
  std::vector<SlotEvent> third = watch.Observe(Sample(400));
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].level, SlotEvent::Level::kWarning);
  EXPECT_NE(third[0].message.find("lag keeps growing"), std::string::npos);
  EXPECT_TRUE(watch.Observe(Sample(500)).empty()) << "said once, not at every sample";
  std::vector<SlotEvent> shrink = watch.Observe(Sample(10));
  EXPECT_EQ(Levels(shrink), std::vector{SlotEvent::Level::kInfo});
  EXPECT_TRUE(watch.Observe(Sample(5)).empty());
}

TEST(SlotWatch, LagThatStopsGrowingDoesNotWarn) {
  SlotWatch watch(3);
  for (int64_t lag : {100, 200, 300, 300, 400, 500, 100, 200}) EXPECT_TRUE(watch.Observe(Sample(lag)).empty()) << lag;
}

TEST(SlotWatch, NearTheKeepLimitWarnsOnceAndSaysWhenItRecovers) {
  SlotWatch watch;
  SlotHealth s = Sample(0);
  s.max_slot_wal_keep = 100 << 20;
  s.safe_wal_size = 50 << 20;
  EXPECT_TRUE(watch.Observe(s).empty());
  s.safe_wal_size = 19 << 20;  // under 20%
  std::vector<SlotEvent> risk = watch.Observe(s);
  ASSERT_EQ(Levels(risk), std::vector{SlotEvent::Level::kWarning});
  EXPECT_NE(risk[0].message.find("close to being invalidated"), std::string::npos);
  EXPECT_TRUE(watch.Observe(s).empty());
  s.safe_wal_size = 90 << 20;
  EXPECT_EQ(Levels(watch.Observe(s)), std::vector{SlotEvent::Level::kInfo});
}

TEST(SlotWatch, UnreservedIsAtRiskEvenWithoutALimitFigure) {
  SlotWatch watch;
  EXPECT_EQ(Levels(watch.Observe(Sample(0, "unreserved"))), std::vector{SlotEvent::Level::kWarning});
}

TEST(SlotWatch, NoLimitNeverWarnsAboutTheLimit) {
  SlotWatch watch;
  SlotHealth s = Sample(0, "extended");
  s.safe_wal_size = 0;  // irrelevant without max_slot_wal_keep_size
  EXPECT_TRUE(watch.Observe(s).empty());
}

TEST(SlotWatch, LostOrMissingSlotIsAnErrorSaidOnce) {
  SlotWatch watch;
  std::vector<SlotEvent> lost = watch.Observe(Sample(0, "lost"));
  ASSERT_EQ(Levels(lost), std::vector{SlotEvent::Level::kError});
  EXPECT_NE(lost[0].message.find("invalidated"), std::string::npos);
  EXPECT_TRUE(watch.Observe(Sample(0, "lost")).empty());
  SlotWatch other;
  SlotHealth missing;
  EXPECT_TRUE(missing.lost());
  EXPECT_EQ(missing.status_label(), "missing");
  EXPECT_EQ(Levels(other.Observe(missing)), std::vector{SlotEvent::Level::kError});
}

}  // namespace
}  // namespace pgpitr::wal
