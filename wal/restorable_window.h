// RestorableWindow: what a repository can restore to, as the stretches between the change log's
// gaps that hold a usable base; the one rule the planner, `info`, `verify` and the metrics share.
//   absl::StatusOr<RestorableWindow> w = ReadRestorableWindow(*repo->Bases(), repo->change_log(), state);
//   for (const RestorableStretch& s : w->stretches) std::cout << s.ToString() << "\n";
// A base is usable when the change log reaches back to it (its LSN is at or after the log's start
// and retention's horizon), capture has made it durable (its LSN is at or before captured_through),
// and it is not inside a gap. A gap (capture's slot lost, or damage verify found) ends the stretch
// before it at its start: restores up to there replay from a base before it; the next stretch starts
// at the first base taken after the gap. Pure values; ReadRestorableWindow only reads.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pg/lsn.h"
#include "pg/time.h"
#include "proto/pgpitr.pb.h"
#include "wal/change_log.h"

namespace pgpitr::wal {

struct RestorableStretch {
  std::vector<proto::Base> bases;  // usable bases in the stretch, oldest first; never empty
  pg::Lsn start_lsn;               // the oldest base's LSN
  pg::PgTime start_time = 0;       // and its consistent time
  // The newest restorable point: what capture made durable, or, when a gap ends the stretch, the
  // gap's start (every commit at or before it is stored) and the time of the last commit there
  // (at least the newest base's time).
  pg::Lsn end_lsn;
  pg::PgTime end_time = 0;
  std::optional<proto::Gap> ends_at_gap;

  bool HoldsTime(pg::PgTime t) const { return start_time <= t && t <= end_time; }
  bool HoldsLsn(pg::Lsn lsn) const { return start_lsn <= lsn && lsn <= end_lsn; }
  // "2026-11-25 00:00:03.51+00 (LSN 2/1A000060) to 2026-11-25 10:45:01.2+00 (LSN 2/5D3F18A0)"
  std::string ToString() const;
};

struct RestorableWindow {
  std::vector<RestorableStretch> stretches;  // oldest first
  std::vector<proto::Base> unusable_bases;   // oldest first: the log does not reach them, or a gap holds them

  bool empty() const { return stretches.empty(); }
  const RestorableStretch& newest() const { return stretches.back(); }
  bool IsUsable(const proto::Base& base) const;
  // Every stretch, "; " between them; "nothing" when empty.
  std::string ToString() const;
};

// The newest commit time at or before an LSN, or nullopt (none, or unknown): how a stretch that a
// gap ends learns its end time.
using LastCommitTimeLookup = std::function<std::optional<pg::PgTime>(pg::Lsn)>;

// Pure: the window given the bases (any order), capture's state, the gaps (any order, may overlap),
// retention's horizon (zero when retention never ran) and, optionally, the last-commit lookup
// (without it a stretch a gap ends ends at its newest base's time: a conservative bound).
RestorableWindow ComputeRestorableWindow(const std::vector<proto::Base>& bases, const proto::CaptureState& state,
                                         const std::vector<proto::Gap>& gaps, pg::Lsn horizon = pg::Lsn(),
                                         const LastCommitTimeLookup& last_commit_time = {});

// The same from the change log: its recorded gaps plus `extra_breaks` (damage verify found), its
// retention horizon, and its commits for the end times (an unreadable one leaves the conservative bound).
[[nodiscard]] absl::StatusOr<RestorableWindow> ReadRestorableWindow(const std::vector<proto::Base>& bases,
                                                                    const ChangeLog& log,
                                                                    const proto::CaptureState& state,
                                                                    const std::vector<proto::Gap>& extra_breaks = {});

}  // namespace pgpitr::wal
