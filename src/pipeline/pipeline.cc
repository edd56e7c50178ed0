// Pipeline: parsing and validation of the document, topological ordering,
// type checking through the op builders, and the two execution modes (row
// contexts and chunked columnar runs) plus Fit and FeatureMatrix, which drive
// the same kernels over a Table.
#include "pipeline/pipeline.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <queue>
#include <unordered_map>

#include "pipeline/internal/plan.h"

namespace rtml::pipeline {

using internal::Json;
using internal::Plan;

namespace internal {
namespace {

constexpr size_t kMaxIdBytes = 256;

Status Invalid(std::string message) { return InvalidArgumentError(std::move(message)); }

// Nesting depth outside strings; the parser itself is not depth-limited.
Status CheckDepth(std::string_view s) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) {
        return Invalid("pipeline JSON nests deeper than " + std::to_string(kMaxJsonDepth) +
                       " levels");
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return OkStatus();
}

StatusOr<Json> ParseDocument(std::string_view text) {
  if (text.size() > kMaxPipelineBytes) {
    return TooLargeError("pipeline JSON is " + std::to_string(text.size()) + " bytes, more than " +
                         std::to_string(kMaxPipelineBytes));
  }
  RETURN_IF_ERROR(CheckDepth(text));
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {  // parse_error, or out_of_range for 1e309
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> from "parse error".
    const size_t at = what.find("parse error");
    return Invalid("pipeline is not valid JSON: " + (at == std::string::npos ? what : what.substr(at)));
  }
}

// Fails with "<where>: unknown field(s) ..." when obj has keys outside `allowed`.
Status CheckKeys(const Json& obj, std::initializer_list<std::string_view> allowed,
                 const std::string& where) {
  std::string unknown;
  for (const auto& [k, v] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      unknown += (unknown.empty() ? "'" : ", '") + k + "'";
    }
  }
  if (unknown.empty()) return OkStatus();
  std::string list;
  for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  return Invalid(where + ": unknown field " + unknown + " (allowed: " + list + ")");
}

StatusOr<ValueType> InputType(std::string_view t) {
  if (t == "number" || t == "integer") return ValueType{ValueKind::kNumber, 1};
  if (t == "string") return ValueType{ValueKind::kString, 1};
  if (t == "bool") return ValueType{ValueKind::kBool, 1};
  if (t == "timestamp") return ValueType{ValueKind::kTimestamp, 1};
  return Invalid("");
}

// Looks up models that a previous compile resolved (Fit recompiles).
class ResolvedModels final : public ModelResolver {
 public:
  explicit ResolvedModels(const Plan& plan) : plan_(plan) {}
  StatusOr<std::shared_ptr<const engine::Model>> Resolve(std::string_view name,
                                                         int64_t version) const override {
    for (size_t i = 0; i < plan_.model_refs.size(); ++i) {
      if (plan_.model_refs[i].name == name && plan_.model_refs[i].version == version &&
          plan_.models[i] != nullptr) {
        return plan_.models[i];
      }
    }
    return NotFoundError("model not found");
  }

 private:
  const Plan& plan_;
};

}  // namespace

int Plan::SlotOf(std::string_view id) const {
  auto it = slot_of.find(id);
  return it == slot_of.end() ? -1 : static_cast<int>(it->second);
}

std::vector<int> Plan::Ancestors(std::span<const int> slots) const {
  std::vector<char> mark(nodes.size(), 0);
  std::vector<int> stack;
  for (int s : slots) {
    if (NodeOfSlot(s) >= 0) stack.push_back(NodeOfSlot(s));
  }
  while (!stack.empty()) {
    const int n = stack.back();
    stack.pop_back();
    if (mark[static_cast<size_t>(n)]) continue;
    mark[static_cast<size_t>(n)] = 1;
    for (int p : nodes[static_cast<size_t>(n)].producers) stack.push_back(p);
  }
  std::vector<int> out;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (mark[i]) out.push_back(static_cast<int>(i));
  }
  return out;
}

