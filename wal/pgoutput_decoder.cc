#include "wal/pgoutput_decoder.h"

#include <array>
#include <cstring>
#include <iterator>

#include "absl/status/status.h"
#include "fmt/format.h"

// The bytes, as PostgreSQL documents them in "Logical Streaming Replication Protocol" and writes
// them in src/backend/replication/logical/proto.c and walsender.c. Integers are big-endian; a
// String is NUL-terminated; [xid] is an Int32 xid, sent only between Stream Start and Stream Stop.
//
//   walsender CopyData (server to client)
//     XLogData       'w' Int64 wal_start, Int64 wal_end, Int64 send_time, Byte* pgoutput_message
//     Keepalive      'k' Int64 wal_end, Int64 send_time, Byte1 reply_requested
//   client CopyData
//     Status update  'r' Int64 written, Int64 flushed, Int64 applied, Int64 now, Byte1 reply
//
//   pgoutput messages
//     Begin          'B' Int64 final_lsn, Int64 commit_time, Int32 xid
//     Commit         'C' Int8 flags, Int64 commit_lsn, Int64 end_lsn, Int64 commit_time
//     Origin         'O' Int64 origin_commit_lsn, String name
//     Relation       'R' [xid] Int32 relid, String namespace, String name, Byte1 replica_identity,
//                        Int16 n, n x (Int8 flags, String name, Int32 type_oid, Int32 typmod)
//     Type           'Y' [xid] Int32 type_oid, String namespace, String name
//     Insert         'I' [xid] Int32 relid, 'N' Tuple
//     Update         'U' [xid] Int32 relid, [('K' | 'O') Tuple], 'N' Tuple
//     Delete         'D' [xid] Int32 relid, ('K' | 'O') Tuple
//     Truncate       'T' [xid] Int32 n, Int8 options, n x Int32 relid
//     Message        'M' [xid] Int8 flags, Int64 lsn, String prefix, Int32 n, Byte[n] content
//     Stream Start   'S' Int32 xid, Int8 first_segment                        (proto_version >= 2)
//     Stream Stop    'E'                                                      (proto_version >= 2)
//     Stream Commit  'c' Int32 xid, Int8 flags, Int64 commit_lsn, Int64 end_lsn, Int64 time
//     Stream Abort   'A' Int32 xid, Int32 subxid [, Int64 abort_lsn, Int64 abort_time]
//                        (the tail only from proto_version 4, when streaming = parallel)
//     Tuple              Int16 n, n x ('n' | 'u' | ('t' | 'b') Int32 len, Byte[len])
//   Two-phase messages ('b', 'P', 'K', 'r', 'p') exist, but only with two_phase requested.

namespace pgpitr::wal {

namespace {

// A cursor over one message. Reads return false, without moving, when the bytes run out; the caller
// names what it was reading, so the error costs nothing until there is one.
class Reader {
 public:
  Reader(std::string_view bytes, std::string_view protocol, std::string_view name)
      : bytes_(bytes), protocol_(protocol), name_(name) {}

  size_t offset() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }

  void Skip(size_t n) { pos_ += n; }

  bool U8(uint8_t* out) {
    if (remaining() < 1) return false;
    *out = static_cast<uint8_t>(bytes_[pos_++]);
    return true;
  }
  bool U16(uint16_t* out) { return BigEndian(out); }
  bool U32(uint32_t* out) { return BigEndian(out); }
  bool U64(uint64_t* out) { return BigEndian(out); }
  bool I32(int32_t* out) {
    uint32_t u = 0;
    if (!BigEndian(&u)) return false;
    *out = static_cast<int32_t>(u);
    return true;
  }
  bool I64(int64_t* out) {
    uint64_t u = 0;
    if (!BigEndian(&u)) return false;
    *out = static_cast<int64_t>(u);
    return true;
  }

  // A String: the bytes up to the NUL, which is consumed but not returned.
  bool CString(std::string_view* out) {
    const void* nul = std::memchr(bytes_.data() + pos_, '\0', remaining());
    if (nul == nullptr) return false;
    const size_t len = static_cast<const char*>(nul) - (bytes_.data() + pos_);
    *out = bytes_.substr(pos_, len);
    pos_ += len + 1;
    return true;
  }

  bool Bytes(size_t n, std::string_view* out) {
    if (remaining() < n) return false;
    *out = bytes_.substr(pos_, n);
    pos_ += n;
    return true;
  }

