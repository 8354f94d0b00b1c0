// Stage 2: turn a document's text into token ids.
// The ids are exactly what the SentencePiece library's Encode returns for the
// text, with BOS/EOS added per the config; tests prove it on the real model.
#pragma once

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

class Tokenizer {
 public:
  // Loads a SentencePiece model file. Fails with kNotFound naming the path,
  // or kInvalidConfig when the file is not a SentencePiece model.
  static Result<std::unique_ptr<Tokenizer>> Load(const std::string& model_path);
  ~Tokenizer();

  // Appends to *ids: [BOS if add_bos] + Encode(text) + [EOS if add_eos].
  // Thread-safe: many threads may encode with one Tokenizer.
  Status Encode(std::string_view text, bool add_bos, bool add_eos, std::vector<int32_t>* ids) const;

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

 private:
  Tokenizer() = default;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::string model_path_;
  std::string sha256_;
  int vocab_size_ = 0;
  int bos_id_ = -1;
  int eos_id_ = -1;
};

}  // namespace lcde
