// The pgpitr binary run as a user runs it, for the tests of the command line: its exit code,
// stdout and stderr, and (for `run`) a process to stop with a signal.
//   CliResult r = RunPgpitr({"info", "--repo", dir});  EXPECT_EQ(r.exit_code, 0) << r.err;
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"
#include "tests/spawn.h"

extern char** environ;

namespace pgpitr::testing {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  // The last line of stderr: the error, when there is one.
  std::string LastErrorLine() const {
    std::string trimmed = err;
    while (!trimmed.empty() && trimmed.back() == '\n') trimmed.pop_back();
    const size_t nl = trimmed.rfind('\n');
    return nl == std::string::npos ? trimmed : trimmed.substr(nl + 1);
  }
};

// A pgpitr process running in the background; stdout and stderr go to files read at any time.
class PgpitrProcess {
 public:
  // `env`: the child's whole environment ("NAME=value"); nullopt: this process's.
  PgpitrProcess(std::vector<std::string> args, const std::optional<std::vector<std::string>>& env = std::nullopt)
      : dir_(MakeTempDir("pgpitr-cli-")) {
    args.insert(args.begin(), PGPITR_BINARY);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_copy = env.value_or(std::vector<std::string>{});
    std::vector<char*> envp;
    for (auto& e : env_copy) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, (dir_ / "out").c_str(), O_WRONLY | O_CREAT, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, (dir_ / "err").c_str(), O_WRONLY | O_CREAT, 0600);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), env ? envp.data() : environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_GT(pid_, 0) << "cannot start " << PGPITR_BINARY;
  }
  ~PgpitrProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string Out() const { return Slurp(dir_ / "out"); }
  std::string Err() const { return Slurp(dir_ / "err"); }
  void Signal(int signal) const {
    if (pid_ > 0) kill(pid_, signal);
  }
  // Waits for the process to end; its exit code, stdout and stderr.
  CliResult Wait() {
    CliResult result;
    if (pid_ > 0) {
      int status = 0;
      waitpid(pid_, &status, 0);
      result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
    }
    result.out = Out();
    result.err = Err();
    return result;
  }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
};

inline CliResult RunPgpitr(std::vector<std::string> args,
                           const std::optional<std::vector<std::string>>& env = std::nullopt) {
  return PgpitrProcess(std::move(args), env).Wait();
}

}  // namespace pgpitr::testing
