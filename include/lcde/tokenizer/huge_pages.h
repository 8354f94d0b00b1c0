// Zeroed memory that the kernel may back with transparent huge pages.
//
// The tokenizer's big tables (the segment cache's slots and entries, the
// BPE pair tables) are read at random: with 4 KiB pages nearly every lookup
// also misses the TLB and walks the page tables. Linux's default THP mode is
// `madvise`, so huge pages come only to memory that asks for them.
#pragma once

#include <cstddef>
#include <memory>

namespace lcde::tok {

// `bytes` of zeroed memory, 2 MiB-aligned when at least 2 MiB (so that it
// can be backed by huge pages, which it asks for), else ordinary heap memory.
// Throws std::bad_alloc when the memory cannot be had.
void* AllocateHugePageMemory(size_t bytes);
// REQUIRES: p and bytes from one AllocateHugePageMemory call (p may be null).
void FreeHugePageMemory(void* p, size_t bytes);

// The same, owned: freed when the pointer goes.
struct HugePageDeleter {
  size_t bytes = 0;
  void operator()(void* p) const { FreeHugePageMemory(p, bytes); }
};
template <typename T>
using HugePagePtr = std::unique_ptr<T[], HugePageDeleter>;

template <typename T>
HugePagePtr<T> MakeHugePageArray(size_t count) {
  const size_t bytes = count * sizeof(T);
  return HugePagePtr<T>(static_cast<T*>(AllocateHugePageMemory(bytes)), HugePageDeleter{bytes});
}

}  // namespace lcde::tok
