#include "wal/snapshot_locks.h"

#include "fmt/format.h"

namespace pgpitr::wal {

namespace {

// How long the lock may wait (pg_dump would wait forever): a session that holds ACCESS EXCLUSIVE
// this long is most likely rewriting the table, and the base is taken again anyway.
constexpr const char* kLockTimeout = "30s";

constexpr const char* kRewrites = "TRUNCATE, ALTER TABLE, VACUUM FULL, CLUSTER or REFRESH MATERIALIZED VIEW";

// The relations whose rows pg_dump reads: tables and partitions outside the system schemas, not
// temporary, not an extension's own unless it is one of its configuration tables (whose rows pg_dump
// dumps); and sequences, whose values pg_dump reads with a query that fails when one was dropped
// after the snapshot (it does not lock them: held here, a DROP SEQUENCE waits for the dump's end).
// Materialized views are left out: pg_dump dumps a REFRESH, never their rows, and does not lock
// them. Read in the transaction, pg_class is the snapshot's catalog.
constexpr const char* kDumpedRelations = R"sql(
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'S') AND c.relpersistence <> 't'
    AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
                      AND d.deptype = 'e'
                      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e
                                      WHERE e.oid = d.refobjid AND c.oid = ANY (e.extconfig))))sql";

// SQLSTATEs of a LOCK that mean "not at this snapshot" rather than "the source is unusable":
// lock_not_available (lock_timeout), undefined_table and invalid_schema_name (dropped or renamed).
bool RetryableLockFailure(const std::string& sqlstate) {
  return sqlstate == "55P03" || sqlstate == "42P01" || sqlstate == "3F000";
}

}  // namespace

