#include "lcde/fast_tokenizer.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace lcde::fasttok {

namespace {

constexpr char kSpaceSymbol[] = "\xe2\x96\x81";  // U+2581, the library's "▁"

// ---------------------------------------------------------------------------
// Protobuf wire format.
// ---------------------------------------------------------------------------

class WireReader {
 public:
  explicit WireReader(std::string_view data) : p_(data.data()), end_(data.data() + data.size()) {}
  bool done() const { return p_ >= end_; }
  bool failed() const { return failed_; }

  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) return Fail();
      const uint8_t b = static_cast<uint8_t>(*p_++);
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (b < 0x80) {
        *v = result;
        return true;
      }
    }
    return Fail();
  }
  // Reads a tag; false at the end or on error.
  bool Tag(uint32_t* field, uint32_t* wire_type) {
    if (done()) return false;
    uint64_t tag;
    if (!Varint(&tag)) return false;
    *field = static_cast<uint32_t>(tag >> 3);
    *wire_type = static_cast<uint32_t>(tag & 7);
    if (*field == 0) return Fail();
    return true;
  }
  bool Bytes(std::string_view* out) {
    uint64_t len;
    if (!Varint(&len)) return false;
    if (len > static_cast<uint64_t>(end_ - p_)) return Fail();
    *out = std::string_view(p_, len);
    p_ += len;
    return true;
  }
  bool Fixed32(uint32_t* v) {
    if (end_ - p_ < 4) return Fail();
    std::memcpy(v, p_, 4);  // little-endian hosts only (x86-64, aarch64)
    p_ += 4;
    return true;
  }
  bool Skip(uint32_t wire_type) {
    switch (wire_type) {
      case 0: {
        uint64_t v;
        return Varint(&v);
      }
      case 1:
        if (end_ - p_ < 8) return Fail();
        p_ += 8;
        return true;
      case 2: {
        std::string_view v;
        return Bytes(&v);
      }
      case 5:
        if (end_ - p_ < 4) return Fail();
        p_ += 4;
        return true;
      default:  // groups (3, 4) never appear in a ModelProto
        return Fail();
    }
  }

 private:
  bool Fail() {
    failed_ = true;
    p_ = end_;
    return false;
  }
  const char* p_;
  const char* end_;
  bool failed_ = false;
};

bool ParsePiece(std::string_view data, SpmPiece* piece) {
  WireReader r(data);
  uint32_t field, wt;
  while (r.Tag(&field, &wt)) {
    if (field == 1 && wt == 2) {
      std::string_view s;
      if (!r.Bytes(&s)) return false;
      piece->piece.assign(s);
    } else if (field == 2 && wt == 5) {
      uint32_t bits;
      if (!r.Fixed32(&bits)) return false;
      std::memcpy(&piece->score, &bits, 4);
    } else if (field == 3 && wt == 0) {
      uint64_t v;
      if (!r.Varint(&v)) return false;
      piece->type = static_cast<int>(v);
    } else if (!r.Skip(wt)) {
      return false;
    }
  }
  return !r.failed();
}

bool ParseTrainerSpec(std::string_view data, SpmModelInfo* info) {
  WireReader r(data);
  uint32_t field, wt;
  while (r.Tag(&field, &wt)) {
    uint64_t v;
    if (wt == 0 && (field == 3 || field == 24 || field == 35)) {
      if (!r.Varint(&v)) return false;
      if (field == 3) info->model_type = static_cast<int>(v);
      if (field == 24) info->treat_whitespace_as_suffix = v != 0;
      if (field == 35) info->byte_fallback = v != 0;
    } else if (!r.Skip(wt)) {
      return false;
    }
  }
  return !r.failed();
}

bool ParseNormalizerSpec(std::string_view data, SpmModelInfo* info) {
  WireReader r(data);
  uint32_t field, wt;
  while (r.Tag(&field, &wt)) {
    if (wt == 2 && (field == 1 || field == 2)) {
      std::string_view s;
      if (!r.Bytes(&s)) return false;
      (field == 1 ? info->normalizer_name : info->precompiled_charsmap).assign(s);
    } else if (wt == 0 && field >= 3 && field <= 5) {
      uint64_t v;
      if (!r.Varint(&v)) return false;
      if (field == 3) info->add_dummy_prefix = v != 0;
      if (field == 4) info->remove_extra_whitespaces = v != 0;
      if (field == 5) info->escape_whitespaces = v != 0;
    } else if (!r.Skip(wt)) {
      return false;
    }
  }
  return !r.failed();
}

// ---------------------------------------------------------------------------
// UTF-8 exactly as sentencepiece's string_util::DecodeUTF8 sees it.
// ---------------------------------------------------------------------------

