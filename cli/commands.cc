#include "cli/commands.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_join.h"
#include "base/error.h"
#include "base/metrics_server.h"
#include "cli/config.h"
#include "cli/man_page.h"
#include "cli/progress.h"
#include "cli/target_time.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "pg/connection.h"
#include "pg/stream_messages.h"
#include "proxy/proxy_server.h"
#include "restore/planner.h"
#include "restore/restore.h"
#include "rocksdb/version.h"
#include "wal/base_backup.h"
#include "wal/base_schedule.h"
#include "wal/capture.h"
#include "wal/capture_metrics.h"
#include "wal/description.h"
#include "wal/repository.h"
#include "wal/restorable_window.h"
#include "wal/retention.h"
#include "wal/slot_health.h"
#include "wal/source.h"
#include "wal/verify.h"

// Last: only for PG_VERSION_NUM, the libpq headers this build was compiled against.
#include <pg_config.h>

namespace pgpitr::cli {

namespace {

using pg::FormatPgTime;
using pg::Lsn;

// --repo may come from PGPITR_REPO or the config file, so it is checked after they are applied.
constexpr const char* kRepoHelp = "Repository folder (default: PGPITR_REPO, else repo in the --config file)";

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

absl::StatusOr<pg::ConnInfo> ParseSource(const std::string& text) { return pg::ConnInfo::Parse(text); }

// Progress of long work on stderr: one updating line on a terminal, an occasional line elsewhere.
ProgressLine StderrProgress() {
  return ProgressLine(
      isatty(STDERR_FILENO) != 0,
      [](std::string_view text) {
        std::fwrite(text.data(), 1, text.size(), stderr);
        std::fflush(stderr);
      },
      [] { return std::chrono::steady_clock::now(); });
}

nlohmann::json BaseJson(const proto::Base& base, bool usable) {
  return {{"id", base.id()},
          {"lsn", Lsn(base.lsn()).ToString()},
          {"consistent_time", FormatPgTime(base.consistent_time())},
          {"start_time", FormatPgTime(base.start_time())},
          {"end_time", FormatPgTime(base.end_time())},
          {"size_bytes", base.size_bytes()},
          {"server_version", base.server_version()},
          {"sha256", base.sha256()},
          {"empty", base.empty()},
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
  absl::StatusOr<wal::RepositoryDescription> described = wal::DescribeRepository(**repo);
  if (!described.ok()) return described.status();
  const wal::RepositoryDescription& d = *described;
  const proto::CaptureState& state = d.state;
  const wal::RestorableWindow& window = d.window;

  nlohmann::json out;
  out["repository"] = flags.repo;
  out["database"] = state.database();
  out["system_identifier"] = state.system_identifier();
  out["slot"] = state.slot_name();
  out["publication"] = state.publication_name();
  out["log_start_lsn"] = Lsn(state.log_start_lsn()).ToString();
  out["captured_through_lsn"] = Lsn(state.captured_through_lsn()).ToString();
  out["captured_through_time"] = FormatPgTime(state.captured_through_time());
  // "window" is the newest stretch (what the metrics export); "stretches" lists every one, oldest first.
  auto stretch_json = [](const wal::RestorableStretch& s) {
    nlohmann::json j = {{"earliest_time", FormatPgTime(s.start_time)},
                        {"earliest_lsn", s.start_lsn.ToString()},
                        {"latest_time", FormatPgTime(s.end_time)},
                        {"latest_lsn", s.end_lsn.ToString()},
                        {"ends_at_gap", nullptr}};
    if (s.ends_at_gap) {
      j["ends_at_gap"] = {{"from_lsn", Lsn(s.ends_at_gap->from_lsn()).ToString()},
                          {"to_lsn", Lsn(s.ends_at_gap->to_lsn()).ToString()},
                          {"reason", s.ends_at_gap->reason()}};
    }
    return j;
  };
  out["window"] = window.empty() ? nlohmann::json(nullptr) : stretch_json(window.newest());
  out["last_base_failure"] =
      d.last_base_failure.has_value()
          ? nlohmann::json{{"time", FormatPgTime(d.last_base_failure->time)}, {"message", d.last_base_failure->message}}
          : nlohmann::json(nullptr);
  out["stretches"] = nlohmann::json::array();
  for (const wal::RestorableStretch& s : window.stretches) out["stretches"].push_back(stretch_json(s));
  out["bases"] = nlohmann::json::array();
  for (const auto& b : d.bases) out["bases"].push_back(BaseJson(b, window.IsUsable(b)));
  const uint64_t log_bytes = d.change_log_bytes;
  // What compression and the key layout achieve: the figure issue 5's storage target is about.
  const double bytes_per_row = d.bytes_per_row();
  out["change_log"] = {
      {"transactions", state.transactions()},
      {"rows", state.rows()},
      {"size_bytes", log_bytes},
      {"bytes_per_row", bytes_per_row},
      {"last_commit_lsn", d.last_commit.has_value() ? Lsn(d.last_commit->commit_lsn()).ToString() : ""},
      {"last_commit_time", d.last_commit.has_value() ? FormatPgTime(d.last_commit->commit_time()) : ""}};
  out["unproxied_schema_changes"] = state.unproxied_schema_changes();
  out["marks"] = nlohmann::json::array();
  for (const proto::Mark& m : d.marks) {
    out["marks"].push_back({{"name", m.name()},
                            {"commit_lsn", Lsn(m.commit_lsn()).ToString()},
                            {"commit_time", FormatPgTime(m.commit_time())}});
  }
  out["slot_status"] = nullptr;
  if (!flags.source.empty() || std::getenv("DATABASE_URL") != nullptr || std::getenv("PGHOST") != nullptr) {
    absl::StatusOr<pg::ConnInfo> source = ParseSource(flags.source.empty() ? DefaultSource() : flags.source);
    if (!source.ok()) return source.status();
    absl::StatusOr<pg::Connection> conn = pg::Connection::Connect(*source, "source");
    if (!conn.ok()) return conn.status();
    absl::StatusOr<wal::SlotHealth> slot = wal::ReadSlotHealth(
        *conn, state.slot_name().empty() ? "pgpitr" : state.slot_name(), state.captured_through_time());
    if (!slot.ok()) return slot.status();
    if (!slot->exists) {
      out["slot_status"] = {{"exists", false}};
    } else {
      out["slot_status"] = {
          {"exists", true},
          {"confirmed_flush_lsn", slot->confirmed_flush.ToString()},
          {"lag_bytes", slot->lag_bytes},
          {"lag_seconds", slot->lag_seconds},
          {"wal_status", slot->wal_status},
          {"safe_wal_size_bytes",
           slot->safe_wal_size.has_value() ? nlohmann::json(*slot->safe_wal_size) : nlohmann::json(nullptr)},
          {"max_slot_wal_keep_size_bytes",
           slot->max_slot_wal_keep.has_value() ? nlohmann::json(*slot->max_slot_wal_keep) : nlohmann::json(nullptr)},
          {"active", slot->active}};
    }
  }

  if (flags.json) {
    std::cout << out.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << fmt::format("repository   {}\n", flags.repo);
  std::cout << fmt::format("source       database {} (cluster {}), slot {}, publication {}\n", state.database(),
                           state.system_identifier(), state.slot_name(), state.publication_name());
  if (window.empty()) {
    std::cout << fmt::format("window       none yet: it begins at the first base the change log covers{}\n",
                             d.last_base_failure.has_value() ? ", and the last base attempt failed (below)" : "");
  }
  for (size_t i = 0; i < window.stretches.size(); ++i) {
    const wal::RestorableStretch& s = window.stretches[i];
    std::cout << fmt::format("{}{}{}\n", i == 0 ? "window       " : "             ", s.ToString(),
                             s.ends_at_gap
                                 ? fmt::format(", then a gap: commits after LSN {} and before {} are missing ({})",
                                               Lsn(s.ends_at_gap->from_lsn()).ToString(),
                                               Lsn(s.ends_at_gap->to_lsn()).ToString(), s.ends_at_gap->reason())
                                 : std::string());
  }
  std::cout << fmt::format(
      "captured     through {} ({}); {} transactions, {} rows, {} bytes on disk ({:.1f} bytes per row)\n",
      Lsn(state.captured_through_lsn()).ToString(), FormatPgTime(state.captured_through_time()), state.transactions(),
      state.rows(), log_bytes, bytes_per_row);
  if (!out["slot_status"].is_null()) {
    if (out["slot_status"]["exists"].get<bool>()) {
      const nlohmann::json& slot = out["slot_status"];
      std::cout << fmt::format("slot         confirmed {}, lag {} bytes ({:.1f} s), wal_status {}, {}{}\n",
                               slot["confirmed_flush_lsn"].get<std::string>(), slot["lag_bytes"].get<int64_t>(),
                               slot["lag_seconds"].get<double>(), slot["wal_status"].get<std::string>(),
                               slot["active"].get<bool>() ? "active" : "inactive",
                               slot["safe_wal_size_bytes"].is_null()
                                   ? std::string()
                                   : fmt::format(", {} bytes of WAL left before max_slot_wal_keep_size",
                                                 slot["safe_wal_size_bytes"].get<int64_t>()));
      if (slot["wal_status"].get<std::string>() == "lost") {
        std::cout << "warning      the slot was invalidated: the next 'pgpitr run' records a gap in the change log, "
                     "starts a new slot and takes a new base\n";
      }
    } else {
      std::cout << "slot         missing on the source: the next 'pgpitr run' records a gap in the change log, "
                   "starts a new slot and takes a new base\n";
    }
  }
  if (state.unproxied_schema_changes() > 0) {
    std::cout << fmt::format(
        "warning      {} schema changes reached the stream unrecorded (the last on {} near LSN {}): restore "
        "follows added and dropped columns from the stream, but not defaults, renames or indexes; run capture as "
        "a superuser (its event triggers record every schema change) or connect applications through 'pgpitr run "
        "--listen'\n",
        state.unproxied_schema_changes(), state.last_unproxied_relation(), Lsn(state.last_unproxied_lsn()).ToString());
  }
  std::cout << fmt::format("marks        {}\n", d.marks.size());
  for (const proto::Mark& m : d.marks) {
    std::cout << fmt::format("  {}  LSN {}  {}\n", m.name(), Lsn(m.commit_lsn()).ToString(),
                             FormatPgTime(m.commit_time()));
  }
  std::cout << fmt::format("bases        {}\n", d.bases.size());
  for (const auto& b : d.bases) {
    const bool usable = window.IsUsable(b);
    std::cout << fmt::format("  {}  LSN {}  consistent {}  {}  PostgreSQL {}{}\n", b.id(), Lsn(b.lsn()).ToString(),
                             FormatPgTime(b.consistent_time()),
                             b.empty() ? std::string("empty (no dump)") : fmt::format("{} bytes", b.size_bytes()),
                             b.server_version(), usable ? "" : "  (not usable: the change log does not cover it)");
  }
  if (d.last_base_failure.has_value()) {
    std::cout << fmt::format("last base    failed at {}: {}\n", FormatPgTime(d.last_base_failure->time),
                             d.last_base_failure->message);
  }
  return absl::OkStatus();
}

// `pgpitr verify --replay SERVER`: the window's latest point restored with --best-effort into a
// database of its own on a scratch server, which is dropped after; prints whether it replays
// exactly to the end and, if not, what may differ. Sets *not_exact when something may.
absl::Status VerifyReplay(const std::string& repo_dir, const std::string& server_text, const std::string& pg_bin,
                          const base::Logger& log, bool* not_exact) {
  absl::StatusOr<pg::ConnInfo> server = pg::ConnInfo::Parse(server_text);
  if (!server.ok()) return absl::InvalidArgumentError(fmt::format("--replay: {}", server.status().message()));
  const std::string scratch = fmt::format("pgpitr_verify_{}", getpid());
  restore::RestoreOptions options;
  options.repo = repo_dir;
  options.target = server->With("dbname", scratch);
  options.point = restore::RestoreTarget::Latest();
  options.pg_bin_dir = pg_bin;
  options.best_effort = true;
  ProgressLine line = StderrProgress();
  line.set_prefix("verify --replay: ");
  absl::StatusOr<restore::RestoreSummary> summary = restore::RunRestore(options, log, &line);
  line.Finish();
  if (!summary.ok()) {
    return absl::Status(summary.status().code(),
                        fmt::format("the window does not replay to its end: {}", summary.status().message()));
  }
  // The scratch database goes: connected to the server's own database (or postgres).
  absl::StatusOr<pg::Connection> admin = pg::Connection::Connect(
      server->Get("dbname").value_or("").empty() ? server->With("dbname", "postgres") : *server, "scratch server");
  if (admin.ok()) {
    if (absl::Status s = admin->Execute(fmt::format("DROP DATABASE IF EXISTS {}", pg::QuoteIdent(scratch))); !s.ok()) {
      log.Warn("could not drop the scratch database {}: {}", scratch, s.message());
    }
  }
  std::cout << fmt::format("replay: {} transactions after base {} replayed to {}, {}\n", summary->transactions,
                           summary->plan.base.id(), summary->plan.reached_lsn.ToString(),
                           summary->differences.empty() ? "exactly" : "NOT exactly");
  for (const restore::Difference& d : summary->differences) {
    std::cout << fmt::format("may differ: {} ({}{}; LSN {})\n", absl::StrJoin(d.objects, ", "), d.reason,
                             d.statement.empty() ? "" : fmt::format("; `{}`", d.statement),
                             Lsn(d.commit_lsn).ToString());
  }
  *not_exact = !summary->differences.empty();
  return absl::OkStatus();
}

// `pgpitr verify`: one line per problem, then the window that is still restorable. DataLoss (exit
// code 5) when anything is damaged.
absl::Status Verify(const std::string& repo_dir) {
  absl::StatusOr<std::unique_ptr<wal::Repository>> repo = wal::Repository::Open(repo_dir, wal::Repository::Mode::kRead);
  if (!repo.ok()) return repo.status();
  ProgressLine line = StderrProgress();
  absl::StatusOr<wal::VerifyReport> report = wal::VerifyRepository(**repo, &line);
  line.Finish();
  if (!report.ok()) return report.status();
  for (const wal::VerifyProblem& p : report->problems) std::cout << "damaged: " << p.what << "\n";
  for (const std::string& note : report->notes) std::cout << "note: " << note << "\n";
  // Damage verify found splits the window as a recorded gap does.
  absl::StatusOr<wal::RestorableWindow> read_window =
      wal::ReadRestorableWindow(report->good_bases, (*repo)->change_log(), report->state, report->breaks);
  const wal::RestorableWindow window =
      read_window.ok() ? *read_window : wal::ComputeRestorableWindow(report->good_bases, report->state, report->breaks);
  std::cout << fmt::format("checked {} bases, {} transactions, {} changes ({} keys)\n", report->bases_checked,
                           report->transactions_checked, report->changes_checked, report->keys_checked);
  std::cout << fmt::format("restorable: {}\n", window.ToString());
  if (report->damaged()) {
    return absl::DataLossError(fmt::format(
        "repository {} is damaged ({} problems, listed above); restore only inside the window shown, and take a new "
        "base ('pgpitr backup') if the newest one is damaged",
        repo_dir, report->problems.size()));
  }
  std::cout << "ok\n";
  return absl::OkStatus();
}

// Crash-safety tests of capture: PGPITR_TEST_CAPTURE_TRACE=FILE appends the name of every fault
// point reached (wal::CaptureOptions::at_fault_point) to FILE, and PGPITR_TEST_CAPTURE_KILL_AT=N
// kills the process with SIGKILL at the N-th (from 1), after tracing it. Unset: no hook at all.
std::function<void(std::string_view)> CaptureFaultsFromEnvironment() {
  const char* trace = std::getenv("PGPITR_TEST_CAPTURE_TRACE");
  const char* kill_at = std::getenv("PGPITR_TEST_CAPTURE_KILL_AT");
  if (trace == nullptr && kill_at == nullptr) return {};
  auto reached = std::make_shared<uint64_t>(0);
  const uint64_t kill_at_point = kill_at != nullptr ? std::strtoull(kill_at, nullptr, 10) : 0;
  const std::string trace_path = trace != nullptr ? trace : "";
  return [reached, kill_at_point, trace_path](std::string_view point) {
    ++*reached;
    if (!trace_path.empty()) {
      std::ofstream out(trace_path, std::ios::app);
      out << *reached << ' ' << point << '\n';
    }
    if (*reached == kill_at_point) ::raise(SIGKILL);
  };
}

// `pgpitr retention`: applies retention to a repository no `run` is writing (run applies it itself).
// PGPITR_TEST_RETENTION_EXIT_AFTER=k ends the process abruptly after step k (crash-safety tests).
absl::Status Retention(const std::string& repo_dir, const std::string& keep, const std::string& now_text,
                       const base::Logger& log) {
  absl::StatusOr<std::optional<std::chrono::milliseconds>> window = ParseRetentionWindow(keep);
  if (!window.ok()) return absl::InvalidArgumentError(fmt::format("--keep: {}", window.status().message()));
  if (!window->has_value()) {
    std::cout << fmt::format("retention {}: keeps everything; nothing deleted\n", keep);
    return absl::OkStatus();
  }
  pg::PgTime now = pg::PgTimeFromSystemClock(std::chrono::system_clock::now());
  if (!now_text.empty()) {
    absl::StatusOr<restore::RestoreTarget> at = restore::RestoreTarget::AtTime(now_text, false);
    if (!at.ok()) return at.status();
    now = at->time;
  }
  absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
      wal::Repository::Open(repo_dir, wal::Repository::Mode::kCapture);
  if (!repo.ok()) return repo.status();
  wal::RetentionOptions options;
  if (const char* exit_after = std::getenv("PGPITR_TEST_RETENTION_EXIT_AFTER")) {
    const int step = std::atoi(exit_after);
    options.after_step = [step](int done) {
      if (done == step) ::_exit(9);
    };
  }
  absl::StatusOr<wal::RetentionResult> result =
      wal::RunRetention(**repo, wal::RetentionPolicy{**window}, now, options, log);
  if (!result.ok()) return result.status();
  std::cout << fmt::format("retention {}: kept {} bases from {} on; deleted {} bases and {} transactions\n", keep,
                           result->plan.keep.size(), FormatPgTime(result->plan.horizon_time),
                           result->plan.remove.size(), result->transactions_deleted);
  return absl::OkStatus();
}

// The proxy in front of the source: --listen HOST:PORT, upstream from the source's host and port.
absl::StatusOr<std::unique_ptr<proxy::ProxyServer>> StartProxy(
    const std::string& listen, const std::string& tls_cert, const std::string& tls_key, const pg::ConnInfo& source,
    std::shared_ptr<const std::atomic<bool>> source_records_ddl, const base::Logger& log) {
  auto env = [](const char* name) {
    const char* value = std::getenv(name);
    return std::string(value != nullptr ? value : "");
  };
  absl::StatusOr<proxy::ProxyOptions> options = proxy::ProxyOptionsFor(
      listen, source,
      {.host = env("PGHOST"), .port = env("PGPORT"), .sslmode = env("PGSSLMODE"), .sslrootcert = env("PGSSLROOTCERT")});
  if (!options.ok()) return options.status();
  options->source_records_ddl = std::move(source_records_ddl);
  options->tls_cert_file = tls_cert;
  options->tls_key_file = tls_key;
  return proxy::ProxyServer::Start(*options, log);
}

absl::Status Mark(const std::string& source_text, const std::string& name) {
  absl::StatusOr<pg::ConnInfo> source = ParseSource(source_text);
  if (!source.ok()) return source.status();
  absl::StatusOr<pg::Connection> conn = pg::Connection::Connect(*source, "source");
  if (!conn.ok()) return conn.status();
  absl::StatusOr<pg::Lsn> at = wal::RecordMark(*conn, name);
  if (!at.ok()) return at.status();
  std::cout << fmt::format(
      "mark '{}' recorded at LSN {}; restore to it with --to-mark '{}' once capture has passed it\n", name,
      at->ToString(), name);
  return absl::OkStatus();
}

// Drops what pgpitr made on the source: its slot (which otherwise keeps WAL forever) and its
// publications. Asks first on a terminal; elsewhere needs --yes.
absl::Status Uninstall(const std::string& source_text, const std::string& slot, const std::string& publication,
                       bool yes) {
  absl::StatusOr<pg::ConnInfo> source = ParseSource(source_text);
  if (!source.ok()) return source.status();
  absl::StatusOr<pg::Connection> conn = pg::Connection::Connect(*source, "source");
  if (!conn.ok()) return conn.status();
  wal::SourceSettings settings;
  settings.slot = slot;
  settings.publication = publication;
  absl::StatusOr<wal::Installed> installed = wal::FindInstalled(*conn, settings);
  if (!installed.ok()) return installed.status();
  if (installed->empty()) {
    std::cout << fmt::format("nothing to remove: no slot {} and no publication {} on database {}\n", slot, publication,
                             installed->database);
    return absl::OkStatus();
  }
  if (!yes && !installed->slot_active_pid) {
    if (isatty(STDIN_FILENO) == 0) {
      return absl::InvalidArgumentError("uninstall drops the slot and ends capture for good: pass --yes to confirm");
    }
    std::cout << fmt::format(
        "Drop slot {} and publication {} on database {}? Capture ends here; the repository stays restorable up "
        "to what it holds. [y/N] ",
        slot, publication, installed->database);
    std::cout.flush();
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y" && answer != "yes") {
      return base::WithKind(absl::CancelledError("uninstall cancelled; nothing was dropped"),
                            base::ErrorKind::kStopped);
    }
  }
  return wal::DropInstalled(*conn, settings, *installed,
                            [](std::string_view what) { std::cout << "dropped " << what << "\n"; });
}

// libpq's version number as people write it: 150020 -> "15.20" (160001 -> "16.1"; 90624 -> "9.6.24").
std::string PgVersionText(int number) {
  if (number >= 100000) return fmt::format("{}.{}", number / 10000, number % 10000);
  return fmt::format("{}.{}.{}", number / 10000, (number / 100) % 100, number % 100);
}

// What --version prints: ours, the PostgreSQL client library built against and the one loaded, RocksDB.
std::string VersionText() {
  return fmt::format("pgpitr {}\nlibpq {} (built with {})\nRocksDB {}.{}.{}", PGPITR_VERSION,
                     PgVersionText(PQlibVersion()), PgVersionText(PG_VERSION_NUM), ROCKSDB_MAJOR, ROCKSDB_MINOR,
                     ROCKSDB_PATCH);
}

void PrintError(const absl::Status& status) {
  std::fprintf(stderr, "pgpitr: %s\n", std::string(status.message()).c_str());
}

}  // namespace

std::string ExitCodesText() {
  return "Exit codes: 0 success, 1 internal error, 2 bad usage or input, 3 source or server unusable, "
         "4 restore target refused, 5 repository damaged, 6 stopped (SIGINT/SIGTERM, or declined), "
         "7 restored (--best-effort) or replayed (verify --replay) not exactly: what may differ is listed.";
}

ExitCode ExitCodeOf(const absl::Status& status) {
  if (status.ok()) return ExitCode::kSuccess;
  switch (base::KindOf(status)) {
    case base::ErrorKind::kUsage:
    case base::ErrorKind::kNothingRestorable:
      return ExitCode::kUsage;
    case base::ErrorKind::kSourceUnusable:
    case base::ErrorKind::kToolMissing:
      return ExitCode::kSourceUnusable;
    case base::ErrorKind::kTargetRefused:
    case base::ErrorKind::kRoleMissing:
      return ExitCode::kTargetRefused;
    case base::ErrorKind::kChangeLogDamaged:
    case base::ErrorKind::kBaseDamaged:
      return ExitCode::kDamaged;
    case base::ErrorKind::kStopped:
      return ExitCode::kStopped;
    case base::ErrorKind::kUnknown:
      break;
  }
  // No kind attached: by the status code.
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kNotFound:
      return ExitCode::kUsage;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kFailedPrecondition:
      return ExitCode::kSourceUnusable;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kPermissionDenied:
      return ExitCode::kTargetRefused;
    case absl::StatusCode::kDataLoss:
      return ExitCode::kDamaged;
    case absl::StatusCode::kCancelled:
      return ExitCode::kStopped;
    default:
      return ExitCode::kInternal;
  }
}

int RunCli(int argc, char** argv, const std::function<void(CLI::App&)>& inspect) {
  CLI::App app{
      "pgpitr: point-in-time restore for any PostgreSQL you can reach with a connection string.\n"
      "It captures every committed transaction through logical replication into a local repository, on top of\n"
      "consistent base dumps, and restores to any second (or LSN) inside the window it holds.",
      "pgpitr"};
  app.footer(std::string("\nThe source defaults to $DATABASE_URL, else libpq's PG* variables.\n") +
             "Times are printed in UTC with their offset (2026-11-25 10:41:07+00:00).\n" + ExitCodesText() +
             "\nExample: pgpitr run --source 'host=db dbname=app user=pgpitr' --repo /var/lib/pgpitr/app");
  app.set_version_flag("--version", VersionText());
  app.require_subcommand(1);
  // Options every command takes, before or after its name.
  app.fallthrough();
  std::string config_path, log_format_word, log_level_word;
  app.add_option("--config", config_path,
                 "TOML file of settings (every key in deploy/pgpitr.toml; default $PGPITR_CONFIG); flags, then "
                 "PGPITR_* variables, override it");
  app.add_option("--log-format", log_format_word, "Logs as 'text' (default) or 'json' (one object a line)");
  app.add_option("--log-level", log_level_word, "Least level logged: debug, info (default), warning, error");

  // run
  wal::CaptureOptions capture;
  std::string run_source, run_repo;
  bool no_first_base = false;
  int sequence_seconds = 1;
  std::string pg_bin;
  CLI::App* run =
      app.add_subcommand("run",
                         "Capture continuously into a repository until SIGINT/SIGTERM.\n"
                         "  e.g. pgpitr run --source 'host=db dbname=app user=pgpitr' --repo /var/lib/pgpitr/app");
  run->add_option("--source", run_source,
                  "Connection string of the database to capture (key=value or postgres:// URI)");
  run->add_option("--repo", run_repo, "Repository folder (created when missing)");
  run->add_option("--slot", capture.source_settings.slot, "Logical replication slot to create or reuse")
      ->capture_default_str();
  run->add_option("--publication", capture.source_settings.publication,
                  "Publication (FOR ALL TABLES) to create or reuse; with the event triggers, beside NAME_keyed for "
                  "the UPDATE and DELETE of the tables with a replica identity")
      ->capture_default_str();
  bool no_event_triggers = false;
  run->add_flag("--no-event-triggers", no_event_triggers,
                "Do not create pgpitr's event triggers on the source (and drop them if an earlier run made them): "
                "schema changes are then recorded only through the proxy (--listen)");
  run->add_flag("--set-replica-identity-full", capture.source_settings.set_replica_identity_full,
                "Set REPLICA IDENTITY FULL on published tables that have no primary key, and (with the event triggers) "
                "on any a later statement leaves without one, so that their UPDATE and DELETE are captured (changes "
                "the source's schema); without it they are not, and restores name those tables");
  run->add_flag("--failover-slot", capture.source_settings.failover_slot,
                "PostgreSQL 17+: make the slot a failover slot (an existing one too), which a standby with "
                "sync_replication_slots = on keeps in step, so that the primary's failover does not lose it");
  run->add_flag("--no-first-base", no_first_base, "Do not take a base dump when the repository has none");
  run->add_option("--sequence-interval", sequence_seconds,
                  "Seconds between samples of the source's sequences (each also moves the restorable window's end)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  run->add_option("--pg-bin", pg_bin, "Folder holding pg_dump (default: the newest installed PostgreSQL client)");
  std::string base_interval = "24h", base_at, retention_days = kDefaultRetention;
  run->add_option("--base-interval", base_interval,
                  "Take a base this often, only when the source had transactions since the last one (e.g. 24h, "
                  "12h, 30min)")
      ->capture_default_str();
  run->add_option("--base-at", base_at, "Take the scheduled bases at this time of day, HH:MM in UTC (e.g. 02:30)");
  run->add_option("--retention-days", retention_days, kRetentionHelp)->capture_default_str();
  std::string metrics_listen;
  run->add_option("--metrics-listen", metrics_listen,
                  "Serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9187; off by default)");
  int slot_check_seconds = 5;
  run->add_option("--slot-check-interval", slot_check_seconds,
                  "Seconds between samples of the slot's lag and wal_status (logged and exported)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  std::string listen, tls_cert, tls_key;
  run->add_option("--listen", listen,
                  "Also serve the wire-protocol proxy on HOST:PORT (e.g. 127.0.0.1:6432): applications connecting "
                  "through it have their schema changes recorded for restore (without it only when the capture role "
                  "may create event triggers, a superuser)");
  run->add_option("--tls-cert", tls_cert,
                  "PEM certificate (chain) the proxy presents to clients asking for TLS, with --tls-key "
                  "(e.g. /etc/pgpitr/proxy.crt); without it clients connect in plain text")
      ->check(CLI::ExistingFile);
  run->add_option("--tls-key", tls_key, "PEM private key of --tls-cert (e.g. /etc/pgpitr/proxy.key)")
      ->check(CLI::ExistingFile);

  // backup
  std::string backup_source = DefaultSource(), backup_repo, backup_slot = "pgpitr";
  CLI::App* backup =
      app.add_subcommand("backup",
                         "Take a consistent base dump now (capture's slot must exist).\n"
                         "  e.g. pgpitr backup --source 'host=db dbname=app' --repo /var/lib/pgpitr/app");
  backup->add_option("--source", backup_source, "Connection string of the captured database");
  backup->add_option("--repo", backup_repo, kRepoHelp);
  backup->add_option("--slot", backup_slot, "Capture's slot")->capture_default_str();
  backup->add_option("--pg-bin", pg_bin, "Folder holding pg_dump");

  // info
  InfoFlags info;
  CLI::App* info_cmd = app.add_subcommand("info",
                                          "Show the restorable window, bases, change log and slot lag.\n"
                                          "  e.g. pgpitr info --repo /var/lib/pgpitr/app --json");
  info_cmd->add_option("--repo", info.repo, kRepoHelp);
  info_cmd->add_option("--source", info.source,
                       "Also report the slot's lag on this source (default: $DATABASE_URL if set)");
  info_cmd->add_flag("--json", info.json, "Print JSON (fields documented in the README)");

  // restore
  restore::RestoreOptions restore_options;
  std::string restore_repo, target, to_time, to_lsn;
  bool latest = false, exclusive = false;
  CLI::App* restore_cmd =
      app.add_subcommand("restore",
                         "Restore into a database as of a time, an LSN, or the latest captured point.\n"
                         "  e.g. pgpitr restore --repo /var/lib/pgpitr/app --target 'host=db dbname=app_restored' "
                         "--to-time '2026-11-25 10:41:07+00'");
  restore_cmd->add_option("--repo", restore_repo, kRepoHelp);
  restore_cmd
      ->add_option("--target", target, "Connection string of the database to restore into (created when missing)")
      ->required();
  auto* t1 = restore_cmd->add_option(
      "--to-time", to_time,
      "Restore commits up to this time: with its offset ('2026-11-25 10:41:07.123456+00:00', "
      "'2026-11-25T11:41:07+01:00', '...Z'), 'now', or a time ago ('-30s', '-15min', '-2h', '-1d', from when the "
      "restore starts; 'now' is usually a moment past what capture has confirmed: --latest restores everything "
      "captured); "
      "a time without an offset is refused (it would depend on the machine's zone)");
  auto* t2 = restore_cmd->add_option("--to-lsn", to_lsn, "Restore commits whose commit LSN is at or before this LSN");
  auto* t3 = restore_cmd->add_flag("--latest", latest, "Restore everything captured");
  std::string to_mark;
  auto* t4 = restore_cmd->add_option("--to-mark", to_mark,
                                     "Restore up to and including a restore point made by 'pgpitr mark'");
  t1->excludes(t2)->excludes(t3)->excludes(t4);
  t2->excludes(t3)->excludes(t4);
  t3->excludes(t4);
  restore_cmd->add_flag("--exclusive", exclusive, "Leave out a commit exactly at the target");
  restore_cmd->add_flag("--replace-existing", restore_options.replace_existing,
                        "Drop and recreate the target database if it exists and is not empty");
  restore_cmd->add_flag("--no-owner", restore_options.no_owner,
                        "Restore without the source's owners and privileges (when its roles do not exist here)");
  restore_cmd->add_option("--jobs", restore_options.jobs, "Parallel pg_restore jobs")->capture_default_str();
  restore_cmd->add_flag("--row-by-row", restore_options.row_by_row,
                        "Replay one statement per captured row change, one target transaction per source "
                        "transaction, instead of each row's net effect in bulk (slower; a fallback)");
  restore_cmd->add_option("--pg-bin", pg_bin, "Folder holding pg_restore");
  restore_cmd->add_flag("--best-effort", restore_options.best_effort,
                        "Carry on past a schema change that cannot be replayed, and list every object that may then "
                        "differ from the source (exit code 7); without it such a change stops the restore");
  bool restore_json = false;
  restore_cmd->add_flag("--json", restore_json,
                        "Print the summary as JSON, with 'exact' and the 'differences' (fields in the README)");

  // verify
  std::string verify_repo;
  CLI::App* verify_cmd = app.add_subcommand(
      "verify",
      "Check every base's checksum and every change-log record; report what is damaged and what is still "
      "restorable (exit code 5 when damaged).\n  e.g. pgpitr verify --repo /var/lib/pgpitr/app");
  verify_cmd->add_option("--repo", verify_repo, kRepoHelp);
  std::string verify_replay;
  verify_cmd->add_option("--replay", verify_replay,
                         "Also replay the window to its end: restore its latest point (with --best-effort) into a "
                         "database of its own on this scratch PostgreSQL server (a connection string), drop it, and "
                         "say what may differ (exit code 7 when something may)");
  verify_cmd->add_option("--pg-bin", pg_bin, "Folder holding pg_restore (for --replay)");

  // retention
  std::string retention_repo, retention_keep = kDefaultRetention, retention_now;
  CLI::App* retention_cmd =
      app.add_subcommand("retention",
                         "Delete bases older than the window and the change log only they needed, in a repository no "
                         "'pgpitr run' is writing ('run' applies --retention-days itself).\n"
                         "  e.g. pgpitr retention --repo /var/lib/pgpitr/app --keep 30d");
  retention_cmd->add_option("--repo", retention_repo, kRepoHelp);
  retention_cmd->add_option("--keep", retention_keep, kRetentionHelp)->capture_default_str();
  retention_cmd->add_option("--now", retention_now, "Apply as if it were this time (for tests and dry reasoning)");

  // mark
  std::string mark_source = DefaultSource(), mark_name;
  CLI::App* mark =
      app.add_subcommand("mark",
                         "Record a named restore point in the source's stream (restore with --to-mark NAME).\n"
                         "  e.g. pgpitr mark before-migration-42 --source 'host=db dbname=app'");
  mark->add_option("name", mark_name, "The restore point's name")->required();
  mark->add_option("--source", mark_source, "Connection string of the captured database");

  // uninstall
  std::string uninstall_source = DefaultSource(), uninstall_slot = "pgpitr", uninstall_publication = "pgpitr";
  bool uninstall_yes = false;
  CLI::App* uninstall = app.add_subcommand(
      "uninstall",
      "Drop pgpitr's slot and publications on the source: the first thing to do when retiring pgpitr\n"
      "(an abandoned slot keeps WAL on the source forever). e.g. pgpitr uninstall --source 'host=db dbname=app' --yes");
  uninstall->add_option("--source", uninstall_source, "Connection string of the captured database");
  uninstall->add_option("--slot", uninstall_slot, "The slot to drop")->capture_default_str();
  uninstall->add_option("--publication", uninstall_publication, "The publication to drop (and NAME_keyed)")
      ->capture_default_str();
  uninstall->add_flag("--yes", uninstall_yes, "Do not ask for confirmation");

  // demo
  bool keep = false;
  CLI::App* demo = app.add_subcommand(
      "demo",
      "Show a point-in-time restore end to end on a throwaway local PostgreSQL (needs PostgreSQL 15 server "
      "binaries in /usr/lib/postgresql/15/bin).");
  demo->add_flag("--keep", keep, "Leave the throwaway server's folder in place");

  // `pgpitr man`, hidden: the manual page, from the same text as --help (CMake installs it as pgpitr.1).
  AddManCommand(app, PGPITR_VERSION);

  // Examples at the end of each command's --help (and in the man page made from it).
  run->footer(
      "Examples:\n"
      "  pgpitr run --source 'host=db.example.com dbname=app user=pgpitr' --repo /var/lib/pgpitr/app\n"
      "  DATABASE_URL='postgres://pgpitr:secret@db.example.com:5432/app?sslmode=require' pgpitr run --repo DIR\n"
      "  pgpitr run --config /etc/pgpitr/app.toml --listen 127.0.0.1:6432 --metrics-listen 127.0.0.1:9187");
  backup->footer(
      "Example:\n  pgpitr backup --source 'host=db.example.com dbname=app user=pgpitr' --repo /var/lib/pgpitr/app");
  info_cmd->footer(
      "Examples:\n  pgpitr info --repo /var/lib/pgpitr/app\n"
      "  pgpitr info --repo /var/lib/pgpitr/app --json --source 'host=db.example.com dbname=app user=pgpitr'");
  restore_cmd->footer(
      "Examples:\n"
      "  pgpitr restore --repo /var/lib/pgpitr/app --target 'host=db dbname=app_1041 user=postgres' --to-time "
      "'2026-11-25 10:41:07+00:00'\n"
      "  pgpitr restore --repo /var/lib/pgpitr/app --target 'host=db dbname=app_restored' --to-time -15min\n"
      "  pgpitr restore --repo /var/lib/pgpitr/app --target 'host=db dbname=app_restored' --to-mark before-migration\n"
      "The absolute UTC time a --to-time resolves to is printed before the restore starts.");
  verify_cmd->footer(
      "Examples:\n  pgpitr verify --repo /var/lib/pgpitr/app   # exit code 5 when something is damaged\n"
      "  pgpitr verify --repo /var/lib/pgpitr/app --replay 'host=scratch user=postgres'   # 7 when not exact");
  retention_cmd->footer("Example:\n  pgpitr retention --repo /var/lib/pgpitr/app --keep 30d");
  mark->footer("Example:\n  pgpitr mark before-migration-42 --source 'host=db.example.com dbname=app user=pgpitr'");
  uninstall->footer("Example:\n  pgpitr uninstall --source 'host=db.example.com dbname=app user=pgpitr' --yes");
  demo->footer("Example:\n  pgpitr demo --keep");
  if (inspect) inspect(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  // Settings not given as flags come from PGPITR_* variables, then from the config file.
  Config settings;
  if (config_path.empty() && std::getenv("PGPITR_CONFIG") != nullptr) config_path = std::getenv("PGPITR_CONFIG");
  if (!config_path.empty()) {
    absl::StatusOr<Config> file = LoadConfigFile(config_path);
    if (!file.ok()) {
      PrintError(file.status());
      return ExitCodeFor(file.status());
    }
    settings = *file;
  }
  settings = Overlay(settings, ConfigFromEnvironment([](const char* name) { return std::getenv(name); }));
  auto fill = [](CLI::App* cmd, const char* flag, auto& target, const auto& value) {
    if (cmd->count(flag) == 0 && value.has_value()) target = *value;
  };
  fill(&app, "--log-format", log_format_word, settings.log_format);
  fill(&app, "--log-level", log_level_word, settings.log_level);
  fill(run, "--source", run_source, settings.source);
  fill(run, "--repo", run_repo, settings.repo);
  fill(run, "--slot", capture.source_settings.slot, settings.slot);
  fill(run, "--publication", capture.source_settings.publication, settings.publication);
  fill(run, "--listen", listen, settings.listen);
  fill(run, "--tls-cert", tls_cert, settings.tls_cert);
  fill(run, "--tls-key", tls_key, settings.tls_key);
  fill(run, "--metrics-listen", metrics_listen, settings.metrics_listen);
  fill(run, "--pg-bin", pg_bin, settings.pg_bin);
  fill(run, "--base-interval", base_interval, settings.base_interval);
  fill(run, "--base-at", base_at, settings.base_at);
  fill(run, "--retention-days", retention_days, settings.retention_days);
  fill(run, "--sequence-interval", sequence_seconds, settings.sequence_interval);
  fill(run, "--slot-check-interval", slot_check_seconds, settings.slot_check_interval);
  fill(run, "--set-replica-identity-full", capture.source_settings.set_replica_identity_full,
       settings.set_replica_identity_full);
  fill(run, "--failover-slot", capture.source_settings.failover_slot, settings.failover_slot);
  if (run->count("--no-first-base") == 0 && settings.first_base.has_value()) no_first_base = !*settings.first_base;
  fill(backup, "--repo", backup_repo, settings.repo);
  fill(info_cmd, "--repo", info.repo, settings.repo);
  fill(restore_cmd, "--repo", restore_repo, settings.repo);
  fill(verify_cmd, "--repo", verify_repo, settings.repo);
  fill(verify_cmd, "--pg-bin", pg_bin, settings.pg_bin);
  fill(retention_cmd, "--repo", retention_repo, settings.repo);
  fill(retention_cmd, "--keep", retention_keep, settings.retention_days);
  fill(backup, "--source", backup_source, settings.source);
  fill(backup, "--slot", backup_slot, settings.slot);
  fill(backup, "--pg-bin", pg_bin, settings.pg_bin);
  fill(info_cmd, "--source", info.source, settings.source);
  fill(restore_cmd, "--pg-bin", pg_bin, settings.pg_bin);
  fill(mark, "--source", mark_source, settings.source);
  fill(uninstall, "--source", uninstall_source, settings.source);
  fill(uninstall, "--slot", uninstall_slot, settings.slot);
  fill(uninstall, "--publication", uninstall_publication, settings.publication);
  base::LogOptions log_options;
  for (const absl::Status& s :
       {log_format_word.empty() ? absl::OkStatus() : base::ParseLogFormat(log_format_word).status(),
        log_level_word.empty() ? absl::OkStatus() : base::ParseLogLevel(log_level_word).status()}) {
    if (!s.ok()) {
      PrintError(s);
      return ExitCodeFor(s);
    }
  }
  if (!log_format_word.empty()) log_options.format = *base::ParseLogFormat(log_format_word);
  if (!log_level_word.empty()) log_options.min_level = *base::ParseLogLevel(log_level_word);
  for (const auto& [cmd, repo_dir] :
       std::initializer_list<std::pair<CLI::App*, const std::string*>>{{run, &run_repo},
                                                                       {backup, &backup_repo},
                                                                       {info_cmd, &info.repo},
                                                                       {restore_cmd, &restore_repo},
                                                                       {verify_cmd, &verify_repo},
                                                                       {retention_cmd, &retention_repo}}) {
    if (*cmd && repo_dir->empty()) {
      const absl::Status s = absl::InvalidArgumentError(
          fmt::format("{} needs a repository: --repo DIR (or PGPITR_REPO, or repo = \"DIR\" in the --config file)",
                      cmd->get_name()));
      PrintError(s);
      return ExitCodeFor(s);
    }
  }

  // The repository holds the source's data: files 0600, folders 0700, whatever the umask was.
  umask(077);
  std::atomic<bool> stop{false};
  SignalWatcher signals(&stop);
  const base::Logger log = base::Logger::Stderr(log_options);
  absl::Status result;

  if (*run) {
    absl::StatusOr<pg::ConnInfo> source = ParseSource(run_source);
    if (!source.ok()) {
      result = source.status();
    } else {
      capture.source = *source;
      capture.first_base = !no_first_base;
      capture.source_settings.event_triggers = !no_event_triggers;
      capture.sequence_interval = std::chrono::seconds(sequence_seconds);
      capture.pg_bin_dir = pg_bin;
      if (absl::StatusOr<std::chrono::milliseconds> interval = wal::ParseDuration(base_interval); !interval.ok()) {
        result = absl::InvalidArgumentError(fmt::format("--base-interval: {}", interval.status().message()));
      } else {
        capture.base_schedule = wal::BaseSchedule();
        capture.base_schedule->interval = *interval;
      }
      if (!base_at.empty()) {
        absl::StatusOr<std::chrono::minutes> at = wal::ParseTimeOfDay(base_at);
        if (at.ok() && capture.base_schedule) capture.base_schedule->at = *at;
        if (!at.ok()) result = absl::InvalidArgumentError(fmt::format("--base-at: {}", at.status().message()));
      }
      if (absl::StatusOr<std::optional<std::chrono::milliseconds>> keep = ParseRetentionWindow(retention_days);
          !keep.ok()) {
        result = absl::InvalidArgumentError(fmt::format("--retention-days: {}", keep.status().message()));
      } else if (keep->has_value()) {
        capture.retention = wal::RetentionPolicy{**keep};
      }
      capture.slot_check_interval = std::chrono::seconds(slot_check_seconds);
      capture.at_fault_point = CaptureFaultsFromEnvironment();
      // Declared before the capture that updates it and the server that reads it.
      base::Metrics metrics;
      absl::StatusOr<std::unique_ptr<base::MetricsServer>> metrics_server = nullptr;
      if (!metrics_listen.empty()) {
        wal::DeclareCaptureMetrics(metrics);
        metrics_server = base::MetricsServer::Start(metrics_listen, &metrics, log);
        capture.metrics = &metrics;
      }
      absl::StatusOr<std::unique_ptr<proxy::ProxyServer>> proxy_server = nullptr;
      if (!listen.empty()) {
        capture.source_settings.source_records_ddl = std::make_shared<std::atomic<bool>>(false);
        proxy_server = StartProxy(listen, tls_cert, tls_key, *source, capture.source_settings.source_records_ddl, log);
      } else if (!tls_cert.empty() || !tls_key.empty()) {
        proxy_server = absl::InvalidArgumentError("--tls-cert and --tls-key are for the proxy: add --listen HOST:PORT");
      }
      // A flag that does not parse must not create the repository.
      absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
          result.ok() ? wal::Repository::Open(run_repo, wal::Repository::Mode::kCapture) : result;
      if (!result.ok()) {
        // a --base-interval, --base-at or --retention-days that does not parse
      } else if (!metrics_server.ok()) {
        result = metrics_server.status();
      } else if (!proxy_server.ok()) {
        result = proxy_server.status();
      } else {
        result = repo.ok() ? wal::RunCapture(**repo, capture, stop, log) : repo.status();
      }
    }
  } else if (*backup) {
    absl::StatusOr<pg::ConnInfo> source = ParseSource(backup_source);
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
        wal::Repository::Open(backup_repo, wal::Repository::Mode::kRead);
    if (!source.ok()) {
      result = source.status();
    } else if (!repo.ok()) {
      result = repo.status();
    } else {
      ProgressLine line = StderrProgress();
      wal::BaseOptions options{.source = *source,
                               .slot = backup_slot,
                               .pg_bin_dir = pg_bin,
                               .stop = [&stop] { return stop.load(); },
                               .progress = &line};
      absl::StatusOr<proto::Base> base = wal::TakeBase(**repo, options, log);
      line.Finish();
      result = base.status();
      if (base.ok()) {
        std::cout << fmt::format("base {} taken: LSN {}, consistent at {}, {}\n", base->id(),
                                 Lsn(base->lsn()).ToString(), FormatPgTime(base->consistent_time()),
                                 base->empty() ? std::string("empty (the database holds nothing yet: no dump)")
                                               : fmt::format("{} bytes", base->size_bytes()));
      }
    }
  } else if (*verify_cmd) {
    result = Verify(verify_repo);
    bool not_exact = false;
    if (result.ok() && !verify_replay.empty())
      result = VerifyReplay(verify_repo, verify_replay, pg_bin, log, &not_exact);
    if (result.ok() && not_exact) {
      std::cerr << "pgpitr: error: the window does not replay exactly to its end: what may differ is listed above"
                << std::endl;
      return static_cast<int>(ExitCode::kNotExact);
    }
  } else if (*retention_cmd) {
    result = Retention(retention_repo, retention_keep, retention_now, log);
  } else if (*info_cmd) {
    result = Info(info);
  } else if (*restore_cmd) {
    absl::StatusOr<pg::ConnInfo> target_info = pg::ConnInfo::Parse(target);
    absl::StatusOr<restore::RestoreTarget> point = restore::RestoreTarget::Latest();
    // A relative --to-time counts back from now: the moment the restore starts.
    const absl::StatusOr<TargetTime> resolved =
        to_time.empty() ? absl::StatusOr<TargetTime>(TargetTime{})
                        : ResolveTargetTime(to_time, pg::PgTimeFromSystemClock(std::chrono::system_clock::now()));
    if (!to_time.empty() && !resolved.ok())
      point = resolved.status();
    else if (!to_time.empty())
      point = [&] {
        restore::RestoreTarget at;
        at.kind = restore::RestoreTarget::Kind::kTime;
        at.time = resolved->time;
        at.exclusive = exclusive;
        return at;
      }();
    else if (!to_lsn.empty())
      point = restore::RestoreTarget::AtLsn(to_lsn, exclusive);
    else if (!to_mark.empty())
      point = restore::RestoreTarget::AtMark(to_mark, exclusive);
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
      if (!to_time.empty()) {
        std::cout << "restoring to " << resolved->Echo() << std::endl;  // before the work: the user may stop it
      }
      ProgressLine line = StderrProgress();
      absl::StatusOr<restore::RestoreSummary> summary = restore::RunRestore(restore_options, log, &line);
      line.Finish();
      result = summary.status();
      if (summary.ok()) std::cout << (restore_json ? summary->ToJson() + "\n" : summary->ToString());
      if (summary.ok() && !summary->differences.empty()) {
        std::cerr << "pgpitr: error: the restore is NOT exact: " << summary->differences.size()
                  << " thing(s) could not be made as on the source; the summary lists what may differ" << std::endl;
        return static_cast<int>(ExitCode::kNotExact);
      }
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
