// COPY's text format: what replay writes reads back as the same values, and what pg_restore prints
// of a base splits into the fields and column names it names.
#include "restore/copy_text.h"

#include <gtest/gtest.h>

namespace pgpitr::restore {
namespace {

TEST(CopyText, EscapedFieldsReadBackAsTheirValues) {
  for (std::string value :
       {std::string(""), std::string("plain"), std::string("tab\there"), std::string("a\nb\r\nc"),
        std::string("back\\slash"), std::string("\\N"), std::string("\\."), std::string("caf\xc3\xa9 \x01\x7f")}) {
    std::string escaped;
    AppendCopyField(&escaped, value);
    EXPECT_EQ(escaped.find_first_of("\t\n\r"), std::string::npos) << value;
    EXPECT_EQ(UnescapeCopyField(escaped), value) << escaped;
  }
}

TEST(CopyText, NullIsBackslashN) {
  EXPECT_EQ(UnescapeCopyField(kCopyNull), std::nullopt);
  EXPECT_EQ(UnescapeCopyField("\\\\N"), "\\N");
}

TEST(CopyText, EveryEscapeCopyFromTakesIsRead) {
  EXPECT_EQ(UnescapeCopyField("\\b\\f\\n\\r\\t\\v"), "\b\f\n\r\t\v");
  EXPECT_EQ(UnescapeCopyField("\\101\\x42\\x4a\\7"), "ABJ\a");
  EXPECT_EQ(UnescapeCopyField("\\q\\xz"), "qxz");  // any other escaped byte is itself
  EXPECT_EQ(UnescapeCopyField("end\\"), "end\\");
}

TEST(CopyText, LinesSplitAtTabsKeepingEscapes) {
  CopyFields f;
  SplitCopyLine("1\tx\\ty\t\\N\t", &f);
  ASSERT_EQ(f.raw.size(), 4u);
  EXPECT_EQ(f.raw[0], "1");
  EXPECT_EQ(f.raw[1], "x\\ty");
  EXPECT_EQ(f.raw[2], "\\N");
  EXPECT_EQ(f.raw[3], "");
  SplitCopyLine("", &f);
  EXPECT_EQ(f.raw.size(), 1u);
}

TEST(CopyText, ColumnNamesOfACopyStatementAreUnquoted) {
  EXPECT_EQ(CopyStatementColumns("COPY public.t (id, name) FROM stdin;"), (std::vector<std::string>{"id", "name"}));
  EXPECT_EQ(CopyStatementColumns("COPY \"Odd (schema)\".\"t,1\" (\"Id\", \"a \"\"b\"\"\", c) FROM stdin;"),
            (std::vector<std::string>{"Id", "a \"b\"", "c"}));
  EXPECT_EQ(CopyStatementColumns("COPY public.empty  FROM stdin;"), std::vector<std::string>{});
  EXPECT_EQ(CopyStatementColumns("SET search_path = '';"), std::nullopt);
  EXPECT_EQ(CopyStatementColumns("COPY public.t (id, name FROM stdin;"), std::nullopt);
}

}  // namespace
}  // namespace pgpitr::restore
