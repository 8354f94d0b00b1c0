#include "lcde/reader.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"

namespace lcde {
namespace {

namespace fs = std::filesystem;
using ::lcde::testing::TempDir;
using ::lcde::testing::WriteFile;
using ::lcde::testing::ZstdCompress;

struct Doc {
  uint64_t line;
  std::string source;
  std::string text;
  bool operator==(const Doc&) const = default;
};

struct ReadAll {
  std::vector<Doc> docs;
  RejectStats rejects;
  uint64_t lines_read = 0;
  uint64_t bytes_read = 0;
};

ReadAll ReadFileDocs(const std::string& path, const InputConfig& config = InputConfig{},
                     uint32_t file_index = 7) {
  ReadAll out;
  auto reader = DocumentReader::Open(path, file_index, config);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return out;
  Document doc;
  while ((*reader)->Next(&doc)) {
    EXPECT_EQ(doc.file_index, file_index);
    EXPECT_EQ(doc.Id(), (uint64_t{file_index} << 32) | doc.line);
    out.docs.push_back({doc.line, std::string(doc.source), std::string(doc.text)});
  }
  // Once finished, a reader stays finished.
  EXPECT_FALSE((*reader)->Next(&doc));
  out.rejects = (*reader)->rejects();
  out.lines_read = (*reader)->lines_read();
  out.bytes_read = (*reader)->bytes_read();
  return out;
}

uint64_t Count(const RejectStats& s, RejectReason r) { return s.counts[static_cast<size_t>(r)]; }

std::vector<uint64_t> ExampleLines(const RejectStats& s, RejectReason r) {
  std::vector<uint64_t> lines;
  for (const auto& [reason, ex] : s.examples) {
    if (reason == r) lines.push_back(ex.line);
  }
  return lines;
}

std::string JsonLine(const std::string& text, const std::string& source = "RedPajamaC4") {
  return R"({"text": ")" + text + R"(", "meta": {"redpajama_set_name": ")" + source + "\"}}";
}

// Deterministic pseudo-random lines of varied length, so that lines straddle
// the reader's buffer refills and zstd block boundaries.
std::pair<std::string, std::vector<Doc>> MakeCorpus(int n) {
  std::string data;
  std::vector<Doc> expected;
  uint64_t x = 12345;
  for (int i = 0; i < n; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    size_t len = 1 + (x >> 33) % 3000;
    std::string text;
    for (size_t k = 0; k < len; ++k) text += static_cast<char>('a' + (k * 7 + i) % 26);
    std::string source = (i % 3 == 0) ? "RedPajamaBook" : "RedPajamaC4";
    data += JsonLine(text, source) + "\n";
    expected.push_back({static_cast<uint64_t>(i + 1), source, text});
  }
  return {data, expected};
}

TEST(ReaderTest, PlainAndZstdGiveIdenticalDocuments) {
  TempDir tmp;
  auto [data, expected] = MakeCorpus(1500);
  ASSERT_GT(data.size(), size_t{1} << 20);  // several buffer refills
  WriteFile(tmp.Join("a.jsonl"), data);
  WriteFile(tmp.Join("a.jsonl.zst"), ZstdCompress(data));

  ReadAll plain = ReadFileDocs(tmp.Join("a.jsonl"));
  ReadAll zst = ReadFileDocs(tmp.Join("a.jsonl.zst"));
  EXPECT_EQ(plain.docs, expected);
  EXPECT_EQ(zst.docs, expected);
  EXPECT_EQ(plain.rejects.total(), 0u);
  EXPECT_EQ(zst.rejects.total(), 0u);
  EXPECT_EQ(plain.lines_read, 1500u);
  EXPECT_EQ(zst.lines_read, 1500u);
  EXPECT_EQ(plain.bytes_read, data.size());
  EXPECT_EQ(zst.bytes_read, data.size());
}

TEST(ReaderTest, MultiFrameZstd) {
  TempDir tmp;
  auto [data, expected] = MakeCorpus(300);
  // Frame boundaries inside lines too: frames are a byte stream, not records.
  size_t cut1 = data.size() / 3 + 17, cut2 = 2 * data.size() / 3 + 5;
  std::string zst = ZstdCompress(data.substr(0, cut1)) +
                    ZstdCompress(data.substr(cut1, cut2 - cut1), 1) +
                    ZstdCompress(data.substr(cut2), 19);
  WriteFile(tmp.Join("m.jsonl.zst"), zst);
  ReadAll r = ReadFileDocs(tmp.Join("m.jsonl.zst"));
  EXPECT_EQ(r.docs, expected);
  EXPECT_EQ(r.rejects.total(), 0u);
}

TEST(ReaderTest, ManySmallFramesOnLineBoundaries) {
  TempDir tmp;
  std::string zst, plain;
  for (int i = 0; i < 50; ++i) {
    std::string line = JsonLine("doc " + std::to_string(i)) + "\n";
    plain += line;
    zst += ZstdCompress(line);
  }
  WriteFile(tmp.Join("f.jsonl.zst"), zst);
  ReadAll r = ReadFileDocs(tmp.Join("f.jsonl.zst"));
  ASSERT_EQ(r.docs.size(), 50u);
  EXPECT_EQ(r.docs[49].text, "doc 49");
  EXPECT_EQ(r.bytes_read, plain.size());
  EXPECT_EQ(r.rejects.total(), 0u);
}

TEST(ReaderTest, TextIsUnescaped) {
  TempDir tmp;
  std::string line =
      R"({"text": "a\nb \"q\" back\\slash \u00e9t\u00E9 \ud83d\ude00 tab\t/ \/ \u0000end", )"
      R"("meta": {"redpajama_set_name": "Src\u0041"}})";
  WriteFile(tmp.Join("e.jsonl"), line + "\n");
  ReadAll r = ReadFileDocs(tmp.Join("e.jsonl"));
  ASSERT_EQ(r.docs.size(), 1u);
  std::string want = "a\nb \"q\" back\\slash \xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80 tab\t/ / ";
  want += '\0';
  want += "end";
  EXPECT_EQ(r.docs[0].text, want);
  EXPECT_EQ(r.docs[0].source, "SrcA");
}

