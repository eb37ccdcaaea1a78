#include "proxy/wire.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgpitr::proxy {
namespace {

using namespace std::string_literals;

// Counts every operator new in this binary, to show that framing allocates nothing per message.
std::atomic<size_t> allocations{0};

std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
std::string Be16(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }

// An untyped startup-phase packet: Int32 length (counting itself), then the body.
std::string Untyped(std::string_view body) { return Be32(static_cast<uint32_t>(body.size() + 4)) + std::string(body); }

std::string StartupBody(const std::vector<std::pair<std::string, std::string>>& params,
                        uint32_t protocol = kProtocolV3) {
  std::string body = Be32(protocol);
  for (const auto& [k, v] : params) body += k + '\0' + v + '\0';
  body += '\0';
  return body;
}

std::string Typed(char type, std::string_view body) {
  return std::string(1, type) + Be32(static_cast<uint32_t>(body.size() + 4)) + std::string(body);
}

std::string ParseBody(std::string_view name, std::string_view query, const std::vector<uint32_t>& oids) {
  std::string body = std::string(name) + '\0' + std::string(query) + '\0' + Be16(static_cast<uint16_t>(oids.size()));
  for (uint32_t oid : oids) body += Be32(oid);
  return body;
}

// Every frame the decoder yields until it needs more, as owned copies; stops at malformed.
struct Drained {
  std::vector<Frame> frames;  // views into `raws`
  std::vector<std::string> raws;
  std::vector<char> types;
  std::vector<std::string> bodies;
  bool malformed = false;
  std::string error;
};

void Drain(FrameDecoder& d, Drained* out) {
  for (;;) {
    FrameResult r = d.Next();
    if (r.kind == FrameResult::kNeedMore) return;
    if (r.kind == FrameResult::kMalformed) {
      out->malformed = true;
      out->error = r.error;
      return;
    }
    out->raws.emplace_back(r.frame.raw);
    out->types.push_back(r.frame.type);
    out->bodies.emplace_back(r.frame.body);
    d.Consume();
  }
}

// --- Startup-phase packets ---------------------------------------------------------------------

struct StartupCase {
  std::string name;
  std::string packet;  // whole packet, length included
  StartupPacket::Kind kind;
};

class StartupPacketKinds : public testing::TestWithParam<StartupCase> {};

TEST_P(StartupPacketKinds, FramesAsOneUntypedPacketAndParsesToItsKind) {
  const StartupCase& c = GetParam();
  FrameDecoder d(FrameDecoder::Phase::kStartup);
  d.Append(c.packet);
  FrameResult r = d.Next();
  ASSERT_EQ(r.kind, FrameResult::kFrame) << r.error;
  EXPECT_EQ(r.frame.type, '\0');
  EXPECT_EQ(r.frame.raw, c.packet);
  EXPECT_EQ(r.frame.body, std::string_view(c.packet).substr(4));
  absl::StatusOr<StartupPacket> p = ParseStartupPacket(r.frame.body);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->kind, c.kind);
  d.Consume();
  EXPECT_EQ(d.buffered(), 0u);
  EXPECT_EQ(d.Next().kind, FrameResult::kNeedMore);
}

INSTANTIATE_TEST_SUITE_P(
    Wire, StartupPacketKinds,
    testing::Values(StartupCase{"Startup", Untyped(StartupBody({{"user", "alice"}, {"database", "shop"}})),
                                StartupPacket::kStartup},
                    StartupCase{"SslRequest", Untyped(Be32(kSslRequestCode)), StartupPacket::kSslRequest},
                    StartupCase{"GssEncRequest", Untyped(Be32(kGssEncRequestCode)), StartupPacket::kGssEncRequest},
                    StartupCase{"CancelRequest", Untyped(Be32(kCancelRequestCode) + Be32(4242) + Be32(0xdeadbeef)),
                                StartupPacket::kCancelRequest}),
    [](const testing::TestParamInfo<StartupCase>& info) { return info.param.name; });

