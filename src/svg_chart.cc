#include "lcde/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "lcde/text.h"

namespace lcde::svg {

namespace {

// Plot geometry, in SVG user units (CSS pixels at 100%).
constexpr double kLeft = 56;        // y axis labels
constexpr double kTop = 28;         // title
constexpr double kPlotHeight = 150;
constexpr double kBottom = 64;      // category labels, drawn slanted
constexpr double kRight = 12;
constexpr double kBarWidth = 12;
constexpr double kGroupGap = 14;
constexpr double kMinPlotWidth = 300;
constexpr int kGridLines = 4;

std::string Fmt(const char* format, double a) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, a);
  return buf;
}

// Coordinates with two decimals: exact enough for pixels, short in the file.
std::string Px(double x) { return Fmt("%.2f", x); }

// The axis top: the largest value rounded up to 1, 2 or 5 times a power of
// ten, so grid lines fall on readable numbers.
double AxisTop(double largest) {
  if (!(largest > 0)) return 1;
  double power = std::pow(10.0, std::floor(std::log10(largest)));
  for (double step : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (largest <= step * power) return step * power;
  }
  return 10 * power;
}

std::string Open(const std::string& id, const std::string& title, double width, double height,
                 const std::string& extra_attributes) {
  std::string out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" width=\"" + Px(width) +
                    "\" height=\"" + Px(height) + "\" viewBox=\"0 0 " + Px(width) + " " + Px(height) +
                    "\" data-chart=\"" + EscapeXml(id) + "\"" + extra_attributes + ">\n";
  out += "<title>" + EscapeXml(title) + "</title>\n";
  out += "<text class=\"chart-title\" x=\"4\" y=\"16\">" + EscapeXml(title) + "</text>\n";
  return out;
}

// Horizontal grid lines and their labels from 0 to `top`.
std::string YAxis(double top, double plot_width, ValueFormat format) {
  std::string out;
  for (int i = 0; i <= kGridLines; ++i) {
    double value = top * i / kGridLines;
    double y = kTop + kPlotHeight * (1 - static_cast<double>(i) / kGridLines);
    out += "<line class=\"grid\" x1=\"" + Px(kLeft) + "\" x2=\"" + Px(kLeft + plot_width) + "\" y1=\"" + Px(y) +
           "\" y2=\"" + Px(y) + "\"/>";
    out += "<text class=\"tick\" x=\"" + Px(kLeft - 4) + "\" y=\"" + Px(y + 4) + "\" text-anchor=\"end\">" +
           FormatValue(value, format) + "</text>\n";
  }
  return out;
}

double ValueY(double value, double top) { return kTop + kPlotHeight * (1 - std::clamp(value / top, 0.0, 1.0)); }

// A label under the plot, slanted so long source names do not overlap.
std::string XLabel(double x, const std::string& text) {
  double y = kTop + kPlotHeight + 12;
  return "<text class=\"tick\" text-anchor=\"end\" transform=\"translate(" + Px(x) + "," + Px(y) +
         ") rotate(-30)\">" + EscapeXml(text) + "</text>\n";
}

}  // namespace

std::string EscapeXml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string ExactNumber(double value) { return nlohmann::json(value).dump(); }

std::string FormatValue(double value, ValueFormat format) {
  if (format == ValueFormat::kPercent) {
    const double percent = value * 100;  // whole percents without decimals: axis ticks read 25%, 12.5%
    return Fmt(std::abs(percent - std::round(percent)) < 1e-9 ? "%.0f%%" : "%.1f%%", percent);
  }
  return WithThousands(static_cast<uint64_t>(std::llround(std::max(0.0, value))));
}

std::string PaletteColor(size_t i) {
  // Okabe-Ito, then a few more: distinguishable with common colour blindness.
  static const char* kColors[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9",
                                  "#D55E00", "#F0E442", "#000000", "#999999", "#882255"};
  return kColors[i % (sizeof(kColors) / sizeof(kColors[0]))];
}

std::string RenderLegend(const std::vector<LegendEntry>& entries) {
  std::string out = "<div class=\"legend\">";
  for (const auto& e : entries) {
    out += "<span class=\"key\"><span class=\"swatch\" style=\"background:" + EscapeXml(e.color) + "\"></span>" +
           EscapeXml(e.name) + "</span>";
  }
  return out + "</div>\n";
}

