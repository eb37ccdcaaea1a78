// PgTime: PostgreSQL's timestamptz as the server sends it on the wire, microseconds since
// 2000-01-01 00:00:00 UTC, with conversions to the Unix clock and to text as PostgreSQL prints it.
//   FormatPgTime(0) == "2000-01-01 00:00:00+00:00";  PgTimeFromUnixMicros(946684800000000) == 0
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace pgpitr::pg {

using PgTime = int64_t;

// Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01 UTC).
inline constexpr int64_t kPgEpochUnixMicros = 946'684'800'000'000;

constexpr PgTime PgTimeFromUnixMicros(int64_t unix_micros) { return unix_micros - kPgEpochUnixMicros; }
constexpr int64_t UnixMicrosFromPgTime(PgTime t) { return t + kPgEpochUnixMicros; }

PgTime PgTimeFromSystemClock(std::chrono::system_clock::time_point tp);

// "2026-11-25 10:41:07.123456+00:00" (fraction omitted when zero, trailing zeros trimmed), always UTC
// with the offset written out, as PostgreSQL accepts it back and as people read it unambiguously.
std::string FormatPgTime(PgTime t);

}  // namespace pgpitr::pg
