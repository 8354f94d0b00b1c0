// The segment cache: segment bytes -> ids, one for all threads of a
// Tokenizer. Every model of the tokenizer family (sentencepiece.h,
// tokenizer_json.h) splits text into independent segments and looks each one
// up here before encoding it (cached_segments.h is the loop that does so).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "lcde/tokenizer.h"
#include "lcde/tokenizer/huge_pages.h"

namespace lcde::tok {

// 64-bit hash of a short byte string (wyhash-style mixing); never 0.
inline uint64_t HashBytes(const char* p, size_t len);

// ---------------------------------------------------------------------------
// Bounded cache: segment key -> ids, one for all threads of a Tokenizer.
//
// Why shared: one cache per thread made every thread learn the same
// segments again (the cold misses repeated per thread) and multiplied the
// working set by the thread count; at 16 threads the summed tokenizer time
// rose 45% over one thread. One cache holds each segment once.
//
// Insert-only, lock-free on the hot path. A slot is one 64-bit word
// (16-bit tag of the hash | 48-bit pointer to the entry), stored into an
// empty slot (release) after the entry is complete, so a reader that sees
// it sees the whole entry; two inserts racing for one empty slot may
// overwrite each other (one is lost: a later miss). Entries (key length, id count, ids, key)
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
  std::vector<HugePagePtr<char>> blocks_;
};

// ---------------------------------------------------------------------------
// Inline: a lookup runs for every segment of every document, and a call per
// hash, prefetch and probe cost a tenth of a cold pass.
// ---------------------------------------------------------------------------

namespace segment_cache_detail {

inline uint64_t Read8(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint64_t Read4(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint16_t Read2(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint64_t Mum(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

constexpr int kPointerBits = 48;  // x86-64 and AArch64 user space
constexpr uint64_t kPointerMask = (uint64_t{1} << kPointerBits) - 1;

inline uint64_t Tag(uint64_t h) { return h >> kPointerBits; }
inline uint64_t SlotWord(uint64_t h, const char* entry) {
  return (Tag(h) << kPointerBits) | (reinterpret_cast<uintptr_t>(entry) & kPointerMask);
}
inline const char* EntryOf(uint64_t word) { return reinterpret_cast<const char*>(word & kPointerMask); }

// Entry layout: u16 key length, u16 id count, int32 ids, key bytes; 4-aligned.
inline size_t EntryBytes(size_t key_len, size_t n_ids) { return (4 + 4 * n_ids + key_len + 3) & ~size_t{3}; }
inline uint16_t EntryKeyLen(const char* e) { return Read2(e); }
inline uint16_t EntryIds(const char* e) { return Read2(e + 2); }
inline const char* EntryKey(const char* e) { return e + 4 + 4 * static_cast<size_t>(EntryIds(e)); }

// a[0, n) == b[0, n) without reading outside either range.
inline bool BytesEqual(const char* a, const char* b, size_t n) {
  if (n >= 8) {
    for (size_t i = 0; i + 8 <= n; i += 8) {
      if (Read8(a + i) != Read8(b + i)) return false;
    }
    return Read8(a + n - 8) == Read8(b + n - 8);
  }
  if (n >= 4) return Read4(a) == Read4(b) && Read4(a + n - 4) == Read4(b + n - 4);
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

inline bool EntryMatches(const char* e, std::string_view key) {
  return EntryKeyLen(e) == key.size() && BytesEqual(EntryKey(e), key.data(), key.size());
}

constexpr size_t kMaxProbes = 4096;

}  // namespace segment_cache_detail

[[gnu::always_inline]] inline uint64_t HashBytes(const char* p, size_t len) {
  using namespace segment_cache_detail;
  constexpr uint64_t s0 = 0xa0761d6478bd642full, s1 = 0xe7037ed1a0b428dbull, s2 = 0x8ebc6af09c88c6e3ull;
  uint64_t seed = s0 ^ (len * s2);
  uint64_t a, b;
  if (len <= 16) {
    if (len >= 4) {
      const size_t q = (len >> 3) << 2;
      a = (Read4(p) << 32) | Read4(p + q);
      b = (Read4(p + len - 4) << 32) | Read4(p + len - 4 - q);
    } else if (len > 0) {
      a = (static_cast<uint64_t>(static_cast<uint8_t>(p[0])) << 16) |
          (static_cast<uint64_t>(static_cast<uint8_t>(p[len >> 1])) << 8) | static_cast<uint8_t>(p[len - 1]);
      b = 0;
    } else {
      a = b = 0;
    }
  } else {
    size_t i = len;
    while (i > 16) {
      seed = Mum(Read8(p) ^ s1, Read8(p + 8) ^ seed);
      p += 16;
      i -= 16;
    }
    a = Read8(p + i - 16);
    b = Read8(p + i - 8);
  }
  uint64_t h = Mum(s1 ^ len, Mum(a ^ s1, b ^ seed));
  return h != 0 ? h : 1;
}

// Slots are plain words accessed through std::atomic_ref, so a table is one
// calloc: the kernel hands over zero pages as they are first touched.
struct SegmentCache::Table {
  size_t mask;
  uint64_t* slots;
  size_t slot_count() const { return mask + 1; }
  size_t bytes() const { return slot_count() * sizeof(uint64_t); }
  std::atomic_ref<uint64_t> slot(size_t i) const { return std::atomic_ref<uint64_t>(slots[i]); }
};

// Forced: with four callers (encode and bound, of segments and of parts)
// GCC 12 made it a call, 4% more instructions in a cold pass.
[[gnu::always_inline]] inline const int32_t* SegmentCache::Find(uint64_t h, std::string_view key, uint32_t* n_ids) const {
  using namespace segment_cache_detail;
  const Table* t = table_.load(std::memory_order_acquire);
  const uint64_t tag = Tag(h);
  size_t i = h & t->mask;
  for (size_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & t->mask) {
    const uint64_t w = t->slot(i).load(std::memory_order_acquire);
    if (w == 0) return nullptr;
    if ((w >> kPointerBits) != tag) continue;
    const char* e = EntryOf(w);
    if (EntryMatches(e, key)) {
      *n_ids = EntryIds(e);
      return reinterpret_cast<const int32_t*>(e + 4);
    }
  }
  return nullptr;
}

inline void SegmentCache::PrefetchSlot(uint64_t h) const {
  using namespace segment_cache_detail;
  const Table* t = table_.load(std::memory_order_acquire);
  __builtin_prefetch(&t->slots[h & t->mask]);
}

inline void SegmentCache::PrefetchEntry(uint64_t h) const {
  using namespace segment_cache_detail;
  const Table* t = table_.load(std::memory_order_acquire);
  const uint64_t w = t->slot(h & t->mask).load(std::memory_order_relaxed);
  if (w != 0 && (w >> kPointerBits) == Tag(h)) __builtin_prefetch(EntryOf(w));
}

}  // namespace lcde::tok
