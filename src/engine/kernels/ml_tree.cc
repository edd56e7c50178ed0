// TreeEnsembleClassifier and TreeEnsembleRegressor (ai.onnx.ml 1 and 3).
//
// The attribute tuples are compiled into one flat node array per ensemble,
// renumbered in depth-first order. Comparisons are canonicalised: modes
// LEQ/GT become "x <= t" and LT/GTE become "x < t" (children swapped where
// needed), with a per-node flag saying where NaN goes, so the hot loop has no
// per-node mode switch. Leaves loop to themselves, which lets the evaluator
// walk a group of trees for a fixed number of levels without branches, four
// trees at a time for instruction-level parallelism, and all rows of a batch
// per group of trees so the group's nodes stay in L1.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <unordered_map>

#include "engine/internal/kernel_util.h"
#include "engine/internal/ml_common.h"
#include "engine/internal/onnx_tensor.h"
#include "engine/internal/registry.h"

namespace rtml::engine::internal {
namespace {

enum class Mode : uint8_t { kLeq, kLt, kGte, kGt, kEq, kNeq, kLeaf };
enum class Family { kLeq, kLt, kMixed };
enum class Aggregate { kSum, kAverage, kMin, kMax };

constexpr int kGroup = 4;            // trees walked together
constexpr int kMaxDepth = 4096;      // deeper trees are rejected
constexpr int64_t kMaxFeature = int64_t{1} << 24;

StatusOr<Mode> ParseMode(const std::string& s) {
  if (s == "BRANCH_LEQ") return Mode::kLeq;
  if (s == "BRANCH_LT") return Mode::kLt;
  if (s == "BRANCH_GTE") return Mode::kGte;
  if (s == "BRANCH_GT") return Mode::kGt;
  if (s == "BRANCH_EQ") return Mode::kEq;
  if (s == "BRANCH_NEQ") return Mode::kNeq;
  if (s == "LEAF") return Mode::kLeaf;
  return InvalidArgumentError("nodes_modes has unknown mode '" + s + "'");
}

template <typename T>
struct Node {
  T threshold;
  int32_t feature;
  int32_t left;   // taken when the (canonical) comparison holds
  int32_t right;
  Mode mode;      // canonical mode; the original one on the mixed path
  uint8_t nan_left;
};

struct Weight {
  int32_t target;
  double value;
};

// Reads a float list attribute or its `_as_tensor` double twin.
StatusOr<std::vector<double>> FloatsOrTensor(const NodeAttributes& a, const std::string& name,
                                             bool* as_tensor_double) {
  ASSIGN_OR_RETURN(const onnx::TensorProto* tp, a.TensorAttr(name + "_as_tensor"));
  ASSIGN_OR_RETURN(std::vector<float> plain, a.Floats(name));
  if (tp != nullptr) {
    if (!plain.empty()) {
      return InvalidArgumentError("attributes '" + name + "' and '" + name +
                                  "_as_tensor' are both set; use one");
    }
    auto t = TensorFromProto(*tp);
    if (!t.ok()) return t.status().WithPrefix("attribute '" + name + "_as_tensor'");
    std::vector<double> out;
    if (t->dtype() == DataType::kDouble) {
      if (as_tensor_double) *as_tensor_double = true;
      for (double v : t->values<double>()) out.push_back(v);
    } else if (t->dtype() == DataType::kFloat) {
      for (float v : t->values<float>()) out.push_back(v);
    } else {
      return InvalidArgumentError("attribute '" + name + "_as_tensor' must be DOUBLE or FLOAT");
    }
    return out;
  }
  return std::vector<double>(plain.begin(), plain.end());
}

// A compiled ensemble with thresholds of type T.
template <typename T>
struct Ensemble {
  std::vector<Node<T>> nodes;
  std::vector<int32_t> roots;        // padded to a multiple of kGroup
  std::vector<int32_t> group_depth;  // per group of kGroup roots
  std::vector<double> leaf_value;    // per node: the single weight (fast path)
  std::vector<int32_t> leaf_offset;  // per node: first weight
  std::vector<int32_t> leaf_count;   // per node: number of weights
  std::vector<Weight> weights;
  int64_t n_trees = 0;
  int64_t n_outputs = 0;             // targets or classes
  int64_t num_features = 0;          // max feature id + 1
  Family family = Family::kLeq;
  bool nan_rules = false;            // any node sends NaN left
  bool single_weight = false;        // every leaf has <= 1 weight, all for one output
  int32_t single_target = 0;
  std::vector<uint8_t> distinct_ids;  // which outputs receive weights
  bool weights_all_positive = true;
};

struct EnsembleAttrs {
  std::string weight_prefix;  // "target_" or "class_"
};

template <typename T>
StatusOr<Ensemble<T>> BuildEnsemble(const NodeAttributes& a, const std::string& prefix,
                                    int64_t n_outputs) {
  Ensemble<T> e;
  e.n_outputs = n_outputs;
  ASSIGN_OR_RETURN(auto tree_ids, a.Ints("nodes_treeids"));
  ASSIGN_OR_RETURN(auto node_ids, a.Ints("nodes_nodeids"));
  ASSIGN_OR_RETURN(auto feature_ids, a.Ints("nodes_featureids"));
  ASSIGN_OR_RETURN(auto mode_names, a.Strings("nodes_modes"));
  ASSIGN_OR_RETURN(auto true_ids, a.Ints("nodes_truenodeids"));
  ASSIGN_OR_RETURN(auto false_ids, a.Ints("nodes_falsenodeids"));
  ASSIGN_OR_RETURN(auto missing, a.Ints("nodes_missing_value_tracks_true"));
  ASSIGN_OR_RETURN(auto values, FloatsOrTensor(a, "nodes_values", nullptr));
  const size_t n = tree_ids.size();
  if (n == 0) return InvalidArgumentError("the ensemble has no nodes (nodes_treeids is empty)");
  auto check_len = [&](size_t got, const char* name) -> Status {
    if (got != n) {
      return InvalidArgumentError(std::string("attribute '") + name + "' has " + std::to_string(got) +
                                  " entries; nodes_treeids has " + std::to_string(n));
    }
    return OkStatus();
  };
  RETURN_IF_ERROR(check_len(node_ids.size(), "nodes_nodeids"));
  RETURN_IF_ERROR(check_len(feature_ids.size(), "nodes_featureids"));
  RETURN_IF_ERROR(check_len(mode_names.size(), "nodes_modes"));
  RETURN_IF_ERROR(check_len(true_ids.size(), "nodes_truenodeids"));
  RETURN_IF_ERROR(check_len(false_ids.size(), "nodes_falsenodeids"));
  RETURN_IF_ERROR(check_len(values.size(), "nodes_values"));
  if (!missing.empty()) RETURN_IF_ERROR(check_len(missing.size(), "nodes_missing_value_tracks_true"));

  std::vector<Mode> modes(n);
  for (size_t i = 0; i < n; ++i) {
    ASSIGN_OR_RETURN(modes[i], ParseMode(mode_names[i]));
    if (modes[i] != Mode::kLeaf && (feature_ids[i] < 0 || feature_ids[i] >= kMaxFeature)) {
      return InvalidArgumentError("nodes_featureids[" + std::to_string(i) + "] = " +
                                  std::to_string(feature_ids[i]) + " is out of range");
    }
  }

  // (tree, node) -> attribute index; trees in order of first appearance.
  std::map<std::pair<int64_t, int64_t>, size_t> index;
  std::vector<size_t> tree_first;
  std::map<int64_t, bool> seen_tree;
  for (size_t i = 0; i < n; ++i) {
    if (!index.emplace(std::make_pair(tree_ids[i], node_ids[i]), i).second) {
      return InvalidArgumentError("node " + std::to_string(node_ids[i]) + " of tree " +
                                  std::to_string(tree_ids[i]) + " is defined twice");
    }
    if (!seen_tree[tree_ids[i]]) {
      seen_tree[tree_ids[i]] = true;
      tree_first.push_back(i);
    }
  }

  // Depth-first renumbering per tree, with cycle and dangling-link checks.
  std::vector<int32_t> new_index(n, -1);
  std::vector<int32_t> tree_depth;
  e.nodes.reserve(n + 1);
  struct Item {
    size_t attr;
    int32_t parent;   // new index of the parent, -1 for the root
    bool is_left;
    int depth;
  };
  for (size_t root_attr : tree_first) {
    const int64_t tree = tree_ids[root_attr];
    std::vector<Item> stack{{root_attr, -1, false, 0}};
    int max_depth = 0;
    while (!stack.empty()) {
      const Item it = stack.back();
      stack.pop_back();
      if (new_index[it.attr] >= 0) {
        return InvalidArgumentError("tree " + std::to_string(tree) + ": node " +
                                    std::to_string(node_ids[it.attr]) +
                                    " is reached twice (a cycle or a shared subtree)");
      }
      if (it.depth > kMaxDepth) {
        return UnimplementedError("tree " + std::to_string(tree) + " is deeper than " +
                                  std::to_string(kMaxDepth) + " levels");
      }
      max_depth = std::max(max_depth, it.depth);
      const int32_t me = static_cast<int32_t>(e.nodes.size());
      new_index[it.attr] = me;
      if (it.parent >= 0) (it.is_left ? e.nodes[static_cast<size_t>(it.parent)].left
                                      : e.nodes[static_cast<size_t>(it.parent)].right) = me;
      Node<T> node{};
      const Mode m = modes[it.attr];
      node.mode = m;
      if (m == Mode::kLeaf) {
        node.feature = 0;
        node.left = node.right = me;
        e.nodes.push_back(node);
        continue;
      }
      node.threshold = static_cast<T>(values[it.attr]);
      node.feature = static_cast<int32_t>(feature_ids[it.attr]);
      e.num_features = std::max<int64_t>(e.num_features, feature_ids[it.attr] + 1);
      const bool tracks_true = !missing.empty() && missing[it.attr] != 0;
      auto child = [&](int64_t id, const char* which) -> StatusOr<size_t> {
        auto f = index.find({tree, id});
        if (f == index.end()) {
          return InvalidArgumentError("tree " + std::to_string(tree) + ": node " +
                                      std::to_string(node_ids[it.attr]) + " has " + which + " " +
                                      std::to_string(id) + ", which does not exist");
        }
        if (f->second == it.attr) {
          return InvalidArgumentError("tree " + std::to_string(tree) + ": node " +
                                      std::to_string(node_ids[it.attr]) + " points to itself");
        }
        return f->second;
      };
      ASSIGN_OR_RETURN(size_t t_attr, child(true_ids[it.attr], "true branch"));
      ASSIGN_OR_RETURN(size_t f_attr, child(false_ids[it.attr], "false branch"));
      // Canonical form: left is taken when the canonical comparison holds.
      bool swap = false;
      switch (m) {
        case Mode::kLeq: node.mode = Mode::kLeq; break;
        case Mode::kGt: node.mode = Mode::kLeq; swap = true; break;
        case Mode::kLt: node.mode = Mode::kLt; break;
        case Mode::kGte: node.mode = Mode::kLt; swap = true; break;
        default: node.mode = m; break;  // EQ / NEQ stay as they are
      }
      // Where NaN goes: the true branch when tracked, else wherever the
      // original comparison sends it (false for all modes except NEQ).
      const bool nan_to_true = tracks_true || m == Mode::kNeq;
      const bool canonical_nan_left = swap ? !nan_to_true : nan_to_true;
      // Without a flag NaN fails "<=" and "<" and goes right.
      node.nan_left = canonical_nan_left ? 1 : 0;
      e.nodes.push_back(node);
      const size_t left_attr = swap ? f_attr : t_attr;
      const size_t right_attr = swap ? t_attr : f_attr;
      stack.push_back({right_attr, me, false, it.depth + 1});
      stack.push_back({left_attr, me, true, it.depth + 1});
    }
    tree_depth.push_back(max_depth);
  }
  e.n_trees = static_cast<int64_t>(tree_first.size());

  // Comparison family.
  bool has_leq = false, has_lt = false, has_other = false;
  for (const auto& node : e.nodes) {
    if (node.mode == Mode::kLeq) has_leq = true;
    else if (node.mode == Mode::kLt) has_lt = true;
    else if (node.mode != Mode::kLeaf) has_other = true;
    if (node.nan_left) e.nan_rules = true;
  }
  if (has_other || (has_leq && has_lt)) {
    e.family = Family::kMixed;
    // The mixed path evaluates each node's own mode with left = true branch;
    // undo the canonical swap by storing the original semantics.
    // (Canonical LEQ with swapped children is still "x <= t" -> left.)
  } else {
    e.family = has_lt ? Family::kLt : Family::kLeq;
  }

  // Weights.
  ASSIGN_OR_RETURN(auto w_ids, a.Ints(prefix + "ids"));
  ASSIGN_OR_RETURN(auto w_nodes, a.Ints(prefix + "nodeids"));
  ASSIGN_OR_RETURN(auto w_trees, a.Ints(prefix + "treeids"));
  ASSIGN_OR_RETURN(auto w_values, FloatsOrTensor(a, prefix + "weights", nullptr));
  if (w_nodes.size() != w_ids.size() || w_trees.size() != w_ids.size() || w_values.size() != w_ids.size()) {
    return InvalidArgumentError("attributes '" + prefix + "ids', '" + prefix + "nodeids', '" + prefix +
                                "treeids' and '" + prefix + "weights' must have the same length");
  }
  std::vector<std::vector<Weight>> per_node(e.nodes.size());
  e.distinct_ids.assign(static_cast<size_t>(n_outputs), 0);
  for (size_t i = 0; i < w_ids.size(); ++i) {
    if (w_ids[i] < 0 || w_ids[i] >= n_outputs) {
      return InvalidArgumentError(prefix + "ids[" + std::to_string(i) + "] = " + std::to_string(w_ids[i]) +
                                  " is out of range for " + std::to_string(n_outputs) + " outputs");
    }
    auto f = index.find({w_trees[i], w_nodes[i]});
    if (f == index.end()) {
      return InvalidArgumentError(prefix + "nodeids[" + std::to_string(i) + "]: node " +
                                  std::to_string(w_nodes[i]) + " of tree " + std::to_string(w_trees[i]) +
                                  " does not exist");
    }
    if (modes[f->second] != Mode::kLeaf) {
      return InvalidArgumentError(prefix + "nodeids[" + std::to_string(i) + "]: node " +
                                  std::to_string(w_nodes[i]) + " of tree " + std::to_string(w_trees[i]) +
                                  " is not a leaf");
    }
    const int32_t ni = new_index[f->second];
    if (ni < 0) continue;  // unreachable leaf
    per_node[static_cast<size_t>(ni)].push_back({static_cast<int32_t>(w_ids[i]), w_values[i]});
    e.distinct_ids[static_cast<size_t>(w_ids[i])] = 1;
    if (w_values[i] < 0) e.weights_all_positive = false;
  }

  // A dummy leaf pads the last group of trees.
  const int32_t dummy = static_cast<int32_t>(e.nodes.size());
  Node<T> leaf{};
  leaf.mode = Mode::kLeaf;
  leaf.left = leaf.right = dummy;
  e.nodes.push_back(leaf);
  per_node.emplace_back();

  e.leaf_value.assign(e.nodes.size(), 0.0);
  e.leaf_offset.assign(e.nodes.size(), 0);
  e.leaf_count.assign(e.nodes.size(), 0);
  e.single_weight = true;
  int32_t target = -1;
  for (size_t i = 0; i < per_node.size(); ++i) {
    e.leaf_offset[i] = static_cast<int32_t>(e.weights.size());
    e.leaf_count[i] = static_cast<int32_t>(per_node[i].size());
    for (const Weight& w : per_node[i]) {
      e.weights.push_back(w);
      if (target < 0) target = w.target;
      if (w.target != target) e.single_weight = false;
    }
    if (per_node[i].size() > 1) e.single_weight = false;
    if (per_node[i].size() == 1) e.leaf_value[i] = per_node[i][0].value;
  }
  e.single_target = std::max(target, 0);

  for (size_t t = 0; t < tree_first.size(); ++t) e.roots.push_back(new_index[tree_first[t]]);
  while (e.roots.size() % kGroup != 0 || e.roots.empty()) {
    e.roots.push_back(dummy);
    tree_depth.push_back(0);
  }
  for (size_t g = 0; g < e.roots.size(); g += kGroup) {
    int d = 0;
    for (size_t k = 0; k < kGroup; ++k) d = std::max(d, tree_depth[g + k]);
    e.group_depth.push_back(d);
  }
  return e;
}

template <typename T>
inline bool CompareMixed(Mode m, T v, T t) {
  switch (m) {
    case Mode::kLeq: return v <= t;
    case Mode::kLt: return v < t;
    case Mode::kEq: return v == t;
    case Mode::kNeq: return v != t;
    default: return false;
  }
}

template <typename T, Family F, bool kNan>
inline int32_t Step(const Node<T>* nodes, int32_t i, const T* x) {
  const Node<T>& n = nodes[i];
  const T v = x[n.feature];
  bool left;
  if constexpr (F == Family::kLeq) left = v <= n.threshold;
  else if constexpr (F == Family::kLt) left = v < n.threshold;
  else left = CompareMixed(n.mode, v, n.threshold);
  if constexpr (kNan) {
    // Branch-free: NaN fails every canonical comparison, so OR-ing in the
    // node's NaN direction is exact.
    left = left | (static_cast<bool>(n.nan_left) & std::isnan(v));
  }
  return left ? n.left : n.right;
}

// Calls on_leaf(row, node) for every (row, tree) pair.
template <typename T, Family F, bool kNan, typename OnLeaf>
void Walk(const Ensemble<T>& e, const T* x, int64_t rows, int64_t stride, OnLeaf&& on_leaf) {
  const Node<T>* nodes = e.nodes.data();
  const size_t groups = e.group_depth.size();
  for (size_t g = 0; g < groups; ++g) {
    const int32_t* r = e.roots.data() + g * kGroup;
    const int depth = e.group_depth[g];
    int64_t row = 0;
    // Two rows at a time: eight independent walks keep more loads in flight.
    for (; row + 1 < rows; row += 2) {
      const T* xa = x + row * stride;
      const T* xb = xa + stride;
      int32_t a0 = r[0], a1 = r[1], a2 = r[2], a3 = r[3];
      int32_t b0 = r[0], b1 = r[1], b2 = r[2], b3 = r[3];
      for (int d = 0; d < depth; ++d) {
        a0 = Step<T, F, kNan>(nodes, a0, xa);
        b0 = Step<T, F, kNan>(nodes, b0, xb);
        a1 = Step<T, F, kNan>(nodes, a1, xa);
        b1 = Step<T, F, kNan>(nodes, b1, xb);
        a2 = Step<T, F, kNan>(nodes, a2, xa);
        b2 = Step<T, F, kNan>(nodes, b2, xb);
        a3 = Step<T, F, kNan>(nodes, a3, xa);
        b3 = Step<T, F, kNan>(nodes, b3, xb);
      }
      on_leaf(row, a0);
      on_leaf(row, a1);
      on_leaf(row, a2);
      on_leaf(row, a3);
      on_leaf(row + 1, b0);
      on_leaf(row + 1, b1);
      on_leaf(row + 1, b2);
      on_leaf(row + 1, b3);
    }
    for (; row < rows; ++row) {
      const T* xr = x + row * stride;
      int32_t i0 = r[0], i1 = r[1], i2 = r[2], i3 = r[3];
      for (int d = 0; d < depth; ++d) {
        i0 = Step<T, F, kNan>(nodes, i0, xr);
        i1 = Step<T, F, kNan>(nodes, i1, xr);
        i2 = Step<T, F, kNan>(nodes, i2, xr);
        i3 = Step<T, F, kNan>(nodes, i3, xr);
      }
      on_leaf(row, i0);
      on_leaf(row, i1);
      on_leaf(row, i2);
      on_leaf(row, i3);
    }
  }
}

template <typename T, typename OnLeaf>
void Dispatch(const Ensemble<T>& e, const T* x, int64_t rows, int64_t stride, OnLeaf&& on_leaf) {
  switch (e.family) {
    case Family::kLeq:
      if (e.nan_rules) Walk<T, Family::kLeq, true>(e, x, rows, stride, on_leaf);
      else Walk<T, Family::kLeq, false>(e, x, rows, stride, on_leaf);
      break;
    case Family::kLt:
      if (e.nan_rules) Walk<T, Family::kLt, true>(e, x, rows, stride, on_leaf);
      else Walk<T, Family::kLt, false>(e, x, rows, stride, on_leaf);
      break;
    case Family::kMixed:
      Walk<T, Family::kMixed, true>(e, x, rows, stride, on_leaf);
      break;
  }
}

// Evaluates the ensemble into per-row raw scores (aggregated, before base
// values and transforms). scores: rows x n_outputs; has: same, 0/1.
template <typename T>
Status Evaluate(const Ensemble<T>& e, Aggregate agg, KernelContext& ctx, const Tensor& X,
                double** scores_out, uint8_t** has_out, int64_t* rows_out) {
  int64_t rows, cols;
  if (X.rank() == 1) {
    rows = 1;
    cols = X.shape()[0];
  } else if (X.rank() == 2) {
    rows = X.shape()[0];
    cols = X.shape()[1];
  } else {
    return InvalidArgumentError("input X must be 1-D or 2-D, got shape " + X.shape().ToString());
  }
  if (cols < e.num_features) {
    return InvalidArgumentError("input X has " + std::to_string(cols) +
                                " features but the trees use feature index " +
                                std::to_string(e.num_features - 1));
  }
  const int64_t outs = e.n_outputs;
  // Scratch layout: [converted X (T)] [scores (double)] [has (uint8)].
  const bool convert = X.dtype() != kDataTypeOf<T>;
  const size_t x_bytes = convert ? static_cast<size_t>(rows * cols) * sizeof(T) : 0;
  const size_t x_pad = (x_bytes + 63) / 64 * 64;
  const size_t s_bytes = static_cast<size_t>(rows * outs) * sizeof(double);
  const size_t s_pad = (s_bytes + 63) / 64 * 64;
  ASSIGN_OR_RETURN(std::byte* buf, ctx.Scratch<std::byte>(x_pad + s_pad + static_cast<size_t>(rows * outs)));
  const T* x;
  if (convert) {
    T* cx = reinterpret_cast<T*>(buf);
    RETURN_IF_ERROR(DispatchNumeric(X.dtype(), "TreeEnsemble input", [&](auto tag) {
      using S = typename decltype(tag)::type;
      const S* src = X.data<S>();
      for (int64_t i = 0; i < rows * cols; ++i) cx[i] = static_cast<T>(src[i]);
      return OkStatus();
    }));
    x = cx;
  } else {
    x = X.data<T>();
  }
  double* scores = reinterpret_cast<double*>(buf + x_pad);
  uint8_t* has = reinterpret_cast<uint8_t*>(buf + x_pad + s_pad);
  std::fill(scores, scores + rows * outs, 0.0);
  std::fill(has, has + rows * outs, uint8_t{0});

  const bool additive = agg == Aggregate::kSum || agg == Aggregate::kAverage;
  if (additive && e.single_weight) {
    const double* lv = e.leaf_value.data();
    const int32_t k = e.single_target;
    Dispatch(e, x, rows, cols, [&](int64_t row, int32_t leaf) { scores[row * outs + k] += lv[leaf]; });
    if (!e.weights.empty())
      for (int64_t r = 0; r < rows; ++r) has[r * outs + k] = 1;
  } else {
    const int32_t* off = e.leaf_offset.data();
    const int32_t* cnt = e.leaf_count.data();
    const Weight* w = e.weights.data();
    Dispatch(e, x, rows, cols, [&](int64_t row, int32_t leaf) {
      double* s = scores + row * outs;
      uint8_t* h = has + row * outs;
      for (int32_t j = off[leaf], end = off[leaf] + cnt[leaf]; j < end; ++j) {
        const int32_t t = w[j].target;
        const double v = w[j].value;
        switch (agg) {
          case Aggregate::kSum:
          case Aggregate::kAverage: s[t] += v; break;
          case Aggregate::kMin: s[t] = h[t] ? std::min(s[t], v) : v; break;
          case Aggregate::kMax: s[t] = h[t] ? std::max(s[t], v) : v; break;
        }
        h[t] = 1;
      }
    });
  }
  if (agg == Aggregate::kAverage) {
    const double inv = 1.0 / static_cast<double>(e.n_trees);
    for (int64_t i = 0; i < rows * outs; ++i) scores[i] *= inv;
  }
  *scores_out = scores;
  *has_out = has;
  *rows_out = rows;
  return OkStatus();
}

StatusOr<Aggregate> ParseAggregate(const std::string& s) {
  if (s == "SUM") return Aggregate::kSum;
  if (s == "AVERAGE") return Aggregate::kAverage;
  if (s == "MIN") return Aggregate::kMin;
  if (s == "MAX") return Aggregate::kMax;
  return InvalidArgumentError("attribute 'aggregate_function' must be SUM, AVERAGE, MIN or MAX, got '" + s + "'");
}

// Threshold type: double when nodes_values_as_tensor holds doubles.
StatusOr<bool> UsesDoubleThresholds(const NodeAttributes& a) {
  ASSIGN_OR_RETURN(const onnx::TensorProto* tp, a.TensorAttr("nodes_values_as_tensor"));
  return tp != nullptr && tp->data_type() == onnx::TensorProto::DOUBLE;
}

// ------------------------------------------------------------ regressor ---

template <typename T>
class TreeRegressorKernel final : public Kernel {
 public:
  TreeRegressorKernel(Ensemble<T> e, Aggregate agg, PostTransform post, std::vector<double> base)
      : e_(std::move(e)), agg_(agg), post_(post), base_(std::move(base)) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* X, RequireInput(ctx, 0, "X"));
    double* scores;
    uint8_t* has;
    int64_t rows;
    RETURN_IF_ERROR(Evaluate(e_, agg_, ctx, *X, &scores, &has, &rows));
    const int64_t outs = e_.n_outputs;
    ASSIGN_OR_RETURN(Tensor* Y, ctx.Output(0, DataType::kFloat, Shape{rows, outs}));
    float* y = Y->mutable_data<float>();
    const bool per_target_base = static_cast<int64_t>(base_.size()) == outs;
    for (int64_t r = 0; r < rows; ++r) {
      double* s = scores + r * outs;
      for (int64_t t = 0; t < outs; ++t) {
        if (per_target_base) s[t] += base_[static_cast<size_t>(t)];
        else if (outs == 1 && base_.size() == 1) s[t] += base_[0];
      }
      ApplyPostTransform(post_, std::span<double>(s, static_cast<size_t>(outs)));
      for (int64_t t = 0; t < outs; ++t) y[r * outs + t] = static_cast<float>(s[t]);
    }
    return OkStatus();
  }

