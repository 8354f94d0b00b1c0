// Helpers shared by the gtest files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lcde/shard_writer.h"

namespace lcde::testing {

// Whether this test binary runs under AddressSanitizer (memory figures
// measure the sanitizer; some large-input tests skip there).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kUnderAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kUnderAddressSanitizer = true;
#else
inline constexpr bool kUnderAddressSanitizer = false;
#endif
#else
inline constexpr bool kUnderAddressSanitizer = false;
#endif

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string Join(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The repository root (for configs/, models/, scripts/).
std::filesystem::path SourceDir();
// The lcde binary built beside the tests.
std::string LcdeBinary();
// The project's own small SentencePiece model (models/demo.model).
std::string DemoModelPath();
// ../shared/tokenizers/llama-2.model, or "" when absent (tests then skip).
std::string Llama2ModelPath();
// ../shared/tokenizers/NAME (llama-3.1-tokenizer.json, qwen3-tokenizer.json),
// or "" when absent (tests then skip).
std::string SharedTokenizerPath(const std::string& name);

void WriteFile(const std::string& path, const std::string& bytes);
std::string ReadFile(const std::string& path);
// Compresses with libzstd into one frame.
std::string ZstdCompress(const std::string& bytes, int level = 3);

// A corpus written by scripts/make_sample_corpus.py with `args`, generated
// once per build directory and shared by every test process (ctest runs each
// test alone). Returns its directory, or "" when generation failed.
std::string CachedSampleCorpus(const std::string& args);

// Every Segment record of a dataset's shards, in manifest order (the shard
// files read independently of lcde's own readers).
std::vector<Segment> ReadSegments(const std::string& dir);
// The ids in `out`/validation/held_out.bin, in file order, read from the raw
// bytes (u64 little-endian; independent of lcde's own reader).
std::vector<uint64_t> ReadHeldOutIds(const std::string& out);
// `lcde verify` passes on the dataset at `out` and on its two validation sets.
void ExpectDatasetAndValidationVerify(const std::string& out);

// The lines of a .zst file, decompressed by the zstd CLI (independent of
// lcde's reader); a failure is a test failure naming the file.
std::vector<std::string> ZstdFileLines(const std::string& path);

struct CommandResult {
  int exit_code = -1;
  std::string stdout_text;
  std::string stderr_text;
};
// Runs `command` through /bin/sh, capturing both streams.
CommandResult RunCommand(const std::string& command);
// Runs the lcde binary with `args`.
CommandResult Lcde(const std::string& args);

// Every file of a directory (not recursed), by name: two datasets are the
// same bytes when these are equal.
std::map<std::string, std::string> DirectoryFiles(const std::string& dir);

// A build config over `corpus`: the seed, the corpus as input, the demo
// model (with `tokenizer_keys`, e.g. ", bos: false"), then `rest` (YAML
// lines for mixture, output and the others).
std::string SampleConfigYaml(uint64_t seed, const std::string& corpus, const std::string& rest,
                             const std::string& tokenizer_keys = "");

// The fixture of build-level tests: a cached sample corpus, a config over it
// in a fresh directory, and the binary to run on them.
class BuildFixture : public ::testing::Test {
 protected:
  // Makes (or reuses) the corpus of `corpus_args` (CachedSampleCorpus) and
  // writes SampleConfigYaml(seed, corpus, rest) to config_.
  void SetUpBuild(const std::string& corpus_args, uint64_t seed, const std::string& rest,
                  const std::string& tokenizer_keys = "");

  TempDir dir_;
  std::string corpus_, config_;
};

}  // namespace lcde::testing
