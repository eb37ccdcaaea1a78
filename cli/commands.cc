#include "cli/commands.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "restore/planner.h"
#include "restore/restore.h"
#include "rocksdb/version.h"
#include "wal/base_backup.h"
#include "wal/capture.h"
#include "wal/pg_connection.h"
#include "proxy/proxy_server.h"
#include "wal/repository.h"
#include "wal/source.h"
#include "wal/stream_messages.h"

namespace pgpitr::cli {

namespace {

using wal::FormatPgTime;
using wal::Lsn;

constexpr const char* kExitCodes =
    "Exit codes: 0 success, 1 internal error, 2 bad usage or input, 3 source or server unusable, "
    "4 restore target refused, 5 repository damaged.";

// SIGINT and SIGTERM set `stop` from a thread that waits for them, so no handler touches shared
// state. The signals must be blocked before any other thread starts.
class SignalWatcher {
 public:
  explicit SignalWatcher(std::atomic<bool>* stop) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGUSR1);  // used only to wake the watcher at exit
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this, stop] {
      int signal = 0;
      while (sigwait(&set_, &signal) == 0) {
        if (signal == SIGUSR1) return;
        stop->store(true);
      }
    });
  }
  ~SignalWatcher() {
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }

 private:
  sigset_t set_;
  std::thread thread_;
};

// The source when --source is not given: DATABASE_URL if set, else libpq's PG* variables.
std::string DefaultSource() {
  const char* url = std::getenv("DATABASE_URL");
  return url != nullptr ? url : "";
}

absl::StatusOr<wal::ConnInfo> ParseSource(const std::string& text) { return wal::ConnInfo::Parse(text); }

nlohmann::json BaseJson(const proto::Base& base, bool usable) {
  return {{"id", base.id()},
          {"lsn", Lsn(base.lsn()).ToString()},
          {"consistent_time", FormatPgTime(base.consistent_time())},
          {"start_time", FormatPgTime(base.start_time())},
          {"end_time", FormatPgTime(base.end_time())},
          {"size_bytes", base.size_bytes()},
          {"server_version", base.server_version()},
          {"sha256", base.sha256()},
          {"usable", usable}};
}

struct InfoFlags {
  std::string repo;
  std::string source;
  bool json = false;
};

