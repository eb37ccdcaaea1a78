// Specification of the pgoutput decoder: byte-exact fixtures for every message kind (built by hand
// from PostgreSQL's documented layouts, plus bytes copied from a real PostgreSQL 15 server), the
// stream-block xid rule, caps on declared lengths, truncation at every length and random bytes.
#include "wal/pgoutput_decoder.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"

namespace pgpitr::wal {
namespace {

// Builds wire bytes the way the server writes them: big-endian integers, NUL-terminated strings.
class Bytes {
 public:
  Bytes& Byte(uint8_t value) {
    bytes_.push_back(static_cast<char>(value));
    return *this;
  }
  Bytes& Char(char value) {
    bytes_.push_back(value);
    return *this;
  }
  Bytes& Int16(uint64_t value) { return BigEndian(value, 2); }
  Bytes& Int32(uint64_t value) { return BigEndian(value, 4); }
  Bytes& Int64(uint64_t value) { return BigEndian(value, 8); }
  Bytes& String(std::string_view value) {
    bytes_.append(value);
    bytes_.push_back('\0');
    return *this;
  }
  Bytes& Raw(std::string_view value) {
    bytes_.append(value);
    return *this;
  }
  // A change message: its type, the xid only when inside a stream block, then the body.
  Bytes& Message(char type, std::optional<uint32_t> xid, std::string_view body) {
    Char(type);
    if (xid) Int32(*xid);
    return Raw(body);
  }
  std::string str() const { return bytes_; }

 private:
  Bytes& BigEndian(uint64_t value, int width) {
    for (int shift = (width - 1) * 8; shift >= 0; shift -= 8) {
      bytes_.push_back(static_cast<char>((value >> shift) & 0xff));
    }
    return *this;
  }

  std::string bytes_;
};

std::string FromHex(std::string_view hex) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
  }
  return out;
}

template <typename T>
size_t KindOf() {
  return PgoutputMessage(std::in_place_type<T>).index();
}

// Distinct bytes in every field, so a swapped or mis-ordered field cannot decode to the same value.
constexpr uint32_t kXid = 743;
constexpr uint32_t kSubxid = 744;
constexpr uint32_t kRelid = 16389;
constexpr uint32_t kTypeOid = 16385;
constexpr uint64_t kFinalLsn = 0x0000'0016'B374'D848;
constexpr uint64_t kCommitLsn = 0x0000'0016'B374'D848;
constexpr uint64_t kEndLsn = 0x0000'0016'B374'D878;
constexpr pg::PgTime kCommitTime = 0x0002'D5A8'1234'5678;
constexpr int32_t kNumericTypmod = (10 << 16 | 2) + 4;  // numeric(10,2)

std::string StreamStartBytes(uint32_t xid = kXid, uint8_t first_segment = 1) {
  return Bytes().Char('S').Int32(xid).Byte(first_segment).str();
}

std::string BeginBytes() { return Bytes().Char('B').Int64(kFinalLsn).Int64(kCommitTime).Int32(kXid).str(); }

std::string CommitBytes() {
  return Bytes().Char('C').Byte(0).Int64(kCommitLsn).Int64(kEndLsn).Int64(kCommitTime).str();
}

std::string OriginBytes() { return Bytes().Char('O').Int64(0xABCDEF01).String("upstream").str(); }

std::string RelationBody() {
  // One line per field group, as on the wire.
  // clang-format off
  return Bytes()
      .Int32(kRelid)
      .String("public")
      .String("accounts")
      .Char('d')
      .Int16(2)
      .Byte(1).String("id").Int32(23).Int32(-1)
      .Byte(0).String("balance").Int32(1700).Int32(kNumericTypmod)
      .str();
  // clang-format on
}

std::string TypeBody() { return Bytes().Int32(kTypeOid).String("public").String("mood").str(); }

// One column of every kind; the binary value holds NUL bytes on purpose.
std::string AllKindsTuple() {
  // One line per field group, as on the wire.
  // clang-format off
  return Bytes()
      .Int16(4)
      .Char('t').Int32(2).Raw("42")
      .Char('n')
      .Char('u')
      .Char('b').Int32(4).Raw(std::string_view("\0\0\0\x2a", 4))
      .str();
  // clang-format on
}

std::string OldTuple() { return Bytes().Int16(2).Char('t').Int32(1).Raw("1").Char('n').str(); }
std::string NewTuple() { return Bytes().Int16(2).Char('t').Int32(1).Raw("2").Char('t').Int32(1).Raw("b").str(); }

std::string InsertBody() { return Bytes().Int32(kRelid).Char('N').Raw(AllKindsTuple()).str(); }

// old_kind '\0' means no old tuple.
std::string UpdateBody(char old_kind) {
  Bytes b;
  b.Int32(kRelid);
  if (old_kind != '\0') b.Char(old_kind).Raw(OldTuple());
  return b.Char('N').Raw(NewTuple()).str();
}

std::string DeleteBody(char old_kind) { return Bytes().Int32(kRelid).Char(old_kind).Raw(OldTuple()).str(); }

std::string TruncateBody() { return Bytes().Int32(2).Byte(3).Int32(kRelid).Int32(kRelid + 1).str(); }

std::string MessageBody(bool transactional, std::string_view content) {
  return Bytes().Byte(transactional ? 1 : 0).Int64(0x1544AC0).String("pfx").Int32(content.size()).Raw(content).str();
}

std::string StreamCommitBytes() {
  return Bytes().Char('c').Int32(kXid).Byte(0).Int64(kCommitLsn).Int64(kEndLsn).Int64(kCommitTime).str();
}

std::string StreamAbortBytes() { return Bytes().Char('A').Int32(kXid).Int32(kSubxid).str(); }

// The proto_version 4 form a parallel-streaming server sends: abort LSN and abort time follow.
std::string StreamAbortWithAbortInfoBytes() {
  return Bytes().Raw(StreamAbortBytes()).Int64(0x15A9A98).Int64(kCommitTime).str();
}

// Decodes and expects success, failing the test (not crashing) otherwise.
template <typename T>
T DecodeAs(PgoutputDecoder& decoder, std::string_view bytes) {
  absl::StatusOr<PgoutputMessage> result = decoder.Decode(bytes);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok() || !std::holds_alternative<T>(*result)) {
    ADD_FAILURE() << "decoded to alternative " << (result.ok() ? result->index() : 0);
    return T{};
  }
  return std::get<T>(*std::move(result));
}

PgoutputDecoder DecoderInStreamBlock(int proto_version = 2) {
  PgoutputDecoder decoder(proto_version);
  EXPECT_TRUE(decoder.Decode(StreamStartBytes()).ok());
  EXPECT_TRUE(decoder.in_stream_block());
  return decoder;
}

void ExpectInvalid(const absl::StatusOr<PgoutputMessage>& result) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
}

