#include "lcde/scan.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <thread>

#include "lcde/pipeline.h"
#include "lcde/reader.h"
#include "lcde/sampler.h"
#include "lcde/stats.h"
#include "lcde/tokenizer.h"
#include "lcde/text.h"

namespace lcde {

namespace {

// Without a tokenizer, and for documents outside the calibration: the paper's
// code assumes about this many bytes of English text per LLaMA token.
constexpr double kDefaultBytesPerToken = 4.0;
// Documents per source tokenized exactly to calibrate an estimate.
constexpr uint64_t kCalibrationDocs = 200;

void AddDocument(SourceProfile* p, uint64_t tokens, uint64_t bytes, uint64_t threshold) {
  p->documents++;
  p->tokens += tokens;
  p->bytes += bytes;
  if (tokens >= threshold) p->long_tokens += tokens;
  p->lengths.push_back(static_cast<uint32_t>(std::min<uint64_t>(tokens, UINT32_MAX)));
}

void Merge(std::map<std::string, SourceProfile>* into, std::map<std::string, SourceProfile>&& from) {
  for (auto& [name, p] : from) {
    SourceProfile& q = (*into)[name];
    q.documents += p.documents;
    q.tokens += p.tokens;
    q.bytes += p.bytes;
    q.long_tokens += p.long_tokens;
    q.lengths.insert(q.lengths.end(), p.lengths.begin(), p.lengths.end());
  }
}

}  // namespace

uint64_t SourceProfile::Percentile(double p) const {
  if (lengths.empty()) return 0;
  size_t i = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(lengths.size()))) ;
  i = std::clamp<size_t>(i, 1, lengths.size()) - 1;
  return lengths[i];
}

Result<ScanResult> Scan(const ScanOptions& o) {
  InputFiles build_inputs;
  if (o.config) {
    auto resolved = ResolveBuildInputs(*o.config);
    if (!resolved.ok()) return resolved.status();
    build_inputs = std::move(resolved.value());
  } else {
    auto resolved = ResolveInputFiles(o.input.paths, o.seed);
    if (!resolved.ok()) return resolved.status();
    build_inputs.paths = std::move(resolved.value());
    build_inputs.configs.assign(build_inputs.paths.size(), &o.input);
  }
  const std::vector<std::string>* files = &build_inputs.paths;
  ScanResult result;
  result.files_total = files->size();
  result.length_threshold = o.length_threshold;
  size_t n = files->size();
  if (o.sample < 1.0) n = std::max<size_t>(1, static_cast<size_t>(std::ceil(o.sample * static_cast<double>(n))));
  n = std::min(n, files->size());
  result.files_read = n;

  std::unique_ptr<Tokenizer> tokenizer;
  if (!o.tokenizer.empty()) {
    auto t = Tokenizer::Load(o.tokenizer);
    if (!t.ok()) return t.status();
    tokenizer = std::move(t.value());
  }
  if (o.exact && !tokenizer) return Status::InvalidConfig("scan --exact needs a tokenizer (--tokenizer or the config's)");

  // Calibration, in file order so every thread count gets the same ratios:
  // the first documents of each source tokenized exactly.
  std::map<std::string, std::pair<uint64_t, uint64_t>> calibration;  // bytes, tokens
  if (tokenizer && !o.exact) {
    std::vector<int32_t> ids;
    for (size_t f = 0; f < n && f < 4; ++f) {
      auto r = DocumentReader::Open((*files)[f], static_cast<uint32_t>(f), *build_inputs.configs[f]);
      if (!r.ok()) continue;
      Document doc;
      bool need_more = false;
      while ((*r)->Next(&doc)) {
        auto& c = calibration[std::string(doc.source)];
        if (c.first >= kCalibrationDocs * 4096) continue;  // this source is calibrated
        ids.clear();
        if (!tokenizer->Encode(doc.text, false, false, &ids).ok()) continue;
        c.first += doc.text.size();
        c.second += ids.size();
      }
      for (const auto& [name, c] : calibration) need_more = need_more || c.first < kCalibrationDocs * 4096;
      if (!need_more) break;
    }
    result.method = "estimated: bytes / per-source bytes-per-token measured on the first files with " +
                    o.tokenizer;
  } else if (tokenizer) {
    result.method = "exact: every document tokenized with " + o.tokenizer;
  } else {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "estimated: bytes / %.2f (no tokenizer given)", kDefaultBytesPerToken);
    result.method = buf;
  }
  auto bytes_per_token = [&](const std::string& source) {
    auto it = calibration.find(source);
    if (it == calibration.end() || it->second.second == 0) return kDefaultBytesPerToken;
    return static_cast<double>(it->second.first) / static_cast<double>(it->second.second);
  };

  // Files in parallel; the profile is a sum, so the order of merging does
  // not matter except for the lengths, which are sorted at the end.
  int threads = ResolveThreads(o.threads);
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status failure;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      std::vector<int32_t> ids;
      for (size_t f; (f = next.fetch_add(1)) < n;) {
        std::map<std::string, SourceProfile> local;
        uint64_t rejected = 0;
        auto r = DocumentReader::Open((*files)[f], static_cast<uint32_t>(f), *build_inputs.configs[f]);
        if (!r.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          result.rejected++;
          continue;
        }
        Document doc;
        while ((*r)->Next(&doc)) {
          uint64_t tokens;
          if (o.exact) {
            ids.clear();
            Status s = tokenizer->Encode(doc.text, false, false, &ids);
            if (!s.ok()) {
              std::lock_guard<std::mutex> lock(mu);
              failure = s;
              return;
            }
            tokens = ids.size();
          } else {
            tokens = static_cast<uint64_t>(std::llround(static_cast<double>(doc.text.size()) /
                                                        bytes_per_token(std::string(doc.source))));
          }
          AddDocument(&local[std::string(doc.source)], tokens, doc.text.size(), o.length_threshold);
        }
        rejected += (*r)->rejects().total();
        std::lock_guard<std::mutex> lock(mu);
        Merge(&result.sources, std::move(local));
        result.rejected += rejected;
      }
    });
  }
  for (auto& t : pool) t.join();
  if (!failure.ok()) return failure;
  for (auto& [name, p] : result.sources) std::sort(p.lengths.begin(), p.lengths.end());
  return result;
}

