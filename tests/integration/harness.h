// What the integration tests share: a throwaway PostgreSQL with a database "app", a temporary
// repository, capture running in a thread, and helpers to wait for it and to restore.
// On failure the server's and the repository's folders are kept and their paths printed.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>

#include "embedded/fingerprint.h"
#include "embedded/local_server.h"
#include "pg/connection.h"
#include "pg/process.h"
#include "restore/restore.h"
#include "tests/pg_major.h"
#include "wal/base_backup.h"
#include "wal/capture.h"
#include "wal/repository.h"
#include "wal/source.h"

namespace pgpitr::testing {

inline pg::ConnInfo MustParse(const std::string& text) {
  absl::StatusOr<pg::ConnInfo> info = pg::ConnInfo::Parse(text);
  EXPECT_TRUE(info.ok()) << info.status();
  return *info;
}

inline std::filesystem::path MakeTempDir(const char* prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (std::string(prefix) + "XXXXXX")).string();
  EXPECT_NE(mkdtemp(pattern.data()), nullptr);
  return pattern;
}

// A server of TestServerMajor() (or of ServerMajor()), a database "app" and an empty repository folder.
class ServerTest : public ::testing::Test {
 protected:
  // The major version of the server this test starts.
  virtual int ServerMajor() const { return TestServerMajor(); }

  // Extra postgresql.conf lines for the server.
  virtual std::vector<std::string> ServerSettings() const {
    // Small enough that a transaction of a few hundred rows is streamed while in progress.
    return {"logical_decoding_work_mem = 64kB"};
  }

  void SetUp() override {
    embedded::LocalServerOptions options;
    options.settings = ServerSettings();
    absl::StatusOr<std::filesystem::path> bin_dir = embedded::ServerBinDir(ServerMajor());
    ASSERT_TRUE(bin_dir.ok()) << bin_dir.status();
    options.bin_dir = *bin_dir;
    absl::StatusOr<std::unique_ptr<embedded::LocalServer>> server = embedded::LocalServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    pg::Connection admin = Connect("postgres");
    ASSERT_TRUE(admin.Execute("CREATE DATABASE app").ok());
    repo_dir_ = MakeTempDir("pgpitr-test-repo-");
  }

  void TearDown() override {
    StopCapture();
    if (HasFailure()) {
      server_->KeepOnExit();
      std::fprintf(stderr, "pgpitr: kept repository at %s\n", repo_dir_.c_str());
    } else {
      std::error_code ec;
      std::filesystem::remove_all(repo_dir_, ec);
    }
  }

  pg::ConnInfo Info(const std::string& db) const { return MustParse(server_->ConnectionString(db)); }

  pg::Connection Connect(const std::string& db) {
    absl::StatusOr<pg::Connection> conn = pg::Connection::Connect(Info(db), "test server");
    EXPECT_TRUE(conn.ok()) << conn.status();
    return *std::move(conn);
  }

  // The one value a query returns ("<no row>" when it returns none; a failure fails the test).
  static std::string QueryOne(pg::Connection conn, const std::string& sql) {
    absl::StatusOr<pg::Result> r = conn.Query(sql);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() && r->rows() == 1 ? r->GetString(0, 0) : std::string("<no row>");
  }

  void Exec(pg::Connection& conn, const std::string& sql) {
    absl::Status s = conn.Execute(sql);
    ASSERT_TRUE(s.ok()) << s << "\n  in: " << sql;
  }

  pg::Lsn InsertLsn(pg::Connection& conn) {
    absl::StatusOr<pg::Result> r = conn.Query("SELECT pg_current_wal_insert_lsn()");
    EXPECT_TRUE(r.ok()) << r.status();
    return *pg::Lsn::Parse(r->Get(0, 0));
  }

  // Runs capture of database "app" in a thread, as `pgpitr run --no-first-base` would; `adjust`
  // changes the options first (a test's own schedule, metrics, callbacks).
  void StartCapture(const std::function<void(wal::CaptureOptions&)>& adjust = {}) {
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
        wal::Repository::Open(repo_dir_, wal::Repository::Mode::kCapture);
    ASSERT_TRUE(repo.ok()) << repo.status();
    capture_repo_ = *std::move(repo);
    capture_stop_ = false;
    capture_ended_ = false;
    durable_ = 0;
    wal::CaptureOptions options;
    options.source = Info("app");
    options.first_base = false;
    options.sequence_interval = std::chrono::milliseconds(200);
    options.status_interval = std::chrono::milliseconds(200);
    options.reconnect_delay = std::chrono::milliseconds(200);
    options.max_reconnect_delay = std::chrono::milliseconds(2000);
    options.on_sync = [this](pg::Lsn lsn, pg::PgTime time) {
      durable_time_ = time;
      durable_ = lsn.value();
    };
    options.source_settings.event_triggers = event_triggers_;
    options.source_settings.set_replica_identity_full = set_replica_identity_full_;
    options.source_settings.source_runs_plpgsql = source_runs_plpgsql_;
    if (adjust) adjust(options);
    capture_thread_ = std::thread([this, options] {
      capture_result_ = wal::RunCapture(*capture_repo_, options, capture_stop_, base::Logger::Silent());
      capture_ended_ = true;
    });
  }

