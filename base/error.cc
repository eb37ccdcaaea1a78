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
  if (value < 0 || value > static_cast<int>(ErrorKind::kNotExact)) return ErrorKind::kUnknown;
  return static_cast<ErrorKind>(value);
}

absl::Status Reworded(const absl::Status& status, std::string_view message) {
  if (status.ok()) return status;
  absl::Status out(status.code(), absl::string_view(message.data(), message.size()));
  status.ForEachPayload([&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace pgpitr::base
