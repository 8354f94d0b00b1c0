#include "lcde/pipeline.h"

#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <map>

namespace lcde {

namespace {

// Documents go to the tokenizers in batches of about this many bytes of
// text: large enough to amortize queueing, small enough that a few batches
// per thread in flight stay far under the memory bound.
constexpr size_t kBatchBytes = 1 << 20;
// Scheduling weight of tokenizer threads relative to the pipeline's serial
// stages (nice 5: about a third of their share when cores are contended).
constexpr int kTokenizerNice = 5;
constexpr size_t kBatchEntries = 4096;

using Clock = std::chrono::steady_clock;

int64_t NanosSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
}

// CPU time of the calling thread: with more threads than free cores a
// thread's wall time includes the time it waited for one.
int64_t ThreadCpuNanos() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Heap order for the tokenizers' queue: the earliest batch on top.
bool LaterFirst(const std::shared_ptr<Batch>& a, const std::shared_ptr<Batch>& b) { return a->order > b->order; }

}  // namespace

void Batch::Clear() {
  entries.clear();
  text.clear();
  tokens.clear();
  unknown_names.clear();
  examples.clear();
  status = Status::Ok();
  ready = false;
  // A batch that once held a huge document must not pin that memory.
  if (text.capacity() > 4 * kBatchBytes) std::string().swap(text);
  if (tokens.capacity() > 4 * kBatchBytes) std::vector<int32_t>().swap(tokens);
}

std::shared_ptr<Batch> BatchPool::Acquire() {
  std::unique_ptr<Batch> b;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      b = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (!b) b = std::make_unique<Batch>();
  // The deleter holds the pool alive: a batch may outlive the pipeline.
  std::shared_ptr<BatchPool> self = shared_from_this();
  return std::shared_ptr<Batch>(b.release(), [self](Batch* batch) { self->Release(batch); });
}

void BatchPool::Release(Batch* batch) {
  batch->Clear();
  std::lock_guard<std::mutex> lock(mu_);
  free_.emplace_back(batch);
}

Result<InputFiles> ResolveBuildInputs(const Config& config, bool check_readable) {
  InputFiles out;
  auto all = check_readable ? ResolveInputFiles(config.input.paths, config.seed)
                            : ListInputFiles(config.input.paths, config.seed);
  if (!all.ok()) return all.status();
  out.paths = std::move(all.value());
  out.configs.assign(out.paths.size(), &config.input);
  if (config.groups.empty()) return out;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < out.paths.size(); ++i) index[out.paths[i]] = i;
  std::vector<int> owner(out.paths.size(), -1);
  for (size_t g = 0; g < config.groups.size(); ++g) {
    // The groups' files are among config.input's, checked (or not) above.
    auto files = ListInputFiles(config.groups[g].input.paths, config.seed);
    if (!files.ok()) return files.status();
    for (const auto& f : *files) {
      size_t i = index.at(f);
      if (owner[i] >= 0 && owner[i] != static_cast<int>(g)) {
        return Status::InvalidConfig("input file '" + f + "' belongs to two input groups, '" +
                                     config.groups[static_cast<size_t>(owner[i])].name + "' and '" +
                                     config.groups[g].name + "'");
      }
      owner[i] = static_cast<int>(g);
      out.configs[i] = &config.groups[g].input;
    }
  }
  return out;
}

int AvailableCores(std::string* why) {
  cpu_set_t set;
  CPU_ZERO(&set);
  const int affinity = sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0
                           ? CPU_COUNT(&set)
                           : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Only a plain positive count: anything else is not SLURM's.
  const char* env = std::getenv("SLURM_CPUS_PER_TASK");
  long slurm = 0;
  if (env != nullptr && *env >= '1' && *env <= '9') {
    char* end = nullptr;
    slurm = std::strtol(env, &end, 10);
    if (*end != '\0') slurm = 0;
  }
  const int cores = slurm > 0 && slurm < affinity ? static_cast<int>(slurm) : affinity;
  if (why != nullptr) {
    *why = std::to_string(cores) + (cores == 1 ? " core: " : " cores: ") +
           (cores < affinity ? "SLURM_CPUS_PER_TASK=" + std::to_string(slurm) + ", CPU affinity " +
                                   std::to_string(affinity)
                             : std::string("CPU affinity"));
  }
  return cores;
}

