#include "lcde/inspect.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>

#include "lcde/shard_writer.h"
#include "lcde/tokenizer.h"
#include "lcde/text.h"

namespace lcde {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kIdxMagic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', '\0', '\0'};
constexpr size_t kIdxHeaderBytes = 34;

// A read-only file descriptor, closed on scope exit.
class File {
 public:
  File() = default;
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  Status Open(const std::string& path) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      int e = errno;
      if (e == ENOENT) return Status::NotFound(path + ": does not exist");
      return Status::IOError(path + ": " + std::strerror(e));
    }
    struct stat st;
    if (::fstat(fd_, &st) != 0) return Status::IOError(path + ": " + std::strerror(errno));
    size_ = static_cast<uint64_t>(st.st_size);
    return Status::Ok();
  }

  // Reads exactly n bytes at offset; short reads past the end are corruption.
  Status ReadAt(uint64_t offset, void* out, size_t n) const {
    if (offset > size_ || n > size_ - offset) {
      return Status::Corruption(path_ + ": wants bytes [" + std::to_string(offset) + ", " +
                                std::to_string(offset + n) + ") of a " + std::to_string(size_) +
                                "-byte file");
    }
    char* p = static_cast<char*>(out);
    while (n > 0) {
      ssize_t r = ::pread(fd_, p, n, static_cast<off_t>(offset));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::IOError(path_ + ": read error: " + std::strerror(errno));
      }
      if (r == 0) return Status::Corruption(path_ + ": file shrank while being read");
      p += r;
      n -= static_cast<size_t>(r);
      offset += static_cast<uint64_t>(r);
    }
    return Status::Ok();
  }

  template <typename T>
  Result<T> Read(uint64_t offset) const {
    T v;
    Status s = ReadAt(offset, &v, sizeof(T));
    if (!s.ok()) return s;
    return v;
  }

  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string path_;
};

