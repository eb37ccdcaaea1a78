// Difference: what a best-effort restore could not replay, and the objects that may therefore
// differ from the source's; a restore is exact exactly when it made none.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pgpitr::restore {

// A schema change a best-effort restore could not replay, and what it touched: the objects whose
// definition, content or privileges may differ from the source's from then on.
struct Difference {
  uint64_t commit_lsn = 0;  // of the source transaction that made it
  int64_t commit_time = 0;  // pg::PgTime
  std::string statement;    // one line
  std::string reason;
  std::vector<std::string> objects;  // "table public.t", "large object 1001", ...
};

}  // namespace pgpitr::restore