// Decompression and parsing run at a few hundred MB/s per thread; one
// reader per four tokenizer threads keeps the tokenizers fed (a 16-core
// per_source build was slower with 6 or 12 readers than with 3).
int DefaultReaders(int threads) { return std::clamp(threads / 4, 1, 8); }

// Batches hold about 1 MiB of text each. Next() takes files in order, so a
// reader of a later file must read ahead by about a whole file (SlimPajama:
// ~40 batches) to stay busy: readers share a common bound and any one may
// use all of it. A bound per reader of twice the threads summed over 3
// readers to less than the common bound, and a per_source build, which
// tokenizes 1 document in 10, waited on reading (16-core device: 3.9 s at
// 12 threads, 3.3 s with this bound). A lone reader is always on the file
// Next() is on or the next, and needs only to keep the tokenizers fed:
// more read-ahead there is text read past the budget's end (2 cores, 5M
// tokens: 0.57 s with 16 batches, 0.71 s with 64).
ReadAhead DefaultReadAhead(int threads, int readers) {
  if (readers == 1) return {std::max(16, 2 * threads), std::max(16, 2 * threads)};
  const int common = std::max(64, 16 * threads);
  return {common, common};
}

int ResolveThreads(int threads) {
  if (threads > 0) return threads;
  // One tokenizer per core. Readers, the packer and the writer run beside
  // them at a higher priority (tokenizers are niced), so they are not
  // starved; leaving them a quarter of the cores (the earlier default)
  // left those cores idle whenever reading kept up: on 16 cores a
  // per_source build took 2.82 s at 12 threads and 2.60 s at 16, and a
  // build that tokenizes everything the same time at both.
  return AvailableCores();
}

Pipeline::Pipeline(const Config& config, int threads, const Tokenizer& tokenizer, const InputFiles& files,
                   std::vector<uint32_t> order, const Sampler& sampler, ReadStart start)
    : config_(config), tokenizer_(tokenizer), inputs_(files), files_(files.paths), order_(std::move(order)),
      sampler_(sampler), start_(start) {
  threads_ = ResolveThreads(threads);
  set_readers(DefaultReaders(threads_));
  weighted_ = 0;
  while (weighted_ < sampler.source_names().size() && sampler.HasWeight(weighted_)) {
    weighted_ids_.emplace(sampler.source_names()[weighted_], weighted_);
    ++weighted_;
  }
  source_full_ = std::make_unique<std::atomic<bool>[]>(weighted_);
  for (uint32_t i = 0; i < weighted_; ++i) source_full_[i] = sampler.SourceFull(i);
  per_file_.resize(order_.size());
  per_file_pushed_.assign(order_.size(), 0);
  file_done_.assign(order_.size(), 0);
}

Pipeline::~Pipeline() { Stop(); }

void Pipeline::set_readers(int readers) {
  readers_ = std::max(1, std::min<int>(readers, static_cast<int>(order_.size())));
  in_flight_.assign(static_cast<size_t>(readers_), 0);
  if (read_ahead_set_) return;
  const ReadAhead bound = DefaultReadAhead(threads_, readers_);
  max_in_flight_ = bound.common;
  max_in_flight_per_reader_ = bound.per_reader;
}

void Pipeline::set_read_ahead(int batches) {
  max_in_flight_ = max_in_flight_per_reader_ = batches;
  read_ahead_set_ = true;
}

void Pipeline::Start() {
  readers_running_ = readers_;
  // Named for `top -H`, perf and gdb: lcde-read0, lcde-tok0, ...
  auto named = [](const char* kind, int i) {
    char name[16];
    std::snprintf(name, sizeof(name), "lcde-%s%d", kind, i);
    pthread_setname_np(pthread_self(), name);
  };
  for (int r = 0; r < readers_; ++r) {
    reader_threads_.emplace_back([this, r, named] {
      named("read", r);
      ReadLoop(r);
    });
  }
  for (int i = 0; i < threads_; ++i) {
    workers_.emplace_back([this, i, named] {
      named("tok", i);
      // With as many tokenizers as cores, readers, the consumer and the
      // writer would queue behind them; they are serial stages everyone
      // waits for, so tokenizers yield to them (Linux: nice is per thread).
      setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kTokenizerNice);
      WorkLoop();
    });
  }
}

