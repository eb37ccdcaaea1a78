// SchemaFollower: what replay knows of the source's relations (their schemas and types, from the
// change log) and of the target's tables: which schema each table was last made to match. Both
// replay strategies (Replayer, BulkReplayer) and ChangeApplier share one.
//   SchemaFollower follower(&target, schemas, types, &notes);
//   RETURN_IF_ERROR(follower.Follow(*follower.Schema(change.schema_id())));
// Relation schema changes seen in the stream (added, dropped or retyped columns, a renamed or new
// table) are made on the target before the first change written under them. One thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pg/connection.h"
#include "proto/pgpitr.pb.h"
#include "wal/change_log.h"

namespace pgpitr::restore {

class SchemaFollower {
 public:
  // The schemas and types the change log holds; `notes` hears what following did to the target.
  [[nodiscard]] static absl::StatusOr<SchemaFollower> Create(pg::Connection* target, const wal::ChangeLog& log,
                                                             std::vector<std::string>* notes);

  const proto::RelationSchema* Schema(uint32_t schema_id) const;
  // Makes the target's table match the schema; a no-op when it already does.
  [[nodiscard]] absl::Status Follow(const proto::RelationSchema& schema);
  // True when the target's table already matches the schema, so Follow would change nothing; it
  // then counts as followed. Only reads the target's catalog.
  [[nodiscard]] absl::StatusOr<bool> Matches(const proto::RelationSchema& schema);
  // The schema id the relation's table was last made to match, if any since the last Forget.
  std::optional<uint32_t> Followed(uint32_t relid) const;
  // After a recorded schema change ran: every table is checked again at its next change.
  void Forget() { followed_.clear(); }
  // The tables Follow reshaped since the last call, with what it did (ChangeApplier names those a
  // transaction reshaped with no schema change recorded).
  std::vector<std::pair<proto::RelationSchema, std::string>> TakeReshaped() { return std::exchange(reshaped_, {}); }

 private:
  // One statement that makes the target's table follow the stream, and what the summary says of it.
  struct Step {
    std::string sql;
    std::string note;
  };
  SchemaFollower(pg::Connection* target, std::vector<std::string>* notes) : target_(target), notes_(notes) {}
  // What Follow would run, in order; nothing when the target already matches.
  [[nodiscard]] absl::StatusOr<std::vector<Step>> PlanFollow(const proto::RelationSchema& schema);
  // The column changes, comparing the stream's schema with the target's table now named current_name.
  [[nodiscard]] absl::StatusOr<std::vector<Step>> PlanColumns(const proto::RelationSchema& schema,
                                                              const std::string& current_name);
  std::string TypeName(const proto::RelationSchema::Column& column) const;

  pg::Connection* target_;
  std::vector<std::string>* notes_;
  std::map<uint32_t, proto::RelationSchema> schemas_;
  std::map<uint32_t, proto::TypeInfo> types_;
  std::unordered_map<uint32_t, uint32_t> followed_;  // relid -> schema id the target matches
  std::vector<std::pair<proto::RelationSchema, std::string>> reshaped_;
};

// "schema"."name"
std::string QualifiedName(const proto::RelationSchema& schema);

// The first OID of an object the user made (FirstNormalObjectId): below it, PostgreSQL's own.
inline constexpr uint32_t kFirstNormalObjectId = 16384;

}  // namespace pgpitr::restore
