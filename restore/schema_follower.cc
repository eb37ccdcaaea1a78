#include "restore/schema_follower.h"

#include <set>

#include "fmt/format.h"

namespace pgpitr::restore {

using pg::QuoteIdent;

namespace {

// The first OID a user object can have; below it, types are built in and have the same OID on
// every server.

}  // namespace

std::string QualifiedName(const proto::RelationSchema& schema) {
  return QuoteIdent(schema.namespace_()) + "." + QuoteIdent(schema.name());
}

absl::StatusOr<SchemaFollower> SchemaFollower::Create(pg::Connection* target, const wal::ChangeLog& log,
                                                      std::vector<std::string>* notes) {
  SchemaFollower follower(target, notes);
  absl::StatusOr<std::map<uint32_t, proto::RelationSchema>> schemas = log.Schemas();
  if (!schemas.ok()) return schemas.status();
  follower.schemas_ = *std::move(schemas);
  absl::StatusOr<std::map<uint32_t, proto::TypeInfo>> types = log.Types();
  if (!types.ok()) return types.status();
  follower.types_ = *std::move(types);
  return follower;
}

std::optional<uint32_t> SchemaFollower::Followed(uint32_t relid) const {
  auto it = followed_.find(relid);
  if (it == followed_.end()) return std::nullopt;
  return it->second;
}

const proto::RelationSchema* SchemaFollower::Schema(uint32_t schema_id) const {
  auto it = schemas_.find(schema_id);
  return it == schemas_.end() ? nullptr : &it->second;
}

std::string SchemaFollower::TypeName(const proto::RelationSchema::Column& column) const {
  if (column.type_oid() >= kFirstNormalObjectId) {
    auto it = types_.find(column.type_oid());
    if (it != types_.end()) return QuoteIdent(it->second.namespace_()) + "." + QuoteIdent(it->second.name());
  }
  return "";
}

absl::Status SchemaFollower::Follow(const proto::RelationSchema& schema) {
  auto followed = followed_.find(schema.relid());
  if (followed != followed_.end() && followed->second == schema.schema_id()) return absl::OkStatus();
  absl::StatusOr<std::vector<Step>> steps = PlanFollow(schema);
  if (!steps.ok()) return steps.status();
  for (const Step& step : *steps) {
    if (absl::Status s = target_->Execute(step.sql); !s.ok()) return s;
    if (!step.note.empty()) notes_->push_back(step.note);
    reshaped_.emplace_back(schema, step.note);
  }
  followed_[schema.relid()] = schema.schema_id();
  return absl::OkStatus();
}

absl::StatusOr<bool> SchemaFollower::Matches(const proto::RelationSchema& schema) {
  auto followed = followed_.find(schema.relid());
  if (followed != followed_.end() && followed->second == schema.schema_id()) return true;
  absl::StatusOr<std::vector<Step>> steps = PlanFollow(schema);
  if (!steps.ok()) return steps.status();
  if (!steps->empty()) return false;
  followed_[schema.relid()] = schema.schema_id();
  return true;
}

absl::StatusOr<std::vector<SchemaFollower::Step>> SchemaFollower::PlanFollow(const proto::RelationSchema& schema) {
  std::vector<Step> steps;
  auto followed = followed_.find(schema.relid());
  const std::string table = QualifiedName(schema);

  // A relation renamed on the source since the last schema replay used.
  if (followed != followed_.end()) {
    const proto::RelationSchema* before = Schema(followed->second);
    absl::StatusOr<pg::Result> moved =
        target_->Query("SELECT to_regclass($1) IS NOT NULL", {before != nullptr ? QualifiedName(*before) : table});
    if (!moved.ok()) return moved.status();
    // A rename replayed from captured DDL has already happened.
    if (before != nullptr && moved->Get(0, 0) == "t" &&
        (before->namespace_() != schema.namespace_() || before->name() != schema.name())) {
      const std::string note = fmt::format("renamed {} to {}, as the stream showed", QualifiedName(*before), table);
      if (before->namespace_() != schema.namespace_()) {
        steps.push_back(
            {fmt::format("ALTER TABLE {} SET SCHEMA {}", QualifiedName(*before), QuoteIdent(schema.namespace_())),
             before->name() != schema.name() ? "" : note});
      }
      if (before->name() != schema.name()) {
        steps.push_back({fmt::format("ALTER TABLE {}.{} RENAME TO {}", QuoteIdent(schema.namespace_()),
                                     QuoteIdent(before->name()), QuoteIdent(schema.name())),
                         note});
      }
      // The columns are compared below as they are after the rename.
      absl::StatusOr<std::vector<Step>> rest = PlanColumns(schema, QualifiedName(*before));
      if (!rest.ok()) return rest.status();
      steps.insert(steps.end(), rest->begin(), rest->end());
      return steps;
    }
  }
  return PlanColumns(schema, table);
}

absl::StatusOr<std::vector<SchemaFollower::Step>> SchemaFollower::PlanColumns(const proto::RelationSchema& schema,
                                                                              const std::string& current_name) {
  std::vector<Step> steps;
  const std::string table = QualifiedName(schema);
  absl::StatusOr<pg::Result> columns = target_->Query(
      "SELECT a.attname, a.atttypid::int8, format_type(a.atttypid, a.atttypmod) "
      "FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped "
      "AND a.attgenerated = '' ORDER BY a.attnum",
      {current_name});
  if (!columns.ok()) return columns.status();
  absl::StatusOr<pg::Result> exists = target_->Query("SELECT to_regclass($1) IS NOT NULL", {current_name});
  if (!exists.ok()) return exists.status();

  auto type_sql = [&](const proto::RelationSchema::Column& c) -> absl::StatusOr<std::string> {
    std::string name = TypeName(c);
    if (!name.empty()) return name;
    absl::StatusOr<pg::Result> formatted = target_->Query(
        "SELECT format_type($1::oid, $2::int)", {std::to_string(c.type_oid()), std::to_string(c.type_modifier())});
    if (!formatted.ok()) return formatted.status();
    return formatted->GetString(0, 0);
  };

  if (exists->Get(0, 0) != "t") {
    // A table created on the source after the base: make it from the stream's description.
    std::string sql = "CREATE TABLE " + table + " (";
    std::vector<std::string> keys;
    for (int i = 0; i < schema.columns_size(); ++i) {
      absl::StatusOr<std::string> type = type_sql(schema.columns(i));
      if (!type.ok()) return type.status();
      sql += (i ? ", " : "") + QuoteIdent(schema.columns(i).name()) + " " + *type;
      if (schema.columns(i).is_key()) keys.push_back(QuoteIdent(schema.columns(i).name()));
    }
    if (!keys.empty() && schema.replica_identity() == 'd') {
      sql += ", PRIMARY KEY (";
      for (size_t i = 0; i < keys.size(); ++i) sql += (i ? ", " : "") + keys[i];
      sql += ")";
    }
    sql += ")";
    steps.push_back({sql, fmt::format("created table {} from the stream's description (columns and key only: "
                                      "defaults, constraints and indexes are not in the logical stream)",
                                      table)});
    return steps;
  }
  std::map<std::string, std::pair<uint32_t, std::string>> present;
  for (int i = 0; i < columns->rows(); ++i) {
    present[columns->GetString(i, 0)] = {static_cast<uint32_t>(std::stoul(columns->GetString(i, 1))),
                                         columns->GetString(i, 2)};
  }
  std::set<std::string> wanted;
  for (const auto& c : schema.columns()) {
    wanted.insert(c.name());
    auto it = present.find(c.name());
    absl::StatusOr<std::string> type = type_sql(c);
    if (!type.ok()) return type.status();
    if (it == present.end()) {
      steps.push_back({fmt::format("ALTER TABLE {} ADD COLUMN {} {}", table, QuoteIdent(c.name()), *type),
                       fmt::format("added column {}.{} ({}) as the stream showed; a DEFAULT it was added with is not "
                                   "in the logical stream, so rows older than it hold NULL",
                                   table, QuoteIdent(c.name()), *type)});
    } else if (it->second.second != *type && c.type_oid() < kFirstNormalObjectId) {
      steps.push_back(
          {fmt::format("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}::text::{}", table, QuoteIdent(c.name()), *type,
                       QuoteIdent(c.name()), *type),
           fmt::format("changed the type of {}.{} to {} as the stream showed", table, QuoteIdent(c.name()), *type)});
    }
  }
  for (const auto& [name, type] : present) {
    if (wanted.contains(name)) continue;
    steps.push_back({fmt::format("ALTER TABLE {} DROP COLUMN {}", table, QuoteIdent(name)),
                     fmt::format("dropped column {}.{} as the stream showed", table, QuoteIdent(name))});
  }
  return steps;
}

}  // namespace pgpitr::restore
