// Row-form prediction codec: {"instances": [{"<input>": value, ...}, ...]}
// to one tensor per model input, and outputs back to
// {"predictions": [{"<output>": value, ...}, ...], "revision": r}.
//
// Each instance names the model's inputs; a value is a scalar when the input
// holds one value per row ([N] or [N,1]) and a flat or nested array of the
// row's values otherwise. "identity" (an "NS:ID" string) is accepted and
// reported back for profile joins. RowRequest is reused across requests so
// steady traffic parses without allocating. One thread per RowParser.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/model.h"
#include "engine/tensor.h"
#include "serving/kserve_codec.h"

namespace rtml::serving {

struct RowRequest {
  std::vector<engine::Tensor> tensors;  // [i] feeds model input i
  std::vector<std::string> identities;  // per instance; empty string when absent
  std::string id;
  bool has_id = false;
  int64_t rows = 0;
};

class RowParser {
 public:
  RowParser();
  ~RowParser();
  RowParser(const RowParser&) = delete;
  RowParser& operator=(const RowParser&) = delete;

  Status Parse(std::string* body, const std::vector<engine::TensorInfo>& inputs, int64_t max_rows, RowRequest* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Appends {"predictions":[...],"revision":r,"id"?} to *out.
void WritePredictions(std::span<const OutputRef> outputs, int64_t rows, int64_t revision, const RowRequest* request,
                      std::string* out);

}  // namespace rtml::serving
