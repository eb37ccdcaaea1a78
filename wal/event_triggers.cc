#include "wal/event_triggers.h"

#include <algorithm>
#include <cctype>

#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "pg/stream_messages.h"

namespace pgpitr::wal {

namespace {

// sql_drop fires before ddl_command_end of the same statement: what it dropped waits in a
// transaction-local setting for the statement's one message.
constexpr const char* kRecordDrop = R"sql(
CREATE OR REPLACE FUNCTION _pgpitr.record_drop() RETURNS event_trigger LANGUAGE plpgsql AS $pgpitr$
BEGIN
  IF pg_catalog.current_setting('pgpitr.own_publication', true) = 'on' THEN
    RETURN;
  END IF;
  PERFORM pg_catalog.set_config('pgpitr.dropped', (
    SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
             'type', d.object_type, 'schema', d.schema_name, 'identity', d.object_identity,
             'relid', CASE WHEN d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid = 0
                           THEN d.objid::pg_catalog.int8 END,
             'original', d.original, 'normal', d.normal, 'temp', d.is_temporary)), '[]'::jsonb)::text
      FROM pg_catalog.pg_event_trigger_dropped_objects() d), true);
END
$pgpitr$)sql";

// table_rewrite fires before a statement rewrites a table. A rewrite for a default (a column added
// with a volatile default: random(), clock_timestamp(), serial, identity) gives every row there a
// value of its own that is not in the stream: the tables it does that to, when they have rows, wait
// in a transaction-local setting for the statement's message. (A subtransaction guards the look at
// the rows: it must never fail the statement; a table it cannot read counts as having rows.)
constexpr const char* kRecordRewrite = R"sql(
CREATE OR REPLACE FUNCTION _pgpitr.record_rewrite() RETURNS event_trigger LANGUAGE plpgsql AS $pgpitr$
DECLARE
  has_rows boolean := true;
  table_name text := (SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c
                        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                       WHERE c.oid = pg_catalog.pg_event_trigger_table_rewrite_oid());
BEGIN
  IF (pg_catalog.pg_event_trigger_table_rewrite_reason() & 2) = 0 THEN
    RETURN;
  END IF;
  -- Only a column made in this transaction (age <= 0) that takes a value of its own per row: an
  -- identity column, or a default (not a generated column: that is computed again from the row)
  -- that calls a volatile function.
  IF NOT EXISTS (
      SELECT FROM pg_catalog.pg_attribute a
        LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE a.attrelid = pg_catalog.pg_event_trigger_table_rewrite_oid() AND a.attnum > 0 AND NOT a.attisdropped
         AND pg_catalog.age(a.xmin) <= 0
         AND (a.attidentity <> '' OR (a.attgenerated = '' AND d.oid IS NOT NULL AND EXISTS (
               SELECT FROM pg_catalog.pg_proc p
                WHERE p.provolatile = 'v'
                  AND pg_catalog.strpos(pg_catalog.pg_get_expr(d.adbin, d.adrelid), p.proname || '(') > 0)))) THEN
    RETURN;
  END IF;
  BEGIN
    EXECUTE pg_catalog.format('SELECT EXISTS (SELECT FROM %s)', table_name) INTO has_rows;
  EXCEPTION WHEN OTHERS THEN
    has_rows := true;
  END;
  IF has_rows THEN
    PERFORM pg_catalog.set_config('pgpitr.rewritten', (COALESCE(NULLIF(
      pg_catalog.current_setting('pgpitr.rewritten', true), '')::jsonb, '[]'::jsonb)
      || pg_catalog.jsonb_build_array(table_name))::text, true);
  END IF;
END
$pgpitr$)sql";

constexpr const char* kHasReplicaIdentity = pg::kHasReplicaIdentitySql;
constexpr const char* kPublishedTable = pg::kPublishedTableSql;

// With pgpitr's publications in two (wal/source.h): the keyed publication, which publishes UPDATE
// and DELETE, holds exactly the tables with a replica identity, so that the application's UPDATE
// and DELETE on a table without one never fail. Run by the schema-change trigger in the statement's
// transaction (as the superuser that installed it: adding a table to a publication needs its
// owner); returns the published tables not in its list ("schema.table": those without one, and any
// it could not add), whose UPDATE and DELETE are not captured, or NULL when the publication is not
// in two. It never fails the statement.
constexpr const char* kKeepKeyedPublication = R"sql(
CREATE OR REPLACE FUNCTION _pgpitr.keep_keyed_publication() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $pgpitr$
DECLARE
  keyed_publication oid := (SELECT p.oid FROM pg_catalog.pg_publication p WHERE p.pubname = %KEYED_LITERAL%);
  t record;
