#include "restore/sequences.h"

#include <algorithm>

#include "fmt/format.h"

namespace pgpitr::restore {

using pg::Lsn;

SequenceChoice::SequenceChoice(std::vector<proto::SequenceSample> samples, const proto::CaptureState& state,
                               const RestorePlan& plan)
    : samples_(std::move(samples)), target_(plan.target), reached_lsn_(plan.reached_lsn) {
  for (const proto::SequenceSample& sample : samples_) {
    const bool after = AfterTarget(sample);
    for (const auto& seq : sample.sequences()) {
      Known& k = known_[{seq.namespace_(), seq.name()}];
      if (!after) {
        k.before = &seq;
      } else if (k.after == nullptr) {
        k.after = &seq;
      }
    }
  }
  proto::SequenceSample watermark;
  watermark.set_check_lsn(state.last_sequence_check_lsn());
  watermark.set_check_time(state.last_sequence_check_time());
  checked_after_ = state.last_sequence_check_lsn() != 0 && AfterTarget(watermark);
}

bool SequenceChoice::AfterTarget(const proto::SequenceSample& sample) const {
  // A check at the target's instant already reflects every value handed out before it.
  if (target_.kind == RestoreTarget::Kind::kTime) return sample.check_time() >= target_.time;
  return Lsn(sample.check_lsn()) > reached_lsn_;
}

SequenceSetting SequenceChoice::For(const std::string& schema, const std::string& name, bool ascending,
                                    std::optional<int64_t> owned_max) const {
  SequenceSetting setting;
  const auto found = known_.find({schema, name});
  const Known k = found != known_.end() ? found->second : Known{};
  const proto::SequenceSample::Sequence* chosen = k.after;
  setting.why = "the first check after the target";
  if (chosen == nullptr && k.before != nullptr) {
    chosen = k.before;
    setting.why = checked_after_ ? "unchanged up to a check after the target"
                                 : "the last check, before the target: none was made after it";
  }
  if (chosen != nullptr) {
    setting.value = chosen->last_value();
    setting.is_called = chosen->is_called();
  }
  if (ascending && owned_max && (!setting.value || !setting.is_called || *owned_max > *setting.value)) {
    setting.value = std::max(*owned_max, setting.is_called ? setting.value.value_or(*owned_max) : *owned_max);
    setting.is_called = true;
    setting.why = chosen != nullptr ? setting.why + ", raised to the largest value in its column"
                                    : "the largest value in its column";
  }
  setting.noted = chosen == nullptr || chosen == k.before;
  return setting;
}

absl::Status RestoreSequences(pg::Connection& target, const wal::ChangeLog& log, const proto::CaptureState& state,
                              const RestorePlan& plan, std::vector<std::string>* notes) {
  std::vector<proto::SequenceSample> samples;
  absl::Status read = log.ForEachSequenceSample(Lsn(), [&](const proto::SequenceSample& s) {
    samples.push_back(s);
    return absl::OkStatus();
  });
  if (!read.ok()) return read;
  const SequenceChoice choice(std::move(samples), state, plan);

  absl::StatusOr<pg::Result> sequences = target.Query(R"sql(
    SELECT format('%I.%I', n.nspname, c.relname), s.seqincrement > 0,
           CASE WHEN a.attname IS NOT NULL THEN format('%I.%I', tn.nspname, t.relname) END,
           quote_ident(a.attname), a.atttypid IN (20, 21, 23, 1700), n.nspname, c.relname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_sequence s ON s.seqrelid = c.oid
    LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
         AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    LEFT JOIN pg_class t ON t.oid = d.refobjid
    LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
    LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    WHERE c.relkind = 'S' ORDER BY 1)sql");
  if (!sequences.ok()) return sequences.status();
  for (int i = 0; i < sequences->rows(); ++i) {
    const std::string name = sequences->GetString(i, 0);
    std::optional<int64_t> owned_max;
    if (!sequences->IsNull(i, 2) && sequences->Get(i, 4) == "t") {
      absl::StatusOr<pg::Result> max = target.Query(
          fmt::format("SELECT max({})::int8 FROM {}", sequences->GetString(i, 3), sequences->GetString(i, 2)));
      if (!max.ok()) return max.status();
      if (!max->IsNull(0, 0)) owned_max = std::stoll(max->GetString(0, 0));
    }
    const SequenceSetting setting =
        choice.For(sequences->GetString(i, 5), sequences->GetString(i, 6), sequences->Get(i, 1) == "t", owned_max);
    if (!setting.value) {
      notes->push_back(fmt::format("sequence {}: no sample and no owned column value; kept the base's value", name));
      continue;
    }
    if (absl::Status s = target.Execute("SELECT setval($1::regclass, $2::int8, $3::bool)",
                                        {name, std::to_string(*setting.value), setting.is_called ? "true" : "false"});
        !s.ok()) {
      return s;
    }
    if (setting.noted) notes->push_back(fmt::format("sequence {} set to {} ({})", name, *setting.value, setting.why));
  }
  return absl::OkStatus();
}

}  // namespace pgpitr::restore