  std::string_view Rest() {
    std::string_view rest = bytes_.substr(pos_);
    pos_ = bytes_.size();
    return rest;
  }

  absl::Status Malformed(std::string_view detail, size_t at) const {
    return absl::InvalidArgumentError(
        fmt::format("malformed {} {} message: {} at offset {}", protocol_, name_, detail, at));
  }
  absl::Status Malformed(std::string_view detail) const { return Malformed(detail, pos_); }
  absl::Status Truncated(std::string_view what) const { return Malformed(fmt::format("truncated {}", what), pos_); }

  // A complete message ends exactly where its last field does: extra bytes mean we and the server
  // disagree about the layout, and guessing on would misread every field after.
  absl::Status ExpectEnd() const {
    if (remaining() == 0) return absl::OkStatus();
    return Malformed(fmt::format("{} trailing bytes", remaining()));
  }

 private:
  template <typename T>
  bool BigEndian(T* out) {
    if (remaining() < sizeof(T)) return false;
    T value = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      value = static_cast<T>((value << 8) | static_cast<uint8_t>(bytes_[pos_ + i]));
    }
    pos_ += sizeof(T);
    *out = value;
    return true;
  }

  std::string_view bytes_;
  size_t pos_ = 0;
  std::string_view protocol_;
  std::string_view name_;
};

