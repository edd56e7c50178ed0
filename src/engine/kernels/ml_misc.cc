// ai.onnx.ml feature transformers and encoders: Scaler, Normalizer,
// Binarizer, Imputer, OneHotEncoder, LabelEncoder, CategoryMapper,
// ArrayFeatureExtractor, FeatureVectorizer and ZipMap.
//
// Spec: https://github.com/onnx/onnx/blob/main/docs/Operators-ml.md; where it
// is vague the kernels follow ONNX Runtime's CPU kernels. Attribute tables are
// validated and indexed when the kernel is created; kernels are immutable
// afterwards (Compute is const and thread-safe), validate each request against
// them and allocate nothing once the output tensors have reached their size.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/internal/kernel_util.h"
#include "engine/internal/onnx_tensor.h"
#include "engine/internal/registry.h"

namespace rtml::engine::internal {
namespace {

std::string TypeName(DataType t) { return std::string(DataTypeName(t)); }

// float, double, int32, int64: the numeric inputs of the ai.onnx.ml
// transformers. Calls f(TypeTag<T>{}).
template <typename F>
Status DispatchMlNumeric(DataType dtype, std::string_view what, F&& f) {
  switch (dtype) {
    case DataType::kFloat:
      return f(TypeTag<float>{});
    case DataType::kDouble:
      return f(TypeTag<double>{});
    case DataType::kInt32:
      return f(TypeTag<int32_t>{});
    case DataType::kInt64:
      return f(TypeTag<int64_t>{});
    default:
      return UnimplementedError(std::string(what) + " has datatype " + TypeName(dtype) +
                                "; supported are FP32, FP64, INT32 and INT64");
  }
}

// Size of the feature (last) axis; a scalar counts as one feature.
int64_t FeatureCount(const Shape& s) { return s.rank() == 0 ? 1 : s[s.rank() - 1]; }

// The declared size of the last axis of input i, or -1 when unknown.
int64_t DeclaredLastDim(const KernelInfo& info, int i) {
  if (!info.has_input(i)) return -1;
  const auto& dims = info.input(i).dims;
  if (!dims.has_value() || dims->empty()) return -1;
  return dims->back();
}

// Checks that a per-feature attribute of `size` values (1 = broadcast) fits
// `features` columns.
Status CheckPerFeature(std::string_view attr, size_t size, int64_t features) {
  if (size <= 1 || static_cast<int64_t>(size) == features) return OkStatus();
  return InvalidArgumentError("attribute '" + std::string(attr) + "' has " + std::to_string(size) +
                              " values, but input 'X' has " + std::to_string(features) +
                              " features");
}

// --------------------------------------------------------------- Scaler ---

// Y = (X - offset) * scale along the last axis, as float. offset and scale
// hold one value per feature or a single value for all.
class ScalerKernel final : public Kernel {
 public:
  ScalerKernel(std::vector<float> scale, std::vector<float> offset)
      : scale_(std::move(scale)), offset_(std::move(offset)) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    const int64_t f = FeatureCount(x->shape());
    RETURN_IF_ERROR(CheckPerFeature("scale", scale_.size(), f));
    RETURN_IF_ERROR(CheckPerFeature("offset", offset_.size(), f));
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, DataType::kFloat, x->shape()));
    float* out = y->mutable_data<float>();
    const int64_t n = x->size();
    return DispatchMlNumeric(x->dtype(), "input 'X'", [&](auto tag) {
      using T = typename decltype(tag)::type;
      // float inputs are scaled in float; the others in double, then rounded.
      using Acc = std::conditional_t<std::is_same_v<T, float>, float, double>;
      const T* in = x->data<T>();
      if (scale_.size() == 1) {  // offset_ has one value too (see CreateScaler)
        const Acc off = offset_[0], sc = scale_[0];
        for (int64_t i = 0; i < n; ++i)
          out[i] = static_cast<float>((static_cast<Acc>(in[i]) - off) * sc);
        return OkStatus();
      }
      const float* off = offset_.data();
      const float* sc = scale_.data();
      for (int64_t base = 0; base < n; base += f) {
        for (int64_t j = 0; j < f; ++j) {
          out[base + j] =
              static_cast<float>((static_cast<Acc>(in[base + j]) - static_cast<Acc>(off[j])) *
                                 static_cast<Acc>(sc[j]));
        }
      }
      return OkStatus();
    });
  }

 private:
  std::vector<float> scale_;   // 1 or F values
  std::vector<float> offset_;  // same length as scale_
};

StatusOr<std::unique_ptr<Kernel>> CreateScaler(const KernelInfo& info) {
  ASSIGN_OR_RETURN(std::vector<float> scale, info.attrs.Floats("scale"));
  ASSIGN_OR_RETURN(std::vector<float> offset, info.attrs.Floats("offset"));
  if (scale.empty()) scale = {1.0f};
  if (offset.empty()) offset = {0.0f};
  if (scale.size() != offset.size() && scale.size() != 1 && offset.size() != 1) {
    return InvalidArgumentError("attributes 'scale' (" + std::to_string(scale.size()) +
                                " values) and 'offset' (" + std::to_string(offset.size()) +
                                " values) must have the same length or length 1");
  }
  // Broadcast a single value so both lists have the same length.
  if (scale.size() == 1 && offset.size() > 1) scale.assign(offset.size(), scale[0]);
  if (offset.size() == 1 && scale.size() > 1) offset.assign(scale.size(), offset[0]);
  const int64_t declared = DeclaredLastDim(info, 0);
  if (declared >= 0) RETURN_IF_ERROR(CheckPerFeature("scale", scale.size(), declared));
  return MakeKernel<ScalerKernel>(std::move(scale), std::move(offset));
}

