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
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/container/flat_hash_set.h"
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
  NetEffect(NetEffect&&) = delete;  // the index's functors point at it

  // One INSERT, UPDATE or DELETE written under this schema. An error when the change contradicts
  // the run so far (an UPDATE or DELETE of a key known to hold no row, an INSERT on a key known to
  // hold one): the log and the target no longer agree.
  [[nodiscard]] absl::Status Add(const proto::Change& change);

  // The net effect of the changes added since the last Take, and a fresh start.
  Result Take();

  // --- or visited, to be applied set-based without a second copy of the run in memory ---
  struct RowView {
    bool existed = false;     // a target row held the key at the start of the run
    bool present = false;     // a row holds it now
    bool unknown = false;     // that row has values the run never saw
    std::string_view key;     // encoded: AppendKeyText writes it
    std::string_view image;   // when present: AppendImageText writes it
    std::string_view origin;  // when unknown: the encoded key of the target row holding those values
    // What becomes of the key when applied to the target (Take's lists say the same):
    // the target's row replaced in place, every value known (Result::updated);
    bool updated() const { return existed && present && !unknown; }
    // the target's row removed (Result::deleted_keys);
    bool deleted() const { return existed && !updated(); }
    // a row inserted whose unknown values are read from its origin row before the deletes;
    bool partial() const { return present && unknown; }
    // a row inserted with every value known (partial and inserted rows are Result::rows).
    bool inserted() const { return present && !unknown && !existed; }
  };
  void ForEachRow(const std::function<void(const RowView&)>& visit) const;
  // Key values as COPY text fields (tab-separated, key columns in schema order).
  void AppendKeyText(std::string_view key, std::string* out) const;
  // A row's values as COPY text fields in schema order, unknown values as NULL (out may be null);
  // *mask (when given) gets 'u' for each unknown column and '-' for the others.
  void AppendImageText(std::string_view image, std::string* out, std::string* mask = nullptr) const;
  // Forgets the run, as Take does.
  void Clear() { Reset(); }

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
  // after_row, when given, is called after each row appended to *out (it may send and clear it): a
  // run of new keys alone may be larger than memory allows twice.
  [[nodiscard]] absl::Status EndMerge(std::string* out, const std::function<void()>& after_row = {});

  bool empty() const { return entries_.empty(); }
  size_t keys() const { return entries_.size(); }
  // Rows the merge wrote: final images and rows of new keys.
  uint64_t merged_rows() const { return merged_rows_; }
  // Approximate bytes held, to bound memory.
  uint64_t bytes() const { return bytes_; }
  const proto::RelationSchema& schema() const { return schema_; }

 private:
  // What the run knows of one key. Its bytes (the encoded key, then the row's image) live in the
  // arena: a run may hold millions of keys, and a hash node, two strings and their allocations per key
  // cost twice the row itself. The image is the row's values in schema order, per column 'v' u32
  // length bytes, 'n' (NULL) or 'u' (unknown: the target's value stays).
  struct Entry {
    char* bytes = nullptr;  // key_size bytes of key, then room bytes for the image
    uint32_t key_size = 0;
    uint32_t image_size = 0;  // when present
    uint32_t room = 0;
    uint8_t flags = 0;
  };
  enum Flag : uint8_t {
    kExisted = 1,   // a target row held this key at the start of the run
    kPresent = 2,   // a row holds this key now (its image is set)
    kUnknown = 4,   // the image has unknown values; origins_ names the target row that holds them
    kInBase = 8,    // merging: the base's row of this key was met
    kEmitted = 16,  // merging: the final row was written out
  };
  // The index of the entries, looked up by key bytes.
  struct EntryHash {
    using is_transparent = void;
    const NetEffect* net;
    size_t operator()(uint32_t i) const;
    size_t operator()(std::string_view key) const;
  };
  struct EntryEq {
    using is_transparent = void;
    const NetEffect* net;
    bool operator()(uint32_t a, uint32_t b) const { return a == b; }
    bool operator()(uint32_t a, std::string_view b) const;
    bool operator()(std::string_view a, uint32_t b) const { return (*this)(b, a); }
  };

  static bool Has(const Entry& e, Flag f) { return (e.flags & f) != 0; }
  std::string_view Key(const Entry& e) const { return std::string_view(e.bytes, e.key_size); }
  std::string_view Image(const Entry& e) const { return std::string_view(e.bytes + e.key_size, e.image_size); }

  // The key of a tuple, encoded (length-prefixed values); an error when a key value is not text.
  [[nodiscard]] absl::Status EncodeKey(const proto::Tuple& tuple, std::string* key) const;
  std::vector<std::string> DecodeKey(std::string_view key) const;
  // The entry of key, made (with no flags) when there is none.
  uint32_t Find(std::string_view key, bool* fresh);
  // Sets an entry's image, in its room when it fits.
  void SetImage(uint32_t entry, std::string_view image);
  void ClearImage(uint32_t entry);
  char* Allocate(size_t n);
  // Builds in scratch_ the image of a tuple, keeping old's values where the tuple's are unchanged
  // TOAST (old may be empty); returns whether unknown values remain.
  bool BuildImage(const proto::Tuple& tuple, std::string_view old);
  // The image as cells.
  std::vector<Cell> Cells(std::string_view image) const;
  void AppendMergedRow(const Entry& e, std::string* out);
  std::string TableName() const;
  void Reset();
  void ResetArena();  // no blocks, nothing allocated
  // Copies what entries use into a new arena, forgetting keys that hold nothing.
  void Compact();

  proto::RelationSchema schema_;
  std::vector<int> key_columns_;
  // The entries, in blocks that never move: growing never copies the ones there (a vector's
  // doubling briefly held twice the memory a run may use).
  class EntryList {
   public:
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    Entry& operator[](size_t i) { return blocks_[i >> kShift][i & kMask]; }
    const Entry& operator[](size_t i) const { return blocks_[i >> kShift][i & kMask]; }
    void push_back(const Entry& e) {
      if ((size_ & kMask) == 0 && (size_ >> kShift) == blocks_.size()) blocks_.emplace_back(new Entry[kMask + 1]);
      (*this)[size_++] = e;
    }
    uint64_t bytes() const { return blocks_.size() * (kMask + 1) * sizeof(Entry); }

   private:
    static constexpr size_t kShift = 10;  // 1024 entries, 24 KiB a block
    static constexpr size_t kMask = (size_t{1} << kShift) - 1;
    std::vector<std::unique_ptr<Entry[]>> blocks_;
    size_t size_ = 0;
  };
  EntryList entries_;
  absl::flat_hash_set<uint32_t, EntryHash, EntryEq> index_;
  std::unordered_map<uint32_t, std::string> origins_;  // entry -> encoded origin key, while kUnknown
  std::vector<std::unique_ptr<char[]>> blocks_;        // the arena
  char* block_next_ = nullptr;
  size_t block_left_ = 0;
  size_t last_block_ = 0;
  uint64_t live_bytes_ = 0;  // of the arena, what entries use (the rest is garbage)
  uint64_t arena_bytes_ = 0;
  uint64_t bytes_ = 0;
  // Merging: the base position of each schema column, and of the last key column.
  std::vector<int> base_position_;
  size_t last_key_position_ = 0;
  // Merging: encoded origin key -> the entries whose unknown values that base row holds.
  std::unordered_map<std::string, std::vector<uint32_t>> waiting_for_origin_;
  uint64_t merged_rows_ = 0;
  std::string scratch_;
  std::string key_;
  std::string merge_key_;
  std::vector<std::string_view> merge_fields_;
  std::vector<std::pair<char, std::string_view>> merge_cells_;
};

}  // namespace pgpitr::restore
