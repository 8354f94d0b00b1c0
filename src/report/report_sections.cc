#include "report/report_sections.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>

#include "lcde/stats.h"
#include "lcde/svg_chart.h"
#include "lcde/text.h"

namespace lcde::report {

namespace {

using nlohmann::json;
using svg::EscapeXml;

constexpr double kNoMarker = std::numeric_limits<double>::quiet_NaN();

// j[key], or null when j is no object or lacks it: old manifests lack keys.
const json& At(const json& j, const std::string& key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

// A manifest value as text: strings without their JSON quotes.
std::string Text(const json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }

double Number(const json& j) { return j.is_number() ? j.get<double>() : 0.0; }
uint64_t Count(const json& j) { return j.is_number() ? j.get<uint64_t>() : 0; }

std::string Percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f%%", 100.0 * x);
  return buf;
}

std::string Cell(const std::string& text) { return "<td>" + EscapeXml(text) + "</td>"; }
std::string NumberCell(const std::string& text) { return "<td class=\"num\">" + EscapeXml(text) + "</td>"; }

std::string Section(const std::string& id, const std::string& heading, const std::string& intro,
                    const std::string& body) {
  return "<section id=\"" + id + "\">\n<h2>" + EscapeXml(heading) + "</h2>\n<p class=\"intro\">" + intro +
         "</p>\n" + body + "</section>\n";
}

// A chart in a figure box; several sit side by side.
std::string Figure(const std::string& chart, const std::string& caption = "") {
  return "<figure>" + chart + (caption.empty() ? "" : "<figcaption>" + caption + "</figcaption>") + "</figure>\n";
}

std::vector<std::string> LengthBucketNames() {
  std::vector<std::string> names;
  for (size_t b = 0; b < kLengthBuckets; ++b) names.push_back(LengthBucketName(b));
  return names;
}

std::vector<svg::LegendEntry> ArmLegend(const std::vector<ReportArm>& arms) {
  std::vector<svg::LegendEntry> entries;
  for (size_t a = 0; a < arms.size(); ++a) entries.push_back({arms[a].name, ArmColor(a)});
  return entries;
}

std::vector<svg::LegendEntry> SourceLegend(const std::vector<std::string>& sources) {
  std::vector<svg::LegendEntry> entries;
  for (size_t s = 0; s < sources.size(); ++s) entries.push_back({sources[s], SourceColor(s)});
  return entries;
}

// One series per arm: `value(stats)` for each category.
template <typename ValueOf>
std::vector<svg::Series> ArmSeries(const std::vector<ReportArm>& arms, size_t categories, ValueOf value) {
  std::vector<svg::Series> series;
  for (size_t a = 0; a < arms.size(); ++a) {
    svg::Series s{arms[a].name, ArmColor(a), {}, {}};
    for (size_t c = 0; c < categories; ++c) s.values.push_back(value(arms[a].stats, c));
    series.push_back(std::move(s));
  }
  return series;
}

// The input's length distributions, from the scans: one series when every
// arm has the same scan (arms of one corpus), else one per arm with a scan.
// `buckets_of(scan)` is the scan's length_buckets object to chart.
template <typename BucketsOf>
std::vector<svg::Series> ScanSeries(const std::vector<ReportArm>& arms, BucketsOf buckets_of) {
  std::vector<svg::Series> series;
  bool one_scan = true;
  for (const auto& arm : arms) one_scan = one_scan && arm.scan == arms.front().scan;
  for (size_t a = 0; a < arms.size(); ++a) {
    if (arms[a].scan.is_null() || (one_scan && a > 0)) continue;
    svg::Series s{one_scan ? "input (scan)" : "input of " + arms[a].name, one_scan ? "#7f7f7f" : ArmColor(a) + "80",
                  {}, {}};
    const json& buckets = buckets_of(arms[a].scan);
    for (size_t b = 0; b < kLengthBuckets; ++b) s.values.push_back(Number(At(buckets, LengthBucketName(b))));
    series.push_back(std::move(s));
  }
  return series;
}

// A table of one row per source and one column group per arm.
template <typename CellsOf>
std::string SourceTable(const std::vector<ReportArm>& arms, const std::vector<std::string>& sources,
                        const std::vector<std::string>& columns, CellsOf cells_of) {
  std::string out = "<table class=\"numbers\"><thead><tr><th rowspan=\"2\">source</th>";
  for (const auto& arm : arms) {
    out += "<th colspan=\"" + std::to_string(columns.size()) + "\">" + EscapeXml(arm.name) + "</th>";
  }
  out += "</tr><tr>";
  for (size_t a = 0; a < arms.size(); ++a) {
    for (const auto& c : columns) out += "<th>" + EscapeXml(c) + "</th>";
  }
  out += "</tr></thead><tbody>\n";
  for (const auto& source : sources) {
    out += "<tr><th>" + EscapeXml(source) + "</th>";
    for (const auto& arm : arms) out += cells_of(arm, source);
    out += "</tr>\n";
  }
  return out + "</tbody></table>\n";
}

std::string ShortfallList(const std::vector<ReportArm>& arms) {
  std::string items;
  for (const auto& arm : arms) {
    const json& shortfall = At(At(arm.stats, "sampling"), "shortfall");
    if (!shortfall.is_object()) continue;
    for (const auto& [source, v] : shortfall.items()) {
      items += "<li><b>" + EscapeXml(arm.name) + "</b>: " + EscapeXml(source) + " is " +
               WithThousands(Count(At(v, "missing_tokens"))) + " of its " +
               WithThousands(Count(At(v, "budget_tokens"))) + " budget tokens short (its input ran out)</li>\n";
    }
  }
  if (items.empty()) return "<p class=\"ok\">No source ran out of input.</p>\n";
  return "<ul class=\"shortfall\" data-shortfalls>\n" + items + "</ul>\n";
}

}  // namespace

std::vector<std::string> ReportSources(const std::vector<ReportArm>& arms) {
  std::vector<std::string> names;
  auto add = [&](const std::string& name) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  };
  for (const auto& arm : arms) {
    for (const auto& s : At(arm.manifest, "sources")) add(s.value("name", ""));
    for (const auto& [name, v] : At(arm.stats, "sources").items()) add(name);
  }
  std::erase_if(names, [&](const std::string& name) {
    for (const auto& arm : arms) {
      const json& s = At(At(arm.stats, "sources"), name);
      if (Count(At(s, "tokens")) > 0 || Number(At(s, "target_share")) > 0) return false;
    }
    return true;
  });
  return names;
}

