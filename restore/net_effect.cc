#include "restore/net_effect.h"

#include <cstring>

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "restore/copy_text.h"
#include "wal/pg_connection.h"

namespace pgpitr::restore {

namespace {

void AppendU32(std::string* out, uint32_t n) { out->append(reinterpret_cast<const char*>(&n), sizeof n); }
uint32_t ReadU32(const char* at) {
  uint32_t n = 0;
  std::memcpy(&n, at, sizeof n);
  return n;
}

bool HasUnchangedToast(const proto::Tuple& tuple) {
  for (const proto::Value& v : tuple.values()) {
    if (v.kind() == proto::Value::UNCHANGED_TOAST) return true;
  }
  return false;
}

// Walks an image (see NetEffect::State): visit(column, tag, value) for each column.
template <typename Visit>
void ForEachImageCell(const std::string& image, Visit visit) {
  size_t at = 0;
  for (int column = 0; at < image.size(); ++column) {
    const char tag = image[at++];
    std::string_view value;
    if (tag == 'v') {
      const uint32_t n = ReadU32(image.data() + at);
      at += sizeof n;
      value = std::string_view(image.data() + at, n);
      at += n;
    }
    visit(column, tag, value);
  }
}

// Frees a string's buffer (assigning an empty string would keep it).
void Release(std::string& s) { std::string().swap(s); }

void AppendImageCell(std::string* image, char tag, std::string_view value) {
  *image += tag;
  if (tag != 'v') return;
  AppendU32(image, static_cast<uint32_t>(value.size()));
  image->append(value);
}

}  // namespace

bool NetEffect::Row::HasUnknown() const {
  for (const Cell& c : cells) {
    if (c.kind == Cell::Kind::kUnknown) return true;
  }
  return false;
}

NetEffect::NetEffect(const proto::RelationSchema& schema) : schema_(schema) {
  for (int i = 0; i < schema_.columns_size(); ++i) {
    if (schema_.columns(i).is_key()) key_columns_.push_back(i);
  }
}

std::string NetEffect::TableName() const {
  return wal::QuoteIdent(schema_.namespace_()) + "." + wal::QuoteIdent(schema_.name());
}

absl::Status NetEffect::EncodeKey(const proto::Tuple& tuple, std::string* key) const {
  key->clear();
  for (int i : key_columns_) {
    const proto::Value& v = tuple.values(i);
    if (v.kind() != proto::Value::TEXT) {
      return absl::UnimplementedError(
          fmt::format("a change to {} carries its key column {} as {}, which replay cannot match rows on", TableName(),
                      wal::QuoteIdent(schema_.columns(i).name()),
                      v.kind() == proto::Value::NULL_    ? "NULL"
                      : v.kind() == proto::Value::BINARY ? "binary"
                                                         : "an unchanged TOASTed value"));
    }
    AppendU32(key, static_cast<uint32_t>(v.data().size()));
    key->append(v.data());
  }
  return absl::OkStatus();
}

std::vector<std::string> NetEffect::DecodeKey(const std::string& key) const {
  std::vector<std::string> values;
  size_t at = 0;
  while (at + sizeof(uint32_t) <= key.size()) {
    const uint32_t n = ReadU32(key.data() + at);
    at += sizeof n;
    values.push_back(key.substr(at, n));
    at += n;
  }
  return values;
}

NetEffect::State& NetEffect::Find(const std::string& key, bool* fresh) {
  auto [it, inserted] = rows_.try_emplace(key);
  *fresh = inserted;
  return it->second;
}

uint64_t NetEffect::SizeOf(const std::string& key, const State& state) const {
  // The hash node (its key and state), its bucket, and what the strings hold outside it.
  constexpr uint64_t kNode = sizeof(std::pair<const std::string, State>) + 32;
  auto outside = [](const std::string& s) -> uint64_t { return s.capacity() > 15 ? s.capacity() + 1 : 0; };
  return kNode + outside(key) + outside(state.image) + outside(state.origin);
}

void NetEffect::SetImage(State& state, const proto::Tuple& tuple, bool merge_unchanged) {
  scratch_.clear();
  bool unknown = false;
  auto append = [&](const proto::Value& v) {
    switch (v.kind()) {
      case proto::Value::NULL_:
        AppendImageCell(&scratch_, 'n', {});
        break;
      case proto::Value::UNCHANGED_TOAST:
        AppendImageCell(&scratch_, 'u', {});
        unknown = true;
        break;
      default:
        AppendImageCell(&scratch_, 'v', v.data());
    }
  };
  if (!merge_unchanged || !HasUnchangedToast(tuple)) {
    for (const proto::Value& v : tuple.values()) append(v);
  } else {
    // Values sent as unchanged keep what the run knew of them (or stay unknown).
    ForEachImageCell(state.image, [&](int column, char tag, std::string_view value) {
      const proto::Value& v = tuple.values(column);
      if (v.kind() != proto::Value::UNCHANGED_TOAST) {
        append(v);
      } else {
        AppendImageCell(&scratch_, tag, value);
        unknown = unknown || tag == 'u';
      }
    });
  }
  state.image.assign(scratch_);
  state.unknown = unknown;
}

std::vector<Cell> NetEffect::Cells(const std::string& image) const {
  std::vector<Cell> cells;
  cells.reserve(schema_.columns_size());
  ForEachImageCell(image, [&](int, char tag, std::string_view value) {
    cells.push_back(Cell{tag == 'v'   ? Cell::Kind::kText
                         : tag == 'n' ? Cell::Kind::kNull
                                      : Cell::Kind::kUnknown,
                         std::string(value)});
  });
  return cells;
}

absl::Status NetEffect::Add(const proto::Change& change) {
  // Only the errors name the table: Add runs once per row change.
  if (key_columns_.empty()) {
    return absl::FailedPreconditionError(
        fmt::format("{} has no replica identity key to collapse changes by", TableName()));
  }
  const int ncolumns = schema_.columns_size();
  if ((change.kind() != proto::Change::DELETE && change.new_tuple().values_size() != ncolumns) ||
      (change.old_kind() != proto::Change::NONE && change.old_tuple().values_size() != ncolumns)) {
    return absl::DataLossError(
        fmt::format("a change to {} has a different number of columns than its schema", TableName()));
  }
  if (change.old_kind() == proto::Change::FULL_ROW) {
    return absl::FailedPreconditionError(fmt::format(
        "a change to {} carries a full old row, which only REPLICA IDENTITY FULL tables send", TableName()));
  }
  auto contradiction = [&](const char* what) {
    return absl::DataLossError(fmt::format(
        "{} on {}: the change log contradicts itself or the restore target (was the target changed during the "
        "restore?)",
        what, TableName()));
  };
  std::string key;
  bool fresh = false;
  switch (change.kind()) {
    case proto::Change::INSERT: {
      if (absl::Status s = EncodeKey(change.new_tuple(), &key); !s.ok()) return s;
      if (HasUnchangedToast(change.new_tuple())) return contradiction("an INSERT with an unchanged TOASTed value");
      State& state = Find(key, &fresh);
      if (state.present) return contradiction("an INSERT of a key that already holds a row");
      bytes_ -= fresh ? 0 : SizeOf(key, state);
      state.present = true;
      state.origin.clear();
      SetImage(state, change.new_tuple(), /*merge_unchanged=*/false);
      bytes_ += SizeOf(key, state);
      return absl::OkStatus();
    }
    case proto::Change::UPDATE: {
      const proto::Tuple& old_tuple = change.old_kind() == proto::Change::KEY ? change.old_tuple() : change.new_tuple();
      if (absl::Status s = EncodeKey(old_tuple, &key); !s.ok()) return s;
      std::string new_key;
      if (change.old_kind() != proto::Change::KEY) {
        new_key = key;  // the same tuple: the key did not change
      } else if (absl::Status s = EncodeKey(change.new_tuple(), &new_key); !s.ok()) {
        return s;
      }
      State& from = Find(key, &fresh);
      if (fresh) {
        // First seen here: the target holds this row, with values the run does not know yet
        // (unless this change gives every one).
        from.existed = true;
        from.present = true;
        SetImage(from, change.new_tuple(), /*merge_unchanged=*/false);
        if (from.unknown) from.origin = key;
      } else {
        if (!from.present) return contradiction("an UPDATE of a key that holds no row");
        bytes_ -= SizeOf(key, from);
        SetImage(from, change.new_tuple(), /*merge_unchanged=*/true);
        if (!from.unknown) from.origin.clear();
      }
      if (new_key == key) {
        bytes_ += SizeOf(key, from);
        return absl::OkStatus();
      }
      std::string image = std::move(from.image);
      std::string origin = std::move(from.origin);
      const bool unknown = from.unknown;
      from.present = false;
      from.unknown = false;
      Release(from.image);
      Release(from.origin);
      bytes_ += SizeOf(key, from);
      State& to = Find(new_key, &fresh);
      if (to.present) return contradiction("an UPDATE to a key that already holds a row");
      bytes_ -= fresh ? 0 : SizeOf(new_key, to);
      to.present = true;
      to.image = std::move(image);
      to.origin = std::move(origin);
      to.unknown = unknown;
      bytes_ += SizeOf(new_key, to);
      return absl::OkStatus();
    }
    case proto::Change::DELETE: {
      if (change.old_kind() != proto::Change::KEY) return contradiction("a DELETE without its key");
      if (absl::Status s = EncodeKey(change.old_tuple(), &key); !s.ok()) return s;
      State& state = Find(key, &fresh);
      if (fresh) {
        state.existed = true;
        state.present = true;
      }
      if (!state.present) return contradiction("a DELETE of a key that holds no row");
      bytes_ -= fresh ? 0 : SizeOf(key, state);
      state.present = false;
      state.unknown = false;
      Release(state.image);
      Release(state.origin);
      bytes_ += SizeOf(key, state);
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError("NetEffect takes INSERT, UPDATE and DELETE only");
  }
}

NetEffect::Result NetEffect::Take() {
  Result result;
  for (auto& [key, state] : rows_) {
    Row row;
    if (state.present) {
      row.cells = Cells(state.image);
      if (state.unknown) row.origin_key = DecodeKey(state.origin);
    }
    if (state.existed && state.present && !state.unknown) {
      result.updated.push_back(std::move(row));
      continue;
    }
    if (state.existed) result.deleted_keys.push_back(DecodeKey(key));
    if (state.present) result.rows.push_back(std::move(row));
  }
  rows_.clear();
  bytes_ = 0;
  return result;
}

// --- merging into the base's rows

absl::Status NetEffect::BeginMerge(const std::vector<std::string>& columns) {
  const int ncolumns = schema_.columns_size();
  base_position_.assign(ncolumns, -1);
  if (static_cast<int>(columns.size()) != ncolumns) {
    return absl::FailedPreconditionError(fmt::format("the base's rows of {} have {} columns, the change log's {}",
                                                     TableName(), columns.size(), ncolumns));
  }
  for (int i = 0; i < ncolumns; ++i) {
    for (size_t p = 0; p < columns.size(); ++p) {
      if (columns[p] == schema_.columns(i).name()) base_position_[i] = static_cast<int>(p);
    }
    if (base_position_[i] < 0) {
      return absl::FailedPreconditionError(fmt::format("the base's rows of {} have no column {}", TableName(),
                                                       wal::QuoteIdent(schema_.columns(i).name())));
    }
  }
  last_key_position_ = 0;
  for (int k : key_columns_) last_key_position_ = std::max(last_key_position_, static_cast<size_t>(base_position_[k]));
  origins_.clear();
  for (const auto& [key, state] : rows_) {
    if (state.present && state.unknown) origins_[state.origin].push_back(key);
  }
  return absl::OkStatus();
}

void NetEffect::AppendMergedRow(const State& state, std::string* out) {
  ++merged_rows_;
  // The image is in schema order; the line is in the base's.
  std::vector<std::pair<char, std::string_view>> cells(schema_.columns_size());
  ForEachImageCell(state.image, [&](int column, char tag, std::string_view value) {
    cells[base_position_[column]] = {tag, value};
  });
  for (size_t p = 0; p < cells.size(); ++p) {
    if (p) *out += '\t';
    if (cells[p].first == 'v') {
      AppendCopyField(out, cells[p].second);
    } else {
      *out += kCopyNull;
    }
  }
  *out += '\n';
}

absl::Status NetEffect::MergeBaseRow(std::string_view line, std::string* out) {
  // The key's fields, found without splitting the whole line.
  std::string& key = merge_key_;
  key.clear();
  size_t field_start = 0;
  size_t position = 0;
  std::vector<std::string_view>& fields = merge_fields_;  // up to the last key column
  fields.clear();
  while (position <= last_key_position_) {
    const size_t tab = line.find('\t', field_start);
    fields.push_back(
        line.substr(field_start, tab == std::string_view::npos ? std::string_view::npos : tab - field_start));
    if (tab == std::string_view::npos) break;
    field_start = tab + 1;
    ++position;
  }
  if (fields.size() <= last_key_position_) {
    return absl::DataLossError(fmt::format("a row of {} in the base has too few columns", TableName()));
  }
  for (int k : key_columns_) {
    const std::string_view raw = fields[base_position_[k]];
    if (raw.find('\\') == std::string_view::npos) {
      AppendU32(&key, static_cast<uint32_t>(raw.size()));
      key.append(raw);
      continue;
    }
    const std::optional<std::string> value = UnescapeCopyField(raw);
    if (!value) {  // a NULL key: no change of the run names it
      out->append(line);
      *out += '\n';
      return absl::OkStatus();
    }
    AppendU32(&key, static_cast<uint32_t>(value->size()));
    key.append(*value);
  }
  auto it = rows_.find(key);
  if (it == rows_.end()) {
    out->append(line);
    *out += '\n';
    return absl::OkStatus();
  }
  State& state = it->second;
  auto disagree = [&](const char* what) {
    return absl::DataLossError(fmt::format(
        "the base's rows of {} do not match the change log: {} (key {}); restore from another base, or run 'pgpitr "
        "verify'",
        TableName(), what, fmt::join(DecodeKey(it->first), ", ")));
  };
  if (state.in_base) return disagree("the base holds the key twice");
  state.in_base = true;
  if (!state.existed) return disagree("the change log inserts a row the base already holds");
  // This base row holds values that rows of the run never saw: fill them in.
  if (auto needed = origins_.find(it->first); needed != origins_.end()) {
    CopyFields all;
    SplitCopyLine(line, &all);
    for (const std::string& dependent : needed->second) {
      State& d = rows_.at(dependent);
      const uint64_t before = SizeOf(dependent, d);
      scratch_.clear();
      ForEachImageCell(d.image, [&](int column, char tag, std::string_view value) {
        if (tag != 'u') {
          AppendImageCell(&scratch_, tag, value);
          return;
        }
        const std::optional<std::string> base_value = static_cast<size_t>(base_position_[column]) < all.raw.size()
                                                          ? UnescapeCopyField(all.raw[base_position_[column]])
                                                          : std::nullopt;
        AppendImageCell(&scratch_, base_value ? 'v' : 'n', base_value ? std::string_view(*base_value) : "");
      });
      d.image.assign(scratch_);
      d.unknown = false;
      d.origin.clear();
      bytes_ = bytes_ - before + SizeOf(dependent, d);
    }
    origins_.erase(needed);
  }
  if (state.present && !state.unknown) {
    AppendMergedRow(state, out);
    state.emitted = true;
  }
  return absl::OkStatus();
}

absl::Status NetEffect::EndMerge(std::string* out) {
  for (auto& [key, state] : rows_) {
    if (state.existed && !state.in_base) {
      return absl::DataLossError(fmt::format(
          "the base's rows of {} do not match the change log: it changes a row the base does not hold (key {}); "
          "restore from another base, or run 'pgpitr verify'",
          TableName(), fmt::join(DecodeKey(key), ", ")));
    }
    if (!state.present || state.emitted) continue;
    if (state.unknown) {
      return absl::DataLossError(fmt::format(
          "the base's rows of {} do not match the change log: the row its key {} came from is not in the base",
          TableName(), fmt::join(DecodeKey(key), ", ")));
    }
    AppendMergedRow(state, out);
    state.emitted = true;
  }
  rows_.clear();
  origins_.clear();
  bytes_ = 0;
  return absl::OkStatus();
}

}  // namespace pgpitr::restore
