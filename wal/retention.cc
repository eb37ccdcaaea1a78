#include "wal/retention.h"

#include <algorithm>
#include <map>

#include "fmt/format.h"

namespace pgpitr::wal {

namespace {

void Step(const RetentionOptions& options, int step) {
  if (options.after_step) options.after_step(step);
}

// Steps 2 to 4 for the horizon the record holds.
absl::StatusOr<ChangeLog::Deletion> Finish(const Repository& repo, proto::Retention retention,
                                           const RetentionOptions& options, const base::Logger& log) {
  absl::StatusOr<std::vector<Repository::BaseFolder>> folders = repo.ScanBases();
  if (!folders.ok()) return folders.status();
  for (const Repository::BaseFolder& folder : *folders) {
    // Only bases retention chose, or whose manifest says they are below the horizon: a folder
    // whose manifest is damaged is left for 'pgpitr verify' to report.
    const bool listed = std::find(retention.deleting_base_ids().begin(), retention.deleting_base_ids().end(),
                                  folder.id) != retention.deleting_base_ids().end();
    const bool below = folder.manifest.has_value() && folder.manifest->lsn() < retention.horizon_lsn();
    if (!listed && !below) continue;
    if (absl::Status s = repo.RetireBase(folder.id); !s.ok()) return s;
    log.Info("retention: deleted base {}", folder.id);
    Step(options, 2);
  }
  if (absl::Status s = repo.EmptyTrash(); !s.ok()) return s;
  absl::StatusOr<ChangeLog::Deletion> deleted = repo.change_log().DeleteBelow(pg::Lsn(retention.horizon_lsn()));
  if (!deleted.ok()) return deleted.status();
  Step(options, 3);
  retention.set_done(true);
  retention.clear_deleting_base_ids();
  retention.set_retired_transactions(retention.retired_transactions() + deleted->transactions);
  if (absl::Status s = repo.change_log().PutRetentionState(retention); !s.ok()) return s;
  Step(options, 4);
  return deleted;
}

}  // namespace

RetentionPlan PlanRetention(const std::vector<proto::Base>& bases, pg::PgTime now, std::chrono::milliseconds window) {
  RetentionPlan plan;
  const pg::PgTime window_start = now - std::chrono::duration_cast<std::chrono::microseconds>(window).count();
  // The newest base consistent at or before the window's start restores its first instant.
  size_t first_kept = 0;
  for (size_t i = 0; i < bases.size(); ++i) {
    if (bases[i].consistent_time() <= window_start) first_kept = i;
  }
  for (size_t i = 0; i < bases.size(); ++i) (i < first_kept ? plan.remove : plan.keep).push_back(bases[i]);
  if (!plan.keep.empty()) {
    plan.horizon = pg::Lsn(plan.keep.front().lsn());
    plan.horizon_time = plan.keep.front().consistent_time();
  }
  return plan;
}

absl::Status FinishInterruptedRetention(const Repository& repo, const RetentionOptions& options,
                                        const base::Logger& log) {
  absl::StatusOr<std::optional<proto::Retention>> retention = repo.change_log().RetentionState();
  if (!retention.ok()) return retention.status();
  if (!retention->has_value() || (*retention)->done()) return repo.EmptyTrash();
  log.Warn("retention: finishing a deletion that was interrupted (horizon {})",
           pg::Lsn((*retention)->horizon_lsn()).ToString());
  return Finish(repo, **retention, options, log).status();
}

absl::StatusOr<RetentionResult> ApplyRetention(const Repository& repo, const RetentionPlan& plan,
                                               const RetentionOptions& options, const base::Logger& log) {
  if (absl::Status s = FinishInterruptedRetention(repo, options, log); !s.ok()) return s;
  RetentionResult result;
  result.plan = plan;
  if (plan.empty()) return result;
  absl::StatusOr<std::optional<proto::Retention>> previous = repo.change_log().RetentionState();
  if (!previous.ok()) return previous.status();
  proto::Retention retention = previous->value_or(proto::Retention());
  if (plan.horizon.value() <= retention.horizon_lsn()) return result;  // nothing new to delete
  // Step 1: from this synced write on, everything below the horizon is gone for every reader.
  retention.set_horizon_lsn(plan.horizon.value());
  retention.set_horizon_time(plan.horizon_time);
  retention.set_done(false);
  retention.clear_deleting_base_ids();
  for (const proto::Base& base : plan.remove) retention.add_deleting_base_ids(base.id());
  retention.set_run_time(pg::PgTimeFromSystemClock(std::chrono::system_clock::now()));
  if (absl::Status s = repo.change_log().PutRetentionState(retention); !s.ok()) return s;
  Step(options, 1);
  absl::StatusOr<ChangeLog::Deletion> deleted = Finish(repo, retention, options, log);
  if (!deleted.ok()) return deleted.status();
  result.transactions_deleted = deleted->transactions;
  result.sequence_samples_folded = deleted->samples_folded;
  result.marks_deleted = deleted->marks;
  log.Info("retention: kept {} bases from {} (LSN {}); deleted {} bases and {} transactions below it", plan.keep.size(),
           pg::FormatPgTime(plan.horizon_time), plan.horizon.ToString(), plan.remove.size(), deleted->transactions);
  return result;
}

absl::StatusOr<RetentionResult> RunRetention(const Repository& repo, const RetentionPolicy& policy, pg::PgTime now,
                                             const RetentionOptions& options, const base::Logger& log) {
  if (absl::Status s = FinishInterruptedRetention(repo, options, log); !s.ok()) return s;
  absl::StatusOr<std::vector<proto::Base>> bases = repo.Bases();
  if (!bases.ok()) return bases.status();
  return ApplyRetention(repo, PlanRetention(*bases, now, policy.window), options, log);
}

}  // namespace pgpitr::wal
