#include "base/utc_time.h"

#include <ctime>

#include "fmt/format.h"

namespace pgpitr::base {

std::string FormatUtcMicros(int64_t unix_micros) {
  int64_t seconds = unix_micros / 1'000'000;
  int64_t micros = unix_micros % 1'000'000;
  if (micros < 0) {
    micros += 1'000'000;
    seconds -= 1;
  }
  const std::time_t tt = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::string out = fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                                tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (micros != 0) {
    std::string frac = fmt::format("{:06}", micros);
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    out += "." + frac;
  }
  out += "+00:00";  // an explicit offset: nobody has to know the zone is UTC
  return out;
}

}  // namespace pgpitr::base