TEST(ParseStartupPacket, StartupMessageKeepsEveryParameterInOrder) {
  absl::StatusOr<StartupPacket> p = ParseStartupPacket(StartupBody(
      {{"user", "alice"}, {"database", "shop"}, {"options", "-c search_path=app"}, {"application_name", ""}}));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->kind, StartupPacket::kStartup);
  EXPECT_EQ(p->protocol, kProtocolV3);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"user", "alice"}, {"database", "shop"}, {"options", "-c search_path=app"}, {"application_name", ""}};
  EXPECT_EQ(p->params, want);
}

TEST(ParseStartupPacket, NewerMinorVersionOfProtocol3IsPassedOn) {
  absl::StatusOr<StartupPacket> p = ParseStartupPacket(StartupBody({{"user", "u"}}, (3u << 16) | 2));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->protocol, (3u << 16) | 2);
}

TEST(ParseStartupPacket, CancelRequestCarriesPidAndKey) {
  absl::StatusOr<StartupPacket> p = ParseStartupPacket(Be32(kCancelRequestCode) + Be32(4242) + Be32(0xdeadbeef));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->kind, StartupPacket::kCancelRequest);
  EXPECT_EQ(p->backend_pid, 4242u);
  EXPECT_EQ(p->secret_key, 0xdeadbeefu);
}

TEST(ParseStartupPacket, ProtocolVersion2IsAnErrorNamingTheVersion) {
  absl::StatusOr<StartupPacket> p = ParseStartupPacket(StartupBody({{"user", "u"}}, 2u << 16));
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("2.0"), std::string::npos) << p.status();
}

TEST(ParseStartupPacket, UnknownProtocolCodeIsAnErrorNamingTheVersion) {
  absl::StatusOr<StartupPacket> p = ParseStartupPacket(Be32(1234u << 16 | 5681) + "\0"s);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("1234.5681"), std::string::npos) << p.status();
}

struct BadStartupCase {
  std::string name;
  std::string body;  // after the length
};

class MalformedStartupPackets : public testing::TestWithParam<BadStartupCase> {};

TEST_P(MalformedStartupPackets, AreErrors) {
  absl::StatusOr<StartupPacket> p = ParseStartupPacket(GetParam().body);
  EXPECT_FALSE(p.ok());
  EXPECT_FALSE(p.status().message().empty());
}

INSTANTIATE_TEST_SUITE_P(
    Wire, MalformedStartupPackets,
    testing::Values(BadStartupCase{"Empty", ""}, BadStartupCase{"ShorterThanProtocolCode", "\x00\x03\x00"s},
                    BadStartupCase{"NoUser", StartupBody({{"database", "shop"}})},
                    BadStartupCase{"NoParametersAtAll", StartupBody({})},
                    BadStartupCase{"MissingTerminator", Be32(kProtocolV3) + "user\0alice\0"s},
                    BadStartupCase{"OnlyProtocolCode", Be32(kProtocolV3)},
                    BadStartupCase{"KeyWithoutValue", Be32(kProtocolV3) + "user\0alice\0database"s},
                    BadStartupCase{"KeyWithUnterminatedValue", Be32(kProtocolV3) + "user\0alice\0database\0shop"s},
                    BadStartupCase{"BytesAfterTerminator", StartupBody({{"user", "alice"}}) + "x"},
                    BadStartupCase{"SslRequestWithExtraBytes", Be32(kSslRequestCode) + "\0"s},
                    BadStartupCase{"GssEncRequestWithExtraBytes", Be32(kGssEncRequestCode) + Be32(0)},
                    BadStartupCase{"CancelRequestTooShort", Be32(kCancelRequestCode) + Be32(1) + "\0\0\0"s},
                    BadStartupCase{"CancelRequestTooLong", Be32(kCancelRequestCode) + Be32(1) + Be32(2) + "\0"s},
                    BadStartupCase{"ProtocolZero", StartupBody({{"user", "u"}}, 0)}),
    [](const testing::TestParamInfo<BadStartupCase>& info) { return info.param.name; });

TEST(FrameDecoder, StartupLengthBelowEightIsMalformed) {
  for (uint32_t len : {0u, 1u, 4u, 7u}) {
    FrameDecoder d(FrameDecoder::Phase::kStartup);
    d.Append(Be32(len) + "\0\0\0\0\0\0\0\0"s);
    FrameResult r = d.Next();
    EXPECT_EQ(r.kind, FrameResult::kMalformed) << len;
    EXPECT_FALSE(r.error.empty());
  }
}

