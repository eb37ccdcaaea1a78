#include "proxy/sql.h"

#include <gtest/gtest.h>

#include <cctype>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace pgpitr::proxy {
namespace {

using namespace std::string_literals;

// A readable, unique test name from a case's SQL.
template <typename Case>
std::string NameFromSql(const testing::TestParamInfo<Case>& info) {
  std::string name = std::to_string(info.index) + "_";
  for (char c : info.param.sql.substr(0, 48)) {
    name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  }
  return name;
}

// --- SplitStatements ---------------------------------------------------------------------------

struct SplitCase {
  std::string name;
  std::string sql;
  std::vector<std::string> pieces;
};

class SplitStatementsCases : public testing::TestWithParam<SplitCase> {};

TEST_P(SplitStatementsCases, SplitsAtTopLevelSemicolonsOnly) {
  const SplitCase& c = GetParam();
  std::vector<std::string> got;
  for (std::string_view s : SplitStatements(c.sql)) got.emplace_back(s);
  EXPECT_EQ(got, c.pieces) << c.sql;
}

INSTANTIATE_TEST_SUITE_P(
    Sql, SplitStatementsCases,
    testing::Values(
        SplitCase{"Empty", "", {}}, SplitCase{"OnlyWhitespace", " \n\t ", {}}, SplitCase{"OnlySemicolons", ";;  ;", {}},
        SplitCase{"OnlyComments", "-- hello\n/* there */ ;", {}},
        SplitCase{"OneStatementWithoutSemicolon", "SELECT 1", {"SELECT 1"}},
        SplitCase{"OneStatementWithSemicolon", "SELECT 1;", {"SELECT 1"}},
        SplitCase{"TwoStatementsTrimmedOfWhitespace",
                  "  SELECT 1 ;\n INSERT INTO t VALUES (1);  ",
                  {"SELECT 1", "INSERT INTO t VALUES (1)"}},
        SplitCase{"EmptyStatementsBetweenAreDropped", "SELECT 1;;; SELECT 2", {"SELECT 1", "SELECT 2"}},
        SplitCase{"SemicolonInStandardString", "SELECT 'a;b'; SELECT 2", {"SELECT 'a;b'", "SELECT 2"}},
        SplitCase{
            "DoubledQuoteInStandardString", "SELECT 'it''s; here'; SELECT 2", {"SELECT 'it''s; here'", "SELECT 2"}},
        SplitCase{"BackslashIsLiteralInStandardString", "SELECT 'C:\\'; SELECT 2", {"SELECT 'C:\\'", "SELECT 2"}},
        SplitCase{
            "BackslashQuoteInEscapeString", "SELECT E'it\\'s; here'; SELECT 2", {"SELECT E'it\\'s; here'", "SELECT 2"}},
        SplitCase{"LowercaseEscapeString", "SELECT e'\\';'; SELECT 2", {"SELECT e'\\';'", "SELECT 2"}},
        SplitCase{"DoubledQuoteInEscapeString", "SELECT E'a''b;c'; SELECT 2", {"SELECT E'a''b;c'", "SELECT 2"}},
        SplitCase{"EscapedBackslashBeforeClosingQuote", "SELECT E'a\\\\'; SELECT 2", {"SELECT E'a\\\\'", "SELECT 2"}},
        SplitCase{"WordEndingInEIsNotAnEscapeString", "SELECT some'x\\'; SELECT 2", {"SELECT some'x\\'", "SELECT 2"}},
        SplitCase{"UnicodeStringTakesNoBackslashQuote", "SELECT U&'\\'; SELECT 2", {"SELECT U&'\\'", "SELECT 2"}},
        SplitCase{"UnicodeStringWithEscapes",
                  "SELECT U&'d\\0061t;a' UESCAPE '\\'; SELECT 2",
                  {"SELECT U&'d\\0061t;a' UESCAPE '\\'", "SELECT 2"}},
        SplitCase{"BitAndHexStrings", "SELECT B'1;0', X'1;F'; SELECT 2", {"SELECT B'1;0', X'1;F'", "SELECT 2"}},
        SplitCase{
            "QuotedIdentifierWithSemicolon", "SELECT 1 AS \"a;b\"; SELECT 2", {"SELECT 1 AS \"a;b\"", "SELECT 2"}},
        SplitCase{"DoubledQuoteInQuotedIdentifier",
                  "SELECT 1 AS \"a\"\";b\"; SELECT 2",
                  {"SELECT 1 AS \"a\"\";b\"", "SELECT 2"}},
        SplitCase{"UnicodeQuotedIdentifier", "SELECT 1 AS U&\"a;b\"; SELECT 2", {"SELECT 1 AS U&\"a;b\"", "SELECT 2"}},
        SplitCase{"EmptyDollarQuote", "SELECT $$a;b$$; SELECT 2", {"SELECT $$a;b$$", "SELECT 2"}},
        SplitCase{
            "TaggedDollarQuote", "SELECT $fn$ x; $$ y; $fn$; SELECT 2", {"SELECT $fn$ x; $$ y; $fn$", "SELECT 2"}},
        SplitCase{"DollarQuoteHoldsQuotesAndComments",
                  "SELECT $q$ ' \" -- /* $q$; SELECT 2",
                  {"SELECT $q$ ' \" -- /* $q$", "SELECT 2"}},
        SplitCase{"DollarQuoteTagIsCaseSensitive",
                  "SELECT $a$ ; $A$ ; $a$; SELECT 2",
                  {"SELECT $a$ ; $A$ ; $a$", "SELECT 2"}},
        SplitCase{
            "FunctionBodyInDollarQuotes",
            "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END; $body$; SELECT f()",
            {"CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END; $body$", "SELECT f()"}},
        SplitCase{"ParameterIsNotADollarQuote", "SELECT $1; SELECT $2", {"SELECT $1", "SELECT $2"}},
        SplitCase{"ParametersAroundText", "SELECT $1 || ';' || $2; SELECT 2", {"SELECT $1 || ';' || $2", "SELECT 2"}},
        SplitCase{"DollarInsideIdentifierIsNotAQuote", "SELECT a$$b; SELECT 2$$", {"SELECT a$$b", "SELECT 2$$"}},
        SplitCase{"LoneDollarIsPunctuation", "SELECT $ ; SELECT 2", {"SELECT $", "SELECT 2"}},
        SplitCase{"LineComment", "SELECT 1 -- not; here\n; SELECT 2", {"SELECT 1 -- not; here\n", "SELECT 2"}},
        SplitCase{"LineCommentEndsAtCarriageReturn", "SELECT 1 -- x\r; SELECT 2", {"SELECT 1 -- x\r", "SELECT 2"}},
        SplitCase{"DashesInsideOperatorStartAComment", "SELECT 1 --; SELECT 2", {"SELECT 1 --; SELECT 2"}},
        SplitCase{"LeadingCommentStaysWithItsStatement",
                  "SELECT 1; /* tag */ ALTER TABLE t ADD c int",
                  {"SELECT 1", "/* tag */ ALTER TABLE t ADD c int"}},
        SplitCase{"BlockComment", "SELECT /* ; */ 1; SELECT 2", {"SELECT /* ; */ 1", "SELECT 2"}},
        SplitCase{"NestedBlockComment",
                  "SELECT /* a /* b; */ c; */ 1; SELECT 2",
                  {"SELECT /* a /* b; */ c; */ 1", "SELECT 2"}},
        SplitCase{
            "QuoteInsideCommentIsNotAString", "SELECT 1 /* it's */; SELECT 2", {"SELECT 1 /* it's */", "SELECT 2"}},
        SplitCase{
            "CommentMarkersInsideStringsAreText", "SELECT '/*', '--'; SELECT 2", {"SELECT '/*', '--'", "SELECT 2"}},
        SplitCase{"UnterminatedStringRunsToTheEnd", "SELECT 'abc; SELECT 2", {"SELECT 'abc; SELECT 2"}},
        SplitCase{"UnterminatedCommentRunsToTheEnd", "SELECT 1 /* abc; SELECT 2", {"SELECT 1 /* abc; SELECT 2"}},
        SplitCase{"UnterminatedDollarQuoteRunsToTheEnd", "SELECT $x$ abc; SELECT 2", {"SELECT $x$ abc; SELECT 2"}},
        SplitCase{"BeginAtomicBody",
                  "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END; SELECT 3",
                  {"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END", "SELECT 3"}},
        SplitCase{"BeginAtomicWithCaseInside",
                  "create or replace procedure p() begin atomic select case when true then 1 end; insert into t "
                  "values (1); end; select 3",
                  {"create or replace procedure p() begin atomic select case when true then 1 end; insert into t "
                   "values (1); end",
                   "select 3"}},
        SplitCase{"BeginAtomicWithCommentsBetween",
                  "CREATE FUNCTION f() RETURNS int BEGIN /* c */ ATOMIC RETURN 1; END; SELECT 3",
                  {"CREATE FUNCTION f() RETURNS int BEGIN /* c */ ATOMIC RETURN 1; END", "SELECT 3"}},
        SplitCase{"TransactionBeginIsNotAnAtomicBody",
                  "BEGIN; SELECT 1; END; COMMIT",
                  {"BEGIN", "SELECT 1", "END", "COMMIT"}},
        SplitCase{"CaseEndOutsideAnAtomicBodyDoesNotNest",
                  "SELECT CASE WHEN x THEN 1 END; SELECT 2",
                  {"SELECT CASE WHEN x THEN 1 END", "SELECT 2"}},
        SplitCase{
            "RuleWithParenthesizedActions",
            "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2)); SELECT 2",
            {"CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2))",
             "SELECT 2"}},
        SplitCase{"UnbalancedCloseParenDoesNotStopSplitting", "SELECT 1); SELECT 2", {"SELECT 1)", "SELECT 2"}},
        SplitCase{
            "NonAsciiIdentifiers", "SELECT \xc3\xa9t\xc3\xa9; SELECT 2", {"SELECT \xc3\xa9t\xc3\xa9", "SELECT 2"}},
        SplitCase{"StatementsThenTrailingComment", "SELECT 1; -- done", {"SELECT 1"}}),
    [](const testing::TestParamInfo<SplitCase>& info) { return info.param.name; });

TEST(SplitStatements, PiecesAreViewsIntoTheQuery) {
  const std::string q = "SELECT 1; SELECT 2";
  for (std::string_view s : SplitStatements(q)) {
    EXPECT_GE(s.data(), q.data());
    EXPECT_LE(s.data() + s.size(), q.data() + q.size());
  }
}

TEST(SplitStatements, RandomTextNeverCrashesAndPiecesStayInsideIt) {
  std::mt19937 rng(777);
  const std::string alphabet = "ab$1'\"\\;()-/*\n EeU&_";
  for (int round = 0; round < 5000; ++round) {
    std::string q(rng() % 64, ' ');
    for (char& c : q) c = alphabet[rng() % alphabet.size()];
    const char* prev_end = q.data();
    for (std::string_view s : SplitStatements(q)) {
      ASSERT_GE(s.data(), prev_end) << q;
      ASSERT_LE(s.data() + s.size(), q.data() + q.size()) << q;
      prev_end = s.data() + s.size();
    }
    (void)IsSchemaChange(q);
    (void)MustRunOutsideTransaction(q);
  }
}

// --- IsSchemaChange ----------------------------------------------------------------------------

struct KeywordCase {
  std::string sql;
  bool want;
};

class IsSchemaChangeCases : public testing::TestWithParam<KeywordCase> {};

TEST_P(IsSchemaChangeCases, ClassifiesTheStatement) {
  EXPECT_EQ(IsSchemaChange(GetParam().sql), GetParam().want) << GetParam().sql;
}

INSTANTIATE_TEST_SUITE_P(
    SchemaChanges, IsSchemaChangeCases,
    testing::Values(
        KeywordCase{"CREATE TABLE t (a int)", true}, KeywordCase{"create table t (a int)", true},
        KeywordCase{"CrEaTe TaBlE t (a int)", true}, KeywordCase{"CREATE TABLE IF NOT EXISTS t (a int)", true},
        KeywordCase{"CREATE UNLOGGED TABLE t (a int)", true}, KeywordCase{"CREATE TABLE t AS SELECT 1", true},
        KeywordCase{"CREATE TABLE t PARTITION OF p FOR VALUES IN (1)", true},
        KeywordCase{"CREATE FOREIGN TABLE ft (a int) SERVER s", true},
        KeywordCase{"  \n\t CREATE TABLE t (a int)", true}, KeywordCase{"-- why\nCREATE TABLE t (a int)", true},
        KeywordCase{"/* a /* nested */ comment */ CREATE TABLE t (a int)", true},
        KeywordCase{"ALTER TABLE t ADD COLUMN c int", true}, KeywordCase{"ALTER TABLE t RENAME TO u", true},
        KeywordCase{"ALTER TABLE t RENAME COLUMN a TO b", true}, KeywordCase{"ALTER TABLE t DROP COLUMN c", true},
        KeywordCase{"DROP TABLE t", true}, KeywordCase{"DROP TABLE IF EXISTS t CASCADE", true},
        KeywordCase{"CREATE INDEX i ON t (a)", true}, KeywordCase{"CREATE UNIQUE INDEX i ON t (a)", true},
        KeywordCase{"CREATE INDEX CONCURRENTLY i ON t (a)", true}, KeywordCase{"DROP INDEX i", true},
        KeywordCase{"ALTER INDEX i RENAME TO j", true}, KeywordCase{"CREATE TYPE mood AS ENUM ('sad', 'ok')", true},
        KeywordCase{"ALTER TYPE mood ADD VALUE 'happy'", true}, KeywordCase{"DROP TYPE mood", true},
        KeywordCase{"CREATE SEQUENCE s", true}, KeywordCase{"ALTER SEQUENCE s RESTART", true},
        KeywordCase{"DROP SEQUENCE s", true}, KeywordCase{"CREATE SCHEMA app", true},
        KeywordCase{"ALTER SCHEMA app RENAME TO app2", true}, KeywordCase{"DROP SCHEMA app CASCADE", true},
        KeywordCase{"CREATE VIEW v AS SELECT 1", true}, KeywordCase{"CREATE OR REPLACE VIEW v AS SELECT 1", true},
        KeywordCase{"CREATE RECURSIVE VIEW v (n) AS SELECT 1", true}, KeywordCase{"DROP VIEW v", true},
        KeywordCase{"CREATE MATERIALIZED VIEW mv AS SELECT 1", true},
        KeywordCase{"ALTER MATERIALIZED VIEW mv RENAME TO mv2", true}, KeywordCase{"DROP MATERIALIZED VIEW mv", true},
        KeywordCase{"CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql", true},
        KeywordCase{"CREATE OR REPLACE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; END", true},
        KeywordCase{"ALTER FUNCTION f() OWNER TO bob", true}, KeywordCase{"DROP FUNCTION f()", true},
        KeywordCase{"CREATE PROCEDURE p() LANGUAGE sql AS $$ $$", true}, KeywordCase{"DROP PROCEDURE p()", true},
        KeywordCase{"CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", true},
        KeywordCase{"CREATE CONSTRAINT TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", true},
        KeywordCase{"DROP TRIGGER tr ON t", true}, KeywordCase{"CREATE EXTENSION hstore", true},
        KeywordCase{"ALTER EXTENSION hstore UPDATE", true}, KeywordCase{"DROP EXTENSION hstore", true},
        KeywordCase{"CREATE DOMAIN posint AS int CHECK (VALUE > 0)", true},
        KeywordCase{"CREATE POLICY p ON t USING (true)", true}, KeywordCase{"ALTER POLICY p ON t USING (false)", true},
        KeywordCase{"CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING", true},
        KeywordCase{"CREATE AGGREGATE a (int) (sfunc = int4pl, stype = int)", true},
        KeywordCase{"CREATE OPERATOR === (leftarg = int, rightarg = int, function = int4eq)", true},
        KeywordCase{"CREATE COLLATION c (locale = 'C')", true},
        KeywordCase{"CREATE TEXT SEARCH CONFIGURATION cfg (COPY = english)", true},
        KeywordCase{"CREATE CAST (int AS text) WITH INOUT", true},
        KeywordCase{"CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw", true},
        KeywordCase{"CREATE USER MAPPING FOR bob SERVER s", true},
        KeywordCase{"ALTER USER MAPPING FOR bob SERVER s OPTIONS (user 'x')", true},
        KeywordCase{"DROP USER MAPPING FOR bob SERVER s", true},
        KeywordCase{"CREATE STATISTICS st ON a, b FROM t", true},
        KeywordCase{"CREATE EVENT TRIGGER et ON ddl_command_end EXECUTE FUNCTION f()", true},
        KeywordCase{"ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO bob", true},
        KeywordCase{"ALTER LARGE OBJECT 1234 OWNER TO bob", true}, KeywordCase{"DROP OWNED BY bob", true},
        KeywordCase{"REASSIGN OWNED BY bob TO alice", true}, KeywordCase{"COMMENT ON TABLE t IS 'orders'", true},
        KeywordCase{"COMMENT ON COLUMN t.a IS NULL", true}, KeywordCase{"GRANT SELECT ON t TO bob", true},
        KeywordCase{"GRANT SELECT (a, b) ON t TO bob", true}, KeywordCase{"GRANT USAGE ON SCHEMA app TO bob", true},
        KeywordCase{"GRANT ALL ON ALL TABLES IN SCHEMA app TO bob", true},
        KeywordCase{"REVOKE INSERT ON t FROM bob", true},
        KeywordCase{"REVOKE GRANT OPTION FOR SELECT ON t FROM bob", true},
        KeywordCase{"SECURITY LABEL ON TABLE t IS 'secret'", true},
        KeywordCase{"SECURITY LABEL FOR selinux ON TABLE t IS 'secret'", true},
        KeywordCase{"IMPORT FOREIGN SCHEMA remote FROM SERVER s INTO local", true},
        KeywordCase{"SELECT * INTO new_t FROM t", true}, KeywordCase{"SELECT 1 INTO UNLOGGED TABLE new_t", true},
        KeywordCase{"(SELECT 1 INTO new_t)", true},
        KeywordCase{"WITH x AS (SELECT 1) SELECT * INTO new_t FROM x", true},
        KeywordCase{"EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1", true},
        KeywordCase{"EXPLAIN (ANALYZE, BUFFERS) SELECT 1 INTO new_t", true},

        KeywordCase{"", false}, KeywordCase{"   ", false}, KeywordCase{"-- CREATE TABLE t (a int)", false},
        KeywordCase{"/* DROP TABLE t */", false}, KeywordCase{"SELECT 1", false},
        KeywordCase{"select * from t where a = 'CREATE TABLE x'", false},
        KeywordCase{"(SELECT 1) UNION (SELECT 2)", false}, KeywordCase{"SELECT a AS \"into\" FROM t", false},
        KeywordCase{"SELECT (SELECT 1 INTO x)", false}, KeywordCase{"SELECT 1 INTO TEMP new_t", false},
        KeywordCase{"SELECT 1 INTO TEMPORARY TABLE new_t", false}, KeywordCase{"SELECT 1 INTO LOCAL TEMP new_t", false},
        KeywordCase{"INSERT INTO t VALUES (1)", false}, KeywordCase{"INSERT INTO t SELECT * FROM u", false},
        KeywordCase{"UPDATE t SET a = 1", false}, KeywordCase{"DELETE FROM t", false},
        KeywordCase{"MERGE INTO t USING u ON t.a = u.a WHEN MATCHED THEN DELETE", false},
        KeywordCase{"COPY t FROM STDIN", false}, KeywordCase{"COPY (SELECT 1) TO STDOUT", false},
        KeywordCase{"WITH x AS (SELECT 1) SELECT * FROM x", false},
        KeywordCase{"WITH x AS (DELETE FROM t RETURNING *) INSERT INTO u SELECT * FROM x", false},
        KeywordCase{"VALUES (1), (2)", false}, KeywordCase{"TABLE t", false}, KeywordCase{"BEGIN", false},
        KeywordCase{"START TRANSACTION", false}, KeywordCase{"COMMIT", false}, KeywordCase{"END", false},
        KeywordCase{"ROLLBACK", false}, KeywordCase{"SAVEPOINT s", false}, KeywordCase{"RELEASE SAVEPOINT s", false},
        KeywordCase{"PREPARE q AS SELECT 1", false}, KeywordCase{"EXECUTE q", false},
        KeywordCase{"DEALLOCATE q", false}, KeywordCase{"SET search_path TO app", false},
        KeywordCase{"RESET ALL", false}, KeywordCase{"SHOW search_path", false}, KeywordCase{"LISTEN c", false},
        KeywordCase{"NOTIFY c", false}, KeywordCase{"UNLISTEN *", false}, KeywordCase{"LOCK TABLE t", false},
        KeywordCase{"VACUUM t", false}, KeywordCase{"ANALYZE t", false}, KeywordCase{"CLUSTER t", false},
        KeywordCase{"CHECKPOINT", false}, KeywordCase{"DISCARD ALL", false},
        KeywordCase{"DO $$ BEGIN NULL; END $$", false}, KeywordCase{"CALL p()", false},
        KeywordCase{"FETCH NEXT FROM c", false}, KeywordCase{"MOVE NEXT IN c", false}, KeywordCase{"CLOSE c", false},
        KeywordCase{"DECLARE c CURSOR FOR SELECT 1", false}, KeywordCase{"EXPLAIN SELECT 1", false},
        KeywordCase{"EXPLAIN CREATE TABLE t AS SELECT 1", false}, KeywordCase{"EXPLAIN ANALYZE SELECT 1", false},
        KeywordCase{"EXPLAIN (ANALYZE false) SELECT 1 INTO t", false}, KeywordCase{"LOAD 'auto_explain'", false},
        KeywordCase{"REINDEX TABLE t", false}, KeywordCase{"TRUNCATE t", false},
        KeywordCase{"REFRESH MATERIALIZED VIEW mv", true}, KeywordCase{"CREATE TEMP TABLE t (a int)", false},
        KeywordCase{"CREATE TEMPORARY TABLE t (a int)", false},
        KeywordCase{"CREATE GLOBAL TEMPORARY TABLE t (a int)", false},
        KeywordCase{"CREATE LOCAL TEMP TABLE t (a int)", false}, KeywordCase{"CREATE TEMP VIEW v AS SELECT 1", false},
        KeywordCase{"CREATE OR REPLACE TEMP VIEW v AS SELECT 1", false}, KeywordCase{"CREATE TEMP SEQUENCE s", false},
        KeywordCase{"CREATE DATABASE d", false}, KeywordCase{"CREATE ROLE bob", false},
        KeywordCase{"CREATE USER bob", false}, KeywordCase{"CREATE GROUP g", false},
        KeywordCase{"CREATE TABLESPACE ts LOCATION '/x'", false},
        KeywordCase{"CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p", false},
        KeywordCase{"CREATE PUBLICATION p FOR ALL TABLES", false},
        KeywordCase{"ALTER DATABASE d SET work_mem = '1MB'", false}, KeywordCase{"ALTER ROLE bob LOGIN", false},
        KeywordCase{"ALTER USER bob PASSWORD 'x'", false}, KeywordCase{"ALTER GROUP g ADD USER bob", false},
        KeywordCase{"ALTER SYSTEM SET work_mem = '1MB'", false},
        KeywordCase{"ALTER TABLESPACE ts RENAME TO ts2", false}, KeywordCase{"ALTER SUBSCRIPTION s DISABLE", false},
        KeywordCase{"ALTER PUBLICATION p ADD TABLE t", false}, KeywordCase{"DROP DATABASE d", false},
        KeywordCase{"DROP ROLE bob", false}, KeywordCase{"DROP USER bob", false}, KeywordCase{"DROP GROUP g", false},
        KeywordCase{"DROP TABLESPACE ts", false}, KeywordCase{"DROP SUBSCRIPTION s", false},
        KeywordCase{"DROP PUBLICATION p", false}, KeywordCase{"COMMENT ON DATABASE d IS 'x'", false},
        KeywordCase{"COMMENT ON ROLE bob IS 'x'", false}, KeywordCase{"SECURITY LABEL ON ROLE bob IS 'x'", false},
        KeywordCase{"GRANT admin TO bob", false}, KeywordCase{"REVOKE admin FROM bob", false},
        KeywordCase{"GRANT CONNECT ON DATABASE d TO bob", false},
        KeywordCase{"GRANT CREATE ON TABLESPACE ts TO bob", false},
        KeywordCase{"GRANT SET ON PARAMETER work_mem TO bob", false}, KeywordCase{"ABORT", false},
        KeywordCase{"\"CREATE\" TABLE t (a int)", false}, KeywordCase{"CREATED", false},
        KeywordCase{"SET CONSTRAINTS ALL DEFERRED", false}),
    NameFromSql<KeywordCase>);

// --- MustRunOutsideTransaction -----------------------------------------------------------------

class MustRunOutsideTransactionCases : public testing::TestWithParam<KeywordCase> {};

TEST_P(MustRunOutsideTransactionCases, MatchesWhatPostgresRefusesInATransactionBlock) {
  EXPECT_EQ(MustRunOutsideTransaction(GetParam().sql), GetParam().want) << GetParam().sql;
}

// Each was checked against PostgreSQL 15 inside BEGIN ... ROLLBACK.
INSTANTIATE_TEST_SUITE_P(
    OutsideTransaction, MustRunOutsideTransactionCases,
    testing::Values(
        KeywordCase{"VACUUM", true}, KeywordCase{"vacuum full t", true}, KeywordCase{"VACUUM (ANALYZE) t", true},
        KeywordCase{"CLUSTER", true}, KeywordCase{"CLUSTER VERBOSE", true},
        KeywordCase{"CREATE INDEX CONCURRENTLY i ON t (a)", true},
        KeywordCase{"CREATE UNIQUE INDEX CONCURRENTLY i ON t (a)", true},
        KeywordCase{"/* x */ create index concurrently if not exists i on t (a)", true},
        KeywordCase{"DROP INDEX CONCURRENTLY i", true}, KeywordCase{"DROP INDEX CONCURRENTLY IF EXISTS i", true},
        KeywordCase{"REINDEX TABLE CONCURRENTLY t", true}, KeywordCase{"REINDEX INDEX CONCURRENTLY i", true},
        KeywordCase{"REINDEX (CONCURRENTLY) TABLE t", true},
        KeywordCase{"REINDEX (VERBOSE, CONCURRENTLY true) TABLE t", true}, KeywordCase{"REINDEX SCHEMA app", true},
        KeywordCase{"REINDEX DATABASE d", true}, KeywordCase{"REINDEX SYSTEM d", true},
        KeywordCase{"CREATE DATABASE d", true}, KeywordCase{"DROP DATABASE d", true},
        KeywordCase{"DROP DATABASE d WITH (FORCE)", true}, KeywordCase{"ALTER DATABASE d SET TABLESPACE ts", true},
        KeywordCase{"CREATE TABLESPACE ts LOCATION '/x'", true}, KeywordCase{"DROP TABLESPACE ts", true},
        KeywordCase{"ALTER SYSTEM SET work_mem = '1MB'", true}, KeywordCase{"ALTER SYSTEM RESET ALL", true},
        KeywordCase{"DISCARD ALL", true}, KeywordCase{"COMMIT PREPARED 'x'", true},
        KeywordCase{"ROLLBACK PREPARED 'x'", true}, KeywordCase{"ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY", true},
        KeywordCase{"CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p", true},
        KeywordCase{"CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p WITH (create_slot = true)", true},
        KeywordCase{"DROP SUBSCRIPTION s", true}, KeywordCase{"ALTER SUBSCRIPTION s REFRESH PUBLICATION", true},
        KeywordCase{"ALTER SUBSCRIPTION s SET PUBLICATION p", true},

        KeywordCase{"", false}, KeywordCase{"SELECT 1", false}, KeywordCase{"ANALYZE t", false},
        KeywordCase{"CLUSTER t", false}, KeywordCase{"CLUSTER t USING i", false},
        KeywordCase{"CREATE INDEX i ON t (a)", false}, KeywordCase{"CREATE UNIQUE INDEX i ON t (a)", false},
        KeywordCase{"CREATE INDEX concurrently_named ON t (a)", false}, KeywordCase{"DROP INDEX i", false},
        KeywordCase{"REINDEX TABLE t", false}, KeywordCase{"REINDEX (CONCURRENTLY false) TABLE t", false},
        KeywordCase{"REINDEX (VERBOSE) INDEX i", false}, KeywordCase{"ALTER DATABASE d SET work_mem TO '4MB'", false},
        KeywordCase{"ALTER DATABASE d RENAME TO e", false}, KeywordCase{"DISCARD PLANS", false},
        KeywordCase{"COMMIT", false}, KeywordCase{"ROLLBACK", false}, KeywordCase{"PREPARE TRANSACTION 'x'", false},
        KeywordCase{"ALTER TYPE mood ADD VALUE 'happy'", false},
        KeywordCase{"ALTER TABLE p DETACH PARTITION p1", false},
        KeywordCase{"ALTER TABLE p DETACH PARTITION p1 FINALIZE", false},
        KeywordCase{"ALTER TABLE t ADD COLUMN concurrently int", false},
        KeywordCase{"CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p WITH (connect = false)", false},
        KeywordCase{"CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p WITH (create_slot = false)", false},
        KeywordCase{"ALTER SUBSCRIPTION s SET PUBLICATION p WITH (refresh = false)", false},
        KeywordCase{"ALTER SUBSCRIPTION s DISABLE", false},
        KeywordCase{"REFRESH MATERIALIZED VIEW CONCURRENTLY mv", false}, KeywordCase{"CREATE TABLE t (a int)", false},
        KeywordCase{"SELECT 'VACUUM'", false}, KeywordCase{"-- VACUUM", false}),
    NameFromSql<KeywordCase>);

TEST(GrantedRelations, TheRelationsAGrantNamesAsPostgresFoldsThem) {
  using Names = std::vector<std::string>;
  EXPECT_EQ(GrantedRelations("GRANT SELECT ON mytable TO someone"), Names{"mytable"});
  EXPECT_EQ(GrantedRelations("revoke select on table MyTable, \"Odd \"\"x\", s.t from someone"),
            (Names{"mytable", "Odd \"x", "s.t"}));
  EXPECT_EQ(GrantedRelations("GRANT SELECT (a, b), UPDATE (c) ON t TO r"), Names{"t"});
  EXPECT_EQ(GrantedRelations("GRANT USAGE ON SEQUENCE pg_temp.s TO r"), Names{"pg_temp.s"});
}

TEST(GrantedRelations, OtherGrantsAndStatementsNameNone) {
  EXPECT_EQ(GrantedRelations("GRANT SELECT ON ALL TABLES IN SCHEMA public TO r"), std::nullopt);
  EXPECT_EQ(GrantedRelations("GRANT EXECUTE ON FUNCTION f(int) TO r"), std::nullopt);
  EXPECT_EQ(GrantedRelations("GRANT USAGE ON SCHEMA s TO r"), std::nullopt);
  EXPECT_EQ(GrantedRelations("GRANT r1 TO r2"), std::nullopt);
  EXPECT_EQ(GrantedRelations("GRANT SELECT ON t"), std::nullopt);
  EXPECT_EQ(GrantedRelations("SELECT 1"), std::nullopt);
}

}  // namespace
}  // namespace pgpitr::proxy

