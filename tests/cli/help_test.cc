// Specification of what the command line tells people: every command's --help names each of its
// options with a meaning and shows an example; `pgpitr --help` lists every command and the exit
// codes; --version names pgpitr's, libpq's and RocksDB's versions. The commands are read from the
// application itself, so a new command or option is checked without editing this test.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "base/error.h"
#include "cli/commands.h"
#include "fmt/format.h"
#include "rocksdb/version.h"

namespace pgpitr::cli {
namespace {

// Runs the command line on `args` with stdout captured; `inspect` sees the declared application.
int RunCommandLine(std::vector<std::string> args, std::string* out,
                   const std::function<void(CLI::App&)>& inspect = {}) {
  args.insert(args.begin(), "pgpitr");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  testing::internal::CaptureStdout();
  const int code = RunCli(static_cast<int>(argv.size()), argv.data(), inspect);
  *out = testing::internal::GetCapturedStdout();
  return code;
}

struct Command {
  std::string name;
  std::string description;
  std::vector<std::string> options;  // each option's name as help prints it
  std::vector<std::string> options_without_meaning;
};

// The visible commands and their options, as declared.
std::vector<Command> DeclaredCommands() {
  std::vector<Command> commands;
  std::string ignored;
  RunCommandLine({"--help"}, &ignored, [&](CLI::App& app) {
    for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      if (sub->get_group().empty()) continue;  // hidden (e.g. `man`, for packaging)
      Command c;
      c.name = sub->get_name();
      c.description = sub->get_description();
      for (const CLI::Option* opt : sub->get_options()) {
        if (opt == sub->get_help_ptr() || opt == sub->get_help_all_ptr() || opt->get_group().empty()) continue;
        c.options.push_back(opt->get_lnames().empty() ? opt->get_name() : "--" + opt->get_lnames().front());
        if (opt->get_description().empty()) c.options_without_meaning.push_back(c.options.back());
      }
      commands.push_back(std::move(c));
    }
  });
  return commands;
}

TEST(Help, ThereAreCommandsToCheck) {
  // Guards the tests below against passing vacuously.
  EXPECT_GE(DeclaredCommands().size(), 8u);
}

TEST(Help, EveryCommandsHelpNamesEachOptionAndShowsAnExample) {
  for (const Command& c : DeclaredCommands()) {
    std::string help;
    EXPECT_EQ(RunCommandLine({c.name, "--help"}, &help), 0) << c.name;
    EXPECT_NE(help.find("Example"), std::string::npos) << "pgpitr " << c.name << " --help has no example:\n" << help;
    EXPECT_NE(help.find("pgpitr " + c.name), std::string::npos) << c.name << ": the example runs the command";
    EXPECT_TRUE(c.options_without_meaning.empty())
        << c.name << ": an option has no one-line meaning, the first is " << c.options_without_meaning.front();
    for (const std::string& option : c.options) {
      EXPECT_NE(help.find(option), std::string::npos) << "pgpitr " << c.name << " --help does not name " << option;
    }
  }
}

TEST(Help, TopLevelHelpListsEveryCommandAndTheExitCodes) {
  std::string help;
  EXPECT_EQ(RunCommandLine({"--help"}, &help), 0);
  for (const Command& c : DeclaredCommands()) {
    EXPECT_NE(help.find("  " + c.name + " "), std::string::npos) << "pgpitr --help does not list " << c.name;
  }
  EXPECT_NE(help.find(ExitCodesText()), std::string::npos) << help;
  EXPECT_NE(help.find("Example"), std::string::npos) << help;
  for (const char* option : {"--config", "--log-format", "--log-level", "--version"}) {
    EXPECT_NE(help.find(option), std::string::npos) << option;
  }
}

TEST(Help, ExitCodesTextNamesEveryCode) {
  const std::string text = ExitCodesText();
  for (ExitCode code : {ExitCode::kSuccess, ExitCode::kInternal, ExitCode::kUsage, ExitCode::kSourceUnusable,
                        ExitCode::kTargetRefused, ExitCode::kDamaged, ExitCode::kStopped}) {
    EXPECT_NE(text.find(fmt::format("{} ", static_cast<int>(code))), std::string::npos) << static_cast<int>(code);
  }
}

// Each kind of error has its exit code, whatever the status code it travels in: "no base yet" is
// not the source's fault (it was exit code 3), a damaged change log is 5 even when reworded.
TEST(ExitCode, EachErrorKindMapsToOneCode) {
  const std::pair<base::ErrorKind, ExitCode> cases[] = {
      {base::ErrorKind::kUsage, ExitCode::kUsage},
      {base::ErrorKind::kNothingRestorable, ExitCode::kUsage},
      {base::ErrorKind::kSourceUnusable, ExitCode::kSourceUnusable},
      {base::ErrorKind::kToolMissing, ExitCode::kSourceUnusable},
      {base::ErrorKind::kTargetRefused, ExitCode::kTargetRefused},
      {base::ErrorKind::kRoleMissing, ExitCode::kTargetRefused},
      {base::ErrorKind::kChangeLogDamaged, ExitCode::kDamaged},
      {base::ErrorKind::kBaseDamaged, ExitCode::kDamaged},
      {base::ErrorKind::kStopped, ExitCode::kStopped},
      {base::ErrorKind::kNotExact, ExitCode::kNotExact},
  };
  for (const auto& [kind, code] : cases) {
    EXPECT_EQ(ExitCodeOf(base::WithKind(absl::FailedPreconditionError("x"), kind)), code) << static_cast<int>(kind);
    EXPECT_EQ(ExitCodeOf(base::WithKind(absl::InternalError("x"), kind)), code) << static_cast<int>(kind);
  }
  EXPECT_EQ(ExitCodeOf(absl::FailedPreconditionError("no kind")), ExitCode::kSourceUnusable);
  EXPECT_EQ(ExitCodeOf(absl::OkStatus()), ExitCode::kSuccess);
}

TEST(Help, UsageErrorsAreExitCode2) {
  std::string out;
  EXPECT_EQ(RunCommandLine({"restore", "--no-such-flag"}, &out), static_cast<int>(ExitCode::kUsage));
  EXPECT_EQ(RunCommandLine({}, &out), static_cast<int>(ExitCode::kUsage)) << "a command is required";
  EXPECT_EQ(
      RunCommandLine(
          {"restore", "--repo", "/nonexistent", "--target", "dbname=x", "--to-time", "-30s", "--to-lsn", "0/1"}, &out),
      static_cast<int>(ExitCode::kUsage))
      << "--to-time and --to-lsn exclude each other";
}

TEST(Version, NamesPgpitrLibpqBuiltAndLoadedAndRocksDb) {
  std::string out;
  EXPECT_EQ(RunCommandLine({"--version"}, &out), 0);
  EXPECT_NE(out.find(fmt::format("pgpitr {}", PGPITR_VERSION)), std::string::npos) << out;
  const int lib = PQlibVersion();
  EXPECT_NE(out.find(fmt::format("libpq {}.{} (built with ", lib / 10000, lib % 10000)), std::string::npos) << out;
  EXPECT_NE(out.find(fmt::format("RocksDB {}.{}.{}", ROCKSDB_MAJOR, ROCKSDB_MINOR, ROCKSDB_PATCH)), std::string::npos)
      << out;
}

}  // namespace
}  // namespace pgpitr::cli
