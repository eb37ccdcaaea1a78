#include "wal/subtransactions.h"

#include <chrono>
#include <thread>

#include "fmt/format.h"

namespace pgpitr::wal {

absl::StatusOr<std::vector<uint32_t>> ReadAbortedSubtransactions(PgConnection& conn, uint32_t xid,
                                                                 const std::vector<uint32_t>& subxids) {
  std::string list;
  for (uint32_t x : subxids) list += fmt::format("{}{}", list.empty() ? "" : ",", x);
  const std::string sql = fmt::format(
      "SELECT x, pg_xact_status((((n >> 32) - CASE WHEN x > (n & 4294967295) THEN 1 ELSE 0 END) << 32 | x)"
      "::text::xid8) FROM unnest('{{{}}}'::bigint[]) AS x, "
      "(SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS n) AS next",
      list);
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<PgResult> r = conn.Query(sql);
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

}  // namespace pgpitr::wal
