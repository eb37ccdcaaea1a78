// Replayer: applies captured transactions to a restore target database, one target transaction
// per source transaction, in commit order.
//   auto replayer = Replayer::Create(&target_conn, log);
//   log.ForEachTransaction(from, to, [&](const proto::Transaction& t) { return replayer->Replay(t); });
// Schema changes captured by the proxy (pgpitr.ddl messages) are run at their place in the
// transaction, with the search_path they ran with. UPDATE and DELETE find their row by replica identity (the key, or
// the whole old row for REPLICA IDENTITY FULL, where rows are a multiset and exactly one matching row is changed);
// unchanged-TOAST columns are left as they are; a change that finds no row is an error, since the
// target then no longer matches the source. Relation schema changes seen in the stream (added,
// dropped or retyped columns, a renamed or new table) are applied to the target before the first
// change written under them. Runs as session_replication_role = replica, as PostgreSQL's own
// subscriber does, so triggers and foreign-key actions do not fire twice. One thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"
#include "pg/connection.h"
#include "proto/pgpitr.pb.h"
#include "restore/change_feed.h"
#include "restore/difference.h"
#include "restore/planner.h"
#include "wal/change_log.h"

namespace pgpitr::restore {

class Replayer {
 public:
  // source: where Replay reads each transaction's changes (a ChangeFeed reading ahead); the change
  // log itself when null.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Replayer>> Create(pg::Connection* target,
                                                                        const wal::ChangeLog& log,
                                                                        ChangeSource* source = nullptr);

  [[nodiscard]] absl::Status Replay(const proto::Transaction& txn);

  // One change of txn, inside a target transaction the caller opened (BulkReplayer's row-by-row
  // path: schema changes, TRUNCATE, and tables whose rows are a multiset).
  [[nodiscard]] absl::Status Apply(const proto::Change& change, const proto::Transaction& txn);
  // Makes the target's table match the schema (see the top of this file); a no-op when it already does.
  [[nodiscard]] absl::Status FollowSchema(const proto::RelationSchema& schema);
  // True when the target's table already matches the schema, so FollowSchema would change nothing;
  // it then counts as followed. Only reads the target's catalog.
  [[nodiscard]] absl::StatusOr<bool> Matches(const proto::RelationSchema& schema);
  const proto::RelationSchema* Schema(uint32_t schema_id) const;

  // Rows (and TRUNCATEs) of tables dropped later in the window are left out (restore/planner.h).
  void LeaveOutRowsOfDropped(const DroppedRelations* dropped) { dropped_ = dropped; }
  bool LeftOut(uint32_t relid, const proto::Transaction& txn) const {
    return dropped_ != nullptr && !dropped_->empty() && dropped_->DroppedAtOrAfter(relid, pg::Lsn(txn.commit_lsn()));
  }

  // A schema change that cannot be replayed stops the replay (the default), or, carrying on, is
  // left out and listed in differences().
  void CarryOnPastSchemaChanges(bool carry_on) { carry_on_ = carry_on; }
  const std::vector<Difference>& differences() const { return differences_; }
  // Roles this restore created before the replay (for the base): they get memberships as the
  // source's roles had them, like those replay creates.
  void NoteRolesCreated(const std::vector<std::string>& roles) {
    created_roles_.insert(created_roles_.end(), roles.begin(), roles.end());
  }

  // Tables whose UPDATE and DELETE capture did not have (pgpitr's publication in two, see
  // wal/source.h: no replica identity), named so far: those of the base (by the caller) and those
  // a transaction left so at its commit (recorded with its schema changes), each named once: an
  // error, or, carrying on, a difference.
  // `where` says since when, in a refusal ("the base (LSN 0/5000028)"); `statement` is the
  // schema change that left them so, if one did.
  [[nodiscard]] absl::Status NameKeylessTables(const std::vector<std::string>& tables, uint64_t lsn, int64_t time,
                                               const std::string& where, const std::string& statement);
  const std::set<std::string>& keyless_named() const { return keyless_named_; }
  // At the end of each source transaction (Replay calls it; BulkReplayer too): the tables its last
  // schema change left without a replica identity are named, and those whose shape its rows showed
  // changed with no schema change recorded.
  [[nodiscard]] absl::Status EndTransaction(const proto::Transaction& txn);

  uint64_t transactions() const { return transactions_; }
  uint64_t rows() const { return rows_; }
  uint64_t ddl_statements() const { return ddl_statements_; }
  // What replay did to the target's schema, for the summary.
  const std::vector<std::string>& schema_notes() const { return schema_notes_; }

 private:
  // One statement that makes the target's table follow the stream, and what the summary says of it.
  struct SchemaStep {
    std::string sql;
    std::string note;
  };
  // What FollowSchema would run, in order; nothing when the target already matches.
  [[nodiscard]] absl::StatusOr<std::vector<SchemaStep>> PlanFollow(const proto::RelationSchema& schema);
  // The column changes, comparing the stream's schema with the target's table now named current_name.
  [[nodiscard]] absl::StatusOr<std::vector<SchemaStep>> PlanColumns(const proto::RelationSchema& schema,
                                                                    const std::string& current_name);

