#include "proxy/wire.h"

#include <cassert>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace pgpitr::proxy {

// Message layouts, as PostgreSQL's "Message Formats" page writes them (Int32/Int16 big-endian;
// String = bytes up to and including a NUL; the length counts itself but not the type byte):
//   startup phase:  Int32 len (8..10000), then the body:
//     StartupMessage  Int32 196608 (3.0)  { String key, String value }*  Byte1 0
//     SSLRequest      Int32 80877103                                          (len == 8)
//     GSSENCRequest   Int32 80877104                                          (len == 8)
//     CancelRequest   Int32 80877102  Int32 backend pid  Int32 secret key     (len == 16)
//   typed phase:    Byte1 type, Int32 len (4..max_message), then len - 4 body bytes:
//     'Q' Query       String query
//     'P' Parse       String statement  String query  Int16 n  Int32 parameter type OID * n
//     'E' ErrorResponse (backend)  { Byte1 field code, String value }*  Byte1 0

namespace {

constexpr size_t kLengthSize = 4;
constexpr size_t kStartupMinLength = 8;  // the length itself and the protocol code
constexpr size_t kTypedMinLength = 4;    // the length itself
// Capacity kept after the buffer empties: enough for ordinary traffic, so the steady state does
// not allocate, while one huge message does not pin its memory for the rest of the connection.
constexpr size_t kRetainedCapacity = 64u << 10;

uint32_t ReadUint32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

uint16_t ReadUint16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>((u[0] << 8) | u[1]);
}

void AppendUint32(std::string* out, uint32_t v) {
  const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                         static_cast<char>(v)};
  out->append(bytes, 4);
}

// A type byte as it can be shown in an error message: 'Q', or 0x00 when not printable.
std::string DescribeType(char type) {
  const auto u = static_cast<unsigned char>(type);
  if (u >= 0x21 && u <= 0x7e) return std::string{'\'', type, '\''};
  constexpr char kHex[] = "0123456789abcdef";
  return std::string{'0', 'x', kHex[u >> 4], kHex[u & 0xf]};
}

// Reads a NUL-terminated string at *pos; advances past its NUL. nullopt when there is no NUL.
std::optional<std::string_view> ReadString(std::string_view body, size_t* pos) {
  const size_t nul = body.find('\0', *pos);
  if (nul == std::string_view::npos) return std::nullopt;
  std::string_view s = body.substr(*pos, nul - *pos);
  *pos = nul + 1;
  return s;
}

std::string_view UpToNul(std::string_view s) { return s.substr(0, s.find('\0')); }

}  // namespace

void FrameDecoder::Append(std::string_view bytes) {
  if (bytes.empty()) return;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  } else if (start_ > 0 && (start_ >= buffer_.size() - start_ || buffer_.size() + bytes.size() > buffer_.capacity())) {
    // Compaction moves at most as many bytes as were consumed before it, or happens instead of a
    // reallocation that would copy them anyway: the cost stays linear in the bytes received.
    buffer_.erase(0, start_);
    start_ = 0;
  }
  buffer_.append(bytes);
}

FrameResult FrameDecoder::Next() {
  FrameResult result{FrameResult::kNeedMore, Frame{'\0', {}, {}}, {}};
  const size_t available = buffer_.size() - start_;
  const char* p = buffer_.data() + start_;
  const size_t header = phase_ == Phase::kStartup ? kLengthSize : 1 + kLengthSize;
  if (available < header) return result;

  const char type = phase_ == Phase::kStartup ? '\0' : p[0];
  const size_t length = ReadUint32(p + header - kLengthSize);
  if (phase_ == Phase::kStartup) {
    if (length < kStartupMinLength || length > kMaxStartupPacket) {
      result.kind = FrameResult::kMalformed;
      result.error =
          absl::StrCat("startup packet length ", length, " is outside ", kStartupMinLength, "..", kMaxStartupPacket);
      return result;
    }
  } else if (length < kTypedMinLength || length > max_message_) {
    result.kind = FrameResult::kMalformed;
    result.error = absl::StrCat("message ", DescribeType(type), " declares length ", length, ", outside ",
                                kTypedMinLength, "..", max_message_);
    return result;
  }

  const size_t total = header - kLengthSize + length;
  if (available < total) return result;
  pending_ = total;
  result.kind = FrameResult::kFrame;
  result.frame.type = type;
  result.frame.raw = std::string_view(p, total);
  result.frame.body = result.frame.raw.substr(header);
  return result;
}

void FrameDecoder::Consume() {
  start_ += pending_;
  pending_ = 0;
  if (start_ == buffer_.size()) {
    start_ = 0;
    if (buffer_.capacity() > kRetainedCapacity) {
      std::string().swap(buffer_);
    } else {
      buffer_.clear();
    }
  }
}

