// Pipeline: a declarative feature graph ("node graph", SPEC section 5)
// compiled into an immutable plan that runs row-at-a-time for serving and
// columnar over a Table for training and batch scoring, with the SAME node
// kernels in both modes (row mode is a batch of one), so results agree bit for
// bit. Fitted nodes learn their parameters from a Table; Fit returns the
// pipeline's JSON with those parameters frozen.
//
// Thread-safety: a compiled Pipeline is immutable and every const method may
// run concurrently. A RowContext holds all per-call buffers and is used by one
// thread at a time; it keeps its Pipeline alive.
//
// Pipeline JSON (full reference with every op in src/pipeline/README.md):
//   {"inputs":  [{"name": "price", "type": "number"|"integer"|"string"|"bool"|"timestamp"}, ...],
//    "nodes":   [{"id": "x", "op": "<op>", "inputs": ["<input or node id>", ...],
//                 "params": {...}}, ...],
//    "outputs": {"<output name>": "<node or input id>", ...}}
// Nodes may be listed in any order; the graph must be acyclic. Value types:
// number (double, NaN = missing), bool (0/1, NaN = missing), timestamp (ms
// since the epoch as a double), string (may be missing) and vector[n] (fixed
// width, known once fitted). Unknown keys anywhere are errors.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/table.h"
#include "engine/model.h"

namespace rtml::pipeline {

namespace internal {
struct Plan;
struct ExecState;
}  // namespace internal

enum class ValueKind { kNumber, kBool, kTimestamp, kString, kVector };

// Width of a vector whose size is known only after fitting (one_hot before Fit).
inline constexpr int64_t kUnknownWidth = -1;

struct ValueType {
  ValueKind kind = ValueKind::kNumber;
  int64_t width = 1;  // kVector: values per row (or kUnknownWidth); 1 for the others
  bool operator==(const ValueType&) const = default;
};
// "number", "bool", "timestamp", "string", "vector[9]", "vector[?]".
std::string TypeName(ValueType type);

// Finds stored model versions for onnx nodes. Implementations must be
// thread-safe if one resolver is shared by concurrent compiles.
class ModelResolver {
 public:
  virtual ~ModelResolver() = default;
  // NotFound when (name, version) does not exist.
  virtual StatusOr<std::shared_ptr<const engine::Model>> Resolve(std::string_view name,
                                                                 int64_t version) const = 0;
};

// Computed attributes by identity for profile nodes. Called concurrently from
// serving threads: implementations must be thread-safe and should not allocate.
class ProfileSource {
 public:
  virtual ~ProfileSource() = default;
  // Writes the numeric value of each attribute of the person of `identity` at
  // query time now_ms into out[i] (out.size() == attributes.size()); NaN where
  // the attribute is unknown, empty or not numeric. Returns false (out
  // unspecified) when there is no such person.
  virtual bool Lookup(std::string_view identity, std::span<const std::string> attributes,
                      int64_t now_ms, std::span<double> out) const = 0;
};

struct ModelRef {
  std::string name;
  int64_t version = 0;
  bool operator==(const ModelRef&) const = default;
};

struct CompileOptions {
  // Type-check onnx nodes without resolving their models (a training run whose
  // model does not exist yet). Such a pipeline can Fit and build FeatureMatrix
  // for nodes that do not depend on an onnx node, but cannot Run; an onnx
  // node's output is then typed vector[?].
  bool defer_models = false;
};

class Pipeline : public std::enable_shared_from_this<Pipeline> {
 public:
  class RowContext;
  struct Field {
    std::string name;
    std::string type;  // as declared: "number", "integer", "string", "bool", "timestamp"
    ValueType value_type;
  };

  // Parses, type-checks and compiles. Every error is InvalidArgument with a
  // message naming the node (or input/output) and what is wrong.
  static StatusOr<std::shared_ptr<const Pipeline>> Compile(std::string_view json,
                                                           const ModelResolver& models,
                                                           const CompileOptions& options = {});
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  const std::vector<Field>& inputs() const;  // declaration order
  StatusOr<int> InputIndex(std::string_view name) const;
  const std::vector<std::string>& output_names() const;  // declaration order
  StatusOr<int> OutputIndex(std::string_view name) const;
  ValueType output_type(int output) const;
  // Model versions referenced by onnx nodes (declaration order, no duplicates).
  const std::vector<ModelRef>& model_refs() const;
  // True while any fitted node lacks frozen parameters; such a pipeline can
  // only Fit (and FeatureMatrix for nodes upstream of every unfitted node).
  bool needs_fit() const;
  // False when needs_fit() or models were deferred: Run/RunColumns fail.
  bool runnable() const;
  // Canonical JSON: the input's structure (key order kept, whitespace
  // dropped), with fitted parameters under each fitted node's params.fitted.
  const std::string& json() const;