namespace {

StatusOr<std::unique_ptr<Plan>> BuildFromDocument(const Json& doc, const ModelResolver& models,
                                                  const CompileOptions& options) {
  if (!doc.is_object()) return Invalid("pipeline must be a JSON object");
  RETURN_IF_ERROR(CheckKeys(doc, {"inputs", "nodes", "outputs"}, "pipeline"));
  auto plan = std::make_unique<Plan>();
  plan->options = options;
  Json canonical = Json::object();

  // ---- inputs
  auto inputs_it = doc.find("inputs");
  if (inputs_it == doc.end() || !inputs_it->is_array()) {
    return Invalid("pipeline: 'inputs' must be an array of {\"name\", \"type\"}");
  }
  if (inputs_it->size() > kMaxInputs) {
    return Invalid("pipeline has more than " + std::to_string(kMaxInputs) + " inputs");
  }
  Json canonical_inputs = Json::array();
  for (size_t i = 0; i < inputs_it->size(); ++i) {
    const Json& in = (*inputs_it)[i];
    const std::string where = "inputs[" + std::to_string(i) + "]";
    if (!in.is_object()) return Invalid(where + " must be an object {\"name\", \"type\"}");
    RETURN_IF_ERROR(CheckKeys(in, {"name", "type"}, where));
    auto name = in.find("name");
    auto type = in.find("type");
    if (name == in.end() || !name->is_string() || name->get<std::string>().empty() ||
        name->get<std::string>().size() > kMaxIdBytes) {
      return Invalid(where + ": 'name' must be a non-empty string of at most " +
                     std::to_string(kMaxIdBytes) + " bytes");
    }
    const std::string n = name->get<std::string>();
    if (type == in.end() || !type->is_string()) {
      return Invalid("input '" + n + "': 'type' must be a string");
    }
    const std::string t = type->get<std::string>();
    auto vt = InputType(t);
    if (!vt.ok()) {
      return Invalid("input '" + n + "': unknown type '" + t +
                     "' (types: number, integer, string, bool, timestamp)");
    }
    if (plan->slot_of.count(n) != 0) return Invalid("input '" + n + "' is declared twice");
    plan->slot_of.emplace(n, plan->inputs.size());
    plan->inputs.push_back({n, t, *vt});
    plan->slot_types.push_back(*vt);
    canonical_inputs.push_back(Json{{"name", n}, {"type", t}});
  }
  canonical["inputs"] = std::move(canonical_inputs);

  // ---- nodes (document order)
  auto nodes_it = doc.find("nodes");
  if (nodes_it == doc.end() || !nodes_it->is_array()) {
    return Invalid("pipeline: 'nodes' must be an array");
  }
  if (nodes_it->size() > kMaxNodes) {
    return Invalid("pipeline has more than " + std::to_string(kMaxNodes) + " nodes");
  }
  std::vector<NodeSpec> specs;
  std::unordered_map<std::string, size_t, StringHash, std::equal_to<>> node_index;
  Json canonical_nodes = Json::array();
  for (size_t i = 0; i < nodes_it->size(); ++i) {
    const Json& n = (*nodes_it)[i];
    std::string where = "nodes[" + std::to_string(i) + "]";
    if (!n.is_object()) return Invalid(where + " must be an object {\"id\", \"op\", ...}");
    auto id = n.find("id");
    if (id == n.end() || !id->is_string() || id->get<std::string>().empty() ||
        id->get<std::string>().size() > kMaxIdBytes) {
      return Invalid(where + ": 'id' must be a non-empty string of at most " +
                     std::to_string(kMaxIdBytes) + " bytes");
    }
    NodeSpec spec;
    spec.id = id->get<std::string>();
    where = "node '" + spec.id + "'";
    RETURN_IF_ERROR(CheckKeys(n, {"id", "op", "inputs", "params"}, where));
    auto op = n.find("op");
    if (op == n.end() || !op->is_string()) return Invalid(where + ": 'op' must be a string");
    spec.op = op->get<std::string>();
    if (auto ins = n.find("inputs"); ins != n.end()) {
      if (!ins->is_array()) return Invalid(where + " (" + spec.op + "): 'inputs' must be an array of ids");
      for (const Json& ref : *ins) {
        if (!ref.is_string()) return Invalid(where + " (" + spec.op + "): 'inputs' must be an array of ids");
        spec.inputs.push_back(ref.get<std::string>());
      }
    }
    if (auto params = n.find("params"); params != n.end()) {
      if (!params->is_object()) return Invalid(where + " (" + spec.op + "): 'params' must be an object");
      spec.params = *params;
    }
    if (plan->slot_of.count(spec.id) != 0) {
      return Invalid(where + ": duplicate id (a pipeline input has the same name)");
    }
    if (node_index.count(spec.id) != 0) return Invalid(where + ": duplicate id");
    if (FindBuilder(spec.op) == nullptr) {
      std::string ops;
      for (const auto& o : OpNames()) ops += (ops.empty() ? "" : ", ") + o;
      return Invalid(where + ": unknown op '" + spec.op + "' (ops: " + ops + ")");
    }
    node_index.emplace(spec.id, specs.size());
    Json c = Json{{"id", spec.id}, {"op", spec.op}};
    if (!spec.inputs.empty()) c["inputs"] = spec.inputs;
    if (!spec.params.empty()) c["params"] = spec.params;
    canonical_nodes.push_back(std::move(c));
    specs.push_back(std::move(spec));
  }
  canonical["nodes"] = std::move(canonical_nodes);

  // ---- references and topological order (Kahn; ties in document order)
  const size_t num_nodes = specs.size();
  std::vector<std::vector<size_t>> consumers(num_nodes);
  std::vector<size_t> pending(num_nodes, 0);
  for (size_t i = 0; i < num_nodes; ++i) {
    for (const std::string& ref : specs[i].inputs) {
      if (plan->slot_of.count(ref) != 0) continue;
      auto it = node_index.find(ref);
      if (it == node_index.end()) {
        return Invalid("node '" + specs[i].id + "' (" + specs[i].op + "): input '" + ref +
                       "' is not a pipeline input or node");
      }
      consumers[it->second].push_back(i);
      ++pending[i];
    }
  }
  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t i = 0; i < num_nodes; ++i) {
    if (pending[i] == 0) ready.push(i);
  }
  std::vector<size_t> order;
  while (!ready.empty()) {
    const size_t i = ready.top();
    ready.pop();
    order.push_back(i);
    for (size_t c : consumers[i]) {
      if (--pending[c] == 0) ready.push(c);
    }
  }
  if (order.size() != num_nodes) {
    // Walk from the first node left back through producers that are left too.
    size_t start = 0;
    while (pending[start] == 0) ++start;
    std::vector<size_t> path;
    std::vector<size_t> seen_at(num_nodes, SIZE_MAX);
    size_t v = start;
    while (seen_at[v] == SIZE_MAX) {
      seen_at[v] = path.size();
      path.push_back(v);
      for (const std::string& ref : specs[v].inputs) {
        auto it = node_index.find(ref);
        if (it != node_index.end() && pending[it->second] != 0) {
          v = it->second;
          break;
        }
      }
    }
    std::vector<size_t> cycle(path.begin() + static_cast<std::ptrdiff_t>(seen_at[v]), path.end());
    // Data-flow order (producer -> consumer), starting where the walk closed the cycle.
    std::reverse(cycle.begin(), cycle.end());
    std::rotate(cycle.rbegin(), cycle.rbegin() + 1, cycle.rend());
    std::string text;
    for (size_t c : cycle) text += specs[c].id + " -> ";
    text += specs[cycle.front()].id;
    const NodeSpec& first = specs[cycle.front()];
    return Invalid("node '" + first.id + "' (" + first.op + "): the pipeline has a cycle: " + text);
  }

