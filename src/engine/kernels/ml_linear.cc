// ai.onnx.ml linear models and support vector machines: LinearClassifier,
// LinearRegressor, SVMClassifier, SVMRegressor.
//
// Spec: https://github.com/onnx/onnx/blob/main/docs/Operators-ml.md. Where it
// leaves layouts open (binary classifiers, SOFTMAX_ZERO) the kernels follow
// ONNX Runtime's CPU kernels, which scikit-learn converters target; the few
// deliberate departures are commented where they happen. Inputs of type
// float, double, int32 and int64 are converted to float32 as ONNX Runtime
// does; all attribute sizes are validated when the kernel is created, so
// Compute only checks the request's shape against them. Kernels are
// immutable once created: Compute is const and thread-safe, and uses only
// the context's outputs and scratch (no allocation once they have grown).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/internal/kernel_util.h"
#include "engine/internal/ml_common.h"
#include "engine/internal/registry.h"

namespace rtml::engine::internal {
namespace {

// ------------------------------------------------------------- helpers ---

// Applies a post_transform to one row of scores in place.
inline void TransformRow(PostTransform t, float* v, int64_t n) {
  ApplyPostTransform(t, std::span<float>(v, static_cast<size_t>(n)));
}

inline float LogisticF(float x) { return static_cast<float>(Logistic(static_cast<double>(x))); }

// Dot product with eight independent partial sums, so the compiler can
// vectorise it without reassociating floating-point additions.
inline float Dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  float tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

inline float SquaredDistance(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) {
      const float d = a[i + k] - b[i + k];
      acc[k] += d * d;
    }
  }
  float tail = 0;
  for (; i < n; ++i) tail += (a[i] - b[i]) * (a[i] - b[i]);
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

// Index of the first maximum (NaN never wins over the first entry).
inline int64_t ArgMax(const float* v, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

// y = W x + b for one row; W is [outputs, features], row-major and
// contiguous. One vectorised dot product per output measured faster than a
// transposed layout up to ~64 outputs at 32 features (and equal beyond), so
// there is a single layout.
class AffineMap {
 public:
  AffineMap() = default;
  AffineMap(std::vector<float> weights, std::vector<float> bias, int64_t outputs, int64_t features)
      : outputs_(outputs), features_(features), w_(std::move(weights)), bias_(std::move(bias)) {}

  int64_t outputs() const { return outputs_; }
  int64_t features() const { return features_; }

  void Apply(const float* x, float* y) const {
    const float* w = w_.data();
    for (int64_t o = 0; o < outputs_; ++o)
      y[o] = Dot(x, w + o * features_, features_) + bias_[static_cast<size_t>(o)];
  }

 private:
  int64_t outputs_ = 0;
  int64_t features_ = 0;
  std::vector<float> w_;     // [outputs_, features_]
  std::vector<float> bias_;  // outputs_ values
};

// Carves typed arrays out of the node's single scratch buffer.
class ScratchLayout {
 public:
  template <typename T>
  size_t Add(size_t count) {
    offset_ = (offset_ + 7) / 8 * 8;
    const size_t at = offset_;
    offset_ += count * sizeof(T);
    return at;
  }
  size_t bytes() const { return offset_; }

 private:
  size_t offset_ = 0;
};

template <typename T>
T* ScratchAt(uint8_t* base, size_t offset) {
  return reinterpret_cast<T*>(base + offset);
}

// The feature count fixed by the model's declared shape of input X, or -1.
StatusOr<int64_t> DeclaredFeatures(const KernelInfo& info) {
  if (!info.has_input(0)) return InvalidArgumentError("input 'X' is missing");
  const auto& dims = info.input(0).dims;
  if (!dims.has_value()) return int64_t{-1};
  if (dims->empty() || dims->size() > 2) {
    return InvalidArgumentError(
        "input 'X' must have shape [N, F] or [F]; the model declares rank " +
        std::to_string(dims->size()));
  }
  return dims->back();
}

bool IsFeatureType(DataType t) {
  return t == DataType::kFloat || t == DataType::kDouble || t == DataType::kInt32 ||
         t == DataType::kInt64;
}

Status CheckDeclaredType(const KernelInfo& info) {
  const DataType t = info.input(0).dtype;
  if (t != DataType::kUndefined && !IsFeatureType(t)) {
    return UnimplementedError("input 'X' has datatype " + std::string(DataTypeName(t)) +
                              "; supported are FP32, FP64, INT32 and INT64");
  }
  return OkStatus();
}

// Validates X against the model's feature count and returns the batch size.
StatusOr<int64_t> BatchRows(const Tensor& x, int64_t features) {
  if (!IsFeatureType(x.dtype())) {
    return UnimplementedError("input 'X' has datatype " + std::string(DataTypeName(x.dtype())) +
                              "; supported are FP32, FP64, INT32 and INT64");
  }
  if (x.rank() != 1 && x.rank() != 2) {
    return InvalidArgumentError("input 'X' must have shape [N, F] or [F], got " +
                                x.shape().ToString());
  }
  const int64_t f = x.shape()[x.rank() - 1];
  if (f != features) {
    return InvalidArgumentError("input 'X' has " + std::to_string(f) +
                                " features, the model expects " + std::to_string(features));
  }
  return x.rank() == 1 ? int64_t{1} : x.shape()[0];
}

// X as float32: the tensor itself, or a conversion into `buffer`
// (x.size() floats).
const float* AsFloat(const Tensor& x, float* buffer) {
  const int64_t n = x.size();
  switch (x.dtype()) {
    case DataType::kDouble:
      for (int64_t i = 0; i < n; ++i) buffer[i] = static_cast<float>(x.data<double>()[i]);
      return buffer;
    case DataType::kInt32:
      for (int64_t i = 0; i < n; ++i) buffer[i] = static_cast<float>(x.data<int32_t>()[i]);
      return buffer;
    case DataType::kInt64:
      for (int64_t i = 0; i < n; ++i) buffer[i] = static_cast<float>(x.data<int64_t>()[i]);
      return buffer;
    default:
      return x.data<float>();
  }
}

size_t ConversionFloats(const Tensor& x) {
  return x.dtype() == DataType::kFloat ? 0 : static_cast<size_t>(x.size());
}

// Class labels of a classifier: int64 or string.
struct ClassLabels {
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  bool is_string = false;

  int64_t size() const { return static_cast<int64_t>(is_string ? strings.size() : ints.size()); }
  DataType dtype() const { return is_string ? DataType::kString : DataType::kInt64; }
  const char* attribute() const { return is_string ? "classlabels_strings" : "classlabels_ints"; }
  void Write(Tensor* y, int64_t row, int64_t k) const {
    if (is_string)
      y->mutable_data<std::string>()[row] = strings[static_cast<size_t>(k)];
    else
      y->mutable_data<int64_t>()[row] = ints[static_cast<size_t>(k)];
  }
};

StatusOr<ClassLabels> ReadClassLabels(const NodeAttributes& attrs) {
  ClassLabels labels;
  ASSIGN_OR_RETURN(labels.strings, attrs.Strings("classlabels_strings"));
  ASSIGN_OR_RETURN(labels.ints, attrs.Ints("classlabels_ints"));
  if (!labels.strings.empty() && !labels.ints.empty()) {
    return InvalidArgumentError(
        "only one of the attributes 'classlabels_strings' and 'classlabels_ints' may be set");
  }
  labels.is_string = !labels.strings.empty();
  return labels;
}

StatusOr<std::vector<float>> RequiredFloats(const NodeAttributes& attrs, std::string_view name) {
  ASSIGN_OR_RETURN(std::vector<float> v, attrs.Floats(name));
  if (v.empty())
    return InvalidArgumentError("required attribute '" + std::string(name) +
                                "' is missing or empty");
  return v;
}

// Labels [N] and, when the node asks for them, scores [N, width].
struct ClassifierOutputs {
  Tensor* labels = nullptr;
  float* scores = nullptr;  // nullptr when the node has no score output
};

StatusOr<ClassifierOutputs> MakeClassifierOutputs(KernelContext& ctx, DataType label_type,
                                                  int64_t rows, int64_t width) {
  ClassifierOutputs out;
  ASSIGN_OR_RETURN(out.labels, ctx.Output(0, label_type, Shape{rows}));
  if (ctx.num_outputs() > 1) {
    ASSIGN_OR_RETURN(Tensor * z, ctx.Output(1, DataType::kFloat, Shape{rows, width}));
    out.scores = z->mutable_data<float>();
  }
  return out;
}

// ----------------------------------------------------- LinearClassifier ---

// Scores = X W^T + intercepts, one column per coefficient row. Several rows:
// label = class of the highest raw score, scores = post_transform(raw).
// One row (binary, as ONNX Runtime): label = labels[1] if raw > 0 else
// labels[0]; with two class labels the scores are [1 - p, p], p = raw; with
// no class labels the labels are 1 / 0 and the scores one column.
class LinearClassifierKernel final : public Kernel {
 public:
  LinearClassifierKernel(AffineMap map, ClassLabels labels, PostTransform post, bool two_columns)
      : map_(std::move(map)),
        labels_(std::move(labels)),
        post_(post),
        two_columns_(two_columns),
        width_(two_columns ? 2 : map_.outputs()) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    ASSIGN_OR_RETURN(const int64_t n, BatchRows(*x, map_.features()));
    const bool want_scores = ctx.num_outputs() > 1;
    ScratchLayout layout;
    const size_t conv_at = layout.Add<float>(ConversionFloats(*x));
    const size_t row_at = layout.Add<float>(want_scores ? 0 : static_cast<size_t>(width_));
    uint8_t* scratch = nullptr;
    if (layout.bytes() > 0) {
      ASSIGN_OR_RETURN(scratch, ctx.Scratch<uint8_t>(layout.bytes()));
    }
    const float* xs = AsFloat(*x, ScratchAt<float>(scratch, conv_at));
    ASSIGN_OR_RETURN(ClassifierOutputs out, MakeClassifierOutputs(ctx, labels_.dtype(), n, width_));
    const int64_t features = map_.features();
    const int64_t classes = map_.outputs();
    for (int64_t r = 0; r < n; ++r) {
      float* row =
          out.scores != nullptr ? out.scores + r * width_ : ScratchAt<float>(scratch, row_at);
      map_.Apply(xs + r * features, row);
      if (classes == 1) {
        const float raw = row[0];
        labels_.Write(out.labels, r, raw > 0 ? 1 : 0);
        if (two_columns_) {
          // LOGISTIC gives [1 - sigmoid(raw), sigmoid(raw)], as in ONNX
          // Runtime 1.31 (older releases ignored it).
          const float p = post_ == PostTransform::kLogistic ? LogisticF(raw) : raw;
          row[0] = 1.0f - p;
          row[1] = p;
        } else {
          TransformRow(post_, row, 1);
        }
      } else {
        labels_.Write(out.labels, r, ArgMax(row, classes));
        TransformRow(post_, row, classes);
      }
    }
    return OkStatus();
  }

 private:
  AffineMap map_;
  ClassLabels labels_;
  PostTransform post_;
  bool two_columns_;
  int64_t width_;
};

StatusOr<std::unique_ptr<Kernel>> CreateLinearClassifier(const KernelInfo& info) {
  const NodeAttributes& a = info.attrs;
  ASSIGN_OR_RETURN(std::vector<float> coef, RequiredFloats(a, "coefficients"));
  ASSIGN_OR_RETURN(std::vector<float> intercepts, a.Floats("intercepts"));
  ASSIGN_OR_RETURN(ClassLabels labels, ReadClassLabels(a));
  ASSIGN_OR_RETURN(PostTransform post, ReadPostTransform(a));
  ASSIGN_OR_RETURN(int64_t multi_class, a.Int("multi_class", 0));
  (void)multi_class;  // informational only; it does not change the result
  RETURN_IF_ERROR(CheckDeclaredType(info));
  ASSIGN_OR_RETURN(const int64_t declared_f, DeclaredFeatures(info));
  const int64_t n_coef = static_cast<int64_t>(coef.size());
  const int64_t n_labels = labels.size();

  // Number of coefficient rows: from intercepts (as ONNX Runtime), else from
  // the declared feature count, else one per class label.
  int64_t rows;
  std::string rows_from;
  if (!intercepts.empty()) {
    rows = static_cast<int64_t>(intercepts.size());
    rows_from = "intercepts";
  } else if (declared_f > 0 && n_coef % declared_f == 0) {
    rows = n_coef / declared_f;
    rows_from = "the declared feature count";
  } else {
    rows = std::max<int64_t>(n_labels, 1);
    rows_from = labels.attribute();
  }
  if (declared_f >= 0 && n_coef != rows * declared_f) {
    return InvalidArgumentError("attribute 'coefficients' has " + std::to_string(n_coef) +
                                " values, expected " + std::to_string(rows) + " classes x " +
                                std::to_string(declared_f) +
                                " features = " + std::to_string(rows * declared_f));
  }
  if (n_coef % rows != 0) {
    return InvalidArgumentError("attribute 'coefficients' has " + std::to_string(n_coef) +
                                " values, which is not a multiple of the " + std::to_string(rows) +
                                " classes given by " + rows_from);
  }
  const int64_t features = n_coef / rows;
  if (rows > 1 && n_labels != rows) {
    return InvalidArgumentError("the model has " + std::to_string(rows) +
                                " coefficient rows but attribute '" + labels.attribute() +
                                "' has " + std::to_string(n_labels) + " labels");
  }
  bool two_columns = false;
  if (rows == 1) {
    two_columns = n_labels == 2;
    if (n_labels == 0) {
      // ONNX Runtime's labels for one row without class labels: 1 / 0.
      labels.ints = {0, 1};
    } else if (n_labels != 2) {
      return InvalidArgumentError(
          "a LinearClassifier with one coefficient row needs exactly 2 class labels, but '" +
          std::string(labels.attribute()) + "' has " + std::to_string(n_labels));
    } else if (post != PostTransform::kNone && post != PostTransform::kLogistic) {
      return UnimplementedError(
          "post_transform SOFTMAX, SOFTMAX_ZERO and PROBIT are not supported for a "
          "LinearClassifier with one "
          "coefficient row and two class labels (its scores are [1 - p, p])");
    }
  }
  if (intercepts.empty()) intercepts.assign(static_cast<size_t>(rows), 0.0f);
  AffineMap map(std::move(coef), std::move(intercepts), rows, features);
  return MakeKernel<LinearClassifierKernel>(std::move(map), std::move(labels), post, two_columns);
}

// ------------------------------------------------------ LinearRegressor ---

// Y = X W^T + intercepts, [N, targets], then post_transform per row.
class LinearRegressorKernel final : public Kernel {
 public:
  LinearRegressorKernel(AffineMap map, PostTransform post) : map_(std::move(map)), post_(post) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    ASSIGN_OR_RETURN(const int64_t n, BatchRows(*x, map_.features()));
    float* conv = nullptr;
    if (const size_t c = ConversionFloats(*x); c > 0) {
      ASSIGN_OR_RETURN(conv, ctx.Scratch<float>(c));
    }
    const float* xs = AsFloat(*x, conv);
    const int64_t targets = map_.outputs();
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, DataType::kFloat, Shape{n, targets}));
    float* out = y->mutable_data<float>();
    const int64_t features = map_.features();
    for (int64_t r = 0; r < n; ++r) {
      map_.Apply(xs + r * features, out + r * targets);
      TransformRow(post_, out + r * targets, targets);
    }
    return OkStatus();
  }

 private:
  AffineMap map_;
  PostTransform post_;
};

