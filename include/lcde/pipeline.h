// The parallel front half of a build: reading, parsing and tokenizing
// overlap, and the result comes out in input order.
//
//   R reader threads   files -> entries (documents, rejects, file ends) -> batches
//                      (reader r takes every R-th file; a batch never spans files)
//   N worker threads   batch -> token ids (the batch Next() needs soonest first)
//   Next()             batches in file order, each fully tokenized
//
// Read-ahead is bounded in batches for all readers together (memory stays
// independent of the corpus; any one reader may use all of it); the reader
// of the file Next() is on may pass that bound by its own, so Next() always
// gets what it waits for.
//
// Everything a batch says is per entry and in input order, so a consumer that
// stops at any entry has counted exactly the same things whatever the thread
// count, the batch cuts, or where an interrupted build resumed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lcde/config.h"
#include "lcde/reader.h"
#include "lcde/sampler.h"
#include "lcde/status.h"
#include "lcde/tokenizer.h"

namespace lcde {

struct Entry {
  enum class Kind : uint8_t { kDocument, kReject, kFileEnd };
  Kind kind = Kind::kDocument;
  uint32_t file_index = 0;
  uint64_t line = 0;        // the document's or the reject's line
  uint64_t file_lines = 0;  // the reader's lines_read() after this entry
  uint64_t file_bytes = 0;  // the reader's bytes_read() after this entry
  // kDocument
  uint32_t source = 0;  // a weighted source's id, or (unknown_source) an index into Batch::unknown_names
  bool unknown_source = false;
  bool tokenize = true;      // false: the sampler drops it whatever its length
  bool known_short = false;  // certainly under the length threshold
  // Lost the keep draw, but its bytes alone did not prove it short: the
  // tokenizer thread tries a tighter bound before encoding it.
  bool lost_draw = false;
  int32_t budget_source = -1;  // the weighted source whose budget it draws on, or -1
  bool special_token_text = false;  // the text holds a special token's text (tokenized as text)
  uint64_t text_offset = 0, text_size = 0;
  uint64_t token_offset = 0, token_count = 0;
  // kReject
  RejectReason reason = RejectReason::kMalformedJson;
  int32_t example = -1;  // index into Batch::examples, or -1
  uint64_t Id() const { return (static_cast<uint64_t>(file_index) << 32) | line; }
};

struct Batch {
  std::vector<Entry> entries;
  std::string text;                      // tokenized documents' texts, back to back
  std::vector<int32_t> tokens;           // filled by a worker
  // Names of sources without a weight met in this batch. Readers run in
  // parallel, so only the consumer, taking batches in order, gives them ids.
  std::vector<std::string> unknown_names;
  std::vector<RejectExample> examples;
  uint64_t order = 0;  // position in the input << 32 | index within it (set by Push)
  Status status;       // a tokenizer failure
  bool ready = false;  // guarded by the pipeline's mutex

  // Empties the batch for reuse, keeping its buffers' capacity.
  void Clear();
};

// Recycles batches: their text and token buffers are reused instead of
// being allocated per batch. Large fresh allocations are mmap'ed and their
// release unmaps them, which on many cores costs page faults and TLB
// shootdowns on every thread; reuse makes the hot path allocation-free.
class BatchPool : public std::enable_shared_from_this<BatchPool> {
 public:
  std::shared_ptr<Batch> Acquire();

 private:
  void Release(Batch* batch);
  std::mutex mu_;
  std::vector<std::unique_ptr<Batch>> free_;
};

// Where reading starts: entries of `file_index` before `line` are skipped
// (they were consumed before an interruption); earlier files are not opened.
struct ReadStart {
  uint32_t file_index = 0;
  uint64_t line = 0;
};

// The input files of a build, in visit order, each with the rules it is read
// by (its input group's, or the config's input).
struct InputFiles {
  std::vector<std::string> paths;
  std::vector<const InputConfig*> configs;  // point into the Config
};

// Resolves config.input (or every input group) like ResolveInputFiles: all
// paths sorted, then shuffled by the seed. A file may belong to one group only.
// With `check_readable` false the files are not opened: a job-array task
// checks only those it reads (CheckInputReadable), so one unreadable file
// fails the task that needs it and not every task of the array.
Result<InputFiles> ResolveBuildInputs(const Config& config, bool check_readable = true);

// How many batches (about 1 MiB of text each) readers may hold read and not
// yet consumed: all readers together, and the reader of the file Next() is
// on, which may pass the common bound by its own so Next() always progresses.
struct ReadAhead {
  int common;
  int per_reader;
};
// Reader threads for `threads` tokenizer threads, before the cap at the files.
int DefaultReaders(int threads);
// The default for `threads` tokenizer threads and `readers` reader threads.
// With several readers, each reader of a later file has room for a whole
// input file. REQUIRES: threads >= 1, readers >= 1.
ReadAhead DefaultReadAhead(int threads, int readers);

// The cores this process may use: the CPUs of its affinity mask (what
// taskset, a cgroup cpuset or SLURM's task/affinity bind it to), capped by
// SLURM_CPUS_PER_TASK when SLURM set it. A cluster that does not bind tasks
// leaves the mask at the whole node, and only the environment says what the
// job was allocated. `why`, when given, says which of the two decided, e.g.
// "1 core: SLURM_CPUS_PER_TASK=1, CPU affinity 2".
int AvailableCores(std::string* why = nullptr);
// Tokenizer threads for `--threads N`: N, or for 0 (the default) the
// available cores (reading, packing and writing run beside them).
int ResolveThreads(int threads);

class Pipeline {
 public:
  // `sampler` is read only through its immutable parts (names of weighted
  // sources, budget owners, keep draws) off the calling thread.
  // Reads files[i] for each i in `order` (ascending), skipping those before `start`.
  Pipeline(const Config& config, int threads, const Tokenizer& tokenizer, const InputFiles& files,
           std::vector<uint32_t> order, const Sampler& sampler, ReadStart start);
  ~Pipeline();

