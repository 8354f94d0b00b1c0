// Single-thread tokenizer benchmark: the reference lcde reproduces (the
// SentencePiece library; for a tokenizer.json, Oniguruma + an uncached BPE)
// vs lcde's fast paths, on the documents of .jsonl / .jsonl.zst files.
//
//   lcde_bench_tokenizer --model M [--runs N] [--max-mb X] [--profile cold|warm] FILE...
//
// First checks that every fast path returns the library's ids on every
// document (exit 1 on the first mismatch), then times, per run:
//   library            SentencePieceProcessor::Encode on each document
//   fast (cold)        Tokenizer::Encode with the segment cache emptied first
//   fast (warm)        Tokenizer::Encode again, cache kept from the cold run
//   segments+library   the cache with misses sent to the library (cold)
// and prints the median of the runs (tokens/s, MB/s, speedup over the
// library). One thread; pin it with taskset for steadier numbers.
// --profile cold|warm skips the check and the other paths: it loops that
// path alone and prints its median CPU seconds (A/B timing, perf, callgrind).
// It also prints a digest of every id of every document (sha256 over the ids
// as little-endian int32, documents in order) so that another tokenizer's
// output (scripts/bench_hf_tokenizers.py: HF `tokenizers`) is checked equal
// before its speed is compared.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <vector>


#include "lcde/reader.h"
#include "lcde/sha256.h"
#include "lcde/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

