// The SVG charts of `lcde report`: the marks and their data-* attributes,
// which the report's tests and the browser test read the numbers from.
#include "lcde/svg_chart.h"

#include <gtest/gtest.h>

#include <cmath>
#include <regex>

namespace lcde::svg {
namespace {

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = 0; (at = text.find(needle, at)) != std::string::npos; at += needle.size()) ++n;
  return n;
}

// The data-value of every element of `mark_class`, in document order.
std::vector<std::string> Values(const std::string& svg, const std::string& mark_class) {
  std::vector<std::string> out;
  std::regex pattern("class=\"" + mark_class + "\"[^>]*data-value=\"([^\"]*)\"");
  for (std::sregex_iterator it(svg.begin(), svg.end(), pattern), end; it != end; ++it) out.push_back((*it)[1]);
  return out;
}

TEST(SvgChartTest, BarChartHasOneBarPerSeriesAndCategory) {
  BarChart chart{"share", "Share", {"A", "B", "C"}, {}, ValueFormat::kPercent};
  chart.series.push_back({"arm one", "#123456", {0.5, 0.25, 0.125}, {0.5, NAN, 0.1}});
  chart.series.push_back({"arm two", "#654321", {0.1, 0.2, 0.7}, {}});
  const std::string svg = RenderBarChart(chart);
  EXPECT_NE(svg.find("data-chart=\"share\" data-kind=\"bars\" data-series=\"2\" data-categories=\"3\""),
            std::string::npos)
      << svg;
  EXPECT_EQ(Count(svg, "class=\"bar\""), 6u);
  EXPECT_EQ(Values(svg, "bar"), (std::vector<std::string>{"0.5", "0.1", "0.25", "0.2", "0.125", "0.7"}));
  // A NaN marker draws nothing: two ticks for arm one, none for arm two.
  EXPECT_EQ(Values(svg, "marker"), (std::vector<std::string>{"0.5", "0.1"}));
  EXPECT_EQ(Count(svg, "data-series=\"arm two\""), 3u);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
}

TEST(SvgChartTest, BarHeightsScaleToTheAxis) {
  // Largest value 0.5: the axis tops at 50%, so a 0.5 bar is the full plot
  // height and a 0.25 bar half of it.
  BarChart chart{"x", "x", {"A", "B"}, {{"s", "red", {0.5, 0.25}, {}}}, ValueFormat::kPercent};
  const std::string svg = RenderBarChart(chart);
  std::regex height("class=\"bar\"[^>]*height=\"([0-9.]+)\"");
  std::vector<double> heights;
  for (std::sregex_iterator it(svg.begin(), svg.end(), height), end; it != end; ++it) {
    heights.push_back(std::stod((*it)[1]));
  }
  ASSERT_EQ(heights.size(), 2u);
  EXPECT_DOUBLE_EQ(heights[0], 2 * heights[1]);
  EXPECT_NE(svg.find(">50%</text>"), std::string::npos);
}

TEST(SvgChartTest, LineChartHasOneLinePerSeries) {
  LineChart chart{"along", "Along", "window", {"1", "2", "3"}, {}, ValueFormat::kPercent};
  chart.series.push_back({"A", "#111", {0.1, 0.2, 0.3}, {0.2}});
  chart.series.push_back({"B", "#222", {0.9, 0.8, 0.7}, {}});
  const std::string svg = RenderLineChart(chart);
  EXPECT_NE(svg.find("data-kind=\"lines\" data-series=\"2\" data-points=\"3\""), std::string::npos) << svg;
  EXPECT_EQ(Count(svg, "class=\"line\""), 2u);
  EXPECT_EQ(Count(svg, "class=\"point\""), 6u);
  EXPECT_NE(svg.find("data-series=\"A\" data-values=\"0.1 0.2 0.3\""), std::string::npos);
  EXPECT_EQ(Values(svg, "reference"), (std::vector<std::string>{"0.2"}));
}

TEST(SvgChartTest, StripChartRowsAndPieces) {
  StripChart strip{"first-chunks", "first", {"chunk 0", "chunk 1"}, {}};
  strip.rows.push_back({{"A", "#111", 10}, {"B", "#222", 6}});
  strip.rows.push_back({{"B", "#222", 16}});
  const std::string svg = RenderStripChart(strip);
  EXPECT_NE(svg.find("data-kind=\"strip\" data-rows=\"2\""), std::string::npos);
  EXPECT_EQ(Count(svg, "class=\"row\""), 2u);
  EXPECT_EQ(Values(svg, "piece"), (std::vector<std::string>{"10.0", "6.0", "16.0"}));
  // Both rows hold 16 tokens: both span the full strip width.
  EXPECT_NE(svg.find("width=\"460.00\" height=\"14.00\" fill=\"#222\""), std::string::npos) << svg;
}

TEST(SvgChartTest, NamesAreEscaped) {
  BarChart chart{"x", "a <b> & \"c\"", {"<cat>"}, {{"s'&", "red", {1}, {}}}, ValueFormat::kCount};
  const std::string svg = RenderBarChart(chart);
  EXPECT_EQ(svg.find("<b>"), std::string::npos);
  EXPECT_EQ(svg.find("<cat>"), std::string::npos);
  EXPECT_NE(svg.find("a &lt;b&gt; &amp; &quot;c&quot;"), std::string::npos);
  EXPECT_NE(svg.find("data-series=\"s&#39;&amp;\""), std::string::npos);
  EXPECT_EQ(RenderLegend({{"<x>", "red"}}).find("<x>"), std::string::npos);
}

TEST(SvgChartTest, ExactNumberReadsBackTheSameDouble) {
  for (double v : {0.0, 1.0 / 3, 0.5337477, 1e-9, 123456789.0}) {
    EXPECT_EQ(std::stod(ExactNumber(v)), v);
  }
  EXPECT_EQ(FormatValue(0.1234, ValueFormat::kPercent), "12.3%");
  EXPECT_EQ(FormatValue(0.125, ValueFormat::kPercent), "12.5%");
  EXPECT_EQ(FormatValue(0.25, ValueFormat::kPercent), "25%");
  EXPECT_EQ(FormatValue(1234567, ValueFormat::kCount), "1,234,567");
  EXPECT_NE(PaletteColor(0), PaletteColor(1));
}

}  // namespace
}  // namespace lcde::svg
