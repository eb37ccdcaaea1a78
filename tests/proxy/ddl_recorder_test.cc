// Specification of the proxy's schema-change recording, without sockets: what goes to the database
// for each client message, and which of the database's answers the client gets.
#include "proxy/ddl_recorder.h"

#include <gtest/gtest.h>

#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "fmt/format.h"

namespace pgpitr::proxy {
namespace {

using namespace std::string_literals;

// The messages of a byte stream, as (type, body).
std::vector<std::pair<char, std::string>> Messages(const std::string& bytes) {
  FrameDecoder decoder(FrameDecoder::Phase::kTyped);
  decoder.Append(bytes);
  std::vector<std::pair<char, std::string>> out;
  for (;;) {
    const FrameResult r = decoder.Next();
    if (r.kind != FrameResult::kFrame) {
      EXPECT_EQ(r.kind, FrameResult::kNeedMore) << r.error;
      EXPECT_EQ(decoder.buffered(), 0u);
      break;
    }
    out.emplace_back(r.frame.type, std::string(r.frame.body));
    decoder.Consume();
  }
  return out;
}

// What goes to the database for one client message.
std::string Send(DdlRecorder& recorder, char type, const std::string& body, bool capture = true) {
  const std::string raw = EncodeMessage(type, body);
  FrameDecoder decoder(FrameDecoder::Phase::kTyped);
  decoder.Append(raw);
  const FrameResult r = decoder.Next();
  EXPECT_EQ(r.kind, FrameResult::kFrame);
  std::string out;
  recorder.FromClient(r.frame, capture, &out);
  return out;
}

std::string Query(const std::string& sql) { return sql + '\0'; }
// How the proxy's message carries a statement: its bytes in hex.
std::string Hex(const std::string& text) {
  std::string hex;
  for (const unsigned char c : text) hex += fmt::format("{:02x}", c);
  return "decode('" + hex + "', 'hex')";
}
std::string Parse(const std::string& name, const std::string& sql) { return name + '\0' + sql + '\0' + "\0\0"s; }
std::string Bind(const std::string& portal, const std::string& statement) {
  return portal + '\0' + statement + '\0' + "\0\0\0\0\0\0"s;
}
std::string Execute(const std::string& portal) { return portal + '\0' + "\0\0\0\0"s; }

// The database's answers that reach the client.
std::string Forwarded(DdlRecorder& recorder, const std::string& types, std::string* to_database = nullptr) {
  std::string out;
  std::string ignored;
  for (char t : types) {
    if (recorder.FromDatabase(t, to_database ? to_database : &ignored) == DdlRecorder::Answer::kForward) out += t;
  }
  return out;
}

TEST(DdlRecorder, AQueryWithoutSchemaChangesGoesAsItIs) {
  DdlRecorder recorder;
  EXPECT_EQ(Forwarded(recorder, "RSZ"), "RSZ") << "the startup's answers";
  const std::string sent = Send(recorder, 'Q', Query("INSERT INTO t VALUES (1)"));
  EXPECT_EQ(sent, EncodeMessage('Q', Query("INSERT INTO t VALUES (1)")));
  EXPECT_EQ(Forwarded(recorder, "CZ"), "CZ");
}

TEST(DdlRecorder, ASchemaChangeInAQueryIsPrecededByTheMessageWhoseAnswersAreDropped) {
  DdlRecorder recorder;
  (void)Forwarded(recorder, "Z");
  const auto sent = Messages(Send(recorder, 'Q', Query("ALTER TABLE t DROP COLUMN c; INSERT INTO t VALUES (1)")));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].first, 'Q');
  const std::string& text = sent[0].second;
  const size_t message = text.find("pg_logical_emit_message(true, 'pgpitr.ddl'");
  const size_t alter = text.find("ALTER TABLE t DROP COLUMN c;");
  ASSERT_NE(message, std::string::npos) << text;
  ASSERT_NE(alter, std::string::npos) << text;
  EXPECT_LT(message, alter) << "the message goes first, in the same transaction";
  // The statement, in hex ("ALTER TABLE t DROP COLUMN c"), so its text is not in the query twice.
  EXPECT_NE(text.find(Hex("ALTER TABLE t DROP COLUMN c")), std::string::npos) << text;
  EXPECT_EQ(text.find("ALTER TABLE t DROP COLUMN c"), text.rfind("ALTER TABLE t DROP COLUMN c")) << text;
  // The message's SELECT answers T D C; the client's ALTER C and INSERT C; then Z.
  EXPECT_EQ(Forwarded(recorder, "TDCCCZ"), "CCZ");
  EXPECT_EQ(recorder.in_flight(), 0u);
}

