// TreeEnsembleRegressor / TreeEnsembleClassifier: modes, missing values,
// aggregation, transforms, binary layouts and malformed ensembles.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "engine/model.h"
#include "onnx_builder.h"

namespace rtml::engine {
namespace {

using rtml::testing::OnnxBuilder;
using ::testing::HasSubstr;
constexpr int kFloat = onnx::TensorProto::FLOAT;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// One stump per tree: node 0 splits feature f at t, node 1 (true), node 2 (false).
struct Stump {
  int64_t feature;
  float threshold;
  std::string mode;
  float true_value;
  float false_value;
  int64_t missing_true = 0;
};

OnnxBuilder Regressor(const std::vector<Stump>& stumps, const std::string& agg, const std::string& post,
                      std::vector<float> base = {}) {
  OnnxBuilder b;
  b.Input("X", kFloat, {-1, 3}).Output("Y", kFloat, {-1, 1});
  auto* n = b.Node("TreeEnsembleRegressor", {"X"}, {"Y"}, "ai.onnx.ml", "trees");
  std::vector<int64_t> tree, node, feat, tnode, fnode, miss, t_tree, t_node, t_id;
  std::vector<std::string> modes;
  std::vector<float> values, weights;
  for (size_t i = 0; i < stumps.size(); ++i) {
    const auto& s = stumps[i];
    const int64_t t = static_cast<int64_t>(i);
    tree.insert(tree.end(), {t, t, t});
    node.insert(node.end(), {0, 1, 2});
    feat.insert(feat.end(), {s.feature, 0, 0});
    modes.insert(modes.end(), {s.mode, "LEAF", "LEAF"});
    values.insert(values.end(), {s.threshold, 0, 0});
    tnode.insert(tnode.end(), {1, 0, 0});
    fnode.insert(fnode.end(), {2, 0, 0});
    miss.insert(miss.end(), {s.missing_true, 0, 0});
    t_tree.insert(t_tree.end(), {t, t});
    t_node.insert(t_node.end(), {1, 2});
    t_id.insert(t_id.end(), {0, 0});
    weights.insert(weights.end(), {s.true_value, s.false_value});
  }
  OnnxBuilder::IntsAttr(n, "nodes_treeids", tree);
  OnnxBuilder::IntsAttr(n, "nodes_nodeids", node);
  OnnxBuilder::IntsAttr(n, "nodes_featureids", feat);
  OnnxBuilder::StringsAttr(n, "nodes_modes", modes);
  OnnxBuilder::FloatsAttr(n, "nodes_values", values);
  OnnxBuilder::IntsAttr(n, "nodes_truenodeids", tnode);
  OnnxBuilder::IntsAttr(n, "nodes_falsenodeids", fnode);
  OnnxBuilder::IntsAttr(n, "nodes_missing_value_tracks_true", miss);
  OnnxBuilder::IntsAttr(n, "target_treeids", t_tree);
  OnnxBuilder::IntsAttr(n, "target_nodeids", t_node);
  OnnxBuilder::IntsAttr(n, "target_ids", t_id);
  OnnxBuilder::FloatsAttr(n, "target_weights", weights);
  OnnxBuilder::IntAttr(n, "n_targets", 1);
  OnnxBuilder::StringAttr(n, "aggregate_function", agg);
  OnnxBuilder::StringAttr(n, "post_transform", post);
  if (!base.empty()) OnnxBuilder::FloatsAttr(n, "base_values", base);
  return b;
}

std::vector<float> RunRows(const std::string& bytes, const std::vector<std::array<float, 3>>& rows,
                           int output = 0) {
  auto m = Model::Load(bytes);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  if (!m.ok()) return {};
  auto ctx = (*m)->NewContext();
  std::vector<float> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  Tensor in = Tensor::Borrow(DataType::kFloat, Shape{static_cast<int64_t>(rows.size()), 3}, flat.data());
  const Tensor* ins[] = {&in};
  Status s = (*m)->Run(*ctx, ins);
  EXPECT_TRUE(s.ok()) << s.ToString();
  const Tensor& y = ctx->output(output);
  return std::vector<float>(y.data<float>(), y.data<float>() + y.size());
}

struct ModeCase {
  std::string mode;
  float x;
  int64_t missing_true;
  float expected;  // 1 = true branch, 0 = false branch
};

TEST(TreeEnsemble, EveryBranchModeAndMissingValue) {
  const float t = 2.0f;
  const std::vector<ModeCase> cases = {
      {"BRANCH_LEQ", 1, 0, 1}, {"BRANCH_LEQ", 2, 0, 1}, {"BRANCH_LEQ", 3, 0, 0},
      {"BRANCH_LT", 1, 0, 1},  {"BRANCH_LT", 2, 0, 0},  {"BRANCH_LT", 3, 0, 0},
      {"BRANCH_GTE", 1, 0, 0}, {"BRANCH_GTE", 2, 0, 1}, {"BRANCH_GTE", 3, 0, 1},
      {"BRANCH_GT", 1, 0, 0},  {"BRANCH_GT", 2, 0, 0},  {"BRANCH_GT", 3, 0, 1},
      {"BRANCH_EQ", 2, 0, 1},  {"BRANCH_EQ", 3, 0, 0},  {"BRANCH_NEQ", 2, 0, 0},
      {"BRANCH_NEQ", 3, 0, 1},
      // NaN: false branch unless tracked (NEQ: NaN != t is true).
      {"BRANCH_LEQ", kNaN, 0, 0}, {"BRANCH_LEQ", kNaN, 1, 1}, {"BRANCH_LT", kNaN, 0, 0},
      {"BRANCH_LT", kNaN, 1, 1},  {"BRANCH_GTE", kNaN, 0, 0}, {"BRANCH_GTE", kNaN, 1, 1},
      {"BRANCH_GT", kNaN, 0, 0},  {"BRANCH_GT", kNaN, 1, 1},  {"BRANCH_EQ", kNaN, 0, 0},
      {"BRANCH_EQ", kNaN, 1, 1},  {"BRANCH_NEQ", kNaN, 0, 1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.mode + " x=" + std::to_string(c.x) + " tracks_true=" + std::to_string(c.missing_true));
    auto y = RunRows(Regressor({{1, t, c.mode, 1.0f, 0.0f, c.missing_true}}, "SUM", "NONE").Bytes(),
                     {{{0, c.x, 0}}});
    ASSERT_EQ(y.size(), 1u);
    EXPECT_EQ(y[0], c.expected);
  }
}

TEST(TreeEnsemble, MixedModesInOneEnsemble) {
  // LEQ and LT families plus EQ force the per-node path; results must agree.
  std::vector<Stump> s = {{0, 1, "BRANCH_LEQ", 1, 0}, {1, 1, "BRANCH_LT", 10, 0}, {2, 1, "BRANCH_EQ", 100, 0},
                          {0, 1, "BRANCH_GT", 1000, 0}, {1, 1, "BRANCH_GTE", 10000, 0}};
  auto y = RunRows(Regressor(s, "SUM", "NONE").Bytes(), {{{1, 1, 1}}, {{0, 0, 0}}, {{2, 2, 2}}});
  ASSERT_EQ(y.size(), 3u);
  EXPECT_EQ(y[0], 1 + 0 + 100 + 0 + 10000);
  EXPECT_EQ(y[1], 1 + 10 + 0 + 0 + 0);
  EXPECT_EQ(y[2], 0 + 0 + 0 + 1000 + 10000);
}

TEST(TreeEnsemble, AggregatesAndBaseValues) {
  std::vector<Stump> s = {{0, 0, "BRANCH_LEQ", 1, 5}, {0, 0, "BRANCH_LEQ", 3, 7}, {0, 0, "BRANCH_LEQ", 2, 9}};
  const std::vector<std::array<float, 3>> rows = {{{-1, 0, 0}}, {{1, 0, 0}}};
  EXPECT_THAT(RunRows(Regressor(s, "SUM", "NONE").Bytes(), rows), ::testing::ElementsAre(6, 21));
  EXPECT_THAT(RunRows(Regressor(s, "SUM", "NONE", {0.5f}).Bytes(), rows), ::testing::ElementsAre(6.5, 21.5));
  EXPECT_THAT(RunRows(Regressor(s, "AVERAGE", "NONE").Bytes(), rows), ::testing::ElementsAre(2, 7));
  EXPECT_THAT(RunRows(Regressor(s, "MIN", "NONE").Bytes(), rows), ::testing::ElementsAre(1, 5));
  EXPECT_THAT(RunRows(Regressor(s, "MAX", "NONE").Bytes(), rows), ::testing::ElementsAre(3, 9));
  auto logistic = RunRows(Regressor(s, "SUM", "LOGISTIC", {-6.0f}).Bytes(), rows);
  EXPECT_NEAR(logistic[0], 0.5, 1e-6);
  EXPECT_NEAR(logistic[1], 1.0 / (1.0 + std::exp(-15.0)), 1e-6);
  auto probit = RunRows(Regressor({{0, 0, "BRANCH_LEQ", 0.975f, 0.5f}}, "SUM", "PROBIT").Bytes(), rows);
  EXPECT_NEAR(probit[0], 1.959964, 1e-5);  // inverse normal CDF of 0.975
  EXPECT_NEAR(probit[1], 0.0, 1e-6);
}

TEST(TreeEnsemble, ManyTreesAndBatchRowsAgree) {
  // 13 trees (not a multiple of the group size), evaluated one row at a time
  // and as a batch.
  std::vector<Stump> s;
  for (int i = 0; i < 13; ++i) s.push_back({i % 3, static_cast<float>(i % 5) - 2, "BRANCH_LEQ", float(i), float(-i)});
  std::vector<std::array<float, 3>> rows;
  for (int r = 0; r < 37; ++r) rows.push_back({{float(r % 7) - 3, float(r % 5) - 2, float(r % 3) - 1}});
  const std::string bytes = Regressor(s, "SUM", "NONE").Bytes();
  auto batch = RunRows(bytes, rows);
  ASSERT_EQ(batch.size(), rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    double want = 0;
    for (int i = 0; i < 13; ++i) want += rows[r][static_cast<size_t>(i % 3)] <= float(i % 5) - 2 ? i : -i;
    EXPECT_EQ(batch[r], want) << "row " << r;
    EXPECT_EQ(RunRows(bytes, {rows[r]})[0], want);
  }
}

TEST(TreeEnsemble, MalformedEnsemblesAreNamed) {
  auto bad_child = Regressor({{0, 0, "BRANCH_LEQ", 1, 0}}, "SUM", "NONE");
  auto* n = bad_child.model().mutable_graph()->mutable_node(0);
  for (auto& a : *n->mutable_attribute())
    if (a.name() == "nodes_truenodeids") a.set_ints(0, 99);
  auto m = Model::Load(bad_child.Bytes());
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("tree 0: node 0 has true branch 99, which does not exist"));

