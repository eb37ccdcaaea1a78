// LocalServer: initdb, configure, start and stop a throwaway PostgreSQL cluster (15 from Debian's
// packages by default; 16, 17 and 18 from deploy/fetch_postgres.sh's folder).
//
// The cluster's folder (mkdtemp "pgpitr-pg-XXXXXX" below options.parent_dir) holds:
//   data/              the data directory, made by initdb
//   programs.log       what initdb and pg_ctl printed, appended run after run
//   postgres.log       the server's own log (pg_ctl -l)
//   .s.PGSQL.<port>    the server's unix socket, kept out of /var/run/postgresql so that
//                      clusters never collide there
#include "embedded/local_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace pgpitr::embedded {
namespace {

namespace fs = std::filesystem;

constexpr char kProgramsLog[] = "programs.log";
constexpr char kServerLog[] = "postgres.log";
// A port taken between FreePort() and the postmaster's bind() is a race we cannot close, only
// retry; a handful of attempts makes losing it every time practically impossible.
constexpr int kStartAttempts = 5;
// Lines of a log quoted in an error: enough to show the cause, short enough for one message.
constexpr int kLogLinesInErrors = 5;

std::string ErrnoText(int err) { return std::system_category().message(err); }

// A file descriptor that closes itself; every one of ours is opened O_CLOEXEC so that none
// leaks into initdb, pg_ctl or the postmaster.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Who runs initdb, pg_ctl and so the postmaster: this process's user, or, when we are root
// (which PostgreSQL refuses), the `postgres` OS user.
struct RunAs {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
  std::string home;
};

absl::StatusOr<RunAs> ResolveRunAs() {
  RunAs run_as;
  if (::geteuid() != 0) return run_as;
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<size_t>(size) : 16384);
  passwd entry{};
  passwd* found = nullptr;
  int err = ::getpwnam_r("postgres", &entry, buffer.data(), buffer.size(), &found);
  if (found == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("PostgreSQL refuses to run as root and there is no `postgres` OS user to run it as",
                     err != 0 ? absl::StrCat(" (", ErrnoText(err), ")") : std::string(),
                     "; install Debian's postgresql package or run as a normal user"));
  }
  run_as.switch_user = true;
  run_as.uid = found->pw_uid;
  run_as.gid = found->pw_gid;
  run_as.name = found->pw_name;
  run_as.home = found->pw_dir;
  return run_as;
}

// Hands a file or folder we made as root to the user the server runs as.
absl::Status GiveTo(const RunAs& run_as, const fs::path& path) {
  if (!run_as.switch_user) return absl::OkStatus();
  if (::chown(path.c_str(), run_as.uid, run_as.gid) != 0) {
    return absl::InternalError(
        absl::StrCat("could not give ", path.string(), " to OS user ", run_as.name, ": ", ErrnoText(errno)));
  }
  return absl::OkStatus();
}

// The command as a person would type it, for error messages.
std::string CommandLine(const std::vector<std::string>& argv, const RunAs& run_as) {
  std::string line = run_as.switch_user ? absl::StrCat("(as OS user ", run_as.name, ") ") : "";
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i > 0) line += ' ';
    const std::string& arg = argv[i];
    bool plain = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](char c) {
      return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
             std::string_view("-_./=:,@+%").find(c) != std::string_view::npos;
    });
    if (plain) {
      line += arg;
    } else {
      line += '\'';
      for (char c : arg) line += c == '\'' ? std::string("'\\''") : std::string(1, c);
      line += '\'';
    }
  }
  return line;
}

// What `log` gained after byte `from`.
std::string ReadFrom(const fs::path& log, std::streamoff from) {
  std::ifstream in(log, std::ios::binary);
  if (!in) return "";
  in.seekg(from);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The server log's line prefix ("2026-11-25 12:06:09.850 UTC [4907] ") says nothing that helps
// in an error message and pushes the reason off the screen.
absl::string_view WithoutLinePrefix(absl::string_view line) {
  if (line.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(line.front()))) return line;
  size_t open = line.find(" [");
  size_t close = line.find("] ", open == absl::string_view::npos ? 0 : open);
  if (open == absl::string_view::npos || close == absl::string_view::npos) return line;
  for (size_t i = open + 2; i < close; ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(line[i]))) return line;
  }
  return line.substr(close + 2);
}

