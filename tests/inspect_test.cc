// `lcde inspect`: the library on a hand-built dataset, and the CLI on a real
// build checked against independent readings of the .seg files and corpus.
#include "lcde/inspect.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <utility>

#include "lcde/manifest.h"
#include "lcde/shard_writer.h"
#include "lcde/tokenizer.h"
#include "test_util.h"

namespace lcde {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::RunCommand;

// ---------------------------------------------------------------- helpers

TEST(InspectText, PiecePart) {
  EXPECT_EQ(PiecePartOf(0, 10, 10), PiecePart::kWhole);
  EXPECT_EQ(PiecePartOf(0, 4, 10), PiecePart::kStart);
  EXPECT_EQ(PiecePartOf(4, 6, 10), PiecePart::kEnd);
  EXPECT_EQ(PiecePartOf(2, 3, 10), PiecePart::kMiddle);
  EXPECT_STREQ(PiecePartName(PiecePart::kWhole), "whole");
  EXPECT_STREQ(PiecePartName(PiecePart::kStart), "start");
  EXPECT_STREQ(PiecePartName(PiecePart::kMiddle), "middle");
  EXPECT_STREQ(PiecePartName(PiecePart::kEnd), "end");
}

TEST(InspectText, TruncatesByCharactersNeverInsideOne) {
  const std::string s = "a\xc3\xa9z\xe2\x82\xac\xf0\x9f\x98\x80!";  // a é z € 😀 !
  EXPECT_EQ(Utf8Chars(s), 6u);
  bool cut = false;
  EXPECT_EQ(TruncateUtf8(s, 2, &cut), "a\xc3\xa9");
  EXPECT_TRUE(cut);
  EXPECT_EQ(TruncateUtf8(s, 5, &cut), "a\xc3\xa9z\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_TRUE(cut);
  EXPECT_EQ(TruncateUtf8(s, 6, &cut), s);
  EXPECT_FALSE(cut);
  EXPECT_EQ(TruncateUtf8(s, 0, &cut), s);  // 0: no limit
  EXPECT_FALSE(cut);
  // An invalid byte counts as one character.
  EXPECT_EQ(Utf8Chars("a\xff" "b"), 3u);
}

TEST(InspectText, EscapesToOneLine) {
  EXPECT_EQ(EscapeOneLine("a\nb\r\tc\\d\"e"), "a\\nb\\r\\tc\\\\d\\\"e");
  EXPECT_EQ(EscapeOneLine(std::string("x\x01y\x7f", 4)), "x\\x01y\\x7f");
  EXPECT_EQ(EscapeOneLine("p\xe2\x80\xa8q\xc2\x85r"), "p\\u2028q\\u0085r");  // LS, NEL
  EXPECT_EQ(EscapeOneLine("\xc3\xa9\xff"), "\xc3\xa9\\xff");
  EXPECT_EQ(EscapeOneLine("plain text"), "plain text");
}

// ------------------------------------------------- library, hand-built data

// Documents packed into chunks of `seq` tokens across shards of
// `per_shard` chunks, written with ShardBuilder, with a manifest written by
// hand: the expected pieces are known exactly.
class InspectLibraryTest : public ::testing::Test {
 protected:
  struct Doc {
    std::string text;
    uint32_t source;
    uint64_t document;
    std::vector<int32_t> ids;  // BOS + ids
  };
  struct Chunk {
    std::string shard;
    uint64_t chunk_in_shard;
    std::vector<int32_t> tokens;
    std::vector<Segment> segs;
  };

  void SetUp() override {
    auto tok = Tokenizer::Load(testing::DemoModelPath());
    ASSERT_TRUE(tok.ok()) << tok.status().message();
    tok_ = std::move(*tok);
    const char* texts[] = {
        "The first document.\nIt has two lines.",
        "Short one.",
        "A third document that is somewhat longer than the others, so that it is split over chunks "
        "and shows up as a start, a middle and an end piece. \"Quotes\" and\ttabs too.",
        "Tail.",
        "The last document, which ends in a partial chunk.",
    };
    for (size_t i = 0; i < std::size(texts); ++i) {
      Doc d;
      d.text = texts[i];
      d.source = static_cast<uint32_t>(i % 2);
      d.document = (uint64_t{i % 2} << 32) | (10 + i);
      d.ids.push_back(tok_->bos_id());
      ASSERT_TRUE(tok_->Encode(d.text, false, false, &d.ids).ok());
      docs_.push_back(d);
    }
  }

  // Packs every document into chunks of `seq` tokens (the last may be short).
  std::vector<Chunk> Pack(uint32_t seq, uint64_t per_shard) {
    std::vector<Chunk> chunks;
    Chunk cur;
    for (const Doc& d : docs_) {
      uint64_t off = 0;
      while (off < d.ids.size()) {
        uint64_t n = std::min<uint64_t>(d.ids.size() - off, seq - cur.tokens.size());
        Segment s;
        s.start = static_cast<uint32_t>(cur.tokens.size());
        s.length = static_cast<uint32_t>(n);
        s.source = d.source;
        s.document = d.document;
        s.doc_offset = off;
        s.doc_tokens = d.ids.size();
        cur.segs.push_back(s);
        cur.tokens.insert(cur.tokens.end(), d.ids.begin() + static_cast<long>(off),
                          d.ids.begin() + static_cast<long>(off + n));
        off += n;
        if (cur.tokens.size() == seq) chunks.push_back(std::exchange(cur, Chunk{}));
      }
    }
    if (!cur.tokens.empty()) chunks.push_back(cur);
    for (size_t i = 0; i < chunks.size(); ++i) {
      char name[32];
      std::snprintf(name, sizeof(name), "part-%05zu", i / per_shard);
      chunks[i].shard = name;
      chunks[i].chunk_in_shard = i % per_shard;
      for (auto& s : chunks[i].segs) s.chunk = static_cast<uint32_t>(i % per_shard);
    }
    return chunks;
  }

  // Writes the chunks as a dataset in `dir`; returns its manifest.
  json Write(const std::string& dir, const std::vector<Chunk>& chunks, TokenDtype dtype, uint32_t seq) {
    fs::create_directories(dir);
    json shards = json::array();
    std::unique_ptr<ShardBuilder> b;
    std::string current;
    auto finish = [&] {
      if (!b) return;
      auto info = b->Finish();
      EXPECT_TRUE(info.ok()) << info.status().message();
      shards.push_back({{"name", info->name}, {"chunks", info->chunks}, {"tokens", info->tokens}});
      b.reset();
    };
    for (const Chunk& c : chunks) {
      if (c.shard != current) {
        finish();
        auto nb = ShardBuilder::Create(dir, c.shard, dtype);
        EXPECT_TRUE(nb.ok()) << nb.status().message();
        b = std::move(*nb);
        current = c.shard;
      }
      EXPECT_TRUE(b->AddChunk(c.tokens, c.segs).ok());
    }
    finish();
    json m;
    m["format"] = "lcde-dataset";
    m["format_version"] = 1;
    m["dtype"] = dtype == TokenDtype::kInt32 ? "int32" : "uint16";
    m["dtype_code"] = static_cast<int>(dtype);
    m["sequence_length"] = seq;
    m["tokenizer"] = {{"model", testing::DemoModelPath()},
                      {"sha256", tok_->sha256()},
                      {"vocab_size", tok_->vocab_size()}};
    m["sources"] = json::array({{{"id", 0}, {"name", "SrcA"}}, {{"id", 1}, {"name", "SrcB"}}});
    m["inputs"] = json::array({{{"index", 0}, {"path", "/data/a.jsonl"}}, {{"index", 1}, {"path", "/data/b.jsonl.zst"}}});
    m["shards"] = shards;
    EXPECT_TRUE(WriteManifest(dir, m).ok());
    return m;
  }

  const Doc& DocOf(uint64_t document) const {
    for (const Doc& d : docs_)
      if (d.document == document) return d;
    throw std::runtime_error("no such document");
  }

  // Every chunk's inspection matches what was packed, texts included.
  void ExpectMatches(const std::string& dir, const json& m, const std::vector<Chunk>& chunks) {
    std::set<std::string> parts;
    for (uint64_t g = 0; g < chunks.size(); ++g) {
      InspectOptions opt;
      opt.decode = true;
      auto r = InspectChunk(dir, m, g, opt);
      ASSERT_TRUE(r.ok()) << r.status().message();
      const Chunk& c = chunks[g];
      EXPECT_EQ(r->chunk, g);
      EXPECT_EQ(r->chunks, chunks.size());
      EXPECT_EQ(r->shard, c.shard);
      EXPECT_EQ(r->chunk_in_shard, c.chunk_in_shard);
      EXPECT_EQ(r->tokens, c.tokens.size());
      EXPECT_TRUE(r->warnings.empty());
      ASSERT_EQ(r->pieces.size(), c.segs.size()) << "chunk " << g;
      for (size_t i = 0; i < c.segs.size(); ++i) {
        const Segment& s = c.segs[i];
        const InspectedPiece& p = r->pieces[i];
        EXPECT_EQ(p.start, s.start);
        EXPECT_EQ(p.length, s.length);
        EXPECT_EQ(p.source_id, s.source);
        EXPECT_EQ(p.source, s.source == 0 ? "SrcA" : "SrcB");
        EXPECT_EQ(p.document, s.document);
        EXPECT_EQ(p.input_index, s.document >> 32);
        EXPECT_EQ(p.file, s.document >> 32 == 0 ? "/data/a.jsonl" : "/data/b.jsonl.zst");
        EXPECT_EQ(p.line, s.document & 0xffffffffu);
        EXPECT_EQ(p.doc_offset, s.doc_offset);
        EXPECT_EQ(p.doc_tokens, s.doc_tokens);
        EXPECT_EQ(p.part, PiecePartOf(s.doc_offset, s.length, s.doc_tokens));
        parts.insert(PiecePartName(p.part));
        const Doc& d = DocOf(s.document);
        ASSERT_TRUE(p.text.has_value());
        if (p.part == PiecePart::kWhole) {
          EXPECT_EQ(*p.text, d.text);
        } else {
          std::vector<int32_t> ids(d.ids.begin() + static_cast<long>(s.doc_offset),
                                   d.ids.begin() + static_cast<long>(s.doc_offset + s.length));
          EXPECT_EQ(*p.text, tok_->Decode(ids));
        }
      }
      // Without decode: no text, and no tokenizer needed.
      auto plain = InspectChunk(dir, m, g);
      ASSERT_TRUE(plain.ok());
      for (const auto& p : plain->pieces) EXPECT_FALSE(p.text.has_value());
    }
    EXPECT_EQ(parts, (std::set<std::string>{"whole", "start", "middle", "end"}));
  }

  testing::TempDir tmp_;
  std::unique_ptr<Tokenizer> tok_;
  std::vector<Doc> docs_;
};

TEST_F(InspectLibraryTest, EveryChunkOfAUint16Dataset) {
  const uint32_t seq = 16;
  auto chunks = Pack(seq, 3);
  ASSERT_GE(chunks.size(), 4u);  // more than one shard
  ASSERT_LT(chunks.back().tokens.size(), seq) << "the test wants a partial last chunk";
  std::string dir = tmp_.Join("u16");
  json m = Write(dir, chunks, TokenDtype::kUint16, seq);
  ExpectMatches(dir, m, chunks);
}

TEST_F(InspectLibraryTest, EveryChunkOfAnInt32Dataset) {
  const uint32_t seq = 16;
  auto chunks = Pack(seq, 2);
  std::string dir = tmp_.Join("i32");
  json m = Write(dir, chunks, TokenDtype::kInt32, seq);
  ExpectMatches(dir, m, chunks);
}

TEST_F(InspectLibraryTest, ReadsOnlyTheChunkFromTheBin) {
  // A .bin truncated after the inspected chunk still decodes it: only that
  // range is read. The chunk after it fails as corruption.
  const uint32_t seq = 16;
  auto chunks = Pack(seq, 100);
  ASSERT_GE(chunks.size(), 3u);
  std::string dir = tmp_.Join("trunc");
  json m = Write(dir, chunks, TokenDtype::kUint16, seq);
  fs::resize_file(dir + "/part-00000.bin", 2 * seq * 2);  // chunks 0 and 1 only
  InspectOptions opt;
  opt.decode = true;
  EXPECT_TRUE(InspectChunk(dir, m, 1, opt).ok());
  auto bad = InspectChunk(dir, m, 2, opt);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kCorruption);
  EXPECT_NE(bad.status().message().find("part-00000.bin"), std::string::npos);
  EXPECT_TRUE(InspectChunk(dir, m, 2).ok());  // no decode, no .bin
}

TEST_F(InspectLibraryTest, Errors) {
  const uint32_t seq = 16;
  auto chunks = Pack(seq, 3);
  std::string dir = tmp_.Join("err");
  json m = Write(dir, chunks, TokenDtype::kUint16, seq);
  InspectOptions decode;
  decode.decode = true;

  auto out = InspectChunk(dir, m, chunks.size());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kInvalidConfig);
  EXPECT_NE(out.status().message().find("out of range"), std::string::npos) << out.status().message();
  EXPECT_NE(out.status().message().find("0.." + std::to_string(chunks.size() - 1)), std::string::npos);

