#include "build/build_run.h"

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lcde/manifest.h"
#include "lcde/sha256.h"
#include "lcde/validation.h"
#include "lcde/version.h"

namespace lcde {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool IsDatasetFile(const std::string& name) {
  return name == kManifestName || name.starts_with("checkpoint.") || name.starts_with(kSpillFilePrefix) ||
         (name.starts_with("part-") &&
          (name.ends_with(".bin") || name.ends_with(".idx") || name.ends_with(".seg")));
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

Status PrepareOutputDir(const std::string& dir, bool replace, const std::vector<std::string>& keep) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create output.dir '" + dir + "': " + ec.message());
  auto kept = [&](const std::string& name) { return std::find(keep.begin(), keep.end(), name) != keep.end(); };
  std::vector<fs::path> old, tmp;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.ends_with(".tmp")) tmp.push_back(entry.path());
    else if ((name == "validation" || IsDatasetFile(name)) && !kept(name)) old.push_back(entry.path());
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

BuildRun::BuildRun(const Config& config, const BuildOptions& options) : config_(config), options_(options) {}

Status BuildRun::Plan() {
  if (options_.num_tasks < 1 || options_.task_index < 0 || options_.task_index >= options_.num_tasks) {
    return Status::InvalidConfig("--task-index " + std::to_string(options_.task_index) + " is not in [0, " +
                                 std::to_string(options_.num_tasks) + ")");
  }
  is_task_ = options_.num_tasks > 1;
  const std::string task_dir = is_task_ ? TaskDirName(options_.task_index, options_.num_tasks) : "";
  dir_ = is_task_ ? (fs::path(config_.output.dir) / task_dir).string() : config_.output.dir;
  {
    ScopedTimer t(&times_, "resolve inputs");
    auto r = ResolveBuildInputs(config_, /*check_readable=*/false);  // this task's files, below
    if (!r.ok()) return r.status();
    inputs_ = std::move(r.value());
  }
  {
    ScopedTimer t(&times_, "load tokenizer");
    auto r = Tokenizer::Load(config_.tokenizer.model);
    if (!r.ok()) return r.status();
    tokenizer_ = std::move(r.value());
  }
  LCDE_RETURN_IF_ERROR(ResolveTokenizerConfig(*tokenizer_, &config_.tokenizer));
  // Budgets cover whole chunks only: a partial chunk would be dropped, and
  // with it the mixture of whichever sources ended the stream.
  seq_ = config_.output.sequence_length;
  total_ = config_.output.keep_partial_chunk ? config_.mixture.total_tokens : config_.mixture.total_tokens / seq_ * seq_;
  const uint64_t n = static_cast<uint64_t>(options_.num_tasks), task = static_cast<uint64_t>(options_.task_index);
  for (uint32_t i = 0; i < inputs_.paths.size(); ++i) {
    if (i % n == task) order_.push_back(i);
  }
  // Only the files this task reads: in a job array another task's unreadable
  // file fails that task alone, and the rest finish their parts.
  for (uint32_t i : order_) LCDE_RETURN_IF_ERROR(CheckInputReadable(inputs_.paths[i]));
  if (is_task_) {
    // Whole chunks per task, the remainder to the first tasks: the parts add
    // up to the single-node total.
    uint64_t chunks = total_ / seq_;
    total_ = (chunks / n + (task < chunks % n ? 1 : 0)) * seq_;
    if (order_.empty()) {
      return Status::InvalidConfig("task " + std::to_string(task) + " of " + std::to_string(n) +
                                   " has no input files: " + std::to_string(inputs_.paths.size()) + " files for " +
                                   std::to_string(n) + " tasks");
    }
  }
  if (total_ == 0) {
    return Status::InvalidConfig("mixture.total_tokens (" + std::to_string(config_.mixture.total_tokens) +
                                 ") is less than one output.sequence_length (" + std::to_string(seq_) + ")");
  }
  fingerprint_ = Fingerprint(config_, *tokenizer_, inputs_.paths) + (is_task_ ? "/" + task_dir : "");
  sampler_ = std::make_unique<Sampler>(config_.mixture, config_.seed, total_);
  dtype_ = DtypeForVocab(tokenizer_->vocab_size());
  writer_ = std::make_unique<DatasetWriter>(dir_, dtype_, config_.output.chunks_per_shard);
  stats_ = std::make_unique<StatsAccumulator>(config_.mixture.length_threshold);
  writer_->set_stats(stats_.get());
  packer_ = std::make_unique<Packer>(seq_, writer_.get());
  repeats_ = std::make_unique<RepeatQueue>(seq_);
  interleaver_ = std::make_unique<Interleaver>(QueueBudgets(), dir_, options_.interleave_memory_tokens);
  state_ = std::make_unique<BuildState>(inputs_.paths.size());
  return Status::Ok();
}

// One queue per weighted source, paced by its budget; a single FIFO when
// interleaving is off or the strategy has one budget for all (global: no
// per-source targets to hold).
std::vector<uint64_t> BuildRun::QueueBudgets() const {
  if (!config_.mixture.interleave || config_.mixture.strategy == Strategy::kGlobal) return {1};
  std::vector<uint64_t> budgets;
  for (uint32_t i = 0; i < sampler_->source_names().size() && sampler_->HasWeight(i); ++i) {
    budgets.push_back(sampler_->counts(i).budget_tokens);
  }
  return budgets;
}

uint32_t BuildRun::QueueOf(uint32_t source) {
  if (interleaver_->queues() == 1) return 0;
  if (source >= queue_of_.size()) queue_of_.resize(source + 1, -1);
  if (queue_of_[source] < 0) queue_of_[source] = sampler_->BudgetSourceOf(sampler_->source_names()[source]);
  return static_cast<uint32_t>(queue_of_[source]);
}

Status BuildRun::OpenOutput(bool* complete) {
  *complete = false;
  const fs::path checkpoint = fs::path(dir_) / kCheckpointName;
  if (options_.resume && fs::exists(checkpoint)) {
    std::ifstream in(checkpoint);
    std::stringstream text;
    text << in.rdbuf();
    json cp = json::parse(text.str(), nullptr, false);
    if (cp.is_discarded() || !cp.is_object()) return Status::Corruption(checkpoint.string() + ": not valid JSON");
    if (cp.value("fingerprint", "") != fingerprint_) {
      return Status::InvalidConfig("cannot resume in '" + dir_ +
                                   "': its checkpoint was written with another config, tokenizer, input "
                                   "list or lcde version; pass --force to start over");
    }
    LCDE_RETURN_IF_ERROR(Resume(cp));
  } else if (options_.resume && fs::exists(fs::path(dir_) / kManifestName)) {
    spdlog::info("{} already holds a complete dataset; nothing to resume", dir_);
    *complete = true;
    return Status::Ok();
  } else {
    // --resume without a checkpoint: the first shard never finished; start over.
    LCDE_RETURN_IF_ERROR(PrepareOutputDir(dir_, options_.force || options_.resume));
  }
  InstallCheckpointing();
  return Status::Ok();
}

Status BuildRun::HoldOutValidation() {
  if (config_.validation.tokens_per_source == 0) return Status::Ok();
  // A task holds out its share from its own files; `lcde merge` joins the
  // tasks' sets into one.
  Config validation_config = config_;
  if (is_task_) {
    uint64_t n = static_cast<uint64_t>(options_.num_tasks), i = static_cast<uint64_t>(options_.task_index);
    uint64_t per = config_.validation.tokens_per_source;
    validation_config.validation.tokens_per_source = per / n + (i < per % n ? 1 : 0);
  }
  ValidationPlan plan;
  plan.config = &validation_config;
  plan.tokenizer = tokenizer_.get();
  plan.files = &inputs_;
  plan.order = order_;
  plan.threads = options_.threads;
  plan.dir = dir_;
  plan.config_json = ConfigJson(config_);
  auto held = BuildValidation(plan);
  if (!held.ok()) return held.status();
  held_out_ = std::move(held.value());
  return Status::Ok();
}

Status BuildRun::Stream() {
  progress_ = std::make_unique<Progress>(total_);
  spdlog::info("building {} tokens ({} chunks of {}) from {} files with {} strategy into {}", total_, total_ / seq_,
               seq_, inputs_.paths.size(), StrategyName(config_.mixture.strategy), dir_);
  spdlog::info("tokenizer: {} ({}){}", config_.tokenizer.model, tokenizer_->encoder(),
               tokenizer_->encoder_note().empty() ? "" : ": " + tokenizer_->encoder_note());
  pipeline_ = std::make_unique<Pipeline>(config_, options_.threads, *tokenizer_, inputs_, order_, *sampler_, start_);
  // Said where a job's log keeps it: under SLURM, what the task made of its allocation.
  std::string cores = "--threads";
  if (options_.threads <= 0) AvailableCores(&cores);
  spdlog::info("tokenizer threads: {} ({})", pipeline_->threads(), cores);
  if (options_.read_ahead_batches > 0) pipeline_->set_read_ahead(options_.read_ahead_batches);
  if (options_.readers > 0) pipeline_->set_readers(options_.readers);
  pipeline_->Start();
  Status status;
  while (status.ok() && !sampler_->Done() && !InterruptSignal()) {
    std::shared_ptr<Batch> batch = pipeline_->Next();
    if (!batch) {
      input_ended_ = true;
      state_->next_file = static_cast<uint32_t>(inputs_.paths.size());
      state_->next_line = 0;
      break;
    }
    auto t0 = std::chrono::steady_clock::now();
    status = batch->status.ok() ? ConsumeBatch(*batch) : batch->status;
    consume_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (options_.progress) progress_->Update(packer_->tokens_written(), state_->bytes());
  }
  pipeline_->Stop();
  if (status.ok() && InterruptSignal()) {
    status = Status::Interrupted(std::string("interrupted by ") + (InterruptSignal() == SIGINT ? "SIGINT" : "SIGTERM"));
  }
  return status;
}

Status BuildRun::ConsumeBatch(const Batch& batch) {
  for (const Entry& e : batch.entries) {
    state_->file_touched[e.file_index] = 1;
    state_->file_lines[e.file_index] = e.file_lines;
    state_->file_bytes[e.file_index] = e.file_bytes;
    if (e.kind == Entry::Kind::kReject) {
      const RejectExample* ex = e.example >= 0 ? &batch.examples[static_cast<size_t>(e.example)] : nullptr;
      state_->AddReject(e.reason, ex);
      if (options_.strict) {
        RejectExample fallback{inputs_.paths[e.file_index], e.line, ""};
        return Status::DataError("--strict: " + Describe(e.reason, ex ? *ex : fallback));
      }
    } else if (e.kind == Entry::Kind::kDocument) {
      LCDE_RETURN_IF_ERROR(ConsumeDocument(batch, e));
      if (sampler_->Done()) break;
    }
  }
  return Status::Ok();
}

// Where a document is sampled: kept documents go to the interleaver, which
// passes on those whose turn has come.
Status BuildRun::ConsumeDocument(const Batch& batch, const Entry& e) {
  const uint32_t source = Pipeline::SourceOf(batch, e, sampler_.get());
  state_->documents++;
  state_->next_file = e.file_index;
  state_->next_line = e.line + 1;
  if (!held_out_.empty() && std::binary_search(held_out_.begin(), held_out_.end(), e.Id())) {
    state_->held_out++;
    work_.other += e.token_count;
    return Status::Ok();
  }
  uint64_t take = 0;
  Copies copies;
  if (!e.tokenize) work_.untokenized_documents++;
  switch (sampler_->Offer(source, e.Id(), e.token_count, !e.tokenize, &take, &copies)) {
    case Sampler::Decision::kKeep: break;
    case Sampler::Decision::kDropShort:
      state_->dropped_short++;
      work_.dropped_short += e.token_count;
      return Status::Ok();
    case Sampler::Decision::kDropBudget:
      state_->dropped_budget++;
      work_.dropped_budget += e.token_count;
      return Status::Ok();
    case Sampler::Decision::kDropUnknownSource:
      state_->dropped_unknown++;
      work_.other += e.token_count;
      return Status::Ok();
  }
  work_.kept += e.token_count;
  if (!e.tokenize) return Status::Corruption("internal: a document kept without tokens");
  state_->kept++;
  if (e.special_token_text) state_->special_token_text++;
  if (take < e.token_count) state_->truncated++;
  std::span<const int32_t> tokens(batch.tokens.data() + e.token_offset, e.token_count);
  // With copies the queue keeps the whole document: the copies repeat it.
  LCDE_RETURN_IF_ERROR(interleaver_->Push(QueueOf(source), source, e.Id(), e.token_count, take, copies,
                                          copies.count > 0 ? tokens : tokens.first(take)));
  LCDE_RETURN_IF_ERROR(Release());
  if (sampler_->SourceFull(source) && sampler_->HasWeight(source)) pipeline_->MarkSourceFull(source);
  return Status::Ok();
}

Status BuildRun::Release() {
  auto may_grow = [this](uint32_t queue) {
    if (input_ended_) return false;
    return interleaver_->queues() == 1 ? !sampler_->Done() : !sampler_->SourceFull(queue);
  };
  auto room = [this] { return seq_ - packer_->stream_tokens() % seq_; };
  auto emit = [this](const QueuedDocument& doc, uint64_t until, bool resumed) {
    return EmitPiece(doc, until, resumed);
  };
  return interleaver_->Release(may_grow, room, emit);
}

// Where a document is packed, piece by piece. With its last piece its copies
// are scheduled, before the piece goes in, so that a checkpoint taken inside
// Add knows them.
Status BuildRun::EmitPiece(const QueuedDocument& doc, uint64_t until, bool resumed) {
  if (until == doc.take && doc.copies.count > 0 && !resumed) {
    repeats_->Schedule(doc.source, doc.id, doc.tokens, doc.copies.count, doc.copies.last_tokens,
                       packer_->stream_tokens() + (until - doc.emitted));
  }
  if (doc.emitted < until) {
    std::span<const int32_t> tokens(doc.tokens.data(), until);
    LCDE_RETURN_IF_ERROR(packer_->Add(doc.source, doc.id, doc.doc_tokens, tokens, doc.emitted));
  }
  // Copies enter between documents, never between the pieces of one.
  return until == doc.take ? repeats_->EmitDue(packer_.get()) : Status::Ok();
}

Status BuildRun::FinishStream() {
  input_ended_ = true;  // nothing more is read: every queue drains
  LCDE_RETURN_IF_ERROR(Release());
  if (!interleaver_->empty()) return Status::Corruption("internal: documents left in the interleaver");
  if (interleaver_->spilled_tokens() > 0) {
    spdlog::info("interleave: {} queued tokens went through spill files in {}", interleaver_->spilled_tokens(), dir_);
  }
  LCDE_RETURN_IF_ERROR(repeats_->EmitAll(packer_.get()));
  LCDE_RETURN_IF_ERROR(packer_->Finish(config_.output.keep_partial_chunk));
  return writer_->Finish();
}

Status BuildRun::Abandon(Status why) {
  writer_->Abandon();
  if (options_.progress && progress_) progress_->Finish(packer_->tokens_written(), state_->bytes());
  if (!writer_->shards().empty()) {
    uint64_t done = 0;
    for (const auto& sh : writer_->shards()) done += sh.chunks;
    spdlog::warn("{} of {} chunks are complete in {} shards; `lcde build --resume` continues from there", done,
                 total_ / seq_, writer_->shards().size());
  }
  return why;
}

void BuildRun::ReportStageTimes() {
  times_.Add("read + parse (reader thread, busy)", pipeline_->reader_busy_seconds());
  times_.Add("  readers waiting for read-ahead room", pipeline_->reader_wait_seconds());
  times_.Add("tokenize (sum over threads)", pipeline_->tokenize_seconds());
  times_.Add("  of which on a CPU", pipeline_->tokenize_cpu_seconds());
  times_.Add("sample + pack (consumer thread)", consume_seconds_);
  times_.Add("  of which waiting for the writer", writer_->wait_seconds());
  times_.Add("consumer idle, waiting for tokenized batches", pipeline_->next_wait_seconds());
  times_.Add("write shards (writer thread, busy)", writer_->write_seconds());
}

// Tokens the tokenizers produced per token of the documents kept: 1.0 when
// only kept documents were tokenized. Held-out documents count as `other`.
std::string BuildRun::TokenizerWorkReport() const {
  const uint64_t tokenized = pipeline_->tokens_tokenized();
  const uint64_t consumed = work_.kept + work_.dropped_short + work_.dropped_budget + work_.other;
  const double kept = static_cast<double>(std::max<uint64_t>(work_.kept, 1));
  std::vector<std::pair<std::string, uint64_t>> rows = {
      {"tokenized", tokenized},
      {"  documents kept", work_.kept},
      {"  dropped short (lost the keep draw)", work_.dropped_short},
      {"  dropped, budget full", work_.dropped_budget},
      {"  held out or unknown source", work_.other},
      {"  read ahead, not consumed", tokenized > consumed ? tokenized - consumed : 0}};
  size_t width = 24;
  for (const auto& [name, n] : rows) width = std::max(width, name.size());
  std::string out = fmt::format("{:<{}} {:>12} {:>9}\n", "tokenizer work", width, "tokens", "per kept");
  for (const auto& [name, n] : rows) {
    out += fmt::format("{:<{}} {:>12} {:>9.3f}\n", name, width, n, static_cast<double>(n) / kept);
  }
  out += fmt::format("{:<{}} {:>12}\n", "documents decided untokenized", width, work_.untokenized_documents);
  out += fmt::format("{:<{}} {:>12}\n", "documents tokenized", width, pipeline_->documents_tokenized());
  return out;
}

Status BuildRun::Conclude() {
  if (options_.progress) progress_->Finish(packer_->tokens_written(), state_->bytes());
  ReportStageTimes();
  {
    ScopedTimer t(&times_, "stats + manifest");
    auto manifest = Manifest();
    if (!manifest.ok()) return manifest.status();
    LCDE_RETURN_IF_ERROR(WriteManifest(dir_, *manifest));
    LCDE_RETURN_IF_ERROR(RemoveCheckpointFiles());
  }
  if (state_->rejects.total() > 0) {
    spdlog::warn("{} input lines rejected (see manifest.json reading.reject_examples)", state_->rejects.total());
  }
  std::printf("wrote %llu chunks x %llu tokens (%zu shards) to %s\n",
              static_cast<unsigned long long>(packer_->chunks_written()), static_cast<unsigned long long>(seq_),
              writer_->shards().size(), dir_.c_str());
  if (options_.print_stages) {
    times_.Add("total", std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    // Against total x cores: how much of the machine the build used.
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) == 0) {
      auto seconds = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
      times_.Add("process CPU time (user + system)", seconds(usage.ru_utime) + seconds(usage.ru_stime));
    }
    std::fprintf(stderr, "%s%s", times_.Report().c_str(), TokenizerWorkReport().c_str());
  }
  return Status::Ok();
}

}  // namespace lcde
