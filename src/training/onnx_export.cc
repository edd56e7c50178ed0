// XGBoost JSON -> ONNX. The JSON is parsed with float as the number type:
// XGBoost writes its float32 values in shortest round-trip form, and strtof
// reads them back bit-exactly (parsing to double first could round twice).
#include "training/onnx_export.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <vector>

#include <nlohmann/json.hpp>

#include "onnx/checker.h"
#include "onnx/onnx_pb.h"

namespace rtml::training {
namespace {

using ModelJson = nlohmann::basic_json<std::map, std::vector, std::string, bool, std::int64_t,
                                       std::uint64_t, float>;

constexpr std::string_view kBinaryObjective = "binary:logistic";
constexpr std::string_view kRegressionObjective = "reg:squarederror";

// ---------------------------------------------------------------- JSON ---

StatusOr<const ModelJson*> Member(const ModelJson& object, std::string_view key,
                                  std::string_view where) {
  if (!object.is_object()) return InvalidArgumentError("XGBoost model: " + std::string(where) + " is not an object");
  auto it = object.find(key);
  if (it == object.end()) {
    return InvalidArgumentError("XGBoost model: " + std::string(where) + " has no field '" + std::string(key) + "'");
  }
  return &*it;
}

StatusOr<const ModelJson*> Path(const ModelJson& root, std::initializer_list<std::string_view> keys) {
  const ModelJson* node = &root;
  std::string where = "the document";
  for (std::string_view key : keys) {
    ASSIGN_OR_RETURN(node, Member(*node, key, where));
    where = "'" + std::string(key) + "'";
  }
  return node;
}

StatusOr<std::string> StringAt(const ModelJson& root, std::initializer_list<std::string_view> keys) {
  ASSIGN_OR_RETURN(const ModelJson* node, Path(root, keys));
  if (!node->is_string()) return InvalidArgumentError("XGBoost model: '" + std::string(*(keys.end() - 1)) + "' is not a string");
  return node->get<std::string>();
}

// XGBoost stores learner parameters as strings ("5E-1", "20").
StatusOr<float> FloatString(const std::string& text, std::string_view name) {
  float value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || !std::isfinite(value)) {
    return InvalidArgumentError("XGBoost model: " + std::string(name) + " '" + text + "' is not a finite number");
  }
  return value;
}

StatusOr<int64_t> IntString(const std::string& text, std::string_view name) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) {
    return InvalidArgumentError("XGBoost model: " + std::string(name) + " '" + text + "' is not an integer");
  }
  return value;
}

template <typename T>
StatusOr<std::vector<T>> NumberArray(const ModelJson& object, std::string_view key, std::string_view where) {
  ASSIGN_OR_RETURN(const ModelJson* node, Member(object, key, where));
  if (!node->is_array()) return InvalidArgumentError("XGBoost model: " + std::string(where) + "." + std::string(key) + " is not an array");
  std::vector<T> out;
  out.reserve(node->size());
  for (const ModelJson& v : *node) {
    if (v.is_boolean()) {
      out.push_back(static_cast<T>(v.get<bool>() ? 1 : 0));
    } else if (v.is_number()) {
      out.push_back(v.get<T>());
    } else {
      return InvalidArgumentError("XGBoost model: " + std::string(where) + "." + std::string(key) + " holds a non-number");
    }
  }
  return out;
}

// --------------------------------------------------------------- model ---

enum class Objective { kBinaryLogistic, kSquaredError };

struct Learner {
  Objective objective = Objective::kBinaryLogistic;
  std::string booster;   // "gbtree" or "gblinear"
  int64_t num_feature = 0;
  float base_margin = 0;  // base_score in margin space
};

