// Inline SVG charts for `lcde report`: plain markup, no script, no font or
// file fetched, so a report renders offline and as an e-mail attachment.
// Every chart and mark carries data-* attributes (the chart's kind, its
// series and categories, each mark's exact value) so tests, and readers
// with a DOM tool, check the numbers without reading pixels.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lcde::svg {

// How values print on axes and in tooltips.
enum class ValueFormat { kPercent, kCount };

// One named, coloured row of values: an arm of a comparison, a source, or
// the input of a scan.
struct Series {
  std::string name;
  std::string color;            // any CSS colour
  std::vector<double> values;   // one per category
  // Optional, one per category: a reference drawn as a tick over the bar
  // (a target share); NaN where there is none.
  std::vector<double> markers;
};

// Bars grouped by category, one bar per series in each group.
// <svg data-chart=ID data-series=S data-categories=C>, each bar a
// <rect class="bar" data-series=NAME data-category=CAT data-value=V>.
struct BarChart {
  std::string id;  // data-chart
  std::string title;
  std::vector<std::string> categories;
  std::vector<Series> series;
  ValueFormat format = ValueFormat::kPercent;
};
// REQUIRES: each series has categories.size() values, and markers empty or
// of the same size.
std::string RenderBarChart(const BarChart& chart);

// Lines over x = 0..points-1, one polyline per series, a dot per point:
// <polyline class="line" data-series=NAME data-values="v0 v1 ...">, each dot
// a <circle class="point" data-value=V>. Series' markers, when given, draw
// as a dashed horizontal line at markers[0] (a reference level).
struct LineChart {
  std::string id;
  std::string title;
  std::string x_label;
  std::vector<std::string> x_ticks;  // one per point
  std::vector<Series> series;
  ValueFormat format = ValueFormat::kPercent;
};
// REQUIRES: every series has x_ticks.size() values.
std::string RenderLineChart(const LineChart& chart);

// Rows of pieces laid end to end, each row scaled to the longest row: what
// each chunk of a dataset is made of. Each row a <g class="row">, each piece
// a <rect class="piece" data-category=NAME data-value=TOKENS>.
struct StripPiece {
  std::string category;  // names the colour
  std::string color;
  double value = 0;
};
struct StripChart {
  std::string id;
  std::string title;
  std::vector<std::string> row_labels;
  std::vector<std::vector<StripPiece>> rows;
};
// REQUIRES: row_labels.size() == rows.size().
std::string RenderStripChart(const StripChart& chart);

// A colour key: a swatch and a name per entry, as HTML.
struct LegendEntry {
  std::string name;
  std::string color;
};
std::string RenderLegend(const std::vector<LegendEntry>& entries);

// The i-th colour of a palette that tells neighbours apart (cycles).
std::string PaletteColor(size_t i);

// Text made safe for HTML/SVG text and attribute values.
std::string EscapeXml(std::string_view text);
// A value as data-value holds it: the shortest text that reads back as the
// same double (nlohmann's number format, so it equals the stats JSON's).
std::string ExactNumber(double value);
// A value for people: "12.34%" or "1,234".
std::string FormatValue(double value, ValueFormat format);

}  // namespace lcde::svg
