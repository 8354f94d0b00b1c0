#include "lcde/tokenizer.h"

#include <sentencepiece_processor.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "lcde/fast_tokenizer.h"
#include "lcde/shard_writer.h"

namespace lcde {

struct Tokenizer::Fast {
  uint64_t instance = 0;  // never reused: keys the threads' cache writers
  const sentencepiece::SentencePieceProcessor* processor = nullptr;
  fasttok::Plan plan;
  std::unique_ptr<fasttok::NativeBpe> native;  // null: misses go to the library
  std::vector<int32_t> lone_space_ids;         // the ids of a trailing lone "▁"
  std::unique_ptr<fasttok::SegmentCache> cache;  // null: no cache
  size_t max_native_segment_bytes = 0;
};

namespace {

std::atomic<uint64_t> g_next_instance{1};

// Per-thread state: this thread's writer into the shared cache of each live
// Tokenizer it used, plus scratch buffers. Writers of destroyed Tokenizers
// are dropped the next time the thread meets a Tokenizer it has not just used.
struct ThreadState {
  struct Entry {
    uint64_t instance;
    std::weak_ptr<const Tokenizer::Fast> owner;
    std::unique_ptr<fasttok::SegmentCache::Writer> writer;
    uint64_t last_use;
  };
  static constexpr size_t kMaxEntries = 4;
  std::vector<Entry> entries;
  uint64_t clock = 0;
  uint64_t last_instance = 0;
  fasttok::SegmentCache::Writer* last_writer = nullptr;
  fasttok::NativeBpe::ScratchPtr scratch = fasttok::NativeBpe::NewScratch();
  std::string normalized;
  std::vector<int32_t> segment_ids;
  std::vector<int> library_ids;
};

ThreadState& Tls() {
  thread_local ThreadState state;
  return state;
}

// This thread's writer into fast's cache; null when fast has no cache (or,
// unless `create`, this thread has not used it).
fasttok::SegmentCache::Writer* FindWriter(ThreadState& ts, const std::shared_ptr<const Tokenizer::Fast>& fast,
                                          bool create) {
  if (ts.last_instance == fast->instance) return ts.last_writer;
  if (fast->cache == nullptr) return nullptr;
  ++ts.clock;
  fasttok::SegmentCache::Writer* found = nullptr;
  for (size_t i = 0; i < ts.entries.size();) {
    if (ts.entries[i].owner.expired()) {
      if (ts.entries[i].instance == ts.last_instance) {
        ts.last_instance = 0;
        ts.last_writer = nullptr;
      }
      ts.entries.erase(ts.entries.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    if (ts.entries[i].instance == fast->instance) {
      ts.entries[i].last_use = ts.clock;
      found = ts.entries[i].writer.get();
    }
    ++i;
  }
  if (found == nullptr) {
    if (!create) return nullptr;
    if (ts.entries.size() >= ThreadState::kMaxEntries) {
      auto lru = std::min_element(ts.entries.begin(), ts.entries.end(),
                                  [](const auto& a, const auto& b) { return a.last_use < b.last_use; });
      ts.entries.erase(lru);
    }
    ts.entries.push_back({fast->instance, fast, std::make_unique<fasttok::SegmentCache::Writer>(), ts.clock});
    found = ts.entries.back().writer.get();
  }
  ts.last_instance = fast->instance;
  ts.last_writer = found;
  return found;
}

Status LibraryEncode(const sentencepiece::SentencePieceProcessor& sp, std::string_view text,
                     std::vector<int>* pieces) {
  pieces->clear();
  auto st = sp.Encode(absl::string_view(text.data(), text.size()), pieces);
  if (!st.ok()) return Status::Corruption("SentencePiece Encode failed: " + st.ToString());
  return Status::Ok();
}

// The ids of one segment (key as in fasttok::ForEachSegment), appended.
Status EncodeKey(const Tokenizer::Fast& f, ThreadState& ts, std::string_view key, std::vector<int32_t>* out) {
  if (key.empty()) {
    out->insert(out->end(), f.lone_space_ids.begin(), f.lone_space_ids.end());
    return Status::Ok();
  }
  if (f.native != nullptr && key.size() <= f.max_native_segment_bytes) {
    ts.normalized.clear();
    fasttok::NormalizeSegmentKey(key, &ts.normalized);
    f.native->EncodeNormalized(ts.normalized, ts.scratch.get(), out);
    if (ts.normalized.capacity() > (size_t{1} << 20)) std::string().swap(ts.normalized);
    return Status::Ok();
  }
  LCDE_RETURN_IF_ERROR(LibraryEncode(*f.processor, key, &ts.library_ids));
  out->insert(out->end(), ts.library_ids.begin(), ts.library_ids.end());
  if (ts.library_ids.capacity() > (size_t{1} << 20)) std::vector<int>().swap(ts.library_ids);
  return Status::Ok();
}

// Texts that exercise the fast path's corners; Load compares the fast path
// with the library on them (and on the model's own pieces) before using it.
std::vector<std::string> SelfTestTexts(const fasttok::SpmModelInfo& info) {
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
    if (p.type != fasttok::kNormal && p.type != fasttok::kUserDefined) continue;
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
bool AgreesWithLibrary(const fasttok::SpmModelInfo& info, const sentencepiece::SentencePieceProcessor& sp,
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
        (p.type == fasttok::kUnknown) != sp.IsUnknown(i) || (p.type == fasttok::kControl) != sp.IsControl(i) ||
        (p.type == fasttok::kUnused) != sp.IsUnused(i) || (p.type == fasttok::kByte) != sp.IsByte(i)) {
      *why = "parsed piece " + std::to_string(i) + " differs from the library's";
      return false;
    }
  }
  return true;
}

}  // namespace

Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& model_path) {
  return Load(model_path, TokenizerOptions());
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& model_path,
                                                   const TokenizerOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model_path, ec)) {
    return Status::NotFound("tokenizer model '" + model_path + "' does not exist or is not a file");
  }
  TokenizerMode mode = options.mode;
  if (mode == TokenizerMode::kAuto) {
    const char* env = std::getenv("LCDE_TOKENIZER");
    std::string v = env ? env : "";
    if (v == "library") {
      mode = TokenizerMode::kLibrary;
    } else if (v == "segments-library") {
      mode = TokenizerMode::kSegmentsLibrary;
    } else if (!v.empty() && v != "auto") {
      return Status::InvalidConfig("LCDE_TOKENIZER='" + v +
                                   "': expected library, segments-library or auto");
    }
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

  // Derive what the model allows from its proto.
  fasttok::SpmModelInfo info;
  std::string why;
  const std::string proto = t->processor_->serialized_model_proto();
  if (!fasttok::ParseSpmModel(proto, &info, &why) || !AgreesWithLibrary(info, *t->processor_, &why)) {
    t->encoder_note_ = "model proto not understood: " + why;
    spdlog::debug("tokenizer {}: library path ({})", model_path, t->encoder_note_);
    return t;
  }
  auto fast = std::make_shared<Fast>();
  fast->instance = g_next_instance.fetch_add(1);
  fast->processor = t->processor_.get();
  fast->plan = fasttok::AnalyzeModel(info);
  size_t cache_bytes = options.cache_bytes;
  if (const char* env = std::getenv("LCDE_TOKENIZER_CACHE_MB")) {
    // A tuning knob for benchmarks: the cache bound in MiB (0 = off).
    char* end = nullptr;
    unsigned long mb = std::strtoul(env, &end, 10);
    if (end == env || *end != '\0' || mb > 4096) {
      return Status::InvalidConfig(std::string("LCDE_TOKENIZER_CACHE_MB='") + env + "': expected MiB in [0, 4096]");
    }
    cache_bytes = static_cast<size_t>(mb) << 20;
  }
  if (cache_bytes > 0) fast->cache = std::make_unique<fasttok::SegmentCache>(cache_bytes);
  fast->max_native_segment_bytes = options.max_native_segment_bytes;
  t->bytes_plus_one_ = fast->plan.bytes_plus_one;
  t->encoder_note_ = fast->plan.reason;
  if (mode == TokenizerMode::kLibrary) {
    t->encoder_note_ = "library path requested";
    return t;
  }
  if (!fast->plan.segmentable) {
    spdlog::debug("tokenizer {}: library path ({})", model_path, t->encoder_note_);
    return t;
  }
  // A lone trailing "▁" has no key the library can encode on its own (the
  // empty text encodes to nothing): take its ids from "a " minus those of "a".
  std::vector<int> a, a_space;
  if (!LibraryEncode(*t->processor_, "a", &a).ok() || !LibraryEncode(*t->processor_, "a ", &a_space).ok() ||
      a_space.size() <= a.size() || !std::equal(a.begin(), a.end(), a_space.begin())) {
    t->encoder_note_ = "the ids of \"a \" do not extend those of \"a\"";
    return t;
  }
  fast->lone_space_ids.assign(a_space.begin() + static_cast<std::ptrdiff_t>(a.size()), a_space.end());
  if (fast->plan.native_bpe && mode == TokenizerMode::kAuto) {
    fast->native = fasttok::NativeBpe::Build(info, &why);
    if (fast->native == nullptr) t->encoder_note_ = why;
  } else if (mode == TokenizerMode::kSegmentsLibrary) {
    t->encoder_note_ = "segments-library path requested";
  }
  t->fast_ = fast;

  // Self-test: the fast path must give the library's ids on a battery of
  // corner cases and on the model's own pieces; if not, use the library.
  for (const std::string& text : SelfTestTexts(info)) {
    std::vector<int32_t> got, want;
    Status s1 = t->Encode(text, false, false, &got);
    Status s2 = t->EncodeWithLibrary(text, false, false, &want);
    if (!s1.ok() || !s2.ok() || got != want) {
      spdlog::warn("tokenizer {}: the fast path disagrees with the library on a self-test text; "
                   "using the library",
                   model_path);
      t->fast_.reset();
      t->encoder_note_ = "self-test against the library failed";
      return t;
    }
  }
  t->ClearCache();
  spdlog::debug("tokenizer {}: {} path{}{}", model_path, t->encoder(), t->encoder_note_.empty() ? "" : ": ",
                t->encoder_note_);
  return t;
}

