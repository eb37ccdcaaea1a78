#include "restore/change_feed.h"

#include "fmt/format.h"

namespace pgpitr::restore {

namespace {

// A batch is handed over at about this many bytes of row values, or this many items.
constexpr uint64_t kBatchBytes = 4 << 20;
constexpr size_t kBatchItems = 4096;
constexpr int kBatches = 3;  // one filling, one being replayed, one waiting

// What a change holds, roughly (its values' bytes dominate).
uint64_t BytesOf(const proto::Change& change) {
  uint64_t n = 64;
  for (const proto::Value& v : change.new_tuple().values()) n += 16 + v.data().size();
  for (const proto::Value& v : change.old_tuple().values()) n += 16 + v.data().size();
  return n + change.message_content().size();
}

}  // namespace

ChangeFeed::ChangeFeed(const wal::ChangeLog& log, pg::Lsn from, pg::Lsn to) : log_(log), from_(from), to_(to) {
  for (int i = 1; i < kBatches; ++i) free_.push_back(std::make_unique<Batch>());
  thread_ = std::thread([this] { Read(); });
}

ChangeFeed::~ChangeFeed() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

bool ChangeFeed::Hand(std::unique_ptr<Batch>& filling) {
  std::unique_lock<std::mutex> lock(mu_);
  full_.push_back(std::move(filling));
  changed_.notify_all();
  changed_.wait(lock, [&] { return stop_ || !free_.empty(); });
  if (stop_) return false;
  filling = std::move(free_.back());
  free_.pop_back();
  filling->transactions.clear();
  filling->used_changes = 0;
  filling->items.clear();
  filling->bytes = 0;
  filling->error = absl::OkStatus();
  filling->error_in_changes = false;
  filling->last = false;
  return true;
}

void ChangeFeed::Read() {
  auto filling = std::make_unique<Batch>();
  std::unique_ptr<wal::ChangeLog::ChangeReader> reader = log_.NewChangeReader();
  bool stopped = false;
  auto full = [&] { return filling->bytes >= kBatchBytes || filling->items.size() >= kBatchItems; };
  absl::Status status = log_.ForEachTransaction(from_, to_, [&](const proto::Transaction& txn) -> absl::Status {
    if (full() && !Hand(filling)) stopped = true;
    if (stopped) return absl::CancelledError("the replay stopped");
    filling->items.push_back({Item::Kind::kTransaction, filling->transactions.size()});
    filling->transactions.push_back(txn);
    absl::Status read = reader->TakeEachChange(txn, [&](proto::Change& change) -> absl::Status {
      if (full() && !Hand(filling)) stopped = true;
      if (stopped) return absl::CancelledError("the replay stopped");
      if (filling->used_changes == filling->changes.size()) filling->changes.emplace_back();
      proto::Change& slot = filling->changes[filling->used_changes];
      slot.Swap(&change);  // the reader reuses what was in the slot
      filling->items.push_back({Item::Kind::kChange, filling->used_changes++});
      filling->bytes += BytesOf(slot);
      return absl::OkStatus();
    });
    if (!read.ok() && !stopped) filling->error_in_changes = true;
    return read;
  });
  if (stopped) return;
  filling->error = status;
  filling->last = true;
  std::lock_guard<std::mutex> lock(mu_);
  full_.push_back(std::move(filling));
  changed_.notify_all();
}

const ChangeFeed::Item* ChangeFeed::Peek(absl::Status* error) {
  for (;;) {
    if (current_ != nullptr && position_ < current_->items.size()) return &current_->items[position_];
    if (current_ != nullptr && current_->last) {
      *error = current_->error;
      return nullptr;
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (current_ != nullptr) {
      free_.push_back(std::move(current_));
      changed_.notify_all();
    }
    changed_.wait(lock, [&] { return !full_.empty(); });
    current_ = std::move(full_.front());
    full_.pop_front();
    position_ = 0;
  }
}

absl::Status ChangeFeed::ForEachTransaction(const std::function<absl::Status(const proto::Transaction&)>& visit) {
  for (;;) {
    absl::Status error = absl::OkStatus();
    const Item* item = Peek(&error);
    if (item == nullptr) return error;
    ++position_;
    if (item->kind != Item::Kind::kTransaction) continue;  // changes the visitor did not read
    // A copy: the batch holding the record may be handed back while its changes are read.
    transaction_ = current_->transactions[item->index];
    if (absl::Status s = visit(transaction_); !s.ok()) return s;
  }
}

absl::Status ChangeFeed::ForEachChange(const proto::Transaction& txn,
                                       const std::function<absl::Status(const proto::Change&)>& visit) {
  if (txn.commit_lsn() != transaction_.commit_lsn()) {
    return absl::InternalError(fmt::format("the change feed was asked for the transaction committed at {} out of order",
                                           pg::Lsn(txn.commit_lsn()).ToString()));
  }
  for (;;) {
    absl::Status error = absl::OkStatus();
    const Item* item = Peek(&error);
    // An error after this transaction's changes is the next Peek's of ForEachTransaction.
    if (item == nullptr) return current_->error_in_changes ? error : absl::OkStatus();
    if (item->kind != Item::Kind::kChange) return absl::OkStatus();
    if (absl::Status s = visit(current_->changes[item->index]); !s.ok()) return s;
    ++position_;
  }
}

}  // namespace pgpitr::restore
