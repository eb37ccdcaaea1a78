// The restore target's database: made ready before a restore (created, or found empty, or replaced
// on request; the source's own database refused) and dropped after a failed one this restore made.
//   absl::StatusOr<bool> created = PrepareTargetDatabase(target, false, state, base, log);
//   if (failed && *created) DropTargetDatabase(target, "app_restored");
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/logger.h"
#include "pg/conninfo.h"
#include "proto/pgpitr.pb.h"

namespace pgpitr::restore {

// Creates `target`'s database (its dbname) when missing, in the base's encoding; an existing one
// must hold no relation, or is dropped and made again with `replace_existing` (kTargetRefused
// otherwise). The source's database itself is refused (same cluster and name), and so is a database
// of the source's name on a server that cannot be identified. True when this call created it.
[[nodiscard]] absl::StatusOr<bool> PrepareTargetDatabase(const pg::ConnInfo& target, bool replace_existing,
                                                         const proto::CaptureState& state, const proto::Base& base,
                                                         const base::Logger& log);

// Drops `dbname` on `target`'s server (from its maintenance database), sessions and all.
[[nodiscard]] absl::Status DropTargetDatabase(const pg::ConnInfo& target, const std::string& dbname);

}  // namespace pgpitr::restore
