// Specification of ErrorKind: a kind travels inside a status, through copies and rewording, and a
// status without one says kUnknown; an OK status never carries one.
#include "base/error.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/cord.h"

namespace pgpitr::base {
namespace {

TEST(ErrorKind, TravelsWithTheStatusAndItsCopies) {
  const absl::Status damaged =
      WithKind(absl::DataLossError("change log record T is damaged"), ErrorKind::kChangeLogDamaged);
  const absl::Status copy = damaged;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_EQ(KindOf(copy), ErrorKind::kChangeLogDamaged);
  EXPECT_EQ(copy.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(copy.message(), "change log record T is damaged");
}

TEST(ErrorKind, AStatusWithoutOneIsUnknown) {
  EXPECT_EQ(KindOf(absl::FailedPreconditionError("no kind")), ErrorKind::kUnknown);
  EXPECT_EQ(KindOf(absl::OkStatus()), ErrorKind::kUnknown);
}

TEST(ErrorKind, AnOkStatusCarriesNone) {
  EXPECT_TRUE(WithKind(absl::OkStatus(), ErrorKind::kStopped).ok());
  EXPECT_EQ(KindOf(WithKind(absl::OkStatus(), ErrorKind::kStopped)), ErrorKind::kUnknown);
}

TEST(ErrorKind, TheLastKindGivenWins) {
  const absl::Status s = WithKind(WithKind(absl::CancelledError("x"), ErrorKind::kUsage), ErrorKind::kStopped);
  EXPECT_EQ(KindOf(s), ErrorKind::kStopped);
}

// Context added on the way up keeps what the error means: its code, its kind, and any other
// payload (pg/ carries the SQLSTATE as one).
TEST(ErrorKind, ARewordedStatusKeepsItsCodeKindAndPayloads) {
  absl::Status role = WithKind(absl::FailedPreconditionError("role \"app\" does not exist"), ErrorKind::kRoleMissing);
  role.SetPayload("test/sqlstate", absl::Cord("42704"));
  const absl::Status reworded = Reworded(role, "restoring into app_restored failed: role \"app\" does not exist");
  EXPECT_EQ(reworded.message(), "restoring into app_restored failed: role \"app\" does not exist");
  EXPECT_EQ(reworded.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(KindOf(reworded), ErrorKind::kRoleMissing);
  ASSERT_TRUE(reworded.GetPayload("test/sqlstate").has_value());
  EXPECT_EQ(std::string(*reworded.GetPayload("test/sqlstate")), "42704");
  EXPECT_TRUE(Reworded(absl::OkStatus(), "ignored").ok());
}

}  // namespace
}  // namespace pgpitr::base
