// COPY's text format, as replay writes it and as pg_restore prints a base's table data: one row a
// line, fields split by a tab, \N for NULL, backslash escapes for the bytes that would frame it.
//   std::string line; AppendCopyField(&line, "a\tb"); line += '\t'; line += kCopyNull; line += '\n';
//   CopyFields fields; SplitCopyLine("1\tx\\ty", &fields);  // fields.raw = {"1", "x\\ty"}
//   UnescapeCopyField(fields.raw[1]) == "x\ty"
// Pure functions; no server.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgpitr::restore {

inline constexpr std::string_view kCopyNull = "\\N";

// Appends text escaped for COPY: backslash, newline, carriage return and tab (what COPY TO escapes
// of the bytes COPY FROM would otherwise read as framing).
void AppendCopyField(std::string* out, std::string_view text);

// The fields of one line (without its newline), still escaped: views into the line.
struct CopyFields {
  std::vector<std::string_view> raw;
};
void SplitCopyLine(std::string_view line, CopyFields* fields);

// The value of an escaped field; nullopt for \N. Takes every escape COPY FROM accepts: \b \f \n \r
// \t \v, \\ and any other escaped byte as itself, octal \ooo and hex \xhh.
std::optional<std::string> UnescapeCopyField(std::string_view raw);

// The column names of a "COPY schema.table (a, "B c", ...) FROM stdin;" statement, unquoted, or
// nullopt when the line is not one.
std::optional<std::vector<std::string>> CopyStatementColumns(std::string_view line);

}  // namespace pgpitr::restore
