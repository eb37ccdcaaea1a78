#include "wal/sequences.h"

#include "wal/source.h"

namespace pgpitr::wal {

absl::Status SequenceSampler::Seed(const ChangeLog& log) {
  return log.ForEachSequenceSample(Lsn(), [&](const proto::SequenceSample& sample) {
    for (const auto& s : sample.sequences()) {
      last_[{s.namespace_(), s.name()}] = {s.last_value(), s.is_called()};
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<SequenceSampler::Check> SequenceSampler::Sample(PgConnection& conn) {
  Check check;
  absl::StatusOr<ServerPosition> position = ReadServerPosition(conn);
  if (!position.ok()) return position.status();
  check.lsn = position->insert_lsn;
  check.time = position->time;
  // last_value is NULL before the first nextval() (or without the privilege to read it).
  absl::StatusOr<PgResult> values = conn.Query(
      "SELECT schemaname, sequencename, coalesce(last_value, start_value), last_value IS NOT NULL "
      "FROM pg_sequences");
  if (!values.ok()) return values.status();
  for (int i = 0; i < values->rows(); ++i) {
    std::pair<std::string, std::string> name{values->GetString(i, 0), values->GetString(i, 1)};
    const int64_t value = std::stoll(values->GetString(i, 2));
    const bool is_called = values->Get(i, 3) == "t";
    auto it = last_.find(name);
    if (it != last_.end() && it->second == std::make_pair(value, is_called)) continue;
    last_[name] = {value, is_called};
    auto* s = check.changed.add_sequences();
    s->set_namespace_(name.first);
    s->set_name(name.second);
    s->set_last_value(value);
    s->set_is_called(is_called);
  }
  return check;
}

}  // namespace pgpitr::wal
