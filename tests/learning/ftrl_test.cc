// Tests of the FTRL-Proximal learner: bit-exact agreement with a plain
// reference of McMahan et al. 2013 Algorithm 1, learning a synthetic logistic
// problem, L1 sparsity, input guards (nothing changes on rejection), gradient
// and weight clipping, Publish semantics (including the reuse of retired
// buffers), concurrent readers and writers, and snapshots (bit-exact round
// trip; every corruption and truncation rejected).
#include "learning/ftrl.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <thread>

#include "learning/feature_hasher.h"
#include "learning/internal/snapshot_codec.h"

namespace rtml::learning {
namespace {

using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Options under which clipping never binds, so the learner must equal the paper.
FtrlOptions PaperOptions() {
  FtrlOptions o;
  o.alpha = 0.5;
  o.beta = 1.0;
  o.l1 = 0.3;
  o.l2 = 0.7;
  o.bits = 10;
  o.max_abs_gradient = 1e9;
  o.max_abs_weight = 1e9;
  return o;
}

// Algorithm 1 of the paper, written out in plain double loops.
struct ReferenceFtrl {
  explicit ReferenceFtrl(const FtrlOptions& o)
      : opt(o), z(size_t{1} << o.bits), n(size_t{1} << o.bits) {}

  double Weight(size_t i) const {
    if (std::abs(z[i]) <= opt.l1) return 0.0;
    const double sgn = z[i] < 0 ? -1.0 : 1.0;
    return -(z[i] - sgn * opt.l1) / ((opt.beta + std::sqrt(n[i])) / opt.alpha + opt.l2);
  }

  double Step(const std::vector<HashedFeature>& x, double y, double importance) {
    std::vector<double> w(x.size());
    double margin = 0;
    for (size_t k = 0; k < x.size(); ++k) {
      w[k] = Weight(x[k].index);
      margin += w[k] * static_cast<double>(x[k].value);
    }
    const double p = 1.0 / (1.0 + std::exp(-margin));
    for (size_t k = 0; k < x.size(); ++k) {
      const size_t i = x[k].index;
      const double g = importance * (p - y) * static_cast<double>(x[k].value);
      const double sigma = (std::sqrt(n[i] + g * g) - std::sqrt(n[i])) / opt.alpha;
      z[i] += g - sigma * w[k];
      n[i] += g * g;
    }
    return p;
  }