std::shared_ptr<Batch> Pipeline::Next() {
  const auto t0 = Clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    next_cv_.wait(lock, [&] {
      return current_ >= per_file_.size() || (!per_file_[current_].empty() && per_file_[current_].front()->ready) ||
             (per_file_[current_].empty() && file_done_[current_]);
    });
    if (current_ >= per_file_.size()) return nullptr;
    if (per_file_[current_].empty()) {
      ++current_;  // this file is finished; go on with the next
      push_cv_.notify_all();  // its reader may now pass the common bound
      continue;
    }
    auto b = std::move(per_file_[current_].front());
    per_file_[current_].pop_front();
    in_flight_[current_ % static_cast<size_t>(readers_)]--;
    total_in_flight_--;
    push_cv_.notify_all();  // readers waiting for room may go on
    next_wait_ns_ += NanosSince(t0);
    return b;
  }
}

uint32_t Pipeline::SourceOf(const Batch& batch, const Entry& entry, Sampler* sampler) {
  return entry.unknown_source ? sampler->SourceId(batch.unknown_names[entry.source]) : entry.source;
}

void Pipeline::MarkSourceFull(uint32_t source) {
  if (source < weighted_) source_full_[source].store(true, std::memory_order_relaxed);
}

void Pipeline::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  next_cv_.notify_all();
  push_cv_.notify_all();
  work_cv_.notify_all();
  for (auto& r : reader_threads_) r.join();
  reader_threads_.clear();
  for (auto& w : workers_) w.join();
  workers_.clear();
}

// Only decisions that stay true later may be taken here (a full budget stays
// full; a draw never changes), so skipping the tokenizer never changes the
// output, only how much work is done.
bool Pipeline::CertainDrop(Entry* e, size_t text_bytes) const {
  e->known_short = false;
  e->lost_draw = false;
  const int budget_source = e->budget_source;
  if (budget_source < 0) return true;
  // Under `global` every source shares one budget and a full budget ends
  // the build, so only per-source budgets are worth watching.
  if (config_.mixture.strategy != Strategy::kGlobal &&
      source_full_[budget_source].load(std::memory_order_relaxed)) {
    return true;
  }
  if (!sampler_.UsesKeepDraw(static_cast<uint32_t>(budget_source)) || sampler_.ShortDocumentSurvives(e->Id())) {
    return false;
  }
  e->known_short = tokenizer_.MaxTokensForBytes(text_bytes) + AddedTokens() < config_.mixture.length_threshold;
  e->lost_draw = !e->known_short;
  return e->known_short;
}

// Ids Encode adds around a document's own: BOS, EOS, the separator.
uint64_t Pipeline::AddedTokens() const {
  return (config_.tokenizer.bos ? 1 : 0) + (config_.tokenizer.eos ? 1 : 0) + (config_.tokenizer.separator >= 0 ? 1 : 0);
}

// CertainDrop again, on the tokenizer thread just before encoding: the
// budget may have filled since the document was read (read-ahead is deep),
// and the cache now bounds a document that lost the draw far more tightly
// than its bytes do.
bool Pipeline::DropBeforeEncoding(Entry* e, std::string_view text) const {
  if (e->budget_source >= 0 && config_.mixture.strategy != Strategy::kGlobal &&
      source_full_[e->budget_source].load(std::memory_order_relaxed)) {
    e->tokenize = false;
    return true;
  }
  if (!e->lost_draw) return false;
  const uint64_t threshold = config_.mixture.length_threshold;
  const uint64_t added = AddedTokens();
  if (threshold <= added) return false;
  if (tokenizer_.TokensUpperBound(text, threshold - added) + added < threshold) {
    e->tokenize = false;
    e->known_short = true;
    return true;
  }
  return false;
}

