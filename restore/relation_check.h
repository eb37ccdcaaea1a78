// RelationCheck: without event triggers, schema changes are not in the logical stream. Capture's
// catalog checks (wal/catalog_digest.h) say what the source's relations were around a restore's
// target; this compares the restored relations with them and says which may differ, and why.
//   absl::StatusOr<SourceRelations> at = SourceRelationsAt(log, state, plan);
//   std::vector<Difference> d = CompareRelations(*at, after_base_schema, restored, /*definitions=*/true);
// Pure: reads the change log, compares digests.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/pgpitr.pb.h"
#include "restore/difference.h"
#include "restore/planner.h"
#include "wal/change_log.h"

namespace pgpitr::restore {

struct SourceRelations {
  // Some of the window from the base to the target ran without event triggers (and the base knows
  // its relations): only then is the restore compared.
  bool applies = false;
  std::vector<proto::RelationDigest> base;    // the base's, with the source's OIDs
  std::vector<proto::RelationDigest> before;  // the last known before the target (the base's, or a check's)
  uint64_t before_lsn = 0;                    // where `before` was read (its check's last read)
  int64_t before_time = 0;
  // A check that saw the relations changed, in a stretch that holds the target: the source's were
  // `before` or these, or something between.
  std::optional<proto::CatalogCheck> around;
  // With `around`: the schema changes recorded (by the proxy, or event triggers) from `before` up
  // to the target, and from the target to the end of that stretch, lower case. A relation such a
  // statement names may have changed by it, at its place: replay made it, or did not, as the source.
  std::vector<std::string> recorded_before;
  std::vector<std::string> recorded_after;
  // Those of recorded_before that committed while that check read (after its first read): its
  // snapshot may have been taken before them, so what it saw may lack them.
  std::vector<std::string> recorded_while_read;
  // The target is past the last check: changes after it (at last_check_*) cannot be seen.
  bool unchecked = false;
  uint64_t last_check_lsn = 0;
  int64_t last_check_time = 0;
};

// Each schema change recorded in the transactions committed from `from` to `to` (the proxy's
// statement, or the query an event trigger saw), in commit order; stops at the first error the
// visitor returns.
[[nodiscard]] absl::Status ForEachRecordedStatement(
    const wal::ChangeLog& log, pg::Lsn from, pg::Lsn to,
    const std::function<absl::Status(const proto::Transaction&, const proto::Change&, const std::string& statement)>&
        visit);

// What capture's checks say of the source's relations at the plan's target (by time for a time
// target, else by LSN; the latest point: what capture holds).
[[nodiscard]] absl::StatusOr<SourceRelations> SourceRelationsAt(const wal::ChangeLog& log,
                                                                const proto::CaptureState& state,
                                                                const RestorePlan& plan);

// The relations of a restore that may differ from the source's at the target: one difference
// each, naming it ("table ...") and why. `after_base_schema` are the target's relations once the
// base's schema was made (their OIDs tell a relation the replay made again from the base's);
// `restored` the target's at the end. definitions=false (the target runs another major, whose
// catalog functions word things otherwise) compares which relations there are, not their digests.
std::vector<Difference> CompareRelations(const SourceRelations& source,
                                         const std::vector<proto::RelationDigest>& after_base_schema,
                                         const std::vector<proto::RelationDigest>& restored, bool definitions);

}  // namespace pgpitr::restore
