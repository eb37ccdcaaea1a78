#include "pg/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <deque>
#include <fstream>
#include <thread>

#include "base/error.h"
#include "fmt/format.h"
#include "pg/connection.h"

extern char** environ;

namespace pgpitr::pg {

namespace fs = std::filesystem;

namespace {

std::string LastLines(const fs::path& file, size_t count) {
  std::ifstream in(file);
  std::deque<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    lines.push_back(line);
    if (lines.size() > count) lines.pop_front();
  }
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : " | ") + l;
  return out;
}

}  // namespace

namespace {

// Starts argv with env added to this process's environment, stdin from /dev/null, stdout to
// stdout_fd (or the log when -1) and stderr to the log.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                            const fs::path& log_file, int stdout_fd) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    const size_t eq = kv.find('=');
    if (eq != std::string_view::npos) merged[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (const auto& [k, v] : env) merged[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& s : args) argp.push_back(s.data());
  argp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (stdout_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
  } else {
    posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  }
  pid_t pid = 0;
  // The CLI blocks SIGINT/SIGTERM in every thread (a watcher thread waits for them); a child would
  // inherit that mask and could not be stopped. It starts with no signal blocked.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  const int rc = posix_spawn(&pid, argp[0], &actions, &attr, argp.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return absl::FailedPreconditionError(fmt::format("cannot run {}: {}", argv[0], std::strerror(rc)));
  }
  return pid;
}

// How the child ended, as a status: ok for exit code 0.
absl::Status Exited(const std::vector<std::string>& argv, int status, bool stopped, const fs::path& log_file) {
  if (stopped) {
    return base::WithKind(absl::CancelledError(fmt::format("{} was stopped", fs::path(argv[0]).filename().string())),
                          base::ErrorKind::kStopped);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  return absl::FailedPreconditionError(fmt::format(
      "{} failed ({}): {}", fs::path(argv[0]).filename().string(),
      WIFEXITED(status) ? fmt::format("exit code {}", WEXITSTATUS(status)) : fmt::format("signal {}", WTERMSIG(status)),
      OneLine(LastLines(log_file, 4))));
}

}  // namespace

absl::Status RunProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                        const fs::path& log_file, const StopRequested& stop) {
  absl::StatusOr<pid_t> pid = Spawn(argv, env, log_file, -1);
  if (!pid.ok()) return pid.status();
  int status = 0;
  bool stopped = false;
  for (;;) {
    const pid_t done = waitpid(*pid, &status, WNOHANG);
    if (done == *pid) break;
    if (done < 0 && errno != EINTR) return absl::InternalError(fmt::format("lost track of {}", argv[0]));
    if (!stopped && stop && stop()) {
      kill(*pid, SIGTERM);
      stopped = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Exited(argv, status, stopped, log_file);
}

absl::Status RunProcessReading(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                               const fs::path& log_file, const OutputSink& on_output, const StopRequested& stop) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(fmt::format("cannot make a pipe for {}: {}", argv[0], std::strerror(errno)));
  }
  absl::StatusOr<pid_t> pid = Spawn(argv, env, log_file, fds[1]);
  close(fds[1]);
  if (!pid.ok()) {
    close(fds[0]);
    return pid.status();
  }
  absl::Status sink = absl::OkStatus();
  bool stopped = false;
  std::vector<char> buffer(256 << 10);
  for (;;) {
    if (!stopped && stop && stop()) {
      kill(*pid, SIGTERM);
      stopped = true;
    }
    pollfd p{.fd = fds[0], .events = POLLIN, .revents = 0};
    const int ready = poll(&p, 1, 20);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) continue;
    const ssize_t n = read(fds[0], buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (absl::Status s = on_output(std::string_view(buffer.data(), static_cast<size_t>(n))); !s.ok()) {
      sink = s;
      kill(*pid, SIGTERM);
      break;
    }
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0) {
    if (errno != EINTR) return absl::InternalError(fmt::format("lost track of {}", argv[0]));
  }
  if (!sink.ok()) return sink;
  return Exited(argv, status, stopped, log_file);
}

absl::StatusOr<int> PgToolMajorVersion(const fs::path& tool) {
  std::array<char, 256> buffer{};
  const std::string command = "'" + tool.string() + "' --version 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::FailedPreconditionError(fmt::format("cannot run {}", tool.string()));
  std::string out;
  while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) out += buffer.data();
  pclose(pipe);
  // "pg_dump (PostgreSQL) 15.4 (Debian 15.4-1)"
  const size_t paren = out.find(") ");
  if (paren == std::string::npos) {
    return absl::FailedPreconditionError(fmt::format("{} does not report a PostgreSQL version", tool.string()));
  }
  return std::atoi(out.c_str() + paren + 2);
}

absl::StatusOr<fs::path> PgTool(const std::string& tool, int min_major, std::string_view why, const fs::path& bin_dir) {
  fs::path path;
  if (!bin_dir.empty()) {
    path = bin_dir / tool;
  } else {
    int best = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
      const int major = std::atoi(entry.path().filename().c_str());
      if (major > best && fs::exists(entry.path() / "bin" / tool)) {
        best = major;
        path = entry.path() / "bin" / tool;
      }
    }
    if (path.empty()) {
      for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/local/pgsql/bin"}) {
        if (fs::exists(fs::path(dir) / tool)) {
          path = fs::path(dir) / tool;
          break;
        }
      }
    }
  }
  if (path.empty() || !fs::exists(path)) {
    return base::WithKind(
        absl::FailedPreconditionError(fmt::format(
            "{} not found{}: install postgresql-client-{} (apt-get install postgresql-client-{}) or pass --pg-bin",
            tool, bin_dir.empty() ? "" : " in " + bin_dir.string(), min_major, min_major)),
        base::ErrorKind::kToolMissing);
  }
  absl::StatusOr<int> major = PgToolMajorVersion(path);
  if (!major.ok()) return major.status();
  if (*major < min_major) {
    return base::WithKind(
        absl::FailedPreconditionError(
            fmt::format("{} is version {} but {}: {} must be version {} or newer (install postgresql-client-{} or pass "
                        "--pg-bin with its bin folder)",
                        path.string(), *major, why, tool, min_major, min_major)),
        base::ErrorKind::kToolMissing);
  }
  return path;
}

}  // namespace pgpitr::pg
