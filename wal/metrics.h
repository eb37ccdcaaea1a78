// Metrics: a small registry of named counters and gauges, rendered in Prometheus' text exposition
// format (version 0.0.4), which `pgpitr run --metrics-listen` serves for an existing Prometheus.
//   Metrics metrics;  DeclareCaptureMetrics(metrics);
//   metrics.Add(kTransactionsCaptured, 3);  CountError(metrics, ErrorKind::kSource);
//   std::string page = metrics.Exposition();
// No global state: capture and the HTTP server share one object. Safe to use from any thread.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wal/restorable_window.h"

namespace pgpitr::wal {

enum class MetricType { kCounter, kGauge };

// Label name/value pairs, in the order they are printed.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  // Declares a family; a family's samples appear only once it is declared, in declaration order.
  // Declaring the same name again is harmless (the first declaration stands).
  void Declare(std::string_view name, MetricType type, std::string_view help);

  // Sets a sample (gauges; a counter set this way must never go down). Undeclared names are ignored,
  // so that a misspelt name cannot break the page.
  void Set(std::string_view name, double value, const MetricLabels& labels = {});
  // Adds to a sample (counters), starting from 0.
  void Add(std::string_view name, double delta, const MetricLabels& labels = {});
  // Removes every sample of a family (for a labelled gauge whose label changed, e.g. wal_status).
  void Clear(std::string_view name);

  // The current value, or 0 when the sample was never set.
  double Value(std::string_view name, const MetricLabels& labels = {}) const;

  // The whole registry in the text exposition format: for each family its # HELP and # TYPE lines,
  // then one line per sample (a family without samples shows 0 when it has no labels).
  std::string Exposition() const;

 private:
  struct Family {
    MetricType type;
    std::string help;
    std::map<MetricLabels, double> samples;
  };
  mutable std::mutex mutex_;
  std::vector<std::string> order_;
  std::map<std::string, Family, std::less<>> families_;
};

// The exposition format's escaping: label values escape \, " and newline; help text \ and newline.
std::string EscapeLabelValue(std::string_view value);
std::string EscapeHelp(std::string_view help);
// A sample value as Prometheus parses it: integers without a fraction, NaN, +Inf, -Inf.
std::string FormatMetricValue(double value);

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
void DeclareCaptureMetrics(Metrics& metrics);

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
void CountError(Metrics& metrics, ErrorKind kind);
// Counts the failures among the base scheduler's decisions (wal/base_schedule.h): "failed" is a
// base error, "retention failed" a retention error; the others are not errors.
void CountBaseDecision(Metrics& metrics, std::string_view decision);

// The restorable window's newest stretch (start and end, Unix seconds; 0 when there is none) and
// how many stretches the change log's gaps split it into.
void ExportRestorableWindow(Metrics& metrics, const RestorableWindow& window);

}  // namespace pgpitr::wal
