// The shared BPE core (bpe_merge.h): both merge paths, the scan (up to
// kScanMergeSymbols symbols) and the heap (longer segments), against the
// rule written out plainly: merge the pair of the best rank, the leftmost
// among equal ranks, until no pair merges.
#include "lcde/tokenizer/bpe_merge.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <utility>
#include <vector>

namespace lcde::tok {
namespace {

struct Rule {
  uint32_t rank;
  int32_t merged;
};
using Rules = std::map<std::pair<int32_t, int32_t>, Rule>;

struct Symbol {
  int32_t key;
  uint32_t len;
};

// The rule, O(n^2) per merge, on a plain vector.
std::vector<Symbol> ReferenceMerge(const Rules& rules, std::vector<Symbol> symbols) {
  for (;;) {
    size_t best = symbols.size();
    Rule best_rule{UINT32_MAX, -1};
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      if (symbols[i].key < 0 || symbols[i + 1].key < 0) continue;
      auto it = rules.find({symbols[i].key, symbols[i + 1].key});
      if (it != rules.end() && it->second.rank < best_rule.rank) {
        best = i;
        best_rule = it->second;
      }
    }
    if (best == symbols.size()) return symbols;
    symbols[best] = Symbol{best_rule.merged, symbols[best].len + symbols[best + 1].len};
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
}

std::vector<Symbol> MergeWithCore(const PairMerges<uint32_t>& merges, BpeWork* work,
                                  const std::vector<Symbol>& symbols) {
  const auto count = static_cast<int32_t>(symbols.size());
  work->Reserve(symbols.size());
  for (size_t i = 0; i < symbols.size(); ++i) {
    work->key[i] = symbols[i].key;
    work->len[i] = symbols[i].len;
  }
  MergeSymbols(merges, work, count);
  std::vector<Symbol> out;
  for (int32_t i = 0; i != -1; i = work->next[static_cast<size_t>(i)]) {
    out.push_back(Symbol{work->key[static_cast<size_t>(i)], work->len[static_cast<size_t>(i)]});
  }
  return out;
}

// A small alphabet (keys 0-5, and -1 that never merges) with merges of few
// distinct ranks, so ties between equal ranks are frequent.
TEST(BpeMergeTest, BothPathsFollowTheRuleOnRandomSegments) {
  std::mt19937 rng(7);
  Rules rules;
  int32_t next_key = 6;
  for (int round = 0; round < 3; ++round) {
    const int32_t known = next_key;
    for (int k = 0; k < 12; ++k) {
      const int32_t a = static_cast<int32_t>(rng() % static_cast<uint32_t>(known));
      const int32_t b = static_cast<int32_t>(rng() % static_cast<uint32_t>(known));
      if (rules.count({a, b}) != 0) continue;
      rules[{a, b}] = Rule{static_cast<uint32_t>(rng() % 4), next_key++};
    }
  }
  PairMerges<uint32_t> merges;
  merges.Init(rules.size());
  for (const auto& [pair, rule] : rules) merges.Put(pair.first, pair.second, rule.rank, rule.merged);

  BpeWork work;
  for (int trial = 0; trial < 3000; ++trial) {
    // Lengths on both sides of kScanMergeSymbols and of a lane block.
    const size_t n = 1 + rng() % 150;
    std::vector<Symbol> symbols(n);
    for (auto& s : symbols) s = Symbol{rng() % 10 == 0 ? -1 : static_cast<int32_t>(rng() % 6), static_cast<uint32_t>(1 + rng() % 3)};
    const auto want = ReferenceMerge(rules, symbols);
    const auto got = MergeWithCore(merges, &work, symbols);
    ASSERT_EQ(got.size(), want.size()) << "segment of " << n << " symbols, trial " << trial;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got[i].key, want[i].key) << "symbol " << i << " of a segment of " << n << ", trial " << trial;
      ASSERT_EQ(got[i].len, want[i].len) << "symbol " << i << " of a segment of " << n << ", trial " << trial;
    }
  }
}

TEST(BpeMergeTest, BestPairTakesTheSmallestRankLeftmost) {
  std::vector<uint32_t> rank(16, kNoPair);
  EXPECT_EQ(BestPair(rank.data(), 16), -1);
  rank[11] = 5;
  EXPECT_EQ(BestPair(rank.data(), 16), 11);
  rank[3] = 5;
  EXPECT_EQ(BestPair(rank.data(), 16), 3);  // the leftmost of equal ranks
  rank[9] = 2;
  EXPECT_EQ(BestPair(rank.data(), 16), 9);
  rank[0] = 0;
  EXPECT_EQ(BestPair(rank.data(), 8), 0);
}

// The 16-bit scan (ranks of 16-bit keys) on every position and rank that
// can meet: ranks on both sides of 0x8000 (the lanes compare signed after
// a flip), the largest real rank next to kNoPair16, ties, and blocks.
TEST(BpeMergeTest, SixteenBitBestPairTakesTheSmallestRankLeftmost) {
  std::vector<uint16_t> rank(64, kNoPair16);
  EXPECT_EQ(BestPair(rank.data(), 64), -1);
  rank[63] = kNoPair16 - 1;
  EXPECT_EQ(BestPair(rank.data(), 64), 63);
  rank[40] = 0x8000;
  EXPECT_EQ(BestPair(rank.data(), 64), 40);
  rank[41] = 0x7FFF;
  EXPECT_EQ(BestPair(rank.data(), 64), 41);
  rank[9] = 0x7FFF;
  EXPECT_EQ(BestPair(rank.data(), 64), 9);  // the leftmost of equal ranks
  EXPECT_EQ(BestPair(rank.data(), 8), -1);
  rank[7] = 0;
  EXPECT_EQ(BestPair(rank.data(), 8), 7);
  std::mt19937 rng(16);
  for (int trial = 0; trial < 20000; ++trial) {
    const int32_t padded = kRankLanes * (1 + static_cast<int32_t>(rng() % 8));
    for (int32_t i = 0; i < padded; ++i) {
      const uint32_t kind = rng() % 4;
      rank[static_cast<size_t>(i)] = kind == 0   ? kNoPair16
                                     : kind == 1 ? static_cast<uint16_t>(rng() % 4)
                                                 : static_cast<uint16_t>(rng() % kNoPair16);
    }
    int32_t want = -1;
    for (int32_t i = 0; i < padded; ++i) {
      if (rank[static_cast<size_t>(i)] != kNoPair16 && (want < 0 || rank[static_cast<size_t>(i)] < rank[static_cast<size_t>(want)])) want = i;
    }
    ASSERT_EQ(BestPair(rank.data(), padded), want) << "trial " << trial;
  }
}

}  // namespace
}  // namespace lcde::tok
