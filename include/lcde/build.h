// `lcde build`: the whole pipeline, from input files to a finished dataset.
//
//   Pipeline (reader + tokenizer threads) -> batches in input order
//   -> Sampler (keep or drop) -> Interleaver (order across sources)
//   -> Packer (+ RepeatQueue) -> DatasetWriter (shards) -> manifest.json last
//
// After each shard a checkpoint (checkpoint.json) records everything needed
// to continue: `--resume` after a crash, a kill or a full disk gives the same
// bytes as an uninterrupted build.
#pragma once

#include <string>

#include "lcde/config.h"
#include "lcde/status.h"

namespace lcde {

struct BuildOptions {
  int threads = 0;            // tokenizer threads; 0 = ResolveThreads(0) (pipeline.h)
  bool force = false;         // replace an existing dataset in output.dir
  bool resume = false;        // continue from output.dir's checkpoint
  bool strict = false;        // any rejected input line stops the build (kDataError)
  bool print_stages = false;  // --stats: time per stage on stderr
  bool progress = true;       // progress lines on stderr (off with --quiet)
  // A SLURM array task: builds files[j] for j % num_tasks == task_index and
  // its share of the budget into output.dir/tasks/TASK_DIR; `lcde merge`
  // joins the parts.
  int task_index = 0;
  int num_tasks = 1;
  // For tests (hidden --stop-after-shards): acts as if SIGTERM arrived right
  // after the checkpoint of this many shards; 0 = never. Lets a test resume
  // from every checkpoint of a build, deterministically.
  uint64_t stop_after_shards = 0;
  // For tests (hidden --read-ahead-batches): batches read and not yet
  // consumed, all readers together; 0 = the default (Pipeline).
  int read_ahead_batches = 0;
  // For benchmarks (hidden --readers): reader threads; 0 = the default (Pipeline).
  int readers = 0;
  // For tests (hidden --interleave-memory-tokens): tokens the interleaver
  // holds in memory before spilling queues to disk.
  uint64_t interleave_memory_tokens = 16ull << 20;
};

// "tasks/00002-of-00004": where task 2 of 4 writes, under output.dir.
std::string TaskDirName(int task_index, int num_tasks);

inline constexpr const char* kCheckpointName = "checkpoint.json";
// checkpoint.repeats.NNNNN: token ids of the documents whose repeated copies
// were pending at the checkpoint after NNNNN shards (int32 little-endian;
// checkpoint.json names the file and records its layout).
inline constexpr const char* kCheckpointRepeatsPrefix = "checkpoint.repeats.";
// checkpoint.queues.NNNNN: the documents the interleaver held in memory
// (interleaver.h) at the checkpoint after NNNNN shards.
inline constexpr const char* kCheckpointQueuesPrefix = "checkpoint.queues.";

// Runs the build described by `config`. Progress goes to stderr; the
// dataset's summary line to stdout.
// Returns kInterrupted when SIGINT/SIGTERM arrived (see InterruptSignal());
// the shard in progress is discarded and the checkpoint kept.
Status RunBuild(const Config& config, const BuildOptions& options);

// Makes SIGINT and SIGTERM ask a running build to stop (a second one kills).
void InstallInterruptHandlers();
// The signal that interrupted the build, or 0.
int InterruptSignal();

}  // namespace lcde