// The client's text stays byte for byte (its lines, comments, blanks): only the messages go in,
// each just before the statement it records.
TEST(DdlRecorder, ARewrittenQueryIsTheClientsTextWithTheMessagesInserted) {
  const std::string query =
      "SELECT 1;\n  -- make it\n  CREATE TABLE a (x int) ;\n\nINSERT INTO a VALUES (1);DROP TABLE a";
  const std::optional<RewrittenQuery> rewritten = RewriteForDdlCapture(query);
  ASSERT_TRUE(rewritten.has_value());
  ASSERT_EQ(rewritten->insertions.size(), 2u);
  EXPECT_EQ(rewritten->injected, (std::vector<bool>{false, true, false, false, true, false}));
  std::string without = rewritten->query;
  for (auto it = rewritten->insertions.rbegin(); it != rewritten->insertions.rend(); ++it) {
    size_t shift = 0;
    for (auto before = rewritten->insertions.begin(); before != std::prev(it.base()); ++before) shift += before->length;
    EXPECT_EQ(without.substr(it->offset + shift, 6), "SELECT") << "a message statement starts there";
    without.erase(it->offset + shift, it->length);
  }
  EXPECT_EQ(without, query);
  EXPECT_EQ(query.substr(rewritten->insertions[0].offset, 12), "-- make it\n ") << "before the statement's comment";
}

// A statement whose result the message records (a view, temporary or not; a partition's bound)
// has its message just after it: a line break ends a comment the statement may end with, and the
// client's semicolon ends the message. Errors later in the query map back past it.
TEST(DdlRecorder, TheMessageOfAViewOrAPartitionFollowsTheStatement) {
  const std::string query =
      "CREATE VIEW v AS SELECT 1 -- a view\n;CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1); ALTER TABLE p ALTER "
      "nosuchtype TYPE nosuchtype";
  const std::optional<RewrittenQuery> rewritten = RewriteForDdlCapture(query);
  ASSERT_TRUE(rewritten.has_value());
  EXPECT_EQ(rewritten->injected, (std::vector<bool>{false, true, false, true, true, false}));
  ASSERT_EQ(rewritten->insertions.size(), 3u);
  const std::string& text = rewritten->query;
  EXPECT_LT(text.find("CREATE VIEW v AS SELECT 1 -- a view\n\n;SELECT CASE"), text.find("CREATE TABLE p1")) << text;
  EXPECT_NE(text.find("FOR VALUES IN (1)\n;SELECT CASE"), std::string::npos) << text;
  EXPECT_NE(text.find("'partition_bounds'"), std::string::npos) << text;
  EXPECT_EQ(rewritten->insertions[0].offset, query.find(";CREATE TABLE")) << "the piece ends with its comment";
  size_t shift = 0;
  for (const RewrittenQuery::Insertion& i : rewritten->insertions) shift += i.length;
  const size_t client = query.find("nosuchtype") + 1;
  // Raised while running the ALTER: five statements completed before it.
  EXPECT_EQ(ClientErrorPosition(client + shift, query, *rewritten, 5, "UTF8"), client);
}

// With --set-replica-identity-full, a statement that may leave a table without a replica identity
// is followed by the proxy's statement giving such tables REPLICA IDENTITY FULL (after the message
// recording it); others are not.
TEST(DdlRecorder, WithIdentityFullATableStatementIsFollowedByTheIdentityStatement) {
  const std::string query = "CREATE TABLE t (a int); CREATE VIEW v AS SELECT 1; UPDATE t SET a = 1";
  const std::optional<RewrittenQuery> rewritten = RewriteForDdlCapture(query, nullptr, {.identity_full = true});
  ASSERT_TRUE(rewritten.has_value());
  EXPECT_EQ(rewritten->injected, (std::vector<bool>{true, false, true, false, true, false}));
  const std::string& text = rewritten->query;
  const size_t identity = text.find("CREATE TABLE t (a int)\n;DO $pgpitr$");
  ASSERT_NE(identity, std::string::npos) << text;
  EXPECT_NE(text.find("REPLICA IDENTITY FULL", identity), std::string::npos);
  EXPECT_EQ(text.find("DO $pgpitr$", text.find("DO $pgpitr$") + 1), std::string::npos) << "once: the view needs none";
  const std::optional<RewrittenQuery> plain = RewriteForDdlCapture(query);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->query.find("DO $pgpitr$"), std::string::npos);
}

