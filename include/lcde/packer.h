// Stage 4a: concatenate kept documents and cut the stream into fixed-length
// chunks regardless of document boundaries, recording a Segment for every
// piece of a document inside a chunk.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <span>
#include <vector>

#include "lcde/shard_writer.h"
#include "lcde/status.h"

namespace lcde {

// Receives finished chunks in order.
class ChunkSink {
 public:
  virtual ~ChunkSink() = default;
  virtual Status WriteChunk(std::span<const int32_t> tokens, std::span<const Segment> segments) = 0;
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
class DatasetWriter : public ChunkSink {
 public:
  // Called after each shard is complete and renamed into place.
  using ShardDone = std::function<Status(const ShardInfo&)>;

  DatasetWriter(std::string dir, TokenDtype dtype, uint64_t chunks_per_shard);
  void set_on_shard_done(ShardDone callback) { on_shard_done_ = std::move(callback); }
  // Continues after shards an interrupted build finished.
  void Restore(std::vector<ShardInfo> shards) { shards_ = std::move(shards); }
  ~DatasetWriter() override;  // Abandon()s an unfinished shard

  Status WriteChunk(std::span<const int32_t> tokens, std::span<const Segment> segments) override;
  // Finishes the shard in progress; shards() then lists every shard.
  Status Finish();
  // Removes the shard in progress (finished shards stay).
  void Abandon();

  const std::vector<ShardInfo>& shards() const { return shards_; }
  static std::string ShardName(size_t index);

 private:
  std::string dir_;
  TokenDtype dtype_;
  uint64_t chunks_per_shard_;
  std::unique_ptr<ShardBuilder> current_;
  std::vector<ShardInfo> shards_;
  ShardDone on_shard_done_;
};

}  // namespace lcde
