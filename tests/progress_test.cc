#include "lcde/progress.h"

#include <gtest/gtest.h>

#include <sstream>

#include <algorithm>
#include <cstdio>

namespace lcde {
namespace {

TEST(ProgressTest, LineShowsBudgetRateAndEta) {
  Progress p(1000000, stderr, false, 5.0);
  std::string line = p.Line(250000, 3000000, 10.0);
  EXPECT_NE(line.find("250.00K / 1.00M tokens (25.0%)"), std::string::npos) << line;
  EXPECT_NE(line.find("25.00Ktok/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 30s"), std::string::npos) << line;
}

TEST(ProgressTest, LogModePrintsPlainLinesAtTheInterval) {
  std::FILE* f = std::tmpfile();
  Progress p(100, f, false, 3600.0);
  p.Update(10, 0);  // inside the interval: nothing
  p.Finish(100, 0);
  std::rewind(f);
  char buf[512] = {};
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  std::string out(buf, n);
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find("100 / 100 tokens (100.0%)"), std::string::npos) << out;
}

TEST(ProgressTest, TerminalModeRedrawsInPlace) {
  std::FILE* f = std::tmpfile();
  Progress p(100, f, true, 5.0);
  p.Finish(50, 0);
  std::rewind(f);
  char buf[512] = {};
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  std::string out(buf, n);
  EXPECT_EQ(out[0], '\r');
  EXPECT_NE(out.find("\x1b[K"), std::string::npos);
}

// Long stage names widen the first column instead of pushing their row's
// numbers out of line.
TEST(ProgressTest, StageTableFitsTheLongestName) {
  StageTimes times;
  times.Add("load tokenizer", 0.25);
  times.Add("read + parse (reader thread, busy)", 1.5);
  times.Add("  readers waiting for read-ahead room", 0.125);
  std::istringstream in(times.Report());
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u);
  for (const auto& line : lines) EXPECT_EQ(line.size(), lines[0].size()) << times.Report();
  EXPECT_EQ(lines[2].find("1.500"), lines[1].find("0.250")) << times.Report();
}

}  // namespace
}  // namespace lcde