// A column added (a volatile default may give each row already there a value of its own) is
// followed by the proxy's reading of the table's rows, then by the message, which takes them; where
// the proxy may not run PL/pgSQL, by the message alone, without rows (restore names the table), and
// with --set-replica-identity-full by no DO block of the proxy at all.
TEST(DdlRecorder, AColumnAddedIsFollowedByTheReadingOfItsRowsThenByTheMessage) {
  const std::string query = "ALTER TABLE t ADD COLUMN r float8 DEFAULT random(); SELECT 1";
  const std::optional<RewrittenQuery> rewritten = RewriteForDdlCapture(query, nullptr, {.identity_full = true});
  ASSERT_TRUE(rewritten.has_value());
  EXPECT_EQ(rewritten->injected, (std::vector<bool>{false, true, true, true, false}));
  const std::string& text = rewritten->query;
  const size_t rows = text.find("random()\n;DO $pgpitr$");
  ASSERT_NE(rows, std::string::npos) << text;
  const size_t message = text.find("pg_logical_emit_message", rows);
  ASSERT_NE(message, std::string::npos);
  EXPECT_LT(text.find("json_agg(x::text)", rows), message) << "the rows are read before the message";
  EXPECT_NE(text.find("'rewritten_rows', NULLIF(pg_catalog.current_setting('pgpitr.rewritten_rows', true)", message),
            std::string::npos);
  const std::optional<RewrittenQuery> without =
      RewriteForDdlCapture(query, nullptr, {.identity_full = true, .plpgsql = false});
  ASSERT_TRUE(without.has_value());
  EXPECT_EQ(without->injected, (std::vector<bool>{false, true, false}));
  EXPECT_EQ(without->query.find("DO $pgpitr$"), std::string::npos) << without->query;
  EXPECT_EQ(without->query.find("rewritten_rows"), std::string::npos);
  EXPECT_NE(without->query.find("rewritten_with_new_values"), std::string::npos);
}

// Large objects are not in the stream: a statement that makes some is preceded (where the proxy may
// run PL/pgSQL) by the proxy's reading of whether the source holds none, and one that makes or
// removes some is followed by its reading of whether any remain; with the source's event triggers
// recording schema changes, the readings still are made. Other statements are forwarded as they are.
TEST(DdlRecorder, AStatementMakingOrRemovingLargeObjectsIsReadAround) {
  const std::string query = "SELECT lo_create(5); SELECT lo_unlink(oid) FROM pg_largeobject_metadata; SELECT 1";
  const std::optional<RewrittenQuery> rewritten = RewriteForDdlCapture(query, nullptr, {.schema_changes = false});
  ASSERT_TRUE(rewritten.has_value());
  EXPECT_EQ(rewritten->injected, (std::vector<bool>{true, false, true, false, true, false}));
  const std::string& text = rewritten->query;
  const size_t before = text.find("DO $pgpitr$");
  const size_t made = text.find("SELECT lo_create(5)");
  ASSERT_LT(before, made) << text;
  EXPECT_NE(text.find("'none at %s %s'", before), std::string::npos);
  EXPECT_LT(text.find("pg_current_wal_insert_lsn", before), text.find("pg_largeobject_metadata", before))
      << "the position is read before the snapshot that looks";
  const std::string after =
      "\n;DO $pgpitr$ BEGIN PERFORM pg_catalog.pg_logical_emit_message(true, 'pgpitr.large_objects'";
  EXPECT_NE(text.find("SELECT lo_create(5)" + after), std::string::npos) << text;
  EXPECT_NE(text.find("FROM pg_largeobject_metadata" + after), std::string::npos) << text;
  // Without PL/pgSQL: the readings after only, as plain statements like the proxy's messages; none
  // where the source's event triggers record schema changes (the proxy then adds nothing that
  // could fail).
  const std::optional<RewrittenQuery> without = RewriteForDdlCapture(query, nullptr, {.plpgsql = false});
  ASSERT_TRUE(without.has_value());
  EXPECT_EQ(without->injected, (std::vector<bool>{false, true, false, true, false}));
  EXPECT_NE(without->query.find("SELECT lo_create(5)\n;SELECT pg_catalog.pg_logical_emit_message"), std::string::npos);
  EXPECT_FALSE(RewriteForDdlCapture(query, nullptr, {.schema_changes = false, .plpgsql = false}).has_value());
  // DROP OWNED drops the roles' large objects: recorded, then read.
  const std::optional<RewrittenQuery> owned = RewriteForDdlCapture("DROP OWNED BY alice");
  ASSERT_TRUE(owned.has_value());
  EXPECT_EQ(owned->injected, (std::vector<bool>{true, false, true}));
  EXPECT_NE(owned->query.find("'pgpitr.ddl'"), std::string::npos);
  EXPECT_NE(owned->query.find("'pgpitr.large_objects'"), std::string::npos);
  // Not asked for, or nothing of large objects (a name in a string, a column named like one): none.
  EXPECT_FALSE(RewriteForDdlCapture(query, nullptr, {.schema_changes = false, .large_objects = false}).has_value());
  EXPECT_FALSE(RewriteForDdlCapture("SELECT 'lo_unlink(5)', lo_unlinked FROM t -- lo_create").has_value());
}

