// The source going away under a running capture (a restart, a crash and its recovery, terminated
// connections, no walsender free) and its schema changing under the sequence sampler: capture
// rides through all of it, reconnecting with backoff and resuming from its slot, and a restore to
// the end is exact (issue: running for months unattended). Only a refusal of its configuration
// (this role, this database, these credentials) ends it.
#include <algorithm>
#include <optional>

#include "harness.h"
#include "wal/sequences.h"

namespace pgpitr::testing {
namespace {

// capture's connections carry this application_name, so the tests can find them.
constexpr char kCaptureName[] = "pgpitr_capture";

class ReconnectTest : public ServerTest {
 protected:
  std::vector<std::string> ServerSettings() const override {
    // Few walsenders, so that a test can hold every one capture is not using.
    return {"logical_decoding_work_mem = 64kB", "max_wal_senders = 4"};
  }

  void TearDown() override {
    StopWorkload();
    ServerTest::TearDown();
  }

  // Capture with its connections named kCaptureName (`adjust` applied after), streaming, and a base.
  proto::Base StartNamedCaptureWithBase(const std::function<void(wal::CaptureOptions&)>& adjust = {}) {
    StartCapture([&](wal::CaptureOptions& o) {
      o.source = o.source.With("application_name", kCaptureName);
      if (adjust) adjust(o);
    });
    if (WalsenderPid() == 0) return proto::Base();
    proto::Base base = TakeBase();
    EXPECT_FALSE(base.id().empty());
    return base;
  }

