// Inference routes: KServe v2 (metadata, ready, infer) and row-form predict.
// They run on the event loop with per-thread state and take no lock.
#include <chrono>

#include "common/json_writer.h"
#include "server/api_server.h"
#include "server/api_state.h"
#include "serving/row_codec.h"

namespace rtml::server {

namespace {

using Clock = std::chrono::steady_clock;

int64_t Nanos(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
}

// FNV-1a 64: deterministic traffic routing by request id or identity.
uint64_t RouteHash(std::string_view s) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64 offset basis
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  return h;
}

StatusOr<int64_t> ParseRevision(std::string_view s) {
  int64_t v = 0;
  if (s.empty() || s.size() > 18) return InvalidArgumentError("revision must be a positive integer");
  for (char c : s) {
    if (c < '0' || c > '9') return InvalidArgumentError("revision must be a positive integer, got '" + std::string(s) + "'");
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

const serving::Revision* ApiServer::ResolveRevision(Request& req, Response& resp, ThreadState& ts,
                                                    const serving::Service** service, std::string_view version_param,
                                                    uint64_t route_hash) {
  const auto& snap = Snapshot(ts);
  const serving::Service* svc = snap.Find(req.sandbox, req.param(0));
  if (svc == nullptr) {
    resp.SetError(NotFoundError("service '" + std::string(req.param(0)) + "' not found in sandbox '" +
                                std::string(req.sandbox) + "'"));
    return nullptr;
  }
  *service = svc;
  if (!version_param.empty()) {
    auto rev = ParseRevision(version_param);
    if (!rev.ok()) {
      resp.SetError(rev.status());
      return nullptr;
    }
    const serving::Revision* r = svc->Find(*rev);
    if (r == nullptr) {
      resp.SetError(NotFoundError("service '" + svc->name + "' has no revision " + std::to_string(*rev)));
    }
    return r;
  }
  const serving::Revision* r = svc->Route(route_hash);
  if (r == nullptr) resp.SetError(UnavailableError("service '" + svc->name + "' has no revision receiving traffic"));
  return r;
}

void ApiServer::HandleKServeInfer(Request& req, Response& resp, ThreadState& ts) {
  const auto t0 = Clock::now();
  const serving::Service* svc = nullptr;
  // Parse first: the request id (if any) routes the traffic split.
  Status parsed = ts.parser.Parse(req.body, &ts.infer);
  const uint64_t hash = parsed.ok() && ts.infer.has_id ? RouteHash(ts.infer.id) : ts.round_robin++ * 0x9E3779B97F4A7C15ull;
  const serving::Revision* rev =
      ResolveRevision(req, resp, ts, &svc, req.num_params > 1 ? req.param(1) : std::string_view(), hash);
  if (rev == nullptr) return;
  const int shard = ts.index + 1;
  auto fail = [&](const Status& s) {
    resp.SetError(s);
    rev->stats->Count(shard, resp.status / 100);
  };
  if (!parsed.ok()) return fail(parsed);
  const engine::Model& model = *rev->model;
  const auto t1 = Clock::now();

  ts.inputs.assign(model.inputs().size(), nullptr);
  for (auto& in : ts.infer.active_inputs()) {
    const int idx = model.InputIndex(in.name);
    if (idx < 0) return fail(InvalidArgumentError("unknown input '" + in.name + "' for service '" + svc->name + "'"));
    if (ts.inputs[static_cast<size_t>(idx)] != nullptr) return fail(InvalidArgumentError("input '" + in.name + "' given twice"));
    if (in.tensor.rank() >= 1 && in.tensor.shape()[0] > static_cast<int64_t>(options_.max_batch)) {
      return fail(TooLargeError("input '" + in.name + "' has a batch of " + std::to_string(in.tensor.shape()[0]) +
                                " rows, above the limit of " + std::to_string(options_.max_batch)));
    }
    ts.inputs[static_cast<size_t>(idx)] = &in.tensor;
  }
  for (size_t i = 0; i < ts.inputs.size(); ++i) {
    if (ts.inputs[i] == nullptr) return fail(InvalidArgumentError("missing input '" + model.inputs()[i].name + "'"));
  }
  ts.output_index.clear();
  if (ts.infer.num_outputs == 0) {
    for (size_t i = 0; i < model.outputs().size(); ++i) ts.output_index.push_back(static_cast<int>(i));
  } else {
    for (const auto& name : ts.infer.requested_outputs()) {
      const int idx = model.OutputIndex(name);
      if (idx < 0) return fail(InvalidArgumentError("unknown output '" + name + "'"));
      ts.output_index.push_back(idx);
    }
  }
  engine::RunContext& ctx = ContextFor(ts, model);
  Status run = model.Run(ctx, ts.inputs);
  if (!run.ok()) return fail(run);
  const auto t2 = Clock::now();

  ts.outputs.clear();
  for (int idx : ts.output_index) {
    ts.outputs.push_back({model.outputs()[static_cast<size_t>(idx)].name, &ctx.output(idx)});
  }
  char version[24];
  auto vr = std::to_chars(version, version + sizeof version, rev->number);
  resp.body.clear();
  serving::WriteInferResponse(svc->name, std::string_view(version, static_cast<size_t>(vr.ptr - version)), &ts.infer,
                              ts.outputs, &resp.body);
  resp.status = 200;
  const auto t3 = Clock::now();
  rev->stats->Count(shard, 2);
  svc->stats->parse.Record(shard, Nanos(t0, t1));
  svc->stats->run.Record(shard, Nanos(t1, t2));
  svc->stats->serialize.Record(shard, Nanos(t2, t3));
  svc->stats->total.Record(shard, Nanos(t0, t3));
}

void ApiServer::HandlePredict(Request& req, Response& resp, ThreadState& ts) {
  const auto t0 = Clock::now();
  const serving::Service* svc = nullptr;
  // Resolve the service first (its model defines the instance fields).
  const auto& snap = Snapshot(ts);
  svc = snap.Find(req.sandbox, req.param(0));
  if (svc == nullptr) {
    return resp.SetError(NotFoundError("service '" + std::string(req.param(0)) + "' not found in sandbox '" +
                                       std::string(req.sandbox) + "'"));
  }
  // Parse with the primary revision's model, route by the request id or the
  // first instance's identity (round robin without either), and re-parse in
  // the rare case the routed revision takes different inputs.
  if (svc->routes.empty()) {
    return resp.SetError(UnavailableError("service '" + svc->name + "' has no revision receiving traffic"));
  }
  const serving::Revision* first = svc->routes.front().second;
  const int shard = ts.index + 1;
  serving::RowRequest& rows = ts.rows;
  Status parsed = ts.row_parser.Parse(req.body, first->model->inputs(), static_cast<int64_t>(options_.max_batch), &rows);
  const serving::Revision* rev = first;
  if (svc->routes.size() > 1) {
    uint64_t hash;
    if (parsed.ok() && rows.has_id) hash = RouteHash(rows.id);
    else if (parsed.ok() && !rows.identities.empty() && !rows.identities[0].empty()) hash = RouteHash(rows.identities[0]);
    else hash = ts.round_robin++ * 0x9E3779B97F4A7C15ull;
    rev = svc->Route(hash);
    if (parsed.ok() && rev->model.get() != first->model.get()) {
      // The body was consumed by simdjson only through padding; re-parse.
      parsed = ts.row_parser.Parse(req.body, rev->model->inputs(), static_cast<int64_t>(options_.max_batch), &rows);
    }
  }
  auto fail = [&](const Status& s) {
    resp.SetError(s);
    rev->stats->Count(shard, resp.status / 100);
  };
  const engine::Model& model = *rev->model;
  if (!parsed.ok()) return fail(parsed);
  const auto t1 = Clock::now();
  ts.inputs.clear();
  for (size_t i = 0; i < model.inputs().size(); ++i) ts.inputs.push_back(&rows.tensors[i]);
  engine::RunContext& ctx = ContextFor(ts, model);
  Status run = model.Run(ctx, ts.inputs);
  if (!run.ok()) return fail(run);
  const auto t2 = Clock::now();
  ts.outputs.clear();
  for (size_t i = 0; i < model.outputs().size(); ++i) {
    ts.outputs.push_back({model.outputs()[i].name, &ctx.output(static_cast<int>(i))});
  }
  resp.body.clear();
  serving::WritePredictions(ts.outputs, rows.rows, rev->number, &rows, &resp.body);
  resp.status = 200;
  const auto t3 = Clock::now();
  rev->stats->Count(shard, 2);
  svc->stats->parse.Record(shard, Nanos(t0, t1));
  svc->stats->run.Record(shard, Nanos(t1, t2));
  svc->stats->serialize.Record(shard, Nanos(t2, t3));
  svc->stats->total.Record(shard, Nanos(t0, t3));
}

void ApiServer::HandleKServeMetadata(Request& req, Response& resp, ThreadState& ts) {
  const serving::Service* svc = nullptr;
  const serving::Revision* rev = ResolveRevision(req, resp, ts, &svc, req.num_params > 1 ? req.param(1) : std::string_view(), 0);
  if (rev == nullptr) return;
  const engine::Model& model = *rev->model;
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("name");
  w.String(svc->name);
  w.Key("versions");
  w.BeginArray();
  for (const auto& r : svc->revisions) w.String(std::to_string(r->number));
  w.EndArray();
  w.Key("platform");
  w.String("onnx");
  serving::WriteSignatureMembers(model, &out);
  w.EndObject();
  resp.SetJson(200, std::move(out));
}

void ApiServer::HandleKServeReady(Request& req, Response& resp, ThreadState& ts) {
  const serving::Service* svc = nullptr;
  const serving::Revision* rev = ResolveRevision(req, resp, ts, &svc, req.num_params > 1 ? req.param(1) : std::string_view(), 0);
  if (rev == nullptr) return;
  resp.SetJson(200, "{\"name\":\"" + svc->name + "\",\"ready\":true}");
}

}  // namespace rtml::server
