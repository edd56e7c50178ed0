#include "engine/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace rtml::engine {

size_t SizeOf(DataType type) {
  switch (type) {
    case DataType::kFloat: return 4;
    case DataType::kDouble: return 8;
    case DataType::kInt8: return 1;
    case DataType::kUInt8: return 1;
    case DataType::kInt16: return 2;
    case DataType::kUInt16: return 2;
    case DataType::kInt32: return 4;
    case DataType::kUInt32: return 4;
    case DataType::kInt64: return 8;
    case DataType::kUInt64: return 8;
    case DataType::kBool: return 1;
    case DataType::kString: return sizeof(std::string);
    case DataType::kUndefined: return 0;
  }
  return 0;
}

namespace {
struct TypeName {
  DataType type;
  std::string_view name;
};
constexpr TypeName kTypeNames[] = {
    {DataType::kFloat, "FP32"},   {DataType::kDouble, "FP64"},  {DataType::kInt8, "INT8"},
    {DataType::kUInt8, "UINT8"},  {DataType::kInt16, "INT16"},  {DataType::kUInt16, "UINT16"},
    {DataType::kInt32, "INT32"},  {DataType::kUInt32, "UINT32"}, {DataType::kInt64, "INT64"},
    {DataType::kUInt64, "UINT64"}, {DataType::kBool, "BOOL"},    {DataType::kString, "BYTES"},
};
}  // namespace

std::string_view DataTypeName(DataType type) {
  for (const auto& tn : kTypeNames)
    if (tn.type == type) return tn.name;
  return "UNDEFINED";
}

DataType DataTypeFromName(std::string_view name) {
  for (const auto& tn : kTypeNames)
    if (tn.name == name) return tn.type;
  return DataType::kUndefined;
}

bool IsFloating(DataType t) { return t == DataType::kFloat || t == DataType::kDouble; }
bool IsInteger(DataType t) {
  switch (t) {
    case DataType::kInt8: case DataType::kUInt8: case DataType::kInt16: case DataType::kUInt16:
    case DataType::kInt32: case DataType::kUInt32: case DataType::kInt64: case DataType::kUInt64:
      return true;
    default:
      return false;
  }
}
bool IsNumeric(DataType t) { return IsFloating(t) || IsInteger(t); }

Shape::Shape(std::initializer_list<int64_t> dims) {
  for (int64_t d : dims) {
    if (rank_ == kMaxRank) break;
    dims_[rank_++] = d;
  }
}

StatusOr<Shape> Shape::FromDims(std::span<const int64_t> dims) {
  if (dims.size() > static_cast<size_t>(kMaxRank)) {
    return UnimplementedError("rank " + std::to_string(dims.size()) +
                              " exceeds the engine's limit of " + std::to_string(kMaxRank));
  }
  Shape s;
  int64_t total = 1;
  for (int64_t d : dims) {
    if (d < 0) return InvalidArgumentError("negative dimension " + std::to_string(d));
    if (d != 0 && total > (int64_t{1} << 40) / d) {
      return TooLargeError("shape has more than 2^40 elements");
    }
    total *= d;
    s.dims_[s.rank_++] = d;
  }
  return s;
}

int64_t Shape::NumElements() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[i];
  return n;
}

std::string Shape::ToString() const {
  std::string out = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i) out += ',';
    out += std::to_string(dims_[i]);
  }
  out += ']';
  return out;
}