// ----------------------------------------------------------- Normalizer ---

enum class Norm { kMax, kL1, kL2 };

// Normalises each row of [N, C] (or the one row of [C]) to float: MAX divides
// by the row's (signed) maximum, L1 by sum |x|, L2 by sqrt(sum x^2). A row
// whose norm is 0 is copied unchanged (ONNX Runtime).
class NormalizerKernel final : public Kernel {
 public:
  explicit NormalizerKernel(Norm norm) : norm_(norm) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    if (x->rank() != 1 && x->rank() != 2) {
      return InvalidArgumentError("input 'X' must have shape [N, C] or [C], got " +
                                  x->shape().ToString());
    }
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, DataType::kFloat, x->shape()));
    float* out = y->mutable_data<float>();
    const int64_t c = FeatureCount(x->shape());
    const int64_t n = x->size();
    return DispatchMlNumeric(x->dtype(), "input 'X'", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* in = x->data<T>();
      for (int64_t base = 0; base < n; base += c) {
        const T* row = in + base;
        double z = 0;
        if (norm_ == Norm::kMax) {
          z = -std::numeric_limits<double>::infinity();
          for (int64_t j = 0; j < c; ++j) z = std::max(z, static_cast<double>(row[j]));
        } else if (norm_ == Norm::kL1) {
          for (int64_t j = 0; j < c; ++j) z += std::abs(static_cast<double>(row[j]));
        } else {
          for (int64_t j = 0; j < c; ++j)
            z += static_cast<double>(row[j]) * static_cast<double>(row[j]);
          z = std::sqrt(z);
        }
        if (z == 0) z = 1;
        for (int64_t j = 0; j < c; ++j)
          out[base + j] = static_cast<float>(static_cast<double>(row[j]) / z);
      }
      return OkStatus();
    });
  }

 private:
  Norm norm_;
};

StatusOr<std::unique_ptr<Kernel>> CreateNormalizer(const KernelInfo& info) {
  ASSIGN_OR_RETURN(std::string norm, info.attrs.String("norm", std::string("MAX")));
  if (norm == "MAX") return MakeKernel<NormalizerKernel>(Norm::kMax);
  if (norm == "L1") return MakeKernel<NormalizerKernel>(Norm::kL1);
  if (norm == "L2") return MakeKernel<NormalizerKernel>(Norm::kL2);
  return InvalidArgumentError("attribute 'norm' must be MAX, L1 or L2, got '" + norm + "'");
}

// ------------------------------------------------------------ Binarizer ---

// Y = X > threshold ? 1 : 0, same type as X (NaN gives 0).
class BinarizerKernel final : public Kernel {
 public:
  explicit BinarizerKernel(float threshold) : threshold_(threshold) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, x->dtype(), x->shape()));
    return DispatchMlNumeric(x->dtype(), "input 'X'", [&](auto tag) {
      using T = typename decltype(tag)::type;
      using Cmp = std::conditional_t<std::is_same_v<T, float>, float, double>;
      const T* in = x->data<T>();
      T* out = y->mutable_data<T>();
      const Cmp t = threshold_;
      for (int64_t i = 0; i < x->size(); ++i) out[i] = static_cast<Cmp>(in[i]) > t ? T(1) : T(0);
      return OkStatus();
    });
  }

 private:
  float threshold_;
};

StatusOr<std::unique_ptr<Kernel>> CreateBinarizer(const KernelInfo& info) {
  ASSIGN_OR_RETURN(float threshold, info.attrs.Float("threshold", 0.0f));
  return MakeKernel<BinarizerKernel>(threshold);
}

// -------------------------------------------------------------- Imputer ---

// Replaces values equal to the replaced value (NaN matches NaN) by the
// imputed value of their column (or the single imputed value). Float and
// double inputs use the *_float attributes, int32/int64 the *_int64 ones.
class ImputerKernel final : public Kernel {
 public:
  ImputerKernel(std::vector<float> float_values, float float_target,
                std::vector<int64_t> int_values, int64_t int_target)
      : float_values_(std::move(float_values)),
        float_target_(float_target),
        int_values_(std::move(int_values)),
        int_target_(int_target) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    const bool floating = x->dtype() == DataType::kFloat || x->dtype() == DataType::kDouble;
    if (floating ? float_values_.empty() : int_values_.empty()) {
      return InvalidArgumentError(std::string("input 'X' has datatype ") + TypeName(x->dtype()) +
                                  " but the model sets only '" +
                                  (floating ? "imputed_value_int64s" : "imputed_value_floats") +
                                  "'");
    }
    const int64_t f = FeatureCount(x->shape());
    const size_t count = floating ? float_values_.size() : int_values_.size();
    RETURN_IF_ERROR(
        CheckPerFeature(floating ? "imputed_value_floats" : "imputed_value_int64s", count, f));
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, x->dtype(), x->shape()));
    return DispatchMlNumeric(x->dtype(), "input 'X'", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* in = x->data<T>();
      T* out = y->mutable_data<T>();
      const int64_t n = x->size();
      const int64_t stride = count == 1 ? 0 : 1;
      if constexpr (std::is_floating_point_v<T>) {
        const bool nan_target = std::isnan(float_target_);
        const T target = static_cast<T>(float_target_);
        for (int64_t i = 0; i < n; ++i) {
          const T v = in[i];
          const bool hit = nan_target ? std::isnan(v) : v == target;
          out[i] = hit ? static_cast<T>(float_values_[static_cast<size_t>((i % f) * stride)]) : v;
        }
      } else {
        for (int64_t i = 0; i < n; ++i) {
          const T v = in[i];
          out[i] = static_cast<int64_t>(v) == int_target_
                       ? static_cast<T>(int_values_[static_cast<size_t>((i % f) * stride)])
                       : v;
        }
      }
      return OkStatus();
    });
  }

 private:
  std::vector<float> float_values_;
  float float_target_;
  std::vector<int64_t> int_values_;
  int64_t int_target_;
};

