#include "lcde/sampler.h"

#include <algorithm>
#include <cmath>

namespace lcde {

namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

Sampler::Sampler(const MixtureConfig& config, uint64_t seed, uint64_t total_tokens)
    : config_(config), seed_(seed), total_budget_(total_tokens) {
  double sum = 0;
  for (const auto& [name, w] : config.weights) sum += w;
  // Largest-remainder split so the budgets add up to the total exactly.
  std::vector<uint64_t> budgets;
  std::vector<std::pair<double, uint32_t>> remainders;
  uint64_t assigned = 0;
  for (const auto& [name, w] : config.weights) {
    uint32_t id = static_cast<uint32_t>(names_.size());
    names_.push_back(name);
    ids_.emplace(name, id);
    double share = w / sum;
    shares_.push_back(share);
    double exact = share * static_cast<double>(total_tokens);
    uint64_t floor_part = static_cast<uint64_t>(std::floor(exact));
    budgets.push_back(floor_part);
    remainders.emplace_back(exact - static_cast<double>(floor_part), id);
    assigned += floor_part;
    upsampled_.push_back(std::find(config.upsample.begin(), config.upsample.end(), name) !=
                         config.upsample.end());
  }
  weighted_ = static_cast<uint32_t>(names_.size());
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; assigned < total_tokens && i < remainders.size(); ++i, ++assigned) {
    budgets[remainders[i].second]++;
  }
  counts_.resize(weighted_);
  for (uint32_t i = 0; i < weighted_; ++i) counts_[i].budget_tokens = budgets[i];
  if (config.strategy == Strategy::kGlobal) {
    open_budgets_ = total_budget_ > 0 ? 1 : 0;
  } else {
    for (uint32_t i = 0; i < weighted_; ++i) open_budgets_ += budgets[i] > 0 ? 1 : 0;
  }
}

uint32_t Sampler::SourceId(std::string_view name) {
  auto it = ids_.find(name);
  if (it != ids_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(names_.size());
  names_.emplace_back(name);
  ids_.emplace(std::string(name), id);
  counts_.emplace_back();
  return id;
}

bool Sampler::SubjectToKeepRatio(uint32_t source) const {
  switch (config_.strategy) {
    case Strategy::kNone: return false;
    case Strategy::kGlobal:
    case Strategy::kPerSource: return true;
    case Strategy::kUpsampleSources: return source < weighted_ && upsampled_[source];
  }
  return false;
}

bool Sampler::ShortDocumentSurvives(uint64_t document_id) const {
  // 53 random bits -> [0, 1): the same draw on every platform.
  uint64_t h = SplitMix64(SplitMix64(seed_) ^ document_id);
  double u = static_cast<double>(h >> 11) * 0x1.0p-53;
  return u < config_.short_keep_ratio;
}

bool Sampler::SourceFull(uint32_t source) const {
  if (source >= weighted_) return true;
  if (config_.strategy == Strategy::kGlobal) return kept_tokens_ >= total_budget_;
  return counts_[source].kept_tokens >= counts_[source].budget_tokens;
}

double Sampler::target_share(uint32_t source) const {
  return source < weighted_ ? shares_[source] : 0.0;
}

Sampler::Decision Sampler::Offer(uint32_t source, uint64_t document_id, uint64_t tokens,
                                 bool known_short, uint64_t* keep_tokens) {
  SourceCounts& c = counts_[source];
  c.seen++;
  if (source >= weighted_) return Decision::kDropUnknownSource;
  if (SourceFull(source)) {
    c.dropped_budget++;
    return Decision::kDropBudget;
  }
  bool is_short = known_short || tokens < config_.length_threshold;
  if (is_short && SubjectToKeepRatio(source) && !ShortDocumentSurvives(document_id)) {
    c.dropped_short++;
    return Decision::kDropShort;
  }
  uint64_t room = config_.strategy == Strategy::kGlobal ? total_budget_ - kept_tokens_
                                                         : c.budget_tokens - c.kept_tokens;
  uint64_t take = std::min(tokens, room);
  if (take < tokens) c.truncated++;
  c.kept++;
  c.kept_tokens += take;
  kept_tokens_ += take;
  if (SourceFull(source)) open_budgets_--;
  *keep_tokens = take;
  return Decision::kKeep;
}

}  // namespace lcde
