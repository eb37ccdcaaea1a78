#include "wal/description.h"

namespace pgpitr::wal {

absl::StatusOr<RepositoryDescription> DescribeRepository(const Repository& repo) {
  RepositoryDescription d;
  absl::StatusOr<proto::CaptureState> state = repo.change_log().State();
  if (!state.ok()) return state.status();
  d.state = *std::move(state);
  absl::StatusOr<std::vector<proto::Base>> bases = repo.Bases();
  if (!bases.ok()) return bases.status();
  d.bases = *std::move(bases);
  absl::StatusOr<RestorableWindow> window = ReadRestorableWindow(d.bases, repo.change_log(), d.state);
  if (!window.ok()) return window.status();
  d.window = *std::move(window);
  absl::StatusOr<std::optional<proto::Transaction>> last =
      repo.change_log().LastCommitAtOrBefore(pg::Lsn(~uint64_t{0}));
  if (!last.ok()) return last.status();
  d.last_commit = *std::move(last);
  absl::StatusOr<std::optional<Repository::BaseFailure>> failure = repo.LastBaseFailure();
  if (!failure.ok()) return failure.status();
  d.last_base_failure = *std::move(failure);
  absl::StatusOr<std::vector<proto::Mark>> marks = repo.change_log().Marks();
  if (!marks.ok()) return marks.status();
  d.marks = *std::move(marks);
  d.change_log_bytes = repo.change_log().SizeOnDisk();
  return d;
}

}  // namespace pgpitr::wal