TEST(ReaderTest, RawUtf8PassesThrough) {
  TempDir tmp;
  WriteFile(tmp.Join("u.jsonl"), JsonLine("caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80") + "\n");
  ReadAll r = ReadFileDocs(tmp.Join("u.jsonl"));
  ASSERT_EQ(r.docs.size(), 1u);
  EXPECT_EQ(r.docs[0].text, "caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80");
}

TEST(ReaderTest, DottedSourceKeyAndCustomTextKey) {
  TempDir tmp;
  WriteFile(tmp.Join("k.jsonl"),
            R"({"content": "hello", "text": "not me", "a": {"b": {"c": "deep"}, "x": 1}})"
            "\n"
            R"({"content": "no source", "a": {"b": {"c": 5}}})"
            "\n"
            R"({"content": "no source", "a": {"b": "flat"}})"
            "\n"
            R"({"text": "no content", "a": {"b": {"c": "deep"}}})"
            "\n");
  InputConfig config;
  config.text_key = "content";
  config.source_key = "a.b.c";
  ReadAll r = ReadFileDocs(tmp.Join("k.jsonl"), config);
  ASSERT_EQ(r.docs.size(), 1u);
  EXPECT_EQ(r.docs[0], (Doc{1, "deep", "hello"}));
  EXPECT_EQ(Count(r.rejects, RejectReason::kMissingSource), 2u);
  EXPECT_EQ(Count(r.rejects, RejectReason::kMissingText), 1u);
  EXPECT_EQ(ExampleLines(r.rejects, RejectReason::kMissingText), std::vector<uint64_t>{4});

  config.source_key = "source";  // a top-level source key works too
  WriteFile(tmp.Join("t.jsonl"), R"({"text": "x", "source": "top"})"
                                 "\n");
  InputConfig top_level;
  top_level.source_key = "source";
  ReadAll top = ReadFileDocs(tmp.Join("t.jsonl"), top_level);
  ASSERT_EQ(top.docs.size(), 1u);
  EXPECT_EQ(top.docs[0].source, "top");
}

