#include "lcde/validation.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "lcde/manifest.h"
#include "lcde/packer.h"
#include "lcde/pipeline.h"
#include "lcde/sampler.h"
#include "lcde/shard_writer.h"
#include "lcde/stats.h"
#include "lcde/version.h"

namespace lcde {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A class whose source lacks documents of that length (Book has no short
// ones) must not make the build read the whole corpus: reading stops after
// this many times the total validation budget.
constexpr uint64_t kMaxReadFactor = 50;

struct Split {
  std::string name;  // "short" or "long"
  std::unique_ptr<DatasetWriter> writer;
  std::unique_ptr<Packer> packer;
  std::vector<uint64_t> tokens;  // per weighted source
  std::vector<uint64_t> docs;
};


}  // namespace

Result<std::vector<uint64_t>> ReadHeldOut(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.eof() && !in) return Status::IOError("cannot read " + path.string());
  if (bytes.size() % 8 != 0) return Status::Corruption(path.string() + ": not a whole number of ids");
  std::vector<uint64_t> ids(bytes.size() / 8);
  if (!ids.empty()) std::memcpy(ids.data(), bytes.data(), bytes.size());
  return ids;
}

Status WriteHeldOut(const std::filesystem::path& path, std::vector<uint64_t> ids) {
  std::sort(ids.begin(), ids.end());
  std::string bytes(ids.size() * 8, '\0');
  if (!ids.empty()) std::memcpy(bytes.data(), ids.data(), bytes.size());
  return WriteFileAtomically(path.string(), bytes);
}

