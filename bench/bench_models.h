// Models built for benchmarks with the ONNX protobuf API (no Python needed).
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "../tests/engine/onnx_builder.h"

namespace rtml::bench {

// A binary TreeEnsembleClassifier (LOGISTIC, base value -0.2) of `trees` full
// binary trees of depth `depth` over `features` FP32 inputs named X, with
// outputs label [N] and probabilities [N,2]. Split features are uniform;
// threshold(feature, unit) gives a split value; unit() draws uniform [0, 1) from the builder's generator.
// Deterministic for a given seed.
inline std::string RandomGbdtClassifier(int64_t features, int trees, int depth, uint32_t seed,
                                        const std::function<float(int64_t, const std::function<float()>&)>& threshold) {
  rtml::testing::OnnxBuilder b(17, 3);
  b.Input("X", onnx::TensorProto::FLOAT, {-1, features});
  b.Output("label", onnx::TensorProto::INT64, {-1});
  b.Output("probabilities", onnx::TensorProto::FLOAT, {-1, 2});
  auto* n = b.Node("TreeEnsembleClassifier", {"X"}, {"label", "probabilities"}, "ai.onnx.ml", "gbdt");
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> feature(0, features - 1);
  std::uniform_real_distribution<float> unit(0, 1), leaf(-0.3f, 0.3f);
  const std::function<float()> draw = [&] { return unit(rng); };
  std::vector<int64_t> tree, node, feat, tnode, fnode, miss, ctree, cnode, cid;
  std::vector<std::string> modes;
  std::vector<float> values, weights;
  const int internal = (1 << depth) - 1, total = (1 << (depth + 1)) - 1;
  for (int t = 0; t < trees; ++t) {
    for (int i = 0; i < total; ++i) {
      tree.push_back(t);
      node.push_back(i);
      if (i < internal) {
        const int64_t f = feature(rng);
        feat.push_back(f);
        modes.push_back("BRANCH_LEQ");
        values.push_back(threshold(f, draw));
        tnode.push_back(2 * i + 1);
        fnode.push_back(2 * i + 2);
        miss.push_back(unit(rng) < 0.5f ? 1 : 0);
      } else {
        feat.push_back(0);
        modes.push_back("LEAF");
        values.push_back(0);
        tnode.push_back(0);
        fnode.push_back(0);
        miss.push_back(0);
        ctree.push_back(t);
        cnode.push_back(i);
        cid.push_back(1);
        weights.push_back(leaf(rng));
      }
    }
  }
  using B = rtml::testing::OnnxBuilder;
  B::IntsAttr(n, "nodes_treeids", tree);
  B::IntsAttr(n, "nodes_nodeids", node);
  B::IntsAttr(n, "nodes_featureids", feat);
  B::StringsAttr(n, "nodes_modes", modes);
  B::FloatsAttr(n, "nodes_values", values);
  B::IntsAttr(n, "nodes_truenodeids", tnode);
  B::IntsAttr(n, "nodes_falsenodeids", fnode);
  B::IntsAttr(n, "nodes_missing_value_tracks_true", miss);
  B::IntsAttr(n, "class_treeids", ctree);
  B::IntsAttr(n, "class_nodeids", cnode);
  B::IntsAttr(n, "class_ids", cid);
  B::FloatsAttr(n, "class_weights", weights);
  B::IntsAttr(n, "classlabels_int64s", {0, 1});
  B::StringAttr(n, "post_transform", "LOGISTIC");
  B::FloatsAttr(n, "base_values", {-0.2f});
  return b.Bytes();
}

}  // namespace rtml::bench