TEST(ReaderTest, CrlfBomBlankLinesAndMissingFinalNewline) {
  TempDir tmp;
  std::string data = "\xEF\xBB\xBF" + JsonLine("first") + "\r\n" +  // line 1 after a BOM
                     "\r\n" +                                       // 2 blank
                     "   \t \n" +                                   // 3 whitespace only
                     JsonLine("fourth", "S\\r") + "\r\n" +          // 4: escaped \r stays
                     "\n" +                                         // 5 blank
                     JsonLine("last");                              // 6 no newline
  for (const std::string name : {"c.jsonl", "c.jsonl.zst"}) {
    WriteFile(tmp.Join(name), name.ends_with(".zst") ? ZstdCompress(data) : data);
    ReadAll r = ReadFileDocs(tmp.Join(name));
    SCOPED_TRACE(name);
    ASSERT_EQ(r.docs.size(), 3u);
    EXPECT_EQ(r.docs[0], (Doc{1, "RedPajamaC4", "first"}));
    EXPECT_EQ(r.docs[1], (Doc{4, "S\r", "fourth"}));
    EXPECT_EQ(r.docs[2], (Doc{6, "RedPajamaC4", "last"}));
    EXPECT_EQ(r.rejects.total(), 0u);  // blank lines are skipped silently
    EXPECT_EQ(r.lines_read, 3u);       // and are not counted as lines read
    EXPECT_EQ(r.bytes_read, data.size());
  }
}

TEST(ReaderTest, BomOnlyAtStartOfFile) {
  TempDir tmp;
  WriteFile(tmp.Join("b.jsonl"), JsonLine("one") + "\n\xEF\xBB\xBF" + JsonLine("two") + "\n");
  ReadAll r = ReadFileDocs(tmp.Join("b.jsonl"));
  ASSERT_EQ(r.docs.size(), 1u);
  EXPECT_EQ(Count(r.rejects, RejectReason::kMalformedJson), 1u);
  EXPECT_EQ(ExampleLines(r.rejects, RejectReason::kMalformedJson), std::vector<uint64_t>{2});
}

TEST(ReaderTest, EmptyFiles) {
  TempDir tmp;
  WriteFile(tmp.Join("e.jsonl"), "");
  WriteFile(tmp.Join("e.jsonl.zst"), "");
  WriteFile(tmp.Join("z.jsonl.zst"), ZstdCompress(""));
  WriteFile(tmp.Join("w.jsonl"), "\n\n  \n");
  for (const char* name : {"e.jsonl", "e.jsonl.zst", "z.jsonl.zst", "w.jsonl"}) {
    ReadAll r = ReadFileDocs(tmp.Join(name));
    EXPECT_TRUE(r.docs.empty()) << name;
    EXPECT_EQ(r.rejects.total(), 0u) << name;
  }
}

