// Connection: one libpq connection that returns errors as values, with results freed by RAII.
//   auto conn = Connection::Connect(conninfo, "source");
//   auto rows = conn->Query("SELECT relname FROM pg_class WHERE oid = $1", {"1259"});
// One owner at a time; libpq connections are not shared between threads.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/status_format.h"
#include "pg/conninfo.h"

namespace pgpitr::pg {

class Result {
 public:
  explicit Result(PGresult* result) : result_(result, &PQclear) {}
  int rows() const { return PQntuples(result_.get()); }
  int columns() const { return PQnfields(result_.get()); }
  bool IsNull(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string_view Get(int row, int column) const {
    return {PQgetvalue(result_.get(), row, column), static_cast<size_t>(PQgetlength(result_.get(), row, column))};
  }
  std::string GetString(int row, int column) const { return std::string(Get(row, column)); }
  PGresult* raw() const { return result_.get(); }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> result_;
};

using QueryParams = std::vector<std::optional<std::string>>;

class Connection {
 public:
  // what names the peer in errors ("source", "restore target"). A refusal the server gave a reason
  // for carries its SQLSTATE (SqlStateOf). Unavailable when trying again later may work: no answer
  // (down, unreachable), or the server starting, stopping, recovering or out of connections;
  // FailedPrecondition when the server refused these credentials, this database or this role.
  [[nodiscard]] static absl::StatusOr<Connection> Connect(const ConnInfo& conninfo, std::string_view what);

  Connection(Connection&&) = default;
  Connection& operator=(Connection&&) = default;

  // Runs one statement (simple protocol when there are no parameters, so it may hold several
  // statements and replication commands). An error carries the server's message and SQLSTATE (in
  // the text, and for callers in SqlStateOf); it is Unavailable when the connection is lost or the
  // server is going away (IsTransientSqlState), FailedPrecondition otherwise.
  [[nodiscard]] absl::StatusOr<Result> Query(std::string_view sql, const QueryParams& params = {});
  [[nodiscard]] absl::Status Execute(std::string_view sql, const QueryParams& params = {});

  // Runs one statement and returns the rows it affected (what its command tag counts: rows
  // inserted, updated, deleted or returned). A failure carries the server's message alone, as one
  // line, and its SQLSTATE (SqlStateOf): replay puts it in its own words.
  [[nodiscard]] absl::StatusOr<int64_t> Affected(std::string_view sql);
  // A statement prepared under `name` for ExecPrepared; fails as Affected does.
  [[nodiscard]] absl::Status Prepare(const std::string& name, const std::string& sql);
  // Runs a prepared statement with text parameters (nullptr for NULL; `lengths` are their sizes);
  // the rows it affected, or a failure as Affected's. Replay's row-by-row path: no copy of the values.
  [[nodiscard]] absl::StatusOr<int64_t> ExecPrepared(const std::string& name, const std::vector<const char*>& values,
                                                     const std::vector<int>& lengths);

  int server_version() const { return PQserverVersion(conn_.get()); }
  // Inside a transaction block (also a failed one): a SAVEPOINT may be set.
  bool InTransaction() const {
    const PGTransactionStatusType status = PQtransactionStatus(conn_.get());
    return status == PQTRANS_INTRANS || status == PQTRANS_INERROR;
  }
  std::string ParameterStatus(const char* name) const;
  // The libpq connection itself, for the replication protocol (wal/replication_stream.cc) and for
  // tests of libpq's asynchronous calls; everything else goes through the calls above.
  PGconn* raw() const { return conn_.get(); }
  const std::string& what() const { return what_; }

  // libpq's last error as one line.
  std::string LastError() const;

 private:
  Connection(PGconn* conn, std::string what) : conn_(conn, &PQfinish), what_(std::move(what)) {}

  std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
  std::string what_;
};

// Collapses libpq's multi-line messages into one line.
std::string OneLine(std::string_view message);

// The SQLSTATE of a failed result, or "" when there is none.
std::string SqlState(const PGresult* result);

// The SQLSTATE a status from Connection carries, or "" when the server gave none (a lost or
// refused connection, an error of libpq's own). Callers branch on it, never on the message.
std::string SqlStateOf(const absl::Status& status);
// `status` with `sqlstate` attached for SqlStateOf (unchanged when sqlstate is empty).
absl::Status WithSqlState(absl::Status status, std::string_view sqlstate);

// Whether a SQLSTATE says the server or the connection is going away, is not ready yet, or has no
// room for us now (class 08 connection exception, class 53 insufficient resources, 57P01
// admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now): worth trying again later.
bool IsTransientSqlState(std::string_view sqlstate);

// A connection error as libpq words it with PQERRORS_VERBOSE ("...failed: FATAL:  57P03: the
// database system is starting up\nLOCATION:  ..."), as one line without the code and the source
// location, and the SQLSTATE of the server's last refusal in *sqlstate ("" when the server sent
// none). libpq keeps a refused connection's SQLSTATE nowhere else.
std::string ParseConnectError(std::string_view verbose_message, std::string* sqlstate);

// COPY ... FROM STDIN with rows written as they are made and sent a MiB at a time, so no second
// copy of everything pending is held:
//   CopyIn in(conn); RETURN_IF_ERROR(in.Start(sql)); for (...) { in.rows() += line; in.Sent(); } in.End();
// A failure carries its SQLSTATE, as Connection::Affected's.
class CopyIn {
 public:
  explicit CopyIn(Connection& conn) : conn_(conn.raw()) {}
  [[nodiscard]] absl::Status Start(const std::string& sql);
  std::string& rows() { return buffer_; }  // append whole lines
  void Sent() {                            // after each line
    if (buffer_.size() >= kPiece) Put();
  }
  // Sends data (whole lines) as it is, in pieces.
  void Send(std::string_view data);
  // Sends the rest and ends the COPY (aborted with `abort` when given); the rows it copied.
  [[nodiscard]] absl::StatusOr<int64_t> End(const char* abort = nullptr);

 private:
  static constexpr size_t kPiece = 1 << 20;
  void Put();
  PGconn* conn_;
  std::string buffer_;
  bool sent_ = true;
};

// Quotes an identifier as PostgreSQL does ("a""b").
std::string QuoteIdent(std::string_view name);
// Quotes a literal ('it''s').
std::string QuoteLiteral(std::string_view value);

}  // namespace pgpitr::pg
