// Linear algebra and normalisation operators: MatMul, Gemm, Softmax,
// LogSoftmax, Hardmax, BatchNormalization (inference), LayerNormalization,
// InstanceNormalization, MeanVarianceNormalization.
//
// Float MatMul/Gemm run on the packed GEMM core (engine/internal/gemm.h); a
// constant B is packed once in the factory. Other numeric types use a plain
// triple loop that accumulates in the element type (integers wrap around).
#include <algorithm>
#include <cmath>
#include <optional>
#include <type_traits>

#include "engine/internal/gemm.h"
#include "engine/internal/kernel_util.h"
#include "engine/internal/registry.h"

namespace rtml::engine::internal {
namespace {

// ------------------------------------------------------------- helpers ---

int64_t DimProduct(const Shape& s, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; ++i) p *= s[i];
  return p;
}

// "[?,3]" for partially known static dimensions.
std::string DimsToString(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) out += ',';
    out += dims[i] < 0 ? std::string("?") : std::to_string(dims[i]);
  }
  return out + "]";
}

std::string TypeMismatch(std::string_view what, DataType got, DataType want) {
  return std::string(what) + " has datatype " + std::string(DataTypeName(got)) + ", expected " +
         std::string(DataTypeName(want));
}

// Splits one scratch allocation into 64-byte aligned pieces.
constexpr size_t RoundUpTo16(size_t n) { return (n + 15) / 16 * 16; }

// Packing pads B to whole panels; a pathological constant (say [K, 1] with a
// huge K) is left to the per-call path, whose scratch size is checked.
bool PackableConstant(int64_t k, int64_t n) {
  return PackedBSize(k, n) <= static_cast<size_t>(Tensor::kMaxBytes) / sizeof(float);
}

// Reads element i of a FP32 or FP64 tensor.
double FloatingAt(const Tensor& t, int64_t i) {
  return t.dtype() == DataType::kDouble ? t.data<double>()[i]
                                        : static_cast<double>(t.data<float>()[i]);
}

// acc + a * b; integers wrap around (as ONNX Runtime's integer GEMM does),
// computed in uint64 so that no signed overflow is undefined behaviour.
template <typename T>
inline T MulAdd(T acc, T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return acc + a * b;
  } else {
    return static_cast<T>(static_cast<uint64_t>(acc) +
                          static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  }
}

template <typename T>
inline T ScaleBy(T v, float f) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(f) * v;
  } else {
    return static_cast<T>(static_cast<double>(f) * static_cast<double>(v));
  }
}

// C (m x n, contiguous) = op(A) * op(B) for any numeric type. Element (i, p)
// of op(A) is a[i * a_rs + p * a_cs]; element (p, j) of op(B) is
// b[p * b_rs + j * b_cs]. The inner loop runs along a row of C.
template <typename T>
void NaiveGemm(int64_t m, int64_t n, int64_t k, const T* a, int64_t a_rs, int64_t a_cs, const T* b,
               int64_t b_rs, int64_t b_cs, T* c) {
  for (int64_t i = 0; i < m; ++i) {
    T* row = c + i * n;
    std::fill(row, row + n, T(0));
    for (int64_t p = 0; p < k; ++p) {
      const T av = a[i * a_rs + p * a_cs];
      const T* bp = b + p * b_rs;
      if (b_cs == 1) {
        for (int64_t j = 0; j < n; ++j) row[j] = MulAdd(row[j], av, bp[j]);
      } else {
        for (int64_t j = 0; j < n; ++j) row[j] = MulAdd(row[j], av, bp[j * b_cs]);
      }
    }
  }
}

// ------------------------------------------------------------- MatMul ---

// numpy.matmul shapes: a 1-D A is a row vector and a 1-D B a column vector
// (the added dimension is dropped from the result); leading dimensions
// broadcast.
struct MatMulDims {
  int64_t m = 1;
  int64_t k = 1;
  int64_t n = 1;
  Shape a_batch;
  Shape b_batch;
  Shape batch;
  Shape out;
};

StatusOr<MatMulDims> MatMulShapes(const Shape& a, const Shape& b) {
  if (a.rank() == 0 || b.rank() == 0) {
    return InvalidArgumentError("inputs must have rank >= 1, got " + a.ToString() + " x " +
                                b.ToString());
  }
  MatMulDims d;
  const bool a_vector = a.rank() == 1;
  const bool b_vector = b.rank() == 1;
  d.m = a_vector ? 1 : a[a.rank() - 2];
  d.k = a[a.rank() - 1];
  const int64_t kb = b_vector ? b[0] : b[b.rank() - 2];
  d.n = b_vector ? 1 : b[b.rank() - 1];
  if (d.k != kb) {
    return InvalidArgumentError("inner dimensions differ: " + a.ToString() + " x " + b.ToString());
  }
  for (int i = 0; i < a.rank() - 2; ++i) d.a_batch.PushBack(a[i]);
  for (int i = 0; i < b.rank() - 2; ++i) d.b_batch.PushBack(b[i]);
  auto batch = BroadcastShapes(d.a_batch, d.b_batch);
  if (!batch.ok()) {
    return InvalidArgumentError("batch dimensions of " + a.ToString() + " and " + b.ToString() +
                                " cannot be broadcast together");
  }
  d.batch = *batch;
  d.out = d.batch;
  if (!a_vector) d.out.PushBack(d.m);
  if (!b_vector) d.out.PushBack(d.n);
  return d;
}

