#include "wal/subtransactions.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "fmt/format.h"

namespace pgpitr::wal {

namespace {

// One query's worth: the aborted ones among `subxids`.
absl::StatusOr<std::vector<uint32_t>> ReadAbortedBatch(pg::Connection& conn, uint32_t xid,
                                                       const std::vector<uint32_t>& subxids, size_t from, size_t to) {
  std::string list;
  for (size_t i = from; i < to; ++i) list += fmt::format("{}{}", list.empty() ? "" : ",", subxids[i]);
  const std::string sql = fmt::format(
      "SELECT x, pg_xact_status((((n >> 32) - CASE WHEN x > (n & 4294967295) THEN 1 ELSE 0 END) << 32 | x)"
      "::text::xid8) FROM unnest('{{{}}}'::bigint[]) AS x, "
      "(SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS n) AS next",
      list);
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<pg::Result> r = conn.Query(sql);
    if (!r.ok()) return r.status();
    std::vector<uint32_t> aborted;
    bool in_progress = false;
    for (int i = 0; i < r->rows(); ++i) {
      const uint32_t sub = static_cast<uint32_t>(std::stoul(r->GetString(i, 0)));
      if (r->IsNull(i, 1)) {
        return absl::DataLossError(fmt::format(
            "the source no longer knows whether subtransaction {} of transaction {} committed, so capture cannot tell "
            "its changes from rolled-back ones; take a new base ('pgpitr backup') so restores after it are exact",
            sub, xid));
      }
      const std::string_view status = r->Get(i, 1);
      if (status == "aborted") aborted.push_back(sub);
      if (status == "in progress") in_progress = true;
    }
    if (!in_progress) return aborted;
    if (attempt == 100) {
      return absl::UnavailableError(
          fmt::format("the source still reports a subtransaction of committed transaction {} in progress", xid));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

absl::StatusOr<std::vector<uint32_t>> ReadAbortedSubtransactions(pg::Connection& conn, uint32_t xid,
                                                                 const std::vector<uint32_t>& subxids) {
  constexpr size_t kPerQuery = 10000;
  std::vector<uint32_t> aborted;
  for (size_t from = 0; from < subxids.size(); from += kPerQuery) {
    absl::StatusOr<std::vector<uint32_t>> some =
        ReadAbortedBatch(conn, xid, subxids, from, std::min(subxids.size(), from + kPerQuery));
    if (!some.ok()) return some.status();
    aborted.insert(aborted.end(), some->begin(), some->end());
  }
  return aborted;
}

}  // namespace pgpitr::wal
