// Tensor: the engine's n-dimensional array, owned or borrowed.
//
// An owned tensor keeps its storage across Resize calls and only grows it, so
// a RunContext reused for the same request shapes performs no allocation. A
// borrowed tensor points at memory the caller keeps alive (request buffers,
// model constants). Thread-safety: none; a tensor belongs to one RunContext
// or is immutable once a compiled model is built.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace rtml::engine {

enum class DataType : uint8_t {
  kUndefined = 0,
  kFloat,
  kDouble,
  kInt8,
  kUInt8,
  kInt16,
  kUInt16,
  kInt32,
  kUInt32,
  kInt64,
  kUInt64,
  kBool,
  kString,
};

// Bytes per element (sizeof(std::string) for kString).
size_t SizeOf(DataType type);
// KServe v2 datatype name: FP32, FP64, INT8 ... BOOL, BYTES.
std::string_view DataTypeName(DataType type);
// Inverse of DataTypeName; kUndefined when unknown.
DataType DataTypeFromName(std::string_view name);
bool IsFloating(DataType type);
bool IsInteger(DataType type);  // signed or unsigned integer, not bool
bool IsNumeric(DataType type);  // floating or integer

template <typename T> struct DataTypeTrait;
template <> struct DataTypeTrait<float> { static constexpr DataType value = DataType::kFloat; };
template <> struct DataTypeTrait<double> { static constexpr DataType value = DataType::kDouble; };
template <> struct DataTypeTrait<int8_t> { static constexpr DataType value = DataType::kInt8; };
template <> struct DataTypeTrait<uint8_t> { static constexpr DataType value = DataType::kUInt8; };
template <> struct DataTypeTrait<int16_t> { static constexpr DataType value = DataType::kInt16; };
template <> struct DataTypeTrait<uint16_t> { static constexpr DataType value = DataType::kUInt16; };
template <> struct DataTypeTrait<int32_t> { static constexpr DataType value = DataType::kInt32; };
template <> struct DataTypeTrait<uint32_t> { static constexpr DataType value = DataType::kUInt32; };
template <> struct DataTypeTrait<int64_t> { static constexpr DataType value = DataType::kInt64; };
template <> struct DataTypeTrait<uint64_t> { static constexpr DataType value = DataType::kUInt64; };
template <> struct DataTypeTrait<bool> { static constexpr DataType value = DataType::kBool; };
template <> struct DataTypeTrait<std::string> { static constexpr DataType value = DataType::kString; };
template <typename T> inline constexpr DataType kDataTypeOf = DataTypeTrait<T>::value;

// Dimensions of a tensor, stored inline (no allocation). Rank <= kMaxRank.
class Shape {
 public:
  static constexpr int kMaxRank = 8;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  // Fails when dims.size() > kMaxRank or a dimension is negative.
  static StatusOr<Shape> FromDims(std::span<const int64_t> dims);

  int rank() const { return rank_; }
  int64_t operator[](int i) const { return dims_[i]; }
  int64_t& operator[](int i) { return dims_[i]; }
  std::span<const int64_t> dims() const { return {dims_, static_cast<size_t>(rank_)}; }
  // Product of the dimensions (1 for a scalar). Shapes are validated on
  // construction from untrusted input, so this cannot overflow here.
  int64_t NumElements() const;
  // Appends a dimension; the caller guarantees rank() < kMaxRank.
  void PushBack(int64_t d) { dims_[rank_++] = d; }
  void Resize(int rank) { rank_ = static_cast<uint8_t>(rank); }
  std::string ToString() const;  // "[1,32]"

  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }

 private:
  int64_t dims_[kMaxRank] = {};
  uint8_t rank_ = 0;
};

// Keys of a sequence-of-maps value (ZipMap output): exactly one list is set.
struct MapKeys {
  std::vector<int64_t> int_keys;
  std::vector<std::string> string_keys;
  bool is_string() const { return !string_keys.empty(); }
  size_t size() const { return is_string() ? string_keys.size() : int_keys.size(); }
};

class Tensor {
 public:
  // Largest tensor the engine will allocate; bigger requests fail cleanly.
  static constexpr int64_t kMaxBytes = int64_t{1} << 31;

  Tensor() = default;
  ~Tensor();
  Tensor(Tensor&& other) noexcept;
  Tensor& operator=(Tensor&& other) noexcept;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  // A non-owning view of `data` (an array of `std::string` for kString).
  static Tensor Borrow(DataType type, const Shape& shape, const void* data);
  // An owned, zero-filled tensor (empty strings for kString).
  static StatusOr<Tensor> Make(DataType type, const Shape& shape);
  // Owned tensor holding a copy of `values` with the given shape.
  template <typename T>
  static Tensor FromVector(const Shape& shape, const std::vector<T>& values);

  // Reshapes/retypes an owned tensor, growing storage only when needed. New
  // elements are not initialised (strings keep old contents). Fails when the
  // size exceeds kMaxBytes. A borrowed tensor becomes owned.
  Status Resize(DataType type, const Shape& shape);
  // Deep copy of `other` into this tensor's owned storage.
  Status CopyFrom(const Tensor& other);
  // Changes the shape without touching data; element count must match.
  void Reshape(const Shape& shape);

  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  int64_t size() const { return size_; }
  size_t nbytes() const { return static_cast<size_t>(size_) * SizeOf(dtype_); }
  bool is_borrowed() const { return data_ != nullptr && data_ != storage_ptr(); }

  template <typename T> const T* data() const { return static_cast<const T*>(data_); }
  template <typename T> T* mutable_data() { return static_cast<T*>(const_cast<void*>(data_)); }
  template <typename T> std::span<const T> values() const {
    return {data<T>(), static_cast<size_t>(size_)};
  }
  const void* raw_data() const { return data_; }
  void* raw_mutable_data() { return const_cast<void*>(data_); }

  // Set on ZipMap outputs: the [N, C] float data is a sequence of N maps.
  const MapKeys* map_keys() const { return map_keys_; }
  void set_map_keys(const MapKeys* keys) { map_keys_ = keys; }

  // Human-readable "FP32[1,32]".
  std::string Describe() const;

 private:
  const void* storage_ptr() const;

  DataType dtype_ = DataType::kUndefined;
  Shape shape_;
  int64_t size_ = 0;
  const void* data_ = nullptr;
  // Owned numeric storage, 64-byte aligned.
  struct AlignedFree { void operator()(std::byte* p) const; };
  std::unique_ptr<std::byte[], AlignedFree> bytes_;
  size_t capacity_ = 0;
  std::vector<std::string> strings_;  // owned string storage
  const MapKeys* map_keys_ = nullptr;
};

template <typename T>
Tensor Tensor::FromVector(const Shape& shape, const std::vector<T>& values) {
  Tensor t;
  Status s = t.Resize(kDataTypeOf<T>, shape);
  (void)s;
  T* out = t.mutable_data<T>();
  for (size_t i = 0; i < values.size() && static_cast<int64_t>(i) < t.size(); ++i) out[i] = values[i];
  return t;
}

}  // namespace rtml::engine