  // A different model file than the manifest's: a warning, still decoded.
  json wrong_sha = m;
  wrong_sha["tokenizer"]["sha256"] = std::string(64, '0');
  auto w = InspectChunk(dir, wrong_sha, 0, decode);
  ASSERT_TRUE(w.ok()) << w.status().message();
  ASSERT_EQ(w->warnings.size(), 1u);
  EXPECT_NE(w->warnings[0].find("sha256"), std::string::npos);
  EXPECT_TRUE(w->pieces[0].text.has_value());

  // No model at the manifest's path: a clear kNotFound, only when decoding.
  json no_model = m;
  no_model["tokenizer"]["model"] = "/nope/tok.model";
  auto nm = InspectChunk(dir, no_model, 0, decode);
  ASSERT_FALSE(nm.ok());
  EXPECT_EQ(nm.status().code(), Status::Code::kNotFound);
  EXPECT_NE(nm.status().message().find("/nope/tok.model"), std::string::npos);
  EXPECT_TRUE(InspectChunk(dir, no_model, 0).ok());

  // A source or input index the manifest lacks.
  json few = m;
  few["inputs"] = json::array({m["inputs"][0]});
  bool failed = false;
  for (uint64_t g = 0; g < chunks.size(); ++g) {
    auto r = InspectChunk(dir, few, g);
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Status::Code::kCorruption);
      EXPECT_NE(r.status().message().find("input file 1"), std::string::npos) << r.status().message();
      failed = true;
    }
  }
  EXPECT_TRUE(failed);

  // A damaged .idx magic and a missing .seg.
  std::string idx = testing::ReadFile(dir + "/part-00001.idx");
  idx[0] = 'X';
  testing::WriteFile(dir + "/part-00001.idx", idx);
  auto bad_idx = InspectChunk(dir, m, 3);
  ASSERT_FALSE(bad_idx.ok());
  EXPECT_EQ(bad_idx.status().code(), Status::Code::kCorruption);
  EXPECT_NE(bad_idx.status().message().find("part-00001.idx"), std::string::npos);
  fs::remove(dir + "/part-00000.seg");
  auto no_seg = InspectChunk(dir, m, 0);
  ASSERT_FALSE(no_seg.ok());
  EXPECT_EQ(no_seg.status().code(), Status::Code::kNotFound);
  EXPECT_NE(no_seg.status().message().find("part-00000.seg"), std::string::npos);
}

