#include "restore/dump_toc.h"

#include <charconv>

#include "wal/event_triggers.h"

namespace pgpitr::restore {

namespace {

// Reads an unsigned decimal number at *at and the single space after it.
bool ReadNumber(std::string_view line, size_t* at, uint64_t* value) {
  const char* begin = line.data() + *at;
  const char* end = line.data() + line.size();
  auto [ptr, ec] = std::from_chars(begin, end, *value);
  if (ec != std::errc() || ptr == end || *ptr != ' ') return false;
  *at = static_cast<size_t>(ptr - line.data()) + 1;
  return true;
}

}  // namespace

std::vector<TocEntry> ParseToc(std::string_view listing) {
  std::vector<TocEntry> entries;
  while (!listing.empty()) {
    const size_t newline = listing.find('\n');
    const std::string_view line = listing.substr(0, newline);
    listing = newline == std::string_view::npos ? std::string_view() : listing.substr(newline + 1);
    if (line.empty() || line[0] == ';') continue;
    const size_t semicolon = line.find("; ");
    if (semicolon == std::string_view::npos) continue;
    uint64_t dump_id = 0, tableoid = 0, oid = 0;
    auto [ptr, ec] = std::from_chars(line.data(), line.data() + semicolon, dump_id);
    if (ec != std::errc() || ptr != line.data() + semicolon || dump_id > INT32_MAX) continue;
    size_t at = semicolon + 2;
    if (!ReadNumber(line, &at, &tableoid) || !ReadNumber(line, &at, &oid) || oid > UINT32_MAX) continue;
    TocEntry entry;
    entry.dump_id = static_cast<int>(dump_id);
    entry.oid = static_cast<uint32_t>(oid);
    const std::string_view kind = line.substr(at);
    // pgpitr's own event triggers on the source are not part of what is restored.
    if (constexpr std::string_view kTrigger = "EVENT TRIGGER - "; kind.starts_with(kTrigger)) {
      const std::string_view name = kind.substr(kTrigger.size(), kind.find(' ', kTrigger.size()) - kTrigger.size());
      if (wal::IsEventTriggerObject("EVENT TRIGGER", name)) continue;
    }
    entry.table_data = kind.starts_with("TABLE DATA ");
    entry.reads_other_tables = kind.starts_with("FK CONSTRAINT ") || kind.starts_with("MATERIALIZED VIEW DATA ");
    entry.line = std::string(line);
    entries.push_back(std::move(entry));
  }
  return entries;
}

std::string TocList(const std::vector<TocEntry>& entries) {
  std::string out;
  for (const TocEntry& e : entries) out += e.line + "\n";
  return out;
}

}  // namespace pgpitr::restore
