// Tensor and data-movement operators: Identity, Cast/CastLike, shape
// manipulation (Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Expand, Tile,
// Pad, DepthToSpace, SpaceToDepth), indexing (Gather*, Scatter*, Slice, Split,
// Concat, Compress, OneHot, NonZero, Trilu, ReverseSequence, CumSum),
// generators (Constant, ConstantOfShape, Range, EyeLike), Shape/Size and
// Dropout.
//
// Shapes, axes and indices read from tensors are untrusted: each is
// range-checked, and sizes use checked arithmetic before anything is
// allocated. Compute keeps its bookkeeping in fixed-size stack arrays, so it
// does not allocate once the outputs have reached their size.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "engine/internal/kernel_util.h"
#include "engine/internal/onnx_tensor.h"
#include "engine/internal/registry.h"

namespace rtml::engine::internal {
namespace {

using KernelOr = StatusOr<std::unique_ptr<Kernel>>;
constexpr int kMaxRank = Shape::kMaxRank;

template <typename T>
inline constexpr bool kIsString = std::is_same_v<T, std::string>;

// ------------------------------------------------------------ helpers ---

std::string ListToString(const int64_t* v, int n) {
  std::string out = "[";
  for (int i = 0; i < n; ++i) {
    if (i) out += ',';
    out += std::to_string(v[i]);
  }
  return out + "]";
}

std::string TypeName(DataType t) { return std::string(DataTypeName(t)); }

// Product of dimensions [from, to); shapes held by tensors are bounded, so
// this cannot overflow.
int64_t Product(const Shape& s, int from, int to) {
  int64_t n = 1;
  for (int i = from; i < to; ++i) n *= s[i];
  return n;
}

// Builds a shape from untrusted dimensions: rejects negative dimensions,
// ranks above the engine limit and element counts that overflow.
StatusOr<Shape> CheckedShape(const int64_t* dims, int n, std::string_view what) {
  auto s = Shape::FromDims(std::span<const int64_t>(dims, static_cast<size_t>(n)));
  if (!s.ok()) return s.status().WithPrefix(what);
  return s;
}

Status CheckRank(int rank, std::string_view what) {
  if (rank > kMaxRank) {
    return UnimplementedError(std::string(what) + " would have rank " + std::to_string(rank) +
                              "; the engine supports at most " + std::to_string(kMaxRank));
  }
  return OkStatus();
}

template <typename T>
inline void SetZero(T& x) {
  if constexpr (kIsString<T>) {
    x.clear();  // keeps capacity: no allocation next time
  } else {
    x = T{};
  }
}

// Copies all elements of `x` into `y`, which already has x's type and size.
void CopyData(const Tensor& x, Tensor& y) {
  if (x.dtype() == DataType::kString) {
    CopyElements(x.data<std::string>(), y.mutable_data<std::string>(), x.size());
  } else if (x.nbytes() > 0) {
    std::memcpy(y.raw_mutable_data(), x.raw_data(), x.nbytes());
  }
}

// Output `i` becomes a copy of `x` with another (same-sized) shape.
Status OutputCopy(KernelContext& ctx, int i, const Tensor& x, const Shape& shape) {
  ASSIGN_OR_RETURN(Tensor* y, ctx.Output(i, x.dtype(), shape));
  CopyData(x, *y);
  return OkStatus();
}

// Maps an index in [-n, n) to [0, n); false when out of range.
inline bool NormalizeIndex(int64_t idx, int64_t n, int64_t* out) {
  if (idx < 0) idx += n;  // idx >= INT64_MIN and n >= 0: cannot overflow
  if (idx < 0 || idx >= n) return false;
  *out = idx;
  return true;
}

Status IndexOutOfRange(std::string_view what, int64_t value, int axis, int64_t dim) {
  return InvalidArgumentError(std::string(what) + " value " + std::to_string(value) +
                              " is out of range for axis " + std::to_string(axis) + " of size " +
                              std::to_string(dim) + " (valid: " + std::to_string(-dim) + " to " +
                              std::to_string(dim - 1) + ")");
}

// Normalizes an entry of an axes list. Unlike NormalizeAxis it takes the
// operand's name as a std::string and builds a message only on failure, so
// the success path never allocates.
StatusOr<int> AxisEntry(int64_t axis, int rank, const std::string& what) {
  if (axis >= -rank && axis < rank) return static_cast<int>(axis < 0 ? axis + rank : axis);
  return InvalidArgumentError(what + " entry " + std::to_string(axis) +
                              " is out of range for a tensor of rank " + std::to_string(rank));
}

// Index tensors are INT32 or INT64.
template <typename F>
Status DispatchIndex(DataType t, std::string_view what, F&& f) {
  if (t == DataType::kInt64) return f(TypeTag<int64_t>{});
  if (t == DataType::kInt32) return f(TypeTag<int32_t>{});
  return InvalidArgumentError(std::string(what) + " must be INT32 or INT64, got " + TypeName(t));
}

// Wrapping integer arithmetic (signed overflow is undefined in C++).
template <typename T>
inline T WrapAdd(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<std::common_type_t<T, int>>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <typename T>
inline T WrapMul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<std::common_type_t<T, int>>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}

// A list of up to 2 * kMaxRank integers (Pad needs a begin/end pair per
// axis), stored inline.
struct IntList {
  static constexpr int kCapacity = 2 * kMaxRank;
  int64_t v[kCapacity] = {};
  int n = 0;
  int64_t operator[](int i) const { return v[i]; }
};

Status ReadIntList(const Tensor& t, std::string_view what, IntList* out) {
  out->n = 0;
  if (t.rank() > 1) {
    return InvalidArgumentError(std::string(what) + " must be a 1-D tensor, got shape " +
                                t.shape().ToString());
  }
  if (t.size() > IntList::kCapacity) {
    return UnimplementedError(std::string(what) + " has " + std::to_string(t.size()) +
                              " entries; the engine supports at most " +
                              std::to_string(IntList::kCapacity));
  }
  return DispatchIndex(t.dtype(), what, [&](auto tag) {
    using I = typename decltype(tag)::type;
    for (I x : t.values<I>()) out->v[out->n++] = x;
    return OkStatus();
  });
}

// An integer list operand: an attribute in older opsets, an input in newer
// ones. Attributes and constant inputs are read once, when the kernel is
// created; other inputs are read per call without allocating.
class IntsArg {
 public:
  static StatusOr<IntsArg> Attribute(const KernelInfo& info, std::string_view name) {
    IntsArg arg;
    arg.what_ = "attribute '" + std::string(name) + "'";
    if (!info.attrs.Has(name)) return arg;
    ASSIGN_OR_RETURN(std::vector<int64_t> v, info.attrs.Ints(name));
    if (v.size() > static_cast<size_t>(IntList::kCapacity)) {
      return UnimplementedError(arg.what_ + " has " + std::to_string(v.size()) +
                                " entries; the engine supports at most " +
                                std::to_string(IntList::kCapacity));
    }
    for (int64_t x : v) arg.values_.v[arg.values_.n++] = x;
    arg.present_ = true;
    return arg;
  }
  static StatusOr<IntsArg> Input(const KernelInfo& info, int index, std::string_view name) {
    IntsArg arg;
    arg.what_ = "input '" + std::string(name) + "'";
    if (!info.has_input(index)) return arg;
    arg.present_ = true;
    if (const Tensor* c = info.constant_input(index)) {
      RETURN_IF_ERROR(ReadIntList(*c, arg.what_, &arg.values_));
    } else {
      arg.input_ = index;
    }
    return arg;
  }

  bool present() const { return present_; }
  const std::string& what() const { return what_; }
  // The list itself when it is known at load time.
  std::optional<IntList> static_values() const {
    if (!present_ || input_ >= 0) return std::nullopt;
    return values_;
  }
  Status Get(const KernelContext& ctx, IntList* out) const {
    if (input_ < 0) {
      *out = values_;
      return OkStatus();
    }
    const Tensor* t = ctx.input(input_);
    if (t == nullptr) return InvalidArgumentError(what_ + " is missing");
    return ReadIntList(*t, what_, out);
  }

 private:
  bool present_ = false;
  int input_ = -1;  // runtime input, or -1 when values_ holds the list
  IntList values_;
  std::string what_;
};

// A strided read of a source tensor in the order of a contiguous output:
// output element at multi-index i is src[offset + sum(i[d] * strides[d])].
struct StridedView {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxRank] = {};
  int64_t offset = 0;
};

StridedView IdentityView(const Shape& s) {
  StridedView v;
  v.rank = s.rank();
  for (int d = 0; d < v.rank; ++d) v.dims[d] = s[d];
  RowMajorStrides(s, v.strides);
  return v;
}

// Drops unit dimensions and merges neighbours that are contiguous in the
// source, so that the inner loop runs as long as possible.
StridedView Coalesce(const StridedView& v) {
  StridedView out;
  out.offset = v.offset;
  for (int d = 0; d < v.rank; ++d) {
    if (v.dims[d] == 1) continue;
    if (out.rank > 0 && out.strides[out.rank - 1] == v.strides[d] * v.dims[d]) {
      out.dims[out.rank - 1] *= v.dims[d];
      out.strides[out.rank - 1] = v.strides[d];
    } else {
      out.dims[out.rank] = v.dims[d];
      out.strides[out.rank] = v.strides[d];
      ++out.rank;
    }
  }
  return out;
}

template <typename T>
void CopyView(const T* src, const StridedView& view, T* dst) {
  for (int d = 0; d < view.rank; ++d)
    if (view.dims[d] == 0) return;
  const StridedView v = Coalesce(view);
  if (v.rank == 0) {
    dst[0] = src[v.offset];
    return;
  }
  const int last = v.rank - 1;
  const int64_t len = v.dims[last];
  const int64_t step = v.strides[last];
  int64_t idx[kMaxRank] = {};
  int64_t off = v.offset;
  for (;;) {
    const T* p = src + off;
    if (step == 1) {
      CopyElements(p, dst, len);
    } else if (step == 0) {
      std::fill_n(dst, len, *p);
    } else {
      for (int64_t i = 0; i < len; ++i) dst[i] = p[i * step];
    }
    dst += len;
    int d = last - 1;
    for (; d >= 0; --d) {
      off += v.strides[d];
      if (++idx[d] < v.dims[d]) break;
      off -= v.strides[d] * v.dims[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

// Output 0 = the view of `x` described by `view`, with the view's dims as
// its shape unless `shape` (same element count) is given.
Status OutputView(KernelContext& ctx, const Tensor& x, const StridedView& view, const Shape* shape = nullptr) {
  Shape dims;
  dims.Resize(view.rank);
  for (int d = 0; d < view.rank; ++d) dims[d] = view.dims[d];
  ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, x.dtype(), shape ? *shape : dims));
  return DispatchBySize(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    CopyView(x.data<T>(), view, y->mutable_data<T>());
    return OkStatus();
  });
}

// Advances a row-major multi-index; false after the last position.
inline bool NextIndex(int64_t* idx, const int64_t* dims, int rank) {
  for (int d = rank - 1; d >= 0; --d) {
    if (++idx[d] < dims[d]) return true;
    idx[d] = 0;
  }
  return false;
}

// ----------------------------------------------------------- Identity ---

class IdentityKernel final : public Kernel {
 public:
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
    return OutputCopy(ctx, 0, *x, x->shape());
  }
};

KernelOr CreateIdentity(const KernelInfo&) { return MakeKernel<IdentityKernel>(); }

// --------------------------------------------------------------- Cast ---

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (x != b[i]) return false;  // b is lower case
  }
  return true;
}

// Parses plain and scientific notation plus the ONNX literals "NaN", "INF",
// "+INF" and "-INF" in any case (Cast spec, opset 9+).
template <typename F>
bool ParseFloating(const std::string& s, F* out) {
  std::string_view body(s);
  bool negative = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (EqualsNoCase(body, "inf") || EqualsNoCase(body, "infinity")) {
    *out = negative ? -std::numeric_limits<F>::infinity() : std::numeric_limits<F>::infinity();
    return true;
  }
  if (EqualsNoCase(body, "nan")) {
    *out = std::numeric_limits<F>::quiet_NaN();
    return true;
  }
  if (body.empty() || body[0] == '+' || body[0] == '-') return false;
  F v{};
  const char* end = body.data() + body.size();
  auto [ptr, ec] = std::from_chars(body.data(), end, v);
  if (ptr != end) return false;
  if (ec == std::errc::result_out_of_range) {
    // from_chars leaves v unset; strtod yields +-HUGE_VAL or ~0 as IEEE
    // prescribes. `body` is a suffix of a NUL-terminated std::string.
    if constexpr (std::is_same_v<F, float>) v = std::strtof(body.data(), nullptr);
    else v = std::strtod(body.data(), nullptr);
  } else if (ec != std::errc()) {
    return false;
  }
  *out = negative ? -v : v;
  return true;
}

// Floating point to integer: truncation toward zero (as C and numpy do);
// values beyond int64 saturate and NaN becomes 0 instead of being undefined.
template <typename D, typename S>
D FloatToInt(S v) {
  if (std::isnan(v)) return D{0};
  const double t = std::trunc(static_cast<double>(v));
  constexpr double kTwo63 = 9223372036854775808.0;
  if (t >= -kTwo63 && t < kTwo63) return static_cast<D>(static_cast<int64_t>(t));
  if constexpr (std::is_same_v<D, uint64_t>) {
    if (t >= 0 && t < 2 * kTwo63) return static_cast<uint64_t>(t);
  }
  return t < 0 ? std::numeric_limits<D>::min() : std::numeric_limits<D>::max();
}