// An error's position is the server's, in the rewritten text; the client's psql places it in its own.
TEST(DdlRecorder, AnErrorPositionIsMappedBackToTheClientsText) {
  const std::string query =
      "CREATE TABLE \xc3\xa9t\xc3\xa9 (x int); ALTER TABLE \xc3\xa9t\xc3\xa9 ALTER x TYPE nosuchtype";
  const std::optional<RewrittenQuery> rewritten = RewriteForDdlCapture(query);
  ASSERT_TRUE(rewritten.has_value());
  ASSERT_EQ(rewritten->insertions.size(), 2u);
  const size_t first = rewritten->insertions[0].length, second = rewritten->insertions[1].length;
  // "nosuchtype" is character 56 of the client's query (é is one character, two bytes).
  const size_t client = 56;
  // Raised while running the ALTER: after three statements completed (message, CREATE, message).
  EXPECT_EQ(ClientErrorPosition(client + first + second, query, *rewritten, 3, "UTF8"), client);
  // A syntax error (nothing ran): by characters, in UTF8 and in a single-byte encoding.
  EXPECT_EQ(ClientErrorPosition(client + first + second, query, *rewritten, 0, "UTF8"), client);
  EXPECT_EQ(ClientErrorPosition(5 + first, query, *rewritten, 0, "UTF8"), 5u) << "in the CREATE";
  EXPECT_EQ(ClientErrorPosition(55 + first + second, query, *rewritten, 0, "LATIN1"), 55u);
  // Inside the proxy's own statement, or an encoding it cannot count: left as it was.
  EXPECT_EQ(ClientErrorPosition(3, query, *rewritten, 0, "UTF8"), std::nullopt);
  EXPECT_EQ(ClientErrorPosition(3, query, *rewritten, 1, "UTF8"), std::nullopt);
  EXPECT_EQ(ClientErrorPosition(client + first + second, query, *rewritten, 0, "SJIS"), std::nullopt);
  EXPECT_EQ(ClientErrorPosition(0, query, *rewritten, 0, "UTF8"), std::nullopt);
}

// What the client gets: its own error position, in the error of a query the proxy rewrote only.
TEST(DdlRecorder, TheClientGetsTheErrorOfARewrittenQueryWithItsOwnPosition) {
  DdlRecorder recorder;
  auto from_database = [&](char type, const std::string& body) -> std::string {
    const std::string raw = EncodeMessage(type, body);
    const Frame frame{type, std::string_view(raw).substr(5), raw};
    std::optional<std::string> reworded = recorder.ForClient(frame);
    std::string ignored;
    EXPECT_EQ(recorder.FromDatabase(type, &ignored), DdlRecorder::Answer::kForward);
    return reworded.value_or(raw);
  };
  auto error = [](const std::string& position) {
    return "SERROR\0C42704\0Mtype \"nosuchtype\" does not exist\0P"s + position + "\0\0"s;
  };
  EXPECT_EQ(Messages(from_database('S', "client_encoding\0UTF8\0"s))[0].first, 'S');
  (void)from_database('Z', "I");
  const std::string query = "ALTER TABLE t ALTER y TYPE nosuchtype";
  const auto sent = Messages(Send(recorder, 'Q', Query(query)));
  ASSERT_EQ(sent.size(), 1u);
  const size_t injected = sent[0].second.size() - 1 - query.size();
  // The message's SELECT answers T D C (dropped); then the ALTER's error, as the client's.
  std::string ignored;
  for (char t : "TDC"s) EXPECT_EQ(recorder.FromDatabase(t, &ignored), DdlRecorder::Answer::kDrop);
  const auto got = Messages(from_database('E', error(std::to_string(28 + injected))));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].second, error("28"));
  (void)from_database('Z', "I");
  // A query the proxy did not rewrite: its error goes as it is.
  (void)Send(recorder, 'Q', Query("SELECT x FROM t"));
  EXPECT_EQ(Messages(from_database('E', error("8")))[0].second, error("8"));
  (void)from_database('Z', "I");
  EXPECT_EQ(recorder.in_flight(), 0u);
}

