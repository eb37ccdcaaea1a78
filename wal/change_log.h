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
#include "base/progress.h"
#include "pg/lsn.h"
#include "pg/time.h"
#include "proto/pgpitr.pb.h"
#include "rocksdb/db.h"
#include "wal/change_chunk.h"

namespace pgpitr::wal {

class ChangeLog;
namespace keys {
rocksdb::DB* Database(const ChangeLog& log);
}  // namespace keys

// What is stored under which key is written down once, in wal/change_log_keys.h (internal to wal/).
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

  // Catalog checks (wal/catalog_digest.h) with from <= check LSN, oldest first; the newest one.
  [[nodiscard]] absl::Status ForEachCatalogCheck(
      pg::Lsn from, const std::function<absl::Status(const proto::CatalogCheck&)>& visit) const;
  [[nodiscard]] absl::StatusOr<std::optional<proto::CatalogCheck>> LastCatalogCheck() const;

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

  // Reads back one chunk of a transaction's changes (the writer, which rewrites an open
  // transaction's chunks when a subtransaction aborts).
  [[nodiscard]] absl::StatusOr<proto::ChangeChunk> ReadChunk(uint64_t storage_id, uint64_t chunk_seq) const;
  // The sequence sample stored at exactly check_lsn, or nullopt.
  [[nodiscard]] absl::StatusOr<std::optional<proto::SequenceSample>> SequenceSampleAt(pg::Lsn check_lsn) const;

  // --- checks ---
  // What VerifyScan found. Each problem names the commit LSNs it makes unrestorable (from <= LSN
  // <= to; the whole log is 0 to ~0).
  struct Check {
    struct Problem {
      pg::Lsn from, to;
      std::string what;  // one line, "change log: ..."
    };
    std::vector<Problem> problems;
    std::vector<std::string> notes;  // not damage
    uint64_t transactions = 0;
    uint64_t changes = 0;
    uint64_t keys = 0;
  };
  // Reads every key with RocksDB's block checksums verified, stepping over damaged blocks (each
  // becomes a problem naming the LSNs it holds); then checks that each transaction committed at or
  // after `horizon` holds all its changes, names the commit stored before it, and is in the time
  // index. `progress`, when given, hears of the keys read.
  [[nodiscard]] absl::StatusOr<Check> VerifyScan(pg::Lsn horizon, base::ProgressSink* progress = nullptr) const;

  // --- writes ---
  // Writes what the memtables hold to (compressed) tables, so that the write-ahead log is empty: a
  // reader that opens the log later replays nothing, and the size on disk is what is kept.
  [[nodiscard]] absl::Status FlushMemtables();
  // Records (synced) that commits with from < commit LSN < to may be missing, e.g. after the slot
  // was lost and capture started again from a new one. Safe from any thread of the writer process.
  [[nodiscard]] absl::Status RecordGap(pg::Lsn from, pg::Lsn to, std::string_view reason);
  // Stores retention's record (synced).
  [[nodiscard]] absl::Status PutRetentionState(const proto::Retention& retention);
  // What DeleteBelow removed.
  struct Deletion {
    uint64_t transactions = 0;
    uint64_t samples_folded = 0;
    uint64_t marks = 0;
  };
  // One synced batch deleting everything below `horizon` that no restore at or after it reads:
  // transactions committed before it with their changes and time index entries, marks before it,
  // gaps wholly below it; the sequence samples below it are folded into the newest of them, which
  // then holds every sequence's last sampled value. Idempotent: after a crash, running it again
  // deletes nothing more.
  [[nodiscard]] absl::StatusOr<Deletion> DeleteBelow(pg::Lsn horizon);

 private:
  friend rocksdb::DB* keys::Database(const ChangeLog& log);
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

}  // namespace pgpitr::wal
