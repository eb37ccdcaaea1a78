// The source's health as capture sees it: an idle source (or one writing only elsewhere in the
// cluster) still sees capture's slot advance, so WAL does not pile up; and a slot the source
// invalidated (max_slot_wal_keep_size) is recovered from with a recorded gap and a new base: the
// window is then two stretches, each restorable exactly, and a target inside the gap is refused.
#include "wal/slot_health.h"

#include "fmt/format.h"
#include "pg/stream_messages.h"
#include "tests/integration/cli_process.h"
#include "tests/integration/harness.h"
#include "wal/restorable_window.h"

namespace pgpitr::testing {
namespace {

class SlotHealthTest : public ServerTest {
 protected:
  std::vector<std::string> ServerSettings() const override {
    // Small, so that the test can get the slot invalidated with a few WAL segments.
    return {"logical_decoding_work_mem = 64kB", "max_slot_wal_keep_size = 32MB"};
  }

  wal::SlotHealth Slot(pg::Connection& conn) {
    absl::StatusOr<wal::SlotHealth> h = wal::ReadSlotHealth(conn, "pgpitr", 0);
    EXPECT_TRUE(h.ok()) << h.status();
    return h.ok() ? *h : wal::SlotHealth();
  }

  void WaitForSlot(pg::Connection& conn) {
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
  pg::Connection app = Connect("app");
  pg::Connection other = Connect("postgres");
  StartCapture();
  WaitForSlot(app);
  const pg::Lsn start = Slot(app).confirmed_flush;

  // WAL the slot has nothing to send for: another database, and a non-transactional message
  // with a prefix nobody decodes.
  Exec(other, "CREATE TABLE churn (id int, pad text)");
  for (int i = 0; i < 20; ++i)
    Exec(other, "INSERT INTO churn SELECT g, repeat('x', 200) FROM generate_series(1, 500) g");
  Exec(other, "SELECT pg_switch_wal()");
  Exec(other, "INSERT INTO churn VALUES (0, 'after the switch')");
  const pg::Lsn written = InsertLsn(other);
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
  pg::Connection app = Connect("app");
  pg::Connection admin = Connect("postgres");
  Exec(app, "CREATE TABLE accounts (id int PRIMARY KEY, balance int)");
  Exec(app, "INSERT INTO accounts SELECT g, 100 FROM generate_series(1, 50) g");
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  Exec(app, "UPDATE accounts SET balance = balance + 1 WHERE id <= 10");
  // A restore point as `pgpitr mark` makes it: the last commit capture sees before the gap.
  Exec(app, fmt::format("SELECT pg_logical_emit_message(true, '{}', 'before-the-gap')", pg::kMarkMessagePrefix));
  WaitCaptured(InsertLsn(app));
  const embedded::Fingerprint before_the_gap = FingerprintOf("app");
  StopCapture();

  // While capture is down: commits it will never see, then WAL until the source gives up the slot.
  const pg::Lsn lost_from = InsertLsn(app);
  Exec(app, "UPDATE accounts SET balance = 0 WHERE id > 40");
  Exec(app, "INSERT INTO accounts VALUES (1001, 1)");
  const pg::Lsn lost_to = InsertLsn(app);
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
  Exec(app, fmt::format("SELECT pg_logical_emit_message(true, '{}', 'after-the-new-base')", pg::kMarkMessagePrefix));
  const embedded::Fingerprint after_the_new_base = FingerprintOf("app");
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

  // The window: the stretch before the gap, from the first base to its last commit, and the one
  // from the new base on (capture stopped, so that its end stays put while it is compared).
  StopCapture();
  wal::RestorableWindow window;
  {
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
        wal::Repository::Open(repo_dir_, wal::Repository::Mode::kRead);
    ASSERT_TRUE(repo.ok()) << repo.status();
    absl::StatusOr<proto::CaptureState> state = (*repo)->change_log().State();
    ASSERT_TRUE(state.ok()) << state.status();
    absl::StatusOr<wal::RestorableWindow> read = wal::ReadRestorableWindow(Bases(), (*repo)->change_log(), *state);
    ASSERT_TRUE(read.ok()) << read.status();
    window = *read;
  }
  ASSERT_EQ(window.stretches.size(), 2u) << window.ToString();
  const wal::RestorableStretch& before = window.stretches[0];
  const wal::RestorableStretch& after = window.stretches[1];
  ASSERT_TRUE(before.ends_at_gap.has_value());
  EXPECT_LT(before.end_time, after.start_time);

  // Exactly to points before the gap: the mark, and the stretch's last instant.
  restored = Restore("before_gap_mark", restore::RestoreTarget::AtMark("before-the-gap"));
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(FingerprintOf("before_gap_mark"), before_the_gap);
  restore::RestoreTarget at_end;
  at_end.kind = restore::RestoreTarget::Kind::kTime;
  at_end.time = before.end_time;
  restored = Restore("before_gap_time", at_end);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->plan.base.id(), before.bases.back().id());
  EXPECT_EQ(FingerprintOf("before_gap_time"), before_the_gap);

  // Exactly to a point after the new base.
  restored = Restore("after_new_base", restore::RestoreTarget::AtMark("after-the-new-base"));
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->plan.base.id(), after.bases.front().id());
  EXPECT_EQ(FingerprintOf("after_new_base"), after_the_new_base);

  // Inside the gap: refused in one line naming both stretches, and nothing is created.
  restore::RestoreTarget inside = at_end;
  inside.time = before.end_time + (after.start_time - before.end_time) / 2;
  restored = Restore("inside_gap", inside);
  ASSERT_FALSE(restored.ok()) << "restored from base " << restored->plan.base.id();
  EXPECT_EQ(restored.status().code(), absl::StatusCode::kOutOfRange);
  const std::string refusal(restored.status().message());
  EXPECT_NE(refusal.find("falls between two stretches of the window"), std::string::npos) << refusal;
  EXPECT_NE(refusal.find(before.ToString() + "; " + after.ToString()), std::string::npos) << refusal;
  EXPECT_NE(refusal.find("lost"), std::string::npos) << refusal;
  EXPECT_EQ(refusal.find('\n'), std::string::npos) << refusal;
  absl::StatusOr<pg::Result> created = admin.Query("SELECT count(*) FROM pg_database WHERE datname = 'inside_gap'");
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created->GetString(0, 0), "0");

  // info prints every stretch, and verify's restorable line too.
  const CliResult info = RunPgpitr({"info", "--repo", repo_dir_.string()});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("window       " + before.ToString() + ", then a gap: commits after LSN "), std::string::npos)
      << info.out;
  EXPECT_NE(info.out.find("             " + after.ToString() + "\n"), std::string::npos) << info.out;
  const CliResult verify = RunPgpitr({"verify", "--repo", repo_dir_.string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("restorable: " + window.ToString() + "\n"), std::string::npos) << verify.out;
}

}  // namespace
}  // namespace pgpitr::testing
