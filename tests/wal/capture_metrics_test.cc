// Specification of what `pgpitr run` exports: every family declared from the start (each error
// kind at 0), errors counted by kind, and the restorable window's newest stretch as gauges.
#include "wal/capture_metrics.h"

#include <gtest/gtest.h>

#include <string>

#include "fmt/format.h"

namespace pgpitr::wal {
namespace {

TEST(CaptureMetrics, CaptureFamiliesAreAllDeclared) {
  base::Metrics m;
  DeclareCaptureMetrics(m);
  const std::string page = m.Exposition();
  for (std::string_view name :
       {kCaptureLagBytes, kCaptureLagSeconds, kTransactionsCaptured, kRowsCaptured, kChangeLogBytes, kLastBaseTimestamp,
        kLastBaseSize, kWindowStart, kWindowEnd, kWindowStretches, kErrors, kSlotWalStatus}) {
    EXPECT_NE(page.find("# TYPE " + std::string(name) + " "), std::string::npos) << name;
  }
  EXPECT_NE(page.find("# TYPE pgpitr_transactions_captured_total counter\n"), std::string::npos);
  EXPECT_NE(page.find("# TYPE pgpitr_capture_lag_bytes gauge\n"), std::string::npos);
}

TEST(CaptureMetrics, EveryErrorKindRunCanHitIsExportedFromTheStart) {
  base::Metrics m;
  DeclareCaptureMetrics(m);
  const std::string page = m.Exposition();
  for (const char* kind : {"source", "slot", "base", "storage", "retention"}) {
    EXPECT_NE(page.find(fmt::format("pgpitr_errors_total{{kind=\"{}\"}} 0\n", kind)), std::string::npos) << kind << "\n"
                                                                                                         << page;
  }
}

TEST(CaptureMetrics, CountErrorAddsToItsKindOnly) {
  base::Metrics m;
  DeclareCaptureMetrics(m);
  CountError(m, ErrorKind::kStorage);
  CountError(m, ErrorKind::kStorage);
  CountError(m, ErrorKind::kSource);
  EXPECT_EQ(m.Value(kErrors, {{"kind", "storage"}}), 2);
  EXPECT_EQ(m.Value(kErrors, {{"kind", "source"}}), 1);
  EXPECT_EQ(m.Value(kErrors, {{"kind", "base"}}), 0);
  EXPECT_NE(m.Exposition().find("pgpitr_errors_total{kind=\"storage\"} 2\n"), std::string::npos);
}

TEST(CaptureMetrics, FailedBaseDecisionsAreBaseAndRetentionErrors) {
  base::Metrics m;
  DeclareCaptureMetrics(m);
  for (const char* decision : {"taken", "skipped", "retention deleted", "failed", "failed", "retention failed"}) {
    CountBaseDecision(m, decision);
  }
  EXPECT_EQ(m.Value(kErrors, {{"kind", "base"}}), 2);
  EXPECT_EQ(m.Value(kErrors, {{"kind", "retention"}}), 1);
  EXPECT_EQ(m.Value(kErrors, {{"kind", "slot"}}), 0);
}

proto::Base BaseAt(const std::string& id, uint64_t lsn, pg::PgTime consistent_time) {
  proto::Base b;
  b.set_id(id);
  b.set_lsn(lsn);
  b.set_consistent_time(consistent_time);
  return b;
}

TEST(CaptureMetrics, TheWindowIsTheNewestStretchAndTheirCount) {
  base::Metrics m;
  DeclareCaptureMetrics(m);
  ExportRestorableWindow(m, RestorableWindow());
  EXPECT_EQ(m.Value(kWindowStart), 0);
  EXPECT_EQ(m.Value(kWindowEnd), 0);
  EXPECT_EQ(m.Value(kWindowStretches), 0);

  proto::CaptureState state;
  state.set_log_start_lsn(0x100);
  state.set_captured_through_lsn(0x800);
  state.set_captured_through_time(800'000'000);
  proto::Gap gap;
  gap.set_from_lsn(0x3FF);
  gap.set_to_lsn(0x500);
  const RestorableWindow w = ComputeRestorableWindow(
      {BaseAt("before", 0x150, 150'000'000), BaseAt("after", 0x550, 550'000'000)}, state, {gap});
  ASSERT_EQ(w.stretches.size(), 2u);
  ExportRestorableWindow(m, w);
  EXPECT_EQ(m.Value(kWindowStretches), 2);
  EXPECT_DOUBLE_EQ(m.Value(kWindowStart), 946684800.0 + 550) << "the newest stretch starts at the base after the gap";
  EXPECT_DOUBLE_EQ(m.Value(kWindowEnd), 946684800.0 + 800);
}

}  // namespace
}  // namespace pgpitr::wal
