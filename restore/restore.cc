#include "restore/restore.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_join.h"
#include "base/error.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "pg/connection.h"
#include "pg/process.h"
#include "pg/stream_messages.h"
#include "proxy/sql.h"
#include "restore/base_load.h"
#include "restore/bulk_replayer.h"
#include "restore/change_applier.h"
#include "restore/change_feed.h"
#include "restore/relation_check.h"
#include "restore/replayer.h"
#include "restore/roles.h"
#include "restore/schema_follower.h"
#include "restore/sequences.h"
#include "restore/target_database.h"
#include "wal/base_backup.h"
#include "wal/catalog_digest.h"
#include "wal/repository.h"
#include "wal/source.h"

namespace pgpitr::restore {

namespace fs = std::filesystem;
using pg::Connection;
using pg::Lsn;

namespace {

using Clock = std::chrono::steady_clock;

// One restore of a plan into a prepared target database, driven from Run, phase by phase
// (base::Phase, in this order):
//   schema        the base's schema (pg_restore --section=pre-data)
//   first run     the transactions after the base, collapsed and held until the first cut
//   data          the base's rows, the first run merged in as they load (restore/base_load.h)
//   indexes       the base's indexes and constraints; then what the first run could not merge
//   replay        the rest of the transactions, up to the target
//   foreign keys  the base's foreign keys and materialized views, on rows all at the target (or
//                 before the first captured schema change, which may name one)
//   sequences     each sequence, from capture's samples
// Row by row (--row-by-row) the whole base loads first (schema, data, indexes, foreign keys), then
// each change is a statement. Bulk replay says when it needs the base's data or its foreign keys
// (BulkReplayer::Need); only this driver runs a phase.
class Pipeline {
 public:
  Pipeline(const RestoreOptions& options, std::string dbname, fs::path dump, const wal::ChangeLog& changes,
           const proto::CaptureState& state, const RestorePlan& plan, base::ProgressSink* progress,
           RestoreSummary* summary)
      : options_(options),
        dbname_(std::move(dbname)),
        dump_(std::move(dump)),
        changes_(changes),
        state_(state),
        plan_(plan),
        progress_(progress),
        summary_(*summary) {}

  absl::Status Run() {
    const auto start = Clock::now();
    if (absl::Status s = Connect(); !s.ok()) return s;
    if (base_) {
      Report(base::Phase::kRestoreSchema);
      if (absl::Status s = base_->Schema(); !s.ok()) return BaseFailed(s);
    }
    if (absl::Status s = ReadRelationsAfterBaseSchema(); !s.ok()) return s;
    if (absl::Status s = PrepareReplay(); !s.ok()) return s;
    if (absl::Status s = options_.row_by_row ? ReplayRowByRow() : ReplayInBulk(); !s.ok()) return s;
    if (absl::Status s = MakeForeignKeys(); !s.ok()) return s;
    if (absl::Status s = NameKeylessAtTheEnd(); !s.ok()) return s;
    if (absl::Status s = CheckTheLaterDropsRan(); !s.ok()) return s;
    if (absl::Status s = CompareRelationsWithTheSource(); !s.ok()) return s;
    Summarize(start);
    Report(base::Phase::kRestoreSequences);
    if (absl::Status s = RestoreSequences(*target_, changes_, state_, plan_, &summary_.notes); !s.ok()) return s;
    // Replay committed asynchronously for speed; one synchronous commit flushes WAL over all of it.
    return target_->Execute("BEGIN; SET LOCAL synchronous_commit = on; SELECT txid_current(); COMMIT");
  }

 private:
  void Report(base::Phase phase, uint64_t done = 0) {
    if (progress_ == nullptr) return;
    const bool counted = phase == base::Phase::kRestoreFirstRun || phase == base::Phase::kRestoreReplay;
    progress_->Report({.phase = phase,
                       .done = done,
                       .total = counted ? plan_.transactions : 0,
                       .unit = counted ? base::Unit::kTransactions : base::Unit::kNone});
  }

