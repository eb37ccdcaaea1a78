// Specification of the change log and its writer, against a real RocksDB in a fresh temp directory:
// decoded pgoutput messages go in through ChangeLogWriter, and what ChangeLog then returns is the
// contract (visibility at commit, durability at Sync, idempotence by commit LSN, cleanup of
// interrupted transactions, schema versions, streamed transactions, the time index, damage).
#include "wal/change_log.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "pg/stream_messages.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "tests/temp_dir.h"
#include "wal/change_log_keys.h"
#include "wal/change_log_writer.h"
#include "wal/pgoutput_decoder.h"

namespace pgpitr::wal {
namespace {

using ::pgpitr::testing::TempDir;

constexpr uint32_t kAccounts = 16389;  // relation OID
constexpr uint32_t kOrders = 16400;
constexpr pg::Lsn kMaxLsn(~uint64_t{0});

// --- pgoutput messages, as the decoder would produce them ---

RelationMessage Relation(uint32_t relid, std::string name, std::vector<std::string> columns,
                         std::optional<uint32_t> xid = std::nullopt) {
  RelationMessage m{.xid = xid,
                    .relid = relid,
                    .namespace_name = "public",
                    .relation_name = std::move(name),
                    .replica_identity = 'd',
                    .columns = {}};
  bool first = true;
  for (std::string& column : columns) {
    m.columns.push_back(
        RelationColumn{.is_key = first, .name = std::move(column), .type_oid = first ? 23u : 25u, .type_modifier = -1});
    first = false;
  }
  return m;
}

RelationMessage Accounts(std::optional<uint32_t> xid = std::nullopt) {
  return Relation(kAccounts, "accounts", {"id", "owner"}, xid);
}

TupleData Row(std::vector<std::string> values) {
  TupleData tuple;
  for (std::string& v : values) tuple.push_back(TupleColumn{.kind = ColumnKind::kText, .value = std::move(v)});
  return tuple;
}

InsertMessage Insert(std::string id, std::optional<uint32_t> xid = std::nullopt, uint32_t relid = kAccounts) {
  return InsertMessage{.xid = xid, .relid = relid, .new_tuple = Row({std::move(id), "someone"})};
}

BeginMessage Begin(uint64_t final_lsn, pg::PgTime commit_time, uint32_t xid) {
  return BeginMessage{.final_lsn = pg::Lsn(final_lsn), .commit_time = commit_time, .xid = xid};
}

CommitMessage Commit(uint64_t commit_lsn, pg::PgTime commit_time) {
  return CommitMessage{
      .flags = 0, .commit_lsn = pg::Lsn(commit_lsn), .end_lsn = pg::Lsn(commit_lsn + 8), .commit_time = commit_time};
}

StreamStartMessage StreamStart(uint32_t xid, bool first) {
  return StreamStartMessage{.xid = xid, .first_segment = first};
}

StreamCommitMessage StreamCommit(uint32_t xid, uint64_t commit_lsn, pg::PgTime commit_time) {
  return StreamCommitMessage{.xid = xid,
                             .flags = 0,
                             .commit_lsn = pg::Lsn(commit_lsn),
                             .end_lsn = pg::Lsn(commit_lsn + 8),
                             .commit_time = commit_time};
}

class ChangeLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OpenLog();
    NewWriter();
  }

  void OpenLog() {
    absl::StatusOr<std::unique_ptr<ChangeLog>> log =
        ChangeLog::Open(dir_.path() / "changelog", ChangeLog::Mode::kWriter);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
  }

  void NewWriter() {
    absl::StatusOr<std::unique_ptr<ChangeLogWriter>> writer = ChangeLogWriter::Create(log_.get());
    ASSERT_TRUE(writer.ok()) << writer.status();
    writer_ = *std::move(writer);
  }

  // As after a restart of capture: writer and database closed, both opened again.
  void Reopen() {
    writer_.reset();
    log_.reset();
    OpenLog();
    NewWriter();
  }

  void Apply(const PgoutputMessage& m, uint64_t at = 0) {
    absl::Status s = writer_->Apply(m, pg::Lsn(at));
    ASSERT_TRUE(s.ok()) << s;
  }

  void Sync() {
    absl::Status s = writer_->Sync();
    ASSERT_TRUE(s.ok()) << s;
  }

  // One whole transaction of inserts into accounts, its commit at commit_lsn.
  void CommitInserts(uint64_t commit_lsn, pg::PgTime commit_time, uint32_t xid, const std::vector<std::string>& ids) {
    Apply(Begin(commit_lsn, commit_time, xid));
    for (const std::string& id : ids) Apply(Insert(id));
    Apply(Commit(commit_lsn, commit_time));
  }

  std::optional<proto::Transaction> Get(uint64_t commit_lsn) {
    absl::StatusOr<std::optional<proto::Transaction>> t = log_->GetTransaction(pg::Lsn(commit_lsn));
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : std::nullopt;
  }

  std::vector<proto::Change> Changes(const proto::Transaction& txn) {
    std::vector<proto::Change> out;
    absl::Status s = log_->ForEachChange(txn, [&](const proto::Change& c) {
      out.push_back(c);
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  // The transaction committed at commit_lsn; a test failure (and an empty one) when there is none.
  proto::Transaction Txn(uint64_t commit_lsn) {
    std::optional<proto::Transaction> txn = Get(commit_lsn);
    if (!txn) ADD_FAILURE() << "no transaction committed at " << pg::Lsn(commit_lsn).ToString();
    return txn.value_or(proto::Transaction());
  }

  // The schema id of the first change of the transaction committed at commit_lsn.
  uint32_t FirstSchemaId(uint64_t commit_lsn) {
    std::vector<proto::Change> changes = Changes(Txn(commit_lsn));
    if (changes.empty()) {
      ADD_FAILURE() << "no changes in the transaction committed at " << pg::Lsn(commit_lsn).ToString();
      return 0;
    }
    return changes[0].schema_id();
  }

  // The first column of every change of the transaction committed at commit_lsn, in order.
  std::vector<std::string> Ids(uint64_t commit_lsn) {
    std::optional<proto::Transaction> txn = Get(commit_lsn);
    if (!txn) {
      ADD_FAILURE() << "no transaction committed at " << pg::Lsn(commit_lsn).ToString();
      return {};
    }
    std::vector<std::string> out;
    for (const proto::Change& c : Changes(*txn)) {
      out.push_back(c.kind() == proto::Change::MESSAGE ? "message " + c.message_content()
                                                       : c.new_tuple().values(0).data());
    }
    return out;
  }

  std::vector<uint64_t> CommitLsns(pg::Lsn from = pg::Lsn(0), pg::Lsn to = kMaxLsn) {
    std::vector<uint64_t> out;
    absl::Status s = log_->ForEachTransaction(from, to, [&](const proto::Transaction& t) {
      out.push_back(t.commit_lsn());
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  // Every 'C' record in the database, whoever it belongs to.
  size_t StoredChangeRecords() {
    size_t n = 0;
    std::unique_ptr<rocksdb::Iterator> it(keys::Database(*log_)->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek("C"); it->Valid() && it->key()[0] == 'C'; it->Next()) ++n;
    EXPECT_TRUE(it->status().ok()) << it->status().ToString();
    return n;
  }

  std::vector<uint64_t> Pending() {
    absl::StatusOr<std::vector<uint64_t>> p = log_->PendingStorageIds();
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *p : std::vector<uint64_t>{};
  }

  std::optional<uint64_t> LsnOf(const absl::StatusOr<std::optional<proto::Transaction>>& t) {
    EXPECT_TRUE(t.ok()) << t.status();
    if (!t.ok() || !t->has_value()) return std::nullopt;
    return (*t)->commit_lsn();
  }

  TempDir dir_;
  std::unique_ptr<ChangeLog> log_;
  std::unique_ptr<ChangeLogWriter> writer_;
};

using Strings = std::vector<std::string>;

// --- visibility and durability ---

TEST_F(ChangeLogTest, CommittedTransactionBecomesVisibleOnlyWithItsCommit) {
  Apply(Accounts());
  Apply(Begin(0x100, 10, 700));
  Apply(Insert("1"));
  Apply(Insert("2"));
  Sync();  // the changes are on disk now, the transaction is not
  EXPECT_EQ(Get(0x100), std::nullopt);
  EXPECT_EQ(CommitLsns(), std::vector<uint64_t>{});
  EXPECT_EQ(LsnOf(log_->FirstCommitAtOrAfter(pg::Lsn(0))), std::nullopt);
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(1000)), std::nullopt);

  Apply(Insert("3"));
  Apply(Commit(0x100, 10));
  EXPECT_EQ(Get(0x100), std::nullopt) << "visible before the write";
  Sync();

  std::optional<proto::Transaction> txn = Get(0x100);
  ASSERT_TRUE(txn.has_value());
  EXPECT_EQ(txn->xid(), 700u);
  EXPECT_EQ(txn->commit_lsn(), 0x100u);
  EXPECT_EQ(txn->end_lsn(), 0x108u);
  EXPECT_EQ(txn->commit_time(), 10);
  EXPECT_EQ(txn->change_count(), 3u);
  EXPECT_EQ(txn->row_count(), 3u);
  EXPECT_EQ(Ids(0x100), (Strings{"1", "2", "3"}));
  for (const proto::Change& c : Changes(*txn)) {
    EXPECT_EQ(c.kind(), proto::Change::INSERT);
    ASSERT_EQ(c.new_tuple().values_size(), 2);
    EXPECT_EQ(c.new_tuple().values(1).kind(), proto::Value::TEXT);
    EXPECT_EQ(c.new_tuple().values(1).data(), "someone");
  }
  EXPECT_EQ(Pending(), std::vector<uint64_t>{});
}

TEST_F(ChangeLogTest, EveryChangeKindIsStoredAsSent) {
  Apply(Accounts());
  Apply(Relation(kOrders, "orders", {"id"}));
  Apply(Begin(0x100, 10, 700));
  Apply(OriginMessage{.origin_commit_lsn = pg::Lsn(0x42), .name = "upstream"});
  Apply(InsertMessage{.xid = std::nullopt,
                      .relid = kAccounts,
                      .new_tuple = {TupleColumn{ColumnKind::kText, "1"}, TupleColumn{ColumnKind::kNull, ""}}});
  Apply(
      UpdateMessage{.xid = std::nullopt,
                    .relid = kAccounts,
                    .old_kind = 'K',
                    .old_tuple = Row({"1", "x"}),
                    .new_tuple = {TupleColumn{ColumnKind::kText, "2"}, TupleColumn{ColumnKind::kUnchangedToast, ""}}});
  Apply(DeleteMessage{.xid = std::nullopt, .relid = kAccounts, .old_kind = 'O', .old_tuple = Row({"2", "y"})});
  Apply(TruncateMessage{.xid = std::nullopt, .options = 3, .relids = {kAccounts, kOrders}});
  Apply(LogicalMessage{.xid = std::nullopt,
                       .transactional = true,
                       .lsn = pg::Lsn(0x99),
                       .prefix = "pfx",
                       .content = std::string("a\0b", 3)});
  Apply(LogicalMessage{
      .xid = std::nullopt, .transactional = false, .lsn = pg::Lsn(0x9A), .prefix = "skip", .content = "x"});
  Apply(Commit(0x100, 10));
  Sync();

  std::optional<proto::Transaction> txn = Get(0x100);
  ASSERT_TRUE(txn.has_value());
  EXPECT_EQ(txn->origin(), "upstream");
  EXPECT_EQ(txn->row_count(), 3u);  // insert, update, delete; not truncate or message
  const std::vector<proto::Change> changes = Changes(*txn);
  ASSERT_EQ(changes.size(), 5u);
  EXPECT_EQ(changes[0].kind(), proto::Change::INSERT);
  EXPECT_EQ(changes[0].new_tuple().values(1).kind(), proto::Value::NULL_);
  EXPECT_EQ(changes[1].kind(), proto::Change::UPDATE);
  EXPECT_EQ(changes[1].old_kind(), proto::Change::KEY);
  EXPECT_EQ(changes[1].old_tuple().values(0).data(), "1");
  EXPECT_EQ(changes[1].new_tuple().values(1).kind(), proto::Value::UNCHANGED_TOAST);
  EXPECT_EQ(changes[2].kind(), proto::Change::DELETE);
  EXPECT_EQ(changes[2].old_kind(), proto::Change::FULL_ROW);
  EXPECT_EQ(changes[2].old_tuple().values(1).data(), "y");
  EXPECT_EQ(changes[3].kind(), proto::Change::TRUNCATE);
  EXPECT_EQ(changes[3].truncate_options(), 3u);
  ASSERT_EQ(changes[3].truncated_schema_ids_size(), 2);
  EXPECT_NE(changes[3].truncated_schema_ids(0), changes[3].truncated_schema_ids(1));
  EXPECT_EQ(changes[4].kind(), proto::Change::MESSAGE);
  EXPECT_EQ(changes[4].message_prefix(), "pfx");
  EXPECT_EQ(changes[4].message_content(), std::string("a\0b", 3));
  EXPECT_EQ(changes[4].message_lsn(), 0x99u);
}

TEST_F(ChangeLogTest, SyncAdvancesDurableThroughToTheCommitsEndAndNotBefore) {
  const pg::Lsn start = writer_->durable_through();
  Apply(Accounts());
  Apply(Begin(0x200, 20, 701));
  Apply(Insert("1"));
  Sync();
  EXPECT_EQ(writer_->durable_through(), start) << "an open transaction is not durable";

  Apply(Commit(0x200, 20));
  EXPECT_EQ(writer_->durable_through(), start) << "applied is not durable";
  EXPECT_TRUE(writer_->HasUnsyncedProgress());
  Sync();
  EXPECT_EQ(writer_->durable_through(), pg::Lsn(0x208));
  EXPECT_FALSE(writer_->HasUnsyncedProgress());

  absl::StatusOr<proto::CaptureState> state = log_->State();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->captured_through_lsn(), 0x208u);
  EXPECT_EQ(state->last_commit_lsn(), 0x200u);
  EXPECT_EQ(state->transactions(), 1u);
  EXPECT_EQ(state->rows(), 1u);
}

TEST_F(ChangeLogTest, DurableThroughSurvivesReopen) {
  Apply(Accounts());
  CommitInserts(0x300, 30, 702, {"1"});
  Sync();
  Reopen();
  EXPECT_EQ(writer_->durable_through(), pg::Lsn(0x308));
  EXPECT_FALSE(writer_->HasUnsyncedProgress());
}

TEST_F(ChangeLogTest, UnsyncedCommitIsLostWithTheWriter) {
  Apply(Accounts());
  CommitInserts(0x300, 30, 702, {"1"});
  Reopen();
  EXPECT_EQ(Get(0x300), std::nullopt);
  EXPECT_EQ(writer_->durable_through(), pg::Lsn(0));
}

// --- sequence samples ---

proto::SequenceSample SampleOf(std::initializer_list<std::pair<const char*, int64_t>> values) {
  proto::SequenceSample sample;
  for (const auto& [name, value] : values) {
    auto* seq = sample.add_sequences();
    seq->set_namespace_("public");
    seq->set_name(name);
    seq->set_last_value(value);
    seq->set_is_called(true);
  }
  return sample;
}

// nextval() writes WAL only once per 32 values, so checks a moment apart can read one WAL insert
// position: the later sample, holding only what changed since, must not replace the earlier one.
TEST_F(ChangeLogTest, SequenceSamplesAtOneCheckPositionAreMergedNotReplaced) {
  ASSERT_TRUE(writer_->PutSequenceSample(SampleOf({{"kept", 7}, {"t_id_seq", 40}}), pg::Lsn(500), 50).ok());
  ASSERT_TRUE(writer_->PutSequenceSample(SampleOf({{"t_id_seq", 41}}), pg::Lsn(500), 51).ok());
  Sync();
  Reopen();  // the next one after a restart: the stored sample is read back
  ASSERT_TRUE(writer_->PutSequenceSample(SampleOf({{"other", 3}}), pg::Lsn(500), 52).ok());
  Sync();
  std::vector<proto::SequenceSample> samples;
  ASSERT_TRUE(log_->ForEachSequenceSample(pg::Lsn(),
                                          [&](const proto::SequenceSample& s) {
                                            samples.push_back(s);
                                            return absl::OkStatus();
                                          })
                  .ok());
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].check_lsn(), 500u);
  EXPECT_EQ(samples[0].check_time(), 52);
  std::map<std::string, int64_t> values;
  for (const auto& seq : samples[0].sequences()) values[seq.name()] = seq.last_value();
  EXPECT_EQ(values, (std::map<std::string, int64_t>{{"kept", 7}, {"other", 3}, {"t_id_seq", 41}}));
}

// Large objects are not in the stream: each check says whether the source held some, and the state
// keeps the spans in which it may have: from the check before the first that saw some, to the
// first that saw none again; kept across a restart.
TEST_F(ChangeLogTest, LargeObjectChecksKeepTheSpansInWhichTheSourceMayHaveHeldSome) {
  auto check = [&](bool present, uint64_t lsn, pg::PgTime time) {
    writer_->NoteLargeObjects(present, {pg::Lsn(lsn), time}, {pg::Lsn(lsn), time});
    ASSERT_TRUE(writer_->PutSequenceSample(proto::SequenceSample(), pg::Lsn(lsn), time).ok());
  };
  check(false, 100, 10);
  check(true, 200, 20);
  check(true, 300, 30);
  check(false, 400, 40);
  check(false, 500, 50);
  check(true, 600, 60);
  Sync();
  Reopen();  // the open span goes on after a restart
  check(true, 700, 70);
  Sync();
  const auto& spans = writer_->state().large_object_spans();
  ASSERT_EQ(spans.size(), 2);
  EXPECT_EQ(spans[0].from_lsn(), 100u);
  EXPECT_EQ(spans[0].from_time(), 10);
  EXPECT_EQ(spans[0].to_lsn(), 400u);
  EXPECT_EQ(spans[0].to_time(), 40);
  EXPECT_FALSE(spans[0].open());
  EXPECT_EQ(spans[1].from_lsn(), 500u);
  EXPECT_TRUE(spans[1].open());
  absl::StatusOr<proto::CaptureState> stored = log_->State();
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->large_object_spans_size(), 2);
}