  // The pid of the walsender streaming capture's slot, once there is one other than `not_pid`; 0
  // (and a failure) when capture ends or none comes.
  int WalsenderPid(int not_pid = 0) {
    pg::Connection admin = Connect("postgres");
    for (int i = 0;; ++i) {
      absl::StatusOr<pg::Result> r =
          admin.Query("SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'pgpitr' AND active");
      if (r.ok() && r->rows() == 1 && !r->IsNull(0, 0) && std::stoi(r->GetString(0, 0)) != not_pid) {
        return std::stoi(r->GetString(0, 0));
      }
      if (capture_ended_.load() || i == 1200) {
        ADD_FAILURE() << "capture streams from no walsender (other than " << not_pid << "): " << capture_result_;
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  // capture's connections that are not walsenders: the one for sequences and slot checks.
  std::vector<int> SideConnectionPids() {
    pg::Connection admin = Connect("postgres");
    absl::StatusOr<pg::Result> r =
        admin.Query("SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND backend_type = 'client backend'",
                    {kCaptureName});
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<int> pids;
    for (int i = 0; r.ok() && i < r->rows(); ++i) pids.push_back(std::stoi(r->GetString(i, 0)));
    return pids;
  }

  void Terminate(int pid) {
    pg::Connection admin = Connect("postgres");
    Exec(admin, fmt::format("SELECT pg_terminate_backend({})", pid));
  }

  // Commits single-row inserts into app's table t until StopWorkload, connecting again after any
  // error: whatever the source ends up holding is what a restore is compared with.
  void StartWorkload() {
    workload_stop_ = false;
    workload_ = std::thread([this] {
      std::optional<pg::Connection> app;
      while (!workload_stop_.load()) {
        if (!app.has_value()) {
          absl::StatusOr<pg::Connection> c = pg::Connection::Connect(Info("app"), "workload");
          if (c.ok()) app.emplace(*std::move(c));
        }
        if (app.has_value() && !app->Execute("INSERT INTO t (v) VALUES ('w')").ok()) app.reset();
        std::this_thread::sleep_for(std::chrono::milliseconds(app.has_value() ? 2 : 50));
      }
    });
  }

  void StopWorkload() {
    workload_stop_ = true;
    if (workload_.joinable()) workload_.join();
  }

  // A commit made now is captured, and capture is still running.
  void ExpectCapturesNewCommits() {
    pg::Connection app = Connect("app");
    Exec(app, "INSERT INTO t (v) VALUES ('marker')");
    WaitCaptured(InsertLsn(app));
  }

  // Capture still runs; once the workload stops and capture has everything, a restore to the end
  // equals the source.
  void ExpectRestoreEqualsSource(const std::string& db) {
    StopWorkload();
    ExpectCapturesNewCommits();
    ASSERT_FALSE(capture_ended_.load()) << "capture ended instead of reconnecting: " << capture_result_;
    StopCapture();
    ASSERT_TRUE(capture_result_.ok()) << capture_result_;
    absl::StatusOr<restore::RestoreSummary> summary = Restore(db, restore::RestoreTarget::Latest());
    ASSERT_TRUE(summary.ok()) << summary.status();
    const embedded::Fingerprint expected = FingerprintOf("app");
    const embedded::Fingerprint actual = FingerprintOf(db);
    EXPECT_EQ(actual, expected) << embedded::DescribeDifference(expected, actual);
  }

  // The largest value of sequence `name` in the samples running capture has synced (0 when none).
  int64_t Sampled(const std::string& name) {
    int64_t value = 0;
    EXPECT_TRUE(capture_repo_->change_log()
                    .ForEachSequenceSample(pg::Lsn(),
                                           [&](const proto::SequenceSample& sample) {
                                             for (const auto& seq : sample.sequences()) {
                                               if (seq.name() == name) value = std::max(value, seq.last_value());
                                             }
                                             return absl::OkStatus();
                                           })
                    .ok());
    return value;
  }
  void WaitSampled(const std::string& name, int64_t value) {
    for (int i = 0; i < 2000 && Sampled(name) < value; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_GE(Sampled(name), value) << "no check of capture saw " << name << " at " << value;
  }

  std::thread workload_;
  std::atomic<bool> workload_stop_{false};
};

TEST_F(ReconnectTest, SourceRestartMidWorkloadLosesNothing) {
  set_replica_identity_full_ = true;  // bag has no key
  {
    pg::Connection app = Connect("app");
    Exec(app, "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE bag (a int)");
  }
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  auto workload = [&](int from, int to) {
    pg::Connection app = Connect("app");
    for (int i = from; i < to; ++i) {
      Exec(app, fmt::format("BEGIN; INSERT INTO t VALUES ({0}, 'v{0}'); INSERT INTO bag VALUES ({0}); "
                            "UPDATE t SET v = v || '+' WHERE id = {1}; COMMIT",
                            i, i / 2));
    }
  };
  workload(0, 200);
  {
    // A large transaction in flight when the server goes down is rolled back there, and must
    // leave nothing in the change log.
    pg::Connection app = Connect("app");
    ASSERT_EQ(PQsendQuery(app.raw(), "BEGIN; INSERT INTO bag SELECT generate_series(1, 5000); SELECT pg_sleep(30)"), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_TRUE(server_->Restart().ok());
  }
  workload(200, 400);
  pg::Connection app = Connect("app");
  WaitCaptured(InsertLsn(app));
  ASSERT_FALSE(capture_ended_.load()) << "capture ended instead of reconnecting: " << capture_result_;
  StopCapture();
  ASSERT_TRUE(capture_result_.ok()) << capture_result_;

  absl::StatusOr<restore::RestoreSummary> summary = Restore("after_restart", restore::RestoreTarget::Latest());
  ASSERT_TRUE(summary.ok()) << summary.status();
  const embedded::Fingerprint expected = FingerprintOf("app");
  const embedded::Fingerprint actual = FingerprintOf("after_restart");
  EXPECT_EQ(actual, expected) << embedded::DescribeDifference(expected, actual);
  EXPECT_EQ(summary->transactions, 400u);
}

// One session creating and dropping sequences, as a migration does, in separate statements.
void ChurnSequences(pg::Connection& ddl, int iterations) {
  for (int i = 0; i < iterations; ++i) {
    for (const char* sql : {"CREATE SEQUENCE churn_s", "CREATE TABLE churn_t (id serial PRIMARY KEY)",
                            "DROP SEQUENCE churn_s", "DROP TABLE churn_t"}) {
      absl::Status s = ddl.Execute(sql);
      ASSERT_TRUE(s.ok()) << s << "\n  in: " << sql;
    }
  }
}

TEST_F(ReconnectTest, ASequenceCheckLeavesOutSequencesDroppedWhileItReads) {
  pg::Connection app = Connect("app");
  Exec(app, "CREATE SEQUENCE kept; SELECT nextval('kept')");
  std::atomic<bool> churning{true};
  std::thread churn([&] {
    pg::Connection ddl = Connect("app");
    ChurnSequences(ddl, 200);
    churning = false;
  });
  wal::SequenceSampler sampler;
  int checks = 0;
  bool saw_kept = false;
  absl::Status failed;
  while (churning.load() && failed.ok()) {
    absl::StatusOr<wal::SequenceSampler::Check> check = sampler.Sample(app);
    if (!check.ok()) {
      failed = check.status();
      break;
    }
    ++checks;
    for (const auto& s : check->changed.sequences()) saw_kept = saw_kept || s.name() == "kept";
  }
  churn.join();
  EXPECT_TRUE(failed.ok()) << "check " << checks << " failed: " << failed;
  EXPECT_TRUE(saw_kept);
  EXPECT_GT(checks, 20);
}

TEST_F(ReconnectTest, SequencesDroppedWhileSampledDoNotStopCapture) {
  {
    pg::Connection app = Connect("app");
    Exec(app, "CREATE TABLE t (id serial PRIMARY KEY, v text); CREATE SEQUENCE kept");
  }
  ASSERT_FALSE(
      StartNamedCaptureWithBase([](wal::CaptureOptions& o) { o.sequence_interval = std::chrono::milliseconds(1); })
          .id()
          .empty());
  // Commits keep capture's loop turning, so that it samples as often as it is asked to.
  StartWorkload();
  {
    pg::Connection ddl = Connect("app");
    ChurnSequences(ddl, 200);
  }
  ASSERT_FALSE(capture_ended_.load()) << "capture ended: " << capture_result_;
  pg::Connection app = Connect("app");
  Exec(app, "SELECT nextval('kept') FROM generate_series(1, 7)");
  WaitSampled("kept", 7);  // then a commit after that sample
  ExpectRestoreEqualsSource("after_churn");
  pg::Connection restored = Connect("after_churn");
  absl::StatusOr<pg::Result> seq = restored.Query("SELECT last_value FROM kept");
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_GE(std::stoll(seq->GetString(0, 0)), 7);
}

// nextval() writes WAL once per 32 values, so two checks of an otherwise idle source can read one
// WAL insert position while different sequences moved: the second check, holding only what changed
// since the first, must not take the first one's place (it did: a restore then set the first
// sequence back to a value the source had already handed out).
TEST_F(ReconnectTest, SequenceChecksAtOneWalPositionLoseNoSequence) {
  {
    pg::Connection app = Connect("app");
    Exec(app,
         "CREATE TABLE t (id int PRIMARY KEY); CREATE SEQUENCE a; CREATE SEQUENCE b; "
         "SELECT nextval('a'), nextval('b')");
  }
  ASSERT_FALSE(
      StartNamedCaptureWithBase([](wal::CaptureOptions& o) { o.sequence_interval = std::chrono::milliseconds(20); })
          .id()
          .empty());
  pg::Connection app = Connect("app");
  int64_t a = 1;
  int64_t b = 1;
  bool one_position = false;
  // A checkpoint makes the next nextval() write WAL; another try then finds none.
  for (int attempt = 0; attempt < 5 && !one_position; ++attempt) {
    const pg::Lsn before = InsertLsn(app);
    Exec(app, "SELECT nextval('a')");
    WaitSampled("a", ++a);
    Exec(app, "SELECT nextval('b')");
    WaitSampled("b", ++b);
    one_position = InsertLsn(app) == before;
  }
  ASSERT_TRUE(one_position) << "WAL moved between the checks in every try: the case is not made";
  EXPECT_EQ(Sampled("a"), a) << "the check that saw a was replaced by the one that saw b";
  StopCapture();
  ASSERT_TRUE(capture_result_.ok()) << capture_result_;

  absl::StatusOr<restore::RestoreSummary> summary = Restore("restored", restore::RestoreTarget::Latest());
  ASSERT_TRUE(summary.ok()) << summary.status();
  pg::Connection restored = Connect("restored");
  absl::StatusOr<pg::Result> values = restored.Query("SELECT (SELECT last_value FROM a), (SELECT last_value FROM b)");
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_GE(std::stoll(values->GetString(0, 0)), a) << "a restored sequence would hand out a value again";
  EXPECT_GE(std::stoll(values->GetString(0, 1)), b);
}

TEST_F(ReconnectTest, ImmediateRestartsAreRiddenOutThroughCrashRecovery) {
  {
    pg::Connection app = Connect("app");
    Exec(app, "CREATE TABLE t (id serial PRIMARY KEY, v text)");
    pg::Connection admin = Connect("postgres");
    Exec(admin, "CREATE DATABASE ballast");
  }
  ASSERT_FALSE(StartNamedCaptureWithBase().id().empty());
  StartWorkload();
  std::atomic<int> refused_while_recovering{0};
  for (int round = 0; round < 3; ++round) {
    {
      // WAL that the next start replays before it accepts connections: rows of another database
      // (capture reads past them), written by CREATE TABLE AS (which logical decoding skips).
      pg::Connection ballast = Connect("ballast");
      Exec(ballast,
           fmt::format("CREATE TABLE b{} AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 400000) g",
                       round));
    }
    ASSERT_TRUE(server_->Crash().ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    // Someone connecting while the server starts and recovers: refused for later, not for good.
    std::atomic<bool> up{false};
    std::thread probe([&] {
      while (!up.load()) {
        absl::StatusOr<pg::Connection> c = pg::Connection::Connect(Info("app"), "probe");
        if (!c.ok()) {
          EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << c.status();
          if (pg::SqlStateOf(c.status()) == "57P03") ++refused_while_recovering;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
    absl::Status started = server_->StartAgain();
    up = true;
    probe.join();
    ASSERT_TRUE(started.ok()) << started;
    ExpectCapturesNewCommits();
  }
  EXPECT_GT(refused_while_recovering.load(), 0) << "no connection met the server starting or recovering";
  ExpectRestoreEqualsSource("after_crashes");
}

// A `run` started while the source is down waits for it when its repository has captured from that
// source before (a sidecar restarted during an outage), instead of ending: the source comes back
// and capture goes on from the slot.
TEST_F(ReconnectTest, ARunStartedWhileTheSourceIsDownWaitsWhenItCapturedFromItBefore) {
  {
    pg::Connection app = Connect("app");
    Exec(app, "CREATE TABLE t (id serial PRIMARY KEY, v text)");
  }
  ASSERT_FALSE(StartNamedCaptureWithBase().id().empty());
  ExpectCapturesNewCommits();
  StopCapture();
  ASSERT_TRUE(capture_result_.ok()) << capture_result_;
  ASSERT_TRUE(server_->Stop().ok());
  StartCapture();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_FALSE(capture_ended_.load()) << "capture ended while the source was down: " << capture_result_;
  ASSERT_TRUE(server_->StartAgain().ok());
  ExpectCapturesNewCommits();
  ExpectRestoreEqualsSource("after_outage");
}

TEST_F(ReconnectTest, TerminatedCaptureConnectionsAreMadeAgainAndNothingIsLost) {
  {
    pg::Connection app = Connect("app");
    Exec(app, "CREATE TABLE t (id serial PRIMARY KEY, v text)");
  }
  ASSERT_FALSE(StartNamedCaptureWithBase().id().empty());
  StartWorkload();

  // The walsender: the stream ends and the session connects again.
  const int first = WalsenderPid();
  Terminate(first);
  const int second = WalsenderPid(first);
  ASSERT_NE(second, 0);
  ExpectCapturesNewCommits();

  // The connection for sequences and slot checks: the next check makes it again.
  const std::vector<int> side = SideConnectionPids();
  ASSERT_FALSE(side.empty());
  for (int pid : side) Terminate(pid);
  auto is_new = [&](int pid) { return std::find(side.begin(), side.end(), pid) == side.end(); };
  for (int i = 0;; ++i) {
    const std::vector<int> now = SideConnectionPids();
    if (std::any_of(now.begin(), now.end(), is_new)) break;
    ASSERT_FALSE(capture_ended_.load()) << capture_result_;
    ASSERT_LT(i, 600) << "capture did not connect again for sequences";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ExpectCapturesNewCommits();

  // All of them at once.
  Terminate(second);
  for (int pid : SideConnectionPids()) Terminate(pid);
  ASSERT_NE(WalsenderPid(second), 0);
  ExpectCapturesNewCommits();
  ExpectRestoreEqualsSource("after_terminations");
}

TEST_F(ReconnectTest, AReconnectThatFindsNoWalsenderFreeWaitsForOne) {
  {
    pg::Connection app = Connect("app");
    Exec(app, "CREATE TABLE t (id serial PRIMARY KEY, v text)");
  }
  ASSERT_FALSE(StartNamedCaptureWithBase().id().empty());
  StartWorkload();
  // Every walsender capture does not use is held here.
  const pg::ConnInfo replication = Info("app").With("replication", "database");
  std::vector<pg::Connection> held;
  absl::Status refused;
  while (refused.ok() && held.size() < 10) {
    absl::StatusOr<pg::Connection> c = pg::Connection::Connect(replication, "test walsender");
    if (c.ok()) {
      held.push_back(*std::move(c));
    } else {
      refused = c.status();
    }
  }
  ASSERT_EQ(held.size(), 3u);
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  EXPECT_EQ(pg::SqlStateOf(refused), "53300") << refused;

  // capture's too, once it lets go of it: capture waits a moment before it connects again, and
  // should it still be first, its next walsender is terminated.
  int walsender = 0;
  for (int round = 0; held.size() < 4; ++round) {
    ASSERT_LT(round, 5) << "capture took its walsender back every time before the test";
    walsender = WalsenderPid(walsender);
    Terminate(walsender);
    for (int i = 0; i < 50 && held.size() < 4; ++i) {
      absl::StatusOr<pg::Connection> c = pg::Connection::Connect(replication, "test walsender");
      if (c.ok()) {
        held.push_back(*std::move(c));
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
  }
  std::this_thread::sleep_for(std::chrono::seconds(3));
  ASSERT_FALSE(capture_ended_.load()) << "capture ended instead of waiting for a walsender: " << capture_result_;
  held.clear();
  ASSERT_NE(WalsenderPid(walsender), 0);
  ExpectRestoreEqualsSource("after_no_walsender");
}

TEST_F(ReconnectTest, ARoleNoLongerAllowedToLogInEndsCaptureWithTheReason) {
  {
    pg::Connection admin = Connect("postgres");
    Exec(admin, "CREATE ROLE pitr LOGIN REPLICATION");
    pg::Connection app = Connect("app");
    Exec(app, "CREATE TABLE t (id serial PRIMARY KEY, v text); CREATE PUBLICATION pgpitr FOR ALL TABLES");
  }
  StartCapture([](wal::CaptureOptions& o) { o.source = o.source.With("user", "pitr"); });
  ASSERT_NE(WalsenderPid(), 0);
  ExpectCapturesNewCommits();
  {
    pg::Connection admin = Connect("postgres");
    Exec(admin, "ALTER ROLE pitr NOLOGIN");
    Exec(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'pitr'");
  }
  for (int i = 0; !capture_ended_.load(); ++i) {
    ASSERT_LT(i, 1200) << "capture kept trying a role that may not log in";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(capture_result_.code(), absl::StatusCode::kFailedPrecondition) << capture_result_;
  EXPECT_EQ(pg::SqlStateOf(capture_result_), "28000") << capture_result_;
}

}  // namespace
}  // namespace pgpitr::testing
