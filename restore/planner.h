// A restore plan: which base, which transactions, for a target inside the restorable window
// (wal/restorable_window.h: the stretches between the change log's gaps that hold a usable base).
//   absl::StatusOr<RestorePlan> plan = PlanRestore(bases, log, state, target);
// A target outside every stretch (before the first, inside a gap, after the newest) is refused with
// one line naming the stretches. The commits to replay are checked from their transaction records
// only (a broken commit-LSN chain is refused); their changes are read once, by the replay, which
// stops at the first one that does not read back. Pure reads.
#pragma once

#include <optional>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/pgpitr.pb.h"
#include "restore/restore_target.h"
#include "wal/change_log.h"
#include "wal/restorable_window.h"

namespace pgpitr::restore {

// The tables dropped inside a restore's window (recorded by the source's event trigger): rows
// written to one before its drop end with it, so replay leaves them out (some, of a type that has
// no input function, could not be written at all).
class DroppedRelations {
 public:
  void Add(uint32_t relid, pg::Lsn commit) { drops_[relid].push_back(commit); }
  // True when the transaction committed at `commit`, or a later one in the window, drops relid.
  bool DroppedAtOrAfter(uint32_t relid, pg::Lsn commit) const {
    auto it = drops_.find(relid);
    return it != drops_.end() && it->second.back() >= commit;
  }
  bool empty() const { return drops_.empty(); }

 private:
  std::unordered_map<uint32_t, std::vector<pg::Lsn>> drops_;  // relid -> commit LSNs, ascending
};

struct RestorePlan {
  RestoreTarget target;
  proto::Base base;
  // Replay every commit with base.lsn <= commit LSN <= replay_through; none when nullopt.
  std::optional<proto::Transaction> last_commit;
  uint64_t transactions = 0;  // how many commits that is
  DroppedRelations dropped;   // by those commits
  // The point the restored database corresponds to.
  pg::Lsn reached_lsn;
  pg::PgTime reached_time = 0;
};

[[nodiscard]] absl::StatusOr<RestorePlan> PlanRestore(const std::vector<proto::Base>& bases, const wal::ChangeLog& log,
                                                      const proto::CaptureState& state, const RestoreTarget& target);

// Whether the large objects a restore by `plan` makes (the base's: their changes are not in the
// logical stream) may differ from the source's at its target: the base holds some, or the source
// may have held some at the target (a span of CaptureState::large_object_spans around it). By time
// for a time target, else by LSN (the latest point: what capture holds).
bool LargeObjectsMayDiffer(const RestorePlan& plan, const proto::CaptureState& state);

}  // namespace pgpitr::restore
