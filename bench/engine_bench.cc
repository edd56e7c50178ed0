// Google Benchmark of the engine on the generated converter-style models.
// Usage: rtml_engine_bench --models DIR [google-benchmark flags]
// Registers BM_Run/<model>/<batch> for every DIR/<model>.b1.json and
// .b64.json request, timing Model::Run alone (inputs pre-parsed).
#include <benchmark/benchmark.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/model.h"
#include "serving/kserve_codec.h"

namespace {

struct Case {
  std::unique_ptr<rtml::engine::Model> model;
  rtml::serving::InferRequest request;
  std::vector<const rtml::engine::Tensor*> inputs;
};

std::vector<std::unique_ptr<Case>>& Cases() {
  static std::vector<std::unique_ptr<Case>> cases;
  return cases;
}

void BM_Run(benchmark::State& state, Case* c) {
  auto ctx = c->model->NewContext();
  if (!c->model->Run(*ctx, c->inputs).ok()) {
    state.SkipWithError("run failed");
    return;
  }
  for (auto _ : state) {
    rtml::Status s = c->model->Run(*ctx, c->inputs);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(ctx->output(0).raw_data());
  }
  const int64_t batch = c->inputs[0]->rank() > 0 ? c->inputs[0]->shape()[0] : 1;
  state.SetItemsProcessed(state.iterations() * batch);
}

bool AddCase(const std::filesystem::path& model_path, const std::filesystem::path& request_path,
             const std::string& label) {
  auto c = std::make_unique<Case>();
  auto m = rtml::engine::Model::LoadFile(model_path.string());
  if (!m.ok()) {
    std::fprintf(stderr, "skip %s: %s\n", label.c_str(), m.status().message().c_str());
    return false;
  }
  c->model = std::move(*m);
  std::ifstream in(request_path);
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string body = buf.str();
  rtml::serving::KServeParser parser;
  if (!parser.Parse(&body, &c->request).ok()) return false;
  c->inputs.assign(c->model->inputs().size(), nullptr);
  for (auto& input : c->request.active_inputs()) {
    const int idx = c->model->InputIndex(input.name);
    if (idx < 0) return false;
    c->inputs[static_cast<size_t>(idx)] = &input.tensor;
  }
  benchmark::RegisterBenchmark(("BM_Run/" + label).c_str(), BM_Run, c.get());
  Cases().push_back(std::move(c));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--models") == 0 && i + 1 < argc) {
      dir = argv[++i];
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr, "usage: %s --models DIR [benchmark flags]\n", argv[0]);
    return 2;
  }
  std::vector<std::filesystem::path> models;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".onnx") models.push_back(e.path());
  std::sort(models.begin(), models.end());
  for (const auto& m : models) {
    const std::string stem = m.stem().string();
    for (const char* b : {"b1", "b64"}) {
      auto req = m.parent_path() / (stem + "." + b + ".json");
      if (std::filesystem::exists(req)) AddCase(m, req, stem + "/" + (b + 1));
    }
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
