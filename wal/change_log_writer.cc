#include "wal/change_log_writer.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <unordered_set>

#include "base/error.h"
#include "fmt/format.h"
#include "pg/stream_messages.h"
#include "wal/change_log_keys.h"
#include "wal/event_triggers.h"

namespace pgpitr::wal {

namespace {

// The large-object checks kept in memory (ChangeLogWriter::large_object_checks_).
constexpr size_t kLargeObjectChecksKept = 4096;

// Changes of open transactions are written (unsynced) once this much is buffered, so memory stays
// bounded whatever a transaction's size.
constexpr size_t kSpillBytes = 8 << 20;
// A transaction's changes are stored in chunks of about this many bytes (before compression).
constexpr size_t kChunkBytes = 128 << 10;

// --- proto::Change in wire format, written straight from the decoded message ---
// Row changes are the hot path of capture: building a proto::Change per row (a message, a Value and
// a string per column) and serializing it cost more than everything else the writer does. These
// write the same bytes SerializeToString would (fields in number order, proto3 defaults omitted,
// tuples always present when set); tests/wal/change_log_test.cc holds them to that.

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, ++n;
  return n;
}
void AppendVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
uint32_t ValueKindOf(ColumnKind kind) {
  switch (kind) {
    case ColumnKind::kNull:
      return proto::Value::NULL_;
    case ColumnKind::kUnchangedToast:
      return proto::Value::UNCHANGED_TOAST;
    case ColumnKind::kBinary:
      return proto::Value::BINARY;
    case ColumnKind::kText:
      break;
  }
  return proto::Value::TEXT;
}
bool HasData(const TupleColumn& c) {
  return (c.kind == ColumnKind::kText || c.kind == ColumnKind::kBinary) && !c.value.empty();
}
// A field of the message: tag, then for a length-delimited one its length.
size_t FieldSize(size_t length) { return 1 + VarintSize(length) + length; }
size_t ValueSize(const TupleColumn& c) {
  const uint32_t kind = ValueKindOf(c.kind);
  return (kind != 0 ? 1 + VarintSize(kind) : 0) + (HasData(c) ? FieldSize(c.value.size()) : 0);
}
size_t TupleSize(const TupleData& tuple) {
  size_t n = 0;
  for (const TupleColumn& c : tuple) n += FieldSize(ValueSize(c));
  return n;
}
void AppendTuple(std::string* out, char tag, const TupleData& tuple, size_t size) {
  out->push_back(tag);
  AppendVarint(out, size);
  for (const TupleColumn& c : tuple) {
    out->push_back('\x0a');  // Tuple.values
    AppendVarint(out, ValueSize(c));
    if (const uint32_t kind = ValueKindOf(c.kind); kind != 0) {
      out->push_back('\x08');  // Value.kind
      AppendVarint(out, kind);
    }
    if (HasData(c)) {
      out->push_back('\x12');  // Value.data
      AppendVarint(out, c.value.size());
      out->append(c.value);
    }
  }
}

}  // namespace

void AppendRowChange(std::string* out, proto::Change::Kind kind, uint32_t schema_id, const TupleData* new_tuple,
                     proto::Change::OldKind old_kind, const TupleData* old_tuple) {
  const size_t new_size = new_tuple != nullptr ? TupleSize(*new_tuple) : 0;
  const size_t old_size = old_tuple != nullptr ? TupleSize(*old_tuple) : 0;
  if (kind != 0) {
    out->push_back('\x08');  // Change.kind
    AppendVarint(out, static_cast<uint32_t>(kind));
  }
  if (schema_id != 0) {
    out->push_back('\x10');  // Change.schema_id
    AppendVarint(out, schema_id);
  }
  if (new_tuple != nullptr) AppendTuple(out, '\x1a', *new_tuple, new_size);  // Change.new_tuple
  if (old_kind != 0) {
    out->push_back('\x20');  // Change.old_kind
    AppendVarint(out, static_cast<uint32_t>(old_kind));
  }
  if (old_tuple != nullptr) AppendTuple(out, '\x2a', *old_tuple, old_size);  // Change.old_tuple
}

