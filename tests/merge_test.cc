// SLURM job arrays end to end: tasks as separate processes, `lcde merge`,
// `lcde verify`, and the merged mixture against its targets.
#include "lcde/merge.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <map>
#include <set>

#include "lcde/reader.h"
#include "test_util.h"

namespace lcde {
namespace {

namespace fs = std::filesystem;
using testing::RunCommand;

class MergeTest : public testing::BuildFixture {
 protected:
  void SetUp() override {
    // Sources with many documents in every file, so every task can fill its share.
    SetUpBuild("--tokens 6000000 --files 16 --seed 8", 21,
               "mixture:\n"
               "  total_tokens: 160K\n"
               "  strategy: per_source\n"
               "  weights: {RedPajamaCommonCrawl: 0.6, RedPajamaC4: 0.25, RedPajamaGithub: 0.1,"
               " RedPajamaWikipedia: 0.05}\n"
               "output: {dir: " + dir_.Join("out") + ", sequence_length: 4K, chunks_per_shard: 8}\n");
  }

  // Starts `tasks` build processes at once and waits for all.
  int RunTasks(int tasks, const std::string& extra = "") {
    std::string cmd;
    for (int i = 0; i < tasks; ++i) {
      cmd += testing::LcdeBinary() + " build -q -j 1 -c " + config_ + " --task-index " + std::to_string(i) +
             " --num-tasks " + std::to_string(tasks) + (i == 0 ? extra : "") + " & pids=\"$pids $!\"; ";
    }
    cmd += "fail=0; for p in $pids; do wait $p || fail=1; done; exit $fail";
    auto r = RunCommand(cmd);
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    return r.exit_code;
  }
};

TEST_F(MergeTest, FourTasksMergeIntoOneDatasetThatMeetsTheTargets) {
  ASSERT_EQ(RunTasks(4), 0);
  auto merged = RunCommand(testing::LcdeBinary() + " merge " + dir_.Join("out"));
  ASSERT_EQ(merged.exit_code, 0) << merged.stderr_text;
  EXPECT_FALSE(fs::exists(dir_.Join("out/tasks")));
  auto v = RunCommand(testing::LcdeBinary() + " verify " + dir_.Join("out"));
  ASSERT_EQ(v.exit_code, 0) << v.stdout_text;

  auto st = RunCommand(testing::LcdeBinary() + " stats --json " + dir_.Join("out"));
  ASSERT_EQ(st.exit_code, 0);
  auto j = nlohmann::json::parse(st.stdout_text);
  EXPECT_EQ(j["chunks"], 160000 / 4096);
  for (const auto& [name, s] : j["sources"].items()) {
    EXPECT_NEAR(s["share"].get<double>(), s["target_share"].get<double>(), 0.005) << name;
  }
  auto m = nlohmann::json::parse(testing::ReadFile(dir_.Join("out/manifest.json")));
  EXPECT_EQ(m["merged_from_tasks"], 4);
  EXPECT_TRUE(m["sampling"]["shortfall"].empty()) << m["sampling"]["shortfall"];
  // No document in two tasks: each document starts exactly once, and every
  // input file was read by exactly one task.
  std::set<uint64_t> starts;
  for (const Segment& s : testing::ReadSegments(dir_.Join("out"))) {
    if (s.doc_offset == 0) {
      EXPECT_TRUE(starts.insert(s.document).second) << "document " << s.document << " twice";
    }
  }
  EXPECT_GT(starts.size(), 20u);
}

TEST_F(MergeTest, RefusesPartsOfDifferentConfigsOrMissingTasks) {
  ASSERT_EQ(RunTasks(3, " --set seed=22"), 0);
  auto r = RunCommand(testing::LcdeBinary() + " merge " + dir_.Join("out"));
  EXPECT_EQ(r.exit_code, 2) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("another config"), std::string::npos) << r.stderr_text;
  EXPECT_FALSE(fs::exists(dir_.Join("out/manifest.json")));

