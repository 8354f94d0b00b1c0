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

// Written through a pointer into room made once: appending byte by byte
// cost ~440 instructions a missed segment (a tenth of a cold pass's).
void NormalizeSegmentKey(std::string_view key, std::string* out) {
  const size_t old = out->size();
  // Every input byte becomes at most 3 (' ' and an invalid byte do).
  out->resize(old + 3 + 3 * key.size());
  char* w = out->data() + old;
  std::memcpy(w, kSpaceSymbol, 3);
  w += 3;
  const char* p = key.data();
  const size_t n = key.size();
  for (size_t i = 0; i < n;) {
    // Eight bytes at a time while they are ASCII other than ' ' (most keys
    // are ASCII words, identifiers and numbers).
    while (i + 8 <= n) {
      uint64_t v;
      std::memcpy(&v, p + i, 8);
      const uint64_t spaces = v ^ 0x2020202020202020ull;  // a zero byte where v has ' '
      if (((v | ((spaces - 0x0101010101010101ull) & ~spaces)) & 0x8080808080808080ull) != 0) break;
      std::memcpy(w, &v, 8);
      w += 8;
      i += 8;
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
  out->resize(static_cast<size_t>(w - out->data()));
}

}  // namespace lcde::tok
