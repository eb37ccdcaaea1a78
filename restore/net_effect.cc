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

Cell ToCell(const proto::Value& v) {
  switch (v.kind()) {
    case proto::Value::NULL_:
      return Cell{Cell::Kind::kNull, ""};
    case proto::Value::UNCHANGED_TOAST:
      return Cell{Cell::Kind::kUnknown, ""};
    default:
      return Cell{Cell::Kind::kText, v.data()};
  }
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
  const std::string table = wal::QuoteIdent(schema_.namespace_()) + "." + wal::QuoteIdent(schema_.name());
  if (key_columns_.empty()) {
    return absl::FailedPreconditionError(fmt::format("{} has no replica identity key to collapse changes by", table));
  }
  const int ncolumns = schema_.columns_size();
  if ((change.kind() != proto::Change::DELETE && change.new_tuple().values_size() != ncolumns) ||
      (change.old_kind() != proto::Change::NONE && change.old_tuple().values_size() != ncolumns)) {
    return absl::DataLossError(fmt::format("a change to {} has a different number of columns than its schema", table));
  }
  if (change.old_kind() == proto::Change::FULL_ROW) {
    return absl::FailedPreconditionError(
        fmt::format("a change to {} carries a full old row, which only REPLICA IDENTITY FULL tables send", table));
  }
  auto contradiction = [&](const char* what) {
    return absl::DataLossError(fmt::format(
        "{} on {}: the change log contradicts itself or the restore target (was the target changed during the "
        "restore?)",
        what, table));
  };
  std::string key;
  bool fresh = false;
  switch (change.kind()) {
    case proto::Change::INSERT: {
      if (absl::Status s = EncodeKey(change.new_tuple(), &key); !s.ok()) return s;
      State& state = Find(key, &fresh);
      if (state.present) return contradiction("an INSERT of a key that already holds a row");
      bytes_ -= fresh ? 0 : SizeOf(key, state.row);
      state.present = true;
      state.row.origin_key.clear();
      state.row.cells.clear();
      for (const proto::Value& v : change.new_tuple().values()) {
        if (v.kind() == proto::Value::UNCHANGED_TOAST)
          return contradiction("an INSERT with an unchanged TOASTed value");
        state.row.cells.push_back(ToCell(v));
      }
      bytes_ += SizeOf(key, state.row);
      return absl::OkStatus();
    }
    case proto::Change::UPDATE: {
      const proto::Tuple& old_tuple = change.old_kind() == proto::Change::KEY ? change.old_tuple() : change.new_tuple();
      if (absl::Status s = EncodeKey(old_tuple, &key); !s.ok()) return s;
      std::string new_key;
      if (absl::Status s = EncodeKey(change.new_tuple(), &new_key); !s.ok()) return s;
      State& from = Find(key, &fresh);
      if (fresh) {
        // First seen here: the target holds this row, with values the run does not know yet.
        from.existed = true;
        from.present = true;
        from.row.cells.assign(ncolumns, Cell{});
        from.row.origin_key = DecodeKey(key);
      }
      if (!from.present) return contradiction("an UPDATE of a key that holds no row");
      bytes_ -= fresh ? 0 : SizeOf(key, from.row);
      Row row = std::move(from.row);
      for (int i = 0; i < ncolumns; ++i) {
        const proto::Value& v = change.new_tuple().values(i);
        if (v.kind() != proto::Value::UNCHANGED_TOAST) row.cells[i] = ToCell(v);
      }
      if (!row.HasUnknown()) row.origin_key.clear();
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
