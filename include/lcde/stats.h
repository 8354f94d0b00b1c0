// `lcde stats`: what a dataset holds, computed from its segment files (the
// ground truth of every token's origin) plus the manifest's reading figures.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "lcde/shard_writer.h"
#include "lcde/status.h"

namespace lcde {

// Upper edges (exclusive) of the document length buckets, in tokens:
// 0-4K, 4K-8K, 8K-16K, 16K-32K, 32K-64K, 64K-128K, 128K+.
inline constexpr std::array<uint64_t, 6> kLengthBucketEdges = {4096,  8192,  16384,
                                                               32768, 65536, 131072};
inline constexpr size_t kLengthBuckets = kLengthBucketEdges.size() + 1;
const char* LengthBucketName(size_t bucket);
size_t LengthBucket(uint64_t doc_tokens);
// a / b, or 0 when b is 0: the shares stats and scan report.
double Ratio(uint64_t a, uint64_t b);

// The mixture along the dataset: its chunks split into this many equal
// windows, first to last (chunk i is in window i * kMixtureWindows / chunks).
inline constexpr size_t kMixtureWindows = 10;

// Documents (segments) per chunk, counted in buckets of powers of two:
// 1, 2-3, 4-7, ..., 512+. Fixed edges, so datasets compare bucket by bucket.
inline constexpr size_t kDocsPerChunkBuckets = 10;
const char* DocsPerChunkBucketName(size_t bucket);
size_t DocsPerChunkBucket(uint64_t docs);

// The first chunks are kept piece by piece, to show what a training sequence
// is made of (`lcde report`'s strip); later chunks only in totals.
inline constexpr size_t kFirstChunks = 16;

// One document piece of a chunk, in chunk order.
struct ChunkPiece {
  uint32_t source = 0;
  uint32_t tokens = 0;
};

struct SourceStats {
  std::string name;
  uint64_t tokens = 0;
  uint64_t documents = 0;    // document starts in the dataset (each copy of a repeated one counts)
  uint64_t long_tokens = 0;  // tokens of documents at or over the threshold
  std::array<uint64_t, kLengthBuckets> bucket_tokens{};  // by full document length
  double target_share = 0;
  std::array<uint64_t, kMixtureWindows> window_tokens{};

  // What its share in a window is held against: the target, or for a source
  // without one its share of the whole dataset.
  double reference_share(uint64_t dataset_tokens) const;
  // The window whose share is farthest from reference_share (the first of
  // equals; windows without tokens are skipped), and that share.
  size_t worst_window(const struct DatasetStats& dataset) const;
};

struct DatasetStats {
  uint64_t chunks = 0;
  uint64_t tokens = 0;
  uint64_t segments = 0;
  uint64_t sequence_length = 0;
  uint64_t length_threshold = 0;
  int vocab_size = 0;
  std::vector<SourceStats> sources;  // indexed by source id
  std::array<uint64_t, kMixtureWindows> window_tokens{};
  std::array<uint64_t, kMixtureWindows> window_chunks{};
  // Documents (segments) per chunk.
  double docs_per_chunk_mean = 0;
  uint64_t docs_per_chunk_min = 0, docs_per_chunk_median = 0, docs_per_chunk_max = 0;
  std::array<uint64_t, kDocsPerChunkBuckets> docs_per_chunk_histogram{};  // chunks per bucket
  std::vector<std::vector<ChunkPiece>> first_chunks;  // at most kFirstChunks

  uint64_t long_tokens() const;
  std::array<uint64_t, kLengthBuckets> bucket_tokens() const;
  // A source's share of window w's tokens (0 for an empty window).
  double WindowShare(const SourceStats& source, size_t w) const;
};

// Counts a dataset's figures from its segment records, chunk by chunk in
// dataset order: `lcde build` feeds it as it writes, ComputeStats from the
// .seg files. One counting code for both.
class StatsAccumulator {
 public:
  // Documents of at least `length_threshold` tokens count as long.
  explicit StatsAccumulator(uint64_t length_threshold) : length_threshold_(length_threshold) {}

  // REQUIRES: chunks added in order, `chunk` = the dataset-wide chunk index,
  // segments sorted as in a .seg file.
  void AddChunk(uint64_t chunk, std::span<const Segment> segments);
  // Reads a .seg file whose first chunk is dataset-wide chunk `first_chunk`
  // and which holds `chunks` chunks. kCorruption names the file when a
  // record points outside them; `sources` bounds the source ids.
  Status AddSegmentFile(const std::string& path, uint64_t first_chunk, uint64_t chunks, size_t sources);
  uint64_t chunks() const { return chunk_sources_.size(); }

  // The figures; names, targets, sequence_length and vocab_size from the
  // manifest (its `sources` table).
  DatasetStats Finish(const nlohmann::json& manifest) const;

 private:
  struct SourceCount {
    uint64_t tokens = 0, documents = 0, long_tokens = 0;
    std::array<uint64_t, kLengthBuckets> bucket_tokens{};
  };
  uint64_t length_threshold_;
  uint64_t segments_ = 0;
  std::vector<SourceCount> sources_;
  std::vector<uint64_t> segments_per_chunk_;
  std::vector<std::vector<ChunkPiece>> first_chunks_;
  // Per chunk, (source, tokens) for each source in it: the windows along
  // the dataset are cut once the chunk count is known.
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> chunk_sources_;
};

// Scans DIR's shards as the manifest lists them.
// Fails with kCorruption naming the file when a segment file is malformed.
Result<DatasetStats> ComputeStats(const std::string& dir, const nlohmann::json& manifest);

// The figures as one JSON object (`lcde stats --json`, and the manifest's
// `stats`): chunks, tokens, sequence_length, vocab_size, long_token_fraction,
// sources.NAME.{tokens, share, target_share, documents, long_token_fraction,
// length_buckets, along_dataset}, along_dataset, docs_per_chunk,
// docs_per_chunk_histogram, first_chunks, and the manifest's input/sampling
// counts. Keys are only ever added (docs/FORMAT.md): `lcde verify` compares
// the keys an older manifest has.
nlohmann::json StatsToJson(const DatasetStats& stats, const nlohmann::json& manifest);

// The manifest's `stats`: StatsToJson less `first_chunks` (the .seg files
// hold the pieces; the manifest keeps the dataset's figures).
nlohmann::json ManifestStatsJson(const DatasetStats& stats);

// The human-readable report.
std::string FormatStats(const DatasetStats& stats, const nlohmann::json& manifest);

}  // namespace lcde
