#include "lcde/sampler.h"

#include <gtest/gtest.h>

namespace lcde {
namespace {

MixtureConfig TwoSources(Strategy strategy) {
  MixtureConfig m;
  m.weights_preset = "";
  m.weights = {{"A", 3}, {"B", 1}};
  m.strategy = strategy;
  m.length_threshold = 100;
  m.short_keep_ratio = 0.25;
  return m;
}

TEST(SamplerTest, BudgetsSplitExactlyByWeight) {
  MixtureConfig m = TwoSources(Strategy::kPerSource);
  Sampler s(m, 1, 1001);
  EXPECT_EQ(s.source_names(), (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(s.counts(0).budget_tokens + s.counts(1).budget_tokens, 1001u);
  EXPECT_EQ(s.counts(0).budget_tokens, 751u);  // 750.75 takes the remainder
  EXPECT_EQ(s.counts(1).budget_tokens, 250u);
  EXPECT_DOUBLE_EQ(s.target_share(0), 0.75);
}

TEST(SamplerTest, SlimPajamaBudgetsSumToTotal) {
  MixtureConfig m;
  m.weights = SlimPajamaWeights();
  Sampler s(m, 1, 5000000000ull / 81920 * 81920);
  uint64_t sum = 0;
  for (uint32_t i = 0; i < 7; ++i) sum += s.counts(i).budget_tokens;
  EXPECT_EQ(sum, 5000000000ull / 81920 * 81920);
  EXPECT_EQ(s.source_names()[0], "RedPajamaArXiv");
}

TEST(SamplerTest, PerSourceKeepsLongAndSamplesShort) {
  MixtureConfig m = TwoSources(Strategy::kPerSource);
  Sampler s(m, 42, 1'000'000'000);
  uint64_t take = 0;
  // Long documents are always kept while the budget has room.
  for (uint64_t id = 0; id < 100; ++id) {
    EXPECT_EQ(s.Offer(0, id, 500, false, &take), Sampler::Decision::kKeep);
    EXPECT_EQ(take, 500u);
  }
  // Short ones survive at about the keep ratio, decided by the id alone.
  int kept = 0;
  for (uint64_t id = 1000; id < 21000; ++id) {
    auto d = s.Offer(1, id, 50, false, &take);
    EXPECT_EQ(d == Sampler::Decision::kKeep, s.ShortDocumentSurvives(id));
    kept += d == Sampler::Decision::kKeep;
  }
  EXPECT_NEAR(kept / 20000.0, 0.25, 0.015);
  EXPECT_EQ(s.counts(1).dropped_short, 20000u - kept);
}

TEST(SamplerTest, RepeatsLongDocumentsAndChargesTheCopiesToTheBudget) {
  MixtureConfig m = TwoSources(Strategy::kPerSource);
  m.max_repeats = 3;
  m.repeat_threshold = 200;
  Sampler s(m, 1, 4000);  // A: 3000, B: 1000
  uint64_t take = 0;
  Copies copies;
  // Under the repeat threshold (but long): once.
  ASSERT_EQ(s.Offer(0, 1, 150, false, &take, &copies), Sampler::Decision::kKeep);
  EXPECT_EQ(take, 150u);
  EXPECT_EQ(copies.count, 0u);
  // At the threshold: the document and two copies.
  ASSERT_EQ(s.Offer(0, 2, 1000, false, &take, &copies), Sampler::Decision::kKeep);
  EXPECT_EQ(take, 1000u);
  EXPECT_EQ(copies.count, 2u);
  // 3000 - 150 - 1000 = 1850 left for copies: one whole, the second cut to 850.
  EXPECT_EQ(copies.last_tokens, 850u);
  EXPECT_EQ(copies.total_tokens(1000), 1850u);
  EXPECT_EQ(s.counts(0).kept_tokens, 3000u);
  EXPECT_EQ(s.counts(0).repeated, 2u);
  EXPECT_EQ(s.counts(0).repeated_tokens, 1850u);
  EXPECT_EQ(s.counts(0).kept_long_tokens, 150u + 1000u + 1850u);
  EXPECT_EQ(s.counts(0).kept, 2u);
  EXPECT_TRUE(s.SourceFull(0));
  ASSERT_EQ(s.Offer(0, 4, 300, false, &take, &copies), Sampler::Decision::kDropBudget);
  EXPECT_EQ(copies.count, 0u);
  // A document cut to fit gets no copies.
  ASSERT_EQ(s.Offer(1, 5, 700, false, &take, &copies), Sampler::Decision::kKeep);
  EXPECT_EQ(copies.count, 1u);  // 700 + 300 of a copy
  EXPECT_EQ(copies.last_tokens, 300u);
  Sampler t(m, 1, 4000);
  ASSERT_EQ(t.Offer(1, 6, 1500, false, &take, &copies), Sampler::Decision::kKeep);
  EXPECT_EQ(take, 1000u);
  EXPECT_EQ(copies.count, 0u);
  EXPECT_EQ(t.counts(1).truncated, 1u);
  EXPECT_EQ(t.counts(1).repeated, 0u);
}

TEST(SamplerTest, RepeatsFollowTheStrategysUpsamplingRule) {
  MixtureConfig m = TwoSources(Strategy::kUpsampleSources);
  m.upsample = {"B"};
  m.max_repeats = 2;
  m.repeat_threshold = 100;
  Sampler s(m, 1, 1'000'000);
  EXPECT_FALSE(s.Repeats(0, 500));
  EXPECT_TRUE(s.Repeats(1, 500));
  EXPECT_FALSE(s.Repeats(1, 99));
  uint64_t take = 0;
  Copies copies;
  ASSERT_EQ(s.Offer(0, 1, 500, false, &take, &copies), Sampler::Decision::kKeep);
  EXPECT_EQ(copies.count, 0u);
  ASSERT_EQ(s.Offer(1, 2, 500, false, &take, &copies), Sampler::Decision::kKeep);
  EXPECT_EQ(copies.count, 1u);
  EXPECT_EQ(s.counts(1).kept_tokens, 1000u);
}

TEST(SamplerTest, DrawsDependOnSeedAndIdOnly) {
  MixtureConfig m = TwoSources(Strategy::kPerSource);
  Sampler a(m, 7, 1000), b(m, 7, 1000), c(m, 8, 1000);
  int differ = 0;
  for (uint64_t id = 0; id < 1000; ++id) {
    EXPECT_EQ(a.ShortDocumentSurvives(id), b.ShortDocumentSurvives(id));
    differ += a.ShortDocumentSurvives(id) != c.ShortDocumentSurvives(id);
  }
  EXPECT_GT(differ, 100);
}

TEST(SamplerTest, CrossingDocumentIsCutAndSourceCloses) {
  MixtureConfig m = TwoSources(Strategy::kNone);
  Sampler s(m, 1, 1000);  // A: 750, B: 250
  uint64_t take = 0;
  EXPECT_EQ(s.Offer(1, 1, 200, false, &take), Sampler::Decision::kKeep);
  EXPECT_EQ(s.Offer(1, 2, 200, false, &take), Sampler::Decision::kKeep);
  EXPECT_EQ(take, 50u);
  EXPECT_EQ(s.counts(1).truncated, 1u);
  EXPECT_TRUE(s.SourceFull(1));
  EXPECT_FALSE(s.Done());
  EXPECT_EQ(s.Offer(1, 3, 10, false, &take), Sampler::Decision::kDropBudget);
  EXPECT_EQ(s.Offer(0, 4, 750, false, &take), Sampler::Decision::kKeep);
  EXPECT_TRUE(s.Done());
  EXPECT_EQ(s.kept_tokens(), 1000u);
}

TEST(SamplerTest, NoneKeepsShortDocuments) {
  Sampler s(TwoSources(Strategy::kNone), 1, 1'000'000);
  uint64_t take = 0;
  for (uint64_t id = 0; id < 100; ++id) EXPECT_EQ(s.Offer(0, id, 5, false, &take), Sampler::Decision::kKeep);
}

TEST(SamplerTest, UpsampleSourcesOnlyTouchesListedSources) {
  MixtureConfig m = TwoSources(Strategy::kUpsampleSources);
  m.upsample = {"A"};
  Sampler s(m, 1, 1'000'000);
  EXPECT_TRUE(s.SubjectToKeepRatio(0));
  EXPECT_FALSE(s.SubjectToKeepRatio(1));
  uint64_t take = 0;
  for (uint64_t id = 0; id < 100; ++id) EXPECT_EQ(s.Offer(1, id, 5, false, &take), Sampler::Decision::kKeep);
}

TEST(SamplerTest, GlobalHasOneBudget) {
  Sampler s(TwoSources(Strategy::kGlobal), 1, 1000);
  uint64_t take = 0;
  // Source B alone may fill the whole budget: the mixture drifts.
  EXPECT_EQ(s.Offer(1, 1, 600, false, &take), Sampler::Decision::kKeep);
  EXPECT_EQ(s.Offer(1, 2, 600, false, &take), Sampler::Decision::kKeep);
  EXPECT_EQ(take, 400u);
  EXPECT_TRUE(s.Done());
  EXPECT_EQ(s.Offer(0, 3, 600, false, &take), Sampler::Decision::kDropBudget);
}

TEST(SamplerTest, UnknownSourcesAreDroppedAndNamed) {
  Sampler s(TwoSources(Strategy::kPerSource), 1, 1000);
  uint32_t id = s.SourceId("Mystery");
  EXPECT_EQ(id, 2u);
  EXPECT_EQ(s.SourceId("Mystery"), 2u);
  EXPECT_FALSE(s.HasWeight(id));
  uint64_t take = 0;
  EXPECT_EQ(s.Offer(id, 1, 5000, false, &take), Sampler::Decision::kDropUnknownSource);
  EXPECT_EQ(s.counts(id).seen, 1u);
}

TEST(SamplerTest, KnownShortWithoutTokensIsDroppedWhenDrawFails) {
  Sampler s(TwoSources(Strategy::kPerSource), 3, 1'000'000);
  uint64_t id = 0;
  while (s.ShortDocumentSurvives(id)) ++id;
  uint64_t take = 0;
  EXPECT_EQ(s.Offer(0, id, 0, true, &take), Sampler::Decision::kDropShort);
}

}  // namespace
}  // namespace lcde

namespace lcde {
namespace {

TEST(SamplerTest, LongTokenFractionSplitsTheBudget) {
  MixtureConfig m = TwoSources(Strategy::kPerSource);
  m.long_token_fraction = {{"A", 0.7}};
  Sampler s(m, 1, 1000);  // A: 750 -> 525 long + 225 short
  EXPECT_DOUBLE_EQ(s.LongFractionTarget(0), 0.7);
  EXPECT_LT(s.LongFractionTarget(1), 0);
  EXPECT_FALSE(s.UsesKeepDraw(0));
  EXPECT_TRUE(s.UsesKeepDraw(1));
  uint64_t take = 0;
  // Short documents are not thinned by the draw: they fill the short part.
  for (uint64_t id = 0; id < 4; ++id) EXPECT_EQ(s.Offer(0, id, 50, false, &take), Sampler::Decision::kKeep);
  EXPECT_EQ(s.Offer(0, 10, 50, false, &take), Sampler::Decision::kKeep);
  EXPECT_EQ(take, 25u);  // cut to the short part's 225
  EXPECT_EQ(s.Offer(0, 11, 50, false, &take), Sampler::Decision::kDropShort);
  EXPECT_FALSE(s.SourceFull(0));
  EXPECT_EQ(s.Offer(0, 12, 400, false, &take), Sampler::Decision::kKeep);
  EXPECT_EQ(s.Offer(0, 13, 400, false, &take), Sampler::Decision::kKeep);
  EXPECT_EQ(take, 125u);
  EXPECT_TRUE(s.SourceFull(0));
  EXPECT_EQ(s.counts(0).kept_long_tokens, 525u);
  EXPECT_EQ(s.counts(0).kept_tokens, 750u);
}

}  // namespace
}  // namespace lcde
