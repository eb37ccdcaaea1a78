// Repository: one folder holding everything pgpitr keeps for one source database: the change log
// and the bases, with their catalog.
//   auto repo = Repository::Open("/var/lib/pgpitr/app", Repository::Mode::kRead);
//   for (const proto::Base& base : *repo->Bases()) ...
// Layout (format version 1):
//   FORMAT                  "pgpitr repository 1\n"; a newer number is refused
//   changelog/              the ChangeLog (RocksDB)
//   bases/<id>/base.json    the Base manifest (protobuf JSON), written last, by rename: a folder
//                           without one is an incomplete dump and is ignored
//   bases/<id>/base.dump    pg_dump's custom-format archive
//   bases/.partial-<id>-<random>/  a base being dumped (two dumps may share an id)
//   bases/.trash-<id>/      a base retention is deleting (see wal/retention.h)
//   bases/.last-failure     why the last base attempt failed ("<PgTime>\t<message>"), removed
//                           when a base is taken: `info` says why the window has not begun
// Folders are created 0700 and files 0600. Bases may be added by another process (backup) while
// capture writes the change log; the change log itself has one writer at a time.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/pgpitr.pb.h"
#include "wal/change_log.h"

namespace pgpitr::wal {

inline constexpr int kRepositoryFormatVersion = 1;

class Repository {
 public:
  enum class Mode {
    kCapture,  // creates the repository when missing; opens the change log for writing
    kRead,     // requires an existing repository; the change log read-only
  };

  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Repository>> Open(const std::filesystem::path& root, Mode mode);

  const std::filesystem::path& root() const { return root_; }
  ChangeLog& change_log() const { return *change_log_; }

  // Complete bases, oldest (lowest LSN) first; bases below retention's horizon are gone for
  // readers even while their folders are still being deleted.
  [[nodiscard]] absl::StatusOr<std::vector<proto::Base>> Bases() const;

  // Every registered base folder, readable or not, horizon or not (verify, retention), by id.
  struct BaseFolder {
    std::string id;
    std::filesystem::path dir;
    std::optional<proto::Base> manifest;  // nullopt when missing or damaged
    std::string problem;                  // why there is no manifest
  };
  [[nodiscard]] absl::StatusOr<std::vector<BaseFolder>> ScanBases() const;

  // Deletes a base folder crash-safely: renamed to bases/.trash-<id> (synced), then removed.
  [[nodiscard]] absl::Status RetireBase(const std::string& id) const;
  // Removes what an interrupted RetireBase left in bases/.trash-*.
  [[nodiscard]] absl::Status EmptyTrash() const;
  std::filesystem::path BaseDir(const proto::Base& base) const { return root_ / "bases" / base.id(); }
  // The base's dump, checked against its manifest (there, its size and SHA-256 as recorded); an
  // empty path for an empty base, which has none. A dump missing or not matching is DataLoss, kind
  // kBaseDamaged, one line naming the base (`restore` and `verify` both check here).
  [[nodiscard]] absl::StatusOr<std::filesystem::path> CheckedDump(const proto::Base& base) const;

  // A fresh folder for a base being dumped, and its registration once the dump is complete: the
  // manifest is written, synced, and the folder renamed into place. When a base of the same id (the
  // same consistent point, dumped at the same moment) is there already, it stands and this one goes.
  [[nodiscard]] absl::StatusOr<std::filesystem::path> NewPartialBase(const std::string& id) const;
  [[nodiscard]] absl::Status CommitBase(const std::filesystem::path& partial, const proto::Base& base) const;

  // Why the last base attempt failed (kept until a base is committed), for `info`.
  struct BaseFailure {
    int64_t time = 0;  // PgTime
    std::string message;
  };
  [[nodiscard]] absl::Status RecordBaseFailure(int64_t time, const std::string& message) const;
  [[nodiscard]] absl::StatusOr<std::optional<BaseFailure>> LastBaseFailure() const;

 private:
  Repository(std::filesystem::path root, std::unique_ptr<ChangeLog> log)
      : root_(std::move(root)), change_log_(std::move(log)) {}

  std::filesystem::path root_;
  std::unique_ptr<ChangeLog> change_log_;
};

// fsyncs a file or folder; errors are ignored by callers only where said.
[[nodiscard]] absl::Status SyncPath(const std::filesystem::path& path);

}  // namespace pgpitr::wal
