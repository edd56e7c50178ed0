// Internal to src/serving: filling engine tensors from simdjson on-demand
// values, shared by the KServe v2 and row-form codecs.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <string_view>

#include "common/status.h"
#include "engine/tensor.h"
#include "simdjson.h"

namespace rtml::serving::internal {

namespace od = simdjson::ondemand;
using engine::DataType;
using engine::Shape;
using engine::Tensor;

inline Status JsonError(std::string_view where, simdjson::error_code e) {
  return InvalidArgumentError(std::string(where) + ": malformed JSON (" + simdjson::error_message(e) + ")");
}

// On-demand parsing only validates what it visits. This walks the whole
// document once (structure, balanced brackets, nothing after the root value),
// checks its full grammar, and rewinds it for the real pass. The grammar check
// matters: raw_json() only balances brackets, and find_field_unordered()
// assumes (SIMDJSON_ASSUME, i.e. undefined behaviour) that an object it wraps
// around in is well formed, e.g. not {"a":{"b":"1"x"2"},"c":...}.
// The document must come from a buffer with SIMDJSON_PADDING spare bytes.
inline Status ValidateDocument(od::document& doc, std::string_view where) {
  std::string_view raw;
  if (auto e = doc.raw_json().get(raw)) return JsonError(where, e);
  const char* rest = nullptr;
  if (!doc.current_location().get(rest)) {
    return InvalidArgumentError(std::string(where) + ": malformed JSON (unexpected content after the top-level value)");
  }
  // One DOM parser per thread; it keeps its buffers, so steady traffic does
  // not allocate. raw lies inside the caller's padded buffer.
  thread_local simdjson::dom::parser validator;
  simdjson::dom::element root;
  if (auto e = validator.parse(raw.data(), raw.size(), false).get(root)) {
    if (e == simdjson::NUMBER_ERROR) {
      return InvalidArgumentError(std::string(where) +
                                  ": a number is malformed or outside the range of a double (e.g. 1e400)");
    }
    return JsonError(where, e);
  }
  doc.rewind();
  return OkStatus();
}

// Fills a tensor from a (possibly nested) JSON array, element by element.
class DataFiller {
 public:
  DataFiller(Tensor* t, std::string_view where) : t_(t), where_(where) {}
  // Starts filling at element `first` (row-form requests fill row by row).
  DataFiller(Tensor* t, std::string_view where, int64_t first, int64_t limit)
      : t_(t), where_(where), n_(first), limit_(limit) {}

  Status Fill(od::value v, int depth) {
    // Scalars are accepted directly (row-form values).
    od::json_type type;
    if (auto e = v.type().get(type)) return JsonError(where_, e);
    if (type == od::json_type::array) {
      if (depth > Shape::kMaxRank) {
        return InvalidArgumentError(std::string(where_) + ": data is nested deeper than " +
                                    std::to_string(Shape::kMaxRank) + " levels");
      }
      od::array arr;
      if (auto e = v.get_array().get(arr)) return JsonError(where_, e);
      return FillElements(arr, depth + 1);
    }
    if (n_ >= (limit_ >= 0 ? limit_ : t_->size())) {
      return InvalidArgumentError(std::string(where_) + ": more values than the " +
                                  std::to_string((limit_ >= 0 ? limit_ : t_->size())) + " expected");
    }
    RETURN_IF_ERROR(Scalar(v, type));
    ++n_;
    return OkStatus();
  }

  // Fills from every element of an array (which may be nested further).
  Status FillElements(od::array& arr, int depth) {
    for (auto elem : arr) {
      od::value child;
      if (auto e = elem.get(child)) return JsonError(where_, e);
      RETURN_IF_ERROR(Fill(child, depth));
    }
    return OkStatus();
  }

  int64_t count() const { return n_; }

 private:
  Status TypeError(std::string_view expected) const {
    return InvalidArgumentError(std::string(where_) + ": data[" + std::to_string(n_) + "] must be " +
                                std::string(expected) + " for datatype " +
                                std::string(engine::DataTypeName(t_->dtype())));
  }

  template <typename T>
  Status Integer(od::value v, od::json_type type) {
    if (type != od::json_type::number) return TypeError("an integer");
    if constexpr (std::is_signed_v<T>) {
      int64_t x;
      if (v.get_int64().get(x)) return TypeError("an integer in range");
      if (x < std::numeric_limits<T>::min() || x > std::numeric_limits<T>::max())
        return TypeError("an integer in range");
      t_->mutable_data<T>()[n_] = static_cast<T>(x);
    } else {
      uint64_t x;
      if (v.get_uint64().get(x)) return TypeError("a non-negative integer in range");
      if (x > std::numeric_limits<T>::max()) return TypeError("a non-negative integer in range");
      t_->mutable_data<T>()[n_] = static_cast<T>(x);
    }
    return OkStatus();
  }

  template <typename T>
  Status Floating(od::value v, od::json_type type) {
    double x;
    if (type == od::json_type::number) {
      if (v.get_double().get(x)) return TypeError("a number");
      if constexpr (std::is_same_v<T, float>) {
        if (std::abs(x) > static_cast<double>(std::numeric_limits<float>::max())) {
          return TypeError("a number within FP32 range (|x| <= 3.4028235e38)");
        }
      }
    } else if (type == od::json_type::string) {
      std::string_view s;
      if (v.get_string().get(s)) return TypeError("a number");
      if (s == "NaN") x = std::numeric_limits<double>::quiet_NaN();
      else if (s == "Infinity") x = std::numeric_limits<double>::infinity();
      else if (s == "-Infinity") x = -std::numeric_limits<double>::infinity();
      else return TypeError("a number (or \"NaN\", \"Infinity\", \"-Infinity\")");
    } else {
      return TypeError("a number");
    }
    t_->mutable_data<T>()[n_] = static_cast<T>(x);
    return OkStatus();
  }

  Status Scalar(od::value v, od::json_type type) {
    switch (t_->dtype()) {
      case DataType::kFloat: return Floating<float>(v, type);
      case DataType::kDouble: return Floating<double>(v, type);
      case DataType::kInt8: return Integer<int8_t>(v, type);
      case DataType::kUInt8: return Integer<uint8_t>(v, type);
      case DataType::kInt16: return Integer<int16_t>(v, type);
      case DataType::kUInt16: return Integer<uint16_t>(v, type);
      case DataType::kInt32: return Integer<int32_t>(v, type);
      case DataType::kUInt32: return Integer<uint32_t>(v, type);
      case DataType::kInt64: return Integer<int64_t>(v, type);
      case DataType::kUInt64: return Integer<uint64_t>(v, type);
      case DataType::kBool: {
        bool b;
        if (type != od::json_type::boolean || v.get_bool().get(b)) return TypeError("true or false");
        t_->mutable_data<bool>()[n_] = b;
        return OkStatus();
      }
      case DataType::kString: {
        std::string_view s;
        if (type != od::json_type::string || v.get_string().get(s)) return TypeError("a string");
        t_->mutable_data<std::string>()[n_].assign(s);
        return OkStatus();
      }
      case DataType::kUndefined: break;
    }
    return InternalError("undefined datatype");
  }

  Tensor* t_;
  std::string_view where_;
  int64_t n_ = 0;
  int64_t limit_ = -1;
};


}  // namespace rtml::serving::internal
