// Model: an ONNX model compiled into an immutable execution plan.
//
// Load parses the file with the official ONNX protobuf definitions, checks
// it, folds constants, fuses known patterns and creates one kernel per
// remaining node. Run is const and thread-safe: all per-call state lives in a
// RunContext, which one thread uses at a time and which stops allocating once
// it has seen the largest request shape.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/tensor.h"

namespace rtml::engine {

namespace internal {
class Plan;
}

// Name, type and shape of a model input or output.
struct TensorInfo {
  std::string name;
  DataType dtype = DataType::kUndefined;  // element type (map value type for seq(map))
  std::vector<int64_t> dims;              // -1 marks a dynamic dimension
  bool has_shape = false;                 // false when the model leaves the rank open
  // ZipMap-style output: a sequence of maps from key_dtype to dtype.
  bool is_sequence_map = false;
  DataType key_dtype = DataType::kUndefined;

  std::string ShapeString() const;  // "[-1,32]" or "?"
};

struct LoadOptions {
  std::string name;                      // reported in errors; defaults to the graph name
  int64_t max_model_bytes = int64_t{1} << 30;
  bool run_checker = true;               // onnx::checker::check_model
};

class RunContext;

class Model {
 public:
  static StatusOr<std::unique_ptr<Model>> Load(std::string_view bytes, const LoadOptions& options = {});
  static StatusOr<std::unique_ptr<Model>> LoadFile(const std::string& path, LoadOptions options = {});
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const std::string& name() const { return name_; }
  const std::vector<TensorInfo>& inputs() const;
  const std::vector<TensorInfo>& outputs() const;
  // Index into inputs()/outputs(), or -1.
  int InputIndex(std::string_view name) const;
  int OutputIndex(std::string_view name) const;
  // Opset versions imported by the model, by domain ("" is ai.onnx).
  const std::map<std::string, int64_t>& opsets() const { return opsets_; }
  // Number of kernels executed per call after folding and fusion.
  int num_steps() const;
  // Operators used by the original graph, with counts (for model metadata).
  const std::map<std::string, int>& operator_counts() const { return op_counts_; }

  std::unique_ptr<RunContext> NewContext() const;

  // Runs the model. inputs[i] feeds inputs()[i] and must match its type and
  // static dimensions. On success ctx.output(i) holds outputs()[i] until the
  // next Run with the same context.
  Status Run(RunContext& ctx, std::span<const Tensor* const> inputs) const;

 private:
  Model();
  std::string name_;
  std::map<std::string, int64_t> opsets_;
  std::map<std::string, int> op_counts_;
  std::unique_ptr<internal::Plan> plan_;
};

// Per-thread execution state of one Model: value slots, scratch buffers.
class RunContext {
 public:
  ~RunContext();
  RunContext(const RunContext&) = delete;
  RunContext& operator=(const RunContext&) = delete;

  int num_outputs() const;
  const Tensor& output(int i) const;

 private:
  friend class Model;
  friend class internal::Plan;
  RunContext();
  const internal::Plan* plan_ = nullptr;
  std::vector<Tensor> slots_;
  std::vector<Tensor> scratch_;               // one per step
  std::vector<const Tensor*> values_;         // per value id
  std::vector<Tensor*> step_outputs_;         // flattened, per step
};

}  // namespace rtml::engine