absl::Status Info(const InfoFlags& flags) {
  absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
      wal::Repository::Open(flags.repo, wal::Repository::Mode::kRead);
  if (!repo.ok()) return repo.status();
  absl::StatusOr<proto::CaptureState> state = (*repo)->change_log().State();
  if (!state.ok()) return state.status();
  absl::StatusOr<std::vector<proto::Base>> bases = (*repo)->Bases();
  if (!bases.ok()) return bases.status();
  const restore::RestorableWindow window = restore::ComputeWindow(*bases, *state);
  absl::StatusOr<std::optional<proto::Transaction>> last =
      (*repo)->change_log().LastCommitAtOrBefore(Lsn(~uint64_t{0}));
  if (!last.ok()) return last.status();

  nlohmann::json out;
  out["repository"] = flags.repo;
  out["database"] = state->database();
  out["system_identifier"] = state->system_identifier();
  out["slot"] = state->slot_name();
  out["publication"] = state->publication_name();
  out["log_start_lsn"] = Lsn(state->log_start_lsn()).ToString();
  out["captured_through_lsn"] = Lsn(state->captured_through_lsn()).ToString();
  out["captured_through_time"] = FormatPgTime(state->captured_through_time());
  if (window.empty()) {
    out["window"] = nullptr;
  } else {
    out["window"] = {{"earliest_time", FormatPgTime(window.earliest_time)},
                     {"earliest_lsn", window.earliest_lsn.ToString()},
                     {"latest_time", FormatPgTime(window.latest_time)},
                     {"latest_lsn", window.latest_lsn.ToString()}};
  }
  out["bases"] = nlohmann::json::array();
  for (const auto& b : window.usable_bases) out["bases"].push_back(BaseJson(b, true));
  for (const auto& b : window.unusable_bases) out["bases"].push_back(BaseJson(b, false));
  out["change_log"] = {{"transactions", state->transactions()},
                       {"rows", state->rows()},
                       {"size_bytes", (*repo)->change_log().SizeOnDisk()},
                       {"last_commit_lsn", last->has_value() ? Lsn((*last)->commit_lsn()).ToString() : ""},
                       {"last_commit_time", last->has_value() ? FormatPgTime((*last)->commit_time()) : ""}};
  out["unproxied_schema_changes"] = state->unproxied_schema_changes();
  absl::StatusOr<std::vector<proto::Mark>> marks = (*repo)->change_log().Marks();
  if (!marks.ok()) return marks.status();
  out["marks"] = nlohmann::json::array();
  for (const proto::Mark& m : *marks) {
    out["marks"].push_back({{"name", m.name()},
                            {"commit_lsn", Lsn(m.commit_lsn()).ToString()},
                            {"commit_time", FormatPgTime(m.commit_time())}});
  }
  out["slot_status"] = nullptr;
  if (!flags.source.empty() || std::getenv("DATABASE_URL") != nullptr || std::getenv("PGHOST") != nullptr) {
    absl::StatusOr<wal::ConnInfo> source = ParseSource(flags.source.empty() ? DefaultSource() : flags.source);
    if (!source.ok()) return source.status();
    absl::StatusOr<wal::PgConnection> conn = wal::PgConnection::Connect(*source, "source");
    if (!conn.ok()) return conn.status();
    absl::StatusOr<wal::PgResult> slot = conn->Query(
        "SELECT confirmed_flush_lsn::text, (pg_current_wal_lsn() - confirmed_flush_lsn)::int8, "
        "coalesce(wal_status, ''), active FROM pg_replication_slots WHERE slot_name = $1",
        {state->slot_name().empty() ? "pgpitr" : state->slot_name()});
    if (!slot.ok()) return slot.status();
    if (slot->rows() == 0) {
      out["slot_status"] = {{"exists", false}};
    } else {
      out["slot_status"] = {{"exists", true},
                            {"confirmed_flush_lsn", slot->GetString(0, 0)},
                            {"lag_bytes", std::stoll(slot->GetString(0, 1))},
                            {"wal_status", slot->GetString(0, 2)},
                            {"active", slot->Get(0, 3) == "t"}};
    }
  }

  if (flags.json) {
    std::cout << out.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << fmt::format("repository   {}\n", flags.repo);
  std::cout << fmt::format("source       database {} (cluster {}), slot {}, publication {}\n", state->database(),
                           state->system_identifier(), state->slot_name(), state->publication_name());
  std::cout << fmt::format("window       {}\n",
                           window.empty() ? std::string("none yet (no base the change log covers)") : window.ToString());
  std::cout << fmt::format("captured     through {} ({}); {} transactions, {} rows, {} bytes on disk\n",
                           Lsn(state->captured_through_lsn()).ToString(), FormatPgTime(state->captured_through_time()),
                           state->transactions(), state->rows(), (*repo)->change_log().SizeOnDisk());
  if (!out["slot_status"].is_null()) {
    if (out["slot_status"]["exists"].get<bool>()) {
      std::cout << fmt::format("slot         confirmed {}, lag {} bytes, wal_status {}, {}\n",
                               out["slot_status"]["confirmed_flush_lsn"].get<std::string>(),
                               out["slot_status"]["lag_bytes"].get<int64_t>(),
                               out["slot_status"]["wal_status"].get<std::string>(),
                               out["slot_status"]["active"].get<bool>() ? "active" : "inactive");
    } else {
      std::cout << "slot         missing on the source: capture cannot continue this change log\n";
    }
  }
  if (state->unproxied_schema_changes() > 0) {
    std::cout << fmt::format(
        "warning      {} schema changes reached the stream without passing through the proxy (the last on {} near "
        "LSN {}): restore follows added and dropped columns from the stream, but not defaults, renames or indexes; "
        "connect applications through 'pgpitr run --listen'\n",
        state->unproxied_schema_changes(), state->last_unproxied_relation(),
        Lsn(state->last_unproxied_lsn()).ToString());
  }
  std::cout << fmt::format("marks        {}\n", marks->size());
  for (const proto::Mark& m : *marks) {
    std::cout << fmt::format("  {}  LSN {}  {}\n", m.name(), Lsn(m.commit_lsn()).ToString(), FormatPgTime(m.commit_time()));
  }
  std::cout << fmt::format("bases        {}\n", bases->size());
  for (const auto& b : *bases) {
    const bool usable = std::any_of(window.usable_bases.begin(), window.usable_bases.end(),
                                    [&](const proto::Base& u) { return u.id() == b.id(); });
    std::cout << fmt::format("  {}  LSN {}  consistent {}  {} bytes  PostgreSQL {}{}\n", b.id(), Lsn(b.lsn()).ToString(),
                             FormatPgTime(b.consistent_time()), b.size_bytes(), b.server_version(),
                             usable ? "" : "  (not usable: the change log does not cover it)");
  }
  return absl::OkStatus();
}

// The proxy in front of the source: --listen HOST:PORT, upstream from the source's host and port.
absl::StatusOr<std::unique_ptr<proxy::ProxyServer>> StartProxy(const std::string& listen, const wal::ConnInfo& source,
                                                               const wal::Logger& log) {
  proxy::ProxyOptions options;
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) port = std::atoi(listen.c_str() + colon + 1);
  if (colon == std::string::npos || port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(fmt::format("--listen '{}' is not HOST:PORT (e.g. 127.0.0.1:6432)", listen));
  }
  options.listen_host = listen.substr(0, colon);
  options.listen_port = static_cast<uint16_t>(port);
  const char* env_host = std::getenv("PGHOST");
  const char* env_port = std::getenv("PGPORT");
  std::string host = source.Get("hostaddr").value_or(source.Get("host").value_or(env_host ? env_host : "127.0.0.1"));
  if (host.find(',') != std::string::npos) host = host.substr(0, host.find(','));
  if (host.empty() || host[0] == '/') {
    return absl::InvalidArgumentError(
        "the proxy connects to the source over TCP: give the source a host name or address (host=...)");
  }
  options.upstream_host = host;
  options.upstream_port = static_cast<uint16_t>(std::atoi(source.Get("port").value_or(env_port ? env_port : "5432").c_str()));
  return proxy::ProxyServer::Start(options, log);
}

