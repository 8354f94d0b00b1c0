// The manifest of a finished build: everything needed to read, trace and
// reproduce the dataset (docs/FORMAT.md).
#include <spdlog/spdlog.h>

#include "build/build_run.h"
#include "lcde/manifest.h"
#include "lcde/stats.h"
#include "lcde/version.h"

namespace lcde {

using nlohmann::json;

json ConfigJson(const Config& c) {
  json j;
  j["seed"] = c.seed;
  j["input"] = {{"paths", c.input.paths}, {"text_key", c.input.text_key}, {"source_key", c.input.source_key}};
  if (!c.groups.empty()) {
    json groups = json::array();
    for (const auto& g : c.groups) {
      groups.push_back({{"name", g.name}, {"weight", g.weight}, {"paths", g.input.paths},
                        {"text_key", g.input.text_key}, {"source_key", g.input.source_key}, {"weights", g.weights}});
    }
    j["input"]["groups"] = groups;
  }
  j["tokenizer"] = {{"model", c.tokenizer.model}, {"bos", c.tokenizer.bos}, {"eos", c.tokenizer.eos},
                    {"separator", c.tokenizer.separator}};
  j["mixture"] = {{"total_tokens", c.mixture.total_tokens},
                  {"weights", c.mixture.weights},
                  {"weights_preset", c.mixture.weights_preset},
                  {"strategy", StrategyName(c.mixture.strategy)},
                  {"upsample", c.mixture.upsample},
                  {"length_threshold", c.mixture.length_threshold},
                  {"short_keep_ratio", c.mixture.short_keep_ratio},
                  {"long_token_fraction", c.mixture.long_token_fraction},
                  {"unknown_sources", c.mixture.unknown_sources},
                  {"interleave", c.mixture.interleave}};
  if (c.mixture.max_repeats > 1) {
    j["mixture"]["max_repeats"] = c.mixture.max_repeats;
    j["mixture"]["repeat_threshold"] = c.mixture.repeat_threshold;
  }
  // output.dir is left out: a dataset may move, and its bytes must not depend on where it was built.
  j["validation"] = {{"tokens_per_source", c.validation.tokens_per_source}};
  j["output"] = {{"sequence_length", c.output.sequence_length},
                 {"chunks_per_shard", c.output.chunks_per_shard},
                 {"keep_partial_chunk", c.output.keep_partial_chunk}};
  return j;
}

json BuildRun::SourcesJson(json* sampling) {
  const Sampler& sampler = *sampler_;
  json sources = json::array();
  json shortfall = json::object();
  json per_source = json::object();
  json long_fraction = json::object();
  for (uint32_t i = 0; i < sampler.source_names().size(); ++i) {
    const SourceCounts& c = sampler.counts(i);
    const std::string& name = sampler.source_names()[i];
    sources.push_back({{"id", i}, {"name", name}, {"weighted", sampler.HasWeight(i)},
                       {"target_share", sampler.target_share(i)}, {"budget_tokens", c.budget_tokens}});
    if (sampler.LongFractionTarget(i) >= 0 && sampler.HasWeight(i)) {
      double achieved = c.kept_tokens ? static_cast<double>(c.kept_long_tokens) / static_cast<double>(c.kept_tokens) : 0;
      long_fraction[name] = {{"target", sampler.LongFractionTarget(i)}, {"achieved", achieved}};
      if (achieved + 0.005 < sampler.LongFractionTarget(i)) {
        spdlog::warn("source {} reached a long-token fraction of {:.3f}, short of its target {:.3f}: the input "
                     "ran out of long documents",
                     name, achieved, sampler.LongFractionTarget(i));
      }
    }
    per_source[name] = {{"seen", c.seen}, {"kept", c.kept}, {"kept_tokens", c.kept_tokens},
                        {"dropped_short", c.dropped_short}, {"dropped_budget", c.dropped_budget},
                        {"truncated", c.truncated}};
    if (config_.mixture.max_repeats > 1) {
      per_source[name]["repeated"] = c.repeated;
      per_source[name]["repeated_tokens"] = c.repeated_tokens;
    }
    if (config_.mixture.strategy != Strategy::kGlobal && sampler.HasWeight(i) && c.kept_tokens < c.budget_tokens) {
      // Documents of unknown sources that share this budget count towards it.
      uint64_t used = 0;
      for (uint32_t k = 0; k < sampler.source_names().size(); ++k) {
        if (sampler.BudgetSourceOf(sampler.source_names()[k]) == static_cast<int>(i)) used += sampler.counts(k).kept_tokens;
      }
      if (used < c.budget_tokens) {
        shortfall[name] = {{"budget_tokens", c.budget_tokens}, {"kept_tokens", used},
                           {"missing_tokens", c.budget_tokens - used}};
        spdlog::warn("source {} ran out of input: {} of {} budget tokens", name, used, c.budget_tokens);
      }
    }
  }
  if (config_.mixture.strategy == Strategy::kGlobal && sampler.kept_tokens() < total_) {
    shortfall["all"] = {{"budget_tokens", total_}, {"kept_tokens", sampler.kept_tokens()},
                        {"missing_tokens", total_ - sampler.kept_tokens()}};
    spdlog::warn("input ran out: {} of {} budget tokens", sampler.kept_tokens(), total_);
  }
  (*sampling)["shortfall"] = shortfall;
  (*sampling)["per_source"] = per_source;
  (*sampling)["long_token_fraction"] = long_fraction;
  return sources;
}

Result<json> BuildRun::Manifest() {
  const BuildState& state = *state_;
  const std::vector<std::string>& files = inputs_.paths;
  json m;
  m["format"] = "lcde-dataset";
  m["format_version"] = kFormatVersion;
  m["lcde_version"] = kVersion;
  m["config"] = ConfigJson(config_);
  m["seed"] = config_.seed;
  m["tokenizer"] = {{"model", config_.tokenizer.model}, {"sha256", tokenizer_->sha256()},
                    {"vocab_size", tokenizer_->vocab_size()}, {"bos_id", tokenizer_->bos_id()},
                    {"eos_id", tokenizer_->eos_id()}, {"add_bos", config_.tokenizer.bos},
                    {"add_eos", config_.tokenizer.eos}, {"separator", config_.tokenizer.separator},
                    {"encoder", tokenizer_->encoder()}, {"kind", tokenizer_->kind()}};
  m["dtype"] = dtype_ == TokenDtype::kUint16 ? "uint16" : "int32";
  m["dtype_code"] = static_cast<int>(dtype_);
  m["sequence_length"] = seq_;
  m["length_threshold"] = config_.mixture.length_threshold;
  m["strategy"] = StrategyName(config_.mixture.strategy);
  // Whether kept documents were interleaved across sources (a single budget has nothing to interleave).
  m["interleaved"] = interleaver_->queues() > 1;
  m["last_chunk_may_be_partial"] = config_.output.keep_partial_chunk;
  if (is_task_) {
    m["task"] = {{"index", options_.task_index}, {"count", options_.num_tasks},
                 {"fingerprint", fingerprint_.substr(0, fingerprint_.find('/'))}};
  }
  json sampling = {{"kept", state.kept}, {"kept_tokens", sampler_->kept_tokens()}, {"budget_tokens", total_},
                   {"dropped_short", state.dropped_short}, {"dropped_budget", state.dropped_budget},
                   {"dropped_unknown_source", state.dropped_unknown}, {"truncated", state.truncated},
                   {"tail_tokens_dropped", packer_->dropped_tail_tokens()}};
  m["sources"] = SourcesJson(&sampling);
  json input_table = json::array();
  for (uint32_t i = 0; i < files.size(); ++i) {
    input_table.push_back({{"index", i}, {"path", files[i]}, {"lines_read", state.file_lines[i]}});
  }
  m["inputs"] = input_table;
  json shards = json::array();
  for (const auto& s : writer_->shards()) shards.push_back(ShardInfoToJson(s));
  m["shards"] = shards;
  json by_reason = json::object();
  for (size_t i = 0; i < state.rejects.counts.size(); ++i) {
    by_reason[RejectReasonName(static_cast<RejectReason>(i))] = state.rejects.counts[i];
  }
  json examples = json::array();
  for (const auto& [reason, ex] : state.rejects.examples) {
    examples.push_back({{"reason", RejectReasonName(reason)}, {"file", ex.file}, {"line", ex.line},
                        {"detail", ex.detail}});
  }
  m["reading"] = {{"files", files.size()}, {"files_read", state.files_read()}, {"lines", state.lines()},
                  {"bytes", state.bytes()}, {"documents", state.documents}, {"rejected", state.rejects.total()},
                  {"rejected_by_reason", by_reason}, {"reject_examples", examples}};
  sampling["held_out_validation"] = state.held_out;
  sampling["special_token_text_documents"] = state.special_token_text;
  m["sampling"] = sampling;
  if (config_.mixture.max_repeats > 1) {
    uint64_t copies = 0, copy_tokens = 0, early_copies = repeats_->early_copies();
    for (uint32_t i = 0; i < sampler_->source_names().size(); ++i) {
      copies += sampler_->counts(i).repeated;
      copy_tokens += sampler_->counts(i).repeated_tokens;
    }
    // early: copies appended at the end of the stream closer than one sequence to an earlier appearance.
    m["sampling"]["repeats"] = {{"copies", copies}, {"tokens", copy_tokens}, {"early", early_copies}};
    if (early_copies > 0) {
      spdlog::info("{} repeated copies were still pending when the stream ended and were appended there, "
                   "closer than one sequence to an earlier appearance",
                   early_copies);
    }
  }
  if (config_.validation.tokens_per_source > 0) {
    m["validation"] = {{"short", "validation/short"}, {"long", "validation/long"},
                       {"held_out_documents", held_out_.size()},
                       {"tokens_per_source", config_.validation.tokens_per_source}};
  }
  m["totals"] = {{"chunks", packer_->chunks_written()}, {"tokens", packer_->tokens_written()}};
  m["stats"] = ManifestStatsJson(stats_->Finish(m));
  return m;
}

}  // namespace lcde
