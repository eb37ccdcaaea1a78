// Specification of how `run --listen` sets its proxy up in front of a source: where it listens,
// where and how (TLS) it reaches the source, from the connection string and then libpq's defaults.
#include "proxy/proxy_server.h"

#include <gtest/gtest.h>

namespace pgpitr::proxy {
namespace {

LibpqDefaults Defaults(std::string host, std::string port, std::string sslmode) {
  return {.host = std::move(host), .port = std::move(port), .sslmode = std::move(sslmode), .sslrootcert = ""};
}

pg::ConnInfo Source(const std::string& text) {
  absl::StatusOr<pg::ConnInfo> info = pg::ConnInfo::Parse(text);
  EXPECT_TRUE(info.ok()) << info.status();
  return *info;
}

TEST(ProxyOptionsFor, ListensWhereToldAndReachesTheSourcesHostAndPort) {
  absl::StatusOr<ProxyOptions> o = ProxyOptionsFor("0.0.0.0:6432", Source("host=db.internal port=5433 dbname=app"), {});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->listen_host, "0.0.0.0");
  EXPECT_EQ(o->listen_port, 6432);
  EXPECT_EQ(o->upstream_host, "db.internal");
  EXPECT_EQ(o->upstream_port, 5433);
  EXPECT_EQ(o->upstream_tls, UpstreamTls::kPrefer) << "libpq's default";
}

TEST(ProxyOptionsFor, HostaddrWinsTheFirstOfSeveralHostsIsUsedAndLibpqsDefaultsFillTheRest) {
  absl::StatusOr<ProxyOptions> o =
      ProxyOptionsFor("127.0.0.1:1", Source("host=a.example,b.example dbname=app"), Defaults("", "6000", ""));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->upstream_host, "a.example");
  EXPECT_EQ(o->upstream_port, 6000);
  o = ProxyOptionsFor("127.0.0.1:1", Source("host=name.example hostaddr=10.0.0.5 dbname=app"), {});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->upstream_host, "10.0.0.5");
  o = ProxyOptionsFor("127.0.0.1:1", Source("dbname=app"), Defaults("from-pghost", "", ""));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->upstream_host, "from-pghost");
  EXPECT_EQ(o->upstream_port, 5432);
}

TEST(ProxyOptionsFor, TlsTowardsTheSourceIsWhatItsSslmodeSays) {
  absl::StatusOr<ProxyOptions> o =
      ProxyOptionsFor("127.0.0.1:1", Source("host=db sslmode=verify-full sslrootcert=/etc/ca.pem dbname=app"),
                      Defaults("", "", "disable"));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->upstream_tls, UpstreamTls::kVerifyFull) << "the connection string wins over PGSSLMODE";
  EXPECT_EQ(o->upstream_ca_file, "/etc/ca.pem");
  o = ProxyOptionsFor("127.0.0.1:1", Source("host=db dbname=app"), Defaults("", "", "require"));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->upstream_tls, UpstreamTls::kRequire);
}

TEST(ProxyOptionsFor, BadInputIsRefusedNamingTheFix) {
  absl::StatusOr<ProxyOptions> o = ProxyOptionsFor("6432", Source("host=db dbname=app"), {});
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(o.status().message().find("HOST:PORT"), std::string::npos) << o.status();
  EXPECT_FALSE(ProxyOptionsFor("h:0", Source("host=db dbname=app"), {}).ok());
  EXPECT_FALSE(ProxyOptionsFor("h:70000", Source("host=db dbname=app"), {}).ok());
  o = ProxyOptionsFor("127.0.0.1:6432", Source("host=/var/run/postgresql dbname=app"), {});
  EXPECT_NE(o.status().message().find("over TCP"), std::string::npos) << o.status();
  o = ProxyOptionsFor("127.0.0.1:6432", Source("host=db sslmode=sometimes dbname=app"), {});
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  o = ProxyOptionsFor("127.0.0.1:6432", Source("host=db port=nope dbname=app"), {});
  EXPECT_NE(o.status().message().find("not a TCP port"), std::string::npos) << o.status();
}

}  // namespace
}  // namespace pgpitr::proxy