TEST(FrameDecoder, StartupLengthAboveMaxStartupPacketIsMalformedBeforeTheBodyArrives) {
  for (uint32_t len : {uint32_t{kMaxStartupPacket + 1}, 1u << 20, 0x7fffffffu, 0xffffffffu}) {
    FrameDecoder d(FrameDecoder::Phase::kStartup);
    d.Append(Be32(len));
    EXPECT_EQ(d.Next().kind, FrameResult::kMalformed) << len;
  }
}

TEST(FrameDecoder, StartupPacketsOfEightAndOfMaxStartupPacketBytesAreAccepted) {
  FrameDecoder d(FrameDecoder::Phase::kStartup);
  d.Append(Untyped(Be32(kSslRequestCode)));
  EXPECT_EQ(d.Next().kind, FrameResult::kFrame);
  d.Consume();
  std::string big = Untyped(StartupBody({{"user", "u"}, {"options", std::string(kMaxStartupPacket - 25, 'x')}}));
  ASSERT_EQ(big.size(), kMaxStartupPacket);
  d.Append(big);
  FrameResult r = d.Next();
  ASSERT_EQ(r.kind, FrameResult::kFrame) << r.error;
  EXPECT_EQ(r.frame.raw.size(), kMaxStartupPacket);
  EXPECT_TRUE(ParseStartupPacket(r.frame.body).ok());
}

TEST(FrameDecoder, StartupThenTypedMessagesInOneAppendFrameAfterThePhaseSwitch) {
  const std::string startup = Untyped(StartupBody({{"user", "alice"}}));
  const std::string query = Typed('Q', "SELECT 1\0"s);
  FrameDecoder d(FrameDecoder::Phase::kStartup);
  d.Append(startup + query);
  FrameResult r = d.Next();
  ASSERT_EQ(r.kind, FrameResult::kFrame);
  EXPECT_EQ(r.frame.raw, startup);
  d.Consume();
  d.set_phase(FrameDecoder::Phase::kTyped);
  EXPECT_EQ(d.phase(), FrameDecoder::Phase::kTyped);
  r = d.Next();
  ASSERT_EQ(r.kind, FrameResult::kFrame);
  EXPECT_EQ(r.frame.type, 'Q');
  EXPECT_EQ(r.frame.raw, query);
}

TEST(FrameDecoder, SslRequestThenStartupArriveAsTwoPackets) {
  const std::string ssl = Untyped(Be32(kSslRequestCode));
  const std::string startup = Untyped(StartupBody({{"user", "alice"}}));
  FrameDecoder d(FrameDecoder::Phase::kStartup);
  Drained got;
  d.Append(ssl + startup);
  Drain(d, &got);
  ASSERT_FALSE(got.malformed) << got.error;
  EXPECT_EQ(got.raws, (std::vector<std::string>{ssl, startup}));
}

// --- Typed messages ----------------------------------------------------------------------------

struct TypedCase {
  std::string name;
  char type;
  std::string body;
};

