#include "lcde/scan.h"

#include <gtest/gtest.h>
#include <sentencepiece_processor.h>

#include <algorithm>
#include <map>

#include "lcde/reader.h"
#include "test_util.h"

namespace lcde {
namespace {

ScanOptions Options(const std::string& corpus) {
  ScanOptions o;
  o.input.paths = {corpus};
  o.tokenizer = testing::DemoModelPath();
  o.threads = 2;
  return o;
}

TEST(ScanTest, ExactScanCountsEveryDocumentAndToken) {
  std::string corpus = testing::CachedSampleCorpus("--tokens 4000000 --files 6 --seed 5");
  ASSERT_FALSE(corpus.empty());
  ScanOptions o = Options(corpus);
  o.exact = true;
  auto r = Scan(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->files_read, 6u);
  EXPECT_NE(r->method.find("exact"), std::string::npos);

  // Independent count with the SentencePiece library.
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(testing::DemoModelPath()).ok());
  auto files = ResolveInputFiles({corpus}, 0);
  ASSERT_TRUE(files.ok());
  std::map<std::string, std::vector<uint32_t>> lengths;
  for (size_t f = 0; f < files->size(); ++f) {
    auto reader = DocumentReader::Open((*files)[f], static_cast<uint32_t>(f), InputConfig{});
    ASSERT_TRUE(reader.ok());
    Document doc;
    std::vector<int> ids;
    while ((*reader)->Next(&doc)) {
      ASSERT_TRUE(sp.Encode(std::string(doc.text), &ids).ok());
      lengths[std::string(doc.source)].push_back(static_cast<uint32_t>(ids.size()));
    }
  }
  ASSERT_EQ(r->sources.size(), lengths.size());
  for (auto& [name, v] : lengths) {
    const SourceProfile& p = r->sources.at(name);
    std::sort(v.begin(), v.end());
    uint64_t tokens = 0, long_tokens = 0;
    for (uint32_t l : v) {
      tokens += l;
      if (l >= 4096) long_tokens += l;
    }
    EXPECT_EQ(p.documents, v.size()) << name;
    EXPECT_EQ(p.tokens, tokens) << name;
    EXPECT_EQ(p.long_tokens, long_tokens) << name;
    EXPECT_EQ(p.Percentile(50), v[(v.size() + 1) / 2 - 1]) << name;
    EXPECT_EQ(p.lengths.back(), v.back()) << name;
  }
  auto j = ScanToJson(*r);
  EXPECT_EQ(j["sources"]["RedPajamaC4"]["documents"], lengths["RedPajamaC4"].size());
  EXPECT_TRUE(j["sources"]["RedPajamaC4"]["length_percentiles"].contains("p99"));
}

TEST(ScanTest, EstimateIsCloseAndSampleReadsAFraction) {
  std::string corpus = testing::CachedSampleCorpus("--tokens 4000000 --files 6 --seed 5");
  ScanOptions o = Options(corpus);
  o.exact = true;
  auto exact = Scan(o);
  o.exact = false;
  auto estimate = Scan(o);
  ASSERT_TRUE(exact.ok() && estimate.ok());
  EXPECT_NE(estimate->method.find("estimated"), std::string::npos);
  for (const auto& [name, p] : exact->sources) {
    double ratio = static_cast<double>(estimate->sources.at(name).tokens) / static_cast<double>(p.tokens);
    EXPECT_NEAR(ratio, 1.0, 0.15) << name;
  }
  o.sample = 0.5;
  o.threads = 1;
  auto half = Scan(o);
  ASSERT_TRUE(half.ok());
  EXPECT_EQ(half->files_read, 3u);
  o.threads = 3;
  auto half3 = Scan(o);
  EXPECT_EQ(ScanToJson(*half), ScanToJson(*half3)) << "results do not depend on threads";
}

TEST(ScanTest, ExactWithoutTokenizerIsAConfigError) {
  ScanOptions o = Options(testing::CachedSampleCorpus("--tokens 4000000 --files 6 --seed 5"));
  o.tokenizer = "";
  o.exact = true;
  auto r = Scan(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidConfig);
}

}  // namespace
}  // namespace lcde
