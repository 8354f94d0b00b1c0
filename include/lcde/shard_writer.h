// Stage 4: write packed chunks as shards a GPU trainer memory-maps.
// A shard NAME is three files (docs/FORMAT.md specifies every byte):
//   NAME.bin  chunk tokens, little-endian uint16 or int32, chunk after chunk
//   NAME.idx  a Megatron-LM indexed-dataset index, one sequence per chunk
//   NAME.seg  one fixed-width Segment record per document piece in a chunk
// Files are written under a temporary name and renamed only by Finish(), so
// the output directory never holds a shard that looks complete and is not.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lcde/status.h"

namespace lcde {

// On-disk token width. Codes are Megatron-LM's dtype codes.
enum class TokenDtype : uint8_t { kUint16 = 8, kInt32 = 4 };
// uint16 when every id fits with margin (vocabulary under 65500), else int32.
TokenDtype DtypeForVocab(int vocab_size);
size_t DtypeBytes(TokenDtype dtype);

// One piece of a document inside a chunk. 40 bytes, little-endian, no padding:
// numpy dtype [('chunk','<u4'),('start','<u4'),('length','<u4'),('source','<u4'),
//              ('document','<u8'),('doc_offset','<u8'),('doc_tokens','<u8')].
struct Segment {
  uint32_t chunk = 0;       // chunk index within its shard
  uint32_t start = 0;       // first token of the piece within the chunk
  uint32_t length = 0;      // tokens in the piece
  uint32_t source = 0;      // index into the manifest's `sources` table
  uint64_t document = 0;    // (input file index << 32) | 1-based line number
  uint64_t doc_offset = 0;  // the piece's first token's offset within its document
  uint64_t doc_tokens = 0;  // the document's total tokens (BOS/EOS included)
};
static_assert(sizeof(Segment) == 40, "Segment is an on-disk record");

inline constexpr char kSegMagic[8] = {'L', 'C', 'D', 'E', 'S', 'E', 'G', '\0'};
inline constexpr uint32_t kSegVersion = 1;
inline constexpr size_t kSegHeaderBytes = 16;  // magic, u32 version, u32 record size

// The fields of a .seg header. Readers decide which versions they accept.
struct SegHeader {
  uint32_t version = 0;
  uint32_t record_size = 0;
};
// Decodes the first kSegHeaderBytes of a .seg file; kCorruption naming
// `path` when they are short or do not start with kSegMagic.
Result<SegHeader> DecodeSegHeader(std::string_view header, const std::string& path);

struct ShardInfo {
  std::string name;            // e.g. "part-00000"
  uint64_t chunks = 0;
  uint64_t tokens = 0;
  uint64_t segments = 0;
  uint64_t bin_bytes = 0, idx_bytes = 0, seg_bytes = 0;
  std::string bin_sha256, idx_sha256, seg_sha256;  // lowercase hex of each final file
};

// Builds one shard. Add chunks, then Finish() or Abandon().
class ShardBuilder {
 public:
  // Creates NAME.bin.tmp etc. in `dir` (which must exist).
  static Result<std::unique_ptr<ShardBuilder>> Create(const std::string& dir,
                                                      const std::string& name,
                                                      TokenDtype dtype);
  ~ShardBuilder();  // Abandon()s if neither Finish() nor Abandon() ran

  // Appends one chunk. `segments` describe its pieces in order; their
  // `chunk` field is overwritten with this shard's chunk index.
  // REQUIRES: every id fits dtype; segments tile [0, tokens.size()) in order.
  Status AddChunk(std::span<const int32_t> tokens, std::span<const Segment> segments);

  // Writes the index, syncs, renames the three files into place; returns what
  // the manifest records. After an error nothing final is left behind.
  Result<ShardInfo> Finish();
  // Removes the temporary files.
  void Abandon();

  uint64_t chunks() const;

 private:
  struct Rep;
  explicit ShardBuilder(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

// Writes `bytes` to `path` through a temporary file and a rename, fsyncing
// both; used for the manifest and any other small file that must appear whole.
Status WriteFileAtomically(const std::string& path, std::string_view bytes);

}  // namespace lcde
