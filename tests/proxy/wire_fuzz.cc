// libFuzzer target for the proxy's wire decoder, SQL lexer and schema-change recorder: the input is
// a client's byte stream (startup phase first, then typed messages), fed in chunks whose sizes
// derive from the input, each message also given to a DdlRecorder (with answers of every type in
// between), and also SQL text.
//   clang++-14 -std=c++20 -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
//     -fno-sanitize-recover=all -I. proxy/wire.cc proxy/sql.cc proxy/response_tracker.cc \
//     proxy/ddl_recorder.cc tests/proxy/wire_fuzz.cc -labsl_statusor -labsl_status -labsl_strings -lfmt -o wire_fuzz
//   mkdir -p /tmp/wire_fuzz_corpus && ./wire_fuzz -max_total_time=60 /tmp/wire_fuzz_corpus tests/proxy/fuzz_corpus
// (new inputs go to the first directory, so the checked-in seeds stay as they are)
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/ddl_recorder.h"
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

// What the recorder sends upstream for a client message frames as whole messages, and ends with
// the client's own message unless it rewrote a query.
void CheckRecorded(pgpitr::proxy::DdlRecorder& recorder, const pgpitr::proxy::Frame& frame, uint64_t seed) {
  std::string upstream;
  recorder.FromClient(frame, seed % 7 != 0, &upstream);
  FrameDecoder d(FrameDecoder::Phase::kTyped, 1u << 30);
  d.Append(upstream);
  size_t messages = 0;
  for (FrameResult r = d.Next(); r.kind == FrameResult::kFrame; r = d.Next()) {
    ++messages;
    d.Consume();
  }
  Check(d.buffered() == 0 && messages >= 1);
  Check(upstream.ends_with(frame.raw) || (frame.type == 'Q' && messages == 1));
  // Answers of any type, as a database might send (or a confused one).
  constexpr char kAnswers[] = "123CDEIZTnst";
  for (int i = 0; i < static_cast<int>(seed % 5); ++i) {
    std::string record;
    const auto answer = recorder.FromDatabase(kAnswers[(seed >> (8 * i)) % (sizeof(kAnswers) - 1)], &record);
    Check((answer == pgpitr::proxy::DdlRecorder::Answer::kHeld) == !record.empty());
  }
}

void FeedFrames(std::string_view input, uint64_t seed) {
  constexpr size_t kCaps[] = {pgpitr::proxy::kDefaultMaxMessage, 256u << 20, 4096, 64, 5};
  FrameDecoder d(FrameDecoder::Phase::kStartup, kCaps[seed % 5]);
  pgpitr::proxy::DdlRecorder recorder;
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
        CheckRecorded(recorder, r.frame, seed);
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
