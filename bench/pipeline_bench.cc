// Google Benchmark of the pipeline: the brief's 10-node pipeline (fillna,
// lower, top_k, one_hot, days_since, profile, concat, onnx, select,
// threshold) feeding a 100-tree depth-5 gradient-boosted classifier
// (TreeEnsembleClassifier, LOGISTIC, built with the ONNX protobuf API), with
// a live data::ProfileStore behind the profile node.
//
//   BM_PipelineRow       one request in row mode: set 3 inputs + identity, Run, read outputs
//   BM_ModelOnlyRow      the same GBDT alone, batch 1 (reference, same run)
//   BM_PipelineColumnar  RunColumns over 4096 rows (items = rows)
//
// Target (issue 5): under 5 us per row in-process. Inputs cycle through 256
// prepared rows so no result is constant.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <simdjson.h>

#include "bench_models.h"
#include "data/profiles.h"
#include "engine/model.h"
#include "pipeline/pipeline.h"
#include "pipeline/profile_store_source.h"

namespace {

using rtml::Column;
using rtml::Table;
using rtml::pipeline::Pipeline;

constexpr int64_t kNow = 1'704'067'200'000;  // 2024-01-01T00:00:00Z
constexpr int64_t kDay = 86'400'000;
constexpr int64_t kFeatures = 10;            // price + 6 one-hot + recency + 2 attributes
constexpr int kTrees = 100;
constexpr int kDepth = 5;
constexpr int kRows = 256;
const char* const kDevices[] = {"Mobile", "desktop", "TABLET", "tv", "Watch", "console", "car", "fridge"};

// A random full binary tree ensemble: 100 trees of depth 5 (31 splits, 32 leaves each),
// thresholds in each feature's range: price ~ log scale, one-hot 0.5, recency days, attributes.
std::string GbdtModel() {
  return rtml::bench::RandomGbdtClassifier(kFeatures, kTrees, kDepth, 7, [](int64_t f, const auto& unit) {
    if (f == 0) return 5.0f + 60.0f * unit();
    if (f <= 6) return 0.5f;
    if (f == 7) return 30.0f * unit();
    return 10.0f * unit();
  });
}

const char* const kPipeline = R"({
 "inputs": [{"name": "device", "type": "string"}, {"name": "price", "type": "number"},
            {"name": "last_visit", "type": "timestamp"}],
 "nodes": [
   {"id": "price_f", "op": "fillna", "inputs": ["price"], "params": {"strategy": "mean"}},
   {"id": "dev", "op": "lower", "inputs": ["device"]},
   {"id": "dev_top", "op": "top_k", "inputs": ["dev"], "params": {"k": 5}},
   {"id": "dev_oh", "op": "one_hot", "inputs": ["dev_top"]},
   {"id": "recency", "op": "days_since", "inputs": ["last_visit"]},
   {"id": "prof", "op": "profile", "params": {"attributes": ["purchases_7d", "spend_24h"]}},
   {"id": "x", "op": "concat", "inputs": ["price_f", "dev_oh", "recency", "prof"]},
   {"id": "m", "op": "onnx", "inputs": ["x"], "params": {"model": "churn", "version": 3, "output": "probabilities"}},
   {"id": "p", "op": "select", "inputs": ["m"], "params": {"index": 1}},
   {"id": "label", "op": "threshold", "inputs": ["p"], "params": {"value": 0.5}}],
 "outputs": {"probability": "p", "label": "label"}})";

class OneModel final : public rtml::pipeline::ModelResolver {
 public:
  explicit OneModel(std::shared_ptr<const rtml::engine::Model> m) : model_(std::move(m)) {}
  rtml::StatusOr<std::shared_ptr<const rtml::engine::Model>> Resolve(std::string_view name,
                                                                     int64_t version) const override {
    if (name == "churn" && version == 3) return model_;
    return rtml::NotFoundError("no model");
  }

 private:
  std::shared_ptr<const rtml::engine::Model> model_;
};

struct Fixture {
  std::shared_ptr<const rtml::engine::Model> model;
  std::unique_ptr<rtml::data::ProfileStore> store;
  std::unique_ptr<rtml::pipeline::ProfileStoreSource> profiles;
  std::shared_ptr<const Pipeline> pipeline;
  Table rows;      // kRows request rows
  Column ids;      // their identities
  bool ok = false;
};

