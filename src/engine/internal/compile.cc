// Graph compilation: validation, topological order, dead-node removal,
// fusion, constant folding, kernel creation and slot (memory) planning.
#include <algorithm>
#include <climits>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "engine/internal/onnx_tensor.h"
#include "engine/internal/plan.h"
#include "engine/internal/registry.h"

namespace rtml::engine::internal {
namespace {

std::string NodeLabel(const onnx::NodeProto& node) {
  std::string out = "node '";
  out += node.name().empty() ? (node.output_size() ? node.output(0) : std::string("?")) : node.name();
  out += "' (" + node.op_type() + ")";
  return out;
}

// Reads the declared type of a graph input or output.
StatusOr<TensorInfo> InfoFromValueInfo(const onnx::ValueInfoProto& vi, const char* what) {
  TensorInfo info;
  info.name = vi.name();
  const std::string label = std::string(what) + " '" + vi.name() + "'";
  if (!vi.has_type()) return info;  // untyped (allowed for outputs of old models)
  const onnx::TypeProto& type = vi.type();
  if (type.has_tensor_type()) {
    const auto& tt = type.tensor_type();
    if (tt.elem_type() != onnx::TensorProto::UNDEFINED) {
      info.dtype = FromOnnxType(tt.elem_type());
      if (info.dtype == DataType::kUndefined) {
        return UnimplementedError(label + " has element type " + OnnxTypeName(tt.elem_type()) +
                                  ", which rtml does not support");
      }
    }
    if (tt.has_shape()) {
      info.has_shape = true;
      if (tt.shape().dim_size() > Shape::kMaxRank) {
        return UnimplementedError(label + " has rank " + std::to_string(tt.shape().dim_size()) +
                                  ", above the engine's limit of " + std::to_string(Shape::kMaxRank));
      }
      for (const auto& d : tt.shape().dim()) {
        info.dims.push_back(d.has_dim_value() && d.dim_value() >= 0 ? d.dim_value() : -1);
      }
    }
    return info;
  }
  if (type.has_sequence_type() && type.sequence_type().elem_type().has_map_type()) {
    const auto& map = type.sequence_type().elem_type().map_type();
    info.is_sequence_map = true;
    info.key_dtype = FromOnnxType(map.key_type());
    if (map.value_type().has_tensor_type()) {
      info.dtype = FromOnnxType(map.value_type().tensor_type().elem_type());
    }
    return info;
  }
  return UnimplementedError(label +
                            " is a sequence, map or optional value; rtml supports tensor inputs "
                            "and outputs (and sequence-of-map outputs from ZipMap)");
}

struct StaticType {
  DataType dtype = DataType::kUndefined;
  std::optional<std::vector<int64_t>> dims;
};

StaticType StaticTypeOf(const onnx::TypeProto& type) {
  StaticType st;
  if (!type.has_tensor_type()) return st;
  st.dtype = FromOnnxType(type.tensor_type().elem_type());
  if (type.tensor_type().has_shape()) {
    std::vector<int64_t> dims;
    for (const auto& d : type.tensor_type().shape().dim())
      dims.push_back(d.has_dim_value() && d.dim_value() >= 0 ? d.dim_value() : -1);
    st.dims = std::move(dims);
  }
  return st;
}

// Executes a kernel whose inputs are all constants, producing new constants.
Status FoldNode(const Kernel& kernel, const std::vector<int>& input_ids,
                const std::vector<const Tensor*>& value_ptrs, std::vector<Tensor>& outputs) {
  std::vector<Tensor*> out_ptrs;
  for (auto& t : outputs) out_ptrs.push_back(&t);
  Tensor scratch;
  KernelContext kc(input_ids.data(), static_cast<int>(input_ids.size()), value_ptrs.data(),
                   out_ptrs.data(), static_cast<int>(out_ptrs.size()), &scratch);
  return kernel.Compute(kc);
}

}  // namespace

StatusOr<std::unique_ptr<Plan>> CompilePlan(const onnx::ModelProto& model,
                                            const onnx::ModelProto* inferred) {
  const onnx::GraphProto& g = model.graph();
  auto plan = std::make_unique<Plan>();

  std::map<std::string, int> opsets;
  for (const auto& o : model.opset_import())
    opsets[std::string(NormalizeDomain(o.domain()))] = static_cast<int>(o.version());
  if (model.opset_import_size() == 0) opsets[""] = 1;  // IR version < 3 implies opset 1

  std::unordered_map<std::string, int> ids;  // value name -> id
  auto add_value = [&](const std::string& name, ValueRef ref) -> StatusOr<int> {
    if (name.empty()) return InvalidArgumentError("a value has an empty name");
    if (ids.count(name)) return InvalidArgumentError("value '" + name + "' is defined more than once");
    const int id = static_cast<int>(plan->values.size());
    plan->values.push_back(ref);
    plan->value_names.push_back(name);
    ids.emplace(name, id);
    return id;
  };

  if (g.sparse_initializer_size() > 0) {
    return UnimplementedError("sparse initializers are not supported");
  }
  for (const auto& init : g.initializer()) {
    ASSIGN_OR_RETURN(Tensor t, TensorFromProto(init));
    plan->constants.push_back(std::make_unique<Tensor>(std::move(t)));
    ASSIGN_OR_RETURN(int id, add_value(init.name(), {ValueRef::Kind::kConstant,
                                                     static_cast<int>(plan->constants.size()) - 1}));
    (void)id;
  }
  for (const auto& in : g.input()) {
    if (ids.count(in.name())) continue;  // an initializer's default; treated as a constant
    ASSIGN_OR_RETURN(TensorInfo info, InfoFromValueInfo(in, "input"));
    if (info.is_sequence_map) {
      return UnimplementedError("input '" + in.name() + "' is a sequence of maps; only tensors are accepted as inputs");
    }
    plan->inputs.push_back(std::move(info));
    ASSIGN_OR_RETURN(int id, add_value(in.name(), {ValueRef::Kind::kInput,
                                                   static_cast<int>(plan->inputs.size()) - 1}));
    plan->input_value_ids.push_back(id);
  }

  // Static types of intermediate values, from the model and from inference.
  std::unordered_map<std::string, StaticType> static_types;
  auto collect_types = [&](const onnx::GraphProto& graph) {
    for (const auto& vi : graph.value_info()) static_types[vi.name()] = StaticTypeOf(vi.type());
    for (const auto& vi : graph.output()) static_types[vi.name()] = StaticTypeOf(vi.type());
  };
  collect_types(g);
  if (inferred != nullptr) collect_types(inferred->graph());
  for (const auto& [name, st] : static_types) {
    (void)st;
    (void)name;
  }

  // Producers and topological order (Kahn's algorithm).
  const int n = g.node_size();
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < n; ++i) {
    for (const auto& out : g.node(i).output()) {
      if (out.empty()) continue;
      if (producer.count(out) || ids.count(out)) {
        return InvalidArgumentError(NodeLabel(g.node(i)) + ": output '" + out +
                                    "' is already defined by another node, input or initializer");
      }
      producer.emplace(out, i);
    }
  }
  std::vector<std::vector<int>> consumers(static_cast<size_t>(n));
  std::vector<int> indegree(static_cast<size_t>(n), 0);
  for (int i = 0; i < n; ++i) {
    const auto& node = g.node(i);
    for (const auto& a : node.attribute()) {
      if (a.has_g() || a.graphs_size() > 0) {
        return UnimplementedError(NodeLabel(node) +
                                  ": control-flow operators with subgraphs are not supported");
      }
    }
    for (const auto& in : node.input()) {
      if (in.empty() || ids.count(in)) continue;
      auto it = producer.find(in);
      if (it == producer.end()) {
        return InvalidArgumentError(NodeLabel(node) + ": input '" + in +
                                    "' is not produced by any node, graph input or initializer");
      }
      consumers[static_cast<size_t>(it->second)].push_back(i);
      ++indegree[static_cast<size_t>(i)];
    }
  }
  std::vector<int> order;
  order.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    if (indegree[static_cast<size_t>(i)] == 0) order.push_back(i);
  for (size_t k = 0; k < order.size(); ++k) {
    for (int c : consumers[static_cast<size_t>(order[k])])
      if (--indegree[static_cast<size_t>(c)] == 0) order.push_back(c);
  }
  if (static_cast<int>(order.size()) != n) {
    for (int i = 0; i < n; ++i) {
      if (indegree[static_cast<size_t>(i)] > 0) {
        return InvalidArgumentError("the graph has a cycle through " + NodeLabel(g.node(i)));
      }
    }
  }