class MatMulKernel final : public Kernel {
 public:
  // `packed` holds B when it is a constant FP32 matrix or vector. `bias` (one
  // value per output column) and `activation` are the fused epilogue of the
  // FusedMatMul form (MatMul + Add [+ Relu], see fusion.cc); FP32 only.
  explicit MatMulKernel(std::optional<PackedB> packed, std::vector<float> bias = {},
                        GemmActivation activation = GemmActivation::kNone)
      : packed_(std::move(packed)), bias_(std::move(bias)), activation_(activation) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* a, RequireInput(ctx, 0, "A"));
    ASSIGN_OR_RETURN(const Tensor* b, RequireInput(ctx, 1, "B"));
    if (a->dtype() != b->dtype()) {
      return InvalidArgumentError(TypeMismatch("input 'B'", b->dtype(), a->dtype()));
    }
    ASSIGN_OR_RETURN(MatMulDims d, MatMulShapes(a->shape(), b->shape()));
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, a->dtype(), d.out));
    if (y->size() == 0) return OkStatus();
    const bool fused = !bias_.empty() || activation_ != GemmActivation::kNone;
    if (packed_.has_value() && b->rank() <= 2) {
      // A's leading dimensions fold into the rows of one GEMM.
      GemmEpilogue ep;
      ep.bias = bias_.empty() ? nullptr : bias_.data();
      ep.activation = activation_;
      GemmPacked(y->size() / d.n, d.n, d.k, a->data<float>(), d.k, packed_->data(),
                 y->mutable_data<float>(), d.n, ep);
      return OkStatus();
    }
    RETURN_IF_ERROR(DispatchNumeric(a->dtype(), "MatMul", [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      return Batched<T>(ctx, *a, *b, d, *y);
    }));
    if (fused && y->dtype() == DataType::kFloat) {
      float* py = y->mutable_data<float>();
      const int64_t cols = d.n;
      for (int64_t i = 0; i < y->size(); ++i) {
        float v = py[i] + (bias_.empty() ? 0.0f : bias_[static_cast<size_t>(i % cols)]);
        if (activation_ == GemmActivation::kRelu) v = v > 0.0f ? v : 0.0f;
        py[i] = v;
      }
    }
    return OkStatus();
  }

 private:
  template <typename T>
  Status Batched(KernelContext& ctx, const Tensor& a, const Tensor& b, const MatMulDims& d,
                 Tensor& y) const {
    const int64_t a_size = d.m * d.k;
    const int64_t b_size = d.k * d.n;
    const int64_t c_size = d.m * d.n;
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pc = y.mutable_data<T>();
    float* packed = nullptr;
    if constexpr (std::is_same_v<T, float>) {
      if (d.k > 0) {
        ASSIGN_OR_RETURN(packed, ctx.Scratch<float>(PackedBSize(d.k, d.n)));
      }
    } else {
      (void)ctx;
    }
    int64_t packed_index = -1;
    const Shape* shapes[2] = {&d.a_batch, &d.b_batch};
    BroadcastWalker walker(d.batch, shapes, 2);
    walker.ForEachRun([&](int64_t o, const int64_t* offs, int64_t len, const int64_t* st) {
      for (int64_t i = 0; i < len; ++i) {
        const T* ma = pa + (offs[0] + i * st[0]) * a_size;
        const int64_t bi = offs[1] + i * st[1];
        T* mc = pc + (o + i) * c_size;
        if constexpr (std::is_same_v<T, float>) {
          if (bi != packed_index && packed != nullptr) {
            PackB(pb + bi * b_size, d.n, false, d.k, d.n, packed);
            packed_index = bi;
          }
          GemmPacked(d.m, d.n, d.k, ma, d.k, packed, mc, d.n);
        } else {
          NaiveGemm<T>(d.m, d.n, d.k, ma, d.k, 1, pb + bi * b_size, d.n, 1, mc);
        }
      }
    });
    return OkStatus();
  }

  std::optional<PackedB> packed_;
  std::vector<float> bias_;
  GemmActivation activation_ = GemmActivation::kNone;
};

StatusOr<GemmActivation> FusedActivation(const KernelInfo& info) {
  ASSIGN_OR_RETURN(std::string act, info.attrs.String("activation", std::string()));
  if (act.empty()) return GemmActivation::kNone;
  if (act == "Relu") return GemmActivation::kRelu;
  return InvalidArgumentError("unknown fused activation '" + act + "'");
}

// ai.rtml FusedMatMul(A, B, bias) = activation(MatMul(A, B) + bias), created
// by the fusion pass for a constant FP32 2-D B and a bias of B's columns.
StatusOr<std::unique_ptr<Kernel>> CreateFusedMatMul(const KernelInfo& info) {
  const Tensor* b = info.constant_input(1);
  const Tensor* bias = info.constant_input(2);
  if (b == nullptr || bias == nullptr || b->dtype() != DataType::kFloat || b->rank() != 2 ||
      bias->dtype() != DataType::kFloat || bias->size() != b->shape()[1]) {
    return InternalError("FusedMatMul needs a constant FP32 [K,N] weight and an N-element bias");
  }
  ASSIGN_OR_RETURN(GemmActivation act, FusedActivation(info));
  const int64_t k = b->shape()[0];
  const int64_t n = b->shape()[1];
  std::vector<float> bias_values(bias->data<float>(), bias->data<float>() + n);
  std::optional<PackedB> packed;
  if (PackableConstant(k, n)) packed.emplace(b->data<float>(), n, false, k, n);
  return MakeKernel<MatMulKernel>(std::move(packed), std::move(bias_values), act);
}

StatusOr<std::unique_ptr<Kernel>> CreateMatMul(const KernelInfo& info) {
  const Tensor* b = info.constant_input(1);
  if (b == nullptr) return MakeKernel<MatMulKernel>(std::nullopt);
  if (b->rank() == 0) return InvalidArgumentError("input 'B' must have rank >= 1, got a scalar");
  const int64_t kb = b->rank() == 1 ? b->shape()[0] : b->shape()[b->rank() - 2];
  const int64_t n = b->rank() == 1 ? 1 : b->shape()[b->rank() - 1];
  if (info.input(0).dims.has_value() && !info.input(0).dims->empty()) {
    const int64_t ka = info.input(0).dims->back();
    if (ka >= 0 && ka != kb) {
      return InvalidArgumentError("inner dimensions differ: " + DimsToString(*info.input(0).dims) +
                                  " x " + b->shape().ToString());
    }
  }
  if (b->dtype() != DataType::kFloat || b->rank() > 2 || !PackableConstant(kb, n)) {
    return MakeKernel<MatMulKernel>(std::nullopt);
  }
  return MakeKernel<MatMulKernel>(PackedB(b->data<float>(), n, false, kb, n));
}

