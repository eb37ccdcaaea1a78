#include "wal/capture.h"

#include <optional>
#include <string>
#include <thread>
#include <variant>

#include "fmt/format.h"
#include "wal/base_backup.h"
#include "wal/change_log_writer.h"
#include "wal/pgoutput_decoder.h"
#include "wal/replication_stream.h"
#include "wal/catalog_digest.h"
#include "wal/sequences.h"
#include "wal/slot_health.h"
#include "wal/subtransactions.h"

namespace pgpitr::wal {

namespace {

// Messages read before a synced write when the server keeps sending: group commit bounds.
constexpr size_t kMaxMessagesPerSync = 50000;
constexpr size_t kMaxBytesPerSync = 32 << 20;
// While the server keeps sending, a read that finds nothing waits this long for more before the
// sync: without it a drain synced (fdatasync) after every socket read, a few KiB at a time.
constexpr std::chrono::milliseconds kReadPause(1);
// ... but a sync, and so a confirmation to the server, comes at least this often.
constexpr std::chrono::milliseconds kMaxSyncDelay(50);

// The messages that open, pause, end or abort a transaction: where fault tests crash capture.
const char* BoundaryName(const PgoutputMessage& message) {
  return std::visit(
      [](const auto& m) -> const char* {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, BeginMessage>) return "Begin";
        if constexpr (std::is_same_v<M, CommitMessage>) return "Commit";
        if constexpr (std::is_same_v<M, StreamStartMessage>) return "Stream Start";
        if constexpr (std::is_same_v<M, StreamStopMessage>) return "Stream Stop";
        if constexpr (std::is_same_v<M, StreamCommitMessage>) return "Stream Commit";
        if constexpr (std::is_same_v<M, StreamAbortMessage>) return "Stream Abort";
        return nullptr;
      },
      message);
}

pg::PgTime Now() { return pg::PgTimeFromSystemClock(std::chrono::system_clock::now()); }

double UnixSeconds(pg::PgTime t) { return t / 1e6 + 946684800.0; }

// A slot the source invalidated (it removed WAL capture had not confirmed) can never stream again:
// drop it, so that PrepareSource makes a new one and the session records the gap.
absl::Status DropLostSlot(const CaptureOptions& options, const base::Logger& log) {
  absl::StatusOr<pg::Connection> conn = pg::Connection::Connect(options.source, "source");
  if (!conn.ok()) return conn.status();
  absl::StatusOr<SlotHealth> health = ReadSlotHealth(*conn, options.source_settings.slot, 0);
  if (!health.ok()) return health.status();
  if (!health->exists || health->wal_status != "lost") return absl::OkStatus();
  log.Error(
      "capture's slot {} was invalidated by the source (wal_status lost, max_slot_wal_keep_size exceeded); "
      "dropping it to start a new one",
      options.source_settings.slot);
  absl::Status dropped = conn->Execute("SELECT pg_drop_replication_slot($1)", {options.source_settings.slot});
  // Still held by a walsender the server has not ended yet: the reconnect loop tries again.
  if (!dropped.ok()) return absl::UnavailableError(fmt::format("cannot drop the lost slot yet: {}", dropped.message()));
  return absl::OkStatus();
}

// Exports what the change log and the bases say: totals, size, the newest base, the window.
void ExportRepository(const Repository& repo, const proto::CaptureState& state, base::Metrics& m) {
  m.Set(kTransactionsCaptured, static_cast<double>(state.transactions()));
  m.Set(kRowsCaptured, static_cast<double>(state.rows()));
  m.Set(kCapturedThroughLsn, static_cast<double>(state.captured_through_lsn()));
  m.Set(kChangeLogBytes, static_cast<double>(repo.change_log().SizeOnDisk()));
  absl::StatusOr<std::vector<proto::Base>> bases = repo.Bases();
  if (!bases.ok()) return;
  const proto::Base* newest = nullptr;
  for (const proto::Base& b : *bases) {
    if (newest == nullptr || b.lsn() > newest->lsn()) newest = &b;
  }
  if (newest != nullptr) {
    m.Set(kLastBaseTimestamp, UnixSeconds(newest->consistent_time()));
    m.Set(kLastBaseSize, static_cast<double>(newest->size_bytes()));
  }
  // The window as restore computes it (wal/restorable_window.h), gaps and retention included.
  absl::StatusOr<RestorableWindow> window = ReadRestorableWindow(*bases, repo.change_log(), state);
  if (window.ok()) ExportRestorableWindow(m, *window);
}

// Bases in the background (wal/base_schedule.h) so capture keeps streaming while pg_dump works: the
// first, one after a gap, the scheduled ones, and retention after them. They stop when capture
// stops, for whatever reason: a capture that failed must not wait hours for a dump.
class BackgroundBases {
 public:
  BackgroundBases(const Repository& repo, const CaptureOptions& options, const std::atomic<bool>& stop,
                  const base::Logger& log, bool base_now = false)
      : scheduler_(repo, SchedulerOptions(options, base_now), stop, log) {}

