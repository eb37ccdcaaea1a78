// LocalServer starts real PostgreSQL 15 clusters, so these are integration tests.
#include "embedded/local_server.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/pg_major.h"
#include "tests/temp_dir.h"

namespace pgpitr::embedded {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct PGconnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Connection = std::unique_ptr<PGconn, PGconnCloser>;

struct PGresultClearer {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, PGresultClearer>;

Connection Connect(const std::string& conninfo) {
  Connection c(PQconnectdb(conninfo.c_str()));
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << conninfo << ": " << PQerrorMessage(c.get());
  return c;
}

// The first column of the first row, or nullopt (with a test failure) if the query failed.
std::optional<std::string> QueryValue(PGconn* c, const std::string& sql) {
  Result r(PQexec(c, sql.c_str()));
  ExecStatusType status = PQresultStatus(r.get());
  if (status != PGRES_TUPLES_OK || PQntuples(r.get()) < 1) {
    ADD_FAILURE() << sql << ": " << PQresStatus(status) << " " << PQerrorMessage(c);
    return std::nullopt;
  }
  return std::string(PQgetvalue(r.get(), 0, 0));
}

void Execute(PGconn* c, const std::string& sql) {
  Result r(PQexec(c, sql.c_str()));
  EXPECT_EQ(PQresultStatus(r.get()), PGRES_COMMAND_OK) << sql << ": " << PQerrorMessage(c);
}

// A server that outlives a failed test on disk (its path printed), for a look at its logs.
struct KeepIfTestFailed {
  void operator()(LocalServer* server) const {
    if (::testing::Test::HasFailure()) server->KeepOnExit();
    delete server;
  }
};
using Server = std::unique_ptr<LocalServer, KeepIfTestFailed>;

Server StartOrFail(LocalServerOptions options = {}) {
  if (testing::TestServerMajor() != 15) {
    absl::StatusOr<fs::path> bin_dir = ServerBinDir(testing::TestServerMajor());
    EXPECT_TRUE(bin_dir.ok()) << bin_dir.status();
    if (bin_dir.ok()) options.bin_dir = *bin_dir;
  }
  absl::StatusOr<std::unique_ptr<LocalServer>> server = LocalServer::Start(std::move(options));
  EXPECT_TRUE(server.ok()) << server.status();
  return Server(server.ok() ? server->release() : nullptr);
}

// The mkdtemp folder that holds data/ and the logs.
fs::path ClusterFolder(const LocalServer& server) { return server.data_dir().parent_path(); }

TEST(LocalServer, StartedServerAcceptsConnectionsWithLogicalWalLevel) {
  auto server = StartOrFail();
  ASSERT_NE(server, nullptr);
  EXPECT_GT(server->port(), 0);
  Connection c = Connect(server->ConnectionString());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK);
  EXPECT_EQ(QueryValue(c.get(), "SHOW wal_level"), "logical");
  EXPECT_EQ(QueryValue(c.get(), "SELECT current_user"), "postgres");
  EXPECT_EQ(QueryValue(c.get(), "SHOW server_version_num").value_or("").substr(0, 2), std::to_string(testing::TestServerMajor()));
}

// Debian's folder first, then deploy/fetch_postgres.sh's cache (<cache>/<major>/bin); a major in
// neither is an error naming the script.
TEST(LocalServer, ServerProgramsAreFoundInDebiansFolderOrTheFetchedCache) {
  const testing::TempDir dir("pgpitr-cache-");
  const fs::path& cache = dir.path();
  fs::create_directories(cache / "41" / "bin");
  for (const char* program : {"initdb", "postgres"}) std::ofstream(cache / "41" / "bin" / program) << "";
  absl::StatusOr<fs::path> fetched = ServerBinDir(41, cache);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(*fetched, cache / "41" / "bin");
  absl::StatusOr<fs::path> debian = ServerBinDir(15, cache);
  ASSERT_TRUE(debian.ok()) << debian.status();
  EXPECT_EQ(*debian, fs::path("/usr/lib/postgresql/15/bin"));
  absl::StatusOr<fs::path> missing = ServerBinDir(42, cache);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("deploy/fetch_postgres.sh"));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("installed: 15"));
  const std::vector<int> majors = InstalledMajors(cache);
  EXPECT_NE(std::find(majors.begin(), majors.end(), 41), majors.end());
  EXPECT_NE(std::find(majors.begin(), majors.end(), 15), majors.end());
  EXPECT_EQ(std::find(majors.begin(), majors.end(), 42), majors.end());
}