namespace pgpitr::proxy {
namespace {

TEST(CreatesTableFromQuery, TablesFilledByAQueryAreRecognized) {
  EXPECT_TRUE(CreatesTableFromQuery("CREATE TABLE archive AS SELECT * FROM orders"));
  EXPECT_TRUE(CreatesTableFromQuery("create unlogged table a (x, y) as values (1, 2)"));
  EXPECT_TRUE(CreatesTableFromQuery("CREATE TABLE IF NOT EXISTS s.a WITH (fillfactor = 70) AS TABLE b"));
  EXPECT_TRUE(CreatesTableFromQuery("SELECT * INTO archive FROM orders"));
  EXPECT_TRUE(CreatesTableFromQuery("WITH x AS (SELECT 1) SELECT * INTO y FROM x"));
  EXPECT_FALSE(CreatesTableFromQuery("CREATE TEMP TABLE a AS SELECT 1"));
  EXPECT_FALSE(CreatesTableFromQuery("SELECT * INTO TEMP t FROM orders"));
  EXPECT_FALSE(CreatesTableFromQuery("CREATE TABLE t (a int GENERATED ALWAYS AS (1) STORED)"));
  EXPECT_FALSE(CreatesTableFromQuery("CREATE VIEW v AS SELECT 1"));
  EXPECT_FALSE(CreatesTableFromQuery("CREATE MATERIALIZED VIEW m AS SELECT 1"));
  EXPECT_FALSE(CreatesTableFromQuery("INSERT INTO t SELECT 1"));
}

TEST(TableCreatedFromQuery, NamesTheTableAsWritten) {
  EXPECT_EQ(TableCreatedFromQuery("CREATE TABLE archive AS SELECT * FROM orders"), "archive");
  EXPECT_EQ(TableCreatedFromQuery("create unlogged table a (x, y) as values (1, 2)"), "a");
  EXPECT_EQ(TableCreatedFromQuery("CREATE TABLE IF NOT EXISTS s.\"A b\" WITH (fillfactor = 70) AS TABLE b"),
            "s.\"A b\"");
  EXPECT_EQ(TableCreatedFromQuery("SELECT * INTO archive FROM orders"), "archive");
  EXPECT_EQ(TableCreatedFromQuery("select 1 as x into unlogged table s . t"), "s . t");
  EXPECT_EQ(TableCreatedFromQuery("WITH x AS (SELECT 1) SELECT * INTO y FROM x"), "y");
  EXPECT_EQ(TableCreatedFromQuery("EXPLAIN (ANALYZE) CREATE TABLE e AS SELECT 1"), "e");
  EXPECT_EQ(TableCreatedFromQuery("CREATE TEMP TABLE a AS SELECT 1"), std::nullopt);
  EXPECT_EQ(TableCreatedFromQuery("SELECT * INTO TEMP t FROM orders"), std::nullopt);
  EXPECT_EQ(TableCreatedFromQuery("CREATE TABLE t (a int)"), std::nullopt);
  EXPECT_EQ(TableCreatedFromQuery("EXPLAIN CREATE TABLE e AS SELECT 1"), std::nullopt);
  EXPECT_EQ(TableCreatedFromQuery("CREATE VIEW v AS SELECT 1"), std::nullopt);
}

TEST(DetachWithoutConcurrently, DropsOnlyTheConcurrentlyKeywordAndNamesThePartition) {
  std::optional<Detach> d =
      DetachWithoutConcurrently("ALTER TABLE range_parted2 DETACH PARTITION part_rp CONCURRENTLY");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->statement, "ALTER TABLE range_parted2 DETACH PARTITION part_rp ");
  EXPECT_EQ(d->partition, "part_rp");
  d = DetachWithoutConcurrently("alter table detach detach partition s.\"Concurrently\" concurrently;");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->statement, "alter table detach detach partition s.\"Concurrently\" ;");
  EXPECT_EQ(d->partition, "s.\"Concurrently\"");
  EXPECT_FALSE(DetachWithoutConcurrently("ALTER TABLE p DETACH PARTITION c").has_value());
  EXPECT_FALSE(DetachWithoutConcurrently("ALTER TABLE p DETACH PARTITION c FINALIZE").has_value());
  EXPECT_FALSE(DetachWithoutConcurrently("ALTER TABLE p ATTACH PARTITION concurrently FOR VALUES IN (1)").has_value());
  EXPECT_FALSE(DetachWithoutConcurrently("CREATE INDEX CONCURRENTLY i ON t (v)").has_value());
}

