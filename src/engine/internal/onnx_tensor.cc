#include "engine/internal/onnx_tensor.h"

#include <cstring>

namespace rtml::engine::internal {

DataType FromOnnxType(int32_t t) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return DataType::kFloat;
    case onnx::TensorProto::DOUBLE: return DataType::kDouble;
    case onnx::TensorProto::INT8: return DataType::kInt8;
    case onnx::TensorProto::UINT8: return DataType::kUInt8;
    case onnx::TensorProto::INT16: return DataType::kInt16;
    case onnx::TensorProto::UINT16: return DataType::kUInt16;
    case onnx::TensorProto::INT32: return DataType::kInt32;
    case onnx::TensorProto::UINT32: return DataType::kUInt32;
    case onnx::TensorProto::INT64: return DataType::kInt64;
    case onnx::TensorProto::UINT64: return DataType::kUInt64;
    case onnx::TensorProto::BOOL: return DataType::kBool;
    case onnx::TensorProto::STRING: return DataType::kString;
    default: return DataType::kUndefined;
  }
}

int32_t ToOnnxType(DataType t) {
  switch (t) {
    case DataType::kFloat: return onnx::TensorProto::FLOAT;
    case DataType::kDouble: return onnx::TensorProto::DOUBLE;
    case DataType::kInt8: return onnx::TensorProto::INT8;
    case DataType::kUInt8: return onnx::TensorProto::UINT8;
    case DataType::kInt16: return onnx::TensorProto::INT16;
    case DataType::kUInt16: return onnx::TensorProto::UINT16;
    case DataType::kInt32: return onnx::TensorProto::INT32;
    case DataType::kUInt32: return onnx::TensorProto::UINT32;
    case DataType::kInt64: return onnx::TensorProto::INT64;
    case DataType::kUInt64: return onnx::TensorProto::UINT64;
    case DataType::kBool: return onnx::TensorProto::BOOL;
    case DataType::kString: return onnx::TensorProto::STRING;
    case DataType::kUndefined: return onnx::TensorProto::UNDEFINED;
  }
  return onnx::TensorProto::UNDEFINED;
}

std::string OnnxTypeName(int32_t t) {
  if (onnx::TensorProto::DataType_IsValid(t)) {
    return onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(t));
  }
  return "type " + std::to_string(t);
}

namespace {

template <typename Dst, typename Field>
Status CopyField(const Field& field, int64_t n, Tensor& out, const char* field_name) {
  if (static_cast<int64_t>(field.size()) != n) {
    return InvalidArgumentError(std::to_string(field.size()) + " values in " +
                                field_name + " but its shape " + out.shape().ToString() +
                                " needs " + std::to_string(n));
  }
  Dst* dst = out.mutable_data<Dst>();
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<Dst>(field.Get(static_cast<int>(i)));
  return OkStatus();
}

}  // namespace

StatusOr<Tensor> TensorFromProto(const onnx::TensorProto& proto) {
  const std::string label = proto.name().empty() ? "tensor" : "tensor '" + proto.name() + "'";
  if (proto.data_location() == onnx::TensorProto::EXTERNAL || proto.external_data_size() > 0) {
    return InvalidArgumentError(label +
                                " stores its data in an external file; rtml accepts only "
                                "self-contained models (re-save with all tensors embedded)");
  }
  if (proto.has_segment()) return UnimplementedError(label + " is segmented, which is not supported");
  const DataType type = FromOnnxType(proto.data_type());
  if (type == DataType::kUndefined) {
    return UnimplementedError(label + " has data type " + OnnxTypeName(proto.data_type()) +
                              ", which rtml does not support");
  }
  std::vector<int64_t> dims(proto.dims().begin(), proto.dims().end());
  auto shape_or = Shape::FromDims(dims);
  if (!shape_or.ok()) return shape_or.status().WithPrefix(label);
  Tensor out;
  Status st = out.Resize(type, *shape_or);
  if (!st.ok()) return st.WithPrefix(label);
  const int64_t n = out.size();

  if (proto.has_raw_data() && type != DataType::kString) {
    const std::string& raw = proto.raw_data();
    if (raw.size() != out.nbytes()) {
      return InvalidArgumentError(label + " has " + std::to_string(raw.size()) +
                                  " bytes of raw data but its shape " + out.shape().ToString() +
                                  " needs " + std::to_string(out.nbytes()));
    }
    if (n > 0) std::memcpy(out.raw_mutable_data(), raw.data(), raw.size());  // little-endian host
    if (type == DataType::kBool) {
      uint8_t* b = out.mutable_data<uint8_t>();
      for (int64_t i = 0; i < n; ++i) b[i] = b[i] != 0;
    }
    return out;
  }

  Status s;
  switch (type) {
    case DataType::kFloat: s = CopyField<float>(proto.float_data(), n, out, "float_data"); break;
    case DataType::kDouble: s = CopyField<double>(proto.double_data(), n, out, "double_data"); break;
    case DataType::kInt64: s = CopyField<int64_t>(proto.int64_data(), n, out, "int64_data"); break;
    case DataType::kUInt64: s = CopyField<uint64_t>(proto.uint64_data(), n, out, "uint64_data"); break;
    case DataType::kUInt32: s = CopyField<uint32_t>(proto.uint64_data(), n, out, "uint64_data"); break;
    case DataType::kInt32: s = CopyField<int32_t>(proto.int32_data(), n, out, "int32_data"); break;
    case DataType::kInt16: s = CopyField<int16_t>(proto.int32_data(), n, out, "int32_data"); break;
    case DataType::kUInt16: s = CopyField<uint16_t>(proto.int32_data(), n, out, "int32_data"); break;
    case DataType::kInt8: s = CopyField<int8_t>(proto.int32_data(), n, out, "int32_data"); break;
    case DataType::kUInt8: s = CopyField<uint8_t>(proto.int32_data(), n, out, "int32_data"); break;
    case DataType::kBool: {
      if (proto.int32_data_size() != n) {
        s = InvalidArgumentError("tensor has " + std::to_string(proto.int32_data_size()) +
                                 " values but its shape needs " + std::to_string(n));
        break;
      }
      bool* dst = out.mutable_data<bool>();
      for (int64_t i = 0; i < n; ++i) dst[i] = proto.int32_data(static_cast<int>(i)) != 0;
      break;
    }
    case DataType::kString: {
      if (proto.string_data_size() != n) {
        s = InvalidArgumentError("tensor has " + std::to_string(proto.string_data_size()) +
                                 " strings but its shape needs " + std::to_string(n));
        break;
      }
      std::string* dst = out.mutable_data<std::string>();
      for (int64_t i = 0; i < n; ++i) dst[i] = proto.string_data(static_cast<int>(i));
      break;
    }
    case DataType::kUndefined: break;
  }
  if (!s.ok()) return s.WithPrefix(label);
  return out;
}

}  // namespace rtml::engine::internal