TEST_F(ChangeLogTest, ManyLargeObjectSpansAreMergedOldestFirstNeverNarrowed) {
  for (uint64_t i = 1; i <= 100; ++i) {
    writer_->NoteLargeObjects(true, {pg::Lsn(i * 20), static_cast<pg::PgTime>(i * 20)},
                              {pg::Lsn(i * 20), static_cast<pg::PgTime>(i * 20)});
    ASSERT_TRUE(writer_->PutSequenceSample(proto::SequenceSample(), pg::Lsn(i * 20), i * 20).ok());
    writer_->NoteLargeObjects(false, {pg::Lsn(i * 20 + 10), static_cast<pg::PgTime>(i * 20 + 10)},
                              {pg::Lsn(i * 20 + 10), static_cast<pg::PgTime>(i * 20 + 10)});
    ASSERT_TRUE(writer_->PutSequenceSample(proto::SequenceSample(), pg::Lsn(i * 20 + 10), i * 20 + 10).ok());
  }
  const auto& spans = writer_->state().large_object_spans();
  ASSERT_EQ(spans.size(), 64);
  EXPECT_EQ(spans[0].from_lsn(), 0u) << "the first check saw some: no check before it";
  EXPECT_EQ(spans[0].to_lsn(), 37u * 20 + 10) << "the 37 oldest spans are one";
  EXPECT_EQ(spans[63].from_lsn(), 99u * 20 + 10);
  EXPECT_EQ(spans[63].to_lsn(), 100u * 20 + 10);
}

// A schema change on large objects says the source held some at its commit, even where no check
// saw them (made and removed between two checks): a span from the check before it to the first
// after it that saw none, open until one does; not for one rolled back with its savepoint.
TEST_F(ChangeLogTest, ASchemaChangeOnLargeObjectsIsASpanBetweenTheChecksAroundIt) {
  constexpr const char* kGrant =
      R"({"tag": "GRANT", "commands": [{"type": "LARGE OBJECT", "identity": null}], "dropped": []})";
  constexpr const char* kOnTable =
      R"({"tag": "GRANT", "commands": [{"type": "TABLE", "identity": null}], "dropped": []})";
  auto check = [&](bool present, uint64_t lsn, pg::PgTime time) {
    writer_->NoteLargeObjects(present, {pg::Lsn(lsn), time}, {pg::Lsn(lsn), time});
    ASSERT_TRUE(writer_->PutSequenceSample(proto::SequenceSample(), pg::Lsn(lsn), time).ok());
  };
  auto commit_message = [&](uint64_t commit_lsn, uint32_t xid, const char* content) {
    Apply(Begin(commit_lsn, static_cast<pg::PgTime>(commit_lsn), xid));
    Apply(LogicalMessage{.xid = xid,
                         .transactional = true,
                         .lsn = pg::Lsn(commit_lsn - 8),
                         .prefix = pg::kDdlEventMessagePrefix,
                         .content = content});
    Apply(Commit(commit_lsn, static_cast<pg::PgTime>(commit_lsn)));
  };
  check(false, 100, 10);
  check(false, 400, 40);  // the checks run ahead of the stream
  commit_message(250, 700, kGrant);
  commit_message(300, 701, kOnTable);
  ASSERT_EQ(writer_->state().large_object_spans_size(), 1);
  EXPECT_EQ(writer_->state().large_object_spans(0).from_lsn(), 100u);
  EXPECT_EQ(writer_->state().large_object_spans(0).to_lsn(), 400u);
  EXPECT_EQ(writer_->state().large_object_spans(0).to_time(), 40);
  EXPECT_FALSE(writer_->state().large_object_spans(0).open());

  // Rolled back with its savepoint: no span.
  Apply(StreamStart(800, true));
  Apply(LogicalMessage{.xid = 801,
                       .transactional = true,
                       .lsn = pg::Lsn(0x1f0),
                       .prefix = pg::kDdlEventMessagePrefix,
                       .content = kGrant});
  Apply(StreamStopMessage{});
  Apply(StreamAbortMessage{.xid = 800, .subxid = 801});
  Apply(StreamCommit(800, 0x200, 0x200));
  EXPECT_EQ(writer_->state().large_object_spans_size(), 1);

  // After every check so far: open from the last one, until the next that sees none.
  commit_message(600, 702, kGrant);
  ASSERT_EQ(writer_->state().large_object_spans_size(), 2);
  EXPECT_EQ(writer_->state().large_object_spans(1).from_lsn(), 400u);
  EXPECT_TRUE(writer_->state().large_object_spans(1).open());
  check(false, 700, 70);
  EXPECT_EQ(writer_->state().large_object_spans(1).to_lsn(), 700u);
  EXPECT_FALSE(writer_->state().large_object_spans(1).open());

  // One in a span already (a check after it saw some): nothing more.
  check(true, 900, 90);
  commit_message(800, 703, kGrant);
  check(false, 1000, 100);
  ASSERT_EQ(writer_->state().large_object_spans_size(), 3);
  EXPECT_EQ(writer_->state().large_object_spans(2).from_lsn(), 700u);
  EXPECT_EQ(writer_->state().large_object_spans(2).to_lsn(), 1000u);

  // After a restart the checks before it are not in memory: from the last one known before it.
  Sync();
  Reopen();
  commit_message(1100, 704, kGrant);
  Sync();
  ASSERT_EQ(writer_->state().large_object_spans_size(), 4);
  EXPECT_EQ(writer_->state().large_object_spans(3).from_lsn(), 1000u);
  EXPECT_TRUE(writer_->state().large_object_spans(3).open());
}

