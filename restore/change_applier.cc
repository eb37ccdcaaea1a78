#include "restore/change_applier.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>
#include <utility>

#include "absl/strings/str_join.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "pg/stream_messages.h"
#include "proxy/sql.h"
#include "restore/roles.h"
#include "restore/savepoint.h"
#include "wal/event_triggers.h"

namespace pgpitr::restore {

using pg::QuoteIdent;

namespace {

// Types without an equality operator fit for finding a row (json, xml and the geometric types,
// whose '=' compares areas), and their arrays: rows are matched on their text instead.
bool CompareAsText(uint32_t type_oid) {
  static const std::set<uint32_t> kOids = {114,  199, 142,  143, 600,  1017, 601, 1018, 602,
                                           1019, 603, 1020, 604, 1027, 628,  629, 718,  719};
  return kOids.contains(type_oid);
}

std::string Mask(const proto::Tuple& tuple) {
  std::string mask;
  mask.reserve(tuple.values_size());
  for (const proto::Value& v : tuple.values()) mask += v.kind() == proto::Value::UNCHANGED_TOAST ? 'u' : 'v';
  return mask;
}

bool ChangesPublication(std::string_view statement);  // (below, with the other statement readers)

}  // namespace

absl::StatusOr<std::unique_ptr<ChangeApplier>> ChangeApplier::Create(pg::Connection* target, SchemaFollower* follower,
                                                                     std::vector<std::string>* notes) {
  std::unique_ptr<ChangeApplier> applier(new ChangeApplier(target, follower, notes));
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
  return applier;
}

void ChangeApplier::BeginTransaction() {
  txn_keyless_.reset();
  (void)follower_->TakeReshaped();
  txn_recorded_ddl_ = false;
}

absl::StatusOr<const ChangeApplier::Statement*> ChangeApplier::Prepare(const std::string& key, const std::string& sql,
                                                                       std::vector<int> params) {
  auto it = statements_.find(key);
  if (it != statements_.end()) return &it->second;
  Statement statement;
  statement.name = fmt::format("pgpitr_{}", statements_.size());
  statement.params = std::move(params);
  if (absl::Status prepared = target_->Prepare(statement.name, sql); !prepared.ok()) {
    return absl::FailedPreconditionError(
        fmt::format("the restore target cannot run `{}`: {}", sql.substr(0, 300), prepared.message()));
  }
  return &statements_.emplace(key, std::move(statement)).first->second;
}

absl::StatusOr<int64_t> ChangeApplier::Run(const Statement& s, const proto::Change& change) {
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
  return target_->ExecPrepared(s.name, values, lengths);
}

absl::Status ChangeApplier::Apply(const proto::Change& change, const proto::Transaction& txn) {
  if (change.kind() == proto::Change::MESSAGE) {
    if (leave_out_large_objects_ && pg::IsSchemaChangeMessage(change.message_prefix()) &&
        wal::OnlyLargeObjects(change.message_prefix(), change.message_content())) {
      txn_recorded_ddl_ = true;
      return absl::OkStatus();
    }
    if (change.message_prefix() == pg::kDdlEventMessagePrefix) {
      txn_recorded_ddl_ = true;
      return ApplyDdlEvent(change, txn);
    }
    if (change.message_prefix() != pg::kDdlMessagePrefix) return absl::OkStatus();
    txn_recorded_ddl_ = true;
    return ApplyDdl(change, txn);
  }
  if (change.kind() == proto::Change::TRUNCATE) return Truncate(change, txn);

  const proto::RelationSchema* schema = follower_->Schema(change.schema_id());
  if (schema == nullptr) return absl::DataLossError("change log names a relation schema it does not hold");
  if (LeftOut(schema->relid(), txn) || RowsRefused(schema->relid())) return absl::OkStatus();
  absl::StatusOr<bool> unwritable = RowsCannotBeWritten(*schema, change, txn);
  if (!unwritable.ok() || *unwritable) return unwritable.status();
  absl::StatusOr<bool> followed = FollowOrLeaveOut(*schema, txn);
  if (!followed.ok() || !*followed) return followed.status();
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
        // (Types without an equality, and the user's types: a domain over a composite type
        // compares as a record, whose parameter no input takes; the old row's text is the value's.)
        const uint32_t type = schema->columns(i).type_oid();
        where += CompareAsText(type) || type >= kFirstNormalObjectId ? fmt::format("{}::text = ${}::text", col(i), n++)
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
      // (A GENERATED ALWAYS identity column takes the source's value too.)
      statement = Prepare(
          key, fmt::format("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES ({})", table, names, placeholders),
          params);
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
      const std::vector<int> set_params = params;
      absl::StatusOr<std::string> where = identity(&params, static_cast<int>(params.size()) + 1);
      if (!where.ok()) return where.status();
      if (statements_.contains(key)) {
        statement = Prepare(key, "", params);
        break;
      }
      // UPDATE may set a GENERATED ALWAYS identity column only to DEFAULT: such a row is replaced
      // (replay runs as a replica: no trigger or foreign key action fires), keeping the values the
      // change left unchanged.
      absl::StatusOr<pg::Result> always = target_->Query(
          "SELECT count(*) FROM pg_catalog.pg_attribute WHERE attrelid = $1::pg_catalog.regclass AND attnum > 0 "
          "AND NOT attisdropped AND attidentity = 'a'",
          {table});
      if (!always.ok()) return always.status();
      if (always->GetString(0, 0) == "0") {
        statement = Prepare(key, fmt::format("UPDATE ONLY {} SET {} WHERE {}", table, set, *where), params);
        break;
      }
      std::string names, values;
      size_t next = 0;
      for (int i = 0; i < ncolumns; ++i) {
        names += (i ? ", " : "") + col(i);
        const bool given = next < set_params.size() && set_params[next] == i;
        values += (i ? ", " : "") + (given ? fmt::format("${}", next + 1) : "old." + col(i));
        if (given) ++next;
      }
      statement = Prepare(key,
                          fmt::format("WITH old AS (DELETE FROM ONLY {0} WHERE {1} RETURNING *) INSERT INTO {0} ({2}) "
                                      "OVERRIDING SYSTEM VALUE SELECT {3} FROM old",
                                      table, *where, names, values),
                          params);
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
  // Carrying on, each row in a savepoint: one the target refuses (its table differs from the
  // source's) is named, and the relation left out from then on.
  if (carry_on_) {
    absl::StatusOr<absl::Status> written = InSavepoint(*target_, "pgpitr_row", [&]() -> absl::Status {
      absl::StatusOr<int64_t> affected = Run(**statement, change);
      if (!affected.ok()) return affected.status();
      if (*affected != 1) return absl::DataLossError(fmt::format("{} changed {} rows instead of 1", verb, *affected));
      return absl::OkStatus();
    });
    if (!written.ok()) return written.status();
    if (written->ok()) {
      ++rows_;
      return absl::OkStatus();
    }
    absl::StatusOr<bool> left_out = LeaveOutRowsRefused(*schema, txn.commit_lsn(), txn.commit_time(), *written);
    return left_out.status();
  }
  absl::StatusOr<int64_t> affected = Run(**statement, change);
  if (!affected.ok()) {
    return absl::FailedPreconditionError(
        fmt::format("replaying an {} on {} of the transaction committed at {} "
                    "failed: {}",
                    verb, table, pg::Lsn(txn.commit_lsn()).ToString(), affected.status().message()));
  }
  if (*affected != 1) {
    return absl::DataLossError(fmt::format(
        "replaying an {} on {} of the transaction committed at {} (xid {}) changed {} rows instead of 1: the "
        "restore target no longer matches the source (was it changed during the restore?)",
        verb, table, pg::Lsn(txn.commit_lsn()).ToString(), txn.xid(), *affected));
  }
  ++rows_;
  return absl::OkStatus();
}

namespace {

// After a DETACH PARTITION run without CONCURRENTLY: the CHECK constraints of the partition on the
// source after the concurrent form ran (recorded: [partition, name, definition]) that the target's
// lacks, which are the ones the concurrent form added; statements to append ("; DO ...").
absl::StatusOr<std::string> AddDetachedChecks(const nlohmann::json& checks, const std::string& where) {
  std::string sql;
  for (const nlohmann::json& check : checks) {
    if (!check.is_array() || check.size() != 3 || !check[0].is_string() || !check[1].is_string() ||
        !check[2].is_string()) {
      return absl::DataLossError(fmt::format("the schema change recorded in {} is damaged", where));
    }
    sql += fmt::format(
        "; DO $pgpitr$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = "
        "{0}::pg_catalog.regclass AND k.conname = {1}) THEN ALTER TABLE {2} ADD CONSTRAINT {3} {4}; END IF; "
        "END $pgpitr$",
        pg::QuoteLiteral(check[0].get<std::string>()), pg::QuoteLiteral(check[1].get<std::string>()),
        check[0].get<std::string>(), QuoteIdent(check[1].get<std::string>()), check[2].get<std::string>());
  }
  return sql;
}

// The CREATE TABLE of a table as a proxy recorded it made LIKE another ({"table", "persistence",
// "columns": [[name, type, collation or null, not null], ...]}).
absl::StatusOr<std::string> CreateTableLike(const nlohmann::json& made, const std::string& where) {
  const auto damaged = [&] {
    return absl::DataLossError(fmt::format("the schema change recorded in {} is damaged", where));
  };
  if (!made.contains("table") || !made["table"].is_string() || !made.contains("columns") ||
      !made["columns"].is_array()) {
    return damaged();
  }
  std::string columns;
  for (const nlohmann::json& col : made["columns"]) {
    if (!col.is_array() || col.size() != 4 || !col[0].is_string() || !col[1].is_string()) return damaged();
    columns += fmt::format("{}{} {}{}{}", columns.empty() ? "" : ", ", QuoteIdent(col[0].get<std::string>()),
                           col[1].get<std::string>(), col[2].is_string() ? " COLLATE " + col[2].get<std::string>() : "",
                           col[3].is_boolean() && col[3].get<bool>() ? " NOT NULL" : "");
  }
  const bool unlogged = made.contains("persistence") && made["persistence"] == "u";
  return fmt::format("CREATE {}TABLE {} ({})", unlogged ? "UNLOGGED " : "", made["table"].get<std::string>(), columns);
}

}  // namespace

absl::Status ChangeApplier::ApplyDdl(const proto::Change& change, const proto::Transaction& txn) {
  const nlohmann::json ddl = nlohmann::json::parse(change.message_content(), nullptr, /*allow_exceptions=*/false);
  if (!ddl.is_object() || !ddl.contains("sql") || !ddl["sql"].is_string() || !ddl.contains("search_path") ||
      !ddl["search_path"].is_string()) {
    return absl::DataLossError(fmt::format("the schema change recorded in the transaction committed at {} is damaged",
                                           pg::Lsn(txn.commit_lsn()).ToString()));
  }
  // A DROP of what the target lacks (a temporary table named with a lasting one, an object made
  // past any record) leaves what it left on the source: the object gone.
  const std::string recorded = ddl["sql"].get<std::string>();
  const std::string sql = proxy::DropIfExists(recorded).value_or(recorded);
  if (ChangesPublication(sql)) return absl::OkStatus();
  const std::string where = fmt::format("the transaction committed at {}", pg::Lsn(txn.commit_lsn()).ToString());
  // The statement runs as it did on the source: in the session state of that moment (a record of an
  // older proxy holds only its search_path and the roles there were).
  std::optional<nlohmann::json> own;
  if (ddl.contains("role") && ddl["role"].is_string() && ddl.contains("settings") && ddl["settings"].is_object()) {
    absl::StatusOr<std::optional<nlohmann::json>> entered = EnterSourceSession(ddl, txn, sql, {});
    if (!entered.ok() || !entered->has_value()) return entered.status();
    own = **std::move(entered);
  } else {
    // A GRANT or an owner may name a role the target lacks.
    if (ddl.contains("roles") && ddl["roles"].is_array()) {
      absl::StatusOr<bool> roles_there = CreateRolesTheSourceHad(ddl["roles"], txn, sql, {});
      if (!roles_there.ok() || !*roles_there) return roles_there.status();
    }
    if (absl::Status s = target_->Execute("SELECT pg_catalog.set_config('search_path', $1, true)",
                                          {ddl["search_path"].get<std::string>()});
        !s.ok()) {
      return s;
    }
  }
  // A table made from a query (CREATE TABLE AS, SELECT INTO): made again by the same statement, so
  // its columns, types and collations are the source's, and emptied; its rows follow in the stream.
  // (Unless it was there already: CREATE TABLE IF NOT EXISTS ... AS did nothing.)
  const std::optional<std::string> from_query = proxy::TableCreatedFromQuery(sql);
  bool existed = false;
  if (from_query) {
    absl::StatusOr<pg::Result> there = target_->Query("SELECT pg_catalog.to_regclass($1) IS NOT NULL", {*from_query});
    if (!there.ok()) return there.status();
    existed = there->GetString(0, 0) == "t";
  }
  // CREATE TABLE ... AS EXECUTE: the session's PREPARE first (Forget deallocates it after).
  absl::Status ran = absl::OkStatus();
  if (ddl.contains("prepare") && ddl["prepare"].is_string()) {
    ran = target_->Execute("DEALLOCATE ALL");
    if (ran.ok()) ran = RunRecorded(ddl["prepare"].get<std::string>());
  }
  // A DETACH PARTITION ... CONCURRENTLY, recorded once it succeeded without CONCURRENTLY: then the
  // CHECK constraints the concurrent form added to the partition.
  std::string run = sql;
  if (ddl.contains("detached_checks") && ddl["detached_checks"].is_array()) {
    absl::StatusOr<std::string> checks = AddDetachedChecks(ddl["detached_checks"], where);
    if (!checks.ok()) return checks.status();
    run += *checks;
  }
  if (ran.ok() && ddl.contains("made_like") && ddl["made_like"].is_object()) {
    // A table made LIKE another, which may have been temporary: when the statement cannot run
    // here, the table is made as the source made it (its columns).
    absl::Status tried = RunInSavepoint(run);
    if (!tried.ok()) {
      absl::StatusOr<std::string> create = CreateTableLike(ddl["made_like"], where);
      if (!create.ok()) return create.status();
      ran = RunRecorded(*create);
    }
  } else if (ran.ok()) {
    if (absl::Status s = RunGivingMissingValues(ddl, run, where, &ran); !s.ok()) return s;
  }
  // A default that gave each row already in a table a value of its own (random(), a serial or
  // identity column): those values are not in the stream. The proxy read the table's rows after the
  // statement where it could (up to 64 MiB, as the event trigger does): the table gets those; the
  // others are named.
  if (ran.ok()) {
    absl::StatusOr<nlohmann::json> unread = PutRecordedRows(ddl, &ran);
    if (!unread.ok()) return unread.status();
    if (ran.ok() && !unread->empty()) {
      if (own) {
        if (absl::Status s = LeaveSourceSession(*own); !s.ok()) return s;
      }
      if (absl::Status s = NameRowsGivenVolatileValues(txn, sql, *unread); !s.ok()) return s;
      return Forget();
    }
  }
  if (ran.ok() && from_query && !existed) ran = RunRecorded(fmt::format("TRUNCATE ONLY {}", *from_query));
  // Partitions get the bounds the source computed, where the target computed others (an expression).
  if (ran.ok()) {
    if (absl::Status s = ApplyPartitionBounds(ddl, where, &ran); !s.ok()) return s;
  }
  // Carrying on, the savepoint rolled a failure back; the target's own settings come back either way.
  if (own && (ran.ok() || carry_on_)) {
    if (absl::Status s = LeaveSourceSession(*own); !s.ok()) return s;
  }
  if (!ran.ok()) {
    if (absl::Status u = Unreplayable(txn, sql, std::string(ran.message()), {}); !u.ok()) return u;
  }
  // Statements prepared against the old shape are stale now.
  return Forget();
}

absl::StatusOr<bool> ChangeApplier::CreateRolesTheSourceHad(const nlohmann::json& roles, const proto::Transaction& txn,
                                                            const std::string& sql,
                                                            const std::vector<std::string>& objects) {
  std::vector<std::string> role_names;
  for (const nlohmann::json& name : roles) {
    if (name.is_string()) role_names.push_back(name.get<std::string>());
  }
  if (role_names.empty()) return true;
  absl::StatusOr<std::vector<std::string>> missing = MissingRoles(*target_, role_names);
  if (!missing.ok()) return missing.status();
  for (const std::string& name : *missing) {
    if (absl::Status s = RunRecorded(fmt::format("CREATE ROLE {} NOLOGIN", QuoteIdent(name))); !s.ok()) {
      absl::Status unreplayable =
          Unreplayable(txn, sql,
                       fmt::format("it needs role {}, which the restore target lacks and could not be created "
                                   "({}): create the role and restore again",
                                   name, s.message()),
                       objects);
      if (!unreplayable.ok()) return unreplayable;
      return false;
    }
    notes_->push_back(fmt::format("created role {} (NOLOGIN), which the source had when {} ran", name,
                                  pg::OneLine(sql).substr(0, 80)));
    created_roles_.push_back(name);
  }
  return true;
}

absl::Status ChangeApplier::MirrorMembershipsAndDatabasePrivileges(const nlohmann::json& e) {
  // Memberships: only of the roles this restore created (a role the target had is left as it is).
  if (e.contains("memberships") && e["memberships"].is_array() && !created_roles_.empty()) {
    const std::string recorded = e["memberships"].dump();
    if (recorded != applied_memberships_) {
      std::vector<Membership> memberships;
      for (const nlohmann::json& m : e["memberships"]) {
        if (m.is_array() && m.size() == 3 && m[0].is_string() && m[1].is_string() && m[2].is_boolean()) {
          memberships.push_back(
              {.role = m[0].get<std::string>(), .member = m[1].get<std::string>(), .admin = m[2].get<bool>()});
        }
      }
      absl::StatusOr<std::vector<std::string>> grants = MissingMembershipGrants(*target_, memberships, created_roles_);
      if (!grants.ok()) return grants.status();
      for (const std::string& grant : *grants) RunGlobal(grant);
      applied_memberships_ = recorded;
    }
  }
  // The database's privileges, as the source's were (its owner's aside).
  if (e.contains("database_privileges") && e["database_privileges"].is_array()) {
    const std::string recorded = e["database_privileges"].dump();
    if (recorded != applied_database_privileges_) {
      absl::StatusOr<pg::Result> changes = target_->Query(
          "WITH want AS (SELECT x->>0 AS grantee, x->>1 AS privilege, (x->>2)::boolean AS grantable "
          "                FROM pg_catalog.jsonb_array_elements($1::jsonb) x "
          "               WHERE x->>0 = 'PUBLIC' OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r "
          "                                                  WHERE r.rolname = x->>0)), "
          "     have AS (SELECT COALESCE(g.rolname, 'PUBLIC') AS grantee, x.privilege_type AS privilege, "
          "                     x.is_grantable AS grantable "
          "                FROM pg_catalog.pg_database d, "
          "                     pg_catalog.aclexplode(COALESCE(d.datacl, pg_catalog.acldefault('d', d.datdba))) x "
          "                LEFT JOIN pg_catalog.pg_roles g ON g.oid = x.grantee "
          "               WHERE d.datname = pg_catalog.current_database() AND x.grantee <> d.datdba) "
          "SELECT pg_catalog.format('REVOKE %s ON DATABASE %I FROM %s', h.privilege, pg_catalog.current_database(), "
          "         CASE WHEN h.grantee = 'PUBLIC' THEN 'PUBLIC' ELSE pg_catalog.quote_ident(h.grantee) END) "
          "  FROM have h WHERE NOT EXISTS (SELECT 1 FROM want w WHERE (w.grantee, w.privilege, w.grantable) = "
          "                                (h.grantee, h.privilege, h.grantable)) "
          "UNION ALL "
          "SELECT pg_catalog.format('GRANT %s ON DATABASE %I TO %s%s', w.privilege, pg_catalog.current_database(), "
          "         CASE WHEN w.grantee = 'PUBLIC' THEN 'PUBLIC' ELSE pg_catalog.quote_ident(w.grantee) END, "
          "         CASE WHEN w.grantable THEN ' WITH GRANT OPTION' ELSE '' END) "
          "  FROM want w WHERE NOT EXISTS (SELECT 1 FROM have h WHERE (w.grantee, w.privilege, w.grantable) = "
          "                                (h.grantee, h.privilege, h.grantable))",
          {recorded});
      if (!changes.ok()) return changes.status();
      // Revokes come first in the result, then grants.
      for (int i = 0; i < changes->rows(); ++i) RunGlobal(changes->GetString(i, 0));
      applied_database_privileges_ = recorded;
    }
  }
  return absl::OkStatus();
}

absl::Status ChangeApplier::Truncate(const proto::Change& change, const proto::Transaction& txn) {
  std::vector<const proto::RelationSchema*> truncated;
  std::string names;
  for (int i = 0; i < change.truncated_schema_ids_size(); ++i) {
    const proto::RelationSchema* schema = follower_->Schema(change.truncated_schema_ids(i));
    if (schema == nullptr) return absl::DataLossError("change log names a relation schema it does not hold");
    if (LeftOut(schema->relid(), txn) || RowsRefused(schema->relid())) continue;
    absl::StatusOr<bool> followed = FollowOrLeaveOut(*schema, txn);
    if (!followed.ok()) return followed.status();
    if (!*followed) continue;
    truncated.push_back(schema);
    names += (names.empty() ? "" : "\n") + QualifiedName(*schema);
  }
  if (truncated.empty()) return absl::OkStatus();
  // The stream names the leaves: each ONLY (an inheritance child it does not name stays). A
  // partitioned table all of whose leaves it names was truncated whole on the source, and is named
  // too, since a foreign key of a partitioned table refuses a TRUNCATE of the table it references
  // that leaves the partitioned table out.
  absl::StatusOr<pg::Result> list = target_->Query(
      "SELECT string_agg(x, ', ') FROM ("
      "  SELECT 'ONLY ' || l::regclass::text AS x FROM pg_catalog.unnest(pg_catalog.string_to_array($1, E'\\n')) l"
      "  UNION ALL"
      "  SELECT DISTINCT a.relid::regclass::text"
      "    FROM pg_catalog.unnest(pg_catalog.string_to_array($1, E'\\n')::regclass[]) l,"
      "         pg_catalog.pg_partition_ancestors(l) a"
      "   WHERE a.relid <> l AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(a.relid) t"
      "          WHERE t.isleaf AND t.relid <> ALL (pg_catalog.string_to_array($1, E'\\n')::regclass[]))) s",
      {names});
  if (!list.ok()) return list.status();
  std::string sql = "TRUNCATE " + list->GetString(0, 0);
  if (change.truncate_options() & 2) sql += " RESTART IDENTITY";
  if (change.truncate_options() & 1) sql += " CASCADE";
  if (!carry_on_) return target_->Execute(sql);
  // Carrying on: a refusal (the target's tables differ from the source's: another table references
  // them) names the tables, whose later changes are left out, and the replay goes on.
  const absl::Status ran = RunInSavepoint(sql);
  if (ran.ok() || pg::SqlStateOf(ran).empty()) return ran;
  for (const proto::RelationSchema* schema : truncated) {
    absl::StatusOr<bool> left = LeaveOutRowsRefused(*schema, txn.commit_lsn(), txn.commit_time(), ran);
    if (!left.ok()) return left.status();
  }
  return absl::OkStatus();
}

absl::Status ChangeApplier::RunInSavepoint(const std::string& sql) {
  absl::StatusOr<absl::Status> ran = InSavepoint(*target_, "pgpitr_statement", [&] { return target_->Execute(sql); });
  return ran.ok() ? *ran : ran.status();
}

void ChangeApplier::RunGlobal(const std::string& sql) {
  // A grant the restore's role may not make (the target database is another role's) is noted,
  // and the replay goes on; a statement that needed it then fails, named. (A lost connection
  // shows at the next statement.)
  if (absl::Status s = RunInSavepoint(sql); !s.ok()) {
    notes_->push_back(fmt::format("could not run `{}` on the restore target: {}", sql, s.message()));
  }
}

absl::Status ChangeApplier::RunRecorded(const std::string& sql) {
  return carry_on_ ? RunInSavepoint(sql) : target_->Execute(sql);
}

bool ChangeApplier::DroppedLater(const nlohmann::json& commands, const proto::Transaction& txn) const {
  if (commands.empty()) return false;
  for (const nlohmann::json& c : commands) {
    if (!c.contains("relid") || !c["relid"].is_number_unsigned() || !LeftOut(c["relid"].get<uint32_t>(), txn)) {
      return false;
    }
  }
  return true;
}

absl::Status ChangeApplier::NotExact(Difference difference, std::string refusal) {
  if (!carry_on_) return absl::FailedPreconditionError(std::move(refusal));
  differences_.push_back(std::move(difference));
  return absl::OkStatus();
}

absl::Status ChangeApplier::Unreplayable(const proto::Transaction& txn, std::string statement, std::string reason,
                                         std::vector<std::string> objects) {
  statement = pg::OneLine(statement).substr(0, 200);
  std::string refusal = fmt::format(
      "replaying the schema change `{}` of the transaction committed at {} failed: {} (restore to a "
      "point before it, or pass --best-effort to carry on and be told what may differ)",
      statement, pg::Lsn(txn.commit_lsn()).ToString(), reason);
  return NotExact(Difference{.commit_lsn = txn.commit_lsn(),
                             .commit_time = txn.commit_time(),
                             .statement = std::move(statement),
                             .reason = std::move(reason),
                             .objects = std::move(objects)},
                  std::move(refusal));
}

absl::Status ChangeApplier::NameKeylessTables(const std::vector<std::string>& tables, uint64_t lsn, int64_t time,
                                              const std::string& where, const std::string& statement) {
  std::vector<std::string> named;
  for (const std::string& table : tables) {
    if (keyless_named_.insert(table).second) named.push_back(table);
  }
  // Strict, the first refuses, naming them all.
  const std::string refusal = fmt::format(
      "{} {} no replica identity after {}: capture leaves out the UPDATE and DELETE of such a table, so it may "
      "differ from the source (restore to a point before, pass --best-effort to restore and be told what may "
      "differ, and give it a primary key or run capture with --set-replica-identity-full)",
      absl::StrJoin(named, ", "), named.size() == 1 ? "has" : "have", where);
  for (const std::string& table : named) {
    if (absl::Status s = NotExact(
            Difference{.commit_lsn = lsn,
                       .commit_time = time,
                       .statement = pg::OneLine(statement).substr(0, 200),
                       .reason = "the table has no replica identity: capture leaves out its UPDATE and DELETE (give "
                                 "it a primary key, or run capture with --set-replica-identity-full)",
                       .objects = {"table " + table}},
            refusal);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ChangeApplier::NameRelations(std::vector<Difference> relations) {
  // A relation named already (its rows refused, its shape followed from the stream) stays named once.
  std::erase_if(relations, [&](const Difference& d) {
    return std::any_of(differences_.begin(), differences_.end(), [&](const Difference& named) {
      return std::find(named.objects.begin(), named.objects.end(), d.objects.front()) != named.objects.end();
    });
  });
  if (relations.empty()) return absl::OkStatus();
  std::vector<std::string> names;
  for (const Difference& d : relations) names.push_back(d.objects.front());
  constexpr size_t kListed = 8;
  const std::string listed =
      names.size() <= kListed
          ? absl::StrJoin(names, ", ")
          : fmt::format("{} and {} more", absl::StrJoin(names.begin(), names.begin() + kListed, ", "),
                        names.size() - kListed);
  const std::string refusal = fmt::format(
      "{} may differ from the source at the target: {}; schema changes made without event triggers are not in the "
      "logical stream (restore to another point, pass --best-effort to restore and be told what may differ, or let "
      "capture create its event triggers with a role that may: a superuser)",
      listed, relations.front().reason);
  for (Difference& d : relations) {
    if (absl::Status s = NotExact(std::move(d), refusal); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ChangeApplier::NameTable(const proto::RelationSchema& schema, uint64_t commit_lsn, int64_t commit_time,
                                      std::string reason, std::string refusal) {
  return NotExact(Difference{.commit_lsn = commit_lsn,
                             .commit_time = commit_time,
                             .statement = "",
                             .reason = std::move(reason),
                             .objects = {"table " + QualifiedName(schema)}},
                  std::move(refusal));
}

absl::StatusOr<bool> ChangeApplier::FollowOrLeaveOut(const proto::RelationSchema& schema,
                                                     const proto::Transaction& txn) {
  if (!carry_on_) {
    if (absl::Status s = follower_->Follow(schema); !s.ok()) return s;
    return true;
  }
  if (unfollowable_.contains(schema.schema_id())) return false;
  if (follower_->Followed(schema.relid()) == schema.schema_id()) return true;
  // In a savepoint, so that a refusal leaves the target's transaction usable.
  absl::StatusOr<absl::Status> ran = InSavepoint(*target_, "pgpitr_follow", [&] { return follower_->Follow(schema); });
  if (!ran.ok()) return ran.status();
  const absl::Status& followed = *ran;
  if (followed.ok()) return true;
  unfollowable_.insert(schema.schema_id());
  if (absl::Status s = NameTable(schema, txn.commit_lsn(), txn.commit_time(),
                                 fmt::format("the stream shows this table's columns, and the restore target could not "
                                             "make it so ({}): its changes are left out",
                                             pg::OneLine(std::string(followed.message()))),
                                 std::string(followed.message()));
      !s.ok()) {
    return s;
  }
  return false;
}

absl::StatusOr<bool> ChangeApplier::LeaveOutRowsRefused(const proto::RelationSchema& schema, uint64_t commit_lsn,
                                                        int64_t commit_time, const absl::Status& refusal) {
  if (!carry_on_) return false;
  rows_refused_.insert(schema.relid());
  if (absl::Status s = NameTable(schema, commit_lsn, commit_time,
                                 fmt::format("the restore target refused its rows ({}): they are left out from here on",
                                             pg::OneLine(std::string(refusal.message()))),
                                 std::string(refusal.message()));
      !s.ok()) {
    return s;
  }
  return true;
}

absl::StatusOr<bool> ChangeApplier::RowsCannotBeWritten(const proto::RelationSchema& schema,
                                                        const proto::Change& change, const proto::Transaction& txn) {
  if (schema.schema_id() != unwritable_schema_ || unwritable_schema_ == 0) {
    // Types whose input function raises "cannot accept a value of type ...".
    static constexpr std::array<std::pair<uint32_t, const char*>, 6> kNoInput = {
        {{194, "pg_node_tree"},
         {3361, "pg_ndistinct"},
         {3402, "pg_dependencies"},
         {5017, "pg_mcv_list"},
         {4600, "pg_brin_bloom_summary"},
         {4601, "pg_brin_minmax_multi_summary"}}};
    unwritable_schema_ = schema.schema_id();
    unwritable_columns_.clear();
    for (int i = 0; i < schema.columns_size(); ++i) {
      for (const auto& [oid, name] : kNoInput) {
        if (schema.columns(i).type_oid() == oid) unwritable_columns_.emplace_back(i, name);
      }
    }
  }
  if (unwritable_columns_.empty()) return false;
  if (unwritable_named_.contains(schema.relid())) return true;
  const std::pair<int, const char*>* found = nullptr;
  for (const proto::Tuple* tuple : {&change.new_tuple(), &change.old_tuple()}) {
    for (const auto& column : unwritable_columns_) {
      if (column.first < tuple->values_size() && (tuple->values(column.first).kind() == proto::Value::TEXT ||
                                                  tuple->values(column.first).kind() == proto::Value::BINARY)) {
        found = &column;
      }
    }
  }
  if (found == nullptr) return false;
  unwritable_named_.insert(schema.relid());
  if (dropped_later_ && dropped_later_(schema, txn)) {
    left_for_a_later_drop_.push_back(
        {.table = QualifiedName(schema),
         .reason = "its rows (of a type that takes no input value) were left out for a DROP recorded later, but the "
                   "restore still has the table"});
    return true;
  }
  const std::string reason =
      fmt::format("its column {} is of type {}, which takes no input value: its rows cannot be written from here on",
                  QuoteIdent(schema.columns(found->first).name()), found->second);
  if (absl::Status s = NameTable(schema, txn.commit_lsn(), txn.commit_time(), reason,
                                 fmt::format("the rows of {} in the transaction committed at {} cannot be replayed: {} "
                                             "(restore to a point before it, or pass --best-effort to restore the rest "
                                             "and be told what may differ)",
                                             QualifiedName(schema), pg::Lsn(txn.commit_lsn()).ToString(), reason));
      !s.ok()) {
    return s;
  }
  return true;
}

absl::Status ChangeApplier::NameLargeObjects(uint64_t lsn, int64_t time, const std::string& where) {
  return NotExact(
      Difference{.commit_lsn = lsn,
                 .commit_time = time,
                 .statement = "",
                 .reason = "large objects are not in the logical stream (their contents, lo_create and lo_unlink): "
                           "those restored are the base's",
                 .objects = {"large objects"}},
      fmt::format("{} or the source at the restore's target holds large objects, and large objects are not in the "
                  "logical stream (their contents, lo_create and lo_unlink): those restored would be the base's and "
                  "may differ from the source (pass --best-effort to restore and be told what may differ)",
                  where));
}

absl::Status ChangeApplier::EndTransaction(const proto::Transaction& txn) {
  std::vector<std::pair<proto::RelationSchema, std::string>> unrecorded = follower_->TakeReshaped();
  if (txn_recorded_ddl_) unrecorded.clear();
  txn_recorded_ddl_ = false;
  // A table whose shape changed with no schema change recorded (made outside the proxy, without
  // pgpitr's event triggers): replay followed the stream's columns; what the stream does not carry
  // (defaults, constraints, indexes, collations) may differ. Unless a DROP recorded later drops it
  // before the target: then what it held ends with it.
  for (const auto& [schema, note] : unrecorded) {
    const std::string table = QualifiedName(schema);
    if (unrecorded_named_.contains(table)) continue;
    if (dropped_later_ && dropped_later_(schema, txn)) {
      left_for_a_later_drop_.push_back(
          {.table = table,
           .reason = fmt::format("its shape changed with no schema change recorded (made outside the proxy, without "
                                 "pgpitr's event triggers: {}), and a DROP recorded later was to drop it, but the "
                                 "restore still has the table",
                                 note)});
      continue;
    }
    unrecorded_named_.insert(table);
    if (absl::Status s = NotExact(
            Difference{.commit_lsn = txn.commit_lsn(),
                       .commit_time = txn.commit_time(),
                       .statement = "",
                       .reason = fmt::format("its shape changed with no schema change recorded (made outside the "
                                             "proxy, without pgpitr's event triggers): {}",
                                             note),
                       .objects = {"table " + table}},
            fmt::format("table {} changed shape in the transaction committed at {} with no schema change recorded "
                        "(made outside the proxy, without pgpitr's event triggers): replay can follow its columns "
                        "from the stream, but not its defaults, constraints or indexes (restore to a point before "
                        "it, or pass --best-effort to restore and be told what may differ)",
                        table, pg::Lsn(txn.commit_lsn()).ToString()));
        !s.ok()) {
      return s;
    }
  }
  if (!txn_keyless_) return absl::OkStatus();
  auto [tables, statement] = *std::move(txn_keyless_);
  txn_keyless_.reset();
  return NameKeylessTables(tables, txn.commit_lsn(), txn.commit_time(),
                           fmt::format("the transaction committed at {}", pg::Lsn(txn.commit_lsn()).ToString()),
                           statement);
}

absl::Status ChangeApplier::Forget() {
  statements_.clear();
  if (absl::Status s = target_->Execute("DEALLOCATE ALL"); !s.ok()) return s;
  follower_->Forget();
  ++ddl_statements_;
  return absl::OkStatus();
}

namespace {

// The word at *at of a statement or command tag, lower case, after whitespace and comments;
// empty at anything else. *at moves past it.
std::string NextWord(std::string_view text, size_t* at) {
  while (*at < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[*at])) != 0) {
      ++*at;
    } else if (text.substr(*at, 2) == "--") {
      *at = std::min(text.size(), text.find('\n', *at));
    } else if (text.substr(*at, 2) == "/*") {
      const size_t close = text.find("*/", *at);
      *at = close == std::string_view::npos ? text.size() : close + 2;
    } else {
      break;
    }
  }
  std::string word;
  while (*at < text.size() && std::isalpha(static_cast<unsigned char>(text[*at])) != 0) {
    word += static_cast<char>(std::tolower(static_cast<unsigned char>(text[(*at)++])));
  }
  return word;
}

// The first n words of a statement (or a command tag), lower case, without the modifiers a command
// tag leaves out (CREATE [OR REPLACE] [TEMP|UNLOGGED] [UNIQUE] [CONSTRAINT] ...).
std::vector<std::string> LeadingWords(std::string_view text, size_t n) {
  static const std::set<std::string> kModifiers = {"or",         "replace",   "temp",    "temporary",
                                                   "unlogged",   "unique",    "global",  "local",
                                                   "constraint", "recursive", "trusted", "procedural"};
  std::vector<std::string> words;
  size_t at = 0;
  while (words.size() < n) {
    const std::string word = NextWord(text, &at);
    if (word.empty()) break;
    if (words.empty() || !kModifiers.contains(word)) words.push_back(word);
  }
  return words;
}

// True when a statement is one that reports this command tag to ddl_command_end.
bool StatementMatchesTag(std::string_view statement, std::string_view tag) {
  const std::vector<std::string> tag_words = LeadingWords(tag, 2);
  const std::vector<std::string> words = LeadingWords(statement, 2);
  if (tag_words.empty() || words.empty() || tag_words[0] != words[0]) return false;
  if (tag_words[0] == "select") return true;  // SELECT ... INTO
  return tag_words.size() < 2 || (words.size() >= 2 && words[1] == tag_words[1]);
}

// CREATE, ALTER or DROP PUBLICATION: bases leave publications out (pg_dump --no-publications), so
// replay does too; a restored database is not a publisher.
bool ChangesPublication(std::string_view statement) {
  const std::vector<std::string> words = LeadingWords(statement, 2);
  return words.size() == 2 && (words[0] == "create" || words[0] == "alter" || words[0] == "drop") &&
         words[1] == "publication";
}

std::string JsonString(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

// True only for a JSON true: null, absent or any other value is false.
bool JsonTrue(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_boolean() && j[key].get<bool>();
}

// A statement in lower case, each run of white space one blank.
std::string LowerOneBlank(std::string_view statement) {
  std::string text;
  for (const char ch : statement) {
    if (std::isspace(static_cast<unsigned char>(ch)) != 0) {
      if (!text.empty() && text.back() != ' ') text += ' ';
    } else {
      text += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
  }
  return text;
}

// For a COMMENT made where its statement is not recorded (inside a function or DO block): the
// statement that gives the object the comment the source recorded it had after it; empty when it
// is not that, or the object is of a kind this cannot name.
std::string CommentEffect(const nlohmann::json& commands) {
  std::string sql;
  for (const nlohmann::json& c : commands) {
    if (JsonString(c, "tag") != "COMMENT" || !c.contains("comment")) return "";
    std::string type = JsonString(c, "type");
    const std::string identity = JsonString(c, "identity");
    if (identity.empty() || type.empty() || type == "domain constraint") return "";
    if (type.ends_with(" column")) type = "column";
    if (type == "table constraint") type = "constraint";
    for (char& ch : type) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    // [description], or null when the object has none (COMMENT ... IS NULL).
    const nlohmann::json& comment = c["comment"];
    const std::string text = comment.is_array() && !comment.empty() && comment[0].is_string()
                                 ? pg::QuoteLiteral(comment[0].get<std::string>())
                                 : "NULL";
    sql += fmt::format("{}COMMENT ON {} {} IS {}", sql.empty() ? "" : "; ", type, identity, text);
  }
  return sql;
}

// True for CREATE TABLE t (LIKE x) with nothing else in its parentheses (no other column, no
// INCLUDING), where x was one of the session's temporary relations: what it made is the columns.
bool LikeOfTemporaryOnly(std::string_view statement, const std::set<std::string>& temporary) {
  const std::string text = LowerOneBlank(statement);
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  std::string_view inside = std::string_view(text).substr(open + 1, close - open - 1);
  while (!inside.empty() && inside.front() == ' ') inside.remove_prefix(1);
  while (!inside.empty() && inside.back() == ' ') inside.remove_suffix(1);
  if (!inside.starts_with("like ") || inside.find_first_of(",\"") != std::string_view::npos) return false;
  std::string name(inside.substr(5));
  if (name.find(' ') != std::string::npos) return false;  // INCLUDING, EXCLUDING
  std::string_view after = std::string_view(text).substr(close + 1);
  while (!after.empty() && (after.front() == ' ' || after.front() == ';')) after.remove_prefix(1);
  if (!after.empty()) return false;
  if (name.starts_with("pg_temp.")) return true;
  return name.find('.') == std::string::npos && temporary.contains(name);
}

// The large objects a GRANT or REVOKE ... ON LARGE OBJECT n[, m ...] names.
std::vector<std::string> LargeObjectsGranted(std::string_view statement) {
  const std::string text = LowerOneBlank(statement);
  const size_t on = text.find(" on large object ");
  if (on == std::string::npos) return {};
  std::vector<std::string> numbers(1);
  for (size_t at = on + std::string_view(" on large object ").size(); at < text.size(); ++at) {
    if (std::isdigit(static_cast<unsigned char>(text[at])) != 0) {
      numbers.back() += text[at];
    } else if (text[at] == ',') {
      numbers.emplace_back();
    } else if (text[at] != ' ') {
      break;
    }
  }
  std::erase(numbers, std::string());
  return numbers;
}

// True when a statement dropped temporary objects and lasting ones by name.
bool MixesTemporary(const nlohmann::json& dropped) {
  bool temporary = false, lasting = false;
  for (const nlohmann::json& d : dropped) {
    if (!d.is_object() || !JsonTrue(d, "original")) continue;
    (JsonTrue(d, "temp") ? temporary : lasting) = true;
  }
  return temporary && lasting;
}

}  // namespace

namespace {

// Sets, for this transaction, each setting of a JSON object {name: value} (the role among them:
// each is user-settable, so their order does not matter).
constexpr const char* kSetAll =
    "SELECT pg_catalog.set_config(s.key, s.value, true) FROM pg_catalog.jsonb_each_text($1::jsonb) s";

}  // namespace

absl::StatusOr<std::optional<nlohmann::json>> ChangeApplier::EnterSourceSession(
    const nlohmann::json& e, const proto::Transaction& txn, const std::string& sql,
    const std::vector<std::string>& objects) {
  // The session state it ran in: role (so the objects have their owners), search_path, and the
  // settings that change how it parses or what it makes; the target's own are put back after.
  // Roles are the cluster's, not the database's: those the source had then and the target lacks
  // are created (NOLOGIN, no other attribute), so grants and owners land as they did.
  const std::string role = e["role"].get<std::string>();
  nlohmann::json roles = e.contains("roles") && e["roles"].is_array() ? e["roles"] : nlohmann::json::array();
  roles.push_back(role);
  absl::StatusOr<bool> roles_there = CreateRolesTheSourceHad(roles, txn, sql, objects);
  if (!roles_there.ok()) return roles_there.status();
  if (!*roles_there) return std::optional<nlohmann::json>();
  // The role it ran as, if this restore made it, may do what it could on the source.
  if (e.contains("role_attributes") && e["role_attributes"].is_object() &&
      std::find(created_roles_.begin(), created_roles_.end(), role) != created_roles_.end()) {
    std::string attributes;
    for (const auto& [name, keyword] : {std::pair<const char*, const char*>{"superuser", "SUPERUSER"},
                                        {"createdb", "CREATEDB"},
                                        {"createrole", "CREATEROLE"},
                                        {"bypassrls", "BYPASSRLS"},
                                        {"inherit", "INHERIT"}}) {
      const nlohmann::json& value = e["role_attributes"].value(name, nlohmann::json());
      if (value.is_boolean()) attributes += fmt::format(" {}{}", value.get<bool>() ? "" : "NO", keyword);
    }
    if (!attributes.empty() && attributes != applied_role_attributes_[role]) {
      if (absl::Status s = RunRecorded(fmt::format("ALTER ROLE {}{}", QuoteIdent(role), attributes)); !s.ok()) {
        absl::Status u = Unreplayable(
            txn, sql, fmt::format("giving role {} what it could do on the source failed: {}", role, s.message()),
            objects);
        if (!u.ok()) return u;
        return std::optional<nlohmann::json>();
      }
      applied_role_attributes_[role] = attributes;
    }
  }
  if (absl::Status s = MirrorMembershipsAndDatabasePrivileges(e); !s.ok()) return s;
  // One statement sets them all, the role among them (each is user-settable, so their order does
  // not matter), and one puts the target's own back.
  nlohmann::json settings = nlohmann::json::object();
  for (const auto& [name, value] : e["settings"].items()) {
    if (value.is_string()) settings[name] = value;
  }
  settings["search_path"] = e["search_path"];
  // As pg_dump's scripts do: a body may name what existed only in the source's session (a
  // temporary table); it was checked there.
  settings["check_function_bodies"] = "off";
  nlohmann::json unknown = nlohmann::json::array();
  for (const auto& [name, value] : settings.items()) {
    if (!own_settings_.contains(name)) unknown.push_back(name);
  }
  if (!unknown.empty()) {
    absl::StatusOr<pg::Result> own =
        target_->Query("SELECT n, pg_catalog.current_setting(n) FROM pg_catalog.jsonb_array_elements_text($1::jsonb) n",
                       {unknown.dump()});
    if (!own.ok()) return own.status();
    for (int i = 0; i < own->rows(); ++i) own_settings_[own->GetString(i, 0)] = own->GetString(i, 1);
  }
  nlohmann::json own = {{"role", "none"}};
  for (const auto& [name, value] : settings.items()) own[name] = own_settings_[name];
  settings["role"] = role;
  if (absl::Status s = target_->Execute(kSetAll, {settings.dump()}); !s.ok()) return s;
  return std::optional<nlohmann::json>(std::move(own));
}

absl::Status ChangeApplier::LeaveSourceSession(const nlohmann::json& own) {
  return target_->Execute(kSetAll, {own.dump()});
}

absl::Status ChangeApplier::NameRowsGivenVolatileValues(const proto::Transaction& txn, const std::string& sql,
                                                        const nlohmann::json& rewritten) {
  std::vector<std::string> tables;
  for (const nlohmann::json& t : rewritten) {
    if (t.is_string()) tables.push_back("table " + t.get<std::string>());
  }
  return Unreplayable(
      txn, sql,
      fmt::format("it gave the rows already in {} values of a volatile default (random(), clock_timestamp(), a serial "
                  "or identity column), which are not in the stream: at restore they get values of their own",
                  absl::StrJoin(tables, ", ")),
      tables);
}

absl::StatusOr<nlohmann::json> ChangeApplier::PutRecordedRows(const nlohmann::json& e, absl::Status* ran) {
  nlohmann::json unread = nlohmann::json::array();
  if (!e.contains("rewritten_with_new_values") || !e["rewritten_with_new_values"].is_array()) return unread;
  const nlohmann::json none = nlohmann::json::object();
  const nlohmann::json& rows =
      e.contains("rewritten_rows") && e["rewritten_rows"].is_object() ? e["rewritten_rows"] : none;
  for (const nlohmann::json& t : e["rewritten_with_new_values"]) {
    if (!t.is_string()) continue;
    const std::string table = t.get<std::string>();
    if (!rows.contains(table) || !rows[table].is_array()) {
      unread.push_back(t);
      continue;
    }
    absl::StatusOr<pg::Result> columns = target_->Query(
        "SELECT pg_catalog.string_agg(pg_catalog.quote_ident(attname), ', ' ORDER BY attnum), "
        "pg_catalog.string_agg('(x).' || pg_catalog.quote_ident(attname), ', ' ORDER BY attnum) "
        "FROM pg_catalog.pg_attribute WHERE attrelid = $1::pg_catalog.regclass AND attnum > 0 AND NOT attisdropped "
        "AND attgenerated = ''",
        {table});
    if (!columns.ok()) return columns.status();
    // (The rows were printed with these settings.)
    *ran = target_->Execute(
        "SELECT pg_catalog.set_config('DateStyle', 'ISO, YMD', true), "
        "pg_catalog.set_config('IntervalStyle', 'postgres', true)");
    if (ran->ok()) *ran = RunRecorded(fmt::format("DELETE FROM ONLY {}", table));
    if (ran->ok()) {
      *ran = RunRecorded(
          fmt::format("INSERT INTO {0} ({1}) OVERRIDING SYSTEM VALUE SELECT {2} FROM (SELECT r::{0} AS x FROM "
                      "pg_catalog.jsonb_array_elements_text({3}::jsonb) r) s",
                      table, columns->GetString(0, 0), columns->GetString(0, 1), pg::QuoteLiteral(rows[table].dump())));
    }
    if (!ran->ok()) return unread;
  }
  return unread;
}

absl::Status ChangeApplier::RunGivingMissingValues(const nlohmann::json& e, const std::string& sql,
                                                   const std::string& where, absl::Status* ran) {
  // Columns with a missing value (rows older than the column have the value its default gave when
  // it was added) that the target has before the statement: the others are new.
  const nlohmann::json missing_values =
      e.contains("missing_values") && e["missing_values"].is_array() ? e["missing_values"] : nlohmann::json::array();
  std::set<std::pair<std::string, std::string>> columns_before;  // table as recorded, column name
  if (!missing_values.empty()) {
    absl::StatusOr<pg::Result> before = target_->Query(
        "SELECT x->>0, x->>1 FROM pg_catalog.jsonb_array_elements($1::jsonb) x "
        "WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = pg_catalog.to_regclass(x->>0) "
        "AND a.attname = x->>1 AND NOT a.attisdropped)",
        {missing_values.dump()});
    if (!before.ok()) return before.status();
    for (int i = 0; i < before->rows(); ++i) columns_before.emplace(before->GetString(i, 0), before->GetString(i, 1));
  }
  *ran = RunRecorded(sql);
  // A column this statement added: its rows get the source's value where the target's default gave another.
  for (const nlohmann::json& m : missing_values) {
    if (!ran->ok()) break;
    if (!m.is_array() || m.size() != 3 || !m[0].is_string() || !m[1].is_string() || !m[2].is_string()) {
      return absl::DataLossError(fmt::format("the schema change recorded in {} is damaged", where));
    }
    const std::string table = m[0].get<std::string>();
    if (columns_before.contains({table, m[1].get<std::string>()})) continue;
    absl::StatusOr<pg::Result> fix = target_->Query(
        "SELECT pg_catalog.format('UPDATE ONLY %s SET %I = (%L::%s)[1]', $1::pg_catalog.regclass, a.attname, $3::text, "
        "pg_catalog.format_type(t.typarray, NULL)) FROM pg_catalog.pg_attribute a "
        "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
        "WHERE a.attrelid = $1::pg_catalog.regclass AND a.attname = $2 "
        "AND a.attmissingval::text IS DISTINCT FROM $3::text",
        {table, m[1].get<std::string>(), m[2].get<std::string>()});
    *ran = fix.status();
    for (int i = 0; ran->ok() && i < fix->rows(); ++i) *ran = RunRecorded(fix->GetString(i, 0));
  }
  return absl::OkStatus();
}

absl::Status ChangeApplier::ApplyPartitionBounds(const nlohmann::json& e, const std::string& where, absl::Status* ran) {
  if (!e.contains("partition_bounds") || !e["partition_bounds"].is_array()) return absl::OkStatus();
  for (const nlohmann::json& b : e["partition_bounds"]) {
    if (!b.is_array() || b.size() != 3 || !b[0].is_string() || !b[1].is_string() || !b[2].is_string()) {
      return absl::DataLossError(fmt::format("the schema change recorded in {} is damaged", where));
    }
    absl::StatusOr<pg::Result> bound = target_->Query(
        "SELECT pg_catalog.pg_get_expr(c.relpartbound, c.oid) IS DISTINCT FROM $2::text "
        "FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1::text) AND c.relispartition",
        {b[0].get<std::string>(), b[2].get<std::string>()});
    if (!bound.ok()) return bound.status();
    if (bound->rows() != 1 || bound->GetString(0, 0) != "t") continue;
    *ran = RunRecorded(fmt::format("ALTER TABLE {1} DETACH PARTITION {0}; ALTER TABLE {1} ATTACH PARTITION {0} {2}",
                                   b[0].get<std::string>(), b[1].get<std::string>(), b[2].get<std::string>()));
    if (!ran->ok()) break;
  }
  return absl::OkStatus();
}

absl::Status ChangeApplier::ApplyDdlEvent(const proto::Change& change, const proto::Transaction& txn) {
  const std::string where = fmt::format("the transaction committed at {}", pg::Lsn(txn.commit_lsn()).ToString());
  const nlohmann::json e = nlohmann::json::parse(change.message_content(), nullptr, /*allow_exceptions=*/false);
  if (!e.is_object() || !e.contains("query") || !e["query"].is_string() || !e.contains("tag") ||
      !e["tag"].is_string() || !e.contains("commands") || !e["commands"].is_array() || !e.contains("dropped") ||
      !e["dropped"].is_array() || !e.contains("settings") || !e["settings"].is_object() || !e.contains("search_path") ||
      !e["search_path"].is_string() || !e.contains("role") || !e["role"].is_string()) {
    return absl::DataLossError(fmt::format("the schema change recorded in {} is damaged", where));
  }
  const std::string query = e["query"].get<std::string>();
  const std::string tag = e["tag"].get<std::string>();
  // The published tables it left without a replica identity (publication in two only).
  if (e.contains("keyless") && e["keyless"].is_array()) {
    std::vector<std::string> keyless;
    for (const nlohmann::json& name : e["keyless"]) {
      if (name.is_string()) keyless.push_back(name.get<std::string>());
    }
    txn_keyless_.emplace(std::move(keyless), query);
  }

  // Which statement of the query it was: the only one, or, in a query of several, the next one
  // after the last matched that reports this tag (the same query sent again later has another
  // statement_start, and starts again at its first).
  const std::vector<std::string_view> statements = proxy::SplitStatements(query);
  std::string_view statement;
  if (statements.size() == 1) {
    statement = statements[0];
  } else {
    const std::string key = fmt::format("{}|{}|{}", e.contains("backend") ? e["backend"].dump() : "",
                                        e.contains("statement_start") ? e["statement_start"].dump() : "", query);
    size_t& next = statements_replayed_[key];
    for (size_t i = next; i < statements.size(); ++i) {
      if (StatementMatchesTag(statements[i], tag)) {
        statement = statements[i];
        next = i + 1;
        break;
      }
    }
  }

  if (ChangesPublication(tag)) return absl::OkStatus();

  // What it changed that lasts: temporary objects go with their session, and pgpitr's own
  // triggers are not part of the database restored.
  bool lasting = false;
  for (const nlohmann::json& c : e["commands"]) {
    const bool temporary = JsonTrue(c, "temp") || JsonString(c, "schema") == "pg_temp";
    if (!temporary && JsonString(c, "schema") != pg::kEventTriggerSchema) lasting = true;
  }
  for (const nlohmann::json& d : e["dropped"]) {
    if (!JsonTrue(d, "original")) continue;
    // (A rule, trigger or policy of a temporary table is not temporary itself, but "on pg_temp.t".)
    if (!JsonTrue(d, "temp") && JsonString(d, "schema") != pg::kEventTriggerSchema &&
        JsonString(d, "identity").find(" on pg_temp.") == std::string::npos) {
      lasting = true;
    }
  }
  // A DROP of relations the target never had (what a failed CREATE INDEX CONCURRENTLY or REINDEX
  // CONCURRENTLY left behind: invalid, not in a dump, its creation never a schema change) is
  // left out; when the target has any of them, the statement runs.
  if (lasting && tag.starts_with("DROP ") && e["commands"].empty()) {
    static const std::set<std::string> kRelationTypes = {
        "table", "index", "sequence", "view", "materialized view", "foreign table"};
    nlohmann::json relations = nlohmann::json::array();
    bool only_relations = true;
    for (const nlohmann::json& d : e["dropped"]) {
      if (!JsonTrue(d, "original")) continue;
      if (!kRelationTypes.contains(JsonString(d, "type"))) only_relations = false;
      relations.push_back(JsonString(d, "identity"));
    }
    if (only_relations && !relations.empty()) {
      absl::StatusOr<pg::Result> present = target_->Query(
          "SELECT count(*) FROM pg_catalog.jsonb_array_elements_text($1::jsonb) r "
          "WHERE pg_catalog.to_regclass(r) IS NOT NULL",
          {relations.dump()});
      if (!present.ok()) return present.status();
      if (present->GetString(0, 0) == "0") lasting = false;
    }
  }
  // The names of the session's temporary relations then, where recorded.
  std::set<std::string> temporary;
  if (e.contains("temp_relations") && e["temp_relations"].is_array()) {
    for (const nlohmann::json& name : e["temp_relations"]) {
      if (name.is_string()) temporary.insert(name.get<std::string>());
    }
  }
  // A GRANT or REVOKE reports no object: on a relation named as one of the session's temporary
  // ones (unqualified, or in pg_temp), it was theirs.
  if (lasting && (tag == "GRANT" || tag == "REVOKE") && !temporary.empty() && !statement.empty()) {
    if (std::optional<std::vector<std::string>> names = proxy::GrantedRelations(statement)) {
      size_t on_temporary = 0;
      for (const std::string& name : *names) {
        if (name.starts_with("pg_temp.") || (name.find('.') == std::string::npos && temporary.contains(name))) {
          ++on_temporary;
        }
      }
      if (on_temporary == names->size()) lasting = false;
    }
  }
  if (!lasting) return absl::OkStatus();
  // A REFRESH, or pgpitr's own REPLICA IDENTITY FULL, of relations the target does not have here,
  // all of which the window drops later, is left out: what it did went with them. (Such a relation
  // was made where no trigger sees it, by EXPLAIN ANALYZE CREATE TABLE AS or MATERIALIZED VIEW:
  // nothing makes it again, and its rows, if any, are left out. Neither statement renames what it
  // names, so the name recorded after it is the name before it.)
  if ((tag == "REFRESH MATERIALIZED VIEW" || JsonTrue(e, "identity_full")) && DroppedLater(e["commands"], txn)) {
    bool all_gone = true;
    for (const nlohmann::json& c : e["commands"]) {
      absl::StatusOr<pg::Result> exists =
          target_->Query("SELECT pg_catalog.to_regclass($1) IS NOT NULL", {JsonString(c, "identity")});
      if (!exists.ok()) return exists.status();
      all_gone = all_gone && exists->GetString(0, 0) != "t";
    }
    if (all_gone) return absl::OkStatus();
  }

  std::string sql;
  if (tag == "CREATE TABLE AS" || tag == "SELECT INTO" ||
      (tag == "CREATE TABLE" && LikeOfTemporaryOnly(statement, temporary))) {
    // Its rows are in the stream: the table is made empty, with the columns the query gave it.
    for (const nlohmann::json& c : e["commands"]) {
      if (!c.contains("columns") || !c["columns"].is_array()) continue;
      std::string columns, collations;
      for (const nlohmann::json& col : c["columns"]) {
        if (!col.is_array() || col.size() < 3 || !col[0].is_string() || !col[1].is_string()) {
          return absl::DataLossError(fmt::format("the schema change recorded in {} is damaged", where));
        }
        const std::string name = QuoteIdent(col[0].get<std::string>());
        columns += fmt::format("{}{} {}", columns.empty() ? "" : ", ", name, col[1].get<std::string>());
        // (A table made LIKE another has its NOT NULLs, named from PostgreSQL 18 on; one made from a
        // query has none.)
        if (col.size() > 3 && col[3].is_boolean() && col[3].get<bool>()) {
          columns += col.size() > 4 && col[4].is_string()
                         ? fmt::format(" CONSTRAINT {} NOT NULL", QuoteIdent(col[4].get<std::string>()))
                         : std::string(" NOT NULL");
        }
        if (col[2].is_string()) {
          columns += " COLLATE " + col[2].get<std::string>();
          collations += fmt::format("{}ALTER COLUMN {} TYPE {} COLLATE {}", collations.empty() ? "" : ", ", name,
                                    col[1].get<std::string>(), col[2].get<std::string>());
        }
      }
      // Its first row, before this message in the stream, may have made it already, from the
      // stream's description, which has no collations.
      const std::string table = JsonString(c, "identity");
      absl::StatusOr<pg::Result> exists = target_->Query("SELECT pg_catalog.to_regclass($1) IS NOT NULL", {table});
      if (!exists.ok()) return exists.status();
      if (exists->GetString(0, 0) == "t") {
        if (collations.empty()) return absl::OkStatus();
        sql = fmt::format("ALTER TABLE {} {}", table, collations);
      } else {
        sql = fmt::format("CREATE {}TABLE {} ({})", JsonString(c, "persistence") == "u" ? "UNLOGGED " : "", table,
                          columns);
      }
    }
  } else if (tag.starts_with("DROP ") && e["commands"].empty() && MixesTemporary(e["dropped"])) {
    // A DROP naming temporary objects and lasting ones: the lasting ones, by the names the source
    // resolved, with CASCADE when it dropped dependents of theirs.
    bool cascade = false;
    for (const nlohmann::json& d : e["dropped"]) cascade = cascade || JsonTrue(d, "normal");
    for (const nlohmann::json& d : e["dropped"]) {
      if (!JsonTrue(d, "original") || JsonTrue(d, "temp")) continue;
      std::string type = JsonString(d, "type");
      for (char& ch : type) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      sql += fmt::format("{}DROP {} {}{}", sql.empty() ? "" : "; ", type, JsonString(d, "identity"),
                         cascade ? " CASCADE" : "");
    }
  } else if (tag == "REINDEX") {
    return absl::OkStatus();  // the indexes are built at restore anyway
  } else if (!statement.empty() && StatementMatchesTag(statement, tag)) {
    // CREATE/DROP INDEX CONCURRENTLY cannot run in replay's transaction: the same index without it.
    sql = proxy::IndexStatementWithoutConcurrently(statement).value_or(std::string(statement));
    // So does DETACH PARTITION CONCURRENTLY: the same detach without it, then the CHECK constraint
    // the concurrent form added to the partition, if it added one.
    if (std::optional<proxy::Detach> detach = proxy::DetachWithoutConcurrently(statement)) {
      sql = detach->statement;
      if (e.contains("detached_checks") && e["detached_checks"].is_array()) {
        absl::StatusOr<std::string> checks = AddDetachedChecks(e["detached_checks"], where);
        if (!checks.ok()) return checks.status();
        sql += *checks;
      } else {
        // Recorded before the trigger said: the partition's constraint, unless one just like it is there.
        const std::string partition = pg::QuoteLiteral(detach->partition) + "::pg_catalog.regclass";
        sql = fmt::format(
            "DO $pgpitr$ DECLARE c text := pg_catalog.pg_get_partition_constraintdef({0}); BEGIN EXECUTE {1}; "
            "IF c IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = {0} "
            "AND k.contype = 'c' AND pg_catalog.pg_get_constraintdef(k.oid) = pg_catalog.format('CHECK (%s)', c)) "
            "THEN EXECUTE pg_catalog.format('ALTER TABLE %s ADD CHECK (%s)', {0}, c); END IF; END $pgpitr$",
            partition, pg::QuoteLiteral(detach->statement));
      }
    }
  }
  // What it touched, for a report of what may differ.
  std::vector<std::string> objects;
  bool large_object = false;
  for (const nlohmann::json& c : e["commands"]) {
    // (GRANT reports its object type in capitals, other commands in lower case.)
    std::string type = JsonString(c, "type");
    for (char& ch : type) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    large_object = large_object || type == "large object";
    const std::string identity = JsonString(c, "identity");
    if (!identity.empty()) {
      objects.push_back(type + " " + identity);
    } else if (type == "large object") {
      // A GRANT names no object: the numbers after ON LARGE OBJECT do.
      for (const std::string& number : LargeObjectsGranted(statement)) objects.push_back("large object " + number);
    } else {
      objects.push_back(type);
    }
  }
  for (const nlohmann::json& d : e["dropped"]) {
    if (JsonTrue(d, "original")) objects.push_back(JsonString(d, "type") + " " + JsonString(d, "identity"));
  }
  if (objects.empty() && (tag == "GRANT" || tag == "REVOKE") && !statement.empty()) {
    if (std::optional<std::vector<std::string>> names = proxy::GrantedRelations(statement)) {
      for (const std::string& name : *names) objects.push_back("privileges on " + name);
    }
  }
  std::sort(objects.begin(), objects.end());
  objects.erase(std::unique(objects.begin(), objects.end()), objects.end());
  if (sql.empty()) sql = CommentEffect(e["commands"]);
  // No statement to run, but all it made or changed is dropped later in the window (a function's
  // ALTER TABLE on a table dropped before the target): what it did is gone at the target. (Anything
  // after it that needed its work fails, or reshapes a table, and is named then.)
  if (sql.empty() && e["dropped"].empty() && DroppedLater(e["commands"], txn)) return absl::OkStatus();
  if (sql.empty()) {
    return Unreplayable(txn, query,
                        fmt::format("its {} was made inside a function, procedure or DO block: the statement itself "
                                    "is not recorded, only the call",
                                    tag),
                        objects);
  }

  absl::StatusOr<std::optional<nlohmann::json>> own = EnterSourceSession(e, txn, sql, objects);
  if (!own.ok() || !own->has_value()) return own.status();
  absl::Status ran = absl::OkStatus();
  if (absl::Status s = RunGivingMissingValues(e, sql, where, &ran); !s.ok()) return s;
  // Partitions get the bounds the source computed, where the target computed others (an expression).
  if (ran.ok()) {
    if (absl::Status s = ApplyPartitionBounds(e, where, &ran); !s.ok()) return s;
  }
  // A default that gave the rows already in a table values of their own (volatile: random(),
  // clock_timestamp(), serial, identity): those values are not in the stream. Where the trigger
  // recorded its rows as they were after the statement, the table gets those; the others are named.
  if (ran.ok()) {
    absl::StatusOr<nlohmann::json> unread = PutRecordedRows(e, &ran);
    if (!unread.ok()) return unread.status();
    if (ran.ok() && !unread->empty()) {
      if (absl::Status s = LeaveSourceSession(**own); !s.ok()) return s;
      if (absl::Status s = NameRowsGivenVolatileValues(txn, sql, *unread); !s.ok()) return s;
      return Forget();
    }
  }
  // Carrying on, the savepoint rolled a failure back; the target's own settings come back either way.
  if (ran.ok() || carry_on_) {
    if (absl::Status s = LeaveSourceSession(**own); !s.ok()) return s;
  }
  if (!ran.ok()) {
    // Large objects are not in the logical stream: one made after the base is not at the target.
    if (absl::Status s = Unreplayable(txn, sql,
                                      fmt::format("{}{}", ran.message(),
                                                  large_object ? " (large objects are not in the logical stream: "
                                                                 "pgpitr restores those of the base only)"
                                                               : ""),
                                      objects);
        !s.ok()) {
      return s;
    }
  }
  return Forget();
}

}  // namespace pgpitr::restore