 private:
  Ensemble<T> e_;
  Aggregate agg_;
  PostTransform post_;
  std::vector<double> base_;
};

template <typename T>
StatusOr<std::unique_ptr<Kernel>> MakeRegressor(const KernelInfo& info, int64_t n_targets) {
  const auto& a = info.attrs;
  ASSIGN_OR_RETURN(std::string agg_name, a.String("aggregate_function", std::string("SUM")));
  ASSIGN_OR_RETURN(Aggregate agg, ParseAggregate(agg_name));
  ASSIGN_OR_RETURN(PostTransform post, ReadPostTransform(a));
  ASSIGN_OR_RETURN(std::vector<double> base, FloatsOrTensor(a, "base_values", nullptr));
  if (!base.empty() && base.size() != 1 && static_cast<int64_t>(base.size()) != n_targets) {
    return InvalidArgumentError("base_values has " + std::to_string(base.size()) + " entries; expected 0, 1 or n_targets = " +
                                std::to_string(n_targets));
  }
  ASSIGN_OR_RETURN(Ensemble<T> e, BuildEnsemble<T>(a, "target_", n_targets));
  return MakeKernel<TreeRegressorKernel<T>>(std::move(e), agg, post, std::move(base));
}

StatusOr<std::unique_ptr<Kernel>> CreateTreeRegressor(const KernelInfo& info) {
  const auto& a = info.attrs;
  ASSIGN_OR_RETURN(auto target_ids, a.Ints("target_ids"));
  int64_t inferred = 1;
  for (int64_t t : target_ids) inferred = std::max(inferred, t + 1);
  ASSIGN_OR_RETURN(int64_t n_targets, a.Int("n_targets", inferred));
  if (n_targets <= 0 || n_targets > (int64_t{1} << 20)) {
    return InvalidArgumentError("attribute 'n_targets' must be positive, got " + std::to_string(n_targets));
  }
  ASSIGN_OR_RETURN(bool dbl, UsesDoubleThresholds(a));
  if (dbl) return MakeRegressor<double>(info, n_targets);
  return MakeRegressor<float>(info, n_targets);
}

