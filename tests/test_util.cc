#include "test_util.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <cctype>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <random>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace lcde::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path p = fs::temp_directory_path() / ("lcde-test-" + std::to_string(rd()));
    if (fs::create_directory(p)) {
      path_ = p;
      return;
    }
  }
  throw std::runtime_error("cannot create a temp dir");
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

fs::path SourceDir() { return fs::path(LCDE_SOURCE_DIR); }
std::string LcdeBinary() { return LCDE_BINARY; }
std::string DemoModelPath() { return (SourceDir() / "models" / "demo.model").string(); }

std::string Llama2ModelPath() { return SharedTokenizerPath("llama-2.model"); }

std::string SharedTokenizerPath(const std::string& name) {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("LCDE_SHARED_DIR")) candidates.push_back(fs::path(env));
  candidates.push_back(SourceDir() / ".." / "shared");
  for (const auto& dir : candidates) {
    fs::path model = dir / "tokenizers" / name;
    if (fs::exists(model)) return fs::canonical(model).string();
  }
  return "";
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string ZstdCompress(const std::string& bytes, int level) {
  std::string out(ZSTD_compressBound(bytes.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), bytes.data(), bytes.size(), level);
  if (ZSTD_isError(n)) throw std::runtime_error(ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

std::string CachedSampleCorpus(const std::string& args) {
  std::string key;
  for (char c : args) key += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  fs::path cache = fs::path(LcdeBinary()).parent_path() / "test-data" / ("corpus" + key);
  if (fs::exists(cache)) return cache.string();
  fs::create_directories(cache.parent_path());
  // Generate beside, then rename: concurrent test processes never see half a corpus.
  fs::path tmp = cache.string() + ".tmp" + std::to_string(getpid());
  auto r = RunCommand("python3 " + (SourceDir() / "scripts" / "make_sample_corpus.py").string() +
                      " --out " + tmp.string() + " " + args);
  if (r.exit_code != 0) return "";
  std::error_code ec;
  fs::rename(tmp, cache, ec);
  if (ec) fs::remove_all(tmp, ec);  // another process won the race; its corpus is the same
  return cache.string();
}

CommandResult RunCommand(const std::string& command) {
  TempDir tmp;
  std::string out = tmp.Join("stdout"), err = tmp.Join("stderr");
  std::string full = "(" + command + ") >" + out + " 2>" + err + " </dev/null";
  int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.stdout_text = ReadFile(out);
  r.stderr_text = ReadFile(err);
  return r;
}

CommandResult Lcde(const std::string& args) { return RunCommand(LcdeBinary() + " " + args); }

std::map<std::string, std::string> DirectoryFiles(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file()) files[e.path().filename()] = ReadFile(e.path());
  }
  return files;
}

std::string SampleConfigYaml(uint64_t seed, const std::string& corpus, const std::string& rest,
                             const std::string& tokenizer_keys) {
  return "seed: " + std::to_string(seed) + "\ninput: {paths: [" + corpus + "]}\ntokenizer: {model: " +
         DemoModelPath() + tokenizer_keys + "}\n" + rest;
}

void BuildFixture::SetUpBuild(const std::string& corpus_args, uint64_t seed, const std::string& rest,
                              const std::string& tokenizer_keys) {
  corpus_ = CachedSampleCorpus(corpus_args);
  ASSERT_FALSE(corpus_.empty()) << "make_sample_corpus.py " << corpus_args << " failed";
  config_ = dir_.Join("config.yaml");
  WriteFile(config_, SampleConfigYaml(seed, corpus_, rest, tokenizer_keys));
}

std::vector<Segment> ReadSegments(const std::string& dir) {
  std::vector<Segment> out;
  auto m = nlohmann::json::parse(ReadFile(dir + "/manifest.json"));
  for (const auto& shard : m["shards"]) {
    std::string seg = ReadFile(dir + "/" + shard["name"].get<std::string>() + ".seg");
    for (size_t off = kSegHeaderBytes; off + sizeof(Segment) <= seg.size(); off += sizeof(Segment)) {
      Segment s;
      std::memcpy(&s, seg.data() + off, sizeof(s));
      out.push_back(s);
    }
  }
  return out;
}

std::vector<uint64_t> ReadHeldOutIds(const std::string& out) {
  const std::string bytes = ReadFile(out + "/validation/held_out.bin");
  std::vector<uint64_t> ids(bytes.size() / 8);
  std::memcpy(ids.data(), bytes.data(), ids.size() * 8);
  return ids;
}

void ExpectDatasetAndValidationVerify(const std::string& out) {
  for (const std::string& d : {out, out + "/validation/short", out + "/validation/long"}) {
    auto v = RunCommand(LcdeBinary() + " verify " + d);
    EXPECT_EQ(v.exit_code, 0) << d << ": " << v.stdout_text;
  }
}

std::vector<std::string> ZstdFileLines(const std::string& path) {
  std::vector<std::string> lines;
  auto r = RunCommand("zstd -dc " + path);
  EXPECT_EQ(r.exit_code, 0) << path << ": " << r.stderr_text;
  size_t pos = 0;
  while (pos < r.stdout_text.size()) {
    size_t nl = r.stdout_text.find('\n', pos);
    if (nl == std::string::npos) nl = r.stdout_text.size();
    lines.push_back(r.stdout_text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

}  // namespace lcde::testing
