// KernelRegistry: maps (domain, operator, opset) to a kernel factory.
//
// Built once on first use from the per-family Register* functions below and
// immutable afterwards, so lookups are thread-safe without locks.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/internal/kernel.h"

namespace rtml::engine::internal {

inline constexpr std::string_view kOnnxDomain = "";
inline constexpr std::string_view kMlDomain = "ai.onnx.ml";
// rtml's own operators, created only by graph rewrites (never in user models).
inline constexpr std::string_view kRtmlDomain = "ai.rtml";

// "" and "ai.onnx" name the same default domain.
std::string_view NormalizeDomain(std::string_view domain);

class KernelRegistry {
 public:
  static const KernelRegistry& Global();

  // Registers a factory valid from opset `since_version` of `domain` on.
  void Add(std::string_view domain, std::string_view op, int since_version, KernelFactory factory);
  // The newest factory whose since_version <= opset; Unimplemented otherwise.
  StatusOr<KernelFactory> Find(std::string_view domain, std::string_view op, int opset) const;
  bool Knows(std::string_view domain, std::string_view op) const;
  // Sorted "domain:Op" names, for documentation and `rtml ops`.
  std::vector<std::string> OperatorNames() const;

 private:
  // (domain, op) -> [(since_version, factory)] sorted by version.
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<int, KernelFactory>>> defs_;
};

void RegisterElementwiseKernels(KernelRegistry& r);
void RegisterMathKernels(KernelRegistry& r);      // MatMul, Gemm, normalisations, softmax
void RegisterTensorKernels(KernelRegistry& r);    // shape manipulation, Cast, Gather ...
void RegisterReduceKernels(KernelRegistry& r);    // Reduce*, ArgMax/ArgMin, TopK
void RegisterMlLinearKernels(KernelRegistry& r);  // LinearClassifier/Regressor, SVM
void RegisterMlTreeKernels(KernelRegistry& r);    // TreeEnsembleClassifier/Regressor
void RegisterMlMiscKernels(KernelRegistry& r);    // Scaler, encoders, ZipMap ...

}  // namespace rtml::engine::internal
