// Conversions between ONNX TensorProto and engine Tensors.
#pragma once

#include "common/status.h"
#include "engine/tensor.h"
#include "onnx/onnx_pb.h"

namespace rtml::engine::internal {

// Maps an ONNX TensorProto::DataType to the engine's type; kUndefined when
// the engine does not support it (float16, bfloat16, complex ...).
DataType FromOnnxType(int32_t onnx_type);
int32_t ToOnnxType(DataType type);
// "FLOAT16" etc., for messages about unsupported types.
std::string OnnxTypeName(int32_t onnx_type);

// Decodes raw_data or the typed repeated fields. External data is rejected.
StatusOr<Tensor> TensorFromProto(const onnx::TensorProto& proto);

}  // namespace rtml::engine::internal
