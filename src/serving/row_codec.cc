#include "serving/row_codec.h"

#include "common/json_writer.h"
#include "serving/internal/json_tensor.h"

namespace rtml::serving {

using internal::DataFiller;
using internal::JsonError;
namespace od = simdjson::ondemand;

struct RowParser::Impl {
  od::parser parser;
  std::vector<int64_t> row_size;   // per input; -1 until known
  std::vector<uint8_t> seen;       // per input, for the current instance
};

RowParser::RowParser() : impl_(std::make_unique<Impl>()) {}
RowParser::~RowParser() = default;

namespace {

// Values per row of an input, from its declared shape; -1 when an inner
// dimension is dynamic (then taken from the first instance).
int64_t StaticRowSize(const engine::TensorInfo& info) {
  if (!info.has_shape || info.dims.empty()) return 1;
  int64_t n = 1;
  for (size_t d = 1; d < info.dims.size(); ++d) {
    if (info.dims[d] < 0) return -1;
    n *= info.dims[d];
  }
  return n;
}

Status AllocateInput(const engine::TensorInfo& info, int64_t rows, int64_t row_size, engine::Tensor* t) {
  engine::Shape shape;
  shape.PushBack(rows);
  if (info.has_shape && info.dims.size() >= 2) {
    for (size_t d = 1; d < info.dims.size(); ++d) shape.PushBack(info.dims[d] < 0 ? row_size : info.dims[d]);
    // A dynamic inner dimension takes all of the row's values.
    if (shape.NumElements() != rows * row_size) {
      shape.Resize(1);
      shape.PushBack(row_size);
    }
  } else if (!info.has_shape || info.dims.size() != 1) {
    shape.PushBack(row_size);
  }
  const engine::DataType dtype = info.dtype == engine::DataType::kUndefined ? engine::DataType::kFloat : info.dtype;
  return t->Resize(dtype, shape);
}

}  // namespace

Status RowParser::Parse(std::string* body, const std::vector<engine::TensorInfo>& inputs, int64_t max_rows,
                        RowRequest* out) {
  out->has_id = false;
  out->rows = 0;
  const size_t len = body->size();
  if (body->capacity() < len + simdjson::SIMDJSON_PADDING) body->reserve(len + simdjson::SIMDJSON_PADDING);
  od::document doc;
  if (auto e = impl_->parser.iterate(body->data(), len, body->capacity()).get(doc)) return JsonError("request body", e);
  RETURN_IF_ERROR(internal::ValidateDocument(doc, "request body"));
  od::object root;
  if (doc.get_object().get(root)) return InvalidArgumentError("request body must be a JSON object");
  {
    od::value idv;
    auto e = root.find_field_unordered("id").get(idv);
    if (!e) {
      std::string_view id;
      if (idv.get_string().get(id)) return InvalidArgumentError("id: must be a string");
      out->id.assign(id);
      out->has_id = true;
    } else if (e != simdjson::NO_SUCH_FIELD) {
      return JsonError("request body", e);
    }
  }
  od::array instances;
  if (auto e = root.find_field_unordered("instances").get_array().get(instances)) {
    if (e == simdjson::NO_SUCH_FIELD) return InvalidArgumentError("request body needs \"instances\": [{...}, ...]");
    if (e == simdjson::INCORRECT_TYPE) return InvalidArgumentError("instances: must be an array of objects");
    return JsonError("instances", e);
  }
  size_t count = 0;
  if (auto e = instances.count_elements().get(count)) return JsonError("instances", e);
  if (count == 0) return InvalidArgumentError("instances: must not be empty");
  if (static_cast<int64_t>(count) > max_rows) {
    return TooLargeError("instances: " + std::to_string(count) + " rows exceed the batch limit of " +
                         std::to_string(max_rows));
  }
  const int64_t rows = static_cast<int64_t>(count);
  const size_t n_in = inputs.size();
  if (out->tensors.size() < n_in) out->tensors.resize(n_in);
  if (out->identities.size() < count) out->identities.resize(count);
  impl_->row_size.assign(n_in, -1);
  impl_->seen.assign(n_in, 0);
  for (size_t i = 0; i < n_in; ++i) {
    const int64_t rs = StaticRowSize(inputs[i]);
    impl_->row_size[i] = rs;
    if (rs >= 0) RETURN_IF_ERROR(AllocateInput(inputs[i], rows, rs, &out->tensors[i]));
  }

  int64_t r = 0;
  for (auto elem : instances) {
    od::object inst;
    if (elem.get_object().get(inst)) return InvalidArgumentError("instances[" + std::to_string(r) + "]: must be an object");
    std::fill(impl_->seen.begin(), impl_->seen.end(), uint8_t{0});
    out->identities[static_cast<size_t>(r)].clear();
    for (auto field : inst) {
      std::string_view key;
      if (field.unescaped_key().get(key)) return JsonError("instances[" + std::to_string(r) + "]", simdjson::TAPE_ERROR);
      od::value value;
      if (auto e = field.value().get(value)) return JsonError("instances[" + std::to_string(r) + "]", e);
      if (key == "identity") {
        std::string_view id;
        if (value.get_string().get(id)) {
          return InvalidArgumentError("instances[" + std::to_string(r) + "].identity: must be a string \"NS:ID\"");
        }
        out->identities[static_cast<size_t>(r)].assign(id);
        continue;
      }
      size_t idx = n_in;
      for (size_t i = 0; i < n_in; ++i) {
        if (inputs[i].name == key) {
          idx = i;
          break;
        }
      }
      if (idx == n_in) {
        std::string names;
        for (const auto& in : inputs) names += (names.empty() ? "" : ", ") + in.name;
        return InvalidArgumentError("instances[" + std::to_string(r) + "]: unknown field '" + std::string(key) +
                                    "' (model inputs: " + names + ")");
      }
      if (impl_->seen[idx]) {
        return InvalidArgumentError("instances[" + std::to_string(r) + "]: field '" + std::string(key) + "' given twice");
      }
      impl_->seen[idx] = 1;
      const int64_t rs_known = impl_->row_size[idx];
      if (rs_known < 0) {
        // Dynamic inner size: learn it from this value (a flat array).
        od::json_type type;
        if (auto e = value.type().get(type)) return JsonError("instances", e);
        size_t n = 1;
        od::array a;
        if (type == od::json_type::array) {
          if (value.get_array().get(a) || a.count_elements().get(n)) {
            return InvalidArgumentError("instances[" + std::to_string(r) + "]." + std::string(key) + ": malformed array");
          }
        }
        impl_->row_size[idx] = static_cast<int64_t>(n);
        RETURN_IF_ERROR(AllocateInput(inputs[idx], rows, impl_->row_size[idx], &out->tensors[idx]));
        DataFiller filler(&out->tensors[idx], inputs[idx].name, 0, static_cast<int64_t>(n));
        Status st = type == od::json_type::array ? filler.FillElements(a, 2) : filler.Fill(value, 1);
        if (!st.ok()) return st.WithPrefix("instances[" + std::to_string(r) + "]");
        continue;
      }
      const int64_t rs = impl_->row_size[idx];
      DataFiller filler(&out->tensors[idx], inputs[idx].name, r * rs, (r + 1) * rs);
      Status st = filler.Fill(value, 1);
      if (!st.ok()) return st.WithPrefix("instances[" + std::to_string(r) + "]");
      if (filler.count() != (r + 1) * rs) {
        return InvalidArgumentError("instances[" + std::to_string(r) + "]." + std::string(key) + ": expected " +
                                    std::to_string(rs) + " values, got " + std::to_string(filler.count() - r * rs));
      }
    }
    for (size_t i = 0; i < n_in; ++i) {
      if (!impl_->seen[i]) {
        return InvalidArgumentError("instances[" + std::to_string(r) + "]: missing input '" + inputs[i].name + "'");
      }
    }
    ++r;
  }
  out->rows = rows;
  return OkStatus();
}

namespace {

void WriteElement(const engine::Tensor& t, int64_t i, JsonWriter& w) {
  switch (t.dtype()) {
    case engine::DataType::kFloat: w.Float(t.data<float>()[i]); break;
    case engine::DataType::kDouble: w.Double(t.data<double>()[i]); break;
    case engine::DataType::kInt8: w.Int(t.data<int8_t>()[i]); break;
    case engine::DataType::kUInt8: w.Int(t.data<uint8_t>()[i]); break;
    case engine::DataType::kInt16: w.Int(t.data<int16_t>()[i]); break;
    case engine::DataType::kUInt16: w.Int(t.data<uint16_t>()[i]); break;
    case engine::DataType::kInt32: w.Int(t.data<int32_t>()[i]); break;
    case engine::DataType::kUInt32: w.Int(t.data<uint32_t>()[i]); break;
    case engine::DataType::kInt64: w.Int(t.data<int64_t>()[i]); break;
    case engine::DataType::kUInt64: w.Uint(t.data<uint64_t>()[i]); break;
    case engine::DataType::kBool: w.Bool(t.data<bool>()[i]); break;
    case engine::DataType::kString: w.String(t.data<std::string>()[i]); break;
    case engine::DataType::kUndefined: w.Null(); break;
  }
}

}  // namespace

void WritePredictions(std::span<const OutputRef> outputs, int64_t rows, int64_t revision, const RowRequest* request,
                      std::string* out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("predictions");
  w.BeginArray();
  for (int64_t r = 0; r < rows; ++r) {
    w.BeginObject();
    for (const auto& o : outputs) {
      const engine::Tensor& t = *o.tensor;
      w.Key(o.name);
      if (const engine::MapKeys* keys = t.map_keys()) {
        const int64_t cols = static_cast<int64_t>(keys->size());
        w.BeginObject();
        for (int64_t c = 0; c < cols; ++c) {
          if (keys->is_string()) w.Key(keys->string_keys[static_cast<size_t>(c)]);
          else w.Key(std::to_string(keys->int_keys[static_cast<size_t>(c)]));
          WriteElement(t, r * cols + c, w);
        }
        w.EndObject();
        continue;
      }
      const bool batched = t.rank() >= 1 && t.shape()[0] == rows;
      const int64_t per_row = batched ? t.size() / std::max<int64_t>(rows, 1) : t.size();
      const int64_t start = batched ? r * per_row : 0;
      if (per_row == 1 && (batched || t.rank() == 0)) {
        WriteElement(t, start, w);
      } else {
        w.BeginArray();
        for (int64_t i = 0; i < per_row; ++i) WriteElement(t, start + i, w);
        w.EndArray();
      }
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("revision");
  w.Int(revision);
  if (request && request->has_id) {
    w.Key("id");
    w.String(request->id);
  }
  w.EndObject();
}

}  // namespace rtml::serving
