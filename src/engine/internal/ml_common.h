// Score transforms shared by the ai.onnx.ml classifiers and regressors.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/status.h"
#include "engine/internal/kernel.h"

namespace rtml::engine::internal {

enum class PostTransform { kNone, kLogistic, kSoftmax, kSoftmaxZero, kProbit };

StatusOr<PostTransform> ParsePostTransform(const std::string& name);
// Reads the node's "post_transform" attribute (default NONE).
StatusOr<PostTransform> ReadPostTransform(const NodeAttributes& attrs);

double Logistic(double x);
// Inverse of the standard normal CDF: sqrt(2) * erfinv(2p - 1). Exact to
// double precision (a rational first guess refined by Newton steps).
double Probit(double p);
double ErfInv(double y);

// Applies the transform in place to one row of scores. A softmax over a
// single score leaves it unchanged (it would always be 1). SOFTMAX_ZERO keeps
// entries with |v| <= 1e-7 at zero and normalises the others (ONNX Runtime's
// rule); a row of zeros stays zero.
void ApplyPostTransform(PostTransform t, std::span<double> scores);
void ApplyPostTransform(PostTransform t, std::span<float> scores);

}  // namespace rtml::engine::internal
