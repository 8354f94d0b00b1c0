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
    budget_source_.push_back(static_cast<int>(id));
  }
  weighted_ = static_cast<uint32_t>(names_.size());
  weighted_ids_ = ids_;
  if (config.unknown_sources != "drop") {
    auto alias = weighted_ids_.find(config.unknown_sources);
    if (alias != weighted_ids_.end()) unknown_budget_ = static_cast<int>(alias->second);
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; assigned < total_tokens && i < remainders.size(); ++i, ++assigned) {
    budgets[remainders[i].second]++;
  }
  counts_.resize(weighted_);
  for (uint32_t i = 0; i < weighted_; ++i) counts_[i].budget_tokens = budgets[i];
  if (config.strategy == Strategy::kGlobal) {
    budget_ = {total_budget_};
  } else {
    budget_ = budgets;
  }
  used_.assign(budget_.size(), 0);
  used_long_.assign(budget_.size(), 0);
  long_cap_.assign(budget_.size(), UINT64_MAX);
  for (size_t b = 0; b < budget_.size(); ++b) {
    // Under `global` the one budget follows the "*" fraction.
    uint32_t owner = static_cast<uint32_t>(b);
    double f = config.strategy == Strategy::kGlobal
                   ? (config.long_token_fraction.count("*") ? config.long_token_fraction.at("*") : -1.0)
                   : LongFractionTarget(owner);
    if (f >= 0) long_cap_[b] = static_cast<uint64_t>(std::llround(f * static_cast<double>(budget_[b])));
  }
  RecountOpenBudgets();
}

double Sampler::LongFractionTarget(uint32_t source) const {
  if (config_.long_token_fraction.empty() || !SubjectToKeepRatio(source)) return -1;
  int owner = source < budget_source_.size() ? budget_source_[source] : -1;
  if (owner < 0) return -1;
  auto it = config_.long_token_fraction.find(names_[static_cast<size_t>(owner)]);
  if (it != config_.long_token_fraction.end()) return it->second;
  it = config_.long_token_fraction.find("*");
  return it != config_.long_token_fraction.end() ? it->second : -1;
}

bool Sampler::UsesKeepDraw(uint32_t source) const {
  return SubjectToKeepRatio(source) && LongFractionTarget(source) < 0;
}

void Sampler::RecountOpenBudgets() {
  open_budgets_ = 0;
  for (size_t b = 0; b < budget_.size(); ++b) open_budgets_ += used_[b] < budget_[b] ? 1 : 0;
}

int Sampler::BudgetSourceOf(std::string_view name) const {
  auto it = weighted_ids_.find(name);  // no allocation: readers ask for every document
  return it != weighted_ids_.end() ? static_cast<int>(it->second) : unknown_budget_;
}

uint32_t Sampler::SourceId(std::string_view name) {
  auto it = ids_.find(name);
  if (it != ids_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(names_.size());
  names_.emplace_back(name);
  ids_.emplace(std::string(name), id);
  counts_.emplace_back();
  budget_source_.push_back(BudgetSourceOf(name));
  return id;
}

int Sampler::BudgetIndex(uint32_t source) const {
  int owner = budget_source_[source];
  if (owner < 0) return -1;
  return config_.strategy == Strategy::kGlobal ? 0 : owner;
}

bool Sampler::SubjectToKeepRatio(uint32_t source) const {
  switch (config_.strategy) {
    case Strategy::kNone: return false;
    case Strategy::kGlobal:
    case Strategy::kPerSource: return true;
    case Strategy::kUpsampleSources: {
      int owner = source < budget_source_.size() ? budget_source_[source] : -1;
      return owner >= 0 && upsampled_[static_cast<size_t>(owner)];
    }
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
  int b = BudgetIndex(source);
  return b < 0 || used_[static_cast<size_t>(b)] >= budget_[static_cast<size_t>(b)];
}

double Sampler::target_share(uint32_t source) const {
  return source < weighted_ ? shares_[source] : 0.0;
}

bool Sampler::Repeats(uint32_t source, uint64_t tokens) const {
  return config_.max_repeats > 1 && tokens >= config_.repeat_threshold && SubjectToKeepRatio(source);
}

Sampler::Decision Sampler::Offer(uint32_t source, uint64_t document_id, uint64_t tokens,
                                 bool known_short, uint64_t* keep_tokens, Copies* copies) {
  if (copies) *copies = Copies{};
  SourceCounts& c = counts_[source];
  c.seen++;
  int b = BudgetIndex(source);
  if (b < 0) return Decision::kDropUnknownSource;
  if (SourceFull(source)) {
    c.dropped_budget++;
    return Decision::kDropBudget;
  }
  bool is_short = known_short || tokens < config_.length_threshold;
  if (is_short && UsesKeepDraw(source) && !ShortDocumentSurvives(document_id)) {
    c.dropped_short++;
    return Decision::kDropShort;
  }
  size_t bi = static_cast<size_t>(b);
  uint64_t room = budget_[bi] - used_[bi];
  if (long_cap_[bi] != UINT64_MAX) {
    // The long and the short part of the budget fill separately.
    uint64_t long_room = long_cap_[bi] > used_long_[bi] ? long_cap_[bi] - used_long_[bi] : 0;
    uint64_t short_room = (budget_[bi] - long_cap_[bi]) - (used_[bi] - used_long_[bi]);
    room = std::min(room, is_short ? short_room : long_room);
    if (room == 0) {
      if (is_short) c.dropped_short++;
      else c.dropped_budget++;
      return is_short ? Decision::kDropShort : Decision::kDropBudget;
    }
  }
  uint64_t take = std::min(tokens, room);
  if (take < tokens) c.truncated++;
  if (copies && take == tokens && room > take && !known_short && Repeats(source, tokens)) {
    // The copies share the document's room: as many whole ones as fit, the last cut.
    uint64_t extra = std::min(room - take, (config_.max_repeats - 1) * tokens);
    copies->count = static_cast<uint32_t>((extra + tokens - 1) / tokens);
    copies->last_tokens = extra - (copies->count - 1) * tokens;
    c.repeated += copies->count;
    c.repeated_tokens += extra;
    take += extra;  // charged below with the first appearance
  }
  c.kept++;
  c.kept_tokens += take;
  kept_tokens_ += take;
  used_[bi] += take;
  if (!is_short) {
    c.kept_long_tokens += take;
    used_long_[bi] += take;
  }
  if (used_[bi] >= budget_[bi]) open_budgets_--;
  *keep_tokens = copies ? take - copies->total_tokens(tokens) : take;
  return Decision::kKeep;
}

void Sampler::Restore(const std::vector<std::string>& names, const std::vector<SourceCounts>& counts) {
  for (size_t i = weighted_; i < names.size(); ++i) SourceId(names[i]);
  std::fill(used_.begin(), used_.end(), 0);
  std::fill(used_long_.begin(), used_long_.end(), 0);
  kept_tokens_ = 0;
  for (size_t i = 0; i < counts.size() && i < counts_.size(); ++i) {
    uint64_t budget = counts_[i].budget_tokens;
    counts_[i] = counts[i];
    counts_[i].budget_tokens = budget;
    kept_tokens_ += counts[i].kept_tokens;
    int b = BudgetIndex(static_cast<uint32_t>(i));
    if (b >= 0) {
      used_[static_cast<size_t>(b)] += counts[i].kept_tokens;
      used_long_[static_cast<size_t>(b)] += counts[i].kept_long_tokens;
    }
  }
  RecountOpenBudgets();
}

}  // namespace lcde
