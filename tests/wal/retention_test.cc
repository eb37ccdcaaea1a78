// Specification of retention: which bases go (a pure function of the bases, the time and the
// window), and what applying it leaves in a real repository: the kept bases, the change log from
// the oldest kept base's LSN on, sequence samples folded, marks out of reach gone. A crash between
// the steps is covered by tests/integration/retention_test.cc, which kills the process.
#include "wal/retention.h"

#include <gtest/gtest.h>

#include <fstream>

#include "pg/stream_messages.h"
#include "tests/temp_dir.h"
#include "wal/change_log_keys.h"
#include "wal/change_log_writer.h"
#include "wal/pgoutput_decoder.h"

namespace pgpitr::wal {
namespace {

using ::pgpitr::testing::TempDir;
using std::chrono::hours;

constexpr int64_t kHour = 3600LL * 1'000'000;
// 2026-11-25 00:00:00 UTC plus hours.
pg::PgTime H(int64_t hours) { return pg::PgTimeFromUnixMicros(1795564800LL * 1'000'000) + hours * kHour; }

proto::Base Base(const std::string& id, uint64_t lsn, pg::PgTime consistent_time) {
  proto::Base base;
  base.set_id(id);
  base.set_lsn(lsn);
  base.set_consistent_time(consistent_time);
  base.set_start_time(consistent_time);
  base.set_dump_file("base.dump");
  return base;
}

std::vector<std::string> IdsOf(const std::vector<proto::Base>& bases) {
  std::vector<std::string> out;
  for (const proto::Base& b : bases) out.push_back(b.id());
  return out;
}

// --- the plan ---

// Daily bases at midnight of days 0..9; it is day 10, 12:00.
std::vector<proto::Base> TenDailyBases() {
  std::vector<proto::Base> bases;
  for (int day = 0; day < 10; ++day) bases.push_back(Base("d" + std::to_string(day), 0x1000 * (day + 1), H(24 * day)));
  return bases;
}

TEST(PlanRetention, KeepsTheBasesInsideTheWindowAndTheNewestOneBeforeIt) {
  const RetentionPlan plan = PlanRetention(TenDailyBases(), H(24 * 10 + 12), hours(24 * 7));
  // The window starts at day 3, 12:00: d3 restores its first instant, d4..d9 are inside.
  EXPECT_EQ(IdsOf(plan.keep), (std::vector<std::string>{"d3", "d4", "d5", "d6", "d7", "d8", "d9"}));
  EXPECT_EQ(IdsOf(plan.remove), (std::vector<std::string>{"d0", "d1", "d2"}));
  EXPECT_EQ(plan.horizon, pg::Lsn(0x4000));
  EXPECT_EQ(plan.horizon_time, H(24 * 3));
}

TEST(PlanRetention, ABaseExactlyAtTheWindowStartIsTheOldestKept) {
  const RetentionPlan plan = PlanRetention(TenDailyBases(), H(24 * 10), hours(24 * 7));
  EXPECT_EQ(IdsOf(plan.remove), (std::vector<std::string>{"d0", "d1", "d2"}));
  EXPECT_EQ(plan.keep.front().id(), "d3");
}

TEST(PlanRetention, AllBasesInsideTheWindowAreKept) {
  const RetentionPlan plan = PlanRetention(TenDailyBases(), H(24 * 10), hours(24 * 30));
  EXPECT_TRUE(plan.empty());
  EXPECT_EQ(plan.keep.size(), 10u);
  EXPECT_EQ(plan.horizon, pg::Lsn(0x1000));
}

TEST(PlanRetention, TheNewestBaseIsKeptWhenAllAreOlderThanTheWindow) {
  const RetentionPlan plan = PlanRetention(TenDailyBases(), H(24 * 100), hours(24 * 7));
  EXPECT_EQ(IdsOf(plan.keep), (std::vector<std::string>{"d9"}));
  EXPECT_EQ(plan.remove.size(), 9u);
}

TEST(PlanRetention, NoBasesNothingToDo) {
  const RetentionPlan plan = PlanRetention({}, H(0), hours(1));
  EXPECT_TRUE(plan.empty());
  EXPECT_TRUE(plan.keep.empty());
}

// --- applying it to a repository ---

class RetentionApply : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Repository>> repo =
        Repository::Open(dir_.path() / "repo", Repository::Mode::kCapture);
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = *std::move(repo);
    absl::StatusOr<std::unique_ptr<ChangeLogWriter>> writer = ChangeLogWriter::Create(&repo_->change_log());
    ASSERT_TRUE(writer.ok()) << writer.status();
    writer_ = *std::move(writer);
    Apply(RelationMessage{
        .xid = std::nullopt,
        .relid = 16389,
        .namespace_name = "public",
        .relation_name = "t",
        .replica_identity = 'd',
        .columns = {RelationColumn{.is_key = true, .name = "id", .type_oid = 23, .type_modifier = -1}}});
    writer_->SetLogStart(pg::Lsn(0x100), H(0));
    // A commit every 6 hours from LSN 0x1100 on; bases each midnight at 0x1000 * (day + 1).
    for (int i = 0; i < 4 * 5; ++i) {
      Commit(0x1100 + 0x400 * i, H(6 * i + 1), i == 2 ? "early-mark" : (i == 18 ? "late-mark" : ""));
      if (i % 4 == 0) Sample(0x1100 + 0x400 * i + 8, H(6 * i + 1), i);
    }
    Sync();
    for (int day = 0; day < 5; ++day)
      AddBase(Base(fmt::format("{:016X}", 0x1000 * (day + 1) * 1), 0x1000 * (day + 1), H(24 * day)));
  }

