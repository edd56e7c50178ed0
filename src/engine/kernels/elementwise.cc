// Element-wise operators: unary math and activations, broadcasting binary
// arithmetic, comparisons and logic, variadic Min/Max/Sum/Mean, Clip, Where.
#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/internal/kernel_util.h"
#include "engine/internal/registry.h"

namespace rtml::engine::internal {
namespace {

// ---------------------------------------------------------------- unary ---

enum class UnaryOp {
  kSqrt, kExp, kLog, kReciprocal, kFloor, kCeil, kRound, kSigmoid, kTanh, kSoftplus,
  kSoftsign, kErf, kSin, kCos, kTan, kAsin, kAcos, kAtan, kSinh, kCosh, kAsinh, kAcosh,
  kAtanh, kHardSwish,
  // numeric (not only floating point)
  kAbs, kNeg, kSign, kRelu,
  // with attributes
  kLeakyRelu, kElu, kSelu, kHardSigmoid, kThresholdedRelu, kCelu, kShrink,
};

struct UnaryParams {
  float alpha = 0;
  float beta = 0;
  float gamma = 0;
};

template <typename T>
inline T Sigmoid(T x) {
  // Split by sign so exp never overflows.
  if (x >= 0) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

template <UnaryOp kOp, typename T>
inline T ApplyUnary(T x, const UnaryParams& p) {
  if constexpr (kOp == UnaryOp::kSqrt) return std::sqrt(x);
  else if constexpr (kOp == UnaryOp::kExp) return std::exp(x);
  else if constexpr (kOp == UnaryOp::kLog) return std::log(x);
  else if constexpr (kOp == UnaryOp::kReciprocal) return T(1) / x;
  else if constexpr (kOp == UnaryOp::kFloor) return std::floor(x);
  else if constexpr (kOp == UnaryOp::kCeil) return std::ceil(x);
  else if constexpr (kOp == UnaryOp::kRound) return std::nearbyint(x);  // half to even
  else if constexpr (kOp == UnaryOp::kSigmoid) return Sigmoid(x);
  else if constexpr (kOp == UnaryOp::kTanh) return std::tanh(x);
  else if constexpr (kOp == UnaryOp::kSoftplus) return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
  else if constexpr (kOp == UnaryOp::kSoftsign) return x / (T(1) + std::abs(x));
  else if constexpr (kOp == UnaryOp::kErf) return std::erf(x);
  else if constexpr (kOp == UnaryOp::kSin) return std::sin(x);
  else if constexpr (kOp == UnaryOp::kCos) return std::cos(x);
  else if constexpr (kOp == UnaryOp::kTan) return std::tan(x);
  else if constexpr (kOp == UnaryOp::kAsin) return std::asin(x);
  else if constexpr (kOp == UnaryOp::kAcos) return std::acos(x);
  else if constexpr (kOp == UnaryOp::kAtan) return std::atan(x);
  else if constexpr (kOp == UnaryOp::kSinh) return std::sinh(x);
  else if constexpr (kOp == UnaryOp::kCosh) return std::cosh(x);
  else if constexpr (kOp == UnaryOp::kAsinh) return std::asinh(x);
  else if constexpr (kOp == UnaryOp::kAcosh) return std::acosh(x);
  else if constexpr (kOp == UnaryOp::kAtanh) return std::atanh(x);
  else if constexpr (kOp == UnaryOp::kHardSwish)
    return x * std::max(T(0), std::min(T(1), x / T(6) + T(0.5)));
  else if constexpr (kOp == UnaryOp::kAbs) {
    if constexpr (std::is_unsigned_v<T>) return x;
    else return x < 0 ? static_cast<T>(-x) : x;
  } else if constexpr (kOp == UnaryOp::kNeg) return static_cast<T>(-x);
  else if constexpr (kOp == UnaryOp::kSign) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(x)) return x;
    }
    return static_cast<T>((T(0) < x) - (x < T(0)));
  } else if constexpr (kOp == UnaryOp::kRelu) return x > T(0) ? x : T(0);
  else if constexpr (kOp == UnaryOp::kLeakyRelu) return x >= 0 ? x : static_cast<T>(p.alpha) * x;
  else if constexpr (kOp == UnaryOp::kElu) return x >= 0 ? x : static_cast<T>(p.alpha) * (std::exp(x) - T(1));
  else if constexpr (kOp == UnaryOp::kSelu)
    return static_cast<T>(p.gamma) * (x > 0 ? x : static_cast<T>(p.alpha) * (std::exp(x) - T(1)));
  else if constexpr (kOp == UnaryOp::kHardSigmoid)
    return std::max(T(0), std::min(T(1), static_cast<T>(p.alpha) * x + static_cast<T>(p.beta)));
  else if constexpr (kOp == UnaryOp::kThresholdedRelu) return x > static_cast<T>(p.alpha) ? x : T(0);
  else if constexpr (kOp == UnaryOp::kCelu) {
    const T a = static_cast<T>(p.alpha);
    return std::max(T(0), x) + std::min(T(0), a * (std::exp(x / a) - T(1)));
  } else if constexpr (kOp == UnaryOp::kShrink) {
    // lambd in alpha, bias in beta
    const double xd = static_cast<double>(x);
    if (xd < -p.alpha) return static_cast<T>(xd + p.beta);
    if (xd > p.alpha) return static_cast<T>(xd - p.beta);
    return T(0);
  }
}

