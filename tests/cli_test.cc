// End-to-end tests: run the real lcde binary on a generated SlimPajama-layout
// corpus and check the dataset against independent readings of its files.
#include <gtest/gtest.h>
#include <sentencepiece_processor.h>
#include <simdjson.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace lcde {
namespace {

namespace fs = std::filesystem;
using testing::RunCommand;

struct Seg {
  uint32_t chunk, start, length, source;
  uint64_t document, doc_offset, doc_tokens;
};
static_assert(sizeof(Seg) == 40);

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    corpus_ = testing::CachedSampleCorpus("--tokens 4000000 --files 6 --seed 5");
    ASSERT_FALSE(corpus_.empty());
  }
  static void TearDownTestSuite() { delete dir_; }

  // A per_source config over the corpus; `extra` is appended YAML.
  static std::string WriteConfig(const std::string& name, const std::string& extra = "") {
    std::string path = dir_->Join(name + ".yaml");
    testing::WriteFile(path, "seed: 11\n"
                             "input: {paths: [" + corpus_ + "]}\n"
                             "tokenizer: {model: " + testing::DemoModelPath() + "}\n"
                             "mixture: {total_tokens: 200K, strategy: per_source}\n"
                             "output: {dir: " + dir_->Join(name + "-out") + ", sequence_length: 8K, "
                             "chunks_per_shard: 10}\n" + extra);
    return path;
  }

  static testing::CommandResult Lcde(const std::string& args) {
    return RunCommand(testing::LcdeBinary() + " " + args);
  }

  static testing::TempDir* dir_;
  static std::string corpus_;
};

testing::TempDir* CliTest::dir_ = nullptr;
std::string CliTest::corpus_;

nlohmann::json ReadJson(const std::string& path) { return nlohmann::json::parse(testing::ReadFile(path)); }

template <typename T>
T Read(const std::string& bytes, size_t offset) {
  T v;
  std::memcpy(&v, bytes.data() + offset, sizeof(T));
  return v;
}

// The text of line `line` (1-based) of a .jsonl.zst file, read with the zstd
// CLI and simdjson, not with lcde's reader.
class CorpusLookup {
 public:
  const std::string& Text(const std::string& path, uint64_t line) {
    auto& lines = files_[path];
    if (lines.empty()) lines = testing::ZstdFileLines(path);
    auto key = std::make_pair(path, line);
    auto it = texts_.find(key);
    if (it != texts_.end()) return it->second;
    simdjson::dom::parser parser;
    std::string_view text;
    EXPECT_EQ(parser.parse(lines.at(line - 1))["text"].get(text), simdjson::SUCCESS);
    return texts_[key] = std::string(text);
  }

 private:
  std::map<std::string, std::vector<std::string>> files_;
  std::map<std::pair<std::string, uint64_t>, std::string> texts_;
};

TEST_F(CliTest, VersionAndHelp) {
  auto v = Lcde("--version");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.stdout_text.find("lcde 0."), std::string::npos);
  auto h = Lcde("help");
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.stdout_text.find("build"), std::string::npos);
  EXPECT_NE(h.stdout_text.find("stats"), std::string::npos);
}

