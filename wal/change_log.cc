#include "wal/change_log.h"

#include <algorithm>

#include "fmt/format.h"
#include "rocksdb/options.h"
#include "rocksdb/sst_partitioner.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "wal/change_log_keys.h"

namespace pgpitr::wal {

using keys::FromRocks;
using keys::ParseStored;
using keys::Tag;

namespace {

// The message stored under `key`, or nullopt when there is none; `doing` names the read in errors,
// `what` the record.
template <typename Message>
absl::StatusOr<std::optional<Message>> GetStored(rocksdb::DB* db, const std::string& key, std::string_view doing,
                                                 std::string_view what) {
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), key, &value);
  if (s.IsNotFound()) return std::nullopt;
  if (absl::Status st = FromRocks(s, doing); !st.ok()) return st;
  Message message;
  if (absl::Status st = ParseStored(value, &message, what); !st.ok()) return st;
  return message;
}

rocksdb::Options MakeOptions(ChangeLog::Mode mode) {
  rocksdb::Options options;
  options.create_if_missing = mode == ChangeLog::Mode::kWriter;
  // Chunks of row changes compress well (column values repeat from row to row): zstd at every
  // level. Not on RocksDB's own WAL: in 7.8 that is marked work in progress, and 7.10.2 fixed a
  // recovery bug with fragmented compressed records, which our multi-MiB batches would make; the
  // WAL is the path every confirmed position relies on after a crash.
  options.compression = rocksdb::kZSTD;
  options.bottommost_compression = rocksdb::kZSTD;
  // A process killed mid-write leaves at most a torn last record, which RocksDB drops; nothing
  // before it was confirmed to the server unless it was synced.
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  // Two memtables of 32 MiB at most: part of run's memory bound (a 5M-row transaction stays < 256 MiB).
  options.write_buffer_size = 32 << 20;
  options.max_write_buffer_number = 2;
  // Tables cut where the key's kind changes: each kind only grows at its end, so a new table of
  // one kind does not overlap the older ones of its level and moves down without being rewritten.
  // Without it every table spans 'C'..'W', every compaction rewrote all of the level below (the
  // whole change log), and that took most of capture's CPU while it drained a backlog.
  options.sst_partitioner_factory = rocksdb::NewSstPartitionerFixedPrefixFactory(1);
  options.level0_file_num_compaction_trigger = 8;
  options.max_background_jobs = 2;
  options.keep_log_file_num = 5;
  rocksdb::BlockBasedTableOptions table;
  table.block_size = 32 << 10;
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return options;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChangeLog>> ChangeLog::Open(const std::filesystem::path& dir, Mode mode) {
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (mode == Mode::kWriter) {
    s = rocksdb::DB::Open(MakeOptions(mode), dir.string(), &raw);
  } else {
    if (!std::filesystem::exists(dir / "CURRENT")) {
      return absl::NotFoundError(
          fmt::format("{} holds no change log (is --repo the folder that 'pgpitr run' writes to?)", dir.string()));
    }
    s = rocksdb::DB::OpenForReadOnly(MakeOptions(mode), dir.string(), &raw);
  }
  if (absl::Status st = FromRocks(s, "opening " + dir.string()); !st.ok()) return st;
  return std::unique_ptr<ChangeLog>(new ChangeLog(std::unique_ptr<rocksdb::DB>(raw), dir));
}

absl::StatusOr<proto::CaptureState> ChangeLog::State() const {
  absl::StatusOr<std::optional<proto::CaptureState>> stored =
      GetStored<proto::CaptureState>(db_.get(), keys::State(), "reading capture state", "state");
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) {  // a new change log
    proto::CaptureState state;
    state.set_format_version(kChangeLogFormatVersion);
    return state;
  }
  proto::CaptureState state = **std::move(stored);
  // Version 1 (one record per row change) is still read: ForEachChange and verify know it; the
  // writer refuses to add to it (ChangeLogWriter::Create).
  if (state.format_version() < 1) state.set_format_version(1);
  if (state.format_version() > kChangeLogFormatVersion) {
    return absl::FailedPreconditionError(
        fmt::format("the change log has format version {}, newer than this pgpitr understands ({}); use a newer "
                    "pgpitr",
                    state.format_version(), kChangeLogFormatVersion));
  }
  return state;
}

