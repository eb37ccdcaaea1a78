// Preparing the source (wal/source.cc) against a real server: the publication and slot are made
// once and reused, tables without a replica identity are reported, and changed only on request.
#include "wal/source.h"

#include <thread>

#include "harness.h"

namespace pgpitr::testing {
namespace {

class SourceTest : public ServerTest {
 protected:
  base::Logger Collect() {
    return base::Logger([this](std::string_view level, std::string_view line) {
      lines_.push_back(std::string(level) + ": " + std::string(line));
    });
  }
  std::vector<std::string> lines_;
};

// --failover-slot: on 17+ a new slot is made a failover slot, and so is an existing one; before 17,
// one line says the option needs 17.
TEST_F(SourceTest, AFailoverSlotIsMadeFromSeventeenOnAndRefusedClearlyBefore) {
  wal::SourceSettings failover;
  failover.failover_slot = true;
  absl::StatusOr<wal::SourceFacts> facts = wal::PrepareSource(Info("app"), failover, Collect());
  if (ServerMajor() < 17) {
    ASSERT_FALSE(facts.ok());
    EXPECT_NE(facts.status().message().find("--failover-slot needs PostgreSQL 17 or newer"), std::string::npos)
        << facts.status();
    return;
  }
  ASSERT_TRUE(facts.ok()) << facts.status();
  EXPECT_TRUE(facts->slot_created);
  EXPECT_TRUE(facts->slot_failover);
  pg::Connection app = Connect("app");
  auto slot_failover = [&](const std::string& slot) {
    absl::StatusOr<pg::Result> r = app.Query("SELECT failover FROM pg_replication_slots WHERE slot_name = $1", {slot});
    EXPECT_TRUE(r.ok() && r->rows() == 1) << (r.ok() ? "no slot" : r.status().ToString());
    return r.ok() && r->rows() == 1 ? r->GetString(0, 0) : std::string();
  };
  EXPECT_EQ(slot_failover("pgpitr"), "t");
  // A slot made without it, then asked for it: made a failover slot in place.
  wal::SourceSettings plain;
  plain.slot = "plain";
  absl::StatusOr<wal::SourceFacts> made = wal::PrepareSource(Info("app"), plain, Collect());
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_FALSE(made->slot_failover);
  EXPECT_EQ(slot_failover("plain"), "f");
  plain.failover_slot = true;
  absl::StatusOr<wal::SourceFacts> again = wal::PrepareSource(Info("app"), plain, Collect());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->slot_created);
  EXPECT_TRUE(again->slot_failover);
  EXPECT_EQ(slot_failover("plain"), "t");
}

// PostgreSQL 18 can publish stored generated columns; a restore computes them again, so capture's
// publication is made to publish none (two publications of a table that differ in it would make
// pgoutput fail on the table's every change), and the rows restore with the target's own values.
TEST_F(SourceTest, APublicationOfGeneratedColumnsIsMadeToPublishNone) {
  if (ServerMajor() < 18) GTEST_SKIP() << "publish_generated_columns is PostgreSQL 18's";
  pg::Connection app = Connect("app");
  Exec(app, "CREATE PUBLICATION pgpitr FOR ALL TABLES WITH (publish_generated_columns = stored)");
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  // Set again while capture is stopped, its slot in place: the next start turns it off, in the stream.
  StopCapture();
  Exec(app, "ALTER PUBLICATION pgpitr SET (publish_generated_columns = stored)");
  StartCapture();
  absl::StatusOr<pg::Result> r;
  for (int i = 0; i < 200; ++i) {  // until the restarted capture has prepared the source
    r = app.Query("SELECT pubname, pubgencols FROM pg_publication ORDER BY 1");
    ASSERT_TRUE(r.ok()) << r.status();
    if (r->GetString(0, 1) == "n") break;
    ASSERT_FALSE(capture_ended_.load()) << capture_result_;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GE(r->rows(), 1);
  for (int i = 0; i < r->rows(); ++i) EXPECT_EQ(r->GetString(i, 1), "n") << r->GetString(i, 0);
  // Captured (before, pgoutput failed on the table's every change), and restored with the target's
  // own generated values; pgpitr's change of its publication is not a schema change to replay.
  Exec(app,
       "CREATE TABLE g (id int PRIMARY KEY, a int, b int GENERATED ALWAYS AS (a * 2) STORED);"
       "INSERT INTO g (id, a) VALUES (1, 1), (2, 2); UPDATE g SET a = 10 WHERE id = 1; DELETE FROM g WHERE id = 2");
  const embedded::Fingerprint expected = FingerprintOf("app");
  WaitCaptured(InsertLsn(app));
  StopCapture();
  ASSERT_TRUE(capture_result_.ok()) << capture_result_;
  absl::StatusOr<restore::RestoreSummary> restored = Restore("restored", restore::RestoreTarget::Latest());
  ASSERT_TRUE(restored.ok()) << restored.status();
  const embedded::Fingerprint actual = FingerprintOf("restored");
  EXPECT_EQ(actual, expected) << embedded::DescribeDifference(expected, actual);
}

TEST_F(SourceTest, CreatesPublicationAndSlotOnceThenReusesThem) {
  absl::StatusOr<wal::SourceFacts> first = wal::PrepareSource(Info("app"), {}, Collect());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->slot_created);
  EXPECT_TRUE(first->slot_start.IsValid());
  if (ServerMajor() >= 16) {
    EXPECT_EQ(first->proto_version, 4) << "PostgreSQL 16+ speaks pgoutput protocol 4";
    EXPECT_NE(first->plugin_options.find("streaming 'parallel'"), std::string::npos);
  } else {
    EXPECT_EQ(first->proto_version, 3) << "PostgreSQL 15 speaks pgoutput protocol 3";
    EXPECT_NE(first->plugin_options.find("streaming 'on'"), std::string::npos);
  }
  EXPECT_NE(first->plugin_options.find("messages 'true'"), std::string::npos);

  absl::StatusOr<wal::SourceFacts> second = wal::PrepareSource(Info("app"), {}, Collect());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->slot_created);
  EXPECT_EQ(second->system_identifier, first->system_identifier);

