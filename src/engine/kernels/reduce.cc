// Reductions: ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare,
// ArgMax/ArgMin and TopK.
//
// A reduction walks the input once in row-major order while a broadcast
// stride maps every element to its output slot (stride 0 along reduced
// axes), so any axis set is one pass with contiguous reads. Adjacent axes
// with the same role are merged first to lengthen the inner runs.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "engine/internal/kernel_util.h"
#include "engine/internal/registry.h"

namespace rtml::engine::internal {
namespace {

int64_t DimProduct(const Shape& s, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; ++i) p *= s[i];
  return p;
}

template <typename T>
inline bool IsNan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return std::isnan(v);
  else
    return false;
}

// Integer arithmetic wraps around (numpy semantics) without signed-overflow
// undefined behaviour.
template <typename T>
inline T WrapAdd(T a, T b) {
  if constexpr (std::is_floating_point_v<T>)
    return a + b;
  else
    return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
template <typename T>
inline T WrapMul(T a, T b) {
  if constexpr (std::is_floating_point_v<T>)
    return a * b;
  else
    return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}
template <typename T>
inline T AbsValue(T v) {
  if constexpr (std::is_unsigned_v<T>)
    return v;
  else if constexpr (std::is_floating_point_v<T>)
    return std::abs(v);
  else
    return v < 0 ? static_cast<T>(uint64_t{0} - static_cast<uint64_t>(v)) : v;
}

// ------------------------------------------------------------ Reduce* ---

enum class ReduceOp { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

template <ReduceOp kOp, typename T>
constexpr T Identity() {
  if constexpr (kOp == ReduceOp::kProd)
    return T(1);
  else if constexpr (kOp == ReduceOp::kMax || kOp == ReduceOp::kLogSumExp) {
    if constexpr (std::is_floating_point_v<T>)
      return -std::numeric_limits<T>::infinity();
    else
      return std::numeric_limits<T>::lowest();
  } else if constexpr (kOp == ReduceOp::kMin) {
    if constexpr (std::is_floating_point_v<T>)
      return std::numeric_limits<T>::infinity();
    else
      return std::numeric_limits<T>::max();
  } else {
    return T(0);
  }
}

// Folds one element into an accumulator. LogSumExp's first pass is a max.
template <ReduceOp kOp, typename T>
inline T Fold(T acc, T v) {
  if constexpr (kOp == ReduceOp::kMax || kOp == ReduceOp::kLogSumExp) {
    return (v > acc || IsNan(v)) ? v : acc;  // NaN is sticky
  } else if constexpr (kOp == ReduceOp::kMin) {
    return (v < acc || IsNan(v)) ? v : acc;
  } else if constexpr (kOp == ReduceOp::kProd) {
    return WrapMul(acc, v);
  } else if constexpr (kOp == ReduceOp::kL1) {
    return WrapAdd(acc, AbsValue(v));
  } else if constexpr (kOp == ReduceOp::kL2 || kOp == ReduceOp::kSumSquare) {
    return WrapAdd(acc, WrapMul(v, v));
  } else {
    return WrapAdd(acc, v);
  }
}

// Combines two partial accumulators.
template <ReduceOp kOp, typename T>
inline T Combine(T a, T b) {
  if constexpr (kOp == ReduceOp::kMax || kOp == ReduceOp::kLogSumExp || kOp == ReduceOp::kMin) {
    return Fold<kOp>(a, b);
  } else if constexpr (kOp == ReduceOp::kProd) {
    return WrapMul(a, b);
  } else {
    return WrapAdd(a, b);
  }
}

// Reduces a contiguous run with independent lanes (vectorisable, and more
// accurate for float sums than one serial chain).
template <ReduceOp kOp, typename T>
T ReduceRun(T acc, const T* x, int64_t len) {
  constexpr int kLanes = 8;
  if (len < 2 * kLanes) {
    for (int64_t i = 0; i < len; ++i) acc = Fold<kOp>(acc, x[i]);
    return acc;
  }
  T lanes[kLanes];
  for (int l = 0; l < kLanes; ++l) lanes[l] = Identity<kOp, T>();
  int64_t i = 0;
  for (; i + kLanes <= len; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] = Fold<kOp>(lanes[l], x[i + l]);
  }
  for (; i < len; ++i) lanes[0] = Fold<kOp>(lanes[0], x[i]);
  for (int l = 0; l < kLanes; ++l) acc = Combine<kOp>(acc, lanes[l]);
  return acc;
}

struct ReduceAttrs {
  bool keepdims = true;
  bool noop_with_empty_axes = false;
  bool axes_from_input = false;  // ReduceSum from opset 13, the others from 18
  SmallInts axes;                // the attribute, before that
};

template <ReduceOp kOp>
class ReduceKernel final : public Kernel {
 public:
  explicit ReduceKernel(ReduceAttrs attrs) : attrs_(attrs) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "data"));
    SmallInts axes = attrs_.axes;
    if (attrs_.axes_from_input) {
      axes.n = 0;
      if (const Tensor* t = ctx.input(1); t != nullptr)
        RETURN_IF_ERROR(ReadSmallInts(*t, "input 'axes'", &axes));
    }
    const Shape& s = x->shape();
    bool reduced[Shape::kMaxRank] = {};
    if (axes.n == 0) {
      // Empty axes reduce everything, unless noop_with_empty_axes makes the
      // operator an element-wise map (each output reduces one element).
      if (!attrs_.noop_with_empty_axes)
        for (int i = 0; i < s.rank(); ++i) reduced[i] = true;
    } else {
      for (int i = 0; i < axes.n; ++i) {
        ASSIGN_OR_RETURN(int a, NormalizeAxis(axes[i], s.rank(), "axes entry"));
        if (reduced[a])
          return InvalidArgumentError("axes lists axis " + std::to_string(a) + " twice");
        reduced[a] = true;
      }
    }
    Shape out_shape;
    int64_t count = 1;
    for (int i = 0; i < s.rank(); ++i) {
      if (reduced[i]) {
        count *= s[i];
        if (attrs_.keepdims) out_shape.PushBack(1);
      } else {
        out_shape.PushBack(s[i]);
      }
    }
    // Merge neighbouring axes with the same role; drop size-1 axes.
    Shape in_c, out_c;
    int last = -1;
    for (int i = 0; i < s.rank(); ++i) {
      if (s[i] == 1) continue;
      const int role = reduced[i] ? 1 : 0;
      if (role == last) {
        in_c[in_c.rank() - 1] *= s[i];
        if (!reduced[i]) out_c[out_c.rank() - 1] *= s[i];
      } else {
        in_c.PushBack(s[i]);
        out_c.PushBack(reduced[i] ? 1 : s[i]);
        last = role;
      }
    }
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, x->dtype(), out_shape));
    return DispatchNumeric(x->dtype(), "this reduction", [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      const T* px = x->data<T>();
      T* py = y->mutable_data<T>();
      const int64_t n_out = y->size();
      std::fill(py, py + n_out, Identity<kOp, T>());
      const Shape* shapes[1] = {&out_c};
      BroadcastWalker walker(in_c, shapes, 1);
      walker.ForEachRun([&](int64_t o, const int64_t* offs, int64_t len, const int64_t* st) {
        T* acc = py + offs[0];
        if (st[0] == 0) {
          *acc = ReduceRun<kOp>(*acc, px + o, len);
        } else {
          for (int64_t i = 0; i < len; ++i) acc[i] = Fold<kOp>(acc[i], px[o + i]);
        }
      });
      if constexpr (kOp == ReduceOp::kLogSumExp) {
        // Second pass: sum of exp(x - max) per output, in double.
        ASSIGN_OR_RETURN(double* sums, ctx.Scratch<double>(static_cast<size_t>(n_out)));
        std::fill(sums, sums + n_out, 0.0);
        walker.ForEachRun([&](int64_t o, const int64_t* offs, int64_t len, const int64_t* st) {
          for (int64_t i = 0; i < len; ++i) {
            const int64_t j = offs[0] + i * st[0];
            sums[j] += std::exp(static_cast<double>(px[o + i]) - static_cast<double>(py[j]));
          }
        });
        for (int64_t j = 0; j < n_out; ++j) {
          const double mx = static_cast<double>(py[j]);
          // An all -inf (or empty) slice gives -inf; +inf stays +inf.
          if (!std::isinf(mx)) py[j] = static_cast<T>(mx + std::log(sums[j]));
        }
      } else if constexpr (kOp == ReduceOp::kMean) {
        if constexpr (std::is_floating_point_v<T>) {
          for (int64_t j = 0; j < n_out; ++j) py[j] = py[j] / static_cast<T>(count);
        } else if (count > 0) {
          for (int64_t j = 0; j < n_out; ++j) py[j] = static_cast<T>(py[j] / static_cast<T>(count));
        }
      } else if constexpr (kOp == ReduceOp::kL2) {
        for (int64_t j = 0; j < n_out; ++j)
          py[j] = static_cast<T>(std::sqrt(static_cast<double>(py[j])));
      } else if constexpr (kOp == ReduceOp::kLogSum) {
        for (int64_t j = 0; j < n_out; ++j)
          py[j] = static_cast<T>(std::log(static_cast<double>(py[j])));
      }
      (void)count;
      return OkStatus();
    });
  }

 private:
  ReduceAttrs attrs_;
};

