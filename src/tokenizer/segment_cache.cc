// The segment cache shared by a Tokenizer's threads (segment_cache.h).
#include "lcde/tokenizer/segment_cache.h"

#include "lcde/tokenizer/huge_pages.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace lcde::tok {

using namespace segment_cache_detail;

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

}  // namespace

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
    const uint64_t seen = t->slot(i).load(std::memory_order_acquire);
    if (seen == 0) {
      // Release: whoever sees the word sees the entry written above. A
      // plain store, not a compare-and-swap: the locked instruction waited
      // for the entry's stores to fresh memory, 3% of a cold pass. Two
      // threads that find this slot empty at once both store; one word
      // wins and the other insert is lost (a later miss, never a wrong id).
      t->slot(i).store(mine, std::memory_order_release);
      w->used += need;
      if (++w->pending >= kCountBatch) AddPending(w, t);
      return;
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
  // Rehashing reads every entry's key, scattered over the blocks: the
  // entries of a run of slots are prefetched before they are hashed. (Slot
  // counts are powers of two, at least 1024: runs divide them.)
  constexpr size_t kRun = 16;
  for (size_t start = 0; start < seen->slot_count(); start += kRun) {
    uint64_t words[kRun];
    for (size_t k = 0; k < kRun; ++k) {
      words[k] = seen->slot(start + k).load(std::memory_order_acquire);
      if (words[k] != 0) __builtin_prefetch(EntryOf(words[k]));
    }
    for (const uint64_t w : words) {
      if (w == 0) continue;
      const char* e = EntryOf(w);
      const uint64_t h = HashBytes(EntryKey(e), EntryKeyLen(e));
      size_t i = h & bigger->mask;
      while (bigger->slots[i] != 0) i = (i + 1) & bigger->mask;
      bigger->slots[i] = w;  // not yet visible to other threads
      ++copied;
    }
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
