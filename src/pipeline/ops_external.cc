// Ops that reach outside the frame: profile (computed attributes of the
// request's identity through a ProfileSource) and onnx (a stored model
// version run by the engine).
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "engine/model.h"
#include "engine/tensor.h"
#include "pipeline/internal/plan.h"

namespace rtml::pipeline::internal {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr size_t kMaxProfileAttributes = 1024;

// ----------------------------------------------------------------- profile

class ProfileOp final : public Op {
 public:
  ProfileOp(std::vector<int> in, int out, std::vector<std::string> attributes)
      : Op(std::move(in), out), attributes_(std::move(attributes)) {}
  Status Eval(Frame& f, OpState*, int64_t n, const EvalEnv& env) const override {
    double* y = out(f).num.data();
    const size_t k = attributes_.size();
    for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
      double* row = y + i * k;
      const std::string_view id = env.identities != nullptr ? env.identities[i] : std::string_view();
      const bool found = env.profiles != nullptr && !IsMissing(id) && !id.empty() &&
                         env.profiles->Lookup(id, attributes_, env.now_ms, {row, k});
      if (!found) std::fill(row, row + k, kNaN);
    }
    return OkStatus();
  }

 private:
  std::vector<std::string> attributes_;
};

}  // namespace

StatusOr<Built> BuildProfile(const BuildContext& ctx) {
  RETURN_IF_ERROR(CheckParams(ctx, {"attributes"}));
  RETURN_IF_ERROR(CheckArity(ctx, 0, 0));
  const Json* attrs = Param(ctx, "attributes");
  if (attrs == nullptr) return ctx.Error("missing param 'attributes'");
  std::vector<std::string> names;
  std::set<std::string, std::less<>> seen;
  const bool ok = attrs->is_array() && !attrs->empty() && attrs->size() <= kMaxProfileAttributes &&
                  std::all_of(attrs->begin(), attrs->end(), [&](const Json& a) {
                    if (!a.is_string() || a.get<std::string>().empty()) return false;
                    names.push_back(a.get<std::string>());
                    return seen.insert(names.back()).second;
                  });
  if (!ok) {
    return ctx.Error("param 'attributes' must be an array of 1 to " +
                     std::to_string(kMaxProfileAttributes) + " distinct attribute names");
  }
  Built b;
  b.type = names.size() == 1 ? ValueType{ValueKind::kNumber, 1}
                             : ValueType{ValueKind::kVector, static_cast<int64_t>(names.size())};
  b.op = std::make_unique<ProfileOp>(ctx.input_slots(), ctx.out_slot, std::move(names));
  return b;
}

// -------------------------------------------------------------------- onnx

namespace {

class OnnxState final : public OpState {
 public:
  std::unique_ptr<engine::RunContext> ctx;
  std::vector<float> features;  // [capacity, width] when the model takes FP32
};

// Converts a numeric tensor to doubles; false for other element types.
bool ToDoubles(const engine::Tensor& t, double* out) {
  const size_t n = static_cast<size_t>(t.size());
  auto copy = [&](const auto* p) {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<double>(p[i]);
  };
  using engine::DataType;
  switch (t.dtype()) {
    case DataType::kFloat: copy(t.data<float>()); return true;
    case DataType::kDouble: copy(t.data<double>()); return true;
    case DataType::kInt8: copy(t.data<int8_t>()); return true;
    case DataType::kUInt8: copy(t.data<uint8_t>()); return true;
    case DataType::kInt16: copy(t.data<int16_t>()); return true;
    case DataType::kUInt16: copy(t.data<uint16_t>()); return true;
    case DataType::kInt32: copy(t.data<int32_t>()); return true;
    case DataType::kUInt32: copy(t.data<uint32_t>()); return true;
    case DataType::kInt64: copy(t.data<int64_t>()); return true;
    case DataType::kUInt64: copy(t.data<uint64_t>()); return true;
    case DataType::kBool: copy(t.data<bool>()); return true;
    default: return false;
  }
}

class OnnxOp final : public Op {
 public:
  OnnxOp(std::vector<int> in, int out, std::string label,
         std::shared_ptr<const engine::Model> model, int output, int64_t width,
         int64_t out_width, bool out_vector, bool per_row)
      : Op(std::move(in), out), label_(std::move(label)), model_(std::move(model)),
        output_(output), width_(width), out_width_(out_width), out_vector_(out_vector),
        per_row_(per_row),
        fp32_(model_->inputs()[0].dtype == engine::DataType::kFloat) {}

  std::unique_ptr<OpState> NewState(int64_t capacity) const override {
    auto s = std::make_unique<OnnxState>();
    s->ctx = model_->NewContext();
    if (fp32_) s->features.resize(static_cast<size_t>((per_row_ ? 1 : capacity) * width_));
    return s;
  }

