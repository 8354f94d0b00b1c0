#include "lcde/reader.h"

#include <fcntl.h>
#include <glob.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <system_error>
#include <utility>

namespace lcde {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kPlainExtension = ".jsonl";
constexpr std::string_view kZstdExtension = ".jsonl.zst";

// Open() is lenient: any .zst is decoded, whatever precedes it.
bool IsZstdName(std::string_view name) { return name.ends_with(".zst"); }

bool HasInputExtension(std::string_view name) {
  return name.ends_with(kPlainExtension) || name.ends_with(kZstdExtension);
}

bool HasGlobChars(std::string_view pattern) {
  return pattern.find_first_of("*?[") != std::string_view::npos;
}

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

// Absolute and lexically tidy, but symlinks stay as the user named them: the
// manifest should show the paths the user gave, not where they happen to point.
std::string NormalizePath(const fs::path& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  if (ec) abs = p;
  return abs.lexically_normal().string();
}

// Adds every input file under `dir`; returns how many were found.
Result<size_t> CollectDirectory(const fs::path& dir, std::vector<std::string>* out) {
  size_t found = 0;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) {
    return Status::InvalidConfig("cannot list directory '" + dir.string() + "': " + ec.message());
  }
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    std::error_code entry_ec;
    // is_regular_file follows symlinks, so linked shards count like real ones.
    if (!it->is_regular_file(entry_ec)) continue;
    if (!HasInputExtension(it->path().filename().string())) continue;
    out->push_back(NormalizePath(it->path()));
    ++found;
  }
  if (ec) {
    return Status::InvalidConfig("cannot list directory '" + dir.string() + "': " + ec.message());
  }
  return found;
}

// An explicit path: a directory to recurse or an input file.
Status AddExplicitPath(const std::string& pattern, std::vector<std::string>* out) {
  std::error_code ec;
  fs::file_status st = fs::status(pattern, ec);
  if (ec || !fs::exists(st)) {
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return Status::InvalidConfig("cannot access input path '" + pattern + "': " + ec.message());
    }
    return Status::NotFound("input path '" + pattern + "' does not exist");
  }
  if (fs::is_directory(st)) {
    Result<size_t> found = CollectDirectory(pattern, out);
    if (!found.ok()) return found.status();
    if (*found == 0) {
      return Status::NotFound("directory '" + pattern + "' holds no .jsonl or .jsonl.zst files");
    }
    return Status::Ok();
  }
  if (!fs::is_regular_file(st)) {
    return Status::InvalidConfig("input path '" + pattern + "' is not a regular file");
  }
  if (!HasInputExtension(pattern)) {
    return Status::InvalidConfig("input file '" + pattern + "' is not .jsonl or .jsonl.zst");
  }
  out->push_back(NormalizePath(pattern));
  return Status::Ok();
}

// A glob may sweep up READMEs and checksums beside the shards, so matches with
// other extensions are ignored rather than fatal; only an empty result fails.
Status AddGlob(const std::string& pattern, std::vector<std::string>* out) {
  glob_t g{};
  int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  if (rc == GLOB_NOSPACE) {
    ::globfree(&g);
    return Status::IOError("out of memory expanding '" + pattern + "'");
  }
  std::vector<std::string> matches;
  if (rc == 0) matches.assign(g.gl_pathv, g.gl_pathv + g.gl_pathc);
  ::globfree(&g);

  size_t found = 0;
  for (const std::string& m : matches) {
    std::error_code ec;
    fs::file_status st = fs::status(m, ec);
    if (ec) continue;
    if (fs::is_directory(st)) {
      Result<size_t> n = CollectDirectory(m, out);
      if (!n.ok()) return n.status();
      found += *n;
    } else if (fs::is_regular_file(st) && HasInputExtension(m)) {
      out->push_back(NormalizePath(m));
      ++found;
    }
  }
  if (found == 0) {
    return Status::NotFound("no .jsonl or .jsonl.zst file matches '" + pattern + "'");
  }
  return Status::Ok();
}

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Spelled out (not std::shuffle) so the order is identical across standard
// libraries: the file order is part of what makes a build reproducible.
void DeterministicShuffle(std::vector<std::string>* v, uint64_t seed) {
  uint64_t state = seed;
  for (size_t i = v->size(); i > 1; --i) {
    // Multiply-shift maps a 64-bit draw onto [0, i) without a modulo.
    size_t j = static_cast<size_t>((static_cast<unsigned __int128>(SplitMix64(&state)) * i) >> 64);
    std::swap((*v)[i - 1], (*v)[j]);
  }
}

