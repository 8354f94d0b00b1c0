// The native SentencePiece BPE (sentencepiece.h): the library's merges on the
// shared BPE core (bpe_merge.h), then its id emission.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <unordered_map>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "lcde/tokenizer/bpe_merge.h"
#include "lcde/tokenizer/sentencepiece.h"
#include "lcde/tokenizer/string_index.h"
#include "sentencepiece_utf8.h"

namespace lcde::tok {

namespace {

struct CharInfo {
  int32_t key = -1;  // merge key: the NORMAL piece id, a synthetic key, or -1 (never merges)
  int32_t id = 0;    // PieceToId(char): what the character is emitted as when unmerged
};

// The index of the pair of bytes a, b in Impl::split: the two bytes read
// as one 16-bit word, as PartStarts reads them.
inline size_t PairIndex(uint8_t a, uint8_t b) {
  const uint8_t pair[2] = {a, b};
  uint16_t v;
  std::memcpy(&v, pair, 2);
  return v;
}

inline uint64_t PackChar(const char* p, size_t len) {
  uint64_t v = 0;
  for (size_t k = 0; k < len; ++k) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[k])) << (8 * k);
  return v;
}

}  // namespace

struct NativeBpe::Scratch : BpeWork {};

NativeBpe::ScratchPtr NativeBpe::NewScratch() { return ScratchPtr(new Scratch()); }
void NativeBpe::ScratchDeleter::operator()(Scratch* s) const { delete s; }

struct NativeBpe::Impl {
  CharInfo ascii[128];
  CharInfo space;                       // U+2581, in every segment
  std::unordered_map<uint64_t, CharInfo> chars;  // other multi-byte characters, packed
  // (left key, right key) -> (rank of the merged piece's score, its id).
  // Rank 0 is the highest score, equal scores equal ranks. Keys of 16 bits
  // when every key, id and rank fits them.
  bool small_keys = true;
  PairMerges<uint32_t> merges32;
  PairMerges<uint64_t> merges64;
  std::vector<uint8_t> type;   // by id
  int32_t byte_ids[256] = {};
  int32_t unk_id = 0;
  bool byte_fallback = false;
  // split[PairIndex(a, b)] is 0x80 when no merge crosses between the bytes
  // a and b (both ASCII; PartStarts), else 0: a byte per pair of byte
  // values, so that PartStarts tests a pair with one load and gathers 16
  // results with one movemask (64 KB, of which text touches a few hundred
  // lines).
  std::vector<uint8_t> split = std::vector<uint8_t>(size_t{1} << 16);

  CharInfo LookupChar(const char* p, size_t len) const {
    if (len == 1 && static_cast<uint8_t>(p[0]) < 0x80) return ascii[static_cast<uint8_t>(p[0])];
    if (len == 3 && std::memcmp(p, kSpaceSymbol, 3) == 0) return space;
    auto it = chars.find(PackChar(p, len));
    if (it != chars.end()) return it->second;
    CharInfo unknown;
    unknown.id = unk_id;
    return unknown;
  }

  template <typename Key>
  void Encode(const PairMerges<Key>& merges, std::string_view normalized, Scratch* sc,
              std::vector<int32_t>* out) const;
  void FindSplitPoints(const SpmModelInfo& info);
};

NativeBpe::~NativeBpe() = default;

