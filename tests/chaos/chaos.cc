// pgpitr_chaos: many sessions writing at once against a throwaway PostgreSQL while `pgpitr run`
// captures it and faults strike at random moments; every checkpoint is restored by time and by LSN
// and compared exactly with the source as it was then.
//   pgpitr_chaos --seconds 90 --seed 7 --pgpitr build/cli/pgpitr     # prints "N/N points exact"
// The seed printed at start reproduces the workload and the faults' schedule (their effect still
// depends on timing). Exit code 0 only when every point is exact.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "embedded/fingerprint.h"
#include "embedded/local_server.h"
#include "fmt/format.h"
#include "pg/connection.h"
#include "pg/process.h"
#include "restore/restore.h"
#include "restore/restore_target.h"
#include "tests/spawn.h"
#include "wal/repository.h"

namespace pgpitr::chaos {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int seconds = 90;
  uint64_t seed = 0;
  int sessions = 8;
  int checkpoints = 8;
  bool faults = true;
  int bulk_min = 2000;
  int bulk_max = 10000;
  std::string pgpitr = PGPITR_BINARY;
  bool keep = false;
  bool peer = false;  // pg_recvlogical on a second slot, and both slots' lag compared
  int pg_major = 15;  // the server's major version (16+ from deploy/fetch_postgres.sh)
};

using testing::Slurp;

void Say(const std::string& line) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::fprintf(stderr, "chaos: %s\n", line.c_str());
}

pid_t Spawn(const std::vector<std::string>& args, const std::filesystem::path& log) {
  return testing::SpawnLogged(args, {}, log);
}

// What a checkpoint saw of the source, with every session paused between transactions.
struct Checkpoint {
  int number = 0;
  pg::Lsn lsn;             // insert position while paused: every commit before it, none after
  std::string time;        // clock_timestamp() while paused, as the server printed it
  pg::PgTime pg_time = 0;  // the same reading, in microseconds since 2000-01-01 UTC
  embedded::Fingerprint fingerprint;
};

// Counters the sessions share (for the report).
struct Tally {
  std::atomic<uint64_t> committed{0}, rolled_back{0}, failed{0}, bulk{0}, prepared{0}, savepoints{0};
};

// Sessions pause between transactions while a checkpoint is taken.
class Gate {
 public:
  explicit Gate(int sessions) : sessions_(sessions) {}
  // Called by a session between transactions: waits while paused.
  void Between() {
    std::unique_lock<std::mutex> lock(mu_);
    if (!paused_) return;
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !paused_; });
    --waiting_;
  }
  void Leave() {  // a session that ended counts as waiting
    std::lock_guard<std::mutex> lock(mu_);
    ++done_;
    cv_.notify_all();
  }
  // Pauses every session; true when all are between transactions.
  bool Pause(std::chrono::seconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    paused_ = true;
    return cv_.wait_for(lock, limit, [&] { return waiting_ + done_ >= sessions_; });
  }
  void Resume() {
    std::lock_guard<std::mutex> lock(mu_);
    paused_ = false;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int sessions_;
  int waiting_ = 0;
  int done_ = 0;
  bool paused_ = false;
};

class Chaos {
 public:
  explicit Chaos(Options o) : o_(std::move(o)), gate_(o_.sessions), rng_(o_.seed) {}

