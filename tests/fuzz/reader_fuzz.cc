// libFuzzer target for the JSONL / JSONL.zst reader (DocumentReader).
//
// The input is written to a scratch file and read back with
// DocumentReader::Open + Next() until the end. Its first byte picks how:
//   0x28 ('(', the first byte of the zstd magic): the whole input is a
//        .jsonl.zst file (fuzzed zstd frames, often corrupt or truncated);
//   0x01: the rest is JSONL text, compressed here into 1-3 zstd frames;
//   0x02: byte 1 is a size class r, the rest is JSONL text repeated to at
//        least (r % 24 + 1) * 16 KiB, written as .jsonl (long lines and lines
//        straddling the reader's buffer refills and growth);
//   0x03: as 0x02, then compressed as 0x01;
//   anything else: the whole input is a .jsonl file.
//
// Every result is checked against an independent line-by-line model of the
// documented contract (include/lcde/reader.h): each document is the one its
// physical line holds (BOM stripped on line 1, one trailing CR stripped),
// line numbers strictly increase, text and source are valid UTF-8 and the
// text non-empty; after the end: per-reason reject counts, lines_read(),
// bytes_read() match the model, documents + per-line rejects ==
// lines_read() <= physical lines, kCorruptInput exactly when the zstd stream
// is bad, and Next() stays false.
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "lcde/reader.h"

// The harness's own loops (hashing, splitting, the model) are not what
// coverage should steer towards, and instrumented they cost most of a run.
#if defined(__clang__)
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define NO_COVERAGE
#endif

