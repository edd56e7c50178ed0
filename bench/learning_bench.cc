// Micro-benchmarks of the learning component: FTRL Update and Predict on
// 30 hashed features, Publish at 2^20 coordinates (about 1,000 dirty
// coordinates, a full table, and with a reader pinning the retired
// snapshot), feature hashing, and exploration over 5 arms.
// Publish benchmarks use manual timing: only Publish itself is measured, the
// updates that dirty the table run untimed between iterations.
#include <benchmark/benchmark.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "learning/learning.h"

namespace rtml::learning {
namespace {

constexpr int kFeatures = 30;
constexpr int kPool = 16384;

// Examples of 30 features (10 numeric, 20 one-hot) whose indices are drawn
// from [0, 2^bits): bits = 20 spreads them over the whole table (a cold,
// worst-case working set); bits = 12 keeps them in cache, as a single
// activity's features and arms do.
std::vector<std::vector<HashedFeature>> ExamplePool(int bits, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<uint32_t> index(0, (1u << bits) - 1);
  std::uniform_real_distribution<float> value(-2, 2);
  std::vector<std::vector<HashedFeature>> pool(kPool);
  for (auto& x : pool) {
    for (int k = 0; k < kFeatures; ++k) x.push_back({index(rng), k < 10 ? value(rng) : 1.0f});
  }
  return pool;
}

void BM_FtrlUpdate(benchmark::State& state) {
  FtrlLearner learner(FtrlOptions{});
  const auto pool = ExamplePool(static_cast<int>(state.range(0)), 1);
  size_t i = 0;
  for (auto _ : state) {
    const auto& x = pool[i % kPool];
    Status s = learner.Update(x, (i & 3) == 0 ? 1.0 : 0.0);
    benchmark::DoNotOptimize(s);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FtrlUpdate)->ArgName("index_bits")->Arg(20)->Arg(12);

void BM_FtrlPredict(benchmark::State& state) {
  FtrlLearner learner(FtrlOptions{});
  const auto pool = ExamplePool(static_cast<int>(state.range(0)), 2);
  for (int t = 0; t < 20000; ++t)
    learner.Update(pool[static_cast<size_t>(t) % kPool], t % 3 == 0).IgnoreError();
  learner.Publish();
  const auto weights = learner.Current();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(weights->Predict(pool[i % kPool]));
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FtrlPredict)->ArgName("index_bits")->Arg(20)->Arg(12);

// Hashing one request's features: 10 numeric, 20 categorical, the bias,
// then the same crossed with one arm (the per-arm model).
void BM_HashFeaturesAndCross(benchmark::State& state) {
  const FeatureHasher hasher(20);
  std::vector<std::string> names, values;
  for (int k = 0; k < 20; ++k) {
    names.push_back("field_" + std::to_string(k));
    values.push_back("value_" + std::to_string(k * 37));
  }
  std::vector<HashedFeature> base, crossed;
  base.reserve(64);
  crossed.reserve(64);
  for (auto _ : state) {
    base.clear();
    crossed.clear();
    hasher.Bias(base);
    for (size_t k = 0; k < 10; ++k) hasher.Numeric(names[k], static_cast<double>(k) * 0.5, base);
    for (size_t k = 0; k < 20; ++k) hasher.Categorical(names[k], values[k], base);
    hasher.CrossWithArm("offer-42", base, crossed);
    benchmark::DoNotOptimize(crossed.data());
  }
}
BENCHMARK(BM_HashFeaturesAndCross);

// Publish after `updates_per_publish` updates of 30 features; optionally a
// reader keeps the snapshot before last alive, so Publish cannot reuse it
// and must allocate and copy the whole table.
void RunPublish(benchmark::State& state, int updates_per_publish, bool pin_previous) {
  FtrlLearner learner(FtrlOptions{});
  const auto pool = ExamplePool(20, 3);
  size_t i = 0;
  size_t dirty_examples = 0;
  std::shared_ptr<const FtrlWeights> pinned, pinned_before;
  for (auto _ : state) {
    for (int u = 0; u < updates_per_publish; ++u, ++i) {
      learner.Update(pool[i % kPool], (i & 1) != 0).IgnoreError();
    }
    dirty_examples += static_cast<size_t>(updates_per_publish);
    if (pin_previous) {  // hold the current and the retired snapshot
      pinned_before = std::move(pinned);
      pinned = learner.Current();
    }
    const auto start = std::chrono::steady_clock::now();
    learner.Publish();
    const auto end = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(end - start).count());
  }
  benchmark::DoNotOptimize(learner.Current()->version());
  state.counters["dirty_coords_per_publish"] = static_cast<double>(updates_per_publish) * kFeatures;
}

// About 1,000 dirty coordinates (34 updates x 30 features), readers gone.
void BM_FtrlPublish1000Dirty(benchmark::State& state) { RunPublish(state, 34, false); }
BENCHMARK(BM_FtrlPublish1000Dirty)->UseManualTime()->Unit(benchmark::kMicrosecond);

// Same delta while a reader still holds the snapshot before last.
void BM_FtrlPublish1000DirtyPinned(benchmark::State& state) { RunPublish(state, 34, true); }
BENCHMARK(BM_FtrlPublish1000DirtyPinned)->UseManualTime()->Unit(benchmark::kMicrosecond);

// More than 1/8 of the 2^20 table dirty: Publish copies every weight.
void BM_FtrlPublishAllDirty(benchmark::State& state) { RunPublish(state, 5000, false); }
BENCHMARK(BM_FtrlPublishAllDirty)->UseManualTime()->Unit(benchmark::kMicrosecond)->Iterations(200);

void BM_ActionProbabilities5(benchmark::State& state) {
  const std::vector<double> scores = {0.12, 0.4, 0.33, 0.05, 0.39};
  std::vector<double> p(5);
  const ExploreOptions options{ExploreKind::kSoftmax, 0.1, 0.1};
  double u = 0.13;
  for (auto _ : state) {
    ActionProbabilities(scores, options, p);
    benchmark::DoNotOptimize(SampleAction(p, u));
    u = u > 0.9 ? 0.01 : u + 0.07;
  }
}
BENCHMARK(BM_ActionProbabilities5);

}  // namespace
}  // namespace rtml::learning

BENCHMARK_MAIN();
