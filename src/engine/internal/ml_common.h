// Score transforms shared by the ai.onnx.ml classifiers and regressors.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/status.h"

namespace rtml::engine::internal {

enum class PostTransform { kNone, kLogistic, kSoftmax, kSoftmaxZero, kProbit };

StatusOr<PostTransform> ParsePostTransform(const std::string& name);

double Logistic(double x);
// Inverse of the standard normal CDF: sqrt(2) * erfinv(2p - 1). Exact to
// double precision (a rational first guess refined by Newton steps).
double Probit(double p);
double ErfInv(double y);

// Applies the transform in place to one row of scores. SOFTMAX_ZERO leaves
// exact zeros at zero and normalises the others (as ONNX Runtime does).
void ApplyPostTransform(PostTransform t, std::span<double> scores);

}  // namespace rtml::engine::internal