absl::StatusOr<StartupPacket> ParseStartupPacket(std::string_view body) {
  if (body.size() < 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("startup packet of ", body.size() + kLengthSize, " bytes is too short for a protocol code"));
  }
  StartupPacket packet{};
  const uint32_t code = ReadUint32(body.data());
  switch (code) {
    case kSslRequestCode:
    case kGssEncRequestCode:
      if (body.size() != 4) {
        return absl::InvalidArgumentError(absl::StrCat(code == kSslRequestCode ? "SSLRequest" : "GSSENCRequest",
                                                       " must be 8 bytes, not ", body.size() + kLengthSize));
      }
      packet.kind = code == kSslRequestCode ? StartupPacket::kSslRequest : StartupPacket::kGssEncRequest;
      return packet;
    case kCancelRequestCode:
      if (body.size() != 12) {
        return absl::InvalidArgumentError(
            absl::StrCat("CancelRequest must be 16 bytes, not ", body.size() + kLengthSize));
      }
      packet.kind = StartupPacket::kCancelRequest;
      packet.backend_pid = ReadUint32(body.data() + 4);
      packet.secret_key = ReadUint32(body.data() + 8);
      return packet;
    default:
      break;
  }
  if (code >> 16 != 3) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported frontend protocol ", code >> 16, ".", code & 0xffff,
                                                   ": the proxy speaks protocol 3"));
  }
  packet.kind = StartupPacket::kStartup;
  packet.protocol = code;
  // Any minor version of 3 is passed on: the server answers NegotiateProtocolVersion itself.
  size_t pos = 4;
  bool has_user = false;
  for (;;) {
    if (pos >= body.size()) {
      return absl::InvalidArgumentError("startup packet parameters do not end with a terminating zero byte");
    }
    if (body[pos] == '\0') break;
    std::optional<std::string_view> key = ReadString(body, &pos);
    if (!key) return absl::InvalidArgumentError("startup packet parameter name is not terminated");
    std::optional<std::string_view> value = ReadString(body, &pos);
    if (!value) {
      return absl::InvalidArgumentError(
          absl::StrCat("startup packet parameter \"", std::string(*key), "\" has no value"));
    }
    has_user = has_user || *key == "user";
    packet.params.emplace_back(std::string(*key), std::string(*value));
  }
  if (pos + 1 != body.size()) {
    return absl::InvalidArgumentError("startup packet has bytes after its terminating zero byte");
  }
  if (!has_user) return absl::InvalidArgumentError("no PostgreSQL user name specified in startup packet");
  return packet;
}

absl::StatusOr<std::string_view> ParseQuery(std::string_view body) {
  const size_t nul = body.find('\0');
  if (nul == std::string_view::npos) return absl::InvalidArgumentError("Query string is not terminated");
  if (nul + 1 != body.size()) return absl::InvalidArgumentError("Query message has bytes after its string");
  return body.substr(0, nul);
}

absl::StatusOr<ParseMessage> ParseParse(std::string_view body) {
  size_t pos = 0;
  std::optional<std::string_view> statement = ReadString(body, &pos);
  if (!statement) return absl::InvalidArgumentError("Parse statement name is not terminated");
  std::optional<std::string_view> query = ReadString(body, &pos);
  if (!query) return absl::InvalidArgumentError("Parse query string is not terminated");
  if (body.size() - pos < 2) return absl::InvalidArgumentError("Parse message has no parameter count");
  const size_t params = ReadUint16(body.data() + pos);
  pos += 2;
  if (body.size() - pos != params * 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("Parse message declares ", params, " parameter types in ", body.size() - pos, " bytes"));
  }
  return ParseMessage{*statement, *query};
}

std::string EncodeErrorResponse(std::string_view severity, std::string_view sqlstate, std::string_view message) {
  // A NUL inside a field would end it early and shift every field after it: fields stop at one.
  severity = UpToNul(severity);
  sqlstate = UpToNul(sqlstate);
  message = UpToNul(message);
  std::string body;
  body.reserve(severity.size() * 2 + sqlstate.size() + message.size() + 9);
  const std::pair<char, std::string_view> fields[] = {
      {'S', severity}, {'V', severity}, {'C', sqlstate}, {'M', message}};
  for (const auto& [code, value] : fields) {
    body.push_back(code);
    body.append(value);
    body.push_back('\0');
  }
  body.push_back('\0');
  return EncodeMessage('E', body);
}

std::string EncodeMessage(char type, std::string_view body) {
  // Our own messages only; a body this large would be a bug of the caller.
  assert(body.size() <= std::numeric_limits<int32_t>::max() - kLengthSize);
  std::string out;
  out.reserve(1 + kLengthSize + body.size());
  out.push_back(type);
  AppendUint32(&out, static_cast<uint32_t>(body.size() + kLengthSize));
  out.append(body);
  return out;
}

std::optional<std::string> WithoutChannelBinding(const Frame& frame) {
  static constexpr std::string_view kSasl("\0\0\0\x0a", 4);
  if (frame.type != 'R' || frame.body.substr(0, 4) != kSasl) return std::nullopt;
  std::string body(kSasl);
  bool dropped = false;
  size_t at = 4;
  for (;;) {
    const size_t end = frame.body.find('\0', at);
    if (end == std::string_view::npos) return std::nullopt;  // malformed: the client will say so
    const std::string_view mechanism = frame.body.substr(at, end - at);
    at = end + 1;
    if (mechanism.empty()) break;
    if (mechanism == "SCRAM-SHA-256-PLUS") {
      dropped = true;
      continue;
    }
    body.append(mechanism);
    body.push_back('\0');
  }
  if (!dropped) return std::nullopt;
  body.push_back('\0');
  return EncodeMessage('R', body);
}

}  // namespace pgpitr::proxy
