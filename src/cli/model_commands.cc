// `rtml run`, `rtml bench`, `rtml ops`.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <vector>

#include "cli/commands.h"
#include "common/json_writer.h"
#include "engine/internal/registry.h"
#include "engine/model.h"
#include "serving/kserve_codec.h"

namespace rtml::cli {
namespace {

StatusOr<std::string> ReadFile(const std::string& path) {
  if (path == "-") {
    std::string s((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return s;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot open '" + path + "'");
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

int Fail(const Status& s) {
  std::fprintf(stderr, "rtml: %s\n", s.message().c_str());
  return 1;
}

// A loaded model plus the request, bound to the model's inputs in order.
struct Prepared {
  std::unique_ptr<engine::Model> model;
  serving::InferRequest request;
  std::vector<const engine::Tensor*> inputs;
  std::vector<int> outputs;  // indices of outputs to print
};

StatusOr<std::unique_ptr<Prepared>> Prepare(const std::string& model_path, const std::string& request_path) {
  auto p = std::make_unique<Prepared>();
  ASSIGN_OR_RETURN(p->model, engine::Model::LoadFile(model_path));
  ASSIGN_OR_RETURN(std::string body, ReadFile(request_path));
  serving::KServeParser parser;
  RETURN_IF_ERROR(parser.Parse(&body, &p->request));
  const engine::Model& m = *p->model;
  p->inputs.assign(m.inputs().size(), nullptr);
  for (auto& in : p->request.active_inputs()) {
    const int idx = m.InputIndex(in.name);
    if (idx < 0) return InvalidArgumentError("the model has no input named '" + in.name + "'");
    p->inputs[static_cast<size_t>(idx)] = &in.tensor;
  }
  for (size_t i = 0; i < p->inputs.size(); ++i) {
    if (p->inputs[i] == nullptr) {
      return InvalidArgumentError("the request lacks input '" + m.inputs()[i].name + "'");
    }
  }
  if (p->request.num_outputs == 0) {
    for (size_t i = 0; i < m.outputs().size(); ++i) p->outputs.push_back(static_cast<int>(i));
  } else {
    for (const auto& name : p->request.requested_outputs()) {
      const int idx = m.OutputIndex(name);
      if (idx < 0) return InvalidArgumentError("the model has no output named '" + name + "'");
      p->outputs.push_back(idx);
    }
  }
  return p;
}

}  // namespace

int RunCommand(const RunOptions& o) {
  auto prepared = Prepare(o.model, o.request);
  if (!prepared.ok()) return Fail(prepared.status());
  Prepared& p = **prepared;
  auto ctx = p.model->NewContext();
  Status st = p.model->Run(*ctx, p.inputs);
  if (!st.ok()) return Fail(st);
  std::vector<serving::OutputRef> outs;
  for (int i : p.outputs) {
    outs.push_back({p.model->outputs()[static_cast<size_t>(i)].name, &ctx->output(i)});
  }
  std::string body;
  serving::WriteInferResponse(p.model->name(), "", &p.request, outs, &body);
  body.push_back('\n');
  std::fwrite(body.data(), 1, body.size(), stdout);
  return 0;
}

int BenchCommand(const BenchOptions& o) {
  auto prepared = Prepare(o.model, o.request);
  if (!prepared.ok()) return Fail(prepared.status());
  Prepared& p = **prepared;
  auto ctx = p.model->NewContext();
  using Clock = std::chrono::steady_clock;
  // Warm up: first calls size the context's buffers.
  const auto warm_end = Clock::now() + std::chrono::milliseconds(200);
  while (Clock::now() < warm_end) {
    Status st = p.model->Run(*ctx, p.inputs);
    if (!st.ok()) return Fail(st);
  }
  // Exact nanosecond histogram up to 1 ms; slower calls are kept verbatim.
  constexpr int64_t kBuckets = 1'000'000;
  std::vector<uint32_t> hist(kBuckets, 0);
  std::vector<int64_t> slow;
  int64_t iterations = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  auto now = start;
  while (now < end) {
    const auto t0 = Clock::now();
    Status st = p.model->Run(*ctx, p.inputs);
    now = Clock::now();
    if (!st.ok()) return Fail(st);
    const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - t0).count();
    if (ns < kBuckets) ++hist[static_cast<size_t>(ns)];
    else slow.push_back(ns);
    ++iterations;
  }
  const double elapsed = std::chrono::duration<double>(now - start).count();
  std::sort(slow.begin(), slow.end());
  auto quantile = [&](double q) -> int64_t {
    const int64_t rank = static_cast<int64_t>(q * static_cast<double>(iterations - 1));
    int64_t seen = 0;
    for (int64_t ns = 0; ns < kBuckets; ++ns) {
      seen += hist[static_cast<size_t>(ns)];
      if (seen > rank) return ns;
    }
    const int64_t idx = rank - seen;
    return slow.empty() ? kBuckets : slow[static_cast<size_t>(std::min<int64_t>(idx, static_cast<int64_t>(slow.size()) - 1))];
  };
  int64_t batch = 1;
  if (!p.inputs.empty() && p.inputs[0]->rank() > 0) batch = p.inputs[0]->shape()[0];
  std::string line;
  JsonWriter w(&line);
  w.BeginObject();
  w.Key("model");
  const auto slash = o.model.find_last_of('/');
  w.String(slash == std::string::npos ? o.model : o.model.substr(slash + 1));
  w.Key("runtime");
  w.String("rtml " + std::string(kVersion));
  w.Key("batch");
  w.Int(batch);
  w.Key("iterations");
  w.Int(iterations);
  w.Key("per_call_ns_p50");
  w.Int(quantile(0.50));
  w.Key("per_call_ns_p99");
  w.Int(quantile(0.99));
  w.Key("calls_per_s");
  w.Double(std::round(static_cast<double>(iterations) / elapsed * 10) / 10);
  w.EndObject();
  std::printf("%s\n", line.c_str());
  return 0;
}

int OpsCommand() {
  for (const auto& name : engine::internal::KernelRegistry::Global().OperatorNames()) {
    std::printf("%s\n", name.c_str());
  }
  return 0;
}

}  // namespace rtml::cli
