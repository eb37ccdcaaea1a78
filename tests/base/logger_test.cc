// Specification of the Logger: one line per event, levels below the minimum are dropped, and the
// JSON form is one parseable object per line.
#include "base/logger.h"

#include <gtest/gtest.h>

#include <vector>

#include "nlohmann/json.hpp"

namespace pgpitr::base {
namespace {

TEST(Logger, EventsBelowTheMinimumLevelAreDropped) {
  std::vector<std::string> seen;
  Logger log([&](std::string_view level,
                 std::string_view line) { seen.push_back(std::string(level) + ":" + std::string(line)); },
             LogLevel::kWarning);
  log.Debug("d {}", 1);
  log.Info("i {}", 2);
  log.Warn("w {}", 3);
  log.Error("e {}", 4);
  EXPECT_EQ(seen, (std::vector<std::string>{"warning:w 3", "error:e 4"}));
}

TEST(Logger, JsonLineIsOneObjectWithTimeLevelAndMessage) {
  const std::string line =
      FormatLogLine(LogFormat::kJson, "2026-11-25 10:00:00+00", "warning", "a \"quoted\"\nmessage");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["ts"], "2026-11-25 10:00:00+00");
  EXPECT_EQ(j["level"], "warning");
  EXPECT_EQ(j["msg"], "a \"quoted\"\nmessage");
}

TEST(Logger, JsonSurvivesInvalidUtf8) {
  const std::string line = FormatLogLine(LogFormat::kJson, "t", "error", "bad \xff byte");
  EXPECT_NO_THROW(nlohmann::json::parse(line));
}

TEST(Logger, TextLineIsOneLine) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, "T", "info", "two\nlines"), "T pgpitr info: two lines");
}

TEST(Logger, LevelAndFormatWords) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("warn"), LogLevel::kWarning);
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_FALSE(ParseLogLevel("loud").ok());
  EXPECT_FALSE(ParseLogFormat("xml").ok());
}

}  // namespace
}  // namespace pgpitr::base
