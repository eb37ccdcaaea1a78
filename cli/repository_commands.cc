// `pgpitr info` and `pgpitr retention`: the commands about a repository itself. info renders what
// wal::DescribeRepository gathers (and the slot's health on the source); retention calls wal::RunRetention.
#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "cli/command.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "pg/connection.h"
#include "pg/lsn.h"
#include "pg/time.h"
#include "restore/restore_target.h"
#include "wal/description.h"
#include "wal/repository.h"
#include "wal/restorable_window.h"
#include "wal/retention.h"
#include "wal/slot_health.h"

namespace pgpitr::cli {

namespace {

using pg::FormatPgTime;
using pg::Lsn;

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

class InfoCommand final : public Command {
 public:
  explicit InfoCommand(CLI::App& app)
      : Command(app.add_subcommand("info",
                                   "Show the restorable window, bases, change log and slot lag.\n"
                                   "  e.g. pgpitr info --repo /var/lib/pgpitr/app --json")) {
    CLI::App* info = this->app();
    info->add_option("--repo", flags_.repo, kRepoHelp);
    info->add_option("--source", flags_.source,
                     "Also report the slot's lag on this source (default: $DATABASE_URL if set)");
    info->add_flag("--json", flags_.json, "Print JSON (fields documented in the README)");
    info->footer(
        "Examples:\n  pgpitr info --repo /var/lib/pgpitr/app\n"
        "  pgpitr info --repo /var/lib/pgpitr/app --json --source 'host=db.example.com dbname=app user=pgpitr'");
  }

  void Settle(const Config& settings) override {
    Fill("--repo", flags_.repo, settings.repo);
    Fill("--source", flags_.source, settings.source);
  }

  const std::string* repo() const override { return &flags_.repo; }

  absl::Status Run(const CommandContext&) override { return Info(flags_); }

 private:
  InfoFlags flags_;
};

class RetentionCommand final : public Command {
 public:
  explicit RetentionCommand(CLI::App& app)
      : Command(app.add_subcommand(
            "retention",
            "Delete bases older than the window and the change log only they needed, in a repository no "
            "'pgpitr run' is writing ('run' applies --retention-days itself).\n"
            "  e.g. pgpitr retention --repo /var/lib/pgpitr/app --keep 30d")) {
    CLI::App* retention = this->app();
    retention->add_option("--repo", repo_, kRepoHelp);
    retention->add_option("--keep", keep_, kRetentionHelp)->capture_default_str();
    retention->add_option("--now", now_, "Apply as if it were this time (for tests and dry reasoning)");
    retention->footer("Example:\n  pgpitr retention --repo /var/lib/pgpitr/app --keep 30d");
  }

  void Settle(const Config& settings) override {
    Fill("--repo", repo_, settings.repo);
    Fill("--keep", keep_, settings.retention_days);
  }

  const std::string* repo() const override { return &repo_; }

  absl::Status Run(const CommandContext& context) override { return Retention(repo_, keep_, now_, context.log); }

 private:
  std::string repo_, keep_ = kDefaultRetention, now_;
};

}  // namespace

std::unique_ptr<Command> AddInfoCommand(CLI::App& app) { return std::make_unique<InfoCommand>(app); }
std::unique_ptr<Command> AddRetentionCommand(CLI::App& app) { return std::make_unique<RetentionCommand>(app); }

}  // namespace pgpitr::cli
