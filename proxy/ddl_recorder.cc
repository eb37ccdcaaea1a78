#include "proxy/ddl_recorder.h"

#include <algorithm>

#include "fmt/format.h"
#include "pg/stream_messages.h"
#include "proxy/sql.h"

namespace pgpitr::proxy {

namespace {

// The statement as an ASCII expression of its text: its bytes in hex, read in the client's encoding.
// (Quoted as it is, a function's body would occur twice in the query, and the server could no
// longer place an error in it: the client would get a QUERY block instead of its position.)
std::string TextOf(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * text.size());
  for (const char c : text) {
    hex += kHex[static_cast<unsigned char>(c) >> 4];
    hex += kHex[static_cast<unsigned char>(c) & 15];
  }
  return fmt::format("pg_catalog.convert_from(pg_catalog.decode('{}', 'hex'), pg_catalog.pg_client_encoding())", hex);
}

// Schema changes the proxy records: not those that cannot share a transaction with its message. (A
// table made from a query is made again at restore by its statement, and emptied: its rows are in
// the stream.)
bool Recorded(std::string_view statement) { return IsSchemaChange(statement) && !MustRunOutsideTransaction(statement); }

// The source decides, when the statement runs, whether the proxy records a schema change: not when
// its event triggers do (a `run` that has not yet seen the source cannot know).
std::string NoEventTrigger() {
  return fmt::format("NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger WHERE evtname = '{}' AND evtenabled <> 'D')",
                     pg::kDdlEndTrigger);
}

// The roles the source has (not PostgreSQL's own): roles are the cluster's, not in a dump, and a
// GRANT or an owner may name one the restore target lacks.
constexpr const char* kRoles =
    "(SELECT pg_catalog.json_agg(r.rolname ORDER BY r.rolname) FROM pg_catalog.pg_roles r WHERE r.rolname !~ '^pg_')";

// A relation's name as an SQL expression of text, quoted as to_regclass reads it.
std::string NameText(const RelationName& r) {
  const std::string name = fmt::format("pg_catalog.quote_ident({})", TextOf(r.name));
  return r.schema.empty() ? name : fmt::format("pg_catalog.quote_ident({}) || '.' || {}", TextOf(r.schema), name);
}

// Nor is a schema change recorded that acts on temporary relations only (as the session resolves
// their names: a temporary table shadows a lasting one of its name; GRANT and REVOKE too), or makes
// a view that is temporary (one of a temporary relation is, whatever its words): they end with the
// session, and no restore has them. A DROP naming a lasting one too is recorded (restore drops IF
// EXISTS).
std::string NotTemporaryOnly(std::string_view statement) {
  std::vector<std::string> temporary;  // one condition for each relation
  std::optional<std::vector<RelationName>> names = RelationsActedOn(statement);
  // (A GRANT or REVOKE on relations too; a name whose parts hold a dot resolves to none, and counts
  // as lasting.)
  if (const std::optional<std::vector<std::string>> granted = GrantedRelations(statement); granted && !names) {
    names.emplace();
    for (const std::string& g : *granted) {
      const size_t dot = g.find('.');
      names->push_back(dot == std::string::npos ? RelationName{"", g}
                                                : RelationName{g.substr(0, dot), g.substr(dot + 1)});
    }
  }
  if (names) {
    for (const RelationName& r : *names) {
      temporary.push_back(
          fmt::format("COALESCE((SELECT c.relpersistence = 't' FROM pg_catalog.pg_class c WHERE c.oid = "
                      "pg_catalog.to_regclass({})), "
                      "false)",
                      NameText(r)));
    }
  }
  bool view = false;
  if (const std::optional<RelationName> made = RelationMade(statement, &view); made && view && made->schema.empty()) {
    // (Unless a lasting one of its name is in the path: a temporary relation may shadow the view made.)
    temporary.push_back(fmt::format(
        "COALESCE((SELECT c.relpersistence = 't' FROM pg_catalog.pg_class c WHERE c.oid = "
        "pg_catalog.to_regclass({0})), "
        "false) AND NOT EXISTS (SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace s ON s.oid = "
        "c.relnamespace WHERE c.relname = {1} AND c.relpersistence <> 't' AND s.nspname = ANY "
        "(pg_catalog.current_schemas(false)))",
        NameText(*made), TextOf(made->name)));
  }
  // And a domain over a temporary row type: it goes with the session's temporary tables, which it
  // depends on (the session's end drops it with them, and no record says so). (When every type of
  // its name in the path is such a one: a lasting one may be what the statement made.)
  if (const std::optional<RelationName> type = TypeMade(statement)) {
    temporary.push_back(fmt::format(
        "COALESCE((SELECT pg_catalog.bool_and(EXISTS (SELECT FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_type r "
        "ON r.oid = d.refobjid WHERE d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.objid = t.oid AND "
        "d.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass AND r.typnamespace = "
        "pg_catalog.pg_my_temp_schema())) FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace s ON s.oid = "
        "t.typnamespace WHERE t.typname = {} AND {} AND t.typnamespace <> pg_catalog.pg_my_temp_schema()), false)",
        TextOf(type->name),
        type->schema.empty() ? "s.nspname = ANY (pg_catalog.current_schemas(false))"
                             : fmt::format("s.nspname = {}", TextOf(type->schema))));
  }
  // And a routine of a temporary row type (in the temporary schema from PostgreSQL 16 on): it goes
  // with the session's temporary tables too. (When every routine of its name in the path is such
  // a one: a lasting one may be what the statement made.)
  if (const std::optional<RelationName> routine = RoutineMade(statement)) {
    const std::string temporary_type =
        "EXISTS (SELECT FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_type r ON r.oid = d.refobjid WHERE d.classid "
        "= 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid AND d.refclassid = "
        "'pg_catalog.pg_type'::pg_catalog.regclass AND r.typnamespace = pg_catalog.pg_my_temp_schema())";
    const std::string in_path =
        routine->schema.empty()
            ? "(s.nspname = ANY (pg_catalog.current_schemas(true)) OR p.pronamespace = pg_catalog.pg_my_temp_schema())"
            : fmt::format("s.nspname = {}", TextOf(routine->schema));
    temporary.push_back(fmt::format(
        "COALESCE((SELECT pg_catalog.bool_and({0}) FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace s ON "
        "s.oid = p.pronamespace WHERE p.proname = {1} AND {2}), false)",
        temporary_type, TextOf(routine->name), in_path));
  }
  if (temporary.empty()) return "";
  std::string all;
  for (const std::string& t : temporary) all += (all.empty() ? "" : " AND ") + t;
  return fmt::format(" AND NOT ({})", all);
}

// The bound of a partition the statement makes or attaches, as the source computed it (one given by
// an expression, now() + ..., is computed once, when the partition is made): restore puts the same.
std::string PartitionBounds(std::string_view statement) {
  std::optional<RelationName> partition = PartitionAttached(statement);
  if (!partition) {
    bool view = false;
    bool made_partition = false;
    partition = RelationMade(statement, &view, &made_partition);
    if (!made_partition) return "";
  }
  return fmt::format(
      ", 'partition_bounds', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array("
      "pg_catalog.format('%I.%I', n.nspname, t.relname), pg_catalog.format('%I.%I', pn.nspname, p.relname), "
      "pg_catalog.pg_get_expr(t.relpartbound, t.oid))) FROM pg_catalog.pg_class t "
      "JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace JOIN pg_catalog.pg_inherits i ON i.inhrelid = t.oid "
      "JOIN pg_catalog.pg_class p ON p.oid = i.inhparent JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace "
      "WHERE t.oid = pg_catalog.to_regclass({}) AND t.relispartition)",
      NameText(*partition));
}

// Whether the proxy's message follows the statement rather than precedes it: it records what the
// statement made (a view's, a domain's or a routine's persistence, a partition's bound, the columns
// of a table made LIKE another, the values columns added gave the rows already there).
bool RecordedAfter(std::string_view statement) {
  bool view = false;
  bool partition = false;
  return PartitionAttached(statement).has_value() || MakesTableLike(statement) || TypeMade(statement).has_value() ||
         RoutineMade(statement).has_value() || ColumnsAddedBy(statement).has_value() ||
         (RelationMade(statement, &view, &partition).has_value() && (view || partition));
}

// The setting, local to the transaction, in which RowsStatement leaves the rows it read for the
// message that follows it (empty: none).
constexpr const char* kRowsSetting = "pgpitr.rewritten_rows";

// Whether table `t`'s rows got values of their own from the columns an ALTER TABLE ... ADD added (a
// default that is not a constant: random(), a serial or identity column; the table was rewritten,
// which the stream does not show; a constant gives all the same, even in a rewrite another column
// caused).
std::string GivenOwnValues(const ColumnsAdded& added) {
  std::string columns;
  for (const std::string& c : added.columns) columns += (columns.empty() ? "" : ", ") + TextOf(c);
  return fmt::format(
      "t.relkind = 'r' AND pg_catalog.pg_relation_size(t.oid) > 0 AND EXISTS (SELECT "
      "FROM pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = "
      "a.attnum WHERE a.attrelid = t.oid AND a.attname = ANY (ARRAY[{}]) AND NOT a.attisdropped AND NOT "
      "a.atthasmissing AND a.attgenerated = '' AND ((d.oid IS NOT NULL AND d.adbin::text NOT LIKE '{{CONST %') OR "
      "a.attidentity <> ''))",
      columns);
}

// The table an ALTER TABLE ... ADD names and the tables that inherit from it (its partitions), which
// it changed too: a CTE `touched(oid)`.
std::string Touched(const ColumnsAdded& added) {
  return fmt::format(
      "WITH RECURSIVE touched(oid) AS (SELECT pg_catalog.to_regclass({})::pg_catalog.oid UNION SELECT i.inhrelid "
      "FROM pg_catalog.pg_inherits i JOIN touched ON i.inhparent = touched.oid) ",
      NameText(added.table));
}

// The columns an ALTER TABLE ... ADD added, in the tables it touched: the value a default that is
// not a constant gave the rows already there (`missing_values`, PostgreSQL's attmissingval: now(),
// current_user), the tables with rows GivenOwnValues (`rewritten_with_new_values`), and,
// `rows_read`, the rows RowsStatement read of them (`rewritten_rows`), which restore puts back; it
// names the others.
std::string ColumnsAddedValues(std::string_view statement, bool rows_read) {
  const std::optional<ColumnsAdded> added = ColumnsAddedBy(statement);
  if (!added) return "";
  return fmt::format(
      ", 'missing_values', ({0}SELECT pg_catalog.json_agg(DISTINCT "
      "pg_catalog.jsonb_build_array(pg_catalog.format('%I.%I', "
      "n.nspname, t.relname), a.attname, a.attmissingval::text)) FROM touched JOIN pg_catalog.pg_class t ON t.oid = "
      "touched.oid JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace JOIN pg_catalog.pg_attribute a ON "
      "a.attrelid = t.oid AND a.atthasmissing AND NOT a.attisdropped WHERE t.relkind = 'r'), "
      "'rewritten_with_new_values', ({0}SELECT pg_catalog.json_agg(DISTINCT pg_catalog.format('%I.%I', n.nspname, "
      "t.relname)) FROM touched JOIN pg_catalog.pg_class t ON t.oid = touched.oid JOIN pg_catalog.pg_namespace n ON "
      "n.oid = t.relnamespace WHERE {1}){2}",
      Touched(*added), GivenOwnValues(*added),
      rows_read ? fmt::format(", 'rewritten_rows', NULLIF(pg_catalog.current_setting('{}', true), "
                              "'')::pg_catalog.json",
                              kRowsSetting)
                : "");
}

// After an ALTER TABLE ... ADD whose new columns gave the rows of tables it touched values of their
// own (GivenOwnValues): their rows as they are now, {table: [row as text]}, left in kRowsSetting
// for the message (always set, so that none of an earlier statement of the transaction is taken for
// these). Of tables up to 64 MiB together whose owner sees all their rows (no row security in
// force); printed as the event trigger prints them (ISO dates, postgres intervals, floats to their
// last digit), the session's settings put back after. It never fails the statement (a DO block:
// the tables' names are known only when it runs; what fails is rolled back with its
// subtransaction, settings included, and no rows are left).
std::string RowsStatement(std::string_view statement) {
  const std::optional<ColumnsAdded> added = ColumnsAddedBy(statement);
  if (!added) return "";
  return fmt::format(
      "DO $pgpitr$ DECLARE pgpitr_rows jsonb := '{{}}'; pgpitr_table record; pgpitr_part text; pgpitr_size int8 := 0; "
      "pgpitr_settings text[]; BEGIN IF {0} THEN BEGIN "
      "pgpitr_settings := ARRAY[pg_catalog.current_setting('DateStyle'), "
      "pg_catalog.current_setting('IntervalStyle'), pg_catalog.current_setting('extra_float_digits')]; "
      "PERFORM pg_catalog.set_config('DateStyle', 'ISO, YMD', true), pg_catalog.set_config('IntervalStyle', "
      "'postgres', true), pg_catalog.set_config('extra_float_digits', '3', true); "
      "FOR pgpitr_table IN {1}SELECT pg_catalog.format('%I.%I', n.nspname, t.relname) AS name, "
      "pg_catalog.pg_total_relation_size(t.oid) AS size FROM touched JOIN pg_catalog.pg_class t ON t.oid = "
      "touched.oid JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace WHERE {2} AND NOT "
      "pg_catalog.row_security_active(t.oid) ORDER BY 1 LOOP "
      "pgpitr_size := pgpitr_size + pgpitr_table.size; EXIT WHEN pgpitr_size > 67108864; "
      "EXECUTE pg_catalog.format('SELECT COALESCE(pg_catalog.json_agg(x::text), ''[]'')::text FROM ONLY %s x', "
      "pgpitr_table.name) INTO pgpitr_part; "
      "pgpitr_rows := pgpitr_rows || pg_catalog.jsonb_build_object(pgpitr_table.name, pgpitr_part::jsonb); "
      "END LOOP; "
      "PERFORM pg_catalog.set_config('DateStyle', pgpitr_settings[1], true), "
      "pg_catalog.set_config('IntervalStyle', pgpitr_settings[2], true), "
      "pg_catalog.set_config('extra_float_digits', pgpitr_settings[3], true); "
      "EXCEPTION WHEN OTHERS THEN pgpitr_rows := '{{}}'; END; END IF; "
      "PERFORM pg_catalog.set_config('{3}', CASE WHEN pgpitr_rows = '{{}}' THEN '' ELSE pgpitr_rows::text END, true); "
      "END $pgpitr$",
      NoEventTrigger(), Touched(*added), GivenOwnValues(*added), kRowsSetting);
}

// The CHECK constraints of a partition a DETACH PARTITION detaches, as they are when the message
// runs: recorded after a DETACH ... CONCURRENTLY succeeded, they hold the one it added (restore runs
// the DETACH without CONCURRENTLY, then adds those the target's lacks).
std::string DetachedChecks(std::string_view statement) {
  const std::optional<RelationName> partition = PartitionDetached(statement);
  if (!partition) return "";
  return fmt::format(
      ", 'detached_checks', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(pg_catalog.format('%I.%I', "
      "n.nspname, t.relname), k.conname, pg_catalog.pg_get_constraintdef(k.oid))) FROM pg_catalog.pg_constraint k "
      "JOIN pg_catalog.pg_class t ON t.oid = k.conrelid JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace "
      "WHERE k.conrelid = pg_catalog.to_regclass({}) AND k.contype = 'c')",
      NameText(*partition));
}

// The table a CREATE TABLE ... (LIKE other) made, as the source made it: restore makes it so when
// the statement cannot run there (LIKE a temporary table).
std::string MadeLike(std::string_view statement) {
  if (!MakesTableLike(statement)) return "";
  const std::optional<RelationName> made = RelationMade(statement);
  return fmt::format(
      ", 'made_like', (SELECT pg_catalog.json_build_object('table', pg_catalog.format('%I.%I', n.nspname, r.relname), "
      "'persistence', r.relpersistence, 'columns', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(a.attname, "
      "pg_catalog.format_type(a.atttypid, a.atttypmod), CASE WHEN a.attcollation <> t.typcollation THEN "
      "pg_catalog.format('%I.%I', cn.nspname, co.collname) END, a.attnotnull) ORDER BY a.attnum) FROM "
      "pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid LEFT JOIN pg_catalog.pg_collation co "
      "ON co.oid = a.attcollation LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE a.attrelid "
      "= r.oid AND a.attnum > 0 AND NOT a.attisdropped)) FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON "
      "n.oid = r.relnamespace WHERE r.oid = pg_catalog.to_regclass({}))",
      NameText(*made));
}

// The statement that records a schema change in the stream (run in its session, just before it or,
// RecordedAfter, just after): a transactional message, so it lands at its place in the transaction
// and disappears with it.
// `sql`: the statement as an SQL expression of text; `prepare`: the PREPARE of the statement a
// CREATE TABLE ... AS EXECUTE runs (restore runs it first).
// `rows_read`: RowsStatement ran before it (the rows a volatile default rewrote).
std::string MessageStatement(std::string_view statement, const std::string& sql, std::string_view prepare = {},
                             bool rows_read = false) {
  return fmt::format(
      "SELECT CASE WHEN {}{} THEN pg_catalog.pg_logical_emit_message(true, '{}', pg_catalog.json_build_object("
      "'search_path', pg_catalog.current_setting('search_path'), 'sql', {}, 'roles', {}, 'role', current_user, "
      "'role_attributes', {}, 'memberships', {}, 'database_privileges', {}, 'settings', {}{}{}{}{}{})::text) END",
      NoEventTrigger(), NotTemporaryOnly(statement), pg::kDdlMessagePrefix, sql, kRoles, pg::kRoleAttributesSql,
      pg::kMembershipsSql, pg::kDatabasePrivilegesSql, pg::kSessionSettingsSql, PartitionBounds(statement),
      ColumnsAddedValues(statement, rows_read), DetachedChecks(statement), MadeLike(statement),
      prepare.empty() ? "" : ", 'prepare', " + TextOf(prepare));
}
std::string DdlMessageStatement(std::string_view statement) {
  return MessageStatement(statement, TextOf(statement)) + ";";
}

// With --set-replica-identity-full, after a statement that may leave a table without a replica
// identity (a table made without a primary key): REPLICA IDENTITY FULL on each published table
// without one that the session's role owns, in the statement's transaction, each recorded as a
// schema change of its own, so that the application's UPDATE and DELETE of it work while pgpitr's
// publication publishes them (and are captured). It never fails the statement: a table it cannot
// alter stays as it is (restores name it).
std::string IdentityFullStatement() {
  return fmt::format(
      "DO $pgpitr$ DECLARE t record; s text; BEGIN IF {} THEN FOR t IN SELECT n.nspname, c.relname FROM "
      "pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE {} AND NOT {} AND "
      "pg_catalog.pg_has_role(c.relowner, 'USAGE') LOOP s := pg_catalog.format('ALTER TABLE %I.%I REPLICA IDENTITY "
      "FULL', t.nspname, t.relname); BEGIN EXECUTE s; PERFORM pg_catalog.pg_logical_emit_message(true, '{}', "
      "pg_catalog.json_build_object('search_path', pg_catalog.current_setting('search_path'), 'sql', s, 'roles', {}, "
      "'role', current_user, 'role_attributes', {}, 'settings', {})::text); EXCEPTION WHEN OTHERS THEN NULL; END; "
      "END LOOP; END IF; END $pgpitr$",
      NoEventTrigger(), pg::kPublishedTableSql, pg::kHasReplicaIdentitySql, pg::kDdlMessagePrefix, kRoles,
      pg::kRoleAttributesSql, pg::kSessionSettingsSql);
}

// Before a statement that makes large objects: when the source holds none, says so with the clock
// and position read before the snapshot the reading used (in READ COMMITTED each statement of a DO
// block takes a new one), once what committed before them is visible (as capture's checks do,
// wal::ReadSettledServerPosition; not said when that takes over about 20 ms), so that nothing committed
// before that position was missed; only in a transaction that has changed nothing yet, which would
// otherwise see its own changes (an lo_unlink not yet committed). It never fails the statement.
std::string LargeObjectsBeforeStatement() {
  return fmt::format(
      "DO $pgpitr$ DECLARE pgpitr_time int8; pgpitr_lsn pg_catalog.pg_lsn; pgpitr_settled bool := false; BEGIN "
      "IF pg_catalog.current_setting('transaction_isolation') = 'read committed' AND "
      "pg_catalog.pg_current_xact_id_if_assigned() IS NULL THEN "
      "pgpitr_time := {0}; pgpitr_lsn := pg_catalog.pg_current_wal_insert_lsn(); "
      "FOR pgpitr_try IN 1..20 LOOP pgpitr_settled := pg_catalog.pg_current_wal_flush_lsn() >= pgpitr_lsn; "
      "EXIT WHEN pgpitr_settled; PERFORM pg_catalog.pg_sleep(0.001); END LOOP; "
      "IF pgpitr_settled AND NOT EXISTS (SELECT FROM pg_catalog.pg_largeobject_metadata) THEN "
      "PERFORM pg_catalog.pg_logical_emit_message(true, '{1}', pg_catalog.format('none at %s %s', pgpitr_lsn, "
      "pgpitr_time)); END IF; END IF; EXCEPTION WHEN OTHERS THEN NULL; END $pgpitr$",
      pg::kServerClockSql, pg::kLargeObjectsMessagePrefix);
}

// After a statement that makes or removes large objects: whether the source holds any, as its
// transaction sees them (its own changes included). In a DO block where the proxy may add one, so
// that it never fails the statement (a role without EXECUTE on pg_logical_emit_message); else
// plainly, as the proxy's message of a schema change.
std::string LargeObjectsAfterStatement(bool plpgsql) {
  const std::string emit = fmt::format(
      "pg_catalog.pg_logical_emit_message(true, '{}', CASE WHEN EXISTS (SELECT FROM "
      "pg_catalog.pg_largeobject_metadata) THEN 'some' ELSE 'none' END)",
      pg::kLargeObjectsMessagePrefix);
  if (!plpgsql) return "SELECT " + emit;
  return fmt::format("DO $pgpitr$ BEGIN PERFORM {}; EXCEPTION WHEN OTHERS THEN NULL; END $pgpitr$", emit);
}

// The proxy's own statements around a client's statement, in the order they run: `before` it, the
// reading of large objects before one making some, the message of a recorded schema change (so that
// what the statement drops or renames is seen as the session resolves it); `after` it, the reading
// of the rows a volatile default rewrote, the message where it records the statement's result
// (RecordedAfter), the identity, and the reading of large objects. `sql`: the statement as an SQL
// expression of text. None for most statements.
struct OwnStatement {
  std::string sql;
  bool takes_statement = false;  // `sql` is in it (the extended protocol passes the statement as $1)
};
struct AroundStatement {
  std::vector<OwnStatement> before;
  std::vector<OwnStatement> after;
};
// Whether the proxy reads large objects around a statement that makes or removes some: not where the
// source's event triggers record schema changes and the proxy may add no DO block (it then adds
// nothing that could fail the statement).
bool ReadsLargeObjectsAround(const LargeObjectCalls& calls, const RecordOptions& options) {
  return options.large_objects && calls.any() && (options.plpgsql || options.schema_changes);
}
bool ReadsLargeObjectsAround(std::string_view statement, const RecordOptions& options) {
  return options.large_objects && ReadsLargeObjectsAround(LargeObjectsTouched(statement), options);
}

AroundStatement OwnStatementsAround(std::string_view statement, const std::string& sql, std::string_view prepare,
                                    const RecordOptions& options) {
  AroundStatement out;
  const LargeObjectCalls large_objects = options.large_objects ? LargeObjectsTouched(statement) : LargeObjectCalls{};
  const bool reads_large_objects = ReadsLargeObjectsAround(large_objects, options);
  if (reads_large_objects && large_objects.makes && options.plpgsql) {
    out.before.push_back({LargeObjectsBeforeStatement()});
  }
  if (options.schema_changes && Recorded(statement)) {
    const std::string rows = options.plpgsql ? RowsStatement(statement) : "";
    OwnStatement message{MessageStatement(statement, sql, prepare, !rows.empty()), true};
    const bool after = RecordedAfter(statement);
    if (!after) out.before.push_back(std::move(message));
    if (!rows.empty()) out.after.push_back({rows});
    if (after) out.after.push_back(std::move(message));
    if (options.identity_full && options.plpgsql && MayLeaveTableWithoutKey(statement)) {
      out.after.push_back({IdentityFullStatement()});
    }
  }
  if (reads_large_objects) out.after.push_back({LargeObjectsAfterStatement(options.plpgsql)});
  return out;
}

// The NUL-terminated string at offset (empty when there is none: the server will reject the
// message itself).
std::string CString(std::string_view body, size_t offset) {
  if (offset >= body.size()) return "";
  const size_t end = body.find('\0', offset);
  return std::string(body.substr(offset, end == std::string_view::npos ? std::string_view::npos : end - offset));
}

}  // namespace