// ---------------------------------------------------------------------------
// Byte sources: hand out decompressed bytes in whatever amounts are ready.

ssize_t ReadRetrying(int fd, void* buf, size_t n) {
  for (;;) {
    ssize_t r = ::read(fd, buf, n);
    if (r >= 0 || errno != EINTR) return r;
  }
}

class ByteSource {
 public:
  explicit ByteSource(int fd) : fd_(fd) {}
  virtual ~ByteSource() { ::close(fd_); }
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

  // Writes up to `n` (> 0) bytes at `dst`; returns how many. 0 means the end of
  // the input, or a failure when error() is then non-empty.
  virtual size_t Read(char* dst, size_t n) = 0;
  const std::string& error() const { return error_; }

 protected:
  int fd_;
  std::string error_;
};

class PlainSource final : public ByteSource {
 public:
  using ByteSource::ByteSource;
  size_t Read(char* dst, size_t n) override {
    ssize_t r = ReadRetrying(fd_, dst, n);
    if (r < 0) {
      error_ = "read failed: " + ErrnoText(errno);
      return 0;
    }
    return static_cast<size_t>(r);
  }
};

class ZstdSource final : public ByteSource {
 public:
  ZstdSource(int fd, ZSTD_DCtx* dctx)
      : ByteSource(fd),
        dctx_(dctx),
        in_capacity_(ZSTD_DStreamInSize()),
        in_buf_(new char[in_capacity_]) {}
  ~ZstdSource() override { ZSTD_freeDCtx(dctx_); }

  size_t Read(char* dst, size_t n) override {
    if (!error_.empty()) return 0;
    ZSTD_outBuffer out{dst, n, 0};
    while (out.pos == 0) {
      if (in_.pos == in_.size && !eof_) {
        ssize_t r = ReadRetrying(fd_, in_buf_.get(), in_capacity_);
        if (r < 0) {
          error_ = "read failed: " + ErrnoText(errno);
          return 0;
        }
        if (r == 0) {
          eof_ = true;
        } else {
          in_ = ZSTD_inBuffer{in_buf_.get(), static_cast<size_t>(r), 0};
        }
      }
      if (eof_ && in_.pos == in_.size) {
        // The input may be exhausted while zstd still holds decoded bytes that
        // did not fit the last output buffer, so drain before calling it the end.
        if (frame_pending_ == 0) return 0;
        size_t ret = ZSTD_decompressStream(dctx_, &out, &in_);
        if (ZSTD_isError(ret)) {
          error_ = std::string("zstd: ") + ZSTD_getErrorName(ret);
          return 0;
        }
        frame_pending_ = ret;
        if (out.pos == 0 && ret != 0) {
          error_ = "truncated zstd frame at end of file";
          return 0;
        }
        return out.pos;
      }
      size_t ret = ZSTD_decompressStream(dctx_, &out, &in_);
      if (ZSTD_isError(ret)) {
        error_ = std::string("zstd: ") + ZSTD_getErrorName(ret);
        return 0;
      }
      // 0 marks a frame fully decoded and flushed; the next input byte (if
      // any) starts another concatenated frame.
      frame_pending_ = ret;
    }
    return out.pos;
  }

 private:
  ZSTD_DCtx* dctx_;
  size_t in_capacity_;
  std::unique_ptr<char[]> in_buf_;
  ZSTD_inBuffer in_{nullptr, 0, 0};
  bool eof_ = false;
  size_t frame_pending_ = 0;  // last ZSTD_decompressStream hint; 0 = between frames
};

// ---------------------------------------------------------------------------