BEGIN
  IF keyed_publication IS NULL THEN
    RETURN NULL;
  END IF;
  -- (Its own ALTER PUBLICATION is no schema change of the database's.)
  PERFORM pg_catalog.set_config('pgpitr.own_publication', 'on', true);
  FOR t IN
    SELECT n.nspname, c.relname, %HAS_IDENTITY% AS keyed,
           EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel r
                    WHERE r.prpubid = keyed_publication AND r.prrelid = c.oid) AS listed
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE %PUBLISHED%
  LOOP
    -- Never failing the statement (a lock_timeout at the publication's lock, a deadlock): a table
    -- left out of the list is returned below, and named by restores.
    BEGIN
      IF t.keyed AND NOT t.listed THEN
        EXECUTE pg_catalog.format('ALTER PUBLICATION %I ADD TABLE ONLY %I.%I', %KEYED_LITERAL%, t.nspname, t.relname);
      ELSIF t.listed AND NOT t.keyed THEN
        EXECUTE pg_catalog.format('ALTER PUBLICATION %I DROP TABLE ONLY %I.%I', %KEYED_LITERAL%, t.nspname, t.relname);
      END IF;
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'pgpitr could not keep %.% in publication %: %', t.nspname, t.relname, %KEYED_LITERAL%, SQLERRM;
    END;
  END LOOP;
  PERFORM pg_catalog.set_config('pgpitr.own_publication', '', true);
  -- The tables whose UPDATE and DELETE capture does not have: those not in the list.
  RETURN (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.format('%I.%I', n.nspname, c.relname) ORDER BY 1),
                          '[]'::jsonb)
            FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           WHERE %PUBLISHED% AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel r
                              WHERE r.prpubid = keyed_publication AND r.prrelid = c.oid));
END
$pgpitr$)sql";

// PostgreSQL refuses ALTER TABLE ... SET UNLOGGED of a table listed in a publication (the keyed
// one lists tables by name; FOR ALL TABLES does not): before such a statement, the tables of the
// keyed publication its text names leave it; ddl_command_end puts back those still logged, in the
// same transaction, before any row of theirs changes.
constexpr const char* kBeforeDdl = R"sql(
CREATE OR REPLACE FUNCTION _pgpitr.before_ddl() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $pgpitr$
DECLARE
  t record;
  query text := pg_catalog.lower(pg_catalog.current_query());
BEGIN
  IF TG_TAG <> 'ALTER TABLE' OR query !~ 'unlogged' THEN
    RETURN;
  END IF;
  PERFORM pg_catalog.set_config('pgpitr.own_publication', 'on', true);
  FOR t IN
    SELECT n.nspname, c.relname
      FROM pg_catalog.pg_publication p
      JOIN pg_catalog.pg_publication_rel r ON r.prpubid = p.oid
      JOIN pg_catalog.pg_class c ON c.oid = r.prrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE p.pubname = %KEYED_LITERAL% AND pg_catalog.strpos(query, pg_catalog.lower(c.relname)) > 0
  LOOP
    EXECUTE pg_catalog.format('ALTER PUBLICATION %I DROP TABLE ONLY %I.%I', %KEYED_LITERAL%, t.nspname, t.relname);
  END LOOP;
  PERFORM pg_catalog.set_config('pgpitr.own_publication', '', true);
END
$pgpitr$)sql";

