// What pgpitr leaves in a source, shared by capture, the proxy and restore. The logical messages it
// writes into the source's replication stream (pg_logical_emit_message, transactional), so they are
// ordered with the row changes of their transaction:
//   pgpitr.ddl   JSON {"search_path": "...", "sql": "..."}: a schema change seen by the proxy,
//                just before the statement that made it
//   pgpitr.mark  the name of a restore point (`pgpitr mark NAME`)
//   pgpitr.schema_change  JSON: a schema change as the source's event trigger saw it, just after the
//                statement (wal/event_triggers.cc writes it: text, session state, objects made and dropped)
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

// A recorded schema change, by the proxy or by the source's event trigger: restore replays it at its place.
inline bool IsSchemaChangeMessage(std::string_view prefix) {
  return prefix == kDdlMessagePrefix || prefix == kDdlEventMessagePrefix;
}

}  // namespace pgpitr::pg
