// Roles: what a restore target lacks of the roles the source's objects and schema changes name.
// Roles are the cluster's, outside any dump; both the base load and replay ask here.
//   absl::StatusOr<std::vector<std::string>> missing = MissingRoles(target, {"app", "reader"});
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pg/connection.h"
#include "proto/pgpitr.pb.h"

namespace pgpitr::restore {

// A role membership as the source had it.
struct Membership {
  std::string role;
  std::string member;
  bool admin = false;
};

// The names the target has no role of, sorted, each once.
[[nodiscard]] absl::StatusOr<std::vector<std::string>> MissingRoles(pg::Connection& target,
                                                                    const std::vector<std::string>& names);

// The GRANT statements that give `members` the memberships they lack on the target (of roles the
// target has); a member not in `members` is left as it is.
[[nodiscard]] absl::StatusOr<std::vector<std::string>> MissingMembershipGrants(
    pg::Connection& target, const std::vector<Membership>& memberships, const std::vector<std::string>& members);

// Creates the roles `base`'s objects name that the target lacks (NOLOGIN, no other attribute), with
// the memberships the source gave them, so that owners and privileges land as they were; `created`
// gets their names and `notes` one line. A role that cannot be created is kRoleMissing, naming it
// and --no-owner.
[[nodiscard]] absl::Status CreateMissingRoles(pg::Connection& target, const proto::Base& base,
                                              std::vector<std::string>* created, std::vector<std::string>* notes);

}  // namespace pgpitr::restore