TEST_F(CliTest, BuildsTheRecipeExactly) {
  std::string config = WriteConfig("main");
  std::string out = dir_->Join("main-out");
  auto r = Lcde("build -c " + config + " -j 2");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  nlohmann::json m = ReadJson(out + "/manifest.json");
  EXPECT_EQ(m["format_version"], 1);
  EXPECT_EQ(m["sequence_length"], 8192);
  EXPECT_EQ(m["dtype"], "uint16");
  const uint64_t seq = 8192;
  const uint64_t expect_chunks = 200000 / seq;  // budgets cover whole chunks only

  // .bin sizes, .idx bytes per Megatron's layout.
  uint64_t chunks = 0;
  std::vector<std::string> bins;
  for (const auto& shard : m["shards"]) {
    std::string name = shard["name"];
    std::string bin = testing::ReadFile(out + "/" + name + ".bin");
    std::string idx = testing::ReadFile(out + "/" + name + ".idx");
    uint64_t n = shard["chunks"];
    EXPECT_EQ(bin.size(), n * seq * 2);
    ASSERT_EQ(idx.size(), 34 + 20 * n + 8);
    EXPECT_EQ(idx.substr(0, 9), std::string("MMIDIDX\0\0", 9));
    EXPECT_EQ(Read<uint64_t>(idx, 9), 1u);
    EXPECT_EQ(static_cast<uint8_t>(idx[17]), 8);
    EXPECT_EQ(Read<uint64_t>(idx, 18), n);
    EXPECT_EQ(Read<uint64_t>(idx, 26), n + 1);
    for (uint64_t i = 0; i < n; ++i) {
      EXPECT_EQ(Read<int32_t>(idx, 34 + 4 * i), static_cast<int32_t>(seq));
      EXPECT_EQ(Read<int64_t>(idx, 34 + 4 * n + 8 * i), static_cast<int64_t>(i * seq * 2));
    }
    for (uint64_t i = 0; i <= n; ++i) EXPECT_EQ(Read<int64_t>(idx, 34 + 12 * n + 8 * i), static_cast<int64_t>(i));
    chunks += n;
    bins.push_back(std::move(bin));
  }
  EXPECT_EQ(chunks, expect_chunks);
  EXPECT_EQ(m["totals"]["chunks"], expect_chunks);

  // Every segment's tokens are the SentencePiece ids of its document at its
  // offset, and the segments tile every chunk.
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(testing::DemoModelPath()).ok());
  CorpusLookup corpus;
  std::map<std::string, uint64_t> source_tokens;
  uint64_t total_tokens = 0, long_tokens = 0, checked = 0;
  std::map<std::pair<uint64_t, uint64_t>, std::vector<int>> id_cache;
  for (size_t s = 0; s < m["shards"].size(); ++s) {
    std::string name = m["shards"][s]["name"];
    std::string seg = testing::ReadFile(out + "/" + name + ".seg");
    ASSERT_EQ(seg.substr(0, 8), std::string("LCDESEG\0", 8));
    EXPECT_EQ(Read<uint32_t>(seg, 8), 1u);
    EXPECT_EQ(Read<uint32_t>(seg, 12), 40u);
    ASSERT_EQ((seg.size() - 16) % 40, 0u);
    std::vector<uint64_t> filled(m["shards"][s]["chunks"].get<uint64_t>(), 0);
    for (size_t off = 16; off < seg.size(); off += 40) {
      Seg g = Read<Seg>(seg, off);
      ASSERT_LT(g.chunk, filled.size());
      EXPECT_EQ(g.start, filled[g.chunk]) << "segments must tile the chunk in order";
      filled[g.chunk] += g.length;
      uint32_t file = static_cast<uint32_t>(g.document >> 32);
      uint64_t line = g.document & 0xffffffffu;
      std::string path = m["inputs"][file]["path"];
      auto& ids = id_cache[{file, line}];
      if (ids.empty()) {
        ASSERT_TRUE(sp.Encode(corpus.Text(path, line), &ids).ok());
        ids.insert(ids.begin(), sp.bos_id());
      }
      ASSERT_EQ(g.doc_tokens, ids.size()) << path << ":" << line;
      ASSERT_LE(g.doc_offset + g.length, ids.size());
      for (uint32_t k = 0; k < g.length; ++k) {
        uint16_t got = Read<uint16_t>(bins[s], 2 * (g.chunk * seq + g.start + k));
        ASSERT_EQ(got, ids[g.doc_offset + k]) << path << ":" << line << " token " << g.doc_offset + k;
      }
      std::string source = m["sources"][g.source]["name"];
      source_tokens[source] += g.length;
      total_tokens += g.length;
      if (g.doc_tokens >= 4096) long_tokens += g.length;
      checked++;
    }
    for (uint64_t f : filled) EXPECT_EQ(f, seq);
  }
  EXPECT_GT(checked, 50u);
  EXPECT_EQ(total_tokens, chunks * seq);

  // Realized shares within 0.5 percentage points of the targets.
  for (const auto& src : m["sources"]) {
    double share = static_cast<double>(source_tokens[src["name"]]) / static_cast<double>(total_tokens);
    EXPECT_NEAR(share, src["target_share"].get<double>(), 0.005) << src["name"];
  }
  EXPECT_TRUE(m["sampling"]["shortfall"].empty()) << m["sampling"]["shortfall"];

  // `lcde stats --json` agrees with the independent count.
  auto st = Lcde("stats " + out + " --json");
  ASSERT_EQ(st.exit_code, 0) << st.stderr_text;
  nlohmann::json j = nlohmann::json::parse(st.stdout_text);
  EXPECT_EQ(j["chunks"], chunks);
  EXPECT_EQ(j["tokens"], total_tokens);
  EXPECT_EQ(j["sequence_length"], seq);
  EXPECT_EQ(j["vocab_size"], 8000);
  EXPECT_DOUBLE_EQ(j["long_token_fraction"].get<double>(),
                   static_cast<double>(long_tokens) / static_cast<double>(total_tokens));
  for (const auto& [name, tokens] : source_tokens) {
    EXPECT_EQ(j["sources"][name]["tokens"], tokens) << name;
    EXPECT_DOUBLE_EQ(j["sources"][name]["share"].get<double>(),
                     static_cast<double>(tokens) / static_cast<double>(total_tokens));
  }
  // The paper's point: most tokens now come from long documents.
  EXPECT_GT(j["long_token_fraction"].get<double>(), 0.5);

  auto text = Lcde("stats " + out);
  ASSERT_EQ(text.exit_code, 0);
  EXPECT_NE(text.stdout_text.find("RedPajamaCommonCrawl"), std::string::npos);
  EXPECT_NE(text.stdout_text.find("128K+"), std::string::npos);
}