  // Keep only nodes that contribute to a graph output.
  std::vector<std::string> output_names;
  std::vector<char> needed(static_cast<size_t>(n), 0);
  std::vector<int> stack;
  for (const auto& out : g.output()) {
    output_names.push_back(out.name());
    if (ids.count(out.name())) continue;
    auto it = producer.find(out.name());
    if (it == producer.end()) {
      return InvalidArgumentError("graph output '" + out.name() + "' is not produced by any node or input");
    }
    stack.push_back(it->second);
  }
  if (output_names.empty()) return InvalidArgumentError("the graph has no outputs");
  while (!stack.empty()) {
    const int i = stack.back();
    stack.pop_back();
    if (needed[static_cast<size_t>(i)]) continue;
    needed[static_cast<size_t>(i)] = 1;
    for (const auto& in : g.node(i).input()) {
      auto it = producer.find(in);
      if (it != producer.end()) stack.push_back(it->second);
    }
  }

  std::vector<WorkNode> work;
  for (int i : order) {
    if (!needed[static_cast<size_t>(i)]) continue;
    const auto& node = g.node(i);
    const std::string domain(NormalizeDomain(node.domain()));
    if (domain == kRtmlDomain) {
      return InvalidArgumentError(NodeLabel(node) + " uses rtml's internal domain 'ai.rtml', which models may not use");
    }
    auto op_it = opsets.find(domain);
    if (op_it == opsets.end()) {
      return InvalidArgumentError(NodeLabel(node) + " uses domain '" + node.domain() +
                                  "', which the model does not import");
    }
    work.push_back({node, op_it->second});
  }
  std::unordered_map<std::string, const onnx::TensorProto*> initializers;
  for (const auto& init : g.initializer()) initializers[init.name()] = &init;
  FuseNodes(work, output_names, initializers);

