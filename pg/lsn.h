// Lsn: a PostgreSQL WAL position (XLogRecPtr), printed and parsed as PostgreSQL does ("16/B374D848").
//   Lsn lsn = *Lsn::Parse("0/1A2B3C4D");  lsn.ToString() == "0/1A2B3C4D"
// A plain value type; safe to copy between threads.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace pgpitr::pg {

class Lsn {
 public:
  constexpr Lsn() = default;
  constexpr explicit Lsn(uint64_t value) : value_(value) {}

  // Accepts "X/Y" with hexadecimal halves, as pg_lsn does.
  [[nodiscard]] static absl::StatusOr<Lsn> Parse(std::string_view text);

  constexpr uint64_t value() const { return value_; }
  constexpr bool IsValid() const { return value_ != 0; }
  std::string ToString() const;

  friend constexpr auto operator<=>(Lsn, Lsn) = default;

 private:
  uint64_t value_ = 0;
};

}  // namespace pgpitr::pg
