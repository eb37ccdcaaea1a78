#include "restore/roles.h"

#include "absl/strings/str_join.h"
#include "base/error.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace pgpitr::restore {

absl::StatusOr<std::vector<std::string>> MissingRoles(pg::Connection& target, const std::vector<std::string>& names) {
  absl::StatusOr<pg::Result> missing = target.Query(
      "SELECT DISTINCT r FROM pg_catalog.jsonb_array_elements_text($1::jsonb) r "
      "WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) ORDER BY 1",
      {nlohmann::json(names).dump()});
  if (!missing.ok()) return missing.status();
  std::vector<std::string> out;
  for (int i = 0; i < missing->rows(); ++i) out.push_back(missing->GetString(i, 0));
  return out;
}

absl::StatusOr<std::vector<std::string>> MissingMembershipGrants(pg::Connection& target,
                                                                 const std::vector<Membership>& memberships,
                                                                 const std::vector<std::string>& members) {
  if (memberships.empty() || members.empty()) return std::vector<std::string>{};
  nlohmann::json list = nlohmann::json::array();
  for (const Membership& m : memberships) list.push_back({m.role, m.member, m.admin});
  absl::StatusOr<pg::Result> grants = target.Query(
      "SELECT pg_catalog.format('GRANT %I TO %I%s', x->>0, x->>1, "
      "       CASE WHEN (x->>2)::boolean THEN ' WITH ADMIN OPTION' ELSE '' END) "
      "FROM pg_catalog.jsonb_array_elements($1::jsonb) x "
      "WHERE x->>1 IN (SELECT pg_catalog.jsonb_array_elements_text($2::jsonb)) "
      "  AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = x->>0) "
      "  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members a "
      "                   JOIN pg_catalog.pg_roles r ON r.oid = a.roleid "
      "                   JOIN pg_catalog.pg_roles m ON m.oid = a.member "
      "                  WHERE r.rolname = x->>0 AND m.rolname = x->>1)",
      {list.dump(), nlohmann::json(members).dump()});
  if (!grants.ok()) return grants.status();
  std::vector<std::string> out;
  for (int i = 0; i < grants->rows(); ++i) out.push_back(grants->GetString(i, 0));
  return out;
}

// Roles are the cluster's: those the base names and the target lacks are created (NOLOGIN, no
// other attribute) with the memberships the source gave them, so that owners and privileges land
// as they were. A role that cannot be created stops the restore, naming it.
absl::Status CreateMissingRoles(pg::Connection& target, const proto::Base& base, std::vector<std::string>* created,
                                std::vector<std::string>* notes) {
  absl::StatusOr<std::vector<std::string>> missing =
      MissingRoles(target, std::vector<std::string>(base.roles().begin(), base.roles().end()));
  if (!missing.ok()) return missing.status();
  for (const std::string& name : *missing) {
    if (absl::Status s = target.Execute(fmt::format("CREATE ROLE {} NOLOGIN", pg::QuoteIdent(name))); !s.ok()) {
      return base::WithKind(
          absl::FailedPreconditionError(fmt::format(
              "the base's objects name role {}, which the restore target lacks and could not be created ({}): "
              "create it, or pass --no-owner",
              name, s.message())),
          base::ErrorKind::kRoleMissing);
    }
    created->push_back(name);
  }
  if (created->empty()) return absl::OkStatus();
  std::vector<Membership> memberships;
  for (const proto::Base::RoleMembership& m : base.memberships()) {
    memberships.push_back({.role = m.role(), .member = m.member(), .admin = m.admin()});
  }
  absl::StatusOr<std::vector<std::string>> grants = MissingMembershipGrants(target, memberships, *created);
  if (!grants.ok()) return grants.status();
  for (const std::string& grant : *grants) {
    if (absl::Status s = target.Execute(grant); !s.ok()) return s;
  }
  notes->push_back(fmt::format("created role(s) {} (NOLOGIN) on the restore target: the base's objects name them",
                               absl::StrJoin(*created, ", ")));
  return absl::OkStatus();
}

}  // namespace pgpitr::restore
