// DdlRecorder: how the proxy records schema changes in the replication stream, apart from its
// sockets: a pure state machine over one session's messages. For each message the client sends it
// writes what goes to the database instead: the message itself, and next to a schema change the
// proxy's pgpitr.ddl message (next to a statement making or removing large objects, its readings of
// them: pgpitr.large_objects), in the same transaction (a rewritten simple query, or a
// Parse/Bind/Execute of the proxy's own next to the client's Execute). For each message the
// database answers it says whether the client gets it, or it answers one of the proxy's own
// requests, or it is held back while a schema change that cannot share a transaction (an index
// made or dropped CONCURRENTLY) is recorded after it succeeded.
//   DdlRecorder recorder;
//   recorder.FromClient(frame, /*capture=*/true, &to_database);
//   switch (recorder.FromDatabase(type, &to_database)) { case DdlRecorder::Answer::kForward: ... }
// One per session, one thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/response_tracker.h"
#include "proxy/wire.h"

namespace pgpitr::proxy {

// Rewrites a simple query so each schema-changing statement is preceded (or, for one making a view
// or a partition, followed) by the pgpitr.ddl message. Returns nullopt when the query holds no DDL
// to record; otherwise the new query text and, for each statement of it, whether it is one the
// proxy added (its results are not the client's). The client's text stays as it was, byte for
// byte: each statement of the proxy's is inserted just before or just after the statement it
// records, so an error's position can be mapped back (ClientErrorPosition).
struct RewrittenQuery {
  std::string query;
  std::vector<bool> injected;
  struct Insertion {
    size_t offset;  // where in the client's query (bytes) it went
    size_t length;  // its length: bytes, and characters (it is ASCII)
  };
  std::vector<Insertion> insertions;
};
// `prepared`, when given, is the session's prepared statements (name -> its PREPARE), which the
// query's PREPARE and DEALLOCATE keep; a CREATE TABLE ... AS EXECUTE is recorded with its PREPARE.
using PreparedStatements = std::unordered_map<std::string, std::string>;
struct RecordOptions {
  // Schema changes are recorded (not when the source's event triggers record them).
  bool schema_changes = true;
  // A statement that makes or removes large objects (LargeObjectsTouched) is followed, and one that
  // makes some preceded, by the proxy's reading of whether the source holds any
  // (pg::kLargeObjectsMessagePrefix): large objects are not in the stream, and capture's own checks
  // run only now and then.
  bool large_objects = true;
  // run --set-replica-identity-full: a statement that may leave a table without a replica identity
  // is followed by the proxy's statement giving published tables without one REPLICA IDENTITY FULL.
  bool identity_full = false;
  // Whether the proxy may add statements of its own in PL/pgSQL (DO blocks: that one, the one
  // reading the rows a volatile default gave values of their own, the reading before a statement
  // making large objects); without, it adds only the messages.
  bool plpgsql = true;
};
std::optional<RewrittenQuery> RewriteForDdlCapture(std::string_view query, PreparedStatements* prepared = nullptr,
                                                   const RecordOptions& options = {});

// An error's (or notice's) position field (1-based, in characters) in a rewritten query, as the
// client's query has it: the server counts in the rewritten text. `completed`: the statements of
// the rewritten query that completed before the error (the proxy's too); with none, the error may
// be a syntax error anywhere, and the position is mapped by counting the client's characters in
// `client_encoding`. Nullopt when it cannot be told (inside the proxy's own statement, or a
// multibyte encoding other than UTF8 before it): the position is then left as the server sent it.
std::optional<size_t> ClientErrorPosition(size_t position, const std::string& client_query,
                                          const RewrittenQuery& rewritten, size_t completed,
                                          std::string_view client_encoding);

class DdlRecorder {
 public:
  DdlRecorder() = default;
  // `plpgsql`, when set, says whether the proxy may add DO blocks of its own (RewriteForDdlCapture).
  explicit DdlRecorder(bool identity_full, std::shared_ptr<const std::atomic<bool>> plpgsql = nullptr)
      : identity_full_(identity_full), plpgsql_(std::move(plpgsql)) {}
  // What becomes of a message from the database.
  enum class Answer {
    kForward,  // the client's
    kDrop,     // the answer to one of the proxy's own requests
    kHeld,     // held back: the proxy's query recording a schema change went to the database instead,
               // and its ReadyForQuery stands in for this one
  };

  // A message from the client, framed: appends to *to_database what goes upstream for it. `capture`:
  // what the proxy records (RecordOptions: schema changes, unless the source's event triggers record
  // them already; the readings of large objects).
  struct Capture {
    bool schema_changes = false;
    bool large_objects = false;
  };
  void FromClient(const Frame& frame, Capture capture, std::string* to_database);
  // Both or neither.
  void FromClient(const Frame& frame, bool capture, std::string* to_database) {
    FromClient(frame, Capture{capture, capture}, to_database);
  }
  // A message from the database (its type byte); for kHeld, *to_database gets the proxy's query.
  Answer FromDatabase(char type, std::string* to_database);
  // A message from the database the client gets, as the client must see it: an error or notice
  // answering a rewritten query gets its position in the client's own text; nullopt when it goes as
  // it is. (It also follows the session's client_encoding from ParameterStatus.) Call it before
  // FromDatabase for the same message.
  std::optional<std::string> ForClient(const Frame& frame);

  // Requests still waiting for their answers (for tests).
  size_t in_flight() const { return tracker_.in_flight(); }

 private:
  // Next to the Execute that runs a prepared schema change: Close, Parse, Bind, Execute and Close
  // of a statement and a portal of the proxy's own (`text`: its one parameter, if any), whose
  // answers are dropped.
  void AppendStatement(const std::string& statement, const std::optional<std::string>& text, std::string* out);

  bool runs_plpgsql() const { return !plpgsql_ || plpgsql_->load(); }
  RecordOptions OptionsFor(Capture capture) const {
    return {.schema_changes = capture.schema_changes,
            .large_objects = capture.large_objects,
            .identity_full = identity_full_,
            .plpgsql = runs_plpgsql()};
  }

  bool identity_full_ = false;
  std::shared_ptr<const std::atomic<bool>> plpgsql_;

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
  // Simple queries rewritten with messages, until their ReadyForQuery.
  struct Rewritten {
    uint64_t ready;
    std::string client_query;
    RewrittenQuery rewritten;
    size_t completed = 0;  // statements completed so far (CommandComplete)
  };
  std::deque<Rewritten> rewritten_;
  std::string client_encoding_;
  // Statements prepared by the client that the proxy records or reads around (statement name ->
  // SQL), and portals bound to them.
  std::unordered_map<std::string, std::string> ddl_statements_;
  std::unordered_map<std::string, std::string> ddl_portals_;
  PreparedStatements prepared_;  // the session's, by PREPARE
};

}  // namespace pgpitr::proxy