  Status Eval(Frame& f, OpState* state, int64_t n, const EvalEnv&) const override {
    auto* s = static_cast<OnnxState*>(state);
    const double* x = in(f, 0).num.data();
    double* y = out(f).num.data();
    if (!per_row_) return RunRows(*s, x, n, y);
    for (int64_t r = 0; r < n; ++r) {
      RETURN_IF_ERROR(RunRows(*s, x + r * width_, 1, y + r * out_width_));
    }
    return OkStatus();
  }

  // Runs `rows` feature rows through the model into y ([rows, out_width]).
  Status RunRows(OnnxState& s, const double* x, int64_t rows, double* y) const {
    engine::Tensor input;
    const engine::Shape shape{rows, width_};
    if (fp32_) {
      const size_t count = static_cast<size_t>(rows * width_);
      for (size_t i = 0; i < count; ++i) s.features[i] = static_cast<float>(x[i]);
      input = engine::Tensor::Borrow(engine::DataType::kFloat, shape, s.features.data());
    } else {
      input = engine::Tensor::Borrow(engine::DataType::kDouble, shape, x);
    }
    const engine::Tensor* inputs[] = {&input};
    Status st = model_->Run(*s.ctx, inputs);
    if (!st.ok()) return st.WithPrefix(label_);
    const engine::Tensor& o = s.ctx->output(output_);
    if (o.size() != rows * out_width_ || (out_vector_ && o.rank() < 2 && !per_row_)) {
      return InvalidArgumentError(label_ + ": model output is " + o.Describe() + ", expected " +
                                  std::to_string(out_width_) + " value(s) per row");
    }
    if (!ToDoubles(o, y)) return InternalError(label_ + ": non-numeric model output");
    return OkStatus();
  }

 private:
  std::string label_;
  std::shared_ptr<const engine::Model> model_;
  int output_;
  int64_t width_, out_width_;
  bool out_vector_, per_row_, fp32_;
};

class DeferredOnnxOp final : public Op {
 public:
  using Op::Op;
  Status Eval(Frame&, OpState*, int64_t, const EvalEnv&) const override {
    return InternalError("an onnx node without a resolved model ran");
  }
  bool runnable() const override { return false; }
};

std::string Names(const std::vector<engine::TensorInfo>& infos) {
  std::string s;
  for (const auto& i : infos) s += (s.empty() ? "" : ", ") + i.name;
  return s;
}

bool IsNumericTensor(engine::DataType t) {
  return engine::IsNumeric(t) || t == engine::DataType::kBool;
}

}  // namespace

