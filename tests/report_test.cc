// `lcde report`: the page's charts hold exactly the figures of `lcde stats
// --json`; bad input fails naming the path and leaves no file; and the CLI
// end to end on real builds.
#include "lcde/report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "lcde/manifest.h"
#include "lcde/stats.h"
#include "test_util.h"

namespace lcde {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class ReportTest : public ::testing::Test {
 protected:
  // Two arms of one corpus, built once: per_source and the original mixture.
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    corpus_ = testing::CachedSampleCorpus("--tokens 4000000 --files 6 --seed 5");
    ASSERT_FALSE(corpus_.empty());
    for (const char* strategy : {"per_source", "none"}) {
      const std::string config = dir_->Join(std::string(strategy) + ".yaml");
      testing::WriteFile(config, testing::SampleConfigYaml(11, corpus_,
                                                           "mixture: {total_tokens: 200K, strategy: " +
                                                               std::string(strategy) +
                                                               "}\noutput: {sequence_length: 8K, chunks_per_shard: "
                                                               "10}\n"));
      auto r = testing::Lcde("build -q -c " + config + " -o " + dir_->Join(strategy));
      ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    }
    auto scan = testing::Lcde("scan --json --tokenizer " + testing::DemoModelPath() + " " + corpus_);
    ASSERT_EQ(scan.exit_code, 0) << scan.stderr_text;
    testing::WriteFile(dir_->Join("scan.json"), scan.stdout_text);
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::string Arm(const char* name) { return dir_->Join(name); }

  static testing::TempDir* dir_;
  static std::string corpus_;
};

testing::TempDir* ReportTest::dir_ = nullptr;
std::string ReportTest::corpus_;

// The <svg> elements of a page whose data-chart is `id`.
std::vector<std::string> Charts(const std::string& page, const std::string& id) {
  std::vector<std::string> out;
  const std::string open = "data-chart=\"" + id + "\"";
  for (size_t at = 0; (at = page.find(open, at)) != std::string::npos; at += open.size()) {
    size_t start = page.rfind("<svg", at);
    out.push_back(page.substr(start, page.find("</svg>", at) - start));
  }
  return out;
}

// (series, category) -> data-value of each bar of a chart.
std::map<std::pair<std::string, std::string>, double> Bars(const std::string& svg) {
  std::map<std::pair<std::string, std::string>, double> out;
  std::regex bar("class=\"bar\"[^>]*data-series=\"([^\"]*)\" data-category=\"([^\"]*)\" data-value=\"([^\"]*)\"");
  for (std::sregex_iterator it(svg.begin(), svg.end(), bar), end; it != end; ++it) {
    out[{(*it)[1], (*it)[2]}] = std::stod((*it)[3]);
  }
  return out;
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = 0; (at = text.find(needle, at)) != std::string::npos; at += needle.size()) ++n;
  return n;
}

TEST_F(ReportTest, ArmStatsAreThoseOfStatsJson) {
  auto arm = LoadReportArm(Arm("per_source"));
  ASSERT_TRUE(arm.ok()) << arm.status().ToString();
  EXPECT_EQ(arm->name, "per_source");
  auto cli = testing::Lcde("stats --json " + Arm("per_source"));
  ASSERT_EQ(cli.exit_code, 0);
  EXPECT_EQ(arm->stats, json::parse(cli.stdout_text));
}