enum class TypeClass { kFloat, kSignedNumeric, kNumeric };

template <UnaryOp kOp, TypeClass kTypes>
class UnaryKernel final : public Kernel {
 public:
  explicit UnaryKernel(UnaryParams p) : p_(p) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, x->dtype(), x->shape()));
    auto body = [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      const T* in = x->data<T>();
      T* out = y->mutable_data<T>();
      const int64_t n = x->size();
      for (int64_t i = 0; i < n; ++i) out[i] = ApplyUnary<kOp, T>(in[i], p_);
      return OkStatus();
    };
    if constexpr (kTypes == TypeClass::kFloat) return DispatchFloat(x->dtype(), "this operator", body);
    else if constexpr (kTypes == TypeClass::kSignedNumeric)
      return DispatchSignedNumeric(x->dtype(), "this operator", body);
    else return DispatchNumeric(x->dtype(), "this operator", body);
  }

 private:
  UnaryParams p_;
};

template <UnaryOp kOp, TypeClass kTypes>
StatusOr<std::unique_ptr<Kernel>> CreateUnary(const KernelInfo& info) {
  UnaryParams p;
  const auto& a = info.attrs;
  if constexpr (kOp == UnaryOp::kLeakyRelu) { ASSIGN_OR_RETURN(p.alpha, a.Float("alpha", 0.01f)); }
  if constexpr (kOp == UnaryOp::kElu || kOp == UnaryOp::kCelu || kOp == UnaryOp::kThresholdedRelu) {
    ASSIGN_OR_RETURN(p.alpha, a.Float("alpha", 1.0f));
  }
  if constexpr (kOp == UnaryOp::kSelu) {
    ASSIGN_OR_RETURN(p.alpha, a.Float("alpha", 1.67326319217681884765625f));
    ASSIGN_OR_RETURN(p.gamma, a.Float("gamma", 1.05070102214813232421875f));
  }
  if constexpr (kOp == UnaryOp::kHardSigmoid) {
    ASSIGN_OR_RETURN(p.alpha, a.Float("alpha", 0.2f));
    ASSIGN_OR_RETURN(p.beta, a.Float("beta", 0.5f));
  }
  if constexpr (kOp == UnaryOp::kShrink) {
    ASSIGN_OR_RETURN(p.alpha, a.Float("lambd", 0.5f));
    ASSIGN_OR_RETURN(p.beta, a.Float("bias", 0.0f));
  }
  if constexpr (kOp == UnaryOp::kCelu) {
    if (p.alpha == 0) return InvalidArgumentError("attribute 'alpha' must not be 0");
  }
  return MakeKernel<UnaryKernel<kOp, kTypes>>(p);
}

// Not, IsNaN, IsInf: fixed output type.
class NotKernel final : public Kernel {
 public:
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    if (x->dtype() != DataType::kBool) return InvalidArgumentError("Not needs a BOOL input");
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, DataType::kBool, x->shape()));
    for (int64_t i = 0; i < x->size(); ++i) y->mutable_data<bool>()[i] = !x->data<bool>()[i];
    return OkStatus();
  }
};

