// Retention: deletes the bases that fell out of the retention window, and the part of the change log
// only they needed, never anything needed to restore to a point inside the window.
//   RetentionPlan plan = PlanRetention(*repo->Bases(), now, std::chrono::days(7));
//   absl::StatusOr<RetentionResult> r = ApplyRetention(*repo, plan, {}, log);
// The rule: keep every base consistent inside [now - window, now], plus the newest base consistent
// at or before now - window (it restores the window's first instant); delete older bases and every
// change-log record below the oldest kept base's LSN (the "horizon"). Relation schemas and types are
// kept (they are small, and kept transactions may name old ones); sequence samples below the horizon
// are folded into one holding each sequence's last value before it.
// Crash-safe, in steps: (1) a synced proto::Retention record with the new horizon: from then on
// every reader (Repository::Bases, the planner) treats what is below it as gone; (2) each base
// folder is renamed to bases/.trash-<id>, then removed; (3) the log below the horizon is deleted in
// one synced batch; (4) the record is marked done. A kill at any moment leaves a repository that
// restores to every point of the (possibly already narrowed) window; FinishInterruptedRetention (run
// by ApplyRetention and RunRetention) completes what was cut short. Needs the change log's writer.
#pragma once

#include <chrono>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "base/logger.h"
#include "pg/lsn.h"
#include "pg/time.h"
#include "proto/pgpitr.pb.h"
#include "wal/repository.h"

namespace pgpitr::wal {

struct RetentionPolicy {
  std::chrono::milliseconds window = std::chrono::hours(24 * 7);
};

struct RetentionPlan {
  std::vector<proto::Base> keep;    // oldest first
  std::vector<proto::Base> remove;  // oldest first
  pg::Lsn horizon;                  // the oldest kept base's LSN; zero when nothing is kept
  pg::PgTime horizon_time = 0;      // its consistent time
  bool empty() const { return remove.empty(); }
};

// Pure: which bases go, given the bases (oldest first), the time now and the window.
RetentionPlan PlanRetention(const std::vector<proto::Base>& bases, pg::PgTime now, std::chrono::milliseconds window);

struct RetentionResult {
  RetentionPlan plan;
  uint64_t transactions_deleted = 0;
  uint64_t sequence_samples_folded = 0;
  uint64_t marks_deleted = 0;
};

struct RetentionOptions {
  // Called after each step (1..4) and after each base folder is renamed (step 2): tests kill the
  // process there to prove that any prefix of the steps leaves a repository that restores.
  std::function<void(int step)> after_step;
};

[[nodiscard]] absl::StatusOr<RetentionResult> ApplyRetention(const Repository& repo, const RetentionPlan& plan,
                                                             const RetentionOptions& options, const base::Logger& log);

// Finishes a deletion a crash interrupted (no-op when there is none).
[[nodiscard]] absl::Status FinishInterruptedRetention(const Repository& repo, const RetentionOptions& options,
                                                      const base::Logger& log);

// Finish what was interrupted, plan with the repository's bases, apply.
[[nodiscard]] absl::StatusOr<RetentionResult> RunRetention(const Repository& repo, const RetentionPolicy& policy,
                                                           pg::PgTime now, const RetentionOptions& options,
                                                           const base::Logger& log);

}  // namespace pgpitr::wal