  auto cycle = Regressor({{0, 0, "BRANCH_LEQ", 1, 0}}, "SUM", "NONE");
  n = cycle.model().mutable_graph()->mutable_node(0);
  for (auto& a : *n->mutable_attribute()) {
    if (a.name() == "nodes_modes") a.set_strings(1, "BRANCH_LEQ");
    if (a.name() == "nodes_truenodeids") a.set_ints(1, 0);
    if (a.name() == "nodes_falsenodeids") a.set_ints(1, 2);
  }
  m = Model::Load(cycle.Bytes());
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("reached twice"));

  auto bad_target = Regressor({{0, 0, "BRANCH_LEQ", 1, 0}}, "SUM", "NONE");
  n = bad_target.model().mutable_graph()->mutable_node(0);
  for (auto& a : *n->mutable_attribute())
    if (a.name() == "target_ids") a.set_ints(0, 3);
  m = Model::Load(bad_target.Bytes());
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("target_ids[0] = 3 is out of range"));

  auto short_list = Regressor({{0, 0, "BRANCH_LEQ", 1, 0}}, "SUM", "NONE");
  n = short_list.model().mutable_graph()->mutable_node(0);
  for (auto& a : *n->mutable_attribute())
    if (a.name() == "nodes_values") a.mutable_floats()->RemoveLast();
  m = Model::Load(short_list.Bytes());
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("'nodes_values' has 2 entries; nodes_treeids has 3"));

  auto bad_mode = Regressor({{0, 0, "BRANCH_SOMETIMES", 1, 0}}, "SUM", "NONE");
  m = Model::Load(bad_mode.Bytes());
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("BRANCH_SOMETIMES"));
}

