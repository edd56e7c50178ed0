// Register-blocked float GEMM over panel-packed B.
//
// Loop nest (outermost first): depth blocks of kDepthBlock, groups of
// kPanelGroup panels, row blocks of up to kMaxRows rows, tiles. A tile keeps
// rows x (panels * 16) accumulators in registers: 6x16 for full row blocks,
// wider for the 1..3-row remainders, and 8 columns only for a lone narrow
// panel (N = 2 outputs). Tiles with few accumulators also split the depth
// loop so that batch-1 calls still run enough independent FMA chains. One
// depth block of a panel group is 64 KiB at most and is reused across all
// rows of A.
#include "engine/internal/gemm.h"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RTML_GEMM_X86 1
#else
#define RTML_GEMM_X86 0
#endif

namespace rtml::engine::internal {
namespace {

constexpr int kNr = kGemmPanelWidth;
constexpr int kMaxRows = 6;
constexpr int kMaxPanels = 4;
constexpr int64_t kDepthBlock = 256;
constexpr int64_t kPanelGroup = 4;

// Up to this many columns B is stored transposed (K contiguous) and C is
// computed as dot products: narrow heads (N = 1 regressors, N = 2
// classifiers) would otherwise waste most of a 16-column panel.
constexpr int64_t kNarrowMaxCols = 4;
constexpr bool IsNarrow(int64_t n) { return n <= kNarrowMaxCols; }
// Rows per narrow tile, so that rows x cols <= 8 accumulators share B loads.
constexpr int NarrowRows(int64_t cols) { return cols == 1 ? 8 : cols == 2 ? 4 : 2; }

// Panels per tile for a row count: at most 12 vector accumulators (AVX2 has
// 16 registers; B loads and the A broadcast need the rest).
constexpr int PanelsFor(int rows) { return rows == 1 ? 4 : rows == 2 ? 3 : rows == 3 ? 2 : 1; }

struct Tile {
  const float* a;
  int64_t lda;
  const float* b;  // first panel at the tile's first depth; B^T in the narrow layout
  int64_t panel_stride;
  float* c;
  int64_t ldc;
  int64_t k;
  int64_t cols;  // valid columns, 1 .. panels * kNr
  float alpha;
  bool accumulate;
  const float* bias;  // at the tile's first column, or nullptr
  bool relu;
};
using TileFn = void (*)(const Tile&);

struct KernelSet {
  const char* name;
  TileFn tiles[kMaxRows + 1][kMaxPanels + 1];  // [rows][panels]
  TileFn half[kMaxRows + 1];                   // [rows], one panel, <= 8 columns
  // Narrow layout, [cols]: NarrowRows(cols) rows at once, and one row.
  TileFn narrow_block[kNarrowMaxCols + 1];
  TileFn narrow_row[kNarrowMaxCols + 1];
};

// Applies the epilogue to finished dot products: `cols` of each row of
// `dots` (row-major, `stride` apart) go to C.
inline void StoreTile(const Tile& t, int rows, const float* dots, int stride, int64_t cols) {
  for (int r = 0; r < rows; ++r) {
    float* c = t.c + r * t.ldc;
    const float* d = dots + r * stride;
    for (int64_t col = 0; col < cols; ++col) {
      float x = d[col] * t.alpha;
      if (t.accumulate) x += c[col];
      if (t.bias != nullptr) x += t.bias[col];
      if (t.relu) x = x > 0.0f ? x : 0.0f;
      c[col] = x;
    }
  }
}

// Portable C++ with GCC vector extensions (SSE2 on generic x86-64, NEON on
// AArch64). kVecs counts 8-column vectors: 2 per panel, or 1 for a lone
// panel whose valid columns fit in its first half (narrow outputs such as
// N = 2). One 8-column strip is finished at a time so that the accumulators
// (rows x 2 registers of 4 floats) fit in 16 registers.
struct PortableTiles {
  using V4 = float __attribute__((vector_size(16)));