namespace {

size_t RowChangeSize(proto::Change::Kind kind, uint32_t schema_id, const TupleData* new_tuple,
                     proto::Change::OldKind old_kind, const TupleData* old_tuple) {
  return (kind != 0 ? 1 + VarintSize(static_cast<uint32_t>(kind)) : 0) +
         (schema_id != 0 ? 1 + VarintSize(schema_id) : 0) + (new_tuple ? FieldSize(TupleSize(*new_tuple)) : 0) +
         (old_kind != 0 ? 1 + VarintSize(static_cast<uint32_t>(old_kind)) : 0) +
         (old_tuple ? FieldSize(TupleSize(*old_tuple)) : 0);
}

proto::Change::OldKind OldKindOf(char old_kind) {
  switch (old_kind) {
    case 'K':
      return proto::Change::KEY;
    case 'O':
      return proto::Change::FULL_ROW;
    default:
      return proto::Change::NONE;
  }
}

bool SameSchema(const proto::RelationSchema& a, const proto::RelationSchema& b) {
  if (a.relid() != b.relid() || a.namespace_() != b.namespace_() || a.name() != b.name() ||
      a.replica_identity() != b.replica_identity() || a.columns_size() != b.columns_size()) {
    return false;
  }
  for (int i = 0; i < a.columns_size(); ++i) {
    const auto& x = a.columns(i);
    const auto& y = b.columns(i);
    if (x.name() != y.name() || x.type_oid() != y.type_oid() || x.type_modifier() != y.type_modifier() ||
        x.is_key() != y.is_key()) {
      return false;
    }
  }
  return true;
}

// One ChangeChunk.changes entry, as the chunk buffer holds them: the tag, the length, the change;
// where it starts goes to offsets, when given.
void AppendEntry(std::string* buffer, std::vector<uint32_t>* offsets, std::string_view change) {
  if (offsets != nullptr) offsets->push_back(static_cast<uint32_t>(buffer->size()));
  buffer->push_back('\x12');  // ChangeChunk.changes
  AppendVarint(buffer, change.size());
  buffer->append(change);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChangeLogWriter>> ChangeLogWriter::Create(ChangeLog* log) {
  std::unique_ptr<ChangeLogWriter> writer(new ChangeLogWriter(log));
  absl::StatusOr<proto::CaptureState> state = log->State();
  if (!state.ok()) return state.status();
  if (state->format_version() < kChangeLogFormatVersion) {
    // InvalidArgument: a usage error (exit code 2), which the systemd unit does not retry.
    return absl::InvalidArgumentError(fmt::format(
        "the change log in this repository has format version {}, written by an older pgpitr: this pgpitr "
        "restores from it but does not add to it; capture into a new repository (another --repo) and keep this "
        "one for restores until its window is no longer needed",
        state->format_version()));
  }
  writer->state_ = *std::move(state);
  writer->state_.set_format_version(kChangeLogFormatVersion);
  if (writer->state_.next_storage_id() == 0) writer->state_.set_next_storage_id(1);
  if (writer->state_.next_schema_id() == 0) writer->state_.set_next_schema_id(1);
  writer->pending_through_ = pg::Lsn(writer->state_.captured_through_lsn());
  writer->pending_through_time_ = writer->state_.captured_through_time();

  absl::StatusOr<std::map<uint32_t, proto::RelationSchema>> schemas = log->Schemas();
  if (!schemas.ok()) return schemas.status();
  writer->schemas_ = *std::move(schemas);
  // Schema ids grow, so the last one seen for a relation is the one in force.
  for (const auto& [id, schema] : writer->schemas_) writer->relation_schemas_[schema.relid()] = id;

  absl::StatusOr<std::vector<uint64_t>> pending = log->PendingStorageIds();
  if (!pending.ok()) return pending.status();
  for (uint64_t storage_id : *pending) {
    writer->batch_.DeleteRange(keys::Chunk(storage_id, 0), keys::Chunk(storage_id + 1, 0));
    writer->batch_.Delete(keys::Pending(storage_id));
  }
  if (!pending->empty()) {
    if (absl::Status s = writer->Sync(); !s.ok()) return s;
  }
  return writer;
}

void ChangeLogWriter::SetSourceIdentity(const std::string& system_identifier, const std::string& database,
                                        const std::string& slot, const std::string& publication) {
  state_.set_system_identifier(system_identifier);
  state_.set_database(database);
  state_.set_slot_name(slot);
  state_.set_publication_name(publication);
}

void ChangeLogWriter::SetLogStart(pg::Lsn lsn, pg::PgTime server_time) {
  if (state_.log_start_lsn() != 0) return;
  state_.set_log_start_lsn(lsn.value());
  state_.set_log_start_time(server_time);
  // Nothing before the slot's start is ours to capture: the log is complete up to it.
  AdvanceTo(lsn, server_time);
}

absl::StatusOr<std::optional<proto::SequenceSample>> ChangeLogWriter::StoredSequenceSample(pg::Lsn check_lsn) const {
  if (last_sample_.has_value() && pg::Lsn(last_sample_->check_lsn()) == check_lsn) return last_sample_;
  return log_->SequenceSampleAt(check_lsn);
}

absl::Status ChangeLogWriter::PutSequenceSample(const proto::SequenceSample& changed, pg::Lsn check_lsn,
                                                pg::PgTime check_time) {
  if (changed.sequences_size() > 0) {
    absl::StatusOr<std::optional<proto::SequenceSample>> stored = StoredSequenceSample(check_lsn);
    if (!stored.ok()) return stored.status();
    proto::SequenceSample sample = stored->value_or(proto::SequenceSample());
    for (const auto& seq : changed.sequences()) {
      auto same =
          std::find_if(sample.mutable_sequences()->begin(), sample.mutable_sequences()->end(),
                       [&](const auto& s) { return s.namespace_() == seq.namespace_() && s.name() == seq.name(); });
      if (same != sample.mutable_sequences()->end()) {
        *same = seq;
      } else {
        *sample.add_sequences() = seq;
      }
    }
    // A sequence the earlier sample holds and this one does not was unchanged in between: its value
    // holds at this check's time too.
    sample.set_check_lsn(check_lsn.value());
    sample.set_check_time(std::max<pg::PgTime>(sample.check_time(), check_time));
    batch_.Put(keys::SequenceSample(check_lsn), keys::Serialize(sample));
    last_sample_ = std::move(sample);
  }
  state_.set_last_sequence_check_lsn(check_lsn.value());
  state_.set_last_sequence_check_time(check_time);
  return absl::OkStatus();
}

absl::Status ChangeLogWriter::PutCatalogCheck(const std::optional<proto::CatalogCheck>& changed, pg::Lsn check_lsn,
                                              pg::PgTime check_time) {
  if (changed.has_value()) batch_.Put(keys::CatalogCheck(pg::Lsn(changed->lsn())), keys::Serialize(*changed));
  state_.set_last_catalog_check_lsn(check_lsn.value());
  state_.set_last_catalog_check_time(check_time);
  return absl::OkStatus();
}

void ChangeLogWriter::NoteLargeObjects(bool present, Position before, Position after) {
  auto* spans = state_.mutable_large_object_spans();
  const bool open = !spans->empty() && spans->rbegin()->open();
  if (present && !open) {
    // They appeared after the previous check (or before any, when capture had made none), or after
    // a reading of the proxy's that saw none, if one came later.
    proto::LargeObjectSpan span;
    span.set_from_lsn(state_.last_sequence_check_lsn());
    span.set_from_time(state_.last_sequence_check_time());
    if (!large_object_checks_.empty() && large_object_checks_.back().before.lsn.value() > span.from_lsn() &&
        large_object_checks_.back().before.lsn < before.lsn) {
      span.set_from_lsn(large_object_checks_.back().before.lsn.value());
      span.set_from_time(large_object_checks_.back().before.time);
    }
    span.set_open(true);
    AddLargeObjectSpan(span);
  } else if (!present && open) {
    // None when the read was made, which may be as late as `after`.
    proto::LargeObjectSpan& span = *spans->rbegin();
    span.set_to_lsn(after.lsn.value());
    span.set_to_time(after.time);
    span.set_open(false);
  }
  large_object_checks_.push_back({before, after, present});
  // About an hour of checks; a schema change on large objects placed before the oldest takes a
  // wider span (NoteLargeObjectStatement).
  while (large_object_checks_.size() > kLargeObjectChecksKept) large_object_checks_.pop_front();
}

void ChangeLogWriter::NoteLargeObjectStatement(pg::Lsn commit_lsn) {
  // The checks run beside the stream, at the server's insert position, so some may be past this
  // commit already. The first whose read surely came after it: one that saw some is in a span that
  // covers the commit (a span starts at the check before the first that saw some).
  auto after = std::find_if(large_object_checks_.begin(), large_object_checks_.end(),
                            [&](const LargeObjectCheck& c) { return c.before.lsn > commit_lsn; });
  if (after != large_object_checks_.end() && after->present) return;
  proto::LargeObjectSpan span;
  if (after != large_object_checks_.begin()) {
    span.set_from_lsn(std::prev(after)->before.lsn.value());
    span.set_from_time(std::prev(after)->before.time);
  } else {
    // No check before it in memory (capture restarted, or the stream is far behind): the latest one
    // known to lie before it, a span's end or the last check; else from the start.
    for (const proto::LargeObjectSpan& s : state_.large_object_spans()) {
      if (!s.open() && pg::Lsn(s.to_lsn()) <= commit_lsn && s.to_lsn() > span.from_lsn()) {
        span.set_from_lsn(s.to_lsn());
        span.set_from_time(s.to_time());
      }
    }
    if (pg::Lsn(state_.last_sequence_check_lsn()) <= commit_lsn && state_.last_sequence_check_lsn() > span.from_lsn()) {
      span.set_from_lsn(state_.last_sequence_check_lsn());
      span.set_from_time(state_.last_sequence_check_time());
    }
  }
  if (after != large_object_checks_.end()) {
    span.set_to_lsn(after->after.lsn.value());
    span.set_to_time(after->after.time);
  } else {
    span.set_open(true);  // the next check closes it, or keeps it open
  }
  AddLargeObjectSpan(span);
}

std::optional<ChangeLogWriter::LargeObjectReading> ChangeLogWriter::ParseLargeObjectReading(std::string_view content) {
  using Kind = LargeObjectReading::Kind;
  LargeObjectReading reading;
  if (content == "some" || content == "none") {
    reading.kind = content == "some" ? Kind::kSome : Kind::kNoneAfter;
    return reading;
  }
  // none at <LSN> <time>
  constexpr std::string_view kNoneAt = "none at ";
  if (!content.starts_with(kNoneAt)) return std::nullopt;
  content.remove_prefix(kNoneAt.size());
  const size_t space = content.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  absl::StatusOr<pg::Lsn> lsn = pg::Lsn::Parse(content.substr(0, space));
  pg::PgTime time = 0;
  const std::string_view digits = content.substr(space + 1);
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), time);
  if (!lsn.ok() || error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  reading.kind = Kind::kNoneBefore;
  reading.at = {*lsn, time};
  return reading;
}

void ChangeLogWriter::NoteLargeObjectsOf(const OpenTransaction& txn, pg::Lsn commit_lsn, pg::PgTime commit_time) {
  using Kind = LargeObjectReading::Kind;
  bool some = false;
  std::optional<Kind> last_after;
  for (const auto& [seq, reading] : txn.large_objects) {
    if (reading.kind == Kind::kNoneBefore) {
      // A check of its own: none at `at`, read before its message (and the commit).
      const LargeObjectCheck check{reading.at, {reading.message_lsn, commit_time}, false};
      auto later = std::upper_bound(large_object_checks_.begin(), large_object_checks_.end(), check.before.lsn,
                                    [](pg::Lsn lsn, const LargeObjectCheck& c) { return lsn < c.before.lsn; });
      large_object_checks_.insert(later, check);
      if (large_object_checks_.size() > kLargeObjectChecksKept) large_object_checks_.pop_front();
      continue;
    }
    some = some || reading.kind == Kind::kSome;
    last_after = reading.kind;
  }
  if (some) NoteLargeObjectStatement(commit_lsn);
  if (last_after == Kind::kNoneAfter) EndLargeObjectSpanAt({commit_lsn, commit_time});
}

void ChangeLogWriter::EndLargeObjectSpanAt(Position at) {
  auto* spans = state_.mutable_large_object_spans();
  if (spans->empty()) return;
  auto first_after = std::find_if(large_object_checks_.begin(), large_object_checks_.end(),
                                  [&](const LargeObjectCheck& c) { return c.before.lsn > at.lsn; });
  if (first_after != large_object_checks_.end() && first_after->present) return;
  proto::LargeObjectSpan& span = *spans->rbegin();
  if (pg::Lsn(span.from_lsn()) >= at.lsn) return;
  const bool closed_by_first_after = !span.open() && first_after != large_object_checks_.end() &&
                                     pg::Lsn(span.to_lsn()) == first_after->after.lsn &&
                                     pg::Lsn(span.to_lsn()) > at.lsn;
  if ((span.open() && first_after == large_object_checks_.end()) || closed_by_first_after) {
    span.set_to_lsn(at.lsn.value());
    span.set_to_time(at.time);
    span.set_open(false);
  }
}

void ChangeLogWriter::AddLargeObjectSpan(const proto::LargeObjectSpan& span) {
  auto* spans = state_.mutable_large_object_spans();
  const int at = static_cast<int>(
      std::upper_bound(spans->begin(), spans->end(), span.from_lsn(),
                       [](uint64_t from, const proto::LargeObjectSpan& s) { return from < s.from_lsn(); }) -
      spans->begin());
  spans->Add();
  for (int i = spans->size() - 1; i > at; --i) (*spans)[i] = (*spans)[i - 1];
  (*spans)[at] = span;
  // Overlapping spans become one; then, bounded, the two oldest become one that covers both.
  auto merge = [&](int i) {
    proto::LargeObjectSpan& a = (*spans)[i];
    const proto::LargeObjectSpan& b = (*spans)[i + 1];
    if (b.open() || (!a.open() && b.to_lsn() > a.to_lsn())) {
      a.set_to_lsn(b.to_lsn());
      a.set_to_time(std::max(a.to_time(), b.to_time()));
      a.set_open(b.open() || a.open());
    }
    a.set_from_time(std::min(a.from_time(), b.from_time()));
    spans->DeleteSubrange(i + 1, 1);
  };
  for (int i = 0; i + 1 < spans->size();) {
    const proto::LargeObjectSpan& a = (*spans)[i];
    if (a.open() || a.to_lsn() > (*spans)[i + 1].from_lsn()) {
      merge(i);
    } else {
      ++i;
    }
  }
  constexpr int kMaxSpans = 64;
  while (spans->size() > kMaxSpans) merge(0);
}

void ChangeLogWriter::AdvanceTo(pg::Lsn lsn, pg::PgTime time) {
  if (lsn > pending_through_) pending_through_ = lsn;
  pending_through_time_ = std::max(pending_through_time_, time);
  while (!clock_marks_.empty() && clock_marks_.front().first <= pending_through_) {
    pending_through_time_ = std::max(pending_through_time_, clock_marks_.front().second);
    clock_marks_.pop_front();
  }
}

void ChangeLogWriter::NoteServerPosition(pg::Lsn wal_end) {
  if (current_.has_value()) return;  // inside a transaction: its commit is still to come
  // A keepalive's send time says nothing about commits the walsender has not decoded yet, so
  // only the position counts here; clock readings give the time.
  if (wal_end > pending_through_) AdvanceTo(wal_end, 0);
}

void ChangeLogWriter::NoteServerClock(pg::Lsn lsn, pg::PgTime time) {
  if (!clock_marks_.empty() && clock_marks_.back().first >= lsn) {
    clock_marks_.back().second = std::max(clock_marks_.back().second, time);
  } else {
    clock_marks_.emplace_back(lsn, time);
  }
  // Bounded: a stream far behind keeps only the newest readings' worth of precision.
  while (clock_marks_.size() > 1000) clock_marks_.pop_front();
  AdvanceTo(pending_through_, 0);
}

void ChangeLogWriter::OrderedBatch::Put(std::string key, std::string value) {
  bytes_ += key.size() + value.size() + 8;
  ops_.push_back({Op::Kind::kPut, std::move(key), std::move(value)});
}

void ChangeLogWriter::OrderedBatch::Delete(std::string key) {
  bytes_ += key.size() + 8;
  ops_.push_back({Op::Kind::kDelete, std::move(key), {}});
}

void ChangeLogWriter::OrderedBatch::DeleteRange(std::string begin, std::string end) {
  assert(!begin.empty() && !end.empty() && begin[0] == end[0]);
  bytes_ += begin.size() + end.size() + 8;
  ops_.push_back({Op::Kind::kDeleteRange, std::move(begin), std::move(end)});
}

rocksdb::WriteBatch* ChangeLogWriter::OrderedBatch::Build() {
  std::stable_sort(ops_.begin(), ops_.end(), [](const Op& a, const Op& b) {
    return static_cast<uint8_t>(a.key[0]) < static_cast<uint8_t>(b.key[0]);
  });
  built_.Clear();
  for (const Op& op : ops_) {
    rocksdb::Status s;
    switch (op.kind) {
      case Op::Kind::kPut:
        s = built_.Put(op.key, op.value);
        break;
      case Op::Kind::kDelete:
        s = built_.Delete(op.key);
        break;
      case Op::Kind::kDeleteRange:
        s = built_.DeleteRange(op.key, op.value);
        break;
    }
    assert(s.ok());  // only a batch over 4 GiB could refuse, and a sync comes long before that
    (void)s;
  }
  return &built_;
}

void ChangeLogWriter::OrderedBatch::Clear() {
  ops_.clear();
  bytes_ = 0;
}

absl::Status ChangeLogWriter::Sync() {
  // Everything buffered goes, the open transactions' changes too: a restart need not wait for a
  // chunk to fill to find them pending.
  if (current_.has_value()) WriteChunk(&*current_, /*at_commit=*/false);
  for (auto& [xid, txn] : streamed_) WriteChunk(&txn, /*at_commit=*/false);
  proto::CaptureState next = state_;
  next.set_captured_through_lsn(pending_through_.value());
  next.set_captured_through_time(pending_through_time_);
  batch_.Put(keys::State(), keys::Serialize(next));
  absl::Status s = keys::Write(*log_, batch_.Build(), /*sync=*/true);
  // A failed write leaves the durable position where it was: nothing more is confirmed.
  if (!s.ok()) return s;
  state_ = std::move(next);
  batch_.Clear();
  return s;
}

absl::Status ChangeLogWriter::AbandonOpenTransactions() {
  if (current_.has_value()) Discard(*current_);
  for (const auto& [xid, txn] : streamed_) Discard(txn);
  current_.reset();
  streamed_.clear();
  stream_xid_.reset();
  return Sync();
}

absl::Status ChangeLogWriter::MaybeSpill() {
  if (batch_.GetDataSize() < kSpillBytes) return absl::OkStatus();
  return WriteBatchUnsynced();
}

absl::StatusOr<ChangeLogWriter::OpenTransaction*> ChangeLogWriter::TransactionFor(std::optional<uint32_t> xid,
                                                                                  const char* what) {
  if (stream_xid_.has_value()) {
    if (!xid.has_value()) {
      return absl::DataLossError(
          fmt::format("replication stream sent a {} without a transaction id "
                      "inside a streamed block",
                      what));
    }
    return &streamed_.at(*stream_xid_);
  }
  if (!current_.has_value()) {
    return absl::DataLossError(fmt::format("replication stream sent a {} outside a transaction", what));
  }
  return &*current_;
}

absl::StatusOr<uint32_t> ChangeLogWriter::SchemaFor(const OpenTransaction& txn, uint32_t relid) const {
  if (auto it = txn.relation_schemas.find(relid); it != txn.relation_schemas.end()) return it->second;
  if (auto it = relation_schemas_.find(relid); it != relation_schemas_.end()) return it->second;
  return absl::DataLossError(
      fmt::format("replication stream sent a change for relation OID {} before describing it", relid));
}

void ChangeLogWriter::NoteSubtransaction(OpenTransaction* txn, std::optional<uint32_t> subxid) {
  // Only streamed changes carry their (sub)transaction id; a new stretch starts when it changes.
  if (!subxid.has_value() || (!txn->xid_runs.empty() && txn->xid_runs.back().first == *subxid)) return;
  txn->xid_runs.emplace_back(*subxid, txn->next_seq);
  if (*subxid != txn->xid) {
    txn->subxact_first_seq.try_emplace(*subxid, OpenTransaction::SubxactStart{txn->next_seq, txn->rows});
  }
}

absl::Status ChangeLogWriter::ChangeAppended(OpenTransaction* txn) {
  ++txn->next_seq;
  if (txn->chunk.size() >= kChunkBytes) WriteChunk(txn, /*at_commit=*/false);
  return MaybeSpill();
}

absl::Status ChangeLogWriter::AppendChange(OpenTransaction* txn, std::optional<uint32_t> subxid,
                                           const proto::Change& change) {
  if (txn->skip) return absl::OkStatus();
  NoteSubtransaction(txn, subxid);
  AppendEntry(&txn->chunk, &txn->chunk_offsets, change.SerializeAsString());
  return ChangeAppended(txn);
}

absl::Status ChangeLogWriter::AppendRow(OpenTransaction* txn, std::optional<uint32_t> subxid, proto::Change::Kind kind,
                                        uint32_t schema_id, const TupleData* new_tuple, proto::Change::OldKind old_kind,
                                        const TupleData* old_tuple) {
  if (txn->skip) return absl::OkStatus();
  NoteSubtransaction(txn, subxid);
  txn->chunk_offsets.push_back(static_cast<uint32_t>(txn->chunk.size()));
  txn->chunk.push_back('\x12');  // ChangeChunk.changes
  AppendVarint(&txn->chunk, RowChangeSize(kind, schema_id, new_tuple, old_kind, old_tuple));
  AppendRowChange(&txn->chunk, kind, schema_id, new_tuple, old_kind, old_tuple);
  ++txn->rows;
  return ChangeAppended(txn);
}

void ChangeLogWriter::WriteChunk(OpenTransaction* txn, bool at_commit) {
  if (txn->chunk.empty()) return;
  // A transaction whose chunks reach the log before its commit is pending until then.
  if (!at_commit && !txn->pending_written) {
    batch_.Put(keys::Pending(txn->storage_id), std::to_string(txn->xid));
    txn->pending_written = true;
  }
  std::string value(1, '\x08');  // ChangeChunk.first_seq, then the buffered ChangeChunk.changes
  AppendVarint(&value, txn->chunk_first_seq);
  value += txn->chunk;
  batch_.Put(keys::Chunk(txn->storage_id, txn->written_chunks.size()), std::move(value));
  txn->written_chunks.push_back(txn->chunk_first_seq);
  txn->chunk.clear();
  txn->chunk_offsets.clear();
  txn->chunk_first_seq = txn->next_seq;
}

absl::Status ChangeLogWriter::WriteBatchUnsynced() {
  // Unsynced: what it holds is confirmed to the server only after a later Sync.
  batch_.Put(keys::State(), keys::Serialize(state_));
  absl::Status s = keys::Write(*log_, batch_.Build(), /*sync=*/false);
  batch_.Clear();
  ++unsynced_writes_;
  return s;
}

void ChangeLogWriter::NoteRecord(OpenTransaction* txn, pg::Lsn at) {
  if (!at.IsValid() || txn->skip || at == txn->tail_lsn) return;
  txn->tail_lsn = at;
  txn->tail_seq = txn->next_seq;
  txn->tail_rows = txn->rows;
}

absl::Status ChangeLogWriter::InsertChangeAt(OpenTransaction* txn, uint64_t seq, std::optional<uint32_t> subxid,
                                             const proto::Change& change) {
  if (absl::Status s = ReloadFrom(txn, seq); !s.ok()) return s;
  for (auto& mark : txn->marks) mark.first += mark.first >= seq ? 1 : 0;
  for (uint64_t& ddl : txn->ddl_seqs) ddl += ddl >= seq ? 1 : 0;
  for (auto& reading : txn->large_objects) reading.first += reading.first >= seq ? 1 : 0;
  for (auto& dropped : txn->dropped) dropped.first += dropped.first >= seq ? 1 : 0;
  for (auto& [xid, start] : txn->subxact_first_seq) start.seq += start.seq >= seq ? 1 : 0;
  if (subxid.has_value() && !txn->xid_runs.empty()) {
    // Stretches before it stay, then its own, then the one it was put into goes on after it.
    std::vector<std::pair<uint32_t, uint64_t>> runs;
    std::optional<uint32_t> covering;
    for (const auto& [xid, first] : txn->xid_runs) {
      if (first <= seq) covering = xid;
      if (first < seq) runs.emplace_back(xid, first);
    }
    runs.emplace_back(*subxid, seq);
    if (covering.has_value()) runs.emplace_back(*covering, seq + 1);
    for (const auto& [xid, first] : txn->xid_runs) {
      if (first > seq) runs.emplace_back(xid, first + 1);
    }
    txn->xid_runs.clear();
    for (const auto& run : runs) {
      if (txn->xid_runs.empty() || txn->xid_runs.back().first != run.first) txn->xid_runs.push_back(run);
    }
    if (*subxid != txn->xid) {
      txn->subxact_first_seq.try_emplace(*subxid, OpenTransaction::SubxactStart{seq, txn->tail_rows});
    }
  }
  std::string entry;
  AppendEntry(&entry, nullptr, change.SerializeAsString());
  const size_t index = static_cast<size_t>(seq - txn->chunk_first_seq);
  const uint32_t offset = txn->chunk_offsets[index];
  txn->chunk.insert(offset, entry);
  txn->chunk_offsets.insert(txn->chunk_offsets.begin() + static_cast<std::ptrdiff_t>(index), offset);
  for (size_t i = index + 1; i < txn->chunk_offsets.size(); ++i) {
    txn->chunk_offsets[i] += static_cast<uint32_t>(entry.size());
  }
  ++txn->tail_seq;
  return ChangeAppended(txn);
}

absl::StatusOr<proto::ChangeChunk> ChangeLogWriter::ReadWrittenChunk(uint64_t storage_id, size_t k,
                                                                     const char* why) const {
  absl::StatusOr<proto::ChangeChunk> chunk = log_->ReadChunk(storage_id, k);
  if (!chunk.ok()) {
    return base::Reworded(chunk.status(), fmt::format("could not read back a transaction's changes {}: {}", why,
                                                      chunk.status().message()));
  }
  return chunk;
}

size_t ChangeLogWriter::WrittenChunkHolding(const OpenTransaction& txn, uint64_t seq) {
  return static_cast<size_t>(std::upper_bound(txn.written_chunks.begin(), txn.written_chunks.end(), seq) -
                             txn.written_chunks.begin() - 1);
}

absl::Status ChangeLogWriter::ReloadFrom(OpenTransaction* txn, uint64_t seq) {
  if (seq >= txn->chunk_first_seq) return absl::OkStatus();
  // Rare: the record's changes filled a chunk. The batch goes first, so that the log holds them.
  if (absl::Status s = WriteBatchUnsynced(); !s.ok()) return s;
  const size_t k = WrittenChunkHolding(*txn, seq);
  std::string buffer;
  std::vector<uint32_t> offsets;
  for (size_t j = k; j < txn->written_chunks.size(); ++j) {
    absl::StatusOr<proto::ChangeChunk> chunk = ReadWrittenChunk(txn->storage_id, j, "to put a message in its place");
    if (!chunk.ok()) return chunk.status();
    for (const proto::Change& change : chunk->changes()) AppendEntry(&buffer, &offsets, change.SerializeAsString());
  }
  for (uint32_t offset : txn->chunk_offsets) offsets.push_back(static_cast<uint32_t>(buffer.size()) + offset);
  buffer += txn->chunk;
  batch_.DeleteRange(keys::Chunk(txn->storage_id, k), keys::Chunk(txn->storage_id + 1, 0));
  txn->chunk_first_seq = txn->written_chunks[k];
  txn->written_chunks.resize(k);
  txn->chunk = std::move(buffer);
  txn->chunk_offsets = std::move(offsets);
  if (txn->written_chunks.empty() && txn->pending_written) {
    batch_.Delete(keys::Pending(txn->storage_id));
    txn->pending_written = false;
  }
  return absl::OkStatus();
}

absl::Status ChangeLogWriter::CutChanges(OpenTransaction* txn, uint64_t cut) {
  txn->tail_lsn = pg::Lsn();
  if (cut < txn->chunk_first_seq) {
    // The cut is inside a written chunk: read it back (the batch first, so the log holds it), keep
    // its changes before the cut in the buffer, and delete it and every chunk after it.
    if (absl::Status s = WriteBatchUnsynced(); !s.ok()) return s;
    const size_t k = WrittenChunkHolding(*txn, cut);
    absl::StatusOr<proto::ChangeChunk> read = ReadWrittenChunk(txn->storage_id, k, "to cut them");
    if (!read.ok()) return read.status();
    const proto::ChangeChunk& chunk = *read;
    batch_.DeleteRange(keys::Chunk(txn->storage_id, k), keys::Chunk(txn->storage_id + 1, 0));
    txn->written_chunks.resize(k);
    txn->chunk.clear();
    txn->chunk_offsets.clear();
    txn->chunk_first_seq = chunk.first_seq();
    for (int i = 0; static_cast<uint64_t>(i) < cut - chunk.first_seq() && i < chunk.changes_size(); ++i) {
      AppendEntry(&txn->chunk, &txn->chunk_offsets, chunk.changes(i).SerializeAsString());
    }
  } else {
    const size_t keep = static_cast<size_t>(cut - txn->chunk_first_seq);
    if (keep < txn->chunk_offsets.size()) {
      txn->chunk.resize(txn->chunk_offsets[keep]);
      txn->chunk_offsets.resize(keep);
    }
  }
  txn->next_seq = cut;
  std::erase_if(txn->xid_runs, [cut](const auto& run) { return run.second >= cut; });
  if (txn->written_chunks.empty() && txn->pending_written) {
    batch_.Delete(keys::Pending(txn->storage_id));
    txn->pending_written = false;
  }
  return absl::OkStatus();
}

absl::Status ChangeLogWriter::DropAbortedSubtransactions(OpenTransaction* txn) {
  if (!aborted_subtransactions_) return absl::OkStatus();
  // A transaction may have very many (a PL/pgSQL loop with an EXCEPTION block makes one each turn).
  std::unordered_set<uint32_t> seen;
  std::vector<uint32_t> subxids;
  for (const auto& [xid, first] : txn->xid_runs) {
    if (xid != txn->xid && seen.insert(xid).second) subxids.push_back(xid);
  }
  if (subxids.empty()) return absl::OkStatus();
  absl::StatusOr<std::vector<uint32_t>> aborted = aborted_subtransactions_(txn->xid, subxids);
  if (!aborted.ok()) return aborted.status();
  if (aborted->empty()) return absl::OkStatus();
  aborted_at_commit_ += aborted->size();
  return RewriteWithout(txn, *aborted);
}

absl::Status ChangeLogWriter::RewriteWithout(OpenTransaction* txn, const std::vector<uint32_t>& aborted) {
  // The kept changes go, in order, under a new storage id; the old one is deleted after. A rare
  // path (the server left out a Stream Abort), so it reads everything back.
  if (absl::Status s = WriteBatchUnsynced(); !s.ok()) return s;
  OpenTransaction old = std::move(*txn);
  OpenTransaction& fresh = *txn;
  fresh = OpenTransaction();
  fresh.xid = old.xid;
  fresh.origin = old.origin;
  fresh.relation_schemas = old.relation_schemas;
  fresh.storage_id = state_.next_storage_id();
  state_.set_next_storage_id(fresh.storage_id + 1);

  size_t run = 0;
  auto xid_of = [&](uint64_t seq) {
    while (run + 1 < old.xid_runs.size() && old.xid_runs[run + 1].second <= seq) ++run;
    return old.xid_runs.empty() ? old.xid : old.xid_runs[run].first;
  };
  const std::unordered_set<uint32_t> aborted_set(aborted.begin(), aborted.end());
  auto is_aborted = [&](uint32_t xid) { return aborted_set.contains(xid); };
  auto mark_at = old.marks.begin();
  auto dropped_at = old.dropped.begin();
  auto ddl_at = old.ddl_seqs.begin();
  auto large_object_at = old.large_objects.begin();
  proto::Change change;
  auto keep = [&](uint64_t seq, std::string_view bytes) -> absl::Status {
    const uint32_t xid = xid_of(seq);
    // Marks and DDL are numbered by the change they came with.
    for (; mark_at != old.marks.end() && mark_at->first <= seq; ++mark_at) {
      if (!is_aborted(xid)) fresh.marks.emplace_back(fresh.next_seq, mark_at->second);
    }
    for (; ddl_at != old.ddl_seqs.end() && *ddl_at <= seq; ++ddl_at) {
      if (!is_aborted(xid)) fresh.ddl_seqs.push_back(fresh.next_seq);
    }
    for (; large_object_at != old.large_objects.end() && large_object_at->first <= seq; ++large_object_at) {
      if (!is_aborted(xid)) fresh.large_objects.emplace_back(fresh.next_seq, large_object_at->second);
    }
    for (; dropped_at != old.dropped.end() && dropped_at->first <= seq; ++dropped_at) {
      if (!is_aborted(xid)) fresh.dropped.emplace_back(fresh.next_seq, dropped_at->second);
    }
    if (is_aborted(xid)) return absl::OkStatus();
    if (!change.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return absl::DataLossError(
          "could not read back a streamed transaction's change to drop an aborted subtransaction");
    }
    if (fresh.xid_runs.empty() || fresh.xid_runs.back().first != xid) fresh.xid_runs.emplace_back(xid, fresh.next_seq);
    if (change.kind() == proto::Change::INSERT || change.kind() == proto::Change::UPDATE ||
        change.kind() == proto::Change::DELETE) {
      ++fresh.rows;
    }
    AppendEntry(&fresh.chunk, &fresh.chunk_offsets, bytes);
    return ChangeAppended(&fresh);
  };
  for (size_t k = 0; k < old.written_chunks.size(); ++k) {
    absl::StatusOr<proto::ChangeChunk> chunk = ReadWrittenChunk(old.storage_id, k, "to drop an aborted subtransaction");
    if (!chunk.ok()) return chunk.status();
    for (int i = 0; i < chunk->changes_size(); ++i) {
      if (absl::Status s = keep(chunk->first_seq() + static_cast<uint64_t>(i), chunk->changes(i).SerializeAsString());
          !s.ok()) {
        return s;
      }
    }
  }
  for (size_t i = 0; i < old.chunk_offsets.size(); ++i) {
    // Each buffered entry is the ChangeChunk.changes tag, the length, then the change.
    std::string_view entry(old.chunk);
    entry = entry.substr(
        old.chunk_offsets[i],
        (i + 1 < old.chunk_offsets.size() ? old.chunk_offsets[i + 1] : old.chunk.size()) - old.chunk_offsets[i]);
    size_t header = 1;
    while (header < entry.size() && (static_cast<uint8_t>(entry[header]) & 0x80) != 0) ++header;
    entry.remove_prefix(std::min(entry.size(), header + 1));
    if (absl::Status s = keep(old.chunk_first_seq + i, entry); !s.ok()) return s;
  }
  Discard(old);
  return absl::OkStatus();
}

absl::Status ChangeLogWriter::ApplyRelation(const RelationMessage& m) {
  proto::RelationSchema schema;
  schema.set_relid(m.relid);
  schema.set_namespace_(m.namespace_name.empty() ? "pg_catalog" : m.namespace_name);
  schema.set_name(m.relation_name);
  schema.set_replica_identity(static_cast<uint8_t>(m.replica_identity));
  for (const RelationColumn& c : m.columns) {
    auto* column = schema.add_columns();
    column->set_name(c.name);
    column->set_type_oid(c.type_oid);
    column->set_type_modifier(c.type_modifier);
    column->set_is_key(c.is_key);
  }
  std::unordered_map<uint32_t, uint32_t>* in_force = &relation_schemas_;
  if (stream_xid_.has_value()) in_force = &streamed_.at(*stream_xid_).relation_schemas;

  uint32_t current_id = 0;
  if (auto it = in_force->find(m.relid); it != in_force->end()) {
    current_id = it->second;
  } else if (auto top = relation_schemas_.find(m.relid); top != relation_schemas_.end()) {
    current_id = top->second;
  }
  if (current_id != 0 && SameSchema(schemas_.at(current_id), schema)) {
    (*in_force)[m.relid] = current_id;
    return absl::OkStatus();
  }
  if (current_id != 0 && state_.last_ddl_lsn() <= schemas_.at(current_id).first_seen_lsn()) {
    state_.set_unproxied_schema_changes(state_.unproxied_schema_changes() + 1);
    state_.set_last_unproxied_relation(schema.namespace_() + "." + schema.name());
    state_.set_last_unproxied_lsn(pending_through_.value());
  }
  const uint32_t id = state_.next_schema_id();
  state_.set_next_schema_id(id + 1);
  schema.set_schema_id(id);
  schema.set_first_seen_lsn(pending_through_.value());
  batch_.Put(keys::Schema(id), keys::Serialize(schema));
  schemas_[id] = std::move(schema);
  (*in_force)[m.relid] = id;
  return absl::OkStatus();
}

absl::Status ChangeLogWriter::CommitTransaction(OpenTransaction* txn, pg::Lsn commit_lsn, pg::Lsn end_lsn,
                                                pg::PgTime commit_time) {
  if (txn->skip || commit_lsn <= pg::Lsn(state_.last_commit_lsn())) {
    Discard(*txn);
  } else {
    WriteChunk(txn, /*at_commit=*/true);
    proto::Transaction record;
    record.set_xid(txn->xid);
    record.set_commit_lsn(commit_lsn.value());
    record.set_end_lsn(end_lsn.value());
    record.set_commit_time(commit_time);
    record.set_storage_id(txn->storage_id);
    record.set_change_count(txn->next_seq);
    record.set_row_count(txn->rows);
    record.set_origin(txn->origin);
    record.set_prev_commit_lsn(state_.last_commit_lsn());  // the continuity chain verify checks
    for (const auto& [seq, relid] : txn->dropped) record.add_dropped_relids(relid);
    batch_.Put(keys::Transaction(commit_lsn), keys::Serialize(record));
    // The first commit starts the maximum: max_commit_time's 0 is not a commit time.
    const pg::PgTime running_max =
        state_.transactions() == 0 ? commit_time : std::max(state_.max_commit_time(), commit_time);
    state_.set_max_commit_time(running_max);
    batch_.Put(keys::TimeIndex(running_max, commit_lsn), "");
    if (txn->pending_written) batch_.Delete(keys::Pending(txn->storage_id));
    if (!txn->ddl_seqs.empty()) state_.set_last_ddl_lsn(commit_lsn.value());
    NoteLargeObjectsOf(*txn, commit_lsn, commit_time);
    for (const auto& seq_and_name : txn->marks) {
      const std::string& name = seq_and_name.second;
      proto::Mark mark;
      mark.set_name(name);
      mark.set_commit_lsn(commit_lsn.value());
      mark.set_commit_time(commit_time);
      batch_.Put(keys::Mark(name), keys::Serialize(mark));
    }
    state_.set_last_commit_lsn(commit_lsn.value());
    state_.set_transactions(state_.transactions() + 1);
    state_.set_rows(state_.rows() + txn->rows);
  }
  AdvanceTo(end_lsn, commit_time);
  return absl::OkStatus();
}

void ChangeLogWriter::Discard(const OpenTransaction& txn) {
  if (!txn.written_chunks.empty()) {
    batch_.DeleteRange(keys::Chunk(txn.storage_id, 0), keys::Chunk(txn.storage_id + 1, 0));
  }
  if (txn.pending_written) batch_.Delete(keys::Pending(txn.storage_id));
}

absl::Status ChangeLogWriter::Apply(const PgoutputMessage& message, pg::Lsn at) {
  return std::visit(
      [&](const auto& m) -> absl::Status {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, BeginMessage>) {
          if (current_.has_value() || stream_xid_.has_value()) {
            return absl::DataLossError("replication stream sent Begin inside an open transaction");
          }
          OpenTransaction txn;
          txn.xid = m.xid;
          txn.final_lsn = m.final_lsn;
          txn.commit_time = m.commit_time;
          txn.skip = m.final_lsn <= pg::Lsn(state_.last_commit_lsn());
          if (!txn.skip) {
            txn.storage_id = state_.next_storage_id();
            state_.set_next_storage_id(txn.storage_id + 1);
          }
          current_ = std::move(txn);
          return absl::OkStatus();
        } else if constexpr (std::is_same_v<M, CommitMessage>) {
          if (!current_.has_value()) {
            return absl::DataLossError("replication stream sent Commit outside a transaction");
          }
          if (m.commit_lsn != current_->final_lsn) {
            return absl::DataLossError(
                fmt::format("replication stream sent Commit at {} for the transaction that began for {}",
                            m.commit_lsn.ToString(), current_->final_lsn.ToString()));
          }
          absl::Status s = CommitTransaction(&*current_, m.commit_lsn, m.end_lsn, m.commit_time);
          current_.reset();
          return s;
        } else if constexpr (std::is_same_v<M, OriginMessage>) {
          absl::StatusOr<OpenTransaction*> txn = TransactionFor(std::nullopt, "Origin");
          if (!txn.ok()) return txn.status();
          (*txn)->origin = m.name;
          return absl::OkStatus();
        } else if constexpr (std::is_same_v<M, RelationMessage>) {
          return ApplyRelation(m);
        } else if constexpr (std::is_same_v<M, TypeMessage>) {
          proto::TypeInfo type;
          type.set_oid(m.type_oid);
          type.set_namespace_(m.namespace_name);
          type.set_name(m.type_name);
          batch_.Put(keys::Type(m.type_oid), keys::Serialize(type));
          return absl::OkStatus();
        } else if constexpr (std::is_same_v<M, InsertMessage>) {
          absl::StatusOr<OpenTransaction*> txn = TransactionFor(m.xid, "Insert");
          if (!txn.ok()) return txn.status();
          NoteRecord(*txn, at);
          absl::StatusOr<uint32_t> schema = SchemaFor(**txn, m.relid);
          if (!schema.ok()) return schema.status();
          return AppendRow(*txn, m.xid, proto::Change::INSERT, *schema, &m.new_tuple, proto::Change::NONE, nullptr);
        } else if constexpr (std::is_same_v<M, UpdateMessage>) {
          absl::StatusOr<OpenTransaction*> txn = TransactionFor(m.xid, "Update");
          if (!txn.ok()) return txn.status();
          NoteRecord(*txn, at);
          absl::StatusOr<uint32_t> schema = SchemaFor(**txn, m.relid);
          if (!schema.ok()) return schema.status();
          return AppendRow(*txn, m.xid, proto::Change::UPDATE, *schema, &m.new_tuple, OldKindOf(m.old_kind),
                           m.old_kind != '\0' ? &m.old_tuple : nullptr);
        } else if constexpr (std::is_same_v<M, DeleteMessage>) {
          absl::StatusOr<OpenTransaction*> txn = TransactionFor(m.xid, "Delete");
          if (!txn.ok()) return txn.status();
          NoteRecord(*txn, at);
          absl::StatusOr<uint32_t> schema = SchemaFor(**txn, m.relid);
          if (!schema.ok()) return schema.status();
          return AppendRow(*txn, m.xid, proto::Change::DELETE, *schema, nullptr, OldKindOf(m.old_kind), &m.old_tuple);
        } else if constexpr (std::is_same_v<M, TruncateMessage>) {
          absl::StatusOr<OpenTransaction*> txn = TransactionFor(m.xid, "Truncate");
          if (!txn.ok()) return txn.status();
          NoteRecord(*txn, at);
          proto::Change change;
          change.set_kind(proto::Change::TRUNCATE);
          change.set_truncate_options(m.options);
          for (uint32_t relid : m.relids) {
            absl::StatusOr<uint32_t> schema = SchemaFor(**txn, relid);
            if (!schema.ok()) return schema.status();
            change.add_truncated_schema_ids(*schema);
          }
          return AppendChange(*txn, m.xid, change);
        } else if constexpr (std::is_same_v<M, LogicalMessage>) {
          // Non-transactional messages belong to no transaction and cannot be replayed in order;
          // pgpitr emits none itself.
          if (!m.transactional) return absl::OkStatus();
          absl::StatusOr<OpenTransaction*> txn = TransactionFor(m.xid, "Message");
          if (!txn.ok()) return txn.status();
          OpenTransaction* t = *txn;
          proto::Change change;
          change.set_kind(proto::Change::MESSAGE);
          change.set_message_prefix(m.prefix);
          change.set_message_content(m.content);
          change.set_message_lsn(m.lsn.value());
          // Changes sent before it from the record that starts where it ends come after it.
          const bool before_tail = t->tail_lsn.IsValid() && t->tail_lsn == m.lsn && t->tail_seq < t->next_seq;
          const uint64_t seq = before_tail ? t->tail_seq : t->next_seq;
          if (before_tail) {
            if (absl::Status s = InsertChangeAt(t, seq, m.xid, change); !s.ok()) return s;
          }
          // Kept in change order.
          auto place = [seq](auto* list, auto entry) {
            auto it = std::upper_bound(list->begin(), list->end(), seq, [](uint64_t s, const auto& e) {
              if constexpr (std::is_same_v<std::decay_t<decltype(e)>, uint64_t>) {
                return s < e;
              } else {
                return s < e.first;
              }
            });
            list->insert(it, std::move(entry));
          };
          if (m.prefix == pg::kMarkMessagePrefix) place(&t->marks, std::make_pair(seq, m.content));
          if (pg::IsSchemaChangeMessage(m.prefix)) place(&t->ddl_seqs, seq);
          if (pg::IsSchemaChangeMessage(m.prefix)) {
            if (std::optional<bool> some = LargeObjectsAfter(m.prefix, m.content)) {
              LargeObjectReading reading;
              reading.kind = *some ? LargeObjectReading::Kind::kSome : LargeObjectReading::Kind::kNoneAfter;
              place(&t->large_objects, std::make_pair(seq, reading));
            }
          }
          if (m.prefix == pg::kLargeObjectsMessagePrefix) {
            if (std::optional<LargeObjectReading> reading = ParseLargeObjectReading(m.content)) {
              reading->message_lsn = m.lsn;
              place(&t->large_objects, std::make_pair(seq, *reading));
            }
          }
          if (m.prefix == pg::kDdlEventMessagePrefix) {
            for (uint32_t relid : DroppedRelations(m.content)) place(&t->dropped, std::make_pair(seq, relid));
          }
          if (before_tail) return absl::OkStatus();
          return AppendChange(t, m.xid, change);
        } else if constexpr (std::is_same_v<M, StreamStartMessage>) {
          if (current_.has_value() || stream_xid_.has_value()) {
            return absl::DataLossError("replication stream sent Stream Start inside a transaction");
          }
          auto [it, inserted] = streamed_.try_emplace(m.xid);
          if (inserted) {
            it->second.xid = m.xid;
            it->second.storage_id = state_.next_storage_id();
            state_.set_next_storage_id(it->second.storage_id + 1);
          }
          stream_xid_ = m.xid;
          return absl::OkStatus();
        } else if constexpr (std::is_same_v<M, StreamStopMessage>) {
          stream_xid_.reset();
          return absl::OkStatus();
        } else if constexpr (std::is_same_v<M, StreamCommitMessage>) {
          auto it = streamed_.find(m.xid);
          if (it == streamed_.end()) {
            // Nothing was streamed for it since capture started: an empty transaction.
            OpenTransaction empty;
            empty.xid = m.xid;
            empty.storage_id = state_.next_storage_id();
            state_.set_next_storage_id(empty.storage_id + 1);
            return CommitTransaction(&empty, m.commit_lsn, m.end_lsn, m.commit_time);
          }
          if (m.commit_lsn > pg::Lsn(state_.last_commit_lsn())) {
            if (absl::Status s = DropAbortedSubtransactions(&it->second); !s.ok()) return s;
          }
          absl::Status s = CommitTransaction(&it->second, m.commit_lsn, m.end_lsn, m.commit_time);
          // Schemas sent within the transaction are now in force for everyone (as pgoutput assumes).
          for (const auto& [relid, id] : it->second.relation_schemas) relation_schemas_[relid] = id;
          streamed_.erase(it);
          return s;
        } else if constexpr (std::is_same_v<M, StreamAbortMessage>) {
          auto it = streamed_.find(m.xid);
          if (it == streamed_.end()) return absl::OkStatus();
          OpenTransaction& txn = it->second;
          if (m.subxid == m.xid) {
            Discard(txn);
            streamed_.erase(it);
            return absl::OkStatus();
          }
          auto sub = txn.subxact_first_seq.find(m.subxid);
          if (sub == txn.subxact_first_seq.end()) return absl::OkStatus();
          // A subtransaction's changes, and those of any subtransaction nested in it, are everything
          // streamed since its first change: execution within one transaction is sequential.
          const uint64_t cut = sub->second.seq;
          txn.rows = sub->second.rows;
          if (absl::Status s = CutChanges(&txn, cut); !s.ok()) return s;
          std::erase_if(txn.marks, [cut](const auto& mark) { return mark.first >= cut; });
          std::erase_if(txn.ddl_seqs, [cut](uint64_t seq) { return seq >= cut; });
          std::erase_if(txn.large_objects, [cut](const auto& reading) { return reading.first >= cut; });
          std::erase_if(txn.dropped, [cut](const auto& dropped) { return dropped.first >= cut; });
          for (auto s = txn.subxact_first_seq.begin(); s != txn.subxact_first_seq.end();) {
            s = s->second.seq >= cut ? txn.subxact_first_seq.erase(s) : std::next(s);
          }
          return absl::OkStatus();
        }
      },
      message);
}

}  // namespace pgpitr::wal
