#include "pg/conninfo.h"

#include <libpq-fe.h>

#include <memory>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace pgpitr::pg {

namespace {

std::string Quote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  out += '\'';
  return out;
}

std::string Render(const std::map<std::string, std::string, std::less<>>& keys, bool redact) {
  std::string out;
  for (const auto& [key, value] : keys) {
    if (!out.empty()) out += ' ';
    out += key;
    out += '=';
    out += (redact && key == "password") ? std::string("'********'") : Quote(value);
  }
  return out;
}

}  // namespace

absl::StatusOr<ConnInfo> ConnInfo::Parse(std::string_view text) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(
      PQconninfoParse(std::string(text).c_str(), &error), &PQconninfoFree);
  if (options == nullptr) {
    std::string why = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return absl::InvalidArgumentError(
        fmt::format("invalid connection string: {} (write it as 'host=H port=P dbname=D user=U' or "
                    "'postgres://U@H:P/D')",
                    why));
  }
  ConnInfo info;
  for (PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    if (o->val != nullptr) info.keys_[o->keyword] = o->val;
  }
  return info;
}

ConnInfo ConnInfo::With(std::string_view key, std::string_view value) const {
  ConnInfo copy = *this;
  copy.keys_[std::string(key)] = std::string(value);
  return copy;
}

ConnInfo ConnInfo::Without(std::string_view key) const {
  ConnInfo copy = *this;
  if (auto it = copy.keys_.find(key); it != copy.keys_.end()) copy.keys_.erase(it);
  return copy;
}

std::optional<std::string> ConnInfo::Get(std::string_view key) const {
  auto it = keys_.find(key);
  if (it == keys_.end()) return std::nullopt;
  return it->second;
}

std::string ConnInfo::ToString() const { return Render(keys_, /*redact=*/false); }
std::string ConnInfo::Redacted() const { return Render(keys_, /*redact=*/true); }

}  // namespace pgpitr::pg