StatusOr<std::unique_ptr<Kernel>> CreateLinearRegressor(const KernelInfo& info) {
  const NodeAttributes& a = info.attrs;
  ASSIGN_OR_RETURN(std::vector<float> coef, RequiredFloats(a, "coefficients"));
  ASSIGN_OR_RETURN(std::vector<float> intercepts, a.Floats("intercepts"));
  ASSIGN_OR_RETURN(PostTransform post, ReadPostTransform(a));
  ASSIGN_OR_RETURN(const int64_t targets, a.Int("targets", 1));
  RETURN_IF_ERROR(CheckDeclaredType(info));
  ASSIGN_OR_RETURN(const int64_t declared_f, DeclaredFeatures(info));
  const int64_t n_coef = static_cast<int64_t>(coef.size());
  if (targets < 1 || targets > n_coef) {
    return InvalidArgumentError("attribute 'targets' is " + std::to_string(targets) +
                                ", expected 1 to " + std::to_string(n_coef) +
                                " (the number of coefficients)");
  }
  if (declared_f >= 0 && n_coef != targets * declared_f) {
    return InvalidArgumentError("attribute 'coefficients' has " + std::to_string(n_coef) +
                                " values, expected " + std::to_string(targets) + " targets x " +
                                std::to_string(declared_f) +
                                " features = " + std::to_string(targets * declared_f));
  }
  if (n_coef % targets != 0) {
    return InvalidArgumentError("attribute 'coefficients' has " + std::to_string(n_coef) +
                                " values, which is not a multiple of 'targets' (" +
                                std::to_string(targets) + ")");
  }
  if (!intercepts.empty() && static_cast<int64_t>(intercepts.size()) != targets) {
    return InvalidArgumentError("attribute 'intercepts' has " + std::to_string(intercepts.size()) +
                                " values, expected one per target (" + std::to_string(targets) +
                                ")");
  }
  if (intercepts.empty()) intercepts.assign(static_cast<size_t>(targets), 0.0f);
  AffineMap map(std::move(coef), std::move(intercepts), targets, n_coef / targets);
  return MakeKernel<LinearRegressorKernel>(std::move(map), post);
}

