// `pgpitr restore` and `pgpitr verify`: the commands that read a repository back. They turn flags
// into restore::RestoreOptions, call restore::RunRestore or wal::VerifyRepository, and render.
#include <unistd.h>

#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_join.h"
#include "base/error.h"
#include "cli/command.h"
#include "cli/target_time.h"
#include "fmt/format.h"
#include "pg/connection.h"
#include "pg/lsn.h"
#include "restore/restore.h"
#include "wal/repository.h"
#include "wal/restorable_window.h"
#include "wal/verify.h"

namespace pgpitr::cli {

namespace {

using pg::Lsn;

// A finished restore or replay that may differ from the source: exit code 7, with what differs listed.
absl::Status NotExact(std::string what) {
  return base::WithKind(absl::AbortedError(std::move(what)), base::ErrorKind::kNotExact);
}

class RestoreCommand final : public Command {
 public:
  explicit RestoreCommand(CLI::App& app)
      : Command(app.add_subcommand("restore",
                                   "Restore into a database as of a time, an LSN, or the latest captured point.\n"
                                   "  e.g. pgpitr restore --repo /var/lib/pgpitr/app --target 'host=db "
                                   "dbname=app_restored' --to-time '2026-11-25 10:41:07+00'")) {
    CLI::App* restore = this->app();
    restore->add_option("--repo", repo_, kRepoHelp);
    restore->add_option("--target", target_, "Connection string of the database to restore into (created when missing)")
        ->required();
    auto* t1 = restore->add_option(
        "--to-time", to_time_,
        "Restore commits up to this time: with its offset ('2026-11-25 10:41:07.123456+00:00', "
        "'2026-11-25T11:41:07+01:00', '...Z'), 'now', or a time ago ('-30s', '-15min', '-2h', '-1d', from when the "
        "restore starts; 'now' is usually a moment past what capture has confirmed: --latest restores everything "
        "captured); "
        "a time without an offset is refused (it would depend on the machine's zone)");
    auto* t2 = restore->add_option("--to-lsn", to_lsn_, "Restore commits whose commit LSN is at or before this LSN");
    auto* t3 = restore->add_flag("--latest", latest_, "Restore everything captured");
    auto* t4 =
        restore->add_option("--to-mark", to_mark_, "Restore up to and including a restore point made by 'pgpitr mark'");
    t1->excludes(t2)->excludes(t3)->excludes(t4);
    t2->excludes(t3)->excludes(t4);
    t3->excludes(t4);
    restore->add_flag("--exclusive", exclusive_, "Leave out a commit exactly at the target");
    restore->add_flag("--replace-existing", options_.replace_existing,
                      "Drop and recreate the target database if it exists and is not empty");
    restore->add_flag("--no-owner", options_.no_owner,
                      "Restore without the source's owners and privileges (when its roles do not exist here)");
    restore->add_option("--jobs", options_.jobs, "Parallel pg_restore jobs")->capture_default_str();
    restore->add_flag("--row-by-row", options_.row_by_row,
                      "Replay one statement per captured row change, one target transaction per source "
                      "transaction, instead of each row's net effect in bulk (slower; a fallback)");
    restore->add_option("--pg-bin", options_.pg_bin_dir, "Folder holding pg_restore");
    restore->add_flag("--best-effort", options_.best_effort,
                      "Carry on past a schema change that cannot be replayed, and list every object that may then "
                      "differ from the source (exit code 7); without it such a change stops the restore");
    restore->add_flag("--json", json_,
                      "Print the summary as JSON, with 'exact' and the 'differences' (fields in the README)");
    restore->footer(
        "Examples:\n"
        "  pgpitr restore --repo /var/lib/pgpitr/app --target 'host=db dbname=app_1041 user=postgres' --to-time "
        "'2026-11-25 10:41:07+00:00'\n"
        "  pgpitr restore --repo /var/lib/pgpitr/app --target 'host=db dbname=app_restored' --to-time -15min\n"
        "  pgpitr restore --repo /var/lib/pgpitr/app --target 'host=db dbname=app_restored' --to-mark "
        "before-migration\n"
        "The absolute UTC time a --to-time resolves to is printed before the restore starts.");
  }

  void Settle(const Config& settings) override {
    Fill("--repo", repo_, settings.repo);
    Fill("--pg-bin", options_.pg_bin_dir, settings.pg_bin);
  }

  const std::string* repo() const override { return &repo_; }

  absl::Status Run(const CommandContext& context) override {
    absl::StatusOr<pg::ConnInfo> target = pg::ConnInfo::Parse(target_);
    if (!target.ok()) return target.status();
    // A relative --to-time counts back from now: the moment the restore starts.
    std::optional<TargetTime> resolved;
    if (!to_time_.empty()) {
      absl::StatusOr<TargetTime> time =
          ResolveTargetTime(to_time_, pg::PgTimeFromSystemClock(std::chrono::system_clock::now()));
      if (!time.ok()) return time.status();
      resolved = *time;
    }
    absl::StatusOr<restore::RestoreTarget> point = Point(resolved);
    if (!point.ok()) return point.status();
    options_.repo = repo_;
    options_.target = *target;
    options_.point = *point;
    if (resolved.has_value()) std::cout << "restoring to " << resolved->Echo() << std::endl;  // the user may stop it
    ProgressLine line = StderrProgress();
    absl::StatusOr<restore::RestoreSummary> summary = restore::RunRestore(options_, context.log, &line);
    line.Finish();
    if (!summary.ok()) return summary.status();
    std::cout << (json_ ? summary->ToJson() + "\n" : summary->ToString());
    if (!summary->differences.empty()) {
      return NotExact(fmt::format(
          "error: the restore is NOT exact: {} thing(s) could not be made as on the source; the summary lists what "
          "may differ",
          summary->differences.size()));
    }
    return absl::OkStatus();
  }

