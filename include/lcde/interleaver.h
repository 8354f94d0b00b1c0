// Stage 3c: the order in which kept documents enter the stream.
//
// The sampler decides which documents are kept, in input order. Sources fill
// their budgets at different rates, so in that order a dataset's first
// stretch over-represents the sources frequent in the input and its last one
// is made of whichever sources filled last. The interleaver holds kept
// documents in one FIFO queue per budget and releases them piece by piece so
// that every budget is used at the same pace.
//
// A piece is the head document's next tokens up to the end of the chunk
// being filled (`room`): an emission never crosses a chunk boundary. A
// document that fits goes whole; a longer one (a 120K-token book in 80K
// chunks) goes as chunk-aligned pieces, and between two of them other
// sources may take their turn. Each chunk is still a run of contiguous
// pieces of documents, as with plain packing; only which piece follows a
// cut changes. Next comes the queue whose next piece has its middle
// earliest in its budget: the smallest
//
//     (tokens released + half the next piece) / budget      (ties: lower queue)
//
// When that queue is empty and may still grow (its source can keep more
// documents), the interleaver waits for more input and holds the others; a
// queue that is empty and cannot grow leaves the rotation. Any stretch of the
// stream then holds each budget's share up to about one chunk of it.
// With one queue this is plain packing in input order.
//
// Within a queue documents keep their input order.
//
// Memory: queued tokens are held in memory up to a bound; beyond it the
// queue holding most moves to a spill file in the build's directory
// (`interleave-queue.QQQ.GGGGGG`: internal records, a 56-byte header and
// the ids), read back in order, removed once drained and checkpointed.
// Pushing to a queue with spilled documents appends to its file, so memory
// only ever holds documents older than the file's.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "lcde/sampler.h"
#include "lcde/status.h"

namespace lcde {

inline constexpr const char* kSpillFilePrefix = "interleave-queue.";

// A kept document waiting for its turn.
struct QueuedDocument {
  uint32_t source = 0;      // the sampler's source id (unknown sources share a weighted budget's queue)
  uint64_t id = 0;          // Entry::Id()
  uint64_t doc_tokens = 0;  // the document's full length
  uint64_t take = 0;        // its leading tokens that enter the stream
  Copies copies;            // further appearances, scheduled with its last piece; then `tokens` holds the whole document
  uint64_t emitted = 0;     // tokens of it already released
  std::vector<int32_t> tokens;
};

class Interleaver {
 public:
  // One queue per entry of `budgets` (tokens; 0 = never released); a single
  // queue is a plain FIFO. Spill files go to `spill_dir`.
  // REQUIRES: !budgets.empty(); memory_tokens > 0.
  Interleaver(std::vector<uint64_t> budgets, std::string spill_dir, uint64_t memory_tokens);
  ~Interleaver();
  Interleaver(const Interleaver&) = delete;
  Interleaver& operator=(const Interleaver&) = delete;

  // Queues a kept document. `tokens` is what QueuedDocument::tokens holds.
  // Fails only when a spill file cannot be written.
  Status Push(uint32_t queue, uint32_t source, uint64_t id, uint64_t doc_tokens, uint64_t take, Copies copies,
              std::span<const int32_t> tokens);

  // Hands pieces to `emit`, in the interleaved order, until the next one
  // must wait for input or none is left. `room()`: tokens left in the chunk
  // being filled (1 to the sequence length). `may_grow(queue)`: whether the
  // queue can still receive documents (false for all once the input ended).
  // `emit(doc, until, resumed)` appends doc.tokens[doc.emitted, until); when
  // until == doc.take it is the last piece and the document's copies are
  // due, unless `resumed` (a checkpoint was taken inside this very call in
  // an earlier run, so they are scheduled already).
  using Emit = std::function<Status(const QueuedDocument& doc, uint64_t until, bool resumed)>;
  using MayGrow = std::function<bool(uint32_t queue)>;
  using Room = std::function<uint64_t()>;
  Status Release(const MayGrow& may_grow, const Room& room, const Emit& emit);

  bool empty() const;
  uint64_t memory_tokens() const { return memory_tokens_; }
  // Tokens written to spill files over the build (a resumed one: since the resume).
  uint64_t spilled_tokens() const { return spilled_tokens_; }
  size_t queues() const { return budgets_.size(); }

  // For a checkpoint taken inside `emit`, where the first `in_flight_emitted`
  // tokens of the document in flight are in finished chunks (UINT64_MAX: the
  // whole piece). Spill files are synced;
  // documents held in memory (and the one in flight) go to *records in the
  // spill record layout; the rest to the returned JSON.
  Result<nlohmann::json> Save(uint64_t in_flight_emitted, std::string* records);
  // Spill files drained since the last call: the checkpoint being written no
  // longer needs them (delete them once it is in place).
  std::vector<std::string> TakeDrainedFiles();
  // Every spill file a saved state refers to (kept on resume).
  static std::vector<std::string> FilesOf(const nlohmann::json& saved);
  // Puts back what Save() recorded; its spill files are cut back to what it
  // recorded. REQUIRES: a fresh interleaver with the same budgets.
  Status Restore(const nlohmann::json& saved, std::string_view records);
  // Removes every spill file (the build is over).
  void RemoveFiles();

 private:
  struct Queue;
  Status Spill();
  Status SpillLargest(bool* spilled);
  Status Pop(uint32_t queue, QueuedDocument* doc);
  Status PeekHead(uint32_t queue);
  uint64_t NextCharge(uint32_t queue, uint64_t room) const;
  bool Before(uint32_t a, uint32_t b, uint64_t room) const;
  // Emits in_flight_ up to in_flight_until_ and puts back what is left of it.
  Status EmitInFlight(const Emit& emit, bool resumed);

  std::vector<uint64_t> budgets_;
  std::string dir_;
  uint64_t memory_limit_;
  std::vector<Queue> queues_;
  uint64_t memory_tokens_ = 0;
  uint64_t spilled_tokens_ = 0;
  bool has_in_flight_ = false;
  QueuedDocument in_flight_;  // being emitted, or restored to be emitted first
  uint32_t in_flight_queue_ = 0;
  uint64_t in_flight_until_ = 0;
  std::vector<std::string> drained_;
};

}  // namespace lcde