class IsNanInfKernel final : public Kernel {
 public:
  IsNanInfKernel(bool nan, bool neg, bool pos) : nan_(nan), neg_(neg), pos_(pos) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, DataType::kBool, x->shape()));
    bool* out = y->mutable_data<bool>();
    return DispatchFloat(x->dtype(), nan_ ? "IsNaN" : "IsInf", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* in = x->data<T>();
      for (int64_t i = 0; i < x->size(); ++i) {
        if (nan_) out[i] = std::isnan(in[i]);
        else out[i] = std::isinf(in[i]) && ((in[i] > 0 && pos_) || (in[i] < 0 && neg_));
      }
      return OkStatus();
    });
  }

 private:
  bool nan_, neg_, pos_;
};

StatusOr<std::unique_ptr<Kernel>> CreateNot(const KernelInfo&) { return MakeKernel<NotKernel>(); }
StatusOr<std::unique_ptr<Kernel>> CreateIsNaN(const KernelInfo&) {
  return MakeKernel<IsNanInfKernel>(true, false, false);
}
StatusOr<std::unique_ptr<Kernel>> CreateIsInf(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t neg, info.attrs.Int("detect_negative", 1));
  ASSIGN_OR_RETURN(int64_t pos, info.attrs.Int("detect_positive", 1));
  return MakeKernel<IsNanInfKernel>(false, neg != 0, pos != 0);
}

// --------------------------------------------------------------- binary ---

// Applies out[i] = fn(a[i], b[i]) with numpy broadcasting.
template <typename A, typename B, typename O, typename Fn>
void BroadcastBinary(const Tensor& a, const Tensor& b, Tensor& out, Fn fn) {
  const A* pa = a.data<A>();
  const B* pb = b.data<B>();
  O* po = out.mutable_data<O>();
  const int64_t n = out.size();
  if (a.shape() == b.shape()) {
    for (int64_t i = 0; i < n; ++i) po[i] = fn(pa[i], pb[i]);
    return;
  }
  if (b.size() == 1 && a.size() == n) {
    const B vb = pb[0];
    for (int64_t i = 0; i < n; ++i) po[i] = fn(pa[i], vb);
    return;
  }
  if (a.size() == 1 && b.size() == n) {
    const A va = pa[0];
    for (int64_t i = 0; i < n; ++i) po[i] = fn(va, pb[i]);
    return;
  }
  const Shape* shapes[2] = {&a.shape(), &b.shape()};
  BroadcastWalker walker(out.shape(), shapes, 2);
  walker.ForEachRun([&](int64_t o, const int64_t* offs, int64_t len, const int64_t* st) {
    const A* ra = pa + offs[0];
    const B* rb = pb + offs[1];
    O* ro = po + o;
    if (st[0] == 1 && st[1] == 0) {
      const B vb = rb[0];
      for (int64_t i = 0; i < len; ++i) ro[i] = fn(ra[i], vb);
    } else {
      for (int64_t i = 0; i < len; ++i) ro[i] = fn(ra[i * st[0]], rb[i * st[1]]);
    }
  });
}

enum class BinaryOp { kAdd, kSub, kMul, kDiv, kMod, kFMod, kEqual, kLess, kLessOrEqual, kGreater,
                      kGreaterOrEqual, kAnd, kOr, kXor, kPRelu, kBitShiftLeft, kBitShiftRight };

template <typename T>
inline T IntDiv(T a, T b) {
  if constexpr (std::is_signed_v<T>) {
    if (b == T(-1)) return static_cast<T>(T(0) - a);  // avoids INT_MIN / -1 trapping
  }
  return static_cast<T>(a / b);
}