// ------------------------------------------------------------------ SVM ---

// K(x, sv) for the spec's kernel_type with kernel_params [gamma, coef0, degree].
struct SvmKernelFunction {
  enum class Type { kLinear, kPoly, kRbf, kSigmoid };
  Type type = Type::kLinear;
  float gamma = 0;
  float coef0 = 0;
  float degree = 0;

  float operator()(const float* x, const float* sv, int64_t n) const {
    switch (type) {
      case Type::kLinear:
        return Dot(x, sv, n);
      case Type::kPoly:
        return static_cast<float>(
            std::pow(static_cast<double>(gamma * Dot(x, sv, n) + coef0), degree));
      case Type::kRbf:
        return std::exp(-gamma * SquaredDistance(x, sv, n));
      case Type::kSigmoid:
        return std::tanh(gamma * Dot(x, sv, n) + coef0);
    }
    return 0;
  }
};

StatusOr<SvmKernelFunction> ReadSvmKernel(const NodeAttributes& a) {
  SvmKernelFunction k;
  ASSIGN_OR_RETURN(std::string type, a.String("kernel_type", std::string("LINEAR")));
  if (type == "LINEAR")
    k.type = SvmKernelFunction::Type::kLinear;
  else if (type == "POLY")
    k.type = SvmKernelFunction::Type::kPoly;
  else if (type == "RBF")
    k.type = SvmKernelFunction::Type::kRbf;
  else if (type == "SIGMOID")
    k.type = SvmKernelFunction::Type::kSigmoid;
  else
    return InvalidArgumentError(
        "attribute 'kernel_type' must be LINEAR, POLY, RBF or SIGMOID, got '" + type + "'");
  ASSIGN_OR_RETURN(std::vector<float> params, a.Floats("kernel_params"));
  if (!params.empty()) {
    if (params.size() != 3) {
      return InvalidArgumentError(
          "attribute 'kernel_params' must hold [gamma, coef0, degree], got " +
          std::to_string(params.size()) + " values");
    }
    k.gamma = params[0];
    k.coef0 = params[1];
    k.degree = params[2];
  }
  return k;
}