// One message per statement: its text (the top-level query: a statement inside a function or DO
// block shows the call), the session state that shapes how it parses and what it makes, the roles
// that existed (a GRANT or an owner names them; roles are not in the database's dumps), what it
// created or changed (temporary: in pg_temp, or a trigger, rule, policy, constraint, default or
// statistics object of a temporary table), and what it dropped. A table made from
// a query also gives its columns: its rows are in the stream, so restore makes it empty.
constexpr const char* kRecordDdl = R"sql(
CREATE OR REPLACE FUNCTION _pgpitr.record_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $pgpitr$
DECLARE
  dropped text := pg_catalog.current_setting('pgpitr.dropped', true);
  rewritten text := pg_catalog.current_setting('pgpitr.rewritten', true);
  -- Set while this function gives a table REPLICA IDENTITY FULL itself: the statement it runs.
  own_statement text := NULLIF(pg_catalog.current_setting('pgpitr.identity_statement', true), '');
  commands jsonb;
  missing record;
  detached_checks jsonb;
  detached pg_catalog.regclass;
  -- The published tables without a replica identity (publications in two only).
  keyless jsonb;
  -- The rows of tables a volatile default gave values of their own, as text, by table.
  rewritten_rows jsonb := '{}'::jsonb;
  rewritten_table text;
  row_texts text[];
  saved_datestyle text;
  saved_intervalstyle text;
  saved_float_digits text;