// A check reads its position, then (the sequences first) whether large objects exist, then the
// position again: "none" holds from when that read was made, which may be as late as the second
// position. A span closes there, and a schema change on large objects between the two positions
// is not taken as after the check.
TEST_F(ChangeLogTest, ACheckThatSawNoneClosesASpanAtThePositionReadAfterIt) {
  auto check = [&](bool present, uint64_t before, uint64_t after) {
    writer_->NoteLargeObjects(present, {pg::Lsn(before), static_cast<pg::PgTime>(before)},
                              {pg::Lsn(after), static_cast<pg::PgTime>(after)});
    ASSERT_TRUE(
        writer_->PutSequenceSample(proto::SequenceSample(), pg::Lsn(before), static_cast<pg::PgTime>(before)).ok());
  };
  check(false, 100, 100);
  check(true, 200, 200);
  check(false, 300, 380);
  ASSERT_EQ(writer_->state().large_object_spans_size(), 1);
  EXPECT_EQ(writer_->state().large_object_spans(0).to_lsn(), 380u);
  EXPECT_EQ(writer_->state().large_object_spans(0).to_time(), 380);
  check(false, 500, 560);
  // A GRANT committed at 520, while the check at 500 was reading: that read may have come before it.
  Apply(Begin(520, 520, 700));
  Apply(LogicalMessage{.xid = 700,
                       .transactional = true,
                       .lsn = pg::Lsn(510),
                       .prefix = pg::kDdlMessagePrefix,
                       .content = R"({"search_path": "public", "sql": "GRANT SELECT ON LARGE OBJECT 5 TO PUBLIC"})"});
  Apply(Commit(520, 520));
  ASSERT_EQ(writer_->state().large_object_spans_size(), 2);
  EXPECT_EQ(writer_->state().large_object_spans(1).from_lsn(), 500u);
  EXPECT_TRUE(writer_->state().large_object_spans(1).open()) << "no check read after it yet";
  check(false, 600, 640);
  EXPECT_EQ(writer_->state().large_object_spans(1).to_lsn(), 640u);
}

// The proxy reads whether large objects exist around the statements that make or remove some
// (pgpitr.large_objects): "none at <LSN> <time>" before one making some is a check of its own, where
// a span then starts; "none" after one ends a span at its transaction's commit, unless a check after
// that commit saw some (a creation the reading missed), and narrows one a later check closed.
TEST_F(ChangeLogTest, TheProxysReadingsOfLargeObjectsPlaceASpansEndsAtTheirCommits) {
  auto check = [&](bool present, uint64_t lsn) {
    writer_->NoteLargeObjects(present, {pg::Lsn(lsn), static_cast<pg::PgTime>(lsn)},
                              {pg::Lsn(lsn), static_cast<pg::PgTime>(lsn)});
    ASSERT_TRUE(writer_->PutSequenceSample(proto::SequenceSample(), pg::Lsn(lsn), static_cast<pg::PgTime>(lsn)).ok());
  };
  auto commit_readings = [&](uint64_t commit_lsn, uint32_t xid, std::vector<std::string> contents) {
    Apply(Begin(commit_lsn, static_cast<pg::PgTime>(commit_lsn), xid));
    uint64_t lsn = commit_lsn - 10 * contents.size();
    for (std::string& content : contents) {
      Apply(LogicalMessage{.xid = xid,
                           .transactional = true,
                           .lsn = pg::Lsn(lsn),
                           .prefix = pg::kLargeObjectsMessagePrefix,
                           .content = std::move(content)});
      lsn += 10;
    }
    Apply(Commit(commit_lsn, static_cast<pg::PgTime>(commit_lsn)));
  };
  const auto& spans = writer_->state().large_object_spans();
  check(false, 100);
  // lo_create: none at 200 (before it), some after it; committed at 300.
  commit_readings(300, 700, {"none at 0/C8 200", "some"});
  ASSERT_EQ(spans.size(), 1);
  EXPECT_EQ(spans[0].from_lsn(), 200u) << "from the reading before it, not from the check at 100";
  EXPECT_EQ(spans[0].from_time(), 200);
  EXPECT_TRUE(spans[0].open());
  check(true, 400);
  // lo_unlink, then none: the span ends at its commit, not at the next check.
  commit_readings(500, 701, {"none"});
  ASSERT_EQ(spans.size(), 1);
  EXPECT_EQ(spans[0].to_lsn(), 500u);
  EXPECT_EQ(spans[0].to_time(), 500);
  EXPECT_FALSE(spans[0].open());
  check(false, 600);
  EXPECT_EQ(spans[0].to_lsn(), 500u);

  // Some again (made where the proxy did not see it): the span starts at the check before.
  check(true, 700);
  ASSERT_EQ(spans.size(), 2);
  EXPECT_EQ(spans[1].from_lsn(), 600u);
  // A check after the commit of a "none" saw some (made by a transaction the reading did not see):
  // the span stays open.
  check(true, 900);
  commit_readings(800, 702, {"none"});
  EXPECT_TRUE(spans[1].open());
  // A "none" that reaches capture after the check that closed the span: the span ends at its commit.
  check(false, 1100);
  EXPECT_EQ(spans[1].to_lsn(), 1100u);
  commit_readings(1000, 703, {"none"});
  EXPECT_EQ(spans[1].to_lsn(), 1000u);
  EXPECT_FALSE(spans[1].open());
  // A transaction that removed some and then made some (its last reading): nothing ends.
  check(true, 1200);
  commit_readings(1300, 704, {"none", "some"});
  ASSERT_EQ(spans.size(), 3);
  EXPECT_TRUE(spans[2].open());
  // The event trigger says whether large objects remain after a schema change (a DROP OWNED that
  // dropped the last): none ends the span at its commit too.
  Apply(Begin(1350, 1350, 706));
  Apply(LogicalMessage{.xid = 706,
                       .transactional = true,
                       .lsn = pg::Lsn(1340),
                       .prefix = pg::kDdlEventMessagePrefix,
                       .content = R"({"tag": "DROP OWNED", "commands": [], "dropped": [], "large_objects": false})"});
  Apply(Commit(1350, 1350));
  EXPECT_EQ(spans[2].to_lsn(), 1350u);
  EXPECT_FALSE(spans[2].open());
  // Some again at the next check: from the check before (which the span held already), open.
  check(true, 1360);
  ASSERT_EQ(spans.size(), 3);
  EXPECT_TRUE(spans[2].open());
  // A reading this version does not know is left alone; a "none at" that is malformed too.
  commit_readings(1400, 705, {"none at 0/ZZ 5", "maybe"});
  EXPECT_TRUE(spans[2].open());
  EXPECT_EQ(ChangeLogWriter::ParseLargeObjectReading("none at 0/C8 200x"), std::nullopt);

  // Rolled back with its savepoint: the reading goes with it.
  Apply(StreamStart(800, true));
  Apply(LogicalMessage{.xid = 801,
                       .transactional = true,
                       .lsn = pg::Lsn(1490),
                       .prefix = pg::kLargeObjectsMessagePrefix,
                       .content = "none"});
  Apply(StreamStopMessage{});
  Apply(StreamAbortMessage{.xid = 800, .subxid = 801});
  Apply(StreamCommit(800, 1500, 1500));
  EXPECT_TRUE(spans[2].open());
}

TEST_F(ChangeLogTest, LargeObjectSpansThatOverlapAreOne) {
  auto check = [&](bool present, uint64_t lsn) {
    writer_->NoteLargeObjects(present, {pg::Lsn(lsn), static_cast<pg::PgTime>(lsn)},
                              {pg::Lsn(lsn), static_cast<pg::PgTime>(lsn)});
    ASSERT_TRUE(writer_->PutSequenceSample(proto::SequenceSample(), pg::Lsn(lsn), static_cast<pg::PgTime>(lsn)).ok());
  };
  check(false, 100);
  check(false, 200);
  check(true, 300);
  check(false, 400);
  // A GRANT committed at 150, sent late (the checks ran ahead): [100, 200] touches [200, 400].
  Apply(Begin(150, 150, 700));
  Apply(LogicalMessage{.xid = 700,
                       .transactional = true,
                       .lsn = pg::Lsn(140),
                       .prefix = pg::kDdlMessagePrefix,
                       .content = R"({"search_path": "public", "sql": "GRANT SELECT ON LARGE OBJECT 5 TO PUBLIC"})"});
  Apply(Commit(150, 150));
  const auto& spans = writer_->state().large_object_spans();
  ASSERT_EQ(spans.size(), 2);
  EXPECT_EQ(spans[0].from_lsn(), 100u);
  EXPECT_EQ(spans[0].to_lsn(), 200u);
  EXPECT_EQ(spans[1].from_lsn(), 200u);
  EXPECT_EQ(spans[1].to_lsn(), 400u);
  // One more, at 350 within the second: still two, the second as it was.
  Apply(Begin(350, 350, 701));
  Apply(LogicalMessage{.xid = 701,
                       .transactional = true,
                       .lsn = pg::Lsn(340),
                       .prefix = pg::kDdlMessagePrefix,
                       .content = R"({"search_path": "public", "sql": "COMMENT ON LARGE OBJECT 5 IS 'x'"})"});
  Apply(Commit(350, 350));
  ASSERT_EQ(spans.size(), 2);
  EXPECT_EQ(spans[1].from_lsn(), 200u);
  EXPECT_EQ(spans[1].to_lsn(), 400u);
}

// --- idempotence by commit LSN ---

TEST_F(ChangeLogTest, ResentCommitAtTheLastStoredLsnIsSkipped) {
  Apply(Accounts());
  CommitInserts(0x200, 20, 701, {"a", "b"});
  Sync();
  // The server sends the same transaction again (say, after a lost confirmation).
  CommitInserts(0x200, 20, 701, {"a", "b", "extra"});
  Sync();
  EXPECT_EQ(Ids(0x200), (Strings{"a", "b"}));
  EXPECT_EQ(CommitLsns(), std::vector<uint64_t>{0x200});
  EXPECT_EQ(writer_->state().transactions(), 1u);
  EXPECT_EQ(StoredChangeRecords(), 1u) << "the skipped copy left changes behind";  // one chunk
  EXPECT_EQ(Pending(), std::vector<uint64_t>{});
}

TEST_F(ChangeLogTest, CommitBeforeTheLastStoredOneIsSkipped) {
  Apply(Accounts());
  CommitInserts(0x200, 20, 701, {"a"});
  CommitInserts(0x100, 10, 700, {"old"});
  Sync();
  EXPECT_EQ(CommitLsns(), std::vector<uint64_t>{0x200});
  EXPECT_EQ(StoredChangeRecords(), 1u);
  EXPECT_EQ(writer_->durable_through(), pg::Lsn(0x208)) << "durable_through went backwards";
}

TEST_F(ChangeLogTest, ResentTransactionsAfterRestartAreSkippedAndNewOnesStored) {
  Apply(Accounts());
  CommitInserts(0x100, 10, 700, {"a"});
  CommitInserts(0x200, 20, 701, {"b"});
  Sync();
  Reopen();
  // The server restarts from an older confirmed position: the same commits again, then a new one.
  Apply(Accounts());
  CommitInserts(0x100, 10, 700, {"a-again"});
  CommitInserts(0x200, 20, 701, {"b-again"});
  CommitInserts(0x300, 30, 702, {"c"});
  Sync();
  EXPECT_EQ(CommitLsns(), (std::vector<uint64_t>{0x100, 0x200, 0x300}));
  EXPECT_EQ(Ids(0x100), Strings{"a"});
  EXPECT_EQ(Ids(0x200), Strings{"b"});
  EXPECT_EQ(Ids(0x300), Strings{"c"});
  EXPECT_EQ(writer_->state().transactions(), 3u);
  EXPECT_EQ(StoredChangeRecords(), 3u);
  EXPECT_EQ(writer_->durable_through(), pg::Lsn(0x308));
}