// Checks `features` against the declared shape of X.
Status CheckFeatures(const KernelInfo& info, int64_t features, const std::string& what) {
  ASSIGN_OR_RETURN(const int64_t declared_f, DeclaredFeatures(info));
  if (declared_f >= 0 && declared_f != features) {
    return InvalidArgumentError(what + " imply " + std::to_string(features) +
                                " features, but input 'X' is declared with " +
                                std::to_string(declared_f));
  }
  return OkStatus();
}

// libsvm's pairwise coupling of one-vs-one probabilities into class
// probabilities: Wu, Lin & Weng, "Probability Estimates for Multi-class
// Classification by Pairwise Coupling", JMLR 2004, method 2 (fixed-point
// iteration on Q p = (p^T Q p) 1). r is k x k with r[i][j] = P(i | i or j).
void CoupleProbabilities(int64_t k, const double* r, double* q, double* qp, double* p) {
  for (int64_t t = 0; t < k; ++t) {
    p[t] = 1.0 / static_cast<double>(k);
    q[t * k + t] = 0;
    for (int64_t j = 0; j < k; ++j) {
      if (j == t) continue;
      q[t * k + t] += r[j * k + t] * r[j * k + t];
      q[t * k + j] = -r[j * k + t] * r[t * k + j];
    }
  }
  const double eps = 0.005 / static_cast<double>(k);
  const int64_t max_iter = std::max<int64_t>(100, k);
  for (int64_t iter = 0; iter < max_iter; ++iter) {
    double pqp = 0;
    for (int64_t t = 0; t < k; ++t) {
      qp[t] = 0;
      for (int64_t j = 0; j < k; ++j) qp[t] += q[t * k + j] * p[j];
      pqp += p[t] * qp[t];
    }
    double max_error = 0;
    for (int64_t t = 0; t < k; ++t) max_error = std::max(max_error, std::abs(qp[t] - pqp));
    if (max_error < eps) break;
    for (int64_t t = 0; t < k; ++t) {
      const double diff = (pqp - qp[t]) / q[t * k + t];
      p[t] += diff;
      pqp = (pqp + diff * (diff * q[t * k + t] + 2 * qp[t])) / (1 + diff) / (1 + diff);
      for (int64_t j = 0; j < k; ++j) {
        qp[j] = (qp[j] + diff * q[t * k + j]) / (1 + diff);
        p[j] /= (1 + diff);
      }
    }
  }
}

