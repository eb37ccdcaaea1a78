// ChangeFeed reads ahead of the replay and gives exactly what reading the change log in order gives:
// every transaction and its changes in commit order, a transaction larger than a batch whole, an
// error in the log at its place, and a replay that stops early stops the reading thread.
#include "restore/change_feed.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pg/stream_messages.h"
#include "tests/change_log_fixture.h"
#include "wal/change_log_keys.h"

namespace pgpitr::restore {
namespace {

using pg::Lsn;

class ChangeFeedTest : public testing::ChangeLogFixture {
 protected:
  void SetUp() override {
    OpenLog();
    wal::RelationMessage relation{.xid = std::nullopt,
                                  .relid = 16389,
                                  .namespace_name = "public",
                                  .relation_name = "t",
                                  .replica_identity = 'd',
                                  .columns = {}};
    relation.columns.push_back({.is_key = true, .name = "id", .type_oid = 23, .type_modifier = -1});
    relation.columns.push_back({.is_key = false, .name = "v", .type_oid = 25, .type_modifier = -1});
    Apply(relation);
  }

  // A transaction of `rows` inserts, ids from `first`, committed at commit_lsn.
  void Commit(uint64_t commit_lsn, int first, int rows) {
    Apply(wal::BeginMessage{.final_lsn = Lsn(commit_lsn), .commit_time = 1, .xid = 700});
    for (int i = 0; i < rows; ++i) {
      wal::TupleData tuple = {{.kind = wal::ColumnKind::kText, .value = std::to_string(first + i)},
                              {.kind = wal::ColumnKind::kText, .value = std::string(100, 'x')}};
      Apply(wal::InsertMessage{.xid = std::nullopt, .relid = 16389, .new_tuple = tuple});
    }
    Apply(wal::CommitMessage{
        .flags = 0, .commit_lsn = Lsn(commit_lsn), .end_lsn = Lsn(commit_lsn + 8), .commit_time = 1});
  }

