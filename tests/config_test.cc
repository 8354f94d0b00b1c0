#include "lcde/config.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"

namespace lcde {
namespace {

const char* kMinimal = R"(
input: {paths: [data]}
tokenizer: {model: tok.model}
mixture: {total_tokens: 5B}
output: {dir: out}
)";

Result<Config> Parse(const std::string& yaml, std::vector<std::string> overrides = {}) {
  return ParseConfig(yaml, "/base", overrides);
}

TEST(ConfigTest, DefaultsMatchThePaper) {
  auto c = Parse(kMinimal);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->mixture.total_tokens, 5000000000ull);
  EXPECT_EQ(c->mixture.strategy, Strategy::kPerSource);
  EXPECT_EQ(c->mixture.length_threshold, 4096u);
  EXPECT_DOUBLE_EQ(c->mixture.short_keep_ratio, 0.1);
  EXPECT_EQ(c->output.sequence_length, 81920u);
  EXPECT_TRUE(c->tokenizer.bos);
  EXPECT_FALSE(c->tokenizer.eos);
  EXPECT_EQ(c->input.text_key, "text");
  EXPECT_EQ(c->input.source_key, "meta.redpajama_set_name");
  ASSERT_EQ(c->mixture.weights.size(), 7u);
  EXPECT_DOUBLE_EQ(c->mixture.weights.at("RedPajamaCommonCrawl"), 0.53374772);
  EXPECT_DOUBLE_EQ(c->mixture.weights.at("RedPajamaBook"), 0.0414836);
  // Relative paths resolve against the config file's directory.
  EXPECT_EQ(c->input.paths[0], "/base/data");
  EXPECT_EQ(c->tokenizer.model, "/base/tok.model");
  EXPECT_EQ(c->output.dir, "/base/out");
}

TEST(ConfigTest, Suffixes) {
  EXPECT_EQ(*ParseDecimalCount("5B"), 5000000000ull);
  EXPECT_EQ(*ParseDecimalCount("1.5M"), 1500000ull);
  EXPECT_EQ(*ParseDecimalCount("4096"), 4096ull);
  EXPECT_EQ(*ParseDecimalCount("2T"), 2000000000000ull);
  EXPECT_EQ(*ParseBinaryLength("80K"), 81920ull);
  EXPECT_EQ(*ParseBinaryLength("128K"), 131072ull);
  EXPECT_EQ(*ParseBinaryLength("1M"), 1048576ull);
  EXPECT_EQ(*ParseBinaryLength("4M"), 4194304ull);
  EXPECT_FALSE(ParseDecimalCount("5X").ok());
  EXPECT_FALSE(ParseDecimalCount("-3").ok());
  EXPECT_FALSE(ParseDecimalCount("1.5").ok());
  EXPECT_FALSE(ParseDecimalCount("").ok());
  // Exact above 2^53: a seed must keep its value.
  EXPECT_EQ(*ParseDecimalCount("9007199254740993"), 9007199254740993ull);
  EXPECT_EQ(*ParseDecimalCount("18446744073709551615"), 18446744073709551615ull);
  EXPECT_EQ(*ParseDecimalCount("18446744T"), 18446744000000000000ull);
  EXPECT_FALSE(ParseDecimalCount("18446744073709551616").ok());
  EXPECT_FALSE(ParseDecimalCount("18446745T").ok());
  EXPECT_EQ(*ParseDecimalCount("2.5K"), 2500ull);
  EXPECT_EQ(*ParseBinaryLength("1.5K"), 1536ull);
  EXPECT_FALSE(ParseDecimalCount("9007199.254740993B").ok());  // a fraction past 2^53: digits only
}

TEST(ConfigTest, UpsampleSourcesNeedsKnownNames) {
  std::string yaml = R"(
input: {paths: [data]}
tokenizer: {model: tok.model}
output: {dir: out}
mixture:
  total_tokens: 1M
  weights: {A: 3, B: 1}
  strategy: upsample_sources
  upsample: [A]
)";
  auto c = Parse(yaml);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->mixture.strategy, Strategy::kUpsampleSources);
  EXPECT_EQ(c->mixture.weights_preset, "");
  EXPECT_EQ(c->mixture.upsample, std::vector<std::string>{"A"});
  auto bad = Parse(yaml, {"mixture.upsample=[C]"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("mixture.upsample"), std::string::npos);
}

TEST(ConfigTest, ErrorsNameTheKey) {
  struct Case { std::string yaml_or_override; std::string expect; };
  std::vector<Case> cases = {
      {"mixture.totl_tokens=5", "unknown key 'mixture.totl_tokens'"},
      {"outputs.dir=x", "unknown key 'outputs'"},
      {"mixture.strategy=upsample", "mixture.strategy"},
      {"mixture.short_keep_ratio=1.5", "mixture.short_keep_ratio"},
      {"mixture.short_keep_ratio=abc", "mixture.short_keep_ratio"},
      {"tokenizer.bos=maybe", "tokenizer.bos"},
      {"output.sequence_length=80Q", "output.sequence_length"},
      {"mixture.weights=pile", "unknown preset 'pile'"},
      {"mixture.upsample=[RedPajamaBook]", "only used by strategy upsample_sources"},
      {"mixture.total_tokens=0", "mixture.total_tokens"},
      {"input.paths=[]", "input.paths"},
      {"mixture.weights={A: -1}", "mixture.weights.A"},
      {"mixture.max_repeats=0", "mixture.max_repeats: must be in [1, 1000]"},
      {"mixture.max_repeats=x", "mixture.max_repeats"},
      {"mixture.repeat_threshold=-3", "mixture.repeat_threshold"},
  };
  for (const auto& c : cases) {
    auto r = Parse(kMinimal, {c.yaml_or_override});
    ASSERT_FALSE(r.ok()) << c.yaml_or_override;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidConfig);
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos)
        << c.yaml_or_override << " -> " << r.status().message();
  }
}

