#include "wal/sequences.h"

#include <vector>

#include "wal/source.h"

namespace pgpitr::wal {

namespace {

// last_value is NULL before the first nextval() (or without the privilege to read it). pg_sequences
// lists the sequences its catalog snapshot holds, then opens each one (pg_sequence_last_value): a
// sequence dropped in between fails the whole statement.
constexpr char kAllSequences[] =
    "SELECT schemaname, sequencename, coalesce(last_value, start_value), last_value IS NOT NULL "
    "FROM pg_sequences";
// The same list from the catalogs alone, which opens no sequence, so that concurrent drops cannot
// fail it.
constexpr char kSequenceNames[] =
    "SELECT c.oid, n.nspname, c.relname FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND NOT pg_is_other_temp_schema(n.oid)";
constexpr char kOneSequence[] =
    "SELECT coalesce(last_value, start_value), last_value IS NOT NULL FROM pg_sequences "
    "WHERE schemaname = $1 AND sequencename = $2";
constexpr char kRelationExists[] = "SELECT 1 FROM pg_class WHERE oid = $1";

// What a statement that opens a relation says when the relation was dropped after the statement
// found it: XX000 ("could not open relation with OID", an internal error with no code of its own)
// or 42P01 undefined_table.
bool MayBeConcurrentDrop(const absl::Status& s) {
  const std::string state = pg::SqlStateOf(s);
  return state == "XX000" || state == "42P01";
}

struct SequenceValue {
  std::pair<std::string, std::string> name;
  int64_t value = 0;
  bool is_called = false;
};

// One statement per sequence, for when the one for all of them met a drop: a sequence that fails
// and no longer exists was dropped and is left out; one that fails and still exists is an error.
absl::Status ReadOneByOne(pg::Connection& conn, std::vector<SequenceValue>* out) {
  absl::StatusOr<pg::Result> names = conn.Query(kSequenceNames);
  if (!names.ok()) return names.status();
  for (int i = 0; i < names->rows(); ++i) {
    const std::string oid = names->GetString(i, 0);
    SequenceValue v{.name = {names->GetString(i, 1), names->GetString(i, 2)}};
    absl::StatusOr<pg::Result> one = conn.Query(kOneSequence, {v.name.first, v.name.second});
    if (!one.ok()) {
      if (one.status().code() == absl::StatusCode::kUnavailable) return one.status();
      absl::StatusOr<pg::Result> exists = conn.Query(kRelationExists, {oid});
      if (!exists.ok()) return exists.status();
      if (exists->rows() > 0) return one.status();
      continue;
    }
    if (one->rows() == 0) continue;  // dropped or renamed since the list: the next check has it
    v.value = std::stoll(one->GetString(0, 0));
    v.is_called = one->Get(0, 1) == "t";
    out->push_back(std::move(v));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SequenceSampler::Seed(const ChangeLog& log) {
  return log.ForEachSequenceSample(pg::Lsn(), [&](const proto::SequenceSample& sample) {
    for (const auto& s : sample.sequences()) {
      last_[{s.namespace_(), s.name()}] = {s.last_value(), s.is_called()};
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<SequenceSampler::Check> SequenceSampler::Sample(pg::Connection& conn) {
  Check check;
  // Whether large objects exist as of `lsn`: every commit before it is in what the reads see.
  absl::StatusOr<ServerPosition> position = ReadSettledServerPosition(conn);
  if (!position.ok()) return position.status();
  check.lsn = position->insert_lsn;
  check.time = position->time;
  std::vector<SequenceValue> values;
  absl::StatusOr<pg::Result> all = conn.Query(kAllSequences);
  if (all.ok()) {
    values.reserve(all->rows());
    for (int i = 0; i < all->rows(); ++i) {
      values.push_back({.name = {all->GetString(i, 0), all->GetString(i, 1)},
                        .value = std::stoll(all->GetString(i, 2)),
                        .is_called = all->Get(i, 3) == "t"});
    }
  } else if (MayBeConcurrentDrop(all.status())) {
    if (absl::Status s = ReadOneByOne(conn, &values); !s.ok()) return s;
  } else {
    return all.status();
  }
  for (const SequenceValue& v : values) {
    auto it = last_.find(v.name);
    if (it != last_.end() && it->second == std::make_pair(v.value, v.is_called)) continue;
    last_[v.name] = {v.value, v.is_called};
    auto* s = check.changed.add_sequences();
    s->set_namespace_(v.name.first);
    s->set_name(v.name.second);
    s->set_last_value(v.value);
    s->set_is_called(v.is_called);
  }
  absl::StatusOr<pg::Result> large_objects =
      conn.Query("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_largeobject_metadata)");
  if (!large_objects.ok()) return large_objects.status();
  check.large_objects = large_objects->Get(0, 0) == "t";
  absl::StatusOr<ServerPosition> after = ReadServerPosition(conn);
  if (!after.ok()) return after.status();
  check.large_objects_lsn = after->insert_lsn;
  check.large_objects_time = after->time;
  return check;
}

}  // namespace pgpitr::wal