TEST_F(CliTest, SameBytesOnEveryThreadCount) {
  std::string config = WriteConfig("det");
  std::map<std::string, std::string> first;
  // Then the smallest read-ahead, where only the reader of the file being
  // consumed may go on (8 and 12 threads: 2 and 3 readers).
  const std::vector<std::string> runs = {"1", "2", "8", "8 --read-ahead-batches 1", "12 --read-ahead-batches 2"};
  for (size_t i = 0; i < runs.size(); ++i) {
    const std::string& threads = runs[i];
    std::string out = dir_->Join("det-" + std::to_string(i));
    auto r = Lcde("build -c " + config + " -j " + threads + " -o " + out);
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    std::map<std::string, std::string> files;
    for (const auto& e : fs::directory_iterator(out)) files[e.path().filename()] = testing::ReadFile(e.path());
    if (first.empty()) {
      first = files;
      EXPECT_GT(first.size(), 3u);
    } else {
      ASSERT_EQ(files.size(), first.size());
      for (const auto& [name, bytes] : first) EXPECT_TRUE(files[name] == bytes) << name << " differs at -j" << threads;
    }
  }
}

TEST_F(CliTest, ConfigErrorsStopBeforeWorkWithExitTwo) {
  struct Case { std::string args; std::string expect; };
  std::string config = WriteConfig("err");
  std::vector<Case> cases = {
      {"--set mixture.totl_tokens=1", "mixture.totl_tokens"},
      {"--set tokenizer.model=/nope/tok.model", "/nope/tok.model"},
      {"--set input.paths=[/nope/data]", "/nope/data"},
      {"--set input.paths=[" + corpus_ + "/chunk*/nothing*.zst]", "nothing*"},
      {"--set mixture.strategy=bogus", "mixture.strategy"},
  };
  for (const auto& c : cases) {
    auto r = Lcde("build -c " + config + " " + c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.stderr_text;
    EXPECT_NE(r.stderr_text.find(c.expect), std::string::npos) << c.args << "\n" << r.stderr_text;
    EXPECT_FALSE(fs::exists(dir_->Join("err-out/manifest.json")));
  }
  auto missing = Lcde("build -c /nope/mix.yaml");
  EXPECT_EQ(missing.exit_code, 2);
}

TEST_F(CliTest, RefusesToOverwriteADatasetWithoutForce) {
  std::string config = WriteConfig("again", "");
  ASSERT_EQ(Lcde("build -c " + config + " --set mixture.total_tokens=16K").exit_code, 0);
  auto again = Lcde("build -c " + config + " --set mixture.total_tokens=16K");
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.stderr_text.find("--force"), std::string::npos);
  EXPECT_EQ(Lcde("build -c " + config + " --set mixture.total_tokens=16K --force").exit_code, 0);
}

TEST_F(CliTest, ShortfallIsRecordedAndTheBuildFinishes) {
  // Far more tokens than the corpus holds: every source runs out.
  std::string config = WriteConfig("short", "");
  auto r = Lcde("build -c " + config + " --set mixture.total_tokens=50M --set mixture.strategy=none");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("ran out"), std::string::npos);
  nlohmann::json m = ReadJson(dir_->Join("short-out/manifest.json"));
  EXPECT_EQ(m["sampling"]["shortfall"].size(), 7u);
  auto st = Lcde("stats " + dir_->Join("short-out"));
  EXPECT_NE(st.stdout_text.find("SHORTFALL"), std::string::npos);
}

}  // namespace
}  // namespace lcde

