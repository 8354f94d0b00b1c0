#include "lcde/tokenizer/byte_level_bpe.h"

namespace lcde::tok {

ByteLevelBpe::ByteLevelBpe(const TokenizerJsonSpec& spec) : ignore_merges_(spec.ignore_merges) {
  for (int b = 0; b < 256; ++b) byte_ids_[b] = spec.byte_ids[b];
  merges_.Init(spec.merges.size());
  // A pair listed twice keeps its last rank, as HF's HashMap collect does.
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const auto& m = spec.merges[rank];
    merges_.Put(m.left, m.right, static_cast<uint32_t>(rank), m.merged);
  }
  if (ignore_merges_) {
    token_bytes_ = spec.token_bytes;
    model_tokens_.resize(token_bytes_.size());
    for (size_t id = 0; id < token_bytes_.size(); ++id) {
      if (spec.in_model_vocab[id]) model_tokens_[id] = token_bytes_[id].empty() ? std::string_view("", 0) : token_bytes_[id];
    }
    whole_ = std::make_unique<StringIndex>(&model_tokens_);
  }
}

void ByteLevelBpe::Encode(std::string_view piece, BpeWork* work, std::vector<int32_t>* out) const {
  if (ignore_merges_) {
    if (const int32_t id = whole_->Find(piece); id >= 0) {
      out->push_back(id);
      return;
    }
  }
  const size_t n = piece.size();
  if (n == 1) {
    out->push_back(byte_ids_[static_cast<uint8_t>(piece[0])]);
    return;
  }
  work->Reserve(n);
  for (size_t i = 0; i < n; ++i) {
    work->key[i] = byte_ids_[static_cast<uint8_t>(piece[i])];
    work->len[i] = 1;
  }
  MergeSymbols(merges_, work, static_cast<int32_t>(n));
  for (int32_t i = 0; i != -1; i = work->next[static_cast<size_t>(i)]) out->push_back(work->key[static_cast<size_t>(i)]);
  work->Trim();
}

size_t ByteLevelBpe::memory_bytes() const {
  size_t bytes = merges_.memory_bytes() + model_tokens_.capacity() * sizeof(std::string_view);
  for (const auto& t : token_bytes_) bytes += t.capacity() + sizeof(t);
  return bytes;
}

}  // namespace lcde::tok
