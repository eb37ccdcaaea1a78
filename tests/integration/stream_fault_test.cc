// `pgpitr run` killed with SIGKILL at every fault point of a streamed transaction that has a
// rolled-back subtransaction: before and after each Stream Start, Stop, Abort and Commit, after each
// spill of its changes, before and after each sync. Whatever the server sends again after the
// restart, and whether it streams the transaction again or sends it whole, the restore to the end
// must equal the source.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "cli_process.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "harness.h"
#include "tests/spawn.h"

namespace pgpitr::testing {
namespace {

// The fault points a trace file lists, in order ("12 before Stream Abort" a line).
std::vector<std::string> TracedPoints(const std::filesystem::path& trace) {
  std::vector<std::string> out;
  std::ifstream in(trace);
  for (std::string line; std::getline(in, line);) out.push_back(line.substr(line.find(' ') + 1));
  return out;
}

class StreamFaultTest : public ServerTest {
 protected:
  // Runs the workload in database `db` with capture started as `pgpitr run` with these extra
  // environment variables, kills nothing itself; returns what restore to the end found different
  // from the source ("" when exact).
  struct Iteration {
    std::string db;
    std::filesystem::path repo;
    std::filesystem::path trace;
    uint64_t kill_at = 0;  // 0: no kill
  };

  // Every run traces its fault points into the iteration's file; the first one may die at one.
  pid_t StartRun(const Iteration& it, bool with_faults) {
    std::vector<std::string> env = {"PGPITR_TEST_CAPTURE_TRACE=" + it.trace.string()};
    if (with_faults && it.kill_at > 0) env.push_back("PGPITR_TEST_CAPTURE_KILL_AT=" + std::to_string(it.kill_at));
    return SpawnLogged(
        {PGPITR_BINARY, "run", "--source", server_->ConnectionString(it.db), "--repo", it.repo.string(), "--slot",
         "s_" + it.db, "--publication", "p_" + it.db, "--no-first-base", "--sequence-interval", "1"},
        env, it.repo.string() + ".log");
  }

  pg::Lsn CapturedThrough(const std::filesystem::path& repo_dir) {
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
        wal::Repository::Open(repo_dir, wal::Repository::Mode::kRead);
    if (!repo.ok()) return pg::Lsn();
    absl::StatusOr<proto::CaptureState> state = (*repo)->change_log().State();
    return state.ok() ? pg::Lsn(state->captured_through_lsn()) : pg::Lsn();
  }

  // The transaction of the report, with its rolled-back subtransactions, while a second
  // session commits small transactions between its steps, so that capture confirms positions past
  // the big transaction's start while it is still open.
  void Workload(const std::string& db) {
    pg::Connection big = Connect(db);
    pg::Connection small = Connect(db);
    int n = 0;
    // A small commit, then a wait until the server has capture's confirmation of it (when capture is
    // alive): so each kill finds the slot confirmed past the big transaction's steps so far, and the
    // server, after the restart, decodes them again without streaming (it spills them) before it
    // reaches the confirmed position and streams the transaction from its start.
    auto tick = [&] {
      Exec(small, fmt::format("INSERT INTO t_small (v) VALUES ({})", ++n));
      const pg::Lsn after = InsertLsn(small);
      for (int i = 0; i < 400; ++i) {
        RestartIfKilled();
        absl::StatusOr<pg::Result> r =
            small.Query("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1", {"s_" + db});
        if (r.ok() && r->rows() == 1 && !r->IsNull(0, 0) && *pg::Lsn::Parse(r->Get(0, 0)) >= after) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      }
    };
    Exec(big, "BEGIN");
    Exec(big, "INSERT INTO t_bulk (w, v) SELECT 1, md5(g::text) FROM generate_series(1, 6000) g");
    tick();
    Exec(big, "SAVEPOINT s1");
    Exec(big, "UPDATE t_bulk SET v = 'rolled back' WHERE w = 1");
    tick();
    Exec(big, "SAVEPOINT s2");
    Exec(big, "INSERT INTO t_bulk (w, v) SELECT 2, 'nested ' || g FROM generate_series(1, 300) g");
    tick();
    Exec(big, "ROLLBACK TO SAVEPOINT s1");
    tick();
    Exec(big, "SAVEPOINT s3");
    Exec(big, "UPDATE t_bulk SET v = 'kept ' || id WHERE w = 1 AND id % 3 = 0");
    Exec(big, "RELEASE SAVEPOINT s3");
    tick();
    Exec(big, "DELETE FROM t_bulk WHERE w = 1 AND id % 7 = 0");
    tick();
    Exec(big, "COMMIT");
    tick();
  }

