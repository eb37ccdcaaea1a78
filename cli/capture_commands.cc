// `pgpitr run` and `pgpitr backup`: the commands that write a repository from a source. They turn
// flags into wal::CaptureOptions and wal::BaseOptions; the proxy and the metrics endpoint start here.
#include <signal.h>

#include <fstream>
#include <iostream>

#include "CLI/CLI.hpp"
#include "base/metrics_server.h"
#include "cli/command.h"
#include "fmt/format.h"
#include "pg/lsn.h"
#include "pg/time.h"
#include "proxy/proxy_server.h"
#include "wal/base_backup.h"
#include "wal/base_schedule.h"
#include "wal/capture.h"
#include "wal/capture_metrics.h"
#include "wal/repository.h"

namespace pgpitr::cli {

namespace {

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

// The proxy in front of the source: --listen HOST:PORT, upstream from the source's host and port.
absl::StatusOr<std::unique_ptr<proxy::ProxyServer>> StartProxy(
    const std::string& listen, const std::string& tls_cert, const std::string& tls_key, const pg::ConnInfo& source,
    std::shared_ptr<const std::atomic<bool>> source_records_ddl,
    std::shared_ptr<const std::atomic<bool>> source_runs_plpgsql, bool identity_full, const base::Logger& log) {
  auto env = [](const char* name) {
    const char* value = std::getenv(name);
    return std::string(value != nullptr ? value : "");
  };
  absl::StatusOr<proxy::ProxyOptions> options = proxy::ProxyOptionsFor(
      listen, source,
      {.host = env("PGHOST"), .port = env("PGPORT"), .sslmode = env("PGSSLMODE"), .sslrootcert = env("PGSSLROOTCERT")});
  if (!options.ok()) return options.status();
  options->source_records_ddl = std::move(source_records_ddl);
  options->source_runs_plpgsql = std::move(source_runs_plpgsql);
  options->identity_full = identity_full;
  options->tls_cert_file = tls_cert;
  options->tls_key_file = tls_key;
  return proxy::ProxyServer::Start(*options, log);
}

class RunCommand final : public Command {
 public:
  explicit RunCommand(CLI::App& app)
      : Command(app.add_subcommand("run",
                                   "Capture continuously into a repository until SIGINT/SIGTERM.\n"
                                   "  e.g. pgpitr run --source 'host=db dbname=app user=pgpitr' --repo "
                                   "/var/lib/pgpitr/app")) {
    CLI::App* run = this->app();
    wal::SourceSettings& source_settings = capture_.source_settings;
    run->add_option("--source", source_, "Connection string of the database to capture (key=value or postgres:// URI)");
    run->add_option("--repo", repo_, "Repository folder (created when missing)");
    run->add_option("--slot", source_settings.slot, "Logical replication slot to create or reuse")
        ->capture_default_str();
    run->add_option("--publication", source_settings.publication,
                    "Publication (FOR ALL TABLES) to create or reuse; with the event triggers, beside NAME_keyed for "
                    "the UPDATE and DELETE of the tables with a replica identity")
        ->capture_default_str();
    run->add_flag("--no-event-triggers", no_event_triggers_,
                  "Do not create pgpitr's event triggers on the source (and drop them if an earlier run made them): "
                  "schema changes are then recorded only through the proxy (--listen)");
    run->add_flag("--set-replica-identity-full", source_settings.set_replica_identity_full,
                  "Set REPLICA IDENTITY FULL on published tables that have no primary key, and (with the event "
                  "triggers, or through the proxy) on any a later statement leaves without one, so that their "
                  "UPDATE and DELETE are captured (changes the source's schema); without it they are not, and "
                  "restores name those tables");
    run->add_flag("--failover-slot", source_settings.failover_slot,
                  "PostgreSQL 17+: make the slot a failover slot (an existing one too), which a standby with "
                  "sync_replication_slots = on keeps in step, so that the primary's failover does not lose it");
    run->add_flag("--no-first-base", no_first_base_, "Do not take a base dump when the repository has none");
    run->add_option("--sequence-interval", sequence_seconds_,
                    "Seconds between samples of the source's sequences (each also moves the restorable window's end)")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600));
    run->add_option("--pg-bin", pg_bin_, "Folder holding pg_dump (default: the newest installed PostgreSQL client)");
    run->add_option("--base-interval", base_interval_,
                    "Take a base this often, only when the source had transactions since the last one (e.g. 24h, "
                    "12h, 30min)")
        ->capture_default_str();
    run->add_option("--base-at", base_at_, "Take the scheduled bases at this time of day, HH:MM in UTC (e.g. 02:30)");
    run->add_option("--retention-days", retention_days_, kRetentionHelp)->capture_default_str();
    run->add_option("--metrics-listen", metrics_listen_,
                    "Serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9187; off by default)");
    run->add_option("--slot-check-interval", slot_check_seconds_,
                    "Seconds between samples of the slot's lag and wal_status (logged and exported)")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600));
    run->add_option("--listen", listen_,
                    "Also serve the wire-protocol proxy on HOST:PORT (e.g. 127.0.0.1:6432): applications connecting "
                    "through it have their schema changes recorded for restore (without it only when the capture "
                    "role may create event triggers, a superuser)");
    run->add_option("--tls-cert", tls_cert_,
                    "PEM certificate (chain) the proxy presents to clients asking for TLS, with --tls-key "
                    "(e.g. /etc/pgpitr/proxy.crt); without it clients connect in plain text")
        ->check(CLI::ExistingFile);
    run->add_option("--tls-key", tls_key_, "PEM private key of --tls-cert (e.g. /etc/pgpitr/proxy.key)")
        ->check(CLI::ExistingFile);
    run->footer(
        "Examples:\n"
        "  pgpitr run --source 'host=db.example.com dbname=app user=pgpitr' --repo /var/lib/pgpitr/app\n"
        "  DATABASE_URL='postgres://pgpitr:secret@db.example.com:5432/app?sslmode=require' pgpitr run --repo DIR\n"
        "  pgpitr run --config /etc/pgpitr/app.toml --listen 127.0.0.1:6432 --metrics-listen 127.0.0.1:9187");
  }

  void Settle(const Config& settings) override {
    wal::SourceSettings& source_settings = capture_.source_settings;
    Fill("--source", source_, settings.source);
    Fill("--repo", repo_, settings.repo);
    Fill("--slot", source_settings.slot, settings.slot);
    Fill("--publication", source_settings.publication, settings.publication);
    Fill("--listen", listen_, settings.listen);
    Fill("--tls-cert", tls_cert_, settings.tls_cert);
    Fill("--tls-key", tls_key_, settings.tls_key);
    Fill("--metrics-listen", metrics_listen_, settings.metrics_listen);
    Fill("--pg-bin", pg_bin_, settings.pg_bin);
    Fill("--base-interval", base_interval_, settings.base_interval);
    Fill("--base-at", base_at_, settings.base_at);
    Fill("--retention-days", retention_days_, settings.retention_days);
    Fill("--sequence-interval", sequence_seconds_, settings.sequence_interval);
    Fill("--slot-check-interval", slot_check_seconds_, settings.slot_check_interval);
    Fill("--set-replica-identity-full", source_settings.set_replica_identity_full, settings.set_replica_identity_full);
    Fill("--failover-slot", source_settings.failover_slot, settings.failover_slot);
    if (settings.first_base.has_value()) {
      std::optional<bool> no_first_base = !*settings.first_base;
      Fill("--no-first-base", no_first_base_, no_first_base);
    }
  }

  const std::string* repo() const override { return &repo_; }

  absl::Status Run(const CommandContext& context) override {
    absl::StatusOr<pg::ConnInfo> source = ParseSource(source_);
    if (!source.ok()) return source.status();
    // A flag that does not parse must not create the repository: all are checked first.
    if (absl::Status s = Complete(*source); !s.ok()) return s;
    // Declared before the capture that updates it and the server that reads it.
    base::Metrics metrics;
    std::unique_ptr<base::MetricsServer> metrics_server;
    if (!metrics_listen_.empty()) {
      wal::DeclareCaptureMetrics(metrics);
      absl::StatusOr<std::unique_ptr<base::MetricsServer>> started =
          base::MetricsServer::Start(metrics_listen_, &metrics, context.log);
      if (!started.ok()) return started.status();
      metrics_server = *std::move(started);
      capture_.metrics = &metrics;
    }
    std::unique_ptr<proxy::ProxyServer> proxy_server;
    if (!listen_.empty()) {
      capture_.source_settings.source_records_ddl = std::make_shared<std::atomic<bool>>(false);
      capture_.source_settings.source_runs_plpgsql = std::make_shared<std::atomic<bool>>(true);
      absl::StatusOr<std::unique_ptr<proxy::ProxyServer>> started =
          StartProxy(listen_, tls_cert_, tls_key_, *source, capture_.source_settings.source_records_ddl,
                     capture_.source_settings.source_runs_plpgsql, capture_.source_settings.set_replica_identity_full,
                     context.log);
      if (!started.ok()) return started.status();
      proxy_server = *std::move(started);
    }
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
        wal::Repository::Open(repo_, wal::Repository::Mode::kCapture);
    if (!repo.ok()) return repo.status();
    return wal::RunCapture(**repo, capture_, context.stop, context.log);
  }

 private:
  // capture_ from the flags, every one checked.
  absl::Status Complete(const pg::ConnInfo& source) {
    capture_.source = source;
    capture_.first_base = !no_first_base_;
    capture_.source_settings.event_triggers = !no_event_triggers_;
    capture_.sequence_interval = std::chrono::seconds(sequence_seconds_);
    capture_.slot_check_interval = std::chrono::seconds(slot_check_seconds_);
    capture_.pg_bin_dir = pg_bin_;
    capture_.at_fault_point = CaptureFaultsFromEnvironment();
    absl::StatusOr<std::chrono::milliseconds> interval = wal::ParseDuration(base_interval_);
    if (!interval.ok()) {
      return absl::InvalidArgumentError(fmt::format("--base-interval: {}", interval.status().message()));
    }
    capture_.base_schedule = wal::BaseSchedule();
    capture_.base_schedule->interval = *interval;
    if (!base_at_.empty()) {
      absl::StatusOr<std::chrono::minutes> at = wal::ParseTimeOfDay(base_at_);
      if (!at.ok()) return absl::InvalidArgumentError(fmt::format("--base-at: {}", at.status().message()));
      capture_.base_schedule->at = *at;
    }
    absl::StatusOr<std::optional<std::chrono::milliseconds>> keep = ParseRetentionWindow(retention_days_);
    if (!keep.ok()) return absl::InvalidArgumentError(fmt::format("--retention-days: {}", keep.status().message()));
    if (keep->has_value()) capture_.retention = wal::RetentionPolicy{**keep};
    if (listen_.empty() && (!tls_cert_.empty() || !tls_key_.empty())) {
      return absl::InvalidArgumentError("--tls-cert and --tls-key are for the proxy: add --listen HOST:PORT");
    }
    return absl::OkStatus();
  }

  wal::CaptureOptions capture_;
  std::string source_, repo_, pg_bin_;
  bool no_first_base_ = false, no_event_triggers_ = false;
  int sequence_seconds_ = 1, slot_check_seconds_ = 5;
  std::string base_interval_ = "24h", base_at_, retention_days_ = kDefaultRetention;
  std::string metrics_listen_, listen_, tls_cert_, tls_key_;
};