 private:
  // The one target the flags name.
  absl::StatusOr<restore::RestoreTarget> Point(const std::optional<TargetTime>& resolved) const {
    if (resolved.has_value()) {
      restore::RestoreTarget at;
      at.kind = restore::RestoreTarget::Kind::kTime;
      at.time = resolved->time;
      at.exclusive = exclusive_;
      return at;
    }
    if (!to_lsn_.empty()) return restore::RestoreTarget::AtLsn(to_lsn_, exclusive_);
    if (!to_mark_.empty()) return restore::RestoreTarget::AtMark(to_mark_, exclusive_);
    if (latest_) return restore::RestoreTarget::Latest();
    return absl::InvalidArgumentError("say where to restore to: --to-time, --to-lsn, --to-mark or --latest");
  }

  restore::RestoreOptions options_;
  std::string repo_, target_, to_time_, to_lsn_, to_mark_;
  bool latest_ = false, exclusive_ = false, json_ = false;
};

// `pgpitr verify [--replay SERVER]`.
class VerifyCommand final : public Command {
 public:
  explicit VerifyCommand(CLI::App& app)
      : Command(app.add_subcommand(
            "verify",
            "Check every base's checksum and every change-log record; report what is damaged and what is still "
            "restorable (exit code 5 when damaged).\n  e.g. pgpitr verify --repo /var/lib/pgpitr/app")) {
    CLI::App* verify = this->app();
    verify->add_option("--repo", repo_, kRepoHelp);
    verify->add_option("--replay", replay_,
                       "Also replay the window to its end: restore its latest point (with --best-effort) into a "
                       "database of its own on this scratch PostgreSQL server (a connection string), drop it, and "
                       "say what may differ (exit code 7 when something may)");
    verify->add_option("--pg-bin", pg_bin_, "Folder holding pg_restore (for --replay)");
    verify->footer(
        "Examples:\n  pgpitr verify --repo /var/lib/pgpitr/app   # exit code 5 when something is damaged\n"
        "  pgpitr verify --repo /var/lib/pgpitr/app --replay 'host=scratch user=postgres'   # 7 when not exact");
  }

  void Settle(const Config& settings) override {
    Fill("--repo", repo_, settings.repo);
    Fill("--pg-bin", pg_bin_, settings.pg_bin);
  }

  const std::string* repo() const override { return &repo_; }

  absl::Status Run(const CommandContext& context) override {
    if (absl::Status s = Check(); !s.ok()) return s;
    return replay_.empty() ? absl::OkStatus() : Replay(context.log);
  }

 private:
  // One line per problem, then the window that is still restorable; damage is kBaseDamaged or
  // kChangeLogDamaged's exit code 5 (a DataLoss status).
  absl::Status Check() const {
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo = wal::Repository::Open(repo_, wal::Repository::Mode::kRead);
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
        read_window.ok() ? *read_window
                         : wal::ComputeRestorableWindow(report->good_bases, report->state, report->breaks);
    std::cout << fmt::format("checked {} bases, {} transactions, {} changes ({} keys)\n", report->bases_checked,
                             report->transactions_checked, report->changes_checked, report->keys_checked);
    std::cout << fmt::format("restorable: {}\n", window.ToString());
    if (report->damaged()) {
      return absl::DataLossError(fmt::format(
          "repository {} is damaged ({} problems, listed above); restore only inside the window shown, and take a "
          "new base ('pgpitr backup') if the newest one is damaged",
          repo_, report->problems.size()));
    }
    std::cout << "ok\n";
    return absl::OkStatus();
  }

  // --replay: the window's latest point restored with --best-effort into a database of its own on
  // the scratch server, dropped after; prints whether it replays exactly to the end and, if not,
  // what may differ (exit code 7).
  absl::Status Replay(const base::Logger& log) const {
    absl::StatusOr<pg::ConnInfo> server = pg::ConnInfo::Parse(replay_);
    if (!server.ok()) return absl::InvalidArgumentError(fmt::format("--replay: {}", server.status().message()));
    const std::string scratch = fmt::format("pgpitr_verify_{}", getpid());
    restore::RestoreOptions options;
    options.repo = repo_;
    options.target = server->With("dbname", scratch);
    options.point = restore::RestoreTarget::Latest();
    options.pg_bin_dir = pg_bin_;
    options.best_effort = true;
    ProgressLine line = StderrProgress();
    line.set_prefix("verify --replay: ");
    absl::StatusOr<restore::RestoreSummary> summary = restore::RunRestore(options, log, &line);
    line.Finish();
    if (!summary.ok()) {
      return base::Reworded(summary.status(),
                            fmt::format("the window does not replay to its end: {}", summary.status().message()));
    }
    // The scratch database goes: connected to the server's own database (or postgres).
    absl::StatusOr<pg::Connection> admin = pg::Connection::Connect(
        server->Get("dbname").value_or("").empty() ? server->With("dbname", "postgres") : *server, "scratch server");
    if (admin.ok()) {
      if (absl::Status s = admin->Execute(fmt::format("DROP DATABASE IF EXISTS {}", pg::QuoteIdent(scratch)));
          !s.ok()) {
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
    if (!summary->differences.empty()) {
      return NotExact("error: the window does not replay exactly to its end: what may differ is listed above");
    }
    return absl::OkStatus();
  }

  std::string repo_, replay_, pg_bin_;
};

}  // namespace

std::unique_ptr<Command> AddRestoreCommand(CLI::App& app) { return std::make_unique<RestoreCommand>(app); }
std::unique_ptr<Command> AddVerifyCommand(CLI::App& app) { return std::make_unique<VerifyCommand>(app); }

}  // namespace pgpitr::cli