bool Shape::operator==(const Shape& o) const {
  if (rank_ != o.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if (dims_[i] != o.dims_[i]) return false;
  return true;
}

void Tensor::AlignedFree::operator()(std::byte* p) const {
  ::operator delete(p, std::align_val_t{64});
}

Tensor::~Tensor() = default;

Tensor::Tensor(Tensor&& o) noexcept { *this = std::move(o); }

Tensor& Tensor::operator=(Tensor&& o) noexcept {
  if (this == &o) return *this;
  const bool owned = o.data_ != nullptr && o.data_ == o.storage_ptr();
  dtype_ = o.dtype_;
  shape_ = o.shape_;
  size_ = o.size_;
  bytes_ = std::move(o.bytes_);
  capacity_ = o.capacity_;
  strings_ = std::move(o.strings_);
  map_keys_ = o.map_keys_;
  data_ = owned ? storage_ptr() : o.data_;
  o.data_ = nullptr;
  o.size_ = 0;
  o.capacity_ = 0;
  o.dtype_ = DataType::kUndefined;
  o.shape_ = Shape();
  return *this;
}

const void* Tensor::storage_ptr() const {
  if (dtype_ == DataType::kString) return strings_.data();
  return bytes_.get();
}

Tensor Tensor::Borrow(DataType type, const Shape& shape, const void* data) {
  Tensor t;
  t.dtype_ = type;
  t.shape_ = shape;
  t.size_ = shape.NumElements();
  t.data_ = data;
  return t;
}

StatusOr<Tensor> Tensor::Make(DataType type, const Shape& shape) {
  Tensor t;
  RETURN_IF_ERROR(t.Resize(type, shape));
  if (type != DataType::kString && t.nbytes() > 0) std::memset(t.raw_mutable_data(), 0, t.nbytes());
  if (type == DataType::kString) {
    for (int64_t i = 0; i < t.size(); ++i) t.mutable_data<std::string>()[i].clear();
  }
  return t;
}

Status Tensor::Resize(DataType type, const Shape& shape) {
  const int64_t n = shape.NumElements();
  const size_t elem = SizeOf(type);
  if (elem == 0) return InternalError("Resize with an undefined data type");
  int64_t total_bytes = 0;
  if (n < 0 || __builtin_mul_overflow(n, static_cast<int64_t>(elem), &total_bytes) || total_bytes > kMaxBytes) {
    return TooLargeError("tensor " + std::string(DataTypeName(type)) + shape.ToString() +
                         " exceeds the engine's limit of " + std::to_string(kMaxBytes) + " bytes");
  }
  map_keys_ = nullptr;
  dtype_ = type;
  shape_ = shape;
  size_ = n;
  if (type == DataType::kString) {
    if (strings_.size() < static_cast<size_t>(n)) strings_.resize(static_cast<size_t>(n));
    data_ = strings_.data();
    return OkStatus();
  }
  const size_t need = static_cast<size_t>(n) * elem;
  if (need > capacity_ || !bytes_) {
    // Round up to the 64-byte alignment that aligned_alloc requires.
    size_t cap = (need + 63) / 64 * 64;
    if (cap == 0) cap = 64;
    void* p = ::operator new(cap, std::align_val_t{64}, std::nothrow);
    if (p == nullptr) return ResourceExhaustedError("out of memory allocating " + std::to_string(cap) + " bytes");
    bytes_.reset(static_cast<std::byte*>(p));
    capacity_ = cap;
  }
  data_ = bytes_.get();
  return OkStatus();
}

Status Tensor::CopyFrom(const Tensor& other) {
  if (&other == this) return OkStatus();
  const MapKeys* keys = other.map_keys_;
  RETURN_IF_ERROR(Resize(other.dtype(), other.shape()));
  if (dtype_ == DataType::kString) {
    const std::string* src = other.data<std::string>();
    std::string* dst = mutable_data<std::string>();
    for (int64_t i = 0; i < size_; ++i) dst[i].assign(src[i]);
  } else if (size_ > 0) {
    std::memcpy(raw_mutable_data(), other.raw_data(), nbytes());
  }
  map_keys_ = keys;
  return OkStatus();
}

void Tensor::Reshape(const Shape& shape) { shape_ = shape; }

std::string Tensor::Describe() const {
  return std::string(DataTypeName(dtype_)) + shape_.ToString();
}

}  // namespace rtml::engine
