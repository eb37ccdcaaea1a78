// Repository: bases are dumped into folders of their own and registered by rename; two dumps that
// carry the same id (temporary slots made at the same moment can share a consistent point: `run`'s
// scheduled base and a `backup`) do not disturb each other, and the first registered stands.
#include "wal/repository.h"

#include <gtest/gtest.h>

#include <fstream>

#include "base/error.h"
#include "tests/temp_dir.h"
#include "wal/base_backup.h"
#include "wal/description.h"

namespace pgpitr::wal {
namespace {

using ::pgpitr::testing::TempDir;

proto::Base BaseWithId(const std::string& id, const std::string& sha) {
  proto::Base base;
  base.set_id(id);
  base.set_lsn(0x1000);
  base.set_dump_file("base.dump");
  base.set_sha256(sha);
  return base;
}

TEST(Repository, TwoDumpsOfTheSameIdGetTheirOwnFoldersAndTheFirstRegisteredStands) {
  TempDir dir("pgpitr_repository_");
  absl::StatusOr<std::unique_ptr<Repository>> repo = Repository::Open(dir.path() / "repo", Repository::Mode::kCapture);
  ASSERT_TRUE(repo.ok()) << repo.status();
  absl::StatusOr<std::filesystem::path> first = (*repo)->NewPartialBase("0000000000001000");
  absl::StatusOr<std::filesystem::path> second = (*repo)->NewPartialBase("0000000000001000");
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_NE(*first, *second) << "the second dump would delete the first one's folder";
  std::ofstream(*first / "base.dump") << "first";
  std::ofstream(*second / "base.dump") << "second";
  EXPECT_TRUE(std::filesystem::exists(*first / "base.dump"));

  ASSERT_TRUE((*repo)->CommitBase(*first, BaseWithId("0000000000001000", "aa")).ok());
  absl::Status again = (*repo)->CommitBase(*second, BaseWithId("0000000000001000", "bb"));
  EXPECT_TRUE(again.ok()) << again;
  EXPECT_FALSE(std::filesystem::exists(*second)) << "the redundant dump's folder was left behind";
  absl::StatusOr<std::vector<proto::Base>> bases = (*repo)->Bases();
  ASSERT_TRUE(bases.ok()) << bases.status();
  ASSERT_EQ(bases->size(), 1u);
  EXPECT_EQ((*bases)[0].sha256(), "aa");
}

// A manifest written by a newer pgpitr (a field this one does not know) is read, the field
// skipped; one that is not JSON is damaged.
TEST(Repository, AManifestWithFieldsOfANewerVersionIsReadAndABrokenOneIsDamaged) {
  TempDir dir("pgpitr_repository_");
  absl::StatusOr<std::unique_ptr<Repository>> repo = Repository::Open(dir.path() / "repo", Repository::Mode::kCapture);
  ASSERT_TRUE(repo.ok()) << repo.status();
  absl::StatusOr<std::filesystem::path> partial = (*repo)->NewPartialBase("0000000000001000");
  ASSERT_TRUE(partial.ok());
  std::ofstream(*partial / "base.dump") << "dump";
  ASSERT_TRUE((*repo)->CommitBase(*partial, BaseWithId("0000000000001000", "aa")).ok());
  const std::filesystem::path manifest = dir.path() / "repo" / "bases" / "0000000000001000" / "base.json";
  ASSERT_TRUE(std::filesystem::exists(manifest));
  std::ofstream(manifest) << R"({"id": "0000000000001000", "lsn": "4096", "sha256": "aa", "futureField": [1, 2]})";
  absl::StatusOr<std::vector<proto::Base>> bases = (*repo)->Bases();
  ASSERT_TRUE(bases.ok()) << bases.status();
  ASSERT_EQ(bases->size(), 1u);
  EXPECT_EQ((*bases)[0].sha256(), "aa");

  std::ofstream(manifest) << R"({"id": "0000000000001000", "lsn": )";
  bases = (*repo)->Bases();
  EXPECT_EQ(bases.status().code(), absl::StatusCode::kDataLoss) << bases.status();
}

// Why the last base failed is kept for `info` until a base is registered; a torn file reads as none,
// and the file is not taken for a base folder.
TEST(Repository, TheLastBaseFailureIsKeptUntilABaseIsRegistered) {
  TempDir dir("pgpitr_repository_");
  absl::StatusOr<std::unique_ptr<Repository>> repo = Repository::Open(dir.path() / "repo", Repository::Mode::kCapture);
  ASSERT_TRUE(repo.ok()) << repo.status();
  absl::StatusOr<std::optional<Repository::BaseFailure>> none = (*repo)->LastBaseFailure();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());

