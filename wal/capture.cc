#include "wal/capture.h"

#include <optional>
#include <thread>

#include "fmt/format.h"
#include "wal/base_backup.h"
#include "wal/change_log_writer.h"
#include "wal/pgoutput_decoder.h"
#include "wal/replication_stream.h"
#include "wal/sequences.h"

namespace pgpitr::wal {

namespace {

// Messages read before a synced write when the server keeps sending: group commit bounds.
constexpr size_t kMaxMessagesPerSync = 50000;
constexpr size_t kMaxBytesPerSync = 32 << 20;

PgTime Now() { return PgTimeFromSystemClock(std::chrono::system_clock::now()); }

// Runs the first base in the background so capture keeps streaming while pg_dump works. The dump
// stops when capture stops, for whatever reason: a capture that failed must not wait hours for it.
class FirstBase {
 public:
  FirstBase(const Repository& repo, const CaptureOptions& options, const std::atomic<bool>& stop,
            const Logger& log) {
    thread_ = std::thread([&repo, &options, &stop, log, this] {
      BaseOptions base;
      base.source = options.source;
      base.slot = options.source_settings.slot;
      base.pg_bin_dir = options.pg_bin_dir;
      base.stop = [&stop, this] { return stop.load() || abandon_.load(); };
      absl::StatusOr<proto::Base> taken = TakeBase(repo, base, log);
      if (!taken.ok() && !base.stop()) {
        log.Error("first base dump failed: {} (run 'pgpitr backup' to take one)", taken.status().message());
      }
    });
  }
  ~FirstBase() {
    abandon_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> abandon_{false};
  std::thread thread_;
};

// One connection's worth of capture: prepare the source, stream until stopped or until the
// connection fails. Unavailable errors are the ones worth reconnecting after.
absl::Status CaptureSession(const Repository& repo, const CaptureOptions& options, const std::atomic<bool>& stop,
                            const Logger& log, ChangeLogWriter& writer, std::optional<FirstBase>& first_base,
                            bool* streamed) {
  absl::StatusOr<SourceFacts> facts = PrepareSource(options.source, options.source_settings, log);
  if (!facts.ok()) return facts.status();
  const proto::CaptureState& state = writer.state();
  if (!state.system_identifier().empty() &&
      (state.system_identifier() != facts->system_identifier || state.database() != facts->database)) {
    return absl::FailedPreconditionError(fmt::format(
        "repository {} holds database {} of cluster {}, but the source is database {} of cluster {}; use "
        "another --repo for this source",
        repo.root().string(), state.database(), state.system_identifier(), facts->database,
        facts->system_identifier));
  }
  if (state.log_start_lsn() != 0 && facts->slot_created) {
    return absl::FailedPreconditionError(fmt::format(
        "capture's slot {} was gone from the source, so changes after {} were lost; start a new repository "
        "(a new --repo folder) to capture again",
        options.source_settings.slot, Lsn(state.captured_through_lsn()).ToString()));
  }
  writer.SetSourceIdentity(facts->system_identifier, facts->database, options.source_settings.slot,
                           options.source_settings.publication);
  writer.SetLogStart(facts->slot_start, facts->server_time);
  if (absl::Status s = writer.Sync(); !s.ok()) return s;

  SequenceSampler sampler;
  if (absl::Status s = sampler.Seed(repo.change_log()); !s.ok()) return s;
  absl::StatusOr<PgConnection> sequence_conn = PgConnection::Connect(options.source, "source");
  if (!sequence_conn.ok()) return sequence_conn.status();

  // After a crash the server may not yet have noticed that the previous walsender's client is
  // gone, and reports the slot as active for a few seconds: wait for it.
  absl::StatusOr<std::unique_ptr<ReplicationStream>> opened = absl::UnavailableError("not started");
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<PgConnection> repl = ConnectReplication(options.source);
    if (!repl.ok()) return repl.status();
    opened = ReplicationStream::Start(*std::move(repl), options.source_settings.slot, Lsn(), facts->plugin_options);
    if (opened.ok() || attempt >= 60 || stop.load() ||
        opened.status().message().find("is active for PID") == std::string_view::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (!opened.ok()) return opened.status();
  ReplicationStream& stream = **opened;
  PgoutputDecoder decoder(facts->proto_version);
  log.Info("capturing database {} from slot {} (pgoutput protocol {}), durable through {}", facts->database,
           options.source_settings.slot, facts->proto_version, writer.durable_through().ToString());

  *streamed = true;
  if (options.first_base && !first_base.has_value()) {
    absl::StatusOr<std::vector<proto::Base>> bases = repo.Bases();
    if (!bases.ok()) return bases.status();
    if (bases->empty()) first_base.emplace(repo, options, stop, log);
  }

  // Any status update answers a keepalive that asked for one; ask_reply asks the server for one.
  auto sync_and_report = [&](bool ask_reply) -> absl::Status {
    if (writer.HasUnsyncedProgress() || writer.buffered_bytes() > 0) {
      if (absl::Status s = writer.Sync(); !s.ok()) return s;
      if (options.on_sync) options.on_sync(writer.durable_through(), writer.state().captured_through_time());
    }
    return stream.SendStatus(writer.durable_through(), writer.durable_through(), Now(), ask_reply);
  };

  auto last_status = std::chrono::steady_clock::now();
  auto last_sequences = std::chrono::steady_clock::time_point();
  absl::Status result = absl::OkStatus();
  while (!stop.load()) {
    // Read everything the server has sent, up to the group-commit bounds, then sync once.
    size_t messages = 0;
    size_t bytes = 0;
    bool reply_requested = false;
    std::chrono::milliseconds wait(100);
    while (messages < kMaxMessagesPerSync && bytes < kMaxBytesPerSync) {
      absl::StatusOr<std::optional<std::string_view>> data = stream.Next(wait);
      if (!data.ok()) {
        result = data.status();
        break;
      }
      if (!data->has_value()) break;
      wait = std::chrono::milliseconds(0);
      ++messages;
      bytes += (*data)->size();
      absl::StatusOr<ReplicationMessage> message = DecodeReplicationMessage(**data);
      if (!message.ok()) {
        result = absl::DataLossError(fmt::format("the replication stream is malformed: {}", message.status().message()));
        break;
      }
      if (const auto* keepalive = std::get_if<PrimaryKeepalive>(&*message)) {
        writer.NoteServerPosition(keepalive->wal_end);
        reply_requested = reply_requested || keepalive->reply_requested;
        continue;
      }
      const XLogData& xlog = std::get<XLogData>(*message);
      absl::StatusOr<PgoutputMessage> decoded = decoder.Decode(xlog.payload);
      if (!decoded.ok()) {
        result = absl::DataLossError(fmt::format("the replication stream is malformed at {}: {}",
                                                 xlog.wal_start.ToString(), decoded.status().message()));
        break;
      }
      if (absl::Status s = writer.Apply(*decoded); !s.ok()) {
        result = s;
        break;
      }
    }
    if (!result.ok()) break;

    const auto now = std::chrono::steady_clock::now();
    if (now - last_sequences >= options.sequence_interval) {
      absl::StatusOr<SequenceSampler::Check> check = sampler.Sample(*sequence_conn);
      if (!check.ok()) {
        result = check.status();
        break;
      }
      writer.PutSequenceSample(check->changed, check->lsn, check->time);
      // Each check is also the clock reading that moves the window's end while the source is idle.
      writer.NoteServerClock(check->lsn, check->time);
      last_sequences = now;
    }
    if (writer.HasUnsyncedProgress() || writer.buffered_bytes() > 0 || reply_requested ||
        now - last_status >= options.status_interval) {
      // Ask for a keepalive while a clock reading waits for the stream to pass it.
      if (absl::Status s = sync_and_report(writer.AwaitsServerPosition()); !s.ok()) {
        result = s;
        break;
      }
      last_status = now;
    }
  }

  // A clean stop: what was received is made durable and confirmed; the slot stays in place.
  if (result.ok()) {
    if (absl::Status s = sync_and_report(false); !s.ok()) result = s;
    if (absl::Status s = stream.Finish(); !s.ok() && result.ok()) result = s;
    log.Info("capture stopped; durable through {} ({} transactions, {} rows in the change log)",
             writer.durable_through().ToString(), writer.state().transactions(), writer.state().rows());
  }
  // On an error nothing more is written: what was not confirmed, the server sends again.
  return result;
}

}  // namespace

absl::Status RunCapture(const Repository& repo, const CaptureOptions& options, const std::atomic<bool>& stop,
                        const Logger& log) {
  absl::StatusOr<std::unique_ptr<ChangeLogWriter>> created = ChangeLogWriter::Create(&repo.change_log());
  if (!created.ok()) return created.status();
  ChangeLogWriter& writer = **created;
  std::optional<FirstBase> first_base;
  // The source restarting or the network dropping does not end capture: reconnect with backoff
  // and resume from the slot, which kept everything not yet confirmed.
  std::chrono::milliseconds delay = options.reconnect_delay;
  bool ever_streamed = false;
  for (;;) {
    bool streamed = false;
    absl::Status s = CaptureSession(repo, options, stop, log, writer, first_base, &streamed);
    ever_streamed = ever_streamed || streamed;
    // A source that never worked is a configuration problem: say so at once.
    if (s.ok() || stop.load() || s.code() != absl::StatusCode::kUnavailable || !ever_streamed) return s;
    if (absl::Status reset = writer.AbandonOpenTransactions(); !reset.ok()) return reset;
    if (streamed) delay = options.reconnect_delay;
    log.Warn("lost the source: {}; reconnecting in {:.1f} s", s.message(), delay.count() / 1000.0);
    const auto until = std::chrono::steady_clock::now() + delay;
    while (!stop.load() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (stop.load()) return absl::OkStatus();
    delay = std::min(delay * 2, options.max_reconnect_delay);
  }
}

}  // namespace pgpitr::wal
