#include "lcde/stats.h"

#include <gtest/gtest.h>

#include <sstream>

#include "lcde/packer.h"
#include "test_util.h"

namespace lcde {
namespace {

TEST(StatsTest, LengthBuckets) {
  EXPECT_EQ(LengthBucket(0), 0u);
  EXPECT_EQ(LengthBucket(4095), 0u);
  EXPECT_EQ(LengthBucket(4096), 1u);
  EXPECT_EQ(LengthBucket(8192), 2u);
  EXPECT_EQ(LengthBucket(131071), 5u);
  EXPECT_EQ(LengthBucket(131072), 6u);
  EXPECT_STREQ(LengthBucketName(6), "128K+");
}

// Writes a two-source dataset by hand and checks every figure.
TEST(StatsTest, CountsFromSegments) {
  testing::TempDir dir;
  DatasetWriter writer(dir.path().string(), TokenDtype::kUint16, 2);
  Packer packer(10, &writer);
  std::vector<int32_t> toks(20000, 5);
  // source 0: a long document (5000 tokens, only 7 kept), source 1: short ones.
  ASSERT_TRUE(packer.Add(0, 1, 5000, std::span(toks).first(7)).ok());
  ASSERT_TRUE(packer.Add(1, 2, 3, std::span(toks).first(3)).ok());   // chunk 0 full: 7 + 3
  ASSERT_TRUE(packer.Add(1, 3, 10, std::span(toks).first(10)).ok()); // chunk 1
  ASSERT_TRUE(packer.Add(0, 4, 200000, std::span(toks).first(10)).ok());  // chunk 2, 128K+
  ASSERT_TRUE(packer.Finish(false).ok());
  ASSERT_TRUE(writer.Finish().ok());
  ASSERT_EQ(writer.shards().size(), 2u);

  nlohmann::json m;
  m["sequence_length"] = 10;
  m["length_threshold"] = 4096;
  m["tokenizer"] = {{"vocab_size", 100}};
  m["sources"] = {{{"name", "A"}, {"target_share", 0.5}}, {{"name", "B"}, {"target_share", 0.5}}};
  for (const auto& s : writer.shards()) m["shards"].push_back({{"name", s.name}, {"chunks", s.chunks}});
  auto st = ComputeStats(dir.path().string(), m);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->chunks, 3u);
  EXPECT_EQ(st->tokens, 30u);
  EXPECT_EQ(st->segments, 4u);
  EXPECT_EQ(st->sources[0].tokens, 17u);
  EXPECT_EQ(st->sources[0].documents, 2u);
  EXPECT_EQ(st->sources[0].long_tokens, 17u);
  EXPECT_EQ(st->sources[0].bucket_tokens[1], 7u);
  EXPECT_EQ(st->sources[0].bucket_tokens[6], 10u);
  EXPECT_EQ(st->sources[1].tokens, 13u);
  EXPECT_EQ(st->sources[1].long_tokens, 0u);
  EXPECT_EQ(st->docs_per_chunk_min, 1u);
  EXPECT_EQ(st->docs_per_chunk_max, 2u);
  EXPECT_NEAR(st->docs_per_chunk_mean, 4.0 / 3, 1e-12);

  nlohmann::json j = StatsToJson(*st, m);
  EXPECT_EQ(j["tokens"], 30);
  EXPECT_DOUBLE_EQ(j["long_token_fraction"].get<double>(), 17.0 / 30);
  EXPECT_DOUBLE_EQ(j["sources"]["B"]["share"].get<double>(), 13.0 / 30);
  EXPECT_DOUBLE_EQ(j["sources"]["A"]["length_buckets"]["128K+"].get<double>(), 10.0 / 17);
  std::string text = FormatStats(*st, m);
  EXPECT_NE(text.find("chunks 3 x 10 tokens = 30 tokens"), std::string::npos) << text;
}

// A source name longer than the column (input groups make them) widens the
// column: every row of the table keeps its numbers under their headings.
TEST(StatsTest, TableColumnsFitTheLongestSourceName) {
  DatasetStats st;
  st.sequence_length = 10;
  st.chunks = 1;
  st.tokens = 10;
  st.sources.resize(2);
  st.sources[0].name = "general/RedPajamaCommonCrawl";
  st.sources[0].tokens = 6;
  st.sources[0].target_share = 0.6;
  st.sources[1].name = "B";
  st.sources[1].tokens = 4;
  st.sources[1].target_share = 0.4;
  const std::string text = FormatStats(st, nlohmann::json::object());
  std::vector<std::string> table;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("source ", 0) == 0 || line.rfind("general/", 0) == 0 || line.rfind("B ", 0) == 0 ||
        line.rfind("total ", 0) == 0) {
      table.push_back(line);
    }
    if (line.rfind("total ", 0) == 0) break;  // the table of shares ends here
  }
  ASSERT_EQ(table.size(), 4u) << text;
  for (const auto& line : table) EXPECT_EQ(line.size(), table[0].size()) << text;
  EXPECT_EQ(table[1].find("general/RedPajamaCommonCrawl "), 0u) << text;
}

TEST(StatsTest, CorruptSegmentFileIsNamed) {
  testing::TempDir dir;
  testing::WriteFile(dir.Join("part-00000.seg"), "garbage-garbage-garbage");
  nlohmann::json m;
  m["sources"] = nlohmann::json::array();
  m["shards"] = {{{"name", "part-00000"}, {"chunks", 1}}};
  auto st = ComputeStats(dir.path().string(), m);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), Status::Code::kCorruption);
  EXPECT_NE(st.status().message().find("part-00000.seg"), std::string::npos);
}

}  // namespace
}  // namespace lcde
