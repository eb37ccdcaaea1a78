// Lets fmt print absl::string_view (what absl::Status::message() returns; on Debian it is a type of
// its own, not std::string_view), so errors can be composed with fmt::format.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"
#include "fmt/format.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(absl::string_view s, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(std::string_view(s.data(), s.size()), ctx);
  }
};
