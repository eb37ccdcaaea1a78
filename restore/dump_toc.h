// The table of contents of a base's dump, as `pg_restore -l` prints it, and the list files that
// make `pg_restore -L` restore only some of its entries.
//   std::vector<TocEntry> data = ParseToc(listing);        // pg_restore -l --section=data
//   std::string list = TocList(entries);                   // for pg_restore -L
// An entry line is "<dump id>; <catalog tableoid> <oid> <kind> <schema> <name> <owner>", e.g.
//   3378; 0 17933 TABLE DATA public child postgres
// where a TABLE DATA entry's oid is its table's pg_class oid on the source, which is also the relid
// logical replication names it by. Lines starting with ';' are comments. Pure; no server.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgpitr::restore {

struct TocEntry {
  int dump_id = 0;
  uint32_t oid = 0;
  bool table_data = false;  // a table's rows (COPY), rather than a sequence value, large objects, ...
  // Post-data entries that read other tables' rows: a foreign key (checked against the rows it
  // references) and a materialized view's data (REFRESH). Restore makes them last.
  bool reads_other_tables = false;
  std::string line;  // as listed
};

// The entries of a listing; lines that are neither comments nor entries are skipped.
std::vector<TocEntry> ParseToc(std::string_view listing);

// A list file naming exactly these entries, in this order.
std::string TocList(const std::vector<TocEntry>& entries);

}  // namespace pgpitr::restore
