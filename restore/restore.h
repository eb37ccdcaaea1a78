// RunRestore: `pgpitr restore`'s work. Plans from the repository, restores the base into the target
// database with pg_restore, replays the captured transactions up to the target, sets sequences,
// and reports exactly what the restored database corresponds to.
//   absl::StatusOr<RestoreSummary> s = RunRestore(options, Logger::Stderr(), &progress_line);
// The pipeline's phases are named once (base::Phase) and run from one driver (restore.cc's Pipeline).
// The target database is created when missing; a non-empty one is refused unless
// replace_existing (which drops and recreates it); the source database itself is always refused.
// The change log's changes are read once, during replay. When the restore fails after creating the
// target database (a damaged change, a failed pg_restore), it drops it again and says so; a
// database that was there (empty) is left, said to be incomplete.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/logger.h"
#include "base/progress.h"
#include "pg/conninfo.h"
#include "proto/pgpitr.pb.h"
#include "restore/difference.h"
#include "restore/planner.h"
#include "restore/restore_target.h"

namespace pgpitr::restore {

struct RestoreOptions {
  std::filesystem::path repo;
  pg::ConnInfo target;  // its dbname is the database restored into
  RestoreTarget point;
  bool replace_existing = false;
  bool no_owner = false;  // pg_restore --no-owner --no-privileges
  int jobs = 2;           // pg_restore --jobs
  std::filesystem::path pg_bin_dir;
  // Replay one target transaction per source transaction, row by row (the slow path, kept for
  // comparison), instead of each row's net effect in bulk.
  bool row_by_row = false;
  // Carry on past a schema change that cannot be replayed, and list what may differ
  // (RestoreSummary::differences), instead of stopping.
  bool best_effort = false;
  uint64_t replay_flush_bytes = 64ull << 20;   // BulkReplayOptions::flush_bytes
  uint64_t replay_merge_bytes = 128ull << 20;  // BulkReplayOptions::merge_bytes (at least flush_bytes)
};

struct RestoreSummary {
  RestorePlan plan;
  uint64_t transactions = 0;
  uint64_t rows = 0;         // source row changes replayed
  uint64_t row_writes = 0;   // rows the target was written after collapsing each row's changes
  uint64_t merged_rows = 0;  // ... of which written into the base's rows as they loaded
  std::chrono::duration<double> base_seconds{0};
  std::chrono::duration<double> replay_seconds{0};
  std::vector<std::string> notes;  // schema changes followed, sequence decisions
  // Only with best_effort: what was not replayed. Empty: the restore is exact.
  std::vector<Difference> differences;
  std::string ToString() const;
  // The summary as a JSON object (fields documented in the README).
  std::string ToJson() const;
};

// `progress`, when given, hears each phase as it starts (base::Phase kRestoreSchema to
// kRestoreSequences, in order) and the transactions replayed.
[[nodiscard]] absl::StatusOr<RestoreSummary> RunRestore(const RestoreOptions& options, const base::Logger& log,
                                                        base::ProgressSink* progress = nullptr);

}  // namespace pgpitr::restore
