#include "restore/net_effect.h"

#include <cstring>

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "pg/connection.h"
#include "restore/copy_text.h"

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
void ForEachImageCell(std::string_view image, Visit visit) {
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

// --- storage

namespace {
// The arena grows in blocks from 16 KiB, doubling up to 1 MiB.
constexpr size_t kFirstBlock = 16 << 10;
constexpr size_t kLargestBlock = 1 << 20;
constexpr size_t kIndexSlotBytes = sizeof(uint32_t) + 1;  // a slot and its control byte
size_t Rounded(size_t n) { return (n + 7) & ~size_t{7}; }
}  // namespace

size_t NetEffect::EntryHash::operator()(uint32_t i) const { return (*this)(net->Key(net->entries_[i])); }
size_t NetEffect::EntryHash::operator()(std::string_view key) const { return absl::Hash<std::string_view>()(key); }
bool NetEffect::EntryEq::operator()(uint32_t a, std::string_view b) const { return net->Key(net->entries_[a]) == b; }

NetEffect::NetEffect(const proto::RelationSchema& schema) : schema_(schema), index_(0, EntryHash{this}, EntryEq{this}) {
  for (int i = 0; i < schema_.columns_size(); ++i) {
    if (schema_.columns(i).is_key()) key_columns_.push_back(i);
  }
}

std::string NetEffect::TableName() const {
  return pg::QuoteIdent(schema_.namespace_()) + "." + pg::QuoteIdent(schema_.name());
}

char* NetEffect::Allocate(size_t n) {
  n = Rounded(n);
  if (n > block_left_) {
    const size_t size = std::max(n, std::min(kLargestBlock, blocks_.empty() ? kFirstBlock : 2 * last_block_));
    blocks_.emplace_back(new char[size]);
    last_block_ = size;
    block_next_ = blocks_.back().get();
    block_left_ = size;
    arena_bytes_ += size;
  }
  char* at = block_next_;
  block_next_ += n;
  block_left_ -= n;
  live_bytes_ += n;
  return at;
}

uint32_t NetEffect::Find(std::string_view key, bool* fresh) {
  auto it = index_.find(key);
  if (it != index_.end()) {
    *fresh = false;
    return *it;
  }
  *fresh = true;
  Entry e;
  e.key_size = static_cast<uint32_t>(key.size());
  e.bytes = Allocate(key.size());
  std::memcpy(e.bytes, key.data(), key.size());
  const uint32_t index = static_cast<uint32_t>(entries_.size());
  entries_.push_back(e);
  index_.insert(index);
  return index;
}

void NetEffect::SetImage(uint32_t entry, std::string_view image) {
  Entry& e = entries_[entry];
  if (image.size() > e.room) {
    // Room for the image (exactly the first time: most rows never grow; with some to spare after).
    const size_t room = e.room == 0 ? image.size() : image.size() + image.size() / 8;
    const size_t had = Rounded(e.key_size + e.room);
    const size_t needs = Rounded(e.key_size + room);
    if (e.bytes + had == block_next_ && needs - had <= block_left_) {
      // The arena's last allocation (a key just found): it grows where it is.
      block_next_ += needs - had;
      block_left_ -= needs - had;
      live_bytes_ += needs - had;
    } else {
      // The key moves with the image; the old place is garbage until the next compaction.
      char* bytes = Allocate(e.key_size + room);
      live_bytes_ -= had;
      std::memcpy(bytes, e.bytes, e.key_size);
      e.bytes = bytes;
    }
    e.room = static_cast<uint32_t>(needs - e.key_size);
  }
  std::memcpy(e.bytes + e.key_size, image.data(), image.size());
  e.image_size = static_cast<uint32_t>(image.size());
  e.flags |= kPresent;
}

void NetEffect::ClearImage(uint32_t entry) {
  Entry& e = entries_[entry];
  e.image_size = 0;
  e.flags &= static_cast<uint8_t>(~(kPresent | kUnknown));
  origins_.erase(entry);
  // The image's room is garbage now: a compaction keeps only the key.
  live_bytes_ -= Rounded(e.key_size + e.room) - Rounded(e.key_size);
  e.room = static_cast<uint32_t>(Rounded(e.key_size) - e.key_size);
}

void NetEffect::Compact() {
  EntryList entries;
  std::unordered_map<uint32_t, std::string> origins;
  std::vector<std::unique_ptr<char[]>> old_blocks = std::move(blocks_);
  ResetArena();
  for (uint32_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    // A key inserted and deleted in this run holds nothing: forgotten.
    if (e.flags == 0) continue;
    Entry moved = e;
    moved.room = e.image_size;
    moved.bytes = Allocate(e.key_size + e.image_size);
    moved.room = static_cast<uint32_t>(Rounded(e.key_size + e.image_size) - e.key_size);
    std::memcpy(moved.bytes, e.bytes, e.key_size + e.image_size);
    if (auto it = origins_.find(i); it != origins_.end()) {
      origins[static_cast<uint32_t>(entries.size())] = std::move(it->second);
    }
    entries.push_back(moved);
  }
  entries_ = std::move(entries);
  origins_ = std::move(origins);
  index_ = decltype(index_)(entries_.size(), EntryHash{this}, EntryEq{this});
  for (uint32_t i = 0; i < entries_.size(); ++i) index_.insert(i);
}

void NetEffect::Reset() {
  entries_ = EntryList();
  index_ = decltype(index_)(0, EntryHash{this}, EntryEq{this});
  origins_.clear();
  ResetArena();
  bytes_ = 0;
  waiting_for_origin_.clear();
}

void NetEffect::ResetArena() {
  blocks_.clear();
  block_next_ = nullptr;
  block_left_ = 0;
  last_block_ = 0;
  arena_bytes_ = 0;
  live_bytes_ = 0;
}

absl::Status NetEffect::EncodeKey(const proto::Tuple& tuple, std::string* key) const {
  key->clear();
  for (int i : key_columns_) {
    const proto::Value& v = tuple.values(i);
    if (v.kind() != proto::Value::TEXT) {
      return absl::UnimplementedError(
          fmt::format("a change to {} carries its key column {} as {}, which replay cannot match rows on", TableName(),
                      pg::QuoteIdent(schema_.columns(i).name()),
                      v.kind() == proto::Value::NULL_    ? "NULL"
                      : v.kind() == proto::Value::BINARY ? "binary"
                                                         : "an unchanged TOASTed value"));
    }
    AppendU32(key, static_cast<uint32_t>(v.data().size()));
    key->append(v.data());
  }
  return absl::OkStatus();
}

std::vector<std::string> NetEffect::DecodeKey(std::string_view key) const {
  std::vector<std::string> values;
  size_t at = 0;
  while (at + sizeof(uint32_t) <= key.size()) {
    const uint32_t n = ReadU32(key.data() + at);
    at += sizeof n;
    values.emplace_back(key.substr(at, n));
    at += n;
  }
  return values;
}

bool NetEffect::BuildImage(const proto::Tuple& tuple, std::string_view old) {
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
  if (old.empty() || !HasUnchangedToast(tuple)) {
    for (const proto::Value& v : tuple.values()) append(v);
    return unknown;
  }
  // Values sent as unchanged keep what the run knew of them (or stay unknown).
  ForEachImageCell(old, [&](int column, char tag, std::string_view value) {
    const proto::Value& v = tuple.values(column);
    if (v.kind() != proto::Value::UNCHANGED_TOAST) {
      append(v);
    } else {
      AppendImageCell(&scratch_, tag, value);
      unknown = unknown || tag == 'u';
    }
  });
  return unknown;
}

std::vector<Cell> NetEffect::Cells(std::string_view image) const {
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

// --- the run

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
  bool fresh = false;
  absl::Status result = absl::OkStatus();
  switch (change.kind()) {
    case proto::Change::INSERT: {
      if (absl::Status s = EncodeKey(change.new_tuple(), &key_); !s.ok()) return s;
      if (HasUnchangedToast(change.new_tuple())) return contradiction("an INSERT with an unchanged TOASTed value");
      const uint32_t e = Find(key_, &fresh);
      if (Has(entries_[e], kPresent)) return contradiction("an INSERT of a key that already holds a row");
      BuildImage(change.new_tuple(), {});
      SetImage(e, scratch_);
      break;
    }
    case proto::Change::UPDATE: {
      const proto::Tuple& old_tuple = change.old_kind() == proto::Change::KEY ? change.old_tuple() : change.new_tuple();
      if (absl::Status s = EncodeKey(old_tuple, &key_); !s.ok()) return s;
      const uint32_t from = Find(key_, &fresh);
      if (fresh) {
        // First seen here: the target holds this row, with values the run does not know yet
        // (unless this change gives every one).
        entries_[from].flags |= kExisted | kPresent;
        if (BuildImage(change.new_tuple(), {})) {
          entries_[from].flags |= kUnknown;
          origins_[from] = key_;
        }
        SetImage(from, scratch_);
      } else {
        if (!Has(entries_[from], kPresent)) return contradiction("an UPDATE of a key that holds no row");
        const bool unknown = BuildImage(change.new_tuple(), Image(entries_[from]));
        SetImage(from, scratch_);
        if (!unknown && Has(entries_[from], kUnknown)) {
          entries_[from].flags &= static_cast<uint8_t>(~kUnknown);
          origins_.erase(from);
        }
      }
      if (change.old_kind() != proto::Change::KEY) break;  // the key did not change
      std::string new_key;
      if (absl::Status s = EncodeKey(change.new_tuple(), &new_key); !s.ok()) return s;
      if (new_key == key_) break;
      // The row moves to its new key; its old key now holds none.
      const bool unknown = Has(entries_[from], kUnknown);
      std::string origin;
      if (unknown) origin = std::move(origins_[from]);
      const std::string image(Image(entries_[from]));
      ClearImage(from);
      const uint32_t to = Find(new_key, &fresh);
      if (Has(entries_[to], kPresent)) return contradiction("an UPDATE to a key that already holds a row");
      SetImage(to, image);
      if (unknown) {
        entries_[to].flags |= kUnknown;
        origins_[to] = std::move(origin);
      }
      break;
    }
    case proto::Change::DELETE: {
      if (change.old_kind() != proto::Change::KEY) return contradiction("a DELETE without its key");
      if (absl::Status s = EncodeKey(change.old_tuple(), &key_); !s.ok()) return s;
      const uint32_t e = Find(key_, &fresh);
      if (fresh) entries_[e].flags |= kExisted | kPresent;
      if (!Has(entries_[e], kPresent)) return contradiction("a DELETE of a key that holds no row");
      ClearImage(e);
      break;
    }
    default:
      return absl::InvalidArgumentError("NetEffect takes INSERT, UPDATE and DELETE only");
  }
  // Garbage (images that moved or were deleted) is dropped when it is most of the arena.
  if (arena_bytes_ > 2 * kFirstBlock && arena_bytes_ > 3 * live_bytes_) Compact();
  bytes_ = arena_bytes_ + entries_.bytes() + index_.capacity() * kIndexSlotBytes + origins_.size() * 64;
  return result;
}

NetEffect::Result NetEffect::Take() {
  Result result;
  ForEachRow([&](const RowView& r) {
    Row row;
    if (r.present) row.cells = Cells(r.image);
    if (r.unknown) row.origin_key = DecodeKey(r.origin);
    if (r.deleted()) result.deleted_keys.push_back(DecodeKey(r.key));
    if (r.updated()) result.updated.push_back(std::move(row));
    if (r.partial() || r.inserted()) result.rows.push_back(std::move(row));
  });
  Reset();
  return result;
}

// --- visiting the run

void NetEffect::ForEachRow(const std::function<void(const RowView&)>& visit) const {
  RowView view;
  for (uint32_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (e.flags == 0) continue;  // inserted and deleted in the run: nothing
    view.existed = Has(e, kExisted);
    view.present = Has(e, kPresent);
    view.unknown = Has(e, kUnknown);
    view.key = Key(e);
    view.image = Image(e);
    view.origin = view.unknown ? std::string_view(origins_.at(i)) : std::string_view();
    visit(view);
  }
}

void NetEffect::AppendKeyText(std::string_view key, std::string* out) const {
  size_t at = 0;
  for (bool first = true; at + sizeof(uint32_t) <= key.size(); first = false) {
    const uint32_t n = ReadU32(key.data() + at);
    at += sizeof n;
    if (!first) *out += '\t';
    AppendCopyField(out, key.substr(at, n));
    at += n;
  }
}

void NetEffect::AppendImageText(std::string_view image, std::string* out, std::string* mask) const {
  ForEachImageCell(image, [&](int column, char tag, std::string_view value) {
    if (out != nullptr) {
      if (column > 0) *out += '\t';
      if (tag == 'v') {
        AppendCopyField(out, value);
      } else {
        *out += kCopyNull;
      }
    }
    if (mask != nullptr) *mask += tag == 'u' ? 'u' : '-';
  });
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
                                                       pg::QuoteIdent(schema_.columns(i).name())));
    }
  }
  last_key_position_ = 0;
  for (int k : key_columns_) last_key_position_ = std::max(last_key_position_, static_cast<size_t>(base_position_[k]));
  waiting_for_origin_.clear();
  for (const auto& [entry, origin] : origins_) waiting_for_origin_[origin].push_back(entry);
  return absl::OkStatus();
}

