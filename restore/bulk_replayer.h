// BulkReplayer: replays captured transactions by their net effect, in bulk: restore's default path.
//   auto replayer = BulkReplayer::Create(&target, &follower, &applier);
//   replayer->Begin(txn); for each change: replayer->Take(change, txn); replayer->End(txn); ...
//   RETURN_IF_ERROR(replayer->Finish());
// (restore/restore.cc drives it, one change at a time; Replay takes a whole transaction when the
// target already holds the whole base.)
// Between the base and the target only each row's final state matters. Changes to a table with a
// replica identity key (primary key or REPLICA IDENTITY USING INDEX) are collapsed per key
// (NetEffect) and applied set-based from COPYed staging tables: rows replaced under their own key
// are updated in place (UPDATE ... FROM), the other rows the target held under a touched key are
// deleted (DELETE ... USING), then the final rows of the other keys are COPYed in. A delete that
// does not find exactly the rows expected is an error, as in row-by-row replay. Tables whose rows
// are a multiset (REPLICA IDENTITY FULL, or no key) keep the row-by-row path for UPDATE and DELETE
// (exact: one of several equal rows, through ChangeApplier) and COPY their INSERTs, in order with those.
// A run is cut (everything pending is applied) at a captured schema change, a TRUNCATE, a relation
// schema change, and whenever the pending changes exceed BulkReplayOptions::flush_bytes. Applying
// the net effect of a prefix of the history is exact, because tables are independent during replay
// (session_replication_role = replica: no triggers, no foreign-key actions), so memory stays bounded
// whatever the size of a transaction. Many source transactions share one target transaction: it is
// committed when a cut was made for memory or a schema change, and by Finish. One thread.
// When the base's schema is restored but not its data (BulkReplayOptions::base_data_pending), the
// first run is held to be merged into the base's rows as they load (restore/base_load.h): its cut
// is Need::kBaseData, and the driver loads the data with FirstRun() merged in, then the indexes, and
// says so with BaseLoaded, which applies what could not be merged, set-based. That first run may hold
// BulkReplayOptions::merge_bytes; a change to a table whose rows are a multiset (other than an
// INSERT) cuts it, since it needs the rows it changes. The base's foreign keys and materialized
// views are made by the driver at the end, or before the first captured schema change
// (Need::kForeignKeys), when every table is at one point of the history (after the load, some
// tables may be ahead of others until then).
#pragma once

#include <cstdint>
#include <cstdio>
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
#include "pg/connection.h"
#include "proto/pgpitr.pb.h"
#include "restore/base_load.h"
#include "restore/change_applier.h"
#include "restore/change_feed.h"
#include "restore/net_effect.h"
#include "restore/schema_follower.h"
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
  // The base's schema is restored and its data is not: the first run is held for the merge.
  bool base_data_pending = false;
  // While the first run is collapsed: where the INSERTs into tables without a key go (COPY text
  // lines in the schema's column order, about a MiB at a time; BaseLoad::Append). Such rows are a
  // multiset: the base's rows may come after them.
  std::function<absl::Status(const proto::RelationSchema& schema, std::string rows)> append;
};

class BulkReplayer {
 public:
  // What has to happen before the replayer can take the change it was offered, which it left.
  enum class Need {
    kNothing,      // taken
    kBaseData,     // the first run is complete: load the base's data with FirstRun() merged in, then its
                   // indexes, then BaseLoaded
    kForeignKeys,  // a captured schema change is next, every table is at one point and nothing is open
                   // on the target: make the base's foreign keys, then ForeignKeysMade
  };

