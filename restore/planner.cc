#include "restore/planner.h"

#include <algorithm>

#include "base/error.h"
#include "fmt/format.h"

namespace pgpitr::restore {

using pg::FormatPgTime;
using pg::Lsn;

namespace {

using wal::RestorableStretch;
using wal::RestorableWindow;

std::string GapWords(const proto::Gap& gap) {
  return fmt::format("the change log has a gap after LSN {} and before {} ({})", Lsn(gap.from_lsn()).ToString(),
                     Lsn(gap.to_lsn()).ToString(), gap.reason());
}

// The target is past `stretch`'s end: after the newest point captured, at a gap with no base after
// it yet, or between two stretches.
absl::Status Beyond(const RestorableWindow& window, const RestorableStretch& stretch, const std::string& target,
                    const std::string& end) {
  const bool newest = &stretch == &window.newest();
  if (newest && !stretch.ends_at_gap) {
    return absl::OutOfRangeError(
        fmt::format("restore target {} is after the latest restorable point {} (the window is {}; is 'pgpitr run' "
                    "capturing? --latest restores everything captured)",
                    target, end, window.ToString()));
  }
  if (newest) {
    return absl::OutOfRangeError(fmt::format(
        "restore target {} is after the window's end ({}): {}: restore to a point at or before {}, or after a base "
        "taken after {} (run 'pgpitr verify')",
        target, window.ToString(), GapWords(*stretch.ends_at_gap), end, Lsn(stretch.ends_at_gap->to_lsn()).ToString()));
  }
  const RestorableStretch& next = *(&stretch + 1);
  return absl::OutOfRangeError(fmt::format(
      "restore target {} falls between two stretches of the window: {}, and the first base after it is consistent at "
      "{}; restore to a point inside one of them: {} (run 'pgpitr info')",
      target, stretch.ends_at_gap ? GapWords(*stretch.ends_at_gap) : std::string("the change log breaks"),
      FormatPgTime(next.start_time), window.ToString()));
}

}  // namespace

absl::StatusOr<RestorePlan> PlanRestore(const std::vector<proto::Base>& bases, const wal::ChangeLog& log,
                                        const proto::CaptureState& state, const RestoreTarget& target) {
  absl::StatusOr<RestorableWindow> read = wal::ReadRestorableWindow(bases, log, state);
  if (!read.ok()) return read.status();
  const RestorableWindow& window = *read;
  if (window.empty()) {
    if (!window.unusable_bases.empty()) {
      return base::WithKind(absl::FailedPreconditionError(
                                "the repository has bases, but the change log does not cover any of them yet (is "
                                "'pgpitr run' capturing? it must run at least until it passes the base's LSN)"),
                            base::ErrorKind::kNothingRestorable);
    }
    return base::WithKind(
        absl::FailedPreconditionError(
            "the repository has no base to restore from; run 'pgpitr backup' (or let 'pgpitr run' take one)"),
        base::ErrorKind::kNothingRestorable);
  }
  RestorePlan plan;
  plan.target = target;
  RestoreTarget resolved = target;
  if (target.kind == RestoreTarget::Kind::kMark) {
    absl::StatusOr<std::optional<proto::Mark>> mark = log.GetMark(target.mark);
    if (!mark.ok()) return mark.status();
    if (!mark->has_value()) {
      return absl::NotFoundError(
          fmt::format("no restore point named '{}' has been captured (run 'pgpitr info' to list marks)", target.mark));
    }
    resolved.kind = RestoreTarget::Kind::kLsn;
    resolved.lsn = Lsn((*mark)->commit_lsn());
  }
  const RestorableStretch* stretch = nullptr;
  const proto::Base* base = nullptr;
  absl::StatusOr<std::optional<proto::Transaction>> last = std::nullopt;

  switch (resolved.kind) {
    case RestoreTarget::Kind::kTime: {
      const pg::PgTime t = target.exclusive ? target.time - 1 : target.time;
      const RestorableStretch& first = window.stretches.front();
      if (t < first.start_time) {
        return absl::OutOfRangeError(
            fmt::format("restore target {} is before the earliest restorable point {} (the window is {}; run 'pgpitr "
                        "info' to see it)",
                        FormatPgTime(target.time), FormatPgTime(first.start_time), window.ToString()));
      }
      for (const RestorableStretch& s : window.stretches) {
        if (s.start_time <= t) stretch = &s;
      }
      if (t > stretch->end_time) {
        return Beyond(window, *stretch, FormatPgTime(target.time), FormatPgTime(stretch->end_time));
      }
      for (const proto::Base& b : stretch->bases) {
        if (b.consistent_time() <= t) base = &b;
      }
      last = log.LastCommitNotAfterTime(t);
      // Commit times are not ordered by LSN: never replay past the stretch's end (a gap) for a
      // commit stamped before the target but made after the gap.
      if (last.ok() && last->has_value() && Lsn((*last)->commit_lsn()) > stretch->end_lsn) {
        last = log.LastCommitAtOrBefore(stretch->end_lsn);
      }
      plan.reached_time = target.time;
      break;
    }
    case RestoreTarget::Kind::kLsn:
    case RestoreTarget::Kind::kMark:
    case RestoreTarget::Kind::kLatest: {
      const Lsn lsn = resolved.kind == RestoreTarget::Kind::kLatest ? window.newest().end_lsn : resolved.lsn;
      const Lsn bound = target.exclusive ? Lsn(lsn.value() - 1) : lsn;
      const RestorableStretch& first = window.stretches.front();
      if (lsn < first.start_lsn) {
        return absl::OutOfRangeError(
            fmt::format("restore target LSN {} is before the earliest restorable point {} (the window is {}; run "
                        "'pgpitr info' to see it)",
                        lsn.ToString(), first.start_lsn.ToString(), window.ToString()));
      }
      for (const RestorableStretch& s : window.stretches) {
        if (s.start_lsn <= lsn) stretch = &s;
      }
      if (bound > stretch->end_lsn) {
        return Beyond(window, *stretch, "LSN " + lsn.ToString(), stretch->end_lsn.ToString());
      }
      for (const proto::Base& b : stretch->bases) {
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
    // The commits to replay must form an unbroken chain: each names the one stored before it. Only
    // the small transaction records are read here; the replay reads the changes, once.
    std::optional<Lsn> previous;
    bool unchained = false;  // the chain broke (rather than the log failing to read)
    absl::Status counted = log.ForEachTransaction(
        Lsn(base->lsn()), Lsn((*last)->commit_lsn()), [&](const proto::Transaction& t) -> absl::Status {
          const Lsn named(t.prev_commit_lsn());
          if (t.has_prev_commit_lsn() && (previous ? named != *previous : named >= Lsn(base->lsn()))) {
            unchained = true;
            return base::WithKind(
                absl::DataLossError(fmt::format(
                    "the change log is missing transactions before LSN {} (that commit follows {}, which is not "
                    "stored), so no restore can replay across them: restore to a point before {}, or run 'pgpitr "
                    "verify'",
                    Lsn(t.commit_lsn()).ToString(), named.ToString(), named.ToString())),
                base::ErrorKind::kChangeLogDamaged);
          }
          previous = Lsn(t.commit_lsn());
          ++plan.transactions;
          for (uint32_t relid : t.dropped_relids()) plan.dropped.Add(relid, Lsn(t.commit_lsn()));
          return absl::OkStatus();
        });
    if (counted.code() == absl::StatusCode::kDataLoss && !unchained) {
      const Lsn readable = previous.value_or(Lsn(base->lsn()));
      return base::WithKind(
          absl::DataLossError(fmt::format(
              "the change log is damaged after LSN {} ({}): {}; restore to a point at or before it, or run 'pgpitr "
              "verify' to see what is still restorable",
              readable.ToString(), previous ? "the last commit that reads back" : "the base",
              std::string(counted.message()))),
          base::ErrorKind::kChangeLogDamaged);
    }
    if (!counted.ok()) return counted;
  }
  if (target.kind != RestoreTarget::Kind::kTime) {
    plan.reached_time = plan.last_commit ? plan.last_commit->commit_time() : base->consistent_time();
  }
  if (target.kind == RestoreTarget::Kind::kLatest) {
    plan.reached_lsn = stretch->end_lsn;
    plan.reached_time = stretch->end_time;
  }
  return plan;
}

bool LargeObjectsMayDiffer(const RestorePlan& plan, const proto::CaptureState& state) {
  if (plan.base.has_large_objects()) return true;
  const bool by_time = plan.target.kind == RestoreTarget::Kind::kTime;
  const Lsn target_lsn = plan.target.kind == RestoreTarget::Kind::kLsn      ? plan.target.lsn
                         : plan.target.kind == RestoreTarget::Kind::kLatest ? Lsn(state.captured_through_lsn())
                                                                            : plan.reached_lsn;
  // Only a span around the target counts: one that ended before it left the source without large
  // objects at the target, as the base without any leaves the restore.
  for (const proto::LargeObjectSpan& span : state.large_object_spans()) {
    const bool begins_before = by_time ? span.from_time() < plan.target.time : Lsn(span.from_lsn()) < target_lsn;
    const bool ends_after =
        span.open() || (by_time ? span.to_time() > plan.target.time : Lsn(span.to_lsn()) > target_lsn);
    if (begins_before && ends_after) return true;
  }
  return false;
}

}  // namespace pgpitr::restore
