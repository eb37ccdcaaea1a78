// Specification of the relation check: without event triggers, a restore's relations are compared
// with what capture's catalog checks saw of the source's at the target; each that may differ is
// named, with why (made or dropped without a record, a definition changed, made again under its
// name, changed around the target). With event triggers nothing is compared: replay made every
// schema change at its place. The change log is a real RocksDB written through ChangeLogWriter.
#include "restore/relation_check.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pg/stream_messages.h"
#include "tests/change_log_fixture.h"
#include "wal/change_log_writer.h"

namespace pgpitr::restore {
namespace {

using pg::Lsn;

proto::RelationDigest R(const std::string& name, uint32_t oid, const std::string& digest,
                        const std::string& kind = "r") {
  proto::RelationDigest r;
  r.set_namespace_("public");
  r.set_name(name);
  r.set_oid(oid);
  r.set_digest(digest);
  r.set_kind(kind);
  return r;
}

SourceRelations NoTriggers(std::vector<proto::RelationDigest> base, std::vector<proto::RelationDigest> before) {
  SourceRelations s;
  s.applies = true;
  s.base = std::move(base);
  s.before = std::move(before);
  s.before_lsn = 0x500;
  return s;
}

std::vector<std::string> Named(const std::vector<Difference>& d) {
  std::vector<std::string> out;
  for (const Difference& x : d) out.push_back(x.objects.at(0));
  return out;
}

TEST(CompareRelations, ARestoreWithTheSourcesRelationsNamesNothing) {
  const SourceRelations s = NoTriggers({R("t", 100, "a")}, {R("t", 100, "a"), R("u", 101, "b")});
  EXPECT_TRUE(CompareRelations(s, {R("t", 5000, "a")}, {R("t", 5000, "a"), R("u", 5001, "b")}, true).empty());
}

TEST(CompareRelations, ATableTheSourceMadeWithoutARecordAndTheRestoreLacksIsNamed) {
  // emp: made past any record, never a row: nothing in the stream made it.
  const SourceRelations s = NoTriggers({R("t", 100, "a")}, {R("t", 100, "a"), R("emp", 101, "b")});
  const std::vector<Difference> d = CompareRelations(s, {R("t", 5000, "a")}, {R("t", 5000, "a")}, true);
  ASSERT_EQ(Named(d), std::vector<std::string>{"table \"public\".\"emp\""});
  EXPECT_NE(d[0].reason.find("the restore has not"), std::string::npos) << d[0].reason;
  EXPECT_EQ(d[0].commit_lsn, 0x500u);
}

TEST(CompareRelations, ARelationTheSourceDroppedAndTheRestoreKeepsIsNamed) {
  const SourceRelations s = NoTriggers({R("t", 100, "a"), R("v", 102, "q", "v")}, {R("t", 100, "a")});
  const std::vector<Difference> d = CompareRelations(s, {R("t", 5000, "a"), R("v", 5002, "q", "v")},
                                                     {R("t", 5000, "a"), R("v", 5002, "q", "v")}, true);
  ASSERT_EQ(Named(d), std::vector<std::string>{"view \"public\".\"v\""});
  EXPECT_NE(d[0].reason.find("dropped or renamed"), std::string::npos) << d[0].reason;
}

TEST(CompareRelations, ADefinitionThatDiffersIsNamedUnlessTheTargetRunsAnotherMajor) {
  const SourceRelations s = NoTriggers({R("t", 100, "a")}, {R("t", 100, "a2")});
  const std::vector<Difference> d = CompareRelations(s, {R("t", 5000, "a")}, {R("t", 5000, "a")}, true);
  ASSERT_EQ(Named(d), std::vector<std::string>{"table \"public\".\"t\""});
  EXPECT_NE(d[0].reason.find("definition differs"), std::string::npos) << d[0].reason;
  // Another major words definitions otherwise: only which relations there are counts.
  EXPECT_TRUE(CompareRelations(s, {R("t", 5000, "a")}, {R("t", 5000, "a")}, false).empty());
}

TEST(CompareRelations, ATableTheSourceMadeAgainUnderItsNameIsNamedWhileTheRestoreHoldsTheBasesOne) {
  // Same definition, another OID on the source: dropped and made again after the base.
  const SourceRelations s = NoTriggers({R("t", 100, "a")}, {R("t", 200, "a")});
  const std::vector<Difference> kept = CompareRelations(s, {R("t", 5000, "a")}, {R("t", 5000, "a")}, true);
  ASSERT_EQ(Named(kept), std::vector<std::string>{"table \"public\".\"t\""});
  EXPECT_NE(kept[0].reason.find("made it again"), std::string::npos) << kept[0].reason;
  // The replay made it again too (a recorded DROP and CREATE): the restore's is the new one.
  EXPECT_TRUE(CompareRelations(s, {R("t", 5000, "a")}, {R("t", 6000, "a")}, true).empty());
}

TEST(CompareRelations, ARelationChangedAroundTheTargetIsNamedUnlessTheRestoreHasItAsAfterTheChange) {
  SourceRelations s = NoTriggers({R("t", 100, "a")}, {R("t", 100, "a")});
  proto::CatalogCheck around;
  around.set_since_lsn(0x600);
  around.set_after_lsn(0x900);
  *around.add_relations() = R("t", 100, "a2");
  *around.add_relations() = R("n", 103, "c");
  s.around = around;
  // As before the change: the source may have been either; n too (made then).
  const std::vector<Difference> before = CompareRelations(s, {R("t", 5000, "a")}, {R("t", 5000, "a")}, true);
  ASSERT_EQ(Named(before), (std::vector<std::string>{"table \"public\".\"n\"", "table \"public\".\"t\""}));
  EXPECT_NE(before[0].reason.find("around the target"), std::string::npos) << before[0].reason;
  EXPECT_EQ(before[0].commit_lsn, 0x900u);
  // As after it: replay made what the source had after the change (a recorded statement).
  EXPECT_TRUE(CompareRelations(s, {R("t", 5000, "a")}, {R("n", 5003, "c"), R("t", 5000, "a2")}, true).empty());
}

TEST(CompareRelations, AChangeAroundTheTargetThatRecordedStatementsNameIsTheirs) {
  // Through the proxy: t altered before the target and again after it, u made after it, all in one
  // stretch between two checks; the restore made what came before the target.
  SourceRelations s = NoTriggers({}, {});
  proto::CatalogCheck around;
  around.set_after_lsn(0x900);
  *around.add_relations() = R("t", 100, "a3");
  *around.add_relations() = R("u", 101, "b");
  *around.add_relations() = R("made_past", 102, "c");
  s.around = around;
  s.recorded_before = {"create table t (id int)", "alter table t add column x int"};
  s.recorded_after = {"alter table \"t\" add column y int", "create table u (a int)"};
  // made_past: no statement names it (its name inside another word does not count).
  s.recorded_after.push_back("create table not_made_past_either (a int)");
  EXPECT_EQ(Named(CompareRelations(s, {}, {R("t", 5000, "a2")}, true)),
            std::vector<std::string>{"table \"public\".\"made_past\""});
  // Had t changed before the target with no statement naming it there, it would be named too.
  s.recorded_before.clear();
  EXPECT_EQ(Named(CompareRelations(s, {}, {R("t", 5000, "a2")}, true)),
            (std::vector<std::string>{"table \"public\".\"made_past\"", "table \"public\".\"t\""}));
}

// The check past the target read the relations in a snapshot taken after its first read: a
// statement that committed after that, before the target, may be missing from what it saw. The
// restore (which has it) differs from the check, and the statement is what explains it.
TEST(CompareRelations, AStatementCommittedWhileTheCheckReadExplainsWhatTheCheckDidNotSee) {
  SourceRelations s = NoTriggers({R("t", 100, "a")}, {});
  proto::CatalogCheck around;
  around.set_after_lsn(0x900);
  *around.add_relations() = R("t", 100, "a1");
  s.around = around;
  s.recorded_before = {"alter table t add column x int", "alter table t add column y int"};
  EXPECT_EQ(Named(CompareRelations(s, {}, {R("t", 5000, "a2")}, true)),
            std::vector<std::string>{"table \"public\".\"t\""})
      << "nothing explains that the check saw otherwise";
  s.recorded_while_read = {"alter table t add column y int"};
  EXPECT_TRUE(CompareRelations(s, {}, {R("t", 5000, "a2")}, true).empty());
}

TEST(CompareRelations, WithEventTriggersNothingIsCompared) {
  SourceRelations s = NoTriggers({R("t", 100, "a")}, {R("t", 100, "a"), R("emp", 101, "b")});
  s.applies = false;
  EXPECT_TRUE(CompareRelations(s, {R("t", 5000, "a")}, {R("t", 5000, "a")}, true).empty());
}

// --- what the checks say at a target ---

class SourceRelationsAtTest : public testing::ChangeLogFixture {
 protected:
  void SetUp() override { OpenLog(); }

