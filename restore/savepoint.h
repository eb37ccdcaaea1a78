// InSavepoint: a piece of a restore's work that may fail without ending the target's transaction
// (what --best-effort carries on past). One owner of SAVEPOINT / RELEASE / ROLLBACK TO.
//   absl::StatusOr<absl::Status> ran = InSavepoint(target, "pgpitr_row", [&] { return Write(); });
//   if (!ran.ok()) return ran.status();   // the savepoint itself failed (a lost connection)
//   if (!ran->ok()) ...                   // the work failed, and was rolled back
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "fmt/format.h"
#include "pg/connection.h"

namespace pgpitr::restore {

// Runs `work` in savepoint `name` when the target is in a transaction (else as it is): released
// when it succeeds, rolled back to when it fails. The outer status is the savepoint's own failure;
// the inner one is the work's.
[[nodiscard]] inline absl::StatusOr<absl::Status> InSavepoint(pg::Connection& target, std::string_view name,
                                                              const std::function<absl::Status()>& work) {
  if (!target.InTransaction()) return work();
  if (absl::Status s = target.Execute(fmt::format("SAVEPOINT {}", name)); !s.ok()) return s;
  const absl::Status done = work();
  if (absl::Status s =
          target.Execute(fmt::format("{} {}", done.ok() ? "RELEASE SAVEPOINT" : "ROLLBACK TO SAVEPOINT", name));
      !s.ok()) {
    return s;
  }
  return done;
}

}  // namespace pgpitr::restore
