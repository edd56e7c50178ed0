#include "serving/kserve_codec.h"

#include <cmath>
#include <limits>

#include "common/json_writer.h"
#include "serving/internal/json_tensor.h"
#include "simdjson.h"

namespace rtml::serving {

namespace od = simdjson::ondemand;
using engine::DataType;
using engine::Shape;
using engine::Tensor;

using internal::DataFiller;
using internal::JsonError;

namespace {

// Cap on elements per input tensor accepted from JSON.
constexpr int64_t kMaxElements = int64_t{1} << 28;

Status ParseInput(od::object obj, size_t index, InferInput* input) {
  std::string where = "inputs[" + std::to_string(index) + "]";
  std::string_view name;
  if (auto e = obj.find_field_unordered("name").get_string().get(name)) {
    if (e == simdjson::NO_SUCH_FIELD) return InvalidArgumentError(where + ": missing 'name'");
    return InvalidArgumentError(where + ".name: must be a string");
  }
  input->name.assign(name);
  where = "input '" + input->name + "'";

  std::string_view dtype_name;
  if (auto e = obj.find_field_unordered("datatype").get_string().get(dtype_name)) {
    if (e == simdjson::NO_SUCH_FIELD) return InvalidArgumentError(where + ": missing 'datatype'");
    return InvalidArgumentError(where + ".datatype: must be a string");
  }
  const DataType dtype = engine::DataTypeFromName(dtype_name);
  if (dtype == DataType::kUndefined) {
    return InvalidArgumentError(where + ".datatype: unsupported datatype '" + std::string(dtype_name) +
                                "' (use BOOL, INT8..INT64, UINT8..UINT64, FP32, FP64 or BYTES)");
  }

  od::array shape_arr;
  if (auto e = obj.find_field_unordered("shape").get_array().get(shape_arr)) {
    if (e == simdjson::NO_SUCH_FIELD) return InvalidArgumentError(where + ": missing 'shape'");
    return InvalidArgumentError(where + ".shape: must be an array of non-negative integers");
  }
  Shape shape;
  int64_t total = 1;
  for (auto d : shape_arr) {
    int64_t dim;
    if (d.get_int64().get(dim) || dim < 0) {
      return InvalidArgumentError(where + ".shape: must be an array of non-negative integers");
    }
    if (shape.rank() == Shape::kMaxRank) {
      return InvalidArgumentError(where + ".shape: rank above the limit of " + std::to_string(Shape::kMaxRank));
    }
    if (dim > 0 && total > kMaxElements / dim) {
      return TooLargeError(where + ".shape: more than " + std::to_string(kMaxElements) + " elements");
    }
    total *= dim;
    shape.PushBack(dim);
  }
  RETURN_IF_ERROR(input->tensor.Resize(dtype, shape));

  od::value data;
  if (auto e = obj.find_field_unordered("data").get(data)) {
    if (e == simdjson::NO_SUCH_FIELD) return InvalidArgumentError(where + ": missing 'data'");
    return JsonError(where + ".data", e);
  }
  const std::string data_where = where + ".data";
  DataFiller filler(&input->tensor, data_where);
  od::json_type type;
  if (auto e = data.type().get(type)) return JsonError(data_where, e);
  if (type != od::json_type::array) return InvalidArgumentError(data_where + ": must be an array");
  RETURN_IF_ERROR(filler.Fill(data, 1));
  if (filler.count() != input->tensor.size()) {
    return InvalidArgumentError(data_where + ": shape " + shape.ToString() + " needs " +
                                std::to_string(input->tensor.size()) + " values, got " +
                                std::to_string(filler.count()));
  }
  return OkStatus();
}

}  // namespace

struct KServeParser::Impl {
  od::parser parser;
};

KServeParser::KServeParser() : impl_(std::make_unique<Impl>()) {}
KServeParser::~KServeParser() = default;

Status KServeParser::Parse(std::string* body, InferRequest* req) {
  req->num_inputs = 0;
  req->num_outputs = 0;
  req->has_id = false;
  req->has_now = false;
  const size_t len = body->size();
  if (body->capacity() < len + simdjson::SIMDJSON_PADDING) body->reserve(len + simdjson::SIMDJSON_PADDING);
  od::document doc;
  if (auto e = impl_->parser.iterate(body->data(), len, body->capacity()).get(doc)) {
    return JsonError("request body", e);
  }
  RETURN_IF_ERROR(internal::ValidateDocument(doc, "request body"));
  od::object root;
  if (doc.get_object().get(root)) {
    return InvalidArgumentError("request body must be a JSON object");
  }
  // id (optional)
  {
    od::value idv;
    auto e = root.find_field_unordered("id").get(idv);
    if (!e) {
      std::string_view id;
      if (idv.get_string().get(id)) return InvalidArgumentError("id: must be a string");
      req->id.assign(id);
      req->has_id = true;
    } else if (e != simdjson::NO_SUCH_FIELD) {
      return JsonError("request body", e);
    }
  }
  // parameters (optional): only "now" is used; other parameters are ignored.
  {
    od::object params;
    auto e = root.find_field_unordered("parameters").get_object().get(params);
    if (!e) {
      std::string_view now;
      auto ne = params.find_field_unordered("now").get_string().get(now);
      if (!ne) {
        req->now.assign(now);
        req->has_now = true;
      } else if (ne != simdjson::NO_SUCH_FIELD) {
        return InvalidArgumentError("parameters.now: must be an RFC 3339 timestamp string");
      }
    } else if (e == simdjson::INCORRECT_TYPE) {
      return InvalidArgumentError("parameters: must be an object");
    } else if (e != simdjson::NO_SUCH_FIELD) {
      return JsonError("request body", e);
    }
  }
  od::array inputs;
  if (auto e = root.find_field_unordered("inputs").get_array().get(inputs)) {
    if (e == simdjson::NO_SUCH_FIELD) return InvalidArgumentError("request body: missing 'inputs'");
    if (e == simdjson::INCORRECT_TYPE) return InvalidArgumentError("inputs: must be an array");
    return JsonError("inputs", e);
  }
  for (auto elem : inputs) {
    od::object obj;
    if (elem.get_object().get(obj)) {
      return InvalidArgumentError("inputs[" + std::to_string(req->num_inputs) + "]: must be an object");
    }
    if (req->num_inputs == req->inputs.size()) req->inputs.emplace_back();
    RETURN_IF_ERROR(ParseInput(obj, req->num_inputs, &req->inputs[req->num_inputs]));
    ++req->num_inputs;
  }
  {
    od::array outs;
    auto e = root.find_field_unordered("outputs").get_array().get(outs);
    if (!e) {
      for (auto elem : outs) {
        std::string_view name;
        if (elem.find_field_unordered("name").get_string().get(name)) {
          return InvalidArgumentError("outputs[" + std::to_string(req->num_outputs) +
                                      "]: must be an object with a string 'name'");
        }
        if (req->num_outputs == req->outputs.size()) req->outputs.emplace_back();
        req->outputs[req->num_outputs++].assign(name);
      }
    } else if (e != simdjson::NO_SUCH_FIELD) {
      if (e == simdjson::INCORRECT_TYPE) return InvalidArgumentError("outputs: must be an array");
      return JsonError("outputs", e);
    }
  }
  return OkStatus();
}

namespace {

void WriteData(const Tensor& t, JsonWriter& w) {
  std::string* out = w.out();
  out->push_back('[');
  const int64_t n = t.size();
  auto each = [&](auto&& emit) {
    for (int64_t i = 0; i < n; ++i) {
      if (i) out->push_back(',');
      emit(i);
    }
  };
  switch (t.dtype()) {
    case DataType::kFloat: each([&](int64_t i) { w.AppendFloat(t.data<float>()[i]); }); break;
    case DataType::kDouble: each([&](int64_t i) { w.AppendDouble(t.data<double>()[i]); }); break;
    case DataType::kInt8: each([&](int64_t i) { w.AppendInt(t.data<int8_t>()[i]); }); break;
    case DataType::kUInt8: each([&](int64_t i) { w.AppendInt(t.data<uint8_t>()[i]); }); break;
    case DataType::kInt16: each([&](int64_t i) { w.AppendInt(t.data<int16_t>()[i]); }); break;
    case DataType::kUInt16: each([&](int64_t i) { w.AppendInt(t.data<uint16_t>()[i]); }); break;
    case DataType::kInt32: each([&](int64_t i) { w.AppendInt(t.data<int32_t>()[i]); }); break;
    case DataType::kUInt32: each([&](int64_t i) { w.AppendInt(t.data<uint32_t>()[i]); }); break;
    case DataType::kInt64: each([&](int64_t i) { w.AppendInt(t.data<int64_t>()[i]); }); break;
    case DataType::kUInt64: each([&](int64_t i) {
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof buf, t.data<uint64_t>()[i]);
        out->append(buf, r.ptr);
      });
      break;
    case DataType::kBool: each([&](int64_t i) { out->append(t.data<bool>()[i] ? "true" : "false"); }); break;
    case DataType::kString: each([&](int64_t i) { w.AppendString(t.data<std::string>()[i]); }); break;
    case DataType::kUndefined: break;
  }
  out->push_back(']');
}

void WriteSequenceMap(const Tensor& t, JsonWriter& w) {
  const engine::MapKeys& keys = *t.map_keys();
  std::string* out = w.out();
  const int64_t rows = t.rank() >= 1 ? t.shape()[0] : 1;
  const int64_t cols = static_cast<int64_t>(keys.size());
  out->push_back('[');
  for (int64_t r = 0; r < rows; ++r) {
    if (r) out->push_back(',');
    out->push_back('{');
    for (int64_t c = 0; c < cols; ++c) {
      if (c) out->push_back(',');
      if (keys.is_string()) {
        w.AppendString(keys.string_keys[static_cast<size_t>(c)]);
      } else {
        out->push_back('"');
        w.AppendInt(keys.int_keys[static_cast<size_t>(c)]);
        out->push_back('"');
      }
      out->push_back(':');
      const int64_t i = r * cols + c;
      if (t.dtype() == DataType::kDouble) w.AppendDouble(t.data<double>()[i]);
      else w.AppendFloat(t.data<float>()[i]);
    }
    out->push_back('}');
  }
  out->push_back(']');
}

}  // namespace