// SVMClassifier. With vectors_per_class (libsvm SVC): one-vs-one decisions
//   d_ij = sum_{v in i} coef[j-1][v] K(x, v) + sum_{v in j} coef[i][v] K(x, v) + rho[ij]
// for i < j in order (0,1), (0,2) ... (1,2) ...; d_ij > 0 votes for i; the
// label is the class with most votes (ties: lowest index), as libsvm and
// ONNX Runtime. Scores: with prob_a/prob_b, Platt-scaled pairwise
// probabilities coupled into [N, classes]; otherwise the decisions
// [N, classes*(classes-1)/2], or for two classes [-d, d] (ONNX Runtime).
// Without vectors_per_class (liblinear): scores = X W^T + rho[0] per class,
// label = argmax.
class SvmClassifierKernel final : public Kernel {
 public:
  struct Model {
    ClassLabels labels;
    SvmKernelFunction kernel;
    PostTransform post = PostTransform::kNone;
    int64_t classes = 0;
    int64_t features = 0;
    // SVC mode
    int64_t vectors = 0;
    std::vector<int64_t> starts;         // classes + 1 offsets into the support vectors
    std::vector<float> support_vectors;  // [vectors, features]
    std::vector<float> coefficients;     // [classes - 1, vectors]
    std::vector<float> rho;              // one per class pair
    std::vector<float> prob_a, prob_b;   // empty, or one per class pair
    // linear mode (vectors == 0)
    AffineMap linear;
  };

  explicit SvmClassifierKernel(Model m) : m_(std::move(m)) {
    const int64_t c = m_.classes;
    pairs_ = c * (c - 1) / 2;
    if (m_.vectors == 0)
      width_ = c;
    else if (!m_.prob_a.empty())
      width_ = c;
    else
      width_ = c == 2 ? 2 : pairs_;
  }

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    ASSIGN_OR_RETURN(const int64_t n, BatchRows(*x, m_.features));
    const int64_t c = m_.classes;
    const bool svc = m_.vectors > 0;
    const bool proba = svc && !m_.prob_a.empty();
    ScratchLayout layout;
    const size_t conv_at = layout.Add<float>(ConversionFloats(*x));
    const size_t row_at = layout.Add<float>(static_cast<size_t>(width_));
    const size_t k_at = layout.Add<float>(static_cast<size_t>(m_.vectors));
    const size_t d_at = layout.Add<double>(static_cast<size_t>(svc ? pairs_ : 0));
    const size_t votes_at = layout.Add<int64_t>(static_cast<size_t>(svc ? c : 0));
    const size_t cc = static_cast<size_t>(proba ? c * c : 0);
    const size_t r_at = layout.Add<double>(cc);
    const size_t q_at = layout.Add<double>(cc);
    const size_t qp_at = layout.Add<double>(static_cast<size_t>(proba ? c : 0));
    const size_t p_at = layout.Add<double>(static_cast<size_t>(proba ? c : 0));
    ASSIGN_OR_RETURN(uint8_t * scratch, ctx.Scratch<uint8_t>(layout.bytes()));
    const float* xs = AsFloat(*x, ScratchAt<float>(scratch, conv_at));
    ASSIGN_OR_RETURN(ClassifierOutputs out,
                     MakeClassifierOutputs(ctx, m_.labels.dtype(), n, width_));
    float* kvals = ScratchAt<float>(scratch, k_at);
    double* d = ScratchAt<double>(scratch, d_at);
    int64_t* votes = ScratchAt<int64_t>(scratch, votes_at);

