// SnapshotLocks: what keeps a base's dump consistent although TRUNCATE and table rewrites are not
// MVCC-safe. At the dump's exported snapshot it locks every relation whose rows pg_dump reads
// (ACCESS SHARE, as pg_dump does), proves each still has the file the snapshot shows, and holds the
// locks until pg_dump holds them itself, so no rewrite can commit in between.
//   absl::StatusOr<SnapshotLocks> locks = SnapshotLocks::Take(std::move(session), snapshot);
//   if (!locks->refused().empty()) { /* take the base again, at a new snapshot */ }
//   while (pg_dump runs) if (*locks->Watch(monitor, "pg_dump's application_name") == kRefused) stop it;
// One owner; destroying it (or Release) ends the session that holds the locks.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "pg/connection.h"
#include "pg/conninfo.h"

namespace pgpitr::wal {

class SnapshotLocks {
 public:
  // Locks, on a session of its own at `snapshot` (exported and still valid), the relations pg_dump
  // dumps the rows of. A relation rewritten, dropped or renamed since the snapshot, or one that stays
  // locked by another session past a bound, is not an error: refused() says so.
  // `session` is a plain connection to the source, opened before the snapshot was exported, so that
  // the time between the snapshot and the locks (when a rewrite refuses the snapshot) stays short.
  [[nodiscard]] static absl::StatusOr<SnapshotLocks> Take(pg::Connection session, const std::string& snapshot);

  // Empty when every relation is held with the snapshot's file; else why not, naming the relation.
  const std::string& refused() const { return refused_; }
  // How many relations were checked and locked.
  int relations() const { return relations_; }

  enum class Handover { kHolding, kHandedOver, kRefused };
  // Called while pg_dump runs, with `monitor` a plain session on the source and `pg_dump_name` the
  // application_name pg_dump connected with. kHandedOver once pg_dump holds every relation itself
  // (this session's locks are released then). kRefused when pg_dump queues for a relation held here:
  // a session asked for ACCESS EXCLUSIVE after these locks, pg_dump waits for it and it for us, a
  // deadlock PostgreSQL cannot see; pg_dump must be stopped (refused() names the relation).
  [[nodiscard]] absl::StatusOr<Handover> Watch(pg::Connection& monitor, const std::string& pg_dump_name);

  // Reads on the session at the snapshot (before Release), e.g. the catalog as the dump sees it.
  [[nodiscard]] absl::StatusOr<pg::Result> ReadAtSnapshot(const std::string& sql);

  void Release() { session_.reset(); }

 private:
  std::optional<pg::Connection> session_;  // in a transaction at the snapshot, holding the locks
  std::string oids_;                       // the relations, as an array literal: {16384,16390}
  int relations_ = 0;
  std::string refused_;
};

}  // namespace pgpitr::wal