std::unique_ptr<NativeBpe> NativeBpe::Build(const SpmModelInfo& info, std::string* why_not) {
  if (info.model_type != kBpe) {
    *why_not = "not a BPE model";
    return nullptr;
  }
  // Pieces by string, NORMAL and reserved apart: flat indexes, since Build
  // looks up every prefix and suffix of every piece (LLaMA-2: ~400K lookups,
  // a third of the model's load time in node-based maps).
  std::vector<std::string_view> normal_strings(info.pieces.size()), reserved_strings(info.pieces.size());
  int32_t unk_id = -1;
  std::vector<float> scores;
  for (size_t i = 0; i < info.pieces.size(); ++i) {
    const SpmPiece& p = info.pieces[i];
    const int32_t id = static_cast<int32_t>(i);
    switch (p.type) {
      case kNormal:
        if (p.score != p.score) {
          *why_not = "piece '" + p.piece + "' has a NaN score";
          return nullptr;
        }
        normal_strings[i] = p.piece;
        scores.push_back(p.score);
        break;
      case kUnknown:
        if (unk_id < 0) unk_id = id;
        reserved_strings[i] = p.piece;
        break;
      case kControl:
      case kByte:
        reserved_strings[i] = p.piece;
        break;
      default:
        *why_not = "piece type " + std::to_string(p.type) + " is not modelled natively";
        return nullptr;
    }
  }
  if (unk_id < 0) {
    *why_not = "the model defines no UNKNOWN piece";
    return nullptr;
  }
  if (info.pieces.size() >= (size_t{1} << 31)) {
    *why_not = "too many pieces";
    return nullptr;
  }
  // The library refuses a model that defines a piece twice, so the strings
  // are unique, as StringIndex requires, within each index.
  const StringIndex normal(&normal_strings), reserved(&reserved_strings);
  for (size_t i = 0; i < info.pieces.size(); ++i) {
    if (normal_strings[i].data() != nullptr && reserved.Find(normal_strings[i]) >= 0) {
      *why_not = "piece '" + info.pieces[i].piece + "' is both NORMAL and reserved";
      return nullptr;
    }
  }
  auto piece_to_id = [&](std::string_view s) -> int32_t {
    if (int32_t id = reserved.Find(s); id >= 0) return id;
    if (int32_t id = normal.Find(s); id >= 0) return id;
    return unk_id;
  };

  std::unique_ptr<NativeBpe> bpe(new NativeBpe());
  bpe->impl_ = std::make_unique<Impl>();
  Impl& m = *bpe->impl_;
  m.unk_id = unk_id;
  m.byte_fallback = info.byte_fallback;
  m.type.resize(info.pieces.size());
  for (size_t i = 0; i < info.pieces.size(); ++i) m.type[i] = static_cast<uint8_t>(info.pieces[i].type);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    m.byte_ids[b] = piece_to_id(name);
  }
  // Score ranks, best first: the library compares float scores; equal
  // floats tie (and then the leftmost pair wins), so equal scores get equal
  // ranks. Trained models list their pieces best first, so the ranks are
  // usually one pass; otherwise the distinct scores are sorted.
  std::vector<uint32_t> rank(info.pieces.size(), 0);
  if (std::is_sorted(scores.begin(), scores.end(), std::greater<float>())) {
    uint32_t r = 0;
    const float* previous = nullptr;
    for (size_t i = 0; i < info.pieces.size(); ++i) {
      if (info.pieces[i].type != kNormal) continue;
      if (previous != nullptr && info.pieces[i].score != *previous) ++r;
      previous = &info.pieces[i].score;
      rank[i] = r;
    }
  } else {
    std::sort(scores.begin(), scores.end());
    scores.erase(std::unique(scores.begin(), scores.end(), [](float a, float b) { return a == b; }),
                 scores.end());
    for (size_t i = 0; i < info.pieces.size(); ++i) {
      if (info.pieces[i].type != kNormal) continue;
      auto it = std::lower_bound(scores.begin(), scores.end(), info.pieces[i].score);
      rank[i] = static_cast<uint32_t>(scores.end() - it - 1);
    }
  }
  const size_t distinct_scores = rank.empty() ? 0 : *std::max_element(rank.begin(), rank.end()) + 1;

  // Merge keys: a symbol of the library's BPE is either a NORMAL piece (key =
  // its id) or a single character (key = its NORMAL id, else a synthetic key
  // when some piece splits into it, else none: it never merges).
  std::unordered_map<std::string, int32_t> synthetic;
  int32_t next_key = static_cast<int32_t>(info.pieces.size());
  auto key_of = [&](std::string_view s) -> int32_t {
    if (int32_t id = normal.Find(s); id >= 0) return id;
    if (!IsSingleChar(s)) return -1;
    auto [it, inserted] = synthetic.emplace(std::string(s), next_key);
    if (inserted) ++next_key;
    return it->second;
  };
  std::vector<std::pair<uint64_t, int32_t>> rules;
  for (size_t i = 0; i < info.pieces.size(); ++i) {
    const SpmPiece& p = info.pieces[i];
    if (p.type != kNormal) continue;
    const std::string_view s = p.piece;
    for (size_t k = 1; k < s.size(); ++k) {
      const int32_t a = key_of(s.substr(0, k));
      if (a < 0) continue;
      const int32_t b = key_of(s.substr(k));
      if (b < 0) continue;
      rules.push_back({(static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b), static_cast<int32_t>(i)});
    }
  }
  m.small_keys = next_key <= 0xFFFF && distinct_scores <= 0xFFFF;
  if (m.small_keys) {
    m.merges32.Init(rules.size());
    for (const auto& [k, v] : rules) {
      m.merges32.Put(static_cast<int32_t>(k >> 32), static_cast<int32_t>(k & 0xFFFFFFFF), rank[static_cast<size_t>(v)], v);
    }
  } else {
    m.merges64.Init(rules.size());
    for (const auto& [k, v] : rules) {
      m.merges64.Put(static_cast<int32_t>(k >> 32), static_cast<int32_t>(k & 0xFFFFFFFF), rank[static_cast<size_t>(v)], v);
    }
  }

  // Character table: every single-character piece (any type) and every
  // character that has a synthetic key.
  std::unordered_map<std::string, CharInfo> char_infos;
  for (const auto& p : info.pieces) {
    if (IsSingleChar(p.piece)) char_infos[p.piece] = CharInfo{};
  }
  for (const auto& [s, key] : synthetic) char_infos[s] = CharInfo{};
  for (auto& [s, ci] : char_infos) {
    if (int32_t id = normal.Find(s); id >= 0) {
      ci.key = id;
    } else if (auto it2 = synthetic.find(s); it2 != synthetic.end()) {
      ci.key = it2->second;
    } else {
      ci.key = -1;
    }
    ci.id = piece_to_id(s);
  }
  auto info_of = [&](const std::string& s) {
    CharInfo ci;
    ci.id = unk_id;
    auto it = char_infos.find(s);
    return it != char_infos.end() ? it->second : ci;
  };
  for (int c = 0; c < 128; ++c) m.ascii[c] = info_of(std::string(1, static_cast<char>(c)));
  m.space = info_of(kSpaceSymbol);
  for (const auto& [s, ci] : char_infos) {
    if (s.size() == 1 && static_cast<uint8_t>(s[0]) < 0x80) continue;
    m.chars.emplace(PackChar(s.data(), s.size()), ci);
  }
  m.FindSplitPoints(info);
  for (int c = 0; c < 128; ++c) {
    const int32_t id = m.ascii[c].id;
    const bool unknown = m.type[static_cast<size_t>(id)] == kUnknown;
    bpe->lone_ascii_ids_[c] = unknown && m.byte_fallback ? m.byte_ids[c] : id;
  }
  return bpe;
}

