// ChangeLog: the repository's RocksDB database of the source's committed transactions, their row
// changes, the relation schemas they were written under, sequence samples and capture's state.
//   auto log = ChangeLog::Open(repo / "changelog", ChangeLog::Mode::kReadOnly);
//   log->ForEachTransaction(base_lsn, target_lsn, [&](const proto::Transaction& t) { ... });
// One writer process at a time (RocksDB's LOCK file); readers (info, restore) open read-only and
// see the log as of their open. A ChangeLog object may be read from several threads; writes come
// from one thread (capture's ChangeLogWriter).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pg/lsn.h"
#include "pg/time.h"
#include "proto/pgpitr.pb.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "wal/change_chunk.h"

namespace pgpitr::wal {

// The change log's key grammar (all integers big-endian, so byte order is numeric order):
//   'M' "state"                               -> proto::CaptureState
//   'M' "retention"                           -> proto::Retention  see wal/retention.h
//   'T' u64 commit_lsn                        -> proto::Transaction
//   'W' u64 ordered(max_commit_time) u64 commit_lsn -> ""   time index, see below
//   'C' u64 storage_id u64 chunk_seq          -> proto::ChangeChunk  a transaction's changes, in
//                                                                order, in chunks of <= ~128 KiB
//                                                                numbered from 0
//   'P' u64 storage_id                        -> u32 xid         chunks of a transaction not yet
//                                                                committed (deleted at startup)
//   'S' u32 schema_id                         -> proto::RelationSchema
//   'Y' u32 type_oid                          -> proto::TypeInfo
//   'Q' u64 check_lsn                         -> proto::SequenceSample
//   'K' name                                  -> proto::Mark      named restore points
//   'G' u64 from_lsn                          -> proto::Gap       known holes (RecordGap)
// ordered(t) flips the sign bit of the int64 so negative times sort first.
//
// The time index: commit times are not monotonic in commit order (a backend takes its timestamp
// before it inserts the commit record), so "restore to time T" follows PostgreSQL's recovery rule:
// replay in commit order and stop before the first commit whose time is after T. Each 'W' key
// carries the largest commit time seen up to and including that commit; that running maximum is
// monotonic in commit order, so the first commit after T is one Seek away.
//
// Format versions: 1 stored one 'C' key per change (proto::Change); 2 stores chunks. A version-1 log
// is still read (ForEachChange, verify); the writer refuses to add to it (ChangeLogWriter::Create).
inline constexpr uint32_t kChangeLogFormatVersion = 2;

class ChangeLog {
 public:
  enum class Mode { kWriter, kReadOnly };

  // kWriter creates the database when missing; kReadOnly requires it to exist.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ChangeLog>> Open(const std::filesystem::path& dir, Mode mode);

  // --- reads ---
  [[nodiscard]] absl::StatusOr<proto::CaptureState> State() const;
  [[nodiscard]] absl::StatusOr<std::optional<proto::Transaction>> GetTransaction(pg::Lsn commit_lsn) const;
  // The newest commit with commit LSN <= lsn.
  [[nodiscard]] absl::StatusOr<std::optional<proto::Transaction>> LastCommitAtOrBefore(pg::Lsn lsn) const;
  // The newest commit C such that no commit up to and including C has a commit time after t.
  [[nodiscard]] absl::StatusOr<std::optional<proto::Transaction>> LastCommitNotAfterTime(pg::PgTime t) const;
  // The oldest commit with commit LSN >= lsn.
  [[nodiscard]] absl::StatusOr<std::optional<proto::Transaction>> FirstCommitAtOrAfter(pg::Lsn lsn) const;

  // Visits transactions with from <= commit LSN <= to in commit order; stops at the first error
  // the visitor returns.
  [[nodiscard]] absl::Status ForEachTransaction(
      pg::Lsn from, pg::Lsn to, const std::function<absl::Status(const proto::Transaction&)>& visit) const;
  // The format version the log was written in: kChangeLogFormatVersion, or 1 for a log written
  // before changes were stored in chunks (one 'C' key per change, its value a proto::Change),
  // which is read but never added to.
  [[nodiscard]] absl::StatusOr<uint32_t> FormatVersion() const;
  // Visits a committed transaction's changes in order.
  [[nodiscard]] absl::Status ForEachChange(const proto::Transaction& txn,
                                           const std::function<absl::Status(const proto::Change&)>& visit) const;
  class ChangeReader;
  // A reader for many transactions' changes, one after another (replay); see ChangeReader.
  std::unique_ptr<ChangeReader> NewChangeReader() const;

  [[nodiscard]] absl::StatusOr<std::map<uint32_t, proto::RelationSchema>> Schemas() const;
  [[nodiscard]] absl::StatusOr<std::map<uint32_t, proto::TypeInfo>> Types() const;
  // Sequence samples with from <= check LSN, oldest first.
  [[nodiscard]] absl::Status ForEachSequenceSample(
      pg::Lsn from, const std::function<absl::Status(const proto::SequenceSample&)>& visit) const;

