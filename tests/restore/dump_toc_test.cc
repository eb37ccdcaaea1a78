// The table of contents pg_restore -l prints: entries with their dump ids and oids, table data told
// apart, comments and odd lines skipped, and a list file that names exactly the entries given.
#include "restore/dump_toc.h"

#include <gtest/gtest.h>

namespace pgpitr::restore {
namespace {

constexpr const char* kListing = R"(;
; Archive created at 2026-12-01 18:10:41 UTC
;     dbname: sec_src
;
; Selected TOC Entries:
;
3378; 0 17933 TABLE DATA public child postgres
3376; 0 17923 TABLE DATA public my table postgres
3395; 0 0 SEQUENCE SET public child_id_seq postgres
3382; 0 0 BLOBS - BLOBS 
3379; 0 17954 MATERIALIZED VIEW DATA public mv postgres
not an entry
12x; 0 1 TABLE DATA public bad postgres
)";

TEST(DumpToc, EntriesCarryTheirDumpIdOidAndWhetherTheyAreTableData) {
  const std::vector<TocEntry> entries = ParseToc(kListing);
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries[0].dump_id, 3378);
  EXPECT_EQ(entries[0].oid, 17933u);
  EXPECT_TRUE(entries[0].table_data);
  EXPECT_EQ(entries[1].oid, 17923u);  // a name with a space: found by its oid
  EXPECT_TRUE(entries[1].table_data);
  EXPECT_FALSE(entries[2].table_data);
  EXPECT_FALSE(entries[3].table_data);
  EXPECT_FALSE(entries[4].table_data);  // materialized view data is refreshed, not copied
  EXPECT_TRUE(entries[4].reads_other_tables);
  EXPECT_FALSE(entries[0].reads_other_tables);
}

TEST(DumpToc, ForeignKeysAndViewDataReadOtherTables) {
  const std::vector<TocEntry> entries = ParseToc(
      "3228; 2606 17942 FK CONSTRAINT public child child_parent_id_fkey postgres\n"
      "3227; 2606 17941 CONSTRAINT public child child_pkey postgres\n"
      "3225; 1259 17947 INDEX public child_note postgres\n"
      "3229; 2620 17949 TRIGGER public child t postgres\n");
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_TRUE(entries[0].reads_other_tables);
  EXPECT_FALSE(entries[1].reads_other_tables);
  EXPECT_FALSE(entries[2].reads_other_tables);
  EXPECT_FALSE(entries[3].reads_other_tables);
}

TEST(DumpToc, AListNamesExactlyTheEntriesGiven) {
  std::vector<TocEntry> entries = ParseToc(kListing);
  entries.erase(entries.begin());
  EXPECT_EQ(TocList({entries[0], entries[1]}),
            "3376; 0 17923 TABLE DATA public my table postgres\n3395; 0 0 SEQUENCE SET public child_id_seq postgres\n");
  EXPECT_EQ(TocList({}), "");
}

// pgpitr's own event triggers on the source (wal/event_triggers.h) are not restored; a user's
// event trigger is, whatever its name.
TEST(DumpToc, PgpitrsEventTriggersAreLeftOut) {
  const std::vector<TocEntry> entries = ParseToc(
      "3501; 3466 17990 EVENT TRIGGER - _pgpitr_ddl_end postgres\n"
      "3502; 3466 17991 EVENT TRIGGER - _pgpitr_sql_drop postgres\n"
      "3503; 3466 17992 EVENT TRIGGER - audit_ddl postgres\n"
      "3504; 3466 17993 EVENT TRIGGER - _pgpitr_ddl_end_of_mine postgres\n");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].dump_id, 3503);
  EXPECT_EQ(entries[1].dump_id, 3504);
}

}  // namespace
}  // namespace pgpitr::restore
