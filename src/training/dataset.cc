#include "training/dataset.h"

#include <unordered_set>

namespace rtml::training {
namespace {

std::string ColumnList(const Table& table) {
  std::string out;
  for (const Column& c : table.columns()) out += (out.empty() ? "" : ", ") + c.name;
  return out.empty() ? "(none)" : out;
}

}  // namespace

StatusOr<TrainingData> TrainingDataFromTable(const Table& table, std::string_view label,
                                             std::span<const std::string> features) {
  const Column* label_column = table.Find(label);
  if (label_column == nullptr) {
    return InvalidArgumentError("label '" + std::string(label) + "' is not a column of the data; columns: " +
                                ColumnList(table));
  }
  if (label_column->type != ColumnType::kNumber) {
    return InvalidArgumentError("label '" + std::string(label) + "' is not numeric (a " +
                                (label_column->type == ColumnType::kString ? "string" : "vector") +
                                " column); map it to numbers first");
  }
  std::vector<const Column*> chosen;
  if (features.empty()) {
    for (const Column& c : table.columns()) {
      if (c.name != label && c.type != ColumnType::kString) chosen.push_back(&c);
    }
  } else {
    std::unordered_set<std::string_view> seen;
    for (const std::string& name : features) {
      if (!seen.insert(name).second) return InvalidArgumentError("feature '" + name + "' is listed twice");
      if (name == label) {
        return InvalidArgumentError("the label '" + name + "' is also listed as a feature (label leakage)");
      }
      const Column* c = table.Find(name);
      if (c == nullptr) {
        return InvalidArgumentError("feature '" + name + "' is not a column of the data; columns: " +
                                    ColumnList(table));
      }
      if (c->type == ColumnType::kString) {
        return InvalidArgumentError("feature '" + name +
                                    "' is a string column; encode it in a pipeline (for example one_hot) first");
      }
      chosen.push_back(c);
    }
  }
  TrainingData data;
  for (const Column* c : chosen) {
    if (c->type == ColumnType::kNumber) {
      data.feature_names.push_back(c->name);
    } else {
      for (int64_t k = 0; k < c->width; ++k) data.feature_names.push_back(c->name + "[" + std::to_string(k) + "]");
    }
  }
  data.width = static_cast<int64_t>(data.feature_names.size());
  if (data.width == 0) return InvalidArgumentError("there are no numeric features to train on");
  const int64_t rows = label_column->rows();
  const auto w = static_cast<size_t>(data.width);
  data.X.resize(static_cast<size_t>(rows) * w);
  size_t offset = 0;
  for (const Column* c : chosen) {
    const auto cw = static_cast<size_t>(c->type == ColumnType::kNumber ? 1 : c->width);
    for (size_t r = 0; r < static_cast<size_t>(rows); ++r) {
      for (size_t k = 0; k < cw; ++k) data.X[r * w + offset + k] = c->numbers[r * cw + k];
    }
    offset += cw;
  }
  data.y = label_column->numbers;
  return data;
}

}  // namespace rtml::training
