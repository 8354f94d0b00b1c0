// The tokenizer.json member of the tokenizer family: ids equal to HF
// `tokenizers` 0.23 (reference data in tests/data/hf_reference/, made on the
// device by scripts/hf_reference_ids.py) on a hostile set and on every
// document of the sample corpus, for Llama-3.1 and Qwen3; the hand-written
// pre-tokenizer equal to Oniguruma; unsupported files refused.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "lcde/reader.h"
#include "lcde/sha256.h"
#include "lcde/tokenizer.h"
#include "lcde/tokenizer/pretokenizer.h"
#include "lcde/tokenizer/tokenizer_json.h"
#include "lcde/tokenizer/unicode.h"
#include "test_util.h"

namespace lcde {
namespace {

using nlohmann::json;

struct SharedFile {
  const char* name;  // in tests/data/hf_reference/
  const char* file;  // in ../shared/tokenizers/
};
const SharedFile kFiles[] = {{"llama-3.1", "llama-3.1-tokenizer.json"}, {"qwen3", "qwen3-tokenizer.json"}};
void PrintTo(const SharedFile& f, std::ostream* os) { *os << f.file; }

// First 16 hex digits of sha256 over the ids as little-endian int32 (the
// reference files' "sha").
std::string IdsSha(const std::vector<int32_t>& ids) {
  return Sha256Hex(std::string_view(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(int32_t)))
      .substr(0, 16);
}

std::filesystem::path DataDir() { return testing::SourceDir() / "tests" / "data"; }

std::unique_ptr<Tokenizer> LoadOrSkip(const std::string& path, TokenizerOptions options = {}) {
  auto t = Tokenizer::Load(path, options);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(*t) : nullptr;
}

struct HostileText {
  std::string name, text;
};

std::vector<HostileText> HostileTexts() {
  std::ifstream in(DataDir() / "tokenizer_hostile_texts.json");
  json list = json::parse(in);
  std::vector<HostileText> out;
  for (const auto& e : list) {
    HostileText h;
    h.name = e["name"];
    if (e.contains("repeat")) {
      const std::string unit = e["repeat"];
      const size_t count = e["count"];
      h.text.reserve(unit.size() * count);
      for (size_t i = 0; i < count; ++i) h.text += unit;
    } else {
      h.text = e["text"];
    }
    out.push_back(std::move(h));
  }
  return out;
}

std::vector<int32_t> Encode(const Tokenizer& t, std::string_view text, bool reference = false) {
  std::vector<int32_t> ids;
  Status st = reference ? t.EncodeReference(text, false, false, &ids) : t.Encode(text, false, false, &ids);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return ids;
}

class HfFilesTest : public ::testing::TestWithParam<SharedFile> {
 protected:
  void SetUp() override {
    path_ = testing::SharedTokenizerPath(GetParam().file);
    if (path_.empty()) GTEST_SKIP() << "../shared/tokenizers/" << GetParam().file << " not present";
    tok_ = LoadOrSkip(path_);
    ASSERT_NE(tok_, nullptr);
  }
  std::string Reference(const char* suffix) const {
    return (DataDir() / "hf_reference" / (std::string(GetParam().name) + suffix)).string();
  }
  std::string path_;
  std::unique_ptr<Tokenizer> tok_;
};

// Every hostile text: the fast path and the reference path give HF's ids.
TEST_P(HfFilesTest, HostileTextsMatchHf) {
  const std::vector<HostileText> texts = HostileTexts();
  std::map<std::string, json> want;
  std::ifstream in(Reference(".hostile.jsonl"));
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line);
    want[j["name"]] = j;
  }
  ASSERT_GE(texts.size(), 100u);
  auto reference_tok = LoadOrSkip(path_, TokenizerOptions{TokenizerMode::kLibrary});
  for (const HostileText& h : texts) {
    SCOPED_TRACE(h.name);
    ASSERT_TRUE(want.count(h.name)) << "no reference for " << h.name;
    const json& w = want[h.name];
    const bool valid_utf8 = tok::IsValidUtf8(h.text);  // TokensUpperBound's precondition (the reader's output)
    for (int pass = 0; pass < 3; ++pass) {  // cold cache, warm cache, reference
      if (pass < 2 && valid_utf8) {
        EXPECT_GE(tok_->TokensUpperBound(h.text, UINT64_MAX), w["n"].get<uint64_t>()) << "pass " << pass;
      }
      const std::vector<int32_t> got = pass < 2 ? Encode(*tok_, h.text) : Encode(*reference_tok, h.text, true);
      EXPECT_EQ(got.size(), w["n"].get<size_t>()) << "pass " << pass;
      EXPECT_EQ(IdsSha(got), w["sha"].get<std::string>()) << "pass " << pass;
      if (w.contains("ids")) {
        EXPECT_EQ(got, w["ids"].get<std::vector<int32_t>>()) << "pass " << pass;
      }
    }
    EXPECT_LE(w["n"].get<uint64_t>(), tok_->MaxTokensForBytes(h.text.size()));
  }
}

