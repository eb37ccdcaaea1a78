// Schema changes made straight to the source (no proxy) are recorded by capture's event triggers
// and replayed at their place: owners, temporary objects, tables made from queries, mixed drops,
// indexes made concurrently; what cannot be replayed (DDL inside a DO block) is named.

#include "wal/event_triggers.h"

#include "harness.h"

namespace pgpitr::testing {
namespace {

class EventTriggersTest : public ServerTest {
 protected:
  // The tables the keyed publication lists (wal/source.h), comma-separated.
  static constexpr const char* kKeyedTables =
      "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables WHERE pubname = 'pgpitr_keyed'";

  // The source after a step: its position, every table's rows, its schema.
  struct Point {
    pg::Lsn lsn;
    embedded::Fingerprint rows;
    std::string schema;
  };
  Point TakePoint(pg::Connection& app) { return {InsertLsn(app), FingerprintOf("app"), SchemaDump("app")}; }

  // Each step in a session of its own, ended before its point (its temporary objects gone with it);
  // a step the source refuses fails the test.
  void RunSteps(const std::vector<std::string>& steps, pg::Connection& app, std::vector<Point>* points) {
    for (const std::string& step : steps) {
      {
        pg::Connection session = Connect("app");
        Exec(session, step);
      }
      points->push_back(TakePoint(app));
    }
  }

