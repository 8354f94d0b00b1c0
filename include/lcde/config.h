// The one configuration struct of a build, loaded from YAML.
// Every key a user may write is a field here; its comment gives the default.
// Keys are a contract: never change a meaning, only add keys.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "lcde/status.h"

namespace lcde {

enum class Strategy {
  kNone,             // the weights as per-source budgets, no length change
  kGlobal,           // one budget; short documents kept with short_keep_ratio, any source
  kPerSource,        // per-source budgets; inside each, short kept with short_keep_ratio
  kUpsampleSources,  // kPerSource for sources in `upsample`, kNone for the others
};

const char* StrategyName(Strategy s);

struct InputConfig {
  std::vector<std::string> paths;                   // required (unless groups): files, directories, globs
  std::string text_key = "text";                    // top-level key holding the document
  std::string source_key = "meta.redpajama_set_name";  // dotted path to the source name
  // Set from input.groups, not keys of their own: a group's documents are
  // named "GROUP/SOURCE" (source_prefix "GROUP/"), or all "GROUP" when the
  // group has no source key (fixed_source).
  std::string source_prefix;
  std::string fixed_source;
};

// input.groups: several inputs mixed by weight (e.g. a CodeLlama-style 7:2:1
// mix of general, domain and instruction data). Each group's sources keep
// their own per-source rules; a source's share is the group's weight times
// its share within the group.
struct InputGroup {
  std::string name;                   // required; sources are named NAME/SOURCE
  double weight = 0;                  // required, > 0 (normalized over groups)
  InputConfig input;                  // paths (required), text_key, source_key ("" = one source NAME)
  std::map<std::string, double> weights;  // share of each source within the group (or preset)
};

struct TokenizerConfig {
  std::string model;  // required: a SentencePiece .model or a HF tokenizer.json (told apart by content)
  // Prepend BOS / append EOS to every document. Unset in the YAML: what the
  // model file adds (a LLaMA-2 .model: BOS, as the paper's code does; a
  // tokenizer.json: what its post-processor adds, Llama-3.1 BOS, Qwen3
  // nothing). ResolveTokenizerConfig (tokenizer.h) fills them in.
  bool bos = true;
  bool eos = false;
  bool bos_from_model = true;  // the YAML left `bos` unset
  bool eos_from_model = true;  // the YAML left `eos` unset
  // A token appended after every document (UltraLong style); -1 = none. The
  // YAML gives an id, or a special token's text ("<|end_of_text|>") kept in
  // separator_token until ResolveTokenizerConfig turns it into the id.
  int64_t separator = -1;
  std::string separator_token;
};

struct MixtureConfig {
  uint64_t total_tokens = 0;                 // required; decimal suffixes K/M/B/T (5B = 5e9)
  std::string weights_preset = "slimpajama";  // "slimpajama" or "" when `weights` is a map
  std::map<std::string, double> weights;      // source name -> token share (normalized)
  Strategy strategy = Strategy::kPerSource;   // none | global | per_source | upsample_sources
  std::vector<std::string> upsample;          // sources upsampled by upsample_sources
  uint64_t length_threshold = 4096;           // tokens; a document at or over it is "long"; binary suffixes (4K = 4096)
  double short_keep_ratio = 0.1;              // probability a short document is kept
  // What happens to documents whose source has no weight: "drop" (counted
  // under their own name and dropped), or the name of a weighted source whose
  // budget and length rule they share (still counted under their own name).
  std::string unknown_sources = "drop";
  // Instead of a fixed short_keep_ratio: the share of a source's tokens that
  // must come from long documents (e.g. 0.7), met exactly by splitting its
  // budget into a long part and a short part. Applies where the keep ratio
  // would; a number for every such source, or a map source -> fraction.
  // Empty = off.
  std::map<std::string, double> long_token_fraction;
  // UltraLong-style up-sampling by repetition: a document at or over
  // repeat_threshold tokens, of a source the strategy upsamples, appears up
  // to max_repeats times in the stream (the budget may cut the last copies).
  // Copies are spaced at least one output.sequence_length apart, so no chunk
  // holds two appearances of a document (except copies still pending when
  // the input or the budget ends, appended then). 1 = no repetition.
  uint32_t max_repeats = 1;
  uint64_t repeat_threshold = 8192;  // tokens; must be >= length_threshold; binary suffixes (8K = 8192)
  // Kept documents reach the packer interleaved across sources, so every
  // stretch of the dataset holds each source's target share (interleaver.h);
  // false: in the order they were read. Which documents are kept is the same.
  bool interleave = true;
};

struct OutputConfig {
  std::string dir;                      // required: output directory
  uint64_t sequence_length = 81920;     // tokens per chunk; binary suffixes (80K = 81920)
  uint64_t chunks_per_shard = 4096;     // chunks in each NAME.bin (the last may hold fewer)
  bool keep_partial_chunk = false;      // write the trailing partial chunk as a shorter sequence
};

struct ValidationConfig {
  // Tokens held out per source and per length class (short: under
  // mixture.length_threshold; long: at or over it), as whole documents, into
  // output.dir/validation/{short,long}. 0 = no validation set.
  uint64_t tokens_per_source = 0;
};

struct Config {
  uint64_t seed = 0;  // drives file order and every keep/drop draw
  InputConfig input;
  std::vector<InputGroup> groups;  // input.groups; empty = the single input above
  TokenizerConfig tokenizer;
  MixtureConfig mixture;
  OutputConfig output;
  ValidationConfig validation;
  int threads = 0;  // not a config key: --threads; 0 = the available cores (ResolveThreads)

  // The config as YAML text after defaults and presets were applied; the
  // manifest records it so a dataset says exactly how it was built.
  std::string ToYaml() const;
};

// SlimPajama's token shares as the paper's code sets them.
const std::map<std::string, double>& SlimPajamaWeights();

// Parses "5B", "100M", "1.5K", "4096" (decimal) into a count.
Result<uint64_t> ParseDecimalCount(const std::string& text);
// Parses "80K", "1M", "4096" (binary: K = 1024) into a length.
Result<uint64_t> ParseBinaryLength(const std::string& text);

// Loads and validates a config. Relative paths inside it are resolved against
// the directory holding the file. `overrides` are "dotted.key=value" pairs
// applied before validation (from --set).
// Fails with kInvalidConfig naming the key for an unknown key, a wrong type,
// a bad value; with kNotFound naming the path for a missing tokenizer model.
Result<Config> LoadConfig(const std::filesystem::path& file,
                          const std::vector<std::string>& overrides = {});
// Same, from YAML text; `base_dir` resolves relative paths.
Result<Config> ParseConfig(const std::string& yaml_text, const std::filesystem::path& base_dir,
                           const std::vector<std::string>& overrides = {});

}  // namespace lcde
