#include "lcde/repeat_queue.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <numeric>

#include "test_util.h"

namespace lcde {
namespace {

class RecordingSink : public ChunkSink {
 public:
  Status WriteChunk(std::span<const int32_t> tokens, std::span<const Segment> segments) override {
    stream.insert(stream.end(), tokens.begin(), tokens.end());
    for (Segment s : segments) {
      s.chunk = static_cast<uint32_t>(chunks);  // global chunk index
      segs.push_back(s);
    }
    chunks++;
    return on_chunk ? on_chunk() : Status::Ok();
  }
  std::vector<int32_t> stream;
  std::vector<Segment> segs;
  uint64_t chunks = 0;
  std::function<Status()> on_chunk;
};

std::vector<int32_t> Doc(int32_t first, size_t n) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), first);
  return v;
}

// Stream position of every segment's first token, and the document it belongs to.
std::vector<std::pair<uint64_t, Segment>> Placed(const RecordingSink& sink, uint64_t seq) {
  std::vector<std::pair<uint64_t, Segment>> out;
  for (const Segment& s : sink.segs) out.emplace_back(s.chunk * seq + s.start, s);
  return out;
}

TEST(RepeatQueueTest, CopiesWaitOneSequenceAfterThePreviousAppearance) {
  RecordingSink sink;
  const uint64_t seq = 8;
  Packer packer(seq, &sink);
  RepeatQueue q(seq);
  auto long_doc = Doc(100, 5);
  q.Schedule(0, 7, long_doc, 2, 3, /*ends_at=*/5);  // two copies, the last cut to 3
  ASSERT_TRUE(packer.Add(0, 7, 5, long_doc).ok());
  // Filler documents of 2 tokens; copies may start at 5 + 8 = 13 and at
  // (end of copy 1) + 8.
  for (int i = 0; i < 12; ++i) {
    auto filler = Doc(1000 + 10 * i, 2);
    ASSERT_TRUE(packer.Add(1, 50 + i, 2, filler).ok());
    ASSERT_TRUE(q.EmitDue(&packer).ok());
  }
  ASSERT_TRUE(q.EmitAll(&packer).ok());
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.early_copies(), 0u);
  ASSERT_TRUE(packer.Finish(true).ok());
  std::vector<uint64_t> starts;
  for (const auto& [pos, s] : Placed(sink, seq)) {
    if (s.document == 7 && s.doc_offset == 0) starts.push_back(pos);
  }
  // 0-5 original; fillers at 5,7,9,11 -> copy at 13 (first document boundary
  // >= 5 + 8), ends at 18; fillers at 18..24 -> second copy at 26, 3 tokens.
  ASSERT_EQ(starts.size(), 3u);
  EXPECT_EQ(starts[0], 0u);
  EXPECT_EQ(starts[1], 13u);
  EXPECT_EQ(starts[2], 26u);
  EXPECT_EQ(std::vector<int32_t>(sink.stream.begin() + 13, sink.stream.begin() + 18), long_doc);
  EXPECT_EQ(std::vector<int32_t>(sink.stream.begin() + 26, sink.stream.begin() + 29), Doc(100, 3));
  // The cut copy says so: its piece ends before doc_tokens.
  for (const auto& [pos, s] : Placed(sink, seq)) {
    if (pos == 26) {
      EXPECT_EQ(s.length, 3u);
      EXPECT_EQ(s.doc_tokens, 5u);
    }
  }
}

TEST(RepeatQueueTest, EarliestDueFirstTiesInSchedulingOrder) {
  RecordingSink sink;
  Packer packer(4, &sink);
  RepeatQueue q(4);
  q.Schedule(0, 1, Doc(10, 2), 1, 2, 2);
  q.Schedule(0, 2, Doc(20, 2), 1, 2, 0);  // due earlier
  q.Schedule(0, 3, Doc(30, 2), 1, 2, 0);  // same due, scheduled later
  ASSERT_TRUE(packer.Add(1, 9, 6, Doc(90, 6)).ok());
  ASSERT_TRUE(q.EmitDue(&packer).ok());  // position 6: doc 2 and 3 due (4), doc 1 (6) too
  ASSERT_TRUE(packer.Finish(true).ok());
  std::vector<uint64_t> order;
  for (const Segment& s : sink.segs) order.push_back(s.document);
  EXPECT_EQ(order, (std::vector<uint64_t>{9, 9, 2, 3, 1}));
}

