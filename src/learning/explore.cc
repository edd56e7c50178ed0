// Epsilon-greedy and softmax exploration; see explore.h.
#include "learning/explore.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace rtml::learning {
namespace {

constexpr double kMinTemperature = 1e-6;
constexpr double kMaxTemperature = 1e6;

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

Status ValidateExplore(const ExploreOptions& options) {
  if (options.kind != ExploreKind::kEpsilonGreedy && options.kind != ExploreKind::kSoftmax) {
    return InvalidArgumentError("kind must be epsilon-greedy or softmax");
  }
  if (!(std::isfinite(options.epsilon) && options.epsilon >= 0 && options.epsilon <= 1)) {
    return InvalidArgumentError("epsilon must be in [0, 1], got " + Num(options.epsilon));
  }
  if (!(std::isfinite(options.temperature) && options.temperature >= kMinTemperature &&
        options.temperature <= kMaxTemperature)) {
    return InvalidArgumentError("temperature must be in [1e-06, 1e+06], got " +
                                Num(options.temperature));
  }
  return OkStatus();
}

void ActionProbabilities(std::span<const double> scores, const ExploreOptions& options,
                         std::span<double> probabilities) {
  const size_t k = std::min(scores.size(), probabilities.size());
  std::fill(probabilities.begin(), probabilities.end(), 0.0);
  if (k == 0) return;
  // Best non-NaN score, lowest index on ties; -1 when all are NaN.
  ptrdiff_t best = -1;
  for (size_t i = 0; i < k; ++i) {
    if (std::isnan(scores[i])) continue;
    if (best < 0 || scores[i] > scores[static_cast<size_t>(best)]) best = static_cast<ptrdiff_t>(i);
  }
  const double kd = static_cast<double>(k);
  if (best < 0) {
    std::fill_n(probabilities.begin(), k, 1.0 / kd);
    return;
  }
  if (options.kind == ExploreKind::kSoftmax) {
    const double top = scores[static_cast<size_t>(best)];
    if (std::isinf(top)) {
      // Arms tied at an infinite best share the mass; exp((inf - inf) / T) would be NaN.
      double count = 0;
      for (size_t i = 0; i < k; ++i) count += scores[i] == top ? 1 : 0;
      for (size_t i = 0; i < k; ++i) probabilities[i] = scores[i] == top ? 1.0 / count : 0.0;
      return;
    }
    // Temperature is kept positive by ValidateExplore; guard it anyway so a
    // bad option cannot produce NaN probabilities.
    const double t = std::max(options.temperature, kMinTemperature);
    double sum = 0;
    for (size_t i = 0; i < k; ++i) {
      const double e = std::isnan(scores[i]) ? 0.0 : std::exp((scores[i] - top) / t);
      probabilities[i] = e;
      sum += e;
    }
    // sum >= 1: the best arm contributes exp(0).
    for (size_t i = 0; i < k; ++i) probabilities[i] /= sum;
    return;
  }
  const double eps = std::clamp(std::isnan(options.epsilon) ? 0.0 : options.epsilon, 0.0, 1.0);
  std::fill_n(probabilities.begin(), k, eps / kd);
  probabilities[static_cast<size_t>(best)] = 1.0 - eps + eps / kd;
}

int SampleAction(std::span<const double> probabilities, double u) {
  if (probabilities.empty()) return -1;
  if (std::isnan(u) || u < 0) u = 0;
  if (u >= 1) u = std::nextafter(1.0, 0.0);
  double cumulative = 0;
  int last_positive = -1;
  for (size_t i = 0; i < probabilities.size(); ++i) {
    const double p = probabilities[i];
    if (!(p > 0)) continue;
    last_positive = static_cast<int>(i);
    cumulative += p;
    if (u < cumulative) return last_positive;
  }
  return last_positive;
}

}  // namespace rtml::learning
