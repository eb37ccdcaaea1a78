// NetEffect: the net effect of a run of row changes to one relation with a replica identity key,
// as the rows to delete from the target and the rows to insert into it. Pure: no server.
//   NetEffect net(schema);            // schema.replica_identity is 'd' or 'i'
//   for (const proto::Change& c : changes) RETURN_IF_ERROR(net.Add(c));
//   NetEffect::Result r = net.Take();  // DELETE r.deleted_keys, then INSERT r.rows
// Between two points of the history only each row's final state matters. A key is "existing" when
// the first change that names it finds a row there (UPDATE or DELETE of it): that row is deleted
// from the target. A key holding a row at the end gets its final image inserted, after the deletes.
// So a primary-key update (a -> b) deletes a and inserts b, and swaps and chains need no ordering.
// Unchanged-TOAST values are merged from the last image known in the run; a value never seen in the
// run is marked unknown and taken from the target row the final row came from (its origin), which
// is still there when the unknown values are read, since deletes come after. One thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "proto/pgpitr.pb.h"

namespace pgpitr::restore {

// One column value of a net row.
struct Cell {
  enum class Kind : uint8_t { kText, kNull, kUnknown };  // kUnknown: keep the target's value
  Kind kind = Kind::kUnknown;
  std::string text;
  friend bool operator==(const Cell&, const Cell&) = default;
};

class NetEffect {
 public:
  struct Row {
    std::vector<Cell> cells;  // in the schema's column order
    // When a cell is kUnknown: the key values (key columns in schema order) of the target row that
    // holds those values at the start of the run. Empty otherwise.
    std::vector<std::string> origin_key;
    bool HasUnknown() const;
  };
  struct Result {
    std::vector<std::vector<std::string>> deleted_keys;  // key values of rows to delete
    std::vector<Row> rows;                               // rows to insert, after the deletes
    // Rows that replace the target's row of the same key, every value known: an UPDATE in place
    // (their keys are in neither list above).
    std::vector<Row> updated;
  };

  // The relation's key columns are those the schema marks is_key; a schema with none is refused by
  // Add (such relations are replayed row by row).
  explicit NetEffect(const proto::RelationSchema& schema);

  // One INSERT, UPDATE or DELETE written under this schema. An error when the change contradicts
  // the run so far (an UPDATE or DELETE of a key known to hold no row, an INSERT on a key known to
  // hold one): the log and the target no longer agree.
  [[nodiscard]] absl::Status Add(const proto::Change& change);

  // The net effect of the changes added since the last Take, and a fresh start.
  Result Take();

  // --- or merged into the base's rows of the table as they load (restore's first run) ---
  // Instead of Take: the base's rows come as lines of COPY text (without the newline) whose fields
  // are the columns `columns` names (its COPY statement's list). BeginMerge is an error when those
  // are not the schema's columns (nothing is consumed then: Take still works). MergeBaseRow
  // appends to *out, as COPY text lines in the base's column order, what replaces one base row: the
  // line itself when the run did not touch its key, nothing when the run deleted it, else its final
  // row (values the run never saw are the base row's). EndMerge appends the rows of keys the base
  // did not hold. The run and the base disagreeing is a DataLoss error: the run changed a row the
  // base does not hold, inserted a key the base holds, or the base holds a key twice.
  [[nodiscard]] absl::Status BeginMerge(const std::vector<std::string>& columns);
  [[nodiscard]] absl::Status MergeBaseRow(std::string_view line, std::string* out);
  [[nodiscard]] absl::Status EndMerge(std::string* out);

  bool empty() const { return rows_.empty(); }
  size_t keys() const { return rows_.size(); }
  // Rows the merge wrote: final images and rows of new keys.
  uint64_t merged_rows() const { return merged_rows_; }
  // Approximate bytes held, to bound memory.
  uint64_t bytes() const { return bytes_; }
  const proto::RelationSchema& schema() const { return schema_; }

 private:
  // A row's values in schema order, in one string: per column 'v' u32 length bytes, 'n' (NULL) or
  // 'u' (unknown: the target's value stays). One allocation per row, since a run may hold millions.
  struct State {
    bool existed = false;  // a target row held this key at the start of the run
    bool present = false;  // a row holds this key now
    bool unknown = false;  // the image has unknown values
    bool in_base = false;  // merging: the base's row of this key was met
    bool emitted = false;  // merging: the final row was written out
    std::string image;     // when present
    std::string origin;    // when unknown: the encoded key of the target row that holds those values
  };

  // The key of a tuple, encoded (length-prefixed values); an error when a key value is not text.
  [[nodiscard]] absl::Status EncodeKey(const proto::Tuple& tuple, std::string* key) const;
  std::vector<std::string> DecodeKey(const std::string& key) const;
  State& Find(const std::string& key, bool* fresh);
  uint64_t SizeOf(const std::string& key, const State& state) const;
  // Sets state's image from the tuple, keeping the old values where the tuple's are unchanged TOAST.
  void SetImage(State& state, const proto::Tuple& tuple, bool merge_unchanged);
  // The image as cells.
  std::vector<Cell> Cells(const std::string& image) const;
  void AppendMergedRow(const State& state, std::string* out);
  std::string TableName() const;

  proto::RelationSchema schema_;
  std::vector<int> key_columns_;
  std::unordered_map<std::string, State> rows_;
  uint64_t bytes_ = 0;
  // Merging: the base position of each schema column, and of the last key column.
  std::vector<int> base_position_;
  size_t last_key_position_ = 0;
  // Merging: encoded origin key -> the keys whose unknown values that base row holds.
  std::unordered_map<std::string, std::vector<std::string>> origins_;
  uint64_t merged_rows_ = 0;
  std::string scratch_;
  std::string merge_key_;
  std::vector<std::string_view> merge_fields_;
};

}  // namespace pgpitr::restore
