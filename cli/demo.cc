// `pgpitr demo`: the main job on an embedded default. A throwaway PostgreSQL, capture into a
// temporary repository, a workload with a "bad migration" in it, and a restore to the second before
// the migration, checked table by table against what the database held at that moment.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <thread>

#include "CLI/CLI.hpp"
#include "cli/command.h"
#include "cli/commands.h"
#include "embedded/fingerprint.h"
#include "embedded/local_server.h"
#include "fmt/format.h"
#include "pg/connection.h"
#include "restore/restore.h"
#include "wal/capture.h"
#include "wal/repository.h"
#include "wal/source.h"

namespace pgpitr::cli {

namespace {

namespace fs = std::filesystem;
using pg::Connection;

absl::Status Workload(Connection& app, int transactions, std::mt19937& random) {
  for (int i = 0; i < transactions; ++i) {
    const int account = static_cast<int>(random() % 100) + 1;
    const int amount = static_cast<int>(random() % 500);
    absl::Status s =
        app.Execute(fmt::format("BEGIN;"
                                "UPDATE accounts SET balance = balance - {1} WHERE id = {0};"
                                "INSERT INTO orders (account_id, amount, note) VALUES ({0}, {1}, 'order ' || {2});"
                                "COMMIT",
                                account, amount, i));
    if (!s.ok()) return s;
    if (i % 10 == 0) {
      s = app.Execute(
          fmt::format("DELETE FROM orders WHERE id = (SELECT min(id) FROM orders WHERE account_id = {})", account));
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status WaitFor(const std::function<absl::StatusOr<bool>()>& done, std::chrono::seconds limit, const char* what) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    absl::StatusOr<bool> ok = done();
    if (!ok.ok()) return ok.status();
    if (*ok) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError(fmt::format("demo: timed out waiting for {}", what));
}

}  // namespace

absl::Status RunDemo(bool keep, const std::atomic<bool>& stop) {
  const base::Logger log = base::Logger::Stderr();
  std::cout << "== pgpitr demo: point-in-time restore on a throwaway PostgreSQL ==\n";
  absl::StatusOr<std::unique_ptr<embedded::LocalServer>> server = embedded::LocalServer::Start({});
  if (!server.ok()) return server.status();
  if (keep) (*server)->KeepOnExit();
  std::cout << fmt::format("1. started PostgreSQL 15 on 127.0.0.1:{} (folder {})\n", (*server)->port(),
                           (*server)->data_dir().string());

  absl::StatusOr<pg::ConnInfo> admin_info = pg::ConnInfo::Parse((*server)->ConnectionString("postgres"));
  absl::StatusOr<pg::ConnInfo> app_info = pg::ConnInfo::Parse((*server)->ConnectionString("app"));
  absl::StatusOr<pg::ConnInfo> restored_info = pg::ConnInfo::Parse((*server)->ConnectionString("app_restored"));
  if (!admin_info.ok() || !app_info.ok() || !restored_info.ok()) return absl::InternalError("bad demo conninfo");
  {
    absl::StatusOr<Connection> admin = Connection::Connect(*admin_info, "demo server");
    if (!admin.ok()) return admin.status();
    if (absl::Status s = admin->Execute("CREATE DATABASE app"); !s.ok()) return s;
  }
  absl::StatusOr<Connection> app = Connection::Connect(*app_info, "demo database");
  if (!app.ok()) return app.status();
  if (absl::Status s = app->Execute(
          "CREATE TABLE accounts (id serial PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) NOT NULL);"
          "CREATE TABLE orders (id bigserial PRIMARY KEY, account_id int REFERENCES accounts, amount int, "
          "note text, created timestamptz DEFAULT now());"
          "INSERT INTO accounts (owner, balance) SELECT 'customer ' || g, 10000 FROM generate_series(1, 100) g");
      !s.ok()) {
    return s;
  }

  char repo_template[] = "/tmp/pgpitr-demo-repo-XXXXXX";
  if (mkdtemp(repo_template) == nullptr) return absl::InternalError("cannot make a temporary repository folder");
  const fs::path repo_dir = repo_template;
  absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
      wal::Repository::Open(repo_dir, wal::Repository::Mode::kCapture);
  if (!repo.ok()) return repo.status();

  std::atomic<bool> capture_stop{false};
  std::atomic<uint64_t> durable{0};
  wal::CaptureOptions capture;
  capture.source = *app_info;
  capture.sequence_interval = std::chrono::milliseconds(500);
  capture.on_sync = [&](pg::Lsn lsn, pg::PgTime) { durable = lsn.value(); };
  absl::Status capture_result;
  std::thread capture_thread(
      [&] { capture_result = wal::RunCapture(**repo, capture, capture_stop, base::Logger::Silent()); });
  auto stop_capture = [&] {
    capture_stop = true;
    if (capture_thread.joinable()) capture_thread.join();
  };
  auto fail = [&](absl::Status s) {
    stop_capture();
    return s;
  };
  std::cout << fmt::format("2. pgpitr run: capturing database app into {}; waiting for the first base\n",
                           repo_dir.string());
  absl::Status based = WaitFor(
      [&]() -> absl::StatusOr<bool> {
        if (stop.load() || capture_stop.load()) return absl::CancelledError("demo interrupted");
        absl::StatusOr<std::vector<proto::Base>> bases = (*repo)->Bases();
        if (!bases.ok()) return bases.status();
        return !bases->empty();
      },
      std::chrono::seconds(120), "the first base");
  if (!based.ok()) return fail(capture_result.ok() ? based : capture_result);

  std::mt19937 random(42);
  if (absl::Status s = Workload(*app, 300, random); !s.ok()) return fail(s);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  absl::StatusOr<pg::PgTime> checkpoint = wal::ServerClock(*app);
  if (!checkpoint.ok()) return fail(checkpoint.status());
  absl::StatusOr<embedded::Fingerprint> expected = embedded::TakeFingerprint(*app);
  if (!expected.ok()) return fail(expected.status());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::cout << fmt::format("3. ran 300 order transactions; the time is now {}\n", pg::FormatPgTime(*checkpoint));

  if (absl::Status s = Workload(*app, 100, random); !s.ok()) return fail(s);
  if (absl::Status s =
          app->Execute("BEGIN; UPDATE accounts SET balance = 0; DELETE FROM orders WHERE amount > 100; COMMIT");
      !s.ok()) {
    return fail(s);
  }
  if (absl::Status s = Workload(*app, 50, random); !s.ok()) return fail(s);
  std::cout << "4. then 100 more, a bad migration (every balance set to 0, most orders deleted), and 50 more\n";

  // Let capture take a sequence check after the bad migration, as it does every half second here.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  absl::StatusOr<pg::Result> end = app->Query("SELECT pg_current_wal_lsn()");
  if (!end.ok()) return fail(end.status());
  absl::StatusOr<pg::Lsn> end_lsn = pg::Lsn::Parse(end->Get(0, 0));
  if (!end_lsn.ok()) return fail(end_lsn.status());
  absl::Status caught_up = WaitFor([&]() -> absl::StatusOr<bool> { return durable.load() >= end_lsn->value(); },
                                   std::chrono::seconds(60), "capture to catch up");
  stop_capture();
  if (!capture_result.ok()) return capture_result;
  if (!caught_up.ok()) return caught_up;
  std::cout << fmt::format("5. capture is durable through {}; stopped it (the slot stays on the server)\n",
                           pg::Lsn(durable.load()).ToString());

  restore::RestoreOptions options;
  options.repo = repo_dir;
  options.target = *restored_info;
  options.point.kind = restore::RestoreTarget::Kind::kTime;
  options.point.time = *checkpoint;
  std::cout << fmt::format("6. pgpitr restore --repo {} --target '{}' --to-time '{}'\n", repo_dir.string(),
                           (*server)->ConnectionString("app_restored"), pg::FormatPgTime(*checkpoint));
  absl::StatusOr<restore::RestoreSummary> summary = restore::RunRestore(options, base::Logger::Silent());
  if (!summary.ok()) return summary.status();
  std::cout << summary->ToString();

  absl::StatusOr<Connection> restored = Connection::Connect(*restored_info, "restored database");
  if (!restored.ok()) return restored.status();
  absl::StatusOr<embedded::Fingerprint> actual = embedded::TakeFingerprint(*restored);
  if (!actual.ok()) return actual.status();
  absl::StatusOr<embedded::Fingerprint> now = embedded::TakeFingerprint(*app);
  if (!now.ok()) return now.status();
  std::cout << "7. table by table (rows:md5 of the rows' text):\n";
  for (const auto& [table, hash] : expected->tables) {
    std::cout << fmt::format("   {:16} at {}: {}\n   {:16} restored:   {}  {}\n   {:16} today:      {}\n", table,
                             pg::FormatPgTime(*checkpoint).substr(11), hash, "", actual->tables[table],
                             actual->tables[table] == hash ? "MATCH" : "DIFFERENT", "", now->tables[table]);
  }
  std::error_code ec;
  fs::remove_all(repo_dir, ec);
  if (*expected != *actual) {
    return absl::DataLossError(fmt::format("demo: the restored database differs from the checkpoint: {}",
                                           embedded::DescribeDifference(*expected, *actual)));
  }
  std::cout << "The restored database app_restored equals app as it was at the chosen second, before the bad "
               "migration.\n";
  return absl::OkStatus();
}

namespace {

class DemoCommand final : public Command {
 public:
  explicit DemoCommand(CLI::App& app)
      : Command(app.add_subcommand("demo",
                                   "Show a point-in-time restore end to end on a throwaway local PostgreSQL (needs "
                                   "PostgreSQL 15 server binaries in /usr/lib/postgresql/15/bin).")) {
    this->app()->add_flag("--keep", keep_, "Leave the throwaway server's folder in place");
    this->app()->footer("Example:\n  pgpitr demo --keep");
  }

  absl::Status Run(const CommandContext& context) override { return RunDemo(keep_, context.stop); }

 private:
  bool keep_ = false;
};

}  // namespace

std::unique_ptr<Command> AddDemoCommand(CLI::App& app) { return std::make_unique<DemoCommand>(app); }

}  // namespace pgpitr::cli
