// Training throughput: rows/s of a whole Train call (split, DMatrix build,
// boosting, validation predictions, ONNX export and its self-check) on
// 100,000 rows x 20 features. Early stopping is off so every run boosts the
// full 100 rounds. items_per_second = input rows / wall time.
//
//   rtml_training_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "training/trainer.h"

namespace rtml::training {
namespace {

constexpr int64_t kRows = 100'000;
constexpr int64_t kWidth = 20;

struct BenchData {
  std::vector<double> X;
  std::vector<double> y;
  std::vector<std::string> names;
};

// Logistic ground truth over the first 6 features; 2% of values missing.
const BenchData& Data() {
  static const BenchData data = [] {
    BenchData d;
    std::mt19937_64 rng(2024);
    std::normal_distribution<double> normal;
    std::uniform_real_distribution<double> uniform;
    for (int64_t j = 0; j < kWidth; ++j) d.names.push_back("x" + std::to_string(j));
    std::vector<double> x(kWidth);
    for (int64_t r = 0; r < kRows; ++r) {
      for (auto& v : x) v = normal(rng);
      const double z = 1.2 * x[0] - x[1] + 0.6 * x[2] + 0.8 * x[3] * x[4] - 0.5 * std::abs(x[5]);
      d.y.push_back(uniform(rng) < 1.0 / (1.0 + std::exp(-z)) ? 1.0 : 0.0);
      for (auto v : x) d.X.push_back(uniform(rng) < 0.02 ? std::nan("") : v);
    }
    return d;
  }();
  return data;
}

void RunTraining(benchmark::State& state, Algorithm algorithm, std::map<std::string, std::string> params) {
  const BenchData& d = Data();
  TrainOptions options;
  options.algorithm = algorithm;
  options.params = std::move(params);
  options.params["num_round"] = "100";
  options.params["early_stopping_rounds"] = "0";
  options.threads = static_cast<int>(state.range(0));
  double auc = 0;
  for (auto _ : state) {
    auto result = Train(d.X, kWidth, d.y, d.names, options, nullptr, nullptr);
    if (!result.ok()) {
      state.SkipWithError(result.status().ToString().c_str());
      return;
    }
    auc = result->metrics.auc;
    benchmark::DoNotOptimize(result->onnx.data());
  }
  state.SetItemsProcessed(state.iterations() * kRows);
  state.counters["validation_auc"] = auc;
}

void BM_TrainGbdt(benchmark::State& state) {
  RunTraining(state, Algorithm::kGbdt, {{"max_depth", "5"}, {"eta", "0.1"}});
}
BENCHMARK(BM_TrainGbdt)->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

void BM_TrainLogistic(benchmark::State& state) {
  RunTraining(state, Algorithm::kLogistic, {});
}
BENCHMARK(BM_TrainLogistic)->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

}  // namespace
}  // namespace rtml::training

BENCHMARK_MAIN();
