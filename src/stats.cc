#include "lcde/stats.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "lcde/shard_writer.h"
#include "lcde/text.h"

namespace lcde {

namespace {

struct FileCloser {
  void operator()(FILE* f) const { if (f) std::fclose(f); }
};

std::string Percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f%%", 100.0 * x);
  return buf;
}

uint64_t GetU64(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<uint64_t>() : 0;
}

// Each source's worst window of the dataset against its target: a mixture
// that drifts from start to end shows here, not in the totals.
void FormatAlongDataset(const DatasetStats& st, int width, std::string* out) {
  if (st.chunks == 0) return;
  char line[512];
  std::snprintf(line, sizeof(line), "\nmixture along the dataset, %zu windows of %" PRIu64 "-%" PRIu64 " chunks:\n",
                kMixtureWindows, *std::min_element(st.window_chunks.begin(), st.window_chunks.end()),
                *std::max_element(st.window_chunks.begin(), st.window_chunks.end()));
  *out += line;
  std::snprintf(line, sizeof(line), "%-*s %8s %13s %8s %11s\n", width, "source", "target", "worst window", "share",
                "off by");
  *out += line;
  for (const auto& s : st.sources) {
    if (s.tokens == 0 && s.target_share == 0) continue;
    size_t worst = s.worst_window(st);
    double share = st.WindowShare(s, worst);
    double reference = s.reference_share(st.tokens);
    std::snprintf(line, sizeof(line), "%-*s %8s %7zu of %zu %8s %+7.2f pts%s\n", width, s.name.c_str(),
                  s.target_share > 0 ? Percent(s.target_share).c_str() : "-", worst + 1, kMixtureWindows,
                  Percent(share).c_str(), 100.0 * (share - reference), s.target_share > 0 ? "" : " (vs its share)");
    *out += line;
  }
}

}  // namespace

const char* LengthBucketName(size_t bucket) {
  static const char* kNames[kLengthBuckets] = {"0-4K",    "4K-8K",    "8K-16K", "16K-32K",
                                               "32K-64K", "64K-128K", "128K+"};
  return kNames[bucket];
}

double Ratio(uint64_t a, uint64_t b) { return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b); }

size_t LengthBucket(uint64_t doc_tokens) {
  size_t b = 0;
  while (b < kLengthBucketEdges.size() && doc_tokens >= kLengthBucketEdges[b]) ++b;
  return b;
}

const char* DocsPerChunkBucketName(size_t bucket) {
  static const char* kNames[kDocsPerChunkBuckets] = {"1",     "2-3",     "4-7",     "8-15",    "16-31",
                                                     "32-63", "64-127", "128-255", "256-511", "512+"};
  return kNames[bucket];
}

size_t DocsPerChunkBucket(uint64_t docs) {
  size_t b = 0;
  while (b + 1 < kDocsPerChunkBuckets && docs >= (uint64_t{2} << b)) ++b;
  return b;
}

uint64_t DatasetStats::long_tokens() const {
  uint64_t n = 0;
  for (const auto& s : sources) n += s.long_tokens;
  return n;
}

std::array<uint64_t, kLengthBuckets> DatasetStats::bucket_tokens() const {
  std::array<uint64_t, kLengthBuckets> out{};
  for (const auto& s : sources)
    for (size_t b = 0; b < kLengthBuckets; ++b) out[b] += s.bucket_tokens[b];
  return out;
}

double DatasetStats::WindowShare(const SourceStats& source, size_t w) const {
  return Ratio(source.window_tokens[w], window_tokens[w]);
}

double SourceStats::reference_share(uint64_t dataset_tokens) const {
  return target_share > 0 ? target_share : Ratio(tokens, dataset_tokens);
}

size_t SourceStats::worst_window(const DatasetStats& dataset) const {
  size_t worst = 0;
  double worst_off = -1;
  double reference = reference_share(dataset.tokens);
  for (size_t w = 0; w < kMixtureWindows; ++w) {
    if (dataset.window_tokens[w] == 0) continue;
    double off = std::abs(dataset.WindowShare(*this, w) - reference);
    if (off > worst_off) {
      worst_off = off;
      worst = w;
    }
  }
  return worst;
}

