#include "lcde/tokenizer.h"

#include <sentencepiece_processor.h>

#include <filesystem>

#include "lcde/shard_writer.h"

namespace lcde {

Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& model_path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model_path, ec)) {
    return Status::NotFound("tokenizer model '" + model_path + "' does not exist or is not a file");
  }
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->processor_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  auto st = t->processor_->Load(model_path);
  if (!st.ok()) {
    return Status::InvalidConfig("tokenizer model '" + model_path +
                                 "' is not a SentencePiece model: " + st.ToString());
  }
  t->model_path_ = model_path;
  t->vocab_size_ = t->processor_->GetPieceSize();
  t->bos_id_ = t->processor_->bos_id();
  t->eos_id_ = t->processor_->eos_id();
  Result<std::string> sha = Sha256File(model_path);
  if (!sha.ok()) return sha.status();
  t->sha256_ = *sha;
  return t;
}

Status Tokenizer::Encode(std::string_view text, bool add_bos, bool add_eos,
                         std::vector<int32_t>* ids) const {
  if (add_bos) {
    if (bos_id_ < 0) return Status::InvalidConfig("tokenizer.bos: the model defines no BOS id");
    ids->push_back(bos_id_);
  }
  // SentencePiece encodes into its own vector<int>; int and int32_t agree here.
  static_assert(sizeof(int) == sizeof(int32_t));
  thread_local std::vector<int> pieces;
  pieces.clear();
  auto st = processor_->Encode(absl::string_view(text.data(), text.size()), &pieces);
  if (!st.ok()) return Status::Corruption("SentencePiece Encode failed: " + st.ToString());
  ids->insert(ids->end(), pieces.begin(), pieces.end());
  if (add_eos) {
    if (eos_id_ < 0) return Status::InvalidConfig("tokenizer.eos: the model defines no EOS id");
    ids->push_back(eos_id_);
  }
  return Status::Ok();
}

uint64_t Tokenizer::MaxTokensForBytes(uint64_t bytes) const {
  // No bound is derived yet: every document is tokenized before the sampler
  // decides.
  return UINT64_MAX / 4;
}

std::string Tokenizer::Decode(std::span<const int32_t> ids) const {
  std::vector<int> v(ids.begin(), ids.end());
  std::string out;
  processor_->Decode(v, &out).IgnoreError();
  return out;
}

}  // namespace lcde
