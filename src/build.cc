#include "lcde/build.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "lcde/manifest.h"
#include "lcde/packer.h"
#include "lcde/progress.h"
#include "lcde/reader.h"
#include "lcde/sampler.h"
#include "lcde/stats.h"
#include "lcde/tokenizer.h"
#include "lcde/version.h"

namespace lcde {

namespace fs = std::filesystem;

namespace {

// Documents are handed from the reader to the tokenizers in batches of about
// this many bytes of text: large enough to amortize queueing, small enough
// that a few batches per thread in flight stay far under the memory bound.
constexpr size_t kBatchBytes = 1 << 20;
constexpr size_t kBatchDocs = 4096;

struct DocEntry {
  uint64_t id = 0;
  uint32_t source = 0;
  bool tokenize = true;   // false: the sampler will drop it whatever its length
  bool known_short = false;
  uint64_t text_offset = 0, text_size = 0;
  uint64_t token_offset = 0, token_count = 0;
};

struct Batch {
  std::string text;               // the documents' texts, back to back
  std::vector<DocEntry> docs;
  std::vector<int32_t> tokens;    // filled by a worker
  std::vector<std::string> new_sources;  // names first seen in this batch, in order
  RejectStats rejects;            // lines rejected since the previous batch
  uint64_t lines = 0, bytes = 0, documents = 0;
  // Text bytes of every document in the batch, tokenized or not. Batches are
  // cut by this, never by what was copied: what is skipped depends on timing
  // and the cuts must not, or counts per batch would differ between runs.
  uint64_t document_bytes = 0;
  std::vector<std::pair<uint32_t, uint64_t>> file_lines;  // (file index, lines) read in this batch
  uint32_t files_started = 0;
  Status status;
  bool ready = false;  // guarded by Pipeline::mu
};

// Source ids as the reader thread sees them: the weighted names in the
// sampler's order, then unknown names in order of first appearance. The
// consumer replays `new_sources` into the Sampler in the same order, so both
// agree without sharing a map across threads.
class SourceRegistry {
 public:
  explicit SourceRegistry(const std::vector<std::string>& weighted) {
    for (const auto& n : weighted) ids_.emplace(n, static_cast<uint32_t>(ids_.size()));
  }
  uint32_t Id(std::string_view name, std::vector<std::string>* new_names) {
    auto it = ids_.find(name);
    if (it != ids_.end()) return it->second;
    uint32_t id = static_cast<uint32_t>(ids_.size());
    ids_.emplace(std::string(name), id);
    new_names->emplace_back(name);
    return id;
  }

 private:
  std::map<std::string, uint32_t, std::less<>> ids_;
};

class Pipeline {
 public:
  Pipeline(const Config& config, const BuildOptions& options, const Tokenizer& tokenizer,
           const std::vector<std::string>& files, Sampler* sampler)
      : config_(config), tokenizer_(tokenizer), files_(files), sampler_(sampler) {
    threads_ = options.threads > 0 ? options.threads
                                   : std::max(1u, std::thread::hardware_concurrency());
    max_in_flight_ = static_cast<size_t>(threads_) * 3 + 2;
    weighted_ = static_cast<uint32_t>(sampler->source_names().size());
    source_full_ = std::make_unique<std::atomic<bool>[]>(weighted_);
    for (uint32_t i = 0; i < weighted_; ++i) source_full_[i] = sampler->SourceFull(i);
  }

  void Start() {
    reader_ = std::thread([this] { ReadLoop(); });
    for (int i = 0; i < threads_; ++i) workers_.emplace_back([this] { WorkLoop(); });
  }

