#include "restore/replayer.h"

namespace pgpitr::restore {

absl::Status Replayer::Replay(const proto::Transaction& txn) {
  if (absl::Status s = target_->Execute("BEGIN"); !s.ok()) return s;
  applier_->BeginTransaction();
  absl::Status applied =
      source_->ForEachChange(txn, [&](const proto::Change& change) { return applier_->Apply(change, txn); });
  if (applied.ok()) applied = applier_->EndTransaction(txn);
  if (!applied.ok()) {
    (void)target_->Execute("ROLLBACK");
    return applied;
  }
  if (absl::Status s = target_->Execute("COMMIT"); !s.ok()) return s;
  ++transactions_;
  return absl::OkStatus();
}

}  // namespace pgpitr::restore
