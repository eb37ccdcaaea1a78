// Capture a randomized workload over many column types and kinds of change, record checkpoints
// between transactions (the server's clock, the WAL insert position and a fingerprint of every
// table), then restore to each checkpoint by time and by LSN and require the restored database to
// equal the checkpoint exactly.
#include <random>

#include "harness.h"

namespace pgpitr::testing {
namespace {

using pg::QuoteLiteral;

struct Checkpoint {
  pg::PgTime time;
  pg::Lsn lsn;
  embedded::Fingerprint fingerprint;
  int64_t items_sequence;  // last_value of items_id_seq
  bool has_extra_column;
};

const char* const kTexts[] = {
    "plain", "it's \"quoted\" \\ back\\slash", "ünïcødé ☃ 😀 中文", "", "line\nbreak\ttab", "NULL", "{not,an,array}",
};

class Workload {
 public:
  explicit Workload(uint32_t seed) : random_(seed) {}

  int Pick(int n) { return static_cast<int>(random_() % static_cast<uint32_t>(n)); }
  bool Chance(int percent) { return Pick(100) < percent; }

  std::string Maybe(const std::string& literal) { return Chance(12) ? "NULL" : literal; }

  std::string InsertItem(bool with_extra) {
    std::string bytes;
    for (int i = 0, n = Pick(40); i < n; ++i) bytes += fmt::format("{:02x}", Pick(256));
    return fmt::format(
        "INSERT INTO items (i, b, n, r, d, t, raw, doc, ints, tags, at, day, u, flag, m{}) VALUES "
        "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}{})",
        with_extra ? ", extra" : "", Maybe(std::to_string(Pick(2000000) - 1000000)),
        Maybe(std::to_string(static_cast<int64_t>(random_()) * 4096 - 7)),
        Maybe(fmt::format("{}.{:06}", Pick(1000000) - 500000, Pick(1000000))),
        Maybe(fmt::format("{}", Pick(100000) / 7.0f)), Maybe(fmt::format("{:.17g}", Pick(1000000) / 3.0)),
        Maybe(QuoteLiteral(kTexts[Pick(std::size(kTexts))])), Maybe("'\\x" + bytes + "'"),
        Maybe(
            QuoteLiteral(fmt::format(R"({{"a": [1, 2.5, "x{}"], "nested": {{"k": null, "q": "\"q\""}}}})", Pick(99)))),
        Maybe(fmt::format("'{{{},NULL,{}}}'", Pick(100), Pick(100))), Maybe(QuoteLiteral(R"({"a b","c\"d",NULL})")),
        Maybe(fmt::format("'2026-{:02}-{:02} {:02}:{:02}:{:02}.{:06}+0{}'", Pick(12) + 1, Pick(28) + 1, Pick(24),
                          Pick(60), Pick(60), Pick(1000000), Pick(10))),
        Maybe(fmt::format("'19{:02}-{:02}-{:02}'", Pick(100), Pick(12) + 1, Pick(28) + 1)), Maybe("gen_random_uuid()"),
        Maybe(Chance(50) ? "true" : "false"),
        Maybe(QuoteLiteral(std::vector<std::string>{"sad", "ok", "happy"}[Pick(3)])),
        with_extra ? ", " + Maybe(QuoteLiteral(fmt::format("extra {}", Pick(1000)))) : "");
  }

