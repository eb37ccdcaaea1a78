// ChangeLogWriter: turns decoded pgoutput messages, in stream order, into committed transactions in
// the ChangeLog, and decides what may be confirmed to the server.
//   auto writer = ChangeLogWriter::Create(log.get());
//   writer->Apply(message);  ...  writer->Sync();  send flush = writer->durable_through();
// Changes are gathered into chunks of about 128 KiB (proto::ChangeChunk) and a full chunk is written
// at once (a transaction of millions of rows is never held in memory), under a pending marker; a
// transaction becomes visible with its 'T' record at commit, which a small transaction's only chunk
// shares a write with (no pending marker then). The
// flush position reported to the server only advances after a synced write (Sync), and a commit at
// or before the last stored one is skipped, so the server resending after a restart is harmless.
// Used by one thread (the capture loop).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/write_batch.h"
#include "wal/change_log.h"
#include "wal/pgoutput_decoder.h"

namespace pgpitr::wal {

// Appends a row change in proto::Change's wire format, the bytes SerializeToString would write for
// {kind, schema_id, new_tuple, old_kind, old_tuple} (a null tuple is an unset field). Capture's hot
// path: no message is built per row.
void AppendRowChange(std::string* out, proto::Change::Kind kind, uint32_t schema_id, const TupleData* new_tuple,
                     proto::Change::OldKind old_kind, const TupleData* old_tuple);

// Which of `subxids`, subtransactions of the committed transaction `xid`, the source aborted. The
// server does not always send a Stream Abort for a subtransaction whose changes it streamed (one
// whose changes it had spilled to disk and streamed from there, as after a restart), so a streamed
// transaction's subtransactions are checked against the source's commit log at its commit.
using AbortedSubtransactions =
    std::function<absl::StatusOr<std::vector<uint32_t>>(uint32_t xid, const std::vector<uint32_t>& subxids)>;

class ChangeLogWriter {
 public:
  // Loads capture's state and the current relation schemas, and deletes the changes of transactions
  // that were still open when capture last stopped (the server sends them again).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ChangeLogWriter>> Create(ChangeLog* log);

  // Set by capture for each connection (and reset when it ends): how Stream Commit learns which
  // subtransactions aborted without a Stream Abort. Unset, the stream's Stream Aborts are trusted.
  void SetAbortedSubtransactions(AbortedSubtransactions aborted) { aborted_subtransactions_ = std::move(aborted); }

  // Applies one message; `at` is where the server placed it in WAL (XLogData's start: a change's
  // record, a logical message's end). A message that contradicts the protocol (a change outside a
  // transaction, for a relation never described) is an error: the stream cannot be trusted past it.
  [[nodiscard]] absl::Status Apply(const PgoutputMessage& message, pg::Lsn at = pg::Lsn());

  // The server reported (keepalive) that it has sent everything before wal_end. When no
  // transaction is open outside a stream, every commit before wal_end has been applied.
  void NoteServerPosition(pg::Lsn wal_end);

  // The source's clock said `time` and then its WAL insert position was `lsn`: once everything
  // before lsn is captured, so is every commit stamped at or before time. This is how the
  // restorable window's end keeps moving while the source is idle.
  void NoteServerClock(pg::Lsn lsn, pg::PgTime time);
  // A server position and the clock with it.
  struct Position {
    pg::Lsn lsn;
    pg::PgTime time = 0;
  };
  // What a check found of large objects on the source, read between the positions `before` and
  // `after`: the spans in which some may have existed (CaptureState::large_object_spans) open (from
  // the check before's `before`) or close (at this one's `after`); stored with the next sync. Call
  // it before PutSequenceSample of the same check, whose LSN is `before`.
  void NoteLargeObjects(bool present, Position before, Position after);
  // What a transaction said of large objects at one of its changes.
  struct LargeObjectReading {
    enum class Kind {
      kSome,        // a schema change on large objects; or some read after a statement (by the proxy,
                    // or by the event trigger after a schema change)
      kNoneAfter,   // none read after a statement (the same)
      kNoneBefore,  // the proxy read none before a statement, at `at` (a position before its snapshot)
    };
    Kind kind = Kind::kSome;
    Position at;
    pg::Lsn message_lsn;  // where the reading's message is: the read was made before it
  };
  // A pgpitr.large_objects message's content; nullopt for one this version does not know.
  static std::optional<LargeObjectReading> ParseLargeObjectReading(std::string_view content);
  // A clock reading waits for the stream to pass its LSN (ask the server for a keepalive).
  bool AwaitsServerPosition() const { return !clock_marks_.empty(); }