const char* Tokenizer::encoder() const {
  if (fast_ == nullptr) return "library";
  return fast_->native != nullptr ? "segments+native-bpe" : "segments+library";
}

Status Tokenizer::Encode(std::string_view text, bool add_bos, bool add_eos,
                         std::vector<int32_t>* ids) const {
  if (fast_ == nullptr || (fast_->plan.nul_to_library && std::memchr(text.data(), 0, text.size()) != nullptr)) {
    return EncodeWithLibrary(text, add_bos, add_eos, ids);
  }
  if (add_bos) {
    if (bos_id_ < 0) return Status::InvalidConfig("tokenizer.bos: the model defines no BOS id");
    ids->push_back(bos_id_);
  }
  if (!text.empty()) LCDE_RETURN_IF_ERROR(EncodeSegments(text, ids));
  if (add_eos) {
    if (eos_id_ < 0) return Status::InvalidConfig("tokenizer.eos: the model defines no EOS id");
    ids->push_back(eos_id_);
  }
  return Status::Ok();
}

Status Tokenizer::EncodeSegments(std::string_view text, std::vector<int32_t>* ids) const {
  const Fast& f = *fast_;
  ThreadState& ts = Tls();
  fasttok::SegmentCache::Writer* writer = FindWriter(ts, fast_, /*create=*/true);
  fasttok::SegmentCache* cache = f.cache.get();
  fasttok::Segmenter segmenter(text);
  std::string_view key;
  if (writer == nullptr) {
    while (segmenter.Next(&key)) LCDE_RETURN_IF_ERROR(EncodeKey(f, ts, key, ids));
    return Status::Ok();
  }
  // Cache lookups are memory-bound: segments are found a few ahead of the
  // one being encoded, so that their slots (then their entries) are
  // prefetched while earlier segments are processed.
  struct Pending {
    std::string_view key;
    uint64_t hash;  // 0: too long for the cache
  };
  constexpr size_t kRing = 8, kAhead = 6;
  Pending ring[kRing];
  size_t head = 0, tail = 0;
  auto produce = [&]() {
    if (!segmenter.Next(&key)) return false;
    Pending& p = ring[tail++ % kRing];
    p.key = key;
    p.hash = 0;
    if (key.size() <= fasttok::SegmentCache::kMaxKeyBytes) {
      p.hash = fasttok::HashBytes(key.data(), key.size());
      cache->PrefetchSlot(p.hash);
    }
    return true;
  };
  while (tail - head < kAhead && produce()) {
  }
  TokenizerCacheStats& stats = writer->stats;
  while (head != tail) {
    if (tail - head > 2 && ring[(head + 2) % kRing].hash != 0) cache->PrefetchEntry(ring[(head + 2) % kRing].hash);
    const Pending p = ring[head++ % kRing];
    produce();
    if (p.hash == 0) {
      ++stats.uncached;
      LCDE_RETURN_IF_ERROR(EncodeKey(f, ts, p.key, ids));
      continue;
    }
    uint32_t n = 0;
    if (const int32_t* hit = cache->Find(p.hash, p.key, &n)) {
      ++stats.hits;
      ids->insert(ids->end(), hit, hit + n);
      continue;
    }
    ++stats.misses;
    ts.segment_ids.clear();
    LCDE_RETURN_IF_ERROR(EncodeKey(f, ts, p.key, &ts.segment_ids));
    cache->Insert(writer, p.hash, p.key, ts.segment_ids.data(), ts.segment_ids.size());
    ids->insert(ids->end(), ts.segment_ids.begin(), ts.segment_ids.end());
  }
  return Status::Ok();
}

