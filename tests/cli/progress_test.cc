// Specification of the progress line: what it says (phase, done/total, rate, time left), and when it
// speaks: on a terminal it redraws one line; elsewhere a line per phase and at most one per 10 s.
// Time is a fake clock moved by hand.
#include "cli/progress.h"

#include <gtest/gtest.h>

namespace pgpitr::cli {
namespace {

using std::chrono::seconds;

struct Screen {
  std::string text;
  std::chrono::steady_clock::time_point now{};
  ProgressLine Line(bool terminal) {
    return ProgressLine(
        terminal, [this](std::string_view s) { text += s; }, [this] { return now; });
  }
};

TEST(ProgressLine, SaysPhaseDoneTotalRateAndTimeLeft) {
  const base::Progress p{
      .phase = base::Phase::kRestoreReplay, .done = 1200, .total = 5000, .unit = base::Unit::kTransactions};
  EXPECT_EQ(ProgressLine::Describe(p, seconds(4)),
            "replay: 1200/5000 transactions (24%), 300 transactions/s, 13 s left");
}

TEST(ProgressLine, TimeLeftGrowsIntoMinutesAndHours) {
  const base::Progress p{
      .phase = base::Phase::kRestoreReplay, .done = 100, .total = 100100, .unit = base::Unit::kTransactions};
  EXPECT_EQ(ProgressLine::Describe(p, seconds(10)),
            "replay: 100/100100 transactions (0%), 10 transactions/s, 2 h 46 min left");
  const base::Progress q{
      .phase = base::Phase::kRestoreReplay, .done = 100, .total = 1000, .unit = base::Unit::kTransactions};
  EXPECT_EQ(ProgressLine::Describe(q, seconds(10)),
            "replay: 100/1000 transactions (10%), 10 transactions/s, 1 min 30 s left");
}

TEST(ProgressLine, BytesAreHumanAndAnUnknownTotalShowsNoTimeLeft) {
  const base::Progress p{.phase = base::Phase::kBaseDump, .done = 30ull << 20, .total = 0, .unit = base::Unit::kBytes};
  EXPECT_EQ(ProgressLine::Describe(p, seconds(3)), "base dump (pg_dump): 30.0 MiB, 10.0 MiB/s");
}

TEST(ProgressLine, NothingDoneYetHasNoRate) {
  const base::Progress p{
      .phase = base::Phase::kRestoreReplay, .done = 0, .total = 10, .unit = base::Unit::kTransactions};
  EXPECT_EQ(ProgressLine::Describe(p, seconds(0)), "replay: 0/10 transactions (0%)");
  EXPECT_EQ(
      ProgressLine::Describe(
          {.phase = base::Phase::kRestoreSequences, .done = 0, .total = 0, .unit = base::Unit::kNone}, seconds(1)),
      "sequences...");
}

TEST(ProgressLine, TheRateIsMeasuredFromTheStartOfItsPhase) {
  Screen screen;
  ProgressLine line = screen.Line(false);
  line.Report({.phase = base::Phase::kRestoreSchema, .done = 0, .total = 0, .unit = base::Unit::kNone});
  screen.now += seconds(100);  // the base took long: the replay's rate must not count it
  line.Report({.phase = base::Phase::kRestoreReplay, .done = 0, .total = 1000, .unit = base::Unit::kTransactions});
  screen.now += seconds(10);
  line.Report({.phase = base::Phase::kRestoreReplay, .done = 500, .total = 1000, .unit = base::Unit::kTransactions});
  EXPECT_EQ(screen.text,
            "base: schema (pg_restore)...\n"
            "replay: 0/1000 transactions (0%)\n"
            "replay: 500/1000 transactions (50%), 50 transactions/s, 10 s left\n");
}

TEST(ProgressLine, OffATerminalItPrintsALinePerPhaseAndAtMostOneEveryTenSeconds) {
  Screen screen;
  ProgressLine line = screen.Line(false);
  for (uint64_t i = 0; i <= 100; ++i) {  // one report a second for 100 s
    line.Report({.phase = base::Phase::kVerifyChangeLog, .done = i, .total = 100, .unit = base::Unit::kKeys});
    screen.now += seconds(1);
  }
  line.Finish();
  size_t lines = 0;
  for (char c : screen.text) lines += c == '\n';
  EXPECT_EQ(lines, 11u) << screen.text;  // at 0 s, then every 10 s
  EXPECT_EQ(screen.text.find('\r'), std::string::npos) << "no terminal control off a terminal";
  EXPECT_EQ(screen.text.find("\033"), std::string::npos);
}

TEST(ProgressLine, OnATerminalItRedrawsOneLineAndEndsItOnce) {
  Screen screen;
  ProgressLine line = screen.Line(true);
  line.Report({.phase = base::Phase::kRestoreReplay, .done = 0, .total = 2, .unit = base::Unit::kTransactions});
  screen.now += seconds(1);
  line.Report({.phase = base::Phase::kRestoreReplay, .done = 1, .total = 2, .unit = base::Unit::kTransactions});
  screen.now += std::chrono::milliseconds(10);  // too soon to redraw, but the last one is always shown
  line.Report({.phase = base::Phase::kRestoreReplay, .done = 2, .total = 2, .unit = base::Unit::kTransactions});
  line.Finish();
  line.Finish();
  EXPECT_EQ(screen.text,
            "\r\033[Kreplay: 0/2 transactions (0%)"
            "\r\033[Kreplay: 1/2 transactions (50%), 1 transactions/s, 1 s left"
            "\r\033[Kreplay: 2/2 transactions (100%), 2 transactions/s\n");
}

TEST(ProgressLine, OnATerminalRedrawsAreThrottledButANewPhaseStartsANewLine) {
  Screen screen;
  ProgressLine line = screen.Line(true);
  line.Report({.phase = base::Phase::kVerifyBases, .done = 0, .total = 1000, .unit = base::Unit::kBases});
  for (uint64_t i = 1; i < 1000; ++i)
    line.Report({.phase = base::Phase::kVerifyBases, .done = i, .total = 1000, .unit = base::Unit::kBases});
  line.Report({.phase = base::Phase::kVerifyChangeLog, .done = 1, .total = 10, .unit = base::Unit::kKeys});
  EXPECT_EQ(screen.text,
            "\r\033[Kverify bases: 0/1000 bases (0%)\n"
            "\r\033[Kverify change log: 1/10 keys (10%)");
}

TEST(ProgressLine, FiguresForPeople) {
  EXPECT_EQ(FormatBytes(512), "512 bytes");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(3.5 * (1ull << 30)), "3.5 GiB");
  EXPECT_EQ(FormatSeconds(0.2), "1 s");
  EXPECT_EQ(FormatSeconds(65), "1 min 05 s");
  EXPECT_EQ(FormatSeconds(7260), "2 h 01 min");
}

}  // namespace
}  // namespace pgpitr::cli
