#include "base/metrics.h"

#include <cmath>
#include <cstdint>

#include "fmt/format.h"

namespace pgpitr::base {

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

}  // namespace pgpitr::base
