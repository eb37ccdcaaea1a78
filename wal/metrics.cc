#include "wal/metrics.h"

#include <cmath>
#include <cstdint>

#include "fmt/format.h"

namespace pgpitr::wal {

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Byte counts and LSNs read better without an exponent; doubles hold integers exactly to 2^53.
  if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0) {
    return fmt::format("{}", static_cast<int64_t>(value));
  }
  return fmt::format("{}", value);
}

void Metrics::Declare(std::string_view name, MetricType type, std::string_view help) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (families_.find(name) != families_.end()) return;
  families_.emplace(std::string(name), Family{type, std::string(help), {}});
  order_.emplace_back(name);
}

void Metrics::Set(std::string_view name, double value, const MetricLabels& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) return;
  it->second.samples[labels] = value;
}

void Metrics::Add(std::string_view name, double delta, const MetricLabels& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) return;
  it->second.samples[labels] += delta;
}

void Metrics::Clear(std::string_view name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = families_.find(name);
  if (it != families_.end()) it->second.samples.clear();
}

double Metrics::Value(std::string_view name, const MetricLabels& labels) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto sample = it->second.samples.find(labels);
  return sample == it->second.samples.end() ? 0 : sample->second;
}

std::string Metrics::Exposition() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const std::string& name : order_) {
    const Family& family = families_.find(name)->second;
    out += fmt::format("# HELP {} {}\n", name, EscapeHelp(family.help));
    out += fmt::format("# TYPE {} {}\n", name, family.type == MetricType::kCounter ? "counter" : "gauge");
    if (family.samples.empty()) {
      out += fmt::format("{} 0\n", name);
      continue;
    }
    for (const auto& [labels, value] : family.samples) {
      out += name;
      if (!labels.empty()) {
        out += '{';
        for (size_t i = 0; i < labels.size(); ++i) {
          if (i > 0) out += ',';
          out += fmt::format("{}=\"{}\"", labels[i].first, EscapeLabelValue(labels[i].second));
        }
        out += '}';
      }
      out += ' ';
      out += FormatMetricValue(value);
      out += '\n';
    }
  }
  return out;
}

void DeclareCaptureMetrics(Metrics& m) {
  m.Declare(kCaptureLagBytes, MetricType::kGauge,
            "WAL bytes the source has written past what capture confirmed (pg_current_wal_lsn() - the slot's "
            "confirmed_flush_lsn).");
  m.Declare(kCaptureLagSeconds, MetricType::kGauge,
            "Seconds between the source's clock and the newest commit time capture has made durable (0 when caught "
            "up).");
  m.Declare(kTransactionsCaptured, MetricType::kCounter, "Transactions captured into the change log.");
  m.Declare(kRowsCaptured, MetricType::kCounter, "Row changes captured into the change log.");
  m.Declare(kChangeLogBytes, MetricType::kGauge, "Approximate size of the change log on disk.");
  m.Declare(kCapturedThroughLsn, MetricType::kGauge, "Every commit before this LSN (as a number) is durable.");
  m.Declare(kLastBaseTimestamp, MetricType::kGauge, "Consistent time of the newest base dump (Unix seconds).");
  m.Declare(kLastBaseSize, MetricType::kGauge, "Size of the newest base dump.");
  m.Declare(kWindowStart, MetricType::kGauge, "Earliest restorable time (Unix seconds; 0: nothing restorable).");
  m.Declare(kWindowEnd, MetricType::kGauge, "Latest restorable time (Unix seconds; 0: nothing restorable).");
  m.Declare(kWindowStretches, MetricType::kGauge,
            "Stretches the restorable window is split into by gaps in the change log (1: no gap; 0: nothing "
            "restorable); window start and end are the newest stretch's.");
  m.Declare(kErrors, MetricType::kCounter,
            "Errors by kind: source (connection to the source lost), slot (slot lost, or warned about: at risk "
            "of invalidation or lag growing), base (a base dump failed), storage (the change log could not be read "
            "or written), retention (retention failed).");
  for (ErrorKind kind : kAllErrorKinds) m.Add(kErrors, 0, {{"kind", std::string(ErrorKindLabel(kind))}});
  m.Declare(kSlotWalStatus, MetricType::kGauge,
            "1 for the slot's current wal_status (reserved, extended, unreserved, lost, missing).");
  m.Declare(kSlotSafeWalSize, MetricType::kGauge,
            "WAL bytes that can still be written before the slot is at risk of invalidation (-1: no limit).");
  m.Declare(kSlotLost, MetricType::kCounter, "Times capture found its slot lost and started a new one (a gap).");
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

void CountError(Metrics& metrics, ErrorKind kind) {
  metrics.Add(kErrors, 1, {{"kind", std::string(ErrorKindLabel(kind))}});
}

void CountBaseDecision(Metrics& metrics, std::string_view decision) {
  if (decision == "failed") CountError(metrics, ErrorKind::kBase);
  if (decision == "retention failed") CountError(metrics, ErrorKind::kRetention);
}

void ExportRestorableWindow(Metrics& metrics, const RestorableWindow& window) {
  auto unix_seconds = [](PgTime t) { return static_cast<double>(UnixMicrosFromPgTime(t)) / 1e6; };
  metrics.Set(kWindowStretches, static_cast<double>(window.stretches.size()));
  metrics.Set(kWindowStart, window.empty() ? 0 : unix_seconds(window.newest().start_time));
  metrics.Set(kWindowEnd, window.empty() ? 0 : unix_seconds(window.newest().end_time));
}

}  // namespace pgpitr::wal
