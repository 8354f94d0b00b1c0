#include "lcde/tokenizer.h"

#include <gtest/gtest.h>
#include <sentencepiece_processor.h>

#include "test_util.h"

namespace lcde {
namespace {

std::vector<int32_t> LibraryIds(const std::string& model, const std::string& text) {
  sentencepiece::SentencePieceProcessor sp;
  EXPECT_TRUE(sp.Load(model).ok());
  std::vector<int> ids;
  EXPECT_TRUE(sp.Encode(text, &ids).ok());
  return {ids.begin(), ids.end()};
}

TEST(TokenizerTest, Llama2KnownIds) {
  std::string model = testing::Llama2ModelPath();
  if (model.empty()) GTEST_SKIP() << "../shared/tokenizers/llama-2.model not present";
  auto tok = Tokenizer::Load(model);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->vocab_size(), 32000);
  EXPECT_EQ((*tok)->bos_id(), 1);
  EXPECT_EQ((*tok)->eos_id(), 2);
  std::vector<int32_t> ids;
  ASSERT_TRUE((*tok)->Encode("Hello world", true, false, &ids).ok());
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 15043, 3186}));
  ids.clear();
  ASSERT_TRUE((*tok)->Encode("The quick brown fox 123", false, true, &ids).ok());
  EXPECT_EQ(ids, (std::vector<int32_t>{450, 4996, 17354, 1701, 29916, 29871, 29896, 29906, 29941, 2}));
  EXPECT_EQ((*tok)->sha256().size(), 64u);
}

TEST(TokenizerTest, SameIdsAsTheLibraryOnHostileText) {
  std::vector<std::string> models = {testing::DemoModelPath()};
  if (!testing::Llama2ModelPath().empty()) models.push_back(testing::Llama2ModelPath());
  std::vector<std::string> texts = {
      "", " ", "   leading", "trailing   ", "tabs\tand\nnewlines\r\n", "\n\n\n",
      "中文字符 and 日本語", "emoji 😀🎉 mixed", "\xe2\x96\x81 the block char \xe2\x96\x81\xe2\x96\x81x",
      "digits 3.14159 2024-11-25", std::string("nul\0byte", 8), std::string(5000, 'a'),
      "Ünïcödé façade — naïve", "{\"json\": [1, 2, 3]}",
  };
  for (const auto& model : models) {
    auto tok = Tokenizer::Load(model);
    ASSERT_TRUE(tok.ok()) << model << ": " << tok.status().ToString();
    for (const auto& text : texts) {
      std::vector<int32_t> ids;
      ASSERT_TRUE((*tok)->Encode(text, false, false, &ids).ok());
      EXPECT_EQ(ids, LibraryIds(model, text)) << model << " text: " << text;
    }
  }
}

TEST(TokenizerTest, DecodeRoundTrips) {
  auto tok = Tokenizer::Load(testing::DemoModelPath());
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  std::vector<int32_t> ids;
  ASSERT_TRUE((*tok)->Encode("Round trip, with ünicode and 😀.", true, false, &ids).ok());
  EXPECT_EQ((*tok)->Decode(ids), "Round trip, with ünicode and 😀.");
}

TEST(TokenizerTest, MissingAndInvalidModels) {
  auto missing = Tokenizer::Load("/nonexistent/model");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/model"), std::string::npos);
  testing::TempDir dir;
  testing::WriteFile(dir.Join("bad.model"), "not a model");
  auto bad = Tokenizer::Load(dir.Join("bad.model"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidConfig);
}

}  // namespace
}  // namespace lcde
