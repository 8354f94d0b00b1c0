#include "lcde/shard_writer.h"
#include "lcde/sha256.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"

namespace lcde {
namespace {

namespace fs = std::filesystem;
using lcde::testing::ReadFile;
using lcde::testing::TempDir;
using lcde::testing::WriteFile;

// Reads little-endian integers byte by byte, independent of the writer's memcpy.
uint64_t LE(const std::string& b, size_t off, size_t width) {
  EXPECT_LE(off + width, b.size()) << "read past the end";
  if (off + width > b.size()) return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v |= uint64_t{static_cast<uint8_t>(b[off + i])} << (8 * i);
  return v;
}

std::set<std::string> ListDir(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

// A chunk of `n` tokens split into pieces of the given lengths (summing to n).
struct TestChunk {
  std::vector<int32_t> tokens;
  std::vector<Segment> segments;
};

TestChunk MakeChunk(std::vector<uint32_t> pieces, int32_t first_id, int32_t step,
                    uint32_t bogus_chunk = 777) {
  TestChunk c;
  uint32_t start = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    Segment s;
    s.chunk = bogus_chunk;  // the builder must overwrite this
    s.start = start;
    s.length = pieces[i];
    s.source = static_cast<uint32_t>(i % 3);
    s.document = (uint64_t{i + 1} << 32) | (100 + i);
    s.doc_offset = 5 * i;
    s.doc_tokens = 5 * i + pieces[i] + 7;
    c.segments.push_back(s);
    start += pieces[i];
  }
  for (uint32_t i = 0; i < start; ++i) c.tokens.push_back(first_id + static_cast<int32_t>(i) * step);
  return c;
}

struct Written {
  std::vector<TestChunk> chunks;
  ShardInfo info;
};

// Writes a shard, then checks every byte of .bin/.idx/.seg against the chunks.
void CheckShard(const std::string& dir, const std::string& name, TokenDtype dtype,
                const std::vector<TestChunk>& chunks) {
  auto made = ShardBuilder::Create(dir, name, dtype);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  std::unique_ptr<ShardBuilder> b = std::move(made).value();
  for (const TestChunk& c : chunks) {
    Status s = b->AddChunk(c.tokens, c.segments);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_EQ(b->chunks(), chunks.size());
  auto finished = b->Finish();
  ASSERT_TRUE(finished.ok()) << finished.status().ToString();
  const ShardInfo& info = finished.value();

  const std::string base = (fs::path(dir) / name).string();
  EXPECT_EQ(ListDir(dir), (std::set<std::string>{name + ".bin", name + ".idx", name + ".seg"}));
  const std::string bin = ReadFile(base + ".bin"), idx = ReadFile(base + ".idx"),
                    seg = ReadFile(base + ".seg");
  const size_t width = DtypeBytes(dtype);
  const uint64_t n = chunks.size();

  // .bin: tokens little-endian, chunk after chunk.
  uint64_t total = 0, nseg = 0;
  for (const auto& c : chunks) total += c.tokens.size(), nseg += c.segments.size();
  ASSERT_EQ(bin.size(), total * width);
  size_t off = 0;
  for (const auto& c : chunks) {
    for (int32_t t : c.tokens) {
      ASSERT_EQ(LE(bin, off, width), static_cast<uint64_t>(static_cast<uint32_t>(t)));
      off += width;
    }
  }

  // .idx per Megatron's _IndexWriter.
  ASSERT_EQ(idx.size(), 34 + n * 4 + n * 8 + (n + 1) * 8);
  EXPECT_EQ(idx.substr(0, 9), std::string("MMIDIDX\0\0", 9));
  EXPECT_EQ(LE(idx, 9, 8), 1u);
  EXPECT_EQ(LE(idx, 17, 1), dtype == TokenDtype::kUint16 ? 8u : 4u);
  EXPECT_EQ(LE(idx, 18, 8), n);
  EXPECT_EQ(LE(idx, 26, 8), n + 1);
  uint64_t pointer = 0;
  for (uint64_t i = 0; i < n; ++i) {
    EXPECT_EQ(LE(idx, 34 + 4 * i, 4), chunks[i].tokens.size()) << "length " << i;
    EXPECT_EQ(LE(idx, 34 + 4 * n + 8 * i, 8), pointer) << "pointer " << i;
    pointer += chunks[i].tokens.size() * width;
  }
  for (uint64_t i = 0; i <= n; ++i) {
    EXPECT_EQ(LE(idx, 34 + 12 * n + 8 * i, 8), i) << "document_indices " << i;
  }

  // .seg: 16-byte header, then 40-byte records with shard-local chunk numbers.
  ASSERT_EQ(seg.size(), 16 + 40 * nseg);
  EXPECT_EQ(seg.substr(0, 8), std::string("LCDESEG\0", 8));
  EXPECT_EQ(LE(seg, 8, 4), 1u);
  EXPECT_EQ(LE(seg, 12, 4), 40u);
  off = 16;
  for (uint64_t ci = 0; ci < n; ++ci) {
    for (const Segment& s : chunks[ci].segments) {
      EXPECT_EQ(LE(seg, off + 0, 4), ci);
      EXPECT_EQ(LE(seg, off + 4, 4), s.start);
      EXPECT_EQ(LE(seg, off + 8, 4), s.length);
      EXPECT_EQ(LE(seg, off + 12, 4), s.source);
      EXPECT_EQ(LE(seg, off + 16, 8), s.document);
      EXPECT_EQ(LE(seg, off + 24, 8), s.doc_offset);
      EXPECT_EQ(LE(seg, off + 32, 8), s.doc_tokens);
      off += 40;
    }
  }

  EXPECT_EQ(info.name, name);
  EXPECT_EQ(info.chunks, n);
  EXPECT_EQ(info.tokens, total);
  EXPECT_EQ(info.segments, nseg);
  EXPECT_EQ(info.bin_bytes, bin.size());
  EXPECT_EQ(info.idx_bytes, idx.size());
  EXPECT_EQ(info.seg_bytes, seg.size());
  EXPECT_EQ(info.bin_sha256, Sha256File(base + ".bin").value());
  EXPECT_EQ(info.idx_sha256, Sha256File(base + ".idx").value());
  EXPECT_EQ(info.seg_sha256, Sha256File(base + ".seg").value());
  EXPECT_EQ(info.bin_sha256.size(), 64u);
}

TEST(ShardWriterTest, Uint16ShardMatchesMegatronLayout) {
  TempDir tmp;
  std::vector<TestChunk> chunks = {
      MakeChunk({10, 20, 34}, 0, 1000),     // ids up to 63000
      MakeChunk({64}, 65535, 0),            // the largest uint16 id
      MakeChunk({1, 62, 1}, 3, 7),
      MakeChunk({5, 4}, 100, 1),            // shorter last chunk
  };
  CheckShard(tmp.path().string(), "part-00000", TokenDtype::kUint16, chunks);
}

TEST(ShardWriterTest, Int32ShardHoldsLargeIds) {
  TempDir tmp;
  std::vector<TestChunk> chunks = {
      MakeChunk({16, 16}, 65530, 1),        // crosses 65535
      MakeChunk({32}, 2147483600, 1),       // near INT32_MAX
      MakeChunk({7}, 128000, 3),
  };
  CheckShard(tmp.path().string(), "part-00001", TokenDtype::kInt32, chunks);
}

TEST(ShardWriterTest, ChunksLargerThanTheBufferAreWrittenWhole) {
  TempDir tmp;
  // 6 MiB of int32 and 3 MiB of uint16 cross the 4 MiB buffer mid-chunk.
  CheckShard(tmp.path().string(), "big32", TokenDtype::kInt32,
             {MakeChunk({1000, 1572864 - 1000}, 1, 1), MakeChunk({3}, 9, 1)});
  TempDir tmp2;
  CheckShard(tmp2.path().string(), "big16", TokenDtype::kUint16,
             {MakeChunk({1572864}, 0, 0), MakeChunk({1572864}, 65535, 0)});
}

TEST(ShardWriterTest, EmptyShardIsAValidIndex) {
  TempDir tmp;
  CheckShard(tmp.path().string(), "empty", TokenDtype::kUint16, {});
}

TEST(ShardWriterTest, TmpFilesExistOnlyUntilFinish) {
  TempDir tmp;
  auto b = std::move(ShardBuilder::Create(tmp.path().string(), "p", TokenDtype::kUint16)).value();
  TestChunk c = MakeChunk({4}, 1, 1);
  ASSERT_TRUE(b->AddChunk(c.tokens, c.segments).ok());
  EXPECT_EQ(ListDir(tmp.path()), (std::set<std::string>{"p.bin.tmp", "p.seg.tmp"}));
  ASSERT_TRUE(b->Finish().ok());
  EXPECT_EQ(ListDir(tmp.path()), (std::set<std::string>{"p.bin", "p.idx", "p.seg"}));
  // The builder is spent; a late call fails instead of writing.
  EXPECT_FALSE(b->AddChunk(c.tokens, c.segments).ok());
  EXPECT_FALSE(b->Finish().ok());
  // A later builder of the same shard owns the tmp names now; Abandon() and
  // the destructor of the finished one must not touch its files.
  auto again = std::move(ShardBuilder::Create(tmp.path().string(), "p", TokenDtype::kUint16)).value();
  b->Abandon();
  b.reset();
  EXPECT_EQ(ListDir(tmp.path()),
            (std::set<std::string>{"p.bin", "p.idx", "p.seg", "p.bin.tmp", "p.seg.tmp"}));
  again->Abandon();
  EXPECT_EQ(ListDir(tmp.path()), (std::set<std::string>{"p.bin", "p.idx", "p.seg"}));
}

TEST(ShardWriterTest, AbandonAndDestructorLeaveNothing) {
  TempDir tmp;
  TestChunk c = MakeChunk({4, 4}, 1, 1);
  {
    auto b = std::move(ShardBuilder::Create(tmp.path().string(), "a", TokenDtype::kUint16)).value();
    ASSERT_TRUE(b->AddChunk(c.tokens, c.segments).ok());
    b->Abandon();
    EXPECT_TRUE(ListDir(tmp.path()).empty());
    EXPECT_FALSE(b->Finish().ok());
    EXPECT_TRUE(ListDir(tmp.path()).empty());
    // A second Abandon() must not remove a newer builder's tmp files.
    auto again = std::move(ShardBuilder::Create(tmp.path().string(), "a", TokenDtype::kUint16)).value();
    b->Abandon();
    EXPECT_EQ(ListDir(tmp.path()), (std::set<std::string>{"a.bin.tmp", "a.seg.tmp"}));
  }
  {
    auto b = std::move(ShardBuilder::Create(tmp.path().string(), "d", TokenDtype::kInt32)).value();
    ASSERT_TRUE(b->AddChunk(c.tokens, c.segments).ok());
  }
  EXPECT_TRUE(ListDir(tmp.path()).empty());
}

TEST(ShardWriterTest, CreateInMissingDirFails) {
  TempDir tmp;
  auto b = ShardBuilder::Create(tmp.Join("nope"), "p", TokenDtype::kUint16);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("nope"), std::string::npos) << b.status().ToString();
}

TEST(ShardWriterTest, RejectsIdsThatDoNotFitAndStaysUsable) {
  TempDir tmp;
  auto b = std::move(ShardBuilder::Create(tmp.path().string(), "p", TokenDtype::kUint16)).value();
  TestChunk too_big = MakeChunk({3}, 65534, 1);  // 65534, 65535, 65536
  Status s = b->AddChunk(too_big.tokens, too_big.segments);
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.message().find("65536"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("uint16"), std::string::npos) << s.ToString();

  TestChunk negative = MakeChunk({2}, 5, 1);
  negative.tokens[1] = -3;
  s = b->AddChunk(negative.tokens, negative.segments);
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.message().find("-3"), std::string::npos) << s.ToString();

