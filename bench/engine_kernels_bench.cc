// Google Benchmark of the float GEMM core (engine/internal/gemm.h) on the
// shapes of small MLP layers, for both micro-kernels, plus a reference
// triple loop so the speed-up is visible in the same run.
// Usage: rtml_engine_kernels_bench [google-benchmark flags]
// Counters: FLOP/s counts 2 * M * N * K per call.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "engine/internal/gemm.h"

namespace {

using rtml::engine::internal::GemmActivation;
using rtml::engine::internal::GemmEpilogue;
using rtml::engine::internal::GemmKernel;
using rtml::engine::internal::GemmPackedWith;
using rtml::engine::internal::PackedB;

struct Operands {
  std::vector<float> a, b, bias, c;
  PackedB packed;
  Operands(int64_t m, int64_t n, int64_t k)
      : a(static_cast<size_t>(m * k)),
        b(static_cast<size_t>(k * n)),
        bias(static_cast<size_t>(n)),
        c(static_cast<size_t>(m * n)) {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (float& v : a) v = u(rng);
    for (float& v : b) v = u(rng);
    for (float& v : bias) v = u(rng);
    packed = PackedB(b.data(), n, false, k, n);
  }
};

void SetFlops(benchmark::State& state, int64_t m, int64_t n, int64_t k) {
  state.counters["FLOP/s"] = benchmark::Counter(static_cast<double>(2 * m * n * k),
                                                benchmark::Counter::kIsIterationInvariantRate);
}

// Args: M, N, K. Bias + ReLU epilogue, as a fused MatMul+Add+Relu would use.
void BM_Gemm(benchmark::State& state, GemmKernel kernel) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  Operands op(m, n, k);
  GemmEpilogue ep;
  ep.bias = op.bias.data();
  ep.activation = GemmActivation::kRelu;
  for (auto _ : state) {
    GemmPackedWith(kernel, m, n, k, op.a.data(), k, op.packed.data(), op.c.data(), n, ep);
    benchmark::DoNotOptimize(op.c.data());
    benchmark::ClobberMemory();
  }
  SetFlops(state, m, n, k);
  state.SetLabel(rtml::engine::internal::GemmKernelName(kernel));
}

void BM_NaiveLoop(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  Operands op(m, n, k);
  for (auto _ : state) {
    for (int64_t i = 0; i < m; ++i) {
      float* row = op.c.data() + i * n;
      for (int64_t j = 0; j < n; ++j) row[j] = op.bias[static_cast<size_t>(j)];
      for (int64_t p = 0; p < k; ++p) {
        const float av = op.a[static_cast<size_t>(i * k + p)];
        const float* bp = op.b.data() + p * n;
        for (int64_t j = 0; j < n; ++j) row[j] += av * bp[j];
      }
      for (int64_t j = 0; j < n; ++j) row[j] = row[j] > 0.0f ? row[j] : 0.0f;
    }
    benchmark::DoNotOptimize(op.c.data());
    benchmark::ClobberMemory();
  }
  SetFlops(state, m, n, k);
}

void MlpShapes(benchmark::internal::Benchmark* b) {
  for (int64_t batch : {1, 64}) {
    b->Args({batch, 64, 32});  // 32 -> 64
    b->Args({batch, 32, 64});  // 64 -> 32
    b->Args({batch, 2, 32});   // 32 -> 2
  }
  b->Args({256, 256, 256});
  b->Args({37, 70, 513});  // odd sizes, two depth blocks
}

BENCHMARK_CAPTURE(BM_Gemm, auto, GemmKernel::kAuto) -> Apply(MlpShapes);
BENCHMARK_CAPTURE(BM_Gemm, portable, GemmKernel::kPortable)->Apply(MlpShapes);
BENCHMARK(BM_NaiveLoop)->Apply(MlpShapes);

}  // namespace

BENCHMARK_MAIN();
