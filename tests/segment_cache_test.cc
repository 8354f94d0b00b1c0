// The segment cache shared by a Tokenizer's threads (tokenizer/segment_cache.h).
// Tokenizer-level exactness (ids equal to the library's) is tokenizer_test.cc.
#include "lcde/tokenizer/sentencepiece.h"
#include "lcde/tokenizer/segment_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace lcde::tok {
namespace {

// A distinct key and ids per index; ids encode the index so a wrong hit shows.
std::string Key(size_t i) { return "seg" + std::to_string(i * 2654435761u % 1000003u) + "_" + std::to_string(i); }
std::vector<int32_t> IdsOf(size_t i) {
  std::vector<int32_t> ids(1 + i % 5);
  for (size_t k = 0; k < ids.size(); ++k) ids[k] = static_cast<int32_t>(i * 8 + k);
  return ids;
}

void Put(SegmentCache* cache, SegmentCache::Writer* w, size_t i) {
  const std::string key = Key(i);
  const std::vector<int32_t> ids = IdsOf(i);
  cache->Insert(w, HashBytes(key.data(), key.size()), key, ids.data(), ids.size());
}

// 1: found with its ids; 0: absent; -1: found with wrong ids.
int Lookup(const SegmentCache& cache, size_t i) {
  const std::string key = Key(i);
  uint32_t n = 0;
  const int32_t* got = cache.Find(HashBytes(key.data(), key.size()), key, &n);
  if (got == nullptr) return 0;
  return std::vector<int32_t>(got, got + n) == IdsOf(i) ? 1 : -1;
}

TEST(SegmentCacheTest, FindsWhatWasInsertedThroughGrowth) {
  SegmentCache cache(64 << 20);
  SegmentCache::Writer w;
  // 300K entries: the table starts at 64K slots and grows three times.
  constexpr size_t kKeys = 300000;
  for (size_t i = 0; i < kKeys; ++i) Put(&cache, &w, i);
  for (size_t i = 0; i < kKeys; ++i) ASSERT_EQ(Lookup(cache, i), 1) << i;
  EXPECT_EQ(Lookup(cache, kKeys), 0);
  // A prefix or extension of a key is another key.
  uint32_t n = 0;
  const std::string k = Key(7);
  EXPECT_EQ(cache.Find(HashBytes(k.data(), k.size() - 1), k.substr(0, k.size() - 1), &n), nullptr);
  const CacheStats s = cache.Snapshot(w);
  EXPECT_EQ(s.entries, kKeys);
  EXPECT_EQ(s.refused, 0u);
  EXPECT_LE(s.bytes, cache.max_bytes());
  // A key inserted twice stays one entry.
  Put(&cache, &w, 5);
  EXPECT_EQ(Lookup(cache, 5), 1);
}

TEST(SegmentCacheTest, StopsInsertingAtItsBoundAndKeepsWhatItHas) {
  SegmentCache cache(1 << 20);
  SegmentCache::Writer w;
  constexpr size_t kKeys = 200000;
  for (size_t i = 0; i < kKeys; ++i) Put(&cache, &w, i);
  const CacheStats s = cache.Snapshot(w);
  EXPECT_GT(s.refused, 0u);
  EXPECT_LE(s.bytes, cache.max_bytes());
  size_t found = 0;
  for (size_t i = 0; i < kKeys; ++i) {
    const int r = Lookup(cache, i);
    ASSERT_GE(r, 0) << i;
    found += static_cast<size_t>(r);
  }
  // The first keys are the ones kept.
  EXPECT_EQ(Lookup(cache, 0), 1);
  EXPECT_GT(found, 10000u);
  EXPECT_LT(found, kKeys);
  cache.Clear();
  EXPECT_EQ(Lookup(cache, 0), 0);
  Put(&cache, &w, kKeys - 1);  // the writer's block from before Clear is not reused
  EXPECT_EQ(Lookup(cache, kKeys - 1), 1);
  EXPECT_EQ(cache.Snapshot(w).entries, 1u);
}

TEST(SegmentCacheTest, ManyThreadsInsertAndFindTheSameKeys) {
  // Overlapping key ranges from 8 threads while the table grows: every hit
  // has the right ids; inserts lost to a concurrent growth only miss.
  SegmentCache cache(128 << 20);
  constexpr size_t kKeys = 200000;
  constexpr int kThreads = 8;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      SegmentCache::Writer w;
      for (size_t j = 0; j < kKeys; ++j) {
        const size_t i = (j * 7919 + static_cast<size_t>(t) * 1000) % kKeys;
        if (Lookup(cache, i) == 0) Put(&cache, &w, i);
        if (Lookup(cache, (i * 31) % kKeys) < 0) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  size_t found = 0;
  for (size_t i = 0; i < kKeys; ++i) {
    const int r = Lookup(cache, i);
    ASSERT_GE(r, 0) << i;
    found += static_cast<size_t>(r);
  }
  // Each key was offered by 8 threads; losing it to every growth is rare.
  EXPECT_GT(found, kKeys * 99 / 100);
  SegmentCache::Writer none;
  EXPECT_LE(cache.Snapshot(none).bytes, cache.max_bytes());
}

}  // namespace
}  // namespace lcde::tok
