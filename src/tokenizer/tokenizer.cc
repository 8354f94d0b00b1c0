// Tokenizer::Load: which member of the family a file is (family.h).
#include "lcde/tokenizer.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>

#include "family.h"
#include "lcde/config.h"
#include "lcde/sha256.h"

namespace lcde {

namespace {

Result<TokenizerMode> ResolveMode(TokenizerMode mode) {
  if (mode != TokenizerMode::kAuto) return mode;
  const char* env = std::getenv("LCDE_TOKENIZER");
  const std::string v = env ? env : "";
  if (v == "library") return TokenizerMode::kLibrary;
  if (v == "segments-library") return TokenizerMode::kSegmentsLibrary;
  if (!v.empty() && v != "auto") {
    return Status::InvalidConfig("LCDE_TOKENIZER='" + v + "': expected library, segments-library or auto");
  }
  return TokenizerMode::kAuto;
}

// A tokenizer.json is a JSON object: its first non-blank byte is '{'. A
// SentencePiece model is a protobuf, whose first byte is a field tag
// (0x0a for its pieces), never '{' or blank.
bool LooksLikeJson(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char c;
  while (in.get(c)) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    return c == '{';
  }
  return false;
}

}  // namespace

Tokenizer::~Tokenizer() = default;

uint64_t Tokenizer::TokensUpperBound(std::string_view text, uint64_t /*limit*/) const {
  return MaxTokensForBytes(text.size());
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& model_path) {
  return Load(model_path, TokenizerOptions());
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& model_path,
                                                   const TokenizerOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model_path, ec)) {
    return Status::NotFound("tokenizer model '" + model_path + "' does not exist or is not a file");
  }
  tok::LoadRequest request;
  request.path = model_path;
  request.options = options;
  Result<TokenizerMode> mode = ResolveMode(options.mode);
  if (!mode.ok()) return mode.status();
  request.mode = *mode;
  // Hashing the file runs beside the parsing: a few ms of a start-up that
  // every build and scan pays.
  std::future<Result<std::string>> sha = std::async(std::launch::async, Sha256File, model_path);
  Result<std::unique_ptr<Tokenizer>> tokenizer =
      LooksLikeJson(model_path) ? tok::LoadTokenizerJson(request) : tok::LoadSentencePiece(request);
  Result<std::string> digest = sha.get();
  if (!digest.ok()) return digest.status();
  if (tokenizer.ok()) (*tokenizer)->sha256_ = *digest;
  return tokenizer;
}

Status ResolveTokenizerConfig(const Tokenizer& tokenizer, TokenizerConfig* config) {
  if (config->bos_from_model) config->bos = tokenizer.adds_bos();
  if (config->eos_from_model) config->eos = tokenizer.adds_eos();
  config->bos_from_model = config->eos_from_model = false;
  if (!config->separator_token.empty()) {
    const int id = tokenizer.SpecialTokenId(config->separator_token);
    if (id < 0) {
      return Status::InvalidConfig("tokenizer.separator: '" + config->separator_token +
                                   "' is not a special token of " + tokenizer.model_path());
    }
    config->separator = id;
  }
  if (config->separator >= tokenizer.vocab_size()) {
    return Status::InvalidConfig("tokenizer.separator: id " + std::to_string(config->separator) +
                                 " is outside the vocabulary of " + std::to_string(tokenizer.vocab_size()));
  }
  if (config->bos && tokenizer.bos_id() < 0) {
    return Status::InvalidConfig("tokenizer.bos: " + tokenizer.model_path() + " defines no BOS token");
  }
  if (config->eos && tokenizer.eos_id() < 0) {
    return Status::InvalidConfig("tokenizer.eos: " + tokenizer.model_path() + " defines no EOS token");
  }
  return Status::Ok();
}

}  // namespace lcde