  int Run() {
    Say(fmt::format("seed {} ({} sessions, {} s, faults {}); reproduce with --seed {}", o_.seed, o_.sessions,
                    o_.seconds, o_.faults ? "on" : "off", o_.seed));
    embedded::LocalServerOptions so;
    absl::StatusOr<std::filesystem::path> bin_dir = embedded::ServerBinDir(o_.pg_major);
    if (!bin_dir.ok()) return Fail(std::string(bin_dir.status().message()));
    so.bin_dir = *bin_dir;
    // Without a pg_dump fit for the server, the database is empty when capture starts (an empty
    // base, no dump) and the schema is made after it, captured by the event triggers; the
    // scheduled bases after it then fail (no pg_dump) and capture carries on.
    const bool schema_first = pg::PgTool("pg_dump", o_.pg_major, "", {}).ok();
    can_dump_ = schema_first;
    so.settings = {"logical_decoding_work_mem = 64kB", "max_prepared_transactions = 32", "max_connections = 60",
                   "wal_sender_timeout = 10s", "deadlock_timeout = 100ms"};
    absl::StatusOr<std::unique_ptr<embedded::LocalServer>> server = embedded::LocalServer::Start(so);
    if (!server.ok()) return Fail(fmt::format("cannot start PostgreSQL: {}", server.status().message()));
    server_ = *std::move(server);
    work_ = std::filesystem::temp_directory_path() / fmt::format("pgpitr-chaos-{}-{}", o_.seed, getpid());
    std::filesystem::create_directories(work_);
    repo_ = work_ / "repo";
    log_ = work_ / "run.log";
    if (absl::Status s = Setup(schema_first); !s.ok()) return Fail(fmt::format("setup: {}", s.message()));

    StartRun();
    if (!WaitFirstBase()) return Fail("capture took no first base:\n" + Slurp(log_));
    if (!schema_first) {
      if (absl::Status s = MakeSchema(); !s.ok()) return Fail(fmt::format("schema: {}", s.message()));
    }

    std::atomic<bool> stop{false};
    std::vector<std::thread> sessions;
    for (int i = 0; i < o_.sessions; ++i) sessions.emplace_back([this, i, &stop] { Session(i, stop); });
    std::thread faults;
    if (o_.faults) faults = std::thread([this, &stop] { Faults(stop); });
    pid_t peer = -1;
    std::thread lag;
    if (o_.peer) {
      peer = StartPeer();
      lag = std::thread([this, &stop] { SampleLag(stop); });
    }

    const auto start = Clock::now();
    const auto every = std::chrono::milliseconds(o_.seconds * 1000 / (o_.checkpoints + 1));
    for (int c = 1; c <= o_.checkpoints; ++c) {
      std::this_thread::sleep_until(start + every * c);
      TakeCheckpoint();
    }
    std::this_thread::sleep_until(start + std::chrono::seconds(o_.seconds));
    stop = true;
    for (auto& t : sessions) t.join();
    if (faults.joinable()) faults.join();
    if (lag.joinable()) lag.join();
    if (peer > 0) {
      kill(peer, SIGTERM);
      waitpid(peer, nullptr, 0);
      ReportLag();
    }
    ResolvePrepared();
    TakeCheckpoint();

    Say(
        fmt::format("workload: {} committed, {} rolled back, {} failed (deadlocks, faults), {} bulk, {} prepared, "
                    "{} savepoint transactions; faults: {}",
                    tally_.committed.load(), tally_.rolled_back.load(), tally_.failed.load(), tally_.bulk.load(),
                    tally_.prepared.load(), tally_.savepoints.load(), FaultSummary()));
    // The window must cover the last checkpoint by time as well as by LSN: a position passed is not a
    // time passed until a clock reading taken after the checkpoint is passed too (the source may be
    // writing WAL without commits, e.g. hint bits logged with data checksums, 18's default).
    if (!WaitCaptured(checkpoints_.back().lsn, checkpoints_.back().pg_time)) {
      return Fail("capture did not catch up:\n" + Slurp(log_));
    }
    StopRun(SIGTERM);
    ReportStreaming();
    return Verify();
  }

 private:
  int Fail(const std::string& why) {
    Say("FAILED: " + why);
    if (run_pid_ > 0) StopRun(SIGKILL);
    if (server_) server_->KeepOnExit();
    Say(fmt::format("kept {} (repository, logs)", work_.string()));
    return 1;
  }

  absl::StatusOr<pg::Connection> Connect(const std::string& db = "app") {
    absl::StatusOr<pg::ConnInfo> info = pg::ConnInfo::Parse(server_->ConnectionString(db));
    if (!info.ok()) return info.status();
    return pg::Connection::Connect(*info, "source");
  }

  absl::Status Setup(bool schema_first) {
    absl::StatusOr<pg::Connection> admin = Connect("postgres");
    if (!admin.ok()) return admin.status();
    if (absl::Status s = admin->Execute("CREATE DATABASE app"); !s.ok()) return s;
    return schema_first ? MakeSchema() : absl::OkStatus();
  }

