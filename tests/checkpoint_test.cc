#include "build/checkpoint.h"

#include <gtest/gtest.h>

#include "lcde/build.h"
#include "lcde/shard_writer.h"
#include "lcde/sha256.h"
#include "test_util.h"

namespace lcde {
namespace {

TEST(CheckpointTest, BuildStateRoundTripsThroughJson) {
  BuildState a(3);
  a.file_lines = {5, 0, 7};
  a.file_bytes = {100, 0, 300};
  a.file_touched = {1, 0, 1};
  a.AddReject(RejectReason::kInvalidUtf8, nullptr);
  RejectExample ex{"f.jsonl", 4, "bad byte"};
  a.AddReject(RejectReason::kMalformedJson, &ex);
  a.documents = 11;
  a.kept = 6;
  a.next_file = 2;
  a.next_line = 8;
  BuildState b(0);
  b.FromJson(a.ToJson());
  EXPECT_EQ(b.ToJson(), a.ToJson());
  EXPECT_EQ(b.lines(), 12u);
  EXPECT_EQ(b.rejects.total(), 2u);
  ASSERT_EQ(b.rejects.examples.size(), 1u);
  EXPECT_EQ(b.rejects.examples[0].second.detail, "bad byte");
  EXPECT_EQ(b.next_file, 2u);
  EXPECT_EQ(b.next_line, 8u);
}

TEST(CheckpointTest, RestoreRepeatsChecksTheFileTheCheckpointNames) {
  testing::TempDir dir;
  RepeatQueue queue(8);
  std::vector<int32_t> doc = {1, 2, 3, 4};
  queue.Schedule(0, 9, doc, 2, 3, 4);
  std::vector<int32_t> tokens;
  nlohmann::json saved = queue.Save(0, &tokens);
  std::string bytes(reinterpret_cast<const char*>(tokens.data()), tokens.size() * 4);
  std::string name = RepeatsFileName(3);
  EXPECT_EQ(name, "checkpoint.repeats.00003");
  testing::WriteFile(dir.Join(name), bytes);
  saved["file"] = name;
  saved["sha256"] = Sha256Hex(bytes);

  RepeatQueue restored(8);
  ASSERT_TRUE(RestoreRepeats(dir.path().string(), saved, &restored).ok());
  EXPECT_EQ(restored.pending_copies(), 2u);

  testing::WriteFile(dir.Join(name), bytes.substr(4));  // another file than the checkpoint saw
  EXPECT_EQ(RestoreRepeats(dir.path().string(), saved, &restored).code(), Status::Code::kCorruption);
  saved["file"] = "../elsewhere";
  EXPECT_EQ(RestoreRepeats(dir.path().string(), saved, &restored).code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace lcde
