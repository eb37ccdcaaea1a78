// RunCapture: `pgpitr run`'s work. Prepares the source, then streams its committed transactions into
// the repository's change log until asked to stop, confirming to the server only what is on disk;
// samples sequences every few seconds; takes bases in the background (the first, then on a schedule)
// and applies retention.
//   std::atomic<bool> stop{false};
//   absl::Status s = RunCapture(*repo, options, stop, Logger::Stderr());
// Blocks the calling thread; `stop` may be set from any thread (a signal handler's flag). A lost
// connection is retried with backoff once capture has streamed; other errors end it.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "base/logger.h"
#include "pg/conninfo.h"
#include "wal/base_schedule.h"
#include "wal/capture_metrics.h"
#include "wal/repository.h"
#include "wal/source.h"

namespace pgpitr::wal {

struct CaptureOptions {
  pg::ConnInfo source;
  SourceSettings source_settings;
  // How often sequences are sampled; each check also moves the restorable window's end time.
  std::chrono::milliseconds sequence_interval{1000};
  // How often capture reports its position to the server.
  std::chrono::milliseconds status_interval{1000};
  bool first_base = true;  // take a base when the repository has none
  // Bases on a schedule, taken only when the source had transactions since the newest base
  // (wal/base_schedule.h); nullopt: only the first base.
  std::optional<BaseSchedule> base_schedule;
  // Applied at start and after each scheduled base decision (wal/retention.h); nullopt: keep all.
  std::optional<RetentionPolicy> retention;
  WallClock clock;  // for the schedule and retention; empty: the system clock
  // Each base decision ("taken", "skipped", "failed", "retention deleted"), for tests.
  std::function<void(std::string_view what)> on_base_decision;
  std::filesystem::path pg_bin_dir;  // where pg_dump is; empty: the newest installed
  // After the source restarts or the network drops, capture reconnects after this delay, doubled
  // after each failed attempt up to the maximum.
  std::chrono::milliseconds reconnect_delay{1000};
  std::chrono::milliseconds max_reconnect_delay{30000};
  // Called after each synced write, with the position now durable and the source time it covers
  // (tests and progress use it).
  std::function<void(pg::Lsn durable, pg::PgTime durable_time)> on_sync;
  // Prometheus metrics kept up to date (see wal/capture_metrics.h); may be null.
  base::Metrics* metrics = nullptr;
  // How often the slot's lag and wal_status are sampled: logged when their state changes, exported.
  std::chrono::milliseconds slot_check_interval{5000};
  // Fault injection for tests: called at every point where a crash of capture must leave the
  // repository sound: before and after each message that opens, pauses, aborts or commits a
  // transaction, after each write of open transactions' changes (a spill), before and after each
  // sync, after each status sent. `pgpitr run` sets it only from PGPITR_TEST_CAPTURE_KILL_AT.
  std::function<void(std::string_view point)> at_fault_point;
};

[[nodiscard]] absl::Status RunCapture(const Repository& repo, const CaptureOptions& options,
                                      const std::atomic<bool>& stop, const base::Logger& log);

}  // namespace pgpitr::wal