void WriteSignatureMembers(const engine::Model& model, std::string* out) {
  if (!out->empty() && out->back() != '{') out->push_back(',');
  JsonWriter w(out);
  auto list = [&](const std::vector<engine::TensorInfo>& infos) {
    w.BeginArray();
    for (const auto& i : infos) {
      w.BeginObject();
      w.Key("name");
      w.String(i.name);
      w.Key("datatype");
      w.String(i.is_sequence_map ? "SEQUENCE_MAP" : engine::DataTypeName(i.dtype));
      w.Key("shape");
      w.BeginArray();
      if (i.has_shape) {
        for (int64_t d : i.dims) w.Int(d);
      } else {
        w.Int(-1);
      }
      w.EndArray();
      w.EndObject();
    }
    w.EndArray();
  };
  w.Key("inputs");
  list(model.inputs());
  w.Key("outputs");
  list(model.outputs());
}

void WriteOutputTensor(std::string_view name, const Tensor& t, std::string* out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("name");
  w.String(name);
  w.Key("datatype");
  const bool seq_map = t.map_keys() != nullptr;
  w.String(seq_map ? "SEQUENCE_MAP" : engine::DataTypeName(t.dtype()));
  w.Key("shape");
  w.BeginArray();
  if (seq_map) {
    w.Int(t.rank() >= 1 ? t.shape()[0] : 1);
  } else {
    for (int64_t d : t.shape().dims()) w.Int(d);
  }
  w.EndArray();
  w.Key("data");
  w.Raw("");
  if (seq_map) WriteSequenceMap(t, w);
  else WriteData(t, w);
  w.EndObject();
}

void WriteInferResponse(std::string_view model_name, std::string_view model_version,
                        const InferRequest* request, std::span<const OutputRef> outputs,
                        std::string* out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("model_name");
  w.String(model_name);
  if (!model_version.empty()) {
    w.Key("model_version");
    w.String(model_version);
  }
  if (request != nullptr && request->has_id) {
    w.Key("id");
    w.String(request->id);
  }
  w.Key("outputs");
  w.BeginArray();
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (i) out->push_back(',');
    WriteOutputTensor(outputs[i].name, *outputs[i].tensor, out);
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace rtml::serving