namespace {

using lcde::RejectReason;

constexpr uint32_t kFileIndex = 3;
// Inputs that decompress to more are skipped: the reader's memory grows with
// the longest line by design, which is not what this target looks for.
constexpr size_t kMaxDecompressed = size_t{8} << 20;

std::string g_dir;  // this process's scratch directory

const lcde::InputConfig& Config() {
  static const lcde::InputConfig config;  // text, meta.redpajama_set_name
  return config;
}

NO_COVERAGE std::vector<std::string> SourcePath() {
  std::vector<std::string> parts;
  const std::string& key = Config().source_key;
  size_t start = 0;
  for (;;) {
    size_t dot = key.find('.', start);
    parts.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

void WriteFile(const std::string& path, std::string_view bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  FUZZ_CHECK(f != nullptr, "cannot create %s", path.c_str());
  FUZZ_CHECK(bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size(),
             "cannot write %s", path.c_str());
  FUZZ_CHECK(std::fclose(f) == 0, "cannot close %s", path.c_str());
}

void RemoveScratch() {
  std::error_code ec;
  if (!g_dir.empty()) std::filesystem::remove_all(g_dir, ec);
}

NO_COVERAGE uint64_t Hash(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

// Compresses `content` into 1-3 concatenated frames (split and level chosen
// from the content's hash; an empty frame is possible and legal).
NO_COVERAGE std::string CompressFrames(std::string_view content) {
  uint64_t h = Hash(content);
  size_t frames = 1 + h % 3;
  std::vector<size_t> cuts = {0};
  for (size_t i = 1; i < frames; ++i) {
    h = h * 6364136223846793005ULL + 1442695040888963407ULL;
    cuts.push_back(content.empty() ? 0 : (h >> 17) % (content.size() + 1));
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.push_back(content.size());
  std::string out;
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    std::string_view piece = content.substr(cuts[i], cuts[i + 1] - cuts[i]);
    std::string frame(ZSTD_compressBound(piece.size()), '\0');
    size_t n = ZSTD_compress(frame.data(), frame.size(), piece.data(), piece.size(),
                             1 + static_cast<int>((h >> 40) % 3));
    FUZZ_CHECK(!ZSTD_isError(n), "ZSTD_compress: %s", ZSTD_getErrorName(n));
    out.append(frame.data(), n);
  }
  return out;
}

struct Decoded {
  std::string bytes;     // what decoded before the end or the error
  bool clean = true;     // the whole input decoded, ending between frames
  bool too_big = false;
};

// The reference decoder: the whole input at once, in one streaming context.
NO_COVERAGE Decoded Decompress(std::string_view in) {
  Decoded d;
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  FUZZ_CHECK(dctx != nullptr, "ZSTD_createDCtx");
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  std::vector<char> buf(size_t{1} << 16);
  size_t hint = 0;
  for (;;) {
    ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
    size_t ret = ZSTD_decompressStream(dctx, &ob, &ib);
    if (ZSTD_isError(ret)) {
      d.clean = false;
      break;
    }
    d.bytes.append(buf.data(), ob.pos);
    hint = ret;
    if (d.bytes.size() > kMaxDecompressed) {
      d.too_big = true;
      break;
    }
    if (ib.pos == ib.size && ob.pos < ob.size) break;
  }
  if (d.clean && hint != 0) d.clean = false;  // truncated frame
  ZSTD_freeDCtx(dctx);
  return d;
}

struct Line {
  std::string_view bytes;  // without its '\n'
  bool terminated;         // a '\n' follows
};

NO_COVERAGE std::vector<Line> SplitLines(std::string_view content) {
  std::vector<Line> lines;
  size_t start = 0;
  while (start < content.size()) {
    size_t nl = content.find('\n', start);
    if (nl == std::string_view::npos) {
      lines.push_back({content.substr(start), false});
      break;
    }
    lines.push_back({content.substr(start, nl - start), true});
    start = nl + 1;
  }
  return lines;
}

struct Outcome {
  enum Kind { kBlank, kDoc, kReject } kind = kBlank;
  RejectReason reason = RejectReason::kCount;
  std::string text;
  std::string source;
};

// The contract for one physical line, parsed by a separate simdjson parser
// from a copy of the line.
NO_COVERAGE Outcome Classify(std::string_view line, uint64_t line_no) {
  static simdjson::dom::parser parser;
  static const std::vector<std::string> source_path = SourcePath();
  Outcome o;
  if (line_no == 1 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
  if (line.ends_with('\r')) line.remove_suffix(1);
  if (line.find_first_not_of(" \t\r\f\v") == std::string_view::npos) return o;
  o.kind = Outcome::kReject;
  simdjson::dom::element root;
  simdjson::error_code err = parser.parse(line.data(), line.size(), true).get(root);
  if (err != simdjson::SUCCESS) {
    o.reason = err == simdjson::UTF8_ERROR ? RejectReason::kInvalidUtf8 : RejectReason::kMalformedJson;
    return o;
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) {
    o.reason = RejectReason::kNotAnObject;
    return o;
  }
  std::string_view text;
  if (obj.at_key(Config().text_key).get_string().get(text) != simdjson::SUCCESS) {
    o.reason = RejectReason::kMissingText;
    return o;
  }
  simdjson::dom::object cur = obj;
  std::string_view source;
  bool found = true;
  for (size_t i = 0; i + 1 < source_path.size() && found; ++i) {
    found = cur.at_key(source_path[i]).get_object().get(cur) == simdjson::SUCCESS;
  }
  if (!found || cur.at_key(source_path.back()).get_string().get(source) != simdjson::SUCCESS) {
    o.reason = RejectReason::kMissingSource;
    return o;
  }
  if (text.empty()) {
    o.reason = RejectReason::kEmptyText;
    return o;
  }
  o.kind = Outcome::kDoc;
  o.text = text;
  o.source = source;
  return o;
}

// Reads `path` to the end and checks it against the model of `content`: the
// whole decompressed stream when `clean`, else the part that decoded before
// the stream's error.
void ReadAndCheck(const std::string& path, std::string_view content, bool clean) {
  auto opened = lcde::DocumentReader::Open(path, kFileIndex, Config());
  FUZZ_CHECK(opened.ok(), "Open failed: %s", opened.status().ToString().c_str());
  lcde::DocumentReader& reader = **opened;

  std::vector<Line> lines = SplitLines(content);
  std::vector<Outcome> model(lines.size());
  std::array<uint64_t, static_cast<size_t>(RejectReason::kCount)> want_counts{};
  uint64_t want_docs = 0, want_lines_read = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    // After an error only '\n'-terminated lines were certainly complete.
    if (!clean && !lines[i].terminated) {
      model.resize(i);
      break;
    }
    model[i] = Classify(lines[i].bytes, i + 1);
    if (model[i].kind == Outcome::kDoc) ++want_docs;
    if (model[i].kind == Outcome::kReject) ++want_counts[static_cast<size_t>(model[i].reason)];
    if (model[i].kind != Outcome::kBlank) ++want_lines_read;
  }

  lcde::Document doc;
  uint64_t docs = 0, last_line = 0;
  while (reader.Next(&doc)) {
    FUZZ_CHECK(doc.file_index == kFileIndex, "file_index %u", doc.file_index);
    FUZZ_CHECK(doc.line > last_line, "line %llu after line %llu",
               static_cast<unsigned long long>(doc.line), static_cast<unsigned long long>(last_line));
    FUZZ_CHECK(doc.Id() == ((uint64_t{kFileIndex} << 32) | doc.line), "Id()");
    FUZZ_CHECK(!doc.text.empty(), "empty text at line %llu", static_cast<unsigned long long>(doc.line));
    FUZZ_CHECK(simdjson::validate_utf8(doc.text.data(), doc.text.size()),
               "text at line %llu is not valid UTF-8", static_cast<unsigned long long>(doc.line));
    FUZZ_CHECK(simdjson::validate_utf8(doc.source.data(), doc.source.size()),
               "source at line %llu is not valid UTF-8", static_cast<unsigned long long>(doc.line));
    if (doc.line <= model.size()) {
      const Outcome& o = model[doc.line - 1];
      FUZZ_CHECK(o.kind == Outcome::kDoc, "line %llu returned as a document, model says %s",
                 static_cast<unsigned long long>(doc.line),
                 o.kind == Outcome::kBlank ? "blank" : lcde::RejectReasonName(o.reason));
      FUZZ_CHECK(o.text == doc.text && o.source == doc.source,
                 "line %llu: document differs from the model (text %zu vs %zu bytes)",
                 static_cast<unsigned long long>(doc.line), doc.text.size(), o.text.size());
    } else {
      FUZZ_CHECK(!clean, "document at line %llu, past the %zu lines of the input",
                 static_cast<unsigned long long>(doc.line), lines.size());
    }
    last_line = doc.line;
    ++docs;
  }
  FUZZ_CHECK(!reader.Next(&doc), "Next() returned true after returning false");

  const lcde::RejectStats& rejects = reader.rejects();
  uint64_t corrupt = rejects.counts[static_cast<size_t>(RejectReason::kCorruptInput)];
  uint64_t per_line_rejects = rejects.total() - corrupt;
  FUZZ_CHECK(docs + per_line_rejects == reader.lines_read(),
             "documents %llu + per-line rejects %llu != lines_read %llu",
             static_cast<unsigned long long>(docs), static_cast<unsigned long long>(per_line_rejects),
             static_cast<unsigned long long>(reader.lines_read()));
  size_t examples_per_reason[static_cast<size_t>(RejectReason::kCount)] = {};
  for (const auto& [reason, ex] : rejects.examples) {
    size_t r = static_cast<size_t>(reason);
    FUZZ_CHECK(r < static_cast<size_t>(RejectReason::kCount), "bad reason %zu", r);
    FUZZ_CHECK(++examples_per_reason[r] <= lcde::RejectStats::kMaxExamples, "too many examples");
    FUZZ_CHECK(examples_per_reason[r] <= rejects.counts[r], "more examples than rejects");
    FUZZ_CHECK(ex.file == path, "example names %s", ex.file.c_str());
    FUZZ_CHECK(ex.line >= 1, "example at line 0");
  }

  if (clean) {
    FUZZ_CHECK(corrupt == 0, "kCorruptInput on a clean input: %s",
               rejects.examples.empty() ? "" : rejects.examples.back().second.detail.c_str());
    FUZZ_CHECK(docs == want_docs, "documents %llu, model %llu", static_cast<unsigned long long>(docs),
               static_cast<unsigned long long>(want_docs));
    for (size_t r = 0; r < want_counts.size(); ++r) {
      FUZZ_CHECK(rejects.counts[r] == want_counts[r], "%s: %llu rejects, model %llu",
                 lcde::RejectReasonName(static_cast<RejectReason>(r)),
                 static_cast<unsigned long long>(rejects.counts[r]),
                 static_cast<unsigned long long>(want_counts[r]));
    }
    FUZZ_CHECK(reader.lines_read() == want_lines_read, "lines_read %llu, model %llu",
               static_cast<unsigned long long>(reader.lines_read()),
               static_cast<unsigned long long>(want_lines_read));
    FUZZ_CHECK(reader.bytes_read() == content.size(), "bytes_read %llu of %zu",
               static_cast<unsigned long long>(reader.bytes_read()), content.size());
  } else {
    FUZZ_CHECK(corrupt == 1, "a bad zstd stream gave %llu kCorruptInput",
               static_cast<unsigned long long>(corrupt));
    FUZZ_CHECK(reader.bytes_read() <= kMaxDecompressed, "bytes_read");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // every reject would be logged
  // A tmpfs if there is one: on a disk, truncating and rewriting the file
  // every run costs more than the run itself (7x on ext4 here).
  std::string dir = "/tmp";
  if (const char* env = std::getenv("LCDE_FUZZ_TMPDIR"); env && *env) {
    dir = env;
  } else if (::access("/dev/shm", W_OK | X_OK) == 0) {
    dir = "/dev/shm";
  } else if (const char* tmp = std::getenv("TMPDIR"); tmp && *tmp) {
    dir = tmp;
  }
  std::string tmpl = dir + "/lcde_fuzz_reader.XXXXXX";
  FUZZ_CHECK(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp %s", tmpl.c_str());
  g_dir = tmpl;
  std::atexit(RemoveScratch);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string plain = g_dir + "/in.jsonl";
  const std::string zst = g_dir + "/in.jsonl.zst";
  unsigned char mode = in.empty() ? 0 : static_cast<unsigned char>(in[0]);

  if (mode == 0x28) {  // raw .jsonl.zst
    Decoded d = Decompress(in);
    if (d.too_big) return -1;  // keep out of the corpus
    WriteFile(zst, in);
    ReadAndCheck(zst, d.bytes, d.clean);
    return 0;
  }
  if (mode >= 0x01 && mode <= 0x03) {
    in.remove_prefix(1);
    std::string content;
    if (mode & 0x02) {
      if (in.empty()) return 0;
      size_t want = (static_cast<unsigned char>(in[0]) % 24 + 1) * size_t{16384};
      in.remove_prefix(1);
      if (in.empty()) return 0;
      content.reserve(want + in.size());
      while (content.size() < want) content.append(in);
    } else {
      content.assign(in);
    }
    if (mode & 0x01) {
      WriteFile(zst, CompressFrames(content));
      ReadAndCheck(zst, content, true);
    } else {
      WriteFile(plain, content);
      ReadAndCheck(plain, content, true);
    }
    return 0;
  }
  WriteFile(plain, in);
  ReadAndCheck(plain, in, true);
  return 0;
}