std::string ArmColor(size_t arm) { return svg::PaletteColor(arm); }
// Sources take the palette from its far end, so that in a one-arm report the
// arm's colour and the first source's differ.
std::string SourceColor(size_t source) { return svg::PaletteColor(source + 1); }

std::string ShareSection(const std::vector<ReportArm>& arms) {
  const auto sources = ReportSources(arms);
  svg::BarChart chart{"share", "Share of tokens by source (tick: target)", sources, {}, svg::ValueFormat::kPercent};
  chart.series = ArmSeries(arms, sources.size(), [&](const json& stats, size_t s) {
    return Number(At(At(At(stats, "sources"), sources[s]), "share"));
  });
  for (size_t a = 0; a < arms.size(); ++a) {
    for (const auto& source : sources) {
      double target = Number(At(At(At(arms[a].stats, "sources"), source), "target_share"));
      chart.series[a].markers.push_back(target > 0 ? target : kNoMarker);
    }
  }
  std::string table = SourceTable(arms, sources, {"share", "target"}, [](const ReportArm& arm, const std::string& s) {
    const json& source = At(At(arm.stats, "sources"), s);
    double target = Number(At(source, "target_share"));
    return NumberCell(Percent(Number(At(source, "share")))) + NumberCell(target > 0 ? Percent(target) : "-");
  });
  return Section("share", "Mixture: each source's share against its target",
                 "Tokens of each source in the dataset, as a share of all its tokens; the tick over a bar is the "
                 "share the config asked for.",
                 svg::RenderLegend(ArmLegend(arms)) + Figure(svg::RenderBarChart(chart)) + table +
                     ShortfallList(arms));
}

