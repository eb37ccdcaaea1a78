// What pgpitr leaves in a source, shared by capture, the proxy and restore. The logical messages it
// writes into the source's replication stream (pg_logical_emit_message, transactional), so they are
// ordered with the row changes of their transaction:
//   pgpitr.ddl   JSON {"search_path", "sql", "role", "settings", ...}: a schema change seen by the
//                proxy, just before the statement that made it (after one making a view or a
//                partition, whose result it records; proxy/ddl_recorder.cc writes it)
//   pgpitr.mark  the name of a restore point (`pgpitr mark NAME`)
//   pgpitr.schema_change  JSON: a schema change as the source's event trigger saw it, just after the
//                statement (wal/event_triggers.cc writes it: text, session state, objects made and
//                dropped, whether large objects remain)
//   pgpitr.large_objects  whether the source holds large objects (which are not in the stream), read
//                by the proxy around a statement that makes or removes some: "some" or "none" just
//                after it (so at its transaction's commit, unless the transaction changes them
//                again), and "none at <LSN> <time>" just before one that makes some, read in a
//                snapshot taken after that position and clock reading (kServerClockSql), in a
//                transaction that had changed nothing yet (proxy/ddl_recorder.cc writes it, capture
//                places it among its own checks; restore ignores it)
// and the event triggers that write pgpitr.schema_change (wal/event_triggers.h installs them).
#pragma once

#include <string_view>

namespace pgpitr::pg {

inline constexpr const char* kEventTriggerSchema = "_pgpitr";
inline constexpr const char* kDdlEndTrigger = "_pgpitr_ddl_end";
inline constexpr const char* kSqlDropTrigger = "_pgpitr_sql_drop";
inline constexpr const char* kTableRewriteTrigger = "_pgpitr_table_rewrite";
inline constexpr const char* kDdlStartTrigger = "_pgpitr_ddl_start";

inline constexpr const char* kDdlMessagePrefix = "pgpitr.ddl";
inline constexpr const char* kMarkMessagePrefix = "pgpitr.mark";
inline constexpr const char* kDdlEventMessagePrefix = "pgpitr.schema_change";
inline constexpr const char* kLargeObjectsMessagePrefix = "pgpitr.large_objects";

// The server's clock as a PgTime (microseconds since 2000-01-01), an SQL expression.
inline constexpr const char* kServerClockSql =
    "(extract(epoch FROM pg_catalog.clock_timestamp() - '2000-01-01 00:00:00+00') * 1000000)::int8";

// The session state a recorded schema change ran in, as SQL expressions both writers put in their
// message (restore sets the same before it runs the statement): the settings that change how a
// statement parses or what it makes, and what the role may do (a role the target lacks is made so).
inline constexpr const char* kSessionSettingsSql =
    "pg_catalog.json_build_object("
    "'DateStyle', pg_catalog.current_setting('DateStyle'), "
    "'IntervalStyle', pg_catalog.current_setting('IntervalStyle'), "
    "'TimeZone', pg_catalog.current_setting('TimeZone'), "
    "'standard_conforming_strings', pg_catalog.current_setting('standard_conforming_strings'), "
    "'check_function_bodies', pg_catalog.current_setting('check_function_bodies'), "
    "'transform_null_equals', pg_catalog.current_setting('transform_null_equals'), "
    "'array_nulls', pg_catalog.current_setting('array_nulls'), "
    "'xmloption', pg_catalog.current_setting('xmloption'), "
    "'default_tablespace', pg_catalog.current_setting('default_tablespace'), "
    "'default_table_access_method', pg_catalog.current_setting('default_table_access_method'), "
    "'default_toast_compression', pg_catalog.current_setting('default_toast_compression'), "
    "'default_text_search_config', pg_catalog.current_setting('default_text_search_config'))";
inline constexpr const char* kRoleAttributesSql =
    "(SELECT pg_catalog.json_build_object('superuser', r.rolsuper, 'createdb', r.rolcreatedb, "
    "'createrole', r.rolcreaterole, 'bypassrls', r.rolbypassrls, 'inherit', r.rolinherit) "
    "FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)";

// Which role is a member of which (a statement run as one role may need another's rights), and the
// database's own privileges but its owner's (GRANT CREATE ON DATABASE is no schema change, and a
// statement may need it): restore gives the roles it made the same.
inline constexpr const char* kMembershipsSql =
    "(SELECT pg_catalog.json_agg(pg_catalog.json_build_array(r.rolname, m.rolname, a.admin_option) "
    "ORDER BY r.rolname, m.rolname) FROM pg_catalog.pg_auth_members a "
    "JOIN pg_catalog.pg_roles r ON r.oid = a.roleid JOIN pg_catalog.pg_roles m ON m.oid = a.member "
    "WHERE m.rolname !~ '^pg_')";
inline constexpr const char* kDatabasePrivilegesSql =
    "(SELECT pg_catalog.json_agg(pg_catalog.json_build_array(COALESCE(g.rolname, 'PUBLIC'), x.privilege_type, "
    "x.is_grantable) ORDER BY g.rolname, x.privilege_type) FROM pg_catalog.pg_database d, "
    "pg_catalog.aclexplode(COALESCE(d.datacl, pg_catalog.acldefault('d', d.datdba))) x "
    "LEFT JOIN pg_catalog.pg_roles g ON g.oid = x.grantee "
    "WHERE d.datname = pg_catalog.current_database() AND x.grantee <> d.datdba)";

// A published table whose UPDATE and DELETE the server can send: a replica identity it can use
// (FULL, a valid immediate primary key, or a valid chosen index). Of pg_class `c`.
inline constexpr const char* kHasReplicaIdentitySql = R"sql((c.relreplident = 'f'
   OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid
         AND i.indisprimary AND i.indisvalid AND i.indimmediate))
   OR (c.relreplident = 'i' AND EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid
         AND i.indisreplident AND i.indisvalid AND i.indimmediate))))sql";

// A table whose rows a FOR ALL TABLES publication sends (pg_class `c`, pg_namespace `n`): a
// permanent leaf table, not a catalog's, nor pgpitr's own.
inline constexpr const char* kPublishedTableSql = R"sql(c.relkind = 'r' AND c.relpersistence = 'p' AND c.oid >= 16384
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', '_pgpitr') AND n.nspname !~ '^pg_')sql";

// A recorded schema change, by the proxy or by the source's event trigger: restore replays it at its place.
inline bool IsSchemaChangeMessage(std::string_view prefix) {
  return prefix == kDdlMessagePrefix || prefix == kDdlEventMessagePrefix;
}

}  // namespace pgpitr::pg