// The last few non-empty lines that `log` gained after byte `from`, joined into one line.
std::string LogTail(const fs::path& log, std::streamoff from) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(ReadFrom(log, from), '\n')) {
    line = WithoutLinePrefix(absl::StripAsciiWhitespace(line));
    if (!line.empty()) lines.emplace_back(line);
  }
  if (lines.empty()) return "(nothing)";
  if (lines.size() > kLogLinesInErrors) lines.erase(lines.begin(), lines.end() - kLogLinesInErrors);
  return absl::StrJoin(lines, " | ");
}

std::streamoff FileSize(const fs::path& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<std::streamoff>(size);
}

// What happened to a program that was started.
struct Exit {
  bool success = false;
  int code = -1;            // the exit status, or -1 when a signal ended it
  std::string description;  // "exited with status 1", "was killed by signal 9"
};

// Where the child failed before execve, reported back through a close-on-exec pipe: the pipe
// reads empty exactly when execve succeeded.
enum class ChildStage : int { kRedirect = 1, kFds, kGroups, kGid, kUid, kChdir, kExec };

const char* StageText(ChildStage stage) {
  switch (stage) {
    case ChildStage::kRedirect:
      return "could not redirect its output";
    case ChildStage::kFds:
      return "could not mark inherited descriptors close-on-exec";
    case ChildStage::kGroups:
      return "could not drop supplementary groups";
    case ChildStage::kGid:
      return "could not switch group";
    case ChildStage::kUid:
      return "could not switch user";
    case ChildStage::kChdir:
      return "could not enter the cluster folder (every folder above it must be searchable by "
             "the OS user that runs PostgreSQL)";
    case ChildStage::kExec:
      return "could not execute";
  }
  return "failed";
}

