// EventTriggers: pgpitr's event triggers on the source. Each schema change, by whatever path it comes
// (the proxy, psql on the server, a migration tool, a function), is recorded as a transactional
// logical message at its place in the stream, with the session state it ran in.
//   absl::StatusOr<DdlRecording> how = InstallEventTriggers(conn);   // kEventTriggers or kProxyOnly
// The triggers live in schema _pgpitr (a function each) and are named _pgpitr_*; bases leave both out.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "pg/connection.h"
#include "pg/stream_messages.h"

namespace pgpitr::wal {

enum class DdlRecording {
  kEventTriggers,  // the source records every schema change itself
  kProxyOnly,      // the capture role may not create event triggers: only what passes the proxy is recorded
};

// Creates (or replaces) the triggers and their functions in one transaction. A role that may not
// create them (not a superuser) gives kProxyOnly, not an error; a lost connection is an error.
// identity_full (run --set-replica-identity-full): a statement that leaves a published table
// without a replica identity (a new table without a primary key, a dropped key) also gives it
// REPLICA IDENTITY FULL, so the application's UPDATE and DELETE on it never fail.
// keyed_publication: the publication of UPDATE and DELETE when pgpitr's publication is in two
// (wal/source.h); while it exists, each schema change keeps it to the tables with a replica
// identity, and its message names the published tables without one.
[[nodiscard]] absl::StatusOr<DdlRecording> InstallEventTriggers(pg::Connection& conn,
                                                                const std::string& keyed_publication,
                                                                bool identity_full = false);

// The SQL condition "pg_class row `c` has a replica identity the server can use" (FULL, or a
// valid, immediate primary key or chosen index): without one, UPDATE and DELETE of a table
// published for them fail.
std::string_view HasReplicaIdentityCondition();
// The SQL condition "pg_class row `c` in pg_namespace `n` is a table whose rows a FOR ALL TABLES
// publication sends": permanent, a leaf, not a catalog's nor pgpitr's own.
std::string_view PublishedTableCondition();

// The tables (their OIDs) a recorded schema change dropped, from its message (prefix
// kDdlEventMessagePrefix); none when the message does not parse. A dropped column is not a dropped table.
std::vector<uint32_t> DroppedRelations(std::string_view message);

// True when a recorded schema change (either kind: the event trigger's message or the proxy's)
// acts on large objects only: GRANT or REVOKE ... ON LARGE OBJECT, ALTER LARGE OBJECT, COMMENT or
// SECURITY LABEL ON LARGE OBJECT. Such a statement says the source held large objects at its
// commit (capture keeps that, as its checks); at restore it is run only where they may be there.
bool OnlyLargeObjects(std::string_view prefix, std::string_view content);

// What a recorded schema change (either kind) says of large objects just after it, as its
// transaction saw them: some when it acts on large objects only (OnlyLargeObjects); else, from the
// event trigger's message, its `large_objects` (a DROP OWNED that dropped the last ones says none).
// Nullopt when it says nothing (the proxy's message, an older trigger's, one that does not parse).
std::optional<bool> LargeObjectsAfter(std::string_view prefix, std::string_view content);

// Drops pgpitr's triggers and schema if they are there (`run --no-event-triggers`): kProxyOnly.
[[nodiscard]] absl::StatusOr<DdlRecording> RemoveEventTriggers(pg::Connection& conn);

// True for the dump entries of pgpitr's own triggers and schema, which a restore leaves out.
bool IsEventTriggerObject(std::string_view dump_desc, std::string_view name);

}  // namespace pgpitr::wal
