// A restore loads its base in sections with the replayed changes merged into the rows as they load
// (restore/base_load.h): the restored database has the source's whole schema (constraints, indexes,
// triggers, views, policies, grants, comments, large objects, partitions), exactly the source's rows,
// and tables that cannot be merged (a time-zone-dependent key, a partitioned table's root) still
// come out exact; foreign keys and materialized views are made on rows that are all at the target.

#include "harness.h"

namespace pgpitr::testing {
namespace {

class BaseLoadTest : public ServerTest {};

TEST_F(BaseLoadTest, ARestoreHasTheSourcesWholeSchemaAndExactlyItsRows) {
  set_replica_identity_full_ = true;  // log has no key
  pg::Connection app = Connect("app");
  Exec(app,
       "CREATE ROLE app_reader;"
       "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');"
       "CREATE TABLE parent (id int PRIMARY KEY, name text UNIQUE, feeling mood);"
       "CREATE TABLE child (id serial PRIMARY KEY, parent_id int REFERENCES parent (id) ON DELETE CASCADE ON UPDATE "
       "CASCADE,"
       "  note text CHECK (length(note) < 100));"
       "CREATE INDEX child_note ON child (note);"
       "COMMENT ON TABLE parent IS 'the parent'; COMMENT ON COLUMN child.note IS 'a note';"
       "GRANT SELECT ON parent TO app_reader; GRANT SELECT (note) ON child TO app_reader;"
       "CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.note := NEW.note || '!'; RETURN NEW; "
       "END$$;"
       "CREATE TRIGGER child_stamp BEFORE INSERT ON child FOR EACH ROW EXECUTE FUNCTION stamp();"
       "CREATE VIEW notes AS SELECT note FROM child; GRANT SELECT ON notes TO app_reader;"
       "CREATE MATERIALIZED VIEW parent_count AS SELECT count(*) AS n FROM parent;"
       "ALTER TABLE parent ENABLE ROW LEVEL SECURITY; CREATE POLICY everyone ON parent USING (true);"
       "CREATE TABLE parts (k int PRIMARY KEY, v text) PARTITION BY RANGE (k);"
       "CREATE TABLE parts_low PARTITION OF parts FOR VALUES FROM (0) TO (100);"
       "CREATE TABLE parts_high PARTITION OF parts FOR VALUES FROM (100) TO (1000);"
       "CREATE TABLE stamps (at timestamptz PRIMARY KEY, v int);"
       "CREATE TABLE \"Odd Name\" (\"Key\" text PRIMARY KEY, \"a\tb\" text);"
       "CREATE TABLE log (at int, msg text);"
       "INSERT INTO parent SELECT g, 'p' || g, 'ok' FROM generate_series(1, 50) g;"
       "INSERT INTO child (parent_id, note) SELECT g % 50 + 1, 'n' || g FROM generate_series(1, 200) g;"
       "INSERT INTO parts SELECT g, 'v' || g FROM generate_series(1, 300) g;"
       "INSERT INTO stamps SELECT '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 hour', g"
       "  FROM generate_series(1, 40) g;"
       "INSERT INTO \"Odd Name\" SELECT 'k' || g || E'\\t', E'x\\\\' || g FROM generate_series(1, 20) g;"
       "INSERT INTO log SELECT g, 'm' || g FROM generate_series(1, 10) g;"
       "SELECT lo_from_bytea(0, 'a large object');");
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  Exec(app,
       "UPDATE parent SET feeling = 'happy', name = name || 'x' WHERE id % 3 = 0;"
       "DELETE FROM parent WHERE id = 7;"  // cascades to its children on the source: in the stream too
       "INSERT INTO parent VALUES (100, 'new', 'sad');"
       "UPDATE parent SET id = 200 WHERE id = 8;"
       "INSERT INTO child (parent_id, note) VALUES (100, 'fresh');"
       "UPDATE child SET note = 'changed' WHERE id % 10 = 0;"
       "UPDATE parts SET v = 'moved', k = k + 500 WHERE k BETWEEN 90 AND 110;"
       "DELETE FROM parts WHERE k % 7 = 0;"
       "UPDATE stamps SET v = -v WHERE v % 2 = 0; DELETE FROM stamps WHERE v = 5;"
       "INSERT INTO stamps VALUES ('2027-06-01 12:00:00+02', 1000);"
       "UPDATE \"Odd Name\" SET \"a\tb\" = E'new\\nline' WHERE \"Key\" LIKE 'k1%';"
       "DELETE FROM \"Odd Name\" WHERE \"Key\" = E'k2\\t';"
       "INSERT INTO log SELECT g, 'later ' || g FROM generate_series(1, 1000) g;");
  WaitCaptured(InsertLsn(app));
  StopCapture();
  ASSERT_TRUE(capture_result_.ok()) << capture_result_;

  // The base holds a large object: restored as the base had it, and named (not in the stream).
  absl::StatusOr<restore::RestoreSummary> summary = RestoreBestEffort("restored");
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(NamedObjects(*summary), std::vector<std::string>{"large objects"});
  EXPECT_GT(summary->merged_rows, 1000u) << "the replayed rows were merged into the base's as they loaded";
  for (const std::string& note : summary->notes) {
    EXPECT_EQ(note.find("applied after its base rows loaded"), std::string::npos) << note;
  }
  EXPECT_LT(summary->merged_rows, summary->row_writes) << "stamps' rows are keyed by a timestamptz: applied after";
  EXPECT_EQ(FingerprintOf("restored"), FingerprintOf("app"))
      << embedded::DescribeDifference(FingerprintOf("app"), FingerprintOf("restored"));
  EXPECT_EQ(SchemaDump("restored"), SchemaDump("app"));

  // Constraints and triggers hold on the restored rows: they were made after the rows loaded.
  pg::Connection restored = Connect("restored");
  EXPECT_FALSE(restored.Execute("INSERT INTO child (parent_id, note) VALUES (12345, 'orphan')").ok());
  Exec(restored, "INSERT INTO child (parent_id, note) VALUES (100, 'via trigger')");
  absl::StatusOr<pg::Result> stamped = restored.Query("SELECT note FROM child WHERE note LIKE 'via trigger%'");
  ASSERT_TRUE(stamped.ok()) << stamped.status();
  EXPECT_EQ(stamped->GetString(0, 0), "via trigger!");
  absl::StatusOr<pg::Result> lo = restored.Query("SELECT count(*) FROM pg_largeobject_metadata");
  ASSERT_TRUE(lo.ok()) << lo.status();
  EXPECT_EQ(lo->GetString(0, 0), "1");
}

TEST_F(BaseLoadTest, ForeignKeysAndViewsAreMadeOnRowsAllAtTheTarget) {
  // parent's rows are merged into its load; child's are applied after it (a timestamptz key), so
  // just after the load child still has the rows whose parents the replayed cascade deleted. A run
  // cut inside a transaction leaves the same. Foreign keys made then would fail: they are made last.
  pg::Connection app = Connect("app");
  Exec(app,
       "CREATE TABLE parent (id int PRIMARY KEY, name text);"
       "CREATE TABLE child (at timestamptz PRIMARY KEY, parent_id int NOT NULL REFERENCES parent (id)"
       "  ON DELETE CASCADE, note text);"
       "CREATE MATERIALIZED VIEW counts AS SELECT (SELECT count(*) FROM parent) AS parents,"
       "  (SELECT count(*) FROM child) AS children;"
       "INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 400) g;"
       "INSERT INTO child SELECT '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 minute', g % 400 + 1, 'c'"
       "  FROM generate_series(1, 2000) g;"
       "REFRESH MATERIALIZED VIEW counts;");
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  Exec(app, "BEGIN; DELETE FROM parent WHERE id % 3 = 0; INSERT INTO parent VALUES (1000, 'new'); COMMIT");
  Exec(app, "INSERT INTO child VALUES ('2027-01-01 00:00:00+00', 1000, 'to the new parent')");
  Exec(app, "REFRESH MATERIALIZED VIEW counts");  // the source's view, for comparing below
  WaitCaptured(InsertLsn(app));
  StopCapture();
  ASSERT_TRUE(capture_result_.ok()) << capture_result_;

  for (uint64_t bound : {uint64_t{128} << 20, uint64_t{4096}}) {
    SCOPED_TRACE(bound);
    const std::string db = fmt::format("restored_{}", bound);
    restore::RestoreOptions options;
    options.repo = repo_dir_;
    options.target = Info(db);
    options.point = restore::RestoreTarget::Latest();
    options.replay_merge_bytes = bound;  // the small one cuts the first run inside the cascade
    options.replay_flush_bytes = std::min(bound, options.replay_flush_bytes);
    absl::StatusOr<restore::RestoreSummary> summary = restore::RunRestore(options, base::Logger::Silent());
    ASSERT_TRUE(summary.ok()) << summary.status();
    EXPECT_EQ(FingerprintOf(db), FingerprintOf("app"))
        << embedded::DescribeDifference(FingerprintOf("app"), FingerprintOf(db));
    pg::Connection restored = Connect(db);
    absl::StatusOr<pg::Result> fk =
        restored.Query("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'child'::regclass");
    ASSERT_TRUE(fk.ok()) << fk.status();
    EXPECT_EQ(fk->GetString(0, 0), "1") << "the foreign key was made";
    EXPECT_FALSE(restored.Execute("INSERT INTO child VALUES (now(), 999999, 'orphan')").ok());
    absl::StatusOr<pg::Result> view = restored.Query("SELECT parents || '/' || children FROM counts");
    absl::StatusOr<pg::Result> source = app.Query("SELECT parents || '/' || children FROM counts");
    ASSERT_TRUE(view.ok() && source.ok());
    EXPECT_EQ(view->GetString(0, 0), source->GetString(0, 0)) << "the view is refreshed on the restored rows";
  }
}

// Roles are the cluster's and not in the dump: those the base's objects name (owner, grantee, and
// the roles they are members of) are recorded with it, and a restore target that lacks them gets them.
TEST_F(BaseLoadTest, RolesTheBaseNamesAreMadeOnATargetThatLacksThem) {
  pg::Connection app = Connect("app");
  Exec(app,
       "CREATE ROLE bl_owner; CREATE ROLE bl_reader; CREATE ROLE bl_group; GRANT bl_group TO bl_owner; "
       "CREATE TABLE owned_t (a int PRIMARY KEY); ALTER TABLE owned_t OWNER TO bl_owner; "
       "GRANT SELECT ON owned_t TO bl_reader; INSERT INTO owned_t VALUES (1)");
  const std::string schema = SchemaDump("app");
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  const pg::Lsn point = InsertLsn(app);
  // Gone from the cluster by the time of the restore.
  Exec(app, "DROP TABLE owned_t; DROP ROLE bl_owner, bl_reader, bl_group");
  WaitCaptured(InsertLsn(app));
  StopCapture();

  absl::StatusOr<restore::RestoreSummary> summary =
      Restore("restored", *restore::RestoreTarget::AtLsn(point.ToString(), /*exclusive=*/true));
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(SchemaDump("restored"), schema);
  absl::StatusOr<pg::Result> member = Connect("postgres").Query("SELECT pg_has_role('bl_owner', 'bl_group', 'MEMBER')");
  ASSERT_TRUE(member.ok()) << member.status();
  EXPECT_EQ(member->GetString(0, 0), "t");
  EXPECT_NE(summary->ToString().find("created role(s) bl_group, bl_owner, bl_reader"), std::string::npos)
      << summary->ToString();
}

}  // namespace
}  // namespace pgpitr::testing
