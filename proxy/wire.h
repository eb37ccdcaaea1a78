// The PostgreSQL frontend/backend protocol's framing, as the proxy needs it: a pure, socket-free
// decoder that splits a byte stream into messages without copying or rebuilding them, and the few
// message bodies the proxy reads (startup packets, Query, Parse, ReadyForQuery, ErrorResponse).
//   FrameDecoder frames(FrameDecoder::Phase::kStartup);
//   frames.Append(bytes);  while (auto f = frames.Next(); f.kind == FrameResult::kFrame) forward(f.frame);
// Lengths are capped: a declared length above the cap, or below the minimum, is malformed and the
// connection must end. Not thread-safe: one decoder per direction of a connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace pgpitr::proxy {

// Protocol codes of the untyped startup-phase packets (Int32 after the length).
inline constexpr uint32_t kProtocolV3 = 196608;  // 3.0
inline constexpr uint32_t kSslRequestCode = 80877103;
inline constexpr uint32_t kGssEncRequestCode = 80877104;
inline constexpr uint32_t kCancelRequestCode = 80877102;

// The largest message the proxy accepts from a client (PostgreSQL's own limit for most messages
// is 1 GB; a startup packet is at most 10000 bytes).
inline constexpr size_t kMaxStartupPacket = 10000;
inline constexpr size_t kDefaultMaxMessage = 1u << 30;

struct Frame {
  char type;              // '\0' for a startup-phase packet (which has no type byte)
  std::string_view body;  // the bytes after the length field
  std::string_view raw;   // the whole message as received: what the proxy forwards
};

struct FrameResult {
  enum Kind { kFrame, kNeedMore, kMalformed };
  Kind kind;
  Frame frame;        // when kFrame; views into the decoder's buffer, valid until the next Append/Consume
  std::string error;  // when kMalformed: what was wrong, for an ErrorResponse
};

class FrameDecoder {
 public:
  enum class Phase {
    kStartup,  // untyped: Int32 length (including itself), then the body
    kTyped,    // Byte1 type, Int32 length (including itself, not the type), then the body
  };
  explicit FrameDecoder(Phase phase, size_t max_message = kDefaultMaxMessage)
      : phase_(phase), max_message_(max_message) {}

  void Append(std::string_view bytes);
  // The next complete message, or kNeedMore. After kFrame, call Consume() once the frame has been
  // used: it drops the frame's bytes from the buffer.
  FrameResult Next();
  void Consume();
  // Switches from startup packets to typed messages (after the startup packet was sent).
  void set_phase(Phase phase) { phase_ = phase; }
  Phase phase() const { return phase_; }
  size_t buffered() const { return buffer_.size() - start_; }

 private:
  Phase phase_;
  size_t max_message_;
  std::string buffer_;
  size_t start_ = 0;    // where unread bytes begin
  size_t pending_ = 0;  // size of the frame returned by Next and not yet consumed
};

// A startup-phase packet's meaning.
struct StartupPacket {
  enum Kind { kStartup, kSslRequest, kGssEncRequest, kCancelRequest };
  Kind kind;
  uint32_t protocol = 0;                                    // kStartup
  std::vector<std::pair<std::string, std::string>> params;  // kStartup: user, database, options, ...
  uint32_t backend_pid = 0;                                 // kCancelRequest
  uint32_t secret_key = 0;                                  // kCancelRequest
};
[[nodiscard]] absl::StatusOr<StartupPacket> ParseStartupPacket(std::string_view body);

// 'Q': the query string. 'P': {statement name, query string}. Malformed bodies are errors.
[[nodiscard]] absl::StatusOr<std::string_view> ParseQuery(std::string_view body);
struct ParseMessage {
  std::string_view statement;
  std::string_view query;
};
[[nodiscard]] absl::StatusOr<ParseMessage> ParseParse(std::string_view body);

// An ErrorResponse ('E') with severity FATAL (or ERROR), SQLSTATE and message, ready to send.
std::string EncodeErrorResponse(std::string_view severity, std::string_view sqlstate, std::string_view message);

// A typed message: type, Int32 length, body.
std::string EncodeMessage(char type, std::string_view body);

// An AuthenticationSASL message ('R' with code 10: the server's SASL mechanisms) without
// SCRAM-SHA-256-PLUS, for a client whose own leg has no TLS to bind to; nullopt for any other
// message, or when the list does not name it.
std::optional<std::string> WithoutChannelBinding(const Frame& frame);

}  // namespace pgpitr::proxy
