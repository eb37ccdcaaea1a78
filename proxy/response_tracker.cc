#include "proxy/response_tracker.h"

namespace pgpitr::proxy {

void ResponseTracker::Sent(char type, bool injected, char target) {
  Request r;
  r.injected = injected;
  switch (type) {
    case 'P':
      r.kind = Kind::kParse;
      break;
    case 'B':
      r.kind = Kind::kBind;
      break;
    case 'C':
      r.kind = Kind::kClose;
      break;
    case 'E':
      r.kind = Kind::kExecute;
      break;
    case 'D':
      r.kind = target == 'S' ? Kind::kDescribeStatement : Kind::kDescribePortal;
      break;
    case 'S':
      r.kind = Kind::kSync;
      break;
    case 'F':
      r.kind = Kind::kFunction;
      break;
    default:
      return;  // Flush, CopyData/Done/Fail, Terminate, authentication: no answer of their own
  }
  requests_.push_back(std::move(r));
}

void ResponseTracker::SentQuery(std::vector<bool> injected_statements) {
  Request r;
  r.kind = Kind::kQuery;
  r.statements = std::move(injected_statements);
  requests_.push_back(std::move(r));
}

bool ResponseTracker::Drop(char type) {
  // Asynchronous messages belong to the client whenever they come.
  if (type == 'N' || type == 'A' || type == 'S') return false;
  if (requests_.empty()) return false;  // startup: authentication, parameters, the first 'Z'
  Request& r = requests_.front();

  if (type == 'Z') {
    // Ends the Sync, Query or function call at the front, and anything the server skipped before it.
    while (!requests_.empty()) {
      const Kind kind = requests_.front().kind;
      requests_.pop_front();
      if (kind == Kind::kSync || kind == Kind::kQuery || kind == Kind::kFunction) break;
    }
    return false;
  }
  if (type == 'E') {
    // The client must see every error. In a simple Query the rest of its statements are skipped;
    // in the extended protocol every request up to the next Sync is.
    if (r.kind == Kind::kQuery) {
      r.statement = r.statements.size();
    } else {
      while (!requests_.empty() && requests_.front().kind != Kind::kSync && requests_.front().kind != Kind::kQuery &&
             requests_.front().kind != Kind::kFunction) {
        requests_.pop_front();
      }
    }
    return false;
  }

  switch (r.kind) {
    case Kind::kParse:
    case Kind::kBind:
    case Kind::kClose: {
      const bool drop = r.injected;
      requests_.pop_front();
      return drop;
    }
    case Kind::kExecute: {
      const bool drop = r.injected;
      if (type == 'C' || type == 'I' || type == 's') requests_.pop_front();
      return drop;
    }
    case Kind::kDescribeStatement: {
      const bool drop = r.injected;
      if (type == 't') {
        r.described = true;
      } else {
        requests_.pop_front();
      }
      return drop;
    }
    case Kind::kDescribePortal: {
      const bool drop = r.injected;
      requests_.pop_front();
      return drop;
    }
    case Kind::kQuery: {
      const bool injected = r.statement < r.statements.size() && r.statements[r.statement];
      if (type == 'C' || type == 'I') ++r.statement;
      return injected && (type == 'T' || type == 'D' || type == 'C' || type == 'I');
    }
    case Kind::kSync:
    case Kind::kFunction:
      return false;  // only 'Z' (or a function's 'V') answers them
  }
  return false;
}

}  // namespace pgpitr::proxy
