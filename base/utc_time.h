// FormatUtcMicros: a moment as people read it and PostgreSQL accepts it back, for log lines and for
// pg::FormatPgTime. FormatUtcMicros(0) == "1970-01-01 00:00:00+00:00"
#pragma once

#include <cstdint>
#include <string>

namespace pgpitr::base {

// Microseconds since the Unix epoch as "2026-11-25 10:41:07.123456+00:00" (fraction omitted when
// zero, trailing zeros trimmed), always UTC with the offset written out.
std::string FormatUtcMicros(int64_t unix_micros);

}  // namespace pgpitr::base