template <typename T>
inline T PyMod(T a, T b) {  // sign follows the divisor (fmod = 0)
  if constexpr (std::is_floating_point_v<T>) {
    T r = std::fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  } else if constexpr (std::is_signed_v<T>) {
    if (b == T(-1)) return T(0);
    T r = static_cast<T>(a % b);
    if (r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
    return r;
  } else {
    return static_cast<T>(a % b);
  }
}

template <BinaryOp kOp>
class BinaryKernel final : public Kernel {
 public:
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* a, RequireInput(ctx, 0, "A"));
    ASSIGN_OR_RETURN(const Tensor* b, RequireInput(ctx, 1, "B"));
    if (a->dtype() != b->dtype()) {
      return InvalidArgumentError("inputs have different datatypes " +
                                  std::string(DataTypeName(a->dtype())) + " and " +
                                  std::string(DataTypeName(b->dtype())));
    }
    Shape shape;
    if constexpr (kOp == BinaryOp::kPRelu) {
      shape = a->shape();  // slope broadcasts to X (unidirectional)
      ASSIGN_OR_RETURN(Shape check, BroadcastShapes(a->shape(), b->shape()));
      if (check != shape) return InvalidArgumentError("slope " + b->shape().ToString() +
                                                      " does not broadcast to X " + shape.ToString());
    } else {
      ASSIGN_OR_RETURN(shape, BroadcastShapes(a->shape(), b->shape()));
    }
    constexpr bool kCompare = kOp == BinaryOp::kEqual || kOp == BinaryOp::kLess ||
                              kOp == BinaryOp::kLessOrEqual || kOp == BinaryOp::kGreater ||
                              kOp == BinaryOp::kGreaterOrEqual;
    constexpr bool kLogic = kOp == BinaryOp::kAnd || kOp == BinaryOp::kOr || kOp == BinaryOp::kXor;
    if constexpr (kLogic) {
      if (a->dtype() != DataType::kBool) return InvalidArgumentError("inputs must be BOOL");
      ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, DataType::kBool, shape));
      BroadcastBinary<bool, bool, bool>(*a, *b, *y, [](bool x, bool z) {
        if constexpr (kOp == BinaryOp::kAnd) return x && z;
        else if constexpr (kOp == BinaryOp::kOr) return x || z;
        else return x != z;
      });
      return OkStatus();
    } else if constexpr (kCompare) {
      ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, DataType::kBool, shape));
      if (a->dtype() == DataType::kBool) {
        if constexpr (kOp != BinaryOp::kEqual) return InvalidArgumentError("BOOL inputs are only comparable with Equal");
        BroadcastBinary<bool, bool, bool>(*a, *b, *y, [](bool x, bool z) { return x == z; });
        return OkStatus();
      }
      if (a->dtype() == DataType::kString) {
        if constexpr (kOp != BinaryOp::kEqual) return InvalidArgumentError("strings are only comparable with Equal");
        BroadcastBinary<std::string, std::string, bool>(
            *a, *b, *y, [](const std::string& x, const std::string& z) { return x == z; });
        return OkStatus();
      }
      return DispatchNumeric(a->dtype(), "comparison", [&](auto tag) {
        using T = typename decltype(tag)::type;
        BroadcastBinary<T, T, bool>(*a, *b, *y, [](T x, T z) {
          if constexpr (kOp == BinaryOp::kEqual) return x == z;
          else if constexpr (kOp == BinaryOp::kLess) return x < z;
          else if constexpr (kOp == BinaryOp::kLessOrEqual) return x <= z;
          else if constexpr (kOp == BinaryOp::kGreater) return x > z;
          else return x >= z;
        });
        return OkStatus();
      });
    } else if constexpr (kOp == BinaryOp::kBitShiftLeft || kOp == BinaryOp::kBitShiftRight) {
      ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, a->dtype(), shape));
      auto body = [&](auto tag) -> Status {
        using T = typename decltype(tag)::type;
        if constexpr (std::is_unsigned_v<T>) {
          BroadcastBinary<T, T, T>(*a, *b, *y, [](T x, T s) {
            if (s >= sizeof(T) * 8) return T(0);
            if constexpr (kOp == BinaryOp::kBitShiftLeft) return static_cast<T>(x << s);
            else return static_cast<T>(x >> s);
          });
          return OkStatus();
        } else {
          return InvalidArgumentError("BitShift needs unsigned integer inputs");
        }
      };
      return DispatchNumeric(a->dtype(), "BitShift", body);
    } else {
      ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, a->dtype(), shape));
      return DispatchNumeric(a->dtype(), "arithmetic", [&](auto tag) -> Status {
        using T = typename decltype(tag)::type;
        if constexpr (std::is_integral_v<T> &&
                      (kOp == BinaryOp::kDiv || kOp == BinaryOp::kMod || kOp == BinaryOp::kFMod)) {
          for (T v : b->values<T>())
            if (v == T(0)) return InvalidArgumentError("integer division by zero");
        }
        BroadcastBinary<T, T, T>(*a, *b, *y, [](T x, T z) -> T {
          if constexpr (kOp == BinaryOp::kAdd) return static_cast<T>(x + z);
          else if constexpr (kOp == BinaryOp::kSub) return static_cast<T>(x - z);
          else if constexpr (kOp == BinaryOp::kMul) return static_cast<T>(x * z);
          else if constexpr (kOp == BinaryOp::kDiv) {
            if constexpr (std::is_integral_v<T>) return IntDiv(x, z);
            else return x / z;
          } else if constexpr (kOp == BinaryOp::kMod) return PyMod(x, z);
          else if constexpr (kOp == BinaryOp::kFMod) {
            if constexpr (std::is_floating_point_v<T>) return std::fmod(x, z);
            else if constexpr (std::is_signed_v<T>) return z == T(-1) ? T(0) : static_cast<T>(x % z);
            else return static_cast<T>(x % z);
          } else {  // PRelu
            return x < T(0) ? static_cast<T>(x * z) : x;
          }
        });
        return OkStatus();
      });
    }
  }
};

