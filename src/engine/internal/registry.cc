#include "engine/internal/registry.h"

#include <algorithm>

namespace rtml::engine::internal {

std::string_view NormalizeDomain(std::string_view domain) {
  return domain == "ai.onnx" ? kOnnxDomain : domain;
}

const KernelRegistry& KernelRegistry::Global() {
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    RegisterElementwiseKernels(r);
    RegisterMathKernels(r);
    RegisterTensorKernels(r);
    RegisterReduceKernels(r);
    RegisterMlLinearKernels(r);
    RegisterMlTreeKernels(r);
    RegisterMlMiscKernels(r);
    return r;
  }();
  return registry;
}

void KernelRegistry::Add(std::string_view domain, std::string_view op, int since_version,
                         KernelFactory factory) {
  auto& list = defs_[{std::string(NormalizeDomain(domain)), std::string(op)}];
  list.emplace_back(since_version, factory);
  std::sort(list.begin(), list.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
}

StatusOr<KernelFactory> KernelRegistry::Find(std::string_view domain, std::string_view op,
                                             int opset) const {
  const std::string d(NormalizeDomain(domain));
  auto it = defs_.find({d, std::string(op)});
  const std::string where = d.empty() ? "ai.onnx" : d;
  if (it == defs_.end()) {
    return UnimplementedError("operator " + std::string(op) + " (domain " + where +
                              ") is not supported by rtml");
  }
  KernelFactory found = nullptr;
  for (const auto& [since, f] : it->second)
    if (since <= opset) found = f;
  if (found == nullptr) {
    return UnimplementedError("operator " + std::string(op) + " at opset " + std::to_string(opset) +
                              " (domain " + where + ") is not supported; rtml implements it from opset " +
                              std::to_string(it->second.front().first));
  }
  return found;
}

bool KernelRegistry::Knows(std::string_view domain, std::string_view op) const {
  return defs_.count({std::string(NormalizeDomain(domain)), std::string(op)}) > 0;
}

std::vector<std::string> KernelRegistry::OperatorNames() const {
  std::vector<std::string> out;
  for (const auto& [key, list] : defs_) {
    out.push_back((key.first.empty() ? std::string("ai.onnx") : key.first) + ":" + key.second);
  }
  return out;
}

}  // namespace rtml::engine::internal
