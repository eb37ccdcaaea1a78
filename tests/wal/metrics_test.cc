// Specification of Metrics: the text exposition format Prometheus scrapes (version 0.0.4): each
// declared family has # HELP and # TYPE lines, label values are escaped, values parse as floats.
#include "wal/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "fmt/format.h"

namespace pgpitr::wal {
namespace {

TEST(Metrics, FamiliesAppearInDeclarationOrderWithHelpAndType) {
  Metrics m;
  m.Declare("b_total", MetricType::kCounter, "Bs seen.");
  m.Declare("a_bytes", MetricType::kGauge, "Size of a.");
  m.Add("b_total", 2);
  m.Add("b_total", 3);
  m.Set("a_bytes", 1234567890123);
  EXPECT_EQ(m.Exposition(),
            "# HELP b_total Bs seen.\n"
            "# TYPE b_total counter\n"
            "b_total 5\n"
            "# HELP a_bytes Size of a.\n"
            "# TYPE a_bytes gauge\n"
            "a_bytes 1234567890123\n");
}

TEST(Metrics, UnsetFamilyShowsZero) {
  Metrics m;
  m.Declare("x", MetricType::kGauge, "X.");
  EXPECT_EQ(m.Exposition(), "# HELP x X.\n# TYPE x gauge\nx 0\n");
}

TEST(Metrics, LabelledSamplesAreSeparateAndEscaped) {
  Metrics m;
  m.Declare("errors_total", MetricType::kCounter, "Errors.");
  m.Add("errors_total", 1, {{"kind", "source"}});
  m.Add("errors_total", 1, {{"kind", "source"}});
  m.Add("errors_total", 1, {{"kind", "a\"b\\c\nd"}});
  const std::string page = m.Exposition();
  EXPECT_NE(page.find("errors_total{kind=\"source\"} 2\n"), std::string::npos) << page;
  EXPECT_NE(page.find("errors_total{kind=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << page;
  EXPECT_EQ(m.Value("errors_total", {{"kind", "source"}}), 2);
}

TEST(Metrics, ClearDropsAllSamplesOfAFamily) {
  Metrics m;
  m.Declare("status", MetricType::kGauge, "Status.");
  m.Set("status", 1, {{"wal_status", "reserved"}});
  m.Clear("status");
  m.Set("status", 1, {{"wal_status", "lost"}});
  const std::string page = m.Exposition();
  EXPECT_EQ(page.find("reserved"), std::string::npos) << page;
  EXPECT_NE(page.find("status{wal_status=\"lost\"} 1\n"), std::string::npos) << page;
}

TEST(Metrics, UndeclaredNamesAreIgnored) {
  Metrics m;
  m.Set("nope", 1);
  m.Add("nope", 1);
  EXPECT_EQ(m.Exposition(), "");
  EXPECT_EQ(m.Value("nope"), 0);
}

TEST(Metrics, HelpEscapesBackslashAndNewline) {
  Metrics m;
  m.Declare("x", MetricType::kGauge, "line\\one\ntwo");
  EXPECT_EQ(m.Exposition().substr(0, m.Exposition().find('\n') + 1), "# HELP x line\\\\one\\ntwo\n");
}

TEST(Metrics, ValuesFormatAsPrometheusParsesThem) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(-3), "-3");
  EXPECT_EQ(FormatMetricValue(1.5), "1.5");
  EXPECT_EQ(FormatMetricValue(1764079200.25), "1764079200.25");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_DOUBLE_EQ(std::stod(FormatMetricValue(1e300)), 1e300);
}

TEST(Metrics, CaptureFamiliesAreAllDeclared) {
  Metrics m;
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

TEST(Metrics, EveryErrorKindRunCanHitIsExportedFromTheStart) {
  Metrics m;
  DeclareCaptureMetrics(m);
  const std::string page = m.Exposition();
  for (const char* kind : {"source", "slot", "base", "storage", "retention"}) {
    EXPECT_NE(page.find(fmt::format("pgpitr_errors_total{{kind=\"{}\"}} 0\n", kind)), std::string::npos) << kind << "\n"
                                                                                                         << page;
  }
}

TEST(Metrics, CountErrorAddsToItsKindOnly) {
  Metrics m;
  DeclareCaptureMetrics(m);
  CountError(m, ErrorKind::kStorage);
  CountError(m, ErrorKind::kStorage);
  CountError(m, ErrorKind::kSource);
  EXPECT_EQ(m.Value(kErrors, {{"kind", "storage"}}), 2);
  EXPECT_EQ(m.Value(kErrors, {{"kind", "source"}}), 1);
  EXPECT_EQ(m.Value(kErrors, {{"kind", "base"}}), 0);
  EXPECT_NE(m.Exposition().find("pgpitr_errors_total{kind=\"storage\"} 2\n"), std::string::npos);
}

TEST(Metrics, FailedBaseDecisionsAreBaseAndRetentionErrors) {
  Metrics m;
  DeclareCaptureMetrics(m);
  for (const char* decision : {"taken", "skipped", "retention deleted", "failed", "failed", "retention failed"}) {
    CountBaseDecision(m, decision);
  }
  EXPECT_EQ(m.Value(kErrors, {{"kind", "base"}}), 2);
  EXPECT_EQ(m.Value(kErrors, {{"kind", "retention"}}), 1);
  EXPECT_EQ(m.Value(kErrors, {{"kind", "slot"}}), 0);
}

proto::Base BaseAt(const std::string& id, uint64_t lsn, PgTime consistent_time) {
  proto::Base b;
  b.set_id(id);
  b.set_lsn(lsn);
  b.set_consistent_time(consistent_time);
  return b;
}

TEST(Metrics, TheWindowIsTheNewestStretchAndTheirCount) {
  Metrics m;
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
