#include "engine/internal/kernel_util.h"

namespace rtml::engine::internal {

Status ReadSmallInts(const Tensor& t, std::string_view what, SmallInts* out) {
  out->n = 0;
  if (t.rank() > 1) {
    return InvalidArgumentError(std::string(what) + " must be a 1-D tensor, got shape " + t.shape().ToString());
  }
  if (t.size() > SmallInts::kCapacity) {
    return UnimplementedError(std::string(what) + " has " + std::to_string(t.size()) +
                              " entries; the engine supports at most " +
                              std::to_string(SmallInts::kCapacity));
  }
  if (t.dtype() == DataType::kInt64) {
    for (int64_t v : t.values<int64_t>()) out->push(v);
  } else if (t.dtype() == DataType::kInt32) {
    for (int32_t v : t.values<int32_t>()) out->push(v);
  } else {
    return InvalidArgumentError(std::string(what) + " must be INT64 or INT32, got " +
                                std::string(DataTypeName(t.dtype())));
  }
  return OkStatus();
}

StatusOr<int64_t> ReadScalarInt(const Tensor& t, std::string_view what) {
  if (t.size() != 1) {
    return InvalidArgumentError(std::string(what) + " must hold exactly one value, got shape " +
                                t.shape().ToString());
  }
  if (t.dtype() == DataType::kInt64) return t.data<int64_t>()[0];
  if (t.dtype() == DataType::kInt32) return int64_t{t.data<int32_t>()[0]};
  return InvalidArgumentError(std::string(what) + " must be INT64 or INT32, got " +
                              std::string(DataTypeName(t.dtype())));
}

StatusOr<double> ReadScalarDouble(const Tensor& t, std::string_view what) {
  if (t.size() != 1) {
    return InvalidArgumentError(std::string(what) + " must hold exactly one value, got shape " +
                                t.shape().ToString());
  }
  double v = 0;
  Status s = DispatchNumeric(t.dtype(), what, [&](auto tag) {
    using T = typename decltype(tag)::type;
    v = static_cast<double>(t.data<T>()[0]);
    return OkStatus();
  });
  RETURN_IF_ERROR(s);
  return v;
}

StatusOr<int> NormalizeAxis(int64_t axis, int rank, std::string_view what) {
  if (axis < -rank || axis >= rank) {
    // A rank-0 tensor has no axis; callers that accept them special-case it.
    return InvalidArgumentError(std::string(what) + " " + std::to_string(axis) +
                                " is out of range for a tensor of rank " + std::to_string(rank));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b) {
  const int rank = std::max(a.rank(), b.rank());
  Shape out;
  out.Resize(rank);
  for (int i = 0; i < rank; ++i) {
    const int ia = i - (rank - a.rank());
    const int ib = i - (rank - b.rank());
    const int64_t da = ia >= 0 ? a[ia] : 1;
    const int64_t db = ib >= 0 ? b[ib] : 1;
    if (da == db || db == 1) {
      out[i] = da;
    } else if (da == 1) {
      out[i] = db;
    } else {
      return InvalidArgumentError("shapes " + a.ToString() + " and " + b.ToString() +
                                  " cannot be broadcast together");
    }
  }
  return out;
}

void RowMajorStrides(const Shape& s, int64_t* strides) {
  int64_t acc = 1;
  for (int i = s.rank() - 1; i >= 0; --i) {
    strides[i] = acc;
    acc *= s[i];
  }
}

void BroadcastStrides(const Shape& in, const Shape& out, int64_t* strides) {
  int64_t own[Shape::kMaxRank];
  RowMajorStrides(in, own);
  const int shift = out.rank() - in.rank();
  for (int i = 0; i < out.rank(); ++i) {
    const int ii = i - shift;
    strides[i] = (ii < 0 || in[ii] == 1) ? 0 : own[ii];
  }
}

BroadcastWalker::BroadcastWalker(const Shape& out, const Shape* const* inputs, int num_inputs)
    : out_(out), n_(num_inputs) {
  for (int k = 0; k < n_; ++k) BroadcastStrides(*inputs[k], out_, strides_[k]);
}

StatusOr<const Tensor*> RequireInput(const KernelContext& ctx, int i, std::string_view name) {
  const Tensor* t = ctx.input(i);
  if (t == nullptr) return InvalidArgumentError("required input '" + std::string(name) + "' is missing");
  return t;
}

}  // namespace rtml::engine::internal
