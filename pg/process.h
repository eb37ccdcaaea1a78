// RunProcess: runs a PostgreSQL client program (pg_dump, pg_restore) to completion, without a shell,
// with its output kept in a log file, and stops it when asked to.
//   absl::Status s = RunProcess({"/usr/bin/pg_dump", "--version"}, {}, log_path, [&] { return stop.load(); });
// PgTool finds such a program whose major version is at least what it must read or talk to.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pgpitr::pg {

// Asked every few milliseconds while a child runs: true stops it.
using StopRequested = std::function<bool()>;

// env adds to (or overrides) this process's environment. When stop returns true the child gets
// SIGTERM and the call returns Cancelled. A non-zero exit is an error carrying the log's last lines.
[[nodiscard]] absl::Status RunProcess(const std::vector<std::string>& argv,
                                      const std::map<std::string, std::string>& env,
                                      const std::filesystem::path& log_file, const StopRequested& stop = {});

// As RunProcess, but the child's standard output is handed to on_output as it arrives (its standard
// error still goes to log_file). An error from on_output stops the child (SIGTERM) and is returned.
using OutputSink = std::function<absl::Status(std::string_view)>;
[[nodiscard]] absl::Status RunProcessReading(const std::vector<std::string>& argv,
                                             const std::map<std::string, std::string>& env,
                                             const std::filesystem::path& log_file, const OutputSink& on_output,
                                             const StopRequested& stop = {});

// The path of tool ("pg_dump", "pg_restore") of major version min_major or newer: from bin_dir
// when given, else /usr/lib/postgresql/<N>/bin for the newest N installed, else PATH. `why` says
// where min_major comes from ("the server is PostgreSQL 17": pg_dump must be at least the server's
// major; "base X was dumped by pg_dump 16": pg_restore reads any older dump into any newer server,
// not a newer dump). Too old a tool is a FailedPrecondition error naming the package to install.
[[nodiscard]] absl::StatusOr<std::filesystem::path> PgTool(const std::string& tool, int min_major, std::string_view why,
                                                           const std::filesystem::path& bin_dir);

// The major version a client program reports with --version (15 for "pg_dump (PostgreSQL) 15.4").
[[nodiscard]] absl::StatusOr<int> PgToolMajorVersion(const std::filesystem::path& tool);

}  // namespace pgpitr::pg
