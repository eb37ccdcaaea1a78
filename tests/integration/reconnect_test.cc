// The source restarting under a running capture: capture reconnects with backoff, resumes from its
// slot, and a restore to the end is exact (issue: running for months unattended).
#include "harness.h"

namespace pgpitr::testing {
namespace {

class ReconnectTest : public ServerTest {};

TEST_F(ReconnectTest, SourceRestartMidWorkloadLosesNothing) {
  {
    wal::PgConnection app = Connect("app");
    Exec(app, "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE bag (a int)");
  }
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  auto workload = [&](int from, int to) {
    wal::PgConnection app = Connect("app");
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
    wal::PgConnection app = Connect("app");
    ASSERT_EQ(PQsendQuery(app.raw(), "BEGIN; INSERT INTO bag SELECT generate_series(1, 5000); SELECT pg_sleep(30)"), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_TRUE(server_->Restart().ok());
  }
  workload(200, 400);
  wal::PgConnection app = Connect("app");
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

}  // namespace
}  // namespace pgpitr::testing