template <BinaryOp kOp>
StatusOr<std::unique_ptr<Kernel>> CreateBinary(const KernelInfo&) {
  return MakeKernel<BinaryKernel<kOp>>();
}

StatusOr<std::unique_ptr<Kernel>> CreateMod(const KernelInfo& info) {
  ASSIGN_OR_RETURN(int64_t fmod, info.attrs.Int("fmod", 0));
  if (fmod != 0 && fmod != 1) return InvalidArgumentError("attribute 'fmod' must be 0 or 1");
  if (fmod) return MakeKernel<BinaryKernel<BinaryOp::kFMod>>();
  return MakeKernel<BinaryKernel<BinaryOp::kMod>>();
}

StatusOr<std::unique_ptr<Kernel>> CreateBitShift(const KernelInfo& info) {
  ASSIGN_OR_RETURN(std::string dir, info.attrs.String("direction"));
  if (dir == "LEFT") return MakeKernel<BinaryKernel<BinaryOp::kBitShiftLeft>>();
  if (dir == "RIGHT") return MakeKernel<BinaryKernel<BinaryOp::kBitShiftRight>>();
  return InvalidArgumentError("attribute 'direction' must be LEFT or RIGHT, got '" + dir + "'");
}

template <typename A, typename B>
A PowValue(A x, B e) {
  if constexpr (std::is_same_v<A, float> && std::is_same_v<B, float>) {
    return std::pow(x, e);
  } else {
    return static_cast<A>(std::pow(static_cast<double>(x), static_cast<double>(e)));
  }
}

// Pow: base and exponent may have different numeric types; output has the
// base's type.
class PowKernel final : public Kernel {
 public:
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* a, RequireInput(ctx, 0, "X"));
    ASSIGN_OR_RETURN(const Tensor* b, RequireInput(ctx, 1, "Y"));
    ASSIGN_OR_RETURN(Shape shape, BroadcastShapes(a->shape(), b->shape()));
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, a->dtype(), shape));
    return DispatchNumeric(a->dtype(), "Pow", [&](auto ta) {
      using A = typename decltype(ta)::type;
      return DispatchNumeric(b->dtype(), "Pow exponent", [&](auto tb) {
        using B = typename decltype(tb)::type;
        BroadcastBinary<A, B, A>(*a, *b, *y, [](A x, B e) { return PowValue<A, B>(x, e); });
        return OkStatus();
      });
    });
  }
};

StatusOr<std::unique_ptr<Kernel>> CreatePow(const KernelInfo&) { return MakeKernel<PowKernel>(); }

// ------------------------------------------------------------- variadic ---

enum class VariadicOp { kMin, kMax, kSum, kMean };

