// Specification of restore targets: ParseTimestamp reads PostgreSQL's timestamptz output and ISO 8601,
// always with an explicit offset, and is strict about the calendar; AtTime and AtLsn build targets.
#include "restore/restore_target.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace pgpitr::restore {
namespace {

// Unix seconds of 2026-11-25 10:41:07 UTC, from `date -u -d '2026-11-25 10:41:07' +%s`.
constexpr int64_t kUnix20261125_104107 = 1795603267;

constexpr pg::PgTime FromUnix(int64_t seconds, int64_t micros = 0) {
  return pg::PgTimeFromUnixMicros(seconds * 1'000'000 + micros);
}

struct TimestampCase {
  std::string text;
  pg::PgTime expected;
};

class ParseTimestampAccepts : public testing::TestWithParam<TimestampCase> {};

TEST_P(ParseTimestampAccepts, ToTheKnownInstant) {
  absl::StatusOr<pg::PgTime> t = ParseTimestamp(GetParam().text);
  ASSERT_TRUE(t.ok()) << GetParam().text << ": " << t.status();
  EXPECT_EQ(*t, GetParam().expected) << GetParam().text << " parsed as " << pg::FormatPgTime(*t) << ", expected "
                                     << pg::FormatPgTime(GetParam().expected);
}

// Every expected value is written from Unix seconds computed with `date -u -d ... +%s`, not from
// the parser's own arithmetic.
INSTANTIATE_TEST_SUITE_P(
    RestoreTarget, ParseTimestampAccepts,
    testing::Values(
        // PostgreSQL's output form.
        TimestampCase{"2026-11-25 10:41:07+00", FromUnix(kUnix20261125_104107)},
        TimestampCase{"2026-11-25 10:41:07.123456+00", FromUnix(kUnix20261125_104107, 123456)},
        // Fractions of every length up to microseconds: digits are tenths, hundredths, ...
        TimestampCase{"2026-11-25 10:41:07.1+00", FromUnix(kUnix20261125_104107, 100000)},
        TimestampCase{"2026-11-25 10:41:07.12+00", FromUnix(kUnix20261125_104107, 120000)},
        TimestampCase{"2026-11-25 10:41:07.123+00", FromUnix(kUnix20261125_104107, 123000)},
        TimestampCase{"2026-11-25 10:41:07.1234+00", FromUnix(kUnix20261125_104107, 123400)},
        TimestampCase{"2026-11-25 10:41:07.12345+00", FromUnix(kUnix20261125_104107, 123450)},
        TimestampCase{"2026-11-25 10:41:07.000001+00", FromUnix(kUnix20261125_104107, 1)},
        TimestampCase{"2026-11-25 10:41:07.05+00", FromUnix(kUnix20261125_104107, 50000)},
        // ISO 8601.
        TimestampCase{"2026-11-25T10:41:07Z", FromUnix(kUnix20261125_104107)},
        TimestampCase{"2026-11-25T10:41:07.123456Z", FromUnix(kUnix20261125_104107, 123456)},
        TimestampCase{"2026-11-25t10:41:07z", FromUnix(kUnix20261125_104107)},
        TimestampCase{"2026-11-25T10:41:07+00:00", FromUnix(kUnix20261125_104107)},
        // Offsets: local time minus offset is UTC.
        // 10:41:07+05:30 is 05:11:07 UTC: date -u -d '2026-11-25 05:11:07' +%s = 1795583467.
        TimestampCase{"2026-11-25 10:41:07+05:30", FromUnix(1795583467)},
        TimestampCase{"2026-11-25T10:41:07.5+05:30", FromUnix(1795583467, 500000)},
        // 10:41:07-0800 is 18:41:07 UTC: 1795632067.
        TimestampCase{"2026-11-25 10:41:07-0800", FromUnix(1795632067)},
        TimestampCase{"2026-11-25 10:41:07-08", FromUnix(1795632067)},
        // 10:41:07+05 is 05:41:07 UTC: 1795585267.
        TimestampCase{"2026-11-25 10:41:07+05", FromUnix(1795585267)},
        // An offset that moves the instant into the previous day (and year).
        // 2000-01-01 01:00:00+02 is 1999-12-31 23:00:00 UTC: 946681200.
        TimestampCase{"2000-01-01 01:00:00+02", FromUnix(946681200)},
        // PostgreSQL's epoch and times before it.
        TimestampCase{"2000-01-01 00:00:00+00", 0}, TimestampCase{"1999-12-31 23:59:59.999999+00", -1},
        TimestampCase{"1970-01-01T00:00:00Z", FromUnix(0)},
        // Leap day of a leap year: date -u -d '2024-02-29 12:00:00' +%s = 1709208000.
        TimestampCase{"2024-02-29 12:00:00+00", FromUnix(1709208000)},
        // 2000 is a leap year (divisible by 400): date -u -d '2000-02-29' +%s = 951782400.
        TimestampCase{"2000-02-29 00:00:00+00", FromUnix(951782400)},
        // Surrounding spaces, as a shell or a copied psql cell may leave them.
        TimestampCase{"  2026-11-25 10:41:07+00 ", FromUnix(kUnix20261125_104107)},
        // The last valid second of a day.
        TimestampCase{"2026-11-25 23:59:59+00", FromUnix(kUnix20261125_104107 + 13 * 3600 + 18 * 60 + 52)}));

TEST(RestoreTarget, ParseTimestampReadsWhatFormatPgTimePrints) {
  for (pg::PgTime t : {pg::PgTime{0}, pg::PgTime{-1}, pg::PgTime{1}, FromUnix(kUnix20261125_104107, 123456),
                       FromUnix(kUnix20261125_104107, 120000), FromUnix(1709208000)}) {
    absl::StatusOr<pg::PgTime> back = ParseTimestamp(pg::FormatPgTime(t));
    ASSERT_TRUE(back.ok()) << pg::FormatPgTime(t) << ": " << back.status();
    EXPECT_EQ(*back, t) << pg::FormatPgTime(t);
  }
}

class ParseTimestampRejects : public testing::TestWithParam<std::string> {};

TEST_P(ParseTimestampRejects, AsInvalidArgumentNamingTheText) {
  absl::StatusOr<pg::PgTime> t = ParseTimestamp(GetParam());
  ASSERT_FALSE(t.ok()) << "'" << GetParam() << "' parsed as " << pg::FormatPgTime(*t);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find(GetParam()), std::string_view::npos) << t.status();
}

