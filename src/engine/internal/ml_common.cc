#include "engine/internal/ml_common.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace rtml::engine::internal {

StatusOr<PostTransform> ParsePostTransform(const std::string& name) {
  if (name == "NONE") return PostTransform::kNone;
  if (name == "LOGISTIC") return PostTransform::kLogistic;
  if (name == "SOFTMAX") return PostTransform::kSoftmax;
  if (name == "SOFTMAX_ZERO") return PostTransform::kSoftmaxZero;
  if (name == "PROBIT") return PostTransform::kProbit;
  return InvalidArgumentError("attribute 'post_transform' must be NONE, LOGISTIC, SOFTMAX, "
                              "SOFTMAX_ZERO or PROBIT, got '" + name + "'");
}

double Logistic(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

double ErfInv(double y) {
  if (std::isnan(y) || y <= -1.0 || y >= 1.0) {
    if (y == -1.0) return -std::numeric_limits<double>::infinity();
    if (y == 1.0) return std::numeric_limits<double>::infinity();
    return std::numeric_limits<double>::quiet_NaN();
  }
  // First guess: M. Giles, "Approximating the erfinv function" (2010),
  // single-precision branch; then Newton steps on erf(x) - y.
  double w = -std::log((1.0 - y) * (1.0 + y));
  double x;
  if (w < 5.0) {
    w -= 2.5;
    double p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
    x = p * y;
  } else {
    w = std::sqrt(w) - 3.0;
    double p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
    x = p * y;
  }
  const double two_over_sqrt_pi = 1.1283791670955126;
  for (int i = 0; i < 3; ++i) {
    const double err = std::erf(x) - y;
    x -= err / (two_over_sqrt_pi * std::exp(-x * x));
  }
  return x;
}

double Probit(double p) { return 1.4142135623730951 * ErfInv(2.0 * p - 1.0); }

namespace {
template <typename T>
void Apply(PostTransform t, std::span<T> v) {
  switch (t) {
    case PostTransform::kNone:
      return;
    case PostTransform::kLogistic:
      for (T& x : v) x = static_cast<T>(Logistic(x));
      return;
    case PostTransform::kProbit:
      for (T& x : v) x = static_cast<T>(Probit(x));
      return;
    case PostTransform::kSoftmax:
    case PostTransform::kSoftmaxZero: {
      if (v.size() <= 1) return;
      const bool skip_zeros = t == PostTransform::kSoftmaxZero;
      auto is_zero = [&](T x) { return skip_zeros && std::abs(static_cast<double>(x)) <= 1e-7; };
      double max = -std::numeric_limits<double>::infinity();
      for (T x : v)
        if (!is_zero(x) && x > max) max = x;
      double sum = 0;
      for (T& x : v) {
        x = is_zero(x) ? T(0) : static_cast<T>(std::exp(static_cast<double>(x) - max));
        sum += static_cast<double>(x);
      }
      if (sum == 0) return;
      const double inv = 1.0 / sum;
      for (T& x : v) x = static_cast<T>(static_cast<double>(x) * inv);
      return;
    }
  }
}
}  // namespace

void ApplyPostTransform(PostTransform t, std::span<double> s) { Apply(t, s); }
void ApplyPostTransform(PostTransform t, std::span<float> s) { Apply(t, s); }

StatusOr<PostTransform> ReadPostTransform(const NodeAttributes& attrs) {
  ASSIGN_OR_RETURN(std::string name, attrs.String("post_transform", std::string("NONE")));
  return ParsePostTransform(name);
}

}  // namespace rtml::engine::internal
