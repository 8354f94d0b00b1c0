// One `lcde build`, step by step (internal to build/). RunBuild (build.h)
// runs the steps in the order they are declared:
//
//   Plan            inputs, tokenizer, this build's (or task's) token budget
//   OpenOutput      a fresh output dir, or the state a checkpoint left there
//   HoldOutValidation
//   Stream          Pipeline -> ConsumeDocument (Sampler) -> Interleaver
//                   -> EmitPiece (Packer, RepeatQueue) -> DatasetWriter
//   FinishStream    queued documents and copies out, last shard written
//   Conclude        manifest.json, checkpoint files removed, summary
//
// A checkpoint is taken after every shard (build_checkpoint.cc).
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "build/checkpoint.h"
#include "lcde/build.h"
#include "lcde/config.h"
#include "lcde/interleaver.h"
#include "lcde/packer.h"
#include "lcde/pipeline.h"
#include "lcde/progress.h"
#include "lcde/repeat_queue.h"
#include "lcde/sampler.h"
#include "lcde/stats.h"
#include "lcde/tokenizer.h"

namespace lcde {

// The build configuration as recorded in manifests and fingerprints.
nlohmann::json ConfigJson(const Config& config);

// Makes InterruptSignal() return `sig`, as if the signal had arrived.
void RequestInterrupt(int sig);

// Refuses to mix a new dataset into an old one; with `replace`, removes the
// old one first (manifest first, so an interrupted removal never leaves a
// manifest describing shards that are gone), except the files in `keep`.
// Temporary files of a crashed build are always removed.
Status PrepareOutputDir(const std::string& dir, bool replace, const std::vector<std::string>& keep = {});

class BuildRun {
 public:
  BuildRun(const Config& config, const BuildOptions& options);

  Status Plan();
  // *complete: the directory already holds the finished dataset (--resume).
  Status OpenOutput(bool* complete);
  Status HoldOutValidation();
  Status Stream();
  Status FinishStream();
  // After a failed step: the shard in progress goes; finished shards and
  // their checkpoint stay for --resume.
  Status Abandon(Status why);
  Status Conclude();

 private:
  // build_run.cc
  Status ConsumeBatch(const Batch& batch);
  Status ConsumeDocument(const Batch& batch, const Entry& entry);
  Status Release();
  Status EmitPiece(const QueuedDocument& doc, uint64_t until, bool resumed);
  uint32_t QueueOf(uint32_t source);
  std::vector<uint64_t> QueueBudgets() const;
  void ReportStageTimes();
  std::string TokenizerWorkReport() const;
  // build_checkpoint.cc
  Status Resume(const nlohmann::json& checkpoint);
  void InstallCheckpointing();
  DatasetWriter::ShardDone TakeCheckpoint();
  Status RemoveCheckpointFiles();
  // build_manifest.cc
  Result<nlohmann::json> Manifest();
  // The manifest's `sources`; fills sampling's per_source, shortfall and
  // long_token_fraction on the way.
  nlohmann::json SourcesJson(nlohmann::json* sampling);

  Config config_;  // its tokenizer part resolved against the model
  const BuildOptions options_;
  StageTimes times_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  bool is_task_ = false;
  std::string dir_;
  std::string fingerprint_;

  InputFiles inputs_;
  std::vector<uint32_t> order_;  // indices into inputs_ this build reads
  std::unique_ptr<Tokenizer> tokenizer_;
  uint64_t seq_ = 0;    // tokens per chunk
  uint64_t total_ = 0;  // tokens this build writes
  TokenDtype dtype_ = TokenDtype::kUint16;

  std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<DatasetWriter> writer_;
  std::unique_ptr<Packer> packer_;
  std::unique_ptr<RepeatQueue> repeats_;
  std::unique_ptr<Interleaver> interleaver_;
  std::unique_ptr<StatsAccumulator> stats_;  // counted as chunks are written
  std::unique_ptr<BuildState> state_;
  std::vector<int> queue_of_;  // per sampler source id: its interleaver queue, or -1 while unknown
  std::vector<uint64_t> held_out_;  // sorted ids of validation documents
  ReadStart start_;
  bool input_ended_ = false;
  double consume_seconds_ = 0;
  // Tokens of the documents this process consumed, by what became of them
  // (--stats: how much tokenizing the sampler wasted), and the documents it
  // decided on without tokenizing them.
  struct TokenizerWork {
    uint64_t kept = 0, dropped_short = 0, dropped_budget = 0, other = 0;
    uint64_t untokenized_documents = 0;
  } work_;
  std::unique_ptr<Progress> progress_;
  // Touched by the writing thread only: files of the last checkpoint written.
  std::vector<std::string> checkpoint_files_;
};

}  // namespace lcde
