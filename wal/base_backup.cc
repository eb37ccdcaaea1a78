#include "wal/base_backup.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/str_join.h"
#include "fmt/format.h"
#include "pg/connection.h"
#include "pg/process.h"
#include "wal/catalog_digest.h"
#include "wal/event_triggers.h"
#include "wal/snapshot_locks.h"
#include "wal/source.h"

namespace pgpitr::wal {

namespace fs = std::filesystem;

absl::StatusOr<std::string> Sha256File(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return absl::NotFoundError(fmt::format("cannot read {}", file.string()));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::array<char, 1 << 16> buffer;
  while (in) {
    in.read(buffer.data(), buffer.size());
    EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(in.gcount()));
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest;
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest.data(), &length);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

namespace {

// A base whose snapshot cannot be proven consistent is taken again, this many times in all.
constexpr int kBaseAttempts = 10;
constexpr auto kBaseRetryDelay = std::chrono::milliseconds(300);
// How often, while pg_dump takes its locks, to look whether it holds them all or is stuck.
constexpr auto kLockWatchInterval = std::chrono::milliseconds(100);

// What makes the database not empty, at most a few things ("table public.t", "schema public (comment
// changed)"); no row when it holds nothing pg_dump would dump. Objects of its own have OIDs from
// 16384 up (FirstNormalObjectId) in every per-database catalog with an oid column, read generically
// (query_to_xml runs one SELECT per catalog) so that a catalog of a later major is covered too; pgpitr's
// own schema, event triggers and publications do not count (an enum's labels count through their
// type, large objects below). A server that cannot answer it (a catalog pg_identify_object does not
// know) is taken as not empty: the base is dumped. Below 16384 (initdb's objects): large
// objects (their OIDs may be chosen), privileges that differ from initdb's (pg_init_privs; pg_dump
// dumps those), and the public schema's owner, privileges and comment.
std::string NonEmptyQuery(const std::string& publication) {
  return fmt::format(R"sql(
WITH catalogs AS (
  SELECT c.oid AS classid, c.relname FROM pg_catalog.pg_class c
  WHERE c.relnamespace = 'pg_catalog'::pg_catalog.regnamespace AND c.relkind = 'r' AND NOT c.relisshared
    AND c.relname NOT IN ('pg_enum', 'pg_largeobject_metadata')
    AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                WHERE a.attrelid = c.oid AND a.attname = 'oid' AND NOT a.attisdropped)),
objects AS (
  SELECT k.classid, o.objid::text::pg_catalog.oid AS objid FROM catalogs k,
    LATERAL pg_catalog.unnest(pg_catalog.xpath('//oid/text()', pg_catalog.query_to_xml(pg_catalog.format(
      'SELECT oid FROM pg_catalog.%I WHERE oid >= 16384 ORDER BY oid LIMIT 5', k.relname), false, false, ''))) o(objid)),
found AS (
  SELECT i.type, i.schema, i.name, i.identity, pg_catalog.pg_describe_object(x.classid, x.objid, 0) AS what
  FROM objects x, LATERAL pg_catalog.pg_identify_object(x.classid, x.objid, 0) i)
SELECT what FROM found
WHERE NOT (schema IS NOT DISTINCT FROM {schema} OR (type = 'schema' AND identity = {schema})
           OR (type = 'event trigger' AND name LIKE '\_pgpitr%') OR (type = 'publication' AND name IN ({pub}, {keyed})))
UNION ALL SELECT 'large object ' || oid FROM pg_catalog.pg_largeobject_metadata
UNION ALL
SELECT pg_catalog.pg_describe_object(k.classid, k.objid, 0) || ' (privileges changed)' FROM (
  SELECT 'pg_catalog.pg_class'::pg_catalog.regclass AS classid, oid AS objid, relacl AS acl, relnamespace AS nsp
    FROM pg_catalog.pg_class WHERE oid < 16384
  UNION ALL SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, oid, proacl, pronamespace FROM pg_catalog.pg_proc
    WHERE oid < 16384
  UNION ALL SELECT 'pg_catalog.pg_namespace'::pg_catalog.regclass, oid, nspacl, oid FROM pg_catalog.pg_namespace
    WHERE oid < 16384
  UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, oid, typacl, typnamespace FROM pg_catalog.pg_type
    WHERE oid < 16384
  UNION ALL SELECT 'pg_catalog.pg_language'::pg_catalog.regclass, oid, lanacl, 0 FROM pg_catalog.pg_language
    WHERE oid < 16384
  UNION ALL SELECT 'pg_catalog.pg_foreign_data_wrapper'::pg_catalog.regclass, oid, fdwacl, 0
    FROM pg_catalog.pg_foreign_data_wrapper WHERE oid < 16384
  UNION ALL SELECT 'pg_catalog.pg_foreign_server'::pg_catalog.regclass, oid, srvacl, 0
    FROM pg_catalog.pg_foreign_server WHERE oid < 16384) k
WHERE k.nsp IS DISTINCT FROM 'information_schema'::pg_catalog.regnamespace
  AND k.acl IS DISTINCT FROM (SELECT p.initprivs FROM pg_catalog.pg_init_privs p
                              WHERE p.classoid = k.classid AND p.objoid = k.objid AND p.objsubid = 0)
UNION ALL
SELECT 'schema public (' || w || ')' FROM (
  SELECT CASE WHEN n.nspowner <> 'pg_database_owner'::pg_catalog.regrole THEN 'owner changed'
              WHEN pg_catalog.obj_description(n.oid, 'pg_namespace') IS DISTINCT FROM 'standard public schema'
                THEN 'comment changed' END AS w
  FROM pg_catalog.pg_namespace n WHERE n.nspname = 'public') p WHERE w IS NOT NULL
UNION ALL
SELECT 'schema public (dropped)' WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'public')
LIMIT 3)sql",
                     fmt::arg("schema", pg::QuoteLiteral(pg::kEventTriggerSchema)),
                     fmt::arg("pub", pg::QuoteLiteral(publication)),
                     fmt::arg("keyed", pg::QuoteLiteral(KeyedPublication(publication))));
}