  // A check that saw the relations changed: read between lsn and after, the previous check at since.
  void Check(uint64_t since, uint64_t lsn, uint64_t after, std::vector<proto::RelationDigest> relations,
             bool triggers = false) {
    proto::CatalogCheck c;
    c.set_since_lsn(since);
    c.set_lsn(lsn);
    c.set_after_lsn(after);
    c.set_event_triggers(triggers);
    for (auto& r : relations) *c.add_relations() = std::move(r);
    ASSERT_TRUE(writer_->PutCatalogCheck(c, Lsn(lsn), 0).ok());
    Sync();
  }
  // A check that saw nothing changed.
  void Unchanged(uint64_t lsn) {
    ASSERT_TRUE(writer_->PutCatalogCheck(std::nullopt, Lsn(lsn), 0).ok());
    Sync();
  }
  RestorePlan At(uint64_t lsn, bool base_triggers = false) {
    RestorePlan plan;
    plan.target.kind = RestoreTarget::Kind::kLsn;
    plan.target.lsn = Lsn(lsn);
    plan.base.set_lsn(0x100);
    plan.base.set_catalog_digested(true);
    plan.base.set_event_triggers(base_triggers);
    *plan.base.add_relations() = R("t", 100, "a");
    return plan;
  }
  SourceRelations Read(const RestorePlan& plan) {
    absl::StatusOr<SourceRelations> s = SourceRelationsAt(*log_, writer_->state(), plan);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : SourceRelations();
  }
};

TEST_F(SourceRelationsAtTest, BetweenChecksTheLastChangeBeforeTheTargetHoldsAndNoneIsAround) {
  Check(0x200, 0x300, 0x310, {R("t", 100, "a"), R("u", 101, "b")});
  Unchanged(0x400);
  Check(0x400, 0x500, 0x510, {R("t", 100, "a")});
  Unchanged(0x600);
  SourceRelations s = Read(At(0x380));
  EXPECT_TRUE(s.applies);
  ASSERT_EQ(s.before.size(), 2u);
  EXPECT_EQ(s.before_lsn, 0x310u);
  EXPECT_FALSE(s.around.has_value());  // the check at 0x400 saw none: the next change came after it
  EXPECT_FALSE(s.unchecked);
  // Between that check and the one that saw u dropped: either.
  s = Read(At(0x450));
  ASSERT_TRUE(s.around.has_value());
  EXPECT_EQ(s.around->relations_size(), 1);
  // After it: the check's.
  s = Read(At(0x550));
  EXPECT_FALSE(s.around.has_value());
  EXPECT_EQ(s.before.size(), 1u);
  // Before any check: the base's.
  s = Read(At(0x150));
  ASSERT_EQ(s.before.size(), 1u);
  EXPECT_EQ(s.before_lsn, 0x100u);
}

TEST_F(SourceRelationsAtTest, ATargetInsideAChangesStretchHasItAround) {
  Check(0x200, 0x300, 0x310, {R("t", 100, "a"), R("u", 101, "b")});
  const SourceRelations s = Read(At(0x250));
  ASSERT_TRUE(s.around.has_value());
  EXPECT_EQ(s.around->relations_size(), 2);
  EXPECT_EQ(s.before.size(), 1u);  // the base's
}

// A check reads its position, then the relations in a snapshot taken after it, then its position
// again: a schema change that committed while it read may be missing from what it saw. Recorded
// statements around a target are read from that check's first position, not its last.
TEST_F(SourceRelationsAtTest, AStatementThatCommittedWhileTheCheckBeforeReadIsAmongThoseBeforeTheTarget) {
  auto recorded = [&](uint64_t commit_lsn, uint32_t xid, const std::string& sql) {
    Apply(wal::BeginMessage{.final_lsn = Lsn(commit_lsn), .commit_time = 1, .xid = xid});
    Apply(wal::LogicalMessage{.xid = xid,
                              .transactional = true,
                              .lsn = Lsn(commit_lsn - 0x10),
                              .prefix = pg::kDdlMessagePrefix,
                              .content = R"({"sql": ")" + sql + R"("})"});
    Apply(wal::CommitMessage{
        .flags = 0, .commit_lsn = Lsn(commit_lsn), .end_lsn = Lsn(commit_lsn + 8), .commit_time = 1});
  };
  Check(0x200, 0x300, 0x340, {R("t", 100, "a")});
  recorded(0x320, 700, "ALTER TABLE t ADD COLUMN c int");
  recorded(0x420, 701, "ALTER TABLE t RENAME c TO d");
  Sync();
  Check(0x300, 0x400, 0x510, {R("t", 100, "c")});
  const SourceRelations s = Read(At(0x380));
  ASSERT_TRUE(s.around.has_value());
  EXPECT_EQ(s.recorded_before, std::vector<std::string>{"alter table t add column c int"});
  EXPECT_EQ(s.recorded_after, std::vector<std::string>{"alter table t rename c to d"});
  EXPECT_TRUE(s.recorded_while_read.empty()) << "it committed before the check's first read";
  // A target after the rename: the rename committed while the check past the target read.
  const SourceRelations later = Read(At(0x4a0));
  ASSERT_TRUE(later.around.has_value());
  EXPECT_EQ(later.recorded_while_read, std::vector<std::string>{"alter table t rename c to d"});
}

TEST_F(SourceRelationsAtTest, ATargetPastTheLastCheckIsUnchecked) {
  Check(0x200, 0x300, 0x310, {R("t", 100, "a")});
  Unchanged(0x400);
  EXPECT_FALSE(Read(At(0x380)).unchecked);
  const SourceRelations s = Read(At(0x480));
  EXPECT_TRUE(s.unchecked);
  EXPECT_EQ(s.last_check_lsn, 0x400u);
}

TEST_F(SourceRelationsAtTest, WithEventTriggersThroughoutNothingApplies) {
  Check(0x200, 0x300, 0x310, {R("t", 100, "a")}, /*triggers=*/true);
  EXPECT_FALSE(Read(At(0x350, /*base_triggers=*/true)).applies);
  // A base taken without them: it applies.
  EXPECT_TRUE(Read(At(0x350, /*base_triggers=*/false)).applies);
  // A base from before the checks: nothing to compare with.
  RestorePlan old = At(0x350);
  old.base.set_catalog_digested(false);
  EXPECT_FALSE(Read(old).applies);
}

}  // namespace
}  // namespace pgpitr::restore
