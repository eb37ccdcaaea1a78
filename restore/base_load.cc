#include "restore/base_load.h"

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>

#include "base/error.h"
#include "fmt/format.h"
#include "pg/connection.h"
#include "pg/process.h"
#include "restore/copy_text.h"
#include "restore/dump_toc.h"
#include "restore/replayer.h"

namespace pgpitr::restore {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

std::string ColumnNames(const proto::RelationSchema& schema) {
  std::string out;
  for (const auto& c : schema.columns()) out += (out.empty() ? "" : ", ") + pg::QuoteIdent(c.name());
  return out;
}

}  // namespace

std::string BaseLoad::LoadSettings() const {
  // What pg_restore sets for its data (a role's statement_timeout would cancel a large COPY), and
  // the base's encoding, which both its rows and the replayed values are in.
  std::string settings =
      "SET statement_timeout = 0; SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0; "
      "SET standard_conforming_strings = on; SET xmloption = content; SET row_security = off; "
      "SET synchronous_commit = off";
  if (!options_.encoding.empty()) settings += "; SET client_encoding = " + pg::QuoteLiteral(options_.encoding);
  return settings;
}

fs::path BaseLoad::TempFile(const std::string& what) {
  return fs::temp_directory_path() / fmt::format("pgpitr-{}-{}-{}", what, getpid(), ++temp_counter_);
}

absl::Status BaseLoad::Run(std::vector<std::string> args, const std::function<bool()>& stop) {
  std::map<std::string, std::string> env;
  pg::ConnInfo target = options_.target;
  if (auto password = target.Get("password")) {
    env["PGPASSWORD"] = *password;
    target = target.Without("password");
  }
  std::vector<std::string> argv = {options_.pg_restore.string(), "--exit-on-error", "--dbname=" + target.ToString()};
  if (options_.no_owner) {
    argv.push_back("--no-owner");
    argv.push_back("--no-privileges");
  }
  for (std::string& a : args) argv.push_back(std::move(a));
  argv.push_back(options_.dump.string());
  const fs::path log = TempFile("pg_restore.log");
  absl::Status s = pg::RunProcess(argv, env, log, stop ? stop : options_.stop);
  std::error_code ec;
  fs::remove(log, ec);
  // pg_restore says why only in words (its exit code is 1 for everything): a missing role is
  // recognized here, once, as libpq words the server's 42704 undefined_object for it.
  const std::string message(s.message());
  const size_t role = message.find("role \"");
  if (!s.ok() && role != std::string::npos && message.find("\" does not exist", role) != std::string::npos) {
    return base::WithKind(base::Reworded(s, fmt::format("{}: create the role, or restore with --no-owner", message)),
                          base::ErrorKind::kRoleMissing);
  }
  return s;
}

absl::Status BaseLoad::RunList(const std::vector<TocEntry>& entries, const std::string& what) {
  if (entries.empty()) return absl::OkStatus();
  const fs::path list = TempFile(what + ".list");
  {
    std::ofstream out(list);
    out << TocList(entries);
    if (!out) return absl::InternalError(fmt::format("cannot write {}", list.string()));
  }
  absl::Status s = Run({"--use-list=" + list.string(), fmt::format("--jobs={}", std::max(1, options_.jobs))});
  std::error_code ec;
  fs::remove(list, ec);
  return s;
}

absl::StatusOr<std::string> BaseLoad::List(const std::string& section) {
  std::string listing;
  const fs::path log = TempFile("pg_restore.log");
  absl::Status s =
      pg::RunProcessReading({options_.pg_restore.string(), "--list", "--section=" + section, options_.dump.string()},
                            {}, log, [&](std::string_view out) {
                              listing.append(out);
                              return absl::OkStatus();
                            });
  std::error_code ec;
  fs::remove(log, ec);
  if (!s.ok()) return s;
  return listing;
}

