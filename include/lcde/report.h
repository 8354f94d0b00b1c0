// `lcde report`: one self-contained HTML page that shows a dataset, or
// compares several (the ablation arms built from one corpus) side by side.
// Inline SVG and CSS only: no script runs and nothing is fetched, so the page
// renders on an offline cluster node and as a ticket attachment.
// Every figure comes from StatsToJson (the code of `lcde stats --json`),
// which the page also embeds (docs/REPORT.md).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lcde/status.h"

namespace lcde {

// One dataset of a report: an "arm" of a comparison.
struct ReportArm {
  std::string name;         // the directory's base name; the legend shows it
  std::string dir;
  nlohmann::json manifest;
  nlohmann::json stats;     // StatsToJson(ComputeStats(dir, manifest), manifest)
  nlohmann::json scan;      // `lcde scan --json` of its input, or null
};

// Reads DIR's manifest and computes its stats.
// Fails naming DIR with kNotFound when DIR is missing, is not a dataset, or
// is an unfinished build (no manifest.json); with kCorruption when its
// format_version is not one this lcde reads or a shard file is malformed.
Result<ReportArm> LoadReportArm(const std::string& dir);

// Parses a file written by `lcde scan --json`.
// Fails naming the file with kNotFound (missing) or kInvalidConfig (not a
// scan's JSON).
Result<nlohmann::json> LoadScanJson(const std::string& path);

// The page for `arms`, in the given order (arm i gets colour i).
// REQUIRES: !arms.empty(); arm names distinct (MakeArmNamesDistinct).
std::string RenderReport(const std::vector<ReportArm>& arms);

// Two arms of the same base name (a/out, b/out) get their parent
// directory's name added, so the legend tells them apart.
void MakeArmNamesDistinct(std::vector<ReportArm>* arms);

struct ReportOptions {
  std::vector<std::string> datasets;  // dataset directories, one arm each
  // `lcde scan --json` files: none, one for every arm (arms built from one
  // corpus), or one per dataset in the same order.
  std::vector<std::string> scans;
  std::string output;  // the HTML file
};

// Loads every dataset and scan, renders, and writes options.output
// atomically (temporary file, rename): on any failure no file is left there.
// kInvalidConfig when no dataset is given, when output is empty, or when the
// scan count is neither 0, 1 nor the dataset count.
Status WriteReport(const ReportOptions& options);

}  // namespace lcde