// Frontend and backend messages as PostgreSQL's "Message Formats" page lays them out.
std::vector<TypedCase> TypedCases() {
  return {
      {"Query", 'Q', "SELECT 1;\0"s},
      {"Parse", 'P', ParseBody("s1", "SELECT $1", {23})},
      {"Bind", 'B', "\0s1\0"s + Be16(0) + Be16(1) + Be32(1) + "7" + Be16(0)},
      {"Describe", 'D', "Ss1\0"s},
      {"Execute", 'E', "\0"s + Be32(0)},
      {"Sync", 'S', ""},
      {"Flush", 'H', ""},
      {"Close", 'C', "Ss1\0"s},
      {"Terminate", 'X', ""},
      {"PasswordMessage", 'p', "secret\0"s},
      {"CopyData", 'd', "1\t2\n"},
      {"CopyDone", 'c', ""},
      {"CopyFail", 'f', "no\0"s},
      {"FunctionCall", 'F', Be32(1598) + Be16(0) + Be16(0) + Be16(0)},
      {"AuthenticationOk", 'R', Be32(0)},
      {"BackendKeyData", 'K', Be32(77) + Be32(88)},
      {"ParameterStatus", 'S', "TimeZone\0UTC\0"s},
      {"ReadyForQuery", 'Z', "I"},
      {"RowDescription", 'T', Be16(0)},
      {"DataRow", 'D', Be16(1) + Be32(1) + "1"},
      {"CommandComplete", 'C', "SELECT 1\0"s},
      {"EmptyQueryResponse", 'I', ""},
      {"ErrorResponse", 'E', "SERROR\0C42601\0Mbad\0\0"s},
      {"NoticeResponse", 'N', "SNOTICE\0Mhi\0\0"s},
      {"NotificationResponse", 'A', Be32(1) + "chan\0payload\0"s},
      {"ParseComplete", '1', ""},
      {"BindComplete", '2', ""},
      {"CloseComplete", '3', ""},
      {"NoData", 'n', ""},
      {"PortalSuspended", 's', ""},
      {"ParameterDescription", 't', Be16(1) + Be32(23)},
      {"NegotiateProtocolVersion", 'v', Be32(0) + Be32(1) + "_pq_.x\0"s},
      {"CopyInResponse", 'G', "\0"s + Be16(0)},
      {"CopyOutResponse", 'H', "\0"s + Be16(0)},
      {"CopyBothResponse", 'W', "\0"s + Be16(0)},
      {"FunctionCallResponse", 'V', Be32(0xffffffff)},
  };
}

class TypedMessageKinds : public testing::TestWithParam<TypedCase> {};

TEST_P(TypedMessageKinds, FrameWithTypeBodyAndRawBytes) {
  const TypedCase& c = GetParam();
  const std::string wire = Typed(c.type, c.body);
  FrameDecoder d(FrameDecoder::Phase::kTyped);
  d.Append(wire);
  FrameResult r = d.Next();
  ASSERT_EQ(r.kind, FrameResult::kFrame) << r.error;
  EXPECT_EQ(r.frame.type, c.type);
  EXPECT_EQ(r.frame.body, c.body);
  EXPECT_EQ(r.frame.raw, wire);
  d.Consume();
  EXPECT_EQ(d.Next().kind, FrameResult::kNeedMore);
}

TEST_P(TypedMessageKinds, EncodeMessageWritesTheSameBytesTheDecoderReads) {
  const TypedCase& c = GetParam();
  EXPECT_EQ(EncodeMessage(c.type, c.body), Typed(c.type, c.body));
}

TEST_P(TypedMessageKinds, FramesWhenFedOneByteAtATime) {
  const TypedCase& c = GetParam();
  const std::string wire = Typed(c.type, c.body);
  FrameDecoder d(FrameDecoder::Phase::kTyped);
  for (size_t i = 0; i + 1 < wire.size(); ++i) {
    d.Append(wire.substr(i, 1));
    ASSERT_EQ(d.Next().kind, FrameResult::kNeedMore) << "after " << i + 1 << " bytes";
  }
  d.Append(wire.substr(wire.size() - 1));
  FrameResult r = d.Next();
  ASSERT_EQ(r.kind, FrameResult::kFrame);
  EXPECT_EQ(r.frame.raw, wire);
}

INSTANTIATE_TEST_SUITE_P(Wire, TypedMessageKinds, testing::ValuesIn(TypedCases()),
                         [](const testing::TestParamInfo<TypedCase>& info) { return info.param.name; });

// A pipelined extended-query exchange: Parse, Bind, Describe, Execute, Sync, then a Query.
std::string Pipeline() {
  std::string s;
  for (const TypedCase& c : TypedCases()) s += Typed(c.type, c.body);
  return s;
}

std::vector<std::string> PipelineRaws() {
  std::vector<std::string> raws;
  for (const TypedCase& c : TypedCases()) raws.push_back(Typed(c.type, c.body));
  return raws;
}