  const KernelRegistry& registry = KernelRegistry::Global();
  std::vector<const Tensor*> fold_ptrs;
  for (const WorkNode& wn : work) {
    const onnx::NodeProto& node = wn.node;
    const std::string label = NodeLabel(node);
    auto factory_or = registry.Find(node.domain(), node.op_type(), wn.opset);
    if (!factory_or.ok()) return factory_or.status().WithPrefix(label);

    KernelInfo info{node, wn.opset, NodeAttributes(node), {}, node.output_size()};
    std::vector<int> input_ids;
    bool all_constant = true;
    for (const auto& in : node.input()) {
      InputInfo ii;
      if (in.empty()) {
        input_ids.push_back(-1);
        info.inputs.push_back(ii);
        continue;
      }
      auto it = ids.find(in);
      if (it == ids.end()) {
        return InternalError(label + ": input '" + in + "' has no value (ordering bug)");
      }
      const int id = it->second;
      const ValueRef& ref = plan->values[static_cast<size_t>(id)];
      ii.present = true;
      if (ref.kind == ValueRef::Kind::kConstant) {
        ii.constant = plan->constants[static_cast<size_t>(ref.index)].get();
        ii.dtype = ii.constant->dtype();
        auto d = ii.constant->shape().dims();
        ii.dims = std::vector<int64_t>(d.begin(), d.end());
      } else {
        all_constant = false;
        if (ref.kind == ValueRef::Kind::kInput) {
          const TensorInfo& ti = plan->inputs[static_cast<size_t>(ref.index)];
          ii.dtype = ti.dtype;
          if (ti.has_shape) ii.dims = ti.dims;
        } else if (auto st = static_types.find(in); st != static_types.end()) {
          ii.dtype = st->second.dtype;
          ii.dims = st->second.dims;
        }
      }
      input_ids.push_back(id);
      info.inputs.push_back(std::move(ii));
    }

    auto kernel_or = factory_or.value()(info);
    if (!kernel_or.ok()) return kernel_or.status().WithPrefix(label);

    if (all_constant) {
      // Constant folding: run now, keep the results as constants.
      fold_ptrs.assign(plan->values.size(), nullptr);
      for (size_t v = 0; v < plan->values.size(); ++v) {
        if (plan->values[v].kind == ValueRef::Kind::kConstant)
          fold_ptrs[v] = plan->constants[static_cast<size_t>(plan->values[v].index)].get();
      }
      std::vector<Tensor> outs(static_cast<size_t>(node.output_size()));
      Status st = FoldNode(**kernel_or, input_ids, fold_ptrs, outs);
      if (!st.ok()) return st.WithPrefix(label);
      for (int o = 0; o < node.output_size(); ++o) {
        if (node.output(o).empty()) continue;
        plan->constants.push_back(std::make_unique<Tensor>(std::move(outs[static_cast<size_t>(o)])));
        ASSIGN_OR_RETURN(int id, add_value(node.output(o),
                                           {ValueRef::Kind::kConstant,
                                            static_cast<int>(plan->constants.size()) - 1}));
        (void)id;
      }
      continue;
    }

    Step step;
    step.kernel = std::move(kernel_or).value();
    step.label = label;
    step.input_ids = std::move(input_ids);
    for (int o = 0; o < node.output_size(); ++o) {
      // Unnamed optional outputs still need somewhere to be written.
      std::string name = node.output(o);
      if (name.empty()) name = "__unused_" + std::to_string(plan->values.size());
      ASSIGN_OR_RETURN(int id, add_value(name, {ValueRef::Kind::kComputed, -1}));
      step.output_ids.push_back(id);
    }
    plan->steps.push_back(std::move(step));
  }

  // Graph outputs.
  for (const auto& out : g.output()) {
    ASSIGN_OR_RETURN(TensorInfo info, InfoFromValueInfo(out, "output"));
    const int id = ids.at(out.name());
    const ValueRef& ref = plan->values[static_cast<size_t>(id)];
    if (info.dtype == DataType::kUndefined && ref.kind == ValueRef::Kind::kConstant) {
      info.dtype = plan->constants[static_cast<size_t>(ref.index)]->dtype();
    }
    plan->outputs.push_back(std::move(info));
    plan->output_value_ids.push_back(id);
  }

