// pgpitr_regress_corpus: PostgreSQL's own regression SQL files, run with psql against a captured
// throwaway PostgreSQL (through pgpitr's proxy or straight to the server), each file in a session of
// its own; after each file a point (LSN, schema, every table's rows), and the points restored and
// compared exactly with the source as it was then.
//   pgpitr_regress_corpus --mode proxy            # prints "N/N points exact"
//   pgpitr_regress_corpus --mode direct --files insert,alter_table --every 1
// Exit code 0 only when every point restored is exact.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_join.h"
#include "embedded/fingerprint.h"
#include "embedded/local_server.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "pg/connection.h"
#include "restore/restore.h"
#include "restore/restore_target.h"
#include "tests/spawn.h"
#include "wal/repository.h"

namespace pgpitr::corpus {
namespace {

// The files, in the order of PostgreSQL 15's parallel_schedule (later files use what earlier ones made).
constexpr const char* kSchedule[] = {
    "test_setup",
    "enum",
    "rangetypes",
    "insert",
    "insert_conflict",
    "copydml",
    "create_misc",
    "create_procedure",
    "create_table",
    "create_type",
    "create_index",
    "create_view",
    "create_aggregate",
    "create_function_sql",
    "create_cast",
    "constraints",
    "triggers",
    "inherit",
    "typed_table",
    "vacuum",
    "drop_if_exists",
    "updatable_views",
    "select_into",
    "transactions",
    "arrays",
    "update",
    "delete",
    "namespace",
    "prepared_xacts",
    "privileges",
    "matview",
    "replica_identity",
    "rowsecurity",
    "identity",
    "generated",
    "create_table_like",
    "alter_generic",
    "rules",
    "foreign_key",
    "cluster",
    "dependency",
    "plpgsql",
    "copy2",
    "temp",
    "domain",
    "truncate",
    "alter_table",
    "sequence",
    "rowtypes",
    "returning",
    "with",
    "indexing",
    "hash_part",
    "merge",
    "fast_default",
};

struct Options {
  // proxy | direct | plain (no pgpitr at all: psql's outputs only) | statements (no pgpitr: each
  // query psql sent, with the schema-change commands it ran, written to `out`: the recognizer's
  // oracle, tests/integration/statement_corpus_test.cc)
  std::string mode = "proxy";
  std::string out;  // statements: the JSON-lines file
  std::string corpus = PGPITR_CORPUS_DIR;
  std::vector<std::string> files;
  int every = 1;  // restore every Nth point (the last point always)
  std::string pgpitr = PGPITR_BINARY;
  bool keep = false;
  // run --set-replica-identity-full: the corpus's many tables without a key take UPDATE and DELETE,
  // which without it are not captured (the restores then name those tables).
  bool identity_full = true;
  // run --no-event-triggers: as a capture role that may not create event triggers (the proxy then
  // records what passes it; without the proxy, restores name what the stream shows changed).
  bool event_triggers = true;
  // Points at quiet moments: before each point, and before the next file, wait for capture's checks
  // (large objects, the relations' definitions: once a second) to pass, so that what they see is
  // placed on one side of the point. Without it the files run back to back.
  bool settle = false;
};

using testing::Slurp;

void Say(const std::string& line) { std::fprintf(stderr, "corpus: %s\n", line.c_str()); }

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// Runs a program to its end (or kills it after `limit`); its exit code, -1 when killed.
int RunToEnd(const std::vector<std::string>& args, const std::vector<std::string>& env,
             const std::filesystem::path& log, std::chrono::seconds limit) {
  pid_t pid = testing::SpawnLogged(args, env, log);
  if (pid < 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A schema dump without its comments and blank lines, as lines, for comparing two databases.
struct Schema {
  std::vector<std::string> lines;
  friend bool operator==(const Schema&, const Schema&) = default;
};

// What a point saw of the source after a file, with no session open.
struct Point {
  int number = 0;
  std::string after;  // the file
  pg::Lsn lsn;
  std::string time;
  embedded::Fingerprint fingerprint;
  Schema schema;
};

class Corpus {
 public:
  explicit Corpus(Options o) : o_(std::move(o)) {}

  int Run() {
    embedded::LocalServerOptions so;
    so.settings = {"max_connections = 60"};  // no prepared transactions, as pg_regress runs by default
    if (o_.mode == "statements") {
      // Every query the server gets, and errors, as JSON lines (data/log/corpus.json).
      for (const char* s :
           {"logging_collector = on", "log_destination = 'jsonlog'", "log_directory = 'log'", "log_filename = 'corpus'",
            "log_rotation_size = 0", "log_statement = 'all'", "log_min_error_statement = error"}) {
        so.settings.emplace_back(s);
      }
    }
    absl::StatusOr<std::unique_ptr<embedded::LocalServer>> server = embedded::LocalServer::Start(so);
    if (!server.ok()) return Fail(fmt::format("cannot start PostgreSQL: {}", server.status().message()));
    server_ = *std::move(server);
    work_ = std::filesystem::temp_directory_path() / fmt::format("pgpitr-corpus-{}-{}", o_.mode, getpid());
    std::filesystem::create_directories(work_ / "out");
    repo_ = work_ / "repo";
    log_ = work_ / "run.log";
    if (absl::Status s = Setup(); !s.ok()) return Fail(fmt::format("setup: {}", s.message()));
    const bool plain = o_.mode == "plain" || o_.mode == "statements";
    if (o_.mode == "statements") {
      if (absl::Status s = TagSchemaChanges(); !s.ok()) return Fail(fmt::format("setup: {}", s.message()));
    }
    if (!plain && !StartRun()) return Fail("pgpitr run did not start:\n" + Slurp(log_));

    for (const std::string& file : o_.files) {
      const std::filesystem::path sql = std::filesystem::path(o_.corpus) / (file + ".sql");
      if (!std::filesystem::exists(sql)) return Fail(fmt::format("no file {}", sql.string()));
      const int code = Psql(sql, work_ / "out" / (file + ".out"));
      if (code < 0) Say(fmt::format("{}: psql did not finish within 300 s", file));
      if (!plain && o_.settle && !Settle()) return Fail("capture's checks did not pass a point");
      if (!plain && !TakePoint(file)) return Fail("cannot read the source at a point");
      if (!plain && o_.settle && !Settle()) return Fail("capture's checks did not pass a point");
    }
    if (o_.mode == "statements") return WriteStatements();
    if (plain) {
      // A baseline: diff -r its out/ against that of a run through the proxy.
      Say(fmt::format("psql's outputs without pgpitr are in {}", (work_ / "out").string()));
      return 0;
    }
    if (!WaitCaptured()) return Fail("capture did not reach the last point:\n" + Slurp(log_));
    kill(run_pid_, SIGTERM);
    waitpid(run_pid_, nullptr, 0);
    return Verify();
  }

 private:
  int Fail(const std::string& why) {
    Say(why);
    if (run_pid_ > 0) {
      kill(run_pid_, SIGKILL);
      waitpid(run_pid_, nullptr, 0);
    }
    if (server_ != nullptr) server_->KeepOnExit();
    std::printf("0/0 points exact (%s): %s\n", o_.mode.c_str(), why.c_str());
    return 2;
  }

  // statements: an event trigger at the start of every schema-change command (those inside
  // functions too; with session_replication_role = replica too) logs its tag, in the log entries
  // of the query that ran it.
  absl::Status TagSchemaChanges() {
    absl::StatusOr<pg::Connection> regression = Connect();
    if (!regression.ok()) return regression.status();
    return regression->Execute(
        "CREATE SCHEMA pgpitr_oracle; CREATE FUNCTION pgpitr_oracle.tag() RETURNS event_trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE LOG 'pgpitr tag: %', tg_tag; END $$; CREATE EVENT TRIGGER pgpitr_oracle_tag ON "
        "ddl_command_start EXECUTE FUNCTION pgpitr_oracle.tag(); ALTER EVENT TRIGGER pgpitr_oracle_tag ENABLE "
        "ALWAYS");
  }

  // statements: from the server's log, each query a file's session sent (application_name
  // pg_regress/FILE), whether it failed, and the schema-change commands it ran: one JSON object a
  // line, {"file", "sql", "tags", "failed"}, in the order sent.
  int WriteStatements() {
    // Once a last query is in the log, all before it are: every backend writes to the log
    // collector's one pipe, which it reads in order.
    const std::filesystem::path path = server_->data_dir() / "log" / "corpus.json";
    {
      absl::StatusOr<pg::Connection> last = Connect();
      if (!last.ok()) return Fail(fmt::format("cannot connect: {}", last.status().message()));
      if (absl::Status s = last->Execute("SELECT 'pgpitr corpus end'"); !s.ok()) return Fail(std::string(s.message()));
    }
    for (int i = 0; Slurp(path).find("pgpitr corpus end") == std::string::npos; ++i) {
      if (i == 600) return Fail("the server's log did not get the last query");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::ifstream log(path);
    if (!log) return Fail("no server log");
    std::vector<nlohmann::json> statements;
    std::map<int64_t, size_t> current;  // by backend pid, the query it runs
    for (std::string line; std::getline(log, line);) {
      const nlohmann::json e = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!e.is_object() || !e.contains("pid") || !e.contains("message")) continue;
      const int64_t pid = e["pid"].get<int64_t>();
      const std::string message = e["message"].get<std::string>();
      const std::string app = e.value("application_name", "");
      if (!app.starts_with("pg_regress/")) continue;
      const std::string severity = e.value("error_severity", "");
      if (severity == "LOG" && message.starts_with("statement: ")) {
        current[pid] = statements.size();
        statements.push_back({{"file", app.substr(11)},
                              {"sql", message.substr(11)},
                              {"tags", nlohmann::json::array()},
                              {"failed", false}});
      } else if (auto it = current.find(pid); it != current.end()) {
        if (severity == "LOG" && message.starts_with("pgpitr tag: ")) {
          statements[it->second]["tags"].push_back(message.substr(12));
        } else if (severity == "ERROR" || severity == "FATAL") {
          statements[it->second]["failed"] = true;
        }
      }
    }
    std::ofstream out(o_.out);
    for (const nlohmann::json& s : statements) out << s.dump() << "\n";
    out.close();
    if (!out) return Fail(fmt::format("cannot write {}", o_.out));
    server_.reset();
    Say(fmt::format("{} statements written to {}", statements.size(), o_.out));
    return 0;
  }

  std::string Conn(const std::string& db) const { return server_->ConnectionString(db); }
  absl::StatusOr<pg::Connection> Connect(const std::string& db = "regression") {
    absl::StatusOr<pg::ConnInfo> info = pg::ConnInfo::Parse(Conn(db));
    if (!info.ok()) return info.status();
    return pg::Connection::Connect(*info, "source");
  }

  // The database as pg_regress makes it: its locale and output settings.
  absl::Status Setup() {
    absl::StatusOr<pg::Connection> admin = Connect("postgres");
    if (!admin.ok()) return admin.status();
    if (absl::Status s =
            admin->Execute("CREATE DATABASE regression TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'");
        !s.ok()) {
      return s;
    }
    return admin->Execute(
        "ALTER DATABASE regression SET lc_messages TO 'C';"
        "ALTER DATABASE regression SET lc_monetary TO 'C';"
        "ALTER DATABASE regression SET lc_numeric TO 'C';"
        "ALTER DATABASE regression SET lc_time TO 'C';"
        "ALTER DATABASE regression SET bytea_output TO 'hex';"
        "ALTER DATABASE regression SET timezone_abbreviations TO 'Default';");
  }

  bool StartRun() {
    std::vector<std::string> args = {
        o_.pgpitr, "run",         "--source", Conn("regression"), "--repo", repo_.string(), "--sequence-interval",
        "1",       "--log-level", "info"};
    if (o_.identity_full) args.push_back("--set-replica-identity-full");
    if (!o_.event_triggers) args.push_back("--no-event-triggers");
    if (o_.mode == "proxy") {
      proxy_port_ = FreePort();
      args.push_back("--listen");
      args.push_back(fmt::format("127.0.0.1:{}", proxy_port_));
    }
    run_pid_ = testing::SpawnLogged(args, {}, log_);
    for (int i = 0; i < 1200; ++i) {
      absl::StatusOr<std::unique_ptr<wal::Repository>> repo =
          wal::Repository::Open(repo_, wal::Repository::Mode::kRead);
      if (repo.ok()) {
        absl::StatusOr<std::vector<proto::Base>> bases = (*repo)->Bases();
        if (bases.ok() && !bases->empty()) return true;
      }
      int status = 0;
      if (waitpid(run_pid_, &status, WNOHANG) == run_pid_) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // One file, one session, as pg_regress runs it (its client settings; errors do not stop it).
  int Psql(const std::filesystem::path& sql, const std::filesystem::path& out) {
    const std::string conn = o_.mode == "proxy" ? fmt::format(
                                                      "host=127.0.0.1 port={} user=postgres dbname=regression "
                                                      "sslmode=disable",
                                                      proxy_port_)
                                                : Conn("regression");
    return RunToEnd({(server_->bin_dir() / "psql").string(), "-X", "-a", "-q", "-d", conn, "-f", sql.string()},
                    {"PGTZ=PST8PDT", "PGDATESTYLE=Postgres, MDY", "PGAPPNAME=pg_regress/" + sql.stem().string()}, out,
                    std::chrono::seconds(300));
  }

  absl::StatusOr<Schema> DumpSchema(const std::string& db) {
    const std::filesystem::path out = work_ / fmt::format("schema-{}.sql", db);
    std::filesystem::remove(out);
    const int code = RunToEnd({(server_->bin_dir() / "pg_dump").string(), "--schema-only", "--no-publications",
                               "--no-subscriptions", "--exclude-schema=_pgpitr", "-d", Conn(db), "-f", out.string()},
                              {}, work_ / "pg_dump.log", std::chrono::seconds(120));
    if (code != 0)
      return absl::InternalError(fmt::format("pg_dump of {} failed: {}", db, Slurp(work_ / "pg_dump.log")));
    Schema s;
    std::istringstream in(Slurp(out));
    for (std::string line; std::getline(in, line);) {
      // pg_dump 15.14 and later fence the script with \restrict KEY ... \unrestrict KEY, a random key.
      if (line.empty() || line.starts_with("--") || line.starts_with("\\restrict ") ||
          line.starts_with("\\unrestrict ") || line.find("_pgpitr_") != std::string::npos ||
          line.find("_pgpitr.") != std::string::npos) {
        continue;
      }
      s.lines.push_back(line);
    }
    return s;
  }

  bool TakePoint(const std::string& file) {
    absl::StatusOr<pg::Connection> conn = Connect();
    if (!conn.ok()) return false;
    absl::StatusOr<pg::Result> r = conn->Query("SELECT pg_current_wal_insert_lsn(), clock_timestamp()");
    absl::StatusOr<embedded::Fingerprint> f = embedded::TakeFingerprint(*conn);
    absl::StatusOr<Schema> schema = DumpSchema("regression");
    if (!r.ok() || !f.ok() || !schema.ok()) {
      Say(fmt::format("point after {}: {}", file,
                      !r.ok()   ? r.status().message()
                      : !f.ok() ? f.status().message()
                                : schema.status().message()));
      return false;
    }
    Point p;
    p.number = static_cast<int>(points_.size()) + 1;
    p.after = file;
    p.lsn = *pg::Lsn::Parse(r->Get(0, 0));
    p.time = r->GetString(0, 1);
    p.fingerprint = *std::move(f);
    p.schema = *std::move(schema);
    Say(fmt::format("point {} after {} at {} ({} tables)", p.number, file, p.lsn.ToString(),
                    p.fingerprint.tables.size()));
    points_.push_back(std::move(p));
    return true;
  }

  // Whether capture's catalog checks (wal/catalog_digest.h) ran past `lsn`: without event triggers,
  // a restore there then knows the relations, rather than saying it cannot.
  bool CatalogCheckedPast(pg::Lsn lsn) {
    absl::StatusOr<std::unique_ptr<wal::Repository>> repo = wal::Repository::Open(repo_, wal::Repository::Mode::kRead);
    if (!repo.ok()) return false;
    absl::StatusOr<proto::CaptureState> state = (*repo)->change_log().State();
    return state.ok() && pg::Lsn(state->last_catalog_check_lsn()) > lsn;
  }

  // Waits until capture's checks ran past now (a logical message moves the server's position, so a
  // check's first read is past it even on an idle source).
  bool Settle() {
    absl::StatusOr<pg::Connection> conn = Connect();
    if (!conn.ok()) return false;
    absl::StatusOr<pg::Result> now = conn->Query("SELECT pg_current_wal_insert_lsn()");
    if (!now.ok()) return false;
    const pg::Lsn lsn = *pg::Lsn::Parse(now->Get(0, 0));
    (void)conn->Execute("SELECT pg_logical_emit_message(false, 'corpus', 'settle')");
    for (int i = 0; i < 300; ++i) {
      if (CatalogCheckedPast(lsn)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // Waits until the change log holds everything up to the last point, and a catalog check past it.
  bool WaitCaptured() {
    if (points_.empty()) return true;
    // A logical message moves the stream past the last point even when nothing else happens.
    if (absl::StatusOr<pg::Connection> conn = Connect(); conn.ok()) {
      (void)conn->Execute("SELECT pg_logical_emit_message(false, 'corpus', 'end')");
    }
    for (int i = 0; i < 1200; ++i) {
      absl::StatusOr<pg::Connection> conn = Connect();
      if (conn.ok()) {
        absl::StatusOr<pg::Result> r =
            conn->Query("SELECT confirmed_flush_lsn >= $1::pg_lsn FROM pg_replication_slots WHERE slot_name = 'pgpitr'",
                        {points_.back().lsn.ToString()});
        if (r.ok() && r->rows() == 1 && r->GetString(0, 0) == "t" && CatalogCheckedPast(points_.back().lsn)) {
          return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  static std::string SchemaDifference(const Schema& expected, const Schema& actual) {
    std::vector<std::string> a = expected.lines, b = actual.lines;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    std::vector<std::string> missing, extra;
    std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(missing));
    std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(extra));
    std::string out = fmt::format("schema differs by {} missing and {} extra lines", missing.size(), extra.size());
    for (size_t i = 0; i < std::min<size_t>(missing.size(), 4); ++i) out += "\n    - " + missing[i];
    for (size_t i = 0; i < std::min<size_t>(extra.size(), 4); ++i) out += "\n    + " + extra[i];
    return out;
  }

  // The restored database's difference from the point: empty when it is exactly the source's.
  std::string Compare(const Point& p, const std::string& db) {
    absl::StatusOr<pg::Connection> conn = Connect(db);
    absl::StatusOr<embedded::Fingerprint> f =
        conn.ok() ? embedded::TakeFingerprint(*conn) : absl::StatusOr<embedded::Fingerprint>(conn.status());
    absl::StatusOr<Schema> schema = DumpSchema(db);
    if (!f.ok() || !schema.ok()) {
      return fmt::format("cannot read the restore: {}", !f.ok() ? f.status().message() : schema.status().message());
    }
    std::string difference;
    if (*f != p.fingerprint) difference += embedded::DescribeDifference(p.fingerprint, *f);
    if (*schema != p.schema) difference += SchemaDifference(p.schema, *schema);
    return difference;
  }

  // The tables ("schema.table") whose rows or columns differ between the point and a restore.
  std::vector<std::string> DifferingTables(const Point& p, const std::string& db) {
    absl::StatusOr<pg::Connection> conn = Connect(db);
    if (!conn.ok()) return {"(cannot read " + db + ")"};
    absl::StatusOr<embedded::Fingerprint> f = embedded::TakeFingerprint(*conn);
    if (!f.ok()) return {"(cannot read " + db + ")"};
    std::set<std::string> out;
    for (const auto& [table, hash] : p.fingerprint.tables) {
      auto it = f->tables.find(table);
      if (it == f->tables.end() || it->second != hash) out.insert(table);
    }
    for (const auto& [table, columns] : p.fingerprint.columns) {
      auto it = f->columns.find(table);
      if (it != f->columns.end() && it->second != columns) out.insert(table);
    }
    for (const auto& [table, hash] : f->tables) {
      if (!p.fingerprint.tables.contains(table)) out.insert(table);
    }
    return {out.begin(), out.end()};
  }

  void Drop(const std::string& db) {
    if (absl::StatusOr<pg::Connection> admin = Connect("postgres"); admin.ok()) {
      (void)admin->Execute("DROP DATABASE IF EXISTS " + db);
    }
  }

  int Verify() {
    int exact = 0;
    int total = 0;
    int named = 0;    // strict refused; --best-effort listed what may differ
    int silent = 0;   // a restore that said it was exact, and was not
    int unnamed = 0;  // a --best-effort restore with a table whose rows or columns differ, not named
    for (size_t i = 0; i < points_.size(); ++i) {
      const Point& p = points_[i];
      const bool last = i + 1 == points_.size();
      if (!last && (i + 1) % static_cast<size_t>(std::max(1, o_.every)) != 0) continue;
      ++total;
      const std::string db = fmt::format("r{}", p.number);
      const std::string what = fmt::format("point {} (after {}, {})", p.number, p.after, p.lsn.ToString());
      restore::RestoreOptions ro;
      ro.repo = repo_;
      ro.target = *pg::ConnInfo::Parse(Conn(db));
      ro.point = *restore::RestoreTarget::AtLsn(p.lsn.ToString(), /*exclusive=*/true);
      absl::StatusOr<restore::RestoreSummary> summary = restore::RunRestore(ro, base::Logger::Silent());
      if (!summary.ok()) {
        Say(fmt::format("{}: NOT EXACT: restore failed: {}", what, summary.status().message()));
        if (summary.status().code() != absl::StatusCode::kFailedPrecondition) continue;
        // Carrying on instead: is everything it did not name exact?
        ro.best_effort = true;
        ro.target = *pg::ConnInfo::Parse(Conn(db + "_b"));
        absl::StatusOr<restore::RestoreSummary> best = restore::RunRestore(ro, base::Logger::Silent());
        if (!best.ok()) {
          Say(fmt::format("{}: --best-effort failed too: {}", what, best.status().message()));
          continue;
        }
        ++named;
        std::string listed;
        for (const restore::Difference& d : best->differences) {
          listed += fmt::format("\n    named: `{}`: {} [{}]", d.statement.substr(0, 120), d.reason.substr(0, 160),
                                absl::StrJoin(d.objects, ", "));
        }
        const std::string difference = Compare(p, db + "_b");
        // Every table whose rows or columns differ must be among those named.
        std::set<std::string> named_tables;
        for (const restore::Difference& d : best->differences) {
          for (std::string object : d.objects) {
            if (!object.starts_with("table ")) continue;
            object.erase(0, 6);
            std::erase(object, '"');
            named_tables.insert(object);
          }
        }
        std::vector<std::string> not_named;
        for (const std::string& table : DifferingTables(p, db + "_b")) {
          if (!named_tables.contains(table)) not_named.push_back(table);
        }
        if (!not_named.empty()) ++unnamed;
        Say(fmt::format("{}: --best-effort named {} difference(s){}{}{}", what, best->differences.size(), listed,
                        difference.empty() ? "\n    and the restore is exact" : "\n    differs: " + difference,
                        not_named.empty() ? "" : "\n    NOT NAMED: " + absl::StrJoin(not_named, ", ")));
        Drop(db + "_b");
        continue;
      }
      const std::string difference = Compare(p, db);
      if (difference.empty()) {
        ++exact;
        Say(fmt::format("{}: exact ({} transactions replayed)", what, summary->transactions));
      } else {
        ++silent;
        Say(fmt::format("{}: NOT EXACT, SILENTLY: {}", what, difference));
      }
      Drop(db);
    }
    std::printf(
        "%d/%d points exact (%s%s%s, %zu files); %d refused and restored with --best-effort naming what may "
        "differ (%d of them with a differing table not named); %d silently wrong\n",
        exact, total, o_.mode.c_str(), o_.event_triggers ? "" : ", no event triggers",
        o_.settle ? ", settled points" : "", o_.files.size(), named, unnamed, silent);
    std::fflush(stdout);
    const bool ok = exact == total && total > 0;
    if (ok && !o_.keep) {
      std::error_code ec;
      std::filesystem::remove_all(work_, ec);
    } else {
      server_->KeepOnExit();
      Say(fmt::format("kept {} (repository, logs, psql outputs)", work_.string()));
    }
    return ok ? 0 : 1;
  }

  Options o_;
  std::unique_ptr<embedded::LocalServer> server_;
  std::filesystem::path work_, repo_, log_;
  pid_t run_pid_ = -1;
  int proxy_port_ = 0;
  std::vector<Point> points_;
};

}  // namespace
}  // namespace pgpitr::corpus

int main(int argc, char** argv) {
  pgpitr::corpus::Options o;
  std::string files;
  CLI::App app("pgpitr_regress_corpus: PostgreSQL's regression SQL captured, every point restored and compared");
  app.add_option("--mode", o.mode,
                 "proxy (psql through pgpitr's proxy), direct (psql to the server), plain (no pgpitr: only "
                 "psql's outputs, kept, to compare with another run's), or statements (no pgpitr: each query psql "
                 "sent, whether it failed, and the schema-change commands it ran, as JSON lines to --out)")
      ->check(CLI::IsMember({"proxy", "direct", "plain", "statements"}))
      ->capture_default_str();
  app.add_option("--out", o.out, "statements: the file to write");
  app.add_option("--corpus", o.corpus, "The folder of the regression SQL files")->capture_default_str();
  app.add_option("--files", files, "Comma-separated file names without .sql (default: the whole schedule)");
  app.add_option("--every", o.every, "Restore every Nth point (and always the last)")->capture_default_str();
  app.add_option("--pgpitr", o.pgpitr, "The pgpitr binary")->capture_default_str();
  app.add_flag("--keep", o.keep, "Keep the server's and the repository's folders");
  app.add_flag("--settle", o.settle,
               "Take each point at a quiet moment: capture's once-a-second checks ran after the file and after the "
               "point, before the next file");
  app.add_flag("!--no-identity-full", o.identity_full,
               "Capture without --set-replica-identity-full (tables without a key are then named, not exact)");
  app.add_flag("!--no-event-triggers", o.event_triggers,
               "Capture with run --no-event-triggers (as a role that may not create them)");
  CLI11_PARSE(app, argc, argv);
  if (files.empty()) {
    for (const char* f : pgpitr::corpus::kSchedule) o.files.emplace_back(f);
  } else {
    std::istringstream in(files);
    for (std::string f; std::getline(in, f, ',');) {
      if (!f.empty()) o.files.push_back(f);
    }
  }
  return pgpitr::corpus::Corpus(o).Run();
}