template <typename D, typename S>
inline D ConvertNumber(S v) {
  if constexpr (std::is_same_v<D, bool>) {
    return v != S{};
  } else if constexpr (std::is_same_v<S, bool>) {
    return static_cast<D>(v ? 1 : 0);
  } else if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) {
    return FloatToInt<D>(v);
  } else if constexpr (std::is_same_v<D, float> && std::is_same_v<S, double>) {
    // Out-of-range double -> float is undefined in C++; IEEE says infinity.
    if (v > std::numeric_limits<float>::max()) return std::numeric_limits<float>::infinity();
    if (v < std::numeric_limits<float>::lowest()) return -std::numeric_limits<float>::infinity();
    return static_cast<float>(v);
  } else {
    return static_cast<D>(v);  // integer narrowing wraps (C++20), like numpy
  }
}

template <typename D>
bool ParseNumber(const std::string& s, D* out) {
  if constexpr (std::is_floating_point_v<D>) {
    return ParseFloating(s, out);
  } else if constexpr (std::is_same_v<D, bool>) {
    if (EqualsNoCase(s, "true") || EqualsNoCase(s, "false")) {
      *out = EqualsNoCase(s, "true");
      return true;
    }
    double d = 0;
    if (!ParseFloating(s, &d)) return false;
    *out = d != 0;
    return true;
  } else {
    using Wide = std::conditional_t<std::is_signed_v<D>, int64_t, uint64_t>;
    std::string_view body(s);
    if (!body.empty() && body[0] == '+') body.remove_prefix(1);
    Wide w{};
    const char* end = body.data() + body.size();
    auto [ptr, ec] = std::from_chars(body.data(), end, w);
    if (ec == std::errc() && ptr == end) {
      if (w < static_cast<Wide>(std::numeric_limits<D>::min()) ||
          w > static_cast<Wide>(std::numeric_limits<D>::max())) {
        return false;
      }
      *out = static_cast<D>(w);
      return true;
    }
    // "100.5" or "1e3": parse as a real number and truncate.
    double d = 0;
    if (!ParseFloating(s, &d) || std::isnan(d)) return false;
    d = std::trunc(d);
    if (d < static_cast<double>(std::numeric_limits<D>::min()) ||
        d >= static_cast<double>(std::numeric_limits<D>::max()) + 1.0) {
      return false;
    }
    *out = static_cast<D>(d);
    return true;
  }
}

// Numbers print in their shortest round-trip form ("0.9767611"); special
// values use the spellings the parser accepts. Bools print as numpy does.
template <typename S>
void FormatNumber(S v, std::string& out) {
  if constexpr (std::is_same_v<S, bool>) {
    out.assign(v ? "True" : "False");
  } else {
    if constexpr (std::is_floating_point_v<S>) {
      if (std::isnan(v) || std::isinf(v)) {
        out.assign(std::isnan(v) ? "NaN" : v > 0 ? "INF" : "-INF");
        return;
      }
    }
    char buf[64];
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    out.assign(buf, ec == std::errc() ? ptr : buf);
  }
}

template <typename S, typename D>
Status CastElements(const S* in, D* out, int64_t n, DataType to) {
  if constexpr (kIsString<S> && kIsString<D>) {
    CopyElements(in, out, n);
  } else if constexpr (kIsString<S>) {
    for (int64_t i = 0; i < n; ++i) {
      if (!ParseNumber(in[i], &out[i])) {
        std::string shown = in[i].substr(0, 40);
        return InvalidArgumentError("cannot convert string '" + shown + "' (element " +
                                    std::to_string(i) + ") to " + TypeName(to));
      }
    }
  } else if constexpr (kIsString<D>) {
    for (int64_t i = 0; i < n; ++i) FormatNumber(in[i], out[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = ConvertNumber<D>(in[i]);
  }
  return OkStatus();
}

Status CastTensor(const Tensor& x, Tensor& y) {
  if (x.dtype() == y.dtype()) {
    CopyData(x, y);
    return OkStatus();
  }
  return DispatchAny(x.dtype(), "Cast", [&](auto src_tag) {
    using S = typename decltype(src_tag)::type;
    return DispatchAny(y.dtype(), "Cast", [&](auto dst_tag) {
      using D = typename decltype(dst_tag)::type;
      return CastElements<S, D>(x.data<S>(), y.mutable_data<D>(), x.size(), y.dtype());
    });
  });
}

// Cast (fixed target type) and CastLike (target type of input 1).
class CastKernel final : public Kernel {
 public:
  explicit CastKernel(DataType to) : to_(to) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
    DataType to = to_;
    if (to == DataType::kUndefined) {
      ASSIGN_OR_RETURN(const Tensor* like, RequireInput(ctx, 1, "target_type"));
      to = like->dtype();
    }
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, to, x->shape()));
    return CastTensor(*x, *y);
  }

 private:
  DataType to_;  // kUndefined for CastLike
};

KernelOr CreateCast(const KernelInfo& info) {
  const onnx::AttributeProto* to = info.attrs.Find("to");
  if (to == nullptr) return InvalidArgumentError("required attribute 'to' is missing");
  int64_t onnx_type = 0;
  const bool is_string = to->type() == onnx::AttributeProto::STRING ||
                         (to->type() == onnx::AttributeProto::UNDEFINED && to->has_s());
  if (is_string) {
    // Cast-1 names the type ("FLOAT"); later versions use the enum value.
    onnx::TensorProto::DataType parsed;
    if (!onnx::TensorProto::DataType_Parse(to->s(), &parsed)) {
      return InvalidArgumentError("attribute 'to' names unknown type '" + to->s() + "'");
    }
    onnx_type = parsed;
  } else {
    ASSIGN_OR_RETURN(onnx_type, info.attrs.Int("to"));
  }
  if (onnx_type < 0 || onnx_type > std::numeric_limits<int32_t>::max() ||
      !onnx::TensorProto::DataType_IsValid(static_cast<int>(onnx_type)) ||
      onnx_type == onnx::TensorProto::UNDEFINED) {
    return InvalidArgumentError("attribute 'to' has invalid type " + std::to_string(onnx_type));
  }
  const DataType dt = FromOnnxType(static_cast<int32_t>(onnx_type));
  if (dt == DataType::kUndefined) {
    return UnimplementedError("Cast to " + OnnxTypeName(static_cast<int32_t>(onnx_type)) +
                              " is not supported");
  }
  return MakeKernel<CastKernel>(dt);
}

KernelOr CreateCastLike(const KernelInfo&) { return MakeKernel<CastKernel>(DataType::kUndefined); }

// ------------------------------------------------------------- Concat ---

class ConcatKernel final : public Kernel {
 public:
  explicit ConcatKernel(int64_t axis) : axis_(axis) {}
  Status Compute(KernelContext& ctx) const override {
    const int n = ctx.num_inputs();
    if (n == 0) return InvalidArgumentError("Concat needs at least one input");
    ASSIGN_OR_RETURN(const Tensor* first, RequireInput(ctx, 0, "inputs"));
    const int rank = first->rank();
    if (rank == 0) return InvalidArgumentError("input 0 is a scalar; Concat needs tensors of rank >= 1");
    ASSIGN_OR_RETURN(int axis, NormalizeAxis(axis_, rank));
    Shape out = first->shape();
    int64_t total = 0;
    for (int i = 0; i < n; ++i) {
      const Tensor* t = ctx.input(i);
      if (t == nullptr) return InvalidArgumentError("input " + std::to_string(i) + " is missing");
      if (t->dtype() != first->dtype()) {
        return InvalidArgumentError("input " + std::to_string(i) + " has datatype " +
                                    TypeName(t->dtype()) + " but input 0 has " + TypeName(first->dtype()));
      }
      bool same = t->rank() == rank;
      for (int d = 0; same && d < rank; ++d) same = d == axis || t->shape()[d] == out[d];
      if (!same) {
        return InvalidArgumentError("input " + std::to_string(i) + " has shape " + t->shape().ToString() +
                                    ", which does not match input 0 " + first->shape().ToString() +
                                    " outside axis " + std::to_string(axis));
      }
      if (__builtin_add_overflow(total, t->shape()[axis], &total)) {
        return TooLargeError("concatenated axis is too large");
      }
    }
    out[axis] = total;
    ASSIGN_OR_RETURN(out, CheckedShape(out.dims().data(), rank, "output"));
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, first->dtype(), out));
    const int64_t outer = Product(out, 0, axis);
    const int64_t inner = Product(out, axis + 1, rank);
    return DispatchBySize(first->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* dst = y->mutable_data<T>();
      for (int64_t o = 0; o < outer; ++o) {
        for (int i = 0; i < n; ++i) {
          const Tensor* t = ctx.input(i);
          const int64_t block = t->shape()[axis] * inner;
          CopyElements(t->data<T>() + o * block, dst, block);
          dst += block;
        }
      }
      return OkStatus();
    });
  }

 private:
  int64_t axis_;
};

KernelOr CreateConcat(const KernelInfo& info) {
  // Concat-1 defaults axis to 1; from opset 4 it is required.
  ASSIGN_OR_RETURN(int64_t axis, info.opset < 4 ? info.attrs.Int("axis", 1) : info.attrs.Int("axis"));
  return MakeKernel<ConcatKernel>(axis);
}

// ------------------------------------------------------------ Reshape ---

class ReshapeKernel final : public Kernel {
 public:
  ReshapeKernel(IntsArg shape, bool allow_zero) : shape_(std::move(shape)), allow_zero_(allow_zero) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "data"));
    IntList spec;
    RETURN_IF_ERROR(shape_.Get(ctx, &spec));
    RETURN_IF_ERROR(CheckRank(spec.n, "Reshape output"));
    const Shape& in = x->shape();
    auto fail = [&](const std::string& why) {
      return InvalidArgumentError("Reshape: cannot reshape " + in.ToString() + " (" +
                                  std::to_string(x->size()) + " elements) into " +
                                  ListToString(spec.v, spec.n) + ": " + why);
    };
    int64_t dims[kMaxRank];
    int infer = -1;
    bool has_zero = false;
    int64_t known = 1;
    for (int i = 0; i < spec.n; ++i) {
      int64_t d = spec[i];
      if (d == -1) {
        if (infer >= 0) return fail("more than one dimension is -1");
        infer = i;
        d = 1;
      } else if (d == 0 && !allow_zero_) {
        if (i >= in.rank()) return fail("0 at index " + std::to_string(i) + " copies a dimension the input does not have");
        d = in[i];
      } else if (d < 0) {
        return fail("dimension " + std::to_string(d) + " is invalid");
      }
      if (d == 0) has_zero = true;
      dims[i] = d;
      if (i != infer && __builtin_mul_overflow(known, d, &known)) return fail("the element count overflows");
    }
    if (infer >= 0) {
      if (allow_zero_ && has_zero) return fail("with allowzero=1, a shape cannot contain both 0 and -1");
      if (known == 0 || x->size() % known != 0) return fail("the -1 dimension cannot be inferred");
      dims[infer] = x->size() / known;
    } else if (known != x->size()) {
      return fail("the element counts differ");
    }
    ASSIGN_OR_RETURN(Shape out, CheckedShape(dims, spec.n, "Reshape output"));
    return OutputCopy(ctx, 0, *x, out);
  }

 private:
  IntsArg shape_;
  bool allow_zero_;
};

KernelOr CreateReshape(const KernelInfo& info) {
  if (info.opset < 5) {
    ASSIGN_OR_RETURN(IntsArg shape, IntsArg::Attribute(info, "shape"));
    if (!shape.present()) return InvalidArgumentError("required attribute 'shape' is missing");
    return MakeKernel<ReshapeKernel>(std::move(shape), false);
  }
  if (!info.has_input(1)) return InvalidArgumentError("required input 'shape' is missing");
  ASSIGN_OR_RETURN(IntsArg shape, IntsArg::Input(info, 1, "shape"));
  int64_t allow_zero = 0;
  if (info.opset >= 14) { ASSIGN_OR_RETURN(allow_zero, info.attrs.Int("allowzero", 0)); }
  return MakeKernel<ReshapeKernel>(std::move(shape), allow_zero != 0);
}

// ------------------------------------------------------------ Flatten ---

class FlattenKernel final : public Kernel {
 public:
  explicit FlattenKernel(int64_t axis) : axis_(axis) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
    const int rank = x->rank();
    if (axis_ < -rank || axis_ > rank) {
      return InvalidArgumentError("axis " + std::to_string(axis_) + " is out of range for a tensor of rank " +
                                  std::to_string(rank) + " (valid: " + std::to_string(-rank) + " to " +
                                  std::to_string(rank) + ")");
    }
    const int axis = static_cast<int>(axis_ < 0 ? axis_ + rank : axis_);
    return OutputCopy(ctx, 0, *x, Shape{Product(x->shape(), 0, axis), Product(x->shape(), axis, rank)});
  }

 private:
  int64_t axis_;
};

KernelOr CreateFlatten(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t axis, info.attrs.Int("axis", 1));
  return MakeKernel<FlattenKernel>(axis);
}

// ---------------------------------------------------- Squeeze/Unsqueeze ---

