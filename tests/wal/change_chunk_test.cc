// ChangeChunkDecoder reads what protobuf would read of the same bytes, reusing its messages from
// chunk to chunk without carrying anything over, and refuses what is not a chunk.
#include "wal/change_chunk.h"

#include <gtest/gtest.h>

#include <random>

#include "google/protobuf/util/message_differencer.h"

namespace pgpitr::wal {
namespace {

proto::Tuple MakeTuple(std::initializer_list<const char*> values) {
  proto::Tuple t;
  for (const char* v : values) {
    proto::Value* value = t.add_values();
    if (v == nullptr) {
      value->set_kind(proto::Value::NULL_);
    } else if (std::string_view(v) == "<u>") {
      value->set_kind(proto::Value::UNCHANGED_TOAST);
    } else {
      value->set_data(v);
    }
  }
  return t;
}

// Every kind of change, every field set somewhere.
proto::ChangeChunk EveryKind() {
  proto::ChangeChunk chunk;
  chunk.set_first_seq(300);
  proto::Change* insert = chunk.add_changes();
  insert->set_schema_id(7);
  *insert->mutable_new_tuple() = MakeTuple({"1", nullptr, std::string(2000, 'x').c_str()});
  proto::Change* update = chunk.add_changes();
  update->set_kind(proto::Change::UPDATE);
  update->set_schema_id(7);
  update->set_old_kind(proto::Change::KEY);
  *update->mutable_old_tuple() = MakeTuple({"1", nullptr, nullptr});
  *update->mutable_new_tuple() = MakeTuple({"2", "<u>", "tab\there"});
  proto::Change* del = chunk.add_changes();
  del->set_kind(proto::Change::DELETE);
  del->set_schema_id(8);
  del->set_old_kind(proto::Change::FULL_ROW);
  *del->mutable_old_tuple() = MakeTuple({"a", "b"});
  proto::Change* truncate = chunk.add_changes();
  truncate->set_kind(proto::Change::TRUNCATE);
  truncate->add_truncated_schema_ids(7);
  truncate->add_truncated_schema_ids(300000);
  truncate->set_truncate_options(3);
  proto::Change* message = chunk.add_changes();
  message->set_kind(proto::Change::MESSAGE);
  message->set_message_prefix("pgpitr.ddl");
  message->set_message_content(std::string("ALTER TABLE t ADD c int\0", 24));
  message->set_message_lsn(0x1234567890ull);
  chunk.add_changes();  // all defaults: an INSERT with nothing
  return chunk;
}

::testing::AssertionResult SameAs(const ChangeChunkDecoder& decoder, const proto::ChangeChunk& expected) {
  if (decoder.first_seq() != expected.first_seq()) return ::testing::AssertionFailure() << "first_seq differs";
  if (decoder.size() != static_cast<size_t>(expected.changes_size())) {
    return ::testing::AssertionFailure() << decoder.size() << " changes, expected " << expected.changes_size();
  }
  for (size_t i = 0; i < decoder.size(); ++i) {
    std::string diff;
    google::protobuf::util::MessageDifferencer d;
    d.ReportDifferencesToString(&diff);
    if (!d.Compare(expected.changes(static_cast<int>(i)), decoder.change(i))) {
      return ::testing::AssertionFailure() << "change " << i << ": " << diff;
    }
  }
  return ::testing::AssertionSuccess();
}

TEST(ChangeChunkDecoder, ReadsEveryKindOfChangeAsProtobufDoes) {
  const proto::ChangeChunk chunk = EveryKind();
  ChangeChunkDecoder decoder;
  ASSERT_TRUE(decoder.Decode(chunk.SerializeAsString()));
  EXPECT_TRUE(SameAs(decoder, chunk));
}

TEST(ChangeChunkDecoder, ReusedMessagesCarryNothingOverToTheNextChunk) {
  ChangeChunkDecoder decoder;
  ASSERT_TRUE(decoder.Decode(EveryKind().SerializeAsString()));
  // Fewer changes, fewer values, no old tuples: nothing of the first chunk shows through.
  proto::ChangeChunk small;
  proto::Change* c = small.add_changes();
  c->set_kind(proto::Change::DELETE);
  c->set_old_kind(proto::Change::KEY);
  *c->mutable_old_tuple() = MakeTuple({"9"});
  proto::Change* d = small.add_changes();
  *d->mutable_new_tuple() = MakeTuple({"y"});
  ASSERT_TRUE(decoder.Decode(small.SerializeAsString()));
  EXPECT_TRUE(SameAs(decoder, small));
  EXPECT_FALSE(decoder.change(0).has_new_tuple());
  EXPECT_FALSE(decoder.change(1).has_old_tuple());
  ASSERT_TRUE(decoder.Decode(""));
  EXPECT_EQ(decoder.size(), 0u);
}

TEST(ChangeChunkDecoder, UnknownFieldsAreSkippedAndUnpackedRepeatedScalarsRead) {
  proto::ChangeChunk chunk = EveryKind();
  std::string bytes = chunk.SerializeAsString();
  // Field 15 as a varint, fixed64, length-delimited and fixed32 value, at the top level.
  bytes += std::string("\x78\x01", 2) + std::string("\x79", 1) + std::string(8, '\x02') + std::string("\x7a\x02zz", 4) +
           std::string("\x7d", 1) + std::string(4, '\x03');
  // A change whose truncated ids are written one by one (unpacked), as older writers may.
  bytes += std::string("\x12\x04\x30\x05\x30\x06", 6);
  proto::ChangeChunk expected;
  ASSERT_TRUE(expected.ParseFromString(bytes));
  expected.DiscardUnknownFields();
  ChangeChunkDecoder decoder;
  ASSERT_TRUE(decoder.Decode(bytes));
  EXPECT_TRUE(SameAs(decoder, expected));
  EXPECT_EQ(decoder.change(decoder.size() - 1).truncated_schema_ids_size(), 2);
}

TEST(ChangeChunkDecoder, DamagedBytesAreRefusedOrReadAsProtobufReadsThem) {
  const std::string good = EveryKind().SerializeAsString();
  std::mt19937 random(20261201);
  ChangeChunkDecoder decoder;
  int refused = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string bytes = good;
    if (round % 3 == 0) {
      bytes.resize(random() % bytes.size());  // torn
    } else {
      for (int flips = 1 + static_cast<int>(random() % 4); flips > 0; --flips) {
        bytes[random() % bytes.size()] = static_cast<char>(random());
      }
    }
    proto::ChangeChunk expected;
    const bool protobuf_reads = expected.ParseFromString(bytes);
    expected.DiscardUnknownFields();  // protobuf keeps them, the decoder skips them: neither uses them
    if (!decoder.Decode(bytes)) {
      ++refused;  // the reader then asks protobuf, which decides
      continue;
    }
    ASSERT_TRUE(protobuf_reads) << "round " << round << ": decoded what protobuf refuses";
    ASSERT_TRUE(SameAs(decoder, expected)) << "round " << round;
  }
  EXPECT_GT(refused, 100);
}

}  // namespace
}  // namespace pgpitr::wal