template <VariadicOp kOp>
class VariadicKernel final : public Kernel {
 public:
  Status Compute(KernelContext& ctx) const override {
    const int n = ctx.num_inputs();
    if (n == 0) return InvalidArgumentError("needs at least one input");
    ASSIGN_OR_RETURN(const Tensor* first, RequireInput(ctx, 0, "data_0"));
    Shape shape = first->shape();
    for (int i = 1; i < n; ++i) {
      ASSIGN_OR_RETURN(const Tensor* t, RequireInput(ctx, i, "data"));
      if (t->dtype() != first->dtype()) return InvalidArgumentError("inputs have different datatypes");
      ASSIGN_OR_RETURN(shape, BroadcastShapes(shape, t->shape()));
    }
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, first->dtype(), shape));
    return DispatchNumeric(first->dtype(), "this operator", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* out = y->mutable_data<T>();
      // out = broadcast(first), then fold the others in.
      {
        const Shape* shapes[1] = {&first->shape()};
        BroadcastWalker w(shape, shapes, 1);
        const T* src = first->data<T>();
        w.ForEachRun([&](int64_t o, const int64_t* offs, int64_t len, const int64_t* st) {
          for (int64_t i = 0; i < len; ++i) out[o + i] = src[offs[0] + i * st[0]];
        });
      }
      for (int k = 1; k < n; ++k) {
        const Tensor* t = ctx.input(k);
        const Shape* shapes[1] = {&t->shape()};
        BroadcastWalker w(shape, shapes, 1);
        const T* src = t->data<T>();
        w.ForEachRun([&](int64_t o, const int64_t* offs, int64_t len, const int64_t* st) {
          for (int64_t i = 0; i < len; ++i) {
            const T v = src[offs[0] + i * st[0]];
            T& acc = out[o + i];
            if constexpr (kOp == VariadicOp::kMin) {
              if constexpr (std::is_floating_point_v<T>) acc = (std::isnan(acc) || std::isnan(v)) ? std::numeric_limits<T>::quiet_NaN() : std::min(acc, v);
              else acc = std::min(acc, v);
            } else if constexpr (kOp == VariadicOp::kMax) {
              if constexpr (std::is_floating_point_v<T>) acc = (std::isnan(acc) || std::isnan(v)) ? std::numeric_limits<T>::quiet_NaN() : std::max(acc, v);
              else acc = std::max(acc, v);
            } else {
              acc = static_cast<T>(acc + v);
            }
          }
        });
      }
      if constexpr (kOp == VariadicOp::kMean) {
        for (int64_t i = 0; i < y->size(); ++i) out[i] = static_cast<T>(out[i] / static_cast<T>(n));
      }
      return OkStatus();
    });
  }
};

template <VariadicOp kOp>
StatusOr<std::unique_ptr<Kernel>> CreateVariadic(const KernelInfo&) {
  return MakeKernel<VariadicKernel<kOp>>();
}

// ----------------------------------------------------------------- Clip ---

class ClipKernel final : public Kernel {
 public:
  // Opset < 11 takes min/max as attributes; later versions as inputs.
  ClipKernel(bool from_inputs, float min_attr, float max_attr)
      : from_inputs_(from_inputs), min_attr_(min_attr), max_attr_(max_attr) {}
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, x->dtype(), x->shape()));
    return DispatchNumeric(x->dtype(), "Clip", [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      T lo = std::numeric_limits<T>::lowest();
      T hi = std::numeric_limits<T>::max();
      if (from_inputs_) {
        for (int k = 1; k <= 2; ++k) {
          const Tensor* b = ctx.input(k);
          if (b == nullptr) continue;
          if (b->dtype() != x->dtype() || b->size() != 1) {
            return InvalidArgumentError(std::string(k == 1 ? "min" : "max") +
                                        " must be a scalar of the input's datatype");
          }
          (k == 1 ? lo : hi) = b->data<T>()[0];
        }
      } else {
        lo = static_cast<T>(min_attr_);
        hi = static_cast<T>(max_attr_);
      }
      const T* in = x->data<T>();
      T* out = y->mutable_data<T>();
      for (int64_t i = 0; i < x->size(); ++i) out[i] = std::min(hi, std::max(lo, in[i]));
      return OkStatus();
    });
  }

 private:
  bool from_inputs_;
  float min_attr_, max_attr_;
};

