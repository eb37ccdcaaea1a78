// Specification of the restorable window: which bases the change log makes usable, and the stretches
// between gaps that hold one, each from its oldest base to the last commit before the next gap (or to
// what capture made durable). Pure: bases, capture state, gaps and retention's horizon written by hand.
#include "wal/restorable_window.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace pgpitr::wal {
namespace {

// 2026-11-25 10:41:07 UTC plus seconds: times far from PostgreSQL's epoch, as a real repository has them.
pg::PgTime T(int64_t seconds) { return pg::PgTimeFromUnixMicros((1795603267 + seconds) * 1'000'000); }

proto::Base Base(const std::string& id, uint64_t lsn, pg::PgTime consistent_time) {
  proto::Base base;
  base.set_id(id);
  base.set_lsn(lsn);
  base.set_consistent_time(consistent_time);
  return base;
}

proto::CaptureState State(uint64_t log_start, uint64_t captured_through, pg::PgTime captured_through_time) {
  proto::CaptureState state;
  state.set_log_start_lsn(log_start);
  state.set_captured_through_lsn(captured_through);
  state.set_captured_through_time(captured_through_time);
  return state;
}

proto::Gap Gap(uint64_t from, uint64_t to, const std::string& reason = "slot pgpitr lost") {
  proto::Gap g;
  g.set_from_lsn(from);
  g.set_to_lsn(to);
  g.set_reason(reason);
  return g;
}

std::vector<std::string> IdsOf(const std::vector<proto::Base>& bases) {
  std::vector<std::string> out;
  for (const proto::Base& b : bases) out.push_back(b.id());
  return out;
}

TEST(RestorableWindow, RunsFromTheOldestUsableBaseToCapturedThrough) {
  const RestorableWindow w =
      ComputeRestorableWindow({Base("b2", 0x350, T(350)), Base("b1", 0x150, T(150))}, State(0x100, 0x600, T(600)), {});
  ASSERT_EQ(w.stretches.size(), 1u);
  const RestorableStretch& s = w.stretches[0];
  EXPECT_EQ(IdsOf(s.bases), (std::vector<std::string>{"b1", "b2"})) << "oldest first, whatever the input order";
  EXPECT_EQ(s.start_lsn, pg::Lsn(0x150));
  EXPECT_EQ(s.start_time, T(150));
  EXPECT_EQ(s.end_lsn, pg::Lsn(0x600));
  EXPECT_EQ(s.end_time, T(600));
  EXPECT_FALSE(s.ends_at_gap.has_value());
  EXPECT_EQ(w.ToString(), pg::FormatPgTime(T(150)) + " (LSN 0/150) to " + pg::FormatPgTime(T(600)) + " (LSN 0/600)");
}

TEST(RestorableWindow, BasesTheLogDoesNotReachAreUnusable) {
  const RestorableWindow w =
      ComputeRestorableWindow({Base("before-log", 0x50, T(0)), Base("b1", 0x150, T(150)), Base("ahead", 0x700, T(700))},
                              State(0x100, 0x600, T(600)), {});
  ASSERT_EQ(w.stretches.size(), 1u);
  EXPECT_EQ(IdsOf(w.stretches[0].bases), std::vector<std::string>{"b1"});
  EXPECT_EQ(IdsOf(w.unusable_bases), (std::vector<std::string>{"before-log", "ahead"}));
  EXPECT_TRUE(w.IsUsable(Base("b1", 0x150, T(150))));
  EXPECT_FALSE(w.IsUsable(Base("ahead", 0x700, T(700))));
}

TEST(RestorableWindow, BasesBelowRetentionsHorizonAreUnusable) {
  const RestorableWindow w = ComputeRestorableWindow({Base("retired", 0x150, T(150)), Base("kept", 0x350, T(350))},
                                                     State(0x100, 0x600, T(600)), {}, pg::Lsn(0x350));
  ASSERT_EQ(w.stretches.size(), 1u);
  EXPECT_EQ(w.stretches[0].start_lsn, pg::Lsn(0x350));
  EXPECT_EQ(IdsOf(w.unusable_bases), std::vector<std::string>{"retired"});
}

TEST(RestorableWindow, NothingIsRestorableBeforeCaptureStarted) {
  const RestorableWindow w = ComputeRestorableWindow({Base("b1", 0x150, T(150))}, State(0, 0, 0), {});
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.ToString(), "nothing");
}