// One attempt: the base, or why this attempt's snapshot could not give a consistent one.
struct Attempt {
  std::optional<proto::Base> base;
  std::string refused;
};

// pg_dump, or why there is none fit for the server (needed only when the database is not empty).
struct Dumper {
  absl::StatusOr<fs::path> path;
  int major = 0;
};

absl::StatusOr<Attempt> TakeBaseAt(const Repository& repo, const BaseOptions& options, const base::Logger& log,
                                   pg::Connection& conn, const Dumper& dumper, int attempt) {
  const auto wall_start = std::chrono::system_clock::now();
  // The session that will lock the dumped tables is opened first: between the snapshot and the locks
  // a rewrite refuses the snapshot, so nothing slow may happen there.
  absl::StatusOr<pg::Connection> lock_session = pg::Connection::Connect(options.source, "source");
  if (!lock_session.ok()) return lock_session.status();
  absl::StatusOr<pg::Connection> replication = ConnectReplication(options.source);
  if (!replication.ok()) return replication.status();
  std::optional<pg::Connection> repl(*std::move(replication));
  // Unique per attempt: a dropped temporary slot may outlive its closed connection for a moment.
  const std::string temp_slot =
      fmt::format("pgpitr_base_{}_{}_{}", getpid(),
                  std::chrono::duration_cast<std::chrono::seconds>(wall_start.time_since_epoch()).count(), attempt);
  // The legacy spelling works from PostgreSQL 10 to today's servers.
  absl::StatusOr<pg::Result> created = repl->Query(
      fmt::format("CREATE_REPLICATION_SLOT {} TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT", pg::QuoteIdent(temp_slot)));
  if (!created.ok()) return created.status();
  absl::StatusOr<pg::Lsn> lsn = pg::Lsn::Parse(created->Get(0, 1));
  if (!lsn.ok()) return lsn.status();
  const std::string snapshot = created->GetString(0, 2);
  if (options.after_snapshot) options.after_snapshot();

  // Held until pg_dump holds the same locks; on return before that, destroyed before the slot.
  absl::StatusOr<SnapshotLocks> locks = SnapshotLocks::Take(*std::move(lock_session), snapshot);
  if (!locks.ok()) return locks.status();
  if (!locks->refused().empty()) return Attempt{.base = std::nullopt, .refused = locks->refused()};
  // Read after the locks, so a little late: the base holds every commit stamped before it (and the
  // planner, for a target time between, picks an older base, never a wrong one).
  absl::StatusOr<pg::PgTime> consistent_time = ServerClock(conn);
  if (!consistent_time.ok()) return consistent_time.status();
  if (options.after_lock) options.after_lock();

  proto::Base base;
  base.set_lsn(lsn->value());
  base.set_consistent_time(*consistent_time);
  base.set_start_time(pg::PgTimeFromSystemClock(wall_start));
  base.set_server_version(conn.ParameterStatus("server_version"));
  base.set_relations_checked(static_cast<uint32_t>(locks->relations()));
  absl::StatusOr<pg::Result> db = conn.Query(
      "SELECT current_database(), pg_encoding_to_char(encoding) "
      "FROM pg_database WHERE datname = current_database()");
  if (!db.ok()) return db.status();
  base.set_database(db->GetString(0, 0));
  base.set_encoding(db->GetString(0, 1));
  // The roles the dump's owners and privileges name: those the database's objects depend on, the
  // bootstrap superuser (whose objects are not tracked), and the roles they are members of.
  absl::StatusOr<pg::Result> roles = conn.Query(
      "WITH named AS (SELECT r.oid, r.rolname FROM pg_catalog.pg_roles r "
      "  WHERE r.rolname !~ '^pg_' AND (r.oid = 10 OR r.oid IN (SELECT s.refobjid FROM pg_catalog.pg_shdepend s "
      "    WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND s.dbid = (SELECT d.oid "
      "      FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())))) "
      "SELECT g.rolname, m.rolname, a.admin_option FROM pg_catalog.pg_auth_members a "
      "  JOIN pg_catalog.pg_roles g ON g.oid = a.roleid JOIN named m ON m.oid = a.member "
      "UNION ALL SELECT NULL, n.rolname, false FROM named n ORDER BY 1 NULLS FIRST, 2");
  if (!roles.ok()) return roles.status();
  std::set<std::string> role_names;
  for (int i = 0; i < roles->rows(); ++i) {
    role_names.insert(roles->GetString(i, 1));
    if (roles->IsNull(i, 0)) continue;
    if (!roles->GetString(i, 0).starts_with("pg_")) role_names.insert(roles->GetString(i, 0));
    proto::Base::RoleMembership* m = base.add_memberships();
    m->set_role(roles->GetString(i, 0));
    m->set_member(roles->GetString(i, 1));
    m->set_admin(roles->GetString(i, 2) == "t");
  }
  for (const std::string& name : role_names) base.add_roles(name);
  // Whether capture's publication is in two: the UPDATE and DELETE of tables without a replica
  // identity are then not captured (the restore reads which tables those are from the base itself).
  absl::StatusOr<proto::CaptureState> state = repo.change_log().State();
  if (!state.ok()) return state.status();
  const std::string publication = state->publication_name().empty() ? "pgpitr" : state->publication_name();
  absl::StatusOr<pg::Result> form = conn.Query(
      "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $2) AND EXISTS (SELECT 1 "
      "FROM pg_catalog.pg_publication WHERE pubname = $1 AND puballtables AND NOT pubupdate AND NOT pubdelete)",
      {publication, KeyedPublication(publication)});
  if (!form.ok()) return form.status();
  base.set_keyless_not_captured(form->GetString(0, 0) == "t");
  if (base.keyless_not_captured()) {
    absl::StatusOr<pg::Result> keyless = locks->ReadAtSnapshot(TablesWithoutReplicaIdentityQuery());
    if (!keyless.ok()) return keyless.status();
    for (int i = 0; i < keyless->rows(); ++i) base.add_keyless_tables(keyless->GetString(i, 0));
  }
  // Large objects at the snapshot: a restore past this base names them (not in the logical stream).
  absl::StatusOr<pg::Result> large_objects =
      locks->ReadAtSnapshot("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_largeobject_metadata)");
  if (!large_objects.ok()) return large_objects.status();
  base.set_has_large_objects(large_objects->Get(0, 0) == "t");
  // The relations as the snapshot saw them, and whether the source's event triggers recorded schema
  // changes then (all of pgpitr's, enabled): without them, a restore checks its relations against
  // these and capture's catalog checks (wal/catalog_digest.h).
  absl::StatusOr<std::vector<proto::RelationDigest>> relations = ReadCatalogDigest(
      [&](const std::string& sql) { return locks->ReadAtSnapshot(sql); }, /*in_transaction=*/true);
  if (!relations.ok()) return relations.status();
  base.set_catalog_digested(true);
  for (proto::RelationDigest& r : *relations) *base.add_relations() = std::move(r);
  absl::StatusOr<pg::Result> triggers = locks->ReadAtSnapshot(fmt::format(
      "SELECT count(*) = 4 FROM pg_catalog.pg_event_trigger WHERE evtname IN ({}, {}, {}, {}) AND evtenabled <> 'D'",
      pg::QuoteLiteral(pg::kDdlEndTrigger), pg::QuoteLiteral(pg::kSqlDropTrigger),
      pg::QuoteLiteral(pg::kTableRewriteTrigger), pg::QuoteLiteral(pg::kDdlStartTrigger)));
  if (!triggers.ok()) return triggers.status();
  base.set_event_triggers(triggers->Get(0, 0) == "t");
  // Ids sort by LSN: 16 hex digits.
  base.set_id(fmt::format("{:016X}", lsn->value()));

  // A database with nothing in it needs no dump: the base is its manifest alone.
  // In a savepoint: a server that refuses the check must not end the transaction that holds the
  // snapshot and the locks pg_dump still needs.
  if (absl::StatusOr<pg::Result> s = locks->ReadAtSnapshot("SAVEPOINT pgpitr_emptiness"); !s.ok()) return s.status();
  absl::StatusOr<pg::Result> non_empty = locks->ReadAtSnapshot(NonEmptyQuery(publication));
  if (!non_empty.ok() && pg::SqlStateOf(non_empty.status()).empty()) return non_empty.status();
  if (absl::StatusOr<pg::Result> s = locks->ReadAtSnapshot(non_empty.ok() ? "RELEASE SAVEPOINT pgpitr_emptiness"
                                                                          : "ROLLBACK TO SAVEPOINT pgpitr_emptiness");
      !s.ok()) {
    return s.status();
  }
  std::vector<std::string> what;
  if (!non_empty.ok()) {
    what.push_back(fmt::format("could not tell ({})", non_empty.status().message()));
  } else {
    for (int i = 0; i < non_empty->rows(); ++i) what.push_back(non_empty->GetString(i, 0));
  }
  if (what.empty()) {
    locks->Release();
    repl.reset();
    base.set_empty(true);
    base.set_end_time(pg::PgTimeFromSystemClock(std::chrono::system_clock::now()));
    absl::StatusOr<fs::path> partial = repo.NewPartialBase(base.id());
    if (!partial.ok()) return partial.status();
    if (absl::Status s = repo.CommitBase(*partial, base); !s.ok()) return s;
    log.Info(
        "base {}: database {} is empty at LSN {} (no object, privilege or large object of its own): an empty "
        "base, no dump needed",
        base.id(), base.database(), lsn->ToString());
    return Attempt{.base = std::move(base), .refused = ""};
  }
  if (!dumper.path.ok()) {
    return absl::Status(
        dumper.path.status().code(),
        fmt::format("{} (the database is not empty, so its base needs pg_dump: {}{})", dumper.path.status().message(),
                    absl::StrJoin(what, ", "), what.size() >= 3 ? ", ..." : ""));
  }
  const fs::path& pg_dump = *dumper.path;
  base.set_pg_dump_version(std::to_string(dumper.major));
  base.set_dump_file("base.dump");

  absl::StatusOr<fs::path> partial = repo.NewPartialBase(base.id());
  if (!partial.ok()) return partial.status();
  log.Info("base {}: dumping database {} at snapshot {} (LSN {}) with {}", base.id(), base.database(), snapshot,
           lsn->ToString(), pg_dump.string());

  std::map<std::string, std::string> env;
  // Named so its locks can be told apart from everyone else's.
  pg::ConnInfo target = options.source.With("application_name", temp_slot);
  if (auto password = options.source.Get("password")) {
    env["PGPASSWORD"] = *password;  // kept out of the process list
    target = target.Without("password");
  }
  std::vector<std::string> argv = {pg_dump.string(), "--snapshot=" + snapshot, "--format=custom", "--no-publications",
                                   "--no-subscriptions",
                                   // pgpitr's event triggers' functions (the triggers are left out at restore)
                                   std::string("--exclude-schema=") + pg::kEventTriggerSchema,
                                   "--file=" + (*partial / base.dump_file()).string(), "--dbname=" + target.ToString()};
  // RunProcess polls `stop` while pg_dump runs: the moment to say how much it has written, and to
  // hand the locks over to pg_dump (or stop it when it queues behind a rewrite that waits for them).
  const fs::path dump_path = *partial / base.dump_file();
  SnapshotLocks::Handover handover = SnapshotLocks::Handover::kHolding;
  absl::Status watched;
  auto next_watch = std::chrono::steady_clock::now();
  absl::Status dumped = pg::RunProcess(argv, env, *partial / "pg_dump.log", [&] {
    if (options.progress) {
      std::error_code size_ec;
      const uintmax_t bytes = fs::file_size(dump_path, size_ec);
      options.progress->Report(
          {.phase = base::Phase::kBaseDump, .done = size_ec ? 0 : bytes, .total = 0, .unit = base::Unit::kBytes});
    }
    if (handover == SnapshotLocks::Handover::kHolding && std::chrono::steady_clock::now() >= next_watch) {
      next_watch = std::chrono::steady_clock::now() + kLockWatchInterval;
      absl::StatusOr<SnapshotLocks::Handover> seen = locks->Watch(conn, temp_slot);
      if (!seen.ok()) {
        watched = seen.status();
        return true;
      }
      handover = *seen;
      if (handover == SnapshotLocks::Handover::kRefused) return true;
    }
    return options.stop && options.stop();
  });
  // pg_dump has ended: it no longer needs the locks, nor the exported snapshot (valid only while the
  // slot's connection stays open), so only now may they go.
  locks->Release();
  repl.reset();
  if (!dumped.ok() || !watched.ok() || handover == SnapshotLocks::Handover::kRefused) {
    std::error_code ec;
    fs::remove_all(*partial, ec);
    if (!watched.ok()) return watched;
    if (handover == SnapshotLocks::Handover::kRefused && !(options.stop && options.stop())) {
      return Attempt{.base = std::nullopt, .refused = locks->refused()};
    }
    return dumped.ok() ? absl::CancelledError("the base dump was stopped") : dumped;
  }
  const fs::path dump = *partial / base.dump_file();
  absl::StatusOr<std::string> sha = Sha256File(dump);
  if (!sha.ok()) return sha.status();
  base.set_sha256(*sha);
  base.set_size_bytes(fs::file_size(dump));
  base.set_end_time(pg::PgTimeFromSystemClock(std::chrono::system_clock::now()));
  if (absl::Status s = SyncPath(dump); !s.ok()) return s;
  if (absl::Status s = repo.CommitBase(*partial, base); !s.ok()) return s;
  log.Info("base {}: {} bytes, LSN {}, consistent at {}, {} tables proven not rewritten since the snapshot", base.id(),
           base.size_bytes(), lsn->ToString(), pg::FormatPgTime(base.consistent_time()), base.relations_checked());
  return Attempt{.base = std::move(base), .refused = ""};
}

}  // namespace