absl::StatusOr<std::optional<proto::Transaction>> ChangeLog::GetTransaction(pg::Lsn commit_lsn) const {
  return GetStored<proto::Transaction>(db_.get(), keys::Transaction(commit_lsn), "reading a transaction",
                                       "T " + commit_lsn.ToString());
}

namespace {

// The transaction record the iterator is on, or nullopt when it has left the 'T' keys.
absl::StatusOr<std::optional<proto::Transaction>> TransactionAt(const rocksdb::Iterator& it) {
  if (!it.Valid() || !keys::HasTag(it.key().ToStringView(), Tag::kTransaction)) {
    if (absl::Status st = FromRocks(it.status(), "seeking a transaction"); !st.ok()) return st;
    return std::nullopt;
  }
  proto::Transaction txn;
  if (absl::Status st = ParseStored(it.value().ToStringView(), &txn, "T"); !st.ok()) return st;
  return txn;
}

}  // namespace

absl::StatusOr<std::optional<proto::Transaction>> ChangeLog::LastCommitAtOrBefore(pg::Lsn lsn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  it->SeekForPrev(keys::Transaction(lsn));
  return TransactionAt(*it);
}

absl::StatusOr<std::optional<proto::Transaction>> ChangeLog::FirstCommitAtOrAfter(pg::Lsn lsn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  it->Seek(keys::Transaction(lsn));
  return TransactionAt(*it);
}

absl::StatusOr<std::optional<proto::Transaction>> ChangeLog::LastCommitNotAfterTime(pg::PgTime t) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  // The last index key whose running maximum is <= t: seek before (t, max LSN).
  it->SeekForPrev(keys::TimeIndex(t, pg::Lsn(~uint64_t{0})));
  if (!it->Valid() || !keys::HasTag(it->key().ToStringView(), Tag::kTimeIndex)) {
    if (absl::Status st = FromRocks(it->status(), "seeking the time index"); !st.ok()) return st;
    return std::nullopt;
  }
  const std::optional<keys::TimeIndexEntry> entry = keys::DecodeTimeIndex(it->key().ToStringView());
  if (!entry) return keys::Damaged("change log time index key has the wrong size");
  absl::StatusOr<std::optional<proto::Transaction>> txn = GetTransaction(entry->commit_lsn);
  if (txn.ok() && !txn->has_value()) {
    return keys::Damaged(
        fmt::format("change log time index names a transaction at {} that it does not hold (run 'pgpitr verify')",
                    entry->commit_lsn.ToString()));
  }
  return txn;
}

absl::Status ChangeLog::ForEachTransaction(pg::Lsn from, pg::Lsn to,
                                           const std::function<absl::Status(const proto::Transaction&)>& visit) const {
  rocksdb::ReadOptions read;
  const std::string upper = keys::Transaction(pg::Lsn(to.value() == ~uint64_t{0} ? to.value() : to.value() + 1));
  rocksdb::Slice upper_slice(upper);
  if (to.value() != ~uint64_t{0}) read.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read));
  for (it->Seek(keys::Transaction(from)); it->Valid() && keys::HasTag(it->key().ToStringView(), Tag::kTransaction);
       it->Next()) {
    proto::Transaction txn;
    if (absl::Status st = ParseStored(it->value().ToStringView(), &txn, "T"); !st.ok()) return st;
    if (absl::Status st = visit(txn); !st.ok()) return st;
  }
  return FromRocks(it->status(), "reading transactions");
}

