// The BPE core that both models of the tokenizer family share: symbols in a
// linked list, a heap of candidate pairs, and the merge rule "the pair with
// the best rank, the leftmost among equal ranks, until none is left".
//
// SentencePiece (bpe_model.cc) ranks a pair by the score of the piece it
// forms; Hugging Face `tokenizers` (models/bpe/word.rs) by the position of the
// merge in tokenizer.json's list. Both pop the best pair, skip it when either
// side changed since it was queued, merge, and queue the two new neighbour
// pairs; both break ties by the leftmost position. So one loop serves both;
// each model maps its pairs to (rank, merged key) and turns the final symbols
// into ids its own way.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "lcde/tokenizer/huge_pages.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace lcde::tok {

// Open addressing map Key -> Value with a reserved empty key; key and value
// share a slot so a lookup touches one cache line.
template <typename Key, typename Value>
class MergeMap {
 public:
  static constexpr Key kEmpty = static_cast<Key>(~Key{0});
  static constexpr Value kNone = static_cast<Value>(~Value{0});
  void Init(size_t expected) {
    size_t cap = 16;
    int bits = 4;
    while (cap < expected * 2) {
      cap <<= 1;
      ++bits;
    }
    // Looked up at random for every pair: huge pages spare most TLB misses.
    slots_ = MakeHugePageArray<Entry>(cap);
    std::fill(slots_.get(), slots_.get() + cap, Entry{kEmpty, kNone});
    mask_ = cap - 1;
    shift_ = 64 - bits;
  }
  void Put(Key k, Value v) {
    size_t i = reader().Slot(k);
    while (slots_[i].key != kEmpty && slots_[i].key != k) i = (i + 1) & mask_;
    slots_[i] = Entry{k, v};
  }

  struct Entry {
    Key key;
    Value value;
  };
  // The lookup's fields by value. A merge loop that also stores ints reads
  // them from a Reader in its locals: through the map, the compiler loaded
  // them again after every such store (an int store may alias shift_).
  struct Reader {
    const Entry* slots;
    size_t mask;
    int shift;
    // Fibonacci hashing: one multiply, the product's top bits. Every lookup
    // of a merge waits on this before its load, so it is kept short.
    size_t Slot(uint64_t k) const { return static_cast<size_t>((k * 0x9e3779b97f4a7c15ull) >> shift) & mask; }
    void Prefetch(Key k) const { __builtin_prefetch(&slots[Slot(k)]); }
    // The value of k, or kNone.
    Value Get(Key k) const {
      size_t i = Slot(k);
      while (true) {
        const Entry& e = slots[i];
        if (e.key == k) return e.value;
        if (e.key == kEmpty) return kNone;
        i = (i + 1) & mask;
      }
    }
  };
  Reader reader() const { return Reader{slots_.get(), mask_, shift_}; }
  size_t memory_bytes() const { return slots_ ? (mask_ + 1) * sizeof(Entry) : 0; }

 private:
  HugePagePtr<Entry> slots_;
  size_t mask_ = 0;
  int shift_ = 63;
};

// (left key, right key) -> (rank, merged key). Key is uint32_t when every
// key and rank fits 16 bits (8-byte slots), else uint64_t (16-byte slots).
template <typename Key>
class PairMerges {
 public:
  static constexpr int kShift = sizeof(Key) * 4;  // 16 or 32
  void Init(size_t pairs) { map_.Init(pairs); }
  // REQUIRES: left, right, merged >= 0 and every value fits kShift bits;
  // with 16-bit keys, rank < 0xFFFF (the scan's kNoPair16).
  void Put(int32_t left, int32_t right, uint32_t rank, int32_t merged) {
    map_.Put(PairKey(left, right), static_cast<Key>((static_cast<Key>(rank) << kShift) | static_cast<Key>(merged)));
  }
  // Lookups through a copy of the map's fields (MergeMap::Reader).
  struct Reader {
    typename MergeMap<Key, Key>::Reader map;
    void Prefetch(int32_t left, int32_t right) const { map.Prefetch(PairKey(left, right)); }
    // Whether (left, right) merges; then *rank and *merged say how.
    bool Get(int32_t left, int32_t right, uint32_t* rank, int32_t* merged) const {
      const Key v = map.Get(PairKey(left, right));
      if (v == MergeMap<Key, Key>::kNone) return false;
      *rank = static_cast<uint32_t>(static_cast<uint64_t>(v) >> kShift);
      *merged = static_cast<int32_t>(static_cast<uint64_t>(v) & ((uint64_t{1} << kShift) - 1));
      return true;
    }
  };
  Reader reader() const { return Reader{map_.reader()}; }
  size_t memory_bytes() const { return map_.memory_bytes(); }

