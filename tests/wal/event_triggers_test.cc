// What the source's event trigger records, read back: the relations a schema change dropped, and
// which dump entries are pgpitr's own.
#include "wal/event_triggers.h"

#include <gtest/gtest.h>

namespace pgpitr::wal {
namespace {

TEST(EventTriggers, TheRelationsAMessageDroppedAreItsRelids) {
  EXPECT_EQ(DroppedRelations(R"({"tag": "DROP TABLE", "dropped": [
                {"type": "table", "identity": "public.t", "relid": 16400, "original": true},
                {"type": "type", "identity": "public.t", "relid": null},
                {"type": "table column", "identity": "public.u.a", "relid": null},
                {"type": "table", "identity": "public.t_part", "relid": 16405}]})"),
            (std::vector<uint32_t>{16400, 16405}));
  EXPECT_TRUE(DroppedRelations(R"({"tag": "CREATE TABLE", "dropped": []})").empty());
}

TEST(EventTriggers, AMessageThatDoesNotParseDropsNothing) {
  EXPECT_TRUE(DroppedRelations("").empty());
  EXPECT_TRUE(DroppedRelations("{\"dropped\": [").empty());
  EXPECT_TRUE(DroppedRelations(R"({"dropped": {"relid": 1}})").empty());
  EXPECT_TRUE(DroppedRelations(R"({"dropped": [{"relid": -4}, {"relid": "16400"}]})").empty());
}

TEST(EventTriggers, OnlyPgpitrsOwnTriggersAndSchemaAreItsObjects) {
  EXPECT_TRUE(IsEventTriggerObject("EVENT TRIGGER", pg::kDdlEndTrigger));
  EXPECT_TRUE(IsEventTriggerObject("EVENT TRIGGER", pg::kSqlDropTrigger));
  EXPECT_TRUE(IsEventTriggerObject("EVENT TRIGGER", pg::kTableRewriteTrigger));
  EXPECT_TRUE(IsEventTriggerObject("EVENT TRIGGER", pg::kDdlStartTrigger));
  EXPECT_TRUE(IsEventTriggerObject("SCHEMA", pg::kEventTriggerSchema));
  EXPECT_FALSE(IsEventTriggerObject("EVENT TRIGGER", "audit"));
  EXPECT_FALSE(IsEventTriggerObject("TABLE", pg::kEventTriggerSchema));
}

}  // namespace
}  // namespace pgpitr::wal
