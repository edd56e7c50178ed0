// Graph rewrites applied before kernels are created. Each rewrite keeps the
// model's results (up to float rounding) and removes work per call.
//
//  * Scaler -> LinearClassifier / LinearRegressor: the scaler's offset and
//    scale fold into the linear coefficients and intercepts
//    (w'_rj = w_rj * s_j, b'_r = b_r - sum_j o_j * s_j * w_rj), the
//    StandardScaler + LogisticRegression layout of scikit-learn converters.
//  * MatMul(A, W) -> Add(., b) [-> Relu] with constant FP32 W [K,N] and b of
//    N values becomes ai.rtml FusedMatMul(A, W, b) with the bias and ReLU in
//    the GEMM epilogue (the PyTorch nn.Linear export layout).
//  * Gemm -> Relu: the ReLU moves into the Gemm epilogue.
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

bool IsOnnx(const onnx::NodeProto& n, const char* op) {
  return NormalizeDomain(n.domain()) == kOnnxDomain && n.op_type() == op;
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

using Initializers = std::unordered_map<std::string, const onnx::TensorProto*>;

const onnx::TensorProto* FloatConstant(const Initializers& inits, const std::string& name) {
  auto it = inits.find(name);
  if (it == inits.end() || it->second->data_type() != onnx::TensorProto::FLOAT) return nullptr;
  return it->second;
}

void StringAttr(onnx::NodeProto& n, const std::string& name, const std::string& value) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(value);
}

}  // namespace

void FuseNodes(std::vector<WorkNode>& nodes, const std::vector<std::string>& graph_outputs,
               const Initializers& initializers) {
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

  // The single consumer of a value that nothing else (and no graph output)
  // reads, or npos.
  std::unordered_map<std::string, size_t> sole_consumer;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& in : nodes[i].node.input())
      if (uses[in] == 1) sole_consumer[in] = i;
  auto consumer_of = [&](const std::string& value) -> size_t {
    auto it = sole_consumer.find(value);
    return it == sole_consumer.end() || removed[it->second] ? std::string::npos : it->second;
  };

  for (size_t i = 0; i < nodes.size(); ++i) {
    if (removed[i]) continue;
    onnx::NodeProto& n = nodes[i].node;
    if (IsOnnx(n, "MatMul") && n.input_size() == 2 && n.output_size() == 1) {
      const onnx::TensorProto* w = FloatConstant(initializers, n.input(1));
      if (w == nullptr || w->dims_size() != 2) continue;
      const size_t add_i = consumer_of(n.output(0));
      if (add_i == std::string::npos || !IsOnnx(nodes[add_i].node, "Add")) continue;
      const onnx::NodeProto& add = nodes[add_i].node;
      const std::string& other = add.input(0) == n.output(0) ? add.input(1) : add.input(0);
      const onnx::TensorProto* b = FloatConstant(initializers, other);
      if (b == nullptr || add.input(0) == add.input(1)) continue;
      int64_t b_elems = 1;
      for (int64_t d : b->dims()) b_elems *= d;
      const bool row = b->dims_size() == 1 || (b->dims_size() == 2 && b->dims(0) == 1);
      if (!row || b_elems != w->dims(1)) continue;
      onnx::NodeProto fused;
      fused.set_name(n.name().empty() ? add.name() : n.name());
      fused.set_op_type("FusedMatMul");
      fused.set_domain(std::string(kRtmlDomain));
      fused.add_input(n.input(0));
      fused.add_input(n.input(1));
      fused.add_input(other);
      std::string out = add.output(0);
      removed[add_i] = 1;
      const size_t relu_i = consumer_of(out);
      if (relu_i != std::string::npos && IsOnnx(nodes[relu_i].node, "Relu")) {
        StringAttr(fused, "activation", "Relu");
        out = nodes[relu_i].node.output(0);
        removed[relu_i] = 1;
      }
      fused.add_output(out);
      // The fused node takes MatMul's place: its inputs are defined before
      // it and the consumers of `out` all come after the Add/Relu it replaces.
      nodes[i].node = std::move(fused);
      nodes[i].opset = 1;
      continue;
    }
    if (IsOnnx(n, "Gemm") && n.output_size() == 1) {
      const size_t relu_i = consumer_of(n.output(0));
      if (relu_i == std::string::npos || !IsOnnx(nodes[relu_i].node, "Relu")) continue;
      StringAttr(n, "activation", "Relu");
      *n.mutable_output(0) = nodes[relu_i].node.output(0);
      removed[relu_i] = 1;
    }
  }
  size_t w = 0;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (!removed[i]) nodes[w++] = std::move(nodes[i]);
  nodes.resize(w);
}

}  // namespace rtml::engine::internal