template <ReduceOp kOp>
StatusOr<std::unique_ptr<Kernel>> CreateReduce(const KernelInfo& info) {
  ReduceAttrs attrs;
  ASSIGN_OR_RETURN(int64_t keepdims, info.attrs.Int("keepdims", 1));
  ASSIGN_OR_RETURN(int64_t noop, info.attrs.Int("noop_with_empty_axes", 0));
  attrs.keepdims = keepdims != 0;
  attrs.noop_with_empty_axes = noop != 0;
  attrs.axes_from_input = info.opset >= (kOp == ReduceOp::kSum ? 13 : 18);
  if (!attrs.axes_from_input) {
    ASSIGN_OR_RETURN(std::vector<int64_t> axes, info.attrs.Ints("axes"));
    for (int64_t a : axes) {
      if (!attrs.axes.push(a)) {
        return InvalidArgumentError(
            "attribute 'axes' has " + std::to_string(axes.size()) +
            " entries; tensors have rank <= " + std::to_string(Shape::kMaxRank));
      }
    }
  }
  return MakeKernel<ReduceKernel<kOp>>(attrs);
}

// ----------------------------------------------------- ArgMax, ArgMin ---

// True when v should replace best. numpy's argmax/argmin return the first
// NaN if there is one; select_last_index mirrors that from the end.
template <bool kMax, bool kLast, typename T>
inline bool Replaces(T v, T best) {
  if constexpr (kLast) {
    return (kMax ? v >= best : v <= best) || IsNan(v);
  } else {
    return (kMax ? v > best : v < best) || (IsNan(v) && !IsNan(best));
  }
}