  // After capture stopped: every point restored by LSN into a database of its own, and compared.
  void ExpectEveryPointRestoresExactly(const std::vector<Point>& points) {
    for (size_t i = 0; i < points.size(); ++i) {
      const std::string db = fmt::format("point_{}", i);
      absl::StatusOr<restore::RestoreSummary> summary = Restore(db, AtLsn(points[i].lsn));
      ASSERT_TRUE(summary.ok()) << "after step " << i << ": " << summary.status();
      EXPECT_EQ(FingerprintOf(db), points[i].rows) << "after step " << i;
      EXPECT_EQ(SchemaDump(db), points[i].schema) << "after step " << i;
    }
  }
};

TEST_F(EventTriggersTest, SchemaChangesMadeStraightToTheSourceRestoreExactly) {
  // (Its tables without a key get REPLICA IDENTITY FULL: without, a restore would name them.)
  set_replica_identity_full_ = true;
  pg::Connection app = Connect("app");
  ASSERT_FALSE(
      StartCaptureWithSchema([&] { Exec(app, "CREATE TABLE kept (id int PRIMARY KEY, v text)"); }).id().empty());
  const std::vector<std::string> steps = {
      // Owned by the role that made it, as on the source.
      "CREATE ROLE et_owner; GRANT CREATE ON SCHEMA public TO et_owner; SET ROLE et_owner; "
      "CREATE TABLE owned (id int PRIMARY KEY, at date DEFAULT '01/02/2003'); RESET ROLE",
      // DateStyle shapes how a default parses; the source's is replayed with the statement.
      "SET DateStyle = 'SQL, DMY'; ALTER TABLE owned ADD COLUMN d2 date DEFAULT '01/02/2003'; RESET DateStyle",
      // Temporary objects, a trigger on one, and a drop that names a temporary and a lasting table.
      "CREATE TEMP TABLE scratch (a int); CREATE TABLE doomed (a int); "
      "CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$; "
      "CREATE TRIGGER scratch_noop BEFORE INSERT ON scratch FOR EACH ROW EXECUTE FUNCTION noop(); "
      "ALTER TABLE scratch ADD COLUMN b int; DROP TABLE scratch, doomed",
      // A table made from a query: empty, and with rows.
      "CREATE TABLE copied AS SELECT id, v FROM kept WITH NO DATA",
      "INSERT INTO kept SELECT g, 'v' || g FROM generate_series(1, 20) g; "
      "SELECT * INTO selected FROM kept WHERE id < 5",
      // Rows of a table dropped later are not replayed (this type has no input function).
      "CREATE TABLE catalog_copy AS SELECT relname, relpartbound FROM pg_class LIMIT 3",
      "DROP TABLE catalog_copy",
      // Several statements in one query, rows between them.
      "CREATE TABLE multi (a int); INSERT INTO multi VALUES (1); ALTER TABLE multi ADD COLUMN b int DEFAULT 7; "
      "INSERT INTO multi VALUES (2)",
      // Schema changes inside savepoints, rows of the parent right after them.
      "BEGIN; SAVEPOINT s; CREATE TABLE in_savepoint (a int); RELEASE s; INSERT INTO in_savepoint VALUES (1); "
      "SAVEPOINT t; ALTER TABLE in_savepoint ADD COLUMN b int; RELEASE t; INSERT INTO in_savepoint VALUES (2, 3); "
      "COMMIT",
      // A role that may create in the database (no schema change) and is a member of another (global):
      // the restore's database and the roles it creates get the same.
      "CREATE ROLE et_creator; CREATE ROLE et_target; GRANT et_target TO et_creator; "
      "GRANT CREATE ON DATABASE app TO et_creator; SET ROLE et_creator; CREATE SCHEMA et_schema; "
      "GRANT CREATE ON SCHEMA et_schema TO et_target; CREATE TABLE et_schema.x (a int); "
      "ALTER TABLE et_schema.x OWNER TO et_target; RESET ROLE",
      // A role that is a superuser on the source (gone by the restore): made again as one, NOLOGIN.
      "CREATE ROLE et_super SUPERUSER; SET ROLE et_super; CREATE SCHEMA et_super_schema; RESET ROLE",
      // Effectively temporary: a function of a temporary row type; a rule of a temporary table.
      "CREATE TEMP TABLE tmp_row (a int, b text); "
      "CREATE FUNCTION tmp_fn(tmp_row) RETURNS int LANGUAGE sql AS 'SELECT $1.a'; "
      "CREATE TEMP TABLE tmp_r (a int); CREATE RULE tmp_rule AS ON INSERT TO tmp_r DO INSTEAD NOTHING; "
      "DROP RULE tmp_rule ON tmp_r",
      // A lasting table made LIKE a temporary one: made again from the columns it got.
      "CREATE TEMP TABLE tmp_shape (a int NOT NULL, b text COLLATE \"C\"); CREATE TABLE like_tmp (LIKE tmp_shape); "
      "INSERT INTO like_tmp VALUES (1, 'x')",
      // A default that is not a constant: the rows already there keep the value it had then.
      "ALTER TABLE kept ADD COLUMN added_at timestamptz DEFAULT now(); INSERT INTO kept (id, v) VALUES (1000, 'x')",
      // (A later row has its own added_at; adding another column leaves it alone.)
      "INSERT INTO kept (id, v) VALUES (1001, 'y'); "
      "ALTER TABLE kept ADD COLUMN added_by text DEFAULT current_user || pg_catalog.pg_backend_pid()",
      "CREATE TABLE in_parts (a int) PARTITION BY LIST (a); "
      "CREATE TABLE in_parts_1 PARTITION OF in_parts FOR VALUES IN (1); INSERT INTO in_parts VALUES (1)",
      "ALTER TABLE in_parts ADD COLUMN at timestamptz DEFAULT now()",
      // A partition bound given by an expression: evaluated once, on the source.
      "CREATE TABLE by_time (at timestamptz, v int) PARTITION BY RANGE (at); "
      "CREATE TABLE by_time_now PARTITION OF by_time FOR VALUES FROM (now() - interval '1 hour') "
      "TO (now() + interval '1 hour'); INSERT INTO by_time VALUES (now(), 1)",
      // A comment made inside a function or DO block: replayed by its effect.
      "CREATE FUNCTION commenter() RETURNS void LANGUAGE plpgsql AS $$BEGIN "
      "COMMENT ON TABLE kept IS 'made in a function'; COMMENT ON COLUMN kept.v IS 'it''s v'; END$$; "
      "SELECT commenter()",
      "DO $$BEGIN COMMENT ON COLUMN kept.v IS NULL; END$$",
      "CREATE TABLE parted (a int) PARTITION BY LIST (a); "
      "CREATE TABLE parted_1 PARTITION OF parted FOR VALUES IN (1); INSERT INTO parted VALUES (1); "
      // One whose own constraint implies its partition's: detached concurrently, it gets none more.
      "CREATE TABLE parted_2 PARTITION OF parted FOR VALUES IN (2, 3); ALTER TABLE parted_2 ADD CHECK (a = 2); "
      "CREATE TABLE \"odd part\" PARTITION OF parted FOR VALUES IN (4)",
      // Values of their own for the rows already there (recorded with the statement), then an UPDATE
      // of a GENERATED ALWAYS identity column's row (REPLICA IDENTITY FULL: the row is replaced).
      "SET DateStyle = 'SQL, DMY'; CREATE TABLE filled (a int, at timestamptz DEFAULT '2001-02-03 04:05:06+00'); "
      "INSERT INTO filled (a) SELECT generate_series(1, 5); "
      "ALTER TABLE filled ADD COLUMN id int GENERATED ALWAYS AS IDENTITY, ADD COLUMN r float8 DEFAULT random()",
      "UPDATE filled SET a = a * 10 WHERE a < 3; DELETE FROM filled WHERE a = 4",
      // The application's own publications: left out, as bases leave them out (a restore publishes nothing).
      "CREATE PUBLICATION app_pub FOR TABLE kept; ALTER PUBLICATION app_pub ADD TABLE owned; "
      "INSERT INTO kept (id, v) VALUES (900, 'after the publication')",
      // (pgpitr's own is not on the target at all: a restore that replayed this would fail.)
      "DROP PUBLICATION app_pub; ALTER PUBLICATION pgpitr SET (publish_via_partition_root = false)",
  };
  std::vector<Point> points;
  RunSteps(steps, app, &points);
  // Not inside a transaction block: made with CONCURRENTLY, replayed without.
  // (The detach of a name the trigger cannot read from the statement's text still succeeds.)
  RunSteps({"CREATE INDEX CONCURRENTLY kept_v ON kept (v)", "ALTER TABLE parted DETACH PARTITION parted_1 CONCURRENTLY",
            "ALTER TABLE parted DETACH PARTITION parted_2 CONCURRENTLY",
            "ALTER TABLE parted DETACH PARTITION \"odd part\" CONCURRENTLY"},
           app, &points);
  // The roles are gone by the time of the restores: they make them again.
  Exec(app,
       "DROP TABLE et_schema.x; DROP SCHEMA et_schema; REVOKE CREATE ON DATABASE app FROM et_creator; "
       "DROP ROLE et_creator; DROP ROLE et_target; DROP SCHEMA et_super_schema; DROP ROLE et_super");
  WaitCaptured(InsertLsn(app));
  StopCapture();
  ASSERT_TRUE(capture_result_.ok()) << capture_result_;
  ExpectEveryPointRestoresExactly(points);
}

// With --set-replica-identity-full, a statement that leaves a table without a replica identity
// (made without a key, key dropped, identity index dropped) gives it REPLICA IDENTITY FULL at once:
// the application's UPDATE and DELETE on it work as without pgpitr, and are captured exactly.
TEST_F(EventTriggersTest, WithSetReplicaIdentityFullTablesLeftWithoutOneGetItAndTheApplicationsWritesWork) {
  set_replica_identity_full_ = true;
  pg::Connection app = Connect("app");
  Exec(app, "CREATE TABLE old_nokey (a int); INSERT INTO old_nokey VALUES (1), (2)");
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  const std::vector<std::string> steps = {
      "CREATE TABLE nokey (a int, b text); INSERT INTO nokey VALUES (1, 'x'), (1, 'x'), (2, 'y'); "
      "UPDATE nokey SET b = 'z' WHERE a = 1; DELETE FROM nokey WHERE a = 2",
      "CREATE TABLE keyed (id int PRIMARY KEY, v int); INSERT INTO keyed VALUES (1, 1); "
      "ALTER TABLE keyed DROP CONSTRAINT keyed_pkey; UPDATE keyed SET v = 2",
      "CREATE TABLE ri (id int NOT NULL, v int); CREATE UNIQUE INDEX ri_id ON ri (id); "
      "ALTER TABLE ri REPLICA IDENTITY USING INDEX ri_id; INSERT INTO ri VALUES (1, 1); DROP INDEX ri_id; "
      "UPDATE ri SET v = 3",
      "CREATE TABLE a1 (x int); CREATE TABLE a2 (y int); INSERT INTO a1 VALUES (1); UPDATE a1 SET x = 2; "
      "INSERT INTO a2 VALUES (1); DELETE FROM a2",
      "BEGIN; CREATE TABLE in_txn (x int); INSERT INTO in_txn VALUES (1); SAVEPOINT s; UPDATE in_txn SET x = 5; "
      "RELEASE s; COMMIT",
      "UPDATE old_nokey SET a = a + 10",
  };
  std::vector<Point> points;
  RunSteps(steps, app, &points);  // the application's statements must all succeed
  EXPECT_EQ(QueryOne(Connect("app"),
                     "SELECT string_agg(relname || '=' || relreplident::text, ',' ORDER BY relname) FROM pg_class "
                     "WHERE relname IN ('old_nokey', 'nokey', 'keyed', 'ri', 'a1', 'a2', 'in_txn')"),
            "a1=f,a2=f,in_txn=f,keyed=f,nokey=f,old_nokey=f,ri=f");
  WaitCaptured(InsertLsn(app));
  StopCapture();
  ASSERT_TRUE(capture_result_.ok()) << capture_result_;
  ExpectEveryPointRestoresExactly(points);
}

// Without --set-replica-identity-full, pgpitr's publication is in two: every table's INSERT and
// TRUNCATE, and the UPDATE and DELETE of the tables with a replica identity only, kept so by the
// event triggers. The application's UPDATE and DELETE on a table without one work as without
// pgpitr; they are not captured, and a restore names the table (strict: refuses; best-effort: a
// difference). Tables with a key, made or keyed later, are captured exactly.
TEST_F(EventTriggersTest, WithoutAReplicaIdentityTheApplicationsWritesWorkAndARestoreNamesTheTable) {
  pg::Connection app = Connect("app");
  Exec(app,
       "CREATE TABLE loose (a int); INSERT INTO loose VALUES (1), (2); "
       "CREATE TABLE keyed (id int PRIMARY KEY, v int); INSERT INTO keyed VALUES (1, 1)");
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  // The application's statements must all succeed.
  Exec(app, "UPDATE loose SET a = a + 10; DELETE FROM loose WHERE a = 11");
  Exec(app,
       "CREATE TABLE later_keyed (id int PRIMARY KEY, v int); INSERT INTO later_keyed SELECT g, g FROM "
       "generate_series(1, 5) g; UPDATE later_keyed SET v = v * 10 WHERE id < 3; DELETE FROM later_keyed WHERE id = 5");
  Exec(app, "CREATE TABLE later_loose (a int); INSERT INTO later_loose VALUES (1); UPDATE later_loose SET a = 2");
  Exec(app,
       "CREATE TABLE keyed_later (a int NOT NULL); INSERT INTO keyed_later VALUES (1), (2); "
       "ALTER TABLE keyed_later ADD PRIMARY KEY (a)");
  Exec(app, "UPDATE keyed_later SET a = a + 100 WHERE a = 1; DELETE FROM keyed_later WHERE a = 2");
  Exec(app, "ALTER TABLE keyed DROP CONSTRAINT keyed_pkey; UPDATE keyed SET v = 2");
  // PostgreSQL refuses SET UNLOGGED of a table a publication lists: it leaves the list first.
  Exec(app, "CREATE TABLE goes_unlogged (id int PRIMARY KEY); ALTER TABLE goes_unlogged SET UNLOGGED");
  EXPECT_EQ(QueryOne(Connect("app"), kKeyedTables), "keyed_later,later_keyed");
  Exec(app, "ALTER TABLE goes_unlogged SET LOGGED");
  EXPECT_EQ(QueryOne(Connect("app"), kKeyedTables), "goes_unlogged,keyed_later,later_keyed");
  const std::string rows_query =
      "SELECT (SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM later_keyed) || '/' || "
      "(SELECT string_agg(a::text, ',' ORDER BY a) FROM keyed_later)";
  const std::string source_rows = QueryOne(Connect("app"), rows_query);
  EXPECT_EQ(source_rows, "1:10,2:20,3:3,4:4/101");
  WaitCaptured(InsertLsn(app));
  StopCapture();
  ASSERT_TRUE(capture_result_.ok()) << capture_result_;

  absl::StatusOr<restore::RestoreSummary> strict = Restore("strict", restore::RestoreTarget::Latest());
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.status().message().find("public.loose has no replica identity after the base"), std::string::npos)
      << strict.status();
  EXPECT_NE(strict.status().message().find("--best-effort"), std::string::npos) << strict.status();