BEGIN
  IF pg_catalog.current_setting('pgpitr.own_publication', true) = 'on' THEN
    RETURN;
  END IF;
  -- DETACH PARTITION ... CONCURRENTLY may add a CHECK constraint to the partition, or not (when one
  -- it has implies it), in a transaction of its own before this one: the partition's CHECK
  -- constraints now, so that a plain detach can be followed by the same. The partition's name is
  -- read from the statement's text (an identifier, quoted or not, optionally schema-qualified):
  -- guarded, since a name it misreads must not fail the statement; one it cannot resolve (to_regclass
  -- gives NULL from PostgreSQL 16 on, an error before) records nothing, and replay derives the
  -- constraint from the partition's bound instead.
  IF TG_TAG = 'ALTER TABLE' AND pg_catalog.current_query() ~* 'detach\s+partition' THEN
    BEGIN
      detached := pg_catalog.to_regclass(pg_catalog.substring(pg_catalog.current_query(),
        '(?i)detach\s+partition\s+((?:"(?:[^"]|"")+"|[^\s;."]+)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[^\s;."]+))?)'));
      IF detached IS NOT NULL THEN
        SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(
                 pg_catalog.format('%I.%I', n.nspname, t.relname), k.conname, pg_catalog.pg_get_constraintdef(k.oid))
                 ORDER BY k.conname), '[]'::jsonb)
          INTO detached_checks
          FROM pg_catalog.pg_constraint k
          JOIN pg_catalog.pg_class t ON t.oid = k.conrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
         WHERE k.contype = 'c' AND t.oid = detached;
      END IF;
    EXCEPTION WHEN OTHERS THEN
      detached_checks := NULL;
    END;
  END IF;
  SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'tag', c.command_tag, 'type', c.object_type, 'schema', c.schema_name,
           'identity', c.object_identity, 'in_extension', c.in_extension,
           'relid', CASE WHEN c.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.objsubid = 0
                         THEN c.objid::pg_catalog.int8 END,
           'temp', COALESCE(c.schema_name = 'pg_temp', false) OR COALESCE((
              SELECT t.relpersistence = 't' FROM pg_catalog.pg_class t WHERE t.oid = CASE c.classid
                WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN c.objid
                WHEN 'pg_catalog.pg_trigger'::pg_catalog.regclass THEN
                  (SELECT x.tgrelid FROM pg_catalog.pg_trigger x WHERE x.oid = c.objid)
                WHEN 'pg_catalog.pg_constraint'::pg_catalog.regclass THEN
                  (SELECT x.conrelid FROM pg_catalog.pg_constraint x WHERE x.oid = c.objid)
                WHEN 'pg_catalog.pg_rewrite'::pg_catalog.regclass THEN
                  (SELECT x.ev_class FROM pg_catalog.pg_rewrite x WHERE x.oid = c.objid)
                WHEN 'pg_catalog.pg_policy'::pg_catalog.regclass THEN
                  (SELECT x.polrelid FROM pg_catalog.pg_policy x WHERE x.oid = c.objid)
                WHEN 'pg_catalog.pg_attrdef'::pg_catalog.regclass THEN
                  (SELECT x.adrelid FROM pg_catalog.pg_attrdef x WHERE x.oid = c.objid)
                WHEN 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass THEN
                  (SELECT x.stxrelid FROM pg_catalog.pg_statistic_ext x WHERE x.oid = c.objid)
              END), false)
           -- or made of the session's temporary types or relations (a function of a temporary row
           -- type, a domain over one): dropped with them when the session ends.
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep
                        LEFT JOIN pg_catalog.pg_type dt
                               ON dep.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass AND dt.oid = dep.refobjid
                        LEFT JOIN pg_catalog.pg_class dc
                               ON dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND dc.oid = dep.refobjid
                       WHERE dep.classid = c.classid AND dep.objid = c.objid AND dep.deptype = 'n'
                         AND pg_catalog.pg_my_temp_schema() <> 0
                         AND (dt.typnamespace = pg_catalog.pg_my_temp_schema()
                              OR dc.relnamespace = pg_catalog.pg_my_temp_schema())),
           'persistence', r.relpersistence,
           -- A comment's effect (a COMMENT inside a function has no statement of its own to replay).
           'comment', CASE WHEN c.command_tag = 'COMMENT' THEN (
              SELECT pg_catalog.jsonb_build_array(d.description) FROM pg_catalog.pg_description d
               WHERE d.objoid = c.objid AND d.classoid = c.classid AND d.objsubid = c.objsubid) END,
           -- (And of a table made while the session has temporary ones: it may be LIKE one of them.)
           'columns', CASE WHEN r.relkind = 'r' AND (c.command_tag IN ('CREATE TABLE AS', 'SELECT INTO') OR
                                (c.command_tag = 'CREATE TABLE' AND pg_catalog.pg_my_temp_schema() <> 0)) THEN (
              SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(
                       a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
                       CASE WHEN a.attcollation <> t.typcollation
                            THEN pg_catalog.format('%I.%I', cn.nspname, co.collname) END, a.attnotnull,
                       -- PostgreSQL 18 names NOT NULL constraints (LIKE copies the other table's name).
                       (SELECT k.conname FROM pg_catalog.pg_constraint k
                         WHERE k.conrelid = c.objid AND k.contype = 'n' AND k.conkey[1] = a.attnum))
                       ORDER BY a.attnum)
                FROM pg_catalog.pg_attribute a
                JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
                LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
                LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
               WHERE a.attrelid = c.objid AND a.attnum > 0 AND NOT a.attisdropped) END)
           ORDER BY c.ordinality), '[]'::jsonb)
    INTO commands
    FROM pg_catalog.pg_event_trigger_ddl_commands() WITH ORDINALITY c
    LEFT JOIN pg_catalog.pg_class r ON c.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND r.oid = c.objid;
  IF dropped IS NOT NULL AND dropped <> '' THEN
    PERFORM pg_catalog.set_config('pgpitr.dropped', '', true);
  END IF;
  IF rewritten IS NOT NULL AND rewritten <> '' THEN
    PERFORM pg_catalog.set_config('pgpitr.rewritten', '', true);
  END IF;
  -- A table a volatile default (random(), an identity column) gave values of its own, row by row,
  -- that are not in the stream: its rows as they are now, when it is small enough (64 MiB), so
  -- that replay can put the same. Read in a guarded block (it must never fail the statement),
  -- printed with settings that read back exactly.
  IF rewritten IS NOT NULL AND rewritten <> '' THEN
    saved_datestyle := pg_catalog.current_setting('DateStyle');
    saved_intervalstyle := pg_catalog.current_setting('IntervalStyle');
    saved_float_digits := pg_catalog.current_setting('extra_float_digits');
    PERFORM pg_catalog.set_config('DateStyle', 'ISO, YMD', true), pg_catalog.set_config('IntervalStyle', 'postgres', true),
            pg_catalog.set_config('extra_float_digits', '3', true);
    FOR rewritten_table IN SELECT pg_catalog.jsonb_array_elements_text(rewritten::jsonb) LOOP
      BEGIN
        IF pg_catalog.pg_total_relation_size(rewritten_table::pg_catalog.regclass) <= 67108864 THEN
          EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(x::text) FROM ONLY %s x', rewritten_table)
            INTO row_texts;
          rewritten_rows := rewritten_rows || pg_catalog.jsonb_build_object(
            rewritten_table, pg_catalog.to_jsonb(COALESCE(row_texts, '{}'::text[])));
        END IF;
      EXCEPTION WHEN OTHERS THEN
        NULL;
      END;
    END LOOP;
    PERFORM pg_catalog.set_config('DateStyle', saved_datestyle, true),
            pg_catalog.set_config('IntervalStyle', saved_intervalstyle, true),
            pg_catalog.set_config('extra_float_digits', saved_float_digits, true);
  END IF;
  -- The keyed publication follows the statement (with --set-replica-identity-full, after the
  -- tables left without an identity got one, below).
  IF NOT %IDENTITY_FULL% OR own_statement IS NOT NULL THEN
    keyless := _pgpitr.keep_keyed_publication();
  END IF;
  -- A sidecar never makes the application's statement fail: where the message cannot be written
  -- it warns instead. (No EXCEPTION block: a message written in a subtransaction is decoded after
  -- the parent's next change when their LSNs meet, away from its place.)
  -- Looked up by name, not signature: PostgreSQL 17 added a fourth argument (flush, defaulted).
  IF pg_catalog.current_setting('wal_level') <> 'logical' OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
       WHERE p.proname = 'pg_logical_emit_message' AND p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace
         AND p.proargtypes[2] = 'pg_catalog.text'::pg_catalog.regtype
         AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE')) THEN
    RAISE WARNING 'pgpitr cannot record this schema change (wal_level is not logical, or this role may not call pg_logical_emit_message)';
    RETURN;
  END IF;
  PERFORM pg_catalog.pg_logical_emit_message(true, '%PREFIX%', pg_catalog.jsonb_build_object(
    'tag', TG_TAG,
    'query', COALESCE(own_statement, pg_catalog.current_query()),
    -- pgpitr's own statement (--set-replica-identity-full), not the application's.
    'identity_full', own_statement IS NOT NULL,
    'statement_start', pg_catalog.statement_timestamp(),
    'backend', pg_catalog.pg_backend_pid(),
    'role', current_user,
    -- What the role may do (a role the restore target lacks is made with the same).
    'role_attributes', %ROLE_ATTRIBUTES%,
    'roles', (SELECT pg_catalog.jsonb_agg(r.rolname ORDER BY r.rolname) FROM pg_catalog.pg_roles r
               WHERE r.rolname !~ '^pg_'),
    -- Which role is a member of which (a statement run as one role may need another's rights).
    'memberships', %MEMBERSHIPS%,
    -- The database's own privileges (GRANT CREATE ON DATABASE is no schema change, and a
    -- statement may need it), but for its owner's.
    'database_privileges', %DATABASE_PRIVILEGES%,
    'search_path', pg_catalog.current_setting('search_path'),
    -- A GRANT does not say what it granted on: the session's temporary relations tell which names were theirs.
    'temp_relations', CASE WHEN TG_TAG IN ('GRANT', 'REVOKE', 'CREATE TABLE') AND pg_catalog.pg_my_temp_schema() <> 0 THEN
       (SELECT pg_catalog.jsonb_agg(t.relname) FROM pg_catalog.pg_class t
         WHERE t.relnamespace = pg_catalog.pg_my_temp_schema()) END,
    'settings', %SESSION_SETTINGS%,
    'commands', commands,
    -- Their UPDATE and DELETE are not in the stream: a restore names them.
    'keyless', keyless,
    -- A column added with a default that is not a constant (now(), a stable function) keeps, for
    -- the rows already there, the value it had then (attmissingval): replay gives them the same.
    -- (Of the tables it changed and their partitions and children, which it changed too.)
    'missing_values', CASE WHEN TG_TAG = 'ALTER TABLE' THEN (
       WITH RECURSIVE touched(oid) AS (
         SELECT c.objid FROM pg_catalog.pg_event_trigger_ddl_commands() c
          WHERE c.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
         UNION
         SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN touched ON i.inhparent = touched.oid)
       SELECT pg_catalog.jsonb_agg(DISTINCT pg_catalog.jsonb_build_array(
                pg_catalog.format('%I.%I', n.nspname, t.relname), a.attname, a.attmissingval::text))
         FROM touched
         JOIN pg_catalog.pg_class t ON t.oid = touched.oid
         JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
         JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.atthasmissing AND NOT a.attisdropped
        WHERE t.relkind = 'r') END,
    -- A partition's bound as the source computed it (one given by an expression, now() + ..., was
    -- evaluated once, when the partition was made): replay puts the same.
    'partition_bounds', CASE WHEN TG_TAG IN ('CREATE TABLE', 'ALTER TABLE') THEN (
       SELECT pg_catalog.jsonb_agg(DISTINCT pg_catalog.jsonb_build_array(
                pg_catalog.format('%I.%I', n.nspname, t.relname), pg_catalog.format('%I.%I', pn.nspname, p.relname),
                pg_catalog.pg_get_expr(t.relpartbound, t.oid)))
         FROM pg_catalog.pg_event_trigger_ddl_commands() c
         JOIN pg_catalog.pg_class t ON c.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND t.oid = c.objid
         JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
         JOIN pg_catalog.pg_inherits i ON i.inhrelid = t.oid
         JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
         JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
        WHERE t.relispartition AND t.relpersistence <> 't') END,
    -- (See detached_checks above.)
    'detached_checks', detached_checks,
    'rewritten_with_new_values', COALESCE(NULLIF(rewritten, '')::jsonb, '[]'::jsonb),
    'rewritten_rows', rewritten_rows,
    -- Whether large objects remain (they are not in the stream): a DROP OWNED may have dropped the last.
    'large_objects', EXISTS (SELECT FROM pg_catalog.pg_largeobject_metadata),
    'dropped', COALESCE(NULLIF(dropped, '')::jsonb, '[]'::jsonb))::text);
  -- With --set-replica-identity-full: no published table is left without a replica identity by
  -- this statement (its UPDATE and DELETE would fail while published). The change is a schema
  -- change of its own, recorded (above, in the nested call) like any other.
  IF %IDENTITY_FULL% AND own_statement IS NULL THEN
    FOR missing IN
      SELECT n.nspname, c.relname FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p'
         AND n.nspname NOT IN ('pg_catalog', 'information_schema', '_pgpitr') AND n.nspname !~ '^pg_'
         AND NOT %HAS_IDENTITY%
    LOOP
      own_statement := pg_catalog.format('ALTER TABLE %I.%I REPLICA IDENTITY FULL', missing.nspname, missing.relname);
      BEGIN
        PERFORM pg_catalog.set_config('pgpitr.identity_statement', own_statement, true);
        EXECUTE own_statement;
        PERFORM pg_catalog.set_config('pgpitr.identity_statement', '', true);
      EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'pgpitr could not set REPLICA IDENTITY FULL on %.%: %', missing.nspname, missing.relname, SQLERRM;
      END;
    END LOOP;
    -- Tables still without one (the statement above failed) are named in a message of their own.
    keyless := _pgpitr.keep_keyed_publication();
    IF keyless IS NOT NULL AND keyless <> '[]'::jsonb THEN
      PERFORM pg_catalog.pg_logical_emit_message(true, '%PREFIX%', pg_catalog.jsonb_build_object(
        'tag', TG_TAG, 'query', pg_catalog.current_query(), 'role', current_user,
        'search_path', pg_catalog.current_setting('search_path'), 'settings', '{}'::jsonb,
        'commands', '[]'::jsonb, 'dropped', '[]'::jsonb, 'keyless', keyless)::text);
    END IF;
  END IF;