  // After the connection to the source was lost: forgets the transactions still open (their changes
  // are deleted; the server sends them again from the slot) and syncs.
  [[nodiscard]] absl::Status AbandonOpenTransactions();

  // Writes everything buffered and waits for it to be on disk.
  [[nodiscard]] absl::Status Sync();

  // Every commit at or before it is on disk: the flush position to confirm to the server.
  pg::Lsn durable_through() const { return pg::Lsn(state_.captured_through_lsn()); }
  // Commits applied but not yet synced.
  bool HasUnsyncedProgress() const {
    return pending_through_ > pg::Lsn(state_.captured_through_lsn()) ||
           pending_through_time_ > state_.captured_through_time();
  }
  // Bytes of writes waiting in the batch (0 when it holds none; its fixed header is not counted).
  size_t buffered_bytes() const { return batch_.Count() == 0 ? 0 : batch_.GetDataSize(); }
  // Writes made without a sync so far (spills of open transactions, cuts): fault tests crash after each.
  uint64_t unsynced_writes() const { return unsynced_writes_; }
  // Subtransactions found aborted at their transaction's commit, with no Stream Abort sent for them.
  uint64_t aborted_at_commit() const { return aborted_at_commit_; }
  const proto::CaptureState& state() const { return state_; }

  // One-time facts about the source, stored with the next write.
  void SetSourceIdentity(const std::string& system_identifier, const std::string& database, const std::string& slot,
                         const std::string& publication);
  // Where the change log starts: commits at or after it are captured. Set once.
  void SetLogStart(pg::Lsn lsn, pg::PgTime server_time);
  // Stores a sequence sample (only the sequences that changed) and advances the check watermark.
  // Samples are keyed by the check's WAL insert position, which does not move when nextval() hands
  // out values already logged, so a sample at the position of one stored before is merged into it
  // (its sequences keep their newest values): no sample replaces another's sequences.
  [[nodiscard]] absl::Status PutSequenceSample(const proto::SequenceSample& changed, pg::Lsn check_lsn,
                                               pg::PgTime check_time);
  // Stores a catalog check that found the relations changed (wal/catalog_digest.h), if any, and
  // advances the catalog check watermark to `check_lsn` either way.
  [[nodiscard]] absl::Status PutCatalogCheck(const std::optional<proto::CatalogCheck>& changed, pg::Lsn check_lsn,
                                             pg::PgTime check_time);

 private:
  struct OpenTransaction {
    uint32_t xid = 0;
    uint64_t storage_id = 0;
    uint64_t next_seq = 0;  // change number of the next change
    uint64_t rows = 0;
    // Changes not yet written: ChangeChunk.changes entries in wire format, and where each starts.
    std::string chunk;
    std::vector<uint32_t> chunk_offsets;
    uint64_t chunk_first_seq = 0;          // change number of the first buffered change
    std::vector<uint64_t> written_chunks;  // first change number of each chunk written, by chunk_seq
    bool pending_written = false;          // its 'P' marker is in the log or the batch
    std::string origin;
    // pgpitr.mark and pgpitr.ddl messages in it, by change number, so that a rolled-back
    // subtransaction takes its own with it.
    std::vector<std::pair<uint64_t, std::string>> marks;  // change number, mark name
    std::vector<uint64_t> ddl_seqs;
    // What it says of large objects, by change number: schema changes on large objects only
    // (wal::OnlyLargeObjects: the source held some), and the proxy's readings
    // (pg::kLargeObjectsMessagePrefix).
    std::vector<std::pair<uint64_t, LargeObjectReading>> large_objects;
    // Relations the recorded schema changes dropped: change number, relation OID.
    std::vector<std::pair<uint64_t, uint32_t>> dropped;
    bool skip = false;  // already stored before a restart: ignore its changes
    pg::Lsn final_lsn;
    pg::PgTime commit_time = 0;
    // Streamed transactions: where each subtransaction's changes begin, so that a subtransaction
    // abort can cut them off, and the relation schemas sent within this transaction.
    struct SubxactStart {
      uint64_t seq;   // its first change
      uint64_t rows;  // rows before it, what rows falls back to when it aborts
    };
    std::map<uint32_t, SubxactStart> subxact_first_seq;
    std::unordered_map<uint32_t, uint32_t> relation_schemas;
    // Streamed transactions: the (sub)transaction id of each stretch of changes and its first
    // change, in order, so that a subtransaction found aborted at commit loses exactly its own.
    std::vector<std::pair<uint32_t, uint64_t>> xid_runs;
    // The WAL record of the last row change or TRUNCATE and the first change it made: a logical
    // message is placed at its record's end, which is where the next record starts, and the server
    // orders changes of different subtransactions by that position, so a message emitted in a
    // subtransaction can arrive after the changes of the record that follows it (same position).
    pg::Lsn tail_lsn;
    uint64_t tail_seq = 0;
    uint64_t tail_rows = 0;  // rows before it
  };

