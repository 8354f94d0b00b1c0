#include "lcde/tokenizer/cached_segments.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

namespace lcde::tok {

namespace {

std::atomic<uint64_t> g_next_instance{1};

// Per-thread state: this thread's writer into the cache of each live
// CachedSegments it used. Writers of destroyed ones are dropped the next time
// the thread meets one it has not just used.
struct ThreadWriters {
  struct Entry {
    uint64_t instance;
    std::weak_ptr<const CachedSegments> owner;
    std::unique_ptr<SegmentCache::Writer> writer;
    uint64_t last_use;
  };
  static constexpr size_t kMaxEntries = 4;
  std::vector<Entry> entries;
  uint64_t clock = 0;
  uint64_t last_instance = 0;
  SegmentCache::Writer* last_writer = nullptr;
};

ThreadWriters& Tls() {
  thread_local ThreadWriters state;
  return state;
}

}  // namespace

Result<size_t> CachedSegments::BoundBytes(size_t configured) {
  if (const char* env = std::getenv("LCDE_TOKENIZER_CACHE_MB")) {
    // A tuning knob for benchmarks: the cache bound in MiB (0 = off).
    char* end = nullptr;
    unsigned long mb = std::strtoul(env, &end, 10);
    if (end == env || *end != '\0' || mb > 4096) {
      return Status::InvalidConfig(std::string("LCDE_TOKENIZER_CACHE_MB='") + env + "': expected MiB in [0, 4096]");
    }
    return static_cast<size_t>(mb) << 20;
  }
  return configured;
}

std::shared_ptr<CachedSegments> CachedSegments::Make(size_t cache_bytes) {
  std::shared_ptr<CachedSegments> c(new CachedSegments());
  c->instance_ = g_next_instance.fetch_add(1);
  if (cache_bytes > 0) c->cache_ = std::make_unique<SegmentCache>(cache_bytes);
  c->self_ = c;
  return c;
}

CachedSegments::~CachedSegments() = default;

SegmentCache::Writer* CachedSegments::ThreadWriter(bool create) const {
  ThreadWriters& ts = Tls();
  if (ts.last_instance == instance_) return ts.last_writer;
  if (cache_ == nullptr) return nullptr;
  ++ts.clock;
  SegmentCache::Writer* found = nullptr;
  for (size_t i = 0; i < ts.entries.size();) {
    if (ts.entries[i].owner.expired()) {
      if (ts.entries[i].instance == ts.last_instance) {
        ts.last_instance = 0;
        ts.last_writer = nullptr;
      }
      ts.entries.erase(ts.entries.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    if (ts.entries[i].instance == instance_) {
      ts.entries[i].last_use = ts.clock;
      found = ts.entries[i].writer.get();
    }
    ++i;
  }
  if (found == nullptr) {
    if (!create) return nullptr;
    if (ts.entries.size() >= ThreadWriters::kMaxEntries) {
      auto lru = std::min_element(ts.entries.begin(), ts.entries.end(),
                                  [](const auto& a, const auto& b) { return a.last_use < b.last_use; });
      ts.entries.erase(lru);
    }
    ts.entries.push_back({instance_, self_, std::make_unique<SegmentCache::Writer>(), ts.clock});
    found = ts.entries.back().writer.get();
  }
  ts.last_instance = instance_;
  ts.last_writer = found;
  return found;
}

TokenizerCacheStats CachedSegments::Stats() const {
  SegmentCache::Writer* writer = ThreadWriter(/*create=*/false);
  return writer != nullptr ? cache_->Snapshot(*writer) : TokenizerCacheStats{};
}

void CachedSegments::Clear() const {
  if (cache_ == nullptr) return;
  cache_->Clear();
  if (SegmentCache::Writer* writer = ThreadWriter(/*create=*/false)) writer->stats = {};
}

}  // namespace lcde::tok
