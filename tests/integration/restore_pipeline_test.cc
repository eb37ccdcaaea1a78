// The restore pipeline (restore/restore.cc) as a specification, heard through its one progress
// channel: each phase runs once, in its order, for both replay strategies, and the restored
// database equals the source at the target.
#include <gtest/gtest.h>

#include <vector>

#include "base/progress.h"
#include "harness.h"
#include "restore/restore.h"

namespace pgpitr::testing {
namespace {

using base::Phase;

// What a restore reported: each phase as it was entered (repeats of the one running folded).
class PhaseRecorder : public base::ProgressSink {
 public:
  void Report(const base::Progress& progress) override {
    if (phases.empty() || phases.back() != progress.phase) phases.push_back(progress.phase);
    if (progress.unit == base::Unit::kTransactions) {
      EXPECT_LE(progress.done, progress.total) << "a counted phase never passes its total";
      totals.push_back(progress.total);
    }
  }
  std::vector<Phase> phases;
  std::vector<uint64_t> totals;
};

class RestorePipelineTest : public ServerTest {
 protected:
  // A base with a foreign key and a sequence, then transactions after it, captured.
  void CaptureParentsAndChildren() {
    pg::Connection app = Connect("app");
    Exec(app,
         "CREATE TABLE parent (id bigserial PRIMARY KEY, name text NOT NULL);"
         "CREATE TABLE child (id int PRIMARY KEY, parent_id bigint NOT NULL REFERENCES parent, note text);"
         "CREATE INDEX ON child (parent_id);"
         "INSERT INTO parent (name) SELECT 'p' || g FROM generate_series(1, 50) g;"
         "INSERT INTO child SELECT g, 1 + g % 50, 'c' || g FROM generate_series(1, 200) g");
    ASSERT_FALSE(StartCaptureWithBase().id().empty());
    for (int i = 0; i < 20; ++i) {
      Exec(app, fmt::format("INSERT INTO parent (name) VALUES ('new{0}'); "
                            "INSERT INTO child VALUES ({1}, currval('parent_id_seq'), 'n'); "
                            "UPDATE child SET note = 'moved' WHERE id = {2}; DELETE FROM child WHERE id = {3}",
                            i, 1000 + i, 1 + i, 101 + i));
    }
    WaitCaptured(InsertLsn(app));
    StopCapture();
    ASSERT_TRUE(capture_result_.ok()) << capture_result_;
  }

  absl::StatusOr<restore::RestoreSummary> RestoreHearing(const std::string& db, bool row_by_row,
                                                         PhaseRecorder* recorder) {
    restore::RestoreOptions options;
    options.repo = repo_dir_;
    options.target = Info(db);
    options.point = restore::RestoreTarget::Latest();
    options.row_by_row = row_by_row;
    return restore::RunRestore(options, base::Logger::Silent(), recorder);
  }
};

TEST_F(RestorePipelineTest, InBulkEachPhaseRunsOnceInItsOrder) {
  if (!CanDumpTestServer()) GTEST_SKIP() << "no pg_dump for this server's major: its bases are empty";
  CaptureParentsAndChildren();
  PhaseRecorder heard;
  absl::StatusOr<restore::RestoreSummary> summary = RestoreHearing("bulk", /*row_by_row=*/false, &heard);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(heard.phases, (std::vector<Phase>{Phase::kRestoreSchema, Phase::kRestoreFirstRun, Phase::kRestoreData,
                                              Phase::kRestoreIndexes, Phase::kRestoreReplay, Phase::kRestoreForeignKeys,
                                              Phase::kRestoreSequences}));
  for (uint64_t total : heard.totals) EXPECT_EQ(total, summary->plan.transactions);
  EXPECT_EQ(summary->transactions, summary->plan.transactions);
  EXPECT_EQ(FingerprintOf("bulk"), FingerprintOf("app"));
  pg::Connection bulk = Connect("bulk");
  Exec(bulk, "INSERT INTO parent (name) VALUES ('after the restore')");  // the sequence hands out a new id
}

TEST_F(RestorePipelineTest, RowByRowTheWholeBaseLoadsBeforeTheFirstChange) {
  if (!CanDumpTestServer()) GTEST_SKIP() << "no pg_dump for this server's major: its bases are empty";
  CaptureParentsAndChildren();
  PhaseRecorder heard;
  absl::StatusOr<restore::RestoreSummary> summary = RestoreHearing("rows", /*row_by_row=*/true, &heard);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(heard.phases,
            (std::vector<Phase>{Phase::kRestoreSchema, Phase::kRestoreData, Phase::kRestoreIndexes,
                                Phase::kRestoreForeignKeys, Phase::kRestoreReplay, Phase::kRestoreSequences}));
  EXPECT_EQ(summary->row_writes, summary->rows) << "row by row writes every captured change";
  EXPECT_EQ(FingerprintOf("rows"), FingerprintOf("app"));
  pg::Connection rows = Connect("rows");
  Exec(rows, "INSERT INTO parent (name) VALUES ('after the restore')");
}

}  // namespace
}  // namespace pgpitr::testing