 private:
  static Key PairKey(int32_t l, int32_t r) {
    return static_cast<Key>((static_cast<Key>(static_cast<uint32_t>(l)) << kShift) | static_cast<uint32_t>(r));
  }
  MergeMap<Key, Key> map_;
};

// One thread's symbols and heap, reused between calls: 16 bytes per symbol
// and 16 per queued pair, so a segment of n symbols needs at most ~70n bytes.
struct BpeWork {
  struct Cand {
    uint64_t priority;  // (rank << 32) | ~left: the smallest pops first
    uint32_t size;      // bytes of the merged symbol (the staleness test)
    int32_t merged;     // the merged symbol's key
  };
  std::vector<int32_t> key, prev, next;
  std::vector<uint32_t> len;
  std::vector<Cand> heap;
  // Short segments: per symbol, the rank and merged key of the pair it
  // starts (kNoPair / kNoPair16: none). Ranks of 16 bits when the keys are.
  std::vector<uint32_t> pair_rank;
  std::vector<uint16_t> pair_rank16;
  std::vector<int32_t> pair_merged;

  void Reserve(size_t n) {
    if (key.size() >= n) return;
    const size_t cap = std::max<size_t>(n, 64);
    key.resize(cap);
    prev.resize(cap);
    next.resize(cap);
    len.resize(cap);
    pair_rank.resize(cap);
    pair_rank16.resize(cap);
    pair_merged.resize(cap);
  }
  // Drops the memory of a rare huge segment.
  void Trim() {
    if (key.size() > (size_t{1} << 18)) *this = BpeWork();
  }
};

// Segments of at most this many symbols (nearly every word) merge by
// scanning their pairs for the best one instead of through the heap: no
// stale candidates, no heap upkeep. Same choice: the smallest rank, the
// leftmost among equal ranks (symbol indices follow text order).
// A multiple of kRankLanes.
inline constexpr int32_t kScanMergeSymbols = 64;
inline constexpr int32_t kRankLanes = 8;
// Above every rank (ranks count distinct scores or merges, fewer than the
// 2^31 pieces a model may have), and a positive int32: the SSE2 scan
// compares ranks as signed lanes, which SSE2 does in one instruction.
inline constexpr uint32_t kNoPair = INT32_MAX;
// The same for ranks of 16 bits (PairMerges<uint32_t>), whose largest value
// marks no pair.
inline constexpr uint16_t kNoPair16 = 0xFFFF;
// BpeWork::Reserve holds at least 64 symbols: room for the padded scan.
static_assert(kScanMergeSymbols % kRankLanes == 0 && kScanMergeSymbols <= 64 && kRankLanes == 8);

// The index of the smallest of rank[0, padded), the first among equals; -1
// when every one is kNoPair. REQUIRES: padded is a positive multiple of
// kRankLanes. The array is scanned whole, dead symbols included (they hold
// kNoPair): a block of kRankLanes at a time, with no dependency between the
// lanes, which the compiler keeps in vector registers; far faster than
// walking the live symbols' list, a load that waits on the one before.
inline int32_t BestPair(const uint32_t* rank, int32_t padded) {
#if defined(__SSE2__)
  // Two registers of four lanes; then the minimum spread to every lane by
  // two shuffles, and the first lane equal to it found by a mask per four.
  auto min_epi32 = [](__m128i a, __m128i b) {
    const __m128i a_greater = _mm_cmpgt_epi32(a, b);
    return _mm_or_si128(_mm_and_si128(a_greater, b), _mm_andnot_si128(a_greater, a));
  };
  auto load = [&](int32_t i) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(rank + i)); };
  __m128i lo = load(0), hi = load(4);
  for (int32_t i = kRankLanes; i < padded; i += kRankLanes) {
    lo = min_epi32(lo, load(i));
    hi = min_epi32(hi, load(i + 4));
  }
  __m128i best = min_epi32(lo, hi);
  best = min_epi32(best, _mm_shuffle_epi32(best, _MM_SHUFFLE(1, 0, 3, 2)));
  best = min_epi32(best, _mm_shuffle_epi32(best, _MM_SHUFFLE(2, 3, 0, 1)));
  if (static_cast<uint32_t>(_mm_cvtsi128_si32(best)) == kNoPair) return -1;
  for (int32_t i = 0;; i += 4) {
    const int mask = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(load(i), best)));
    if (mask != 0) return i + __builtin_ctz(static_cast<unsigned>(mask));
  }