inline bool IsTrailByte(char x) { return static_cast<signed char>(x) < -0x40; }
inline bool IsValidCodepoint(uint32_t c) { return c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF); }

// Length of the valid character at p (n bytes left), or 0 when the normalizer
// would replace the byte at p with U+FFFD. A literal U+FFFD is valid.
inline size_t ValidCharLen(const char* p, size_t n) {
  const uint8_t b0 = static_cast<uint8_t>(p[0]);
  if (b0 < 0x80) return 1;
  if (n >= 2 && (b0 & 0xE0) == 0xC0) {
    const uint32_t cp = ((b0 & 0x1F) << 6) | (p[1] & 0x3F);
    return (IsTrailByte(p[1]) && cp >= 0x80 && IsValidCodepoint(cp)) ? 2 : 0;
  }
  if (n >= 3 && (b0 & 0xF0) == 0xE0) {
    const uint32_t cp = ((b0 & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    return (IsTrailByte(p[1]) && IsTrailByte(p[2]) && cp >= 0x800 && IsValidCodepoint(cp)) ? 3 : 0;
  }
  if (n >= 4 && (b0 & 0xF8) == 0xF0) {
    const uint32_t cp = ((b0 & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F);
    return (IsTrailByte(p[1]) && IsTrailByte(p[2]) && IsTrailByte(p[3]) && cp >= 0x10000 &&
            IsValidCodepoint(cp))
               ? 4
               : 0;
  }
  return 0;
}

// string_util::OneCharLen: the length the library's BPE gives a character of
// (already valid) normalized text.
inline size_t OneCharLen(const char* p) {
  return static_cast<size_t>("\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[(static_cast<uint8_t>(*p)) >> 4]);
}

bool IsSingleChar(std::string_view s) {
  return !s.empty() && ValidCharLen(s.data(), s.size()) == s.size();
}

// Whether s = ▁* followed by characters other than ▁ (no "▁" after a non-▁
// character).
bool SpaceOnlyAsPrefix(std::string_view s) {
  size_t i = 0;
  while (s.substr(i, 3) == kSpaceSymbol) i += 3;
  return s.find(kSpaceSymbol, i) == std::string_view::npos;
}

inline uint64_t Read8(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint64_t Read4(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint16_t Read2(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint64_t Mum(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

inline bool IsSeparatorAt(const char* p, size_t i, size_t n) {
  return p[i] == ' ' || (static_cast<uint8_t>(p[i]) == 0xE2 && i + 2 < n &&
                         static_cast<uint8_t>(p[i + 1]) == 0x96 && static_cast<uint8_t>(p[i + 2]) == 0x81);
}

}  // namespace

bool ParseSpmModel(std::string_view bytes, SpmModelInfo* info, std::string* error) {
  *info = SpmModelInfo();
  WireReader r(bytes);
  uint32_t field, wt;
  while (r.Tag(&field, &wt)) {
    std::string_view sub;
    if (wt == 2 && (field == 1 || field == 2 || field == 3)) {
      if (!r.Bytes(&sub)) break;
      bool ok = true;
      if (field == 1) {
        info->pieces.emplace_back();
        ok = ParsePiece(sub, &info->pieces.back());
      } else if (field == 2) {
        ok = ParseTrainerSpec(sub, info);
      } else {
        info->has_normalizer_spec = true;
        ok = ParseNormalizerSpec(sub, info);
      }
      if (!ok) {
        *error = "malformed sub-message (field " + std::to_string(field) + ")";
        return false;
      }
    } else if (!r.Skip(wt)) {
      break;
    }
  }
  if (r.failed()) {
    *error = "malformed protobuf wire data";
    return false;
  }
  return true;
}

Plan AnalyzeModel(const SpmModelInfo& info) {
  Plan plan;
  auto fail = [&](std::string why) {
    plan.segmentable = plan.native_bpe = false;
    if (plan.reason.empty()) plan.reason = std::move(why);
  };
  bool has_unused = false, has_user_defined = false;
  int space_type = 0;  // type of the piece "▁" (0: none)
  int ws_type = 0;     // type of the piece the dummy prefix / a space becomes
  const std::string ws = info.escape_whitespaces ? kSpaceSymbol : " ";
  std::string bad_piece;
  for (const auto& p : info.pieces) {
    if (p.type == kUnused) has_unused = true;
    if (p.type == kUserDefined) has_user_defined = true;
    if (p.piece == kSpaceSymbol && space_type == 0) space_type = p.type;
    if (p.piece == ws && ws_type == 0) ws_type = p.type;
    if ((p.type == kNormal || p.type == kUserDefined || p.type == kUnused) && bad_piece.empty() &&
        !SpaceOnlyAsPrefix(p.piece)) {
      bad_piece = p.piece;
    }
  }

  // MaxTokensForBytes: every normalized character becomes at most one id per
  // byte of its raw form (merges only shrink the count; byte fallback spends
  // one id per byte of an unknown character, whose raw and normalized bytes
  // agree except for ' ' -> "▁", which must therefore be a known piece when
  // spaces are escaped), and the dummy prefix at most one more.
  plan.bytes_plus_one = info.model_type == kBpe && info.precompiled_charsmap.empty() && !has_unused &&
                        (!info.byte_fallback || !info.escape_whitespaces || (ws_type != 0 && ws_type != kUnknown));

  plan.segmentable = plan.native_bpe = true;
  if (info.model_type != kBpe) {
    fail("model_type " + std::to_string(info.model_type) +
         " is not BPE (only BPE merges decompose exactly at word boundaries)");
  }
  if (!info.precompiled_charsmap.empty()) {
    fail("normalizer '" + info.normalizer_name + "' rewrites characters (precompiled_charsmap is not empty)");
  }
  if (!info.add_dummy_prefix) fail("add_dummy_prefix is false");
  if (info.remove_extra_whitespaces) fail("remove_extra_whitespaces is true");
  if (!info.escape_whitespaces) fail("escape_whitespaces is false");
  if (info.treat_whitespace_as_suffix) fail("treat_whitespace_as_suffix is true");
  if (has_unused) {
    fail("the model has UNUSED pieces (the library's resegmentation map spans the whole input)");
  }
  if (!bad_piece.empty()) fail("piece '" + bad_piece + "' has U+2581 after another character");
  if (!info.byte_fallback && (space_type == 0 || space_type == kUnknown)) {
    fail("no byte_fallback and U+2581 is not a known piece (runs of unknown pieces would merge across words)");
  }
  if (plan.segmentable && has_user_defined) {
    plan.native_bpe = false;
    plan.nul_to_library = true;
    plan.reason = "the model has USER_DEFINED pieces (segments are encoded by the library)";
  }
  return plan;
}

size_t FindSeparator(const char* p, size_t from, size_t n) {
  size_t i = from;
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(' ');
  const __m128i e2 = _mm_set1_epi8(static_cast<char>(0xE2));
  while (i + 16 <= n) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    uint32_t mask = static_cast<uint32_t>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, space), _mm_cmpeq_epi8(v, e2))));
    while (mask != 0) {
      const size_t j = i + static_cast<size_t>(__builtin_ctz(mask));
      if (IsSeparatorAt(p, j, n)) return j;
      mask &= mask - 1;
    }
    i += 16;
  }
#endif
  for (; i < n; ++i) {
    if (IsSeparatorAt(p, i, n)) return i;
  }
  return n;
}

size_t SkipSeparators(const char* p, size_t from, size_t n) {
  size_t i = from;
  while (i < n) {
    if (p[i] == ' ') {
      ++i;
    } else if (IsSeparatorAt(p, i, n)) {
      i += 3;
    } else {
      break;
    }
  }
  return i;
}

void NormalizeSegmentKey(std::string_view key, std::string* out) {
  out->append(kSpaceSymbol, 3);
  const char* p = key.data();
  const size_t n = key.size();
  size_t i = 0;
  while (i < n) {
    // Copy a run of plain ASCII at once.
    size_t j = i;
    while (j < n && static_cast<uint8_t>(p[j]) < 0x80 && p[j] != ' ') ++j;
    out->append(p + i, j - i);
    i = j;
    if (i >= n) break;
    if (p[i] == ' ') {
      out->append(kSpaceSymbol, 3);
      ++i;
      continue;
    }
    const size_t len = ValidCharLen(p + i, n - i);
    if (len == 0) {
      out->append("\xEF\xBF\xBD", 3);
      ++i;
    } else {
      out->append(p + i, len);
      i += len;
    }
  }
}

uint64_t HashBytes(const char* p, size_t len) {
  constexpr uint64_t s0 = 0xa0761d6478bd642full, s1 = 0xe7037ed1a0b428dbull, s2 = 0x8ebc6af09c88c6e3ull;
  uint64_t seed = s0 ^ (len * s2);
  uint64_t a, b;
  if (len <= 16) {
    if (len >= 4) {
      const size_t q = (len >> 3) << 2;
      a = (Read4(p) << 32) | Read4(p + q);
      b = (Read4(p + len - 4) << 32) | Read4(p + len - 4 - q);
    } else if (len > 0) {
      a = (static_cast<uint64_t>(static_cast<uint8_t>(p[0])) << 16) |
          (static_cast<uint64_t>(static_cast<uint8_t>(p[len >> 1])) << 8) | static_cast<uint8_t>(p[len - 1]);
      b = 0;
    } else {
      a = b = 0;
    }
  } else {
    size_t i = len;
    while (i > 16) {
      seed = Mum(Read8(p) ^ s1, Read8(p + 8) ^ seed);
      p += 16;
      i -= 16;
    }
    a = Read8(p + i - 16);
    b = Read8(p + i - 8);
  }
  uint64_t h = Mum(s1 ^ len, Mum(a ^ s1, b ^ seed));
  return h != 0 ? h : 1;
}

// ---------------------------------------------------------------------------
// NativeBpe
// ---------------------------------------------------------------------------

namespace {

// Open addressing map Key -> Value with a reserved empty key; key and value
// share a slot so a lookup touches one cache line.
template <typename Key, typename Value>
class MergeMap {
 public:
  static constexpr Key kEmpty = static_cast<Key>(~Key{0});
  static constexpr Value kNone = static_cast<Value>(~Value{0});
  void Init(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap <<= 1;
    slots_.assign(cap, Entry{kEmpty, kNone});
    mask_ = cap - 1;
  }
  static size_t Slot(uint64_t k) {  // murmur3 fmix64
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return static_cast<size_t>(k);
  }
  void Put(Key k, Value v) {
    size_t i = Slot(k) & mask_;
    while (slots_[i].key != kEmpty && slots_[i].key != k) i = (i + 1) & mask_;
    slots_[i] = Entry{k, v};
  }
  void Prefetch(Key k) const { __builtin_prefetch(&slots_[Slot(k) & mask_]); }
  // The value of k, or kNone.
  Value Get(Key k) const {
    size_t i = Slot(k) & mask_;
    while (true) {
      const Entry& e = slots_[i];
      if (e.key == k) return e.value;
      if (e.key == kEmpty) return kNone;
      i = (i + 1) & mask_;
    }
  }

 private:
  struct Entry {
    Key key;
    Value value;
  };
  std::vector<Entry> slots_;
  size_t mask_ = 0;
};

struct CharInfo {
  int32_t key = -1;  // merge key: the NORMAL piece id, a synthetic key, or -1 (never merges)
  int32_t id = 0;    // PieceToId(char): what the character is emitted as when unmerged
};

inline uint64_t PackChar(const char* p, size_t len) {
  uint64_t v = 0;
  for (size_t k = 0; k < len; ++k) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[k])) << (8 * k);
  return v;
}

}  // namespace