// ----------------------------------------------------------- classifier ---

template <typename T>
class TreeClassifierKernel final : public Kernel {
 public:
  TreeClassifierKernel(Ensemble<T> e, PostTransform post, std::vector<double> base,
                       std::vector<int64_t> int_labels, std::vector<std::string> string_labels)
      : e_(std::move(e)), post_(post), base_(std::move(base)), int_labels_(std::move(int_labels)),
        string_labels_(std::move(string_labels)) {
    int distinct = 0;
    for (uint8_t d : e_.distinct_ids) distinct += d;
    binary_ = e_.n_outputs == 2 && distinct == 1;
  }

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* X, RequireInput(ctx, 0, "X"));
    double* scores;
    uint8_t* has;
    int64_t rows;
    RETURN_IF_ERROR(Evaluate(e_, Aggregate::kSum, ctx, *X, &scores, &has, &rows));
    const int64_t classes = e_.n_outputs;
    const bool strings = !string_labels_.empty();
    ASSIGN_OR_RETURN(Tensor* label, ctx.Output(0, strings ? DataType::kString : DataType::kInt64, Shape{rows}));
    ASSIGN_OR_RETURN(Tensor* Z, ctx.Output(1, DataType::kFloat, Shape{rows, classes}));
    float* z = Z->mutable_data<float>();
    for (int64_t r = 0; r < rows; ++r) {
      double* s = scores + r * classes;
      uint8_t* h = has + r * classes;
      int64_t winner = 0;
      if (binary_) {
        // One score column: it is the positive class's score.
        double v = 0;
        for (int64_t c = 0; c < classes; ++c) v += s[c];
        if (base_.size() == 1) v += base_[0];
        else if (base_.size() == 2) v += base_[1];
        double out[2];
        if (post_ == PostTransform::kLogistic) {
          const double p = Logistic(v);
          out[0] = 1.0 - p;
          out[1] = p;
          winner = v > 0 ? 1 : 0;
        } else if (post_ == PostTransform::kProbit) {
          out[0] = Probit(v);
          out[1] = 0.0;
          winner = v > (e_.weights_all_positive ? 0.5 : 0.0) ? 1 : 0;
        } else if (e_.weights_all_positive) {
          out[0] = 1.0 - v;  // probability-like leaves
          out[1] = v;
          winner = v > 0.5 ? 1 : 0;
        } else {
          out[0] = -v;
          out[1] = v;
          winner = v > 0 ? 1 : 0;
        }
        z[r * 2] = static_cast<float>(out[0]);
        z[r * 2 + 1] = static_cast<float>(out[1]);
      } else {
        if (static_cast<int64_t>(base_.size()) == classes) {
          for (int64_t c = 0; c < classes; ++c) {
            s[c] += base_[static_cast<size_t>(c)];
            h[c] = 1;
          }
        }
        int64_t best = -1;
        for (int64_t c = 0; c < classes; ++c) {
          if (h[c] && (best < 0 || s[c] > s[best])) best = c;
        }
        winner = best < 0 ? 0 : best;
        ApplyPostTransform(post_, std::span<double>(s, static_cast<size_t>(classes)));
        for (int64_t c = 0; c < classes; ++c) z[r * classes + c] = static_cast<float>(s[c]);
      }
      if (strings) label->mutable_data<std::string>()[r].assign(string_labels_[static_cast<size_t>(winner)]);
      else label->mutable_data<int64_t>()[r] = int_labels_[static_cast<size_t>(winner)];
    }
    return OkStatus();
  }

 private:
  Ensemble<T> e_;
  PostTransform post_;
  std::vector<double> base_;
  std::vector<int64_t> int_labels_;
  std::vector<std::string> string_labels_;
  bool binary_ = false;
};

