// Source: what pgpitr needs of the database it captures, checked and set up before streaming:
// settings and privileges, its publication, event triggers and logical slot, tables without a
// replica identity; and what the other commands do on a source (a mark; uninstall).
//   auto facts = PrepareSource(conninfo, {.slot = "pgpitr", .publication = "pgpitr"}, log);
// Every refusal is one line that names the fix. Nothing here writes to the source's data: it
// creates a publication (two where its event triggers keep the second: see SourceFacts), a slot
// and (as a superuser) its event triggers in schema _pgpitr, and changes replica identities only
// when asked to.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "base/logger.h"
#include "pg/connection.h"
#include "pg/conninfo.h"
#include "pg/lsn.h"
#include "pg/time.h"

namespace pgpitr::wal {

struct SourceSettings {
  std::string slot = "pgpitr";
  std::string publication = "pgpitr";
  // Sets REPLICA IDENTITY FULL on published tables that have no replica identity.
  bool set_replica_identity_full = false;
  // Create pgpitr's event triggers (when the role may); false removes them if an earlier run made them.
  bool event_triggers = true;
  // PostgreSQL 17+: the slot is a failover slot (CREATE_REPLICATION_SLOT ... (FAILOVER)), which a
  // standby with sync_replication_slots keeps in step, so a managed primary's failover keeps it;
  // an existing slot is made one (ALTER_REPLICATION_SLOT). Older servers refuse it with an error.
  bool failover_slot = false;
  // Set when the source records schema changes itself (its event triggers are in place); the
  // proxy then leaves statements as they are. Shared with the proxy of the same `run`.
  std::shared_ptr<std::atomic<bool>> source_records_ddl;
  // Set false when every role may not run PL/pgSQL in the source's database: the proxy then adds no
  // DO block of its own to the application's statements (see proxy::ProxyOptions).
  std::shared_ptr<std::atomic<bool>> source_runs_plpgsql;
};

struct SourceFacts {
  int server_version_num = 0;
  std::string server_version;
  std::string system_identifier;
  std::string database;
  bool slot_created = false;
  bool slot_failover = false;  // the slot is a failover slot (17+)
  pg::Lsn slot_start;          // the new slot's consistent point, or an existing slot's confirmed_flush_lsn
  pg::PgTime server_time = 0;  // the server's clock when the slot was found or made
  // "schema.table": with keyless_not_captured, their UPDATE and DELETE are not captured; without,
  // they fail on the source.
  std::vector<std::string> tables_without_identity;
  // The publications capture decodes: pgpitr's, and its keyed publication when there is one.
  std::vector<std::string> publications;
  // pgpitr's publication is in two: every table's INSERT and TRUNCATE, and the UPDATE and DELETE
  // of the tables with a replica identity (kept so by the event triggers).
  bool keyless_not_captured = false;
  // The source's event triggers record every schema change (else only the proxy does).
  bool event_triggers = false;
  int proto_version = 1;
  std::string plugin_options;  // for START_REPLICATION
};

// Checks the source and creates the publication and slot when missing.
[[nodiscard]] absl::StatusOr<SourceFacts> PrepareSource(const pg::ConnInfo& source, const SourceSettings& settings,
                                                        const base::Logger& log);

// A restore point: a transactional pgpitr.mark message, a transaction of its own in the stream,
// ordered with all others. The LSN the server wrote it at.
[[nodiscard]] absl::StatusOr<pg::Lsn> RecordMark(pg::Connection& source, std::string_view name);

// What pgpitr made on a source (`pgpitr uninstall`): its slot, which otherwise keeps WAL forever,
// and its publications.
struct Installed {
  std::string database;
  bool slot = false;
  std::optional<int> slot_active_pid;  // the walsender streaming it: a capture still running
  std::vector<std::string> publications;
  bool empty() const { return !slot && publications.empty(); }
};
[[nodiscard]] absl::StatusOr<Installed> FindInstalled(pg::Connection& source, const SourceSettings& settings);
// Drops what FindInstalled found; refused while the slot is in use. `dropped` hears each thing dropped.
[[nodiscard]] absl::Status DropInstalled(pg::Connection& source, const SourceSettings& settings,
                                         const Installed& installed,
                                         const std::function<void(std::string_view what)>& dropped);

// A replication=database connection to the source.
[[nodiscard]] absl::StatusOr<pg::Connection> ConnectReplication(const pg::ConnInfo& source);

// The published tables ("schema.table", leaves: a partitioned table holds no rows, and UPDATE
// through it checks each partition) without a replica identity the server can use (no valid,
// immediate primary key or chosen index, and not FULL): in a publication of UPDATE and DELETE,
// these fail on them.
[[nodiscard]] absl::StatusOr<std::vector<std::string>> TablesWithoutReplicaIdentity(pg::Connection& conn);
// Its query (one column, "schema.table"), for a session of one's own (a base's, at its snapshot).
std::string TablesWithoutReplicaIdentityQuery();

// The name of pgpitr's second publication, of UPDATE and DELETE, beside `publication`.
std::string KeyedPublication(const std::string& publication);

// The server's clock (clock_timestamp()).
[[nodiscard]] absl::StatusOr<pg::PgTime> ServerClock(pg::Connection& conn);

// The server's clock, and then its WAL insert position, read in that order in one statement:
// every commit stamped at or before `time` has its commit record before `insert_lsn` (up to the
// instant between a backend stamping its commit and inserting the record).
struct ServerPosition {
  pg::PgTime time = 0;
  pg::Lsn insert_lsn;
};
[[nodiscard]] absl::StatusOr<ServerPosition> ReadServerPosition(pg::Connection& conn);

// ReadServerPosition, once what committed before the position is visible: a snapshot taken next
// sees every commit before `insert_lsn` (and stamped at or before `time`). A commit's record is
// inserted, flushed, and only then visible: a snapshot taken just after a plain read may miss a
// commit before it (under load, for milliseconds). Waits, up to `max_wait`, until the WAL is flushed
// past the position; after that, returns the position as it is. (A commit that waits for a
// synchronous standby after its flush stays invisible longer; nothing a role without privileges
// can read tells it apart from one still running.)
[[nodiscard]] absl::StatusOr<ServerPosition> ReadSettledServerPosition(
    pg::Connection& conn, std::chrono::milliseconds max_wait = std::chrono::milliseconds(250));

}  // namespace pgpitr::wal