  absl::StatusOr<restore::RestoreSummary> summary = RestoreBestEffort("best");
  ASSERT_TRUE(summary.ok()) << summary.status();
  for (const restore::Difference& d : summary->differences) {
    EXPECT_NE(d.reason.find("no replica identity"), std::string::npos) << d.reason;
  }
  EXPECT_EQ(NamedObjects(*summary),
            (std::vector<std::string>{"table public.loose", "table public.later_loose", "table public.keyed"}))
      << summary->ToString();
  EXPECT_EQ(QueryOne(Connect("best"), rows_query), source_rows);
}

// Keeping the keyed publication never fails the application's statement: a schema change that
// cannot take the publication's lock in time (another open transaction changed the list) leaves its
// table out, and a restore names it; the next schema change puts it in.
TEST_F(EventTriggersTest, AKeyedTableTheListCouldNotTakeInTimeIsNamedNotAFailure) {
  pg::Connection app = Connect("app");
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  pg::Connection holder = Connect("app");
  Exec(holder, "BEGIN; CREATE TABLE held (id int PRIMARY KEY)");  // holds the publication's lock
  Exec(app,
       "SET lock_timeout = '200ms'; CREATE TABLE waited (id int PRIMARY KEY); INSERT INTO waited VALUES (1); "
       "UPDATE waited SET id = 2; RESET lock_timeout");
  Exec(holder, "COMMIT");
  EXPECT_EQ(QueryOne(Connect("app"), kKeyedTables), "held");
  Exec(app, "CREATE TABLE later (id int PRIMARY KEY)");
  EXPECT_EQ(QueryOne(Connect("app"), kKeyedTables), "held,later,waited");
  WaitCaptured(InsertLsn(app));
  StopCapture();

  absl::StatusOr<restore::RestoreSummary> summary = RestoreBestEffort("best");
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_EQ(summary->differences.size(), 1u) << summary->ToString();
  EXPECT_EQ(summary->differences[0].objects, std::vector<std::string>{"table public.waited"});
}

// A logical message is placed at its record's end, where the next record starts; the server merges
// a transaction's subtransactions by that position and may send the parent's next row first (a tie).
// Stored, every transaction's changes are in the source's order.
TEST_F(EventTriggersTest, AMessageInsideASavepointIsStoredBeforeTheRowsThatFollowIt) {
  pg::Connection app = Connect("app");
  Exec(app, "CREATE TABLE t (id int PRIMARY KEY)");
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  for (int i = 0; i < 20; ++i) {
    Exec(app, fmt::format("BEGIN; INSERT INTO t VALUES ({0}); SAVEPOINT s; "
                          "SELECT pg_logical_emit_message(true, 'test.order', 'after {0}'); RELEASE s; "
                          "INSERT INTO t VALUES ({1}); COMMIT",
                          2 * i, 2 * i + 1));
  }
  WaitCaptured(InsertLsn(app));
  StopCapture();
  ASSERT_TRUE(capture_result_.ok()) << capture_result_;

  absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
      wal::Repository::Open(repo_dir_, wal::Repository::Mode::kRead);
  ASSERT_TRUE(repo.ok()) << repo.status();
  std::vector<std::string> order;
  absl::Status s =
      (*repo)->change_log().ForEachTransaction(pg::Lsn(0), pg::Lsn(~uint64_t{0}), [&](const proto::Transaction& t) {
        return (*repo)->change_log().ForEachChange(t, [&](const proto::Change& c) {
          if (c.kind() == proto::Change::MESSAGE && c.message_prefix() == "test.order") {
            order.push_back(c.message_content());
          } else if (c.kind() == proto::Change::INSERT) {
            order.push_back(c.new_tuple().values(0).data());
          }
          return absl::OkStatus();
        });
      });
  ASSERT_TRUE(s.ok()) << s;
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) {
    expected.push_back(std::to_string(2 * i));
    expected.push_back(fmt::format("after {}", 2 * i));
    expected.push_back(std::to_string(2 * i + 1));
  }
  EXPECT_EQ(order, expected);
}

