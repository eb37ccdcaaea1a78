// ChangeApplier: applies captured changes to a restore target one at a time, for both replay
// strategies (Replayer, one target transaction per source transaction; BulkReplayer, for what it
// does not collapse): row changes find their row by replica identity through prepared statements
// (the key, or the whole old row for REPLICA IDENTITY FULL, where rows are a multiset and exactly
// one matching row is changed; unchanged-TOAST columns are left as they are; a change that finds no
// row is an error, since the target then no longer matches the source), TRUNCATEs, and the schema
// changes the proxy or the source's event triggers recorded (pgpitr.ddl and pgpitr.schema_change
// messages), run at their place with the session state they ran in.
//   auto applier = ChangeApplier::Create(&target, &follower, &notes);
//   RETURN_IF_ERROR((*applier)->Apply(change, txn));  ...  RETURN_IF_ERROR((*applier)->EndTransaction(txn));
// Runs as session_replication_role = replica, as PostgreSQL's own subscriber does, so triggers and
// foreign-key actions do not fire twice. One thread.
#pragma once

#include <functional>
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
#include "restore/difference.h"
#include "restore/planner.h"
#include "restore/schema_follower.h"

namespace pgpitr::restore {

class ChangeApplier {
 public:
  // Sets the target session up for replay (the walsender's value formats, session_replication_role
  // = replica, no timeouts). `notes` hears what replay did beside the source's statements.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ChangeApplier>> Create(pg::Connection* target,
                                                                             SchemaFollower* follower,
                                                                             std::vector<std::string>* notes);

  // One change of txn, inside a target transaction the caller opened: a row change by replica
  // identity, a TRUNCATE, or a recorded schema change.
  [[nodiscard]] absl::Status Apply(const proto::Change& change, const proto::Transaction& txn);
  // Before a source transaction's first change: forgets what an earlier one left unfinished.
  void BeginTransaction();
  // At the end of each source transaction (both strategies call it): the tables its last schema
  // change left without a replica identity are named, and those whose shape its rows showed
  // changed with no schema change recorded.
  [[nodiscard]] absl::Status EndTransaction(const proto::Transaction& txn);

  // Rows (and TRUNCATEs) of tables dropped later in the window are left out (restore/planner.h).
  void LeaveOutRowsOfDropped(const DroppedRelations* dropped) { dropped_ = dropped; }
  bool LeftOut(uint32_t relid, const proto::Transaction& txn) const {
    return dropped_ != nullptr && !dropped_->empty() && dropped_->DroppedAtOrAfter(relid, pg::Lsn(txn.commit_lsn()));
  }

  // Makes the target's table follow the stream's schema (SchemaFollower::Follow) before a change
  // of it. Carrying on, a table the target cannot make so (a new table of a type it lacks: made
  // past the proxy, without event triggers) is named and false returned: its changes under that
  // schema are left out. Strict, the target's refusal is the error.
  [[nodiscard]] absl::StatusOr<bool> FollowOrLeaveOut(const proto::RelationSchema& schema,
                                                      const proto::Transaction& txn);
  // A schema FollowOrLeaveOut could not follow: its changes are left out.
  bool Unfollowable(uint32_t schema_id) const { return unfollowable_.contains(schema_id); }
  // Carrying on (only then: true), rows of a relation the target refused (a duplicate key, a
  // partition constraint: its state differs from the source's) are named and the relation's later
  // changes left out; strict, false and the caller returns the error.
  [[nodiscard]] absl::StatusOr<bool> LeaveOutRowsRefused(const proto::RelationSchema& schema, uint64_t commit_lsn,
                                                         int64_t commit_time, const absl::Status& refusal);
  bool RowsRefused(uint32_t relid) const { return rows_refused_.contains(relid); }
  bool carrying_on() const { return carry_on_; }
  // True when a relation's rows are left out because a value of one of its columns cannot be
  // written (pg_node_tree, pg_ndistinct, pg_dependencies, pg_mcv_list and the BRIN summaries take
  // no input: a table made from a system catalog, say; NULL is fine): named at the first such
  // value, an error unless carrying on, and every later change of the relation left out too. Both
  // strategies ask it before a row change; which columns are of such types is kept for the last
  // schema asked.
  [[nodiscard]] absl::StatusOr<bool> RowsCannotBeWritten(const proto::RelationSchema& schema,
                                                         const proto::Change& change, const proto::Transaction& txn);

