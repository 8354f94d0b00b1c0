#include "lcde/merge.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "lcde/manifest.h"
#include "lcde/packer.h"
#include "lcde/reader.h"
#include "lcde/shard_writer.h"
#include "lcde/stats.h"
#include "lcde/validation.h"
#include "lcde/sha256.h"

namespace lcde {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Part {
  fs::path dir;
  json manifest;
};

// Sums the numeric leaves of `from` into `into` (objects recursively).
void AddNumbers(json* into, const json& from) {
  for (const auto& [k, v] : from.items()) {
    if (v.is_number_unsigned() || v.is_number_integer()) {
      (*into)[k] = (into->contains(k) ? (*into)[k].get<uint64_t>() : 0) + v.get<uint64_t>();
    } else if (v.is_object()) {
      if (!into->contains(k)) (*into)[k] = json::object();
      AddNumbers(&(*into)[k], v);
    }
  }
}

Status LinkOrReplace(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::remove(to, ec);
  fs::create_hard_link(from, to, ec);
  if (ec) {
    // Another filesystem: copy instead.
    ec.clear();
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
    if (ec) return Status::IOError("cannot link or copy " + from.string() + " to " + to.string() + ": " + ec.message());
  }
  return Status::Ok();
}

// Rewrites a .seg with source ids mapped to the merged table.
Result<std::pair<uint64_t, std::string>> RemapSegments(const fs::path& from, const fs::path& to,
                                                       const std::vector<uint32_t>& map) {
  std::ifstream in(from, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < kSegHeaderBytes || (bytes.size() - kSegHeaderBytes) % sizeof(Segment) != 0) {
    return Status::Corruption(from.string() + ": not a whole segment file");
  }
  for (size_t off = kSegHeaderBytes; off < bytes.size(); off += sizeof(Segment)) {
    Segment s;
    std::memcpy(&s, bytes.data() + off, sizeof(s));
    if (s.source >= map.size()) return Status::Corruption(from.string() + ": source id outside its manifest");
    s.source = map[s.source];
    std::memcpy(bytes.data() + off, &s, sizeof(s));
  }
  std::error_code ec;
  fs::remove(to, ec);
  LCDE_RETURN_IF_ERROR(WriteFileAtomically(to.string(), bytes));
  return std::make_pair(static_cast<uint64_t>(bytes.size()), Sha256Hex(bytes));
}

// Re-packs the tasks' validation sets (each ends in a partial chunk) into
// one, DIR/validation/{short,long}, and unites their held-out ids. The
// documents keep their order: task by task, as each task packed them.
Status MergeValidation(const fs::path& dir, const std::vector<Part>& parts) {
  const json& first = parts[0].manifest;
  const uint64_t seq = first.value("sequence_length", uint64_t{0});
  const uint64_t chunks_per_shard = first["config"]["output"].value("chunks_per_shard", uint64_t{4096});
  const TokenDtype dtype = first.value("dtype", "") == "uint16" ? TokenDtype::kUint16 : TokenDtype::kInt32;
  const fs::path root = dir / "validation";
  std::error_code ec;
  fs::remove_all(root, ec);
  std::vector<uint64_t> held;
  for (const char* split : {"short", "long"}) {
    const fs::path out = root / split;
    fs::create_directories(out, ec);
    if (ec) return Status::IOError("cannot create " + out.string() + ": " + ec.message());
    DatasetWriter writer(out.string(), dtype, chunks_per_shard);
    Packer packer(seq, &writer);
    json merged;
    json unfilled_tokens = json::object();
    for (const auto& p : parts) {
      const fs::path in = p.dir / "validation" / split;
      auto vm = ReadManifest(in.string());
      if (!vm.ok()) return vm.status();
      if (merged.is_null()) merged = *vm;
      if ((*vm)["sources"].size() != merged["sources"].size()) {
        return Status::InvalidConfig("refusing to merge: " + in.string() + " has another source table");
      }
      for (const auto& shard : (*vm)["shards"]) {
        std::string name = shard["name"];
        std::ifstream bin_in(in / (name + ".bin"), std::ios::binary), seg_in(in / (name + ".seg"), std::ios::binary);
        std::string bin((std::istreambuf_iterator<char>(bin_in)), std::istreambuf_iterator<char>());
        std::string seg((std::istreambuf_iterator<char>(seg_in)), std::istreambuf_iterator<char>());
        const size_t width = DtypeBytes(dtype);
        std::vector<int32_t> piece;
        uint64_t at = 0;  // pieces tile the chunks, chunks follow each other in .bin
        for (size_t off = kSegHeaderBytes; off + sizeof(Segment) <= seg.size(); off += sizeof(Segment)) {
          Segment sg;
          std::memcpy(&sg, seg.data() + off, sizeof(sg));
          if ((at + sg.length) * width > bin.size()) return Status::Corruption((in / (name + ".seg")).string() + ": pieces run past the .bin");
          piece.resize(sg.length);
          for (uint64_t k = 0; k < sg.length; ++k) {
            if (width == 2) {
              uint16_t v;
              std::memcpy(&v, bin.data() + (at + k) * 2, 2);
              piece[k] = v;
            } else {
              std::memcpy(&piece[k], bin.data() + (at + k) * 4, 4);
            }
          }
          at += sg.length;
          LCDE_RETURN_IF_ERROR(packer.AddPiece(sg.source, sg.document, sg.doc_tokens, sg.doc_offset, piece));
        }
      }
    }
    LCDE_RETURN_IF_ERROR(packer.Finish(/*keep_partial=*/true));
    LCDE_RETURN_IF_ERROR(writer.Finish());
    json shards = json::array();
    uint64_t chunks = 0, tokens = 0;
    for (const auto& sh : writer.shards()) {
      shards.push_back(ShardInfoToJson(sh));
      chunks += sh.chunks;
      tokens += sh.tokens;
    }
    merged["shards"] = shards;
    merged["totals"] = {{"chunks", chunks}, {"tokens", tokens}};
    merged.erase("stats");
    auto st = ComputeStats(out.string(), merged);
    if (!st.ok()) return st.status();
    // The budget is the build's, not a task's share; a class is unfilled where the sum falls short.
    const uint64_t budget = first["config"]["validation"].value("tokens_per_source", uint64_t{0});
    json unfilled = json::object();
    for (auto& src : merged["sources"]) {
      uint64_t id = src["id"], got = id < st->sources.size() ? st->sources[id].tokens : 0;
      if (src.value("weighted", false)) {
        src["budget_tokens"] = budget;
        if (got < budget) unfilled[src["name"].get<std::string>()] = {{"budget_tokens", budget}, {"tokens", got}};
      }
      src["documents"] = id < st->sources.size() ? st->sources[id].documents : 0;
    }
    merged["validation"] = {{"tokens_per_source", budget}, {"unfilled", unfilled}};
    merged["merged_from_tasks"] = parts.size();
    merged["stats"] = ManifestStatsJson(*st);
    LCDE_RETURN_IF_ERROR(WriteManifest(out.string(), merged));
  }
  for (const auto& p : parts) {
    auto ids = ReadHeldOut(p.dir / "validation" / "held_out.bin");
    if (!ids.ok()) return ids.status();
    held.insert(held.end(), ids->begin(), ids->end());
  }
  // Written last, as by a build: its presence says both sets are complete.
  return WriteHeldOut(root / "held_out.bin", std::move(held));
}

}  // namespace

