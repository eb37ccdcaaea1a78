// ChangeFeed: reads the transactions a replay takes, and their changes, in a thread of its own ahead
// of the replay, so reading the change log (RocksDB, decoding) runs beside collapsing and applying.
//   ChangeFeed feed(log, base_lsn, last_commit_lsn);
//   RETURN_IF_ERROR(feed.ForEachTransaction([&](const proto::Transaction& t) { return replayer.Replay(t); }));
// where the replayer reads each transaction's changes from the feed (a ChangeSource), in the same
// order. Changes are moved between the reading thread and the replay in batches of at most about
// 4 MiB, three at a time, by Swap: steady-state reading allocates nothing and holds a bounded amount
// whatever the size of a transaction. An error reading the log reaches the replay at its place:
// after every transaction and change before it. ForEachTransaction is called once, on one thread;
// the feed's thread stops when it returns or the feed is destroyed.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "proto/pgpitr.pb.h"
#include "wal/change_log.h"

namespace pgpitr::restore {

// Where a replayer reads a transaction's changes: the change log itself, or a feed.
class ChangeSource {
 public:
  virtual ~ChangeSource() = default;
  // The changes of txn, in order; for a feed, txn must be the transaction it gave last.
  [[nodiscard]] virtual absl::Status ForEachChange(const proto::Transaction& txn,
                                                   const std::function<absl::Status(const proto::Change&)>& visit) = 0;
};

// Reads straight from the change log, on the caller's thread.
class LogChangeSource : public ChangeSource {
 public:
  explicit LogChangeSource(const wal::ChangeLog& log) : reader_(log.NewChangeReader()) {}
  absl::Status ForEachChange(const proto::Transaction& txn,
                             const std::function<absl::Status(const proto::Change&)>& visit) override {
    return reader_->ForEachChange(txn, visit);
  }

 private:
  std::unique_ptr<wal::ChangeLog::ChangeReader> reader_;
};

class ChangeFeed : public ChangeSource {
 public:
  // Transactions with from <= commit LSN <= to, as ChangeLog::ForEachTransaction; reading starts now.
  ChangeFeed(const wal::ChangeLog& log, pg::Lsn from, pg::Lsn to);
  ~ChangeFeed() override;

  // Visits the transactions in commit order; stops at the first error of the visitor or of the log.
  [[nodiscard]] absl::Status ForEachTransaction(const std::function<absl::Status(const proto::Transaction&)>& visit);
  absl::Status ForEachChange(const proto::Transaction& txn,
                             const std::function<absl::Status(const proto::Change&)>& visit) override;

 private:
  // One item of a batch: a transaction begins (its record), or one of its changes.
  struct Item {
    enum class Kind { kTransaction, kChange } kind = Kind::kChange;
    size_t index = 0;  // into the batch's transactions or changes
  };
  struct Batch {
    std::vector<proto::Transaction> transactions;
    std::vector<proto::Change> changes;  // the first `used` are this batch's; the rest wait for reuse
    size_t used_changes = 0;
    std::vector<Item> items;
    uint64_t bytes = 0;
    absl::Status error;             // after the items: the log could not be read further
    bool error_in_changes = false;  // ... in the changes of the last transaction, not after it
    bool last = false;              // no batch after this one
  };

  void Read();
  // The reading thread's side: hand over the filling batch and take an empty one; false when stopped.
  bool Hand(std::unique_ptr<Batch>& filling);
  // The replay's side: the next item (not taken), moving to the next batch as needed; null at the
  // end of the feed, with *error set when it ended on one.
  const Item* Peek(absl::Status* error);

  const wal::ChangeLog& log_;
  pg::Lsn from_;
  pg::Lsn to_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::unique_ptr<Batch>> full_;   // read, waiting for the replay
  std::vector<std::unique_ptr<Batch>> free_;  // taken, waiting to be filled again
  bool stop_ = false;
  std::unique_ptr<Batch> current_;  // the replay's
  size_t position_ = 0;             // in current_->items
  proto::Transaction transaction_;  // the one ForEachTransaction gave last
  std::thread thread_;
};

}  // namespace pgpitr::restore