class SqueezeKernel final : public Kernel {
 public:
  explicit SqueezeKernel(IntsArg axes) : axes_(std::move(axes)) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "data"));
    const Shape& in = x->shape();
    bool drop[kMaxRank] = {};
    if (axes_.present()) {
      IntList axes;
      RETURN_IF_ERROR(axes_.Get(ctx, &axes));
      for (int i = 0; i < axes.n; ++i) {
        auto axis = AxisEntry(axes[i], in.rank(), axes_.what());
        if (!axis.ok()) return axis.status();
        if (drop[*axis]) return InvalidArgumentError(axes_.what() + " repeats axis " + std::to_string(*axis));
        if (in[*axis] != 1) {
          return InvalidArgumentError("cannot squeeze axis " + std::to_string(*axis) + " of size " +
                                      std::to_string(in[*axis]) + " in shape " + in.ToString() +
                                      "; only size-1 axes can be removed");
        }
        drop[*axis] = true;
      }
    } else {
      for (int d = 0; d < in.rank(); ++d) drop[d] = in[d] == 1;
    }
    Shape out;
    for (int d = 0; d < in.rank(); ++d)
      if (!drop[d]) out.PushBack(in[d]);
    return OutputCopy(ctx, 0, *x, out);
  }

 private:
  IntsArg axes_;
};

KernelOr CreateSqueeze(const KernelInfo& info) {
  if (info.opset < 13) {
    ASSIGN_OR_RETURN(IntsArg axes, IntsArg::Attribute(info, "axes"));
    return MakeKernel<SqueezeKernel>(std::move(axes));
  }
  ASSIGN_OR_RETURN(IntsArg axes, IntsArg::Input(info, 1, "axes"));
  return MakeKernel<SqueezeKernel>(std::move(axes));
}

class UnsqueezeKernel final : public Kernel {
 public:
  explicit UnsqueezeKernel(IntsArg axes) : axes_(std::move(axes)) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "data"));
    IntList axes;
    RETURN_IF_ERROR(axes_.Get(ctx, &axes));
    const int rank = x->rank() + axes.n;
    RETURN_IF_ERROR(CheckRank(rank, "Unsqueeze output"));
    bool inserted[kMaxRank] = {};
    for (int i = 0; i < axes.n; ++i) {
      auto axis = AxisEntry(axes[i], rank, axes_.what());
      if (!axis.ok()) return axis.status();
      if (inserted[*axis]) return InvalidArgumentError(axes_.what() + " repeats axis " + std::to_string(*axis));
      inserted[*axis] = true;
    }
    Shape out;
    int src = 0;
    for (int d = 0; d < rank; ++d) out.PushBack(inserted[d] ? 1 : x->shape()[src++]);
    return OutputCopy(ctx, 0, *x, out);
  }

 private:
  IntsArg axes_;
};

KernelOr CreateUnsqueeze(const KernelInfo& info) {
  StatusOr<IntsArg> axes = info.opset < 13 ? IntsArg::Attribute(info, "axes") : IntsArg::Input(info, 1, "axes");
  if (!axes.ok()) return axes.status();
  if (!axes->present()) return InvalidArgumentError("required " + axes->what() + " is missing");
  return MakeKernel<UnsqueezeKernel>(std::move(axes).value());
}

// ---------------------------------------------------------- Transpose ---

class TransposeKernel final : public Kernel {
 public:
  // perm.n == 0 means "reverse the dimensions".
  explicit TransposeKernel(IntList perm) : perm_(perm) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "data"));
    const int rank = x->rank();
    if (perm_.n != 0 && perm_.n != rank) {
      return InvalidArgumentError("attribute 'perm' has " + std::to_string(perm_.n) +
                                  " entries but the input has rank " + std::to_string(rank));
    }
    int64_t strides[kMaxRank];
    RowMajorStrides(x->shape(), strides);
    StridedView view;
    view.rank = rank;
    for (int d = 0; d < rank; ++d) {
      const int src = perm_.n ? static_cast<int>(perm_[d]) : rank - 1 - d;
      view.dims[d] = x->shape()[src];
      view.strides[d] = strides[src];
    }
    return OutputView(ctx, *x, view);
  }

 private:
  IntList perm_;
};

KernelOr CreateTranspose(const KernelInfo& info) {
  ASSIGN_OR_RETURN(IntsArg perm_arg, IntsArg::Attribute(info, "perm"));
  IntList perm;
  if (perm_arg.present()) {
    perm = *perm_arg.static_values();
    RETURN_IF_ERROR(CheckRank(perm.n, "attribute 'perm'"));
    bool seen[kMaxRank] = {};
    for (int i = 0; i < perm.n; ++i) {
      if (perm[i] < 0 || perm[i] >= perm.n || seen[perm[i]]) {
        return InvalidArgumentError("attribute 'perm' " + ListToString(perm.v, perm.n) +
                                    " is not a permutation of 0.." + std::to_string(perm.n - 1));
      }
      seen[perm[i]] = true;
    }
  }
  return MakeKernel<TransposeKernel>(perm);
}

// ------------------------------------------------------------- Gather ---

class GatherKernel final : public Kernel {
 public:
  explicit GatherKernel(int64_t axis) : axis_(axis) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* data, RequireInput(ctx, 0, "data"));
    ASSIGN_OR_RETURN(const Tensor* indices, RequireInput(ctx, 1, "indices"));
    const int rank = data->rank();
    if (rank == 0) return InvalidArgumentError("input 'data' is a scalar; Gather needs rank >= 1");
    ASSIGN_OR_RETURN(int axis, NormalizeAxis(axis_, rank));
    RETURN_IF_ERROR(CheckRank(rank - 1 + indices->rank(), "Gather output"));
    Shape out;
    for (int d = 0; d < axis; ++d) out.PushBack(data->shape()[d]);
    for (int d = 0; d < indices->rank(); ++d) out.PushBack(indices->shape()[d]);
    for (int d = axis + 1; d < rank; ++d) out.PushBack(data->shape()[d]);
    const int64_t n = data->shape()[axis];
    const int64_t outer = Product(data->shape(), 0, axis);
    const int64_t inner = Product(data->shape(), axis + 1, rank);
    const int64_t count = indices->size();
    return DispatchIndex(indices->dtype(), "input 'indices'", [&](auto itag) -> Status {
      using I = typename decltype(itag)::type;
      const I* idx = indices->data<I>();
      int64_t unused;
      for (int64_t j = 0; j < count; ++j) {
        if (!NormalizeIndex(idx[j], n, &unused)) return IndexOutOfRange("input 'indices'", idx[j], axis, n);
      }
      ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, data->dtype(), out));
      return DispatchBySize(data->dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* src = data->data<T>();
        T* dst = y->mutable_data<T>();
        for (int64_t o = 0; o < outer; ++o) {
          const T* base = src + o * n * inner;
          for (int64_t j = 0; j < count; ++j) {
            const int64_t k = idx[j] < 0 ? idx[j] + n : idx[j];
            if (inner == 1) *dst = base[k];
            else CopyElements(base + k * inner, dst, inner);
            dst += inner;
          }
        }
        return OkStatus();
      });
    });
  }

 private:
  int64_t axis_;
};

KernelOr CreateGather(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t axis, info.attrs.Int("axis", 0));
  return MakeKernel<GatherKernel>(axis);
}

// Shared checks of GatherElements / ScatterElements: same rank, and the
// index tensor fits inside the data outside `axis`.
Status CheckElementsShapes(const Tensor& data, const Tensor& indices, int axis) {
  if (indices.rank() != data.rank()) {
    return InvalidArgumentError("input 'indices' has rank " + std::to_string(indices.rank()) +
                                " but 'data' has rank " + std::to_string(data.rank()));
  }
  for (int d = 0; d < data.rank(); ++d) {
    if (d != axis && indices.shape()[d] > data.shape()[d]) {
      return InvalidArgumentError("input 'indices' shape " + indices.shape().ToString() +
                                  " exceeds 'data' shape " + data.shape().ToString() + " on axis " +
                                  std::to_string(d));
    }
  }
  return OkStatus();
}

// Calls f(data_offset, element_position) for each element of `indices`,
// where data_offset addresses `data` with the index value on `axis`. Index
// values must have been validated.
template <typename I, typename F>
void ForEachElementIndex(const Shape& data, const Tensor& indices, int axis, F&& f) {
  const int rank = data.rank();
  int64_t ds[kMaxRank];
  RowMajorStrides(data, ds);
  const int64_t n = data[axis];
  const I* idx = indices.data<I>();
  const int64_t total = indices.size();
  if (total == 0) return;
  int64_t pos[kMaxRank] = {};
  int64_t base = 0;  // offset of pos with the axis coordinate left out
  const int64_t* dims = indices.shape().dims().data();
  for (int64_t e = 0; e < total; ++e) {
    const int64_t k = idx[e] < 0 ? idx[e] + n : idx[e];
    f(base + k * ds[axis], e);
    for (int d = rank - 1; d >= 0; --d) {
      if (d != axis) base += ds[d];
      if (++pos[d] < dims[d]) break;
      if (d != axis) base -= ds[d] * dims[d];
      pos[d] = 0;
    }
  }
}

template <typename I>
Status ValidateIndices(const Tensor& indices, int64_t n, int axis) {
  int64_t unused;
  for (I v : indices.values<I>())
    if (!NormalizeIndex(v, n, &unused)) return IndexOutOfRange("input 'indices'", v, axis, n);
  return OkStatus();
}

class GatherElementsKernel final : public Kernel {
 public:
  explicit GatherElementsKernel(int64_t axis) : axis_(axis) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* data, RequireInput(ctx, 0, "data"));
    ASSIGN_OR_RETURN(const Tensor* indices, RequireInput(ctx, 1, "indices"));
    if (data->rank() == 0) return InvalidArgumentError("input 'data' is a scalar; GatherElements needs rank >= 1");
    ASSIGN_OR_RETURN(int axis, NormalizeAxis(axis_, data->rank()));
    RETURN_IF_ERROR(CheckElementsShapes(*data, *indices, axis));
    return DispatchIndex(indices->dtype(), "input 'indices'", [&](auto itag) -> Status {
      using I = typename decltype(itag)::type;
      RETURN_IF_ERROR(ValidateIndices<I>(*indices, data->shape()[axis], axis));
      ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, data->dtype(), indices->shape()));
      return DispatchBySize(data->dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* src = data->data<T>();
        T* dst = y->mutable_data<T>();
        ForEachElementIndex<I>(data->shape(), *indices, axis,
                               [&](int64_t off, int64_t e) { dst[e] = src[off]; });
        return OkStatus();
      });
    });
  }

 private:
  int64_t axis_;
};

KernelOr CreateGatherElements(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t axis, info.attrs.Int("axis", 0));
  return MakeKernel<GatherElementsKernel>(axis);
}

// -------------------------------------------------------------- Slice ---

class SliceKernel final : public Kernel {
 public:
  inline static const std::string kDefaultAxes = "default axes (0, 1, ...)";
  SliceKernel(IntsArg starts, IntsArg ends, IntsArg axes, IntsArg steps)
      : starts_(std::move(starts)), ends_(std::move(ends)), axes_(std::move(axes)), steps_(std::move(steps)) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "data"));
    const int rank = x->rank();
    IntList starts, ends, axes, steps;
    RETURN_IF_ERROR(starts_.Get(ctx, &starts));
    RETURN_IF_ERROR(ends_.Get(ctx, &ends));
    const int n = starts.n;
    auto check_len = [&](const IntList& l, const IntsArg& arg) -> Status {
      if (l.n != n) {
        return InvalidArgumentError(arg.what() + " has " + std::to_string(l.n) + " entries but " +
                                    starts_.what() + " has " + std::to_string(n));
      }
      return OkStatus();
    };
    RETURN_IF_ERROR(check_len(ends, ends_));
    if (axes_.present()) {
      RETURN_IF_ERROR(axes_.Get(ctx, &axes));
      RETURN_IF_ERROR(check_len(axes, axes_));
    } else {
      for (int i = 0; i < n; ++i) axes.v[i] = i;
      axes.n = n;
    }
    if (steps_.present()) {
      RETURN_IF_ERROR(steps_.Get(ctx, &steps));
      RETURN_IF_ERROR(check_len(steps, steps_));
    } else {
      for (int i = 0; i < n; ++i) steps.v[i] = 1;
      steps.n = n;
    }
    StridedView view = IdentityView(x->shape());
    bool seen[kMaxRank] = {};
    for (int i = 0; i < n; ++i) {
      auto axis_or = AxisEntry(axes[i], rank, axes_.present() ? axes_.what() : kDefaultAxes);
      if (!axis_or.ok()) return axis_or.status();
      const int axis = *axis_or;
      if (seen[axis]) return InvalidArgumentError(axes_.what() + " repeats axis " + std::to_string(axis));
      seen[axis] = true;
      const int64_t dim = x->shape()[axis];
      const int64_t step = steps[i];
      if (step == 0) return InvalidArgumentError(steps_.what() + " entry " + std::to_string(i) + " is 0");
      int64_t start = starts[i] < 0 ? starts[i] + dim : starts[i];
      int64_t end = ends[i] < 0 ? ends[i] + dim : ends[i];
      int64_t count = 0;
      if (step > 0) {
        start = std::clamp<int64_t>(start, 0, dim);
        end = std::clamp<int64_t>(end, 0, dim);
        if (end > start) count = (end - start - 1) / step + 1;
      } else if (dim > 0) {
        start = std::clamp<int64_t>(start, 0, dim - 1);
        end = std::clamp<int64_t>(end, -1, dim - 1);
        const uint64_t magnitude = 0 - static_cast<uint64_t>(step);  // safe for INT64_MIN
        if (start > end) count = static_cast<int64_t>(static_cast<uint64_t>(start - end - 1) / magnitude) + 1;
      }
      if (count > 0) view.offset += start * view.strides[axis];
      // A step beyond the axis yields one element; its stride is never used.
      view.strides[axis] = count > 1 ? view.strides[axis] * step : 0;
      view.dims[axis] = count;
    }
    return OutputView(ctx, *x, view);
  }

 private:
  IntsArg starts_, ends_, axes_, steps_;
};

