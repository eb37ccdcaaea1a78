#include "restore/planner.h"

#include "fmt/format.h"

namespace pgpitr::restore {

using wal::FormatPgTime;
using wal::Lsn;

std::string RestorableWindow::ToString() const {
  if (empty()) return "empty";
  return fmt::format("{} (LSN {}) to {} (LSN {})", FormatPgTime(earliest_time), earliest_lsn.ToString(),
                     FormatPgTime(latest_time), latest_lsn.ToString());
}

RestorableWindow ComputeWindow(const std::vector<proto::Base>& bases, const proto::CaptureState& state) {
  RestorableWindow w;
  for (const proto::Base& base : bases) {
    const bool usable = state.log_start_lsn() != 0 && base.lsn() >= state.log_start_lsn() &&
                        base.lsn() <= state.captured_through_lsn();
    (usable ? w.usable_bases : w.unusable_bases).push_back(base);
  }
  if (!w.usable_bases.empty()) {
    w.earliest_lsn = Lsn(w.usable_bases.front().lsn());
    w.earliest_time = w.usable_bases.front().consistent_time();
    w.latest_lsn = Lsn(state.captured_through_lsn());
    w.latest_time = std::max(state.captured_through_time(), w.usable_bases.back().consistent_time());
  }
  return w;
}

absl::StatusOr<RestorePlan> PlanRestore(const std::vector<proto::Base>& bases, const wal::ChangeLog& log,
                                        const proto::CaptureState& state, const RestoreTarget& target) {
  const RestorableWindow window = ComputeWindow(bases, state);
  if (window.empty()) {
    if (!window.unusable_bases.empty()) {
      return absl::FailedPreconditionError(
          "the repository has bases, but the change log does not cover any of them yet (is 'pgpitr run' "
          "capturing? it must run at least until it passes the base's LSN)");
    }
    return absl::FailedPreconditionError(
        "the repository has no base to restore from; run 'pgpitr backup' (or let 'pgpitr run' take one)");
  }
  RestorePlan plan;
  plan.target = target;
  RestoreTarget resolved = target;
  if (target.kind == RestoreTarget::Kind::kMark) {
    absl::StatusOr<std::optional<proto::Mark>> mark = log.GetMark(target.mark);
    if (!mark.ok()) return mark.status();
    if (!mark->has_value()) {
      return absl::NotFoundError(fmt::format(
          "no restore point named '{}' has been captured (run 'pgpitr info' to list marks)", target.mark));
    }
    resolved.kind = RestoreTarget::Kind::kLsn;
    resolved.lsn = Lsn((*mark)->commit_lsn());
  }
  const proto::Base* base = nullptr;
  absl::StatusOr<std::optional<proto::Transaction>> last = std::nullopt;

  switch (resolved.kind) {
    case RestoreTarget::Kind::kTime: {
      const wal::PgTime t = target.exclusive ? target.time - 1 : target.time;
      if (t < window.earliest_time) {
        return absl::OutOfRangeError(fmt::format(
            "restore target {} is before the earliest restorable point {} (the window is {}; run 'pgpitr "
            "info' to see it)",
            FormatPgTime(target.time), FormatPgTime(window.earliest_time), window.ToString()));
      }
      if (target.time > window.latest_time) {
        return absl::OutOfRangeError(fmt::format(
            "restore target {} is after the latest restorable point {} (the window is {}; is 'pgpitr run' "
            "capturing?)",
            FormatPgTime(target.time), FormatPgTime(window.latest_time), window.ToString()));
      }
      for (const proto::Base& b : window.usable_bases) {
        if (b.consistent_time() <= t) base = &b;
      }
      last = log.LastCommitNotAfterTime(t);
      plan.reached_time = target.time;
      break;
    }
    case RestoreTarget::Kind::kLsn:
    case RestoreTarget::Kind::kMark:
    case RestoreTarget::Kind::kLatest: {
      const Lsn lsn = resolved.kind == RestoreTarget::Kind::kLatest ? window.latest_lsn : resolved.lsn;
      const Lsn bound = target.exclusive ? Lsn(lsn.value() - 1) : lsn;
      if (lsn < window.earliest_lsn) {
        return absl::OutOfRangeError(fmt::format(
            "restore target LSN {} is before the earliest restorable point {} (the window is {}; run "
            "'pgpitr info' to see it)",
            lsn.ToString(), window.earliest_lsn.ToString(), window.ToString()));
      }
      if (lsn > window.latest_lsn) {
        return absl::OutOfRangeError(fmt::format(
            "restore target LSN {} is after the latest restorable point {} (the window is {}; is 'pgpitr "
            "run' capturing?)",
            lsn.ToString(), window.latest_lsn.ToString(), window.ToString()));
      }
      for (const proto::Base& b : window.usable_bases) {
        if (Lsn(b.lsn()) <= lsn) base = &b;
      }
      last = log.LastCommitAtOrBefore(bound);
      break;
    }
  }
  if (!last.ok()) return last.status();
  if (base == nullptr) return absl::InternalError("no base precedes a target inside the window");
  plan.base = *base;
  plan.reached_lsn = Lsn(base->lsn());
  if (last->has_value() && Lsn((*last)->commit_lsn()) >= Lsn(base->lsn())) {
    plan.last_commit = **last;
    plan.reached_lsn = Lsn((*last)->end_lsn());
    absl::Status counted = log.ForEachTransaction(Lsn(base->lsn()), Lsn((*last)->commit_lsn()),
                                                  [&](const proto::Transaction&) {
                                                    ++plan.transactions;
                                                    return absl::OkStatus();
                                                  });
    if (!counted.ok()) return counted;
  }
  if (target.kind != RestoreTarget::Kind::kTime) {
    plan.reached_time = plan.last_commit ? plan.last_commit->commit_time() : base->consistent_time();
  }
  if (target.kind == RestoreTarget::Kind::kLatest) {
    plan.reached_lsn = window.latest_lsn;
    plan.reached_time = window.latest_time;
  }
  return plan;
}

}  // namespace pgpitr::restore
