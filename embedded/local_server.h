// LocalServer: a throwaway PostgreSQL cluster (initdb into a temp folder, 127.0.0.1, a free port,
// wal_level=logical), for `pgpitr demo` and the integration tests.
//   auto server = LocalServer::Start({});   // stopped and removed when it goes out of scope
//   PGconn* c = PQconnectdb((*server)->ConnectionString("postgres").c_str());
// PostgreSQL refuses to run as root: when this process is root, the server's programs run as the
// `postgres` OS user (Debian's postgresql package creates it) and its folder is owned by that user.
// Not thread-safe; one owner.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pgpitr::embedded {

// Where a major version's server programs (initdb, pg_ctl, postgres) are: Debian's
// /usr/lib/postgresql/<major>/bin when it has them, else the folder deploy/fetch_postgres.sh fills
// (`cache_dir`/<major>/bin, npm's @embedded-postgres builds). NotFound names the script to run and
// the majors that are installed.
[[nodiscard]] absl::StatusOr<std::filesystem::path> ServerBinDir(
    int major, const std::filesystem::path& cache_dir = "/var/cache/pgpitr/postgresql");

// The majors ServerBinDir finds, lowest first.
std::vector<int> InstalledMajors(const std::filesystem::path& cache_dir = "/var/cache/pgpitr/postgresql");

struct LocalServerOptions {
  // Where initdb, pg_ctl and postgres are (ServerBinDir(major) for another major).
  std::filesystem::path bin_dir = "/usr/lib/postgresql/15/bin";
  // The cluster's folder is made below this one (mkdtemp "pgpitr-pg-XXXXXX").
  std::filesystem::path parent_dir = std::filesystem::temp_directory_path();
  // Extra postgresql.conf lines ("name = value"), appended after the defaults, which are:
  // listen_addresses='127.0.0.1', port, wal_level=logical, max_replication_slots=10,
  // max_wal_senders=10, fsync=off (a throwaway server), unix_socket_directories=the cluster folder.
  std::vector<std::string> settings;
};

class LocalServer {
 public:
  // initdb (superuser "postgres", trust authentication on 127.0.0.1 for every database and for
  // replication), then start on a free port and wait until it accepts connections.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<LocalServer>> Start(LocalServerOptions options);

  // Stops the server (fast shutdown) and removes its folder, unless KeepOnExit() was called.
  ~LocalServer();
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  // "host=127.0.0.1 port=N user=postgres dbname=<dbname>"
  std::string ConnectionString(std::string_view dbname = "postgres") const;
  int port() const { return port_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  const std::filesystem::path& bin_dir() const { return options_.bin_dir; }

  // Leaves the cluster's folder in place when this object is destroyed, for inspection after a
  // failed test, and prints its path to stderr then.
  void KeepOnExit() { keep_ = true; }

  [[nodiscard]] absl::Status Stop();        // pg_ctl stop -m fast
  [[nodiscard]] absl::Status Restart();     // stop, then start on the same port and folder
  [[nodiscard]] absl::Status StartAgain();  // start after Stop() or Crash()
  // pg_ctl stop -m immediate: every process ends at once, without a checkpoint, as in a crash; the
  // next start replays the WAL since the last checkpoint before it accepts connections.
  [[nodiscard]] absl::Status Crash();

 private:
  explicit LocalServer(LocalServerOptions options) : options_(std::move(options)) {}

  LocalServerOptions options_;
  std::filesystem::path root_dir_;  // the mkdtemp folder; data_dir_ is inside it
  std::filesystem::path data_dir_;
  int port_ = 0;
  bool running_ = false;
  bool keep_ = false;
};

}  // namespace pgpitr::embedded