TupleColumn Text(std::string value) { return {ColumnKind::kText, std::move(value)}; }
TupleColumn Binary(std::string value) { return {ColumnKind::kBinary, std::move(value)}; }
TupleColumn Null() { return {ColumnKind::kNull, ""}; }
TupleColumn Unchanged() { return {ColumnKind::kUnchangedToast, ""}; }

// --- Every message kind, field by field ---

TEST(PgoutputDecoder, BeginFieldsAreBigEndian) {
  PgoutputDecoder decoder(1);
  const auto m = DecodeAs<BeginMessage>(decoder, BeginBytes());
  EXPECT_EQ(m.final_lsn, pg::Lsn(kFinalLsn));
  EXPECT_EQ(m.commit_time, kCommitTime);
  EXPECT_EQ(m.xid, kXid);
}

TEST(PgoutputDecoder, CommitFields) {
  PgoutputDecoder decoder(1);
  const auto m = DecodeAs<CommitMessage>(decoder, CommitBytes());
  EXPECT_EQ(m.flags, 0);
  EXPECT_EQ(m.commit_lsn, pg::Lsn(kCommitLsn));
  EXPECT_EQ(m.end_lsn, pg::Lsn(kEndLsn));
  EXPECT_EQ(m.commit_time, kCommitTime);
}

TEST(PgoutputDecoder, OriginFields) {
  PgoutputDecoder decoder(1);
  const auto m = DecodeAs<OriginMessage>(decoder, OriginBytes());
  EXPECT_EQ(m.origin_commit_lsn, pg::Lsn(0xABCDEF01));
  EXPECT_EQ(m.name, "upstream");
}

TEST(PgoutputDecoder, RelationFieldsAndColumns) {
  PgoutputDecoder decoder(1);
  const auto m = DecodeAs<RelationMessage>(decoder, Bytes().Message('R', {}, RelationBody()).str());
  EXPECT_EQ(m.xid, std::nullopt);
  EXPECT_EQ(m.relid, kRelid);
  EXPECT_EQ(m.namespace_name, "public");
  EXPECT_EQ(m.relation_name, "accounts");
  EXPECT_EQ(m.replica_identity, 'd');
  EXPECT_EQ(m.columns, (std::vector<RelationColumn>{{true, "id", 23, -1}, {false, "balance", 1700, kNumericTypmod}}));
}

TEST(PgoutputDecoder, RelationInPgCatalogHasEmptyNamespace) {
  PgoutputDecoder decoder(1);
  const std::string bytes = Bytes().Char('R').Int32(1259).String("").String("pg_class").Char('n').Int16(0).str();
  const auto m = DecodeAs<RelationMessage>(decoder, bytes);
  EXPECT_EQ(m.namespace_name, "");
  EXPECT_EQ(m.relation_name, "pg_class");
  EXPECT_EQ(m.replica_identity, 'n');
  EXPECT_TRUE(m.columns.empty());
}

TEST(PgoutputDecoder, TypeFields) {
  PgoutputDecoder decoder(1);
  const auto m = DecodeAs<TypeMessage>(decoder, Bytes().Message('Y', {}, TypeBody()).str());
  EXPECT_EQ(m.xid, std::nullopt);
  EXPECT_EQ(m.type_oid, kTypeOid);
  EXPECT_EQ(m.namespace_name, "public");
  EXPECT_EQ(m.type_name, "mood");
}

TEST(PgoutputDecoder, InsertDecodesEveryColumnKind) {
  PgoutputDecoder decoder(1);
  const auto m = DecodeAs<InsertMessage>(decoder, Bytes().Message('I', {}, InsertBody()).str());
  EXPECT_EQ(m.xid, std::nullopt);
  EXPECT_EQ(m.relid, kRelid);
  EXPECT_EQ(m.new_tuple, (TupleData{Text("42"), Null(), Unchanged(), Binary(std::string("\0\0\0\x2a", 4))}));
}

TEST(PgoutputDecoder, UnchangedToastColumnIsNotNull) {
  PgoutputDecoder decoder(1);
  const std::string bytes = Bytes().Char('U').Int32(kRelid).Char('N').Int16(2).Char('n').Char('u').str();
  const auto m = DecodeAs<UpdateMessage>(decoder, bytes);
  ASSERT_EQ(m.new_tuple.size(), 2u);
  EXPECT_EQ(m.new_tuple[0].kind, ColumnKind::kNull);
  EXPECT_EQ(m.new_tuple[1].kind, ColumnKind::kUnchangedToast);
  EXPECT_NE(m.new_tuple[1], m.new_tuple[0]);
  EXPECT_EQ(m.new_tuple[1].value, "");
}

TEST(PgoutputDecoder, BinaryColumnKeepsEmbeddedNulBytes) {
  PgoutputDecoder decoder(1);
  const std::string value("a\0b\0", 4);
  const std::string bytes = Bytes().Char('I').Int32(kRelid).Char('N').Int16(1).Char('b').Int32(4).Raw(value).str();
  EXPECT_EQ(DecodeAs<InsertMessage>(decoder, bytes).new_tuple, TupleData{Binary(value)});
}

TEST(PgoutputDecoder, EmptyTextColumnIsNotNull) {
  PgoutputDecoder decoder(1);
  const std::string bytes = Bytes().Char('I').Int32(kRelid).Char('N').Int16(1).Char('t').Int32(0).str();
  EXPECT_EQ(DecodeAs<InsertMessage>(decoder, bytes).new_tuple, TupleData{Text("")});
}

TEST(PgoutputDecoder, TupleWithNoColumnsDecodes) {
  PgoutputDecoder decoder(1);
  const std::string bytes = Bytes().Char('I').Int32(kRelid).Char('N').Int16(0).str();
  EXPECT_TRUE(DecodeAs<InsertMessage>(decoder, bytes).new_tuple.empty());
}

TEST(PgoutputDecoder, UpdateWithoutOldTuple) {
  PgoutputDecoder decoder(1);
  const auto m = DecodeAs<UpdateMessage>(decoder, Bytes().Message('U', {}, UpdateBody('\0')).str());
  EXPECT_EQ(m.relid, kRelid);
  EXPECT_EQ(m.old_kind, '\0');
  EXPECT_TRUE(m.old_tuple.empty());
  EXPECT_EQ(m.new_tuple, (TupleData{Text("2"), Text("b")}));
}

TEST(PgoutputDecoder, UpdateWithOldKey) {
  PgoutputDecoder decoder(1);
  const auto m = DecodeAs<UpdateMessage>(decoder, Bytes().Message('U', {}, UpdateBody('K')).str());
  EXPECT_EQ(m.old_kind, 'K');
  EXPECT_EQ(m.old_tuple, (TupleData{Text("1"), Null()}));
  EXPECT_EQ(m.new_tuple, (TupleData{Text("2"), Text("b")}));
}