absl::StatusOr<proto::Base> TakeBase(const Repository& repo, const BaseOptions& options, const base::Logger& log) {
  absl::StatusOr<pg::Connection> conn = pg::Connection::Connect(options.source, "source");
  if (!conn.ok()) return conn.status();
  // Looked for now, needed only when the database is not empty.
  Dumper dumper{.path = pg::PgTool("pg_dump", conn->server_version() / 10000,
                                   fmt::format("the server is PostgreSQL {}", conn->server_version() / 10000),
                                   options.pg_bin_dir)};
  if (dumper.path.ok()) {
    absl::StatusOr<int> dump_major = pg::PgToolMajorVersion(*dumper.path);
    if (!dump_major.ok()) return dump_major.status();
    dumper.major = *dump_major;
  }

  absl::StatusOr<pg::Result> slot = conn->Query(
      "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()",
      {options.slot});
  if (!slot.ok()) return slot.status();
  if (slot->rows() == 0) {
    return absl::FailedPreconditionError(
        fmt::format("capture's slot {} does not exist on the source, so changes after a base would be lost: start "
                    "'pgpitr run' first (it creates the slot), or pass the --slot it uses",
                    options.slot));
  }

  // TRUNCATE and table rewrites are not MVCC-safe: one that commits after the snapshot but before
  // pg_dump locks the table makes pg_dump read the new file, and the base would not restore. Such a
  // snapshot is refused and the base taken again at a new one.
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<Attempt> taken = TakeBaseAt(repo, options, log, *conn, dumper, attempt);
    if (!taken.ok()) return taken.status();
    if (taken->base.has_value()) return *std::move(taken->base);
    if (attempt == kBaseAttempts) {
      return absl::UnavailableError(
          fmt::format("no consistent base after {} attempts: {}, so the dump could not hold its rows as of the "
                      "snapshot (take the base again when such rewrites stop, or run them outside the base window)",
                      kBaseAttempts, taken->refused));
    }
    log.Warn(
        "base attempt {} of {} refused: {}, so the dump could not hold its rows as of the snapshot; taking "
        "the base again",
        attempt, kBaseAttempts, taken->refused);
    for (auto waited = std::chrono::milliseconds(0); waited < kBaseRetryDelay; waited += kLockWatchInterval) {
      if (options.stop && options.stop()) return absl::CancelledError("the base dump was stopped");
      std::this_thread::sleep_for(kLockWatchInterval);
    }
  }
}

}  // namespace pgpitr::wal