class BackupCommand final : public Command {
 public:
  explicit BackupCommand(CLI::App& app)
      : Command(app.add_subcommand("backup",
                                   "Take a consistent base dump now (capture's slot must exist).\n"
                                   "  e.g. pgpitr backup --source 'host=db dbname=app' --repo /var/lib/pgpitr/app")) {
    CLI::App* backup = this->app();
    backup->add_option("--source", source_, "Connection string of the captured database");
    backup->add_option("--repo", repo_, kRepoHelp);
    backup->add_option("--slot", slot_, "Capture's slot")->capture_default_str();
    backup->add_option("--pg-bin", pg_bin_, "Folder holding pg_dump");
    backup->footer(
        "Example:\n  pgpitr backup --source 'host=db.example.com dbname=app user=pgpitr' --repo /var/lib/pgpitr/app");
  }

  void Settle(const Config& settings) override {
    Fill("--repo", repo_, settings.repo);
    Fill("--source", source_, settings.source);
    Fill("--slot", slot_, settings.slot);
    Fill("--pg-bin", pg_bin_, settings.pg_bin);
  }

  const std::string* repo() const override { return &repo_; }

  absl::Status Run(const CommandContext& context) override {
    absl::StatusOr<pg::ConnInfo> source = ParseSource(source_);
    if (!source.ok()) return source.status();
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo = wal::Repository::Open(repo_, wal::Repository::Mode::kRead);
    if (!repo.ok()) return repo.status();
    ProgressLine line = StderrProgress();
    const std::atomic<bool>& stop = context.stop;
    wal::BaseOptions options{.source = *source,
                             .slot = slot_,
                             .pg_bin_dir = pg_bin_,
                             .stop = [&stop] { return stop.load(); },
                             .progress = &line};
    absl::StatusOr<proto::Base> base = wal::TakeBase(**repo, options, context.log);
    line.Finish();
    if (!base.ok()) return base.status();
    std::cout << fmt::format("base {} taken: LSN {}, consistent at {}, {}\n", base->id(),
                             pg::Lsn(base->lsn()).ToString(), pg::FormatPgTime(base->consistent_time()),
                             base->empty() ? std::string("empty (the database holds nothing yet: no dump)")
                                           : fmt::format("{} bytes", base->size_bytes()));
    return absl::OkStatus();
  }

 private:
  std::string source_ = DefaultSource(), repo_, slot_ = "pgpitr", pg_bin_;
};

}  // namespace

std::unique_ptr<Command> AddRunCommand(CLI::App& app) { return std::make_unique<RunCommand>(app); }
std::unique_ptr<Command> AddBackupCommand(CLI::App& app) { return std::make_unique<BackupCommand>(app); }

}  // namespace pgpitr::cli