void AppendBigEndian64(std::string* out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

// How a message type byte shows up in an error: printable ones as themselves.
std::string DescribeType(char type) {
  const auto byte = static_cast<unsigned char>(type);
  if (byte >= 0x20 && byte < 0x7f) return fmt::format("'{}'", type);
  return fmt::format("0x{:02x}", byte);
}

// --- The message table: each type's rules, declared once and checked before its body is read ---

enum class Placement : uint8_t {
  kAnywhere,
  // Transaction boundaries: pgoutput streams one transaction's chunk between Stream Start and
  // Stream Stop, so a boundary inside a block means we lost track of the blocks.
  kOutsideStreamBlock,
  kInsideStreamBlock,
};

struct MessageShape {
  char type;
  std::string_view name;
  int min_proto_version;
  bool xid_in_stream_block;  // a leading Int32 xid between Stream Start and Stream Stop
  Placement placement;
  bool two_phase;  // sent only when two_phase is negotiated, which pgpitr never asks for
};

constexpr MessageShape kShapes[] = {
    {'B', "Begin", 1, false, Placement::kOutsideStreamBlock, false},
    {'C', "Commit", 1, false, Placement::kOutsideStreamBlock, false},
    // Origin has no xid even in a block: pgoutput sends it right after Stream Start.
    {'O', "Origin", 1, false, Placement::kAnywhere, false},
    {'R', "Relation", 1, true, Placement::kAnywhere, false},
    {'Y', "Type", 1, true, Placement::kAnywhere, false},
    {'I', "Insert", 1, true, Placement::kAnywhere, false},
    {'U', "Update", 1, true, Placement::kAnywhere, false},
    {'D', "Delete", 1, true, Placement::kAnywhere, false},
    {'T', "Truncate", 1, true, Placement::kAnywhere, false},
    {'M', "Message", 1, true, Placement::kAnywhere, false},
    {'S', "Stream Start", 2, false, Placement::kOutsideStreamBlock, false},
    {'E', "Stream Stop", 2, false, Placement::kInsideStreamBlock, false},
    {'c', "Stream Commit", 2, false, Placement::kOutsideStreamBlock, false},
    {'A', "Stream Abort", 2, false, Placement::kOutsideStreamBlock, false},
    {'b', "Begin Prepare", 3, false, Placement::kAnywhere, true},
    {'P', "Prepare", 3, false, Placement::kAnywhere, true},
    {'K', "Commit Prepared", 3, false, Placement::kAnywhere, true},
    {'r', "Rollback Prepared", 3, false, Placement::kAnywhere, true},
    {'p', "Stream Prepare", 3, false, Placement::kAnywhere, true},
};

// Type byte to index in kShapes, -1 for unknown types; one load per message instead of a scan.
constexpr std::array<int8_t, 256> kShapeIndex = [] {
  std::array<int8_t, 256> index{};
  index.fill(-1);
  for (size_t i = 0; i < std::size(kShapes); ++i) {
    index[static_cast<unsigned char>(kShapes[i].type)] = static_cast<int8_t>(i);
  }
  return index;
}();

// --- Message bodies. Each reads after the type byte (and the xid, when there is one). ---

absl::Status ReadTuple(Reader& r, TupleData* tuple) {
  uint16_t count = 0;
  if (!r.U16(&count)) return r.Truncated("tuple column count");
  // Each column takes at least its kind byte; checking first keeps a corrupt count from allocating.
  if (count > r.remaining()) {
    return r.Malformed(fmt::format("tuple column count {} exceeds the {} bytes left", count, r.remaining()));
  }
  tuple->reserve(count);
  for (uint16_t i = 0; i < count; ++i) {
    const size_t column_start = r.offset();
    uint8_t kind = 0;
    if (!r.U8(&kind)) return r.Malformed(fmt::format("truncated tuple column {}", i), column_start);
    TupleColumn& column = tuple->emplace_back();
    switch (kind) {
      case 'n':
        column.kind = ColumnKind::kNull;
        break;
      case 'u':
        column.kind = ColumnKind::kUnchangedToast;
        break;
      case 't':
      case 'b': {
        column.kind = kind == 't' ? ColumnKind::kText : ColumnKind::kBinary;
        uint32_t len = 0;
        std::string_view value;
        if (!r.U32(&len) || !r.Bytes(len, &value)) {
          return r.Malformed(fmt::format("truncated tuple column {}", i), column_start);
        }
        column.value.assign(value);
        break;
      }
      default:
        return r.Malformed(fmt::format("tuple column {} has unknown kind {}", i, DescribeType(static_cast<char>(kind))),
                           column_start);
    }
  }
  return absl::OkStatus();
}

absl::Status ReadBegin(Reader& r, BeginMessage* m) {
  uint64_t final_lsn = 0;
  if (!r.U64(&final_lsn)) return r.Truncated("final LSN");
  m->final_lsn = pg::Lsn(final_lsn);
  if (!r.I64(&m->commit_time)) return r.Truncated("commit time");
  if (!r.U32(&m->xid)) return r.Truncated("xid");
  return absl::OkStatus();
}

absl::Status ReadCommit(Reader& r, CommitMessage* m) {
  uint64_t commit_lsn = 0;
  uint64_t end_lsn = 0;
  if (!r.U8(&m->flags)) return r.Truncated("flags");
  if (!r.U64(&commit_lsn)) return r.Truncated("commit LSN");
  if (!r.U64(&end_lsn)) return r.Truncated("end LSN");
  if (!r.I64(&m->commit_time)) return r.Truncated("commit time");
  m->commit_lsn = pg::Lsn(commit_lsn);
  m->end_lsn = pg::Lsn(end_lsn);
  return absl::OkStatus();
}

absl::Status ReadOrigin(Reader& r, OriginMessage* m) {
  uint64_t lsn = 0;
  std::string_view name;
  if (!r.U64(&lsn)) return r.Truncated("origin commit LSN");
  if (!r.CString(&name)) return r.Truncated("origin name");
  m->origin_commit_lsn = pg::Lsn(lsn);
  m->name.assign(name);
  return absl::OkStatus();
}

absl::Status ReadRelation(Reader& r, RelationMessage* m) {
  std::string_view namespace_name;
  std::string_view relation_name;
  uint8_t replica_identity = 0;
  uint16_t count = 0;
  if (!r.U32(&m->relid)) return r.Truncated("relation id");
  if (!r.CString(&namespace_name)) return r.Truncated("namespace name");
  if (!r.CString(&relation_name)) return r.Truncated("relation name");
  if (!r.U8(&replica_identity)) return r.Truncated("replica identity");
  switch (replica_identity) {
    case 'd':
    case 'n':
    case 'f':
    case 'i':
      break;
    default:
      return r.Malformed(fmt::format("unknown replica identity {}", DescribeType(static_cast<char>(replica_identity))),
                         r.offset() - 1);
  }
  if (!r.U16(&count)) return r.Truncated("column count");
  // flags, an empty name's NUL, type oid and modifier: no column takes fewer bytes.
  constexpr size_t kMinColumnBytes = 1 + 1 + 4 + 4;
  if (count > r.remaining() / kMinColumnBytes) {
    return r.Malformed(fmt::format("column count {} does not fit in the {} bytes left", count, r.remaining()));
  }
  m->namespace_name.assign(namespace_name);
  m->relation_name.assign(relation_name);
  m->replica_identity = static_cast<char>(replica_identity);
  m->columns.reserve(count);
  for (uint16_t i = 0; i < count; ++i) {
    const size_t column_start = r.offset();
    uint8_t flags = 0;
    std::string_view name;
    uint32_t type_oid = 0;
    int32_t type_modifier = 0;
    if (!r.U8(&flags) || !r.CString(&name) || !r.U32(&type_oid) || !r.I32(&type_modifier)) {
      return r.Malformed(fmt::format("truncated column {}", i), column_start);
    }
    m->columns.push_back(RelationColumn{
        .is_key = (flags & 1) != 0, .name = std::string(name), .type_oid = type_oid, .type_modifier = type_modifier});
  }
  return absl::OkStatus();
}

absl::Status ReadType(Reader& r, TypeMessage* m) {
  std::string_view namespace_name;
  std::string_view type_name;
  if (!r.U32(&m->type_oid)) return r.Truncated("type oid");
  if (!r.CString(&namespace_name)) return r.Truncated("namespace name");
  if (!r.CString(&type_name)) return r.Truncated("type name");
  m->namespace_name.assign(namespace_name);
  m->type_name.assign(type_name);
  return absl::OkStatus();
}

// The one-byte marker before a tuple: 'N' (new), 'K' (old key) or 'O' (old row).
absl::Status ReadTupleMarker(Reader& r, std::string_view expected, char* marker) {
  uint8_t byte = 0;
  if (!r.U8(&byte)) return r.Truncated("tuple marker");
  if (expected.find(static_cast<char>(byte)) == std::string_view::npos) {
    return r.Malformed(
        fmt::format("expected a tuple marker in \"{}\" but found {}", expected, DescribeType(static_cast<char>(byte))),
        r.offset() - 1);
  }
  *marker = static_cast<char>(byte);
  return absl::OkStatus();
}

absl::Status ReadInsert(Reader& r, InsertMessage* m) {
  char marker = 0;
  if (!r.U32(&m->relid)) return r.Truncated("relation id");
  if (absl::Status s = ReadTupleMarker(r, "N", &marker); !s.ok()) return s;
  return ReadTuple(r, &m->new_tuple);
}

absl::Status ReadUpdate(Reader& r, UpdateMessage* m) {
  char marker = 0;
  if (!r.U32(&m->relid)) return r.Truncated("relation id");
  if (absl::Status s = ReadTupleMarker(r, "KON", &marker); !s.ok()) return s;
  m->old_kind = '\0';
  if (marker != 'N') {
    m->old_kind = marker;
    if (absl::Status s = ReadTuple(r, &m->old_tuple); !s.ok()) return s;
    if (absl::Status s = ReadTupleMarker(r, "N", &marker); !s.ok()) return s;
  }
  return ReadTuple(r, &m->new_tuple);
}

absl::Status ReadDelete(Reader& r, DeleteMessage* m) {
  if (!r.U32(&m->relid)) return r.Truncated("relation id");
  if (absl::Status s = ReadTupleMarker(r, "KO", &m->old_kind); !s.ok()) return s;
  return ReadTuple(r, &m->old_tuple);
}

absl::Status ReadTruncate(Reader& r, TruncateMessage* m) {
  uint32_t count = 0;
  if (!r.U32(&count)) return r.Truncated("relation count");
  if (!r.U8(&m->options)) return r.Truncated("options");
  if (count > r.remaining() / 4) {
    return r.Malformed(fmt::format("relation count {} does not fit in the {} bytes left", count, r.remaining()));
  }
  m->relids.resize(count);
  for (uint32_t& relid : m->relids) r.U32(&relid);  // cannot run out: the count was checked
  return absl::OkStatus();
}

absl::Status ReadLogicalMessage(Reader& r, LogicalMessage* m) {
  uint8_t flags = 0;
  uint64_t lsn = 0;
  std::string_view prefix;
  uint32_t len = 0;
  std::string_view content;
  if (!r.U8(&flags)) return r.Truncated("flags");
  if (!r.U64(&lsn)) return r.Truncated("LSN");
  if (!r.CString(&prefix)) return r.Truncated("prefix");
  if (!r.U32(&len)) return r.Truncated("content length");
  if (!r.Bytes(len, &content)) {
    return r.Malformed(fmt::format("content length {} exceeds the {} bytes left", len, r.remaining()));
  }
  m->transactional = (flags & 1) != 0;
  m->lsn = pg::Lsn(lsn);
  m->prefix.assign(prefix);
  m->content.assign(content);
  return absl::OkStatus();
}

absl::Status ReadStreamStart(Reader& r, StreamStartMessage* m) {
  uint8_t first_segment = 0;
  if (!r.U32(&m->xid)) return r.Truncated("xid");
  if (!r.U8(&first_segment)) return r.Truncated("first segment flag");
  m->first_segment = first_segment == 1;
  return absl::OkStatus();
}

absl::Status ReadStreamCommit(Reader& r, StreamCommitMessage* m) {
  uint64_t commit_lsn = 0;
  uint64_t end_lsn = 0;
  if (!r.U32(&m->xid)) return r.Truncated("xid");
  if (!r.U8(&m->flags)) return r.Truncated("flags");
  if (!r.U64(&commit_lsn)) return r.Truncated("commit LSN");
  if (!r.U64(&end_lsn)) return r.Truncated("end LSN");
  if (!r.I64(&m->commit_time)) return r.Truncated("commit time");
  m->commit_lsn = pg::Lsn(commit_lsn);
  m->end_lsn = pg::Lsn(end_lsn);
  return absl::OkStatus();
}

absl::Status ReadStreamAbort(Reader& r, int proto_version, StreamAbortMessage* m) {
  if (!r.U32(&m->xid)) return r.Truncated("xid");
  if (!r.U32(&m->subxid)) return r.Truncated("subxid");
  // From proto_version 4 a server streaming in parallel mode adds where and when the abort
  // happened. pgpitr drops aborted work whatever its position, so the tail is checked for shape and
  // dropped.
  if (proto_version >= 4 && r.remaining() > 0) {
    uint64_t abort_lsn = 0;
    int64_t abort_time = 0;
    if (!r.U64(&abort_lsn)) return r.Truncated("abort LSN");
    if (!r.I64(&abort_time)) return r.Truncated("abort time");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ReplicationMessage> DecodeReplicationMessage(std::string_view bytes) {
  if (bytes.empty()) {
    return absl::InvalidArgumentError("empty walsender message (a CopyData with no bytes)");
  }
  switch (bytes[0]) {
    case 'w': {
      Reader r(bytes, "walsender", "XLogData");
      r.Skip(1);
      uint64_t wal_start = 0;
      uint64_t wal_end = 0;
      XLogData data;
      if (!r.U64(&wal_start)) return r.Truncated("WAL start");
      if (!r.U64(&wal_end)) return r.Truncated("WAL end");
      if (!r.I64(&data.send_time)) return r.Truncated("send time");
      data.wal_start = pg::Lsn(wal_start);
      data.wal_end = pg::Lsn(wal_end);
      data.payload = r.Rest();
      return data;
    }
    case 'k': {
      Reader r(bytes, "walsender", "keepalive");
      r.Skip(1);
      uint64_t wal_end = 0;
      uint8_t reply_requested = 0;
      PrimaryKeepalive keepalive;
      if (!r.U64(&wal_end)) return r.Truncated("WAL end");
      if (!r.I64(&keepalive.send_time)) return r.Truncated("send time");
      if (!r.U8(&reply_requested)) return r.Truncated("reply flag");
      if (absl::Status s = r.ExpectEnd(); !s.ok()) return s;
      keepalive.wal_end = pg::Lsn(wal_end);
      keepalive.reply_requested = reply_requested != 0;
      return keepalive;
    }
    default:
      return absl::InvalidArgumentError(
          fmt::format("unexpected walsender message type {} at offset 0 (expected XLogData 'w' or "
                      "keepalive 'k')",
                      DescribeType(bytes[0])));
  }
}

std::string EncodeStandbyStatusUpdate(pg::Lsn written, pg::Lsn flushed, pg::Lsn applied, pg::PgTime now,
                                      bool reply_requested) {
  std::string out;
  out.reserve(34);
  out.push_back('r');
  AppendBigEndian64(&out, written.value());
  AppendBigEndian64(&out, flushed.value());
  AppendBigEndian64(&out, applied.value());
  AppendBigEndian64(&out, static_cast<uint64_t>(now));
  out.push_back(reply_requested ? 1 : 0);
  return out;
}

// Reads a message that carries a transaction id inside a streamed block.
template <typename M>
absl::Status ReadWithXid(Reader& r, std::optional<uint32_t> xid, PgoutputMessage* message,
                         absl::Status (*read)(Reader&, M*)) {
  M& m = message->emplace<M>();
  m.xid = xid;
  return read(r, &m);
}

absl::StatusOr<PgoutputMessage> PgoutputDecoder::Decode(std::string_view bytes) {
  if (bytes.empty()) {
    return absl::InvalidArgumentError("empty pgoutput message (an XLogData with no payload)");
  }
  const int index = kShapeIndex[static_cast<unsigned char>(bytes[0])];
  if (index < 0) {
    return absl::InvalidArgumentError(
        fmt::format("unknown pgoutput message type {} at offset 0", DescribeType(bytes[0])));
  }
  const MessageShape& shape = kShapes[index];
  Reader r(bytes, "pgoutput", shape.name);
  if (shape.two_phase) {
    return absl::InvalidArgumentError(
        fmt::format("unsupported pgoutput {} message ({}) at offset 0: two-phase decoding is not enabled "
                    "(pgpitr does not request two_phase)",
                    shape.name, DescribeType(shape.type)));
  }
  if (proto_version_ < shape.min_proto_version) {
    return absl::InvalidArgumentError(
        fmt::format("unexpected pgoutput {} message at offset 0: streamed transactions need proto_version {} "
                    "or later, and this stream negotiated proto_version {}",
                    shape.name, shape.min_proto_version, proto_version_));
  }
  if (shape.placement == Placement::kOutsideStreamBlock && in_stream_block_) {
    return r.Malformed("it arrived inside a Stream Start/Stream Stop block", 0);
  }
  if (shape.placement == Placement::kInsideStreamBlock && !in_stream_block_) {
    return r.Malformed("it arrived outside a Stream Start/Stream Stop block", 0);
  }
  r.Skip(1);

  std::optional<uint32_t> xid;
  if (shape.xid_in_stream_block && in_stream_block_) {
    uint32_t value = 0;
    if (!r.U32(&value)) return r.Truncated("xid");
    xid = value;
  }

  // The body is read straight into the variant's storage, so no message is built twice.
  PgoutputMessage message;
  absl::Status status;
  switch (shape.type) {
    case 'B':
      status = ReadBegin(r, &message.emplace<BeginMessage>());
      break;
    case 'C':
      status = ReadCommit(r, &message.emplace<CommitMessage>());
      break;
    case 'O':
      status = ReadOrigin(r, &message.emplace<OriginMessage>());
      break;
    case 'R':
      status = ReadWithXid<RelationMessage>(r, xid, &message, &ReadRelation);
      break;
    case 'Y':
      status = ReadWithXid<TypeMessage>(r, xid, &message, &ReadType);
      break;
    case 'I':
      status = ReadWithXid<InsertMessage>(r, xid, &message, &ReadInsert);
      break;
    case 'U':
      status = ReadWithXid<UpdateMessage>(r, xid, &message, &ReadUpdate);
      break;
    case 'D':
      status = ReadWithXid<DeleteMessage>(r, xid, &message, &ReadDelete);
      break;
    case 'T':
      status = ReadWithXid<TruncateMessage>(r, xid, &message, &ReadTruncate);
      break;
    case 'M':
      status = ReadWithXid<LogicalMessage>(r, xid, &message, &ReadLogicalMessage);
      break;
    case 'S':
      status = ReadStreamStart(r, &message.emplace<StreamStartMessage>());
      break;
    case 'E':
      message.emplace<StreamStopMessage>();
      break;
    case 'c':
      status = ReadStreamCommit(r, &message.emplace<StreamCommitMessage>());
      break;
    case 'A':
      status = ReadStreamAbort(r, proto_version_, &message.emplace<StreamAbortMessage>());
      break;
    default:
      // Every non-two-phase entry of kShapes has a case above.
      return absl::InternalError(fmt::format("pgoutput message type {} has no decoder", DescribeType(shape.type)));
  }
  if (!status.ok()) return status;
  if (absl::Status s = r.ExpectEnd(); !s.ok()) return s;

  // Only a whole, valid message moves the block state, so a failed call leaves it as it was.
  if (shape.type == 'S') in_stream_block_ = true;
  if (shape.type == 'E') in_stream_block_ = false;
  return message;
}

}  // namespace pgpitr::wal