TEST_F(InspectLibraryTest, JsonAndHumanOutput) {
  const uint32_t seq = 16;
  auto chunks = Pack(seq, 3);
  std::string dir = tmp_.Join("fmt");
  json m = Write(dir, chunks, TokenDtype::kUint16, seq);
  InspectOptions opt;
  opt.decode = true;
  auto r = InspectChunk(dir, m, 0, opt);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->pieces[0].part, PiecePart::kWhole);
  ASSERT_EQ(*r->pieces[0].text, docs_[0].text);  // holds a newline

  json j = InspectionToJson(*r, 5);
  EXPECT_EQ(j["chunk"], 0);
  EXPECT_EQ(j["shard"], "part-00000");
  EXPECT_EQ(j["chunk_in_shard"], 0);
  EXPECT_EQ(j["tokens"], seq);
  ASSERT_EQ(j["pieces"].size(), r->pieces.size());
  const json& p0 = j["pieces"][0];
  EXPECT_EQ(p0["source"], "SrcA");
  EXPECT_EQ(p0["file"], "/data/a.jsonl");
  EXPECT_EQ(p0["line"], 10);
  EXPECT_EQ(p0["document"], docs_[0].document);
  EXPECT_EQ(p0["part"], "whole");
  EXPECT_EQ(p0["text"], docs_[0].text.substr(0, 5));
  EXPECT_EQ(p0["text_chars"], docs_[0].text.size());
  EXPECT_EQ(p0["text_truncated"], true);
  EXPECT_EQ(InspectionToJson(*r, 0)["pieces"][0]["text"], docs_[0].text);
  EXPECT_FALSE(InspectionToJson(*InspectChunk(dir, m, 0), 5)["pieces"][0].contains("text"));

  std::string human = FormatInspection(*r, 8);
  std::istringstream lines(human);
  std::string line;
  std::vector<std::string> all;
  while (std::getline(lines, line)) all.push_back(line);
  ASSERT_EQ(all.size(), 2 + r->pieces.size()) << human;  // header, columns, one line per piece
  EXPECT_NE(all[0].find("chunk 0 of " + std::to_string(chunks.size())), std::string::npos) << all[0];
  EXPECT_NE(all[2].find("/data/a.jsonl:10"), std::string::npos) << all[2];
  EXPECT_NE(all[2].find("\"The firs\xe2\x80\xa6\""), std::string::npos) << all[2];
  EXPECT_NE(all[2].find("tokens, " + std::to_string(docs_[0].text.size()) + " chars)"), std::string::npos);
  // The whole text, newline escaped, still on one line.
  std::string full = FormatInspection(*r, 0);
  EXPECT_NE(full.find("\"The first document.\\nIt has two lines.\""), std::string::npos) << full;
}

