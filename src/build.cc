#include "lcde/build.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lcde/manifest.h"
#include "lcde/packer.h"
#include "lcde/pipeline.h"
#include "lcde/progress.h"
#include "lcde/reader.h"
#include "lcde/repeat_queue.h"
#include "lcde/sampler.h"
#include "lcde/stats.h"
#include "lcde/tokenizer.h"
#include "lcde/validation.h"
#include "lcde/version.h"
#include "lcde/sha256.h"
#include "checkpoint.h"

namespace lcde {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::atomic<int> g_signal{0};

extern "C" void OnInterrupt(int sig) { g_signal.store(sig); }

bool IsDatasetFile(const std::string& name) {
  return name == kManifestName || name == kCheckpointName || name.starts_with(kCheckpointRepeatsPrefix) ||
         (name.starts_with("part-") &&
          (name.ends_with(".bin") || name.ends_with(".idx") || name.ends_with(".seg")));
}

// Refuses to mix a new dataset into an old one; with `replace`, removes the
// old one first (manifest first, so an interrupted removal never leaves a
// manifest describing shards that are gone). Temporary files of a crashed
// build are always removed.
Status PrepareOutputDir(const std::string& dir, bool replace, const std::vector<std::string>& keep = {}) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create output.dir '" + dir + "': " + ec.message());
  std::vector<fs::path> old, tmp;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name == "validation" && std::find(keep.begin(), keep.end(), name) == keep.end()) {
      old.push_back(entry.path());
      continue;
    }
    if (name.ends_with(".tmp")) tmp.push_back(entry.path());
    else if (IsDatasetFile(name) && std::find(keep.begin(), keep.end(), name) == keep.end())
      old.push_back(entry.path());
  }
  if (ec) return Status::IOError("cannot list output.dir '" + dir + "': " + ec.message());
  if (!old.empty() && !replace) {
    return Status::InvalidConfig("output.dir '" + dir +
                                 "' already holds a dataset; choose another directory, pass --force to "
                                 "replace it, or --resume to continue an interrupted build");
  }
  std::sort(old.begin(), old.end(), [](const fs::path& a, const fs::path& b) {
    return (a.filename() == kManifestName) > (b.filename() == kManifestName);
  });
  for (const auto& p : old) {
    fs::remove_all(p, ec);
    if (ec) return Status::IOError("cannot remove '" + p.string() + "': " + ec.message());
  }
  for (const auto& p : tmp) fs::remove(p, ec);
  return Status::Ok();
}

json ConfigJson(const Config& c) {
  json j;
  j["seed"] = c.seed;
  j["input"] = {{"paths", c.input.paths}, {"text_key", c.input.text_key}, {"source_key", c.input.source_key}};
  if (!c.groups.empty()) {
    json groups = json::array();
    for (const auto& g : c.groups) {
      groups.push_back({{"name", g.name}, {"weight", g.weight}, {"paths", g.input.paths},
                        {"text_key", g.input.text_key}, {"source_key", g.input.source_key}, {"weights", g.weights}});
    }
    j["input"]["groups"] = groups;
  }
  j["tokenizer"] = {{"model", c.tokenizer.model}, {"bos", c.tokenizer.bos}, {"eos", c.tokenizer.eos},
                    {"separator", c.tokenizer.separator}};
  j["mixture"] = {{"total_tokens", c.mixture.total_tokens},
                  {"weights", c.mixture.weights},
                  {"weights_preset", c.mixture.weights_preset},
                  {"strategy", StrategyName(c.mixture.strategy)},
                  {"upsample", c.mixture.upsample},
                  {"length_threshold", c.mixture.length_threshold},
                  {"short_keep_ratio", c.mixture.short_keep_ratio},
                 {"long_token_fraction", c.mixture.long_token_fraction},
                  {"unknown_sources", c.mixture.unknown_sources}};
  if (c.mixture.max_repeats > 1) {
    j["mixture"]["max_repeats"] = c.mixture.max_repeats;
    j["mixture"]["repeat_threshold"] = c.mixture.repeat_threshold;
  }
  // output.dir is left out: a dataset may move, and its bytes must not depend on where it was built.
  j["validation"] = {{"tokens_per_source", c.validation.tokens_per_source}};
  j["output"] = {{"sequence_length", c.output.sequence_length},
                 {"chunks_per_shard", c.output.chunks_per_shard},
                 {"keep_partial_chunk", c.output.keep_partial_chunk}};
  return j;
}

