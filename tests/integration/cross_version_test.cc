// Restores into a newer major than the source's, the upgrade path physical backups cannot offer: a
// PostgreSQL 15 source (its base dumped by pg_dump 15) into 16, 17 and 18 servers, and 16 and 17
// sources (an empty base, the schema made after it and captured by the event triggers) into 18.
// Every checkpoint is restored by LSN into the newer server and must equal the source there: every
// table's columns, types and rows, and the sequences' values never behind.
#include "harness.h"

namespace pgpitr::testing {
namespace {

struct Upgrade {
  int source;
  int target;
};

std::string Name(const ::testing::TestParamInfo<Upgrade>& info) {
  return fmt::format("From{}To{}", info.param.source, info.param.target);
}

class CrossVersionTest : public ServerTest, public ::testing::WithParamInterface<Upgrade> {
 protected:
  int ServerMajor() const override { return GetParam().source; }

  void MakeSchema(pg::Connection& app) {
    Exec(app,
         "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');"
         "CREATE TABLE accounts (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner text NOT NULL,"
         " balance numeric(14, 2), tags text[], doc jsonb, at timestamptz, m mood,"
         " cents bigint GENERATED ALWAYS AS ((balance * 100)::bigint) STORED);"
         "CREATE TABLE events (id bigserial PRIMARY KEY, account int REFERENCES accounts, what text, body text);"
         "CREATE TABLE readings (at date NOT NULL, sensor int, value double precision) PARTITION BY RANGE (at);"
         "CREATE TABLE readings_2026 PARTITION OF readings FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');"
         "CREATE TABLE readings_rest PARTITION OF readings DEFAULT;"
         "ALTER TABLE readings REPLICA IDENTITY FULL; ALTER TABLE readings_2026 REPLICA IDENTITY FULL;"
         "ALTER TABLE readings_rest REPLICA IDENTITY FULL;"
         "CREATE VIEW rich AS SELECT owner, balance FROM accounts WHERE balance > 500;"
         "INSERT INTO accounts (owner, balance, tags, doc, at, m) SELECT 'o' || g, g * 10.5, ARRAY['a', 'b' || g],"
         " jsonb_build_object('g', g), '2026-03-01 10:00+00'::timestamptz + g * interval '1 hour', 'ok'"
         " FROM generate_series(1, 100) g;"
         "INSERT INTO readings SELECT '2025-12-20'::date + g, g % 5, g / 3.0 FROM generate_series(1, 40) g;");
  }

  struct Checkpoint {
    pg::Lsn lsn;
    embedded::Fingerprint fingerprint;
    int64_t events_sequence = 0;
  };

