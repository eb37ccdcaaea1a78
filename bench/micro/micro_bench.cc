// Microbenchmarks of capture's CPU path, without a server: the pgoutput decoder (MB/s of the
// walsender's bytes) and the change-log writer (row changes per second, bytes stored per row change)
// over pgbench-like TPC-B traffic and a bulk INSERT ... SELECT.
//   cmake --build build --target pgpitr_micro_bench && build/bench/micro/pgpitr_micro_bench
// Not part of ctest: figures, not pass/fail. bench/capture_bench.sh measures the whole drain.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "bench/micro/pgbench_stream.h"
#include "wal/change_log.h"
#include "wal/change_log_writer.h"
#include "wal/pgoutput_decoder.h"

namespace pgpitr::bench {
namespace {

using wal::PgoutputDecoder;
using wal::PgoutputMessage;

constexpr int kTransactionsPerBatch = 1000;  // about what capture reads between two syncs

// A folder removed with everything in it when the benchmark ends.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "pgpitr_micro_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) abort();
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

PgoutputMessage DecodeOrDie(PgoutputDecoder& decoder, const std::string& copy_data) {
  absl::StatusOr<wal::ReplicationMessage> wrapped = wal::DecodeReplicationMessage(copy_data);
  if (!wrapped.ok()) abort();
  absl::StatusOr<PgoutputMessage> m = decoder.Decode(std::get<wal::XLogData>(*wrapped).payload);
  if (!m.ok()) abort();
  return *std::move(m);
}

// The decoder over CopyData messages as the walsender sends them: XLogData header, then pgoutput.
void DecodeMessages(benchmark::State& state, const std::vector<std::string>& messages, size_t rows) {
  size_t bytes = 0;
  for (const std::string& m : messages) bytes += m.size();
  for (auto _ : state) {
    PgoutputDecoder decoder(4);
    for (const std::string& m : messages) {
      absl::StatusOr<wal::ReplicationMessage> wrapped = wal::DecodeReplicationMessage(m);
      absl::StatusOr<PgoutputMessage> decoded = decoder.Decode(std::get<wal::XLogData>(*wrapped).payload);
      benchmark::DoNotOptimize(decoded);
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * rows), benchmark::Counter::kIsRate);
  state.counters["bytes/row"] = static_cast<double>(bytes) / static_cast<double>(rows);
}

void BM_DecodePgbench(benchmark::State& state) {
  PgbenchStream stream;
  std::vector<std::string> messages = stream.Relations();
  for (int i = 0; i < kTransactionsPerBatch; ++i) {
    for (std::string& m : stream.Transaction()) messages.push_back(std::move(m));
  }
  DecodeMessages(state, messages, 4 * kTransactionsPerBatch);
}
BENCHMARK(BM_DecodePgbench);

void BM_DecodeBulkInsert(benchmark::State& state) {
  PgbenchStream stream;
  std::vector<std::string> messages = stream.Relations();
  for (int i = 0; i < 10'000; ++i) messages.push_back(stream.BulkInsert(i));
  DecodeMessages(state, messages, 10'000);
}
BENCHMARK(BM_DecodeBulkInsert);

struct OpenLog {
  ScratchDir dir;
  std::unique_ptr<wal::ChangeLog> log;
  std::unique_ptr<wal::ChangeLogWriter> writer;
};

std::unique_ptr<OpenLog> Open(PgbenchStream& stream, PgoutputDecoder& decoder) {
  auto open = std::make_unique<OpenLog>();
  absl::StatusOr<std::unique_ptr<wal::ChangeLog>> log =
      wal::ChangeLog::Open(open->dir.path() / "changelog", wal::ChangeLog::Mode::kWriter);
  if (!log.ok()) abort();
  open->log = *std::move(log);
  absl::StatusOr<std::unique_ptr<wal::ChangeLogWriter>> writer = wal::ChangeLogWriter::Create(open->log.get());
  if (!writer.ok()) abort();
  open->writer = *std::move(writer);
  for (const std::string& m : stream.Relations()) {
    if (!open->writer->Apply(DecodeOrDie(decoder, m)).ok()) abort();
  }
  return open;
}

// Bytes the change log keeps once RocksDB has flushed its memtable (its WAL is then deleted).
void ReportStorage(benchmark::State& state, OpenLog& open, size_t rows, size_t pgoutput_bytes) {
  const uint64_t before_flush = open.log->SizeOnDisk();
  if (!open.log->FlushMemtables().ok()) abort();
  const uint64_t after_flush = open.log->SizeOnDisk();
  state.counters["pgoutput_B/row"] = static_cast<double>(pgoutput_bytes) / static_cast<double>(rows);
  state.counters["stored_B/row"] = static_cast<double>(after_flush) / static_cast<double>(rows);
  state.counters["unflushed_B/row"] = static_cast<double>(before_flush) / static_cast<double>(rows);
}

// Decoded pgbench transactions applied and synced in batches, as capture does.
void BM_ChangeLogWriterPgbench(benchmark::State& state) {
  PgbenchStream stream;
  PgoutputDecoder decoder(4);
  std::unique_ptr<OpenLog> open = Open(stream, decoder);
  size_t rows = 0, pgoutput_bytes = 0;
  std::vector<PgoutputMessage> batch;
  for (auto _ : state) {
    state.PauseTiming();
    batch.clear();
    for (int i = 0; i < kTransactionsPerBatch; ++i) {
      for (const std::string& m : stream.Transaction()) {
        pgoutput_bytes += m.size() - 25;  // without the XLogData header, as pg_recvlogical writes it
        batch.push_back(DecodeOrDie(decoder, m));
      }
    }
    state.ResumeTiming();
    for (const PgoutputMessage& m : batch) {
      if (!open->writer->Apply(m).ok()) abort();
    }
    if (!open->writer->Sync().ok()) abort();
    rows += 4 * kTransactionsPerBatch;
  }
  state.counters["rows/s"] = benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
  ReportStorage(state, *open, rows, pgoutput_bytes);
}
BENCHMARK(BM_ChangeLogWriterPgbench)->Unit(benchmark::kMillisecond);

// One large transaction (INSERT ... SELECT generate_series), 100k rows per iteration.
void BM_ChangeLogWriterBulkInsert(benchmark::State& state) {
  constexpr int kRows = 100'000;
  PgbenchStream stream;
  PgoutputDecoder decoder(4);
  std::unique_ptr<OpenLog> open = Open(stream, decoder);
  size_t rows = 0, pgoutput_bytes = 0;
  uint64_t lsn = 0x1000000;
  uint32_t xid = 5000;
  std::vector<PgoutputMessage> batch;
  for (auto _ : state) {
    state.PauseTiming();
    batch.clear();
    lsn += 0x100000;
    batch.push_back(DecodeOrDie(decoder, PgbenchStream::BeginAt(lsn, ++xid)));
    for (int i = 0; i < kRows; ++i) {
      std::string m = stream.BulkInsert(rows + i);
      pgoutput_bytes += m.size() - 25;
      batch.push_back(DecodeOrDie(decoder, m));
    }
    batch.push_back(DecodeOrDie(decoder, PgbenchStream::CommitAt(lsn)));
    state.ResumeTiming();
    for (const PgoutputMessage& m : batch) {
      if (!open->writer->Apply(m).ok()) abort();
    }
    if (!open->writer->Sync().ok()) abort();
    rows += kRows;
  }
  state.counters["rows/s"] = benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
  ReportStorage(state, *open, rows, pgoutput_bytes);
}
BENCHMARK(BM_ChangeLogWriterBulkInsert)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pgpitr::bench

BENCHMARK_MAIN();