// --------------------------------------------------------------- Gemm ---

struct GemmAttrs {
  float alpha = 1.0f;
  float beta = 1.0f;
  bool trans_a = false;
  bool trans_b = false;
  bool c_required = true;  // C became optional in opset 11
  GemmActivation activation = GemmActivation::kNone;  // fused Relu (fusion.cc)
};

class GemmKernel final : public Kernel {
 public:
  // `packed`: constant FP32 B (already transposed if transB). `bias`: beta * C
  // for a constant FP32 row-vector C, expanded to the N columns.
  GemmKernel(GemmAttrs attrs, std::optional<PackedB> packed, std::vector<float> bias)
      : attrs_(attrs), packed_(std::move(packed)), bias_(std::move(bias)) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* a, RequireInput(ctx, 0, "A"));
    ASSIGN_OR_RETURN(const Tensor* b, RequireInput(ctx, 1, "B"));
    const Tensor* c = ctx.input(2);
    if (c == nullptr && attrs_.c_required) {
      return InvalidArgumentError("input 'C' is required before opset 11");
    }
    if (a->rank() != 2)
      return InvalidArgumentError("input 'A' must be 2-D, got " + a->shape().ToString());
    if (b->rank() != 2)
      return InvalidArgumentError("input 'B' must be 2-D, got " + b->shape().ToString());
    if (b->dtype() != a->dtype()) {
      return InvalidArgumentError(TypeMismatch("input 'B'", b->dtype(), a->dtype()));
    }
    const int64_t m = attrs_.trans_a ? a->shape()[1] : a->shape()[0];
    const int64_t k = attrs_.trans_a ? a->shape()[0] : a->shape()[1];
    const int64_t kb = attrs_.trans_b ? b->shape()[1] : b->shape()[0];
    const int64_t n = attrs_.trans_b ? b->shape()[0] : b->shape()[1];
    if (k != kb) {
      return InvalidArgumentError("inner dimensions differ: A " + a->shape().ToString() +
                                  (attrs_.trans_a ? " (transA=1)" : "") + " x B " +
                                  b->shape().ToString() + (attrs_.trans_b ? " (transB=1)" : ""));
    }
    const Shape out_shape{m, n};
    const bool use_c = c != nullptr && attrs_.beta != 0.0f;
    bool c_is_row = false;  // C broadcasts along M: one value per column (or one in all)
    if (use_c) {
      if (c->dtype() != a->dtype()) {
        return InvalidArgumentError(TypeMismatch("input 'C'", c->dtype(), a->dtype()));
      }
      auto bs = BroadcastShapes(c->shape(), out_shape);
      if (c->rank() > 2 || !bs.ok() || *bs != out_shape) {
        return InvalidArgumentError("input 'C' of shape " + c->shape().ToString() +
                                    " does not broadcast to the result shape " +
                                    out_shape.ToString());
      }
      c_is_row = c->rank() < 2 || c->shape()[0] == 1;
    }
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, a->dtype(), out_shape));
    if (y->size() == 0) return OkStatus();
    if (a->dtype() == DataType::kFloat)
      return ComputeFloat(ctx, *a, *b, use_c ? c : nullptr, c_is_row, m, n, k, *y);
    return DispatchNumeric(a->dtype(), "Gemm", [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      const int64_t a1 = a->shape()[1];
      const int64_t b1 = b->shape()[1];
      T* py = y->mutable_data<T>();
      NaiveGemm<T>(m, n, k, a->data<T>(), attrs_.trans_a ? 1 : a1, attrs_.trans_a ? a1 : 1,
                   b->data<T>(), attrs_.trans_b ? 1 : b1, attrs_.trans_b ? b1 : 1, py);
      if (attrs_.alpha != 1.0f) {
        for (int64_t i = 0; i < y->size(); ++i) py[i] = ScaleBy(py[i], attrs_.alpha);
      }
      if (use_c) {
        const T* pc = c->data<T>();
        const Shape* shapes[1] = {&c->shape()};
        BroadcastWalker walker(out_shape, shapes, 1);
        const float beta = attrs_.beta;
        walker.ForEachRun([&](int64_t o, const int64_t* offs, int64_t len, const int64_t* st) {
          for (int64_t i = 0; i < len; ++i) {
            py[o + i] = static_cast<T>(py[o + i] + ScaleBy(pc[offs[0] + i * st[0]], beta));
          }
        });
      }
      if (attrs_.activation == GemmActivation::kRelu) {
        for (int64_t i = 0; i < y->size(); ++i) py[i] = py[i] > T(0) ? py[i] : T(0);
      }
      return OkStatus();
    });
  }

 private:
  Status ComputeFloat(KernelContext& ctx, const Tensor& a, const Tensor& b, const Tensor* c,
                      bool c_is_row, int64_t m, int64_t n, int64_t k, Tensor& y) const {
    // Scratch pieces: packed B, A^T, the bias row.
    const bool pack_b = !packed_.has_value();
    const bool transpose_a = attrs_.trans_a && k > 0;
    const bool const_bias =
        c != nullptr && !bias_.empty() && static_cast<int64_t>(bias_.size()) == n;
    const bool row_bias =
        c != nullptr && c_is_row && !const_bias && !(attrs_.beta == 1.0f && c->size() == n);
    const size_t b_floats = pack_b ? RoundUpTo16(PackedBSize(k, n)) : 0;
    const size_t a_floats = transpose_a ? RoundUpTo16(static_cast<size_t>(m * k)) : 0;
    const size_t bias_floats = row_bias ? RoundUpTo16(static_cast<size_t>(n)) : 0;
    float* scratch = nullptr;
    if (b_floats + a_floats + bias_floats > 0) {
      ASSIGN_OR_RETURN(scratch, ctx.Scratch<float>(b_floats + a_floats + bias_floats));
    }
    const float* pb = packed_.has_value() ? packed_->data() : scratch;
    if (pack_b) PackB(b.data<float>(), b.shape()[1], attrs_.trans_b, k, n, scratch);
    const float* pa = a.data<float>();
    if (transpose_a) {
      float* at = scratch + b_floats;
      for (int64_t p = 0; p < k; ++p)
        for (int64_t i = 0; i < m; ++i) at[i * k + p] = pa[p * m + i];
      pa = at;
    }
    float* py = y.mutable_data<float>();
    GemmEpilogue ep;
    ep.alpha = attrs_.alpha;
    ep.activation = attrs_.activation;
    if (c != nullptr) {
      const float* pc = c->data<float>();
      if (const_bias) {
        ep.bias = bias_.data();
      } else if (c_is_row && !row_bias) {
        ep.bias = pc;  // beta == 1 and one value per column
      } else if (row_bias) {
        float* bias = scratch + b_floats + a_floats;
        const bool one = c->size() == 1;
        for (int64_t j = 0; j < n; ++j) bias[j] = attrs_.beta * pc[one ? 0 : j];
        ep.bias = bias;
      } else {
        // C varies along M: pre-fill Y with beta * C and accumulate into it.
        const Shape out_shape{m, n};
        const Shape* shapes[1] = {&c->shape()};
        BroadcastWalker walker(out_shape, shapes, 1);
        const float beta = attrs_.beta;
        walker.ForEachRun([&](int64_t o, const int64_t* offs, int64_t len, const int64_t* st) {
          for (int64_t i = 0; i < len; ++i) py[o + i] = beta * pc[offs[0] + i * st[0]];
        });
        ep.accumulate = true;
      }
    }
    GemmPacked(m, n, k, pa, k, pb, py, n, ep);
    return OkStatus();
  }

  GemmAttrs attrs_;
  std::optional<PackedB> packed_;
  std::vector<float> bias_;
};

