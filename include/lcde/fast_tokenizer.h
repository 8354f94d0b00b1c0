// Internals of the fast exact tokenizer behind lcde::Tokenizer (tokenizer.h).
// Not a pipeline stage: only src/tokenizer.cc, the tokenizer tests and the
// tokenizer benchmark include this header.
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

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "lcde/tokenizer.h"

namespace lcde::fasttok {

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
// DecodeUTF8 rules) -> U+FFFD. Appends to *out.
void NormalizeSegmentKey(std::string_view key, std::string* out);

// 64-bit hash of a short byte string (wyhash-style mixing).
uint64_t HashBytes(const char* p, size_t len);

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
  // output) to *out.
  void EncodeNormalized(std::string_view normalized, Scratch* scratch, std::vector<int32_t>* out) const;

 private:
  NativeBpe() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------
// Bounded cache: segment key -> ids, one for all threads of a Tokenizer.
//
// Why shared: one cache per thread made every thread learn the same
// segments again (the cold misses repeated per thread) and multiplied the
// working set by the thread count; at 16 threads the summed tokenizer time
// rose 45% over one thread. One cache holds each segment once.
//
// Insert-only, lock-free on the hot path. A slot is one 64-bit word
// (16-bit tag of the hash | 48-bit pointer to the entry), written once from
// empty by compare-and-swap after the entry is complete, so a reader that
// sees it sees the whole entry. Entries (key length, id count, ids, key)
// live in blocks each thread takes for itself. The table grows by copying
// into a larger one under a mutex; readers keep using the old one until
// they load the new pointer, and old tables live as long as the cache. An
// insert racing with a copy may be lost: only a later miss, never a wrong
// id. When memory reaches `max_bytes` the cache stops inserting (frozen):
// the segments seen first are, in natural text, the frequent ones.
// ---------------------------------------------------------------------------

using CacheStats = TokenizerCacheStats;

class SegmentCache {
 public:
  static constexpr size_t kMaxKeyBytes = 256;

  // One thread's side of the cache: the block it appends entries to and its
  // counters. Owned by that thread; never shared.
  struct Writer {
    char* block = nullptr;
    size_t used = 0, cap = 0;
    uint64_t epoch = 0;    // the cache's epoch when the block was taken
    uint64_t pending = 0;  // inserts not yet added to the shared count
    CacheStats stats;
  };

  explicit SegmentCache(size_t max_bytes);
  ~SegmentCache();
  SegmentCache(const SegmentCache&) = delete;
  SegmentCache& operator=(const SegmentCache&) = delete;

  // The cached ids of `key` (hash h = HashBytes(key)), or null. Any thread.
  const int32_t* Find(uint64_t h, std::string_view key, uint32_t* n_ids) const;
  // Hints for a lookup of hash h soon: the slot, then (once the slot is
  // likely in cache) the entry it points to.
  void PrefetchSlot(uint64_t h) const;
  void PrefetchEntry(uint64_t h) const;
  // Adds key -> ids unless the cache is full (counted in w->stats.refused)
  // or another thread added the key first. Any thread, each with its own `w`.
  // REQUIRES: key.size() <= kMaxKeyBytes, n_ids < 65536.
  void Insert(Writer* w, uint64_t h, std::string_view key, const int32_t* ids, size_t n_ids);
  // Empties the cache. REQUIRES: no other thread uses it during the call.
  void Clear();

  // w's counters with the cache's entries and memory.
  CacheStats Snapshot(const Writer& w) const;
  size_t max_bytes() const { return max_bytes_; }

 private:
  struct Table;
  using TablePtr = std::unique_ptr<Table, void (*)(Table*)>;
  static TablePtr NewTable(size_t slots);
  bool NewBlock(Writer* w, size_t need);
  void AddPending(Writer* w, const Table* t);
  void Grow(const Table* seen);

  size_t max_bytes_;
  size_t max_slots_;      // the largest table
  size_t arena_budget_;   // bytes of entry blocks allowed
  // Read by every lookup: a cache line of their own, apart from the
  // counters below that inserts write (false sharing would make every
  // count update a miss for every thread's next lookup).
  alignas(64) std::atomic<Table*> table_{nullptr};
  std::atomic<bool> frozen_{false};
  std::atomic<uint64_t> epoch_{1};  // bumped by Clear: writers drop their blocks
  alignas(64) std::atomic<uint64_t> count_{0};  // entries (approximate: writers add in batches)
  std::atomic<uint64_t> arena_bytes_{0};        // entry blocks taken
  alignas(64) mutable std::mutex mu_;     // growth and the lists below
  std::vector<TablePtr> tables_;          // every table made; the last is current
  std::vector<std::unique_ptr<char[]>> blocks_;
};

}  // namespace lcde::fasttok
