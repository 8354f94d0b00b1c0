// UTF-8 exactly as sentencepiece's string_util::DecodeUTF8 sees it, for the
// SentencePiece model's sources (src/tokenizer/sentencepiece_*.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace lcde::tok {

inline constexpr char kSpaceSymbol[] = "\xe2\x96\x81";  // U+2581, the library's "▁"

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

inline bool IsSingleChar(std::string_view s) {
  return !s.empty() && ValidCharLen(s.data(), s.size()) == s.size();
}

// Whether s = ▁* followed by characters other than ▁ (no "▁" after a non-▁
// character).
inline bool SpaceOnlyAsPrefix(std::string_view s) {
  size_t i = 0;
  while (s.substr(i, 3) == kSpaceSymbol) i += 3;
  return s.find(kSpaceSymbol, i) == std::string_view::npos;
}

inline bool IsSeparatorAt(const char* p, size_t i, size_t n) {
  return p[i] == ' ' || (static_cast<uint8_t>(p[i]) == 0xE2 && i + 2 < n &&
                         static_cast<uint8_t>(p[i + 1]) == 0x96 && static_cast<uint8_t>(p[i + 2]) == 0x81);
}

}  // namespace lcde::tok
