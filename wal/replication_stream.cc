#include "wal/replication_stream.h"

#include <poll.h>

#include "fmt/format.h"
#include "wal/pgoutput_decoder.h"

namespace pgpitr::wal {

absl::StatusOr<std::unique_ptr<ReplicationStream>> ReplicationStream::Start(pg::Connection conn, std::string_view slot,
                                                                            pg::Lsn start,
                                                                            std::string_view plugin_options) {
  const std::string command =
      fmt::format("START_REPLICATION SLOT {} LOGICAL {} ({})", pg::QuoteIdent(slot), start.ToString(), plugin_options);
  PGresult* raw = PQexec(conn.raw(), command.c_str());
  pg::Result result(raw);
  if (raw == nullptr || PQresultStatus(raw) != PGRES_COPY_BOTH) {
    const std::string sqlstate = raw != nullptr ? pg::SqlState(raw) : "";
    const std::string message =
        fmt::format("the source refused to start replication from slot {}: {}", slot, conn.LastError());
    // For later: the connection lost or the server going away; the slot still held by a walsender
    // that is ending (55006 object_in_use), or gone since the session began (42704
    // undefined_object: the next session makes it again and records the gap).
    const bool later = PQstatus(conn.raw()) == CONNECTION_BAD || pg::IsTransientSqlState(sqlstate) ||
                       sqlstate == "55006" || sqlstate == "42704";
    return pg::WithSqlState(later ? absl::UnavailableError(message) : absl::FailedPreconditionError(message), sqlstate);
  }
  if (PQsetnonblocking(conn.raw(), 1) != 0) {
    return absl::InternalError("could not make the replication connection non-blocking");
  }
  return std::unique_ptr<ReplicationStream>(new ReplicationStream(std::move(conn)));
}

ReplicationStream::~ReplicationStream() { FreeBuffer(); }

void ReplicationStream::FreeBuffer() {
  if (buffer_ != nullptr) PQfreemem(buffer_);
  buffer_ = nullptr;
}

absl::StatusOr<std::optional<std::string_view>> ReplicationStream::Next(std::chrono::milliseconds timeout) {
  FreeBuffer();
  PGconn* c = conn_.raw();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const int n = PQgetCopyData(c, &buffer_, /*async=*/1);
    if (n > 0) return std::optional<std::string_view>(std::string_view(buffer_, static_cast<size_t>(n)));
    if (n == -1) {
      // The server ended the copy: collect its reason.
      pg::Result result(PQgetResult(c));
      std::string why = result.raw() != nullptr ? pg::OneLine(PQresultErrorMessage(result.raw())) : "";
      if (why.empty()) why = conn_.LastError();
      return absl::UnavailableError(fmt::format("the source ended replication: {}", why));
    }
    if (n == -2) {
      return absl::UnavailableError(fmt::format("lost the replication connection: {}", conn_.LastError()));
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::optional<std::string_view>();
    pollfd pfd{PQsocket(c), POLLIN, 0};
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    const int ready = poll(&pfd, 1, static_cast<int>(std::max<int64_t>(wait, 1)));
    if (ready < 0 && errno != EINTR) return absl::InternalError("poll on the replication socket failed");
    if (ready > 0 && PQconsumeInput(c) == 0) {
      return absl::UnavailableError(fmt::format("lost the replication connection: {}", conn_.LastError()));
    }
    if (ready == 0) return std::optional<std::string_view>();
  }
}

absl::Status ReplicationStream::SendStatus(pg::Lsn written, pg::Lsn flushed, pg::PgTime now, bool reply_requested) {
  const std::string message = EncodeStandbyStatusUpdate(written, flushed, flushed, now, reply_requested);
  PGconn* c = conn_.raw();
  if (PQputCopyData(c, message.data(), static_cast<int>(message.size())) != 1) {
    return absl::UnavailableError(fmt::format("could not send a status update: {}", conn_.LastError()));
  }
  // Non-blocking: push until libpq's buffer is empty (it is tiny; this returns at once normally).
  for (int tries = 0; PQflush(c) == 1; ++tries) {
    pollfd pfd{PQsocket(c), POLLOUT, 0};
    if (poll(&pfd, 1, 1000) < 0 && errno != EINTR) break;
    if (tries > 30) return absl::UnavailableError("the source stopped reading our status updates");
  }
  return absl::OkStatus();
}

absl::Status ReplicationStream::Finish() {
  if (finished_) return absl::OkStatus();
  finished_ = true;
  FreeBuffer();
  PGconn* c = conn_.raw();
  PQsetnonblocking(c, 0);
  if (PQputCopyEnd(c, nullptr) != 1) return absl::OkStatus();
  PQflush(c);
  // Drain what the server still sends until it acknowledges the end of the copy.
  for (int i = 0; i < 100000; ++i) {
    char* buf = nullptr;
    const int n = PQgetCopyData(c, &buf, 0);
    if (buf != nullptr) PQfreemem(buf);
    if (n < 0) break;
  }
  while (PGresult* r = PQgetResult(c)) PQclear(r);
  return absl::OkStatus();
}

}  // namespace pgpitr::wal