TEST(PgoutputDecoder, UpdateWithOldRow) {
  PgoutputDecoder decoder(1);
  const auto m = DecodeAs<UpdateMessage>(decoder, Bytes().Message('U', {}, UpdateBody('O')).str());
  EXPECT_EQ(m.old_kind, 'O');
  EXPECT_EQ(m.old_tuple, (TupleData{Text("1"), Null()}));
  EXPECT_EQ(m.new_tuple, (TupleData{Text("2"), Text("b")}));
}

TEST(PgoutputDecoder, DeleteWithOldKey) {
  PgoutputDecoder decoder(1);
  const auto m = DecodeAs<DeleteMessage>(decoder, Bytes().Message('D', {}, DeleteBody('K')).str());
  EXPECT_EQ(m.relid, kRelid);
  EXPECT_EQ(m.old_kind, 'K');
  EXPECT_EQ(m.old_tuple, (TupleData{Text("1"), Null()}));
}

TEST(PgoutputDecoder, DeleteWithOldRow) {
  PgoutputDecoder decoder(1);
  const auto m = DecodeAs<DeleteMessage>(decoder, Bytes().Message('D', {}, DeleteBody('O')).str());
  EXPECT_EQ(m.old_kind, 'O');
  EXPECT_EQ(m.old_tuple, (TupleData{Text("1"), Null()}));
}

TEST(PgoutputDecoder, TruncateOptionsAndRelations) {
  PgoutputDecoder decoder(1);
  const auto m = DecodeAs<TruncateMessage>(decoder, Bytes().Message('T', {}, TruncateBody()).str());
  EXPECT_EQ(m.xid, std::nullopt);
  EXPECT_EQ(m.options, 3);  // CASCADE | RESTART IDENTITY
  EXPECT_EQ(m.relids, (std::vector<uint32_t>{kRelid, kRelid + 1}));
}

TEST(PgoutputDecoder, TransactionalMessage) {
  PgoutputDecoder decoder(1);
  const auto m = DecodeAs<LogicalMessage>(decoder, Bytes().Message('M', {}, MessageBody(true, "hello")).str());
  EXPECT_EQ(m.xid, std::nullopt);
  EXPECT_TRUE(m.transactional);
  EXPECT_EQ(m.lsn, pg::Lsn(0x1544AC0));
  EXPECT_EQ(m.prefix, "pfx");
  EXPECT_EQ(m.content, "hello");
}

TEST(PgoutputDecoder, NonTransactionalMessageOutsideStreamBlockHasNoXid) {
  PgoutputDecoder decoder(2);
  const std::string content("a\0b", 3);
  const auto m = DecodeAs<LogicalMessage>(decoder, Bytes().Message('M', {}, MessageBody(false, content)).str());
  EXPECT_EQ(m.xid, std::nullopt);
  EXPECT_FALSE(m.transactional);
  EXPECT_EQ(m.content, content);
}

TEST(PgoutputDecoder, StreamStartEntersBlockAndStreamStopLeavesIt) {
  PgoutputDecoder decoder(2);
  EXPECT_FALSE(decoder.in_stream_block());
  const auto start = DecodeAs<StreamStartMessage>(decoder, StreamStartBytes(kXid, 1));
  EXPECT_EQ(start.xid, kXid);
  EXPECT_TRUE(start.first_segment);
  EXPECT_TRUE(decoder.in_stream_block());
  DecodeAs<StreamStopMessage>(decoder, "E");
  EXPECT_FALSE(decoder.in_stream_block());
  EXPECT_FALSE(DecodeAs<StreamStartMessage>(decoder, StreamStartBytes(kXid, 0)).first_segment);
}

TEST(PgoutputDecoder, StreamCommitFields) {
  PgoutputDecoder decoder(2);
  const auto m = DecodeAs<StreamCommitMessage>(decoder, StreamCommitBytes());
  EXPECT_EQ(m.xid, kXid);
  EXPECT_EQ(m.flags, 0);
  EXPECT_EQ(m.commit_lsn, pg::Lsn(kCommitLsn));
  EXPECT_EQ(m.end_lsn, pg::Lsn(kEndLsn));
  EXPECT_EQ(m.commit_time, kCommitTime);
}

TEST(PgoutputDecoder, StreamAbortFields) {
  PgoutputDecoder decoder(2);
  const auto m = DecodeAs<StreamAbortMessage>(decoder, StreamAbortBytes());
  EXPECT_EQ(m.xid, kXid);
  EXPECT_EQ(m.subxid, kSubxid);
}

TEST(PgoutputDecoder, StreamAbortWithAbortLsnAndTimeIsAcceptedFromProtoVersion4) {
  PgoutputDecoder v4(4);
  const auto m = DecodeAs<StreamAbortMessage>(v4, StreamAbortWithAbortInfoBytes());
  EXPECT_EQ(m.xid, kXid);
  EXPECT_EQ(m.subxid, kSubxid);
  // A v4 server not streaming in parallel still sends the short form.
  EXPECT_EQ(DecodeAs<StreamAbortMessage>(v4, StreamAbortBytes()).subxid, kSubxid);

  PgoutputDecoder v3(3);
  ExpectInvalid(v3.Decode(StreamAbortWithAbortInfoBytes()));
  PgoutputDecoder v2(2);
  ExpectInvalid(v2.Decode(StreamAbortWithAbortInfoBytes()));
}

TEST(PgoutputDecoder, StreamAbortWithPartialAbortInfoIsMalformed) {
  PgoutputDecoder decoder(4);
  ExpectInvalid(decoder.Decode(Bytes().Raw(StreamAbortBytes()).Int64(0x15A9A98).str()));
  ExpectInvalid(decoder.Decode(Bytes().Raw(StreamAbortWithAbortInfoBytes()).Byte(0).str()));
}

// --- The xid rule: inside Stream Start..Stream Stop, change messages lead with an Int32 xid ---

struct ChangeKind {
  char type;
  std::string body;
};

class ChangeMessageXid : public testing::TestWithParam<ChangeKind> {};

std::optional<uint32_t> XidOf(const PgoutputMessage& message) {
  return std::visit(
      [](const auto& m) -> std::optional<uint32_t> {
        if constexpr (requires { m.xid; }) {
          if constexpr (std::is_same_v<std::decay_t<decltype(m.xid)>, std::optional<uint32_t>>) {
            return m.xid;
          }
        }
        return std::nullopt;
      },
      message);
}

TEST_P(ChangeMessageXid, CarriesXidInsideStreamBlock) {
  PgoutputDecoder decoder = DecoderInStreamBlock();
  absl::StatusOr<PgoutputMessage> result =
      decoder.Decode(Bytes().Message(GetParam().type, kXid, GetParam().body).str());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(XidOf(*result), kXid);
  EXPECT_TRUE(decoder.in_stream_block());
}