absl::Status BaseLoad::Schema() {
  const auto start = Clock::now();
  absl::Status s = Run({"--section=pre-data"});
  seconds_ += Clock::now() - start;
  if (!s.ok())
    return base::Reworded(s, fmt::format("restoring the schema of base {}: {}", options_.base_id, s.message()));
  return absl::OkStatus();
}

absl::Status BaseLoad::Indexes() {
  const auto start = Clock::now();
  absl::StatusOr<std::string> listing = List("post-data");
  absl::Status s = listing.status();
  if (s.ok()) {
    // Foreign keys and materialized views read other tables, which may not all be at the same point
    // of the replay yet (some merged into the load, some applied after it, a run cut inside a
    // transaction): they wait for FinishSchema.
    std::vector<TocEntry> now;
    for (TocEntry& e : ParseToc(*listing)) (e.reads_other_tables ? later_ : now).push_back(std::move(e));
    s = RunList(now, "post-data");
  }
  seconds_ += Clock::now() - start;
  if (!s.ok()) {
    return absl::Status(
        s.code(), fmt::format("restoring the indexes and constraints of base {}: {}", options_.base_id, s.message()));
  }
  return absl::OkStatus();
}

absl::Status BaseLoad::FinishSchema() {
  if (later_.empty()) return absl::OkStatus();
  const auto start = Clock::now();
  absl::Status s = RunList(later_, "foreign-keys");
  later_.clear();
  seconds_ += Clock::now() - start;
  if (!s.ok()) {
    return base::Reworded(s, fmt::format("restoring the foreign keys and materialized views of base {}: {}",
                                         options_.base_id, s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> BaseLoad::LoadTable(const std::string& entry_line, const TableLoad& table,
                                         const std::function<bool()>& stop) {
  absl::StatusOr<pg::Connection> conn = pg::Connection::Connect(options_.target, "restore target");
  if (!conn.ok()) return conn.status();
  if (absl::Status s = conn->Execute(LoadSettings()); !s.ok()) return s;

  const fs::path list = TempFile("entry.list");
  {
    std::ofstream out(list);
    out << entry_line << "\n";
    if (!out) return absl::InternalError(fmt::format("cannot write {}", list.string()));
  }
  enum class Stage { kHeader, kRows, kDone } stage = Stage::kHeader;
  bool merging = false;
  std::string pending;  // an incomplete line
  pg::CopyIn in(*conn);
  uint64_t base_rows = 0;
  auto line_done = [&](std::string_view line) -> absl::Status {
    switch (stage) {
      case Stage::kHeader: {
        std::optional<std::vector<std::string>> columns = CopyStatementColumns(line);
        if (!columns) return absl::OkStatus();  // SET commands and comments before the rows
        if (table.net != nullptr) {
          absl::Status begun = table.net->BeginMerge(*columns);
          merging = begun.ok();
          if (!merging) {
            std::lock_guard<std::mutex> lock(notes_mu_);
            notes_.push_back(fmt::format("the replayed changes to {} were applied after its base rows loaded: {}",
                                         QualifiedName(table.net->schema()), begun.message()));
          }
        }
        // The statement pg_restore would run, names qualified (it runs with an empty search_path).
        std::string sql(line.substr(0, line.size() - std::string_view(" FROM stdin;").size()));
        if (absl::Status s = in.Start(sql + " FROM STDIN"); !s.ok()) return s;
        stage = Stage::kRows;
        return absl::OkStatus();
      }
      case Stage::kRows:
        if (line == "\\.") {
          if (merging) {
            if (absl::Status s = table.net->EndMerge(&in.rows(), [&] { in.Sent(); }); !s.ok()) return s;
          }
          absl::StatusOr<int64_t> copied = in.End();
          if (!copied.ok()) return copied.status();
          stage = Stage::kDone;
          return absl::OkStatus();
        }
        ++base_rows;
        if (merging) {
          if (absl::Status s = table.net->MergeBaseRow(line, &in.rows()); !s.ok()) return s;
        } else {
          in.rows().append(line);
          in.rows() += '\n';
        }
        in.Sent();
        return absl::OkStatus();
      case Stage::kDone:
        return absl::OkStatus();
    }
    return absl::OkStatus();
  };
  std::map<std::string, std::string> env;
  if (auto password = options_.target.Get("password")) env["PGPASSWORD"] = *password;
  const fs::path log = TempFile("pg_restore.log");
  absl::Status read = pg::RunProcessReading(
      {options_.pg_restore.string(), "--file=-", "--use-list=" + list.string(), options_.dump.string()}, env, log,
      [&](std::string_view chunk) -> absl::Status {
        size_t at = 0;
        if (!pending.empty()) {
          const size_t nl = chunk.find('\n');
          if (nl == std::string_view::npos) {
            pending.append(chunk);
            return absl::OkStatus();
          }
          pending.append(chunk.substr(0, nl));
          if (absl::Status s = line_done(pending); !s.ok()) return s;
          pending.clear();
          at = nl + 1;
        }
        for (;;) {
          const size_t nl = chunk.find('\n', at);
          if (nl == std::string_view::npos) break;
          if (absl::Status s = line_done(chunk.substr(at, nl - at)); !s.ok()) return s;
          at = nl + 1;
        }
        pending.append(chunk.substr(at));
        return absl::OkStatus();
      },
      stop);
  std::error_code ec;
  fs::remove(log, ec);
  fs::remove(list, ec);
  if (!read.ok()) {
    if (stage == Stage::kRows) (void)in.End("pgpitr stopped the load");
    return read;
  }
  if (stage == Stage::kRows) {
    (void)in.End("pg_restore's output ended inside the rows");
    return absl::DataLossError(
        fmt::format("pg_restore's output of the entry {} ended before the end of its rows", entry_line));
  }
  if (stage != Stage::kDone) {
    return absl::DataLossError(fmt::format("pg_restore printed no rows for the entry {}", entry_line));
  }
  base_rows_ += base_rows;
  if (merging) replayed_rows_ += table.net->merged_rows();

  return merging;
}

std::vector<std::string> BaseLoad::notes() const {
  std::lock_guard<std::mutex> lock(notes_mu_);
  return notes_;
}

BaseLoad::~BaseLoad() { (void)FinishAppends(); }

absl::Status BaseLoad::Append(const proto::RelationSchema& schema, std::string rows) {
  std::unique_lock<std::mutex> lock(append_mu_);
  if (append_finish_) return absl::FailedPreconditionError("rows appended after the base's data was loaded");
  if (!appender_.joinable()) appender_ = std::thread([this] { AppendRows(); });
  // At most a few MiB wait: the collapse does not run far ahead of the server.
  append_changed_.wait(lock, [&] { return append_queue_.size() < 4 || !append_error_.ok(); });
  if (!append_error_.ok()) return append_error_;
  append_queue_.push_back(
      {fmt::format("COPY {} ({}) FROM STDIN", QualifiedName(schema), ColumnNames(schema)), std::move(rows)});
  append_changed_.notify_all();
  return absl::OkStatus();
}

void BaseLoad::AppendRows() {
  absl::StatusOr<pg::Connection> conn = pg::Connection::Connect(options_.target, "restore target");
  absl::Status error = conn.status();
  if (error.ok()) error = conn->Execute(LoadSettings());
  std::unique_lock<std::mutex> lock(append_mu_);
  for (;;) {
    append_changed_.wait(lock, [&] { return append_finish_ || !append_queue_.empty(); });
    if (append_queue_.empty()) break;
    Appended item = std::move(append_queue_.front());
    append_queue_.pop_front();
    append_changed_.notify_all();
    if (!error.ok()) continue;  // the rest is dropped: the restore fails
    lock.unlock();
    uint64_t lines = 0;
    for (char c : item.rows) lines += c == '\n';
    pg::CopyIn in(*conn);
    error = in.Start(item.copy);
    if (error.ok()) {
      in.Send(item.rows);
      error = in.End().status();
    }
    if (error.ok()) replayed_rows_ += lines;
    lock.lock();
    if (!error.ok()) {
      append_error_ = absl::Status(
          error.code(), fmt::format("loading the rows appended to tables without a key: {}", error.message()));
      append_changed_.notify_all();
    }
  }
  if (!error.ok() && append_error_.ok()) {
    append_error_ =
        base::Reworded(error, fmt::format("loading the rows appended to tables without a key: {}", error.message()));
  }
}

absl::Status BaseLoad::FinishAppends() {
  {
    std::lock_guard<std::mutex> lock(append_mu_);
    append_finish_ = true;
  }
  append_changed_.notify_all();
  if (appender_.joinable()) appender_.join();
  std::lock_guard<std::mutex> lock(append_mu_);
  return append_error_;
}

absl::StatusOr<BaseLoad::Loaded> BaseLoad::Data(const std::vector<TableLoad>& tables) {
  const auto start = Clock::now();
  if (absl::Status s = FinishAppends(); !s.ok()) return s;
  absl::StatusOr<std::string> listing = List("data");
  if (!listing.ok()) return listing.status();
  std::vector<TocEntry> rest = ParseToc(*listing);
  std::map<uint32_t, const TableLoad*> by_relid;
  for (const TableLoad& t : tables) by_relid[t.relid] = &t;

  // The tasks: the merged tables, biggest run first, and pg_restore of everything else.
  struct Task {
    std::string entry_line;
    const TableLoad* table = nullptr;  // null: the rest
  };
  std::vector<Task> tasks;
  for (auto it = rest.begin(); it != rest.end();) {
    auto t = it->table_data ? by_relid.find(it->oid) : by_relid.end();
    if (t == by_relid.end()) {
      ++it;
      continue;
    }
    tasks.push_back({it->line, t->second});
    it = rest.erase(it);
  }
  auto weight = [](const Task& t) { return t.table->net != nullptr ? t.table->net->bytes() : 0; };
  std::stable_sort(tasks.begin(), tasks.end(), [&](const Task& a, const Task& b) { return weight(a) > weight(b); });
  fs::path rest_list;
  if (!rest.empty()) {
    rest_list = TempFile("data.list");
    std::ofstream out(rest_list);
    out << TocList(rest);
    if (!out) return absl::InternalError(fmt::format("cannot write {}", rest_list.string()));
    tasks.insert(tasks.begin(), Task{});
  }

  std::mutex mu;
  absl::Status first_error = absl::OkStatus();
  Loaded loaded_tables;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto stop = [&] { return failed.load() || (options_.stop && options_.stop()); };
  auto work = [&] {
    for (size_t i; !failed.load() && (i = next++) < tasks.size();) {
      const Task& task = tasks[i];
      absl::Status s;
      if (task.table == nullptr) {
        s = Run({"--section=data", "--use-list=" + rest_list.string(),
                 fmt::format("--jobs={}", std::max(1, options_.jobs))},
                stop);
      } else {
        absl::StatusOr<bool> loaded = LoadTable(task.entry_line, *task.table, stop);
        if (loaded.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (*loaded) loaded_tables.merged.insert(task.table->relid);
        }
        s = loaded.status();
        if (!s.ok() && task.table->schema != nullptr) {
          s = base::Reworded(s, fmt::format("loading the rows of {} merged with the replayed changes: {}",
                                            QualifiedName(*task.table->schema), s.message()));
        }
      }
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.ok()) first_error = s;
        failed = true;
      }
    }
  };
  std::vector<std::thread> threads;
  const size_t nthreads = std::min<size_t>(std::max(1, options_.jobs), tasks.size());
  for (size_t i = 1; i < nthreads; ++i) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  if (!rest_list.empty()) {
    std::error_code ec;
    fs::remove(rest_list, ec);
  }
  seconds_ += Clock::now() - start;
  if (!first_error.ok()) {
    return base::Reworded(first_error,
                          fmt::format("restoring the data of base {}: {}", options_.base_id, first_error.message()));
  }
  return loaded_tables;
}

}  // namespace pgpitr::restore