  pg::Connection app = Connect("app");
  absl::StatusOr<pg::Result> r = app.Query(
      "SELECT (SELECT count(*) FROM pg_publication WHERE pubname = 'pgpitr' AND puballtables), "
      "(SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pgpitr' AND plugin = 'pgoutput')");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->Get(0, 0), "1");
  EXPECT_EQ(r->Get(0, 1), "1");
}

TEST_F(SourceTest, TablesWithoutReplicaIdentityAreReportedAndLeftAlone) {
  pg::Connection app = Connect("app");
  Exec(app,
       "CREATE TABLE keyed (id int PRIMARY KEY); CREATE TABLE loose (a int); CREATE TABLE nothing (a int);"
       "ALTER TABLE nothing REPLICA IDENTITY NOTHING; CREATE TABLE full_one (a int);"
       "ALTER TABLE full_one REPLICA IDENTITY FULL");
  absl::StatusOr<wal::SourceFacts> facts = wal::PrepareSource(Info("app"), {}, Collect());
  ASSERT_TRUE(facts.ok()) << facts.status();
  EXPECT_EQ(facts->tables_without_identity, (std::vector<std::string>{"public.loose", "public.nothing"}));
  bool warned = false;
  for (const auto& line : lines_)
    warned |=
        line.find("public.loose") != std::string::npos && line.find("--set-replica-identity-full") != std::string::npos;
  EXPECT_TRUE(warned);
  absl::StatusOr<pg::Result> r = app.Query("SELECT relreplident FROM pg_class WHERE relname = 'loose'");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Get(0, 0), "d") << "the source's schema is not changed without the opt-in";
}