TEST_F(ReportTest, ChartsHoldTheStatsFigures) {
  auto arm = LoadReportArm(Arm("per_source"));
  ASSERT_TRUE(arm.ok());
  const json& stats = arm->stats;
  const std::string page = RenderReport({*arm});
  EXPECT_EQ(page.find("<script>"), std::string::npos);
  EXPECT_NE(page.find("<svg xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_EQ(Count(page, "src="), 0u);  // nothing fetched

  auto share = Charts(page, "share");
  ASSERT_EQ(share.size(), 1u);
  auto bars = Bars(share[0]);
  size_t sources = 0;
  for (const auto& [name, s] : stats["sources"].items()) {
    if (s["tokens"] == 0 && s["target_share"] == 0) continue;
    ++sources;
    EXPECT_EQ(bars.at({"per_source", name}), s["share"].get<double>()) << name;
  }
  EXPECT_EQ(bars.size(), sources);

  auto length = Charts(page, "length");
  ASSERT_EQ(length.size(), 1u);
  auto length_bars = Bars(length[0]);
  ASSERT_EQ(length_bars.size(), kLengthBuckets);
  for (size_t b = 0; b < kLengthBuckets; ++b) {
    EXPECT_EQ(length_bars.at({"per_source", LengthBucketName(b)}),
              stats["length_buckets"][LengthBucketName(b)].get<double>());
  }
  EXPECT_EQ(Charts(page, "length-source").size(), sources);

  auto docs = Bars(Charts(page, "docs-per-chunk").at(0));
  uint64_t chunks = 0;
  for (size_t b = 0; b < kDocsPerChunkBuckets; ++b) {
    double v = docs.at({"per_source", DocsPerChunkBucketName(b)});
    EXPECT_EQ(v, stats["docs_per_chunk_histogram"][DocsPerChunkBucketName(b)].get<double>());
    chunks += static_cast<uint64_t>(v);
  }
  EXPECT_EQ(chunks, stats["chunks"].get<uint64_t>());

  auto strip = Charts(page, "first-chunks");
  ASSERT_EQ(strip.size(), 1u);
  EXPECT_EQ(Count(strip[0], "class=\"row\""), std::min<uint64_t>(kFirstChunks, stats["chunks"].get<uint64_t>()));
  auto along = Charts(page, "along-dataset");
  ASSERT_EQ(along.size(), 1u);
  EXPECT_NE(along[0].find("data-series=\"" + std::to_string(sources) + "\" data-points=\"10\""), std::string::npos);

  // The embedded data block is the stats JSON.
  const std::string open = "<script type=\"application/json\" id=\"lcde-report-data\">";
  size_t start = page.find(open) + open.size();
  json data = json::parse(page.substr(start, page.find("</script>", start) - start));
  EXPECT_EQ(data["arms"][0]["stats"], stats);
}

TEST_F(ReportTest, SeveralArmsGetOneSeriesEach) {
  auto a = LoadReportArm(Arm("per_source")), b = LoadReportArm(Arm("none"));
  ASSERT_TRUE(a.ok() && b.ok());
  auto scan = LoadScanJson(dir_->Join("scan.json"));
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  a->scan = *scan;
  b->scan = *scan;
  const std::string page = RenderReport({*a, *b});
  EXPECT_NE(page.find("<body data-arms=\"2\">"), std::string::npos);
  auto share = Charts(page, "share");
  ASSERT_EQ(share.size(), 1u);
  EXPECT_NE(share[0].find("data-series=\"2\""), std::string::npos);
  // One scan for both arms: one input series beside the two arms.
  auto length = Charts(page, "length").at(0);
  EXPECT_NE(length.find("data-series=\"3\""), std::string::npos);
  auto bars = Bars(length);
  for (size_t k = 0; k < kLengthBuckets; ++k) {
    const char* bucket = LengthBucketName(k);
    EXPECT_EQ(bars.at({"input (scan)", bucket}), (*scan)["length_buckets"][bucket].get<double>());
    EXPECT_EQ(bars.at({"none", bucket}), b->stats["length_buckets"][bucket].get<double>());
  }
  EXPECT_EQ(Charts(page, "first-chunks").size(), 2u);
  EXPECT_EQ(Charts(page, "along-dataset").size(), 2u);
}

TEST_F(ReportTest, ArmNamesAreMadeDistinct) {
  std::vector<ReportArm> arms(3);
  arms[0].name = arms[1].name = "out";
  arms[0].dir = "a/out";
  arms[1].dir = "b/out/";
  arms[2].name = "other";
  arms[2].dir = "other";
  MakeArmNamesDistinct(&arms);
  EXPECT_EQ(arms[0].name, "a/out");
  EXPECT_EQ(arms[1].name, "b/out");
  EXPECT_EQ(arms[2].name, "other");
  // The same directory twice: told apart by position.
  std::vector<ReportArm> twice(2);
  twice[0].name = twice[1].name = "out";
  twice[0].dir = twice[1].dir = "x/out";
  MakeArmNamesDistinct(&twice);
  EXPECT_EQ(twice[0].name, "x/out #1");
  EXPECT_EQ(twice[1].name, "x/out #2");
}

TEST_F(ReportTest, BadDatasetsAreNamed) {
  testing::TempDir tmp;
  auto missing = LoadReportArm(tmp.Join("nothing"));
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_NE(missing.status().message().find(tmp.Join("nothing") + ": no such directory"), std::string::npos);

  auto empty = LoadReportArm(tmp.path().string());
  EXPECT_EQ(empty.status().code(), Status::Code::kNotFound);
  EXPECT_NE(empty.status().message().find("not an lcde dataset"), std::string::npos) << empty.status().message();

  const std::string partial = tmp.Join("partial");
  fs::create_directories(partial);
  testing::WriteFile(partial + "/part-00000.bin", "xx");
  auto unfinished = LoadReportArm(partial);
  EXPECT_EQ(unfinished.status().code(), Status::Code::kNotFound);
  EXPECT_NE(unfinished.status().message().find(partial + ": an unfinished build"), std::string::npos);

  for (int version : {0, kFormatVersion + 1}) {
    const std::string other = tmp.Join("v" + std::to_string(version));
    fs::create_directories(other);
    json m = json::parse(testing::ReadFile(Arm("none") + "/manifest.json"));
    m["format_version"] = version;
    testing::WriteFile(other + "/manifest.json", m.dump());
    auto r = LoadReportArm(other);
    EXPECT_EQ(r.status().code(), Status::Code::kCorruption) << version;
    EXPECT_NE(r.status().message().find(other), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("format_version " + std::to_string(version)), std::string::npos);
  }

  testing::WriteFile(tmp.Join("bad-scan.json"), "{\"no\": 1}");
  EXPECT_EQ(LoadScanJson(tmp.Join("bad-scan.json")).status().code(), Status::Code::kInvalidConfig);
  EXPECT_EQ(LoadScanJson(tmp.Join("none.json")).status().code(), Status::Code::kNotFound);
}

TEST_F(ReportTest, WritesAtomicallyAndLeavesNothingOnFailure) {
  testing::TempDir tmp;
  const std::string out = tmp.Join("report.html");
  ReportOptions options{{Arm("per_source")}, {}, out};
  ASSERT_TRUE(WriteReport(options).ok());
  const std::string first = testing::ReadFile(out);
  EXPECT_NE(first.find("</html>"), std::string::npos);
  EXPECT_FALSE(fs::exists(out + ".tmp"));

  // A later failure leaves the earlier report as it was, and no temporary.
  options.datasets.push_back(tmp.Join("missing"));
  EXPECT_EQ(WriteReport(options).code(), Status::Code::kNotFound);
  EXPECT_EQ(testing::ReadFile(out), first);
  EXPECT_FALSE(fs::exists(out + ".tmp"));
  const std::string fresh = tmp.Join("fresh.html");
  options.output = fresh;
  EXPECT_FALSE(WriteReport(options).ok());
  EXPECT_FALSE(fs::exists(fresh));

  // Scans: one for all, or one per dataset.
  ReportOptions scans{{Arm("per_source"), Arm("none")}, {dir_->Join("scan.json"), dir_->Join("scan.json"),
                                                         dir_->Join("scan.json")}, fresh};
  EXPECT_EQ(WriteReport(scans).code(), Status::Code::kInvalidConfig);
  scans.scans.pop_back();
  EXPECT_TRUE(WriteReport(scans).ok());
}

// The real binary: exit codes as for the other subcommands.
TEST_F(ReportTest, CommandLine) {
  testing::TempDir tmp;
  const std::string out = tmp.Join("r.html");
  auto ok = testing::Lcde("report " + Arm("per_source") + " " + Arm("none") + " --scan " + dir_->Join("scan.json") +
                          " -o " + out);
  EXPECT_EQ(ok.exit_code, 0) << ok.stderr_text;
  EXPECT_NE(testing::ReadFile(out).find("<body data-arms=\"2\">"), std::string::npos);

  auto missing = testing::Lcde("report " + tmp.Join("nope") + " -o " + tmp.Join("x.html"));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.stderr_text.find(tmp.Join("nope")), std::string::npos) << missing.stderr_text;
  EXPECT_FALSE(fs::exists(tmp.Join("x.html")));

  const std::string newer = tmp.Join("newer");
  fs::create_directories(newer);
  json m = json::parse(testing::ReadFile(Arm("none") + "/manifest.json"));
  m["format_version"] = kFormatVersion + 1;
  testing::WriteFile(newer + "/manifest.json", m.dump());
  auto corrupt = testing::Lcde("report " + newer + " -o " + tmp.Join("x.html"));
  EXPECT_EQ(corrupt.exit_code, 1);
  EXPECT_NE(corrupt.stderr_text.find("format_version"), std::string::npos) << corrupt.stderr_text;
  EXPECT_FALSE(fs::exists(tmp.Join("x.html")));

  auto no_output = testing::Lcde("report " + Arm("none"));
  EXPECT_EQ(no_output.exit_code, 2);
}

// The stats and scan JSON keys the report draws from.
TEST_F(ReportTest, StatsAndScanJsonKeys) {
  json stats = json::parse(testing::Lcde("stats --json " + Arm("per_source")).stdout_text);
  const uint64_t seq = stats["sequence_length"];
  ASSERT_FALSE(stats["first_chunks"].empty());
  for (const auto& chunk : stats["first_chunks"]) {
    uint64_t tokens = 0;
    for (const auto& piece : chunk) {
      EXPECT_TRUE(stats["sources"].contains(piece[0].get<std::string>()));
      tokens += piece[1].get<uint64_t>();
    }
    EXPECT_EQ(tokens, seq);
  }
  uint64_t chunks = 0;
  for (const auto& [bucket, n] : stats["docs_per_chunk_histogram"].items()) chunks += n.get<uint64_t>();
  EXPECT_EQ(chunks, stats["chunks"].get<uint64_t>());

  json scan = json::parse(testing::ReadFile(dir_->Join("scan.json")));
  for (const auto& [name, s] : scan["sources"].items()) {
    double sum = 0;
    for (const auto& [bucket, share] : s["length_buckets"].items()) sum += share.get<double>();
    EXPECT_NEAR(sum, 1.0, 1e-9) << name;
    EXPECT_TRUE(s.contains("tokens"));
    EXPECT_TRUE(s.contains("long_token_fraction"));
  }
  EXPECT_GT(scan["tokens"].get<uint64_t>(), 0u);
}

// A manifest written before a stats key existed still verifies; a changed
// figure does not.
TEST_F(ReportTest, VerifyComparesTheStatsKeysTheManifestHas) {
  testing::TempDir tmp;
  const std::string copy = tmp.Join("copy");
  fs::copy(Arm("none"), copy, fs::copy_options::recursive);
  json m = json::parse(testing::ReadFile(copy + "/manifest.json"));
  EXPECT_FALSE(m["stats"].contains("first_chunks"));  // the .seg files have them
  m["stats"].erase("docs_per_chunk_histogram");
  ASSERT_TRUE(WriteManifest(copy, m).ok());
  EXPECT_EQ(testing::Lcde("verify " + copy).exit_code, 0);
  m["stats"]["chunks"] = m["stats"]["chunks"].get<uint64_t>() + 1;
  ASSERT_TRUE(WriteManifest(copy, m).ok());
  auto bad = testing::Lcde("verify " + copy);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.stdout_text.find("stats.chunks"), std::string::npos) << bad.stdout_text;
}

}  // namespace
}  // namespace lcde