TEST(ReaderTest, EachRejectReasonCountedWithLine) {
  TempDir tmp;
  std::string meta = R"("meta": {"redpajama_set_name": "S"})";
  std::vector<std::string> lines = {
      JsonLine("good 1"),                                           // 1
      R"({"text": "unterminated", )",                               // 2 malformed
      R"([1, 2, 3])",                                               // 3 not an object
      R"("just a string")",                                         // 4 not an object
      "{" + meta + "}",                                             // 5 missing text
      R"({"text": 42, )" + meta + "}",                              // 6 text not a string
      R"({"text": "no meta"})",                                     // 7 missing source
      R"({"text": "x", "meta": {"redpajama_set_name": null}})",     // 8 source not a string
      R"({"text": "", )" + meta + "}",                              // 9 empty text
      "{\"text\": \"bad \xFF\xFE bytes\", " + meta + "}",           // 10 invalid UTF-8
      "{\"text\": \"ok\", \"other\": \"\xC3\x28\", " + meta + "}",  // 11 invalid UTF-8 elsewhere
      R"({"text": "trailing"} garbage)",                            // 12 malformed
      JsonLine("good 13"),                                          // 13
      "42",                                                         // 14 not an object
  };
  std::string data;
  for (const auto& l : lines) data += l + "\n";
  WriteFile(tmp.Join("r.jsonl"), data);
  ReadAll r = ReadFileDocs(tmp.Join("r.jsonl"));

  ASSERT_EQ(r.docs.size(), 2u);
  EXPECT_EQ(r.docs[0].line, 1u);
  EXPECT_EQ(r.docs[1].line, 13u);
  EXPECT_EQ(r.lines_read, lines.size());
  using V = std::vector<uint64_t>;
  EXPECT_EQ(ExampleLines(r.rejects, RejectReason::kMalformedJson), (V{2, 12}));
  EXPECT_EQ(ExampleLines(r.rejects, RejectReason::kNotAnObject), (V{3, 4, 14}));
  EXPECT_EQ(ExampleLines(r.rejects, RejectReason::kMissingText), (V{5, 6}));
  EXPECT_EQ(ExampleLines(r.rejects, RejectReason::kMissingSource), (V{7, 8}));
  EXPECT_EQ(ExampleLines(r.rejects, RejectReason::kEmptyText), (V{9}));
  EXPECT_EQ(ExampleLines(r.rejects, RejectReason::kInvalidUtf8), (V{10, 11}));
  EXPECT_EQ(Count(r.rejects, RejectReason::kMalformedJson), 2u);
  EXPECT_EQ(Count(r.rejects, RejectReason::kNotAnObject), 3u);
  EXPECT_EQ(Count(r.rejects, RejectReason::kMissingText), 2u);
  EXPECT_EQ(Count(r.rejects, RejectReason::kMissingSource), 2u);
  EXPECT_EQ(Count(r.rejects, RejectReason::kEmptyText), 1u);
  EXPECT_EQ(Count(r.rejects, RejectReason::kInvalidUtf8), 2u);
  EXPECT_EQ(Count(r.rejects, RejectReason::kCorruptInput), 0u);
  EXPECT_EQ(r.rejects.total(), 12u);
  for (const auto& [reason, ex] : r.rejects.examples) {
    EXPECT_EQ(ex.file, tmp.Join("r.jsonl"));
    EXPECT_FALSE(ex.detail.empty());
  }
}

TEST(ReaderTest, ExamplesCappedButCountsExact) {
  TempDir tmp;
  std::string data;
  for (int i = 0; i < 100; ++i) data += "not json\n";
  WriteFile(tmp.Join("m.jsonl"), data);
  ReadAll r = ReadFileDocs(tmp.Join("m.jsonl"));
  EXPECT_EQ(Count(r.rejects, RejectReason::kMalformedJson), 100u);
  EXPECT_EQ(r.rejects.examples.size(), RejectStats::kMaxExamples);
  EXPECT_EQ(ExampleLines(r.rejects, RejectReason::kMalformedJson),
            (std::vector<uint64_t>{1, 2, 3, 4, 5}));
}

TEST(ReaderTest, TruncatedZstdKeepsEarlierDocuments) {
  TempDir tmp;
  std::string first, second;
  for (int i = 1; i <= 3; ++i) first += JsonLine("doc " + std::to_string(i)) + "\n";
  for (int i = 4; i <= 6; ++i) second += JsonLine("doc " + std::to_string(i)) + "\n";
  std::string frame2 = ZstdCompress(second);
  std::string zst = ZstdCompress(first) + frame2.substr(0, frame2.size() - 6);
  WriteFile(tmp.Join("t.jsonl.zst"), zst);
  ReadAll r = ReadFileDocs(tmp.Join("t.jsonl.zst"));
  ASSERT_EQ(r.docs.size(), 3u);
  EXPECT_EQ(r.docs[2].text, "doc 3");
  EXPECT_EQ(Count(r.rejects, RejectReason::kCorruptInput), 1u);
  EXPECT_EQ(r.rejects.total(), 1u);
  EXPECT_EQ(ExampleLines(r.rejects, RejectReason::kCorruptInput), std::vector<uint64_t>{4});

  // Cut only the frame header of the next frame: still a truncated frame.
  WriteFile(tmp.Join("h.jsonl.zst"), ZstdCompress(first) + frame2.substr(0, 2));
  ReadAll h = ReadFileDocs(tmp.Join("h.jsonl.zst"));
  EXPECT_EQ(h.docs.size(), 3u);
  EXPECT_EQ(Count(h.rejects, RejectReason::kCorruptInput), 1u);
}

