#include "wal/verify.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "fmt/format.h"
#include "wal/base_backup.h"

namespace pgpitr::wal {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMax = ~uint64_t{0};
// Every key tag of the change log, in byte order (wal/change_log.h).
constexpr char kTags[] = {'C', 'G', 'K', 'M', 'P', 'Q', 'S', 'T', 'W', 'Y'};

uint64_t ReadU64(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | (i < in.size() ? static_cast<uint8_t>(in[i]) : 0);
  return v;
}

std::string KeyOf(char tag, uint64_t v) {
  std::string key(1, tag);
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>(v >> shift));
  return key;
}

// The number a key carries after its tag (commit LSN, storage id, check LSN, ...).
uint64_t NumberOf(std::string_view key) { return key.size() > 1 ? ReadU64(key.substr(1)) : 0; }

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
  const char last_tag = last_good.empty() ? kTags[0] : last_good[0];
  std::string found;
  for (char tag : kTags) {
    if (tag < last_tag) continue;
    const uint64_t start = tag == last_tag && !last_good.empty() ? NumberOf(last_good) : 0;
    if (tag != last_tag && Readable(db, read, std::string(1, tag), &found)) return found;
    uint64_t failed = start;
    for (uint64_t d = 1;; d *= 2) {
      const uint64_t probe = start > kMax - d ? kMax : start + d;
      if (Readable(db, read, KeyOf(tag, probe), &found)) {
        uint64_t lo = failed, hi = probe;  // Seek(lo) fails, Seek(hi) reads
        while (hi - lo > 1) {
          const uint64_t mid = lo + (hi - lo) / 2;
          std::string at;
          if (Readable(db, read, KeyOf(tag, mid), &at)) {
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

std::string Describe(char tag) {
  switch (tag) {
    case 'T':
      return "transaction records";
    case 'C':
      return "row changes";
    case 'W':
      return "time index entries";
    case 'Q':
      return "sequence samples";
    case 'S':
      return "relation schemas";
    case 'Y':
      return "type descriptions";
    case 'K':
      return "marks";
    case 'M':
      return "capture state";
    case 'G':
      return "gap records";
    case 'P':
      return "pending markers";
    default:
      return "records";
  }
}

}  // namespace

absl::StatusOr<VerifyReport> VerifyRepository(const Repository& repo, base::ProgressSink* progress) {
  VerifyReport report;
  ChangeLog& log = repo.change_log();
  absl::StatusOr<proto::CaptureState> state = log.State();
  if (!state.ok()) {
    report.problems.push_back({.base_id = "",
                               .from = pg::Lsn(),
                               .to = pg::Lsn(kMax),
                               .what = fmt::format("change log: {}", state.status().message())});
  } else {
    report.state = *state;
  }
  uint64_t horizon = 0;
  absl::StatusOr<std::optional<proto::Retention>> retention = log.RetentionState();
  if (retention.ok() && retention->has_value()) horizon = (*retention)->horizon_lsn();

  // --- bases ---
  absl::StatusOr<std::vector<Repository::BaseFolder>> folders = repo.ScanBases();
  if (!folders.ok()) return folders.status();
  for (const Repository::BaseFolder& folder : *folders) {
    if (progress) {
      progress->Report(
          {.phase = "verify bases", .done = report.bases_checked, .total = folders->size(), .unit = "bases"});
    }
    ++report.bases_checked;
    if (!folder.manifest.has_value()) {
      report.problems.push_back({.base_id = folder.id,
                                 .from = pg::Lsn(),
                                 .to = pg::Lsn(),
                                 .what = fmt::format("base {}: {}", folder.id, folder.problem)});
      continue;
    }
    const proto::Base& base = *folder.manifest;
    if (base.lsn() < horizon) {
      report.notes.push_back(fmt::format("base {}: below retention's horizon, being deleted", base.id()));
      continue;
    }
    if (base.empty()) {  // no dump: the manifest is the whole base
      report.good_bases.push_back(base);
      continue;
    }
    const fs::path dump = folder.dir / (base.dump_file().empty() ? "base.dump" : base.dump_file());
    std::error_code ec;
    if (!fs::exists(dump, ec)) {
      report.problems.push_back({.base_id = base.id(),
                                 .from = pg::Lsn(),
                                 .to = pg::Lsn(),
                                 .what = fmt::format("base {}: its dump {} is missing", base.id(), dump.string())});
      continue;
    }
    if (base.sha256().empty()) {
      report.problems.push_back({.base_id = base.id(),
                                 .from = pg::Lsn(),
                                 .to = pg::Lsn(),
                                 .what = fmt::format("base {}: its manifest records no SHA-256", base.id())});
      continue;
    }
    const uint64_t size = fs::file_size(dump, ec);
    absl::StatusOr<std::string> sha = Sha256File(dump);
    if (!sha.ok() || *sha != base.sha256() || size != base.size_bytes()) {
      report.problems.push_back({.base_id = base.id(),
                                 .from = pg::Lsn(),
                                 .to = pg::Lsn(),
                                 .what = fmt::format("base {}: {} does not match its manifest ({} bytes, SHA-256 {}; "
                                                     "the manifest says {} bytes, {})",
                                                     base.id(), dump.string(), size, sha.ok() ? *sha : "unreadable",
                                                     base.size_bytes(), base.sha256())});
      continue;
    }
    report.good_bases.push_back(base);
  }
  std::sort(report.good_bases.begin(), report.good_bases.end(),
            [](const proto::Base& a, const proto::Base& b) { return a.lsn() < b.lsn(); });

  // --- the change log: every key, checksums verified; damaged blocks are stepped over ---
  rocksdb::DB* db = log.db();
  rocksdb::ReadOptions read;
  read.verify_checksums = true;
  read.fill_cache = false;
  std::vector<TxnSeen> txns;
  std::map<uint64_t, uint64_t> changes_by_storage;  // contiguous changes seen from seq 0
  std::set<uint64_t> broken_storage;                // a change out of sequence or unparsable
  std::set<uint64_t> indexed;                       // commit LSNs the time index names
  std::vector<DamagedRange> damaged;
  auto record_problem = [&](pg::Lsn from, pg::Lsn to, std::string what) {
    report.problems.push_back({.base_id = "", .from = from, .to = to, .what = std::move(what)});
  };
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
      ++report.keys_checked;
      if (progress && report.keys_checked % 4096 == 1) {
        // RocksDB's estimate of the keys there are: good enough for a rate and a time left.
        uint64_t estimate = 0;
        db->GetIntProperty("rocksdb.estimate-num-keys", &estimate);
        progress->Report({.phase = "verify change log",
                          .done = report.keys_checked,
                          .total = std::max(estimate, report.keys_checked),
                          .unit = "keys"});
      }
      last_good = std::string(key);
      switch (key[0]) {
        case 'T': {
          proto::Transaction txn;
          if (key.size() != 9 || !txn.ParseFromArray(value.data(), static_cast<int>(value.size())) ||
              txn.commit_lsn() != NumberOf(key)) {
            record_problem(pg::Lsn(NumberOf(key)), pg::Lsn(NumberOf(key)),
                           fmt::format("change log: the transaction record at LSN {} is damaged (it does not parse "
                                       "or names another LSN)",
                                       pg::Lsn(NumberOf(key)).ToString()));
            break;
          }
          ++report.transactions_checked;
          txns.push_back({pg::Lsn(txn.commit_lsn()), pg::Lsn(txn.end_lsn()), txn.storage_id(), txn.change_count(),
                          txn.has_prev_commit_lsn() ? std::optional<uint64_t>(txn.prev_commit_lsn()) : std::nullopt});
          break;
        }
        case 'C': {
          // A chunk of a transaction's changes (wal/change_log.h): it must start where the previous
          // chunk ended.
          const uint64_t storage = NumberOf(key);
          proto::ChangeChunk chunk;
          uint64_t& seen = changes_by_storage[storage];
          if (report.state.format_version() == 1) {
            // Version 1: one change per key, numbered from 0.
            proto::Change change;
            if (key.size() != 17 || !change.ParseFromArray(value.data(), static_cast<int>(value.size())) ||
                ReadU64(key.substr(9)) != seen) {
              broken_storage.insert(storage);
            } else {
              ++seen;
              ++report.changes_checked;
            }
            break;
          }
          if (key.size() != 17 || !chunk.ParseFromArray(value.data(), static_cast<int>(value.size())) ||
              chunk.first_seq() != seen) {
            broken_storage.insert(storage);
          } else {
            seen += static_cast<uint64_t>(chunk.changes_size());
            report.changes_checked += static_cast<uint64_t>(chunk.changes_size());
          }
          break;
        }
        case 'W':
          if (key.size() == 17) indexed.insert(ReadU64(key.substr(9)));
          break;
        case 'Q': {
          proto::SequenceSample sample;
          if (!sample.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
            record_problem(
                pg::Lsn(NumberOf(key)), pg::Lsn(NumberOf(key)),
                fmt::format("change log: the sequence sample at LSN {} is damaged", pg::Lsn(NumberOf(key)).ToString()));
          }
          break;
        }
        case 'S': {
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
    const char tag = !d.last_good.empty() ? d.last_good[0] : (!d.next.empty() ? d.next[0] : '\0');
    const bool same_tag = !d.last_good.empty() && !d.next.empty() && d.last_good[0] == d.next[0];
    uint64_t from = 0, to = kMax;
    if (same_tag && (tag == 'T' || tag == 'Q')) {
      from = NumberOf(d.last_good) + 1;
      to = NumberOf(d.next) - 1;
    } else if (same_tag && tag == 'W' && d.last_good.size() == 17 && d.next.size() == 17) {
      from = ReadU64(d.last_good.substr(9)) + 1;
      to = ReadU64(d.next.substr(9)) - 1;
    } else if (same_tag && tag == 'C') {
      // The transactions whose changes may sit in the damaged block.
      const uint64_t first = NumberOf(d.last_good), last = NumberOf(d.next);
      from = kMax;
      to = 0;
      for (auto it = commit_by_storage.lower_bound(first); it != commit_by_storage.end() && it->first <= last; ++it) {
        if (it->first == last && d.next.size() == 17 && ReadU64(d.next.substr(9)) == 0) break;
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
                       [&](const VerifyProblem& p) { return p.base_id.empty() && p.from <= lsn && lsn <= p.to; });
  };

  // Each transaction's changes, and the chain of commit LSNs.
  uint64_t unchained = 0;
  const TxnSeen* previous = nullptr;
  for (const TxnSeen& t : txns) {
    if (t.commit.value() < horizon) continue;
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
    } else if (previous == nullptr && *t.prev != 0 && *t.prev >= horizon && !covered(pg::Lsn(*t.prev))) {
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

  // Breaks for the planner: recorded gaps, then damage.
  absl::StatusOr<std::vector<proto::Gap>> gaps = log.Gaps();
  if (gaps.ok()) {
    for (const proto::Gap& g : *gaps) {
      report.notes.push_back(fmt::format("gap recorded: commits after LSN {} and before {} are missing ({})",
                                         pg::Lsn(g.from_lsn()).ToString(), pg::Lsn(g.to_lsn()).ToString(), g.reason()));
      report.breaks.push_back(g);
    }
  }
  for (const VerifyProblem& p : report.problems) {
    if (!p.base_id.empty()) continue;
    proto::Gap g;
    g.set_from_lsn(p.from.value() == 0 ? 0 : p.from.value() - 1);
    g.set_to_lsn(p.to.value() == kMax ? kMax : p.to.value() + 1);
    g.set_reason("damaged");
    report.breaks.push_back(g);
  }
  return report;
}

}  // namespace pgpitr::wal