  absl::Status BaseFailed(const absl::Status& s) const {
    return base::Reworded(s, fmt::format("restoring into {} failed: {}", dbname_, s.message()));
  }

  // The target connection, the roles the base names, and the base's loader (none for an empty
  // base: the database held nothing at its snapshot, so the new database is it).
  absl::Status Connect() {
    absl::StatusOr<Connection> target = Connection::Connect(options_.target, "restore target");
    if (!target.ok()) return target.status();
    target_.emplace(*std::move(target));
    if (!options_.no_owner) {
      if (absl::Status s = CreateMissingRoles(*target_, plan_.base, &created_roles_, &role_notes_); !s.ok()) return s;
    }
    if (plan_.base.empty()) return absl::OkStatus();
    // pg_restore reads a dump of its own major or older, into a server of any major (an older
    // pg_restore into a newer server is the upgrade path): the dump, not the target, sets the floor.
    const int dump_major = std::atoi(plan_.base.pg_dump_version().c_str());
    absl::StatusOr<fs::path> pg_restore =
        pg::PgTool("pg_restore", dump_major,
                   fmt::format("base {} was dumped by pg_dump {}", plan_.base.id(), dump_major), options_.pg_bin_dir);
    if (!pg_restore.ok()) return pg_restore.status();
    BaseLoadOptions load_options;
    load_options.pg_restore = *pg_restore;
    load_options.dump = dump_;
    load_options.target = options_.target;
    load_options.jobs = std::max(1, options_.jobs);
    load_options.no_owner = options_.no_owner;
    load_options.encoding = plan_.base.encoding();
    load_options.base_id = plan_.base.id();
    base_.emplace(load_options);
    return absl::OkStatus();
  }

  // What both replay strategies share (the relations' schemas and what the target's tables were
  // made to match; the applying of each change they do not collapse), and the reading of the
  // changes: once, in a thread of its own ahead of the replay. A change that does not read back
  // (damaged or missing in the change log) stops the replay naming its transaction; the planner
  // checked only the records.
  absl::Status PrepareReplay() {
    absl::StatusOr<SchemaFollower> follower = SchemaFollower::Create(&*target_, changes_, &replay_notes_);
    if (!follower.ok()) return follower.status();
    follower_.emplace(*std::move(follower));
    absl::StatusOr<std::unique_ptr<ChangeApplier>> applier =
        ChangeApplier::Create(&*target_, &*follower_, &replay_notes_);
    if (!applier.ok()) return applier.status();
    applier_ = *std::move(applier);
    applier_->LeaveOutRowsOfDropped(&plan_.dropped);
    applier_->CarryOnPastSchemaChanges(options_.best_effort);
    applier_->NoteRolesCreated(created_roles_);
    applier_->LookForLaterDrops([this](const proto::RelationSchema& schema, const proto::Transaction& txn) {
      return DroppedLater(schema, txn);
    });
    // Capture had no UPDATE and DELETE of the base's tables without a replica identity (its
    // publication in two, wal/source.h): they are named, and a strict restore stops here.
    const std::vector<std::string> keyless(plan_.base.keyless_tables().begin(), plan_.base.keyless_tables().end());
    if (absl::Status s =
            applier_->NameKeylessTables(keyless, plan_.base.lsn(), plan_.base.consistent_time(),
                                        fmt::format("the base (LSN {})", Lsn(plan_.base.lsn()).ToString()), "");
        !s.ok()) {
      return s;
    }
    // Nor are large objects in the stream: the base's are restored, and may differ when the base
    // holds some or the source may have held some at the target (capture's checks say when).
    if (!LargeObjectsMayDiffer(plan_, state_)) {
      applier_->LeaveOutLargeObjectStatements(true);
    } else {
      if (absl::Status s =
              applier_->NameLargeObjects(plan_.base.lsn(), plan_.base.consistent_time(),
                                         fmt::format("the base (LSN {})", Lsn(plan_.base.lsn()).ToString()));
          !s.ok()) {
        return s;
      }
    }
    if (plan_.last_commit) feed_.emplace(changes_, Lsn(plan_.base.lsn()), Lsn(plan_.last_commit->commit_lsn()));
    return absl::OkStatus();
  }

