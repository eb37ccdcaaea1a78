// What the proxy needs to know of SQL text: where one statement ends in a multi-statement query
// string, and whether a statement changes the schema (DDL), without a full parser.
//   for (std::string_view s : SplitStatements("INSERT ...; ALTER TABLE t ADD c int;")) ...
//   IsSchemaChange("ALTER TABLE t ADD c int") == true
// Pure functions; safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgpitr::proxy {

// Splits at top-level semicolons, honouring 'strings' (and E'\'' escapes), "identifiers", $tag$
// dollar quotes$tag$, -- line comments, nested /* block */ comments, and BEGIN ATOMIC ... END
// bodies of SQL-standard functions. Each piece keeps its original text (without the semicolon);
// pieces holding only whitespace and comments are dropped.
std::vector<std::string_view> SplitStatements(std::string_view query);

// True for statements that change what a restore must recreate: CREATE/ALTER/DROP of tables,
// columns, indexes, types, sequences, schemas, views, materialized views, functions, procedures,
// triggers, extensions, domains, policies, rules; RENAME; COMMENT ON; GRANT/REVOKE; SECURITY LABEL;
// REFRESH MATERIALIZED VIEW (its contents are not in the logical stream).
// Not DDL: SELECT/INSERT/UPDATE/DELETE/MERGE/COPY, transaction control, SET, utility commands
// such as VACUUM, ANALYZE, CHECKPOINT, and CREATE/DROP DATABASE or ROLE/TABLESPACE (cluster-wide, not
// part of the database a restore recreates). Leading comments and whitespace are skipped;
// keywords match case-insensitively.
bool IsSchemaChange(std::string_view statement);

// True for CREATE TABLE ... AS and SELECT ... INTO (not temporary): their rows are in the logical
// stream, so running the statement again at restore would insert them twice.
bool CreatesTableFromQuery(std::string_view statement);
// The name of the table such a statement makes, as written ("archive", "s.\"T\""); nullopt for
// any other statement.
std::optional<std::string> TableCreatedFromQuery(std::string_view statement);

// For GRANT/REVOKE ... ON [TABLE|SEQUENCE] name, ... TO/FROM ...: the names of the relations it
// names, each as PostgreSQL folds it ("Quoted" kept, unquoted lower case, schema.name joined by a
// dot); nullopt for any other statement (other kinds of objects, ALL TABLES IN SCHEMA, roles).
std::optional<std::vector<std::string>> GrantedRelations(std::string_view statement);

// The relations a schema change acts on, each as PostgreSQL folds its name (schema empty when not
// given), for the statements that name them plainly: ALTER and DROP of a table, index, view,
// materialized view, sequence or foreign table; CREATE INDEX ... ON, CREATE RULE ... TO, CREATE
// TRIGGER or POLICY ... ON, DROP RULE, TRIGGER or POLICY ... ON (not a DROP of the table); COMMENT
// ON a table, view, index, sequence or column (its table).
// Nullopt for any other statement. `dropped`, when given, says whether it is a DROP.
struct RelationName {
  std::string schema;
  std::string name;
  bool operator==(const RelationName&) const = default;
};
std::optional<std::vector<RelationName>> RelationsActedOn(std::string_view statement, bool* dropped = nullptr);

