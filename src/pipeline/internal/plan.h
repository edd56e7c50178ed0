// Internal representation of a compiled pipeline: value slots, the frame that
// holds a chunk of rows for every slot, the node kernel interface (Op), the
// fitting interface (Fitter) and the per-op builders that type-check a node.
// Row mode runs the same kernels as columnar mode over a frame of one row.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "pipeline/pipeline.h"

namespace rtml::pipeline::internal {

using Json = nlohmann::ordered_json;

// Limits on untrusted pipeline documents.
inline constexpr size_t kMaxPipelineBytes = 16 << 20;
inline constexpr int kMaxJsonDepth = 64;
inline constexpr size_t kMaxNodes = 10'000;
inline constexpr size_t kMaxInputs = 10'000;
inline constexpr int64_t kMaxVectorWidth = int64_t{1} << 20;
inline constexpr int64_t kMaxChunkRows = 4096;
// Columnar chunks hold at most about this many doubles across all slots.
inline constexpr int64_t kChunkDoubles = int64_t{1} << 22;

// A missing string is a view with a null data pointer (std::string::data()
// and literals are never null, so a present empty string stays distinct).
inline bool IsMissing(std::string_view s) { return s.data() == nullptr; }

// The values of one slot (a pipeline input or a node output) for the rows of
// the current chunk. Numeric kinds use `num` (rows * width, row-major);
// strings use `str`, whose views point into `text` (owned per row), into the
// caller's Table, or into constants of the compiled plan.
struct Slot {
  ValueType type;
  std::vector<double> num;
  std::vector<std::string_view> str;
  std::vector<std::string> text;
};

struct Frame {
  int64_t capacity = 0;  // rows per chunk
  std::vector<Slot> slots;
};

struct EvalEnv {
  int64_t now_ms = 0;
  const ProfileSource* profiles = nullptr;
  const std::string_view* identities = nullptr;  // one per row, or null (all missing)
};

// Per-context mutable state of one op (engine RunContext, scratch).
class OpState {
 public:
  virtual ~OpState() = default;
};

// Accumulates a fitted node's input over the chunks of a Fit pass.
class Fitter {
 public:
  virtual ~Fitter() = default;
  virtual void Add(const Slot& input, int64_t rows) = 0;
  // The node's params.fitted object; errors are prefixed with the node later.
  virtual StatusOr<Json> Finish() = 0;
};

// A node kernel. Immutable and shared by all contexts.
class Op {
 public:
  Op(std::vector<int> in, int out) : in_(std::move(in)), out_(out) {}
  virtual ~Op() = default;
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;

  // Computes rows [0, n) of the output slot from the input slots.
  virtual Status Eval(Frame& frame, OpState* state, int64_t n, const EvalEnv& env) const = 0;
  virtual std::unique_ptr<OpState> NewState(int64_t /*capacity*/) const { return nullptr; }
  // Non-null while the node's parameters still have to be learned.
  virtual std::unique_ptr<Fitter> NewFitter() const { return nullptr; }
  // False for nodes that cannot run (unfitted, deferred model).
  virtual bool runnable() const { return true; }

 protected:
  const Slot& in(const Frame& f, size_t i) const { return f.slots[static_cast<size_t>(in_[i])]; }
  Slot& out(Frame& f) const { return f.slots[static_cast<size_t>(out_)]; }

  std::vector<int> in_;
  int out_;
};

struct NodeSpec {
  std::string id;
  std::string op;
  std::vector<std::string> inputs;
  Json params = Json::object();
};

struct InputRef {
  std::string name;
  ValueType type;
  int slot = 0;
  const NodeSpec* producer = nullptr;  // null for a pipeline input
};

// What a builder sees of the node it compiles.
struct BuildContext {
  const NodeSpec& node;
  std::vector<InputRef> inputs;
  int out_slot = 0;
  const ModelResolver* models = nullptr;  // null when models are deferred

