// TakeBase: one consistent base dump of the source into the repository. A temporary logical slot
// exports a snapshot on a replication connection that stays open while pg_dump reads at that
// snapshot, so the dump holds exactly the commits before the slot's consistent point. TRUNCATE and
// table rewrites are not MVCC-safe, so before pg_dump starts every dumped relation is locked at the
// snapshot and proven to still have the snapshot's file; a base that cannot be is taken again.
//   absl::StatusOr<proto::Base> base = TakeBase(repo, {.source = conninfo, .slot = "pgpitr"}, log);
// A database that holds nothing at the snapshot (no object of its own, no changed privilege, no
// large object: checked there, not assumed) gets an empty base, with no dump and no pg_dump needed,
// so a database captured from its first day restores from any server's client programs.
// Safe to run while capture streams into the same repository (it writes only under bases/).
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "base/logger.h"
#include "base/progress.h"
#include "pg/conninfo.h"
#include "pg/process.h"
#include "proto/pgpitr.pb.h"
#include "wal/repository.h"

namespace pgpitr::wal {

struct BaseOptions {
  pg::ConnInfo source;
  std::string slot = "pgpitr";             // capture's slot: it must exist, so no commit escapes
  std::filesystem::path pg_bin_dir;        // empty: the newest installed client programs
  pg::StopRequested stop;                  // returns true to abandon the dump
  base::ProgressSink* progress = nullptr;  // told the bytes pg_dump has written, while it runs
  // For tests, run at each attempt: after the snapshot is exported and before its relations are
  // checked (a rewrite committed then is refused), and after they are locked and before pg_dump
  // starts (a rewrite asked for then queues behind the locks).
  std::function<void()> after_snapshot = nullptr;
  std::function<void()> after_lock = nullptr;
};

[[nodiscard]] absl::StatusOr<proto::Base> TakeBase(const Repository& repo, const BaseOptions& options,
                                                   const base::Logger& log);

// The hex SHA-256 of a file.
[[nodiscard]] absl::StatusOr<std::string> Sha256File(const std::filesystem::path& file);

}  // namespace pgpitr::wal
