#include "wal/verify.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "fmt/format.h"
#include "wal/base_backup.h"

namespace pgpitr::wal {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMax = ~uint64_t{0};

}  // namespace

absl::StatusOr<VerifyReport> VerifyRepository(const Repository& repo, base::ProgressSink* progress) {
  VerifyReport report;
  ChangeLog& log = repo.change_log();
  // (A state that does not read is VerifyScan's problem to report.)
  if (absl::StatusOr<proto::CaptureState> state = log.State(); state.ok()) report.state = *state;
  uint64_t horizon = 0;
  absl::StatusOr<std::optional<proto::Retention>> retention = log.RetentionState();
  if (retention.ok() && retention->has_value()) horizon = (*retention)->horizon_lsn();

  // --- bases ---
  absl::StatusOr<std::vector<Repository::BaseFolder>> folders = repo.ScanBases();
  if (!folders.ok()) return folders.status();
  for (const Repository::BaseFolder& folder : *folders) {
    if (progress) {
      progress->Report({.phase = base::Phase::kVerifyBases,
                        .done = report.bases_checked,
                        .total = folders->size(),
                        .unit = base::Unit::kBases});
    }
    ++report.bases_checked;
    if (!folder.manifest.has_value()) {
      report.problems.push_back({.base_id = folder.id,
                                 .from = pg::Lsn(),
                                 .to = pg::Lsn(),
                                 .what = fmt::format("base {}: {}", folder.id, folder.problem)});
      continue;
    }
    const proto::Base& base = *folder.manifest;
    if (base.lsn() < horizon) {
      report.notes.push_back(fmt::format("base {}: below retention's horizon, being deleted", base.id()));
      continue;
    }
    if (base.empty()) {  // no dump: the manifest is the whole base
      report.good_bases.push_back(base);
      continue;
    }
    if (absl::StatusOr<fs::path> dump = repo.CheckedDump(base); !dump.ok()) {
      report.problems.push_back(
          {.base_id = base.id(), .from = pg::Lsn(), .to = pg::Lsn(), .what = std::string(dump.status().message())});
      continue;
    }
    report.good_bases.push_back(base);
  }
  std::sort(report.good_bases.begin(), report.good_bases.end(),
            [](const proto::Base& a, const proto::Base& b) { return a.lsn() < b.lsn(); });

  // --- the change log ---
  absl::StatusOr<ChangeLog::Check> check = log.VerifyScan(pg::Lsn(horizon), progress);
  if (!check.ok()) return check.status();
  for (ChangeLog::Check::Problem& p : check->problems) {
    report.problems.push_back({.base_id = "", .from = p.from, .to = p.to, .what = std::move(p.what)});
  }
  for (std::string& note : check->notes) report.notes.push_back(std::move(note));
  report.transactions_checked = check->transactions;
  report.changes_checked = check->changes;
  report.keys_checked = check->keys;

  // Breaks for the planner: recorded gaps, then damage.
  absl::StatusOr<std::vector<proto::Gap>> gaps = log.Gaps();
  if (gaps.ok()) {
    for (const proto::Gap& g : *gaps) {
      report.notes.push_back(fmt::format("gap recorded: commits after LSN {} and before {} are missing ({})",
                                         pg::Lsn(g.from_lsn()).ToString(), pg::Lsn(g.to_lsn()).ToString(), g.reason()));
      report.breaks.push_back(g);
    }
  }
  for (const VerifyProblem& p : report.problems) {
    if (!p.base_id.empty()) continue;
    proto::Gap g;
    g.set_from_lsn(p.from.value() == 0 ? 0 : p.from.value() - 1);
    g.set_to_lsn(p.to.value() == kMax ? kMax : p.to.value() + 1);
    g.set_reason("damaged");
    report.breaks.push_back(g);
  }
  return report;
}

}  // namespace pgpitr::wal
