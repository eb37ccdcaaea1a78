#include "cli/progress.h"

#include <algorithm>
#include <cmath>

#include "fmt/format.h"

namespace pgpitr::cli {

namespace {

// A terminal is redrawn at most this often; a log-like stream gets a line at most this often.
constexpr std::chrono::milliseconds kTerminalRedraw{100};
constexpr std::chrono::seconds kLineInterval{10};

std::string Amount(double value, std::string_view unit) {
  if (unit == "bytes") return FormatBytes(value);
  return fmt::format("{:.0f}", value);
}

}  // namespace

std::string FormatBytes(double bytes) {
  static constexpr const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (bytes >= 1024 && i < 4) {
    bytes /= 1024;
    ++i;
  }
  return i == 0 ? fmt::format("{:.0f} bytes", bytes) : fmt::format("{:.1f} {}", bytes, kUnits[i]);
}

std::string FormatSeconds(double seconds) {
  const int64_t s = static_cast<int64_t>(std::ceil(std::max(0.0, seconds)));
  if (s < 60) return fmt::format("{} s", s);
  if (s < 3600) return fmt::format("{} min {:02} s", s / 60, s % 60);
  return fmt::format("{} h {:02} min", s / 3600, (s % 3600) / 60);
}

std::string ProgressLine::Describe(const base::Progress& p, std::chrono::duration<double> elapsed) {
  const std::string_view unit = base::UnitText(p.unit);
  std::string out(base::PhaseText(p.phase));
  if (p.unit == base::Unit::kNone) return out + "...";
  const bool bytes = p.unit == base::Unit::kBytes;
  if (p.total > 0) {
    out += fmt::format(": {}/{}{}{} ({:.0f}%)", Amount(static_cast<double>(p.done), unit),
                       Amount(static_cast<double>(p.total), unit), bytes ? "" : " ", bytes ? "" : unit,
                       100.0 * static_cast<double>(p.done) / static_cast<double>(p.total));
  } else {
    out += fmt::format(": {}{}{}", Amount(static_cast<double>(p.done), unit), bytes ? "" : " ", bytes ? "" : unit);
  }
  const double seconds = elapsed.count();
  if (seconds <= 0 || p.done == 0) return out;
  const double rate = static_cast<double>(p.done) / seconds;
  out += bytes ? fmt::format(", {}/s", FormatBytes(rate)) : fmt::format(", {:.0f} {}/s", rate, unit);
  if (p.total > p.done) out += fmt::format(", {} left", FormatSeconds(static_cast<double>(p.total - p.done) / rate));
  return out;
}

ProgressLine::ProgressLine(bool terminal, Writer write, Clock clock)
    : terminal_(terminal), write_(std::move(write)), clock_(std::move(clock)) {}

void ProgressLine::Report(const base::Progress& p) {
  const auto now = clock_();
  const bool new_phase = !shown_ || p.phase != phase_;
  if (new_phase) {
    phase_ = p.phase;
    shown_ = true;
    phase_start_ = now;
  }
  const bool finished = p.total > 0 && p.done >= p.total;
  if (terminal_) {
    if (!new_phase && !finished && now - last_shown_ < kTerminalRedraw) return;
    if (new_phase && line_open_) write_("\n");
    write_("\r\033[K" + prefix_ + Describe(p, now - phase_start_));
    line_open_ = true;
  } else {
    if (!new_phase && now - last_shown_ < kLineInterval) return;
    write_(prefix_ + Describe(p, now - phase_start_) + "\n");
  }
  last_shown_ = now;
}

void ProgressLine::Finish() {
  if (line_open_) write_("\n");
  line_open_ = false;
}

}  // namespace pgpitr::cli
