#include "lcde/verify.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "lcde/manifest.h"
#include "lcde/shard_writer.h"
#include "lcde/stats.h"
#include "lcde/sha256.h"

namespace lcde {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string ReadAll(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  *ok = static_cast<bool>(in) || in.eof();
  return s;
}

template <typename T>
T Get(const std::string& b, size_t off) {
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
      } else if (StatsToJson(*st, json::object()) != m_["stats"]) {
        Defect("manifest.json: stats differ from what the .seg files give (run `lcde stats --json` to see them)");
      }
    }
    return report_;
  }

 private:
  void Defect(std::string what) { report_.defects.push_back(std::move(what)); }

  bool CheckFile(const std::string& name, const json& shard, const char* ext, std::string* bytes) {
    std::string file = name + ext;
    std::string path = (fs::path(dir_) / file).string();
    if (!fs::exists(path)) {
      Defect(file + ": missing");
      return false;
    }
    bool ok = false;
    *bytes = ReadAll(path, &ok);
    if (!ok) {
      Defect(file + ": cannot be read");
      return false;
    }
    std::string key = std::string(ext + 1);
    uint64_t want = shard.value(key + "_bytes", uint64_t{0});
    if (bytes->size() != want) Defect(file + ": " + std::to_string(bytes->size()) + " bytes, manifest says " + std::to_string(want));
    std::string sha = Sha256Hex(*bytes);
    if (sha != shard.value(key + "_sha256", std::string())) Defect(file + ": sha256 " + sha + " does not match the manifest");
    return true;
  }

  void Shard(const json& shard, bool last) {
    std::string name = shard.value("name", std::string("?"));
    uint64_t chunks = shard.value("chunks", uint64_t{0});
    report_.shards++;
    std::string bin, idx, seg;
    bool have_bin = CheckFile(name, shard, ".bin", &bin);
    bool have_idx = CheckFile(name, shard, ".idx", &idx);
    bool have_seg = CheckFile(name, shard, ".seg", &seg);
    std::vector<uint64_t> lengths;
    if (have_idx) lengths = Index(name, idx, chunks, last);
    uint64_t tokens = 0;
    for (uint64_t l : lengths) tokens += l;
    if (have_bin && have_idx) {
      if (bin.size() != tokens * item_) {
        Defect(name + ".bin: " + std::to_string(bin.size()) + " bytes but its .idx describes " + std::to_string(tokens * item_));
      } else {
        Tokens(name, bin);
      }
    }
    if (tokens != shard.value("tokens", uint64_t{0})) Defect(name + ": .idx holds " + std::to_string(tokens) + " tokens, manifest says " + shard.value("tokens", json()).dump());
    if (have_seg && !lengths.empty()) Segments(name, seg, lengths, shard.value("segments", uint64_t{0}));
    report_.chunks += chunks;
    report_.tokens += tokens;
  }

  std::vector<uint64_t> Index(const std::string& name, const std::string& b, uint64_t chunks, bool last) {
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

  void Tokens(const std::string& name, const std::string& bin) {
    if (vocab_ <= 0) return;
    size_t n = bin.size() / item_;
    for (size_t i = 0; i < n; ++i) {
      int64_t id = item_ == 2 ? Get<uint16_t>(bin, 2 * i) : Get<int32_t>(bin, 4 * i);
      if (id < 0 || id >= vocab_) {
        Defect(name + ".bin: token " + std::to_string(i) + " is " + std::to_string(id) + ", outside the vocabulary of " + std::to_string(vocab_));
        return;
      }
    }
  }

  void Segments(const std::string& name, const std::string& b, const std::vector<uint64_t>& lengths, uint64_t expect) {
    std::string file = name + ".seg";
    auto h = DecodeSegHeader(b, file);
    if (!h.ok()) {
      Defect(h.status().message());
      return;
    }
    if (h->version != kSegVersion || h->record_size != sizeof(Segment)) {
      Defect(file + ": unsupported version or record size");
      return;
    }
    if ((b.size() - kSegHeaderBytes) % sizeof(Segment) != 0) Defect(file + ": size is not a whole number of records");
    uint64_t count = (b.size() - kSegHeaderBytes) / sizeof(Segment);
    if (count != expect) Defect(file + ": " + std::to_string(count) + " records, manifest says " + std::to_string(expect));
    std::vector<uint64_t> filled(lengths.size(), 0);
    uint64_t chunk = 0;
    for (uint64_t r = 0; r < count; ++r) {
      Segment s = Get<Segment>(b, kSegHeaderBytes + r * sizeof(Segment));
      std::string where = file + ": record " + std::to_string(r);
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