TEST_F(EventTriggersTest, ASchemaChangeInsideADoBlockStopsTheRestoreThatReachesItNamingIt) {
  pg::Connection app = Connect("app");
  Exec(app, "CREATE TABLE t (id int PRIMARY KEY)");
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  Exec(app, "INSERT INTO t VALUES (1)");
  const pg::Lsn before = InsertLsn(app);
  Exec(app, "DO $$BEGIN EXECUTE 'ALTER TABLE t ADD COLUMN hidden int'; END$$");
  Exec(app, "INSERT INTO t VALUES (2)");
  WaitCaptured(InsertLsn(app));
  StopCapture();

  absl::StatusOr<restore::RestoreSummary> early = Restore("early", AtLsn(before));
  ASSERT_TRUE(early.ok()) << early.status();
  restore::RestoreTarget latest;
  latest.kind = restore::RestoreTarget::Kind::kLatest;
  absl::StatusOr<restore::RestoreSummary> late = Restore("late", latest);
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.status().message().find("ALTER TABLE"), std::string::npos) << late.status();
  EXPECT_NE(late.status().message().find("DO $$"), std::string::npos) << late.status();
  absl::StatusOr<pg::Result> gone =
      Connect("postgres").Query("SELECT count(*) FROM pg_database WHERE datname = 'late'");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->GetString(0, 0), "0") << "the failed restore left its database behind";
}