StatusOr<std::unique_ptr<Kernel>> CreateClip(const KernelInfo& info) {
  if (info.opset >= 11) return MakeKernel<ClipKernel>(true, 0.f, 0.f);
  ASSIGN_OR_RETURN(float lo, info.attrs.Float("min", std::numeric_limits<float>::lowest()));
  ASSIGN_OR_RETURN(float hi, info.attrs.Float("max", std::numeric_limits<float>::max()));
  return MakeKernel<ClipKernel>(false, lo, hi);
}

// ---------------------------------------------------------------- Where ---

class WhereKernel final : public Kernel {
 public:
  Status Compute(KernelContext& ctx) const override {
    ASSIGN_OR_RETURN(const Tensor* c, RequireInput(ctx, 0, "condition"));
    ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 1, "X"));
    ASSIGN_OR_RETURN(const Tensor* z, RequireInput(ctx, 2, "Y"));
    if (c->dtype() != DataType::kBool) return InvalidArgumentError("condition must be BOOL");
    if (x->dtype() != z->dtype()) return InvalidArgumentError("X and Y have different datatypes");
    ASSIGN_OR_RETURN(Shape s1, BroadcastShapes(c->shape(), x->shape()));
    ASSIGN_OR_RETURN(Shape shape, BroadcastShapes(s1, z->shape()));
    ASSIGN_OR_RETURN(Tensor* y, ctx.Output(0, x->dtype(), shape));
    return DispatchAny(x->dtype(), "Where", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const bool* pc = c->data<bool>();
      const T* px = x->data<T>();
      const T* pz = z->data<T>();
      T* out = y->mutable_data<T>();
      const Shape* shapes[3] = {&c->shape(), &x->shape(), &z->shape()};
      BroadcastWalker w(shape, shapes, 3);
      w.ForEachRun([&](int64_t o, const int64_t* offs, int64_t len, const int64_t* st) {
        for (int64_t i = 0; i < len; ++i) {
          out[o + i] = pc[offs[0] + i * st[0]] ? px[offs[1] + i * st[1]] : pz[offs[2] + i * st[2]];
        }
      });
      return OkStatus();
    });
  }
};

StatusOr<std::unique_ptr<Kernel>> CreateWhere(const KernelInfo&) { return MakeKernel<WhereKernel>(); }

}  // namespace