StatusOr<std::unique_ptr<Kernel>> CreateImputer(const KernelInfo& info) {
  const NodeAttributes& a = info.attrs;
  ASSIGN_OR_RETURN(std::vector<float> fv, a.Floats("imputed_value_floats"));
  ASSIGN_OR_RETURN(std::vector<int64_t> iv, a.Ints("imputed_value_int64s"));
  ASSIGN_OR_RETURN(float ft, a.Float("replaced_value_float", 0.0f));
  ASSIGN_OR_RETURN(int64_t it, a.Int("replaced_value_int64", 0));
  if (fv.empty() == iv.empty()) {
    return InvalidArgumentError(
        "exactly one of the attributes 'imputed_value_floats' and 'imputed_value_int64s' "
        "must be set");
  }
  const int64_t declared = DeclaredLastDim(info, 0);
  if (declared >= 0) {
    RETURN_IF_ERROR(fv.empty() ? CheckPerFeature("imputed_value_int64s", iv.size(), declared)
                               : CheckPerFeature("imputed_value_floats", fv.size(), declared));
  }
  return MakeKernel<ImputerKernel>(std::move(fv), ft, std::move(iv), it);
}

// -------------------------------------------------------- OneHotEncoder ---

// Output shape = input shape + [categories]: a 1 in the column of each value's
// category. Numeric inputs are truncated to int64 and looked up in
// cats_int64s, strings in cats_strings. An unknown value gives a row of zeros
// when zeros = 1 and is an error otherwise.
class OneHotEncoderKernel final : public Kernel {
 public:
  OneHotEncoderKernel(std::unordered_map<int64_t, int64_t> ints,
                      std::unordered_map<std::string, int64_t> strings, int64_t categories,
                      bool zeros)
      : ints_(std::move(ints)),
        strings_(std::move(strings)),
        categories_(categories),
        zeros_(zeros) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    const bool is_string = x->dtype() == DataType::kString;
    if (is_string != !strings_.empty() || (!is_string && ints_.empty())) {
      return InvalidArgumentError("input 'X' has datatype " + TypeName(x->dtype()) +
                                  " but the categories are " +
                                  (strings_.empty() ? "'cats_int64s'" : "'cats_strings'"));
    }
    if (x->rank() >= Shape::kMaxRank) {
      return UnimplementedError("input 'X' has rank " + std::to_string(x->rank()) +
                                "; the output would exceed the engine's rank limit");
    }
    Shape shape = x->shape();
    shape.PushBack(categories_);
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, DataType::kFloat, shape));
    float* out = y->mutable_data<float>();
    std::fill(out, out + y->size(), 0.0f);
    const int64_t n = x->size();
    if (is_string) {
      const std::string* in = x->data<std::string>();
      for (int64_t i = 0; i < n; ++i) {
        auto it = strings_.find(in[i]);
        if (it != strings_.end())
          out[i * categories_ + it->second] = 1.0f;
        else if (!zeros_)
          return Unknown(i, "'" + in[i] + "'");
      }
      return OkStatus();
    }
    return DispatchMlNumeric(x->dtype(), "input 'X'", [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      const T* in = x->data<T>();
      for (int64_t i = 0; i < n; ++i) {
        int64_t key;
        if constexpr (std::is_floating_point_v<T>) {
          // Values that do not fit int64 (NaN, inf, huge) cannot be categories.
          if (!(in[i] > -9.2e18 && in[i] < 9.2e18)) {
            if (!zeros_) return Unknown(i, std::to_string(in[i]));
            continue;
          }
        }
        key = static_cast<int64_t>(in[i]);
        auto it = ints_.find(key);
        if (it != ints_.end())
          out[i * categories_ + it->second] = 1.0f;
        else if (!zeros_)
          return Unknown(i, std::to_string(in[i]));
      }
      return OkStatus();
    });
  }

 private:
  static Status Unknown(int64_t i, const std::string& value) {
    return InvalidArgumentError("input 'X' value " + value + " at index " + std::to_string(i) +
                                " is not a known category and attribute 'zeros' is 0");
  }

  std::unordered_map<int64_t, int64_t> ints_;
  std::unordered_map<std::string, int64_t> strings_;
  int64_t categories_;
  bool zeros_;
};