std::optional<RewrittenQuery> RewriteForDdlCapture(std::string_view query, PreparedStatements* prepared,
                                                   const RecordOptions& options) {
  // (Most queries name no function on large objects: then no statement is lexed for one, and when
  // the proxy records no schema change, the query is not split.)
  const bool may_touch_large_objects = options.large_objects && MayTouchLargeObjects(query);
  if (!options.schema_changes && !may_touch_large_objects) return std::nullopt;
  const std::vector<std::string_view> statements = SplitStatements(query);
  std::vector<bool> recorded;
  recorded.reserve(statements.size());
  std::vector<std::string> prepares(statements.size());
  for (size_t i = 0; i < statements.size(); ++i) {
    const std::string_view s = statements[i];
    const bool schema_change = options.schema_changes && Recorded(s);
    recorded.push_back(schema_change || (may_touch_large_objects && ReadsLargeObjectsAround(s, options)));
    if (prepared == nullptr || !options.schema_changes) continue;
    if (std::optional<std::string> name = PreparedName(s)) {
      (*prepared)[*name] = std::string(s);
    } else if (std::optional<std::string> gone = DeallocatedName(s)) {
      if (gone->empty()) {
        prepared->clear();
      } else {
        prepared->erase(*gone);
      }
    } else if (schema_change) {
      if (std::optional<std::string> executed = ExecutedName(s)) {
        if (auto it = prepared->find(*executed); it != prepared->end()) prepares[i] = it->second;
      }
    }
  }
  if (std::find(recorded.begin(), recorded.end(), true) == recorded.end()) return std::nullopt;
  RewrittenQuery out;
  size_t copied = 0;  // of the client's query
  auto insert = [&](size_t at, const std::string& text) {
    out.query.append(query.substr(copied, at - copied));
    copied = at;
    out.query += text;
    out.insertions.push_back({at, text.size()});
    out.injected.push_back(true);
  };
  for (size_t i = 0; i < statements.size(); ++i) {
    const std::string_view s = statements[i];
    if (!recorded[i]) {
      out.injected.push_back(false);
      continue;
    }
    // (After the statement, the client's semicolon, if any, ends the last; a line break ends a
    // comment the statement may end with.)
    const size_t start = static_cast<size_t>(s.data() - query.data());
    const AroundStatement own = OwnStatementsAround(s, TextOf(s), prepares[i], options);
    for (const OwnStatement& o : own.before) insert(start, o.sql + ";");
    out.injected.push_back(false);
    for (const OwnStatement& o : own.after) insert(start + s.size(), "\n;" + o.sql);
  }
  out.query.append(query.substr(copied));
  return out;
}