 private:
  static BaseSchedulerOptions SchedulerOptions(const CaptureOptions& options, bool base_now) {
    BaseSchedulerOptions s;
    s.base.source = options.source;
    s.base.slot = options.source_settings.slot;
    s.base.pg_bin_dir = options.pg_bin_dir;
    s.schedule = options.base_schedule;
    s.first_base = options.first_base;
    s.base_now = base_now;
    s.retention = options.retention;
    s.clock = options.clock;
    // Failed dumps and failed retention runs count as errors, then reach the caller's callback.
    s.on_decision = [metrics = options.metrics, forward = options.on_base_decision](std::string_view what) {
      if (metrics != nullptr) CountBaseDecision(*metrics, what);
      if (forward) forward(what);
    };
    return s;
  }
  BaseScheduler scheduler_;
};

// One connection's worth of capture: prepare the source, stream until stopped or until the
// connection fails. Unavailable errors are the ones worth reconnecting after.
absl::Status CaptureSession(const Repository& repo, const CaptureOptions& options, const std::atomic<bool>& stop,
                            const base::Logger& log, ChangeLogWriter& writer,
                            std::optional<BackgroundBases>& first_base, bool* streamed) {
  // Failures to read or write the change log count as storage errors in the metrics.
  auto storage = [&](absl::Status s) {
    if (!s.ok() && options.metrics != nullptr) CountError(*options.metrics, ErrorKind::kStorage);
    return s;
  };
  if (absl::Status s = DropLostSlot(options, log); !s.ok()) return s;
  absl::StatusOr<SourceFacts> facts = PrepareSource(options.source, options.source_settings, log);
  if (!facts.ok()) return facts.status();
  const proto::CaptureState& state = writer.state();
  if (!state.system_identifier().empty() &&
      (state.system_identifier() != facts->system_identifier || state.database() != facts->database)) {
    return absl::FailedPreconditionError(fmt::format(
        "repository {} holds database {} of cluster {}, but the source is database {} of cluster {}; use "
        "another --repo for this source",
        repo.root().string(), state.database(), state.system_identifier(), facts->database, facts->system_identifier));
  }
  // The slot was lost (invalidated or dropped): what the source committed between the last durable
  // position and the new slot's start is gone. Say so, record the gap (restore never replays across
  // it), continue from the new slot, and take a new base so that restores after the gap work.
  bool needs_new_base = false;
  if (state.log_start_lsn() != 0 && facts->slot_created) {
    // Every commit before captured_through is stored; one exactly at it may not be.
    const pg::Lsn from(state.captured_through_lsn() > 0 ? state.captured_through_lsn() - 1 : 0);
    const pg::Lsn to = facts->slot_start;
    log.Error(
        "the change log has a gap: capture's slot {} was lost, so commits after {} and before {} are missing; "
        "restores can reach {} at most from the older bases, and a new base is being taken for restores from {} on",
        options.source_settings.slot, pg::Lsn(state.captured_through_lsn()).ToString(), to.ToString(),
        pg::Lsn(state.captured_through_lsn()).ToString(), to.ToString());
    if (absl::Status s =
            storage(repo.change_log().RecordGap(from, to, fmt::format("slot {} lost", options.source_settings.slot)));
        !s.ok()) {
      return s;
    }
    writer.NoteServerPosition(to);
    if (options.metrics != nullptr) {
      options.metrics->Add(kSlotLost, 1);
      CountError(*options.metrics, ErrorKind::kSlot);
    }
    needs_new_base = true;
  }
  writer.SetSourceIdentity(facts->system_identifier, facts->database, options.source_settings.slot,
                           options.source_settings.publication);
  writer.SetLogStart(facts->slot_start, facts->server_time);
  if (absl::Status s = storage(writer.Sync()); !s.ok()) return s;

  SequenceSampler sampler;
  if (absl::Status s = storage(sampler.Seed(repo.change_log())); !s.ok()) return s;
  CatalogChecker catalog;
  if (absl::Status s = storage(catalog.Seed(repo.change_log(), writer.state())); !s.ok()) return s;
  absl::StatusOr<pg::Connection> sequence_conn = pg::Connection::Connect(options.source, "source");
  if (!sequence_conn.ok()) return sequence_conn.status();
  // A streamed transaction's subtransactions are checked against the source's commit log at its
  // commit (wal/change_log_writer.h says why), on this session's side connection.
  writer.SetAbortedSubtransactions([&sequence_conn](uint32_t xid, const std::vector<uint32_t>& subxids) {
    return ReadAbortedSubtransactions(*sequence_conn, xid, subxids);
  });
  struct ForgetResolver {
    ChangeLogWriter& writer;
    ~ForgetResolver() { writer.SetAbortedSubtransactions({}); }
  } forget_resolver{writer};

  // After a crash the server may not yet have noticed that the previous walsender's client is
  // gone, and reports the slot as active for a few seconds: wait for it.
  absl::StatusOr<std::unique_ptr<ReplicationStream>> opened = absl::UnavailableError("not started");
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<pg::Connection> repl = ConnectReplication(options.source);
    if (!repl.ok()) return repl.status();
    opened = ReplicationStream::Start(*std::move(repl), options.source_settings.slot, pg::Lsn(), facts->plugin_options);
    // 55006 object_in_use: the slot is still held.
    if (opened.ok() || attempt >= 60 || stop.load() || pg::SqlStateOf(opened.status()) != "55006") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (!opened.ok()) return opened.status();
  ReplicationStream& stream = **opened;
  PgoutputDecoder decoder(facts->proto_version);
  log.Info("capturing database {} from slot {} (pgoutput protocol {}), durable through {}", facts->database,
           options.source_settings.slot, facts->proto_version, writer.durable_through().ToString());

  *streamed = true;
  if (needs_new_base) {
    first_base.reset();
    first_base.emplace(repo, options, stop, log, /*base_now=*/true);
  } else if (!first_base.has_value() && (options.first_base || options.base_schedule || options.retention)) {
    first_base.emplace(repo, options, stop, log);
  }

  // Any status update answers a keepalive that asked for one; ask_reply asks the server for one.
  auto sync_and_report = [&](bool ask_reply) -> absl::Status {
    const bool syncing = writer.HasUnsyncedProgress() || writer.buffered_bytes() > 0;
    if (syncing) {
      if (options.at_fault_point) options.at_fault_point("before sync");
      if (absl::Status s = storage(writer.Sync()); !s.ok()) return s;
      if (options.at_fault_point) options.at_fault_point("after sync");
      if (options.metrics != nullptr) {
        options.metrics->Set(kTransactionsCaptured, static_cast<double>(writer.state().transactions()));
        options.metrics->Set(kRowsCaptured, static_cast<double>(writer.state().rows()));
        options.metrics->Set(kCapturedThroughLsn, static_cast<double>(writer.durable_through().value()));
      }
      if (options.on_sync) options.on_sync(writer.durable_through(), writer.state().captured_through_time());
    }
    absl::Status sent = stream.SendStatus(writer.durable_through(), writer.durable_through(), Now(), ask_reply);
    if (sent.ok() && syncing && options.at_fault_point) options.at_fault_point("after status");
    return sent;
  };

  // Sequence samples and slot checks read the source on a connection of their own, and neither
  // may end capture: one that fails is skipped (the next one, a moment later, catches up), with a
  // warning when it starts failing and a note when it works again. A lost connection is made
  // again; only when that fails too does the session end, to be reconnected as a whole.
  auto side_read_failed = [&](std::string_view what, const absl::Status& s, bool& failing) -> absl::Status {
    if (s.code() == absl::StatusCode::kUnavailable) {
      absl::StatusOr<pg::Connection> again = pg::Connection::Connect(options.source, "source");
      if (!again.ok()) return again.status();
      *sequence_conn = *std::move(again);
      log.Warn("lost the source connection for sequences and slot checks ({}); connected again", s.message());
    } else if (!failing) {
      log.Warn("could not {} ({}); capture goes on and tries again", what, s.message());
    }
    if (!failing && options.metrics != nullptr) CountError(*options.metrics, ErrorKind::kSource);
    failing = true;
    return absl::OkStatus();
  };
  auto side_read_works = [&](std::string_view what, bool& failing) {
    if (failing) log.Info("{} works again", what);
    failing = false;
  };
  bool sampling_fails = false;
  bool catalog_check_fails = false;
  bool slot_check_fails = false;

  // The slot's health, sampled on the sequence connection: logged (warnings once per change of
  // state, the figures every minute), exported, and a lost slot ends the session to be recovered.
  SlotWatch watch;
  int slot_checks = 0;
  auto check_slot = [&]() -> absl::Status {
    absl::StatusOr<SlotHealth> health =
        ReadSlotHealth(*sequence_conn, options.source_settings.slot, writer.state().captured_through_time());
    if (!health.ok()) return side_read_failed("check the slot's health", health.status(), slot_check_fails);
    side_read_works("checking the slot's health", slot_check_fails);
    if (options.metrics != nullptr) {
      base::Metrics& m = *options.metrics;
      m.Set(kCaptureLagBytes, static_cast<double>(health->lag_bytes));
      m.Set(kCaptureLagSeconds, health->lag_seconds);
      m.Clear(kSlotWalStatus);
      m.Set(kSlotWalStatus, 1, {{"wal_status", health->status_label()}});
      m.Set(kSlotSafeWalSize, health->safe_wal_size.has_value() ? static_cast<double>(*health->safe_wal_size) : -1);
      ExportRepository(repo, writer.state(), m);
    }
    for (const SlotEvent& e : watch.Observe(*health)) {
      if (e.level == SlotEvent::Level::kInfo) log.Info("slot {}: {}", options.source_settings.slot, e.message);
      if (e.level == SlotEvent::Level::kWarning) log.Warn("slot {}: {}", options.source_settings.slot, e.message);
      if (e.level == SlotEvent::Level::kError) log.Error("slot {}: {}", options.source_settings.slot, e.message);
      if (e.level != SlotEvent::Level::kInfo && options.metrics != nullptr) {
        CountError(*options.metrics, ErrorKind::kSlot);
      }
    }
    const std::string figures =
        fmt::format("slot {}: confirmed {}, lag {} bytes, {:.1f} s, wal_status {}", options.source_settings.slot,
                    health->confirmed_flush.ToString(), health->lag_bytes, health->lag_seconds, health->status_label());
    if (slot_checks++ % 12 == 0) {
      log.Info("{}", figures);
    } else {
      log.Debug("{}", figures);
    }
    if (health->lost()) {
      return absl::UnavailableError(
          fmt::format("capture's slot {} is {}", options.source_settings.slot, health->exists ? "lost" : "gone"));
    }
    return absl::OkStatus();
  };

  auto last_status = std::chrono::steady_clock::now();
  auto last_sequences = std::chrono::steady_clock::time_point();
  auto last_slot_check = std::chrono::steady_clock::time_point();
  absl::Status result = absl::OkStatus();
  while (!stop.load()) {
    // Read everything the server has sent, up to the group-commit bounds, then sync once.
    size_t messages = 0;
    size_t bytes = 0;
    bool reply_requested = false;
    std::chrono::milliseconds wait(100);
    std::chrono::steady_clock::time_point first_message;
    while (messages < kMaxMessagesPerSync && bytes < kMaxBytesPerSync &&
           (messages == 0 || std::chrono::steady_clock::now() - first_message < kMaxSyncDelay)) {
      absl::StatusOr<std::optional<std::string_view>> data = stream.Next(wait);
      if (!data.ok()) {
        result = data.status();
        break;
      }
      if (!data->has_value()) break;
      if (messages == 0) first_message = std::chrono::steady_clock::now();
      wait = kReadPause;
      ++messages;
      bytes += (*data)->size();
      absl::StatusOr<ReplicationMessage> message = DecodeReplicationMessage(**data);
      if (!message.ok()) {
        result =
            absl::DataLossError(fmt::format("the replication stream is malformed: {}", message.status().message()));
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
      const char* boundary = options.at_fault_point ? BoundaryName(*decoded) : nullptr;
      const uint64_t spills = writer.unsynced_writes();
      const uint64_t aborted_at_commit = writer.aborted_at_commit();
      if (boundary != nullptr) options.at_fault_point(std::string("before ") + boundary);
      if (absl::Status s = storage(writer.Apply(*decoded, xlog.wal_start)); !s.ok()) {
        result = s;
        break;
      }
      if (boundary != nullptr) options.at_fault_point(std::string("after ") + boundary);
      if (options.at_fault_point && writer.unsynced_writes() != spills) options.at_fault_point("after spill");
      if (writer.aborted_at_commit() != aborted_at_commit) {
        log.Info(
            "the source aborted {} subtransaction(s) of the transaction committed at {} without a Stream Abort; "
            "their changes were left out",
            writer.aborted_at_commit() - aborted_at_commit, xlog.wal_start.ToString());
        if (options.at_fault_point) options.at_fault_point("after leaving out subtransactions aborted unannounced");
      }
    }
    if (!result.ok()) break;

    const auto now = std::chrono::steady_clock::now();
    if (now - last_sequences >= options.sequence_interval) {
      absl::StatusOr<SequenceSampler::Check> check = sampler.Sample(*sequence_conn);
      if (check.ok()) {
        side_read_works("sampling sequences", sampling_fails);
        writer.NoteLargeObjects(check->large_objects, {check->lsn, check->time},
                                {check->large_objects_lsn, check->large_objects_time});
        if (absl::Status s = storage(writer.PutSequenceSample(check->changed, check->lsn, check->time)); !s.ok()) {
          result = s;
          break;
        }
        // Each check is also the clock reading that moves the window's end while the source is idle.
        writer.NoteServerClock(check->lsn, check->time);
        // The relations' definitions, which the stream does not carry: a check that fails (a relation
        // dropped while it was read) is made again next time, the one after the last that worked
        // saying since when a change may have happened.
        absl::StatusOr<CatalogChecker::Check> relations = catalog.Sample(*sequence_conn, facts->event_triggers);
        if (relations.ok()) {
          side_read_works("checking the relations' definitions", catalog_check_fails);
          if (absl::Status s = storage(writer.PutCatalogCheck(relations->changed, relations->lsn, relations->time));
              !s.ok()) {
            result = s;
            break;
          }
        } else if (absl::Status s = side_read_failed("check the relations' definitions", relations.status(),
                                                     catalog_check_fails);
                   !s.ok()) {
          result = s;
          break;
        }
      } else if (absl::Status s = side_read_failed("sample sequences", check.status(), sampling_fails); !s.ok()) {
        result = s;
        break;
      }
      last_sequences = now;
    }
    if (now - last_slot_check >= options.slot_check_interval) {
      if (absl::Status s = check_slot(); !s.ok()) {
        result = s;
        break;
      }
      last_slot_check = now;
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
    // Everything is in RocksDB's write-ahead log already; flushed into tables, a restore that opens
    // the log next has nothing to replay, and the log's size is what it keeps.
    if (absl::Status s = repo.change_log().FlushMemtables(); !s.ok()) {
      log.Warn("could not flush the change log's memtables at stop ({}); they are in its write-ahead log", s.message());
    }
    log.Info("capture stopped; durable through {} ({} transactions, {} rows in the change log)",
             writer.durable_through().ToString(), writer.state().transactions(), writer.state().rows());
  }
  // On an error nothing more is written: what was not confirmed, the server sends again.
  return result;
}

}  // namespace

absl::Status RunCapture(const Repository& repo, const CaptureOptions& options, const std::atomic<bool>& stop,
                        const base::Logger& log) {
  absl::StatusOr<std::unique_ptr<ChangeLogWriter>> created = ChangeLogWriter::Create(&repo.change_log());
  if (!created.ok()) return created.status();
  ChangeLogWriter& writer = **created;
  std::optional<BackgroundBases> first_base;
  // The source restarting or the network dropping does not end capture: reconnect with backoff
  // and resume from the slot, which kept everything not yet confirmed.
  std::chrono::milliseconds delay = options.reconnect_delay;
  bool ever_streamed = false;
  for (;;) {
    bool streamed = false;
    absl::Status s = CaptureSession(repo, options, stop, log, writer, first_base, &streamed);
    ever_streamed = ever_streamed || streamed;
    // A source that never worked is a configuration problem: say so at once. Unless the server said
    // to come back (57P03: starting up, in crash recovery), or this repository has captured from it
    // before (a run restarted while the source is down waits for it, as the one before would have).
    const bool worked_before = ever_streamed || writer.state().log_start_lsn() != 0;
    const bool come_back = pg::SqlStateOf(s) == "57P03";
    if (s.ok() || stop.load() || s.code() != absl::StatusCode::kUnavailable || !(worked_before || come_back)) {
      return s;
    }
    if (options.metrics != nullptr) CountError(*options.metrics, ErrorKind::kSource);
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
