// The SentencePiece member of the tokenizer family (tokenizer.h): the model
// proto, the proof that its text splits into independent segments, and a
// native re-implementation of the library's BPE. Internal: src/tokenizer/,
// the tokenizer tests and the tokenizer benchmark include this header.
//
// Idea. For a BPE model whose normalizer is the identity (empty
// precompiled_charsmap) and that escapes spaces as U+2581 "▁", adds the dummy
// prefix and keeps extra whitespace, the library's normalized text is
// "▁" + text with every ' ' replaced by "▁" (and every byte that does not
// start a valid UTF-8 character replaced by U+FFFD). When no mergeable piece
// has "▁" after another character (every piece is ▁* followed by non-▁
// characters), no BPE merge can cross a point where "▁" follows a non-▁
// character, so the normalized text splits into independent SEGMENTS — a
// maximal run of ▁ and the non-▁ characters after it — and the ids of the
// text are the concatenation of the ids of its segments. Segments repeat
// heavily in natural text, so a cache shared by all threads (segment bytes -> ids) in
// front of an exact encoder of one segment wins most of the time. The
// encoder of a segment is a native re-implementation of the library's BPE
// (bpe_model.cc: same merge order, same tie-break, same byte fallback) when
// the model has no piece types it does not model, else the library itself.
// Every precondition is derived from the model proto at load time; when one
// fails the Tokenizer uses the plain library.
//
// Preconditions (AnalyzeModel), against sentencepiece 0.1.97's code:
//  - model_type BPE. (Unigram's Viterbi sums float scores along the whole
//    text, so a segment's choice may round differently in context.)
//  - precompiled_charsmap empty (identity normalizer: each character maps to
//    itself, ' ' to "▁", an invalid byte to U+FFFD, independently of its
//    neighbours; ' ' and the lead byte 0xE2 of "▁" are never UTF-8 trail
//    bytes, so cutting before them never changes how a neighbour decodes).
//  - add_dummy_prefix, escape_whitespaces, !remove_extra_whitespaces,
//    !treat_whitespace_as_suffix: then Normalize(t) = "▁" + map(t), and a
//    literal U+2581 in the text is indistinguishable from a space.
//  - every NORMAL / USER_DEFINED / UNUSED piece matches ▁*[^▁]*: a merge
//    (or a user-defined match) never spans a point where "▁" follows
//    another character; the library's agenda merges pairs of each segment
//    in the same relative order as it would the segment alone.
//  - no UNUSED pieces: bpe_model.cc keeps one resegmentation map for the
//    whole input, filled in agenda order across segments.
//  - byte_fallback, or "▁" a known piece: the library merges runs of
//    unknown pieces into one <unk>; a segment must never start with one.
// With USER_DEFINED pieces the segments are still independent, but they are
// encoded by the library (the native BPE does not model them) and texts with
// NUL bytes go to the library whole (darts-clone, which matches user-defined
// symbols, treats NUL as its terminator).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lcde/tokenizer.h"

namespace lcde::tok {

// ---------------------------------------------------------------------------
// The model proto (sentencepiece_model.proto), parsed from its wire format.
// Only the fields that change what Encode() returns are kept.
// ---------------------------------------------------------------------------

enum PieceType : int {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

enum ModelType : int { kUnigram = 1, kBpe = 2, kWord = 3, kChar = 4 };

struct SpmPiece {
  std::string piece;
  float score = 0.0f;
  int type = kNormal;
};

struct SpmModelInfo {
  std::vector<SpmPiece> pieces;            // ModelProto.pieces = 1
  // TrainerSpec = 2
  int model_type = kUnigram;               // 3
  bool treat_whitespace_as_suffix = false;  // 24
  bool byte_fallback = false;              // 35
  // NormalizerSpec = 3
  bool has_normalizer_spec = false;
  std::string normalizer_name;             // 1
  std::string precompiled_charsmap;        // 2
  bool add_dummy_prefix = true;            // 3
  bool remove_extra_whitespaces = true;    // 4
  bool escape_whitespaces = true;          // 5
};

// Parses a serialized ModelProto. Returns false (with *error) on malformed
// wire data. Unknown fields are skipped; repeated singular fields follow
// proto2 rules (last value wins, sub-messages merge).
bool ParseSpmModel(std::string_view bytes, SpmModelInfo* info, std::string* error);

// What the model allows.
struct Plan {
  bool segmentable = false;   // segments are independent (see above)
  bool native_bpe = false;    // segmentable and the native BPE models every piece type present
  bool bytes_plus_one = false;  // MaxTokensForBytes(b) = b + 1 holds for valid UTF-8
  // USER_DEFINED pieces are matched by the library with a darts trie, which
  // does not treat a NUL byte as an ordinary character: texts with NUL bytes
  // then go to the library whole.
  bool nul_to_library = false;
  std::string reason;         // why segmentable/native_bpe is false ("" when both hold)
};
Plan AnalyzeModel(const SpmModelInfo& info);

// ---------------------------------------------------------------------------
// Segmentation of raw text (on the normalized view: ' ' and a literal U+2581
// are both "▁").
// ---------------------------------------------------------------------------

// The first byte at or after `from` that starts a ' ' or a U+2581, or `n`.
size_t FindSeparator(const char* p, size_t from, size_t n);
// Skips the run of ' ' and U+2581 starting at `from`.
size_t SkipSeparators(const char* p, size_t from, size_t n);

// The segments of a text, in order. Each is returned as its KEY: the
// segment's raw bytes without its first separator (the first segment of the
// text has none: the dummy prefix plays its role), so that the library maps
// the key to exactly the segment: Normalize(key) = "▁" + key'. An empty key
// stands for a lone trailing "▁".
class Segmenter {
 public:
  explicit Segmenter(std::string_view text) : p_(text.data()), n_(text.size()) {}
  bool Next(std::string_view* key) {
    if (pos_ >= n_) return false;
    size_t key_begin = pos_;
    if (!first_) key_begin += (p_[pos_] == ' ') ? 1 : 3;
    first_ = false;
    const size_t end = FindSeparator(p_, SkipSeparators(p_, key_begin, n_), n_);
    *key = std::string_view(p_ + key_begin, end - key_begin);
    pos_ = end;
    return true;
  }

