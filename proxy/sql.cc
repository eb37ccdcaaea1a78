#include "proxy/sql.h"

#include <cctype>
#include <cstddef>
#include <initializer_list>
#include <optional>

#include "fmt/format.h"

namespace pgpitr::proxy {

// The lexer follows the token boundaries of PostgreSQL's scan.l closely enough to find statement
// ends and leading keywords, assuming standard_conforming_strings = on (the default since 9.1):
//   whitespace    [ \t\n\r\f\v]
//   line comment  -- up to and including \n or \r
//   block comment /* ... */, nested
//   string        '...' with '' for a quote; E'...' also takes \' and \\; B'', X'', N'' and U&''
//                 are plain strings after a word (or a word and '&')
//   identifier    "..." with "" for a quote
//   dollar quote  $tag$ ... $tag$ where tag is empty or [A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*
//   parameter     $ digits (not a quote)
//   word          [A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*  (keywords are words, case-insensitive)
//   number        [0-9][0-9A-Za-z_.]*
//   anything else one character of punctuation: ( ) ; , = ...
// An unterminated string, identifier, quote or comment runs to the end of the text.

namespace {

enum class TokenKind { kWord, kQuotedIdentifier, kString, kDollarQuote, kParameter, kNumber, kPunct, kComment };

struct Token {
  TokenKind kind;
  std::string_view text;
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
bool IsIdentCont(char c) { return IsIdentStart(c) || IsDigit(c) || c == '$'; }
bool IsTagCont(char c) { return IsIdentStart(c) || IsDigit(c); }

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Whether a word is the keyword (given in lower case), ignoring ASCII case as PostgreSQL does.
bool WordIs(std::string_view word, std::string_view keyword) {
  if (word.size() != keyword.size()) return false;
  for (size_t i = 0; i < word.size(); ++i) {
    if (Lower(word[i]) != keyword[i]) return false;
  }
  return true;
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  // The next token, comments included, or nullopt at the end of the text.
  std::optional<Token> Next() {
    while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
    if (pos_ >= text_.size()) return std::nullopt;
    const size_t begin = pos_;
    const TokenKind kind = Scan();
    return Token{kind, text_.substr(begin, pos_ - begin)};
  }

 private:
  char At(size_t i) const { return i < text_.size() ? text_[i] : '\0'; }

  TokenKind Scan() {
    const char c = text_[pos_];
    if (c == '-' && At(pos_ + 1) == '-') {
      while (pos_ < text_.size() && text_[pos_] != '\n' && text_[pos_] != '\r') ++pos_;
      if (pos_ < text_.size()) ++pos_;  // the newline belongs to the comment
      return TokenKind::kComment;
    }
    if (c == '/' && At(pos_ + 1) == '*') {
      SkipBlockComment();
      return TokenKind::kComment;
    }
    if (c == '\'') {
      SkipQuoted('\'', /*backslash_escapes=*/false);
      return TokenKind::kString;
    }
    if (c == '"') {
      SkipQuoted('"', /*backslash_escapes=*/false);
      return TokenKind::kQuotedIdentifier;
    }
    if (c == '$') return ScanDollar();
    if (IsIdentStart(c)) {
      const size_t begin = pos_;
      while (pos_ < text_.size() && IsIdentCont(text_[pos_])) ++pos_;
      if (pos_ - begin == 1 && (c == 'e' || c == 'E') && At(pos_) == '\'') {
        SkipQuoted('\'', /*backslash_escapes=*/true);
        return TokenKind::kString;
      }
      return TokenKind::kWord;
    }
    if (IsDigit(c)) {
      while (pos_ < text_.size() && (IsTagCont(text_[pos_]) || text_[pos_] == '.')) ++pos_;
      return TokenKind::kNumber;
    }
    ++pos_;
    return TokenKind::kPunct;
  }

  void SkipBlockComment() {
    pos_ += 2;
    int depth = 1;
    while (pos_ < text_.size()) {
      if (text_[pos_] == '/' && At(pos_ + 1) == '*') {
        ++depth;
        pos_ += 2;
      } else if (text_[pos_] == '*' && At(pos_ + 1) == '/') {
        pos_ += 2;
        if (--depth == 0) return;
      } else {
        ++pos_;
      }
    }
  }

  // From the opening quote at pos_ to past the closing one; a doubled quote is a quote.
  void SkipQuoted(char quote, bool backslash_escapes) {
    ++pos_;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (backslash_escapes && c == '\\') {
        pos_ += 2;
      } else if (c == quote) {
        if (At(pos_ + 1) != quote) {
          ++pos_;
          return;
        }
        pos_ += 2;
      } else {
        ++pos_;
      }
    }
    pos_ = text_.size();
  }