template <bool kMax>
class ArgKernel final : public Kernel {
 public:
  ArgKernel(int64_t axis, bool keepdims, bool last)
      : axis_(axis), keepdims_(keepdims), last_(last) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "data"));
    const Shape& s = x->shape();
    if (s.rank() == 0)
      return InvalidArgumentError("input 'data' must have rank >= 1, got a scalar");
    ASSIGN_OR_RETURN(int axis, NormalizeAxis(axis_, s.rank(), "attribute 'axis'"));
    const int64_t n = s[axis];
    Shape out_shape;
    for (int i = 0; i < s.rank(); ++i) {
      if (i != axis)
        out_shape.PushBack(s[i]);
      else if (keepdims_)
        out_shape.PushBack(1);
    }
    ASSIGN_OR_RETURN(Tensor * y, ctx.Output(0, DataType::kInt64, out_shape));
    if (y->size() == 0) return OkStatus();
    if (n == 0) {
      return InvalidArgumentError("attribute 'axis' " + std::to_string(axis_) +
                                  " selects an empty dimension of " + s.ToString());
    }
    const int64_t outer = DimProduct(s, 0, axis);
    const int64_t inner = DimProduct(s, axis + 1, s.rank());
    return DispatchNumeric(x->dtype(), kMax ? "ArgMax" : "ArgMin", [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      if (last_)
        return Run<T, true>(ctx, x->data<T>(), y->mutable_data<int64_t>(), outer, n, inner);
      return Run<T, false>(ctx, x->data<T>(), y->mutable_data<int64_t>(), outer, n, inner);
    });
  }

 private:
  template <typename T, bool kLast>
  static Status Run(KernelContext& ctx, const T* x, int64_t* y, int64_t outer, int64_t n,
                    int64_t inner) {
    if (inner == 1) {
      for (int64_t o = 0; o < outer; ++o) {
        const T* row = x + o * n;
        int64_t best = 0;
        for (int64_t i = 1; i < n; ++i)
          if (Replaces<kMax, kLast>(row[i], row[best])) best = i;
        y[o] = best;
      }
      return OkStatus();
    }
    // Row by row over an n x inner block keeps the reads contiguous.
    ASSIGN_OR_RETURN(T * best, ctx.Scratch<T>(static_cast<size_t>(inner)));
    for (int64_t o = 0; o < outer; ++o) {
      const T* block = x + o * n * inner;
      int64_t* out = y + o * inner;
      std::copy(block, block + inner, best);
      std::fill(out, out + inner, int64_t{0});
      for (int64_t i = 1; i < n; ++i) {
        const T* row = block + i * inner;
        for (int64_t j = 0; j < inner; ++j) {
          if (Replaces<kMax, kLast>(row[j], best[j])) {
            best[j] = row[j];
            out[j] = i;
          }
        }
      }
    }
    return OkStatus();
  }

  int64_t axis_;
  bool keepdims_;
  bool last_;
};

