// Specification of when `run` takes its next base: durations and times of day as flags spell them,
// and the next due time after the last decision, with and without a time of day.
#include "wal/base_schedule.h"

#include <gtest/gtest.h>

namespace pgpitr::wal {
namespace {

using namespace std::chrono_literals;
using std::chrono::system_clock;

struct DurationCase {
  const char* text;
  std::chrono::milliseconds expected;
};

class ParseDurationTest : public ::testing::TestWithParam<DurationCase> {};

TEST_P(ParseDurationTest, ReadsTheFlagSpelling) {
  absl::StatusOr<std::chrono::milliseconds> d = ParseDuration(GetParam().text);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(BaseSchedule, ParseDurationTest,
                         ::testing::Values(DurationCase{"24h", 24h}, DurationCase{"30min", 30min},
                                           DurationCase{"10s", 10s}, DurationCase{"7d", 168h},
                                           DurationCase{"500ms", 500ms}, DurationCase{"1h30min", 90min},
                                           DurationCase{"5m", 5min}));

TEST(BaseSchedule, MalformedDurationsAreErrorsThatShowTheSpelling) {
  for (const char* bad : {"", "24", "h", "10 s", "-5s", "0s", "3 days", "1.5h", "10x"}) {
    absl::StatusOr<std::chrono::milliseconds> d = ParseDuration(bad);
    ASSERT_FALSE(d.ok()) << bad;
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(d.status().message().find("e.g. 24h"), std::string_view::npos) << d.status();
  }
}

TEST(BaseSchedule, TimeOfDayIsHoursAndMinutesUtc) {
  EXPECT_EQ(*ParseTimeOfDay("02:30"), 150min);
  EXPECT_EQ(*ParseTimeOfDay("00:00"), 0min);
  EXPECT_EQ(*ParseTimeOfDay("23:59"), 23h + 59min);
  for (const char* bad : {"24:00", "2:30", "02:60", "0230", "02:30Z", ""})
    EXPECT_FALSE(ParseTimeOfDay(bad).ok()) << bad;
}

// 2026-11-25 00:00:00 UTC.
system_clock::time_point Day0() { return system_clock::time_point(std::chrono::seconds(1795564800)); }

TEST(BaseSchedule, WithoutATimeOfDayTheNextBaseIsAnIntervalAfterTheLast) {
  BaseSchedule s;
  s.interval = 24h;
  EXPECT_EQ(NextBaseDue(s, Day0() + 13h + 7min), Day0() + 24h + 13h + 7min);
  s.interval = 10s;
  EXPECT_EQ(NextBaseDue(s, Day0()), Day0() + 10s);
}

TEST(BaseSchedule, WithATimeOfDayTheNextBaseIsTheFirstSlotAfterTheLast) {
  BaseSchedule s;
  s.interval = 24h;
  s.at = 2h + 30min;
  EXPECT_EQ(NextBaseDue(s, Day0() + 1h), Day0() + 2h + 30min);                // later the same day
  EXPECT_EQ(NextBaseDue(s, Day0() + 2h + 30min), Day0() + 24h + 2h + 30min);  // strictly after
  EXPECT_EQ(NextBaseDue(s, Day0() + 13h), Day0() + 24h + 2h + 30min);         // the next day
}

TEST(BaseSchedule, ATimeOfDayWithAShorterIntervalRepeatsFromIt) {
  BaseSchedule s;
  s.interval = 6h;
  s.at = 1h;  // 01:00, 07:00, 13:00, 19:00
  EXPECT_EQ(NextBaseDue(s, Day0() + 0h), Day0() + 1h);
  EXPECT_EQ(NextBaseDue(s, Day0() + 8h), Day0() + 13h);
  EXPECT_EQ(NextBaseDue(s, Day0() + 20h), Day0() + 25h);
}

}  // namespace
}  // namespace pgpitr::wal