StatusOr<std::unique_ptr<Kernel>> CreateOneHotEncoder(const KernelInfo& info) {
  ASSIGN_OR_RETURN(std::vector<int64_t> cats_ints, info.attrs.Ints("cats_int64s"));
  ASSIGN_OR_RETURN(std::vector<std::string> cats_strings, info.attrs.Strings("cats_strings"));
  ASSIGN_OR_RETURN(int64_t zeros, info.attrs.Int("zeros", 1));
  if (cats_ints.empty() == cats_strings.empty()) {
    return InvalidArgumentError(
        "exactly one of the attributes 'cats_int64s' and 'cats_strings' must be set");
  }
  // A repeated category maps to its last position, as in ONNX Runtime.
  std::unordered_map<int64_t, int64_t> ints;
  std::unordered_map<std::string, int64_t> strings;
  for (size_t i = 0; i < cats_ints.size(); ++i) ints[cats_ints[i]] = static_cast<int64_t>(i);
  for (size_t i = 0; i < cats_strings.size(); ++i)
    strings[cats_strings[i]] = static_cast<int64_t>(i);
  const int64_t n = static_cast<int64_t>(cats_ints.size() + cats_strings.size());
  return MakeKernel<OneHotEncoderKernel>(std::move(ints), std::move(strings), n, zeros != 0);
}

// --------------------------------------------------------- LabelEncoder ---

// Looks keys up by kind: strings, integers (int16/32/64) or reals
// (float/double, with NaN matching NaN). The first occurrence of a repeated
// key wins, as in ONNX Runtime.
class KeyIndex {
 public:
  enum class Kind { kString, kInt, kReal };

  static StatusOr<KeyIndex> FromTensor(const Tensor& keys) {
    KeyIndex k;
    const int64_t n = keys.size();
    switch (keys.dtype()) {
      case DataType::kString:
        k.kind_ = Kind::kString;
        for (int64_t i = 0; i < n; ++i) k.strings_.emplace(keys.data<std::string>()[i], i);
        return k;
      case DataType::kFloat:
      case DataType::kDouble:
        k.kind_ = Kind::kReal;
        for (int64_t i = 0; i < n; ++i) {
          const double v =
              keys.dtype() == DataType::kFloat ? keys.data<float>()[i] : keys.data<double>()[i];
          if (std::isnan(v)) {
            if (k.nan_index_ < 0) k.nan_index_ = i;
          } else {
            k.reals_.emplace(v, i);
          }
        }
        return k;
      case DataType::kInt16:
      case DataType::kInt32:
      case DataType::kInt64:
        k.kind_ = Kind::kInt;
        for (int64_t i = 0; i < n; ++i) {
          int64_t v = 0;
          if (keys.dtype() == DataType::kInt64)
            v = keys.data<int64_t>()[i];
          else if (keys.dtype() == DataType::kInt32)
            v = keys.data<int32_t>()[i];
          else
            v = keys.data<int16_t>()[i];
          k.ints_.emplace(v, i);
        }
        return k;
      default:
        return UnimplementedError("keys of datatype " + TypeName(keys.dtype()) +
                                  " are not supported");
    }
  }

  Kind kind() const { return kind_; }
  const char* kind_name() const {
    return kind_ == Kind::kString ? "STRING" : kind_ == Kind::kInt ? "integer" : "floating-point";
  }
  static StatusOr<Kind> KindOf(DataType t) {
    switch (t) {
      case DataType::kString:
        return Kind::kString;
      case DataType::kInt16:
      case DataType::kInt32:
      case DataType::kInt64:
        return Kind::kInt;
      case DataType::kFloat:
      case DataType::kDouble:
        return Kind::kReal;
      default:
        return UnimplementedError("input 'X' has datatype " + TypeName(t) +
                                  "; supported are STRING, INT16, INT32, INT64, FP32 and FP64");
    }
  }

  // Index of x's value, or -1.
  int64_t Find(const std::string& s) const {
    auto it = strings_.find(s);
    return it == strings_.end() ? -1 : it->second;
  }
  int64_t Find(int64_t v) const {
    auto it = ints_.find(v);
    return it == ints_.end() ? -1 : it->second;
  }
  int64_t Find(double v) const {
    if (std::isnan(v)) return nan_index_;
    auto it = reals_.find(v);
    return it == reals_.end() ? -1 : it->second;
  }

 private:
  Kind kind_ = Kind::kString;
  std::unordered_map<std::string, int64_t> strings_;
  std::unordered_map<int64_t, int64_t> ints_;
  std::unordered_map<double, int64_t> reals_;
  int64_t nan_index_ = -1;
};

// Calls f(index_of_element_i) for every element of x, by the key kind.
template <typename F>
void ForEachKeyIndex(const KeyIndex& keys, const Tensor& x, F&& f) {
  const int64_t n = x.size();
  switch (x.dtype()) {
    case DataType::kString:
      for (int64_t i = 0; i < n; ++i) f(i, keys.Find(x.data<std::string>()[i]));
      break;
    case DataType::kInt16:
      for (int64_t i = 0; i < n; ++i) f(i, keys.Find(int64_t{x.data<int16_t>()[i]}));
      break;
    case DataType::kInt32:
      for (int64_t i = 0; i < n; ++i) f(i, keys.Find(int64_t{x.data<int32_t>()[i]}));
      break;
    case DataType::kInt64:
      for (int64_t i = 0; i < n; ++i) f(i, keys.Find(x.data<int64_t>()[i]));
      break;
    case DataType::kFloat:
      for (int64_t i = 0; i < n; ++i) f(i, keys.Find(static_cast<double>(x.data<float>()[i])));
      break;
    case DataType::kDouble:
      for (int64_t i = 0; i < n; ++i) f(i, keys.Find(x.data<double>()[i]));
      break;
    default:
      break;
  }
}