END
$pgpitr$)sql";

// The function's text with its placeholders filled in.
std::string Fill(std::string sql, const std::vector<std::pair<std::string, std::string>>& values) {
  for (const auto& [key, value] : values) {
    for (size_t at = sql.find(key); at != std::string::npos; at = sql.find(key, at + value.size())) {
      sql.replace(at, key.size(), value);
    }
  }
  return sql;
}

}  // namespace

absl::StatusOr<DdlRecording> InstallEventTriggers(pg::Connection& conn, const std::string& keyed_publication,
                                                  bool identity_full) {
  absl::StatusOr<pg::Result> super =
      conn.Query("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user");
  if (!super.ok()) return super.status();
  // Only a superuser may create event triggers (PostgreSQL 15 to 17).
  if (super->rows() != 1 || super->GetString(0, 0) != "t") return DdlRecording::kProxyOnly;
  const std::string install = fmt::format(
      "BEGIN;"
      "SET LOCAL client_min_messages = warning;"
      // No trigger of ours fires while its own functions are replaced.
      "DROP EVENT TRIGGER IF EXISTS {drop_trigger};"
      "DROP EVENT TRIGGER IF EXISTS {end_trigger};"
      "DROP EVENT TRIGGER IF EXISTS {rewrite_trigger};"
      "DROP EVENT TRIGGER IF EXISTS {start_trigger};"
      "CREATE SCHEMA IF NOT EXISTS {schema};"
      "REVOKE ALL ON SCHEMA {schema} FROM PUBLIC;"
      "GRANT USAGE ON SCHEMA {schema} TO PUBLIC;"
      "{drop};"
      "{keep};"
      "{before};"
      "{ddl};"
      "{rewrite};"
      "CREATE EVENT TRIGGER {drop_trigger} ON sql_drop EXECUTE FUNCTION {schema}.record_drop();"
      "CREATE EVENT TRIGGER {rewrite_trigger} ON table_rewrite EXECUTE FUNCTION {schema}.record_rewrite();"
      "CREATE EVENT TRIGGER {end_trigger} ON ddl_command_end EXECUTE FUNCTION {schema}.record_ddl();"
      "CREATE EVENT TRIGGER {start_trigger} ON ddl_command_start EXECUTE FUNCTION {schema}.before_ddl();"
      // They fire under session_replication_role = replica too (bulk loads, other replication tools).
      "ALTER EVENT TRIGGER {drop_trigger} ENABLE ALWAYS;"
      "ALTER EVENT TRIGGER {end_trigger} ENABLE ALWAYS;"
      "ALTER EVENT TRIGGER {rewrite_trigger} ENABLE ALWAYS;"
      "ALTER EVENT TRIGGER {start_trigger} ENABLE ALWAYS;"
      "COMMIT;",
      fmt::arg("schema", pg::kEventTriggerSchema), fmt::arg("drop", kRecordDrop),
      fmt::arg("keep", Fill(kKeepKeyedPublication, {{"%KEYED_LITERAL%", pg::QuoteLiteral(keyed_publication)},
                                                    {"%HAS_IDENTITY%", kHasReplicaIdentity},
                                                    {"%PUBLISHED%", kPublishedTable}})),
      fmt::arg("ddl", Fill(kRecordDdl, {{"%PREFIX%", pg::kDdlEventMessagePrefix},
                                        {"%IDENTITY_FULL%", identity_full ? "true" : "false"},
                                        {"%HAS_IDENTITY%", kHasReplicaIdentity},
                                        {"%SESSION_SETTINGS%", pg::kSessionSettingsSql},
                                        {"%ROLE_ATTRIBUTES%", pg::kRoleAttributesSql},
                                        {"%MEMBERSHIPS%", pg::kMembershipsSql},
                                        {"%DATABASE_PRIVILEGES%", pg::kDatabasePrivilegesSql}})),
      fmt::arg("rewrite", kRecordRewrite), fmt::arg("drop_trigger", pg::kSqlDropTrigger),
      fmt::arg("end_trigger", pg::kDdlEndTrigger), fmt::arg("rewrite_trigger", pg::kTableRewriteTrigger),
      fmt::arg("start_trigger", pg::kDdlStartTrigger),
      fmt::arg("before", Fill(kBeforeDdl, {{"%KEYED_LITERAL%", pg::QuoteLiteral(keyed_publication)}})));
  if (absl::Status s = conn.Execute(install); !s.ok()) {
    (void)conn.Execute("ROLLBACK");
    return s;
  }
  return DdlRecording::kEventTriggers;
}

