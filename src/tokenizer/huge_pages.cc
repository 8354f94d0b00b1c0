#include "lcde/tokenizer/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <new>
#include <string_view>

namespace lcde::tok {

namespace {

constexpr size_t kHugePage = size_t{2} << 20;

bool HugePagesWanted() {
  static const bool wanted = [] {
    const char* env = std::getenv("LCDE_HUGE_PAGES");
    return env == nullptr || std::string_view(env) != "0";
  }();
  return wanted;
}

size_t MappedBytes(size_t bytes) { return (bytes + kHugePage - 1) / kHugePage * kHugePage; }

}  // namespace

void* AllocateHugePageMemory(size_t bytes) {
  if (bytes < kHugePage) {
    void* p = std::calloc(1, bytes == 0 ? 1 : bytes);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  // Map a huge page more than needed, then unmap the unaligned head and tail.
  const size_t size = MappedBytes(bytes);
  void* raw = mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t begin = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (begin + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned > begin) munmap(raw, aligned - begin);
  const uintptr_t end = begin + size + kHugePage;
  if (end > aligned + size) munmap(reinterpret_cast<void*>(aligned + size), end - (aligned + size));
  void* p = reinterpret_cast<void*>(aligned);
  // Advice only: without THP the memory stays ordinary pages. LCDE_HUGE_PAGES=0
  // withholds it (a benchmark knob: the same binary with and without).
  if (HugePagesWanted()) (void)madvise(p, size, MADV_HUGEPAGE);
  return p;
}

void FreeHugePageMemory(void* p, size_t bytes) {
  if (p == nullptr) return;
  if (bytes < kHugePage) {
    std::free(p);
    return;
  }
  munmap(p, MappedBytes(bytes));
}

}  // namespace lcde::tok
