// ProgressLine: the CLI's ProgressSink. On a terminal it keeps one line up to date (phase, how much
// done, rate, time left); elsewhere it stays quiet and line-oriented: a line when a phase starts and
// at most one every 10 s after that. The clock and the writer are passed in, so tests need no terminal.
//   ProgressLine line(isatty(STDERR_FILENO) != 0, WriteToStderr, std::chrono::steady_clock::now);
//   TakeBase(repo, {.progress = &line, ...}, log);  line.Finish();
// Not thread-safe: report from one thread.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "base/progress.h"

namespace pgpitr::cli {

class ProgressLine : public base::ProgressSink {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  using Writer = std::function<void(std::string_view)>;

  ProgressLine(bool terminal, Writer write, Clock clock);
  ~ProgressLine() override { Finish(); }

  void Report(const base::Progress& progress) override;
  // Put before every line ("verify --replay: "), for work done on behalf of another command.
  void set_prefix(std::string prefix) { prefix_ = std::move(prefix); }
  // Ends the terminal's updating line (so what follows starts on a line of its own).
  void Finish();

  // The text shown for `progress`, `elapsed` after its phase started:
  // "replay: 1200/5000 transactions (24%), 340 transactions/s, 11 s left".
  static std::string Describe(const base::Progress& progress, std::chrono::duration<double> elapsed);

 private:
  bool terminal_;
  Writer write_;
  Clock clock_;
  base::Phase phase_ = base::Phase::kBaseDump;
  bool shown_ = false;  // a phase was reported
  std::string prefix_;
  bool line_open_ = false;  // a terminal line is drawn and not ended
  std::chrono::steady_clock::time_point phase_start_;
  std::chrono::steady_clock::time_point last_shown_;
};

// Human figures used by the progress line: "12.3 MiB", "1 min 05 s".
std::string FormatBytes(double bytes);
std::string FormatSeconds(double seconds);

}  // namespace pgpitr::cli