// Runs argv[0] (an absolute path) with argv, as run_as, in folder `cwd`, stdin from /dev/null
// and stdout+stderr appended to `log`, and waits for it. fork+execve rather than a shell:
// no quoting, and we control exactly which descriptors and which user the program gets.
absl::StatusOr<Exit> RunProgram(const std::vector<std::string>& argv, const RunAs& run_as, const fs::path& cwd,
                                const fs::path& log) {
  Fd dev_null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (dev_null.get() < 0) {
    return absl::InternalError(absl::StrCat("could not open /dev/null: ", ErrnoText(errno)));
  }
  bool log_existed = fs::exists(log);
  Fd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (log_fd.get() < 0) {
    return absl::InternalError(absl::StrCat("could not open ", log.string(), ": ", ErrnoText(errno)));
  }
  if (!log_existed) {
    if (absl::Status s = GiveTo(run_as, log); !s.ok()) return s;
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("could not make a pipe: ", ErrnoText(errno)));
  }
  Fd status_read(pipe_fds[0]);
  Fd status_write(pipe_fds[1]);

  // Everything the child needs is prepared here: after fork only async-signal-safe calls.
  std::vector<char*> child_argv;
  for (const std::string& arg : argv) child_argv.push_back(const_cast<char*>(arg.c_str()));
  child_argv.push_back(nullptr);
  // PG* variables (PGDATA, PGPORT, PGOPTIONS, ...) from our caller must not steer the server.
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (entry.starts_with("PG")) continue;
    if (run_as.switch_user &&
        (entry.starts_with("HOME=") || entry.starts_with("USER=") || entry.starts_with("LOGNAME="))) {
      continue;
    }
    env_strings.emplace_back(entry);
  }
  if (run_as.switch_user) {
    env_strings.push_back("HOME=" + run_as.home);
    env_strings.push_back("USER=" + run_as.name);
    env_strings.push_back("LOGNAME=" + run_as.name);
  }
  std::vector<char*> child_env;
  for (std::string& entry : env_strings) child_env.push_back(entry.data());
  child_env.push_back(nullptr);
  rlimit files{};
  int max_fd = ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY
                   ? static_cast<int>(std::min<rlim_t>(files.rlim_cur, 1 << 20))
                   : 1 << 16;
  const std::string cwd_string = cwd.string();

  pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("could not fork: ", ErrnoText(errno)));
  if (pid == 0) {
    auto fail = [&](ChildStage stage) {
      int report[2] = {static_cast<int>(stage), errno};
      ssize_t ignored = ::write(status_write.get(), report, sizeof(report));
      (void)ignored;  // nothing more a child about to _exit can do
      ::_exit(127);
    };
    // A caller that ignores SIGPIPE/SIGCHLD or blocks signals must not pass that on.
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGCHLD, SIG_DFL);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // dup2 onto itself would keep close-on-exec set; the standard descriptors are normally
    // open, so that only happens when our caller closed them.
    const int sources[3] = {dev_null.get(), log_fd.get(), log_fd.get()};
    for (int target = 0; target < 3; ++target) {
      int ok = sources[target] == target ? ::fcntl(target, F_SETFD, 0) : ::dup2(sources[target], target);
      if (ok < 0) fail(ChildStage::kRedirect);
    }
    // Descriptors our caller opened without O_CLOEXEC must not reach the postmaster either.
    // Marking rather than closing keeps the status pipe usable until execve.
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      for (int fd = 3; fd < max_fd; ++fd) {
        if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 && errno != EBADF) fail(ChildStage::kFds);
      }
    }
    if (run_as.switch_user) {
      // Group first: once the uid is dropped we may no longer change groups.
      if (::setgroups(1, &run_as.gid) != 0) fail(ChildStage::kGroups);
      if (::setgid(run_as.gid) != 0) fail(ChildStage::kGid);
      if (::setuid(run_as.uid) != 0) fail(ChildStage::kUid);
    }
    // Our own working folder may be unreadable for the postgres user (/root), and PostgreSQL's
    // programs complain about that.
    if (::chdir(cwd_string.c_str()) != 0) fail(ChildStage::kChdir);
    ::execve(child_argv[0], child_argv.data(), child_env.data());
    fail(ChildStage::kExec);
  }

  status_write.Reset();
  int report[2] = {0, 0};
  ssize_t got;
  do {
    got = ::read(status_read.get(), report, sizeof(report));
  } while (got < 0 && errno == EINTR);
  int wait_status = 0;
  pid_t waited;
  do {
    waited = ::waitpid(pid, &wait_status, 0);
  } while (waited < 0 && errno == EINTR);
  if (waited < 0) {
    return absl::InternalError(absl::StrCat("could not wait for ", CommandLine(argv, run_as), ": ", ErrnoText(errno)));
  }
  if (got == static_cast<ssize_t>(sizeof(report))) {
    return absl::FailedPreconditionError(absl::StrCat("`", CommandLine(argv, run_as),
                                                      "`: ", StageText(static_cast<ChildStage>(report[0])), ": ",
                                                      ErrnoText(report[1])));
  }
  Exit result;
  if (WIFEXITED(wait_status)) {
    result.code = WEXITSTATUS(wait_status);
    result.success = result.code == 0;
    result.description = absl::StrCat("exited with status ", WEXITSTATUS(wait_status));
  } else if (WIFSIGNALED(wait_status)) {
    result.description = absl::StrCat("was killed by signal ", WTERMSIG(wait_status));
  } else {
    result.description = absl::StrCat("ended with wait status ", wait_status);
  }
  return result;
}

// Runs a program that must succeed; its failure becomes one message naming the command and
// quoting the end of `tail_log` (by default what the program itself printed).
absl::Status RunOrExplain(const std::vector<std::string>& argv, const RunAs& run_as, const fs::path& root_dir,
                          const fs::path* tail_log = nullptr) {
  const fs::path programs_log = root_dir / kProgramsLog;
  const fs::path& quoted_log = tail_log != nullptr ? *tail_log : programs_log;
  std::streamoff from = FileSize(quoted_log);
  absl::StatusOr<Exit> outcome = RunProgram(argv, run_as, root_dir, programs_log);
  if (!outcome.ok()) return outcome.status();
  if (outcome->success) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("`", CommandLine(argv, run_as), "` ", outcome->description,
                                          "; the log ends: ", LogTail(quoted_log, from)));
}

