// Sequences: the value each sequence of a restored database gets, from capture's samples (neither
// sequences nor their values are in the logical stream), so that it never hands out a value the
// source had handed out by the restore's target point.
//   SequenceChoice choose(samples, state, plan);
//   SequenceSetting s = choose.For("public", "orders_id_seq", /*ascending=*/true, /*owned_max=*/41);
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "pg/connection.h"
#include "proto/pgpitr.pb.h"
#include "restore/planner.h"
#include "wal/change_log.h"

namespace pgpitr::restore {

// What one sequence is set to, and why (in words for the restore's notes).
struct SequenceSetting {
  std::optional<int64_t> value;  // nullopt: nothing known; the base's value stays
  bool is_called = true;
  std::string why;
  // The value is not from a check after the target (the summary notes such decisions).
  bool noted = false;
};

// The rule, without a database: a sequence takes the first sample after the target (it reflects
// every value handed out before it); without one, the last sample before the target (unchanged
// since, when capture checked after the target); an ascending sequence owned by an integer column
// is raised to that column's largest restored value.
class SequenceChoice {
 public:
  // `samples` oldest first; `state` says where capture last checked; `plan` where the restore stops.
  SequenceChoice(std::vector<proto::SequenceSample> samples, const proto::CaptureState& state, const RestorePlan& plan);
  SequenceChoice(const SequenceChoice&) = delete;
  SequenceChoice& operator=(const SequenceChoice&) = delete;

  SequenceSetting For(const std::string& schema, const std::string& name, bool ascending,
                      std::optional<int64_t> owned_max) const;

 private:
  struct Known {
    const proto::SequenceSample::Sequence* before = nullptr;  // the last at or before the target
    const proto::SequenceSample::Sequence* after = nullptr;   // the first after it
  };
  bool AfterTarget(const proto::SequenceSample& sample) const;

  std::vector<proto::SequenceSample> samples_;
  RestoreTarget target_;  // by time: a check at or after target_.time is after it
  pg::Lsn reached_lsn_;   // otherwise: a check past the last commit replayed is after it
  std::map<std::pair<std::string, std::string>, Known> known_;  // by (schema, name)
  bool checked_after_ = false;                                  // capture checked the sequences after the target
};

// Sets every sequence of the target database per SequenceChoice; `notes` gets each decision not
// taken from a check after the target.
[[nodiscard]] absl::Status RestoreSequences(pg::Connection& target, const wal::ChangeLog& log,
                                            const proto::CaptureState& state, const RestorePlan& plan,
                                            std::vector<std::string>* notes);

}  // namespace pgpitr::restore