TEST(IndexStatementWithoutConcurrently, DropsOnlyTheConcurrentlyKeyword) {
  EXPECT_EQ(IndexStatementWithoutConcurrently("CREATE INDEX CONCURRENTLY i ON t (v)"), "CREATE INDEX  i ON t (v)");
  EXPECT_EQ(IndexStatementWithoutConcurrently("create unique index concurrently if not exists i on t (v)"),
            "create unique index  if not exists i on t (v)");
  EXPECT_EQ(IndexStatementWithoutConcurrently("/* c */ DROP INDEX Concurrently i"), "/* c */ DROP INDEX  i");
  // An index named "concurrently" is no keyword; other statements are not index statements.
  EXPECT_EQ(IndexStatementWithoutConcurrently("CREATE INDEX ON concurrently (v)"), std::nullopt);
  EXPECT_EQ(IndexStatementWithoutConcurrently("CREATE INDEX i ON t (v)"), std::nullopt);
  EXPECT_EQ(IndexStatementWithoutConcurrently("REINDEX INDEX CONCURRENTLY i"), std::nullopt);
  EXPECT_EQ(IndexStatementWithoutConcurrently("SELECT 'CREATE INDEX CONCURRENTLY'"), std::nullopt);
}

}  // namespace
}  // namespace pgpitr::proxy