template <bool kMax>
StatusOr<std::unique_ptr<Kernel>> CreateArg(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t axis, info.attrs.Int("axis", 0));
  ASSIGN_OR_RETURN(int64_t keepdims, info.attrs.Int("keepdims", 1));
  ASSIGN_OR_RETURN(int64_t last, info.attrs.Int("select_last_index", 0));
  return MakeKernel<ArgKernel<kMax>>(axis, keepdims != 0, last != 0);
}

// --------------------------------------------------------------- TopK ---

class TopKKernel final : public Kernel {
 public:
  // k_attr < 0 means K comes from input 1 (opset 10 on).
  TopKKernel(int64_t axis, int64_t k_attr, bool largest)
      : axis_(axis), k_attr_(k_attr), largest_(largest) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    const Shape& s = x->shape();
    if (s.rank() == 0) return InvalidArgumentError("input 'X' must have rank >= 1, got a scalar");
    ASSIGN_OR_RETURN(int axis, NormalizeAxis(axis_, s.rank(), "attribute 'axis'"));
    int64_t k = k_attr_;
    if (k < 0) {
      ASSIGN_OR_RETURN(const Tensor* kt, RequireInput(ctx, 1, "K"));
      ASSIGN_OR_RETURN(k, ReadScalarInt(*kt, "input 'K'"));
      if (k < 0) return InvalidArgumentError("input 'K' must be >= 0, got " + std::to_string(k));
    }
    const int64_t n = s[axis];
    if (k > n) {
      return InvalidArgumentError("K = " + std::to_string(k) + " exceeds the size " +
                                  std::to_string(n) + " of axis " + std::to_string(axis) +
                                  " of X " + s.ToString());
    }
    Shape out_shape = s;
    out_shape[axis] = k;
    ASSIGN_OR_RETURN(Tensor * values, ctx.Output(0, x->dtype(), out_shape));
    ASSIGN_OR_RETURN(Tensor * indices, ctx.Output(1, DataType::kInt64, out_shape));
    if (values->size() == 0) return OkStatus();
    const int64_t outer = DimProduct(s, 0, axis);
    const int64_t inner = DimProduct(s, axis + 1, s.rank());
    ASSIGN_OR_RETURN(int64_t * order, ctx.Scratch<int64_t>(static_cast<size_t>(n)));
    return DispatchNumeric(x->dtype(), "TopK", [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      const T* px = x->data<T>();
      T* pv = values->mutable_data<T>();
      int64_t* pi = indices->mutable_data<int64_t>();
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t j = 0; j < inner; ++j) {
          const T* col = px + o * n * inner + j;
          // Total order: by value (NaN above every number), then by index,
          // so equal values keep the lower index first.
          auto before = [&](int64_t a, int64_t b) {
            const T va = col[a * inner];
            const T vb = col[b * inner];
            const bool a_first = largest_ ? (va > vb || (IsNan(va) && !IsNan(vb)))
                                          : (va < vb || (!IsNan(va) && IsNan(vb)));
            if (a_first) return true;
            const bool b_first = largest_ ? (vb > va || (IsNan(vb) && !IsNan(va)))
                                          : (vb < va || (!IsNan(vb) && IsNan(va)));
            if (b_first) return false;
            return a < b;
          };
          for (int64_t i = 0; i < n; ++i) order[i] = i;
          if (k == n)
            std::sort(order, order + n, before);
          else
            std::partial_sort(order, order + k, order + n, before);
          const int64_t base = o * k * inner + j;
          for (int64_t i = 0; i < k; ++i) {
            pv[base + i * inner] = col[order[i] * inner];
            pi[base + i * inner] = order[i];
          }
        }
      }
      return OkStatus();
    });
  }

 private:
  int64_t axis_;
  int64_t k_attr_;
  bool largest_;
};

