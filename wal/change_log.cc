#include "wal/change_log.h"

#include <algorithm>

#include "fmt/format.h"
#include "rocksdb/options.h"
#include "rocksdb/sst_partitioner.h"
#include "rocksdb/table.h"

namespace pgpitr::wal {

namespace {

void AppendU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}
void AppendU32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}
uint64_t ReadU64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

std::string Prefixed(char tag, uint64_t a) {
  std::string key(1, tag);
  AppendU64(&key, a);
  return key;
}

absl::Status FromRocks(const rocksdb::Status& s, std::string_view doing) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsCorruption()) {
    return absl::DataLossError(
        fmt::format("change log is damaged while {}: {} (run 'pgpitr info' "
                    "to see what is still restorable)",
                    doing, s.ToString()));
  }
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return absl::FailedPreconditionError(
        fmt::format("the change log is in use by another pgpitr process ({}); stop it first", s.ToString()));
  }
  return absl::InternalError(fmt::format("change log error while {}: {}", doing, s.ToString()));
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

absl::Status ParseStored(std::string_view bytes, google::protobuf::Message* out, std::string_view what) {
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(
        fmt::format("change log record {} is damaged (it does not parse); the repository needs 'pgpitr verify'", what));
  }
  return absl::OkStatus();
}

std::string ChangeLog::StateKey() { return "Mstate"; }
std::string ChangeLog::TransactionKey(pg::Lsn commit_lsn) { return Prefixed('T', commit_lsn.value()); }
std::string ChangeLog::TimeIndexKey(pg::PgTime running_max_commit_time, pg::Lsn commit_lsn) {
  std::string key = Prefixed('W', static_cast<uint64_t>(running_max_commit_time) ^ (uint64_t{1} << 63));
  AppendU64(&key, commit_lsn.value());
  return key;
}
std::string ChangeLog::ChangeKey(uint64_t storage_id, uint64_t chunk_seq) {
  std::string key = Prefixed('C', storage_id);
  AppendU64(&key, chunk_seq);
  return key;
}
std::string ChangeLog::PendingKey(uint64_t storage_id) { return Prefixed('P', storage_id); }
std::string ChangeLog::SchemaKey(uint32_t schema_id) {
  std::string key(1, 'S');
  AppendU32(&key, schema_id);
  return key;
}
std::string ChangeLog::TypeKey(uint32_t type_oid) {
  std::string key(1, 'Y');
  AppendU32(&key, type_oid);
  return key;
}
std::string ChangeLog::SequenceSampleKey(pg::Lsn check_lsn) { return Prefixed('Q', check_lsn.value()); }
std::string ChangeLog::MarkKey(std::string_view name) { return "K" + std::string(name); }
std::string ChangeLog::GapKey(pg::Lsn from) { return Prefixed('G', from.value()); }
std::string ChangeLog::RetentionKey() { return "Mretention"; }

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
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), StateKey(), &value);
  proto::CaptureState state;
  if (s.IsNotFound()) {
    state.set_format_version(kChangeLogFormatVersion);
    return state;
  }
  if (absl::Status st = FromRocks(s, "reading capture state"); !st.ok()) return st;
  if (absl::Status st = ParseStored(value, &state, "state"); !st.ok()) return st;
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
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), TransactionKey(commit_lsn), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (absl::Status st = FromRocks(s, "reading a transaction"); !st.ok()) return st;
  proto::Transaction txn;
  if (absl::Status st = ParseStored(value, &txn, "T " + commit_lsn.ToString()); !st.ok()) return st;
  return txn;
}

