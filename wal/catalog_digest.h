// Catalog digests: without event triggers, schema changes are not in the logical stream, so capture
// reads, about once a second, each relation of the source as a digest of its definition (stored when
// any changed), and a restore reads the same of its target to name what it could not make alike.
//   CatalogChecker checker;  checker.Seed(log);  auto changed = checker.Check(conn, triggers);
// A digest reads the same on any server of the same major whenever the definition is the same (it
// is taken with search_path = pg_catalog, so every name that needs a schema has one). One thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pg/connection.h"
#include "proto/pgpitr.pb.h"
#include "wal/change_log.h"

namespace pgpitr::wal {

// Runs one statement where the digest is read: a connection's Query, or a base's ReadAtSnapshot.
using RunSql = std::function<absl::StatusOr<pg::Result>(const std::string& sql)>;

// The relations (tables, partitioned and foreign tables, views, materialized views; not sequences,
// which are sampled, nor temporary relations, pg_catalog's, or pgpitr's own), sorted by schema and
// name. `in_transaction`: the statements run inside the caller's transaction (a savepoint keeps
// the search_path local to the read); otherwise in one of their own.
[[nodiscard]] absl::StatusOr<std::vector<proto::RelationDigest>> ReadCatalogDigest(const RunSql& run,
                                                                                   bool in_transaction);
[[nodiscard]] absl::StatusOr<std::vector<proto::RelationDigest>> ReadCatalogDigest(pg::Connection& conn);

// A relation's name as SQL writes it ("schema"."name"), and as a restore names it ("table ...",
// "view ...", from the digest's kind).
std::string RelationName(const proto::RelationDigest& r);
std::string RelationObject(const proto::RelationDigest& r);

class CatalogChecker {
 public:
  // Learns the last stored check and the last check's position (CaptureState), so that a restart
  // stores a check only when the relations or the way schema changes are recorded changed since.
  [[nodiscard]] absl::Status Seed(const ChangeLog& log, const proto::CaptureState& state);
  struct Check {
    pg::Lsn lsn;  // the first read (before the relations), and its clock
    pg::PgTime time = 0;
    std::optional<proto::CatalogCheck> changed;  // to store: the relations differ from the last check's
  };
  // One check: the position, the relations, the position again. A relation dropped while it is read
  // (a catalog function meeting a missing OID) fails the check; the next one reads again.
  [[nodiscard]] absl::StatusOr<Check> Sample(pg::Connection& conn, bool event_triggers);

 private:
  std::optional<std::vector<proto::RelationDigest>> last_;  // as last checked (nullopt: never)
  bool last_event_triggers_ = false;
  pg::Lsn last_lsn_;  // the last check's first read
  pg::PgTime last_time_ = 0;
};

}  // namespace pgpitr::wal