TEST(FrameDecoder, StreamFedOneByteAtATimeYieldsEveryMessageWhole) {
  FrameDecoder d(FrameDecoder::Phase::kTyped);
  Drained got;
  const std::string wire = Pipeline();
  for (char ch : wire) {
    d.Append(std::string_view(&ch, 1));
    Drain(d, &got);
    ASSERT_FALSE(got.malformed) << got.error;
  }
  EXPECT_EQ(got.raws, PipelineRaws());
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameDecoder, StreamSplitInTwoAtEveryByteBoundaryYieldsTheSameMessages) {
  const std::string wire = Pipeline();
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    FrameDecoder d(FrameDecoder::Phase::kTyped);
    Drained got;
    d.Append(std::string_view(wire).substr(0, cut));
    Drain(d, &got);
    d.Append(std::string_view(wire).substr(cut));
    Drain(d, &got);
    ASSERT_FALSE(got.malformed) << got.error;
    ASSERT_EQ(got.raws, PipelineRaws()) << "cut at " << cut;
  }
}

TEST(FrameDecoder, ManyMessagesInOneAppendAllFrame) {
  std::string wire;
  std::vector<std::string> want;
  for (int i = 0; i < 5000; ++i) {
    want.push_back(Typed('D', Be16(1) + Be32(4) + Be32(static_cast<uint32_t>(i))));
    wire += want.back();
  }
  FrameDecoder d(FrameDecoder::Phase::kTyped);
  d.Append(wire);
  Drained got;
  Drain(d, &got);
  ASSERT_FALSE(got.malformed);
  EXPECT_EQ(got.raws, want);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameDecoder, RandomChunkingYieldsTheSameMessages) {
  std::mt19937 rng(20240611);
  const std::string wire = Pipeline() + Pipeline() + Pipeline();
  std::vector<std::string> want;
  for (int i = 0; i < 3; ++i) {
    for (std::string& r : PipelineRaws()) want.push_back(r);
  }
  for (int round = 0; round < 200; ++round) {
    FrameDecoder d(FrameDecoder::Phase::kTyped);
    Drained got;
    for (size_t pos = 0; pos < wire.size();) {
      const size_t n = std::min<size_t>(wire.size() - pos, rng() % 40);
      d.Append(std::string_view(wire).substr(pos, n));
      pos += n;
      Drain(d, &got);
    }
    ASSERT_FALSE(got.malformed);
    ASSERT_EQ(got.raws, want) << "round " << round;
  }
}

TEST(FrameDecoder, NextWithoutConsumeReturnsTheSameFrameAgain) {
  FrameDecoder d(FrameDecoder::Phase::kTyped);
  d.Append(Typed('Q', "SELECT 1\0"s) + Typed('S', ""));
  FrameResult a = d.Next();
  FrameResult b = d.Next();
  ASSERT_EQ(a.kind, FrameResult::kFrame);
  ASSERT_EQ(b.kind, FrameResult::kFrame);
  EXPECT_EQ(a.frame.raw, b.frame.raw);
  d.Consume();
  FrameResult c = d.Next();
  ASSERT_EQ(c.kind, FrameResult::kFrame);
  EXPECT_EQ(c.frame.type, 'S');
}

TEST(FrameDecoder, AppendBeforeConsumeStillDropsTheReturnedFrame) {
  FrameDecoder d(FrameDecoder::Phase::kTyped);
  d.Append(Typed('Q', "SELECT 1\0"s));
  ASSERT_EQ(d.Next().kind, FrameResult::kFrame);
  d.Append(Typed('S', ""));
  d.Consume();
  FrameResult r = d.Next();
  ASSERT_EQ(r.kind, FrameResult::kFrame);
  EXPECT_EQ(r.frame.type, 'S');
  EXPECT_EQ(r.frame.raw, Typed('S', ""));
}

TEST(FrameDecoder, BufferedCountsUnreadBytes) {
  FrameDecoder d(FrameDecoder::Phase::kTyped);
  EXPECT_EQ(d.buffered(), 0u);
  d.Append(Typed('S', "") + "Q\0"s);
  EXPECT_EQ(d.buffered(), 7u);
  ASSERT_EQ(d.Next().kind, FrameResult::kFrame);
  d.Consume();
  EXPECT_EQ(d.buffered(), 2u);
  EXPECT_EQ(d.Next().kind, FrameResult::kNeedMore);
}

