// The source's health as capture sees it: an idle source (or one writing only elsewhere in the
// cluster) still sees capture's slot advance, so WAL does not pile up; and a slot the source
// invalidated (max_slot_wal_keep_size) is recovered from with a recorded gap and a new base.
#include "wal/slot_health.h"

#include "tests/integration/harness.h"

namespace pgpitr::testing {
namespace {

class SlotHealthTest : public ServerTest {
 protected:
  std::vector<std::string> ServerSettings() const override {
    // Small, so that the test can get the slot invalidated with a few WAL segments.
    return {"logical_decoding_work_mem = 64kB", "max_slot_wal_keep_size = 32MB"};
  }

  wal::SlotHealth Slot(wal::PgConnection& conn) {
    absl::StatusOr<wal::SlotHealth> h = wal::ReadSlotHealth(conn, "pgpitr", 0);
    EXPECT_TRUE(h.ok()) << h.status();
    return h.ok() ? *h : wal::SlotHealth();
  }

  void WaitForSlot(wal::PgConnection& conn) {
    for (int i = 0; !Slot(conn).exists; ++i) {
      ASSERT_FALSE(capture_ended_.load()) << capture_result_;
      ASSERT_LT(i, 1200) << "capture did not create its slot";
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  std::vector<proto::Base> Bases() {
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
        wal::Repository::Open(repo_dir_, wal::Repository::Mode::kRead);
    EXPECT_TRUE(repo.ok()) << repo.status();
    if (!repo.ok()) return {};
    absl::StatusOr<std::vector<proto::Base>> bases = (*repo)->Bases();
    EXPECT_TRUE(bases.ok()) << bases.status();
    return bases.ok() ? *bases : std::vector<proto::Base>();
  }
};

TEST_F(SlotHealthTest, IdleSourceSlotAdvancesPastWalWrittenElsewhere) {
  wal::PgConnection app = Connect("app");
  wal::PgConnection other = Connect("postgres");
  StartCapture();
  WaitForSlot(app);
  const wal::Lsn start = Slot(app).confirmed_flush;

  // WAL the slot has nothing to send for: another database, and a non-transactional message
  // with a prefix nobody decodes.
  Exec(other, "CREATE TABLE churn (id int, pad text)");
  for (int i = 0; i < 20; ++i)
    Exec(other, "INSERT INTO churn SELECT g, repeat('x', 200) FROM generate_series(1, 500) g");
  Exec(other, "SELECT pg_switch_wal()");
  Exec(other, "INSERT INTO churn VALUES (0, 'after the switch')");
  const wal::Lsn written = InsertLsn(other);
  ASSERT_GT(written.value(), start.value() + (1 << 20)) << "the test must write more than a little WAL";

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  wal::SlotHealth now = Slot(app);
  while (now.confirmed_flush < written) {
    ASSERT_FALSE(capture_ended_.load()) << capture_result_;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "the slot stayed at " << now.confirmed_flush.ToString() << ", short of " << written.ToString();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    now = Slot(app);
  }
  EXPECT_GE(now.confirmed_flush, written);
  EXPECT_EQ(now.wal_status, "reserved");
  StopCapture();
  absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
      wal::Repository::Open(repo_dir_, wal::Repository::Mode::kRead);
  ASSERT_TRUE(repo.ok());
  EXPECT_EQ((*repo)->change_log().State()->transactions(), 0u) << "nothing was published: nothing was captured";
}

TEST_F(SlotHealthTest, LostSlotRecordsAGapTakesANewBaseAndCaptureGoesOn) {
  wal::PgConnection app = Connect("app");
  wal::PgConnection admin = Connect("postgres");
  Exec(app, "CREATE TABLE accounts (id int PRIMARY KEY, balance int)");
  Exec(app, "INSERT INTO accounts SELECT g, 100 FROM generate_series(1, 50) g");
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  Exec(app, "UPDATE accounts SET balance = balance + 1 WHERE id <= 10");
  WaitCaptured(InsertLsn(app));
  StopCapture();

  // While capture is down: commits it will never see, then WAL until the source gives up the slot.
  const wal::Lsn lost_from = InsertLsn(app);
  Exec(app, "UPDATE accounts SET balance = 0 WHERE id > 40");
  Exec(app, "INSERT INTO accounts VALUES (1001, 1)");
  const wal::Lsn lost_to = InsertLsn(app);
  Exec(admin, "CREATE TABLE churn (id int, pad text)");
  for (int i = 0; i < 40 && Slot(app).wal_status != "lost"; ++i) {
    Exec(admin, "INSERT INTO churn SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g");
    Exec(admin, "SELECT pg_switch_wal()");
    Exec(admin, "CHECKPOINT");
  }
  ASSERT_EQ(Slot(app).wal_status, "lost") << "the source did not invalidate the slot";

  StartCapture();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  while (Bases().size() < 2) {
    ASSERT_FALSE(capture_ended_.load()) << "capture stopped: " << capture_result_;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no new base after the slot was lost";
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(Slot(app).wal_status, "reserved") << "a new slot";
  Exec(app, "UPDATE accounts SET balance = balance * 2 WHERE id % 3 = 0");
  Exec(app, "DELETE FROM accounts WHERE id = 7");
  WaitCaptured(InsertLsn(app));

  {
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
        wal::Repository::Open(repo_dir_, wal::Repository::Mode::kRead);
    ASSERT_TRUE(repo.ok()) << repo.status();
    absl::StatusOr<std::vector<proto::Gap>> gaps = (*repo)->change_log().Gaps();
    ASSERT_TRUE(gaps.ok()) << gaps.status();
    ASSERT_EQ(gaps->size(), 1u);
    EXPECT_LE((*gaps)[0].from_lsn(), lost_from.value());
    EXPECT_GE((*gaps)[0].to_lsn(), lost_to.value());
    EXPECT_NE((*gaps)[0].reason().find("lost"), std::string::npos);
  }

  absl::StatusOr<restore::RestoreSummary> restored = Restore("restored", restore::RestoreTarget::Latest());
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(FingerprintOf("restored"), FingerprintOf("app"));
}

}  // namespace
}  // namespace pgpitr::testing
