// Unicode for the tokenizer.json member (tokenizer_json.h), from well-kept
// libraries rather than hand-made tables:
//   - character classes from Oniguruma, the regex engine HF `tokenizers`
//     itself runs (Debian's libonig 6.9.8 is the version its onig crate
//     bundles), so \p{L}, \p{N} and \s mean here exactly what they mean there;
//   - NFC from utf8proc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lcde::tok {

// The classes the pre-tokenizer regexes of byte-level BPE files test.
enum CharClass : uint8_t {
  kClassOther = 0,  // none below: punctuation, symbols, marks, controls...
  kClassLetter,     // \p{L}
  kClassNumber,     // \p{N}
  kClassSpace,      // \s (Unicode White_Space, as Oniguruma defines it)
};

// One byte per code point (U+0000..U+10FFFF), built once per process from
// Oniguruma's range tables.
const uint8_t* CharClassTable();

// Decodes the code point at p (REQUIRES: valid UTF-8, at least one byte);
// *len gets its byte length.
inline uint32_t DecodeUtf8(const char* p, size_t* len) {
  const uint8_t b0 = static_cast<uint8_t>(p[0]);
  if (b0 < 0x80) {
    *len = 1;
    return b0;
  }
  if (b0 < 0xE0) {
    *len = 2;
    return ((b0 & 0x1Fu) << 6) | (static_cast<uint8_t>(p[1]) & 0x3Fu);
  }
  if (b0 < 0xF0) {
    *len = 3;
    return ((b0 & 0x0Fu) << 12) | ((static_cast<uint8_t>(p[1]) & 0x3Fu) << 6) | (static_cast<uint8_t>(p[2]) & 0x3Fu);
  }
  *len = 4;
  return ((b0 & 0x07u) << 18) | ((static_cast<uint8_t>(p[1]) & 0x3Fu) << 12) |
         ((static_cast<uint8_t>(p[2]) & 0x3Fu) << 6) | (static_cast<uint8_t>(p[3]) & 0x3Fu);
}

// Appends the UTF-8 form of code point cp (REQUIRES: cp <= 0x10FFFF).
void AppendUtf8(uint32_t cp, std::string* out);

// Whether `text` is valid UTF-8 (what a document's text always is: the reader
// rejects anything else).
bool IsValidUtf8(std::string_view text);

// NFC. A boundary before an ASCII character is always safe (no ASCII
// character reorders or composes with what precedes it), so only each run of
// non-ASCII characters, with the ASCII character before it, is handed to
// utf8proc; pure ASCII costs one scan. Reuses the caller's buffers.
class NfcNormalizer {
 public:
  // *out = NFC(text). Returns false (and *out = text) only when utf8proc
  // fails, which valid UTF-8 never makes it do.
  bool Normalize(std::string_view text, std::string* out);
  // Whether NFC(text) == text for certain, from a cheap scan (ASCII only).
  static bool TriviallyNormal(std::string_view text);

 private:
  std::vector<int32_t> buffer_;
};

}  // namespace lcde::tok