  FtrlOptions opt;
  std::vector<double> z, n;
};

// Random sparse examples with distinct indices, labels from a hidden model.
struct Example {
  std::vector<HashedFeature> x;
  double label;
  double weight;
};

std::vector<Example> SyntheticExamples(int count, int bits, uint32_t seed,
                                       bool soft_labels = false) {
  std::mt19937 rng(seed);
  const uint32_t size = 1u << bits;
  std::vector<double> truth(size);
  std::normal_distribution<double> normal(0, 1.5);
  for (auto& t : truth) t = normal(rng);
  std::uniform_int_distribution<uint32_t> index(0, size - 1);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<Example> out;
  for (int e = 0; e < count; ++e) {
    Example ex;
    std::set<uint32_t> used;
    const int nf = 3 + static_cast<int>(rng() % 6);
    double margin = 0;
    while (static_cast<int>(ex.x.size()) < nf) {
      const uint32_t i = index(rng);
      if (!used.insert(i).second) continue;
      const float v = rng() % 2 ? 1.0f : static_cast<float>(unit(rng) * 4 - 2);
      ex.x.push_back({i, v});
      margin += truth[i] * v;
    }
    const double p = 1 / (1 + std::exp(-margin));
    ex.label = soft_labels ? std::round(p * 8) / 8 : (unit(rng) < p ? 1.0 : 0.0);
    ex.weight = 0.5 + unit(rng) * 2;
    out.push_back(std::move(ex));
  }
  return out;
}

std::vector<FtrlLearner::Coordinate> AllCoordinates(const FtrlLearner& l) {
  std::vector<FtrlLearner::Coordinate> out;
  for (uint32_t i = 0; i < (1u << l.options().bits); ++i) out.push_back(l.coordinate(i));
  return out;
}

void ExpectSameCoordinates(const std::vector<FtrlLearner::Coordinate>& a,
                           const std::vector<FtrlLearner::Coordinate>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(std::bit_cast<uint64_t>(a[i].z), std::bit_cast<uint64_t>(b[i].z)) << i;
    ASSERT_EQ(std::bit_cast<uint64_t>(a[i].n), std::bit_cast<uint64_t>(b[i].n)) << i;
    ASSERT_EQ(std::bit_cast<uint64_t>(a[i].w), std::bit_cast<uint64_t>(b[i].w)) << i;
  }
}

// Every published weight equals the writer's weight for that coordinate.
void ExpectPublishedMatchesWriter(const FtrlLearner& l) {
  auto current = l.Current();
  for (uint32_t i = 0; i < current->size(); ++i) {
    ASSERT_EQ(current->weight(i), l.coordinate(i).w) << "coordinate " << i;
  }
}

// ------------------------------------------------------------ options

TEST(FtrlOptionsTest, DefaultsAreValid) {
  EXPECT_TRUE(ValidateOptions(FtrlOptions{}).ok());
  EXPECT_GT(FtrlOptions{}.l1, 0);
}

TEST(FtrlOptionsTest, EachBadFieldIsNamed) {
  struct Case {
    const char* field;
    void (*mutate)(FtrlOptions&);
  };
  const Case cases[] = {
      {"alpha", [](FtrlOptions& o) { o.alpha = 0; }},
      {"alpha", [](FtrlOptions& o) { o.alpha = kNaN; }},
      {"alpha", [](FtrlOptions& o) { o.alpha = 1e-310; }},  // subnormal: updates made NaN (fuzz)
      {"beta", [](FtrlOptions& o) { o.beta = -1; }},
      {"l1", [](FtrlOptions& o) { o.l1 = -0.1; }},
      {"l2", [](FtrlOptions& o) { o.l2 = kInf; }},
      {"bits", [](FtrlOptions& o) { o.bits = 9; }},
      {"bits", [](FtrlOptions& o) { o.bits = 27; }},
      {"max_abs_gradient", [](FtrlOptions& o) { o.max_abs_gradient = 0; }},
      {"max_abs_feature_value", [](FtrlOptions& o) { o.max_abs_feature_value = -1; }},
      {"max_abs_weight", [](FtrlOptions& o) { o.max_abs_weight = kNaN; }},
      {"beta and l2",
       [](FtrlOptions& o) {
         o.beta = 0;
         o.l2 = 0;
       }},
  };
  for (const Case& c : cases) {
    FtrlOptions o;
    c.mutate(o);
    Status s = ValidateOptions(o);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(s.message(), HasSubstr(c.field));
    EXPECT_FALSE(FtrlLearner::Create(o).ok()) << c.field;
  }
}

TEST(FtrlOptionsTest, ConstructorReplacesBadFieldsWithDefaults) {
  FtrlOptions o;
  o.alpha = 0;
  o.l2 = kNaN;
  o.bits = 3;
  o.max_abs_gradient = -1;
  o.l1 = 2;
  FtrlLearner l(o);
  EXPECT_EQ(l.options().alpha, FtrlOptions{}.alpha);
  EXPECT_EQ(l.options().l2, FtrlOptions{}.l2);
  EXPECT_EQ(l.options().bits, 10);
  EXPECT_EQ(l.options().max_abs_gradient, FtrlOptions{}.max_abs_gradient);
  EXPECT_EQ(l.options().l1, 2.0);  // valid fields are kept
  EXPECT_TRUE(ValidateOptions(l.options()).ok());
}

// ------------------------------------------------------------ algorithm

TEST(FtrlTest, MatchesPaperReferenceBitForBit) {
  for (bool soft : {false, true}) {
    const FtrlOptions opt = PaperOptions();
    FtrlLearner learner(opt);
    ReferenceFtrl ref(opt);
    const auto examples = SyntheticExamples(3000, opt.bits, soft ? 11 : 7, soft);
    double ref_logloss = 0;
    for (const Example& ex : examples) {
      const double p = ref.Step(ex.x, ex.label, ex.weight);
      ref_logloss += -(ex.label * std::log(p) + (1 - ex.label) * std::log(1 - p));
      ASSERT_TRUE(learner.Update(ex.x, ex.label, ex.weight).ok());
    }
    int nonzero = 0, zero_touched = 0;
    for (uint32_t i = 0; i < (1u << opt.bits); ++i) {
      const auto c = learner.coordinate(i);
      ASSERT_EQ(c.z, ref.z[i]) << i;
      ASSERT_EQ(c.n, ref.n[i]) << i;
      ASSERT_EQ(c.w, ref.Weight(i)) << i;
      nonzero += c.w != 0;
      zero_touched += (c.w == 0 && c.n > 0);
    }
    EXPECT_GT(nonzero, 500);     // the comparison covers real weights...
    EXPECT_GT(zero_touched, 0);  // ...and coordinates L1 holds at zero
    learner.Publish();
    auto w = learner.Current();
    EXPECT_EQ(w->version(), examples.size());
    for (const Example& ex : examples) {
      double margin = 0;
      for (const auto& f : ex.x) margin += ref.Weight(f.index) * static_cast<double>(f.value);
      ASSERT_EQ(w->Margin(ex.x), margin);
      ASSERT_EQ(w->Predict(ex.x), 1.0 / (1.0 + std::exp(-margin)));
    }
    const auto m = learner.metrics();
    EXPECT_EQ(m.updates, examples.size());
    EXPECT_NEAR(m.logloss, ref_logloss / static_cast<double>(examples.size()), 1e-12);
  }
}

TEST(FtrlTest, FirstUpdateByHand) {
  FtrlOptions o;
  o.alpha = 0.1;
  o.beta = 1;
  o.l1 = 0.1;
  o.l2 = 1;
  o.bits = 10;
  FtrlLearner l(o);
  const std::vector<HashedFeature> x = {{3, 1.0f}, {5, 2.0f}};
  ASSERT_TRUE(l.Update(x, 1.0).ok());
  // p = 0.5; g = (0.5 - 1) * x = -0.5, -1; w was 0 so z = g, n = g^2.
  EXPECT_EQ(l.coordinate(3).z, -0.5);
  EXPECT_EQ(l.coordinate(3).n, 0.25);
  EXPECT_EQ(l.coordinate(5).z, -1.0);
  EXPECT_EQ(l.coordinate(5).n, 1.0);
  // w = -(z - sgn(z) l1) / ((beta + sqrt(n)) / alpha + l2)
  EXPECT_DOUBLE_EQ(l.coordinate(3).w, 0.4 / (1.5 / 0.1 + 1));
  EXPECT_DOUBLE_EQ(l.coordinate(5).w, 0.9 / (2.0 / 0.1 + 1));
  const auto m = l.metrics();
  EXPECT_DOUBLE_EQ(m.logloss, std::log(2.0));
  EXPECT_EQ(m.recent_count, 1u);
  EXPECT_TRUE(std::isnan(m.auc));  // one class only
}

TEST(FtrlTest, LearnsSyntheticLogisticProblem) {
  FtrlOptions o;  // defaults
  FtrlLearner learner(o);
  const FeatureHasher hasher(o.bits);
  std::mt19937 rng(42);
  std::normal_distribution<double> normal(0, 1);
  std::uniform_int_distribution<int> category(0, 49);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<double> cat_effect(50);
  for (auto& c : cat_effect) c = normal(rng) * 1.5;
  std::vector<HashedFeature> x;
  for (int t = 0; t < 30000; ++t) {
    x.clear();
    hasher.Bias(x);
    const double a = normal(rng), b = normal(rng);
    const int c = category(rng);
    hasher.Numeric("a", a, x);
    hasher.Numeric("b", b, x);
    hasher.Categorical("c", std::to_string(c), x);
    const double margin = 2.0 * a - 1.5 * b + cat_effect[static_cast<size_t>(c)] - 0.5;
    const double label = unit(rng) < 1 / (1 + std::exp(-margin)) ? 1.0 : 0.0;
    ASSERT_TRUE(learner.Update(x, label).ok());
  }
  const auto m = learner.metrics();
  EXPECT_EQ(m.recent_count, FtrlLearner::kRecentWindow);
  EXPECT_GT(m.auc, 0.9);
  EXPECT_LT(m.recent_logloss, 0.45);
  EXPECT_LT(m.recent_logloss, m.logloss + 1e-9);  // it kept learning
  EXPECT_LT(m.logloss, std::log(2.0));
}

TEST(FtrlTest, L1ProducesExactZeros) {
  // Feature 1 carries the label, feature 2 is noise independent of it.
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<Example> examples;
  for (int t = 0; t < 4000; ++t) {
    const double label = unit(rng) < 0.5 ? 1.0 : 0.0;
    Example ex;
    ex.x.push_back({1, label > 0 ? 1.0f : -1.0f});
    if (unit(rng) < 0.3) ex.x.push_back({2, 1.0f});
    ex.label = label;
    ex.weight = 1;
    examples.push_back(ex);
  }
  FtrlOptions sparse;
  sparse.bits = 10;
  sparse.l1 = 20;
  FtrlOptions dense = sparse;
  dense.l1 = 0;
  FtrlLearner with_l1(sparse), without_l1(dense);
  for (const Example& ex : examples) {
    ASSERT_TRUE(with_l1.Update(ex.x, ex.label).ok());
    ASSERT_TRUE(without_l1.Update(ex.x, ex.label).ok());
  }
  with_l1.Publish();
  EXPECT_GT(with_l1.coordinate(2).n, 0);    // it was trained...
  EXPECT_EQ(with_l1.coordinate(2).w, 0.0);  // ...and is exactly zero
  EXPECT_EQ(with_l1.Current()->weight(2), 0.0);
  EXPECT_NE(without_l1.coordinate(2).w, 0.0);
  EXPECT_GT(with_l1.coordinate(1).w, 1.0);  // the signal survives L1
}

TEST(FtrlTest, RejectsBadInputAndChangesNothing) {
  FtrlOptions o;
  o.bits = 10;
  FtrlLearner l(o);
  const auto warmup = SyntheticExamples(200, o.bits, 5);
  for (const Example& ex : warmup) ASSERT_TRUE(l.Update(ex.x, ex.label).ok());
  l.Publish();
  const auto before = AllCoordinates(l);
  const auto published = l.Current();
  const auto metrics_before = l.metrics();

  struct Case {
    std::vector<HashedFeature> x;
    double label, weight;
    const char* message;
  };
  const float fnan = std::numeric_limits<float>::quiet_NaN();
  const float finf = std::numeric_limits<float>::infinity();
  const std::vector<Case> cases = {
      {{{1, 1.0f}, {2, fnan}}, 1, 1, "feature 1 (index 2): value is not finite"},
      {{{1, finf}}, 1, 1, "value is not finite"},
      {{{1, -finf}}, 0, 1, "value is not finite"},
      {{{1, 1.0f}, {7, 2e4f}}, 1, 1, "exceeds max_abs_feature_value"},
      {{{1, -1e5f}}, 1, 1, "exceeds max_abs_feature_value"},
      {{{1024, 1.0f}}, 1, 1, "outside the 2^10-coordinate table"},
      {{{1, 1.0f}}, -0.1, 1, "label must be finite and in [0, 1]"},
      {{{1, 1.0f}}, 1.5, 1, "label"},
      {{{1, 1.0f}}, kNaN, 1, "label"},
      {{{1, 1.0f}}, kInf, 1, "label"},
      {{{1, 1.0f}}, 1, 0, "weight must be finite and > 0"},
      {{{1, 1.0f}}, 1, -2, "weight"},
      {{{1, 1.0f}}, 1, kNaN, "weight"},
      {{{1, 1.0f}}, 1, kInf, "weight"},
  };
  for (const Case& c : cases) {
    Status s = l.Update(c.x, c.label, c.weight);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(s.message(), HasSubstr(c.message));
  }
  l.Publish();  // nothing to publish
  EXPECT_EQ(l.Current(), published);
  ExpectSameCoordinates(AllCoordinates(l), before);
  const auto m = l.metrics();
  EXPECT_EQ(m.updates, metrics_before.updates);
  EXPECT_EQ(m.rejected, cases.size());
  EXPECT_EQ(m.logloss, metrics_before.logloss);
  EXPECT_EQ(m.recent_count, metrics_before.recent_count);
}

TEST(FtrlTest, ValueAtTheLimitIsAccepted) {
  FtrlOptions o;
  o.bits = 10;
  o.max_abs_feature_value = 100;
  FtrlLearner l(o);
  const std::vector<HashedFeature> x = {{4, -100.0f}};
  EXPECT_TRUE(l.Update(x, 1.0).ok());
  const std::vector<HashedFeature> y = {{4, 100.5f}};
  EXPECT_FALSE(l.Update(y, 1.0).ok());
}

TEST(FtrlTest, GradientIsClippedPerCoordinate) {
  FtrlOptions o;
  o.bits = 10;
  o.max_abs_gradient = 10;
  FtrlLearner clipped(o);
  o.max_abs_gradient = 1e9;
  FtrlLearner unclipped(o);
  // p = 0.5, label 1, x = 1000: raw g = -500; importance weight 4: -2000.
  const std::vector<HashedFeature> x = {{9, 1000.0f}, {10, 0.01f}};
  ASSERT_TRUE(clipped.Update(x, 1.0, 4.0).ok());
  ASSERT_TRUE(unclipped.Update(x, 1.0, 4.0).ok());
  EXPECT_EQ(clipped.coordinate(9).z, -10.0);
  EXPECT_EQ(clipped.coordinate(9).n, 100.0);
  EXPECT_EQ(unclipped.coordinate(9).z, -2000.0);
  EXPECT_EQ(unclipped.coordinate(9).n, 4e6);
  // The small coordinate is under the limit and untouched by clipping.
  EXPECT_EQ(clipped.coordinate(10).z, unclipped.coordinate(10).z);
  EXPECT_NEAR(clipped.coordinate(10).z, -4 * 0.5 * 0.01, 1e-9);
}

TEST(FtrlTest, WeightsAreClampedToMaxAbsWeight) {
  FtrlOptions o;
  o.bits = 10;
  o.alpha = 1000;
  o.beta = 0.001;
  o.l1 = 0;
  o.l2 = 0;
  o.max_abs_weight = 3;
  FtrlLearner l(o);
  const std::vector<HashedFeature> x = {{1, 1.0f}};
  ASSERT_TRUE(l.Update(x, 1.0).ok());
  // Unclamped: 0.5 / (1.001 / 1000) ~ 499.5.
  EXPECT_EQ(l.coordinate(1).w, 3.0);
  ASSERT_TRUE(l.Update(x, 0.0).ok());
  ASSERT_TRUE(l.Update(x, 0.0).ok());
  ASSERT_TRUE(l.Update(x, 0.0).ok());
  EXPECT_GE(l.coordinate(1).w, -3.0);
  EXPECT_LE(l.coordinate(1).w, 3.0);
  l.Publish();
  const std::vector<HashedFeature> big = {{1, 1e4f}};
  EXPECT_LE(std::abs(l.Current()->Margin(big)), 3e4);
}

TEST(FtrlTest, EmptyFeatureVectorPredictsHalf) {
  FtrlLearner l(FtrlOptions{.bits = 10});
  EXPECT_TRUE(l.Update({}, 1.0).ok());
  EXPECT_EQ(l.metrics().updates, 1u);
  EXPECT_EQ(l.Current()->Predict({}), 0.5);
}

TEST(FtrlWeightsTest, MarginMasksIndicesAndSkipsNonFinite) {
  FtrlLearner l(FtrlOptions{.bits = 10});
  const std::vector<HashedFeature> x = {{5, 1.0f}};
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(l.Update(x, 1.0).ok());
  l.Publish();
  auto w = l.Current();
  const double w5 = w->weight(5);
  ASSERT_GT(w5, 0);
  const std::vector<HashedFeature> wide = {{5 + 1024 * 7, 2.0f},
                                           {5, std::numeric_limits<float>::quiet_NaN()},
                                           {5, std::numeric_limits<float>::infinity()}};
  EXPECT_EQ(w->Margin(wide), 2 * w5);
}

// ------------------------------------------------------------ publish

TEST(FtrlPublishTest, CurrentChangesOnlyOnPublish) {
  FtrlLearner l(FtrlOptions{.bits = 12});
  auto v0 = l.Current();
  EXPECT_EQ(v0->version(), 0u);
  const std::vector<HashedFeature> x = {{1, 1.0f}, {2, 1.0f}};
  EXPECT_EQ(v0->Predict(x), 0.5);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(l.Update(x, 1.0).ok());
  EXPECT_EQ(l.Current(), v0);
  EXPECT_EQ(l.Current()->Predict(x), 0.5);
  EXPECT_EQ(l.metrics().published_version, 0u);
  l.Publish();
  auto v1 = l.Current();
  EXPECT_NE(v1, v0);
  EXPECT_EQ(v1->version(), 10u);
  EXPECT_GT(v1->Predict(x), 0.5);
  EXPECT_EQ(v0->Predict(x), 0.5);  // the old snapshot is untouched
  EXPECT_EQ(l.metrics().published_version, 10u);
  l.Publish();  // nothing new: same snapshot
  EXPECT_EQ(l.Current(), v1);
  ASSERT_TRUE(l.Update(x, 0.0).ok());
  l.Publish();
  EXPECT_EQ(l.Current()->version(), 11u);
  EXPECT_LT(l.Current()->Predict(x), v1->Predict(x));
}

// Exercises every path of Publish: reuse of the retired buffer (readers gone),
// a fresh copy (a reader still holds it), small deltas and full copies (more
// than 1/8 of the table dirty), each checked against the writer's weights.
TEST(FtrlPublishTest, PublishedWeightsAlwaysEqualWriterWeights) {
  FtrlOptions o;
  o.bits = 10;
  FtrlLearner l(o);
  std::mt19937 rng(9);
  std::vector<std::shared_ptr<const FtrlWeights>> held;
  std::vector<std::vector<double>> held_copies;
  for (int round = 0; round < 60; ++round) {
    const int updates = round % 7 == 3 ? 400 : 1 + static_cast<int>(rng() % 20);
    for (int u = 0; u < updates; ++u) {
      std::vector<HashedFeature> x;
      for (int k = 0; k < 4; ++k) x.push_back({static_cast<uint32_t>(rng() % 1024), 1.0f});
      std::sort(x.begin(), x.end(), [](auto& a, auto& b) { return a.index < b.index; });
      x.erase(std::unique(x.begin(), x.end(), [](auto& a, auto& b) { return a.index == b.index; }),
              x.end());
      ASSERT_TRUE(l.Update(x, rng() % 2 ? 1.0 : 0.0).ok());
    }
    l.Publish();
    ExpectPublishedMatchesWriter(l);
    if (round % 5 == 0) {  // a long-lived reader pins this snapshot
      held.push_back(l.Current());
      std::vector<double> copy;
      for (uint32_t i = 0; i < 1024; ++i) copy.push_back(held.back()->weight(i));
      held_copies.push_back(std::move(copy));
    }
    if (round % 11 == 10) {
      held.clear();
      held_copies.clear();
    }
    for (size_t h = 0; h < held.size(); ++h) {  // pinned snapshots never change
      for (uint32_t i = 0; i < 1024; ++i) ASSERT_EQ(held[h]->weight(i), held_copies[h][i]);
    }
  }
  EXPECT_EQ(l.Current()->version(), l.metrics().updates);
}

TEST(FtrlPublishTest, ConcurrentReadersSeeWholeSnapshots) {
  // Every update touches the group {10..17} with the same value, so in any
  // whole snapshot those 8 weights are equal; a torn read would differ.
  FtrlOptions o;
  o.bits = 12;
  FtrlLearner l(o);
  std::vector<HashedFeature> group;
  for (uint32_t i = 10; i < 18; ++i) group.push_back({i, 0.25f});
  std::atomic<bool> stop{false};
  std::atomic<int> violations{0};
  std::atomic<uint64_t> reads{0};
  auto reader = [&] {
    uint64_t last_version = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      auto w = l.Current();
      if (w->version() < last_version) violations.fetch_add(1);
      last_version = w->version();
      const double first = w->weight(10);
      for (uint32_t i = 11; i < 18; ++i) {
        if (w->weight(i) != first) violations.fetch_add(1);
      }
      const double p = w->Predict(group);
      if (!(p >= 0 && p <= 1)) violations.fetch_add(1);
      if (w->weight(10) != first) violations.fetch_add(1);  // stable while held
      reads.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) readers.emplace_back(reader);
  auto writer = [&](int id) {
    for (int t = 0; t < 4000; ++t) {
      ASSERT_TRUE(l.Update(group, (t + id) % 3 == 0 ? 1.0 : 0.0).ok());
      if (t % 10 == 0) l.Publish();
    }
  };
  std::thread w1(writer, 0), w2(writer, 1);
  w1.join();
  w2.join();
  l.Publish();
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_GT(reads.load(), 0u);
  EXPECT_EQ(l.metrics().updates, 8000u);
  EXPECT_EQ(l.Current()->version(), 8000u);
  ExpectPublishedMatchesWriter(l);
}

// ------------------------------------------------------------ snapshots

std::unique_ptr<FtrlLearner> TrainedLearner(int examples) {
  FtrlOptions o = PaperOptions();
  o.max_abs_gradient = 5;
  auto l = std::make_unique<FtrlLearner>(o);
  for (const Example& ex : SyntheticExamples(examples, o.bits, 21)) {
    EXPECT_TRUE(l->Update(ex.x, ex.label, ex.weight).ok());
  }
  const std::vector<HashedFeature> bad = {{1, std::numeric_limits<float>::quiet_NaN()}};
  EXPECT_FALSE(l->Update(bad, 1).ok());
  return l;
}

TEST(FtrlSnapshotTest, RoundTripIsBitExact) {
  auto original = TrainedLearner(12000);  // wraps the recent window
  const std::string bytes = original->SaveSnapshot();
  auto loaded = FtrlLearner::LoadSnapshot(bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  FtrlLearner& copy = **loaded;
  EXPECT_EQ(copy.SaveSnapshot(), bytes);
  ExpectSameCoordinates(AllCoordinates(copy), AllCoordinates(*original));
  EXPECT_EQ(copy.options().alpha, original->options().alpha);
  EXPECT_EQ(copy.options().max_abs_gradient, 5.0);
  // Current() of the loaded learner holds every saved update.
  EXPECT_EQ(copy.Current()->version(), 12000u);
  ExpectPublishedMatchesWriter(copy);
  const auto a = original->metrics(), b = copy.metrics();
  EXPECT_EQ(a.updates, b.updates);
  EXPECT_EQ(a.rejected, b.rejected);
  EXPECT_EQ(b.rejected, 1u);
  EXPECT_EQ(a.logloss, b.logloss);
  EXPECT_EQ(a.auc, b.auc);
  EXPECT_EQ(a.recent_logloss, b.recent_logloss);
  // Both continue identically.
  for (const Example& ex : SyntheticExamples(500, 10, 99)) {
    ASSERT_TRUE(original->Update(ex.x, ex.label, ex.weight).ok());
    ASSERT_TRUE(copy.Update(ex.x, ex.label, ex.weight).ok());
  }
  EXPECT_EQ(copy.SaveSnapshot(), original->SaveSnapshot());
}

TEST(FtrlSnapshotTest, FreshLearnerRoundTrips) {
  FtrlLearner l(FtrlOptions{.bits = 10});
  auto loaded = FtrlLearner::LoadSnapshot(l.SaveSnapshot());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->metrics().updates, 0u);
  EXPECT_EQ((*loaded)->options().l1, FtrlOptions{}.l1);
}

TEST(FtrlSnapshotTest, EveryTruncationIsRejected) {
  auto l = TrainedLearner(50);
  const std::string bytes = l->SaveSnapshot();
  for (size_t len = 0; len < bytes.size(); ++len) {
    auto r = FtrlLearner::LoadSnapshot(std::string_view(bytes).substr(0, len));
    ASSERT_FALSE(r.ok()) << len;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("truncated")) << len;
  }
  auto longer = FtrlLearner::LoadSnapshot(bytes + "x");
  ASSERT_FALSE(longer.ok());
  EXPECT_THAT(longer.status().message(), HasSubstr("trailing"));
}