TEST(TreeEnsemble, FeatureIndexBeyondInputIsARunError) {
  OnnxBuilder b = Regressor({{2, 0, "BRANCH_LEQ", 1, 0}}, "SUM", "NONE");
  b.model().mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_param("F");
  auto m = Model::Load(b.Bytes());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto ctx = (*m)->NewContext();
  float x[2] = {0, 0};
  Tensor in = Tensor::Borrow(DataType::kFloat, Shape{1, 2}, x);
  const Tensor* ins[] = {&in};
  Status s = (*m)->Run(*ctx, ins);
  EXPECT_THAT(s.message(), HasSubstr("input X has 2 features but the trees use feature index 2"));
}

OnnxBuilder BinaryClassifier(std::vector<float> leaf_weights, const std::string& post, std::vector<float> base,
                             bool string_labels) {
  OnnxBuilder b;
  b.Input("X", kFloat, {-1, 3});
  b.Output("label", string_labels ? onnx::TensorProto::STRING : onnx::TensorProto::INT64, {-1});
  b.Output("probabilities", kFloat, {-1, 2});
  auto* n = b.Node("TreeEnsembleClassifier", {"X"}, {"label", "probabilities"}, "ai.onnx.ml", "clf");
  OnnxBuilder::IntsAttr(n, "nodes_treeids", {0, 0, 0});
  OnnxBuilder::IntsAttr(n, "nodes_nodeids", {0, 1, 2});
  OnnxBuilder::IntsAttr(n, "nodes_featureids", {0, 0, 0});
  OnnxBuilder::StringsAttr(n, "nodes_modes", {"BRANCH_LEQ", "LEAF", "LEAF"});
  OnnxBuilder::FloatsAttr(n, "nodes_values", {0, 0, 0});
  OnnxBuilder::IntsAttr(n, "nodes_truenodeids", {1, 0, 0});
  OnnxBuilder::IntsAttr(n, "nodes_falsenodeids", {2, 0, 0});
  OnnxBuilder::IntsAttr(n, "class_treeids", {0, 0});
  OnnxBuilder::IntsAttr(n, "class_nodeids", {1, 2});
  OnnxBuilder::IntsAttr(n, "class_ids", {1, 1});
  OnnxBuilder::FloatsAttr(n, "class_weights", leaf_weights);
  if (string_labels) OnnxBuilder::StringsAttr(n, "classlabels_strings", {"no", "yes"});
  else OnnxBuilder::IntsAttr(n, "classlabels_int64s", {0, 1});
  OnnxBuilder::StringAttr(n, "post_transform", post);
  if (!base.empty()) OnnxBuilder::FloatsAttr(n, "base_values", base);
  return b;
}

