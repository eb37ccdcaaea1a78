#include "restore/net_effect.h"

#include <cstring>

#include "fmt/format.h"
#include "wal/pg_connection.h"

namespace pgpitr::restore {

namespace {

// What a state costs in memory, roughly: the map node, the key, the cells and their text.
uint64_t SizeOf(const std::string& key, const NetEffect::Row& row) {
  uint64_t n = 96 + key.size() + row.cells.size() * sizeof(Cell);
  for (const Cell& c : row.cells) n += c.text.capacity() > 15 ? c.text.capacity() : 0;
  for (const std::string& k : row.origin_key) n += sizeof(std::string) + k.size();
  return n;
}

// Sets a cell from a value, reusing the cell's string (this is replay's innermost loop).
void SetCell(Cell& cell, const proto::Value& v) {
  switch (v.kind()) {
    case proto::Value::NULL_:
      cell.kind = Cell::Kind::kNull;
      cell.text.clear();
      return;
    case proto::Value::UNCHANGED_TOAST:
      cell.kind = Cell::Kind::kUnknown;
      cell.text.clear();
      return;
    default:
      cell.kind = Cell::Kind::kText;
      cell.text.assign(v.data());
  }
}

bool HasUnchangedToast(const proto::Tuple& tuple) {
  for (const proto::Value& v : tuple.values()) {
    if (v.kind() == proto::Value::UNCHANGED_TOAST) return true;
  }
  return false;
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

absl::Status NetEffect::EncodeKey(const proto::Tuple& tuple, std::string* key) const {
  key->clear();
  for (int i : key_columns_) {
    const proto::Value& v = tuple.values(i);
    if (v.kind() != proto::Value::TEXT) {
      return absl::UnimplementedError(
          fmt::format("a change to {} carries its key column {} as {}, which replay cannot match rows on",
                      wal::QuoteIdent(schema_.namespace_()) + "." + wal::QuoteIdent(schema_.name()),
                      wal::QuoteIdent(schema_.columns(i).name()),
                      v.kind() == proto::Value::NULL_    ? "NULL"
                      : v.kind() == proto::Value::BINARY ? "binary"
                                                         : "an unchanged TOASTed value"));
    }
    const uint32_t n = static_cast<uint32_t>(v.data().size());
    key->append(reinterpret_cast<const char*>(&n), sizeof n);
    key->append(v.data());
  }
  return absl::OkStatus();
}

std::vector<std::string> NetEffect::DecodeKey(const std::string& key) const {
  std::vector<std::string> values;
  size_t at = 0;
  while (at + sizeof(uint32_t) <= key.size()) {
    uint32_t n = 0;
    std::memcpy(&n, key.data() + at, sizeof n);
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

absl::Status NetEffect::Add(const proto::Change& change) {
  // Only the errors name the table: Add runs once per row change.
  auto table_name = [&] { return wal::QuoteIdent(schema_.namespace_()) + "." + wal::QuoteIdent(schema_.name()); };
  if (key_columns_.empty()) {
    return absl::FailedPreconditionError(
        fmt::format("{} has no replica identity key to collapse changes by", table_name()));
  }
  const int ncolumns = schema_.columns_size();
  if ((change.kind() != proto::Change::DELETE && change.new_tuple().values_size() != ncolumns) ||
      (change.old_kind() != proto::Change::NONE && change.old_tuple().values_size() != ncolumns)) {
    return absl::DataLossError(
        fmt::format("a change to {} has a different number of columns than its schema", table_name()));
  }
  if (change.old_kind() == proto::Change::FULL_ROW) {
    return absl::FailedPreconditionError(fmt::format(
        "a change to {} carries a full old row, which only REPLICA IDENTITY FULL tables send", table_name()));
  }
  auto contradiction = [&](const char* what) {
    return absl::DataLossError(fmt::format(
        "{} on {}: the change log contradicts itself or the restore target (was the target changed during the "
        "restore?)",
        what, table_name()));
  };
  std::string key;
  bool fresh = false;
  switch (change.kind()) {
    case proto::Change::INSERT: {
      if (absl::Status s = EncodeKey(change.new_tuple(), &key); !s.ok()) return s;
      State& state = Find(key, &fresh);
      if (state.present) return contradiction("an INSERT of a key that already holds a row");
      bytes_ -= fresh ? 0 : SizeOf(key, state.row);
      if (HasUnchangedToast(change.new_tuple())) return contradiction("an INSERT with an unchanged TOASTed value");
      state.present = true;
      state.row.origin_key.clear();
      state.row.cells.resize(ncolumns);
      for (int i = 0; i < ncolumns; ++i) SetCell(state.row.cells[i], change.new_tuple().values(i));
      bytes_ += SizeOf(key, state.row);
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
      const bool toast = HasUnchangedToast(change.new_tuple());
      if (fresh) {
        // First seen here: the target holds this row, with values the run does not know yet
        // (unless this change gives every one).
        from.existed = true;
        from.present = true;
        from.row.cells.assign(ncolumns, Cell{});
        if (toast) from.row.origin_key = DecodeKey(key);
      }
      if (!from.present) return contradiction("an UPDATE of a key that holds no row");
      bytes_ -= fresh ? 0 : SizeOf(key, from.row);
      Row row = std::move(from.row);
      for (int i = 0; i < ncolumns; ++i) {
        const proto::Value& v = change.new_tuple().values(i);
        if (v.kind() != proto::Value::UNCHANGED_TOAST) SetCell(row.cells[i], v);
      }
      if (!row.origin_key.empty() && !row.HasUnknown()) row.origin_key.clear();
      if (new_key == key) {
        from.row = std::move(row);
        bytes_ += SizeOf(key, from.row);
        return absl::OkStatus();
      }
      from.present = false;
      from.row = Row();
      bytes_ += SizeOf(key, from.row);
      State& to = Find(new_key, &fresh);
      if (to.present) return contradiction("an UPDATE to a key that already holds a row");
      bytes_ -= fresh ? 0 : SizeOf(new_key, to.row);
      to.present = true;
      to.row = std::move(row);
      bytes_ += SizeOf(new_key, to.row);
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
      bytes_ -= fresh ? 0 : SizeOf(key, state.row);
      state.present = false;
      state.row = Row();
      bytes_ += SizeOf(key, state.row);
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError("NetEffect takes INSERT, UPDATE and DELETE only");
  }
}

NetEffect::Result NetEffect::Take() {
  Result result;
  for (auto& [key, state] : rows_) {
    if (state.existed && state.present && !state.row.HasUnknown()) {
      result.updated.push_back(std::move(state.row));
      continue;
    }
    if (state.existed) result.deleted_keys.push_back(DecodeKey(key));
    if (state.present) result.rows.push_back(std::move(state.row));
  }
  rows_.clear();
  bytes_ = 0;
  return result;
}

}  // namespace pgpitr::restore