absl::StatusOr<uint32_t> ChangeLog::FormatVersion() const {
  if (uint32_t known = format_version_.load(std::memory_order_relaxed); known != 0) return known;
  absl::StatusOr<proto::CaptureState> state = State();
  if (!state.ok()) return state.status();
  format_version_.store(state->format_version(), std::memory_order_relaxed);
  return state->format_version();
}

namespace {

// Version 1: 'C' storage_id seq -> one proto::Change per key.
absl::Status ForEachVersionOneChange(rocksdb::Iterator* it, std::string_view prefix, const proto::Transaction& txn,
                                     uint64_t* seen, const std::function<absl::Status(proto::Change&)>& visit) {
  proto::Change change;
  for (; it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::optional<keys::ChunkKey> key = keys::DecodeChunk(it->key().ToStringView());
    if (!key || key->chunk_seq != *seen) {
      return keys::Damaged(
          fmt::format("change log is missing change {} of the transaction committed at {} (run 'pgpitr verify')", *seen,
                      pg::Lsn(txn.commit_lsn()).ToString()));
    }
    change.Clear();
    if (absl::Status st =
            ParseStored(it->value().ToStringView(), &change,
                        fmt::format("C of the transaction committed at {}", pg::Lsn(txn.commit_lsn()).ToString()));
        !st.ok()) {
      return st;
    }
    if (absl::Status st = visit(change); !st.ok()) return st;
    ++*seen;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ChangeLog::ForEachChange(const proto::Transaction& txn,
                                      const std::function<absl::Status(const proto::Change&)>& visit) const {
  return NewChangeReader()->ForEachChange(txn, visit);
}

std::unique_ptr<ChangeLog::ChangeReader> ChangeLog::NewChangeReader() const {
  return std::unique_ptr<ChangeReader>(new ChangeReader(*this));
}

namespace {
constexpr size_t kReaderArenaBlock = 1 << 20;  // a parsed 128 KiB chunk of small rows fits
google::protobuf::ArenaOptions ReaderArenaOptions(char* block) {
  google::protobuf::ArenaOptions options;
  options.initial_block = block;
  options.initial_block_size = kReaderArenaBlock;
  return options;
}
}  // namespace

ChangeLog::ChangeReader::ChangeReader(const ChangeLog& log)
    : log_(log),
      it_(log.db_->NewIterator(rocksdb::ReadOptions())),
      arena_block_(new char[kReaderArenaBlock]),
      arena_(ReaderArenaOptions(arena_block_.get())) {}

absl::Status ChangeLog::ChangeReader::ForEachChange(const proto::Transaction& txn,
                                                    const std::function<absl::Status(const proto::Change&)>& visit) {
  return TakeEachChange(txn, [&](proto::Change& change) { return visit(change); });
}

absl::Status ChangeLog::ChangeReader::TakeEachChange(const proto::Transaction& txn,
                                                     const std::function<absl::Status(proto::Change&)>& visit) {
  absl::StatusOr<uint32_t> version = log_.FormatVersion();
  if (!version.ok()) return version.status();
  // The transaction's keys are 'C' storage_id ...; the reader is usually on its first one already.
  const std::string prefix = keys::ChunksOf(txn.storage_id());
  const std::string first = keys::Chunk(txn.storage_id(), 0);
  if (!it_->Valid() || it_->key().ToStringView() != first) it_->Seek(prefix);
  auto in_transaction = [&] { return it_->Valid() && it_->key().starts_with(prefix); };
  uint64_t expected_seq = 0;
  uint64_t expected_chunk = 0;
  if (*version == 1) {
    if (absl::Status st = ForEachVersionOneChange(it_.get(), prefix, txn, &expected_seq, visit); !st.ok()) return st;
  }
  for (; *version != 1 && in_transaction(); it_->Next()) {
    const std::optional<keys::ChunkKey> key = keys::DecodeChunk(it_->key().ToStringView());
    if (!key || key->chunk_seq != expected_chunk) {
      return keys::Damaged(fmt::format(
          "change log is missing changes from change {} of the transaction committed at {} (run 'pgpitr verify')",
          expected_seq, pg::Lsn(txn.commit_lsn()).ToString()));
    }
    ++expected_chunk;
    const std::string_view value = it_->value().ToStringView();
    uint64_t first_seq = 0;
    size_t changes = 0;
    proto::ChangeChunk* parsed = nullptr;
    if (decoder_.Decode(value)) {
      first_seq = decoder_.first_seq();
      changes = decoder_.size();
    } else {
      // Not in a form the fast decoder reads: protobuf's parser decides, and names the damage.
      arena_.Reset();
      auto* chunk = google::protobuf::Arena::CreateMessage<proto::ChangeChunk>(&arena_);
      if (!chunk->ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        return ParseStored(value, chunk,
                           fmt::format("C of the transaction committed at {}", pg::Lsn(txn.commit_lsn()).ToString()));
      }
      parsed = chunk;
      first_seq = chunk->first_seq();
      changes = static_cast<size_t>(chunk->changes_size());
    }
    if (first_seq != expected_seq) {
      return keys::Damaged(
          fmt::format("change log is missing change {} of the transaction committed at {} (run 'pgpitr verify')",
                      expected_seq, pg::Lsn(txn.commit_lsn()).ToString()));
    }
    for (size_t i = 0; i < changes; ++i) {
      proto::Change& change =
          parsed != nullptr ? *parsed->mutable_changes(static_cast<int>(i)) : decoder_.mutable_change(i);
      if (absl::Status st = visit(change); !st.ok()) return st;
    }
    expected_seq += changes;
  }
  if (!it_->status().ok()) {
    return FromRocks(it_->status(), fmt::format("reading the changes of the transaction committed at {}",
                                                pg::Lsn(txn.commit_lsn()).ToString()));
  }
  if (expected_seq != txn.change_count()) {
    return keys::Damaged(
        fmt::format("change log holds {} of the {} changes of the transaction committed at {} (run 'pgpitr verify')",
                    expected_seq, txn.change_count(), pg::Lsn(txn.commit_lsn()).ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<uint32_t, proto::RelationSchema>> ChangeLog::Schemas() const {
  std::map<uint32_t, proto::RelationSchema> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(keys::Start(Tag::kSchema)); it->Valid() && keys::HasTag(it->key().ToStringView(), Tag::kSchema);
       it->Next()) {
    proto::RelationSchema schema;
    if (absl::Status st = ParseStored(it->value().ToStringView(), &schema, "S"); !st.ok()) return st;
    out[schema.schema_id()] = std::move(schema);
  }
  if (absl::Status st = FromRocks(it->status(), "reading schemas"); !st.ok()) return st;
  return out;
}

absl::StatusOr<std::map<uint32_t, proto::TypeInfo>> ChangeLog::Types() const {
  std::map<uint32_t, proto::TypeInfo> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(keys::Start(Tag::kType)); it->Valid() && keys::HasTag(it->key().ToStringView(), Tag::kType);
       it->Next()) {
    proto::TypeInfo type;
    if (absl::Status st = ParseStored(it->value().ToStringView(), &type, "Y"); !st.ok()) return st;
    out[type.oid()] = std::move(type);
  }
  if (absl::Status st = FromRocks(it->status(), "reading types"); !st.ok()) return st;
  return out;
}

absl::Status ChangeLog::ForEachSequenceSample(
    pg::Lsn from, const std::function<absl::Status(const proto::SequenceSample&)>& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(keys::SequenceSample(from));
       it->Valid() && keys::HasTag(it->key().ToStringView(), Tag::kSequenceSample); it->Next()) {
    proto::SequenceSample sample;
    if (absl::Status st = ParseStored(it->value().ToStringView(), &sample, "Q"); !st.ok()) return st;
    if (absl::Status st = visit(sample); !st.ok()) return st;
  }
  return FromRocks(it->status(), "reading sequence samples");
}

absl::Status ChangeLog::ForEachCatalogCheck(
    pg::Lsn from, const std::function<absl::Status(const proto::CatalogCheck&)>& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(keys::CatalogCheck(from)); it->Valid() && keys::HasTag(it->key().ToStringView(), Tag::kCatalogCheck);
       it->Next()) {
    proto::CatalogCheck check;
    if (absl::Status st = ParseStored(it->value().ToStringView(), &check, "D"); !st.ok()) return st;
    if (absl::Status st = visit(check); !st.ok()) return st;
  }
  return FromRocks(it->status(), "reading catalog checks");
}

absl::StatusOr<std::optional<proto::CatalogCheck>> ChangeLog::LastCatalogCheck() const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  it->SeekForPrev(keys::CatalogCheck(pg::Lsn(~uint64_t{0})));
  if (it->Valid() && keys::HasTag(it->key().ToStringView(), Tag::kCatalogCheck)) {
    proto::CatalogCheck check;
    if (absl::Status st = ParseStored(it->value().ToStringView(), &check, "D"); !st.ok()) return st;
    return check;
  }
  if (absl::Status st = FromRocks(it->status(), "reading catalog checks"); !st.ok()) return st;
  return std::optional<proto::CatalogCheck>();
}

absl::StatusOr<std::optional<proto::Mark>> ChangeLog::GetMark(std::string_view name) const {
  return GetStored<proto::Mark>(db_.get(), keys::Mark(name), "reading a mark", "K");
}

absl::StatusOr<std::vector<proto::Mark>> ChangeLog::Marks() const {
  std::vector<proto::Mark> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(keys::Start(Tag::kMark)); it->Valid() && keys::HasTag(it->key().ToStringView(), Tag::kMark);
       it->Next()) {
    proto::Mark mark;
    if (absl::Status st = ParseStored(it->value().ToStringView(), &mark, "K"); !st.ok()) return st;
    out.push_back(std::move(mark));
  }
  if (absl::Status st = FromRocks(it->status(), "reading marks"); !st.ok()) return st;
  std::sort(out.begin(), out.end(),
            [](const proto::Mark& a, const proto::Mark& b) { return a.commit_lsn() < b.commit_lsn(); });
  return out;
}

absl::StatusOr<std::vector<uint64_t>> ChangeLog::PendingStorageIds() const {
  std::vector<uint64_t> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(keys::Start(Tag::kPending)); it->Valid() && keys::HasTag(it->key().ToStringView(), Tag::kPending);
       it->Next()) {
    const std::optional<uint64_t> storage_id = keys::DecodePending(it->key().ToStringView());
    if (!storage_id) return keys::Damaged("change log pending key has the wrong size");
    out.push_back(*storage_id);
  }
  if (absl::Status st = FromRocks(it->status(), "reading pending transactions"); !st.ok()) return st;
  return out;
}