void NativeBpe::Impl::FindSplitPoints(const SpmModelInfo& info) {
  bool joined[128][128] = {};
  for (const auto& p : info.pieces) {
    if (p.type != kNormal) continue;
    for (size_t k = 1; k < p.piece.size(); ++k) {
      const auto a = static_cast<uint8_t>(p.piece[k - 1]), b = static_cast<uint8_t>(p.piece[k]);
      if ((a | b) < 0x80) joined[a][b] = true;
    }
  }
  auto has_id = [&](int c) { return type[static_cast<size_t>(ascii[c].id)] != kUnknown; };
  for (int a = 0; a < 128; ++a) {
    for (int b = 0; b < 128; ++b) {
      if (!joined[a][b] && has_id(a) && has_id(b)) split[PairIndex(static_cast<uint8_t>(a), static_cast<uint8_t>(b))] = 0x80;
    }
  }
}

uint64_t NativeBpe::PartStarts(std::string_view normalized, size_t from) const {
  const auto* s = reinterpret_cast<const uint8_t*>(normalized.data()) + from;
  const size_t count = std::min<size_t>(64, normalized.size() - from);
  const uint8_t* split = impl_->split.data();
  alignas(16) uint8_t at[64] = {};
  for (size_t k = 1; k < count; ++k) {
    uint16_t pair;  // s[k - 1] and s[k], PairIndex's word
    std::memcpy(&pair, s + k - 1, 2);
    at[k] = split[pair];
  }
  uint64_t starts = 0;
#if defined(__SSE2__)
  for (int i = 0; i < 4; ++i) {
    const __m128i v = _mm_load_si128(reinterpret_cast<const __m128i*>(at + 16 * i));
    starts |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(v))) << (16 * i);
  }
