// Tests of off-policy estimation and intervals: IPS and SNIPS by hand on a
// small log and on a synthetic bandit log whose true policy values are known,
// skipped bad records, the effective sample size, and Wilson intervals
// against published values (Newcombe, Statistics in Medicine 1998, Table I).
#include "learning/off_policy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "learning/explore.h"

namespace rtml::learning {
namespace {

TEST(OffPolicyTest, SmallLogByHand) {
  const std::vector<LoggedOutcome> log = {
      {1.0, 0.5, 1.0},   // w = 2
      {0.0, 0.25, 0.5},  // w = 2
      {1.0, 0.8, 0.2},   // w = 0.25
  };
  const auto e = EstimateOffPolicy(log);
  EXPECT_EQ(e.n, 3u);
  EXPECT_EQ(e.skipped, 0u);
  EXPECT_DOUBLE_EQ(e.ips, (2.0 + 0 + 0.25) / 3);
  EXPECT_DOUBLE_EQ(e.snips, 2.25 / 4.25);
  EXPECT_DOUBLE_EQ(e.effective_sample_size, 4.25 * 4.25 / (4 + 4 + 0.0625));
  EXPECT_LT(e.ips_low, e.ips);
  EXPECT_GT(e.ips_high, e.ips);
  // ips interval = MeanInterval95 over the terms w_i r_i = {2, 0, 0.25}.
  const Interval terms = MeanInterval95(3, 2.25, 4.0625);
  EXPECT_DOUBLE_EQ(e.ips_low, terms.low);
  EXPECT_DOUBLE_EQ(e.ips_high, terms.high);
  EXPECT_LT(e.snips_low, e.snips);
  EXPECT_GT(e.snips_high, e.snips);
}

TEST(OffPolicyTest, BadRecordsAreSkipped) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<LoggedOutcome> log = {
      {1.0, 0.0, 1.0},  {1.0, -0.5, 1.0}, {1.0, 1.5, 1.0}, {1.0, 0.5, 1.5},
      {1.0, 0.5, -0.1}, {nan, 0.5, 1.0},  {1.0, nan, 1.0}, {1.0, 0.5, 0.5},
  };
  const auto e = EstimateOffPolicy(log);
  EXPECT_EQ(e.n, 1u);
  EXPECT_EQ(e.skipped, 7u);
  EXPECT_DOUBLE_EQ(e.ips, 1.0);
  EXPECT_DOUBLE_EQ(e.snips, 1.0);
  const auto empty = EstimateOffPolicy({});
  EXPECT_EQ(empty.n, 0u);
  EXPECT_EQ(empty.ips, 0.0);
  EXPECT_EQ(empty.snips, 0.0);
}

TEST(OffPolicyTest, ZeroTargetMassGivesZeroSnips) {
  const std::vector<LoggedOutcome> log = {{1.0, 0.5, 0.0}, {0.0, 0.5, 0.0}};
  const auto e = EstimateOffPolicy(log);
  EXPECT_EQ(e.n, 2u);
  EXPECT_EQ(e.ips, 0.0);
  EXPECT_EQ(e.snips, 0.0);
  EXPECT_EQ(e.effective_sample_size, 0.0);
}

// Three arms with Bernoulli rewards 0.2, 0.5, 0.8 logged by an
// epsilon-greedy policy that favours the worst arm; the target policies'
// true values are known in closed form.
TEST(OffPolicyTest, RecoversKnownPolicyValuesFromASyntheticLog) {
  const std::vector<double> mean_reward = {0.2, 0.5, 0.8};
  std::vector<double> logging(3);
  ActionProbabilities(std::vector<double>{1.0, 0.0, 0.0}, {ExploreKind::kEpsilonGreedy, 0.6, 1},
                      logging);
  // logging = {0.6, 0.2, 0.2}
  const std::vector<std::vector<double>> targets = {{0, 0, 1}, {0.1, 0.2, 0.7}, logging};
  std::mt19937_64 rng(77);
  std::uniform_real_distribution<double> unit(0, 1);
  constexpr int kN = 200000;
  std::vector<std::vector<LoggedOutcome>> logs(targets.size());
  for (int i = 0; i < kN; ++i) {
    const int a = SampleAction(logging, unit(rng));
    const size_t arm = static_cast<size_t>(a);
    const double reward = unit(rng) < mean_reward[arm] ? 1.0 : 0.0;
    for (size_t t = 0; t < targets.size(); ++t) {
      logs[t].push_back({reward, logging[arm], targets[t][arm]});
    }
  }
  for (size_t t = 0; t < targets.size(); ++t) {
    double truth = 0;
    for (size_t a = 0; a < 3; ++a) truth += targets[t][a] * mean_reward[a];
    const auto e = EstimateOffPolicy(logs[t]);
    EXPECT_EQ(e.n, static_cast<size_t>(kN));
    EXPECT_NEAR(e.ips, truth, 0.01) << "target " << t;
    EXPECT_NEAR(e.snips, truth, 0.01) << "target " << t;
    EXPECT_LT(e.ips_low, truth);
    EXPECT_GT(e.ips_high, truth);
    EXPECT_LT(e.snips_low, truth);
    EXPECT_GT(e.snips_high, truth);
    EXPECT_LT(e.ips_high - e.ips_low, 0.03);
  }
  // Deterministic target on an arm logged with probability 0.2: ESS ~ n / 5.
  EXPECT_NEAR(EstimateOffPolicy(logs[0]).effective_sample_size, kN * 0.2, kN * 0.01);
  // On-policy evaluation: every weight is 1, so IPS equals SNIPS equals the mean.
  const auto on = EstimateOffPolicy(logs[2]);
  EXPECT_DOUBLE_EQ(on.effective_sample_size, kN);
  EXPECT_NEAR(on.ips, on.snips, 1e-12);
}

TEST(IntervalTest, WilsonMatchesPublishedValues) {
  struct Case {
    double s, n, low, high;
  };
  // Newcombe (1998), Table I, method 3 (score interval without correction).
  const Case cases[] = {
      {81, 263, 0.2553, 0.3662},
      {15, 148, 0.0624, 0.1605},
      {0, 20, 0.0, 0.1611},
      {1, 29, 0.0061, 0.1718},
  };
  for (const Case& c : cases) {
    const Interval i = WilsonInterval95(c.s, c.n);
    EXPECT_NEAR(i.low, c.low, 1e-4) << c.s << "/" << c.n;
    EXPECT_NEAR(i.high, c.high, 1e-4) << c.s << "/" << c.n;
    EXPECT_DOUBLE_EQ(i.mean, c.s / c.n);
  }
  const Interval half = WilsonInterval95(5, 10);
  EXPECT_NEAR(half.low, 0.236593, 1e-6);
  EXPECT_NEAR(half.high, 0.763407, 1e-6);
  const Interval all = WilsonInterval95(10, 10);
  EXPECT_NEAR(all.low, 0.722467, 1e-6);
  EXPECT_LE(all.high, 1.0);
  const Interval none = WilsonInterval95(0, 0);
  EXPECT_EQ(none.low, 0.0);
  EXPECT_EQ(none.high, 1.0);
  const Interval clamped = WilsonInterval95(12, 10);
  EXPECT_EQ(clamped.mean, 1.0);
}

TEST(IntervalTest, MeanIntervalNormalApproximation) {
  // Values 1, 2, 3, 4: mean 2.5, sample variance 5/3.
  const Interval i = MeanInterval95(4, 10, 30);
  EXPECT_DOUBLE_EQ(i.mean, 2.5);
  const double half = kZ95 * std::sqrt((5.0 / 3.0) / 4);
  EXPECT_DOUBLE_EQ(i.low, 2.5 - half);
  EXPECT_DOUBLE_EQ(i.high, 2.5 + half);
  const Interval one = MeanInterval95(1, 7, 49);
  EXPECT_EQ(one.low, 7.0);
  EXPECT_EQ(one.high, 7.0);
  const Interval zero = MeanInterval95(0, 0, 0);
  EXPECT_EQ(zero.mean, 0.0);
  // Rounding cannot make the variance negative.
  const Interval constant = MeanInterval95(3, 0.3, 0.03);
  EXPECT_FALSE(std::isnan(constant.low));
}

}  // namespace
}  // namespace rtml::learning
