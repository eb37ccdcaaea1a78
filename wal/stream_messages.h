// The logical messages pgpitr writes into the source's replication stream (pg_logical_emit_message,
// transactional), so they are ordered with the row changes of their transaction:
//   pgpitr.ddl   JSON {"search_path": "...", "sql": "..."}: a schema change seen by the proxy,
//                just before the statement that made it
//   pgpitr.mark  the name of a restore point (`pgpitr mark NAME`)
#pragma once

namespace pgpitr::wal {

inline constexpr const char* kDdlMessagePrefix = "pgpitr.ddl";
inline constexpr const char* kMarkMessagePrefix = "pgpitr.mark";

}  // namespace pgpitr::wal