  absl::Status MakeSchema() {
    absl::StatusOr<pg::Connection> app = Connect();
    if (!app.ok()) return app.status();
    return app->Execute(
        "CREATE TABLE t_bulk (id bigserial PRIMARY KEY, w int NOT NULL, v text);"
        "CREATE INDEX ON t_bulk (w);"
        "CREATE TABLE t_acct (id int PRIMARY KEY, bal bigint NOT NULL, note text);"
        "INSERT INTO t_acct SELECT g, 1000, 'a' || g FROM generate_series(1, 2000) g;"
        "CREATE TABLE t_trunc (id int PRIMARY KEY, v int NOT NULL);"
        "INSERT INTO t_trunc SELECT g, 0 FROM generate_series(1, 50) g;"
        "CREATE TABLE t_nokey (a int, b text);"
        "ALTER TABLE t_nokey REPLICA IDENTITY FULL;"
        "CREATE TABLE t_toast (id int PRIMARY KEY, big text, small int NOT NULL);"
        "ALTER TABLE t_toast ALTER COLUMN big SET STORAGE EXTERNAL;"
        "INSERT INTO t_toast SELECT g, repeat(md5(g::text), 200), 0 FROM generate_series(1, 40) g;"
        "CREATE TABLE t_sub (id bigserial PRIMARY KEY, session int, n int, tag text);");
  }

  // --- `pgpitr run` ---
  void StartRun() {
    run_pid_ = Spawn(
        {o_.pgpitr, "run", "--source", server_->ConnectionString("app"), "--repo", repo_.string(),
         "--sequence-interval", "1", "--slot-check-interval", "1", "--base-interval", "20s", "--log-level", "info"},
        log_);
  }
  void StopRun(int signal) {
    if (run_pid_ <= 0) return;
    kill(run_pid_, signal);
    int status = 0;
    waitpid(run_pid_, &status, 0);
    if (signal == SIGTERM && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      Say("pgpitr run did not stop cleanly (see " + log_.string() + ")");
    }
    run_pid_ = -1;
  }
  // A run that ended by itself is a finding (it must ride out every fault): say so and restart it.
  void CheckRunAlive() {
    int status = 0;
    if (run_pid_ > 0 && waitpid(run_pid_, &status, WNOHANG) == run_pid_) {
      ++run_exits_;
      Say(fmt::format("pgpitr run exited by itself (status {}); starting it again", status));
      run_pid_ = -1;
      StartRun();
    }
  }