void Fail(const char* what, const rtml::Status& s) {
  std::fprintf(stderr, "setup failed: %s: %s\n", what, s.ToString().c_str());
}

Fixture& Setup() {
  static Fixture* f = [] {
    auto* fx = new Fixture();
    auto model = rtml::engine::Model::Load(GbdtModel());
    if (!model.ok()) return Fail("model", model.status()), fx;
    fx->model = std::shared_ptr<const rtml::engine::Model>(std::move(*model));

    // Profiles: 1000 persons with 0-20 purchase events in the last week.
    rtml::data::ProfileStoreOptions options;
    options.clock = [] { return kNow; };
    fx->store = std::make_unique<rtml::data::ProfileStore>(options);
    for (auto [name, body] : {std::pair{"purchases_7d", R"({"dataset": "ev", "eventType": "purchase", "function": "count", "window": "7d"})"},
                              std::pair{"spend_24h", R"({"dataset": "ev", "eventType": "purchase", "function": "sum", "field": "price", "window": "24h"})"}}) {
      auto def = rtml::data::ParseComputedAttribute(name, body);
      if (!def.ok()) return Fail("attribute", def.status()), fx;
      if (auto st = fx->store->SetComputedAttribute(*def); !st.ok()) return Fail("attribute", st), fx;
    }
    std::mt19937 rng(11);
    simdjson::dom::parser parser;
    for (int p = 0; p < 1000; ++p) {
      const std::vector<std::string> identity = {"crm:" + std::to_string(p)};
      for (int e = 0; e < static_cast<int>(rng() % 21); ++e) {
        simdjson::padded_string json("{\"price\": " + std::to_string(5 + rng() % 200) + "}");
        simdjson::dom::element rec;
        if (parser.parse(json).get(rec) != simdjson::SUCCESS) return fx;
        const int64_t ts = kNow - static_cast<int64_t>(rng() % (7 * kDay));
        fx->store->ApplyEvent({"ev", "e", ts, "purchase", identity, rec});
      }
    }
    fx->profiles = std::make_unique<rtml::pipeline::ProfileStoreSource>(fx->store.get());

    // Training data for the fitted nodes, then the request rows.
    auto make_rows = [&](int n, Table* t, Column* ids) {
      std::vector<std::string> dev, id;
      std::vector<double> price, visit;
      for (int i = 0; i < n; ++i) {
        dev.push_back(kDevices[rng() % 8]);
        price.push_back(rng() % 10 == 0 ? NAN : 5.0 + static_cast<double>(rng() % 20000) / 100);
        visit.push_back(static_cast<double>(kNow - static_cast<int64_t>(rng() % (60 * kDay))));
        id.push_back("crm:" + std::to_string(rng() % 1200));  // some unknown persons
      }
      (void)t->Add(Column::Strings("device", dev));
      (void)t->Add(Column::Numbers("price", price));
      (void)t->Add(Column::Numbers("last_visit", visit));
      *ids = Column::Strings("identity", id);
    };
    Table train;
    Column train_ids;
    make_rows(20'000, &train, &train_ids);
    make_rows(kRows, &fx->rows, &fx->ids);

    OneModel models(fx->model);
    auto unfitted = Pipeline::Compile(kPipeline, models);
    if (!unfitted.ok()) return Fail("compile", unfitted.status()), fx;
    auto fitted = (*unfitted)->Fit(train, kNow, fx->profiles.get(), &train_ids);
    if (!fitted.ok()) return Fail("fit", fitted.status()), fx;
    auto p = Pipeline::Compile(*fitted, models);
    if (!p.ok()) return Fail("compile fitted", p.status()), fx;
    fx->pipeline = *p;
    // Row mode and columnar mode must agree bit for bit on this model too.
    auto cols = fx->pipeline->RunColumns(fx->rows, kNow, fx->profiles.get(), &fx->ids);
    if (!cols.ok()) return Fail("columnar", cols.status()), fx;
    auto ctx = fx->pipeline->NewRowContext();
    for (size_t r = 0; r < kRows; ++r) {
      (void)ctx->SetString(0, fx->rows.Find("device")->strings[r]);
      ctx->SetNumber(1, fx->rows.Find("price")->numbers[r]);
      ctx->SetNumber(2, fx->rows.Find("last_visit")->numbers[r]);
      ctx->SetIdentity(fx->ids.strings[r]);
      if (auto st = ctx->Run(kNow, fx->profiles.get()); !st.ok()) return Fail("row", st), fx;
      if (ctx->output_number(0) != cols->columns()[0].numbers[r]) {
        std::fprintf(stderr, "row %zu: row mode %.17g != columnar %.17g\n", r, ctx->output_number(0),
                     cols->columns()[0].numbers[r]);
        return fx;
      }
    }
    fx->ok = true;
    return fx;
  }();
  return *f;
}

void BM_PipelineRow(benchmark::State& state) {
  Fixture& f = Setup();
  if (!f.ok) return state.SkipWithError("setup failed");
  auto ctx = f.pipeline->NewRowContext();
  const Column& dev = *f.rows.Find("device");
  const Column& price = *f.rows.Find("price");
  const Column& visit = *f.rows.Find("last_visit");
  size_t i = 0;
  double positives = 0;
  for (auto _ : state) {
    ctx->SetString(0, dev.strings[i]).IgnoreError();
    ctx->SetNumber(1, price.numbers[i]);
    ctx->SetNumber(2, visit.numbers[i]);
    ctx->SetIdentity(f.ids.strings[i]);
    if (!ctx->Run(kNow, f.profiles.get()).ok()) return state.SkipWithError("run failed");
    positives += ctx->output_number(1);
    benchmark::DoNotOptimize(ctx->output_number(0));
    i = (i + 1) % kRows;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["positive_rate"] = positives / static_cast<double>(state.iterations());
}
BENCHMARK(BM_PipelineRow);

void BM_ModelOnlyRow(benchmark::State& state) {
  Fixture& f = Setup();
  if (!f.ok) return state.SkipWithError("setup failed");
  int64_t width = 0;
  auto features = f.pipeline->FeatureMatrix(f.rows, kNow, "", &width, f.profiles.get(), &f.ids);
  if (!features.ok()) return state.SkipWithError("features failed");
  std::vector<float> x(features->begin(), features->end());
  auto ctx = f.model->NewContext();
  size_t i = 0;
  for (auto _ : state) {
    auto t = rtml::engine::Tensor::Borrow(rtml::engine::DataType::kFloat, rtml::engine::Shape{1, width},
                                          x.data() + i * static_cast<size_t>(width));
    const rtml::engine::Tensor* in[] = {&t};
    if (!f.model->Run(*ctx, in).ok()) return state.SkipWithError("run failed");
    benchmark::DoNotOptimize(ctx->output(1).raw_data());
    i = (i + 1) % kRows;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ModelOnlyRow);

void BM_PipelineColumnar(benchmark::State& state) {
  Fixture& f = Setup();
  if (!f.ok) return state.SkipWithError("setup failed");
  // 4096 rows: the request rows repeated.
  Table big;
  std::vector<std::string> dev, id;
  std::vector<double> price, visit;
  for (int r = 0; r < 4096; ++r) {
    const size_t k = static_cast<size_t>(r % kRows);
    dev.push_back(f.rows.Find("device")->strings[k]);
    price.push_back(f.rows.Find("price")->numbers[k]);
    visit.push_back(f.rows.Find("last_visit")->numbers[k]);
    id.push_back(f.ids.strings[k]);
  }
  (void)big.Add(Column::Strings("device", dev));
  (void)big.Add(Column::Numbers("price", price));
  (void)big.Add(Column::Numbers("last_visit", visit));
  const Column ids = Column::Strings("identity", id);
  for (auto _ : state) {
    auto out = f.pipeline->RunColumns(big, kNow, f.profiles.get(), &ids);
    if (!out.ok()) return state.SkipWithError("run failed");
    benchmark::DoNotOptimize(out->columns()[0].numbers.data());
  }
  state.SetItemsProcessed(state.iterations() * 4096);
}
BENCHMARK(BM_PipelineColumnar);

}  // namespace

BENCHMARK_MAIN();