// A port nobody listens on right now. Another process may take it before the postmaster binds
// it; StartPostmaster notices that and the caller tries another.
absl::StatusOr<int> FreePort() {
  Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) {
    return absl::InternalError(absl::StrCat("could not make a socket: ", ErrnoText(errno)));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::UnavailableError(absl::StrCat("could not bind a socket to 127.0.0.1: ", ErrnoText(errno)));
  }
  socklen_t len = sizeof(addr);
  if (::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError(absl::StrCat("getsockname: ", ErrnoText(errno)));
  }
  return static_cast<int>(ntohs(addr.sin_port));
}

// A postgresql.conf string literal.
std::string ConfString(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InternalError(absl::StrCat("could not read ", path.string()));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Overwrites an existing file; its owner (the postgres user, when we are root) and mode stay.
absl::Status WriteFile(const fs::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("could not write ", path.string()));
  return absl::OkStatus();
}

// initdb's postgresql.conf with our settings after it; later lines win in postgresql.conf, and
// options.settings come last so that a caller can override our defaults.
std::string ClusterConfig(std::string_view initdb_conf, const fs::path& root_dir, int port,
                          const std::vector<std::string>& settings) {
  std::string conf(initdb_conf);
  if (!conf.empty() && conf.back() != '\n') conf += '\n';
  absl::StrAppend(&conf, "\n# Added by pgpitr's LocalServer: a throwaway cluster.\n",
                  "listen_addresses = '127.0.0.1'\n", "port = ", port, "\n", "wal_level = logical\n",
                  "max_replication_slots = 10\n", "max_wal_senders = 10\n",
                  "fsync = off  # nothing here is worth surviving a machine crash\n",
                  "unix_socket_directories = ", ConfString(root_dir.string()), "\n");
  for (const std::string& line : settings) absl::StrAppend(&conf, line, "\n");
  return conf;
}

constexpr char kHbaConf[] =
    "# Written by pgpitr's LocalServer: a throwaway cluster on loopback, so trust is enough.\n"
    "local all         all              trust\n"
    "local replication all              trust\n"
    "host  all         all 127.0.0.1/32 trust\n"
    "host  replication all 127.0.0.1/32 trust\n";

std::string ConnInfo(int port, std::string_view dbname) {
  // Quote only when libpq would otherwise misread the name; plain names stay readable.
  bool plain = !dbname.empty() && std::none_of(dbname.begin(), dbname.end(), [](char c) {
    return absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '\'' || c == '\\' || c == '=';
  });
  std::string db;
  if (plain) {
    db = std::string(dbname);
  } else {
    db = "'";
    for (char c : dbname) {
      if (c == '\'' || c == '\\') db += '\\';
      db += c;
    }
    db += "'";
  }
  return absl::StrCat("host=127.0.0.1 port=", port, " user=postgres dbname=", db);
}