TEST_P(ChangeMessageXid, HasNoXidOutsideStreamBlock) {
  for (int proto_version = 1; proto_version <= 4; ++proto_version) {
    PgoutputDecoder decoder(proto_version);
    absl::StatusOr<PgoutputMessage> result =
        decoder.Decode(Bytes().Message(GetParam().type, {}, GetParam().body).str());
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(XidOf(*result), std::nullopt);
  }
}

TEST_P(ChangeMessageXid, InsideAndOutsideDecodeToTheSameFields) {
  PgoutputDecoder outside(2);
  PgoutputDecoder inside = DecoderInStreamBlock();
  absl::StatusOr<PgoutputMessage> a = outside.Decode(Bytes().Message(GetParam().type, {}, GetParam().body).str());
  absl::StatusOr<PgoutputMessage> b = inside.Decode(Bytes().Message(GetParam().type, kXid, GetParam().body).str());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->index(), b->index());
  // The xid is the only difference; spot-check the fields that follow it.
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        const T& y = std::get<T>(*b);
        if constexpr (std::is_same_v<T, InsertMessage>) {
          EXPECT_EQ(x.relid, y.relid);
          EXPECT_EQ(x.new_tuple, y.new_tuple);
        } else if constexpr (std::is_same_v<T, UpdateMessage>) {
          EXPECT_EQ(x.old_kind, y.old_kind);
          EXPECT_EQ(x.old_tuple, y.old_tuple);
          EXPECT_EQ(x.new_tuple, y.new_tuple);
        } else if constexpr (std::is_same_v<T, DeleteMessage>) {
          EXPECT_EQ(x.old_tuple, y.old_tuple);
        } else if constexpr (std::is_same_v<T, RelationMessage>) {
          EXPECT_EQ(x.columns, y.columns);
        } else if constexpr (std::is_same_v<T, TypeMessage>) {
          EXPECT_EQ(x.type_name, y.type_name);
        } else if constexpr (std::is_same_v<T, TruncateMessage>) {
          EXPECT_EQ(x.relids, y.relids);
        } else if constexpr (std::is_same_v<T, LogicalMessage>) {
          EXPECT_EQ(x.content, y.content);
          EXPECT_EQ(x.transactional, y.transactional);
        }
      },
      *a);
}

INSTANTIATE_TEST_SUITE_P(PgoutputDecoder, ChangeMessageXid,
                         testing::Values(ChangeKind{'R', RelationBody()}, ChangeKind{'Y', TypeBody()},
                                         ChangeKind{'I', InsertBody()}, ChangeKind{'U', UpdateBody('\0')},
                                         ChangeKind{'U', UpdateBody('K')}, ChangeKind{'U', UpdateBody('O')},
                                         ChangeKind{'D', DeleteBody('K')}, ChangeKind{'D', DeleteBody('O')},
                                         ChangeKind{'T', TruncateBody()}, ChangeKind{'M', MessageBody(true, "t")},
                                         ChangeKind{'M', MessageBody(false, "nt")}),
                         [](const testing::TestParamInfo<ChangeKind>& info) {
                           return std::string(1, info.param.type) + "_" + std::to_string(info.index);
                         });

TEST(PgoutputDecoder, OriginInsideStreamBlockHasNoXid) {
  PgoutputDecoder decoder = DecoderInStreamBlock();
  EXPECT_EQ(DecodeAs<OriginMessage>(decoder, OriginBytes()).name, "upstream");
}

// --- Stream block bookkeeping ---

TEST(PgoutputDecoder, StreamStartInsideBlockIsMalformed) {
  PgoutputDecoder decoder = DecoderInStreamBlock();
  ExpectInvalid(decoder.Decode(StreamStartBytes()));
  EXPECT_TRUE(decoder.in_stream_block());
}

TEST(PgoutputDecoder, StreamStopOutsideBlockIsMalformed) {
  PgoutputDecoder decoder(2);
  ExpectInvalid(decoder.Decode("E"));
  EXPECT_FALSE(decoder.in_stream_block());
}

TEST(PgoutputDecoder, TransactionBoundariesInsideStreamBlockAreMalformed) {
  for (const std::string& bytes : {BeginBytes(), CommitBytes(), StreamCommitBytes(), StreamAbortBytes()}) {
    PgoutputDecoder decoder = DecoderInStreamBlock();
    ExpectInvalid(decoder.Decode(bytes));
    EXPECT_TRUE(decoder.in_stream_block());
  }
}

TEST(PgoutputDecoder, FailedDecodeLeavesStreamBlockStateUnchanged) {
  PgoutputDecoder outside(2);
  ExpectInvalid(outside.Decode(StreamStartBytes().substr(0, 3)));            // truncated Stream Start
  ExpectInvalid(outside.Decode(StreamStartBytes() + std::string(1, '\0')));  // trailing byte
  EXPECT_FALSE(outside.in_stream_block());

  PgoutputDecoder inside = DecoderInStreamBlock();
  ExpectInvalid(inside.Decode("E?"));  // Stream Stop with a trailing byte
  EXPECT_TRUE(inside.in_stream_block());
  ExpectInvalid(inside.Decode(Bytes().Char('I').Int32(kXid).Int32(kRelid).Char('N').str()));
  EXPECT_TRUE(inside.in_stream_block());
  DecodeAs<StreamStopMessage>(inside, "E");
  EXPECT_FALSE(inside.in_stream_block());
}

class StreamMessageBeforeProtoVersion2 : public testing::TestWithParam<std::string> {};

TEST_P(StreamMessageBeforeProtoVersion2, IsAnError) {
  PgoutputDecoder decoder(1);
  absl::StatusOr<PgoutputMessage> result = decoder.Decode(GetParam());
  ExpectInvalid(result);
  EXPECT_NE(result.status().message().find("proto_version"), std::string_view::npos) << result.status();
  EXPECT_FALSE(decoder.in_stream_block());
}

INSTANTIATE_TEST_SUITE_P(PgoutputDecoder, StreamMessageBeforeProtoVersion2,
                         testing::Values(StreamStartBytes(), std::string("E"), StreamCommitBytes(), StreamAbortBytes()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return std::string("type_") + info.param[0];
                         });

// --- Two-phase messages are not negotiated by pgpitr ---

class TwoPhaseMessage : public testing::TestWithParam<char> {};

