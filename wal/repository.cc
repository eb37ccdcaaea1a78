#include "wal/repository.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"
#include "wal/base_backup.h"

namespace pgpitr::wal {

namespace fs = std::filesystem;

absl::Status SyncPath(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(fmt::format("cannot open {} to sync it", path.string()));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::InternalError(fmt::format("cannot sync {} to disk", path.string()));
  return absl::OkStatus();
}

namespace {

absl::Status MakePrivateDir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        fmt::format("cannot create {}: {} (check --repo and its permissions)", dir.string(), ec.message()));
  }
  ::chmod(dir.c_str(), 0700);
  return absl::OkStatus();
}

absl::Status WritePrivateFile(const fs::path& path, const std::string& content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(fmt::format("cannot write {}", path.string()));
  const ssize_t n = ::write(fd, content.data(), content.size());
  const int rc = ::fsync(fd);
  ::close(fd);
  if (n != static_cast<ssize_t>(content.size()) || rc != 0) {
    return absl::InternalError(fmt::format("cannot write {} (disk full?)", path.string()));
  }
  return absl::OkStatus();
}

absl::Status CheckFormat(const fs::path& root, bool create) {
  const fs::path format = root / "FORMAT";
  if (!fs::exists(format)) {
    if (!create) {
      return absl::NotFoundError(
          fmt::format("{} is not a pgpitr repository (no FORMAT file); point --repo at the folder 'pgpitr run' "
                      "writes to",
                      root.string()));
    }
    std::error_code ec;
    if (fs::exists(root) && !fs::is_empty(root, ec)) {
      return absl::FailedPreconditionError(fmt::format(
          "{} is not empty and is not a pgpitr repository; choose an empty or new folder for --repo", root.string()));
    }
    if (absl::Status s = MakePrivateDir(root); !s.ok()) return s;
    return WritePrivateFile(format, fmt::format("pgpitr repository {}\n", kRepositoryFormatVersion));
  }
  std::ifstream in(format);
  std::string word1, word2;
  int version = 0;
  in >> word1 >> word2 >> version;
  if (word1 != "pgpitr" || word2 != "repository" || version <= 0) {
    return absl::DataLossError(fmt::format("{} is damaged; the repository cannot be trusted", format.string()));
  }
  if (version > kRepositoryFormatVersion) {
    return absl::FailedPreconditionError(
        fmt::format("{} was written by a newer pgpitr (repository format {}, this one reads {}); use a newer pgpitr",
                    root.string(), version, kRepositoryFormatVersion));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Repository>> Repository::Open(const fs::path& root, Mode mode) {
  const bool create = mode == Mode::kCapture;
  if (absl::Status s = CheckFormat(root, create); !s.ok()) return s;
  if (create) {
    if (absl::Status s = MakePrivateDir(root / "bases"); !s.ok()) return s;
    if (absl::Status s = MakePrivateDir(root / "changelog"); !s.ok()) return s;
  }
  absl::StatusOr<std::unique_ptr<ChangeLog>> log =
      ChangeLog::Open(root / "changelog", create ? ChangeLog::Mode::kWriter : ChangeLog::Mode::kReadOnly);
  if (!log.ok()) return log.status();
  return std::unique_ptr<Repository>(new Repository(root, *std::move(log)));
}

absl::StatusOr<std::vector<Repository::BaseFolder>> Repository::ScanBases() const {
  std::vector<BaseFolder> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_ / "bases", ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.starts_with(".")) continue;
    BaseFolder folder;
    folder.id = name;
    folder.dir = entry.path();
    const fs::path manifest = entry.path() / "base.json";
    if (!fs::exists(manifest)) {
      folder.problem = "it has no manifest (base.json)";
    } else {
      std::ifstream in(manifest);
      std::stringstream text;
      text << in.rdbuf();
      proto::Base base;
      // Fields a newer pgpitr added are skipped, as in the change log's binary records: a base
      // stays restorable by the version that reads it.
      google::protobuf::util::JsonParseOptions parse;
      parse.ignore_unknown_fields = true;
      if (!google::protobuf::util::JsonStringToMessage(text.str(), &base, parse).ok()) {
        folder.problem = "its manifest (base.json) does not parse";
      } else if (base.id() != name) {
        folder.problem = fmt::format("its manifest names another base ({})", base.id());
      } else {
        folder.manifest = std::move(base);
      }
    }
    out.push_back(std::move(folder));
  }
  if (ec) return absl::InternalError(fmt::format("cannot list {}: {}", (root_ / "bases").string(), ec.message()));
  std::sort(out.begin(), out.end(), [](const BaseFolder& a, const BaseFolder& b) { return a.id < b.id; });
  return out;
}

absl::StatusOr<std::vector<proto::Base>> Repository::Bases() const {
  absl::StatusOr<std::vector<BaseFolder>> folders = ScanBases();
  if (!folders.ok()) return folders.status();
  absl::StatusOr<std::optional<proto::Retention>> retention = change_log_->RetentionState();
  if (!retention.ok()) return retention.status();
  const uint64_t horizon = retention->has_value() ? (*retention)->horizon_lsn() : 0;
  std::vector<proto::Base> bases;
  for (BaseFolder& folder : *folders) {
    // A folder without a manifest is an incomplete dump: ignored, as before.
    if (!folder.manifest.has_value()) {
      if (folder.problem.starts_with("it has no manifest")) continue;
      return absl::DataLossError(fmt::format("base manifest {} is damaged ({}); run 'pgpitr verify'",
                                             (folder.dir / "base.json").string(), folder.problem));
    }
    if (folder.manifest->lsn() < horizon) continue;
    bases.push_back(*std::move(folder.manifest));
  }
  std::sort(bases.begin(), bases.end(), [](const proto::Base& a, const proto::Base& b) { return a.lsn() < b.lsn(); });
  return bases;
}