TEST(FrameDecoder, TypedLengthBelowFourIsMalformed) {
  for (uint32_t len : {0u, 1u, 2u, 3u}) {
    FrameDecoder d(FrameDecoder::Phase::kTyped);
    d.Append("Q"s + Be32(len) + "xxxx");
    FrameResult r = d.Next();
    EXPECT_EQ(r.kind, FrameResult::kMalformed) << len;
    EXPECT_NE(r.error.find("'Q'"), std::string::npos) << r.error;
  }
}

TEST(FrameDecoder, TypedLengthAboveTheCapIsMalformedFromTheHeaderAlone) {
  FrameDecoder d(FrameDecoder::Phase::kTyped, 1024);
  d.Append("Q"s + Be32(1025));
  EXPECT_EQ(d.Next().kind, FrameResult::kMalformed);

  FrameDecoder with_default(FrameDecoder::Phase::kTyped);
  with_default.Append("D"s + Be32(0xffffffff));
  EXPECT_EQ(with_default.Next().kind, FrameResult::kMalformed);
  FrameDecoder negative(FrameDecoder::Phase::kTyped);
  negative.Append("D"s + Be32(0x80000000));
  EXPECT_EQ(negative.Next().kind, FrameResult::kMalformed);
}

TEST(FrameDecoder, TypedLengthAtTheCapWaitsForTheBody) {
  FrameDecoder d(FrameDecoder::Phase::kTyped, 1024);
  d.Append("d"s + Be32(1024));
  EXPECT_EQ(d.Next().kind, FrameResult::kNeedMore);
  EXPECT_EQ(d.buffered(), 5u);  // nothing reserved for the declared length
  d.Append(std::string(1020, 'x'));
  FrameResult r = d.Next();
  ASSERT_EQ(r.kind, FrameResult::kFrame);
  EXPECT_EQ(r.frame.body.size(), 1020u);
}

TEST(FrameDecoder, UnprintableTypeIsNamedInHexInTheError) {
  FrameDecoder d(FrameDecoder::Phase::kTyped);
  d.Append("\x01"s + Be32(2));
  FrameResult r = d.Next();
  ASSERT_EQ(r.kind, FrameResult::kMalformed);
  EXPECT_NE(r.error.find("0x01"), std::string::npos) << r.error;
}

TEST(FrameDecoder, MalformedStaysMalformed) {
  FrameDecoder d(FrameDecoder::Phase::kTyped);
  d.Append("Q"s + Be32(1));
  EXPECT_EQ(d.Next().kind, FrameResult::kMalformed);
  d.Append(Typed('S', ""));
  EXPECT_EQ(d.Next().kind, FrameResult::kMalformed);
}

TEST(FrameDecoder, MessageAfterALargeOneStillFrames) {
  FrameDecoder d(FrameDecoder::Phase::kTyped);
  const std::string big = Typed('d', std::string(1 << 20, 'x'));
  for (size_t pos = 0; pos < big.size(); pos += 16384) d.Append(std::string_view(big).substr(pos, 16384));
  FrameResult r = d.Next();
  ASSERT_EQ(r.kind, FrameResult::kFrame);
  EXPECT_EQ(r.frame.raw.size(), big.size());
  d.Consume();
  d.Append(Typed('c', ""));
  r = d.Next();
  ASSERT_EQ(r.kind, FrameResult::kFrame);
  EXPECT_EQ(r.frame.type, 'c');
}

