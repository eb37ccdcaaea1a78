#include "cli/man_page.h"

#include <algorithm>
#include <cctype>
#include <iostream>
#include <sstream>
#include <vector>

namespace pgpitr::cli {
namespace {

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    lines.push_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Help text as roff: lines flush left are filled (their breaks mostly kept the source under 120
// columns) unless one starts a sentence; a blank line starts a paragraph; indented lines (examples,
// tables) are set without filling so that their spacing and quotes survive.
void WriteText(std::ostream& out, std::string_view text) {
  bool indented_block = false, first = true;
  std::string_view previous;
  for (std::string_view line : Lines(text)) {
    const bool indented = !line.empty() && (line.front() == ' ' || line.front() == '\t');
    if (Trim(line).empty()) {
      if (indented_block) out << ".fi\n";
      indented_block = false;
      if (!first) out << ".PP\n";
      first = true;
      continue;
    }
    if (indented && !indented_block) out << ".nf\n";
    if (!indented && indented_block) out << ".fi\n";
    // A new sentence on a new line ("...variables.\nExit codes: ...") keeps its line.
    if (!indented && !indented_block && !first && (previous.back() == '.' || previous.back() == ':') &&
        std::isupper(static_cast<unsigned char>(Trim(line).front()))) {
      out << ".br\n";
    }
    previous = Trim(line);
    indented_block = indented;
    out << RoffEscape(indented ? line : Trim(line)) << "\n";
    first = false;
  }
  if (indented_block) out << ".fi\n";
}

bool Visible(const CLI::Option* opt) { return !opt->get_group().empty(); }

// "--slot TEXT (default: pgpitr)" as the term of a tagged paragraph; then the description.
void WriteOption(std::ostream& out, const CLI::Option& opt) {
  out << ".TP\n";
  if (opt.get_positional()) {
    out << "\\fI" << RoffEscape(opt.get_name(true, false)) << "\\fR";
  } else {
    out << "\\fB" << RoffEscape(opt.get_name(false, true)) << "\\fR";
    if (opt.get_type_size() != 0 && !opt.get_type_name().empty()) {
      out << " \\fI" << RoffEscape(opt.get_type_name()) << "\\fR";
    }
  }
  std::vector<std::string> notes;
  if (opt.get_required()) notes.push_back("required");
  if (!opt.get_default_str().empty()) notes.push_back("default: " + opt.get_default_str());
  if (!opt.get_envname().empty()) notes.push_back("environment: " + opt.get_envname());
  // Sorted: get_excludes() is ordered by address, which must not reorder the page between builds.
  std::vector<std::string> excluded;
  for (const CLI::Option* other : opt.get_excludes()) excluded.push_back(other->get_name());
  std::sort(excluded.begin(), excluded.end());
  std::string excludes;
  for (const std::string& other : excluded) excludes += (excludes.empty() ? "" : " ") + other;
  if (!excludes.empty()) notes.push_back("not with " + excludes);
  if (!notes.empty()) {
    out << " (";
    for (size_t i = 0; i < notes.size(); ++i) out << (i ? "; " : "") << RoffEscape(notes[i]);
    out << ")";
  }
  out << "\n";
  WriteText(out, opt.get_description());
}

// `pgpitr run [OPTIONS]`, `pgpitr mark [OPTIONS] name`: what --help's usage line says.
std::string Synopsis(const CLI::App& app, const std::string& path) {
  std::string s = path;
  if (!app.get_options([](const CLI::Option* o) { return Visible(o) && o->nonpositional(); }).empty()) {
    s += " [OPTIONS]";
  }
  for (const CLI::Option* o : app.get_options([](const CLI::Option* o) { return Visible(o) && o->get_positional(); })) {
    s += o->get_required() ? " " + o->get_name(true, false) : " [" + o->get_name(true, false) + "]";
  }
  if (!app.get_subcommands([](const CLI::App* c) { return !c->get_group().empty(); }).empty()) s += " COMMAND";
  return s;
}

void WriteCommand(std::ostream& out, const CLI::App& cmd, const std::string& path) {
  out << ".SS \"" << RoffEscape(Synopsis(cmd, path)) << "\"\n";
  WriteText(out, cmd.get_description());
  for (const CLI::Option* opt : cmd.get_options(Visible)) WriteOption(out, *opt);
  if (!cmd.get_footer().empty()) {
    out << ".PP\n";
    WriteText(out, cmd.get_footer());
  }
  for (const CLI::App* sub : cmd.get_subcommands([](const CLI::App* c) { return !c->get_group().empty(); })) {
    WriteCommand(out, *sub, path + " " + sub->get_name());
  }
}

}  // namespace

std::string RoffEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    line_start = c == '\n';
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
  }
  return out;
}

std::string ManPage(const CLI::App& app, std::string_view version) {
  const std::string name = app.get_name();
  std::ostringstream out;
  std::string upper = name;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // No date: the page is generated at build time and must not change from one build to the next.
  out << ".TH " << upper << " 1 \"\" \"" << RoffEscape(name) << " " << RoffEscape(version) << "\" \"User Commands\"\n";

  // NAME is the description's first sentence, without a leading "pgpitr:".
  const std::string description = app.get_description();
  std::string_view summary = Trim(Lines(description).empty() ? "" : Lines(description).front());
  if (summary.substr(0, name.size() + 1) == name + ":") summary = Trim(summary.substr(name.size() + 1));
  if (const size_t stop = summary.find(". "); stop != std::string_view::npos) summary = summary.substr(0, stop);
  if (!summary.empty() && summary.back() == '.') summary.remove_suffix(1);
  out << ".SH NAME\n" << RoffEscape(name) << " \\- " << RoffEscape(summary) << "\n";

  out << ".SH SYNOPSIS\n.B " << RoffEscape(name) << "\n"
      << RoffEscape(Synopsis(app, name).substr(name.size() + 1)) << " ...\n";
  out << ".SH DESCRIPTION\n";
  WriteText(out, description);
  out << ".SH OPTIONS\nThese are taken before or after any command's name.\n";
  for (const CLI::Option* opt : app.get_options(Visible)) WriteOption(out, *opt);
  out << ".SH COMMANDS\n";
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App* c) { return !c->get_group().empty(); })) {
    WriteCommand(out, *sub, name + " " + sub->get_name());
  }
  if (!app.get_footer().empty()) {
    out << ".SH NOTES\n";
    WriteText(out, app.get_footer());
  }
  out << ".SH FILES\n"
         ".TP\n/etc/pgpitr/\\fIINSTANCE\\fR.toml\n"
         "The configuration of the systemd unit pgpitr@\\fIINSTANCE\\fR.service (the Debian package ships an "
         "example in /usr/share/doc/pgpitr/examples/).\n"
         ".TP\n/var/lib/pgpitr/\\fIINSTANCE\\fR\n"
         "That unit's repository.\n"
         ".SH SEE ALSO\n"
         ".BR pg_dump (1),\n.BR pg_restore (1),\n.BR systemctl (1)\n";
  return out.str();
}

void AddManCommand(CLI::App& app, std::string version) {
  CLI::App* man = app.add_subcommand("man", "Print the manual page (roff) on stdout");
  man->group("");  // hidden, as from ManPage itself
  man->callback([&app, version = std::move(version)] {
    std::cout << ManPage(app, version) << std::flush;
    throw CLI::Success();
  });
}

}  // namespace pgpitr::cli