namespace {

// The transaction record the iterator is on, or nullopt when it has left the 'T' keys.
absl::StatusOr<std::optional<proto::Transaction>> TransactionAt(const rocksdb::Iterator& it) {
  if (!it.Valid() || it.key()[0] != 'T') {
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
  it->SeekForPrev(TransactionKey(lsn));
  return TransactionAt(*it);
}

absl::StatusOr<std::optional<proto::Transaction>> ChangeLog::FirstCommitAtOrAfter(pg::Lsn lsn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  it->Seek(TransactionKey(lsn));
  return TransactionAt(*it);
}

absl::StatusOr<std::optional<proto::Transaction>> ChangeLog::LastCommitNotAfterTime(pg::PgTime t) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  // The last index key whose running maximum is <= t: seek before (t, max LSN).
  it->SeekForPrev(TimeIndexKey(t, pg::Lsn(~uint64_t{0})));
  if (!it->Valid() || it->key()[0] != 'W') {
    if (absl::Status st = FromRocks(it->status(), "seeking the time index"); !st.ok()) return st;
    return std::nullopt;
  }
  const std::string_view key = it->key().ToStringView();
  if (key.size() != 17) return absl::DataLossError("change log time index key has the wrong size");
  absl::StatusOr<std::optional<proto::Transaction>> txn = GetTransaction(pg::Lsn(ReadU64(key.substr(9))));
  if (txn.ok() && !txn->has_value()) {
    return absl::DataLossError(
        fmt::format("change log time index names a transaction at {} that it does not hold (run 'pgpitr verify')",
                    pg::Lsn(ReadU64(key.substr(9))).ToString()));
  }
  return txn;
}

absl::Status ChangeLog::ForEachTransaction(pg::Lsn from, pg::Lsn to,
                                           const std::function<absl::Status(const proto::Transaction&)>& visit) const {
  rocksdb::ReadOptions read;
  const std::string upper = TransactionKey(pg::Lsn(to.value() == ~uint64_t{0} ? to.value() : to.value() + 1));
  rocksdb::Slice upper_slice(upper);
  if (to.value() != ~uint64_t{0}) read.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read));
  for (it->Seek(TransactionKey(from)); it->Valid() && it->key()[0] == 'T'; it->Next()) {
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
    const std::string_view key = it->key().ToStringView();
    if (key.size() != 17 || ReadU64(key.substr(9)) != *seen) {
      return absl::DataLossError(
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
  const std::string prefix = Prefixed('C', txn.storage_id());
  const std::string first = ChangeKey(txn.storage_id(), 0);
  if (!it_->Valid() || it_->key().ToStringView() != first) it_->Seek(prefix);
  auto in_transaction = [&] { return it_->Valid() && it_->key().starts_with(prefix); };
  uint64_t expected_seq = 0;
  uint64_t expected_chunk = 0;
  if (*version == 1) {
    if (absl::Status st = ForEachVersionOneChange(it_.get(), prefix, txn, &expected_seq, visit); !st.ok()) return st;
  }
  for (; *version != 1 && in_transaction(); it_->Next()) {
    const std::string_view key = it_->key().ToStringView();
    if (key.size() != 17 || ReadU64(key.substr(9)) != expected_chunk) {
      return absl::DataLossError(fmt::format(
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
      return absl::DataLossError(
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
    return absl::DataLossError(
        fmt::format("change log holds {} of the {} changes of the transaction committed at {} (run 'pgpitr verify')",
                    expected_seq, txn.change_count(), pg::Lsn(txn.commit_lsn()).ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<uint32_t, proto::RelationSchema>> ChangeLog::Schemas() const {
  std::map<uint32_t, proto::RelationSchema> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("S"); it->Valid() && it->key()[0] == 'S'; it->Next()) {
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
  for (it->Seek("Y"); it->Valid() && it->key()[0] == 'Y'; it->Next()) {
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
  for (it->Seek(SequenceSampleKey(from)); it->Valid() && it->key()[0] == 'Q'; it->Next()) {
    proto::SequenceSample sample;
    if (absl::Status st = ParseStored(it->value().ToStringView(), &sample, "Q"); !st.ok()) return st;
    if (absl::Status st = visit(sample); !st.ok()) return st;
  }
  return FromRocks(it->status(), "reading sequence samples");
}

absl::StatusOr<std::optional<proto::Mark>> ChangeLog::GetMark(std::string_view name) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), MarkKey(name), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (absl::Status st = FromRocks(s, "reading a mark"); !st.ok()) return st;
  proto::Mark mark;
  if (absl::Status st = ParseStored(value, &mark, "K"); !st.ok()) return st;
  return mark;
}

absl::StatusOr<std::vector<proto::Mark>> ChangeLog::Marks() const {
  std::vector<proto::Mark> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("K"); it->Valid() && it->key()[0] == 'K'; it->Next()) {
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
  for (it->Seek("P"); it->Valid() && it->key()[0] == 'P'; it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() != 9) return absl::DataLossError("change log pending key has the wrong size");
    out.push_back(ReadU64(key.substr(1)));
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
  for (it->Seek("G"); it->Valid() && it->key()[0] == 'G'; it->Next()) {
    proto::Gap gap;
    if (absl::Status st = ParseStored(it->value().ToStringView(), &gap, "G"); !st.ok()) return st;
    out.push_back(std::move(gap));
  }
  if (absl::Status st = FromRocks(it->status(), "reading gaps"); !st.ok()) return st;
  return out;
}

absl::StatusOr<std::optional<proto::Retention>> ChangeLog::RetentionState() const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), RetentionKey(), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (absl::Status st = FromRocks(s, "reading the retention record"); !st.ok()) return st;
  proto::Retention retention;
  if (absl::Status st = ParseStored(value, &retention, "retention"); !st.ok()) return st;
  return retention;
}

absl::Status ChangeLog::RecordGap(pg::Lsn from, pg::Lsn to, std::string_view reason) {
  proto::Gap gap;
  gap.set_from_lsn(from.value());
  gap.set_to_lsn(to.value());
  gap.set_reason(std::string(reason));
  gap.set_recorded_time(pg::PgTimeFromSystemClock(std::chrono::system_clock::now()));
  std::string bytes;
  gap.SerializeToString(&bytes);
  rocksdb::WriteBatch batch;
  batch.Put(GapKey(from), bytes);
  return Write(&batch, /*sync=*/true);
}

absl::Status ChangeLog::Write(rocksdb::WriteBatch* batch, bool sync) {
  rocksdb::WriteOptions options;
  options.sync = sync;
  return FromRocks(db_->Write(options, batch), "writing");
}

}  // namespace pgpitr::wal