TEST_F(ChangeLogTest, ResentStreamedTransactionAfterRestartIsSkipped) {
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Apply(Insert("s1", 800));
  Apply(StreamStopMessage{});
  Apply(StreamCommit(800, 0x400, 40));
  Sync();
  Reopen();
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Apply(Insert("s1-again", 800));
  Apply(StreamStopMessage{});
  Apply(StreamCommit(800, 0x400, 40));
  Sync();
  EXPECT_EQ(Ids(0x400), Strings{"s1"});
  EXPECT_EQ(StoredChangeRecords(), 1u);
  EXPECT_EQ(Pending(), std::vector<uint64_t>{});
}

// --- transactions interrupted by a stop ---

TEST_F(ChangeLogTest, OpenTransactionsChangesAreDeletedByTheNextWriter) {
  Apply(Accounts());
  CommitInserts(0x100, 10, 700, {"kept"});
  Apply(Begin(0x200, 20, 701));
  Apply(Insert("1"));
  Apply(Insert("2"));
  Sync();  // the open transaction's changes reach the disk
  ASSERT_EQ(Pending().size(), 1u);
  ASSERT_EQ(StoredChangeRecords(), 2u);  // a chunk each

  writer_.reset();  // capture stops without the commit
  NewWriter();
  EXPECT_EQ(Pending(), std::vector<uint64_t>{});
  EXPECT_EQ(StoredChangeRecords(), 1u);
  EXPECT_EQ(Ids(0x100), Strings{"kept"});

  // The server sends it again, whole, and it is stored once.
  Apply(Accounts());
  CommitInserts(0x200, 20, 701, {"1", "2"});
  Sync();
  EXPECT_EQ(Ids(0x200), (Strings{"1", "2"}));
  EXPECT_EQ(StoredChangeRecords(), 2u);
}

TEST_F(ChangeLogTest, OpenStreamedTransactionsChangesAreDeletedAfterReopen) {
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Apply(Insert("1", 800));
  Apply(StreamStopMessage{});
  Apply(StreamStart(801, true));
  Apply(Insert("2", 801));
  Apply(StreamStopMessage{});
  Sync();
  ASSERT_EQ(Pending().size(), 2u);
  Reopen();
  EXPECT_EQ(Pending(), std::vector<uint64_t>{});
  EXPECT_EQ(StoredChangeRecords(), 0u);
}

TEST_F(ChangeLogTest, StorageIdsAreNotReusedAfterRestart) {
  Apply(Accounts());
  CommitInserts(0x100, 10, 700, {"a"});
  Sync();
  Reopen();
  Apply(Accounts());
  CommitInserts(0x200, 20, 701, {"b"});
  Sync();
  ASSERT_TRUE(Get(0x100).has_value());
  ASSERT_TRUE(Get(0x200).has_value());
  EXPECT_NE(Txn(0x100).storage_id(), Txn(0x200).storage_id());
  EXPECT_EQ(Ids(0x100), Strings{"a"});
  EXPECT_EQ(Ids(0x200), Strings{"b"});
}

// --- the server's position ---

TEST_F(ChangeLogTest, ServerPositionAdvancesDurableThroughWhenNoTransactionIsOpen) {
  writer_->NoteServerPosition(pg::Lsn(0x500));
  EXPECT_EQ(writer_->durable_through(), pg::Lsn(0)) << "advanced before Sync";
  Sync();
  EXPECT_EQ(writer_->durable_through(), pg::Lsn(0x500));

  writer_->NoteServerPosition(pg::Lsn(0x480));
  Sync();
  EXPECT_EQ(writer_->durable_through(), pg::Lsn(0x500)) << "went backwards";
}

TEST_F(ChangeLogTest, ServerPositionInsideATransactionIsIgnored) {
  Apply(Accounts());
  Apply(Begin(0x600, 60, 700));
  Apply(Insert("1"));
  writer_->NoteServerPosition(pg::Lsn(0x700));
  Sync();
  EXPECT_EQ(writer_->durable_through(), pg::Lsn(0)) << "confirmed past an uncommitted transaction";
  Apply(Commit(0x600, 60));
  Sync();
  EXPECT_EQ(writer_->durable_through(), pg::Lsn(0x608));
  writer_->NoteServerPosition(pg::Lsn(0x700));
  Sync();
  EXPECT_EQ(writer_->durable_through(), pg::Lsn(0x700));
}

// --- relation schemas ---

TEST_F(ChangeLogTest, IdenticalRelationMessageReusesTheSchemaId) {
  Apply(Accounts());
  CommitInserts(0x100, 10, 700, {"1"});
  Apply(Begin(0x200, 20, 701));
  Apply(Accounts());
  Apply(Insert("2"));
  Apply(Commit(0x200, 20));
  Sync();
  absl::StatusOr<std::map<uint32_t, proto::RelationSchema>> schemas = log_->Schemas();
  ASSERT_TRUE(schemas.ok()) << schemas.status();
  ASSERT_EQ(schemas->size(), 1u);
  const proto::RelationSchema& schema = schemas->begin()->second;
  EXPECT_EQ(schema.relid(), kAccounts);
  EXPECT_EQ(schema.namespace_(), "public");
  EXPECT_EQ(schema.name(), "accounts");
  ASSERT_EQ(schema.columns_size(), 2);
  EXPECT_EQ(schema.columns(0).name(), "id");
  EXPECT_TRUE(schema.columns(0).is_key());
  EXPECT_EQ(schema.columns(0).type_oid(), 23u);
  EXPECT_EQ(FirstSchemaId(0x100), schema.schema_id());
  EXPECT_EQ(FirstSchemaId(0x200), schema.schema_id());
}

TEST_F(ChangeLogTest, ChangedRelationGetsANewSchemaIdThatLaterChangesCarry) {
  Apply(Accounts());
  CommitInserts(0x100, 10, 700, {"1"});
  Apply(Begin(0x200, 20, 701));
  Apply(Relation(kAccounts, "accounts", {"id", "owner", "created"}));  // ALTER TABLE ... ADD COLUMN
  Apply(Insert("2"));
  Apply(Commit(0x200, 20));
  CommitInserts(0x300, 30, 702, {"3"});  // no Relation message: the new schema stays in force
  Sync();

  absl::StatusOr<std::map<uint32_t, proto::RelationSchema>> schemas = log_->Schemas();
  ASSERT_TRUE(schemas.ok()) << schemas.status();
  ASSERT_EQ(schemas->size(), 2u);
  const uint32_t old_id = FirstSchemaId(0x100);
  const uint32_t new_id = FirstSchemaId(0x200);
  EXPECT_NE(old_id, new_id);
  EXPECT_EQ(schemas->at(old_id).columns_size(), 2);
  EXPECT_EQ(schemas->at(new_id).columns_size(), 3);
  EXPECT_EQ(schemas->at(new_id).relid(), kAccounts);
  EXPECT_EQ(FirstSchemaId(0x300), new_id);
}

TEST_F(ChangeLogTest, SchemaInForceSurvivesRestart) {
  Apply(Accounts());
  Apply(Relation(kAccounts, "accounts", {"id", "owner", "created"}));
  CommitInserts(0x100, 10, 700, {"1"});
  Sync();
  Reopen();
  // pgoutput describes every relation again on a new connection.
  Apply(Relation(kAccounts, "accounts", {"id", "owner", "created"}));
  CommitInserts(0x200, 20, 701, {"2"});
  Sync();
  absl::StatusOr<std::map<uint32_t, proto::RelationSchema>> schemas = log_->Schemas();
  ASSERT_TRUE(schemas.ok()) << schemas.status();
  EXPECT_EQ(schemas->size(), 2u);
  EXPECT_EQ(FirstSchemaId(0x200), FirstSchemaId(0x100));
}

// Every way a Relation message can differ from the schema in force, each a new schema version.
struct SchemaChange {
  std::string name;
  std::function<void(RelationMessage*)> change;
};

class ChangeLogSchemaChange : public ChangeLogTest, public ::testing::WithParamInterface<SchemaChange> {};

TEST_P(ChangeLogSchemaChange, IsANewSchemaThatLaterChangesCarry) {
  Apply(Accounts());
  CommitInserts(0x100, 10, 700, {"1"});
  RelationMessage changed = Accounts();
  GetParam().change(&changed);
  Apply(changed);
  CommitInserts(0x200, 20, 701, {"2"});
  Sync();
  absl::StatusOr<std::map<uint32_t, proto::RelationSchema>> schemas = log_->Schemas();
  ASSERT_TRUE(schemas.ok()) << schemas.status();
  EXPECT_EQ(schemas->size(), 2u);
  EXPECT_NE(FirstSchemaId(0x200), FirstSchemaId(0x100));
}

INSTANTIATE_TEST_SUITE_P(
    ChangeLog, ChangeLogSchemaChange,
    ::testing::Values(SchemaChange{"ColumnAdded",
                                   [](RelationMessage* m) {
                                     m->columns.push_back(RelationColumn{
                                         .is_key = false, .name = "created", .type_oid = 1184, .type_modifier = -1});
                                   }},
                      SchemaChange{"ColumnDropped", [](RelationMessage* m) { m->columns.pop_back(); }},
                      SchemaChange{"ColumnRenamed", [](RelationMessage* m) { m->columns[1].name = "holder"; }},
                      SchemaChange{"ColumnRetyped", [](RelationMessage* m) { m->columns[1].type_oid = 1043; }},
                      SchemaChange{"TypeModifierChanged",
                                   [](RelationMessage* m) { m->columns[1].type_modifier = 104; }},
                      SchemaChange{"KeyChanged", [](RelationMessage* m) { m->columns[1].is_key = true; }},
                      SchemaChange{"ReplicaIdentityChanged", [](RelationMessage* m) { m->replica_identity = 'f'; }},
                      SchemaChange{"RelationRenamed", [](RelationMessage* m) { m->relation_name = "clients"; }},
                      SchemaChange{"NamespaceChanged", [](RelationMessage* m) { m->namespace_name = "archive"; }}),
    [](const ::testing::TestParamInfo<SchemaChange>& info) { return info.param.name; });

TEST_F(ChangeLogTest, TypeMessagesAreStored) {
  Apply(TypeMessage{.xid = std::nullopt, .type_oid = 16385, .namespace_name = "public", .type_name = "mood"});
  Sync();
  absl::StatusOr<std::map<uint32_t, proto::TypeInfo>> types = log_->Types();
  ASSERT_TRUE(types.ok()) << types.status();
  ASSERT_EQ(types->count(16385), 1u);
  EXPECT_EQ(types->at(16385).name(), "mood");
  EXPECT_EQ(types->at(16385).namespace_(), "public");
}

// --- protocol violations ---

TEST_F(ChangeLogTest, ChangeOutsideATransactionIsAnError) {
  Apply(Accounts());
  absl::Status s = writer_->Apply(Insert("1"));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST_F(ChangeLogTest, ChangeForAnUndescribedRelationIsAnError) {
  Apply(Begin(0x100, 10, 700));
  absl::Status s = writer_->Apply(Insert("1", std::nullopt, /*relid=*/99999));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("99999"), std::string_view::npos) << s;
}

