#include "restore/replayer.h"

#include <set>

#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "wal/stream_messages.h"

namespace pgpitr::restore {

using wal::QuoteIdent;

namespace {

// Types without an equality operator fit for finding a row (json, xml and the geometric types,
// whose '=' compares areas), and their arrays: rows are matched on their text instead.
bool CompareAsText(uint32_t type_oid) {
  static const std::set<uint32_t> kOids = {114,  199, 142,  143, 600,  1017, 601, 1018, 602,
                                           1019, 603, 1020, 604, 1027, 628,  629, 718,  719};
  return kOids.contains(type_oid);
}

// The first OID a user object can have; below it, types are built in and have the same OID on
// every server.
constexpr uint32_t kFirstNormalObjectId = 16384;

std::string Mask(const proto::Tuple& tuple) {
  std::string mask;
  mask.reserve(tuple.values_size());
  for (const proto::Value& v : tuple.values()) mask += v.kind() == proto::Value::UNCHANGED_TOAST ? 'u' : 'v';
  return mask;
}

}  // namespace

std::string QualifiedName(const proto::RelationSchema& schema) {
  return QuoteIdent(schema.namespace_()) + "." + QuoteIdent(schema.name());
}

absl::StatusOr<std::unique_ptr<Replayer>> Replayer::Create(wal::PgConnection* target, const wal::ChangeLog& log,
                                                           ChangeSource* source) {
  std::unique_ptr<Replayer> r(new Replayer(target, log, source));
  absl::StatusOr<std::map<uint32_t, proto::RelationSchema>> schemas = log.Schemas();
  if (!schemas.ok()) return schemas.status();
  r->schemas_ = *std::move(schemas);
  absl::StatusOr<std::map<uint32_t, proto::TypeInfo>> types = log.Types();
  if (!types.ok()) return types.status();
  r->types_ = *std::move(types);
  // The values were printed with these settings by the source's walsender (see ConnectReplication).
  absl::Status s = target->Execute(
      "SET datestyle = ISO; SET intervalstyle = postgres; SET extra_float_digits = 3; "
      "SET synchronous_commit = off; SET statement_timeout = 0; SET lock_timeout = 0; "
      "SET idle_in_transaction_session_timeout = 0");
  if (!s.ok()) return s;
  s = target->Execute("SET session_replication_role = replica");
  if (!s.ok()) {
    return absl::PermissionDeniedError(
        fmt::format("replay needs session_replication_role = replica on the restore target, so that triggers and "
                    "foreign-key actions do not run twice: restore as a superuser, or GRANT SET ON PARAMETER "
                    "session_replication_role TO the restoring role ({})",
                    s.message()));
  }
  return r;
}

const proto::RelationSchema* Replayer::Schema(uint32_t schema_id) const {
  auto it = schemas_.find(schema_id);
  return it == schemas_.end() ? nullptr : &it->second;
}

std::string Replayer::TypeName(const proto::RelationSchema::Column& column) const {
  if (column.type_oid() >= kFirstNormalObjectId) {
    auto it = types_.find(column.type_oid());
    if (it != types_.end()) return QuoteIdent(it->second.namespace_()) + "." + QuoteIdent(it->second.name());
  }
  return "";
}

absl::Status Replayer::FollowSchema(const proto::RelationSchema& schema) {
  auto followed = followed_.find(schema.relid());
  if (followed != followed_.end() && followed->second == schema.schema_id()) return absl::OkStatus();
  absl::StatusOr<std::vector<SchemaStep>> steps = PlanFollow(schema);
  if (!steps.ok()) return steps.status();
  for (const SchemaStep& step : *steps) {
    if (absl::Status s = target_->Execute(step.sql); !s.ok()) return s;
    if (!step.note.empty()) schema_notes_.push_back(step.note);
  }
  followed_[schema.relid()] = schema.schema_id();
  return absl::OkStatus();
}

absl::StatusOr<bool> Replayer::Matches(const proto::RelationSchema& schema) {
  auto followed = followed_.find(schema.relid());
  if (followed != followed_.end() && followed->second == schema.schema_id()) return true;
  absl::StatusOr<std::vector<SchemaStep>> steps = PlanFollow(schema);
  if (!steps.ok()) return steps.status();
  if (!steps->empty()) return false;
  followed_[schema.relid()] = schema.schema_id();
  return true;
}

absl::StatusOr<std::vector<Replayer::SchemaStep>> Replayer::PlanFollow(const proto::RelationSchema& schema) {
  std::vector<SchemaStep> steps;
  auto followed = followed_.find(schema.relid());
  const std::string table = QualifiedName(schema);

  // A relation renamed on the source since the last schema replay used.
  if (followed != followed_.end()) {
    const proto::RelationSchema* before = Schema(followed->second);
    absl::StatusOr<wal::PgResult> moved =
        target_->Query("SELECT to_regclass($1) IS NOT NULL", {before != nullptr ? QualifiedName(*before) : table});
    if (!moved.ok()) return moved.status();
    // A rename replayed from captured DDL has already happened.
    if (before != nullptr && moved->Get(0, 0) == "t" &&
        (before->namespace_() != schema.namespace_() || before->name() != schema.name())) {
      const std::string note = fmt::format("renamed {} to {}, as the stream showed", QualifiedName(*before), table);
      if (before->namespace_() != schema.namespace_()) {
        steps.push_back(
            {fmt::format("ALTER TABLE {} SET SCHEMA {}", QualifiedName(*before), QuoteIdent(schema.namespace_())),
             before->name() != schema.name() ? "" : note});
      }
      if (before->name() != schema.name()) {
        steps.push_back({fmt::format("ALTER TABLE {}.{} RENAME TO {}", QuoteIdent(schema.namespace_()),
                                     QuoteIdent(before->name()), QuoteIdent(schema.name())),
                         note});
      }
      // The columns are compared below as they are after the rename.
      absl::StatusOr<std::vector<SchemaStep>> rest = PlanColumns(schema, QualifiedName(*before));
      if (!rest.ok()) return rest.status();
      steps.insert(steps.end(), rest->begin(), rest->end());
      return steps;
    }
  }
  return PlanColumns(schema, table);
}

absl::StatusOr<std::vector<Replayer::SchemaStep>> Replayer::PlanColumns(const proto::RelationSchema& schema,
                                                                        const std::string& current_name) {
  std::vector<SchemaStep> steps;
  const std::string table = QualifiedName(schema);
  absl::StatusOr<wal::PgResult> columns = target_->Query(
      "SELECT a.attname, a.atttypid::int8, format_type(a.atttypid, a.atttypmod) "
      "FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped "
      "AND a.attgenerated = '' ORDER BY a.attnum",
      {current_name});
  if (!columns.ok()) return columns.status();
  absl::StatusOr<wal::PgResult> exists = target_->Query("SELECT to_regclass($1) IS NOT NULL", {current_name});
  if (!exists.ok()) return exists.status();

  auto type_sql = [&](const proto::RelationSchema::Column& c) -> absl::StatusOr<std::string> {
    std::string name = TypeName(c);
    if (!name.empty()) return name;
    absl::StatusOr<wal::PgResult> formatted = target_->Query(
        "SELECT format_type($1::oid, $2::int)", {std::to_string(c.type_oid()), std::to_string(c.type_modifier())});
    if (!formatted.ok()) return formatted.status();
    return formatted->GetString(0, 0);
  };

  if (exists->Get(0, 0) != "t") {
    // A table created on the source after the base: make it from the stream's description.
    std::string sql = "CREATE TABLE " + table + " (";
    std::vector<std::string> keys;
    for (int i = 0; i < schema.columns_size(); ++i) {
      absl::StatusOr<std::string> type = type_sql(schema.columns(i));
      if (!type.ok()) return type.status();
      sql += (i ? ", " : "") + QuoteIdent(schema.columns(i).name()) + " " + *type;
      if (schema.columns(i).is_key()) keys.push_back(QuoteIdent(schema.columns(i).name()));
    }
    if (!keys.empty() && schema.replica_identity() == 'd') {
      sql += ", PRIMARY KEY (";
      for (size_t i = 0; i < keys.size(); ++i) sql += (i ? ", " : "") + keys[i];
      sql += ")";
    }
    sql += ")";
    steps.push_back({sql, fmt::format("created table {} from the stream's description (columns and key only: "
                                      "defaults, constraints and indexes are not in the logical stream)",
                                      table)});
    return steps;
  }
  std::map<std::string, std::pair<uint32_t, std::string>> present;
  for (int i = 0; i < columns->rows(); ++i) {
    present[columns->GetString(i, 0)] = {static_cast<uint32_t>(std::stoul(columns->GetString(i, 1))),
                                         columns->GetString(i, 2)};
  }
  std::set<std::string> wanted;
  for (const auto& c : schema.columns()) {
    wanted.insert(c.name());
    auto it = present.find(c.name());
    absl::StatusOr<std::string> type = type_sql(c);
    if (!type.ok()) return type.status();
    if (it == present.end()) {
      steps.push_back({fmt::format("ALTER TABLE {} ADD COLUMN {} {}", table, QuoteIdent(c.name()), *type),
                       fmt::format("added column {}.{} ({}) as the stream showed; a DEFAULT it was added with is not "
                                   "in the logical stream, so rows older than it hold NULL",
                                   table, QuoteIdent(c.name()), *type)});
    } else if (it->second.second != *type && c.type_oid() < kFirstNormalObjectId) {
      steps.push_back(
          {fmt::format("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}::text::{}", table, QuoteIdent(c.name()), *type,
                       QuoteIdent(c.name()), *type),
           fmt::format("changed the type of {}.{} to {} as the stream showed", table, QuoteIdent(c.name()), *type)});
    }
  }
  for (const auto& [name, type] : present) {
    if (wanted.contains(name)) continue;
    steps.push_back({fmt::format("ALTER TABLE {} DROP COLUMN {}", table, QuoteIdent(name)),
                     fmt::format("dropped column {}.{} as the stream showed", table, QuoteIdent(name))});
  }
  return steps;
}

absl::StatusOr<const Replayer::Statement*> Replayer::Prepare(const std::string& key, const std::string& sql,
                                                             std::vector<int> params) {
  auto it = statements_.find(key);
  if (it != statements_.end()) return &it->second;
  Statement statement;
  statement.name = fmt::format("pgpitr_{}", statements_.size());
  statement.params = std::move(params);
  wal::PgResult result(PQprepare(target_->raw(), statement.name.c_str(), sql.c_str(), 0, nullptr));
  if (result.raw() == nullptr || PQresultStatus(result.raw()) != PGRES_COMMAND_OK) {
    return absl::FailedPreconditionError(
        fmt::format("the restore target cannot run `{}`: {}", sql.substr(0, 300),
                    wal::OneLine(result.raw() ? PQresultErrorMessage(result.raw()) : PQerrorMessage(target_->raw()))));
  }
  return &statements_.emplace(key, std::move(statement)).first->second;
}

absl::StatusOr<int64_t> Replayer::Run(const Statement& s, const proto::Change& change) {
  std::vector<const char*> values;
  std::vector<int> lengths;
  values.reserve(s.params.size());
  lengths.reserve(s.params.size());
  for (int column : s.params) {
    const proto::Value& v = column >= 0 ? change.new_tuple().values(column) : change.old_tuple().values(~column);
    if (v.kind() == proto::Value::NULL_) {
      values.push_back(nullptr);
      lengths.push_back(0);
    } else {
      values.push_back(v.data().c_str());
      lengths.push_back(static_cast<int>(v.data().size()));
    }
  }
  wal::PgResult result(PQexecPrepared(target_->raw(), s.name.c_str(), static_cast<int>(values.size()), values.data(),
                                      lengths.data(), nullptr, 0));
  return wal::AffectedRows(result.raw(), target_->raw());
}

absl::Status Replayer::Apply(const proto::Change& change, const proto::Transaction& txn) {
  if (change.kind() == proto::Change::MESSAGE) {
    if (change.message_prefix() != wal::kDdlMessagePrefix) return absl::OkStatus();
    return ApplyDdl(change, txn);
  }
  if (change.kind() == proto::Change::TRUNCATE) {
    std::string sql = "TRUNCATE ONLY ";
    for (int i = 0; i < change.truncated_schema_ids_size(); ++i) {
      const proto::RelationSchema* schema = Schema(change.truncated_schema_ids(i));
      if (schema == nullptr) return absl::DataLossError("change log names a relation schema it does not hold");
      if (absl::Status s = FollowSchema(*schema); !s.ok()) return s;
      sql += (i ? ", " : "") + QualifiedName(*schema);
    }
    if (change.truncate_options() & 2) sql += " RESTART IDENTITY";
    if (change.truncate_options() & 1) sql += " CASCADE";
    return target_->Execute(sql);
  }

  const proto::RelationSchema* schema = Schema(change.schema_id());
  if (schema == nullptr) return absl::DataLossError("change log names a relation schema it does not hold");
  if (absl::Status s = FollowSchema(*schema); !s.ok()) return s;
  const int ncolumns = schema->columns_size();
  if ((change.kind() != proto::Change::DELETE && change.new_tuple().values_size() != ncolumns) ||
      (change.old_kind() != proto::Change::NONE && change.old_tuple().values_size() != ncolumns)) {
    return absl::DataLossError(
        fmt::format("a change to {} has a different number of columns than its schema", QualifiedName(*schema)));
  }
  for (const auto* tuple : {&change.new_tuple(), &change.old_tuple()}) {
    for (const proto::Value& v : tuple->values()) {
      if (v.kind() == proto::Value::BINARY) {
        return absl::UnimplementedError("change log holds a binary-format value, which this pgpitr cannot replay");
      }
    }
  }
  const std::string table = QualifiedName(*schema);
  auto col = [&](int i) { return QuoteIdent(schema->columns(i).name()); };

  // The WHERE clause that finds the changed row, and its parameters.
  auto identity = [&](std::vector<int>* params, int first_param) -> absl::StatusOr<std::string> {
    std::string where;
    int n = first_param;
    if (change.old_kind() == proto::Change::FULL_ROW) {
      for (int i = 0; i < ncolumns; ++i) {
        const proto::Value& v = change.old_tuple().values(i);
        if (v.kind() == proto::Value::UNCHANGED_TOAST) continue;
        if (!where.empty()) where += " AND ";
        if (v.kind() == proto::Value::NULL_) {
          where += col(i) + " IS NULL";
          continue;
        }
        where += CompareAsText(schema->columns(i).type_oid()) ? fmt::format("{}::text = ${}::text", col(i), n++)
                                                              : fmt::format("{} = ${}", col(i), n++);
        params->push_back(~i);
      }
      // Rows are a multiset: change exactly one of the equal rows.
      return fmt::format("ctid = (SELECT ctid FROM ONLY {} WHERE {} LIMIT 1)", table, where.empty() ? "true" : where);
    }
    const bool from_old = change.old_kind() == proto::Change::KEY;
    for (int i = 0; i < ncolumns; ++i) {
      if (!schema->columns(i).is_key()) continue;
      if (!where.empty()) where += " AND ";
      where += fmt::format("{} = ${}", col(i), n++);
      params->push_back(from_old ? ~i : i);
    }
    if (where.empty()) {
      return absl::DataLossError(fmt::format(
          "a change to {} carries no replica identity, so its row cannot be found (the table needs a primary "
          "key or REPLICA IDENTITY FULL on the source)",
          table));
    }
    return where;
  };

  const char* verb = "";
  absl::StatusOr<const Statement*> statement;
  std::string key = fmt::format("{}:{}:{}:", change.schema_id(), static_cast<int>(change.kind()),
                                static_cast<int>(change.old_kind()));
  switch (change.kind()) {
    case proto::Change::INSERT: {
      verb = "INSERT";
      std::string names, placeholders;
      std::vector<int> params;
      for (int i = 0; i < ncolumns; ++i) {
        names += (i ? ", " : "") + col(i);
        placeholders += fmt::format("{}${}", i ? ", " : "", i + 1);
        params.push_back(i);
      }
      statement = Prepare(key, fmt::format("INSERT INTO {} ({}) VALUES ({})", table, names, placeholders), params);
      break;
    }
    case proto::Change::UPDATE: {
      verb = "UPDATE";
      const std::string new_mask = Mask(change.new_tuple());
      const std::string old_mask = change.old_kind() == proto::Change::FULL_ROW ? Mask(change.old_tuple()) : "";
      // NULLs in a full old row change the SQL (IS NULL), so they are part of the key.
      std::string null_mask;
      if (change.old_kind() == proto::Change::FULL_ROW) {
        for (const proto::Value& v : change.old_tuple().values())
          null_mask += v.kind() == proto::Value::NULL_ ? 'n' : '-';
      }
      key += new_mask + ":" + old_mask + ":" + null_mask;
      std::string set;
      std::vector<int> params;
      for (int i = 0; i < ncolumns; ++i) {
        if (change.new_tuple().values(i).kind() == proto::Value::UNCHANGED_TOAST) continue;
        set += fmt::format("{}{} = ${}", set.empty() ? "" : ", ", col(i), params.size() + 1);
        params.push_back(i);
      }
      if (set.empty()) return absl::OkStatus();
      absl::StatusOr<std::string> where = identity(&params, static_cast<int>(params.size()) + 1);
      if (!where.ok()) return where.status();
      statement = Prepare(key, fmt::format("UPDATE ONLY {} SET {} WHERE {}", table, set, *where), params);
      break;
    }
    case proto::Change::DELETE: {
      verb = "DELETE";
      std::string null_mask;
      for (const proto::Value& v : change.old_tuple().values()) {
        null_mask += v.kind() == proto::Value::NULL_ ? 'n' : v.kind() == proto::Value::UNCHANGED_TOAST ? 'u' : '-';
      }
      key += null_mask;
      std::vector<int> params;
      absl::StatusOr<std::string> where = identity(&params, 1);
      if (!where.ok()) return where.status();
      statement = Prepare(key, fmt::format("DELETE FROM ONLY {} WHERE {}", table, *where), params);
      break;
    }
    default:
      return absl::DataLossError("change log holds a change of an unknown kind");
  }
  if (!statement.ok()) return statement.status();
  absl::StatusOr<int64_t> affected = Run(**statement, change);
  if (!affected.ok()) {
    return absl::FailedPreconditionError(
        fmt::format("replaying an {} on {} of the transaction committed at {} "
                    "failed: {}",
                    verb, table, wal::Lsn(txn.commit_lsn()).ToString(), affected.status().message()));
  }
  if (*affected != 1) {
    return absl::DataLossError(fmt::format(
        "replaying an {} on {} of the transaction committed at {} (xid {}) changed {} rows instead of 1: the "
        "restore target no longer matches the source (was it changed during the restore?)",
        verb, table, wal::Lsn(txn.commit_lsn()).ToString(), txn.xid(), *affected));
  }
  ++rows_;
  return absl::OkStatus();
}

absl::Status Replayer::ApplyDdl(const proto::Change& change, const proto::Transaction& txn) {
  const nlohmann::json ddl = nlohmann::json::parse(change.message_content(), nullptr, /*allow_exceptions=*/false);
  if (!ddl.is_object() || !ddl.contains("sql") || !ddl["sql"].is_string() || !ddl.contains("search_path") ||
      !ddl["search_path"].is_string()) {
    return absl::DataLossError(fmt::format("the schema change recorded in the transaction committed at {} is damaged",
                                           wal::Lsn(txn.commit_lsn()).ToString()));
  }
  const std::string sql = ddl["sql"].get<std::string>();
  // The statement runs as it did on the source: with the session's search_path of that moment.
  if (absl::Status s = target_->Execute("SELECT pg_catalog.set_config('search_path', $1, true)",
                                        {ddl["search_path"].get<std::string>()});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = target_->Execute(sql); !s.ok()) {
    return absl::FailedPreconditionError(
        fmt::format("replaying the schema change `{}` of the transaction committed at {} failed: {}",
                    wal::OneLine(sql).substr(0, 200), wal::Lsn(txn.commit_lsn()).ToString(), s.message()));
  }
  // Statements prepared against the old shape are stale now.
  statements_.clear();
  if (absl::Status s = target_->Execute("DEALLOCATE ALL"); !s.ok()) return s;
  followed_.clear();
  ++ddl_statements_;
  return absl::OkStatus();
}

absl::Status Replayer::Replay(const proto::Transaction& txn) {
  if (absl::Status s = target_->Execute("BEGIN"); !s.ok()) return s;
  absl::Status applied = source_->ForEachChange(txn, [&](const proto::Change& change) { return Apply(change, txn); });
  if (!applied.ok()) {
    (void)target_->Execute("ROLLBACK");
    return applied;
  }
  if (absl::Status s = target_->Execute("COMMIT"); !s.ok()) return s;
  ++transactions_;
  return absl::OkStatus();
}

}  // namespace pgpitr::restore
