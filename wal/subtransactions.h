// AbortedSubtransactions: which subtransactions of a committed transaction the source aborted,
// read from its commit log (pg_xact_status), for the change log writer's check at a streamed commit.
//   absl::StatusOr<std::vector<uint32_t>> aborted = ReadAbortedSubtransactions(conn, {812, 815});
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "pg/connection.h"

namespace pgpitr::wal {

// The ids among `subxids` (32-bit, recent: of a transaction capture is decoding now) whose status is
// aborted. Their full 64-bit ids are those of the current epoch, or of the previous one when above
// the next id's low half. A status the server no longer keeps is an error (capture cannot tell),
// and one still "in progress" (the commit record is flushed a moment before the commit log is set)
// is asked again briefly. PostgreSQL 13 or later (pg_xact_status, pg_current_snapshot).
[[nodiscard]] absl::StatusOr<std::vector<uint32_t>> ReadAbortedSubtransactions(pg::Connection& conn, uint32_t xid,
                                                                               const std::vector<uint32_t>& subxids);

}  // namespace pgpitr::wal