KernelOr CreateSlice(const KernelInfo& info) {
  if (info.opset < 10) {
    ASSIGN_OR_RETURN(IntsArg starts, IntsArg::Attribute(info, "starts"));
    ASSIGN_OR_RETURN(IntsArg ends, IntsArg::Attribute(info, "ends"));
    ASSIGN_OR_RETURN(IntsArg axes, IntsArg::Attribute(info, "axes"));
    if (!starts.present() || !ends.present()) {
      return InvalidArgumentError("required attributes 'starts' and 'ends' must both be set");
    }
    return MakeKernel<SliceKernel>(std::move(starts), std::move(ends), std::move(axes), IntsArg());
  }
  if (!info.has_input(1) || !info.has_input(2)) {
    return InvalidArgumentError("required inputs 'starts' and 'ends' must both be given");
  }
  ASSIGN_OR_RETURN(IntsArg starts, IntsArg::Input(info, 1, "starts"));
  ASSIGN_OR_RETURN(IntsArg ends, IntsArg::Input(info, 2, "ends"));
  ASSIGN_OR_RETURN(IntsArg axes, IntsArg::Input(info, 3, "axes"));
  ASSIGN_OR_RETURN(IntsArg steps, IntsArg::Input(info, 4, "steps"));
  return MakeKernel<SliceKernel>(std::move(starts), std::move(ends), std::move(axes), std::move(steps));
}

// -------------------------------------------------------------- Split ---

class SplitKernel final : public Kernel {
 public:
  // Sizes come from `static_sizes` when set, else from input `size_input`
  // when >= 0, else the axis is split evenly (the last part smaller when
  // `uneven_ok`, as Split-18 with num_outputs allows).
  SplitKernel(int64_t axis, std::optional<std::vector<int64_t>> static_sizes, int size_input, bool uneven_ok)
      : axis_(axis), static_sizes_(std::move(static_sizes)), size_input_(size_input), uneven_ok_(uneven_ok) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
    const int rank = x->rank();
    if (rank == 0) return InvalidArgumentError("input 'input' is a scalar; Split needs rank >= 1");
    ASSIGN_OR_RETURN(int axis, NormalizeAxis(axis_, rank));
    const int n = ctx.num_outputs();
    const int64_t dim = x->shape()[axis];
    const Tensor* sizes_tensor = size_input_ >= 0 ? ctx.input(size_input_) : nullptr;
    int64_t chunk = 0;
    if (static_sizes_ || sizes_tensor != nullptr) {
      const int64_t count = static_sizes_ ? static_cast<int64_t>(static_sizes_->size()) : sizes_tensor->size();
      if (sizes_tensor != nullptr) {
        if (sizes_tensor->rank() > 1) {
          return InvalidArgumentError("input 'split' must be a 1-D tensor, got shape " +
                                      sizes_tensor->shape().ToString());
        }
        if (sizes_tensor->dtype() != DataType::kInt64 && sizes_tensor->dtype() != DataType::kInt32) {
          return InvalidArgumentError("input 'split' must be INT64 or INT32, got " + TypeName(sizes_tensor->dtype()));
        }
      }
      if (count != n) {
        return InvalidArgumentError("'split' has " + std::to_string(count) + " entries but the node has " +
                                    std::to_string(n) + " outputs");
      }
      int64_t sum = 0;
      for (int k = 0; k < n; ++k) {
        const int64_t s = SizeAt(sizes_tensor, k, 0, 0);
        if (s < 0 || s > dim) {
          return InvalidArgumentError("'split' entry " + std::to_string(k) + " is " + std::to_string(s) +
                                      ", outside 0.." + std::to_string(dim));
        }
        sum += s;
      }
      if (sum != dim) {
        return InvalidArgumentError("'split' entries sum to " + std::to_string(sum) + " but axis " +
                                    std::to_string(axis) + " has size " + std::to_string(dim));
      }
    } else {
      if (n <= 0) return InvalidArgumentError("Split needs at least one output");
      chunk = dim / n + (dim % n != 0 ? 1 : 0);
      if (dim % n != 0 && (!uneven_ok_ || chunk * (n - 1) > dim)) {
        return InvalidArgumentError("axis " + std::to_string(axis) + " of size " + std::to_string(dim) +
                                    " cannot be split evenly into " + std::to_string(n) + " outputs");
      }
    }
    const int64_t outer = Product(x->shape(), 0, axis);
    const int64_t inner = Product(x->shape(), axis + 1, rank);
    int64_t offset = 0;
    for (int k = 0; k < n; ++k) {
      const int64_t size = SizeAt(sizes_tensor, k, chunk, dim);
      Shape shape = x->shape();
      shape[axis] = size;
      ASSIGN_OR_RETURN(Tensor* y, ctx.Output(k, x->dtype(), shape));
      Status st = DispatchBySize(x->dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* src = x->data<T>() + offset * inner;
        T* dst = y->mutable_data<T>();
        const int64_t block = size * inner;
        for (int64_t o = 0; o < outer; ++o) CopyElements(src + o * dim * inner, dst + o * block, block);
        return OkStatus();
      });
      RETURN_IF_ERROR(st);
      offset += size;
    }
    return OkStatus();
  }

 private:
  int64_t SizeAt(const Tensor* sizes, int k, int64_t chunk, int64_t dim) const {
    if (static_sizes_) return (*static_sizes_)[static_cast<size_t>(k)];
    if (sizes != nullptr) {
      return sizes->dtype() == DataType::kInt64 ? sizes->data<int64_t>()[k] : sizes->data<int32_t>()[k];
    }
    return std::min(chunk, dim - chunk * k);  // the last part takes the remainder
  }

  int64_t axis_;
  std::optional<std::vector<int64_t>> static_sizes_;
  int size_input_;
  bool uneven_ok_;
};

KernelOr CreateSplit(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t axis, info.attrs.Int("axis", 0));
  std::optional<std::vector<int64_t>> sizes;
  int size_input = -1;
  bool uneven_ok = false;
  // Split-1 takes 'split' as an attribute or an optional second input,
  // Split-2/11 as an attribute, Split-13+ as an optional input.
  const bool from_input = info.opset >= 13 || (info.opset < 2 && info.has_input(1));
  if (from_input) {
    if (const Tensor* c = info.constant_input(1)) {
      if (c->rank() > 1 || (c->dtype() != DataType::kInt64 && c->dtype() != DataType::kInt32)) {
        return InvalidArgumentError("input 'split' must be a 1-D INT64 tensor, got " + c->Describe());
      }
      std::vector<int64_t> v;
      for (int64_t i = 0; i < c->size(); ++i)
        v.push_back(c->dtype() == DataType::kInt64 ? c->data<int64_t>()[i] : c->data<int32_t>()[i]);
      sizes = std::move(v);
    } else if (info.has_input(1)) {
      size_input = 1;
    }
  } else if (info.attrs.Has("split")) {
    ASSIGN_OR_RETURN(std::vector<int64_t> v, info.attrs.Ints("split"));
    sizes = std::move(v);
  }
  if (info.opset >= 18 && info.attrs.Has("num_outputs")) {
    ASSIGN_OR_RETURN(int64_t num_outputs, info.attrs.Int("num_outputs"));
    if (sizes || size_input >= 0) {
      return InvalidArgumentError("attribute 'num_outputs' and input 'split' cannot both be given");
    }
    if (num_outputs != info.num_outputs) {
      return InvalidArgumentError("attribute 'num_outputs' is " + std::to_string(num_outputs) +
                                  " but the node has " + std::to_string(info.num_outputs) + " outputs");
    }
    uneven_ok = true;
  }
  return MakeKernel<SplitKernel>(axis, std::move(sizes), size_input, uneven_ok);
}

// --------------------------------------------------------- Shape, Size ---

class ShapeKernel final : public Kernel {
 public:
  ShapeKernel(int64_t start, std::optional<int64_t> end) : start_(start), end_(end) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "data"));
    const int64_t rank = x->rank();
    // Shape-15: negative bounds count from the back; both are clamped.
    auto clamp = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
    const int64_t start = clamp(start_);
    const int64_t end = end_ ? clamp(*end_) : rank;
    const int64_t n = std::max<int64_t>(0, end - start);
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, DataType::kInt64, Shape{n}));
    for (int64_t i = 0; i < n; ++i) y->mutable_data<int64_t>()[i] = x->shape()[static_cast<int>(start + i)];
    return OkStatus();
  }

 private:
  int64_t start_;
  std::optional<int64_t> end_;
};

KernelOr CreateShape(const KernelInfo& info) {
  int64_t start = 0;
  std::optional<int64_t> end;
  if (info.opset >= 15) {
    ASSIGN_OR_RETURN(start, info.attrs.Int("start", 0));
    if (info.attrs.Has("end")) { ASSIGN_OR_RETURN(end, info.attrs.Int("end")); }
  }
  return MakeKernel<ShapeKernel>(start, end);
}

class SizeKernel final : public Kernel {
 public:
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "data"));
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, DataType::kInt64, Shape{}));
    y->mutable_data<int64_t>()[0] = x->size();
    return OkStatus();
  }
};

KernelOr CreateSize(const KernelInfo&) { return MakeKernel<SizeKernel>(); }

// ----------------------------------------------- Constant, ConstantOfShape ---

// Fills `n` elements of `y` (of value's type) with value[0].
void FillWith(const Tensor& value, Tensor& y) {
  Status st = DispatchBySize(value.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::fill_n(y.mutable_data<T>(), y.size(), value.data<T>()[0]);
    return OkStatus();
  });
  st.IgnoreError();  // value's type was checked when the kernel was created
}

class ConstantKernel final : public Kernel {
 public:
  explicit ConstantKernel(Tensor value) : value_(std::move(value)) {}
  Status Compute(KernelContext& ctx) const override { return OutputCopy(ctx, 0, value_, value_.shape()); }

 private:
  Tensor value_;
};

KernelOr CreateConstant(const KernelInfo& info) {
  const auto& a = info.attrs;
  static constexpr std::string_view kNames[] = {"value", "sparse_value", "value_float", "value_floats",
                                                "value_int", "value_ints", "value_string", "value_strings"};
  int set = 0;
  for (std::string_view name : kNames) set += a.Has(name) ? 1 : 0;
  if (set != 1) {
    return InvalidArgumentError("exactly one of the attributes value, sparse_value, value_float(s), "
                                "value_int(s), value_string(s) must be set; found " + std::to_string(set));
  }
  if (a.Has("sparse_value")) return UnimplementedError("attribute 'sparse_value' (sparse constants) is not supported");
  if (a.Has("value")) {
    ASSIGN_OR_RETURN(const onnx::TensorProto* proto, a.TensorAttr("value"));
    auto t = TensorFromProto(*proto);
    if (!t.ok()) return t.status().WithPrefix("attribute 'value'");
    return MakeKernel<ConstantKernel>(std::move(t).value());
  }
  if (a.Has("value_float")) {
    ASSIGN_OR_RETURN(float v, a.Float("value_float"));
    return MakeKernel<ConstantKernel>(Tensor::FromVector<float>(Shape{}, {v}));
  }
  if (a.Has("value_floats")) {
    ASSIGN_OR_RETURN(std::vector<float> v, a.Floats("value_floats"));
    const auto n = static_cast<int64_t>(v.size());
    return MakeKernel<ConstantKernel>(Tensor::FromVector<float>(Shape{n}, v));
  }
  if (a.Has("value_int")) {
    ASSIGN_OR_RETURN(int64_t v, a.Int("value_int"));
    return MakeKernel<ConstantKernel>(Tensor::FromVector<int64_t>(Shape{}, {v}));
  }
  if (a.Has("value_ints")) {
    ASSIGN_OR_RETURN(std::vector<int64_t> v, a.Ints("value_ints"));
    const auto n = static_cast<int64_t>(v.size());
    return MakeKernel<ConstantKernel>(Tensor::FromVector<int64_t>(Shape{n}, v));
  }
  if (a.Has("value_string")) {
    ASSIGN_OR_RETURN(std::string v, a.String("value_string"));
    return MakeKernel<ConstantKernel>(Tensor::FromVector<std::string>(Shape{}, {v}));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> v, a.Strings("value_strings"));
  const auto n = static_cast<int64_t>(v.size());
  return MakeKernel<ConstantKernel>(Tensor::FromVector<std::string>(Shape{n}, v));
}

class ConstantOfShapeKernel final : public Kernel {
 public:
  ConstantOfShapeKernel(IntsArg shape, Tensor value) : shape_(std::move(shape)), value_(std::move(value)) {}
  Status Compute(KernelContext& ctx) const override {
    IntList dims;
    RETURN_IF_ERROR(shape_.Get(ctx, &dims));
    ASSIGN_OR_RETURN(Shape shape, CheckedShape(dims.v, dims.n, "input 'input'"));
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, value_.dtype(), shape));
    FillWith(value_, *y);
    return OkStatus();
  }

 private:
  IntsArg shape_;
  Tensor value_;
};