  // ---- type-check and build each node in order
  std::vector<int> topo_of(num_nodes);
  for (size_t k = 0; k < order.size(); ++k) topo_of[order[k]] = static_cast<int>(k);
  std::string unfitted, unresolved;
  for (size_t k = 0; k < order.size(); ++k) {
    const NodeSpec& spec = specs[order[k]];
    const int slot = static_cast<int>(plan->inputs.size() + k);
    BuildContext ctx{spec, {}, slot, options.defer_models ? nullptr : &models};
    Node node;
    for (const std::string& ref : spec.inputs) {
      InputRef r;
      r.name = ref;
      if (auto it = node_index.find(ref); it != node_index.end()) {
        const int producer = topo_of[it->second];
        r.slot = static_cast<int>(plan->inputs.size()) + producer;
        r.producer = &specs[it->second];
        node.producers.push_back(producer);
      } else {
        r.slot = static_cast<int>(plan->slot_of.find(ref)->second);
      }
      r.type = plan->slot_types[static_cast<size_t>(r.slot)];
      ctx.inputs.push_back(std::move(r));
    }
    ASSIGN_OR_RETURN(Built built, FindBuilder(spec.op)(ctx));
    node.spec = spec;
    node.doc_index = order[k];
    node.type = built.type;
    node.slot = slot;
    node.op = std::move(built.op);
    node.needs_fit = node.op->NewFitter() != nullptr;
    node.runnable = node.op->runnable();
    if (node.needs_fit) unfitted += (unfitted.empty() ? "" : ", ") + spec.id;
    for (size_t m = 0; m < built.models.size(); ++m) {
      const ModelRef& ref = built.models[m];
      if (std::find(plan->model_refs.begin(), plan->model_refs.end(), ref) == plan->model_refs.end()) {
        plan->model_refs.push_back(ref);
        plan->models.push_back(m < built.resolved.size() ? built.resolved[m] : nullptr);
      }
    }
    if (spec.op == "onnx" && built.resolved.empty()) {
      unresolved += (unresolved.empty() ? "" : ", ") + spec.id;
    }
    plan->slot_of.emplace(spec.id, static_cast<size_t>(slot));
    plan->slot_types.push_back(node.type);
    plan->nodes.push_back(std::move(node));
  }

