// What a build's checkpoint (checkpoint.json) records and how it is read
// back: internal to `lcde build` (docs/FORMAT.md: its content may change
// between releases).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lcde/reader.h"
#include "lcde/repeat_queue.h"
#include "lcde/sampler.h"
#include "lcde/status.h"

namespace lcde {

// Everything the consuming thread has counted, as of the last entry it took.
// Saved in each checkpoint; restored by --resume.
struct BuildState {
  std::vector<uint64_t> file_lines, file_bytes;
  std::vector<uint8_t> file_touched;
  RejectStats rejects;
  uint64_t documents = 0;
  uint64_t kept = 0, dropped_short = 0, dropped_budget = 0, dropped_unknown = 0, truncated = 0;
  uint64_t held_out = 0;  // documents skipped because the validation set holds them
  uint64_t special_token_text = 0;  // kept documents whose text holds a special token's text
  // Where reading resumes: every entry before line `next_line` of input
  // file `next_file` was consumed (next_file = the file count: the input ended).
  uint32_t next_file = 0;
  uint64_t next_line = 0;

  explicit BuildState(size_t files) : file_lines(files, 0), file_bytes(files, 0), file_touched(files, 0) {}

  uint64_t lines() const { return Sum(file_lines); }
  uint64_t bytes() const { return Sum(file_bytes); }
  uint64_t files_read() const { return Sum(file_touched); }
  template <typename T>
  static uint64_t Sum(const std::vector<T>& v) {
    uint64_t n = 0;
    for (auto x : v) n += x;
    return n;
  }

  nlohmann::json ToJson() const;
  // REQUIRES: j came from ToJson() (kept in checkpoint.json); throws on a malformed one.
  void FromJson(const nlohmann::json& j);

  // Records a reject entry: counted, and kept as an example while few.
  void AddReject(RejectReason reason, const RejectExample* example) {
    if (example) {
      rejects.Add(reason, *example);
    } else {
      rejects.counts[static_cast<size_t>(reason)]++;
    }
  }
};

// Per-source sampler counters, and putting them back into a sampler.
nlohmann::json SourceCountsJson(const Sampler& sampler);
void RestoreSampler(const nlohmann::json& sources, Sampler* sampler);

// checkpoint.repeats.NNNNN: the token ids of the pending repeated copies at
// the checkpoint after NNNNN shards.
std::string RepeatsFileName(size_t shards);
// checkpoint.queues.NNNNN: the documents the interleaver held in memory at
// the checkpoint after NNNNN shards (spill records, interleaver.h).
std::string QueuesFileName(size_t shards);
// Reads a file a checkpoint names in `saved` ({"file", "sha256"}) from `dir`;
// kCorruption when it is missing or not what the checkpoint records.
Result<std::string> ReadCheckpointFile(const std::string& dir, const nlohmann::json& saved, const char* prefix);
// Reads back the repeat queue a checkpoint recorded (`saved`, with the file
// it names in `dir`); kCorruption when the file is not what it records.
Status RestoreRepeats(const std::string& dir, const nlohmann::json& saved, RepeatQueue* repeats);

}  // namespace lcde