StatusOr<std::unique_ptr<Kernel>> CreateGemm(const KernelInfo& info) {
  GemmAttrs attrs;
  ASSIGN_OR_RETURN(attrs.alpha, info.attrs.Float("alpha", 1.0f));
  ASSIGN_OR_RETURN(attrs.beta, info.attrs.Float("beta", 1.0f));
  ASSIGN_OR_RETURN(int64_t trans_a, info.attrs.Int("transA", 0));
  ASSIGN_OR_RETURN(int64_t trans_b, info.attrs.Int("transB", 0));
  attrs.trans_a = trans_a != 0;
  attrs.trans_b = trans_b != 0;
  ASSIGN_OR_RETURN(attrs.activation, FusedActivation(info));
  attrs.c_required = info.opset < 11;
  if (attrs.c_required && !info.has_input(2)) {
    return InvalidArgumentError("input 'C' is required before opset 11");
  }
  const Tensor* b = info.constant_input(1);
  std::optional<PackedB> packed;
  std::vector<float> bias;
  if (b != nullptr && b->dtype() == DataType::kFloat) {
    if (b->rank() != 2)
      return InvalidArgumentError("input 'B' must be 2-D, got " + b->shape().ToString());
    const int64_t k = attrs.trans_b ? b->shape()[1] : b->shape()[0];
    const int64_t n = attrs.trans_b ? b->shape()[0] : b->shape()[1];
    if (info.input(0).dims.has_value() && info.input(0).dims->size() == 2) {
      const int64_t ka = (*info.input(0).dims)[attrs.trans_a ? 0 : 1];
      if (ka >= 0 && ka != k) {
        return InvalidArgumentError("inner dimensions differ: A " +
                                    DimsToString(*info.input(0).dims) +
                                    (attrs.trans_a ? " (transA=1)" : "") + " x B " +
                                    b->shape().ToString() + (attrs.trans_b ? " (transB=1)" : ""));
      }
    }
    if (PackableConstant(k, n))
      packed.emplace(b->data<float>(), b->shape()[1], attrs.trans_b, k, n);
    // A constant row-vector C becomes the epilogue's bias.
    const Tensor* c = info.constant_input(2);
    if (c != nullptr && c->dtype() == DataType::kFloat && attrs.beta != 0.0f && n > 0) {
      const bool row = c->rank() <= 1 || (c->rank() == 2 && c->shape()[0] == 1);
      if (row && (c->size() == n || c->size() == 1)) {
        bias.resize(static_cast<size_t>(n));
        for (int64_t j = 0; j < n; ++j) {
          bias[static_cast<size_t>(j)] = attrs.beta * c->data<float>()[c->size() == 1 ? 0 : j];
        }
      }
    }
  }
  return MakeKernel<GemmKernel>(attrs, std::move(packed), std::move(bias));
}

// ---------------------------------------------- Softmax, LogSoftmax, Hardmax ---

enum class SoftmaxOp { kSoftmax, kLogSoftmax, kHardmax };

template <typename T>
inline bool GreaterForArgmax(T v, T best) {
  // numpy.argmax: the first NaN wins, then the first maximum.
  return v > best || (std::isnan(v) && !std::isnan(best));
}