// Large objects are not in the logical stream: a restore that reaches a schema change on one made
// after the base says so, rather than failing on a missing object.
// --best-effort carries on past what cannot be replayed and names what may differ; the rest is exact.
TEST_F(EventTriggersTest, BestEffortCarriesOnPastAnUnreplayableSchemaChangeAndNamesWhatItTouched) {
  pg::Connection app = Connect("app");
  Exec(app, "CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY)");
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  Exec(app, "INSERT INTO t VALUES (1)");
  Exec(app, "DO $$BEGIN EXECUTE 'CREATE INDEX t_hidden ON t (id DESC)'; END$$");
  Exec(app, "SELECT lo_create(4243); GRANT SELECT ON LARGE OBJECT 4243 TO PUBLIC; SELECT lo_unlink(4243)");
  Exec(app,
       "INSERT INTO t VALUES (2); INSERT INTO other SELECT g FROM generate_series(1, 50) g; "
       "ALTER TABLE other ADD COLUMN v text DEFAULT 'x'");
  // A volatile default gives the rows there values the stream does not carry (the trigger records
  // the rows then); on an empty table, none.
  Exec(app, "CREATE TABLE empty_t (a int PRIMARY KEY); ALTER TABLE empty_t ADD COLUMN r float8 DEFAULT random()");
  // A stored generated column is computed again from each row at replay: exact, nothing named.
  Exec(app, "ALTER TABLE other ADD COLUMN twice int GENERATED ALWAYS AS (id * 2) STORED");
  Exec(app, "ALTER TABLE t ADD COLUMN r float8 DEFAULT random()");
  // (A check after the large object went: until one, the GRANT says it may still be there.)
  WaitForACheckAfterNow(app);
  StopCapture();

  restore::RestoreOptions options;
  options.repo = repo_dir_;
  options.target = Info("best");
  options.best_effort = true;
  absl::StatusOr<restore::RestoreSummary> summary = restore::RunRestore(options, base::Logger::Silent());
  ASSERT_TRUE(summary.ok()) << summary.status();
  // (The GRANT on a large object gone at the target is left out: nothing of it is there to differ.)
  ASSERT_EQ(summary->differences.size(), 1u) << summary->ToString();
  EXPECT_NE(summary->differences[0].statement.find("DO $$"), std::string::npos);
  EXPECT_EQ(summary->differences[0].objects, std::vector<std::string>{"index public.t_hidden"});
  // The rows a volatile default gave values of their own were recorded: the same values.
  const std::string random_values = "SELECT string_agg(id || '=' || r, ',' ORDER BY id) FROM t";
  EXPECT_EQ(QueryOne(Connect("best"), random_values), QueryOne(Connect("app"), random_values));
  EXPECT_NE(summary->ToString().find("NOT EXACT"), std::string::npos);
  EXPECT_NE(summary->ToJson().find("\"exact\": false"), std::string::npos);
  // Everything else is there, rows and schema changes after the ones left out.
  EXPECT_EQ(QueryOne(Connect("best"), "SELECT string_agg(id::text, ',' ORDER BY id) FROM t"), "1,2");
  EXPECT_EQ(QueryOne(Connect("best"), "SELECT count(*) || ' ' || min(v) FROM other"), "50 x");

  // Strict, the same restore stops at the first and says how to go on.
  options.target = Info("strict");
  options.best_effort = false;
  absl::StatusOr<restore::RestoreSummary> strict = restore::RunRestore(options, base::Logger::Silent());
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.status().message().find("--best-effort"), std::string::npos) << strict.status();
}