KernelOr CreateConstantOfShape(const KernelInfo& info) {
  if (!info.has_input(0)) return InvalidArgumentError("required input 'input' is missing");
  ASSIGN_OR_RETURN(IntsArg shape, IntsArg::Input(info, 0, "input"));
  ASSIGN_OR_RETURN(const onnx::TensorProto* proto, info.attrs.TensorAttr("value"));
  Tensor value = Tensor::FromVector<float>(Shape{1}, {0.0f});
  if (proto != nullptr) {
    auto t = TensorFromProto(*proto);
    if (!t.ok()) return t.status().WithPrefix("attribute 'value'");
    if (t->size() != 1) {
      return InvalidArgumentError("attribute 'value' must hold exactly one element, got shape " +
                                  t->shape().ToString());
    }
    value = std::move(t).value();
  }
  return MakeKernel<ConstantOfShapeKernel>(std::move(shape), std::move(value));
}

// -------------------------------------------------------------- Range ---

class RangeKernel final : public Kernel {
 public:
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* start, RequireInput(ctx, 0, "start"));
    ASSIGN_OR_RETURN(const Tensor* limit, RequireInput(ctx, 1, "limit"));
    ASSIGN_OR_RETURN(const Tensor* delta, RequireInput(ctx, 2, "delta"));
    const char* names[3] = {"start", "limit", "delta"};
    const Tensor* args[3] = {start, limit, delta};
    for (int i = 0; i < 3; ++i) {
      if (args[i]->size() != 1) {
        return InvalidArgumentError(std::string("input '") + names[i] + "' must be a scalar, got shape " +
                                    args[i]->shape().ToString());
      }
      if (args[i]->dtype() != start->dtype()) {
        return InvalidArgumentError(std::string("input '") + names[i] + "' has datatype " +
                                    TypeName(args[i]->dtype()) + " but 'start' has " + TypeName(start->dtype()));
      }
    }
    constexpr uint64_t kMaxCount = uint64_t{1} << 40;
    return DispatchNumeric(start->dtype(), "Range", [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      const T s = start->data<T>()[0], l = limit->data<T>()[0], d = delta->data<T>()[0];
      if (d == T(0)) return InvalidArgumentError("input 'delta' must not be 0");
      uint64_t count = 0;
      if constexpr (std::is_floating_point_v<T>) {
        const double c = std::ceil((static_cast<double>(l) - static_cast<double>(s)) / static_cast<double>(d));
        if (c > static_cast<double>(kMaxCount)) return TooLargeError("Range would produce more than 2^40 elements");
        count = c > 0 ? static_cast<uint64_t>(c) : 0;  // NaN compares false: empty
      } else {
        // Exact count in unsigned arithmetic: the distance always fits.
        if (d > T(0) && l > s) {
          count = (static_cast<uint64_t>(l) - static_cast<uint64_t>(s) - 1) / static_cast<uint64_t>(d) + 1;
        } else if (d < T(0) && l < s) {
          count = (static_cast<uint64_t>(s) - static_cast<uint64_t>(l) - 1) / (0 - static_cast<uint64_t>(d)) + 1;
        }
        if (count > kMaxCount) return TooLargeError("Range would produce more than 2^40 elements");
      }
      ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, start->dtype(), Shape{static_cast<int64_t>(count)}));
      T* out = y->mutable_data<T>();
      for (uint64_t i = 0; i < count; ++i) {
        if constexpr (std::is_floating_point_v<T>) {
          out[i] = static_cast<T>(static_cast<double>(s) + static_cast<double>(i) * static_cast<double>(d));
        } else {
          // Wraps modulo 2^64; every produced value lies between s and l.
          out[i] = static_cast<T>(static_cast<uint64_t>(s) + i * static_cast<uint64_t>(d));
        }
      }
      return OkStatus();
    });
  }
};

KernelOr CreateRange(const KernelInfo&) { return MakeKernel<RangeKernel>(); }

// ------------------------------------------------------------- Expand ---

class ExpandKernel final : public Kernel {
 public:
  explicit ExpandKernel(IntsArg shape) : shape_(std::move(shape)) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
    IntList dims;
    RETURN_IF_ERROR(shape_.Get(ctx, &dims));
    ASSIGN_OR_RETURN(Shape target, CheckedShape(dims.v, dims.n, "input 'shape'"));
    auto out_or = BroadcastShapes(x->shape(), target);
    if (!out_or.ok()) return out_or.status().WithPrefix("input 'shape'");
    ASSIGN_OR_RETURN(Shape out, CheckedShape(out_or->dims().data(), out_or->rank(), "output"));
    StridedView view;
    view.rank = out.rank();
    for (int d = 0; d < out.rank(); ++d) view.dims[d] = out[d];
    BroadcastStrides(x->shape(), out, view.strides);
    return OutputView(ctx, *x, view);
  }

 private:
  IntsArg shape_;
};

KernelOr CreateExpand(const KernelInfo& info) {
  if (!info.has_input(1)) return InvalidArgumentError("required input 'shape' is missing");
  ASSIGN_OR_RETURN(IntsArg shape, IntsArg::Input(info, 1, "shape"));
  return MakeKernel<ExpandKernel>(std::move(shape));
}

// --------------------------------------------------------------- Tile ---

class TileKernel final : public Kernel {
 public:
  // Tile-1 takes (tiles, axis) scalars; Tile-6 a repeats list.
  TileKernel(IntsArg repeats, bool legacy) : repeats_(std::move(repeats)), legacy_(legacy) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
    const Shape& in = x->shape();
    const int rank = in.rank();
    IntList reps;
    if (legacy_) {
      ASSIGN_OR_RETURN(const Tensor* tiles, RequireInput(ctx, 1, "tiles"));
      ASSIGN_OR_RETURN(const Tensor* axis_t, RequireInput(ctx, 2, "axis"));
      ASSIGN_OR_RETURN(int64_t t, ReadScalarInt(*tiles, "input 'tiles'"));
      ASSIGN_OR_RETURN(int64_t a, ReadScalarInt(*axis_t, "input 'axis'"));
      ASSIGN_OR_RETURN(int axis, NormalizeAxis(a, rank));
      reps.n = rank;
      for (int d = 0; d < rank; ++d) reps.v[d] = d == axis ? t : 1;
    } else {
      RETURN_IF_ERROR(repeats_.Get(ctx, &reps));
    }
    if (reps.n != rank) {
      return InvalidArgumentError("'repeats' has " + std::to_string(reps.n) + " entries but the input has rank " +
                                  std::to_string(rank));
    }
    int64_t dims[kMaxRank];
    for (int d = 0; d < rank; ++d) {
      if (reps[d] < 0) return InvalidArgumentError("'repeats' entry " + std::to_string(d) + " is negative");
      if (__builtin_mul_overflow(in[d], reps[d], &dims[d])) return TooLargeError("Tile output is too large");
    }
    ASSIGN_OR_RETURN(Shape out, CheckedShape(dims, rank, "Tile output"));
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, x->dtype(), out));
    if (y->size() == 0) return OkStatus();
    if (rank == 0) {
      CopyData(*x, *y);
      return OkStatus();
    }
    int64_t in_strides[kMaxRank];
    RowMajorStrides(in, in_strides);
    return DispatchBySize(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = x->data<T>();
      T* dst = y->mutable_data<T>();
      const int last = rank - 1;
      const int64_t row = in[last];
      int64_t idx[kMaxRank] = {};  // over the output's outer dimensions
      int64_t in_idx[kMaxRank] = {};
      int64_t base = 0;
      for (;;) {
        for (int64_t r = 0; r < reps[last]; ++r) {
          CopyElements(src + base, dst, row);
          dst += row;
        }
        int d = last - 1;
        for (; d >= 0; --d) {
          base += in_strides[d];
          if (++in_idx[d] == in[d]) {
            in_idx[d] = 0;
            base -= in[d] * in_strides[d];
          }
          if (++idx[d] < out[d]) break;
          idx[d] = 0;  // out[d] is a multiple of in[d], so in_idx[d] is 0 too
        }
        if (d < 0) break;
      }
      return OkStatus();
    });
  }

 private:
  IntsArg repeats_;
  bool legacy_;
};

KernelOr CreateTile(const KernelInfo& info) {
  if (info.opset < 6) return MakeKernel<TileKernel>(IntsArg(), true);
  if (!info.has_input(1)) return InvalidArgumentError("required input 'repeats' is missing");
  ASSIGN_OR_RETURN(IntsArg repeats, IntsArg::Input(info, 1, "repeats"));
  return MakeKernel<TileKernel>(std::move(repeats), false);
}

// ------------------------------------------------------------- OneHot ---

class OneHotKernel final : public Kernel {
 public:
  explicit OneHotKernel(int64_t axis) : axis_(axis) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* indices, RequireInput(ctx, 0, "indices"));
    ASSIGN_OR_RETURN(const Tensor* depth_t, RequireInput(ctx, 1, "depth"));
    ASSIGN_OR_RETURN(const Tensor* values, RequireInput(ctx, 2, "values"));
    ASSIGN_OR_RETURN(double depth_d, ReadScalarDouble(*depth_t, "input 'depth'"));
    if (!(depth_d >= 1) || depth_d > static_cast<double>(int64_t{1} << 40)) {
      return InvalidArgumentError("input 'depth' must be a positive number, got " + std::to_string(depth_d));
    }
    const auto depth = static_cast<int64_t>(depth_d);
    if (values->size() != 2) {
      return InvalidArgumentError("input 'values' must hold exactly two elements [off, on], got shape " +
                                  values->shape().ToString());
    }
    const int rank = indices->rank() + 1;
    RETURN_IF_ERROR(CheckRank(rank, "OneHot output"));
    ASSIGN_OR_RETURN(int axis, NormalizeAxis(axis_, rank));
    int64_t dims[kMaxRank];
    for (int d = 0, s = 0; d < rank; ++d) dims[d] = d == axis ? depth : indices->shape()[s++];
    ASSIGN_OR_RETURN(Shape out, CheckedShape(dims, rank, "OneHot output"));
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, values->dtype(), out));
    const int64_t outer = Product(indices->shape(), 0, axis);
    const int64_t inner = Product(indices->shape(), axis, indices->rank());
    return DispatchBySize(values->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* v = values->data<T>();
      T* dst = y->mutable_data<T>();
      std::fill_n(dst, y->size(), v[0]);
      return DispatchNumeric(indices->dtype(), "input 'indices'", [&](auto itag) {
        using I = typename decltype(itag)::type;
        const I* idx = indices->data<I>();
        for (int64_t o = 0; o < outer; ++o) {
          for (int64_t i = 0; i < inner; ++i) {
            int64_t k;
            if constexpr (std::is_floating_point_v<I>) {
              const I raw = idx[o * inner + i];
              if (!(std::abs(raw) < I(depth + 1))) continue;  // out of range or NaN
              k = static_cast<int64_t>(raw);
            } else if constexpr (std::is_same_v<I, uint64_t>) {
              const uint64_t raw = idx[o * inner + i];
              if (raw >= static_cast<uint64_t>(depth)) continue;
              k = static_cast<int64_t>(raw);
            } else {
              k = static_cast<int64_t>(idx[o * inner + i]);
            }
            // Out-of-range indices (after wrapping negatives) select nothing.
            if (!NormalizeIndex(k, depth, &k)) continue;
            dst[(o * depth + k) * inner + i] = v[1];
          }
        }
        return OkStatus();
      });
    });
  }

 private:
  int64_t axis_;
};

KernelOr CreateOneHot(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t axis, info.attrs.Int("axis", -1));
  return MakeKernel<OneHotKernel>(axis);
}

// ------------------------------------------------------------ NonZero ---

class NonZeroKernel final : public Kernel {
 public:
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    return DispatchAny(x->dtype(), "NonZero", [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      auto nonzero = [](const T& v) {
        if constexpr (kIsString<T>) return !v.empty();
        else return v != T{};
      };
      const T* in = x->data<T>();
      int64_t count = 0;
      for (int64_t i = 0; i < x->size(); ++i) count += nonzero(in[i]) ? 1 : 0;
      // A scalar is treated as a 1-D tensor of one element (as numpy does).
      const int rank = x->rank();
      const int coords = std::max(rank, 1);
      ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, DataType::kInt64, Shape{coords, count}));
      int64_t* out = y->mutable_data<int64_t>();
      if (rank == 0) {
        if (count) out[0] = 0;
        return OkStatus();
      }
      int64_t idx[kMaxRank] = {};
      const int64_t* dims = x->shape().dims().data();
      int64_t k = 0;
      for (int64_t i = 0; i < x->size(); ++i) {
        if (nonzero(in[i])) {
          for (int d = 0; d < rank; ++d) out[d * count + k] = idx[d];
          ++k;
        }
        NextIndex(idx, dims, rank);
      }
      return OkStatus();
    });
  }
};

KernelOr CreateNonZero(const KernelInfo&) { return MakeKernel<NonZeroKernel>(); }

// ------------------------------------------------------------ Dropout ---