// 16 bytes per symbol and 16 per queued pair: a segment of n bytes needs at
// most ~70n bytes here (the library needs ~220n).
struct NativeBpe::Scratch {
  struct Cand {
    uint64_t priority;  // (rank of the merged piece's score << 32) | ~left: the library's order
    uint32_t size;      // bytes of the merged piece (the library's staleness test)
    int32_t id;         // the merged piece
  };
  std::vector<int32_t> key, prev, next;
  std::vector<uint32_t> len;
  std::vector<Cand> heap;
};

NativeBpe::ScratchPtr NativeBpe::NewScratch() { return ScratchPtr(new Scratch()); }
void NativeBpe::ScratchDeleter::operator()(Scratch* s) const { delete s; }

struct NativeBpe::Impl {
  CharInfo ascii[128];
  CharInfo space;                       // U+2581, in every segment
  std::unordered_map<uint64_t, CharInfo> chars;  // other multi-byte characters, packed
  // (left key, right key) -> (rank of the merged piece's score, its id).
  // Ranks order the NORMAL pieces' scores, equal scores equal ranks. When
  // every key, id and rank fits 16 bits: 32-bit keys and (rank << 16 | id)
  // values (8-byte slots); else 64-bit keys and (rank << 32 | id).
  bool small_keys = true;
  MergeMap<uint32_t, uint32_t> merges32;
  MergeMap<uint64_t, uint64_t> merges64;
  std::vector<uint8_t> type;   // by id
  int32_t byte_ids[256] = {};
  int32_t unk_id = 0;
  bool byte_fallback = false;