  // ---- outputs
  auto outputs_it = doc.find("outputs");
  if (outputs_it == doc.end() || !outputs_it->is_object() || outputs_it->empty()) {
    return Invalid("pipeline: 'outputs' must be a non-empty object {\"<name>\": \"<node id>\"}");
  }
  std::vector<int> output_slots;
  for (const auto& [name, source] : outputs_it->items()) {
    if (name.empty()) return Invalid("pipeline: an output name is empty");
    if (!source.is_string()) return Invalid("output '" + name + "': must name a node or input");
    const int slot = plan->SlotOf(source.get<std::string>());
    if (slot < 0) {
      return Invalid("output '" + name + "': '" + source.get<std::string>() +
                     "' is not a node or input");
    }
    plan->output_names.push_back(name);
    plan->output_sources.push_back(source.get<std::string>());
    plan->output_slots.push_back(slot);
  }
  canonical["outputs"] = *outputs_it;

  plan->live = plan->Ancestors(plan->output_slots);
  plan->needs_fit = !unfitted.empty();
  if (plan->needs_fit) {
    plan->not_runnable = "the pipeline has unfitted nodes (" + unfitted + "): fit it first";
  } else if (!unresolved.empty()) {
    plan->not_runnable = "onnx node(s) " + unresolved + " have no resolved model (models deferred)";
  } else {
    for (int n : plan->live) {
      const Node& node = plan->nodes[static_cast<size_t>(n)];
      if (!node.runnable) {
        plan->not_runnable = "node '" + node.spec.id + "' (" + node.spec.op + ") cannot run";
        break;
      }
    }
  }
  plan->runnable = plan->not_runnable.empty();
  plan->json = canonical.dump();
  plan->doc = std::move(canonical);
  return plan;
}

}  // namespace

StatusOr<std::unique_ptr<Plan>> BuildPlan(std::string_view json, const ModelResolver& models,
                                          const CompileOptions& options) {
  try {
    ASSIGN_OR_RETURN(Json doc, ParseDocument(json));
    return BuildFromDocument(doc, models, options);
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("out of memory compiling the pipeline");
  } catch (const std::exception& e) {
    return Invalid(std::string("pipeline: ") + e.what());
  }
}

std::unique_ptr<ExecState> NewExecState(const Plan& plan, int64_t capacity) {
  auto s = std::make_unique<ExecState>();
  s->frame.capacity = capacity;
  s->frame.slots.resize(plan.slot_types.size());
  const size_t rows = static_cast<size_t>(capacity);
  for (size_t i = 0; i < plan.slot_types.size(); ++i) {
    Slot& slot = s->frame.slots[i];
    slot.type = plan.slot_types[i];
    if (slot.type.kind == ValueKind::kString) {
      slot.str.assign(rows, std::string_view());
      slot.text.resize(rows);
    } else if (slot.type.width != kUnknownWidth) {
      slot.num.assign(rows * static_cast<size_t>(slot.type.width),
                      std::numeric_limits<double>::quiet_NaN());
    }
  }
  s->states.resize(plan.nodes.size());
  for (size_t i = 0; i < plan.nodes.size(); ++i) {
    if (plan.nodes[i].runnable) s->states[i] = plan.nodes[i].op->NewState(capacity);
  }
  return s;
}