#else
  using Block = uint32_t __attribute__((vector_size(kRankLanes * sizeof(uint32_t))));
  Block lanes;
  std::memcpy(&lanes, rank, sizeof(lanes));
  for (int32_t i = kRankLanes; i < padded; i += kRankLanes) {
    Block block;
    std::memcpy(&block, rank + i, sizeof(block));
    lanes = block < lanes ? block : lanes;
  }
  uint32_t best = lanes[0];
  for (int32_t k = 1; k < kRankLanes; ++k) best = std::min(best, static_cast<uint32_t>(lanes[k]));
  if (best == kNoPair) return -1;
  int32_t l = 0;
  while (rank[l] != best) ++l;
  return l;
#endif
}

// BestPair over ranks of 16 bits: eight lanes a register, and SSE2 has the
// minimum of 16-bit lanes as one instruction (of 32-bit lanes it takes
// four), so the scan that every merge step waits on is about a third as
// long. Lanes are compared signed, so ranks are flipped by 0x8000 on load.
inline int32_t BestPair(const uint16_t* rank, int32_t padded) {
#if defined(__SSE2__)
  const __m128i flip = _mm_set1_epi16(static_cast<int16_t>(0x8000));
  auto load = [&](int32_t i) {
    return _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rank + i)), flip);
  };
  __m128i best = load(0);
  for (int32_t i = kRankLanes; i < padded; i += kRankLanes) best = _mm_min_epi16(best, load(i));
  best = _mm_min_epi16(best, _mm_shuffle_epi32(best, _MM_SHUFFLE(1, 0, 3, 2)));
  best = _mm_min_epi16(best, _mm_shuffle_epi32(best, _MM_SHUFFLE(2, 3, 0, 1)));
  best = _mm_min_epi16(best, _mm_or_si128(_mm_slli_epi32(best, 16), _mm_srli_epi32(best, 16)));
  if ((static_cast<uint32_t>(_mm_cvtsi128_si32(best)) & 0xFFFF) == (kNoPair16 ^ 0x8000)) return -1;
  for (int32_t i = 0;; i += kRankLanes) {
    const int mask = _mm_movemask_epi8(_mm_cmpeq_epi16(load(i), best));
    if (mask != 0) return i + __builtin_ctz(static_cast<unsigned>(mask)) / 2;
  }
#else
  uint16_t best = kNoPair16;
  int32_t at = -1;
  for (int32_t i = 0; i < padded; ++i) {
    if (rank[i] < best) {
      best = rank[i];
      at = i;
    }
  }
  return at;
#endif
}

// The scan keeps ranks in 16 bits when the keys are 16 bits (their ranks
// are then below kNoPair16, PairMerges::Put), else in 32.
template <typename Key>
struct ScanRank {
  using type = uint32_t;
  static constexpr uint32_t kNone = kNoPair;
  static uint32_t* Of(BpeWork* work) { return work->pair_rank.data(); }
};
template <>
struct ScanRank<uint32_t> {
  using type = uint16_t;
  static constexpr uint16_t kNone = kNoPair16;
  static uint16_t* Of(BpeWork* work) { return work->pair_rank16.data(); }
};