// A table made from a system catalog can hold values no input function takes (pg_node_tree here):
// its rows cannot be written at restore. A strict restore refuses naming it; --best-effort names
// it and restores everything else, both strategies alike (before, replay stopped at its first row
// even with --best-effort).
TEST_F(EventTriggersTest, RowsOfATypeThatTakesNoInputAreNamedNotTheEndOfTheRestore) {
  pg::Connection app = Connect("app");
  Exec(app, "CREATE TABLE t (id int PRIMARY KEY); CREATE VIEW v AS SELECT 1 AS one");
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  Exec(app,
       "CREATE TABLE rules AS SELECT rulename, ev_action FROM pg_rewrite WHERE ev_class = 'v'::regclass; "
       "ALTER TABLE rules REPLICA IDENTITY FULL");
  Exec(app, "INSERT INTO t VALUES (1), (2)");
  WaitCaptured(InsertLsn(app));
  StopCapture();

  absl::StatusOr<restore::RestoreSummary> strict = Restore("strict", restore::RestoreTarget::Latest());
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.status().message().find("\"public\".\"rules\""), std::string::npos) << strict.status();
  EXPECT_NE(strict.status().message().find("pg_node_tree"), std::string::npos) << strict.status();
  for (const bool row_by_row : {false, true}) {
    const std::string db = row_by_row ? "best_rows" : "best_bulk";
    absl::StatusOr<restore::RestoreSummary> best = RestoreBestEffort(db, row_by_row);
    ASSERT_TRUE(best.ok()) << best.status();
    EXPECT_EQ(NamedObjects(*best), std::vector<std::string>{"table \"public\".\"rules\""}) << best->ToString();
    EXPECT_EQ(QueryOne(Connect(db), "SELECT string_agg(id::text, ',' ORDER BY id) FROM t"), "1,2");
    EXPECT_EQ(QueryOne(Connect(db), "SELECT count(*) FROM rules"), "0");
  }
}