constexpr size_t kPadding = simdjson::SIMDJSON_PADDING;
constexpr size_t kInitialBufferCapacity = size_t{1} << 18;
constexpr size_t kMinParserCapacity = size_t{1} << 16;

bool IsBlank(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    char c = p[i];
    if (c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v') return false;
  }
  return true;
}

std::vector<std::string> SplitDotted(const std::string& key) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t dot = key.find('.', start);
    parts.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

// Lines live in one growable buffer: [begin_, end_) holds bytes not yet
// consumed, scan_ is where the search for the next '\n' resumes. The
// allocation always has kPadding bytes past capacity_, so any line in it can
// go to simdjson in place, without the copy simdjson would otherwise make.
class JsonlReader final : public DocumentReader {
 public:
  JsonlReader(std::string path, uint32_t file_index, const InputConfig& config,
              std::unique_ptr<ByteSource> source)
      : path_(std::move(path)),
        file_index_(file_index),
        text_key_(config.text_key),
        source_path_(SplitDotted(config.source_key)),
        source_prefix_(config.source_prefix),
        fixed_source_(config.fixed_source),
        source_(std::move(source)),
        capacity_(kInitialBufferCapacity),
        buf_(new char[kInitialBufferCapacity + kPadding]) {
    std::memset(buf_.get(), ' ', kPadding);
  }

  bool Next(Document* doc) override {
    while (!done_) {
      char* base = buf_.get();
      const char* nl = static_cast<const char*>(std::memchr(base + scan_, '\n', end_ - scan_));
      size_t line_begin = begin_;
      size_t line_end;
      if (nl != nullptr) {
        line_end = static_cast<size_t>(nl - base);
        begin_ = scan_ = line_end + 1;
        bytes_read_ += line_end - line_begin + 1;
      } else if (!eof_) {
        scan_ = end_;
        Fill();
        continue;
      } else if (begin_ < end_) {
        // A last line without a newline is still a line.
        line_end = end_;
        begin_ = scan_ = end_;
        bytes_read_ += line_end - line_begin;
      } else {
        done_ = true;
        break;
      }
      ++line_no_;
      if (ParseLine(base + line_begin, line_end - line_begin, doc)) return true;
    }
    return false;
  }

  const RejectStats& rejects() const override { return rejects_; }
  // Blank lines are not counted (they are neither documents nor rejects), so
  // lines_read() == documents returned + per-line rejects; Document::line
  // still counts them, being the physical line number.
  uint64_t lines_read() const override { return lines_read_; }
  uint64_t bytes_read() const override { return bytes_read_; }

 private:
  // Appends more bytes after end_; sets eof_ at the end of input, or done_
  // (with one kCorruptInput) when the input cannot be read any further.
  void Fill() {
    if (begin_ > 0) {
      std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      scan_ -= begin_;
      begin_ = 0;
    }
    // Grow before the free space gets small so a long line costs a few large
    // reads rather than many tiny ones.
    if (capacity_ - end_ < capacity_ / 4 && !Grow(capacity_ * 2)) {
      Reject(RejectReason::kCorruptInput, line_no_ + 1, "out of memory buffering a line of ",
             std::to_string(end_) + "+ bytes");
      done_ = true;
      return;
    }
    size_t n = source_->Read(buf_.get() + end_, capacity_ - end_);
    if (n == 0) {
      if (!source_->error().empty()) {
        Reject(RejectReason::kCorruptInput, line_no_ + 1, source_->error());
        done_ = true;
      } else {
        eof_ = true;
      }
      return;
    }
    end_ += n;
    // Only simdjson's root-scalar parsing looks past a line, and it copies first;
    // spaces here keep even that independent of stale buffer bytes.
    std::memset(buf_.get() + end_, ' ', kPadding);
  }

  bool Grow(size_t new_capacity) {
    std::unique_ptr<char[]> bigger(new (std::nothrow) char[new_capacity + kPadding]);
    if (!bigger) return false;
    std::memcpy(bigger.get(), buf_.get(), end_);
    std::memset(bigger.get() + end_, ' ', kPadding);
    buf_ = std::move(bigger);
    capacity_ = new_capacity;
    return true;
  }

