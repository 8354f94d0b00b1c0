// Stage 3: decide which documents enter the stream, per the recipe.
//
// Budgets: the build's token total is rounded down to whole chunks and split
// over sources by their weights (largest remainder, so budgets sum exactly).
// Strategy `global` has one budget for all sources instead. A document is kept
// while its budget has room; the document that crosses the budget is cut to
// fit, so every budget is met exactly when the input has enough data.
//
// Draws: whether a short document survives is decided by a hash of (seed,
// document id), never by a shared generator, so decisions do not depend on
// the order threads finish in or on which documents were read before.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "lcde/config.h"

namespace lcde {

// Per-source counters, in documents unless named tokens.
struct SourceCounts {
  uint64_t seen = 0;            // offered to the sampler
  uint64_t kept = 0;            // entered the stream (truncated ones included)
  uint64_t kept_tokens = 0;     // tokens entered (after truncation)
  uint64_t kept_long_tokens = 0;  // of which from documents at or over the threshold
  uint64_t dropped_short = 0;   // short and lost the keep draw
  uint64_t dropped_budget = 0;  // arrived after the budget was full
  uint64_t truncated = 0;       // cut to fit the budget
  uint64_t budget_tokens = 0;   // target tokens (0 for sources without weight)
  uint64_t repeated = 0;        // extra appearances of kept documents (mixture.max_repeats)
  uint64_t repeated_tokens = 0;  // their tokens (also in kept_tokens and kept_long_tokens)
};

// Further appearances of a kept document (up-sampling by repetition): `count`
// copies of the whole document, the last one cut to `last_tokens`.
struct Copies {
  uint32_t count = 0;
  uint64_t last_tokens = 0;
  uint64_t total_tokens(uint64_t doc_tokens) const { return count ? (count - 1) * doc_tokens + last_tokens : 0; }
};

class Sampler {
 public:
  enum class Decision { kKeep, kDropShort, kDropBudget, kDropUnknownSource };

  // REQUIRES: config validated by LoadConfig and outliving the sampler;
  // total_tokens already rounded to what the build will write.
  Sampler(const MixtureConfig& config, uint64_t seed, uint64_t total_tokens);

  // Stable ids: the weighted sources in name order first, then unknown names
  // in order of first appearance. Not thread-safe.
  uint32_t SourceId(std::string_view name);
  const std::vector<std::string>& source_names() const { return names_; }
  bool HasWeight(uint32_t source) const { return source < weighted_; }
  // The weighted source whose budget `source` draws on, or -1 (dropped).
  // A pure function of the name and the config: any thread may ask.
  int BudgetSourceOf(std::string_view name) const;

  // Whether the recipe length-upsamples this source (the strategy's rule).
  bool SubjectToKeepRatio(uint32_t source) const;
  // Whether short documents of this source are thinned by the keep draw
  // (upsampled, and no long_token_fraction replaces the draw).
  bool UsesKeepDraw(uint32_t source) const;
  // The long_token_fraction target of this source, or a negative value.
  double LongFractionTarget(uint32_t source) const;
  // The keep draw alone: true when a short document with this id survives.
  bool ShortDocumentSurvives(uint64_t document_id) const;

  // Whether a kept document of this source with `tokens` tokens is repeated.
  bool Repeats(uint32_t source, uint64_t tokens) const;

  // Decides for a document of `tokens` tokens (or, when known_short, a
  // document certainly under the threshold whose exact length is unknown).
  // On kKeep, *keep_tokens is how many of its leading tokens enter the stream
  // (fewer than tokens when cut to fit), and *copies how many more times it
  // appears; the budget is charged for the copies now.
  // REQUIRES: copies non-null when mixture.max_repeats > 1.
  Decision Offer(uint32_t source, uint64_t document_id, uint64_t tokens, bool known_short,
                 uint64_t* keep_tokens, Copies* copies = nullptr);

  // Every budget is full: reading further cannot change the output.
  bool Done() const { return open_budgets_ == 0; }
  // Whether a document of this source can no longer be kept.
  bool SourceFull(uint32_t source) const;

  const SourceCounts& counts(uint32_t source) const { return counts_[source]; }
  double target_share(uint32_t source) const;
  uint64_t total_budget() const { return total_budget_; }
  uint64_t kept_tokens() const { return kept_tokens_; }

  // Puts back counters saved from an interrupted build (same config).
  // REQUIRES: names begins with this sampler's weighted names, in order.
  void Restore(const std::vector<std::string>& names, const std::vector<SourceCounts>& counts);

 private:
  // Index into budget_/used_ for a source, or -1.
  int BudgetIndex(uint32_t source) const;
  void RecountOpenBudgets();

  const MixtureConfig config_;  // a copy: callers may pass a temporary
  uint64_t seed_;
  uint64_t total_budget_;
  uint64_t kept_tokens_ = 0;
  std::vector<std::string> names_;
  std::map<std::string, uint32_t, std::less<>> ids_;
  // Fixed after construction, read by any thread: weighted names, and the
  // budget documents of unknown sources use (mixture.unknown_sources).
  std::map<std::string, uint32_t, std::less<>> weighted_ids_;
  int unknown_budget_ = -1;
  std::vector<double> shares_;  // normalized weights of the weighted sources
  std::vector<bool> upsampled_;
  std::vector<SourceCounts> counts_;
  std::vector<int> budget_source_;  // per source: weighted source whose budget it uses, or -1
  std::vector<uint64_t> budget_, used_;  // per budget (one per weighted source, or one for global)
  // With long_token_fraction, each budget splits into a long and a short part.
  std::vector<uint64_t> long_cap_, used_long_;
  uint32_t weighted_ = 0;
  int open_budgets_ = 0;
};

}  // namespace lcde
