// Specification of how Connection classifies what the server says: a refused connection's
// SQLSTATE is read from libpq's verbose message (the only place libpq keeps it), and a SQLSTATE
// says whether trying again later can work.
#include "pg/connection.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/status/status.h"

namespace pgpitr::pg {
namespace {

TEST(ParseConnectError, ARefusalGivesItsSqlStateAndTheMessageWithoutCodeOrLocation) {
  std::string sqlstate;
  const std::string message = ParseConnectError(
      "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  57P03: the database system is not yet "
      "accepting connections\nDETAIL:  Consistent recovery state has not been yet reached.\nLOCATION:  "
      "ProcessStartupPacket, postmaster.c:2419\n",
      &sqlstate);
  EXPECT_EQ(sqlstate, "57P03");
  EXPECT_EQ(message,
            "connection to server at \"127.0.0.1\", port 5432 failed: FATAL: the database system is not yet accepting "
            "connections DETAIL: Consistent recovery state has not been yet reached.");
}

TEST(ParseConnectError, NoAnswerHasNoSqlState) {
  std::string sqlstate = "stale";
  const std::string message = ParseConnectError(
      "connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n\tIs the server running on that "
      "host and accepting TCP/IP connections?\n",
      &sqlstate);
  EXPECT_EQ(sqlstate, "");
  EXPECT_EQ(message,
            "connection to server at \"127.0.0.1\", port 1 failed: Connection refused Is the server running on that "
            "host and accepting TCP/IP connections?");
}

TEST(ParseConnectError, TheLastHostsRefusalCounts) {
  std::string sqlstate;
  ParseConnectError(
      "connection to server at \"a\" (10.0.0.1), port 5432 failed: FATAL:  57P03: the database system is starting "
      "up\nconnection to server at \"b\" (10.0.0.2), port 5432 failed: FATAL:  28P01: password authentication failed "
      "for user \"app\"\n",
      &sqlstate);
  EXPECT_EQ(sqlstate, "28P01");
}

TEST(ParseConnectError, ADetailThatLooksLikeACodeIsNotTakenForOne) {
  std::string sqlstate;
  ParseConnectError("failed: FATAL:  3D000: database \"x\" does not exist\nDETAIL:  It: was dropped\n", &sqlstate);
  EXPECT_EQ(sqlstate, "3D000");
}

TEST(IsTransientSqlState, TheServerGoingAwayOrFullIsForLaterAndARefusalOfUsIsNot) {
  for (const char* later : {"57P01", "57P02", "57P03", "53300", "53100", "08006", "08001"}) {
    EXPECT_TRUE(IsTransientSqlState(later)) << later;
  }
  for (const char* refused : {"", "28P01", "28000", "3D000", "42501", "42P01", "XX000", "57014", "57P04"}) {
    EXPECT_FALSE(IsTransientSqlState(refused)) << refused;
  }
}

TEST(SqlStateOf, TheCodeTravelsWithTheStatusAndNotWithOthers) {
  const absl::Status s = WithSqlState(absl::UnavailableError("server going away"), "57P01");
  EXPECT_EQ(SqlStateOf(s), "57P01");
  EXPECT_EQ(SqlStateOf(absl::UnavailableError("no code")), "");
  EXPECT_EQ(SqlStateOf(WithSqlState(absl::UnavailableError("empty code"), "")), "");
  EXPECT_TRUE(WithSqlState(absl::OkStatus(), "57P01").ok());
}

}  // namespace
}  // namespace pgpitr::pg