uint64_t ChangeLog::SizeOnDisk() const {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string ext = entry.path().extension().string();
    if (entry.is_regular_file(ec) && (ext == ".sst" || ext == ".log")) total += entry.file_size(ec);
  }
  return total;
}

absl::Status ChangeLog::FlushMemtables() { return FromRocks(db_->Flush(rocksdb::FlushOptions()), "flushing"); }

absl::StatusOr<std::vector<proto::Gap>> ChangeLog::Gaps() const {
  std::vector<proto::Gap> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(keys::Start(Tag::kGap)); it->Valid() && keys::HasTag(it->key().ToStringView(), Tag::kGap); it->Next()) {
    proto::Gap gap;
    if (absl::Status st = ParseStored(it->value().ToStringView(), &gap, "G"); !st.ok()) return st;
    out.push_back(std::move(gap));
  }
  if (absl::Status st = FromRocks(it->status(), "reading gaps"); !st.ok()) return st;
  return out;
}

absl::StatusOr<std::optional<proto::Retention>> ChangeLog::RetentionState() const {
  return GetStored<proto::Retention>(db_.get(), keys::Retention(), "reading the retention record", "retention");
}

absl::Status ChangeLog::RecordGap(pg::Lsn from, pg::Lsn to, std::string_view reason) {
  proto::Gap gap;
  gap.set_from_lsn(from.value());
  gap.set_to_lsn(to.value());
  gap.set_reason(std::string(reason));
  gap.set_recorded_time(pg::PgTimeFromSystemClock(std::chrono::system_clock::now()));
  rocksdb::WriteBatch batch;
  batch.Put(keys::Gap(from), keys::Serialize(gap));
  return keys::Write(*this, &batch, /*sync=*/true);
}

