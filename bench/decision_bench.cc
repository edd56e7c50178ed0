// Google Benchmark of the decision path, in process, with the real
// components: a Catalog and ServiceRegistry on a temporary data dir serving
// a pipeline service (5 nodes + a 100-tree depth-5 GBDT), ServiceScorer, and
// Delivery with its SQLite decision log.
//
//   BM_DecideModel/dry     an activity with 5 experiences scored by the GBDT
//                          service: parse, score 5 rows, pick, respond (no log)
//   BM_DecideModel/logged  the same, durable: every decision written to the
//                          log (group commit, synchronous=FULL) before it
//                          counts; up to 1024 in flight
//   BM_DecideBandit/dry    5 experiences scored by the activity's FTRL learner
//   BM_DecideSplit/dry     deterministic allocation only
//   BM_FeedbackToVisible   reward acknowledged -> weights published (ms)
//
// Target (issue 6): 50k decisions/s with 5 experiences scored by a model.
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_models.h"
#include "decision/delivery.h"
#include "serving/catalog.h"
#include "serving/service_registry.h"
#include "serving/service_scorer.h"

namespace {

namespace fs = std::filesystem;
using rtml::decision::Delivery;

constexpr int64_t kFeatures = 10;
constexpr int kRequests = 1024;

const char* const kPipeline = R"({
 "inputs": [{"name": "price", "type": "number"}, {"name": "discount", "type": "number"},
            {"name": "hour", "type": "number"}, {"name": "visits", "type": "number"},
            {"name": "c4", "type": "number"}, {"name": "c5", "type": "number"}, {"name": "c6", "type": "number"},
            {"name": "c7", "type": "number"}],
 "nodes": [
   {"id": "price_f", "op": "fillna", "inputs": ["price"], "params": {"value": 20}},
   {"id": "net", "op": "mul", "inputs": ["price_f", "discount"]},
   {"id": "visits_log", "op": "log1p", "inputs": ["visits"]},
   {"id": "x", "op": "concat", "inputs": ["price_f", "discount", "net", "hour", "visits_log", "c4", "c5", "c6", "c7", "visits"]},
   {"id": "m", "op": "onnx", "inputs": ["x"], "params": {"model": "gbdt", "version": 1, "output": "probabilities"}}],
 "outputs": {"p": "m"}})";

struct Fixture {
  std::string dir;
  std::unique_ptr<rtml::serving::Catalog> catalog;
  std::unique_ptr<rtml::serving::ServiceRegistry> registry;
  std::unique_ptr<rtml::serving::ServiceScorer> scorer;
  std::unique_ptr<Delivery> delivery;
  std::vector<std::string> model_requests, bandit_requests, split_requests;
  bool ok = false;
};

bool Check(const char* what, const rtml::Status& s) {
  if (!s.ok()) std::fprintf(stderr, "setup failed: %s: %s\n", what, s.ToString().c_str());
  return s.ok();
}

Fixture& Setup() {
  static Fixture* f = [] {
    auto* fx = new Fixture();
    fx->dir = (fs::temp_directory_path() / ("rtml-decision-bench-" + std::to_string(::getpid()))).string();
    fs::remove_all(fx->dir);
    fs::create_directories(fx->dir);
    auto catalog = rtml::serving::Catalog::Open(fx->dir);
    if (!Check("catalog", catalog.status())) return fx;
    fx->catalog = std::move(*catalog);
    rtml::serving::RegistryOptions ropts;
    fx->registry = std::make_unique<rtml::serving::ServiceRegistry>(fx->catalog.get(), ropts);
    const std::string model = rtml::bench::RandomGbdtClassifier(
        kFeatures, 100, 5, 11, [](int64_t feature, const auto& unit) { return 30.0f * unit() + 0.0f * feature; });
    if (!Check("upload", fx->registry->UploadModel("prod", "gbdt", model).status())) return fx;
    rtml::serving::DeploySpec spec;
    spec.pipeline_json = kPipeline;
    if (!Check("deploy", fx->registry->Deploy("prod", "propensity", spec, std::string("{\"pipeline\":") + kPipeline + "}")
                             .status())) {
      return fx;
    }
    fx->scorer = std::make_unique<rtml::serving::ServiceScorer>(fx->registry.get(), nullptr);
    rtml::decision::DeliveryOptions dopts;
    dopts.data_dir = fx->dir;
    auto delivery = Delivery::Open(dopts, nullptr, fx->scorer.get());
    if (!Check("delivery", delivery.status())) return fx;
    fx->delivery = std::move(*delivery);
    if (!Check("load", fx->delivery->Load())) return fx;
    std::string experiences = "[";
    for (int i = 0; i < 5; ++i) {
      experiences += (i ? "," : "") + std::string("{\"id\":\"sku") + std::to_string(i) +
                     "\",\"content\":{\"slot\":" + std::to_string(i) + "},\"features\":{\"price\":" +
                     std::to_string(10 + 7 * i) + ",\"discount\":" + std::to_string(0.05 * i) + "}}";
    }
    experiences += "]";
    bool created = false;
    for (auto [name, strategy] : {std::pair{"recs", R"({"type":"model","service":"propensity","output":"p"})"},
                                  std::pair{"bandit", R"({"type":"bandit","epsilon":0.05})"},
                                  std::pair{"split", R"({"type":"split","weights":[1,1,1,1,1]})"}}) {
      const std::string body = std::string("{\"experiences\":") + experiences + ",\"strategy\":" + strategy + "}";
      if (!Check("activity", fx->delivery->PutActivity("prod", name, body, &created).status())) return fx;
    }
    std::mt19937 rng(5);
    for (int i = 0; i < kRequests; ++i) {
      const std::string context = "{\"hour\":" + std::to_string(rng() % 24) + ",\"visits\":" +
                                  std::to_string(rng() % 30) + ",\"c4\":" + std::to_string(rng() % 100) +
                                  ",\"c5\":1,\"c6\":2,\"c7\":" + std::to_string(rng() % 7) + ",\"device\":\"" +
                                  (rng() % 2 ? "mobile" : "desktop") + "\"}";
      const std::string identity = "\"ECID:" + std::to_string(rng() % 100000) + "\"";
      for (auto [list, name] : {std::pair{&fx->model_requests, "recs"}, std::pair{&fx->bandit_requests, "bandit"},
                                std::pair{&fx->split_requests, "split"}}) {
        list->push_back(std::string("{\"activity\":\"") + name + "\",\"identity\":" + identity +
                        ",\"context\":" + context + "}");
      }
    }
    // Warm-up (thread caches, allocator, branch predictors), then a check
    // that the decision carries the service's scores.
    for (int i = 0; i < 4000; ++i) {
      (void)fx->delivery->DecideDryRun("prod", fx->model_requests[static_cast<size_t>(i) % kRequests]);
    }
    auto one = fx->delivery->DecideDryRun("prod", fx->model_requests[0]);
    if (!Check("decide", one.status())) return fx;
    fx->ok = one->find("\"scores\"") != std::string::npos;
    return fx;
  }();
  return *f;
}

