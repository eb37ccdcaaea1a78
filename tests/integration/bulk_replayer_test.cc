// BulkReplayer's side of the restore pipeline (restore/bulk_replayer.h), as a specification: what it
// needs before it takes a change (Need), and that meeting each need as the pipeline does leaves the
// target equal to the source. Real capture into a real change log, replayed onto a real target
// whose tables were made by hand (so no pg_restore runs: the pipeline's phases are played here).
#include "restore/bulk_replayer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "embedded/fingerprint.h"
#include "fmt/format.h"
#include "harness.h"
#include "restore/change_applier.h"
#include "restore/change_feed.h"
#include "restore/schema_follower.h"

namespace pgpitr::testing {
namespace {

using Need = restore::BulkReplayer::Need;

// A need the replayer stated, and the change it left when it did.
struct Asked {
  Need need;
  proto::Change::Kind kind;
  std::string relation;  // "" for a change of no relation (a recorded schema change)
  int64_t target_rows;   // rows of the target's table `k` at that moment
};

class BulkReplayerTest : public ServerTest {
 protected:
  // Captures `workload` run on app after `schema` (made before capture starts); the target database
  // gets `schema` too, and nothing else: it stands for a base whose data is not loaded yet.
  void Capture(const std::string& schema, const std::vector<std::string>& workload) {
    pg::Connection app = Connect("app");
    Exec(app, schema);
    StartCapture();
    for (int i = 0;; ++i) {  // the change log starts at the slot
      absl::StatusOr<pg::Result> r = app.Query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'pgpitr'");
      if (r.ok() && r->rows() == 1) break;
      ASSERT_LT(i, 600) << "capture did not create its slot: " << capture_result_;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (const std::string& sql : workload) Exec(app, sql);
    WaitCaptured(InsertLsn(app));
    StopCapture();
    ASSERT_TRUE(capture_result_.ok()) << capture_result_;
    pg::Connection admin = Connect("postgres");
    Exec(admin, "CREATE DATABASE target");
    pg::Connection target = Connect("target");
    Exec(target, schema);
  }

  // Replays everything captured onto database target as the pipeline does, the base's data pending
  // (the first run held up to merge_bytes, then cut at flush_bytes), meeting each need: the
  // base's data (here: none; the first run is applied set-based, nothing merged) and the foreign
  // keys (here: none to make). The INSERTs the first run appends to keyless tables are COPYed in, as
  // the base's load does. Returns the needs in the order they arose.
  std::vector<Asked> Replay(uint64_t flush_bytes, uint64_t merge_bytes, bool foreign_keys_pending) {
    restore::BulkReplayOptions options;
    options.flush_bytes = flush_bytes;
    options.merge_bytes = merge_bytes;
    options.base_data_pending = true;
    std::vector<Asked> asked;
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
        wal::Repository::Open(repo_dir_, wal::Repository::Mode::kRead);
    EXPECT_TRUE(repo.ok()) << repo.status();
    if (!repo.ok()) return asked;
    const wal::ChangeLog& log = (*repo)->change_log();
    pg::Connection target = Connect("target");
    pg::Connection observer = Connect("target");
    pg::Connection loader = Connect("target");
    options.append = [&loader](const proto::RelationSchema& schema, std::string rows) -> absl::Status {
      pg::CopyIn copy(loader);
      if (absl::Status s = copy.Start("COPY " + restore::QualifiedName(schema) + " FROM STDIN"); !s.ok()) return s;
      copy.Send(rows);
      return copy.End().status();
    };
    Exec(target, "SET session_replication_role = replica");
    std::vector<std::string> notes;
    absl::StatusOr<restore::SchemaFollower> follower = restore::SchemaFollower::Create(&target, log, &notes);
    EXPECT_TRUE(follower.ok()) << follower.status();
    absl::StatusOr<std::unique_ptr<restore::ChangeApplier>> applier =
        restore::ChangeApplier::Create(&target, &*follower, &notes);
    EXPECT_TRUE(applier.ok()) << applier.status();
    absl::StatusOr<std::unique_ptr<restore::BulkReplayer>> created =
        restore::BulkReplayer::Create(&target, &*follower, applier->get(), std::move(options));
    EXPECT_TRUE(created.ok()) << created.status();
    restore::BulkReplayer& replayer = **created;
    auto rows_of_k = [&] {
      absl::StatusOr<pg::Result> r = observer.Query("SELECT count(*) FROM k");
      return r.ok() ? std::stoll(r->GetString(0, 0)) : -1;
    };
    restore::LogChangeSource source(log);
    absl::Status replayed = log.ForEachTransaction(pg::Lsn(), pg::Lsn(~0ull), [&](const proto::Transaction& txn) {
      if (absl::Status s = replayer.Begin(txn); !s.ok()) return s;
      absl::Status changes = source.ForEachChange(txn, [&](const proto::Change& change) -> absl::Status {
        for (;;) {
          absl::StatusOr<Need> need = replayer.Take(change, txn);
          if (!need.ok()) return need.status();
          if (*need == Need::kNothing) return absl::OkStatus();
          const proto::RelationSchema* schema = follower->Schema(change.schema_id());
          asked.push_back({*need, change.kind(),
                           change.kind() == proto::Change::MESSAGE || schema == nullptr ? "" : schema->name(),
                           rows_of_k()});
          if (*need == Need::kBaseData) {
            absl::StatusOr<std::vector<restore::TableLoad>> first = replayer.FirstRun();
            if (!first.ok()) return first.status();
            if (absl::Status s = replayer.BaseLoaded({}, foreign_keys_pending); !s.ok()) return s;
          } else {
            replayer.ForeignKeysMade();
          }
          if (asked.size() > 10) return absl::InternalError("a need met keeps coming back");
        }
      });
      if (!changes.ok()) return changes;
      return replayer.End(txn);
    });
    // Also when the first run never needed a cut: the base's data now.
    if (replayed.ok() && replayer.base_data_pending()) {
      absl::StatusOr<std::vector<restore::TableLoad>> first = replayer.FirstRun();
      replayed = first.ok() ? replayer.BaseLoaded({}, foreign_keys_pending) : first.status();
    }
    if (replayed.ok()) replayed = replayer.Finish();
    EXPECT_TRUE(replayed.ok()) << replayed;
    return asked;
  }
};

TEST_F(BulkReplayerTest, TheFirstRunIsHeldInMemoryUntilItIsFullThenItAsksForTheBaseDataOnce) {
  std::vector<std::string> workload;
  for (int t = 0; t < 40; ++t) {
    workload.push_back(fmt::format(
        "INSERT INTO k SELECT g, repeat('x', 100) FROM generate_series({}, {}) g; UPDATE k SET v = 'u' WHERE id = {}",
        t * 20 + 1, t * 20 + 20, t * 20 + 1));
  }
  Capture("CREATE TABLE k (id int PRIMARY KEY, v text)", workload);
  const std::vector<Asked> asked = Replay(8 << 10, 32 << 10, /*foreign_keys_pending=*/false);
  ASSERT_EQ(asked.size(), 1u) << "one first run, then the memory cuts of flush_bytes ask for nothing";
  EXPECT_EQ(asked[0].need, Need::kBaseData);
  EXPECT_EQ(asked[0].relation, "k");
  EXPECT_EQ(asked[0].target_rows, 0) << "nothing of the first run reaches the target before the base's data";
  EXPECT_EQ(FingerprintOf("target"), FingerprintOf("app"));
}

TEST_F(BulkReplayerTest, AnUpdateOfAMultisetTableEndsTheFirstRunAndAnInsertDoesNot) {
  Capture(
      "CREATE TABLE k (id int PRIMARY KEY, v text);"
      "CREATE TABLE m (a int, b text); ALTER TABLE m REPLICA IDENTITY FULL",
      {"INSERT INTO k VALUES (1, 'a'), (2, 'b')", "INSERT INTO m VALUES (1, 'x'), (1, 'x'), (2, 'y')",
       "UPDATE m SET b = 'z' WHERE a = 2", "INSERT INTO k VALUES (3, 'c')", "DELETE FROM m WHERE a = 1"});
  const std::vector<Asked> asked = Replay(64 << 20, 128 << 20, /*foreign_keys_pending=*/false);
  // The INSERT into m is held with the first run (appended to the base's rows at the load); the
  // UPDATE is the first change that needs m's rows.
  ASSERT_FALSE(asked.empty());
  EXPECT_EQ(asked[0].need, Need::kBaseData);
  EXPECT_EQ(asked[0].relation, "m");
  EXPECT_EQ(asked[0].kind, proto::Change::UPDATE) << "an UPDATE of a multiset needs the rows it changes";
  EXPECT_EQ(asked.size(), 1u);
  EXPECT_EQ(FingerprintOf("target"), FingerprintOf("app"));
}

TEST_F(BulkReplayerTest, ACapturedSchemaChangeWaitsForTheBaseDataThenForTheForeignKeys) {
  Capture("CREATE TABLE k (id int PRIMARY KEY, v text)",
          {"INSERT INTO k VALUES (1, 'a'), (2, 'b')", "ALTER TABLE k ADD COLUMN w int DEFAULT 7",
           "INSERT INTO k VALUES (3, 'c', 9)", "UPDATE k SET w = 1 WHERE id = 1"});
  const std::vector<Asked> asked = Replay(64 << 20, 128 << 20, /*foreign_keys_pending=*/true);
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_EQ(asked[0].need, Need::kBaseData);
  EXPECT_EQ(asked[0].kind, proto::Change::MESSAGE) << "the schema change ends the first run";
  EXPECT_EQ(asked[1].need, Need::kForeignKeys);
  EXPECT_EQ(asked[1].kind, proto::Change::MESSAGE) << "and, offered again, waits for the base's foreign keys";
  EXPECT_EQ(asked[1].target_rows, 2) << "the first run is applied before the foreign keys are made";
  EXPECT_EQ(FingerprintOf("target"), FingerprintOf("app"));
}

}  // namespace
}  // namespace pgpitr::testing
