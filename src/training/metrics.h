// Validation metrics of a training run: binary (AUC, log loss, accuracy,
// calibration) and regression (RMSE, MAE, R²).
//
// Pure functions over spans of predictions and labels; no state, safe from
// any thread. Metrics that do not apply to a run's task are NaN.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace rtml::training {

inline constexpr int kCalibrationBins = 10;

struct Metrics {
  // Binary classification, on the validation set.
  double auc = 0;       // exact Mann-Whitney AUC; ties count one half (average ranks)
  double logloss = 0;   // mean -log p(true class), p clipped to [1e-15, 1 - 1e-15]
  double accuracy = 0;  // predicted class 1 when p > 0.5 (the exported model's label rule)
  // kCalibrationBins equal-width bins of the predicted probability,
  // [0, 0.1) ... [0.9, 1]: (mean predicted, observed rate of class 1). An
  // empty bin holds (NaN, NaN) and a count of 0.
  std::vector<std::pair<double, double>> calibration;
  std::vector<int64_t> calibration_counts;

  // Regression, on the validation set.
  double rmse = 0;
  double mae = 0;
  double r2 = 0;  // 1 - SS_res / SS_tot; NaN when the validation labels are constant

  int best_iteration = 0;  // 0-based boosting round kept (the model has best_iteration + 1 rounds)
  int64_t train_rows = 0;
  int64_t validation_rows = 0;
};

// Area under the ROC curve of `scores` for labels in {0, 1}; NaN when only one
// class is present. O(n log n): rank sum with average ranks for ties.
double Auc(std::span<const double> scores, std::span<const double> labels);
double LogLoss(std::span<const double> probabilities, std::span<const double> labels);
double Accuracy(std::span<const double> probabilities, std::span<const double> labels);
double Rmse(std::span<const double> predictions, std::span<const double> labels);
double Mae(std::span<const double> predictions, std::span<const double> labels);
double R2(std::span<const double> predictions, std::span<const double> labels);

// Fills auc, logloss, accuracy and calibration; sets the regression fields to NaN.
void ComputeBinaryMetrics(std::span<const double> probabilities, std::span<const double> labels,
                          Metrics* out);
// Fills rmse, mae and r2; sets the binary fields to NaN and clears calibration.
void ComputeRegressionMetrics(std::span<const double> predictions, std::span<const double> labels,
                              Metrics* out);

}  // namespace rtml::training
