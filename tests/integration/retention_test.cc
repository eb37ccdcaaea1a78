// Retention and daily bases against a real PostgreSQL: retention deletes exactly the bases and the
// change log below the new window and the repository still restores to the window's first instant
// and to its end; a `pgpitr retention` killed after each step leaves a repository that restores;
// scheduled bases are taken only when the source had transactions since the last one.
#include "wal/retention.h"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

#include "fmt/format.h"
#include "harness.h"
#include "wal/base_schedule.h"

namespace pgpitr::testing {
namespace {

using pg::FormatPgTime;
using pg::Lsn;
using pg::PgTime;

class RetentionTest : public ServerTest {
 protected:
  // The retention processes' log goes with the repository (kept beside it when the test fails).
  void TearDown() override {
    if (!HasFailure()) {
      std::error_code ec;
      std::filesystem::remove(RetentionLog(), ec);
    }
    ServerTest::TearDown();
  }
  std::string RetentionLog() const { return repo_dir_.string() + ".retention.log"; }

  // Three bases with a workload before each and after the last; fingerprints of "app" as each base
  // saw it and at the end.
  void BuildHistory() {
    pg::Connection app = Connect("app");
    Exec(app, "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE SEQUENCE s;");
    bases_.push_back(StartCaptureWithBase());
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < 30; ++i) {
        const int id = round * 1000 + i;
        Exec(app, fmt::format("INSERT INTO t VALUES ({}, 'r{}'); SELECT nextval('s');", id, round));
        if (i % 3 == 0) Exec(app, fmt::format("UPDATE t SET v = v || '+' WHERE id = {}", id - 1));
      }
      if (round < 2) {
        seen_.push_back(FingerprintOf("app"));
        bases_.push_back(TakeBase());
      }
    }
    WaitCaptured(InsertLsn(app));
    final_ = FingerprintOf("app");
    StopCapture();
  }

  // "now" for retention such that its window starts halfway between the second and third bases.
  PgTime NowKeepingFromSecondBase(std::chrono::hours window) const {
    const PgTime start = (bases_[1].consistent_time() + bases_[2].consistent_time()) / 2;
    return start + std::chrono::duration_cast<std::chrono::microseconds>(window).count();
  }

  std::unique_ptr<wal::Repository> OpenRead() {
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
        wal::Repository::Open(repo_dir_, wal::Repository::Mode::kRead);
    EXPECT_TRUE(repo.ok()) << repo.status();
    return repo.ok() ? *std::move(repo) : nullptr;
  }

  std::vector<std::string> BaseIds() {
    std::vector<std::string> ids;
    std::unique_ptr<wal::Repository> repo = OpenRead();
    absl::StatusOr<std::vector<proto::Base>> bases = repo->Bases();
    EXPECT_TRUE(bases.ok()) << bases.status();
    if (bases.ok())
      for (const proto::Base& b : *bases) ids.push_back(b.id());
    return ids;
  }

  // Restores to the second base's instant (the new window's start) and to the end, and checks both.
  void ExpectRestoresWindowStartAndEnd(const std::string& suffix) {
    absl::StatusOr<restore::RestoreTarget> start =
        restore::RestoreTarget::AtTime(FormatPgTime(bases_[1].consistent_time()));
    ASSERT_TRUE(start.ok());
    absl::StatusOr<restore::RestoreSummary> at_start = Restore("start_" + suffix, *start);
    ASSERT_TRUE(at_start.ok()) << at_start.status();
    EXPECT_EQ(at_start->plan.base.id(), bases_[1].id());
    EXPECT_EQ(FingerprintOf("start_" + suffix).ToString(), seen_[0].ToString());  // what bases_[1] saw
    absl::StatusOr<restore::RestoreSummary> at_end = Restore("end_" + suffix, restore::RestoreTarget::Latest());
    ASSERT_TRUE(at_end.ok()) << at_end.status();
    EXPECT_EQ(FingerprintOf("end_" + suffix).ToString(), final_.ToString());
  }