namespace {

// Rows per columnar chunk: at most kMaxChunkRows, and about kChunkDoubles values in all.
int64_t ChunkRows(const Plan& plan, int64_t rows) {
  int64_t per_row = 0;
  for (const ValueType& t : plan.slot_types) {
    per_row += t.kind == ValueKind::kString ? 6 : std::max<int64_t>(t.width, 0);
  }
  const int64_t chunk = std::clamp<int64_t>(kChunkDoubles / std::max<int64_t>(per_row, 1), 1,
                                            kMaxChunkRows);
  return std::max<int64_t>(std::min(chunk, rows), 1);
}

std::string RowPrefix(int64_t row) { return "row " + std::to_string(row); }

using Sink = std::function<Status(const Frame& frame, int64_t offset, int64_t n)>;

// Evaluates `steps` over `data` chunk by chunk, calling `sink` after each.
Status RunChunked(const Plan& plan, const Table& data, int64_t now_ms,
                  const ProfileSource* profiles, const Column* identities,
                  std::span<const int> steps, const Sink& sink) {
  const int64_t rows = data.rows();
  std::vector<const Column*> columns;
  for (const Pipeline::Field& f : plan.inputs) {
    const Column* c = data.Find(f.name);
    if (c == nullptr) return Invalid("input '" + f.name + "': the data has no column '" + f.name + "'");
    if (c->type == ColumnType::kVector) {
      return Invalid("input '" + f.name + "': column '" + f.name + "' holds vectors, expected " +
                     TypeName(f.value_type));
    }
    if (c->rows() != rows) {
      return Invalid("input '" + f.name + "': column has " + std::to_string(c->rows()) +
                     " rows, the table " + std::to_string(rows));
    }
    columns.push_back(c);
  }
  if (identities != nullptr &&
      (identities->type != ColumnType::kString || identities->rows() != rows)) {
    return Invalid("the identities column must hold " + std::to_string(rows) + " strings");
  }
  const int64_t chunk = ChunkRows(plan, rows);
  auto state = NewExecState(plan, chunk);
  Frame& frame = state->frame;
  std::vector<std::string_view> ids(static_cast<size_t>(chunk));
  EvalEnv env{now_ms, profiles, identities != nullptr ? ids.data() : nullptr};
  for (int64_t offset = 0; offset < rows; offset += chunk) {
    const int64_t n = std::min(chunk, rows - offset);
    for (size_t i = 0; i < columns.size(); ++i) {
      const Column& c = *columns[i];
      Slot& slot = frame.slots[i];
      for (int64_t r = 0; r < n; ++r) {
        const size_t idx = static_cast<size_t>(offset + r);
        if (c.type == ColumnType::kNumber) {
          StoreNumber(slot, r, c.numbers[idx]);
        } else if (!c.present.empty() && !c.present[idx]) {
          StoreMissing(slot, r);
        } else if (slot.type.kind == ValueKind::kString) {
          slot.str[static_cast<size_t>(r)] = c.strings[idx];  // a view: same bytes as a copy
        } else {
          Status st = StoreString(slot, r, c.strings[idx], plan.inputs[i].name);
          if (!st.ok()) return st.WithPrefix(RowPrefix(offset + r));
        }
      }
    }
    if (identities != nullptr) {
      for (int64_t r = 0; r < n; ++r) {
        const size_t idx = static_cast<size_t>(offset + r);
        const bool present = identities->present.empty() || identities->present[idx];
        ids[static_cast<size_t>(r)] =
            present ? std::string_view(identities->strings[idx]) : std::string_view();
      }
    }
    for (int step : steps) {
      const Node& node = plan.nodes[static_cast<size_t>(step)];
      RETURN_IF_ERROR(node.op->Eval(frame, state->states[static_cast<size_t>(step)].get(), n, env));
    }
    RETURN_IF_ERROR(sink(frame, offset, n));
  }
  return OkStatus();
}

// The first node of `steps` that cannot run, as an error; OK when all can.
Status CheckRunnable(const Plan& plan, std::span<const int> steps, std::string_view what) {
  for (int step : steps) {
    const Node& node = plan.nodes[static_cast<size_t>(step)];
    if (node.runnable) continue;
    return Invalid(std::string(what) + " needs node '" + node.spec.id + "' (" + node.spec.op +
                   "), which " +
                   (node.needs_fit ? "is not fitted yet"
                                   : node.spec.op == "onnx" ? "has no resolved model"
                                                            : "depends on unfitted nodes"));
  }
  return OkStatus();
}

}  // namespace
}  // namespace internal

// ------------------------------------------------------------------ Pipeline

Pipeline::Pipeline(PassKey, std::unique_ptr<internal::Plan> plan) : plan_(std::move(plan)) {}
Pipeline::~Pipeline() = default;

