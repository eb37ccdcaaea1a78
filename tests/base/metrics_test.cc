// Specification of Metrics: the text exposition format Prometheus scrapes (version 0.0.4): each
// declared family has # HELP and # TYPE lines, label values are escaped, values parse as floats.
#include "base/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "fmt/format.h"

namespace pgpitr::base {
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

}  // namespace
}  // namespace pgpitr::base