absl::Status Mark(const std::string& source_text, const std::string& name) {
  if (name.empty() || name.size() > 200) return absl::InvalidArgumentError("a mark needs a name of 1 to 200 characters");
  absl::StatusOr<wal::ConnInfo> source = ParseSource(source_text);
  if (!source.ok()) return source.status();
  absl::StatusOr<wal::PgConnection> conn = wal::PgConnection::Connect(*source, "source");
  if (!conn.ok()) return conn.status();
  // Transactional: the mark is a transaction of its own in the stream, ordered with all others.
  absl::StatusOr<wal::PgResult> r =
      conn->Query("SELECT pg_catalog.pg_logical_emit_message(true, $1, $2)::text", {wal::kMarkMessagePrefix, name});
  if (!r.ok()) return r.status();
  std::cout << fmt::format("mark '{}' recorded at LSN {}; restore to it with --to-mark '{}' once capture has passed it\n",
                           name, r->GetString(0, 0), name);
  return absl::OkStatus();
}

// Drops what pgpitr made on the source: its slot (which otherwise keeps WAL forever) and its
// publication. Asks first on a terminal; elsewhere needs --yes.
absl::Status Uninstall(const std::string& source_text, const std::string& slot, const std::string& publication,
                       bool yes) {
  absl::StatusOr<wal::ConnInfo> source = ParseSource(source_text);
  if (!source.ok()) return source.status();
  absl::StatusOr<wal::PgConnection> conn = wal::PgConnection::Connect(*source, "source");
  if (!conn.ok()) return conn.status();
  absl::StatusOr<wal::PgResult> found = conn->Query(
      "SELECT (SELECT active_pid::text FROM pg_replication_slots WHERE slot_name = $1), "
      "(SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1)::int, "
      "(SELECT count(*) FROM pg_publication WHERE pubname = $2)::int, current_database()",
      {slot, publication});
  if (!found.ok()) return found.status();
  const bool has_slot = found->Get(0, 1) != "0";
  const bool has_publication = found->Get(0, 2) != "0";
  if (!has_slot && !has_publication) {
    std::cout << fmt::format("nothing to remove: no slot {} and no publication {} on database {}\n", slot,
                             publication, found->GetString(0, 3));
    return absl::OkStatus();
  }
  if (!found->IsNull(0, 0)) {
    return absl::FailedPreconditionError(fmt::format(
        "slot {} is in use by the walsender of process {}: stop 'pgpitr run' first", slot, found->GetString(0, 0)));
  }
  if (!yes) {
    if (isatty(STDIN_FILENO) == 0) {
      return absl::InvalidArgumentError("uninstall drops the slot and ends capture for good: pass --yes to confirm");
    }
    std::cout << fmt::format(
        "Drop slot {} and publication {} on database {}? Capture ends here; the repository stays restorable up "
        "to what it holds. [y/N] ",
        slot, publication, found->GetString(0, 3));
    std::cout.flush();
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y" && answer != "yes") {
      return absl::CancelledError("uninstall cancelled; nothing was dropped");
    }
  }
  if (has_slot) {
    if (absl::Status s = conn->Execute("SELECT pg_drop_replication_slot($1)", {slot}); !s.ok()) return s;
    std::cout << fmt::format("dropped slot {}\n", slot);
  }
  if (has_publication) {
    if (absl::Status s = conn->Execute(fmt::format("DROP PUBLICATION {}", wal::QuoteIdent(publication))); !s.ok()) {
      return s;
    }
    std::cout << fmt::format("dropped publication {}\n", publication);
  }
  return absl::OkStatus();
}