  template <int kRows, int kVecs>
  static void Run(const Tile& t) {
    float dots[kRows][kVecs * 8];
    for (int v = 0; v < kVecs; ++v) {
      V4 acc[kRows][2] = {};
      const float* b = t.b + (v / 2) * t.panel_stride + (v % 2) * 8;
      for (int64_t p = 0; p < t.k; ++p, b += kNr) {
        V4 b0, b1;
        std::memcpy(&b0, b, sizeof(V4));
        std::memcpy(&b1, b + 4, sizeof(V4));
        for (int r = 0; r < kRows; ++r) {
          const float av = t.a[r * t.lda + p];
          acc[r][0] += av * b0;
          acc[r][1] += av * b1;
        }
      }
      for (int r = 0; r < kRows; ++r) {
        std::memcpy(&dots[r][v * 8], &acc[r][0], sizeof(V4));
        std::memcpy(&dots[r][v * 8 + 4], &acc[r][1], sizeof(V4));
      }
    }
    StoreTile(t, kRows, &dots[0][0], kVecs * 8, std::min<int64_t>(t.cols, kVecs * 8));
  }
};

// Narrow layout: t.b is B^T (t.cols rows of t.k floats). Dot products run
// along K four lanes at a time.
struct PortableNarrow {
  using V4 = PortableTiles::V4;

  template <int kRows, int kCols>
  static void Run(const Tile& t) {
    V4 acc[kRows][kCols] = {};
    int64_t p = 0;
    for (; p + 4 <= t.k; p += 4) {
      V4 bv[kCols];
      for (int j = 0; j < kCols; ++j) std::memcpy(&bv[j], t.b + j * t.k + p, sizeof(V4));
      for (int r = 0; r < kRows; ++r) {
        V4 av;
        std::memcpy(&av, t.a + r * t.lda + p, sizeof(V4));
        for (int j = 0; j < kCols; ++j) acc[r][j] += av * bv[j];
      }
    }
    float dots[kRows][kCols];
    for (int r = 0; r < kRows; ++r) {
      for (int j = 0; j < kCols; ++j) {
        float d = (acc[r][j][0] + acc[r][j][1]) + (acc[r][j][2] + acc[r][j][3]);
        for (int64_t q = p; q < t.k; ++q) d += t.a[r * t.lda + q] * t.b[j * t.k + q];
        dots[r][j] = d;
      }
    }
    StoreTile(t, kRows, &dots[0][0], kCols, kCols);
  }
};

#if RTML_GEMM_X86
// Eight "all ones" lanes followed by eight zero lanes: loading 8 lanes at
// offset 8 - n gives a mask for the first n lanes.
alignas(64) constexpr int32_t kMaskTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                0,  0,  0,  0,  0,  0,  0,  0};

struct Avx2Tiles {
  // One depth step: sum[r][v] += a[r * lda] * b[vector v].
  template <int kRows, int kVecs>
  __attribute__((target("avx2,fma"), always_inline)) static inline void Step(
      const float* a, int64_t lda, const float* b, int64_t ps, __m256 (&sum)[kRows][kVecs]) {
    __m256 bv[kVecs];
#pragma GCC unroll 8
    for (int v = 0; v < kVecs; ++v) bv[v] = _mm256_loadu_ps(b + (v / 2) * ps + (v % 2) * 8);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r * lda);
#pragma GCC unroll 8
      for (int v = 0; v < kVecs; ++v) sum[r][v] = _mm256_fmadd_ps(av, bv[v], sum[r][v]);
    }
  }

  // Tiles with few accumulators split the depth loop over kSplit sets so
  // that enough independent FMA chains hide the FMA latency.
  template <int kRows, int kVecs>
  __attribute__((target("avx2,fma"))) static void Run(const Tile& t) {
    constexpr int kSplit = kRows * kVecs <= 2 ? 4 : kRows * kVecs <= 6 ? 2 : 1;
    __m256 acc[kSplit][kRows][kVecs];
#pragma GCC unroll 4
    for (int s = 0; s < kSplit; ++s) {
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 8
        for (int v = 0; v < kVecs; ++v) acc[s][r][v] = _mm256_setzero_ps();
      }
    }
    const float* a = t.a;
    const float* b = t.b;
    const int64_t ps = t.panel_stride;
    const int64_t lda = t.lda;
    int64_t p = 0;
    for (; p + kSplit <= t.k; p += kSplit) {
#pragma GCC unroll 4
      for (int s = 0; s < kSplit; ++s) {
        Step<kRows, kVecs>(a, lda, b, ps, acc[s]);
        a += 1;
        b += kNr;
      }
    }
    for (; p < t.k; ++p) {
      Step<kRows, kVecs>(a, lda, b, ps, acc[0]);
      a += 1;
      b += kNr;
    }
