// Specification of what `restore --to-time` accepts: a time with an offset, "now", or a time ago,
// each resolved against the moment the restore starts (passed in, never read from a clock here).
#include "cli/target_time.h"

#include <gtest/gtest.h>

namespace pgpitr::cli {
namespace {

// 2026-11-25 10:41:07.5 UTC (Unix 1795603267).
constexpr pg::PgTime kNow = pg::PgTimeFromUnixMicros(1795603267LL * 1'000'000 + 500'000);
constexpr int64_t kSecond = 1'000'000;

struct RelativeCase {
  std::string text;
  int64_t seconds_ago;
};

class RelativeTargetTime : public testing::TestWithParam<RelativeCase> {};

TEST_P(RelativeTargetTime, CountsBackFromTheMomentGiven) {
  absl::StatusOr<TargetTime> t = ResolveTargetTime(GetParam().text, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->time, kNow - GetParam().seconds_ago * kSecond);
  EXPECT_EQ(t->written, GetParam().text);
}

INSTANTIATE_TEST_SUITE_P(TargetTime, RelativeTargetTime,
                         testing::Values(RelativeCase{"-30s", 30}, RelativeCase{"-15min", 15 * 60},
                                         RelativeCase{"-2h", 2 * 3600}, RelativeCase{"-1d", 86400},
                                         RelativeCase{"-1h30min", 5400}, RelativeCase{"-90 seconds", 90},
                                         RelativeCase{"-2days", 2 * 86400}, RelativeCase{"-0s", 0}));

TEST(TargetTime, NowIsTheMomentGiven) {
  absl::StatusOr<TargetTime> t = ResolveTargetTime("now", kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->time, kNow);
  EXPECT_EQ(t->Echo(), "2026-11-25 10:41:07.5+00:00 (now)");
}

TEST(TargetTime, EchoesTheAbsoluteUtcTimeThenWhatWasWritten) {
  absl::StatusOr<TargetTime> t = ResolveTargetTime("-30s", kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->Echo(), "2026-11-25 10:40:37.5+00:00 (-30s)");
}

TEST(TargetTime, ALocalTimeWithAnOffsetIsTheSameInstantInUtc) {
  for (const char* text : {"2026-11-25 11:41:07+01:00", "2026-11-25T11:41:07+01:00", "2026-11-25T05:41:07-05:00",
                           "2026-11-25T10:41:07Z", "2026-11-25 10:41:07+00"}) {
    absl::StatusOr<TargetTime> t = ResolveTargetTime(text, kNow);
    ASSERT_TRUE(t.ok()) << text << ": " << t.status();
    EXPECT_EQ(pg::FormatPgTime(t->time), "2026-11-25 10:41:07+00:00") << text;
    EXPECT_EQ(t->Echo(), std::string("2026-11-25 10:41:07+00:00 (") + text + ")") << text;
  }
}

TEST(TargetTime, AUtcTimeWrittenAsWePrintItIsEchoedOnce) {
  absl::StatusOr<TargetTime> t = ResolveTargetTime("2026-11-25 10:41:07.123456+00:00", kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->Echo(), "2026-11-25 10:41:07.123456+00:00");
}

TEST(TargetTime, ATimeWithoutAnOffsetIsRefusedAndTheErrorSaysWhy) {
  absl::StatusOr<TargetTime> t = ResolveTargetTime("2026-11-25 10:41:07", kNow);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("needs its offset"), std::string_view::npos) << t.status();
}

TEST(TargetTime, AFutureRelativeTimeIsRefused) {
  absl::StatusOr<TargetTime> t = ResolveTargetTime("+5min", kNow);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("in the future"), std::string_view::npos) << t.status();
}

class BadTargetTime : public testing::TestWithParam<std::string> {};

TEST_P(BadTargetTime, IsOneLineNamingTheAcceptedForms) {
  absl::StatusOr<TargetTime> t = ResolveTargetTime(GetParam(), kNow);
  ASSERT_FALSE(t.ok()) << "'" << GetParam() << "' resolved to " << pg::FormatPgTime(t->time);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("'-15min'"), std::string_view::npos) << t.status();
  EXPECT_EQ(t.status().message().find('\n'), std::string_view::npos) << t.status();
}

INSTANTIATE_TEST_SUITE_P(TargetTime, BadTargetTime,
                         testing::Values("", "yesterday", "-", "-30", "-30x", "-m", "-15m", "-1y", "now-30s",
                                         "-99999999999d", "2026-13-01 00:00:00+00", "10:41"));

}  // namespace
}  // namespace pgpitr::cli
