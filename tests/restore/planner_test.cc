// Specification of restore planning: for a target inside the restorable window (see
// tests/wal/restorable_window_test.cc), the base to start from, the last commit to replay and how
// many commits that is; a target outside it, or across a gap, is refused naming the window.
// The change log is a real RocksDB filled through ChangeLogWriter; bases and capture state are
// written by hand.
#include "restore/planner.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tests/change_log_fixture.h"
#include "wal/change_log_keys.h"
#include "wal/change_log_writer.h"
#include "wal/pgoutput_decoder.h"

namespace pgpitr::restore {
namespace {

using pg::Lsn;
using pg::PgTime;

// 2026-11-25 10:41:07 UTC (Unix 1795603267, from `date -u -d '2026-11-25 10:41:07' +%s`) plus
// seconds: times far from PostgreSQL's epoch, as a real repository has them.
PgTime T(int64_t seconds) { return pg::PgTimeFromUnixMicros((1795603267 + seconds) * 1'000'000); }

proto::Base Base(const std::string& id, uint64_t lsn, PgTime consistent_time) {
  proto::Base base;
  base.set_id(id);
  base.set_lsn(lsn);
  base.set_consistent_time(consistent_time);
  base.set_start_time(consistent_time);
  base.set_end_time(consistent_time + 1'000'000);
  return base;
}

proto::CaptureState State(uint64_t log_start, uint64_t captured_through, PgTime captured_through_time) {
  proto::CaptureState state;
  state.set_log_start_lsn(log_start);
  state.set_captured_through_lsn(captured_through);
  state.set_captured_through_time(captured_through_time);
  return state;
}

RestoreTarget AtTime(PgTime t, bool exclusive = false) {
  RestoreTarget target;
  target.kind = RestoreTarget::Kind::kTime;
  target.time = t;
  target.exclusive = exclusive;
  return target;
}
RestoreTarget AtLsn(uint64_t lsn, bool exclusive = false) {
  RestoreTarget target;
  target.kind = RestoreTarget::Kind::kLsn;
  target.lsn = Lsn(lsn);
  target.exclusive = exclusive;
  return target;
}

// --- plans ---

// Commits at LSN 0x100, 0x200, ... 0x500, each at T(LSN / 0x100 * 100): 0x300 commits at T(300).
// Bases b1 at 0x150 (T(150)) and b2 at 0x350 (T(350)); the log starts at 0x100 and is captured
// through 0x600 at T(600).
class PlanRestoreTest : public testing::ChangeLogFixture {
 protected:
  void SetUp() override {
    OpenLog();
    Apply(wal::RelationMessage{
        .xid = std::nullopt,
        .relid = 16389,
        .namespace_name = "public",
        .relation_name = "accounts",
        .replica_identity = 'd',
        .columns = {wal::RelationColumn{.is_key = true, .name = "id", .type_oid = 23, .type_modifier = -1}}});
    for (uint64_t n = 1; n <= 5; ++n) CommitOneInsert(n * 0x100, T(static_cast<int64_t>(n) * 100));
    Sync();
  }

  void CommitOneInsert(uint64_t commit_lsn, PgTime commit_time) {
    Apply(wal::BeginMessage{.final_lsn = Lsn(commit_lsn), .commit_time = commit_time, .xid = 700});
    Apply(wal::InsertMessage{.xid = std::nullopt,
                             .relid = 16389,
                             .new_tuple = {wal::TupleColumn{wal::ColumnKind::kText, std::to_string(commit_lsn)}}});
    Apply(wal::CommitMessage{
        .flags = 0, .commit_lsn = Lsn(commit_lsn), .end_lsn = Lsn(commit_lsn + 8), .commit_time = commit_time});
  }

  absl::StatusOr<RestorePlan> Plan(const RestoreTarget& target) { return PlanRestore(bases_, *log_, state_, target); }