  // InvalidArgument "node '<id>' (<op>): <message>".
  Status Error(std::string_view message) const;
  std::vector<int> input_slots() const;
};

struct Built {
  ValueType type;
  std::unique_ptr<Op> op;
  std::vector<ModelRef> models;  // models the node references
  std::vector<std::shared_ptr<const engine::Model>> resolved;
};

using BuildFn = StatusOr<Built> (*)(const BuildContext&);
// The builder of `op`, or null.
BuildFn FindBuilder(std::string_view op);
// Every op name, sorted (for "unknown op" messages).
std::vector<std::string> OpNames();

// Builders, one per op family (ops_*.cc).
StatusOr<Built> BuildFillna(const BuildContext& ctx);
StatusOr<Built> BuildMap(const BuildContext& ctx);
StatusOr<Built> BuildLower(const BuildContext& ctx);
StatusOr<Built> BuildBucketize(const BuildContext& ctx);
StatusOr<Built> BuildTopK(const BuildContext& ctx);
StatusOr<Built> BuildOneHot(const BuildContext& ctx);
StatusOr<Built> BuildHour(const BuildContext& ctx);
StatusOr<Built> BuildDayOfWeek(const BuildContext& ctx);
StatusOr<Built> BuildDaysSince(const BuildContext& ctx);
StatusOr<Built> BuildArithmetic(const BuildContext& ctx);  // add, sub, mul, div
StatusOr<Built> BuildLog1p(const BuildContext& ctx);
StatusOr<Built> BuildStandardize(const BuildContext& ctx);
StatusOr<Built> BuildProfile(const BuildContext& ctx);
StatusOr<Built> BuildConcat(const BuildContext& ctx);
StatusOr<Built> BuildOnnx(const BuildContext& ctx);
StatusOr<Built> BuildSelect(const BuildContext& ctx);
StatusOr<Built> BuildThreshold(const BuildContext& ctx);
StatusOr<Built> BuildArgmax(const BuildContext& ctx);

// ----- helpers shared by the builders (ops_util.cc) -----

bool IsNumeric(ValueType t);  // number, bool, timestamp
// Fails unless params holds only `allowed` keys (names them all otherwise).
Status CheckParams(const BuildContext& ctx, std::initializer_list<std::string_view> allowed);
Status CheckArity(const BuildContext& ctx, size_t min, size_t max);
// "input 'x' is number, expected string".
Status ExpectType(const BuildContext& ctx, size_t input, bool ok, std::string_view expected);
const Json* Param(const BuildContext& ctx, std::string_view key);
StatusOr<double> NumberParam(const BuildContext& ctx, std::string_view key);  // required, finite
StatusOr<int64_t> IntParam(const BuildContext& ctx, std::string_view key, int64_t min,
                           int64_t max);
StatusOr<std::string> StringParam(const BuildContext& ctx, std::string_view key);
// Reads a finite JSON number; false otherwise.
bool ReadFinite(const Json& j, double* out);
// The fitted object of the node, or null when it has not been fitted.
const Json* FittedParam(const BuildContext& ctx);

// Shortest text of a number ("3", "-0.5", "1e+300"); integral values print without a fraction.
void FormatNumber(double v, std::string* out);
// Full-match parse of a decimal number; false for anything else.
bool ParseNumber(std::string_view s, double* out);

// Helpers for the fitted statistics (ops_fit.cc); `values` are finite.
double Mean(const std::vector<double>& values);
double StdDev(const std::vector<double>& values, double mean);  // population (ddof 0)
double Median(std::vector<double> values);
double NumberMode(std::vector<double> values);  // most frequent, ties: smallest
// Boundaries of n equal-frequency buckets: quantiles i/n (i = 1..n-1) with
// linear interpolation (numpy's default), duplicates removed.
std::vector<double> QuantileBoundaries(std::vector<double> values, int64_t n);

// Collects the finite values of a numeric slot.
class NumberCollector final : public Fitter {
 public:
  using Finish_ = std::function<StatusOr<Json>(std::vector<double>)>;
  explicit NumberCollector(Finish_ finish) : finish_(std::move(finish)) {}
  void Add(const Slot& input, int64_t rows) override;
  StatusOr<Json> Finish() override { return finish_(std::move(values_)); }

 private:
  Finish_ finish_;
  std::vector<double> values_;
};

// Counts the present values of a string slot.
class StringCounter final : public Fitter {
 public:
  using Finish_ = std::function<StatusOr<Json>(const std::map<std::string, int64_t, std::less<>>&)>;
  explicit StringCounter(Finish_ finish) : finish_(std::move(finish)) {}
  void Add(const Slot& input, int64_t rows) override;
  StatusOr<Json> Finish() override { return finish_(counts_); }

 private:
  Finish_ finish_;
  std::map<std::string, int64_t, std::less<>> counts_;
};

// A fitter whose result does not depend on the data.
class ConstantFitter final : public Fitter {
 public:
  explicit ConstantFitter(Json fitted) : fitted_(std::move(fitted)) {}
  void Add(const Slot&, int64_t) override {}
  StatusOr<Json> Finish() override { return fitted_; }

 private:
  Json fitted_;
};

// Hash for heterogeneous string_view lookup in unordered containers.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringIndex = std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>>;

// ----- the compiled plan -----

struct Node {
  NodeSpec spec;
  ValueType type;
  std::unique_ptr<Op> op;
  int slot = 0;
  size_t doc_index = 0;        // position in the document's "nodes"
  std::vector<int> producers;  // node indices (topological order) this node reads
  bool needs_fit = false;
  bool runnable = true;
};

struct Plan {
  std::vector<Pipeline::Field> inputs;       // slots [0, inputs.size())
  std::vector<Node> nodes;                   // topological order; node i uses slot inputs.size()+i
  std::vector<ValueType> slot_types;
  std::vector<std::string> output_names;
  std::vector<std::string> output_sources;   // node or input ids, as written
  std::vector<int> output_slots;
  std::vector<int> live;                     // node indices the outputs need, in order
  std::vector<ModelRef> model_refs;
  std::vector<std::shared_ptr<const engine::Model>> models;  // resolved, same order
  CompileOptions options;
  bool needs_fit = false;
  bool runnable = true;
  std::string not_runnable;  // why not, as an error message
  Json doc;                  // canonical document; Fit adds params.fitted to it
  std::string json;          // doc.dump()
  std::unordered_map<std::string, size_t, StringHash, std::equal_to<>> slot_of;  // id -> slot

  int SlotOf(std::string_view id) const;  // -1 when unknown
  int NodeOfSlot(int slot) const { return slot - static_cast<int>(inputs.size()); }
  // Node indices needed to compute `slots`, in topological order.
  std::vector<int> Ancestors(std::span<const int> slots) const;
};

// Parses and compiles a pipeline document.
StatusOr<std::unique_ptr<Plan>> BuildPlan(std::string_view json, const ModelResolver& models,
                                          const CompileOptions& options);

// Per-context execution state: the frame and one OpState per node.
struct ExecState {
  Frame frame;
  std::vector<std::unique_ptr<OpState>> states;  // by node index
};
std::unique_ptr<ExecState> NewExecState(const Plan& plan, int64_t capacity);

// Input conversions shared by row and columnar mode (so both agree).
void StoreNumber(Slot& slot, int64_t row, double v);
void StoreMissing(Slot& slot, int64_t row);
// `name` is the pipeline input, for the error message.
Status StoreString(Slot& slot, int64_t row, std::string_view v, std::string_view name);

}  // namespace rtml::pipeline::internal