std::string_view HasReplicaIdentityCondition() { return kHasReplicaIdentity; }
std::string_view PublishedTableCondition() { return kPublishedTable; }

absl::StatusOr<DdlRecording> RemoveEventTriggers(pg::Connection& conn) {
  absl::StatusOr<pg::Result> present =
      conn.Query("SELECT count(*) FROM pg_catalog.pg_event_trigger WHERE evtname IN ($1, $2, $3, $4)",
                 {pg::kDdlEndTrigger, pg::kSqlDropTrigger, pg::kTableRewriteTrigger, pg::kDdlStartTrigger});
  if (!present.ok()) return present.status();
  if (present->GetString(0, 0) == "0") return DdlRecording::kProxyOnly;
  if (absl::Status s = conn.Execute(fmt::format(
          "BEGIN; SET LOCAL client_min_messages = warning; DROP EVENT TRIGGER IF EXISTS {}; "
          "DROP EVENT TRIGGER IF EXISTS {}; DROP EVENT TRIGGER IF EXISTS {}; DROP EVENT TRIGGER IF EXISTS {}; "
          "DROP SCHEMA IF EXISTS {} CASCADE; COMMIT",
          pg::kDdlEndTrigger, pg::kSqlDropTrigger, pg::kTableRewriteTrigger, pg::kDdlStartTrigger,
          pg::kEventTriggerSchema));
      !s.ok()) {
    (void)conn.Execute("ROLLBACK");
    return s;
  }
  return DdlRecording::kProxyOnly;
}

