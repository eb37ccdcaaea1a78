#include "wal/change_log_keys.h"

#include "base/error.h"
#include "fmt/format.h"

namespace pgpitr::wal::keys {

namespace {

void AppendU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}
void AppendU32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}
// The big-endian integer of `bytes` at `at`, zero-padded when the key is cut short.
uint64_t ReadU64(std::string_view key, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | (at + i < key.size() ? static_cast<uint8_t>(key[at + i]) : 0);
  return v;
}

std::string Prefixed(Tag tag, uint64_t a) {
  std::string key(1, static_cast<char>(tag));
  AppendU64(&key, a);
  return key;
}

// A well-formed key of `tag` with one u64 after it.
std::optional<uint64_t> DecodeU64Key(std::string_view key, Tag tag) {
  if (key.size() != 9 || !HasTag(key, tag)) return std::nullopt;
  return ReadU64(key, 1);
}

}  // namespace

std::optional<Tag> TagOf(std::string_view key) {
  if (key.empty()) return std::nullopt;
  for (Tag tag : kAllTags) {
    if (key[0] == static_cast<char>(tag)) return tag;
  }
  return std::nullopt;
}

std::string Start(Tag tag) { return std::string(1, static_cast<char>(tag)); }
std::string End(Tag tag) { return std::string(1, static_cast<char>(static_cast<char>(tag) + 1)); }

std::string State() { return "Mstate"; }
std::string Retention() { return "Mretention"; }

std::string Transaction(pg::Lsn commit_lsn) { return Prefixed(Tag::kTransaction, commit_lsn.value()); }
std::optional<pg::Lsn> DecodeTransaction(std::string_view key) {
  std::optional<uint64_t> v = DecodeU64Key(key, Tag::kTransaction);
  if (!v) return std::nullopt;
  return pg::Lsn(*v);
}

std::string TimeIndex(pg::PgTime running_max_commit_time, pg::Lsn commit_lsn) {
  std::string key = Prefixed(Tag::kTimeIndex, static_cast<uint64_t>(running_max_commit_time) ^ (uint64_t{1} << 63));
  AppendU64(&key, commit_lsn.value());
  return key;
}
std::optional<TimeIndexEntry> DecodeTimeIndex(std::string_view key) {
  if (key.size() != 17 || !HasTag(key, Tag::kTimeIndex)) return std::nullopt;
  return TimeIndexEntry{.running_max_commit_time = static_cast<pg::PgTime>(ReadU64(key, 1) ^ (uint64_t{1} << 63)),
                        .commit_lsn = pg::Lsn(ReadU64(key, 9))};
}

std::string Chunk(uint64_t storage_id, uint64_t chunk_seq) {
  std::string key = Prefixed(Tag::kChunk, storage_id);
  AppendU64(&key, chunk_seq);
  return key;
}
std::string ChunksOf(uint64_t storage_id) { return Prefixed(Tag::kChunk, storage_id); }
std::optional<ChunkKey> DecodeChunk(std::string_view key) {
  if (key.size() != 17 || !HasTag(key, Tag::kChunk)) return std::nullopt;
  return ChunkKey{.storage_id = ReadU64(key, 1), .chunk_seq = ReadU64(key, 9)};
}

std::string Pending(uint64_t storage_id) { return Prefixed(Tag::kPending, storage_id); }
std::optional<uint64_t> DecodePending(std::string_view key) { return DecodeU64Key(key, Tag::kPending); }

std::string Schema(uint32_t schema_id) {
  std::string key(1, static_cast<char>(Tag::kSchema));
  AppendU32(&key, schema_id);
  return key;
}
std::string Type(uint32_t type_oid) {
  std::string key(1, static_cast<char>(Tag::kType));
  AppendU32(&key, type_oid);
  return key;
}

std::string CatalogCheck(pg::Lsn check_lsn) { return Prefixed(Tag::kCatalogCheck, check_lsn.value()); }
std::string SequenceSample(pg::Lsn check_lsn) { return Prefixed(Tag::kSequenceSample, check_lsn.value()); }
std::optional<pg::Lsn> DecodeSequenceSample(std::string_view key) {
  std::optional<uint64_t> v = DecodeU64Key(key, Tag::kSequenceSample);
  if (!v) return std::nullopt;
  return pg::Lsn(*v);
}

std::string Mark(std::string_view name) { return Start(Tag::kMark) + std::string(name); }

std::string Gap(pg::Lsn from) { return Prefixed(Tag::kGap, from.value()); }

std::string Numbered(Tag tag, uint64_t number) { return Prefixed(tag, number); }
uint64_t NumberOf(std::string_view key) { return key.size() > 1 ? ReadU64(key, 1) : 0; }

std::string Serialize(const google::protobuf::Message& message) {
  std::string out;
  message.SerializeToString(&out);
  return out;
}

absl::Status Damaged(std::string message) {
  return base::WithKind(absl::DataLossError(std::move(message)), base::ErrorKind::kChangeLogDamaged);
}

absl::Status ParseStored(std::string_view bytes, google::protobuf::Message* out, std::string_view what) {
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Damaged(
        fmt::format("change log record {} is damaged (it does not parse); the repository needs 'pgpitr verify'", what));
  }
  return absl::OkStatus();
}

absl::Status FromRocks(const rocksdb::Status& s, std::string_view doing) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsCorruption()) {
    return Damaged(
        fmt::format("change log is damaged while {}: {} (run 'pgpitr info' "
                    "to see what is still restorable)",
                    doing, s.ToString()));
  }
  // RocksDB says "While lock file: ... Resource temporarily unavailable" and has no code of its own
  // for it.
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return absl::FailedPreconditionError(
        fmt::format("the change log is in use by another pgpitr process ({}); stop it first", s.ToString()));
  }
  return absl::InternalError(fmt::format("change log error while {}: {}", doing, s.ToString()));
}

rocksdb::DB* Database(const ChangeLog& log) { return log.db_.get(); }

absl::Status Write(ChangeLog& log, rocksdb::WriteBatch* batch, bool sync) {
  rocksdb::WriteOptions options;
  options.sync = sync;
  return FromRocks(Database(log)->Write(options, batch), "writing");
}

}  // namespace pgpitr::wal::keys
