// Stage 1: find input files and stream documents out of them.
// A file is `.jsonl` or `.jsonl.zst`, one JSON object per line. Files are
// streamed in bounded buffers; memory grows only with the longest line.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lcde/config.h"
#include "lcde/status.h"

namespace lcde {

// Expands `patterns` (files, directories recursed for *.jsonl and *.jsonl.zst,
// and globs with * ? [..] in any path component) into a list sorted by path,
// deduplicated, then shuffled by `seed` (so the order is the same on every
// machine for the same set of files).
// Fails with kNotFound naming the pattern when a path does not exist or a glob
// matches nothing; with kInvalidConfig for a file that is not .jsonl/.jsonl.zst
// or cannot be opened for reading.
Result<std::vector<std::string>> ResolveInputFiles(const std::vector<std::string>& patterns,
                                                   uint64_t seed);
// ResolveInputFiles without opening the files: the list only.
Result<std::vector<std::string>> ListInputFiles(const std::vector<std::string>& patterns, uint64_t seed);
// kInvalidConfig naming `path` unless it can be opened for reading (opening
// is the only reliable test: ACLs, root, read-only mounts).
Status CheckInputReadable(const std::string& path);

// Why a line (or the rest of a file) was skipped. Stable names: they appear
// in the manifest and in `lcde stats`.
enum class RejectReason : int {
  kMalformedJson = 0,
  kNotAnObject,
  kMissingText,      // text_key absent or not a string
  kMissingSource,    // source_key absent or not a string
  kEmptyText,
  kInvalidUtf8,
  kCorruptInput,     // zstd frame error, truncated file, read error: rest of file skipped
  kCount,
};
const char* RejectReasonName(RejectReason r);

struct RejectExample {
  std::string file;
  uint64_t line = 0;  // 1-based; for kCorruptInput the line where reading stopped
  std::string detail;
};

// Counts of skipped lines by reason, with the first few examples of each.
struct RejectStats {
  static constexpr size_t kMaxExamples = 5;
  std::array<uint64_t, static_cast<size_t>(RejectReason::kCount)> counts{};
  std::vector<std::pair<RejectReason, RejectExample>> examples;

  void Add(RejectReason reason, RejectExample example);
  void Merge(const RejectStats& other);
  uint64_t total() const;
};

// One document as read; views are valid until the next call to Next().
struct Document {
  uint32_t file_index = 0;
  uint64_t line = 0;         // 1-based line number in the (decompressed) file
  std::string_view source;   // the value at source_key
  std::string_view text;     // the unescaped value at text_key
  uint64_t Id() const { return (static_cast<uint64_t>(file_index) << 32) | line; }
};

// Streams the documents of one file. Reuses its buffers and its JSON parser:
// no allocation per document once buffers reached the longest line's size.
class DocumentReader {
 public:
  // REQUIRES: `path` names a readable .jsonl or .jsonl.zst file.
  static Result<std::unique_ptr<DocumentReader>> Open(const std::string& path,
                                                      uint32_t file_index,
                                                      const InputConfig& config);
  virtual ~DocumentReader() = default;

  // Fills *doc with the next good document and returns true; returns false at
  // the end of the file or after an error that ends the file (counted as
  // kCorruptInput). Bad lines are skipped, counted in rejects() and logged
  // (first few of each reason) with file and line.
  virtual bool Next(Document* doc) = 0;

  // Skips and rejects so far.
  virtual const RejectStats& rejects() const = 0;
  // Lines seen so far (good and bad), and decompressed bytes consumed.
  virtual uint64_t lines_read() const = 0;
  virtual uint64_t bytes_read() const = 0;
};

}  // namespace lcde
