// The change log's key grammar, its one owner: an encoder and a decoder for each kind of key, and
// the raw access the change log's own writers need. Internal to wal/ (the change log, its writer,
// retention, verify) and their tests; the other layers use ChangeLog's operations.
//   const std::string key = keys::Transaction(pg::Lsn(0x16B3748));
//   std::optional<pg::Lsn> lsn = keys::DecodeTransaction(key);   // 0/16B3748
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "pg/lsn.h"
#include "pg/time.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "wal/change_log.h"

namespace pgpitr::wal::keys {

// The grammar (all integers big-endian, so byte order is numeric order):
//   'M' "state"                               -> proto::CaptureState
//   'M' "retention"                           -> proto::Retention  see wal/retention.h
//   'T' u64 commit_lsn                        -> proto::Transaction
//   'W' u64 ordered(max_commit_time) u64 commit_lsn -> ""   time index, see below
//   'C' u64 storage_id u64 chunk_seq          -> proto::ChangeChunk  a transaction's changes, in
//                                                                order, in chunks of <= ~128 KiB
//                                                                numbered from 0 (format version 1:
//                                                                one proto::Change per change number)
//   'P' u64 storage_id                        -> u32 xid         chunks of a transaction not yet
//                                                                committed (deleted at startup)
//   'S' u32 schema_id                         -> proto::RelationSchema
//   'Y' u32 type_oid                          -> proto::TypeInfo
//   'Q' u64 check_lsn                         -> proto::SequenceSample
//   'D' u64 check_lsn                         -> proto::CatalogCheck  relations changed (catalog_digest.h)
//   'K' name                                  -> proto::Mark      named restore points
//   'G' u64 from_lsn                          -> proto::Gap       known holes (RecordGap)
// ordered(t) flips the sign bit of the int64 so negative times sort first.
//
// The time index: commit times are not monotonic in commit order (a backend takes its timestamp
// before it inserts the commit record), so "restore to time T" follows PostgreSQL's recovery rule:
// replay in commit order and stop before the first commit whose time is after T. Each 'W' key
// carries the largest commit time seen up to and including that commit; that running maximum is
// monotonic in commit order, so the first commit after T is one Seek away.
enum class Tag : char {
  kChunk = 'C',
  kCatalogCheck = 'D',
  kGap = 'G',
  kMark = 'K',
  kMeta = 'M',
  kPending = 'P',
  kSequenceSample = 'Q',
  kSchema = 'S',
  kTransaction = 'T',
  kTimeIndex = 'W',
  kType = 'Y',
};
// Every tag, in byte order.
inline constexpr Tag kAllTags[] = {
    Tag::kChunk,          Tag::kCatalogCheck, Tag::kGap,    Tag::kMark,        Tag::kMeta,      Tag::kPending,
    Tag::kSequenceSample, Tag::kSchema, Tag::kTransaction, Tag::kTimeIndex, Tag::kType};

// The tag a key starts with, or nullopt for an empty key or an unknown tag.
std::optional<Tag> TagOf(std::string_view key);
inline bool HasTag(std::string_view key, Tag tag) { return !key.empty() && key[0] == static_cast<char>(tag); }
// The first key of a tag, and the first key after all of its keys.
std::string Start(Tag tag);
std::string End(Tag tag);

std::string State();
std::string Retention();

std::string Transaction(pg::Lsn commit_lsn);
std::optional<pg::Lsn> DecodeTransaction(std::string_view key);

struct TimeIndexEntry {
  pg::PgTime running_max_commit_time = 0;
  pg::Lsn commit_lsn;
};
std::string TimeIndex(pg::PgTime running_max_commit_time, pg::Lsn commit_lsn);
std::optional<TimeIndexEntry> DecodeTimeIndex(std::string_view key);

struct ChunkKey {
  uint64_t storage_id = 0;
  uint64_t chunk_seq = 0;
};
std::string Chunk(uint64_t storage_id, uint64_t chunk_seq);
// What every chunk key of a transaction starts with.
std::string ChunksOf(uint64_t storage_id);
std::optional<ChunkKey> DecodeChunk(std::string_view key);

std::string Pending(uint64_t storage_id);
std::optional<uint64_t> DecodePending(std::string_view key);

std::string Schema(uint32_t schema_id);
std::string Type(uint32_t type_oid);

std::string SequenceSample(pg::Lsn check_lsn);
std::optional<pg::Lsn> DecodeSequenceSample(std::string_view key);

std::string CatalogCheck(pg::Lsn check_lsn);

std::string Mark(std::string_view name);

std::string Gap(pg::Lsn from);

// For verify's probing of a damaged stretch: the key of `tag` carrying `number` (its first integer:
// commit LSN, storage id, check LSN, ...), and the number a key carries (0 when it has none; a key
// cut short reads as if zero-padded).
std::string Numbered(Tag tag, uint64_t number);
uint64_t NumberOf(std::string_view key);

// Values: stored protobuf messages. A value that does not parse is a DataLoss error naming `what`.
std::string Serialize(const google::protobuf::Message& message);
// A record of the change log that does not read back: DataLoss, kind kChangeLogDamaged (restore
// names the transaction it stopped at; verify says what is still restorable).
absl::Status Damaged(std::string message);
[[nodiscard]] absl::Status ParseStored(std::string_view bytes, google::protobuf::Message* out, std::string_view what);
// A RocksDB status as ours: Corruption is DataLoss (the repository needs verify), the LOCK file
// held by another process is FailedPrecondition, anything else Internal.
[[nodiscard]] absl::Status FromRocks(const rocksdb::Status& s, std::string_view doing);

// The database itself, for the change log's writers (ChangeLogWriter, retention) and for tests that
// damage it on purpose.
rocksdb::DB* Database(const ChangeLog& log);
// Writes a batch built with the encoders above; sync=true returns once it is on disk (fsync of
// RocksDB's WAL).
[[nodiscard]] absl::Status Write(ChangeLog& log, rocksdb::WriteBatch* batch, bool sync);

}  // namespace pgpitr::wal::keys