// Length of the valid UTF-8 sequence at p (at most n bytes), 0 when invalid
// (overlong forms, surrogates and code points past U+10FFFF are invalid).
size_t Utf8SeqLen(const unsigned char* p, size_t n, uint32_t* cp) {
  unsigned char c = p[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t v, min;
  if ((c & 0xe0) == 0xc0) {
    len = 2, v = c & 0x1f, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3, v = c & 0x0f, min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (len > n) return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    v = (v << 6) | (p[i] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return len;
}

// Replaces every invalid byte with U+FFFD, so any JSON writer accepts it.
std::string ValidUtf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp;
    size_t len = Utf8SeqLen(p + i, s.size() - i, &cp);
    if (len == 0) {
      out += "\xef\xbf\xbd";
      ++i;
    } else {
      out.append(s, i, len);
      i += len;
    }
  }
  return out;
}

std::string ShardFile(const std::string& dir, const std::string& name, const char* ext) {
  return (fs::path(dir) / (name + ext)).string();
}

// The global chunk's shard: its entry and the chunk's index inside it.
struct ShardLocation {
  std::string name;
  uint64_t chunks = 0;  // in the shard
  uint64_t chunk_in_shard = 0;
};

Result<ShardLocation> Locate(const json& manifest, uint64_t chunk, uint64_t* total_chunks) {
  if (!manifest.contains("shards") || !manifest["shards"].is_array()) {
    return Status::Corruption("manifest.json: no shards array");
  }
  uint64_t total = 0;
  std::optional<ShardLocation> found;
  for (const auto& shard : manifest["shards"]) {
    if (!shard.is_object() || !shard.contains("name") || !shard["name"].is_string() ||
        !shard.contains("chunks") || !shard["chunks"].is_number_unsigned()) {
      return Status::Corruption("manifest.json: a shards entry without name or chunks: " + shard.dump());
    }
    uint64_t n = shard["chunks"].get<uint64_t>();
    if (!found && chunk >= total && chunk - total < n) {
      found = ShardLocation{shard["name"].get<std::string>(), n, chunk - total};
    }
    total += n;
  }
  *total_chunks = total;
  if (!found) {
    if (total == 0) return Status::InvalidConfig("chunk " + std::to_string(chunk) + " out of range: the dataset has no chunks");
    return Status::InvalidConfig("chunk " + std::to_string(chunk) + " out of range: the dataset has " +
                                 std::to_string(total) + " chunks (0.." + std::to_string(total - 1) + ")");
  }
  return *found;
}

// The chunk's token count and byte offset in the .bin, from the .idx.
struct IdxEntry {
  uint64_t tokens = 0;
  uint64_t pointer = 0;
};

Result<IdxEntry> ReadIdxEntry(const std::string& path, const ShardLocation& loc, int dtype_code) {
  File f;
  LCDE_RETURN_IF_ERROR(f.Open(path));
  char header[kIdxHeaderBytes];
  LCDE_RETURN_IF_ERROR(f.ReadAt(0, header, sizeof(header)));
  if (std::memcmp(header, kIdxMagic, sizeof(kIdxMagic)) != 0) {
    return Status::Corruption(path + ": not a Megatron index (bad magic)");
  }
  uint64_t version, count;
  std::memcpy(&version, header + 9, 8);
  std::memcpy(&count, header + 18, 8);
  uint8_t code = static_cast<uint8_t>(header[17]);
  if (version != 1) return Status::Corruption(path + ": index version " + std::to_string(version) + ", expected 1");
  if (code != dtype_code) {
    return Status::Corruption(path + ": dtype code " + std::to_string(code) + " but the manifest says " +
                              std::to_string(dtype_code));
  }
  if (count != loc.chunks) {
    return Status::Corruption(path + ": " + std::to_string(count) + " sequences but the manifest says " +
                              std::to_string(loc.chunks) + " chunks");
  }
  if (f.size() != kIdxHeaderBytes + 20 * count + 8) {
    return Status::Corruption(path + ": " + std::to_string(f.size()) + " bytes, expected " +
                              std::to_string(kIdxHeaderBytes + 20 * count + 8) + " for " +
                              std::to_string(count) + " sequences");
  }
  uint64_t i = loc.chunk_in_shard;
  auto length = f.Read<int32_t>(kIdxHeaderBytes + 4 * i);
  if (!length.ok()) return length.status();
  auto pointer = f.Read<int64_t>(kIdxHeaderBytes + 4 * count + 8 * i);
  if (!pointer.ok()) return pointer.status();
  if (*length < 0 || *pointer < 0) {
    return Status::Corruption(path + ": sequence " + std::to_string(i) + " has a negative length or pointer");
  }
  return IdxEntry{static_cast<uint64_t>(*length), static_cast<uint64_t>(*pointer)};
}

// The .seg records of one chunk: binary search on the sorted `chunk` column,
// then a forward read of that chunk's run. Uses the header's record size as
// the stride (docs/FORMAT.md, Versioning).
Result<std::vector<Segment>> ReadChunkSegments(const std::string& path, uint32_t chunk) {
  File f;
  LCDE_RETURN_IF_ERROR(f.Open(path));
  char header[kSegHeaderBytes];
  LCDE_RETURN_IF_ERROR(f.ReadAt(0, header, sizeof(header)));
  auto h = DecodeSegHeader(std::string_view(header, sizeof(header)), path);
  if (!h.ok()) return h.status();
  const uint32_t version = h->version, record = h->record_size;
  if (version < 1 || record < sizeof(Segment) || (version == kSegVersion && record != sizeof(Segment))) {
    return Status::Corruption(path + ": segment version " + std::to_string(version) + " record size " +
                              std::to_string(record) + " not supported");
  }
  uint64_t body = f.size() - kSegHeaderBytes;
  if (body % record != 0) {
    return Status::Corruption(path + ": " + std::to_string(body) + " bytes of records is not a multiple of " +
                              std::to_string(record));
  }
  uint64_t n = body / record;
  auto chunk_of = [&](uint64_t i) { return f.Read<uint32_t>(kSegHeaderBytes + i * record); };
  uint64_t lo = 0, hi = n;  // first record with chunk >= `chunk`
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    auto c = chunk_of(mid);
    if (!c.ok()) return c.status();
    if (*c < chunk) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  std::vector<Segment> out;
  constexpr uint64_t kBatch = 256;
  std::vector<char> buf;
  for (uint64_t i = lo; i < n;) {
    uint64_t m = std::min(kBatch, n - i);
    buf.resize(m * record);
    LCDE_RETURN_IF_ERROR(f.ReadAt(kSegHeaderBytes + i * record, buf.data(), buf.size()));
    for (uint64_t k = 0; k < m; ++k) {
      Segment s;
      std::memcpy(&s, buf.data() + k * record, sizeof(Segment));
      if (s.chunk != chunk) {
        if (s.chunk < chunk) {
          return Status::Corruption(path + ": records are not sorted by chunk (record " +
                                    std::to_string(i + k) + ")");
        }
        return out;
      }
      out.push_back(s);
    }
    i += m;
  }
  return out;
}

Result<std::vector<int32_t>> ReadChunkTokens(const std::string& path, const IdxEntry& e, int dtype_code) {
  File f;
  LCDE_RETURN_IF_ERROR(f.Open(path));
  size_t item = dtype_code == 4 ? 4 : 2;
  std::vector<int32_t> tokens(e.tokens);
  if (item == 4) {
    LCDE_RETURN_IF_ERROR(f.ReadAt(e.pointer, tokens.data(), tokens.size() * 4));
  } else {
    std::vector<uint16_t> raw(e.tokens);
    LCDE_RETURN_IF_ERROR(f.ReadAt(e.pointer, raw.data(), raw.size() * 2));
    std::copy(raw.begin(), raw.end(), tokens.begin());
  }
  return tokens;
}

}  // namespace

