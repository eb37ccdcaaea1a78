// PgoutputDecoder: a pure, socket-free decoder of the logical replication protocol: the walsender's
// CopyData wrappers (XLogData 'w', primary keepalive 'k') and the pgoutput messages inside XLogData.
//   PgoutputDecoder decoder(/*proto_version=*/2);
//   absl::StatusOr<PgoutputMessage> m = decoder.Decode(xlogdata.payload);
// Each pgoutput message arrives whole in one XLogData, so Decode either returns one message or says
// the bytes are malformed. Not thread-safe: one decoder per replication stream (it tracks whether it
// is inside a Stream Start/Stream Stop block, where change messages carry a transaction id).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "pg/lsn.h"
#include "pg/time.h"

namespace pgpitr::wal {

// --- The walsender's CopyData messages (server to client) ---

struct XLogData {     // 'w'
  pg::Lsn wal_start;  // the WAL position of this message's data
  pg::Lsn wal_end;    // the server's current end of WAL
  pg::PgTime send_time;
  std::string_view payload;  // one pgoutput message; points into the decoded buffer
};

struct PrimaryKeepalive {  // 'k'
  pg::Lsn wal_end;
  pg::PgTime send_time;
  bool reply_requested;
};

using ReplicationMessage = std::variant<XLogData, PrimaryKeepalive>;

// Decodes one CopyData payload from the walsender. Malformed input is an InvalidArgument error.
[[nodiscard]] absl::StatusOr<ReplicationMessage> DecodeReplicationMessage(std::string_view bytes);

// The standby status update ('r') a client sends to report its positions.
std::string EncodeStandbyStatusUpdate(pg::Lsn written, pg::Lsn flushed, pg::Lsn applied, pg::PgTime now,
                                      bool reply_requested);

// --- pgoutput messages ---

enum class ColumnKind : char {
  kNull = 'n',
  kText = 't',
  kBinary = 'b',
  kUnchangedToast = 'u',  // the old value stays; it is not NULL
};

struct TupleColumn {
  ColumnKind kind = ColumnKind::kNull;
  std::string value;  // bytes of a 't' or 'b' column, empty otherwise
  friend bool operator==(const TupleColumn&, const TupleColumn&) = default;
};
using TupleData = std::vector<TupleColumn>;

struct BeginMessage {  // 'B'
  pg::Lsn final_lsn;   // LSN of the commit record
  pg::PgTime commit_time;
  uint32_t xid;
};

struct CommitMessage {  // 'C'
  uint8_t flags;
  pg::Lsn commit_lsn;
  pg::Lsn end_lsn;
  pg::PgTime commit_time;
};

struct OriginMessage {  // 'O'
  pg::Lsn origin_commit_lsn;
  std::string name;
};

struct RelationColumn {
  bool is_key;  // flags bit 1: part of the replica identity
  std::string name;
  uint32_t type_oid;
  int32_t type_modifier;
  friend bool operator==(const RelationColumn&, const RelationColumn&) = default;
};

struct RelationMessage {        // 'R'
  std::optional<uint32_t> xid;  // present inside a streamed block
  uint32_t relid;
  std::string namespace_name;  // empty means pg_catalog
  std::string relation_name;
  char replica_identity;  // 'd', 'n', 'f' or 'i'
  std::vector<RelationColumn> columns;
};

struct TypeMessage {  // 'Y'
  std::optional<uint32_t> xid;
  uint32_t type_oid;
  std::string namespace_name;
  std::string type_name;
};

struct InsertMessage {  // 'I'
  std::optional<uint32_t> xid;
  uint32_t relid;
  TupleData new_tuple;
};

struct UpdateMessage {  // 'U'
  std::optional<uint32_t> xid;
  uint32_t relid;
  char old_kind;  // '\0' (no old tuple), 'K' (old key) or 'O' (old row)
  TupleData old_tuple;
  TupleData new_tuple;
};

struct DeleteMessage {  // 'D'
  std::optional<uint32_t> xid;
  uint32_t relid;
  char old_kind;  // 'K' or 'O'
  TupleData old_tuple;
};

struct TruncateMessage {  // 'T'
  std::optional<uint32_t> xid;
  uint8_t options;  // 1 = CASCADE, 2 = RESTART IDENTITY
  std::vector<uint32_t> relids;
};

struct LogicalMessage {  // 'M', from pg_logical_emit_message
  std::optional<uint32_t> xid;
  bool transactional;
  pg::Lsn lsn;
  std::string prefix;
  std::string content;
};

struct StreamStartMessage {  // 'S'
  uint32_t xid;
  bool first_segment;
};

struct StreamStopMessage {};  // 'E'

struct StreamCommitMessage {  // 'c'
  uint32_t xid;
  uint8_t flags;
  pg::Lsn commit_lsn;
  pg::Lsn end_lsn;
  pg::PgTime commit_time;
};

struct StreamAbortMessage {  // 'A'
  uint32_t xid;
  uint32_t subxid;  // equal to xid when the whole transaction aborted
};

using PgoutputMessage = std::variant<BeginMessage, CommitMessage, OriginMessage, RelationMessage, TypeMessage,
                                     InsertMessage, UpdateMessage, DeleteMessage, TruncateMessage, LogicalMessage,
                                     StreamStartMessage, StreamStopMessage, StreamCommitMessage, StreamAbortMessage>;

class PgoutputDecoder {
 public:
  // proto_version is the one requested in START_REPLICATION (1 to 4).
  explicit PgoutputDecoder(int proto_version) : proto_version_(proto_version) {}

  // Decodes one pgoutput message. Malformed or truncated bytes, trailing bytes, an unknown message
  // type or a stream message outside what was negotiated are InvalidArgument errors naming the
  // message type and the offset; the decoder's state is unchanged by a failed call.
  [[nodiscard]] absl::StatusOr<PgoutputMessage> Decode(std::string_view bytes);

  bool in_stream_block() const { return in_stream_block_; }

 private:
  int proto_version_;
  bool in_stream_block_ = false;
};

}  // namespace pgpitr::wal
