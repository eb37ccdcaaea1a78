#include "base/progress.h"

namespace pgpitr::base {

std::string_view PhaseText(Phase phase) {
  switch (phase) {
    case Phase::kBaseDump:
      return "base dump (pg_dump)";
    case Phase::kVerifyBases:
      return "verify bases";
    case Phase::kVerifyChangeLog:
      return "verify change log";
    case Phase::kRestoreSchema:
      return "base: schema (pg_restore)";
    case Phase::kRestoreFirstRun:
      return "replay: the first run, to merge into the base's rows";
    case Phase::kRestoreData:
      return "base: data, the replayed changes merged in";
    case Phase::kRestoreIndexes:
      return "base: indexes and constraints (pg_restore)";
    case Phase::kRestoreReplay:
      return "replay";
    case Phase::kRestoreForeignKeys:
      return "base: foreign keys and materialized views, on the replayed rows";
    case Phase::kRestoreSequences:
      return "sequences";
  }
  return "working";
}

std::string_view UnitText(Unit unit) {
  switch (unit) {
    case Unit::kNone:
      return "";
    case Unit::kBytes:
      return "bytes";
    case Unit::kTransactions:
      return "transactions";
    case Unit::kKeys:
      return "keys";
    case Unit::kBases:
      return "bases";
  }
  return "";
}

}  // namespace pgpitr::base