// -------------------------------------------------------- CLI, real build

struct Seg {
  uint32_t chunk, start, length, source;
  uint64_t document, doc_offset, doc_tokens;
};
static_assert(sizeof(Seg) == 40);

// Lines of .jsonl.zst files, read with the zstd CLI and parsed with simdjson,
// independent of lcde's reader.
class Corpus {
 public:
  // {text, meta.redpajama_set_name} of 1-based line `line`.
  std::pair<std::string, std::string> Line(const std::string& path, uint64_t line) {
    auto& lines = files_[path];
    if (lines.empty()) lines = testing::ZstdFileLines(path);
    EXPECT_LE(line, lines.size()) << path;
    if (line == 0 || line > lines.size()) return {};
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    EXPECT_EQ(parser.parse(lines[line - 1]).get(doc), simdjson::SUCCESS) << path << ":" << line;
    std::string_view text, source;
    EXPECT_EQ(doc["text"].get(text), simdjson::SUCCESS);
    EXPECT_EQ(doc["meta"]["redpajama_set_name"].get(source), simdjson::SUCCESS);
    return {std::string(text), std::string(source)};
  }

 private:
  std::map<std::string, std::vector<std::string>> files_;
};

class InspectCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    std::string corpus = testing::CachedSampleCorpus("--tokens 4000000 --files 6 --seed 5");
    ASSERT_FALSE(corpus.empty());
    out_ = dir_->Join("out");
    std::string config = dir_->Join("mix.yaml");
    testing::WriteFile(config, "seed: 11\n"
                               "input: {paths: [" + corpus + "]}\n"
                               "tokenizer: {model: " + testing::DemoModelPath() + "}\n"
                               "mixture: {total_tokens: 200K, strategy: per_source}\n"
                               "output: {dir: " + out_ + ", sequence_length: 8K, chunks_per_shard: 10}\n");
    auto r = Lcde("build -q -c " + config);
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }
  static void TearDownTestSuite() { delete dir_; }

  static testing::CommandResult Lcde(const std::string& args) {
    return RunCommand(testing::LcdeBinary() + " " + args);
  }

  // Every chunk's .seg records, by global chunk, read independently.
  static std::vector<std::vector<Seg>> ReadSegs(const json& m, std::vector<std::pair<std::string, uint32_t>>* where) {
    std::vector<std::vector<Seg>> out;
    for (const auto& shard : m["shards"]) {
      std::string name = shard["name"];
      std::string seg = testing::ReadFile(out_ + "/" + name + ".seg");
      EXPECT_EQ(seg.substr(0, 8), std::string("LCDESEG\0", 8));
      size_t first = out.size();
      uint64_t n = shard["chunks"];
      out.resize(first + n);
      for (uint64_t i = 0; i < n; ++i) where->push_back({name, static_cast<uint32_t>(i)});
      for (size_t off = 16; off + 40 <= seg.size(); off += 40) {
        Seg s;
        std::memcpy(&s, seg.data() + off, 40);
        EXPECT_LT(s.chunk, n);
        if (s.chunk < n) out[first + s.chunk].push_back(s);
      }
    }
    return out;
  }

  static testing::TempDir* dir_;
  static std::string out_;
};

