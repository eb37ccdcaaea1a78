// ProgressSink: where long work (a base dump, a restore, verify) says how far it is, without knowing
// who listens: the CLI draws it on a terminal, or prints a line now and then, or nothing at all.
//   if (sink) sink->Report({.phase = "verify change log", .done = n, .total = total, .unit = "keys"});
// Called from the working thread only; a sink that other threads also use must lock itself.
#pragma once

#include <cstdint>
#include <string>

namespace pgpitr::base {

struct Progress {
  std::string phase;   // what is being done: "base dump", "base restore", "replay", "verify bases", ...
  uint64_t done = 0;   // how much of it, in `unit`
  uint64_t total = 0;  // 0 when not known in advance (a dump's size): then no time left is shown
  std::string unit;    // "bytes", "transactions", "keys"; empty for a phase without a measure
};

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  // Cheap to call often: the sink decides what to show and when.
  virtual void Report(const Progress& progress) = 0;
};

}  // namespace pgpitr::base
