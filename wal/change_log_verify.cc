// ChangeLog::VerifyScan: `pgpitr verify`'s reading of the change log, key by key (the bases are
// wal/verify.cc's).
#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "base/status_format.h"
#include "fmt/format.h"
#include "wal/change_log.h"
#include "wal/change_log_keys.h"

namespace pgpitr::wal {

using keys::Tag;

namespace {

constexpr uint64_t kMax = ~uint64_t{0};

// Seek(probe) succeeds: *found is the key it lands on, empty at the end of the log.
bool Readable(rocksdb::DB* db, const rocksdb::ReadOptions& read, const std::string& probe, std::string* found) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read));
  it->Seek(probe);
  if (!it->status().ok()) return false;
  *found = it->Valid() ? it->key().ToString() : std::string();
  return true;
}

// After a read failed past `last_good`, the first key beyond the damaged block(s) that reads
// back: probes at exponentially growing distances, then bisects. nullopt when nothing after the
// damage reads; an empty string when what follows is the end of the log.
std::optional<std::string> FirstReadableAfter(rocksdb::DB* db, const rocksdb::ReadOptions& read,
                                              const std::string& last_good) {
  const char last_tag = last_good.empty() ? static_cast<char>(keys::kAllTags[0]) : last_good[0];
  std::string found;
  for (keys::Tag each : keys::kAllTags) {
    const char tag = static_cast<char>(each);
    if (tag < last_tag) continue;
    const uint64_t start = tag == last_tag && !last_good.empty() ? keys::NumberOf(last_good) : 0;
    if (tag != last_tag && Readable(db, read, keys::Start(each), &found)) return found;
    uint64_t failed = start;
    for (uint64_t d = 1;; d *= 2) {
      const uint64_t probe = start > kMax - d ? kMax : start + d;
      if (Readable(db, read, keys::Numbered(each, probe), &found)) {
        uint64_t lo = failed, hi = probe;  // Seek(lo) fails, Seek(hi) reads
        while (hi - lo > 1) {
          const uint64_t mid = lo + (hi - lo) / 2;
          std::string at;
          if (Readable(db, read, keys::Numbered(each, mid), &at)) {
            hi = mid;
            found = at;
          } else {
            lo = mid;
          }
        }
        return found;
      }
      failed = probe;
      if (probe == kMax || d > (kMax >> 1)) break;
    }
  }
  return std::nullopt;
}

struct TxnSeen {
  pg::Lsn commit, end;
  uint64_t storage_id = 0;
  uint64_t change_count = 0;
  std::optional<uint64_t> prev;
};

struct DamagedRange {
  std::string last_good;  // empty: from the start
  std::string next;       // empty: to the end
  std::string error;
};

std::string Describe(std::optional<Tag> tag) {
  if (!tag) return "records";
  switch (*tag) {
    case Tag::kTransaction:
      return "transaction records";
    case Tag::kChunk:
      return "row changes";
    case Tag::kTimeIndex:
      return "time index entries";
    case Tag::kSequenceSample:
      return "sequence samples";
    case Tag::kCatalogCheck:
      return "catalog checks";
    case Tag::kSchema:
      return "relation schemas";
    case Tag::kType:
      return "type descriptions";
    case Tag::kMark:
      return "marks";
    case Tag::kMeta:
      return "capture state";
    case Tag::kGap:
      return "gap records";
    case Tag::kPending:
      return "pending markers";
  }
  return "records";
}

}  // namespace