absl::Status ChangeLog::PutRetentionState(const proto::Retention& retention) {
  rocksdb::WriteBatch batch;
  batch.Put(keys::Retention(), keys::Serialize(retention));
  return keys::Write(*this, &batch, /*sync=*/true);
}

absl::StatusOr<proto::ChangeChunk> ChangeLog::ReadChunk(uint64_t storage_id, uint64_t chunk_seq) const {
  absl::StatusOr<std::optional<proto::ChangeChunk>> chunk = GetStored<proto::ChangeChunk>(
      db_.get(), keys::Chunk(storage_id, chunk_seq), "reading back a transaction's changes", "C");
  if (!chunk.ok()) return chunk.status();
  if (!chunk->has_value()) {
    return keys::Damaged(fmt::format("change log is missing chunk {} of stored transaction {}", chunk_seq, storage_id));
  }
  return **chunk;
}

absl::StatusOr<std::optional<proto::SequenceSample>> ChangeLog::SequenceSampleAt(pg::Lsn check_lsn) const {
  return GetStored<proto::SequenceSample>(db_.get(), keys::SequenceSample(check_lsn), "reading a sequence sample", "Q");
}

absl::StatusOr<ChangeLog::Deletion> ChangeLog::DeleteBelow(pg::Lsn horizon) {
  rocksdb::WriteBatch batch;
  Deletion deleted;
  rocksdb::ReadOptions read;
  // Transactions and their changes.
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read));
    for (it->Seek(keys::Start(Tag::kTransaction));
         it->Valid() && keys::HasTag(it->key().ToStringView(), Tag::kTransaction); it->Next()) {
      if (keys::NumberOf(it->key().ToStringView()) >= horizon.value()) break;
      proto::Transaction txn;
      if (absl::Status s = ParseStored(it->value().ToStringView(), &txn, "T"); !s.ok()) return s;
      if (txn.change_count() > 0) {
        batch.DeleteRange(keys::Chunk(txn.storage_id(), 0), keys::Chunk(txn.storage_id() + 1, 0));
      }
      ++deleted.transactions;
    }
    if (absl::Status s = FromRocks(it->status(), "reading transactions for retention"); !s.ok()) return s;
    batch.DeleteRange(keys::Transaction(pg::Lsn()), keys::Transaction(horizon));
  }
  // The time index is in commit order (its running maximum is monotonic), so the entries of commits
  // below the horizon are a prefix.
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read));
    std::string first_kept;
    bool any = false;
    for (it->Seek(keys::Start(Tag::kTimeIndex)); it->Valid() && keys::HasTag(it->key().ToStringView(), Tag::kTimeIndex);
         it->Next()) {
      const std::optional<keys::TimeIndexEntry> entry = keys::DecodeTimeIndex(it->key().ToStringView());
      if (entry && entry->commit_lsn >= horizon) {
        first_kept = it->key().ToString();
        break;
      }
      any = true;
    }
    if (absl::Status s = FromRocks(it->status(), "reading the time index for retention"); !s.ok()) return s;
    if (any)
      batch.DeleteRange(keys::Start(Tag::kTimeIndex), first_kept.empty() ? keys::End(Tag::kTimeIndex) : first_kept);
  }
  // Sequence samples: the newest one below the horizon is rewritten to hold every sequence's last
  // sampled value, so a restore at the horizon still knows every sequence sampled before it.
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read));
    std::map<std::pair<std::string, std::string>, proto::SequenceSample::Sequence> last;
    std::optional<proto::SequenceSample> newest;
    uint64_t count = 0;
    for (it->Seek(keys::Start(Tag::kSequenceSample));
         it->Valid() && keys::HasTag(it->key().ToStringView(), Tag::kSequenceSample); it->Next()) {
      if (keys::NumberOf(it->key().ToStringView()) >= horizon.value()) break;
      proto::SequenceSample sample;
      if (absl::Status s = ParseStored(it->value().ToStringView(), &sample, "Q"); !s.ok()) return s;
      for (const auto& seq : sample.sequences()) last[{seq.namespace_(), seq.name()}] = seq;
      newest = std::move(sample);
      ++count;
    }
    if (absl::Status s = FromRocks(it->status(), "reading sequence samples for retention"); !s.ok()) return s;
    if (newest.has_value() && count > 1) {
      const std::string newest_key = keys::SequenceSample(pg::Lsn(newest->check_lsn()));
      batch.DeleteRange(keys::Start(Tag::kSequenceSample), newest_key);
      proto::SequenceSample folded;
      folded.set_check_lsn(newest->check_lsn());
      folded.set_check_time(newest->check_time());
      for (const auto& [name, seq] : last) *folded.add_sequences() = seq;
      batch.Put(newest_key, keys::Serialize(folded));
      deleted.samples_folded = count - 1;
    }
  }
  // Catalog checks: the newest one below the horizon still says what the relations were at it.
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read));
    std::string newest_key;
    for (it->Seek(keys::Start(Tag::kCatalogCheck));
         it->Valid() && keys::HasTag(it->key().ToStringView(), Tag::kCatalogCheck); it->Next()) {
      if (keys::NumberOf(it->key().ToStringView()) >= horizon.value()) break;
      newest_key = it->key().ToString();
    }
    if (absl::Status s = FromRocks(it->status(), "reading catalog checks for retention"); !s.ok()) return s;
    if (!newest_key.empty()) batch.DeleteRange(keys::Start(Tag::kCatalogCheck), newest_key);
  }
  // Marks no restore can reach any more, and gaps wholly below the horizon.
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read));
    for (it->Seek(keys::Start(Tag::kMark)); it->Valid() && keys::HasTag(it->key().ToStringView(), Tag::kMark);
         it->Next()) {
      proto::Mark mark;
      if (absl::Status s = ParseStored(it->value().ToStringView(), &mark, "K"); !s.ok()) return s;
      if (mark.commit_lsn() < horizon.value()) {
        batch.Delete(it->key());
        ++deleted.marks;
      }
    }
    if (absl::Status s = FromRocks(it->status(), "reading marks for retention"); !s.ok()) return s;
    for (it->Seek(keys::Start(Tag::kGap)); it->Valid() && keys::HasTag(it->key().ToStringView(), Tag::kGap);
         it->Next()) {
      proto::Gap gap;
      if (absl::Status s = ParseStored(it->value().ToStringView(), &gap, "G"); !s.ok()) return s;
      if (gap.to_lsn() <= horizon.value()) batch.Delete(it->key());
    }
    if (absl::Status s = FromRocks(it->status(), "reading gaps for retention"); !s.ok()) return s;
  }
  if (absl::Status s = keys::Write(*this, &batch, /*sync=*/true); !s.ok()) return s;
  return deleted;
}

}  // namespace pgpitr::wal