    for (int64_t r = 0; r < n; ++r) {
      const float* xr = xs + r * m_.features;
      float* row =
          out.scores != nullptr ? out.scores + r * width_ : ScratchAt<float>(scratch, row_at);
      if (!svc) {
        m_.linear.Apply(xr, row);
        m_.labels.Write(out.labels, r, ArgMax(row, c));
        TransformRow(m_.post, row, c);
        continue;
      }
      for (int64_t v = 0; v < m_.vectors; ++v) {
        kvals[v] = m_.kernel(xr, m_.support_vectors.data() + v * m_.features, m_.features);
      }
      std::fill(votes, votes + c, int64_t{0});
      int64_t pair = 0;
      for (int64_t i = 0; i < c; ++i) {
        for (int64_t j = i + 1; j < c; ++j, ++pair) {
          double sum = m_.rho[static_cast<size_t>(pair)];
          const float* ci =
              m_.coefficients.data() + (j - 1) * m_.vectors;  // weights of class i's vectors
          const float* cj =
              m_.coefficients.data() + i * m_.vectors;  // weights of class j's vectors
          for (int64_t v = m_.starts[static_cast<size_t>(i)];
               v < m_.starts[static_cast<size_t>(i + 1)]; ++v)
            sum += static_cast<double>(ci[v]) * kvals[v];
          for (int64_t v = m_.starts[static_cast<size_t>(j)];
               v < m_.starts[static_cast<size_t>(j + 1)]; ++v)
            sum += static_cast<double>(cj[v]) * kvals[v];
          d[pair] = sum;
          ++votes[sum > 0 ? i : j];
        }
      }
      int64_t winner = 0;
      for (int64_t k = 1; k < c; ++k)
        if (votes[k] > votes[winner]) winner = k;
      m_.labels.Write(out.labels, r, winner);

      if (proba) {
        double* rp = ScratchAt<double>(scratch, r_at);
        double* p = ScratchAt<double>(scratch, p_at);
        pair = 0;
        for (int64_t i = 0; i < c; ++i) {
          for (int64_t j = i + 1; j < c; ++j, ++pair) {
            // Platt: P(i | i or j) = 1 / (1 + exp(A d + B)), clipped as libsvm.
            const double f = d[pair] * m_.prob_a[static_cast<size_t>(pair)] +
                             m_.prob_b[static_cast<size_t>(pair)];
            double pij = f >= 0 ? std::exp(-f) / (1.0 + std::exp(-f)) : 1.0 / (1.0 + std::exp(f));
            pij = std::min(std::max(pij, 1e-7), 1.0 - 1e-7);
            rp[i * c + j] = pij;
            rp[j * c + i] = 1.0 - pij;
          }
        }
        // Two classes are coupled iteratively too: scikit-learn's libsvm and
        // ONNX Runtime do so (newer libsvm releases use r[0][1] directly).
        CoupleProbabilities(c, rp, ScratchAt<double>(scratch, q_at),
                            ScratchAt<double>(scratch, qp_at), p);
        for (int64_t k = 0; k < c; ++k) row[k] = static_cast<float>(p[k]);
        TransformRow(m_.post, row, c);
      } else if (c == 2) {
        const float s = static_cast<float>(d[0]);
        if (m_.post == PostTransform::kLogistic) {
          row[0] = LogisticF(-s);
          row[1] = LogisticF(s);
        } else {
          row[0] = -s;
          row[1] = s;
        }
      } else {
        for (int64_t k = 0; k < pairs_; ++k) row[k] = static_cast<float>(d[k]);
        TransformRow(m_.post, row, pairs_);
      }
    }
    return OkStatus();
  }

 private:
  Model m_;
  int64_t pairs_ = 0;
  int64_t width_ = 0;
};