TEST(DdlRecorder, WithoutCaptureEveryMessageGoesAsItIs) {
  DdlRecorder recorder;
  EXPECT_EQ(Send(recorder, 'Q', Query("DROP TABLE t"), /*capture=*/false), EncodeMessage('Q', Query("DROP TABLE t")));
  EXPECT_EQ(Send(recorder, 'P', Parse("s", "DROP TABLE t"), false), EncodeMessage('P', Parse("s", "DROP TABLE t")));
  EXPECT_EQ(Send(recorder, 'B', Bind("", "s"), false), EncodeMessage('B', Bind("", "s")));
  EXPECT_EQ(Send(recorder, 'E', Execute(""), false), EncodeMessage('E', Execute("")));
  EXPECT_EQ(Forwarded(recorder,
                      "Z"
                      "CZ"
                      "12C"),
            "ZCZ12C");
}

TEST(DdlRecorder, APreparedSchemaChangeGetsTheMessageJustBeforeItsExecute) {
  DdlRecorder recorder;
  (void)Forwarded(recorder, "Z");
  EXPECT_EQ(Send(recorder, 'P', Parse("s1", "CREATE INDEX i ON t (a)")),
            EncodeMessage('P', Parse("s1", "CREATE INDEX i ON t (a)")));
  EXPECT_EQ(Send(recorder, 'B', Bind("p1", "s1")), EncodeMessage('B', Bind("p1", "s1")));
  const auto sent = Messages(Send(recorder, 'E', Execute("p1")));
  std::string types;
  for (const auto& [type, body] : sent) types += type;
  // Close, Parse, Bind, Execute, Close, Close of the proxy's own, then the client's Execute.
  ASSERT_EQ(types, "CPBECCE");
  EXPECT_NE(sent[1].second.find("pgpitr.ddl"), std::string::npos);
  EXPECT_NE(sent[2].second.find("CREATE INDEX i ON t (a)"), std::string::npos) << "the statement is its parameter";
  EXPECT_EQ(sent[6].second, Execute("p1"));
  (void)Send(recorder, 'S', "");
  // Client: ParseComplete, BindComplete; the proxy's: CloseComplete, Parse, Bind, its SELECT's row
  // and CommandComplete, two CloseCompletes; then the client's CommandComplete and ReadyForQuery.
  EXPECT_EQ(Forwarded(recorder,
                      "12"
                      "312DC33"
                      "CZ"),
            "12CZ");
  EXPECT_EQ(recorder.in_flight(), 0u);
}

TEST(DdlRecorder, AStatementThatIsNotASchemaChangeOrIsClosedGetsNoMessage) {
  DdlRecorder recorder;
  (void)Send(recorder, 'P', Parse("s1", "SELECT 1"));
  (void)Send(recorder, 'B', Bind("p1", "s1"));
  EXPECT_EQ(Send(recorder, 'E', Execute("p1")), EncodeMessage('E', Execute("p1")));
  (void)Send(recorder, 'P', Parse("s2", "DROP TABLE t"));
  (void)Send(recorder, 'C', "Ss2"s + '\0');
  (void)Send(recorder, 'B', Bind("p2", "s2"));
  EXPECT_EQ(Send(recorder, 'E', Execute("p2")), EncodeMessage('E', Execute("p2"))) << "a closed statement is forgotten";
  // A name reused for something else forgets the schema change it held.
  (void)Send(recorder, 'P', Parse("s3", "DROP TABLE t"));
  (void)Send(recorder, 'P', Parse("s3", "SELECT 2"));
  (void)Send(recorder, 'B', Bind("p3", "s3"));
  EXPECT_EQ(Send(recorder, 'E', Execute("p3")), EncodeMessage('E', Execute("p3")));
}

