#include "lcde/verify.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "lcde/manifest.h"
#include "lcde/shard_writer.h"
#include "lcde/stats.h"
#include "lcde/sha256.h"

namespace lcde {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A file read front to back in pieces of a caller's size, hashed as it goes:
// verify holds a bounded buffer whatever the file's size.
class HashedReader {
 public:
  explicit HashedReader(const std::string& path) : in_(std::fopen(path.c_str(), "rb")) {}
  ~HashedReader() {
    if (in_ != nullptr) std::fclose(in_);
  }
  bool is_open() const { return in_ != nullptr; }
  // The next n bytes (fewer only at the end of the file), valid until the
  // next call.
  std::string_view Read(size_t n) {
    if (buffer_.size() < n) buffer_.resize(n);
    size_t got = 0;
    while (got < n && !failed_) {
      const size_t r = std::fread(buffer_.data() + got, 1, n - got, in_);
      if (r == 0) {
        failed_ = std::ferror(in_) != 0;
        break;
      }
      got += r;
    }
    sha_.Update(buffer_.data(), got);
    bytes_ += got;
    return std::string_view(buffer_.data(), got);
  }
  // Reads what is left (hashing it); then the totals are final.
  void Drain() {
    while (!Read(kBlock).empty()) {
    }
  }
  bool failed() const { return failed_; }
  uint64_t bytes() const { return bytes_; }
  std::string HexDigest() {
    Result<std::string> hex = sha_.HexDigest();
    return hex.ok() ? *hex : std::string();
  }

  static constexpr size_t kBlock = size_t{4} << 20;

 private:
  std::FILE* in_;
  std::vector<char> buffer_;
  Sha256 sha_;
  uint64_t bytes_ = 0;
  bool failed_ = false;
};

template <typename T>
T Get(std::string_view b, size_t off) {
  T v;
  std::memcpy(&v, b.data() + off, sizeof(T));
  return v;
}

class Verifier {
 public:
  Verifier(std::string dir, const json& m) : dir_(std::move(dir)), m_(m) {}

  VerifyReport Run() {
    seq_ = m_.value("sequence_length", uint64_t{0});
    vocab_ = m_.contains("tokenizer") ? m_["tokenizer"].value("vocab_size", 0) : 0;
    dtype_code_ = m_.value("dtype_code", 0);
    if (dtype_code_ != 8 && dtype_code_ != 4) Defect("manifest.json: dtype_code " + std::to_string(dtype_code_) + " is neither 8 (uint16) nor 4 (int32)");
    item_ = dtype_code_ == 4 ? 4 : 2;
    sources_ = m_.value("sources", json::array()).size();
    inputs_ = m_.value("inputs", json::array()).size();
    keep_partial_ = m_.contains("last_chunk_may_be_partial")
                        ? m_["last_chunk_may_be_partial"].get<bool>()
                        : m_.contains("config") && m_["config"].contains("output") &&
                              m_["config"]["output"].value("keep_partial_chunk", false);
    const json shards = m_.value("shards", json::array());
    for (size_t i = 0; i < shards.size(); ++i) Shard(shards[i], i + 1 == shards.size());
    if (m_.contains("totals")) {
      if (m_["totals"].value("chunks", uint64_t{0}) != report_.chunks)
        Defect("manifest.json: totals.chunks " + m_["totals"]["chunks"].dump() + " but the shards hold " + std::to_string(report_.chunks));
      if (m_["totals"].value("tokens", uint64_t{0}) != report_.tokens)
        Defect("manifest.json: totals.tokens " + m_["totals"]["tokens"].dump() + " but the shards hold " + std::to_string(report_.tokens));
    } else {
      Defect("manifest.json: no totals");
    }
    if (report_.defects.empty() && m_.contains("stats")) {
      auto st = ComputeStats(dir_, m_);
      if (!st.ok()) {
        Defect(st.status().message());
      } else {
        // Only the keys the manifest has: stats keys are only ever added, and
        // a dataset written before a key existed still verifies.
        const json computed = StatsToJson(*st, json::object());
        for (const auto& [key, value] : m_["stats"].items()) {
          if (!computed.contains(key) || computed[key] != value) {
            Defect("manifest.json: stats." + key +
                   " differs from what the .seg files give (run `lcde stats --json` to see it)");
          }
        }
      }
    }
    return report_;
  }

 private:
  void Defect(std::string what) { report_.defects.push_back(std::move(what)); }

  // Opens NAME.EXT, or names the defect and returns null.
  std::unique_ptr<HashedReader> Open(const std::string& name, const char* ext) {
    const std::string file = name + ext;
    const std::string path = (fs::path(dir_) / file).string();
    if (!fs::exists(path)) {
      Defect(file + ": missing");
      return nullptr;
    }
    auto r = std::make_unique<HashedReader>(path);
    if (!r->is_open()) {
      Defect(file + ": cannot be read");
      return nullptr;
    }
    return r;
  }