void RegisterElementwiseKernels(KernelRegistry& r) {
  const std::string_view d = kOnnxDomain;
  constexpr auto F = TypeClass::kFloat;
  constexpr auto S = TypeClass::kSignedNumeric;
  constexpr auto N = TypeClass::kNumeric;
  r.Add(d, "Sqrt", 1, CreateUnary<UnaryOp::kSqrt, F>);
  r.Add(d, "Exp", 1, CreateUnary<UnaryOp::kExp, F>);
  r.Add(d, "Log", 1, CreateUnary<UnaryOp::kLog, F>);
  r.Add(d, "Reciprocal", 1, CreateUnary<UnaryOp::kReciprocal, F>);
  r.Add(d, "Floor", 1, CreateUnary<UnaryOp::kFloor, F>);
  r.Add(d, "Ceil", 1, CreateUnary<UnaryOp::kCeil, F>);
  r.Add(d, "Round", 11, CreateUnary<UnaryOp::kRound, F>);
  r.Add(d, "Sigmoid", 1, CreateUnary<UnaryOp::kSigmoid, F>);
  r.Add(d, "Tanh", 1, CreateUnary<UnaryOp::kTanh, F>);
  r.Add(d, "Softplus", 1, CreateUnary<UnaryOp::kSoftplus, F>);
  r.Add(d, "Softsign", 1, CreateUnary<UnaryOp::kSoftsign, F>);
  r.Add(d, "Erf", 9, CreateUnary<UnaryOp::kErf, F>);
  r.Add(d, "Sin", 7, CreateUnary<UnaryOp::kSin, F>);
  r.Add(d, "Cos", 7, CreateUnary<UnaryOp::kCos, F>);
  r.Add(d, "Tan", 7, CreateUnary<UnaryOp::kTan, F>);
  r.Add(d, "Asin", 7, CreateUnary<UnaryOp::kAsin, F>);
  r.Add(d, "Acos", 7, CreateUnary<UnaryOp::kAcos, F>);
  r.Add(d, "Atan", 7, CreateUnary<UnaryOp::kAtan, F>);
  r.Add(d, "Sinh", 9, CreateUnary<UnaryOp::kSinh, F>);
  r.Add(d, "Cosh", 9, CreateUnary<UnaryOp::kCosh, F>);
  r.Add(d, "Asinh", 9, CreateUnary<UnaryOp::kAsinh, F>);
  r.Add(d, "Acosh", 9, CreateUnary<UnaryOp::kAcosh, F>);
  r.Add(d, "Atanh", 9, CreateUnary<UnaryOp::kAtanh, F>);
  r.Add(d, "HardSwish", 14, CreateUnary<UnaryOp::kHardSwish, F>);
  r.Add(d, "Abs", 1, CreateUnary<UnaryOp::kAbs, N>);
  r.Add(d, "Neg", 1, CreateUnary<UnaryOp::kNeg, S>);
  r.Add(d, "Sign", 9, CreateUnary<UnaryOp::kSign, N>);
  r.Add(d, "Relu", 1, CreateUnary<UnaryOp::kRelu, S>);
  r.Add(d, "LeakyRelu", 1, CreateUnary<UnaryOp::kLeakyRelu, F>);
  r.Add(d, "Elu", 1, CreateUnary<UnaryOp::kElu, F>);
  r.Add(d, "Selu", 1, CreateUnary<UnaryOp::kSelu, F>);
  r.Add(d, "HardSigmoid", 1, CreateUnary<UnaryOp::kHardSigmoid, F>);
  r.Add(d, "ThresholdedRelu", 10, CreateUnary<UnaryOp::kThresholdedRelu, F>);
  r.Add(d, "Celu", 12, CreateUnary<UnaryOp::kCelu, F>);
  r.Add(d, "Shrink", 9, CreateUnary<UnaryOp::kShrink, N>);
  r.Add(d, "Not", 1, CreateNot);
  r.Add(d, "IsNaN", 9, CreateIsNaN);
  r.Add(d, "IsInf", 10, CreateIsInf);

  r.Add(d, "Add", 7, CreateBinary<BinaryOp::kAdd>);
  r.Add(d, "Sub", 7, CreateBinary<BinaryOp::kSub>);
  r.Add(d, "Mul", 7, CreateBinary<BinaryOp::kMul>);
  r.Add(d, "Div", 7, CreateBinary<BinaryOp::kDiv>);
  r.Add(d, "Mod", 10, CreateMod);
  r.Add(d, "BitShift", 11, CreateBitShift);
  r.Add(d, "Pow", 7, CreatePow);
  r.Add(d, "PRelu", 7, CreateBinary<BinaryOp::kPRelu>);
  r.Add(d, "Equal", 7, CreateBinary<BinaryOp::kEqual>);
  r.Add(d, "Less", 7, CreateBinary<BinaryOp::kLess>);
  r.Add(d, "LessOrEqual", 12, CreateBinary<BinaryOp::kLessOrEqual>);
  r.Add(d, "Greater", 7, CreateBinary<BinaryOp::kGreater>);
  r.Add(d, "GreaterOrEqual", 12, CreateBinary<BinaryOp::kGreaterOrEqual>);
  r.Add(d, "And", 7, CreateBinary<BinaryOp::kAnd>);
  r.Add(d, "Or", 7, CreateBinary<BinaryOp::kOr>);
  r.Add(d, "Xor", 7, CreateBinary<BinaryOp::kXor>);

  r.Add(d, "Min", 6, CreateVariadic<VariadicOp::kMin>);
  r.Add(d, "Max", 6, CreateVariadic<VariadicOp::kMax>);
  r.Add(d, "Sum", 6, CreateVariadic<VariadicOp::kSum>);
  r.Add(d, "Mean", 6, CreateVariadic<VariadicOp::kMean>);
  r.Add(d, "Clip", 6, CreateClip);
  r.Add(d, "Where", 9, CreateWhere);
}

}  // namespace rtml::engine::internal