// A reader waits for room under its own bound, and under the common one
// unless it reads the file Next() is on. That file's reader then waits only
// for its own batches, which Next() drains, so the pipeline cannot stall.
bool Pipeline::Push(size_t position, int reader, std::shared_ptr<Batch> batch) {
  const auto t0 = Clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  const size_t r = static_cast<size_t>(reader);
  push_cv_.wait(lock, [&] {
    if (stop_ || in_flight_[r] >= max_in_flight_per_reader_) return stop_;
    return total_in_flight_ < max_in_flight_ || position == current_;
  });
  reader_wait_ns_ += NanosSince(t0);
  if (stop_) return false;
  in_flight_[r]++;
  total_in_flight_++;
  batch->order = (static_cast<uint64_t>(position) << 32) | per_file_pushed_[position]++;
  per_file_[position].push_back(batch);
  // Tokenizers take the batch Next() will want first.
  work_.push_back(std::move(batch));
  std::push_heap(work_.begin(), work_.end(), LaterFirst);
  work_cv_.notify_one();
  return true;
}

void Pipeline::FileDone(size_t position) {
  std::lock_guard<std::mutex> lock(mu_);
  file_done_[position] = 1;
  next_cv_.notify_all();
}

void Pipeline::ReadLoop(int reader) {
  bool stopped = false;
  for (size_t pos = static_cast<size_t>(reader); pos < order_.size() && !stopped; pos += static_cast<size_t>(readers_)) {
    if (order_[pos] >= start_.file_index) ReadFile(pos, reader, &stopped);
    if (!stopped) FileDone(pos);
  }
  std::lock_guard<std::mutex> lock(mu_);
  readers_running_--;
  next_cv_.notify_all();
  work_cv_.notify_all();  // the last reader's exit ends the workers
}

void Pipeline::ReadFile(size_t pos, int reader, bool* stopped) {
  const uint32_t fi = order_[pos];
  auto batch = pool_->Acquire();
  size_t batch_bytes = 0;  // every document's text, tokenized or not: cuts must not depend on timing
  auto t0 = Clock::now();
  auto push = [&]() -> bool {
    reader_busy_ns_ += NanosSince(t0);
    bool ok = Push(pos, reader, std::move(batch));
    t0 = Clock::now();
    batch = pool_->Acquire();
    batch_bytes = 0;
    return ok;
  };
  uint64_t skip_before = fi == start_.file_index ? start_.line : 0;
  auto opened = DocumentReader::Open(files_[fi], fi, *inputs_.configs[fi]);
  if (!opened.ok()) {
    // The file was readable when the build started; count it and go on.
    Entry e;
    e.kind = Entry::Kind::kReject;
    e.file_index = fi;
    e.reason = RejectReason::kCorruptInput;
    e.example = static_cast<int32_t>(batch->examples.size());
    batch->examples.push_back({files_[fi], 0, opened.status().message()});
    batch->entries.push_back(e);
    Entry end;
    end.kind = Entry::Kind::kFileEnd;
    end.file_index = fi;
    batch->entries.push_back(end);
    *stopped = !push();
    return;
  }
  DocumentReader& r = *opened.value();
  RejectStats seen;  // the reader's rejects already turned into entries
  // `resumed`: these rejects lie before the point an interrupted build
  // reached (every line before start_.line), so they were counted then and
  // are dropped now. Rejects found while fetching the document at line L lie
  // before L.
  auto emit_rejects = [&](bool resumed) {
    const RejectStats& now = r.rejects();
    if (now.total() == seen.total()) return;
    // New examples are appended in order; every counted reject becomes an
    // entry, with its example when the reader kept one.
    size_t first_new_example = seen.examples.size();
    for (size_t reason = 0; reason < now.counts.size(); ++reason) {
      for (uint64_t k = seen.counts[reason]; k < now.counts[reason]; ++k) {
        Entry e;
        e.kind = Entry::Kind::kReject;
        e.file_index = fi;
        e.reason = static_cast<RejectReason>(reason);
        e.file_lines = r.lines_read();
        e.file_bytes = r.bytes_read();
        for (size_t x = first_new_example; x < now.examples.size(); ++x) {
          if (now.examples[x].first == e.reason && now.examples[x].second.line > 0) {
            e.line = now.examples[x].second.line;
            e.example = static_cast<int32_t>(batch->examples.size());
            batch->examples.push_back(now.examples[x].second);
            first_new_example = x + 1;
            break;
          }
        }
        if (!resumed) batch->entries.push_back(e);
      }
    }
    seen = now;
  };
  Document doc;
  while (r.Next(&doc)) {
    emit_rejects(doc.line < skip_before);
    if (doc.line < skip_before) continue;
    Entry e;
    e.kind = Entry::Kind::kDocument;
    e.file_index = fi;
    e.line = doc.line;
    e.file_lines = r.lines_read();
    e.file_bytes = r.bytes_read();
    auto known = weighted_ids_.find(doc.source);
    if (known != weighted_ids_.end()) {
      e.source = known->second;
      e.budget_source = static_cast<int32_t>(known->second);
    } else {
      e.budget_source = sampler_.BudgetSourceOf(doc.source);
      auto& names = batch->unknown_names;
      auto it = std::find(names.begin(), names.end(), doc.source);
      e.source = static_cast<uint32_t>(it - names.begin());
      if (it == names.end()) names.emplace_back(doc.source);
      e.unknown_source = true;
    }
    e.tokenize = !CertainDrop(&e, doc.text.size());
    if (e.tokenize) {
      e.text_offset = batch->text.size();
      e.text_size = doc.text.size();
      batch->text.append(doc.text);
    }
    batch->entries.push_back(e);
    batch_bytes += doc.text.size();
    if (batch_bytes >= kBatchBytes || batch->entries.size() >= kBatchEntries) {
      if (!push()) {
        *stopped = true;
        return;
      }
    }
  }
  emit_rejects(false);
  Entry end;
  end.kind = Entry::Kind::kFileEnd;
  end.file_index = fi;
  end.line = r.lines_read();
  end.file_lines = r.lines_read();
  end.file_bytes = r.bytes_read();
  batch->entries.push_back(end);
  *stopped = !push();
}

