#include "base/logger.h"

#include <chrono>
#include <cstdio>
#include <mutex>

#include "base/utc_time.h"
#include "nlohmann/json.hpp"

namespace pgpitr::base {

absl::StatusOr<LogLevel> ParseLogLevel(std::string_view word) {
  if (word == "debug") return LogLevel::kDebug;
  if (word == "info") return LogLevel::kInfo;
  if (word == "warning" || word == "warn") return LogLevel::kWarning;
  if (word == "error") return LogLevel::kError;
  return absl::InvalidArgumentError(fmt::format("log level '{}' is not one of debug, info, warning, error", word));
}

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view word) {
  if (word == "text") return LogFormat::kText;
  if (word == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(fmt::format("log format '{}' is not one of text, json", word));
}

std::string FormatLogLine(LogFormat format, std::string_view time, std::string_view level, std::string_view message) {
  if (format == LogFormat::kJson) {
    nlohmann::ordered_json event = {{"ts", time}, {"level", level}, {"msg", message}};
    // Server messages are not always valid UTF-8: replace what is not, rather than fail.
    return event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  // A message is one line even when a server's error text was not.
  std::string line = fmt::format("{} pgpitr {}: {}", time, level, message);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return line;
}

Logger Logger::Stderr(const LogOptions& options) {
  auto mutex = std::make_shared<std::mutex>();
  return Logger(
      [mutex, format = options.format](std::string_view level, std::string_view message) {
        const std::string now = FormatUtcMicros(
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count());
        const std::string line = FormatLogLine(format, now, level, message) + "\n";
        std::lock_guard<std::mutex> lock(*mutex);
        std::fwrite(line.data(), 1, line.size(), stderr);
      },
      options.min_level);
}

}  // namespace pgpitr::base
