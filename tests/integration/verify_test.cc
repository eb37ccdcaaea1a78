// `pgpitr verify` against a repository captured from a real PostgreSQL: clean, it says ok (exit 0);
// with one byte of a base's dump changed, or one byte inside the change log's stored data, it names
// the damaged base or LSN range, prints what is still restorable, and exits 5.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "fmt/format.h"
#include "harness.h"
#include "rocksdb/db.h"

namespace pgpitr::testing {
namespace {

struct VerifyRun {
  int exit_code = -1;
  std::string output;
};

VerifyRun Verify(const std::filesystem::path& repo, const std::string& more = "") {
  VerifyRun run;
  FILE* pipe = popen(fmt::format("{} verify --repo '{}' {} 2>&1", PGPITR_BINARY, repo.string(), more).c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) run.output.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

void FlipByte(const std::filesystem::path& file, uint64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << file;
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x5A));
  ASSERT_TRUE(f.good());
}

class VerifyTest : public ServerTest {
 protected:
  // A base, then enough single-row transactions that the change log spans many 32 KB blocks.
  proto::Base Capture(int transactions) {
    pg::Connection app = Connect("app");
    Exec(app, "CREATE TABLE t (id int PRIMARY KEY, v text)");
    proto::Base base = StartCaptureWithBase();
    for (int i = 0; i < transactions; ++i) {
      Exec(app, fmt::format("INSERT INTO t VALUES ({0}, md5('{0}') || md5('x{0}') || md5('y{0}'))", i));
    }
    WaitCaptured(InsertLsn(app));
    StopCapture();
    return base;
  }
};

// --replay restores the window's latest point into a scratch database, says whether it is exact
// (exit 0) or what may differ (exit 7), and drops the database either way.
TEST_F(VerifyTest, ReplayToTheEndSaysWhetherTheWindowIsExact) {
  Capture(20);
  const std::string scratch = fmt::format("--replay '{}'", server_->ConnectionString("postgres"));
  const VerifyRun exact = Verify(repo_dir_, scratch);
  EXPECT_EQ(exact.exit_code, 0) << exact.output;
  EXPECT_NE(exact.output.find("replayed to"), std::string::npos) << exact.output;
  EXPECT_NE(exact.output.find(", exactly"), std::string::npos) << exact.output;

  // A table without a key: its UPDATE is not captured, and replay says so.
  pg::Connection app = Connect("app");
  Exec(app, "CREATE TABLE loose (a int); INSERT INTO loose VALUES (1); UPDATE loose SET a = 2");
  StartCapture();
  WaitCaptured(InsertLsn(app));
  StopCapture();
  const VerifyRun named = Verify(repo_dir_, scratch);
  EXPECT_EQ(named.exit_code, 7) << named.output;
  EXPECT_NE(named.output.find("may differ: table public.loose"), std::string::npos) << named.output;
  absl::StatusOr<pg::Result> left =
      Connect("postgres").Query("SELECT count(*) FROM pg_database WHERE datname LIKE 'pgpitr_verify_%'");
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_EQ(left->GetString(0, 0), "0") << "the scratch database stayed";
}

TEST_F(VerifyTest, ACleanRepositoryIsOk) {
  proto::Base base = Capture(20);
  const VerifyRun run = Verify(repo_dir_);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("ok\n"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("restorable: " + pg::FormatPgTime(base.consistent_time())), std::string::npos)
      << run.output;
}

TEST_F(VerifyTest, ACorruptedBaseDumpIsNamedAndRestoreRefusesIt) {
  proto::Base base = Capture(20);
  const std::filesystem::path dump = repo_dir_ / "bases" / base.id() / "base.dump";
  FlipByte(dump, std::filesystem::file_size(dump) / 2);
  const VerifyRun run = Verify(repo_dir_);
  EXPECT_EQ(run.exit_code, 5) << run.output;
  EXPECT_NE(run.output.find(fmt::format("damaged: base {}: ", base.id())), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("does not match its manifest"), std::string::npos) << run.output;
  // Its only base is damaged: nothing is restorable.
  EXPECT_NE(run.output.find("restorable: nothing"), std::string::npos) << run.output;
  absl::StatusOr<restore::RestoreSummary> restored = Restore("restored", restore::RestoreTarget::Latest());
  ASSERT_FALSE(restored.ok());
  EXPECT_EQ(restored.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(VerifyTest, ACorruptedChangeLogBlockIsNamedByItsLsnRange) {
  proto::Base base = Capture(3000);
  // Everything into SST files (the write-ahead log is gone after a flush and compaction).
  {
    rocksdb::DB* raw = nullptr;
    rocksdb::Options options;
    ASSERT_TRUE(rocksdb::DB::Open(options, (repo_dir_ / "changelog").string(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
    ASSERT_TRUE(db->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr).ok());
  }
  ASSERT_EQ(Verify(repo_dir_).exit_code, 0);
  std::filesystem::path largest;
  for (const auto& entry : std::filesystem::directory_iterator(repo_dir_ / "changelog")) {
    if (entry.path().extension() == ".sst" &&
        (largest.empty() || entry.file_size() > std::filesystem::file_size(largest))) {
      largest = entry.path();
    }
  }
  ASSERT_FALSE(largest.empty());
  ASSERT_GT(std::filesystem::file_size(largest), 200'000u) << "too little data to span several blocks";
  // A third of the way in: a data block (the index and footer are at the end).
  FlipByte(largest, std::filesystem::file_size(largest) / 3);

  const VerifyRun run = Verify(repo_dir_);
  EXPECT_EQ(run.exit_code, 5) << run.output;
  EXPECT_NE(run.output.find("damaged: change log: "), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("are unreadable (commit LSNs "), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find("the whole log"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("restorable: "), std::string::npos) << run.output;
  // Restore to the end must replay across the damage: refused with an LSN.
  absl::StatusOr<restore::RestoreSummary> restored = Restore("restored", restore::RestoreTarget::Latest());
  ASSERT_FALSE(restored.ok());
  EXPECT_EQ(restored.status().code(), absl::StatusCode::kDataLoss) << restored.status();
  EXPECT_NE(restored.status().message().find("committed at LSN "), std::string_view::npos) << restored.status();
  // Refused before anything was written: the target database was never created.
  pg::Connection admin = Connect("postgres");
  absl::StatusOr<pg::Result> exists = admin.Query("SELECT count(*) FROM pg_database WHERE datname = 'restored'");
  ASSERT_TRUE(exists.ok());
  EXPECT_EQ(exists->GetString(0, 0), "0");
  std::fprintf(stderr, "verify said:\n%s%s\n", run.output.c_str(), std::string(restored.status().message()).c_str());
  (void)base;
}

}  // namespace
}  // namespace pgpitr::testing
