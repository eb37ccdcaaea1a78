// BulkReplayer: replays captured transactions by their net effect, in bulk: restore's default path.
//   auto replayer = BulkReplayer::Create(&target_conn, log);
//   log.ForEachTransaction(from, to, [&](const proto::Transaction& t) { return (*replayer)->Replay(t); });
//   RETURN_IF_ERROR((*replayer)->Finish());
// Between the base and the target only each row's final state matters. Changes to a table with a
// replica identity key (primary key or REPLICA IDENTITY USING INDEX) are collapsed per key
// (NetEffect) and applied set-based from COPYed staging tables: rows replaced under their own key
// are updated in place (UPDATE ... FROM), the other rows the target held under a touched key are
// deleted (DELETE ... USING), then the final rows of the other keys are COPYed in. A delete that
// does not find exactly the rows expected is an error, as in row-by-row replay. Tables whose rows
// are a multiset (REPLICA IDENTITY FULL, or no key) keep the row-by-row path for UPDATE and DELETE
// (exact: one of several equal rows) and COPY their INSERTs, in order with those.
// A run is cut (everything pending is applied) at a captured schema change, a TRUNCATE, a relation
// schema change, and whenever the pending changes exceed BulkReplayOptions::flush_bytes. Applying
// the net effect of a prefix of the history is exact, because tables are independent during replay
// (session_replication_role = replica: no triggers, no foreign-key actions), so memory stays bounded
// whatever the size of a transaction. Many source transactions share one target transaction: it is
// committed when a cut was made for memory or a schema change, and by Finish. One thread.
// With a BaseLoad whose schema is restored but not its data, the first run is merged into the base's
// rows as they load (restore/base_load.h): its cut loads the data (the collapsed changes merged in),
// then the indexes and constraints, and only then applies what could not be merged, set-based. That
// first run may hold BulkReplayOptions::merge_bytes; a change to a table whose rows are a multiset
// (other than an INSERT) cuts it, since it needs the rows it changes. Foreign keys and materialized
// views are made by Finish, or before the first captured schema change, when every table is at one
// point of the history (after the load, some tables may be ahead of others until then).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pg/connection.h"
#include "proto/pgpitr.pb.h"
#include "restore/base_load.h"
#include "restore/net_effect.h"
#include "restore/replayer.h"
#include "wal/change_log.h"

namespace pgpitr::restore {

// How replay takes one change: whether everything pending is applied first (a cut), and then what
// happens to the change itself. `followed` is the schema id the target's table was last made to
// match, if any. Pure, for the unit tests.
struct ChangeRoute {
  enum class Way { kIgnore, kRunNow, kCollapse, kAppend, kRowByRow };
  bool cut = false;
  Way way = Way::kIgnore;
  friend bool operator==(const ChangeRoute&, const ChangeRoute&) = default;
};
[[nodiscard]] ChangeRoute RouteOf(const proto::Change& change, const proto::RelationSchema* schema,
                                  std::optional<uint32_t> followed);

struct BulkReplayOptions {
  // Pending changes held in memory before they are applied (an approximation of their size).
  uint64_t flush_bytes = 64ull << 20;
  // ... while the base's data is not loaded yet: what is merged into it costs no UPDATE or DELETE
  // later, so the first run may be larger.
  uint64_t merge_bytes = 128ull << 20;
};

class BulkReplayer {
 public:
  // base_load: the base, schema restored and data not yet (see the top of this file); null when the
  // target already holds the whole base.
  // source: where Replay reads each transaction's changes (a ChangeFeed); the change log when null.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<BulkReplayer>> Create(pg::Connection* target,
                                                                            const wal::ChangeLog& log,
                                                                            BulkReplayOptions options = {},
                                                                            BaseLoad* base_load = nullptr,
                                                                            ChangeSource* source = nullptr);

  // Takes one committed transaction (in commit order); may apply and commit what is pending.
  [[nodiscard]] absl::Status Replay(const proto::Transaction& txn);
  // Applies what is pending and commits. Call once, after the last Replay.
  [[nodiscard]] absl::Status Finish();

