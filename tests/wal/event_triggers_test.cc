// What the source's event trigger records, read back: the relations a schema change dropped, and
// which dump entries are pgpitr's own.
#include "wal/event_triggers.h"

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "pg/stream_messages.h"

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

TEST(EventTriggers, ASchemaChangeOnLargeObjectsOnlyIsToldByWhatTheTriggerReported) {
  EXPECT_TRUE(OnlyLargeObjects(pg::kDdlEventMessagePrefix,
                               R"({"tag": "GRANT", "commands": [{"type": "LARGE OBJECT", "identity": null}],
                                   "dropped": []})"));
  EXPECT_TRUE(OnlyLargeObjects(pg::kDdlEventMessagePrefix,
                               R"({"tag": "COMMENT", "commands": [{"type": "large object", "identity": "1001"}],
                                   "dropped": []})"));
  EXPECT_FALSE(
      OnlyLargeObjects(pg::kDdlEventMessagePrefix,
                       R"({"tag": "GRANT", "commands": [{"type": "TABLE", "identity": null}], "dropped": []})"));
  // REASSIGN OWNED, DROP OWNED report other objects, or none.
  EXPECT_FALSE(OnlyLargeObjects(pg::kDdlEventMessagePrefix, R"({"tag": "DROP OWNED", "commands": [], "dropped": []})"));
  EXPECT_FALSE(OnlyLargeObjects(pg::kDdlEventMessagePrefix,
                                R"({"tag": "GRANT", "commands": [{"type": "LARGE OBJECT"}, {"type": "table"}],
                                    "dropped": []})"));
  EXPECT_FALSE(OnlyLargeObjects(pg::kDdlEventMessagePrefix, "{not json"));
  EXPECT_FALSE(OnlyLargeObjects("pgpitr.mark", R"({"commands": [{"type": "LARGE OBJECT"}], "dropped": []})"));
}

TEST(EventTriggers, ASchemaChangeOnLargeObjectsOnlyIsToldByTheProxysStatement) {
  auto proxy = [](std::string_view sql) {
    return OnlyLargeObjects(pg::kDdlMessagePrefix,
                            nlohmann::json{{"search_path", "public"}, {"sql", std::string(sql)}}.dump());
  };
  EXPECT_TRUE(proxy("GRANT ALL ON LARGE OBJECT 1001 TO PUBLIC"));
  EXPECT_TRUE(proxy("grant select,update on  large\tobject 1004 to regress_priv_user2;"));
  EXPECT_TRUE(proxy("REVOKE ALL ON LARGE OBJECT 2001, 2002 FROM PUBLIC"));
  EXPECT_TRUE(proxy("-- why\nALTER LARGE OBJECT 5 OWNER TO app"));
  EXPECT_TRUE(proxy("COMMENT /* c */ ON LARGE OBJECT 5 IS 'x'"));
  EXPECT_TRUE(proxy("SECURITY LABEL FOR selinux ON LARGE OBJECT 5 IS 'x'"));
  EXPECT_FALSE(proxy("GRANT SELECT ON large_object_index TO app"));
  EXPECT_FALSE(proxy("GRANT SELECT (\"on large object \") ON t TO app"));
  EXPECT_FALSE(proxy("COMMENT ON TABLE t IS 'on large object 5'"));
  EXPECT_FALSE(proxy("ALTER TABLE large_objects ADD COLUMN a int"));
  EXPECT_FALSE(proxy("DROP OWNED BY app"));
  EXPECT_FALSE(OnlyLargeObjects(pg::kDdlMessagePrefix, R"({"sql": 5})"));
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
