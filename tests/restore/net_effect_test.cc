// NetEffect collapses a run of row changes to the rows to delete and the rows to insert; RouteOf
// says where a run is cut. Replaying the result (delete, then insert) must leave what replaying
// every change in order would.
#include "restore/net_effect.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>

#include "pg/stream_messages.h"
#include "restore/bulk_replayer.h"
#include "restore/copy_text.h"

namespace pgpitr::restore {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr const char* kU = "\x01unchanged";  // a TOASTed value sent as unchanged
constexpr const char* kNull = "\x01null";

// docs (id int PRIMARY KEY, version int, body text)
proto::RelationSchema Docs(uint32_t schema_id = 1, char identity = 'd') {
  proto::RelationSchema s;
  s.set_schema_id(schema_id);
  s.set_relid(16400);
  s.set_namespace_("public");
  s.set_name("docs");
  s.set_replica_identity(identity);
  for (const char* name : {"id", "version", "body"}) {
    auto* c = s.add_columns();
    c->set_name(name);
    c->set_type_oid(std::string(name) == "body" ? 25 : 23);
    c->set_is_key(identity == 'f' || std::string(name) == "id");
  }
  return s;
}

proto::Tuple MakeTuple(const std::vector<std::string>& values) {
  proto::Tuple t;
  for (const std::string& v : values) {
    proto::Value* value = t.add_values();
    if (v == kU) {
      value->set_kind(proto::Value::UNCHANGED_TOAST);
    } else if (v == kNull) {
      value->set_kind(proto::Value::NULL_);
    } else {
      value->set_data(v);
    }
  }
  return t;
}

proto::Change Insert(const std::vector<std::string>& row) {
  proto::Change c;
  c.set_kind(proto::Change::INSERT);
  c.set_schema_id(1);
  *c.mutable_new_tuple() = MakeTuple(row);
  return c;
}

// An UPDATE that keeps its key (pgoutput sends no old tuple).
proto::Change Update(const std::vector<std::string>& row) {
  proto::Change c;
  c.set_kind(proto::Change::UPDATE);
  c.set_schema_id(1);
  *c.mutable_new_tuple() = MakeTuple(row);
  return c;
}

// An UPDATE of the key: the old key comes along.
proto::Change UpdateKey(const std::string& old_id, const std::vector<std::string>& row) {
  proto::Change c = Update(row);
  c.set_old_kind(proto::Change::KEY);
  *c.mutable_old_tuple() = MakeTuple({old_id, kNull, kNull});
  return c;
}

proto::Change Delete(const std::string& id) {
  proto::Change c;
  c.set_kind(proto::Change::DELETE);
  c.set_schema_id(1);
  c.set_old_kind(proto::Change::KEY);
  *c.mutable_old_tuple() = MakeTuple({id, kNull, kNull});
  return c;
}

// A row as strings, for comparing: "?" is an unknown value, "NULL" a NULL.
std::vector<std::string> Show(const NetEffect::Row& row) {
  std::vector<std::string> out;
  for (const Cell& c : row.cells) {
    out.push_back(c.kind == Cell::Kind::kUnknown ? "?" : c.kind == Cell::Kind::kNull ? "NULL" : c.text);
  }
  if (!row.origin_key.empty()) out.push_back("from " + row.origin_key[0]);
  return out;
}

struct Shown {
  std::vector<std::string> deleted;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::vector<std::string>> updated;  // in place
};

Shown Collapse(const std::vector<proto::Change>& changes) {
  NetEffect net(Docs());
  for (const proto::Change& c : changes) {
    absl::Status s = net.Add(c);
    EXPECT_TRUE(s.ok()) << s;
  }
  NetEffect::Result r = net.Take();
  Shown shown;
  for (const auto& key : r.deleted_keys) shown.deleted.push_back(key.at(0));
  for (const auto& row : r.rows) shown.rows.push_back(Show(row));
  for (const auto& row : r.updated) shown.updated.push_back(Show(row));
  std::sort(shown.deleted.begin(), shown.deleted.end());
  std::sort(shown.rows.begin(), shown.rows.end());
  std::sort(shown.updated.begin(), shown.updated.end());
  return shown;
}

using Row = std::vector<std::string>;

TEST(NetEffect, InsertUpdateDeleteOfANewRowLeavesNothingToDo) {
  Shown s = Collapse({Insert({"1", "0", "a"}), Update({"1", "1", "b"}), Delete("1")});
  EXPECT_THAT(s.deleted, IsEmpty());
  EXPECT_THAT(s.rows, IsEmpty());
}

TEST(NetEffect, InsertThenUpdatesInsertsOnlyTheFinalRow) {
  Shown s = Collapse({Insert({"1", "0", "a"}), Update({"1", "1", "b"}), Update({"1", "2", kNull})});
  EXPECT_THAT(s.deleted, IsEmpty());
  EXPECT_THAT(s.rows, ElementsAre(Row{"1", "2", "NULL"}));
}

TEST(NetEffect, UpdatesOfAnExistingRowUpdateItInPlaceToTheFinalImage) {
  Shown s = Collapse({Update({"7", "1", "b"}), Update({"7", "2", "c"})});
  EXPECT_THAT(s.deleted, IsEmpty());
  EXPECT_THAT(s.rows, IsEmpty());
  EXPECT_THAT(s.updated, ElementsAre(Row{"7", "2", "c"}));
}

TEST(NetEffect, DeleteOfAnExistingRowOnlyDeletes) {
  Shown s = Collapse({Update({"7", "1", "b"}), Delete("7")});
  EXPECT_THAT(s.deleted, ElementsAre("7"));
  EXPECT_THAT(s.rows, IsEmpty());
}

TEST(NetEffect, DeleteThenInsertOfTheSameKeyReplacesTheRow) {
  Shown s = Collapse({Delete("7"), Insert({"7", "9", "new"})});
  EXPECT_THAT(s.updated, ElementsAre(Row{"7", "9", "new"}));
}

TEST(NetEffect, PrimaryKeyUpdateDeletesTheOldKeyAndInsertsTheNew) {
  Shown s = Collapse({UpdateKey("1", {"2", "5", "x"})});
  EXPECT_THAT(s.deleted, ElementsAre("1"));
  EXPECT_THAT(s.rows, ElementsAre(Row{"2", "5", "x"}));
}

TEST(NetEffect, PrimaryKeyChainEndsAtTheLastKey) {
  Shown s = Collapse({UpdateKey("1", {"2", "5", "x"}), UpdateKey("2", {"3", "6", "x"}), Update({"3", "7", "y"})});
  EXPECT_THAT(s.deleted, ElementsAre("1"));
  EXPECT_THAT(s.rows, ElementsAre(Row{"3", "7", "y"}));
}

TEST(NetEffect, PrimaryKeySwapThroughATemporaryKeyExchangesTheRows) {
  // UPDATE SET id = 0 WHERE id = 1; UPDATE SET id = 1 WHERE id = 2; UPDATE SET id = 2 WHERE id = 0
  Shown s = Collapse(
      {UpdateKey("1", {"0", "10", "one"}), UpdateKey("2", {"1", "20", "two"}), UpdateKey("0", {"2", "10", "one"})});
  EXPECT_THAT(s.deleted, IsEmpty());
  EXPECT_THAT(s.rows, IsEmpty());
  EXPECT_THAT(s.updated, ElementsAre(Row{"1", "20", "two"}, Row{"2", "10", "one"}));
}

TEST(NetEffect, SwapBackRestoresBothRowsAsTheyWere) {
  // a -> b is impossible while b exists; a swap and a swap back through a temporary key.
  Shown s =
      Collapse({UpdateKey("1", {"9", "1", "a"}), UpdateKey("2", {"1", "2", "b"}), UpdateKey("9", {"2", "1", "a"}),
                UpdateKey("2", {"9", "1", "a"}), UpdateKey("1", {"2", "2", "b"}), UpdateKey("9", {"1", "1", "a"})});
  EXPECT_THAT(s.updated, ElementsAre(Row{"1", "1", "a"}, Row{"2", "2", "b"}));
}

TEST(NetEffect, UnchangedToastIsTakenFromTheLastImageInTheRun) {
  Shown s = Collapse({Insert({"1", "0", "big body"}), Update({"1", "1", kU}), Update({"1", "2", kU})});
  EXPECT_THAT(s.rows, ElementsAre(Row{"1", "2", "big body"}));

  s = Collapse({Update({"4", "1", "rewritten"}), Update({"4", "2", kU})});
  EXPECT_THAT(s.updated, ElementsAre(Row{"4", "2", "rewritten"}));
}

TEST(NetEffect, UnchangedToastNeverSeenInTheRunKeepsTheTargetsValue) {
  Shown s = Collapse({Update({"4", "1", kU}), Update({"4", "2", kU})});
  EXPECT_THAT(s.deleted, ElementsAre("4"));
  EXPECT_THAT(s.rows, ElementsAre(Row{"4", "2", "?", "from 4"}));
}

TEST(NetEffect, UnchangedToastFollowsItsRowThroughAKeyChange) {
  // The row moves 4 -> 5 -> 6 keeping a body the run never saw: it is read from the target's row 4.
  Shown s = Collapse({UpdateKey("4", {"5", "1", kU}), UpdateKey("5", {"6", "2", kU})});
  EXPECT_THAT(s.deleted, ElementsAre("4"));
  EXPECT_THAT(s.rows, ElementsAre(Row{"6", "2", "?", "from 4"}));
}

TEST(NetEffect, ContradictionsAreErrors) {
  {
    NetEffect net(Docs());
    ASSERT_TRUE(net.Add(Delete("1")).ok());
    EXPECT_EQ(net.Add(Update({"1", "2", "x"})).code(), absl::StatusCode::kDataLoss);
  }
  {
    NetEffect net(Docs());
    ASSERT_TRUE(net.Add(Update({"1", "2", "x"})).ok());
    EXPECT_EQ(net.Add(Insert({"1", "2", "x"})).code(), absl::StatusCode::kDataLoss);
  }
  {
    NetEffect net(Docs());
    ASSERT_TRUE(net.Add(Insert({"2", "2", "x"})).ok());
    EXPECT_EQ(net.Add(UpdateKey("1", {"2", "2", "x"})).code(), absl::StatusCode::kDataLoss);
  }
  {
    NetEffect net(Docs());
    ASSERT_TRUE(net.Add(UpdateKey("1", {"2", "2", "x"})).ok());
    EXPECT_EQ(net.Add(Delete("1")).code(), absl::StatusCode::kDataLoss);
  }
}

TEST(NetEffect, CompositeKeysAndEscapableBytesRoundTrip) {
  proto::RelationSchema schema = Docs();
  schema.mutable_columns(1)->set_is_key(true);  // key (id, version)
  NetEffect net(schema);
  // Bodies never seen: each row is read from the target and replaced, so its key is listed.
  ASSERT_TRUE(net.Add(Update({"a\tb", "x\n\\y", kU})).ok());
  // Same id, other version: another row.
  ASSERT_TRUE(net.Add(Update({"a\tb", "x\n\\y2", kU})).ok());
  NetEffect::Result r = net.Take();
  ASSERT_EQ(r.deleted_keys.size(), 2u);
  std::sort(r.deleted_keys.begin(), r.deleted_keys.end());
  EXPECT_EQ(r.deleted_keys[0], (std::vector<std::string>{"a\tb", "x\n\\y"}));
  EXPECT_EQ(r.deleted_keys[1], (std::vector<std::string>{"a\tb", "x\n\\y2"}));
}

TEST(NetEffect, TakeStartsAFreshRunAndBytesTrackWhatIsHeld) {
  NetEffect net(Docs());
  EXPECT_EQ(net.bytes(), 0u);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(net.Add(Insert({std::to_string(i), "0", std::string(1000, 'x')})).ok());
  EXPECT_GE(net.bytes(), 1000u * 1000u);
  const uint64_t held = net.bytes();
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(net.Add(Delete(std::to_string(i))).ok());
  EXPECT_LT(net.bytes(), held / 4);  // deleted rows' images are compacted away
  EXPECT_EQ(net.Take().rows.size(), 0u);
  EXPECT_EQ(net.bytes(), 0u);
  EXPECT_TRUE(net.empty());
  // After Take the run knows nothing: row 1 may be updated as an existing row.
  EXPECT_TRUE(net.Add(Update({"1", "1", "x"})).ok());
}

TEST(NetEffect, TablesWithoutAKeyAreRefused) {
  proto::RelationSchema schema = Docs();
  for (auto& c : *schema.mutable_columns()) c.set_is_key(false);
  NetEffect net(schema);
  EXPECT_EQ(net.Add(Insert({"1", "0", "a"})).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(NetEffect, ALongRandomRunMatchesReplayingEveryChangeInOrder) {
  // A model replays every change on a map of rows; the net effect, taken set-based or merged into
  // the base's rows, must give the same rows. The run is long enough for images to move and the
  // arena to be compacted many times, and memory stays at what the rows need.
  std::mt19937 random(20261201);
  std::map<std::string, std::vector<std::string>> base, model;
  for (int k = 0; k < 300; k += 2) base[std::to_string(k)] = {std::to_string(k), "0", "base " + std::to_string(k)};
  model = base;
  NetEffect net(Docs());
  NetEffect set_based(Docs());  // the same run, applied as FlushKeyed does
  uint64_t peak = 0;
  for (int step = 0; step < 200000; ++step) {
    const std::string key = std::to_string(random() % 300);
    const std::string body(random() % 3 == 0 ? 200 + random() % 400 : random() % 20,
                           static_cast<char>('a' + step % 26));
    proto::Change change;
    if (model.contains(key)) {
      if (random() % 4 == 0) {
        change = Delete(key);
        model.erase(key);
      } else {
        const bool keep_body = random() % 5 == 0;  // sent as unchanged TOAST
        change = Update({key, std::to_string(step), keep_body ? kU : body});
        model[key] = {key, std::to_string(step), keep_body ? model[key][2] : body};
      }
    } else {
      change = Insert({key, std::to_string(step), body});
      model[key] = {key, std::to_string(step), body};
    }
    ASSERT_TRUE(net.Add(change).ok()) << "step " << step;
    ASSERT_TRUE(set_based.Add(change).ok()) << "step " << step;
    peak = std::max(peak, net.bytes());
  }
  EXPECT_LT(peak, 2u << 20) << "300 keys of at most 600 bytes: garbage is compacted away";

  // Merged into the base's rows: exactly the model's rows.
  ASSERT_TRUE(net.BeginMerge({"id", "version", "body"}).ok());
  std::string out;
  for (const auto& [k, row] : base) ASSERT_TRUE(net.MergeBaseRow(k + "\t" + row[1] + "\t" + row[2], &out).ok());
  ASSERT_TRUE(net.EndMerge(&out).ok());
  std::map<std::string, std::vector<std::string>> merged;
  for (size_t at = 0; at < out.size();) {
    const size_t nl = out.find('\n', at);
    CopyFields f;
    SplitCopyLine(std::string_view(out).substr(at, nl - at), &f);
    std::vector<std::string> row;
    for (std::string_view raw : f.raw) row.push_back(UnescapeCopyField(raw).value_or("NULL"));
    merged[row[0]] = row;
    at = nl + 1;
  }
  EXPECT_EQ(merged, model);
  EXPECT_EQ(net.bytes(), 0u);

  // Applied set-based to the base's rows, as FlushKeyed does: delete the keys the target held that
  // are not updated in place, fill unknown values from their origin rows, then insert.
  auto fields = [](const std::string& text) {
    CopyFields f;
    SplitCopyLine(text, &f);
    std::vector<std::string> row;
    for (std::string_view raw : f.raw) row.push_back(UnescapeCopyField(raw).value_or("NULL"));
    return row;
  };
  std::map<std::string, std::vector<std::string>> applied = base, inserts;
  set_based.ForEachRow([&](const NetEffect::RowView& r) {
    std::string key_text, image_text, mask, origin_text;
    set_based.AppendKeyText(r.key, &key_text);
    const std::string key = fields(key_text)[0];
    const bool updated = r.existed && r.present && !r.unknown;
    if (r.existed && !updated) applied.erase(key);
    if (!r.present) return;
    set_based.AppendImageText(r.image, &image_text, &mask);
    std::vector<std::string> row = fields(image_text);
    if (r.unknown) {
      set_based.AppendKeyText(r.origin, &origin_text);
      const std::vector<std::string>& origin = base.at(fields(origin_text)[0]);
      for (size_t i = 0; i < mask.size(); ++i) {
        if (mask[i] == 'u') row[i] = origin[i];
      }
    }
    (updated ? applied : inserts)[key] = row;
  });
  for (auto& [k, row] : inserts) {
    ASSERT_FALSE(applied.contains(k)) << "an inserted key " << k << " still held a row";
    applied[k] = row;
  }
  EXPECT_EQ(applied, model);
}

// --- merged into the base's rows as they load

// The lines a merge writes for base lines (COPY text, columns as named), sorted; or its error.
absl::StatusOr<std::vector<std::string>> Merge(const std::vector<proto::Change>& changes,
                                               const std::vector<std::string>& base,
                                               const std::vector<std::string>& columns = {"id", "version", "body"},
                                               proto::RelationSchema schema = Docs()) {
  NetEffect net(schema);
  for (const proto::Change& c : changes) {
    if (absl::Status s = net.Add(c); !s.ok()) return s;
  }
  if (absl::Status s = net.BeginMerge(columns); !s.ok()) return s;
  std::string out;
  for (const std::string& line : base) {
    if (absl::Status s = net.MergeBaseRow(line, &out); !s.ok()) return s;
  }
  if (absl::Status s = net.EndMerge(&out); !s.ok()) return s;
  std::vector<std::string> lines;
  for (size_t at = 0; at < out.size();) {
    const size_t nl = out.find('\n', at);
    lines.push_back(out.substr(at, nl - at));
    at = nl + 1;
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

using Lines = std::vector<std::string>;

TEST(NetEffectMerge, RowsTheRunDidNotTouchPassThroughAsTheyAre) {
  auto merged = Merge({Update({"2", "5", "b2"})}, {"1\t0\ta\\tb", "2\t0\tb", "3\t0\t\\N"});
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_THAT(*merged, ElementsAre("1\t0\ta\\tb", "2\t5\tb2", "3\t0\t\\N"));
}

TEST(NetEffectMerge, DeletedRowsGoUpdatedAreReplacedAndNewKeysFollow) {
  auto merged = Merge(
      {Delete("1"), Update({"2", "7", kNull}), Insert({"9", "1", "new\tline"}), UpdateKey("3", {"4", "0", "moved"})},
      {"1\t0\ta", "2\t0\tb", "3\t0\tc"});
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_THAT(*merged, ElementsAre("2\t7\t\\N", "4\t0\tmoved", "9\t1\tnew\\tline"));
}

TEST(NetEffectMerge, LinesFollowTheBasesColumnOrder) {
  auto merged = Merge({Update({"2", "5", "x"}), Insert({"3", "6", "y"})}, {"b\t2\t0"}, {"body", "id", "version"});
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_THAT(*merged, ElementsAre("x\t2\t5", "y\t3\t6"));
}

TEST(NetEffectMerge, UnchangedValuesTheRunNeverSawComeFromTheBaseRow) {
  // Its own row, and through key changes (4 -> 5 -> 6), where the base row 4 itself goes.
  auto merged = Merge({Update({"1", "3", kU}), UpdateKey("4", {"5", "1", kU}), UpdateKey("5", {"6", "2", kU})},
                      {"6x\t0\tunrelated", "1\t0\tbig \\t one", "4\t0\tfour's \\\\ body"});
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_THAT(*merged, ElementsAre("1\t3\tbig \\t one", "6\t2\tfour's \\\\ body", "6x\t0\tunrelated"));
}

TEST(NetEffectMerge, KeysWithEscapedBytesMatchTheirBaseRows) {
  proto::RelationSchema schema = Docs();
  auto merged = Merge({Update({"a\tb", "1", "x"})}, {"a\\tb\t0\told"}, {"id", "version", "body"}, schema);
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_THAT(*merged, ElementsAre("a\\tb\t1\tx"));
}

TEST(NetEffectMerge, ABaseThatDisagreesWithTheRunIsDataLoss) {
  // An update of a row the base does not hold; an insert of a key it holds; a key held twice;
  // unknown values whose row is missing.
  EXPECT_EQ(Merge({Update({"2", "5", "x"})}, {"1\t0\ta"}).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Merge({Insert({"1", "5", "x"})}, {"1\t0\ta"}).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Merge({Update({"1", "5", "x"})}, {"1\t0\ta", "1\t0\ta"}).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Merge({Update({"1", "5", kU})}, {"2\t0\ta"}).status().code(), absl::StatusCode::kDataLoss);
  absl::Status short_line = Merge({Update({"1", "5", "x"})}, {""}, {"body", "version", "id"}).status();
  EXPECT_EQ(short_line.code(), absl::StatusCode::kDataLoss) << short_line;
}

TEST(NetEffectMerge, OtherColumnsThanTheSchemasAreRefusedAndTheRunIsKept) {
  NetEffect net(Docs());
  ASSERT_TRUE(net.Add(Update({"1", "2", "x"})).ok());
  EXPECT_EQ(net.BeginMerge({"id", "version"}).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(net.BeginMerge({"id", "version", "note"}).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(net.Take().updated.size(), 1u);
}

// --- where a run is cut

TEST(RouteOf, TruncateAndCapturedSchemaChangesCutTheRun) {
  proto::Change truncate;
  truncate.set_kind(proto::Change::TRUNCATE);
  EXPECT_EQ(RouteOf(truncate, nullptr, std::nullopt), (ChangeRoute{true, ChangeRoute::Way::kRunNow}));
  proto::Change ddl;
  ddl.set_kind(proto::Change::MESSAGE);
  ddl.set_message_prefix(pg::kDdlMessagePrefix);
  EXPECT_EQ(RouteOf(ddl, nullptr, std::nullopt), (ChangeRoute{true, ChangeRoute::Way::kRunNow}));
  proto::Change mark = ddl;
  mark.set_message_prefix(pg::kMarkMessagePrefix);
  EXPECT_EQ(RouteOf(mark, nullptr, std::nullopt).way, ChangeRoute::Way::kIgnore);
  EXPECT_FALSE(RouteOf(mark, nullptr, std::nullopt).cut);
}

TEST(RouteOf, ANewRelationSchemaCutsTheRun) {
  const proto::RelationSchema v1 = Docs(1), v2 = Docs(2);
  EXPECT_EQ(RouteOf(Update({"1", "1", "x"}), &v1, 1u), (ChangeRoute{false, ChangeRoute::Way::kCollapse}));
  EXPECT_EQ(RouteOf(Update({"1", "1", "x"}), &v2, 1u), (ChangeRoute{true, ChangeRoute::Way::kCollapse}));
  EXPECT_EQ(RouteOf(Update({"1", "1", "x"}), &v1, std::nullopt), (ChangeRoute{true, ChangeRoute::Way::kCollapse}));
}

TEST(RouteOf, RowsOfTablesWithoutAKeyKeepTheirOrder) {
  const proto::RelationSchema full = Docs(1, 'f');
  EXPECT_EQ(RouteOf(Insert({"1", "1", "x"}), &full, 1u), (ChangeRoute{false, ChangeRoute::Way::kAppend}));
  EXPECT_EQ(RouteOf(Delete("1"), &full, 1u), (ChangeRoute{false, ChangeRoute::Way::kRowByRow}));
  EXPECT_EQ(RouteOf(Update({"1", "1", "x"}), &full, 1u), (ChangeRoute{false, ChangeRoute::Way::kRowByRow}));
  proto::RelationSchema no_key = Docs(1, 'd');
  for (auto& c : *no_key.mutable_columns()) c.set_is_key(false);
  EXPECT_EQ(RouteOf(Insert({"1", "1", "x"}), &no_key, 1u).way, ChangeRoute::Way::kAppend);
  const proto::RelationSchema index = Docs(1, 'i');
  EXPECT_EQ(RouteOf(Insert({"1", "1", "x"}), &index, 1u).way, ChangeRoute::Way::kCollapse);
}

}  // namespace
}  // namespace pgpitr::restore
