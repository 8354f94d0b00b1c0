// Segmentation of raw text at the points where no SentencePiece BPE merge
// can cross (sentencepiece.h).
#include "lcde/tokenizer/sentencepiece.h"
#include "sentencepiece_utf8.h"

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

}  // namespace lcde::tok