Result<std::vector<uint64_t>> BuildValidation(const ValidationPlan& plan) {
  const Config& config = *plan.config;
  fs::path root = fs::path(plan.dir) / "validation";
  fs::path held_path = root / "held_out.bin";
  if (fs::exists(held_path) && fs::exists(root / "short" / kManifestName) && fs::exists(root / "long" / kManifestName)) {
    return ReadHeldOut(held_path);  // a resumed build: the sets are done
  }
  std::error_code ec;
  fs::remove_all(root, ec);
  const uint64_t budget = config.validation.tokens_per_source;
  const uint64_t threshold = config.mixture.length_threshold;

  // Every document of a weighted source is tokenized: no strategy applies here.
  MixtureConfig mixture = config.mixture;
  mixture.strategy = Strategy::kNone;
  mixture.long_token_fraction.clear();
  Sampler sources(mixture, config.seed, UINT64_MAX / 4);
  const uint32_t weighted = static_cast<uint32_t>(config.mixture.weights.size());
  TokenDtype dtype = DtypeForVocab(plan.tokenizer->vocab_size());
  Split splits[2];
  for (int k = 0; k < 2; ++k) {
    splits[k].name = k == 0 ? "short" : "long";
    fs::path d = root / splits[k].name;
    fs::create_directories(d, ec);
    if (ec) return Status::IOError("cannot create " + d.string() + ": " + ec.message());
    splits[k].writer = std::make_unique<DatasetWriter>(d.string(), dtype, config.output.chunks_per_shard);
    splits[k].packer = std::make_unique<Packer>(config.output.sequence_length, splits[k].writer.get());
    splits[k].tokens.assign(weighted, 0);
    splits[k].docs.assign(weighted, 0);
  }
  std::vector<uint64_t> held;
  uint64_t open = 2ull * weighted, read_tokens = 0;
  const uint64_t read_limit = kMaxReadFactor * 2 * budget * std::max<uint32_t>(weighted, 1);
  Pipeline pipeline(config, plan.threads, *plan.tokenizer, *plan.files, plan.order, sources, ReadStart{});
  pipeline.Start();
  Status status;
  while (status.ok() && open > 0 && read_tokens < read_limit) {
    auto b = pipeline.Next();
    if (!b) break;
    if (!b->status.ok()) {
      status = b->status;
      break;
    }
    for (const Entry& e : b->entries) {
      if (e.kind != Entry::Kind::kDocument || e.unknown_source || e.source >= weighted || !e.tokenize) continue;
      read_tokens += e.token_count;
      Split& s = splits[e.token_count >= threshold ? 1 : 0];
      if (s.tokens[e.source] >= budget) continue;
      std::span<const int32_t> toks(b->tokens.data() + e.token_offset, e.token_count);
      status = s.packer->Add(e.source, e.Id(), e.token_count, toks);
      if (!status.ok()) break;
      s.tokens[e.source] += e.token_count;
      s.docs[e.source]++;
      held.push_back(e.Id());
      if (s.tokens[e.source] >= budget) --open;
      if (open == 0) break;
    }
  }
  pipeline.Stop();
  for (auto& s : splits) {
    if (status.ok()) status = s.packer->Finish(/*keep_partial=*/true);
    if (status.ok()) status = s.writer->Finish();
  }
  if (!status.ok()) return status;

  for (auto& s : splits) {
    json m;
    m["format"] = "lcde-dataset";
    m["format_version"] = kFormatVersion;
    m["lcde_version"] = kVersion;
    m["role"] = "validation-" + s.name;
    m["strategy"] = "validation";
    m["last_chunk_may_be_partial"] = true;  // nothing held out is dropped
    m["config"] = plan.config_json;
    m["seed"] = config.seed;
    m["tokenizer"] = {{"model", config.tokenizer.model}, {"sha256", plan.tokenizer->sha256()},
                      {"vocab_size", plan.tokenizer->vocab_size()}, {"bos_id", plan.tokenizer->bos_id()},
                      {"eos_id", plan.tokenizer->eos_id()}, {"add_bos", config.tokenizer.bos},
                      {"add_eos", config.tokenizer.eos}, {"separator", config.tokenizer.separator}};
    m["dtype"] = dtype == TokenDtype::kUint16 ? "uint16" : "int32";
    m["dtype_code"] = static_cast<int>(dtype);
    m["sequence_length"] = config.output.sequence_length;
    m["length_threshold"] = threshold;
    json table = json::array(), unfilled = json::object();
    for (uint32_t i = 0; i < sources.source_names().size(); ++i) {
      const std::string& name = sources.source_names()[i];
      uint64_t got = i < weighted ? s.tokens[i] : 0;
      table.push_back({{"id", i}, {"name", name}, {"weighted", i < weighted}, {"target_share", sources.target_share(i)},
                       {"budget_tokens", i < weighted ? budget : 0}, {"documents", i < weighted ? s.docs[i] : 0}});
      if (i < weighted && got < budget) {
        unfilled[name] = {{"budget_tokens", budget}, {"tokens", got}};
        spdlog::warn("validation/{}: {} has {} of {} tokens (not enough {} documents in the input read)", s.name,
                     name, got, budget, s.name);
      }
    }
    m["sources"] = table;
    json inputs = json::array();
    for (uint32_t i = 0; i < plan.files->paths.size(); ++i) {
      inputs.push_back({{"index", i}, {"path", plan.files->paths[i]}, {"lines_read", 0}});
    }
    m["inputs"] = inputs;
    json shards = json::array();
    uint64_t chunks = 0, tokens = 0;
    for (const auto& sh : s.writer->shards()) {
      shards.push_back(ShardInfoToJson(sh));
      chunks += sh.chunks;
      tokens += sh.tokens;
    }
    m["shards"] = shards;
    m["totals"] = {{"chunks", chunks}, {"tokens", tokens}};
    m["validation"] = {{"tokens_per_source", budget}, {"unfilled", unfilled}};
    fs::path d = root / s.name;
    auto st = ComputeStats(d.string(), m);
    if (!st.ok()) return st.status();
    m["stats"] = ManifestStatsJson(*st);
    LCDE_RETURN_IF_ERROR(WriteManifest(d.string(), m));
  }
  std::sort(held.begin(), held.end());
  // Written last: its presence says both sets are complete.
  LCDE_RETURN_IF_ERROR(WriteHeldOut(held_path, held));
  spdlog::info("validation: {} documents held out into {}", held.size(), root.string());
  return held;
}

}  // namespace lcde
