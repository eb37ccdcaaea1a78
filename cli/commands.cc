#include "cli/commands.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "base/error.h"
#include "base/logger.h"
#include "cli/command.h"
#include "cli/config.h"
#include "cli/man_page.h"
#include "fmt/format.h"
#include "pg/connection.h"
#include "rocksdb/version.h"

// Last: only for PG_VERSION_NUM, the libpq headers this build was compiled against.
#include <pg_config.h>

namespace pgpitr::cli {

size_t Command::Given(const char* flag) const { return app_->count(flag); }

std::string DefaultSource() {
  const char* url = std::getenv("DATABASE_URL");
  return url != nullptr ? url : "";
}

absl::StatusOr<pg::ConnInfo> ParseSource(const std::string& text) { return pg::ConnInfo::Parse(text); }

ProgressLine StderrProgress() {
  return ProgressLine(
      isatty(STDERR_FILENO) != 0,
      [](std::string_view text) {
        std::fwrite(text.data(), 1, text.size(), stderr);
        std::fflush(stderr);
      },
      [] { return std::chrono::steady_clock::now(); });
}

namespace {

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
    case base::ErrorKind::kNotExact:
      return ExitCode::kNotExact;
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

  // The commands, in the order --help lists them; each declares, settles and runs itself.
  std::vector<std::unique_ptr<Command>> commands;
  for (auto add : {AddRunCommand, AddBackupCommand, AddInfoCommand, AddRestoreCommand, AddVerifyCommand,
                   AddRetentionCommand, AddMarkCommand, AddUninstallCommand, AddDemoCommand}) {
    commands.push_back(add(app));
  }
  // `pgpitr man`, hidden: the manual page, from the same text as --help (CMake installs it as pgpitr.1).
  AddManCommand(app, PGPITR_VERSION);

  if (inspect) inspect(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  Command* chosen = nullptr;
  for (const std::unique_ptr<Command>& command : commands) {
    if (*command->app()) chosen = command.get();
  }
  // A subcommand is required, and `man` (the one that is no Command) ends the parse itself.
  if (chosen == nullptr) return static_cast<int>(ExitCode::kInternal);

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
  if (app.count("--log-format") == 0 && settings.log_format.has_value()) log_format_word = *settings.log_format;
  if (app.count("--log-level") == 0 && settings.log_level.has_value()) log_level_word = *settings.log_level;
  chosen->Settle(settings);

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
  if (const std::string* repo = chosen->repo(); repo != nullptr && repo->empty()) {
    const absl::Status s = absl::InvalidArgumentError(
        fmt::format("{} needs a repository: --repo DIR (or PGPITR_REPO, or repo = \"DIR\" in the --config file)",
                    chosen->app()->get_name()));
    PrintError(s);
    return ExitCodeFor(s);
  }

  // The repository holds the source's data: files 0600, folders 0700, whatever the umask was.
  umask(077);
  std::atomic<bool> stop{false};
  SignalWatcher signals(&stop);
  const base::Logger log = base::Logger::Stderr(log_options);
  const absl::Status result = chosen->Run({.log = log, .stop = stop});
  if (!result.ok()) {
    PrintError(result);
    return ExitCodeFor(result);
  }
  return 0;
}

}  // namespace pgpitr::cli