template <SoftmaxOp kOp>
class SoftmaxKernel final : public Kernel {
 public:
  // Before opset 13 the input is coerced to 2-D at `axis` and each row is
  // normalised; from 13 on, only the `axis` dimension is.
  SoftmaxKernel(int64_t axis, bool coerce_2d) : axis_(axis), coerce_2d_(coerce_2d) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
    const Shape& s = x->shape();
    if (s.rank() == 0) return InvalidArgumentError("input must have rank >= 1, got a scalar");
    ASSIGN_OR_RETURN(int axis, NormalizeAxis(axis_, s.rank(), "attribute 'axis'"));
    const int64_t outer = DimProduct(s, 0, axis);
    const int64_t n = coerce_2d_ ? DimProduct(s, axis, s.rank()) : s[axis];
    const int64_t inner = coerce_2d_ ? 1 : DimProduct(s, axis + 1, s.rank());
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, x->dtype(), s));
    if (y->size() == 0) return OkStatus();
    return DispatchFloat(x->dtype(), "this operator", [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      const T* px = x->data<T>();
      T* py = y->mutable_data<T>();
      if (inner == 1) {
        for (int64_t o = 0; o < outer; ++o) Row<T>(px + o * n, py + o * n, n);
        return OkStatus();
      }
      if constexpr (kOp == SoftmaxOp::kHardmax) {
        std::fill(py, py + y->size(), T(0));
        for (int64_t o = 0; o < outer; ++o) {
          for (int64_t j = 0; j < inner; ++j) {
            const T* col = px + o * n * inner + j;
            int64_t best = 0;
            for (int64_t i = 1; i < n; ++i)
              if (GreaterForArgmax(col[i * inner], col[best * inner])) best = i;
            py[o * n * inner + best * inner + j] = T(1);
          }
        }
        return OkStatus();
      } else {
        ASSIGN_OR_RETURN(T * work, ctx.Scratch<T>(2 * static_cast<size_t>(inner)));
        for (int64_t o = 0; o < outer; ++o)
          Block<T>(px + o * n * inner, py + o * n * inner, n, inner, work);
        return OkStatus();
      }
    });
  }

 private:
  // One contiguous row of n elements.
  template <typename T>
  static void Row(const T* x, T* y, int64_t n) {
    if constexpr (kOp == SoftmaxOp::kHardmax) {
      int64_t best = 0;
      for (int64_t i = 1; i < n; ++i)
        if (GreaterForArgmax(x[i], x[best])) best = i;
      std::fill(y, y + n, T(0));
      y[best] = T(1);
    } else {
      T mx = x[0];
      for (int64_t i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
      T sum = 0;
      if constexpr (kOp == SoftmaxOp::kSoftmax) {
        for (int64_t i = 0; i < n; ++i) {
          y[i] = std::exp(x[i] - mx);
          sum += y[i];
        }
        const T inv = T(1) / sum;
        for (int64_t i = 0; i < n; ++i) y[i] *= inv;
      } else {
        for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - mx);
        const T shift = mx + std::log(sum);
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] - shift;
      }
    }
  }

  // An n x inner block normalised along n, walking rows so that memory is
  // read contiguously. `work` holds 2 * inner elements.
  template <typename T>
  static void Block(const T* x, T* y, int64_t n, int64_t inner, T* work) {
    T* mx = work;
    T* sum = work + inner;
    std::copy(x, x + inner, mx);
    for (int64_t i = 1; i < n; ++i) {
      const T* row = x + i * inner;
      for (int64_t j = 0; j < inner; ++j) mx[j] = row[j] > mx[j] ? row[j] : mx[j];
    }
    std::fill(sum, sum + inner, T(0));
    for (int64_t i = 0; i < n; ++i) {
      const T* row = x + i * inner;
      T* out = y + i * inner;
      for (int64_t j = 0; j < inner; ++j) {
        const T e = std::exp(row[j] - mx[j]);
        if constexpr (kOp == SoftmaxOp::kSoftmax) out[j] = e;
        sum[j] += e;
      }
    }
    if constexpr (kOp == SoftmaxOp::kSoftmax) {
      for (int64_t j = 0; j < inner; ++j) sum[j] = T(1) / sum[j];
      for (int64_t i = 0; i < n; ++i) {
        T* out = y + i * inner;
        for (int64_t j = 0; j < inner; ++j) out[j] *= sum[j];
      }
    } else {
      for (int64_t j = 0; j < inner; ++j) sum[j] = mx[j] + std::log(sum[j]);
      for (int64_t i = 0; i < n; ++i) {
        const T* row = x + i * inner;
        T* out = y + i * inner;
        for (int64_t j = 0; j < inner; ++j) out[j] = row[j] - sum[j];
      }
    }
  }

  int64_t axis_;
  bool coerce_2d_;
};

template <SoftmaxOp kOp>
StatusOr<std::unique_ptr<Kernel>> CreateSoftmax(const KernelInfo& info) {
  const bool coerce = info.opset < 13;
  ASSIGN_OR_RETURN(int64_t axis, info.attrs.Int("axis", coerce ? 1 : -1));
  return MakeKernel<SoftmaxKernel<kOp>>(axis, coerce);
}

// ------------------------------------------------ BatchNormalization ---

// Inference: y = (x - mean) / sqrt(var + epsilon) * scale + B, folded into
// y = x * mul[c] + add[c]. With spatial=0 (opset < 9) the statistics have
// one value per element of a sample rather than per channel.
class BatchNormKernel final : public Kernel {
 public:
  struct Folded {
    std::vector<float> mul_f, add_f;
    std::vector<double> mul_d, add_d;
  };

  BatchNormKernel(float epsilon, bool spatial, std::optional<Folded> folded)
      : epsilon_(epsilon), spatial_(spatial), folded_(std::move(folded)) {}

