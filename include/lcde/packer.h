// Stage 4a: concatenate kept documents and cut the stream into fixed-length
// chunks regardless of document boundaries, recording a Segment for every
// piece of a document inside a chunk.
#pragma once

#include <cstdint>
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

  // Appends `tokens`, the leading part of a document of `doc_tokens` tokens
  // (tokens.size() < doc_tokens when the sampler cut it), to the stream.
  Status Add(uint32_t source, uint64_t document_id, uint64_t doc_tokens,
             std::span<const int32_t> tokens);

  // Ends the stream: the trailing partial chunk is written as a shorter
  // sequence when keep_partial, else dropped and counted.
  Status Finish(bool keep_partial);

  uint64_t chunks_written() const { return chunks_written_; }
  uint64_t tokens_written() const { return tokens_written_; }
  uint64_t dropped_tail_tokens() const { return dropped_tail_tokens_; }

 private:
  Status Flush();

  uint64_t sequence_length_;
  ChunkSink* sink_;
  std::vector<int32_t> chunk_;
  std::vector<Segment> segments_;
  uint64_t chunks_written_ = 0;
  uint64_t tokens_written_ = 0;
  uint64_t dropped_tail_tokens_ = 0;
};

// A ChunkSink that writes shards NAME = part-00000, part-00001, ... of
// `chunks_per_shard` chunks each into `dir`.
class DatasetWriter : public ChunkSink {
 public:
  DatasetWriter(std::string dir, TokenDtype dtype, uint64_t chunks_per_shard);
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
};

}  // namespace lcde