  // One random statement; `with_extra` once the column exists.
  std::string Statement(bool with_extra) {
    const std::string some_item = fmt::format("(SELECT id FROM items ORDER BY id OFFSET {} LIMIT 1)", Pick(20));
    switch (Pick(13)) {
      case 0:
      case 1:
        return InsertItem(with_extra);
      case 2:
        return fmt::format("UPDATE items SET i = {}, t = {}, doc = doc || '{{\"u\": {}}}' WHERE id = {}",
                           Maybe(std::to_string(Pick(1000))), Maybe(QuoteLiteral(kTexts[Pick(std::size(kTexts))])),
                           Pick(1000), some_item);
      case 3:
        return fmt::format("DELETE FROM items WHERE id = {}", some_item);
      case 4:  // a primary key update
        return fmt::format("UPDATE items SET id = id + 1000000 WHERE id = {}", some_item);
      case 5:  // only a small column changes: the TOASTed body is sent as unchanged
        return fmt::format("UPDATE docs SET version = version + 1 WHERE id = {}", Pick(3) + 1);
      case 6:
        return fmt::format("INSERT INTO log_lines VALUES ({}, 'same', 1), ({}, 'same', 1)",
                           QuoteLiteral(fmt::format("w{}", Pick(3))), QuoteLiteral(fmt::format("w{}", Pick(3))));
      case 7:  // replica identity full: one of several identical rows
        return fmt::format(
            "UPDATE log_lines SET n = n + 1 WHERE ctid = (SELECT ctid FROM log_lines WHERE who = 'w{}' LIMIT 1)",
            Pick(3));
      case 8:
        return fmt::format("DELETE FROM log_lines WHERE ctid = (SELECT ctid FROM log_lines WHERE who = 'w{}' LIMIT 1)",
                           Pick(3));
      case 9:
        return Chance(30) ? "TRUNCATE counters"
                          : fmt::format(
                                "INSERT INTO counters VALUES ('k{}', 1) ON CONFLICT (k) DO UPDATE SET v = "
                                "counters.v + 1",
                                Pick(10));
      case 10:
        return with_extra ? fmt::format("UPDATE items SET extra = {} WHERE id = {}",
                                        QuoteLiteral("set " + std::to_string(Pick(9))), some_item)
                          : InsertItem(false);
      case 11:
        return fmt::format("UPDATE docs SET body = body || {} WHERE id = {}", QuoteLiteral(std::to_string(Pick(9))),
                           Pick(3) + 1);
      default:
        return fmt::format("UPDATE items SET n = n * 2, r = NULL, ints = ints || {} WHERE id = {}", Pick(9), some_item);
    }
  }

 private:
  std::mt19937 random_;
};

class CaptureRestoreTest : public ServerTest {
 protected:
  void CreateSchema(pg::Connection& app) {
    Exec(
        app,
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');"
        "CREATE TABLE items (id bigserial PRIMARY KEY, i int, b bigint, n numeric(20,6), r real, d double precision,"
        " t text, raw bytea, doc jsonb, ints int[], tags text[], at timestamptz, day date, u uuid, flag bool, m mood);"
        "CREATE TABLE docs (id int PRIMARY KEY, version int, body text);"
        "CREATE TABLE log_lines (who text, what text, n int);"
        "ALTER TABLE log_lines REPLICA IDENTITY FULL;"
        "CREATE TABLE counters (k text PRIMARY KEY, v int);"
        // Bodies of about 200 kB of hex: stored out of line (TOAST), barely compressible.
        "INSERT INTO docs SELECT g, 0, (SELECT string_agg(md5(g::text || x::text), '') FROM generate_series(1, 6000) x)"
        " FROM generate_series(1, 3) g;"
        "INSERT INTO log_lines VALUES ('w0', 'same', 1), ('w0', 'same', 1), ('w1', 'same', 1);");
  }

  Checkpoint TakeCheckpoint(pg::Connection& app, bool has_extra) {
    // Commit times are the server's clock: keep checkpoints strictly between commits.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    Checkpoint c;
    c.time = *wal::ServerClock(app);
    c.lsn = InsertLsn(app);
    absl::StatusOr<embedded::Fingerprint> f = embedded::TakeFingerprint(app);
    EXPECT_TRUE(f.ok()) << f.status();
    c.fingerprint = *f;
    absl::StatusOr<pg::Result> seq = app.Query("SELECT last_value FROM items_id_seq");
    EXPECT_TRUE(seq.ok()) << seq.status();
    c.items_sequence = std::stoll(seq->GetString(0, 0));
    c.has_extra_column = has_extra;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return c;
  }

  void ExpectRestoredEquals(const std::string& db, const Checkpoint& c, const std::string& how) {
    const embedded::Fingerprint restored = FingerprintOf(db);
    EXPECT_EQ(restored, c.fingerprint) << how << ": " << embedded::DescribeDifference(c.fingerprint, restored);
  }
};