  struct Statement {
    std::string name;
    std::vector<int> params;  // for each parameter: the column it takes, >= 0 new tuple, < 0 old (~i)
  };

  Replayer(pg::Connection* target, const wal::ChangeLog& log, ChangeSource* source)
      : target_(target),
        own_source_(source == nullptr ? std::make_unique<LogChangeSource>(log) : nullptr),
        source_(source == nullptr ? own_source_.get() : source) {}

  [[nodiscard]] absl::Status ApplyDdl(const proto::Change& change, const proto::Transaction& txn);
  // A schema change recorded by the source's event trigger (wal/event_triggers.cc): run again as
  // the source ran it (its statement, role, search_path and parsing settings), or left out when it
  // changed nothing lasting (temporary objects, IF EXISTS of nothing, pgpitr's own triggers).
  [[nodiscard]] absl::Status ApplyDdlEvent(const proto::Change& change, const proto::Transaction& txn);
  // Something the target cannot have as the source had it: `refusal` as the error, or, carrying
  // on, one more difference and OK. The one owner of that choice.
  [[nodiscard]] absl::Status NotExact(Difference difference, std::string refusal);
  // True when a recorded schema change's commands are all relations (by their source OIDs) that
  // the window drops at or after txn.
  bool DroppedLater(const nlohmann::json& commands, const proto::Transaction& txn) const;
  // A schema change that could not be replayed: an error naming it, or, carrying on, one more
  // difference and OK.
  [[nodiscard]] absl::Status Unreplayable(const proto::Transaction& txn, std::string statement, std::string reason,
                                          std::vector<std::string> objects);
  // Gives the roles this restore created the memberships the source's had, and the target
  // database the source database's privileges, as recorded with a schema change (both are
  // global, outside any dump), when they changed since the last one. A grant refused is noted;
  // only a failure to read the target's catalog is an error.
  [[nodiscard]] absl::Status MirrorMembershipsAndDatabasePrivileges(const nlohmann::json& event);
  // Runs a statement in a savepoint, so that its failure leaves the target transaction usable.
  [[nodiscard]] absl::Status RunInSavepoint(const std::string& sql);
  // Runs a statement about roles or the database's privileges, in a savepoint; a refusal is noted
  // in the summary, not an error.
  void RunGlobal(const std::string& sql);
  // Runs a recorded statement; carrying on, inside a savepoint, so that its failure leaves the
  // target transaction usable.
  [[nodiscard]] absl::Status RunRecorded(const std::string& sql);
  // After a schema change ran: statements prepared and tables followed are stale; it is counted.
  [[nodiscard]] absl::Status Forget();
  [[nodiscard]] absl::StatusOr<const Statement*> Prepare(const std::string& key, const std::string& sql,
                                                         std::vector<int> params);
  [[nodiscard]] absl::StatusOr<int64_t> Run(const Statement& s, const proto::Change& change);
  std::string TypeName(const proto::RelationSchema::Column& column) const;

  pg::Connection* target_;
  std::unique_ptr<ChangeSource> own_source_;
  ChangeSource* source_;
  std::map<uint32_t, proto::RelationSchema> schemas_;
  std::map<uint32_t, proto::TypeInfo> types_;
  std::unordered_map<uint32_t, uint32_t> followed_;  // relid -> schema id the target matches
  std::unordered_map<std::string, Statement> statements_;
  std::vector<std::string> schema_notes_;
  // Schema changes of one query of several statements: how many of them were replayed so far.
  std::map<std::string, size_t> statements_replayed_;
  // The target session's own values of the settings a recorded schema change runs under.
  std::map<std::string, std::string> own_settings_;
  const DroppedRelations* dropped_ = nullptr;
  std::vector<std::string> created_roles_;
  std::string applied_memberships_;
  std::map<std::string, std::string> applied_role_attributes_;  // role -> the ALTER ROLE options given
  std::string applied_database_privileges_;
  bool carry_on_ = false;
  std::vector<Difference> differences_;
  std::set<std::string> keyless_named_;
  // The last "keyless" list of this transaction's schema changes, and that change's statement.
  std::optional<std::pair<std::vector<std::string>, std::string>> txn_keyless_;
  // Tables this transaction's rows made replay reshape (FollowSchema), with what it did, and
  // whether the transaction records a schema change; tables already named for it.
  std::vector<std::pair<std::string, std::string>> txn_unrecorded_;
  bool txn_recorded_ddl_ = false;
  std::set<std::string> unrecorded_named_;
  uint64_t transactions_ = 0;
  uint64_t rows_ = 0;
  uint64_t ddl_statements_ = 0;
};

// "schema"."name"
std::string QualifiedName(const proto::RelationSchema& schema);

}  // namespace pgpitr::restore
