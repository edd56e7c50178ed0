// Helpers shared by kernels: type dispatch, broadcasting, axis handling and
// reading small integer lists (shapes, axes) without allocating.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "common/status.h"
#include "engine/internal/kernel.h"
#include "engine/tensor.h"

namespace rtml::engine::internal {

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<T>{}) for the C++ type of `dtype`. Unsupported types yield
// Unimplemented naming `what`.
template <typename F>
Status DispatchFloat(DataType dtype, std::string_view what, F&& f) {
  switch (dtype) {
    case DataType::kFloat: return f(TypeTag<float>{});
    case DataType::kDouble: return f(TypeTag<double>{});
    default:
      return UnimplementedError(std::string(what) + " does not support datatype " +
                                std::string(DataTypeName(dtype)));
  }
}

template <typename F>
Status DispatchSignedNumeric(DataType dtype, std::string_view what, F&& f) {
  switch (dtype) {
    case DataType::kFloat: return f(TypeTag<float>{});
    case DataType::kDouble: return f(TypeTag<double>{});
    case DataType::kInt8: return f(TypeTag<int8_t>{});
    case DataType::kInt16: return f(TypeTag<int16_t>{});
    case DataType::kInt32: return f(TypeTag<int32_t>{});
    case DataType::kInt64: return f(TypeTag<int64_t>{});
    default:
      return UnimplementedError(std::string(what) + " does not support datatype " +
                                std::string(DataTypeName(dtype)));
  }
}

template <typename F>
Status DispatchNumeric(DataType dtype, std::string_view what, F&& f) {
  switch (dtype) {
    case DataType::kFloat: return f(TypeTag<float>{});
    case DataType::kDouble: return f(TypeTag<double>{});
    case DataType::kInt8: return f(TypeTag<int8_t>{});
    case DataType::kUInt8: return f(TypeTag<uint8_t>{});
    case DataType::kInt16: return f(TypeTag<int16_t>{});
    case DataType::kUInt16: return f(TypeTag<uint16_t>{});
    case DataType::kInt32: return f(TypeTag<int32_t>{});
    case DataType::kUInt32: return f(TypeTag<uint32_t>{});
    case DataType::kInt64: return f(TypeTag<int64_t>{});
    case DataType::kUInt64: return f(TypeTag<uint64_t>{});
    default:
      return UnimplementedError(std::string(what) + " does not support datatype " +
                                std::string(DataTypeName(dtype)));
  }
}

// Every type including bool and string: for data movement kernels.
template <typename F>
Status DispatchAny(DataType dtype, std::string_view what, F&& f) {
  switch (dtype) {
    case DataType::kBool: return f(TypeTag<bool>{});
    case DataType::kString: return f(TypeTag<std::string>{});
    default: return DispatchNumeric(dtype, what, std::forward<F>(f));
  }
}

// Dispatches on element size only (1, 2, 4, 8 bytes) for kernels that move
// bits without interpreting them; strings get their own type.
template <typename F>
Status DispatchBySize(DataType dtype, F&& f) {
  switch (dtype) {
    case DataType::kString: return f(TypeTag<std::string>{});
    case DataType::kUndefined: return InternalError("undefined datatype");
    default: break;
  }
  switch (SizeOf(dtype)) {
    case 1: return f(TypeTag<uint8_t>{});
    case 2: return f(TypeTag<uint16_t>{});
    case 4: return f(TypeTag<uint32_t>{});
    default: return f(TypeTag<uint64_t>{});
  }
}

// A fixed-capacity list of int64 (axes, shapes, starts ...): no allocation.
struct SmallInts {
  static constexpr int kCapacity = Shape::kMaxRank;
  int64_t v[kCapacity] = {};
  int n = 0;
  int64_t operator[](int i) const { return v[i]; }
  int64_t& operator[](int i) { return v[i]; }
  bool push(int64_t x) {
    if (n == kCapacity) return false;
    v[n++] = x;
    return true;
  }
};

// Reads a 1-D (or scalar) int32/int64 tensor of at most SmallInts::kCapacity
// elements; `what` names it in errors.
Status ReadSmallInts(const Tensor& t, std::string_view what, SmallInts* out);
// Reads an int32/int64 scalar (or one-element tensor).
StatusOr<int64_t> ReadScalarInt(const Tensor& t, std::string_view what);
// Reads a float/double/int scalar as double.
StatusOr<double> ReadScalarDouble(const Tensor& t, std::string_view what);

// Maps axis in [-rank, rank) to [0, rank).
StatusOr<int> NormalizeAxis(int64_t axis, int rank, std::string_view what = "axis");

// Multidirectional (numpy) broadcasting of two shapes.
StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b);

// Strides (in elements) of `in` aligned to an output shape of rank
// out.rank(): broadcast dimensions get stride 0.
void BroadcastStrides(const Shape& in, const Shape& out, int64_t* strides);

// Walks an output tensor in row-major order while tracking the offsets of up
// to three broadcast inputs. Inner-most dimension is exposed as a run so the
// caller can write tight loops.
class BroadcastWalker {
 public:
  // `inputs` are the input shapes; all must broadcast to `out`.
  BroadcastWalker(const Shape& out, const Shape* const* inputs, int num_inputs);
  // Calls f(out_offset, in_offsets[], inner_len, inner_strides[]) per run.
  template <typename F>
  void ForEachRun(F&& f) const {
    const int rank = out_.rank();
    if (out_.NumElements() == 0) return;
    if (rank == 0) {
      int64_t offs[3] = {0, 0, 0};
      int64_t inner[3] = {0, 0, 0};
      f(int64_t{0}, offs, int64_t{1}, inner);
      return;
    }
    const int64_t inner_len = out_[rank - 1];
    int64_t inner_strides[3];
    for (int k = 0; k < n_; ++k) inner_strides[k] = strides_[k][rank - 1];
    int64_t idx[Shape::kMaxRank] = {};
    int64_t offs[3] = {0, 0, 0};
    const int64_t outer = out_.NumElements() / inner_len;
    for (int64_t o = 0; o < outer; ++o) {
      f(o * inner_len, offs, inner_len, inner_strides);
      // Advance the multi-index over all but the last dimension.
      for (int d = rank - 2; d >= 0; --d) {
        ++idx[d];
        for (int k = 0; k < n_; ++k) offs[k] += strides_[k][d];
        if (idx[d] < out_[d]) break;
        for (int k = 0; k < n_; ++k) offs[k] -= strides_[k][d] * out_[d];
        idx[d] = 0;
      }
    }
  }

 private:
  Shape out_;
  int n_;
  int64_t strides_[3][Shape::kMaxRank] = {};
};

// Row-major strides of a shape.
void RowMajorStrides(const Shape& s, int64_t* strides);

// Copies `n` elements, handling strings by assignment.
template <typename T>
inline void CopyElements(const T* src, T* dst, int64_t n) {
  if constexpr (std::is_trivially_copyable_v<T>) {
    if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(T));
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}

// Returns the input if present, otherwise an InvalidArgument naming it.
StatusOr<const Tensor*> RequireInput(const KernelContext& ctx, int i, std::string_view name);

}  // namespace rtml::engine::internal
