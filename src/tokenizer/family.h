// The members of the tokenizer family, as Tokenizer::Load (tokenizer.cc)
// makes them once it has read the file's kind.
#pragma once

#include <memory>
#include <string>

#include "lcde/status.h"
#include "lcde/tokenizer.h"

namespace lcde::tok {

// What every member is given: the file and the resolved mode (the file's
// sha256 is Tokenizer::Load's, computed meanwhile).
struct LoadRequest {
  std::string path;
  TokenizerMode mode = TokenizerMode::kAuto;  // never kAuto's environment override: resolved
  TokenizerOptions options;
};

Result<std::unique_ptr<Tokenizer>> LoadSentencePiece(const LoadRequest& request);
Result<std::unique_ptr<Tokenizer>> LoadTokenizerJson(const LoadRequest& request);

}  // namespace lcde::tok
