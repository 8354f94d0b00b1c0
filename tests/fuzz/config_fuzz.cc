// libFuzzer target for the config loader (ParseConfig).
//
// The input up to its first NUL byte is the YAML text; each further
// NUL-separated piece (at most 8) is a --set override "dotted.key=value".
// Relative paths resolve against a fixed base directory.
//
// ParseConfig must never crash, throw or leak, and must fail only with
// kInvalidConfig and a message. When it succeeds the config must satisfy
// the validated ranges (include/lcde/config.h), and Config::ToYaml() -- what
// the manifest records -- must parse back to the same config: the same
// ToYaml() text and the same field values, weights bit for bit.
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "lcde/config.h"

namespace {

const std::filesystem::path kBaseDir = "/fuzz/base/dir";

void CheckValid(const lcde::Config& c, const std::string& yaml) {
  const char* y = yaml.c_str();
  FUZZ_CHECK(!c.input.paths.empty(), "no input paths\n%s", y);
  for (const auto& p : c.input.paths) {
    FUZZ_CHECK(p.empty() || std::filesystem::path(p).is_absolute(), "relative input path '%s'", p.c_str());
  }
  FUZZ_CHECK(!c.input.text_key.empty() && !c.input.source_key.empty(), "empty key\n%s", y);
  FUZZ_CHECK(std::filesystem::path(c.tokenizer.model).is_absolute(), "tokenizer.model '%s'",
             c.tokenizer.model.c_str());
  FUZZ_CHECK(std::filesystem::path(c.output.dir).is_absolute(), "output.dir '%s'", c.output.dir.c_str());
  FUZZ_CHECK(c.mixture.total_tokens > 0, "total_tokens 0\n%s", y);
  FUZZ_CHECK(c.mixture.length_threshold > 0, "length_threshold 0\n%s", y);
  FUZZ_CHECK(c.mixture.short_keep_ratio >= 0 && c.mixture.short_keep_ratio <= 1,
             "short_keep_ratio %g\n%s", c.mixture.short_keep_ratio, y);
  double sum = 0;
  for (const auto& [name, w] : c.mixture.weights) {
    FUZZ_CHECK(std::isfinite(w) && w >= 0, "weight %s = %g\n%s", name.c_str(), w, y);
    sum += w;
  }
  FUZZ_CHECK(sum > 0, "weights sum to %g\n%s", sum, y);
  FUZZ_CHECK(c.output.sequence_length >= 2 && c.output.sequence_length <= (uint64_t{1} << 31),
             "sequence_length %llu", static_cast<unsigned long long>(c.output.sequence_length));
  FUZZ_CHECK(c.output.chunks_per_shard > 0, "chunks_per_shard 0\n%s", y);
  if (c.mixture.strategy == lcde::Strategy::kUpsampleSources) {
    FUZZ_CHECK(!c.mixture.upsample.empty(), "upsample_sources without sources\n%s", y);
    for (const auto& s : c.mixture.upsample) {
      FUZZ_CHECK(c.mixture.weights.count(s), "upsample '%s' has no weight\n%s", s.c_str(), y);
    }
  } else {
    FUZZ_CHECK(c.mixture.upsample.empty(), "upsample without upsample_sources\n%s", y);
  }
  FUZZ_CHECK(c.mixture.unknown_sources == "drop" || c.mixture.weights.count(c.mixture.unknown_sources),
             "unknown_sources '%s'\n%s", c.mixture.unknown_sources.c_str(), y);
}

bool SameDouble(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0 || a == b; }

// Field by field (weights_preset aside: ToYaml writes a preset's weights out).
void CheckSame(const lcde::Config& a, const lcde::Config& b, const std::string& yaml) {
  const char* y = yaml.c_str();
  FUZZ_CHECK(a.seed == b.seed, "seed changed\n%s", y);
  FUZZ_CHECK(a.input.paths == b.input.paths, "input.paths changed\n%s", y);
  FUZZ_CHECK(a.input.text_key == b.input.text_key, "text_key changed\n%s", y);
  FUZZ_CHECK(a.input.source_key == b.input.source_key, "source_key changed\n%s", y);
  FUZZ_CHECK(a.tokenizer.model == b.tokenizer.model, "tokenizer.model changed\n%s", y);
  FUZZ_CHECK(a.tokenizer.bos == b.tokenizer.bos && a.tokenizer.eos == b.tokenizer.eos, "bos/eos\n%s", y);
  FUZZ_CHECK(a.mixture.total_tokens == b.mixture.total_tokens, "total_tokens changed\n%s", y);
  FUZZ_CHECK(a.mixture.weights.size() == b.mixture.weights.size(), "weights changed\n%s", y);
  for (const auto& [name, w] : a.mixture.weights) {
    auto it = b.mixture.weights.find(name);
    FUZZ_CHECK(it != b.mixture.weights.end(), "weight '%s' lost\n%s", name.c_str(), y);
    FUZZ_CHECK(SameDouble(w, it->second), "weight '%s' %.17g became %.17g\n%s", name.c_str(), w,
               it->second, y);
  }
  FUZZ_CHECK(a.mixture.strategy == b.mixture.strategy, "strategy changed\n%s", y);
  FUZZ_CHECK(a.mixture.upsample == b.mixture.upsample, "upsample changed\n%s", y);
  FUZZ_CHECK(a.mixture.length_threshold == b.mixture.length_threshold, "length_threshold\n%s", y);
  FUZZ_CHECK(SameDouble(a.mixture.short_keep_ratio, b.mixture.short_keep_ratio),
             "short_keep_ratio %.17g became %.17g\n%s", a.mixture.short_keep_ratio,
             b.mixture.short_keep_ratio, y);
  FUZZ_CHECK(a.mixture.unknown_sources == b.mixture.unknown_sources, "unknown_sources\n%s", y);
  FUZZ_CHECK(a.output.dir == b.output.dir, "output.dir changed\n%s", y);
  FUZZ_CHECK(a.output.sequence_length == b.output.sequence_length, "sequence_length\n%s", y);
  FUZZ_CHECK(a.output.chunks_per_shard == b.output.chunks_per_shard, "chunks_per_shard\n%s", y);
  FUZZ_CHECK(a.output.keep_partial_chunk == b.output.keep_partial_chunk, "keep_partial_chunk\n%s", y);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) { return 0; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  std::string yaml(in.substr(0, nul));
  std::vector<std::string> overrides;
  while (nul != std::string_view::npos && overrides.size() < 8) {
    size_t next = in.find('\0', nul + 1);
    overrides.emplace_back(in.substr(nul + 1, next == std::string_view::npos ? next : next - nul - 1));
    nul = next;
  }

  // No try/catch: an exception escaping ParseConfig is a bug (it promises a Status).
  lcde::Result<lcde::Config> c = lcde::ParseConfig(yaml, kBaseDir, overrides);
  if (!c.ok()) {
    FUZZ_CHECK(c.status().code() == lcde::Status::Code::kInvalidConfig, "failed with %s",
               c.status().ToString().c_str());
    FUZZ_CHECK(!c.status().message().empty(), "failure without a message");
    return 0;
  }
  CheckValid(*c, yaml);

  std::string y1 = c->ToYaml();
  lcde::Result<lcde::Config> c2 = lcde::ParseConfig(y1, kBaseDir);
  FUZZ_CHECK(c2.ok(), "ToYaml() does not parse back: %s\n--- ToYaml():\n%s--- input:\n%s",
             c2.status().ToString().c_str(), y1.c_str(), yaml.c_str());
  CheckSame(*c, *c2, y1);
  std::string y2 = c2->ToYaml();
  FUZZ_CHECK(y1 == y2, "ToYaml() is not stable:\n--- first:\n%s--- second:\n%s", y1.c_str(), y2.c_str());
  return 0;
}