  // Folds the four statistics tensors into mul/add (count = elements each).
  static Status Fold(const Tensor* const params[4], float epsilon, int64_t count, double* mul,
                     double* add) {
    static constexpr const char* kNames[4] = {"scale", "B", "mean", "var"};
    for (int i = 0; i < 4; ++i) {
      if (!IsFloating(params[i]->dtype())) {
        return UnimplementedError("input '" + std::string(kNames[i]) + "' has datatype " +
                                  std::string(DataTypeName(params[i]->dtype())) +
                                  "; BatchNormalization supports FP32 and FP64");
      }
      if (params[i]->size() != count) {
        return InvalidArgumentError("input '" + std::string(kNames[i]) + "' has shape " +
                                    params[i]->shape().ToString() + ", expected " +
                                    std::to_string(count) + " elements");
      }
    }
    for (int64_t c = 0; c < count; ++c) {
      const double m = FloatingAt(*params[0], c) / std::sqrt(FloatingAt(*params[3], c) + epsilon);
      mul[c] = m;
      add[c] = FloatingAt(*params[1], c) - FloatingAt(*params[2], c) * m;
    }
    return OkStatus();
  }

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    const Shape& s = x->shape();
    if (s.rank() < 2)
      return InvalidArgumentError("input 'X' must have rank >= 2, got " + s.ToString());
    const int64_t batch = s[0];
    const int64_t count = spatial_ ? s[1] : DimProduct(s, 1, s.rank());
    const int64_t inner = spatial_ ? DimProduct(s, 2, s.rank()) : 1;
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, x->dtype(), s));
    return DispatchFloat(x->dtype(), "BatchNormalization", [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      const T* mul = nullptr;
      const T* add = nullptr;
      if (folded_.has_value()) {
        if (static_cast<int64_t>(folded_->mul_d.size()) != count) {
          return InvalidArgumentError("the statistics have " +
                                      std::to_string(folded_->mul_d.size()) + " elements, but X " +
                                      s.ToString() + " needs " + std::to_string(count));
        }
        if constexpr (std::is_same_v<T, float>) {
          mul = folded_->mul_f.data();
          add = folded_->add_f.data();
        } else {
          mul = folded_->mul_d.data();
          add = folded_->add_d.data();
        }
      } else {
        const Tensor* params[4];
        static constexpr const char* kNames[4] = {"scale", "B", "mean", "var"};
        for (int i = 0; i < 4; ++i) {
          ASSIGN_OR_RETURN(params[i], RequireInput(ctx, i + 1, kNames[i]));
        }
        const size_t per = RoundUpTo16(static_cast<size_t>(count));
        ASSIGN_OR_RETURN(double* work, ctx.Scratch<double>(4 * per));
        RETURN_IF_ERROR(Fold(params, epsilon_, count, work, work + per));
        T* typed = reinterpret_cast<T*>(work + 2 * per);
        for (int64_t c = 0; c < count; ++c) {
          typed[c] = static_cast<T>(work[c]);
          typed[per + static_cast<size_t>(c)] = static_cast<T>(work[per + static_cast<size_t>(c)]);
        }
        mul = typed;
        add = typed + per;
      }
      const T* px = x->data<T>();
      T* py = y->mutable_data<T>();
      for (int64_t b = 0; b < batch; ++b) {
        for (int64_t c = 0; c < count; ++c) {
          const T m = mul[c];
          const T a = add[c];
          const int64_t base = (b * count + c) * inner;
          for (int64_t i = 0; i < inner; ++i) py[base + i] = px[base + i] * m + a;
        }
      }
      return OkStatus();
    });
  }

 private:
  float epsilon_;
  bool spatial_;
  std::optional<Folded> folded_;
};

StatusOr<std::unique_ptr<Kernel>> CreateBatchNorm(const KernelInfo& info) {
  ASSIGN_OR_RETURN(float epsilon, info.attrs.Float("epsilon", 1e-5f));
  int64_t spatial = 1;
  if (info.opset < 9) {
    ASSIGN_OR_RETURN(spatial, info.attrs.Int("spatial", 1));
  }
  // Count the outputs the graph actually uses: extra ones mean training.
  int used_outputs = 0;
  for (int i = 0; i < info.node.output_size(); ++i)
    if (!info.node.output(i).empty()) ++used_outputs;
  if (info.opset >= 14) {
    ASSIGN_OR_RETURN(int64_t training, info.attrs.Int("training_mode", 0));
    if (training != 0) {
      return UnimplementedError(
          "training_mode=1 is not supported; rtml runs BatchNormalization "
          "in inference mode only");
    }
  }
  if (used_outputs > 1) {
    return UnimplementedError(
        "the running mean/variance outputs are only produced in training "
        "mode, which rtml does not support");
  }
  // Opset 1 and 6 default to is_test=0, but with only Y requested the
  // inference formula is what exporters mean (ONNX Runtime does the same).
  for (int i = 1; i <= 4; ++i) {
    if (!info.has_input(i)) return InvalidArgumentError("BatchNormalization needs 5 inputs");
  }
  std::optional<BatchNormKernel::Folded> folded;
  const Tensor* params[4] = {info.constant_input(1), info.constant_input(2), info.constant_input(3),
                             info.constant_input(4)};
  if (params[0] && params[1] && params[2] && params[3]) {
    const int64_t count = params[0]->size();
    std::vector<double> mul(static_cast<size_t>(count)), add(static_cast<size_t>(count));
    RETURN_IF_ERROR(BatchNormKernel::Fold(params, epsilon, count, mul.data(), add.data()));
    BatchNormKernel::Folded f;
    f.mul_f.assign(mul.begin(), mul.end());
    f.add_f.assign(add.begin(), add.end());
    f.mul_d = std::move(mul);
    f.add_d = std::move(add);
    folded = std::move(f);
  }
  return MakeKernel<BatchNormKernel>(epsilon, spatial != 0, std::move(folded));
}

// ------------------------------------------------- LayerNormalization ---

// Makes `t` (unidirectionally broadcastable to `target`) available as
// target.NumElements() contiguous values: the tensor itself when it already
// has that many elements, otherwise an expanded copy in `buffer`.
template <typename T>
StatusOr<const T*> ExpandTo(const Tensor& t, const Shape& target, std::string_view what,
                            T* buffer) {
  auto bs = BroadcastShapes(t.shape(), target);
  if (t.rank() > target.rank() || !bs.ok() || *bs != target) {
    return InvalidArgumentError("input '" + std::string(what) + "' of shape " +
                                t.shape().ToString() + " does not broadcast to " +
                                target.ToString());
  }
  if (t.size() == target.NumElements()) return t.data<T>();
  const T* src = t.data<T>();
  const Shape* shapes[1] = {&t.shape()};
  BroadcastWalker walker(target, shapes, 1);
  walker.ForEachRun([&](int64_t o, const int64_t* offs, int64_t len, const int64_t* st) {
    for (int64_t i = 0; i < len; ++i) buffer[o + i] = src[offs[0] + i * st[0]];
  });
  return static_cast<const T*>(buffer);
}

