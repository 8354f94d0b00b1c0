// End to end with a tokenizer.json: the real binary builds int32 datasets
// with Llama-3.1's and Qwen3's files, and verify, stats, inspect --decode and
// merge read them; BOS follows the file, the separator is named by its text,
// documents holding a special token's text are counted. Skipped where
// ../shared/tokenizers/ lacks the files.
#include <gtest/gtest.h>

#include <cstring>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace lcde {
namespace {

using nlohmann::json;

class TokenizerJsonCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    llama_ = testing::SharedTokenizerPath("llama-3.1-tokenizer.json");
    qwen_ = testing::SharedTokenizerPath("qwen3-tokenizer.json");
    if (llama_.empty() || qwen_.empty()) GTEST_SKIP() << "../shared/tokenizers/ lacks the tokenizer.json files";
    corpus_ = testing::CachedSampleCorpus("--tokens 2000000 --files 2 --seed 9");
    ASSERT_FALSE(corpus_.empty());
  }

  std::string Config(const std::string& name, const std::string& model, const std::string& tokenizer_extra,
                     const std::string& paths = "") {
    const std::string path = dir_.Join(name + ".yaml");
    testing::WriteFile(path, "seed: 3\n"
                             "input: {paths: [" + (paths.empty() ? corpus_ : paths) + "]}\n"
                             "tokenizer: {model: " + model + tokenizer_extra + "}\n"
                             "mixture: {total_tokens: 300K, strategy: per_source, length_threshold: 4096,\n"
                             "          repeat_threshold: 8192, max_repeats: 2}\n"
                             "output: {dir: " + dir_.Join(name + "-out") + ", sequence_length: 64K, "
                             "chunks_per_shard: 2}\n");
    return path;
  }
  static testing::CommandResult Lcde(const std::string& args) {
    return testing::RunCommand(testing::LcdeBinary() + " " + args);
  }
  static json Manifest(const std::string& out) { return json::parse(testing::ReadFile(out + "/manifest.json")); }

  testing::TempDir dir_;
  std::string llama_, qwen_, corpus_;
};

TEST_F(TokenizerJsonCliTest, Llama31DatasetIsReadByEveryCommand) {
  const std::string config = Config("llama", llama_, ", separator: \"<|end_of_text|>\"");
  const std::string out = dir_.Join("llama-out");
  auto r = Lcde("build -q -j 2 -c " + config);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  const json m = Manifest(out);
  EXPECT_EQ(m["dtype"], "int32");
  EXPECT_EQ(m["tokenizer"]["kind"], "tokenizer.json");
  EXPECT_EQ(m["tokenizer"]["vocab_size"], 128256);
  EXPECT_EQ(m["tokenizer"]["add_bos"], true);  // Llama-3.1's post-processor adds <|begin_of_text|>
  EXPECT_EQ(m["tokenizer"]["bos_id"], 128000);
  EXPECT_EQ(m["tokenizer"]["add_eos"], false);
  EXPECT_EQ(m["tokenizer"]["separator"], 128001);
  EXPECT_EQ(m["tokenizer"]["encoder"], "pretokens+native-bpe");
  EXPECT_EQ(m["sampling"]["special_token_text_documents"], 0);

  auto v = Lcde("verify " + out);
  EXPECT_EQ(v.exit_code, 0) << v.stdout_text << v.stderr_text;
  auto s = Lcde("stats --json " + out);
  ASSERT_EQ(s.exit_code, 0) << s.stderr_text;
  EXPECT_EQ(json::parse(s.stdout_text)["vocab_size"], 128256);
  auto text = Lcde("inspect --decode --max-chars 0 --chunk 0 " + out);
  ASSERT_EQ(text.exit_code, 0) << text.stderr_text;
  EXPECT_NE(text.stdout_text.find("\"<|begin_of_text|>"), std::string::npos);
  EXPECT_NE(text.stdout_text.find("<|end_of_text|>\""), std::string::npos);
  auto js = Lcde("inspect --decode --json --max-chars 0 --chunk 1 " + out);
  ASSERT_EQ(js.exit_code, 0) << js.stderr_text;
  const json pieces = json::parse(js.stdout_text)["pieces"];
  ASSERT_FALSE(pieces.empty());
  EXPECT_FALSE(pieces[0]["text"].get<std::string>().empty());

  // The same bytes on one thread; and a 2-task job array merged verifies.
  auto one = Lcde("build -q -j 1 -c " + config + " -o " + dir_.Join("llama-j1"));
  ASSERT_EQ(one.exit_code, 0) << one.stderr_text;
  for (const auto& shard : m["shards"]) {
    const std::string name = shard["name"].get<std::string>() + ".bin";
    EXPECT_EQ(testing::ReadFile(out + "/" + name), testing::ReadFile(dir_.Join("llama-j1") + "/" + name)) << name;
  }
  const std::string array = dir_.Join("llama-array");
  for (int t = 0; t < 2; ++t) {
    auto task = Lcde("build -q -j 1 -c " + config + " -o " + array + " --num-tasks 2 --task-index " + std::to_string(t));
    ASSERT_EQ(task.exit_code, 0) << task.stderr_text;
  }
  auto merged = Lcde("merge " + array);
  ASSERT_EQ(merged.exit_code, 0) << merged.stderr_text;
  EXPECT_EQ(Manifest(array)["dtype"], "int32");
  auto mv = Lcde("verify " + array);
  EXPECT_EQ(mv.exit_code, 0) << mv.stdout_text << mv.stderr_text;
}