absl::Status Repository::RetireBase(const std::string& id) const {
  const fs::path dir = root_ / "bases" / id;
  const fs::path trash = root_ / "bases" / (".trash-" + id);
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    fs::remove_all(trash, ec);
    fs::rename(dir, trash, ec);
    if (ec) return absl::InternalError(fmt::format("cannot retire base {}: {}", id, ec.message()));
    if (absl::Status s = SyncPath(root_ / "bases"); !s.ok()) return s;
  }
  fs::remove_all(trash, ec);
  if (ec) return absl::InternalError(fmt::format("cannot delete {}: {}", trash.string(), ec.message()));
  return absl::OkStatus();
}

absl::Status Repository::EmptyTrash() const {
  std::error_code ec;
  std::vector<fs::path> trash;
  for (const auto& entry : fs::directory_iterator(root_ / "bases", ec)) {
    if (entry.path().filename().string().starts_with(".trash-")) trash.push_back(entry.path());
  }
  for (const fs::path& dir : trash) {
    fs::remove_all(dir, ec);
    if (ec) return absl::InternalError(fmt::format("cannot delete {}: {}", dir.string(), ec.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<fs::path> Repository::NewPartialBase(const std::string& id) const {
  // Unique: `run`'s scheduled base and a `backup` may dump at the same moment, and temporary slots
  // made together can share a consistent point, so two dumps may carry the same id.
  std::string pattern = (root_ / "bases" / (".partial-" + id + "-XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(fmt::format("cannot make a folder for base {} in {}: {}", id, (root_ / "bases").string(),
                                           std::strerror(errno)));
  }
  std::error_code ec;
  fs::permissions(pattern, fs::perms::owner_all, fs::perm_options::replace, ec);
  return fs::path(pattern);
}

absl::Status Repository::CommitBase(const fs::path& partial, const proto::Base& base) const {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(base, &json, options).ok()) {
    return absl::InternalError("cannot encode a base manifest");
  }
  if (absl::Status s = WritePrivateFile(partial / "base.json", json); !s.ok()) return s;
  if (absl::Status s = SyncPath(partial); !s.ok()) return s;
  const fs::path final_dir = root_ / "bases" / base.id();
  std::error_code ec;
  if (fs::exists(final_dir, ec)) {
    // Another dump at the same consistent point was registered first: it holds the same commits.
    fs::remove_all(partial, ec);
    return absl::OkStatus();
  }
  fs::rename(partial, final_dir, ec);
  if (ec) return absl::InternalError(fmt::format("cannot register base {}: {}", base.id(), ec.message()));
  fs::remove(root_ / "bases" / ".last-failure", ec);
  return SyncPath(root_ / "bases");
}

absl::Status Repository::RecordBaseFailure(int64_t time, const std::string& message) const {
  std::string line = message;
  std::replace(line.begin(), line.end(), '\n', ' ');
  return WritePrivateFile(root_ / "bases" / ".last-failure", fmt::format("{}\t{}\n", time, line));
}

absl::StatusOr<std::optional<Repository::BaseFailure>> Repository::LastBaseFailure() const {
  std::ifstream in(root_ / "bases" / ".last-failure");
  if (!in) return std::optional<BaseFailure>();
  std::string line;
  std::getline(in, line);
  const size_t tab = line.find('\t');
  if (tab == std::string::npos) return std::optional<BaseFailure>();  // torn: as if none
  BaseFailure failure;
  failure.time = std::strtoll(line.substr(0, tab).c_str(), nullptr, 10);
  failure.message = line.substr(tab + 1);
  return std::optional<BaseFailure>(std::move(failure));
}

absl::StatusOr<std::filesystem::path> Repository::CheckedDump(const proto::Base& base) const {
  if (base.empty()) return std::filesystem::path();
  auto damaged = [&](std::string what) {
    return base::WithKind(absl::DataLossError(fmt::format("base {}: {}", base.id(), what)),
                          base::ErrorKind::kBaseDamaged);
  };
  const std::filesystem::path dump = BaseDir(base) / (base.dump_file().empty() ? "base.dump" : base.dump_file());
  std::error_code ec;
  if (!std::filesystem::exists(dump, ec)) return damaged(fmt::format("its dump {} is missing", dump.string()));
  if (base.sha256().empty()) return damaged("its manifest records no SHA-256");
  const uint64_t size = std::filesystem::file_size(dump, ec);
  absl::StatusOr<std::string> sha = Sha256File(dump);
  if (!sha.ok() || *sha != base.sha256() || size != base.size_bytes()) {
    return damaged(fmt::format("{} does not match its manifest ({} bytes, SHA-256 {}; the manifest says {} bytes, {})",
                               dump.string(), size, sha.ok() ? *sha : "unreadable", base.size_bytes(), base.sha256()));
  }
  return dump;
}

}  // namespace pgpitr::wal
