// Training data in the form Train takes (row-major X, labels, feature names),
// gathered from a Table: a dataset, a SQL result or a pipeline's output.
// Stateless functions; safe from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/table.h"

namespace rtml::training {

struct TrainingData {
  std::vector<double> X;  // rows x width, row-major; NaN = missing
  int64_t width = 0;
  std::vector<double> y;
  std::vector<std::string> feature_names;  // a vector column "v" of width 3 gives v[0], v[1], v[2]
};

// `label` must be a number column. `features` names number or vector columns;
// empty means every number and vector column except the label. String
// columns must be encoded by a pipeline first.
StatusOr<TrainingData> TrainingDataFromTable(const Table& table, std::string_view label,
                                             std::span<const std::string> features);

}  // namespace rtml::training
