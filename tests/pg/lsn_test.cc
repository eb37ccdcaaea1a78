// Specification of Lsn: parsed and printed exactly as PostgreSQL's pg_lsn type does ("16/B374D848"),
// strict about everything else, and ordered by WAL position.
#include "pg/lsn.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace pgpitr::pg {
namespace {

struct LsnText {
  std::string text;
  uint64_t value;
};

class LsnRoundTrip : public testing::TestWithParam<LsnText> {};

TEST_P(LsnRoundTrip, ParsesToTheValueAndPrintsBack) {
  absl::StatusOr<Lsn> lsn = Lsn::Parse(GetParam().text);
  ASSERT_TRUE(lsn.ok()) << lsn.status();
  EXPECT_EQ(lsn->value(), GetParam().value);
  EXPECT_EQ(lsn->ToString(), GetParam().text);
  EXPECT_EQ(Lsn(GetParam().value).ToString(), GetParam().text);
}

INSTANTIATE_TEST_SUITE_P(Lsn, LsnRoundTrip,
                         testing::Values(LsnText{"0/0", 0}, LsnText{"0/1", 1}, LsnText{"16/B374D848", 0x16'B374D848},
                                         LsnText{"0/1A2B3C4D", 0x1A2B3C4D}, LsnText{"1/0", uint64_t{1} << 32},
                                         LsnText{"FFFFFFFF/FFFFFFFF", ~uint64_t{0}}));

TEST(Lsn, LowercaseHexParsesAndPrintsInUppercase) {
  absl::StatusOr<Lsn> lsn = Lsn::Parse("16/b374d848");
  ASSERT_TRUE(lsn.ok()) << lsn.status();
  EXPECT_EQ(lsn->value(), 0x16'B374D848u);
  EXPECT_EQ(lsn->ToString(), "16/B374D848");
}

TEST(Lsn, LeadingZerosInAHalfAreAccepted) {
  absl::StatusOr<Lsn> lsn = Lsn::Parse("00000016/0000D848");
  ASSERT_TRUE(lsn.ok()) << lsn.status();
  EXPECT_EQ(lsn->value(), 0x16'0000D848u);
  EXPECT_EQ(lsn->ToString(), "16/D848");
}

class LsnReject : public testing::TestWithParam<std::string> {};

TEST_P(LsnReject, IsAnInvalidArgumentNamingTheText) {
  absl::StatusOr<Lsn> lsn = Lsn::Parse(GetParam());
  ASSERT_FALSE(lsn.ok()) << GetParam() << " parsed as " << lsn->ToString();
  EXPECT_EQ(lsn.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(lsn.status().message().find("'" + GetParam() + "'"), std::string::npos) << lsn.status();
}

INSTANTIATE_TEST_SUITE_P(Lsn, LsnReject,
                         testing::Values("", "1", "/1", "1/", "/", "G/1", "1/G", "123456789/1", "1/123456789", "1/2/3",
                                         " 1/2", "1/2 ", "1 /2", "1/ 2", "-1/2", "+1/2", "1/-2", "0x1/2", "1//2"));

TEST(Lsn, DefaultIsZeroAndInvalid) {
  EXPECT_EQ(Lsn().value(), 0u);
  EXPECT_FALSE(Lsn().IsValid());
  EXPECT_TRUE(Lsn(1).IsValid());
}

TEST(Lsn, OrdersByPositionNotByText) {
  // "9/0" < "10/0" numerically although "10/0" sorts first as text; same for the low half.
  const Lsn a = *Lsn::Parse("9/FFFFFFFF");
  const Lsn b = *Lsn::Parse("A/0");
  const Lsn c = *Lsn::Parse("10/0");
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_LT(*Lsn::Parse("0/9"), *Lsn::Parse("0/10"));
  EXPECT_GT(c, a);
  EXPECT_LE(a, a);
  EXPECT_EQ(*Lsn::Parse("a/0"), b);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace pgpitr::pg
