#include "lcde/tokenizer/pretokenizer.h"

#include <oniguruma.h>

#include "lcde/tokenizer/unicode.h"

namespace lcde::tok {

const char kGpt2Pattern[] = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

constexpr char kLlama3Pattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr char kQwen2Pattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// A cursor over valid UTF-8 that classifies characters (unicode.h).
class Chars {
 public:
  Chars(const char* p, size_t n) : p_(p), n_(n), table_(CharClassTable()) {}
  size_t size() const { return n_; }
  // The class of the character at i (< n), its length in *len.
  uint8_t ClassAt(size_t i, size_t* len) const {
    const uint8_t b = static_cast<uint8_t>(p_[i]);
    if (b < 0x80) {
      *len = 1;
      return table_[b];
    }
    return table_[DecodeUtf8(p_ + i, len)];
  }
  uint8_t ClassAt(size_t i) const {
    size_t len;
    return ClassAt(i, &len);
  }
  char Byte(size_t i) const { return p_[i]; }
  bool IsCrLf(size_t i) const { return p_[i] == '\r' || p_[i] == '\n'; }
  // The end of the run of characters of class `cls` from i.
  size_t RunEnd(size_t i, uint8_t cls) const {
    size_t len;
    while (i < n_ && ClassAt(i, &len) == cls) i += len;
    return i;
  }
  // The end of at most `max` characters of class `cls` from i.
  size_t RunEndAtMost(size_t i, uint8_t cls, int max) const {
    size_t len;
    for (int k = 0; k < max && i < n_ && ClassAt(i, &len) == cls; ++k) i += len;
    return i;
  }
  // The start of the last character before `end` (> 0).
  size_t LastCharStart(size_t end) const {
    size_t i = end - 1;
    while (i > 0 && (static_cast<uint8_t>(p_[i]) & 0xC0) == 0x80) --i;
    return i;
  }

