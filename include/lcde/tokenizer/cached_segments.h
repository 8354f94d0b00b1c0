// The loop every model of the tokenizer family runs: segments of a text
// looked up in the shared SegmentCache, a few ahead of the one being
// encoded, and misses encoded by the model and offered to the cache.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "lcde/status.h"
#include "lcde/tokenizer/segment_cache.h"

namespace lcde::tok {

class CachedSegments {
 public:
  // The caches' bound: `configured`, or LCDE_TOKENIZER_CACHE_MB when set (a
  // benchmark knob).
  static Result<size_t> BoundBytes(size_t configured);
  // A cache of at most `cache_bytes` (0: none; every segment is encoded).
  static std::shared_ptr<CachedSegments> Make(size_t cache_bytes);
  ~CachedSegments();

  // For each segment `next(&key)` yields (until it returns false), appends
  // its ids to *ids: the cached ones, or those `encode(key, ids)` appends
  // (then offered to the cache; `encode` may use another CachedSegments).
  // Keys shorter than `min_cached_bytes` skip the cache (for those `encode`
  // is cheaper than a lookup). Any thread.
  template <typename Next, typename EncodeMiss>
  Status Encode(Next&& next, EncodeMiss&& encode, std::vector<int32_t>* ids, size_t min_cached_bytes = 0) const;

  // An upper bound on the ids Encode would append for the same segments,
  // without encoding any: a cached segment counts its ids, any other
  // `miss_bound(key)` (keys shorter than `min_cached_bytes` are not looked
  // up). Stops once the bound reaches `limit` (the result is then >= limit).
  // Counts no hit or miss. Any thread.
  template <typename Next, typename MissBound>
  uint64_t UpperBound(Next&& next, MissBound&& miss_bound, uint64_t limit, size_t min_cached_bytes = 0) const;

  // The calling thread's counters and the cache's size (zeros without one).
  TokenizerCacheStats Stats() const;
  // Empties the cache and the calling thread's counters.
  // REQUIRES: no other thread uses this object meanwhile.
  void Clear() const;
  bool enabled() const { return cache_ != nullptr; }

 private:
  CachedSegments() = default;
  // This thread's writer into the cache; null when there is no cache (or,
  // unless `create`, this thread has not used it).
  SegmentCache::Writer* ThreadWriter(bool create) const;

  // Whether `key` goes through the cache: not longer than it holds, not
  // shorter than the caller's `min_cached_bytes`.
  static bool Cacheable(std::string_view key, size_t min_cached_bytes) {
    return key.size() <= SegmentCache::kMaxKeyBytes && key.size() >= min_cached_bytes;
  }
  // A hit's ids (nearly always 1-3) appended one by one: vector::insert's
  // general path cost ~70 instructions a hit, a seventh of a cold pass.
  [[gnu::always_inline]] static void AppendIds(const int32_t* p, uint32_t n, std::vector<int32_t>* ids) {
    if (n > 8) {
      ids->insert(ids->end(), p, p + n);
      return;
    }
    for (uint32_t k = 0; k < n; ++k) ids->push_back(p[k]);
  }

  uint64_t instance_ = 0;  // never reused: keys the threads' writers
  std::unique_ptr<SegmentCache> cache_;
  std::weak_ptr<const CachedSegments> self_;
};

template <typename Next, typename EncodeMiss>
Status CachedSegments::Encode(Next&& next, EncodeMiss&& encode, std::vector<int32_t>* ids,
                              size_t min_cached_bytes) const {
  std::string_view key;
  SegmentCache::Writer* writer = ThreadWriter(/*create=*/true);
  if (writer == nullptr) {
    while (next(&key)) LCDE_RETURN_IF_ERROR(encode(key, ids));
    return Status::Ok();
  }
  SegmentCache* cache = cache_.get();
  // Cache lookups are memory-bound: segments are taken a batch at a time,
  // their slots prefetched, then their entries, then looked up, so that
  // many loads are in flight at once instead of one after another.
  // Left uninitialized (no member initializers): zeroing the batch cost
  // as much as filling it.
  struct Pending {
    const char* data;
    size_t size;
    uint64_t hash;  // 0: not cached (too long or too short)
    std::string_view key() const { return std::string_view(data, size); }
  };
  constexpr size_t kBatch = 32;
  Pending batch[kBatch];
  TokenizerCacheStats& stats = writer->stats;
  for (bool more = true; more;) {
    size_t n = 0;
    while (n < kBatch && (more = next(&key))) {
      Pending& p = batch[n++];
      p.data = key.data();
      p.size = key.size();
      p.hash = 0;
      if (Cacheable(key, min_cached_bytes)) {
        p.hash = HashBytes(key.data(), key.size());
        cache->PrefetchSlot(p.hash);
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (batch[i].hash != 0) cache->PrefetchEntry(batch[i].hash);
    }
    for (size_t i = 0; i < n; ++i) {
      const Pending& p = batch[i];
      if (p.hash == 0) {
        ++stats.uncached;
        LCDE_RETURN_IF_ERROR(encode(p.key(), ids));
        continue;
      }
      uint32_t found = 0;
      if (const int32_t* hit = cache->Find(p.hash, p.key(), &found)) {
        ++stats.hits;
        AppendIds(hit, found, ids);
        continue;
      }
      ++stats.misses;
      // Encoded in place, then offered from there: no buffer of the thread's
      // own, so `encode` may itself run an Encode (of another cache).
      const size_t start = ids->size();
      LCDE_RETURN_IF_ERROR(encode(p.key(), ids));
      cache->Insert(writer, p.hash, p.key(), ids->data() + start, ids->size() - start);
    }
  }
  return Status::Ok();
}

template <typename Next, typename MissBound>
uint64_t CachedSegments::UpperBound(Next&& next, MissBound&& miss_bound, uint64_t limit,
                                    size_t min_cached_bytes) const {
  std::string_view key;
  uint64_t bound = 0;
  const SegmentCache* cache = cache_.get();
  while (bound < limit && next(&key)) {
    uint32_t n = 0;
    if (cache != nullptr && Cacheable(key, min_cached_bytes) &&
        cache->Find(HashBytes(key.data(), key.size()), key, &n) != nullptr) {
      bound += n;
    } else {
      bound += miss_bound(key);
    }
  }
  return bound;
}

}  // namespace lcde::tok