class LayerNormKernel final : public Kernel {
 public:
  LayerNormKernel(int64_t axis, float epsilon, DataType stash)
      : axis_(axis), epsilon_(epsilon), stash_(stash) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    ASSIGN_OR_RETURN(const Tensor* scale, RequireInput(ctx, 1, "Scale"));
    const Tensor* bias = ctx.input(2);
    const Shape& s = x->shape();
    if (s.rank() == 0) return InvalidArgumentError("input 'X' must have rank >= 1, got a scalar");
    ASSIGN_OR_RETURN(int axis, NormalizeAxis(axis_, s.rank(), "attribute 'axis'"));
    if (scale->dtype() != x->dtype()) {
      return InvalidArgumentError(TypeMismatch("input 'Scale'", scale->dtype(), x->dtype()));
    }
    if (bias != nullptr && bias->dtype() != x->dtype()) {
      return InvalidArgumentError(TypeMismatch("input 'B'", bias->dtype(), x->dtype()));
    }
    const int64_t outer = DimProduct(s, 0, axis);
    const int64_t inner = DimProduct(s, axis, s.rank());
    Shape norm_shape;
    for (int i = axis; i < s.rank(); ++i) norm_shape.PushBack(s[i]);
    Shape stat_shape = s;
    for (int i = axis; i < s.rank(); ++i) stat_shape[i] = 1;

    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, x->dtype(), s));
    Tensor* mean_out = nullptr;
    Tensor* inv_out = nullptr;
    if (ctx.num_outputs() > 1) {
      ASSIGN_OR_RETURN(mean_out, ctx.Output(1, stash_, stat_shape));
    }
    if (ctx.num_outputs() > 2) {
      ASSIGN_OR_RETURN(inv_out, ctx.Output(2, stash_, stat_shape));
    }

    return DispatchFloat(x->dtype(), "LayerNormalization", [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      const size_t per = RoundUpTo16(static_cast<size_t>(inner));
      T* work = nullptr;
      if (scale->size() != inner || (bias != nullptr && bias->size() != inner)) {
        ASSIGN_OR_RETURN(work, ctx.Scratch<T>(2 * per));
      }
      ASSIGN_OR_RETURN(const T* w, ExpandTo<T>(*scale, norm_shape, "Scale", work));
      const T* b = nullptr;
      if (bias != nullptr) {
        ASSIGN_OR_RETURN(
            b, ExpandTo<T>(*bias, norm_shape, "B", work == nullptr ? nullptr : work + per));
      }
      const T* px = x->data<T>();
      T* py = y->mutable_data<T>();
      for (int64_t o = 0; o < outer; ++o) {
        const T* row = px + o * inner;
        T* out = py + o * inner;
        double sum = 0;
        for (int64_t i = 0; i < inner; ++i) sum += static_cast<double>(row[i]);
        const double mean = inner > 0 ? sum / static_cast<double>(inner) : 0.0;
        double sq = 0;
        for (int64_t i = 0; i < inner; ++i) {
          const double dv = static_cast<double>(row[i]) - mean;
          sq += dv * dv;
        }
        const double var = inner > 0 ? sq / static_cast<double>(inner) : 0.0;
        const double inv = 1.0 / std::sqrt(var + static_cast<double>(epsilon_));
        for (int64_t i = 0; i < inner; ++i) {
          double v = (static_cast<double>(row[i]) - mean) * inv * static_cast<double>(w[i]);
          if (b != nullptr) v += static_cast<double>(b[i]);
          out[i] = static_cast<T>(v);
        }
        StoreStat(mean_out, o, mean);
        StoreStat(inv_out, o, inv);
      }
      return OkStatus();
    });
  }

 private:
  static void StoreStat(Tensor* t, int64_t i, double v) {
    if (t == nullptr) return;
    if (t->dtype() == DataType::kDouble)
      t->mutable_data<double>()[i] = v;
    else
      t->mutable_data<float>()[i] = static_cast<float>(v);
  }

  int64_t axis_;
  float epsilon_;
  DataType stash_;
};

StatusOr<std::unique_ptr<Kernel>> CreateLayerNorm(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t axis, info.attrs.Int("axis", -1));
  ASSIGN_OR_RETURN(float epsilon, info.attrs.Float("epsilon", 1e-5f));
  ASSIGN_OR_RETURN(int64_t stash, info.attrs.Int("stash_type", onnx::TensorProto::FLOAT));
  DataType stash_type;
  if (stash == onnx::TensorProto::FLOAT) {
    stash_type = DataType::kFloat;
  } else if (stash == onnx::TensorProto::DOUBLE) {
    stash_type = DataType::kDouble;
  } else {
    return UnimplementedError("attribute 'stash_type' " + std::to_string(stash) +
                              " is not supported (use 1 for FLOAT)");
  }
  return MakeKernel<LayerNormKernel>(axis, epsilon, stash_type);
}

// ---------------------------------------------- InstanceNormalization ---

