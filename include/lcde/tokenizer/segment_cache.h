// The segment cache: segment bytes -> ids, one for all threads of a
// Tokenizer. Every model of the tokenizer family (sentencepiece.h,
// tokenizer_json.h) splits text into independent segments and looks each one
// up here before encoding it (cached_segments.h is the loop that does so).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "lcde/tokenizer.h"
#include "lcde/tokenizer/huge_pages.h"

namespace lcde::tok {

// 64-bit hash of a short byte string (wyhash-style mixing); never 0.
uint64_t HashBytes(const char* p, size_t len);

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
  std::vector<HugePagePtr<char>> blocks_;
};


}  // namespace lcde::tok