std::string LengthSection(const std::vector<ReportArm>& arms) {
  const auto sources = ReportSources(arms);
  const auto buckets = LengthBucketNames();
  svg::BarChart all{"length", "All sources: tokens by document length", buckets, {}, svg::ValueFormat::kPercent};
  all.series = ArmSeries(arms, buckets.size(), [&](const json& stats, size_t b) {
    return Number(At(At(stats, "length_buckets"), buckets[b]));
  });
  for (auto& s : ScanSeries(arms, [](const json& scan) -> const json& { return At(scan, "length_buckets"); })) {
    all.series.push_back(std::move(s));
  }
  std::string figures = Figure(svg::RenderBarChart(all));
  for (const auto& source : sources) {
    svg::BarChart chart{"length-source", source + ": tokens by document length", buckets, {},
                        svg::ValueFormat::kPercent};
    chart.series = ArmSeries(arms, buckets.size(), [&](const json& stats, size_t b) {
      return Number(At(At(At(At(stats, "sources"), source), "length_buckets"), buckets[b]));
    });
    for (auto& s : ScanSeries(arms, [&](const json& scan) -> const json& {
           return At(At(At(scan, "sources"), source), "length_buckets");
         })) {
      chart.series.push_back(std::move(s));
    }
    figures += Figure(svg::RenderBarChart(chart));
  }
  std::vector<svg::LegendEntry> legend = ArmLegend(arms);
  for (const auto& s : ScanSeries(arms, [](const json& scan) -> const json& { return At(scan, "length_buckets"); })) {
    legend.push_back({s.name, s.color});
  }
  std::string table = SourceTable(arms, sources, {"long", "target"}, [](const ReportArm& arm, const std::string& s) {
    const json& target = At(At(At(At(arm.stats, "sampling"), "long_token_fraction"), s), "target");
    return NumberCell(Percent(Number(At(At(At(arm.stats, "sources"), s), "long_token_fraction")))) +
           NumberCell(target.is_number() ? Percent(target.get<double>()) : "-");
  });
  std::string input_long;
  for (size_t a = 0; a < arms.size(); ++a) {
    const ReportArm& arm = arms[a];
    // Arms of one corpus share their scan: said once.
    if (arm.scan.is_null() || (a > 0 && arm.scan == arms[a - 1].scan)) continue;
    input_long += "<li>input of " + EscapeXml(arm.name) + ": " +
                  Percent(Number(At(arm.scan, "long_token_fraction"))) + " of tokens in documents of at least " +
                  WithThousands(Count(At(arm.scan, "length_threshold"))) + " tokens</li>";
  }
  if (!input_long.empty()) input_long = "<ul>" + input_long + "</ul>\n";
  return Section("lengths", "Lengths: tokens by the length of their document",
                 "Each bar is the share of a dataset's (or source's) tokens that come from documents in that length "
                 "bucket, by the document's full length. <i>long</i> is the share of tokens in documents at or over "
                 "the length threshold, against its target where the config set one." +
                     std::string(legend.size() > arms.size() ? " Grey: the input, from <code>lcde scan --json</code>."
                                                             : ""),
                 svg::RenderLegend(legend) + "<div class=\"figures\">" + figures + "</div>" + table + input_long);
}

std::string InputSection(const std::vector<ReportArm>& arms) {
  const auto sources = ReportSources(arms);
  std::string totals = "<ul>";
  for (const auto& arm : arms) {
    const json& reading = At(arm.stats, "reading");
    const json& sampling = At(arm.stats, "sampling");
    totals += "<li><b>" + EscapeXml(arm.name) + "</b>: " + WithThousands(Count(At(reading, "files_read"))) +
              " of " + WithThousands(Count(At(reading, "files"))) + " files read, " +
              WithThousands(Count(At(reading, "documents"))) + " documents, " +
              WithThousands(Count(At(reading, "rejected"))) + " lines rejected; " +
              WithThousands(Count(At(sampling, "kept"))) + " documents kept</li>";
  }
  totals += "</ul>\n";
  svg::BarChart kept{"kept-documents", "Documents kept by source", sources, {}, svg::ValueFormat::kCount};
  kept.series = ArmSeries(arms, sources.size(), [&](const json& stats, size_t s) {
    return Number(At(At(At(At(stats, "sampling"), "per_source"), sources[s]), "kept"));
  });
  std::string table = SourceTable(arms, sources, {"read", "kept", "short", "budget"},
                                  [](const ReportArm& arm, const std::string& s) {
                                    const json& c = At(At(At(arm.stats, "sampling"), "per_source"), s);
                                    return NumberCell(WithThousands(Count(At(c, "seen")))) +
                                           NumberCell(WithThousands(Count(At(c, "kept")))) +
                                           NumberCell(WithThousands(Count(At(c, "dropped_short")))) +
                                           NumberCell(WithThousands(Count(At(c, "dropped_budget"))));
                                  });
  return Section("input", "Input: documents read and kept",
                 "From each build's manifest: documents read per source, kept, dropped as short (the length "
                 "upsampling's keep draw) and dropped because the source's budget was full.",
                 totals + svg::RenderLegend(ArmLegend(arms)) + Figure(svg::RenderBarChart(kept)) + table);
}

