// Stage 2: turn a document's text into token ids.
// The ids are exactly what the SentencePiece library's Encode returns for the
// text, with BOS/EOS added per the config; tests prove it on the real model.
//
// Speed: for models where it is provably exact (BPE, identity normalizer,
// LLaMA-style whitespace handling; see fast_tokenizer.h for the derivation),
// Encode splits the text at word boundaries into independent segments, looks
// each one up in a cache shared by all threads and encodes misses with a native
// re-implementation of the library's BPE. Any other model uses the library
// as is. encoder() says which path a Tokenizer took and encoder_note() why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lcde/status.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace lcde {

// How Encode() computes ids. Every mode returns the library's ids.
enum class TokenizerMode {
  kAuto,             // the fastest exact path the model allows
  kLibrary,          // the SentencePiece library on the whole text
  kSegmentsLibrary,  // segments + cache, cache misses encoded by the library
};

struct TokenizerOptions {
  // kAuto is overridden by the environment variable LCDE_TOKENIZER:
  // "library" | "segments-library" | "auto" (or unset/empty).
  TokenizerMode mode = TokenizerMode::kAuto;
  // Bound on the segment cache that all threads using this Tokenizer share
  // (0 disables it). It grows on demand up to this bound, then stops
  // inserting. The tuning knob LCDE_TOKENIZER_CACHE_MB overrides it.
  size_t cache_bytes = size_t{256} << 20;
  // Segments longer than this (bytes: a line without spaces, a run of
  // spaces) are encoded by the library rather than the native BPE. Both hold
  // memory proportional to the segment while encoding it: the native BPE at
  // most ~70 bytes per byte, the library ~220 (11 GB for a 50 MB line).
  size_t max_native_segment_bytes = size_t{1} << 30;
};

// The segment cache of one Tokenizer: the calling thread's lookups, and
// what the cache shared by all threads holds.
struct TokenizerCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;     // segments encoded (and offered to the cache)
  uint64_t uncached = 0;   // segments too long for the cache, encoded directly
  uint64_t refused = 0;    // misses not inserted: the cache had reached its bound
  uint64_t entries = 0;    // in the shared cache (approximate while threads insert)
  uint64_t bytes = 0;      // memory the shared cache holds now
};

class Tokenizer {
 public:
  // Loads a SentencePiece model file. Fails with kNotFound naming the path,
  // or kInvalidConfig when the file is not a SentencePiece model (or
  // LCDE_TOKENIZER holds an unknown value).
  static Result<std::unique_ptr<Tokenizer>> Load(const std::string& model_path);
  static Result<std::unique_ptr<Tokenizer>> Load(const std::string& model_path,
                                                 const TokenizerOptions& options);
  ~Tokenizer();

  // Appends to *ids: [BOS if add_bos] + Encode(text) + [EOS if add_eos].
  // Thread-safe: many threads may encode with one Tokenizer.
  Status Encode(std::string_view text, bool add_bos, bool add_eos, std::vector<int32_t>* ids) const;

  // Same result, always computed by the plain library (tests, benchmarks).
  Status EncodeWithLibrary(std::string_view text, bool add_bos, bool add_eos,
                           std::vector<int32_t>* ids) const;

  // An upper bound on the ids Encode() yields for `bytes` bytes of valid
  // UTF-8 (BOS/EOS not included), derived from the model's normalizer; a
  // huge value when the model gives no such bound.
  uint64_t MaxTokensForBytes(uint64_t bytes) const;

  // The text of `ids` (control ids such as BOS dropped).
  std::string Decode(std::span<const int32_t> ids) const;

  int vocab_size() const { return vocab_size_; }
  int bos_id() const { return bos_id_; }
  int eos_id() const { return eos_id_; }
  const std::string& model_path() const { return model_path_; }
  const std::string& sha256() const { return sha256_; }  // of the model file

  // The path Encode() takes: "segments+native-bpe", "segments+library" or
  // "library". Stable names, fit for the manifest and logs.
  const char* encoder() const;
  // Why encoder() is not "segments+native-bpe" ("" when it is).
  const std::string& encoder_note() const { return encoder_note_; }

  // The calling thread's counters and the shared cache's size (zeros when
  // there is no cache).
  TokenizerCacheStats CacheStats() const;
  // Empties the shared cache and the calling thread's counters (cold-cache
  // runs). REQUIRES: no other thread encodes with this Tokenizer meanwhile.
  void ClearCache() const;

  struct Fast;  // the fast path's state (src/tokenizer.cc)

 private:
  Tokenizer() = default;
  Status EncodeSegments(std::string_view text, std::vector<int32_t>* ids) const;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::shared_ptr<const Fast> fast_;  // null: the library path
  std::string encoder_note_;
  bool bytes_plus_one_ = false;
  std::string model_path_;
  std::string sha256_;
  int vocab_size_ = 0;
  int bos_id_ = -1;
  int eos_id_ = -1;
};

}  // namespace lcde
