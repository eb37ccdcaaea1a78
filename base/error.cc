#include "base/error.h"

#include <optional>
#include <string>

#include "absl/strings/cord.h"

namespace pgpitr::base {

namespace {

constexpr char kKindUrl[] = "pgpitr/error-kind";

}  // namespace

absl::Status WithKind(absl::Status status, ErrorKind kind) {
  if (!status.ok()) status.SetPayload(kKindUrl, absl::Cord(std::to_string(static_cast<int>(kind))));
  return status;
}

ErrorKind KindOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kKindUrl);  // absl::optional<absl::Cord>
  if (!payload) return ErrorKind::kUnknown;
  const std::string text(*payload);
  const int value = text.empty() ? 0 : std::stoi(text);
  if (value < 0 || value > static_cast<int>(ErrorKind::kStopped)) return ErrorKind::kUnknown;
  return static_cast<ErrorKind>(value);
}

}  // namespace pgpitr::base
