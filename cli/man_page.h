// The manual page, written from the same CLI11 command line that `--help` prints: every visible
// command, option, description and footer, as roff (man section 1). Nothing here is typed twice.
//   AddManCommand(app, PGPITR_VERSION);   // then `pgpitr man > pgpitr.1` (hidden from --help)
//   std::string roff = ManPage(app, "0.1.0");
#pragma once

#include <string>
#include <string_view>

#include "CLI/CLI.hpp"

namespace pgpitr::cli {

// `app` as a roff page: NAME and DESCRIPTION from its description, OPTIONS, one COMMANDS
// subsection per visible subcommand (its description, positionals, options, footer), and NOTES
// from its footer. Hidden subcommands and options (empty group) are left out, as --help does.
[[nodiscard]] std::string ManPage(const CLI::App& app, std::string_view version);

// `text` escaped for roff: backslashes, hyphens (so that --repo is not typeset as a dash), and a
// leading '.' or '\'' that would be read as a request.
[[nodiscard]] std::string RoffEscape(std::string_view text);

// Adds the hidden subcommand `man` to `app`; call it after every other subcommand is added.
// `pgpitr man` prints ManPage(app, version) on stdout and ends parsing with CLI::Success, so the
// caller's usual `catch (const CLI::ParseError& e) { return app.exit(e); }` returns 0.
void AddManCommand(CLI::App& app, std::string version);

}  // namespace pgpitr::cli