// Inference dropout is the identity. Training mode (Dropout-12+ with a true
// training_mode input and a non-zero ratio) is supported when the node has a
// 'seed': the mask is drawn from MT19937 like numpy's RandomState(seed), so
// results are reproducible and match the ONNX reference implementation.
class DropoutKernel final : public Kernel {
 public:
  DropoutKernel(bool inputs, float ratio, std::optional<int64_t> seed, bool bool_mask)
      : inputs_(inputs), ratio_(ratio), seed_(seed), bool_mask_(bool_mask) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "data"));
    bool training = false;
    double ratio = ratio_;
    if (inputs_) {
      if (const Tensor* t = ctx.input(2)) {
        if (t->dtype() != DataType::kBool || t->size() != 1) {
          return InvalidArgumentError("input 'training_mode' must be a BOOL scalar, got " + t->Describe());
        }
        training = t->data<bool>()[0];
      }
      if (const Tensor* r = ctx.input(1)) {
        auto v = ReadScalarDouble(*r, "input 'ratio'");
        if (!v.ok()) return v.status();
        ratio = *v;
      }
    }
    const bool want_mask = ctx.num_outputs() > 1;
    const DataType mask_type = bool_mask_ ? DataType::kBool : x->dtype();
    if (!training || ratio == 0) {
      RETURN_IF_ERROR(OutputCopy(ctx, 0, *x, x->shape()));
      if (!want_mask) return OkStatus();
      ASSIGN_OR_RETURN(Tensor* mask, ctx.Output(1, mask_type, x->shape()));
      return DispatchAny(mask_type, "Dropout mask", [&](auto tag) -> Status {
        using T = typename decltype(tag)::type;
        if constexpr (kIsString<T>) {
          return InvalidArgumentError("input 'data' must be numeric");
        } else {
          std::fill_n(mask->mutable_data<T>(), mask->size(), static_cast<T>(1));
          return OkStatus();
        }
      });
    }
    if (!(ratio > 0 && ratio < 1)) {
      return InvalidArgumentError("input 'ratio' must be in [0, 1), got " + std::to_string(ratio));
    }
    if (!seed_) {
      return UnimplementedError("Dropout in training mode needs the 'seed' attribute; rtml only runs "
                                "reproducible training-mode dropout");
    }
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, x->dtype(), x->shape()));
    Tensor* mask = nullptr;
    if (want_mask) { ASSIGN_OR_RETURN(mask, ctx.Output(1, DataType::kBool, x->shape())); }
    return DispatchFloat(x->dtype(), "Dropout in training mode", [&](auto tag) {
      using T = typename decltype(tag)::type;
      std::mt19937 gen(static_cast<std::mt19937::result_type>(static_cast<uint64_t>(*seed_) & 0xffffffffu));
      const T scale = static_cast<T>(1.0 / (1.0 - ratio));
      const T* in = x->data<T>();
      T* out = y->mutable_data<T>();
      for (int64_t i = 0; i < x->size(); ++i) {
        // numpy's random_sample: 53 random bits from two 32-bit draws.
        const uint64_t a = gen() >> 5, b = gen() >> 6;
        const double u = (static_cast<double>(a) * 67108864.0 + static_cast<double>(b)) / 9007199254740992.0;
        const bool keep = u >= ratio;
        out[i] = keep ? in[i] * scale : T(0);
        if (mask != nullptr) mask->mutable_data<bool>()[i] = keep;
      }
      return OkStatus();
    });
  }

 private:
  bool inputs_;  // Dropout-12+: ratio and training_mode are inputs
  float ratio_;
  std::optional<int64_t> seed_;
  bool bool_mask_;  // Dropout-10+: the mask is BOOL; before, the data type
};

KernelOr CreateDropout(const KernelInfo& info) {
  // Dropout-1/6 default to is_test=0 (training). An inference engine runs
  // them as inference, as every runtime does for exported models.
  float ratio = 0.5f;
  if (info.opset < 12) { ASSIGN_OR_RETURN(ratio, info.attrs.Float("ratio", 0.5f)); }
  std::optional<int64_t> seed;
  if (info.opset >= 12 && info.attrs.Has("seed")) { ASSIGN_OR_RETURN(seed, info.attrs.Int("seed")); }
  return MakeKernel<DropoutKernel>(info.opset >= 12, ratio, seed, info.opset >= 10);
}

// -------------------------------------------------------------- Trilu ---

class TriluKernel final : public Kernel {
 public:
  explicit TriluKernel(bool upper) : upper_(upper) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
    int64_t k = 0;
    if (const Tensor* kt = ctx.input(1)) { ASSIGN_OR_RETURN(k, ReadScalarInt(*kt, "input 'k'")); }
    const int rank = x->rank();
    if (rank < 2) return InvalidArgumentError("input 'input' must have rank >= 2, got " + x->shape().ToString());
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, x->dtype(), x->shape()));
    const int64_t rows = x->shape()[rank - 2], cols = x->shape()[rank - 1];
    const int64_t batch = Product(x->shape(), 0, rank - 2);
    return DispatchBySize(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = x->data<T>();
      T* dst = y->mutable_data<T>();
      for (int64_t b = 0; b < batch; ++b) {
        for (int64_t i = 0; i < rows; ++i) {
          for (int64_t j = 0; j < cols; ++j) {
            const int64_t e = (b * rows + i) * cols + j;
            // Keep j - i >= k (upper) or j - i <= k (lower); j - i cannot overflow.
            const bool keep = upper_ ? j - i >= k : j - i <= k;
            if (keep) dst[e] = src[e];
            else SetZero(dst[e]);
          }
        }
      }
      return OkStatus();
    });
  }

 private:
  bool upper_;
};

KernelOr CreateTrilu(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t upper, info.attrs.Int("upper", 1));
  return MakeKernel<TriluKernel>(upper != 0);
}

// ------------------------------------------------------------ EyeLike ---

class EyeLikeKernel final : public Kernel {
 public:
  EyeLikeKernel(DataType dtype, int64_t k) : dtype_(dtype), k_(k) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
    if (x->rank() != 2) return InvalidArgumentError("input 'input' must be 2-D, got shape " + x->shape().ToString());
    const DataType type = dtype_ == DataType::kUndefined ? x->dtype() : dtype_;
    if (type == DataType::kString) return InvalidArgumentError("EyeLike cannot produce BYTES");
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, type, x->shape()));
    return DispatchAny(type, "EyeLike", [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (!kIsString<T>) {
        T* out = y->mutable_data<T>();
        std::fill_n(out, y->size(), T{});
        const int64_t rows = x->shape()[0], cols = x->shape()[1];
        for (int64_t i = 0; i < rows; ++i) {
          // Column i + k, computed without overflow for any k.
          if (k_ >= cols || k_ <= -rows) break;
          const int64_t j = i + k_;
          if (j >= 0 && j < cols) out[i * cols + j] = static_cast<T>(1);
        }
      }
      return OkStatus();
    });
  }

 private:
  DataType dtype_;  // kUndefined: the input's type
  int64_t k_;
};

KernelOr CreateEyeLike(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t k, info.attrs.Int("k", 0));
  DataType dtype = DataType::kUndefined;
  if (info.attrs.Has("dtype")) {
    ASSIGN_OR_RETURN(int64_t t, info.attrs.Int("dtype"));
    dtype = t >= 0 && t <= std::numeric_limits<int32_t>::max() ? FromOnnxType(static_cast<int32_t>(t))
                                                              : DataType::kUndefined;
    if (dtype == DataType::kUndefined || dtype == DataType::kString) {
      return UnimplementedError("attribute 'dtype' " + std::to_string(t) + " is not a supported numeric type");
    }
  }
  return MakeKernel<EyeLikeKernel>(dtype, k);
}

// ---------------------------------------------------------------- Pad ---

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

// Input coordinate feeding output coordinate `o` of an axis padded by
// `before`, or -1 for the constant. `in` > 0 except in constant mode.
inline int64_t PadSource(int64_t o, int64_t before, int64_t in, PadMode mode) {
  const int64_t c = o - before;
  if (c >= 0 && c < in) return c;
  switch (mode) {
    case PadMode::kConstant: return -1;
    case PadMode::kEdge: return c < 0 ? 0 : in - 1;
    case PadMode::kWrap: {
      const int64_t m = c % in;
      return m < 0 ? m + in : m;
    }
    case PadMode::kReflect: {
      if (in == 1) return 0;
      const int64_t period = 2 * (in - 1);
      int64_t m = c % period;
      if (m < 0) m += period;
      return m < in ? m : period - m;
    }
  }
  return -1;
}

class PadKernel final : public Kernel {
 public:
  PadKernel(PadMode mode, IntsArg pads, IntsArg axes, float value_attr, bool value_input)
      : mode_(mode), pads_(std::move(pads)), axes_(std::move(axes)), value_attr_(value_attr),
        value_input_(value_input) {}

  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "data"));
    const Shape& in = x->shape();
    const int rank = in.rank();
    IntList pads;
    RETURN_IF_ERROR(pads_.Get(ctx, &pads));
    int naxes = rank;
    IntList axes;
    if (axes_.present()) {
      RETURN_IF_ERROR(axes_.Get(ctx, &axes));
      naxes = axes.n;
    }
    if (pads.n != 2 * naxes) {
      return InvalidArgumentError(pads_.what() + " has " + std::to_string(pads.n) + " entries; expected " +
                                  std::to_string(2 * naxes) + " (a begin and an end per axis)");
    }
    int64_t before[kMaxRank] = {}, after[kMaxRank] = {};
    bool seen[kMaxRank] = {};
    constexpr int64_t kMaxPad = int64_t{1} << 40;
    for (int i = 0; i < naxes; ++i) {
      int axis = i;
      if (axes_.present()) {
        auto a = AxisEntry(axes[i], rank, axes_.what());
        if (!a.ok()) return a.status();
        axis = *a;
      }
      if (seen[axis]) return InvalidArgumentError(axes_.what() + " repeats axis " + std::to_string(axis));
      seen[axis] = true;
      before[axis] = pads[i];
      after[axis] = pads[i + naxes];
      if (before[axis] < -kMaxPad || before[axis] > kMaxPad || after[axis] < -kMaxPad || after[axis] > kMaxPad) {
        return InvalidArgumentError(pads_.what() + " " + ListToString(pads.v, pads.n) + " has an entry beyond 2^40");
      }
    }
    int64_t dims[kMaxRank];
    for (int d = 0; d < rank; ++d) {
      dims[d] = in[d] + before[d] + after[d];
      if (dims[d] < 0) {
        return InvalidArgumentError(pads_.what() + " " + ListToString(pads.v, pads.n) + " would give axis " +
                                    std::to_string(d) + " of size " + std::to_string(in[d]) + " a negative size");
      }
      if (mode_ != PadMode::kConstant && in[d] == 0 && dims[d] > 0) {
        return InvalidArgumentError("axis " + std::to_string(d) +
                                    " is empty; only constant mode can pad an empty axis");
      }
    }
    ASSIGN_OR_RETURN(Shape out, CheckedShape(dims, rank, "Pad output"));
    const Tensor* value_t = value_input_ ? ctx.input(2) : nullptr;
    if (value_t != nullptr && (value_t->dtype() != x->dtype() || value_t->size() != 1)) {
      return InvalidArgumentError("input 'constant_value' must be a single " + TypeName(x->dtype()) +
                                  " value, got " + value_t->Describe());
    }
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, x->dtype(), out));
    if (y->size() == 0) return OkStatus();
    if (rank == 0) {
      CopyData(*x, *y);
      return OkStatus();
    }
    return DispatchAny(x->dtype(), "Pad", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T converted{};  // an empty std::string does not allocate
      const T* value = &converted;
      if (value_t != nullptr) value = value_t->data<T>();
      else if constexpr (!kIsString<T>) converted = ConvertNumber<T>(value_attr_);
      PadRows<T>(x->data<T>(), in, out, before, *value, y->mutable_data<T>());
      return OkStatus();
    });
  }

 private:
  template <typename T>
  void PadRows(const T* src, const Shape& in, const Shape& out, const int64_t* before, const T& value,
               T* dst) const {
    const int rank = in.rank();
    const int last = rank - 1;
    int64_t in_strides[kMaxRank];
    RowMajorStrides(in, in_strides);
    const int64_t out_len = out[last], in_len = in[last], pb = before[last];
    // Output columns [lo, hi) map straight onto input columns.
    const int64_t lo = std::clamp<int64_t>(pb, 0, out_len);
    const int64_t hi = std::clamp<int64_t>(pb + in_len, lo, out_len);
    int64_t idx[kMaxRank] = {};
    for (;;) {
      bool constant_row = false;
      int64_t base = 0;
      for (int d = 0; d < last; ++d) {
        const int64_t c = PadSource(idx[d], before[d], in[d], mode_);
        if (c < 0) {
          constant_row = true;
          break;
        }
        base += c * in_strides[d];
      }
      if (constant_row) {
        std::fill_n(dst, out_len, value);
      } else {
        const T* row = src + base;
        for (int64_t j = 0; j < lo; ++j) {
          const int64_t c = PadSource(j, pb, in_len, mode_);
          dst[j] = c < 0 ? value : row[c];
        }
        if (hi > lo) CopyElements(row + (lo - pb), dst + lo, hi - lo);
        for (int64_t j = hi; j < out_len; ++j) {
          const int64_t c = PadSource(j, pb, in_len, mode_);
          dst[j] = c < 0 ? value : row[c];
        }
      }
      dst += out_len;
      if (!NextIndex(idx, out.dims().data(), last)) return;
    }
  }

  PadMode mode_;
  IntsArg pads_, axes_;
  float value_attr_;   // Pad-1/2: the 'value' attribute
  bool value_input_;   // Pad-11+: 'constant_value' input
};