  // The named restore point, or nullopt.
  [[nodiscard]] absl::StatusOr<std::optional<proto::Mark>> GetMark(std::string_view name) const;
  // All marks, oldest first.
  [[nodiscard]] absl::StatusOr<std::vector<proto::Mark>> Marks() const;

  // Storage ids of transactions whose changes were written but that never committed here
  // (capture was stopped inside them); the server sends them again.
  [[nodiscard]] absl::StatusOr<std::vector<uint64_t>> PendingStorageIds() const;

  // Bytes of its tables and write-ahead log on disk (not RocksDB's own info logs).
  uint64_t SizeOnDisk() const;

  // Known holes in the log, oldest first. Restore never replays across one.
  [[nodiscard]] absl::StatusOr<std::vector<proto::Gap>> Gaps() const;
  // Retention's record, or nullopt when retention never ran.
  [[nodiscard]] absl::StatusOr<std::optional<proto::Retention>> RetentionState() const;

  // --- writes (the writer only) ---
  // sync=true returns only when the write is on disk (fsync of RocksDB's WAL).
  [[nodiscard]] absl::Status Write(rocksdb::WriteBatch* batch, bool sync);
  // Writes what the memtables hold to (compressed) tables, so that the write-ahead log is empty: a
  // reader that opens the log later replays nothing, and the size on disk is what is kept.
  [[nodiscard]] absl::Status FlushMemtables();
  // Records (synced) that commits with from < commit LSN < to may be missing, e.g. after the slot
  // was lost and capture started again from a new one. Safe from any thread of the writer process.
  [[nodiscard]] absl::Status RecordGap(pg::Lsn from, pg::Lsn to, std::string_view reason);

  // Key encoders, for building WriteBatches.
  static std::string StateKey();
  static std::string TransactionKey(pg::Lsn commit_lsn);
  static std::string TimeIndexKey(pg::PgTime running_max_commit_time, pg::Lsn commit_lsn);
  static std::string ChangeKey(uint64_t storage_id, uint64_t chunk_seq);
  static std::string PendingKey(uint64_t storage_id);
  static std::string SchemaKey(uint32_t schema_id);
  static std::string TypeKey(uint32_t type_oid);
  static std::string SequenceSampleKey(pg::Lsn check_lsn);
  static std::string MarkKey(std::string_view name);
  static std::string GapKey(pg::Lsn from);
  static std::string RetentionKey();

  rocksdb::DB* db() const { return db_.get(); }

 private:
  explicit ChangeLog(std::unique_ptr<rocksdb::DB> db, std::filesystem::path dir)
      : db_(std::move(db)), dir_(std::move(dir)) {}

  std::unique_ptr<rocksdb::DB> db_;
  std::filesystem::path dir_;
  mutable std::atomic<uint32_t> format_version_{0};  // 0 until FormatVersion() first reads it
};

// Reads the changes of many transactions, one after another, through one RocksDB iterator: in
// commit order a transaction's chunks mostly follow the previous one's (storage ids are handed out
// in stream order), so the reader steps on with Next instead of a Seek and a new iterator each
// time, which cost more than decoding the changes. Sees the log as of its creation. One thread;
// the ChangeLog must outlive it.
//   auto reader = log.NewChangeReader();
//   log.ForEachTransaction(from, to, [&](const proto::Transaction& t) { return reader->ForEachChange(t, visit); });
class ChangeLog::ChangeReader {
 public:
  // As ChangeLog::ForEachChange.
  [[nodiscard]] absl::Status ForEachChange(const proto::Transaction& txn,
                                           const std::function<absl::Status(const proto::Change&)>& visit);
  // The same, and the visitor may take each change by Swap (what it swaps in is reused, so a reader
  // ahead of the replay moves changes without copying or allocating them).
  [[nodiscard]] absl::Status TakeEachChange(const proto::Transaction& txn,
                                            const std::function<absl::Status(proto::Change&)>& take);

 private:
  friend class ChangeLog;
  explicit ChangeReader(const ChangeLog& log);

  const ChangeLog& log_;
  std::unique_ptr<rocksdb::Iterator> it_;
  // Chunks are decoded into changes reused from chunk to chunk: memory stays at about one chunk
  // whatever a transaction's size. What the decoder does not read goes to protobuf's parser, into
  // the arena, which is reset before the next.
  ChangeChunkDecoder decoder_;
  std::unique_ptr<char[]> arena_block_;
  google::protobuf::Arena arena_;
};

// Corrupt stored bytes become DataLoss errors naming the key.
[[nodiscard]] absl::Status ParseStored(std::string_view bytes, google::protobuf::Message* out, std::string_view what);

}  // namespace pgpitr::wal
