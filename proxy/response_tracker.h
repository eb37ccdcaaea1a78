// ResponseTracker: follows the requests a session sends upstream, the client's and the ones the
// proxy adds itself, so that the server's answers to the proxy's own requests are dropped and
// everything else reaches the client in order. A pure state machine over message types.
//   tracker.Sent('P', /*injected=*/true); ... if (!tracker.Drop(type)) forward(message);
// The rules are the protocol's: each request gets its answers in order (Parse '1', Bind '2',
// Close '3', Execute rows then 'C'/'I'/'s', Describe 't'?+'T'/'n', Sync and Query end with 'Z');
// after an error the server skips every request up to the next Sync. One per session.
#pragma once

#include <cstddef>
#include <deque>
#include <vector>

namespace pgpitr::proxy {

class ResponseTracker {
 public:
  // A frontend message sent upstream: its type byte and, for Describe and Close, the first body
  // byte ('S' statement or 'P' portal). Types that get no answer (Flush, CopyData, ...) are ignored.
  void Sent(char type, bool injected, char target = '\0');
  // A simple Query; for each of its statements, whether the proxy added it.
  void SentQuery(std::vector<bool> injected_statements);

  // Whether a backend message answers something the proxy added.
  bool Drop(char type);

  size_t in_flight() const { return requests_.size(); }

 private:
  enum class Kind { kParse, kBind, kClose, kExecute, kDescribeStatement, kDescribePortal, kSync, kQuery, kFunction };
  struct Request {
    Kind kind;
    bool injected = false;
    std::vector<bool> statements;  // kQuery
    size_t statement = 0;          // kQuery: the statement being answered
    bool described = false;        // kDescribeStatement: 't' seen
  };

  std::deque<Request> requests_;
};

}  // namespace pgpitr::proxy
