// A base holds every table's rows as of its snapshot even when TRUNCATE or a table rewrite (not
// MVCC-safe: pg_dump would read the new file) comes between the snapshot and pg_dump's locks: such a
// snapshot is refused and the base taken again, a rewrite that queues behind the base's locks stops
// that pg_dump instead of deadlocking with it, and rewrites that never stop fail the base with an
// error naming the table and register nothing. The test hooks of wal::BaseOptions force each
// interleaving.
#include <atomic>
#include <thread>

#include "harness.h"

namespace pgpitr::testing {
namespace {

class BaseConsistencyTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    pg::Connection app = Connect("app");
    Exec(app,
         "CREATE TABLE t_trunc (id int PRIMARY KEY, v int);"
         "INSERT INTO t_trunc SELECT g, 0 FROM generate_series(1, 50) g;"
         "CREATE TABLE other (id int PRIMARY KEY, note text);"
         "INSERT INTO other SELECT g, 'n' || g FROM generate_series(1, 20) g;");
  }

  // Capture running, its slot made, and no base yet.
  void StartCaptureWithoutBase() {
    StartCapture();
    pg::Connection app = Connect("app");
    for (int i = 0;; ++i) {
      absl::StatusOr<pg::Result> r = app.Query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'pgpitr'");
      if (r.ok() && r->rows() == 1) return;
      ASSERT_FALSE(capture_ended_.load()) << "capture stopped: " << capture_result_;
      ASSERT_LT(i, 600) << "capture did not create its slot";
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  absl::StatusOr<proto::Base> TakeBaseWith(std::function<void()> after_snapshot,
                                           std::function<void()> after_lock = {}) {
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
        wal::Repository::Open(repo_dir_, wal::Repository::Mode::kRead);
    if (!repo.ok()) return repo.status();
    wal::BaseOptions options;
    options.source = Info("app");
    options.after_snapshot = std::move(after_snapshot);
    options.after_lock = std::move(after_lock);
    return wal::TakeBase(**repo, options, base::Logger::Silent());
  }

  // The workload of the report (upserts into a table that is also truncated) and more, captured;
  // then a restore of the latest point must equal the source.
  void ExpectLatestRestoresExactly() {
    pg::Connection app = Connect("app");
    Exec(app,
         "INSERT INTO t_trunc SELECT g, 1 FROM generate_series(1, 60) g"
         "  ON CONFLICT (id) DO UPDATE SET v = t_trunc.v + 1;"
         "UPDATE t_trunc SET v = v + 1 WHERE id % 2 = 0;"
         "DELETE FROM t_trunc WHERE id % 7 = 0;"
         "UPDATE other SET note = note || '!' WHERE id % 3 = 0;");
    WaitCaptured(InsertLsn(app));
    StopCapture();
    ASSERT_TRUE(capture_result_.ok()) << capture_result_;
    absl::StatusOr<restore::RestoreSummary> restored = Restore("restored", restore::RestoreTarget::Latest());
    ASSERT_TRUE(restored.ok()) << restored.status();
    EXPECT_EQ(FingerprintOf("restored"), FingerprintOf("app"))
        << embedded::DescribeDifference(FingerprintOf("app"), FingerprintOf("restored"));
  }

  // On the first attempt only, rows of the snapshot are updated and then `rewrite` commits, both
  // after the snapshot and before the base's check; the base must be taken again and restore exactly.
  void ExpectRewriteRefusedThenBaseRetaken(const std::string& rewrite) {
    StartCaptureWithoutBase();
    pg::Connection writer = Connect("app");
    int snapshots = 0;
    absl::StatusOr<proto::Base> base = TakeBaseWith([&] {
      if (++snapshots > 1) return;
      Exec(writer, "UPDATE t_trunc SET v = v + 1");
      Exec(writer, rewrite);
    });
    ASSERT_TRUE(base.ok()) << base.status();
    EXPECT_GE(snapshots, 2) << "the snapshot before the rewrite was kept";
    EXPECT_EQ(base->relations_checked(), 2u);
    EXPECT_EQ(BaseCount(), 1u);
    ExpectLatestRestoresExactly();
  }
};

TEST_F(BaseConsistencyTest, ATruncateAfterTheSnapshotIsRefusedAndTheBaseTakenAgain) {
  ExpectRewriteRefusedThenBaseRetaken(
      "BEGIN; TRUNCATE t_trunc;"
      " INSERT INTO t_trunc SELECT g, 100 FROM generate_series(1, 10) g"
      "   ON CONFLICT (id) DO UPDATE SET v = t_trunc.v + 1;"
      " COMMIT");
}

TEST_F(BaseConsistencyTest, AColumnTypeRewriteAfterTheSnapshotIsRefusedAndTheBaseTakenAgain) {
  ExpectRewriteRefusedThenBaseRetaken("ALTER TABLE t_trunc ALTER COLUMN v TYPE bigint");
}

TEST_F(BaseConsistencyTest, WithoutRewritesTheFirstSnapshotIsKept) {
  StartCaptureWithoutBase();
  int snapshots = 0;
  absl::StatusOr<proto::Base> base = TakeBaseWith([&] { ++snapshots; });
  ASSERT_TRUE(base.ok()) << base.status();
  EXPECT_EQ(snapshots, 1);
  EXPECT_EQ(base->relations_checked(), 2u);
  ExpectLatestRestoresExactly();
}

// pg_dump reads each sequence's value with a query that fails when the sequence was dropped after
// the snapshot, and does not lock sequences: the base holds them, so a sequence dropped before the
// check refuses that snapshot, and a DROP asked for after it queues behind the base (when pg_dump's
// own read then queues behind the DROP, that attempt is stopped and taken again).
TEST_F(BaseConsistencyTest, ASequenceDroppedAfterTheSnapshotDoesNotFailTheBase) {
  pg::Connection app = Connect("app");
  Exec(app, "CREATE SEQUENCE s_gone; SELECT nextval('s_gone'); CREATE SEQUENCE s_late;");
  StartCaptureWithoutBase();
  pg::Connection writer = Connect("app");
  int snapshots = 0;
  std::thread late;
  absl::StatusOr<proto::Base> base = TakeBaseWith(
      [&] {
        if (++snapshots == 1) Exec(writer, "DROP SEQUENCE s_gone");
      },
      [&] {
        if (late.joinable()) return;
        // Queues behind the base's hold on the sequence, and runs once the dump has ended.
        late = std::thread([this] {
          pg::Connection dropper = Connect("app");
          Exec(dropper, "DROP SEQUENCE s_late");
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
      });
  if (late.joinable()) late.join();
  ASSERT_TRUE(base.ok()) << base.status();
  EXPECT_GE(snapshots, 2) << "the snapshot that still showed the dropped sequence was kept";
  ExpectLatestRestoresExactly();
}

TEST_F(BaseConsistencyTest, RewritesAfterEverySnapshotFailTheBaseNamingTheTableAndRegisterNothing) {
  StartCaptureWithoutBase();
  ASSERT_TRUE(TakeBaseWith({}).ok());
  ASSERT_EQ(BaseCount(), 1u);
  pg::Connection writer = Connect("app");
  int snapshots = 0;
  absl::StatusOr<proto::Base> base = TakeBaseWith([&] {
    ++snapshots;
    Exec(writer, "TRUNCATE t_trunc; INSERT INTO t_trunc SELECT g, 1 FROM generate_series(1, 50) g");
  });
  ASSERT_FALSE(base.ok()) << "a base was taken although every snapshot saw t_trunc rewritten";
  EXPECT_EQ(base.status().code(), absl::StatusCode::kUnavailable) << base.status();
  const std::string message(base.status().message());
  EXPECT_NE(message.find("\"public\".\"t_trunc\""), std::string::npos) << message;
  EXPECT_NE(message.find("rewritten"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_GE(snapshots, 2) << "the base was not taken again";
  EXPECT_EQ(BaseCount(), 1u);

  // Every attempt's temporary slot is gone with its connection.
  pg::Connection app = Connect("app");
  for (int i = 0;; ++i) {
    absl::StatusOr<pg::Result> r =
        app.Query("SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'pgpitr\\_base\\_%'");
    ASSERT_TRUE(r.ok()) << r.status();
    if (r->rows() == 0) break;
    ASSERT_LT(i, 200) << "temporary slot left behind: " << r->GetString(0, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

TEST_F(BaseConsistencyTest, ARewriteQueuedBehindTheBasesLocksStopsPgDumpAndTheBaseIsTakenAgain) {
  StartCaptureWithoutBase();
  int snapshots = 0;
  int locked = 0;
  absl::Status truncated;
  std::thread truncater;
  // On the first attempt, once the base holds its locks and before pg_dump starts: a TRUNCATE that
  // queues behind them, so pg_dump's own lock queues behind the TRUNCATE. Its lock_timeout turns a
  // deadlock into a failure of this test rather than a hang.
  auto queue_truncate = [&] {
    if (++locked > 1) return;
    truncater = std::thread([this, &truncated] {
      pg::Connection conn = Connect("app");
      truncated = conn.Execute("SET lock_timeout = '60s'; TRUNCATE t_trunc");
    });
    pg::Connection app = Connect("app");
    for (int i = 0;; ++i) {
      absl::StatusOr<pg::Result> r = app.Query(
          "SELECT 1 FROM pg_locks WHERE relation = 't_trunc'::regclass AND mode = 'AccessExclusiveLock' "
          "AND NOT granted");
      ASSERT_TRUE(r.ok()) << r.status();
      if (r->rows() == 1) return;
      ASSERT_LT(i, 1000) << "the TRUNCATE did not queue behind the base's lock";
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  };
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<proto::Base> base = TakeBaseWith([&] { ++snapshots; }, queue_truncate);
  if (truncater.joinable()) truncater.join();
  ASSERT_TRUE(base.ok()) << base.status();
  EXPECT_TRUE(truncated.ok()) << "the TRUNCATE waited for a pg_dump that waited for it: " << truncated;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(50));
  EXPECT_EQ(snapshots, 2) << "the pg_dump queued behind the TRUNCATE was kept";
  EXPECT_EQ(BaseCount(), 1u);
  ExpectLatestRestoresExactly();
}

}  // namespace
}  // namespace pgpitr::testing
