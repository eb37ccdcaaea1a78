// Relations without event triggers: schema changes made outside the proxy are not in the logical
// stream, so capture's catalog checks (wal/catalog_digest.h) say what the source's relations were,
// and a restore names each of its own that differs from them (restore/relation_check.h): a strict
// restore refuses, a best-effort one lists them. A point with no such change around it is exact.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness.h"
#include "restore/restore.h"

namespace pgpitr::testing {
namespace {

class RelationCheckTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    event_triggers_ = false;
  }

  // A strict restore at the latest point is refused naming `relation`; a best-effort one names
  // exactly `named`.
  void ExpectRefusedAndNamed(const std::string& relation, const std::vector<std::string>& named) {
    absl::StatusOr<restore::RestoreSummary> strict = Restore("strict", restore::RestoreTarget::Latest());
    ASSERT_FALSE(strict.ok()) << strict->ToString();
    EXPECT_NE(strict.status().message().find(relation), std::string::npos) << strict.status();
    EXPECT_NE(strict.status().message().find("--best-effort"), std::string::npos) << strict.status();
    absl::StatusOr<restore::RestoreSummary> best = RestoreBestEffort("best");
    ASSERT_TRUE(best.ok()) << best.status();
    EXPECT_EQ(NamedObjects(*best), named) << best->ToString();
  }
};

TEST_F(RelationCheckTest, AnEmptyTableMadeOutsideTheStreamIsNamed) {
  pg::Connection app = Connect("app");
  const proto::Base base =
      StartCaptureWithSchema([&] { Exec(app, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)"); });
  EXPECT_TRUE(base.catalog_digested());
  EXPECT_FALSE(base.event_triggers());
  // No row ever reaches the stream for it: nothing but the checks sees it.
  Exec(app, "CREATE TABLE emp (name text, salary int); INSERT INTO t VALUES (2)");
  WaitForACheckAfterNow(app);
  StopCapture();
  ExpectRefusedAndNamed("\"public\".\"emp\"", {"table \"public\".\"emp\""});
  EXPECT_EQ(QueryOne(Connect("best"), "SELECT string_agg(id::text, ',' ORDER BY id) FROM t"), "1,2");
}

TEST_F(RelationCheckTest, ATableDroppedAndMadeAgainUnderItsNameIsNamed) {
  if (!CanDumpTestServer()) GTEST_SKIP() << "no pg_dump for this server's major: its bases are empty";
  pg::Connection app = Connect("app");
  Exec(app,
       "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'old'), (2, 'old'); "
       "CREATE TABLE other (a int PRIMARY KEY)");
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  // The same definition, another table: the base's rows are not the source's any more.
  Exec(app, "DROP TABLE t; CREATE TABLE t (id int PRIMARY KEY, v text)");
  Exec(app, "INSERT INTO other VALUES (1)");
  WaitForACheckAfterNow(app);
  StopCapture();
  ExpectRefusedAndNamed("\"public\".\"t\"", {"table \"public\".\"t\""});
  EXPECT_EQ(QueryOne(Connect("app"), "SELECT count(*) FROM t"), "0");
  EXPECT_EQ(QueryOne(Connect("best"), "SELECT count(*) FROM t"), "2");  // why it is named
}

TEST_F(RelationCheckTest, AColumnAddedWithADefaultIsNamedAndAPointBeforeItIsExact) {
  pg::Connection app = Connect("app");
  StartCaptureWithSchema([&] {
    Exec(app, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1); CREATE TABLE other (a int PRIMARY KEY)");
  });
  Exec(app, "INSERT INTO t VALUES (2)");
  const pg::Lsn before = InsertLsn(app);
  WaitForACheckAfterNow(app);  // a check between the point and the change: the point is quiet
  // The source's rows take the default; the stream says nothing until a row of t changes.
  Exec(app, "ALTER TABLE t ADD COLUMN d int NOT NULL DEFAULT 7");
  Exec(app, "INSERT INTO other VALUES (1)");
  WaitForACheckAfterNow(app);
  StopCapture();
  ExpectRefusedAndNamed("\"public\".\"t\"", {"table \"public\".\"t\""});
  absl::StatusOr<restore::RestoreSummary> at = Restore("before", *restore::RestoreTarget::AtLsn(before.ToString()));
  ASSERT_TRUE(at.ok()) << at.status();
  EXPECT_TRUE(at->differences.empty());
  EXPECT_EQ(QueryOne(Connect("before"), "SELECT string_agg(id::text, ',' ORDER BY id) FROM t"), "1,2");
}

TEST_F(RelationCheckTest, WithEventTriggersTheSameChangesAreReplayedAndNothingIsNamed) {
  event_triggers_ = true;
  pg::Connection app = Connect("app");
  const proto::Base base =
      StartCaptureWithSchema([&] { Exec(app, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)"); });
  // The base says the source recorded its schema changes: restores do not compare relations.
  EXPECT_TRUE(base.catalog_digested());
  EXPECT_TRUE(base.event_triggers());
  Exec(app, "CREATE TABLE emp (name text PRIMARY KEY); ALTER TABLE t ADD COLUMN d int NOT NULL DEFAULT 7");
  Exec(app, "INSERT INTO t VALUES (2)");
  WaitForACheckAfterNow(app);
  StopCapture();
  absl::StatusOr<restore::RestoreSummary> strict = Restore("strict", restore::RestoreTarget::Latest());
  ASSERT_TRUE(strict.ok()) << strict.status();
  EXPECT_TRUE(strict->differences.empty());
  EXPECT_EQ(QueryOne(Connect("strict"), "SELECT string_agg(id || ':' || d, ',' ORDER BY id) FROM t"), "1:7,2:7");
  EXPECT_EQ(QueryOne(Connect("strict"), "SELECT count(*) FROM emp"), "0");
}

}  // namespace
}  // namespace pgpitr::testing