TEST_F(ChangeLogTest, CommitForAnotherLsnThanBeginIsAnError) {
  Apply(Accounts());
  Apply(Begin(0x100, 10, 700));
  Apply(Insert("1"));
  absl::Status s = writer_->Apply(Commit(0x180, 10));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST_F(ChangeLogTest, BeginInsideATransactionIsAnError) {
  Apply(Begin(0x100, 10, 700));
  absl::Status s = writer_->Apply(Begin(0x200, 20, 701));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

// --- streamed transactions ---

TEST_F(ChangeLogTest, InterleavedStreamedTransactionsKeepTheirOwnChanges) {
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Apply(Insert("a1", 800));
  Apply(Insert("a2", 800));
  Apply(StreamStopMessage{});
  Apply(StreamStart(900, true));
  Apply(Insert("b1", 900));
  Apply(StreamStopMessage{});
  // A small ordinary transaction commits while both are in progress.
  CommitInserts(0x100, 10, 700, {"plain"});
  Apply(StreamStart(800, false));
  Apply(Insert("a3", 800));
  Apply(StreamStopMessage{});
  Apply(StreamStart(900, false));
  Apply(Insert("b2", 900));
  Apply(StreamStopMessage{});
  Sync();
  EXPECT_EQ(CommitLsns(), std::vector<uint64_t>{0x100}) << "a streamed transaction showed before its commit";

  Apply(StreamCommit(900, 0x200, 20));
  Apply(StreamCommit(800, 0x300, 30));
  Sync();
  EXPECT_EQ(CommitLsns(), (std::vector<uint64_t>{0x100, 0x200, 0x300}));
  EXPECT_EQ(Ids(0x200), (Strings{"b1", "b2"}));
  EXPECT_EQ(Ids(0x300), (Strings{"a1", "a2", "a3"}));
  EXPECT_EQ(Txn(0x300).xid(), 800u);
  EXPECT_EQ(Txn(0x300).row_count(), 3u);
  EXPECT_EQ(writer_->durable_through(), pg::Lsn(0x308));
  EXPECT_EQ(Pending(), std::vector<uint64_t>{});
}

TEST_F(ChangeLogTest, StreamAbortOfASubtransactionRemovesExactlyItsChanges) {
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Apply(Insert("top1", 800));
  Apply(Insert("sub1", 801));  // SAVEPOINT s1
  Apply(Insert("sub2", 801));
  Apply(StreamStopMessage{});
  Apply(StreamStart(900, true));  // another transaction streams in between
  Apply(Insert("other", 900));
  Apply(StreamStopMessage{});
  Sync();                                                // the subtransaction's changes are on disk before its abort
  Apply(StreamAbortMessage{.xid = 800, .subxid = 801});  // ROLLBACK TO s1
  Apply(StreamStart(800, false));
  Apply(Insert("top2", 800));
  Apply(StreamStopMessage{});
  Apply(StreamCommit(800, 0x300, 30));
  Apply(StreamCommit(900, 0x400, 40));
  Sync();

  EXPECT_EQ(Ids(0x300), (Strings{"top1", "top2"}));
  EXPECT_EQ(Txn(0x300).change_count(), 2u);
  EXPECT_EQ(Txn(0x300).row_count(), 2u) << "rows of the aborted subtransaction were counted";
  EXPECT_EQ(Ids(0x400), Strings{"other"});
  EXPECT_EQ(writer_->state().rows(), 3u);
  EXPECT_EQ(StoredChangeRecords(), 2u);  // one chunk each
}

TEST_F(ChangeLogTest, AMarkInARolledBackSubtransactionIsNotMade) {
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Apply(Insert("top1", 800));
  Apply(LogicalMessage{.xid = 801,
                       .transactional = true,
                       .lsn = pg::Lsn(0x150),
                       .prefix = pg::kMarkMessagePrefix,
                       .content = "inside-s1"});
  Apply(Insert("sub1", 801));  // SAVEPOINT s1
  Apply(StreamStopMessage{});
  Apply(StreamAbortMessage{.xid = 800, .subxid = 801});  // ROLLBACK TO s1
  Apply(StreamStart(800, false));
  Apply(LogicalMessage{
      .xid = 800, .transactional = true, .lsn = pg::Lsn(0x250), .prefix = pg::kMarkMessagePrefix, .content = "kept"});
  Apply(StreamStopMessage{});
  Apply(StreamCommit(800, 0x300, 30));
  Sync();

  absl::StatusOr<std::optional<proto::Mark>> inside = log_->GetMark("inside-s1");
  ASSERT_TRUE(inside.ok()) << inside.status();
  EXPECT_FALSE(inside->has_value()) << "a mark made inside a rolled-back savepoint was kept";
  absl::StatusOr<std::optional<proto::Mark>> kept = log_->GetMark("kept");
  ASSERT_TRUE(kept.ok()) << kept.status();
  ASSERT_TRUE(kept->has_value());
  EXPECT_EQ((*kept)->commit_lsn(), 0x300u);
  EXPECT_EQ(Txn(0x300).change_count(), 2u);  // top1 and the "kept" message
}

// A logical message is placed at its record's end, which is where the next record starts; the
// server merges a transaction's subtransactions by that position, so a message emitted inside a
// savepoint can arrive after the changes of the very next record (BEGIN; SAVEPOINT s; emit; RELEASE s;
// INSERT). Stored, the message comes first, as on the source.
LogicalMessage Ddl(std::optional<uint32_t> xid, uint64_t lsn, std::string content) {
  return LogicalMessage{
      .xid = xid, .transactional = true, .lsn = pg::Lsn(lsn), .prefix = pg::kDdlEventMessagePrefix, .content = content};
}

TEST_F(ChangeLogTest, AMessageSentAfterTheChangesOfTheRecordAtItsEndGoesBeforeThem) {
  Apply(Accounts());
  Apply(Begin(0x300, 30, 800));
  Apply(Insert("before"), 0x100);
  Apply(Insert("multi1"), 0x180);  // one record, several rows (COPY, a multi-insert)
  Apply(Insert("multi2"), 0x180);
  Apply(Ddl(std::nullopt, 0x180, "{}"), 0x180);
  Apply(Insert("after"), 0x200);
  Apply(Commit(0x300, 30));
  Sync();
  EXPECT_EQ(Ids(0x300), (Strings{"before", "message {}", "multi1", "multi2", "after"}));
  EXPECT_EQ(Txn(0x300).row_count(), 4u);
}

TEST_F(ChangeLogTest, AMessageAtTheEndOfTheRecordBeforeStaysWhereItIs) {
  Apply(Accounts());
  Apply(Begin(0x300, 30, 800));
  Apply(Insert("before"), 0x100);
  Apply(Ddl(std::nullopt, 0x180, "{}"), 0x180);  // the insert at 0x100 ended before 0x180
  Apply(Insert("after"), 0x180);
  Apply(Commit(0x300, 30));
  Sync();
  EXPECT_EQ(Ids(0x300), (Strings{"before", "message {}", "after"}));
}

// Streamed: the message's subtransaction, and its place, go with it when a subtransaction aborts.
TEST_F(ChangeLogTest, AMessagePutBeforeItsFollowingRecordKeepsItsSubtransaction) {
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Apply(Insert("top1", 800), 0x100);
  Apply(Insert("s2row", 802), 0x180);  // SAVEPOINT s1 (801) emitted the message; RELEASE s1; SAVEPOINT s2
  Apply(Ddl(801, 0x180, "{}"), 0x180);
  Apply(Insert("s2row2", 802), 0x200);
  Apply(StreamStopMessage{});
  Apply(StreamAbortMessage{.xid = 800, .subxid = 802});  // ROLLBACK TO s2: the message stays
  Apply(StreamStart(800, false));
  Apply(Insert("top2", 800), 0x280);
  Apply(StreamStopMessage{});
  Apply(StreamCommit(800, 0x300, 30));
  Sync();
  EXPECT_EQ(Ids(0x300), (Strings{"top1", "message {}", "top2"}));
  EXPECT_EQ(Txn(0x300).row_count(), 2u);
}

TEST_F(ChangeLogTest, AMessagePutBeforeItsFollowingRecordGoesWithItsOwnSubtransaction) {
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Apply(Insert("top1", 800), 0x100);
  // SAVEPOINT s1 (801); SAVEPOINT s2 (802) emits the message; RELEASE s2; an insert in s1.
  Apply(Insert("s1row", 801), 0x180);
  Apply(Ddl(802, 0x180, "{}"), 0x180);
  Apply(StreamStopMessage{});
  Apply(StreamAbortMessage{.xid = 800, .subxid = 802});  // ROLLBACK TO s1 aborts s2 and s1
  Apply(StreamAbortMessage{.xid = 800, .subxid = 801});
  Apply(StreamStart(800, false));
  Apply(Insert("top2", 800), 0x280);
  Apply(StreamStopMessage{});
  Apply(StreamCommit(800, 0x300, 30));
  Sync();
  EXPECT_EQ(Ids(0x300), (Strings{"top1", "top2"}));
  EXPECT_EQ(Txn(0x300).row_count(), 2u);
}

// The changes of the record that follows the message may already be in a written chunk.
TEST_F(ChangeLogTest, AMessageGoesBeforeItsFollowingRecordsChangesAlreadyWritten) {
  Apply(Accounts());
  Apply(Begin(0x300, 30, 800));
  Apply(Insert("before"), 0x100);
  Strings expected{"before", "message {}"};
  for (int i = 0; i < 5000; ++i) {  // several chunks from one record
    expected.push_back("row" + std::to_string(i));
    Apply(Insert(expected.back()), 0x180);
  }
  ASSERT_GT(StoredChangeRecords() + writer_->buffered_bytes(), 0u);
  Apply(Ddl(std::nullopt, 0x180, "{}"), 0x180);
  Apply(Insert("after"), 0x200);
  expected.push_back("after");
  Apply(Commit(0x300, 30));
  Sync();
  EXPECT_EQ(Ids(0x300), expected);
  EXPECT_EQ(Txn(0x300).change_count(), 5003u);
  EXPECT_EQ(Pending(), std::vector<uint64_t>{});
}

TEST_F(ChangeLogTest, StreamAbortOfASubtransactionAlsoRemovesTheChangesAfterIt) {
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Apply(Insert("top1", 800));
  Apply(Insert("sub1", 801));     // SAVEPOINT s1
  Apply(Insert("nested1", 802));  // SAVEPOINT s2, inside s1
  Apply(Insert("sub1b", 801));    // RELEASE s2; back in s1
  Apply(StreamStopMessage{});
  Apply(StreamAbortMessage{.xid = 800, .subxid = 802});  // the server aborts the nested one...
  Apply(StreamAbortMessage{.xid = 800, .subxid = 801});  // ...and then s1 (ROLLBACK TO s1)
  Apply(StreamCommit(800, 0x300, 30));
  Sync();
  EXPECT_EQ(Ids(0x300), Strings{"top1"});
  EXPECT_EQ(Txn(0x300).row_count(), 1u);
  EXPECT_EQ(StoredChangeRecords(), 1u);
}

// The server does not send a Stream Abort for a subtransaction whose changes it streamed from its
// spill files (it does not mark it as streamed): at the commit, the writer asks which of the
// subtransactions it holds changes of aborted, and leaves exactly theirs out, wherever they are:
// in chunks already written, in the buffer, before and among the top transaction's later changes.
TEST_F(ChangeLogTest, ASubtransactionAbortedWithoutAStreamAbortIsLeftOutAtCommit) {
  std::vector<std::vector<uint32_t>> asked;
  writer_->SetAbortedSubtransactions([&](uint32_t xid, const std::vector<uint32_t>& subxids) {
    EXPECT_EQ(xid, 800u);
    asked.push_back(subxids);
    return absl::StatusOr<std::vector<uint32_t>>(std::vector<uint32_t>{801});
  });
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Apply(Insert("top1", 800));
  for (int i = 0; i < 3000; ++i) Apply(Insert(fmt::format("rolled-back-{}", i), 801));  // several chunks
  Apply(LogicalMessage{.xid = 801,
                       .transactional = true,
                       .lsn = pg::Lsn(0x150),
                       .prefix = pg::kMarkMessagePrefix,
                       .content = "inside-s1"});
  Apply(StreamStopMessage{});
  Sync();  // on disk, under the pending marker
  Apply(StreamStart(800, false));
  Apply(Insert("released", 802));  // SAVEPOINT s2 ... RELEASE s2: committed with the transaction
  Apply(Insert("top2", 800));      // after ROLLBACK TO s1, of which no Stream Abort came
  Apply(LogicalMessage{
      .xid = 800, .transactional = true, .lsn = pg::Lsn(0x250), .prefix = pg::kMarkMessagePrefix, .content = "kept"});
  Apply(StreamStopMessage{});
  Apply(StreamCommit(800, 0x300, 30));
  Sync();

  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0], (std::vector<uint32_t>{801, 802}));
  EXPECT_EQ(Ids(0x300), (Strings{"top1", "released", "top2", "message kept"}));
  EXPECT_EQ(Txn(0x300).row_count(), 3u);
  EXPECT_EQ(Txn(0x300).change_count(), 4u);  // and the "kept" message
  EXPECT_EQ(writer_->state().rows(), 3u);
  EXPECT_EQ(writer_->aborted_at_commit(), 1u);
  absl::StatusOr<std::optional<proto::Mark>> inside = log_->GetMark("inside-s1");
  ASSERT_TRUE(inside.ok()) << inside.status();
  EXPECT_FALSE(inside->has_value()) << "a mark of the aborted subtransaction was made";
  absl::StatusOr<std::optional<proto::Mark>> kept = log_->GetMark("kept");
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_TRUE(kept->has_value());
  EXPECT_EQ(StoredChangeRecords(), 1u) << "the aborted subtransaction's chunks were left behind";
  absl::StatusOr<std::vector<uint64_t>> pending = log_->PendingStorageIds();
  ASSERT_TRUE(pending.ok());
  EXPECT_TRUE(pending->empty());
}