  Checkpoint Take(pg::Connection& app) {
    Checkpoint c;
    c.lsn = InsertLsn(app);
    absl::StatusOr<embedded::Fingerprint> f = embedded::TakeFingerprint(app);
    EXPECT_TRUE(f.ok()) << f.status();
    if (f.ok()) c.fingerprint = *f;
    absl::StatusOr<pg::Result> seq = app.Query("SELECT last_value FROM events_id_seq");
    EXPECT_TRUE(seq.ok()) << seq.status();
    if (seq.ok()) c.events_sequence = std::stoll(seq->GetString(0, 0));
    return c;
  }
};

TEST_P(CrossVersionTest, EveryCheckpointRestoresExactlyIntoTheNewerServer) {
  set_replica_identity_full_ = true;
  pg::Connection app = Connect("app");
  const proto::Base base = StartCaptureWithSchema([&] { MakeSchema(app); });
  ASSERT_FALSE(base.id().empty());

  std::vector<Checkpoint> checkpoints;
  checkpoints.push_back(Take(app));
  const std::vector<std::string> steps = {
      "INSERT INTO events (account, what, body) SELECT id, 'open', repeat(md5(id::text), 40) FROM accounts",
      "BEGIN; UPDATE accounts SET balance = balance + 1, doc = doc || '{\"u\": 1}' WHERE id % 3 = 0;"
      " SAVEPOINT s; DELETE FROM events WHERE account < 50; ROLLBACK TO s;"
      " DELETE FROM events WHERE account BETWEEN 90 AND 95; COMMIT",
      // Large enough to be streamed while in progress, with a subtransaction rolled back in it.
      "BEGIN; INSERT INTO events (account, what, body) SELECT 1 + g % 100, 'bulk', repeat('x', 200)"
      " FROM generate_series(1, 2000) g; SAVEPOINT s; UPDATE events SET what = 'gone'; ROLLBACK TO s;"
      " UPDATE events SET what = 'bulk kept' WHERE id % 7 = 0; COMMIT",
      "ALTER TABLE accounts ADD COLUMN note text DEFAULT 'new'; UPDATE accounts SET note = 'set' WHERE id < 10",
      "UPDATE readings SET value = -value WHERE sensor = 2; DELETE FROM readings WHERE sensor = 3;"
      " INSERT INTO readings VALUES ('2030-01-01', 9, 1.5)",
      "UPDATE events SET body = body || 'tail' WHERE id = 1; UPDATE accounts SET m = 'happy' WHERE id = 7",
      "TRUNCATE readings_rest; DELETE FROM events WHERE what = 'bulk'",
  };
  for (const std::string& step : steps) {
    Exec(app, step);
    checkpoints.push_back(Take(app));
    if (HasFatalFailure()) return;
  }
  WaitCaptured(InsertLsn(app));
  StopCapture();
  ASSERT_TRUE(capture_result_.ok()) << capture_result_;

  // The newer server, restored into.
  embedded::LocalServerOptions options;
  absl::StatusOr<std::filesystem::path> bin_dir = embedded::ServerBinDir(GetParam().target);
  ASSERT_TRUE(bin_dir.ok()) << bin_dir.status();
  options.bin_dir = *bin_dir;
  absl::StatusOr<std::unique_ptr<embedded::LocalServer>> target = embedded::LocalServer::Start(options);
  ASSERT_TRUE(target.ok()) << target.status();
  for (size_t i = 0; i < checkpoints.size(); ++i) {
    const Checkpoint& c = checkpoints[i];
    const std::string db = fmt::format("at_{}", i);
    restore::RestoreOptions restore_options;
    restore_options.repo = repo_dir_;
    restore_options.target = MustParse((*target)->ConnectionString(db));
    restore_options.point = AtLsn(c.lsn);
    absl::StatusOr<restore::RestoreSummary> summary = restore::RunRestore(restore_options, base::Logger::Silent());
    ASSERT_TRUE(summary.ok()) << "checkpoint " << i << ": " << summary.status();
    EXPECT_TRUE(summary->differences.empty()) << "checkpoint " << i << ": " << summary->ToString();
    absl::StatusOr<pg::Connection> restored =
        pg::Connection::Connect(MustParse((*target)->ConnectionString(db)), "restored");
    ASSERT_TRUE(restored.ok()) << restored.status();
    absl::StatusOr<pg::Result> version = restored->Query("SHOW server_version_num");
    ASSERT_TRUE(version.ok()) << version.status();
    EXPECT_EQ(std::stoi(version->GetString(0, 0)) / 10000, GetParam().target);
    absl::StatusOr<embedded::Fingerprint> f = embedded::TakeFingerprint(*restored);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(*f, c.fingerprint) << "checkpoint " << i << " at " << c.lsn.ToString() << ": "
                                 << embedded::DescribeDifference(c.fingerprint, *f);
    absl::StatusOr<pg::Result> seq = restored->Query("SELECT last_value FROM events_id_seq");
    ASSERT_TRUE(seq.ok()) << seq.status();
    EXPECT_GE(std::stoll(seq->GetString(0, 0)), c.events_sequence) << "checkpoint " << i;
    // The generated column is computed by the newer server, from the restored row.
    absl::StatusOr<pg::Result> generated =
        restored->Query("SELECT count(*) FROM accounts WHERE cents IS DISTINCT FROM (balance * 100)::bigint");
    ASSERT_TRUE(generated.ok()) << generated.status();
    EXPECT_EQ(generated->GetString(0, 0), "0");
  }
}

INSTANTIATE_TEST_SUITE_P(Upgrades, CrossVersionTest,
                         ::testing::Values(Upgrade{15, 16}, Upgrade{15, 17}, Upgrade{15, 18}, Upgrade{16, 18},
                                           Upgrade{17, 18}),
                         Name);

}  // namespace
}  // namespace pgpitr::testing
