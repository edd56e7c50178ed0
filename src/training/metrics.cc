#include "training/metrics.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <numeric>

namespace rtml::training {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kProbabilityClip = 1e-15;

}  // namespace

double Auc(std::span<const double> scores, std::span<const double> labels) {
  assert(scores.size() == labels.size());
  const size_t n = scores.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Sum of the (1-based, tie-averaged) ranks of the positives.
  double positive_rank_sum = 0;
  double positives = 0;
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j + 1 < n && scores[order[j + 1]] == scores[order[i]]) ++j;
    const double average_rank = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (size_t k = i; k <= j; ++k) {
      if (labels[order[k]] > 0.5) {
        positive_rank_sum += average_rank;
        positives += 1;
      }
    }
    i = j + 1;
  }
  const double negatives = static_cast<double>(n) - positives;
  if (positives == 0 || negatives == 0) return kNaN;
  return (positive_rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives);
}

double LogLoss(std::span<const double> probabilities, std::span<const double> labels) {
  assert(probabilities.size() == labels.size());
  if (labels.empty()) return kNaN;
  double sum = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const double p = std::clamp(probabilities[i], kProbabilityClip, 1.0 - kProbabilityClip);
    sum -= labels[i] > 0.5 ? std::log(p) : std::log1p(-p);
  }
  return sum / static_cast<double>(labels.size());
}

double Accuracy(std::span<const double> probabilities, std::span<const double> labels) {
  assert(probabilities.size() == labels.size());
  if (labels.empty()) return kNaN;
  int64_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    correct += (probabilities[i] > 0.5) == (labels[i] > 0.5) ? 1 : 0;
  }
  return static_cast<double>(correct) / static_cast<double>(labels.size());
}

double Rmse(std::span<const double> predictions, std::span<const double> labels) {
  assert(predictions.size() == labels.size());
  if (labels.empty()) return kNaN;
  double sum = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const double d = predictions[i] - labels[i];
    sum += d * d;
  }
  return std::sqrt(sum / static_cast<double>(labels.size()));
}

double Mae(std::span<const double> predictions, std::span<const double> labels) {
  assert(predictions.size() == labels.size());
  if (labels.empty()) return kNaN;
  double sum = 0;
  for (size_t i = 0; i < labels.size(); ++i) sum += std::abs(predictions[i] - labels[i]);
  return sum / static_cast<double>(labels.size());
}

double R2(std::span<const double> predictions, std::span<const double> labels) {
  assert(predictions.size() == labels.size());
  if (labels.empty()) return kNaN;
  const double mean =
      std::accumulate(labels.begin(), labels.end(), 0.0) / static_cast<double>(labels.size());
  double ss_res = 0;
  double ss_tot = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    ss_res += (labels[i] - predictions[i]) * (labels[i] - predictions[i]);
    ss_tot += (labels[i] - mean) * (labels[i] - mean);
  }
  if (ss_tot == 0) return kNaN;
  return 1.0 - ss_res / ss_tot;
}

void ComputeBinaryMetrics(std::span<const double> probabilities, std::span<const double> labels,
                          Metrics* out) {
  out->auc = Auc(probabilities, labels);
  out->logloss = LogLoss(probabilities, labels);
  out->accuracy = Accuracy(probabilities, labels);
  std::vector<double> sum_predicted(kCalibrationBins, 0.0);
  std::vector<double> sum_observed(kCalibrationBins, 0.0);
  out->calibration_counts.assign(kCalibrationBins, 0);
  for (size_t i = 0; i < labels.size(); ++i) {
    const double p = probabilities[i];
    // Bin k holds [k/10, (k+1)/10); p == 1 belongs to the last bin.
    const int bin = std::clamp(static_cast<int>(p * kCalibrationBins), 0, kCalibrationBins - 1);
    sum_predicted[static_cast<size_t>(bin)] += p;
    sum_observed[static_cast<size_t>(bin)] += labels[i] > 0.5 ? 1.0 : 0.0;
    ++out->calibration_counts[static_cast<size_t>(bin)];
  }
  out->calibration.assign(kCalibrationBins, {kNaN, kNaN});
  for (size_t b = 0; b < static_cast<size_t>(kCalibrationBins); ++b) {
    const int64_t count = out->calibration_counts[b];
    if (count == 0) continue;
    out->calibration[b] = {sum_predicted[b] / static_cast<double>(count),
                           sum_observed[b] / static_cast<double>(count)};
  }
  out->rmse = out->mae = out->r2 = kNaN;
}

void ComputeRegressionMetrics(std::span<const double> predictions, std::span<const double> labels,
                              Metrics* out) {
  out->rmse = Rmse(predictions, labels);
  out->mae = Mae(predictions, labels);
  out->r2 = R2(predictions, labels);
  out->auc = out->logloss = out->accuracy = kNaN;
  out->calibration.clear();
  out->calibration_counts.clear();
}

}  // namespace rtml::training