// The relation a CREATE TABLE, VIEW, MATERIALIZED VIEW, FOREIGN TABLE or SEQUENCE makes (not a
// temporary one by its words; a view of a temporary relation is temporary all the same), and the
// partition an ALTER TABLE ... ATTACH PARTITION attaches, as PostgreSQL folds the name; nullopt for
// any other statement. `view` and `partition`, when given, say whether it makes a view, or a
// partition (CREATE TABLE ... PARTITION OF).
std::optional<RelationName> RelationMade(std::string_view statement, bool* view = nullptr, bool* partition = nullptr);
// The type a CREATE DOMAIN or CREATE TYPE makes (a domain over a temporary table's row type goes
// with the session), as PostgreSQL folds the name; nullopt for any other statement.
std::optional<RelationName> TypeMade(std::string_view statement);
// The routine a CREATE [OR REPLACE] FUNCTION or PROCEDURE makes (one of a temporary row type is
// made temporary), as PostgreSQL folds the name; nullopt for any other statement.
std::optional<RelationName> RoutineMade(std::string_view statement);
// For ALTER TABLE ... ADD [COLUMN] [IF NOT EXISTS] name ...: the table and the columns it adds, as
// PostgreSQL folds them; nullopt for any other statement (one adding no column too).
struct ColumnsAdded {
  RelationName table;
  std::vector<std::string> columns;
};
std::optional<ColumnsAdded> ColumnsAddedBy(std::string_view statement);
// True for a CREATE TABLE whose columns include LIKE another relation's (which may be temporary).
bool MakesTableLike(std::string_view statement);
std::optional<RelationName> PartitionAttached(std::string_view statement);
// The partition an ALTER TABLE ... DETACH PARTITION detaches (CONCURRENTLY or not); nullopt for any
// other statement.
std::optional<RelationName> PartitionDetached(std::string_view statement);

// True for statements that may leave a table without a replica identity: CREATE TABLE (of any
// form, SELECT INTO too, and in a CREATE SCHEMA), ALTER TABLE, DROP INDEX (not temporary ones by
// their words).
bool MayLeaveTableWithoutKey(std::string_view statement);

// A DROP of relations, types, schemas or routines without IF EXISTS, with it (after the object
// kind); nullopt for any other statement, or one that has it. What a DROP leaves (the object gone)
// is the same whether the object was there or not.
std::optional<std::string> DropIfExists(std::string_view statement);

// Session-level prepared statements: the name a PREPARE makes, a DEALLOCATE drops ("" for ALL),
// and a CREATE TABLE ... AS EXECUTE runs, as PostgreSQL folds it; nullopt for other statements.
std::optional<std::string> PreparedName(std::string_view statement);
std::optional<std::string> DeallocatedName(std::string_view statement);
std::optional<std::string> ExecutedName(std::string_view statement);

// What a statement may do to large objects, which are not in the logical stream, by what it names:
// `makes` one (a call of lo_create, lo_creat, lo_import or lo_from_bytea), `removes` some (a call of
// lo_unlink; DROP OWNED, which drops the roles' large objects). Calls inside strings, comments and
// quoted bodies (a DO block, a function's) are not seen.
struct LargeObjectCalls {
  bool makes = false;
  bool removes = false;
  bool any() const { return makes || removes; }
};
LargeObjectCalls LargeObjectsTouched(std::string_view statement);
// A quick test over the bytes of a query, before any lexing: false when no statement of it can
// touch large objects (no "lo_", no "owned", in any case).
bool MayTouchLargeObjects(std::string_view query);

// True for statements PostgreSQL refuses inside a transaction block (CREATE INDEX CONCURRENTLY,
// DROP INDEX CONCURRENTLY, REINDEX ... CONCURRENTLY, VACUUM, CREATE/DROP DATABASE, ...), which the
// proxy therefore cannot wrap with its own statement.
bool MustRunOutsideTransaction(std::string_view statement);

// For CREATE [UNIQUE] INDEX CONCURRENTLY and DROP INDEX CONCURRENTLY: the same statement without
// CONCURRENTLY, which makes or drops the same index inside a transaction (as restore replays it);
// nullopt for any other statement.
std::optional<std::string> IndexStatementWithoutConcurrently(std::string_view statement);
// ALTER TABLE ... DETACH PARTITION p CONCURRENTLY without CONCURRENTLY (which cannot run in a
// transaction block; replay runs it in one), and the partition as written; nullopt for any other
// statement.
struct Detach {
  std::string statement;
  std::string partition;
};
std::optional<Detach> DetachWithoutConcurrently(std::string_view statement);

}  // namespace pgpitr::proxy