// Every document of the sample corpus, in the corpus's own order.
TEST_P(HfFilesTest, SampleCorpusMatchesHf) {
  const std::string corpus = testing::CachedSampleCorpus("--tokens 2000000 --files 2 --seed 9");
  ASSERT_FALSE(corpus.empty());
  std::map<std::pair<std::string, uint64_t>, std::pair<size_t, std::string>> want;
  std::ifstream in(Reference(".corpus.tsv"));
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string file, sha;
    uint64_t line_no;
    size_t n;
    fields >> file >> line_no >> n >> sha;
    want[{file, line_no}] = {n, sha};
  }
  ASSERT_GT(want.size(), 1000u);
  auto files = ResolveInputFiles({corpus}, 0);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  size_t docs = 0, mismatches = 0, exact_bounds = 0;
  uint64_t tokens = 0;
  auto reference_tok = LoadOrSkip(path_, TokenizerOptions{TokenizerMode::kLibrary});
  for (size_t i = 0; i < files->size(); ++i) {
    const std::string rel = std::filesystem::relative((*files)[i], corpus).string();
    auto reader = DocumentReader::Open((*files)[i], static_cast<uint32_t>(i), InputConfig{});
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    Document doc;
    while ((*reader)->Next(&doc)) {
      auto it = want.find({rel, doc.line});
      ASSERT_NE(it, want.end()) << rel << ":" << doc.line;
      const uint64_t cold_bound = tok_->TokensUpperBound(doc.text, UINT64_MAX);
      const std::vector<int32_t> got = Encode(*tok_, doc.text);
      const uint64_t warm_bound = tok_->TokensUpperBound(doc.text, UINT64_MAX);
      EXPECT_GE(cold_bound, got.size()) << rel << ":" << doc.line;
      EXPECT_GE(warm_bound, got.size()) << rel << ":" << doc.line;
      exact_bounds += warm_bound == got.size();
      const bool same = got.size() == it->second.first && IdsSha(got) == it->second.second;
      const bool same_reference = docs % 8 != 0 || IdsSha(Encode(*reference_tok, doc.text, true)) == it->second.second;
      if ((!same || !same_reference) && ++mismatches <= 3) {
        ADD_FAILURE() << rel << ":" << doc.line << " differs (fast " << same << ", reference " << same_reference
                      << ")";
      }
      tokens += got.size();
      ++docs;
    }
  }
  EXPECT_EQ(docs, want.size());
  EXPECT_EQ(mismatches, 0u);
  // Once a document is encoded its segments are cached: its bound is exact
  // unless a segment is too long for the cache.
  EXPECT_GT(exact_bounds, docs * 9 / 10);
  EXPECT_GT(tok_->CacheStats().hits, tok_->CacheStats().misses);
  std::printf("[          ] %s: %zu documents, %llu tokens, all equal to HF tokenizers\n", GetParam().name, docs,
              static_cast<unsigned long long>(tokens));
}