TEST(FrameDecoder, EmptyAppendChangesNothing) {
  FrameDecoder d(FrameDecoder::Phase::kTyped);
  d.Append("");
  EXPECT_EQ(d.Next().kind, FrameResult::kNeedMore);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameDecoder, RandomBytesNeverCrashAndFramesCoverOnlyInput) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 3000; ++round) {
    std::string input(rng() % 200, '\0');
    for (char& ch : input) ch = static_cast<char>(rng());
    // Small lengths now and then, so that some random frames complete.
    if (input.size() > 5 && rng() % 2) input.replace(1, 4, Be32(rng() % 40));
    const auto phase = rng() % 2 ? FrameDecoder::Phase::kTyped : FrameDecoder::Phase::kStartup;
    FrameDecoder d(phase, 1 + rng() % 4096);
    size_t framed = 0;
    for (size_t pos = 0; pos < input.size();) {
      const size_t n = std::min<size_t>(input.size() - pos, 1 + rng() % 16);
      d.Append(std::string_view(input).substr(pos, n));
      pos += n;
      for (;;) {
        FrameResult r = d.Next();
        if (r.kind != FrameResult::kFrame) break;
        framed += r.frame.raw.size();
        ASSERT_LE(r.frame.body.size() + 4, r.frame.raw.size());
        (void)ParseStartupPacket(r.frame.body);
        (void)ParseQuery(r.frame.body);
        (void)ParseParse(r.frame.body);
        d.Consume();
      }
    }
    ASSERT_EQ(framed + d.buffered(), input.size());
  }
}

TEST(FrameDecoder, SteadyStateFramingAllocatesNothingPerMessage) {
  std::string chunk;
  for (int i = 0; i < 400; ++i) chunk += Typed('D', Be16(1) + Be32(4) + Be32(static_cast<uint32_t>(i)));
  chunk += "D"s + Be32(20);  // a partial message at the end of each read, completed by the next
  const std::string rest = std::string(16, 'x');
  FrameDecoder d(FrameDecoder::Phase::kTyped);
  auto read_and_frame = [&](bool first) {
    if (!first) d.Append(rest);
    d.Append(chunk);
    size_t frames = 0;
    for (FrameResult r = d.Next(); r.kind == FrameResult::kFrame; r = d.Next()) {
      ++frames;
      d.Consume();
    }
    return frames;
  };
  read_and_frame(true);  // the buffer reaches its working size
  read_and_frame(false);
  const size_t before = allocations.load();
  size_t frames = 0;
  for (int round = 0; round < 100; ++round) frames += read_and_frame(false);
  EXPECT_EQ(frames, 100u * 401);
  EXPECT_EQ(allocations.load() - before, 0u);
}

// --- Query and Parse bodies --------------------------------------------------------------------

TEST(ParseQuery, ReturnsTheStringWithoutItsTerminator) {
  const std::string body = "SELECT 1; SELECT 2\0"s;  // the result views into it
  absl::StatusOr<std::string_view> q = ParseQuery(body);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(*q, "SELECT 1; SELECT 2");
  absl::StatusOr<std::string_view> empty = ParseQuery("\0"s);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
}

TEST(ParseQuery, MissingTerminatorIsAnError) {
  EXPECT_FALSE(ParseQuery("SELECT 1").ok());
  EXPECT_FALSE(ParseQuery("").ok());
}

TEST(ParseQuery, BytesAfterTheTerminatorAreAnError) {
  EXPECT_FALSE(ParseQuery("SELECT 1\0x"s).ok());
  EXPECT_FALSE(ParseQuery("SELECT 1\0\0"s).ok());
}

TEST(ParseParse, ReadsStatementAndQuery) {
  const std::string body = ParseBody("s1", "SELECT $1::int", {23, 25});
  absl::StatusOr<ParseMessage> p = ParseParse(body);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->statement, "s1");
  EXPECT_EQ(p->query, "SELECT $1::int");
}

TEST(ParseParse, UnnamedStatementWithoutParameterTypesIsValid) {
  const std::string body = ParseBody("", "SELECT 1", {});
  absl::StatusOr<ParseMessage> p = ParseParse(body);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->statement, "");
  EXPECT_EQ(p->query, "SELECT 1");
}

TEST(ParseParse, EveryTruncationIsAnError) {
  const std::string body = ParseBody("s1", "SELECT $1, $2", {23, 25});
  ASSERT_TRUE(ParseParse(body).ok());
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_FALSE(ParseParse(std::string_view(body).substr(0, n)).ok()) << "truncated to " << n;
  }
}

