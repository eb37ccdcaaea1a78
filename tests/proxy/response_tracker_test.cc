// Specification of which server answers the proxy drops: exactly those to requests it added.
#include "proxy/response_tracker.h"

#include <gtest/gtest.h>

#include <string>

namespace pgpitr::proxy {
namespace {

// Feeds server message types; returns those that reach the client.
std::string Forwarded(ResponseTracker& tracker, const std::string& types) {
  std::string out;
  for (char t : types) {
    if (!tracker.Drop(t)) out += t;
  }
  return out;
}

TEST(ResponseTracker, StartupMessagesAllReachTheClient) {
  ResponseTracker tracker;
  EXPECT_EQ(Forwarded(tracker, "RSSKZ"), "RSSKZ");
}

TEST(ResponseTracker, InjectedStatementsOfASimpleQueryAreDropped) {
  ResponseTracker tracker;
  tracker.SentQuery({true, false, true, false});
  // SELECT emit -> T D C; ALTER -> C; SELECT emit -> T D C; INSERT -> C; then Z.
  EXPECT_EQ(Forwarded(tracker, "TDCCTDCCZ"), "CCZ");
  EXPECT_EQ(tracker.in_flight(), 0u);
}

TEST(ResponseTracker, AnErrorInASimpleQueryReachesTheClientAndEndsIt) {
  ResponseTracker tracker;
  tracker.SentQuery({true, false});
  EXPECT_EQ(Forwarded(tracker, "TDCEZ"), "EZ");
  tracker.SentQuery({});
  EXPECT_EQ(Forwarded(tracker, "TDDCZ"), "TDDCZ");
}

TEST(ResponseTracker, InjectedExtendedRequestsBeforeTheClientsExecuteAreDropped) {
  ResponseTracker tracker;
  tracker.Sent('P', false);
  tracker.Sent('B', false);
  tracker.Sent('P', true);
  tracker.Sent('B', true);
  tracker.Sent('E', true);
  tracker.Sent('C', true, 'P');
  tracker.Sent('C', true, 'S');
  tracker.Sent('E', false);
  tracker.Sent('S', false);
  // Client's '1' '2', ours '1' '2' 'D' 'C' '3' '3', the client's 'C', then 'Z'.
  EXPECT_EQ(Forwarded(tracker, "1212DC33CZ"), "12CZ");
}

TEST(ResponseTracker, AnErrorInTheExtendedProtocolSkipsToSync) {
  ResponseTracker tracker;
  tracker.Sent('P', true);
  tracker.Sent('B', true);
  tracker.Sent('E', true);
  tracker.Sent('E', false);
  tracker.Sent('S', false);
  // Our Parse fails: the server answers E and then only the Sync.
  EXPECT_EQ(Forwarded(tracker, "EZ"), "EZ");
  EXPECT_EQ(tracker.in_flight(), 0u);
  tracker.Sent('P', false);
  tracker.Sent('S', false);
  EXPECT_EQ(Forwarded(tracker, "1Z"), "1Z");
}

TEST(ResponseTracker, NoticesAndNotificationsAlwaysReachTheClient) {
  ResponseTracker tracker;
  tracker.SentQuery({true, false});
  EXPECT_EQ(Forwarded(tracker, "TNDACSCZ"), "NASCZ");
}

TEST(ResponseTracker, DescribeOfAStatementHasTwoAnswers) {
  ResponseTracker tracker;
  tracker.Sent('D', true, 'S');
  tracker.Sent('D', false, 'S');
  tracker.Sent('D', false, 'P');
  tracker.Sent('S', false);
  EXPECT_EQ(Forwarded(tracker, "tTtnTZ"), "tnTZ");
}

TEST(ResponseTracker, CopyInsideAnExecuteEndsWithItsCommandComplete) {
  ResponseTracker tracker;
  tracker.Sent('E', false);
  tracker.Sent('H', false);  // Flush: no answer of its own
  tracker.Sent('S', false);
  EXPECT_EQ(Forwarded(tracker, "HddcCZ"), "HddcCZ");
  EXPECT_EQ(tracker.in_flight(), 0u);
}

TEST(ResponseTracker, PortalSuspendedEndsAnExecute) {
  ResponseTracker tracker;
  tracker.Sent('E', true);
  tracker.Sent('E', false);
  tracker.Sent('S', false);
  EXPECT_EQ(Forwarded(tracker, "DDsDCZ"), "DCZ");
}

}  // namespace
}  // namespace pgpitr::proxy