std::vector<uint32_t> DroppedRelations(std::string_view message) {
  std::vector<uint32_t> out;
  const nlohmann::json e = nlohmann::json::parse(message, nullptr, /*allow_exceptions=*/false);
  if (!e.is_object() || !e.contains("dropped") || !e["dropped"].is_array()) return out;
  for (const nlohmann::json& d : e["dropped"]) {
    if (d.is_object() && d.contains("relid") && d["relid"].is_number_unsigned()) {
      out.push_back(d["relid"].get<uint32_t>());
    }
  }
  return out;
}

namespace {

// A statement as its words: lower case, comments left out, each run of blanks one space, no
// trailing semicolon.
std::string Words(std::string_view sql) {
  std::string out;
  bool blank = false;
  size_t i = 0;
  while (i < sql.size()) {
    if (sql.compare(i, 2, "--") == 0 || sql.compare(i, 2, "/*") == 0) {
      const bool line = sql[i] == '-';
      const size_t end = sql.find(line ? "\n" : "*/", i + 2);
      i = end == std::string_view::npos ? sql.size() : end + (line ? 1 : 2);
      blank = true;
      continue;
    }
    const auto c = static_cast<unsigned char>(sql[i++]);
    if (std::isspace(c) != 0) {
      blank = true;
      continue;
    }
    if (blank && !out.empty()) out += ' ';
    blank = false;
    out += static_cast<char>(std::tolower(c));
  }
  while (!out.empty() && (out.back() == ';' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

namespace {

bool OnlyLargeObjectsIn(std::string_view prefix, const nlohmann::json& e) {
  if (!e.is_object()) return false;
  if (prefix == pg::kDdlEventMessagePrefix) {
    // What the trigger reported: every command on a large object (GRANT says so in capitals), and
    // nothing dropped.
    if (!e.contains("commands") || !e["commands"].is_array() || e["commands"].empty()) return false;
    if (e.contains("dropped") && (!e["dropped"].is_array() || !e["dropped"].empty())) return false;
    for (const nlohmann::json& c : e["commands"]) {
      if (!c.is_object() || !c.contains("type") || !c["type"].is_string()) return false;
      std::string type = c["type"].get<std::string>();
      for (char& ch : type) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (type != "large object") return false;
    }
    return true;
  }
  if (prefix == pg::kDdlMessagePrefix) {
    // The proxy's message holds the statement only.
    if (!e.contains("sql") || !e["sql"].is_string()) return false;
    // GRANT, REVOKE and SECURITY LABEL name the kind of object just after their first ON.
    const std::string words = Words(e["sql"].get<std::string>());
    if (words.starts_with("grant ") || words.starts_with("revoke ") || words.starts_with("security label ")) {
      const size_t on = words.find(" on ");
      return on != std::string::npos && words.compare(on, 17, " on large object ") == 0;
    }
    return words.starts_with("alter large object ") || words.starts_with("comment on large object ");
  }
  return false;
}

}  // namespace

bool OnlyLargeObjects(std::string_view prefix, std::string_view content) {
  return OnlyLargeObjectsIn(prefix, nlohmann::json::parse(content, nullptr, /*allow_exceptions=*/false));
}

std::optional<bool> LargeObjectsAfter(std::string_view prefix, std::string_view content) {
  const nlohmann::json e = nlohmann::json::parse(content, nullptr, /*allow_exceptions=*/false);
  if (OnlyLargeObjectsIn(prefix, e)) return true;
  if (prefix != pg::kDdlEventMessagePrefix || !e.contains("large_objects") || !e["large_objects"].is_boolean()) {
    return std::nullopt;
  }
  return e["large_objects"].get<bool>();
}

bool IsEventTriggerObject(std::string_view dump_desc, std::string_view name) {
  if (dump_desc == "EVENT TRIGGER") {
    return name == pg::kDdlEndTrigger || name == pg::kSqlDropTrigger || name == pg::kTableRewriteTrigger ||
           name == pg::kDdlStartTrigger;
  }
  if (dump_desc == "SCHEMA") return name == pg::kEventTriggerSchema;
  return false;
}

}  // namespace pgpitr::wal