TEST(LocalServer, ConnectionStringNamesLoopbackPortUserAndDatabase) {
  auto server = StartOrFail();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->ConnectionString("shop"),
            "host=127.0.0.1 port=" + std::to_string(server->port()) + " user=postgres dbname=shop");
  EXPECT_THAT(server->ConnectionString(), HasSubstr("dbname=postgres"));
}

TEST(LocalServer, ExtraSettingsAreApplied) {
  LocalServerOptions options;
  options.settings = {"max_connections = 37", "application_name = 'from_settings'"};
  auto server = StartOrFail(std::move(options));
  ASSERT_NE(server, nullptr);
  Connection c = Connect(server->ConnectionString());
  EXPECT_EQ(QueryValue(c.get(), "SHOW max_connections"), "37");
  EXPECT_EQ(QueryValue(c.get(), "SHOW max_replication_slots"), "10");
}

TEST(LocalServer, TwoServersRunAtOnceOnDifferentPorts) {
  auto first = StartOrFail();
  auto second = StartOrFail();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  EXPECT_NE(first->port(), second->port());
  EXPECT_NE(first->data_dir(), second->data_dir());

  Connection a = Connect(first->ConnectionString());
  Connection b = Connect(second->ConnectionString());
  Execute(a.get(), "CREATE TABLE only_in_first (id int)");
  EXPECT_EQ(QueryValue(a.get(), "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_first'"), "1");
  EXPECT_EQ(QueryValue(b.get(), "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_first'"), "0");
}

TEST(LocalServer, FolderIsRemovedAfterDestruction) {
  auto server = StartOrFail();
  ASSERT_NE(server, nullptr);
  const fs::path folder = ClusterFolder(*server);
  const int port = server->port();
  EXPECT_TRUE(fs::exists(server->data_dir() / "PG_VERSION"));
  EXPECT_THAT(folder.filename().string(), HasSubstr("pgpitr-pg-"));
  server.reset();
  EXPECT_FALSE(fs::exists(folder));
  // And the server is gone with it.
  EXPECT_NE(PQping(("host=127.0.0.1 port=" + std::to_string(port) + " connect_timeout=2").c_str()), PQPING_OK);
}

TEST(LocalServer, KeepOnExitLeavesFolderAndSaysWhere) {
  auto server = StartOrFail();
  ASSERT_NE(server, nullptr);
  const fs::path folder = ClusterFolder(*server);
  const int port = server->port();
  server->KeepOnExit();
  ::testing::internal::CaptureStderr();
  server.reset();
  const std::string said = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(said, HasSubstr("pgpitr: kept PostgreSQL cluster at " + folder.string() + " (port " +
                              std::to_string(port) + ")"));
  EXPECT_TRUE(fs::exists(folder / "data" / "PG_VERSION"));
  // Kept means kept on disk, not left running.
  EXPECT_NE(PQping(("host=127.0.0.1 port=" + std::to_string(port) + " connect_timeout=2").c_str()), PQPING_OK);
  std::error_code ec;
  fs::remove_all(folder, ec);
  EXPECT_FALSE(ec) << ec.message();
}

TEST(LocalServer, StopThenStartAgainKeepsData) {
  auto server = StartOrFail();
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  {
    Connection c = Connect(server->ConnectionString());
    Execute(c.get(), "CREATE TABLE survivors (name text)");
    Execute(c.get(), "INSERT INTO survivors VALUES ('ada')");
  }
  ASSERT_TRUE(server->Stop().ok());
  EXPECT_NE(PQping(server->ConnectionString().c_str()), PQPING_OK);
  ASSERT_TRUE(server->StartAgain().ok());
  EXPECT_EQ(server->port(), port);
  Connection c = Connect(server->ConnectionString());
  EXPECT_EQ(QueryValue(c.get(), "SELECT name FROM survivors"), "ada");
}

TEST(LocalServer, RestartKeepsPortAndData) {
  auto server = StartOrFail();
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  {
    Connection c = Connect(server->ConnectionString());
    Execute(c.get(), "CREATE TABLE t (x int)");
  }
  absl::Status restarted = server->Restart();
  ASSERT_TRUE(restarted.ok()) << restarted;
  EXPECT_EQ(server->port(), port);
  Connection c = Connect(server->ConnectionString());
  EXPECT_EQ(QueryValue(c.get(), "SELECT count(*) FROM t"), "0");
}