#pragma GCC unroll 4
    for (int s = 1; s < kSplit; ++s) {
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 8
        for (int v = 0; v < kVecs; ++v) acc[0][r][v] = _mm256_add_ps(acc[0][r][v], acc[s][r][v]);
      }
    }
    const __m256 alpha = _mm256_set1_ps(t.alpha);
    const __m256 zero = _mm256_setzero_ps();
    const bool scale = t.alpha != 1.0f;
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      float* c = t.c + r * t.ldc;
#pragma GCC unroll 8
      for (int v = 0; v < kVecs; ++v) {
        const int64_t col = v * 8;
        const int64_t left = t.cols - col;
        if (left <= 0) break;
        __m256 x = acc[0][r][v];
        if (scale) x = _mm256_mul_ps(x, alpha);
        if (left >= 8) {
          if (t.accumulate) x = _mm256_add_ps(x, _mm256_loadu_ps(c + col));
          if (t.bias != nullptr) x = _mm256_add_ps(x, _mm256_loadu_ps(t.bias + col));
          if (t.relu) x = _mm256_max_ps(x, zero);
          _mm256_storeu_ps(c + col, x);
        } else {
          // Masked loads are cheap, masked stores are microcoded on AMD:
          // store through a buffer and copy the valid lanes.
          const __m256i mask =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 8 - left));
          if (t.accumulate) x = _mm256_add_ps(x, _mm256_maskload_ps(c + col, mask));
          if (t.bias != nullptr) x = _mm256_add_ps(x, _mm256_maskload_ps(t.bias + col, mask));
          if (t.relu) x = _mm256_max_ps(x, zero);
          alignas(32) float buf[8];
          _mm256_store_ps(buf, x);
          for (int64_t i = 0; i < left; ++i) c[col + i] = buf[i];
        }
      }
    }
  }
};

// Narrow layout on AVX2: dot products along K, eight lanes at a time, then
// one horizontal reduction per four outputs.
struct Avx2Narrow {
  // Sums of four vectors, one per lane.
  __attribute__((target("avx2,fma"), always_inline)) static inline __m128 Sum4(__m256 a, __m256 b,
                                                                               __m256 c, __m256 d) {
    const __m256 ab = _mm256_hadd_ps(a, b);
    const __m256 cd = _mm256_hadd_ps(c, d);
    const __m256 abcd = _mm256_hadd_ps(ab, cd);
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
  }

  template <int kRows, int kCols>
  __attribute__((target("avx2,fma"))) static void Run(const Tile& t) {
    constexpr int kAcc = kRows * kCols;
    constexpr int kPadded = (kAcc + 3) / 4 * 4;
    __m256 acc[kPadded];
#pragma GCC unroll 8
    for (int i = 0; i < kPadded; ++i) acc[i] = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 8 <= t.k; p += 8) {
      __m256 bv[kCols];
#pragma GCC unroll 4
      for (int j = 0; j < kCols; ++j) bv[j] = _mm256_loadu_ps(t.b + j * t.k + p);
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) {
        const __m256 av = _mm256_loadu_ps(t.a + r * t.lda + p);
#pragma GCC unroll 4
        for (int j = 0; j < kCols; ++j) {
          acc[r * kCols + j] = _mm256_fmadd_ps(av, bv[j], acc[r * kCols + j]);
        }
      }
    }
    alignas(16) float dots[kPadded];
#pragma GCC unroll 2
    for (int i = 0; i < kPadded; i += 4) {
      _mm_store_ps(dots + i, Sum4(acc[i], acc[i + 1], acc[i + 2], acc[i + 3]));
    }
    for (; p < t.k; ++p) {
      for (int r = 0; r < kRows; ++r) {
        const float av = t.a[r * t.lda + p];
        for (int j = 0; j < kCols; ++j) dots[r * kCols + j] += av * t.b[j * t.k + p];
      }
    }
    StoreTile(t, kRows, dots, kCols, kCols);
  }
};
#endif

