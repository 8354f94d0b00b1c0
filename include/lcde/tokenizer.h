// Stage 2: turn a document's text into token ids.
//
// The tokenizer is a family with one interface, Tokenizer, and two members
// that Load() tells apart by the file's content:
//   - a SentencePiece `.model` (LLaMA-2): ids exactly what the SentencePiece
//     library's Encode returns (include/lcde/tokenizer/sentencepiece.h);
//   - a Hugging Face `tokenizer.json` with a byte-level BPE (Llama-3.x,
//     Qwen2.5/3, DeepSeek, GPT-2 style): ids exactly what HF `tokenizers`
//     returns with encode_special_tokens = true, i.e. a special token's text
//     inside a document is ordinary text (include/lcde/tokenizer/tokenizer_json.h).
// Both split text into independent segments (words), look each one up in a
// cache shared by all threads (segment_cache.h) and encode misses with a
// native BPE on one shared core (bpe_merge.h). Tests prove the ids on the real
// models; encoder() says which path a Tokenizer took and encoder_note() why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lcde/status.h"

namespace lcde {

// How Encode() computes ids. Every mode returns the reference's ids.
enum class TokenizerMode {
  kAuto,             // the fastest exact path the model allows
  kLibrary,          // the reference on the whole text (EncodeReference)
  kSegmentsLibrary,  // segments + cache, cache misses encoded by the reference
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

// The two members of the family (stable names, fit for the manifest).
inline constexpr char kSentencePieceKind[] = "sentencepiece";
inline constexpr char kTokenizerJsonKind[] = "tokenizer.json";

class Tokenizer {
 public:
  // Loads a SentencePiece `.model` or a HF `tokenizer.json`, told apart by
  // content (a JSON object is a tokenizer.json, whatever the name). Fails
  // with kNotFound naming the path, or kInvalidConfig when the file is
  // neither, when a tokenizer.json uses a part lcde does not reproduce
  // exactly (the message names it), or when LCDE_TOKENIZER holds an unknown
  // value.
  static Result<std::unique_ptr<Tokenizer>> Load(const std::string& model_path);
  static Result<std::unique_ptr<Tokenizer>> Load(const std::string& model_path,
                                                 const TokenizerOptions& options);
  virtual ~Tokenizer();

  // Appends to *ids: [BOS if add_bos] + Encode(text) + [EOS if add_eos].
  // Thread-safe: many threads may encode with one Tokenizer.
  virtual Status Encode(std::string_view text, bool add_bos, bool add_eos,
                        std::vector<int32_t>* ids) const = 0;

  // Same result, computed by the reference the fast path is proven against
  // (tests, benchmarks): the SentencePiece library on the whole text, or for
  // a tokenizer.json the Oniguruma regex engine (the one HF `tokenizers`
  // uses) and an uncached BPE.
  virtual Status EncodeReference(std::string_view text, bool add_bos, bool add_eos,
                                 std::vector<int32_t>* ids) const = 0;

  // An upper bound on the ids Encode() yields for `bytes` bytes of valid
  // UTF-8 (BOS/EOS not included), derived from the model's normalizer; a
  // huge value when the model gives no such bound.
  virtual uint64_t MaxTokensForBytes(uint64_t bytes) const = 0;

  // An upper bound on the ids Encode(text) yields (BOS/EOS not included),
  // found without encoding: segments already in the cache count their ids,
  // the others a bound from their bytes. Much cheaper than Encode on text
  // whose words were seen before; lets the sampler drop a document that
  // lost the keep draw once it is certainly short. May stop counting once
  // the bound reaches `limit` (it then returns a value >= limit).
  // REQUIRES: text is valid UTF-8. Default: MaxTokensForBytes(text.size()).
  virtual uint64_t TokensUpperBound(std::string_view text, uint64_t limit) const;

  // The bytes `ids` stand for (SentencePiece drops control ids such as BOS;
  // a tokenizer.json keeps its special tokens' text). Not always valid
  // UTF-8: a byte-level id may hold part of a character.
  virtual std::string Decode(std::span<const int32_t> ids) const = 0;

  // The id of the special token whose text is `text` (a SentencePiece
  // control piece, or a tokenizer.json added token marked special), or -1.
  virtual int SpecialTokenId(std::string_view text) const = 0;
  // Whether `text` holds a special token's text (which Encode() tokenizes as
  // ordinary text). Always false for SentencePiece.
  virtual bool ContainsSpecialTokenText(std::string_view /*text*/) const { return false; }

  int vocab_size() const { return vocab_size_; }
  int bos_id() const { return bos_id_; }
  int eos_id() const { return eos_id_; }
  // What the model file itself adds around a document: LLaMA-2's
  // SentencePiece models a BOS; a tokenizer.json what its post-processor
  // adds (Llama-3.1: <|begin_of_text|>; Qwen3: nothing).
  bool adds_bos() const { return adds_bos_; }
  bool adds_eos() const { return adds_eos_; }
  const char* kind() const { return kind_; }
  const std::string& model_path() const { return model_path_; }
  const std::string& sha256() const { return sha256_; }  // of the model file

  // The path Encode() takes. SentencePiece: "segments+native-bpe",
  // "segments+library" or "library"; tokenizer.json: "pretokens+native-bpe"
  // (the fast pre-tokenizer for the regexes it knows) or
  // "pretokens-onig+native-bpe". Stable names, fit for the manifest and logs.
  virtual const char* encoder() const = 0;
  // Why encoder() is not the fastest path ("" when it is).
  const std::string& encoder_note() const { return encoder_note_; }

  // The calling thread's counters and the shared cache's size (zeros when
  // there is no cache).
  virtual TokenizerCacheStats CacheStats() const = 0;
  // Empties the shared cache and the calling thread's counters (cold-cache
  // runs). REQUIRES: no other thread encodes with this Tokenizer meanwhile.
  virtual void ClearCache() const = 0;

 protected:
  Tokenizer() = default;

  const char* kind_ = kSentencePieceKind;
  std::string encoder_note_;
  std::string model_path_;
  std::string sha256_;
  int vocab_size_ = 0;
  int bos_id_ = -1;
  int eos_id_ = -1;
  bool adds_bos_ = false;
  bool adds_eos_ = false;
};

struct TokenizerConfig;

// Fills in what `config` leaves to the model: bos/eos when unset (then
// marked as set), the separator's id when given as a token's text.
// kInvalidConfig when the separator text is not a single special token of
// the model, or an id is outside its vocabulary.
Status ResolveTokenizerConfig(const Tokenizer& tokenizer, TokenizerConfig* config);

}  // namespace lcde