  // Learns every unfitted node's parameters from `data` (columns named like
  // the inputs; extra columns ignored) and returns the fitted pipeline's JSON,
  // already checked to compile (e.g. a model's feature count against the
  // fitted width). now_ms is the request time days_since "now" uses;
  // identities ("NS:ID", optional) feed profile nodes.
  StatusOr<std::string> Fit(const Table& data, int64_t now_ms,
                            const ProfileSource* profiles = nullptr,
                            const Column* identities = nullptr) const;

  // Columnar run: one column per output, named like the output (numbers,
  // bools and timestamps as kNumber, vectors as kVector, strings as kString).
  StatusOr<Table> RunColumns(const Table& data, int64_t now_ms,
                             const ProfileSource* profiles = nullptr,
                             const Column* identities = nullptr) const;

  // The values of node (or input) `node_id` as a row-major [rows, width]
  // matrix of doubles, evaluating only what that node needs. Empty node_id:
  // the input of the pipeline's only onnx node, else the output named
  // "features".
  StatusOr<std::vector<double>> FeatureMatrix(const Table& data, int64_t now_ms,
                                              std::string_view node_id, int64_t* width,
                                              const ProfileSource* profiles = nullptr,
                                              const Column* identities = nullptr) const;

  // A context for row mode, bound to this pipeline (which it keeps alive).
  std::unique_ptr<RowContext> NewRowContext() const;

  // Implementation detail, public only for std::make_shared.
  struct PassKey {
   private:
    friend class Pipeline;
    PassKey() = default;
  };
  Pipeline(PassKey, std::unique_ptr<internal::Plan> plan);

 private:
  friend class RowContext;
  std::unique_ptr<internal::Plan> plan_;
};

// Row mode. Set every input (or leave it: inputs keep their value until set
// again; ClearInputs makes all missing), optionally the identity, then Run.
// After warm-up (the first calls with the longest strings) nothing allocates,
// provided the ProfileSource does not.
class Pipeline::RowContext {
 public:
  ~RowContext();
  RowContext(const RowContext&) = delete;
  RowContext& operator=(const RowContext&) = delete;

  // Inputs by index (declaration order). Numbers for a string input are
  // written in shortest form ("3", "2.5"); strings for a number input must
  // parse fully as a number, for a bool input be "true"/"false", for a
  // timestamp input be RFC 3339. A bool input stores v != 0 as 1/0.
  void SetNumber(int input, double v);
  void SetBool(int input, bool v);
  Status SetString(int input, std::string_view v);
  Status SetTimestamp(int input, std::string_view rfc3339) { return SetString(input, rfc3339); }
  void SetMissing(int input);
  void ClearInputs();
  // "NS:ID" of the request for profile nodes; empty = none (profile values NaN).
  void SetIdentity(std::string_view identity);

  // now_ms: the request time ("now" for days_since, the profile query time).
  Status Run(int64_t now_ms, const ProfileSource* profiles);

  // Outputs by index (output_names() order), valid until the next Run.
  int num_outputs() const;
  ValueType output_type(int output) const;
  bool output_is_vector(int output) const;
  bool output_is_string(int output) const;
  double output_number(int output) const;                   // numbers, bools, timestamps
  std::span<const double> output_vector(int output) const;  // vectors (a number: one value)
  std::optional<std::string_view> output_string(int output) const;  // nullopt = missing

  const Pipeline& pipeline() const { return *pipeline_; }

 private:
  friend class Pipeline;
  explicit RowContext(std::shared_ptr<const Pipeline> pipeline);
  std::shared_ptr<const Pipeline> pipeline_;
  std::unique_ptr<internal::ExecState> state_;
  std::string identity_;
  bool has_identity_ = false;
};

}  // namespace rtml::pipeline