  // Slot planning: a computed value occupies a slot from the step producing
  // it to its last use; slots are then recycled (greedy interval colouring).
  const int kForever = INT_MAX;
  std::vector<int> last_use(plan->values.size(), -1);
  for (size_t s = 0; s < plan->steps.size(); ++s)
    for (int id : plan->steps[s].input_ids)
      if (id >= 0) last_use[static_cast<size_t>(id)] = static_cast<int>(s);
  for (int id : plan->output_value_ids) last_use[static_cast<size_t>(id)] = kForever;
  std::vector<int> free_slots;
  size_t offset = 0;
  for (size_t s = 0; s < plan->steps.size(); ++s) {
    Step& step = plan->steps[s];
    for (int id : step.output_ids) {
      int slot;
      if (free_slots.empty()) {
        slot = plan->num_slots++;
      } else {
        slot = free_slots.back();
        free_slots.pop_back();
      }
      plan->values[static_cast<size_t>(id)].index = slot;
      step.output_slots.push_back(slot);
    }
    step.output_offset = offset;
    offset += step.output_ids.size();
    std::unordered_set<int> released;
    for (int id : step.input_ids) {
      if (id < 0 || plan->values[static_cast<size_t>(id)].kind != ValueRef::Kind::kComputed) continue;
      if (last_use[static_cast<size_t>(id)] == static_cast<int>(s) && released.insert(id).second)
        free_slots.push_back(plan->values[static_cast<size_t>(id)].index);
    }
    for (int id : step.output_ids) {
      if (last_use[static_cast<size_t>(id)] == -1 && released.insert(id).second)
        free_slots.push_back(plan->values[static_cast<size_t>(id)].index);
    }
  }
  return plan;
}

void Plan::InitContext(RunContext& ctx) const {
  ctx.plan_ = this;
  ctx.slots_.resize(static_cast<size_t>(num_slots));
  ctx.scratch_.resize(steps.size());
  ctx.values_.assign(values.size(), nullptr);
  for (size_t v = 0; v < values.size(); ++v) {
    if (values[v].kind == ValueRef::Kind::kConstant)
      ctx.values_[v] = constants[static_cast<size_t>(values[v].index)].get();
    else if (values[v].kind == ValueRef::Kind::kComputed)
      ctx.values_[v] = &ctx.slots_[static_cast<size_t>(values[v].index)];
  }
  ctx.step_outputs_.clear();
  for (const Step& step : steps)
    for (int slot : step.output_slots) ctx.step_outputs_.push_back(&ctx.slots_[static_cast<size_t>(slot)]);
}

namespace {
Status CheckInput(const TensorInfo& info, const Tensor& t) {
  if (info.dtype != DataType::kUndefined && t.dtype() != info.dtype) {
    return InvalidArgumentError("input '" + info.name + "': expected datatype " +
                                std::string(DataTypeName(info.dtype)) + ", got " +
                                std::string(DataTypeName(t.dtype())));
  }
  if (!info.has_shape) return OkStatus();
  bool ok = t.rank() == static_cast<int>(info.dims.size());
  for (int i = 0; ok && i < t.rank(); ++i) {
    const int64_t want = info.dims[static_cast<size_t>(i)];
    if (want >= 0 && want != t.shape()[i]) ok = false;
  }
  if (!ok) {
    return InvalidArgumentError("input '" + info.name + "': expected shape " + info.ShapeString() +
                                ", got " + t.shape().ToString());
  }
  return OkStatus();
}
}  // namespace

Status Plan::Run(RunContext& ctx, std::span<const Tensor* const> in) const {
  if (in.size() != inputs.size()) {
    return InvalidArgumentError("the model takes " + std::to_string(inputs.size()) + " inputs, got " +
                                std::to_string(in.size()));
  }
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == nullptr) return InvalidArgumentError("input '" + inputs[i].name + "' is missing");
    RETURN_IF_ERROR(CheckInput(inputs[i], *in[i]));
    ctx.values_[static_cast<size_t>(input_value_ids[i])] = in[i];
  }
  for (size_t s = 0; s < steps.size(); ++s) {
    const Step& step = steps[s];
    KernelContext kc(step.input_ids.data(), static_cast<int>(step.input_ids.size()),
                     ctx.values_.data(), ctx.step_outputs_.data() + step.output_offset,
                     static_cast<int>(step.output_slots.size()), &ctx.scratch_[s]);
    Status st = step.kernel->Compute(kc);
    if (!st.ok()) return st.WithPrefix(step.label);
  }
  return OkStatus();
}

}  // namespace rtml::engine::internal