void StatsAccumulator::AddChunk(uint64_t chunk, std::span<const Segment> segments) {
  (void)chunk;  // chunks come in order: its index is chunks()
  segments_per_chunk_.push_back(segments.size());
  if (first_chunks_.size() < kFirstChunks) {
    auto& pieces = first_chunks_.emplace_back();
    for (const Segment& s : segments) pieces.push_back({s.source, s.length});
  }
  auto& present = chunk_sources_.emplace_back();
  for (const Segment& s : segments) {
    if (s.source >= sources_.size()) sources_.resize(s.source + 1);
    SourceCount& src = sources_[s.source];
    src.tokens += s.length;
    if (s.doc_offset == 0) src.documents++;
    if (s.doc_tokens >= length_threshold_) src.long_tokens += s.length;
    src.bucket_tokens[LengthBucket(s.doc_tokens)] += s.length;
    auto it = std::find_if(present.begin(), present.end(), [&](const auto& p) { return p.first == s.source; });
    if (it == present.end()) present.emplace_back(s.source, s.length);
    else it->second += s.length;
  }
  segments_ += segments.size();
}

Status StatsAccumulator::AddSegmentFile(const std::string& path, uint64_t first_chunk, uint64_t chunks,
                                        size_t sources) {
  std::unique_ptr<FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) return Status::NotFound(path + ": " + std::strerror(errno));
  char header[kSegHeaderBytes];
  size_t got = std::fread(header, 1, sizeof(header), f.get());
  auto h = DecodeSegHeader(std::string_view(header, got), path);
  if (!h.ok()) return h.status();
  if (h->version != kSegVersion || h->record_size != sizeof(Segment)) {
    return Status::Corruption(path + ": segment version " + std::to_string(h->version) + " record size " +
                              std::to_string(h->record_size) + " not supported");
  }
  std::vector<Segment> buf(1 << 16), chunk_segments;
  uint64_t next = 0, record = 0;  // the chunk being gathered, within this file
  auto flush_until = [&](uint64_t chunk) {
    for (; next < chunk; ++next) {
      AddChunk(first_chunk + next, chunk_segments);
      chunk_segments.clear();
    }
  };
  size_t n;
  while ((n = std::fread(buf.data(), sizeof(Segment), buf.size(), f.get())) > 0) {
    for (size_t i = 0; i < n; ++i, ++record) {
      const Segment& s = buf[i];
      if (s.source >= sources || s.chunk >= chunks || s.chunk < next) {
        return Status::Corruption(path + ": segment " + std::to_string(record) + " names source " +
                                  std::to_string(s.source) + " chunk " + std::to_string(s.chunk) +
                                  " outside the manifest");
      }
      flush_until(s.chunk);
      chunk_segments.push_back(s);
    }
  }
  if (std::ferror(f.get())) return Status::IOError(path + ": read error");
  flush_until(chunks);
  return Status::Ok();
}

DatasetStats StatsAccumulator::Finish(const nlohmann::json& manifest) const {
  DatasetStats st;
  st.sequence_length = GetU64(manifest, "sequence_length");
  st.length_threshold = length_threshold_;
  if (manifest.contains("tokenizer")) st.vocab_size = static_cast<int>(GetU64(manifest["tokenizer"], "vocab_size"));
  for (const auto& s : manifest.value("sources", nlohmann::json::array())) {
    SourceStats ss;
    ss.name = s.value("name", "");
    ss.target_share = s.value("target_share", 0.0);
    st.sources.push_back(ss);
  }
  if (st.sources.size() < sources_.size()) st.sources.resize(sources_.size());
  for (size_t i = 0; i < sources_.size(); ++i) {
    SourceStats& ss = st.sources[i];
    ss.tokens = sources_[i].tokens;
    ss.documents = sources_[i].documents;
    ss.long_tokens = sources_[i].long_tokens;
    ss.bucket_tokens = sources_[i].bucket_tokens;
    st.tokens += ss.tokens;
  }
  st.chunks = chunk_sources_.size();
  st.segments = segments_;
  for (uint64_t c = 0; c < st.chunks; ++c) {
    const size_t window = static_cast<size_t>(c * kMixtureWindows / st.chunks);
    st.window_chunks[window]++;
    for (const auto& [source, tokens] : chunk_sources_[c]) {
      st.sources[source].window_tokens[window] += tokens;
      st.window_tokens[window] += tokens;
    }
  }
  if (!segments_per_chunk_.empty()) {
    std::vector<uint64_t> sorted = segments_per_chunk_;
    st.docs_per_chunk_mean = static_cast<double>(st.segments) / static_cast<double>(sorted.size());
    std::sort(sorted.begin(), sorted.end());
    st.docs_per_chunk_min = sorted.front();
    st.docs_per_chunk_max = sorted.back();
    st.docs_per_chunk_median = sorted[sorted.size() / 2];
  }
  for (uint64_t docs : segments_per_chunk_) st.docs_per_chunk_histogram[DocsPerChunkBucket(docs)]++;
  st.first_chunks = first_chunks_;
  return st;
}

