// Specification of PgTime: microseconds since 2000-01-01 00:00:00 UTC (PostgreSQL's epoch), printed
// in UTC with the offset written out (+00:00), and converted to and from the Unix clock.
#include "pg/time.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace pgpitr::pg {
namespace {

struct FormatCase {
  PgTime t;
  std::string text;
};

class FormatPgTimeCase : public testing::TestWithParam<FormatCase> {};

TEST_P(FormatPgTimeCase, PrintsInUtcWithAnExplicitOffset) { EXPECT_EQ(FormatPgTime(GetParam().t), GetParam().text); }

// Expected texts were computed independently (date -u -d @<unix seconds>), with
// Unix = PgTime / 1e6 + 946684800.
INSTANTIATE_TEST_SUITE_P(
    PgTime, FormatPgTimeCase,
    testing::Values(
        // The epoch itself: no fraction at all.
        FormatCase{0, "2000-01-01 00:00:00+00:00"},
        // 2026-11-25 10:41:07 UTC is Unix 1795603267.
        FormatCase{(1795603267 - 946684800) * int64_t{1'000'000}, "2026-11-25 10:41:07+00:00"},
        FormatCase{(1795603267 - 946684800) * int64_t{1'000'000} + 123456, "2026-11-25 10:41:07.123456+00:00"},
        // Trailing zeros of the fraction are trimmed, leading ones kept.
        FormatCase{(1795603267 - 946684800) * int64_t{1'000'000} + 500000, "2026-11-25 10:41:07.5+00:00"},
        FormatCase{(1795603267 - 946684800) * int64_t{1'000'000} + 120000, "2026-11-25 10:41:07.12+00:00"},
        FormatCase{1, "2000-01-01 00:00:00.000001+00:00"}, FormatCase{10, "2000-01-01 00:00:00.00001+00:00"},
        // Before 2000: negative PgTime; the fraction still counts forward from the whole second.
        FormatCase{-1, "1999-12-31 23:59:59.999999+00:00"}, FormatCase{-1'000'000, "1999-12-31 23:59:59+00:00"},
        FormatCase{-1'500'000, "1999-12-31 23:59:58.5+00:00"},
        FormatCase{-946684800 * int64_t{1'000'000}, "1970-01-01 00:00:00+00:00"},
        // Before 1970 the Unix time is negative too: 1969-12-31 23:59:59.5 is Unix -0.5 s.
        FormatCase{-946684800 * int64_t{1'000'000} - 500000, "1969-12-31 23:59:59.5+00:00"},
        // A leap day.
        FormatCase{(1709208000 - 946684800) * int64_t{1'000'000}, "2024-02-29 12:00:00+00:00"}));

TEST(PgTime, EpochIsUnix946684800Seconds) {
  EXPECT_EQ(kPgEpochUnixMicros, int64_t{946684800} * 1'000'000);
  EXPECT_EQ(PgTimeFromUnixMicros(946'684'800'000'000), 0);
  EXPECT_EQ(UnixMicrosFromPgTime(0), 946'684'800'000'000);
}

TEST(PgTime, UnixConversionsAreInverse) {
  for (int64_t unix_micros :
       {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{946'684'800'000'000}, int64_t{1'795'603'267'123'456}}) {
    EXPECT_EQ(UnixMicrosFromPgTime(PgTimeFromUnixMicros(unix_micros)), unix_micros);
  }
  EXPECT_EQ(PgTimeFromUnixMicros(0), -946'684'800'000'000);
  EXPECT_EQ(PgTimeFromUnixMicros(1'795'603'267'123'456), 848'918'467'123'456);
}

TEST(PgTime, FromSystemClockKeepsMicroseconds) {
  const auto tp = std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::microseconds(1'795'603'267'123'456)));
  EXPECT_EQ(PgTimeFromSystemClock(tp), 848'918'467'123'456);
  EXPECT_EQ(FormatPgTime(PgTimeFromSystemClock(tp)), "2026-11-25 10:41:07.123456+00:00");
}

TEST(PgTime, FromSystemClockAtUnixEpochIsMinusTheOffset) {
  EXPECT_EQ(PgTimeFromSystemClock(std::chrono::system_clock::time_point()), -kPgEpochUnixMicros);
}

}  // namespace
}  // namespace pgpitr::pg
