#include "lcde/packer.h"

#include <gtest/gtest.h>

#include <cstring>

#include <filesystem>
#include <numeric>

#include "test_util.h"

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

// The writer works on its own thread; what a shard's callback records must
// still be what the caller's side looked like at that shard's last chunk.
TEST(DatasetWriterTest, ShardCallbacksSeeTheStreamAtEachShardEnd) {
  testing::TempDir dir;
  DatasetWriter writer(dir.path().string(), TokenDtype::kUint16, 2);
  Packer packer(4, &writer);
  std::vector<std::pair<uint64_t, size_t>> seen;  // (packer's stream position at capture, shards done)
  writer.set_on_shard_end([&]() -> DatasetWriter::ShardDone {
    uint64_t position = packer.stream_tokens();  // on the caller's thread
    return [&seen, position](const std::vector<ShardInfo>& shards) {
      seen.emplace_back(position, shards.size());
      return Status::Ok();
    };
  });
  for (int32_t d = 0; d < 10; ++d) ASSERT_TRUE(packer.Add(0, static_cast<uint64_t>(d), 2, Range(10 * d, 2)).ok());
  ASSERT_TRUE(packer.Finish(true).ok());  // 20 tokens: 5 chunks of 4
  ASSERT_TRUE(writer.Finish().ok());
  ASSERT_EQ(writer.shards().size(), 3u);
  EXPECT_EQ(seen, (std::vector<std::pair<uint64_t, size_t>>{{8, 1}, {16, 2}, {20, 3}}));
  std::string bin = testing::ReadFile(dir.Join("part-00002.bin"));
  ASSERT_EQ(bin.size(), 8u);
  uint16_t first;
  std::memcpy(&first, bin.data(), 2);
  EXPECT_EQ(first, 80);  // document 8's first token
  EXPECT_EQ(writer.shards()[0].chunks, 2u);
  EXPECT_EQ(writer.shards()[2].chunks, 1u);
}

TEST(DatasetWriterTest, AnErrorOnTheWritingThreadComesBackAndStopsWriting) {
  testing::TempDir dir;
  DatasetWriter writer(dir.path().string(), TokenDtype::kUint16, 1);
  Packer packer(4, &writer);
  writer.set_on_shard_end([&]() -> DatasetWriter::ShardDone {
    return [](const std::vector<ShardInfo>& shards) {
      return shards.size() == 2 ? Status::IOError("disk on fire") : Status::Ok();
    };
  });
  Status s;
  for (int32_t d = 0; d < 200 && s.ok(); ++d) s = packer.Add(0, static_cast<uint64_t>(d), 4, Range(d, 4));
  if (s.ok()) s = writer.Finish();
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_NE(s.message().find("disk on fire"), std::string::npos);
  writer.Abandon();
  EXPECT_EQ(writer.shards().size(), 2u);  // nothing after the failing one
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    std::string name = e.path().filename();
    EXPECT_TRUE(name.starts_with("part-00000.") || name.starts_with("part-00001.")) << name;
  }
}

TEST(DatasetWriterTest, AMissingDirectoryIsAnError) {
  testing::TempDir dir;
  DatasetWriter writer(dir.Join("missing"), TokenDtype::kUint16, 8);
  std::vector<int32_t> tokens = {1, 2, 3};
  std::vector<Segment> segs(1);
  segs[0].length = 3;
  segs[0].doc_tokens = 3;
  Status s = writer.TakeChunk(&tokens, &segs);
  EXPECT_TRUE(tokens.empty());
  if (s.ok()) s = writer.Finish();
  EXPECT_EQ(s.code(), Status::Code::kNotFound) << s.ToString();
}

}  // namespace
}  // namespace lcde
