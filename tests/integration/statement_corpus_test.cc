// The proxy's statement recognizer (proxy/sql.h) over every query of PostgreSQL's regression
// corpus, with the server as the oracle: an event trigger at the start of each schema-change command
// says which queries ran one (tests/corpus/regress_corpus.cc --mode statements).
#include <sys/wait.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "proxy/sql.h"
#include "tests/spawn.h"

namespace pgpitr::testing {
namespace {

struct Statement {
  std::string file;
  std::string sql;
  std::vector<std::string> tags;  // the schema-change commands the server started for it
  bool failed = false;
};

// The corpus's queries as the server got them: run now on a throwaway PostgreSQL 15 (about 20 s),
// or read from $PGPITR_CORPUS_STATEMENTS (a file an earlier run wrote).
std::vector<Statement> CorpusStatements() {
  std::filesystem::path path;
  if (const char* given = std::getenv("PGPITR_CORPUS_STATEMENTS"); given != nullptr && *given != '\0') {
    path = given;
  } else {
    path = std::filesystem::temp_directory_path() / fmt::format("pgpitr-corpus-statements-{}.jsonl", getpid());
    const std::filesystem::path log = path.string() + ".log";
    const pid_t pid = SpawnLogged({PGPITR_CORPUS_BINARY, "--mode", "statements", "--out", path.string()}, {}, log);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Slurp(log);
    std::filesystem::remove(log);
  }
  std::vector<Statement> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    Statement s{j["file"], j["sql"], j["tags"].get<std::vector<std::string>>(), j["failed"]};
    out.push_back(std::move(s));
  }
  if (std::getenv("PGPITR_CORPUS_STATEMENTS") == nullptr) std::filesystem::remove(path);
  return out;
}

// The first keyword of a statement, upper case (after whitespace, comments and opening parentheses).
std::string FirstWord(std::string_view sql) {
  size_t i = 0;
  while (i < sql.size()) {
    if (std::isspace(static_cast<unsigned char>(sql[i])) || sql[i] == '(') {
      ++i;
    } else if (sql.substr(i, 2) == "--") {
      i = sql.find('\n', i);
      if (i == std::string_view::npos) return "";
    } else if (sql.substr(i, 2) == "/*") {
      i = sql.find("*/", i);
      if (i == std::string_view::npos) return "";
      i += 2;
    } else {
      break;
    }
  }
  std::string word;
  while (i < sql.size() && (std::isalpha(static_cast<unsigned char>(sql[i])) || sql[i] == '_')) {
    word += static_cast<char>(std::toupper(static_cast<unsigned char>(sql[i++])));
  }
  return word;
}

// Whether a command the server started is the statement's own, not one a function or DO block it
// called ran: its tag begins with the statement's first word (SELECT INTO: a SELECT or WITH).
bool OwnCommand(const std::string& tag, std::string_view sql) {
  const std::string first = FirstWord(sql);
  if (tag == "SELECT INTO") return first == "SELECT" || first == "WITH";
  return !first.empty() && (tag.starts_with(first + " ") || tag == first);
}

// Schema changes the proxy leaves alone: one that makes a temporary object (it ends with the
// session; no restore has it), and publications (bases leave them out, and so does replay: a
// restored database is no publisher).
bool NotRecorded(const std::string& sql) {
  static const std::regex kNot(
      R"(^\s*(create\s+(or\s+replace\s+)?((global|local)\s+)?(temp|temporary)\s|(create|alter|drop)\s+publication\b))",
      std::regex::icase);
  return std::regex_search(sql, kNot);
}

// Schema changes no event trigger fires for, which the proxy records all the same: a table or
// materialized view made under EXPLAIN ANALYZE, REASSIGN OWNED (the owners of the database's
// objects), and the event triggers of the application's own.
bool SchemaChangeWithoutEventTrigger(const std::string& sql) {
  static const std::regex kWithout(
      R"(^\s*(explain\b[\s\S]*\bcreate\s+(table|materialized\s+view)\b[\s\S]*\bas\b|reassign\s+owned\b|)"
      R"((create|alter|drop)\s+event\s+trigger\b))",
      std::regex::icase);
  return std::regex_search(sql, kWithout);
}

// Every query psql sent for the 55 files: one that started a schema-change command of its own is
// recognized as a schema change (the proxy records it; a statement that then fails takes its
// record with it) unless the proxy leaves it alone (NotRecorded), and one that succeeded without starting any
// is not (the proxy adds nothing to it) unless it is a schema change no event trigger fires for.
// Commands a function or DO block ran are not the statement's: the proxy cannot see them.
TEST(StatementCorpus, EveryQueryIsASchemaChangeExactlyWhenTheServerRanOneOfItsOwn) {
  const std::vector<Statement> statements = CorpusStatements();
  ASSERT_GT(statements.size(), 15000u) << "the corpus's 55 files";
  std::vector<std::string> missed, extra;
  size_t schema_changes = 0;
  for (const Statement& s : statements) {
    const std::vector<std::string_view> pieces = proxy::SplitStatements(s.sql);
    bool own = false;
    for (const std::string& tag : s.tags) {
      for (std::string_view piece : pieces) own = own || OwnCommand(tag, piece);
    }
    bool recognized = false;
    for (std::string_view piece : pieces) recognized = recognized || proxy::IsSchemaChange(piece);
    schema_changes += own ? 1 : 0;
    if (own && !recognized && !NotRecorded(s.sql)) {
      missed.push_back(fmt::format("{}: [{}] {}", s.file, fmt::join(s.tags, ", "), s.sql.substr(0, 200)));
    } else if (recognized && s.tags.empty() && !s.failed && !SchemaChangeWithoutEventTrigger(s.sql)) {
      extra.push_back(fmt::format("{}: {}", s.file, s.sql.substr(0, 200)));
    }
  }
  EXPECT_GT(schema_changes, 3000u);
  EXPECT_TRUE(missed.empty()) << missed.size() << " schema changes not recognized, e.g.:\n"
                              << fmt::format("{}",
                                             fmt::join(missed.begin(),
                                                       missed.begin() + std::min<size_t>(missed.size(), 40), "\n"));
  EXPECT_TRUE(extra.empty()) << extra.size() << " queries taken for schema changes that ran none, e.g.:\n"
                             << fmt::format("{}", fmt::join(extra.begin(),
                                                            extra.begin() + std::min<size_t>(extra.size(), 40), "\n"));
}

}  // namespace
}  // namespace pgpitr::testing