absl::StatusOr<SnapshotLocks> SnapshotLocks::Take(pg::Connection session, const std::string& snapshot) {
  std::optional<pg::Connection> conn(std::move(session));
  // SET TRANSACTION SNAPSHOT must come before any query of the transaction. The session idles in its
  // transaction while pg_dump runs: a server-wide idle timeout must not end it early.
  for (const std::string& sql : {std::string("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
                                 "SET TRANSACTION SNAPSHOT " + pg::QuoteLiteral(snapshot),
                                 fmt::format("SET LOCAL lock_timeout = '{}'", kLockTimeout),
                                 std::string("SET LOCAL idle_in_transaction_session_timeout = 0")}) {
    if (absl::Status s = conn->Execute(sql); !s.ok()) return s;
  }
  absl::StatusOr<pg::Result> listed =
      conn->Query(std::string("SELECT c.oid, n.nspname, c.relname, c.relkind") + kDumpedRelations + " ORDER BY 2, 3");
  if (!listed.ok()) return listed.status();

  SnapshotLocks locks;
  locks.relations_ = listed->rows();
  locks.oids_ = "{";
  // Tables take LOCK TABLE; sequences cannot, so a read of each (which holds ACCESS SHARE until the
  // transaction ends, as a lock would) stands for it.
  std::string lock_tables, lock_sequences;
  for (int i = 0; i < listed->rows(); ++i) {
    locks.oids_ += (i > 0 ? "," : "") + listed->GetString(i, 0);
    const std::string name = pg::QuoteIdent(listed->Get(i, 1)) + "." + pg::QuoteIdent(listed->Get(i, 2));
    if (listed->Get(i, 3) == "S") {
      lock_sequences +=
          fmt::format("{}SELECT 1 FROM {} WHERE false", lock_sequences.empty() ? "" : " UNION ALL ", name);
    } else {
      lock_tables += fmt::format("{}ONLY {}", lock_tables.empty() ? "LOCK TABLE " : ", ", name);
    }
  }
  locks.oids_ += "}";
  if (!lock_tables.empty()) lock_tables += " IN ACCESS SHARE MODE";
  for (const std::string& lock : {lock_tables, lock_sequences}) {
    if (lock.empty()) continue;
    // Names are resolved in the catalog as it is now; the check below catches a name that now means
    // another relation.
    absl::StatusOr<int64_t> done = conn->Affected(lock);
    const std::string sqlstate = pg::SqlStateOf(done.status());
    if (!done.ok() && RetryableLockFailure(sqlstate)) {
      locks.refused_ = fmt::format(
          "could not lock every table whose rows the base holds within {} ({}); one was dropped, renamed or "
          "is being rewritten ({}) after the base's snapshot",
          kLockTimeout, done.status().message(), kRewrites);
      return locks;
    }
    if (!done.ok()) {
      return absl::FailedPreconditionError(fmt::format(
          "the source refused to lock the tables a base dumps (as pg_dump does): {} (the role that takes bases "
          "needs SELECT on every table)",
          done.status().message()));
    }
  }
  // Now that the locks are granted, pg_relation_filenode() and to_regclass() read the catalog as it
  // is (the locks took in every committed change to these relations), c.relfilenode as the snapshot
  // saw it. Once they agree, nothing can rewrite them while the locks are held.
  absl::StatusOr<pg::Result> changed = conn->Query(
      std::string("SELECT n.nspname, c.relname, pg_catalog.pg_relation_filenode(c.oid) IS NULL") + kDumpedRelations +
      " AND ((c.relkind = 'r' AND pg_catalog.pg_relation_filenode(c.oid) IS DISTINCT FROM c.relfilenode)"
      "  OR pg_catalog.to_regclass(pg_catalog.format('%I.%I', n.nspname, c.relname)) IS DISTINCT FROM "
      "c.oid::pg_catalog.regclass)"
      " ORDER BY 1, 2 LIMIT 1");
  if (!changed.ok()) return changed.status();
  if (changed->rows() > 0) {
    const std::string name = pg::QuoteIdent(changed->Get(0, 0)) + "." + pg::QuoteIdent(changed->Get(0, 1));
    locks.refused_ = changed->Get(0, 2) == "t"
                         ? fmt::format("table {} was dropped or renamed after the base's snapshot", name)
                         : fmt::format("table {} was rewritten after the base's snapshot ({})", name, kRewrites);
    return locks;
  }
  locks.session_ = *std::move(conn);
  return locks;
}

absl::StatusOr<SnapshotLocks::Handover> SnapshotLocks::Watch(pg::Connection& monitor, const std::string& pg_dump_name) {
  if (!session_.has_value()) return Handover::kHandedOver;
  absl::StatusOr<pg::Result> seen = monitor.Query(
      "SELECT count(DISTINCT l.relation) FILTER (WHERE l.granted),"
      " min(l.relation::pg_catalog.regclass::text) FILTER (WHERE NOT l.granted)"
      " FROM pg_catalog.pg_stat_activity a JOIN pg_catalog.pg_locks l ON l.pid = a.pid"
      " WHERE a.application_name = $1 AND l.locktype = 'relation' AND l.relation = ANY ($2::pg_catalog.oid[])",
      {pg_dump_name, oids_});
  if (!seen.ok()) return seen.status();
  if (!seen->IsNull(0, 1)) {
    session_.reset();
    refused_ = fmt::format(
        "pg_dump queued for its lock on table {} behind a session that asked for it after the base's snapshot "
        "(most likely to rewrite it: {}) and waited for the base's own lock",
        seen->Get(0, 1), kRewrites);
    return Handover::kRefused;
  }
  if (seen->GetString(0, 0) == std::to_string(relations_)) {
    session_.reset();
    return Handover::kHandedOver;
  }
  return Handover::kHolding;
}

absl::StatusOr<pg::Result> SnapshotLocks::ReadAtSnapshot(const std::string& sql) {
  if (!session_.has_value()) return absl::FailedPreconditionError("the snapshot's session was released");
  return session_->Query(sql);
}

}  // namespace pgpitr::wal