namespace {

// Characters in text, in a client encoding; nullopt for a multibyte encoding other than UTF8 when
// the text is not all ASCII.
std::optional<size_t> Characters(std::string_view text, std::string_view encoding) {
  const bool ascii = std::all_of(text.begin(), text.end(), [](char c) { return (c & 0x80) == 0; });
  if (ascii) return text.size();
  if (encoding == "UTF8") {
    return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  }
  const bool single_byte = encoding == "SQL_ASCII" || encoding.starts_with("LATIN") ||
                           encoding.starts_with("ISO_8859") || encoding.starts_with("WIN") ||
                           encoding.starts_with("KOI8");
  if (single_byte) return text.size();
  return std::nullopt;
}

}  // namespace

std::optional<size_t> ClientErrorPosition(size_t position, const std::string& client_query,
                                          const RewrittenQuery& rewritten, size_t completed,
                                          std::string_view client_encoding) {
  if (position == 0) return std::nullopt;
  if (completed > 0) {
    // An error while running statement number `completed`: the messages before it shift it.
    if (completed >= rewritten.injected.size() || rewritten.injected[completed]) return std::nullopt;
    const auto before = static_cast<size_t>(
        std::count(rewritten.injected.begin(), rewritten.injected.begin() + static_cast<ptrdiff_t>(completed), true));
    size_t shift = 0;
    for (size_t k = 0; k < before && k < rewritten.insertions.size(); ++k) shift += rewritten.insertions[k].length;
    return position > shift ? std::optional<size_t>(position - shift) : std::nullopt;
  }
  // Maybe a syntax error, anywhere: by characters.
  const size_t at = position - 1;
  size_t shift = 0;
  for (const RewrittenQuery::Insertion& insertion : rewritten.insertions) {
    const std::optional<size_t> before =
        Characters(std::string_view(client_query).substr(0, insertion.offset), client_encoding);
    if (!before.has_value()) return std::nullopt;
    const size_t starts = *before + shift;  // in the rewritten text
    if (at < starts) break;
    if (at < starts + insertion.length) return std::nullopt;
    shift += insertion.length;
  }
  return position - shift;
}