StatusOr<std::shared_ptr<const Pipeline>> Pipeline::Compile(std::string_view json,
                                                            const ModelResolver& models,
                                                            const CompileOptions& options) {
  ASSIGN_OR_RETURN(auto plan, internal::BuildPlan(json, models, options));
  return std::shared_ptr<const Pipeline>(std::make_shared<Pipeline>(PassKey(), std::move(plan)));
}

const std::vector<Pipeline::Field>& Pipeline::inputs() const { return plan_->inputs; }

StatusOr<int> Pipeline::InputIndex(std::string_view name) const {
  for (size_t i = 0; i < plan_->inputs.size(); ++i) {
    if (plan_->inputs[i].name == name) return static_cast<int>(i);
  }
  return NotFoundError("the pipeline has no input '" + std::string(name) + "'");
}

const std::vector<std::string>& Pipeline::output_names() const { return plan_->output_names; }

StatusOr<int> Pipeline::OutputIndex(std::string_view name) const {
  for (size_t i = 0; i < plan_->output_names.size(); ++i) {
    if (plan_->output_names[i] == name) return static_cast<int>(i);
  }
  return NotFoundError("the pipeline has no output '" + std::string(name) + "'");
}

ValueType Pipeline::output_type(int output) const {
  return plan_->slot_types[static_cast<size_t>(plan_->output_slots[static_cast<size_t>(output)])];
}

const std::vector<ModelRef>& Pipeline::model_refs() const { return plan_->model_refs; }
bool Pipeline::needs_fit() const { return plan_->needs_fit; }
bool Pipeline::runnable() const { return plan_->runnable; }
const std::string& Pipeline::json() const { return plan_->json; }

std::unique_ptr<Pipeline::RowContext> Pipeline::NewRowContext() const {
  return std::unique_ptr<RowContext>(new RowContext(shared_from_this()));
}

StatusOr<Table> Pipeline::RunColumns(const Table& data, int64_t now_ms,
                                     const ProfileSource* profiles,
                                     const Column* identities) const {
  const Plan& plan = *plan_;
  if (!plan.runnable) return InvalidArgumentError(plan.not_runnable);
  const int64_t rows = data.rows();
  std::vector<Column> columns(plan.output_names.size());
  for (size_t o = 0; o < columns.size(); ++o) {
    Column& c = columns[o];
    c.name = plan.output_names[o];
    const ValueType t = plan.slot_types[static_cast<size_t>(plan.output_slots[o])];
    if (t.kind == ValueKind::kString) {
      c.type = ColumnType::kString;
      c.strings.reserve(static_cast<size_t>(rows));
      c.present.reserve(static_cast<size_t>(rows));
    } else {
      c.type = t.kind == ValueKind::kVector ? ColumnType::kVector : ColumnType::kNumber;
      c.width = t.width;
      c.numbers.reserve(static_cast<size_t>(rows * t.width));
    }
  }
  auto sink = [&](const internal::Frame& frame, int64_t, int64_t n) -> Status {
    for (size_t o = 0; o < columns.size(); ++o) {
      const internal::Slot& slot = frame.slots[static_cast<size_t>(plan.output_slots[o])];
      Column& c = columns[o];
      if (c.type == ColumnType::kString) {
        for (size_t r = 0; r < static_cast<size_t>(n); ++r) {
          const bool missing = internal::IsMissing(slot.str[r]);
          c.strings.emplace_back(missing ? std::string_view("") : slot.str[r]);
          c.present.push_back(missing ? 0 : 1);
        }
      } else {
        c.numbers.insert(c.numbers.end(), slot.num.begin(),
                         slot.num.begin() + static_cast<std::ptrdiff_t>(n * slot.type.width));
      }
    }
    return OkStatus();
  };
  RETURN_IF_ERROR(
      internal::RunChunked(plan, data, now_ms, profiles, identities, plan.live, sink));
  Table out;
  out.set_rows_hint(rows);
  for (Column& c : columns) RETURN_IF_ERROR(out.Add(std::move(c)));
  return out;
}

