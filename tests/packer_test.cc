#include "lcde/packer.h"

#include <gtest/gtest.h>

#include <numeric>

namespace lcde {
namespace {

class RecordingSink : public ChunkSink {
 public:
  Status WriteChunk(std::span<const int32_t> tokens, std::span<const Segment> segments) override {
    chunks.emplace_back(tokens.begin(), tokens.end());
    segs.emplace_back(segments.begin(), segments.end());
    return Status::Ok();
  }
  std::vector<std::vector<int32_t>> chunks;
  std::vector<std::vector<Segment>> segs;
};

std::vector<int32_t> Range(int32_t from, int32_t n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), from);
  return v;
}

TEST(PackerTest, CutsAcrossDocumentBoundaries) {
  RecordingSink sink;
  Packer p(4, &sink);
  ASSERT_TRUE(p.Add(0, 100, 3, Range(10, 3)).ok());
  ASSERT_TRUE(p.Add(1, 200, 6, Range(20, 6)).ok());
  ASSERT_TRUE(p.Finish(false).ok());
  ASSERT_EQ(sink.chunks.size(), 2u);
  EXPECT_EQ(sink.chunks[0], (std::vector<int32_t>{10, 11, 12, 20}));
  EXPECT_EQ(sink.chunks[1], (std::vector<int32_t>{21, 22, 23, 24}));
  EXPECT_EQ(p.dropped_tail_tokens(), 1u);
  EXPECT_EQ(p.tokens_written(), 8u);
  ASSERT_EQ(sink.segs[0].size(), 2u);
  const Segment& a = sink.segs[0][0];
  EXPECT_EQ(a.chunk, 0u); EXPECT_EQ(a.start, 0u); EXPECT_EQ(a.length, 3u);
  EXPECT_EQ(a.source, 0u); EXPECT_EQ(a.document, 100u); EXPECT_EQ(a.doc_offset, 0u); EXPECT_EQ(a.doc_tokens, 3u);
  const Segment& b = sink.segs[0][1];
  EXPECT_EQ(b.start, 3u); EXPECT_EQ(b.length, 1u); EXPECT_EQ(b.doc_offset, 0u); EXPECT_EQ(b.doc_tokens, 6u);
  ASSERT_EQ(sink.segs[1].size(), 1u);
  const Segment& c = sink.segs[1][0];
  EXPECT_EQ(c.chunk, 1u); EXPECT_EQ(c.start, 0u); EXPECT_EQ(c.length, 4u);
  EXPECT_EQ(c.document, 200u); EXPECT_EQ(c.doc_offset, 1u);
}

TEST(PackerTest, LongDocumentSpansManyChunks) {
  RecordingSink sink;
  Packer p(3, &sink);
  ASSERT_TRUE(p.Add(2, 7, 10, Range(0, 9)).ok());  // cut by the sampler: 9 of 10
  ASSERT_TRUE(p.Finish(false).ok());
  ASSERT_EQ(sink.chunks.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(sink.segs[i].size(), 1u);
    EXPECT_EQ(sink.segs[i][0].doc_offset, 3 * i);
    EXPECT_EQ(sink.segs[i][0].doc_tokens, 10u);
  }
  EXPECT_EQ(p.dropped_tail_tokens(), 0u);
}

TEST(PackerTest, KeepPartialWritesAShorterLastChunk) {
  RecordingSink sink;
  Packer p(4, &sink);
  ASSERT_TRUE(p.Add(0, 1, 6, Range(0, 6)).ok());
  ASSERT_TRUE(p.Finish(true).ok());
  ASSERT_EQ(sink.chunks.size(), 2u);
  EXPECT_EQ(sink.chunks[1].size(), 2u);
  EXPECT_EQ(p.dropped_tail_tokens(), 0u);
}

}  // namespace
}  // namespace lcde