  // follower and applier: shared with the rest of the restore (restore/schema_follower.h,
  // restore/change_applier.h); the applier takes what is not collapsed.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<BulkReplayer>> Create(pg::Connection* target,
                                                                            SchemaFollower* follower,
                                                                            ChangeApplier* applier,
                                                                            BulkReplayOptions options = {});

  // One committed transaction, in commit order: Begin, its changes one by one (each offered again
  // after a Need is met), End, which may apply and commit what is pending.
  [[nodiscard]] absl::Status Begin(const proto::Transaction& txn);
  [[nodiscard]] absl::StatusOr<Need> Take(const proto::Change& change, const proto::Transaction& txn);
  [[nodiscard]] absl::Status End(const proto::Transaction& txn);
  // A whole transaction read from `source`, when the target holds the whole base (no Need arises).
  [[nodiscard]] absl::Status Replay(const proto::Transaction& txn, ChangeSource& source);

  // The first run's collapsed changes of the tables whose rows the base's data merges them into;
  // the INSERTs appended to tables without a key are handed to BulkReplayOptions::append first.
  [[nodiscard]] absl::StatusOr<std::vector<TableLoad>> FirstRun();
  // The base's data and indexes are loaded; `merged` are the relations whose first run was merged
  // in (their NetEffect consumed). Applies the rest of the first run, set-based.
  // `foreign_keys_pending`: the base has foreign keys and materialized views still to make.
  [[nodiscard]] absl::Status BaseLoaded(const std::set<uint32_t>& merged, bool foreign_keys_pending);
  bool base_data_pending() const { return !loaded_; }
  void ForeignKeysMade() { foreign_keys_pending_ = false; }
  // Applies what is pending and commits. Call once, after the last End, with the base loaded.
  [[nodiscard]] absl::Status Finish();

  uint64_t transactions() const { return transactions_; }  // source transactions taken
  uint64_t rows() const { return rows_; }                  // source row changes taken
  uint64_t row_writes() const { return row_writes_; }      // rows deleted, inserted or changed in the target
  uint64_t flushes() const { return flushes_; }

 private:
  // INSERTs into a table without a key, as COPY text lines.
  struct Appends {
    const proto::RelationSchema* schema = nullptr;
    std::string copy_data;
    uint64_t rows = 0;
  };

  BulkReplayer(pg::Connection* target, SchemaFollower* follower, ChangeApplier* applier, BulkReplayOptions options)
      : target_(target),
        options_(std::move(options)),
        follower_(follower),
        applier_(applier),
        loaded_(!options_.base_data_pending) {}

  uint64_t PendingLimit() const { return loaded_ ? options_.flush_bytes : options_.merge_bytes; }
  // Rolls back the target transaction, if one is open.
  void Abort();
  [[nodiscard]] absl::StatusOr<Need> TakeChange(const proto::Change& change, const proto::Transaction& txn);
  [[nodiscard]] absl::Status Flush();
  [[nodiscard]] absl::Status FlushKeyed(NetEffect& net);
  [[nodiscard]] absl::Status FlushAppends(Appends& appends);
  [[nodiscard]] absl::Status BeginTarget();  // a target transaction
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
  BulkReplayOptions options_;
  SchemaFollower* follower_;
  ChangeApplier* applier_;
  bool loaded_;                          // the target holds the base's data and indexes
  bool first_run_full_ = false;          // the first run reached merge_bytes: the base's data loads next
  bool foreign_keys_pending_ = false;    // the base's foreign keys are still to make
  bool reopen_ = false;                  // a target transaction was committed for them: begin another
  std::map<uint32_t, NetEffect> keyed_;  // pending, by schema id
  std::map<uint32_t, Appends> appends_;  // pending, by schema id
  uint64_t pending_bytes_ = 0;
  uint64_t first_pending_lsn_ = 0;
  uint64_t last_pending_lsn_ = 0;
  int64_t last_pending_time_ = 0;
  bool in_transaction_ = false;
  bool commit_due_ = false;
  uint64_t stage_counter_ = 0;
  uint64_t transactions_ = 0;
  uint64_t rows_ = 0;
  uint64_t row_writes_ = 0;
  uint64_t flushes_ = 0;
};

}  // namespace pgpitr::restore