void DdlRecorder::FromClient(const Frame& frame, Capture capture, std::string* out) {
  switch (frame.type) {
    case 'Q': {
      absl::StatusOr<std::string_view> query = ParseQuery(frame.body);
      ++readies_sent_;
      if ((capture.schema_changes || capture.large_objects) && query.ok()) {
        if (std::optional<RewrittenQuery> rewritten = RewriteForDdlCapture(*query, &prepared_, OptionsFor(capture))) {
          std::string body = rewritten->query;
          body.push_back('\0');
          *out += EncodeMessage('Q', body);
          tracker_.SentQuery(rewritten->injected);
          rewritten_.push_back({readies_sent_, std::string(*query), std::move(*rewritten), 0});
          return;
        }
        // An index made or dropped CONCURRENTLY, or a partition detached so, cannot share a
        // transaction with the proxy's message: it is recorded after it succeeded, as the same
        // statement without CONCURRENTLY.
        const std::vector<std::string_view> statements =
            capture.schema_changes ? SplitStatements(*query) : std::vector<std::string_view>();
        if (statements.size() == 1 && IsSchemaChange(statements[0])) {
          if (std::optional<std::string> plain = IndexStatementWithoutConcurrently(statements[0])) {
            record_after_.push_back({readies_sent_, std::move(*plain), false});
          } else if (std::optional<Detach> detach = DetachWithoutConcurrently(statements[0])) {
            record_after_.push_back({readies_sent_, std::move(detach->statement), false});
          }
        }
      }
      tracker_.SentQuery({});
      break;
    }
    case 'P': {
      absl::StatusOr<ParseMessage> parse = ParseParse(frame.body);
      if (parse.ok()) {
        const std::string name(parse->statement);
        if ((capture.schema_changes && Recorded(parse->query)) ||
            (capture.large_objects && MayTouchLargeObjects(parse->query) &&
             ReadsLargeObjectsAround(parse->query, OptionsFor(capture)))) {
          ddl_statements_[name] = std::string(parse->query);
        } else {
          ddl_statements_.erase(name);
        }
      }
      tracker_.Sent('P', false);
      break;
    }
    case 'B': {
      const std::string portal = CString(frame.body, 0);
      const std::string statement = CString(frame.body, portal.size() + 1);
      if (auto it = ddl_statements_.find(statement); it != ddl_statements_.end()) {
        ddl_portals_[portal] = it->second;
      } else {
        ddl_portals_.erase(portal);
      }
      tracker_.Sent('B', false);
      break;
    }
    case 'E': {
      auto it = ddl_portals_.find(CString(frame.body, 0));
      if (it == ddl_portals_.end()) {
        tracker_.Sent('E', false);
        break;
      }
      // (As in a simple query.)
      const std::string sql = it->second;
      const AroundStatement own = OwnStatementsAround(sql, "$1::text", {}, OptionsFor(capture));
      auto append = [&](const OwnStatement& o) {
        AppendStatement(o.sql, o.takes_statement ? std::optional<std::string>(sql) : std::nullopt, out);
      };
      for (const OwnStatement& o : own.before) append(o);
      tracker_.Sent('E', false);
      out->append(frame.raw);
      for (const OwnStatement& o : own.after) append(o);
      return;
    }
    case 'C':
    case 'D': {
      const char target = frame.body.empty() ? '\0' : frame.body[0];
      if (frame.type == 'C' && frame.body.size() > 1) {
        (target == 'S' ? ddl_statements_ : ddl_portals_).erase(CString(frame.body, 1));
      }
      tracker_.Sent(frame.type, false, target);
      break;
    }
    default:
      if (frame.type == 'S' || frame.type == 'F') ++readies_sent_;
      tracker_.Sent(frame.type, false);
  }
  out->append(frame.raw);
}

