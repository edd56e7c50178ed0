// Tests of exploration: epsilon-greedy and softmax probabilities (ties, NaN,
// huge scores, temperature), option validation, and SampleAction's inverse
// CDF (boundaries and an empirical distribution).
#include "learning/explore.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace rtml::learning {
namespace {

using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<double> Probabilities(const std::vector<double>& scores, ExploreOptions o) {
  std::vector<double> p(scores.size(), -1.0);
  ActionProbabilities(scores, o, p);
  return p;
}

double Sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

TEST(ExploreTest, ValidatesOptions) {
  EXPECT_TRUE(ValidateExplore({}).ok());
  EXPECT_TRUE(ValidateExplore({ExploreKind::kSoftmax, 0, 1}).ok());
  for (double eps : {-0.01, 1.01, kNaN, kInf}) {
    Status s = ValidateExplore({ExploreKind::kEpsilonGreedy, eps, 0.1});
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("epsilon"));
  }
  for (double t : {0.0, -1.0, 1e-9, 1e7, kNaN}) {
    Status s = ValidateExplore({ExploreKind::kSoftmax, 0.1, t});
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("temperature"));
  }
  EXPECT_FALSE(ValidateExplore({static_cast<ExploreKind>(7), 0.1, 0.1}).ok());
}

TEST(ExploreTest, EpsilonGreedyGivesBestOneMinusEpsPlusEpsOverK) {
  const auto p = Probabilities({0.1, 0.9, 0.4, 0.2}, {ExploreKind::kEpsilonGreedy, 0.2, 1});
  EXPECT_DOUBLE_EQ(p[1], 1 - 0.2 + 0.2 / 4);
  EXPECT_DOUBLE_EQ(p[0], 0.05);
  EXPECT_DOUBLE_EQ(p[2], 0.05);
  EXPECT_DOUBLE_EQ(p[3], 0.05);
  EXPECT_DOUBLE_EQ(Sum(p), 1.0);
}

TEST(ExploreTest, EpsilonGreedyTiesGoToLowestIndex) {
  const auto p = Probabilities({0.3, 0.7, 0.7, 0.7}, {ExploreKind::kEpsilonGreedy, 0.1, 1});
  EXPECT_DOUBLE_EQ(p[1], 0.9 + 0.025);
  EXPECT_DOUBLE_EQ(p[2], 0.025);
  EXPECT_DOUBLE_EQ(p[3], 0.025);
}

TEST(ExploreTest, EpsilonExtremes) {
  const auto greedy = Probabilities({1, 5, 3}, {ExploreKind::kEpsilonGreedy, 0, 1});
  EXPECT_EQ(greedy, (std::vector<double>{0, 1, 0}));
  const auto uniform = Probabilities({1, 5, 3}, {ExploreKind::kEpsilonGreedy, 1, 1});
  for (double v : uniform) EXPECT_DOUBLE_EQ(v, 1.0 / 3);
  const auto single = Probabilities({-2}, {ExploreKind::kEpsilonGreedy, 0.3, 1});
  EXPECT_EQ(single, (std::vector<double>{1.0}));
}

TEST(ExploreTest, NaNScoresAreNeverBest) {
  const auto p = Probabilities({kNaN, 0.2, kNaN}, {ExploreKind::kEpsilonGreedy, 0.3, 1});
  EXPECT_DOUBLE_EQ(p[1], 0.8);
  EXPECT_DOUBLE_EQ(p[0], 0.1);
  const auto s = Probabilities({kNaN, 0.2, 0.2}, {ExploreKind::kSoftmax, 0, 1});
  EXPECT_EQ(s[0], 0.0);
  EXPECT_DOUBLE_EQ(s[1], 0.5);
  const auto all_nan = Probabilities({kNaN, kNaN}, {ExploreKind::kSoftmax, 0, 1});
  EXPECT_EQ(all_nan, (std::vector<double>{0.5, 0.5}));
}

TEST(ExploreTest, SoftmaxMatchesDefinition) {
  const std::vector<double> scores = {0.2, 0.5, 0.1};
  for (double t : {0.05, 0.1, 1.0, 10.0}) {
    const auto p = Probabilities(scores, {ExploreKind::kSoftmax, 0, t});
    double z = 0;
    for (double s : scores) z += std::exp(s / t);
    for (size_t i = 0; i < scores.size(); ++i)
      EXPECT_NEAR(p[i], std::exp(scores[i] / t) / z, 1e-12) << t;
    EXPECT_NEAR(Sum(p), 1.0, 1e-12);
  }
  // Lower temperature concentrates on the best arm.
  EXPECT_GT(Probabilities(scores, {ExploreKind::kSoftmax, 0, 0.05})[1],
            Probabilities(scores, {ExploreKind::kSoftmax, 0, 1.0})[1]);
}