// pg_ctl -w returns once the postmaster says it is ready; a real connection is the check that
// matters to our callers, so wait for PQping too.
absl::Status WaitUntilAcceptingConnections(int port) {
  const std::string conninfo = ConnInfo(port, "postgres") + " connect_timeout=2";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  PGPing ping = PQPING_NO_RESPONSE;
  while (true) {
    ping = PQping(conninfo.c_str());
    if (ping == PQPING_OK) return absl::OkStatus();
    if (ping == PQPING_NO_ATTEMPT || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::UnavailableError(absl::StrCat("pg_ctl started PostgreSQL on 127.0.0.1:", port,
                                             " but it does not accept connections (",
                                             ping == PQPING_REJECT       ? "rejecting"
                                             : ping == PQPING_NO_ATTEMPT ? "bad conninfo"
                                                                         : "no answer",
                                             ")"));
}

std::vector<std::string> PgCtl(const fs::path& bin_dir, const fs::path& data_dir,
                               std::initializer_list<std::string> args) {
  std::vector<std::string> argv = {(bin_dir / "pg_ctl").string(), "-D", data_dir.string()};
  argv.insert(argv.end(), args);
  return argv;
}

struct StartResult {
  absl::Status status;
  bool port_taken = false;  // the postmaster could not bind its port: try another one
};

// pg_ctl status exits with 3 exactly when no server runs on the data directory.
constexpr int kPgCtlStatusNotRunning = 3;

bool PostmasterRuns(const fs::path& bin_dir, const fs::path& root_dir, const fs::path& data_dir, const RunAs& run_as) {
  absl::StatusOr<Exit> status =
      RunProgram(PgCtl(bin_dir, data_dir, {"status"}), run_as, root_dir, root_dir / kProgramsLog);
  // When in doubt, assume it runs: callers then try to stop it rather than forget it.
  return !status.ok() || status->code != kPgCtlStatusNotRunning;
}

StartResult StartPostmaster(const fs::path& bin_dir, const fs::path& root_dir, const fs::path& data_dir, int port,
                            const RunAs& run_as) {
  const fs::path server_log = root_dir / kServerLog;
  std::streamoff from = FileSize(server_log);
  StartResult result;
  // The server's log says why it did not start; pg_ctl itself only says that it did not.
  result.status = RunOrExplain(PgCtl(bin_dir, data_dir, {"-l", server_log.string(), "-w", "-t", "60", "start"}), run_as,
                               root_dir, &server_log);
  if (result.status.ok()) {
    result.status = WaitUntilAcceptingConnections(port);
  } else {
    // Not only the tail: the bind error comes several lines before the postmaster gives up.
    result.port_taken = absl::StrContains(absl::AsciiStrToLower(ReadFrom(server_log, from)), "address already in use");
  }
  // Our caller does not count a failed start as running, so a postmaster that came up too late
  // or does not answer must go now, or it would outlive us.
  if (!result.status.ok() && PostmasterRuns(bin_dir, root_dir, data_dir, run_as)) {
    (void)RunOrExplain(PgCtl(bin_dir, data_dir, {"-m", "immediate", "-w", "stop"}), run_as,
                       root_dir);  // best effort; the start error is the one to report
  }
  return result;
}

}  // namespace

namespace {

// Where a major's server programs are, if anywhere.
std::optional<fs::path> FindServerBinDir(int major, const fs::path& cache_dir) {
  std::error_code ec;
  for (const fs::path& dir : {fs::path("/usr/lib/postgresql") / std::to_string(major) / "bin",
                              cache_dir / std::to_string(major) / "bin"}) {
    if (fs::exists(dir / "initdb", ec) && fs::exists(dir / "postgres", ec)) return dir;
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<fs::path> ServerBinDir(int major, const fs::path& cache_dir) {
  if (std::optional<fs::path> dir = FindServerBinDir(major, cache_dir)) return *dir;
  return absl::NotFoundError(absl::StrCat("no PostgreSQL ", major, " server programs in /usr/lib/postgresql/", major,
                                          "/bin or ", (cache_dir / std::to_string(major)).string(),
                                          " (installed: ", absl::StrJoin(InstalledMajors(cache_dir), ", "),
                                          "): run deploy/fetch_postgres.sh"));
}

std::vector<int> InstalledMajors(const fs::path& cache_dir) {
  std::vector<int> majors;
  for (int major = 10; major <= 99; ++major) {
    if (FindServerBinDir(major, cache_dir)) majors.push_back(major);
  }
  return majors;
}

absl::StatusOr<std::unique_ptr<LocalServer>> LocalServer::Start(LocalServerOptions options) {
  absl::StatusOr<RunAs> run_as = ResolveRunAs();
  if (!run_as.ok()) return run_as.status();

  std::string pattern = (options.parent_dir / "pgpitr-pg-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("could not make a folder for PostgreSQL below ",
                                                      options.parent_dir.string(), ": ", ErrnoText(errno)));
  }
  // From here on the destructor removes the folder if any step fails.
  std::unique_ptr<LocalServer> server(new LocalServer(std::move(options)));
  server->root_dir_ = pattern;
  server->data_dir_ = server->root_dir_ / "data";
  const fs::path& root = server->root_dir_;
  const fs::path& data = server->data_dir_;
  const fs::path& bin = server->options_.bin_dir;

  if (absl::Status s = GiveTo(*run_as, root); !s.ok()) return s;
  if (absl::Status s = RunOrExplain({(bin / "initdb").string(), "-D", data.string(), "-U", "postgres", "--auth=trust",
                                     "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"},
                                    *run_as, root);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> initdb_conf = ReadFile(data / "postgresql.conf");
  if (!initdb_conf.ok()) return initdb_conf.status();
  if (absl::Status s = WriteFile(data / "pg_hba.conf", kHbaConf); !s.ok()) return s;

  StartResult started;
  for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
    absl::StatusOr<int> port = FreePort();
    if (!port.ok()) return port.status();
    if (absl::Status s =
            WriteFile(data / "postgresql.conf", ClusterConfig(*initdb_conf, root, *port, server->options_.settings));
        !s.ok()) {
      return s;
    }
    server->port_ = *port;
    started = StartPostmaster(bin, root, data, *port, *run_as);
    if (!started.port_taken) break;
  }
  if (!started.status.ok()) return started.status;
  server->running_ = true;
  return server;
}

LocalServer::~LocalServer() {
  if (root_dir_.empty()) return;
  bool stopped = true;
  if (running_) {
    absl::Status s = Stop();
    if (!s.ok()) {
      // Forcing is better than leaving a server nobody owns.
      absl::StatusOr<RunAs> run_as = ResolveRunAs();
      if (run_as.ok()) {
        s = RunOrExplain(PgCtl(options_.bin_dir, data_dir_, {"-m", "immediate", "-w", "stop"}), *run_as, root_dir_);
      }
      stopped = s.ok();
      if (!stopped) {
        std::fprintf(stderr, "pgpitr: could not stop PostgreSQL at %s (port %d): %s\n", root_dir_.c_str(), port_,
                     std::string(s.message()).c_str());
      }
    }
  }
  if (keep_ || !stopped) {
    std::fprintf(stderr, "pgpitr: kept PostgreSQL cluster at %s (port %d)\n", root_dir_.c_str(), port_);
    return;
  }
  std::error_code ec;
  fs::remove_all(root_dir_, ec);
  if (ec) {
    std::fprintf(stderr, "pgpitr: could not remove PostgreSQL cluster folder %s: %s\n", root_dir_.c_str(),
                 ec.message().c_str());
  }
}

std::string LocalServer::ConnectionString(std::string_view dbname) const { return ConnInfo(port_, dbname); }

absl::Status LocalServer::Stop() {
  if (!running_) return absl::OkStatus();
  absl::StatusOr<RunAs> run_as = ResolveRunAs();
  if (!run_as.ok()) return run_as.status();
  absl::Status s = RunOrExplain(PgCtl(options_.bin_dir, data_dir_, {"-m", "fast", "-w", "stop"}), *run_as, root_dir_);
  // A server that is already gone (a crash test killed it) counts as stopped, so that
  // StartAgain() can bring it back.
  if (s.ok() || !PostmasterRuns(options_.bin_dir, root_dir_, data_dir_, *run_as)) {
    running_ = false;
    return absl::OkStatus();
  }
  return s;
}

absl::Status LocalServer::Crash() {
  if (!running_) return absl::OkStatus();
  absl::StatusOr<RunAs> run_as = ResolveRunAs();
  if (!run_as.ok()) return run_as.status();
  absl::Status s =
      RunOrExplain(PgCtl(options_.bin_dir, data_dir_, {"-m", "immediate", "-w", "stop"}), *run_as, root_dir_);
  if (s.ok()) running_ = false;
  return s;
}

absl::Status LocalServer::StartAgain() {
  if (running_) {
    return absl::FailedPreconditionError(
        absl::StrCat("PostgreSQL at ", root_dir_.string(), " is already running (port ", port_, ")"));
  }
  absl::StatusOr<RunAs> run_as = ResolveRunAs();
  if (!run_as.ok()) return run_as.status();
  StartResult started = StartPostmaster(options_.bin_dir, root_dir_, data_dir_, port_, *run_as);
  if (started.port_taken) {
    // Connection strings handed out earlier name this port, so moving is not an option.
    return absl::UnavailableError(absl::StrCat("cannot start PostgreSQL at ", root_dir_.string(), " again: its port ",
                                               port_, " was taken by another process while it was stopped (",
                                               started.status.message(), ")"));
  }
  if (!started.status.ok()) return started.status;
  running_ = true;
  return absl::OkStatus();
}

absl::Status LocalServer::Restart() {
  if (absl::Status s = Stop(); !s.ok()) return s;
  return StartAgain();
}

}  // namespace pgpitr::embedded
