#include "embedded/fingerprint.h"

#include "fmt/format.h"

namespace pgpitr::embedded {

std::string Fingerprint::ToString() const {
  std::string out;
  for (const auto& [table, hash] : tables) out += fmt::format("{}={} ", table, hash);
  return out;
}

absl::StatusOr<Fingerprint> TakeFingerprint(pg::Connection& conn) {
  // Printing rows in one fixed style keeps the fingerprint independent of session settings.
  if (absl::Status s = conn.Execute("SET datestyle = ISO; SET timezone = 'UTC'; SET extra_float_digits = 3;"
                                    " SET intervalstyle = postgres");
      !s.ok()) {
    return s;
  }
  absl::StatusOr<pg::Result> tables = conn.Query(
      "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
      "AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1");
  if (!tables.ok()) return tables.status();
  Fingerprint f;
  for (int i = 0; i < tables->rows(); ++i) {
    const std::string table = tables->GetString(i, 0);
    absl::StatusOr<pg::Result> hash =
        conn.Query(fmt::format("SELECT count(*), coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '') "
                               "FROM (SELECT t::text AS r FROM ONLY {} t) rows",
                               table));
    if (!hash.ok()) return hash.status();
    f.tables[table] = hash->GetString(0, 0) + ":" + hash->GetString(0, 1);
    absl::StatusOr<pg::Result> columns = conn.Query(
        "SELECT string_agg(format('%I %s', attname, format_type(atttypid, atttypmod)), ', ' ORDER BY attnum) "
        "FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
        {table});
    if (!columns.ok()) return columns.status();
    f.columns[table] = columns->GetString(0, 0);
  }
  return f;
}

absl::StatusOr<std::string> DescribeSchema(pg::Connection& conn) {
  absl::StatusOr<pg::Result> lines = conn.Query(R"sql(
WITH ns AS (SELECT oid, nspname FROM pg_namespace
            WHERE nspname NOT IN ('pg_catalog', 'information_schema', '_pgpitr') AND nspname NOT LIKE 'pg\_%'),
rel AS (SELECT c.* FROM pg_class c JOIN ns ON ns.oid = c.relnamespace)
SELECT line FROM (
  SELECT format('schema %I owner %s acl %s comment %s', nspname, pg_get_userbyid(n.nspowner), n.nspacl,
                obj_description(n.oid, 'pg_namespace')) AS line
    FROM pg_namespace n WHERE n.oid IN (SELECT oid FROM ns)
  UNION ALL SELECT format('relation %s kind %s owner %s acl %s persistence %s identity %s options %s bound %s key %s '
                          'comment %s', c.oid::regclass, c.relkind, pg_get_userbyid(c.relowner), c.relacl,
                          c.relpersistence, c.relreplident, c.reloptions, pg_get_expr(c.relpartbound, c.oid),
                          CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END, obj_description(c.oid, 'pg_class'))
    FROM rel c WHERE c.relkind <> 'i'
  UNION ALL SELECT format('column %s.%I %s notnull %s default %s identity %s generated %s collation %s acl %s comment %s',
                          a.attrelid::regclass, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                          pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
                          CASE WHEN a.attcollation <> 0 THEN a.attcollation::regcollation::text END, a.attacl,
                          col_description(a.attrelid, a.attnum))
    FROM pg_attribute a JOIN rel c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind <> 'i'
  UNION ALL SELECT format('constraint %s %I %s', coalesce(co.conrelid::regclass::text, co.contypid::regtype::text),
                          co.conname, pg_get_constraintdef(co.oid))
    FROM pg_constraint co JOIN ns ON ns.oid = co.connamespace
  UNION ALL SELECT format('index %s', pg_get_indexdef(c.oid)) FROM rel c WHERE c.relkind = 'i'
  UNION ALL SELECT format('view %s %s', c.oid::regclass, pg_get_viewdef(c.oid)) FROM rel c WHERE c.relkind IN ('v', 'm')
  UNION ALL SELECT format('trigger %s enabled %s', pg_get_triggerdef(t.oid), t.tgenabled)
    FROM pg_trigger t JOIN rel c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal
  UNION ALL SELECT format('rule %s', pg_get_ruledef(r.oid)) FROM pg_rewrite r JOIN rel c ON c.oid = r.ev_class
    WHERE r.rulename <> '_RETURN'
  UNION ALL SELECT format('policy %s %I %s %s %s %s %s', p.polrelid::regclass, p.polname, p.polcmd, p.polpermissive,
                          p.polroles::regrole[], pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
    FROM pg_policy p JOIN rel c ON c.oid = p.polrelid
  UNION ALL SELECT format('function %s owner %s acl %s %s', p.oid::regprocedure, pg_get_userbyid(p.proowner), p.proacl,
                          CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) ELSE p.prokind::text END)
    FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
  UNION ALL SELECT format('type %s kind %s owner %s acl %s base %s labels %s', t.oid::regtype, t.typtype,
                          pg_get_userbyid(t.typowner), t.typacl,
                          CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
                          (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e
                            WHERE e.enumtypid = t.oid))
    FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
    WHERE t.typtype IN ('e', 'd', 'r', 'm', 'b') AND t.typelem = 0 OR t.typtype = 'c' AND
      (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'
  UNION ALL SELECT format('sequence %s %s start %s by %s min %s max %s cache %s cycle %s', s.seqrelid::regclass,
                          format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache,
                          s.seqcycle)
    FROM pg_sequence s JOIN rel c ON c.oid = s.seqrelid
  UNION ALL SELECT format('extension %I', extname) FROM pg_extension
  UNION ALL SELECT format('default privileges %s %s %s %s', pg_get_userbyid(d.defaclrole), d.defaclnamespace::regnamespace,
                          d.defaclobjtype, d.defaclacl) FROM pg_default_acl d
) lines ORDER BY line)sql");
  if (!lines.ok()) return lines.status();
  std::string out;
  for (int i = 0; i < lines->rows(); ++i) out += lines->GetString(i, 0) + "\n";
  return out;
}

std::string DescribeDifference(const Fingerprint& expected, const Fingerprint& actual) {
  std::string out;
  for (const auto& [table, hash] : expected.tables) {
    auto it = actual.tables.find(table);
    if (it == actual.tables.end())
      out += fmt::format("{} missing; ", table);
    else if (it->second != hash)
      out += fmt::format("{} differs ({} vs {}); ", table, hash, it->second);
  }
  for (const auto& [table, columns] : expected.columns) {
    auto it = actual.columns.find(table);
    if (it != actual.columns.end() && it->second != columns) {
      out += fmt::format("{} has columns ({}) instead of ({}); ", table, it->second, columns);
    }
  }
  for (const auto& [table, hash] : actual.tables) {
    if (!expected.tables.contains(table)) out += fmt::format("{} unexpected; ", table);
  }
  return out.empty() ? "identical" : out;
}

}  // namespace pgpitr::embedded