TEST(ReaderTest, TruncatedLargeFrameReturnsAPrefix) {
  TempDir tmp;
  auto [data, expected] = MakeCorpus(800);  // > 1 MB: many zstd blocks
  std::string zst = ZstdCompress(data);
  WriteFile(tmp.Join("t.jsonl.zst"), zst.substr(0, zst.size() * 3 / 4));
  ReadAll r = ReadFileDocs(tmp.Join("t.jsonl.zst"));
  ASSERT_GT(r.docs.size(), 0u);
  ASSERT_LT(r.docs.size(), expected.size());
  for (size_t i = 0; i < r.docs.size(); ++i) ASSERT_EQ(r.docs[i], expected[i]);
  EXPECT_EQ(Count(r.rejects, RejectReason::kCorruptInput), 1u);
  EXPECT_EQ(ExampleLines(r.rejects, RejectReason::kCorruptInput),
            std::vector<uint64_t>{r.docs.size() + 1});
}

TEST(ReaderTest, CorruptFrameInTheMiddleStopsTheFile) {
  TempDir tmp;
  std::string first, third;
  for (int i = 1; i <= 2; ++i) first += JsonLine("doc " + std::to_string(i)) + "\n";
  for (int i = 3; i <= 4; ++i) third += JsonLine("doc " + std::to_string(i)) + "\n";
  std::string zst = ZstdCompress(first) + "this is not a zstd frame at all" + ZstdCompress(third);
  WriteFile(tmp.Join("c.jsonl.zst"), zst);
  ReadAll r = ReadFileDocs(tmp.Join("c.jsonl.zst"));
  ASSERT_EQ(r.docs.size(), 2u);
  EXPECT_EQ(r.docs[1].text, "doc 2");
  EXPECT_EQ(Count(r.rejects, RejectReason::kCorruptInput), 1u);
  EXPECT_EQ(ExampleLines(r.rejects, RejectReason::kCorruptInput), std::vector<uint64_t>{3});

  // A plain-text file wrongly named .zst fails at once, on line 1.
  WriteFile(tmp.Join("p.jsonl.zst"), first);
  ReadAll p = ReadFileDocs(tmp.Join("p.jsonl.zst"));
  EXPECT_TRUE(p.docs.empty());
  EXPECT_EQ(ExampleLines(p.rejects, RejectReason::kCorruptInput), std::vector<uint64_t>{1});
}

TEST(ReaderTest, VeryLongLine) {
  TempDir tmp;
  const size_t kLen = 20u << 20;
  std::string text(kLen, 'x');
  for (size_t i = 0; i < kLen; i += 4093) text[i] = static_cast<char>('a' + i % 26);
  std::string data =
      JsonLine("short") + "\n" + JsonLine(text + "\\u00e9") + "\n" + JsonLine("after") + "\n";
  WriteFile(tmp.Join("l.jsonl"), data);
  WriteFile(tmp.Join("l.jsonl.zst"), ZstdCompress(data, 1));
  for (const char* name : {"l.jsonl", "l.jsonl.zst"}) {
    SCOPED_TRACE(name);
    ReadAll r = ReadFileDocs(tmp.Join(name));
    ASSERT_EQ(r.docs.size(), 3u);
    EXPECT_EQ(r.docs[0].text, "short");
    EXPECT_EQ(r.docs[1].text.size(), kLen + 2);
    EXPECT_TRUE(r.docs[1].text == text + "\xC3\xA9");
    EXPECT_EQ(r.docs[2], (Doc{3, "RedPajamaC4", "after"}));
  }
}

