// DdlRecorder: how the proxy records schema changes in the replication stream, apart from its
// sockets: a pure state machine over one session's messages. For each message the client sends it
// writes what goes to the database instead: the message itself, and before a schema change the
// proxy's pgpitr.ddl message, in the same transaction (a rewritten simple query, or a
// Parse/Bind/Execute of the proxy's own just before the client's Execute). For each message the
// database answers it says whether the client gets it, or it answers one of the proxy's own
// requests, or it is held back while a schema change that cannot share a transaction (an index
// made or dropped CONCURRENTLY) is recorded after it succeeded.
//   DdlRecorder recorder;
//   recorder.FromClient(frame, /*capture=*/true, &to_database);
//   switch (recorder.FromDatabase(type, &to_database)) { case DdlRecorder::Answer::kForward: ... }
// One per session, one thread.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/response_tracker.h"
#include "proxy/wire.h"

namespace pgpitr::proxy {

// Rewrites a simple query so each schema-changing statement is preceded by the pgpitr.ddl message.
// Returns nullopt when the query holds no DDL to record; otherwise the new query text and, for each
// statement of it, whether it is one the proxy added (its results are not the client's).
struct RewrittenQuery {
  std::string query;
  std::vector<bool> injected;
};
std::optional<RewrittenQuery> RewriteForDdlCapture(std::string_view query);

class DdlRecorder {
 public:
  // What becomes of a message from the database.
  enum class Answer {
    kForward,  // the client's
    kDrop,     // the answer to one of the proxy's own requests
    kHeld,     // held back: the proxy's query recording a schema change went to the database instead,
               // and its ReadyForQuery stands in for this one
  };

  // A message from the client, framed: appends to *to_database what goes upstream for it. `capture`:
  // whether its schema changes are recorded (the proxy's option, and the source's event triggers
  // not recording them already).
  void FromClient(const Frame& frame, bool capture, std::string* to_database);
  // A message from the database (its type byte); for kHeld, *to_database gets the proxy's query.
  Answer FromDatabase(char type, std::string* to_database);

  // Requests still waiting for their answers (for tests).
  size_t in_flight() const { return tracker_.in_flight(); }

 private:
  // Just before the Execute that runs a prepared schema change: Close, Parse, Bind, Execute and
  // Close of a statement and a portal of the proxy's own, whose answers are dropped.
  void AppendDdlMessage(const std::string& sql, std::string* out);

  ResponseTracker tracker_;
  // Requests sent that end in a ReadyForQuery (Query, Sync, FunctionCall; and the startup packet,
  // counted from the start), and ReadyForQuery seen.
  uint64_t readies_sent_ = 1;
  uint64_t readies_seen_ = 0;
  struct RecordAfter {
    uint64_t ready;  // the ReadyForQuery (numbered from 1) that ends the query
    std::string sql;
    bool failed;
  };
  std::deque<RecordAfter> record_after_;
  // Schema changes prepared by the client (statement name -> SQL) and portals bound to them.
  std::unordered_map<std::string, std::string> ddl_statements_;
  std::unordered_map<std::string, std::string> ddl_portals_;
};

}  // namespace pgpitr::proxy
