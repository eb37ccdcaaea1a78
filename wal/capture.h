// RunCapture: `pgpitr run`'s work. Prepares the source, then streams its committed transactions into
// the repository's change log until asked to stop, confirming to the server only what is on disk;
// samples sequences every few seconds; takes a first base when the repository has none.
//   std::atomic<bool> stop{false};
//   absl::Status s = RunCapture(*repo, options, stop, Logger::Stderr());
// Blocks the calling thread; `stop` may be set from any thread (a signal handler's flag). A lost
// connection is retried with backoff once capture has streamed; other errors end it.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>

#include "absl/status/status.h"
#include "wal/conninfo.h"
#include "wal/logger.h"
#include "wal/repository.h"
#include "wal/source.h"

namespace pgpitr::wal {

struct CaptureOptions {
  ConnInfo source;
  SourceSettings source_settings;
  // How often sequences are sampled; each check also moves the restorable window's end time.
  std::chrono::milliseconds sequence_interval{1000};
  // How often capture reports its position to the server.
  std::chrono::milliseconds status_interval{1000};
  bool first_base = true;                 // take a base when the repository has none
  std::filesystem::path pg_bin_dir;       // where pg_dump is; empty: the newest installed
  // After the source restarts or the network drops, capture reconnects after this delay, doubled
  // after each failed attempt up to the maximum.
  std::chrono::milliseconds reconnect_delay{1000};
  std::chrono::milliseconds max_reconnect_delay{30000};
  // Called after each synced write, with the position now durable and the source time it covers
  // (tests and progress use it).
  std::function<void(Lsn durable, PgTime durable_time)> on_sync;
};

[[nodiscard]] absl::Status RunCapture(const Repository& repo, const CaptureOptions& options,
                                      const std::atomic<bool>& stop, const Logger& log);

}  // namespace pgpitr::wal