TEST(FtrlSnapshotTest, EveryFlippedByteIsRejected) {
  auto l = TrainedLearner(50);
  const std::string bytes = l->SaveSnapshot();
  for (size_t pos = 0; pos < bytes.size(); ++pos) {
    std::string bad = bytes;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x10);
    auto r = FtrlLearner::LoadSnapshot(bad);
    ASSERT_FALSE(r.ok()) << "byte " << pos;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(FtrlSnapshotTest, ErrorsSayWhatIsWrong) {
  auto l = TrainedLearner(20);
  const std::string bytes = l->SaveSnapshot();
  std::string magic = bytes;
  magic[0] = 'X';
  EXPECT_THAT(FtrlLearner::LoadSnapshot(magic).status().message(), HasSubstr("bad magic"));
  std::string version = bytes;
  version[8] = 9;
  EXPECT_THAT(FtrlLearner::LoadSnapshot(version).status().message(),
              HasSubstr("unsupported format version 9"));
  std::string payload = bytes;
  payload[40] = static_cast<char>(payload[40] ^ 1);
  EXPECT_THAT(FtrlLearner::LoadSnapshot(payload).status().message(),
              HasSubstr("checksum mismatch"));
  EXPECT_THAT(FtrlLearner::LoadSnapshot("").status().message(), HasSubstr("truncated"));
}

// A well-formed checksum over bad content is still refused.
TEST(FtrlSnapshotTest, ValidChecksumOverBadContentIsRejected) {
  auto l = TrainedLearner(20);
  const std::string bytes = l->SaveSnapshot();
  auto reseal = [](std::string s) {
    s.resize(s.size() - 4);
    const uint32_t crc = internal::Crc32(s);
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((crc >> (8 * i)) & 0xFF));
    return s;
  };
  // Options start at byte 20: alpha = -1.
  std::string alpha = bytes;
  const uint64_t minus_one = std::bit_cast<uint64_t>(-1.0);
  for (int i = 0; i < 8; ++i) alpha[20 + i] = static_cast<char>((minus_one >> (8 * i)) & 0xFF);
  auto r = FtrlLearner::LoadSnapshot(reseal(alpha));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("alpha"));
  // The last coordinate's n (8 bytes before the CRC) made negative.
  std::string n = bytes;
  n[n.size() - 5] = static_cast<char>(n[n.size() - 5] | 0x80);
  r = FtrlLearner::LoadSnapshot(reseal(n));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("negative n"));
}

TEST(SnapshotCodecTest, Crc32CheckValue) { EXPECT_EQ(internal::Crc32("123456789"), 0xCBF43926u); }

}  // namespace
}  // namespace rtml::learning