template <typename T>
StatusOr<std::unique_ptr<Kernel>> MakeClassifier(const KernelInfo& info, std::vector<int64_t> ints,
                                                 std::vector<std::string> strs) {
  const auto& a = info.attrs;
  const int64_t classes = static_cast<int64_t>(strs.empty() ? ints.size() : strs.size());
  ASSIGN_OR_RETURN(PostTransform post, ReadPostTransform(a));
  ASSIGN_OR_RETURN(std::vector<double> base, FloatsOrTensor(a, "base_values", nullptr));
  if (!base.empty() && base.size() != 1 && static_cast<int64_t>(base.size()) != classes) {
    return InvalidArgumentError("base_values has " + std::to_string(base.size()) +
                                " entries; expected 0, 1 or one per class (" + std::to_string(classes) + ")");
  }
  ASSIGN_OR_RETURN(Ensemble<T> e, BuildEnsemble<T>(a, "class_", classes));
  return MakeKernel<TreeClassifierKernel<T>>(std::move(e), post, std::move(base), std::move(ints), std::move(strs));
}

StatusOr<std::unique_ptr<Kernel>> CreateTreeClassifier(const KernelInfo& info) {
  const auto& a = info.attrs;
  ASSIGN_OR_RETURN(auto ints, a.Ints("classlabels_int64s"));
  ASSIGN_OR_RETURN(auto strs, a.Strings("classlabels_strings"));
  if (ints.empty() == strs.empty()) {
    return InvalidArgumentError("exactly one of 'classlabels_int64s' and 'classlabels_strings' must be set");
  }
  if (info.num_outputs != 2) {
    return InvalidArgumentError("TreeEnsembleClassifier has 2 outputs (Y, Z), the node declares " +
                                std::to_string(info.num_outputs));
  }
  ASSIGN_OR_RETURN(bool dbl, UsesDoubleThresholds(a));
  if (dbl) return MakeClassifier<double>(info, std::move(ints), std::move(strs));
  return MakeClassifier<float>(info, std::move(ints), std::move(strs));
}

}  // namespace

void RegisterMlTreeKernels(KernelRegistry& r) {
  r.Add(kMlDomain, "TreeEnsembleRegressor", 1, CreateTreeRegressor);
  r.Add(kMlDomain, "TreeEnsembleClassifier", 1, CreateTreeClassifier);
}

}  // namespace rtml::engine::internal
