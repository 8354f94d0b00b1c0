// `lcde inspect`: what one chunk of a dataset is made of. Lists the chunk's
// pieces (its .seg records) with their provenance, resolved through the
// manifest: source name, input file and line, offset in the document, and
// optionally the decoded text of each piece.
//
// Reads only what the chunk needs: the .idx entry of the chunk (pread), its
// .seg records (binary search over the sorted records, pread) and, to
// decode, the chunk's tokens from the .bin (pread of exactly that range).
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lcde/status.h"

namespace lcde {

// Where a piece lies in its document.
enum class PiecePart {
  kWhole,   // the whole document: doc_offset 0 and it ends at doc_tokens
  kStart,   // the document's beginning; it continues in the next chunk
  kMiddle,  // neither end of the document
  kEnd,     // the document's end; it began in an earlier chunk
};
// "whole", "start", "middle", "end".
const char* PiecePartName(PiecePart part);
// A document cut to fit its budget ends before doc_tokens: its last piece is
// kStart or kMiddle, as the document goes on past it.
PiecePart PiecePartOf(uint64_t doc_offset, uint64_t length, uint64_t doc_tokens);

struct InspectedPiece {
  // The .seg record.
  uint32_t start = 0;       // first token within the chunk
  uint32_t length = 0;      // tokens
  uint32_t source_id = 0;   // index into manifest sources
  uint64_t document = 0;    // (input index << 32) | line
  uint64_t doc_offset = 0;
  uint64_t doc_tokens = 0;
  // Resolved through the manifest.
  std::string source;       // sources[source_id].name
  uint32_t input_index = 0; // document >> 32
  std::string file;         // inputs[input_index].path
  uint64_t line = 0;        // document & 0xffffffff, 1-based physical line
  PiecePart part = PiecePart::kWhole;
  // Set only when decoding: the piece's full text (control ids such as BOS
  // dropped, as Tokenizer::Decode does).
  std::optional<std::string> text;
};

struct ChunkInspection {
  uint64_t chunk = 0;           // global index over the manifest's shards
  uint64_t chunks = 0;          // chunks in the dataset
  std::string shard;            // e.g. "part-00001"
  uint64_t chunk_in_shard = 0;
  uint64_t tokens = 0;          // the chunk's length (sequence_lengths in the .idx)
  std::vector<InspectedPiece> pieces;
  // Not fatal, for the caller to show (e.g. the tokenizer model's sha256
  // differs from the manifest's).
  std::vector<std::string> warnings;
};

struct InspectOptions {
  bool decode = false;  // load the manifest's tokenizer and decode each piece
};

// Inspects global chunk `chunk` of the dataset in `dir` (manifest already
// read with ReadManifest). Fails with kInvalidConfig when `chunk` is out of
// range (the message gives the valid range), kNotFound when a shard file or
// (with decode) the tokenizer model is missing, kCorruption naming the file
// when the .idx/.seg/.bin disagree with the format or the manifest.
Result<ChunkInspection> InspectChunk(const std::string& dir, const nlohmann::json& manifest,
                                     uint64_t chunk, const InspectOptions& options = {});

// Text shown for a piece: at most `max_chars` UTF-8 characters (0: no
// limit); *truncated says whether characters were left out. Never splits a
// UTF-8 sequence.
std::string TruncateUtf8(const std::string& text, size_t max_chars, bool* truncated);
// Characters (UTF-8 code points; an invalid byte counts as one).
size_t Utf8Chars(const std::string& text);
// One line of text: backslash, quote and control characters escaped (\n,
// \r, \t, \xNN).
std::string EscapeOneLine(const std::string& text);

// `lcde inspect --json`: {chunk, shard, chunk_in_shard, tokens, pieces:
// [{source, source_id, document, input_index, file, line, start, length,
// doc_offset, doc_tokens, part, text?, text_chars?, text_truncated?}]}.
// text is cut to `max_chars` characters (0: whole), without an ellipsis;
// text_chars is the full text's length in characters.
nlohmann::json InspectionToJson(const ChunkInspection& inspection, size_t max_chars);

// The human-readable listing: a header line, then one line per piece ending
// in file:line, and with text the escaped text cut to `max_chars` with an
// ellipsis, followed by the piece's tokens and characters.
std::string FormatInspection(const ChunkInspection& inspection, size_t max_chars);

}  // namespace lcde