  explicit ChangeLogWriter(ChangeLog* log) : log_(log) {}

  // Applies at commit what a transaction said of large objects: readings before a statement (none
  // there) become checks of their own; a schema change on them or a reading of "some" after a
  // statement, NoteLargeObjectStatement; the last reading after a statement saying "none",
  // EndLargeObjectSpanAt.
  void NoteLargeObjectsOf(const OpenTransaction& txn, pg::Lsn commit_lsn, pg::PgTime commit_time);
  // The transaction committed at `at` left the source without large objects, as it saw them: an
  // open span ends there, unless a check after it saw some (one this reading missed: made by a
  // transaction its snapshot did not see, or by a later statement of its own); a span a check after
  // it closed ends there instead, when no check came between.
  void EndLargeObjectSpanAt(Position at);

  // A schema change on large objects committed at commit_lsn: the source held some then. Unless
  // a span already covers it, one more from the check before it to the first after it that saw
  // none (open while no check after it is known).
  void NoteLargeObjectStatement(pg::Lsn commit_lsn);
  // Puts a span among CaptureState::large_object_spans in order, overlapping ones merged; at most
  // 64, the oldest merged wider, never narrower.
  void AddLargeObjectSpan(const proto::LargeObjectSpan& span);

  [[nodiscard]] absl::StatusOr<OpenTransaction*> TransactionFor(std::optional<uint32_t> xid, const char* what);
  [[nodiscard]] absl::StatusOr<uint32_t> SchemaFor(const OpenTransaction& txn, uint32_t relid) const;
  [[nodiscard]] absl::Status AppendChange(OpenTransaction* txn, std::optional<uint32_t> subxid,
                                          const proto::Change& change);
  // A row change (INSERT, UPDATE, DELETE), encoded straight into the chunk buffer.
  [[nodiscard]] absl::Status AppendRow(OpenTransaction* txn, std::optional<uint32_t> subxid, proto::Change::Kind kind,
                                       uint32_t schema_id, const TupleData* new_tuple, proto::Change::OldKind old_kind,
                                       const TupleData* old_tuple);
  void NoteSubtransaction(OpenTransaction* txn, std::optional<uint32_t> subxid);
  [[nodiscard]] absl::Status ChangeAppended(OpenTransaction* txn);
  // Moves the buffered changes into the batch as the transaction's next chunk.
  void WriteChunk(OpenTransaction* txn, bool at_commit);
  // Notes that the next change comes from the WAL record at `at` (see OpenTransaction::tail_lsn).
  static void NoteRecord(OpenTransaction* txn, pg::Lsn at);
  // Puts `change` (a logical message of `subxid`) before the changes from `seq` on, which the
  // server sent first although their record follows the message's.
  [[nodiscard]] absl::Status InsertChangeAt(OpenTransaction* txn, uint64_t seq, std::optional<uint32_t> subxid,
                                            const proto::Change& change);
  // A chunk of the transaction already written (read back from the log; the batch written first).
  [[nodiscard]] absl::StatusOr<proto::ChangeChunk> ReadWrittenChunk(uint64_t storage_id, size_t k,
                                                                    const char* why) const;
  // Which of the transaction's written chunks holds change number `seq`.
  static size_t WrittenChunkHolding(const OpenTransaction& txn, uint64_t seq);
  // Brings the written chunks holding changes from `seq` on back into the buffer.
  [[nodiscard]] absl::Status ReloadFrom(OpenTransaction* txn, uint64_t seq);
  // Cuts a streamed transaction's changes back to the first `cut` (a subtransaction aborted).
  [[nodiscard]] absl::Status CutChanges(OpenTransaction* txn, uint64_t cut);
  // At a streamed transaction's commit: asks the source which of its subtransactions that still
  // have changes aborted, and drops their changes (their marks and DDL too).
  [[nodiscard]] absl::Status DropAbortedSubtransactions(OpenTransaction* txn);
  // Rewrites a streamed transaction's changes under a new storage id without those of `aborted`.
  [[nodiscard]] absl::Status RewriteWithout(OpenTransaction* txn, const std::vector<uint32_t>& aborted);
  [[nodiscard]] absl::Status WriteBatchUnsynced();
  [[nodiscard]] absl::Status ApplyRelation(const RelationMessage& m);
  [[nodiscard]] absl::Status CommitTransaction(OpenTransaction* txn, pg::Lsn commit_lsn, pg::Lsn end_lsn,
                                               pg::PgTime commit_time);
  void Discard(const OpenTransaction& txn);
  [[nodiscard]] absl::Status MaybeSpill();
  // The stored sample at `check_lsn`, if any (the batch's first, then the log's).
  [[nodiscard]] absl::StatusOr<std::optional<proto::SequenceSample>> StoredSequenceSample(pg::Lsn check_lsn) const;