template <class Impl, class Narrow>
constexpr KernelSet MakeKernelSet(const char* name) {
  KernelSet s{name, {}, {}, {}, {}};
  s.tiles[1][1] = &Impl::template Run<1, 2>;
  s.tiles[1][2] = &Impl::template Run<1, 4>;
  s.tiles[1][3] = &Impl::template Run<1, 6>;
  s.tiles[1][4] = &Impl::template Run<1, 8>;
  s.tiles[2][1] = &Impl::template Run<2, 2>;
  s.tiles[2][2] = &Impl::template Run<2, 4>;
  s.tiles[2][3] = &Impl::template Run<2, 6>;
  s.tiles[3][1] = &Impl::template Run<3, 2>;
  s.tiles[3][2] = &Impl::template Run<3, 4>;
  s.tiles[4][1] = &Impl::template Run<4, 2>;
  s.tiles[5][1] = &Impl::template Run<5, 2>;
  s.tiles[6][1] = &Impl::template Run<6, 2>;
  s.half[1] = &Impl::template Run<1, 1>;
  s.half[2] = &Impl::template Run<2, 1>;
  s.half[3] = &Impl::template Run<3, 1>;
  s.half[4] = &Impl::template Run<4, 1>;
  s.half[5] = &Impl::template Run<5, 1>;
  s.half[6] = &Impl::template Run<6, 1>;
  s.narrow_block[1] = &Narrow::template Run<NarrowRows(1), 1>;
  s.narrow_block[2] = &Narrow::template Run<NarrowRows(2), 2>;
  s.narrow_block[3] = &Narrow::template Run<NarrowRows(3), 3>;
  s.narrow_block[4] = &Narrow::template Run<NarrowRows(4), 4>;
  s.narrow_row[1] = &Narrow::template Run<1, 1>;
  s.narrow_row[2] = &Narrow::template Run<1, 2>;
  s.narrow_row[3] = &Narrow::template Run<1, 3>;
  s.narrow_row[4] = &Narrow::template Run<1, 4>;
  return s;
}

constexpr KernelSet kPortable = MakeKernelSet<PortableTiles, PortableNarrow>("portable");
#if RTML_GEMM_X86
constexpr KernelSet kAvx2 = MakeKernelSet<Avx2Tiles, Avx2Narrow>("avx2_fma");
#endif

bool HasAvx2Fma() {
#if RTML_GEMM_X86
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
#else
  return false;
#endif
}

const KernelSet& SelectKernels(GemmKernel choice) {
#if RTML_GEMM_X86
  if (choice != GemmKernel::kPortable && HasAvx2Fma()) return kAvx2;
#else
  (void)choice;
#endif
  return kPortable;
}

// k == 0: every dot product is zero, only the epilogue remains.
void EpilogueOnly(int64_t m, int64_t n, float* c, int64_t ldc, const GemmEpilogue& ep) {
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    for (int64_t j = 0; j < n; ++j) {
      float x = ep.accumulate ? row[j] : 0.0f;
      if (ep.bias != nullptr) x += ep.bias[j];
      if (ep.activation == GemmActivation::kRelu) x = x > 0.0f ? x : 0.0f;
      row[j] = x;
    }
  }
}