  // The next batch in read order, tokenized; nullptr when input is exhausted.
  std::shared_ptr<Batch> Next() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return (!in_order_.empty() && in_order_.front()->ready) ||
                                (in_order_.empty() && reader_done_); });
    if (in_order_.empty()) return nullptr;
    auto b = in_order_.front();
    in_order_.pop_front();
    cv_.notify_all();
    return b;
  }

  void MarkSourceFull(uint32_t source) {
    if (source < weighted_) source_full_[source] = true;
  }

  // Stops reading and joins every thread.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (reader_.joinable()) reader_.join();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  ~Pipeline() { Stop(); }

  double read_seconds() const { return read_seconds_; }
  double tokenize_seconds() const { return tokenize_ns_.load() / 1e9; }

 private:
  // Whether the sampler will drop this document whatever its exact length.
  // Only decisions that stay true later may be taken here (a full source
  // stays full), so skipping the tokenizer never changes the output.
  bool CertainDrop(uint32_t source, uint64_t id, size_t text_bytes, bool* known_short) {
    *known_short = false;
    if (source >= weighted_) return true;
    if (source_full_[source].load(std::memory_order_relaxed)) return true;
    if (!sampler_->SubjectToKeepRatio(source) || sampler_->ShortDocumentSurvives(id)) return false;
    uint64_t bound = tokenizer_.MaxTokensForBytes(text_bytes) + (config_.tokenizer.bos ? 1 : 0) +
                     (config_.tokenizer.eos ? 1 : 0);
    *known_short = bound < config_.mixture.length_threshold;
    return *known_short;
  }

  bool Push(std::shared_ptr<Batch> batch) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return stop_ || in_order_.size() < max_in_flight_; });
    if (stop_) return false;
    in_order_.push_back(batch);
    work_.push_back(std::move(batch));
    cv_.notify_all();
    return true;
  }

  void ReadLoop() {
    auto start = std::chrono::steady_clock::now();
    SourceRegistry registry(sampler_->source_names());
    auto batch = std::make_shared<Batch>();
    bool stopped = false;
    for (uint32_t fi = 0; fi < files_.size() && !stopped; ++fi) {
      batch->files_started++;
      auto reader = DocumentReader::Open(files_[fi], fi, config_.input);
      if (!reader.ok()) {
        batch->rejects.Add(RejectReason::kCorruptInput, {files_[fi], 0, reader.status().message()});
        spdlog::warn("{}: skipped: {}", files_[fi], reader.status().message());
        continue;
      }
      DocumentReader& r = *reader.value();
      uint64_t lines_before = 0, bytes_before = 0;
      RejectStats rejects_before;
      auto flush_counters = [&] {
        batch->lines += r.lines_read() - lines_before;
        batch->bytes += r.bytes_read() - bytes_before;
        batch->file_lines.emplace_back(fi, r.lines_read() - lines_before);
        lines_before = r.lines_read();
        bytes_before = r.bytes_read();
        // The reader's rejects are cumulative; hand on only what is new.
        RejectStats delta = r.rejects();
        for (size_t i = 0; i < delta.counts.size(); ++i) delta.counts[i] -= rejects_before.counts[i];
        delta.examples.erase(delta.examples.begin(),
                             delta.examples.begin() + static_cast<long>(rejects_before.examples.size()));
        batch->rejects.Merge(delta);
        rejects_before = r.rejects();
      };
      Document doc;
      while (r.Next(&doc)) {
        DocEntry e;
        e.id = doc.Id();
        e.source = registry.Id(doc.source, &batch->new_sources);
        e.tokenize = !CertainDrop(e.source, e.id, doc.text.size(), &e.known_short);
        e.text_offset = batch->text.size();
        e.text_size = e.tokenize ? doc.text.size() : 0;
        if (e.tokenize) batch->text.append(doc.text);
        batch->docs.push_back(e);
        batch->documents++;
        batch->document_bytes += doc.text.size();
        if (batch->document_bytes >= kBatchBytes || batch->docs.size() >= kBatchDocs) {
          flush_counters();
          if (!Push(std::move(batch))) { stopped = true; break; }
          batch = std::make_shared<Batch>();
        }
      }
      if (!stopped) flush_counters();
    }
    if (!stopped) Push(std::move(batch));
    read_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::lock_guard<std::mutex> lock(mu_);
    reader_done_ = true;
    cv_.notify_all();
  }

  void WorkLoop() {
    for (;;) {
      std::shared_ptr<Batch> b;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !work_.empty() || reader_done_; });
        if (work_.empty()) {
          if (stop_ || reader_done_) return;
          continue;
        }
        b = std::move(work_.front());
        work_.pop_front();
      }
      auto t0 = std::chrono::steady_clock::now();
      Status st;
      for (auto& e : b->docs) {
        if (!e.tokenize) continue;
        e.token_offset = b->tokens.size();
        st = tokenizer_.Encode(std::string_view(b->text).substr(e.text_offset, e.text_size),
                               config_.tokenizer.bos, config_.tokenizer.eos, &b->tokens);
        if (!st.ok()) break;
        e.token_count = b->tokens.size() - e.token_offset;
      }
      // The text is no longer needed; free it before the batch waits its turn.
      std::string().swap(b->text);
      tokenize_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now() - t0).count();
      {
        std::lock_guard<std::mutex> lock(mu_);
        b->status = st;
        b->ready = true;
      }
      cv_.notify_all();
    }
  }

  const Config& config_;
  const Tokenizer& tokenizer_;
  const std::vector<std::string>& files_;
  Sampler* sampler_;  // only its const, immutable parts are used off the main thread
  int threads_ = 1;
  size_t max_in_flight_ = 4;
  uint32_t weighted_ = 0;
  std::unique_ptr<std::atomic<bool>[]> source_full_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Batch>> in_order_;
  std::deque<std::shared_ptr<Batch>> work_;
  bool stop_ = false;
  bool reader_done_ = false;
  std::thread reader_;
  std::vector<std::thread> workers_;
  double read_seconds_ = 0;
  std::atomic<int64_t> tokenize_ns_{0};
};

