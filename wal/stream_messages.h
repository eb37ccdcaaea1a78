// The logical messages pgpitr writes into the source's replication stream (pg_logical_emit_message,
// transactional), so they are ordered with the row changes of their transaction:
//   pgpitr.ddl   JSON {"search_path": "...", "sql": "..."}: a schema change seen by the proxy,
//                just before the statement that made it
//   pgpitr.mark  the name of a restore point (`pgpitr mark NAME`)
//   pgpitr.schema_change  JSON: a schema change as the source's event trigger saw it, just after the
//                statement (wal/event_triggers.cc writes it: text, session state, objects made and dropped)
#pragma once

#include <string_view>

namespace pgpitr::wal {

inline constexpr const char* kDdlMessagePrefix = "pgpitr.ddl";
inline constexpr const char* kMarkMessagePrefix = "pgpitr.mark";
inline constexpr const char* kDdlEventMessagePrefix = "pgpitr.schema_change";

// A recorded schema change, by the proxy or by the source's event trigger: restore replays it at its place.
inline bool IsSchemaChangeMessage(std::string_view prefix) {
  return prefix == kDdlMessagePrefix || prefix == kDdlEventMessagePrefix;
}

}  // namespace pgpitr::wal
