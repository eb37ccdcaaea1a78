#include "restore/planner.h"

#include <algorithm>

#include "fmt/format.h"
#include "rocksdb/db.h"

namespace pgpitr::restore {

using wal::FormatPgTime;
using wal::Lsn;

std::string RestorableWindow::ToString() const {
  if (empty()) return "empty";
  return fmt::format("{} (LSN {}) to {} (LSN {})", FormatPgTime(earliest_time), earliest_lsn.ToString(),
                     FormatPgTime(latest_time), latest_lsn.ToString());
}

RestorableWindow ComputeWindow(const std::vector<proto::Base>& bases, const proto::CaptureState& state,
                               const std::vector<proto::Gap>& gaps) {
  RestorableWindow w;
  std::vector<proto::Base> covered;
  for (const proto::Base& base : bases) {
    const bool usable =
        state.log_start_lsn() != 0 && base.lsn() >= state.log_start_lsn() && base.lsn() <= state.captured_through_lsn();
    (usable ? covered : w.unusable_bases).push_back(base);
  }
  // Stretches between gaps, newest first: the window is the newest one holding a base.
  std::vector<proto::Gap> sorted = gaps;
  std::sort(sorted.begin(), sorted.end(),
            [](const proto::Gap& a, const proto::Gap& b) { return a.from_lsn() < b.from_lsn(); });
  // A base replays from its LSN: it is in the stretch starting at the newest gap ending at or before it.
  auto stretch_of = [&](const proto::Base& b) -> int {
    int i = 0;
    for (const proto::Gap& g : sorted) {
      if (g.to_lsn() <= b.lsn())
        ++i;
      else if (g.from_lsn() < b.lsn())
        return -1;  // inside a gap: the commits just after it may be missing
    }
    return i;
  };
  int chosen = -1;
  for (const proto::Base& b : covered) chosen = std::max(chosen, stretch_of(b));
  for (const proto::Base& b : covered) {
    (chosen >= 0 && stretch_of(b) == chosen ? w.usable_bases : w.unusable_bases).push_back(b);
  }
  std::sort(w.unusable_bases.begin(), w.unusable_bases.end(),
            [](const proto::Base& a, const proto::Base& b) { return a.lsn() < b.lsn(); });
  if (!w.usable_bases.empty()) {
    w.earliest_lsn = Lsn(w.usable_bases.front().lsn());
    w.earliest_time = w.usable_bases.front().consistent_time();
    w.latest_lsn = Lsn(state.captured_through_lsn());
    w.latest_time = std::max(state.captured_through_time(), w.usable_bases.back().consistent_time());
    if (chosen < static_cast<int>(sorted.size())) {
      const proto::Gap& end = sorted[static_cast<size_t>(chosen)];
      if (Lsn(end.from_lsn()) < w.latest_lsn) {
        w.ends_at_gap = end;
        w.latest_lsn = std::max(Lsn(end.from_lsn()), w.earliest_lsn);
        w.latest_time = w.usable_bases.back().consistent_time();
      }
    }
  }
  return w;
}

namespace {

std::string GapAdvice(const proto::Gap& gap) {
  return fmt::format(
      "the change log has a gap after LSN {} and before {} ({}): restore to a point at or before {}, "
      "or after a base taken after {} (run 'pgpitr verify')",
      Lsn(gap.from_lsn()).ToString(), Lsn(gap.to_lsn()).ToString(), gap.reason(), Lsn(gap.from_lsn()).ToString(),
      Lsn(gap.to_lsn()).ToString());
}

}  // namespace

absl::StatusOr<RestorePlan> PlanRestore(const std::vector<proto::Base>& bases, const wal::ChangeLog& log,
                                        const proto::CaptureState& state, const RestoreTarget& target) {
  absl::StatusOr<std::vector<proto::Gap>> gaps = log.Gaps();
  if (!gaps.ok()) return gaps.status();
  const RestorableWindow window = ComputeWindow(bases, state, *gaps);
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
      return absl::NotFoundError(
          fmt::format("no restore point named '{}' has been captured (run 'pgpitr info' to list marks)", target.mark));
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
        return absl::OutOfRangeError(
            fmt::format("restore target {} is before the earliest restorable point {} (the window is {}; run 'pgpitr "
                        "info' to see it)",
                        FormatPgTime(target.time), FormatPgTime(window.earliest_time), window.ToString()));
      }
      if (target.time > window.latest_time && window.ends_at_gap) {
        return absl::OutOfRangeError(fmt::format("restore target {} is after the window's end ({}): {}",
                                                 FormatPgTime(target.time), window.ToString(),
                                                 GapAdvice(*window.ends_at_gap)));
      }
      if (target.time > window.latest_time) {
        return absl::OutOfRangeError(
            fmt::format("restore target {} is after the latest restorable point {} (the window is {}; is 'pgpitr run' "
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
        return absl::OutOfRangeError(
            fmt::format("restore target LSN {} is before the earliest restorable point {} (the window is {}; run "
                        "'pgpitr info' to see it)",
                        lsn.ToString(), window.earliest_lsn.ToString(), window.ToString()));
      }
      if (lsn > window.latest_lsn && window.ends_at_gap) {
        return absl::OutOfRangeError(fmt::format("restore target LSN {} is after the window's end ({}): {}",
                                                 lsn.ToString(), window.ToString(), GapAdvice(*window.ends_at_gap)));
      }
      if (lsn > window.latest_lsn) {
        return absl::OutOfRangeError(
            fmt::format("restore target LSN {} is after the latest restorable point {} (the window is {}; is 'pgpitr "
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
    // The commits to replay must form an unbroken chain: each names the one stored before it.
    std::optional<Lsn> previous;
    uint64_t first_storage = ~uint64_t{0}, last_storage = 0;
    absl::Status counted = log.ForEachTransaction(
        Lsn(base->lsn()), Lsn((*last)->commit_lsn()), [&](const proto::Transaction& t) -> absl::Status {
          const Lsn named(t.prev_commit_lsn());
          if (t.has_prev_commit_lsn() && (previous ? named != *previous : named >= Lsn(base->lsn()))) {
            return absl::DataLossError(fmt::format(
                "the change log is missing transactions before LSN {} (that commit follows {}, which is not "
                "stored), so no restore can replay across them: restore to a point before {}, or run 'pgpitr "
                "verify'",
                Lsn(t.commit_lsn()).ToString(), named.ToString(), named.ToString()));
          }
          previous = Lsn(t.commit_lsn());
          if (t.change_count() > 0) {
            first_storage = std::min(first_storage, t.storage_id());
            last_storage = std::max(last_storage, t.storage_id());
          }
          ++plan.transactions;
          return absl::OkStatus();
        });
    if (counted.code() == absl::StatusCode::kDataLoss &&
        counted.message().find("is not stored") == std::string_view::npos) {
      const Lsn readable = previous.value_or(Lsn(base->lsn()));
      return absl::DataLossError(fmt::format(
          "the change log is damaged after LSN {} ({}): {}; restore to a point at or before it, or run 'pgpitr "
          "verify' to see what is still restorable",
          readable.ToString(), previous ? "the last commit that reads back" : "the base",
          std::string(counted.message())));
    }
    if (!counted.ok()) return counted;
    // The changes to replay, read once with their checksums verified, so that a damaged block stops
    // the restore before anything is written to the target.
    if (first_storage <= last_storage) {
      rocksdb::ReadOptions read;
      read.verify_checksums = true;
      read.fill_cache = false;
      const std::string upper = wal::ChangeLog::ChangeKey(last_storage + 1, 0);
      rocksdb::Slice upper_slice(upper);
      read.iterate_upper_bound = &upper_slice;
      std::unique_ptr<rocksdb::Iterator> it(log.db()->NewIterator(read));
      uint64_t readable_storage = first_storage;
      for (it->Seek(wal::ChangeLog::ChangeKey(first_storage, 0)); it->Valid(); it->Next()) {
        const std::string_view key = it->key().ToStringView();
        uint64_t storage = 0;
        for (size_t i = 1; i < 9 && i < key.size(); ++i) storage = (storage << 8) | static_cast<uint8_t>(key[i]);
        readable_storage = storage;
      }
      if (!it->status().ok()) {
        // Name the commit whose changes were being read.
        std::optional<Lsn> exact, next;
        uint64_t next_storage = ~uint64_t{0};
        absl::Status found = log.ForEachTransaction(
            Lsn(base->lsn()), Lsn((*last)->commit_lsn()), [&](const proto::Transaction& t) -> absl::Status {
              if (t.storage_id() == readable_storage) exact = Lsn(t.commit_lsn());
              if (t.storage_id() > readable_storage && t.storage_id() < next_storage) {
                next_storage = t.storage_id();
                next = Lsn(t.commit_lsn());
              }
              return absl::OkStatus();
            });
        (void)found;  // best effort: the message below stands without it
        const std::optional<Lsn> damaged = exact ? exact : next;
        return absl::DataLossError(fmt::format(
            "the change log is damaged: the changes of the transaction committed at LSN {} do not read back ({}); "
            "restore to a point before it, or run 'pgpitr verify' to see what is still restorable",
            damaged ? damaged->ToString() : std::string("unknown"), it->status().ToString()));
      }
    }
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
