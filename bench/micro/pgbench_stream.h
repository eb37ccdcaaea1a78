// PgbenchStream: the bytes a walsender sends for pgbench's TPC-B transactions through pgoutput
// (XLogData-wrapped Begin, three Updates, an Insert, Commit), built by hand from the documented
// layouts, for the decoder and change-log writer microbenchmarks.
//   PgbenchStream stream;  for (const std::string& copy_data : stream.Transaction()) { ... }
// Values look like pgbench's: int4 keys and balances, an 84-blank filler in accounts, a timestamp in
// history. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgpitr::bench {

class PgbenchStream {
 public:
  static constexpr uint32_t kAccounts = 16400, kTellers = 16401, kBranches = 16402, kHistory = 16403;

  // Relation messages for the four tables, each wrapped in XLogData.
  std::vector<std::string> Relations() {
    return {
        Wrap(Relation(kAccounts, "pgbench_accounts", {"aid", "bid", "abalance", "filler"}, {23, 23, 23, 1042})),
        Wrap(Relation(kTellers, "pgbench_tellers", {"tid", "bid", "tbalance", "filler"}, {23, 23, 23, 1042})),
        Wrap(Relation(kBranches, "pgbench_branches", {"bid", "bbalance", "filler"}, {23, 23, 1042})),
        Wrap(Relation(kHistory, "pgbench_history", {"tid", "bid", "aid", "delta", "mtime", "filler"},
                      {23, 23, 23, 23, 1114, 1042})),
    };
  }

  // One TPC-B transaction: 4 row changes, 6 CopyData messages. Commit LSNs grow with each call.
  std::vector<std::string> Transaction() {
    const uint64_t aid = Next() % 1'000'000 + 1, tid = Next() % 100 + 1, bid = Next() % 10 + 1;
    const int64_t delta = static_cast<int64_t>(Next() % 10'001) - 5000;
    lsn_ += 0x400;
    const uint64_t commit_lsn = lsn_;
    time_ += 350;
    std::vector<std::string> out;
    out.push_back(Wrap(Begin(commit_lsn, time_, ++xid_)));
    out.push_back(Wrap(
        Update(kAccounts, {std::to_string(aid), std::to_string(bid), std::to_string(delta), std::string(84, ' ')})));
    out.push_back(Wrap(Update(kTellers, {std::to_string(tid), std::to_string(bid), std::to_string(delta * 7), ""},
                              /*null_last=*/true)));
    out.push_back(Wrap(Update(kBranches, {std::to_string(bid), std::to_string(delta * 31), ""}, /*null_last=*/true)));
    out.push_back(Wrap(Insert(kHistory, {std::to_string(tid), std::to_string(bid), std::to_string(aid),
                                         std::to_string(delta), "2026-11-25 17:55:17.123456", ""})));
    out.push_back(Wrap(Commit(commit_lsn, commit_lsn + 0x30, time_)));
    return out;
  }

  // One Insert of a 4-column row like `INSERT ... SELECT g, g % 1000, md5(g::text), now()`.
  std::string BulkInsert(uint64_t g) {
    return Wrap(Insert(kAccounts, {std::to_string(g), std::to_string(g % 1000), "5d41402abc4b2a76b9719d911017c592",
                                   "2026-11-25 17:55:17.123456+00"}));
  }

  static std::string BeginAt(uint64_t commit_lsn, uint32_t xid) { return Wrap(Begin(commit_lsn, 1, xid)); }
  static std::string CommitAt(uint64_t commit_lsn) { return Wrap(Commit(commit_lsn, commit_lsn + 0x30, 1)); }

 private:
  uint64_t Next() {  // xorshift: fixed, reproducible values
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }

  static void Be(std::string* out, uint64_t v, int width) {
    for (int shift = (width - 1) * 8; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
  }
  static void Str(std::string* out, std::string_view s) {
    out->append(s);
    out->push_back('\0');
  }
  static std::string Wrap(const std::string& payload) {
    std::string out(1, 'w');
    Be(&out, 0x1000000, 8);
    Be(&out, 0x2000000, 8);
    Be(&out, 0, 8);
    return out + payload;
  }
  static std::string Relation(uint32_t relid, std::string_view name, const std::vector<std::string>& columns,
                              const std::vector<uint32_t>& types) {
    std::string m(1, 'R');
    Be(&m, relid, 4);
    Str(&m, "public");
    Str(&m, name);
    m.push_back('d');
    Be(&m, columns.size(), 2);
    for (size_t i = 0; i < columns.size(); ++i) {
      m.push_back(i == 0 ? 1 : 0);
      Str(&m, columns[i]);
      Be(&m, types[i], 4);
      Be(&m, 0xffffffff, 4);
    }
    return m;
  }
  static void Tuple(std::string* m, const std::vector<std::string>& values, bool null_last) {
    Be(m, values.size(), 2);
    for (size_t i = 0; i < values.size(); ++i) {
      if (null_last && i + 1 == values.size()) {
        m->push_back('n');
        continue;
      }
      m->push_back('t');
      Be(m, values[i].size(), 4);
      m->append(values[i]);
    }
  }
  static std::string Begin(uint64_t final_lsn, int64_t time, uint32_t xid) {
    std::string m(1, 'B');
    Be(&m, final_lsn, 8);
    Be(&m, static_cast<uint64_t>(time), 8);
    Be(&m, xid, 4);
    return m;
  }
  static std::string Commit(uint64_t commit_lsn, uint64_t end_lsn, int64_t time) {
    std::string m(1, 'C');
    m.push_back(0);
    Be(&m, commit_lsn, 8);
    Be(&m, end_lsn, 8);
    Be(&m, static_cast<uint64_t>(time), 8);
    return m;
  }
  static std::string Update(uint32_t relid, const std::vector<std::string>& values, bool null_last = false) {
    std::string m(1, 'U');
    Be(&m, relid, 4);
    m.push_back('N');
    Tuple(&m, values, null_last);
    return m;
  }
  static std::string Insert(uint32_t relid, const std::vector<std::string>& values) {
    std::string m(1, 'I');
    Be(&m, relid, 4);
    m.push_back('N');
    Tuple(&m, values, /*null_last=*/values.size() == 6);
    return m;
  }

  uint64_t state_ = 0x9e3779b97f4a7c15ull;
  uint64_t lsn_ = 0x1000000;
  int64_t time_ = 817'000'000'000'000;
  uint32_t xid_ = 1000;
};

}  // namespace pgpitr::bench