std::string Fingerprint(const Config& config, const Tokenizer& tokenizer, const std::vector<std::string>& files) {
  json j = {{"config", ConfigJson(config)}, {"tokenizer_sha256", tokenizer.sha256()},
            {"inputs", files}, {"lcde_version", kVersion}, {"format_version", kFormatVersion}};
  return Sha256Hex(j.dump());
}

std::string Describe(RejectReason reason, const RejectExample& e) {
  return e.file + ":" + std::to_string(e.line) + ": " + RejectReasonName(reason) +
         (e.detail.empty() ? "" : ": " + e.detail);
}

}  // namespace

void InstallInterruptHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;  // a second signal takes the default action: stop now
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int InterruptSignal() { return g_signal.load(); }

std::string TaskDirName(int task_index, int num_tasks) {
  char name[64];
  std::snprintf(name, sizeof(name), "tasks/%05d-of-%05d", task_index, num_tasks);
  return name;
}

Status RunBuild(const Config& config_in, const BuildOptions& options) {
  Config config = config_in;  // its tokenizer part is resolved against the model below
  StageTimes times;
  auto t_start = std::chrono::steady_clock::now();
  if (options.num_tasks < 1 || options.task_index < 0 || options.task_index >= options.num_tasks) {
    return Status::InvalidConfig("--task-index " + std::to_string(options.task_index) + " is not in [0, " +
                                 std::to_string(options.num_tasks) + ")");
  }
  const bool is_task = options.num_tasks > 1;
  const std::string dir =
      is_task ? (fs::path(config.output.dir) / TaskDirName(options.task_index, options.num_tasks)).string()
              : config.output.dir;

  InputFiles inputs;
  {
    ScopedTimer t(&times, "resolve inputs");
    auto r = ResolveBuildInputs(config);
    if (!r.ok()) return r.status();
    inputs = std::move(r.value());
  }
  const std::vector<std::string>& files = inputs.paths;
  std::unique_ptr<Tokenizer> tokenizer;
  {
    ScopedTimer t(&times, "load tokenizer");
    auto r = Tokenizer::Load(config.tokenizer.model);
    if (!r.ok()) return r.status();
    tokenizer = std::move(r.value());
  }
  LCDE_RETURN_IF_ERROR(ResolveTokenizerConfig(*tokenizer, &config.tokenizer));
  // Budgets cover whole chunks only: a partial chunk would be dropped, and
  // with it the mixture of whichever sources ended the stream.
  const uint64_t seq = config.output.sequence_length;
  uint64_t total = config.output.keep_partial_chunk ? config.mixture.total_tokens
                                                    : config.mixture.total_tokens / seq * seq;
  std::vector<uint32_t> order;
  for (uint32_t i = 0; i < files.size(); ++i) {
    if (static_cast<int>(i % static_cast<uint32_t>(options.num_tasks)) == options.task_index) order.push_back(i);
  }
  if (is_task) {
    // Whole chunks per task, the remainder to the first tasks: the parts add
    // up to the single-node total.
    uint64_t chunks = total / seq, n = static_cast<uint64_t>(options.num_tasks);
    uint64_t i = static_cast<uint64_t>(options.task_index);
    total = (chunks / n + (i < chunks % n ? 1 : 0)) * seq;
    if (order.empty()) return Status::InvalidConfig("task " + std::to_string(i) + " of " + std::to_string(n) +
                                                    " has no input files: " + std::to_string(files.size()) +
                                                    " files for " + std::to_string(n) + " tasks");
  }
  if (total == 0) {
    return Status::InvalidConfig("mixture.total_tokens (" + std::to_string(config.mixture.total_tokens) +
                                 ") is less than one output.sequence_length (" + std::to_string(seq) + ")");
  }
  const std::string fingerprint =
      Fingerprint(config, *tokenizer, files) + (is_task ? "/" + TaskDirName(options.task_index, options.num_tasks) : "");
  Sampler sampler(config.mixture, config.seed, total);
  TokenDtype dtype = DtypeForVocab(tokenizer->vocab_size());
  DatasetWriter writer(dir, dtype, config.output.chunks_per_shard);
  Packer packer(seq, &writer);
  RepeatQueue repeats(seq);
  BuildState state(files.size());
  ReadStart start;
  bool resuming = false;

  if (options.resume && fs::exists(fs::path(dir) / kCheckpointName)) {
    std::string text;
    {
      std::ifstream in(fs::path(dir) / kCheckpointName);
      std::stringstream ss;
      ss << in.rdbuf();
      text = ss.str();
    }
    json cp = json::parse(text, nullptr, false);
    if (cp.is_discarded() || !cp.is_object()) {
      return Status::Corruption((fs::path(dir) / kCheckpointName).string() + ": not valid JSON");
    }
    if (cp.value("fingerprint", "") != fingerprint) {
      return Status::InvalidConfig("cannot resume in '" + dir +
                                   "': its checkpoint was written with another config, tokenizer, input "
                                   "list or lcde version; pass --force to start over");
    }
    std::vector<ShardInfo> shards;
    std::vector<std::string> keep = {kCheckpointName, "validation"};
    if (cp.contains("repeats")) keep.push_back(cp["repeats"].value("file", ""));
    for (const auto& s : cp.at("shards")) {
      ShardInfo info = ShardInfoFromJson(s);
      for (const char* ext : {".bin", ".idx", ".seg"}) {
        fs::path p = fs::path(dir) / (info.name + ext);
        std::error_code ec;
        uint64_t want = std::string(ext) == ".bin" ? info.bin_bytes : std::string(ext) == ".idx" ? info.idx_bytes
                                                                                                : info.seg_bytes;
        if (fs::file_size(p, ec) != want || ec) {
          return Status::Corruption("cannot resume: " + p.string() + " is missing or not " +
                                    std::to_string(want) + " bytes as the checkpoint records");
        }
        keep.push_back(info.name + ext);
      }
      shards.push_back(std::move(info));
    }
    // Shards finished after the checkpoint, debris, an old manifest: rebuilt identically.
    LCDE_RETURN_IF_ERROR(PrepareOutputDir(dir, true, keep));
    if (cp.contains("repeats")) LCDE_RETURN_IF_ERROR(RestoreRepeats(dir, cp.at("repeats"), &repeats));
    state.FromJson(cp.at("state"));
    RestoreSampler(cp.at("sources"), &sampler);
    packer.Restore(cp.at("chunks_written"), cp.at("tokens_written"));
    writer.Restore(std::move(shards));
    if (state.has_position) start = {state.pos_file, state.pos_line};
    resuming = true;
    spdlog::info("resuming in {}: {} shards, {} chunks done", dir, writer.shards().size(), packer.chunks_written());
  } else if (options.resume && fs::exists(fs::path(dir) / kManifestName)) {
    spdlog::info("{} already holds a complete dataset; nothing to resume", dir);
    return Status::Ok();
  } else {
    // --resume without a checkpoint: the first shard never finished; start over.
    LCDE_RETURN_IF_ERROR(PrepareOutputDir(dir, options.force || options.resume));
  }

  // A checkpoint after every shard. What it records is taken on this thread
  // when the shard's last chunk leaves the packer (the stream stands exactly
  // there); the writing thread saves it once the shard is in place.
  std::string previous_repeats_file;  // touched by the writing thread only
  writer.set_on_shard_end([&]() -> DatasetWriter::ShardDone {
    BuildState snapshot = state;
    // While a repeated copy is being appended, the last document read is complete.
    snapshot.pos_emitted = repeats.in_flight() ? state.pos_take : packer.current_document_emitted();
    json cp = {{"format_version", kFormatVersion}, {"fingerprint", fingerprint},
               {"sources", SourceCountsJson(sampler)}, {"state", snapshot.ToJson()}};
    std::vector<int32_t> repeat_tokens;
    if (!repeats.empty()) cp["repeats"] = repeats.Save(packer.current_document_emitted(), &repeat_tokens);
    return [&, cp = std::move(cp), repeat_tokens = std::move(repeat_tokens)](
               const std::vector<ShardInfo>& done) mutable -> Status {
      json shards = json::array();
      uint64_t chunks = 0, tokens = 0;
      for (const auto& s : done) {
        shards.push_back(ShardInfoToJson(s));
        chunks += s.chunks;
        tokens += s.tokens;
      }
      cp["shards"] = shards;
      cp["chunks_written"] = chunks;
      cp["tokens_written"] = tokens;
      std::string repeats_file;
      if (cp.contains("repeats")) {
        // Named per checkpoint: the previous checkpoint.json stays valid until the new one replaces it.
        repeats_file = RepeatsFileName(done.size());
        std::string_view bytes(reinterpret_cast<const char*>(repeat_tokens.data()),
                               repeat_tokens.size() * sizeof(int32_t));
        LCDE_RETURN_IF_ERROR(WriteFileAtomically((fs::path(dir) / repeats_file).string(), bytes));
        cp["repeats"]["file"] = repeats_file;
        cp["repeats"]["tokens_sha256"] = Sha256Hex(bytes);
      }
      LCDE_RETURN_IF_ERROR(WriteFileAtomically((fs::path(dir) / kCheckpointName).string(), cp.dump() + "\n"));
      if (!previous_repeats_file.empty() && previous_repeats_file != repeats_file) {
        std::error_code ec;
        fs::remove(fs::path(dir) / previous_repeats_file, ec);
      }
      previous_repeats_file = repeats_file;
      if (options.stop_after_shards > 0 && done.size() == options.stop_after_shards) {
        g_signal.store(SIGTERM);
        return Status::Interrupted("stopped after " + std::to_string(options.stop_after_shards) +
                                   " shards (--stop-after-shards)");
      }
      return Status::Ok();
    };
  });

  std::vector<uint64_t> held_out;
  if (config.validation.tokens_per_source > 0) {
    // A task holds out its share from its own files; `lcde merge` joins the
    // tasks' sets into one.
    Config validation_config = config;
    if (is_task) {
      uint64_t n = static_cast<uint64_t>(options.num_tasks), i = static_cast<uint64_t>(options.task_index);
      uint64_t per = config.validation.tokens_per_source;
      validation_config.validation.tokens_per_source = per / n + (i < per % n ? 1 : 0);
    }
    ValidationPlan plan;
    plan.config = &validation_config;
    plan.tokenizer = tokenizer.get();
    plan.files = &inputs;
    plan.order = order;
    plan.threads = options.threads;
    plan.dir = dir;
    plan.config_json = ConfigJson(config);
    auto held = BuildValidation(plan);
    if (!held.ok()) return held.status();
    held_out = std::move(held.value());
  }

  Progress progress(total);
  spdlog::info("building {} tokens ({} chunks of {}) from {} files with {} strategy into {}", total,
               total / seq, seq, files.size(), StrategyName(config.mixture.strategy), dir);
  spdlog::info("tokenizer: {} ({}){}", config.tokenizer.model, tokenizer->encoder(),
               tokenizer->encoder_note().empty() ? "" : ": " + tokenizer->encoder_note());

  Pipeline pipeline(config, options.threads, *tokenizer, inputs, order, sampler, start);
  if (options.read_ahead_batches > 0) pipeline.set_read_ahead(options.read_ahead_batches);
  pipeline.Start();
  double consume_seconds = 0;
  Status status;
  // A resumed build first re-reads the document the checkpoint cut through
  // (perhaps with nothing left to emit) to learn its tokens.
  bool expect_resume_doc = resuming && state.has_position;
  while (status.ok() && (!sampler.Done() || expect_resume_doc)) {
    if (g_signal.load()) break;
    std::shared_ptr<Batch> b = pipeline.Next();
    if (!b) break;
    auto t0 = std::chrono::steady_clock::now();
    if (!b->status.ok()) {
      status = b->status;
      break;
    }
    for (const Entry& e : b->entries) {
      state.file_touched[e.file_index] = 1;
      state.file_lines[e.file_index] = e.file_lines;
      state.file_bytes[e.file_index] = e.file_bytes;
      if (e.kind == Entry::Kind::kReject) {
        const RejectExample* ex = e.example >= 0 ? &b->examples[static_cast<size_t>(e.example)] : nullptr;
        state.AddReject(e.reason, ex);
        if (options.strict) {
          RejectExample fallback{files[e.file_index], e.line, ""};
          status = Status::DataError("--strict: " + Describe(e.reason, ex ? *ex : fallback));
          break;
        }
        continue;
      }
      if (e.kind != Entry::Kind::kDocument) continue;
      const uint32_t source = Pipeline::SourceOf(*b, e, &sampler);
      std::span<const int32_t> toks(b->tokens.data() + e.token_offset, e.token_count);
      if (expect_resume_doc) {
        // The document a checkpoint cut through: already counted; emit the rest.
        expect_resume_doc = false;
        if (e.file_index != state.pos_file || e.line != state.pos_line || e.token_count != state.pos_tokens) {
          status = Status::Corruption("cannot resume: the input changed since the checkpoint (" +
                                      files[e.file_index] + ":" + std::to_string(e.line) + ")");
          break;
        }
        if (state.pos_emitted < state.pos_take) {
          status = packer.Add(source, e.Id(), e.token_count, toks.first(state.pos_take), state.pos_emitted);
          if (!status.ok()) break;
        }
        status = repeats.EmitDue(&packer);
        if (!status.ok()) break;
        if (sampler.Done()) break;
        continue;
      }
      state.documents++;
      if (!held_out.empty() && std::binary_search(held_out.begin(), held_out.end(), e.Id())) {
        state.held_out++;
        continue;
      }
      uint64_t take = 0;
      Copies copies;
      auto d = sampler.Offer(source, e.Id(), e.token_count, !e.tokenize, &take, &copies);
      if (d == Sampler::Decision::kKeep) {
        if (!e.tokenize) {
          status = Status::Corruption("internal: a document kept without tokens");
          break;
        }
        state.kept++;
        if (e.special_token_text) state.special_token_text++;
        if (take < e.token_count) state.truncated++;
        state.has_position = true;
        state.pos_file = e.file_index;
        state.pos_line = e.line;
        state.pos_source = source;
        state.pos_take = take;
        state.pos_tokens = e.token_count;
        if (copies.count > 0) {
          // Scheduled first: a checkpoint taken inside the Add below must know them.
          repeats.Schedule(source, e.Id(), toks, copies.count, copies.last_tokens, packer.stream_tokens() + take);
        }
        status = packer.Add(source, e.Id(), e.token_count, toks.first(take));
        if (status.ok()) status = repeats.EmitDue(&packer);
        if (!status.ok()) break;
        if (sampler.SourceFull(source) && sampler.HasWeight(source)) pipeline.MarkSourceFull(source);
        if (sampler.Done()) break;
      } else if (d == Sampler::Decision::kDropShort) {
        state.dropped_short++;
      } else if (d == Sampler::Decision::kDropBudget) {
        state.dropped_budget++;
      } else {
        state.dropped_unknown++;
      }
    }
    consume_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (options.progress) progress.Update(packer.tokens_written(), state.bytes());
  }
  pipeline.Stop();
  if (status.ok() && g_signal.load()) {
    status = Status::Interrupted(std::string("interrupted by ") + (g_signal.load() == SIGINT ? "SIGINT" : "SIGTERM"));
  }
  if (status.ok() && expect_resume_doc) {
    status = Status::Corruption("cannot resume: the input ended before the checkpoint's position");
  }
  if (status.ok()) status = repeats.EmitAll(&packer);
  if (status.ok()) status = packer.Finish(config.output.keep_partial_chunk);
  if (status.ok()) status = writer.Finish();
  if (!status.ok()) {
    // The shard in progress goes; finished shards and their checkpoint stay for --resume.
    writer.Abandon();
    if (options.progress) progress.Finish(packer.tokens_written(), state.bytes());
    if (!writer.shards().empty()) {
      uint64_t done = 0;
      for (const auto& sh : writer.shards()) done += sh.chunks;
      spdlog::warn("{} of {} chunks are complete in {} shards; `lcde build --resume` continues from there",
                   done, total / seq, writer.shards().size());
    }
    return status;
  }
  if (options.progress) progress.Finish(packer.tokens_written(), state.bytes());
  times.Add("read + parse (reader thread, busy)", pipeline.reader_busy_seconds());
  times.Add("  readers waiting for read-ahead room", pipeline.reader_wait_seconds());
  times.Add("tokenize (sum over threads)", pipeline.tokenize_seconds());
  times.Add("  of which on a CPU", pipeline.tokenize_cpu_seconds());
  times.Add("sample + pack (consumer thread)", consume_seconds);
  times.Add("  of which waiting for the writer", writer.wait_seconds());
  times.Add("consumer idle, waiting for tokenized batches", pipeline.next_wait_seconds());
  times.Add("write shards (writer thread, busy)", writer.write_seconds());

  // The manifest: everything needed to read, trace and reproduce the dataset.
  auto t_manifest = std::chrono::steady_clock::now();
  json m;
  m["format"] = "lcde-dataset";
  m["format_version"] = kFormatVersion;
  m["lcde_version"] = kVersion;
  m["config"] = ConfigJson(config);
  m["seed"] = config.seed;
  m["tokenizer"] = {{"model", config.tokenizer.model}, {"sha256", tokenizer->sha256()},
                    {"vocab_size", tokenizer->vocab_size()}, {"bos_id", tokenizer->bos_id()},
                    {"eos_id", tokenizer->eos_id()}, {"add_bos", config.tokenizer.bos},
                    {"add_eos", config.tokenizer.eos}, {"separator", config.tokenizer.separator},
                    {"encoder", tokenizer->encoder()}, {"kind", tokenizer->kind()}};
  m["dtype"] = dtype == TokenDtype::kUint16 ? "uint16" : "int32";
  m["dtype_code"] = static_cast<int>(dtype);
  m["sequence_length"] = seq;
  m["length_threshold"] = config.mixture.length_threshold;
  m["strategy"] = StrategyName(config.mixture.strategy);
  m["last_chunk_may_be_partial"] = config.output.keep_partial_chunk;
  if (is_task) m["task"] = {{"index", options.task_index}, {"count", options.num_tasks}, {"fingerprint", Fingerprint(config, *tokenizer, files)}};
  json sources = json::array();
  json shortfall = json::object();
  json per_source = json::object();
  json long_fraction = json::object();
  for (uint32_t i = 0; i < sampler.source_names().size(); ++i) {
    const SourceCounts& c = sampler.counts(i);
    const std::string& name = sampler.source_names()[i];
    sources.push_back({{"id", i}, {"name", name}, {"weighted", sampler.HasWeight(i)},
                       {"target_share", sampler.target_share(i)}, {"budget_tokens", c.budget_tokens}});
    if (sampler.LongFractionTarget(i) >= 0 && sampler.HasWeight(i)) {
      double achieved = c.kept_tokens ? static_cast<double>(c.kept_long_tokens) / static_cast<double>(c.kept_tokens) : 0;
      long_fraction[name] = {{"target", sampler.LongFractionTarget(i)}, {"achieved", achieved}};
      if (achieved + 0.005 < sampler.LongFractionTarget(i)) {
        spdlog::warn("source {} reached a long-token fraction of {:.3f}, short of its target {:.3f}: the input "
                     "ran out of long documents",
                     name, achieved, sampler.LongFractionTarget(i));
      }
    }
    per_source[name] = {{"seen", c.seen}, {"kept", c.kept}, {"kept_tokens", c.kept_tokens},
                        {"dropped_short", c.dropped_short}, {"dropped_budget", c.dropped_budget},
                        {"truncated", c.truncated}};
    if (config.mixture.max_repeats > 1) {
      per_source[name]["repeated"] = c.repeated;
      per_source[name]["repeated_tokens"] = c.repeated_tokens;
    }
    if (config.mixture.strategy != Strategy::kGlobal && sampler.HasWeight(i) && c.kept_tokens < c.budget_tokens) {
      // Documents of unknown sources that share this budget count towards it.
      uint64_t used = 0;
      for (uint32_t k = 0; k < sampler.source_names().size(); ++k) {
        if (sampler.BudgetSourceOf(sampler.source_names()[k]) == static_cast<int>(i)) used += sampler.counts(k).kept_tokens;
      }
      if (used < c.budget_tokens) {
        shortfall[name] = {{"budget_tokens", c.budget_tokens}, {"kept_tokens", used},
                           {"missing_tokens", c.budget_tokens - used}};
        spdlog::warn("source {} ran out of input: {} of {} budget tokens", name, used, c.budget_tokens);
      }
    }
  }
  if (config.mixture.strategy == Strategy::kGlobal && sampler.kept_tokens() < total) {
    shortfall["all"] = {{"budget_tokens", total}, {"kept_tokens", sampler.kept_tokens()},
                        {"missing_tokens", total - sampler.kept_tokens()}};
    spdlog::warn("input ran out: {} of {} budget tokens", sampler.kept_tokens(), total);
  }
  m["sources"] = sources;
  json input_table = json::array();
  for (uint32_t i = 0; i < files.size(); ++i) {
    input_table.push_back({{"index", i}, {"path", files[i]}, {"lines_read", state.file_lines[i]}});
  }
  m["inputs"] = input_table;
  json shards = json::array();
  for (const auto& s : writer.shards()) shards.push_back(ShardInfoToJson(s));
  m["shards"] = shards;
  json by_reason = json::object();
  for (size_t i = 0; i < state.rejects.counts.size(); ++i) {
    by_reason[RejectReasonName(static_cast<RejectReason>(i))] = state.rejects.counts[i];
  }
  json examples = json::array();
  for (const auto& [reason, ex] : state.rejects.examples) {
    examples.push_back({{"reason", RejectReasonName(reason)}, {"file", ex.file}, {"line", ex.line},
                        {"detail", ex.detail}});
  }
  m["reading"] = {{"files", files.size()}, {"files_read", state.files_read()}, {"lines", state.lines()},
                  {"bytes", state.bytes()}, {"documents", state.documents}, {"rejected", state.rejects.total()},
                  {"rejected_by_reason", by_reason}, {"reject_examples", examples}};
  m["sampling"] = {{"kept", state.kept}, {"kept_tokens", sampler.kept_tokens()}, {"budget_tokens", total},
                   {"dropped_short", state.dropped_short}, {"dropped_budget", state.dropped_budget},
                   {"dropped_unknown_source", state.dropped_unknown}, {"truncated", state.truncated},
                   {"tail_tokens_dropped", packer.dropped_tail_tokens()}, {"shortfall", shortfall},
                   {"per_source", per_source}, {"long_token_fraction", long_fraction},
                   {"held_out_validation", state.held_out},
                   {"special_token_text_documents", state.special_token_text}};
  if (config.mixture.max_repeats > 1) {
    uint64_t copies = 0, copy_tokens = 0, early_copies = repeats.early_copies();
    for (uint32_t i = 0; i < sampler.source_names().size(); ++i) {
      copies += sampler.counts(i).repeated;
      copy_tokens += sampler.counts(i).repeated_tokens;
    }
    // early: copies appended at the end of the stream closer than one sequence to an earlier appearance.
    m["sampling"]["repeats"] = {{"copies", copies}, {"tokens", copy_tokens}, {"early", early_copies}};
    if (early_copies > 0) {
      spdlog::info("{} repeated copies were still pending when the stream ended and were appended there, "
                   "closer than one sequence to an earlier appearance",
                   early_copies);
    }
  }
  if (config.validation.tokens_per_source > 0) {
    m["validation"] = {{"short", "validation/short"}, {"long", "validation/long"},
                       {"held_out_documents", held_out.size()}, {"tokens_per_source", config.validation.tokens_per_source}};
  }
  m["totals"] = {{"chunks", packer.chunks_written()}, {"tokens", packer.tokens_written()}};
  auto st = ComputeStats(dir, m);
  if (!st.ok()) return st.status();
  m["stats"] = StatsToJson(*st, json::object());
  LCDE_RETURN_IF_ERROR(WriteManifest(dir, m));
  // The dataset is complete; the checkpoint has nothing left to say.
  std::error_code ec;
  fs::remove(fs::path(dir) / kCheckpointName, ec);
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().filename().string().starts_with(kCheckpointRepeatsPrefix)) fs::remove(e.path(), ec);
  }
  times.Add("stats + manifest", std::chrono::duration<double>(std::chrono::steady_clock::now() - t_manifest).count());

  if (state.rejects.total() > 0) {
    spdlog::warn("{} input lines rejected (see manifest.json reading.reject_examples)", state.rejects.total());
  }
  std::printf("wrote %llu chunks x %llu tokens (%zu shards) to %s\n",
              static_cast<unsigned long long>(packer.chunks_written()), static_cast<unsigned long long>(seq),
              writer.shards().size(), dir.c_str());
  if (options.print_stages) {
    times.Add("total", std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count());
    // Against total x cores: how much of the machine the build used.
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) == 0) {
      auto seconds = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
      times.Add("process CPU time (user + system)", seconds(usage.ru_utime) + seconds(usage.ru_stime));
    }
    std::fprintf(stderr, "%s", times.Report().c_str());
  }
  return Status::Ok();
}

}  // namespace lcde
