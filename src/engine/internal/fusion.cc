// Graph rewrites applied before kernels are created. Each rewrite keeps the
// model's results (up to float rounding) and removes work per call.
//
//  * Scaler -> LinearClassifier / LinearRegressor: the scaler's offset and
//    scale fold into the linear coefficients and intercepts
//    (w'_rj = w_rj * s_j, b'_r = b_r - sum_j o_j * s_j * w_rj), the
//    StandardScaler + LogisticRegression layout of scikit-learn converters.
#include <algorithm>
#include <unordered_map>

#include "engine/internal/plan.h"
#include "engine/internal/registry.h"

namespace rtml::engine::internal {
namespace {

const onnx::AttributeProto* FindAttr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

std::vector<float> FloatsOf(const onnx::NodeProto& n, const std::string& name) {
  const auto* a = FindAttr(n, name);
  if (a == nullptr) return {};
  return std::vector<float>(a->floats().begin(), a->floats().end());
}

void SetFloats(onnx::NodeProto& n, const std::string& name, const std::vector<double>& values) {
  onnx::AttributeProto* attr = nullptr;
  for (auto& a : *n.mutable_attribute())
    if (a.name() == name) attr = &a;
  if (attr == nullptr) {
    attr = n.add_attribute();
    attr->set_name(name);
  }
  attr->set_type(onnx::AttributeProto::FLOATS);
  attr->clear_floats();
  for (double v : values) attr->add_floats(static_cast<float>(v));
}

bool IsMl(const onnx::NodeProto& n, const char* op) {
  return NormalizeDomain(n.domain()) == kMlDomain && n.op_type() == op;
}

// Folds `scaler` into `linear` in place; false when the shapes don't fit.
bool FoldScalerIntoLinear(const onnx::NodeProto& scaler, onnx::NodeProto& linear) {
  const bool classifier = linear.op_type() == "LinearClassifier";
  const std::vector<float> coef = FloatsOf(linear, "coefficients");
  std::vector<float> intercepts = FloatsOf(linear, "intercepts");
  int64_t rows;
  if (classifier) {
    if (intercepts.empty()) return false;
    rows = static_cast<int64_t>(intercepts.size());
  } else {
    const auto* t = FindAttr(linear, "targets");
    rows = t ? t->i() : 1;
    if (intercepts.empty()) intercepts.assign(static_cast<size_t>(std::max<int64_t>(rows, 0)), 0.f);
    if (static_cast<int64_t>(intercepts.size()) != rows) return false;
  }
  if (rows <= 0 || coef.empty() || coef.size() % static_cast<size_t>(rows) != 0) return false;
  const size_t features = coef.size() / static_cast<size_t>(rows);
  const std::vector<float> offset = FloatsOf(scaler, "offset");
  const std::vector<float> scale = FloatsOf(scaler, "scale");
  auto fits = [&](size_t n) { return n == 0 || n == 1 || n == features; };
  if (!fits(offset.size()) || !fits(scale.size())) return false;
  auto o = [&](size_t j) -> double { return offset.empty() ? 0.0 : offset[offset.size() == 1 ? 0 : j]; };
  auto s = [&](size_t j) -> double { return scale.empty() ? 1.0 : scale[scale.size() == 1 ? 0 : j]; };
  std::vector<double> new_coef(coef.size());
  std::vector<double> new_int(intercepts.begin(), intercepts.end());
  for (size_t r = 0; r < static_cast<size_t>(rows); ++r) {
    for (size_t j = 0; j < features; ++j) {
      const double w = coef[r * features + j];
      new_coef[r * features + j] = w * s(j);
      new_int[r] -= o(j) * s(j) * w;
    }
  }
  SetFloats(linear, "coefficients", new_coef);
  SetFloats(linear, "intercepts", new_int);
  *linear.mutable_input(0) = scaler.input(0);
  return true;
}

}  // namespace

void FuseNodes(std::vector<WorkNode>& nodes, const std::vector<std::string>& graph_outputs) {
  std::unordered_map<std::string, int> uses;
  for (const auto& wn : nodes)
    for (const auto& in : wn.node.input()) ++uses[in];
  for (const auto& out : graph_outputs) ++uses[out];

  std::unordered_map<std::string, size_t> producer;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& out : nodes[i].node.output()) producer[out] = i;

  std::vector<char> removed(nodes.size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i) {
    onnx::NodeProto& n = nodes[i].node;
    if (!(IsMl(n, "LinearClassifier") || IsMl(n, "LinearRegressor")) || n.input_size() < 1) continue;
    auto p = producer.find(n.input(0));
    if (p == producer.end() || removed[p->second]) continue;
    const onnx::NodeProto& prev = nodes[p->second].node;
    if (!IsMl(prev, "Scaler") || prev.input_size() != 1 || uses[prev.output(0)] != 1) continue;
    if (FoldScalerIntoLinear(prev, n)) removed[p->second] = 1;
  }
  size_t w = 0;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (!removed[i]) nodes[w++] = std::move(nodes[i]);
  nodes.resize(w);
}

}  // namespace rtml::engine::internal