  void Apply(const PgoutputMessage& m) {
    absl::Status s = writer_->Apply(m);
    ASSERT_TRUE(s.ok()) << s;
  }
  void Sync() {
    absl::Status s = writer_->Sync();
    ASSERT_TRUE(s.ok()) << s;
  }
  void Commit(uint64_t lsn, pg::PgTime time, const std::string& mark) {
    Apply(BeginMessage{.final_lsn = pg::Lsn(lsn), .commit_time = time, .xid = static_cast<uint32_t>(lsn)});
    Apply(InsertMessage{
        .xid = std::nullopt, .relid = 16389, .new_tuple = {TupleColumn{ColumnKind::kText, std::to_string(lsn)}}});
    if (!mark.empty()) {
      Apply(LogicalMessage{.xid = std::nullopt,
                           .transactional = true,
                           .lsn = pg::Lsn(lsn - 1),
                           .prefix = pg::kMarkMessagePrefix,
                           .content = mark});
    }
    Apply(CommitMessage{.flags = 0, .commit_lsn = pg::Lsn(lsn), .end_lsn = pg::Lsn(lsn + 8), .commit_time = time});
  }
  // Sequence "a" changes at every sample; "b" only at the first.
  void Sample(uint64_t lsn, pg::PgTime time, int i) {
    proto::SequenceSample sample;
    auto* a = sample.add_sequences();
    a->set_namespace_("public");
    a->set_name("a");
    a->set_last_value(i);
    if (i == 0) {
      auto* b = sample.add_sequences();
      b->set_namespace_("public");
      b->set_name("b");
      b->set_last_value(42);
    }
    ASSERT_TRUE(writer_->PutSequenceSample(sample, pg::Lsn(lsn), time).ok());
    // And a catalog check that saw the relations changed each time.
    proto::CatalogCheck check;
    check.set_lsn(lsn);
    check.set_time(time);
    check.add_relations()->set_name(std::to_string(i));
    ASSERT_TRUE(writer_->PutCatalogCheck(check, pg::Lsn(lsn), time).ok());
  }
  void AddBase(const proto::Base& base) {
    absl::StatusOr<std::filesystem::path> partial = repo_->NewPartialBase(base.id());
    ASSERT_TRUE(partial.ok());
    std::ofstream(*partial / "base.dump") << "dump of " << base.id();
    ASSERT_TRUE(repo_->CommitBase(*partial, base).ok());
  }
  std::vector<uint64_t> CommitLsns() {
    std::vector<uint64_t> out;
    EXPECT_TRUE(repo_->change_log()
                    .ForEachTransaction(pg::Lsn(), pg::Lsn(~uint64_t{0}),
                                        [&](const proto::Transaction& t) {
                                          out.push_back(t.commit_lsn());
                                          return absl::OkStatus();
                                        })
                    .ok());
    return out;
  }
  size_t KeysWithTag(char tag) {
    size_t n = 0;
    std::unique_ptr<rocksdb::Iterator> it(keys::Database(repo_->change_log())->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(std::string(1, tag)); it->Valid() && it->key()[0] == tag; it->Next()) ++n;
    return n;
  }

  TempDir dir_;
  std::unique_ptr<Repository> repo_;
  std::unique_ptr<ChangeLogWriter> writer_;
};

