// Contextual-bandit exploration: turns the scores of the candidate arms into
// a probability per arm (epsilon-greedy or softmax) and samples one. The
// probability of the chosen arm is what the decision log records for
// off-policy estimation (off_policy.h).
// Thread-safety: free functions over caller-owned spans; no shared state,
// no allocation.
#pragma once

#include <span>

#include "common/status.h"

namespace rtml::learning {

enum class ExploreKind { kEpsilonGreedy, kSoftmax };

struct ExploreOptions {
  ExploreKind kind = ExploreKind::kEpsilonGreedy;
  double epsilon = 0.1;      // epsilon-greedy: mass spread uniformly, [0, 1]
  double temperature = 0.1;  // softmax: p_i proportional to exp(s_i / T), T in [1e-6, 1e6]
};

// OK, or INVALID_ARGUMENT naming `epsilon` or `temperature` and its range.
Status ValidateExplore(const ExploreOptions& options);

// Fills `probabilities` (same size as `scores`; sums to 1).
// Epsilon-greedy: the best arm gets 1 - eps + eps / K, every other eps / K;
// ties for best go to the lowest index. Softmax: exp((s_i - max) / T)
// normalized, so large scores cannot overflow. NaN scores count as -infinity
// (never best, softmax probability 0); all-NaN scores give the uniform
// distribution. Precondition: probabilities.size() == scores.size() (extra
// slots are set to 0; missing slots are not written).
void ActionProbabilities(std::span<const double> scores, const ExploreOptions& options,
                         std::span<double> probabilities);

// The index i drawn with P(i) = probabilities[i] for u uniform in [0, 1)
// (inverse CDF; u is clamped into [0, 1), NaN counts as 0). Rounding slack at
// the top goes to the last arm with positive probability. -1 when empty or
// when no probability is positive.
int SampleAction(std::span<const double> probabilities, double u);

}  // namespace rtml::learning
