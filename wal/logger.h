// Logger: where pgpitr's one-line events go (stderr for the CLI, a buffer in tests).
//   Logger log = Logger::Stderr();  log.Info("capture started at {}", lsn.ToString());
// Copyable; the sink must be safe to call from the threads that share the logger.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "fmt/format.h"
#include "wal/status_format.h"

namespace pgpitr::wal {

class Logger {
 public:
  using Sink = std::function<void(std::string_view level, std::string_view line)>;

  explicit Logger(Sink sink) : sink_(std::move(sink)) {}
  static Logger Stderr();
  static Logger Silent() {
    return Logger([](std::string_view, std::string_view) {});
  }

  template <typename... Args>
  void Info(fmt::format_string<Args...> f, Args&&... args) const {
    sink_("info", fmt::format(f, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void Warn(fmt::format_string<Args...> f, Args&&... args) const {
    sink_("warning", fmt::format(f, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void Error(fmt::format_string<Args...> f, Args&&... args) const {
    sink_("error", fmt::format(f, std::forward<Args>(args)...));
  }

 private:
  Sink sink_;
};

}  // namespace pgpitr::wal