  // Whether a DROP the proxy recorded after `txn` (up to the target) names the relation: what the
  // restore cannot make of it as the source had it is then left unnamed, as it ends with the
  // relation: its rows that cannot be written (RowsCannotBeWritten, left out), a shape no schema
  // change recorded (a table made inside a function, from the stream). (Event triggers record the
  // relations a DROP dropped; the proxy's record holds only its text.)
  using DroppedByALaterStatement = std::function<bool(const proto::RelationSchema&, const proto::Transaction&)>;
  void LookForLaterDrops(DroppedByALaterStatement dropped_later) { dropped_later_ = std::move(dropped_later); }
  // The relations left unnamed so ("schema"."name"), and what to name if the target still has one:
  // the restore checks at its end that it has none of them any more (the DROP it ran named that one).
  struct LaterDrop {
    std::string table;
    std::string reason;
  };
  const std::vector<LaterDrop>& left_for_a_later_drop() const { return left_for_a_later_drop_; }

  // A schema change that cannot be replayed stops the replay (the default), or, carrying on, is
  // left out and listed in differences().
  void CarryOnPastSchemaChanges(bool carry_on) { carry_on_ = carry_on; }
  // Capture's checks say the source held no large object at the target (restore::LargeObjectsMayDiffer
  // is false): a schema change on large objects only (wal::OnlyLargeObjects) is left out, since
  // what it did is gone there, as the objects are (they are not in the logical stream, so one made
  // after the base is not at the target to run it on).
  void LeaveOutLargeObjectStatements(bool leave_out) { leave_out_large_objects_ = leave_out; }
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
  // The base (`where`) or the source at the target held large objects (restore::LargeObjectsMayDiffer):
  // their contents, creation and removal are not in the logical stream, so the restored ones (the
  // base's) may differ: an error, or, carrying on, a difference.
  [[nodiscard]] absl::Status NameLargeObjects(uint64_t lsn, int64_t time, const std::string& where);
  // Relations capture's catalog checks say may differ from the source's at the target
  // (restore/relation_check.h): an error naming them, or, carrying on, those differences.
  [[nodiscard]] absl::Status NameRelations(std::vector<Difference> relations);
  const std::set<std::string>& keyless_named() const { return keyless_named_; }
  uint64_t rows() const { return rows_; }  // row changes applied
  uint64_t ddl_statements() const { return ddl_statements_; }

 private:
  struct Statement {
    std::string name;
    std::vector<int> params;  // for each parameter: the column it takes, >= 0 new tuple, < 0 old (~i)
  };

  ChangeApplier(pg::Connection* target, SchemaFollower* follower, std::vector<std::string>* notes)
      : target_(target), follower_(follower), notes_(notes) {}