  // Every transaction of the feed, in commit order, with the progress reported after each; an
  // error says which transaction it stopped at (or that the change log is damaged there).
  absl::Status ForEachTransaction(const std::function<absl::Status(const proto::Transaction&)>& replay) {
    if (!feed_) return absl::OkStatus();
    std::optional<Lsn> failed_at;
    uint64_t done = 0;
    absl::Status replayed = feed_->ForEachTransaction([&](const proto::Transaction& txn) {
      absl::Status s = replay(txn);
      if (!s.ok()) failed_at = Lsn(txn.commit_lsn());
      Report(phase_, ++done);
      return s;
    });
    if (replayed.ok()) return replayed;
    // A change that does not read back, rather than a target that disagrees with the log.
    if (failed_at.has_value() && base::KindOf(replayed) == base::ErrorKind::kChangeLogDamaged) {
      return base::WithKind(
          absl::DataLossError(fmt::format(
              "the change log is damaged: the changes of the transaction committed at LSN {} do not read "
              "back ({}); restore to a point before it, or run 'pgpitr verify' to see what is still restorable",
              failed_at->ToString(), replayed.message())),
          base::ErrorKind::kChangeLogDamaged);
    }
    // With bulk replay many source transactions share a target transaction: what failed was
    // rolled back with whatever else that target transaction held.
    return base::Reworded(replayed, fmt::format("{} (read {} of {} transactions)", replayed.message(),
                                                failed_at ? done - 1 : done, plan_.transactions));
  }

  // The whole base first, then one target transaction per source transaction.
  absl::Status ReplayRowByRow() {
    if (base_) {
      if (absl::Status s = LoadBaseData({}); !s.ok()) return s;
      if (absl::Status s = MakeForeignKeys(); !s.ok()) return s;
    }
    phase_ = base::Phase::kRestoreReplay;
    Report(phase_);
    LogChangeSource log_source(changes_);
    ChangeSource& source = feed_ ? static_cast<ChangeSource&>(*feed_) : log_source;
    Replayer replayer(&*target_, applier_.get(), &source);
    absl::Status replayed = ForEachTransaction([&](const proto::Transaction& txn) { return replayer.Replay(txn); });
    if (!replayed.ok()) return replayed;
    summary_.transactions = replayer.transactions();
    summary_.rows = replayer.rows();
    summary_.row_writes = replayer.rows();
    return absl::OkStatus();
  }

