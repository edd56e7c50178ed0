// Off-policy evaluation of a target policy from a log of decisions made by a
// logging policy (inverse propensity scoring, IPS, and its self-normalized
// form, SNIPS), and 95% confidence intervals for observed rates and means.
// Formulas: docs/learning.md. Thread-safety: pure functions, no allocation.
#pragma once

#include <cstddef>
#include <span>

namespace rtml::learning {

// One logged decision: the reward observed for the action that was taken,
// the probability with which the logging policy took it, and the probability
// with which the evaluated (target) policy would take that same action.
struct LoggedOutcome {
  double reward;
  double logged_probability;  // (0, 1]
  double target_probability;  // [0, 1]
};

struct OffPolicyEstimate {
  size_t n = 0;        // records used
  size_t skipped = 0;  // records with a non-finite reward or a probability out of range
  double ips = 0;      // (1/n) sum w_i r_i, w_i = target / logged
  double snips = 0;    // sum w_i r_i / sum w_i (0 when sum w_i = 0)
  double effective_sample_size = 0;      // (sum w_i)^2 / sum w_i^2
  double ips_low = 0, ips_high = 0;      // 95%, normal approximation over the w_i r_i
  double snips_low = 0, snips_high = 0;  // 95%, delta method for the ratio
};

OffPolicyEstimate EstimateOffPolicy(std::span<const LoggedOutcome> log);

struct Interval {
  double mean, low, high;
};

// 95% Wilson score interval for `successes` out of `n` Bernoulli trials
// (successes clamped into [0, n]); mean is successes / n. n <= 0 gives
// {0, 0, 1}: nothing is known.
Interval WilsonInterval95(double successes, double n);

// 95% normal-approximation interval of a mean from n, sum and sum of
// squares (sample variance with n - 1). n < 2 gives low = high = mean (no
// spread can be estimated); n <= 0 gives {0, 0, 0}.
Interval MeanInterval95(double n, double sum, double sum_sq);

// The two-sided 95% standard normal quantile.
inline constexpr double kZ95 = 1.959963984540054;

}  // namespace rtml::learning