TEST_F(SourceTest, OptInSetsReplicaIdentityFull) {
  pg::Connection app = Connect("app");
  Exec(app, "CREATE TABLE loose (a int)");
  wal::SourceSettings settings;
  settings.set_replica_identity_full = true;
  absl::StatusOr<wal::SourceFacts> facts = wal::PrepareSource(Info("app"), settings, Collect());
  ASSERT_TRUE(facts.ok()) << facts.status();
  EXPECT_TRUE(facts->tables_without_identity.empty());
  absl::StatusOr<pg::Result> r = app.Query("SELECT relreplident FROM pg_class WHERE relname = 'loose'");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Get(0, 0), "f");
  // And UPDATE now works on the source while the table is published.
  Exec(app, "INSERT INTO loose VALUES (1); UPDATE loose SET a = 2");
}

// With the event triggers (a superuser), pgpitr's publication is in two: every table's INSERT and
// TRUNCATE, and the UPDATE and DELETE of the tables with a usable replica identity (a deferrable
// primary key is not one). The application's UPDATE and DELETE on the others work.
TEST_F(SourceTest, APublicationInTwoLetsTheApplicationUpdateTablesWithoutAKey) {
  pg::Connection app = Connect("app");
  Exec(app,
       "CREATE TABLE keyed (id int PRIMARY KEY); CREATE TABLE loose (a int); "
       "CREATE TABLE deferred (id int PRIMARY KEY DEFERRABLE)");
  absl::StatusOr<wal::SourceFacts> facts = wal::PrepareSource(Info("app"), {}, Collect());
  ASSERT_TRUE(facts.ok()) << facts.status();
  EXPECT_TRUE(facts->keyless_not_captured);
  EXPECT_EQ(facts->publications, (std::vector<std::string>{"pgpitr", "pgpitr_keyed"}));
  EXPECT_NE(facts->plugin_options.find("publication_names '\"pgpitr\",\"pgpitr_keyed\"'"), std::string::npos)
      << facts->plugin_options;
  EXPECT_EQ(facts->tables_without_identity, (std::vector<std::string>{"public.deferred", "public.loose"}));
  absl::StatusOr<pg::Result> r = app.Query(
      "SELECT (SELECT pubupdate OR pubdelete FROM pg_publication WHERE pubname = 'pgpitr'), "
      "(SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables WHERE pubname = "
      "'pgpitr_keyed')");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->Get(0, 0), "f");
  EXPECT_EQ(r->Get(0, 1), "keyed");
  Exec(app,
       "INSERT INTO loose VALUES (1); UPDATE loose SET a = 2; DELETE FROM loose; "
       "INSERT INTO deferred VALUES (1); UPDATE deferred SET id = 2");
}

// A slot made under an older pgpitr decodes a publication of every UPDATE from before the split:
// the publication stays so (and run says why) until the slot is made again.
TEST_F(SourceTest, AnOlderPublicationOfEveryUpdateIsPutInTwoOnlyWithANewSlot) {
  pg::Connection app = Connect("app");
  Exec(app, "CREATE TABLE loose (a int); CREATE PUBLICATION pgpitr FOR ALL TABLES");
  Exec(app, "SELECT pg_create_logical_replication_slot('pgpitr', 'pgoutput')");
  absl::StatusOr<wal::SourceFacts> kept = wal::PrepareSource(Info("app"), {}, Collect());
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_FALSE(kept->keyless_not_captured);
  EXPECT_EQ(kept->publications, std::vector<std::string>{"pgpitr"});
  bool said = false;
  for (const auto& line : lines_) said |= line.find("only with a new slot") != std::string::npos;
  EXPECT_TRUE(said);

  Exec(app, "SELECT pg_drop_replication_slot('pgpitr')");
  absl::StatusOr<wal::SourceFacts> split = wal::PrepareSource(Info("app"), {}, Collect());
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_TRUE(split->slot_created);
  EXPECT_TRUE(split->keyless_not_captured);
  Exec(app, "INSERT INTO loose VALUES (1); UPDATE loose SET a = 2");
}