TEST(TreeEnsemble, BinaryClassifierLayouts) {
  const std::vector<std::array<float, 3>> rows = {{{-1, 0, 0}}, {{1, 0, 0}}};
  // Probability leaves (all positive, no transform): [1-p, p], label at 0.5.
  auto p = RunRows(BinaryClassifier({0.2f, 0.9f}, "NONE", {}, false).Bytes(), rows, 1);
  EXPECT_THAT(p, ::testing::Pointwise(::testing::FloatNear(1e-6), std::vector<float>{0.8f, 0.2f, 0.1f, 0.9f}));
  // Margin leaves with a logistic link (gradient boosting): [1-s(m), s(m)].
  auto g = RunRows(BinaryClassifier({-1.5f, 2.0f}, "LOGISTIC", {0.5f}, false).Bytes(), rows, 1);
  const float s0 = 1.0f / (1.0f + std::exp(1.0f)), s1 = 1.0f / (1.0f + std::exp(-2.5f));
  EXPECT_THAT(g, ::testing::Pointwise(::testing::FloatNear(1e-6), std::vector<float>{1 - s0, s0, 1 - s1, s1}));

  auto m = Model::Load(BinaryClassifier({-1.5f, 2.0f}, "LOGISTIC", {0.5f}, true).Bytes());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto ctx = (*m)->NewContext();
  float x[6] = {-1, 0, 0, 1, 0, 0};
  Tensor in = Tensor::Borrow(DataType::kFloat, Shape{2, 3}, x);
  const Tensor* ins[] = {&in};
  ASSERT_TRUE((*m)->Run(*ctx, ins).ok());
  EXPECT_EQ(ctx->output(0).data<std::string>()[0], "no");
  EXPECT_EQ(ctx->output(0).data<std::string>()[1], "yes");
}

}  // namespace
}  // namespace rtml::engine