INSTANTIATE_TEST_SUITE_P(RestoreTarget, ParseTimestampRejects,
                         testing::Values(
                             // No offset: the instant would depend on the machine's time zone.
                             "2026-11-25 10:41:07", "2026-11-25 10:41:07.123456", "2026-11-25T10:41:07",
                             // More precision than PostgreSQL keeps.
                             "2026-11-25 10:41:07.1234567+00",
                             // A dot without digits.
                             "2026-11-25 10:41:07.+00",
                             // Dates and times that do not exist.
                             "2026-02-30 00:00:00+00", "2026-02-29 00:00:00+00", "1900-02-29 00:00:00+00",
                             "2026-04-31 00:00:00+00", "2026-13-01 00:00:00+00", "2026-00-10 00:00:00+00",
                             "2026-11-00 00:00:00+00", "2026-11-25 24:00:00+00", "2026-11-25 10:60:00+00",
                             "2026-11-25 10:41:60+00",
                             // Shapes that are not a timestamp.
                             "", "garbage", "now", "2026-11-25", "2026-11-25+00", "10:41:07+00", "26-11-25 10:41:07+00",
                             "2026-11-25 10:41+00", "2026-11-25  10:41:07+00", "2026/11/25 10:41:07+00",
                             "2026-11-25 10:41:07 +00", "2026-11-25 10:41:07+0", "2026-11-25 10:41:07+05:3",
                             "2026-11-25 10:41:07+05:", "2026-11-25 10:41:07+16", "2026-11-25 10:41:07+05:60",
                             "2026-11-25 10:41:07Z+00", "2026-11-25 10:41:07+00:00:00", "2026-11-25 10:41:07+00x",
                             "2026-11-25 10:41:07UTC", "2026-11-25X10:41:07Z"));