StatusOr<std::vector<double>> Pipeline::FeatureMatrix(const Table& data, int64_t now_ms,
                                                      std::string_view node_id, int64_t* width,
                                                      const ProfileSource* profiles,
                                                      const Column* identities) const {
  const Plan& plan = *plan_;
  std::string id(node_id);
  if (id.empty()) {
    const internal::Node* onnx = nullptr;
    int count = 0;
    for (const auto& node : plan.nodes) {
      if (node.spec.op == "onnx") {
        onnx = &node;
        ++count;
      }
    }
    if (count == 1) {
      id = onnx->spec.inputs.at(0);
    } else if (auto o = OutputIndex("features"); o.ok()) {
      id = plan.output_sources[static_cast<size_t>(*o)];
    } else {
      return InvalidArgumentError(
          "name the feature node: the pipeline has " + std::to_string(count) +
          " onnx nodes and no output named 'features'");
    }
  }
  const int slot = plan.SlotOf(id);
  if (slot < 0) return InvalidArgumentError("the pipeline has no node or input '" + id + "'");
  const ValueType t = plan.slot_types[static_cast<size_t>(slot)];
  if (!(internal::IsNumeric(t) || t.kind == ValueKind::kVector)) {
    return InvalidArgumentError("node '" + id + "' is " + TypeName(t) +
                                "; features must be numbers or vectors");
  }
  if (t.width == kUnknownWidth) {
    return InvalidArgumentError("node '" + id + "' is " + TypeName(t) + ": fit the pipeline first");
  }
  const int slots[] = {slot};
  const std::vector<int> steps = plan.Ancestors(slots);
  RETURN_IF_ERROR(internal::CheckRunnable(plan, steps, "the features of '" + id + "'"));
  const int64_t rows = data.rows();
  if (t.width > 0 && rows > (int64_t{1} << 31) / t.width) {
    return TooLargeError("the feature matrix would hold more than 2^31 values");
  }
  std::vector<double> out;
  out.reserve(static_cast<size_t>(rows * t.width));
  auto sink = [&](const internal::Frame& frame, int64_t, int64_t n) -> Status {
    const internal::Slot& s = frame.slots[static_cast<size_t>(slot)];
    out.insert(out.end(), s.num.begin(), s.num.begin() + static_cast<std::ptrdiff_t>(n * t.width));
    return OkStatus();
  };
  RETURN_IF_ERROR(internal::RunChunked(plan, data, now_ms, profiles, identities, steps, sink));
  if (width != nullptr) *width = t.width;
  return out;
}

StatusOr<std::string> Pipeline::Fit(const Table& data, int64_t now_ms,
                                    const ProfileSource* profiles,
                                    const Column* identities) const {
  internal::ResolvedModels models(*plan_);
  std::unique_ptr<Plan> owned;  // the plan of the current pass, once refitted
  const Plan* plan = plan_.get();
  try {
    // Each pass fits every unfitted node whose ancestors can all run.
    for (size_t pass = 0; pass <= plan_->nodes.size(); ++pass) {
      if (!plan->needs_fit) return plan->json;
      std::vector<int> targets;
      std::string blocked;
      for (size_t i = 0; i < plan->nodes.size(); ++i) {
        const internal::Node& node = plan->nodes[i];
        if (!node.needs_fit) continue;
        std::vector<int> in_slots;
        for (const std::string& ref : node.spec.inputs) in_slots.push_back(plan->SlotOf(ref));
        const std::vector<int> ancestors = plan->Ancestors(in_slots);
        const bool ready = std::all_of(ancestors.begin(), ancestors.end(), [&](int a) {
          return plan->nodes[static_cast<size_t>(a)].runnable;
        });
        if (ready) {
          targets.push_back(static_cast<int>(i));
        } else if (blocked.empty()) {
          blocked = internal::CheckRunnable(*plan, ancestors,
                                            "fitting node '" + node.spec.id + "'").message();
        }
      }
      if (targets.empty()) return InvalidArgumentError(blocked);

      std::vector<std::unique_ptr<internal::Fitter>> fitters;
      std::vector<int> input_slots;
      for (int t : targets) {
        const internal::Node& node = plan->nodes[static_cast<size_t>(t)];
        fitters.push_back(node.op->NewFitter());
        input_slots.push_back(plan->SlotOf(node.spec.inputs.at(0)));
      }
      const std::vector<int> steps = plan->Ancestors(input_slots);
      auto sink = [&](const internal::Frame& frame, int64_t, int64_t n) -> Status {
        for (size_t k = 0; k < fitters.size(); ++k) {
          fitters[k]->Add(frame.slots[static_cast<size_t>(input_slots[k])], n);
        }
        return OkStatus();
      };
      RETURN_IF_ERROR(internal::RunChunked(*plan, data, now_ms, profiles, identities, steps, sink));

      Json doc = plan->doc;
      for (size_t k = 0; k < targets.size(); ++k) {
        const internal::Node& node = plan->nodes[static_cast<size_t>(targets[k])];
        ASSIGN_OR_RETURN(Json fitted, fitters[k]->Finish());
        doc["nodes"][node.doc_index]["params"]["fitted"] = std::move(fitted);
      }
      ASSIGN_OR_RETURN(auto next, internal::BuildPlan(doc.dump(), models, plan_->options));
      owned = std::move(next);
      plan = owned.get();
    }
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("out of memory fitting the pipeline");
  }
  return InternalError("fitting did not converge");
}

