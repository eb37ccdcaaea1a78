#include "proxy/ddl_recorder.h"

#include <algorithm>

#include "fmt/format.h"
#include "pg/stream_messages.h"
#include "proxy/sql.h"

namespace pgpitr::proxy {

namespace {

// The statement as an ASCII expression of its text: its bytes in hex, read in the client's encoding.
// (Quoted as it is, a function's body would occur twice in the query, and the server could no
// longer place an error in it: the client would get a QUERY block instead of its position.)
std::string TextOf(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * text.size());
  for (const char c : text) {
    hex += kHex[static_cast<unsigned char>(c) >> 4];
    hex += kHex[static_cast<unsigned char>(c) & 15];
  }
  return fmt::format("pg_catalog.convert_from(pg_catalog.decode('{}', 'hex'), pg_catalog.pg_client_encoding())", hex);
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

// The roles the source has (not PostgreSQL's own): roles are the cluster's, not in a dump, and a
// GRANT or an owner may name one the restore target lacks.
constexpr const char* kRoles =
    "(SELECT pg_catalog.json_agg(r.rolname ORDER BY r.rolname) FROM pg_catalog.pg_roles r WHERE r.rolname !~ '^pg_')";

// The statement that records a schema change in the stream: a transactional message, so it
// lands at its place in the transaction and disappears with it.
// Nor is one recorded that acts on temporary relations only (as the session resolves their names
// before it runs: a temporary table shadows a lasting one of its name): they end with the session,
// and no restore has them. A DROP naming a lasting one too is recorded (restore drops IF EXISTS).
std::string NotTemporaryOnly(std::string_view statement) {
  const std::optional<std::vector<RelationName>> names = RelationsActedOn(statement);
  if (!names) return "";
  std::string array;
  for (const RelationName& r : *names) {
    const std::string name = fmt::format("pg_catalog.quote_ident({})", TextOf(r.name));
    array += (array.empty() ? "" : ", ") +
             (r.schema.empty() ? name : fmt::format("pg_catalog.quote_ident({}) || '.' || {}", TextOf(r.schema), name));
  }
  return fmt::format(
      " AND NOT (SELECT pg_catalog.bool_and(COALESCE(c.relpersistence = 't', false)) FROM pg_catalog.unnest(ARRAY[{}]) "
      "n LEFT JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(n))",
      array);
}

// `prepare`: the PREPARE of the statement a CREATE TABLE ... AS EXECUTE runs (restore runs it first).
std::string DdlMessageStatement(std::string_view statement, std::string_view prepare = {}) {
  return fmt::format(
      "SELECT CASE WHEN {}{} THEN pg_catalog.pg_logical_emit_message(true, '{}', pg_catalog.json_build_object("
      "'search_path', pg_catalog.current_setting('search_path'), 'sql', {}, 'roles', {}{})::text) END;",
      NoEventTrigger(), NotTemporaryOnly(statement), pg::kDdlMessagePrefix, TextOf(statement), kRoles,
      prepare.empty() ? "" : ", 'prepare', " + TextOf(prepare));
}

// The NUL-terminated string at offset (empty when there is none: the server will reject the
// message itself).
std::string CString(std::string_view body, size_t offset) {
  if (offset >= body.size()) return "";
  const size_t end = body.find('\0', offset);
  return std::string(body.substr(offset, end == std::string_view::npos ? std::string_view::npos : end - offset));
}

}  // namespace

std::optional<RewrittenQuery> RewriteForDdlCapture(std::string_view query, PreparedStatements* prepared) {
  const std::vector<std::string_view> statements = SplitStatements(query);
  std::vector<bool> recorded;
  recorded.reserve(statements.size());
  std::vector<std::string> prepares(statements.size());
  for (size_t i = 0; i < statements.size(); ++i) {
    const std::string_view s = statements[i];
    recorded.push_back(Recorded(s));
    if (prepared == nullptr) continue;
    if (std::optional<std::string> name = PreparedName(s)) {
      (*prepared)[*name] = std::string(s);
    } else if (std::optional<std::string> gone = DeallocatedName(s)) {
      if (gone->empty()) {
        prepared->clear();
      } else {
        prepared->erase(*gone);
      }
    } else if (recorded.back()) {
      if (std::optional<std::string> executed = ExecutedName(s)) {
        if (auto it = prepared->find(*executed); it != prepared->end()) prepares[i] = it->second;
      }
    }
  }
  if (std::find(recorded.begin(), recorded.end(), true) == recorded.end()) return std::nullopt;
  RewrittenQuery out;
  size_t copied = 0;  // of the client's query
  for (size_t i = 0; i < statements.size(); ++i) {
    const std::string_view s = statements[i];
    if (recorded[i]) {
      const size_t at = static_cast<size_t>(s.data() - query.data());
      out.query.append(query.substr(copied, at - copied));
      copied = at;
      const std::string message = DdlMessageStatement(s, prepares[i]);
      out.query += message;
      out.insertions.push_back({at, message.size()});
      out.injected.push_back(true);
    }
    out.injected.push_back(false);
  }
  out.query.append(query.substr(copied));
  return out;
}

namespace {

// Characters in text, in a client encoding; nullopt for a multibyte encoding other than UTF8 when
// the text is not all ASCII.
std::optional<size_t> Characters(std::string_view text, std::string_view encoding) {
  const bool ascii = std::all_of(text.begin(), text.end(), [](char c) { return (c & 0x80) == 0; });
  if (ascii) return text.size();
  if (encoding == "UTF8") {
    return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  }
  const bool single_byte = encoding == "SQL_ASCII" || encoding.starts_with("LATIN") ||
                           encoding.starts_with("ISO_8859") || encoding.starts_with("WIN") ||
                           encoding.starts_with("KOI8");
  if (single_byte) return text.size();
  return std::nullopt;
}

}  // namespace

std::optional<size_t> ClientErrorPosition(size_t position, const std::string& client_query,
                                          const RewrittenQuery& rewritten, size_t completed,
                                          std::string_view client_encoding) {
  if (position == 0) return std::nullopt;
  if (completed > 0) {
    // An error while running statement number `completed`: the messages before it shift it.
    if (completed >= rewritten.injected.size() || rewritten.injected[completed]) return std::nullopt;
    const auto before = static_cast<size_t>(
        std::count(rewritten.injected.begin(), rewritten.injected.begin() + static_cast<ptrdiff_t>(completed), true));
    size_t shift = 0;
    for (size_t k = 0; k < before && k < rewritten.insertions.size(); ++k) shift += rewritten.insertions[k].length;
    return position > shift ? std::optional<size_t>(position - shift) : std::nullopt;
  }
  // Maybe a syntax error, anywhere: by characters.
  const size_t at = position - 1;
  size_t shift = 0;
  for (const RewrittenQuery::Insertion& insertion : rewritten.insertions) {
    const std::optional<size_t> before =
        Characters(std::string_view(client_query).substr(0, insertion.offset), client_encoding);
    if (!before.has_value()) return std::nullopt;
    const size_t starts = *before + shift;  // in the rewritten text
    if (at < starts) break;
    if (at < starts + insertion.length) return std::nullopt;
    shift += insertion.length;
  }
  return position - shift;
}

void DdlRecorder::FromClient(const Frame& frame, bool capture, std::string* out) {
  switch (frame.type) {
    case 'Q': {
      absl::StatusOr<std::string_view> query = ParseQuery(frame.body);
      ++readies_sent_;
      if (capture && query.ok()) {
        if (std::optional<RewrittenQuery> rewritten = RewriteForDdlCapture(*query, &prepared_)) {
          std::string body = rewritten->query;
          body.push_back('\0');
          *out += EncodeMessage('Q', body);
          tracker_.SentQuery(rewritten->injected);
          rewritten_.push_back({readies_sent_, std::string(*query), std::move(*rewritten), 0});
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
      "SELECT CASE WHEN {}{} THEN pg_catalog.pg_logical_emit_message(true, '{}', pg_catalog.json_build_object("
      "'search_path', pg_catalog.current_setting('search_path'), 'sql', $1::text, 'roles', {})::text) END",
      NoEventTrigger(), NotTemporaryOnly(sql), pg::kDdlMessagePrefix, kRoles);
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

std::optional<std::string> DdlRecorder::ForClient(const Frame& frame) {
  if (frame.type == 'S') {
    // ParameterStatus: name, value.
    const std::string name = CString(frame.body, 0);
    if (name == "client_encoding") client_encoding_ = CString(frame.body, name.size() + 1);
    return std::nullopt;
  }
  if ((frame.type != 'E' && frame.type != 'N') || rewritten_.empty() || rewritten_.front().ready != readies_seen_ + 1) {
    return std::nullopt;
  }
  // Fields: a type byte and a string each, then a zero byte.
  const Rewritten& current = rewritten_.front();
  std::string body;
  bool changed = false;
  for (size_t at = 0; at < frame.body.size() && frame.body[at] != '\0';) {
    const char field = frame.body[at];
    std::string value = CString(frame.body, at + 1);
    at += value.size() + 2;
    if (field == 'P') {
      size_t position = 0;
      const bool number = !value.empty() &&
                          std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                          value.size() < 10;
      if (number) position = std::stoul(value);
      if (std::optional<size_t> mapped = ClientErrorPosition(position, current.client_query, current.rewritten,
                                                             current.completed, client_encoding_)) {
        value = std::to_string(*mapped);
        changed = true;
      }
    }
    body += field;
    body += value;
    body += '\0';
  }
  if (!changed) return std::nullopt;
  body += '\0';
  return EncodeMessage(frame.type, body);
}

DdlRecorder::Answer DdlRecorder::FromDatabase(char type, std::string* out) {
  if (!rewritten_.empty() && rewritten_.front().ready == readies_seen_ + 1 && type == 'C') {
    ++rewritten_.front().completed;
  }
  if (type == 'Z') {
    while (!rewritten_.empty() && rewritten_.front().ready <= readies_seen_ + 1) rewritten_.pop_front();
  }
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