  uint64_t transactions() const { return transactions_; }  // source transactions taken
  uint64_t rows() const { return rows_; }                  // source row changes taken
  uint64_t row_writes() const { return row_writes_; }      // rows deleted, inserted or changed in the target
  uint64_t flushes() const { return flushes_; }
  // Rows (and TRUNCATEs) of tables dropped later in the window are left out (restore/planner.h).
  void LeaveOutRowsOfDropped(const DroppedRelations* dropped) { row_by_row_->LeaveOutRowsOfDropped(dropped); }
  uint64_t ddl_statements() const { return row_by_row_->ddl_statements(); }
  const std::vector<std::string>& schema_notes() const { return row_by_row_->schema_notes(); }
  // As Replayer::CarryOnPastSchemaChanges and Replayer::differences.
  void CarryOnPastSchemaChanges(bool carry_on) { row_by_row_->CarryOnPastSchemaChanges(carry_on); }
  void NoteRolesCreated(const std::vector<std::string>& roles) { row_by_row_->NoteRolesCreated(roles); }
  const std::vector<Difference>& differences() const { return row_by_row_->differences(); }
  // As Replayer::NameKeylessTables and Replayer::keyless_named.
  [[nodiscard]] absl::Status NameKeylessTables(const std::vector<std::string>& tables, uint64_t lsn, int64_t time,
                                               const std::string& where, const std::string& statement) {
    return row_by_row_->NameKeylessTables(tables, lsn, time, where, statement);
  }
  const std::set<std::string>& keyless_named() const { return row_by_row_->keyless_named(); }

 private:
  // INSERTs into a table without a key, as COPY text lines.
  struct Appends {
    const proto::RelationSchema* schema = nullptr;
    std::string copy_data;
    uint64_t rows = 0;
  };

  BulkReplayer(pg::Connection* target, const wal::ChangeLog& log, BulkReplayOptions options,
               std::unique_ptr<Replayer> row_by_row, BaseLoad* base_load, ChangeSource* source)
      : target_(target),
        own_source_(source == nullptr ? std::make_unique<LogChangeSource>(log) : nullptr),
        source_(source == nullptr ? own_source_.get() : source),
        options_(options),
        row_by_row_(std::move(row_by_row)),
        base_load_(base_load),
        loaded_(base_load == nullptr) {}

  // The first cut when the base's data is not loaded: loads it with what is pending merged in, then
  // its indexes, then applies the rest of what is pending.
  [[nodiscard]] absl::Status Load();
  uint64_t PendingLimit() const { return loaded_ ? options_.flush_bytes : options_.merge_bytes; }
  // Rolls back the target transaction, if one is open.
  void Abort();
  // Makes the base's foreign keys and materialized views (BaseLoad::FinishSchema), outside any
  // target transaction; a no-op when they are made, or without a BaseLoad.
  [[nodiscard]] absl::Status FinishSchema();

  [[nodiscard]] absl::Status Take(const proto::Change& change, const proto::Transaction& txn);
  [[nodiscard]] absl::Status Flush();
  [[nodiscard]] absl::Status FlushKeyed(NetEffect& net);
  [[nodiscard]] absl::Status FlushAppends(Appends& appends);
  [[nodiscard]] absl::Status Begin();  // a target transaction
  [[nodiscard]] absl::Status Commit();
  // Creates the temporary table `stage` with the columns of the query columns_of, COPYs into it the
  // `rows` lines fill writes, and analyzes it when it is large.
  [[nodiscard]] absl::Status Stage(const std::string& stage, const std::string& columns_of, size_t rows,
                                   const std::function<void(pg::CopyIn&)>& fill);
  // COPY sql FROM STDIN with data; returns the rows copied.
  [[nodiscard]] absl::StatusOr<int64_t> Copy(const std::string& sql, std::string_view data);
  // Runs a statement; returns the rows it affected (a failure carries its SQLSTATE: pg::SqlStateOf).
  [[nodiscard]] absl::StatusOr<int64_t> Affected(const std::string& sql);
  // "the transactions committed from LSN a to b" (or "the transaction committed at a").
  std::string PendingRange() const;

  pg::Connection* target_;
  std::unique_ptr<ChangeSource> own_source_;
  ChangeSource* source_;
  BulkReplayOptions options_;
  std::unique_ptr<Replayer> row_by_row_;
  BaseLoad* base_load_;
  bool loaded_;                                      // the target holds the base's data and indexes
  std::map<uint32_t, NetEffect> keyed_;              // pending, by schema id
  std::map<uint32_t, Appends> appends_;              // pending, by schema id
  std::unordered_map<uint32_t, uint32_t> followed_;  // relid -> the schema id the target was made to match
  uint64_t pending_bytes_ = 0;
  uint64_t first_pending_lsn_ = 0;
  uint64_t last_pending_lsn_ = 0;
  bool in_transaction_ = false;
  bool commit_due_ = false;
  uint64_t stage_counter_ = 0;
  uint64_t transactions_ = 0;
  uint64_t rows_ = 0;
  uint64_t row_writes_ = 0;
  uint64_t flushes_ = 0;
};

}  // namespace pgpitr::restore
