#include "wal/restorable_window.h"

#include <algorithm>

#include "fmt/format.h"

namespace pgpitr::wal {

namespace {

bool ByLsn(const proto::Base& a, const proto::Base& b) { return a.lsn() < b.lsn(); }

// Sorted by start, overlapping or touching gaps merged: verify's damaged ranges may overlap a
// recorded gap, and a stretch must not start inside either.
std::vector<proto::Gap> Merged(std::vector<proto::Gap> gaps) {
  std::sort(gaps.begin(), gaps.end(),
            [](const proto::Gap& a, const proto::Gap& b) { return a.from_lsn() < b.from_lsn(); });
  std::vector<proto::Gap> out;
  for (const proto::Gap& g : gaps) {
    if (!out.empty() && g.from_lsn() < out.back().to_lsn()) {
      proto::Gap& last = out.back();
      if (g.to_lsn() > last.to_lsn()) last.set_to_lsn(g.to_lsn());
      if (g.reason() != last.reason()) last.set_reason(last.reason() + ", " + g.reason());
      continue;
    }
    out.push_back(g);
  }
  return out;
}

}  // namespace

std::string RestorableStretch::ToString() const {
  return fmt::format("{} (LSN {}) to {} (LSN {})", pg::FormatPgTime(start_time), start_lsn.ToString(),
                     pg::FormatPgTime(end_time), end_lsn.ToString());
}

bool RestorableWindow::IsUsable(const proto::Base& base) const {
  for (const RestorableStretch& s : stretches) {
    for (const proto::Base& b : s.bases) {
      if (b.id() == base.id()) return true;
    }
  }
  return false;
}

std::string RestorableWindow::ToString() const {
  if (empty()) return "nothing";
  std::string out;
  for (const RestorableStretch& s : stretches) {
    if (!out.empty()) out += "; ";
    out += s.ToString();
  }
  return out;
}

RestorableWindow ComputeRestorableWindow(const std::vector<proto::Base>& bases, const proto::CaptureState& state,
                                         const std::vector<proto::Gap>& gaps, pg::Lsn horizon,
                                         const LastCommitTimeLookup& last_commit_time) {
  RestorableWindow w;
  const pg::Lsn log_start(state.log_start_lsn());
  const pg::Lsn captured_through(state.captured_through_lsn());
  const pg::Lsn reaches_back = std::max(log_start, horizon);
  const std::vector<proto::Gap> merged = Merged(gaps);

  // Stretch i lies between gap i-1 (from its end) and gap i (to its start); -1: inside a gap.
  auto stretch_of = [&](pg::Lsn lsn) -> int {
    int i = 0;
    for (const proto::Gap& g : merged) {
      if (lsn <= pg::Lsn(g.from_lsn())) return i;
      if (lsn < pg::Lsn(g.to_lsn())) return -1;
      ++i;
    }
    return i;
  };
  std::vector<std::vector<proto::Base>> by_stretch(merged.size() + 1);
  for (const proto::Base& b : bases) {
    const pg::Lsn lsn(b.lsn());
    const bool covered = log_start.IsValid() && lsn >= reaches_back && lsn <= captured_through;
    const int i = covered ? stretch_of(lsn) : -1;
    (i >= 0 ? by_stretch[static_cast<size_t>(i)] : w.unusable_bases).push_back(b);
  }
  std::sort(w.unusable_bases.begin(), w.unusable_bases.end(), ByLsn);

  for (size_t i = 0; i < by_stretch.size(); ++i) {
    if (by_stretch[i].empty()) continue;
    RestorableStretch s;
    s.bases = std::move(by_stretch[i]);
    std::sort(s.bases.begin(), s.bases.end(), ByLsn);
    s.start_lsn = pg::Lsn(s.bases.front().lsn());
    s.start_time = s.bases.front().consistent_time();
    const pg::PgTime newest_base_time = s.bases.back().consistent_time();
    const bool gap_ends_it = i < merged.size() && pg::Lsn(merged[i].from_lsn()) < captured_through;
    if (gap_ends_it) {
      const proto::Gap& gap = merged[i];
      s.ends_at_gap = gap;
      s.end_lsn = std::max(pg::Lsn(gap.from_lsn()), pg::Lsn(s.bases.back().lsn()));
      s.end_time = newest_base_time;
      if (last_commit_time) {
        const std::optional<pg::PgTime> t = last_commit_time(pg::Lsn(gap.from_lsn()));
        if (t.has_value()) s.end_time = std::max(s.end_time, *t);
      }
    } else {
      s.end_lsn = captured_through;
      s.end_time = std::max(state.captured_through_time(), newest_base_time);
    }
    w.stretches.push_back(std::move(s));
  }
  return w;
}

absl::StatusOr<RestorableWindow> ReadRestorableWindow(const std::vector<proto::Base>& bases, const ChangeLog& log,
                                                      const proto::CaptureState& state,
                                                      const std::vector<proto::Gap>& extra_breaks) {
  absl::StatusOr<std::vector<proto::Gap>> gaps = log.Gaps();
  if (!gaps.ok()) return gaps.status();
  gaps->insert(gaps->end(), extra_breaks.begin(), extra_breaks.end());
  absl::StatusOr<std::optional<proto::Retention>> retention = log.RetentionState();
  if (!retention.ok()) return retention.status();
  const pg::Lsn horizon = retention->has_value() ? pg::Lsn((*retention)->horizon_lsn()) : pg::Lsn();
  // An unreadable commit leaves that stretch's end at its conservative bound (verify reads damaged logs).
  return ComputeRestorableWindow(bases, state, *gaps, horizon, [&](pg::Lsn lsn) -> std::optional<pg::PgTime> {
    absl::StatusOr<std::optional<proto::Transaction>> last = log.LastCommitAtOrBefore(lsn);
    if (!last.ok() || !last->has_value()) return std::nullopt;
    return (*last)->commit_time();
  });
}

}  // namespace pgpitr::wal
