// Bad input at the command line: each gets one line naming the fix and a documented exit code
// (cli::ExitCode: 2 usage or input, 3 source or server unusable, 4 target refused, 5 repository
// damaged, 6 stopped), and changes nothing. Each code is shown here by a real case.
#include <fstream>

#include "cli/commands.h"
#include "cli_process.h"
#include "harness.h"
#include "nlohmann/json.hpp"

namespace pgpitr::testing {
namespace {

// The tests that restore start from ServerTest::CaptureTenRows().
class CliErrorsTest : public ServerTest {};

TEST_F(CliErrorsTest, UnreachableSourceIsExitCode3WithOneLine) {
  const CliResult r = RunPgpitr({"run", "--source", "host=127.0.0.1 port=1 dbname=app user=postgres connect_timeout=3",
                                 "--repo", (repo_dir_ / "r").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  EXPECT_NE(r.err.find("pgpitr: cannot connect to the source"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("check the connection string"), std::string::npos) << r.err;
}

TEST_F(CliErrorsTest, MalformedConnectionStringIsExitCode2AndShowsTheAcceptedForms) {
  const CliResult r = RunPgpitr({"run", "--source", "host=localhost nonsense", "--repo", (repo_dir_ / "r").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.LastErrorLine().find("invalid connection string"), std::string::npos) << r.err;
  EXPECT_NE(r.LastErrorLine().find("postgres://"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(repo_dir_ / "r" / "FORMAT")) << "nothing is created on bad input";
}

TEST_F(CliErrorsTest, PasswordNeverAppearsInAnError) {
  const CliResult r = RunPgpitr({"run", "--source", "postgres://postgres:s3cret@127.0.0.1:1/app?connect_timeout=3",
                                 "--repo", (repo_dir_ / "r").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err.find("s3cret"), std::string::npos) << r.err;
}

class WalLevelReplicaTest : public ServerTest {
 protected:
  std::vector<std::string> ServerSettings() const override { return {"wal_level = replica"}; }
};

TEST_F(WalLevelReplicaTest, SourceWithoutLogicalWalLevelIsRefusedWithTheFix) {
  const CliResult r = RunPgpitr({"run", "--source", server_->ConnectionString("app"), "--repo", repo_dir_.string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.LastErrorLine().find("wal_level = replica"), std::string::npos) << r.err;
  EXPECT_NE(r.LastErrorLine().find("ALTER SYSTEM SET wal_level = logical"), std::string::npos) << r.err;
  // Nothing was made on the source.
  pg::Connection app = Connect("app");
  absl::StatusOr<pg::Result> pubs = app.Query("SELECT count(*) FROM pg_publication");
  ASSERT_TRUE(pubs.ok());
  EXPECT_EQ(pubs->Get(0, 0), "0");
}

TEST_F(CliErrorsTest, TargetBeforeTheEarliestBaseIsExitCode2AndPrintsTheWindow) {
  CaptureTenRows();
  const CliResult r = RunPgpitr({"restore", "--repo", repo_dir_.string(), "--target",
                                 server_->ConnectionString("restored"), "--to-time", "2020-01-01 00:00:00+00"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.LastErrorLine().find("is before the earliest restorable point"), std::string::npos) << r.err;
  EXPECT_NE(r.LastErrorLine().find("the window is"), std::string::npos) << r.err;
  pg::Connection admin = Connect("postgres");
  absl::StatusOr<pg::Result> db = admin.Query("SELECT count(*) FROM pg_database WHERE datname = 'restored'");
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->Get(0, 0), "0") << "a refused restore creates nothing";
}

// A repository capture has started but with no base yet has nothing to restore from: the user's
// input (this repository, now), not the source, is what cannot be used (exit code 2, once 3).
TEST_F(CliErrorsTest, ARepositoryWithNoBaseYetIsExitCode2AndSaysHowToGetOne) {
  {
    pg::Connection app = Connect("app");
    Exec(app, "CREATE TABLE t (id int PRIMARY KEY)");
  }
  StartCapture();
  {
    pg::Connection app = Connect("app");
    Exec(app, "INSERT INTO t VALUES (1)");
    WaitCaptured(InsertLsn(app));
  }
  StopCapture();
  const CliResult r = RunPgpitr(
      {"restore", "--repo", repo_dir_.string(), "--target", server_->ConnectionString("restored"), "--latest"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.LastErrorLine().find("has no base to restore from; run 'pgpitr backup'"), std::string::npos) << r.err;
}

TEST_F(CliErrorsTest, TargetAfterTheWindowIsRefused) {
  CaptureTenRows();
  const CliResult r = RunPgpitr({"restore", "--repo", repo_dir_.string(), "--target",
                                 server_->ConnectionString("restored"), "--to-time", "2999-01-01T00:00:00Z"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.LastErrorLine().find("is after the latest restorable point"), std::string::npos) << r.err;
}

TEST_F(CliErrorsTest, NonEmptyTargetIsRefusedUnlessReplaceExisting) {
  CaptureTenRows();
  pg::Connection admin = Connect("postgres");
  Exec(admin, "CREATE DATABASE busy");
  pg::Connection busy = Connect("busy");
  Exec(busy, "CREATE TABLE precious (x int); INSERT INTO precious VALUES (42)");
  const CliResult r =
      RunPgpitr({"restore", "--repo", repo_dir_.string(), "--target", server_->ConnectionString("busy"), "--latest"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.LastErrorLine().find("is not empty"), std::string::npos) << r.err;
  EXPECT_NE(r.LastErrorLine().find("--replace-existing"), std::string::npos) << r.err;
  absl::StatusOr<pg::Result> still = busy.Query("SELECT x FROM precious");
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_EQ(still->Get(0, 0), "42");

  busy = Connect("postgres");  // drop our session so the database can be replaced
  const CliResult replaced = RunPgpitr({"restore", "--repo", repo_dir_.string(), "--target",
                                        server_->ConnectionString("busy"), "--latest", "--replace-existing"});
  EXPECT_EQ(replaced.exit_code, 0) << replaced.err;
  EXPECT_EQ(FingerprintOf("busy"), FingerprintOf("app"));
}

// Roles are the cluster's: a base naming a role the target lacks, restored by a user who may not
// create roles, stops before any data with the target-refused exit code, naming the role and the fix.
TEST_F(CliErrorsTest, ARoleTheTargetLacksAndCannotCreateIsExitCode4AndNamesIt) {
  pg::Connection admin = Connect("postgres");
  Exec(admin, "CREATE ROLE ledger_owner; CREATE ROLE restorer LOGIN CREATEDB");
  pg::Connection app = Connect("app");
  Exec(app, "CREATE TABLE ledger (id int PRIMARY KEY); ALTER TABLE ledger OWNER TO ledger_owner");
  CaptureTenRows();  // its base names ledger_owner
  Exec(app, "ALTER TABLE ledger OWNER TO postgres");
  Exec(admin, "DROP ROLE ledger_owner");
  const CliResult r = RunPgpitr({"restore", "--repo", repo_dir_.string(), "--target",
                                 server_->ConnectionString("restored") + " user=restorer", "--latest"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.LastErrorLine().find("name role ledger_owner, which the restore target lacks"), std::string::npos)
      << r.err;
  EXPECT_NE(r.LastErrorLine().find("--no-owner"), std::string::npos) << r.err;
  absl::StatusOr<pg::Result> left = admin.Query("SELECT count(*) FROM pg_database WHERE datname = 'restored'");
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_EQ(left->Get(0, 0), "0") << "the database this restore created is dropped";
}

TEST_F(CliErrorsTest, TheSourceDatabaseItselfIsNeverATarget) {
  CaptureTenRows();
  const CliResult r = RunPgpitr({"restore", "--repo", repo_dir_.string(), "--target", server_->ConnectionString("app"),
                                 "--latest", "--replace-existing"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.LastErrorLine().find("source cluster itself"), std::string::npos) << r.err;
  pg::Connection app = Connect("app");
  absl::StatusOr<pg::Result> rows = app.Query("SELECT count(*) FROM t");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->Get(0, 0), "10");
}

TEST_F(CliErrorsTest, BadTimeAndBadLsnAreExitCode2) {
  const CliResult time =
      RunPgpitr({"restore", "--repo", repo_dir_.string(), "--target", "dbname=x", "--to-time", "yesterday at noon"});
  EXPECT_EQ(time.exit_code, 2);
  EXPECT_NE(time.LastErrorLine().find("is not a time with an offset"), std::string::npos) << time.err;
  const CliResult lsn =
      RunPgpitr({"restore", "--repo", repo_dir_.string(), "--target", "dbname=x", "--to-lsn", "12345"});
  EXPECT_EQ(lsn.exit_code, 2);
  EXPECT_NE(lsn.LastErrorLine().find("is not an LSN"), std::string::npos) << lsn.err;
}

TEST_F(CliErrorsTest, AFolderThatIsNoRepositoryIsExitCode2) {
  const CliResult r = RunPgpitr({"info", "--repo", (repo_dir_ / "nothing-here").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.LastErrorLine().find("is not a pgpitr repository"), std::string::npos) << r.err;
}

TEST_F(CliErrorsTest, PgDumpOlderThanTheServerNamesTheClientToInstall) {
  CaptureTenRows();
  const std::filesystem::path bin = MakeTempDir("pgpitr-fake-bin-");
  {
    std::ofstream fake(bin / "pg_dump");
    fake << "#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.9'\n";
  }
  std::filesystem::permissions(bin / "pg_dump", std::filesystem::perms::owner_all);
  const CliResult r = RunPgpitr(
      {"backup", "--source", server_->ConnectionString("app"), "--repo", repo_dir_.string(), "--pg-bin", bin.string()});
  std::filesystem::remove_all(bin);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.LastErrorLine().find("is version 13 but the server is PostgreSQL 15"), std::string::npos) << r.err;
  EXPECT_NE(r.LastErrorLine().find("postgresql-client-15"), std::string::npos) << r.err;
}

// Without a pg_dump new enough for the server, capture runs and keeps the change log, and `info` says
// the window begins at the first base and why there is none yet (the package to install).
TEST_F(CliErrorsTest, InfoSaysWhyTheWindowHasNotBegunWhenNoBaseCouldBeTaken) {
  pg::Connection app = Connect("app");
  Exec(app, "CREATE TABLE t (id int PRIMARY KEY)");
  const std::filesystem::path bin = MakeTempDir("pgpitr-fake-bin-");
  {
    std::ofstream fake(bin / "pg_dump");
    fake << "#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.9'\n";
  }
  std::filesystem::permissions(bin / "pg_dump", std::filesystem::perms::owner_all);
  StartCapture([&](wal::CaptureOptions& options) {
    options.first_base = true;
    options.pg_bin_dir = bin;
  });
  for (int i = 0; i < 200 && !std::filesystem::exists(repo_dir_ / "bases" / ".last-failure"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Exec(app, "INSERT INTO t VALUES (1)");
  WaitCaptured(InsertLsn(app));
  const CliResult r = RunPgpitr({"info", "--repo", repo_dir_.string()});
  StopCapture();
  std::filesystem::remove_all(bin);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("window       none yet: it begins at the first base"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("last base    failed at"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(fmt::format("postgresql-client-{}", ServerMajor())), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("the database is not empty"), std::string::npos) << r.out;
  const CliResult j = RunPgpitr({"info", "--repo", repo_dir_.string(), "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const nlohmann::json info = nlohmann::json::parse(j.out);
  EXPECT_TRUE(info["window"].is_null());
  EXPECT_NE(info["last_base_failure"]["message"].get<std::string>().find("pg_dump"), std::string::npos);
}

TEST_F(CliErrorsTest, InfoJsonReportsTheWindowAndCapturedThrough) {
  CaptureTenRows();
  const CliResult r = RunPgpitr({"info", "--repo", repo_dir_.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json info = nlohmann::json::parse(r.out);
  EXPECT_EQ(info["database"], "app");
  EXPECT_EQ(info["bases"].size(), 1u);
  EXPECT_TRUE(info["bases"][0]["usable"].get<bool>());
  EXPECT_FALSE(info["window"].is_null());
  EXPECT_EQ(info["window"]["latest_lsn"], info["captured_through_lsn"]);
  EXPECT_EQ(info["change_log"]["rows"].get<int>(), 10);
  EXPECT_DOUBLE_EQ(info["change_log"]["bytes_per_row"].get<double>(),
                   info["change_log"]["size_bytes"].get<double>() / 10);
}

TEST_F(CliErrorsTest, UninstallDropsTheSlotAndPublicationOnlyWhenConfirmed) {
  CaptureTenRows();
  const CliResult unconfirmed = RunPgpitr({"uninstall", "--source", server_->ConnectionString("app")});
  EXPECT_EQ(unconfirmed.exit_code, 2);
  EXPECT_NE(unconfirmed.LastErrorLine().find("pass --yes"), std::string::npos) << unconfirmed.err;
  pg::Connection app = Connect("app");
  auto counts = [&] {
    absl::StatusOr<pg::Result> r = app.Query(
        "SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pgpitr') || '/' || "
        "(SELECT count(*) FROM pg_publication WHERE pubname = 'pgpitr')");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->GetString(0, 0) : std::string();
  };
  EXPECT_EQ(counts(), "1/1") << "nothing is dropped without confirmation";
  const CliResult confirmed = RunPgpitr({"uninstall", "--source", server_->ConnectionString("app"), "--yes"});
  EXPECT_EQ(confirmed.exit_code, 0) << confirmed.err;
  EXPECT_EQ(counts(), "0/0");
  const CliResult again = RunPgpitr({"uninstall", "--source", server_->ConnectionString("app"), "--yes"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("nothing to remove"), std::string::npos) << again.out;
}

TEST_F(CliErrorsTest, AnUnknownFlagIsTheUsageExitCode) {
  const CliResult r = RunPgpitr({"info", "--repo", repo_dir_.string(), "--no-such-flag"});
  EXPECT_EQ(r.exit_code, static_cast<int>(cli::ExitCode::kUsage)) << r.err;
  EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.err;
}

TEST_F(CliErrorsTest, ARestoreFromADamagedBaseIsTheDamagedExitCode) {
  CaptureTenRows();
  std::optional<std::filesystem::path> dump;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(repo_dir_ / "bases")) {
    if (entry.path().filename() == "base.dump") dump = entry.path();
  }
  ASSERT_TRUE(dump.has_value()) << "no base.dump under " << repo_dir_;
  {
    std::ofstream damage(*dump, std::ios::app | std::ios::binary);
    damage << "bit rot";
  }
  const CliResult r = RunPgpitr(
      {"restore", "--repo", repo_dir_.string(), "--target", server_->ConnectionString("restored"), "--latest"});
  EXPECT_EQ(r.exit_code, static_cast<int>(cli::ExitCode::kDamaged)) << r.err;
  EXPECT_NE(r.LastErrorLine().find("is damaged"), std::string::npos) << r.err;
}

TEST_F(CliErrorsTest, ABackupStoppedBySigtermIsTheStoppedExitCode) {
  CaptureTenRows();
  // A pg_dump that never ends, as a dump of a large database seems to.
  const std::filesystem::path bin = MakeTempDir("pgpitr-slow-bin-");
  {
    std::ofstream slow(bin / "pg_dump");
    slow << "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'pg_dump (PostgreSQL) 15.1'; exit 0; fi\nexec sleep 600\n";
  }
  std::filesystem::permissions(bin / "pg_dump", std::filesystem::perms::owner_all);
  PgpitrProcess backup(
      {"backup", "--source", server_->ConnectionString("app"), "--repo", repo_dir_.string(), "--pg-bin", bin.string()});
  // Off a terminal, progress says once that the dump started: the moment to stop it.
  for (int i = 0; i < 1200 && backup.Err().find("base dump (pg_dump)") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_NE(backup.Err().find("base dump (pg_dump)"), std::string::npos) << backup.Err();
  backup.Signal(SIGTERM);
  const CliResult r = backup.Wait();
  std::filesystem::remove_all(bin);
  EXPECT_EQ(r.exit_code, static_cast<int>(cli::ExitCode::kStopped)) << r.err;
  EXPECT_NE(r.LastErrorLine().find("pg_dump was stopped"), std::string::npos) << r.err;
  absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
      wal::Repository::Open(repo_dir_, wal::Repository::Mode::kRead);
  ASSERT_TRUE(repo.ok()) << repo.status();
  absl::StatusOr<std::vector<proto::Base>> bases = (*repo)->Bases();
  ASSERT_TRUE(bases.ok()) << bases.status();
  EXPECT_EQ(bases->size(), 1u) << "a stopped dump leaves no base behind";
}

TEST_F(CliErrorsTest, ASecondRunOnTheSameRepositoryIsRefused) {
  CaptureTenRows();
  StartCapture();  // the first capture holds the repository again
  const CliResult second =
      RunPgpitr({"run", "--source", server_->ConnectionString("app"), "--repo", repo_dir_.string()});
  StopCapture();
  EXPECT_EQ(second.exit_code, 3) << second.err;
  EXPECT_NE(second.LastErrorLine().find("in use by another pgpitr process"), std::string::npos) << second.err;
}

TEST_F(CliErrorsTest, TheRepositoryIsPrivateToItsOwner) {
  const std::filesystem::path repo = repo_dir_ / "private";
  // A short run that fails at once still creates the repository.
  RunPgpitr({"run", "--source", "host=127.0.0.1 port=1 connect_timeout=2", "--repo", repo.string()});
  ASSERT_TRUE(std::filesystem::exists(repo / "FORMAT"));
  for (const auto& entry : std::filesystem::recursive_directory_iterator(repo)) {
    const auto perms = entry.status().permissions();
    const auto others = std::filesystem::perms::group_all | std::filesystem::perms::others_all;
    EXPECT_EQ(perms & others, std::filesystem::perms::none) << entry.path() << " is readable by others";
  }
}

}  // namespace
}  // namespace pgpitr::testing