TEST_F(TokenizerJsonCliTest, Qwen3AddsNoBosAndRefusesOne) {
  const std::string out = dir_.Join("qwen-out");
  auto r = Lcde("build -q -j 2 -c " + Config("qwen", qwen_, ", separator: \"<|endoftext|>\""));
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  const json m = Manifest(out);
  EXPECT_EQ(m["tokenizer"]["add_bos"], false);
  EXPECT_EQ(m["tokenizer"]["separator"], 151643);
  EXPECT_EQ(m["tokenizer"]["vocab_size"], 151669);
  auto v = Lcde("verify " + out);
  EXPECT_EQ(v.exit_code, 0) << v.stdout_text << v.stderr_text;

  auto bos = Lcde("build -q -c " + Config("qwen-bos", qwen_, ", bos: true"));
  EXPECT_EQ(bos.exit_code, 2);
  EXPECT_NE(bos.stderr_text.find("tokenizer.bos"), std::string::npos) << bos.stderr_text;
  auto sep = Lcde("build -q -c " + Config("qwen-sep", qwen_, ", separator: \"<think>\""));
  EXPECT_EQ(sep.exit_code, 2);
  EXPECT_NE(sep.stderr_text.find("'<think>' is not a special token"), std::string::npos) << sep.stderr_text;
}

TEST_F(TokenizerJsonCliTest, SpecialTokenTextIsTextAndCounted) {
  const std::string input = dir_.Join("special.jsonl");
  testing::WriteFile(input,
                     "{\"text\": \"a chat log <|begin_of_text|><|start_header_id|>user\", \"meta\": "
                     "{\"redpajama_set_name\": \"RedPajamaC4\"}}\n"
                     "{\"text\": \"plain text\", \"meta\": {\"redpajama_set_name\": \"RedPajamaC4\"}}\n"
                     "{\"text\": \"ends with <|end_of_text|>\", \"meta\": {\"redpajama_set_name\": \"RedPajamaC4\"}}\n");
  const std::string config = dir_.Join("special.yaml");
  testing::WriteFile(config, "input: {paths: [" + input + "]}\n"
                             "tokenizer: {model: " + llama_ + ", bos: false}\n"
                             "mixture: {total_tokens: 1M, strategy: none}\n"
                             "output: {dir: " + dir_.Join("special-out") + ", sequence_length: 16, "
                             "keep_partial_chunk: true}\n");
  auto r = Lcde("build -q -c " + config);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  const json m = Manifest(dir_.Join("special-out"));
  EXPECT_EQ(m["sampling"]["kept"], 3);
  EXPECT_EQ(m["sampling"]["special_token_text_documents"], 2);
  const std::string bin = testing::ReadFile(dir_.Join("special-out") + "/part-00000.bin");
  for (size_t i = 0; i + 4 <= bin.size(); i += 4) {
    int32_t id;
    std::memcpy(&id, bin.data() + i, 4);
    EXPECT_LT(id, 128000) << "a special token's id from document text";
  }
}

TEST_F(TokenizerJsonCliTest, UnsupportedTokenizerJsonIsAConfigError) {
  const std::string model = dir_.Join("wordpiece.json");
  testing::WriteFile(model, R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}, "pre_tokenizer": null})");
  auto r = Lcde("build -q -c " + Config("wordpiece", model, ""));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_text.find("model.type 'WordPiece'"), std::string::npos) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find(model), std::string::npos) << r.stderr_text;
}

}  // namespace
}  // namespace lcde
