// The tokenizer.json member of the tokenizer family (tokenizer.h): a Hugging
// Face byte-level BPE, read from its JSON and reproduced exactly as HF
// `tokenizers` encodes with encode_special_tokens = true (a special token's
// text in a document is ordinary text; non-special added tokens, such as
// Qwen3's <think>, are still matched, as HF does).
//
// Pipeline, in HF's order (tokenizers/src/tokenizer/mod.rs):
//   1. added tokens: the text is cut at non-special added tokens, leftmost
//      longest (special ones are skipped and stay text);
//   2. normalizer: none, or NFC (utf8proc, unicode.h);
//   3. pre-tokenizer: Split regexes (behaviour Isolated) then ByteLevel, or
//      ByteLevel with its own GPT-2 regex (pretokenizer.h);
//   4. model: BPE over the bytes of each piece, merges by rank (bpe_merge.h),
//      ignore_merges honoured;
//   5. post-processor: the special tokens a TemplateProcessing (or
//      Roberta/Bert processing) puts around a single sequence are the
//      model's BOS/EOS.
// Anything else is refused at load with the part named: never a silent
// approximation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lcde/status.h"

namespace lcde::tok {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool normalized = false;
};

// What the pre-tokenizer does before the BPE sees the bytes.
struct PreTokenizerSpec {
  std::vector<std::string> split_patterns;  // Split regexes, applied in order (Isolated)
  bool gpt2_regex = false;                  // ByteLevel with use_regex: its GPT-2 pattern last
  bool add_prefix_space = false;            // ByteLevel prepends ' ' (only with nothing before it)
};

struct TokenizerJsonSpec {
  // The model: token bytes by id (vocabulary and added tokens; "" for ids
  // that are neither), merges in rank order as (left id, right id, merged id).
  std::vector<std::string> token_bytes;
  std::vector<bool> in_model_vocab;  // by id: model.vocab (not only an added token)
  struct Merge {
    int32_t left, right, merged;
  };
  std::vector<Merge> merges;
  int32_t byte_ids[256] = {};  // the id of each byte alone
  bool ignore_merges = false;
  bool nfc = false;
  PreTokenizerSpec pre_tokenizer;
  std::vector<AddedToken> added_tokens;
  std::vector<int32_t> prefix_ids, suffix_ids;  // what the post-processor puts around a sequence
};

// Parses a tokenizer.json. kInvalidConfig naming `path` and the unsupported
// or malformed part.
Result<TokenizerJsonSpec> ParseTokenizerJson(std::string_view json, const std::string& path);

// GPT-2's byte-level alphabet (tokenizers' bytes_char): the code point that
// stands for byte b in the vocabulary's strings.
uint32_t ByteLevelCodePoint(uint8_t b);

}  // namespace lcde::tok
