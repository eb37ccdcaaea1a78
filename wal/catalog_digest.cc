#include "wal/catalog_digest.h"

#include <algorithm>
#include <tuple>

#include "fmt/format.h"
#include "wal/source.h"

namespace pgpitr::wal {

namespace {

// One row per relation: schema, name, OID, kind, and the md5 of its definition in words: kind and
// persistence; each column (name, type, not null, identity, generated, default) in order; the view
// or materialized view's query and whether it is populated; the partition bound; the parents; each
// constraint (name and definition) and each index (its CREATE INDEX) sorted. Catalog functions read
// the newest catalog, not the statement's snapshot: one that meets a relation dropped meanwhile
// fails the read or gives NULL, and the next check reads again.
constexpr char kRelations[] = R"sql(
SELECT n.nspname, c.relname, c.oid, c.relkind::text, md5(concat_ws(E'\n',
  'kind ' || c.relkind::text || c.relpersistence::text,
  (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
            || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
            || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
            || CASE WHEN a.attgenerated <> '' THEN ' generated ' || a.attgenerated::text ELSE '' END
            || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY a.attnum)
     FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
  CASE WHEN c.relkind IN ('v', 'm') THEN 'query ' || pg_get_viewdef(c.oid) END,
  CASE WHEN c.relkind = 'm' THEN 'populated ' || c.relispopulated::text END,
  CASE WHEN c.relispartition THEN 'bound ' || pg_get_expr(c.relpartbound, c.oid) END,
  (SELECT 'parents ' || string_agg(i.inhparent::regclass::text, ', ' ORDER BY i.inhseqno)
     FROM pg_inherits i WHERE i.inhrelid = c.oid),
  (SELECT 'constraints ' || string_agg(quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid), ', '
                                        ORDER BY k.conname, pg_get_constraintdef(k.oid))
     FROM pg_constraint k WHERE k.conrelid = c.oid),
  (SELECT 'indexes ' || string_agg(pg_get_indexdef(x.indexrelid), ', ' ORDER BY pg_get_indexdef(x.indexrelid))
     FROM pg_index x WHERE x.indrelid = c.oid)))
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', '_pgpitr') AND n.nspname !~ '^pg_(toast|temp_)'
ORDER BY 1, 2)sql";

}  // namespace

absl::StatusOr<std::vector<proto::RelationDigest>> ReadCatalogDigest(const RunSql& run, bool in_transaction) {
  const char* open = in_transaction ? "SAVEPOINT pgpitr_catalog" : "BEGIN";
  if (absl::StatusOr<pg::Result> s = run(open); !s.ok()) return s.status();
  absl::StatusOr<pg::Result> rows = run("SET LOCAL search_path = pg_catalog");
  if (rows.ok()) rows = run(kRelations);
  // A savepoint is rolled back (the search_path goes with it, the caller's transaction stays);
  // a transaction of its own ends either way.
  const char* close = in_transaction ? "ROLLBACK TO SAVEPOINT pgpitr_catalog" : "ROLLBACK";
  absl::StatusOr<pg::Result> closed = run(close);
  if (closed.ok() && in_transaction) closed = run("RELEASE SAVEPOINT pgpitr_catalog");
  if (!rows.ok()) return rows.status();
  if (!closed.ok()) return closed.status();
  std::vector<proto::RelationDigest> out;
  out.reserve(rows->rows());
  for (int i = 0; i < rows->rows(); ++i) {
    proto::RelationDigest r;
    r.set_namespace_(rows->GetString(i, 0));
    r.set_name(rows->GetString(i, 1));
    r.set_oid(static_cast<uint32_t>(std::stoul(rows->GetString(i, 2))));
    r.set_kind(rows->GetString(i, 3));
    r.set_digest(rows->GetString(i, 4));
    out.push_back(std::move(r));
  }
  // The server's collation orders names; ours is bytewise, for lookups.
  std::sort(out.begin(), out.end(), [](const proto::RelationDigest& a, const proto::RelationDigest& b) {
    return std::tie(a.namespace_(), a.name()) < std::tie(b.namespace_(), b.name());
  });
  return out;
}

absl::StatusOr<std::vector<proto::RelationDigest>> ReadCatalogDigest(pg::Connection& conn) {
  return ReadCatalogDigest([&](const std::string& sql) { return conn.Query(sql); }, conn.InTransaction());
}

std::string RelationName(const proto::RelationDigest& r) {
  return pg::QuoteIdent(r.namespace_()) + "." + pg::QuoteIdent(r.name());
}

std::string RelationObject(const proto::RelationDigest& r) {
  const std::string& k = r.kind();
  const char* word = k == "v" ? "view" : k == "m" ? "materialized view" : k == "f" ? "foreign table" : "table";
  return fmt::format("{} {}", word, RelationName(r));
}

absl::Status CatalogChecker::Seed(const ChangeLog& log, const proto::CaptureState& state) {
  absl::StatusOr<std::optional<proto::CatalogCheck>> last = log.LastCatalogCheck();
  if (!last.ok()) return last.status();
  if (last->has_value()) {
    last_.emplace((*last)->relations().begin(), (*last)->relations().end());
    last_event_triggers_ = (*last)->event_triggers();
  }
  last_lsn_ = pg::Lsn(state.last_catalog_check_lsn());
  last_time_ = state.last_catalog_check_time();
  return absl::OkStatus();
}

namespace {

bool SameRelations(const std::vector<proto::RelationDigest>& a, const std::vector<proto::RelationDigest>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const proto::RelationDigest& x, const proto::RelationDigest& y) {
                      return x.namespace_() == y.namespace_() && x.name() == y.name() && x.oid() == y.oid() &&
                             x.digest() == y.digest();
                    });
}

}  // namespace

absl::StatusOr<CatalogChecker::Check> CatalogChecker::Sample(pg::Connection& conn, bool event_triggers) {
  // The relations as of `before`: every commit before it is in what the snapshot sees.
  absl::StatusOr<ServerPosition> before = ReadSettledServerPosition(conn);
  if (!before.ok()) return before.status();
  absl::StatusOr<std::vector<proto::RelationDigest>> relations = ReadCatalogDigest(conn);
  if (!relations.ok()) return relations.status();
  absl::StatusOr<ServerPosition> after = ReadServerPosition(conn);
  if (!after.ok()) return after.status();
  Check check{.lsn = before->insert_lsn, .time = before->time, .changed = std::nullopt};
  if (!last_ || !SameRelations(*last_, *relations) || last_event_triggers_ != event_triggers) {
    proto::CatalogCheck& c = check.changed.emplace();
    c.set_since_lsn(last_lsn_.value());
    c.set_since_time(last_time_);
    c.set_lsn(before->insert_lsn.value());
    c.set_time(before->time);
    c.set_after_lsn(after->insert_lsn.value());
    c.set_after_time(after->time);
    c.set_event_triggers(event_triggers);
    for (const proto::RelationDigest& r : *relations) *c.add_relations() = r;
    last_ = *std::move(relations);
    last_event_triggers_ = event_triggers;
  }
  last_lsn_ = before->insert_lsn;
  last_time_ = before->time;
  return check;
}

}  // namespace pgpitr::wal
