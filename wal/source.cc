#include "wal/source.h"

#include <charconv>
#include <thread>

#include "base/error.h"
#include "fmt/format.h"
#include "pg/stream_messages.h"
#include "wal/event_triggers.h"

namespace pgpitr::wal {

namespace {

int ToInt(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// The highest pgoutput protocol this pgpitr speaks that the server knows, and the options to ask
// for it with: streaming of large in-progress transactions (in parallel mode from 16) and logical
// messages where available.
void ChooseProtocol(int server_version_num, SourceFacts* facts) {
  std::string options;
  if (server_version_num >= 160000) {
    facts->proto_version = 4;
  } else if (server_version_num >= 150000) {
    facts->proto_version = 3;
  } else if (server_version_num >= 140000) {
    facts->proto_version = 2;
  } else {
    facts->proto_version = 1;
  }
  std::string names;
  for (const std::string& publication : facts->publications) {
    names += (names.empty() ? "" : ",") + pg::QuoteIdent(publication);
  }
  options = fmt::format("proto_version '{}', publication_names {}", facts->proto_version, pg::QuoteLiteral(names));
  // 16+ (protocol 4): 'parallel', the highest streaming mode; its Stream Abort also says where and
  // when the abort happened. Capture stores the streamed pieces the same way in either mode.
  if (server_version_num >= 160000) {
    options += ", messages 'true', streaming 'parallel'";
  } else if (server_version_num >= 140000) {
    options += ", messages 'true', streaming 'on'";
  }
  facts->plugin_options = options;
}

struct PublicationForm {
  bool exists = false;
  bool all_tables = false;
  bool publishes_update = false;  // of every table
  bool keyed_exists = false;
  // PostgreSQL 18's publish_generated_columns ("n" none, "s" stored; "" before 18), of each. Two
  // publications of one table that differ in it make pgoutput fail on the table's first change.
  std::string generated;
  std::string keyed_generated;
};

absl::StatusOr<PublicationForm> ReadPublicationForm(pg::Connection& conn, const std::string& publication) {
  // pubgencols read through jsonb, so that servers before 18 (without the column) give NULL.
  absl::StatusOr<pg::Result> r = conn.Query(
      "SELECT p.puballtables, p.pubupdate OR p.pubdelete, pg_catalog.to_jsonb(p) ->> 'pubgencols' "
      "FROM pg_catalog.pg_publication p WHERE p.pubname = $1 "
      "UNION ALL SELECT NULL, NULL, pg_catalog.to_jsonb(k) ->> 'pubgencols' FROM pg_catalog.pg_publication k "
      "WHERE k.pubname = $2",
      {publication, KeyedPublication(publication)});
  if (!r.ok()) return r.status();
  PublicationForm form;
  for (int i = 0; i < r->rows(); ++i) {
    if (r->IsNull(i, 0)) {
      form.keyed_exists = true;
      form.keyed_generated = r->GetString(i, 2);
    } else {
      form.exists = true;
      form.all_tables = r->Get(i, 0) == "t";
      form.publishes_update = r->Get(i, 1) == "t";
      form.generated = r->GetString(i, 2);
    }
  }
  return form;
}

// The keyed publication, made empty when missing (the triggers fill it). It publishes no generated
// columns (18's default), nor, once PrepareSource is done, does the main one.
std::string CreateKeyed(const PublicationForm& form, const std::string& keyed) {
  return form.keyed_exists
             ? ""
             : fmt::format("CREATE PUBLICATION {} WITH (publish = 'update, delete');", pg::QuoteIdent(keyed));
}

}  // namespace

std::string KeyedPublication(const std::string& publication) { return publication + "_keyed"; }

absl::StatusOr<ServerPosition> ReadServerPosition(pg::Connection& conn) {
  // Target-list expressions are evaluated left to right: the clock first.
  absl::StatusOr<pg::Result> r =
      conn.Query(fmt::format("SELECT {}, pg_catalog.pg_current_wal_insert_lsn()", pg::kServerClockSql));
  if (!r.ok()) return r.status();
  absl::StatusOr<pg::Lsn> lsn = pg::Lsn::Parse(r->Get(0, 1));
  if (!lsn.ok()) return lsn.status();
  return ServerPosition{.time = static_cast<pg::PgTime>(std::stoll(r->GetString(0, 0))), .insert_lsn = *lsn};
}

absl::StatusOr<ServerPosition> ReadSettledServerPosition(pg::Connection& conn, std::chrono::milliseconds max_wait) {
  absl::StatusOr<ServerPosition> position = ReadServerPosition(conn);
  if (!position.ok()) return position.status();
  const std::string flushed = fmt::format("SELECT pg_catalog.pg_current_wal_flush_lsn() >= '{}'::pg_catalog.pg_lsn",
                                          position->insert_lsn.ToString());
  const auto deadline = std::chrono::steady_clock::now() + max_wait;
  for (;;) {
    absl::StatusOr<pg::Result> r = conn.Query(flushed);
    if (!r.ok()) return r.status();
    if (r->Get(0, 0) == "t" || std::chrono::steady_clock::now() >= deadline) return position;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

absl::StatusOr<pg::PgTime> ServerClock(pg::Connection& conn) {
  absl::StatusOr<ServerPosition> position = ReadServerPosition(conn);
  if (!position.ok()) return position.status();
  return position->time;
}

absl::StatusOr<pg::Connection> ConnectReplication(const pg::ConnInfo& source) {
  // The walsender prints values with these settings; the same ones read them back at replay (as
  // PostgreSQL's own subscriber does), whatever the source's defaults are.
  const std::string options =
      source.Get("options").value_or("") + " -c datestyle=ISO -c intervalstyle=postgres -c extra_float_digits=3";
  absl::StatusOr<pg::Connection> conn = pg::Connection::Connect(
      source.With("replication", "database").With("options", options), "source (replication connection)");
  // 42501 insufficient_privilege: the role may not start a walsender; 28000
  // invalid_authorization_specification: pg_hba.conf has no line for replication connections.
  // Anything else is pg::Connection's verdict: a server that is down or restarting is for later.
  const std::string sqlstate = conn.ok() ? "" : pg::SqlStateOf(conn.status());
  if (sqlstate == "42501" || sqlstate == "28000") {
    return pg::WithSqlState(
        absl::FailedPreconditionError(fmt::format(
            "{} (the user needs the REPLICATION attribute: ALTER ROLE <user> REPLICATION; and pg_hba.conf must allow "
            "the user to connect for replication; on managed services grant the provider's replication role)",
            conn.status().message())),
        sqlstate);
  }
  return conn;
}

std::string TablesWithoutReplicaIdentityQuery() {
  return fmt::format(
      "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c "
      "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE {} AND NOT {} ORDER BY 1",
      PublishedTableCondition(), HasReplicaIdentityCondition());
}

absl::StatusOr<std::vector<std::string>> TablesWithoutReplicaIdentity(pg::Connection& conn) {
  absl::StatusOr<pg::Result> r = conn.Query(TablesWithoutReplicaIdentityQuery());
  if (!r.ok()) return r.status();
  std::vector<std::string> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back(r->GetString(i, 0));
  return out;
}

absl::StatusOr<SourceFacts> PrepareSource(const pg::ConnInfo& source, const SourceSettings& settings,
                                          const base::Logger& log) {
  absl::StatusOr<pg::Connection> conn = pg::Connection::Connect(source, "source");
  if (!conn.ok()) return conn.status();
  SourceFacts facts;
  facts.server_version_num = conn->server_version();
  facts.server_version = conn->ParameterStatus("server_version");
  if (facts.server_version_num < 100000) {
    return absl::FailedPreconditionError(
        fmt::format("the source runs PostgreSQL {}; pgpitr needs 10 or newer (logical replication with pgoutput)",
                    facts.server_version));
  }
  absl::StatusOr<pg::Result> r = conn->Query(
      "SELECT current_setting('wal_level'), current_database(), "
      "current_setting('max_replication_slots')::int, current_setting('max_wal_senders')::int, "
      "(SELECT count(*) FROM pg_replication_slots)::int, "
      "(SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user), "
      "(SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1)::int",
      {settings.slot});
  if (!r.ok()) return r.status();
  const std::string wal_level = r->GetString(0, 0);
  facts.database = r->GetString(0, 1);
  const int max_slots = ToInt(r->Get(0, 2));
  const int max_senders = ToInt(r->Get(0, 3));
  const int used_slots = ToInt(r->Get(0, 4));
  const bool can_replicate = r->Get(0, 5) == "t";
  const bool slot_exists = ToInt(r->Get(0, 6)) > 0;
  if (wal_level != "logical") {
    return absl::FailedPreconditionError(
        fmt::format("the source has wal_level = {}; pgpitr needs logical (run ALTER SYSTEM SET wal_level = logical "
                    "and restart the server; on a managed service turn on logical replication in its parameters)",
                    wal_level));
  }
  if (max_senders < 2) {
    return absl::FailedPreconditionError(
        fmt::format("the source has max_wal_senders = {}; pgpitr needs 2 (capture and base dumps): raise it and "
                    "restart the server",
                    max_senders));
  }
  // Capture's slot, plus the temporary one each base dump makes.
  const int needed = (slot_exists ? 0 : 1) + 1;
  if (max_slots - used_slots < needed) {
    return absl::FailedPreconditionError(
        fmt::format("the source has {} of max_replication_slots = {} in use and pgpitr needs {} more: drop unused "
                    "slots (SELECT pg_drop_replication_slot(name)) or raise max_replication_slots",
                    used_slots, max_slots, needed));
  }
  if (!can_replicate) {
    // Managed services grant replication through a role of their own; let the server decide.
    log.Warn("the source user has neither REPLICATION nor SUPERUSER; capture may be refused");
  }

  // Schema changes by any path, where the role may create event triggers. (First: they keep the
  // keyed publication below.)
  const std::string keyed = KeyedPublication(settings.publication);
  absl::StatusOr<DdlRecording> recording = settings.event_triggers
                                               ? InstallEventTriggers(*conn, keyed, settings.set_replica_identity_full)
                                               : RemoveEventTriggers(*conn);
  if (!recording.ok()) {
    if (recording.status().code() == absl::StatusCode::kUnavailable) return recording.status();
    log.Warn("could not create pgpitr's event triggers ({}); schema changes are recorded only through the proxy",
             recording.status().message());
    recording = DdlRecording::kProxyOnly;
  }
  const bool triggers = *recording == DdlRecording::kEventTriggers;
  facts.event_triggers = triggers;
  if (settings.source_records_ddl) settings.source_records_ddl->store(triggers);
  if (settings.source_runs_plpgsql) {
    // The proxy's own DO blocks (the rows a volatile default rewrote, --set-replica-identity-full,
    // the readings of large objects) run in the application's session, as its role.
    absl::StatusOr<pg::Result> plpgsql = conn->Query(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_language WHERE lanname = 'plpgsql' AND "
        "pg_catalog.has_language_privilege('public', oid, 'USAGE'))");
    if (!plpgsql.ok()) return plpgsql.status();
    const bool runs = plpgsql->GetString(0, 0) == "t";
    settings.source_runs_plpgsql->store(runs);
    if (!runs && triggers) {
      log.Warn(
          "PL/pgSQL is not available to every role in the source's database: the proxy does not read large objects "
          "around the statements that make or remove some (capture's checks place them, once a second)");
    } else if (!runs) {
      log.Warn(
          "PL/pgSQL is not available to every role in the source's database: through the proxy, restores name the "
          "tables a volatile default gave rows values of their own, and --set-replica-identity-full does nothing");
    }
  }
  if (triggers) {
    log.Info("schema changes are recorded by the source's event triggers, whatever path they take");
  } else {
    log.Warn(
        "schema changes are recorded only when they pass the proxy (--listen): event triggers need a superuser; "
        "restores name the relations one made another way changed (capture reads their definitions once a "
        "second), and a table made without a primary key fails UPDATE and DELETE while published unless it is "
        "made through the proxy with --set-replica-identity-full");
  }

  // The publication: every table, now and later. In two where the event triggers keep the second
  // (and a slot made now decodes both from its start): every table's INSERT and TRUNCATE, and the
  // UPDATE and DELETE of the tables with a replica identity, so that the application's UPDATE and
  // DELETE on a table without one still work (they are not captured; restores name the table).
  absl::StatusOr<PublicationForm> form = ReadPublicationForm(*conn, settings.publication);
  if (!form.ok()) return form.status();
  const std::string own = "BEGIN; SET LOCAL pgpitr.own_publication = 'on'; SET LOCAL client_min_messages = warning;";
  const std::string keep = triggers ? "SELECT _pgpitr.keep_keyed_publication();" : "";
  if (!form->exists) {
    const bool in_two = triggers && !slot_exists;
    absl::Status s = conn->Execute(
        in_two
            ? fmt::format("{} CREATE PUBLICATION {} FOR ALL TABLES WITH (publish = 'insert, truncate'); {} {} COMMIT",
                          own, pg::QuoteIdent(settings.publication), CreateKeyed(*form, keyed), keep)
            : fmt::format("CREATE PUBLICATION {} FOR ALL TABLES", pg::QuoteIdent(settings.publication)));
    if (!s.ok()) (void)conn->Execute("ROLLBACK");
    // A lost connection is not a refusal: the reconnect loop tries again.
    if (s.code() == absl::StatusCode::kUnavailable) return s;
    if (!s.ok()) {
      return absl::FailedPreconditionError(
          fmt::format("cannot create publication {} on the source: {} (a FOR ALL TABLES publication needs a superuser, "
                      "or create it yourself: CREATE PUBLICATION {} FOR ALL TABLES)",
                      settings.publication, s.message(), pg::QuoteIdent(settings.publication)));
    }
    log.Info(
        "created publication {} FOR ALL TABLES{}", settings.publication,
        in_two ? fmt::format(" (INSERT, TRUNCATE) and {} (UPDATE, DELETE of the tables with a replica identity)", keyed)
               : "");
  } else if (!form->all_tables) {
    log.Warn("publication {} is not FOR ALL TABLES: tables outside it are not captured", settings.publication);
  } else if (form->publishes_update && triggers && !slot_exists) {
    // In two from a new slot's start.
    if (absl::Status s =
            conn->Execute(fmt::format("{} ALTER PUBLICATION {} SET (publish = 'insert, truncate'); {} {} COMMIT", own,
                                      pg::QuoteIdent(settings.publication), CreateKeyed(*form, keyed), keep));
        !s.ok()) {
      (void)conn->Execute("ROLLBACK");
      return s;
    }
    log.Info(
        "publication {} now publishes INSERT and TRUNCATE, and {} the UPDATE and DELETE of the tables with a "
        "replica identity",
        settings.publication, keyed);
  } else if (!form->publishes_update && form->keyed_exists && !triggers) {
    // Nothing keeps the keyed publication without the triggers: every table's UPDATE and DELETE
    // again (those of a table without a replica identity fail on the source).
    if (absl::Status s =
            conn->Execute(fmt::format("ALTER PUBLICATION {} SET (publish = 'insert, update, delete, truncate')",
                                      pg::QuoteIdent(settings.publication)));
        !s.ok()) {
      return s;
    }
    log.Warn(
        "publication {} publishes every table's UPDATE and DELETE again: without pgpitr's event triggers "
        "nothing keeps {} to the tables with a replica identity",
        settings.publication, keyed);
  } else if (!form->publishes_update && form->keyed_exists) {
    if (absl::Status s = conn->Execute(fmt::format("{} {} COMMIT", own, keep)); !s.ok()) {
      (void)conn->Execute("ROLLBACK");
      return s;
    }
  } else if (!form->publishes_update && !form->keyed_exists) {
    log.Warn(
        "publication {} publishes no UPDATE or DELETE: capture has none of them, and restores miss them "
        "(ALTER PUBLICATION {} SET (publish = 'insert, update, delete, truncate'))",
        settings.publication, pg::QuoteIdent(settings.publication));
  } else if (form->publishes_update && triggers) {
    log.Warn(
        "publication {} publishes the UPDATE and DELETE of every table, so that they fail on a table without "
        "a replica identity: pgpitr puts it in two (and those UPDATEs and DELETEs work) only with a new slot",
        settings.publication);
  }
  form = ReadPublicationForm(*conn, settings.publication);
  if (!form.ok()) return form.status();
  // PostgreSQL 18 can publish stored generated columns. A restore computes them again from the row
  // (the target's own generation expression), and replay writes only the other columns: capture
  // wants none of them, and two publications of one table must agree or pgoutput fails on it.
  for (const auto& [name, generated] :
       {std::pair<std::string, std::string>{settings.publication, form->generated}, {keyed, form->keyed_generated}}) {
    if (generated.empty() || generated == "n") continue;  // (also: no such publication, or before 18)
    // pgpitr's own change (`own`): the event triggers leave it out, restores do not replay it.
    if (absl::Status s = conn->Execute(fmt::format(
            "{} ALTER PUBLICATION {} SET (publish_generated_columns = none); COMMIT", own, pg::QuoteIdent(name)));
        !s.ok()) {
      (void)conn->Execute("ROLLBACK");
      if (s.code() == absl::StatusCode::kUnavailable) return s;
      return absl::FailedPreconditionError(fmt::format(
          "publication {} publishes generated columns, which capture cannot store (restores compute them again) "
          "and could not be changed ({}): run ALTER PUBLICATION {} SET (publish_generated_columns = none) as its owner",
          name, s.message(), pg::QuoteIdent(name)));
    }
    log.Warn(
        "publication {} published stored generated columns: it now publishes none (restores compute them again "
        "from each row)",
        name);
  }
  facts.publications = {settings.publication};
  if (form->keyed_exists) facts.publications.push_back(keyed);
  facts.keyless_not_captured = form->all_tables && !form->publishes_update && form->keyed_exists;
  if (facts.keyless_not_captured) {
    log.Info(
        "capture decodes publications {} (every table's INSERT and TRUNCATE) and {} (UPDATE and DELETE of the "
        "tables with a replica identity, kept so by the event triggers)",
        settings.publication, keyed);
  }

  absl::StatusOr<std::vector<std::string>> missing = TablesWithoutReplicaIdentity(*conn);
  if (!missing.ok()) return missing.status();
  for (const std::string& table : *missing) {
    if (settings.set_replica_identity_full) {
      absl::Status s = conn->Execute(fmt::format("ALTER TABLE {} REPLICA IDENTITY FULL", table));
      if (!s.ok()) return s;
      log.Info("set REPLICA IDENTITY FULL on {}", table);
    } else if (facts.keyless_not_captured) {
      facts.tables_without_identity.push_back(table);
      log.Warn(
          "table {} has no primary key or replica identity: its UPDATE and DELETE are not captured, and restores "
          "after them name it (add a primary key, or rerun with --set-replica-identity-full)",
          table);
    } else {
      facts.tables_without_identity.push_back(table);
      log.Warn(
          "table {} has no primary key or replica identity: UPDATE and DELETE on it fail on the "
          "source while it is published (add a primary key, or rerun with "
          "--set-replica-identity-full)",
          table);
    }
  }
  if (settings.set_replica_identity_full && !missing->empty() && facts.keyless_not_captured) {
    if (absl::Status s = conn->Execute(fmt::format("{} {} COMMIT", own, keep)); !s.ok()) {
      (void)conn->Execute("ROLLBACK");
      return s;
    }
  }

  if (settings.failover_slot && facts.server_version_num < 170000) {
    return absl::FailedPreconditionError(
        fmt::format("--failover-slot needs PostgreSQL 17 or newer (failover slots), but the source is {}: run "
                    "without it",
                    facts.server_version));
  }
  absl::StatusOr<pg::Connection> repl = ConnectReplication(source);
  if (!repl.ok()) return repl.status();
  absl::StatusOr<pg::Result> ident = repl->Query("IDENTIFY_SYSTEM");
  if (!ident.ok()) return ident.status();
  facts.system_identifier = ident->GetString(0, 0);

  if (slot_exists) {
    absl::StatusOr<pg::Result> slot = conn->Query(
        "SELECT plugin, database, confirmed_flush_lsn, slot_type FROM pg_replication_slots WHERE slot_name = $1",
        {settings.slot});
    if (!slot.ok()) return slot.status();
    if (slot->GetString(0, 3) != "logical" || slot->GetString(0, 0) != "pgoutput" ||
        slot->GetString(0, 1) != facts.database) {
      return absl::FailedPreconditionError(
          fmt::format("slot {} exists on the source but is not a pgoutput logical slot of database {}; choose another "
                      "--slot name",
                      settings.slot, facts.database));
    }
    absl::StatusOr<pg::Lsn> confirmed = pg::Lsn::Parse(slot->Get(0, 2));
    if (!confirmed.ok()) return confirmed.status();
    facts.slot_start = *confirmed;
    if (facts.server_version_num >= 170000) {
      absl::StatusOr<pg::Result> failover =
          conn->Query("SELECT failover FROM pg_replication_slots WHERE slot_name = $1", {settings.slot});
      if (!failover.ok()) return failover.status();
      facts.slot_failover = failover->rows() == 1 && failover->Get(0, 0) == "t";
    }
    if (settings.failover_slot && !facts.slot_failover) {
      // Refused while a walsender uses the slot (a run still ending): the next start tries again.
      if (absl::Status s =
              repl->Execute(fmt::format("ALTER_REPLICATION_SLOT {} (FAILOVER true)", pg::QuoteIdent(settings.slot)));
          !s.ok()) {
        return s;
      }
      facts.slot_failover = true;
      log.Info("slot {} is now a failover slot: a standby with sync_replication_slots = on keeps it", settings.slot);
    }
  } else {
    // The options form (15+) where a failover slot is asked for; the legacy form reaches 10 to today.
    absl::StatusOr<pg::Result> created =
        repl->Query(settings.failover_slot
                        ? fmt::format("CREATE_REPLICATION_SLOT {} LOGICAL pgoutput (SNAPSHOT 'nothing', FAILOVER true)",
                                      pg::QuoteIdent(settings.slot))
                        : fmt::format("CREATE_REPLICATION_SLOT {} LOGICAL pgoutput NOEXPORT_SNAPSHOT",
                                      pg::QuoteIdent(settings.slot)));
    if (!created.ok()) return created.status();
    absl::StatusOr<pg::Lsn> point = pg::Lsn::Parse(created->Get(0, 1));
    if (!point.ok()) return point.status();
    facts.slot_start = *point;
    facts.slot_created = true;
    facts.slot_failover = settings.failover_slot;
    log.Info("created logical {}slot {} at {}", settings.failover_slot ? "failover " : "", settings.slot,
             point->ToString());
  }
  absl::StatusOr<pg::PgTime> now = ServerClock(*conn);
  if (!now.ok()) return now.status();
  facts.server_time = *now;
  ChooseProtocol(facts.server_version_num, &facts);
  return facts;
}

absl::StatusOr<pg::Lsn> RecordMark(pg::Connection& source, std::string_view name) {
  if (name.empty() || name.size() > 200) {
    return base::WithKind(absl::InvalidArgumentError("a mark needs a name of 1 to 200 characters"),
                          base::ErrorKind::kUsage);
  }
  absl::StatusOr<pg::Result> r = source.Query("SELECT pg_catalog.pg_logical_emit_message(true, $1, $2)::text",
                                              {pg::kMarkMessagePrefix, std::string(name)});
  if (!r.ok()) return r.status();
  return pg::Lsn::Parse(r->Get(0, 0));
}

absl::StatusOr<Installed> FindInstalled(pg::Connection& source, const SourceSettings& settings) {
  const std::string keyed = KeyedPublication(settings.publication);
  absl::StatusOr<pg::Result> found = source.Query(
      "SELECT (SELECT active_pid::text FROM pg_replication_slots WHERE slot_name = $1), "
      "(SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1)::int, "
      "(SELECT count(*) FROM pg_publication WHERE pubname = $2)::int, "
      "(SELECT count(*) FROM pg_publication WHERE pubname = $3)::int, current_database()",
      {settings.slot, settings.publication, keyed});
  if (!found.ok()) return found.status();
  Installed installed;
  installed.database = found->GetString(0, 4);
  installed.slot = found->Get(0, 1) != "0";
  if (!found->IsNull(0, 0)) installed.slot_active_pid = std::stoi(found->GetString(0, 0));
  if (found->Get(0, 2) != "0") installed.publications.push_back(settings.publication);
  // Its keyed publication (see SourceFacts) goes with it.
  if (found->Get(0, 3) != "0") installed.publications.push_back(keyed);
  return installed;
}

absl::Status DropInstalled(pg::Connection& source, const SourceSettings& settings, const Installed& installed,
                           const std::function<void(std::string_view what)>& dropped) {
  if (installed.slot_active_pid) {
    return absl::FailedPreconditionError(
        fmt::format("slot {} is in use by the walsender of process {}: stop 'pgpitr run' first", settings.slot,
                    *installed.slot_active_pid));
  }
  if (installed.slot) {
    if (absl::Status s = source.Execute("SELECT pg_drop_replication_slot($1)", {settings.slot}); !s.ok()) return s;
    dropped(fmt::format("slot {}", settings.slot));
  }
  for (const std::string& name : installed.publications) {
    if (absl::Status s = source.Execute(fmt::format("DROP PUBLICATION {}", pg::QuoteIdent(name))); !s.ok()) return s;
    dropped(fmt::format("publication {}", name));
  }
  return absl::OkStatus();
}

}  // namespace pgpitr::wal