void GemmWith(const KernelSet& ks, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
              const float* b_packed, float* c, int64_t ldc, const GemmEpilogue& ep) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    EpilogueOnly(m, n, c, ldc, ep);
    return;
  }
  if (IsNarrow(n)) {
    Tile t{};
    t.lda = lda;
    t.ldc = ldc;
    t.b = b_packed;
    t.k = k;
    t.cols = n;
    t.alpha = ep.alpha;
    t.accumulate = ep.accumulate;
    t.bias = ep.bias;
    t.relu = ep.activation == GemmActivation::kRelu;
    const int block = NarrowRows(n);
    int64_t r0 = 0;
    for (; r0 + block <= m; r0 += block) {
      t.a = a + r0 * lda;
      t.c = c + r0 * ldc;
      ks.narrow_block[n](t);
    }
    for (; r0 < m; ++r0) {
      t.a = a + r0 * lda;
      t.c = c + r0 * ldc;
      ks.narrow_row[n](t);
    }
    return;
  }
  const int64_t panels = (n + kNr - 1) / kNr;
  const int64_t panel_stride = k * kNr;
  Tile t{};
  t.lda = lda;
  t.ldc = ldc;
  t.panel_stride = panel_stride;
  t.alpha = ep.alpha;
  for (int64_t k0 = 0; k0 < k; k0 += kDepthBlock) {
    const int64_t kc = std::min(kDepthBlock, k - k0);
    const bool last = k0 + kc == k;
    t.k = kc;
    t.accumulate = k0 == 0 ? ep.accumulate : true;
    t.relu = last && ep.activation == GemmActivation::kRelu;
    for (int64_t g0 = 0; g0 < panels; g0 += kPanelGroup) {
      const int64_t g1 = std::min(panels, g0 + kPanelGroup);
      for (int64_t r0 = 0; r0 < m; r0 += kMaxRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kMaxRows, m - r0));
        const int per_tile = PanelsFor(rows);
        for (int64_t p0 = g0; p0 < g1; p0 += per_tile) {
          const int np = static_cast<int>(std::min<int64_t>(per_tile, g1 - p0));
          const int64_t col0 = p0 * kNr;
          t.a = a + r0 * lda + k0;
          t.b = b_packed + p0 * panel_stride + k0 * kNr;
          t.c = c + r0 * ldc + col0;
          t.cols = std::min<int64_t>(n - col0, int64_t{np} * kNr);
          t.bias = (last && ep.bias != nullptr) ? ep.bias + col0 : nullptr;
          if (np == 1 && t.cols <= 8)
            ks.half[rows](t);
          else
            ks.tiles[rows][np](t);
        }
      }
    }
  }
}

}  // namespace

size_t PackedBSize(int64_t k, int64_t n) {
  if (k <= 0 || n <= 0) return 0;
  if (IsNarrow(n)) return static_cast<size_t>(n * k);
  return static_cast<size_t>((n + kNr - 1) / kNr) * kNr * static_cast<size_t>(k);
}

void PackB(const float* b, int64_t ldb, bool transposed, int64_t k, int64_t n, float* out) {
  if (k <= 0 || n <= 0) return;
  if (IsNarrow(n)) {  // B^T: row j holds column j of B
    for (int64_t j = 0; j < n; ++j) {
      float* dst = out + j * k;
      if (transposed) {
        std::memcpy(dst, b + j * ldb, static_cast<size_t>(k) * sizeof(float));
      } else {
        for (int64_t kk = 0; kk < k; ++kk) dst[kk] = b[kk * ldb + j];
      }
    }
    return;
  }
  const int64_t panels = (n + kNr - 1) / kNr;
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t c0 = p * kNr;
    const int64_t width = std::min<int64_t>(kNr, n - c0);
    float* dst = out + p * k * kNr;
    for (int64_t kk = 0; kk < k; ++kk, dst += kNr) {
      if (!transposed) {
        std::memcpy(dst, b + kk * ldb + c0, static_cast<size_t>(width) * sizeof(float));
      } else {
        for (int64_t j = 0; j < width; ++j) dst[j] = b[(c0 + j) * ldb + kk];
      }
      for (int64_t j = width; j < kNr; ++j) dst[j] = 0.0f;
    }
  }
}

void GemmPacked(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b_packed,
                float* c, int64_t ldc, const GemmEpilogue& epilogue) {
  GemmWith(SelectKernels(GemmKernel::kAuto), m, n, k, a, lda, b_packed, c, ldc, epilogue);
}

void GemmPackedWith(GemmKernel kernel, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                    const float* b_packed, float* c, int64_t ldc, const GemmEpilogue& epilogue) {
  GemmWith(SelectKernels(kernel), m, n, k, a, lda, b_packed, c, ldc, epilogue);
}

const char* GemmKernelName(GemmKernel kernel) { return SelectKernels(kernel).name; }

PackedB::PackedB(const float* b, int64_t ldb, bool transposed, int64_t k, int64_t n)
    : k_(k), n_(n) {
  constexpr size_t kAlignFloats = 64 / sizeof(float);
  storage_.resize(PackedBSize(k, n) + kAlignFloats);
  const auto addr = reinterpret_cast<uintptr_t>(storage_.data());
  offset_ = ((64 - addr % 64) % 64) / sizeof(float);
  PackB(b, ldb, transposed, k, n, storage_.data() + offset_);
}

}  // namespace rtml::engine::internal
