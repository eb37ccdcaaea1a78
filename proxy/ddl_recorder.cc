#include "proxy/ddl_recorder.h"

#include <algorithm>

#include "fmt/format.h"
#include "pg/stream_messages.h"
#include "proxy/sql.h"

namespace pgpitr::proxy {

namespace {

// A dollar-quote tag that does not occur in text.
std::string DollarQuote(std::string_view text) {
  std::string tag = "$pgpitr$";
  for (int n = 0; text.find(tag) != std::string_view::npos; ++n) tag = fmt::format("$pgpitr{}$", n);
  return tag + std::string(text) + tag;
}

// Schema changes the proxy records: not those that cannot share a transaction with its message. (A
// table made from a query is made again at restore by its statement, and emptied: its rows are in
// the stream.)
bool Recorded(std::string_view statement) { return IsSchemaChange(statement) && !MustRunOutsideTransaction(statement); }

// The source decides, when the statement runs, whether the proxy records a schema change: not when
// its event triggers do (a `run` that has not yet seen the source cannot know).
std::string NoEventTrigger() {
  return fmt::format("NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger WHERE evtname = '{}' AND evtenabled <> 'D')",
                     pg::kDdlEndTrigger);
}

// The statement that records a schema change in the stream: a transactional message, so it
// lands at its place in the transaction and disappears with it.
std::string DdlMessageStatement(std::string_view statement) {
  return fmt::format(
      "SELECT CASE WHEN {} THEN pg_catalog.pg_logical_emit_message(true, '{}', pg_catalog.json_build_object("
      "'search_path', pg_catalog.current_setting('search_path'), 'sql', {})::text) END;",
      NoEventTrigger(), pg::kDdlMessagePrefix, DollarQuote(statement));
}

// The NUL-terminated string at offset (empty when there is none: the server will reject the
// message itself).
std::string CString(std::string_view body, size_t offset) {
  if (offset >= body.size()) return "";
  const size_t end = body.find('\0', offset);
  return std::string(body.substr(offset, end == std::string_view::npos ? std::string_view::npos : end - offset));
}

}  // namespace

std::optional<RewrittenQuery> RewriteForDdlCapture(std::string_view query) {
  const std::vector<std::string_view> statements = SplitStatements(query);
  std::vector<bool> recorded;
  recorded.reserve(statements.size());
  for (std::string_view s : statements) recorded.push_back(Recorded(s));
  if (std::find(recorded.begin(), recorded.end(), true) == recorded.end()) return std::nullopt;
  RewrittenQuery out;
  for (size_t i = 0; i < statements.size(); ++i) {
    const std::string_view s = statements[i];
    if (recorded[i]) {
      out.query += DdlMessageStatement(s);
      out.injected.push_back(true);
    }
    out.query += s;
    out.query += ';';
    out.injected.push_back(false);
  }
  return out;
}

void DdlRecorder::FromClient(const Frame& frame, bool capture, std::string* out) {
  switch (frame.type) {
    case 'Q': {
      absl::StatusOr<std::string_view> query = ParseQuery(frame.body);
      ++readies_sent_;
      if (capture && query.ok()) {
        if (std::optional<RewrittenQuery> rewritten = RewriteForDdlCapture(*query)) {
          std::string body = rewritten->query;
          body.push_back('\0');
          *out += EncodeMessage('Q', body);
          tracker_.SentQuery(std::move(rewritten->injected));
          return;
        }
        // An index made or dropped CONCURRENTLY cannot share a transaction with the proxy's
        // message: it is recorded after it succeeded, as the same statement without CONCURRENTLY.
        const std::vector<std::string_view> statements = SplitStatements(*query);
        if (statements.size() == 1 && IsSchemaChange(statements[0])) {
          if (std::optional<std::string> plain = IndexStatementWithoutConcurrently(statements[0])) {
            record_after_.push_back({readies_sent_, std::move(*plain), false});
          }
        }
      }
      tracker_.SentQuery({});
      break;
    }
    case 'P': {
      absl::StatusOr<ParseMessage> parse = ParseParse(frame.body);
      if (parse.ok()) {
        const std::string name(parse->statement);
        if (capture && Recorded(parse->query)) {
          ddl_statements_[name] = std::string(parse->query);
        } else {
          ddl_statements_.erase(name);
        }
      }
      tracker_.Sent('P', false);
      break;
    }
    case 'B': {
      const std::string portal = CString(frame.body, 0);
      const std::string statement = CString(frame.body, portal.size() + 1);
      if (auto it = ddl_statements_.find(statement); it != ddl_statements_.end()) {
        ddl_portals_[portal] = it->second;
      } else {
        ddl_portals_.erase(portal);
      }
      tracker_.Sent('B', false);
      break;
    }
    case 'E': {
      if (auto it = ddl_portals_.find(CString(frame.body, 0)); it != ddl_portals_.end()) {
        AppendDdlMessage(it->second, out);
      }
      tracker_.Sent('E', false);
      break;
    }
    case 'C':
    case 'D': {
      const char target = frame.body.empty() ? '\0' : frame.body[0];
      if (frame.type == 'C' && frame.body.size() > 1) {
        (target == 'S' ? ddl_statements_ : ddl_portals_).erase(CString(frame.body, 1));
      }
      tracker_.Sent(frame.type, false, target);
      break;
    }
    default:
      if (frame.type == 'S' || frame.type == 'F') ++readies_sent_;
      tracker_.Sent(frame.type, false);
  }
  out->append(frame.raw);
}

void DdlRecorder::AppendDdlMessage(const std::string& sql, std::string* out) {
  static constexpr std::string_view kName = "pgpitr_ddl";
  auto u16 = [](std::string* s, uint16_t v) {
    s->push_back(static_cast<char>(v >> 8));
    s->push_back(static_cast<char>(v));
  };
  auto u32 = [](std::string* s, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) s->push_back(static_cast<char>(v >> shift));
  };
  std::string parse = std::string(kName) + '\0';
  parse += fmt::format(
      "SELECT CASE WHEN {} THEN pg_catalog.pg_logical_emit_message(true, '{}', pg_catalog.json_build_object("
      "'search_path', pg_catalog.current_setting('search_path'), 'sql', $1::text)::text) END",
      NoEventTrigger(), pg::kDdlMessagePrefix);
  parse += '\0';
  u16(&parse, 1);
  u32(&parse, 25);  // text
  std::string bind = std::string(kName) + '\0' + std::string(kName) + '\0';
  u16(&bind, 0);  // parameters in text format
  u16(&bind, 1);
  u32(&bind, static_cast<uint32_t>(sql.size()));
  bind += sql;
  u16(&bind, 0);  // results in text format
  std::string execute = std::string(kName) + '\0';
  u32(&execute, 0);
  // Closing first makes a statement left behind by a failed earlier attempt harmless (closing a
  // statement that does not exist is not an error).
  *out += EncodeMessage('C', "S" + std::string(kName) + '\0');
  tracker_.Sent('C', true, 'S');
  *out += EncodeMessage('P', parse);
  *out += EncodeMessage('B', bind);
  *out += EncodeMessage('E', execute);
  *out += EncodeMessage('C', "P" + std::string(kName) + '\0');
  *out += EncodeMessage('C', "S" + std::string(kName) + '\0');
  tracker_.Sent('P', true);
  tracker_.Sent('B', true);
  tracker_.Sent('E', true);
  tracker_.Sent('C', true, 'P');
  tracker_.Sent('C', true, 'S');
}

DdlRecorder::Answer DdlRecorder::FromDatabase(char type, std::string* out) {
  // Follows the answers to a query whose schema change is recorded after it succeeded: an error
  // cancels the record; its ReadyForQuery is held back and replaced by that of the proxy's own
  // query recording it (the client sees one ReadyForQuery, in the same state: the index
  // statements run outside any transaction).
  if (type == 'E') {
    if (!record_after_.empty() && record_after_.front().ready == readies_seen_ + 1) record_after_.front().failed = true;
  } else if (type == 'Z') {
    ++readies_seen_;
    if (!record_after_.empty() && record_after_.front().ready == readies_seen_) {
      RecordAfter record = std::move(record_after_.front());
      record_after_.pop_front();
      if (!record.failed) {
        (void)tracker_.Drop('Z');  // ends the client's query in the tracker, as forwarding would
        std::string body = DdlMessageStatement(record.sql);
        body.push_back('\0');
        ++readies_sent_;
        tracker_.SentQuery({true});
        *out += EncodeMessage('Q', body);
        return Answer::kHeld;
      }
    }
  }
  return tracker_.Drop(type) ? Answer::kDrop : Answer::kForward;
}

}  // namespace pgpitr::proxy
