#include "restore/bulk_replayer.h"

#include <filesystem>
#include <set>

#include "base/error.h"
#include "fmt/format.h"
#include "pg/stream_messages.h"
#include "restore/base_load.h"
#include "restore/copy_text.h"
#include "restore/savepoint.h"

namespace pgpitr::restore {

using pg::QuoteIdent;

namespace {

// Changes to these tables are collapsed by key; the others keep their order (rows are a multiset).
bool HasKey(const proto::RelationSchema& schema) {
  if (schema.replica_identity() != 'd' && schema.replica_identity() != 'i') return false;
  for (const auto& c : schema.columns()) {
    if (c.is_key()) return true;
  }
  return false;
}

std::string ColumnList(const proto::RelationSchema& schema, bool keys_only, const std::string& prefix = "") {
  std::string out;
  for (const auto& c : schema.columns()) {
    if (keys_only && !c.is_key()) continue;
    out += (out.empty() ? "" : ", ") + prefix + QuoteIdent(c.name());
  }
  return out;
}

// Before the base's data loads, rows appended to tables without a key go to it in pieces this big.
constexpr size_t kAppendPiece = 1 << 20;

// The replay session's work_mem (hash joins may use hash_mem_multiplier times it).
constexpr int kReplayWorkMemKiB = 128 * 1024;
// A staging table of at least this many rows is analyzed before it is joined, so the planner
// hashes it and scans its table once, rather than hashing the table or probing its index per row.
constexpr size_t kAnalyzeStagingRows = 10000;

}  // namespace

ChangeRoute RouteOf(const proto::Change& change, const proto::RelationSchema* schema,
                    std::optional<uint32_t> followed) {
  using Way = ChangeRoute::Way;
  switch (change.kind()) {
    case proto::Change::MESSAGE:
      // Only a captured schema change cuts; marks and foreign messages are not replayed.
      if (!pg::IsSchemaChangeMessage(change.message_prefix())) return {false, Way::kIgnore};
      return {true, Way::kRunNow};
    case proto::Change::TRUNCATE:
      return {true, Way::kRunNow};
    default:
      break;
  }
  if (schema == nullptr) return {false, Way::kRunNow};  // the row-by-row path reports it
  // Changes pending were written under the target's current shape: apply them before changing it.
  const bool cut = !followed || *followed != schema->schema_id();
  if (HasKey(*schema)) return {cut, Way::kCollapse};
  return {cut, change.kind() == proto::Change::INSERT ? Way::kAppend : Way::kRowByRow};
}

absl::StatusOr<std::unique_ptr<BulkReplayer>> BulkReplayer::Create(pg::Connection* target, SchemaFollower* follower,
                                                                   ChangeApplier* applier, BulkReplayOptions options) {
  if (options.base_data_pending && !options.append) {
    return absl::InternalError("a replay before the base's data loads needs somewhere to append rows");
  }
  // The set-based statements join a staging table of up to flush_bytes against its table: with the
  // default 4 MB the hash join spills to disk in batches, which more than doubled their time.
  if (absl::Status s = target->Execute(fmt::format("SET work_mem = '{}kB'", kReplayWorkMemKiB)); !s.ok()) return s;
  return std::unique_ptr<BulkReplayer>(new BulkReplayer(target, follower, applier, std::move(options)));
}

std::string BulkReplayer::PendingRange() const {
  if (first_pending_lsn_ == last_pending_lsn_) {
    return fmt::format("the transaction committed at {}", pg::Lsn(first_pending_lsn_).ToString());
  }
  return fmt::format("the transactions committed from {} to {}", pg::Lsn(first_pending_lsn_).ToString(),
                     pg::Lsn(last_pending_lsn_).ToString());
}

absl::StatusOr<int64_t> BulkReplayer::Affected(const std::string& sql) { return target_->Affected(sql); }

absl::StatusOr<int64_t> BulkReplayer::Copy(const std::string& sql, std::string_view data) {
  pg::CopyIn in(*target_);
  if (absl::Status s = in.Start(sql); !s.ok()) return s;
  in.Send(data);
  return in.End();
}

absl::Status BulkReplayer::Stage(const std::string& stage, const std::string& columns_of, size_t rows,
                                 const std::function<void(pg::CopyIn&)>& fill) {
  if (absl::Status s = target_->Execute(fmt::format("CREATE TEMP TABLE {} AS {} WITH NO DATA", stage, columns_of));
      !s.ok()) {
    return s;
  }
  pg::CopyIn in(*target_);
  if (absl::Status s = in.Start(fmt::format("COPY {} FROM STDIN", stage)); !s.ok()) return s;
  fill(in);
  absl::StatusOr<int64_t> copied = in.End();
  if (!copied.ok()) return copied.status();
  if (rows >= kAnalyzeStagingRows) return target_->Execute("ANALYZE " + stage);
  return absl::OkStatus();
}

absl::Status BulkReplayer::FlushAppends(Appends& appends) {
  if (appends.rows == 0) return absl::OkStatus();
  const std::string table = QualifiedName(*appends.schema);
  if (!loaded_) {
    // Before the base's data loads: COPYed beside the collapse (BaseLoad::Append).
    pending_bytes_ -= std::min<uint64_t>(pending_bytes_, appends.copy_data.size());
    if (absl::Status s = options_.append(*appends.schema, std::move(appends.copy_data)); !s.ok()) return s;
    std::string().swap(appends.copy_data);
    row_writes_ += appends.rows;
    appends.rows = 0;
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> copied =
      Copy(fmt::format("COPY {} ({}) FROM STDIN", table, ColumnList(*appends.schema, false)), appends.copy_data);
  if (!copied.ok()) {
    return absl::FailedPreconditionError(fmt::format("replaying the INSERTs into {} of {} failed: {}", table,
                                                     PendingRange(), copied.status().message()));
  }
  row_writes_ += appends.rows;
  pending_bytes_ -= std::min<uint64_t>(pending_bytes_, appends.copy_data.size());
  std::string().swap(appends.copy_data);
  appends.rows = 0;
  return absl::OkStatus();
}

absl::Status BulkReplayer::FlushKeyed(NetEffect& net) {
  if (net.empty()) return absl::OkStatus();
  const proto::RelationSchema& schema = net.schema();
  const std::string table = QualifiedName(schema);
  auto failed = [&](const char* what, const absl::Status& s) {
    return base::Reworded(s, fmt::format("replaying the net effect of {} on {} failed ({}): {}", PendingRange(), table,
                                         what, s.message()));
  };
  auto mismatch = [&](const char* what, int64_t found, size_t wanted) {
    return absl::DataLossError(
        fmt::format("replaying the net effect of {} on {}: {} {} of the {} rows expected: the restore target no longer "
                    "matches the source (was it changed during the restore?)",
                    PendingRange(), table, what, found, wanted));
  };
  const int ncolumns = schema.columns_size();
  std::vector<int> key_columns;
  for (int i = 0; i < ncolumns; ++i) {
    if (schema.columns(i).is_key()) key_columns.push_back(i);
  }
  std::vector<std::string> drops;
  auto drop_stages = [&]() -> absl::Status {
    for (const std::string& stage : drops) {
      if (absl::Status s = target_->Execute("DROP TABLE " + stage); !s.ok()) return s;
    }
    return absl::OkStatus();
  };
  // What becomes of each key (as NetEffect::Take sorts them): rows replaced under their own key
  // with every value known are updated in place; the other keys the target held are deleted; final
  // rows with values the run never saw ("partial") are read from their origin rows, then inserted
  // with the other rows of new keys. The rows are written straight from the run, a MiB at a time.
  using Row = NetEffect::RowView;
  size_t updated = 0, deleted = 0, partial = 0, inserted = 0;
  std::vector<bool> column_unknown(ncolumns, false);
  std::string mask;
  net.ForEachRow([&](const Row& r) {
    updated += r.updated();
    deleted += r.deleted();
    inserted += r.inserted();
    if (!r.partial()) return;
    ++partial;
    mask.clear();
    net.AppendImageText(r.image, nullptr, &mask);
    for (int i = 0; i < ncolumns && i < static_cast<int>(mask.size()); ++i) {
      column_unknown[i] = column_unknown[i] || mask[i] == 'u';
    }
  });

  // 1. Partial rows: their unknown values are read from their origin rows, which the deletes below remove.
  std::string partial_stage;
  if (partial > 0) {
    partial_stage = fmt::format("pg_temp.pgpitr_rows_{}", ++stage_counter_);
    std::string origin_columns;
    for (size_t k = 0; k < key_columns.size(); ++k) {
      origin_columns +=
          fmt::format(", {} AS \"pgpitr origin {}\"", QuoteIdent(schema.columns(key_columns[k]).name()), k);
    }
    drops.push_back(partial_stage);
    if (absl::Status s = Stage(partial_stage,
                               fmt::format("SELECT {}{}, ''::text AS \"pgpitr unknown\" FROM ONLY {}",
                                           ColumnList(schema, false), origin_columns, table),
                               partial,
                               [&](pg::CopyIn& in) {
                                 net.ForEachRow([&](const Row& r) {
                                   if (!r.partial()) return;
                                   mask.clear();
                                   net.AppendImageText(r.image, &in.rows(), &mask);
                                   in.rows() += '\t';
                                   net.AppendKeyText(r.origin, &in.rows());
                                   in.rows() += '\t';
                                   in.rows() += mask;
                                   in.rows() += '\n';
                                   in.Sent();
                                 });
                               });
        !s.ok()) {
      return failed("staging", s);
    }
    std::string set, where;
    for (int i = 0; i < ncolumns; ++i) {
      if (!column_unknown[i]) continue;
      const std::string c = QuoteIdent(schema.columns(i).name());
      set += fmt::format("{}{} = CASE WHEN substr(s.\"pgpitr unknown\", {}, 1) = 'u' THEN t.{} ELSE s.{} END",
                         set.empty() ? "" : ", ", c, i + 1, c, c);
    }
    for (size_t k = 0; k < key_columns.size(); ++k) {
      where += fmt::format("{}t.{} = s.\"pgpitr origin {}\"", k ? " AND " : "",
                           QuoteIdent(schema.columns(key_columns[k]).name()), k);
    }
    absl::StatusOr<int64_t> filled =
        Affected(fmt::format("UPDATE {} s SET {} FROM ONLY {} t WHERE {}", partial_stage, set, table, where));
    if (!filled.ok()) return failed("reading unchanged TOASTed values", filled.status());
    if (static_cast<size_t>(*filled) != partial) return mismatch("found the rows to update", *filled, partial);
  }

  // 2. The other rows the target held at the start of the run under a key the run touched.
  if (deleted > 0) {
    const std::string stage = fmt::format("pg_temp.pgpitr_keys_{}", ++stage_counter_);
    drops.push_back(stage);
    if (absl::Status s = Stage(stage, fmt::format("SELECT {} FROM ONLY {}", ColumnList(schema, true), table), deleted,
                               [&](pg::CopyIn& in) {
                                 net.ForEachRow([&](const Row& r) {
                                   if (!r.deleted()) return;
                                   net.AppendKeyText(r.key, &in.rows());
                                   in.rows() += '\n';
                                   in.Sent();
                                 });
                               });
        !s.ok()) {
      return failed("staging", s);
    }
    std::string where;
    for (int i : key_columns) {
      const std::string c = QuoteIdent(schema.columns(i).name());
      where += fmt::format("{}t.{} = s.{}", where.empty() ? "" : " AND ", c, c);
    }
    absl::StatusOr<int64_t> removed =
        Affected(fmt::format("DELETE FROM ONLY {} t USING {} s WHERE {}", table, stage, where));
    if (!removed.ok()) return failed("DELETE", removed.status());
    if (static_cast<size_t>(*removed) != deleted)
      return mismatch("found the rows to update or delete", *removed, deleted);
  }

  // 3. Rows replaced under their own key, every value known (the common case): UPDATE in place.
  auto write_rows = [&](bool (Row::*which)() const) {
    return [&, which](pg::CopyIn& in) {
      net.ForEachRow([&](const Row& r) {
        if (!(r.*which)()) return;
        net.AppendImageText(r.image, &in.rows());
        in.rows() += '\n';
        in.Sent();
      });
    };
  };
  if (updated > 0) {
    const std::string stage = fmt::format("pg_temp.pgpitr_updated_{}", ++stage_counter_);
    drops.push_back(stage);
    if (absl::Status s = Stage(stage, fmt::format("SELECT {} FROM ONLY {}", ColumnList(schema, false), table), updated,
                               write_rows(&Row::updated));
        !s.ok()) {
      return failed("staging", s);
    }
    std::string set, where;
    for (int i = 0; i < ncolumns; ++i) {
      const std::string c = QuoteIdent(schema.columns(i).name());
      if (schema.columns(i).is_key()) {
        where += fmt::format("{}t.{} = s.{}", where.empty() ? "" : " AND ", c, c);
      } else {
        set += fmt::format("{}{} = s.{}", set.empty() ? "" : ", ", c, c);
      }
    }
    bool updated_in_place = false;
    if (!set.empty()) {
      if (absl::Status s = target_->Execute("SAVEPOINT pgpitr_update"); !s.ok()) return failed("UPDATE", s);
      absl::StatusOr<int64_t> changed =
          Affected(fmt::format("UPDATE ONLY {} t SET {} FROM {} s WHERE {}", table, set, stage, where));
      const std::string sqlstate = pg::SqlStateOf(changed.status());
      if (changed.ok()) {
        if (absl::Status s = target_->Execute("RELEASE SAVEPOINT pgpitr_update"); !s.ok()) return failed("UPDATE", s);
        if (static_cast<size_t>(*changed) != updated) return mismatch("found the rows to update", *changed, updated);
        updated_in_place = true;
      } else if (sqlstate == "23505" || sqlstate == "23P01" || sqlstate == "428C9") {
        // Values of another unique constraint moved between these rows, which one UPDATE checks
        // row by row, or a GENERATED ALWAYS identity column changed, which UPDATE may only set to
        // DEFAULT: replace the rows instead.
        if (absl::Status s = target_->Execute("ROLLBACK TO SAVEPOINT pgpitr_update; RELEASE SAVEPOINT pgpitr_update");
            !s.ok()) {
          return failed("UPDATE", s);
        }
      } else {
        return failed("UPDATE", changed.status());
      }
    }
    if (!updated_in_place) {
      absl::StatusOr<int64_t> removed =
          Affected(fmt::format("DELETE FROM ONLY {} t USING {} s WHERE {}", table, stage, where));
      if (!removed.ok()) return failed("DELETE", removed.status());
      if (static_cast<size_t>(*removed) != updated) return mismatch("found the rows to update", *removed, updated);
      absl::StatusOr<int64_t> added =
          Affected(fmt::format("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {} s", table,
                               ColumnList(schema, false), ColumnList(schema, false, "s."), stage));
      if (!added.ok()) return failed("INSERT", added.status());
    }
    row_writes_ += updated;
  }

  // 4. The final rows of new keys.
  const std::string columns = ColumnList(schema, false);
  if (partial > 0) {
    absl::StatusOr<int64_t> added =
        Affected(fmt::format("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {}", table, columns,
                             ColumnList(schema, false, "s."), partial_stage + " s"));
    if (!added.ok()) return failed("INSERT", added.status());
    if (static_cast<size_t>(*added) != partial) return mismatch("inserted", *added, partial);
  }
  if (inserted > 0) {
    pg::CopyIn in(*target_);
    absl::Status started = in.Start(fmt::format("COPY {} ({}) FROM STDIN", table, columns));
    if (!started.ok()) return failed("COPY", started);
    write_rows (&Row::inserted)(in);
    absl::StatusOr<int64_t> copied = in.End();
    if (!copied.ok()) return failed("COPY", copied.status());
    if (static_cast<size_t>(*copied) != inserted) return mismatch("inserted", *copied, inserted);
  }
  row_writes_ += deleted + partial + inserted;
  net.Clear();
  if (absl::Status s = drop_stages(); !s.ok()) return failed("dropping the staging tables", s);
  return absl::OkStatus();
}

namespace {

// Key types whose text a base's COPY data and the logical stream write alike whatever the session's
// settings (no time zone, no float digits): rows of tables keyed otherwise are applied after the
// base's rows load rather than matched against them.
bool KeyMatchesBaseText(const proto::RelationSchema& schema) {
  for (const auto& c : schema.columns()) {
    if (!c.is_key()) continue;
    switch (c.type_oid()) {
      case 16:    // bool
      case 18:    // char
      case 19:    // name
      case 20:    // int8
      case 21:    // int2
      case 23:    // int4
      case 25:    // text
      case 26:    // oid
      case 1042:  // bpchar
      case 1043:  // varchar
      case 1082:  // date (both ISO)
      case 1700:  // numeric
      case 2950:  // uuid
        continue;
      default:
        return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<TableLoad>> BulkReplayer::FirstRun() {
  std::vector<TableLoad> tables;
  std::set<uint32_t> relids;
  for (auto& [id, net] : keyed_) {
    if (!KeyMatchesBaseText(net.schema()) || !relids.insert(net.schema().relid()).second) continue;
    TableLoad& t = tables.emplace_back();
    t.relid = net.schema().relid();
    t.net = &net;
    t.schema = &net.schema();
  }
  // The last appended rows join the others, which went while the run was collapsed.
  for (auto& [id, appends] : appends_) {
    if (absl::Status s = FlushAppends(appends); !s.ok()) return s;
  }
  appends_.clear();
  return tables;
}

absl::Status BulkReplayer::BaseLoaded(const std::set<uint32_t>& merged, bool foreign_keys_pending) {
  loaded_ = true;
  first_run_full_ = false;
  foreign_keys_pending_ = foreign_keys_pending;
  for (auto it = keyed_.begin(); it != keyed_.end();) {
    if (!merged.contains(it->second.schema().relid())) {
      ++it;
      continue;
    }
    row_writes_ += it->second.merged_rows();
    it = keyed_.erase(it);
  }
  pending_bytes_ = 0;
  for (const auto& [id, net] : keyed_) pending_bytes_ += net.bytes();
  // What could not be merged, set-based now that the rows and indexes are there.
  if (absl::Status s = BeginTarget(); !s.ok()) return s;
  commit_due_ = true;
  return Flush();
}

absl::Status BulkReplayer::Flush() {
  if (!loaded_) return absl::InternalError("replay applied changes before the base's data was loaded");
  if (keyed_.empty() && appends_.empty()) return absl::OkStatus();
  // Carrying on, each relation's rows in a savepoint: rows the target refuses (its table differs
  // from the source's: named before, or not knowable, like a table made again under a name) are
  // named, and that relation left out from then on.
  auto flush = [&](const proto::RelationSchema& schema, const std::function<absl::Status()>& write) -> absl::Status {
    if (!applier_->carrying_on()) return write();
    absl::StatusOr<absl::Status> written = InSavepoint(*target_, "pgpitr_rows", write);
    if (!written.ok()) return written.status();
    if (written->ok()) return absl::OkStatus();
    absl::StatusOr<bool> left_out =
        applier_->LeaveOutRowsRefused(schema, last_pending_lsn_, last_pending_time_, *written);
    if (!left_out.ok()) return left_out.status();
    return *left_out ? absl::OkStatus() : *written;
  };
  for (auto& [id, net] : keyed_) {
    if (applier_->RowsRefused(net.schema().relid())) continue;
    if (absl::Status s = flush(net.schema(), [&] { return FlushKeyed(net); }); !s.ok()) return s;
  }
  for (auto& [id, appends] : appends_) {
    if (applier_->RowsRefused(appends.schema->relid())) continue;
    if (absl::Status s = flush(*appends.schema, [&] { return FlushAppends(appends); }); !s.ok()) return s;
  }
  keyed_.clear();
  appends_.clear();
  pending_bytes_ = 0;
  ++flushes_;
  commit_due_ = true;
  return absl::OkStatus();
}

absl::StatusOr<BulkReplayer::Need> BulkReplayer::TakeChange(const proto::Change& change,
                                                            const proto::Transaction& txn) {
  const proto::RelationSchema* schema =
      change.kind() == proto::Change::MESSAGE || change.kind() == proto::Change::TRUNCATE
          ? nullptr
          : follower_->Schema(change.schema_id());
  if (schema != nullptr && applier_->LeftOut(schema->relid(), txn)) return Need::kNothing;
  if (schema != nullptr) {
    absl::StatusOr<bool> unwritable = applier_->RowsCannotBeWritten(*schema, change, txn);
    if (!unwritable.ok()) return unwritable.status();
    if (*unwritable || applier_->Unfollowable(schema->schema_id()) || applier_->RowsRefused(schema->relid())) {
      return Need::kNothing;
    }
  }
  const std::optional<uint32_t> followed = schema != nullptr ? follower_->Followed(schema->relid()) : std::nullopt;
  ChangeRoute route = RouteOf(change, schema, followed);
  if (route.way == ChangeRoute::Way::kIgnore) return Need::kNothing;
  if (route.cut && schema != nullptr && !followed) {
    // A relation's first change since the last cut: nothing of it is pending, and when the target's
    // table already has the schema's shape, what is pending of the others need not be applied first.
    absl::StatusOr<bool> matches = follower_->Matches(*schema);
    if (!matches.ok()) return matches.status();
    if (*matches) route.cut = false;
  }
  // Before the base's rows are loaded, a change that finds its row by the whole old row needs them.
  if (!loaded_ && route.way == ChangeRoute::Way::kRowByRow) route.cut = true;
  // The first cut before the base's data is loaded is the end of the first run.
  if (route.cut && !loaded_) return Need::kBaseData;
  if (route.cut) {
    if (absl::Status s = Flush(); !s.ok()) return s;
  }
  if (schema == nullptr) {
    if (change.kind() == proto::Change::MESSAGE && foreign_keys_pending_) {
      // A captured schema change may name a foreign key: those exist before it runs (everything
      // pending was applied at the cut, so every table is at this point). pg_restore's session
      // takes locks this one's open transaction would hold against it.
      reopen_ = in_transaction_;
      if (absl::Status s = Commit(); !s.ok()) return s;
      return Need::kForeignKeys;
    }
    if (absl::Status s = applier_->Apply(change, txn); !s.ok()) return s;
    if (change.kind() == proto::Change::MESSAGE) {
      // The schema may have changed under every relation: check each again at its next change.
      follower_->Forget();
      // An enum value added by the statement, for one, cannot be used before its transaction commits.
      commit_due_ = true;
    }
    return Need::kNothing;
  }
  if (route.cut) {
    absl::StatusOr<bool> followed = applier_->FollowOrLeaveOut(*schema, txn);
    if (!followed.ok()) return followed.status();
    if (!*followed) return Need::kNothing;
  }
  ++rows_;
  if (route.way == ChangeRoute::Way::kCollapse) {
    NetEffect& net = keyed_.try_emplace(schema->schema_id(), *schema).first->second;
    const uint64_t before = net.bytes();
    absl::Status added = net.Add(change);
    pending_bytes_ = pending_bytes_ - before + net.bytes();
    if (!added.ok()) {
      return base::Reworded(added, fmt::format("{} (in the transaction committed at {}, xid {})", added.message(),
                                               pg::Lsn(txn.commit_lsn()).ToString(), txn.xid()));
    }
  } else if (route.way == ChangeRoute::Way::kAppend) {
    if (change.new_tuple().values_size() != schema->columns_size()) {
      return absl::DataLossError(
          fmt::format("a change to {} has a different number of columns than its schema", QualifiedName(*schema)));
    }
    Appends& appends = appends_[schema->schema_id()];
    appends.schema = schema;
    const size_t before = appends.copy_data.size();
    for (int i = 0; i < change.new_tuple().values_size(); ++i) {
      const proto::Value& v = change.new_tuple().values(i);
      if (v.kind() == proto::Value::BINARY || v.kind() == proto::Value::UNCHANGED_TOAST) {
        return absl::UnimplementedError(
            fmt::format("the transaction committed at {} inserts into {} a value in a form replay cannot write",
                        pg::Lsn(txn.commit_lsn()).ToString(), QualifiedName(*schema)));
      }
      if (i) appends.copy_data += '\t';
      if (v.kind() == proto::Value::NULL_) {
        appends.copy_data += "\\N";
      } else {
        AppendCopyField(&appends.copy_data, v.data());
      }
    }
    appends.copy_data += '\n';
    ++appends.rows;
    pending_bytes_ += appends.copy_data.size() - before;
    // Before the base's data loads they go to the target beside the collapse, a MiB at a time.
    if (!loaded_ && appends.copy_data.size() >= kAppendPiece) {
      if (absl::Status s = FlushAppends(appends); !s.ok()) return s;
    }
  } else {
    // One of several equal rows changes: row by row, after the INSERTs before it.
    auto it = appends_.find(schema->schema_id());
    if (it != appends_.end()) {
      if (absl::Status s = FlushAppends(it->second); !s.ok()) return s;
    }
    if (absl::Status s = applier_->Apply(change, txn); !s.ok()) return s;
    ++row_writes_;
  }
  if (pending_bytes_ >= PendingLimit()) {
    if (!loaded_) {
      first_run_full_ = true;  // the next change waits for the base's data
    } else if (absl::Status s = Flush(); !s.ok()) {
      return s;
    }
  }
  return Need::kNothing;
}

absl::Status BulkReplayer::BeginTarget() {
  if (absl::Status s = target_->Execute("BEGIN"); !s.ok()) return s;
  in_transaction_ = true;
  return absl::OkStatus();
}

absl::Status BulkReplayer::Commit() {
  if (!in_transaction_) return absl::OkStatus();
  in_transaction_ = false;
  commit_due_ = false;
  return target_->Execute("COMMIT");
}

void BulkReplayer::Abort() {
  if (in_transaction_) (void)target_->Execute("ROLLBACK");
  in_transaction_ = false;
}

absl::Status BulkReplayer::Begin(const proto::Transaction& txn) {
  // Before the base's data loads nothing is written through this connection, and it holds no lock
  // the base's indexes would wait for.
  if (loaded_ && !in_transaction_) {
    if (absl::Status s = BeginTarget(); !s.ok()) return s;
  }
  reopen_ = false;
  if (keyed_.empty() && appends_.empty()) first_pending_lsn_ = txn.commit_lsn();
  last_pending_lsn_ = txn.commit_lsn();
  last_pending_time_ = txn.commit_time();
  applier_->BeginTransaction();
  return absl::OkStatus();
}

absl::StatusOr<BulkReplayer::Need> BulkReplayer::Take(const proto::Change& change, const proto::Transaction& txn) {
  if (first_run_full_) return Need::kBaseData;
  if (reopen_) {
    reopen_ = false;
    if (absl::Status s = BeginTarget(); !s.ok()) return s;
  }
  absl::StatusOr<Need> need = TakeChange(change, txn);
  if (!need.ok()) Abort();
  return need;
}

absl::Status BulkReplayer::End(const proto::Transaction& txn) {
  if (absl::Status s = applier_->EndTransaction(txn); !s.ok()) {
    Abort();
    return s;
  }
  ++transactions_;
  // At a transaction boundary: commit what a cut has applied, and what has grown large.
  if (!loaded_) {
    first_run_full_ = first_run_full_ || pending_bytes_ >= PendingLimit();
    return absl::OkStatus();
  }
  if (commit_due_ || pending_bytes_ >= PendingLimit()) {
    if (absl::Status s = Flush(); !s.ok()) {
      Abort();
      return s;
    }
    return Commit();
  }
  return absl::OkStatus();
}

absl::Status BulkReplayer::Replay(const proto::Transaction& txn, ChangeSource& source) {
  if (absl::Status s = Begin(txn); !s.ok()) return s;
  absl::Status taken = source.ForEachChange(txn, [&](const proto::Change& change) -> absl::Status {
    absl::StatusOr<Need> need = Take(change, txn);
    if (!need.ok()) return need.status();
    if (*need != Need::kNothing) {
      return absl::InternalError("BulkReplayer::Replay takes transactions only once the target holds the whole base");
    }
    return absl::OkStatus();
  });
  if (!taken.ok()) {
    Abort();
    return taken;
  }
  return End(txn);
}

absl::Status BulkReplayer::Finish() {
  if (!loaded_) return absl::InternalError("the replay finished before the base's data was loaded");
  if (in_transaction_) {
    if (absl::Status s = Flush(); !s.ok()) {
      Abort();
      return s;
    }
    if (absl::Status s = Commit(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace pgpitr::restore