TEST(RepeatQueueTest, EmitAllAppendsWhatIsNotDueAndCountsIt) {
  RecordingSink sink;
  Packer packer(100, &sink);
  RepeatQueue q(100);
  q.Schedule(0, 1, Doc(10, 3), 2, 3, 3);
  ASSERT_TRUE(packer.Add(0, 1, 3, Doc(10, 3)).ok());
  ASSERT_TRUE(q.EmitDue(&packer).ok());
  EXPECT_EQ(q.pending_copies(), 2u);
  EXPECT_EQ(q.pending_tokens(), 3u);
  ASSERT_TRUE(q.EmitAll(&packer).ok());
  EXPECT_EQ(q.early_copies(), 2u);
  ASSERT_TRUE(packer.Finish(true).ok());
  EXPECT_EQ(sink.stream, (std::vector<int32_t>{10, 11, 12, 10, 11, 12, 10, 11, 12}));
}

// A checkpoint taken inside a copy (the packer's sink callback) and restored
// into a fresh queue continues with exactly the same stream.
TEST(RepeatQueueTest, SaveInsideACopyAndRestoreGiveTheSameStream) {
  const uint64_t seq = 4;
  auto run = [&](int stop_at_chunk, RecordingSink* sink, nlohmann::json* saved, std::vector<int32_t>* tokens,
                 uint64_t* position) {
    Packer packer(seq, sink);
    RepeatQueue q(seq);
    sink->on_chunk = [&]() -> Status {
      if (static_cast<int>(sink->chunks) == stop_at_chunk) {
        tokens->clear();
        *saved = q.Save(packer.current_document_emitted(), tokens);
        *position = sink->chunks * seq;
        EXPECT_TRUE(q.in_flight());
        return Status::Interrupted("stop");
      }
      return Status::Ok();
    };
    q.Schedule(0, 1, Doc(10, 6), 2, 5, 6);
    EXPECT_TRUE(packer.Add(0, 1, 6, Doc(10, 6)).ok());
    EXPECT_TRUE(q.EmitDue(&packer).ok());
    for (int i = 0; i < 6; ++i) {
      EXPECT_TRUE(packer.Add(1, 20 + i, 1, Doc(50 + i, 1)).ok());
      Status s = q.EmitDue(&packer);
      if (!s.ok()) return;
    }
    EXPECT_TRUE(q.EmitAll(&packer).ok());
    EXPECT_TRUE(packer.Finish(true).ok());
  };
  RecordingSink full;
  nlohmann::json unused;
  std::vector<int32_t> unused_tokens;
  uint64_t unused_pos = 0;
  run(-1, &full, &unused, &unused_tokens, &unused_pos);
  // Stream: doc(6) 0-6, fillers at 6..10, first copy due at 12 -> starts at 12 (after filler 11).
  // The copy spans chunks 3 and 4: stop after chunk 4 (16 tokens) is inside it.
  RecordingSink part;
  nlohmann::json saved;
  std::vector<int32_t> tokens;
  uint64_t position = 0;
  run(4, &part, &saved, &tokens, &position);
  ASSERT_EQ(position, 16u);
  ASSERT_EQ(saved["items"].size(), 1u);
  EXPECT_GT(saved["items"][0]["emitted"].get<uint64_t>(), 0u);

  // Resume: the first 16 tokens are on disk; the queue and the packer restart there.
  RecordingSink rest;
  Packer packer(seq, &rest);
  packer.Restore(4, 16);
  RepeatQueue q(seq);
  ASSERT_TRUE(q.Restore(saved, tokens).ok());
  ASSERT_TRUE(q.EmitDue(&packer).ok());  // finishes the cut copy
  // The input goes on after the filler that preceded the copy.
  std::vector<int32_t> stream(part.stream.begin(), part.stream.begin() + 16);
  uint64_t fillers_done = 0;
  for (const Segment& s : part.segs) fillers_done += s.source == 1 && s.chunk < 4;
  for (uint64_t i = fillers_done; i < 6; ++i) {
    ASSERT_TRUE(packer.Add(1, 20 + i, 1, Doc(50 + static_cast<int32_t>(i), 1)).ok());
    ASSERT_TRUE(q.EmitDue(&packer).ok());
  }
  ASSERT_TRUE(q.EmitAll(&packer).ok());
  ASSERT_TRUE(packer.Finish(true).ok());
  stream.insert(stream.end(), rest.stream.begin(), rest.stream.end());
  EXPECT_EQ(stream, full.stream);
}

TEST(RepeatQueueTest, RestoreRefusesStateThatDoesNotFit) {
  RepeatQueue q(8);
  q.Schedule(0, 1, Doc(1, 4), 1, 4, 4);
  std::vector<int32_t> tokens;
  nlohmann::json saved = q.Save(0, &tokens);
  RepeatQueue r(8);
  EXPECT_TRUE(r.Restore(saved, tokens).ok());
  tokens.pop_back();
  EXPECT_EQ(r.Restore(saved, tokens).code(), Status::Code::kCorruption);
  tokens.push_back(4);
  saved["items"][0]["last_tokens"] = 9;
  EXPECT_EQ(r.Restore(saved, tokens).code(), Status::Code::kCorruption);
  EXPECT_EQ(r.Restore(nlohmann::json::object(), tokens).code(), Status::Code::kCorruption);
}

