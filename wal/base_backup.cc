#include "wal/base_backup.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include "fmt/format.h"
#include "wal/event_triggers.h"
#include "wal/pg_connection.h"
#include "wal/process.h"
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

// One attempt: the base, or why this attempt's snapshot could not give a consistent one.
struct Attempt {
  std::optional<proto::Base> base;
  std::string refused;
};

absl::StatusOr<Attempt> TakeBaseAt(const Repository& repo, const BaseOptions& options, const Logger& log,
                                   PgConnection& conn, const fs::path& pg_dump, int dump_major, int attempt) {
  const auto wall_start = std::chrono::system_clock::now();
  // The session that will lock the dumped tables is opened first: between the snapshot and the locks
  // a rewrite refuses the snapshot, so nothing slow may happen there.
  absl::StatusOr<PgConnection> lock_session = PgConnection::Connect(options.source, "source");
  if (!lock_session.ok()) return lock_session.status();
  absl::StatusOr<PgConnection> replication = ConnectReplication(options.source);
  if (!replication.ok()) return replication.status();
  std::optional<PgConnection> repl(*std::move(replication));
  // Unique per attempt: a dropped temporary slot may outlive its closed connection for a moment.
  const std::string temp_slot =
      fmt::format("pgpitr_base_{}_{}_{}", getpid(),
                  std::chrono::duration_cast<std::chrono::seconds>(wall_start.time_since_epoch()).count(), attempt);
  // The legacy spelling works from PostgreSQL 10 to today's servers.
  absl::StatusOr<PgResult> created = repl->Query(
      fmt::format("CREATE_REPLICATION_SLOT {} TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT", QuoteIdent(temp_slot)));
  if (!created.ok()) return created.status();
  absl::StatusOr<Lsn> lsn = Lsn::Parse(created->Get(0, 1));
  if (!lsn.ok()) return lsn.status();
  const std::string snapshot = created->GetString(0, 2);
  if (options.after_snapshot) options.after_snapshot();

  // Held until pg_dump holds the same locks; on return before that, destroyed before the slot.
  absl::StatusOr<SnapshotLocks> locks = SnapshotLocks::Take(*std::move(lock_session), snapshot);
  if (!locks.ok()) return locks.status();
  if (!locks->refused().empty()) return Attempt{.base = std::nullopt, .refused = locks->refused()};
  // Read after the locks, so a little late: the base holds every commit stamped before it (and the
  // planner, for a target time between, picks an older base, never a wrong one).
  absl::StatusOr<PgTime> consistent_time = ServerClock(conn);
  if (!consistent_time.ok()) return consistent_time.status();
  if (options.after_lock) options.after_lock();

  proto::Base base;
  base.set_lsn(lsn->value());
  base.set_consistent_time(*consistent_time);
  base.set_start_time(PgTimeFromSystemClock(wall_start));
  base.set_server_version(conn.ParameterStatus("server_version"));
  base.set_pg_dump_version(std::to_string(dump_major));
  base.set_relations_checked(static_cast<uint32_t>(locks->relations()));
  absl::StatusOr<PgResult> db = conn.Query(
      "SELECT current_database(), pg_encoding_to_char(encoding) "
      "FROM pg_database WHERE datname = current_database()");
  if (!db.ok()) return db.status();
  base.set_database(db->GetString(0, 0));
  base.set_encoding(db->GetString(0, 1));
  // The roles the dump's owners and privileges name: those the database's objects depend on, the
  // bootstrap superuser (whose objects are not tracked), and the roles they are members of.
  absl::StatusOr<PgResult> roles = conn.Query(
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
  absl::StatusOr<PgResult> form = conn.Query(
      "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $2) AND EXISTS (SELECT 1 "
      "FROM pg_catalog.pg_publication WHERE pubname = $1 AND puballtables AND NOT pubupdate AND NOT pubdelete)",
      {publication, KeyedPublication(publication)});
  if (!form.ok()) return form.status();
  base.set_keyless_not_captured(form->GetString(0, 0) == "t");
  if (base.keyless_not_captured()) {
    absl::StatusOr<PgResult> keyless = locks->ReadAtSnapshot(TablesWithoutReplicaIdentityQuery());
    if (!keyless.ok()) return keyless.status();
    for (int i = 0; i < keyless->rows(); ++i) base.add_keyless_tables(keyless->GetString(i, 0));
  }
  // Ids sort by LSN: 16 hex digits.
  base.set_id(fmt::format("{:016X}", lsn->value()));
  base.set_dump_file("base.dump");

  absl::StatusOr<fs::path> partial = repo.NewPartialBase(base.id());
  if (!partial.ok()) return partial.status();
  log.Info("base {}: dumping database {} at snapshot {} (LSN {}) with {}", base.id(), base.database(), snapshot,
           lsn->ToString(), pg_dump.string());

  std::map<std::string, std::string> env;
  // Named so its locks can be told apart from everyone else's.
  ConnInfo target = options.source.With("application_name", temp_slot);
  if (auto password = options.source.Get("password")) {
    env["PGPASSWORD"] = *password;  // kept out of the process list
    target = target.Without("password");
  }
  std::vector<std::string> argv = {pg_dump.string(),
                                   "--snapshot=" + snapshot,
                                   "--format=custom",
                                   "--no-publications",
                                   "--no-subscriptions",
                                   // pgpitr's event triggers' functions (the triggers are left out at restore)
                                   std::string("--exclude-schema=") + kEventTriggerSchema,
                                   "--file=" + (*partial / base.dump_file()).string(),
                                   "--dbname=" + target.ToString()};
  // RunProcess polls `stop` while pg_dump runs: the moment to say how much it has written, and to
  // hand the locks over to pg_dump (or stop it when it queues behind a rewrite that waits for them).
  const fs::path dump_path = *partial / base.dump_file();
  SnapshotLocks::Handover handover = SnapshotLocks::Handover::kHolding;
  absl::Status watched;
  auto next_watch = std::chrono::steady_clock::now();
  absl::Status dumped = RunProcess(argv, env, *partial / "pg_dump.log", [&] {
    if (options.progress) {
      std::error_code size_ec;
      const uintmax_t bytes = fs::file_size(dump_path, size_ec);
      options.progress->Report(
          {.phase = "base dump (pg_dump)", .done = size_ec ? 0 : bytes, .total = 0, .unit = "bytes"});
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
  base.set_end_time(PgTimeFromSystemClock(std::chrono::system_clock::now()));
  if (absl::Status s = SyncPath(dump); !s.ok()) return s;
  if (absl::Status s = repo.CommitBase(*partial, base); !s.ok()) return s;
  log.Info("base {}: {} bytes, LSN {}, consistent at {}, {} tables proven not rewritten since the snapshot", base.id(),
           base.size_bytes(), lsn->ToString(), FormatPgTime(base.consistent_time()), base.relations_checked());
  return Attempt{.base = std::move(base), .refused = ""};
}

}  // namespace

absl::StatusOr<proto::Base> TakeBase(const Repository& repo, const BaseOptions& options, const Logger& log) {
  absl::StatusOr<PgConnection> conn = PgConnection::Connect(options.source, "source");
  if (!conn.ok()) return conn.status();
  absl::StatusOr<fs::path> pg_dump = PgTool("pg_dump", conn->server_version(), options.pg_bin_dir);
  if (!pg_dump.ok()) return pg_dump.status();
  absl::StatusOr<int> dump_major = PgToolMajorVersion(*pg_dump);
  if (!dump_major.ok()) return dump_major.status();

  absl::StatusOr<PgResult> slot = conn->Query(
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
    absl::StatusOr<Attempt> taken = TakeBaseAt(repo, options, log, *conn, *pg_dump, *dump_major, attempt);
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