  [[nodiscard]] absl::Status ApplyDdl(const proto::Change& change, const proto::Transaction& txn);
  // The stream's TRUNCATE: its relations in one statement, as the source ran it (with the
  // partitioned tables it emptied whole); carrying on, a refusal names them instead of stopping.
  [[nodiscard]] absl::Status Truncate(const proto::Change& change, const proto::Transaction& txn);
  // A schema change recorded by the source's event trigger (wal/event_triggers.cc): run again as
  // the source ran it (its statement, role, search_path and parsing settings), or left out when it
  // changed nothing lasting (temporary objects, IF EXISTS of nothing, pgpitr's own triggers).
  [[nodiscard]] absl::Status ApplyDdlEvent(const proto::Change& change, const proto::Transaction& txn);
  // Something the target cannot have as the source had it: `refusal` as the error, or, carrying
  // on, one more difference and OK. The one owner of that choice.
  [[nodiscard]] absl::Status NotExact(Difference difference, std::string refusal);
  // NotExact for what a table's rows may lack: the table named with `reason` (no statement).
  [[nodiscard]] absl::Status NameTable(const proto::RelationSchema& schema, uint64_t commit_lsn, int64_t commit_time,
                                       std::string reason, std::string refusal);
  // True when a recorded schema change's commands are all relations (by their source OIDs) that
  // the window drops at or after txn.
  bool DroppedLater(const nlohmann::json& commands, const proto::Transaction& txn) const;
  // A schema change that could not be replayed: an error naming it, or, carrying on, one more
  // difference and OK.
  [[nodiscard]] absl::Status Unreplayable(const proto::Transaction& txn, std::string statement, std::string reason,
                                          std::vector<std::string> objects);
  // Takes, for this transaction, the session state a recorded schema change ran in (`e`: its
  // message): role (so objects get their owners; a role the target lacks is made, with the
  // attributes recorded), search_path, and the settings that change how it parses or what it
  // makes. Returns the target's own to put back (LeaveSourceSession), or nullopt when the
  // statement was left out, named (carrying on), for a role that could not be made.
  [[nodiscard]] absl::StatusOr<std::optional<nlohmann::json>> EnterSourceSession(
      const nlohmann::json& e, const proto::Transaction& txn, const std::string& sql,
      const std::vector<std::string>& objects);
  [[nodiscard]] absl::Status LeaveSourceSession(const nlohmann::json& own);
  // Runs a recorded statement (`ran` gets its failure; the result is an error reading the target,
  // or a damaged record); the columns it added with a default that is not a constant ("missing_values":
  // [table, column, value], the value the source's rows got) get the source's value in the rows
  // already there, where the target's default gave another (now(), current_user, ...).
  [[nodiscard]] absl::Status RunGivingMissingValues(const nlohmann::json& e, const std::string& sql,
                                                    const std::string& where, absl::Status* ran);
  // A statement whose volatile default gave each row already in these tables ("schema"."name") a
  // value of its own, which the stream does not carry and the record does not hold: Unreplayable.
  [[nodiscard]] absl::Status NameRowsGivenVolatileValues(const proto::Transaction& txn, const std::string& sql,
                                                         const nlohmann::json& rewritten);
  // Of the tables a recorded statement's volatile default gave rows values of their own
  // ("rewritten_with_new_values"), puts back the rows the record holds ("rewritten_rows": {table:
  // [row as text]}, read after the statement, printed in ISO dates and postgres intervals); `ran`
  // gets a failure. Returns the tables it holds no rows for (to name), or an error reading the target.
  [[nodiscard]] absl::StatusOr<nlohmann::json> PutRecordedRows(const nlohmann::json& e, absl::Status* ran);
  // Gives the partitions of a recorded statement ("partition_bounds": [partition, parent, bound])
  // the bounds the source computed where the target computed others (an expression of the time),
  // by detaching and attaching them again: `ran` gets that statement's failure; the result is an
  // error reading the target, or a damaged record.
  [[nodiscard]] absl::Status ApplyPartitionBounds(const nlohmann::json& e, const std::string& where, absl::Status* ran);
  // Gives the roles this restore created the memberships the source's had, and the target
  // database the source database's privileges, as recorded with a schema change (both are
  // global, outside any dump), when they changed since the last one. A grant refused is noted;
  // only a failure to read the target's catalog is an error.
  [[nodiscard]] absl::Status MirrorMembershipsAndDatabasePrivileges(const nlohmann::json& event);
  // Creates the roles of `roles` (those the source had when `sql` ran, as its message recorded) that
  // the target lacks: NOLOGIN, no other attribute, so that grants and owners land as they did. One
  // that cannot be created makes the statement unreplayable, naming it: then false (carrying on)
  // or the error.
  [[nodiscard]] absl::StatusOr<bool> CreateRolesTheSourceHad(const nlohmann::json& roles, const proto::Transaction& txn,
                                                             const std::string& sql,
                                                             const std::vector<std::string>& objects);
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

  pg::Connection* target_;
  SchemaFollower* follower_;
  std::vector<std::string>* notes_;
  std::unordered_map<std::string, Statement> statements_;
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
  bool leave_out_large_objects_ = false;
  std::vector<Difference> differences_;
  std::set<std::string> keyless_named_;
  // FollowOrLeaveOut: the schemas the target could not follow, carrying on.
  std::set<uint32_t> unfollowable_;
  // LeaveOutRowsRefused: the relations whose rows the target refused, carrying on.
  std::set<uint32_t> rows_refused_;
  // RowsCannotBeWritten: the relations named, and the last schema asked and its columns of types
  // that take no input (index, type name).
  std::set<uint32_t> unwritable_named_;
  DroppedByALaterStatement dropped_later_;
  std::vector<LaterDrop> left_for_a_later_drop_;
  uint32_t unwritable_schema_ = 0;
  std::vector<std::pair<int, const char*>> unwritable_columns_;
  // The last "keyless" list of this transaction's schema changes, and that change's statement.
  std::optional<std::pair<std::vector<std::string>, std::string>> txn_keyless_;
  // Whether the transaction records a schema change (then the tables its rows made the follower
  // reshape are not named); tables already named for it.
  bool txn_recorded_ddl_ = false;
  std::set<std::string> unrecorded_named_;
  uint64_t rows_ = 0;
  uint64_t ddl_statements_ = 0;
};

}  // namespace pgpitr::restore