void DdlRecorder::AppendStatement(const std::string& statement, const std::optional<std::string>& text,
                                  std::string* out) {
  static constexpr std::string_view kName = "pgpitr_ddl";
  auto u16 = [](std::string* s, uint16_t v) {
    s->push_back(static_cast<char>(v >> 8));
    s->push_back(static_cast<char>(v));
  };
  auto u32 = [](std::string* s, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) s->push_back(static_cast<char>(v >> shift));
  };
  std::string parse = std::string(kName) + '\0';
  parse += statement;
  parse += '\0';
  u16(&parse, text ? 1 : 0);
  if (text) u32(&parse, 25);  // text
  std::string bind = std::string(kName) + '\0' + std::string(kName) + '\0';
  u16(&bind, 0);  // parameters in text format
  u16(&bind, text ? 1 : 0);
  if (text) {
    u32(&bind, static_cast<uint32_t>(text->size()));
    bind += *text;
  }
  u16(&bind, 0);  // results in text format
  std::string execute = std::string(kName) + '\0';
  u32(&execute, 0);
  // Closing first makes a statement left behind by a failed earlier attempt harmless (closing a
  // statement that does not exist is not an error).
  *out += EncodeMessage('C', "S" + std::string(kName) + '\0');
  tracker_.Sent('C', true, 'S');
  *out += EncodeMessage('P', parse);
  *out += EncodeMessage('B', bind);
  *out += EncodeMessage('E', execute);
  *out += EncodeMessage('C', "P" + std::string(kName) + '\0');
  *out += EncodeMessage('C', "S" + std::string(kName) + '\0');
  tracker_.Sent('P', true);
  tracker_.Sent('B', true);
  tracker_.Sent('E', true);
  tracker_.Sent('C', true, 'P');
  tracker_.Sent('C', true, 'S');
}

