// Stage 4a: concatenate kept documents and cut the stream into fixed-length
// chunks regardless of document boundaries, recording a Segment for every
// piece of a document inside a chunk.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <span>
#include <thread>
#include <vector>

#include "lcde/shard_writer.h"
#include "lcde/stats.h"
#include "lcde/status.h"

namespace lcde {

// Receives finished chunks in order.
class ChunkSink {
 public:
  virtual ~ChunkSink() = default;
  virtual Status WriteChunk(std::span<const int32_t> tokens, std::span<const Segment> segments) = 0;
  // Takes a chunk and leaves both vectors empty. A sink that keeps chunks
  // beyond the call swaps the vectors with empty ones of its own (no copy).
  virtual Status TakeChunk(std::vector<int32_t>* tokens, std::vector<Segment>* segments) {
    Status s = WriteChunk(*tokens, *segments);
    tokens->clear();
    segments->clear();
    return s;
  }
};

class Packer {
 public:
  // REQUIRES: sequence_length > 0; sink outlives the packer.
  Packer(uint64_t sequence_length, ChunkSink* sink);

  // Appends tokens[first_offset:], the leading part of a document of
  // `doc_tokens` tokens (tokens.size() < doc_tokens when the sampler cut it),
  // to the stream. first_offset > 0 continues a document an interrupted build
  // had started.
  Status Add(uint32_t source, uint64_t document_id, uint64_t doc_tokens,
             std::span<const int32_t> tokens, uint64_t first_offset = 0);

  // Appends `piece`, the tokens [doc_offset, doc_offset + piece.size()) of
  // a document of `doc_tokens` tokens (re-packing pieces of another dataset).
  Status AddPiece(uint32_t source, uint64_t document_id, uint64_t doc_tokens, uint64_t doc_offset,
                  std::span<const int32_t> piece);

  // Ends the stream: the trailing partial chunk is written as a shorter
  // sequence when keep_partial, else dropped and counted.
  Status Finish(bool keep_partial);

  uint64_t chunks_written() const { return chunks_written_; }
  uint64_t tokens_written() const { return tokens_written_; }
  uint64_t dropped_tail_tokens() const { return dropped_tail_tokens_; }
  // Tokens appended so far: written chunks plus the chunk being filled.
  uint64_t stream_tokens() const { return tokens_written_ + chunk_.size(); }
  // Tokens of the document being added that are already in finished chunks
  // (what a checkpoint taken while a chunk is written must remember).
  uint64_t current_document_emitted() const { return current_emitted_; }

  // Continues a stream that an interrupted build left at a chunk boundary.
  void Restore(uint64_t chunks_written, uint64_t tokens_written) {
    chunks_written_ = chunks_written;
    tokens_written_ = tokens_written;
  }

 private:
  Status Flush();

  uint64_t sequence_length_;
  ChunkSink* sink_;
  std::vector<int32_t> chunk_;
  std::vector<Segment> segments_;
  uint64_t chunks_written_ = 0;
  uint64_t tokens_written_ = 0;
  uint64_t dropped_tail_tokens_ = 0;
  uint64_t current_emitted_ = 0;
};

// A ChunkSink that writes shards NAME = part-00000, part-00001, ... of
// `chunks_per_shard` chunks each into `dir`.
//
// Writing (dtype conversion, checksums, write(2), fsync) runs on a thread of
// its own, a few chunks behind the caller, so the single thread that packs
// the stream never waits for the disk. An error there comes back from a
// later TakeChunk()/WriteChunk() or from Finish().
class DatasetWriter : public ChunkSink {
 public:
  // Checkpointing: when a chunk completes a shard, OnShardEnd runs on the
  // caller's thread, where the stream stands exactly at that chunk's end,
  // and returns a ShardDone; that runs on the writing thread once the shard
  // is renamed into place, with every shard finished so far.
  using ShardDone = std::function<Status(const std::vector<ShardInfo>& shards)>;
  using OnShardEnd = std::function<ShardDone()>;

  DatasetWriter(std::string dir, TokenDtype dtype, uint64_t chunks_per_shard);
  // REQUIRES: before the first chunk.
  void set_on_shard_end(OnShardEnd callback) { on_shard_end_ = std::move(callback); }
  // Continues after shards an interrupted build finished.
  // REQUIRES: before the first chunk.
  void Restore(std::vector<ShardInfo> shards) { shards_ = std::move(shards); }
  // Counts every chunk written into `stats` (on the writing thread; read it
  // after Finish()). REQUIRES: before the first chunk; stats outlives the writer.
  void set_stats(StatsAccumulator* stats) { stats_ = stats; }
  ~DatasetWriter() override;  // Abandon()s an unfinished shard

  Status WriteChunk(std::span<const int32_t> tokens, std::span<const Segment> segments) override;
  Status TakeChunk(std::vector<int32_t>* tokens, std::vector<Segment>* segments) override;
  // Writes what is queued and finishes the shard in progress.
  Status Finish();
  // Stops writing and removes the shard in progress (finished shards stay).
  void Abandon();

  // REQUIRES: Finish() or Abandon() returned (the writing thread is idle).
  const std::vector<ShardInfo>& shards() const { return shards_; }
  // Seconds the writing thread spent writing, and the caller spent waiting
  // for room in the queue (for --stats). Same REQUIRES.
  double write_seconds() const { return write_ns_ / 1e9; }
  double wait_seconds() const { return wait_ns_ / 1e9; }
  static std::string ShardName(size_t index);

 private:
  struct Job {
    std::vector<int32_t> tokens;
    std::vector<Segment> segments;
    ShardDone done;  // set on a shard's last chunk (or the final partial shard)
    bool ends_shard = false;
  };
  // Queues a job; blocks while the queue is full. Returns the sticky error.
  Status Enqueue(Job job);
  void WriteLoop();
  Status WriteJob(Job& job);
  // Joins the writing thread after it drained the queue.
  Status Drain();

  std::string dir_;
  TokenDtype dtype_;
  uint64_t chunks_per_shard_;
  uint64_t queued_in_shard_ = 0;  // chunks handed over for the shard in progress (caller's view)
  OnShardEnd on_shard_end_;
  StatsAccumulator* stats_ = nullptr;

  // Shared with the writing thread.
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::vector<std::pair<std::vector<int32_t>, std::vector<Segment>>> spare_;  // recycled buffers
  Status error_;
  bool closing_ = false;
  std::thread thread_;

  // Owned by the writing thread while it runs.
  std::unique_ptr<ShardBuilder> current_;
  int64_t write_ns_ = 0;
  int64_t wait_ns_ = 0;  // the caller's
  std::vector<ShardInfo> shards_;
};

}  // namespace lcde