  // Once `r` has been read to its end: its size and sha256 against the
  // manifest's.
  void CheckTotals(const std::string& name, const json& shard, const char* ext, HashedReader* r) {
    r->Drain();
    const std::string file = name + ext;
    if (r->failed()) {
      Defect(file + ": cannot be read");
      return;
    }
    const std::string key = std::string(ext + 1);
    const uint64_t want = shard.value(key + "_bytes", uint64_t{0});
    if (r->bytes() != want) Defect(file + ": " + std::to_string(r->bytes()) + " bytes, manifest says " + std::to_string(want));
    const std::string sha = r->HexDigest();
    if (sha != shard.value(key + "_sha256", std::string())) Defect(file + ": sha256 " + sha + " does not match the manifest");
  }

  // Each file is streamed once: the .idx (12 bytes a chunk) whole, the .bin
  // and .seg in bounded blocks.
  void Shard(const json& shard, bool last) {
    const std::string name = shard.value("name", std::string("?"));
    const uint64_t chunks = shard.value("chunks", uint64_t{0});
    report_.shards++;
    std::vector<uint64_t> lengths;
    bool have_idx = false;
    if (auto idx = Open(name, ".idx")) {
      const uint64_t size = fs::file_size(fs::path(dir_) / (name + ".idx"));
      lengths = Index(name, idx->Read(size), chunks, last);
      CheckTotals(name, shard, ".idx", idx.get());
      have_idx = true;
    }
    uint64_t tokens = 0;
    for (uint64_t l : lengths) tokens += l;
    if (auto bin = Open(name, ".bin")) {
      if (have_idx) Tokens(name, bin.get());
      if (have_idx && bin->bytes() != tokens * item_) {
        Defect(name + ".bin: " + std::to_string(bin->bytes()) + " bytes but its .idx describes " + std::to_string(tokens * item_));
      }
      CheckTotals(name, shard, ".bin", bin.get());
    }
    if (tokens != shard.value("tokens", uint64_t{0})) Defect(name + ": .idx holds " + std::to_string(tokens) + " tokens, manifest says " + shard.value("tokens", json()).dump());
    if (auto seg = Open(name, ".seg")) {
      if (!lengths.empty()) Segments(name, seg.get(), lengths, shard.value("segments", uint64_t{0}));
      CheckTotals(name, shard, ".seg", seg.get());
    }
    report_.chunks += chunks;
    report_.tokens += tokens;
  }

  std::vector<uint64_t> Index(const std::string& name, std::string_view b, uint64_t chunks, bool last) {
    std::string file = name + ".idx";
    if (b.size() < 34 || std::memcmp(b.data(), "MMIDIDX\0\0", 9) != 0) {
      Defect(file + ": not a Megatron MMIDIDX index (bad magic)");
      return {};
    }
    if (Get<uint64_t>(b, 9) != 1) Defect(file + ": version " + std::to_string(Get<uint64_t>(b, 9)) + ", expected 1");
    if (static_cast<int>(static_cast<uint8_t>(b[17])) != dtype_code_) Defect(file + ": dtype code " + std::to_string(static_cast<uint8_t>(b[17])) + " differs from the manifest's " + std::to_string(dtype_code_));
    uint64_t n = Get<uint64_t>(b, 18), docs = Get<uint64_t>(b, 26);
    if (n != chunks) Defect(file + ": " + std::to_string(n) + " sequences, manifest says " + std::to_string(chunks) + " chunks");
    if (docs != n + 1) Defect(file + ": document count " + std::to_string(docs) + ", expected " + std::to_string(n + 1));
    if (b.size() != 34 + 12 * n + 8 * docs) {
      Defect(file + ": " + std::to_string(b.size()) + " bytes, its header implies " + std::to_string(34 + 12 * n + 8 * docs));
      return {};
    }
    std::vector<uint64_t> lengths(n);
    uint64_t pointer = 0;
    for (uint64_t i = 0; i < n; ++i) {
      int32_t len = Get<int32_t>(b, 34 + 4 * i);
      int64_t ptr = Get<int64_t>(b, 34 + 4 * n + 8 * i);
      bool partial_ok = keep_partial_ && last && i + 1 == n && len > 0 && static_cast<uint64_t>(len) <= seq_;
      if (static_cast<uint64_t>(len) != seq_ && !partial_ok) Defect(file + ": sequence " + std::to_string(i) + " has " + std::to_string(len) + " tokens, not sequence_length " + std::to_string(seq_));
      if (static_cast<uint64_t>(ptr) != pointer) Defect(file + ": sequence " + std::to_string(i) + " points at byte " + std::to_string(ptr) + ", expected " + std::to_string(pointer));
      lengths[i] = len > 0 ? static_cast<uint64_t>(len) : 0;
      pointer += lengths[i] * item_;
    }
    for (uint64_t i = 0; i < docs; ++i) {
      if (Get<int64_t>(b, 34 + 12 * n + 8 * i) != static_cast<int64_t>(i)) {
        Defect(file + ": document_indices[" + std::to_string(i) + "] is not " + std::to_string(i));
        break;
      }
    }
    return lengths;
  }