void NetEffect::AppendMergedRow(const Entry& e, std::string* out) {
  ++merged_rows_;
  // The image is in schema order; the line is in the base's.
  std::vector<std::pair<char, std::string_view>>& cells = merge_cells_;
  cells.assign(schema_.columns_size(), {'n', {}});
  ForEachImageCell(Image(e), [&](int column, char tag, std::string_view value) {
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
  std::vector<std::string_view>& fields = merge_fields_;  // up to the last key column
  fields.clear();
  while (fields.size() <= last_key_position_) {
    const size_t tab = line.find('\t', field_start);
    fields.push_back(
        line.substr(field_start, tab == std::string_view::npos ? std::string_view::npos : tab - field_start));
    if (tab == std::string_view::npos) break;
    field_start = tab + 1;
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
  auto it = index_.find(std::string_view(key));
  if (it == index_.end()) {
    out->append(line);
    *out += '\n';
    return absl::OkStatus();
  }
  const uint32_t entry = *it;
  auto disagree = [&](const char* what) {
    return absl::DataLossError(fmt::format(
        "the base's rows of {} do not match the change log: {} (key {}); restore from another base, or run 'pgpitr "
        "verify'",
        TableName(), what, fmt::join(DecodeKey(key), ", ")));
  };
  if (Has(entries_[entry], kInBase)) return disagree("the base holds the key twice");
  entries_[entry].flags |= kInBase;
  if (!Has(entries_[entry], kExisted)) return disagree("the change log inserts a row the base already holds");
  // This base row holds values that rows of the run never saw: fill them in.
  if (auto needed = waiting_for_origin_.find(key); needed != waiting_for_origin_.end()) {
    CopyFields all;
    SplitCopyLine(line, &all);
    for (uint32_t dependent : needed->second) {
      std::string filled;
      ForEachImageCell(Image(entries_[dependent]), [&](int column, char tag, std::string_view value) {
        if (tag != 'u') {
          AppendImageCell(&filled, tag, value);
          return;
        }
        const std::optional<std::string> base_value = static_cast<size_t>(base_position_[column]) < all.raw.size()
                                                          ? UnescapeCopyField(all.raw[base_position_[column]])
                                                          : std::nullopt;
        AppendImageCell(&filled, base_value ? 'v' : 'n', base_value ? std::string_view(*base_value) : "");
      });
      SetImage(dependent, filled);
      entries_[dependent].flags &= static_cast<uint8_t>(~kUnknown);
      origins_.erase(dependent);
    }
    waiting_for_origin_.erase(needed);
  }
  const Entry& e = entries_[entry];
  if (Has(e, kPresent) && !Has(e, kUnknown)) {
    AppendMergedRow(e, out);
    entries_[entry].flags |= kEmitted;
  }
  return absl::OkStatus();
}

absl::Status NetEffect::EndMerge(std::string* out, const std::function<void()>& after_row) {
  for (size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    if (Has(e, kExisted) && !Has(e, kInBase)) {
      return absl::DataLossError(fmt::format(
          "the base's rows of {} do not match the change log: it changes a row the base does not hold (key {}); "
          "restore from another base, or run 'pgpitr verify'",
          TableName(), fmt::join(DecodeKey(Key(e)), ", ")));
    }
    if (!Has(e, kPresent) || Has(e, kEmitted)) continue;
    if (Has(e, kUnknown)) {
      return absl::DataLossError(fmt::format(
          "the base's rows of {} do not match the change log: the row its key {} came from is not in the base",
          TableName(), fmt::join(DecodeKey(Key(e)), ", ")));
    }
    AppendMergedRow(e, out);
    e.flags |= kEmitted;
    if (after_row) after_row();
  }
  Reset();
  return absl::OkStatus();
}

}  // namespace pgpitr::restore