  // Each change is offered to the bulk replayer until it takes it: what it needs first (the base's
  // data, its foreign keys) is a phase run here.
  absl::Status ReplayInBulk() {
    BulkReplayOptions bulk_options{.flush_bytes = options_.replay_flush_bytes,
                                   .merge_bytes = std::max(options_.replay_flush_bytes, options_.replay_merge_bytes),
                                   .base_data_pending = base_.has_value(),
                                   .append = [this](const proto::RelationSchema& schema, std::string rows) {
                                     return base_->Append(schema, std::move(rows));
                                   }};
    absl::StatusOr<std::unique_ptr<BulkReplayer>> made =
        BulkReplayer::Create(&*target_, &*follower_, applier_.get(), std::move(bulk_options));
    if (!made.ok()) return made.status();
    BulkReplayer& bulk = **made;
    phase_ = base_ ? base::Phase::kRestoreFirstRun : base::Phase::kRestoreReplay;
    Report(phase_);
    auto offer = [&](const proto::Change& change, const proto::Transaction& txn) -> absl::Status {
      for (;;) {
        absl::StatusOr<BulkReplayer::Need> need = bulk.Take(change, txn);
        if (!need.ok()) return need.status();
        switch (*need) {
          case BulkReplayer::Need::kNothing:
            return absl::OkStatus();
          case BulkReplayer::Need::kBaseData:
            if (absl::Status s = LoadBaseData(bulk); !s.ok()) return s;
            break;
          case BulkReplayer::Need::kForeignKeys:
            if (absl::Status s = MakeForeignKeys(); !s.ok()) return s;
            bulk.ForeignKeysMade();
            break;
        }
      }
    };
    absl::Status replayed = ForEachTransaction([&](const proto::Transaction& txn) -> absl::Status {
      if (absl::Status s = bulk.Begin(txn); !s.ok()) return s;
      if (absl::Status s = feed_->ForEachChange(txn, [&](const proto::Change& c) { return offer(c, txn); }); !s.ok()) {
        return s;
      }
      return bulk.End(txn);
    });
    // Also when nothing was replayed, or the first run never needed a cut: the base's data now.
    if (replayed.ok() && bulk.base_data_pending()) replayed = LoadBaseData(bulk);
    if (replayed.ok()) replayed = bulk.Finish();
    if (!replayed.ok()) return replayed;
    summary_.transactions = bulk.transactions();
    summary_.rows = bulk.rows();
    summary_.row_writes = bulk.row_writes();
    if (base_) summary_.merged_rows = base_->replayed_rows();
    return absl::OkStatus();
  }

  // The data and indexes phases: the base's rows, with the first run's collapsed changes merged
  // in when bulk replay holds one; then its indexes and constraints; then the replay goes on.
  absl::Status LoadBaseData(std::optional<std::reference_wrapper<BulkReplayer>> bulk) {
    std::vector<TableLoad> tables;
    if (bulk) {
      absl::StatusOr<std::vector<TableLoad>> first_run = bulk->get().FirstRun();
      if (!first_run.ok()) return first_run.status();
      tables = *std::move(first_run);
    }
    Report(base::Phase::kRestoreData);
    absl::StatusOr<BaseLoad::Loaded> loaded = base_->Data(tables);
    if (!loaded.ok()) return BaseFailed(loaded.status());
    Report(base::Phase::kRestoreIndexes);
    if (absl::Status s = base_->Indexes(); !s.ok()) return BaseFailed(s);
    if (bulk) {
      if (absl::Status s = bulk->get().BaseLoaded(loaded->merged, base_->schema_unfinished()); !s.ok()) return s;
      phase_ = base::Phase::kRestoreReplay;
      Report(phase_);
    }
    return absl::OkStatus();
  }

  // The foreign keys phase: the rest of the base's post-data, once (nothing the second time).
  absl::Status MakeForeignKeys() {
    if (!base_ || !base_->schema_unfinished()) return absl::OkStatus();
    Report(base::Phase::kRestoreForeignKeys);
    if (absl::Status s = base_->FinishSchema(); !s.ok()) return BaseFailed(s);
    return absl::OkStatus();
  }

  // Tables without a replica identity at the end that nothing named yet (made by a path no
  // trigger sees, such as EXPLAIN ANALYZE CREATE TABLE AS).
  absl::Status NameKeylessAtTheEnd() {
    if (!plan_.base.keyless_not_captured()) return absl::OkStatus();
    absl::StatusOr<std::vector<std::string>> keyless = wal::TablesWithoutReplicaIdentity(*target_);
    if (!keyless.ok()) return keyless.status();
    return applier_->NameKeylessTables(*keyless, plan_.reached_lsn.value(), plan_.reached_time,
                                       fmt::format("the last point replayed ({})", plan_.reached_lsn.ToString()), "");
  }