  // Reads the whole .bin: every id within the vocabulary (the first one
  // outside is named).
  void Tokens(const std::string& name, HashedReader* bin) {
    uint64_t index = 0;
    bool reported = false;
    for (;;) {
      const std::string_view block = bin->Read(HashedReader::kBlock);  // a whole number of ids but at the end
      if (block.empty()) return;
      const size_t n = block.size() / item_;
      for (size_t i = 0; i < n && !reported && vocab_ > 0; ++i) {
        const int64_t id = item_ == 2 ? Get<uint16_t>(block, 2 * i) : Get<int32_t>(block, 4 * i);
        if (id < 0 || id >= vocab_) {
          Defect(name + ".bin: token " + std::to_string(index + i) + " is " + std::to_string(id) +
                 ", outside the vocabulary of " + std::to_string(vocab_));
          reported = true;
        }
      }
      index += n;
    }
  }

  // Streams the .seg's records: each piece in its chunk, in order, within
  // its document; together they cover every chunk.
  void Segments(const std::string& name, HashedReader* seg, const std::vector<uint64_t>& lengths, uint64_t expect) {
    const std::string file = name + ".seg";
    auto h = DecodeSegHeader(seg->Read(kSegHeaderBytes), file);
    if (!h.ok()) {
      Defect(h.status().message());
      return;
    }
    if (h->version != kSegVersion || h->record_size != sizeof(Segment)) {
      Defect(file + ": unsupported version or record size");
      return;
    }
    constexpr size_t kRecordsPerBlock = 65536;
    std::vector<uint64_t> filled(lengths.size(), 0);
    uint64_t chunk = 0, count = 0;
    for (;;) {
      const std::string_view block = seg->Read(kRecordsPerBlock * sizeof(Segment));
      if (block.size() % sizeof(Segment) != 0) Defect(file + ": size is not a whole number of records");
      const size_t n = block.size() / sizeof(Segment);
      for (size_t k = 0; k < n; ++k, ++count) {
        const Segment s = Get<Segment>(block, k * sizeof(Segment));
        const std::string where = file + ": record " + std::to_string(count);
        if (s.chunk >= lengths.size() || s.chunk < chunk) {
          Defect(where + ": chunk " + std::to_string(s.chunk) + " out of order or range");
          return;
        }
        chunk = s.chunk;
        if (s.start != filled[chunk]) Defect(where + ": starts at " + std::to_string(s.start) + ", expected " + std::to_string(filled[chunk]));
        filled[chunk] = s.start + s.length;
        if (s.length == 0) Defect(where + ": empty piece");
        if (s.source >= sources_) Defect(where + ": source " + std::to_string(s.source) + " not in the manifest");
        if ((s.document >> 32) >= inputs_) Defect(where + ": document's input file " + std::to_string(s.document >> 32) + " not in the manifest");
        if (s.doc_offset + s.length > s.doc_tokens) Defect(where + ": piece ends past its document's " + std::to_string(s.doc_tokens) + " tokens");
        if (report_.defects.size() > 100) return;
      }
      if (block.size() < kRecordsPerBlock * sizeof(Segment)) break;
    }
    if (count != expect) Defect(file + ": " + std::to_string(count) + " records, manifest says " + std::to_string(expect));
    for (size_t c = 0; c < lengths.size(); ++c) {
      if (filled[c] != lengths[c]) Defect(file + ": chunk " + std::to_string(c) + " pieces cover " + std::to_string(filled[c]) + " of " + std::to_string(lengths[c]) + " tokens");
    }
    report_.segments += count;
  }

  std::string dir_;
  const json& m_;
  VerifyReport report_;
  uint64_t seq_ = 0;
  int vocab_ = 0;
  int dtype_code_ = 0;
  size_t item_ = 2;
  size_t sources_ = 0, inputs_ = 0;
  bool keep_partial_ = false;
};

}  // namespace

Result<VerifyReport> VerifyDataset(const std::string& dir) {
  auto m = ReadManifest(dir);
  if (!m.ok()) return m.status();
  return Verifier(dir, *m).Run();
}

}  // namespace lcde
