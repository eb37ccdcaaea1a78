#include "wal/retention.h"

#include <algorithm>
#include <map>

#include "fmt/format.h"
#include "rocksdb/write_batch.h"

namespace pgpitr::wal {

namespace {

uint64_t ReadU64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

std::string Serialize(const google::protobuf::Message& m) {
  std::string out;
  m.SerializeToString(&out);
  return out;
}

absl::Status WriteRetention(ChangeLog& log, const proto::Retention& retention) {
  rocksdb::WriteBatch batch;
  batch.Put(ChangeLog::RetentionKey(), Serialize(retention));
  return log.Write(&batch, /*sync=*/true);
}

absl::Status Rocks(const rocksdb::Status& s, std::string_view doing) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsCorruption()) {
    return absl::DataLossError(
        fmt::format("change log is damaged while {}: {} (run 'pgpitr verify')", doing, s.ToString()));
  }
  return absl::InternalError(fmt::format("change log error while {}: {}", doing, s.ToString()));
}

struct LogDeletion {
  uint64_t transactions = 0;
  uint64_t samples_folded = 0;
  uint64_t marks = 0;
};

// Step 3: one synced batch deleting everything below the horizon that no restore inside the window
// reads. Idempotent: running it again after a crash deletes nothing more.
absl::StatusOr<LogDeletion> DeleteLogBelow(ChangeLog& log, pg::Lsn horizon) {
  rocksdb::DB* db = log.db();
  rocksdb::WriteBatch batch;
  LogDeletion deleted;
  rocksdb::ReadOptions read;
  // Transactions and their changes.
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read));
    for (it->Seek(ChangeLog::TransactionKey(pg::Lsn())); it->Valid() && it->key()[0] == 'T'; it->Next()) {
      if (ReadU64(it->key().ToStringView().substr(1)) >= horizon.value()) break;
      proto::Transaction txn;
      if (absl::Status s = ParseStored(it->value().ToStringView(), &txn, "T"); !s.ok()) return s;
      if (txn.change_count() > 0) {
        batch.DeleteRange(ChangeLog::ChangeKey(txn.storage_id(), 0), ChangeLog::ChangeKey(txn.storage_id() + 1, 0));
      }
      ++deleted.transactions;
    }
    if (absl::Status s = Rocks(it->status(), "reading transactions for retention"); !s.ok()) return s;
    batch.DeleteRange(ChangeLog::TransactionKey(pg::Lsn()), ChangeLog::TransactionKey(horizon));
  }
  // The time index is in commit order (its running maximum is monotonic), so the entries of commits
  // below the horizon are a prefix.
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read));
    std::string first_kept;
    bool any = false;
    for (it->Seek("W"); it->Valid() && it->key()[0] == 'W'; it->Next()) {
      const std::string_view key = it->key().ToStringView();
      if (key.size() == 17 && ReadU64(key.substr(9)) >= horizon.value()) {
        first_kept = std::string(key);
        break;
      }
      any = true;
    }
    if (absl::Status s = Rocks(it->status(), "reading the time index for retention"); !s.ok()) return s;
    if (any) batch.DeleteRange("W", first_kept.empty() ? std::string("X") : first_kept);
  }
  // Sequence samples: the newest one below the horizon is rewritten to hold every sequence's last
  // sampled value, so a restore at the horizon still knows every sequence sampled before it.
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read));
    std::map<std::pair<std::string, std::string>, proto::SequenceSample::Sequence> last;
    std::optional<proto::SequenceSample> newest;
    uint64_t count = 0;
    for (it->Seek("Q"); it->Valid() && it->key()[0] == 'Q'; it->Next()) {
      if (ReadU64(it->key().ToStringView().substr(1)) >= horizon.value()) break;
      proto::SequenceSample sample;
      if (absl::Status s = ParseStored(it->value().ToStringView(), &sample, "Q"); !s.ok()) return s;
      for (const auto& seq : sample.sequences()) last[{seq.namespace_(), seq.name()}] = seq;
      newest = std::move(sample);
      ++count;
    }
    if (absl::Status s = Rocks(it->status(), "reading sequence samples for retention"); !s.ok()) return s;
    if (newest.has_value() && count > 1) {
      const std::string newest_key = ChangeLog::SequenceSampleKey(pg::Lsn(newest->check_lsn()));
      batch.DeleteRange("Q", newest_key);
      proto::SequenceSample folded;
      folded.set_check_lsn(newest->check_lsn());
      folded.set_check_time(newest->check_time());
      for (const auto& [name, seq] : last) *folded.add_sequences() = seq;
      batch.Put(newest_key, Serialize(folded));
      deleted.samples_folded = count - 1;
    }
  }
  // Marks no restore can reach any more, and gaps wholly below the horizon.
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read));
    for (it->Seek("K"); it->Valid() && it->key()[0] == 'K'; it->Next()) {
      proto::Mark mark;
      if (absl::Status s = ParseStored(it->value().ToStringView(), &mark, "K"); !s.ok()) return s;
      if (mark.commit_lsn() < horizon.value()) {
        batch.Delete(it->key());
        ++deleted.marks;
      }
    }
    if (absl::Status s = Rocks(it->status(), "reading marks for retention"); !s.ok()) return s;
    for (it->Seek("G"); it->Valid() && it->key()[0] == 'G'; it->Next()) {
      proto::Gap gap;
      if (absl::Status s = ParseStored(it->value().ToStringView(), &gap, "G"); !s.ok()) return s;
      if (gap.to_lsn() <= horizon.value()) batch.Delete(it->key());
    }
    if (absl::Status s = Rocks(it->status(), "reading gaps for retention"); !s.ok()) return s;
  }
  if (absl::Status s = log.Write(&batch, /*sync=*/true); !s.ok()) return s;
  return deleted;
}

void Step(const RetentionOptions& options, int step) {
  if (options.after_step) options.after_step(step);
}

// Steps 2 to 4 for the horizon the record holds.
absl::StatusOr<LogDeletion> Finish(const Repository& repo, proto::Retention retention, const RetentionOptions& options,
                                   const base::Logger& log) {
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
  absl::StatusOr<LogDeletion> deleted = DeleteLogBelow(repo.change_log(), pg::Lsn(retention.horizon_lsn()));
  if (!deleted.ok()) return deleted.status();
  Step(options, 3);
  retention.set_done(true);
  retention.clear_deleting_base_ids();
  retention.set_retired_transactions(retention.retired_transactions() + deleted->transactions);
  if (absl::Status s = WriteRetention(repo.change_log(), retention); !s.ok()) return s;
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
  if (absl::Status s = WriteRetention(repo.change_log(), retention); !s.ok()) return s;
  Step(options, 1);
  absl::StatusOr<LogDeletion> deleted = Finish(repo, retention, options, log);
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
