// BaseLoad: restores a base's dump into the target in its three sections, so that replay's first run
// of changes is merged into the base's table data as it loads, instead of being applied to it after.
//   BaseLoad load(options);
//   RETURN_IF_ERROR(load.Schema());                 // pg_restore --section=pre-data: tables, no rows
//   ... collapse the first run of changes (NetEffect per table) ...
//   absl::StatusOr<std::set<uint32_t>> merged = load.Data(tables);  // rows, merged with the run
//   RETURN_IF_ERROR(load.Indexes());                // pg_restore --section=post-data, but for ...
//   ... replay the rest ...
//   RETURN_IF_ERROR(load.FinishSchema());           // ... foreign keys and materialized views
// A table's rows are read from `pg_restore -f -` of its one TABLE DATA entry, each base row is
// replaced by its final image (or dropped, or kept) as NetEffect::MergeBaseRow says, the rows of
// new keys follow, and all of it is COPYed into the still unindexed table (INSERTs appended to tables
// without a key were COPYed while the run was collapsed): replay writes no row twice and no index entry that it later
// deletes, so a restore to a point costs about what pg_restore of a dump taken there would. The other data entries
// (untouched tables, sequence values, large objects) are restored by pg_restore itself, in parallel with the merged
// tables (--jobs tasks at once). A table whose base rows do not have the run's columns is loaded as it is and left to
// the caller (not in the returned set). One thread calls it; Data uses threads of its own.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pg/conninfo.h"
#include "restore/dump_toc.h"
#include "restore/net_effect.h"

namespace pgpitr::restore {

struct BaseLoadOptions {
  std::filesystem::path pg_restore;
  std::filesystem::path dump;
  pg::ConnInfo target;                     // without its password, which goes in env
  std::map<std::string, std::string> env;  // PGPASSWORD, when the target has one
  int jobs = 2;                            // tasks at once, and pg_restore --jobs
  bool no_owner = false;                   // pg_restore --no-owner --no-privileges
  std::string encoding;                    // the base's (source database's) encoding
  std::string base_id;                     // for messages
  std::function<bool()> stop;              // asked while pg_restore runs: true stops it
};

// What one table brings to the load: the run's net effect on it.
struct TableLoad {
  uint32_t relid = 0;
  NetEffect* net = nullptr;
  const proto::RelationSchema* schema = nullptr;
};

class BaseLoad {
 public:
  explicit BaseLoad(BaseLoadOptions options) : options_(std::move(options)) {}
  ~BaseLoad();

  // pg_restore --section=pre-data.
  [[nodiscard]] absl::Status Schema();
  // INSERTs into a table without a key (COPY text lines, in the schema's column order), between
  // Schema and Data: COPYed in a thread of its own on a connection of its own while the run is still
  // being collapsed (such rows are a multiset: the base's rows may come after them). An error of an
  // earlier call is returned by a later one, or by Data.
  [[nodiscard]] absl::Status Append(const proto::RelationSchema& schema, std::string rows);
  // Every data entry; the tables given are merged into theirs. Returns the relids merged, whose
  // NetEffect was consumed; the others' were left untouched.
  struct Loaded {
    std::set<uint32_t> merged;
  };
  [[nodiscard]] absl::StatusOr<Loaded> Data(const std::vector<TableLoad>& tables);
  // pg_restore --section=post-data: indexes, constraints, triggers, ..., but for foreign keys and
  // materialized views' data, which read other tables' rows: FinishSchema makes those, when every
  // table is at the same point (the end of the replay, or a schema change's place).
  [[nodiscard]] absl::Status Indexes();
  // The rest of post-data (once; nothing the second time). The caller holds no lock on the tables.
  [[nodiscard]] absl::Status FinishSchema();
  bool schema_unfinished() const { return !later_.empty(); }

  // Time spent in the three calls.
  std::chrono::duration<double> seconds() const { return seconds_; }
  // Rows the merged tables received from the base, and rows written by the merge (final images, new
  // keys, appended rows).
  uint64_t base_rows() const { return base_rows_; }
  uint64_t replayed_rows() const { return replayed_rows_; }
  // Why tables given to Data were not merged (their rows then loaded as they are).
  std::vector<std::string> notes() const;

 private:
  // pg_restore with these arguments (after the connection and the common flags) and the dump.
  [[nodiscard]] absl::Status Run(std::vector<std::string> args, const std::function<bool()>& stop = {});
  // pg_restore of exactly these entries (nothing for none).
  [[nodiscard]] absl::Status RunList(const std::vector<TocEntry>& entries, const std::string& what);
  std::string LoadSettings() const;
  [[nodiscard]] absl::StatusOr<std::string> List(const std::string& section);
  [[nodiscard]] absl::StatusOr<bool> LoadTable(const std::string& entry_line, const TableLoad& table,
                                               const std::function<bool()>& stop);
  std::filesystem::path TempFile(const std::string& what);

  // The appending thread's.
  void AppendRows();
  [[nodiscard]] absl::Status FinishAppends();

  BaseLoadOptions options_;
  std::vector<TocEntry> later_;  // post-data entries for FinishSchema
  struct Appended {
    std::string copy;  // COPY ... FROM STDIN
    std::string rows;
  };
  std::mutex append_mu_;
  std::condition_variable append_changed_;
  std::deque<Appended> append_queue_;
  bool append_finish_ = false;
  absl::Status append_error_;
  std::thread appender_;
  std::chrono::duration<double> seconds_{0};
  std::atomic<uint64_t> base_rows_{0};
  std::atomic<uint64_t> replayed_rows_{0};
  std::atomic<uint64_t> temp_counter_{0};
  mutable std::mutex notes_mu_;
  std::vector<std::string> notes_;
};

}  // namespace pgpitr::restore