TEST(RestorableWindow, EndTimeIsAtLeastTheNewestBasesTime) {
  // Capture passed the base's LSN, but its clock reading is older than the base's.
  const RestorableWindow w = ComputeRestorableWindow({Base("b1", 0x150, T(150))}, State(0x100, 0x150, T(120)), {});
  ASSERT_EQ(w.stretches.size(), 1u);
  EXPECT_EQ(w.stretches[0].end_time, T(150));
}

// The lost-slot case: a base before the gap, a gap, a new base after it.
TEST(RestorableWindow, AGapSplitsTheWindowIntoTwoStretchesEachFromItsOwnBase) {
  std::vector<pg::Lsn> asked;
  const RestorableWindow w =
      ComputeRestorableWindow({Base("b1", 0x150, T(150)), Base("b2", 0x550, T(550))}, State(0x100, 0x800, T(800)),
                              {Gap(0x3FF, 0x500)}, pg::Lsn(), [&](pg::Lsn lsn) -> std::optional<pg::PgTime> {
                                asked.push_back(lsn);
                                return T(390);  // the last commit at or before the gap's start
                              });
  ASSERT_EQ(w.stretches.size(), 2u) << w.ToString();
  const RestorableStretch& before = w.stretches[0];
  EXPECT_EQ(IdsOf(before.bases), std::vector<std::string>{"b1"});
  EXPECT_EQ(before.start_lsn, pg::Lsn(0x150));
  EXPECT_EQ(before.end_lsn, pg::Lsn(0x3FF)) << "every commit at or before the gap's start is stored";
  EXPECT_EQ(before.end_time, T(390)) << "the last commit before the gap";
  ASSERT_TRUE(before.ends_at_gap.has_value());
  EXPECT_EQ(before.ends_at_gap->to_lsn(), 0x500u);
  EXPECT_EQ(asked, std::vector<pg::Lsn>{pg::Lsn(0x3FF)});
  const RestorableStretch& after = w.stretches[1];
  EXPECT_EQ(IdsOf(after.bases), std::vector<std::string>{"b2"});
  EXPECT_EQ(after.start_time, T(550));
  EXPECT_EQ(after.end_lsn, pg::Lsn(0x800));
  EXPECT_EQ(after.end_time, T(800));
  EXPECT_FALSE(after.ends_at_gap.has_value());
  EXPECT_EQ(&w.newest(), &w.stretches[1]);
  EXPECT_TRUE(before.HoldsTime(T(390)));
  EXPECT_FALSE(before.HoldsTime(T(391)));
  EXPECT_TRUE(after.HoldsLsn(pg::Lsn(0x550)));
  EXPECT_FALSE(after.HoldsLsn(pg::Lsn(0x54F)));
  EXPECT_EQ(w.ToString(), before.ToString() + "; " + after.ToString());
}

TEST(RestorableWindow, WithoutCommitsTheStretchBeforeAGapEndsAtItsNewestBasesTime) {
  const RestorableWindow w = ComputeRestorableWindow({Base("b1", 0x150, T(150)), Base("b2", 0x550, T(550))},
                                                     State(0x100, 0x800, T(800)), {Gap(0x3FF, 0x500)});
  ASSERT_EQ(w.stretches.size(), 2u);
  EXPECT_EQ(w.stretches[0].end_time, T(150)) << "no lookup: the conservative bound";
}