#else
  for (size_t k = 1; k < count; ++k) starts |= static_cast<uint64_t>(at[k] >> 7) << k;
#endif
  return starts;
}

void NativeBpe::EncodeMerged(std::string_view normalized, Scratch* sc, std::vector<int32_t>* out) const {
  if (impl_->small_keys) {
    impl_->Encode(impl_->merges32, normalized, sc, out);
  } else {
    impl_->Encode(impl_->merges64, normalized, sc, out);
  }
}

// bpe::Model::SampleEncode: symbols start as characters; repeatedly the
// adjacent pair whose concatenation is a piece with the highest score is
// merged, the leftmost among equal scores (MergeSymbols).
template <typename Key>
void NativeBpe::Impl::Encode(const PairMerges<Key>& merges, std::string_view normalized, Scratch* sc,
                             std::vector<int32_t>* out) const {
  const char* s = normalized.data();
  const size_t n = normalized.size();
  if (n == 0) return;
  sc->Reserve(n);
  // Initial symbols: one per character. A merged symbol's key is its piece id.
  int32_t* key = sc->key.data();
  uint32_t* len = sc->len.data();
  int32_t count = 0;
  for (size_t i = 0; i < n; ++count) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {  // most characters
      key[count] = ascii[c].key;
      len[count] = 1;
      ++i;
      continue;
    }
    const size_t l = std::min(OneCharLen(s + i), n - i);
    key[count] = LookupChar(s + i, l).key;
    len[count] = static_cast<uint32_t>(l);
    i += l;
  }
  MergeSymbols(merges, sc, count);
  const int32_t* next = sc->next.data();

  // Ids, as SentencePieceProcessor::PopulateSentencePieceText emits them. A
  // symbol that never merged (one character) is emitted as PieceToId(char);
  // a merged one is a NORMAL piece, its key.
  bool prev_unk = false;
  size_t offset = 0;
  for (int32_t i = 0; i != -1; offset += len[i], i = next[i]) {
    const char* piece = s + offset;
    int32_t pid;
    if (len[i] == 1 && static_cast<uint8_t>(*piece) < 0x80) {  // most unmerged characters
      pid = ascii[static_cast<uint8_t>(*piece)].id;
    } else {
      const bool single_char = len[i] == std::min(OneCharLen(piece), n - offset);
      pid = single_char ? LookupChar(piece, len[i]).id : key[i];
    }
    if (type[static_cast<size_t>(pid)] == kUnknown) {
      if (byte_fallback) {
        for (uint32_t k = 0; k < len[i]; ++k) out->push_back(byte_ids[static_cast<uint8_t>(piece[k])]);
      } else if (!prev_unk) {
        out->push_back(pid);
      }
      prev_unk = true;
    } else {
      out->push_back(pid);
      prev_unk = false;
    }
  }
  sc->Trim();
}

}  // namespace lcde::tok
