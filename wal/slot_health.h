// SlotHealth: how far capture's slot trails the source and how close it is to being invalidated
// (max_slot_wal_keep_size), read from pg_replication_slots on a normal connection; and
// SlotWatch, which turns a series of samples into warnings said once per change of state.
//   auto health = ReadSlotHealth(conn, "pgpitr", captured_through_time);
//   for (const SlotEvent& e : watch.Observe(*health)) log.Warn("{}", e.message);
// Plain values; a SlotWatch belongs to one thread (capture's loop).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pg/connection.h"
#include "pg/lsn.h"
#include "pg/time.h"

namespace pgpitr::wal {

struct SlotHealth {
  bool exists = false;
  bool active = false;
  std::string wal_status;  // reserved, extended, unreserved, lost ("" before PostgreSQL 13)
  pg::Lsn confirmed_flush;
  pg::Lsn current;        // pg_current_wal_lsn() when sampled
  int64_t lag_bytes = 0;  // current - confirmed_flush, never negative
  // Seconds between the server's clock and the newest commit time capture holds (0 when caught up).
  double lag_seconds = 0;
  std::optional<int64_t> safe_wal_size;      // bytes left before the slot is at risk; none: no limit
  std::optional<int64_t> max_slot_wal_keep;  // max_slot_wal_keep_size in bytes; none: -1 (no limit)
  pg::PgTime server_time = 0;

  // The slot can no longer stream: gone, or invalidated because it needed removed WAL.
  bool lost() const { return !exists || wal_status == "lost"; }
  // The label for pgpitr_slot_wal_status: the wal_status, or "missing".
  std::string status_label() const { return exists ? (wal_status.empty() ? "unknown" : wal_status) : "missing"; }
};

// Samples the slot. captured_through_time is what capture has made durable (the change log's
// captured_through_time): lag_seconds is the server's clock minus it, or 0 when the slot has
// confirmed everything the server has written.
[[nodiscard]] absl::StatusOr<SlotHealth> ReadSlotHealth(pg::Connection& conn, const std::string& slot,
                                                        pg::PgTime captured_through_time);

struct SlotEvent {
  enum class Level { kInfo, kWarning, kError };
  Level level;
  std::string message;
};

// Decides what to say about a series of samples: once when the lag has grown for
// `growth_samples` samples in a row (and once when it shrinks again), once when safe_wal_size falls
// below 20% of max_slot_wal_keep_size or wal_status becomes unreserved (and once when it recovers),
// once when the slot is lost.
class SlotWatch {
 public:
  explicit SlotWatch(int growth_samples = 5) : growth_samples_(growth_samples) {}
  std::vector<SlotEvent> Observe(const SlotHealth& sample);

 private:
  int growth_samples_;
  std::optional<int64_t> last_lag_;
  int grown_ = 0;
  bool growing_warned_ = false;
  bool at_risk_warned_ = false;
  bool lost_said_ = false;
};

}  // namespace pgpitr::wal