StatusOr<Learner> ReadLearner(const ModelJson& root) {
  Learner learner;
  ASSIGN_OR_RETURN(std::string objective, StringAt(root, {"learner", "objective", "name"}));
  if (objective == kBinaryObjective) {
    learner.objective = Objective::kBinaryLogistic;
  } else if (objective == kRegressionObjective) {
    learner.objective = Objective::kSquaredError;
  } else {
    return UnimplementedError("XGBoost objective '" + objective + "' cannot be exported; supported are " +
                              std::string(kBinaryObjective) + " and " + std::string(kRegressionObjective));
  }
  ASSIGN_OR_RETURN(learner.booster, StringAt(root, {"learner", "gradient_booster", "name"}));
  if (learner.booster != "gbtree" && learner.booster != "gblinear") {
    return UnimplementedError("XGBoost booster '" + learner.booster +
                              "' cannot be exported; supported are gbtree and gblinear");
  }
  ASSIGN_OR_RETURN(std::string num_class, StringAt(root, {"learner", "learner_model_param", "num_class"}));
  if (num_class != "0" && num_class != "1") {
    return UnimplementedError("multi-class XGBoost models (num_class " + num_class + ") cannot be exported");
  }
  ASSIGN_OR_RETURN(std::string num_feature, StringAt(root, {"learner", "learner_model_param", "num_feature"}));
  ASSIGN_OR_RETURN(learner.num_feature, IntString(num_feature, "num_feature"));
  if (learner.num_feature <= 0) return InvalidArgumentError("XGBoost model has no features");
  ASSIGN_OR_RETURN(std::string base_text, StringAt(root, {"learner", "learner_model_param", "base_score"}));
  ASSIGN_OR_RETURN(float base_score, FloatString(base_text, "base_score"));
  if (learner.objective == Objective::kBinaryLogistic) {
    // XGBoost 1.7 keeps base_score as a probability for binary:logistic and
    // converts it with ProbToMargin, in float: -log(1/p - 1).
    if (!(base_score > 0.0f && base_score < 1.0f)) {
      return InvalidArgumentError("XGBoost model: base_score " + base_text + " is not a probability in (0, 1)");
    }
    learner.base_margin = -std::log(1.0f / base_score - 1.0f);
  } else {
    learner.base_margin = base_score;
  }
  return learner;
}

// One tree in XGBoost's array layout, reduced to the nodes reachable from the root.
struct Tree {
  std::vector<int64_t> left, right, feature;
  std::vector<float> condition;  // split value, or the leaf value on leaves
  std::vector<int64_t> default_left;
};

