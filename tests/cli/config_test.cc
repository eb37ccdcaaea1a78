// Specification of the config file and environment layering: every documented key is read, unknown
// keys and wrong types are one-line errors, a password in a connection string is refused, and
// flags > environment > file.
#include "cli/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "tests/temp_dir.h"

namespace pgpitr::cli {
namespace {

TEST(Config, EveryKeyIsRead) {
  absl::StatusOr<Config> c = ParseConfig(R"(
source = "host=db dbname=app user=pgpitr"
repo = "/var/lib/pgpitr/app"
slot = "s"
publication = "p"
listen = "127.0.0.1:6432"
tls_cert = "/etc/pgpitr/proxy.crt"
tls_key = "/etc/pgpitr/proxy.key"
base_interval = "12h"
base_at = "02:30"
retention_days = "30"
metrics_listen = "127.0.0.1:9187"
log_format = "json"
log_level = "debug"
pg_bin = "/usr/lib/postgresql/15/bin"
sequence_interval = 2
slot_check_interval = 10
first_base = false
set_replica_identity_full = true
)",
                                         "test.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->source, "host=db dbname=app user=pgpitr");
  EXPECT_EQ(c->repo, "/var/lib/pgpitr/app");
  EXPECT_EQ(c->slot, "s");
  EXPECT_EQ(c->publication, "p");
  EXPECT_EQ(c->listen, "127.0.0.1:6432");
  EXPECT_EQ(c->metrics_listen, "127.0.0.1:9187");
  EXPECT_EQ(c->tls_cert, "/etc/pgpitr/proxy.crt");
  EXPECT_EQ(c->tls_key, "/etc/pgpitr/proxy.key");
  EXPECT_EQ(c->base_interval, "12h");
  EXPECT_EQ(c->base_at, "02:30");
  EXPECT_EQ(c->retention_days, "30");
  EXPECT_EQ(c->log_format, "json");
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->pg_bin, "/usr/lib/postgresql/15/bin");
  EXPECT_EQ(c->sequence_interval, 2);
  EXPECT_EQ(c->slot_check_interval, 10);
  EXPECT_EQ(c->first_base, false);
  EXPECT_EQ(c->set_replica_identity_full, true);
}

TEST(Config, TheDeployExampleParses) {
  absl::StatusOr<Config> c = LoadConfigFile(std::filesystem::path(PGPITR_SOURCE_DIR) / "deploy/pgpitr.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->source.has_value()) << "every key is commented out in the example";
}

TEST(Config, EmptyFileSetsNothing) {
  absl::StatusOr<Config> c = ParseConfig("# nothing\n", "empty.toml");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->repo.has_value());
  EXPECT_FALSE(c->first_base.has_value());
}

TEST(Config, UnknownKeyIsAnErrorNamingIt) {
  absl::StatusOr<Config> c = ParseConfig("repoo = \"/x\"\n", "a.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("a.toml: unknown key 'repoo'"), std::string::npos) << c.status();
}

TEST(Config, WrongTypesAreErrors) {
  EXPECT_FALSE(ParseConfig("repo = 3\n", "a.toml").ok());
  EXPECT_FALSE(ParseConfig("first_base = \"yes\"\n", "a.toml").ok());
  EXPECT_FALSE(ParseConfig("sequence_interval = 0\n", "a.toml").ok());
  EXPECT_FALSE(ParseConfig("sequence_interval = 1.5\n", "a.toml").ok());
}

TEST(Config, SyntaxErrorNamesFileAndLine) {
  absl::StatusOr<Config> c = ParseConfig("repo = \"/x\"\nslot = \n", "bad.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("bad.toml:2:"), std::string::npos) << c.status();
}

TEST(Config, PasswordInTheSourceIsRefusedWithTheFix) {
  for (const char* source : {"host=db dbname=app user=u password=secret", "postgres://u:secret@db/app"}) {
    absl::StatusOr<Config> c = ParseConfig(std::string("source = \"") + source + "\"\n", "a.toml");
    ASSERT_FALSE(c.ok()) << source;
    const std::string message(c.status().message());
    EXPECT_NE(message.find("password"), std::string::npos);
    EXPECT_NE(message.find("PGPASSFILE"), std::string::npos);
    EXPECT_NE(message.find("source_file"), std::string::npos);
    EXPECT_EQ(message.find("secret"), std::string::npos) << "the password itself is never echoed";
  }
}

TEST(Config, SourceFileIsReadWhenOnlyItsOwnerCanReadIt) {
  testing::TempDir dir;
  const std::filesystem::path file = dir.path() / "source";
  std::ofstream(file) << "host=db dbname=app password=secret\n";
  chmod(file.c_str(), 0644);
  absl::StatusOr<Config> open = ParseConfig("source_file = \"" + file.string() + "\"\n", "a.toml");
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.status().message().find("chmod 600"), std::string::npos) << open.status();
  chmod(file.c_str(), 0600);
  absl::StatusOr<Config> c = ParseConfig("source_file = \"" + file.string() + "\"\n", "a.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->source, "host=db dbname=app password=secret");
  EXPECT_FALSE(ParseConfig("source = \"host=x\"\nsource_file = \"" + file.string() + "\"\n", "a.toml").ok());
}

TEST(Config, EnvironmentOverridesTheFile) {
  std::map<std::string, std::string> env = {
      {"PGPITR_REPO", "/env/repo"}, {"DATABASE_URL", "postgres://db/url"}, {"PGPITR_LOG_FORMAT", "json"}};
  Config from_env = ConfigFromEnvironment([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
  absl::StatusOr<Config> file =
      ParseConfig("repo = \"/file/repo\"\nslot = \"fileslot\"\nsource = \"host=file\"\n", "f");
  ASSERT_TRUE(file.ok());
  const Config effective = Overlay(*file, from_env);
  EXPECT_EQ(effective.repo, "/env/repo");
  EXPECT_EQ(effective.slot, "fileslot");
  EXPECT_EQ(effective.source, "postgres://db/url");
  EXPECT_EQ(effective.log_format, "json");
  env["PGPITR_SOURCE"] = "host=specific";
  const Config specific = ConfigFromEnvironment([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
  EXPECT_EQ(specific.source, "host=specific") << "PGPITR_SOURCE wins over DATABASE_URL";
}

// One parser for `run --retention-days`, `retention --keep`, retention_days and PGPITR_RETENTION_DAYS.
TEST(Config, RetentionWindowIsDaysOrADuration) {
  using std::chrono::hours;
  const std::vector<std::pair<std::string, std::chrono::milliseconds>> cases = {
      {"7", hours(24 * 7)}, {"7d", hours(24 * 7)}, {"30", hours(24 * 30)}, {"36h", hours(36)}, {"1d12h", hours(36)}};
  for (const auto& [text, want] : cases) {
    absl::StatusOr<std::optional<std::chrono::milliseconds>> w = ParseRetentionWindow(text);
    ASSERT_TRUE(w.ok()) << text << ": " << w.status();
    ASSERT_TRUE(w->has_value()) << text;
    EXPECT_EQ(**w, want) << text;
  }
}

TEST(Config, RetentionWindowZeroKeepsEverything) {
  for (const char* text : {"0", "0d", "00"}) {
    absl::StatusOr<std::optional<std::chrono::milliseconds>> w = ParseRetentionWindow(text);
    ASSERT_TRUE(w.ok()) << text << ": " << w.status();
    EXPECT_FALSE(w->has_value()) << text;
  }
}

TEST(Config, RetentionWindowThatDoesNotParseIsOneLineNamingTheForms) {
  for (const char* text : {"", "seven", "7 days", "-7", "7w"}) {
    absl::StatusOr<std::optional<std::chrono::milliseconds>> w = ParseRetentionWindow(text);
    ASSERT_FALSE(w.ok()) << text;
    const std::string message(w.status().message());
    EXPECT_NE(message.find("neither a number of days nor a duration"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(Config, RetentionDefaultIsSevenDays) {
  absl::StatusOr<std::optional<std::chrono::milliseconds>> w = ParseRetentionWindow(kDefaultRetention);
  ASSERT_TRUE(w.ok() && w->has_value());
  EXPECT_EQ(**w, std::chrono::hours(24 * 7));
}

}  // namespace
}  // namespace pgpitr::cli