  fs::remove_all(dir_.Join("out"));
  ASSERT_EQ(RunTasks(3), 0);
  fs::remove_all(dir_.Join("out/tasks/00001-of-00003"));
  r = RunCommand(testing::LcdeBinary() + " merge " + dir_.Join("out"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_text.find("2 finished parts"), std::string::npos) << r.stderr_text;
}

// With keep_partial_chunk, a task whose input runs out ends in a partial
// chunk; merging it before another task would put that chunk mid-dataset.
TEST_F(MergeTest, RefusesAPartialChunkInsideTheMergedDataset) {
  std::string cfg = testing::ReadFile(config_);
  cfg.replace(cfg.find("total_tokens: 160K"), 18, "total_tokens: 100M");
  cfg.replace(cfg.find("chunks_per_shard: 8}"), 20, "chunks_per_shard: 8, keep_partial_chunk: true}");
  testing::WriteFile(config_, cfg);
  ASSERT_EQ(RunTasks(2), 0);
  auto m0 = nlohmann::json::parse(testing::ReadFile(dir_.Join("out/tasks/00000-of-00002/manifest.json")));
  ASSERT_FALSE(m0["sampling"]["shortfall"].empty());
  ASSERT_NE(m0["totals"]["tokens"].get<uint64_t>() % 4096, 0u) << "the test needs a partial last chunk";
  auto merged = RunCommand(testing::LcdeBinary() + " merge " + dir_.Join("out"));
  EXPECT_EQ(merged.exit_code, 2) << merged.stderr_text;
  EXPECT_NE(merged.stderr_text.find("ends in a partial chunk"), std::string::npos) << merged.stderr_text;
  EXPECT_FALSE(fs::exists(dir_.Join("out/manifest.json")));
}

// Documents (id -> covered token count) and tokens per source in a dataset's .seg files.
struct SegSummary {
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> docs;  // id -> (tokens seen, doc_tokens)
  std::map<uint32_t, uint64_t> source_tokens;
};

SegSummary Summarize(const std::string& dir) {
  SegSummary out;
  for (const Segment& s : testing::ReadSegments(dir)) {
    out.docs[s.document].first += s.length;
    out.docs[s.document].second = s.doc_tokens;
    out.source_tokens[s.source] += s.length;
  }
  return out;
}

TEST_F(MergeTest, ValidationSetsOfTasksMergeIntoOne) {
  testing::WriteFile(config_, testing::ReadFile(config_) + "validation: {tokens_per_source: 9K}\n");
  ASSERT_EQ(RunTasks(2), 0);
  auto merged = RunCommand(testing::LcdeBinary() + " merge " + dir_.Join("out"));
  ASSERT_EQ(merged.exit_code, 0) << merged.stderr_text;
  std::string out = dir_.Join("out");
  testing::ExpectDatasetAndValidationVerify(out);
  const std::vector<uint64_t> held = testing::ReadHeldOutIds(out);
  EXPECT_TRUE(std::is_sorted(held.begin(), held.end()));
  std::set<uint64_t> held_set(held.begin(), held.end());
  EXPECT_EQ(held_set.size(), held.size());

  // Held-out documents: whole, each in exactly one set, none in training;
  // both tasks contributed (their files differ: file index = id >> 32).
  std::set<uint64_t> in_sets, tasks_seen;
  for (const char* split : {"short", "long"}) {
    SegSummary v = Summarize(out + "/validation/" + split);
    auto vm = nlohmann::json::parse(testing::ReadFile(out + "/validation/" + split + "/manifest.json"));
    EXPECT_EQ(vm["validation"]["tokens_per_source"], 9000);
    EXPECT_EQ(vm["merged_from_tasks"], 2);
    for (const auto& [doc, cover] : v.docs) {
      EXPECT_EQ(cover.first, cover.second) << "document " << doc << " not whole in " << split;
      EXPECT_TRUE(in_sets.insert(doc).second) << "document " << doc << " in both sets";
      EXPECT_TRUE(held_set.count(doc)) << doc;
      tasks_seen.insert((doc >> 32) % 2);
    }
    // Each source reaches the build's budget unless the manifest says it fell short.
    for (const auto& src : vm["sources"]) {
      uint32_t id = src["id"];
      if (!src["weighted"].get<bool>() || vm["validation"]["unfilled"].contains(src["name"].get<std::string>())) continue;
      EXPECT_GE(v.source_tokens[id], 9000u) << split << " " << src["name"];
    }
  }
  EXPECT_EQ(in_sets.size(), held.size());
  EXPECT_EQ(tasks_seen.size(), 2u);
  for (const auto& [doc, cover] : Summarize(out).docs) EXPECT_FALSE(held_set.count(doc)) << doc << " in training";
  auto m = nlohmann::json::parse(testing::ReadFile(out + "/manifest.json"));
  EXPECT_EQ(m["validation"]["held_out_documents"].get<uint64_t>(), held.size());
  // The training stream met (and skipped) some of them again.
  EXPECT_GT(m["sampling"]["held_out_validation"].get<uint64_t>(), 0u);
  EXPECT_LE(m["sampling"]["held_out_validation"].get<uint64_t>(), held.size());
}

// A task opens only its own files: another task's unreadable file fails that
// task alone, and once it is readable again that task alone is rerun.
TEST_F(MergeTest, AnUnreadableFileFailsOnlyTheTaskThatReadsIt) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can read any file (tests/slurm/run.sh covers it as nobody)";
  // A copy of the corpus: the cached one is shared with other tests.
  fs::copy(corpus_, dir_.Join("corpus"), fs::copy_options::recursive);
  std::string cfg = testing::ReadFile(config_);
  cfg.replace(cfg.find(corpus_), corpus_.size(), dir_.Join("corpus"));
  testing::WriteFile(config_, cfg);
  auto files = ListInputFiles({dir_.Join("corpus")}, 21);
  ASSERT_TRUE(files.ok());
  const std::string unreadable = (*files)[1];  // task 1 of 2 reads files 1, 3, ...
  ASSERT_EQ(::chmod(unreadable.c_str(), 0), 0);
  auto task = [&](int i) {
    return RunCommand(testing::LcdeBinary() + " build -q -j 1 --resume -c " + config_ + " --task-index " +
                      std::to_string(i) + " --num-tasks 2");
  };
  auto t0 = task(0), t1 = task(1);
  ::chmod(unreadable.c_str(), 0644);
  EXPECT_EQ(t0.exit_code, 0) << t0.stderr_text;
  EXPECT_EQ(t1.exit_code, 2);
  EXPECT_NE(t1.stderr_text.find("cannot open input file '" + unreadable + "'"), std::string::npos) << t1.stderr_text;
  t1 = task(1);
  ASSERT_EQ(t1.exit_code, 0) << t1.stderr_text;
  auto merged = RunCommand(testing::LcdeBinary() + " merge " + dir_.Join("out"));
  EXPECT_EQ(merged.exit_code, 0) << merged.stderr_text;
}

TEST_F(MergeTest, SlurmEnvironmentSetsTheTask) {
  auto r = RunCommand("SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_COUNT=2 " +
                      testing::LcdeBinary() + " build -q -c " + config_);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_TRUE(fs::exists(dir_.Join("out/tasks/00001-of-00002/manifest.json")));
}

}  // namespace
}  // namespace lcde
