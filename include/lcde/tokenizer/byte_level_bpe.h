// The BPE model of a tokenizer.json (tokenizer_json.h) on the bytes of one
// pre-tokenizer piece: every byte starts as its own symbol (the byte-level
// alphabet maps each byte to one vocabulary character), merges by rank on
// the shared core (bpe_merge.h). With ignore_merges (Llama-3), a piece that
// is itself a vocabulary token is that token, as HF's BPE::tokenize checks
// before merging.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lcde/tokenizer/bpe_merge.h"
#include "lcde/tokenizer/string_index.h"
#include "lcde/tokenizer/tokenizer_json.h"

namespace lcde::tok {

class ByteLevelBpe {
 public:
  explicit ByteLevelBpe(const TokenizerJsonSpec& spec);

  // Appends the ids of `piece` (REQUIRES: not empty) to *out.
  void Encode(std::string_view piece, BpeWork* work, std::vector<int32_t>* out) const;

  size_t memory_bytes() const;

 private:
  int32_t byte_ids_[256];
  bool ignore_merges_;
  PairMerges<uint64_t> merges_;
  // For ignore_merges: the bytes of each model.vocab token (null views for
  // the ids that are only added tokens), and their index.
  std::vector<std::string> token_bytes_;
  std::vector<std::string_view> model_tokens_;
  std::unique_ptr<StringIndex> whole_;
};

}  // namespace lcde::tok