nlohmann::json ScanToJson(const ScanResult& r) {
  nlohmann::json j;
  j["method"] = r.method;
  j["files_total"] = r.files_total;
  j["files_read"] = r.files_read;
  j["length_threshold"] = r.length_threshold;
  j["rejected"] = r.rejected;
  nlohmann::json sources = nlohmann::json::object();
  std::array<uint64_t, kLengthBuckets> all_buckets{};
  uint64_t all_tokens = 0, all_long_tokens = 0;
  for (const auto& [name, p] : r.sources) {
    // The buckets of `lcde stats`: tokens by document length, as shares.
    std::array<uint64_t, kLengthBuckets> buckets{};
    for (uint32_t length : p.lengths) buckets[LengthBucket(length)] += length;
    nlohmann::json length_buckets = nlohmann::json::object();
    for (size_t b = 0; b < kLengthBuckets; ++b) {
      length_buckets[LengthBucketName(b)] = Ratio(buckets[b], p.tokens);
      all_buckets[b] += buckets[b];
    }
    all_tokens += p.tokens;
    all_long_tokens += p.long_tokens;
    nlohmann::json pct = nlohmann::json::object();
    for (double q : {25.0, 50.0, 75.0, 90.0, 95.0, 99.0}) pct["p" + std::to_string(static_cast<int>(q))] = p.Percentile(q);
    pct["max"] = p.lengths.empty() ? 0 : p.lengths.back();
    sources[name] = {{"documents", p.documents}, {"tokens", p.tokens}, {"bytes", p.bytes},
                     {"long_token_fraction", Ratio(p.long_tokens, p.tokens)},
                     {"length_percentiles", pct}, {"length_buckets", length_buckets}};
  }
  j["sources"] = sources;
  j["tokens"] = all_tokens;
  j["long_token_fraction"] = Ratio(all_long_tokens, all_tokens);
  nlohmann::json length_buckets = nlohmann::json::object();
  for (size_t b = 0; b < kLengthBuckets; ++b) length_buckets[LengthBucketName(b)] = Ratio(all_buckets[b], all_tokens);
  j["length_buckets"] = length_buckets;
  return j;
}

std::string FormatScan(const ScanResult& r) {
  std::string out;
  char line[1024];
  std::snprintf(line, sizeof(line), "scanned %s of %s files; token lengths %s\n\n", WithThousands(r.files_read).c_str(),
                WithThousands(r.files_total).c_str(), r.method.c_str());
  out += line;
  int width = 24;
  for (const auto& [name, p] : r.sources) width = std::max(width, static_cast<int>(name.size()));
  std::snprintf(line, sizeof(line), "%-*s %11s %15s %8s %8s %8s %8s %8s %8s %10s %7s\n", width, "source", "documents",
                "tokens", "p25", "p50", "p75", "p90", "p95", "p99", "max", "long");
  out += line;
  for (const auto& [name, p] : r.sources) {
    std::snprintf(line, sizeof(line), "%-*s %11s %15s %8llu %8llu %8llu %8llu %8llu %8llu %10llu %6.1f%%\n",
                  width, name.c_str(), WithThousands(p.documents).c_str(), WithThousands(p.tokens).c_str(),
                  static_cast<unsigned long long>(p.Percentile(25)), static_cast<unsigned long long>(p.Percentile(50)),
                  static_cast<unsigned long long>(p.Percentile(75)), static_cast<unsigned long long>(p.Percentile(90)),
                  static_cast<unsigned long long>(p.Percentile(95)), static_cast<unsigned long long>(p.Percentile(99)),
                  static_cast<unsigned long long>(p.lengths.empty() ? 0 : p.lengths.back()),
                  p.tokens ? 100.0 * static_cast<double>(p.long_tokens) / static_cast<double>(p.tokens) : 0.0);
    out += line;
  }
  std::snprintf(line, sizeof(line), "\nlong = share of tokens in documents of >= %s tokens; %s lines rejected\n",
                WithThousands(r.length_threshold).c_str(), WithThousands(r.rejected).c_str());
  out += line;
  return out;
}

