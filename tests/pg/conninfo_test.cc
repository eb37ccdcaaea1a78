// Specification of ConnInfo: both libpq forms parse to the same keys, keys can be replaced, the
// printed form survives a second parse whatever its values hold, and the password never shows in
// the redacted form.
#include "pg/conninfo.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"

namespace pgpitr::pg {
namespace {

ConnInfo MustParse(std::string_view text) {
  absl::StatusOr<ConnInfo> ci = ConnInfo::Parse(text);
  EXPECT_TRUE(ci.ok()) << text << ": " << ci.status();
  return ci.ok() ? *std::move(ci) : ConnInfo();
}

// Every key libpq could report, for comparing two ConnInfos whole.
std::map<std::string, std::string> KeysOf(const ConnInfo& ci) {
  std::map<std::string, std::string> out;
  for (const char* key : {"host", "hostaddr", "port", "dbname", "user", "password", "sslmode", "application_name",
                          "connect_timeout", "options", "replication"}) {
    if (std::optional<std::string> v = ci.Get(key)) out[key] = *v;
  }
  return out;
}

TEST(ConnInfo, KeyValueAndUriFormsParseToTheSameKeys) {
  const ConnInfo kv = MustParse("host=db.example port=5433 dbname=appdb user=app password=secret sslmode=require");
  const ConnInfo uri = MustParse("postgres://app:secret@db.example:5433/appdb?sslmode=require");
  const std::map<std::string, std::string> expected = {{"host", "db.example"}, {"port", "5433"},
                                                       {"dbname", "appdb"},    {"user", "app"},
                                                       {"password", "secret"}, {"sslmode", "require"}};
  EXPECT_EQ(KeysOf(kv), expected);
  EXPECT_EQ(KeysOf(uri), expected);
  EXPECT_EQ(kv.ToString(), uri.ToString());
}

TEST(ConnInfo, PostgresqlSchemeAndPercentEncodingAreUnderstood) {
  const ConnInfo uri = MustParse("postgresql://app:p%40ss%20word@db/app%20db");
  EXPECT_EQ(uri.Get("password"), "p@ss word");
  EXPECT_EQ(uri.Get("dbname"), "app db");
  EXPECT_EQ(uri.Get("host"), "db");
}

TEST(ConnInfo, KeysTheStringLeavesOutAreAbsent) {
  // libpq's defaults (PG* variables, the OS user) are not filled in: the string is kept as written.
  const ConnInfo ci = MustParse("host=db");
  EXPECT_EQ(ci.Get("host"), "db");
  EXPECT_EQ(ci.Get("port"), std::nullopt);
  EXPECT_EQ(ci.Get("password"), std::nullopt);
  EXPECT_EQ(ci.ToString(), "host='db'");
}

TEST(ConnInfo, WithReplacesAnExistingKeyAndLeavesTheOriginalAlone) {
  const ConnInfo ci = MustParse("host=db dbname=app");
  const ConnInfo other = ci.With("dbname", "restored");
  EXPECT_EQ(other.Get("dbname"), "restored");
  EXPECT_EQ(other.Get("host"), "db");
  EXPECT_EQ(ci.Get("dbname"), "app");
  // Replaced, not duplicated: libpq would take the last of two, but we print only one.
  EXPECT_EQ(other.ToString(), "dbname='restored' host='db'");
}

TEST(ConnInfo, WithAddsAMissingKey) {
  const ConnInfo ci = MustParse("postgres://app@db/app").With("replication", "database");
  EXPECT_EQ(ci.Get("replication"), "database");
  EXPECT_EQ(MustParse(ci.ToString()).Get("replication"), "database");
}

TEST(ConnInfo, WithoutDropsTheKeySoLibpqFallsBackToItsEnvironment) {
  const ConnInfo ci = MustParse("postgres://app:secret@db/app?sslmode=require");
  const ConnInfo without = ci.Without("password");
  EXPECT_EQ(without.Get("password"), std::nullopt);
  EXPECT_EQ(ci.Get("password"), "secret");
  // No password='' either: an empty value would override PGPASSWORD for pg_dump and pg_restore.
  EXPECT_EQ(without.ToString().find("password"), std::string::npos);
  EXPECT_EQ(without.Without("absent").ToString(), without.ToString());
}

TEST(ConnInfo, RedactedHidesThePasswordButToStringKeepsIt) {
  const ConnInfo ci = MustParse("postgres://app:hunter2@db:5432/app");
  EXPECT_EQ(ci.Redacted().find("hunter2"), std::string::npos) << ci.Redacted();
  EXPECT_NE(ci.Redacted().find("password='********'"), std::string::npos) << ci.Redacted();
  EXPECT_NE(ci.Redacted().find("user='app'"), std::string::npos) << ci.Redacted();
  EXPECT_NE(ci.ToString().find("password='hunter2'"), std::string::npos) << ci.ToString();
  EXPECT_EQ(MustParse(ci.ToString()).Get("password"), "hunter2");
}

TEST(ConnInfo, RedactedWithoutAPasswordShowsNoPlaceholder) {
  const ConnInfo ci = MustParse("host=db user=app");
  EXPECT_EQ(ci.Redacted(), ci.ToString());
  EXPECT_EQ(ci.Redacted().find("password"), std::string::npos);
}

class ConnInfoQuoting : public testing::TestWithParam<std::string> {};

TEST_P(ConnInfoQuoting, ValueSurvivesParseOfToString) {
  const ConnInfo ci = MustParse("host=db").With("password", GetParam()).With("application_name", GetParam());
  absl::StatusOr<ConnInfo> again = ConnInfo::Parse(ci.ToString());
  ASSERT_TRUE(again.ok()) << ci.ToString() << ": " << again.status();
  EXPECT_EQ(again->Get("password"), GetParam()) << ci.ToString();
  EXPECT_EQ(again->Get("application_name"), GetParam()) << ci.ToString();
  EXPECT_EQ(again->Get("host"), "db");
  EXPECT_EQ(again->ToString(), ci.ToString());
}

INSTANTIATE_TEST_SUITE_P(ConnInfo, ConnInfoQuoting,
                         testing::Values("plain", "with space", "it's", "back\\slash", "\\'", "'quoted'", "trailing\\",
                                         "a=b c=d", "x' host='evil", "  both  ", "", "tab\there", "\"double\""));

class ConnInfoInvalid : public testing::TestWithParam<std::string> {};

TEST_P(ConnInfoInvalid, IsAnInvalidArgumentShowingBothForms) {
  absl::StatusOr<ConnInfo> ci = ConnInfo::Parse(GetParam());
  ASSERT_FALSE(ci.ok()) << GetParam() << " parsed as " << ci->ToString();
  EXPECT_EQ(ci.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(ci.status().message());
  EXPECT_NE(message.find("host=H port=P dbname=D user=U"), std::string::npos) << message;
  EXPECT_NE(message.find("postgres://U@H:P/D"), std::string::npos) << message;
  // libpq's own reason comes first, without its trailing newline.
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(ConnInfo, ConnInfoInvalid,
                         testing::Values("nonsense", "host=db port", "host='db", "nosuchkey=1",
                                         "postgres://db:notaport:5432/x/y?sslmode", "postgres://[::1/app"));

}  // namespace
}  // namespace pgpitr::pg
