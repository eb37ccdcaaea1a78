#include "wal/base_schedule.h"

#include <cctype>
#include <utility>

#include "fmt/format.h"

namespace pgpitr::wal {

using std::chrono::system_clock;

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  const std::string original(text);
  auto bad = [&] {
    return absl::InvalidArgumentError(fmt::format(
        "'{}' is not a duration; write a number and a unit, e.g. 24h, 30min, 10s, 7d or 1h30min", original));
  };
  if (text.empty()) return bad();
  std::chrono::milliseconds total{0};
  while (!text.empty()) {
    size_t digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
    if (digits == 0 || digits > 9) return bad();
    const int64_t n = std::stoll(std::string(text.substr(0, digits)));
    text.remove_prefix(digits);
    size_t letters = 0;
    while (letters < text.size() && std::isalpha(static_cast<unsigned char>(text[letters]))) ++letters;
    const std::string_view unit = text.substr(0, letters);
    text.remove_prefix(letters);
    if (unit == "ms")
      total += std::chrono::milliseconds(n);
    else if (unit == "s")
      total += std::chrono::seconds(n);
    else if (unit == "min" || unit == "m")
      total += std::chrono::minutes(n);
    else if (unit == "h")
      total += std::chrono::hours(n);
    else if (unit == "d")
      total += std::chrono::hours(24 * n);
    else
      return bad();
  }
  if (total.count() <= 0) return bad();
  return total;
}

absl::StatusOr<std::chrono::minutes> ParseTimeOfDay(std::string_view text) {
  int hours = -1, minutes = -1;
  char tail = 0;
  if (text.size() != 5 || std::sscanf(std::string(text).c_str(), "%2d:%2d%c", &hours, &minutes, &tail) != 2 ||
      hours < 0 || hours > 23 || minutes < 0 || minutes > 59) {
    return absl::InvalidArgumentError(
        fmt::format("'{}' is not a time of day; write HH:MM in UTC, e.g. 02:30", std::string(text)));
  }
  return std::chrono::minutes(hours * 60 + minutes);
}

system_clock::time_point NextBaseDue(const BaseSchedule& schedule, system_clock::time_point last_decision) {
  if (!schedule.at.has_value()) {
    return last_decision + std::chrono::duration_cast<system_clock::duration>(schedule.interval);
  }
  // Slots at the time of day and every interval after it, counted from the day's midnight UTC
  // before the last decision: the first slot strictly after it.
  const auto day = std::chrono::floor<std::chrono::days>(last_decision);
  system_clock::time_point slot = day + *schedule.at;
  const auto step = std::chrono::duration_cast<system_clock::duration>(schedule.interval);
  if (slot > last_decision) {
    while (slot - step > last_decision) slot -= step;
    return slot;
  }
  const auto behind = (last_decision - slot) / step + 1;
  return slot + behind * step;
}

BaseScheduler::BaseScheduler(const Repository& repo, BaseSchedulerOptions options, const std::atomic<bool>& stop,
                             const base::Logger& log)
    : repo_(repo), options_(std::move(options)), stop_(stop), log_(log) {
  thread_ = std::thread([this] { Run(); });
}

BaseScheduler::~BaseScheduler() {
  abandon_ = true;
  if (thread_.joinable()) thread_.join();
}

system_clock::time_point BaseScheduler::Now() const { return options_.clock ? options_.clock() : system_clock::now(); }

void BaseScheduler::Run() {
  auto stopping = [this] { return stop_.load() || abandon_.load(); };
  auto decided = [this](std::string_view what) {
    if (options_.on_decision) options_.on_decision(what);
  };
  auto apply_retention = [&] {
    if (!options_.retention.has_value()) return;
    absl::StatusOr<RetentionResult> r =
        RunRetention(repo_, *options_.retention, pg::PgTimeFromSystemClock(Now()), {}, log_);
    if (!r.ok()) {
      log_.Error("retention failed: {} (it is tried again after the next base)", r.status().message());
      decided("retention failed");
    } else if (!r->plan.empty()) {
      decided("retention deleted");
    }
  };
  BaseOptions base_options = options_.base;
  base_options.stop = stopping;
  apply_retention();

  // When the next decision is due: now for a repository without a base, else an interval (or the
  // next time-of-day slot) after the newest base's start.
  std::optional<system_clock::time_point> due;
  std::chrono::milliseconds retry = options_.schedule ? options_.schedule->retry_delay : std::chrono::minutes(1);
  while (!stopping()) {
    if (due.has_value() && Now() < *due) {
      std::this_thread::sleep_for(options_.poll);
      continue;
    }
    absl::StatusOr<std::vector<proto::Base>> bases = repo_.Bases();
    if (!bases.ok()) {
      log_.Error("cannot list bases: {}", bases.status().message());
      return;
    }
    if (!due.has_value()) {
      if (options_.base_now) {
        due = Now();
      } else if (bases->empty()) {
        if (!options_.first_base && !options_.schedule) return;
        // Without a first base, the schedule waits for one taken by 'pgpitr backup'.
        if (options_.first_base) due = Now();
      } else if (options_.schedule) {
        const auto newest_start =
            system_clock::time_point(std::chrono::microseconds(pg::UnixMicrosFromPgTime(bases->back().start_time())));
        due = NextBaseDue(*options_.schedule, newest_start);
      } else {
        return;  // a first base exists and there is no schedule: nothing more to do
      }
    }
    if (!due.has_value() || Now() < *due) {
      std::this_thread::sleep_for(options_.poll);
      continue;
    }
    if (!bases->empty() && !std::exchange(options_.base_now, false)) {
      // Only when the database had transactions since the newest base, like the hosted services.
      absl::StatusOr<std::optional<proto::Transaction>> commit =
          repo_.change_log().FirstCommitAtOrAfter(pg::Lsn(bases->back().lsn()));
      if (!commit.ok()) {
        log_.Error("cannot read the change log to schedule a base: {}", commit.status().message());
        return;
      }
      if (!commit->has_value()) {
        log_.Info("base skipped: no transaction since base {}", bases->back().id());
        decided("skipped");
        if (!options_.schedule) return;
        due = NextBaseDue(*options_.schedule, Now());
        apply_retention();
        continue;
      }
    }
    absl::StatusOr<proto::Base> taken = TakeBase(repo_, base_options, log_);
    if (stopping()) return;
    if (!taken.ok()) {
      log_.Error("base dump failed: {}; retrying in {} s (or run 'pgpitr backup')", taken.status().message(),
                 retry.count() / 1000.0);
      // Kept for `info`, which says why the window has not begun (or why the newest base is old).
      if (absl::Status s =
              repo_.RecordBaseFailure(pg::PgTimeFromSystemClock(Now()), std::string(taken.status().message()));
          !s.ok()) {
        log_.Warn("cannot record why the base failed: {}", s.message());
      }
      decided("failed");
      due = Now() + std::chrono::duration_cast<system_clock::duration>(retry);
      if (options_.schedule) retry = std::min(retry * 2, options_.schedule->max_retry_delay);
      continue;
    }
    decided("taken");
    retry = options_.schedule ? options_.schedule->retry_delay : std::chrono::minutes(1);
    if (!options_.schedule) {
      apply_retention();
      return;
    }
    due =
        NextBaseDue(*options_.schedule,
                    system_clock::time_point(std::chrono::microseconds(pg::UnixMicrosFromPgTime(taken->start_time()))));
    apply_retention();
  }
}

}  // namespace pgpitr::wal
