// IPS / SNIPS estimators and 95% intervals; see off_policy.h.
#include "learning/off_policy.h"

#include <algorithm>
#include <cmath>

namespace rtml::learning {
namespace {

bool Usable(const LoggedOutcome& o) {
  return std::isfinite(o.reward) && o.logged_probability > 0 && o.logged_probability <= 1 &&
         o.target_probability >= 0 && o.target_probability <= 1;
}

}  // namespace

OffPolicyEstimate EstimateOffPolicy(std::span<const LoggedOutcome> log) {
  OffPolicyEstimate e;
  double sum_w = 0, sum_w2 = 0, sum_wr = 0, sum_wr2 = 0;
  for (const LoggedOutcome& o : log) {
    if (!Usable(o)) {
      ++e.skipped;
      continue;
    }
    const double w = o.target_probability / o.logged_probability;
    const double wr = w * o.reward;
    ++e.n;
    sum_w += w;
    sum_w2 += w * w;
    sum_wr += wr;
    sum_wr2 += wr * wr;
  }
  if (e.n == 0) return e;
  const double n = static_cast<double>(e.n);
  const Interval ips = MeanInterval95(n, sum_wr, sum_wr2);
  e.ips = ips.mean;
  e.ips_low = ips.low;
  e.ips_high = ips.high;
  e.effective_sample_size = sum_w2 > 0 ? sum_w * sum_w / sum_w2 : 0.0;
  if (sum_w > 0) {
    e.snips = sum_wr / sum_w;
    // Delta method: Var(SNIPS) ~ sum w_i^2 (r_i - snips)^2 / (sum w_i)^2,
    // expanded so one pass over the log suffices.
    double sum_w2_dev = 0;
    for (const LoggedOutcome& o : log) {
      if (!Usable(o)) continue;
      const double w = o.target_probability / o.logged_probability;
      const double d = o.reward - e.snips;
      sum_w2_dev += w * w * d * d;
    }
    const double half = kZ95 * std::sqrt(sum_w2_dev) / sum_w;
    e.snips_low = e.snips - half;
    e.snips_high = e.snips + half;
  }
  return e;
}

Interval WilsonInterval95(double successes, double n) {
  if (!(n > 0) || !std::isfinite(n)) return {0, 0, 1};
  const double s = std::clamp(std::isnan(successes) ? 0.0 : successes, 0.0, n);
  const double p = s / n;
  const double z2 = kZ95 * kZ95;
  const double denom = 1 + z2 / n;
  const double center = (p + z2 / (2 * n)) / denom;
  const double half = kZ95 / denom * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n));
  return {p, std::max(0.0, center - half), std::min(1.0, center + half)};
}

Interval MeanInterval95(double n, double sum, double sum_sq) {
  if (!(n > 0) || !std::isfinite(n)) return {0, 0, 0};
  const double mean = sum / n;
  if (n < 2) return {mean, mean, mean};
  const double variance = std::max(0.0, (sum_sq - n * mean * mean) / (n - 1));
  const double half = kZ95 * std::sqrt(variance / n);
  return {mean, mean - half, mean + half};
}

}  // namespace rtml::learning