TEST_F(CaptureRestoreTest, RestoresEveryCheckpointExactlyByTimeAndByLsn) {
  pg::Connection app = Connect("app");
  const proto::Base base = StartCaptureWithSchema([&] { CreateSchema(app); });
  ASSERT_FALSE(base.id().empty());

  Workload workload(20261125);
  std::vector<Checkpoint> checkpoints;
  bool has_extra = false;
  const int kTransactions = 72;
  for (int t = 0; t < kTransactions; ++t) {
    if (t == kTransactions / 2) {
      // A column added mid-run, outside any proxy: followed from the stream's Relation messages.
      Exec(app, "ALTER TABLE items ADD COLUMN extra text");
      has_extra = true;
    }
    const int kind = workload.Pick(10);
    if (kind == 0) {  // rolled back: leaves no trace
      Exec(app, "BEGIN; " + workload.InsertItem(has_extra) + "; UPDATE docs SET version = -1; ROLLBACK");
    } else if (kind == 1) {  // a subtransaction rolled back inside a committed one
      Exec(app, "BEGIN; " + workload.Statement(has_extra) + "; SAVEPOINT s; " + workload.InsertItem(has_extra) +
                    "; DELETE FROM counters; ROLLBACK TO s; " + workload.Statement(has_extra) + "; COMMIT");
    } else if (kind == 2) {  // large enough to be streamed while in progress (64 kB of decoding memory)
      Exec(app,
           "BEGIN; INSERT INTO items (i, t) SELECT g, repeat('x', 50) FROM generate_series(1, 400) g; "
           "SAVEPOINT s; UPDATE items SET i = -i WHERE i > 0; ROLLBACK TO s; "
           "DELETE FROM items WHERE id IN (SELECT id FROM items ORDER BY id DESC LIMIT 150); COMMIT");
    } else {
      std::string sql = "BEGIN";
      for (int s = 0, n = 1 + workload.Pick(4); s < n; ++s) sql += "; " + workload.Statement(has_extra);
      Exec(app, sql + "; COMMIT");
    }
    if (t % 6 == 5) checkpoints.push_back(TakeCheckpoint(app, has_extra));
    if (HasFatalFailure()) return;
  }
  ASSERT_GE(checkpoints.size(), 10u);
  WaitCaptured(InsertLsn(app), checkpoints.back().time);
  StopCapture();
  ASSERT_TRUE(capture_result_.ok()) << capture_result_;
  // The large transactions really went through the streaming path (and its subtransaction aborts).
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<pg::Result> streamed =
        app.Query("SELECT coalesce(sum(stream_txns), 0) FROM pg_stat_replication_slots WHERE slot_name = 'pgpitr'");
    ASSERT_TRUE(streamed.ok()) << streamed.status();
    if (streamed->Get(0, 0) != "0") break;
    ASSERT_LT(i, 49) << "no transaction was streamed: the test does not exercise Stream messages";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  for (size_t i = 0; i < checkpoints.size(); ++i) {
    const Checkpoint& c = checkpoints[i];
    restore::RestoreTarget at_time;
    at_time.kind = restore::RestoreTarget::Kind::kTime;
    at_time.time = c.time;
    const std::string db = fmt::format("by_time_{}", i);
    absl::StatusOr<restore::RestoreSummary> summary = Restore(db, at_time);
    ASSERT_TRUE(summary.ok()) << "checkpoint " << i << ": " << summary.status();
    EXPECT_EQ(summary->plan.base.id(), base.id());
    ExpectRestoredEquals(db, c, fmt::format("checkpoint {} by time {}", i, pg::FormatPgTime(c.time)));
    // The restored sequence never hands out a value the source had handed out.
    pg::Connection restored = Connect(db);
    absl::StatusOr<pg::Result> seq = restored.Query("SELECT last_value FROM items_id_seq");
    ASSERT_TRUE(seq.ok()) << seq.status();
    EXPECT_GE(std::stoll(seq->GetString(0, 0)), c.items_sequence) << "checkpoint " << i;

    if (i % 2 == 0) {
      // Every commit before the WAL position read at the checkpoint, none after it.
      restore::RestoreTarget at_lsn;
      at_lsn.kind = restore::RestoreTarget::Kind::kLsn;
      at_lsn.lsn = c.lsn;
      at_lsn.exclusive = true;
      const std::string lsn_db = fmt::format("by_lsn_{}", i);
      absl::StatusOr<restore::RestoreSummary> by_lsn = Restore(lsn_db, at_lsn);
      ASSERT_TRUE(by_lsn.ok()) << "checkpoint " << i << ": " << by_lsn.status();
      ExpectRestoredEquals(lsn_db, c, fmt::format("checkpoint {} by LSN {}", i, c.lsn.ToString()));
    }
  }

  // And the latest captured point equals the source as it is now.
  Checkpoint now = TakeCheckpoint(app, has_extra);
  absl::StatusOr<restore::RestoreSummary> latest = Restore("latest", restore::RestoreTarget::Latest());
  ASSERT_TRUE(latest.ok()) << latest.status();
  ExpectRestoredEquals("latest", now, "latest");
}

}  // namespace
}  // namespace pgpitr::testing