// LabelEncoder (ai.onnx.ml opset 2 and later): maps keys_* to values_*
// element-wise; keys not listed get default_*. Opset 4's keys_tensor /
// values_tensor / default_tensor are accepted too.
class LabelEncoderKernel final : public Kernel {
 public:
  LabelEncoderKernel(KeyIndex keys, Tensor values, Tensor fallback)
      : keys_(std::move(keys)), values_(std::move(values)), default_(std::move(fallback)) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    ASSIGN_OR_RETURN(KeyIndex::Kind kind, KeyIndex::KindOf(x->dtype()));
    if (kind != keys_.kind()) {
      return InvalidArgumentError("input 'X' has datatype " + TypeName(x->dtype()) +
                                  " but the keys are " + keys_.kind_name() + " values");
    }
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, values_.dtype(), x->shape()));
    return DispatchAny(values_.dtype(), "values", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* values = values_.data<T>();
      const T& fallback = default_.data<T>()[0];
      T* out = y->mutable_data<T>();
      ForEachKeyIndex(keys_, *x,
                      [&](int64_t i, int64_t k) { out[i] = k >= 0 ? values[k] : fallback; });
      return OkStatus();
    });
  }

 private:
  KeyIndex keys_;
  Tensor values_;
  Tensor default_;  // one element of values_'s type
};

// A 1-D tensor from a list attribute.
template <typename T>
Tensor ListTensor(const std::vector<T>& v) {
  return Tensor::FromVector<T>(Shape{static_cast<int64_t>(v.size())}, v);
}

// Reads the one keys_* / values_* list (or *_tensor) that is set.
StatusOr<Tensor> ReadTable(const NodeAttributes& a, const std::string& prefix) {
  int set = 0;
  Tensor t;
  if (a.Has(prefix + "strings")) {
    ASSIGN_OR_RETURN(std::vector<std::string> v, a.Strings(prefix + "strings"));
    t = ListTensor(v);
    ++set;
  }
  if (a.Has(prefix + "int64s")) {
    ASSIGN_OR_RETURN(std::vector<int64_t> v, a.Ints(prefix + "int64s"));
    t = ListTensor(v);
    ++set;
  }
  if (a.Has(prefix + "floats")) {
    ASSIGN_OR_RETURN(std::vector<float> v, a.Floats(prefix + "floats"));
    t = ListTensor(v);
    ++set;
  }
  if (a.Has(prefix + "tensor")) {
    ASSIGN_OR_RETURN(const onnx::TensorProto* proto, a.TensorAttr(prefix + "tensor"));
    ASSIGN_OR_RETURN(Tensor v, TensorFromProto(*proto));
    if (v.rank() > 1) {
      return InvalidArgumentError("attribute '" + prefix + "tensor' must be 1-D, got " +
                                  v.shape().ToString());
    }
    t = std::move(v);
    ++set;
  }
  if (set != 1) {
    return InvalidArgumentError("exactly one of the attributes '" + prefix + "strings', '" +
                                prefix + "int64s', '" + prefix + "floats' and '" + prefix +
                                "tensor' must be set");
  }
  return t;
}

StatusOr<Tensor> ReadDefault(const NodeAttributes& a, DataType type) {
  if (a.Has("default_tensor")) {
    ASSIGN_OR_RETURN(const onnx::TensorProto* proto, a.TensorAttr("default_tensor"));
    ASSIGN_OR_RETURN(Tensor v, TensorFromProto(*proto));
    if (v.size() != 1 || v.dtype() != type) {
      return InvalidArgumentError("attribute 'default_tensor' must hold one " + TypeName(type) +
                                  " value, got " + v.Describe());
    }
    return v;
  }
  switch (type) {
    case DataType::kString: {
      ASSIGN_OR_RETURN(std::string s, a.String("default_string", std::string("_Unused")));
      return ListTensor(std::vector<std::string>{s});
    }
    case DataType::kInt64: {
      ASSIGN_OR_RETURN(int64_t v, a.Int("default_int64", -1));
      return ListTensor(std::vector<int64_t>{v});
    }
    case DataType::kInt32:
      return ListTensor(std::vector<int32_t>{-1});
    case DataType::kInt16:
      return ListTensor(std::vector<int16_t>{-1});
    case DataType::kFloat: {
      ASSIGN_OR_RETURN(float v, a.Float("default_float", -0.0f));
      return ListTensor(std::vector<float>{v});
    }
    case DataType::kDouble:
      return ListTensor(std::vector<double>{-0.0});
    default:
      return UnimplementedError("values of datatype " + TypeName(type) + " are not supported");
  }
}