Status Tokenizer::EncodeWithLibrary(std::string_view text, bool add_bos, bool add_eos,
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

uint64_t Tokenizer::MaxTokensForBytes(uint64_t bytes) const {
  // With the identity normalizer each byte of valid UTF-8 yields at most one
  // id and the dummy prefix one more (fasttok::AnalyzeModel derives when).
  if (bytes_plus_one_ && bytes < UINT64_MAX / 8) return bytes + 1;
  return UINT64_MAX / 4;
}

TokenizerCacheStats Tokenizer::CacheStats() const {
  if (fast_ == nullptr) return {};
  fasttok::SegmentCache::Writer* writer = FindWriter(Tls(), fast_, /*create=*/false);
  return writer != nullptr ? fast_->cache->Snapshot(*writer) : TokenizerCacheStats{};
}

void Tokenizer::ClearCache() const {
  if (fast_ == nullptr || fast_->cache == nullptr) return;
  fast_->cache->Clear();
  if (fasttok::SegmentCache::Writer* writer = FindWriter(Tls(), fast_, /*create=*/false)) writer->stats = {};
}

std::string Tokenizer::Decode(std::span<const int32_t> ids) const {
  std::vector<int> v(ids.begin(), ids.end());
  std::string out;
  processor_->Decode(v, &out).IgnoreError();
  return out;
}

}  // namespace lcde