  static std::optional<uint64_t> LastCommitLsn(const RestorePlan& plan) {
    if (!plan.last_commit) return std::nullopt;
    return plan.last_commit->commit_lsn();
  }

  std::vector<proto::Base> bases_ = {Base("b1", 0x150, T(150)), Base("b2", 0x350, T(350))};
  proto::CaptureState state_ = State(0x100, 0x600, T(600));
};

TEST_F(PlanRestoreTest, NoBasesIsAnError) {
  bases_.clear();
  absl::StatusOr<RestorePlan> plan = Plan(AtTime(T(300)));
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition) << plan.status();
  EXPECT_NE(plan.status().message().find("no base"), std::string_view::npos) << plan.status();
}

TEST_F(PlanRestoreTest, OnlyUnusableBasesIsAnErrorThatSaysSo) {
  state_ = State(0x400, 0x600, T(600));  // the log starts after both bases
  absl::StatusOr<RestorePlan> plan = Plan(AtTime(T(500)));
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition) << plan.status();
  EXPECT_NE(plan.status().message().find("does not cover"), std::string_view::npos) << plan.status();
}

struct OutOfRangeCase {
  std::string name;
  RestoreTarget target;
  std::string names;  // what the message must name besides the window
};

class PlanRestoreOutOfRange : public PlanRestoreTest, public ::testing::WithParamInterface<OutOfRangeCase> {};

TEST_P(PlanRestoreOutOfRange, IsAnErrorPrintingTheWindow) {
  absl::StatusOr<RestorePlan> plan = Plan(GetParam().target);
  ASSERT_FALSE(plan.ok()) << "planned from base " << plan->base.id();
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kOutOfRange) << plan.status();
  const std::string message(plan.status().message());
  EXPECT_NE(message.find(pg::FormatPgTime(T(150)) + " (LSN 0/150) to " + pg::FormatPgTime(T(600)) + " (LSN 0/600)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(GetParam().names), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(PlanRestore, PlanRestoreOutOfRange,
                         ::testing::Values(
                             // Before b1's consistent time, though after commits the log holds.
                             OutOfRangeCase{"TimeBeforeTheEarliestBase", AtTime(T(149)), "before"},
                             OutOfRangeCase{"TimeLongBeforeTheEarliestBase", AtTime(T(-100000)), "before"},
                             OutOfRangeCase{"TimeAfterTheWindow", AtTime(T(601)), "after"},
                             OutOfRangeCase{"LsnBeforeTheEarliestBase", AtLsn(0x14F), "LSN 0/14F is before"},
                             OutOfRangeCase{"LsnAfterTheWindow", AtLsn(0x601), "LSN 0/601 is after"}),
                         [](const ::testing::TestParamInfo<OutOfRangeCase>& info) { return info.param.name; });

TEST_F(PlanRestoreTest, TargetTimeBeforeTheEarliestBaseNamesBothTimes) {
  absl::StatusOr<RestorePlan> plan = Plan(AtTime(T(149)));
  ASSERT_FALSE(plan.ok());
  const std::string message(plan.status().message());
  EXPECT_NE(message.find("restore target " + pg::FormatPgTime(T(149)) + " is before the earliest restorable point " +
                         pg::FormatPgTime(T(150))),
            std::string::npos)
      << message;
}

TEST_F(PlanRestoreTest, WindowEdgesAreRestorable) {
  // An exclusive target one tick past the end stops at the end: restorable too.
  for (const RestoreTarget& target : {AtTime(T(150)), AtTime(T(600)), AtLsn(0x150), AtLsn(0x600),
                                      AtTime(T(600) + 1, /*exclusive=*/true), AtLsn(0x601, /*exclusive=*/true)}) {
    absl::StatusOr<RestorePlan> plan = Plan(target);
    EXPECT_TRUE(plan.ok()) << target.ToString() << ": " << plan.status();
  }
}

TEST_F(PlanRestoreTest, PicksTheNewestBaseAtOrBeforeTheTargetTime) {
  absl::StatusOr<RestorePlan> plan = Plan(AtTime(T(349)));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->base.id(), "b1");
  plan = Plan(AtTime(T(350)));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->base.id(), "b2");
  plan = Plan(AtTime(T(599)));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->base.id(), "b2");
}