// End to end: the real binary with mixture.max_repeats on a generated corpus.

namespace fs = std::filesystem;

// One appearance of a document: its pieces in stream order (interleaving
// may put other material between them), each continuing the previous one.
struct Appearance {
  uint64_t start = 0, end = 0;  // stream positions of its first token and after its last
  uint64_t doc_tokens = 0;
  uint32_t source = 0;
  std::vector<uint16_t> tokens;  // in document order
};

class RepeatBuildTest : public testing::BuildFixture {
 protected:
  void SetUp() override {
    // UltraLong's recipe scaled to the demo corpus: short under 1K thinned,
    // 2K and over repeated 3 times, a separator after each document.
    SetUpBuild("--tokens 4000000 --files 6 --seed 5", 9,
               "mixture: {total_tokens: 300K, strategy: per_source, length_threshold: 1024,\n"
               "          repeat_threshold: 2048, max_repeats: 3}\n"
               "output: {dir: " + dir_.Join("out") + ", sequence_length: 8K, chunks_per_shard: 1}\n",
               ", bos: false, separator: 2");
  }

  static testing::CommandResult Lcde(const std::string& args) { return testing::Lcde(args); }

  // Every appearance of every document, in stream order, plus the stream's tokens.
  void Read(const std::string& dir, std::map<uint64_t, std::vector<Appearance>>* docs, std::vector<uint16_t>* stream) {
    auto m = nlohmann::json::parse(testing::ReadFile(dir + "/manifest.json"));
    const uint64_t seq = m["sequence_length"];
    uint64_t chunk_base = 0;
    for (const auto& shard : m["shards"]) {
      std::string name = shard["name"];
      std::string seg = testing::ReadFile(dir + "/" + name + ".seg");
      std::string bin = testing::ReadFile(dir + "/" + name + ".bin");
      size_t at = stream->size();
      stream->resize(at + bin.size() / 2);
      std::memcpy(stream->data() + at, bin.data(), bin.size());
      for (size_t off = kSegHeaderBytes; off + sizeof(Segment) <= seg.size(); off += sizeof(Segment)) {
        Segment s;
        std::memcpy(&s, seg.data() + off, sizeof(s));
        uint64_t pos = (chunk_base + s.chunk) * seq + s.start;
        auto& list = (*docs)[s.document];
        if (s.doc_offset == 0) list.push_back({pos, pos, s.doc_tokens, s.source, {}});
        ASSERT_FALSE(list.empty()) << "a piece before its document's start";
        ASSERT_EQ(s.doc_offset, list.back().tokens.size()) << "a piece that does not continue its document";
        list.back().end = pos + s.length;
        list.back().tokens.insert(list.back().tokens.end(), stream->begin() + static_cast<ptrdiff_t>(pos),
                                  stream->begin() + static_cast<ptrdiff_t>(pos + s.length));
      }
      chunk_base += shard["chunks"].get<uint64_t>();
    }
  }

};

