// Validation sets: documents held out per source before training, disjoint
// from it by document, written as their own datasets split by length:
//   output.dir/validation/short/  documents under mixture.length_threshold
//   output.dir/validation/long/   documents at or over it
//   output.dir/validation/held_out.bin  the held-out document ids (sorted <u8)
// so per-domain loss on short and long documents can be measured (the
// paper's Table 5). Documents are taken whole, in input order, until each
// source's class holds validation.tokens_per_source tokens.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lcde/config.h"
#include "lcde/pipeline.h"
#include "lcde/status.h"
#include "lcde/tokenizer.h"

namespace lcde {

struct ValidationPlan {
  const Config* config = nullptr;
  const Tokenizer* tokenizer = nullptr;
  const InputFiles* files = nullptr;
  std::vector<uint32_t> order;  // file indices to read, ascending
  int threads = 0;
  std::string dir;              // the build's output directory
  nlohmann::json config_json;   // recorded in the validation manifests
};

// Builds the validation sets unless `dir`/validation is already complete
// (then only reads its held-out ids). Returns the sorted held-out ids.
Result<std::vector<uint64_t>> BuildValidation(const ValidationPlan& plan);

// validation/held_out.bin: the held-out document ids, sorted, <u8 each.
// kCorruption when the file is not a whole number of ids.
Result<std::vector<uint64_t>> ReadHeldOut(const std::filesystem::path& path);
// Writes `ids` sorted, through a temporary file and a rename.
Status WriteHeldOut(const std::filesystem::path& path, std::vector<uint64_t> ids);

}  // namespace lcde