TEST_P(HfFilesTest, PostProcessorDecidesBosAndEos) {
  std::ifstream in(Reference(".hostile.jsonl"));
  json hello;
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line);
    if (j["name"] == "__post_processor_hello_world__") hello = j;
  }
  ASSERT_FALSE(hello.is_null());
  std::vector<int32_t> got;
  ASSERT_TRUE(tok_->Encode("Hello world", tok_->adds_bos(), tok_->adds_eos(), &got).ok());
  EXPECT_EQ(got, hello["ids"].get<std::vector<int32_t>>());
  EXPECT_STREQ(tok_->kind(), kTokenizerJsonKind);
  EXPECT_STREQ(tok_->encoder(), "pretokens+native-bpe") << tok_->encoder_note();
  EXPECT_FALSE(tok_->adds_eos());
  if (std::string(GetParam().name) == "llama-3.1") {
    EXPECT_EQ(tok_->vocab_size(), 128256);
    EXPECT_TRUE(tok_->adds_bos());
    EXPECT_EQ(tok_->bos_id(), 128000);
    EXPECT_EQ(tok_->SpecialTokenId("<|end_of_text|>"), 128001);
  } else {
    EXPECT_EQ(tok_->vocab_size(), 151669);
    EXPECT_FALSE(tok_->adds_bos());
    EXPECT_EQ(tok_->bos_id(), -1);
    EXPECT_EQ(tok_->SpecialTokenId("<|endoftext|>"), 151643);
    EXPECT_EQ(tok_->SpecialTokenId("<think>"), -1);  // an added token, not a special one
    std::vector<int32_t> ids;
    EXPECT_FALSE(tok_->Encode("x", /*add_bos=*/true, false, &ids).ok());
  }
  EXPECT_EQ(tok_->SpecialTokenId("hello"), -1);
  EXPECT_EQ(tok_->SpecialTokenId(""), -1);
}

TEST_P(HfFilesTest, SpecialTokenTextIsDataAndCounted) {
  const std::string text = std::string("a <|im_start|>user <|end_of_text|> <|endoftext|> b");
  EXPECT_TRUE(tok_->ContainsSpecialTokenText(text));
  EXPECT_FALSE(tok_->ContainsSpecialTokenText("plain <| text |>"));
  for (int32_t id : Encode(*tok_, text)) {
    EXPECT_NE(id, tok_->SpecialTokenId("<|end_of_text|>"));
    EXPECT_NE(id, tok_->SpecialTokenId("<|endoftext|>"));
    EXPECT_NE(id, tok_->SpecialTokenId("<|im_start|>"));
  }
}

TEST_P(HfFilesTest, DecodeGivesTheBytesBack) {
  for (const HostileText& h : HostileTexts()) {
    if (h.text.size() > 100000) continue;
    const std::vector<int32_t> ids = Encode(*tok_, h.text);
    std::string text = h.text;
    if (std::string(GetParam().name) == "qwen3") continue;  // NFC changes some texts
    EXPECT_EQ(tok_->Decode(ids), text) << h.name;
  }
  // A byte-level id may hold part of a character.
  const std::vector<int32_t> ids = Encode(*tok_, "\xe8\xaf\xad\xe8\xa8\x80");
  ASSERT_GE(ids.size(), 1u);
  std::string joined;
  for (int32_t id : ids) joined += tok_->Decode(std::vector<int32_t>{id});
  EXPECT_EQ(joined, "\xe8\xaf\xad\xe8\xa8\x80");
}

