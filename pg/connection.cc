#include "pg/connection.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "absl/strings/cord.h"
#include "fmt/format.h"

namespace pgpitr::pg {

namespace {

// Where a status keeps the SQLSTATE the server sent (absl::Status payloads are keyed by a URL).
constexpr char kSqlStatePayload[] = "pgpitr.dev/sqlstate";

bool IsSqlStateChar(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); }

}  // namespace

std::string OneLine(std::string_view message) {
  std::string out;
  bool space = false;
  for (char c : message) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string SqlState(const PGresult* result) {
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  return state != nullptr ? state : "";
}

std::string SqlStateOf(const absl::Status& status) {
  auto state = status.GetPayload(kSqlStatePayload);  // absl::optional<absl::Cord>
  return state.has_value() ? std::string(*state) : "";
}

absl::Status WithSqlState(absl::Status status, std::string_view sqlstate) {
  if (!status.ok() && !sqlstate.empty()) status.SetPayload(kSqlStatePayload, absl::Cord(std::string(sqlstate)));
  return status;
}

bool IsTransientSqlState(std::string_view sqlstate) {
  return sqlstate.starts_with("08") || sqlstate.starts_with("53") || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

std::string ParseConnectError(std::string_view verbose_message, std::string* sqlstate) {
  sqlstate->clear();
  std::string out;
  size_t start = 0;
  while (start < verbose_message.size()) {
    size_t end = verbose_message.find('\n', start);
    if (end == std::string_view::npos) end = verbose_message.size();
    std::string line(verbose_message.substr(start, end - start));
    start = end + 1;
    const size_t text = line.find_first_not_of(" \t");
    if (text != std::string::npos && line.compare(text, 9, "LOCATION:") == 0) continue;
    // libpq writes "<severity>:  <SQLSTATE>: <message>", once per host it tried; a host that did
    // not answer has no code, and the last code is the refusal that ended the attempt.
    for (size_t at = line.find(":  "); at != std::string::npos; at = line.find(":  ", at + 1)) {
      const size_t code = at + 3;
      if (code + 7 > line.size() || line.compare(code + 5, 2, ": ") != 0 ||
          !std::all_of(line.begin() + code, line.begin() + code + 5, IsSqlStateChar)) {
        continue;
      }
      *sqlstate = line.substr(code, 5);
      line.erase(code, 7);
      break;
    }
    out += line;
    out += '\n';
  }
  return OneLine(out);
}

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string QuoteLiteral(std::string_view value) {
  // Plain quoting is right with standard_conforming_strings on, the default since 9.1.
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

namespace {

// The rows a finished command affected (its PQcmdTuples); when it failed, its error in one line with
// its SQLSTATE attached. `conn` gives the error when there is no result at all.
absl::StatusOr<int64_t> AffectedRows(const PGresult* result, PGconn* conn) {
  const ExecStatusType status = result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    const std::string message = OneLine(result ? PQresultErrorMessage(result) : PQerrorMessage(conn));
    const std::string state = result != nullptr ? SqlState(result) : "";
    if (PQstatus(conn) == CONNECTION_BAD) return WithSqlState(absl::UnavailableError(message), state);
    return WithSqlState(absl::FailedPreconditionError(message), state);
  }
  int64_t affected = 0;
  const char* tuples = PQcmdTuples(const_cast<PGresult*>(result));
  std::from_chars(tuples, tuples + std::strlen(tuples), affected);
  return affected;
}

}  // namespace

absl::StatusOr<Connection> Connection::Connect(const ConnInfo& conninfo, std::string_view what) {
  // libpq puts the SQLSTATE of a refused connection only in its message, and only with verbose
  // errors, which can be asked for only once a PGconn exists: start one, ask, and connect it anew
  // with PQreset, which is PQconnectdb's blocking connect (its timeouts, its list of hosts).
  PGconn* raw = PQconnectStart(conninfo.ToString().c_str());
  if (raw == nullptr) return absl::ResourceExhaustedError("libpq could not allocate a connection");
  Connection conn(raw, std::string(what));
  if (PQstatus(raw) != CONNECTION_BAD) {
    PQsetErrorVerbosity(raw, PQERRORS_VERBOSE);
    PQreset(raw);
  }
  if (PQstatus(raw) != CONNECTION_OK) {
    std::string sqlstate;
    const std::string why = ParseConnectError(PQerrorMessage(raw), &sqlstate);
    const std::string message = fmt::format(
        "cannot connect to the {} ({}): {}{} (check the connection string, that the server is up, "
        "and that pg_hba.conf lets this host in)",
        what, conninfo.Redacted(), why, sqlstate.empty() ? "" : " [SQLSTATE " + sqlstate + "]");
    // Without a SQLSTATE the server did not answer (down, unreachable, restarting), or the
    // connection broke before it said why. With one, it answered: starting, stopping, recovering
    // or full is for later; anything else is these credentials, this database, this role.
    const bool refused = PQconnectionNeedsPassword(raw) != 0 || (!sqlstate.empty() && !IsTransientSqlState(sqlstate));
    return WithSqlState(refused ? absl::FailedPreconditionError(message) : absl::UnavailableError(message), sqlstate);
  }
  PQsetErrorVerbosity(raw, PQERRORS_DEFAULT);
  // The server's notices (a replayed DROP's "drop cascades to ...") are not pgpitr's output: libpq
  // would print each to stderr, between the lines a user reads.
  PQsetNoticeProcessor(
      raw, [](void*, const char*) {}, nullptr);
  return conn;
}

std::string Connection::LastError() const { return OneLine(PQerrorMessage(conn_.get())); }

std::string Connection::ParameterStatus(const char* name) const {
  const char* value = PQparameterStatus(conn_.get(), name);
  return value != nullptr ? value : "";
}

absl::StatusOr<Result> Connection::Query(std::string_view sql, const QueryParams& params) {
  PGresult* raw = nullptr;
  const std::string text(sql);
  if (params.empty()) {
    raw = PQexec(conn_.get(), text.c_str());
  } else {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    raw = PQexecParams(conn_.get(), text.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                       nullptr, 0);
  }
  if (raw == nullptr) {
    return absl::UnavailableError(fmt::format("lost the connection to the {}: {}", what_, LastError()));
  }
  Result result(raw);
  const ExecStatusType status = PQresultStatus(raw);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_COPY_BOTH || status == PGRES_COPY_IN ||
      status == PGRES_COPY_OUT) {
    return result;
  }
  std::string message = OneLine(PQresultErrorMessage(raw));
  if (message.empty()) message = LastError();
  const std::string state = SqlState(raw);
  if (PQstatus(conn_.get()) == CONNECTION_BAD) {
    return WithSqlState(absl::UnavailableError(fmt::format("lost the connection to the {}: {}", what_, message)),
                        state);
  }
  std::string refused = fmt::format("the {} refused `{}`: {}{}", what_, OneLine(sql).substr(0, 200), message,
                                    state.empty() ? "" : " [SQLSTATE " + state + "]");
  // The server going away (a shutdown, another backend's crash) ends the statement before the
  // connection: the same as losing it.
  return WithSqlState(IsTransientSqlState(state) ? absl::UnavailableError(std::move(refused))
                                                 : absl::FailedPreconditionError(std::move(refused)),
                      state);
}

absl::Status Connection::Execute(std::string_view sql, const QueryParams& params) {
  return Query(sql, params).status();
}

absl::StatusOr<int64_t> Connection::Affected(std::string_view sql) {
  const std::string text(sql);
  Result result(PQexec(conn_.get(), text.c_str()));
  return AffectedRows(result.raw(), conn_.get());
}

absl::Status Connection::Prepare(const std::string& name, const std::string& sql) {
  Result result(PQprepare(conn_.get(), name.c_str(), sql.c_str(), 0, nullptr));
  return AffectedRows(result.raw(), conn_.get()).status();
}

absl::StatusOr<int64_t> Connection::ExecPrepared(const std::string& name, const std::vector<const char*>& values,
                                                 const std::vector<int>& lengths) {
  Result result(PQexecPrepared(conn_.get(), name.c_str(), static_cast<int>(values.size()), values.data(),
                               lengths.data(), nullptr, 0));
  return AffectedRows(result.raw(), conn_.get());
}

absl::Status CopyIn::Start(const std::string& sql) {
  Result start(PQexec(conn_, sql.c_str()));
  if (start.raw() == nullptr || PQresultStatus(start.raw()) != PGRES_COPY_IN) {
    return WithSqlState(
        absl::FailedPreconditionError(OneLine(start.raw() ? PQresultErrorMessage(start.raw()) : PQerrorMessage(conn_))),
        start.raw() ? SqlState(start.raw()) : "");
  }
  return absl::OkStatus();
}

void CopyIn::Send(std::string_view data) {
  Put();
  for (size_t at = 0; at < data.size() && sent_; at += kPiece) {
    const size_t n = std::min(kPiece, data.size() - at);
    sent_ = PQputCopyData(conn_, data.data() + at, static_cast<int>(n)) == 1;
  }
}

void CopyIn::Put() {
  if (sent_ && !buffer_.empty()) sent_ = PQputCopyData(conn_, buffer_.data(), static_cast<int>(buffer_.size())) == 1;
  buffer_.clear();
}

absl::StatusOr<int64_t> CopyIn::End(const char* abort) {
  Put();
  if (PQputCopyEnd(conn_, abort != nullptr ? abort : sent_ ? nullptr : "pgpitr could not send the rows") != 1) {
    return absl::UnavailableError(OneLine(PQerrorMessage(conn_)));
  }
  absl::Status status;
  int64_t rows = 0;
  for (PGresult* r = PQgetResult(conn_); r != nullptr; r = PQgetResult(conn_)) {
    Result result(r);
    absl::StatusOr<int64_t> affected = AffectedRows(r, conn_);
    if (affected.ok()) {
      rows = *affected;
    } else if (status.ok()) {
      status = affected.status();
    }
  }
  if (!status.ok()) return status;
  return rows;
}

}  // namespace pgpitr::pg