TEST_F(ChangeLogTest, AStreamedCommitWhoseSubtransactionsAllCommittedKeepsEverything) {
  int asked = 0;
  writer_->SetAbortedSubtransactions([&](uint32_t, const std::vector<uint32_t>&) {
    ++asked;
    return absl::StatusOr<std::vector<uint32_t>>(std::vector<uint32_t>{});
  });
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Apply(Insert("top1", 800));
  Apply(Insert("released", 801));
  Apply(StreamStopMessage{});
  Apply(StreamCommit(800, 0x300, 30));
  // A streamed transaction without subtransactions asks nothing.
  Apply(StreamStart(900, true));
  Apply(Insert("only-top", 900));
  Apply(StreamStopMessage{});
  Apply(StreamCommit(900, 0x400, 40));
  Sync();
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(Ids(0x300), (Strings{"top1", "released"}));
  EXPECT_EQ(Ids(0x400), Strings{"only-top"});
}

TEST_F(ChangeLogTest, WhenTheSourceCannotTellASubtransactionsOutcomeTheCommitFails) {
  writer_->SetAbortedSubtransactions([&](uint32_t, const std::vector<uint32_t>&) {
    return absl::StatusOr<std::vector<uint32_t>>(absl::DataLossError("status no longer kept"));
  });
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Apply(Insert("sub", 801));
  Apply(StreamStopMessage{});
  absl::Status s = writer_->Apply(StreamCommit(800, 0x300, 30));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(writer_->state().transactions(), 0u) << "a transaction of unknown content was stored";
}

TEST_F(ChangeLogTest, StreamAbortOfAnUnknownSubtransactionChangesNothing) {
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Apply(Insert("top1", 800));
  Apply(Insert("sub1", 801));
  Apply(StreamStopMessage{});
  Apply(StreamAbortMessage{.xid = 800, .subxid = 805});  // a subtransaction that changed nothing
  Apply(StreamAbortMessage{.xid = 777, .subxid = 777});  // a transaction never streamed here
  Apply(StreamCommit(800, 0x300, 30));
  Sync();
  EXPECT_EQ(Ids(0x300), (Strings{"top1", "sub1"}));
}

TEST_F(ChangeLogTest, SubtransactionAbortingEverythingThenNewChanges) {
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Apply(Insert("sub1", 801));
  Apply(StreamStopMessage{});
  Sync();
  Apply(StreamAbortMessage{.xid = 800, .subxid = 801});
  Sync();
  EXPECT_EQ(Pending(), std::vector<uint64_t>{}) << "a transaction with no changes left is not pending";
  Apply(StreamStart(800, false));
  Apply(Insert("top1", 800));
  Apply(StreamStopMessage{});
  Sync();
  EXPECT_EQ(Pending().size(), 1u);
  Apply(StreamCommit(800, 0x300, 30));
  Sync();
  EXPECT_EQ(Ids(0x300), Strings{"top1"});
  EXPECT_EQ(Pending(), std::vector<uint64_t>{});
}

TEST_F(ChangeLogTest, StreamAbortOfTheWholeTransactionRemovesAllItsChanges) {
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Apply(Insert("a1", 800));
  Apply(Insert("a2", 801));
  Apply(StreamStopMessage{});
  Apply(StreamStart(900, true));
  Apply(Insert("b1", 900));
  Apply(StreamStopMessage{});
  Sync();
  Apply(StreamAbortMessage{.xid = 800, .subxid = 800});
  Apply(StreamCommit(900, 0x400, 40));
  Sync();
  EXPECT_EQ(CommitLsns(), std::vector<uint64_t>{0x400});
  EXPECT_EQ(Ids(0x400), Strings{"b1"});
  EXPECT_EQ(StoredChangeRecords(), 1u);
  EXPECT_EQ(Pending(), std::vector<uint64_t>{});
  EXPECT_EQ(writer_->state().transactions(), 1u);
}

TEST_F(ChangeLogTest, StreamCommitWithNothingStreamedIsAnEmptyTransaction) {
  Apply(StreamCommit(800, 0x300, 30));
  Sync();
  std::optional<proto::Transaction> txn = Get(0x300);
  ASSERT_TRUE(txn.has_value());
  EXPECT_EQ(txn->change_count(), 0u);
  EXPECT_EQ(Changes(*txn).size(), 0u);
  EXPECT_EQ(writer_->durable_through(), pg::Lsn(0x308));
}

TEST_F(ChangeLogTest, RelationSentInsideAStreamIsInForceAfterItsCommit) {
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Apply(Relation(kAccounts, "accounts", {"id", "owner", "created"}, 800));
  Apply(Insert("s1", 800));
  Apply(StreamStopMessage{});
  // Meanwhile an ordinary transaction still writes under the old schema.
  CommitInserts(0x100, 10, 700, {"plain"});
  Apply(StreamCommit(800, 0x200, 20));
  CommitInserts(0x300, 30, 702, {"after"});
  Sync();
  const uint32_t old_id = FirstSchemaId(0x100);
  const uint32_t streamed_id = FirstSchemaId(0x200);
  EXPECT_NE(old_id, streamed_id);
  EXPECT_EQ(FirstSchemaId(0x300), streamed_id);
}

TEST_F(ChangeLogTest, StreamStartInsideATransactionIsAnError) {
  Apply(Begin(0x100, 10, 700));
  absl::Status s = writer_->Apply(StreamStart(800, true));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

// --- reading by LSN and by time ---

// Commits at LSN 100, 200, 300 with a schema, a type, a pending transaction and a sequence sample
// around them, so that seeks past either end land on other kinds of keys.
class ChangeLogLookup : public ChangeLogTest {
 protected:
  void SetUp() override {
    ChangeLogTest::SetUp();
    Apply(TypeMessage{.xid = std::nullopt, .type_oid = 16385, .namespace_name = "public", .type_name = "mood"});
    Apply(Accounts());
    CommitInserts(100, 10, 700, {"a"});
    CommitInserts(200, 20, 701, {"b"});
    CommitInserts(300, 30, 702, {"c"});
    proto::SequenceSample sample;
    auto* seq = sample.add_sequences();
    seq->set_namespace_("public");
    seq->set_name("accounts_id_seq");
    seq->set_last_value(3);
    ASSERT_TRUE(writer_->PutSequenceSample(sample, pg::Lsn(310), 31).ok());
    Apply(Begin(400, 40, 703));
    Apply(Insert("open"));
    Sync();
  }
};

TEST_F(ChangeLogLookup, LastCommitAtOrBefore) {
  EXPECT_EQ(LsnOf(log_->LastCommitAtOrBefore(pg::Lsn(0))), std::nullopt);
  EXPECT_EQ(LsnOf(log_->LastCommitAtOrBefore(pg::Lsn(99))), std::nullopt);
  EXPECT_EQ(LsnOf(log_->LastCommitAtOrBefore(pg::Lsn(100))), 100u);
  EXPECT_EQ(LsnOf(log_->LastCommitAtOrBefore(pg::Lsn(199))), 100u);
  EXPECT_EQ(LsnOf(log_->LastCommitAtOrBefore(pg::Lsn(200))), 200u);
  EXPECT_EQ(LsnOf(log_->LastCommitAtOrBefore(pg::Lsn(300))), 300u);
  EXPECT_EQ(LsnOf(log_->LastCommitAtOrBefore(pg::Lsn(400))), 300u) << "an uncommitted transaction";
  EXPECT_EQ(LsnOf(log_->LastCommitAtOrBefore(kMaxLsn)), 300u);
}

TEST_F(ChangeLogLookup, FirstCommitAtOrAfter) {
  EXPECT_EQ(LsnOf(log_->FirstCommitAtOrAfter(pg::Lsn(0))), 100u);
  EXPECT_EQ(LsnOf(log_->FirstCommitAtOrAfter(pg::Lsn(100))), 100u);
  EXPECT_EQ(LsnOf(log_->FirstCommitAtOrAfter(pg::Lsn(101))), 200u);
  EXPECT_EQ(LsnOf(log_->FirstCommitAtOrAfter(pg::Lsn(300))), 300u);
  EXPECT_EQ(LsnOf(log_->FirstCommitAtOrAfter(pg::Lsn(301))), std::nullopt);
  EXPECT_EQ(LsnOf(log_->FirstCommitAtOrAfter(kMaxLsn)), std::nullopt);
}

TEST_F(ChangeLogLookup, ForEachTransactionBoundsAreInclusive) {
  EXPECT_EQ(CommitLsns(pg::Lsn(100), pg::Lsn(300)), (std::vector<uint64_t>{100, 200, 300}));
  EXPECT_EQ(CommitLsns(pg::Lsn(101), pg::Lsn(299)), std::vector<uint64_t>{200});
  EXPECT_EQ(CommitLsns(pg::Lsn(200), pg::Lsn(200)), std::vector<uint64_t>{200});
  EXPECT_EQ(CommitLsns(pg::Lsn(0), pg::Lsn(99)), std::vector<uint64_t>{});
  EXPECT_EQ(CommitLsns(pg::Lsn(301), kMaxLsn), std::vector<uint64_t>{});
  EXPECT_EQ(CommitLsns(pg::Lsn(300), pg::Lsn(100)), std::vector<uint64_t>{});
  EXPECT_EQ(CommitLsns(pg::Lsn(0), kMaxLsn), (std::vector<uint64_t>{100, 200, 300}));
}

TEST_F(ChangeLogLookup, ForEachTransactionStopsAtTheVisitorsError) {
  std::vector<uint64_t> seen;
  absl::Status s = log_->ForEachTransaction(pg::Lsn(0), kMaxLsn, [&](const proto::Transaction& t) {
    seen.push_back(t.commit_lsn());
    return t.commit_lsn() == 200 ? absl::CancelledError("enough") : absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(seen, (std::vector<uint64_t>{100, 200}));
}

TEST_F(ChangeLogLookup, SequenceSamplesFromAnLsn) {
  std::vector<uint64_t> from_0, from_311;
  ASSERT_TRUE(log_->ForEachSequenceSample(pg::Lsn(0),
                                          [&](const proto::SequenceSample& s) {
                                            from_0.push_back(s.check_lsn());
                                            EXPECT_EQ(s.check_time(), 31);
                                            EXPECT_EQ(s.sequences(0).last_value(), 3);
                                            return absl::OkStatus();
                                          })
                  .ok());
  ASSERT_TRUE(log_->ForEachSequenceSample(pg::Lsn(311),
                                          [&](const proto::SequenceSample& s) {
                                            from_311.push_back(s.check_lsn());
                                            return absl::OkStatus();
                                          })
                  .ok());
  EXPECT_EQ(from_0, std::vector<uint64_t>{310});
  EXPECT_EQ(from_311, std::vector<uint64_t>{});
}

TEST_F(ChangeLogTest, LastCommitNotAfterTimeFollowsTheRunningMaximum) {
  // Commit times are not monotonic in commit order: the commit at 300 was stamped before the one
  // at 200. Recovery to time T replays in commit order and stops before the first commit after T.
  Apply(Accounts());
  CommitInserts(100, 10, 700, {"a"});
  CommitInserts(200, 30, 701, {"b"});
  CommitInserts(300, 20, 702, {"c"});
  CommitInserts(400, 40, 703, {"d"});
  Sync();
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(5)), std::nullopt);
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(9)), std::nullopt);
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(10)), 100u);
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(20)), 100u) << "300 is at 20, but 200 (at 30) precedes it";
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(25)), 100u);
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(29)), 100u);
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(30)), 300u);
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(35)), 300u);
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(40)), 400u);
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(int64_t{1} << 60)), 400u);
}

