#include "engine/model.h"

#include <climits>
#include <fstream>
#include <sstream>

#include "engine/internal/plan.h"
#include "engine/internal/registry.h"
#include "onnx/checker.h"
#include "onnx/shape_inference/implementation.h"

namespace rtml::engine {

std::string TensorInfo::ShapeString() const {
  if (!has_shape) return "?";
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(dims[i]);
  }
  return out + "]";
}

Model::Model() = default;
Model::~Model() = default;
RunContext::RunContext() = default;
RunContext::~RunContext() = default;

int RunContext::num_outputs() const { return static_cast<int>(plan_->outputs.size()); }

const Tensor& RunContext::output(int i) const {
  return *values_[static_cast<size_t>(plan_->output_value_ids[static_cast<size_t>(i)])];
}

StatusOr<std::unique_ptr<Model>> Model::Load(std::string_view bytes, const LoadOptions& options) {
  if (static_cast<int64_t>(bytes.size()) > options.max_model_bytes) {
    return TooLargeError("model is " + std::to_string(bytes.size()) + " bytes, above the limit of " +
                         std::to_string(options.max_model_bytes));
  }
  if (bytes.empty()) return InvalidArgumentError("not an ONNX model: the file is empty");
  if (bytes.size() > static_cast<size_t>(INT_MAX)) return TooLargeError("model exceeds 2 GiB");
  onnx::ModelProto proto;
  if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return InvalidArgumentError("not an ONNX model: the bytes do not parse as an ONNX ModelProto");
  }
  if (!proto.has_graph()) return InvalidArgumentError("not an ONNX model: it has no graph");

  if (options.run_checker) {
    try {
      onnx::checker::check_model(proto);
    } catch (const std::exception& e) {
      std::string msg = e.what();
      // The checker appends a context dump after a newline; keep the first line.
      if (auto nl = msg.find("\n\n"); nl != std::string::npos) msg.resize(nl);
      return InvalidArgumentError("invalid ONNX model: " + msg);
    }
  }

  // Shape inference is advisory: converters emit graphs (ZipMap outputs,
  // ArrayFeatureExtractor chains) that ONNX's inference cannot fully type.
  std::unique_ptr<onnx::ModelProto> inferred = std::make_unique<onnx::ModelProto>(proto);
  try {
    onnx::shape_inference::InferShapes(*inferred);
  } catch (const std::exception&) {
    inferred.reset();
  }

  auto model = std::unique_ptr<Model>(new Model());
  model->name_ = options.name.empty() ? proto.graph().name() : options.name;
  for (const auto& o : proto.opset_import()) {
    model->opsets_[std::string(internal::NormalizeDomain(o.domain()))] = o.version();
  }
  for (const auto& node : proto.graph().node()) ++model->op_counts_[node.op_type()];
  ASSIGN_OR_RETURN(model->plan_, internal::CompilePlan(proto, inferred.get()));
  return model;
}

StatusOr<std::unique_ptr<Model>> Model::LoadFile(const std::string& path, LoadOptions options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot open model file '" + path + "'");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (options.name.empty()) {
    const auto slash = path.find_last_of('/');
    options.name = slash == std::string::npos ? path : path.substr(slash + 1);
  }
  auto model = Load(buf.str(), options);
  if (!model.ok()) return model.status().WithPrefix(path);
  return model;
}

const std::vector<TensorInfo>& Model::inputs() const { return plan_->inputs; }
const std::vector<TensorInfo>& Model::outputs() const { return plan_->outputs; }

int Model::InputIndex(std::string_view name) const {
  for (size_t i = 0; i < plan_->inputs.size(); ++i)
    if (plan_->inputs[i].name == name) return static_cast<int>(i);
  return -1;
}

int Model::OutputIndex(std::string_view name) const {
  for (size_t i = 0; i < plan_->outputs.size(); ++i)
    if (plan_->outputs[i].name == name) return static_cast<int>(i);
  return -1;
}

int Model::num_steps() const { return static_cast<int>(plan_->steps.size()); }

std::unique_ptr<RunContext> Model::NewContext() const {
  auto ctx = std::unique_ptr<RunContext>(new RunContext());
  plan_->InitContext(*ctx);
  return ctx;
}

Status Model::Run(RunContext& ctx, std::span<const Tensor* const> inputs) const {
  if (ctx.plan_ != plan_.get()) return InvalidArgumentError("RunContext belongs to a different model");
  return plan_->Run(ctx, inputs);
}

}  // namespace rtml::engine