TEST(DdlRecorder, AnIndexMadeConcurrentlyIsRecordedAfterItSucceeded) {
  DdlRecorder recorder;
  (void)Forwarded(recorder, "Z");
  const std::string sql = "CREATE INDEX CONCURRENTLY i ON t (a)";
  EXPECT_EQ(Send(recorder, 'Q', Query(sql)), EncodeMessage('Q', Query(sql))) << "it cannot share a transaction";
  std::string to_database;
  // Its CommandComplete reaches the client; its ReadyForQuery is held while the record goes.
  EXPECT_EQ(Forwarded(recorder, "CZ", &to_database), "C");
  const auto record = Messages(to_database);
  ASSERT_EQ(record.size(), 1u);
  EXPECT_EQ(record[0].first, 'Q');
  EXPECT_NE(record[0].second.find(Hex("CREATE INDEX  i ON t (a)")), std::string::npos)
      << "recorded without CONCURRENTLY (the word goes, the blanks stay): " << record[0].second;
  // The record's answers: its SELECT's are dropped, its ReadyForQuery is the client's one.
  EXPECT_EQ(Forwarded(recorder, "TDCZ"), "Z");
  EXPECT_EQ(recorder.in_flight(), 0u);
}

TEST(DdlRecorder, APartitionDetachedConcurrentlyIsRecordedAfterItSucceededWithItsChecks) {
  DdlRecorder recorder;
  (void)Forwarded(recorder, "Z");
  const std::string sql = "ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY";
  EXPECT_EQ(Send(recorder, 'Q', Query(sql)), EncodeMessage('Q', Query(sql))) << "it cannot share a transaction";
  std::string to_database;
  EXPECT_EQ(Forwarded(recorder, "CZ", &to_database), "C");
  const auto record = Messages(to_database);
  ASSERT_EQ(record.size(), 1u);
  EXPECT_NE(record[0].second.find(Hex("ALTER TABLE p DETACH PARTITION p1 ")), std::string::npos) << record[0].second;
  EXPECT_NE(record[0].second.find("'detached_checks'"), std::string::npos) << "the CHECK it added, read after it";
  EXPECT_EQ(Forwarded(recorder, "TDCZ"), "Z");
  EXPECT_EQ(recorder.in_flight(), 0u);
}

TEST(DdlRecorder, AnIndexMadeConcurrentlyThatFailsIsNotRecorded) {
  DdlRecorder recorder;
  (void)Forwarded(recorder, "Z");
  (void)Send(recorder, 'Q', Query("CREATE INDEX CONCURRENTLY i ON t (a)"));
  std::string to_database;
  EXPECT_EQ(Forwarded(recorder, "EZ", &to_database), "EZ");
  EXPECT_TRUE(to_database.empty());
}

TEST(DdlRecorder, ATableMadeByExecutingAPreparedStatementIsRecordedWithItsPrepare) {
  PreparedStatements prepared;
  EXPECT_EQ(RewriteForDdlCapture("PREPARE select1 AS SELECT 1 AS a; SELECT 2", &prepared), std::nullopt);
  ASSERT_EQ(prepared.count("select1"), 1u);
  EXPECT_EQ(prepared["select1"], "PREPARE select1 AS SELECT 1 AS a");
  std::optional<RewrittenQuery> made = RewriteForDdlCapture("CREATE TABLE as_select1 AS EXECUTE select1", &prepared);
  ASSERT_TRUE(made.has_value());
  EXPECT_NE(made->query.find("'prepare', "), std::string::npos) << made->query;
  // Once deallocated, it is not the session's any more.
  EXPECT_EQ(RewriteForDdlCapture("DEALLOCATE select1", &prepared), std::nullopt);
  EXPECT_TRUE(prepared.empty());
  made = RewriteForDdlCapture("CREATE TABLE as_select2 AS EXECUTE select1", &prepared);
  ASSERT_TRUE(made.has_value());
  EXPECT_EQ(made->query.find("'prepare', "), std::string::npos) << made->query;
}

}  // namespace
}  // namespace pgpitr::proxy