  // "lsn:id,id,..." for each transaction, as the log gives them or as the feed does.
  std::vector<std::string> FromLog() {
    std::vector<std::string> out;
    EXPECT_TRUE(log_->ForEachTransaction(Lsn(0), Lsn(~0ull),
                                         [&](const proto::Transaction& t) {
                                           std::string s = std::to_string(t.commit_lsn()) + ":";
                                           absl::Status read = log_->ForEachChange(t, [&](const proto::Change& c) {
                                             s += c.new_tuple().values(0).data() + ",";
                                             return absl::OkStatus();
                                           });
                                           out.push_back(s);
                                           return read;
                                         })
                    .ok());
    return out;
  }
  // Damages the log as a lost write would: chunk `chunk` of the transaction committed at `commit` is gone.
  void DeleteChunk(Lsn commit, int chunk) {
    absl::StatusOr<std::optional<proto::Transaction>> txn = log_->GetTransaction(commit);
    ASSERT_TRUE(txn.ok() && txn->has_value());
    ASSERT_TRUE(wal::keys::Database(*log_)
                    ->Delete(rocksdb::WriteOptions(), wal::keys::Chunk((*txn)->storage_id(), chunk))
                    .ok());
  }
  absl::Status FromFeed(std::vector<std::string>* out, Lsn from = Lsn(0), Lsn to = Lsn(~0ull)) {
    ChangeFeed feed(*log_, from, to);
    return feed.ForEachTransaction([&](const proto::Transaction& t) {
      std::string s = std::to_string(t.commit_lsn()) + ":";
      absl::Status read = feed.ForEachChange(t, [&](const proto::Change& c) {
        s += c.new_tuple().values(0).data() + ",";
        return absl::OkStatus();
      });
      out->push_back(s);
      return read;
    });
  }
};

TEST_F(ChangeFeedTest, GivesWhatReadingTheLogInOrderGives) {
  int id = 0;
  for (uint64_t lsn = 0x1000; lsn < 0x1000 + 3000 * 0x10; lsn += 0x10) {
    // Mostly small transactions, a few larger than a batch of the feed, one empty.
    const int rows = lsn % 0x7d0 == 0 ? 9000 : lsn == 0x1100 ? 0 : 1 + static_cast<int>(lsn % 5);
    Commit(lsn, id, rows);
    id += rows;
  }
  ASSERT_TRUE(writer_->Sync().ok());
  std::vector<std::string> fed;
  absl::Status s = FromFeed(&fed);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(fed, FromLog());
  EXPECT_EQ(fed.size(), 3000u);
  // A range of it.
  std::vector<std::string> part;
  ASSERT_TRUE(FromFeed(&part, Lsn(0x2000), Lsn(0x2040)).ok());
  EXPECT_EQ(part.size(), 5u);
}

TEST_F(ChangeFeedTest, AReplayThatStopsEarlyStopsTheReading) {
  for (int t = 0; t < 2000; ++t) Commit(0x1000 + 0x10 * t, t * 10, 10);
  ASSERT_TRUE(writer_->Sync().ok());
  int seen = 0;
  {
    ChangeFeed feed(*log_, Lsn(0), Lsn(~0ull));
    absl::Status s = feed.ForEachTransaction(
        [&](const proto::Transaction&) { return ++seen == 3 ? absl::CancelledError("enough") : absl::OkStatus(); });
    EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  }  // joins the reading thread, which may be waiting for a free batch
  EXPECT_EQ(seen, 3);
}

TEST_F(ChangeFeedTest, AnErrorInsideALargeTransactionReachesItsReplayAfterItsFirstChanges) {
  Commit(0x1000, 0, 10);
  Commit(0x2000, 100, 9000);  // chunks of ~128 KiB: several, over several batches of the feed
  Commit(0x3000, 20000, 10);
  ASSERT_TRUE(writer_->Sync().ok());
  ASSERT_NO_FATAL_FAILURE(DeleteChunk(Lsn(0x2000), 5));
  ChangeFeed feed(*log_, Lsn(0), Lsn(~0ull));
  std::vector<uint64_t> complete;
  size_t seen_of_large = 0;
  absl::Status s = feed.ForEachTransaction([&](const proto::Transaction& t) {
    absl::Status read = feed.ForEachChange(t, [&](const proto::Change&) {
      if (t.commit_lsn() == 0x2000) ++seen_of_large;
      return absl::OkStatus();
    });
    if (read.ok()) complete.push_back(t.commit_lsn());
    return read;
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_EQ(complete, std::vector<uint64_t>{0x1000});
  EXPECT_GT(seen_of_large, 4096u) << "the changes before the missing chunk, over more than one batch";
  EXPECT_LT(seen_of_large, 9000u);
}

TEST_F(ChangeFeedTest, AnErrorInTheLogReachesTheReplayAtItsTransaction) {
  for (int t = 0; t < 100; ++t) Commit(0x1000 + 0x10 * t, t * 10, 10);
  ASSERT_TRUE(writer_->Sync().ok());
  ASSERT_NO_FATAL_FAILURE(DeleteChunk(Lsn(0x1000 + 0x10 * 60), 0));
  ChangeFeed feed(*log_, Lsn(0), Lsn(~0ull));
  std::vector<uint64_t> complete;
  uint64_t failed_at = 0;
  absl::Status s = feed.ForEachTransaction([&](const proto::Transaction& t) {
    absl::Status read = feed.ForEachChange(t, [](const proto::Change&) { return absl::OkStatus(); });
    if (read.ok()) complete.push_back(t.commit_lsn());
    if (!read.ok()) failed_at = t.commit_lsn();
    return read;
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_EQ(complete.size(), 60u);
  EXPECT_EQ(failed_at, 0x1000u + 0x10 * 60);
}

}  // namespace
}  // namespace pgpitr::restore
