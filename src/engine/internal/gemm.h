// Small single-precision GEMM for inference: C = act(alpha * A * B + bias [+ C]).
//
// B is packed once into column panels of kGemmPanelWidth floats (zero-padded
// on the right), so the micro-kernel streams contiguous memory and keeps a
// block of C in registers; a B of at most 4 columns (classifier and regressor
// heads) is stored transposed instead and C computed as dot products. The
// layout is private to PackB and GemmPacked. Kernels that know B at compile time pack it in
// their factory (PackedB); others pack into per-call scratch (PackB). The
// micro-kernel is picked once per process from the CPU (AVX2+FMA or a
// portable path), so Release builds stay generic (no -march=native).
// Accumulation is in float, as in ONNX Runtime's MLAS.
// Thread-safety: functions are pure; a PackedB is immutable after
// construction and may be shared by any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rtml::engine::internal {

// Columns per packed panel of B.
inline constexpr int kGemmPanelWidth = 16;

enum class GemmActivation { kNone, kRelu };

// What happens to each C element after the dot product. Applied in order:
// x = alpha * dot; x += C (accumulate); x += bias[col]; x = act(x).
struct GemmEpilogue {
  float alpha = 1.0f;
  bool accumulate = false;      // add the existing C (caller pre-fills it)
  const float* bias = nullptr;  // n values, one per column, or nullptr
  GemmActivation activation = GemmActivation::kNone;
};

// Floats needed to pack a k x n matrix (padding included).
size_t PackedBSize(int64_t k, int64_t n);

// Packs B (k x n, row stride ldb) into `out`, which holds PackedBSize(k, n)
// floats. With `transposed`, the source is B^T stored as n x k (row stride
// ldb), as Gemm's transB=1 gives it.
void PackB(const float* b, int64_t ldb, bool transposed, int64_t k, int64_t n, float* out);

// C (m x n, row stride ldc) = epilogue(A (m x k, row stride lda) * B), B
// packed by PackB. m, n, k must be >= 0 and m * k, k * n, m * n must
// describe real buffers; k == 0 yields the epilogue applied to zero.
void GemmPacked(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b_packed,
                float* c, int64_t ldc, const GemmEpilogue& epilogue = {});

// A B matrix packed once and owned; the storage is 64-byte aligned.
class PackedB {
 public:
  PackedB() = default;
  PackedB(const float* b, int64_t ldb, bool transposed, int64_t k, int64_t n);
  PackedB(PackedB&&) noexcept = default;
  PackedB& operator=(PackedB&&) noexcept = default;
  PackedB(const PackedB&) = delete;
  PackedB& operator=(const PackedB&) = delete;

  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  const float* data() const { return storage_.data() + offset_; }

 private:
  int64_t k_ = 0;
  int64_t n_ = 0;
  std::vector<float> storage_;
  size_t offset_ = 0;  // first 64-byte aligned float in storage_
};

// Micro-kernel selection. kAuto picks AVX2+FMA when the CPU has it, else the
// portable C++ kernel; kAvx2Fma falls back to portable on other CPUs. The
// explicit choices exist for tests and benchmarks.
enum class GemmKernel { kAuto, kPortable, kAvx2Fma };

// GemmPacked with an explicit micro-kernel.
void GemmPackedWith(GemmKernel kernel, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                    const float* b_packed, float* c, int64_t ldc,
                    const GemmEpilogue& epilogue = {});

// "avx2_fma" or "portable": what `kernel` resolves to on this CPU.
const char* GemmKernelName(GemmKernel kernel = GemmKernel::kAuto);

}  // namespace rtml::engine::internal
