// The SentencePiece member of the tokenizer family (sentencepiece.h).
#include <sentencepiece_processor.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <future>

#include "family.h"
#include "lcde/tokenizer/cached_segments.h"
#include "lcde/tokenizer/sentencepiece.h"

namespace lcde::tok {

namespace {

Status LibraryEncode(const sentencepiece::SentencePieceProcessor& sp, std::string_view text,
                     std::vector<int>* pieces) {
  pieces->clear();
  auto st = sp.Encode(absl::string_view(text.data(), text.size()), pieces);
  if (!st.ok()) return Status::Corruption("SentencePiece Encode failed: " + st.ToString());
  return Status::Ok();
}

// Texts that exercise the fast path's corners; Load compares the fast path
// with the library on them (and on the model's own pieces) before using it.
std::vector<std::string> SelfTestTexts(const SpmModelInfo& info) {
  std::vector<std::string> texts = {
      "Hello world",
      " ",
      "  ",
      "a ",
      "a  ",
      "  leading and trailing  ",
      "tabs\tand\nnewlines\r\n  indented\n",
      "\xe2\x96\x81",
      "\xe2\x96\x81\xe2\x96\x81x \xe2\x96\x81 y\xe2\x96\x81",
      " \xe2\x96\x81 ",
      "\xe2\x96\x81 lead",
      "digits 3.14159 2024-11-25 1,000,000",
      "中文字符 and 日本語テキスト 한국어",
      "emoji 😀🎉👍🏽 mixed",
      std::string("nul\0byte \0", 10),
      "bad \xff\xfe utf8 \xe2\x96 \xc3 \xed\xa0\x80 \xf4\x90\x80\x80 end\xe2",
      "\xef\xbf\xbd replacement",
      "Ünïcödé façade — naïve “quotes” …",
      "{\"json\": [1, 2, 3], \"k\": null}",
      "    def f(x):\n        return x ** 2  # comment\n",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "                                                                ",
  };
  // The model's own pieces, with "▁" shown as a space, in a few long texts.
  std::string text;
  int in_text = 0;
  for (size_t i = 0; i < info.pieces.size(); i += 7) {
    const auto& p = info.pieces[i];
    if (p.type != kNormal && p.type != kUserDefined) continue;
    std::string s = p.piece;
    for (size_t pos; (pos = s.find("\xe2\x96\x81")) != std::string::npos;) s.replace(pos, 3, " ");
    text += s;
    if (i % 3 == 0) text += ' ';
    if (++in_text == 200) {
      texts.push_back(std::move(text));
      text.clear();
      in_text = 0;
    }
  }
  if (!text.empty()) texts.push_back(std::move(text));
  return texts;
}

// Whether the parsed proto says what the library says about every piece.
bool AgreesWithLibrary(const SpmModelInfo& info, const sentencepiece::SentencePieceProcessor& sp,
                       std::string* why) {
  if (static_cast<int>(info.pieces.size()) != sp.GetPieceSize()) {
    *why = "parsed " + std::to_string(info.pieces.size()) + " pieces, the library has " +
           std::to_string(sp.GetPieceSize());
    return false;
  }
  for (int i = 0; i < sp.GetPieceSize(); ++i) {
    const auto& p = info.pieces[static_cast<size_t>(i)];
    float lib_score = sp.GetScore(i);
    if (p.piece != sp.IdToPiece(i) || std::memcmp(&lib_score, &p.score, sizeof(float)) != 0 ||
        (p.type == kUnknown) != sp.IsUnknown(i) || (p.type == kControl) != sp.IsControl(i) ||
        (p.type == kUnused) != sp.IsUnused(i) || (p.type == kByte) != sp.IsByte(i)) {
      *why = "parsed piece " + std::to_string(i) + " differs from the library's";
      return false;
    }
  }
  return true;
}

// Per-thread scratch of the native BPE.
struct Scratch {
  NativeBpe::ScratchPtr bpe = NativeBpe::NewScratch();
  std::vector<int> library_ids;

