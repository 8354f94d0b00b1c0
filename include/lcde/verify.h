// `lcde verify`: re-derives everything a dataset claims and names each
// defect: file checksums and sizes against the manifest, every .idx against
// the Megatron layout and its .bin, every .seg record against its chunk, the
// manifest's totals and stats against the files.
#pragma once

#include <string>
#include <vector>

#include "lcde/status.h"

namespace lcde {

struct VerifyReport {
  std::vector<std::string> defects;  // one line each, naming the file
  uint64_t shards = 0, chunks = 0, tokens = 0, segments = 0;
  bool ok() const { return defects.empty(); }
};

// Fails only when the directory has no readable manifest; every other
// problem is a defect in the report.
Result<VerifyReport> VerifyDataset(const std::string& dir);

}  // namespace lcde