StatusOr<std::unique_ptr<Kernel>> CreateSvmClassifier(const KernelInfo& info) {
  const NodeAttributes& a = info.attrs;
  SvmClassifierKernel::Model m;
  ASSIGN_OR_RETURN(m.labels, ReadClassLabels(a));
  ASSIGN_OR_RETURN(m.kernel, ReadSvmKernel(a));
  ASSIGN_OR_RETURN(m.post, ReadPostTransform(a));
  ASSIGN_OR_RETURN(std::vector<float> coef, RequiredFloats(a, "coefficients"));
  ASSIGN_OR_RETURN(m.rho, RequiredFloats(a, "rho"));
  ASSIGN_OR_RETURN(std::vector<int64_t> per_class, a.Ints("vectors_per_class"));
  ASSIGN_OR_RETURN(m.support_vectors, a.Floats("support_vectors"));
  ASSIGN_OR_RETURN(m.prob_a, a.Floats("prob_a"));
  ASSIGN_OR_RETURN(m.prob_b, a.Floats("prob_b"));
  RETURN_IF_ERROR(CheckDeclaredType(info));
  m.classes = m.labels.size();
  if (m.classes == 0) {
    return InvalidArgumentError(
        "one of the attributes 'classlabels_strings' and 'classlabels_ints' is required");
  }
  if (m.prob_a.size() != m.prob_b.size()) {
    return InvalidArgumentError("attributes 'prob_a' and 'prob_b' must have the same length, got " +
                                std::to_string(m.prob_a.size()) + " and " +
                                std::to_string(m.prob_b.size()));
  }
  const int64_t c = m.classes;
  const int64_t n_coef = static_cast<int64_t>(coef.size());
  int64_t vectors = 0;
  for (int64_t v : per_class) {
    if (v < 0 || v > n_coef) {
      return InvalidArgumentError("attribute 'vectors_per_class' holds an invalid count " +
                                  std::to_string(v));
    }
    vectors += v;
  }
  if (vectors == 0) {
    // liblinear mode: one coefficient row per class, rho[0] added to each.
    if (!m.prob_a.empty()) {
      return UnimplementedError(
          "attributes 'prob_a'/'prob_b' are only supported with support vectors "
          "('vectors_per_class')");
    }
    if (n_coef % c != 0) {
      return InvalidArgumentError("attribute 'coefficients' has " + std::to_string(n_coef) +
                                  " values, which is not a multiple of the " + std::to_string(c) +
                                  " classes");
    }
    m.features = n_coef / c;
    RETURN_IF_ERROR(
        CheckFeatures(info, m.features, "attribute 'coefficients' and the class labels"));
    m.linear = AffineMap(std::move(coef), std::vector<float>(static_cast<size_t>(c), m.rho[0]), c,
                         m.features);
    return MakeKernel<SvmClassifierKernel>(std::move(m));
  }
  if (static_cast<int64_t>(per_class.size()) != c) {
    return InvalidArgumentError("attribute 'vectors_per_class' has " +
                                std::to_string(per_class.size()) +
                                " entries, expected one per class (" + std::to_string(c) + ")");
  }
  if (c < 2)
    return InvalidArgumentError("an SVMClassifier with support vectors needs at least two classes");
  const int64_t pairs = c * (c - 1) / 2;
  const int64_t n_sv = static_cast<int64_t>(m.support_vectors.size());
  if (n_sv == 0 || n_sv % vectors != 0) {
    return InvalidArgumentError("attribute 'support_vectors' has " + std::to_string(n_sv) +
                                " values, which is not a positive multiple of the " +
                                std::to_string(vectors) +
                                " support vectors counted by 'vectors_per_class'");
  }
  if (n_coef != (c - 1) * vectors) {
    return InvalidArgumentError("attribute 'coefficients' has " + std::to_string(n_coef) +
                                " values, expected " + std::to_string(c - 1) + " x " +
                                std::to_string(vectors) +
                                " support vectors = " + std::to_string((c - 1) * vectors));
  }
  if (static_cast<int64_t>(m.rho.size()) != pairs) {
    return InvalidArgumentError("attribute 'rho' has " + std::to_string(m.rho.size()) +
                                " values, expected " + std::to_string(pairs) +
                                " (one per pair of classes)");
  }
  if (!m.prob_a.empty() && static_cast<int64_t>(m.prob_a.size()) != pairs) {
    return InvalidArgumentError("attribute 'prob_a' has " + std::to_string(m.prob_a.size()) +
                                " values, expected " + std::to_string(pairs) +
                                " (one per pair of classes)");
  }
  if (m.prob_a.empty() && c == 2 && m.post != PostTransform::kNone &&
      m.post != PostTransform::kLogistic) {
    return UnimplementedError(
        "post_transform SOFTMAX, SOFTMAX_ZERO and PROBIT are not supported for a "
        "two-class SVMClassifier without probabilities (its scores are [-d, d])");
  }
  m.vectors = vectors;
  m.features = n_sv / vectors;
  RETURN_IF_ERROR(
      CheckFeatures(info, m.features, "attribute 'support_vectors' and 'vectors_per_class'"));
  m.starts.assign(1, 0);
  for (int64_t v : per_class) m.starts.push_back(m.starts.back() + v);
  m.coefficients = std::move(coef);
  return MakeKernel<SvmClassifierKernel>(std::move(m));
}

