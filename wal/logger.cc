#include "wal/logger.h"

#include <chrono>
#include <cstdio>
#include <mutex>

#include "wal/pg_time.h"

namespace pgpitr::wal {

Logger Logger::Stderr() {
  auto mutex = std::make_shared<std::mutex>();
  return Logger([mutex](std::string_view level, std::string_view line) {
    const std::string now = FormatPgTime(PgTimeFromSystemClock(std::chrono::system_clock::now()));
    std::lock_guard<std::mutex> lock(*mutex);
    std::fprintf(stderr, "%s pgpitr %.*s: %.*s\n", now.c_str(), static_cast<int>(level.size()), level.data(),
                 static_cast<int>(line.size()), line.data());
  });
}

}  // namespace pgpitr::wal