  // Rejected chunks left no trace: the shard holds only the good chunk.
  TestChunk good = MakeChunk({2}, 8, 1);
  ASSERT_TRUE(b->AddChunk(good.tokens, good.segments).ok());
  auto info = b->Finish();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->chunks, 1u);
  EXPECT_EQ(ReadFile(tmp.Join("p.bin")), std::string("\x08\x00\x09\x00", 4));
  EXPECT_EQ(LE(ReadFile(tmp.Join("p.seg")), 16, 4), 0u);  // chunk 0, not 2
}

TEST(ShardWriterTest, Int32RejectsNegativeIds) {
  TempDir tmp;
  auto b = std::move(ShardBuilder::Create(tmp.path().string(), "p", TokenDtype::kInt32)).value();
  TestChunk c = MakeChunk({2}, -1, 1);
  EXPECT_EQ(b->AddChunk(c.tokens, c.segments).code(), Status::Code::kCorruption);
}

TEST(ShardWriterTest, RejectsSegmentsThatDoNotTile) {
  TempDir tmp;
  auto b = std::move(ShardBuilder::Create(tmp.path().string(), "p", TokenDtype::kUint16)).value();
  auto expect_bad = [&](TestChunk c, const char* what) {
    Status s = b->AddChunk(c.tokens, c.segments);
    EXPECT_EQ(s.code(), Status::Code::kCorruption) << what;
  };
  TestChunk gap = MakeChunk({3, 3}, 1, 1);
  gap.segments[1].start = 4;
  expect_bad(gap, "gap");
  TestChunk overlap = MakeChunk({3, 3}, 1, 1);
  overlap.segments[1].start = 2;
  expect_bad(overlap, "overlap");
  TestChunk short_cover = MakeChunk({3, 3}, 1, 1);
  short_cover.tokens.push_back(9);
  expect_bad(short_cover, "does not cover the end");
  TestChunk long_cover = MakeChunk({3, 3}, 1, 1);
  long_cover.tokens.pop_back();
  expect_bad(long_cover, "covers past the end");
  TestChunk none = MakeChunk({3}, 1, 1);
  none.segments.clear();
  expect_bad(none, "no segments");
  TestChunk empty_piece = MakeChunk({3, 0}, 1, 1);
  expect_bad(empty_piece, "empty piece");
  TestChunk outside = MakeChunk({3}, 1, 1);
  outside.segments[0].doc_tokens = outside.segments[0].doc_offset + 2;
  expect_bad(outside, "piece past its document's end");
  expect_bad(TestChunk{}, "empty chunk");
  EXPECT_EQ(b->chunks(), 0u);
}