namespace lcde {
namespace {

TEST_F(CliTest, LongTokenFractionIsMetPerSource) {
  std::string config = WriteConfig("frac");
  auto r = Lcde("build -q -c " + config + " --set 'mixture.long_token_fraction={RedPajamaCommonCrawl: 0.7, RedPajamaC4: 0.5}'");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  auto st = Lcde("stats --json " + dir_->Join("frac-out"));
  auto j = nlohmann::json::parse(st.stdout_text);
  EXPECT_NEAR(j["sources"]["RedPajamaCommonCrawl"]["long_token_fraction"].get<double>(), 0.7, 0.001);
  EXPECT_NEAR(j["sources"]["RedPajamaC4"]["long_token_fraction"].get<double>(), 0.5, 0.001);
  for (const auto& [name, s] : j["sources"].items()) {
    EXPECT_NEAR(s["share"].get<double>(), s["target_share"].get<double>(), 0.005) << name;
  }
  auto m = nlohmann::json::parse(testing::ReadFile(dir_->Join("frac-out/manifest.json")));
  EXPECT_NEAR(m["sampling"]["long_token_fraction"]["RedPajamaC4"]["achieved"].get<double>(), 0.5, 0.001);
}

}  // namespace
}  // namespace lcde

namespace lcde {
namespace {

TEST_F(CliTest, SeparatorTokenEndsEveryDocumentAndMillionTokenChunksWork) {
  std::string config = WriteConfig("sep");
  auto r = Lcde("build -q -c " + config + " --set tokenizer.separator=2 --set tokenizer.bos=false "
                "--set output.sequence_length=1M --set mixture.total_tokens=1.1M --set mixture.strategy=none");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  std::string out = dir_->Join("sep-out");
  auto m = nlohmann::json::parse(testing::ReadFile(out + "/manifest.json"));
  EXPECT_EQ(m["sequence_length"], 1048576);
  EXPECT_EQ(m["totals"]["chunks"], 1);
  std::string bin = testing::ReadFile(out + "/part-00000.bin");
  std::string seg = testing::ReadFile(out + "/part-00000.seg");
  ASSERT_EQ(bin.size(), 2u * 1048576);
  int ends = 0;
  for (size_t off = 16; off + 40 <= seg.size(); off += 40) {
    Seg g = Read<Seg>(seg, off);
    if (g.doc_offset == 0) {
      EXPECT_NE(Read<uint16_t>(bin, 2 * g.start), 1) << "no BOS";
    }
    if (g.doc_offset + g.length == g.doc_tokens) {
      EXPECT_EQ(Read<uint16_t>(bin, 2 * (g.start + g.length - 1)), 2) << "separator last";
      ends++;
    }
  }
  EXPECT_GT(ends, 100);
  auto bad = Lcde("build -q -c " + config + " --set tokenizer.separator=99999 --force");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.stderr_text.find("tokenizer.separator"), std::string::npos);
}

// Each shipped single-input config, pointed at the sample corpus and scaled
// down, builds a dataset that verifies and meets its budgets.
TEST_F(CliTest, ShippedConfigsBuildOnTheSampleCorpus) {
  int built = 0;
  for (const auto& e : fs::directory_iterator(testing::SourceDir() / "configs")) {
    std::string name = e.path().stem();
    if (e.path().extension() != ".yaml" || name == "groups-7-2-1") continue;  // groups: groups_test
    std::string out = dir_->Join("shipped-" + name);
    // A config for a tokenizer.json keeps its own kind of model: its
    // separator is given by that model's token text.
    std::string model = testing::DemoModelPath();
    if (name == "ultralong-llama3.1-1m") {
      model = testing::SharedTokenizerPath("llama-3.1-tokenizer.json");
      if (model.empty()) {
        std::printf("[          ] %s: skipped, ../shared/tokenizers/llama-3.1-tokenizer.json not present\n", name.c_str());
        continue;
      }
    }
    auto r = Lcde("build -q -c " + e.path().string() + " -o " + out + " --set 'input.paths=[" + corpus_ + "]'" +
                  " --set tokenizer.model=" + model +
                  " --set mixture.total_tokens=160K --set output.sequence_length=16K");
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.stderr_text;
    auto v = Lcde("verify " + out);
    EXPECT_EQ(v.exit_code, 0) << name << ": " << v.stdout_text;
    auto m = ReadJson(out + "/manifest.json");
    // A recipe the small corpus cannot feed (a 0.7 long fraction) says so.
    const auto& shortfall = m["sampling"]["shortfall"];
    if (!shortfall.empty()) {
      for (const auto& [source, f] : shortfall.items()) EXPECT_GT(f["missing_tokens"].get<uint64_t>(), 0u) << name;
    } else {
      EXPECT_EQ(m["totals"]["tokens"].get<uint64_t>(), 160000u / 16384 * 16384) << name;
      for (const auto& [source, st] : m["stats"]["sources"].items()) {
        if (m["strategy"] == "global") break;  // global does not hold the weights
        EXPECT_NEAR(st["share"].get<double>(), st["target_share"].get<double>(), 0.005) << name << " " << source;
      }
    }
    built++;
  }
  EXPECT_GE(built, 7);
}

}  // namespace
}  // namespace lcde
