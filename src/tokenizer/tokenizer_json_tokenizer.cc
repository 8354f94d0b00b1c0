// The tokenizer.json member of the tokenizer family (tokenizer_json.h).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>

#include "family.h"
#include "lcde/tokenizer/byte_level_bpe.h"
#include "lcde/tokenizer/cached_segments.h"
#include "lcde/tokenizer/pretokenizer.h"
#include "lcde/tokenizer/tokenizer_json.h"
#include "lcde/tokenizer/unicode.h"

namespace lcde::tok {

namespace {

// Leftmost-longest search for a set of added tokens, as HF's
// AddedVocabulary does with aho-corasick (MatchKind::LeftmostLongest).
class AddedTokenMatcher {
 public:
  void Add(const AddedToken& t) {
    tokens_.push_back(t);
    if (t.content.size() == 1) {
      single_byte_[static_cast<uint8_t>(t.content[0])] = true;
    } else {
      first_two_[Pair(t.content.data())] = true;
    }
  }
  void Finish() {
    std::stable_sort(tokens_.begin(), tokens_.end(),
                     [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
  }
  bool empty() const { return tokens_.empty(); }
  // The leftmost match at or after `from` (the longest there), or null.
  // Positions are filtered by their first two bytes: a text with many '<'
  // (HTML, code) meets Llama-3's 256 specials, all "<|...", only at "<|".
  const AddedToken* Find(std::string_view text, size_t from, size_t* at) const {
    for (size_t i = from; i < text.size(); ++i) {
      const bool two = i + 1 < text.size() && first_two_[Pair(text.data() + i)];
      if (!two && !single_byte_[static_cast<uint8_t>(text[i])]) continue;
      for (const AddedToken& t : tokens_) {
        if (text.compare(i, t.content.size(), t.content) == 0) {
          *at = i;
          return &t;
        }
      }
    }
    return nullptr;
  }

 private:
  static size_t Pair(const char* p) { return static_cast<size_t>(static_cast<uint8_t>(p[0])) << 8 | static_cast<uint8_t>(p[1]); }

  std::vector<AddedToken> tokens_;
  bool single_byte_[256] = {};
  std::vector<bool> first_two_ = std::vector<bool>(65536, false);
};

// Per-thread buffers, reused between documents.
struct Scratch {
  BpeWork bpe;
  std::string normalized, prefixed;
  std::vector<Piece> pieces;
  NfcNormalizer nfc;
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

class TokenizerJsonTokenizer final : public Tokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> Load(const LoadRequest& request);

  Status Encode(std::string_view text, bool add_bos, bool add_eos, std::vector<int32_t>* ids) const override {
    return EncodeWith(text, add_bos, add_eos, /*reference=*/!fast_, ids);
  }
  Status EncodeReference(std::string_view text, bool add_bos, bool add_eos,
                         std::vector<int32_t>* ids) const override {
    return EncodeWith(text, add_bos, add_eos, /*reference=*/true, ids);
  }
  uint64_t MaxTokensForBytes(uint64_t bytes) const override;
  uint64_t TokensUpperBound(std::string_view text, uint64_t limit) const override;
  std::string Decode(std::span<const int32_t> ids) const override;
  int SpecialTokenId(std::string_view text) const override;
  bool ContainsSpecialTokenText(std::string_view text) const override {
    size_t at;
    return specials_.Find(text, 0, &at) != nullptr;
  }
  const char* encoder() const override {
    if (!fast_) return "reference";
    return pre_->all_fast() ? "pretokens+native-bpe" : "pretokens-onig+native-bpe";
  }
  TokenizerCacheStats CacheStats() const override { return segments_->Stats(); }
  void ClearCache() const override { segments_->Clear(); }

 private:
  TokenizerJsonTokenizer() = default;
  Status SetSpecialIds(const TokenizerJsonSpec& spec);
  Status EncodeWith(std::string_view text, bool add_bos, bool add_eos, bool reference,
                    std::vector<int32_t>* ids) const;
  // Phase 1-3 of the pipeline (tokenizer_json.h): added tokens, then
  // normalization, then the normalized added tokens; text runs go to
  // EncodeText.
  Status EncodeChunks(std::string_view text, bool reference, std::vector<int32_t>* ids) const;
  Status EncodeNormalized(std::string_view text, bool reference, std::vector<int32_t>* ids) const;
  Status EncodeText(std::string_view text, bool reference, std::vector<int32_t>* ids) const;
  class PretokenKeys;
  // TokensUpperBound of one text run (what EncodeText would encode).
  uint64_t TextUpperBound(std::string_view text, uint64_t limit) const;
  // Cuts `text` at the tokens of `m` (special ones stay text): calls
  // on_text(run) and on_token(id) in order.
  template <typename OnText>
  Status CutAtAddedTokens(const AddedTokenMatcher& m, std::string_view text, OnText&& on_text,
                          std::vector<int32_t>* ids) const;

  bool fast_ = true;  // false: every call is the reference
  bool nfc_ = false;
  bool add_prefix_space_ = false;
  std::vector<std::string> token_bytes_;
  std::unique_ptr<ByteLevelBpe> bpe_;
  std::unique_ptr<PreTokenizer> pre_, reference_pre_;
  AddedTokenMatcher raw_added_, normalized_added_, specials_;
  std::shared_ptr<CachedSegments> segments_;
};

Result<std::unique_ptr<Tokenizer>> TokenizerJsonTokenizer::Load(const LoadRequest& request) {
  std::string json;
  {
    std::ifstream in(request.path, std::ios::binary | std::ios::ate);
    if (!in) return Status::IOError("cannot read tokenizer '" + request.path + "'");
    json.resize(static_cast<size_t>(in.tellg()));
    in.seekg(0);
    if (!in.read(json.data(), static_cast<std::streamsize>(json.size()))) {
      return Status::IOError("cannot read tokenizer '" + request.path + "'");
    }
  }
  Result<TokenizerJsonSpec> spec = ParseTokenizerJson(json, request.path);
  if (!spec.ok()) return spec.status();

  std::unique_ptr<TokenizerJsonTokenizer> t(new TokenizerJsonTokenizer());
  t->kind_ = kTokenizerJsonKind;
  t->model_path_ = request.path;
  t->vocab_size_ = static_cast<int>(spec->token_bytes.size());
  LCDE_RETURN_IF_ERROR(t->SetSpecialIds(*spec));
  t->nfc_ = spec->nfc;
  t->add_prefix_space_ = spec->pre_tokenizer.add_prefix_space;
  t->bpe_ = std::make_unique<ByteLevelBpe>(*spec);
  auto pre = PreTokenizer::Make(spec->pre_tokenizer, /*use_fast_matchers=*/true);
  if (!pre.ok()) return Status::InvalidConfig("tokenizer '" + request.path + "': " + pre.status().message());
  t->pre_ = std::move(*pre);
  auto reference = PreTokenizer::Make(spec->pre_tokenizer, /*use_fast_matchers=*/false);
  if (!reference.ok()) return reference.status();
  t->reference_pre_ = std::move(*reference);
  for (const AddedToken& a : spec->added_tokens) {
    if (a.special) {
      t->specials_.Add(a);
    } else if (a.normalized && t->nfc_) {
      t->normalized_added_.Add(a);
    } else {
      t->raw_added_.Add(a);
    }
  }
  t->specials_.Finish();
  t->raw_added_.Finish();
  t->normalized_added_.Finish();
  auto bound = CachedSegments::BoundBytes(request.options.cache_bytes);
  if (!bound.ok()) return bound.status();
  t->segments_ = CachedSegments::Make(request.mode == TokenizerMode::kLibrary ? 0 : *bound);
  t->fast_ = request.mode != TokenizerMode::kLibrary;
  if (!t->fast_) {
    t->encoder_note_ = "library path requested: the reference (Oniguruma, uncached BPE)";
  } else if (!t->pre_->all_fast()) {
    t->encoder_note_ = "a pre-tokenizer regex without a hand-written matcher runs on Oniguruma";
  }
  t->token_bytes_ = std::move(spec->token_bytes);
  spdlog::debug("tokenizer {}: {} ids, {} merges, {}", request.path, t->vocab_size_, spec->merges.size(),
                t->encoder());
  return std::unique_ptr<Tokenizer>(std::move(t));
}

Status TokenizerJsonTokenizer::SetSpecialIds(const TokenizerJsonSpec& spec) {
  if (spec.prefix_ids.size() > 1 || spec.suffix_ids.size() > 1) {
    return Status::InvalidConfig("tokenizer '" + model_path_ +
                                 "': unsupported post_processor (it adds more than one token on one side)");
  }
  adds_bos_ = !spec.prefix_ids.empty();
  adds_eos_ = !spec.suffix_ids.empty();
  if (adds_bos_) bos_id_ = spec.prefix_ids[0];
  if (adds_eos_) eos_id_ = spec.suffix_ids[0];
  for (int id : {bos_id_, eos_id_}) {
    if (id >= vocab_size_) {
      return Status::InvalidConfig("tokenizer '" + model_path_ + "': post_processor id " + std::to_string(id) +
                                   " is outside the vocabulary");
    }
  }
  return Status::Ok();
}

Status TokenizerJsonTokenizer::EncodeWith(std::string_view text, bool add_bos, bool add_eos, bool reference,
                                          std::vector<int32_t>* ids) const {
  if (add_bos) {
    if (bos_id_ < 0) return Status::InvalidConfig("tokenizer.bos: the tokenizer.json adds no BOS token");
    ids->push_back(bos_id_);
  }
  if (!text.empty()) LCDE_RETURN_IF_ERROR(EncodeChunks(text, reference, ids));
  if (add_eos) {
    if (eos_id_ < 0) return Status::InvalidConfig("tokenizer.eos: the tokenizer.json adds no EOS token");
    ids->push_back(eos_id_);
  }
  return Status::Ok();
}

template <typename OnText>
Status TokenizerJsonTokenizer::CutAtAddedTokens(const AddedTokenMatcher& m, std::string_view text, OnText&& on_text,
                                                std::vector<int32_t>* ids) const {
  if (m.empty()) return on_text(text);
  size_t done = 0, at = 0;
  while (const AddedToken* t = m.Find(text, done, &at)) {
    if (at > done) LCDE_RETURN_IF_ERROR(on_text(text.substr(done, at - done)));
    ids->push_back(t->id);
    done = at + t->content.size();
  }
  if (done < text.size()) LCDE_RETURN_IF_ERROR(on_text(text.substr(done)));
  return Status::Ok();
}

Status TokenizerJsonTokenizer::EncodeChunks(std::string_view text, bool reference, std::vector<int32_t>* ids) const {
  return CutAtAddedTokens(
      raw_added_, text, [&](std::string_view run) { return EncodeNormalized(run, reference, ids); }, ids);
}

Status TokenizerJsonTokenizer::EncodeNormalized(std::string_view run, bool reference,
                                                std::vector<int32_t>* ids) const {
  if (!nfc_ || NfcNormalizer::TriviallyNormal(run)) {
    return CutAtAddedTokens(
        normalized_added_, run, [&](std::string_view r) { return EncodeText(r, reference, ids); }, ids);
  }
  // EncodeText uses the thread's other buffers, never this one.
  Scratch& s = ThreadScratch();
  std::string& normalized = s.normalized;
  s.nfc.Normalize(run, &normalized);
  return CutAtAddedTokens(
      normalized_added_, normalized, [&](std::string_view r) { return EncodeText(r, reference, ids); }, ids);
}

// Pretokens of one text run, as EncodeText and TextUpperBound walk them: a
// generator of segment keys over the run (with the model's prefix space),
// split by the fast or the reference pre-tokenizer into the thread's pieces.
class TokenizerJsonTokenizer::PretokenKeys {
 public:
  PretokenKeys(const TokenizerJsonTokenizer& t, std::string_view text, bool reference, Scratch& s)
      : pieces_(s.pieces) {
    if (t.add_prefix_space_ && text[0] != ' ') {
      s.prefixed.assign(1, ' ');
      s.prefixed.append(text);
      text = s.prefixed;
    }
    text_ = text;
    s.pieces.clear();
    (reference ? t.reference_pre_ : t.pre_)->Split(text_, &s.pieces);
  }
  bool operator()(std::string_view* key) {
    if (next_ == pieces_.size()) return false;
    *key = text_.substr(pieces_[next_].begin, pieces_[next_].size);
    ++next_;
    return true;
  }

 private:
  std::string_view text_;
  const std::vector<Piece>& pieces_;
  size_t next_ = 0;
};

Status TokenizerJsonTokenizer::EncodeText(std::string_view text, bool reference, std::vector<int32_t>* ids) const {
  Scratch& s = ThreadScratch();
  PretokenKeys keys(*this, text, reference, s);
  if (reference) {
    std::string_view key;
    while (keys(&key)) bpe_->Encode(key, &s.bpe, ids);
    return Status::Ok();
  }
  return segments_->Encode(
      keys,
      [&](std::string_view key, std::vector<int32_t>* out) {
        bpe_->Encode(key, &s.bpe, out);
        return Status::Ok();
      },
      ids);
}

// The cuts EncodeChunks makes, each added token counted as its one id, each
// normalized text run bounded from the cache (a byte-level id stands for at
// least one byte of its pretoken).
uint64_t TokenizerJsonTokenizer::TokensUpperBound(std::string_view text, uint64_t limit) const {
  const uint64_t whole = MaxTokensForBytes(text.size());
  if (!fast_ || text.empty() || !segments_->enabled()) return whole;
  thread_local std::vector<int32_t> added;
  added.clear();
  uint64_t bound = 0;
  auto remaining = [&] { return limit > bound ? limit - bound : 0; };
  auto on_text = [&](std::string_view r) {
    bound += TextUpperBound(r, remaining());
    return Status::Ok();
  };
  auto on_run = [&](std::string_view run) {
    if (!nfc_ || NfcNormalizer::TriviallyNormal(run)) return CutAtAddedTokens(normalized_added_, run, on_text, &added);
    Scratch& s = ThreadScratch();  // as EncodeNormalized: TextUpperBound uses other buffers
    s.nfc.Normalize(run, &s.normalized);
    return CutAtAddedTokens(normalized_added_, s.normalized, on_text, &added);
  };
  (void)CutAtAddedTokens(raw_added_, text, on_run, &added);  // the callbacks never fail
  return std::min(whole, bound + added.size());
}

uint64_t TokenizerJsonTokenizer::TextUpperBound(std::string_view text, uint64_t limit) const {
  PretokenKeys keys(*this, text, /*reference=*/false, ThreadScratch());
  return segments_->UpperBound(keys, [](std::string_view key) -> uint64_t { return key.size(); }, limit);
}

uint64_t TokenizerJsonTokenizer::MaxTokensForBytes(uint64_t bytes) const {
  // A byte-level BPE gives at most one id per byte, an added token at least
  // a byte per id; NFC makes UTF-8 at most 3x longer (bound taken as 4x);
  // the prefix space adds a byte.
  if (bytes >= UINT64_MAX / 16) return UINT64_MAX / 4;
  return (nfc_ ? 4 * bytes : bytes) + 1;
}

std::string TokenizerJsonTokenizer::Decode(std::span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (id >= 0 && static_cast<size_t>(id) < token_bytes_.size()) out += token_bytes_[static_cast<size_t>(id)];
  }
  return out;
}

int TokenizerJsonTokenizer::SpecialTokenId(std::string_view text) const {
  size_t at;
  const AddedToken* t = specials_.Find(text, 0, &at);
  return (t != nullptr && at == 0 && t->content.size() == text.size()) ? t->id : -1;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> LoadTokenizerJson(const LoadRequest& request) {
  return TokenizerJsonTokenizer::Load(request);
}

}  // namespace lcde::tok