// SVMRegressor: y = sum_v coef[v] K(x, sv_v) + rho[0] ([N, 1]); without
// support vectors (n_supports = 0) y = x . coefficients + rho[0]. one_class
// maps y to +1 / -1 (y > 0).
class SvmRegressorKernel final : public Kernel {
 public:
  SvmRegressorKernel(SvmKernelFunction kernel, int64_t vectors, int64_t features,
                     std::vector<float> sv, std::vector<float> coef, float rho, bool one_class,
                     PostTransform post)
      : kernel_(kernel),
        vectors_(vectors),
        features_(features),
        sv_(std::move(sv)),
        coef_(std::move(coef)),
        rho_(rho),
        one_class_(one_class),
        post_(post) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    ASSIGN_OR_RETURN(const int64_t n, BatchRows(*x, features_));
    float* conv = nullptr;
    if (const size_t c = ConversionFloats(*x); c > 0) {
      ASSIGN_OR_RETURN(conv, ctx.Scratch<float>(c));
    }
    const float* xs = AsFloat(*x, conv);
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, DataType::kFloat, Shape{n, 1}));
    float* out = y->mutable_data<float>();
    for (int64_t r = 0; r < n; ++r) {
      const float* xr = xs + r * features_;
      float v;
      if (vectors_ == 0) {
        v = Dot(xr, coef_.data(), features_) + rho_;
      } else {
        double sum = rho_;
        for (int64_t k = 0; k < vectors_; ++k)
          sum += static_cast<double>(coef_[static_cast<size_t>(k)]) *
                 kernel_(xr, sv_.data() + k * features_, features_);
        v = static_cast<float>(sum);
      }
      if (one_class_) v = v > 0 ? 1.0f : -1.0f;
      out[r] = v;
      TransformRow(post_, out + r, 1);
    }
    return OkStatus();
  }

 private:
  SvmKernelFunction kernel_;
  int64_t vectors_;
  int64_t features_;
  std::vector<float> sv_;
  std::vector<float> coef_;
  float rho_;
  bool one_class_;
  PostTransform post_;
};

StatusOr<std::unique_ptr<Kernel>> CreateSvmRegressor(const KernelInfo& info) {
  const NodeAttributes& a = info.attrs;
  ASSIGN_OR_RETURN(SvmKernelFunction kernel, ReadSvmKernel(a));
  ASSIGN_OR_RETURN(PostTransform post, ReadPostTransform(a));
  ASSIGN_OR_RETURN(std::vector<float> coef, RequiredFloats(a, "coefficients"));
  ASSIGN_OR_RETURN(std::vector<float> rho, RequiredFloats(a, "rho"));
  ASSIGN_OR_RETURN(std::vector<float> sv, a.Floats("support_vectors"));
  ASSIGN_OR_RETURN(const int64_t vectors, a.Int("n_supports", 0));
  ASSIGN_OR_RETURN(const int64_t one_class, a.Int("one_class", 0));
  RETURN_IF_ERROR(CheckDeclaredType(info));
  if (one_class != 0 && post != PostTransform::kNone) {
    return UnimplementedError("post_transform must be NONE when 'one_class' is set");
  }
  const int64_t n_coef = static_cast<int64_t>(coef.size());
  int64_t features;
  if (vectors < 0) return InvalidArgumentError("attribute 'n_supports' must not be negative");
  if (vectors == 0) {
    // Linear mode (ONNX Runtime): the coefficients are the weights.
    features = n_coef;
    RETURN_IF_ERROR(CheckFeatures(info, features, "attribute 'coefficients' (n_supports = 0)"));
  } else {
    const int64_t n_sv = static_cast<int64_t>(sv.size());
    if (n_coef != vectors) {
      return InvalidArgumentError("attribute 'coefficients' has " + std::to_string(n_coef) +
                                  " values, expected one per support vector (n_supports = " +
                                  std::to_string(vectors) + ")");
    }
    if (n_sv == 0 || n_sv % vectors != 0) {
      return InvalidArgumentError(
          "attribute 'support_vectors' has " + std::to_string(n_sv) +
          " values, which is not a positive multiple of n_supports = " + std::to_string(vectors));
    }
    features = n_sv / vectors;
    RETURN_IF_ERROR(CheckFeatures(info, features, "attribute 'support_vectors' and 'n_supports'"));
  }
  return MakeKernel<SvmRegressorKernel>(kernel, vectors, features, std::move(sv), std::move(coef),
                                        rho[0], one_class != 0, post);
}

}  // namespace

void RegisterMlLinearKernels(KernelRegistry& r) {
  const std::string_view d = kMlDomain;
  r.Add(d, "LinearClassifier", 1, CreateLinearClassifier);
  r.Add(d, "LinearRegressor", 1, CreateLinearRegressor);
  r.Add(d, "SVMClassifier", 1, CreateSvmClassifier);
  r.Add(d, "SVMRegressor", 1, CreateSvmRegressor);
}

}  // namespace rtml::engine::internal
