// Metrics: a small registry of named counters and gauges, rendered in Prometheus' text exposition
// format (version 0.0.4), which `pgpitr run --metrics-listen` serves for an existing Prometheus.
//   Metrics metrics;  metrics.Declare("pgpitr_rows_captured_total", MetricType::kCounter, "...");
//   metrics.Add("pgpitr_rows_captured_total", 3);  std::string page = metrics.Exposition();
// No global state: capture and the HTTP server share one object. Safe to use from any thread. What
// `pgpitr run` exports is declared in wal/capture_metrics.h.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgpitr::base {

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

}  // namespace pgpitr::base