TEST(ExploreTest, SoftmaxIsStableForLargeScores) {
  const auto p = Probabilities({1000, 1001, -1e308}, {ExploreKind::kSoftmax, 0, 1});
  EXPECT_NEAR(p[0], 1 / (1 + std::exp(1.0)), 1e-12);
  EXPECT_NEAR(p[1], std::exp(1.0) / (1 + std::exp(1.0)), 1e-12);
  EXPECT_EQ(p[2], 0.0);
  const auto tiny_t = Probabilities({1e300, 0.5e300}, {ExploreKind::kSoftmax, 0, 1e-6});
  EXPECT_EQ(tiny_t, (std::vector<double>{1.0, 0.0}));
  const auto infinite = Probabilities({kInf, 3, kInf}, {ExploreKind::kSoftmax, 0, 1});
  EXPECT_EQ(infinite, (std::vector<double>{0.5, 0, 0.5}));
  const auto minus_inf = Probabilities({-kInf, -kInf}, {ExploreKind::kSoftmax, 0, 1});
  EXPECT_EQ(minus_inf, (std::vector<double>{0.5, 0.5}));
}

TEST(ExploreTest, SizeMismatchNeverWritesOutOfBounds) {
  std::vector<double> p(4, -1.0);
  const std::vector<double> scores = {1, 2};
  ActionProbabilities(scores, {}, p);
  EXPECT_DOUBLE_EQ(p[1], 0.95);
  EXPECT_EQ(p[2], 0.0);
  EXPECT_EQ(p[3], 0.0);
  std::vector<double> empty;
  ActionProbabilities(scores, {}, empty);  // no crash, nothing written
}

TEST(SampleActionTest, InverseCdfBoundaries) {
  const std::vector<double> p = {0.2, 0.5, 0.3};
  EXPECT_EQ(SampleAction(p, 0.0), 0);
  EXPECT_EQ(SampleAction(p, 0.1999), 0);
  EXPECT_EQ(SampleAction(p, 0.2), 1);
  EXPECT_EQ(SampleAction(p, 0.6999), 1);
  EXPECT_EQ(SampleAction(p, 0.7), 2);
  EXPECT_EQ(SampleAction(p, 0.99999999), 2);
  EXPECT_EQ(SampleAction(p, 1.0), 2);
  EXPECT_EQ(SampleAction(p, 7.0), 2);
  EXPECT_EQ(SampleAction(p, -1.0), 0);
  EXPECT_EQ(SampleAction(p, kNaN), 0);
  EXPECT_EQ(SampleAction({}, 0.5), -1);
  EXPECT_EQ(SampleAction(std::vector<double>{0, 0}, 0.5), -1);
}

TEST(SampleActionTest, ZeroProbabilityArmsAreNeverChosen) {
  const std::vector<double> p = {0, 0.5, 0, 0.5, 0};
  for (double u = 0; u < 1; u += 0.001) {
    const int a = SampleAction(p, u);
    EXPECT_TRUE(a == 1 || a == 3) << u;
  }
  // Rounding slack (sum slightly below 1) goes to the last positive arm.
  const std::vector<double> slack = {0.3, 0.3, 0.3999999, 0};
  EXPECT_EQ(SampleAction(slack, 0.99999999), 2);
}

TEST(SampleActionTest, EmpiricalDistributionMatches) {
  std::vector<double> p(4);
  ActionProbabilities(std::vector<double>{0.1, 0.3, 0.2, 0.25}, {ExploreKind::kSoftmax, 0, 0.1}, p);
  std::mt19937_64 rng(1234);
  std::uniform_real_distribution<double> unit(0, 1);
  constexpr int kDraws = 200000;
  std::vector<int> counts(4);
  for (int i = 0; i < kDraws; ++i) ++counts[static_cast<size_t>(SampleAction(p, unit(rng)))];
  for (size_t i = 0; i < 4; ++i) {
    const double expected = p[i] * kDraws;
    const double sd = std::sqrt(kDraws * p[i] * (1 - p[i]));
    EXPECT_NEAR(counts[i], expected, 5 * sd) << i;
  }
}

}  // namespace
}  // namespace rtml::learning
