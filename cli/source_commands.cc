// `pgpitr mark` and `pgpitr uninstall`: the commands that act on the source itself, through the
// operations wal/source.h offers beside PrepareSource (RecordMark, FindInstalled, DropInstalled).
#include <unistd.h>

#include <iostream>

#include "CLI/CLI.hpp"
#include "base/error.h"
#include "cli/command.h"
#include "fmt/format.h"
#include "pg/connection.h"
#include "pg/lsn.h"
#include "wal/source.h"

namespace pgpitr::cli {

namespace {

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

class MarkCommand final : public Command {
 public:
  explicit MarkCommand(CLI::App& app)
      : Command(app.add_subcommand("mark",
                                   "Record a named restore point in the source's stream (restore with --to-mark "
                                   "NAME).\n  e.g. pgpitr mark before-migration-42 --source 'host=db dbname=app'")) {
    CLI::App* mark = this->app();
    mark->add_option("name", name_, "The restore point's name")->required();
    mark->add_option("--source", source_, "Connection string of the captured database");
    mark->footer("Example:\n  pgpitr mark before-migration-42 --source 'host=db.example.com dbname=app user=pgpitr'");
  }

  void Settle(const Config& settings) override { Fill("--source", source_, settings.source); }

  absl::Status Run(const CommandContext&) override { return Mark(source_, name_); }

 private:
  std::string source_ = DefaultSource(), name_;
};

class UninstallCommand final : public Command {
 public:
  explicit UninstallCommand(CLI::App& app)
      : Command(app.add_subcommand(
            "uninstall",
            "Drop pgpitr's slot and publications on the source: the first thing to do when retiring pgpitr\n"
            "(an abandoned slot keeps WAL on the source forever). e.g. pgpitr uninstall --source 'host=db "
            "dbname=app' --yes")) {
    CLI::App* uninstall = this->app();
    uninstall->add_option("--source", source_, "Connection string of the captured database");
    uninstall->add_option("--slot", slot_, "The slot to drop")->capture_default_str();
    uninstall->add_option("--publication", publication_, "The publication to drop (and NAME_keyed)")
        ->capture_default_str();
    uninstall->add_flag("--yes", yes_, "Do not ask for confirmation");
    uninstall->footer("Example:\n  pgpitr uninstall --source 'host=db.example.com dbname=app user=pgpitr' --yes");
  }

  void Settle(const Config& settings) override {
    Fill("--source", source_, settings.source);
    Fill("--slot", slot_, settings.slot);
    Fill("--publication", publication_, settings.publication);
  }

  absl::Status Run(const CommandContext&) override { return Uninstall(source_, slot_, publication_, yes_); }

 private:
  std::string source_ = DefaultSource(), slot_ = "pgpitr", publication_ = "pgpitr";
  bool yes_ = false;
};

}  // namespace

std::unique_ptr<Command> AddMarkCommand(CLI::App& app) { return std::make_unique<MarkCommand>(app); }
std::unique_ptr<Command> AddUninstallCommand(CLI::App& app) { return std::make_unique<UninstallCommand>(app); }

}  // namespace pgpitr::cli