  // Whether a DROP the proxy recorded after txn, up to the target, names the relation (schema and
  // name, or the name alone: the end of the restore checks the target lacks it then). The change
  // log is read ahead once, from the first transaction asked about (replay asks in commit order),
  // for the DROPs the proxy recorded; only for rows that cannot be written, or a table made or
  // reshaped with no schema change recorded.
  bool DroppedLater(const proto::RelationSchema& schema, const proto::Transaction& txn) {
    if (!plan_.last_commit) return false;
    if (!later_drops_read_from_ || txn.commit_lsn() + 1 < *later_drops_read_from_) {
      later_drops_.clear();
      later_drops_read_from_ = txn.commit_lsn() + 1;
      const absl::Status read = ForEachRecordedStatement(
          changes_, Lsn(txn.commit_lsn() + 1), Lsn(plan_.last_commit->commit_lsn()),
          [&](const proto::Transaction& t, const proto::Change& change, const std::string& sql) {
            if (change.message_prefix() != pg::kDdlMessagePrefix) return absl::OkStatus();
            bool drop = false;
            const auto names = proxy::RelationsActedOn(sql, &drop);
            if (!drop || !names) return absl::OkStatus();
            for (const proxy::RelationName& n : *names) later_drops_.emplace_back(t.commit_lsn(), n);
            return absl::OkStatus();
          });
      // What cannot be read is not known: no DROP then (the relations are named), and no read again.
      if (!read.ok()) later_drops_.clear();
    }
    for (const auto& [lsn, n] : later_drops_) {
      if (lsn > txn.commit_lsn() && n.name == schema.name() && (n.schema.empty() || n.schema == schema.namespace_())) {
        return true;
      }
    }
    return false;
  }

  // The relations left unnamed for a DROP recorded later (their rows left out, or their shape not
  // recorded) must be gone from the target: one still there (the DROP named another of its name) is
  // named.
  absl::Status CheckTheLaterDropsRan() {
    std::vector<Difference> still;
    for (const ChangeApplier::LaterDrop& left : applier_->left_for_a_later_drop()) {
      absl::StatusOr<pg::Result> there = target_->Query("SELECT pg_catalog.to_regclass($1) IS NOT NULL", {left.table});
      if (!there.ok()) return there.status();
      if (there->GetString(0, 0) != "t") continue;
      still.push_back(Difference{.commit_lsn = plan_.reached_lsn.value(),
                                 .commit_time = plan_.reached_time,
                                 .statement = "",
                                 .reason = left.reason,
                                 .objects = {"table " + left.table}});
    }
    return applier_->NameRelations(std::move(still));
  }

  // Without event triggers, schema changes are not in the stream: capture's catalog checks say what
  // the source's relations were (restore/relation_check.h). The target's, once the base's schema is
  // made, tell a relation the replay made again from the base's.
  absl::Status ReadRelationsAfterBaseSchema() {
    absl::StatusOr<SourceRelations> source = SourceRelationsAt(changes_, state_, plan_);
    if (!source.ok()) return source.status();
    source_relations_ = *std::move(source);
    if (!source_relations_.applies || !base_) return absl::OkStatus();
    absl::StatusOr<std::vector<proto::RelationDigest>> made = wal::ReadCatalogDigest(*target_);
    if (!made.ok()) return made.status();
    after_base_schema_ = *std::move(made);
    return absl::OkStatus();
  }

  // The restore's relations against the source's at the target: those that may differ are named
  // (strict, the restore is refused naming them).
  absl::Status CompareRelationsWithTheSource() {
    if (!source_relations_.applies) return absl::OkStatus();
    absl::StatusOr<std::vector<proto::RelationDigest>> restored = wal::ReadCatalogDigest(*target_);
    if (!restored.ok()) return restored.status();
    // Another major words definitions otherwise (catalog functions, not-null constraints): there,
    // only which relations there are is compared.
    const bool same_major = std::atoi(plan_.base.server_version().c_str()) == target_->server_version() / 10000;
    if (source_relations_.unchecked) {
      replay_notes_.push_back(fmt::format(
          "without event triggers, the relations are known from capture's catalog checks, the last at LSN {} ({}), "
          "before the target: a relation made or changed after it, and not in the stream, may differ",
          Lsn(source_relations_.last_check_lsn).ToString(), pg::FormatPgTime(source_relations_.last_check_time)));
    }
    if (!same_major) {
      replay_notes_.push_back(
          "the target runs another major than the source: its relations were compared with the source's by name, "
          "not by definition");
    }
    return applier_->NameRelations(CompareRelations(source_relations_, after_base_schema_, *restored, same_major));
  }