  int RunRetentionProcess(const std::string& keep, PgTime now, int exit_after) {
    const std::string log = RetentionLog();
    const std::string env = exit_after > 0 ? fmt::format("PGPITR_TEST_RETENTION_EXIT_AFTER={} ", exit_after) : "";
    const int status = std::system(fmt::format("{}{} retention --repo '{}' --keep {} --now '{}' >>'{}' 2>&1", env,
                                               PGPITR_BINARY, repo_dir_.string(), keep, FormatPgTime(now), log)
                                       .c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::vector<proto::Base> bases_;
  std::vector<embedded::Fingerprint> seen_;  // seen_[i]: what bases_[i + 1] holds
  embedded::Fingerprint final_;
};

TEST_F(RetentionTest, DeletesExactlyTheOldBasesAndTheLogBelowTheOldestKeptOne) {
  ASSERT_NO_FATAL_FAILURE(BuildHistory());
  ASSERT_EQ(bases_.size(), 3u);
  {
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
        wal::Repository::Open(repo_dir_, wal::Repository::Mode::kCapture);
    ASSERT_TRUE(repo.ok()) << repo.status();
    absl::StatusOr<wal::RetentionResult> r =
        wal::RunRetention(**repo, wal::RetentionPolicy{std::chrono::hours(1)},
                          NowKeepingFromSecondBase(std::chrono::hours(1)), {}, base::Logger::Silent());
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_GT(r->transactions_deleted, 30u);  // the first round's inserts and updates, at least
    EXPECT_EQ(r->plan.horizon, Lsn(bases_[1].lsn()));
  }
  EXPECT_EQ(BaseIds(), (std::vector<std::string>{bases_[1].id(), bases_[2].id()}));
  EXPECT_FALSE(std::filesystem::exists(repo_dir_ / "bases" / bases_[0].id()));
  std::unique_ptr<wal::Repository> repo = OpenRead();
  // Nothing below the horizon, and every commit from it on is still there.
  absl::StatusOr<std::optional<proto::Transaction>> below =
      repo->change_log().LastCommitAtOrBefore(Lsn(bases_[1].lsn() - 1));
  ASSERT_TRUE(below.ok());
  EXPECT_FALSE(below->has_value()) << "a commit below the horizon survived: " << Lsn((*below)->commit_lsn()).ToString();
  absl::StatusOr<std::optional<proto::Transaction>> first =
      repo->change_log().FirstCommitAtOrAfter(Lsn(bases_[1].lsn()));
  ASSERT_TRUE(first.ok() && first->has_value());
  repo.reset();

  ExpectRestoresWindowStartAndEnd("a");
  // Before the new window is refused, saying where the window starts.
  absl::StatusOr<restore::RestoreTarget> old =
      restore::RestoreTarget::AtTime(FormatPgTime(bases_[0].consistent_time()));
  ASSERT_TRUE(old.ok());
  absl::StatusOr<restore::RestoreSummary> refused = Restore("too_old", *old);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(refused.status().message().find(FormatPgTime(bases_[1].consistent_time())), std::string_view::npos)
      << refused.status();
}

TEST_F(RetentionTest, AKillAfterEachStepLeavesARepositoryThatRestores) {
  ASSERT_NO_FATAL_FAILURE(BuildHistory());
  const PgTime now = NowKeepingFromSecondBase(std::chrono::hours(1));
  // Killed right after the horizon is written: nothing deleted yet, but the old base is gone for readers.
  ASSERT_EQ(RunRetentionProcess("1h", now, 1), 9);
  EXPECT_EQ(BaseIds(), (std::vector<std::string>{bases_[1].id(), bases_[2].id()}));
  EXPECT_TRUE(std::filesystem::exists(repo_dir_ / "bases" / bases_[0].id()));
  ExpectRestoresWindowStartAndEnd("k1");
  // The next run finishes the deletion and is killed after the base's folder is gone.
  ASSERT_EQ(RunRetentionProcess("1h", now, 2), 9);
  EXPECT_FALSE(std::filesystem::exists(repo_dir_ / "bases" / bases_[0].id()));
  ExpectRestoresWindowStartAndEnd("k2");
  // Killed after the log below the horizon is deleted, before the record says done.
  ASSERT_EQ(RunRetentionProcess("1h", now, 3), 9);
  ExpectRestoresWindowStartAndEnd("k3");
  // And a clean run completes it.
  ASSERT_EQ(RunRetentionProcess("1h", now, 0), 0);
  std::unique_ptr<wal::Repository> repo = OpenRead();
  absl::StatusOr<std::optional<proto::Retention>> record = repo->change_log().RetentionState();
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_TRUE((*record)->done());
  absl::StatusOr<std::optional<proto::Transaction>> below =
      repo->change_log().LastCommitAtOrBefore(Lsn(bases_[1].lsn() - 1));
  ASSERT_TRUE(below.ok());
  EXPECT_FALSE(below->has_value());
  repo.reset();
  ExpectRestoresWindowStartAndEnd("k4");
}

// --- the schedule ---

class BaseScheduleTest : public ServerTest {
 protected:
  void StartScheduledCapture() {
    StartCapture([this](wal::CaptureOptions& options) {
      options.first_base = true;
      options.base_schedule = wal::BaseSchedule();
      options.base_schedule->interval = std::chrono::seconds(2);
      options.on_base_decision = [this](std::string_view what) {
        std::lock_guard<std::mutex> lock(mu_);
        decisions_.emplace_back(what);
      };
    });
  }

  // Waits for the n-th decision (counting from 1) and returns it.
  std::string WaitDecision(size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (decisions_.size() >= n) return decisions_[n - 1];
      }
      if (capture_ended_.load() || std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "no decision " << n << "; capture: " << capture_result_;
        return "";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  std::mutex mu_;
  std::vector<std::string> decisions_;
};

TEST_F(BaseScheduleTest, TakesABaseOnlyWhenTheSourceHadTransactionsSinceTheLast) {
  pg::Connection app = Connect("app");
  Exec(app, "CREATE TABLE t (id int PRIMARY KEY)");
  ASSERT_NO_FATAL_FAILURE(StartScheduledCapture());
  EXPECT_EQ(WaitDecision(1), "taken");  // the first base, at once
  // Idle source: the next due time passes without a base.
  EXPECT_EQ(WaitDecision(2), "skipped");
  EXPECT_EQ(BaseCount(), 1u);
  Exec(app, "INSERT INTO t VALUES (1)");
  WaitCaptured(InsertLsn(app));
  // The first decision made after the commit is durable takes one (one already under way when it
  // became durable may still say "skipped").
  size_t made = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    made = decisions_.size();
  }
  std::string next = WaitDecision(made + 1);
  if (next == "skipped") next = WaitDecision(made + 2);
  EXPECT_EQ(next, "taken");
  EXPECT_EQ(BaseCount(), 2u);
  StopCapture();
}

}  // namespace
}  // namespace pgpitr::testing