TEST(ReaderTest, OpenMissingFileFails) {
  TempDir tmp;
  auto r = DocumentReader::Open(tmp.Join("nope.jsonl"), 0, InputConfig{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
}

TEST(RejectStatsTest, NamesAddAndMerge) {
  EXPECT_STREQ(RejectReasonName(RejectReason::kMalformedJson), "malformed_json");
  EXPECT_STREQ(RejectReasonName(RejectReason::kNotAnObject), "not_an_object");
  EXPECT_STREQ(RejectReasonName(RejectReason::kMissingText), "missing_text");
  EXPECT_STREQ(RejectReasonName(RejectReason::kMissingSource), "missing_source");
  EXPECT_STREQ(RejectReasonName(RejectReason::kEmptyText), "empty_text");
  EXPECT_STREQ(RejectReasonName(RejectReason::kInvalidUtf8), "invalid_utf8");
  EXPECT_STREQ(RejectReasonName(RejectReason::kCorruptInput), "corrupt_input");

  RejectStats a, b;
  for (int i = 0; i < 3; ++i) a.Add(RejectReason::kEmptyText, {"a", uint64_t(i + 1), "d"});
  for (int i = 0; i < 4; ++i) b.Add(RejectReason::kEmptyText, {"b", uint64_t(i + 1), "d"});
  b.Add(RejectReason::kCorruptInput, {"b", 9, "zstd"});
  a.Merge(b);
  EXPECT_EQ(Count(a, RejectReason::kEmptyText), 7u);
  EXPECT_EQ(Count(a, RejectReason::kCorruptInput), 1u);
  EXPECT_EQ(a.total(), 8u);
  EXPECT_EQ(ExampleLines(a, RejectReason::kEmptyText).size(), RejectStats::kMaxExamples);
  EXPECT_EQ(ExampleLines(a, RejectReason::kCorruptInput), std::vector<uint64_t>{9});
}

// ---------------------------------------------------------------------------
// ResolveInputFiles

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

class ResolveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(tmp_.path() / "d" / "sub" / "deeper");
    fs::create_directories(tmp_.path() / "d" / "sub2");
    fs::create_directories(tmp_.path() / "empty" / "inner");
    for (const char* f :
         {"d/a.jsonl", "d/b.jsonl.zst", "d/sub/c.jsonl", "d/sub/deeper/e.jsonl.zst",
          "d/sub2/f.jsonl", "d/notes.txt", "d/x.json", "d/sub/y.zst", "empty/inner/readme.md"}) {
      WriteFile(tmp_.Join(f), "");
    }
  }
  std::string P(const std::string& rel) const { return (tmp_.path() / rel).string(); }

  TempDir tmp_;
};

TEST_F(ResolveTest, DirectoryRecursion) {
  auto r = ResolveInputFiles({P("d")}, 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Sorted(*r),
            (std::vector<std::string>{P("d/a.jsonl"), P("d/b.jsonl.zst"), P("d/sub/c.jsonl"),
                                      P("d/sub/deeper/e.jsonl.zst"), P("d/sub2/f.jsonl")}));
}

TEST_F(ResolveTest, Globs) {
  auto r = ResolveInputFiles({P("d/*.jsonl*")}, 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Sorted(*r), (std::vector<std::string>{P("d/a.jsonl"), P("d/b.jsonl.zst")}));

  // Wildcards in a directory component, ? and [..]; non-input matches ignored.
  r = ResolveInputFiles({P("d/su?*/[cf].json?"), P("d/*")}, 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Sorted(*r),
            (std::vector<std::string>{P("d/a.jsonl"), P("d/b.jsonl.zst"), P("d/sub/c.jsonl"),
                                      P("d/sub/deeper/e.jsonl.zst"), P("d/sub2/f.jsonl")}));
}

TEST_F(ResolveTest, SortedDedupedAbsoluteNormalized) {
  auto r = ResolveInputFiles({P("d/a.jsonl"), P("d/./a.jsonl"), P("d/sub/../a.jsonl"), P("d/sub"),
                              P("d/sub/c.jsonl"), P("d/*/c.jsonl")},
                             3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Sorted(*r), (std::vector<std::string>{P("d/a.jsonl"), P("d/sub/c.jsonl"),
                                                  P("d/sub/deeper/e.jsonl.zst")}));
  for (const auto& f : *r) EXPECT_TRUE(fs::path(f).is_absolute()) << f;

  // A relative path comes back absolute.
  fs::path rel = fs::relative(P("d/a.jsonl"));
  auto rr = ResolveInputFiles({rel.string()}, 0);
  ASSERT_TRUE(rr.ok()) << rr.status().ToString();
  EXPECT_EQ(*rr, std::vector<std::string>{P("d/a.jsonl")});
}

