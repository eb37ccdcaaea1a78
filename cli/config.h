// Config: `pgpitr --config FILE` (TOML) and PGPITR_* environment variables, layered under the
// command-line flags: flags > environment > file > built-in defaults. deploy/pgpitr.toml shows every key.
//   absl::StatusOr<Config> file = LoadConfigFile("/etc/pgpitr/app.toml");
//   Config env = ConfigFromEnvironment(&getenv);
//   Config effective = Overlay(*file, env);   // env wins where it says something
// A connection string holding a password is refused in the file (and so never lands in a
// repository's or a deploy folder's config): passwords come from PGPASSFILE, PGPASSWORD, or a
// `source_file` readable only by its owner.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace pgpitr::cli {

// What a config file or the environment may set; unset fields leave the flag's default alone.
struct Config {
  std::optional<std::string> source;  // connection string (no password)
  std::optional<std::string> repo;
  std::optional<std::string> slot;
  std::optional<std::string> publication;
  std::optional<std::string> listen;          // the proxy, HOST:PORT
  std::optional<std::string> tls_cert;        // the proxy's certificate for clients (PEM)
  std::optional<std::string> tls_key;         // and its key
  std::optional<std::string> metrics_listen;  // Prometheus endpoint, HOST:PORT
  std::optional<std::string> log_format;      // text | json
  std::optional<std::string> log_level;       // debug | info | warning | error
  std::optional<std::string> pg_bin;
  std::optional<std::string> base_interval;   // a duration: 24h, 30min, 10s
  std::optional<std::string> base_at;         // HH:MM, UTC
  std::optional<std::string> retention_days;  // days (7) or a duration (12h); 0 keeps everything
  std::optional<int> sequence_interval;       // seconds
  std::optional<int> slot_check_interval;     // seconds
  std::optional<bool> first_base;
  std::optional<bool> set_replica_identity_full;
  std::optional<bool> failover_slot;
};

// Parses TOML text; `origin` names it in errors. Unknown keys, wrong types, and a source with a
// password are errors. source_file is read (it must not be readable by group or others) into source.
[[nodiscard]] absl::StatusOr<Config> ParseConfig(std::string_view toml, std::string_view origin);
[[nodiscard]] absl::StatusOr<Config> LoadConfigFile(const std::filesystem::path& path);

// PGPITR_SOURCE (else DATABASE_URL), PGPITR_REPO, PGPITR_SLOT, PGPITR_PUBLICATION, PGPITR_LISTEN,
// PGPITR_METRICS_LISTEN, PGPITR_LOG_FORMAT, PGPITR_LOG_LEVEL, PGPITR_PG_BIN. getenv is passed in
// so tests control the environment.
Config ConfigFromEnvironment(const std::function<const char*(const char*)>& getenv);

// `over`'s fields where set, else `under`'s.
Config Overlay(const Config& under, const Config& over);

// The retention window, one parser and one help text for `run --retention-days`, `retention --keep`,
// retention_days in the file and PGPITR_RETENTION_DAYS: a whole number of days ("7") or a duration
// ("7d", "36h", "1d12h"); zero ("0") keeps everything (nullopt).
inline constexpr const char* kDefaultRetention = "7";
inline constexpr const char* kRetentionHelp =
    "Keep bases and the change log to restore to any point of this window: a number of days (7) or a duration "
    "(7d, 36h, 1d12h); 0 keeps everything";
[[nodiscard]] absl::StatusOr<std::optional<std::chrono::milliseconds>> ParseRetentionWindow(std::string_view text);

}  // namespace pgpitr::cli