KernelOr CreatePad(const KernelInfo& info) {
  ASSIGN_OR_RETURN(std::string mode_name, info.attrs.String("mode", "constant"));
  PadMode mode;
  if (mode_name == "constant") mode = PadMode::kConstant;
  else if (mode_name == "reflect") mode = PadMode::kReflect;
  else if (mode_name == "edge") mode = PadMode::kEdge;
  else if (mode_name == "wrap" && info.opset >= 19) mode = PadMode::kWrap;
  else return InvalidArgumentError("attribute 'mode' must be constant, reflect or edge, got '" + mode_name + "'");
  if (info.opset < 11) {
    ASSIGN_OR_RETURN(IntsArg pads, IntsArg::Attribute(info, info.opset < 2 ? "paddings" : "pads"));
    if (!pads.present()) return InvalidArgumentError("required " + pads.what() + " is missing");
    ASSIGN_OR_RETURN(float value, info.attrs.Float("value", 0.0f));
    return MakeKernel<PadKernel>(mode, std::move(pads), IntsArg(), value, false);
  }
  if (!info.has_input(1)) return InvalidArgumentError("required input 'pads' is missing");
  ASSIGN_OR_RETURN(IntsArg pads, IntsArg::Input(info, 1, "pads"));
  IntsArg axes;
  if (info.opset >= 18) { ASSIGN_OR_RETURN(axes, IntsArg::Input(info, 3, "axes")); }
  return MakeKernel<PadKernel>(mode, std::move(pads), std::move(axes), 0.0f, true);
}

// ----------------------------------------------------------- GatherND ---

class GatherNDKernel final : public Kernel {
 public:
  explicit GatherNDKernel(int64_t batch_dims) : batch_dims_(batch_dims) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* data, RequireInput(ctx, 0, "data"));
    ASSIGN_OR_RETURN(const Tensor* indices, RequireInput(ctx, 1, "indices"));
    const int r = data->rank(), q = indices->rank();
    if (r < 1 || q < 1) return InvalidArgumentError("inputs 'data' and 'indices' must have rank >= 1");
    if (batch_dims_ < 0 || batch_dims_ >= std::min(r, q)) {
      return InvalidArgumentError("attribute 'batch_dims' " + std::to_string(batch_dims_) +
                                  " must be below the ranks of 'data' and 'indices'");
    }
    const int b = static_cast<int>(batch_dims_);
    const int64_t k = indices->shape()[q - 1];
    if (k < 1 || k > r - b) {
      return InvalidArgumentError("the last dimension of 'indices' is " + std::to_string(k) + "; it must be in 1.." +
                                  std::to_string(r - b));
    }
    for (int d = 0; d < b; ++d) {
      if (data->shape()[d] != indices->shape()[d]) {
        return InvalidArgumentError("batch dimension " + std::to_string(d) + " differs: 'data' " +
                                    data->shape().ToString() + ", 'indices' " + indices->shape().ToString());
      }
    }
    const int kk = static_cast<int>(k);
    RETURN_IF_ERROR(CheckRank(q - 1 + r - b - kk, "GatherND output"));
    Shape out;
    for (int d = 0; d < q - 1; ++d) out.PushBack(indices->shape()[d]);
    for (int d = b + kk; d < r; ++d) out.PushBack(data->shape()[d]);
    int64_t ds[kMaxRank];
    RowMajorStrides(data->shape(), ds);
    const int64_t batches = Product(data->shape(), 0, b);
    const int64_t batch_size = Product(data->shape(), b, r);
    const int64_t tuples = Product(indices->shape(), b, q - 1);
    const int64_t slice = Product(data->shape(), b + kk, r);
    return DispatchIndex(indices->dtype(), "input 'indices'", [&](auto itag) -> Status {
      using I = typename decltype(itag)::type;
      ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, data->dtype(), out));
      return DispatchBySize(data->dtype(), [&](auto tag) -> Status {
        using T = typename decltype(tag)::type;
        const I* idx = indices->data<I>();
        const T* src = data->data<T>();
        T* dst = y->mutable_data<T>();
        for (int64_t bt = 0; bt < batches; ++bt) {
          for (int64_t t = 0; t < tuples; ++t, idx += kk, dst += slice) {
            int64_t off = bt * batch_size;
            for (int j = 0; j < kk; ++j) {
              int64_t v;
              if (!NormalizeIndex(idx[j], data->shape()[b + j], &v)) {
                return IndexOutOfRange("input 'indices'", idx[j], b + j, data->shape()[b + j]);
              }
              off += v * ds[b + j];
            }
            CopyElements(src + off, dst, slice);
          }
        }
        return OkStatus();
      });
    });
  }

 private:
  int64_t batch_dims_;
};

KernelOr CreateGatherND(const KernelInfo& info) {
  int64_t batch_dims = 0;
  if (info.opset >= 12) { ASSIGN_OR_RETURN(batch_dims, info.attrs.Int("batch_dims", 0)); }
  return MakeKernel<GatherNDKernel>(batch_dims);
}

// ------------------------------------------------ ScatterElements / ND ---

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

StatusOr<Reduction> ReadReduction(const KernelInfo& info) {
  if (info.opset < 16) return Reduction::kNone;
  ASSIGN_OR_RETURN(std::string name, info.attrs.String("reduction", "none"));
  if (name == "none") return Reduction::kNone;
  if (name == "add") return Reduction::kAdd;
  if (name == "mul") return Reduction::kMul;
  if (info.opset >= 18 && name == "max") return Reduction::kMax;
  if (info.opset >= 18 && name == "min") return Reduction::kMin;
  return InvalidArgumentError("attribute 'reduction' must be none, add or mul" +
                              std::string(info.opset >= 18 ? ", max or min" : "") + ", got '" + name + "'");
}

template <typename T>
inline void Combine(T& dst, const T& src, Reduction r) {
  if constexpr (kIsString<T> || std::is_same_v<T, bool>) {
    dst = src;  // only kNone reaches here for these types
  } else {
    switch (r) {
      case Reduction::kNone: dst = src; break;
      case Reduction::kAdd: dst = WrapAdd(dst, src); break;
      case Reduction::kMul: dst = WrapMul(dst, src); break;
      case Reduction::kMax: dst = std::max(dst, src); break;
      case Reduction::kMin: dst = std::min(dst, src); break;
    }
  }
}

// Runs f(TypeTag<T>) over data types valid for the reduction: any type for
// plain assignment, numeric types for arithmetic.
template <typename F>
Status DispatchScatter(DataType type, Reduction r, F&& f) {
  if (r == Reduction::kNone) return DispatchAny(type, "Scatter", std::forward<F>(f));
  if (!IsNumeric(type)) {
    return InvalidArgumentError("a reduction needs numeric data, got " + TypeName(type));
  }
  return DispatchNumeric(type, "Scatter", std::forward<F>(f));
}

class ScatterElementsKernel final : public Kernel {
 public:
  ScatterElementsKernel(int64_t axis, Reduction r) : axis_(axis), reduction_(r) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* data, RequireInput(ctx, 0, "data"));
    ASSIGN_OR_RETURN(const Tensor* indices, RequireInput(ctx, 1, "indices"));
    ASSIGN_OR_RETURN(const Tensor* updates, RequireInput(ctx, 2, "updates"));
    if (data->rank() == 0) return InvalidArgumentError("input 'data' is a scalar; rank >= 1 is needed");
    ASSIGN_OR_RETURN(int axis, NormalizeAxis(axis_, data->rank()));
    RETURN_IF_ERROR(CheckElementsShapes(*data, *indices, axis));
    if (updates->shape() != indices->shape() || updates->dtype() != data->dtype()) {
      return InvalidArgumentError("input 'updates' " + updates->Describe() + " must match 'indices' shape " +
                                  indices->shape().ToString() + " and 'data' type " + TypeName(data->dtype()));
    }
    return DispatchIndex(indices->dtype(), "input 'indices'", [&](auto itag) -> Status {
      using I = typename decltype(itag)::type;
      RETURN_IF_ERROR(ValidateIndices<I>(*indices, data->shape()[axis], axis));
      ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, data->dtype(), data->shape()));
      CopyData(*data, *y);
      return DispatchScatter(data->dtype(), reduction_, [&](auto tag) {
        using T = typename decltype(tag)::type;
        T* dst = y->mutable_data<T>();
        const T* upd = updates->data<T>();
        ForEachElementIndex<I>(data->shape(), *indices, axis,
                               [&](int64_t off, int64_t e) { Combine(dst[off], upd[e], reduction_); });
        return OkStatus();
      });
    });
  }

 private:
  int64_t axis_;
  Reduction reduction_;
};

KernelOr CreateScatterElements(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t axis, info.attrs.Int("axis", 0));
  ASSIGN_OR_RETURN(Reduction r, ReadReduction(info));
  return MakeKernel<ScatterElementsKernel>(axis, r);
}

class ScatterNDKernel final : public Kernel {
 public:
  explicit ScatterNDKernel(Reduction r) : reduction_(r) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* data, RequireInput(ctx, 0, "data"));
    ASSIGN_OR_RETURN(const Tensor* indices, RequireInput(ctx, 1, "indices"));
    ASSIGN_OR_RETURN(const Tensor* updates, RequireInput(ctx, 2, "updates"));
    const int r = data->rank(), q = indices->rank();
    if (q < 1) return InvalidArgumentError("input 'indices' must have rank >= 1");
    const int64_t k = indices->shape()[q - 1];
    if (k > r) {
      return InvalidArgumentError("the last dimension of 'indices' is " + std::to_string(k) +
                                  " but 'data' has rank " + std::to_string(r));
    }
    const int kk = static_cast<int>(k);
    bool ok = updates->rank() == q - 1 + r - kk && updates->dtype() == data->dtype();
    for (int d = 0; ok && d < q - 1; ++d) ok = updates->shape()[d] == indices->shape()[d];
    for (int d = kk; ok && d < r; ++d) ok = updates->shape()[q - 1 + d - kk] == data->shape()[d];
    if (!ok) {
      return InvalidArgumentError("input 'updates' " + updates->Describe() + " must have the shape indices[:-1] + "
                                  "data[k:] and the type of 'data' " + data->Describe());
    }
    int64_t ds[kMaxRank];
    RowMajorStrides(data->shape(), ds);
    const int64_t tuples = Product(indices->shape(), 0, q - 1);
    const int64_t slice = Product(data->shape(), kk, r);
    return DispatchIndex(indices->dtype(), "input 'indices'", [&](auto itag) -> Status {
      using I = typename decltype(itag)::type;
      const I* idx = indices->data<I>();
      for (int64_t i = 0; i < tuples * kk; ++i) {
        const int j = static_cast<int>(i % kk);
        int64_t unused;
        if (!NormalizeIndex(idx[i], data->shape()[j], &unused)) {
          return IndexOutOfRange("input 'indices'", idx[i], j, data->shape()[j]);
        }
      }
      ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, data->dtype(), data->shape()));
      CopyData(*data, *y);
      return DispatchScatter(data->dtype(), reduction_, [&](auto tag) {
        using T = typename decltype(tag)::type;
        T* dst = y->mutable_data<T>();
        const T* upd = updates->data<T>();
        for (int64_t t = 0; t < tuples; ++t) {
          int64_t off = 0;
          for (int j = 0; j < kk; ++j) {
            const int64_t v = idx[t * kk + j];
            off += (v < 0 ? v + data->shape()[j] : v) * ds[j];
          }
          for (int64_t e = 0; e < slice; ++e) Combine(dst[off + e], upd[t * slice + e], reduction_);
        }
        return OkStatus();
      });
    });
  }

 private:
  Reduction reduction_;
};

KernelOr CreateScatterND(const KernelInfo& info) {
  ASSIGN_OR_RETURN(Reduction r, ReadReduction(info));
  return MakeKernel<ScatterNDKernel>(r);
}

// ---------------------------------------- DepthToSpace / SpaceToDepth ---

class SpaceDepthKernel final : public Kernel {
 public:
  enum class Kind { kDepthToSpaceDcr, kDepthToSpaceCrd, kSpaceToDepth };
  SpaceDepthKernel(Kind kind, int64_t block) : kind_(kind), block_(block) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
    if (x->rank() != 4) return InvalidArgumentError("input 'input' must be 4-D (NCHW), got shape " + x->shape().ToString());
    const int64_t n = x->shape()[0], c = x->shape()[1], h = x->shape()[2], w = x->shape()[3];
    const int64_t b = block_;
    // A huge blocksize only divides empty axes; products below are checked
    // because such a block still multiplies into dimensions and strides.
    bool overflow = false;
    auto mul = [&overflow](int64_t p, int64_t q) {
      int64_t r = 0;
      overflow |= __builtin_mul_overflow(p, q, &r);
      return r;
    };
    const int64_t bb = mul(b, b);
    const int64_t sn = c * h * w, sc = h * w, sh = w;
    Shape out;
    StridedView v;
    v.rank = 6;
    auto set = [&v](std::initializer_list<int64_t> dims, std::initializer_list<int64_t> strides) {
      std::copy(dims.begin(), dims.end(), v.dims);
      std::copy(strides.begin(), strides.end(), v.strides);
    };
    if (kind_ == Kind::kSpaceToDepth) {
      if (h % b != 0 || w % b != 0) {
        return InvalidArgumentError("height " + std::to_string(h) + " and width " + std::to_string(w) +
                                    " must be multiples of 'blocksize' " + std::to_string(b));
      }
      // out[n][(bh*b + bw)*C + c][i][j] = in[n][c][i*b + bh][j*b + bw]
      set({n, b, b, c, h / b, w / b}, {sn, sh, 1, sc, mul(b, sh), b});
      int64_t dims[4] = {n, mul(c, bb), h / b, w / b};
      if (!overflow) out = Shape{dims[0], dims[1], dims[2], dims[3]};
    } else {
      if (overflow || c % bb != 0) {
        return InvalidArgumentError("channels " + std::to_string(c) + " must be a multiple of blocksize^2 (" +
                                    "blocksize " + std::to_string(b) + ")");
      }
      const int64_t cc = c / bb;
      // out[n][c'][i*b + bh][j*b + bw] = in[n][channel][i][j] with channel =
      // (bh*b + bw)*C' + c' (DCR) or c'*b*b + bh*b + bw (CRD).
      if (kind_ == Kind::kDepthToSpaceDcr) set({n, cc, h, b, w, b}, {sn, sc, sh, mul(mul(b, cc), sc), 1, mul(cc, sc)});
      else set({n, cc, h, b, w, b}, {sn, mul(bb, sc), sh, mul(b, sc), 1, sc});
      int64_t dims[4] = {n, cc, mul(h, b), mul(w, b)};
      if (!overflow) out = Shape{dims[0], dims[1], dims[2], dims[3]};
    }
    if (overflow) return TooLargeError("output shape overflows with 'blocksize' " + std::to_string(b));
    ASSIGN_OR_RETURN(out, CheckedShape(out.dims().data(), out.rank(), "output"));
    return OutputView(ctx, *x, v, &out);
  }

 private:
  Kind kind_;
  int64_t block_;
};

