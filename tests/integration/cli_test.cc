// The command line as people use it: `restore --to-time -Ns` says the absolute time it resolved to
// before it restores, and restores exactly that moment; `run --repo DIR` works with nothing but
// DATABASE_URL (a postgres:// URI with sslmode=require, as managed providers hand out).
#include <signal.h>

#include <cmath>

#include "cli_process.h"
#include "fmt/format.h"
#include "harness.h"
#include "nlohmann/json.hpp"
#include "restore/restore_target.h"

namespace pgpitr::testing {
namespace {

pg::PgTime Now() { return pg::PgTimeFromSystemClock(std::chrono::system_clock::now()); }

class CliTest : public ServerTest {};

TEST_F(CliTest, RelativeToTimeEchoesItsAbsoluteTimeAndRestoresThatMoment) {
  pg::Connection app = Connect("app");
  Exec(app, "CREATE TABLE orders (id int PRIMARY KEY, amount int)");
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  Exec(app, "INSERT INTO orders SELECT g, g * 10 FROM generate_series(1, 50) g");
  const embedded::Fingerprint before = FingerprintOf("app");
  const pg::PgTime first_done = Now();
  // The server runs on this machine: its commit times and our clock agree to well under the gap.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  const pg::PgTime second_start = Now();
  Exec(app, "UPDATE orders SET amount = 0; DELETE FROM orders WHERE id > 10");
  WaitCaptured(InsertLsn(app));
  StopCapture();
  ASSERT_NE(FingerprintOf("app"), before);

  // Aim at the middle of the quiet gap: N seconds before the restore starts.
  const pg::PgTime middle = first_done + (second_start - first_done) / 2;
  const pg::PgTime launched = Now();
  const int64_t seconds_ago = static_cast<int64_t>(std::ceil((launched - middle) / 1e6));
  const std::string relative = fmt::format("-{}s", seconds_ago);
  const CliResult r = RunPgpitr({"restore", "--repo", repo_dir_.string(), "--target",
                                 server_->ConnectionString("app_then"), "--to-time", relative});
  const pg::PgTime ended = Now();
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // The first line, printed before the restore, is the absolute UTC time with what was written.
  const std::string first_line = r.out.substr(0, r.out.find('\n'));
  const std::string prefix = "restoring to ";
  const std::string suffix = fmt::format("+00:00 ({})", relative);
  ASSERT_EQ(first_line.rfind(prefix, 0), 0u) << r.out;
  ASSERT_GT(first_line.size(), prefix.size() + suffix.size()) << r.out;
  ASSERT_EQ(first_line.substr(first_line.size() - suffix.size()), suffix) << r.out;
  const std::string absolute =
      first_line.substr(prefix.size(), first_line.size() - prefix.size() - relative.size() - 3);
  absl::StatusOr<pg::PgTime> resolved = restore::ParseTimestamp(absolute);
  ASSERT_TRUE(resolved.ok()) << absolute << ": " << resolved.status();
  // Resolved against the moment the restore started, which lies between our two readings.
  EXPECT_GE(*resolved, launched - seconds_ago * 1'000'000) << absolute;
  EXPECT_LE(*resolved, ended - seconds_ago * 1'000'000) << absolute;
  EXPECT_NE(r.out.find("restored to time " + absolute), std::string::npos) << r.out;
  ASSERT_GT(*resolved, first_done) << "the restore started too late for the gap; rerun on a less loaded machine";
  ASSERT_LT(*resolved, second_start) << "the restore started too late for the gap; rerun on a less loaded machine";

  EXPECT_EQ(FingerprintOf("app_then"), before) << "the restore holds the state at " << absolute;
}

// The test server with TLS on, and a role that may connect only over TLS with a password.
class DatabaseUrlTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    if (HasFatalFailure()) return;
    tls_dir_ = MakeTempDir("pgpitr-test-tls-");
    const std::string made = fmt::format(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -keyout {0}/server.key "
        "-out {0}/server.crt >{0}/openssl.log 2>&1",
        tls_dir_.string());
    ASSERT_EQ(std::system(made.c_str()), 0) << Slurp(tls_dir_ / "openssl.log");
    for (const char* file : {"server.crt", "server.key"}) {
      const std::filesystem::path to = server_->data_dir() / file;
      std::filesystem::copy_file(tls_dir_ / file, to, std::filesystem::copy_options::overwrite_existing);
      std::filesystem::permissions(to, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
      if (geteuid() == 0) {
        ASSERT_EQ(std::system(("chown postgres: " + to.string()).c_str()), 0);
      }
    }
    const std::filesystem::path hba = server_->data_dir() / "pg_hba.conf";
    const std::string old_hba = Slurp(hba);
    {
      std::ofstream out(hba, std::ios::trunc);
      out << "hostnossl all pitr 127.0.0.1/32 reject\n"
             "hostnossl replication pitr 127.0.0.1/32 reject\n"
             "hostssl all pitr 127.0.0.1/32 scram-sha-256\n"
             "hostssl replication pitr 127.0.0.1/32 scram-sha-256\n"
          << old_hba;
    }
    pg::Connection admin = Connect("postgres");
    // A superuser: a publication FOR ALL TABLES needs one on PostgreSQL 15.
    Exec(admin, "SET password_encryption = 'scram-sha-256'; CREATE ROLE pitr SUPERUSER LOGIN PASSWORD 's3cret'");
    Exec(admin, "ALTER SYSTEM SET ssl = on");
    Exec(admin, "SELECT pg_reload_conf()");
    for (int i = 0; i < 100; ++i) {
      absl::StatusOr<pg::Result> on = admin.Query("SHOW ssl");
      if (on.ok() && on->Get(0, 0) == "on") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  void TearDown() override {
    ServerTest::TearDown();
    std::error_code ec;
    std::filesystem::remove_all(tls_dir_, ec);
  }

  // What the repository says it holds, read the way `pgpitr info` reads it.
  std::optional<proto::CaptureState> State() {
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
        wal::Repository::Open(repo_dir_, wal::Repository::Mode::kRead);
    if (!repo.ok()) return std::nullopt;
    absl::StatusOr<proto::CaptureState> state = (*repo)->change_log().State();
    return state.ok() ? std::optional(*state) : std::nullopt;
  }

  std::filesystem::path tls_dir_;
};

TEST_F(DatabaseUrlTest, RunWithOnlyDatabaseUrlCapturesOverTlsAndStopsCleanly) {
  pg::Connection app = Connect("app");
  Exec(app, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'before the first base')");
  const std::string url = fmt::format("postgres://pitr:s3cret@127.0.0.1:{}/app?sslmode=require", server_->port());
  // Nothing else: no PG* variables, no config file, no flag but --repo.
  PgpitrProcess run({"run", "--repo", repo_dir_.string()}, std::vector<std::string>{"DATABASE_URL=" + url});

  // The first base, taken in the background, and capture's slot.
  for (int i = 0; i < 1200 && BaseCount() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(BaseCount(), 1u) << run.Err();
  absl::StatusOr<pg::Result> tls = app.Query(
      "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
      "WHERE a.usename = 'pitr' AND a.backend_type = 'walsender'");
  ASSERT_TRUE(tls.ok()) << tls.status();
  ASSERT_GE(tls->rows(), 1) << "capture's walsender is not connected: " << run.Err();
  EXPECT_EQ(tls->Get(0, 0), "t") << "capture's replication connection is not on TLS";

  Exec(app, "INSERT INTO t VALUES (2, 'after'); UPDATE t SET v = 'changed' WHERE id = 1");
  const pg::Lsn lsn = InsertLsn(app);
  for (int i = 0; i < 1200; ++i) {
    const std::optional<proto::CaptureState> state = State();
    if (state && state->captured_through_lsn() >= lsn.value()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  run.Signal(SIGTERM);
  const CliResult ended = run.Wait();
  EXPECT_EQ(ended.exit_code, 0) << ended.err;
  const std::optional<proto::CaptureState> state = State();
  ASSERT_TRUE(state.has_value());
  EXPECT_GE(state->captured_through_lsn(), lsn.value()) << ended.err;
  EXPECT_EQ(state->database(), "app");

  // What was captured restores: the base plus the transaction made after it.
  const CliResult restored =
      RunPgpitr({"restore", "--repo", repo_dir_.string(), "--target", server_->ConnectionString("copy"), "--latest"});
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_EQ(FingerprintOf("copy"), FingerprintOf("app"));
}

}  // namespace
}  // namespace pgpitr::testing