 private:
  const char* p_;
  size_t n_;
  size_t pos_ = 0;
  bool first_ = true;
};

template <typename Fn>
void ForEachSegment(std::string_view text, Fn&& fn) {
  Segmenter seg(text);
  std::string_view key;
  while (seg.Next(&key)) fn(key);
}

// The library's normalized form of one segment key: "▁" + key with ' ' ->
// "▁" and each byte that does not start a valid character (sentencepiece's
// DecodeUTF8 rules) -> U+FFFD. Writes it at `out` and returns its length.
// REQUIRES: out has room for NormalizedKeyBound(key.size()) bytes.
size_t NormalizeSegmentKey(std::string_view key, char* out);
// Every input byte becomes at most 3 (' ' and an invalid byte do).
inline size_t NormalizedKeyBound(size_t key_bytes) { return 3 + 3 * key_bytes; }
// The same, appended to *out.
void NormalizeSegmentKey(std::string_view key, std::string* out);

// ---------------------------------------------------------------------------
// Native BPE: the library's bpe::Model::SampleEncode (alpha = 0) followed by
// SentencePieceProcessor's id emission (byte fallback, runs of unknowns),
// for models with only NORMAL, UNKNOWN, CONTROL and BYTE pieces.
// ---------------------------------------------------------------------------

class NativeBpe {
 public:
  struct Scratch;  // per-thread buffers, reused between calls
  struct ScratchDeleter {
    void operator()(Scratch* s) const;
  };
  using ScratchPtr = std::unique_ptr<Scratch, ScratchDeleter>;
  static ScratchPtr NewScratch();

  // Returns null with *why_not when the model has a feature this class does
  // not model.
  static std::unique_ptr<NativeBpe> Build(const SpmModelInfo& info, std::string* why_not);
  ~NativeBpe();

  // Appends the ids of `normalized` (valid UTF-8: the library's normalizer
  // output) to *out. One ASCII character is one symbol with nothing to
  // merge: its id comes inline (LoneAsciiId; half the parts of rare words
  // are one punctuation mark or digit).
  void EncodeNormalized(std::string_view normalized, Scratch* scratch, std::vector<int32_t>* out) const {
    if (normalized.size() == 1 && static_cast<uint8_t>(normalized[0]) < 0x80) {
      out->push_back(LoneAsciiId(static_cast<uint8_t>(normalized[0])));
      return;
    }
    EncodeMerged(normalized, scratch, out);
  }

  // The points of `normalized` that no merge can cross: bit k of the
  // result (k in [1, 64)) says whether one lies before byte from + k (bits
  // at or past normalized.size() are clear). Such a point lies between two
  // ASCII characters that no NORMAL piece holds side by side ("s(", "2-"; a
  // merged symbol is a NORMAL piece) and that both have ids of their own (a
  // run of unknown characters may collapse into one id). The PARTS between
  // these points merge independently, so the ids of `normalized` are the
  // ids of its parts, each encoded alone, one after the other: a rare word
  // (an identifier, a path) is mostly parts seen before (PartCursor).
  // REQUIRES: from < normalized.size().
  uint64_t PartStarts(std::string_view normalized, size_t from) const;

  // The one id EncodeNormalized appends for the text of one ASCII character
  // c: its piece's, else its byte's (byte fallback) or <unk>.
  // REQUIRES: c < 0x80.
  int32_t LoneAsciiId(uint8_t c) const { return lone_ascii_ids_[c]; }

 private:
  NativeBpe() = default;
  // EncodeNormalized past its one-character case: the library's merges.
  void EncodeMerged(std::string_view normalized, Scratch* scratch, std::vector<int32_t>* out) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int32_t lone_ascii_ids_[128] = {};
};

// The parts of a normalized segment (NativeBpe::PartStarts), one after the
// other: the split points of 63 bytes found in one pass, then taken a bit
// at a time (a call per part cost a twelfth of a cold pass).
class PartCursor {
 public:
  PartCursor(const NativeBpe& bpe, std::string_view normalized)
      : bpe_(&bpe), text_(normalized), starts_(normalized.empty() ? 0 : bpe.PartStarts(normalized, 0)) {}
  // The next part, until none is left.
  bool Next(std::string_view* part) {
    const size_t n = text_.size();
    if (from_ >= n) return false;
    size_t end;
    for (;;) {
      if (starts_ != 0) {
        end = base_ + static_cast<size_t>(__builtin_ctzll(starts_));
        starts_ &= starts_ - 1;
        break;
      }
      if (base_ + 64 >= n) {
        end = n;
        break;
      }
      base_ += 63;  // bit k of the next window is byte base_ + k, k >= 1
      starts_ = bpe_->PartStarts(text_, base_);
    }
    *part = std::string_view(text_.data() + from_, end - from_);
    from_ = end;
    return true;
  }

 private:
  const NativeBpe* bpe_;
  std::string_view text_;
  uint64_t starts_;   // split points of the window at base_ not yet taken
  size_t base_ = 0;
  size_t from_ = 0;   // where the next part begins
};


}  // namespace lcde::tok
