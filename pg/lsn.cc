#include "pg/lsn.h"

#include <charconv>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace pgpitr::pg {

namespace {

bool ParseHex32(std::string_view text, uint32_t* out) {
  if (text.empty() || text.size() > 8) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out, 16);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

absl::StatusOr<Lsn> Lsn::Parse(std::string_view text) {
  const size_t slash = text.find('/');
  uint32_t high = 0;
  uint32_t low = 0;
  if (slash == std::string_view::npos || !ParseHex32(text.substr(0, slash), &high) ||
      !ParseHex32(text.substr(slash + 1), &low)) {
    return absl::InvalidArgumentError(
        fmt::format("'{}' is not an LSN (write it as PostgreSQL prints one, e.g. 0/1A2B3C4D)", text));
  }
  return Lsn((uint64_t{high} << 32) | low);
}

std::string Lsn::ToString() const {
  return fmt::format("{:X}/{:X}", static_cast<uint32_t>(value_ >> 32), static_cast<uint32_t>(value_));
}

}  // namespace pgpitr::pg
