// Command: one `pgpitr` subcommand, declared, settled and run in one place: it declares its flags
// on the parser, takes what --config and PGPITR_* give for the flags the command line left out, and
// runs by calling the layers and rendering what they return. RunCli (commands.cc) only dispatches.
//   std::unique_ptr<Command> restore = AddRestoreCommand(app);   // before app.parse()
//   restore->Settle(settings);  absl::Status s = restore->Run({.log = log, .stop = stop});
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/logger.h"
#include "cli/config.h"
#include "cli/progress.h"
#include "pg/conninfo.h"

namespace CLI {
class App;
}

namespace pgpitr::cli {

// What every command runs with: the process's logger and the flag SIGINT/SIGTERM set.
struct CommandContext {
  const base::Logger& log;
  const std::atomic<bool>& stop;
};

class Command {
 public:
  virtual ~Command() = default;
  Command(const Command&) = delete;
  Command& operator=(const Command&) = delete;

  // The subcommand's parser: true after parsing when it was the one given.
  CLI::App* app() const { return app_; }
  // Takes `settings` (the config file under PGPITR_* variables) for the flags not given.
  virtual void Settle(const Config& settings) { (void)settings; }
  // The repository it works on, checked to be given before it runs; nullptr when it needs none.
  virtual const std::string* repo() const { return nullptr; }
  // Does the work; an error carries the kind ExitCodeOf maps (base/error.h).
  virtual absl::Status Run(const CommandContext& context) = 0;

 protected:
  explicit Command(CLI::App* app) : app_(app) {}

  // Sets `target` from `value` when the flag `flag` was not on the command line.
  template <typename T, typename V>
  void Fill(const char* flag, T& target, const V& value) const {
    if (Given(flag) == 0 && value.has_value()) target = *value;
  }

 private:
  size_t Given(const char* flag) const;

  CLI::App* app_;
};

// Each adds its subcommand to `app` and returns it; their flags live in the object returned.
std::unique_ptr<Command> AddRunCommand(CLI::App& app);        // capture_commands.cc
std::unique_ptr<Command> AddBackupCommand(CLI::App& app);     // capture_commands.cc
std::unique_ptr<Command> AddRestoreCommand(CLI::App& app);    // restore_commands.cc
std::unique_ptr<Command> AddVerifyCommand(CLI::App& app);     // restore_commands.cc
std::unique_ptr<Command> AddInfoCommand(CLI::App& app);       // repository_commands.cc
std::unique_ptr<Command> AddRetentionCommand(CLI::App& app);  // repository_commands.cc
std::unique_ptr<Command> AddMarkCommand(CLI::App& app);       // source_commands.cc
std::unique_ptr<Command> AddUninstallCommand(CLI::App& app);  // source_commands.cc
std::unique_ptr<Command> AddDemoCommand(CLI::App& app);       // demo.cc

// What the commands share.
// --repo may come from PGPITR_REPO or the config file, so it is checked after they are applied.
inline constexpr const char* kRepoHelp = "Repository folder (default: PGPITR_REPO, else repo in the --config file)";
// The source when --source is not given: DATABASE_URL if set, else libpq's PG* variables.
std::string DefaultSource();
absl::StatusOr<pg::ConnInfo> ParseSource(const std::string& text);
// Progress of long work on stderr: one updating line on a terminal, an occasional line elsewhere.
ProgressLine StderrProgress();

}  // namespace pgpitr::cli
