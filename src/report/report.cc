#include "lcde/report.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lcde/manifest.h"
#include "lcde/shard_writer.h"
#include "lcde/stats.h"
#include "lcde/svg_chart.h"
#include "lcde/version.h"
#include "report/report_sections.h"

namespace lcde {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// What a build leaves before its manifest: shards, their temporaries, a
// checkpoint, a job-array task's parts.
bool LooksLikeUnfinishedBuild(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("part-") || name.starts_with("checkpoint.") || name == "tasks" || name.ends_with(".tmp")) {
      return true;
    }
  }
  return false;
}

// Why DIR is no dataset, when it has no manifest.json.
Status NoDataset(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return Status::NotFound(dir + ": no such directory");
  if (!fs::is_directory(dir, ec)) return Status::NotFound(dir + ": not a directory (give a dataset's directory)");
  if (LooksLikeUnfinishedBuild(dir)) {
    return Status::NotFound(dir + ": an unfinished build (shard files but no manifest.json): finish it with "
                            "`lcde build --resume`, or `lcde merge` a job array's parts");
  }
  return Status::NotFound(dir + ": not an lcde dataset (no manifest.json)");
}

constexpr const char* kStyle = R"css(
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f;
       margin: 0 auto; padding: 16px 28px 48px; max-width: 1400px; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 17px; margin: 32px 0 4px; border-bottom: 1px solid #ddd; padding-bottom: 3px; }
