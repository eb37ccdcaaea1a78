#include "cli/config.h"

#include <sys/stat.h>
#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "base/status_format.h"
#include "fmt/format.h"
#include "pg/conninfo.h"
#include "wal/base_schedule.h"

namespace pgpitr::cli {

namespace {

constexpr std::string_view kKnownKeys =
    "source, source_file, repo, slot, publication, listen, tls_cert, tls_key, metrics_listen, log_format, log_level, "
    "pg_bin, "
    "base_interval, base_at, retention_days, "
    "sequence_interval, slot_check_interval, first_base, set_replica_identity_full, failover_slot";

std::string Trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

// A connection string in a config file must not carry the password: config files are copied,
// committed and printed.
absl::Status RefusePassword(const std::string& source, std::string_view origin, std::string_view key) {
  absl::StatusOr<pg::ConnInfo> parsed = pg::ConnInfo::Parse(source);
  if (!parsed.ok())
    return absl::InvalidArgumentError(fmt::format("{}: {}: {}", origin, key, parsed.status().message()));
  if (parsed->Get("password").has_value()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: {} holds a password; keep passwords out of config files: use PGPASSFILE or PGPASSWORD, or "
                    "source_file = \"/path\" to a file only pgpitr's user can read",
                    origin, key));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadSourceFile(const std::string& path, std::string_view origin) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(fmt::format("{}: source_file {} cannot be read", origin, path));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: source_file {} is readable by group or others; it may hold a password: chmod 600 it", origin, path));
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return absl::InvalidArgumentError(fmt::format("{}: source_file {} cannot be read", origin, path));
  }
  return Trimmed(text.str());
}

}  // namespace

absl::StatusOr<Config> ParseConfig(std::string_view text, std::string_view origin) {
  toml::table table;
  try {
    table = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(fmt::format("{}:{}:{}: {} (the config file is TOML; see deploy/pgpitr.toml)",
                                                  origin, e.source().begin.line, e.source().begin.column,
                                                  e.description()));
  }
  Config config;
  absl::Status status = absl::OkStatus();
  auto type_error = [&](std::string_view key, std::string_view type) {
    if (status.ok()) {
      status = absl::InvalidArgumentError(fmt::format("{}: {} must be {}", origin, key, type));
    }
  };
  auto read_string = [&](const toml::node& node, std::string_view key, std::optional<std::string>& out) {
    if (auto v = node.value<std::string>(); v.has_value() && node.is_string()) {
      out = *v;
    } else {
      type_error(key, "a string");
    }
  };
  auto read_seconds = [&](const toml::node& node, std::string_view key, std::optional<int>& out) {
    auto v = node.value<int64_t>();
    if (!node.is_integer() || !v.has_value() || *v < 1 || *v > 3600) {
      type_error(key, "a whole number of seconds from 1 to 3600");
    } else {
      out = static_cast<int>(*v);
    }
  };
  auto read_bool = [&](const toml::node& node, std::string_view key, std::optional<bool>& out) {
    if (!node.is_boolean()) {
      type_error(key, "true or false");
    } else {
      out = *node.value<bool>();
    }
  };
  std::optional<std::string> source_file;
  for (const auto& [key_node, node] : table) {
    const std::string_view key = key_node.str();
    if (key == "source")
      read_string(node, key, config.source);
    else if (key == "source_file")
      read_string(node, key, source_file);
    else if (key == "repo")
      read_string(node, key, config.repo);
    else if (key == "slot")
      read_string(node, key, config.slot);
    else if (key == "publication")
      read_string(node, key, config.publication);
    else if (key == "listen")
      read_string(node, key, config.listen);
    else if (key == "tls_cert")
      read_string(node, key, config.tls_cert);
    else if (key == "tls_key")
      read_string(node, key, config.tls_key);
    else if (key == "metrics_listen")
      read_string(node, key, config.metrics_listen);
    else if (key == "log_format")
      read_string(node, key, config.log_format);
    else if (key == "log_level")
      read_string(node, key, config.log_level);
    else if (key == "pg_bin")
      read_string(node, key, config.pg_bin);
    else if (key == "base_interval")
      read_string(node, key, config.base_interval);
    else if (key == "base_at")
      read_string(node, key, config.base_at);
    else if (key == "retention_days")
      read_string(node, key, config.retention_days);
    else if (key == "sequence_interval")
      read_seconds(node, key, config.sequence_interval);
    else if (key == "slot_check_interval")
      read_seconds(node, key, config.slot_check_interval);
    else if (key == "first_base")
      read_bool(node, key, config.first_base);
    else if (key == "set_replica_identity_full")
      read_bool(node, key, config.set_replica_identity_full);
    else if (key == "failover_slot")
      read_bool(node, key, config.failover_slot);
    else if (status.ok()) {
      status = absl::InvalidArgumentError(fmt::format("{}: unknown key '{}' (known: {})", origin, key, kKnownKeys));
    }
  }
  if (!status.ok()) return status;
  if (config.source.has_value() && source_file.has_value()) {
    return absl::InvalidArgumentError(fmt::format("{}: set source or source_file, not both", origin));
  }
  if (config.source.has_value()) {
    if (absl::Status s = RefusePassword(*config.source, origin, "source"); !s.ok()) return s;
  }
  if (source_file.has_value()) {
    absl::StatusOr<std::string> read = ReadSourceFile(*source_file, origin);
    if (!read.ok()) return read.status();
    config.source = *read;
  }
  return config;
}