  // Overrides the read-ahead bound (tests: a bound of 1 makes every reader
  // but the current file's wait). REQUIRES: before Start(), batches >= 1.
  void set_read_ahead(int batches);
  // Overrides the number of reader threads (benchmarks), capped at the files.
  // REQUIRES: before Start(), readers >= 1.
  void set_readers(int readers);
  void Start();
  // The next batch in file order, tokenized; nullptr when input is exhausted.
  std::shared_ptr<Batch> Next();
  // The sampler id of a document entry's source (registers unknown names, in
  // consumption order). Call on the consuming thread only.
  static uint32_t SourceOf(const Batch& batch, const Entry& entry, Sampler* sampler);
  // Lets the reader skip tokenizing documents of a full budget. Monotonic.
  void MarkSourceFull(uint32_t weighted_source);
  // Stops reading and joins every thread. Idempotent.
  void Stop();

  double reader_busy_seconds() const { return reader_busy_ns_.load() / 1e9; }
  double tokenize_seconds() const { return tokenize_ns_.load() / 1e9; }
  double tokenize_cpu_seconds() const { return tokenize_cpu_ns_.load() / 1e9; }
  // Time the consumer waited in Next(), and readers (summed) for read-ahead room.
  double next_wait_seconds() const { return next_wait_ns_.load() / 1e9; }
  double reader_wait_seconds() const { return reader_wait_ns_.load() / 1e9; }
  // Work the tokenizers did, consumed or not (read-ahead past the end of a
  // build is tokenized too): token ids produced and documents tokenized.
  uint64_t tokens_tokenized() const { return tokens_tokenized_.load(); }
  uint64_t documents_tokenized() const { return documents_tokenized_.load(); }
  int threads() const { return threads_; }

 private:
  bool CertainDrop(Entry* entry, size_t text_bytes) const;
  bool DropBeforeEncoding(Entry* entry, std::string_view text) const;
  uint64_t AddedTokens() const;
  bool Push(size_t position, int reader, std::shared_ptr<Batch> batch);
  void FileDone(size_t position);
  void ReadLoop(int reader);
  void ReadFile(size_t position, int reader, bool* stopped);
  void WorkLoop();

  const Config& config_;
  const Tokenizer& tokenizer_;
  const InputFiles& inputs_;
  const std::vector<std::string>& files_;
  std::vector<uint32_t> order_;
  const Sampler& sampler_;
  ReadStart start_;
  int threads_ = 1;
  uint32_t weighted_ = 0;
  std::unique_ptr<std::atomic<bool>[]> source_full_;

  std::mutex mu_;
  // One condition per kind of waiter, so an event wakes only who it concerns.
  std::condition_variable next_cv_;  // the consumer, in Next()
  std::condition_variable push_cv_;  // readers with too many batches in flight
  std::condition_variable work_cv_;  // tokenizer threads without work
  // Per position in order_: its batches not yet taken, and whether its
  // reader is done with it. Next() drains positions in order.
  std::vector<std::deque<std::shared_ptr<Batch>>> per_file_;
  std::vector<uint8_t> file_done_;
  size_t current_ = 0;
  std::vector<int> in_flight_;  // per reader: batches pushed and not yet taken
  int total_in_flight_ = 0;
  int max_in_flight_ = 64;
  int max_in_flight_per_reader_ = 64;  // the reader of the file Next() is on: past the common bound
  bool read_ahead_set_ = false;        // by set_read_ahead()
  std::vector<uint32_t> per_file_pushed_;  // batches pushed per position, for Batch::order
  int readers_ = 1;
  int readers_running_ = 0;
  std::vector<std::shared_ptr<Batch>> work_;  // a heap: the earliest batch first
  bool stop_ = false;
  std::vector<std::thread> reader_threads_;
  std::map<std::string, uint32_t, std::less<>> weighted_ids_;
  std::vector<std::thread> workers_;
  std::shared_ptr<BatchPool> pool_ = std::make_shared<BatchPool>();
  std::atomic<int64_t> reader_busy_ns_{0};
  std::atomic<int64_t> tokenize_ns_{0};
  std::atomic<int64_t> tokenize_cpu_ns_{0};
  std::atomic<int64_t> next_wait_ns_{0};
  std::atomic<int64_t> reader_wait_ns_{0};
  std::atomic<uint64_t> tokens_tokenized_{0};
  std::atomic<uint64_t> documents_tokenized_{0};
};

}  // namespace lcde