const char* PiecePartName(PiecePart part) {
  switch (part) {
    case PiecePart::kWhole: return "whole";
    case PiecePart::kStart: return "start";
    case PiecePart::kMiddle: return "middle";
    case PiecePart::kEnd: return "end";
  }
  return "?";
}

PiecePart PiecePartOf(uint64_t doc_offset, uint64_t length, uint64_t doc_tokens) {
  bool first = doc_offset == 0;
  bool last = doc_offset + length >= doc_tokens;
  if (first && last) return PiecePart::kWhole;
  if (first) return PiecePart::kStart;
  if (last) return PiecePart::kEnd;
  return PiecePart::kMiddle;
}

size_t Utf8Chars(const std::string& text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = 0, chars = 0;
  while (i < text.size()) {
    uint32_t cp;
    size_t len = Utf8SeqLen(p + i, text.size() - i, &cp);
    i += len == 0 ? 1 : len;
    ++chars;
  }
  return chars;
}

std::string TruncateUtf8(const std::string& text, size_t max_chars, bool* truncated) {
  *truncated = false;
  if (max_chars == 0) return text;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = 0, chars = 0;
  while (i < text.size() && chars < max_chars) {
    uint32_t cp;
    size_t len = Utf8SeqLen(p + i, text.size() - i, &cp);
    i += len == 0 ? 1 : len;
    ++chars;
  }
  *truncated = i < text.size();
  return text.substr(0, i);
}

std::string EscapeOneLine(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 8);
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  char buf[16];
  size_t i = 0;
  while (i < text.size()) {
    uint32_t cp;
    size_t len = Utf8SeqLen(p + i, text.size() - i, &cp);
    if (len == 0) {  // an invalid byte, shown as such
      std::snprintf(buf, sizeof(buf), "\\x%02x", p[i]);
      out += buf;
      ++i;
      continue;
    }
    switch (cp) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (cp < 0x20 || cp == 0x7f) {
          std::snprintf(buf, sizeof(buf), "\\x%02x", cp);
          out += buf;
        } else if ((cp >= 0x80 && cp < 0xa0) || cp == 0x2028 || cp == 0x2029) {
          // C1 controls (NEL among them) and the Unicode line/paragraph
          // separators would break the line in some terminals.
          std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
          out += buf;
        } else {
          out.append(text, i, len);
        }
    }
    i += len;
  }
  return out;
}