// Without the proxy, nothing shows lo_create or lo_unlink; but each recorded schema change says
// whether large objects remain after it. A DROP OWNED that drops the last ones ends their span at
// its commit: a restore just after it is exact though no check ran in between (here capture checks
// only at its start; before, the restore was refused until the next check).
TEST_F(EventTriggersTest, ASchemaChangeAfterWhichNoLargeObjectRemainsEndsTheirSpan) {
  if (!CanDumpTestServer()) GTEST_SKIP() << "no pg_dump for this server's major: its bases are empty";
  pg::Connection app = Connect("app");
  Exec(app, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1); CREATE ROLE lo_owner");
  ASSERT_FALSE(StartCaptureWithBaseCheckingOnlyAtStart().id().empty());
  Exec(app, "SET ROLE lo_owner; SELECT lo_create(4244); RESET ROLE; GRANT SELECT ON LARGE OBJECT 4244 TO PUBLIC");
  Exec(app, "INSERT INTO t VALUES (2)");
  const pg::Lsn with = InsertLsn(app);
  Exec(app, "DROP OWNED BY lo_owner");
  Exec(app, "INSERT INTO t VALUES (3)");
  const pg::Lsn after = InsertLsn(app);
  const embedded::Fingerprint at_after = FingerprintOf("app");
  Exec(app, "INSERT INTO t VALUES (4)");
  WaitCaptured(InsertLsn(app));
  StopCapture();

  absl::StatusOr<restore::RestoreSummary> at = Restore("with", AtLsn(with));
  ASSERT_FALSE(at.ok()) << at->ToString();
  EXPECT_NE(at.status().message().find("large objects are not in the logical stream"), std::string::npos)
      << at.status();
  at = Restore("after", AtLsn(after));
  ASSERT_TRUE(at.ok()) << at.status();
  EXPECT_TRUE(at->differences.empty()) << at->ToString();
  EXPECT_EQ(FingerprintOf("after"), at_after);
}