std::optional<std::string> DdlRecorder::ForClient(const Frame& frame) {
  if (frame.type == 'S') {
    // ParameterStatus: name, value.
    const std::string name = CString(frame.body, 0);
    if (name == "client_encoding") client_encoding_ = CString(frame.body, name.size() + 1);
    return std::nullopt;
  }
  if ((frame.type != 'E' && frame.type != 'N') || rewritten_.empty() || rewritten_.front().ready != readies_seen_ + 1) {
    return std::nullopt;
  }
  // Fields: a type byte and a string each, then a zero byte.
  const Rewritten& current = rewritten_.front();
  std::string body;
  bool changed = false;
  for (size_t at = 0; at < frame.body.size() && frame.body[at] != '\0';) {
    const char field = frame.body[at];
    std::string value = CString(frame.body, at + 1);
    at += value.size() + 2;
    if (field == 'P') {
      size_t position = 0;
      const bool number = !value.empty() &&
                          std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                          value.size() < 10;
      if (number) position = std::stoul(value);
      if (std::optional<size_t> mapped = ClientErrorPosition(position, current.client_query, current.rewritten,
                                                             current.completed, client_encoding_)) {
        value = std::to_string(*mapped);
        changed = true;
      }
    }
    body += field;
    body += value;
    body += '\0';
  }
  if (!changed) return std::nullopt;
  body += '\0';
  return EncodeMessage(frame.type, body);
}