Result<DatasetStats> ComputeStats(const std::string& dir, const nlohmann::json& manifest) {
  StatsAccumulator acc(GetU64(manifest, "length_threshold"));
  const size_t sources = manifest.value("sources", nlohmann::json::array()).size();
  for (const auto& shard : manifest.value("shards", nlohmann::json::array())) {
    std::string path = (std::filesystem::path(dir) / (shard.value("name", "") + ".seg")).string();
    LCDE_RETURN_IF_ERROR(acc.AddSegmentFile(path, acc.chunks(), GetU64(shard, "chunks"), sources));
  }
  return acc.Finish(manifest);
}

nlohmann::json StatsToJson(const DatasetStats& st, const nlohmann::json& manifest) {
  nlohmann::json j;
  j["chunks"] = st.chunks;
  j["tokens"] = st.tokens;
  j["segments"] = st.segments;
  j["sequence_length"] = st.sequence_length;
  j["vocab_size"] = st.vocab_size;
  j["length_threshold"] = st.length_threshold;
  j["long_token_fraction"] = Ratio(st.long_tokens(), st.tokens);
  nlohmann::json buckets = nlohmann::json::object();
  auto all = st.bucket_tokens();
  for (size_t b = 0; b < kLengthBuckets; ++b) buckets[LengthBucketName(b)] = Ratio(all[b], st.tokens);
  j["length_buckets"] = buckets;
  nlohmann::json sources = nlohmann::json::object();
  for (const auto& s : st.sources) {
    nlohmann::json o;
    o["tokens"] = s.tokens;
    o["share"] = Ratio(s.tokens, st.tokens);
    o["target_share"] = s.target_share;
    o["documents"] = s.documents;
    o["long_token_fraction"] = Ratio(s.long_tokens, s.tokens);
    nlohmann::json sb = nlohmann::json::object();
    for (size_t b = 0; b < kLengthBuckets; ++b) sb[LengthBucketName(b)] = Ratio(s.bucket_tokens[b], s.tokens);
    o["length_buckets"] = sb;
    nlohmann::json windows = nlohmann::json::array();
    for (size_t w = 0; w < kMixtureWindows; ++w) windows.push_back(st.WindowShare(s, w));
    size_t worst = s.worst_window(st);
    o["along_dataset"] = {{"window_shares", windows}, {"reference_share", s.reference_share(st.tokens)},
                          {"worst_window", worst}, {"worst_share", st.WindowShare(s, worst)}};
    sources[s.name] = o;
  }
  j["sources"] = sources;
  j["along_dataset"] = {{"windows", kMixtureWindows}, {"window_chunks", st.window_chunks},
                        {"window_tokens", st.window_tokens}};
  j["docs_per_chunk"] = {{"mean", st.docs_per_chunk_mean},
                         {"min", st.docs_per_chunk_min},
                         {"median", st.docs_per_chunk_median},
                         {"max", st.docs_per_chunk_max}};
  nlohmann::json histogram = nlohmann::json::object();
  for (size_t b = 0; b < kDocsPerChunkBuckets; ++b) histogram[DocsPerChunkBucketName(b)] = st.docs_per_chunk_histogram[b];
  j["docs_per_chunk_histogram"] = histogram;
  // Each piece as [source name, tokens], in chunk order.
  nlohmann::json first = nlohmann::json::array();
  for (const auto& chunk : st.first_chunks) {
    nlohmann::json pieces = nlohmann::json::array();
    for (const ChunkPiece& p : chunk) {
      const std::string name = p.source < st.sources.size() ? st.sources[p.source].name : "";
      pieces.push_back({name, p.tokens});
    }
    first.push_back(pieces);
  }
  j["first_chunks"] = first;
  if (manifest.contains("reading")) j["reading"] = manifest["reading"];
  if (manifest.contains("sampling")) j["sampling"] = manifest["sampling"];
  return j;
}

nlohmann::json ManifestStatsJson(const DatasetStats& st) {
  nlohmann::json j = StatsToJson(st, nlohmann::json::object());
  j.erase("first_chunks");
  return j;
}