  // simdjson would size its tape exactly to each new longest line; growing
  // geometrically keeps reallocations logarithmic in a file of growing lines.
  void ReserveParser(size_t len) {
    if (len <= parser_.capacity() && len <= json_doc_.capacity()) return;
    size_t want = std::max({len, kMinParserCapacity, parser_.capacity() + parser_.capacity() / 2});
    want = std::min(want, parser_.max_capacity());
    if (want < len) return;  // parse reports CAPACITY
    if (parser_.capacity() < want && parser_.allocate(want) != simdjson::SUCCESS) return;
    if (json_doc_.capacity() < want && json_doc_.allocate(want) != simdjson::SUCCESS) return;
    // On any failure above parse_into_document retries at the exact size and
    // reports MEMALLOC itself.
  }

  // Returns true and fills *doc for a good document; counts the line otherwise.
  bool ParseLine(const char* p, size_t n, Document* doc) {
    if (line_no_ == 1 && n >= 3 && std::memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
      p += 3;
      n -= 3;
    }
    if (n > 0 && p[n - 1] == '\r') --n;
    if (IsBlank(p, n)) return false;
    ++lines_read_;

    ReserveParser(n);
    simdjson::dom::element root;
    simdjson::error_code err =
        parser_.parse_into_document(json_doc_, p, n, /*realloc_if_needed=*/false).get(root);
    if (err != simdjson::SUCCESS) {
      Reject(
          err == simdjson::UTF8_ERROR ? RejectReason::kInvalidUtf8 : RejectReason::kMalformedJson,
          line_no_, simdjson::error_message(err));
      return false;
    }
    simdjson::dom::object obj;
    if (root.get_object().get(obj) != simdjson::SUCCESS) {
      Reject(RejectReason::kNotAnObject, line_no_, "top-level value is not an object");
      return false;
    }
    std::string_view text;
    if (obj.at_key(text_key_).get_string().get(text) != simdjson::SUCCESS) {
      Reject(RejectReason::kMissingText, line_no_, "no string at key ", text_key_);
      return false;
    }
    std::string_view source = fixed_source_;
    if (fixed_source_.empty()) {
      if (!FindSource(obj, &source)) {
        Reject(RejectReason::kMissingSource, line_no_, "no string at key path ", JoinedSourceKey());
        return false;
      }
      if (!source_prefix_.empty()) {
        // An input group's sources are GROUP/SOURCE; the buffer is reused.
        source_name_.assign(source_prefix_);
        source_name_.append(source);
        source = source_name_;
      }
    }
    if (text.empty()) {
      Reject(RejectReason::kEmptyText, line_no_, "empty string at key ", text_key_);
      return false;
    }
    doc->file_index = file_index_;
    doc->line = line_no_;
    doc->source = source;
    doc->text = text;
    return true;
  }

  bool FindSource(simdjson::dom::object obj, std::string_view* out) const {
    for (size_t i = 0; i + 1 < source_path_.size(); ++i) {
      if (obj.at_key(source_path_[i]).get_object().get(obj) != simdjson::SUCCESS) return false;
    }
    return obj.at_key(source_path_.back()).get_string().get(*out) == simdjson::SUCCESS;
  }

  std::string JoinedSourceKey() const {
    std::string joined;
    for (const std::string& part : source_path_) {
      if (!joined.empty()) joined += '.';
      joined += part;
    }
    return joined;
  }

  // The detail is built only for examples that are kept: a file of a million
  // bad lines must not cost a million string allocations.
  void Reject(RejectReason reason, uint64_t line, std::string_view detail,
              std::string_view detail_suffix = {}) {
    auto idx = static_cast<size_t>(reason);
    if (rejects_.counts[idx] >= RejectStats::kMaxExamples) {
      ++rejects_.counts[idx];
      return;
    }
    std::string text(detail);
    text += detail_suffix;
    spdlog::warn("{}:{}: skipped ({}): {}", path_, line, RejectReasonName(reason), text);
    rejects_.Add(reason, RejectExample{path_, line, std::move(text)});
  }