StatusOr<Built> BuildOnnx(const BuildContext& ctx) {
  RETURN_IF_ERROR(CheckParams(ctx, {"model", "version", "output", "input"}));
  RETURN_IF_ERROR(CheckArity(ctx, 1, 1));
  const InputRef& x = ctx.inputs[0];
  RETURN_IF_ERROR(ExpectType(ctx, 0, x.type.kind == ValueKind::kVector || IsNumeric(x.type),
                             "vector or number"));
  ASSIGN_OR_RETURN(const std::string name, StringParam(ctx, "model"));
  if (name.empty()) return ctx.Error("param 'model' must not be empty");
  int64_t version = 0;
  if (ctx.models != nullptr || Param(ctx, "version") != nullptr) {
    ASSIGN_OR_RETURN(version, IntParam(ctx, "version", 1, INT64_MAX));
  }
  std::string input_name, output_name;
  if (Param(ctx, "input") != nullptr) {
    ASSIGN_OR_RETURN(input_name, StringParam(ctx, "input"));
  }
  if (Param(ctx, "output") != nullptr) {
    ASSIGN_OR_RETURN(output_name, StringParam(ctx, "output"));
  }
  const std::string model_label = "model '" + name + "' version " + std::to_string(version);
  Built b;
  b.models.push_back({name, version});
  if (ctx.models == nullptr) {  // deferred: typed, not runnable
    b.type = {ValueKind::kVector, kUnknownWidth};
    b.op = std::make_unique<DeferredOnnxOp>(ctx.input_slots(), ctx.out_slot);
    return b;
  }
  auto resolved = ctx.models->Resolve(name, version);
  if (!resolved.ok()) {
    if (resolved.status().code() == StatusCode::kNotFound) {
      return ctx.Error(model_label + " not found");
    }
    return ctx.Error(model_label + ": " + resolved.status().message());
  }
  std::shared_ptr<const engine::Model> model = *resolved;
  if (model == nullptr) return ctx.Error(model_label + " not found");

  // The input: the model's only one.
  const auto& inputs = model->inputs();
  if (inputs.size() != 1) {
    return ctx.Error(model_label + " has " + std::to_string(inputs.size()) + " inputs (" +
                     Names(inputs) + "); an onnx node feeds exactly one");
  }
  if (!input_name.empty() && inputs[0].name != input_name) {
    return ctx.Error(model_label + " has no input '" + input_name + "' (inputs: " +
                     Names(inputs) + ")");
  }
  const engine::TensorInfo& in_info = inputs[0];
  if (in_info.is_sequence_map ||
      (in_info.dtype != engine::DataType::kFloat && in_info.dtype != engine::DataType::kDouble)) {
    return ctx.Error(model_label + " input '" + in_info.name + "' is " +
                     std::string(engine::DataTypeName(in_info.dtype)) +
                     "; onnx nodes feed FP32 or FP64 features");
  }
  bool per_row = false;
  if (in_info.has_shape) {
    if (in_info.dims.size() != 2 || (in_info.dims[0] != -1 && in_info.dims[0] != 1)) {
      return ctx.Error(model_label + " input '" + in_info.name + "' has shape " +
                       in_info.ShapeString() + "; onnx nodes feed [rows, features]");
    }
    per_row = in_info.dims[0] == 1;
    const int64_t expected = in_info.dims[1];
    if (expected >= 0 && x.type.width != kUnknownWidth && expected != x.type.width) {
      return ctx.Error("model expects " + std::to_string(expected) + " features, input '" +
                       x.name + "' has " + std::to_string(x.type.width));
    }
  }

  // The output: named, or the first numeric tensor output.
  const auto& outputs = model->outputs();
  int output = -1;
  if (!output_name.empty()) {
    output = model->OutputIndex(output_name);
    if (output < 0) {
      return ctx.Error(model_label + " has no output '" + output_name + "' (outputs: " +
                       Names(outputs) + ")");
    }
    const engine::TensorInfo& o = outputs[static_cast<size_t>(output)];
    if (o.is_sequence_map) {
      return ctx.Error(model_label + " output '" + output_name +
                       "' is a sequence of maps (ZipMap); choose a tensor output");
    }
    if (!IsNumericTensor(o.dtype)) {
      return ctx.Error(model_label + " output '" + output_name + "' is " +
                       std::string(engine::DataTypeName(o.dtype)) + "; choose a numeric output");
    }
  } else {
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (!outputs[i].is_sequence_map && IsNumericTensor(outputs[i].dtype)) {
        output = static_cast<int>(i);
        break;
      }
    }
    if (output < 0) {
      return ctx.Error(model_label + " has no numeric tensor output (outputs: " + Names(outputs) +
                       ")");
    }
  }
  b.resolved.push_back(model);
  const std::string label = "node '" + ctx.node.id + "' (onnx)";
  if (x.type.width == kUnknownWidth) {  // width known after fitting: checked then
    const engine::TensorInfo& o = outputs[static_cast<size_t>(output)];
    b.type = o.has_shape && o.dims.size() == 1 ? ValueType{ValueKind::kNumber, 1}
             : o.has_shape && o.dims.size() == 2 && o.dims[1] >= 0
                 ? ValueType{ValueKind::kVector, o.dims[1]}
                 : ValueType{ValueKind::kVector, kUnknownWidth};
    b.op = std::make_unique<DeferredOnnxOp>(ctx.input_slots(), ctx.out_slot);
    return b;
  }

  // A probe run on one row of zeros fixes the output's width per row.
  std::vector<double> zeros(static_cast<size_t>(x.type.width), 0.0);
  auto probe_ctx = model->NewContext();
  engine::Tensor probe;
  const engine::Shape probe_shape{1, x.type.width};
  std::vector<float> zeros32(zeros.size(), 0.0f);
  if (in_info.dtype == engine::DataType::kFloat) {
    probe = engine::Tensor::Borrow(engine::DataType::kFloat, probe_shape, zeros32.data());
  } else {
    probe = engine::Tensor::Borrow(engine::DataType::kDouble, probe_shape, zeros.data());
  }
  const engine::Tensor* probe_inputs[] = {&probe};
  Status st = model->Run(*probe_ctx, probe_inputs);
  if (!st.ok()) return ctx.Error(model_label + " fails on a row of " +
                                 std::to_string(x.type.width) + " features: " + st.message());
  const engine::Tensor& o = probe_ctx->output(output);
  const bool is_vector = o.rank() >= 2;
  if (!is_vector && o.size() != 1) {
    return ctx.Error(model_label + " output '" + outputs[static_cast<size_t>(output)].name +
                     "' is " + o.Describe() + " for one row; expected [1] or [1, n]");
  }
  if (o.rank() > 2 || (is_vector && o.shape()[0] != 1)) {
    return ctx.Error(model_label + " output '" + outputs[static_cast<size_t>(output)].name +
                     "' is " + o.Describe() + " for one row; expected [1, n]");
  }
  const int64_t out_width = o.size();
  b.type = is_vector ? ValueType{ValueKind::kVector, out_width} : ValueType{ValueKind::kNumber, 1};
  b.op = std::make_unique<OnnxOp>(ctx.input_slots(), ctx.out_slot, label, model, output,
                                  x.type.width, out_width, is_vector, per_row);
  return b;
}

}  // namespace rtml::pipeline::internal