StatusOr<int64_t> ReadBlockSize(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t b, info.attrs.Int("blocksize"));
  if (b <= 0) return InvalidArgumentError("attribute 'blocksize' must be positive, got " + std::to_string(b));
  return b;
}

KernelOr CreateDepthToSpace(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t b, ReadBlockSize(info));
  std::string mode = "DCR";
  if (info.opset >= 11) { ASSIGN_OR_RETURN(mode, info.attrs.String("mode", "DCR")); }
  if (mode != "DCR" && mode != "CRD") return InvalidArgumentError("attribute 'mode' must be DCR or CRD, got '" + mode + "'");
  return MakeKernel<SpaceDepthKernel>(
      mode == "DCR" ? SpaceDepthKernel::Kind::kDepthToSpaceDcr : SpaceDepthKernel::Kind::kDepthToSpaceCrd, b);
}

KernelOr CreateSpaceToDepth(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t b, ReadBlockSize(info));
  return MakeKernel<SpaceDepthKernel>(SpaceDepthKernel::Kind::kSpaceToDepth, b);
}

// ----------------------------------------------------------- Compress ---

class CompressKernel final : public Kernel {
 public:
  explicit CompressKernel(std::optional<int64_t> axis) : axis_(axis) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
    ASSIGN_OR_RETURN(const Tensor* cond, RequireInput(ctx, 1, "condition"));
    if (cond->dtype() != DataType::kBool || cond->rank() != 1) {
      return InvalidArgumentError("input 'condition' must be a 1-D BOOL tensor, got " + cond->Describe());
    }
    int axis = -1;
    int64_t dim = x->size();  // flattened when there is no axis
    if (axis_) {
      if (x->rank() == 0) return InvalidArgumentError("input 'input' is a scalar; it has no axis to compress");
      ASSIGN_OR_RETURN(axis, NormalizeAxis(*axis_, x->rank()));
      dim = x->shape()[axis];
    }
    const bool* c = cond->data<bool>();
    const int64_t usable = std::min(dim, cond->size());
    for (int64_t i = usable; i < cond->size(); ++i) {
      if (c[i]) {
        return InvalidArgumentError("input 'condition' selects entry " + std::to_string(i) +
                                    " but the compressed axis has only " + std::to_string(dim));
      }
    }
    int64_t selected = 0;
    for (int64_t i = 0; i < usable; ++i) selected += c[i] ? 1 : 0;
    Shape out{selected};
    if (axis_) {
      out = x->shape();
      out[axis] = selected;
    }
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, x->dtype(), out));
    const int64_t outer = axis_ ? Product(x->shape(), 0, axis) : 1;
    const int64_t inner = axis_ ? Product(x->shape(), axis + 1, x->rank()) : 1;
    return DispatchBySize(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = x->data<T>();
      T* dst = y->mutable_data<T>();
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < usable; ++i) {
          if (!c[i]) continue;
          CopyElements(src + (o * dim + i) * inner, dst, inner);
          dst += inner;
        }
      }
      return OkStatus();
    });
  }

 private:
  std::optional<int64_t> axis_;
};

KernelOr CreateCompress(const KernelInfo& info) {
  std::optional<int64_t> axis;
  if (info.attrs.Has("axis")) { ASSIGN_OR_RETURN(axis, info.attrs.Int("axis")); }
  return MakeKernel<CompressKernel>(axis);
}

// ------------------------------------------------------------- CumSum ---

class CumSumKernel final : public Kernel {
 public:
  CumSumKernel(bool exclusive, bool reverse) : exclusive_(exclusive), reverse_(reverse) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "x"));
    ASSIGN_OR_RETURN(const Tensor* axis_t, RequireInput(ctx, 1, "axis"));
    if (axis_t->rank() > 1) return InvalidArgumentError("input 'axis' must be a scalar, got " + axis_t->Describe());
    ASSIGN_OR_RETURN(int64_t axis_v, ReadScalarInt(*axis_t, "input 'axis'"));
    if (x->rank() == 0) return InvalidArgumentError("input 'x' is a scalar; CumSum needs rank >= 1");
    ASSIGN_OR_RETURN(int axis, NormalizeAxis(axis_v, x->rank()));
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, x->dtype(), x->shape()));
    const int64_t outer = Product(x->shape(), 0, axis);
    const int64_t n = x->shape()[axis];
    const int64_t inner = Product(x->shape(), axis + 1, x->rank());
    return DispatchNumeric(x->dtype(), "CumSum", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = x->data<T>();
      T* dst = y->mutable_data<T>();
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t step = 0; step < n; ++step) {
          // Row `a` along the axis; `prev` is the row accumulated before it.
          const int64_t a = reverse_ ? n - 1 - step : step;
          const int64_t prev = reverse_ ? a + 1 : a - 1;
          T* out = dst + (o * n + a) * inner;
          const T* cur = src + (o * n + a) * inner;
          if (step == 0) {
            for (int64_t i = 0; i < inner; ++i) out[i] = exclusive_ ? T(0) : cur[i];
            continue;
          }
          const T* acc = dst + (o * n + prev) * inner;
          const T* add = exclusive_ ? src + (o * n + prev) * inner : cur;
          for (int64_t i = 0; i < inner; ++i) out[i] = WrapAdd(acc[i], add[i]);
        }
      }
      return OkStatus();
    });
  }

 private:
  bool exclusive_, reverse_;
};

KernelOr CreateCumSum(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t exclusive, info.attrs.Int("exclusive", 0));
  ASSIGN_OR_RETURN(int64_t reverse, info.attrs.Int("reverse", 0));
  return MakeKernel<CumSumKernel>(exclusive != 0, reverse != 0);
}

// ---------------------------------------------------- ReverseSequence ---

class ReverseSequenceKernel final : public Kernel {
 public:
  ReverseSequenceKernel(int batch_axis, int time_axis) : batch_axis_(batch_axis), time_axis_(time_axis) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
    ASSIGN_OR_RETURN(const Tensor* lens, RequireInput(ctx, 1, "sequence_lens"));
    if (x->rank() < 2) return InvalidArgumentError("input 'input' must have rank >= 2, got " + x->shape().ToString());
    const int64_t batch = x->shape()[batch_axis_], time = x->shape()[time_axis_];
    if (lens->rank() != 1 || lens->size() != batch) {
      return InvalidArgumentError("input 'sequence_lens' must be 1-D with " + std::to_string(batch) +
                                  " entries (the batch size), got shape " + lens->shape().ToString());
    }
    int64_t strides[kMaxRank];
    RowMajorStrides(x->shape(), strides);
    const int64_t inner = Product(x->shape(), 2, x->rank());
    return DispatchIndex(lens->dtype(), "input 'sequence_lens'", [&](auto itag) -> Status {
      using I = typename decltype(itag)::type;
      const I* len = lens->data<I>();
      for (int64_t b = 0; b < batch; ++b) {
        if (len[b] < 0 || len[b] > time) {
          return InvalidArgumentError("input 'sequence_lens' entry " + std::to_string(b) + " is " +
                                      std::to_string(len[b]) + ", outside 0.." + std::to_string(time));
        }
      }
      ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, x->dtype(), x->shape()));
      return DispatchBySize(x->dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* src = x->data<T>();
        T* dst = y->mutable_data<T>();
        for (int64_t b = 0; b < batch; ++b) {
          for (int64_t t = 0; t < time; ++t) {
            const int64_t from = t < len[b] ? len[b] - 1 - t : t;
            CopyElements(src + b * strides[batch_axis_] + from * strides[time_axis_],
                         dst + b * strides[batch_axis_] + t * strides[time_axis_], inner);
          }
        }
        return OkStatus();
      });
    });
  }

 private:
  int batch_axis_, time_axis_;
};

KernelOr CreateReverseSequence(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t batch_axis, info.attrs.Int("batch_axis", 1));
  ASSIGN_OR_RETURN(int64_t time_axis, info.attrs.Int("time_axis", 0));
  if ((batch_axis != 0 && batch_axis != 1) || (time_axis != 0 && time_axis != 1) || batch_axis == time_axis) {
    return InvalidArgumentError("attributes 'batch_axis' (" + std::to_string(batch_axis) + ") and 'time_axis' (" +
                                std::to_string(time_axis) + ") must be 0 and 1 in some order");
  }
  return MakeKernel<ReverseSequenceKernel>(static_cast<int>(batch_axis), static_cast<int>(time_axis));
}

}  // namespace

void RegisterTensorKernels(KernelRegistry& r) {
  const std::string_view d = kOnnxDomain;
  // Each operator is registered at every since_version whose signature the
  // factory branches on (info.opset); later versions only add types.
  r.Add(d, "Identity", 1, CreateIdentity);
  for (int v : {1, 6, 9, 13}) r.Add(d, "Cast", v, CreateCast);
  r.Add(d, "CastLike", 15, CreateCastLike);
  for (int v : {1, 4, 11, 13}) r.Add(d, "Concat", v, CreateConcat);
  for (int v : {1, 5, 13, 14}) r.Add(d, "Reshape", v, CreateReshape);
  for (int v : {1, 9, 11, 13}) r.Add(d, "Flatten", v, CreateFlatten);
  for (int v : {1, 11, 13}) r.Add(d, "Squeeze", v, CreateSqueeze);
  for (int v : {1, 11, 13}) r.Add(d, "Unsqueeze", v, CreateUnsqueeze);
  for (int v : {1, 13}) r.Add(d, "Transpose", v, CreateTranspose);
  for (int v : {1, 11, 13}) r.Add(d, "Gather", v, CreateGather);
  for (int v : {11, 13}) r.Add(d, "GatherElements", v, CreateGatherElements);
  for (int v : {1, 10, 11, 13}) r.Add(d, "Slice", v, CreateSlice);
  for (int v : {1, 2, 11, 13, 18}) r.Add(d, "Split", v, CreateSplit);
  for (int v : {1, 13, 15}) r.Add(d, "Shape", v, CreateShape);
  for (int v : {1, 13}) r.Add(d, "Size", v, CreateSize);
  for (int v : {1, 9, 11, 12, 13}) r.Add(d, "Constant", v, CreateConstant);
  r.Add(d, "ConstantOfShape", 9, CreateConstantOfShape);
  r.Add(d, "Range", 11, CreateRange);
  for (int v : {8, 13}) r.Add(d, "Expand", v, CreateExpand);
  for (int v : {1, 6, 13}) r.Add(d, "Tile", v, CreateTile);
  for (int v : {9, 11}) r.Add(d, "OneHot", v, CreateOneHot);
  for (int v : {9, 13}) r.Add(d, "NonZero", v, CreateNonZero);
  for (int v : {1, 6, 7, 10, 12, 13}) r.Add(d, "Dropout", v, CreateDropout);
  r.Add(d, "Trilu", 14, CreateTrilu);
  r.Add(d, "EyeLike", 9, CreateEyeLike);
  for (int v : {1, 2, 11, 13, 18, 19}) r.Add(d, "Pad", v, CreatePad);
  for (int v : {11, 12, 13}) r.Add(d, "GatherND", v, CreateGatherND);
  r.Add(d, "Scatter", 9, CreateScatterElements);  // deprecated alias, opsets 9-10
  for (int v : {11, 13, 16, 18}) r.Add(d, "ScatterElements", v, CreateScatterElements);
  for (int v : {11, 13, 16, 18}) r.Add(d, "ScatterND", v, CreateScatterND);
  for (int v : {1, 11, 13}) r.Add(d, "DepthToSpace", v, CreateDepthToSpace);
  for (int v : {1, 13}) r.Add(d, "SpaceToDepth", v, CreateSpaceToDepth);
  for (int v : {9, 11}) r.Add(d, "Compress", v, CreateCompress);
  for (int v : {11, 14}) r.Add(d, "CumSum", v, CreateCumSum);
  r.Add(d, "ReverseSequence", 10, CreateReverseSequence);
}

}  // namespace rtml::engine::internal