testing::TempDir* InspectCliTest::dir_ = nullptr;
std::string InspectCliTest::out_;

TEST_F(InspectCliTest, JsonPiecesAreTheSegRecordsAndTheCorpus) {
  json m = json::parse(testing::ReadFile(out_ + "/manifest.json"));
  std::vector<std::pair<std::string, uint32_t>> where;
  auto segs = ReadSegs(m, &where);
  ASSERT_GE(m["shards"].size(), 3u);
  ASSERT_EQ(segs.size(), m["totals"]["chunks"].get<uint64_t>());
  const uint64_t seq = m["sequence_length"];
  Corpus corpus;
  size_t whole_checked = 0, pieces_checked = 0;
  for (uint64_t g = 0; g < segs.size(); ++g) {
    auto r = Lcde("inspect " + out_ + " --chunk " + std::to_string(g) + " --json --decode --max-chars 0");
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    EXPECT_EQ(r.stderr_text, "") << "no warning for the dataset's own model";
    json j = json::parse(r.stdout_text);
    EXPECT_EQ(j["chunk"], g);
    EXPECT_EQ(j["shard"], where[g].first);
    EXPECT_EQ(j["chunk_in_shard"], where[g].second);
    EXPECT_EQ(j["tokens"], seq);
    ASSERT_EQ(j["pieces"].size(), segs[g].size()) << "chunk " << g;
    for (size_t i = 0; i < segs[g].size(); ++i) {
      const Seg& s = segs[g][i];
      const json& p = j["pieces"][i];
      std::string file = m["inputs"][s.document >> 32]["path"];
      uint64_t line = s.document & 0xffffffffu;
      EXPECT_EQ(p["source"], m["sources"][s.source]["name"]);
      EXPECT_EQ(p["document"], s.document);
      EXPECT_EQ(p["file"], file);
      EXPECT_EQ(p["line"], line);
      EXPECT_EQ(p["start"], s.start);
      EXPECT_EQ(p["length"], s.length);
      EXPECT_EQ(p["doc_offset"], s.doc_offset);
      EXPECT_EQ(p["doc_tokens"], s.doc_tokens);
      // file:line is a corpus line of the piece's source.
      auto [text, source] = corpus.Line(file, line);
      EXPECT_EQ(source, p["source"].get<std::string>()) << file << ":" << line;
      bool whole = s.doc_offset == 0 && s.length == s.doc_tokens;
      EXPECT_EQ(p["part"], whole ? "whole" : s.doc_offset == 0 ? "start"
                                   : s.doc_offset + s.length == s.doc_tokens ? "end" : "middle");
      ASSERT_TRUE(p.contains("text"));
      EXPECT_EQ(p["text_truncated"], false);
      if (whole) {
        EXPECT_EQ(p["text"].get<std::string>(), text) << file << ":" << line;
        whole_checked++;
      }
      pieces_checked++;
    }
  }
  EXPECT_GT(whole_checked, 20u);
  EXPECT_GT(pieces_checked, whole_checked);
}

