// The change log's key grammar (wal/change_log_keys.h), as a specification: every key decodes to
// what encoded it, byte order is numeric order (RocksDB's iteration is the log's order), each tag's
// keys lie between Start and End, and a key of another kind, or cut short, decodes to nothing.
#include "wal/change_log_keys.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "base/error.h"
#include "proto/pgpitr.pb.h"

namespace pgpitr::wal {
namespace {

using pg::Lsn;

TEST(ChangeLogKeys, EveryNumberedKeyDecodesToWhatEncodedIt) {
  for (uint64_t n :
       {uint64_t{0}, uint64_t{1}, uint64_t{0x16B3748}, uint64_t{0xFFFFFFFF}, std::numeric_limits<uint64_t>::max()}) {
    EXPECT_EQ(keys::DecodeTransaction(keys::Transaction(Lsn(n))), Lsn(n)) << n;
    EXPECT_EQ(keys::DecodeSequenceSample(keys::SequenceSample(Lsn(n))), Lsn(n)) << n;
    EXPECT_EQ(keys::DecodePending(keys::Pending(n)), n) << n;
    const std::optional<keys::ChunkKey> chunk = keys::DecodeChunk(keys::Chunk(n, n / 3));
    ASSERT_TRUE(chunk.has_value());
    EXPECT_EQ(chunk->storage_id, n);
    EXPECT_EQ(chunk->chunk_seq, n / 3);
    EXPECT_EQ(keys::NumberOf(keys::Transaction(Lsn(n))), n);
    EXPECT_EQ(keys::Numbered(keys::Tag::kTransaction, n), keys::Transaction(Lsn(n)));
    EXPECT_EQ(keys::Numbered(keys::Tag::kSequenceSample, n), keys::SequenceSample(Lsn(n)));
  }
  for (pg::PgTime t : {pg::PgTime{0}, pg::PgTime{-1}, pg::PgTime{851'000'000'000'000},
                       std::numeric_limits<pg::PgTime>::min(), std::numeric_limits<pg::PgTime>::max()}) {
    const std::optional<keys::TimeIndexEntry> entry = keys::DecodeTimeIndex(keys::TimeIndex(t, Lsn(42)));
    ASSERT_TRUE(entry.has_value()) << t;
    EXPECT_EQ(entry->running_max_commit_time, t);
    EXPECT_EQ(entry->commit_lsn, Lsn(42));
  }
}

TEST(ChangeLogKeys, ByteOrderIsCommitOrderAndTimeOrder) {
  EXPECT_LT(keys::Transaction(Lsn(0xFF)), keys::Transaction(Lsn(0x100)));
  EXPECT_LT(keys::Transaction(Lsn(0xFFFFFFFF)), keys::Transaction(Lsn(0x100000000)));
  EXPECT_LT(keys::SequenceSample(Lsn(1)), keys::SequenceSample(Lsn(256)));
  EXPECT_LT(keys::Chunk(1, 0xFF), keys::Chunk(1, 0x100));
  EXPECT_LT(keys::Chunk(1, std::numeric_limits<uint64_t>::max()), keys::Chunk(2, 0));
  // A time before 2000 (negative) sorts before every later one; within one time, by commit LSN.
  EXPECT_LT(keys::TimeIndex(-1, Lsn(9)), keys::TimeIndex(0, Lsn(1)));
  EXPECT_LT(keys::TimeIndex(std::numeric_limits<pg::PgTime>::min(), Lsn(9)), keys::TimeIndex(-1, Lsn(1)));
  EXPECT_LT(keys::TimeIndex(5, Lsn(1)), keys::TimeIndex(5, Lsn(2)));
  EXPECT_LT(keys::TimeIndex(5, Lsn(0xFFFFFFFF)), keys::TimeIndex(6, Lsn(0)));
}

TEST(ChangeLogKeys, EachTagsKeysLieBetweenItsStartAndEnd) {
  const std::vector<std::pair<keys::Tag, std::string>> samples = {
      {keys::Tag::kChunk, keys::Chunk(7, 3)},
      {keys::Tag::kChunk, keys::ChunksOf(7)},
      {keys::Tag::kGap, keys::Gap(Lsn(7))},
      {keys::Tag::kMark, keys::Mark("before-migration")},
      {keys::Tag::kMark, keys::Mark("")},
      {keys::Tag::kMeta, keys::State()},
      {keys::Tag::kMeta, keys::Retention()},
      {keys::Tag::kPending, keys::Pending(7)},
      {keys::Tag::kSequenceSample, keys::SequenceSample(Lsn(7))},
      {keys::Tag::kSchema, keys::Schema(7)},
      {keys::Tag::kTransaction, keys::Transaction(Lsn(std::numeric_limits<uint64_t>::max()))},
      {keys::Tag::kTimeIndex, keys::TimeIndex(std::numeric_limits<pg::PgTime>::max(), Lsn(7))},
      {keys::Tag::kType, keys::Type(std::numeric_limits<uint32_t>::max())},
  };
  for (const auto& [tag, key] : samples) {
    EXPECT_EQ(keys::TagOf(key), tag) << key;
    EXPECT_TRUE(keys::HasTag(key, tag)) << key;
    EXPECT_LE(keys::Start(tag), key) << key;
    EXPECT_LT(key, keys::End(tag)) << key;
    for (keys::Tag other : keys::kAllTags) {
      if (other != tag) {
        EXPECT_FALSE(keys::HasTag(key, other)) << key;
      }
    }
  }
  // The tags' ranges follow one another in byte order, without overlap.
  for (size_t i = 1; i < std::size(keys::kAllTags); ++i) {
    EXPECT_LE(keys::End(keys::kAllTags[i - 1]), keys::Start(keys::kAllTags[i]));
  }
  EXPECT_EQ(keys::TagOf(""), std::nullopt);
  EXPECT_EQ(keys::TagOf("Z"), std::nullopt);
}

TEST(ChangeLogKeys, AKeyOfAnotherKindOrCutShortDecodesToNothing) {
  EXPECT_EQ(keys::DecodeTransaction(keys::SequenceSample(Lsn(7))), std::nullopt);
  EXPECT_EQ(keys::DecodeSequenceSample(keys::Transaction(Lsn(7))), std::nullopt);
  EXPECT_EQ(keys::DecodeChunk(keys::Pending(7)), std::nullopt);
  EXPECT_EQ(keys::DecodePending(keys::Chunk(7, 0)), std::nullopt);
  EXPECT_EQ(keys::DecodeTimeIndex(keys::Transaction(Lsn(7))), std::nullopt);
  const std::string transaction = keys::Transaction(Lsn(7));
  EXPECT_EQ(keys::DecodeTransaction(transaction.substr(0, transaction.size() - 1)), std::nullopt);
  EXPECT_EQ(keys::DecodeTransaction(transaction + "x"), std::nullopt);
  const std::string chunk = keys::Chunk(7, 1);
  EXPECT_EQ(keys::DecodeChunk(chunk.substr(0, chunk.size() - 1)), std::nullopt);
  EXPECT_EQ(keys::DecodeTimeIndex(keys::TimeIndex(5, Lsn(7)).substr(0, 9)), std::nullopt);
  EXPECT_EQ(keys::DecodeTransaction(""), std::nullopt);
  // A key cut short reads, for verify's probing, as if zero-padded.
  EXPECT_EQ(keys::NumberOf(transaction.substr(0, 5)), 0u);
  EXPECT_EQ(keys::NumberOf(keys::Transaction(Lsn(0x0102030405060708)).substr(0, 5)), 0x0102030400000000u);
}

TEST(ChangeLogKeys, AStoredValueThatDoesNotParseIsADamagedLog) {
  proto::Transaction txn;
  txn.set_commit_lsn(0x16B3748);
  txn.set_xid(731);
  proto::Transaction back;
  ASSERT_TRUE(keys::ParseStored(keys::Serialize(txn), &back, "transaction").ok());
  EXPECT_EQ(back.commit_lsn(), 0x16B3748u);
  EXPECT_EQ(back.xid(), 731u);
  const absl::Status damaged = keys::ParseStored("\xff\xff\xff", &back, "transaction at 0/16B3748");
  EXPECT_EQ(damaged.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(damaged.message().find("transaction at 0/16B3748"), std::string_view::npos) << damaged.message();
  EXPECT_EQ(base::KindOf(damaged), base::ErrorKind::kChangeLogDamaged);
  EXPECT_EQ(keys::FromRocks(rocksdb::Status::Corruption("bad block"), "reading").code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(keys::FromRocks(rocksdb::Status::OK(), "reading").ok());
}

}  // namespace
}  // namespace pgpitr::wal
