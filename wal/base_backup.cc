#include "wal/base_backup.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <fstream>
#include <optional>

#include "fmt/format.h"
#include "wal/pg_connection.h"
#include "wal/process.h"
#include "wal/source.h"

namespace pgpitr::wal {

namespace fs = std::filesystem;

absl::StatusOr<std::string> Sha256File(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return absl::NotFoundError(fmt::format("cannot read {}", file.string()));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::array<char, 1 << 16> buffer;
  while (in) {
    in.read(buffer.data(), buffer.size());
    EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(in.gcount()));
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest;
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest.data(), &length);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

absl::StatusOr<proto::Base> TakeBase(const Repository& repo, const BaseOptions& options, const Logger& log) {
  absl::StatusOr<PgConnection> conn = PgConnection::Connect(options.source, "source");
  if (!conn.ok()) return conn.status();
  absl::StatusOr<fs::path> pg_dump = PgTool("pg_dump", conn->server_version(), options.pg_bin_dir);
  if (!pg_dump.ok()) return pg_dump.status();
  absl::StatusOr<int> dump_major = PgToolMajorVersion(*pg_dump);
  if (!dump_major.ok()) return dump_major.status();

  absl::StatusOr<PgResult> slot = conn->Query(
      "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()",
      {options.slot});
  if (!slot.ok()) return slot.status();
  if (slot->rows() == 0) {
    return absl::FailedPreconditionError(
        fmt::format("capture's slot {} does not exist on the source, so changes after a base would be lost: start "
                    "'pgpitr run' first (it creates the slot), or pass the --slot it uses",
                    options.slot));
  }

  const auto wall_start = std::chrono::system_clock::now();
  absl::StatusOr<PgConnection> replication = ConnectReplication(options.source);
  if (!replication.ok()) return replication.status();
  std::optional<PgConnection> repl(*std::move(replication));
  const std::string temp_slot =
      fmt::format("pgpitr_base_{}_{}", getpid(),
                  std::chrono::duration_cast<std::chrono::seconds>(wall_start.time_since_epoch()).count());
  // The legacy spelling works from PostgreSQL 10 to today's servers.
  absl::StatusOr<PgResult> created = repl->Query(
      fmt::format("CREATE_REPLICATION_SLOT {} TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT", QuoteIdent(temp_slot)));
  if (!created.ok()) return created.status();
  absl::StatusOr<Lsn> lsn = Lsn::Parse(created->Get(0, 1));
  if (!lsn.ok()) return lsn.status();
  const std::string snapshot = created->GetString(0, 2);
  absl::StatusOr<PgTime> consistent_time = ServerClock(*conn);
  if (!consistent_time.ok()) return consistent_time.status();

  proto::Base base;
  base.set_lsn(lsn->value());
  base.set_consistent_time(*consistent_time);
  base.set_start_time(PgTimeFromSystemClock(wall_start));
  base.set_server_version(conn->ParameterStatus("server_version"));
  base.set_pg_dump_version(std::to_string(*dump_major));
  absl::StatusOr<PgResult> db = conn->Query(
      "SELECT current_database(), pg_encoding_to_char(encoding) "
      "FROM pg_database WHERE datname = current_database()");
  if (!db.ok()) return db.status();
  base.set_database(db->GetString(0, 0));
  base.set_encoding(db->GetString(0, 1));
  // Ids sort by LSN: 16 hex digits.
  base.set_id(fmt::format("{:016X}", lsn->value()));
  base.set_dump_file("base.dump");

  absl::StatusOr<fs::path> partial = repo.NewPartialBase(base.id());
  if (!partial.ok()) return partial.status();
  log.Info("base {}: dumping database {} at snapshot {} (LSN {}) with {}", base.id(), base.database(), snapshot,
           lsn->ToString(), pg_dump->string());

  std::map<std::string, std::string> env;
  ConnInfo target = options.source;
  if (auto password = options.source.Get("password")) {
    env["PGPASSWORD"] = *password;  // kept out of the process list
    target = target.Without("password");
  }
  std::vector<std::string> argv = {pg_dump->string(),
                                   "--snapshot=" + snapshot,
                                   "--format=custom",
                                   "--no-publications",
                                   "--no-subscriptions",
                                   "--file=" + (*partial / base.dump_file()).string(),
                                   "--dbname=" + target.ToString()};
  // RunProcess polls `stop` while pg_dump runs: the moment to say how much it has written.
  const fs::path dump_path = *partial / base.dump_file();
  absl::Status dumped = RunProcess(argv, env, *partial / "pg_dump.log", [&] {
    if (options.progress) {
      std::error_code size_ec;
      const uintmax_t bytes = fs::file_size(dump_path, size_ec);
      options.progress->Report(
          {.phase = "base dump (pg_dump)", .done = size_ec ? 0 : bytes, .total = 0, .unit = "bytes"});
    }
    return options.stop && options.stop();
  });
  // The exported snapshot must stay valid until pg_dump has taken it; only now may the slot go.
  repl.reset();
  if (!dumped.ok()) {
    std::error_code ec;
    fs::remove_all(*partial, ec);
    return dumped;
  }
  const fs::path dump = *partial / base.dump_file();
  absl::StatusOr<std::string> sha = Sha256File(dump);
  if (!sha.ok()) return sha.status();
  base.set_sha256(*sha);
  base.set_size_bytes(fs::file_size(dump));
  base.set_end_time(PgTimeFromSystemClock(std::chrono::system_clock::now()));
  if (absl::Status s = SyncPath(dump); !s.ok()) return s;
  if (absl::Status s = repo.CommitBase(*partial, base); !s.ok()) return s;
  log.Info("base {}: {} bytes, LSN {}, consistent at {}", base.id(), base.size_bytes(), lsn->ToString(),
           FormatPgTime(base.consistent_time()));
  return base;
}

}  // namespace pgpitr::wal
