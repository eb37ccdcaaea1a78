// The metrics `pgpitr run` exports (base/metrics.h is the registry they go in): their names and
// help text, the classes of error counted, and the restorable window as gauges.
//   DeclareCaptureMetrics(metrics);  CountError(metrics, ErrorKind::kSource);
#pragma once

#include <string>
#include <string_view>

#include "base/metrics.h"
#include "wal/restorable_window.h"

namespace pgpitr::wal {

// The names `pgpitr run` exports.
inline constexpr std::string_view kCaptureLagBytes = "pgpitr_capture_lag_bytes";
inline constexpr std::string_view kCaptureLagSeconds = "pgpitr_capture_lag_seconds";
inline constexpr std::string_view kTransactionsCaptured = "pgpitr_transactions_captured_total";
inline constexpr std::string_view kRowsCaptured = "pgpitr_rows_captured_total";
inline constexpr std::string_view kChangeLogBytes = "pgpitr_changelog_bytes";
inline constexpr std::string_view kCapturedThroughLsn = "pgpitr_captured_through_lsn";
inline constexpr std::string_view kLastBaseTimestamp = "pgpitr_last_base_timestamp_seconds";
inline constexpr std::string_view kLastBaseSize = "pgpitr_last_base_size_bytes";
inline constexpr std::string_view kWindowStart = "pgpitr_window_start_timestamp_seconds";
inline constexpr std::string_view kWindowEnd = "pgpitr_window_end_timestamp_seconds";
inline constexpr std::string_view kWindowStretches = "pgpitr_window_stretches";
inline constexpr std::string_view kErrors = "pgpitr_errors_total";
inline constexpr std::string_view kSlotWalStatus = "pgpitr_slot_wal_status";
inline constexpr std::string_view kSlotSafeWalSize = "pgpitr_slot_safe_wal_size_bytes";
inline constexpr std::string_view kSlotLost = "pgpitr_slot_lost_total";

// Declares the families above, with their help text; every kind of kErrors starts at 0, so that a
// rate() over it works from the first scrape.
void DeclareCaptureMetrics(base::Metrics& metrics);

// The classes of error `run` counts in pgpitr_errors_total{kind}.
enum class ErrorKind {
  kSource,     // the connection to the source was lost ("source")
  kSlot,       // the slot was lost, or is at risk or lagging more and more ("slot")
  kBase,       // a base dump failed ("base")
  kStorage,    // the change log could not be read or written ("storage")
  kRetention,  // retention failed ("retention")
};
inline constexpr ErrorKind kAllErrorKinds[] = {ErrorKind::kSource, ErrorKind::kSlot, ErrorKind::kBase,
                                               ErrorKind::kStorage, ErrorKind::kRetention};
std::string_view ErrorKindLabel(ErrorKind kind);
void CountError(base::Metrics& metrics, ErrorKind kind);
// Counts the failures among the base scheduler's decisions (wal/base_schedule.h): "failed" is a
// base error, "retention failed" a retention error; the others are not errors.
void CountBaseDecision(base::Metrics& metrics, std::string_view decision);

// The restorable window's newest stretch (start and end, Unix seconds; 0 when there is none) and
// how many stretches the change log's gaps split it into.
void ExportRestorableWindow(base::Metrics& metrics, const RestorableWindow& window);

}  // namespace pgpitr::wal