std::string DocsPerChunkSection(const std::vector<ReportArm>& arms) {
  std::vector<std::string> buckets;
  for (size_t b = 0; b < kDocsPerChunkBuckets; ++b) buckets.push_back(DocsPerChunkBucketName(b));
  svg::BarChart chart{"docs-per-chunk", "Chunks by the documents they hold", buckets, {}, svg::ValueFormat::kCount};
  chart.series = ArmSeries(arms, buckets.size(), [&](const json& stats, size_t b) {
    return Number(At(At(stats, "docs_per_chunk_histogram"), buckets[b]));
  });
  std::string summary = "<ul>";
  for (const auto& arm : arms) {
    const json& d = At(arm.stats, "docs_per_chunk");
    char line[256];
    std::snprintf(line, sizeof(line), ": mean %.1f, median %" PRIu64 ", min %" PRIu64 ", max %" PRIu64,
                  Number(At(d, "mean")), Count(At(d, "median")), Count(At(d, "min")), Count(At(d, "max")));
    summary += "<li><b>" + EscapeXml(arm.name) + "</b>" + line + "</li>";
  }
  summary += "</ul>\n";
  return Section("docs-per-chunk", "Documents per chunk",
                 "How many document pieces a chunk (one training sequence) is packed from, counted in buckets of "
                 "powers of two.",
                 svg::RenderLegend(ArmLegend(arms)) + Figure(svg::RenderBarChart(chart)) + summary);
}

std::string FirstChunksSection(const std::vector<ReportArm>& arms) {
  const auto sources = ReportSources(arms);
  std::string figures;
  for (const auto& arm : arms) {
    svg::StripChart strip{"first-chunks", arm.name + ": the first chunks", {}, {}};
    const json& chunks = At(arm.stats, "first_chunks");
    for (size_t c = 0; c < chunks.size(); ++c) {
      strip.row_labels.push_back("chunk " + std::to_string(c));
      auto& row = strip.rows.emplace_back();
      for (const auto& piece : chunks[c]) {
        const std::string source = piece.at(0).get<std::string>();
        auto it = std::find(sources.begin(), sources.end(), source);
        row.push_back({source, SourceColor(static_cast<size_t>(it - sources.begin())), Number(piece.at(1))});
      }
    }
    figures += Figure(svg::RenderStripChart(strip));
  }
  return Section("first-chunks", "What a chunk is made of",
                 "The first " + std::to_string(kFirstChunks) +
                     " chunks of each dataset, piece by piece in token order, coloured by source (hover a piece for "
                     "its tokens).",
                 svg::RenderLegend(SourceLegend(sources)) + "<div class=\"figures\">" + figures + "</div>");
}

std::string AlongDatasetSection(const std::vector<ReportArm>& arms) {
  const auto sources = ReportSources(arms);
  std::vector<std::string> ticks;
  for (size_t w = 0; w < kMixtureWindows; ++w) ticks.push_back(std::to_string(w + 1));
  std::string figures;
  for (const auto& arm : arms) {
    svg::LineChart chart{"along-dataset", arm.name + ": share by window of chunks",
                         "window of chunks, first to last", ticks, {}, svg::ValueFormat::kPercent};
    for (size_t s = 0; s < sources.size(); ++s) {
      const json& along = At(At(At(arm.stats, "sources"), sources[s]), "along_dataset");
      svg::Series series{sources[s], SourceColor(s), {}, {Number(At(along, "reference_share"))}};
      const json& shares = At(along, "window_shares");
      for (size_t w = 0; w < kMixtureWindows; ++w) series.values.push_back(w < shares.size() ? Number(shares[w]) : 0);
      chart.series.push_back(std::move(series));
    }
    figures += Figure(svg::RenderLineChart(chart));
  }
  return Section("along-dataset", "The mixture along the dataset",
                 "The dataset's chunks cut into " + std::to_string(kMixtureWindows) +
                     " windows, first to last; each line is a source's share of a window's tokens, the dashed line "
                     "its target (or its share of the whole dataset). Flat lines: every stretch of the dataset, "
                     "and a run stopped early, gets the mixture.",
                 svg::RenderLegend(SourceLegend(sources)) + "<div class=\"figures\">" + figures + "</div>");
}