absl::StatusOr<Config> LoadConfigFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(
        fmt::format("config file {} cannot be read (check --config or PGPITR_CONFIG)", path.string()));
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), path.string());
}

Config ConfigFromEnvironment(const std::function<const char*(const char*)>& getenv) {
  Config config;
  auto take = [&](const char* name, std::optional<std::string>& out) {
    const char* value = getenv(name);
    if (value != nullptr && *value != '\0') out = value;
  };
  take("DATABASE_URL", config.source);
  take("PGPITR_SOURCE", config.source);  // the more specific name wins
  take("PGPITR_REPO", config.repo);
  take("PGPITR_SLOT", config.slot);
  take("PGPITR_PUBLICATION", config.publication);
  take("PGPITR_LISTEN", config.listen);
  take("PGPITR_TLS_CERT", config.tls_cert);
  take("PGPITR_TLS_KEY", config.tls_key);
  take("PGPITR_METRICS_LISTEN", config.metrics_listen);
  take("PGPITR_LOG_FORMAT", config.log_format);
  take("PGPITR_LOG_LEVEL", config.log_level);
  take("PGPITR_PG_BIN", config.pg_bin);
  take("PGPITR_BASE_INTERVAL", config.base_interval);
  take("PGPITR_BASE_AT", config.base_at);
  take("PGPITR_RETENTION_DAYS", config.retention_days);
  return config;
}

absl::StatusOr<std::optional<std::chrono::milliseconds>> ParseRetentionWindow(std::string_view text) {
  const bool days = !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
  const std::string duration = days ? std::string(text) + "d" : std::string(text);
  // Zero ("0", "0d") keeps everything: a well-formed duration whose every number is zero.
  if (!text.empty() && text.find_first_of("123456789") == std::string_view::npos) {
    std::string ones = duration;
    std::replace(ones.begin(), ones.end(), '0', '1');
    if (wal::ParseDuration(ones).ok()) return std::nullopt;
  }
  absl::StatusOr<std::chrono::milliseconds> window = wal::ParseDuration(duration);
  if (!window.ok()) {
    return absl::InvalidArgumentError(fmt::format(
        "retention window '{}' is neither a number of days nor a duration (e.g. 7, 30, 7d, 36h; 0 keeps everything)",
        text));
  }
  return *window;
}

Config Overlay(const Config& under, const Config& over) {
  Config out = under;
  auto pick = [](auto& field, const auto& upper) {
    if (upper.has_value()) field = upper;
  };
  pick(out.source, over.source);
  pick(out.repo, over.repo);
  pick(out.slot, over.slot);
  pick(out.publication, over.publication);
  pick(out.listen, over.listen);
  pick(out.tls_cert, over.tls_cert);
  pick(out.tls_key, over.tls_key);
  pick(out.metrics_listen, over.metrics_listen);
  pick(out.log_format, over.log_format);
  pick(out.log_level, over.log_level);
  pick(out.pg_bin, over.pg_bin);
  pick(out.base_interval, over.base_interval);
  pick(out.base_at, over.base_at);
  pick(out.retention_days, over.retention_days);
  pick(out.sequence_interval, over.sequence_interval);
  pick(out.slot_check_interval, over.slot_check_interval);
  pick(out.first_base, over.first_base);
  pick(out.set_replica_identity_full, over.set_replica_identity_full);
  pick(out.failover_slot, over.failover_slot);
  return out;
}

}  // namespace pgpitr::cli
