// Specification of the manual page: it is pgpitr's --help in roff, so every command and every option
// that `pgpitr --help` and `pgpitr COMMAND --help` show is named in the command's section, hidden
// ones are not, and text that roff would misread (hyphens, backslashes, a leading dot) is escaped.
#include "cli/man_page.h"

#include <gtest/gtest.h>

#include <iostream>
#include <sstream>
#include <vector>

#include "cli/commands.h"

namespace pgpitr::cli {
namespace {

// What `pgpitr ARGS...` prints on stdout, and its exit code.
struct Output {
  int code;
  std::string out;
};
Output RunPgpitr(std::vector<std::string> args) {
  args.insert(args.begin(), "pgpitr");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  std::ostringstream captured;
  std::streambuf* const saved = std::cout.rdbuf(captured.rdbuf());
  const int code = RunCli(static_cast<int>(argv.size()), argv.data());
  std::cout.rdbuf(saved);
  return {code, captured.str()};
}

std::vector<std::string> LinesOf(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The entries of one section of CLI11's help ("Options:", "Subcommands:", "Positionals:"): the first
// word of each line indented by exactly two spaces (continuation lines are indented further).
std::vector<std::string> HelpSection(const std::string& help, const std::string& heading) {
  std::vector<std::string> entries;
  bool in_section = false;
  for (const std::string& line : LinesOf(help)) {
    if (!line.empty() && line[0] != ' ') in_section = line.rfind(heading, 0) == 0;
    if (!in_section || line.size() < 3 || line.substr(0, 2) != "  " || line[2] == ' ') continue;
    entries.push_back(line.substr(2, line.find(' ', 2) - 2));
  }
  return entries;
}

// The roff between `.SS "pgpitr COMMAND` and the next section heading.
std::string CommandSection(const std::string& roff, const std::string& command) {
  const size_t start = roff.find(".SS \"pgpitr " + command + " ");
  const size_t start_bare = roff.find(".SS \"pgpitr " + command + "\"");
  const size_t at = std::min(start, start_bare);
  if (at == std::string::npos) return "";
  const size_t end = std::min(roff.find("\n.SS ", at + 1), roff.find("\n.SH ", at + 1));
  return roff.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

TEST(ManPage, NamesEveryCommandAndOptionThatHelpNames) {
  const Output help = RunPgpitr({"--help"});
  ASSERT_EQ(help.code, 0);
  const Output man = RunPgpitr({"man"});
  ASSERT_EQ(man.code, 0);
  ASSERT_EQ(man.out.rfind(".TH PGPITR 1", 0), 0u) << man.out.substr(0, 200);

  for (const std::string& entry : HelpSection(help.out, "Options:")) {
    EXPECT_NE(man.out.find("\\fB" + RoffEscape(entry) + "\\fR"), std::string::npos) << entry;
  }
  const std::vector<std::string> commands = HelpSection(help.out, "Subcommands:");
  ASSERT_GE(commands.size(), 9u) << help.out;  // run backup info restore verify retention mark uninstall demo
  for (const std::string& command : commands) {
    const std::string section = CommandSection(man.out, command);
    ASSERT_FALSE(section.empty()) << "no section for " << command;
    const Output command_help = RunPgpitr({command, "--help"});
    ASSERT_EQ(command_help.code, 0) << command;
    const std::vector<std::string> options = HelpSection(command_help.out, "Options:");
    EXPECT_FALSE(options.empty()) << command;
    for (const std::string& entry : options) {
      EXPECT_NE(section.find("\\fB" + RoffEscape(entry) + "\\fR"), std::string::npos) << command << " " << entry << "\n"
                                                                                      << section;
    }
    for (const std::string& positional : HelpSection(command_help.out, "Positionals:")) {
      EXPECT_NE(section.find("\\fI" + RoffEscape(positional) + "\\fR"), std::string::npos)
          << command << " " << positional;
    }
  }
}

TEST(ManPage, TheManCommandIsHiddenFromHelp) {
  const Output help = RunPgpitr({"--help"});
  for (const std::string& command : HelpSection(help.out, "Subcommands:")) EXPECT_NE(command, "man");
  EXPECT_EQ(RunPgpitr({"man"}).out.find(".SS \"pgpitr man"), std::string::npos);
}

TEST(ManPage, HyphensBackslashesAndLeadingDotsAreEscaped) {
  EXPECT_EQ(RoffEscape("--to-time"), "\\-\\-to\\-time");
  EXPECT_EQ(RoffEscape("C:\\dir"), "C:\\edir");
  EXPECT_EQ(RoffEscape(".pgpass and\n'quoted'"), "\\&.pgpass and\n\\&'quoted'");
  EXPECT_EQ(RoffEscape("a.b"), "a.b");
}

TEST(ManPage, DescribesOptionsWithTypeDefaultAndRequiredness) {
  CLI::App app{"tool: does things.\nSecond line.", "tool"};
  std::string repo, slot = "pgpitr", secret;
  CLI::App* sub = app.add_subcommand("sub", "A command.\n  e.g. tool sub --repo /r");
  sub->add_option("--repo", repo, "Repository folder")->required();
  sub->add_option("--slot", slot, "The slot")->capture_default_str();
  sub->add_option("--secret", secret, "Not shown")->group("");
  app.add_subcommand("hidden", "Not shown either")->group("");
  sub->footer("Sub's footer.");
  app.footer("Exit codes: 0 success.");

  const std::string roff = ManPage(app, "9.9.9");
  EXPECT_NE(roff.find(".TH TOOL 1 \"\" \"tool 9.9.9\""), std::string::npos) << roff;
  EXPECT_NE(roff.find(".SH NAME\ntool \\- does things\n"), std::string::npos) << roff;
  EXPECT_NE(roff.find(".SS \"tool sub [OPTIONS]\""), std::string::npos) << roff;
  EXPECT_NE(roff.find("\\fB\\-\\-repo\\fR \\fITEXT\\fR (required)\nRepository folder\n"), std::string::npos) << roff;
  EXPECT_NE(roff.find("\\fB\\-\\-slot\\fR \\fITEXT\\fR (default: pgpitr)\n"), std::string::npos) << roff;
  // The example keeps its line and spacing.
  EXPECT_NE(roff.find(".nf\n  e.g. tool sub \\-\\-repo /r\n.fi\n"), std::string::npos) << roff;
  EXPECT_NE(roff.find("Sub's footer."), std::string::npos);
  EXPECT_NE(roff.find(".SH NOTES\nExit codes: 0 success.\n"), std::string::npos) << roff;
  EXPECT_EQ(roff.find("secret"), std::string::npos);
  EXPECT_EQ(roff.find("hidden"), std::string::npos);
}

TEST(ManPage, ManCommandPrintsThePageAndEndsParsingSuccessfully) {
  CLI::App app{"tool: does things.", "tool"};
  app.add_subcommand("sub", "A command.");
  app.require_subcommand(1);
  AddManCommand(app, "1.0");
  EXPECT_EQ(app.help().find("\n  man "), std::string::npos) << app.help();
  EXPECT_NE(app.help().find("\n  sub "), std::string::npos) << app.help();

  std::ostringstream captured;
  std::streambuf* const saved = std::cout.rdbuf(captured.rdbuf());
  int code = -1;
  try {
    app.parse(std::vector<std::string>{"man"});
  } catch (const CLI::ParseError& e) {
    code = e.get_exit_code();
  }
  std::cout.rdbuf(saved);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(captured.str(), ManPage(app, "1.0"));
}

}  // namespace
}  // namespace pgpitr::cli
