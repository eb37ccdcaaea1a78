// VerifyRepository: `pgpitr verify`'s checks. Every base's manifest, size and SHA-256; every
// change-log record read with RocksDB's block checksums verified; each transaction's changes
// complete; and the commit-LSN chain (each transaction names the previous stored commit) unbroken.
//   absl::StatusOr<VerifyReport> r = VerifyRepository(*repo);  for (auto& p : r->problems) ...
// Reads only (the change log may be opened read-only while `run` writes); reads everything, so it
// takes about as long as reading the repository once.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/progress.h"
#include "proto/pgpitr.pb.h"
#include "wal/repository.h"

namespace pgpitr::wal {

struct VerifyProblem {
  std::string base_id;  // a damaged base, or empty
  pg::Lsn from, to;     // a damaged change-log range (commits with from <= LSN <= to), when base_id is empty
  std::string what;     // one line naming the base or the LSN range and what is wrong
};

struct VerifyReport {
  std::vector<VerifyProblem> problems;
  std::vector<std::string> notes;       // not damage: recorded gaps, records without a chain link
  std::vector<proto::Base> good_bases;  // above retention's horizon, checksum matching
  // The recorded gaps plus the damaged ranges, as the planner's breaks in the log.
  std::vector<proto::Gap> breaks;
  proto::CaptureState state;
  uint64_t bases_checked = 0;
  uint64_t transactions_checked = 0;
  uint64_t changes_checked = 0;
  uint64_t keys_checked = 0;
  bool damaged() const { return !problems.empty(); }
};

// `progress`, when given, hears of each base checked and of the change-log keys read.
[[nodiscard]] absl::StatusOr<VerifyReport> VerifyRepository(const Repository& repo,
                                                            base::ProgressSink* progress = nullptr);

}  // namespace pgpitr::wal
