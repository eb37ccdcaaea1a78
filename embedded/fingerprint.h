// Fingerprint: the columns and content of every user table of a database (one md5 per table), so two
// databases (a source at a checkpoint and its restore) can be compared exactly.
//   absl::StatusOr<Fingerprint> f = TakeFingerprint(conn);  f->tables["public.accounts"]
// Rows are compared as their text, ordered, so tables without a key compare as multisets.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "pg/connection.h"

namespace pgpitr::embedded {

struct Fingerprint {
  std::map<std::string, std::string> tables;   // "schema.table" -> "rows:md5"
  std::map<std::string, std::string> columns;  // "schema.table" -> "name type, name type, ..."
  friend bool operator==(const Fingerprint&, const Fingerprint&) = default;
  std::string ToString() const;
};

[[nodiscard]] absl::StatusOr<Fingerprint> TakeFingerprint(pg::Connection& conn);

// The schema of a database as catalog text, one line per object (relations with owner, privileges,
// persistence and identity; columns with type, default, identity, generation, collation; constraints,
// indexes, views, triggers, rules, policies, functions, types, sequences, schemas, extensions,
// comments, default privileges), sorted: what `pg_dump --schema-only` would compare, for servers
// this machine has no pg_dump of (16+). pgpitr's own schema and publications are left out.
[[nodiscard]] absl::StatusOr<std::string> DescribeSchema(pg::Connection& conn);

// The names of the tables whose fingerprints differ, for a failure message.
std::string DescribeDifference(const Fingerprint& expected, const Fingerprint& actual);

}  // namespace pgpitr::embedded