std::string FormatPlan(const Config& config, const ScanResult& sample) {
  std::string out = "resolved config:\n" + config.ToYaml() + "\n";
  uint64_t seq = config.output.sequence_length;
  uint64_t total = config.output.keep_partial_chunk ? config.mixture.total_tokens : config.mixture.total_tokens / seq * seq;
  Sampler sampler(config.mixture, config.seed, total);
  double scale = sample.files_read ? static_cast<double>(sample.files_total) / static_cast<double>(sample.files_read) : 0;
  char line[1024];
  std::snprintf(line, sizeof(line), "plan: %s tokens in %s chunks of %s; input estimated from %s of %s files (%s)\n\n",
                WithThousands(total).c_str(), WithThousands(total / seq).c_str(), WithThousands(seq).c_str(),
                WithThousands(sample.files_read).c_str(), WithThousands(sample.files_total).c_str(), sample.method.c_str());
  out += line;
  int width = 24;
  for (const auto& name : sampler.source_names()) width = std::max(width, static_cast<int>(name.size()));
  std::snprintf(line, sizeof(line), "%-*s %8s %15s %15s %8s %15s %9s\n", width, "source", "target", "budget tokens",
                "input tokens", "long", "input needed", "of input");
  out += line;
  for (uint32_t i = 0; i < sampler.source_names().size(); ++i) {
    const std::string& name = sampler.source_names()[i];
    auto it = sample.sources.find(name);
    double available = 0, long_share = 0, repeat_share = 0;
    if (it != sample.sources.end() && it->second.tokens > 0) {
      available = static_cast<double>(it->second.tokens) * scale;
      long_share = static_cast<double>(it->second.long_tokens) / static_cast<double>(it->second.tokens);
      uint64_t repeat_tokens = 0;
      for (uint32_t n : it->second.lengths) repeat_tokens += n >= config.mixture.repeat_threshold ? n : 0;
      repeat_share = static_cast<double>(repeat_tokens) / static_cast<double>(it->second.tokens);
    }
    // Of each input token of this source, the stream tokens the recipe makes.
    double keep = sampler.SubjectToKeepRatio(i) ? long_share + config.mixture.short_keep_ratio * (1 - long_share) : 1.0;
    if (config.mixture.max_repeats > 1 && sampler.SubjectToKeepRatio(i)) {
      keep += (config.mixture.max_repeats - 1) * repeat_share;
    }
    uint64_t budget = config.mixture.strategy == Strategy::kGlobal
                          ? static_cast<uint64_t>(sampler.target_share(i) * static_cast<double>(total))
                          : sampler.counts(i).budget_tokens;
    double needed = keep > 0 ? static_cast<double>(budget) / keep : INFINITY;
    std::string of = available > 0 ? std::to_string(static_cast<int>(std::ceil(100.0 * needed / available))) + "%" : "no input";
    if (available > 0 && needed > available) of += " SHORT";
    std::snprintf(line, sizeof(line), "%-*s %7.2f%% %15s %15s %7.1f%% %15s %9s\n", width, name.c_str(),
                  100.0 * sampler.target_share(i), WithThousands(budget).c_str(),
                  WithThousands(static_cast<uint64_t>(available)).c_str(), 100.0 * long_share,
                  std::isfinite(needed) ? WithThousands(static_cast<uint64_t>(needed)).c_str() : "-", of.c_str());
    out += line;
  }
  if (config.mixture.strategy == Strategy::kGlobal) {
    out += "\nstrategy global: one budget; the per-source rows show the weights, which the build does not enforce\n";
  }
  out += "\ninput needed = budget / (long share + short_keep_ratio x short share";
  if (config.mixture.max_repeats > 1) out += " + (max_repeats - 1) x share over repeat_threshold";
  out += ") for upsampled sources;\n"
         "SHORT = the input holds less than the plan needs for that source.\n";
  return out;
}

}  // namespace lcde