// Without the event triggers nothing keeps the keyed publication: every UPDATE and DELETE is
// published again, and both publications stay decoded (the slot's older changes need the second).
TEST_F(SourceTest, WithoutEventTriggersThePublicationPublishesEveryUpdateAgain) {
  pg::Connection app = Connect("app");
  ASSERT_TRUE(wal::PrepareSource(Info("app"), {}, Collect()).ok());
  wal::SourceSettings settings;
  settings.event_triggers = false;
  absl::StatusOr<wal::SourceFacts> facts = wal::PrepareSource(Info("app"), settings, Collect());
  ASSERT_TRUE(facts.ok()) << facts.status();
  EXPECT_FALSE(facts->keyless_not_captured);
  EXPECT_EQ(facts->publications, (std::vector<std::string>{"pgpitr", "pgpitr_keyed"}));
  absl::StatusOr<pg::Result> r =
      app.Query("SELECT pubupdate AND pubdelete FROM pg_publication WHERE pubname = 'pgpitr'");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->Get(0, 0), "t");
}

TEST_F(SourceTest, NoFreeSlotIsRefusedWithTheFix) {
  pg::Connection app = Connect("app");
  // max_replication_slots is 10 on the test server: use them all.
  for (int i = 0; i < 10; ++i) {
    Exec(app, fmt::format("SELECT pg_create_logical_replication_slot('filler_{}', 'pgoutput')", i));
  }
  absl::StatusOr<wal::SourceFacts> facts = wal::PrepareSource(Info("app"), {}, Collect());
  ASSERT_FALSE(facts.ok());
  EXPECT_NE(facts.status().message().find("max_replication_slots"), std::string::npos) << facts.status();
}

// A commit is inserted, flushed and only then visible. A plain read of the server's position can be
// past a commit whose flush has not ended, while a snapshot taken after it does not see it; the
// settled read waits for the flush, so capture's checks (which read their position so) see every
// commit before their position. (Here the flush is held back 100 ms by commit_delay, which needs
// fsync on; under load it is the time a busy server takes to write the WAL.)
TEST_F(SourceTest, ASettledPositionWaitsForACommitBeforeItToBeFlushedAndVisible) {
  auto one = [](pg::Connection& conn, const std::string& sql) -> std::string {
    absl::StatusOr<pg::Result> r = conn.Query(sql);
    return r.ok() ? r->GetString(0, 0) : std::string(r.status().message());
  };
  pg::Connection admin = Connect("app");
  Exec(admin, "CREATE TABLE s (a int)");
  Exec(admin, "ALTER SYSTEM SET fsync = on");
  Exec(admin, "SELECT pg_reload_conf()");
  pg::Connection committing = Connect("app");
  Exec(committing, "SET commit_delay = 100000; SET commit_siblings = 0; BEGIN; INSERT INTO s VALUES (1)");
  const std::string before_commit = one(committing, "SELECT pg_current_wal_insert_lsn()");
  ASSERT_EQ(PQsendQuery(committing.raw(), "COMMIT"), 1) << PQerrorMessage(committing.raw());
  pg::Connection reader = Connect("app");
  // Its commit record is in: the position moved past where it stood before COMMIT.
  for (int i = 0; one(reader, "SELECT pg_current_wal_insert_lsn() > '" + before_commit + "'") != "t"; ++i) {
    ASSERT_LT(i, 10000) << "the commit never came";
  }
  absl::StatusOr<wal::ServerPosition> settled = wal::ReadSettledServerPosition(reader, std::chrono::seconds(60));
  ASSERT_TRUE(settled.ok()) << settled.status();
  EXPECT_EQ(one(reader, "SELECT count(*) FROM s"), "1") << "a commit before the settled position is visible";
  pg::Result done(PQgetResult(committing.raw()));
  EXPECT_EQ(PQresultStatus(done.raw()), PGRES_COMMAND_OK);
  while (PGresult* more = PQgetResult(committing.raw())) PQclear(more);
  Exec(admin, "ALTER SYSTEM RESET fsync");
  Exec(admin, "SELECT pg_reload_conf()");
}

}  // namespace
}  // namespace pgpitr::testing
