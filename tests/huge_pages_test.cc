#include "lcde/tokenizer/huge_pages.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace lcde::tok {
namespace {

// The cache's and the BPE tables' memory: zeroed like calloc, 2 MiB-aligned
// from 2 MiB up (what transparent huge pages need), any size freed cleanly.
TEST(HugePagesTest, MemoryIsZeroedAlignedAndWritable) {
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{4096}, (size_t{2} << 20) - 1, size_t{2} << 20,
                       (size_t{5} << 20) + 3}) {
    HugePagePtr<unsigned char> p = MakeHugePageArray<unsigned char>(bytes);
    ASSERT_NE(p.get(), nullptr) << bytes;
    if (bytes >= (size_t{2} << 20)) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p.get()) % (size_t{2} << 20), 0u) << bytes;
    }
    for (size_t i = 0; i < bytes; i += 4093) EXPECT_EQ(p[i], 0) << bytes << " at " << i;
    if (bytes > 0) {
      p[bytes - 1] = 7;
      p[0] = 9;
      EXPECT_EQ(p[bytes - 1] + p[0], bytes == 1 ? 18 : 16);
    }
  }
}

}  // namespace
}  // namespace lcde::tok