namespace pgpitr::proxy {
namespace {

using Names = std::vector<std::string>;

TEST(RelationsActedOn, TheRelationsASchemaChangeNamesAsPostgresFoldsThem) {
  using Relations = std::vector<RelationName>;
  bool dropped = true;
  EXPECT_EQ(RelationsActedOn("ALTER TABLE AtTmp RENAME TO x", &dropped), (Relations{{"", "attmp"}}));
  EXPECT_FALSE(dropped);
  EXPECT_EQ(RelationsActedOn("alter table if exists only s.\"T\" add column b int"), (Relations{{"s", "T"}}));
  EXPECT_EQ(RelationsActedOn("ALTER MATERIALIZED VIEW mv OWNER TO r"), (Relations{{"", "mv"}}));
  EXPECT_EQ(RelationsActedOn("DROP TABLE concur_temp_tab_1, concur_temp_tab_2, reindex_temp_before", &dropped),
            (Relations{{"", "concur_temp_tab_1"}, {"", "concur_temp_tab_2"}, {"", "reindex_temp_before"}}));
  EXPECT_TRUE(dropped);
  EXPECT_EQ(RelationsActedOn("DROP INDEX CONCURRENTLY IF EXISTS i CASCADE"), (Relations{{"", "i"}}));
  EXPECT_EQ(RelationsActedOn("DROP RULE IF EXISTS y_rule ON s.y CASCADE", &dropped), (Relations{{"s", "y"}}));
  EXPECT_FALSE(dropped) << "the rule goes, not the table";
  EXPECT_EQ(RelationsActedOn("drop trigger t ON y"), (Relations{{"", "y"}}));
  EXPECT_EQ(RelationsActedOn("CREATE UNIQUE INDEX IF NOT EXISTS i ON ONLY t USING btree (a)"), (Relations{{"", "t"}}));
  EXPECT_EQ(RelationsActedOn("CREATE INDEX ON tmp ((a + 1)) WHERE a > 0"), (Relations{{"", "tmp"}}));
  EXPECT_EQ(RelationsActedOn("CREATE OR REPLACE RULE r AS ON INSERT TO pg_temp.v DO INSTEAD NOTHING"),
            (Relations{{"pg_temp", "v"}}));
  EXPECT_EQ(RelationsActedOn("CREATE CONSTRAINT TRIGGER tr AFTER UPDATE OF a ON t FOR EACH ROW EXECUTE FUNCTION f()"),
            (Relations{{"", "t"}}));
  EXPECT_EQ(RelationsActedOn("COMMENT ON COLUMN s.t.a IS 'x'"), (Relations{{"s", "t"}}));
  EXPECT_EQ(RelationsActedOn("COMMENT ON TABLE \"Odd.Name\" IS 'x'"), (Relations{{"", "Odd.Name"}}));
}

TEST(RelationsActedOn, OtherStatementsNameNone) {
  EXPECT_EQ(RelationsActedOn("CREATE TABLE t (a int)"), std::nullopt);
  EXPECT_EQ(RelationsActedOn("ALTER TABLE ALL IN TABLESPACE a SET TABLESPACE b"), std::nullopt);
  EXPECT_EQ(RelationsActedOn("DROP FUNCTION f(int)"), std::nullopt);
  EXPECT_EQ(RelationsActedOn("DROP TABLE db.s.t"), std::nullopt);  // three parts: not a relation here
  EXPECT_EQ(RelationsActedOn("COMMENT ON FUNCTION f() IS 'x'"), std::nullopt);
  EXPECT_EQ(RelationsActedOn("ALTER TYPE t ADD VALUE 'x'"), std::nullopt);
  EXPECT_EQ(RelationsActedOn("SELECT 1"), std::nullopt);
}

TEST(RelationMade, TheRelationACreateMakesAsPostgresFoldsIt) {
  bool view = true;
  bool partition = false;
  EXPECT_EQ(RelationMade("CREATE TABLE IF NOT EXISTS S.\"Part\" PARTITION OF s.p FOR VALUES IN (1)", &view, &partition),
            (RelationName{"s", "Part"}));
  EXPECT_FALSE(view);
  EXPECT_TRUE(partition);
  EXPECT_EQ(RelationMade("CREATE TABLE p (a int) PARTITION BY LIST (a)", &view, &partition), (RelationName{"", "p"}));
  EXPECT_FALSE(partition);
  EXPECT_EQ(RelationMade("create or replace recursive view V (n) AS SELECT 1", &view), (RelationName{"", "v"}));
  EXPECT_TRUE(view);
  EXPECT_EQ(RelationMade("CREATE VIEW v1_temp AS SELECT * FROM temp_table", &view), (RelationName{"", "v1_temp"}));
  EXPECT_TRUE(view);
  EXPECT_EQ(RelationMade("CREATE UNLOGGED TABLE u (a int)"), (RelationName{"", "u"}));
  EXPECT_EQ(RelationMade("CREATE MATERIALIZED VIEW IF NOT EXISTS mv AS SELECT 1", &view), (RelationName{"", "mv"}));
  EXPECT_FALSE(view);
  EXPECT_EQ(RelationMade("CREATE FOREIGN TABLE f (a int) SERVER s"), (RelationName{"", "f"}));
  EXPECT_EQ(RelationMade("CREATE SEQUENCE s.q"), (RelationName{"s", "q"}));
  // Not made lasting, or not a relation.
  EXPECT_EQ(RelationMade("CREATE TEMP VIEW v AS SELECT 1"), std::nullopt);
  EXPECT_EQ(RelationMade("CREATE GLOBAL TEMPORARY TABLE t (a int)"), std::nullopt);
  EXPECT_EQ(RelationMade("CREATE INDEX ON t (a)"), std::nullopt);
  EXPECT_EQ(RelationMade("ALTER TABLE t ADD COLUMN b int"), std::nullopt);
}

TEST(TypeMade, TheTypeACreateDomainOrTypeMakes) {
  EXPECT_EQ(TypeMade("create domain array_of_recur1 as recur1[]"), (RelationName{"", "array_of_recur1"}));
  EXPECT_EQ(TypeMade("CREATE TYPE s.\"Mood\" AS ENUM ('a')"), (RelationName{"s", "Mood"}));
  EXPECT_EQ(TypeMade("CREATE TABLE t (a int)"), std::nullopt);
}

TEST(RoutineMade, TheRoutineACreateFunctionOrProcedureMakes) {
  EXPECT_EQ(RoutineMade("create function fcompos1(v compos) returns void as $$ select 1 $$ language sql"),
            (RelationName{"", "fcompos1"}));
  EXPECT_EQ(RoutineMade("CREATE OR REPLACE PROCEDURE s.P() LANGUAGE sql AS $$ $$"), (RelationName{"s", "p"}));
  EXPECT_EQ(RoutineMade("CREATE TABLE t (a int)"), std::nullopt);
}

TEST(ColumnsAddedBy, TheTableAndTheColumnsAnAlterTableAdds) {
  const std::optional<ColumnsAdded> added = ColumnsAddedBy(
      "ALTER TABLE ONLY s.T ADD COLUMN IF NOT EXISTS At timestamptz DEFAULT now(), ADD CONSTRAINT c CHECK (a > 0), "
      "ADD \"R\" float8 DEFAULT random(), ALTER COLUMN b ADD GENERATED ALWAYS AS IDENTITY");
  ASSERT_TRUE(added.has_value());
  EXPECT_EQ(added->table, (RelationName{"s", "t"}));
  EXPECT_EQ(added->columns, (std::vector<std::string>{"at", "R"}));
  EXPECT_EQ(ColumnsAddedBy("ALTER TABLE t ADD PRIMARY KEY (a)"), std::nullopt);
  EXPECT_EQ(ColumnsAddedBy("ALTER TABLE t RENAME TO u"), std::nullopt);
}

TEST(MakesTableLike, ACreateTableWithALikeAmongItsColumns) {
  EXPECT_TRUE(MakesTableLike("CREATE TABLE vistest (LIKE testeoc)"));
  EXPECT_TRUE(MakesTableLike("create table if not exists s.t (a int, like u including all, b text)"));
  EXPECT_FALSE(MakesTableLike("CREATE TABLE t (a text CHECK (a LIKE 'x%'))"));
  EXPECT_FALSE(MakesTableLike("CREATE TABLE t AS SELECT * FROM u WHERE a LIKE 'x'"));
  EXPECT_FALSE(MakesTableLike("CREATE TEMP TABLE t (LIKE u)"));
  EXPECT_FALSE(MakesTableLike("CREATE VIEW v AS SELECT 1"));
}

TEST(MayLeaveTableWithoutKey, MadeAlteredOrIndexDroppedTablesButNotTemporaryOnes) {
  EXPECT_TRUE(MayLeaveTableWithoutKey("CREATE TABLE t (a int)"));
  EXPECT_TRUE(MayLeaveTableWithoutKey("create unlogged table t (a int)"));
  EXPECT_TRUE(MayLeaveTableWithoutKey("CREATE TABLE t AS SELECT 1 AS a"));
  EXPECT_TRUE(MayLeaveTableWithoutKey("SELECT 1 AS a INTO t"));
  EXPECT_TRUE(MayLeaveTableWithoutKey("ALTER TABLE t DROP CONSTRAINT t_pkey"));
  EXPECT_TRUE(MayLeaveTableWithoutKey("DROP INDEX t_id"));
  EXPECT_TRUE(MayLeaveTableWithoutKey("CREATE SCHEMA s CREATE TABLE fk (a int)"));
  EXPECT_FALSE(MayLeaveTableWithoutKey("CREATE TEMP TABLE t (a int)"));
  EXPECT_FALSE(MayLeaveTableWithoutKey("CREATE VIEW v AS SELECT 1"));
  EXPECT_FALSE(MayLeaveTableWithoutKey("DROP TABLE t"));
  EXPECT_FALSE(MayLeaveTableWithoutKey("CREATE INDEX ON t (a)"));
}

TEST(PartitionAttached, ThePartitionAnAttachNames) {
  EXPECT_EQ(PartitionAttached("ALTER TABLE IF EXISTS ONLY p ATTACH PARTITION s.\"P1\" FOR VALUES FROM (now()) TO "
                              "(MAXVALUE)"),
            (RelationName{"s", "P1"}));
  EXPECT_EQ(PartitionAttached("alter table p attach partition p2 default"), (RelationName{"", "p2"}));
  EXPECT_EQ(PartitionAttached("ALTER TABLE p DETACH PARTITION p2"), std::nullopt);
  EXPECT_EQ(PartitionDetached("ALTER TABLE p DETACH PARTITION P2 CONCURRENTLY"), (RelationName{"", "p2"}));
  EXPECT_EQ(PartitionDetached("ALTER TABLE p ATTACH PARTITION p2 DEFAULT"), std::nullopt);
  EXPECT_EQ(PartitionAttached("ALTER INDEX i ATTACH PARTITION j"), std::nullopt);
}

TEST(DropIfExists, AddsIfExistsAfterTheObjectKind) {
  EXPECT_EQ(DropIfExists("DROP TABLE a, b CASCADE"), "DROP TABLE IF EXISTS a, b CASCADE");
  EXPECT_EQ(DropIfExists("drop materialized view mv"), "drop materialized view IF EXISTS mv");
  EXPECT_EQ(DropIfExists("DROP INDEX CONCURRENTLY i"), "DROP INDEX CONCURRENTLY IF EXISTS i");
  EXPECT_EQ(DropIfExists("DROP /* c */ FUNCTION f(int)"), "DROP /* c */ FUNCTION IF EXISTS f(int)");
  EXPECT_EQ(DropIfExists("DROP TABLE IF EXISTS a"), std::nullopt);
  EXPECT_EQ(DropIfExists("DROP OWNED BY r"), std::nullopt);
  EXPECT_EQ(DropIfExists("DROP TRIGGER tr ON t"), std::nullopt);
  EXPECT_EQ(DropIfExists("ALTER TABLE t DROP COLUMN a"), std::nullopt);
}

}  // namespace
}  // namespace pgpitr::proxy