TEST(ParseParse, ParameterCountThatDisagreesWithTheBodyIsAnError) {
  EXPECT_FALSE(ParseParse("\0SELECT 1\0"s + Be16(2) + Be32(23)).ok());
  EXPECT_FALSE(ParseParse("\0SELECT 1\0"s + Be16(0xffff)).ok());
  EXPECT_FALSE(ParseParse("\0SELECT 1\0"s + Be16(0) + "x").ok());
  EXPECT_FALSE(ParseParse("\0SELECT 1\0"s + Be16(1) + Be32(23) + "x").ok());
}

// --- Encoding ----------------------------------------------------------------------------------

TEST(EncodeErrorResponse, WritesSeverityTwiceSqlstateAndMessageByteForByte) {
  const std::string want =
      "E"s + Be32(4 + 7 + 7 + 7 + 5 + 1) + "SFATAL\0"s + "VFATAL\0"s + "C08P01\0"s + "Mbad\0"s + "\0"s;
  EXPECT_EQ(EncodeErrorResponse("FATAL", "08P01", "bad"), want);
}

TEST(EncodeErrorResponse, FramesAsOneErrorResponse) {
  const std::string e = EncodeErrorResponse("ERROR", "42601", "syntax error at or near \"x\"");
  FrameDecoder d(FrameDecoder::Phase::kTyped);
  d.Append(e);
  FrameResult r = d.Next();
  ASSERT_EQ(r.kind, FrameResult::kFrame);
  EXPECT_EQ(r.frame.type, 'E');
  EXPECT_EQ(r.frame.body, "SERROR\0VERROR\0C42601\0Msyntax error at or near \"x\"\0\0"s);
}

TEST(EncodeErrorResponse, NulInsideAFieldEndsThatFieldSoTheMessageStaysWellFormed) {
  EXPECT_EQ(EncodeErrorResponse("FATAL", "08P01", "bad\0tail"s), EncodeErrorResponse("FATAL", "08P01", "bad"));
}

TEST(EncodeMessage, LengthCountsItselfButNotTheType) {
  EXPECT_EQ(EncodeMessage('Z', "I"), "Z\0\0\0\x05I"s);
  EXPECT_EQ(EncodeMessage('S', ""), "S\0\0\0\x04"s);
}

Frame AuthFrame(const std::string& body) { return Frame{'R', body, {}}; }

TEST(WithoutChannelBinding, DropsThePlusMechanismAndKeepsTheOthersInOrder) {
  const std::string offer = "\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"s;
  std::optional<std::string> plain = WithoutChannelBinding(AuthFrame(offer));
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(*plain, EncodeMessage('R', "\0\0\0\x0aSCRAM-SHA-256\0\0"s));
}

TEST(WithoutChannelBinding, LeavesEveryOtherMessageAlone) {
  EXPECT_FALSE(WithoutChannelBinding(AuthFrame("\0\0\0\x0aSCRAM-SHA-256\0\0"s)).has_value());       // no PLUS offered
  EXPECT_FALSE(WithoutChannelBinding(AuthFrame("\0\0\0\x00"s)).has_value());                        // AuthenticationOk
  EXPECT_FALSE(WithoutChannelBinding(AuthFrame("\0\0\0\x0bSCRAM-SHA-256-PLUS\0\0"s)).has_value());  // SASLContinue
  EXPECT_FALSE(WithoutChannelBinding(Frame{'Z', "\0\0\0\x0aSCRAM-SHA-256-PLUS\0\0"s, {}}).has_value());
  // Unterminated lists are the client's to reject, unchanged.
  EXPECT_FALSE(WithoutChannelBinding(AuthFrame("\0\0\0\x0aSCRAM-SHA-256-PLUS"s)).has_value());
  EXPECT_FALSE(WithoutChannelBinding(AuthFrame("\0\0\0"s)).has_value());
}

}  // namespace
}  // namespace pgpitr::proxy

// Out of line, so that the compiler never pairs an inlined free() with this operator new.
[[gnu::noinline]] void* operator new(std::size_t n) {
  pgpitr::proxy::allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
// The nothrow form too (std::stable_sort's buffer, for one): otherwise it comes from the sanitizers'
// allocator and goes back through the delete above, which they report as a mismatch.
[[gnu::noinline]] void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  pgpitr::proxy::allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
[[gnu::noinline]] void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