// Runs `body` in a child whose files may not grow past `limit` bytes, with
// SIGXFSZ ignored as the CLI does, so writes fail with EFBIG. The child's
// exit code is what `body` returns (0 = all checks passed).
int InChildWithFileLimit(rlim_t limit, const std::function<int()>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    rlimit rl{limit, limit};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(100);
    _exit(body());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
}

// Checks a write error names the .bin tmp file and the errno text.
int CheckEfbig(const Status& s) {
  if (s.code() != Status::Code::kIOError) return 10;
  if (s.message().find("part-00000.bin.tmp") == std::string::npos) return 11;
  if (s.message().find(strerror(EFBIG)) == std::string::npos) return 12;
  return 0;
}

TEST(ShardWriterTest, WriteErrorInFinishIsIOErrorAndLeavesNothing) {
  TempDir tmp;
  const std::string dir = tmp.path().string();
  int rc = InChildWithFileLimit(64 << 10, [&] {
    auto b = ShardBuilder::Create(dir, "part-00000", TokenDtype::kUint16);
    if (!b.ok()) return 1;
    TestChunk c = MakeChunk({50000}, 1, 0);  // 100 KB, stays in the buffer
    for (int i = 0; i < 2; ++i) {
      if (!(*b)->AddChunk(c.tokens, c.segments).ok()) return 2;
    }
    auto info = (*b)->Finish();
    if (info.ok()) return 3;
    return CheckEfbig(info.status());
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(ListDir(tmp.path()).empty());
}

TEST(ShardWriterTest, WriteErrorInAddChunkIsIOErrorAndLeavesNothing) {
  TempDir tmp;
  const std::string dir = tmp.path().string();
  int rc = InChildWithFileLimit(1 << 20, [&] {
    auto made = ShardBuilder::Create(dir, "part-00000", TokenDtype::kInt32);
    if (!made.ok()) return 1;
    std::unique_ptr<ShardBuilder> b = std::move(made).value();
    TestChunk c = MakeChunk({300000}, 70000, 0);  // 1.2 MB per chunk
    Status s;
    for (int i = 0; i < 8 && s.ok(); ++i) s = b->AddChunk(c.tokens, c.segments);
    if (int r = CheckEfbig(s); r != 0) return r;
    // The builder abandoned itself; later calls report the same error.
    if (CheckEfbig(b->AddChunk(c.tokens, c.segments)) != 0) return 20;
    auto info = b->Finish();
    if (info.ok() || CheckEfbig(info.status()) != 0) return 21;
    return 0;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(ListDir(tmp.path()).empty());
}

TEST(ShardWriterTest, WriteFileAtomicallyReplacesContent) {
  TempDir tmp;
  const std::string path = tmp.Join("manifest.json");
  ASSERT_TRUE(WriteFileAtomically(path, "first version, longer").ok());
  EXPECT_EQ(ReadFile(path), "first version, longer");
  ASSERT_TRUE(WriteFileAtomically(path, "second").ok());
  EXPECT_EQ(ReadFile(path), "second");
  ASSERT_TRUE(WriteFileAtomically(path, "").ok());
  EXPECT_EQ(ReadFile(path), "");
  EXPECT_EQ(ListDir(tmp.path()), (std::set<std::string>{"manifest.json"}));

  Status s = WriteFileAtomically(tmp.Join("missing/x.json"), "x");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("missing"), std::string::npos) << s.ToString();
}

TEST(ShardWriterTest, Sha256FileKnownVectors) {
  TempDir tmp;
  WriteFile(tmp.Join("abc"), "abc");
  WriteFile(tmp.Join("empty"), "");
  EXPECT_EQ(Sha256File(tmp.Join("abc")).value(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256File(tmp.Join("empty")).value(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  auto missing = Sha256File(tmp.Join("nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
}

TEST(ShardWriterTest, DtypeForVocabBoundaries) {
  EXPECT_EQ(DtypeForVocab(32000), TokenDtype::kUint16);
  EXPECT_EQ(DtypeForVocab(65499), TokenDtype::kUint16);
  EXPECT_EQ(DtypeForVocab(65500), TokenDtype::kInt32);
  EXPECT_EQ(DtypeForVocab(128256), TokenDtype::kInt32);
  EXPECT_EQ(static_cast<int>(TokenDtype::kUint16), 8);  // Megatron DType codes
  EXPECT_EQ(static_cast<int>(TokenDtype::kInt32), 4);
  EXPECT_EQ(DtypeBytes(TokenDtype::kUint16), 2u);
  EXPECT_EQ(DtypeBytes(TokenDtype::kInt32), 4u);
}

}  // namespace
}  // namespace lcde