 private:
  const char* p_;
  size_t n_;
  const uint8_t* table_;
};

// Whether the character at i, case-folded as Oniguruma's (?i) does, is the
// ASCII letter `lower`: its two cases, and for 's' also U+017F LONG S, whose
// simple case folding is 's'.
bool FoldedIs(const Chars& c, size_t i, char lower, size_t* len) {
  if (i >= c.size()) return false;
  const char b = c.Byte(i);
  if (b == lower || b == lower - 32) {
    *len = 1;
    return true;
  }
  if (lower == 's' && static_cast<uint8_t>(b) == 0xC5 && i + 1 < c.size() &&
      static_cast<uint8_t>(c.Byte(i + 1)) == 0xBF) {
    *len = 2;
    return true;
  }
  return false;
}

// 's|'t|'re|'ve|'m|'ll|'d at i (the apostrophe at i): the match's end, or 0.
size_t MatchContraction(const Chars& c, size_t i, bool ignore_case) {
  static const char* const kSuffixes[] = {"s", "t", "re", "ve", "m", "ll", "d"};
  for (const char* suffix : kSuffixes) {
    size_t j = i + 1;
    bool ok = true;
    for (const char* s = suffix; *s && ok; ++s) {
      size_t len = 1;
      if (ignore_case) {
        ok = FoldedIs(c, j, *s, &len);
      } else {
        ok = j < c.size() && c.Byte(j) == *s;
      }
      j += len;
    }
    if (ok) return j;
  }
  return 0;
}

// The end of the whitespace alternatives of Llama-3/Qwen2 at i (a \s char):
//   \s*[\r\n]+  — up to the last CR/LF of the run, if it has one;
//   \s+(?!\S)   — the run, less its last character unless the text ends;
//   \s+         — the run.
size_t MatchSpaceRun(const Chars& c, size_t i, bool crlf_alternative) {
  const size_t end = c.RunEnd(i, kClassSpace);
  if (crlf_alternative) {
    for (size_t k = end; k > i; --k) {
      if (c.IsCrLf(k - 1)) return k;
    }
  }
  if (end == c.size()) return end;
  const size_t last = c.LastCharStart(end);
  return last > i ? last : end;
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
//  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
size_t MatchLlama3(const Chars& c, size_t i, int max_digits) {
  size_t len;
  const uint8_t cls = c.ClassAt(i, &len);
  if (c.Byte(i) == '\'') {
    if (size_t end = MatchContraction(c, i, /*ignore_case=*/true)) return end;
  }
  if (cls == kClassLetter) return c.RunEnd(i + len, kClassLetter);
  const size_t next = i + len;
  const uint8_t next_cls = next < c.size() ? c.ClassAt(next) : 0xFF;
  if (cls != kClassNumber && !c.IsCrLf(i) && next_cls == kClassLetter) return c.RunEnd(next, kClassLetter);
  if (cls == kClassNumber) return c.RunEndAtMost(i, kClassNumber, max_digits);
  size_t other = 0xFFFFFFFF;
  if (c.Byte(i) == ' ' && next_cls == kClassOther) {
    other = next;
  } else if (cls == kClassOther) {
    other = i;
  }
  if (other != 0xFFFFFFFF) {
    size_t end = c.RunEnd(other, kClassOther);
    while (end < c.size() && c.IsCrLf(end)) ++end;
    return end;
  }
  return MatchSpaceRun(c, i, /*crlf_alternative=*/true);
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
size_t MatchGpt2(const Chars& c, size_t i) {
  size_t len;
  const uint8_t cls = c.ClassAt(i, &len);
  if (c.Byte(i) == '\'') {
    if (size_t end = MatchContraction(c, i, /*ignore_case=*/false)) return end;
  }
  size_t from = i;
  uint8_t run_cls = cls;
  if (c.Byte(i) == ' ' && i + 1 < c.size()) {
    const uint8_t next_cls = c.ClassAt(i + 1);
    if (next_cls != kClassSpace) {
      from = i + 1;
      run_cls = next_cls;
    }
  }
  if (run_cls != kClassSpace) return c.RunEnd(from, run_cls);
  return MatchSpaceRun(c, i, /*crlf_alternative=*/false);
}

struct RegexDeleter {
  void operator()(regex_t* r) const { onig_free(r); }
};

}  // namespace

KnownPattern RecognizePattern(std::string_view pattern) {
  if (pattern == kLlama3Pattern) return KnownPattern::kLlama3;
  if (pattern == kQwen2Pattern) return KnownPattern::kQwen2;
  if (pattern == kGpt2Pattern) return KnownPattern::kGpt2;
  return KnownPattern::kNone;
}

struct PreTokenizer::Step {
  KnownPattern known = KnownPattern::kNone;  // kNone: Oniguruma
  std::unique_ptr<regex_t, RegexDeleter> regex;

  // The end of the match at i; the known patterns match at every position.
  size_t FastMatch(const Chars& c, size_t i) const {
    switch (known) {
      case KnownPattern::kLlama3: return MatchLlama3(c, i, 3);
      case KnownPattern::kQwen2: return MatchLlama3(c, i, 1);
      default: return MatchGpt2(c, i);
    }
  }

  void Split(const char* text, Piece piece, std::vector<Piece>* out) const {
    if (known != KnownPattern::kNone) {
      const Chars c(text + piece.begin, piece.size);
      for (size_t i = 0; i < piece.size;) {
        const size_t end = FastMatch(c, i);
        out->push_back({piece.begin + static_cast<uint32_t>(i), static_cast<uint32_t>(end - i)});
        i = end;
      }
      return;
    }
    OnigSplit(text, piece, out);
  }

  // onig's FindMatches as HF's SysRegex::find_matches runs it: the text
  // between matches is a piece too; an empty match right after the previous
  // match is skipped by one character.
  void OnigSplit(const char* text, Piece piece, std::vector<Piece>* out) const {
    thread_local std::unique_ptr<OnigRegion, void (*)(OnigRegion*)> region(
        onig_region_new(), [](OnigRegion* r) { onig_region_free(r, 1); });
    const auto* s = reinterpret_cast<const OnigUChar*>(text + piece.begin);
    const auto* end = s + piece.size;
    size_t prev = 0, last_end = 0;
    bool have_last = false;
    size_t last_match_end = 0;
    auto emit = [&](size_t b, size_t e) {
      if (e > b) out->push_back({piece.begin + static_cast<uint32_t>(b), static_cast<uint32_t>(e - b)});
    };
    while (last_end <= piece.size) {
      onig_region_clear(region.get());
      const int r = onig_search(regex.get(), s, end, s + last_end, end, region.get(), ONIG_OPTION_NONE);
      if (r < 0) break;  // ONIG_MISMATCH (or an error: the rest is one piece)
      const size_t mb = static_cast<size_t>(region->beg[0]), me = static_cast<size_t>(region->end[0]);
      if (mb == me && have_last && last_match_end == me) {
        if (last_end >= piece.size) break;
        size_t len = 1;
        DecodeUtf8(text + piece.begin + last_end, &len);
        last_end += len;
        continue;
      }
      last_end = me;
      last_match_end = me;
      have_last = true;
      emit(prev, mb);
      emit(mb, me);
      prev = me;
      if (mb == me && me >= piece.size) break;
    }
    emit(prev, piece.size);
  }
};

PreTokenizer::~PreTokenizer() = default;

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::Make(const PreTokenizerSpec& spec, bool use_fast_matchers) {
  CharClassTable();  // initializes Oniguruma once
  std::vector<std::string> patterns = spec.split_patterns;
  if (spec.gpt2_regex) patterns.emplace_back(kGpt2Pattern);
  std::unique_ptr<PreTokenizer> pre(new PreTokenizer());
  for (const std::string& pattern : patterns) {
    auto step = std::make_unique<Step>();
    regex_t* reg = nullptr;
    OnigErrorInfo einfo;
    const auto* p = reinterpret_cast<const OnigUChar*>(pattern.data());
    const int r = onig_new(&reg, p, p + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT,
                           &einfo);
    if (r != ONIG_NORMAL) {
      OnigUChar message[ONIG_MAX_ERROR_MESSAGE_LEN];
      onig_error_code_to_str(message, r, &einfo);
      return Status::InvalidConfig("pre_tokenizer regex '" + pattern +
                                   "' is refused by Oniguruma: " + reinterpret_cast<const char*>(message));
    }
    step->regex.reset(reg);
    if (use_fast_matchers) step->known = RecognizePattern(pattern);
    pre->steps_.push_back(std::move(step));
  }
  return pre;
}

bool PreTokenizer::all_fast() const {
  for (const auto& s : steps_) {
    if (s->known == KnownPattern::kNone) return false;
  }
  return true;
}

void PreTokenizer::Split(std::string_view text, std::vector<Piece>* pieces) const {
  if (text.empty()) return;
  const size_t first = pieces->size();
  steps_[0]->Split(text.data(), Piece{0, static_cast<uint32_t>(text.size())}, pieces);
  if (steps_.size() == 1) return;
  thread_local std::vector<Piece> current;
  for (size_t s = 1; s < steps_.size(); ++s) {
    current.assign(pieces->begin() + static_cast<std::ptrdiff_t>(first), pieces->end());
    pieces->resize(first);
    for (const Piece& piece : current) steps_[s]->Split(text.data(), piece, pieces);
  }
}

}  // namespace lcde::tok