TEST_F(RetentionApply, DeletesOldBasesAndTheLogBelowTheOldestKeptBase) {
  // Day 5, 12:00 with a 2-day window: the window starts day 3, 12:00; base of day 3 (LSN 0x4000) is
  // the oldest kept.
  absl::StatusOr<RetentionResult> r =
      RunRetention(*repo_, RetentionPolicy{hours(48)}, H(24 * 5 + 12), {}, base::Logger::Silent());
  ASSERT_TRUE(r.ok()) << r.status();
  absl::StatusOr<std::vector<proto::Base>> bases = repo_->Bases();
  ASSERT_TRUE(bases.ok());
  EXPECT_EQ(IdsOf(*bases), (std::vector<std::string>{"0000000000004000", "0000000000005000"}));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "repo" / "bases" / "0000000000001000"));
  const std::vector<uint64_t> lsns = CommitLsns();
  ASSERT_FALSE(lsns.empty());
  EXPECT_GE(lsns.front(), 0x4000u);
  EXPECT_LT(lsns.front(), 0x4000u + 0x400);  // nothing at or above the horizon went
  EXPECT_EQ(r->transactions_deleted, 20u - lsns.size());
  EXPECT_EQ(KeysWithTag('W'), lsns.size());  // the time index holds exactly the kept commits
  EXPECT_EQ(KeysWithTag('C'), lsns.size());  // one chunk each (a row; late-mark's also its message)
  EXPECT_FALSE(repo_->change_log().GetMark("early-mark")->has_value());
  EXPECT_TRUE(repo_->change_log().GetMark("late-mark")->has_value());
  // Every sequence sampled before the horizon still has its last value there.
  std::map<std::string, int64_t> before;
  ASSERT_TRUE(repo_->change_log()
                  .ForEachSequenceSample(pg::Lsn(),
                                         [&](const proto::SequenceSample& s) {
                                           if (s.check_lsn() < 0x4000) {
                                             for (const auto& q : s.sequences()) before[q.name()] = q.last_value();
                                           }
                                           return absl::OkStatus();
                                         })
                  .ok());
  EXPECT_EQ(before["b"], 42);
  EXPECT_EQ(before["a"], 8);  // the sample at commit 8 (LSN 0x3100), the last before 0x4000
  // Of the catalog checks below the horizon, the newest stays: it says what the relations were there.
  std::vector<std::string> checks;
  ASSERT_TRUE(repo_->change_log()
                  .ForEachCatalogCheck(pg::Lsn(),
                                       [&](const proto::CatalogCheck& c) {
                                         checks.push_back(c.relations(0).name());
                                         return absl::OkStatus();
                                       })
                  .ok());
  EXPECT_EQ(checks, (std::vector<std::string>{"8", "12", "16"}));
  absl::StatusOr<std::optional<proto::Retention>> record = repo_->change_log().RetentionState();
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_TRUE((*record)->done());
  EXPECT_EQ((*record)->horizon_lsn(), 0x4000u);
}

TEST_F(RetentionApply, RunningAgainDeletesNothingMore) {
  ASSERT_TRUE(RunRetention(*repo_, RetentionPolicy{hours(48)}, H(24 * 5 + 12), {}, base::Logger::Silent()).ok());
  const std::vector<uint64_t> after_first = CommitLsns();
  absl::StatusOr<RetentionResult> again =
      RunRetention(*repo_, RetentionPolicy{hours(48)}, H(24 * 5 + 12), {}, base::Logger::Silent());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->plan.empty());
  EXPECT_EQ(CommitLsns(), after_first);
}

TEST_F(RetentionApply, AfterTheHorizonIsWrittenReadersNoLongerSeeTheOldBases) {
  // Stop right after step 1 by failing the hook's caller: the record is written, nothing deleted.
  RetentionOptions options;
  bool stopped = false;
  options.after_step = [&](int step) {
    if (step == 1) {
      stopped = true;
      // What a reader sees at this instant: only the kept bases, though all folders still exist.
      absl::StatusOr<std::vector<proto::Base>> bases = repo_->Bases();
      ASSERT_TRUE(bases.ok());
      EXPECT_EQ(IdsOf(*bases), (std::vector<std::string>{"0000000000004000", "0000000000005000"}));
      EXPECT_TRUE(std::filesystem::exists(dir_.path() / "repo" / "bases" / "0000000000001000"));
    }
  };
  ASSERT_TRUE(RunRetention(*repo_, RetentionPolicy{hours(48)}, H(24 * 5 + 12), options, base::Logger::Silent()).ok());
  EXPECT_TRUE(stopped);
}

TEST_F(RetentionApply, AnInterruptedDeletionIsFinishedAtTheNextRun) {
  // A record as step 1 leaves it, as if the process died right after writing it.
  proto::Retention record;
  record.set_horizon_lsn(0x3000);
  record.set_horizon_time(H(48));
  record.add_deleting_base_ids("0000000000001000");
  record.add_deleting_base_ids("0000000000002000");
  std::string bytes;
  record.SerializeToString(&bytes);
  rocksdb::WriteBatch batch;
  batch.Put(keys::Retention(), bytes);
  ASSERT_TRUE(keys::Write(repo_->change_log(), &batch, true).ok());
  // and a base half-moved to the trash
  std::filesystem::rename(dir_.path() / "repo" / "bases" / "0000000000001000",
                          dir_.path() / "repo" / "bases" / ".trash-0000000000001000");

  ASSERT_TRUE(FinishInterruptedRetention(*repo_, {}, base::Logger::Silent()).ok());
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "repo" / "bases" / ".trash-0000000000001000"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "repo" / "bases" / "0000000000002000"));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "repo" / "bases" / "0000000000003000"));
  EXPECT_GE(CommitLsns().front(), 0x3000u);
  EXPECT_TRUE((*repo_->change_log().RetentionState())->done());
}

}  // namespace
}  // namespace pgpitr::wal