DdlRecorder::Answer DdlRecorder::FromDatabase(char type, std::string* out) {
  if (!rewritten_.empty() && rewritten_.front().ready == readies_seen_ + 1 && type == 'C') {
    ++rewritten_.front().completed;
  }
  if (type == 'Z') {
    while (!rewritten_.empty() && rewritten_.front().ready <= readies_seen_ + 1) rewritten_.pop_front();
  }
  // Follows the answers to a query whose schema change is recorded after it succeeded: an error
  // cancels the record; its ReadyForQuery is held back and replaced by that of the proxy's own
  // query recording it (the client sees one ReadyForQuery, in the same state: the index
  // statements run outside any transaction).
  if (type == 'E') {
    if (!record_after_.empty() && record_after_.front().ready == readies_seen_ + 1) record_after_.front().failed = true;
  } else if (type == 'Z') {
    ++readies_seen_;
    if (!record_after_.empty() && record_after_.front().ready == readies_seen_) {
      RecordAfter record = std::move(record_after_.front());
      record_after_.pop_front();
      if (!record.failed) {
        (void)tracker_.Drop('Z');  // ends the client's query in the tracker, as forwarding would
        std::string body = DdlMessageStatement(record.sql);
        body.push_back('\0');
        ++readies_sent_;
        tracker_.SentQuery({true});
        *out += EncodeMessage('Q', body);
        return Answer::kHeld;
      }
    }
  }
  return tracker_.Drop(type) ? Answer::kDrop : Answer::kForward;
}

}  // namespace pgpitr::proxy
