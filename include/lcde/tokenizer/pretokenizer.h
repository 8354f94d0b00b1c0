// The pre-tokenizer of a byte-level BPE file (tokenizer_json.h): the text
// cut into pieces by a sequence of regexes, each piece then BPE-encoded on
// its own (so each piece is a segment of the shared cache).
//
// Every regex runs on Oniguruma, the engine HF `tokenizers` runs, as HF runs
// it (successive leftmost matches; the text between matches is a piece too;
// empty pieces dropped). The regexes these files use in practice — Llama-3's
// (\p{N}{1,3}), Qwen2/3's (\p{N}) and GPT-2's — also have a hand-written
// matcher that follows Oniguruma's backtracking alternative by alternative
// on Oniguruma's own character classes (unicode.h); tests compare the two on
// every character class boundary, the sample corpus and a hostile set.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lcde/status.h"
#include "lcde/tokenizer/tokenizer_json.h"

namespace lcde::tok {

// A piece: bytes [begin, begin + size) of the text given to Split.
struct Piece {
  uint32_t begin;
  uint32_t size;
};

// The known regexes (the exact pattern strings of the files).
enum class KnownPattern { kNone, kLlama3, kQwen2, kGpt2 };
KnownPattern RecognizePattern(std::string_view pattern);
// The pattern ByteLevel uses when use_regex is true.
extern const char kGpt2Pattern[];

class PreTokenizer {
 public:
  // Compiles every regex of `spec` (kInvalidConfig naming the pattern when
  // Oniguruma refuses one). use_fast_matchers = false runs every regex on
  // Oniguruma (the reference).
  static Result<std::unique_ptr<PreTokenizer>> Make(const PreTokenizerSpec& spec, bool use_fast_matchers);
  ~PreTokenizer();

  // Appends the pieces of `text` (valid UTF-8, under 4 GiB) to *pieces.
  // Thread-safe.
  void Split(std::string_view text, std::vector<Piece>* pieces) const;

  // Whether every regex has a hand-written matcher.
  bool all_fast() const;

 private:
  PreTokenizer() = default;
  struct Step;
  std::vector<std::unique_ptr<Step>> steps_;
};

}  // namespace lcde::tok