StatusOr<std::unique_ptr<Kernel>> CreateTopK(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t axis, info.attrs.Int("axis", -1));
  int64_t k_attr = -1;
  if (info.opset < 10) {
    ASSIGN_OR_RETURN(k_attr, info.attrs.Int("k"));
    if (k_attr < 0)
      return InvalidArgumentError("attribute 'k' must be >= 0, got " + std::to_string(k_attr));
  }
  int64_t largest = 1;
  if (info.opset >= 11) {
    ASSIGN_OR_RETURN(largest, info.attrs.Int("largest", 1));
    // `sorted`=0 leaves the order unspecified; returning it sorted is valid.
    ASSIGN_OR_RETURN(int64_t sorted, info.attrs.Int("sorted", 1));
    (void)sorted;
  }
  return MakeKernel<TopKKernel>(axis, k_attr, largest != 0);
}

}  // namespace

void RegisterReduceKernels(KernelRegistry& r) {
  const std::string_view d = kOnnxDomain;
  r.Add(d, "ReduceSum", 1, CreateReduce<ReduceOp::kSum>);
  r.Add(d, "ReduceMean", 1, CreateReduce<ReduceOp::kMean>);
  r.Add(d, "ReduceMax", 1, CreateReduce<ReduceOp::kMax>);
  r.Add(d, "ReduceMin", 1, CreateReduce<ReduceOp::kMin>);
  r.Add(d, "ReduceProd", 1, CreateReduce<ReduceOp::kProd>);
  r.Add(d, "ReduceL1", 1, CreateReduce<ReduceOp::kL1>);
  r.Add(d, "ReduceL2", 1, CreateReduce<ReduceOp::kL2>);
  r.Add(d, "ReduceLogSum", 1, CreateReduce<ReduceOp::kLogSum>);
  r.Add(d, "ReduceLogSumExp", 1, CreateReduce<ReduceOp::kLogSumExp>);
  r.Add(d, "ReduceSumSquare", 1, CreateReduce<ReduceOp::kSumSquare>);
  r.Add(d, "ArgMax", 1, CreateArg<true>);
  r.Add(d, "ArgMin", 1, CreateArg<false>);
  r.Add(d, "TopK", 1, CreateTopK);
}

}  // namespace rtml::engine::internal
