// Segmentation of raw text at the points where no SentencePiece BPE merge
// can cross (sentencepiece.h).
#include "lcde/tokenizer/sentencepiece.h"
#include "sentencepiece_utf8.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace lcde::tok {

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

namespace {

// Whether the 8 bytes of v are ASCII other than ' ': copied unchanged.
inline bool PlainWord(uint64_t v) {
  const uint64_t spaces = v ^ 0x2020202020202020ull;  // a zero byte where v has ' '
  return ((v | ((spaces - 0x0101010101010101ull) & ~spaces)) & 0x8080808080808080ull) == 0;
}

inline uint64_t Load8(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

// Written through a pointer into room the caller made (appending byte by
// byte cost ~440 instructions a missed segment), eight bytes at a time
// while they are ASCII other than ' ' (most keys are ASCII words,
// identifiers and numbers), and the tail after them as one overlapping word.
size_t NormalizeSegmentKey(std::string_view key, char* out) {
  char* w = out;
  std::memcpy(w, kSpaceSymbol, 3);
  w += 3;
  const char* p = key.data();
  const size_t n = key.size();
  for (size_t i = 0; i < n;) {
    for (uint64_t v; i + 8 <= n && PlainWord(v = Load8(p + i)); i += 8, w += 8) std::memcpy(w, &v, 8);
    if (n >= 8 && i < n && i + 8 > n) {
      // Fewer than 8 bytes left: when the key's last 8 are plain, those of
      // them already done were copied one for one, so the word goes over them.
      const uint64_t v = Load8(p + n - 8);
      if (PlainWord(v)) {
        const size_t overlap = i + 8 - n;
        std::memcpy(w - overlap, &v, 8);
        w += 8 - overlap;
        break;
      }
    }
    if (i >= n) break;
    const char c = p[i];
    if (static_cast<uint8_t>(c) < 0x80) {
      if (c == ' ') {
        std::memcpy(w, kSpaceSymbol, 3);
        w += 3;
      } else {
        *w++ = c;
      }
      ++i;
      continue;
    }
    const size_t len = ValidCharLen(p + i, n - i);
    if (len == 0) {
      std::memcpy(w, "\xEF\xBF\xBD", 3);
      w += 3;
      ++i;
    } else {
      for (size_t k = 0; k < len; ++k) w[k] = p[i + k];
      w += len;
      i += len;
    }
  }
  return static_cast<size_t>(w - out);
}

void NormalizeSegmentKey(std::string_view key, std::string* out) {
  const size_t old = out->size();
  out->resize(old + NormalizedKeyBound(key.size()));
  out->resize(old + NormalizeSegmentKey(key, out->data() + old));
}

}  // namespace lcde::tok