// One line of restore progress on a terminal; silent otherwise.
class ProgressLine {
 public:
  ProgressLine() : tty_(isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()) {}
  void Show(const restore::RestoreProgress& p) {
    if (!tty_) return;
    const auto now = std::chrono::steady_clock::now();
    if (p.phase == "replay" && now - last_ < std::chrono::milliseconds(200) &&
        p.transactions_done != p.transactions_total) {
      return;
    }
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    if (p.phase == "replay") {
      std::fprintf(stderr, "\r\033[Kreplay: %llu/%llu transactions, %llu rows (%.0f rows/s)",
                   static_cast<unsigned long long>(p.transactions_done),
                   static_cast<unsigned long long>(p.transactions_total),
                   static_cast<unsigned long long>(p.rows_done), seconds > 0 ? p.rows_done / seconds : 0.0);
    } else {
      if (started_) std::fprintf(stderr, "\n");
      std::fprintf(stderr, "\r\033[K%s...", p.phase.c_str());
      start_ = now;
    }
    started_ = true;
  }
  ~ProgressLine() {
    if (tty_ && started_) std::fprintf(stderr, "\n");
  }

 private:
  bool tty_;
  bool started_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

void PrintError(const absl::Status& status) {
  std::fprintf(stderr, "pgpitr: %s\n", std::string(status.message()).c_str());
}

}  // namespace

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kNotFound:
      return 2;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kCancelled:
      return 3;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kPermissionDenied:
      return 4;
    case absl::StatusCode::kDataLoss:
      return 5;
    default:
      return 1;
  }
}

