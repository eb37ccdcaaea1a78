// Logger: where pgpitr's one-line events go (stderr for the CLI, a buffer in tests), each with a
// level; events below the logger's minimum level are not even formatted.
//   Logger log = Logger::Stderr({.format = LogFormat::kJson, .min_level = LogLevel::kInfo});
//   log.Info("capture started at {}", lsn.ToString());
// On stderr an event is one line: "<time> pgpitr <level>: <message>", or with kJson one JSON
// object {"ts": ..., "level": ..., "msg": ...}. Copyable; the sink must be safe to call from the
// threads that share the logger.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "base/status_format.h"
#include "fmt/format.h"

namespace pgpitr::base {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
enum class LogFormat { kText, kJson };

// "debug", "info", "warning" (or "warn"), "error"; "text", "json". Anything else is an error
// naming the accepted words.
[[nodiscard]] absl::StatusOr<LogLevel> ParseLogLevel(std::string_view word);
[[nodiscard]] absl::StatusOr<LogFormat> ParseLogFormat(std::string_view word);

struct LogOptions {
  LogFormat format = LogFormat::kText;
  LogLevel min_level = LogLevel::kInfo;
};

// One event as stderr shows it, without the newline; `time` is already formatted.
std::string FormatLogLine(LogFormat format, std::string_view time, std::string_view level, std::string_view message);

class Logger {
 public:
  using Sink = std::function<void(std::string_view level, std::string_view line)>;

  explicit Logger(Sink sink, LogLevel min_level = LogLevel::kDebug) : sink_(std::move(sink)), min_level_(min_level) {}
  static Logger Stderr(const LogOptions& options = {});
  static Logger Silent() {
    return Logger([](std::string_view, std::string_view) {});
  }

  bool Enabled(LogLevel level) const { return level >= min_level_; }

  template <typename... Args>
  void Debug(fmt::format_string<Args...> f, Args&&... args) const {
    if (Enabled(LogLevel::kDebug)) sink_("debug", fmt::format(f, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void Info(fmt::format_string<Args...> f, Args&&... args) const {
    if (Enabled(LogLevel::kInfo)) sink_("info", fmt::format(f, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void Warn(fmt::format_string<Args...> f, Args&&... args) const {
    if (Enabled(LogLevel::kWarning)) sink_("warning", fmt::format(f, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void Error(fmt::format_string<Args...> f, Args&&... args) const {
    if (Enabled(LogLevel::kError)) sink_("error", fmt::format(f, std::forward<Args>(args)...));
  }

 private:
  Sink sink_;
  LogLevel min_level_;
};

}  // namespace pgpitr::base
