#include "pg/time.h"

#include "base/utc_time.h"

namespace pgpitr::pg {

PgTime PgTimeFromSystemClock(std::chrono::system_clock::time_point tp) {
  return PgTimeFromUnixMicros(std::chrono::duration_cast<std::chrono::microseconds>(tp.time_since_epoch()).count());
}

std::string FormatPgTime(PgTime t) { return base::FormatUtcMicros(UnixMicrosFromPgTime(t)); }

}  // namespace pgpitr::pg