  // `key` normalized (NormalizeSegmentKey) into a buffer kept between calls
  // and left uninitialized (a std::string zero-filled its room each time);
  // the room a rare huge segment needed is given back on the next call.
  std::string_view Normalize(std::string_view key) {
    const size_t need = NormalizedKeyBound(key.size());
    if (need > normalized_room || normalized_room > (size_t{1} << 20)) {
      normalized_room = std::max<size_t>(need, 1024);
      normalized.reset(new char[normalized_room]);
    }
    return std::string_view(normalized.get(), NormalizeSegmentKey(key, normalized.get()));
  }

 private:
  std::unique_ptr<char[]> normalized;
  size_t normalized_room = 0;
};

// Parts of one byte skip the parts' cache: half the parts of rare words are
// one punctuation mark or digit, whose id NativeBpe emits faster than a
// lookup finds it (and whose bound, one, is exact).
constexpr size_t kMinCachedPartBytes = 2;

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

class SentencePieceTokenizer final : public Tokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> Load(const LoadRequest& request);

  Status Encode(std::string_view text, bool add_bos, bool add_eos, std::vector<int32_t>* ids) const override;
  Status EncodeReference(std::string_view text, bool add_bos, bool add_eos,
                         std::vector<int32_t>* ids) const override;
  uint64_t MaxTokensForBytes(uint64_t bytes) const override;
  uint64_t TokensUpperBound(std::string_view text, uint64_t limit) const override;
  std::string Decode(std::span<const int32_t> ids) const override;
  int SpecialTokenId(std::string_view text) const override;
  const char* encoder() const override;
  TokenizerCacheStats CacheStats() const override;
  void ClearCache() const override {
    if (segments_) segments_->Clear();
    if (parts_) parts_->Clear();
  }

