// In-platform training: XGBoost (C API) on a row-major matrix, a
// deterministic validation split, early stopping, validation metrics, and
// the booster exported to ONNX for rtml's engine.
//
// Train is a blocking call meant for a background thread; it uses
// `options.threads` XGBoost threads and nothing else, so serving threads are
// not touched. Concurrent calls are independent (no shared state).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "training/metrics.h"

namespace rtml::training {

enum class Algorithm {
  kGbdt,      // XGBoost booster gbtree (tree_method hist)
  kLogistic,  // XGBoost booster gblinear: logistic regression, or linear
              // regression when the label is not binary
};
enum class Task { kBinaryClassification, kRegression };

std::string_view AlgorithmName(Algorithm a);  // "gbdt", "logistic"
std::string_view TaskName(Task t);            // "binary", "regression"
// "gbdt" or "logistic"; InvalidArgument naming the allowed values otherwise.
StatusOr<Algorithm> ParseAlgorithm(std::string_view name);
// The checks Train applies to TrainOptions::params (names, ranges, which
// algorithm they apply to), for rejecting a request before it is queued.
Status CheckParams(Algorithm algorithm, const std::map<std::string, std::string>& params);

struct TrainOptions {
  Algorithm algorithm = Algorithm::kGbdt;
  // XGBoost parameters, validated before use (unknown names and values out of
  // range are errors that list what is allowed). See README.md for the list.
  // Also "num_round" (alias "n_estimators", default 100) and
  // "early_stopping_rounds" (default 10; 0 turns early stopping off).
  std::map<std::string, std::string> params;
  double validation_fraction = 0.2;  // in (0, 1)
  uint64_t seed = 1;                 // split shuffle and XGBoost's own seed
  int threads = 1;                   // XGBoost nthread for gbdt, 1 to 64 (logistic uses 1)
};

struct TrainResult {
  Task task = Task::kBinaryClassification;
  Metrics metrics;
  std::string onnx;          // serialized onnx::ModelProto (see onnx_export.h)
  std::string booster_json;  // XGBoost's own JSON model of the exported booster
  // XGBoost's predictions for the validation rows (probability of class 1 or
  // the regression value) and their row indices into the input, ascending.
  std::vector<double> validation_predictions;
  std::vector<int64_t> validation_rows;
};

// The task a label implies: all values in {0, 1} -> binary, else regression.
// InvalidArgument when a binary label has one class or a regression label
// one value. Labels must be finite (Train checks this first).
StatusOr<Task> InferTask(std::span<const double> y);

struct ValidationSplit {
  std::vector<int64_t> train;       // ascending row indices
  std::vector<int64_t> validation;  // ascending row indices
};

// The split Train uses, exposed so that fitted pipeline nodes can learn from
// the training rows only. Row indices are shuffled with splitmix64(seed)
// (Fisher-Yates, rejection sampling for bounds) and round(n * fraction) go to
// validation; binary labels are split per class (stratified). Fails when a
// set would be too small (fewer than 10 rows, or a class missing from one).
StatusOr<ValidationSplit> SplitRows(std::span<const double> y, Task task, double validation_fraction,
                                    uint64_t seed);

// X: rows x width doubles, row-major (NaN = missing); y: one label per row.
// The task is inferred from y: all labels in {0, 1} -> binary, else regression.
// progress(fraction in [0, 1]) is called after each boosting round and once
// with 1 at the end; cancel (may be null) is polled between rounds and stops
// training with kConflict "training cancelled".
StatusOr<TrainResult> Train(std::span<const double> X, int64_t width, std::span<const double> y,
                            std::span<const std::string> feature_names, const TrainOptions& options,
                            const std::function<void(double)>& progress,
                            const std::atomic<bool>* cancel);

}  // namespace rtml::training
