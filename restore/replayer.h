// Replayer: the row-by-row replay strategy (`restore --row-by-row`): one target transaction per
// source transaction, in commit order, each change applied as its own statement (ChangeApplier).
// Slower than BulkReplayer and the same result: the fallback, and the yardstick it is tested against.
//   Replayer replayer(&target, &applier, &feed);
//   feed.ForEachTransaction([&](const proto::Transaction& t) { return replayer.Replay(t); });
// One thread.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "pg/connection.h"
#include "proto/pgpitr.pb.h"
#include "restore/change_applier.h"
#include "restore/change_feed.h"

namespace pgpitr::restore {

class Replayer {
 public:
  // source: where Replay reads each transaction's changes (a ChangeFeed reading ahead).
  Replayer(pg::Connection* target, ChangeApplier* applier, ChangeSource* source)
      : target_(target), applier_(applier), source_(source) {}

  [[nodiscard]] absl::Status Replay(const proto::Transaction& txn);

  uint64_t transactions() const { return transactions_; }
  uint64_t rows() const { return applier_->rows(); }

 private:
  pg::Connection* target_;
  ChangeApplier* applier_;
  ChangeSource* source_;
  uint64_t transactions_ = 0;
};

}  // namespace pgpitr::restore