StatusOr<std::unique_ptr<Kernel>> CreateLabelEncoder2(const KernelInfo& info) {
  const NodeAttributes& a = info.attrs;
  ASSIGN_OR_RETURN(Tensor keys, ReadTable(a, "keys_"));
  ASSIGN_OR_RETURN(Tensor values, ReadTable(a, "values_"));
  if (keys.size() != values.size()) {
    return InvalidArgumentError("the keys (" + std::to_string(keys.size()) + ") and values (" +
                                std::to_string(values.size()) +
                                ") of the LabelEncoder must have the same length");
  }
  ASSIGN_OR_RETURN(Tensor fallback, ReadDefault(a, values.dtype()));
  ASSIGN_OR_RETURN(KeyIndex index, KeyIndex::FromTensor(keys));
  const DataType declared = info.has_input(0) ? info.input(0).dtype : DataType::kUndefined;
  if (declared != DataType::kUndefined) {
    ASSIGN_OR_RETURN(KeyIndex::Kind kind, KeyIndex::KindOf(declared));
    if (kind != index.kind()) {
      return InvalidArgumentError("input 'X' is declared " + TypeName(declared) +
                                  " but the keys are " + index.kind_name() + " values");
    }
  }
  return MakeKernel<LabelEncoderKernel>(std::move(index), std::move(values), std::move(fallback));
}

// LabelEncoder opset 1: strings -> their index in classes_strings (else
// default_int64), or int64 -> classes_strings[x] (else default_string).
class LabelEncoder1Kernel final : public Kernel {
 public:
  LabelEncoder1Kernel(std::vector<std::string> classes, std::string default_string,
                      int64_t default_int)
      : classes_(std::move(classes)),
        default_string_(std::move(default_string)),
        default_int_(default_int) {
    for (size_t i = 0; i < classes_.size(); ++i)
      index_.emplace(classes_[i], static_cast<int64_t>(i));
  }

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    const int64_t n = x->size();
    if (x->dtype() == DataType::kString) {
      ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, DataType::kInt64, x->shape()));
      for (int64_t i = 0; i < n; ++i) {
        auto it = index_.find(x->data<std::string>()[i]);
        y->mutable_data<int64_t>()[i] = it == index_.end() ? default_int_ : it->second;
      }
      return OkStatus();
    }
    if (x->dtype() == DataType::kInt64) {
      ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, DataType::kString, x->shape()));
      const int64_t size = static_cast<int64_t>(classes_.size());
      for (int64_t i = 0; i < n; ++i) {
        const int64_t v = x->data<int64_t>()[i];
        y->mutable_data<std::string>()[i] =
            v >= 0 && v < size ? classes_[static_cast<size_t>(v)] : default_string_;
      }
      return OkStatus();
    }
    return InvalidArgumentError("input 'X' must be STRING or INT64, got " + TypeName(x->dtype()));
  }

 private:
  std::vector<std::string> classes_;
  std::unordered_map<std::string, int64_t> index_;
  std::string default_string_;
  int64_t default_int_;
};

StatusOr<std::unique_ptr<Kernel>> CreateLabelEncoder1(const KernelInfo& info) {
  ASSIGN_OR_RETURN(std::vector<std::string> classes, info.attrs.Strings("classes_strings"));
  ASSIGN_OR_RETURN(std::string default_string,
                   info.attrs.String("default_string", std::string("_Unused")));
  ASSIGN_OR_RETURN(int64_t default_int, info.attrs.Int("default_int64", -1));
  return MakeKernel<LabelEncoder1Kernel>(std::move(classes), std::move(default_string),
                                         default_int);
}

// ------------------------------------------------------- CategoryMapper ---

// STRING -> INT64 through cats_strings[i] -> cats_int64s[i] (unknown:
// default_int64), or INT64 -> STRING the other way (unknown: default_string).
class CategoryMapperKernel final : public Kernel {
 public:
  CategoryMapperKernel(std::unordered_map<std::string, int64_t> to_int,
                       std::unordered_map<int64_t, std::string> to_string,
                       std::string default_string, int64_t default_int)
      : to_int_(std::move(to_int)),
        to_string_(std::move(to_string)),
        default_string_(std::move(default_string)),
        default_int_(default_int) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    const int64_t n = x->size();
    if (x->dtype() == DataType::kString) {
      ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, DataType::kInt64, x->shape()));
      for (int64_t i = 0; i < n; ++i) {
        auto it = to_int_.find(x->data<std::string>()[i]);
        y->mutable_data<int64_t>()[i] = it == to_int_.end() ? default_int_ : it->second;
      }
      return OkStatus();
    }
    if (x->dtype() == DataType::kInt64) {
      ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, DataType::kString, x->shape()));
      for (int64_t i = 0; i < n; ++i) {
        auto it = to_string_.find(x->data<int64_t>()[i]);
        y->mutable_data<std::string>()[i] = it == to_string_.end() ? default_string_ : it->second;
      }
      return OkStatus();
    }
    return InvalidArgumentError("input 'X' must be STRING or INT64, got " + TypeName(x->dtype()));
  }

 private:
  std::unordered_map<std::string, int64_t> to_int_;
  std::unordered_map<int64_t, std::string> to_string_;
  std::string default_string_;
  int64_t default_int_;
};