TEST_F(InspectCliTest, HumanOutputNamesFileAndLine) {
  json m = json::parse(testing::ReadFile(out_ + "/manifest.json"));
  std::vector<std::pair<std::string, uint32_t>> where;
  auto segs = ReadSegs(m, &where);
  uint64_t g = 13;  // in the second shard
  ASSERT_LT(g, segs.size());
  auto r = Lcde("inspect " + out_ + " --chunk " + std::to_string(g));
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("part-00001 chunk 3"), std::string::npos) << r.stdout_text;
  for (const Seg& s : segs[g]) {
    std::string file_line = m["inputs"][s.document >> 32]["path"].get<std::string>() + ":" +
                            std::to_string(s.document & 0xffffffffu);
    EXPECT_NE(r.stdout_text.find(file_line), std::string::npos) << file_line << "\n" << r.stdout_text;
  }
  // --decode: still one line per piece, text cut to --max-chars with an ellipsis.
  auto d = Lcde("inspect " + out_ + " --chunk " + std::to_string(g) + " --decode --max-chars 30");
  ASSERT_EQ(d.exit_code, 0) << d.stderr_text;
  size_t lines = std::count(d.stdout_text.begin(), d.stdout_text.end(), '\n');
  EXPECT_EQ(lines, 2 + segs[g].size()) << d.stdout_text;
  EXPECT_NE(d.stdout_text.find("\xe2\x80\xa6\" ("), std::string::npos) << d.stdout_text;
  EXPECT_NE(d.stdout_text.find(" tokens, "), std::string::npos);
}

