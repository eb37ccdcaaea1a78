// The pgpitr command line: parses flags, wires the layers together, and turns every error into
// one line and an exit code. main() is a call to RunCli.
//   int code = pgpitr::cli::RunCli(argc, argv);
// Exit codes: 0 success; 1 internal error; 2 bad usage or input (flags, a time outside the window);
// 3 the source or a server cannot be used (unreachable, misconfigured, a tool missing);
// 4 the restore target was refused; 5 the repository is damaged.
#pragma once

#include <atomic>
#include <string>

#include "absl/status/status.h"

namespace pgpitr::cli {

int RunCli(int argc, char** argv);

// The exit code for an error, per the table above.
int ExitCodeFor(const absl::Status& status);

// `pgpitr demo`: a throwaway PostgreSQL, capture, a workload, a restore to a time in its middle,
// and a check that the restored database equals that moment.
absl::Status RunDemo(bool keep, const std::atomic<bool>& stop);

}  // namespace pgpitr::cli