  void Summarize(Clock::time_point start) {
    summary_.notes = role_notes_;
    for (const std::string& note : replay_notes_) summary_.notes.push_back(note);
    summary_.differences = applier_->differences();
    if (base_) {
      for (const std::string& note : base_->notes()) summary_.notes.push_back(note);
      summary_.base_seconds = base_->seconds();
    } else {
      summary_.notes.push_back("the base is empty (the database held nothing at its snapshot): no dump to restore");
    }
    summary_.replay_seconds = (Clock::now() - start) - summary_.base_seconds;
  }

  const RestoreOptions& options_;
  const std::string dbname_;
  const fs::path dump_;
  const wal::ChangeLog& changes_;
  const proto::CaptureState& state_;
  const RestorePlan& plan_;
  base::ProgressSink* progress_;
  RestoreSummary& summary_;

  std::optional<Connection> target_;
  std::vector<std::string> created_roles_;
  std::vector<std::string> role_notes_;
  std::optional<BaseLoad> base_;
  std::vector<std::string> replay_notes_;
  std::optional<SchemaFollower> follower_;
  std::unique_ptr<ChangeApplier> applier_;
  std::optional<ChangeFeed> feed_;
  SourceRelations source_relations_;
  std::vector<proto::RelationDigest> after_base_schema_;
  // DroppedLater: the DROPs the proxy recorded (commit LSN, relation) from the first transaction
  // asked about (read from there) to the target.
  std::vector<std::pair<uint64_t, proxy::RelationName>> later_drops_;
  std::optional<uint64_t> later_drops_read_from_;
  base::Phase phase_ = base::Phase::kRestoreReplay;  // the phase the transactions are counted in
};

}  // namespace

std::string RestoreSummary::ToString() const {
  std::string out = fmt::format(
      "restored to {}\n"
      "  base:         {} (LSN {}, consistent at {}), restored in {:.1f} s\n"
      "  replayed:     {} transactions, {} rows in {:.1f} s ({:.0f} rows/s; {} row writes after collapsing "
      "each row's changes to its net effect{})\n"
      "  reached:      LSN {}, {}\n",
      plan.target.ToString(), plan.base.id(), Lsn(plan.base.lsn()).ToString(),
      pg::FormatPgTime(plan.base.consistent_time()), base_seconds.count(), transactions, rows, replay_seconds.count(),
      replay_seconds.count() > 0 ? static_cast<double>(rows) / replay_seconds.count() : 0.0, row_writes,
      merged_rows > 0 ? fmt::format(", {} of them merged into the base's rows as they loaded", merged_rows) : "",
      plan.reached_lsn.ToString(), pg::FormatPgTime(plan.reached_time));
  if (plan.last_commit) {
    out +=
        fmt::format("  last commit:  xid {} at LSN {}, {}\n", plan.last_commit->xid(),
                    Lsn(plan.last_commit->commit_lsn()).ToString(), pg::FormatPgTime(plan.last_commit->commit_time()));
  } else {
    out += "  last commit:  none after the base\n";
  }
  for (const std::string& note : notes) out += "  note: " + note + "\n";
  if (!differences.empty()) {
    out += fmt::format(
        "NOT EXACT (--best-effort): {} thing(s) replay could not make as on the source; what they "
        "touched may differ from the source:\n",
        differences.size());
    for (const Difference& d : differences) {
      out += fmt::format("  - {}(LSN {}, {}): {}\n", d.statement.empty() ? "" : fmt::format("`{}` ", d.statement),
                         Lsn(d.commit_lsn).ToString(), pg::FormatPgTime(d.commit_time), d.reason);
      if (!d.objects.empty()) out += "    may differ: " + absl::StrJoin(d.objects, ", ") + "\n";
    }
  }
  return out;
}

std::string RestoreSummary::ToJson() const {
  nlohmann::json out = {
      {"target", plan.target.ToString()},
      {"base", {{"id", plan.base.id()}, {"lsn", Lsn(plan.base.lsn()).ToString()}}},
      {"reached_lsn", plan.reached_lsn.ToString()},
      {"reached_time", pg::FormatPgTime(plan.reached_time)},
      {"transactions", transactions},
      {"rows", rows},
      {"exact", differences.empty()},
      {"notes", notes},
  };
  out["differences"] = nlohmann::json::array();
  for (const Difference& d : differences) {
    out["differences"].push_back({{"commit_lsn", Lsn(d.commit_lsn).ToString()},
                                  {"commit_time", pg::FormatPgTime(d.commit_time)},
                                  {"statement", d.statement},
                                  {"reason", d.reason},
                                  {"objects", d.objects}});
  }
  return out.dump(2);
}

absl::StatusOr<RestoreSummary> RunRestore(const RestoreOptions& options, const base::Logger& log,
                                          base::ProgressSink* progress) {
  const std::optional<std::string> dbname = options.target.Get("dbname");
  if (!dbname || dbname->empty() || dbname->find('=') != std::string::npos) {
    return base::WithKind(
        absl::InvalidArgumentError(
            "the restore target names no database; give one, e.g. --target 'host=H dbname=app_restored'"),
        base::ErrorKind::kUsage);
  }
  absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
      wal::Repository::Open(options.repo, wal::Repository::Mode::kRead);
  if (!repo.ok()) return repo.status();
  const wal::ChangeLog& changes = (*repo)->change_log();
  absl::StatusOr<proto::CaptureState> state = changes.State();
  if (!state.ok()) return state.status();
  absl::StatusOr<std::vector<proto::Base>> bases = (*repo)->Bases();
  if (!bases.ok()) return bases.status();
  absl::StatusOr<RestorePlan> plan = PlanRestore(*bases, changes, *state, options.point);
  if (!plan.ok()) return plan.status();

  RestoreSummary summary;
  summary.plan = *plan;
  // The base's dump, checked against its manifest before anything is made (none for an empty base).
  absl::StatusOr<fs::path> dump = (*repo)->CheckedDump(plan->base);
  if (!dump.ok()) {
    return base::WithKind(
        absl::DataLossError(fmt::format("{}: the base is damaged (run 'pgpitr info' and restore from another base)",
                                        dump.status().message())),
        base::ErrorKind::kBaseDamaged);
  }
  log.Info("restoring into database {}: base {} (LSN {}), then {} transactions up to {}", *dbname, plan->base.id(),
           Lsn(plan->base.lsn()).ToString(), plan->transactions, plan->reached_lsn.ToString());

  absl::StatusOr<bool> created =
      PrepareTargetDatabase(options.target, options.replace_existing, *state, plan->base, log);
  if (!created.ok()) return created.status();
  absl::Status restored = Pipeline(options, *dbname, *dump, changes, *state, *plan, progress, &summary).Run();
  if (restored.ok()) return summary;
  // A failed restore never leaves a half-restored database that could pass for a good one: the
  // database this restore created is dropped; one that was there (empty) is said to be incomplete.
  std::string left;
  if (*created) {
    const absl::Status dropped = DropTargetDatabase(options.target, *dbname);
    left = dropped.ok() ? fmt::format("the target database {} was dropped (this restore had created it)", *dbname)
                        : fmt::format("the target database {} is incomplete and could not be dropped ({}): drop it",
                                      *dbname, dropped.message());
  } else {
    left = fmt::format("the target database {} holds an incomplete restore: drop it before retrying", *dbname);
  }
  return base::Reworded(restored, fmt::format("{}; {}", restored.message(), left));
}

}  // namespace pgpitr::restore