TEST_P(HfFilesTest, ManyThreadsOneTokenizer) {
  const std::vector<HostileText> texts = HostileTexts();
  std::vector<std::vector<int32_t>> want;
  for (const auto& h : texts) want.push_back(h.text.size() < 200000 ? Encode(*tok_, h.text, true) : std::vector<int32_t>{});
  tok_->ClearCache();
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) {
          const size_t k = (i * 7 + static_cast<size_t>(t)) % texts.size();
          if (texts[k].text.size() >= 200000) continue;
          std::vector<int32_t> got;
          if (!tok_->Encode(texts[k].text, false, false, &got).ok() || got != want[k]) ++bad;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(SharedFiles, HfFilesTest, ::testing::ValuesIn(kFiles),
                         [](const auto& info) { return std::string(info.param.name == std::string("qwen3") ? "Qwen3" : "Llama31"); });

// ---------------------------------------------------------------------------
// Without the shared files: the pre-tokenizer against Oniguruma, the
// character classes, a small byte-level BPE written here, and refusals.
// ---------------------------------------------------------------------------

std::string Utf8(uint32_t cp) {
  std::string s;
  tok::AppendUtf8(cp, &s);
  return s;
}

std::vector<std::string> PiecesOf(const tok::PreTokenizer& pre, const std::string& text) {
  std::vector<tok::Piece> pieces;
  pre.Split(text, &pieces);
  std::vector<std::string> out;
  for (const auto& p : pieces) out.push_back(text.substr(p.begin, p.size));
  return out;
}

const char* const kPatterns[] = {
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
    tok::kGpt2Pattern,
};

// Random texts over characters of every class, the apostrophes, the letters
// of the contractions in every case (and U+017F, which folds to 's'), CR/LF:
// the hand-written matchers cut exactly where Oniguruma does.
TEST(PreTokenizerTest, FastMatchersEqualOniguruma) {
  const std::vector<uint32_t> pool = {
      'a', 'Z', 's', 'S', 't', 'T', 'r', 'R', 'e', 'E', 'v', 'V', 'm', 'M', 'l', 'L', 'd', 'D', 'k', '\'', '\'',
      '\'', '0', '7', ' ', ' ', ' ', '\t', '\n', '\r', '\v', '\f', '.', '!', '-', '_', '(', '"', 0x17F, 0x212A,
      0xA0, 0x85, 0x2028, 0x3000, 0x200B, 0xFEFF, 0xAD, 0x2019, 0x301, 0xE9, 0x4E2D, 0xAC00, 0x1100, 0x0661,
      0xFF11, 0xB2, 0x216B, 0x1F600, 0x200D, 0xFE0F, 0x2581, 0xE000, 0x10FFFD, 0x0, 0x1F1FA, 0x5D0, 0x627};
  std::mt19937 rng(7);
  for (const char* pattern : kPatterns) {
    tok::PreTokenizerSpec spec;
    spec.split_patterns = {pattern};
    auto fast = tok::PreTokenizer::Make(spec, true);
    auto onig = tok::PreTokenizer::Make(spec, false);
    ASSERT_TRUE(fast.ok() && onig.ok());
    ASSERT_TRUE((*fast)->all_fast());
    ASSERT_FALSE((*onig)->all_fast());
    for (int round = 0; round < 20000; ++round) {
      std::string text;
      const int len = 1 + static_cast<int>(rng() % 12);
      for (int i = 0; i < len; ++i) text += Utf8(pool[rng() % pool.size()]);
      ASSERT_EQ(PiecesOf(**fast, text), PiecesOf(**onig, text)) << pattern << " on " << ::testing::PrintToString(text);
    }
  }
}

// The class table equals Oniguruma's \p{L}, \p{N} and \s on every code point:
// in a text of code points separated by '\x01' (of no class), a regex for
// one character of the class matches exactly those of the class.
TEST(PreTokenizerTest, CharacterClassesAreOniguruma) {
  const uint8_t* table = tok::CharClassTable();
  const std::pair<const char*, uint8_t> classes[] = {
      {R"(\p{L})", tok::kClassLetter}, {R"(\p{N})", tok::kClassNumber}, {R"(\s)", tok::kClassSpace}};
  for (const auto& [pattern, cls] : classes) {
    tok::PreTokenizerSpec one;
    one.split_patterns = {pattern};
    auto re = tok::PreTokenizer::Make(one, false);
    ASSERT_TRUE(re.ok());
    size_t in_class = 0;
    for (uint32_t base = 0; base < 0x110000; base += 4096) {
      std::string text;
      for (uint32_t cp = base; cp < base + 4096; ++cp) {
        if ((cp >= 0xD800 && cp < 0xE000) || cp == 1) continue;
        text += Utf8(cp);
        text += '\x01';
      }
      std::vector<tok::Piece> pieces;
      (*re)->Split(text, &pieces);
      std::set<uint32_t> matched;
      for (const auto& p : pieces) {
        size_t len;
        const uint32_t cp = tok::DecodeUtf8(text.data() + p.begin, &len);
        if (len == p.size && cp != 1) matched.insert(cp);
      }
      for (uint32_t cp = base; cp < base + 4096; ++cp) {
        if ((cp >= 0xD800 && cp < 0xE000) || cp == 1) continue;
        ASSERT_EQ(table[cp] == cls, matched.count(cp) == 1) << pattern << " U+" << std::hex << cp;
        in_class += table[cp] == cls;
      }
    }
    EXPECT_GT(in_class, 20u) << pattern;
  }
}

// A byte-level BPE small enough to check by hand: the 256 byte tokens, then
// merges "Ġ t" -> "Ġt", "h e" -> "he", "Ġt he" -> "Ġthe".
std::string SmallTokenizerJson(const std::string& model_extra = "", const std::string& normalizer = "null",
                               const std::string& pre_tokenizer = "") {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[Utf8(tok::ByteLevelCodePoint(static_cast<uint8_t>(b)))] = b;
  vocab["\xc4\xa0t"] = 256;  // "Ġt"
  vocab["he"] = 257;
  vocab["\xc4\xa0the"] = 258;
  json model = {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"\xc4\xa0 t", "h e", "\xc4\xa0t he"}}};
  if (!model_extra.empty()) model.update(json::parse(model_extra));
  json pre = pre_tokenizer.empty()
                 ? json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}
                 : json::parse(pre_tokenizer);
  json j = {{"version", "1.0"},
            {"added_tokens",
             {{{"id", 259}, {"content", "<|eot|>"}, {"special", true}, {"normalized", false}},
              {{"id", 260}, {"content", "<tag>"}, {"special", false}, {"normalized", false}}}},
            {"normalizer", json::parse(normalizer)},
            {"pre_tokenizer", pre},
            {"post_processor",
             {{"type", "TemplateProcessing"},
              {"single", {{{"SpecialToken", {{"id", "<|eot|>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
              {"special_tokens", {{"<|eot|>", {{"id", "<|eot|>"}, {"ids", {259}}, {"tokens", {"<|eot|>"}}}}}}}},
            {"model", model}};
  return j.dump();
}

Result<std::unique_ptr<Tokenizer>> LoadJson(const testing::TempDir& dir, const std::string& text,
                                            const std::string& name = "tokenizer.json") {
  testing::WriteFile(dir.Join(name), text);
  return Tokenizer::Load(dir.Join(name));
}

TEST(TokenizerJsonTest, SmallByteLevelBpeByHand) {
  testing::TempDir dir;
  auto t = LoadJson(dir, SmallTokenizerJson(), "model.bin");  // told apart by content, not name
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  const Tokenizer& tok = **t;
  EXPECT_STREQ(tok.kind(), kTokenizerJsonKind);
  EXPECT_EQ(tok.vocab_size(), 261);
  EXPECT_TRUE(tok.adds_bos());
  EXPECT_EQ(tok.bos_id(), 259);
  // GPT-2 regex: "the", " the", " there", "<tag>" (an added token), "<|eot|>" as text.
  EXPECT_EQ(Encode(tok, "the the"), (std::vector<int32_t>{'t', 257, 258}));
  EXPECT_EQ(Encode(tok, " there"), (std::vector<int32_t>{258, 'r', 'e'}));
  EXPECT_EQ(Encode(tok, "a<tag>b"), (std::vector<int32_t>{'a', 260, 'b'}));
  EXPECT_EQ(Encode(tok, "<|eot|>"), (std::vector<int32_t>{'<', '|', 'e', 'o', 't', '|', '>'}));
  EXPECT_EQ(tok.SpecialTokenId("<|eot|>"), 259);
  EXPECT_EQ(tok.SpecialTokenId("<tag>"), -1);
  EXPECT_EQ(tok.Decode(std::vector<int32_t>{259, 258, 'x'}), "<|eot|> thex");
}

TEST(TokenizerJsonTest, IgnoreMergesTakesWholeTokens) {
  testing::TempDir dir;
  // "Ġthe" is in the vocabulary: with ignore_merges it is taken whole even
  // when the merges could not build it (no "Ġ t" merge here).
  std::string j = SmallTokenizerJson(R"({"ignore_merges": true, "merges": ["h e"]})");
  auto t = LoadJson(dir, j);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(Encode(**t, " the"), (std::vector<int32_t>{258}));
  std::string k = SmallTokenizerJson(R"({"ignore_merges": false, "merges": ["h e"]})");
  auto u = LoadJson(dir, k);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(Encode(**u, " the"), (std::vector<int32_t>{' ', 't', 257}));
}

TEST(TokenizerJsonTest, NfcNormalizerComposes) {
  testing::TempDir dir;
  auto t = LoadJson(dir, SmallTokenizerJson("", R"({"type": "NFC"})"));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  // e + U+0301 becomes U+00E9 (bytes C3 A9) before the BPE sees the bytes.
  const std::vector<int32_t> composed = Encode(**t, "\xc3\xa9");
  EXPECT_EQ(Encode(**t, "e\xcc\x81"), composed);
  EXPECT_EQ(composed, (std::vector<int32_t>{0xC3, 0xA9}));
  EXPECT_EQ(Encode(**t, "A\xcc\x8a x"), Encode(**t, "\xc3\x85 x"));
}

TEST(TokenizerJsonTest, UnsupportedPartsAreRefusedByName) {
  testing::TempDir dir;
  struct Case {
    std::string json;
    std::string names;
  };
  const std::vector<Case> cases = {
      {SmallTokenizerJson(R"({"type": "WordPiece"})"), "model.type 'WordPiece'"},
      {SmallTokenizerJson(R"({"type": "Unigram"})"), "model.type 'Unigram'"},
      {SmallTokenizerJson(R"({"dropout": 0.1})"), "model.dropout"},
      {SmallTokenizerJson("", R"({"type": "NFKC"})"), "normalizer 'NFKC'"},
      {SmallTokenizerJson("", R"({"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]})"),
       "normalizer 'Lowercase'"},
      {SmallTokenizerJson("", "null", R"({"type": "Metaspace", "replacement": "▁"})"), "pre_tokenizer 'Metaspace'"},
      {SmallTokenizerJson("", "null", R"({"type": "Whitespace"})"), "pre_tokenizer 'Whitespace'"},
      {SmallTokenizerJson("", "null",
                          R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\d"}, "behavior": "Removed", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})"),
       "behavior 'Removed'"},
      {SmallTokenizerJson("", "null", R"({"type": "Split", "pattern": {"Regex": "\\d"}, "behavior": "Isolated", "invert": false})"),
       "without ByteLevel"},
      {SmallTokenizerJson("", "null",
                          R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})"),
       "(unclosed"},
      {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
       "has no token"},
      {"{ not json", "not valid JSON"},
  };
  for (const Case& c : cases) {
    auto t = LoadJson(dir, c.json);
    ASSERT_FALSE(t.ok()) << c.names;
    EXPECT_EQ(t.status().code(), Status::Code::kInvalidConfig) << t.status().ToString();
    EXPECT_NE(t.status().message().find(c.names), std::string::npos) << t.status().ToString();
    EXPECT_NE(t.status().message().find("tokenizer.json"), std::string::npos) << t.status().ToString();
  }
}

// A Split regex without a hand-written matcher runs on Oniguruma, exactly.
TEST(TokenizerJsonTest, OtherRegexesRunOnOniguruma) {
  testing::TempDir dir;
  auto t = LoadJson(dir, SmallTokenizerJson(
                             "", "null",
                             R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}]})"));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_STREQ((*t)->encoder(), "pretokens-onig+native-bpe");
  EXPECT_NE((*t)->encoder_note(), "");
  for (const char* text : {"12345 the", "a1b22c333d4444", "", "  x  "}) {
    EXPECT_EQ(Encode(**t, text), Encode(**t, text, true)) << text;
  }
}

TEST(TokenizerJsonTest, NfcRunsOnlyOverNonAscii) {
  tok::NfcNormalizer nfc;
  std::string out;
  ASSERT_TRUE(nfc.Normalize("plain ascii", &out));
  EXPECT_EQ(out, "plain ascii");
  ASSERT_TRUE(nfc.Normalize("cafe\xcc\x81 and e\xcc\x81\xcc\x81 \xe0\xa5\x98 x", &out));
  EXPECT_EQ(out, "caf\xc3\xa9 and \xc3\xa9\xcc\x81 \xe0\xa4\x95\xe0\xa4\xbc x");  // U+0958 stays decomposed
  ASSERT_TRUE(nfc.Normalize("a\xcc\x81\xcc\x96", &out));  // marks reordered: U+0316 (ccc 220) first
  EXPECT_EQ(out, "\xc3\xa1\xcc\x96");
}

}  // namespace
}  // namespace lcde