void Pipeline::WorkLoop() {
  for (;;) {
    std::shared_ptr<Batch> b;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || !work_.empty() || readers_running_ == 0; });
      if (work_.empty()) return;  // stopped, or every reader finished and nothing is left
      std::pop_heap(work_.begin(), work_.end(), LaterFirst);
      b = std::move(work_.back());
      work_.pop_back();
    }
    auto t0 = Clock::now();
    const int64_t cpu0 = ThreadCpuNanos();
    Status st;
    std::string_view text(b->text);
    uint64_t documents = 0;
    for (auto& e : b->entries) {
      if (e.kind != Entry::Kind::kDocument || !e.tokenize) continue;
      if (DropBeforeEncoding(&e, text.substr(e.text_offset, e.text_size))) continue;
      ++documents;
      e.token_offset = b->tokens.size();
      st = tokenizer_.Encode(text.substr(e.text_offset, e.text_size), config_.tokenizer.bos,
                             config_.tokenizer.eos, &b->tokens);
      if (!st.ok()) break;
      e.special_token_text = tokenizer_.ContainsSpecialTokenText(text.substr(e.text_offset, e.text_size));
      if (config_.tokenizer.separator >= 0) b->tokens.push_back(static_cast<int32_t>(config_.tokenizer.separator));
      e.token_count = b->tokens.size() - e.token_offset;
    }
    // The text is no longer needed; free it before the batch waits its turn.
    b->text.clear();
    tokenize_ns_ += NanosSince(t0);
    tokenize_cpu_ns_ += ThreadCpuNanos() - cpu0;
    tokens_tokenized_ += b->tokens.size();
    documents_tokenized_ += documents;
    {
      std::lock_guard<std::mutex> lock(mu_);
      b->status = st;
      b->ready = true;
    }
    next_cv_.notify_all();  // only the consumer waits here
  }
}

}  // namespace lcde
