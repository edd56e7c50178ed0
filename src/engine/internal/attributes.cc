#include "engine/internal/kernel.h"

namespace rtml::engine::internal {
namespace {
std::string_view TypeName(onnx::AttributeProto::AttributeType t) {
  switch (t) {
    case onnx::AttributeProto::FLOAT: return "FLOAT";
    case onnx::AttributeProto::INT: return "INT";
    case onnx::AttributeProto::STRING: return "STRING";
    case onnx::AttributeProto::TENSOR: return "TENSOR";
    case onnx::AttributeProto::GRAPH: return "GRAPH";
    case onnx::AttributeProto::FLOATS: return "FLOATS";
    case onnx::AttributeProto::INTS: return "INTS";
    case onnx::AttributeProto::STRINGS: return "STRINGS";
    case onnx::AttributeProto::TENSORS: return "TENSORS";
    case onnx::AttributeProto::GRAPHS: return "GRAPHS";
    default: return "UNDEFINED";
  }
}
}  // namespace

const onnx::AttributeProto* NodeAttributes::Find(std::string_view name) const {
  for (const auto& a : node_.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

StatusOr<const onnx::AttributeProto*> NodeAttributes::Typed(
    std::string_view name, onnx::AttributeProto::AttributeType type) const {
  const onnx::AttributeProto* a = Find(name);
  if (a == nullptr) return static_cast<const onnx::AttributeProto*>(nullptr);
  // Old exporters leave `type` unset; infer it from the populated field.
  onnx::AttributeProto::AttributeType actual = a->type();
  if (actual == onnx::AttributeProto::UNDEFINED) {
    if (a->has_f()) actual = onnx::AttributeProto::FLOAT;
    else if (a->has_i()) actual = onnx::AttributeProto::INT;
    else if (a->has_s()) actual = onnx::AttributeProto::STRING;
    else if (a->has_t()) actual = onnx::AttributeProto::TENSOR;
    else if (a->floats_size()) actual = onnx::AttributeProto::FLOATS;
    else if (a->ints_size()) actual = onnx::AttributeProto::INTS;
    else if (a->strings_size()) actual = onnx::AttributeProto::STRINGS;
    else actual = type;  // an empty list
  }
  if (actual != type) {
    return InvalidArgumentError("attribute '" + std::string(name) + "' must be " +
                                std::string(TypeName(type)) + ", got " +
                                std::string(TypeName(actual)));
  }
  return a;
}

StatusOr<int64_t> NodeAttributes::Int(std::string_view name, std::optional<int64_t> fallback) const {
  ASSIGN_OR_RETURN(const onnx::AttributeProto* a, Typed(name, onnx::AttributeProto::INT));
  if (a != nullptr) return a->i();
  if (fallback) return *fallback;
  return InvalidArgumentError("required attribute '" + std::string(name) + "' is missing");
}

StatusOr<float> NodeAttributes::Float(std::string_view name, std::optional<float> fallback) const {
  ASSIGN_OR_RETURN(const onnx::AttributeProto* a, Typed(name, onnx::AttributeProto::FLOAT));
  if (a != nullptr) return a->f();
  if (fallback) return *fallback;
  return InvalidArgumentError("required attribute '" + std::string(name) + "' is missing");
}

StatusOr<std::string> NodeAttributes::String(std::string_view name,
                                             std::optional<std::string> fallback) const {
  ASSIGN_OR_RETURN(const onnx::AttributeProto* a, Typed(name, onnx::AttributeProto::STRING));
  if (a != nullptr) return a->s();
  if (fallback) return *fallback;
  return InvalidArgumentError("required attribute '" + std::string(name) + "' is missing");
}

StatusOr<std::vector<int64_t>> NodeAttributes::Ints(std::string_view name) const {
  ASSIGN_OR_RETURN(const onnx::AttributeProto* a, Typed(name, onnx::AttributeProto::INTS));
  if (a == nullptr) return std::vector<int64_t>{};
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

StatusOr<std::vector<float>> NodeAttributes::Floats(std::string_view name) const {
  ASSIGN_OR_RETURN(const onnx::AttributeProto* a, Typed(name, onnx::AttributeProto::FLOATS));
  if (a == nullptr) return std::vector<float>{};
  return std::vector<float>(a->floats().begin(), a->floats().end());
}

StatusOr<std::vector<std::string>> NodeAttributes::Strings(std::string_view name) const {
  ASSIGN_OR_RETURN(const onnx::AttributeProto* a, Typed(name, onnx::AttributeProto::STRINGS));
  if (a == nullptr) return std::vector<std::string>{};
  return std::vector<std::string>(a->strings().begin(), a->strings().end());
}

StatusOr<const onnx::TensorProto*> NodeAttributes::TensorAttr(std::string_view name) const {
  ASSIGN_OR_RETURN(const onnx::AttributeProto* a, Typed(name, onnx::AttributeProto::TENSOR));
  if (a == nullptr) return static_cast<const onnx::TensorProto*>(nullptr);
  return &a->t();
}

std::string KernelInfo::Describe() const {
  std::string out = "node '";
  out += node.name().empty() ? (node.output_size() ? node.output(0) : std::string("?")) : node.name();
  out += "' (";
  out += node.op_type();
  out += ')';
  return out;
}

}  // namespace rtml::engine::internal
