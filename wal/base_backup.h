// TakeBase: one consistent base dump of the source into the repository. A temporary logical slot
// exports a snapshot on a replication connection that stays open while pg_dump reads at that
// snapshot, so the dump holds exactly the commits before the slot's consistent point.
//   absl::StatusOr<proto::Base> base = TakeBase(repo, {.source = conninfo, .slot = "pgpitr"}, log);
// Safe to run while capture streams into the same repository (it writes only under bases/).
#pragma once

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "proto/pgpitr.pb.h"
#include "wal/conninfo.h"
#include "wal/logger.h"
#include "wal/process.h"
#include "wal/progress.h"
#include "wal/repository.h"

namespace pgpitr::wal {

struct BaseOptions {
  ConnInfo source;
  std::string slot = "pgpitr";       // capture's slot: it must exist, so no commit escapes
  std::filesystem::path pg_bin_dir;  // empty: the newest installed client programs
  StopRequested stop;                // returns true to abandon the dump
  ProgressSink* progress = nullptr;  // told the bytes pg_dump has written, while it runs
};

[[nodiscard]] absl::StatusOr<proto::Base> TakeBase(const Repository& repo, const BaseOptions& options,
                                                   const Logger& log);

// The hex SHA-256 of a file.
[[nodiscard]] absl::StatusOr<std::string> Sha256File(const std::filesystem::path& file);

}  // namespace pgpitr::wal