  // What the next write holds. RocksDB applies a batch to its memtable in order, and its skip list
  // finds a key's place from where the last insert went when keys ascend; each kind of key ('C'
  // chunks, 'T' transactions, 'W' times, ...) ascends on its own, but a batch of transactions
  // interleaves them (C T W C T W ...), and then every insert searched from the top. So operations
  // are kept here and written grouped by kind, in key order of the kinds, each kind's in the order
  // made: operations on different kinds never touch the same keys, so the result is the same.
  class OrderedBatch {
   public:
    void Put(std::string key, std::string value);
    void Delete(std::string key);
    void DeleteRange(std::string begin, std::string end);  // begin and end of the same kind
    size_t Count() const { return ops_.size(); }
    size_t GetDataSize() const { return bytes_; }
    // The operations as one WriteBatch, grouped as said above (valid until the next Build).
    rocksdb::WriteBatch* Build();
    void Clear();

   private:
    struct Op {
      enum class Kind : uint8_t { kPut, kDelete, kDeleteRange } kind;
      std::string key;
      std::string value;  // the value, or the end of a range
    };
    std::vector<Op> ops_;
    size_t bytes_ = 0;
    rocksdb::WriteBatch built_;
  };

  ChangeLog* log_;
  AbortedSubtransactions aborted_subtransactions_;
  uint64_t unsynced_writes_ = 0;
  uint64_t aborted_at_commit_ = 0;
  proto::CaptureState state_;
  OrderedBatch batch_;
  std::optional<proto::SequenceSample> last_sample_;  // the last sequence sample put, synced or not
  // Advances what will be durable at the next Sync; time is the commit time or clock reading that
  // position is known to cover.
  void AdvanceTo(pg::Lsn lsn, pg::PgTime time);

  pg::Lsn pending_through_;
  pg::PgTime pending_through_time_ = 0;
  std::deque<std::pair<pg::Lsn, pg::PgTime>> clock_marks_;
  // The latest large-object checks (NoteLargeObjects), with the proxy's readings of none before a
  // statement (NoteLargeObjectsOf), in the order of their `before`, kept in memory to place a
  // schema change on large objects between two of them.
  struct LargeObjectCheck {
    Position before;
    Position after;
    bool present = false;
  };
  std::deque<LargeObjectCheck> large_object_checks_;

  std::optional<OpenTransaction> current_;                   // between Begin and Commit
  std::map<uint32_t, OpenTransaction> streamed_;             // by top-level xid
  std::optional<uint32_t> stream_xid_;                       // inside Stream Start..Stop
  std::unordered_map<uint32_t, uint32_t> relation_schemas_;  // relid -> schema id in force
  std::map<uint32_t, proto::RelationSchema> schemas_;        // schema id -> schema
};

}  // namespace pgpitr::wal
