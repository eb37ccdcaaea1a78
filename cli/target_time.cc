#include "cli/target_time.h"

#include <cctype>
#include <cstdint>
#include <optional>

#include "fmt/format.h"
#include "restore/restore_target.h"

namespace pgpitr::cli {

namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;

absl::Status NotATime(std::string_view text) {
  return absl::InvalidArgumentError(
      fmt::format("--to-time '{}' is not a time with an offset, 'now', or a time ago: write e.g. "
                  "'2026-11-25 10:41:07+00:00', '2026-11-25T11:41:07+01:00', 'now', '-30s', '-15min', '-2h' or '-1d' "
                  "(a time needs its offset, +00:00 for UTC)",
                  text));
}

// Seconds in one `unit`, or 0 when it is not a unit we take.
int64_t SecondsPerUnit(std::string_view unit) {
  if (unit == "s" || unit == "sec" || unit == "secs" || unit == "second" || unit == "seconds") return 1;
  if (unit == "min" || unit == "mins" || unit == "minute" || unit == "minutes") return 60;
  if (unit == "h" || unit == "hour" || unit == "hours") return 3600;
  if (unit == "d" || unit == "day" || unit == "days") return 86400;
  return 0;
}

// "30s", "1h30min": a sum of whole numbers with units. nullopt when it is not that shape.
std::optional<int64_t> ParseAgoSeconds(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    int64_t n = 0;
    const size_t digits_start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      n = n * 10 + (text[i] - '0');
      if (n > 100'000'000) return std::nullopt;  // over three years in seconds: a typo, not a target
      ++i;
    }
    if (i == digits_start) return std::nullopt;
    while (i < text.size() && text[i] == ' ') ++i;
    const size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    const int64_t per = SecondsPerUnit(text.substr(unit_start, i - unit_start));
    if (per == 0) return std::nullopt;
    total += n * per;
    if (total > 100'000'000) return std::nullopt;
    while (i < text.size() && text[i] == ' ') ++i;
  }
  return total;
}

}  // namespace

std::string TargetTime::Echo() const {
  const std::string absolute = pg::FormatPgTime(time);
  return written.empty() ? absolute : fmt::format("{} ({})", absolute, written);
}

absl::StatusOr<TargetTime> ResolveTargetTime(std::string_view text, pg::PgTime now) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text == "now" || text == "NOW" || text == "Now") return TargetTime{.time = now, .written = "now"};
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    const std::optional<int64_t> seconds = ParseAgoSeconds(text.substr(1));
    if (!seconds.has_value()) return NotATime(text);
    if (text.front() == '+' && *seconds > 0) {
      return absl::InvalidArgumentError(fmt::format(
          "--to-time '{}' is in the future: nothing after now is captured yet; write a time ago such as '-30s'", text));
    }
    return TargetTime{.time = now - *seconds * kMicrosPerSecond, .written = std::string(text)};
  }
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text.front()))) return NotATime(text);
  // An absolute time: restore's own parser, which insists on an offset.
  absl::StatusOr<pg::PgTime> absolute = restore::ParseTimestamp(text);
  if (!absolute.ok()) return NotATime(text);
  // Echo what was written only when it does not read the same as the UTC time it means.
  const bool same = pg::FormatPgTime(*absolute) == text;
  return TargetTime{.time = *absolute, .written = same ? "" : std::string(text)};
}

}  // namespace pgpitr::cli
