// Preparing the source (wal/source.cc) against a real server: the publication and slot are made
// once and reused, tables without a replica identity are reported, and changed only on request.
#include "harness.h"

namespace pgpitr::testing {
namespace {

class SourceTest : public ServerTest {
 protected:
  wal::Logger Collect() {
    return wal::Logger([this](std::string_view level, std::string_view line) {
      lines_.push_back(std::string(level) + ": " + std::string(line));
    });
  }
  std::vector<std::string> lines_;
};

TEST_F(SourceTest, CreatesPublicationAndSlotOnceThenReusesThem) {
  absl::StatusOr<wal::SourceFacts> first = wal::PrepareSource(Info("app"), {}, Collect());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->slot_created);
  EXPECT_TRUE(first->slot_start.IsValid());
  EXPECT_EQ(first->proto_version, 3) << "PostgreSQL 15 speaks pgoutput protocol 3";
  EXPECT_NE(first->plugin_options.find("streaming 'on'"), std::string::npos);
  EXPECT_NE(first->plugin_options.find("messages 'true'"), std::string::npos);

  absl::StatusOr<wal::SourceFacts> second = wal::PrepareSource(Info("app"), {}, Collect());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->slot_created);
  EXPECT_EQ(second->system_identifier, first->system_identifier);

  wal::PgConnection app = Connect("app");
  absl::StatusOr<wal::PgResult> r = app.Query(
      "SELECT (SELECT count(*) FROM pg_publication WHERE pubname = 'pgpitr' AND puballtables), "
      "(SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pgpitr' AND plugin = 'pgoutput')");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->Get(0, 0), "1");
  EXPECT_EQ(r->Get(0, 1), "1");
}

TEST_F(SourceTest, TablesWithoutReplicaIdentityAreReportedAndLeftAlone) {
  wal::PgConnection app = Connect("app");
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
  absl::StatusOr<wal::PgResult> r = app.Query("SELECT relreplident FROM pg_class WHERE relname = 'loose'");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Get(0, 0), "d") << "the source's schema is not changed without the opt-in";
}

TEST_F(SourceTest, OptInSetsReplicaIdentityFull) {
  wal::PgConnection app = Connect("app");
  Exec(app, "CREATE TABLE loose (a int)");
  wal::SourceSettings settings;
  settings.set_replica_identity_full = true;
  absl::StatusOr<wal::SourceFacts> facts = wal::PrepareSource(Info("app"), settings, Collect());
  ASSERT_TRUE(facts.ok()) << facts.status();
  EXPECT_TRUE(facts->tables_without_identity.empty());
  absl::StatusOr<wal::PgResult> r = app.Query("SELECT relreplident FROM pg_class WHERE relname = 'loose'");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Get(0, 0), "f");
  // And UPDATE now works on the source while the table is published.
  Exec(app, "INSERT INTO loose VALUES (1); UPDATE loose SET a = 2");
}

TEST_F(SourceTest, NoFreeSlotIsRefusedWithTheFix) {
  wal::PgConnection app = Connect("app");
  // max_replication_slots is 10 on the test server: use them all.
  for (int i = 0; i < 10; ++i) {
    Exec(app, fmt::format("SELECT pg_create_logical_replication_slot('filler_{}', 'pgoutput')", i));
  }
  absl::StatusOr<wal::SourceFacts> facts = wal::PrepareSource(Info("app"), {}, Collect());
  ASSERT_FALSE(facts.ok());
  EXPECT_NE(facts.status().message().find("max_replication_slots"), std::string::npos) << facts.status();
}

}  // namespace
}  // namespace pgpitr::testing
