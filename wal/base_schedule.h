// BaseSchedule: when `pgpitr run` takes its next base dump, and the BaseScheduler thread that takes
// it (only when the source had transactions since the newest base) and then applies retention.
//   BaseSchedule s{.interval = std::chrono::hours(24), .at = ParseTimeOfDay("02:30").value()};
//   NextBaseDue(s, last_decision) == the first 02:30 UTC after last_decision
// The scheduler runs in its own thread so pg_dump never blocks capture; it reads the change log and
// writes only bases and retention's records. Time comes from the clock it is given.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"
#include "base/logger.h"
#include "wal/base_backup.h"
#include "wal/repository.h"
#include "wal/retention.h"

namespace pgpitr::wal {

using WallClock = std::function<std::chrono::system_clock::time_point()>;

// "24h", "30min", "10s", "7d", "500ms", "1h30min": a positive duration.
[[nodiscard]] absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);
// "HH:MM" (UTC) as the offset from midnight.
[[nodiscard]] absl::StatusOr<std::chrono::minutes> ParseTimeOfDay(std::string_view text);

struct BaseSchedule {
  std::chrono::milliseconds interval = std::chrono::hours(24);
  // When set, bases are due at this time of day (UTC) and every interval after it; otherwise an
  // interval after the previous decision.
  std::optional<std::chrono::minutes> at;
  // A failed dump is retried after this delay, doubled after each failure up to the maximum.
  std::chrono::milliseconds retry_delay = std::chrono::minutes(1);
  std::chrono::milliseconds max_retry_delay = std::chrono::hours(1);
};

// The first time a base is due strictly after `last_decision` (the newest base's start, or the
// last time a base was skipped for lack of activity).
std::chrono::system_clock::time_point NextBaseDue(const BaseSchedule& schedule,
                                                  std::chrono::system_clock::time_point last_decision);

struct BaseSchedulerOptions {
  BaseOptions base;                          // source, slot, pg_bin_dir (stop is set by the scheduler)
  std::optional<BaseSchedule> schedule;      // nullopt: no bases on a schedule
  bool first_base = true;                    // take one at once when the repository has none
  bool base_now = false;                     // take one at once whatever the repository holds
  std::optional<RetentionPolicy> retention;  // applied at start and after each scheduled decision
  WallClock clock;                           // empty: the system clock
  std::chrono::milliseconds poll = std::chrono::milliseconds(200);
  // Each decision (base taken, skipped, failed), for tests and metrics.
  std::function<void(std::string_view what)> on_decision;
};

// Starts the thread; the destructor stops it, abandoning a dump in progress (its partial folder is
// never registered).
class BaseScheduler {
 public:
  BaseScheduler(const Repository& repo, BaseSchedulerOptions options, const std::atomic<bool>& stop,
                const base::Logger& log);
  ~BaseScheduler();
  BaseScheduler(const BaseScheduler&) = delete;
  BaseScheduler& operator=(const BaseScheduler&) = delete;

 private:
  void Run();
  std::chrono::system_clock::time_point Now() const;

  const Repository& repo_;
  BaseSchedulerOptions options_;
  const std::atomic<bool>& stop_;
  base::Logger log_;
  std::atomic<bool> abandon_{false};
  std::thread thread_;
};

}  // namespace pgpitr::wal