TEST_P(TwoPhaseMessage, IsNotSupported) {
  for (int proto_version = 1; proto_version <= 4; ++proto_version) {
    PgoutputDecoder decoder(proto_version);
    // A plausible body: flags, two LSNs, a time, an xid and a gid.
    const std::string bytes = Bytes().Char(GetParam()).Byte(0).Int64(1).Int64(2).Int64(3).Int32(kXid).String("g").str();
    absl::StatusOr<PgoutputMessage> result = decoder.Decode(bytes);
    ExpectInvalid(result);
    EXPECT_NE(result.status().message().find("two-phase"), std::string_view::npos);
    EXPECT_NE(result.status().message().find("not enabled"), std::string_view::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(PgoutputDecoder, TwoPhaseMessage, testing::Values('b', 'P', 'K', 'r', 'p'),
                         [](const testing::TestParamInfo<char>& info) { return std::string("type_") + info.param; });

// --- Malformed input ---

TEST(PgoutputDecoder, EmptyMessageIsAnError) {
  PgoutputDecoder decoder(2);
  ExpectInvalid(decoder.Decode(""));
}

TEST(PgoutputDecoder, UnknownMessageTypeIsAnError) {
  PgoutputDecoder decoder(4);
  for (const std::string& bytes :
       {std::string("Z"), std::string(1, '\0'), std::string("\xff"), std::string("w\0\0\0", 4)}) {
    ExpectInvalid(decoder.Decode(bytes));
  }
}

TEST(PgoutputDecoder, ErrorNamesMessageTypeColumnAndOffset) {
  PgoutputDecoder decoder(1);
  // 'I', relid (1-4), 'N' (5), count (6-7), column 0 at 8-14, column 1 at 15 declares 10 bytes.
  // One line per field group, as on the wire.
  // clang-format off
  const std::string bytes = Bytes()
                                .Char('I').Int32(kRelid).Char('N').Int16(2)
                                .Char('t').Int32(2).Raw("42")
                                .Char('t').Int32(10).Raw("abc")
                                .str();
  // clang-format on
  absl::StatusOr<PgoutputMessage> result = decoder.Decode(bytes);
  ExpectInvalid(result);
  EXPECT_EQ(result.status().message(), "malformed pgoutput Insert message: truncated tuple column 1 at offset 15");
}

TEST(PgoutputDecoder, TrailingBytesAreMalformed) {
  PgoutputDecoder decoder(1);
  absl::StatusOr<PgoutputMessage> result = decoder.Decode(BeginBytes() + "xy");
  ExpectInvalid(result);
  EXPECT_EQ(result.status().message(), "malformed pgoutput Begin message: 2 trailing bytes at offset 21");
}

TEST(PgoutputDecoder, ColumnLengthLargerThanTheRestIsMalformed) {
  PgoutputDecoder decoder(1);
  for (uint32_t len : {4u, 0x7fffffffu, 0x80000000u, 0xffffffffu}) {
    const std::string bytes = Bytes().Char('I').Int32(kRelid).Char('N').Int16(1).Char('t').Int32(len).Raw("abc").str();
    ExpectInvalid(decoder.Decode(bytes));
    const std::string binary = Bytes().Char('I').Int32(kRelid).Char('N').Int16(1).Char('b').Int32(len).Raw("abc").str();
    ExpectInvalid(decoder.Decode(binary));
  }
}

TEST(PgoutputDecoder, ColumnCountLargerThanTheRestIsMalformed) {
  PgoutputDecoder decoder(1);
  // 0xffff columns declared, three bytes left: rejected before anything is allocated for them.
  const std::string bytes = Bytes().Char('I').Int32(kRelid).Char('N').Int16(0xffff).Char('n').Char('n').Char('n').str();
  absl::StatusOr<PgoutputMessage> result = decoder.Decode(bytes);
  ExpectInvalid(result);
  EXPECT_NE(result.status().message().find("column count 65535"), std::string_view::npos) << result.status();
}

TEST(PgoutputDecoder, RelationColumnCountLargerThanTheRestIsMalformed) {
  PgoutputDecoder decoder(1);
  // One line per field group, as on the wire.
  // clang-format off
  const std::string bytes = Bytes()
                                .Char('R').Int32(kRelid).String("public").String("t").Char('d')
                                .Int16(0xffff).Byte(1).String("id").Int32(23).Int32(-1)
                                .str();
  // clang-format on
  ExpectInvalid(decoder.Decode(bytes));
}

TEST(PgoutputDecoder, TruncateRelationCountLargerThanTheRestIsMalformed) {
  PgoutputDecoder decoder(1);
  for (uint32_t count : {2u, 0x40000000u, 0xffffffffu}) {
    ExpectInvalid(decoder.Decode(Bytes().Char('T').Int32(count).Byte(0).Int32(kRelid).str()));
  }
}

TEST(PgoutputDecoder, MessageContentLengthLargerThanTheRestIsMalformed) {
  PgoutputDecoder decoder(1);
  for (uint32_t len : {6u, 0x7fffffffu, 0xffffffffu}) {
    const std::string bytes = Bytes().Char('M').Byte(1).Int64(1).String("p").Int32(len).Raw("hello").str();
    ExpectInvalid(decoder.Decode(bytes));
  }
}

TEST(PgoutputDecoder, UnknownColumnKindIsMalformed) {
  PgoutputDecoder decoder(1);
  ExpectInvalid(decoder.Decode(Bytes().Char('I').Int32(kRelid).Char('N').Int16(1).Char('x').str()));
}

TEST(PgoutputDecoder, UnterminatedStringIsMalformed) {
  PgoutputDecoder decoder(1);
  ExpectInvalid(decoder.Decode(Bytes().Char('O').Int64(1).Raw("upstream").str()));
}

TEST(PgoutputDecoder, WrongTupleMarkersAreMalformed) {
  PgoutputDecoder decoder(1);
  // Insert needs 'N'; Update needs 'K', 'O' or 'N', then 'N'; Delete needs 'K' or 'O'.
  ExpectInvalid(decoder.Decode(Bytes().Char('I').Int32(kRelid).Char('K').Raw(NewTuple()).str()));
  ExpectInvalid(decoder.Decode(Bytes().Char('U').Int32(kRelid).Char('X').Raw(NewTuple()).str()));
  ExpectInvalid(
      decoder.Decode(Bytes().Char('U').Int32(kRelid).Char('K').Raw(OldTuple()).Char('O').Raw(NewTuple()).str()));
  ExpectInvalid(decoder.Decode(Bytes().Char('U').Int32(kRelid).Char('K').Raw(OldTuple()).str()));
  ExpectInvalid(decoder.Decode(Bytes().Char('D').Int32(kRelid).Char('N').Raw(OldTuple()).str()));
}

TEST(PgoutputDecoder, UnknownReplicaIdentityIsMalformed) {
  PgoutputDecoder decoder(1);
  const std::string bytes = Bytes().Char('R').Int32(kRelid).String("public").String("t").Char('x').Int16(0).str();
  ExpectInvalid(decoder.Decode(bytes));
}

// --- Every message kind, table-driven: whole, truncated at every length, with a trailing byte ---

struct Fixture {
  std::string name;
  int proto_version;
  bool in_stream_block;
  std::string bytes;
  size_t kind;
  // A shorter prefix that is itself a whole message (the v4 Stream Abort's short form).
  std::optional<size_t> also_whole_at = std::nullopt;
};

std::vector<Fixture> AllFixtures() {
  std::vector<Fixture> f = {
      {"Begin", 1, false, BeginBytes(), KindOf<BeginMessage>()},
      {"Commit", 1, false, CommitBytes(), KindOf<CommitMessage>()},
      {"Origin", 1, false, OriginBytes(), KindOf<OriginMessage>()},
      {"Relation", 1, false, Bytes().Message('R', {}, RelationBody()).str(), KindOf<RelationMessage>()},
      {"Type", 1, false, Bytes().Message('Y', {}, TypeBody()).str(), KindOf<TypeMessage>()},
      {"InsertAllColumnKinds", 1, false, Bytes().Message('I', {}, InsertBody()).str(), KindOf<InsertMessage>()},
      {"UpdateNoOld", 1, false, Bytes().Message('U', {}, UpdateBody('\0')).str(), KindOf<UpdateMessage>()},
      {"UpdateOldKey", 1, false, Bytes().Message('U', {}, UpdateBody('K')).str(), KindOf<UpdateMessage>()},
      {"UpdateOldRow", 1, false, Bytes().Message('U', {}, UpdateBody('O')).str(), KindOf<UpdateMessage>()},
      {"DeleteOldKey", 1, false, Bytes().Message('D', {}, DeleteBody('K')).str(), KindOf<DeleteMessage>()},
      {"DeleteOldRow", 1, false, Bytes().Message('D', {}, DeleteBody('O')).str(), KindOf<DeleteMessage>()},
      {"Truncate", 1, false, Bytes().Message('T', {}, TruncateBody()).str(), KindOf<TruncateMessage>()},
      {"MessageTransactional", 1, false, Bytes().Message('M', {}, MessageBody(true, "hi")).str(),
       KindOf<LogicalMessage>()},
      {"MessageNonTransactional", 1, false, Bytes().Message('M', {}, MessageBody(false, "hi")).str(),
       KindOf<LogicalMessage>()},
      {"StreamStart", 2, false, StreamStartBytes(), KindOf<StreamStartMessage>()},
      {"StreamStop", 2, true, "E", KindOf<StreamStopMessage>()},
      {"StreamCommit", 2, false, StreamCommitBytes(), KindOf<StreamCommitMessage>()},
      {"StreamAbort", 2, false, StreamAbortBytes(), KindOf<StreamAbortMessage>()},
      {"StreamAbortV4WithAbortInfo", 4, false, StreamAbortWithAbortInfoBytes(), KindOf<StreamAbortMessage>(),
       StreamAbortBytes().size()},
      {"OriginInStreamBlock", 2, true, OriginBytes(), KindOf<OriginMessage>()},
      {"RelationInStreamBlock", 2, true, Bytes().Message('R', kXid, RelationBody()).str(), KindOf<RelationMessage>()},
      {"TypeInStreamBlock", 2, true, Bytes().Message('Y', kXid, TypeBody()).str(), KindOf<TypeMessage>()},
      {"InsertInStreamBlock", 3, true, Bytes().Message('I', kXid, InsertBody()).str(), KindOf<InsertMessage>()},
      {"UpdateOldKeyInStreamBlock", 4, true, Bytes().Message('U', kXid, UpdateBody('K')).str(),
       KindOf<UpdateMessage>()},
      {"DeleteOldRowInStreamBlock", 2, true, Bytes().Message('D', kXid, DeleteBody('O')).str(),
       KindOf<DeleteMessage>()},
      {"TruncateInStreamBlock", 2, true, Bytes().Message('T', kXid, TruncateBody()).str(), KindOf<TruncateMessage>()},
      {"MessageInStreamBlock", 2, true, Bytes().Message('M', kXid, MessageBody(true, "s")).str(),
       KindOf<LogicalMessage>()},
  };
  return f;
}

class EveryMessageKind : public testing::TestWithParam<Fixture> {
 protected:
  PgoutputDecoder MakeDecoder() const {
    return GetParam().in_stream_block ? DecoderInStreamBlock(GetParam().proto_version)
                                      : PgoutputDecoder(GetParam().proto_version);
  }
};

TEST_P(EveryMessageKind, DecodesWhole) {
  PgoutputDecoder decoder = MakeDecoder();
  absl::StatusOr<PgoutputMessage> result = decoder.Decode(GetParam().bytes);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->index(), GetParam().kind);
  const char type = GetParam().bytes[0];
  const bool in_block_after = type == 'S' || (GetParam().in_stream_block && type != 'E');
  EXPECT_EQ(decoder.in_stream_block(), in_block_after);
}

TEST_P(EveryMessageKind, TruncatedAtEveryLengthIsAnError) {
  PgoutputDecoder decoder = MakeDecoder();
  const std::string& bytes = GetParam().bytes;
  for (size_t len = 0; len < bytes.size(); ++len) {
    if (GetParam().also_whole_at == len) continue;
    // A copy of exactly len bytes, so reading past the end is caught by sanitizers.
    const std::string prefix = bytes.substr(0, len);
    absl::StatusOr<PgoutputMessage> result = decoder.Decode(prefix);
    ASSERT_FALSE(result.ok()) << "decoded a " << len << "-byte prefix";
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(decoder.in_stream_block(), GetParam().in_stream_block);
  }
}

TEST_P(EveryMessageKind, TrailingByteIsAnError) {
  PgoutputDecoder decoder = MakeDecoder();
  ExpectInvalid(decoder.Decode(GetParam().bytes + std::string(1, '\0')));
  EXPECT_EQ(decoder.in_stream_block(), GetParam().in_stream_block);
}

TEST_P(EveryMessageKind, MutatedBytesNeverCrash) {
  std::mt19937 rng(0x5eed + static_cast<uint32_t>(GetParam().bytes.size()));
  for (int i = 0; i < 300; ++i) {
    PgoutputDecoder decoder = MakeDecoder();
    std::string bytes = GetParam().bytes;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) bytes.resize(rng() % (bytes.size() + 8), static_cast<char>(rng()));
    absl::StatusOr<PgoutputMessage> result = decoder.Decode(bytes);
    if (!result.ok()) {
      EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(decoder.in_stream_block(), GetParam().in_stream_block);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(PgoutputDecoder, EveryMessageKind, testing::ValuesIn(AllFixtures()),
                         [](const testing::TestParamInfo<Fixture>& info) { return info.param.name; });

TEST(PgoutputDecoder, RandomBytesNeverCrash) {
  std::mt19937 rng(20240615);
  // A known type byte most of the time, so the bodies get exercised, not just the type check.
  constexpr std::string_view kTypes = "BCORYIUDTMSEcAbPKrpwkZ";
  for (int i = 0; i < 5000; ++i) {
    const int proto_version = 1 + i % 4;
    PgoutputDecoder decoder(proto_version);
    const bool in_block = proto_version >= 2 && (rng() & 1) != 0;
    if (in_block) {
      ASSERT_TRUE(decoder.Decode(StreamStartBytes()).ok());
    }
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) {
      // Mostly small bytes: counts and lengths then stay plausible and parsing goes deeper.
      c = static_cast<char>(rng() % 3 == 0 ? rng() : rng() % 8);
    }
    if (!bytes.empty() && rng() % 8 != 0) bytes[0] = kTypes[rng() % kTypes.size()];
    absl::StatusOr<PgoutputMessage> result = decoder.Decode(bytes);
    if (!result.ok()) {
      EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(decoder.in_stream_block(), in_block);
    }
    absl::StatusOr<ReplicationMessage> wrapper = DecodeReplicationMessage(bytes);
    if (!wrapper.ok()) {
      EXPECT_EQ(wrapper.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

// --- Bytes copied from a PostgreSQL 15 server (pg_logical_slot_peek_binary_changes, pgoutput) ---

// proto_version 1. A table t(id int primary key, name text, big text storage external, m mood),
// where mood is an enum: UPDATE t SET name = 'b' leaves the toasted "big" column unchanged ('u').
TEST(PgoutputDecoder, RealPostgres15TransactionWithUnchangedToast) {
  PgoutputDecoder decoder(1);
  const auto begin = DecodeAs<BeginMessage>(decoder, FromHex("420000000001543ca800030417647672f9000002da"));
  EXPECT_EQ(begin.final_lsn.ToString(), "0/1543CA8");
  EXPECT_EQ(begin.xid, 730u);

  const auto type = DecodeAs<TypeMessage>(decoder, FromHex("59000040017075626c6963006d6f6f6400"));
  EXPECT_EQ(type.type_oid, 16385u);
  EXPECT_EQ(type.namespace_name, "public");
  EXPECT_EQ(type.type_name, "mood");

  const auto relation = DecodeAs<RelationMessage>(
      decoder, FromHex("52000040057075626c69630074006400040169640000000017ffffffff006e616d650000"
                       "000019ffffffff006269670000000019ffffffff006d0000004001ffffffff"));
  EXPECT_EQ(relation.relid, 16389u);
  EXPECT_EQ(relation.relation_name, "t");
  EXPECT_EQ(relation.replica_identity, 'd');
  EXPECT_EQ(relation.columns,
            (std::vector<RelationColumn>{
                {true, "id", 23, -1}, {false, "name", 25, -1}, {false, "big", 25, -1}, {false, "m", 16385, -1}}));

  const auto update =
      DecodeAs<UpdateMessage>(decoder, FromHex("55000040054e00047400000001317400000001627574000000056861707079"));
  EXPECT_EQ(update.relid, 16389u);
  EXPECT_EQ(update.old_kind, '\0');
  EXPECT_EQ(update.new_tuple, (TupleData{Text("1"), Text("b"), Unchanged(), Text("happy")}));

  const auto commit = DecodeAs<CommitMessage>(decoder, FromHex("43000000000001543ca80000000001543cd800030417647672f9"));
  EXPECT_EQ(commit.commit_lsn.ToString(), "0/1543CA8");
  EXPECT_EQ(commit.end_lsn.ToString(), "0/1543CD8");
  EXPECT_EQ(commit.commit_time, begin.commit_time);
}

TEST(PgoutputDecoder, RealPostgres15ChangesOfEveryKind) {
  PgoutputDecoder decoder(1);
  // UPDATE t SET id = 2: the old key, with NULL for the non-key columns.
  const auto update_key = DecodeAs<UpdateMessage>(
      decoder, FromHex("55000040054b00047400000001316e6e6e4e0004740000000132740000000162757400000"
                       "0056861707079"));
  EXPECT_EQ(update_key.old_kind, 'K');
  EXPECT_EQ(update_key.old_tuple, (TupleData{Text("1"), Null(), Null(), Null()}));
  EXPECT_EQ(update_key.new_tuple, (TupleData{Text("2"), Text("b"), Unchanged(), Text("happy")}));

  const auto delete_key = DecodeAs<DeleteMessage>(decoder, FromHex("44000040054b00047400000001326e6e6e"));
  EXPECT_EQ(delete_key.old_kind, 'K');
  EXPECT_EQ(delete_key.old_tuple, (TupleData{Text("2"), Null(), Null(), Null()}));

  // f(id int, v text) with REPLICA IDENTITY FULL: every column is a key column.
  const auto full = DecodeAs<RelationMessage>(
      decoder, FromHex("520000400c7075626c69630066006600020169640000000017ffffffff01760000000019f"
                       "fffffff"));
  EXPECT_EQ(full.replica_identity, 'f');
  EXPECT_EQ(full.columns, (std::vector<RelationColumn>{{true, "id", 23, -1}, {true, "v", 25, -1}}));

  EXPECT_EQ(DecodeAs<InsertMessage>(decoder, FromHex("490000400c4e00027400000001376e")).new_tuple,
            (TupleData{Text("7"), Null()}));

  const auto update_row =
      DecodeAs<UpdateMessage>(decoder, FromHex("550000400c4f00027400000001376e4e0002740000000137740000000171"));
  EXPECT_EQ(update_row.old_kind, 'O');
  EXPECT_EQ(update_row.old_tuple, (TupleData{Text("7"), Null()}));
  EXPECT_EQ(update_row.new_tuple, (TupleData{Text("7"), Text("q")}));

  const auto delete_row = DecodeAs<DeleteMessage>(decoder, FromHex("440000400c4f0002740000000137740000000171"));
  EXPECT_EQ(delete_row.old_kind, 'O');
  EXPECT_EQ(delete_row.old_tuple, (TupleData{Text("7"), Text("q")}));

  const auto truncate = DecodeAs<TruncateMessage>(decoder, FromHex("5400000001000000400c"));
  EXPECT_EQ(truncate.options, 0);
  EXPECT_EQ(truncate.relids, std::vector<uint32_t>{16396});

  const auto message = DecodeAs<LogicalMessage>(decoder, FromHex("4d010000000001544ac0706678000000000568656c6c6f"));
  EXPECT_TRUE(message.transactional);
  EXPECT_EQ(message.lsn.ToString(), "0/1544AC0");
  EXPECT_EQ(message.prefix, "pfx");
  EXPECT_EQ(message.content, "hello");

  const auto non_transactional = DecodeAs<LogicalMessage>(decoder, FromHex("4d000000000001544b986e74000000000178"));
  EXPECT_FALSE(non_transactional.transactional);
  EXPECT_EQ(non_transactional.prefix, "nt");
  EXPECT_EQ(non_transactional.content, "x");

  // A transaction replayed from replication origin "upstream" at 0/ABCDEF01.
  const auto origin = DecodeAs<OriginMessage>(decoder, FromHex("4f00000000abcdef01757073747265616d00"));
  EXPECT_EQ(origin.origin_commit_lsn.ToString(), "0/ABCDEF01");
  EXPECT_EQ(origin.name, "upstream");

  // binary 'true': the int4 8 in send format and the text "o".
  EXPECT_EQ(DecodeAs<InsertMessage>(decoder, FromHex("490000400c4e000262000000040000000862000000016f")).new_tuple,
            (TupleData{Binary(std::string("\0\0\0\x08", 4)), Binary("o")}));
}

// proto_version 2 with streaming 'on' and logical_decoding_work_mem = 64kB: a large transaction
// streamed in chunks, a rolled-back savepoint (Stream Abort of its subtransaction), then commit.
TEST(PgoutputDecoder, RealPostgres15StreamedTransaction) {
  PgoutputDecoder decoder(2);
  const auto start = DecodeAs<StreamStartMessage>(decoder, FromHex("53000002e701"));
  EXPECT_EQ(start.xid, 743u);
  EXPECT_TRUE(start.first_segment);

  const auto relation = DecodeAs<RelationMessage>(
      decoder, FromHex("52000002e7000040167075626c69630073006400020069640000000017ffffffff007600"
                       "00000019ffffffff"));
  EXPECT_EQ(relation.xid, 743u);
  EXPECT_EQ(relation.relid, 16406u);
  EXPECT_EQ(relation.relation_name, "s");

  const auto insert = DecodeAs<InsertMessage>(decoder, FromHex("49000002e7000040164e0002740000000131740000000176"));
  EXPECT_EQ(insert.xid, 743u);
  EXPECT_EQ(insert.new_tuple, (TupleData{Text("1"), Text("v")}));

  DecodeAs<StreamStopMessage>(decoder, FromHex("45"));
  EXPECT_FALSE(decoder.in_stream_block());
  EXPECT_FALSE(DecodeAs<StreamStartMessage>(decoder, FromHex("53000002e700")).first_segment);
  DecodeAs<StreamStopMessage>(decoder, FromHex("45"));

  const auto abort = DecodeAs<StreamAbortMessage>(decoder, FromHex("41000002e7000002e8"));
  EXPECT_EQ(abort.xid, 743u);
  EXPECT_EQ(abort.subxid, 744u);

  const auto commit =
      DecodeAs<StreamCommitMessage>(decoder, FromHex("63000002e70000000000015a9a9800000000015a9ac80003041765123d7f"));
  EXPECT_EQ(commit.xid, 743u);
  EXPECT_EQ(commit.commit_lsn.ToString(), "0/15A9A98");
  EXPECT_EQ(commit.end_lsn.ToString(), "0/15A9AC8");
}

// --- The walsender's wrappers and the status update ---

TEST(ReplicationMessage, XLogDataHeaderAndPayloadPointingIntoTheBuffer) {
  const std::string payload = BeginBytes();
  const std::string bytes =
      Bytes().Char('w').Int64(0x0000'0016'B374'D848).Int64(0x0000'0016'B374'FFFF).Int64(kCommitTime).Raw(payload).str();
  absl::StatusOr<ReplicationMessage> result = DecodeReplicationMessage(bytes);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(std::holds_alternative<XLogData>(*result));
  const XLogData& data = std::get<XLogData>(*result);
  EXPECT_EQ(data.wal_start.ToString(), "16/B374D848");
  EXPECT_EQ(data.wal_end.ToString(), "16/B374FFFF");
  EXPECT_EQ(data.send_time, kCommitTime);
  EXPECT_EQ(data.payload, payload);
  EXPECT_EQ(data.payload.data(), bytes.data() + 25);

  PgoutputDecoder decoder(1);
  EXPECT_EQ(DecodeAs<BeginMessage>(decoder, data.payload).xid, kXid);
}

TEST(ReplicationMessage, XLogDataMayCarryAnEmptyPayload) {
  absl::StatusOr<ReplicationMessage> result =
      DecodeReplicationMessage(Bytes().Char('w').Int64(1).Int64(2).Int64(3).str());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(std::get<XLogData>(*result).payload.empty());
}

TEST(ReplicationMessage, XLogDataTruncatedHeaderIsAnError) {
  const std::string bytes = Bytes().Char('w').Int64(1).Int64(2).Int64(3).str();
  for (size_t len = 0; len < bytes.size(); ++len) {
    absl::StatusOr<ReplicationMessage> result = DecodeReplicationMessage(bytes.substr(0, len));
    ASSERT_FALSE(result.ok()) << len;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(ReplicationMessage, KeepaliveFields) {
  for (const bool reply : {false, true}) {
    const std::string bytes = Bytes().Char('k').Int64(0x0000'0001'0000'00FF).Int64(-5).Byte(reply ? 1 : 0).str();
    ASSERT_EQ(bytes.size(), 18u);
    absl::StatusOr<ReplicationMessage> result = DecodeReplicationMessage(bytes);
    ASSERT_TRUE(result.ok()) << result.status();
    const PrimaryKeepalive& keepalive = std::get<PrimaryKeepalive>(*result);
    EXPECT_EQ(keepalive.wal_end.ToString(), "1/FF");
    EXPECT_EQ(keepalive.send_time, -5);
    EXPECT_EQ(keepalive.reply_requested, reply);
  }
}

TEST(ReplicationMessage, KeepaliveTruncatedOrWithTrailingBytesIsAnError) {
  const std::string bytes = Bytes().Char('k').Int64(1).Int64(2).Byte(1).str();
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_FALSE(DecodeReplicationMessage(bytes.substr(0, len)).ok()) << len;
  }
  absl::StatusOr<ReplicationMessage> trailing = DecodeReplicationMessage(bytes + "x");
  ASSERT_FALSE(trailing.ok());
  EXPECT_EQ(trailing.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ReplicationMessage, OtherTypesAreAnError) {
  for (const std::string& bytes : {std::string(""), std::string("r"), std::string("B"), std::string("\0", 1)}) {
    absl::StatusOr<ReplicationMessage> result = DecodeReplicationMessage(bytes);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(ReplicationMessage, StandbyStatusUpdateIsThirtyFourBigEndianBytes) {
  const std::string encoded = EncodeStandbyStatusUpdate(pg::Lsn(0x0000'0016'B374'D848), pg::Lsn(0x0000'0016'B374'D000),
                                                        pg::Lsn(0x0000'0015'0000'0001),
                                                        /*now=*/0x0002'D5A8'1234'5678, /*reply_requested=*/true);
  EXPECT_EQ(encoded, FromHex("72"
                             "00000016b374d848"
                             "00000016b374d000"
                             "0000001500000001"
                             "0002d5a812345678"
                             "01"));
  EXPECT_EQ(encoded.size(), 34u);

  EXPECT_EQ(EncodeStandbyStatusUpdate(pg::Lsn(), pg::Lsn(), pg::Lsn(), /*now=*/-1, false),
            Bytes().Char('r').Int64(0).Int64(0).Int64(0).Int64(~uint64_t{0}).Byte(0).str());
}

}  // namespace
}  // namespace pgpitr::wal
