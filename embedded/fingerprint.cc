#include "embedded/fingerprint.h"

#include "fmt/format.h"

namespace pgpitr::embedded {

std::string Fingerprint::ToString() const {
  std::string out;
  for (const auto& [table, hash] : tables) out += fmt::format("{}={} ", table, hash);
  return out;
}

absl::StatusOr<Fingerprint> TakeFingerprint(wal::PgConnection& conn) {
  // Printing rows in one fixed style keeps the fingerprint independent of session settings.
  if (absl::Status s = conn.Execute("SET datestyle = ISO; SET timezone = 'UTC'; SET extra_float_digits = 3;"
                                    " SET intervalstyle = postgres");
      !s.ok()) {
    return s;
  }
  absl::StatusOr<wal::PgResult> tables = conn.Query(
      "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
      "AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1");
  if (!tables.ok()) return tables.status();
  Fingerprint f;
  for (int i = 0; i < tables->rows(); ++i) {
    const std::string table = tables->GetString(i, 0);
    absl::StatusOr<wal::PgResult> hash =
        conn.Query(fmt::format("SELECT count(*), coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '') "
                               "FROM (SELECT t::text AS r FROM ONLY {} t) rows",
                               table));
    if (!hash.ok()) return hash.status();
    f.tables[table] = hash->GetString(0, 0) + ":" + hash->GetString(0, 1);
    absl::StatusOr<wal::PgResult> columns = conn.Query(
        "SELECT string_agg(format('%I %s', attname, format_type(atttypid, atttypmod)), ', ' ORDER BY attnum) "
        "FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
        {table});
    if (!columns.ok()) return columns.status();
    f.columns[table] = columns->GetString(0, 0);
  }
  return f;
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