TEST_F(PlanRestoreTest, PicksTheNewestBaseAtOrBeforeTheTargetLsn) {
  absl::StatusOr<RestorePlan> plan = Plan(AtLsn(0x34F));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->base.id(), "b1");
  plan = Plan(AtLsn(0x350));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->base.id(), "b2");
}

TEST_F(PlanRestoreTest, UnusableNewerBaseIsNotPicked) {
  bases_.push_back(Base("ahead", 0x700, T(700)));  // capture has not reached it yet
  absl::StatusOr<RestorePlan> plan = Plan(AtTime(T(600)));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->base.id(), "b2");
}

TEST_F(PlanRestoreTest, TimeTargetReplaysFromTheBaseThroughTheLastCommitNotAfterIt) {
  absl::StatusOr<RestorePlan> plan = Plan(AtTime(T(349)));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->base.id(), "b1");
  EXPECT_EQ(LastCommitLsn(*plan), 0x300u);
  EXPECT_EQ(plan->transactions, 2u);  // 0x200 and 0x300; 0x100 is in the base
  EXPECT_EQ(plan->reached_lsn, Lsn(0x308));
  EXPECT_EQ(plan->reached_time, T(349));
  EXPECT_EQ(plan->target.kind, RestoreTarget::Kind::kTime);
}

TEST_F(PlanRestoreTest, LsnTargetReplaysFromTheBaseThroughTheLastCommitAtOrBeforeIt) {
  absl::StatusOr<RestorePlan> plan = Plan(AtLsn(0x4FF));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->base.id(), "b2");
  EXPECT_EQ(LastCommitLsn(*plan), 0x400u);
  EXPECT_EQ(plan->transactions, 1u);
  EXPECT_EQ(plan->reached_lsn, Lsn(0x408));
  EXPECT_EQ(plan->reached_time, T(400));
}

struct AtCommitCase {
  std::string name;
  RestoreTarget target;
  uint64_t last_commit;
  uint64_t transactions;
};

class PlanRestoreAtACommit : public PlanRestoreTest, public ::testing::WithParamInterface<AtCommitCase> {};

TEST_P(PlanRestoreAtACommit, InclusiveKeepsItExclusiveLeavesItOut) {
  absl::StatusOr<RestorePlan> plan = Plan(GetParam().target);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->base.id(), "b1");
  EXPECT_EQ(LastCommitLsn(*plan), GetParam().last_commit);
  EXPECT_EQ(plan->transactions, GetParam().transactions);
  EXPECT_EQ(plan->reached_lsn, Lsn(GetParam().last_commit + 8));
}

// The commit at 0x300 is at T(300) exactly.
INSTANTIATE_TEST_SUITE_P(PlanRestore, PlanRestoreAtACommit,
                         ::testing::Values(AtCommitCase{"TimeInclusive", AtTime(T(300)), 0x300, 2},
                                           AtCommitCase{"TimeExclusive", AtTime(T(300), true), 0x200, 1},
                                           AtCommitCase{"TimeOneMicrosecondLaterExclusive", AtTime(T(300) + 1, true),
                                                        0x300, 2},
                                           AtCommitCase{"LsnInclusive", AtLsn(0x300), 0x300, 2},
                                           AtCommitCase{"LsnExclusive", AtLsn(0x300, true), 0x200, 1},
                                           AtCommitCase{"LsnOneLaterExclusive", AtLsn(0x301, true), 0x300, 2}),
                         [](const ::testing::TestParamInfo<AtCommitCase>& info) { return info.param.name; });