  CharInfo LookupChar(const char* p, size_t len) const {
    if (len == 1 && static_cast<uint8_t>(p[0]) < 0x80) return ascii[static_cast<uint8_t>(p[0])];
    if (len == 3 && std::memcmp(p, kSpaceSymbol, 3) == 0) return space;
    auto it = chars.find(PackChar(p, len));
    if (it != chars.end()) return it->second;
    CharInfo unknown;
    unknown.id = unk_id;
    return unknown;
  }

  template <typename Map, typename Key>
  void Encode(const Map& merges, std::string_view normalized, Scratch* sc, std::vector<int32_t>* out) const;
};

NativeBpe::~NativeBpe() = default;

std::unique_ptr<NativeBpe> NativeBpe::Build(const SpmModelInfo& info, std::string* why_not) {
  if (info.model_type != kBpe) {
    *why_not = "not a BPE model";
    return nullptr;
  }
  std::unordered_map<std::string_view, int32_t> normal, reserved;
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
        normal.emplace(p.piece, id);
        scores.push_back(p.score);
        break;
      case kUnknown:
        if (unk_id < 0) unk_id = id;
        reserved.emplace(p.piece, id);
        break;
      case kControl:
      case kByte:
        reserved.emplace(p.piece, id);
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
  for (const auto& [piece, id] : normal) {
    if (reserved.count(piece)) {
      *why_not = "piece '" + std::string(piece) + "' is both NORMAL and reserved";
      return nullptr;
    }
  }
  auto piece_to_id = [&](std::string_view s) -> int32_t {
    if (auto it = reserved.find(s); it != reserved.end()) return it->second;
    if (auto it = normal.find(s); it != normal.end()) return it->second;
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
  // Score ranks: the library compares float scores; equal floats tie (and
  // then the leftmost pair wins), so equal scores get equal ranks.
  std::sort(scores.begin(), scores.end());
  scores.erase(std::unique(scores.begin(), scores.end(), [](float a, float b) { return a == b; }),
               scores.end());
  std::vector<uint32_t> rank(info.pieces.size(), 0);
  for (size_t i = 0; i < info.pieces.size(); ++i) {
    if (info.pieces[i].type != kNormal) continue;
    const float sc = info.pieces[i].score;
    auto it = std::lower_bound(scores.begin(), scores.end(), sc);
    rank[i] = static_cast<uint32_t>(it - scores.begin());
  }

  // Merge keys: a symbol of the library's BPE is either a NORMAL piece (key =
  // its id) or a single character (key = its NORMAL id, else a synthetic key
  // when some piece splits into it, else none: it never merges).
  std::unordered_map<std::string, int32_t> synthetic;
  int32_t next_key = static_cast<int32_t>(info.pieces.size());
  auto key_of = [&](std::string_view s) -> int32_t {
    if (auto it = normal.find(s); it != normal.end()) return it->second;
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
  m.small_keys = next_key <= 0xFFFF && scores.size() <= 0xFFFF;
  if (m.small_keys) {
    m.merges32.Init(rules.size());
    for (const auto& [k, v] : rules) {
      m.merges32.Put(static_cast<uint32_t>(((k >> 32) << 16) | (k & 0xFFFF)),
                     (rank[static_cast<size_t>(v)] << 16) | static_cast<uint32_t>(v));
    }
  } else {
    m.merges64.Init(rules.size());
    for (const auto& [k, v] : rules) {
      m.merges64.Put(k, (static_cast<uint64_t>(rank[static_cast<size_t>(v)]) << 32) | static_cast<uint32_t>(v));
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
    if (auto it = normal.find(s); it != normal.end()) {
      ci.key = it->second;
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
  return bpe;
}

void NativeBpe::EncodeNormalized(std::string_view normalized, Scratch* sc, std::vector<int32_t>* out) const {
  if (impl_->small_keys) {
    impl_->Encode<MergeMap<uint32_t, uint32_t>, uint32_t>(impl_->merges32, normalized, sc, out);
  } else {
    impl_->Encode<MergeMap<uint64_t, uint64_t>, uint64_t>(impl_->merges64, normalized, sc, out);
  }
}

// bpe::Model::SampleEncode: symbols start as characters; repeatedly the
// adjacent pair whose concatenation is a piece with the highest score is
// merged, the leftmost among equal scores (its agenda pops stale pairs and
// skips them: a pair is stale once either side changed size).
template <typename Map, typename Key>
void NativeBpe::Impl::Encode(const Map& merges, std::string_view normalized, Scratch* sc,
                             std::vector<int32_t>* out) const {
  const char* s = normalized.data();
  const size_t n = normalized.size();
  if (n == 0) return;
  if (sc->key.size() < n) {
    const size_t cap = std::max<size_t>(n, 64);
    sc->key.resize(cap);
    sc->prev.resize(cap);
    sc->next.resize(cap);
    sc->len.resize(cap);
  }
  int32_t* key = sc->key.data();
  int32_t* prev = sc->prev.data();
  int32_t* next = sc->next.data();
  uint32_t* len = sc->len.data();

  // Initial symbols: one per character. A merged symbol's key is its piece id.
  int32_t count = 0;
  for (size_t i = 0; i < n;) {
    const size_t l = std::min(OneCharLen(s + i), n - i);
    key[count] = LookupChar(s + i, l).key;
    len[count] = static_cast<uint32_t>(l);
    prev[count] = count - 1;
    next[count] = count + 1;
    ++count;
    i += l;
  }
  next[count - 1] = -1;

  auto less = [](const Scratch::Cand& a, const Scratch::Cand& b) { return a.priority < b.priority; };
  auto& heap = sc->heap;
  heap.clear();
  auto pair_key = [&](int32_t l, int32_t r) -> Key {
    if constexpr (sizeof(Key) == 4) {
      return (static_cast<uint32_t>(key[l]) << 16) | static_cast<uint32_t>(key[r]);
    } else {
      return (static_cast<uint64_t>(key[l]) << 32) | static_cast<uint32_t>(key[r]);
    }
  };
  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0 || key[l] < 0 || key[r] < 0) return;
    const Key v = merges.Get(pair_key(l, r));
    if (v == Map::kNone) return;
    constexpr int kShift = sizeof(Key) == 4 ? 16 : 32;
    const uint64_t rank = static_cast<uint64_t>(v) >> kShift;
    const int32_t merged = static_cast<int32_t>(static_cast<uint64_t>(v) & ((uint64_t{1} << kShift) - 1));
    heap.push_back(Scratch::Cand{(rank << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(l)), len[l] + len[r], merged});
    std::push_heap(heap.begin(), heap.end(), less);
  };
  // The initial pairs' lookups are independent: start their memory loads
  // together.
  for (int32_t i = 1; i < count; ++i) {
    if (key[i - 1] >= 0 && key[i] >= 0) merges.Prefetch(pair_key(i - 1, i));
  }
  for (int32_t i = 1; i < count; ++i) try_add(i - 1, i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), less);
    const Scratch::Cand top = heap.back();
    heap.pop_back();
    // The library keeps the pair's right index and drops the pair when either
    // side is empty or their sizes no longer add up. The right side it kept
    // is next[l] unless l absorbed it since, and then l alone is at least
    // top.size: the same test on next[l] drops exactly the same pairs.
    const int32_t l = static_cast<int32_t>(0xFFFFFFFFu - static_cast<uint32_t>(top.priority));
    if (len[l] == 0) continue;
    const int32_t r = next[l];
    if (r < 0 || len[r] == 0 || len[l] + len[r] != top.size) continue;  // stale
    len[l] += len[r];
    key[l] = top.id;
    next[l] = next[r];
    if (next[r] >= 0) prev[next[r]] = l;
    len[r] = 0;
    try_add(prev[l], l);
    try_add(l, next[l]);
  }

  // Ids, as SentencePieceProcessor::PopulateSentencePieceText emits them. A
  // symbol that never merged (one character) is emitted as PieceToId(char);
  // a merged one is a NORMAL piece, its key.
  bool prev_unk = false;
  size_t offset = 0;
  for (int32_t i = 0; i != -1; offset += len[i], i = next[i]) {
    const char* piece = s + offset;
    const bool single_char = len[i] == std::min(OneCharLen(piece), n - offset);
    const int32_t pid = single_char ? LookupChar(piece, len[i]).id : key[i];
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
  // Do not keep the memory of a rare huge segment.
  if (sc->key.size() > (size_t{1} << 18)) *sc = Scratch();
}

// ---------------------------------------------------------------------------
// SegmentCache
// ---------------------------------------------------------------------------

namespace {

constexpr size_t kInitialSlots = size_t{1} << 16;
constexpr size_t kMinCacheBytes = size_t{256} << 10;
// Entry blocks per thread: big enough that taking one (an atomic add and a
// lock) is rare, small enough that 16 threads' unused tails stay small.
constexpr size_t kBlockBytes = size_t{256} << 10;
// Writers add their inserts to the shared count in batches: a shared
// counter bumped on every miss by every thread would bounce between cores.
constexpr uint64_t kCountBatch = 64;
// Linear probing stays short below these loads; past them a lookup could
// walk long runs. A full table never happens, but probes stay bounded.
constexpr double kGrowLoad = 0.5, kFreezeLoad = 0.6;
constexpr size_t kMaxProbes = 4096;

constexpr int kPointerBits = 48;  // x86-64 and AArch64 user space
constexpr uint64_t kPointerMask = (uint64_t{1} << kPointerBits) - 1;

inline uint64_t Tag(uint64_t h) { return h >> kPointerBits; }
inline uint64_t SlotWord(uint64_t h, const char* entry) {
  return (Tag(h) << kPointerBits) | (reinterpret_cast<uintptr_t>(entry) & kPointerMask);
}
inline const char* EntryOf(uint64_t word) { return reinterpret_cast<const char*>(word & kPointerMask); }

// Entry layout: u16 key length, u16 id count, int32 ids, key bytes; 4-aligned.
inline size_t EntryBytes(size_t key_len, size_t n_ids) { return (4 + 4 * n_ids + key_len + 3) & ~size_t{3}; }
inline uint16_t EntryKeyLen(const char* e) { return Read2(e); }
inline uint16_t EntryIds(const char* e) { return Read2(e + 2); }
inline const char* EntryKey(const char* e) { return e + 4 + 4 * static_cast<size_t>(EntryIds(e)); }

// a[0, n) == b[0, n) without reading outside either range.
inline bool BytesEqual(const char* a, const char* b, size_t n) {
  if (n >= 8) {
    for (size_t i = 0; i + 8 <= n; i += 8) {
      if (Read8(a + i) != Read8(b + i)) return false;
    }
    return Read8(a + n - 8) == Read8(b + n - 8);
  }
  if (n >= 4) return Read4(a) == Read4(b) && Read4(a + n - 4) == Read4(b + n - 4);
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

inline bool EntryMatches(const char* e, std::string_view key) {
  return EntryKeyLen(e) == key.size() && BytesEqual(EntryKey(e), key.data(), key.size());
}

}  // namespace

// Slots are plain words accessed through std::atomic_ref, so a table is one
// calloc: the kernel hands over zero pages as they are first touched.
struct SegmentCache::Table {
  size_t mask;
  uint64_t* slots;
  size_t slot_count() const { return mask + 1; }
  size_t bytes() const { return slot_count() * sizeof(uint64_t); }
  std::atomic_ref<uint64_t> slot(size_t i) const { return std::atomic_ref<uint64_t>(slots[i]); }
};

SegmentCache::TablePtr SegmentCache::NewTable(size_t slots) {
  auto* t = new Table{slots - 1, static_cast<uint64_t*>(std::calloc(slots, sizeof(uint64_t)))};
  if (t->slots == nullptr) throw std::bad_alloc();
  return TablePtr(t, [](Table* p) {
    std::free(p->slots);
    delete p;
  });
}

SegmentCache::SegmentCache(size_t max_bytes) : max_bytes_(std::clamp<size_t>(max_bytes, kMinCacheBytes, size_t{1} << 40)) {
  // A quarter of the bound for the largest table; every table of the growth
  // sequence is kept (readers may still hold one), the rest is for entries.
  max_slots_ = 1024;
  while (2 * max_slots_ * sizeof(uint64_t) <= max_bytes_ / 4) max_slots_ *= 2;
  size_t tables = 0;
  for (size_t n = std::min(kInitialSlots, max_slots_);; n = std::min(4 * n, max_slots_)) {
    tables += n * sizeof(uint64_t);
    if (n == max_slots_) break;
  }
  arena_budget_ = max_bytes_ - tables;
  tables_.push_back(NewTable(std::min(kInitialSlots, max_slots_)));
  table_.store(tables_.back().get(), std::memory_order_release);
}

SegmentCache::~SegmentCache() = default;

const int32_t* SegmentCache::Find(uint64_t h, std::string_view key, uint32_t* n_ids) const {
  const Table* t = table_.load(std::memory_order_acquire);
  const uint64_t tag = Tag(h);
  size_t i = h & t->mask;
  for (size_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & t->mask) {
    const uint64_t w = t->slot(i).load(std::memory_order_acquire);
    if (w == 0) return nullptr;
    if ((w >> kPointerBits) != tag) continue;
    const char* e = EntryOf(w);
    if (EntryMatches(e, key)) {
      *n_ids = EntryIds(e);
      return reinterpret_cast<const int32_t*>(e + 4);
    }
  }
  return nullptr;
}

void SegmentCache::PrefetchSlot(uint64_t h) const {
  const Table* t = table_.load(std::memory_order_acquire);
  __builtin_prefetch(&t->slots[h & t->mask]);
}

void SegmentCache::PrefetchEntry(uint64_t h) const {
  const Table* t = table_.load(std::memory_order_acquire);
  const uint64_t w = t->slot(h & t->mask).load(std::memory_order_relaxed);
  if (w != 0 && (w >> kPointerBits) == Tag(h)) __builtin_prefetch(EntryOf(w));
}

bool SegmentCache::NewBlock(Writer* w, size_t need) {
  const size_t size = std::max(kBlockBytes, need);
  if (arena_bytes_.fetch_add(size, std::memory_order_relaxed) + size > arena_budget_) {
    arena_bytes_.fetch_sub(size, std::memory_order_relaxed);  // not taken: keep the reported bytes true
    frozen_.store(true, std::memory_order_relaxed);
    return false;
  }
  std::unique_ptr<char[]> block(new char[size]);
  w->block = block.get();
  w->used = 0;
  w->cap = size;
  std::lock_guard<std::mutex> lock(mu_);
  blocks_.push_back(std::move(block));
  return true;
}

void SegmentCache::Insert(Writer* w, uint64_t h, std::string_view key, const int32_t* ids, size_t n_ids) {
  if (frozen_.load(std::memory_order_relaxed)) {
    ++w->stats.refused;
    return;
  }
  const uint64_t epoch = epoch_.load(std::memory_order_relaxed);
  if (w->epoch != epoch) {  // the cache was cleared: the old block is gone
    *w = Writer{nullptr, 0, 0, epoch, 0, w->stats};
  }
  const size_t need = EntryBytes(key.size(), n_ids);
  if (w->used + need > w->cap && !NewBlock(w, need)) {
    ++w->stats.refused;
    return;
  }
  char* e = w->block + w->used;
  if ((reinterpret_cast<uintptr_t>(e) >> kPointerBits) != 0) {  // not on this platform's heaps
    ++w->stats.refused;
    return;
  }
  const uint16_t key_len = static_cast<uint16_t>(key.size()), count = static_cast<uint16_t>(n_ids);
  std::memcpy(e, &key_len, 2);
  std::memcpy(e + 2, &count, 2);
  std::memcpy(e + 4, ids, 4 * n_ids);
  std::memcpy(e + 4 + 4 * n_ids, key.data(), key.size());
  const uint64_t mine = SlotWord(h, e);
  const Table* t = table_.load(std::memory_order_acquire);
  size_t i = h & t->mask;
  for (size_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & t->mask) {
    uint64_t seen = t->slot(i).load(std::memory_order_acquire);
    if (seen == 0) {
      // Release: whoever sees the word sees the entry written above.
      if (t->slot(i).compare_exchange_strong(seen, mine, std::memory_order_acq_rel, std::memory_order_acquire)) {
        w->used += need;
        if (++w->pending >= kCountBatch) AddPending(w, t);
        return;
      }
    }
    // Taken, perhaps just now by another thread with this very key.
    if ((seen >> kPointerBits) == Tag(h) && EntryMatches(EntryOf(seen), key)) return;
  }
  ++w->stats.refused;
}

void SegmentCache::AddPending(Writer* w, const Table* t) {
  const uint64_t count = count_.fetch_add(w->pending, std::memory_order_relaxed) + w->pending;
  w->pending = 0;
  const double slots = static_cast<double>(t->slot_count());
  if (t->slot_count() < max_slots_) {
    if (static_cast<double>(count) > kGrowLoad * slots) Grow(t);
  } else if (static_cast<double>(count) > kFreezeLoad * slots) {
    frozen_.store(true, std::memory_order_relaxed);
  }
}

void SegmentCache::Grow(const Table* seen) {
  std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
  // Another thread is growing it (or has): this insert is done either way.
  if (!lock.owns_lock() || table_.load(std::memory_order_acquire) != seen) return;
  TablePtr bigger = NewTable(std::min(4 * seen->slot_count(), max_slots_));
  uint64_t copied = 0;
  for (size_t k = 0; k < seen->slot_count(); ++k) {
    const uint64_t w = seen->slot(k).load(std::memory_order_acquire);
    if (w == 0) continue;
    const char* e = EntryOf(w);
    const uint64_t h = HashBytes(EntryKey(e), EntryKeyLen(e));
    size_t i = h & bigger->mask;
    while (bigger->slots[i] != 0) i = (i + 1) & bigger->mask;
    bigger->slots[i] = w;  // not yet visible to other threads
    ++copied;
  }
  count_.store(copied, std::memory_order_relaxed);
  table_.store(bigger.get(), std::memory_order_release);
  tables_.push_back(std::move(bigger));
}

void SegmentCache::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  tables_.clear();
  blocks_.clear();
  tables_.push_back(NewTable(std::min(kInitialSlots, max_slots_)));
  table_.store(tables_.back().get(), std::memory_order_release);
  count_.store(0, std::memory_order_relaxed);
  arena_bytes_.store(0, std::memory_order_relaxed);
  frozen_.store(false, std::memory_order_relaxed);
  epoch_.fetch_add(1, std::memory_order_relaxed);
}

CacheStats SegmentCache::Snapshot(const Writer& w) const {
  CacheStats s = w.stats;
  s.entries = count_.load(std::memory_order_relaxed) + w.pending;
  s.bytes = arena_bytes_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& t : tables_) s.bytes += t->bytes();
  return s;
}

}  // namespace lcde::fasttok
