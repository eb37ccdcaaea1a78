// The pgpitr command line: parses flags, wires the layers together, and turns every error into
// one line and an exit code. main() is a call to RunCli.
//   int code = pgpitr::cli::RunCli(argc, argv);
// Every exit code is an ExitCode below (documented in README.md and in `pgpitr --help`).
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "absl/status/status.h"

namespace CLI {
class App;
}

namespace pgpitr::cli {

// What the process's exit status means. Numbers are kept stable: scripts and systemd depend on them.
enum class ExitCode : int {
  kSuccess = 0,
  kInternal = 1,        // a bug or an unexpected failure of our own
  kUsage = 2,           // bad usage or input: flags, a time outside the window, not a repository
  kSourceUnusable = 3,  // the source or a server cannot be used: unreachable, misconfigured, a tool missing
  kTargetRefused = 4,   // the restore target was refused (not empty, the source itself, not allowed)
  kDamaged = 5,         // the repository is damaged (verify, or a restore that meets damage)
  kStopped = 6,         // stopped before the end: SIGINT/SIGTERM during a dump or restore, or "no" at a prompt
  kNotExact = 7,        // restore --best-effort or verify --replay finished, and what may differ is listed
};

// "Exit codes: 0 success, 1 ..., 6 ...": the text `--help` and the README show.
std::string ExitCodesText();

// `inspect`, when given, sees the fully declared command line before it parses argv (tests read
// every command's options and help from it).
int RunCli(int argc, char** argv, const std::function<void(CLI::App&)>& inspect = {});

// The exit code for an error, per ExitCode: by the kind it carries (base/error.h), one to one, or,
// when it carries none, by its status code.
ExitCode ExitCodeOf(const absl::Status& status);
inline int ExitCodeFor(const absl::Status& status) { return static_cast<int>(ExitCodeOf(status)); }

// `pgpitr demo`: a throwaway PostgreSQL, capture, a workload, a restore to a time in its middle,
// and a check that the restored database equals that moment.
absl::Status RunDemo(bool keep, const std::atomic<bool>& stop);

}  // namespace pgpitr::cli