TEST_F(PlanRestoreTest, NoCommitAfterTheBaseMeansNoLastCommit) {
  // b2 is at 0x350; the next commit is 0x400 at T(400).
  absl::StatusOr<RestorePlan> plan = Plan(AtTime(T(399)));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->base.id(), "b2");
  EXPECT_EQ(plan->last_commit, std::nullopt) << "would replay " << plan->last_commit->commit_lsn();
  EXPECT_EQ(plan->transactions, 0u);
  EXPECT_EQ(plan->reached_lsn, Lsn(0x350));
  EXPECT_EQ(plan->reached_time, T(399));

  plan = Plan(AtLsn(0x3FF));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->base.id(), "b2");
  EXPECT_EQ(plan->last_commit, std::nullopt);
  EXPECT_EQ(plan->transactions, 0u);
  EXPECT_EQ(plan->reached_lsn, Lsn(0x350));
  EXPECT_EQ(plan->reached_time, T(350));
}

TEST_F(PlanRestoreTest, LatestReplaysEverythingAfterTheNewestBase) {
  absl::StatusOr<RestorePlan> plan = Plan(RestoreTarget::Latest());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->base.id(), "b2");
  EXPECT_EQ(LastCommitLsn(*plan), 0x500u);
  EXPECT_EQ(plan->transactions, 2u);
  EXPECT_EQ(plan->reached_lsn, Lsn(0x600));
  EXPECT_EQ(plan->reached_time, T(600));
}

TEST_F(PlanRestoreTest, TransactionsCountsEveryCommitFromTheBase) {
  bases_ = {Base("b0", 0x100, T(100))};  // a base exactly at the first commit's LSN
  absl::StatusOr<RestorePlan> plan = Plan(AtTime(T(600)));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->base.id(), "b0");
  EXPECT_EQ(LastCommitLsn(*plan), 0x500u);
  // A commit at the base's LSN is not in the base (proto::Base: commits at or after lsn are in the
  // change log), so all five are replayed.
  EXPECT_EQ(plan->transactions, 5u);
}

TEST_F(PlanRestoreTest, TimeTargetStopsBeforeTheFirstCommitAfterIt) {
  // Commit times out of commit order: 0x700 is stamped T(800), 0x800 is stamped T(700).
  CommitOneInsert(0x700, T(800));
  CommitOneInsert(0x800, T(700));
  Sync();
  state_ = State(0x100, 0x900, T(900));
  absl::StatusOr<RestorePlan> plan = Plan(AtTime(T(750)));
  ASSERT_TRUE(plan.ok()) << plan.status();
  // 0x800 committed at T(700) <= T(750), but only after 0x700 (at T(800)), which is after the
  // target: replay stops before 0x700.
  EXPECT_EQ(LastCommitLsn(*plan), 0x500u);
  plan = Plan(AtTime(T(800)));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(LastCommitLsn(*plan), 0x800u);
  EXPECT_EQ(plan->transactions, 4u);  // 0x400, 0x500, 0x700, 0x800 after b2
}

// --- gaps: a restore never replays across one ---

// The lost-slot case: commits after 0x200 and before 0x300 are missing (there are none in the log);
// b1 (0x150) restores up to the gap, b2 (0x350) from there on.
class PlanRestoreAcrossAGap : public PlanRestoreTest {
 protected:
  void SetUp() override {
    PlanRestoreTest::SetUp();
    ASSERT_TRUE(log_->RecordGap(Lsn(0x200), Lsn(0x300), "slot pgpitr lost").ok());
  }
};

TEST_F(PlanRestoreAcrossAGap, APointBeforeTheGapReplaysFromTheBaseBeforeIt) {
  for (const RestoreTarget& target : {AtTime(T(200)), AtLsn(0x200)}) {
    absl::StatusOr<RestorePlan> plan = Plan(target);
    ASSERT_TRUE(plan.ok()) << target.ToString() << ": " << plan.status();
    EXPECT_EQ(plan->base.id(), "b1");
    EXPECT_EQ(LastCommitLsn(*plan), 0x200u) << "the last commit before the gap";
    EXPECT_EQ(plan->transactions, 1u);
  }
}

