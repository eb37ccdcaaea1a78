// libFuzzer target for the proxy's wire decoder and SQL lexer: the input is a client's byte stream
// (startup phase first, then typed messages), fed in chunks whose sizes derive from the input, and
// also SQL text.
//   clang++-14 -std=c++20 -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
//     -fno-sanitize-recover=all -I. proxy/wire.cc proxy/sql.cc tests/proxy/wire_fuzz.cc \
//     -labsl_statusor -labsl_status -labsl_strings -o wire_fuzz
//   mkdir -p /tmp/wire_fuzz_corpus && ./wire_fuzz -max_total_time=60 /tmp/wire_fuzz_corpus tests/proxy/fuzz_corpus
// (new inputs go to the first directory, so the checked-in seeds stay as they are)
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/sql.h"
#include "proxy/wire.h"

namespace {

using pgpitr::proxy::FrameDecoder;
using pgpitr::proxy::FrameResult;

void Check(bool ok) {
  if (!ok) std::abort();
}

// FNV-1a: chunk sizes and the length cap follow from the input, so a crash reproduces from it.
uint64_t Hash(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

void CheckSql(std::string_view text) {
  const char* prev_end = text.data();
  for (std::string_view s : pgpitr::proxy::SplitStatements(text)) {
    Check(s.data() >= prev_end && s.data() + s.size() <= text.data() + text.size());
    Check(!s.empty());
    prev_end = s.data() + s.size();
    (void)pgpitr::proxy::IsSchemaChange(s);
    (void)pgpitr::proxy::MustRunOutsideTransaction(s);
    // Dropping CONCURRENTLY removes exactly one word and keeps the rest.
    if (auto plain = pgpitr::proxy::IndexStatementWithoutConcurrently(s)) Check(plain->size() + 12 == s.size());
  }
  (void)pgpitr::proxy::IsSchemaChange(text);
  (void)pgpitr::proxy::MustRunOutsideTransaction(text);
}

void FeedFrames(std::string_view input, uint64_t seed) {
  constexpr size_t kCaps[] = {pgpitr::proxy::kDefaultMaxMessage, 256u << 20, 4096, 64, 5};
  FrameDecoder d(FrameDecoder::Phase::kStartup, kCaps[seed % 5]);
  size_t framed = 0;
  for (size_t pos = 0; pos < input.size();) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    const size_t n = std::min<size_t>(input.size() - pos, 1 + (seed >> 33) % 64);
    d.Append(input.substr(pos, n));
    pos += n;
    for (;;) {
      const FrameResult r = d.Next();
      if (r.kind == FrameResult::kNeedMore) break;
      if (r.kind == FrameResult::kMalformed) {
        Check(!r.error.empty());
        Check(d.Next().kind == FrameResult::kMalformed);
        return;
      }
      const std::string_view raw = r.frame.raw;
      const std::string_view body = r.frame.body;
      Check(raw.size() >= body.size() + 4 && raw.data() + raw.size() == body.data() + body.size());
      framed += raw.size();
      if (d.phase() == FrameDecoder::Phase::kStartup) {
        auto packet = pgpitr::proxy::ParseStartupPacket(body);
        // As the proxy does: after SSLRequest or GSSENCRequest the client sends another startup
        // packet; after anything else, typed messages (here even after a bad packet, to get there).
        if (!packet.ok() || (packet->kind != pgpitr::proxy::StartupPacket::kSslRequest &&
                             packet->kind != pgpitr::proxy::StartupPacket::kGssEncRequest)) {
          d.Consume();
          d.set_phase(FrameDecoder::Phase::kTyped);
          continue;
        }
      } else {
        auto query = pgpitr::proxy::ParseQuery(body);
        auto parse = pgpitr::proxy::ParseParse(body);
        if (r.frame.type == 'Q' && query.ok()) CheckSql(*query);
        if (r.frame.type == 'P' && parse.ok()) CheckSql(parse->query);
        // A rewritten SASL offer is one well-formed 'R' message, shorter than the original.
        if (auto sasl = pgpitr::proxy::WithoutChannelBinding(r.frame)) {
          FrameDecoder one(FrameDecoder::Phase::kTyped);
          one.Append(*sasl);
          const FrameResult again = one.Next();
          Check(again.kind == FrameResult::kFrame && again.frame.type == 'R' &&
                again.frame.raw.size() == sasl->size() && sasl->size() < raw.size());
        }
      }
      d.Consume();
    }
  }
  Check(framed + d.buffered() == input.size());
}

// An ErrorResponse built from any text still frames as exactly one 'E' message.
void CheckErrorResponse(std::string_view text) {
  const std::string e = pgpitr::proxy::EncodeErrorResponse("FATAL", "08P01", text);
  FrameDecoder d(FrameDecoder::Phase::kTyped);
  d.Append(e);
  const FrameResult r = d.Next();
  Check(r.kind == FrameResult::kFrame && r.frame.type == 'E' && r.frame.raw.size() == e.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  FeedFrames(input, Hash(input));
  CheckSql(input);
  CheckErrorResponse(input.substr(0, 256));
  return 0;
}