// ---------------------------------------------------------------- RowContext

Pipeline::RowContext::RowContext(std::shared_ptr<const Pipeline> pipeline)
    : pipeline_(std::move(pipeline)), state_(internal::NewExecState(*pipeline_->plan_, 1)) {}
Pipeline::RowContext::~RowContext() = default;

void Pipeline::RowContext::SetNumber(int input, double v) {
  if (input < 0 || static_cast<size_t>(input) >= pipeline_->plan_->inputs.size()) return;
  internal::StoreNumber(state_->frame.slots[static_cast<size_t>(input)], 0, v);
}

void Pipeline::RowContext::SetBool(int input, bool v) { SetNumber(input, v ? 1.0 : 0.0); }

Status Pipeline::RowContext::SetString(int input, std::string_view v) {
  const auto& inputs = pipeline_->plan_->inputs;
  if (input < 0 || static_cast<size_t>(input) >= inputs.size()) {
    return InvalidArgumentError("input index " + std::to_string(input) + " out of range");
  }
  const size_t i = static_cast<size_t>(input);
  return internal::StoreString(state_->frame.slots[i], 0, v, inputs[i].name);
}

void Pipeline::RowContext::SetMissing(int input) {
  if (input < 0 || static_cast<size_t>(input) >= pipeline_->plan_->inputs.size()) return;
  internal::StoreMissing(state_->frame.slots[static_cast<size_t>(input)], 0);
}

void Pipeline::RowContext::ClearInputs() {
  for (size_t i = 0; i < pipeline_->plan_->inputs.size(); ++i) {
    internal::StoreMissing(state_->frame.slots[i], 0);
  }
  has_identity_ = false;
}

void Pipeline::RowContext::SetIdentity(std::string_view identity) {
  identity_.assign(identity);
  has_identity_ = !identity.empty();
}

Status Pipeline::RowContext::Run(int64_t now_ms, const ProfileSource* profiles) {
  const Plan& plan = *pipeline_->plan_;
  if (!plan.runnable) return InvalidArgumentError(plan.not_runnable);
  const std::string_view id = has_identity_ ? std::string_view(identity_) : std::string_view();
  const internal::EvalEnv env{now_ms, profiles, &id};
  for (int step : plan.live) {
    const size_t s = static_cast<size_t>(step);
    RETURN_IF_ERROR(plan.nodes[s].op->Eval(state_->frame, state_->states[s].get(), 1, env));
  }
  return OkStatus();
}

int Pipeline::RowContext::num_outputs() const {
  return static_cast<int>(pipeline_->plan_->output_slots.size());
}

ValueType Pipeline::RowContext::output_type(int output) const {
  return pipeline_->output_type(output);
}

bool Pipeline::RowContext::output_is_vector(int output) const {
  return output_type(output).kind == ValueKind::kVector;
}

bool Pipeline::RowContext::output_is_string(int output) const {
  return output_type(output).kind == ValueKind::kString;
}

double Pipeline::RowContext::output_number(int output) const {
  const auto& slot = state_->frame.slots[static_cast<size_t>(
      pipeline_->plan_->output_slots[static_cast<size_t>(output)])];
  return slot.num.empty() ? std::numeric_limits<double>::quiet_NaN() : slot.num[0];
}

std::span<const double> Pipeline::RowContext::output_vector(int output) const {
  const auto& slot = state_->frame.slots[static_cast<size_t>(
      pipeline_->plan_->output_slots[static_cast<size_t>(output)])];
  return {slot.num.data(), slot.num.size()};
}

std::optional<std::string_view> Pipeline::RowContext::output_string(int output) const {
  const auto& slot = state_->frame.slots[static_cast<size_t>(
      pipeline_->plan_->output_slots[static_cast<size_t>(output)])];
  if (slot.str.empty() || internal::IsMissing(slot.str[0])) return std::nullopt;
  return slot.str[0];
}

}  // namespace rtml::pipeline