  // One iteration: fresh database, capture with a kill at `kill_at`, restart, restore, compare.
  std::string RunIteration(Iteration& it) {
    pg::Connection admin = Connect("postgres");
    Exec(admin, "CREATE DATABASE " + it.db);
    // In the base when a pg_dump fits the server, else made after an empty base.
    auto create_schema = [&] {
      pg::Connection conn = Connect(it.db);
      Exec(conn,
           "CREATE TABLE t_bulk (id serial PRIMARY KEY, w int, v text);"
           "CREATE TABLE t_small (id serial PRIMARY KEY, v int)");
    };
    if (CanDumpTestServer()) create_schema();
    it.repo = MakeTempDir("pgpitr-fault-repo-");
    std::filesystem::remove_all(it.repo);
    current_ = &it;
    killed_ = false;
    pid_ = StartRun(it, true);
    for (int i = 0; i < 600 && CapturedThrough(it.repo) == pg::Lsn(); ++i) {
      RestartIfKilled();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (CapturedThrough(it.repo) == pg::Lsn()) return "capture did not start: " + Slurp(it.repo.string() + ".log");
    {
      absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
          wal::Repository::Open(it.repo, wal::Repository::Mode::kRead);
      wal::BaseOptions options;
      options.source = Info(it.db);
      options.slot = "s_" + it.db;
      absl::StatusOr<proto::Base> base = wal::TakeBase(**repo, options, base::Logger::Silent());
      if (!base.ok()) return "base: " + std::string(base.status().message());
    }
    if (!CanDumpTestServer()) create_schema();
    Workload(it.db);
    pg::Lsn end;
    {
      pg::Connection conn = Connect(it.db);
      end = InsertLsn(conn);
    }
    // Wait for capture to reach the end or to die at its fault point; start it again if it died.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (CapturedThrough(it.repo) < end) {
      if (!RestartIfKilled()) return "capture ended by itself: " + Slurp(it.repo.string() + ".log");
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        return "capture did not catch up: " + Slurp(it.repo.string() + ".log");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);

    restore::RestoreOptions options;
    options.repo = it.repo;
    options.target = Info("r_" + it.db);
    options.point = restore::RestoreTarget::Latest();
    absl::StatusOr<restore::RestoreSummary> summary = restore::RunRestore(options, base::Logger::Silent());
    if (!summary.ok()) return "restore: " + std::string(summary.status().message());
    const embedded::Fingerprint expected = FingerprintOf(it.db);
    const embedded::Fingerprint actual = FingerprintOf("r_" + it.db);
    std::string diff;
    if (!(expected == actual)) diff = embedded::DescribeDifference(expected, actual);
    // Clean up: the slot (capture's), both databases, the repository.
    Exec(admin, fmt::format("SELECT pg_drop_replication_slot('s_{}')", it.db));
    Exec(admin, "DROP DATABASE " + it.db);
    Exec(admin, "DROP DATABASE r_" + it.db);
    if (diff.empty()) {
      std::filesystem::remove_all(it.repo);
      std::filesystem::remove(it.repo.string() + ".log");
    }
    return diff;
  }

  // Starts capture again (without the fault) once it died at its fault point; false when it ended
  // by itself, which it must not.
  bool RestartIfKilled() {
    int status = 0;
    if (killed_ || waitpid(pid_, &status, WNOHANG) != pid_) return true;
    if (!WIFSIGNALED(status)) return false;
    pid_ = StartRun(*current_, false);
    killed_ = true;
    return true;
  }

  const Iteration* current_ = nullptr;
  pid_t pid_ = -1;
  bool killed_ = false;
};

TEST_F(StreamFaultTest, KillAtEveryBoundaryOfAStreamedTransactionWithARolledBackSubtransaction) {
  // A run without faults lists the points the workload passes.
  const std::filesystem::path trace_dir = MakeTempDir("pgpitr-fault-trace-");
  Iteration first{"f0", {}, trace_dir / "f0", 0};
  ASSERT_EQ(RunIteration(first), "");
  const std::vector<std::string> points = TracedPoints(first.trace);
  ASSERT_GT(points.size(), 20u) << "the workload passes too few fault points: is it streamed?";
  size_t stream_aborts = std::count(points.begin(), points.end(), "after Stream Abort");
  EXPECT_GE(stream_aborts, 1u) << "the rolled-back subtransaction was not streamed before its abort";

  // Then iterations that each kill capture at one point: every point that opens, ends or aborts a
  // streamed transaction or spills it, and every stride-th of the others (PGPITR_TEST_FAULT_STRIDE,
  // default: about 12 of them; 1 kills at every point). Counts vary a little with timing (syncs),
  // so the list is a guide: each kill is at the k-th point of its own run.
  const char* stride_env = std::getenv("PGPITR_TEST_FAULT_STRIDE");
  const size_t stride = stride_env != nullptr ? static_cast<size_t>(std::max(1, std::atoi(stride_env)))
                                              : std::max<size_t>(1, points.size() / 12);
  std::vector<size_t> kill_points;
  for (size_t k = 1; k <= points.size(); ++k) {
    const std::string& p = points[k - 1];
    const bool boundary = p.find("Stream Abort") != std::string::npos || p.find("Stream Commit") != std::string::npos ||
                          p.find("spill") != std::string::npos;
    if (boundary || (k - 1) % stride == 0) kill_points.push_back(k);
  }
  std::vector<std::string> failures;
  size_t kills = 0;
  size_t unannounced = 0;
  for (size_t k : kill_points) {
    Iteration it{fmt::format("f{}", k), {}, trace_dir / fmt::format("f{}", k), k};
    const std::string diff = RunIteration(it);
    kills += killed_ ? 1 : 0;
    const std::vector<std::string> traced = TracedPoints(it.trace);
    const size_t left_out =
        std::count(traced.begin(), traced.end(), "after leaving out subtransactions aborted unannounced");
    if (left_out > 0) {
      std::fprintf(stderr, "killed at point %zu (%s): the server left out a Stream Abort\n", k, points[k - 1].c_str());
    }
    unannounced += left_out;
    if (!diff.empty()) failures.push_back(fmt::format("killed at point {} ({}): {}", k, points[k - 1], diff));
  }
  std::fprintf(stderr,
               "stream faults: %zu points, %zu kills, %zu subtransactions the server aborted without a Stream Abort, "
               "%zu not exact\n",
               points.size(), kills, unannounced, failures.size());
  EXPECT_TRUE(failures.empty()) << fmt::format("{}", fmt::join(failures, "\n"));
  if (failures.empty()) std::filesystem::remove_all(trace_dir);
}

}  // namespace
}  // namespace pgpitr::testing
