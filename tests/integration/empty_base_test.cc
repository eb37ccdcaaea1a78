// A database that holds nothing of its own at the base's snapshot gets an empty base: no dump, and
// no pg_dump needed (an old one stands in here, and would be refused), so a database captured from
// its first day restores on any server whatever client programs are installed. Anything pg_dump
// would dump (an object, a changed privilege or comment of initdb's objects, a large object) makes
// the base need pg_dump, and the error names what was found.
#include <fstream>

#include "harness.h"

namespace pgpitr::testing {
namespace {

class EmptyBaseTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    fake_bin_ = MakeTempDir("pgpitr-fake-bin-");
    std::ofstream fake(fake_bin_ / "pg_dump");
    fake << "#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.9'\n";
    fake.close();
    std::filesystem::permissions(fake_bin_ / "pg_dump", std::filesystem::perms::owner_all);
  }
  void TearDown() override {
    std::filesystem::remove_all(fake_bin_);
    ServerTest::TearDown();
  }

  absl::StatusOr<proto::Base> TakeBaseWithOldPgDump() {
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
        wal::Repository::Open(repo_dir_, wal::Repository::Mode::kRead);
    if (!repo.ok()) return repo.status();
    wal::BaseOptions options;
    options.source = Info("app");
    options.pg_bin_dir = fake_bin_;
    return wal::TakeBase(**repo, options, base::Logger::Silent());
  }

  std::filesystem::path fake_bin_;
};

TEST_F(EmptyBaseTest, NothingInTheDatabaseNeedsNoDumpAndAnythingInItIsNamed) {
  ASSERT_FALSE(StartCaptureWithBase().id().empty());  // (the harness's own base, by the real pg_dump)
  pg::Connection app = Connect("app");

  absl::StatusOr<proto::Base> empty = TakeBaseWithOldPgDump();
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
  EXPECT_TRUE(empty->dump_file().empty());
  EXPECT_TRUE(empty->pg_dump_version().empty());

  struct Case {
    std::string make;
    std::string undo;
    std::string named;
  };
  const std::vector<Case> cases = {
      {"CREATE TYPE mood AS ENUM ('sad')", "DROP TYPE mood", "type mood"},
      {"CREATE TABLE t (id int)", "DROP TABLE t", "table t"},
      {"COMMENT ON SCHEMA public IS 'ours'", "COMMENT ON SCHEMA public IS 'standard public schema'",
       "schema public (comment changed)"},
      {"GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text) TO PUBLIC",
       "REVOKE EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text) FROM PUBLIC",
       "function pg_ls_dir(text) (privileges changed)"},
      {"SELECT lo_create(4242)", "SELECT lo_unlink(4242)", "large object 4242"},
      {"ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC",
       "ALTER DEFAULT PRIVILEGES REVOKE SELECT ON TABLES FROM PUBLIC", "default privileges"},
  };
  for (const Case& c : cases) {
    Exec(app, c.make);
    absl::StatusOr<proto::Base> base = TakeBaseWithOldPgDump();
    ASSERT_FALSE(base.ok()) << c.make << ": an empty base was taken";
    EXPECT_NE(base.status().message().find("the database is not empty, so its base needs pg_dump"), std::string::npos)
        << base.status();
    EXPECT_NE(base.status().message().find(c.named), std::string::npos) << c.make << ": " << base.status();
    EXPECT_NE(base.status().message().find("postgresql-client-"), std::string::npos) << base.status();
    Exec(app, c.undo);
  }
  absl::StatusOr<proto::Base> again = TakeBaseWithOldPgDump();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->empty());

  // Restored from the empty base (the newest before the point): the schema and rows made after it.
  Exec(app, "CREATE TABLE later (id int PRIMARY KEY, v text); INSERT INTO later VALUES (1, 'one'), (2, 'two')");
  const embedded::Fingerprint expected = FingerprintOf("app");
  WaitCaptured(InsertLsn(app));
  StopCapture();
  absl::StatusOr<restore::RestoreSummary> restored = Restore("restored", restore::RestoreTarget::Latest());
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->plan.base.id(), again->id());
  EXPECT_TRUE(restored->plan.base.empty());
  const embedded::Fingerprint actual = FingerprintOf("restored");
  EXPECT_EQ(actual, expected) << embedded::DescribeDifference(expected, actual);
  EXPECT_EQ(SchemaDump("restored"), SchemaDump("app"));
}

}  // namespace
}  // namespace pgpitr::testing
