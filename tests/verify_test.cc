// lcde verify (src/verify.cc): a dataset written here by ShardBuilder,
// intact and then corrupted one way at a time, each defect named; and the
// real binary verifying a shard larger than its memory bound.
#include "lcde/verify.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "lcde/manifest.h"
#include "lcde/shard_writer.h"
#include "test_util.h"

namespace lcde {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kVocab = 1000;

// One shard of `chunks` chunks of `seq` tokens, a document per chunk, ids
// below kVocab; and a manifest describing it.
void WriteDataset(const std::string& dir, uint64_t chunks, uint32_t seq) {
  auto builder = ShardBuilder::Create(dir, "part-00000", TokenDtype::kUint16);
  ASSERT_TRUE(builder.ok()) << builder.status().ToString();
  std::vector<int32_t> tokens(seq);
  for (uint64_t c = 0; c < chunks; ++c) {
    for (uint32_t i = 0; i < seq; ++i) tokens[i] = static_cast<int32_t>((c * 7 + i) % kVocab);
    Segment s;
    s.length = seq;
    s.document = c + 1;
    s.doc_tokens = seq;
    ASSERT_TRUE((*builder)->AddChunk(tokens, std::span<const Segment>(&s, 1)).ok());
  }
  auto info = (*builder)->Finish();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  json m = {{"format", "lcde-dataset"},
            {"format_version", 1},
            {"sequence_length", seq},
            {"dtype", "uint16"},
            {"dtype_code", 8},
            {"tokenizer", {{"vocab_size", kVocab}}},
            {"sources", {{{"id", 0}, {"name", "A"}}}},
            {"inputs", {{{"index", 0}, {"path", "in.jsonl"}}}},
            {"shards", {ShardInfoToJson(*info)}},
            {"totals", {{"chunks", chunks}, {"tokens", chunks * seq}}}};
  testing::WriteFile(dir + "/manifest.json", m.dump());
}

// Rewrites `size` bytes at `offset` of a file.
void Patch(const std::string& path, uint64_t offset, const std::string& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string Defects(const VerifyReport& r) {
  std::string out;
  for (const auto& d : r.defects) out += d + "\n";
  return out;
}

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteDataset(dir_.path().string(), 5, 1000); }
  std::string Path(const std::string& name) const { return dir_.Join(name); }
  VerifyReport Verify() {
    auto r = VerifyDataset(dir_.path().string());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : VerifyReport{};
  }
  // Whether some defect holds every one of `parts`.
  static bool Has(const VerifyReport& r, std::initializer_list<const char*> parts) {
    for (const auto& d : r.defects) {
      bool all = true;
      for (const char* p : parts) all = all && d.find(p) != std::string::npos;
      if (all) return true;
    }
    return false;
  }
  testing::TempDir dir_;
};

TEST_F(VerifyTest, IntactDatasetHasNoDefect) {
  const VerifyReport r = Verify();
  EXPECT_TRUE(r.ok()) << Defects(r);
  EXPECT_EQ(r.shards, 1u);
  EXPECT_EQ(r.chunks, 5u);
  EXPECT_EQ(r.tokens, 5000u);
  EXPECT_EQ(r.segments, 5u);
}

TEST_F(VerifyTest, ChangedTokenBreaksTheChecksum) {
  Patch(Path("part-00000.bin"), 4000, std::string("\x05\x00", 2));
  const VerifyReport r = Verify();
  EXPECT_TRUE(Has(r, {"part-00000.bin", "sha256", "does not match the manifest"})) << Defects(r);
  EXPECT_EQ(r.defects.size(), 1u) << Defects(r);
}

TEST_F(VerifyTest, IdOutsideTheVocabularyIsNamedWithItsPosition) {
  Patch(Path("part-00000.bin"), 2 * 4321, std::string("\xff\xff", 2));  // 65535
  const VerifyReport r = Verify();
  EXPECT_TRUE(Has(r, {"part-00000.bin: token 4321 is 65535, outside the vocabulary of 1000"})) << Defects(r);
}

TEST_F(VerifyTest, TruncatedBinDisagreesWithItsIndex) {
  fs::resize_file(Path("part-00000.bin"), 9000);
  const VerifyReport r = Verify();
  EXPECT_TRUE(Has(r, {"part-00000.bin: 9000 bytes but its .idx describes 10000"})) << Defects(r);
  EXPECT_TRUE(Has(r, {"part-00000.bin: 9000 bytes, manifest says 10000"})) << Defects(r);
}

TEST_F(VerifyTest, MissingSegFileIsNamed) {
  fs::remove(Path("part-00000.seg"));
  const VerifyReport r = Verify();
  EXPECT_TRUE(Has(r, {"part-00000.seg: missing"})) << Defects(r);
}

TEST_F(VerifyTest, SegRecordOutOfPlaceIsNamed) {
  // Record 2's start (offset 4 in the record) set to 7.
  Patch(Path("part-00000.seg"), kSegHeaderBytes + 2 * sizeof(Segment) + 4, std::string("\x07\x00\x00\x00", 4));
  const VerifyReport r = Verify();
  EXPECT_TRUE(Has(r, {"part-00000.seg: record 2: starts at 7, expected 0"})) << Defects(r);
  EXPECT_TRUE(Has(r, {"part-00000.seg", "sha256"})) << Defects(r);
}

TEST_F(VerifyTest, ExtraSegBytesAreNotWholeRecords) {
  std::ofstream(Path("part-00000.seg"), std::ios::app | std::ios::binary) << "xyz";
  const VerifyReport r = Verify();
  EXPECT_TRUE(Has(r, {"part-00000.seg: size is not a whole number of records"})) << Defects(r);
}

// The real binary on a 256 MiB shard: its peak RSS stays far under the
// shard's size (it streams every file in bounded blocks).
TEST(VerifyMemoryTest, PeakRssIsBoundedWhateverTheShardSize) {
  testing::TempDir dir;
  WriteDataset(dir.path().string(), 128, 1u << 20);  // 128 chunks of 1M uint16 tokens
  ASSERT_EQ(fs::file_size(dir.Join("part-00000.bin")), uint64_t{256} << 20);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string bin = testing::LcdeBinary();
    const std::string out = dir.Join("verify.out");
    std::freopen(out.c_str(), "w", stdout);
    execl(bin.c_str(), bin.c_str(), "verify", dir.path().c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  ASSERT_EQ(wait4(pid, &status, 0, &usage), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << testing::ReadFile(dir.Join("verify.out"));
  const long peak_mib = usage.ru_maxrss / 1024;
  std::printf("[          ] lcde verify on a 256 MiB shard: peak RSS %ld MiB\n", peak_mib);
  if (testing::kUnderAddressSanitizer) {
    // The figure measures the sanitizer's allocator and shadow memory (176
    // MiB seen); the normal build asserts the bound.
    std::printf("[          ] (AddressSanitizer build: bound not asserted)\n");
  } else {
    EXPECT_LT(peak_mib, 64);
  }
}

}  // namespace
}  // namespace lcde