TEST_F(ChangeLogTest, TimeIndexRunningMaximumSurvivesRestart) {
  Apply(Accounts());
  CommitInserts(100, 10, 700, {"a"});
  CommitInserts(200, 30, 701, {"b"});
  Sync();
  Reopen();
  Apply(Accounts());
  CommitInserts(300, 20, 702, {"c"});
  Sync();
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(25)), 100u);
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(30)), 300u);
}

TEST_F(ChangeLogTest, TimeIndexOrdersTimesBeforePostgresEpoch) {
  // Times before 2000-01-01 are negative; the index must still order them before later ones.
  Apply(Accounts());
  CommitInserts(100, -100, 700, {"a"});
  CommitInserts(200, -50, 701, {"b"});
  CommitInserts(300, 50, 702, {"c"});
  Sync();
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(-101)), std::nullopt);
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(-100)), 100u);
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(-60)), 100u);
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(-50)), 200u);
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(0)), 200u);
  EXPECT_EQ(LsnOf(log_->LastCommitNotAfterTime(50)), 300u);
}

// --- damage ---

TEST_F(ChangeLogLookup, DamagedTransactionRecordIsDataLoss) {
  ASSERT_TRUE(keys::Database(*log_)
                  ->Put(rocksdb::WriteOptions(), keys::Transaction(pg::Lsn(250)), std::string("\xff\xff\xff", 3))
                  .ok());
  EXPECT_EQ(log_->GetTransaction(pg::Lsn(250)).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(log_->LastCommitAtOrBefore(pg::Lsn(250)).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(log_->FirstCommitAtOrAfter(pg::Lsn(201)).status().code(), absl::StatusCode::kDataLoss);
  absl::Status s =
      log_->ForEachTransaction(pg::Lsn(0), kMaxLsn, [](const proto::Transaction&) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("damaged"), std::string_view::npos) << s;
  // Records around it still read.
  EXPECT_EQ(LsnOf(log_->LastCommitAtOrBefore(pg::Lsn(249))), 200u);
  EXPECT_EQ(LsnOf(log_->FirstCommitAtOrAfter(pg::Lsn(251))), 300u);
}

TEST_F(ChangeLogLookup, ADamagedCatalogCheckIsDataLossAndVerifyNamesIt) {
  ASSERT_TRUE(keys::Database(*log_)
                  ->Put(rocksdb::WriteOptions(), keys::CatalogCheck(pg::Lsn(0x250)), std::string("\xff\xff\xff", 3))
                  .ok());
  absl::Status s = log_->ForEachCatalogCheck(pg::Lsn(), [](const proto::CatalogCheck&) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_EQ(log_->LastCatalogCheck().status().code(), absl::StatusCode::kDataLoss);
  absl::StatusOr<ChangeLog::Check> check = log_->VerifyScan(pg::Lsn());
  ASSERT_TRUE(check.ok()) << check.status();
  ASSERT_EQ(check->problems.size(), 1u);
  EXPECT_NE(check->problems[0].what.find("the catalog check at LSN 0/250 is damaged"), std::string::npos)
      << check->problems[0].what;
  EXPECT_EQ(check->problems[0].from, pg::Lsn(0x250));
}

TEST_F(ChangeLogLookup, DamagedChangeRecordIsDataLoss) {
  std::optional<proto::Transaction> txn = Get(200);
  ASSERT_TRUE(txn.has_value());
  ASSERT_TRUE(keys::Database(*log_)
                  ->Put(rocksdb::WriteOptions(), keys::Chunk(txn->storage_id(), 0), std::string("\xff\xff\xff", 3))
                  .ok());
  absl::Status s = log_->ForEachChange(*txn, [](const proto::Change&) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST_F(ChangeLogLookup, MissingChangeRecordIsDataLoss) {
  std::optional<proto::Transaction> txn = Get(200);
  ASSERT_TRUE(txn.has_value());
  ASSERT_TRUE(keys::Database(*log_)->Delete(rocksdb::WriteOptions(), keys::Chunk(txn->storage_id(), 0)).ok());
  absl::Status s = log_->ForEachChange(*txn, [](const proto::Change&) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST_F(ChangeLogTest, DamagedStateIsDataLossForReadersAndTheWriter) {
  ASSERT_TRUE(keys::Database(*log_)->Put(rocksdb::WriteOptions(), keys::State(), std::string("\xff\xff\xff", 3)).ok());
  EXPECT_EQ(log_->State().status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ChangeLogWriter::Create(log_.get()).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(ChangeLogTest, NewerFormatVersionIsRefused) {
  proto::CaptureState state;
  state.set_format_version(kChangeLogFormatVersion + 1);
  ASSERT_TRUE(keys::Database(*log_)->Put(rocksdb::WriteOptions(), keys::State(), state.SerializeAsString()).ok());
  EXPECT_EQ(log_->State().status().code(), absl::StatusCode::kFailedPrecondition);
}

// --- opening ---

TEST(ChangeLog, ReadOnlyOpenOfAMissingLogIsNotFound) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<ChangeLog>> log = ChangeLog::Open(dir.path() / "nothing", ChangeLog::Mode::kReadOnly);
  EXPECT_EQ(log.status().code(), absl::StatusCode::kNotFound) << log.status();
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "nothing")) << "a read-only open created it";
}

TEST(ChangeLog, SecondWriterIsRefusedWhileTheFirstIsOpen) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<ChangeLog>> first = ChangeLog::Open(dir.path() / "cl", ChangeLog::Mode::kWriter);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::unique_ptr<ChangeLog>> second = ChangeLog::Open(dir.path() / "cl", ChangeLog::Mode::kWriter);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
}

TEST_F(ChangeLogTest, ReadOnlyOpenSeesSyncedCommits) {
  Apply(Accounts());
  CommitInserts(100, 10, 700, {"a", "b"});
  Sync();
  absl::StatusOr<std::unique_ptr<ChangeLog>> reader =
      ChangeLog::Open(dir_.path() / "changelog", ChangeLog::Mode::kReadOnly);
  ASSERT_TRUE(reader.ok()) << reader.status();
  absl::StatusOr<std::optional<proto::Transaction>> txn = (*reader)->GetTransaction(pg::Lsn(100));
  ASSERT_TRUE(txn.ok()) << txn.status();
  ASSERT_TRUE(txn->has_value());
  EXPECT_EQ((*txn)->change_count(), 2u);
}

// --- a transaction larger than memory should hold ---

TEST_F(ChangeLogTest, LargeTransactionIsSpilledBeforeCommitAndCommitsWhole) {
  constexpr int kRows = 300'000;
  constexpr size_t kBound = 20u << 20;
  Apply(Accounts());
  Apply(Begin(0x9000, 90, 710));
  size_t max_buffered = 0;
  for (int i = 0; i < kRows; ++i) {
    absl::Status s = writer_->Apply(InsertMessage{
        .xid = std::nullopt, .relid = kAccounts, .new_tuple = Row({std::to_string(i), "owner-with-some-padding"})});
    ASSERT_TRUE(s.ok()) << "row " << i << ": " << s;
    max_buffered = std::max(max_buffered, writer_->buffered_bytes());
  }
  EXPECT_LT(max_buffered, kBound);
  EXPECT_EQ(Pending().size(), 1u) << "nothing reached RocksDB before the commit";
  EXPECT_GT(StoredChangeRecords(), 10u) << "not stored in chunks";
  std::unique_ptr<rocksdb::Iterator> it(keys::Database(*log_)->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("C"); it->Valid() && it->key()[0] == 'C'; it->Next()) {
    EXPECT_LT(it->value().size(), 256u << 10) << "a chunk is not bounded";
  }
  EXPECT_EQ(Get(0x9000), std::nullopt);
  Apply(Commit(0x9000, 90));
  Sync();

  std::optional<proto::Transaction> txn = Get(0x9000);
  ASSERT_TRUE(txn.has_value());
  EXPECT_EQ(txn->change_count(), static_cast<uint64_t>(kRows));
  EXPECT_EQ(txn->row_count(), static_cast<uint64_t>(kRows));
  int next = 0;
  absl::Status s = log_->ForEachChange(*txn, [&](const proto::Change& c) {
    if (c.new_tuple().values(0).data() != std::to_string(next)) {
      return absl::InternalError("change " + std::to_string(next) + " out of order: " + c.new_tuple().values(0).data());
    }
    ++next;
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(next, kRows);
  EXPECT_EQ(Pending(), std::vector<uint64_t>{});
}

// --- storage: chunks, and the row-change encoding ---

TEST_F(ChangeLogTest, SmallTransactionIsStoredAsOneChunkWithoutAPendingMarker) {
  Apply(Accounts());
  CommitInserts(0x100, 10, 700, {"1", "2", "3", "4"});
  Sync();
  EXPECT_EQ(StoredChangeRecords(), 1u);
  EXPECT_EQ(Pending(), std::vector<uint64_t>{});
  EXPECT_EQ(Ids(0x100), (Strings{"1", "2", "3", "4"}));
}

// A subtransaction of a streamed transaction aborts after its first changes were written in a chunk
// shared with the changes before it; with or without a Sync in between.
class ChangeLogStreamCut : public ChangeLogTest, public ::testing::WithParamInterface<bool> {};

TEST_P(ChangeLogStreamCut, AbortInsideAWrittenChunkKeepsExactlyTheChangesBeforeIt) {
  const bool sync_before_abort = GetParam();
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Strings expected;
  for (int i = 0; i < 1000; ++i) {
    expected.push_back("top" + std::to_string(i));
    Apply(Insert(expected.back(), 800));
  }
  for (int i = 0; i < 10000; ++i) Apply(Insert("sub" + std::to_string(i), 801));  // several chunks
  Apply(StreamStopMessage{});
  if (sync_before_abort) Sync();
  Apply(StreamAbortMessage{.xid = 800, .subxid = 801});
  Apply(StreamStart(800, false));
  Apply(Insert("after", 800));
  Apply(StreamStopMessage{});
  Apply(StreamCommit(800, 0x300, 30));
  Sync();
  expected.push_back("after");
  EXPECT_EQ(Ids(0x300), expected);
  EXPECT_EQ(Txn(0x300).change_count(), 1001u);
  EXPECT_EQ(Txn(0x300).row_count(), 1001u);
  EXPECT_EQ(Pending(), std::vector<uint64_t>{});
}

INSTANTIATE_TEST_SUITE_P(SyncedOrNot, ChangeLogStreamCut, ::testing::Bool());

TEST_F(ChangeLogTest, OneReaderReadsEveryTransactionInCommitOrderOrAnyOther) {
  // Storage ids out of commit order (a streamed transaction committed after plain ones that began
  // later), an empty streamed transaction, and plain ones: one reader, as replay uses it.
  Apply(Accounts());
  Apply(StreamStart(800, true));
  Apply(Insert("s1", 800));
  Apply(StreamStopMessage{});
  CommitInserts(0x100, 10, 700, {"p1", "p2"});
  Apply(StreamStart(900, true));
  Apply(StreamStopMessage{});
  CommitInserts(0x200, 20, 701, {"p3"});
  Apply(StreamStart(800, false));
  Apply(Insert("s2", 800));
  Apply(StreamStopMessage{});
  Apply(StreamCommit(800, 0x300, 30));
  Apply(StreamCommit(900, 0x400, 40));
  CommitInserts(0x500, 50, 702, {"p4", "p5", "p6"});
  Sync();

  const std::map<uint64_t, Strings> expected = {
      {0x100, {"p1", "p2"}}, {0x200, {"p3"}}, {0x300, {"s1", "s2"}}, {0x400, {}}, {0x500, {"p4", "p5", "p6"}}};
  std::unique_ptr<ChangeLog::ChangeReader> reader = log_->NewChangeReader();
  auto read = [&](uint64_t commit_lsn) {
    Strings ids;
    absl::Status s = reader->ForEachChange(Txn(commit_lsn), [&](const proto::Change& c) {
      ids.push_back(c.new_tuple().values(0).data());
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return ids;
  };
  for (uint64_t lsn : CommitLsns()) EXPECT_EQ(read(lsn), expected.at(lsn)) << pg::Lsn(lsn).ToString();
  for (uint64_t lsn : {0x500, 0x100, 0x300, 0x300, 0x400, 0x200}) {
    EXPECT_EQ(read(lsn), expected.at(lsn)) << pg::Lsn(lsn).ToString() << " read out of commit order";
  }

  // A chunk missing from the middle of the log is found by a reader that was stepping past it.
  ASSERT_TRUE(keys::Database(*log_)->Delete(rocksdb::WriteOptions(), keys::Chunk(Txn(0x200).storage_id(), 0)).ok());
  std::unique_ptr<ChangeLog::ChangeReader> fresh = log_->NewChangeReader();
  absl::Status first = fresh->ForEachChange(Txn(0x100), [](const proto::Change&) { return absl::OkStatus(); });
  EXPECT_TRUE(first.ok()) << first;
  absl::Status missing = fresh->ForEachChange(Txn(0x200), [](const proto::Change&) { return absl::OkStatus(); });
  EXPECT_EQ(missing.code(), absl::StatusCode::kDataLoss) << missing;
}

TEST_F(ChangeLogTest, VersionOneLogIsReadButNotAddedTo) {
  // A log written before chunks: one 'C' key per change, its value a proto::Change.
  writer_.reset();
  proto::CaptureState state;
  state.set_format_version(1);
  proto::Transaction txn;
  txn.set_commit_lsn(0x1000);
  txn.set_storage_id(7);
  txn.set_change_count(3);
  rocksdb::WriteBatch batch;
  ASSERT_TRUE(batch.Put(keys::State(), state.SerializeAsString()).ok());
  ASSERT_TRUE(batch.Put(keys::Transaction(pg::Lsn(0x1000)), txn.SerializeAsString()).ok());
  for (uint32_t seq = 0; seq < 3; ++seq) {
    proto::Change change;
    change.set_schema_id(100 + seq);
    ASSERT_TRUE(batch.Put(keys::Chunk(7, seq), change.SerializeAsString()).ok());
  }
  ASSERT_TRUE(keys::Write(*log_, &batch, /*sync=*/true).ok());
  log_.reset();
  OpenLog();

  absl::StatusOr<proto::CaptureState> read = log_->State();
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->format_version(), 1u);
  std::vector<uint32_t> schema_ids;
  absl::Status s = log_->ForEachChange(txn, [&](const proto::Change& c) {
    schema_ids.push_back(c.schema_id());
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(schema_ids, (std::vector<uint32_t>{100, 101, 102}));

  // Capture does not add chunks to it: a usage error that names the way out.
  absl::StatusOr<std::unique_ptr<ChangeLogWriter>> writer = ChangeLogWriter::Create(log_.get());
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(writer.status().message().find("another --repo"), std::string_view::npos) << writer.status();

  // A missing change is still found.
  ASSERT_TRUE(keys::Database(*log_)->Delete(rocksdb::WriteOptions(), keys::Chunk(7, 1)).ok());
  s = log_->ForEachChange(txn, [](const proto::Change&) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST_F(ChangeLogTest, ANewerFormatIsRefusedWithWhatToDo) {
  proto::CaptureState state;
  state.set_format_version(kChangeLogFormatVersion + 1);
  ASSERT_TRUE(keys::Database(*log_)->Put(rocksdb::WriteOptions(), keys::State(), state.SerializeAsString()).ok());
  absl::StatusOr<proto::CaptureState> read = log_->State();
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(read.status().message().find("newer pgpitr"), std::string_view::npos) << read.status();
}

struct RowChangeCase {
  std::string name;
  proto::Change::Kind kind;
  uint32_t schema_id;
  std::optional<TupleData> new_tuple;
  proto::Change::OldKind old_kind;
  std::optional<TupleData> old_tuple;
};

class RowChangeEncoding : public ::testing::TestWithParam<RowChangeCase> {};

proto::Tuple ToProto(const TupleData& tuple) {
  proto::Tuple out;
  for (const TupleColumn& c : tuple) {
    proto::Value* v = out.add_values();
    switch (c.kind) {
      case ColumnKind::kNull:
        v->set_kind(proto::Value::NULL_);
        break;
      case ColumnKind::kUnchangedToast:
        v->set_kind(proto::Value::UNCHANGED_TOAST);
        break;
      case ColumnKind::kText:
        v->set_data(c.value);
        break;
      case ColumnKind::kBinary:
        v->set_kind(proto::Value::BINARY);
        v->set_data(c.value);
        break;
    }
  }
  return out;
}

TEST_P(RowChangeEncoding, IsExactlyWhatProtobufSerializes) {
  const RowChangeCase& c = GetParam();
  proto::Change expected;
  expected.set_kind(c.kind);
  expected.set_schema_id(c.schema_id);
  if (c.new_tuple) *expected.mutable_new_tuple() = ToProto(*c.new_tuple);
  expected.set_old_kind(c.old_kind);
  if (c.old_tuple) *expected.mutable_old_tuple() = ToProto(*c.old_tuple);
  std::string bytes;
  AppendRowChange(&bytes, c.kind, c.schema_id, c.new_tuple ? &*c.new_tuple : nullptr, c.old_kind,
                  c.old_tuple ? &*c.old_tuple : nullptr);
  EXPECT_EQ(bytes, expected.SerializeAsString());
  proto::Change parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_EQ(parsed.SerializeAsString(), expected.SerializeAsString());
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, RowChangeEncoding,
    ::testing::Values(
        RowChangeCase{"InsertOfText", proto::Change::INSERT, 1, Row({"1", "someone"}), proto::Change::NONE,
                      std::nullopt},
        RowChangeCase{"InsertOfEveryColumnKind", proto::Change::INSERT, 3,
                      TupleData{{ColumnKind::kText, "x"},
                                {ColumnKind::kNull, ""},
                                {ColumnKind::kUnchangedToast, ""},
                                {ColumnKind::kBinary, std::string("\0\1\2", 3)},
                                {ColumnKind::kText, ""}},
                      proto::Change::NONE, std::nullopt},
        RowChangeCase{"InsertOfNoColumns", proto::Change::INSERT, 2, TupleData{}, proto::Change::NONE, std::nullopt},
        RowChangeCase{"InsertOfALongValueAndALargeSchemaId", proto::Change::INSERT, 300000,
                      Row({std::string(70000, 'v'), std::string(200, 'w')}), proto::Change::NONE, std::nullopt},
        RowChangeCase{"UpdateKeepingTheKey", proto::Change::UPDATE, 4, Row({"1", "new"}), proto::Change::NONE,
                      std::nullopt},
        RowChangeCase{"UpdateOfTheKey", proto::Change::UPDATE, 4, Row({"2", "new"}), proto::Change::KEY,
                      TupleData{{ColumnKind::kText, "1"}, {ColumnKind::kNull, ""}}},
        RowChangeCase{"UpdateWithTheFullOldRow", proto::Change::UPDATE, 5, Row({"1", "new"}), proto::Change::FULL_ROW,
                      Row({"1", "old"})},
        RowChangeCase{"DeleteByKey", proto::Change::DELETE, 6, std::nullopt, proto::Change::KEY, Row({"1"})},
        RowChangeCase{"DeleteOfAFullRow", proto::Change::DELETE, 7, std::nullopt, proto::Change::FULL_ROW,
                      Row({"1", "old"})}),
    [](const ::testing::TestParamInfo<RowChangeCase>& info) { return info.param.name; });

// The tables a recorded schema change dropped go with its transaction's record, so a restore can
// leave out their rows; those of a rolled-back savepoint do not.
TEST_F(ChangeLogTest, TablesDroppedByARecordedSchemaChangeAreInTheTransactionRecord) {
  Apply(Accounts());
  Apply(Begin(0x200, 20, 700));
  Apply(LogicalMessage{.xid = 700,
                       .transactional = true,
                       .lsn = pg::Lsn(0x150),
                       .prefix = pg::kDdlEventMessagePrefix,
                       .content = R"({"tag": "DROP TABLE", "dropped": [{"relid": 16400, "original": true},
                                      {"relid": null, "type": "type"}, {"relid": 16403}]})"});
  Apply(Commit(0x200, 20));
  Apply(StreamStart(800, true));
  Apply(LogicalMessage{.xid = 801,
                       .transactional = true,
                       .lsn = pg::Lsn(0x250),
                       .prefix = pg::kDdlEventMessagePrefix,
                       .content = R"({"dropped": [{"relid": 16500}]})"});
  Apply(StreamStopMessage{});
  Apply(StreamAbortMessage{.xid = 800, .subxid = 801});  // ROLLBACK TO the savepoint
  Apply(StreamStart(800, false));
  Apply(LogicalMessage{.xid = 800,
                       .transactional = true,
                       .lsn = pg::Lsn(0x260),
                       .prefix = pg::kDdlEventMessagePrefix,
                       .content = R"({"dropped": [{"relid": 16600}]})"});
  Apply(StreamStopMessage{});
  Apply(StreamCommit(800, 0x300, 30));
  Sync();
  const proto::Transaction plain = Txn(0x200);
  const proto::Transaction streamed = Txn(0x300);
  EXPECT_EQ(std::vector<uint32_t>(plain.dropped_relids().begin(), plain.dropped_relids().end()),
            (std::vector<uint32_t>{16400, 16403}));
  EXPECT_EQ(std::vector<uint32_t>(streamed.dropped_relids().begin(), streamed.dropped_relids().end()),
            std::vector<uint32_t>{16600});
  EXPECT_EQ(writer_->state().last_ddl_lsn(), 0x300u);
}

}  // namespace
}  // namespace pgpitr::wal
