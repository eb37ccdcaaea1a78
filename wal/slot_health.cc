#include "wal/slot_health.h"

#include <algorithm>

#include "fmt/format.h"

namespace pgpitr::wal {

namespace {

std::string Mib(int64_t bytes) { return fmt::format("{:.1f} MiB", bytes / 1048576.0); }

}  // namespace

absl::StatusOr<SlotHealth> ReadSlotHealth(pg::Connection& conn, const std::string& slot,
                                          pg::PgTime captured_through_time) {
  // wal_status and safe_wal_size exist from PostgreSQL 13 on.
  const bool has_wal_status = conn.server_version() >= 130000;
  const std::string sql = fmt::format(
      "SELECT s.slot_name IS NOT NULL, coalesce(s.active, false), {}, s.confirmed_flush_lsn::text, "
      "pg_current_wal_lsn()::text, greatest(pg_current_wal_lsn() - s.confirmed_flush_lsn, 0)::int8, {}, "
      "(SELECT setting::int8 * 1048576 FROM pg_settings WHERE name = 'max_slot_wal_keep_size' AND setting <> '-1'), "
      "(extract(epoch FROM clock_timestamp() - '2000-01-01 00:00:00+00') * 1000000)::int8 "
      "FROM (SELECT 1) AS one LEFT JOIN pg_replication_slots s ON s.slot_name = $1",
      has_wal_status ? "coalesce(s.wal_status, '')" : "''", has_wal_status ? "s.safe_wal_size" : "NULL::int8");
  absl::StatusOr<pg::Result> r = conn.Query(sql, {slot});
  if (!r.ok()) return r.status();
  SlotHealth h;
  h.exists = r->Get(0, 0) == "t";
  h.active = r->Get(0, 1) == "t";
  h.wal_status = r->GetString(0, 2);
  if (!r->IsNull(0, 3)) {
    absl::StatusOr<pg::Lsn> confirmed = pg::Lsn::Parse(r->Get(0, 3));
    if (!confirmed.ok()) return confirmed.status();
    h.confirmed_flush = *confirmed;
  }
  absl::StatusOr<pg::Lsn> current = pg::Lsn::Parse(r->Get(0, 4));
  if (!current.ok()) return current.status();
  h.current = *current;
  if (!r->IsNull(0, 5)) h.lag_bytes = std::stoll(r->GetString(0, 5));
  if (!r->IsNull(0, 6)) h.safe_wal_size = std::stoll(r->GetString(0, 6));
  if (!r->IsNull(0, 7)) h.max_slot_wal_keep = std::stoll(r->GetString(0, 7));
  h.server_time = static_cast<pg::PgTime>(std::stoll(r->GetString(0, 8)));
  if (h.lag_bytes > 0 && captured_through_time > 0) {
    h.lag_seconds = std::max<double>(0, (h.server_time - captured_through_time) / 1e6);
  }
  return h;
}

std::vector<SlotEvent> SlotWatch::Observe(const SlotHealth& s) {
  std::vector<SlotEvent> events;
  if (s.lost()) {
    if (!lost_said_) {
      events.push_back({SlotEvent::Level::kError,
                        s.exists ? "the slot has been invalidated (wal_status lost): the source removed WAL capture "
                                   "had not confirmed"
                                 : "the slot is gone from the source"});
    }
    lost_said_ = true;
    return events;
  }
  lost_said_ = false;

  if (last_lag_.has_value() && s.lag_bytes > *last_lag_) {
    ++grown_;
  } else if (last_lag_.has_value()) {
    grown_ = 0;
    if (growing_warned_ && s.lag_bytes < *last_lag_) {
      events.push_back({SlotEvent::Level::kInfo, fmt::format("capture lag is shrinking again: {} behind the source, "
                                                             "{:.1f} s",
                                                             Mib(s.lag_bytes), s.lag_seconds)});
      growing_warned_ = false;
    }
  }
  last_lag_ = s.lag_bytes;
  if (grown_ >= growth_samples_ && !growing_warned_) {
    events.push_back({SlotEvent::Level::kWarning,
                      fmt::format("capture lag keeps growing ({} samples in a row): {} behind the source, {:.1f} s; "
                                  "the source writes faster than capture stores (check the repository's disk)",
                                  grown_, Mib(s.lag_bytes), s.lag_seconds)});
    growing_warned_ = true;
  }

  const bool near_limit = s.safe_wal_size.has_value() && s.max_slot_wal_keep.has_value() && *s.max_slot_wal_keep > 0 &&
                          *s.safe_wal_size < *s.max_slot_wal_keep / 5;
  const bool at_risk = near_limit || s.wal_status == "unreserved";
  if (at_risk && !at_risk_warned_) {
    events.push_back({SlotEvent::Level::kWarning,
                      fmt::format("the slot is close to being invalidated: wal_status {}, {} of WAL left before "
                                  "max_slot_wal_keep_size ({}) is reached; if it is, the change log gets a gap and a "
                                  "new base is taken (raise max_slot_wal_keep_size, or find why capture lags)",
                                  s.wal_status, s.safe_wal_size.has_value() ? Mib(*s.safe_wal_size) : "?",
                                  s.max_slot_wal_keep.has_value() ? Mib(*s.max_slot_wal_keep) : "?")});
    at_risk_warned_ = true;
  } else if (!at_risk && at_risk_warned_) {
    events.push_back(
        {SlotEvent::Level::kInfo, fmt::format("the slot is out of danger again: wal_status {}", s.wal_status)});
    at_risk_warned_ = false;
  }
  return events;
}

}  // namespace pgpitr::wal