TEST(RestoreTarget, SevenFractionDigitsSaysWhy) {
  absl::StatusOr<pg::PgTime> t = ParseTimestamp("2026-11-25 10:41:07.1234567+00");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("6 fraction digits"), std::string_view::npos) << t.status();
}

TEST(RestoreTarget, MissingOffsetShowsBothAcceptedForms) {
  absl::StatusOr<pg::PgTime> t = ParseTimestamp("2026-11-25 10:41:07");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("2026-11-25 10:41:07.123456+00"), std::string_view::npos) << t.status();
  EXPECT_NE(t.status().message().find("2026-11-25T10:41:07Z"), std::string_view::npos) << t.status();
}

TEST(RestoreTarget, LeapDayIsAcceptedOnlyInALeapYear) {
  EXPECT_TRUE(ParseTimestamp("2024-02-29 00:00:00+00").ok());
  absl::StatusOr<pg::PgTime> t = ParseTimestamp("2026-02-29 00:00:00+00");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("not a valid date"), std::string_view::npos) << t.status();
  // The day after 2024-02-28 23:59:59 is the leap day, one second later.
  EXPECT_EQ(*ParseTimestamp("2024-02-29 00:00:00+00") - *ParseTimestamp("2024-02-28 23:59:59+00"), 1'000'000);
  EXPECT_EQ(*ParseTimestamp("2024-03-01 00:00:00+00") - *ParseTimestamp("2024-02-29 00:00:00+00"),
            int64_t{86400} * 1'000'000);
}

TEST(RestoreTarget, AtTimeIsATimeTargetInclusiveByDefault) {
  absl::StatusOr<RestoreTarget> target = RestoreTarget::AtTime("2026-11-25 10:41:07.123456+00");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->kind, RestoreTarget::Kind::kTime);
  EXPECT_EQ(target->time, FromUnix(kUnix20261125_104107, 123456));
  EXPECT_FALSE(target->exclusive);
  EXPECT_EQ(target->ToString(), "time 2026-11-25 10:41:07.123456+00:00 (inclusive)");
}

TEST(RestoreTarget, AtTimeExclusive) {
  absl::StatusOr<RestoreTarget> target = RestoreTarget::AtTime("2026-11-25T10:41:07Z", /*exclusive=*/true);
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_TRUE(target->exclusive);
  EXPECT_EQ(target->ToString(), "time 2026-11-25 10:41:07+00:00 (exclusive)");
}

TEST(RestoreTarget, AtTimeWithBadTextIsTheParseError) {
  absl::StatusOr<RestoreTarget> target = RestoreTarget::AtTime("yesterday");
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(target.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RestoreTarget, AtLsnIsAnLsnTarget) {
  absl::StatusOr<RestoreTarget> target = RestoreTarget::AtLsn("16/b374d848");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->kind, RestoreTarget::Kind::kLsn);
  EXPECT_EQ(target->lsn, pg::Lsn(0x16'B374D848));
  EXPECT_FALSE(target->exclusive);
  EXPECT_EQ(target->ToString(), "LSN 16/B374D848 (inclusive)");
  absl::StatusOr<RestoreTarget> exclusive = RestoreTarget::AtLsn("0/10", /*exclusive=*/true);
  ASSERT_TRUE(exclusive.ok()) << exclusive.status();
  EXPECT_TRUE(exclusive->exclusive);
  EXPECT_EQ(exclusive->ToString(), "LSN 0/10 (exclusive)");
}

TEST(RestoreTarget, AtLsnWithBadTextIsTheParseError) {
  absl::StatusOr<RestoreTarget> target = RestoreTarget::AtLsn("2026-11-25 10:41:07+00");
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(target.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RestoreTarget, LatestIsTheDefault) {
  EXPECT_EQ(RestoreTarget::Latest().kind, RestoreTarget::Kind::kLatest);
  EXPECT_EQ(RestoreTarget().kind, RestoreTarget::Kind::kLatest);
  EXPECT_EQ(RestoreTarget::Latest().ToString(), "the latest captured point");
}

}  // namespace
}  // namespace pgpitr::restore
