#include "restore/roles.h"

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

}  // namespace pgpitr::restore