TEST_F(PlanRestoreAcrossAGap, APointAfterTheNewBaseReplaysFromIt) {
  absl::StatusOr<RestorePlan> plan = Plan(AtTime(T(400)));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->base.id(), "b2");
  EXPECT_EQ(LastCommitLsn(*plan), 0x400u);
  plan = Plan(RestoreTarget::Latest());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->base.id(), "b2");
  EXPECT_EQ(plan->reached_lsn, Lsn(0x600));
}

TEST_F(PlanRestoreAcrossAGap, ATargetInsideTheGapIsRefusedNamingTheStretches) {
  // After the last commit before the gap, before the first base after it: by time and by LSN.
  for (const RestoreTarget& target : {AtTime(T(201)), AtTime(T(349)), AtLsn(0x201), AtLsn(0x34F)}) {
    absl::StatusOr<RestorePlan> plan = Plan(target);
    ASSERT_FALSE(plan.ok()) << target.ToString() << " planned from " << plan->base.id();
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kOutOfRange);
    const std::string message(plan.status().message());
    EXPECT_NE(message.find("falls between two stretches of the window"), std::string::npos) << message;
    EXPECT_NE(message.find("gap after LSN 0/200 and before 0/300 (slot pgpitr lost)"), std::string::npos) << message;
    const std::string before =
        pg::FormatPgTime(T(150)) + " (LSN 0/150) to " + pg::FormatPgTime(T(200)) + " (LSN 0/200)";
    const std::string after = pg::FormatPgTime(T(350)) + " (LSN 0/350) to " + pg::FormatPgTime(T(600)) + " (LSN 0/600)";
    EXPECT_NE(message.find(before + "; " + after), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line";
  }
}

TEST_F(PlanRestoreTest, ATargetPastARecordedGapIsRefusedNamingIt) {
  ASSERT_TRUE(log_->RecordGap(Lsn(0x400), Lsn(0x480), "slot pgpitr lost").ok());
  absl::StatusOr<RestorePlan> plan = Plan(AtLsn(0x500));
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(plan.status().message().find("gap after LSN 0/400 and before 0/480 (slot pgpitr lost)"),
            std::string_view::npos)
      << plan.status();
  // Before the gap is still restorable.
  EXPECT_TRUE(Plan(AtLsn(0x400)).ok());
}

TEST_F(PlanRestoreTest, AMissingTransactionRecordIsRefusedNamingTheRange) {
  // Delete the record of the commit at 0x400 as a lost write would: 0x500 names it as its predecessor.
  rocksdb::WriteBatch batch;
  batch.Delete(wal::keys::Transaction(Lsn(0x400)));
  ASSERT_TRUE(wal::keys::Write(*log_, &batch, true).ok());
  absl::StatusOr<RestorePlan> plan = Plan(AtLsn(0x500));
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(plan.status().message().find(
                "missing transactions before LSN 0/500 (that commit follows 0/400, which is not stored)"),
            std::string_view::npos)
      << plan.status();
}

}  // namespace
}  // namespace pgpitr::restore