StatusOr<Tree> ReadTree(const ModelJson& tree_json, size_t index, int64_t num_feature) {
  const std::string where = "trees[" + std::to_string(index) + "]";
  Tree t;
  ASSIGN_OR_RETURN(t.left, NumberArray<int64_t>(tree_json, "left_children", where));
  ASSIGN_OR_RETURN(t.right, NumberArray<int64_t>(tree_json, "right_children", where));
  ASSIGN_OR_RETURN(t.feature, NumberArray<int64_t>(tree_json, "split_indices", where));
  ASSIGN_OR_RETURN(t.condition, NumberArray<float>(tree_json, "split_conditions", where));
  ASSIGN_OR_RETURN(t.default_left, NumberArray<int64_t>(tree_json, "default_left", where));
  const size_t n = t.left.size();
  if (n == 0) return InvalidArgumentError("XGBoost model: " + where + " has no nodes");
  if (t.right.size() != n || t.feature.size() != n || t.condition.size() != n || t.default_left.size() != n) {
    return InvalidArgumentError("XGBoost model: the node arrays of " + where + " differ in length");
  }
  if (auto types = tree_json.find("split_type"); types != tree_json.end() && types->is_array()) {
    for (const ModelJson& v : *types) {
      if (!v.is_number() || v.get<int64_t>() != 0) {
        return UnimplementedError("XGBoost model: " + where + " has categorical splits, which cannot be exported");
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const bool leaf = t.left[i] == -1;
    if (leaf != (t.right[i] == -1)) {
      return InvalidArgumentError("XGBoost model: node " + std::to_string(i) + " of " + where + " has one child");
    }
    if (leaf) continue;
    const auto in_range = [n](int64_t id) { return id > 0 && static_cast<size_t>(id) < n; };
    if (!in_range(t.left[i]) || !in_range(t.right[i])) {
      return InvalidArgumentError("XGBoost model: node " + std::to_string(i) + " of " + where + " has a child out of range");
    }
    if (t.feature[i] < 0 || t.feature[i] >= num_feature) {
      return InvalidArgumentError("XGBoost model: node " + std::to_string(i) + " of " + where + " splits on feature " +
                                  std::to_string(t.feature[i]) + " of " + std::to_string(num_feature));
    }
  }
  return t;
}

// ---------------------------------------------------------------- ONNX ---

void SetTensorType(onnx::ValueInfoProto* value, std::string_view name, int elem_type,
                   std::initializer_list<int64_t> dims) {
  value->set_name(std::string(name));
  auto* tensor = value->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(elem_type);
  auto* shape = tensor->mutable_shape();
  for (int64_t d : dims) {
    auto* dim = shape->add_dim();
    if (d >= 0) dim->set_dim_value(d);
    else dim->set_dim_param("N");
  }
}

onnx::AttributeProto* NewAttr(onnx::NodeProto* node, const char* name, onnx::AttributeProto::AttributeType type) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(type);
  return a;
}
void IntAttr(onnx::NodeProto* node, const char* name, int64_t v) {
  NewAttr(node, name, onnx::AttributeProto::INT)->set_i(v);
}
void FloatAttr(onnx::NodeProto* node, const char* name, float v) {
  NewAttr(node, name, onnx::AttributeProto::FLOAT)->set_f(v);
}
void StringAttr(onnx::NodeProto* node, const char* name, const std::string& v) {
  NewAttr(node, name, onnx::AttributeProto::STRING)->set_s(v);
}
void IntsAttr(onnx::NodeProto* node, const char* name, const std::vector<int64_t>& v) {
  auto* a = NewAttr(node, name, onnx::AttributeProto::INTS);
  a->mutable_ints()->Add(v.begin(), v.end());
}
void FloatsAttr(onnx::NodeProto* node, const char* name, const std::vector<float>& v) {
  auto* a = NewAttr(node, name, onnx::AttributeProto::FLOATS);
  a->mutable_floats()->Add(v.begin(), v.end());
}
void StringsAttr(onnx::NodeProto* node, const char* name, const std::vector<std::string>& v) {
  auto* a = NewAttr(node, name, onnx::AttributeProto::STRINGS);
  for (const auto& s : v) a->add_strings(s);
}

onnx::NodeProto* AddNode(onnx::GraphProto* graph, const char* op, std::vector<std::string> inputs,
                         std::vector<std::string> outputs) {
  auto* node = graph->add_node();
  node->set_op_type(op);
  node->set_domain("ai.onnx.ml");
  node->set_name(op);
  for (auto& i : inputs) node->add_input(i);
  for (auto& o : outputs) node->add_output(o);
  return node;
}

// Declares the graph outputs of a binary classifier or a regressor.
void AddOutputs(onnx::GraphProto* graph, Objective objective) {
  if (objective == Objective::kBinaryLogistic) {
    SetTensorType(graph->add_output(), kLabelOutput, onnx::TensorProto::INT64, {-1});
    SetTensorType(graph->add_output(), kProbabilitiesOutput, onnx::TensorProto::FLOAT, {-1, 2});
  } else {
    SetTensorType(graph->add_output(), kRegressionOutput, onnx::TensorProto::FLOAT, {-1, 1});
  }
}

std::vector<std::string> NodeOutputs(Objective objective) {
  if (objective == Objective::kBinaryLogistic) {
    return {std::string(kLabelOutput), std::string(kProbabilitiesOutput)};
  }
  return {std::string(kRegressionOutput)};
}

// Trees: each XGBoost split "x < t, missing -> default child" becomes a
// BRANCH_LT node whose true branch is XGBoost's left child, with
// nodes_missing_value_tracks_true = default_left. Leaf values are the
// split_conditions of leaf nodes (XGBoost stores the learning-rate-scaled
// leaf value there; base_weights is the unscaled weight).
Status AddTreeEnsemble(onnx::GraphProto* graph, const ModelJson& root, const Learner& learner) {
  ASSIGN_OR_RETURN(const ModelJson* model, Path(root, {"learner", "gradient_booster", "model"}));
  ASSIGN_OR_RETURN(const ModelJson* trees, Member(*model, "trees", "gradient_booster.model"));
  if (!trees->is_array() || trees->empty()) return InvalidArgumentError("XGBoost model has no trees");
  if (auto info = model->find("tree_info"); info != model->end() && info->is_array()) {
    for (const ModelJson& v : *info) {
      if (!v.is_number() || v.get<int64_t>() != 0) {
        return UnimplementedError("XGBoost model has trees for more than one output group");
      }
    }
  }

  std::vector<int64_t> tree_ids, node_ids, feature_ids, true_ids, false_ids, missing_true;
  std::vector<float> values;
  std::vector<std::string> modes;
  std::vector<int64_t> leaf_tree, leaf_node, leaf_target;
  std::vector<float> leaf_weight;
  for (size_t ti = 0; ti < trees->size(); ++ti) {
    ASSIGN_OR_RETURN(Tree t, ReadTree((*trees)[ti], ti, learner.num_feature));
    const auto tree_id = static_cast<int64_t>(ti);
    // Depth-first from the root: only reachable nodes are exported (pruned
    // nodes stay in XGBoost's arrays), each at most once.
    std::vector<uint8_t> seen(t.left.size(), 0);
    std::vector<int64_t> stack{0};
    while (!stack.empty()) {
      const int64_t id = stack.back();
      stack.pop_back();
      const auto i = static_cast<size_t>(id);
      if (seen[i]) return InvalidArgumentError("XGBoost model: trees[" + std::to_string(ti) + "] is not a tree");
      seen[i] = 1;
      tree_ids.push_back(tree_id);
      node_ids.push_back(id);
      if (t.left[i] == -1) {
        modes.emplace_back("LEAF");
        feature_ids.push_back(0);
        values.push_back(0.0f);
        true_ids.push_back(0);
        false_ids.push_back(0);
        missing_true.push_back(0);
        leaf_tree.push_back(tree_id);
        leaf_node.push_back(id);
        leaf_target.push_back(0);
        leaf_weight.push_back(t.condition[i]);
        continue;
      }
      modes.emplace_back("BRANCH_LT");
      feature_ids.push_back(t.feature[i]);
      values.push_back(t.condition[i]);
      true_ids.push_back(t.left[i]);
      false_ids.push_back(t.right[i]);
      missing_true.push_back(t.default_left[i] != 0 ? 1 : 0);
      stack.push_back(t.right[i]);
      stack.push_back(t.left[i]);
    }
  }

  const bool classifier = learner.objective == Objective::kBinaryLogistic;
  onnx::NodeProto* node = AddNode(graph, classifier ? "TreeEnsembleClassifier" : "TreeEnsembleRegressor",
                                  {std::string(kInputName)}, NodeOutputs(learner.objective));
  IntsAttr(node, "nodes_treeids", tree_ids);
  IntsAttr(node, "nodes_nodeids", node_ids);
  IntsAttr(node, "nodes_featureids", feature_ids);
  StringsAttr(node, "nodes_modes", modes);
  FloatsAttr(node, "nodes_values", values);
  IntsAttr(node, "nodes_truenodeids", true_ids);
  IntsAttr(node, "nodes_falsenodeids", false_ids);
  IntsAttr(node, "nodes_missing_value_tracks_true", missing_true);
  const char* prefix = classifier ? "class_" : "target_";
  IntsAttr(node, (std::string(prefix) + "treeids").c_str(), leaf_tree);
  IntsAttr(node, (std::string(prefix) + "nodeids").c_str(), leaf_node);
  IntsAttr(node, (std::string(prefix) + "ids").c_str(), leaf_target);
  FloatsAttr(node, (std::string(prefix) + "weights").c_str(), leaf_weight);
  FloatsAttr(node, "base_values", {learner.base_margin});
  if (classifier) {
    // One score column (class 1's margin): probabilities [1 - σ(s), σ(s)],
    // label 1 when s > 0 (docs/engine.md, "Semantics decided").
    IntsAttr(node, "classlabels_int64s", {0, 1});
    StringAttr(node, "post_transform", "LOGISTIC");
  } else {
    IntAttr(node, "n_targets", 1);
    StringAttr(node, "aggregate_function", "SUM");
    StringAttr(node, "post_transform", "NONE");
  }
  return OkStatus();
}

// gblinear: margin = bias + base + Σ w_j x_j over the present features.
// XGBoost skips missing entries, which equals imputing 0, so an Imputer
// (NaN -> 0) feeds the linear operator. The intercept is bias + base margin
// summed in float, as XGBoost's predictor starts its float sum.
Status AddLinear(onnx::GraphProto* graph, const ModelJson& root, const Learner& learner) {
  ASSIGN_OR_RETURN(const ModelJson* model, Path(root, {"learner", "gradient_booster", "model"}));
  ASSIGN_OR_RETURN(std::vector<float> weights, NumberArray<float>(*model, "weights", "gradient_booster.model"));
  const auto features = static_cast<size_t>(learner.num_feature);
  if (weights.size() != features + 1) {
    return UnimplementedError("XGBoost gblinear model has " + std::to_string(weights.size()) + " weights; expected " +
                              std::to_string(features + 1) + " (one output group)");
  }
  const float intercept = weights[features] + learner.base_margin;
  weights.resize(features);

  const std::string imputed = std::string(kInputName) + "_imputed";
  onnx::NodeProto* imputer = AddNode(graph, "Imputer", {std::string(kInputName)}, {imputed});
  FloatsAttr(imputer, "imputed_value_floats", {0.0f});
  FloatAttr(imputer, "replaced_value_float", std::numeric_limits<float>::quiet_NaN());

  const bool classifier = learner.objective == Objective::kBinaryLogistic;
  onnx::NodeProto* node = AddNode(graph, classifier ? "LinearClassifier" : "LinearRegressor", {imputed},
                                  NodeOutputs(learner.objective));
  FloatsAttr(node, "coefficients", weights);
  FloatsAttr(node, "intercepts", {intercept});
  if (classifier) {
    // One coefficient row and two labels: scores [1 - σ(s), σ(s)], label 1 when s > 0.
    IntsAttr(node, "classlabels_ints", {0, 1});
    StringAttr(node, "post_transform", "LOGISTIC");
  } else {
    IntAttr(node, "targets", 1);
    StringAttr(node, "post_transform", "NONE");
  }
  return OkStatus();
}

std::string JsonStringArray(std::span<const std::string> names) {
  return nlohmann::json(std::vector<std::string>(names.begin(), names.end())).dump();
}

StatusOr<std::string> Export(std::string_view xgboost_json, const ExportOptions& options) {
  const ModelJson root = ModelJson::parse(xgboost_json.begin(), xgboost_json.end(), nullptr,
                                          /*allow_exceptions=*/false);
  if (root.is_discarded()) return InvalidArgumentError("the XGBoost model is not valid JSON");
  ASSIGN_OR_RETURN(Learner learner, ReadLearner(root));
  if (!options.feature_names.empty() &&
      static_cast<int64_t>(options.feature_names.size()) != learner.num_feature) {
    return InvalidArgumentError("feature_names has " + std::to_string(options.feature_names.size()) +
                                " names but the model has " + std::to_string(learner.num_feature) + " features");
  }

  onnx::ModelProto proto;
  proto.set_ir_version(kExportIrVersion);
  proto.set_producer_name("rtml");
  proto.set_producer_version("xgboost-1.7");
  proto.set_model_version(1);
  auto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(kExportOnnxOpset);
  auto* ml = proto.add_opset_import();
  ml->set_domain("ai.onnx.ml");
  ml->set_version(kExportOnnxMlOpset);

  onnx::GraphProto* graph = proto.mutable_graph();
  graph->set_name(options.graph_name);
  SetTensorType(graph->add_input(), kInputName, onnx::TensorProto::FLOAT, {-1, learner.num_feature});
  AddOutputs(graph, learner.objective);
  if (learner.booster == "gbtree") {
    RETURN_IF_ERROR(AddTreeEnsemble(graph, root, learner));
  } else {
    RETURN_IF_ERROR(AddLinear(graph, root, learner));
  }

  std::vector<std::string> names(options.feature_names.begin(), options.feature_names.end());
  if (names.empty()) {
    for (int64_t i = 0; i < learner.num_feature; ++i) names.push_back("f" + std::to_string(i));
  }
  std::map<std::string, std::string> metadata = options.metadata;
  metadata["feature_names"] = JsonStringArray(names);
  metadata["xgboost_objective"] =
      std::string(learner.objective == Objective::kBinaryLogistic ? kBinaryObjective : kRegressionObjective);
  metadata["xgboost_booster"] = learner.booster;
  for (const auto& [key, value] : metadata) {
    auto* prop = proto.add_metadata_props();
    prop->set_key(key);
    prop->set_value(value);
  }

  try {
    onnx::checker::check_model(proto);
  } catch (const std::exception& e) {
    return InternalError(std::string("the exported ONNX model fails onnx::checker: ") + e.what());
  }
  std::string bytes;
  if (!proto.SerializeToString(&bytes)) return InternalError("could not serialize the exported ONNX model");
  return bytes;
}

}  // namespace

StatusOr<std::string> ExportXGBoostJsonToOnnx(std::string_view xgboost_json, const ExportOptions& options) {
  // nlohmann's typed accessors and protobuf may throw; nothing escapes this component.
  try {
    return Export(xgboost_json, options);
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("XGBoost model: ") + e.what());
  }
}

}  // namespace rtml::training
