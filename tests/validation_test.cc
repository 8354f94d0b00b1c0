// Validation sets end to end: held-out documents are whole, split by
// length, disjoint from training, and survive an interrupted build.
#include "lcde/validation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "test_util.h"

namespace lcde {
namespace {

namespace fs = std::filesystem;
using testing::RunCommand;

struct Piece {
  uint64_t document, doc_offset, doc_tokens, length;
  uint32_t source;
};

std::vector<Piece> Pieces(const std::string& dir) {
  std::vector<Piece> out;
  for (const Segment& s : testing::ReadSegments(dir)) {
    out.push_back({s.document, s.doc_offset, s.doc_tokens, s.length, s.source});
  }
  return out;
}

TEST(ValidationTest, HeldOutDocumentsAreWholeSplitByLengthAndDisjointFromTraining) {
  testing::TempDir dir;
  std::string corpus = testing::CachedSampleCorpus("--tokens 4000000 --files 6 --seed 5");
  std::string config = dir.Join("v.yaml");
  testing::WriteFile(config, testing::SampleConfigYaml(4, corpus,
                             "mixture: {total_tokens: 150K}\n"
                             "output: {dir: " + dir.Join("out") + ", sequence_length: 8K, chunks_per_shard: 2}\n"
                             "validation: {tokens_per_source: 15K}\n"));
  auto r = RunCommand(testing::LcdeBinary() + " build -q -c " + config);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  std::string out = dir.Join("out");
  testing::ExpectDatasetAndValidationVerify(out);
  const std::vector<uint64_t> held_ids = testing::ReadHeldOutIds(out);
  const std::set<uint64_t> held(held_ids.begin(), held_ids.end());
  std::set<uint64_t> in_validation;
  for (const char* split : {"short", "long"}) {
    std::map<uint64_t, uint64_t> covered;  // document -> tokens present
    std::map<uint32_t, uint64_t> per_source;
    for (const Piece& p : Pieces(out + "/validation/" + split)) {
      covered[p.document] += p.length;
      per_source[p.source] += p.length;
      EXPECT_EQ(p.doc_tokens >= 4096, std::string(split) == "long") << p.document;
      in_validation.insert(p.document);
    }
    for (const auto& [doc, tokens] : covered) EXPECT_TRUE(held.count(doc)) << doc;
    auto m = nlohmann::json::parse(testing::ReadFile(out + "/validation/" + std::string(split) + "/manifest.json"));
    for (const auto& src : m["sources"]) {
      if (!src["weighted"].get<bool>()) continue;
      uint32_t id = src["id"];
      bool unfilled = m["validation"]["unfilled"].contains(src["name"].get<std::string>());
      if (!unfilled) {
        EXPECT_GE(per_source[id], 15000u) << split << " " << src["name"];
      }
    }
    // Whole documents: every held-out document is present from its first to its last token.
    for (const Piece& p : Pieces(out + "/validation/" + split)) {
      EXPECT_EQ(covered[p.document], p.doc_tokens) << p.document;
    }
  }
  EXPECT_EQ(in_validation, held);
  for (const Piece& p : Pieces(out)) EXPECT_FALSE(held.count(p.document)) << "document in both: " << p.document;
  auto m = nlohmann::json::parse(testing::ReadFile(out + "/manifest.json"));
  EXPECT_EQ(m["validation"]["held_out_documents"], held.size());

  // Killed after the validation sets were written, a resumed build reuses them.
  auto stats_before = testing::ReadFile(out + "/validation/long/manifest.json");
  std::string out2 = dir.Join("out2");
  RunCommand(testing::LcdeBinary() + " build -q -j 1 -c " + config + " -o " + out2 +
             " >/dev/null 2>&1 & pid=$!; for i in $(seq 1000); do [ -f " + out2 +
             "/checkpoint.json ] && break; sleep 0.01; done; kill -9 $pid; wait $pid");
  auto resumed = RunCommand(testing::LcdeBinary() + " build -q --resume -c " + config + " -o " + out2);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.stderr_text;
  for (const auto& e : fs::recursive_directory_iterator(out)) {
    if (!e.is_regular_file()) continue;
    std::string rel = fs::relative(e.path(), out).string();
    EXPECT_TRUE(testing::ReadFile(e.path()) == testing::ReadFile(out2 + "/" + rel)) << rel << " differs";
  }
}

}  // namespace
}  // namespace lcde
