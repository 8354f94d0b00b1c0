// input.groups: a CodeLlama-style 7:2:1 mix of three inputs with their own
// keys, end to end.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "lcde/config.h"
#include "test_util.h"

namespace lcde {
namespace {

namespace fs = std::filesystem;
using testing::RunCommand;

std::string Docs(const std::string& text_key, int n, int words, const std::string& extra = "") {
  std::string out;
  for (int i = 0; i < n; ++i) {
    std::string text;
    for (int w = 0; w < words; ++w) text += "tok" + std::to_string((i * 31 + w) % 211) + (w % 9 ? " " : "\\n");
    out += "{\"" + text_key + "\": \"" + text + "\"" + extra + "}\n";
  }
  return out;
}

TEST(GroupsTest, SevenTwoOneMixOfThreeInputs) {
  testing::TempDir dir;
  std::string corpus = testing::CachedSampleCorpus("--tokens 4000000 --files 6 --seed 5");
  fs::create_directories(dir.Join("code"));
  fs::create_directories(dir.Join("instruct"));
  testing::WriteFile(dir.Join("code/a.jsonl"), Docs("content", 400, 300));
  testing::WriteFile(dir.Join("instruct/b.jsonl"), Docs("prompt", 400, 200, ", \"kind\": {\"task\": \"qa\"}"));
  std::string config = dir.Join("g.yaml");
  testing::WriteFile(config, "input:\n"
                             "  groups:\n"
                             "    - {name: general, weight: 7, paths: [" + corpus + "], weights: slimpajama}\n"
                             "    - {name: code, weight: 2, paths: [" + dir.Join("code") + "], text_key: content, source_key: null}\n"
                             "    - {name: instruct, weight: 1, paths: [" + dir.Join("instruct") + "], text_key: prompt,"
                             " source_key: kind.task, weights: {qa: 1}}\n"
                             "tokenizer: {model: " + testing::DemoModelPath() + "}\n"
                             "mixture: {total_tokens: 100K, strategy: none}\n"
                             "output: {dir: " + dir.Join("out") + ", sequence_length: 4K}\n");
  auto r = RunCommand(testing::LcdeBinary() + " build -q -c " + config);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  auto st = RunCommand(testing::LcdeBinary() + " stats --json " + dir.Join("out"));
  auto j = nlohmann::json::parse(st.stdout_text);
  double general = 0;
  for (const auto& [name, s] : j["sources"].items()) {
    EXPECT_NEAR(s["share"].get<double>(), s["target_share"].get<double>(), 0.005) << name;
    if (name.starts_with("general/")) general += s["share"].get<double>();
  }
  EXPECT_NEAR(general, 0.7, 0.005);
  EXPECT_NEAR(j["sources"]["code"]["share"].get<double>(), 0.2, 0.005);
  EXPECT_NEAR(j["sources"]["instruct/qa"]["share"].get<double>(), 0.1, 0.005);
  EXPECT_NEAR(j["sources"]["general/RedPajamaC4"]["target_share"].get<double>(), 0.7 * 0.26609933, 1e-7);
  auto v = RunCommand(testing::LcdeBinary() + " verify " + dir.Join("out"));
  EXPECT_EQ(v.exit_code, 0) << v.stdout_text;
  auto m = nlohmann::json::parse(testing::ReadFile(dir.Join("out/manifest.json")));
  EXPECT_EQ(m["config"]["input"]["groups"].size(), 3u);
}

TEST(GroupsTest, ConfigErrorsNameTheGroupKey) {
  std::string base = "tokenizer: {model: m}\nmixture: {total_tokens: 1M}\noutput: {dir: o}\n";
  struct Case { std::string input; std::string expect; };
  std::vector<Case> cases = {
      {"input: {groups: [{name: a, weight: 1, paths: [x]}]}", "input.groups[0].weights"},
      {"input: {groups: [{name: a, paths: [x], source_key: null}]}", "input.groups[0].weight"},
      {"input: {groups: [{name: a/b, weight: 1, paths: [x], source_key: null}]}", "input.groups[0].name"},
      {"input: {paths: [y], groups: [{name: a, weight: 1, paths: [x], source_key: null}]}", "input.paths"},
      {"input: {groups: [{name: a, weight: 1, paths: [x], source_key: null, colour: red}]}", "input.groups[0].colour"},
  };
  for (const auto& c : cases) {
    auto r = ParseConfig(c.input + "\n" + base, "/b");
    ASSERT_FALSE(r.ok()) << c.input;
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << c.input << " -> " << r.status().message();
  }
  auto r = ParseConfig("input: {groups: [{name: a, weight: 1, paths: [x], source_key: null}]}\n"
                       "tokenizer: {model: m}\nmixture: {total_tokens: 1M, weights: {a: 1}}\noutput: {dir: o}\n", "/b");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not used with input.groups"), std::string::npos);
  auto ok = ParseConfig("input: {groups: [{name: a, weight: 3, paths: [x], source_key: null},"
                        " {name: b, weight: 1, paths: [y], weights: {s: 1, t: 3}}]}\n" + base, "/b");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_DOUBLE_EQ(ok->mixture.weights.at("a"), 0.75);
  EXPECT_DOUBLE_EQ(ok->mixture.weights.at("b/t"), 0.1875);
  auto again = ParseConfig(ok->ToYaml(), "/b");
  ASSERT_TRUE(again.ok()) << again.status().ToString() << "\n" << ok->ToYaml();
  EXPECT_EQ(again->ToYaml(), ok->ToYaml());
}

}  // namespace
}  // namespace lcde