Status MergeDataset(const std::string& dir, const MergeOptions& options) {
  fs::path tasks = fs::path(dir) / "tasks";
  if (!fs::is_directory(tasks)) return Status::NotFound("no task parts in '" + dir + "': " + tasks.string() + " does not exist");
  std::vector<Part> parts;
  for (const auto& e : fs::directory_iterator(tasks)) {
    if (!e.is_directory()) continue;
    auto m = ReadManifest(e.path().string());
    if (!m.ok()) {
      return Status::InvalidConfig("part " + e.path().string() + " is not finished (" + m.status().message() +
                                   "); run or --resume that task first");
    }
    parts.push_back({e.path(), std::move(m.value())});
  }
  if (parts.empty()) return Status::NotFound("no task parts under " + tasks.string());
  std::sort(parts.begin(), parts.end(), [](const Part& a, const Part& b) {
    return a.manifest["task"]["index"].get<int>() < b.manifest["task"]["index"].get<int>();
  });
  const json& first = parts[0].manifest;
  int count = first.contains("task") ? first["task"].value("count", 0) : 0;
  if (static_cast<int>(parts.size()) != count) {
    return Status::InvalidConfig("found " + std::to_string(parts.size()) + " finished parts under " + tasks.string() +
                                 " but the build has " + std::to_string(count) + " tasks");
  }
  for (int i = 0; i < count; ++i) {
    const json& m = parts[static_cast<size_t>(i)].manifest;
    if (!m.contains("task") || m["task"].value("index", -1) != i) {
      return Status::InvalidConfig("task " + std::to_string(i) + " is missing under " + tasks.string());
    }
    if (m["task"].value("fingerprint", "") != first["task"].value("fingerprint", "") || m["config"] != first["config"]) {
      return Status::InvalidConfig("refusing to merge: " + parts[static_cast<size_t>(i)].dir.string() +
                                   " was built from another config, tokenizer, input list or lcde version than " +
                                   parts[0].dir.string());
    }
  }

  // Only the merged dataset's last chunk may be shorter: a part that ended
  // in a partial chunk (its input ran out, with keep_partial_chunk) cannot be
  // followed by another.
  const uint64_t seq = first.value("sequence_length", uint64_t{0});
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const json& totals = parts[i].manifest["totals"];
    uint64_t chunks = totals.value("chunks", uint64_t{0}), tokens = totals.value("tokens", uint64_t{0});
    if (tokens != chunks * seq) {
      return Status::InvalidConfig("refusing to merge: " + parts[i].dir.string() + " ends in a partial chunk (" +
                                   std::to_string(tokens) + " tokens in " + std::to_string(chunks) +
                                   " chunks; its input ran out with output.keep_partial_chunk), which would "
                                   "sit inside the merged dataset; give the build more input or set "
                                   "keep_partial_chunk: false");
    }
  }

  // One source table: the weighted sources (identical in every part), then
  // unknown names in task order.
  json sources = json::array();
  std::map<std::string, uint32_t> ids;
  std::vector<std::vector<uint32_t>> maps;
  for (const auto& p : parts) {
    std::vector<uint32_t> map;
    for (const auto& s : p.manifest["sources"]) {
      std::string name = s["name"];
      auto it = ids.find(name);
      if (it == ids.end()) {
        uint32_t id = static_cast<uint32_t>(sources.size());
        it = ids.emplace(name, id).first;
        json entry = s;
        entry["id"] = id;
        sources.push_back(entry);
      } else if (&p != &parts[0]) {
        sources[it->second]["budget_tokens"] = sources[it->second]["budget_tokens"].get<uint64_t>() +
                                                s.value("budget_tokens", uint64_t{0});
      }
      map.push_back(it->second);
    }
    maps.push_back(std::move(map));
  }

  // Shards, renumbered in task order.
  json shards = json::array();
  size_t next = 0;
  for (size_t t = 0; t < parts.size(); ++t) {
    bool identity = true;
    for (size_t i = 0; i < maps[t].size(); ++i) identity = identity && maps[t][i] == i;
    for (const auto& s : parts[t].manifest["shards"]) {
      std::string from = s["name"], to = DatasetWriter::ShardName(next++);
      json entry = s;
      entry["name"] = to;
      LCDE_RETURN_IF_ERROR(LinkOrReplace(parts[t].dir / (from + ".bin"), fs::path(dir) / (to + ".bin")));
      LCDE_RETURN_IF_ERROR(LinkOrReplace(parts[t].dir / (from + ".idx"), fs::path(dir) / (to + ".idx")));
      if (identity) {
        LCDE_RETURN_IF_ERROR(LinkOrReplace(parts[t].dir / (from + ".seg"), fs::path(dir) / (to + ".seg")));
      } else {
        auto r = RemapSegments(parts[t].dir / (from + ".seg"), fs::path(dir) / (to + ".seg"), maps[t]);
        if (!r.ok()) return r.status();
        entry["seg_bytes"] = r->first;
        entry["seg_sha256"] = r->second;
      }
      shards.push_back(entry);
    }
  }

  json m;
  for (const char* key : {"format", "format_version", "lcde_version", "config", "seed", "tokenizer", "dtype",
                          "dtype_code", "sequence_length", "length_threshold", "strategy",
                          "last_chunk_may_be_partial"}) {
    if (first.contains(key)) m[key] = first[key];
  }
  m["merged_from_tasks"] = count;
  m["sources"] = sources;
  json inputs = first["inputs"];
  json reading = json::object(), sampling = json::object(), totals = json::object();
  json examples = json::array();
  json shortfall = json::object();
  for (const auto& p : parts) {
    const json& pm = p.manifest;
    // Each file belongs to one task: the others read none of its lines.
    if (&p != &parts[0]) {
      for (size_t i = 0; i < inputs.size() && i < pm["inputs"].size(); ++i) {
        inputs[i]["lines_read"] = inputs[i]["lines_read"].get<uint64_t>() + pm["inputs"][i]["lines_read"].get<uint64_t>();
      }
    }
    json r = pm["reading"];
    r.erase("files");
    AddNumbers(&reading, r);
    for (const auto& ex : pm["reading"]["reject_examples"]) {
      size_t same = 0;
      for (const auto& e : examples) same += e["reason"] == ex["reason"];
      if (same < RejectStats::kMaxExamples) examples.push_back(ex);
    }
    json sm = pm["sampling"];
    for (const auto& [name, v] : sm["shortfall"].items()) {
      if (!shortfall.contains(name)) shortfall[name] = json::object();
      AddNumbers(&shortfall[name], v);
    }
    sm.erase("shortfall");
    AddNumbers(&sampling, sm);
    AddNumbers(&totals, pm["totals"]);
  }
  reading["files"] = first["reading"]["files"];
  reading["reject_examples"] = examples;
  sampling["shortfall"] = shortfall;
  m["inputs"] = inputs;
  m["shards"] = shards;
  m["reading"] = reading;
  m["sampling"] = sampling;
  m["totals"] = totals;
  auto st = ComputeStats(dir, m);
  if (!st.ok()) return st.status();
  m["stats"] = ManifestStatsJson(*st);
  // Stale shards of an earlier, larger merge must not linger past the manifest.
  for (size_t i = next;; ++i) {
    fs::path stale = fs::path(dir) / (DatasetWriter::ShardName(i) + ".idx");
    if (!fs::exists(stale)) break;
    for (const char* ext : {".idx", ".bin", ".seg"}) fs::remove(fs::path(dir) / (DatasetWriter::ShardName(i) + ext));
  }
  if (first.contains("validation")) {
    LCDE_RETURN_IF_ERROR(MergeValidation(dir, parts));
    uint64_t held = 0;
    for (const auto& p : parts) held += p.manifest["validation"].value("held_out_documents", uint64_t{0});
    m["validation"] = first["validation"];
    m["validation"]["held_out_documents"] = held;
  }
  LCDE_RETURN_IF_ERROR(WriteManifest(dir, m));
  if (!options.keep_parts) {
    std::error_code ec;
    fs::remove_all(tasks, ec);
    if (ec) spdlog::warn("merged, but could not remove {}: {}", tasks.string(), ec.message());
  }
  spdlog::info("merged {} tasks: {} shards, {} chunks", count, shards.size(), totals.value("chunks", uint64_t{0}));
  return Status::Ok();
}

}  // namespace lcde