TEST_F(InspectCliTest, BadArgumentsExitTwo) {
  json m = json::parse(testing::ReadFile(out_ + "/manifest.json"));
  uint64_t chunks = m["totals"]["chunks"];
  auto past = Lcde("inspect " + out_ + " --chunk " + std::to_string(chunks));
  EXPECT_EQ(past.exit_code, 2) << past.stderr_text;
  EXPECT_NE(past.stderr_text.find("out of range"), std::string::npos) << past.stderr_text;
  EXPECT_EQ(past.stdout_text, "");
  EXPECT_EQ(Lcde("inspect " + out_ + " --chunk -1").exit_code, 2);
  EXPECT_EQ(Lcde("inspect " + out_).exit_code, 2);  // --chunk is required
  EXPECT_EQ(Lcde("inspect " + dir_->Join("nope") + " --chunk 0").exit_code, 2);
  EXPECT_EQ(Lcde("inspect " + out_ + " --chunk " + std::to_string(chunks - 1)).exit_code, 0);
}

TEST_F(InspectCliTest, TokenizerModelMissingOrDifferent) {
  // A copy of the dataset whose manifest names another model file.
  std::string copy = dir_->Join("copy");
  fs::copy(out_, copy);
  json m = json::parse(testing::ReadFile(out_ + "/manifest.json"));
  std::string model_copy = dir_->Join("copied.model");
  std::string bytes = testing::ReadFile(testing::DemoModelPath());
  testing::WriteFile(model_copy, bytes);

  m["tokenizer"]["model"] = dir_->Join("gone.model");
  testing::WriteFile(copy + "/manifest.json", m.dump(2));
  auto gone = Lcde("inspect " + copy + " --chunk 0 --decode");
  EXPECT_EQ(gone.exit_code, 2) << gone.stderr_text;
  EXPECT_NE(gone.stderr_text.find("gone.model"), std::string::npos) << gone.stderr_text;
  EXPECT_EQ(Lcde("inspect " + copy + " --chunk 0").exit_code, 0);  // listing needs no model

  m["tokenizer"]["model"] = model_copy;
  m["tokenizer"]["sha256"] = std::string(64, 'a');
  testing::WriteFile(copy + "/manifest.json", m.dump(2));
  auto differ = Lcde("inspect " + copy + " --chunk 0 --decode");
  EXPECT_EQ(differ.exit_code, 0) << differ.stderr_text;
  EXPECT_NE(differ.stderr_text.find("warning"), std::string::npos) << differ.stderr_text;
  EXPECT_NE(differ.stderr_text.find("sha256"), std::string::npos) << differ.stderr_text;
}

}  // namespace
}  // namespace lcde