namespace pgpitr::restore {
namespace {

// A table's rows are left out of replay when it is dropped by the same or a later transaction in
// the window; rows after its last drop (its OID reused) are not.
TEST(DroppedRelations, RowsBeforeTheLastDropInTheWindowAreLeftOut) {
  DroppedRelations dropped;
  EXPECT_TRUE(dropped.empty());
  dropped.Add(16400, pg::Lsn(0x200));
  dropped.Add(16400, pg::Lsn(0x500));
  EXPECT_FALSE(dropped.empty());
  EXPECT_TRUE(dropped.DroppedAtOrAfter(16400, pg::Lsn(0x100)));
  EXPECT_TRUE(dropped.DroppedAtOrAfter(16400, pg::Lsn(0x200)));  // rows of the dropping transaction
  EXPECT_TRUE(dropped.DroppedAtOrAfter(16400, pg::Lsn(0x300)));
  EXPECT_TRUE(dropped.DroppedAtOrAfter(16400, pg::Lsn(0x500)));
  EXPECT_FALSE(dropped.DroppedAtOrAfter(16400, pg::Lsn(0x600)));
  EXPECT_FALSE(dropped.DroppedAtOrAfter(16401, pg::Lsn(0x100)));
}

// The large objects a restore makes are the base's (their changes are not in the stream): they may
// differ when the base holds some, or when the source may have held some at the target.
TEST(LargeObjectsMayDiffer, WhenTheBaseHoldsSomeOrASpanIsAroundTheTarget) {
  RestorePlan plan;
  plan.base = Base("b", 1000, 100);
  plan.target.kind = RestoreTarget::Kind::kLsn;
  plan.target.lsn = pg::Lsn(2000);
  proto::CaptureState state;
  EXPECT_FALSE(LargeObjectsMayDiffer(plan, state)) << "none ever seen";
  auto span = [&](uint64_t from, uint64_t to, bool open) {
    proto::LargeObjectSpan* s = state.add_large_object_spans();
    s->set_from_lsn(from);
    s->set_from_time(static_cast<PgTime>(from / 10));
    s->set_to_lsn(to);
    s->set_to_time(static_cast<PgTime>(to / 10));
    s->set_open(open);
  };
  span(100, 900, false);  // gone before the base
  EXPECT_FALSE(LargeObjectsMayDiffer(plan, state));
  span(1500, 1600, false);  // came and went between the base and the target: none at either
  EXPECT_FALSE(LargeObjectsMayDiffer(plan, state));
  span(2500, 0, true);  // appeared after the target
  EXPECT_FALSE(LargeObjectsMayDiffer(plan, state));
  plan.target.lsn = pg::Lsn(3000);
  EXPECT_TRUE(LargeObjectsMayDiffer(plan, state)) << "appeared before the target, still there";
  plan.target.lsn = pg::Lsn(1550);
  EXPECT_TRUE(LargeObjectsMayDiffer(plan, state)) << "the target inside a closed span";
  plan.target.lsn = pg::Lsn(1600);
  EXPECT_FALSE(LargeObjectsMayDiffer(plan, state)) << "the check at 1600 saw none";
  plan.base.set_has_large_objects(true);
  EXPECT_TRUE(LargeObjectsMayDiffer(plan, proto::CaptureState())) << "the base's own";
}

TEST(LargeObjectsMayDiffer, ByTimeForATimeTargetAndToWhatCaptureHoldsForTheLatest) {
  RestorePlan plan;
  plan.base = Base("b", 1000, 100);
  proto::CaptureState state;
  proto::LargeObjectSpan* s = state.add_large_object_spans();
  s->set_from_lsn(2500);
  s->set_from_time(250);
  s->set_open(true);
  plan.target.kind = RestoreTarget::Kind::kTime;
  plan.target.time = 200;
  EXPECT_FALSE(LargeObjectsMayDiffer(plan, state));
  plan.target.time = 300;
  EXPECT_TRUE(LargeObjectsMayDiffer(plan, state));
  plan.target = RestoreTarget::Latest();
  plan.reached_lsn = pg::Lsn(1000);  // no commit after the base
  state.set_captured_through_lsn(2000);
  EXPECT_FALSE(LargeObjectsMayDiffer(plan, state));
  state.set_captured_through_lsn(3000);
  EXPECT_TRUE(LargeObjectsMayDiffer(plan, state)) << "seen before what capture holds, with no commit since";
}

}  // namespace
}  // namespace pgpitr::restore