absl::StatusOr<ChangeLog::Check> ChangeLog::VerifyScan(pg::Lsn horizon, base::ProgressSink* progress) const {
  Check report;
  uint32_t format_version = kChangeLogFormatVersion;
  auto record_problem = [&](pg::Lsn from, pg::Lsn to, std::string what) {
    report.problems.push_back({.from = from, .to = to, .what = std::move(what)});
  };
  if (absl::StatusOr<uint32_t> version = FormatVersion(); version.ok()) {
    format_version = *version;
  } else {
    record_problem(pg::Lsn(), pg::Lsn(kMax), fmt::format("change log: {}", version.status().message()));
  }
  // Every key, checksums verified; damaged blocks are stepped over.
  rocksdb::DB* db = db_.get();
  rocksdb::ReadOptions read;
  read.verify_checksums = true;
  read.fill_cache = false;
  std::vector<TxnSeen> txns;
  std::map<uint64_t, uint64_t> changes_by_storage;  // contiguous changes seen from seq 0
  std::set<uint64_t> broken_storage;                // a change out of sequence or unparsable
  std::set<uint64_t> indexed;                       // commit LSNs the time index names
  std::vector<DamagedRange> damaged;
  std::string last_good;
  std::string resume;
  for (;;) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read));
    if (resume.empty())
      it->SeekToFirst();
    else
      it->Seek(resume);
    for (; it->Valid(); it->Next()) {
      const std::string_view key = it->key().ToStringView();
      const std::string_view value = it->value().ToStringView();
      ++report.keys;
      if (progress && report.keys % 4096 == 1) {
        // RocksDB's estimate of the keys there are: good enough for a rate and a time left.
        uint64_t estimate = 0;
        db->GetIntProperty("rocksdb.estimate-num-keys", &estimate);
        progress->Report({.phase = base::Phase::kVerifyChangeLog,
                          .done = report.keys,
                          .total = std::max(estimate, report.keys),
                          .unit = base::Unit::kKeys});
      }
      last_good = std::string(key);
      const std::optional<Tag> tag = keys::TagOf(key);
      if (!tag) continue;
      switch (*tag) {
        case Tag::kTransaction: {
          proto::Transaction txn;
          const std::optional<pg::Lsn> at = keys::DecodeTransaction(key);
          if (!at || !txn.ParseFromArray(value.data(), static_cast<int>(value.size())) ||
              txn.commit_lsn() != at->value()) {
            const pg::Lsn lsn(keys::NumberOf(key));
            record_problem(lsn, lsn,
                           fmt::format("change log: the transaction record at LSN {} is damaged (it does not parse "
                                       "or names another LSN)",
                                       lsn.ToString()));
            break;
          }
          ++report.transactions;
          txns.push_back({pg::Lsn(txn.commit_lsn()), pg::Lsn(txn.end_lsn()), txn.storage_id(), txn.change_count(),
                          txn.has_prev_commit_lsn() ? std::optional<uint64_t>(txn.prev_commit_lsn()) : std::nullopt});
          break;
        }
        case Tag::kChunk: {
          // A chunk of a transaction's changes (wal/change_log_keys.h): it must start where the
          // previous chunk ended.
          const uint64_t storage = keys::NumberOf(key);
          const std::optional<keys::ChunkKey> chunk_key = keys::DecodeChunk(key);
          proto::ChangeChunk chunk;
          uint64_t& seen = changes_by_storage[storage];
          if (format_version == 1) {
            // Version 1: one change per key, numbered from 0.
            proto::Change change;
            if (!chunk_key || !change.ParseFromArray(value.data(), static_cast<int>(value.size())) ||
                chunk_key->chunk_seq != seen) {
              broken_storage.insert(storage);
            } else {
              ++seen;
              ++report.changes;
            }
            break;
          }
          if (!chunk_key || !chunk.ParseFromArray(value.data(), static_cast<int>(value.size())) ||
              chunk.first_seq() != seen) {
            broken_storage.insert(storage);
          } else {
            seen += static_cast<uint64_t>(chunk.changes_size());
            report.changes += static_cast<uint64_t>(chunk.changes_size());
          }
          break;
        }
        case Tag::kTimeIndex:
          if (const std::optional<keys::TimeIndexEntry> entry = keys::DecodeTimeIndex(key)) {
            indexed.insert(entry->commit_lsn.value());
          }
          break;
        case Tag::kSequenceSample: {
          proto::SequenceSample sample;
          if (!sample.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
            const pg::Lsn lsn(keys::NumberOf(key));
            record_problem(lsn, lsn,
                           fmt::format("change log: the sequence sample at LSN {} is damaged", lsn.ToString()));
          }
          break;
        }
        case Tag::kCatalogCheck: {
          proto::CatalogCheck check;
          if (!check.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
            // A restore past it reads it to compare its relations with the source's.
            const pg::Lsn lsn(keys::NumberOf(key));
            record_problem(lsn, pg::Lsn(kMax),
                           fmt::format("change log: the catalog check at LSN {} is damaged", lsn.ToString()));
          }
          break;
        }
        case Tag::kSchema: {
          proto::RelationSchema schema;
          if (!schema.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
            record_problem(pg::Lsn(), pg::Lsn(kMax),
                           "change log: a relation schema record is damaged; no replay can be trusted");
          }
          break;
        }
        default:
          break;
      }
    }
    if (it->status().ok()) break;
    const std::optional<std::string> next = FirstReadableAfter(db, read, last_good);
    damaged.push_back({last_good, next.value_or(std::string()), it->status().ToString()});
    if (!next.has_value() || next->empty() || *next <= last_good) break;
    resume = *next;
    last_good = *next;  // re-read from it
  }
  if (damaged.empty()) {
    rocksdb::Status whole = db->VerifyChecksum();
    if (!whole.ok()) damaged.push_back({"", "", whole.ToString()});
  }

  // Damaged blocks as LSN ranges.
  std::map<uint64_t, pg::Lsn> commit_by_storage;
  for (const TxnSeen& t : txns) commit_by_storage[t.storage_id] = t.commit;
  for (const DamagedRange& d : damaged) {
    const std::optional<Tag> tag = keys::TagOf(!d.last_good.empty() ? d.last_good : d.next);
    const bool same_tag = !d.last_good.empty() && !d.next.empty() && d.last_good[0] == d.next[0];
    uint64_t from = 0, to = kMax;
    const std::optional<keys::TimeIndexEntry> last_entry = keys::DecodeTimeIndex(d.last_good);
    const std::optional<keys::TimeIndexEntry> next_entry = keys::DecodeTimeIndex(d.next);
    const std::optional<keys::ChunkKey> next_chunk = keys::DecodeChunk(d.next);
    if (same_tag && (tag == Tag::kTransaction || tag == Tag::kSequenceSample)) {
      from = keys::NumberOf(d.last_good) + 1;
      to = keys::NumberOf(d.next) - 1;
    } else if (same_tag && tag == Tag::kTimeIndex && last_entry && next_entry) {
      from = last_entry->commit_lsn.value() + 1;
      to = next_entry->commit_lsn.value() - 1;
    } else if (same_tag && tag == Tag::kChunk) {
      // The transactions whose changes may sit in the damaged block.
      const uint64_t first = keys::NumberOf(d.last_good), last = keys::NumberOf(d.next);
      from = kMax;
      to = 0;
      for (auto it = commit_by_storage.lower_bound(first); it != commit_by_storage.end() && it->first <= last; ++it) {
        if (it->first == last && next_chunk && next_chunk->chunk_seq == 0) break;
        from = std::min(from, it->second.value());
        to = std::max(to, it->second.value());
      }
      if (from > to) from = 0, to = kMax;
    }
    const std::string range =
        to == kMax && from == 0 ? std::string("the whole log")
                                : fmt::format("commit LSNs {} to {}", pg::Lsn(from).ToString(), pg::Lsn(to).ToString());
    record_problem(pg::Lsn(from), pg::Lsn(to),
                   fmt::format("change log: {} are unreadable ({}): {}", Describe(tag), range, d.error));
  }
  auto covered = [&](pg::Lsn lsn) {
    return std::any_of(report.problems.begin(), report.problems.end(),
                       [&](const Check::Problem& p) { return p.from <= lsn && lsn <= p.to; });
  };

  // Each transaction's changes, and the chain of commit LSNs.
  uint64_t unchained = 0;
  const TxnSeen* previous = nullptr;
  for (const TxnSeen& t : txns) {
    if (t.commit < horizon) continue;
    const uint64_t seen = changes_by_storage.count(t.storage_id) ? changes_by_storage[t.storage_id] : 0;
    if ((seen != t.change_count || broken_storage.count(t.storage_id)) && !covered(t.commit)) {
      record_problem(t.commit, t.commit,
                     fmt::format("change log: the transaction committed at LSN {} holds {} of its {} changes",
                                 t.commit.ToString(), seen, t.change_count));
    }
    if (!t.prev.has_value()) {
      ++unchained;
    } else if (previous != nullptr && *t.prev != previous->commit.value() && !covered(pg::Lsn(*t.prev))) {
      record_problem(pg::Lsn(*t.prev), t.commit,
                     fmt::format("change log: transactions are missing between LSN {} and LSN {} (the commit at {} "
                                 "follows {}, but {} is stored before it)",
                                 pg::Lsn(*t.prev).ToString(), t.commit.ToString(), t.commit.ToString(),
                                 pg::Lsn(*t.prev).ToString(), previous->commit.ToString()));
    } else if (previous == nullptr && *t.prev != 0 && *t.prev >= horizon.value() && !covered(pg::Lsn(*t.prev))) {
      record_problem(pg::Lsn(*t.prev), t.commit,
                     fmt::format("change log: the transaction committed at LSN {} follows {}, which is not stored",
                                 t.commit.ToString(), pg::Lsn(*t.prev).ToString()));
    }
    if (!indexed.count(t.commit.value()) && !covered(t.commit)) {
      record_problem(t.commit, t.commit,
                     fmt::format("change log: the transaction committed at LSN {} is missing from the time index",
                                 t.commit.ToString()));
    }
    previous = &t;
  }
  if (unchained > 0) {
    report.notes.push_back(fmt::format(
        "{} transactions were stored before records named their predecessor; their continuity is not checked",
        unchained));
  }

  return report;
}

}  // namespace pgpitr::wal