StatusOr<std::unique_ptr<Kernel>> CreateCategoryMapper(const KernelInfo& info) {
  const NodeAttributes& a = info.attrs;
  ASSIGN_OR_RETURN(std::vector<std::string> strings, a.Strings("cats_strings"));
  ASSIGN_OR_RETURN(std::vector<int64_t> ints, a.Ints("cats_int64s"));
  ASSIGN_OR_RETURN(std::string default_string, a.String("default_string", std::string("_Unused")));
  ASSIGN_OR_RETURN(int64_t default_int, a.Int("default_int64", -1));
  if (strings.size() != ints.size()) {
    return InvalidArgumentError("attributes 'cats_strings' (" + std::to_string(strings.size()) +
                                " values) and 'cats_int64s' (" + std::to_string(ints.size()) +
                                " values) must have the same length");
  }
  const DataType declared = info.has_input(0) ? info.input(0).dtype : DataType::kUndefined;
  if (declared != DataType::kUndefined && declared != DataType::kString &&
      declared != DataType::kInt64) {
    return InvalidArgumentError("input 'X' must be STRING or INT64, got " + TypeName(declared));
  }
  std::unordered_map<std::string, int64_t> to_int;
  std::unordered_map<int64_t, std::string> to_string;
  for (size_t i = 0; i < strings.size(); ++i) {
    to_int.emplace(strings[i], ints[i]);
    to_string.emplace(ints[i], strings[i]);
  }
  return MakeKernel<CategoryMapperKernel>(std::move(to_int), std::move(to_string),
                                          std::move(default_string), default_int);
}

// ------------------------------------------------ ArrayFeatureExtractor ---

// Z = X[..., indices]: selects along the last axis; the indices tensor is
// flattened. A 1-D X gives [1, n] (ONNX Runtime).
class ArrayFeatureExtractorKernel final : public Kernel {
 public:
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    ASSIGN_OR_RETURN(const Tensor* y, RequireInput(ctx, 1, "Y"));
    if (x->rank() == 0) return InvalidArgumentError("input 'X' must have at least one dimension");
    if (y->dtype() != DataType::kInt64 && y->dtype() != DataType::kInt32) {
      return InvalidArgumentError("input 'Y' must be INT64, got " + TypeName(y->dtype()));
    }
    const int64_t k = y->size();
    if (k == 0) return InvalidArgumentError("input 'Y' holds no indices");
    const int64_t f = x->shape()[x->rank() - 1];
    for (int64_t j = 0; j < k; ++j) {
      const int64_t idx = Index(*y, j);
      if (idx < 0 || idx >= f) {
        return InvalidArgumentError("index " + std::to_string(idx) + " (input 'Y'[" +
                                    std::to_string(j) + "]) is out of range for " +
                                    std::to_string(f) + " features");
      }
    }
    Shape shape = x->shape();
    if (x->rank() == 1)
      shape = Shape{1, k};
    else
      shape[x->rank() - 1] = k;
    ASSIGN_OR_RETURN(Tensor * z, ctx.Output(0, x->dtype(), shape));
    const int64_t rows = f == 0 ? 0 : x->size() / f;
    return DispatchBySize(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* in = x->data<T>();
      T* out = z->mutable_data<T>();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < k; ++j) out[r * k + j] = in[r * f + Index(*y, j)];
      return OkStatus();
    });
  }

 private:
  static int64_t Index(const Tensor& y, int64_t j) {
    return y.dtype() == DataType::kInt64 ? y.data<int64_t>()[j] : int64_t{y.data<int32_t>()[j]};
  }
};

StatusOr<std::unique_ptr<Kernel>> CreateArrayFeatureExtractor(const KernelInfo& info) {
  if (!info.has_input(1)) return InvalidArgumentError("input 'Y' (the indices) is missing");
  return MakeKernel<ArrayFeatureExtractorKernel>();
}

// ---------------------------------------------------- FeatureVectorizer ---

// Concatenates its inputs' rows into float [N, sum(inputdimensions)]. Input i
// contributes inputdimensions[i] columns: extra columns are dropped and
// missing ones are zero (ONNX Runtime). All inputs must have N rows.
class FeatureVectorizerKernel final : public Kernel {
 public:
  explicit FeatureVectorizerKernel(std::vector<int64_t> dims) : dims_(std::move(dims)), total_(0) {
    for (int64_t d : dims_) total_ += d;
  }

  Status Compute(KernelContext& ctx) const override {
    const int count = static_cast<int>(dims_.size());
    int64_t n = -1;
    for (int i = 0; i < count; ++i) {
      const Tensor* x = ctx.input(i);
      if (x == nullptr) return InvalidArgumentError("input " + std::to_string(i) + " is missing");
      const int64_t rows = RowsOf(*x);
      if (n >= 0 && rows != n) {
        return InvalidArgumentError("input " + std::to_string(i) + " has " + std::to_string(rows) +
                                    " rows, input 0 has " + std::to_string(n));
      }
      n = rows;
    }
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, DataType::kFloat, Shape{n, total_}));
    float* out = y->mutable_data<float>();
    std::fill(out, out + y->size(), 0.0f);
    int64_t col = 0;
    for (int i = 0; i < count; ++i) {
      const Tensor& x = *ctx.input(i);
      const int64_t width = n == 0 ? 0 : x.size() / n;
      const int64_t take = std::min(width, dims_[static_cast<size_t>(i)]);
      RETURN_IF_ERROR(DispatchMlNumeric(x.dtype(), "input " + std::to_string(i), [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* in = x.data<T>();
        for (int64_t r = 0; r < n; ++r)
          for (int64_t j = 0; j < take; ++j)
            out[r * total_ + col + j] = static_cast<float>(in[r * width + j]);
        return OkStatus();
      }));
      col += dims_[static_cast<size_t>(i)];
    }
    return OkStatus();
  }

 private:
  static int64_t RowsOf(const Tensor& x) { return x.rank() <= 1 ? 1 : x.shape()[0]; }

  std::vector<int64_t> dims_;
  int64_t total_;
};