TEST_F(EventTriggersTest, AGrantOnALargeObjectMadeAfterTheBaseSaysLargeObjectsAreNotCaptured) {
  pg::Connection app = Connect("app");
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  Exec(app, "SELECT lo_create(4242); GRANT SELECT ON LARGE OBJECT 4242 TO PUBLIC");
  WaitCaptured(InsertLsn(app));
  StopCapture();
  restore::RestoreTarget latest;
  latest.kind = restore::RestoreTarget::Kind::kLatest;
  absl::StatusOr<restore::RestoreSummary> summary = Restore("restored", latest);
  ASSERT_FALSE(summary.ok());
  EXPECT_NE(summary.status().message().find("large objects are not in the logical stream"), std::string::npos)
      << summary.status();
}

// The triggers run in the application's statement: when they cannot record (here the role may
// not call pg_logical_emit_message), the statement still succeeds, with a warning.
TEST_F(EventTriggersTest, ATriggerThatCannotRecordNeverFailsTheApplicationsStatement) {
  pg::Connection app = Connect("app");
  {
    absl::StatusOr<wal::DdlRecording> installed = wal::InstallEventTriggers(app, "pgpitr_keyed");
    ASSERT_TRUE(installed.ok()) << installed.status();
  }
  Exec(app,
       "CREATE ROLE et_app LOGIN; GRANT CREATE ON SCHEMA public TO et_app; "
       "REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) FROM PUBLIC");
  pg::Connection as_app = Connect("app");
  Exec(as_app, "SET ROLE et_app");
  EXPECT_TRUE(as_app.Execute("CREATE TABLE made_anyway (a int)").ok());
  EXPECT_TRUE(as_app.Execute("DROP TABLE made_anyway").ok());
  Exec(app, "GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) TO PUBLIC");
}

TEST_F(EventTriggersTest, WithoutThemCaptureRemovesThoseAnEarlierRunMade) {
  pg::Connection app = Connect("app");
  {
    absl::StatusOr<wal::DdlRecording> installed = wal::InstallEventTriggers(app, "pgpitr_keyed");
    ASSERT_TRUE(installed.ok()) << installed.status();
  }
  const std::string count = "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE '\\_pgpitr\\_%'";
  EXPECT_EQ(app.Query(count)->GetString(0, 0), "4");
  event_triggers_ = false;
  ASSERT_FALSE(StartCaptureWithBase().id().empty());
  StopCapture();
  EXPECT_EQ(app.Query(count)->GetString(0, 0), "0");
  EXPECT_EQ(app.Query("SELECT count(*) FROM pg_namespace WHERE nspname = '_pgpitr'")->GetString(0, 0), "0");
}

}  // namespace
}  // namespace pgpitr::testing