std::string IdentitySection(const std::vector<ReportArm>& arms) {
  struct Row {
    const char* label;
    std::string (*value)(const ReportArm&);
  };
  static const Row kRows[] = {
      {"directory", [](const ReportArm& a) { return a.dir; }},
      {"lcde version", [](const ReportArm& a) { return Text(At(a.manifest, "lcde_version")); }},
      {"format version", [](const ReportArm& a) { return Text(At(a.manifest, "format_version")); }},
      {"strategy", [](const ReportArm& a) { return Text(At(a.manifest, "strategy")); }},
      {"seed", [](const ReportArm& a) { return Text(At(a.manifest, "seed")); }},
      {"tokenizer", [](const ReportArm& a) { return Text(At(At(a.manifest, "tokenizer"), "model")); }},
      {"tokenizer sha256", [](const ReportArm& a) { return Text(At(At(a.manifest, "tokenizer"), "sha256")); }},
      {"sequence length", [](const ReportArm& a) { return WithThousands(Count(At(a.stats, "sequence_length"))); }},
      {"chunks", [](const ReportArm& a) { return WithThousands(Count(At(a.stats, "chunks"))); }},
      {"tokens", [](const ReportArm& a) { return WithThousands(Count(At(a.stats, "tokens"))); }},
      {"input files", [](const ReportArm& a) { return WithThousands(At(a.manifest, "inputs").size()); }},
  };
  std::string out = "<table class=\"identity\"><thead><tr><th></th>";
  for (size_t a = 0; a < arms.size(); ++a) {
    out += "<th><span class=\"swatch\" style=\"background:" + ArmColor(a) + "\"></span>" + EscapeXml(arms[a].name) +
           "</th>";
  }
  out += "</tr></thead><tbody>\n";
  for (const Row& row : kRows) {
    out += "<tr><th>" + std::string(row.label) + "</th>";
    for (const auto& arm : arms) out += Cell(row.value(arm));
    out += "</tr>\n";
  }
  out += "<tr><th>config, inputs</th>";
  for (const auto& arm : arms) {
    std::string inputs;
    for (const auto& input : At(arm.manifest, "inputs")) inputs += input.value("path", "") + "\n";
    out += "<td><details><summary>config</summary><pre>" + EscapeXml(At(arm.manifest, "config").dump(2)) +
           "</pre></details><details><summary>input files</summary><pre>" + EscapeXml(inputs) +
           "</pre></details></td>";
  }
  out += "</tr>\n</tbody></table>\n";
  return Section("identity", "Identity: what was built, from what",
                 "From each dataset's manifest.json: enough to rebuild it byte for byte.", out);
}

std::string EmbeddedDataSection(const std::vector<ReportArm>& arms) {
  json data = {{"arms", json::array()}};
  for (const auto& arm : arms) {
    data["arms"].push_back({{"name", arm.name}, {"dir", arm.dir}, {"stats", arm.stats}, {"scan", arm.scan}});
  }
  // "</" would end the block early; "<\/" is the same JSON string.
  std::string text = data.dump(1, ' ', false, json::error_handler_t::replace);
  for (size_t at = 0; (at = text.find("</", at)) != std::string::npos; at += 3) text.replace(at, 2, "<\\/");
  return Section("data", "The numbers",
                 "Every figure on this page is in the page as JSON: each arm's <code>lcde stats --json</code> "
                 "(and its scan), in the <code>&lt;script type=\"application/json\" id=\"lcde-report-data\"&gt;"
                 "</code> block of this file's source. It is data and does not run.",
                 "<script type=\"application/json\" id=\"lcde-report-data\">\n" + text + "\n</script>\n");
}

}  // namespace lcde::report
