// Stage 3b: the further appearances of repeated documents (UltraLong-style
// up-sampling, mixture.max_repeats), held until the stream has moved on.
//
// A copy may start once `spacing` tokens of other material followed the end
// of the document's previous appearance. With spacing = the sequence length,
// no chunk holds two appearances of one document: the model must not be able
// to learn a document by copying it from earlier in the same context.
// Copies wait in the order they fall due (ties: the order documents were
// scheduled), and enter between documents, never inside one.
//
// Memory: the queue keeps the tokens of each document with copies left,
// once, until its last copy is out.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "lcde/packer.h"
#include "lcde/status.h"

namespace lcde {

class RepeatQueue {
 public:
  // REQUIRES: spacing > 0.
  explicit RepeatQueue(uint64_t spacing) : spacing_(spacing) {}

  // Schedules `count` copies of a document whose appearance `tokens` ends at
  // stream position `ends_at`; the last copy holds only `last_tokens` tokens.
  // REQUIRES: count > 0; 0 < last_tokens <= tokens.size().
  void Schedule(uint32_t source, uint64_t document, std::span<const int32_t> tokens, uint32_t count,
                uint64_t last_tokens, uint64_t ends_at);

  // Appends to `packer` every copy due at its current stream position,
  // including copies that fall due because earlier ones were appended.
  Status EmitDue(Packer* packer) { return Emit(packer, false); }
  // Appends every copy left, due or not (the stream is ending), in the
  // order they fall due.
  Status EmitAll(Packer* packer) { return Emit(packer, true); }
  // Copies EmitAll appended before they were due (a resumed build included).
  uint64_t early_copies() const { return early_; }

  bool empty() const { return items_.empty(); }
  uint64_t pending_copies() const;
  uint64_t pending_tokens() const;  // tokens held in memory

  // A checkpoint taken while a copy is being appended (from the packer's
  // shard callback): `in_flight_emitted` is how many of its tokens are
  // already in finished chunks. Token ids go to *tokens (int32, in item
  // order), the rest to the returned JSON.
  nlohmann::json Save(uint64_t in_flight_emitted, std::vector<int32_t>* tokens) const;
  // Puts back what Save() recorded. kCorruption when it does not fit.
  Status Restore(const nlohmann::json& saved, std::span<const int32_t> tokens);
  // Whether a copy is being appended right now.
  bool in_flight() const { return in_flight_ >= 0; }

 private:
  struct Item {
    uint32_t source = 0;
    uint64_t document = 0;
    std::vector<int32_t> tokens;  // the whole document
    uint32_t copies_left = 0;
    uint64_t last_tokens = 0;  // length of the final copy
    uint64_t due = 0;          // stream position at which the next copy may start
    uint64_t order = 0;        // scheduling order, breaks ties in `due`
    uint64_t emitted = 0;      // tokens of the next copy already out (after a resume)
  };
  Status Emit(Packer* packer, bool all);

  uint64_t spacing_;
  uint64_t next_order_ = 0;
  uint64_t early_ = 0;
  int64_t in_flight_ = -1;  // index into items_ while a copy is being appended
  std::vector<Item> items_;  // few: a linear scan finds the next copy
};

}  // namespace lcde
