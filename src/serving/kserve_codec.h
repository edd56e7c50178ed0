// KServe v2 (Open Inference Protocol) JSON codec: request bodies to engine
// tensors, engine outputs to response bodies.
//
// InferRequest is meant to be reused: its tensors keep their storage between
// requests, so a steady stream of same-shaped requests parses without heap
// allocation. A KServeParser owns a simdjson parser; one thread uses it at a
// time.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/model.h"
#include "engine/tensor.h"

namespace rtml::serving {

struct InferInput {
  std::string name;
  engine::Tensor tensor;
};

struct InferRequest {
  std::string id;  // echoed back when present
  bool has_id = false;
  // parameters.now (RFC 3339): the request time pipeline services use.
  std::string now;
  bool has_now = false;
  // Only the first num_inputs / num_outputs entries are valid; the rest are
  // kept for their storage.
  std::vector<InferInput> inputs;
  size_t num_inputs = 0;
  std::vector<std::string> outputs;  // requested output names
  size_t num_outputs = 0;

  std::span<InferInput> active_inputs() { return {inputs.data(), num_inputs}; }
  std::span<const std::string> requested_outputs() const { return {outputs.data(), num_outputs}; }
};

class KServeParser {
 public:
  KServeParser();
  ~KServeParser();
  KServeParser(const KServeParser&) = delete;
  KServeParser& operator=(const KServeParser&) = delete;

  // Parses a request body. `body` may get extra capacity reserved (simdjson
  // reads a little past the end); its contents are not changed.
  Status Parse(std::string* body, InferRequest* request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct OutputRef {
  std::string_view name;
  const engine::Tensor* tensor;
};

// Appends {"model_name","model_version"?,"id"?,"outputs":[...]} to *out.
// ZipMap outputs (tensor->map_keys() set) are written with datatype
// "SEQUENCE_MAP" and data as a list of {label: probability} objects.
void WriteInferResponse(std::string_view model_name, std::string_view model_version,
                        const InferRequest* request, std::span<const OutputRef> outputs,
                        std::string* out);

// Appends `"inputs":[...],"outputs":[...]` (KServe tensor metadata: name,
// datatype, shape with -1 for dynamic dimensions) to *out, preceded by a
// comma unless *out ends with '{'.
void WriteSignatureMembers(const engine::Model& model, std::string* out);

// Appends one output object {"name","datatype","shape","data"}.
void WriteOutputTensor(std::string_view name, const engine::Tensor& tensor, std::string* out);

}  // namespace rtml::serving