std::string RenderBarChart(const BarChart& chart) {
  const double group_width = static_cast<double>(chart.series.size()) * kBarWidth + kGroupGap;
  const double plot_width = std::max(kMinPlotWidth, static_cast<double>(chart.categories.size()) * group_width);
  double largest = 0;
  for (const auto& s : chart.series) {
    for (double v : s.values) largest = std::max(largest, v);
    for (double m : s.markers) {
      if (!std::isnan(m)) largest = std::max(largest, m);
    }
  }
  const double top = AxisTop(largest);
  std::string out = Open(chart.id, chart.title, kLeft + plot_width + kRight, kTop + kPlotHeight + kBottom,
                         " data-kind=\"bars\" data-series=\"" + std::to_string(chart.series.size()) +
                             "\" data-categories=\"" + std::to_string(chart.categories.size()) + "\"");
  out += YAxis(top, plot_width, chart.format);
  for (size_t c = 0; c < chart.categories.size(); ++c) {
    const double group_x = kLeft + static_cast<double>(c) * group_width + kGroupGap / 2;
    for (size_t s = 0; s < chart.series.size(); ++s) {
      const Series& series = chart.series[s];
      const double value = series.values[c];
      const double x = group_x + static_cast<double>(s) * kBarWidth;
      const double y = ValueY(value, top);
      out += "<rect class=\"bar\" x=\"" + Px(x) + "\" y=\"" + Px(y) + "\" width=\"" + Px(kBarWidth - 1) +
             "\" height=\"" + Px(kTop + kPlotHeight - y) + "\" fill=\"" + EscapeXml(series.color) +
             "\" data-series=\"" + EscapeXml(series.name) + "\" data-category=\"" + EscapeXml(chart.categories[c]) +
             "\" data-value=\"" + ExactNumber(value) + "\"><title>" + EscapeXml(series.name) + ", " +
             EscapeXml(chart.categories[c]) + ": " + FormatValue(value, chart.format) + "</title></rect>";
      if (c < series.markers.size() && !std::isnan(series.markers[c])) {
        const double my = ValueY(series.markers[c], top);
        out += "<line class=\"marker\" x1=\"" + Px(x - 1) + "\" x2=\"" + Px(x + kBarWidth) + "\" y1=\"" + Px(my) +
               "\" y2=\"" + Px(my) + "\" data-series=\"" + EscapeXml(series.name) + "\" data-value=\"" +
               ExactNumber(series.markers[c]) + "\"><title>target " + FormatValue(series.markers[c], chart.format) +
               "</title></line>";
      }
      out += "\n";
    }
    out += XLabel(group_x + group_width / 2, chart.categories[c]);
  }
  return out + "</svg>\n";
}

