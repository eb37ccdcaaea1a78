// ReplicationStream: the CopyBoth phase of a logical replication connection (START_REPLICATION),
// read without blocking longer than asked, with standby status updates written back.
//   auto stream = ReplicationStream::Start(std::move(conn), "pgpitr", Lsn(), options);
//   while (auto data = stream->Next(100ms); data.ok() && data->has_value()) { ... }
// One thread owns it.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pg/connection.h"
#include "pg/lsn.h"
#include "pg/time.h"

namespace pgpitr::wal {

class ReplicationStream {
 public:
  // conn must be a replication=database connection. start is where to resume; 0/0 lets the server
  // use the slot's confirmed_flush_lsn. plugin_options is the parenthesized option list.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ReplicationStream>> Start(pg::Connection conn,
                                                                                std::string_view slot, pg::Lsn start,
                                                                                std::string_view plugin_options);
  ~ReplicationStream();

  // The next CopyData message from the server, or nullopt when none arrived within timeout. The
  // view stays valid until the next call. The server ending the stream is an Unavailable error.
  [[nodiscard]] absl::StatusOr<std::optional<std::string_view>> Next(std::chrono::milliseconds timeout);

  // Reports positions to the server; flushed is what the server may forget.
  [[nodiscard]] absl::Status SendStatus(pg::Lsn written, pg::Lsn flushed, pg::PgTime now, bool reply_requested);

  // Ends the CopyBoth phase politely (CopyDone) so the walsender records our last status.
  [[nodiscard]] absl::Status Finish();

 private:
  explicit ReplicationStream(pg::Connection conn) : conn_(std::move(conn)) {}
  void FreeBuffer();

  pg::Connection conn_;
  char* buffer_ = nullptr;
  bool finished_ = false;
};

}  // namespace pgpitr::wal