  proto::CaptureState State() {
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo = wal::Repository::Open(repo_, wal::Repository::Mode::kRead);
    if (!repo.ok()) return {};
    absl::StatusOr<proto::CaptureState> state = (*repo)->change_log().State();
    return state.ok() ? *state : proto::CaptureState();
  }
  size_t Bases() {
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo = wal::Repository::Open(repo_, wal::Repository::Mode::kRead);
    if (!repo.ok()) return 0;
    absl::StatusOr<std::vector<proto::Base>> bases = (*repo)->Bases();
    return bases.ok() ? bases->size() : 0;
  }
  bool WaitFirstBase() {
    for (int i = 0; i < 1200; ++i) {
      if (Bases() > 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  bool WaitCaptured(pg::Lsn lsn, pg::PgTime time) {
    const auto deadline = Clock::now() + std::chrono::seconds(300);
    while (Clock::now() < deadline) {
      CheckRunAlive();
      const proto::CaptureState state = State();
      if (pg::Lsn(state.captured_through_lsn()) >= lsn && state.captured_through_time() >= time) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // --- the sessions ---
  // One transaction of a random kind; false when it did not commit.
  void Session(int id, const std::atomic<bool>& stop) {
    std::mt19937_64 rng(o_.seed * 1000003 + static_cast<uint64_t>(id));
    std::optional<pg::Connection> conn;
    std::vector<std::string> dangling;  // prepared transactions a failure left open
    int iteration = 0;
    while (!stop.load()) {
      gate_.Between();
      if (!conn.has_value() || !conn->Execute("SELECT 1").ok()) {
        conn.reset();
        absl::StatusOr<pg::Connection> c = Connect();
        if (!c.ok()) {  // the source is restarting
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          continue;
        }
        conn.emplace(*std::move(c));
        // A prepared transaction a fault left behind holds its row locks: nobody waits on it for ever.
        (void)conn->Execute("SET lock_timeout = '2s'; SET statement_timeout = '60s'");
      }
      for (auto it = dangling.begin(); it != dangling.end();) {
        absl::StatusOr<pg::Result> r = conn->Query("SELECT count(*) FROM pg_prepared_xacts WHERE gid = $1", {*it});
        if (r.ok() && r->Get(0, 0) == "0") {
          it = dangling.erase(it);
        } else if (conn->Execute(fmt::format("ROLLBACK PREPARED '{}'", *it)).ok()) {
          it = dangling.erase(it);
        } else {
          ++it;
        }
      }
      const std::vector<std::string> steps = Transaction(id, iteration++, rng);
      bool ok = true;
      for (const std::string& step : steps) {
        if (absl::Status s = conn->Execute(step); !s.ok()) {
          ok = false;
          break;
        }
        if (step.starts_with("PREPARE TRANSACTION")) dangling.push_back(step.substr(21, step.size() - 22));
      }
      if (ok && !dangling.empty() && steps.back().find("PREPARED") != std::string::npos) dangling.pop_back();
      if (!ok) {
        ++tally_.failed;
        (void)conn->Execute("ROLLBACK");
        continue;
      }
      const std::string& last = steps.back();
      if (last == "ROLLBACK" || last.starts_with("ROLLBACK PREPARED")) {
        ++tally_.rolled_back;
      } else {
        ++tally_.committed;
      }
    }
    gate_.Leave();
  }

  std::vector<std::string> Transaction(int id, int iteration, std::mt19937_64& rng) {
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    const int acct = pick(1, 2000);
    const int other = pick(1, 2000);
    const int kind = pick(0, 99);
    if (kind < 6) {
      // The bulk shape of the report: rows only a rolled-back subtransaction changed must not come back.
      ++tally_.bulk;
      const int w = id * 10 + iteration % 3;
      return {"BEGIN",
              fmt::format("DELETE FROM t_bulk WHERE w = {}", w),
              fmt::format("INSERT INTO t_bulk (w, v) SELECT {}, md5(g::text) FROM generate_series(1, {}) g", w,
                          pick(o_.bulk_min, o_.bulk_max)),
              "SAVEPOINT s1",
              fmt::format("UPDATE t_bulk SET v = 'rolled back' WHERE w = {}", w),
              "ROLLBACK TO SAVEPOINT s1",
              fmt::format("DELETE FROM t_bulk WHERE w = {} AND id % 7 = 0", w),
              "COMMIT"};
    }
    if (kind < 20) {
      // Nested savepoints, released and rolled back, with rows and a schema change only in the
      // rolled-back ones.
      ++tally_.savepoints;
      std::vector<std::string> s = {"BEGIN", fmt::format("INSERT INTO t_sub (session, n, tag) SELECT {}, g, 'top' "
                                                         "FROM generate_series(1, {}) g",
                                                         id, pick(1, 400))};
      s.push_back("SAVEPOINT a");
      s.push_back(
          fmt::format("INSERT INTO t_sub (session, n, tag) SELECT {}, g, 'released a' FROM "
                      "generate_series(1, {}) g",
                      id, pick(1, 300)));
      s.push_back("SAVEPOINT b");
      s.push_back(fmt::format("UPDATE t_sub SET tag = 'rolled back b' WHERE session = {}", id));
      if (pick(0, 3) == 0) s.push_back("ALTER TABLE t_acct ADD COLUMN IF NOT EXISTS rolled_back_col int");
      s.push_back(
          fmt::format("INSERT INTO t_sub (session, n, tag) SELECT {}, g, 'rolled back b' FROM "
                      "generate_series(1, {}) g",
                      id, pick(1, 600)));
      s.push_back("SAVEPOINT c");
      s.push_back(fmt::format("DELETE FROM t_sub WHERE session = {} AND n % 2 = 0", id));
      s.push_back("RELEASE SAVEPOINT c");
      s.push_back("ROLLBACK TO SAVEPOINT b");
      s.push_back("RELEASE SAVEPOINT a");
      s.push_back(fmt::format("UPDATE t_acct SET bal = bal + 1 WHERE id = {}", acct));
      s.push_back(fmt::format("DELETE FROM t_sub WHERE session = {} AND n > 20", id));
      s.push_back(pick(0, 9) == 0 ? "ROLLBACK" : "COMMIT");
      return s;
    }
    if (kind < 24) {
      // Prepared transactions, committed or rolled back later by the same session.
      ++tally_.prepared;
      const std::string gid = fmt::format("g_{}_{}", id, iteration);
      return {"BEGIN", fmt::format("UPDATE t_acct SET bal = bal - 5, note = 'prepared' WHERE id = {}", acct),
              fmt::format("INSERT INTO t_nokey VALUES ({}, 'prepared')", acct % 10),
              fmt::format("PREPARE TRANSACTION '{}'", gid),
              fmt::format("{} PREPARED '{}'", pick(0, 2) == 0 ? "ROLLBACK" : "COMMIT", gid)};
    }
    if (kind < 30) {
      // TRUNCATE and upserts (the rows the base must hold as of its snapshot).
      if (pick(0, 2) == 0) {
        return {"BEGIN", "TRUNCATE t_trunc", "INSERT INTO t_trunc SELECT g, 0 FROM generate_series(1, 50) g", "COMMIT"};
      }
      return {"BEGIN",
              fmt::format("INSERT INTO t_trunc SELECT g, 1 FROM generate_series({}, {}) g "
                          "ON CONFLICT (id) DO UPDATE SET v = t_trunc.v + 1",
                          pick(1, 30), pick(30, 60)),
              "COMMIT"};
    }
    if (kind < 34) {
      // A primary key moves, and moves back.
      return {"BEGIN", fmt::format("UPDATE t_acct SET id = id + 100000 WHERE id = {}", acct),
              fmt::format("UPDATE t_acct SET id = id - 100000, bal = bal + 3 WHERE id = {}", acct + 100000), "COMMIT"};
    }
    if (kind < 40) {
      // Unchanged TOAST: only the small column changes.
      return {"BEGIN", fmt::format("UPDATE t_toast SET small = small + 1 WHERE id = {}", pick(1, 40)), "COMMIT"};
    }
    if (kind < 46) {
      // A table without a key: duplicates and deletes of some of them.
      return {
          "BEGIN", fmt::format("INSERT INTO t_nokey SELECT {}, 'dup' FROM generate_series(1, 3)", acct % 10),
          fmt::format("DELETE FROM t_nokey WHERE ctid IN (SELECT ctid FROM t_nokey WHERE a = {} LIMIT 2)", other % 10),
          "COMMIT"};
    }
    if (kind < 50) {
      // Objects created and dropped while capture samples sequences.
      return {fmt::format("CREATE SEQUENCE IF NOT EXISTS s_churn_{}", id),
              fmt::format("SELECT nextval('s_churn_{}')", id), fmt::format("DROP SEQUENCE s_churn_{}", id)};
    }
    if (kind < 55) {
      // An aborted transaction.
      return {"BEGIN", fmt::format("UPDATE t_acct SET bal = -1 WHERE id = {}", acct),
              fmt::format("INSERT INTO t_sub (session, n, tag) VALUES ({}, -1, 'aborted')", id), "ROLLBACK"};
    }
    // Transfers in both orders: deadlocks between sessions.
    return {"BEGIN", fmt::format("UPDATE t_acct SET bal = bal - 1 WHERE id = {}", acct),
            fmt::format("UPDATE t_acct SET bal = bal + 1 WHERE id = {}", other),
            fmt::format("INSERT INTO t_sub (session, n, tag) VALUES ({}, {}, 'transfer')", id, acct), "COMMIT"};
  }

  // Prepared transactions a failed session left behind are rolled back before the last checkpoint.
  void ResolvePrepared() {
    absl::StatusOr<pg::Connection> conn = Connect();
    if (!conn.ok()) return;
    absl::StatusOr<pg::Result> r = conn->Query("SELECT gid FROM pg_prepared_xacts");
    if (!r.ok()) return;
    for (int i = 0; i < r->rows(); ++i) (void)conn->Execute(fmt::format("ROLLBACK PREPARED '{}'", r->GetString(i, 0)));
  }

  // --- checkpoints ---
  void TakeCheckpoint() {
    if (!gate_.Pause(std::chrono::seconds(120))) {
      Say("sessions did not pause within 120 s: checkpoint skipped");
      gate_.Resume();
      return;
    }
    for (int attempt = 0; attempt < 100; ++attempt) {
      absl::StatusOr<pg::Connection> conn = Connect();
      if (!conn.ok()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      absl::StatusOr<pg::Result> r = conn->Query(
          "SELECT lsn, t, (extract(epoch FROM t - '2000-01-01 00:00:00+00') * 1000000)::int8 "
          "FROM (SELECT pg_current_wal_insert_lsn() AS lsn, clock_timestamp() AS t) AS now");
      absl::StatusOr<embedded::Fingerprint> f = embedded::TakeFingerprint(*conn);
      if (!r.ok() || !f.ok()) continue;
      Checkpoint c;
      c.number = static_cast<int>(checkpoints_.size()) + 1;
      c.lsn = *pg::Lsn::Parse(r->Get(0, 0));
      c.time = r->GetString(0, 1);
      c.pg_time = std::stoll(r->GetString(0, 2));
      c.fingerprint = *f;
      Say(fmt::format("checkpoint {} at {} ({})", c.number, c.lsn.ToString(), c.time));
      checkpoints_.push_back(std::move(c));
      break;
    }
    // Commits after the checkpoint get a later timestamp than the one it read.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    gate_.Resume();
  }

  // --- faults ---
  // Faults are dealt from a shuffled deck in which kills of `run` are the most frequent card, so
  // every run sees several of them and at least one of each other kind when it lasts long enough.
  enum class Fault { kKillRun, kTerminateWalsender, kRestartSource, kBackup };
  void Faults(const std::atomic<bool>& stop) {
    std::mt19937_64 rng(o_.seed ^ 0x5eedfa17);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    std::vector<Fault> deck;
    while (!stop.load()) {
      if (deck.empty()) {
        deck = {Fault::kKillRun, Fault::kKillRun, Fault::kKillRun,       Fault::kTerminateWalsender,
                Fault::kBackup,  Fault::kKillRun, Fault::kRestartSource, Fault::kTerminateWalsender};
        std::shuffle(deck.begin(), deck.end(), rng);
      }
      const auto until = Clock::now() + std::chrono::milliseconds(pick(1500, 6000));
      while (!stop.load() && Clock::now() < until) {
        CheckRunAlive();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (stop.load()) break;
      const Fault fault = deck.back();
      deck.pop_back();
      switch (fault) {
        case Fault::kKillRun:
          ++faults_["kill -9 of run"];
          Say("fault: kill -9 of pgpitr run");
          StopRun(SIGKILL);
          std::this_thread::sleep_for(std::chrono::milliseconds(pick(0, 1500)));
          StartRun();
          break;
        case Fault::kTerminateWalsender:
          ++faults_["walsender terminated"];
          Say("fault: pg_terminate_backend of capture's walsender");
          if (absl::StatusOr<pg::Connection> c = Connect("postgres"); c.ok()) {
            (void)c->Execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE active AND slot_name = "
                "'pgpitr'");
          }
          break;
        case Fault::kRestartSource:
          ++faults_["immediate restart of the source"];
          Say("fault: immediate shutdown and restart of the source");
          ImmediateRestart();
          break;
        case Fault::kBackup: {
          if (!can_dump_) break;  // no pg_dump fits the server: a backup could only fail
          ++faults_["backup under load"];
          Say("fault: pgpitr backup under load");
          const std::filesystem::path log = work_ / "backup.log";
          const pid_t pid =
              Spawn({o_.pgpitr, "backup", "--source", server_->ConnectionString("app"), "--repo", repo_.string()}, log);
          int status = 0;
          waitpid(pid, &status, 0);
          if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            ++backup_failures_;
            std::string text = Slurp(log);
            while (!text.empty() && text.back() == '\n') text.pop_back();
            Say("pgpitr backup failed: " +
                text.substr(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1));
          }
          break;
        }
      }
    }
  }

  void ImmediateRestart() {
    const std::string pid_text = Slurp(server_->data_dir() / "postmaster.pid");
    const pid_t postmaster = static_cast<pid_t>(std::atol(pid_text.c_str()));
    if (postmaster <= 0) return;
    kill(postmaster, SIGQUIT);  // immediate shutdown: crash recovery at the next start
    for (int i = 0; i < 300 && kill(postmaster, 0) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    (void)server_->Stop();
    if (absl::Status s = server_->StartAgain(); !s.ok())
      Say(fmt::format("cannot start the source again: {}", s.message()));
  }

  std::string FaultSummary() const {
    std::string out;
    for (const auto& [what, n] : faults_) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", n, what);
    return out.empty() ? "none" : out;
  }

  // How many transactions the server streamed while in progress (pg_stat_replication_slots).
  void ReportStreaming() {
    absl::StatusOr<pg::Connection> conn = Connect();
    if (!conn.ok()) return;
    absl::StatusOr<pg::Result> r = conn->Query(
        "SELECT stream_txns, stream_count, spill_txns FROM pg_stat_replication_slots WHERE slot_name = "
        "'pgpitr'");
    if (r.ok() && r->rows() == 1) {
      Say(fmt::format("server streamed {} transactions in progress ({} stream blocks), spilled {}", r->Get(0, 0),
                      r->Get(0, 1), r->Get(0, 2)));
    }
  }

  // --- the peer: pg_recvlogical on a slot of its own, the same publication and protocol options,
  // confirming every second; both slots' confirmed positions sampled every 200 ms ---
  // It asks for what capture asks for: the server's highest pgoutput protocol up to 4, streaming,
  // logical messages (the marks and DDL records ride on them).
  pid_t StartPeer() {
    int proto_version = 2;
    if (absl::StatusOr<pg::Connection> c = Connect(); c.ok()) {
      (void)c->Execute("SELECT pg_create_logical_replication_slot('peer', 'pgoutput')");
      if (absl::StatusOr<pg::Result> r = c->Query("SELECT current_setting('server_version_num')::int / 10000");
          r.ok() && r->rows() == 1) {
        proto_version = std::clamp(std::stoi(r->GetString(0, 0)) - 12, 2, 4);
      }
    }
    return Spawn({(server_->bin_dir() / "pg_recvlogical").string(),
                  "-d",
                  server_->ConnectionString("app"),
                  "--slot",
                  "peer",
                  "--start",
                  "-o",
                  fmt::format("proto_version={}", proto_version),
                  "-o",
                  "streaming=on",
                  "-o",
                  "messages=true",
                  "-o",
                  "publication_names=pgpitr",
                  "-s",
                  "1",
                  "-F",
                  "1",
                  "-f",
                  "/dev/null"},
                 work_ / "recvlogical.log");
  }
  void SampleLag(const std::atomic<bool>& stop) {
    absl::StatusOr<pg::Connection> conn = Connect();
    while (!stop.load() && conn.ok()) {
      absl::StatusOr<pg::Result> r = conn->Query(
          "SELECT slot_name, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), confirmed_flush_lsn)::bigint "
          "FROM pg_replication_slots WHERE slot_name IN ('pgpitr', 'peer')");
      if (r.ok()) {
        std::lock_guard<std::mutex> lock(lag_mu_);
        for (int i = 0; i < r->rows(); ++i) lag_[r->GetString(i, 0)].push_back(std::stod(r->GetString(i, 1)));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  void ReportLag() {
    std::lock_guard<std::mutex> lock(lag_mu_);
    auto at = [](std::vector<double> v, double q) {
      if (v.empty()) return 0.0;
      std::sort(v.begin(), v.end());
      return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
    };
    const std::vector<double>& ours = lag_["pgpitr"];
    const std::vector<double>& peer = lag_["peer"];
    Say(
        fmt::format("confirmed-flush lag, MiB (p50 / p99 / max over {} samples): pgpitr {:.1f} / {:.1f} / {:.1f}; "
                    "pg_recvlogical {:.1f} / {:.1f} / {:.1f}; p99 ratio pgpitr/pg_recvlogical {:.2f}",
                    ours.size(), at(ours, 0.5) / 1048576, at(ours, 0.99) / 1048576, at(ours, 1.0) / 1048576,
                    at(peer, 0.5) / 1048576, at(peer, 0.99) / 1048576, at(peer, 1.0) / 1048576,
                    at(peer, 0.99) > 0 ? at(ours, 0.99) / at(peer, 0.99) : 0.0));
  }

  // --- verification ---
  int Verify() {
    int exact = 0;
    int total = 0;
    for (const Checkpoint& c : checkpoints_) {
      for (bool by_lsn : {false, true}) {
        ++total;
        absl::StatusOr<restore::RestoreTarget> point =
            by_lsn ? restore::RestoreTarget::AtLsn(c.lsn.ToString(), /*exclusive=*/true)
                   : restore::RestoreTarget::AtTime(c.time);
        const std::string db = fmt::format("r{}_{}", c.number, by_lsn ? "lsn" : "time");
        const std::string what = fmt::format("checkpoint {} by {}", c.number, by_lsn ? "LSN" : "time");
        if (!point.ok()) {
          Say(fmt::format("{}: {}", what, point.status().message()));
          continue;
        }
        restore::RestoreOptions ro;
        ro.repo = repo_;
        ro.target = *pg::ConnInfo::Parse(server_->ConnectionString(db));
        ro.point = *point;
        absl::StatusOr<restore::RestoreSummary> summary = restore::RunRestore(ro, base::Logger::Silent());
        if (!summary.ok()) {
          Say(fmt::format("{}: NOT EXACT: restore failed: {}", what, summary.status().message()));
          continue;
        }
        absl::StatusOr<pg::Connection> conn = Connect(db);
        absl::StatusOr<embedded::Fingerprint> f =
            conn.ok() ? embedded::TakeFingerprint(*conn) : absl::StatusOr<embedded::Fingerprint>(conn.status());
        if (!f.ok()) {
          Say(fmt::format("{}: cannot read the restore: {}", what, f.status().message()));
          continue;
        }
        if (*f == c.fingerprint) {
          ++exact;
          Say(fmt::format("{}: exact ({} transactions replayed)", what, summary->transactions));
        } else {
          Say(fmt::format("{}: NOT EXACT: {}", what, embedded::DescribeDifference(c.fingerprint, *f)));
        }
        conn = absl::UnavailableError("closed");
        if (absl::StatusOr<pg::Connection> admin = Connect("postgres"); admin.ok()) {
          (void)admin->Execute("DROP DATABASE " + db);
        }
      }
    }
    // Subtransactions the server aborted without a Stream Abort, left out by run at their commit.
    const std::string run_log = Slurp(log_);
    int unannounced = 0;
    for (size_t at = run_log.find("without a Stream Abort"); at != std::string::npos;
         at = run_log.find("without a Stream Abort", at + 1)) {
      ++unannounced;
    }
    std::printf(
        "%d/%d points exact (seed %llu, %d checkpoints, faults: %s, run exited by itself %d times, %d backups "
        "failed, %d commits with subtransactions aborted unannounced)\n",
        exact, total, static_cast<unsigned long long>(o_.seed), static_cast<int>(checkpoints_.size()),
        FaultSummary().c_str(), run_exits_, backup_failures_, unannounced);
    std::fflush(stdout);
    const bool ok = exact == total && total > 0 && run_exits_ == 0 && backup_failures_ == 0;
    if (ok && !o_.keep) {
      std::error_code ec;
      std::filesystem::remove_all(work_, ec);
    } else {
      server_->KeepOnExit();
      Say(fmt::format("kept {} (repository, logs)", work_.string()));
    }
    return ok ? 0 : 1;
  }

  Options o_;
  Gate gate_;
  std::mt19937_64 rng_;
  std::unique_ptr<embedded::LocalServer> server_;
  std::filesystem::path work_, repo_, log_;
  pid_t run_pid_ = -1;
  int run_exits_ = 0;
  int backup_failures_ = 0;
  bool can_dump_ = true;
  Tally tally_;
  std::vector<Checkpoint> checkpoints_;
  std::map<std::string, int> faults_;
  std::mutex lag_mu_;
  std::map<std::string, std::vector<double>> lag_;  // slot -> confirmed-flush lag samples, bytes
};

}  // namespace
}  // namespace pgpitr::chaos

int main(int argc, char** argv) {
  pgpitr::chaos::Options o;
  o.seed = std::random_device()();
  CLI::App app("pgpitr_chaos: concurrent sessions, faults, and every checkpoint restored and compared exactly");
  app.add_option("--seconds", o.seconds, "How long the sessions write")->capture_default_str();
  app.add_option("--seed", o.seed, "Seed of the workload and of the faults' schedule (default: random, printed)");
  app.add_option("--sessions", o.sessions, "Sessions writing at once")->capture_default_str();
  app.add_option("--checkpoints", o.checkpoints, "Checkpoints during the run (one more at the end)")
      ->capture_default_str();
  app.add_option("--bulk-min", o.bulk_min, "Fewest rows of a bulk transaction")->capture_default_str();
  app.add_option("--bulk-max", o.bulk_max, "Most rows of a bulk transaction")->capture_default_str();
  bool no_faults = false;
  app.add_flag("--no-faults", no_faults, "No faults: the workload alone");
  app.add_option("--pgpitr", o.pgpitr, "The pgpitr binary")->capture_default_str();
  app.add_option("--pg-major", o.pg_major, "The server's major version (16+ need deploy/fetch_postgres.sh)")
      ->capture_default_str();
  app.add_flag("--keep", o.keep, "Keep the server's and the repository's folders");
  app.add_flag("--peer", o.peer,
               "Also run pg_recvlogical on a second slot and compare both slots' confirmed-flush lag (use with "
               "--no-faults)");
  CLI11_PARSE(app, argc, argv);
  o.faults = !no_faults;
  return pgpitr::chaos::Chaos(o).Run();
}