namespace pgpitr::proxy {
namespace {

TEST(LargeObjectsTouched, CallsThatMakeOrRemoveLargeObjectsAndDropOwned) {
  EXPECT_TRUE(LargeObjectsTouched("SELECT lo_create(0)").makes);
  EXPECT_TRUE(LargeObjectsTouched("select LO_CREAT(-1)").makes);
  EXPECT_TRUE(LargeObjectsTouched("SELECT pg_catalog.lo_import('/tmp/x')").makes);
  EXPECT_TRUE(LargeObjectsTouched("INSERT INTO t VALUES (lo_from_bytea(0, 'x'))").makes);
  EXPECT_FALSE(LargeObjectsTouched("SELECT lo_create(0)").removes);
  EXPECT_TRUE(LargeObjectsTouched("SELECT lo_unlink(oid) FROM pg_largeobject_metadata").removes);
  EXPECT_TRUE(LargeObjectsTouched("DROP OWNED BY alice CASCADE").removes);
  EXPECT_TRUE(LargeObjectsTouched("/* c */ drop owned by alice").removes);
  // Reading or writing one changes no set of them; names in strings, comments, quoted bodies or
  // longer words are not calls.
  EXPECT_FALSE(LargeObjectsTouched("SELECT loread(lo_open(1, 262144), 32), lo_put(1, 0, 'x')").any());
  EXPECT_FALSE(LargeObjectsTouched("SELECT 'lo_unlink(1)', \"lo_create\" FROM t -- lo_create(1)").any());
  EXPECT_FALSE(LargeObjectsTouched("DO $$ BEGIN PERFORM lo_unlink(1); END $$").any());
  EXPECT_FALSE(LargeObjectsTouched("SELECT lo_unlinked, my_lo_create FROM t").any());
  EXPECT_FALSE(LargeObjectsTouched("DROP TABLE owned").any());
  // The quick test over a whole query: never false where a statement of it touches some.
  EXPECT_TRUE(MayTouchLargeObjects("SELECT 1; SELECT LO_UNLINK(5)"));
  EXPECT_TRUE(MayTouchLargeObjects("select 1; Drop OWNED by alice"));
  EXPECT_FALSE(MayTouchLargeObjects("SELECT loread(fd, 5), log(2) FROM lots_of_rows"));
}

TEST(PreparedStatements, PrepareDeallocateAndExecuteNameTheStatementAsFolded) {
  EXPECT_EQ(PreparedName("PREPARE Select1 (int) AS SELECT $1"), "select1");
  EXPECT_EQ(PreparedName("PREPARE TRANSACTION 'x'"), std::nullopt);
  EXPECT_EQ(DeallocatedName("DEALLOCATE PREPARE \"Q\""), "Q");
  EXPECT_EQ(DeallocatedName("deallocate all"), "");
  EXPECT_EQ(ExecutedName("CREATE TABLE as_select1 AS EXECUTE select1"), "select1");
  EXPECT_EQ(ExecutedName("CREATE TABLE t AS EXECUTE q(1, 'x') WITH NO DATA"), "q");
  EXPECT_EQ(ExecutedName("CREATE TABLE t AS SELECT 1"), std::nullopt);
  EXPECT_EQ(ExecutedName("EXECUTE q"), std::nullopt);
}

}  // namespace
}  // namespace pgpitr::proxy