class InstanceNormKernel final : public Kernel {
 public:
  explicit InstanceNormKernel(float epsilon) : epsilon_(epsilon) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
    ASSIGN_OR_RETURN(const Tensor* scale, RequireInput(ctx, 1, "scale"));
    ASSIGN_OR_RETURN(const Tensor* bias, RequireInput(ctx, 2, "B"));
    const Shape& s = x->shape();
    if (s.rank() < 2) return InvalidArgumentError("input must have rank >= 2, got " + s.ToString());
    const int64_t channels = s[1];
    if (scale->dtype() != x->dtype() || bias->dtype() != x->dtype()) {
      return InvalidArgumentError("inputs 'scale' and 'B' must have the input's datatype " +
                                  std::string(DataTypeName(x->dtype())));
    }
    if (scale->size() != channels || bias->size() != channels) {
      return InvalidArgumentError("inputs 'scale' " + scale->shape().ToString() + " and 'B' " +
                                  bias->shape().ToString() + " must have " +
                                  std::to_string(channels) + " elements (the channel count)");
    }
    const int64_t inner = DimProduct(s, 2, s.rank());
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, x->dtype(), s));
    return DispatchFloat(x->dtype(), "InstanceNormalization", [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      const T* px = x->data<T>();
      T* py = y->mutable_data<T>();
      for (int64_t nc = 0; nc < s[0] * channels; ++nc) {
        const T* in = px + nc * inner;
        T* out = py + nc * inner;
        double sum = 0;
        for (int64_t i = 0; i < inner; ++i) sum += static_cast<double>(in[i]);
        const double mean = inner > 0 ? sum / static_cast<double>(inner) : 0.0;
        double sq = 0;
        for (int64_t i = 0; i < inner; ++i) {
          const double dv = static_cast<double>(in[i]) - mean;
          sq += dv * dv;
        }
        const double var = inner > 0 ? sq / static_cast<double>(inner) : 0.0;
        const int64_t c = nc % channels;
        const double mul = static_cast<double>(scale->data<T>()[c]) /
                           std::sqrt(var + static_cast<double>(epsilon_));
        const double add = static_cast<double>(bias->data<T>()[c]);
        for (int64_t i = 0; i < inner; ++i) {
          out[i] = static_cast<T>((static_cast<double>(in[i]) - mean) * mul + add);
        }
      }
      return OkStatus();
    });
  }

 private:
  float epsilon_;
};

StatusOr<std::unique_ptr<Kernel>> CreateInstanceNorm(const KernelInfo& info) {
  ASSIGN_OR_RETURN(float epsilon, info.attrs.Float("epsilon", 1e-5f));
  return MakeKernel<InstanceNormKernel>(epsilon);
}

// ------------------------------------------ MeanVarianceNormalization ---

// y = (x - mean) / (std + 1e-9) over `axes`, std the population standard
// deviation (the epsilon is the one in the ONNX function body).
class MvnKernel final : public Kernel {
 public:
  explicit MvnKernel(SmallInts axes) : axes_(axes) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    const Shape& s = x->shape();
    Shape kept = s;
    bool reduced[Shape::kMaxRank] = {};
    for (int i = 0; i < axes_.n; ++i) {
      ASSIGN_OR_RETURN(int a, NormalizeAxis(axes_[i], s.rank(), "attribute 'axes' entry"));
      if (reduced[a])
        return InvalidArgumentError("attribute 'axes' lists axis " + std::to_string(a) + " twice");
      reduced[a] = true;
      kept[a] = 1;
    }
    int64_t count = 1;
    for (int i = 0; i < s.rank(); ++i)
      if (reduced[i]) count *= s[i];
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, x->dtype(), s));
    if (y->size() == 0) return OkStatus();
    const size_t stats = static_cast<size_t>(kept.NumElements());
    return DispatchFloat(x->dtype(), "MeanVarianceNormalization", [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      ASSIGN_OR_RETURN(double* work, ctx.Scratch<double>(2 * stats));
      double* mean = work;
      double* scale = work + stats;
      std::fill(work, work + 2 * stats, 0.0);
      const T* px = x->data<T>();
      T* py = y->mutable_data<T>();
      const Shape* shapes[1] = {&kept};
      BroadcastWalker walker(s, shapes, 1);
      walker.ForEachRun([&](int64_t o, const int64_t* offs, int64_t len, const int64_t* st) {
        for (int64_t i = 0; i < len; ++i)
          mean[offs[0] + i * st[0]] += static_cast<double>(px[o + i]);
      });
      for (size_t i = 0; i < stats; ++i) mean[i] /= static_cast<double>(count);
      walker.ForEachRun([&](int64_t o, const int64_t* offs, int64_t len, const int64_t* st) {
        for (int64_t i = 0; i < len; ++i) {
          const int64_t j = offs[0] + i * st[0];
          const double dv = static_cast<double>(px[o + i]) - mean[j];
          scale[j] += dv * dv;
        }
      });
      for (size_t i = 0; i < stats; ++i) {
        scale[i] = 1.0 / (std::sqrt(scale[i] / static_cast<double>(count)) + 1e-9);
      }
      walker.ForEachRun([&](int64_t o, const int64_t* offs, int64_t len, const int64_t* st) {
        for (int64_t i = 0; i < len; ++i) {
          const int64_t j = offs[0] + i * st[0];
          py[o + i] = static_cast<T>((static_cast<double>(px[o + i]) - mean[j]) * scale[j]);
        }
      });
      return OkStatus();
    });
  }

 private:
  SmallInts axes_;
};

StatusOr<std::unique_ptr<Kernel>> CreateMvn(const KernelInfo& info) {
  SmallInts axes;
  if (info.attrs.Has("axes")) {
    ASSIGN_OR_RETURN(std::vector<int64_t> list, info.attrs.Ints("axes"));
    for (int64_t a : list) {
      if (!axes.push(a))
        return InvalidArgumentError("attribute 'axes' has more entries than any tensor's rank");
    }
  } else {
    for (int64_t a : {0, 2, 3}) axes.push(a);
  }
  return MakeKernel<MvnKernel>(axes);
}

}  // namespace

void RegisterMathKernels(KernelRegistry& r) {
  const std::string_view d = kOnnxDomain;
  r.Add(d, "MatMul", 1, CreateMatMul);
  r.Add(d, "Gemm", 1, CreateGemm);
  r.Add(kRtmlDomain, "FusedMatMul", 1, CreateFusedMatMul);
  r.Add(d, "Softmax", 1, CreateSoftmax<SoftmaxOp::kSoftmax>);
  r.Add(d, "LogSoftmax", 1, CreateSoftmax<SoftmaxOp::kLogSoftmax>);
  r.Add(d, "Hardmax", 1, CreateSoftmax<SoftmaxOp::kHardmax>);
  r.Add(d, "BatchNormalization", 1, CreateBatchNorm);
  r.Add(d, "LayerNormalization", 17, CreateLayerNorm);
  r.Add(d, "InstanceNormalization", 1, CreateInstanceNorm);
  r.Add(d, "MeanVarianceNormalization", 9, CreateMvn);
}

}  // namespace rtml::engine::internal
