// `lcde scan`: profiles an input without building, so a user can see a
// corpus before choosing ratios; `lcde build --dry-run` uses it to say how
// much input a plan needs.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lcde/config.h"
#include "lcde/status.h"

namespace lcde {

struct ScanOptions {
  double sample = 1.0;        // fraction of files read (the first ones in the seeded order)
  bool exact = false;         // tokenize every document; else estimate from bytes
  int threads = 0;            // 0 = ResolveThreads(0): the available cores
  uint64_t length_threshold = 4096;
  uint64_t seed = 0;          // file order, as `lcde build` visits files
  std::string tokenizer;      // model path; "" = estimate with 4 bytes per token
  InputConfig input;
  // When set, inputs are read as that build would read them (input groups
  // included) and `input` is ignored. Must outlive the scan.
  const Config* config = nullptr;
};

struct SourceProfile {
  uint64_t documents = 0;
  uint64_t tokens = 0;
  uint64_t bytes = 0;
  uint64_t long_tokens = 0;  // in documents at or over the threshold
  std::vector<uint32_t> lengths;  // token length of every document (sorted after Scan)
  uint64_t Percentile(double p) const;
};

struct ScanResult {
  std::string method;  // how token lengths were obtained, in words
  uint64_t files_total = 0, files_read = 0;
  uint64_t length_threshold = 0;
  uint64_t rejected = 0;
  std::map<std::string, SourceProfile> sources;
};

// REQUIRES: options.input.paths resolve (same rules as a build).
Result<ScanResult> Scan(const ScanOptions& options);

nlohmann::json ScanToJson(const ScanResult& result);
std::string FormatScan(const ScanResult& result);

// What a build plan needs from its input, per source, estimated from a scan
// of a sample: the `lcde build --dry-run` report.
std::string FormatPlan(const Config& config, const ScanResult& sample);

}  // namespace lcde
