// Kernel interface: one compiled ONNX node.
//
// A factory sees the node (attributes, opset, which inputs are compile-time
// constants, inferred input types) and returns an immutable Kernel, failing
// with a message that names the attribute or input at fault. Compute is const
// and may run concurrently from many threads; everything that varies per call
// lives in the KernelContext, which the executor builds from a RunContext.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/tensor.h"
#include "onnx/onnx_pb.h"

namespace rtml::engine::internal {

// Reads node attributes with type checking; errors name the attribute.
class NodeAttributes {
 public:
  explicit NodeAttributes(const onnx::NodeProto& node) : node_(node) {}

  bool Has(std::string_view name) const { return Find(name) != nullptr; }
  StatusOr<int64_t> Int(std::string_view name, std::optional<int64_t> fallback = std::nullopt) const;
  StatusOr<float> Float(std::string_view name, std::optional<float> fallback = std::nullopt) const;
  StatusOr<std::string> String(std::string_view name,
                               std::optional<std::string> fallback = std::nullopt) const;
  // Missing list attributes yield an empty vector.
  StatusOr<std::vector<int64_t>> Ints(std::string_view name) const;
  StatusOr<std::vector<float>> Floats(std::string_view name) const;
  StatusOr<std::vector<std::string>> Strings(std::string_view name) const;
  // nullptr (and OK) when absent.
  StatusOr<const onnx::TensorProto*> TensorAttr(std::string_view name) const;
  const onnx::AttributeProto* Find(std::string_view name) const;

 private:
  StatusOr<const onnx::AttributeProto*> Typed(std::string_view name,
                                               onnx::AttributeProto::AttributeType type) const;
  const onnx::NodeProto& node_;
};

// Static knowledge about one node input at compile time.
struct InputInfo {
  bool present = false;             // false for an omitted optional input
  const Tensor* constant = nullptr;  // set when the value is known at compile time
  DataType dtype = DataType::kUndefined;  // from the model or shape inference
  std::optional<std::vector<int64_t>> dims;  // -1 for unknown dimensions
};

struct KernelInfo {
  const onnx::NodeProto& node;
  int opset;  // opset version of the node's domain
  NodeAttributes attrs;
  std::vector<InputInfo> inputs;
  int num_outputs;

  // "node 'name' (OpType)": the prefix used in every error about this node.
  std::string Describe() const;
  const InputInfo& input(int i) const { return inputs[static_cast<size_t>(i)]; }
  bool has_input(int i) const { return i < static_cast<int>(inputs.size()) && inputs[static_cast<size_t>(i)].present; }
  const Tensor* constant_input(int i) const { return has_input(i) ? inputs[static_cast<size_t>(i)].constant : nullptr; }
};

// Per-call view of a node's inputs, outputs and scratch memory.
class KernelContext {
 public:
  KernelContext(const int* input_ids, int num_inputs, const Tensor* const* values,
                Tensor* const* outputs, int num_outputs, Tensor* scratch)
      : input_ids_(input_ids), num_inputs_(num_inputs), values_(values),
        outputs_(outputs), num_outputs_(num_outputs), scratch_(scratch) {}

  int num_inputs() const { return num_inputs_; }
  // nullptr for an absent optional input.
  const Tensor* input(int i) const {
    if (i >= num_inputs_ || input_ids_[i] < 0) return nullptr;
    return values_[input_ids_[i]];
  }
  int num_outputs() const { return num_outputs_; }
  // Resizes output i (reusing its storage) and returns it.
  StatusOr<Tensor*> Output(int i, DataType type, const Shape& shape) {
    Tensor* t = outputs_[i];
    RETURN_IF_ERROR(t->Resize(type, shape));
    return t;
  }
  Tensor* raw_output(int i) { return outputs_[i]; }
  // A per-node buffer of at least `count` elements that persists across calls.
  template <typename T>
  StatusOr<T*> Scratch(size_t count) {
    if (scratch_->dtype() != DataType::kUInt8 || scratch_->nbytes() < count * sizeof(T)) {
      RETURN_IF_ERROR(scratch_->Resize(DataType::kUInt8,
                                       Shape{static_cast<int64_t>(count * sizeof(T))}));
    }
    return scratch_->mutable_data<T>();
  }

 private:
  const int* input_ids_;
  int num_inputs_;
  const Tensor* const* values_;
  Tensor* const* outputs_;
  int num_outputs_;
  Tensor* scratch_;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual Status Compute(KernelContext& ctx) const = 0;
};

using KernelFactory = StatusOr<std::unique_ptr<Kernel>> (*)(const KernelInfo& info);

// Convenience for factories: wraps a concrete kernel.
template <typename K, typename... Args>
StatusOr<std::unique_ptr<Kernel>> MakeKernel(Args&&... args) {
  return std::unique_ptr<Kernel>(std::make_unique<K>(std::forward<Args>(args)...));
}

}  // namespace rtml::engine::internal
