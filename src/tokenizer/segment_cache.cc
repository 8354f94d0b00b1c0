// The segment cache shared by a Tokenizer's threads (segment_cache.h).
#include "lcde/tokenizer/segment_cache.h"

#include "lcde/tokenizer/huge_pages.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace lcde::tok {

namespace {

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

}  // namespace

uint64_t HashBytes(const char* p, size_t len) {
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

// ---------------------------------------------------------------------------
// SegmentCache
// ---------------------------------------------------------------------------

namespace {

constexpr size_t kInitialSlots = size_t{1} << 16;
constexpr size_t kMinCacheBytes = size_t{256} << 10;
// Entry blocks per thread: big enough that taking one (an atomic add and a
// lock) is rare, small enough that 16 threads' unused tails stay small; one
// huge page (huge_pages.h), or an eighth of a small cache's entry budget.
constexpr size_t kBlockBytes = size_t{2} << 20;
// Writers add their inserts to the shared count in batches: a shared
// counter bumped on every miss by every thread would bounce between cores.
constexpr uint64_t kCountBatch = 64;
// Linear probing stays short below these loads (at 0.7 a lookup that
// misses reads ~6 slots, one or two cache lines); past them a lookup could
// walk long runs. A full table never happens, but probes stay bounded.
// Growing at 0.5 instead made a table 4x larger for a load between 0.5 and
// 0.7: more memory for the kernel to zero and for lookups to miss in (cold
// cache on 40 MB of real text: 0.644 -> 0.596 CPU-s).
constexpr double kGrowLoad = 0.7, kFreezeLoad = 0.7;
constexpr size_t kMaxProbes = 4096;

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

}  // namespace

// Slots are plain words accessed through std::atomic_ref, so a table is one
// calloc: the kernel hands over zero pages as they are first touched.
struct SegmentCache::Table {
  size_t mask;
  uint64_t* slots;
  size_t slot_count() const { return mask + 1; }
  size_t bytes() const { return slot_count() * sizeof(uint64_t); }
  std::atomic_ref<uint64_t> slot(size_t i) const { return std::atomic_ref<uint64_t>(slots[i]); }
};

SegmentCache::TablePtr SegmentCache::NewTable(size_t slots) {
  auto* t = new Table{slots - 1, static_cast<uint64_t*>(AllocateHugePageMemory(slots * sizeof(uint64_t)))};
  return TablePtr(t, [](Table* p) {
    FreeHugePageMemory(p->slots, p->bytes());
    delete p;
  });
}

SegmentCache::SegmentCache(size_t max_bytes) : max_bytes_(std::clamp<size_t>(max_bytes, kMinCacheBytes, size_t{1} << 40)) {
  // A quarter of the bound for the largest table; every table of the growth
  // sequence is kept (readers may still hold one), the rest is for entries.
  max_slots_ = 1024;
  while (2 * max_slots_ * sizeof(uint64_t) <= max_bytes_ / 4) max_slots_ *= 2;
  size_t tables = 0;
  for (size_t n = std::min(kInitialSlots, max_slots_);; n = std::min(4 * n, max_slots_)) {
    tables += n * sizeof(uint64_t);
    if (n == max_slots_) break;
  }
  arena_budget_ = max_bytes_ - tables;
  tables_.push_back(NewTable(std::min(kInitialSlots, max_slots_)));
  table_.store(tables_.back().get(), std::memory_order_release);
}

SegmentCache::~SegmentCache() = default;

const int32_t* SegmentCache::Find(uint64_t h, std::string_view key, uint32_t* n_ids) const {
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

void SegmentCache::PrefetchSlot(uint64_t h) const {
  const Table* t = table_.load(std::memory_order_acquire);
  __builtin_prefetch(&t->slots[h & t->mask]);
}

void SegmentCache::PrefetchEntry(uint64_t h) const {
  const Table* t = table_.load(std::memory_order_acquire);
  const uint64_t w = t->slot(h & t->mask).load(std::memory_order_relaxed);
  if (w != 0 && (w >> kPointerBits) == Tag(h)) __builtin_prefetch(EntryOf(w));
}

bool SegmentCache::NewBlock(Writer* w, size_t need) {
  const size_t size = std::max(std::min(kBlockBytes, arena_budget_ / 8), need);
  if (arena_bytes_.fetch_add(size, std::memory_order_relaxed) + size > arena_budget_) {
    arena_bytes_.fetch_sub(size, std::memory_order_relaxed);  // not taken: keep the reported bytes true
    frozen_.store(true, std::memory_order_relaxed);
    return false;
  }
  HugePagePtr<char> block = MakeHugePageArray<char>(size);
  w->block = block.get();
  w->used = 0;
  w->cap = size;
  std::lock_guard<std::mutex> lock(mu_);
  blocks_.push_back(std::move(block));
  return true;
}

void SegmentCache::Insert(Writer* w, uint64_t h, std::string_view key, const int32_t* ids, size_t n_ids) {
  if (frozen_.load(std::memory_order_relaxed)) {
    ++w->stats.refused;
    return;
  }
  const uint64_t epoch = epoch_.load(std::memory_order_relaxed);
  if (w->epoch != epoch) {  // the cache was cleared: the old block is gone
    *w = Writer{nullptr, 0, 0, epoch, 0, w->stats};
  }
  const size_t need = EntryBytes(key.size(), n_ids);
  if (w->used + need > w->cap && !NewBlock(w, need)) {
    ++w->stats.refused;
    return;
  }
  char* e = w->block + w->used;
  if ((reinterpret_cast<uintptr_t>(e) >> kPointerBits) != 0) {  // not on this platform's heaps
    ++w->stats.refused;
    return;
  }
  const uint16_t key_len = static_cast<uint16_t>(key.size()), count = static_cast<uint16_t>(n_ids);
  std::memcpy(e, &key_len, 2);
  std::memcpy(e + 2, &count, 2);
  std::memcpy(e + 4, ids, 4 * n_ids);
  std::memcpy(e + 4 + 4 * n_ids, key.data(), key.size());
  const uint64_t mine = SlotWord(h, e);
  const Table* t = table_.load(std::memory_order_acquire);
  size_t i = h & t->mask;
  for (size_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & t->mask) {
    uint64_t seen = t->slot(i).load(std::memory_order_acquire);
    if (seen == 0) {
      // Release: whoever sees the word sees the entry written above.
      if (t->slot(i).compare_exchange_strong(seen, mine, std::memory_order_acq_rel, std::memory_order_acquire)) {
        w->used += need;
        if (++w->pending >= kCountBatch) AddPending(w, t);
        return;
      }
    }
    // Taken, perhaps just now by another thread with this very key.
    if ((seen >> kPointerBits) == Tag(h) && EntryMatches(EntryOf(seen), key)) return;
  }
  ++w->stats.refused;
}

void SegmentCache::AddPending(Writer* w, const Table* t) {
  const uint64_t count = count_.fetch_add(w->pending, std::memory_order_relaxed) + w->pending;
  w->pending = 0;
  const double slots = static_cast<double>(t->slot_count());
  if (t->slot_count() < max_slots_) {
    if (static_cast<double>(count) > kGrowLoad * slots) Grow(t);
  } else if (static_cast<double>(count) > kFreezeLoad * slots) {
    frozen_.store(true, std::memory_order_relaxed);
  }
}

void SegmentCache::Grow(const Table* seen) {
  std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
  // Another thread is growing it (or has): this insert is done either way.
  if (!lock.owns_lock() || table_.load(std::memory_order_acquire) != seen) return;
  TablePtr bigger = NewTable(std::min(4 * seen->slot_count(), max_slots_));
  uint64_t copied = 0;
  for (size_t k = 0; k < seen->slot_count(); ++k) {
    const uint64_t w = seen->slot(k).load(std::memory_order_acquire);
    if (w == 0) continue;
    const char* e = EntryOf(w);
    const uint64_t h = HashBytes(EntryKey(e), EntryKeyLen(e));
    size_t i = h & bigger->mask;
    while (bigger->slots[i] != 0) i = (i + 1) & bigger->mask;
    bigger->slots[i] = w;  // not yet visible to other threads
    ++copied;
  }
  count_.store(copied, std::memory_order_relaxed);
  table_.store(bigger.get(), std::memory_order_release);
  tables_.push_back(std::move(bigger));
}

void SegmentCache::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  tables_.clear();
  blocks_.clear();
  tables_.push_back(NewTable(std::min(kInitialSlots, max_slots_)));
  table_.store(tables_.back().get(), std::memory_order_release);
  count_.store(0, std::memory_order_relaxed);
  arena_bytes_.store(0, std::memory_order_relaxed);
  frozen_.store(false, std::memory_order_relaxed);
  epoch_.fetch_add(1, std::memory_order_relaxed);
}

CacheStats SegmentCache::Snapshot(const Writer& w) const {
  CacheStats s = w.stats;
  s.entries = count_.load(std::memory_order_relaxed) + w.pending;
  s.bytes = arena_bytes_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& t : tables_) s.bytes += t->bytes();
  return s;
}

}  // namespace lcde::tok