// Refuses to mix a new dataset into an old one; with --force, removes the old
// one first. Leftover temporary files of a crashed build are always removed.
Status PrepareOutputDir(const std::string& dir, bool force) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create output.dir '" + dir + "': " + ec.message());
  std::vector<fs::path> old, tmp;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.ends_with(".tmp")) tmp.push_back(entry.path());
    else if (name == kManifestName || (name.starts_with("part-") &&
             (name.ends_with(".bin") || name.ends_with(".idx") || name.ends_with(".seg"))))
      old.push_back(entry.path());
  }
  if (ec) return Status::IOError("cannot list output.dir '" + dir + "': " + ec.message());
  if (!old.empty() && !force) {
    return Status::InvalidConfig("output.dir '" + dir +
                                 "' already holds a dataset; choose another directory or pass --force");
  }
  // The manifest goes first, so an interrupted removal never leaves a
  // manifest describing shards that are gone.
  std::sort(old.begin(), old.end(), [](const fs::path& a, const fs::path& b) {
    return (a.filename() == kManifestName) > (b.filename() == kManifestName);
  });
  for (const auto& p : old) fs::remove(p, ec);
  for (const auto& p : tmp) fs::remove(p, ec);
  return Status::Ok();
}

nlohmann::json ConfigJson(const Config& c) {
  nlohmann::json j;
  j["seed"] = c.seed;
  j["input"] = {{"paths", c.input.paths}, {"text_key", c.input.text_key}, {"source_key", c.input.source_key}};
  j["tokenizer"] = {{"model", c.tokenizer.model}, {"bos", c.tokenizer.bos}, {"eos", c.tokenizer.eos}};
  j["mixture"] = {{"total_tokens", c.mixture.total_tokens},
                  {"weights", c.mixture.weights},
                  {"weights_preset", c.mixture.weights_preset},
                  {"strategy", StrategyName(c.mixture.strategy)},
                  {"upsample", c.mixture.upsample},
                  {"length_threshold", c.mixture.length_threshold},
                  {"short_keep_ratio", c.mixture.short_keep_ratio}};
  // output.dir is left out: a dataset may move, and its bytes must not depend on where it was built.
  j["output"] = {{"sequence_length", c.output.sequence_length},
                 {"chunks_per_shard", c.output.chunks_per_shard},
                 {"keep_partial_chunk", c.output.keep_partial_chunk}};
  return j;
}

}  // namespace