std::string FormatStats(const DatasetStats& st, const nlohmann::json& manifest) {
  std::string out;
  char line[1024];
  auto add = [&](const char* fmt, auto... args) {
    std::snprintf(line, sizeof(line), fmt, args...);
    out += line;
  };
  add("chunks %s x %s tokens = %s tokens, vocab %d\n", WithThousands(st.chunks).c_str(),
      WithThousands(st.sequence_length).c_str(), WithThousands(st.tokens).c_str(), st.vocab_size);
  add("tokens from documents >= %s tokens: %s\n", WithThousands(st.length_threshold).c_str(),
      Percent(Ratio(st.long_tokens(), st.tokens)).c_str());
  add("documents per chunk: mean %.1f, median %" PRIu64 ", min %" PRIu64 ", max %" PRIu64 "\n\n",
      st.docs_per_chunk_mean, st.docs_per_chunk_median, st.docs_per_chunk_min, st.docs_per_chunk_max);

  // The source column is as wide as the longest name (input groups make
  // names like general/RedPajamaCommonCrawl).
  int width = 24;
  for (const auto& s : st.sources) width = std::max(width, static_cast<int>(s.name.size()));
  add("%-*s %14s %8s %8s %10s %7s", width, "source", "tokens", "share", "target", "documents", "long");
  for (size_t b = 0; b < kLengthBuckets; ++b) add(" %8s", LengthBucketName(b));
  out += "\n";
  auto row = [&](const std::string& name, uint64_t tokens, double target, uint64_t docs, uint64_t long_tokens,
                 const std::array<uint64_t, kLengthBuckets>& buckets) {
    add("%-*s %14s %8s %8s %10s %7s", width, name.c_str(), WithThousands(tokens).c_str(),
        Percent(Ratio(tokens, st.tokens)).c_str(), Percent(target).c_str(), WithThousands(docs).c_str(),
        Percent(Ratio(long_tokens, tokens)).c_str());
    for (size_t b = 0; b < kLengthBuckets; ++b) add(" %8s", Percent(Ratio(buckets[b], tokens)).c_str());
    out += "\n";
  };
  uint64_t docs = 0;
  double target = 0;
  for (const auto& s : st.sources) {
    if (s.tokens == 0 && s.target_share == 0) continue;
    row(s.name, s.tokens, s.target_share, s.documents, s.long_tokens, s.bucket_tokens);
    docs += s.documents;
    target += s.target_share;
  }
  row("total", st.tokens, target, docs, st.long_tokens(), st.bucket_tokens());
  FormatAlongDataset(st, width, &out);

  if (manifest.contains("reading")) {
    const auto& r = manifest["reading"];
    add("\ninput: %s files of %s, %s lines, %s documents read, %s rejected",
        WithThousands(GetU64(r, "files_read")).c_str(), WithThousands(GetU64(r, "files")).c_str(),
        WithThousands(GetU64(r, "lines")).c_str(), WithThousands(GetU64(r, "documents")).c_str(),
        WithThousands(GetU64(r, "rejected")).c_str());
    if (r.contains("rejected_by_reason")) {
      std::string reasons;
      for (const auto& [k, v] : r["rejected_by_reason"].items()) {
        if (v.get<uint64_t>() == 0) continue;
        reasons += (reasons.empty() ? "" : ", ") + k + " " + WithThousands(v.get<uint64_t>());
      }
      if (!reasons.empty()) out += " (" + reasons + ")";
    }
    out += "\n";
  }
  if (manifest.contains("sampling")) {
    const auto& s = manifest["sampling"];
    add("sampling: %s kept, %s dropped short, %s dropped over budget, %s unknown source, %s cut to fit\n",
        WithThousands(GetU64(s, "kept")).c_str(), WithThousands(GetU64(s, "dropped_short")).c_str(),
        WithThousands(GetU64(s, "dropped_budget")).c_str(),
        WithThousands(GetU64(s, "dropped_unknown_source")).c_str(),
        WithThousands(GetU64(s, "truncated")).c_str());
    if (s.contains("repeats")) {
      add("repeats: %s copies of long documents, %s tokens, %s appended early at the end\n",
          WithThousands(GetU64(s["repeats"], "copies")).c_str(), WithThousands(GetU64(s["repeats"], "tokens")).c_str(),
          WithThousands(GetU64(s["repeats"], "early")).c_str());
    }
    add("tail: %s tokens dropped (partial last chunk)\n", WithThousands(GetU64(s, "tail_tokens_dropped")).c_str());
    if (s.contains("shortfall") && !s["shortfall"].empty()) {
      for (const auto& [name, v] : s["shortfall"].items()) {
        add("SHORTFALL %s: %s of %s budget tokens missing (input ran out)\n", name.c_str(),
            WithThousands(v.value("missing_tokens", uint64_t{0})).c_str(),
            WithThousands(v.value("budget_tokens", uint64_t{0})).c_str());
      }
    }
  }
  return out;
}

}  // namespace lcde
