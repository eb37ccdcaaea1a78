// The restorable window of a repository, and a restore plan: which base, which transactions.
//   RestorableWindow w = ComputeWindow(bases, state);
//   absl::StatusOr<RestorePlan> plan = PlanRestore(bases, log, state, target);
// A base is usable when the change log reaches back to it (its LSN is at or after the log's start)
// and capture has made it durable (its LSN is at or before captured_through). Pure reads.
#pragma once

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/pgpitr.pb.h"
#include "restore/restore_target.h"
#include "wal/change_log.h"

namespace pgpitr::restore {

struct RestorableWindow {
  std::vector<proto::Base> usable_bases;    // oldest first
  std::vector<proto::Base> unusable_bases;  // the log does not reach them (yet)
  wal::Lsn earliest_lsn;
  wal::PgTime earliest_time = 0;
  wal::Lsn latest_lsn;
  wal::PgTime latest_time = 0;
  std::optional<proto::Gap> ends_at_gap;  // the gap that ends the window, when one does
  bool empty() const { return usable_bases.empty(); }
  std::string ToString() const;  // "2026-... (LSN 0/...) to 2026-... (LSN 0/...)"
};

// Gaps (recorded by capture, or damage found by verify) split the log: a restore never replays
// across one, so the window is the newest stretch between gaps that holds a usable base, ending at
// the next gap's start (its time: the newest base's there, a conservative bound) or at what capture
// made durable. Bases in older stretches are listed in unusable_bases.
RestorableWindow ComputeWindow(const std::vector<proto::Base>& bases, const proto::CaptureState& state,
                               const std::vector<proto::Gap>& gaps = {});

struct RestorePlan {
  RestoreTarget target;
  proto::Base base;
  // Replay every commit with base.lsn <= commit LSN <= replay_through; none when nullopt.
  std::optional<proto::Transaction> last_commit;
  uint64_t transactions = 0;  // how many commits that is
  // The point the restored database corresponds to.
  wal::Lsn reached_lsn;
  wal::PgTime reached_time = 0;
};

[[nodiscard]] absl::StatusOr<RestorePlan> PlanRestore(const std::vector<proto::Base>& bases, const wal::ChangeLog& log,
                                                      const proto::CaptureState& state, const RestoreTarget& target);

}  // namespace pgpitr::restore