StatusOr<std::unique_ptr<Kernel>> CreateFeatureVectorizer(const KernelInfo& info) {
  ASSIGN_OR_RETURN(std::vector<int64_t> dims, info.attrs.Ints("inputdimensions"));
  if (dims.size() != info.inputs.size()) {
    return InvalidArgumentError("attribute 'inputdimensions' has " + std::to_string(dims.size()) +
                                " values but the node has " + std::to_string(info.inputs.size()) +
                                " inputs");
  }
  int64_t total = 0;
  for (int64_t d : dims) {
    if (d < 0 || d > (int64_t{1} << 31)) {
      return InvalidArgumentError("attribute 'inputdimensions' holds an invalid size " +
                                  std::to_string(d));
    }
    total += d;
  }
  for (size_t i = 0; i < info.inputs.size(); ++i) {
    if (!info.inputs[i].present)
      return InvalidArgumentError("input " + std::to_string(i) + " is missing");
  }
  return MakeKernel<FeatureVectorizerKernel>(std::move(dims));
}

// --------------------------------------------------------------- ZipMap ---

// Turns [N, C] scores (or one row [C]) into a sequence of N maps keyed by the
// class labels: the output is the [N, C] data with MapKeys attached, which
// the serving layer writes as SEQUENCE_MAP. The keys are owned here.
class ZipMapKernel final : public Kernel {
 public:
  explicit ZipMapKernel(MapKeys keys) : keys_(std::move(keys)) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    if (x->dtype() != DataType::kFloat && x->dtype() != DataType::kDouble) {
      return InvalidArgumentError("input 'X' must be FP32, got " + TypeName(x->dtype()));
    }
    if (x->rank() != 1 && x->rank() != 2) {
      return InvalidArgumentError("input 'X' must have shape [N, C] or [C], got " +
                                  x->shape().ToString());
    }
    const int64_t c = x->shape()[x->rank() - 1];
    if (c != static_cast<int64_t>(keys_.size())) {
      return InvalidArgumentError("input 'X' has " + std::to_string(c) + " columns but there are " +
                                  std::to_string(keys_.size()) + " class labels");
    }
    const int64_t n = x->rank() == 1 ? 1 : x->shape()[0];
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, x->dtype(), Shape{n, c}));
    if (x->nbytes() > 0) std::memcpy(y->raw_mutable_data(), x->raw_data(), x->nbytes());
    y->set_map_keys(&keys_);
    return OkStatus();
  }

 private:
  MapKeys keys_;
};

StatusOr<std::unique_ptr<Kernel>> CreateZipMap(const KernelInfo& info) {
  MapKeys keys;
  ASSIGN_OR_RETURN(keys.string_keys, info.attrs.Strings("classlabels_strings"));
  ASSIGN_OR_RETURN(keys.int_keys, info.attrs.Ints("classlabels_int64s"));
  if (keys.string_keys.empty() == keys.int_keys.empty()) {
    return InvalidArgumentError(
        "exactly one of the attributes 'classlabels_strings' and 'classlabels_int64s' "
        "must be set");
  }
  if (info.constant_input(0) != nullptr) {
    // A folded result would outlive this kernel, which owns the keys.
    return UnimplementedError("ZipMap of a constant input is not supported");
  }
  const int64_t declared = DeclaredLastDim(info, 0);
  if (declared >= 0 && declared != static_cast<int64_t>(keys.size())) {
    return InvalidArgumentError("input 'X' is declared with " + std::to_string(declared) +
                                " columns but there are " + std::to_string(keys.size()) +
                                " class labels");
  }
  return MakeKernel<ZipMapKernel>(std::move(keys));
}

}  // namespace

void RegisterMlMiscKernels(KernelRegistry& r) {
  const std::string_view d = kMlDomain;
  r.Add(d, "Scaler", 1, CreateScaler);
  r.Add(d, "Normalizer", 1, CreateNormalizer);
  r.Add(d, "Binarizer", 1, CreateBinarizer);
  r.Add(d, "Imputer", 1, CreateImputer);
  r.Add(d, "OneHotEncoder", 1, CreateOneHotEncoder);
  r.Add(d, "LabelEncoder", 1, CreateLabelEncoder1);
  r.Add(d, "LabelEncoder", 2, CreateLabelEncoder2);
  r.Add(d, "CategoryMapper", 1, CreateCategoryMapper);
  r.Add(d, "ArrayFeatureExtractor", 1, CreateArrayFeatureExtractor);
  r.Add(d, "FeatureVectorizer", 1, CreateFeatureVectorizer);
  r.Add(d, "ZipMap", 1, CreateZipMap);
}

}  // namespace rtml::engine::internal
