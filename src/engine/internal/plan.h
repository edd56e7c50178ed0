// Plan: the compiled, immutable form of an ONNX graph.
//
// Values (graph inputs, constants, node outputs) are numbered; computed values
// share "slots" (owned tensors in a RunContext) when their lifetimes do not
// overlap, as decided once at compile time. Steps run in topological order.
// Thread-safety: immutable after CompilePlan; Run is const.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "engine/internal/kernel.h"
#include "engine/model.h"
#include "onnx/onnx_pb.h"

namespace rtml::engine::internal {

struct ValueRef {
  enum class Kind { kInput, kConstant, kComputed };
  Kind kind = Kind::kComputed;
  int index = -1;  // input index, constant index or slot
};

struct Step {
  std::unique_ptr<Kernel> kernel;
  std::string label;              // "node 'x' (Op)"
  std::vector<int> input_ids;     // value ids; -1 for absent optional inputs
  std::vector<int> output_ids;    // value ids
  std::vector<int> output_slots;  // slot of each output
  size_t output_offset = 0;       // into RunContext::step_outputs_
};

class Plan {
 public:
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;
  std::vector<int> input_value_ids;
  std::vector<int> output_value_ids;
  std::vector<ValueRef> values;
  std::vector<std::string> value_names;
  std::vector<std::unique_ptr<Tensor>> constants;
  std::vector<Step> steps;
  int num_slots = 0;

  void InitContext(RunContext& ctx) const;
  Status Run(RunContext& ctx, std::span<const Tensor* const> inputs) const;
};

// Compiles a checked model. `inferred` (optional) is the same model after ONNX
// shape inference; its value_info supplies static types of intermediates.
StatusOr<std::unique_ptr<Plan>> CompilePlan(const onnx::ModelProto& model,
                                            const onnx::ModelProto* inferred);

// Rewrites well-known node patterns into cheaper equivalents (see fusion.cc).
// `nodes` is in topological order; `graph_outputs` must keep their producers.
struct WorkNode {
  onnx::NodeProto node;
  int opset = 0;
};
void FuseNodes(std::vector<WorkNode>& nodes, const std::vector<std::string>& graph_outputs,
               const std::unordered_map<std::string, const onnx::TensorProto*>& initializers);

}  // namespace rtml::engine::internal
