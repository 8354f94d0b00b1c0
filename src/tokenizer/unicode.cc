#include "lcde/tokenizer/unicode.h"

#include <oniguruma.h>
#include <utf8proc.h>

#include <cstring>
#include <memory>
#include <mutex>

namespace lcde::tok {

namespace {

constexpr uint32_t kCodePoints = 0x110000;

// Marks every code point of Oniguruma's ctype as `cls`.
void MarkCtype(OnigCtype ctype, uint8_t cls, uint8_t* table) {
  OnigCodePoint sb_out = 0;
  const OnigCodePoint* ranges = nullptr;
  if (ONIGENC_GET_CTYPE_CODE_RANGE(ONIG_ENCODING_UTF8, ctype, &sb_out, &ranges) != 0 || ranges == nullptr) {
    // No range table: ask code point by code point (never taken for UTF-8).
    for (uint32_t c = 0; c < kCodePoints; ++c) {
      if (ONIGENC_IS_CODE_CTYPE(ONIG_ENCODING_UTF8, c, ctype)) table[c] = cls;
    }
    return;
  }
  const OnigCodePoint n = ranges[0];
  for (OnigCodePoint i = 0; i < n; ++i) {
    const OnigCodePoint from = ranges[1 + 2 * i], to = ranges[2 + 2 * i];
    if (from >= kCodePoints) break;
    const OnigCodePoint last = to < kCodePoints ? to : kCodePoints - 1;
    std::memset(table + from, cls, last - from + 1);
  }
  // Below sb_out the ranges may not be authoritative: ask directly.
  for (uint32_t c = 0; c < sb_out && c < 0x100; ++c) {
    if (ONIGENC_IS_CODE_CTYPE(ONIG_ENCODING_UTF8, c, ctype)) {
      table[c] = cls;
    } else if (table[c] == cls) {
      table[c] = kClassOther;
    }
  }
}

OnigCtype PropertyCtype(const char* name) {
  const auto* p = reinterpret_cast<const OnigUChar*>(name);
  return static_cast<OnigCtype>(ONIGENC_PROPERTY_NAME_TO_CTYPE(ONIG_ENCODING_UTF8, const_cast<OnigUChar*>(p),
                                                               const_cast<OnigUChar*>(p + std::strlen(name))));
}

std::unique_ptr<uint8_t[]> BuildTable() {
  OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
  onig_initialize(encodings, 1);
  auto table = std::make_unique<uint8_t[]>(kCodePoints);  // zeroed: kClassOther
  MarkCtype(PropertyCtype("L"), kClassLetter, table.get());
  MarkCtype(PropertyCtype("N"), kClassNumber, table.get());
  MarkCtype(ONIGENC_CTYPE_SPACE, kClassSpace, table.get());
  return table;
}

}  // namespace

const uint8_t* CharClassTable() {
  static const std::unique_ptr<uint8_t[]> table = BuildTable();
  return table.get();
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsValidUtf8(std::string_view text) {
  const utf8proc_uint8_t* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    if (*p < 0x80) {
      ++p;
      --left;
      continue;
    }
    utf8proc_int32_t c;
    const utf8proc_ssize_t n = utf8proc_iterate(p, left, &c);
    if (n <= 0) return false;
    p += n;
    left -= n;
  }
  return true;
}

bool NfcNormalizer::TriviallyNormal(std::string_view text) {
  for (char c : text) {
    if (static_cast<uint8_t>(c) >= 0x80) return false;
  }
  return true;
}

bool NfcNormalizer::Normalize(std::string_view text, std::string* out) {
  out->clear();
  const char* p = text.data();
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    // ASCII up to the character before the next non-ASCII byte.
    size_t j = i;
    while (j < n && static_cast<uint8_t>(p[j]) < 0x80) ++j;
    if (j == n) {
      out->append(p + i, n - i);
      break;
    }
    const size_t run_begin = j > i ? j - 1 : i;  // an ASCII starter may compose with what follows
    out->append(p + i, run_begin - i);
    size_t k = j;
    while (k < n && static_cast<uint8_t>(p[k]) >= 0x80) ++k;
    // NFC(p[run_begin, k)) via utf8proc into the reused buffer.
    const auto* src = reinterpret_cast<const utf8proc_uint8_t*>(p + run_begin);
    const auto len = static_cast<utf8proc_ssize_t>(k - run_begin);
    const auto options = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (buffer_.size() < static_cast<size_t>(len) + 16) buffer_.resize(static_cast<size_t>(len) + 16);
    utf8proc_ssize_t got = utf8proc_decompose(src, len, buffer_.data(), static_cast<utf8proc_ssize_t>(buffer_.size()),
                                              static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
    if (got > static_cast<utf8proc_ssize_t>(buffer_.size())) {
      buffer_.resize(static_cast<size_t>(got));
      got = utf8proc_decompose(src, len, buffer_.data(), got,
                               static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
    }
    if (got < 0) {
      out->assign(text);
      return false;
    }
    got = utf8proc_normalize_utf32(buffer_.data(), got, options);
    if (got < 0) {
      out->assign(text);
      return false;
    }
    // Re-encode: at most 4 bytes a code point.
    const size_t base = out->size();
    out->resize(base + static_cast<size_t>(got) * 4);
    char* dst = out->data() + base;
    size_t w = 0;
    for (utf8proc_ssize_t c = 0; c < got; ++c) {
      w += static_cast<size_t>(
          utf8proc_encode_char(buffer_[static_cast<size_t>(c)], reinterpret_cast<utf8proc_uint8_t*>(dst + w)));
    }
    out->resize(base + w);
    if (buffer_.size() > (size_t{1} << 22)) std::vector<int32_t>().swap(buffer_);
    i = k;
  }
  return true;
}

}  // namespace lcde::tok
