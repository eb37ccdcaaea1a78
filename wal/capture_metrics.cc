#include "wal/capture_metrics.h"

namespace pgpitr::wal {

void DeclareCaptureMetrics(base::Metrics& m) {
  m.Declare(kCaptureLagBytes, base::MetricType::kGauge,
            "WAL bytes the source has written past what capture confirmed (pg_current_wal_lsn() - the slot's "
            "confirmed_flush_lsn).");
  m.Declare(kCaptureLagSeconds, base::MetricType::kGauge,
            "Seconds between the source's clock and the newest commit time capture has made durable (0 when caught "
            "up).");
  m.Declare(kTransactionsCaptured, base::MetricType::kCounter, "Transactions captured into the change log.");
  m.Declare(kRowsCaptured, base::MetricType::kCounter, "Row changes captured into the change log.");
  m.Declare(kChangeLogBytes, base::MetricType::kGauge, "Approximate size of the change log on disk.");
  m.Declare(kCapturedThroughLsn, base::MetricType::kGauge, "Every commit before this LSN (as a number) is durable.");
  m.Declare(kLastBaseTimestamp, base::MetricType::kGauge, "Consistent time of the newest base dump (Unix seconds).");
  m.Declare(kLastBaseSize, base::MetricType::kGauge, "Size of the newest base dump.");
  m.Declare(kWindowStart, base::MetricType::kGauge, "Earliest restorable time (Unix seconds; 0: nothing restorable).");
  m.Declare(kWindowEnd, base::MetricType::kGauge, "Latest restorable time (Unix seconds; 0: nothing restorable).");
  m.Declare(kWindowStretches, base::MetricType::kGauge,
            "Stretches the restorable window is split into by gaps in the change log (1: no gap; 0: nothing "
            "restorable); window start and end are the newest stretch's.");
  m.Declare(kErrors, base::MetricType::kCounter,
            "Errors by kind: source (connection to the source lost), slot (slot lost, or warned about: at risk "
            "of invalidation or lag growing), base (a base dump failed), storage (the change log could not be read "
            "or written), retention (retention failed).");
  for (ErrorKind kind : kAllErrorKinds) m.Add(kErrors, 0, {{"kind", std::string(ErrorKindLabel(kind))}});
  m.Declare(kSlotWalStatus, base::MetricType::kGauge,
            "1 for the slot's current wal_status (reserved, extended, unreserved, lost, missing).");
  m.Declare(kSlotSafeWalSize, base::MetricType::kGauge,
            "WAL bytes that can still be written before the slot is at risk of invalidation (-1: no limit).");
  m.Declare(kSlotLost, base::MetricType::kCounter, "Times capture found its slot lost and started a new one (a gap).");
}

std::string_view ErrorKindLabel(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kSource:
      return "source";
    case ErrorKind::kSlot:
      return "slot";
    case ErrorKind::kBase:
      return "base";
    case ErrorKind::kStorage:
      return "storage";
    case ErrorKind::kRetention:
      return "retention";
  }
  return "other";
}

void CountError(base::Metrics& metrics, ErrorKind kind) {
  metrics.Add(kErrors, 1, {{"kind", std::string(ErrorKindLabel(kind))}});
}

void CountBaseDecision(base::Metrics& metrics, std::string_view decision) {
  if (decision == "failed") CountError(metrics, ErrorKind::kBase);
  if (decision == "retention failed") CountError(metrics, ErrorKind::kRetention);
}

void ExportRestorableWindow(base::Metrics& metrics, const RestorableWindow& window) {
  auto unix_seconds = [](pg::PgTime t) { return static_cast<double>(pg::UnixMicrosFromPgTime(t)) / 1e6; };
  metrics.Set(kWindowStretches, static_cast<double>(window.stretches.size()));
  metrics.Set(kWindowStart, window.empty() ? 0 : unix_seconds(window.newest().start_time));
  metrics.Set(kWindowEnd, window.empty() ? 0 : unix_seconds(window.newest().end_time));
}

}  // namespace pgpitr::wal