TEST(ConfigTest, MissingRequiredKeys) {
  auto r = Parse("input: {paths: [x]}\ntokenizer: {model: m}\noutput: {dir: o}\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("mixture.total_tokens"), std::string::npos);
  r = Parse("mixture: {total_tokens: 1}\ntokenizer: {model: m}\noutput: {dir: o}\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("input.paths"), std::string::npos);
  r = Parse("not: [valid");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("YAML"), std::string::npos);
}

TEST(ConfigTest, OverridesApplyBeforeValidation) {
  auto c = Parse(kMinimal, {"output.sequence_length=1M", "seed=7", "mixture.strategy=global"});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->output.sequence_length, 1048576u);
  EXPECT_EQ(c->seed, 7u);
  EXPECT_EQ(c->mixture.strategy, Strategy::kGlobal);
}

TEST(ConfigTest, MaxRepeatsNeedsAnUpsamplingStrategyAndAThresholdOverTheLengthThreshold) {
  auto c = Parse(kMinimal, {"mixture.max_repeats=3"});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->mixture.max_repeats, 3u);
  EXPECT_EQ(c->mixture.repeat_threshold, 8192u);  // UltraLong's 8K
  EXPECT_NE(c->ToYaml().find("max_repeats: 3"), std::string::npos);
  auto defaults = Parse(kMinimal);
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->mixture.max_repeats, 1u);
  EXPECT_EQ(defaults->ToYaml().find("max_repeats"), std::string::npos);  // older configs' YAML unchanged

  auto none = Parse(kMinimal, {"mixture.max_repeats=3", "mixture.strategy=none"});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("mixture.max_repeats: strategy none"), std::string::npos);
  auto low = Parse(kMinimal, {"mixture.max_repeats=2", "mixture.repeat_threshold=2048"});
  ASSERT_FALSE(low.ok());
  EXPECT_NE(low.status().message().find("mixture.repeat_threshold (2048) must be >= mixture.length_threshold (4096)"),
            std::string::npos) << low.status().message();
}

// Lengths in tokens take binary suffixes in every length key, as the
// paper's "4K" means; counts stay decimal.
TEST(ConfigTest, LengthKeysAreBinaryCountsDecimal) {
  auto c = Parse(kMinimal, {"mixture.length_threshold=4K", "mixture.max_repeats=2", "mixture.repeat_threshold=8K",
                            "output.sequence_length=80K", "mixture.total_tokens=4K",
                            "validation.tokens_per_source=2K"});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->mixture.length_threshold, 4096u);
  EXPECT_EQ(c->mixture.repeat_threshold, 8192u);
  EXPECT_EQ(c->output.sequence_length, 81920u);
  EXPECT_EQ(c->mixture.total_tokens, 4000u);
  EXPECT_EQ(c->validation.tokens_per_source, 2000u);
}

// The configs users copy: each loads (its model path swapped for one that
// exists here) and keeps the recipe its comments promise.
TEST(ConfigTest, EveryShippedConfigLoads) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(testing::SourceDir() / "configs")) {
    if (e.path().extension() != ".yaml") continue;
    auto c = LoadConfig(e.path(), {"tokenizer.model=" + testing::DemoModelPath()});
    ASSERT_TRUE(c.ok()) << e.path() << ": " << c.status().ToString();
    n++;
    std::string name = e.path().stem();
    if (name == "ultralong-1m") {
      EXPECT_EQ(c->output.sequence_length, 1u << 20);
      EXPECT_EQ(c->mixture.max_repeats, 3u);
      EXPECT_EQ(c->mixture.repeat_threshold, 8192u);
      EXPECT_EQ(c->tokenizer.separator, 2);
    } else if (name == "ultralong-llama3.1-1m") {
      EXPECT_EQ(c->output.sequence_length, 1u << 20);
      EXPECT_EQ(c->mixture.max_repeats, 3u);
      EXPECT_EQ(c->mixture.length_threshold, 4096u);
      EXPECT_EQ(c->mixture.repeat_threshold, 8192u);
      EXPECT_EQ(c->tokenizer.separator_token, "<|end_of_text|>");  // resolved against the model at build time
      EXPECT_TRUE(c->tokenizer.bos_from_model);
    } else if (name == "paper-per-source-5B") {
      EXPECT_EQ(c->mixture.strategy, Strategy::kPerSource);
      EXPECT_EQ(c->mixture.total_tokens, 5000000000u);
      EXPECT_EQ(c->output.sequence_length, 81920u);
    }
  }
  EXPECT_GE(n, 9);
}

TEST(ConfigTest, ToYamlRoundTrips) {
  for (auto overrides : std::vector<std::vector<std::string>>{
           {"mixture.strategy=none", "seed=9"}, {"mixture.max_repeats=4", "mixture.repeat_threshold=16K"}}) {
    auto c = Parse(kMinimal, overrides);
    ASSERT_TRUE(c.ok());
    auto again = ParseConfig(c->ToYaml(), "/elsewhere");
    ASSERT_TRUE(again.ok()) << again.status().ToString() << "\n" << c->ToYaml();
    EXPECT_EQ(again->ToYaml(), c->ToYaml());
  }
}

}  // namespace
}  // namespace lcde