Result<ChunkInspection> InspectChunk(const std::string& dir, const json& manifest, uint64_t chunk,
                                     const InspectOptions& options) {
  ChunkInspection out;
  out.chunk = chunk;
  auto loc = Locate(manifest, chunk, &out.chunks);
  if (!loc.ok()) return loc.status();
  out.shard = loc->name;
  out.chunk_in_shard = loc->chunk_in_shard;
  if (loc->chunk_in_shard > UINT32_MAX) {
    return Status::Corruption("manifest.json: shard " + loc->name + " has more chunks than a .seg can address");
  }

  int dtype_code = manifest.value("dtype_code", 0);
  if (dtype_code != 8 && dtype_code != 4) {
    return Status::Corruption("manifest.json: dtype_code " + std::to_string(dtype_code) +
                              " is neither 8 (uint16) nor 4 (int32)");
  }
  const json sources = manifest.value("sources", json::array());
  const json inputs = manifest.value("inputs", json::array());

  auto idx = ReadIdxEntry(ShardFile(dir, loc->name, ".idx"), *loc, dtype_code);
  if (!idx.ok()) return idx.status();
  out.tokens = idx->tokens;

  std::string seg_path = ShardFile(dir, loc->name, ".seg");
  auto segs = ReadChunkSegments(seg_path, static_cast<uint32_t>(loc->chunk_in_shard));
  if (!segs.ok()) return segs.status();
  const std::string where = seg_path + ": chunk " + std::to_string(loc->chunk_in_shard);
  uint64_t filled = 0;
  for (const Segment& s : *segs) {
    if (s.start != filled || s.length == 0) {
      return Status::Corruption(where + ": piece at " + std::to_string(s.start) + " of length " +
                                std::to_string(s.length) + " does not follow the previous one (ends at " +
                                std::to_string(filled) + ")");
    }
    filled += s.length;
    if (s.doc_offset + s.length > s.doc_tokens) {
      return Status::Corruption(where + ": piece at " + std::to_string(s.start) + " ends past its document (" +
                                std::to_string(s.doc_offset) + " + " + std::to_string(s.length) + " > " +
                                std::to_string(s.doc_tokens) + ")");
    }
    InspectedPiece p;
    p.start = s.start;
    p.length = s.length;
    p.source_id = s.source;
    p.document = s.document;
    p.doc_offset = s.doc_offset;
    p.doc_tokens = s.doc_tokens;
    p.input_index = static_cast<uint32_t>(s.document >> 32);
    p.line = s.document & 0xffffffffu;
    p.part = PiecePartOf(s.doc_offset, s.length, s.doc_tokens);
    if (s.source >= sources.size() || !sources[s.source].is_object()) {
      return Status::Corruption(where + ": source " + std::to_string(s.source) + " is not in the manifest's " +
                                std::to_string(sources.size()) + " sources");
    }
    p.source = sources[s.source].value("name", "");
    if (p.input_index >= inputs.size() || !inputs[p.input_index].is_object()) {
      return Status::Corruption(where + ": input file " + std::to_string(p.input_index) +
                                " is not in the manifest's " + std::to_string(inputs.size()) + " inputs");
    }
    p.file = inputs[p.input_index].value("path", "");
    out.pieces.push_back(std::move(p));
  }
  if (filled != out.tokens) {
    return Status::Corruption(where + ": pieces cover " + std::to_string(filled) + " tokens but the .idx says " +
                              std::to_string(out.tokens));
  }

  if (options.decode) {
    const json tok = manifest.value("tokenizer", json::object());
    std::string model = tok.is_object() ? tok.value("model", "") : "";
    if (model.empty()) return Status::Corruption("manifest.json: no tokenizer.model; --decode needs it");
    std::error_code ec;
    if (!fs::is_regular_file(model, ec)) {
      return Status::NotFound("cannot decode: the dataset's tokenizer model '" + model +
                              "' (manifest tokenizer.model) does not exist or is not a file");
    }
    auto tokenizer = Tokenizer::Load(model);
    if (!tokenizer.ok()) return tokenizer.status();
    std::string want = tok.value("sha256", "");
    if (want != (*tokenizer)->sha256()) {
      out.warnings.push_back("tokenizer model '" + model + "' has sha256 " + (*tokenizer)->sha256() +
                             " but the manifest records " + (want.empty() ? "none" : want) +
                             ": it is not the model the dataset was built with, the text may be wrong");
    }
    int vocab = (*tokenizer)->vocab_size();
    auto tokens = ReadChunkTokens(ShardFile(dir, loc->name, ".bin"), *idx, dtype_code);
    if (!tokens.ok()) return tokens.status();
    for (size_t i = 0; i < tokens->size(); ++i) {
      int32_t id = (*tokens)[i];
      if (id < 0 || id >= vocab) {
        return Status::Corruption(ShardFile(dir, loc->name, ".bin") + ": chunk " +
                                  std::to_string(loc->chunk_in_shard) + " token " + std::to_string(i) +
                                  " is id " + std::to_string(id) + ", outside the tokenizer's " +
                                  std::to_string(vocab) + " ids");
      }
    }
    std::span<const int32_t> all(*tokens);
    for (auto& p : out.pieces) p.text = (*tokenizer)->Decode(all.subspan(p.start, p.length));
  }
  return out;
}