std::string RenderLineChart(const LineChart& chart) {
  const size_t points = chart.x_ticks.size();
  const double plot_width = std::max(kMinPlotWidth, static_cast<double>(points) * 32.0);
  double largest = 0;
  for (const auto& s : chart.series) {
    for (double v : s.values) largest = std::max(largest, v);
    if (!s.markers.empty() && !std::isnan(s.markers[0])) largest = std::max(largest, s.markers[0]);
  }
  const double top = AxisTop(largest);
  auto x_of = [&](size_t i) {
    return points <= 1 ? kLeft + plot_width / 2
                       : kLeft + 10 + (plot_width - 20) * static_cast<double>(i) / static_cast<double>(points - 1);
  };
  std::string out = Open(chart.id, chart.title, kLeft + plot_width + kRight, kTop + kPlotHeight + kBottom,
                         " data-kind=\"lines\" data-series=\"" + std::to_string(chart.series.size()) +
                             "\" data-points=\"" + std::to_string(points) + "\"");
  out += YAxis(top, plot_width, chart.format);
  for (const auto& s : chart.series) {
    if (!s.markers.empty() && !std::isnan(s.markers[0])) {
      const double y = ValueY(s.markers[0], top);
      out += "<line class=\"reference\" stroke=\"" + EscapeXml(s.color) + "\" x1=\"" + Px(kLeft) + "\" x2=\"" +
             Px(kLeft + plot_width) + "\" y1=\"" + Px(y) + "\" y2=\"" + Px(y) + "\" data-series=\"" +
             EscapeXml(s.name) + "\" data-value=\"" + ExactNumber(s.markers[0]) + "\"/>\n";
    }
    std::string coordinates, values;
    for (size_t i = 0; i < points; ++i) {
      coordinates += (i ? " " : "") + Px(x_of(i)) + "," + Px(ValueY(s.values[i], top));
      values += (i ? " " : "") + ExactNumber(s.values[i]);
    }
    out += "<polyline class=\"line\" fill=\"none\" stroke=\"" + EscapeXml(s.color) + "\" points=\"" + coordinates +
           "\" data-series=\"" + EscapeXml(s.name) + "\" data-values=\"" + values + "\"/>\n";
    for (size_t i = 0; i < points; ++i) {
      out += "<circle class=\"point\" r=\"2.5\" fill=\"" + EscapeXml(s.color) + "\" cx=\"" + Px(x_of(i)) +
             "\" cy=\"" + Px(ValueY(s.values[i], top)) + "\" data-series=\"" + EscapeXml(s.name) +
             "\" data-value=\"" + ExactNumber(s.values[i]) + "\"><title>" + EscapeXml(s.name) + ", " +
             EscapeXml(chart.x_ticks[i]) + ": " + FormatValue(s.values[i], chart.format) + "</title></circle>";
    }
    out += "\n";
  }
  for (size_t i = 0; i < points; ++i) {
    out += "<text class=\"tick\" text-anchor=\"middle\" x=\"" + Px(x_of(i)) + "\" y=\"" +
           Px(kTop + kPlotHeight + 14) + "\">" + EscapeXml(chart.x_ticks[i]) + "</text>";
  }
  out += "<text class=\"axis-label\" text-anchor=\"middle\" x=\"" + Px(kLeft + plot_width / 2) + "\" y=\"" +
         Px(kTop + kPlotHeight + 34) + "\">" + EscapeXml(chart.x_label) + "</text>\n";
  return out + "</svg>\n";
}

std::string RenderStripChart(const StripChart& chart) {
  constexpr double kLabelWidth = 70, kRowHeight = 14, kRowGap = 3, kStripWidth = 460;
  double longest = 0;
  for (const auto& row : chart.rows) {
    double total = 0;
    for (const auto& p : row) total += p.value;
    longest = std::max(longest, total);
  }
  const double height = kTop + static_cast<double>(chart.rows.size()) * (kRowHeight + kRowGap) + 8;
  std::string out = Open(chart.id, chart.title, kLabelWidth + kStripWidth + kRight, height,
                         " data-kind=\"strip\" data-rows=\"" + std::to_string(chart.rows.size()) + "\"");
  for (size_t r = 0; r < chart.rows.size(); ++r) {
    const double y = kTop + static_cast<double>(r) * (kRowHeight + kRowGap);
    out += "<g class=\"row\" data-row=\"" + std::to_string(r) + "\" data-pieces=\"" +
           std::to_string(chart.rows[r].size()) + "\"><text class=\"tick\" x=\"" + Px(kLabelWidth - 6) +
           "\" y=\"" + Px(y + kRowHeight - 3) + "\" text-anchor=\"end\">" + EscapeXml(chart.row_labels[r]) + "</text>";
    double x = kLabelWidth;
    for (const auto& p : chart.rows[r]) {
      const double width = longest > 0 ? kStripWidth * p.value / longest : 0;
      out += "<rect class=\"piece\" x=\"" + Px(x) + "\" y=\"" + Px(y) + "\" width=\"" + Px(width) + "\" height=\"" +
             Px(kRowHeight) + "\" fill=\"" + EscapeXml(p.color) + "\" data-category=\"" + EscapeXml(p.category) +
             "\" data-value=\"" + ExactNumber(p.value) + "\"><title>" + EscapeXml(p.category) + ": " +
             FormatValue(p.value, ValueFormat::kCount) + " tokens</title></rect>";
      x += width;
    }
    out += "</g>\n";
  }
  return out + "</svg>\n";
}

}  // namespace lcde::svg
