// TargetTime: what `pgpitr restore --to-time` accepts, resolved to one absolute time against the
// moment the restore starts (passed in): a time with an offset ("2026-11-25 10:41:07+00:00",
// "2026-11-25T11:41:07+01:00", "...Z"), the word "now", or a time ago ("-30s", "-15min", "-2h", "-1d",
// "-1h30min").
//   absl::StatusOr<TargetTime> t = ResolveTargetTime("-30s", now);  // t->time == now - 30 s
//   t->Echo() == "2026-11-25 10:41:07.123456+00:00 (-30s)"
// A time without an offset is refused, as before: it would depend on the machine's time zone.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "pg/time.h"

namespace pgpitr::cli {

struct TargetTime {
  pg::PgTime time = 0;
  std::string written;  // as the user wrote it, when that was not an absolute time ("now", "-30s")
  // The absolute UTC time, then what it was resolved from: "2026-11-25 10:41:07.5+00:00 (-30s)".
  std::string Echo() const;
};

[[nodiscard]] absl::StatusOr<TargetTime> ResolveTargetTime(std::string_view text, pg::PgTime now);

}  // namespace pgpitr::cli