  std::string path_;
  uint32_t file_index_;
  std::string text_key_;
  std::vector<std::string> source_path_;
  std::string source_prefix_, fixed_source_, source_name_;
  std::unique_ptr<ByteSource> source_;

  size_t capacity_;
  std::unique_ptr<char[]> buf_;
  size_t begin_ = 0;
  size_t scan_ = 0;
  size_t end_ = 0;
  bool eof_ = false;
  bool done_ = false;

  uint64_t line_no_ = 0;
  uint64_t lines_read_ = 0;
  uint64_t bytes_read_ = 0;

  simdjson::dom::parser parser_;
  simdjson::dom::document json_doc_;
  RejectStats rejects_;
};

}  // namespace

Status CheckInputReadable(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::InvalidConfig("cannot open input file '" + path + "': " + ErrnoText(errno));
  }
  ::close(fd);
  return Status::Ok();
}

Result<std::vector<std::string>> ResolveInputFiles(const std::vector<std::string>& patterns,
                                                   uint64_t seed) {
  auto files = ListInputFiles(patterns, seed);
  if (!files.ok()) return files.status();
  for (const std::string& f : *files) LCDE_RETURN_IF_ERROR(CheckInputReadable(f));
  return files;
}

Result<std::vector<std::string>> ListInputFiles(const std::vector<std::string>& patterns, uint64_t seed) {
  std::vector<std::string> files;
  for (const std::string& pattern : patterns) {
    std::error_code ec;
    // A literal name that happens to contain '[' or '*' still means itself.
    bool literal = !HasGlobChars(pattern) || fs::exists(pattern, ec);
    LCDE_RETURN_IF_ERROR(literal ? AddExplicitPath(pattern, &files) : AddGlob(pattern, &files));
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  DeterministicShuffle(&files, seed);
  return files;
}

const char* RejectReasonName(RejectReason r) {
  switch (r) {
    case RejectReason::kMalformedJson: return "malformed_json";
    case RejectReason::kNotAnObject: return "not_an_object";
    case RejectReason::kMissingText: return "missing_text";
    case RejectReason::kMissingSource: return "missing_source";
    case RejectReason::kEmptyText: return "empty_text";
    case RejectReason::kInvalidUtf8: return "invalid_utf8";
    case RejectReason::kCorruptInput: return "corrupt_input";
    case RejectReason::kCount: break;
  }
  return "unknown";
}

namespace {
size_t ExampleCount(const RejectStats& stats, RejectReason reason) {
  return static_cast<size_t>(std::count_if(stats.examples.begin(), stats.examples.end(),
                                           [reason](const auto& e) { return e.first == reason; }));
}
}  // namespace

void RejectStats::Add(RejectReason reason, RejectExample example) {
  ++counts[static_cast<size_t>(reason)];
  if (ExampleCount(*this, reason) < kMaxExamples) {
    examples.emplace_back(reason, std::move(example));
  }
}

void RejectStats::Merge(const RejectStats& other) {
  for (size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
  for (const auto& [reason, example] : other.examples) {
    if (ExampleCount(*this, reason) < kMaxExamples) examples.emplace_back(reason, example);
  }
}

uint64_t RejectStats::total() const {
  uint64_t sum = 0;
  for (uint64_t c : counts) sum += c;
  return sum;
}

Result<std::unique_ptr<DocumentReader>> DocumentReader::Open(const std::string& path,
                                                             uint32_t file_index,
                                                             const InputConfig& config) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string msg = "cannot open '" + path + "': " + ErrnoText(err);
    return err == ENOENT ? Status::NotFound(msg) : Status::IOError(msg);
  }
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::unique_ptr<ByteSource> source;
  if (IsZstdName(path)) {
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    if (dctx == nullptr) {
      ::close(fd);
      return Status::IOError("cannot create a zstd decoder for '" + path + "'");
    }
    source = std::make_unique<ZstdSource>(fd, dctx);
  } else {
    source = std::make_unique<PlainSource>(fd);
  }
  return std::unique_ptr<DocumentReader>(
      new JsonlReader(path, file_index, config, std::move(source)));
}

}  // namespace lcde
