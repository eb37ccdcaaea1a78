#include "restore/restore.h"

#include <algorithm>
#include <map>
#include <optional>

#include "absl/strings/str_join.h"
#include "base/error.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "pg/connection.h"
#include "pg/process.h"
#include "restore/base_load.h"
#include "restore/bulk_replayer.h"
#include "restore/change_applier.h"
#include "restore/change_feed.h"
#include "restore/replayer.h"
#include "restore/roles.h"
#include "restore/schema_follower.h"
#include "wal/base_backup.h"
#include "wal/repository.h"
#include "wal/source.h"

namespace pgpitr::restore {

namespace fs = std::filesystem;
using pg::Connection;
using pg::Lsn;
using pg::QuoteIdent;

namespace {

using Clock = std::chrono::steady_clock;

// A connection to the target server's maintenance database, to create or drop the target.
absl::StatusOr<Connection> ConnectMaintenance(const pg::ConnInfo& target) {
  absl::StatusOr<Connection> conn = Connection::Connect(target.With("dbname", "postgres"), "restore target server");
  if (conn.ok()) return conn;
  return Connection::Connect(target.With("dbname", "template1"), "restore target server");
}

// User relations in the target database, as text ("0" when empty).
absl::StatusOr<std::string> CountRelations(const pg::ConnInfo& target) {
  absl::StatusOr<Connection> db = Connection::Connect(target, "restore target");
  if (!db.ok()) return db.status();
  absl::StatusOr<pg::Result> objects = db->Query(
      "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'");
  if (!objects.ok()) return objects.status();
  return objects->GetString(0, 0);
}

// Creates the target database when missing (or replaced); true when this restore created it, so
// that a failure can drop it rather than leave a half-restored database behind.
absl::StatusOr<bool> PrepareTargetDatabase(const RestoreOptions& options, const std::string& dbname,
                                           const proto::CaptureState& state, const proto::Base& base,
                                           const base::Logger& log) {
  absl::StatusOr<Connection> admin = ConnectMaintenance(options.target);
  if (!admin.ok()) return admin.status();
  // The source itself is never a target, whatever the flags say.
  absl::StatusOr<pg::Result> ident = admin->Query("SELECT system_identifier::text FROM pg_control_system()");
  if (!ident.ok() && dbname == state.database()) {
    // Fail closed: a database of the source's name on a server we cannot identify may be the source.
    return base::WithKind(
        absl::PermissionDeniedError(fmt::format(
            "cannot tell whether the restore target is the source itself ({}); restore into a database with "
            "another name than {}",
            ident.status().message(), dbname)),
        base::ErrorKind::kTargetRefused);
  }
  if (ident.ok() && ident->GetString(0, 0) == state.system_identifier() && dbname == state.database()) {
    return base::WithKind(absl::PermissionDeniedError(fmt::format(
                              "the restore target is database {} of the source cluster itself; restore into another "
                              "database (e.g. dbname={}_restored)",
                              dbname, dbname)),
                          base::ErrorKind::kTargetRefused);
  }
  absl::StatusOr<pg::Result> exists = admin->Query("SELECT 1 FROM pg_database WHERE datname = $1", {dbname});
  if (!exists.ok()) return exists.status();
  if (exists->rows() > 0) {
    absl::StatusOr<std::string> objects = CountRelations(options.target);
    if (!objects.ok()) return objects.status();
    if (*objects == "0") return false;
    if (!options.replace_existing) {
      return base::WithKind(
          absl::AlreadyExistsError(fmt::format(
              "the restore target database {} is not empty ({} relations); restore into a new database name, or "
              "pass --replace-existing to drop and recreate it",
              dbname, *objects)),
          base::ErrorKind::kTargetRefused);
    }
    if (absl::Status s = admin->Execute(fmt::format("DROP DATABASE {} WITH (FORCE)", QuoteIdent(dbname))); !s.ok()) {
      return s;
    }
    log.Info("dropped the existing database {} (--replace-existing)", dbname);
  }
  std::string create = fmt::format("CREATE DATABASE {} TEMPLATE template0", QuoteIdent(dbname));
  if (!base.encoding().empty()) create += " ENCODING " + pg::QuoteLiteral(base.encoding());
  if (absl::Status s = admin->Execute(create); !s.ok()) return s;
  return true;
}

// The value each sequence gets: never one the source had handed out at the target.
absl::Status RestoreSequences(Connection& target, const wal::ChangeLog& log, const proto::CaptureState& state,
                              const RestorePlan& plan, std::vector<std::string>* notes) {
  auto after_target = [&](const proto::SequenceSample& s) {
    // A check at the target's instant already reflects every value handed out before it.
    if (plan.target.kind == RestoreTarget::Kind::kTime) return s.check_time() >= plan.target.time;
    return Lsn(s.check_lsn()) > plan.reached_lsn;
  };
  struct Known {
    const proto::SequenceSample::Sequence* before = nullptr;  // the last at or before the target
    const proto::SequenceSample::Sequence* after = nullptr;   // the first after it
  };
  std::vector<proto::SequenceSample> samples;
  absl::Status read = log.ForEachSequenceSample(Lsn(), [&](const proto::SequenceSample& s) {
    samples.push_back(s);
    return absl::OkStatus();
  });
  if (!read.ok()) return read;
  std::map<std::pair<std::string, std::string>, Known> known;  // by (schema, name)
  for (const proto::SequenceSample& sample : samples) {
    const bool after = after_target(sample);
    for (const auto& seq : sample.sequences()) {
      Known& k = known[{seq.namespace_(), seq.name()}];
      if (!after)
        k.before = &seq;
      else if (k.after == nullptr)
        k.after = &seq;
    }
  }
  proto::SequenceSample watermark;
  watermark.set_check_lsn(state.last_sequence_check_lsn());
  watermark.set_check_time(state.last_sequence_check_time());
  const bool checked_after = state.last_sequence_check_lsn() != 0 && after_target(watermark);

  absl::StatusOr<pg::Result> sequences = target.Query(R"sql(
    SELECT format('%I.%I', n.nspname, c.relname), s.seqincrement > 0,
           CASE WHEN a.attname IS NOT NULL THEN format('%I.%I', tn.nspname, t.relname) END,
           quote_ident(a.attname), a.atttypid IN (20, 21, 23, 1700), n.nspname, c.relname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_sequence s ON s.seqrelid = c.oid
    LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
         AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    LEFT JOIN pg_class t ON t.oid = d.refobjid
    LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
    LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    WHERE c.relkind = 'S' ORDER BY 1)sql");
  if (!sequences.ok()) return sequences.status();
  for (int i = 0; i < sequences->rows(); ++i) {
    const std::string name = sequences->GetString(i, 0);
    const bool ascending = sequences->Get(i, 1) == "t";
    std::optional<int64_t> owned_max;
    if (!sequences->IsNull(i, 2) && sequences->Get(i, 4) == "t") {
      absl::StatusOr<pg::Result> max = target.Query(
          fmt::format("SELECT max({})::int8 FROM {}", sequences->GetString(i, 3), sequences->GetString(i, 2)));
      if (!max.ok()) return max.status();
      if (!max->IsNull(0, 0)) owned_max = std::stoll(max->GetString(0, 0));
    }
    const Known& k = known[{sequences->GetString(i, 5), sequences->GetString(i, 6)}];
    const proto::SequenceSample::Sequence* chosen = k.after;
    std::string why = "the first check after the target";
    if (chosen == nullptr && k.before != nullptr) {
      chosen = k.before;
      why = checked_after ? "unchanged up to a check after the target"
                          : "the last check, before the target: none was made after it";
    }
    std::optional<int64_t> value;
    bool is_called = true;
    if (chosen != nullptr) {
      value = chosen->last_value();
      is_called = chosen->is_called();
    }
    if (ascending && owned_max && (!value || !is_called || *owned_max > *value)) {
      value = std::max(*owned_max, is_called ? value.value_or(*owned_max) : *owned_max);
      is_called = true;
      why = chosen != nullptr ? why + ", raised to the largest value in its column" : "the largest value in its column";
    }
    if (!value) {
      notes->push_back(fmt::format("sequence {}: no sample and no owned column value; kept the base's value", name));
      continue;
    }
    if (absl::Status s = target.Execute("SELECT setval($1::regclass, $2::int8, $3::bool)",
                                        {name, std::to_string(*value), is_called ? "true" : "false"});
        !s.ok()) {
      return s;
    }
    if (chosen == nullptr || chosen == k.before) {
      notes->push_back(fmt::format("sequence {} set to {} ({})", name, *value, why));
    }
  }
  return absl::OkStatus();
}

// Roles are the cluster's: those the base names and the target lacks are created (NOLOGIN, no
// other attribute) with the memberships the source gave them, so that owners and privileges land
// as they were. A role that cannot be created stops the restore, naming it.
absl::Status CreateMissingRoles(Connection& target, const proto::Base& base, std::vector<std::string>* created,
                                std::vector<std::string>* notes) {
  absl::StatusOr<std::vector<std::string>> missing =
      MissingRoles(target, std::vector<std::string>(base.roles().begin(), base.roles().end()));
  if (!missing.ok()) return missing.status();
  for (const std::string& name : *missing) {
    if (absl::Status s = target.Execute(fmt::format("CREATE ROLE {} NOLOGIN", pg::QuoteIdent(name))); !s.ok()) {
      return base::WithKind(
          absl::FailedPreconditionError(fmt::format(
              "the base's objects name role {}, which the restore target lacks and could not be created ({}): "
              "create it, or pass --no-owner",
              name, s.message())),
          base::ErrorKind::kRoleMissing);
    }
    created->push_back(name);
  }
  if (created->empty()) return absl::OkStatus();
  std::vector<Membership> memberships;
  for (const proto::Base::RoleMembership& m : base.memberships()) {
    memberships.push_back({.role = m.role(), .member = m.member(), .admin = m.admin()});
  }
  absl::StatusOr<std::vector<std::string>> grants = MissingMembershipGrants(target, memberships, *created);
  if (!grants.ok()) return grants.status();
  for (const std::string& grant : *grants) {
    if (absl::Status s = target.Execute(grant); !s.ok()) return s;
  }
  notes->push_back(fmt::format("created role(s) {} (NOLOGIN) on the restore target: the base's objects name them",
                               absl::StrJoin(*created, ", ")));
  return absl::OkStatus();
}

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
    if (absl::Status s = PrepareReplay(); !s.ok()) return s;
    if (absl::Status s = options_.row_by_row ? ReplayRowByRow() : ReplayInBulk(); !s.ok()) return s;
    if (absl::Status s = MakeForeignKeys(); !s.ok()) return s;
    if (absl::Status s = NameKeylessAtTheEnd(); !s.ok()) return s;
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
    // Capture had no UPDATE and DELETE of the base's tables without a replica identity (its
    // publication in two, wal/source.h): they are named, and a strict restore stops here.
    const std::vector<std::string> keyless(plan_.base.keyless_tables().begin(), plan_.base.keyless_tables().end());
    if (absl::Status s =
            applier_->NameKeylessTables(keyless, plan_.base.lsn(), plan_.base.consistent_time(),
                                        fmt::format("the base (LSN {})", Lsn(plan_.base.lsn()).ToString()), "");
        !s.ok()) {
      return s;
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

  absl::StatusOr<bool> created = PrepareTargetDatabase(options, *dbname, *state, plan->base, log);
  if (!created.ok()) return created.status();
  absl::Status restored = Pipeline(options, *dbname, *dump, changes, *state, *plan, progress, &summary).Run();
  if (restored.ok()) return summary;
  // A failed restore never leaves a half-restored database that could pass for a good one: the
  // database this restore created is dropped; one that was there (empty) is said to be incomplete.
  std::string left;
  if (*created) {
    absl::Status dropped = absl::OkStatus();
    absl::StatusOr<Connection> admin = ConnectMaintenance(options.target);
    if (admin.ok())
      dropped = admin->Execute(fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", QuoteIdent(*dbname)));
    left = admin.ok() && dropped.ok()
               ? fmt::format("the target database {} was dropped (this restore had created it)", *dbname)
               : fmt::format("the target database {} is incomplete and could not be dropped ({}): drop it", *dbname,
                             admin.ok() ? dropped.message() : admin.status().message());
  } else {
    left = fmt::format("the target database {} holds an incomplete restore: drop it before retrying", *dbname);
  }
  return base::Reworded(restored, fmt::format("{}; {}", restored.message(), left));
}

}  // namespace pgpitr::restore