  ASSERT_TRUE((*repo)->RecordBaseFailure(12345, "pg_dump is version 15\nbut the server is 17").ok());
  absl::StatusOr<std::optional<Repository::BaseFailure>> failure = (*repo)->LastBaseFailure();
  ASSERT_TRUE(failure.ok() && failure->has_value());
  EXPECT_EQ((*failure)->time, 12345);
  EXPECT_EQ((*failure)->message, "pg_dump is version 15 but the server is 17");
  absl::StatusOr<std::vector<proto::Base>> bases = (*repo)->Bases();
  ASSERT_TRUE(bases.ok()) << bases.status();
  EXPECT_TRUE(bases->empty());

  std::ofstream(dir.path() / "repo" / "bases" / ".last-failure", std::ios::trunc) << "torn";
  absl::StatusOr<std::optional<Repository::BaseFailure>> torn = (*repo)->LastBaseFailure();
  ASSERT_TRUE(torn.ok());
  EXPECT_FALSE(torn->has_value());

  ASSERT_TRUE((*repo)->RecordBaseFailure(1, "again").ok());
  absl::StatusOr<std::filesystem::path> partial = (*repo)->NewPartialBase("0000000000001000");
  ASSERT_TRUE(partial.ok()) << partial.status();
  ASSERT_TRUE((*repo)->CommitBase(*partial, BaseWithId("0000000000001000", "aa")).ok());
  absl::StatusOr<std::optional<Repository::BaseFailure>> cleared = (*repo)->LastBaseFailure();
  ASSERT_TRUE(cleared.ok());
  EXPECT_FALSE(cleared->has_value());
}

// restore and verify check a base's dump in one place: present, its size and SHA-256 those of the
// manifest; anything else is a damaged base, named.
TEST(Repository, ACheckedDumpMatchesItsManifestOrTheBaseIsDamaged) {
  TempDir dir("pgpitr_repository_");
  absl::StatusOr<std::unique_ptr<Repository>> repo = Repository::Open(dir.path() / "repo", Repository::Mode::kCapture);
  ASSERT_TRUE(repo.ok()) << repo.status();
  absl::StatusOr<std::filesystem::path> partial = (*repo)->NewPartialBase("0000000000001000");
  ASSERT_TRUE(partial.ok());
  std::ofstream(*partial / "base.dump") << "the dump";
  absl::StatusOr<std::string> sha = Sha256File(*partial / "base.dump");
  ASSERT_TRUE(sha.ok());
  proto::Base base = BaseWithId("0000000000001000", *sha);
  base.set_size_bytes(8);
  ASSERT_TRUE((*repo)->CommitBase(*partial, base).ok());
  absl::StatusOr<std::filesystem::path> dump = (*repo)->CheckedDump(base);
  ASSERT_TRUE(dump.ok()) << dump.status();
  EXPECT_EQ(dump->filename(), "base.dump");

  std::ofstream(*dump, std::ios::app) << "!";
  absl::StatusOr<std::filesystem::path> changed = (*repo)->CheckedDump(base);
  EXPECT_EQ(base::KindOf(changed.status()), base::ErrorKind::kBaseDamaged);
  EXPECT_NE(changed.status().message().find("does not match its manifest"), std::string::npos) << changed.status();
  std::filesystem::remove(*dump);
  absl::StatusOr<std::filesystem::path> missing = (*repo)->CheckedDump(base);
  EXPECT_EQ(base::KindOf(missing.status()), base::ErrorKind::kBaseDamaged);
  EXPECT_NE(missing.status().message().find("is missing"), std::string::npos) << missing.status();

  proto::Base empty = base;
  empty.set_empty(true);
  absl::StatusOr<std::filesystem::path> none = (*repo)->CheckedDump(empty);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty()) << "an empty base has no dump";
}

// What `info` shows of a repository capture has not written to yet: no base, no window, nothing
// captured, and no failure.
TEST(Repository, ADescriptionOfANewRepositoryHoldsNothingYet) {
  TempDir dir("pgpitr_repository_");
  absl::StatusOr<std::unique_ptr<Repository>> repo = Repository::Open(dir.path() / "repo", Repository::Mode::kCapture);
  ASSERT_TRUE(repo.ok()) << repo.status();
  absl::StatusOr<RepositoryDescription> d = DescribeRepository(**repo);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->bases.empty());
  EXPECT_TRUE(d->window.empty());
  EXPECT_FALSE(d->last_commit.has_value());
  EXPECT_FALSE(d->last_base_failure.has_value());
  EXPECT_TRUE(d->marks.empty());
  EXPECT_EQ(d->bytes_per_row(), 0.0);
}

}  // namespace
}  // namespace pgpitr::wal