 private:
  SentencePieceTokenizer() = default;
  // Sets up the segment path when the model allows it; else leaves the
  // library path with encoder_note_ saying why.
  Status PlanFastPath(const LoadRequest& request, const SpmModelInfo& info);
  std::vector<std::vector<int32_t>> ReferenceIds(const std::vector<std::string>& texts) const;
  bool SelfTestPasses(const std::vector<std::string>& texts, const std::vector<std::vector<int32_t>>& want) const;
  Status EncodeKey(std::string_view key, std::vector<int32_t>* out) const;
  Status EncodeNormalized(std::string_view normalized, NativeBpe::Scratch* bpe, std::vector<int32_t>* out) const;
  uint64_t MissedKeyBound(std::string_view key) const;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  Plan plan_;
  bool fast_ = false;                   // the segment path is on
  std::unique_ptr<NativeBpe> native_;   // null: segments go to the library
  std::vector<int32_t> lone_space_ids_;  // the ids of a trailing lone "▁"
  std::shared_ptr<CachedSegments> segments_;
  // Parts of segments that missed (NativeBpe::PartStarts), by normalized bytes:
  // their own cache, since a part's bytes may equal a segment's key.
  std::shared_ptr<CachedSegments> parts_;
  size_t max_native_segment_bytes_ = 0;
};

Result<std::unique_ptr<Tokenizer>> SentencePieceTokenizer::Load(const LoadRequest& request) {
  std::unique_ptr<SentencePieceTokenizer> t(new SentencePieceTokenizer());
  t->processor_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  auto st = t->processor_->Load(request.path);
  if (!st.ok()) {
    return Status::InvalidConfig("tokenizer model '" + request.path +
                                 "' is neither a SentencePiece model nor a tokenizer.json: " + st.ToString());
  }
  t->kind_ = kSentencePieceKind;
  t->model_path_ = request.path;
  t->vocab_size_ = t->processor_->GetPieceSize();
  t->bos_id_ = t->processor_->bos_id();
  t->eos_id_ = t->processor_->eos_id();
  // LLaMA-2's own HF tokenizer and the paper's code add BOS, never EOS.
  t->adds_bos_ = t->bos_id_ >= 0;
  t->adds_eos_ = false;

  // Derive what the model allows from its proto.
  SpmModelInfo info;
  std::string why;
  const std::string proto = t->processor_->serialized_model_proto();
  if (!ParseSpmModel(proto, &info, &why) || !AgreesWithLibrary(info, *t->processor_, &why)) {
    t->encoder_note_ = "model proto not understood: " + why;
    spdlog::debug("tokenizer {}: library path ({})", request.path, t->encoder_note_);
    return std::unique_ptr<Tokenizer>(std::move(t));
  }
  // The library encodes the self-test texts while the fast path's tables
  // are built: each is about half of what loading costs beyond the library's
  // own load.
  // (The thread holds the object, not `t`, which the return moves from
  // before `reference` is destroyed, waiting for it.)
  const std::vector<std::string> self_test = SelfTestTexts(info);
  const SentencePieceTokenizer* self = t.get();
  std::future<std::vector<std::vector<int32_t>>> reference =
      std::async(std::launch::async, [self, &self_test] { return self->ReferenceIds(self_test); });
  LCDE_RETURN_IF_ERROR(t->PlanFastPath(request, info));
  if (t->fast_ && !t->SelfTestPasses(self_test, reference.get())) {
    spdlog::warn("tokenizer {}: the fast path disagrees with the library on a self-test text; using the library",
                 request.path);
    t->fast_ = false;
    t->native_.reset();
    t->encoder_note_ = "self-test against the library failed";
  }
  t->ClearCache();
  spdlog::debug("tokenizer {}: {} path{}{}", request.path, t->encoder(), t->encoder_note_.empty() ? "" : ": ",
                t->encoder_note_);
  return std::unique_ptr<Tokenizer>(std::move(t));
}

Status SentencePieceTokenizer::PlanFastPath(const LoadRequest& request, const SpmModelInfo& info) {
  plan_ = AnalyzeModel(info);
  // A segment that misses is mostly parts seen before; they take an eighth
  // of the cache's bound (40 MB of real text: 134K distinct parts of the
  // segments against 432K distinct segments).
  auto bound = CachedSegments::BoundBytes(request.options.cache_bytes);
  if (!bound.ok()) return bound.status();
  const size_t parts_bytes = *bound / 8;
  segments_ = CachedSegments::Make(*bound - parts_bytes);
  parts_ = CachedSegments::Make(parts_bytes);
  max_native_segment_bytes_ = request.options.max_native_segment_bytes;
  encoder_note_ = plan_.reason;
  if (request.mode == TokenizerMode::kLibrary) {
    encoder_note_ = "library path requested";
    return Status::Ok();
  }
  if (!plan_.segmentable) return Status::Ok();
  // A lone trailing "▁" has no key the library can encode on its own (the
  // empty text encodes to nothing): take its ids from "a " minus those of "a".
  std::vector<int> a, a_space;
  if (!LibraryEncode(*processor_, "a", &a).ok() || !LibraryEncode(*processor_, "a ", &a_space).ok() ||
      a_space.size() <= a.size() || !std::equal(a.begin(), a.end(), a_space.begin())) {
    encoder_note_ = "the ids of \"a \" do not extend those of \"a\"";
    return Status::Ok();
  }
  lone_space_ids_.assign(a_space.begin() + static_cast<std::ptrdiff_t>(a.size()), a_space.end());
  std::string why;
  if (plan_.native_bpe && request.mode == TokenizerMode::kAuto) {
    native_ = NativeBpe::Build(info, &why);
    if (native_ == nullptr) encoder_note_ = why;
  } else if (request.mode == TokenizerMode::kSegmentsLibrary) {
    encoder_note_ = "segments-library path requested";
  }
  fast_ = true;
  return Status::Ok();
}

// The library's ids of each text; empty when the library fails on one.
std::vector<std::vector<int32_t>> SentencePieceTokenizer::ReferenceIds(const std::vector<std::string>& texts) const {
  std::vector<std::vector<int32_t>> ids(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    if (!EncodeReference(texts[i], false, false, &ids[i]).ok()) return {};
  }
  return ids;
}

// The fast path must give the library's ids (`want`, ReferenceIds) on a
// battery of corner cases and on the model's own pieces; if not, the library
// is used.
bool SentencePieceTokenizer::SelfTestPasses(const std::vector<std::string>& texts,
                                            const std::vector<std::vector<int32_t>>& want) const {
  if (want.size() != texts.size()) return false;
  std::vector<int32_t> got;
  for (size_t i = 0; i < texts.size(); ++i) {
    got.clear();
    if (!Encode(texts[i], false, false, &got).ok() || got != want[i]) return false;
  }
  return true;
}

const char* SentencePieceTokenizer::encoder() const {
  if (!fast_) return "library";
  return native_ != nullptr ? "segments+native-bpe" : "segments+library";
}

// The ids of one segment (key as in ForEachSegment), appended.
Status SentencePieceTokenizer::EncodeKey(std::string_view key, std::vector<int32_t>* out) const {
  if (key.empty()) {
    out->insert(out->end(), lone_space_ids_.begin(), lone_space_ids_.end());
    return Status::Ok();
  }
  Scratch& ts = ThreadScratch();
  if (native_ != nullptr && key.size() <= max_native_segment_bytes_) {
    return EncodeNormalized(ts.Normalize(key), ts.bpe.get(), out);
  }
  LCDE_RETURN_IF_ERROR(LibraryEncode(*processor_, key, &ts.library_ids));
  out->insert(out->end(), ts.library_ids.begin(), ts.library_ids.end());
  if (ts.library_ids.capacity() > (size_t{1} << 20)) std::vector<int>().swap(ts.library_ids);
  return Status::Ok();
}

// A segment's parts through their cache when it has more than one.
Status SentencePieceTokenizer::EncodeNormalized(std::string_view normalized, NativeBpe::Scratch* bpe,
                                                std::vector<int32_t>* out) const {
  PartCursor parts(*native_, normalized);
  std::string_view first;
  parts.Next(&first);
  if (first.size() == normalized.size() || !parts_->enabled()) {
    native_->EncodeNormalized(normalized, bpe, out);
    return Status::Ok();
  }
  // The first part, taken to see whether it is the whole, comes first.
  bool took_first = false;
  auto next_part = [&](std::string_view* part) {
    if (took_first) return parts.Next(part);
    took_first = true;
    *part = first;
    return true;
  };
  // The miss lambda is forced inline (GCC 12 made it a call from Encode's
  // two sites), and with it a lone ASCII character's id.
  return parts_->Encode(next_part,
                        [&](std::string_view part, std::vector<int32_t>* ids) __attribute__((always_inline)) {
                          native_->EncodeNormalized(part, bpe, ids);
                          return Status::Ok();
                        },
                        out, kMinCachedPartBytes);
}

TokenizerCacheStats SentencePieceTokenizer::CacheStats() const {
  if (!segments_) return TokenizerCacheStats{};
  TokenizerCacheStats stats = segments_->Stats();
  // The memory of both; the counts are of segments.
  const TokenizerCacheStats parts = parts_->Stats();
  stats.bytes += parts.bytes;
  return stats;
}

Status SentencePieceTokenizer::Encode(std::string_view text, bool add_bos, bool add_eos,
                                      std::vector<int32_t>* ids) const {
  if (!fast_ || (plan_.nul_to_library && std::memchr(text.data(), 0, text.size()) != nullptr)) {
    return EncodeReference(text, add_bos, add_eos, ids);
  }
  if (add_bos) {
    if (bos_id_ < 0) return Status::InvalidConfig("tokenizer.bos: the model defines no BOS id");
    ids->push_back(bos_id_);
  }
  if (!text.empty()) {
    Segmenter segmenter(text);
    LCDE_RETURN_IF_ERROR(segments_->Encode([&](std::string_view* key) { return segmenter.Next(key); },
                                           [&](std::string_view key, std::vector<int32_t>* out) {
                                             return EncodeKey(key, out);
                                           },
                                           ids));
  }
  if (add_eos) {
    if (eos_id_ < 0) return Status::InvalidConfig("tokenizer.eos: the model defines no EOS id");
    ids->push_back(eos_id_);
  }
  return Status::Ok();
}

Status SentencePieceTokenizer::EncodeReference(std::string_view text, bool add_bos, bool add_eos,
                                               std::vector<int32_t>* ids) const {
  if (add_bos) {
    if (bos_id_ < 0) return Status::InvalidConfig("tokenizer.bos: the model defines no BOS id");
    ids->push_back(bos_id_);
  }
  // SentencePiece encodes into its own vector<int>; int and int32_t agree here.
  static_assert(sizeof(int) == sizeof(int32_t));
  thread_local std::vector<int> pieces;
  LCDE_RETURN_IF_ERROR(LibraryEncode(*processor_, text, &pieces));
  ids->insert(ids->end(), pieces.begin(), pieces.end());
  if (add_eos) {
    if (eos_id_ < 0) return Status::InvalidConfig("tokenizer.eos: the model defines no EOS id");
    ids->push_back(eos_id_);
  }
  return Status::Ok();
}

uint64_t SentencePieceTokenizer::MaxTokensForBytes(uint64_t bytes) const {
  // With the identity normalizer each byte of valid UTF-8 yields at most one
  // id and the dummy prefix one more (AnalyzeModel derives when).
  if (plan_.bytes_plus_one && bytes < UINT64_MAX / 8) return bytes + 1;
  return UINT64_MAX / 4;
}

uint64_t SentencePieceTokenizer::TokensUpperBound(std::string_view text, uint64_t limit) const {
  const uint64_t whole = MaxTokensForBytes(text.size());
  if (!fast_ || !plan_.bytes_plus_one || text.empty() || segments_ == nullptr || !segments_->enabled()) return whole;
  // A segment normalizes to "▁" + its key: at most one id per byte of the
  // key and one for the "▁" (the bound MaxTokensForBytes rests on).
  Segmenter segmenter(text);
  const uint64_t bound = segments_->UpperBound([&](std::string_view* key) { return segmenter.Next(key); },
                                               [&](std::string_view key) { return MissedKeyBound(key); }, limit);
  return std::min(bound, whole);
}

// A segment not in the cache: at most one id per byte of its key and one for
// its "▁", or tighter, by its parts (EncodeNormalized): a cached part counts
// its ids, any other its normalized bytes (each id covers at least one). A
// rare word is mostly parts seen before, so a document that lost the keep
// draw is decided short without being encoded more often.
uint64_t SentencePieceTokenizer::MissedKeyBound(std::string_view key) const {
  if (key.empty()) return lone_space_ids_.size();
  const uint64_t by_bytes = key.size() + 1;
  if (native_ == nullptr || !parts_->enabled() || key.size() > max_native_segment_bytes_) return by_bytes;
  Scratch& ts = ThreadScratch();
  PartCursor parts(*native_, ts.Normalize(key));
  const uint64_t by_parts = parts_->UpperBound([&](std::string_view* part) { return parts.Next(part); },
                                               [](std::string_view part) -> uint64_t { return part.size(); },
                                               by_bytes, kMinCachedPartBytes);
  return std::min(by_parts, by_bytes);
}

std::string SentencePieceTokenizer::Decode(std::span<const int32_t> ids) const {
  std::vector<int> v(ids.begin(), ids.end());
  std::string out;
  processor_->Decode(v, &out).IgnoreError();
  return out;
}

int SentencePieceTokenizer::SpecialTokenId(std::string_view text) const {
  const int id = processor_->PieceToId(absl::string_view(text.data(), text.size()));
  if (id < 0 || id >= vocab_size_ || processor_->IdToPiece(id) != text) return -1;
  return processor_->IsControl(id) ? id : -1;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> LoadSentencePiece(const LoadRequest& request) {
  return SentencePieceTokenizer::Load(request);
}

}  // namespace lcde::tok