TEST_F(RepeatBuildTest, LongDocumentsAppearUpToMaxRepeatsTimesOneSequenceApart) {
  std::string out = dir_.Join("out");
  auto r = Lcde("build -q -j 2 -c " + config_);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  auto v = Lcde("verify " + out);
  EXPECT_EQ(v.exit_code, 0) << v.stdout_text;
  auto m = nlohmann::json::parse(testing::ReadFile(out + "/manifest.json"));
  std::map<uint64_t, std::vector<Appearance>> docs;
  std::vector<uint16_t> stream;
  Read(out, &docs, &stream);
  ASSERT_EQ(stream.size(), 300000u / 8192 * 8192);

  uint64_t copies = 0, copy_tokens = 0, thrice = 0, close = 0;
  for (const auto& [id, list] : docs) {
    const Appearance& first = list.front();
    if (first.doc_tokens < 2048) {
      EXPECT_EQ(list.size(), 1u) << "document " << id << " under the repeat threshold repeated";
      continue;
    }
    ASSERT_LE(list.size(), 3u) << "document " << id;
    thrice += list.size() == 3;
    for (size_t k = 1; k < list.size(); ++k) {
      copies++;
      copy_tokens += list[k].tokens.size();
      // Every copy repeats the document's tokens from its first one.
      ASSERT_LE(list[k].tokens.size(), first.tokens.size()) << "document " << id << " copy " << k;
      for (uint64_t t = 0; t < list[k].tokens.size(); ++t) {
        ASSERT_EQ(list[k].tokens[t], first.tokens[t]) << "document " << id << " copy " << k;
      }
      // Only the last copy may be cut (by the budget).
      if (k + 1 < list.size()) {
        EXPECT_EQ(list[k].tokens.size(), first.doc_tokens);
      }
      if (list[k].start < list[k - 1].end + 8192) close++;
    }
  }
  EXPECT_GT(thrice, 5u);
  const auto& rep = m["sampling"]["repeats"];
  EXPECT_EQ(rep["copies"].get<uint64_t>(), copies);
  EXPECT_EQ(rep["tokens"].get<uint64_t>(), copy_tokens);
  // Copies closer than one sequence: only those appended when the stream ended.
  EXPECT_EQ(close, rep["early"].get<uint64_t>());
  EXPECT_LE(close, 4u);
  uint64_t per_source_copies = 0;
  for (const auto& [name, c] : m["sampling"]["per_source"].items()) per_source_copies += c["repeated"].get<uint64_t>();
  EXPECT_EQ(per_source_copies, copies);
  // Budgets still hold per source, copies included.
  for (const auto& [name, s] : m["stats"]["sources"].items()) {
    EXPECT_NEAR(s["share"].get<double>(), s["target_share"].get<double>(), 0.005) << name;
  }
  // Repetition raises the long share over the same recipe without it.
  auto plain = Lcde("build -q -c " + config_ + " -o " + dir_.Join("plain") + " --set mixture.max_repeats=1");
  ASSERT_EQ(plain.exit_code, 0) << plain.stderr_text;
  auto pm = nlohmann::json::parse(testing::ReadFile(dir_.Join("plain") + "/manifest.json"));
  EXPECT_GT(m["stats"]["long_token_fraction"].get<double>(), pm["stats"]["long_token_fraction"].get<double>());
  EXPECT_FALSE(pm["sampling"].contains("repeats"));
}

TEST_F(RepeatBuildTest, SameBytesOnAnyThreadCount) {
  for (int j : {1, 4}) {
    auto r = Lcde("build -q -j " + std::to_string(j) + " -c " + config_ + " -o " + dir_.Join("j" + std::to_string(j)));
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }
  for (const auto& e : fs::directory_iterator(dir_.Join("j1"))) {
    std::string name = e.path().filename();
    EXPECT_TRUE(testing::ReadFile(e.path()) == testing::ReadFile(dir_.Join("j4/" + name))) << name;
  }
}

// Stops the build after every third of its checkpoints in turn (some fall
// inside a copy, some while copies wait, one with none waiting) and resumes
// it. Every third: each stop and resume is a whole build, and this runs
// under ASan in CI too.
TEST_F(RepeatBuildTest, ResumedFromCheckpointsAcrossTheBuildGivesTheSameBytes) {
  auto r = Lcde("build -q -j 2 -c " + config_ + " -o " + dir_.Join("ref"));
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  auto m = nlohmann::json::parse(testing::ReadFile(dir_.Join("ref/manifest.json")));
  const size_t shards = m["shards"].size();
  ASSERT_GT(shards, 20u);
  int inside_copy = 0, waiting = 0;
  for (size_t n = 1; n < shards; n += 3) {
    std::string out = dir_.Join("stop" + std::to_string(n));
    auto stopped = Lcde("build -q -j 2 -c " + config_ + " -o " + out + " --stop-after-shards " + std::to_string(n));
    ASSERT_EQ(stopped.exit_code, 143) << stopped.stderr_text;
    auto cp = nlohmann::json::parse(testing::ReadFile(out + "/checkpoint.json"));
    if (cp.contains("repeats")) {
      waiting++;
      EXPECT_TRUE(fs::exists(out + "/" + cp["repeats"]["file"].get<std::string>()));
      for (const auto& item : cp["repeats"]["items"]) inside_copy += item["emitted"].get<uint64_t>() > 0;
    }
    auto resumed = Lcde("build -q --resume -j 3 -c " + config_ + " -o " + out);
    ASSERT_EQ(resumed.exit_code, 0) << resumed.stderr_text;
    for (const auto& e : fs::directory_iterator(dir_.Join("ref"))) {
      std::string name = e.path().filename();
      ASSERT_TRUE(testing::ReadFile(e.path()) == testing::ReadFile(out + "/" + name)) << name << " after stop " << n;
    }
    for (const auto& e : fs::directory_iterator(out)) {
      EXPECT_FALSE(e.path().filename().string().starts_with("checkpoint")) << e.path();
    }
    fs::remove_all(out);
  }
  EXPECT_GT(inside_copy, 0);
  EXPECT_GT(waiting, 3);
}

}  // namespace
}  // namespace lcde