json InspectionToJson(const ChunkInspection& in, size_t max_chars) {
  json j;
  j["chunk"] = in.chunk;
  j["shard"] = in.shard;
  j["chunk_in_shard"] = in.chunk_in_shard;
  j["tokens"] = in.tokens;
  json pieces = json::array();
  for (const auto& p : in.pieces) {
    json o;
    o["source"] = p.source;
    o["source_id"] = p.source_id;
    o["document"] = p.document;
    o["input_index"] = p.input_index;
    o["file"] = p.file;
    o["line"] = p.line;
    o["start"] = p.start;
    o["length"] = p.length;
    o["doc_offset"] = p.doc_offset;
    o["doc_tokens"] = p.doc_tokens;
    o["part"] = PiecePartName(p.part);
    if (p.text) {
      bool truncated = false;
      o["text"] = ValidUtf8(TruncateUtf8(*p.text, max_chars, &truncated));
      o["text_chars"] = Utf8Chars(*p.text);
      o["text_truncated"] = truncated;
    }
    pieces.push_back(std::move(o));
  }
  j["pieces"] = std::move(pieces);
  return j;
}

std::string FormatInspection(const ChunkInspection& in, size_t max_chars) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof(line), "chunk %llu of %llu: %s chunk %llu, %s tokens, %zu piece%s\n",
                static_cast<unsigned long long>(in.chunk), static_cast<unsigned long long>(in.chunks),
                in.shard.c_str(), static_cast<unsigned long long>(in.chunk_in_shard),
                WithThousands(in.tokens).c_str(), in.pieces.size(), in.pieces.size() == 1 ? "" : "s");
  out += line;
  int source_w = 6;
  for (const auto& p : in.pieces) source_w = std::max(source_w, static_cast<int>(p.source.size()));
  std::snprintf(line, sizeof(line), "%5s %8s %8s %-6s %10s %10s  %-*s %14s  %s\n", "piece", "start", "length",
                "part", "doc_offset", "doc_tokens", source_w, "source", "document", "file:line");
  out += line;
  for (size_t i = 0; i < in.pieces.size(); ++i) {
    const auto& p = in.pieces[i];
    std::snprintf(line, sizeof(line), "%5zu %8u %8u %-6s %10llu %10llu  %-*s %14llu  ", i, p.start, p.length,
                  PiecePartName(p.part), static_cast<unsigned long long>(p.doc_offset),
                  static_cast<unsigned long long>(p.doc_tokens), source_w, p.source.c_str(),
                  static_cast<unsigned long long>(p.document));
    out += line;
    out += p.file + ":" + std::to_string(p.line);
    if (p.text) {
      bool truncated = false;
      std::string shown = TruncateUtf8(*p.text, max_chars, &truncated);
      out += "  \"" + EscapeOneLine(shown) + (truncated ? "\xe2\x80\xa6" : "") + "\" (" +
             std::to_string(p.length) + " tokens, " + std::to_string(Utf8Chars(*p.text)) + " chars)";
    }
    out += "\n";
  }
  return out;
}

}  // namespace lcde
