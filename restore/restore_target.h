// RestoreTarget: the point a restore stops at, as the user wrote it: a time, an LSN, or the latest
// captured point, inclusive of a commit exactly at the target unless exclusive.
//   auto t = RestoreTarget::AtTime("2026-11-25 10:41:07.123456+00");
// ParseTimestamp accepts PostgreSQL's timestamptz output and ISO 8601 ("2026-11-25T10:41:07Z").
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "pg/lsn.h"
#include "pg/time.h"

namespace pgpitr::restore {

// "YYYY-MM-DD[ T]HH:MM:SS[.ffffff](Z|+HH|+HH:MM|+HHMM|-...)" with up to 6 fraction digits. An offset
// is required: a restore point must not depend on the machine's time zone.
[[nodiscard]] absl::StatusOr<pg::PgTime> ParseTimestamp(std::string_view text);

struct RestoreTarget {
  enum class Kind { kTime, kLsn, kLatest, kMark };
  Kind kind = Kind::kLatest;
  pg::PgTime time = 0;
  pg::Lsn lsn;
  std::string mark;        // kMark: the restore point's name (its transaction is included)
  bool exclusive = false;  // leave out a commit exactly at the target

  static RestoreTarget Latest() { return {}; }
  [[nodiscard]] static absl::StatusOr<RestoreTarget> AtTime(std::string_view text, bool exclusive = false);
  [[nodiscard]] static absl::StatusOr<RestoreTarget> AtLsn(std::string_view text, bool exclusive = false);
  static RestoreTarget AtMark(std::string_view name, bool exclusive = false);

  std::string ToString() const;  // "time 2026-... (inclusive)"
};

}  // namespace pgpitr::restore