TEST(RestorableWindow, AGapAfterTheNewestBaseEndsTheOnlyStretch) {
  const RestorableWindow w = ComputeRestorableWindow({Base("b1", 0x150, T(150)), Base("b2", 0x350, T(350))},
                                                     State(0x100, 0x600, T(600)), {Gap(0x400, 0x500)});
  ASSERT_EQ(w.stretches.size(), 1u);
  EXPECT_EQ(IdsOf(w.stretches[0].bases), (std::vector<std::string>{"b1", "b2"}));
  EXPECT_EQ(w.stretches[0].end_lsn, pg::Lsn(0x400));
  EXPECT_TRUE(w.stretches[0].ends_at_gap.has_value());
  EXPECT_EQ(w.stretches[0].end_time, T(350));
}

TEST(RestorableWindow, AStretchWithoutABaseIsNotRestorable) {
  // Nothing was based before the gap: only what follows the base after it.
  const RestorableWindow w =
      ComputeRestorableWindow({Base("b2", 0x550, T(550))}, State(0x100, 0x800, T(800)), {Gap(0x3FF, 0x500)});
  ASSERT_EQ(w.stretches.size(), 1u);
  EXPECT_EQ(w.stretches[0].start_lsn, pg::Lsn(0x550));
}

TEST(RestorableWindow, ABaseInsideAGapIsUnusable) {
  const RestorableWindow w = ComputeRestorableWindow({Base("b1", 0x150, T(150)), Base("inside", 0x250, T(250))},
                                                     State(0x100, 0x600, T(600)), {Gap(0x200, 0x300)});
  ASSERT_EQ(w.stretches.size(), 1u);
  EXPECT_EQ(IdsOf(w.stretches[0].bases), std::vector<std::string>{"b1"});
  EXPECT_EQ(w.stretches[0].end_lsn, pg::Lsn(0x200));
  EXPECT_EQ(IdsOf(w.unusable_bases), std::vector<std::string>{"inside"});
}

TEST(RestorableWindow, BasesExactlyAtAGapsEdgesBelongToTheStretchOnTheirSide) {
  const RestorableWindow w = ComputeRestorableWindow({Base("at-from", 0x200, T(200)), Base("at-to", 0x300, T(300))},
                                                     State(0x100, 0x600, T(600)), {Gap(0x200, 0x300)});
  ASSERT_EQ(w.stretches.size(), 2u);
  EXPECT_EQ(IdsOf(w.stretches[0].bases), std::vector<std::string>{"at-from"});
  EXPECT_EQ(IdsOf(w.stretches[1].bases), std::vector<std::string>{"at-to"});
}

TEST(RestorableWindow, OverlappingGapsAreOne) {
  // A recorded gap and a damaged range verify found around it.
  const RestorableWindow w =
      ComputeRestorableWindow({Base("b1", 0x150, T(150)), Base("mid", 0x380, T(380)), Base("b3", 0x700, T(700))},
                              State(0x100, 0x800, T(800)), {Gap(0x350, 0x600, "damaged"), Gap(0x300, 0x400)});
  ASSERT_EQ(w.stretches.size(), 2u) << w.ToString();
  EXPECT_EQ(w.stretches[0].end_lsn, pg::Lsn(0x300));
  ASSERT_TRUE(w.stretches[0].ends_at_gap.has_value());
  EXPECT_EQ(w.stretches[0].ends_at_gap->to_lsn(), 0x600u);
  EXPECT_EQ(IdsOf(w.unusable_bases), std::vector<std::string>{"mid"});
  EXPECT_EQ(w.stretches[1].start_lsn, pg::Lsn(0x700));
}

TEST(RestorableWindow, AGapPastWhatCaptureMadeDurableDoesNotEndTheWindow) {
  const RestorableWindow w =
      ComputeRestorableWindow({Base("b1", 0x150, T(150))}, State(0x100, 0x600, T(600)), {Gap(0x700, 0x800)});
  ASSERT_EQ(w.stretches.size(), 1u);
  EXPECT_EQ(w.stretches[0].end_lsn, pg::Lsn(0x600));
  EXPECT_FALSE(w.stretches[0].ends_at_gap.has_value());
}

}  // namespace
}  // namespace pgpitr::wal
