// `pgpitr run` killed with SIGKILL in the middle of a workload, twice, and started again: the
// change log loses no transaction and holds none twice, so a restore to the end is exact.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "cli_process.h"
#include "harness.h"
#include "tests/spawn.h"

namespace pgpitr::testing {
namespace {

pid_t Spawn(const std::vector<std::string>& args, const std::filesystem::path& log) {
  const pid_t pid = SpawnLogged(args, {}, log);
  EXPECT_GT(pid, 0) << "cannot start " << args[0];
  return pid;
}

class CrashTest : public ServerTest {
 protected:
  pid_t StartRun() {
    return Spawn({PGPITR_BINARY, "run", "--source", server_->ConnectionString("app"), "--repo", repo_dir_.string(),
                  "--no-first-base", "--sequence-interval", "1"},
                 repo_dir_.parent_path() / (repo_dir_.filename().string() + ".log"));
  }

  // The change log's durable position, read the way `pgpitr info` reads it (read-only, while the
  // capture process may be writing).
  pg::Lsn CapturedThrough() {
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
        wal::Repository::Open(repo_dir_, wal::Repository::Mode::kRead);
    if (!repo.ok()) return pg::Lsn();
    absl::StatusOr<proto::CaptureState> state = (*repo)->change_log().State();
    return state.ok() ? pg::Lsn(state->captured_through_lsn()) : pg::Lsn();
  }
};

TEST_F(CrashTest, KilledCaptureResumesWithoutLosingOrDuplicatingATransaction) {
  pg::Connection app = Connect("app");
  Exec(app,
       "CREATE TABLE t (id serial PRIMARY KEY, v int, note text);"
       "CREATE TABLE bag (a int, b text);"  // no key: duplicates would show
       "ALTER TABLE bag REPLICA IDENTITY FULL;");
  pid_t pid = StartRun();
  for (int i = 0; i < 600 && CapturedThrough() == pg::Lsn(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_NE(CapturedThrough(), pg::Lsn()) << Slurp(repo_dir_.string() + ".log");
  ASSERT_FALSE(TakeBase().id().empty());

  std::atomic<int> committed{0};
  std::atomic<bool> failed{false};
  std::thread workload([&] {
    pg::Connection conn = Connect("app");
    for (int i = 0; i < 600; ++i) {
      std::string sql;
      if (i % 50 == 25) {  // streamed while in progress, and likely in flight when capture dies
        sql =
            "BEGIN; INSERT INTO bag SELECT g % 7, 'big' FROM generate_series(1, 3000) g; "
            "DELETE FROM bag WHERE ctid IN (SELECT ctid FROM bag WHERE a = 3 LIMIT 100); COMMIT";
      } else {
        sql = fmt::format(
            "BEGIN; INSERT INTO t (v, note) VALUES ({0}, 'n{0}'); UPDATE t SET v = v + 1 WHERE id = {1};"
            "INSERT INTO bag VALUES ({2}, 'x'); DELETE FROM t WHERE id = {3}; COMMIT",
            i, i / 2 + 1, i % 5, i / 3);
      }
      if (!conn.Execute(sql).ok()) {
        failed = true;
        return;
      }
      ++committed;
    }
  });

  // Kill it twice while transactions are flowing, and start it again each time.
  for (int kill_at : {150, 400}) {
    while (committed.load() < kill_at && !failed.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));
    pid = StartRun();
  }
  workload.join();
  ASSERT_FALSE(failed.load());

  const pg::Lsn end = InsertLsn(app);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (CapturedThrough() < end) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "capture did not catch up after the restarts:\n"
                                                          << Slurp(repo_dir_.string() + ".log");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Slurp(repo_dir_.string() + ".log");

  absl::StatusOr<restore::RestoreSummary> summary = Restore("after_crashes", restore::RestoreTarget::Latest());
  ASSERT_TRUE(summary.ok()) << summary.status();
  const embedded::Fingerprint expected = FingerprintOf("app");
  const embedded::Fingerprint actual = FingerprintOf("after_crashes");
  EXPECT_EQ(actual, expected) << embedded::DescribeDifference(expected, actual);
  EXPECT_EQ(summary->transactions, 600u) << "every workload transaction replayed exactly once";
  std::filesystem::remove(repo_dir_.string() + ".log");
}

}  // namespace
}  // namespace pgpitr::testing