  // $1 is a parameter; $$ and $tag$ open a dollar quote; any other $ is punctuation.
  TokenKind ScanDollar() {
    size_t i = pos_ + 1;
    if (IsDigit(At(i))) {
      while (IsDigit(At(i))) ++i;
      pos_ = i;
      return TokenKind::kParameter;
    }
    if (At(i) != '$') {
      if (!IsIdentStart(At(i))) {
        ++pos_;
        return TokenKind::kPunct;
      }
      while (IsTagCont(At(i))) ++i;
      if (At(i) != '$') {
        ++pos_;
        return TokenKind::kPunct;
      }
    }
    const std::string_view delimiter = text_.substr(pos_, i + 1 - pos_);
    const size_t close = text_.find(delimiter, i + 1);
    pos_ = close == std::string_view::npos ? text_.size() : close + delimiter.size();
    return TokenKind::kDollarQuote;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// Walks the tokens of one statement that carry meaning (not comments), keeping the parenthesis
// depth, with keyword tests for the current token.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text), lexer_(text) { Advance(); }

  bool done() const { return !token_.has_value(); }
  const Token& token() const { return *token_; }
  // Parenthesis depth before the current token.
  int depth() const { return depth_; }
  void Advance() {
    if (token_ && token_->kind == TokenKind::kPunct) {
      if (token_->text == "(") ++depth_;
      if (token_->text == ")" && depth_ > 0) --depth_;
    }
    do {
      token_ = lexer_.Next();
    } while (token_ && token_->kind == TokenKind::kComment);
  }

  bool AtWord(std::string_view keyword) const {
    return token_ && token_->kind == TokenKind::kWord && WordIs(token_->text, keyword);
  }
  bool AtAnyWord(std::initializer_list<std::string_view> keywords) const {
    for (std::string_view k : keywords) {
      if (AtWord(k)) return true;
    }
    return false;
  }
  bool AtPunct(char c) const {
    return token_ && token_->kind == TokenKind::kPunct && token_->text.size() == 1 && token_->text[0] == c;
  }
  bool Accept(std::string_view keyword) {
    if (!AtWord(keyword)) return false;
    Advance();
    return true;
  }
  bool AcceptAny(std::initializer_list<std::string_view> keywords) {
    if (!AtAnyWord(keywords)) return false;
    Advance();
    return true;
  }
  // Moves to the next token at the current depth that is one of the keywords; false at the end of
  // the statement (or of the enclosing parentheses).
  bool SeekWord(std::initializer_list<std::string_view> keywords) {
    const int depth = depth_;
    while (!done() && depth_ >= depth) {
      if (depth_ == depth && AtAnyWord(keywords)) return true;
      if (depth_ == depth && AtPunct(')')) return false;
      Advance();
    }
    return false;
  }

 private:
  std::string_view text_;
  Lexer lexer_;
  std::optional<Token> token_;
  int depth_ = 0;
};

// A boolean option value as defGetBoolean reads it: absent, true, on, 1 are true.
bool OptionValue(const Cursor& c) {
  if (c.done() || c.AtPunct(',') || c.AtPunct(')')) return true;
  std::string_view v = c.token().text;
  if (c.token().kind == TokenKind::kString && v.size() >= 2) v = v.substr(1, v.size() - 2);
  return !(WordIs(v, "false") || WordIs(v, "off") || v == "0");
}

// At '(' of an option list, "(name [=] [value], ...)": the value of the named option, if given.
// Leaves the cursor after the list.
std::optional<bool> ReadOption(Cursor& c, std::string_view name) {
  std::optional<bool> found;
  if (!c.AtPunct('(')) return found;
  const int outer = c.depth();
  c.Advance();
  while (!c.done() && c.depth() > outer) {
    if (c.depth() == outer + 1 && c.AtWord(name)) {
      c.Advance();
      if (c.AtPunct('=')) c.Advance();
      found = OptionValue(c);
    }
    c.Advance();
  }
  return found;
}

// Objects of the whole cluster (shared catalogs) or of replication setup: not part of what a
// restore of this database recreates.
bool AtClusterObject(const Cursor& c) {
  return c.AtAnyWord({"database", "role", "group", "tablespace", "subscription", "publication"});
}

// After CREATE/ALTER/DROP: whether the object kind is one a restore recreates. USER is a role,
// but USER MAPPING belongs to this database.
bool IsDatabaseObject(Cursor& c) {
  if (c.done() || AtClusterObject(c)) return false;
  if (c.Accept("user")) return c.AtWord("mapping");
  return true;
}

bool AtTemporary(Cursor& c) {
  if (c.AcceptAny({"global", "local"})) return c.AtAnyWord({"temp", "temporary"});
  return c.AtAnyWord({"temp", "temporary"});
}

// SELECT ... INTO [TEMP|UNLOGGED] [TABLE] name creates a table, like CREATE TABLE AS.
bool SelectCreatesTable(Cursor& c) {
  if (!c.SeekWord({"into"})) return false;
  c.Advance();
  return !c.done() && !AtTemporary(c);
}

bool CreateIsSchemaChange(Cursor& c) {
  if (c.Accept("or")) c.Accept("replace");
  if (AtTemporary(c)) return false;
  c.Accept("unlogged");
  return IsDatabaseObject(c);
}

// GRANT/REVOKE privileges ON objects TO/FROM roles; without ON it is role membership (a
// cluster-wide catalog), as are privileges on databases, tablespaces and parameters.
bool GrantIsSchemaChange(Cursor& c) {
  if (!c.SeekWord({"on", "to", "from"}) || !c.AtWord("on")) return false;
  c.Advance();
  return !c.done() && !c.AtAnyWord({"database", "tablespace", "parameter"});
}

// An identifier as PostgreSQL folds it: unquoted lower case, quoted without its quotes.
std::string FoldIdentifier(const Token& t) {
  std::string out;
  if (t.kind == TokenKind::kQuotedIdentifier) {
    const std::string_view inner = t.text.substr(1, t.text.size() - 2);
    for (size_t i = 0; i < inner.size(); ++i) {
      out += inner[i];
      if (inner[i] == '"' && i + 1 < inner.size() && inner[i + 1] == '"') ++i;
    }
    return out;
  }
  for (char ch : t.text) out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

// After EXPLAIN: whether the options include ANALYZE, leaving the cursor at the statement.
bool ExplainAnalyzes(Cursor& c) {
  if (c.AtPunct('(')) {
    Cursor options = c;
    bool analyze = ReadOption(options, "analyze").value_or(false);
    if (!analyze) {
      options = c;
      analyze = ReadOption(options, "analyse").value_or(false);
    }
    c = options;
    return analyze;
  }
  bool analyze = false;
  while (c.AtAnyWord({"analyze", "analyse", "verbose"})) {
    analyze = analyze || !c.AtWord("verbose");
    c.Advance();
  }
  return analyze;
}

}  // namespace

std::vector<std::string_view> SplitStatements(std::string_view query) {
  std::vector<std::string_view> out;
  Lexer lexer(query);
  size_t begin = 0, end = 0;  // of the current piece's tokens
  bool any_token = false;     // the piece has a token (maybe only comments)
  bool has_code = false;      // the piece has a token that is not a comment
  int depth = 0;
  // CREATE [OR REPLACE] FUNCTION|PROCEDURE: a BEGIN ATOMIC body follows, whose statements end
  // with semicolons; it closes with END, after any CASE ... END inside it.
  enum class Head { kStart, kCreate, kOr, kOrReplace, kRoutine, kOther } head = Head::kStart;
  bool after_begin = false;
  int atomic = 0;

  auto finish = [&] {
    if (has_code) out.push_back(query.substr(begin, end - begin));
    any_token = has_code = false;
    head = Head::kStart;
    after_begin = false;
    atomic = 0;
    depth = 0;
  };

  while (std::optional<Token> t = lexer.Next()) {
    const size_t t_begin = static_cast<size_t>(t->text.data() - query.data());
    if (t->kind == TokenKind::kPunct && t->text == ";" && depth == 0 && atomic == 0) {
      finish();
      continue;
    }
    if (!any_token) begin = t_begin;
    any_token = true;
    end = t_begin + t->text.size();
    if (t->kind == TokenKind::kComment) continue;
    has_code = true;

    if (t->kind == TokenKind::kPunct) {
      if (t->text == "(") ++depth;
      if (t->text == ")" && depth > 0) --depth;
    }
    const bool word = t->kind == TokenKind::kWord;
    const std::string_view w = t->text;
    switch (head) {
      case Head::kStart:
        head = word && WordIs(w, "create") ? Head::kCreate : Head::kOther;
        break;
      case Head::kCreate:
        head = word && WordIs(w, "or")                                     ? Head::kOr
               : word && (WordIs(w, "function") || WordIs(w, "procedure")) ? Head::kRoutine
                                                                           : Head::kOther;
        break;
      case Head::kOr:
        head = word && WordIs(w, "replace") ? Head::kOrReplace : Head::kOther;
        break;
      case Head::kOrReplace:
        head = word && (WordIs(w, "function") || WordIs(w, "procedure")) ? Head::kRoutine : Head::kOther;
        break;
      case Head::kRoutine:
        if (!word) {
          after_begin = false;
        } else if (atomic == 0) {
          if (after_begin && WordIs(w, "atomic")) atomic = 1;
          after_begin = depth == 0 && WordIs(w, "begin");
        } else if (WordIs(w, "case")) {
          ++atomic;
        } else if (WordIs(w, "end")) {
          --atomic;
        }
        break;
      case Head::kOther:
        break;
    }
  }
  finish();
  return out;
}

namespace {

// Moves past EXPLAIN [ANALYZE] and opening parentheses. For a SELECT (with or without WITH), whether
// it creates a table (SELECT ... INTO); nullopt for any other statement, the cursor at its first word.
std::optional<bool> SelectFormCreatesTable(Cursor& c) {
  // EXPLAIN ANALYZE runs the statement: CREATE TABLE AS and SELECT INTO create their table.
  while (c.Accept("explain")) {
    if (!ExplainAnalyzes(c)) return false;
  }
  // A query may open with parentheses, and (SELECT 1 INTO t) creates t all the same.
  while (c.AtPunct('(')) c.Advance();
  if (c.AtWord("select")) return SelectCreatesTable(c);
  if (c.Accept("with")) {
    // Past the common table expressions (all parenthesized) to the statement they serve.
    if (!c.SeekWord({"select", "insert", "update", "delete", "merge", "values", "table"})) return false;
    return c.AtWord("select") && SelectCreatesTable(c);
  }
  return std::nullopt;
}

}  // namespace

bool IsSchemaChange(std::string_view statement) {
  Cursor c(statement);
  if (std::optional<bool> select = SelectFormCreatesTable(c)) return *select;
  if (c.done() || c.depth() > 0 || c.token().kind != TokenKind::kWord) return false;
  if (c.Accept("create")) return CreateIsSchemaChange(c);
  if (c.Accept("alter")) return !c.AtWord("system") && IsDatabaseObject(c);
  if (c.Accept("drop")) return IsDatabaseObject(c);
  if (c.Accept("comment")) return c.Accept("on") && !AtClusterObject(c) && !c.done();
  if (c.Accept("security")) {
    if (!c.Accept("label")) return false;
    if (c.Accept("for")) c.Advance();  // the provider
    return c.Accept("on") && !AtClusterObject(c) && !c.done();
  }
  if (c.AtAnyWord({"grant", "revoke"})) return GrantIsSchemaChange(c);
  if (c.Accept("import")) return c.Accept("foreign") && c.AtWord("schema");
  if (c.Accept("reassign")) return c.AtWord("owned");
  // A materialized view's contents are not in the stream: its REFRESH is made again at its place.
  if (c.Accept("refresh")) return c.AtWord("materialized");
  return false;
}

// The statements that call PreventInTransactionBlock in PostgreSQL 15 (src/backend/tcop/utility.c
// and commands/): those whose text decides it. CLUSTER or REINDEX TABLE of a partitioned table are
// refused too, which the text alone cannot tell.
bool CreatesTableFromQuery(std::string_view statement) {
  Cursor c(statement);
  if (std::optional<bool> select = SelectFormCreatesTable(c)) return *select;
  if (!c.Accept("create")) return false;
  if (AtTemporary(c)) return false;
  c.Accept("unlogged");
  // CREATE TABLE name [(columns)] [options] AS query: AS stands outside every parenthesis only there.
  return c.Accept("table") && c.SeekWord({"as"});
}

std::optional<std::string> TableCreatedFromQuery(std::string_view statement) {
  Cursor c(statement);
  if (std::optional<bool> select = SelectFormCreatesTable(c)) {
    // SelectCreatesTable stopped past INTO: [UNLOGGED] [TABLE] name.
    if (!*select) return std::nullopt;
    c = Cursor(statement);
    SelectFormCreatesTable(c);
  } else {
    if (!c.Accept("create") || AtTemporary(c)) return std::nullopt;
    c.Accept("unlogged");
    if (!c.Accept("table")) return std::nullopt;
    Cursor as = c;
    if (!as.SeekWord({"as"})) return std::nullopt;
    if (c.AtWord("if")) {
      c.Advance();
      if (!c.Accept("not") || !c.Accept("exists")) return std::nullopt;
    }
  }
  c.Accept("unlogged");
  c.Accept("table");
  // name, or schema.name: words and quoted identifiers joined by dots, as written.
  if (c.done() || (c.token().kind != TokenKind::kWord && c.token().kind != TokenKind::kQuotedIdentifier)) {
    return std::nullopt;
  }
  const char* begin = c.token().text.data();
  const char* end = begin + c.token().text.size();
  c.Advance();
  while (!c.done() && c.AtPunct('.')) {
    c.Advance();
    if (c.done() || (c.token().kind != TokenKind::kWord && c.token().kind != TokenKind::kQuotedIdentifier)) {
      return std::nullopt;
    }
    end = c.token().text.data() + c.token().text.size();
    c.Advance();
  }
  return std::string(begin, static_cast<size_t>(end - begin));
}

std::optional<std::string> IndexStatementWithoutConcurrently(std::string_view statement) {
  Cursor c(statement);
  if (c.done() || c.token().kind != TokenKind::kWord) return std::nullopt;
  if (c.Accept("create")) {
    c.Accept("unique");
  } else if (!c.Accept("drop")) {
    return std::nullopt;
  }
  if (!c.Accept("index") || !c.AtWord("concurrently")) return std::nullopt;
  const std::string_view word = c.token().text;
  const size_t at = static_cast<size_t>(word.data() - statement.data());
  std::string out(statement.substr(0, at));
  out += statement.substr(at + word.size());
  return out;
}

std::optional<Detach> DetachWithoutConcurrently(std::string_view statement) {
  Cursor c(statement);
  if (!c.Accept("alter") || !c.Accept("table")) return std::nullopt;
  // DETACH PARTITION, at the top level (a table may be called detach), then the partition's name.
  bool found = false;
  while (!c.done() && !found) {
    const bool detach = c.depth() == 0 && c.AtWord("detach");
    c.Advance();
    found = detach && c.Accept("partition");
  }
  if (!found || c.done()) return std::nullopt;
  const size_t name_at = static_cast<size_t>(c.token().text.data() - statement.data());
  while (!c.done() && !c.AtWord("concurrently") && !c.AtWord("finalize") && !c.AtPunct(';')) c.Advance();
  if (!c.AtWord("concurrently")) return std::nullopt;
  const std::string_view word = c.token().text;
  const size_t at = static_cast<size_t>(word.data() - statement.data());
  std::string_view partition = statement.substr(name_at, at - name_at);
  while (!partition.empty() && std::isspace(static_cast<unsigned char>(partition.back())) != 0) {
    partition.remove_suffix(1);
  }
  return Detach{.statement = std::string(statement.substr(0, at)) + std::string(statement.substr(at + word.size())),
                .partition = std::string(partition)};
}

std::optional<std::vector<std::string>> GrantedRelations(std::string_view statement) {
  Cursor c(statement);
  if (!c.AtAnyWord({"grant", "revoke"})) return std::nullopt;
  if (!c.SeekWord({"on", "to", "from"}) || !c.AtWord("on")) return std::nullopt;
  c.Advance();
  c.AcceptAny({"table", "sequence"});
  std::vector<std::string> names;
  std::string name;
  while (!c.done()) {
    const Token& t = c.token();
    if (t.kind == TokenKind::kWord && (WordIs(t.text, "to") || WordIs(t.text, "from"))) break;
    if (t.kind == TokenKind::kWord && names.empty() && name.empty() &&
        (WordIs(t.text, "all") || WordIs(t.text, "schema") || WordIs(t.text, "function") ||
         WordIs(t.text, "procedure") || WordIs(t.text, "routine") || WordIs(t.text, "type") ||
         WordIs(t.text, "domain") || WordIs(t.text, "language") || WordIs(t.text, "large") ||
         WordIs(t.text, "foreign") || WordIs(t.text, "database") || WordIs(t.text, "tablespace") ||
         WordIs(t.text, "parameter"))) {
      return std::nullopt;
    }
    if (t.kind == TokenKind::kWord || t.kind == TokenKind::kQuotedIdentifier) {
      name += FoldIdentifier(t);
    } else if (t.kind == TokenKind::kPunct && t.text == ".") {
      name += '.';
    } else if (t.kind == TokenKind::kPunct && t.text == ",") {
      names.push_back(std::move(name));
      name.clear();
    } else {
      return std::nullopt;
    }
    c.Advance();
  }
  if (c.done() || name.empty()) return std::nullopt;
  names.push_back(std::move(name));
  return names;
}

namespace {

// A name of one or more dotted parts, each a word or a quoted identifier, folded; empty when the
// cursor is at anything else. Leaves the cursor after it.
std::vector<std::string> ReadName(Cursor& c) {
  std::vector<std::string> parts;
  while (!c.done() && (c.token().kind == TokenKind::kWord || c.token().kind == TokenKind::kQuotedIdentifier)) {
    parts.push_back(FoldIdentifier(c.token()));
    c.Advance();
    if (!c.AtPunct('.')) break;
    c.Advance();
  }
  return parts;
}

// A relation's name of one or two parts; nullopt for anything else.
std::optional<RelationName> RelationNameOf(const std::vector<std::string>& parts) {
  if (parts.empty() || parts.size() > 2) return std::nullopt;
  return parts.size() == 1 ? RelationName{"", parts[0]} : RelationName{parts[0], parts[1]};
}

// After ALTER, DROP or COMMENT ON: a relation kind, accepted.
bool AcceptRelationKind(Cursor& c) {
  if (c.AcceptAny({"table", "index", "view", "sequence"})) return true;
  if (c.Accept("materialized")) return c.Accept("view");
  if (c.Accept("foreign")) return c.Accept("table");
  return false;
}

}  // namespace

std::optional<std::vector<RelationName>> RelationsActedOn(std::string_view statement, bool* dropped) {
  Cursor c(statement);
  std::vector<RelationName> out;
  if (dropped != nullptr) *dropped = c.AtWord("drop");
  auto one = [&](const std::vector<std::string>& parts) -> std::optional<std::vector<RelationName>> {
    std::optional<RelationName> name = RelationNameOf(parts);
    if (!name) return std::nullopt;
    return std::vector<RelationName>{*name};
  };
  if (c.Accept("alter")) {
    if (!AcceptRelationKind(c)) return std::nullopt;
    if (c.Accept("if") && !c.Accept("exists")) return std::nullopt;
    c.Accept("only");
    if (c.AtWord("all")) return std::nullopt;  // ALTER TABLE ALL IN TABLESPACE
    return one(ReadName(c));
  }
  if (c.Accept("drop")) {
    // DROP RULE, TRIGGER or POLICY name ON table: acts on the table, which it does not drop.
    if (c.AcceptAny({"rule", "trigger", "policy"})) {
      if (dropped != nullptr) *dropped = false;
      if (c.Accept("if") && !c.Accept("exists")) return std::nullopt;
      c.Advance();  // the name
      if (!c.Accept("on")) return std::nullopt;
      return one(ReadName(c));
    }
    const bool index = c.AtWord("index");
    if (!AcceptRelationKind(c)) return std::nullopt;
    if (index) c.Accept("concurrently");
    if (c.Accept("if") && !c.Accept("exists")) return std::nullopt;
    for (;;) {
      std::optional<RelationName> name = RelationNameOf(ReadName(c));
      if (!name) return std::nullopt;
      out.push_back(*std::move(name));
      if (!c.AtPunct(',')) break;
      c.Advance();
    }
    if (c.AcceptAny({"cascade", "restrict"}) || c.done()) return out;
    return std::nullopt;
  }
  if (c.Accept("comment")) {
    if (!c.Accept("on")) return std::nullopt;
    const bool column = c.Accept("column");
    if (!column && !AcceptRelationKind(c)) return std::nullopt;
    std::vector<std::string> parts = ReadName(c);
    if (column) {
      if (parts.size() < 2) return std::nullopt;
      parts.pop_back();
    }
    return one(parts);
  }
  if (c.Accept("create")) {
    if (c.Accept("or") && !c.Accept("replace")) return std::nullopt;
    if (c.Accept("rule")) {
      if (!c.SeekWord({"to"})) return std::nullopt;
      c.Advance();
      return one(ReadName(c));
    }
    c.Accept("unique");
    c.Accept("constraint");
    if (!c.AcceptAny({"index", "trigger", "policy"})) return std::nullopt;
    if (!c.SeekWord({"on"})) return std::nullopt;
    c.Advance();
    c.Accept("only");
    return one(ReadName(c));
  }
  return std::nullopt;
}

std::optional<RelationName> RelationMade(std::string_view statement, bool* view, bool* partition) {
  Cursor c(statement);
  if (view != nullptr) *view = false;
  if (partition != nullptr) *partition = false;
  if (!c.Accept("create")) return std::nullopt;
  if (c.Accept("or") && !c.Accept("replace")) return std::nullopt;
  if (AtTemporary(c)) return std::nullopt;
  c.AcceptAny({"unlogged", "recursive"});
  const bool is_view = c.AtWord("view");
  if (c.Accept("materialized")) {
    if (!c.Accept("view")) return std::nullopt;
  } else if (c.Accept("foreign")) {
    if (!c.Accept("table")) return std::nullopt;
  } else if (!c.AcceptAny({"table", "view", "sequence"})) {
    return std::nullopt;
  }
  if (c.Accept("if")) {
    if (!c.Accept("not") || !c.Accept("exists")) return std::nullopt;
  }
  std::optional<RelationName> name = RelationNameOf(ReadName(c));
  if (name && view != nullptr) *view = is_view;
  if (name && partition != nullptr) *partition = c.Accept("partition") && c.AtWord("of");
  return name;
}

std::optional<RelationName> TypeMade(std::string_view statement) {
  Cursor c(statement);
  if (!c.Accept("create") || !c.AcceptAny({"domain", "type"})) return std::nullopt;
  return RelationNameOf(ReadName(c));
}

std::optional<RelationName> RoutineMade(std::string_view statement) {
  Cursor c(statement);
  if (!c.Accept("create")) return std::nullopt;
  if (c.Accept("or") && !c.Accept("replace")) return std::nullopt;
  if (!c.AcceptAny({"function", "procedure"})) return std::nullopt;
  return RelationNameOf(ReadName(c));
}

std::optional<ColumnsAdded> ColumnsAddedBy(std::string_view statement) {
  Cursor c(statement);
  if (!c.Accept("alter") || !c.Accept("table")) return std::nullopt;
  if (c.Accept("if") && !c.Accept("exists")) return std::nullopt;
  c.Accept("only");
  std::optional<RelationName> table = RelationNameOf(ReadName(c));
  if (!table) return std::nullopt;
  ColumnsAdded out{.table = *table, .columns = {}};
  while (c.SeekWord({"add"})) {
    c.Advance();
    c.Accept("column");
    if (c.Accept("if")) {
      if (!c.Accept("not") || !c.Accept("exists")) continue;
    }
    if (c.done() || c.AtAnyWord({"constraint", "primary", "unique", "check", "foreign", "exclude", "generated"}) ||
        (c.token().kind != TokenKind::kWord && c.token().kind != TokenKind::kQuotedIdentifier)) {
      continue;
    }
    out.columns.push_back(FoldIdentifier(c.token()));
    c.Advance();
  }
  if (out.columns.empty()) return std::nullopt;
  return out;
}

bool MakesTableLike(std::string_view statement) {
  bool view = true;
  if (!RelationMade(statement, &view) || view) return false;
  Cursor c(statement);
  if (!c.SeekWord({"table"})) return false;
  c.Advance();
  while (!c.done() && !c.AtPunct('(')) c.Advance();  // past the name
  if (c.done()) return false;
  bool element_start = true;  // after '(' or ',' at the list's depth
  c.Advance();
  while (!c.done() && c.depth() >= 1) {
    if (c.depth() == 1 && element_start && c.AtWord("like")) return true;
    element_start = c.depth() == 1 && c.AtPunct(',');
    c.Advance();
  }
  return false;
}

bool MayLeaveTableWithoutKey(std::string_view statement) {
  if (CreatesTableFromQuery(statement)) return true;
  Cursor c(statement);
  if (c.Accept("alter")) return c.AtWord("table");
  if (c.Accept("drop")) return c.AtWord("index");
  if (!c.Accept("create") || AtTemporary(c)) return false;
  if (c.AtWord("schema")) return true;  // its CREATE TABLEs
  c.Accept("unlogged");
  return c.AtWord("table");
}

namespace {

// ALTER TABLE [IF EXISTS] [ONLY] name <verb> PARTITION partition ...: the partition.
std::optional<RelationName> PartitionOf(std::string_view statement, std::string_view verb) {
  Cursor c(statement);
  if (!c.Accept("alter") || !c.Accept("table")) return std::nullopt;
  if (c.Accept("if") && !c.Accept("exists")) return std::nullopt;
  c.Accept("only");
  if (ReadName(c).empty() || !c.Accept(verb) || !c.Accept("partition")) return std::nullopt;
  return RelationNameOf(ReadName(c));
}

}  // namespace

std::optional<RelationName> PartitionAttached(std::string_view statement) { return PartitionOf(statement, "attach"); }

std::optional<RelationName> PartitionDetached(std::string_view statement) { return PartitionOf(statement, "detach"); }

std::optional<std::string> PreparedName(std::string_view statement) {
  Cursor c(statement);
  if (!c.Accept("prepare") || c.AtWord("transaction")) return std::nullopt;
  if (c.done() || (c.token().kind != TokenKind::kWord && c.token().kind != TokenKind::kQuotedIdentifier)) {
    return std::nullopt;
  }
  return FoldIdentifier(c.token());
}

std::optional<std::string> DeallocatedName(std::string_view statement) {
  Cursor c(statement);
  if (!c.Accept("deallocate")) return std::nullopt;
  c.Accept("prepare");
  if (c.Accept("all") || c.done()) return std::string();
  if (c.token().kind != TokenKind::kWord && c.token().kind != TokenKind::kQuotedIdentifier) return std::nullopt;
  return FoldIdentifier(c.token());
}

std::optional<std::string> ExecutedName(std::string_view statement) {
  if (!TableCreatedFromQuery(statement)) return std::nullopt;
  Cursor c(statement);
  if (!c.SeekWord({"execute"})) return std::nullopt;
  c.Advance();
  if (c.done() || (c.token().kind != TokenKind::kWord && c.token().kind != TokenKind::kQuotedIdentifier)) {
    return std::nullopt;
  }
  return FoldIdentifier(c.token());
}

std::optional<std::string> DropIfExists(std::string_view statement) {
  Cursor c(statement);
  if (!c.Accept("drop")) return std::nullopt;
  const bool index = c.AtWord("index");
  if (!AcceptRelationKind(c) &&
      !c.AcceptAny({"type", "domain", "schema", "function", "procedure", "routine", "aggregate"})) {
    return std::nullopt;
  }
  if (index) c.Accept("concurrently");
  if (c.done() || c.AtWord("if")) return std::nullopt;
  const size_t at = static_cast<size_t>(c.token().text.data() - statement.data());
  return fmt::format("{}IF EXISTS {}", statement.substr(0, at), statement.substr(at));
}

namespace {

// Whether `text` holds "lo_" in any case.
bool NamesLargeObjectFunction(std::string_view text) {
  for (size_t i = 0; i + 2 < text.size(); ++i) {
    if (Lower(text[i]) == 'l' && Lower(text[i + 1]) == 'o' && text[i + 2] == '_') return true;
  }
  return false;
}

}  // namespace

bool MayTouchLargeObjects(std::string_view query) {
  if (NamesLargeObjectFunction(query)) return true;
  for (size_t i = 0; i + 5 <= query.size(); ++i) {
    if (Lower(query[i]) == 'o' && WordIs(query.substr(i, 5), "owned")) return true;
  }
  return false;
}

LargeObjectCalls LargeObjectsTouched(std::string_view statement) {
  LargeObjectCalls calls;
  Cursor c(statement);
  if (c.Accept("drop") && c.AtWord("owned")) calls.removes = true;
  // Most statements name no function of these: one pass over the bytes before any lexing.
  if (!NamesLargeObjectFunction(statement)) return calls;
  for (; !c.done(); c.Advance()) {
    if (c.token().kind != TokenKind::kWord) continue;
    if (c.AtAnyWord({"lo_create", "lo_creat", "lo_import", "lo_from_bytea"})) calls.makes = true;
    if (c.AtWord("lo_unlink")) calls.removes = true;
  }
  return calls;
}

bool MustRunOutsideTransaction(std::string_view statement) {
  Cursor c(statement);
  if (c.done() || c.token().kind != TokenKind::kWord) return false;
  if (c.Accept("vacuum")) return true;
  if (c.Accept("cluster")) {
    // Without a table, CLUSTER processes every clustered table, one transaction each.
    if (c.AtPunct('(')) ReadOption(c, "verbose");
    c.Accept("verbose");
    return c.done();
  }
  if (c.Accept("create")) {
    c.Accept("unique");
    if (c.Accept("index")) return c.AtWord("concurrently");
    if (c.AtAnyWord({"database", "tablespace"})) return true;
    if (c.Accept("subscription")) {
      // create_slot defaults to connect, which defaults to true.
      if (!c.SeekWord({"with"})) return true;
      c.Advance();
      Cursor options = c;
      if (!ReadOption(options, "connect").value_or(true)) return false;
      return ReadOption(c, "create_slot").value_or(true);
    }
    return false;
  }
  if (c.Accept("drop")) {
    if (c.Accept("index")) return c.AtWord("concurrently");
    // DROP SUBSCRIPTION is refused when the subscription has a replication slot, the usual case.
    return c.AtAnyWord({"database", "tablespace", "subscription"});
  }
  if (c.Accept("alter")) {
    if (c.AtWord("system")) return true;
    if (c.Accept("database")) {
      c.Advance();  // the name
      return c.Accept("set") && c.AtWord("tablespace");
    }
    if (c.Accept("table")) {
      return c.SeekWord({"detach"}) && c.SeekWord({"concurrently"});
    }
    if (c.Accept("subscription")) {
      c.Advance();  // the name
      if (c.AtWord("refresh")) return true;
      if (!c.AcceptAny({"set", "add", "drop"}) || !c.AtWord("publication")) return false;
      if (!c.SeekWord({"with"})) return true;
      c.Advance();
      return ReadOption(c, "refresh").value_or(true);
    }
    return false;
  }
  if (c.Accept("reindex")) {
    bool concurrently = false;
    if (c.AtPunct('(')) concurrently = ReadOption(c, "concurrently").value_or(false);
    if (c.AtAnyWord({"schema", "database", "system"})) return true;
    c.Advance();  // INDEX or TABLE
    return concurrently || c.AtWord("concurrently");
  }
  if (c.Accept("discard")) return c.AtWord("all");
  if (c.AcceptAny({"commit", "rollback"})) return c.AtWord("prepared");
  return false;
}

}  // namespace pgpitr::proxy
