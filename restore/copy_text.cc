#include "restore/copy_text.h"

namespace pgpitr::restore {

void AppendCopyField(std::string* out, std::string_view text) {
  size_t plain = 0;  // bytes copied in runs: this is replay's innermost loop
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const char* escaped = c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : nullptr;
    if (escaped == nullptr) continue;
    out->append(text.data() + plain, i - plain);
    out->append(escaped, 2);
    plain = i + 1;
  }
  out->append(text.data() + plain, text.size() - plain);
}

void SplitCopyLine(std::string_view line, CopyFields* fields) {
  fields->raw.clear();
  size_t start = 0;
  for (;;) {
    const size_t tab = line.find('\t', start);
    if (tab == std::string_view::npos) {
      fields->raw.push_back(line.substr(start));
      return;
    }
    fields->raw.push_back(line.substr(start, tab - start));
    start = tab + 1;
  }
}

namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> UnescapeCopyField(std::string_view raw) {
  if (raw == kCopyNull) return std::nullopt;
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 == raw.size()) {
      out += raw[i];
      continue;
    }
    const char c = raw[++i];
    switch (c) {
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x': {
        int value = 0, digits = 0;
        while (digits < 2 && i + 1 < raw.size() && HexDigit(raw[i + 1]) >= 0)
          value = value * 16 + HexDigit(raw[++i]), ++digits;
        if (digits == 0) {
          out += 'x';
        } else {
          out += static_cast<char>(value);
        }
        break;
      }
      default:
        if (c >= '0' && c <= '7') {
          int value = c - '0';
          for (int digits = 1; digits < 3 && i + 1 < raw.size() && raw[i + 1] >= '0' && raw[i + 1] <= '7'; ++digits) {
            value = value * 8 + (raw[++i] - '0');
          }
          out += static_cast<char>(value & 0xff);
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::optional<std::vector<std::string>> CopyStatementColumns(std::string_view line) {
  if (!line.starts_with("COPY ") || !line.ends_with(" FROM stdin;")) return std::nullopt;
  // The table name may be quoted and hold parentheses; the column list is the first '(' outside quotes.
  size_t at = 5;
  bool quoted = false;
  for (; at < line.size(); ++at) {
    if (line[at] == '"') quoted = !quoted;
    if (!quoted && line[at] == '(') break;
  }
  if (at == line.size()) return std::vector<std::string>{};  // no column list: a table with no columns
  std::vector<std::string> columns;
  std::string name;
  quoted = false;
  for (++at; at < line.size(); ++at) {
    const char c = line[at];
    if (quoted) {
      if (c == '"' && at + 1 < line.size() && line[at + 1] == '"') {
        name += '"';
        ++at;
      } else if (c == '"') {
        quoted = false;
      } else {
        name += c;
      }
      continue;
    }
    if (c == '"') {
      quoted = true;
    } else if (c == ',' || c == ')') {
      columns.push_back(std::move(name));
      name.clear();
      if (c == ')') return columns;
      if (at + 1 < line.size() && line[at + 1] == ' ') ++at;
    } else {
      name += c;
    }
  }
  return std::nullopt;
}

}  // namespace pgpitr::restore
