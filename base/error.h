// ErrorKind: what an error means to the person running pgpitr, carried inside its absl::Status (as
// a payload), so that callers branch on it and the CLI maps it to an exit code one to one; never on
// the message's words.
//   return base::WithKind(absl::DataLossError("..."), base::ErrorKind::kChangeLogDamaged);
//   if (base::KindOf(status) == base::ErrorKind::kChangeLogDamaged) ...
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace pgpitr::base {

enum class ErrorKind {
  kUnknown,            // none attached (the CLI falls back on the status code)
  kUsage,              // bad usage or input: a flag, a target outside the window, not a repository
  kNothingRestorable,  // the repository holds no restorable window yet (no base, or none covered)
  kSourceUnusable,     // the source or a server cannot be used: unreachable, misconfigured
  kToolMissing,        // a PostgreSQL client program (pg_dump, pg_restore) is missing or too old
  kTargetRefused,      // the restore target: not empty, the source itself, not allowed
  kRoleMissing,        // the base's objects name a role the restore target lacks
  kChangeLogDamaged,   // a change-log record does not read back
  kBaseDamaged,        // a base's dump is missing or does not match its manifest
  kStopped,            // stopped before the end: SIGINT/SIGTERM, or "no" at a prompt
  kNotExact,           // finished, but what was restored or replayed may differ (listed): --best-effort
  // (kNotExact is the last: KindOf reads back only the values up to it)
};

// `status` with `kind` attached (unchanged when it is OK).
absl::Status WithKind(absl::Status status, ErrorKind kind);
// The kind attached to `status`, kUnknown when none is.
ErrorKind KindOf(const absl::Status& status);

// `status` with `message` in place of its own: the same code, the same kind and every other payload
// (a SQLSTATE), so that adding context to an error never changes what it means or its exit code.
//   return base::Reworded(s, fmt::format("restoring into {} failed: {}", db, s.message()));
absl::Status Reworded(const absl::Status& status, std::string_view message);

}  // namespace pgpitr::base