p.intro { color: #555; margin: 2px 0 8px; max-width: 70em; }
nav a { margin-right: 12px; color: #0060a0; }
.figures { display: flex; flex-wrap: wrap; gap: 8px 20px; align-items: flex-start; }
figure { margin: 4px 0; }
.chart { background: #fff; overflow: visible; }
.chart-title { font-size: 12.5px; font-weight: 600; fill: #222; }
.tick { font-size: 10.5px; fill: #555; }
.axis-label { font-size: 11px; fill: #444; }
.grid { stroke: #e4e4e4; stroke-width: 1; }
.marker { stroke: #111; stroke-width: 2.5; }
.reference { stroke-width: 1; stroke-dasharray: 4 3; opacity: 0.8; }
.line { stroke-width: 1.8; }
.piece { stroke: #fff; stroke-width: 0.6; }
.legend { margin: 4px 0 6px; }
.key { display: inline-block; margin-right: 14px; font-size: 12.5px; white-space: nowrap; }
.swatch { display: inline-block; width: 11px; height: 11px; margin-right: 5px; vertical-align: -1px;
          border-radius: 2px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 12.5px; }
th, td { border: 1px solid #ddd; padding: 2px 7px; text-align: left; vertical-align: top; }
thead th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.identity td { max-width: 30em; overflow-wrap: anywhere; }
pre { font-size: 11px; max-height: 22em; overflow: auto; background: #f8f8f8; padding: 6px; }
.shortfall { color: #a00; }
.ok { color: #286428; }
)css";

std::string PageTitle(const std::vector<ReportArm>& arms) {
  if (arms.size() == 1) return "lcde report: " + arms.front().name;
  std::string names;
  for (const auto& arm : arms) names += (names.empty() ? "" : ", ") + arm.name;
  return "lcde report: " + std::to_string(arms.size()) + " datasets compared (" + names + ")";
}

// Names that more than one arm has.
std::vector<std::string> RepeatedNames(const std::vector<ReportArm>& arms) {
  std::vector<std::string> repeated;
  for (size_t i = 0; i < arms.size(); ++i) {
    for (size_t k = i + 1; k < arms.size(); ++k) {
      if (arms[i].name == arms[k].name) repeated.push_back(arms[i].name);
    }
  }
  return repeated;
}

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

Result<ReportArm> LoadReportArm(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(fs::path(dir) / kManifestName, ec)) return NoDataset(dir);
  auto manifest = ReadManifest(dir);  // refuses a newer format_version
  if (!manifest.ok()) return Status(manifest.status());
  const int version = (*manifest)["format_version"].get<int>();
  if (version < 1) {
    return Status::Corruption(dir + "/" + kManifestName + ": format_version " + std::to_string(version) +
                              " is not one lcde writes (1 to " + std::to_string(kFormatVersion) + ")");
  }
  auto stats = ComputeStats(dir, *manifest);
  if (!stats.ok()) return stats.status();
  ReportArm arm;
  fs::path path = fs::path(dir).lexically_normal();
  if (!path.has_filename()) path = path.parent_path();  // "out/" names "out"
  arm.name = path.filename().string();
  arm.dir = dir;
  arm.stats = StatsToJson(*stats, *manifest);
  arm.manifest = std::move(manifest.value());
  return arm;
}

Result<nlohmann::json> LoadScanJson(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(path + ": cannot open the scan (write it with `lcde scan --json > FILE`)");
  std::stringstream text;
  text << in.rdbuf();
  json scan = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (scan.is_discarded() || !scan.is_object() || !scan.contains("sources") || !scan["sources"].is_object()) {
    return Status::InvalidConfig(path + ": not the output of `lcde scan --json`");
  }
  return scan;
}

void MakeArmNamesDistinct(std::vector<ReportArm>* arms) {
  // First the parent directory's name (a/out, b/out), then, for what is
  // still repeated (the same directory twice), the arm's position.
  std::vector<std::string> repeated = RepeatedNames(*arms);
  for (auto& arm : *arms) {
    if (!Contains(repeated, arm.name)) continue;
    fs::path path = fs::path(arm.dir).lexically_normal();
    if (!path.has_filename()) path = path.parent_path();
    const std::string parent = path.parent_path().filename().string();
    if (!parent.empty()) arm.name = parent + "/" + arm.name;
  }
  repeated = RepeatedNames(*arms);
  for (size_t i = 0; i < arms->size(); ++i) {
    if (Contains(repeated, (*arms)[i].name)) (*arms)[i].name += " #" + std::to_string(i + 1);
  }
}

std::string RenderReport(const std::vector<ReportArm>& arms) {
  const std::string title = PageTitle(arms);
  std::string page = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                     "<meta name=\"generator\" content=\"lcde " + std::string(kVersion) + "\">\n<title>" +
                     svg::EscapeXml(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body data-arms=\"" +
                     std::to_string(arms.size()) + "\">\n<h1>" + svg::EscapeXml(title) + "</h1>\n";
  page += "<nav><a href=\"#share\">mixture</a><a href=\"#lengths\">lengths</a><a href=\"#input\">input</a>"
          "<a href=\"#docs-per-chunk\">documents per chunk</a><a href=\"#first-chunks\">first chunks</a>"
          "<a href=\"#along-dataset\">along the dataset</a><a href=\"#identity\">identity</a>"
          "<a href=\"#data\">numbers</a></nav>\n";
  page += report::ShareSection(arms);
  page += report::LengthSection(arms);
  page += report::InputSection(arms);
  page += report::DocsPerChunkSection(arms);
  page += report::FirstChunksSection(arms);
  page += report::AlongDatasetSection(arms);
  page += report::IdentitySection(arms);
  page += report::EmbeddedDataSection(arms);
  return page + "</body>\n</html>\n";
}

Status WriteReport(const ReportOptions& options) {
  if (options.datasets.empty()) return Status::InvalidConfig("report: give at least one dataset directory");
  if (options.output.empty()) return Status::InvalidConfig("report: give the output file (-o report.html)");
  if (options.scans.size() > 1 && options.scans.size() != options.datasets.size()) {
    return Status::InvalidConfig("report: " + std::to_string(options.scans.size()) + " --scan files for " +
                                 std::to_string(options.datasets.size()) +
                                 " datasets: give one for all, or one per dataset in the same order");
  }
  std::vector<ReportArm> arms;
  for (const auto& dir : options.datasets) {
    auto arm = LoadReportArm(dir);
    if (!arm.ok()) return arm.status();
    arms.push_back(std::move(arm.value()));
  }
  for (size_t i = 0; i < options.scans.size(); ++i) {
    auto scan = LoadScanJson(options.scans[i]);
    if (!scan.ok()) return scan.status();
    if (options.scans.size() == 1) {
      for (auto& arm : arms) arm.scan = *scan;
    } else {
      arms[i].scan = std::move(scan.value());
    }
  }
  MakeArmNamesDistinct(&arms);
  return WriteFileAtomically(options.output, RenderReport(arms));
}

}  // namespace lcde
