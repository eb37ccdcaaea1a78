// ProgressSink: where long work (a base dump, a restore, verify) says how far it is, without knowing
// who listens: the CLI draws it on a terminal, or prints a line now and then, or nothing at all.
//   if (sink) sink->Report({.phase = Phase::kVerifyChangeLog, .done = n, .total = total, .unit = Unit::kKeys});
// One typed channel from the layers to the CLI: every phase that reports is named here once.
// Called from the working thread only; a sink that other threads also use must lock itself.
#pragma once

#include <cstdint>
#include <string_view>

namespace pgpitr::base {

enum class Phase {
  kBaseDump,            // pg_dump of a base
  kVerifyBases,         // verify: each base's size and checksum
  kVerifyChangeLog,     // verify: every change-log key
  kRestoreSchema,       // restore: the base's schema (pg_restore --section=pre-data)
  kRestoreFirstRun,     // restore: the first transactions after the base, collapsed before its rows load
  kRestoreData,         // restore: the base's rows, the first run merged in as they load
  kRestoreIndexes,      // restore: the base's indexes and constraints
  kRestoreReplay,       // restore: the transactions up to the target
  kRestoreForeignKeys,  // restore: the base's foreign keys and materialized views, on the replayed rows
  kRestoreSequences,    // restore: each sequence set from capture's samples
};

enum class Unit { kNone, kBytes, kTransactions, kKeys, kBases };

struct Progress {
  Phase phase = Phase::kBaseDump;
  uint64_t done = 0;   // how much of it, in `unit`
  uint64_t total = 0;  // 0 when not known in advance (a dump's size): then no time left is shown
  Unit unit = Unit::kNone;
};

// What a progress line calls the phase ("restore: base data, the replayed changes merged in") and
// the unit ("transactions"; "" for kNone).
std::string_view PhaseText(Phase phase);
std::string_view UnitText(Unit unit);

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  // Cheap to call often: the sink decides what to show and when.
  virtual void Report(const Progress& progress) = 0;
};

}  // namespace pgpitr::base