TEST_F(ResolveTest, ShuffleIsDeterministicAndSeeded) {
  fs::create_directories(tmp_.path() / "many");
  std::vector<std::string> all;
  for (int i = 0; i < 20; ++i) {
    std::string name = "many/f" + std::to_string(100 + i) + ".jsonl";
    WriteFile(P(name), "");
    all.push_back(P(name));
  }
  auto a = ResolveInputFiles({P("many")}, 42);
  auto b = ResolveInputFiles({P("many/*.jsonl")}, 42);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);  // same set, same seed: same order, however it was named
  EXPECT_EQ(Sorted(*a), all);
  EXPECT_NE(*a, all);  // actually shuffled

  std::set<std::vector<std::string>> orders;
  for (uint64_t seed = 0; seed < 5; ++seed) {
    auto r = ResolveInputFiles({P("many")}, seed);
    ASSERT_TRUE(r.ok());
    orders.insert(*r);
  }
  EXPECT_EQ(orders.size(), 5u);

  // The order is part of a build's reproducibility: pin it (splitmix64 from the
  // seed, Fisher-Yates from the back, j = (draw * i) >> 64; checked against a
  // separate Python model).
  std::vector<std::string> names;
  for (const auto& f : *a) names.push_back(fs::path(f).filename().string());
  EXPECT_EQ(names, (std::vector<std::string>{
                       "f109.jsonl", "f116.jsonl", "f107.jsonl", "f115.jsonl", "f101.jsonl",
                       "f112.jsonl", "f119.jsonl", "f108.jsonl", "f111.jsonl", "f102.jsonl",
                       "f106.jsonl", "f104.jsonl", "f110.jsonl", "f118.jsonl", "f113.jsonl",
                       "f100.jsonl", "f117.jsonl", "f105.jsonl", "f103.jsonl", "f114.jsonl"}));
}

TEST_F(ResolveTest, Errors) {
  auto missing = ResolveInputFiles({P("d/a.jsonl"), P("nope")}, 0);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_NE(missing.status().message().find(P("nope")), std::string::npos);

  auto no_match = ResolveInputFiles({P("d/*.parquet")}, 0);
  ASSERT_FALSE(no_match.ok());
  EXPECT_EQ(no_match.status().code(), Status::Code::kNotFound);
  EXPECT_NE(no_match.status().message().find("*.parquet"), std::string::npos);

  auto only_other = ResolveInputFiles({P("d/*.txt")}, 0);  // matches, but no input file
  ASSERT_FALSE(only_other.ok());
  EXPECT_EQ(only_other.status().code(), Status::Code::kNotFound);

  auto empty_dir = ResolveInputFiles({P("empty")}, 0);
  ASSERT_FALSE(empty_dir.ok());
  EXPECT_EQ(empty_dir.status().code(), Status::Code::kNotFound);
  EXPECT_NE(empty_dir.status().message().find(P("empty")), std::string::npos);

  for (const char* bad : {"d/notes.txt", "d/x.json", "d/sub/y.zst"}) {
    auto wrong = ResolveInputFiles({P(bad)}, 0);
    ASSERT_FALSE(wrong.ok()) << bad;
    EXPECT_EQ(wrong.status().code(), Status::Code::kInvalidConfig) << bad;
    EXPECT_NE(wrong.status().message().find(P(bad)), std::string::npos);
  }
}

TEST_F(ResolveTest, UnreadableFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can read any file";
  ASSERT_EQ(::chmod(P("d/a.jsonl").c_str(), 0), 0);
  auto r = ResolveInputFiles({P("d")}, 0);
  ::chmod(P("d/a.jsonl").c_str(), 0644);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidConfig);
  EXPECT_NE(r.status().message().find(P("d/a.jsonl")), std::string::npos);
}

}  // namespace
}  // namespace lcde
