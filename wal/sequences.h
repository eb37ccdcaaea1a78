// SequenceSampler: sequences are not in the logical stream, so capture reads their values from the
// source every few seconds and stores a sample of those that changed.
//   SequenceSampler sampler;  sampler.Seed(log);  auto check = sampler.Check(conn);
// A check reads the clock and the WAL insert position first, then the values: every nextval()
// handed out before that position is reflected in the values. A sequence dropped while a check
// reads it is left out of that check. One thread.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "pg/connection.h"
#include "proto/pgpitr.pb.h"
#include "wal/change_log.h"

namespace pgpitr::wal {

class SequenceSampler {
 public:
  struct Check {
    pg::Lsn lsn;
    pg::PgTime time = 0;
    proto::SequenceSample changed;  // only the sequences whose state differs from the last check
    // Whether the source held large objects (neither their contents nor lo_create and lo_unlink are
    // in the logical stream), as a snapshot taken after `lsn` and before the position read after
    // it, `large_objects_lsn` and `large_objects_time`: the read stands between the two.
    bool large_objects = false;
    pg::Lsn large_objects_lsn;
    pg::PgTime large_objects_time = 0;
  };

  // Learns the last stored values, so a restart stores only what changed since.
  [[nodiscard]] absl::Status Seed(const ChangeLog& log);
  [[nodiscard]] absl::StatusOr<Check> Sample(pg::Connection& conn);

 private:
  std::map<std::pair<std::string, std::string>, std::pair<int64_t, bool>> last_;
};

}  // namespace pgpitr::wal
