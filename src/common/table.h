// Table: columnar data for pipelines and training (a dataset, a SQL result,
// or a batch of requests). Each column holds numbers, strings or fixed-width
// numeric vectors; missing values are NaN (numbers, vectors) or absent
// (strings: `present` false).
// Thread-safety: plain value type.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace rtml {

enum class ColumnType {
  kNumber,  // double; NaN = missing. Timestamps are numbers (ms since the epoch).
  kString,  // UTF-8; `present[i]` false = missing
  kVector,  // `width` doubles per row, row-major in `numbers`
};

struct Column {
  std::string name;
  ColumnType type = ColumnType::kNumber;
  int64_t width = 1;                  // kVector only
  std::vector<double> numbers;        // kNumber: rows; kVector: rows * width
  std::vector<std::string> strings;   // kString
  std::vector<uint8_t> present;       // kString: 1 when the value exists

  int64_t rows() const {
    switch (type) {
      case ColumnType::kNumber: return static_cast<int64_t>(numbers.size());
      case ColumnType::kString: return static_cast<int64_t>(strings.size());
      case ColumnType::kVector: return width > 0 ? static_cast<int64_t>(numbers.size()) / width : 0;
    }
    return 0;
  }
  static Column Numbers(std::string name, std::vector<double> values) {
    Column c;
    c.name = std::move(name);
    c.numbers = std::move(values);
    return c;
  }
  static Column Strings(std::string name, std::vector<std::string> values) {
    Column c;
    c.name = std::move(name);
    c.type = ColumnType::kString;
    c.present.assign(values.size(), 1);
    c.strings = std::move(values);
    return c;
  }
};

class Table {
 public:
  int64_t rows() const { return columns_.empty() ? rows_hint_ : columns_.front().rows(); }
  const std::vector<Column>& columns() const { return columns_; }
  std::vector<Column>& mutable_columns() { return columns_; }
  // Adds a column; InvalidArgument when its row count differs or the name repeats.
  Status Add(Column c) {
    if (Find(c.name) != nullptr) return InvalidArgumentError("column '" + c.name + "' appears twice");
    if (!columns_.empty() && c.rows() != rows()) {
      return InvalidArgumentError("column '" + c.name + "' has " + std::to_string(c.rows()) + " rows, the table " +
                                  std::to_string(rows()));
    }
    columns_.push_back(std::move(c));
    return OkStatus();
  }
  const Column* Find(std::string_view name) const {
    for (const auto& c : columns_)
      if (c.name == name) return &c;
    return nullptr;
  }
  // For a table with no columns yet (row count of constant-only pipelines).
  void set_rows_hint(int64_t n) { rows_hint_ = n; }

 private:
  std::vector<Column> columns_;
  int64_t rows_hint_ = 0;
};

inline constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

}  // namespace rtml