  // Starts capture, waits for its slot, and takes a base: the usual start of a test that restores.
  proto::Base StartCaptureWithBase(const std::function<void(wal::CaptureOptions&)>& adjust = {}) {
    StartCapture(adjust);
    pg::Connection app = Connect("app");
    for (int i = 0;; ++i) {
      absl::StatusOr<pg::Result> r = app.Query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'pgpitr'");
      if (r.ok() && r->rows() == 1) break;
      if (capture_ended_.load() || i == 600) {
        ADD_FAILURE() << "capture did not create its slot: " << capture_result_;
        return proto::Base();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    proto::Base base = TakeBase();
    EXPECT_FALSE(base.id().empty());
    return base;
  }

  // StartCaptureWithBase, with capture's checks (large objects, relations, the clock) at its start
  // only: what places a change after it is what the stream (and the proxy) carry.
  proto::Base StartCaptureWithBaseCheckingOnlyAtStart() {
    return StartCaptureWithBase([](wal::CaptureOptions& o) { o.sequence_interval = std::chrono::hours(1); });
  }

  // Whether a pg_dump fit for the test server is installed (Debian 12 has 15's only).
  bool CanDumpTestServer() const { return pg::PgTool("pg_dump", ServerMajor(), "", std::filesystem::path()).ok(); }

  // Capture with a base of the schema `create` makes: made first and dumped in the base when a
  // pg_dump fits the server; else made after an empty base (no pg_dump needed), its DDL captured by
  // the event triggers, so a server of any major runs the same test.
  proto::Base StartCaptureWithSchema(const std::function<void()>& create) {
    if (CanDumpTestServer()) {
      create();
      return StartCaptureWithBase();
    }
    proto::Base base = StartCaptureWithBase();
    EXPECT_TRUE(base.empty()) << "the database was not empty before its schema was made";
    create();
    return base;
  }

  void StopCapture() {
    capture_stop_ = true;
    if (capture_thread_.joinable()) capture_thread_.join();
    capture_repo_.reset();
  }

  // Waits until capture has made durable every commit before `lsn` (and, when given, every commit
  // stamped at or before `time`).
  void WaitCaptured(pg::Lsn lsn, pg::PgTime time = 0) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (durable_.load() < lsn.value() || durable_time_.load() < time) {
      ASSERT_FALSE(capture_ended_.load()) << "capture stopped: " << capture_result_;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "capture did not reach " << lsn.ToString();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Waits until capture has synced a sequence check made after now (each also reads whether the
  // source holds large objects, and is a clock reading), and then every commit up to where that
  // check's reads ended: the check's finding counts at the latest point.
  void WaitForACheckAfterNow(pg::Connection& app) {
    absl::StatusOr<pg::PgTime> now = wal::ServerClock(app);
    ASSERT_TRUE(now.ok()) << now.status();
    WaitCaptured(InsertLsn(app), *now);
    WaitCaptured(InsertLsn(app));
  }

  // A repository with a base and ten captured rows of table t in app, capture stopped: what the
  // tests that run the pgpitr binary against a finished repository start from.
  void CaptureTenRows() {
    pg::Connection app = Connect("app");
    Exec(app, "CREATE TABLE t (id int PRIMARY KEY, v text)");
    ASSERT_FALSE(StartCaptureWithBase().id().empty());
    Exec(app, "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g");
    WaitCaptured(InsertLsn(app));
    StopCapture();
  }

  // Bases registered in the repository as of now (0 when it cannot be opened yet).
  size_t BaseCount() {
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
        wal::Repository::Open(repo_dir_, wal::Repository::Mode::kRead);
    if (!repo.ok()) return 0;
    absl::StatusOr<std::vector<proto::Base>> bases = (*repo)->Bases();
    return bases.ok() ? bases->size() : 0;
  }

  // A base taken the way `pgpitr backup` takes one.
  proto::Base TakeBase() {
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
        wal::Repository::Open(repo_dir_, wal::Repository::Mode::kRead);
    EXPECT_TRUE(repo.ok()) << repo.status();
    wal::BaseOptions options;
    options.source = Info("app");
    absl::StatusOr<proto::Base> base = wal::TakeBase(**repo, options, base::Logger::Silent());
    EXPECT_TRUE(base.ok()) << base.status();
    return base.ok() ? *base : proto::Base();
  }

  absl::StatusOr<restore::RestoreSummary> Restore(const std::string& db, const restore::RestoreTarget& point,
                                                  bool replace = false) {
    restore::RestoreOptions options;
    options.repo = repo_dir_;
    options.target = Info(db);
    options.point = point;
    options.replace_existing = replace;
    return restore::RunRestore(options, base::Logger::Silent());
  }

  // The latest point restored with --best-effort (what may differ listed, not refused).
  absl::StatusOr<restore::RestoreSummary> RestoreBestEffort(const std::string& db, bool row_by_row = false) {
    restore::RestoreOptions options;
    options.repo = repo_dir_;
    options.target = Info(db);
    options.best_effort = true;
    options.row_by_row = row_by_row;
    return restore::RunRestore(options, base::Logger::Silent());
  }
  // Every object a restore listed as possibly different, in the order listed.
  static std::vector<std::string> NamedObjects(const restore::RestoreSummary& summary) {
    std::vector<std::string> named;
    for (const restore::Difference& d : summary.differences)
      named.insert(named.end(), d.objects.begin(), d.objects.end());
    return named;
  }
  // Up to, not including, an LSN.
  static restore::RestoreTarget AtLsn(pg::Lsn lsn) {
    return *restore::RestoreTarget::AtLsn(lsn.ToString(), /*exclusive=*/true);
  }

  // pg_dump --schema-only of a database, without comments, blank lines and the lines that differ
  // between any two dumps, and without capture's publication and event triggers (bases leave them out).
  // Without a pg_dump fit for the server (16+ here), the catalogs' description (embedded::DescribeSchema).
  std::string SchemaDump(const std::string& db) {
    if (!std::filesystem::exists(server_->bin_dir() / "pg_dump")) {
      pg::Connection conn = Connect(db);
      absl::StatusOr<std::string> schema = embedded::DescribeSchema(conn);
      EXPECT_TRUE(schema.ok()) << schema.status();
      return schema.ok() ? *schema : std::string();
    }
    const std::string command = fmt::format("'{}' --schema-only --no-publications --exclude-schema=_pgpitr '{}' 2>&1",
                                            (server_->bin_dir() / "pg_dump").string(), server_->ConnectionString(db));
    FILE* pipe = popen(command.c_str(), "r");
    EXPECT_NE(pipe, nullptr);
    std::string out;
    std::array<char, 4096> buffer{};
    while (pipe != nullptr && fgets(buffer.data(), buffer.size(), pipe) != nullptr) {
      const std::string line = buffer.data();
      if (line.starts_with("\\restrict") || line.starts_with("\\unrestrict") || line.starts_with("--") ||
          line == "\n" || line.find("_pgpitr") != std::string::npos) {
        continue;
      }
      out += line;
    }
    if (pipe != nullptr) {
      EXPECT_EQ(pclose(pipe), 0) << out;
    }
    return out;
  }

  embedded::Fingerprint FingerprintOf(const std::string& db) {
    pg::Connection conn = Connect(db);
    absl::StatusOr<embedded::Fingerprint> f = embedded::TakeFingerprint(conn);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *f : embedded::Fingerprint();
  }

  std::unique_ptr<embedded::LocalServer> server_;
  std::filesystem::path repo_dir_;
  std::unique_ptr<wal::Repository> capture_repo_;
  std::thread capture_thread_;
  std::atomic<bool> capture_stop_{false};
  std::atomic<bool> capture_ended_{false};
  std::atomic<uint64_t> durable_{0};
  std::atomic<pg::PgTime> durable_time_{0};
  absl::Status capture_result_;
  // Whether capture creates its event triggers on the source (wal/event_triggers.h).
  bool event_triggers_ = true;
  bool set_replica_identity_full_ = false;  // run --set-replica-identity-full
  // Shared with a proxy of the test's, as `run` shares it (wal::SourceSettings).
  std::shared_ptr<std::atomic<bool>> source_runs_plpgsql_;
};

}  // namespace pgpitr::testing