TEST(LocalServer, StartAgainOnATakenPortIsAClearError) {
  auto server = StartOrFail();
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server->Stop().ok());

  int squatter = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(squatter, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(server->port()));
  // The stopped server's connections may linger in TIME_WAIT on this port; a listener still
  // excludes the server's own bind.
  const int reuse = 1;
  ASSERT_EQ(::setsockopt(squatter, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse), 0);
  ASSERT_EQ(::bind(squatter, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(squatter, 1), 0);

  absl::Status started = server->StartAgain();
  ::close(squatter);
  EXPECT_FALSE(started.ok());
  EXPECT_THAT(std::string(started.message()), HasSubstr("port " + std::to_string(server->port()) + " was taken"));
  // The cluster is still usable once the port is free again.
  absl::Status retried = server->StartAgain();
  EXPECT_TRUE(retried.ok()) << retried;
}

TEST(LocalServer, KilledServerCountsAsStoppedAndStartsAgain) {
  auto server = StartOrFail();
  ASSERT_NE(server, nullptr);
  {
    Connection c = Connect(server->ConnectionString());
    Execute(c.get(), "CREATE TABLE before_crash (x int)");
  }
  std::ifstream pid_file(server->data_dir() / "postmaster.pid");
  pid_t postmaster = 0;
  ASSERT_TRUE(pid_file >> postmaster);
  ASSERT_EQ(::kill(postmaster, SIGKILL), 0);

  absl::Status stopped = server->Stop();
  EXPECT_TRUE(stopped.ok()) << stopped;
  absl::Status started = server->StartAgain();
  ASSERT_TRUE(started.ok()) << started;
  Connection c = Connect(server->ConnectionString());
  EXPECT_EQ(QueryValue(c.get(), "SELECT count(*) FROM before_crash"), "0");
}

TEST(LocalServer, ReplicationConnectionAnswersIdentifySystem) {
  auto server = StartOrFail();
  ASSERT_NE(server, nullptr);
  Connection c = Connect(server->ConnectionString() + " replication=database");
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK);
  Result r(PQexec(c.get(), "IDENTIFY_SYSTEM"));
  ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQerrorMessage(c.get());
  ASSERT_EQ(PQntuples(r.get()), 1);
  ASSERT_GE(PQnfields(r.get()), 4);
  EXPECT_STRNE(PQgetvalue(r.get(), 0, 0), "");                          // systemid
  EXPECT_STREQ(PQgetvalue(r.get(), 0, 1), "1");                         // timeline
  EXPECT_THAT(std::string(PQgetvalue(r.get(), 0, 2)), HasSubstr("/"));  // xlogpos
  EXPECT_STREQ(PQgetvalue(r.get(), 0, 3), "postgres");                  // dbname
}

TEST(LocalServer, MissingProgramsAreAnErrorNamingTheCommand) {
  LocalServerOptions options;
  options.bin_dir = "/nonexistent/postgresql/bin";
  absl::StatusOr<std::unique_ptr<LocalServer>> server = LocalServer::Start(std::move(options));
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("/nonexistent/postgresql/bin/initdb"));
}

TEST(LocalServer, FailedStartQuotesTheServerLogAndLeavesNothingBehind) {
  // A parent of its own, so that "nothing behind" can be checked by listing it. 0755 because,
  // when the test runs as root, the server's programs run as `postgres` and must get through.
  std::string pattern = (fs::temp_directory_path() / "local-server-test-XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  const fs::path parent = pattern;
  fs::permissions(parent, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
  LocalServerOptions options;
  options.parent_dir = parent;
  options.settings = {"shared_buffers = 'not a size'"};
  absl::StatusOr<std::unique_ptr<LocalServer>> server = LocalServer::Start(std::move(options));
  ASSERT_FALSE(server.ok());
  const std::string message(server.status().message());
  EXPECT_THAT(message, HasSubstr("pg_ctl"));
  EXPECT_THAT(message, HasSubstr("shared_buffers"));
  EXPECT_TRUE(fs::is_empty(parent));
  fs::remove_all(parent);
}

}  // namespace
}  // namespace pgpitr::embedded