template <typename Key>
void MergeSymbolsByScan(const PairMerges<Key>& merges, BpeWork* work, int32_t count) {
  int32_t* key = work->key.data();
  int32_t* prev = work->prev.data();
  int32_t* next = work->next.data();
  uint32_t* len = work->len.data();
  using Rank = typename ScanRank<Key>::type;
  constexpr Rank kNone = ScanRank<Key>::kNone;
  Rank* rank = ScanRank<Key>::Of(work);
  int32_t* merged = work->pair_merged.data();
  const typename PairMerges<Key>::Reader pairs = merges.reader();
  for (int32_t i = 0; i < count; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1;
    if (i > 0 && key[i - 1] >= 0 && key[i] >= 0) pairs.Prefetch(key[i - 1], key[i]);
  }
  next[count - 1] = -1;
  auto pair_at = [&](int32_t l, int32_t r) {
    rank[l] = kNone;
    if (r < 0 || key[l] < 0 || key[r] < 0) return;
    uint32_t k;
    int32_t m;
    if (pairs.Get(key[l], key[r], &k, &m)) {
      rank[l] = static_cast<Rank>(k);
      merged[l] = m;
    }
  };
  // The scan reads whole blocks: the last one's lanes past `count` hold
  // kNone (set first, a fixed-size store; the pairs below overwrite the
  // lanes they own).
  const int32_t padded = (count + kRankLanes - 1) / kRankLanes * kRankLanes;
  static constexpr Rank kNoneBlock[kRankLanes] = {kNone, kNone, kNone, kNone, kNone, kNone, kNone, kNone};
  std::memcpy(rank + padded - kRankLanes, kNoneBlock, sizeof(kNoneBlock));
  for (int32_t i = 0; i + 1 < count; ++i) pair_at(i, i + 1);
  rank[count - 1] = kNone;
  for (;;) {
    const int32_t l = BestPair(rank, padded);
    if (l < 0) return;
    const int32_t r = next[l];
    len[l] += len[r];
    key[l] = merged[l];
    next[l] = next[r];
    if (next[r] >= 0) prev[next[r]] = l;
    len[r] = 0;
    rank[r] = kNone;
    if (prev[l] >= 0) pair_at(prev[l], l);
    pair_at(l, next[l]);
  }
}

// Merges the symbols work->key[0, count) (byte lengths work->len; key -1
// never merges) in place: afterwards the list from symbol 0 along
// work->next (-1 ends it) holds the final symbols, each with its merged key
// and byte length. REQUIRES: count >= 1; Reserve(count) was called.
//
// Staleness: a queued pair is dropped when its left symbol was absorbed
// (len 0) or the two sides' lengths no longer add up to what they were.
// Symbols only grow, so equal lengths mean the same two symbols: the same
// test SentencePiece makes, and equivalent to `tokenizers`' re-lookup of the
// pair.
template <typename Key>
void MergeSymbols(const PairMerges<Key>& merges, BpeWork* work, int32_t count) {
  if (count <= kScanMergeSymbols) return MergeSymbolsByScan(merges, work, count);
  int32_t* key = work->key.data();
  int32_t* prev = work->prev.data();
  int32_t* next = work->next.data();
  uint32_t* len = work->len.data();
  for (int32_t i = 0; i < count; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1;
  }
  next[count - 1] = -1;

  const typename PairMerges<Key>::Reader pairs = merges.reader();
  auto less = [](const BpeWork::Cand& a, const BpeWork::Cand& b) { return a.priority > b.priority; };
  auto& heap = work->heap;
  heap.clear();
  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0 || key[l] < 0 || key[r] < 0) return;
    uint32_t rank;
    int32_t merged;
    if (!pairs.Get(key[l], key[r], &rank, &merged)) return;
    heap.push_back(BpeWork::Cand{(static_cast<uint64_t>(rank) << 32) | static_cast<uint32_t>(l), len[l] + len[r],
                                 merged});
    std::push_heap(heap.begin(), heap.end(), less);
  };
  // The initial pairs' lookups are independent: start their memory loads
  // together.
  for (int32_t i = 1; i < count; ++i) {
    if (key[i - 1] >= 0 && key[i] >= 0) pairs.Prefetch(key[i - 1], key[i]);
  }
  for (int32_t i = 1; i < count; ++i) try_add(i - 1, i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), less);
    const BpeWork::Cand top = heap.back();
    heap.pop_back();
    const int32_t l = static_cast<int32_t>(static_cast<uint32_t>(top.priority));
    if (len[l] == 0) continue;
    const int32_t r = next[l];
    if (r < 0 || len[r] == 0 || len[l] + len[r] != top.size) continue;  // stale
    len[l] += len[r];
    key[l] = top.merged;
    next[l] = next[r];
    if (next[r] >= 0) prev[next[r]] = l;
    len[r] = 0;
    try_add(prev[l], l);
    try_add(l, next[l]);
  }
}

}  // namespace lcde::tok
