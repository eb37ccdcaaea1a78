// DescribeRepository: what `pgpitr info` shows of a repository, gathered in one read: capture's
// state, the bases, the restorable window, the last commit, marks, the last failed base, size.
//   absl::StatusOr<RepositoryDescription> d = DescribeRepository(*repo);  render d->window ...
// Reads only; the CLI renders it as text or JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/pgpitr.pb.h"
#include "wal/repository.h"
#include "wal/restorable_window.h"

namespace pgpitr::wal {

struct RepositoryDescription {
  proto::CaptureState state;
  std::vector<proto::Base> bases;  // oldest first
  RestorableWindow window;
  std::optional<proto::Transaction> last_commit;
  std::optional<Repository::BaseFailure> last_base_failure;
  std::vector<proto::Mark> marks;  // oldest first
  uint64_t change_log_bytes = 0;
  // Bytes kept on disk per captured row change (0 before the first).
  double bytes_per_row() const {
    return state.rows() > 0 ? static_cast<double>(change_log_bytes) / static_cast<double>(state.rows()) : 0.0;
  }
};

[[nodiscard]] absl::StatusOr<RepositoryDescription> DescribeRepository(const Repository& repo);

}  // namespace pgpitr::wal