void DryRun(benchmark::State& state, const std::vector<std::string> Fixture::*requests) {
  Fixture& f = Setup();
  if (!f.ok) return state.SkipWithError("setup failed");
  const auto& reqs = f.*requests;
  size_t i = static_cast<size_t>(state.thread_index()) * 97;
  for (auto _ : state) {
    auto r = f.delivery->DecideDryRun("prod", reqs[i % reqs.size()]);
    if (!r.ok()) return state.SkipWithError(r.status().ToString().c_str());
    benchmark::DoNotOptimize(r->data());
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_DecideModel_dry(benchmark::State& state) { DryRun(state, &Fixture::model_requests); }
void BM_DecideBandit_dry(benchmark::State& state) { DryRun(state, &Fixture::bandit_requests); }
void BM_DecideSplit_dry(benchmark::State& state) { DryRun(state, &Fixture::split_requests); }
BENCHMARK(BM_DecideModel_dry)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_DecideBandit_dry)->Threads(1)->UseRealTime();
BENCHMARK(BM_DecideSplit_dry)->Threads(1)->UseRealTime();

// Durable decisions: issue asynchronously with a bounded window; an
// iteration ends when its decision is committed.
void BM_DecideModel_logged(benchmark::State& state) {
  Fixture& f = Setup();
  if (!f.ok) return state.SkipWithError("setup failed");
  constexpr int kWindow = 1024;
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  std::atomic<int> failed{0};
  size_t i = 0;
  for (auto _ : state) {
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight < kWindow; });
      ++in_flight;
    }
    f.delivery->Decide("prod", f.model_requests[i++ % f.model_requests.size()],
                       [&](rtml::StatusOr<std::string> r) {
                         if (!r.ok()) failed.fetch_add(1);
                         std::lock_guard<std::mutex> lock(mu);
                         --in_flight;
                         cv.notify_all();
                       });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return in_flight == 0; });
  if (failed.load() > 0) state.SkipWithError("a logged decision failed");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecideModel_logged)->UseRealTime()->MinTime(2.0);

// Feedback acknowledged (durable, learner updated) -> the new weights are
// visible to decisions. Reported in milliseconds per iteration.
void BM_FeedbackToVisible(benchmark::State& state) {
  Fixture& f = Setup();
  if (!f.ok) return state.SkipWithError("setup failed");
  size_t i = 0;
  for (auto _ : state) {
    auto d = f.delivery->DecideAndWait("prod", f.bandit_requests[i++ % f.bandit_requests.size()]);
    if (!d.ok()) return state.SkipWithError(d.status().ToString().c_str());
    const size_t at = d->find("\"decisionId\":\"") + 14;
    const std::string id = d->substr(at, d->find('"', at) - at);
    auto before = f.delivery->LearnerJson("prod", "bandit");
    auto fb = f.delivery->FeedbackAndWait("prod", "{\"decisionId\":\"" + id + "\",\"reward\":1}");
    if (!fb.ok()) return state.SkipWithError(fb.status().ToString().c_str());
    const auto t0 = std::chrono::steady_clock::now();
    // Visible when published_version catches up with updates.
    while (true) {
      auto j = f.delivery->LearnerJson("prod", "bandit");
      const auto u = j->find("\"updates\":"), p = j->find("\"published_version\":");
      if (std::stoull(j->substr(p + 20)) >= std::stoull(j->substr(u + 10))) break;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    benchmark::DoNotOptimize(before);
  }
}
BENCHMARK(BM_FeedbackToVisible)->UseManualTime()->Iterations(100)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  Fixture& f = Setup();
  f.delivery.reset();
  std::error_code ec;
  fs::remove_all(f.dir, ec);
  return 0;
}