void Usage() {
  std::fprintf(stderr, "usage: lcde_bench_tokenizer --model M [--runs N] [--max-mb X] [--profile cold|warm] FILE...\n");
  std::exit(2);
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model;
  int runs = 5;
  double max_mb = 0;
  std::string profile;  // "cold" | "warm": only loop that path (for perf/callgrind)
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--model" && i + 1 < argc) {
      model = argv[++i];
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--profile" && i + 1 < argc) {
      profile = argv[++i];
    } else if (a == "--max-mb" && i + 1 < argc) {
      max_mb = std::atof(argv[++i]);
    } else if (a.rfind("--", 0) == 0) {
      Usage();
    } else {
      files.push_back(a);
    }
  }
  if (model.empty() || files.empty()) Usage();

  // Documents.
  std::vector<std::string> docs;
  uint64_t bytes = 0;
  auto resolved = lcde::ResolveInputFiles(files, 0);
  if (!resolved.ok()) {
    std::fprintf(stderr, "%s\n", resolved.status().ToString().c_str());
    return 2;
  }
  std::sort(resolved->begin(), resolved->end());
  for (size_t fi = 0; fi < resolved->size(); ++fi) {
    auto reader = lcde::DocumentReader::Open((*resolved)[fi], static_cast<uint32_t>(fi), lcde::InputConfig{});
    if (!reader.ok()) {
      std::fprintf(stderr, "%s\n", reader.status().ToString().c_str());
      return 2;
    }
    lcde::Document doc;
    while ((*reader)->Next(&doc)) {
      if (max_mb > 0 && bytes + doc.text.size() > max_mb * 1e6) break;
      docs.emplace_back(doc.text);
      bytes += doc.text.size();
    }
  }

  lcde::TokenizerOptions fast_opts;
  fast_opts.mode = lcde::TokenizerMode::kAuto;
  auto fast = lcde::Tokenizer::Load(model, fast_opts);
  lcde::TokenizerOptions seg_opts;
  seg_opts.mode = lcde::TokenizerMode::kSegmentsLibrary;
  auto seglib = lcde::Tokenizer::Load(model, seg_opts);
  if (!fast.ok() || !seglib.ok()) {
    std::fprintf(stderr, "%s\n", (fast.ok() ? seglib.status() : fast.status()).ToString().c_str());
    return 2;
  }
  const lcde::Tokenizer& tf = **fast;
  const lcde::Tokenizer& ts = **seglib;
  std::printf("model      %s\n", model.c_str());
  std::printf("encoder    %s%s%s\n", tf.encoder(), tf.encoder_note().empty() ? "" : " -- ",
              tf.encoder_note().c_str());
  std::printf("corpus     %zu documents, %.2f MB\n", docs.size(), bytes / 1e6);

  if (!profile.empty()) {
    // No check and no library: quick A/B timing of two builds, and a loop
    // for perf and callgrind.
    std::vector<int32_t> ids;
    std::vector<double> cpu_s;
    for (int r = 0; r < runs; ++r) {
      if (profile == "cold") tf.ClearCache();
      const double c0 = ThreadCpuSeconds();
      for (const auto& d : docs) {
        ids.clear();
        (void)tf.Encode(d, false, false, &ids);
      }
      cpu_s.push_back(ThreadCpuSeconds() - c0);
    }
    std::printf("%s cache  %.3f CPU-s (median of %d)\n", profile.c_str(), Median(cpu_s), runs);
    return 0;
  }

  // Exactness: every document, every path.
  uint64_t tokens = 0;
  std::string digest;
  {
    lcde::Sha256 sha;
    std::vector<int32_t> want, got, got2;
    for (size_t d = 0; d < docs.size(); ++d) {
      want.clear();
      got.clear();
      got2.clear();
      if (!tf.EncodeReference(docs[d], false, false, &want).ok() || !tf.Encode(docs[d], false, false, &got).ok() ||
          !ts.Encode(docs[d], false, false, &got2).ok()) {
        std::fprintf(stderr, "encode failed on document %zu\n", d);
        return 1;
      }
      for (const auto* g : {&got, &got2}) {
        if (*g != want) {
          size_t k = 0;
          while (k < want.size() && k < g->size() && want[k] == (*g)[k]) ++k;
          std::fprintf(stderr, "MISMATCH (%s) on document %zu at id %zu of %zu\n",
                       g == &got ? tf.encoder() : ts.encoder(), d, k, want.size());
          return 1;
        }
      }
      tokens += want.size();
      sha.Update(want.data(), want.size() * sizeof(int32_t));
    }
    lcde::Result<std::string> hex = sha.HexDigest();
    digest = hex.ok() ? hex->substr(0, 16) : "?";
    std::printf("check      OK: %s and %s return the reference's ids on all %zu documents (%llu tokens)\n",
                tf.encoder(), ts.encoder(), docs.size(), static_cast<unsigned long long>(tokens));
    std::printf("digest     %s (sha256 of all ids, int32 LE, documents in order)\n", digest.c_str());
  }

  std::vector<int32_t> ids;
  ids.reserve(1 << 20);
  // Seconds of this thread's CPU time (robust to other load on the machine;
  // wall time is printed beside it).
  std::vector<double> wall_lib, wall_cold, wall_warm, wall_seg;
  auto time_pass = [&](const std::function<void(const std::string&)>& encode, std::vector<double>* wall) {
    const double c0 = ThreadCpuSeconds();
    auto t0 = Clock::now();
    for (const auto& d : docs) {
      ids.clear();
      encode(d);
    }
    wall->push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    return ThreadCpuSeconds() - c0;
  };
  std::vector<double> lib_s, cold_s, warm_s, seg_s;
  lcde::TokenizerCacheStats cold_stats;
  for (int r = 0; r < runs; ++r) {
    lib_s.push_back(
        time_pass([&](const std::string& d) { (void)tf.EncodeReference(d, false, false, &ids); }, &wall_lib));
    tf.ClearCache();
    cold_s.push_back(time_pass([&](const std::string& d) { (void)tf.Encode(d, false, false, &ids); }, &wall_cold));
    cold_stats = tf.CacheStats();
    warm_s.push_back(time_pass([&](const std::string& d) { (void)tf.Encode(d, false, false, &ids); }, &wall_warm));
    ts.ClearCache();
    seg_s.push_back(time_pass([&](const std::string& d) { (void)ts.Encode(d, false, false, &ids); }, &wall_seg));
  }
  const double lib = Median(lib_s);
  std::printf("runs       %d (median; rates from thread CPU time)\n", runs);
  std::printf("%-34s %8s %8s %12s %9s %8s\n", "path", "cpu s", "wall s", "tokens/s", "MB/s", "speedup");
  auto row = [&](const char* name, double s, const std::vector<double>& wall) {
    std::printf("%-34s %8.3f %8.3f %12.0f %9.2f %7.1fx\n", name, s, Median(wall), tokens / s, bytes / s / 1e6,
                lib / s);
  };
  row(std::strcmp(tf.kind(), lcde::kSentencePieceKind) == 0 ? "library" : "reference (oniguruma, no cache)", lib,
      wall_lib);
  row((std::string(tf.encoder()) + " (cold cache)").c_str(), Median(cold_s), wall_cold);
  row((std::string(tf.encoder()) + " (warm cache)").c_str(), Median(warm_s), wall_warm);
  row((std::string(ts.encoder()) + " (cold cache)").c_str(), Median(seg_s), wall_seg);
  const uint64_t lookups = cold_stats.hits + cold_stats.misses;
  std::printf("cold-cache pass: %llu segments, hit rate %.2f%%, %llu uncached (long), %llu entries, %.1f MB, "
              "%llu refused (cache full)\n",
              static_cast<unsigned long long>(lookups + cold_stats.uncached),
              lookups ? 100.0 * cold_stats.hits / lookups : 0.0,
              static_cast<unsigned long long>(cold_stats.uncached),
              static_cast<unsigned long long>(cold_stats.entries), cold_stats.bytes / 1e6,
              static_cast<unsigned long long>(cold_stats.refused));
  return 0;
}