int RunCli(int argc, char** argv) {
  CLI::App app{
      "pgpitr: point-in-time restore for any PostgreSQL you can reach with a connection string.\n"
      "It captures every committed transaction through logical replication into a local repository, on top of\n"
      "consistent base dumps, and restores to any second (or LSN) inside the window it holds.",
      "pgpitr"};
  app.footer(std::string("\nThe source defaults to $DATABASE_URL, else libpq's PG* variables.\n") + kExitCodes);
  app.set_version_flag("--version", fmt::format("pgpitr {} (libpq {}, RocksDB {}.{}.{})", PGPITR_VERSION,
                                                PQlibVersion(), ROCKSDB_MAJOR, ROCKSDB_MINOR, ROCKSDB_PATCH));
  app.require_subcommand(1);

  // run
  wal::CaptureOptions capture;
  std::string run_source = DefaultSource(), run_repo;
  bool no_first_base = false;
  int sequence_seconds = 1;
  std::string pg_bin;
  CLI::App* run = app.add_subcommand("run", "Capture continuously into a repository until SIGINT/SIGTERM.\n"
                                            "  e.g. pgpitr run --source 'host=db dbname=app user=pgpitr' --repo /var/lib/pgpitr/app");
  run->add_option("--source", run_source, "Connection string of the database to capture (key=value or postgres:// URI)");
  run->add_option("--repo", run_repo, "Repository folder (created when missing)")->required();
  run->add_option("--slot", capture.source_settings.slot, "Logical replication slot to create or reuse")
      ->capture_default_str();
  run->add_option("--publication", capture.source_settings.publication, "Publication (FOR ALL TABLES) to create or reuse")
      ->capture_default_str();
  run->add_flag("--set-replica-identity-full", capture.source_settings.set_replica_identity_full,
                "Set REPLICA IDENTITY FULL on published tables that have no primary key (changes the source's schema)");
  run->add_flag("--no-first-base", no_first_base, "Do not take a base dump when the repository has none");
  run->add_option("--sequence-interval", sequence_seconds, "Seconds between samples of the source's sequences (each also moves the restorable window's end)")
      ->capture_default_str()->check(CLI::Range(1, 3600));
  run->add_option("--pg-bin", pg_bin, "Folder holding pg_dump (default: the newest installed PostgreSQL client)");
  std::string listen;
  run->add_option("--listen", listen,
                  "Also serve the wire-protocol proxy on HOST:PORT (e.g. 127.0.0.1:6432): applications connecting "
                  "through it have their schema changes recorded for restore");

  // backup
  std::string backup_source = DefaultSource(), backup_repo, backup_slot = "pgpitr";
  CLI::App* backup = app.add_subcommand("backup", "Take a consistent base dump now (capture's slot must exist).\n"
                                                  "  e.g. pgpitr backup --source 'host=db dbname=app' --repo /var/lib/pgpitr/app");
  backup->add_option("--source", backup_source, "Connection string of the captured database");
  backup->add_option("--repo", backup_repo, "Repository folder")->required();
  backup->add_option("--slot", backup_slot, "Capture's slot")->capture_default_str();
  backup->add_option("--pg-bin", pg_bin, "Folder holding pg_dump");

  // info
  InfoFlags info;
  CLI::App* info_cmd = app.add_subcommand("info", "Show the restorable window, bases, change log and slot lag.\n"
                                                  "  e.g. pgpitr info --repo /var/lib/pgpitr/app --json");
  info_cmd->add_option("--repo", info.repo, "Repository folder")->required();
  info_cmd->add_option("--source", info.source, "Also report the slot's lag on this source (default: $DATABASE_URL if set)");
  info_cmd->add_flag("--json", info.json, "Print JSON (fields documented in the README)");

  // restore
  restore::RestoreOptions restore_options;
  std::string restore_repo, target, to_time, to_lsn;
  bool latest = false, exclusive = false;
  CLI::App* restore_cmd = app.add_subcommand(
      "restore", "Restore into a database as of a time, an LSN, or the latest captured point.\n"
                 "  e.g. pgpitr restore --repo /var/lib/pgpitr/app --target 'host=db dbname=app_restored' "
                 "--to-time '2026-11-25 10:41:07+00'");
  restore_cmd->add_option("--repo", restore_repo, "Repository folder")->required();
  restore_cmd->add_option("--target", target, "Connection string of the database to restore into (created when missing)")
      ->required();
  auto* t1 = restore_cmd->add_option("--to-time", to_time,
                                     "Restore commits up to this time: '2026-11-25 10:41:07.123456+00' or ISO 8601 with Z");
  auto* t2 = restore_cmd->add_option("--to-lsn", to_lsn, "Restore commits whose commit LSN is at or before this LSN");
  auto* t3 = restore_cmd->add_flag("--latest", latest, "Restore everything captured");
  std::string to_mark;
  auto* t4 = restore_cmd->add_option("--to-mark", to_mark, "Restore up to and including a restore point made by 'pgpitr mark'");
  t1->excludes(t2)->excludes(t3)->excludes(t4);
  t2->excludes(t3)->excludes(t4);
  t3->excludes(t4);
  restore_cmd->add_flag("--exclusive", exclusive, "Leave out a commit exactly at the target");
  restore_cmd->add_flag("--replace-existing", restore_options.replace_existing,
                        "Drop and recreate the target database if it exists and is not empty");
  restore_cmd->add_flag("--no-owner", restore_options.no_owner,
                        "Restore without the source's owners and privileges (when its roles do not exist here)");
  restore_cmd->add_option("--jobs", restore_options.jobs, "Parallel pg_restore jobs")->capture_default_str();
  restore_cmd->add_option("--pg-bin", pg_bin, "Folder holding pg_restore");

  // mark
  std::string mark_source = DefaultSource(), mark_name;
  CLI::App* mark = app.add_subcommand(
      "mark", "Record a named restore point in the source's stream (restore with --to-mark NAME).\n"
              "  e.g. pgpitr mark before-migration-42 --source 'host=db dbname=app'");
  mark->add_option("name", mark_name, "The restore point's name")->required();
  mark->add_option("--source", mark_source, "Connection string of the captured database");

  // uninstall
  std::string uninstall_source = DefaultSource(), uninstall_slot = "pgpitr", uninstall_publication = "pgpitr";
  bool uninstall_yes = false;
  CLI::App* uninstall = app.add_subcommand(
      "uninstall", "Drop pgpitr's slot and publication on the source: the first thing to do when retiring pgpitr\n"
                   "(an abandoned slot keeps WAL on the source forever). e.g. pgpitr uninstall --source 'host=db dbname=app' --yes");
  uninstall->add_option("--source", uninstall_source, "Connection string of the captured database");
  uninstall->add_option("--slot", uninstall_slot, "The slot to drop")->capture_default_str();
  uninstall->add_option("--publication", uninstall_publication, "The publication to drop")->capture_default_str();
  uninstall->add_flag("--yes", uninstall_yes, "Do not ask for confirmation");

  // demo
  bool keep = false;
  CLI::App* demo = app.add_subcommand(
      "demo", "Show a point-in-time restore end to end on a throwaway local PostgreSQL (needs PostgreSQL 15 server "
              "binaries in /usr/lib/postgresql/15/bin).");
  demo->add_flag("--keep", keep, "Leave the throwaway server's folder in place");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  // The repository holds the source's data: files 0600, folders 0700, whatever the umask was.
  umask(077);
  std::atomic<bool> stop{false};
  SignalWatcher signals(&stop);
  const wal::Logger log = wal::Logger::Stderr();
  absl::Status result;

  if (*run) {
    absl::StatusOr<wal::ConnInfo> source = ParseSource(run_source);
    if (!source.ok()) {
      result = source.status();
    } else {
      capture.source = *source;
      capture.first_base = !no_first_base;
      capture.sequence_interval = std::chrono::seconds(sequence_seconds);
      capture.pg_bin_dir = pg_bin;
      absl::StatusOr<std::unique_ptr<proxy::ProxyServer>> proxy_server = nullptr;
      if (!listen.empty()) proxy_server = StartProxy(listen, *source, log);
      absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
          wal::Repository::Open(run_repo, wal::Repository::Mode::kCapture);
      if (!proxy_server.ok()) {
        result = proxy_server.status();
      } else {
        result = repo.ok() ? wal::RunCapture(**repo, capture, stop, log) : repo.status();
      }
    }
  } else if (*backup) {
    absl::StatusOr<wal::ConnInfo> source = ParseSource(backup_source);
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
        wal::Repository::Open(backup_repo, wal::Repository::Mode::kRead);
    if (!source.ok()) {
      result = source.status();
    } else if (!repo.ok()) {
      result = repo.status();
    } else {
      wal::BaseOptions options{.source = *source, .slot = backup_slot, .pg_bin_dir = pg_bin,
                               .stop = [&stop] { return stop.load(); }};
      absl::StatusOr<proto::Base> base = wal::TakeBase(**repo, options, log);
      result = base.status();
      if (base.ok()) {
        std::cout << fmt::format("base {} taken: LSN {}, consistent at {}, {} bytes\n", base->id(),
                                 Lsn(base->lsn()).ToString(), FormatPgTime(base->consistent_time()), base->size_bytes());
      }
    }
  } else if (*info_cmd) {
    result = Info(info);
  } else if (*restore_cmd) {
    absl::StatusOr<wal::ConnInfo> target_info = wal::ConnInfo::Parse(target);
    absl::StatusOr<restore::RestoreTarget> point = restore::RestoreTarget::Latest();
    if (!to_time.empty()) point = restore::RestoreTarget::AtTime(to_time, exclusive);
    else if (!to_lsn.empty()) point = restore::RestoreTarget::AtLsn(to_lsn, exclusive);
    else if (!to_mark.empty()) point = restore::RestoreTarget::AtMark(to_mark, exclusive);
    else if (!latest) {
      point = absl::InvalidArgumentError("say where to restore to: --to-time, --to-lsn, --to-mark or --latest");
    }
    if (!target_info.ok()) {
      result = target_info.status();
    } else if (!point.ok()) {
      result = point.status();
    } else {
      restore_options.repo = restore_repo;
      restore_options.target = *target_info;
      restore_options.point = *point;
      restore_options.pg_bin_dir = pg_bin;
      ProgressLine line;
      absl::StatusOr<restore::RestoreSummary> summary =
          restore::RunRestore(restore_options, log, [&](const restore::RestoreProgress& p) { line.Show(p); });
      result = summary.status();
      if (summary.ok()) std::cout << summary->ToString();
    }
  } else if (*uninstall) {
    result = Uninstall(uninstall_source, uninstall_slot, uninstall_publication, uninstall_yes);
  } else if (*mark) {
    result = Mark(mark_source, mark_name);
  } else if (*demo) {
    result = RunDemo(keep, stop);
  }
  if (!result.ok()) {
    PrintError(result);
    return ExitCodeFor(result);
  }
  return 0;
}

}  // namespace pgpitr::cli
