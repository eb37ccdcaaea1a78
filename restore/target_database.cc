#include "restore/target_database.h"

#include "base/error.h"
#include "fmt/format.h"
#include "pg/connection.h"

namespace pgpitr::restore {

using pg::Connection;
using pg::QuoteIdent;

namespace {

// A connection to the target server's maintenance database, to create or drop the target.
absl::StatusOr<Connection> ConnectMaintenance(const pg::ConnInfo& target) {
  absl::StatusOr<Connection> conn = Connection::Connect(target.With("dbname", "postgres"), "restore target server");
  if (conn.ok()) return conn;
  return Connection::Connect(target.With("dbname", "template1"), "restore target server");
}

// User relations in the target database, as text ("0" when empty).
absl::StatusOr<std::string> CountRelations(const pg::ConnInfo& target) {
  absl::StatusOr<Connection> db = Connection::Connect(target, "restore target");
  if (!db.ok()) return db.status();
  absl::StatusOr<pg::Result> objects = db->Query(
      "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'");
  if (!objects.ok()) return objects.status();
  return objects->GetString(0, 0);
}

}  // namespace

absl::StatusOr<bool> PrepareTargetDatabase(const pg::ConnInfo& target, bool replace_existing,
                                           const proto::CaptureState& state, const proto::Base& base,
                                           const base::Logger& log) {
  const std::string dbname = target.Get("dbname").value_or("");
  absl::StatusOr<Connection> admin = ConnectMaintenance(target);
  if (!admin.ok()) return admin.status();
  // The source itself is never a target, whatever the flags say.
  absl::StatusOr<pg::Result> ident = admin->Query("SELECT system_identifier::text FROM pg_control_system()");
  if (!ident.ok() && dbname == state.database()) {
    // Fail closed: a database of the source's name on a server we cannot identify may be the source.
    return base::WithKind(
        absl::PermissionDeniedError(fmt::format(
            "cannot tell whether the restore target is the source itself ({}); restore into a database with "
            "another name than {}",
            ident.status().message(), dbname)),
        base::ErrorKind::kTargetRefused);
  }
  if (ident.ok() && ident->GetString(0, 0) == state.system_identifier() && dbname == state.database()) {
    return base::WithKind(absl::PermissionDeniedError(fmt::format(
                              "the restore target is database {} of the source cluster itself; restore into another "
                              "database (e.g. dbname={}_restored)",
                              dbname, dbname)),
                          base::ErrorKind::kTargetRefused);
  }
  absl::StatusOr<pg::Result> exists = admin->Query("SELECT 1 FROM pg_database WHERE datname = $1", {dbname});
  if (!exists.ok()) return exists.status();
  if (exists->rows() > 0) {
    absl::StatusOr<std::string> objects = CountRelations(target);
    if (!objects.ok()) return objects.status();
    if (*objects == "0") return false;
    if (!replace_existing) {
      return base::WithKind(
          absl::AlreadyExistsError(fmt::format(
              "the restore target database {} is not empty ({} relations); restore into a new database name, or "
              "pass --replace-existing to drop and recreate it",
              dbname, *objects)),
          base::ErrorKind::kTargetRefused);
    }
    if (absl::Status s = admin->Execute(fmt::format("DROP DATABASE {} WITH (FORCE)", QuoteIdent(dbname))); !s.ok()) {
      return s;
    }
    log.Info("dropped the existing database {} (--replace-existing)", dbname);
  }
  std::string create = fmt::format("CREATE DATABASE {} TEMPLATE template0", QuoteIdent(dbname));
  if (!base.encoding().empty()) create += " ENCODING " + pg::QuoteLiteral(base.encoding());
  if (absl::Status s = admin->Execute(create); !s.ok()) return s;
  return true;
}

absl::Status DropTargetDatabase(const pg::ConnInfo& target, const std::string& dbname) {
  absl::StatusOr<Connection> admin = ConnectMaintenance(target);
  if (!admin.ok()) return admin.status();
  return admin->Execute(fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", QuoteIdent(dbname)));
}

}  // namespace pgpitr::restore