Status RunBuild(const Config& config, const BuildOptions& options) {
  StageTimes times;
  auto t_start = std::chrono::steady_clock::now();

  std::vector<std::string> files;
  {
    ScopedTimer t(&times, "resolve inputs");
    auto r = ResolveInputFiles(config.input.paths, config.seed);
    if (!r.ok()) return r.status();
    files = std::move(r.value());
  }
  std::unique_ptr<Tokenizer> tokenizer;
  {
    ScopedTimer t(&times, "load tokenizer");
    auto r = Tokenizer::Load(config.tokenizer.model);
    if (!r.ok()) return r.status();
    tokenizer = std::move(r.value());
  }
  LCDE_RETURN_IF_ERROR(PrepareOutputDir(config.output.dir, options.force));

  // Budgets cover whole chunks only: a partial chunk would be dropped, and
  // with it the mixture of whichever sources ended the stream.
  uint64_t seq = config.output.sequence_length;
  uint64_t total = config.output.keep_partial_chunk ? config.mixture.total_tokens
                                                    : config.mixture.total_tokens / seq * seq;
  if (total == 0) {
    return Status::InvalidConfig("mixture.total_tokens (" + std::to_string(config.mixture.total_tokens) +
                                 ") is less than one output.sequence_length (" + std::to_string(seq) + ")");
  }
  Sampler sampler(config.mixture, config.seed, total);
  TokenDtype dtype = DtypeForVocab(tokenizer->vocab_size());
  DatasetWriter writer(config.output.dir, dtype, config.output.chunks_per_shard);
  Packer packer(seq, &writer);
  Progress progress(total);

  spdlog::info("building {} tokens ({} chunks of {}) from {} files with {} strategy into {}", total,
               total / seq, seq, files.size(), StrategyName(config.mixture.strategy), config.output.dir);

  Pipeline pipeline(config, options, *tokenizer, files, &sampler);
  pipeline.Start();
  RejectStats rejects;
  uint64_t lines = 0, bytes = 0, documents_read = 0, files_started = 0;
  std::vector<uint64_t> file_lines(files.size(), 0);
  uint64_t dropped_short = 0, dropped_budget = 0, dropped_unknown = 0, kept = 0, truncated = 0;
  double pack_seconds = 0;
  Status status;
  while (!sampler.Done()) {
    std::shared_ptr<Batch> b = pipeline.Next();
    if (!b) break;
    auto t0 = std::chrono::steady_clock::now();
    if (!b->status.ok()) { status = b->status; break; }
    for (const auto& name : b->new_sources) sampler.SourceId(name);
    rejects.Merge(b->rejects);
    lines += b->lines;
    bytes += b->bytes;
    files_started += b->files_started;
    for (const auto& [fi, n] : b->file_lines) file_lines[fi] += n;
    for (const DocEntry& e : b->docs) {
      documents_read++;
      uint64_t take = 0;
      auto d = sampler.Offer(e.source, e.id, e.token_count, !e.tokenize, &take);
      if (d == Sampler::Decision::kKeep) {
        if (!e.tokenize) {
          status = Status::Corruption("internal: a document kept without tokens");
          break;
        }
        std::span<const int32_t> toks(b->tokens.data() + e.token_offset, take);
        status = packer.Add(e.source, e.id, e.token_count, toks);
        if (!status.ok()) break;
        kept++;
        if (take < e.token_count) truncated++;
        if (sampler.SourceFull(e.source)) pipeline.MarkSourceFull(e.source);
        if (sampler.Done()) break;
      } else if (d == Sampler::Decision::kDropShort) {
        dropped_short++;
      } else if (d == Sampler::Decision::kDropBudget) {
        dropped_budget++;
      } else {
        dropped_unknown++;
      }
    }
    pack_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!status.ok()) break;
    if (options.progress) progress.Update(packer.tokens_written(), bytes);
  }
  pipeline.Stop();
  if (status.ok()) status = packer.Finish(config.output.keep_partial_chunk);
  if (status.ok()) status = writer.Finish();
  if (!status.ok()) {
    writer.Abandon();
    return status;
  }
  if (options.progress) progress.Finish(packer.tokens_written(), bytes);
  times.Add("read + parse (reader thread)", pipeline.read_seconds());
  times.Add("tokenize (all workers)", pipeline.tokenize_seconds());
  times.Add("sample + pack + write", pack_seconds);

  // The manifest: everything needed to read, trace and reproduce the dataset.
  ScopedTimer t_manifest(&times, "stats + manifest");
  nlohmann::json m;
  m["format"] = "lcde-dataset";
  m["format_version"] = kFormatVersion;
  m["lcde_version"] = kVersion;
  m["config"] = ConfigJson(config);
  m["seed"] = config.seed;
  m["tokenizer"] = {{"model", config.tokenizer.model}, {"sha256", tokenizer->sha256()},
                    {"vocab_size", tokenizer->vocab_size()}, {"bos_id", tokenizer->bos_id()},
                    {"eos_id", tokenizer->eos_id()}, {"add_bos", config.tokenizer.bos},
                    {"add_eos", config.tokenizer.eos}};
  m["dtype"] = dtype == TokenDtype::kUint16 ? "uint16" : "int32";
  m["dtype_code"] = static_cast<int>(dtype);
  m["sequence_length"] = seq;
  m["length_threshold"] = config.mixture.length_threshold;
  m["strategy"] = StrategyName(config.mixture.strategy);
  nlohmann::json sources = nlohmann::json::array();
  nlohmann::json shortfall = nlohmann::json::object();
  nlohmann::json per_source = nlohmann::json::object();
  for (uint32_t i = 0; i < sampler.source_names().size(); ++i) {
    const SourceCounts& c = sampler.counts(i);
    const std::string& name = sampler.source_names()[i];
    sources.push_back({{"id", i}, {"name", name}, {"weighted", sampler.HasWeight(i)},
                       {"target_share", sampler.target_share(i)}, {"budget_tokens", c.budget_tokens}});
    per_source[name] = {{"seen", c.seen}, {"kept", c.kept}, {"kept_tokens", c.kept_tokens},
                        {"dropped_short", c.dropped_short}, {"dropped_budget", c.dropped_budget},
                        {"truncated", c.truncated}};
    if (config.mixture.strategy != Strategy::kGlobal && c.kept_tokens < c.budget_tokens) {
      shortfall[name] = {{"budget_tokens", c.budget_tokens}, {"kept_tokens", c.kept_tokens},
                         {"missing_tokens", c.budget_tokens - c.kept_tokens}};
      spdlog::warn("source {} ran out of input: {} of {} budget tokens", name, c.kept_tokens, c.budget_tokens);
    }
  }
  if (config.mixture.strategy == Strategy::kGlobal && sampler.kept_tokens() < total) {
    shortfall["all"] = {{"budget_tokens", total}, {"kept_tokens", sampler.kept_tokens()},
                        {"missing_tokens", total - sampler.kept_tokens()}};
    spdlog::warn("input ran out: {} of {} budget tokens", sampler.kept_tokens(), total);
  }
  m["sources"] = sources;
  nlohmann::json inputs = nlohmann::json::array();
  for (uint32_t i = 0; i < files.size(); ++i) {
    inputs.push_back({{"index", i}, {"path", files[i]}, {"lines_read", file_lines[i]}});
  }
  m["inputs"] = inputs;
  nlohmann::json shards = nlohmann::json::array();
  for (const auto& s : writer.shards()) {
    shards.push_back({{"name", s.name}, {"chunks", s.chunks}, {"tokens", s.tokens}, {"segments", s.segments},
                      {"bin_bytes", s.bin_bytes}, {"idx_bytes", s.idx_bytes}, {"seg_bytes", s.seg_bytes},
                      {"bin_sha256", s.bin_sha256}, {"idx_sha256", s.idx_sha256}, {"seg_sha256", s.seg_sha256}});
  }
  m["shards"] = shards;
  nlohmann::json by_reason = nlohmann::json::object();
  for (size_t i = 0; i < rejects.counts.size(); ++i) {
    by_reason[RejectReasonName(static_cast<RejectReason>(i))] = rejects.counts[i];
  }
  nlohmann::json examples = nlohmann::json::array();
  for (const auto& [reason, ex] : rejects.examples) {
    examples.push_back({{"reason", RejectReasonName(reason)}, {"file", ex.file}, {"line", ex.line},
                        {"detail", ex.detail}});
  }
  m["reading"] = {{"files", files.size()}, {"files_read", files_started}, {"lines", lines},
                  {"bytes", bytes}, {"documents", documents_read}, {"rejected", rejects.total()},
                  {"rejected_by_reason", by_reason}, {"reject_examples", examples}};
  m["sampling"] = {{"kept", kept}, {"kept_tokens", sampler.kept_tokens()}, {"budget_tokens", total},
                   {"dropped_short", dropped_short}, {"dropped_budget", dropped_budget},
                   {"dropped_unknown_source", dropped_unknown}, {"truncated", truncated},
                   {"tail_tokens_dropped", packer.dropped_tail_tokens()}, {"shortfall", shortfall},
                   {"per_source", per_source}};
  m["totals"] = {{"chunks", packer.chunks_written()}, {"tokens", packer.tokens_written()}};
  auto st = ComputeStats(config.output.dir, m);
  if (!st.ok()) return st.status();
  m["stats"] = StatsToJson(*st, nlohmann::json::object());
  LCDE_RETURN_IF_ERROR(WriteManifest(config.output.dir, m));

  std::printf("wrote %llu chunks x %llu tokens (%zu shards) to %s\n",
              static_cast<unsigned long long>(packer.chunks_written()), static_cast<unsigned long long>(seq),
              writer.shards().size(), config.output.dir.c_str());
  if (options.print_stages) {
    times.Add("total", std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count());
    std::fprintf(stderr, "%s", times.Report().c_str());
  }
  return Status::Ok();
}

}  // namespace lcde
