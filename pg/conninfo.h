// ConnInfo: a libpq connection string in either form (key=value or postgres:// URI), parsed once so
// that pgpitr can add keys (replication=database, dbname for a restore target) and print it without
// its password.
//   auto ci = ConnInfo::Parse("postgres://app@db:5432/app?sslmode=require");
//   ci->With("replication", "database").ToString();  ci->Redacted() hides the password.
// Keys the string leaves out are taken by libpq from the usual PG* environment variables.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace pgpitr::pg {

class ConnInfo {
 public:
  // Parses with libpq's own parser; an error names what is wrong and shows both accepted forms.
  [[nodiscard]] static absl::StatusOr<ConnInfo> Parse(std::string_view text);

  // A copy with key set to value (replacing any earlier value).
  ConnInfo With(std::string_view key, std::string_view value) const;
  // A copy without the key, so libpq falls back to its environment default (PGPASSWORD, ...).
  // An empty value is not the same: password='' overrides PGPASSWORD.
  ConnInfo Without(std::string_view key) const;
  std::optional<std::string> Get(std::string_view key) const;

  // key='value' pairs, quoted as libpq requires; includes the password.
  std::string ToString() const;
  // The same with the password shown as '********', for messages and logs.
  std::string Redacted() const;

 private:
  std::map<std::string, std::string, std::less<>> keys_;
};

}  // namespace pgpitr::pg
