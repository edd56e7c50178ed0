// Inference routes: KServe v2 (metadata, ready, infer) and row-form predict.
// They run on the event loop with per-thread state and take no lock.
#include <chrono>

#include "common/json_writer.h"
#include "data/data_store.h"
#include "data/schema.h"
#include "server/api_server.h"
#include "server/api_state.h"
#include "serving/row_codec.h"
#include "simdjson.h"

namespace rtml::server {

namespace {

using Clock = std::chrono::steady_clock;

int64_t Nanos(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
}

// The per-phase latency histograms of one successful inference request:
// parse (t0-t1), run (t1-t2), serialize (t2-t3), total.
void RecordPhases(serving::ServiceStats& stats, int shard, Clock::time_point t0, Clock::time_point t1,
                  Clock::time_point t2, Clock::time_point t3) {
  stats.parse.Record(shard, Nanos(t0, t1));
  stats.run.Record(shard, Nanos(t1, t2));
  stats.serialize.Record(shard, Nanos(t2, t3));
  stats.total.Record(shard, Nanos(t0, t3));
}

StatusOr<int64_t> ParseNowField(std::string_view text) {
  auto ms = data::ParseDateTimeMillis(text);
  if (!ms) return InvalidArgumentError("now: expected an RFC 3339 timestamp, got '" + std::string(text) + "'");
  return *ms;
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
  const uint64_t hash = parsed.ok() && ts.infer.has_id ? serving::RouteHash(ts.infer.id) : ts.round_robin++ * 0x9E3779B97F4A7C15ull;
  const serving::Revision* rev =
      ResolveRevision(req, resp, ts, &svc, req.num_params > 1 ? req.param(1) : std::string_view(), hash);
  if (rev == nullptr) return;
  if (rev->pipeline) {
    if (!parsed.ok()) {
      resp.SetError(parsed);
      rev->stats->Count(ts.index + 1, 4);
      return;
    }
    return KServeInferPipeline(req, resp, ts, *svc, *rev);
  }
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
  RecordPhases(*svc->stats, shard, t0, t1, t2, t3);
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
  if (first->pipeline) {
    // Route pipeline services by round robin (or the request id when one
    // is given, found by the pipeline parser).
    const serving::Revision* r = svc->Route(ts.round_robin++ * 0x9E3779B97F4A7C15ull);
    if (r->pipeline) return PredictPipeline(req, resp, ts, *svc, *r);
    first = r;
  }
  serving::RowRequest& rows = ts.rows;
  Status parsed = ts.row_parser.Parse(req.body, first->model->inputs(), static_cast<int64_t>(options_.max_batch), &rows);
  const serving::Revision* rev = first;
  if (svc->routes.size() > 1) {
    uint64_t hash;
    if (parsed.ok() && rows.has_id) hash = serving::RouteHash(rows.id);
    else if (parsed.ok() && !rows.identities.empty() && !rows.identities[0].empty()) hash = serving::RouteHash(rows.identities[0]);
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
  RecordPhases(*svc->stats, shard, t0, t1, t2, t3);
}

namespace {

pipeline::Pipeline::RowContext& RowContextFor(ApiServer::ThreadState& ts, const pipeline::Pipeline& p) {
  auto& slot = ts.row_contexts[&p];
  if (!slot) slot = p.NewRowContext();
  return *slot;
}

// Request time: the body's optional "now" (RFC 3339, for reproducible and
// historical scoring), else the wall clock.
int64_t WallMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status SetPipelineInput(pipeline::Pipeline::RowContext& ctx, int index, simdjson::ondemand::value v,
                        std::string_view field) {
  simdjson::ondemand::json_type type;
  if (v.type().get(type)) return InvalidArgumentError(std::string(field) + ": malformed value");
  switch (type) {
    case simdjson::ondemand::json_type::number: {
      double d;
      if (v.get_double().get(d)) return InvalidArgumentError(std::string(field) + ": malformed number");
      ctx.SetNumber(index, d);
      return OkStatus();
    }
    case simdjson::ondemand::json_type::string: {
      std::string_view sv;
      if (v.get_string().get(sv)) return InvalidArgumentError(std::string(field) + ": malformed string");
      Status s = ctx.SetString(index, sv);
      return s.ok() ? s : s.WithPrefix(field);
    }
    case simdjson::ondemand::json_type::boolean: {
      bool b;
      if (v.get_bool().get(b)) return InvalidArgumentError(std::string(field) + ": malformed boolean");
      ctx.SetBool(index, b);
      return OkStatus();
    }
    case simdjson::ondemand::json_type::null:
      ctx.SetMissing(index);
      return OkStatus();
    default:
      return InvalidArgumentError(std::string(field) + ": expected a number, string or boolean");
  }
}

void WriteRowOutputs(const pipeline::Pipeline::RowContext& ctx, const pipeline::Pipeline& p, JsonWriter& w) {
  w.BeginObject();
  for (int o = 0; o < ctx.num_outputs(); ++o) {
    w.Key(p.output_names()[static_cast<size_t>(o)]);
    if (ctx.output_is_string(o)) {
      auto sv = ctx.output_string(o);
      if (sv) w.String(*sv);
      else w.Null();
    } else if (ctx.output_is_vector(o)) {
      w.BeginArray();
      for (double d : ctx.output_vector(o)) w.Double(d);
      w.EndArray();
    } else {
      const double d = ctx.output_number(o);
      if (std::isnan(d)) w.Null();
      else w.Double(d);
    }
  }
  w.EndObject();
}

}  // namespace

static const pipeline::ProfileSource* ProfilesFor(data::DataStore* data, ApiServer::ThreadState& ts,
                                                  std::string_view sandbox) {
  if (data == nullptr) return nullptr;
  auto store = data->Profiles(std::string(sandbox));
  if (!store) return nullptr;
  auto& entry = ts.profile_sources[std::string(sandbox)];
  if (entry.store != store) {
    entry.source = std::make_unique<pipeline::ProfileStoreSource>(store.get());
    entry.store = std::move(store);
  }
  return entry.source.get();
}

void ApiServer::PredictPipeline(Request& req, Response& resp, ThreadState& ts, const serving::Service& svc,
                                const serving::Revision& rev) {
  const auto t0 = Clock::now();
  const int shard = ts.index + 1;
  auto fail = [&](const Status& s) {
    resp.SetError(s);
    rev.stats->Count(shard, resp.status / 100);
  };
  const pipeline::Pipeline& p = *rev.pipeline;
  pipeline::Pipeline::RowContext& ctx = RowContextFor(ts, p);
  const pipeline::ProfileSource* profiles = ProfilesFor(data_, ts, req.sandbox);
  std::string* body = req.body;
  if (body->capacity() < body->size() + simdjson::SIMDJSON_PADDING) body->reserve(body->size() + simdjson::SIMDJSON_PADDING);
  thread_local simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  if (auto e = parser.iterate(body->data(), body->size(), body->capacity()).get(doc)) {
    return fail(InvalidArgumentError(std::string("request body: malformed JSON (") + simdjson::error_message(e) + ")"));
  }
  std::string_view raw;
  const char* rest = nullptr;
  if (auto e = doc.raw_json().get(raw)) {
    return fail(InvalidArgumentError(std::string("request body: malformed JSON (") + simdjson::error_message(e) + ")"));
  }
  if (!doc.current_location().get(rest)) return fail(InvalidArgumentError("request body: content after the JSON object"));
  doc.rewind();
  simdjson::ondemand::object root;
  if (doc.get_object().get(root)) return fail(InvalidArgumentError("request body must be a JSON object"));
  int64_t now = WallMillis();
  {
    std::string_view now_text;
    auto e = root.find_field_unordered("now").get_string().get(now_text);
    if (!e) {
      auto ms = ParseNowField(now_text);
      if (!ms.ok()) return fail(ms.status());
      now = *ms;
    }
  }
  simdjson::ondemand::array instances;
  if (root.find_field_unordered("instances").get_array().get(instances)) {
    return fail(InvalidArgumentError("request body needs \"instances\": [{...}, ...]"));
  }
  const auto t1 = Clock::now();
  std::string& out = resp.body;
  out.clear();
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("predictions");
  w.BeginArray();
  const int n_inputs = static_cast<int>(p.inputs().size());
  std::vector<uint8_t> seen(static_cast<size_t>(n_inputs));
  int64_t r = 0;
  for (auto elem : instances) {
    if (r == static_cast<int64_t>(options_.max_batch)) {
      return fail(TooLargeError("more than " + std::to_string(options_.max_batch) + " instances"));
    }
    simdjson::ondemand::object inst;
    if (elem.get_object().get(inst)) return fail(InvalidArgumentError("instances[" + std::to_string(r) + "]: must be an object"));
    std::fill(seen.begin(), seen.end(), uint8_t{0});
    ctx.ClearInputs();
    ctx.SetIdentity({});
    for (auto field : inst) {
      std::string_view key;
      if (field.unescaped_key().get(key)) return fail(InvalidArgumentError("instances[" + std::to_string(r) + "]: malformed key"));
      simdjson::ondemand::value v;
      if (field.value().get(v)) return fail(InvalidArgumentError("instances[" + std::to_string(r) + "]: malformed value"));
      if (key == "identity") {
        std::string_view id;
        if (v.get_string().get(id)) {
          return fail(InvalidArgumentError("instances[" + std::to_string(r) + "].identity: must be a string \"NS:ID\""));
        }
        ctx.SetIdentity(id);
        continue;
      }
      auto idx = p.InputIndex(key);
      if (!idx.ok()) {
        std::string names;
        for (const auto& in : p.inputs()) names += (names.empty() ? "" : ", ") + in.name;
        return fail(InvalidArgumentError("instances[" + std::to_string(r) + "]: unknown field '" + std::string(key) +
                                         "' (pipeline inputs: " + names + ")"));
      }
      Status s = SetPipelineInput(ctx, *idx, v, "instances[" + std::to_string(r) + "]." + std::string(key));
      if (!s.ok()) return fail(s);
      seen[static_cast<size_t>(*idx)] = 1;
    }
    Status s = ctx.Run(now, profiles);
    if (!s.ok()) return fail(s.WithPrefix("instances[" + std::to_string(r) + "]"));
    WriteRowOutputs(ctx, p, w);
    ++r;
  }
  const auto t2 = Clock::now();
  w.EndArray();
  w.Key("revision");
  w.Int(rev.number);
  w.EndObject();
  resp.status = 200;
  const auto t3 = Clock::now();
  rev.stats->Count(shard, 2);
  RecordPhases(*svc.stats, shard, t0, t1, t2, t3);
}

void ApiServer::KServeInferPipeline(Request& req, Response& resp, ThreadState& ts, const serving::Service& svc,
                                    const serving::Revision& rev) {
  const auto t0 = Clock::now();
  const int shard = ts.index + 1;
  auto fail = [&](const Status& s) {
    resp.SetError(s);
    rev.stats->Count(shard, resp.status / 100);
  };
  const pipeline::Pipeline& p = *rev.pipeline;
  pipeline::Pipeline::RowContext& ctx = RowContextFor(ts, p);
  const pipeline::ProfileSource* profiles = ProfilesFor(data_, ts, req.sandbox);
  // One tensor per pipeline input, [N] or [N,1]; a BYTES input "identity"
  // feeds profile nodes.
  const int n_inputs = static_cast<int>(p.inputs().size());
  std::vector<const engine::Tensor*> by_input(static_cast<size_t>(n_inputs), nullptr);
  const engine::Tensor* identities = nullptr;
  int64_t rows = -1;
  for (auto& in : ts.infer.active_inputs()) {
    const engine::Tensor& t = in.tensor;
    if (t.rank() == 0 || t.rank() > 2 || (t.rank() == 2 && t.shape()[1] != 1)) {
      return fail(InvalidArgumentError("input '" + in.name + "': expected shape [N] or [N,1], got " + t.shape().ToString()));
    }
    if (rows >= 0 && t.shape()[0] != rows) {
      return fail(InvalidArgumentError("input '" + in.name + "' has " + std::to_string(t.shape()[0]) +
                                       " rows, the others " + std::to_string(rows)));
    }
    rows = t.shape()[0];
    if (in.name == "identity") {
      if (t.dtype() != engine::DataType::kString) return fail(InvalidArgumentError("input 'identity' must be BYTES"));
      identities = &t;
      continue;
    }
    auto idx = p.InputIndex(in.name);
    if (!idx.ok()) return fail(InvalidArgumentError("unknown input '" + in.name + "' for pipeline service '" + svc.name + "'"));
    by_input[static_cast<size_t>(*idx)] = &t;
  }
  for (int i = 0; i < n_inputs; ++i) {
    if (!by_input[static_cast<size_t>(i)]) {
      return fail(InvalidArgumentError("missing input '" + p.inputs()[static_cast<size_t>(i)].name + "'"));
    }
  }
  if (rows > static_cast<int64_t>(options_.max_batch)) {
    return fail(TooLargeError("batch of " + std::to_string(rows) + " rows exceeds the limit of " +
                              std::to_string(options_.max_batch)));
  }
  int64_t now = WallMillis();
  if (ts.infer.has_now) {
    auto ms = ParseNowField(ts.infer.now);
    if (!ms.ok()) return fail(ms.status().WithPrefix("parameters"));
    now = *ms;
  }
  const int n_out = static_cast<int>(p.output_names().size());
  if (ts.pipeline_outputs.size() < static_cast<size_t>(n_out)) ts.pipeline_outputs.resize(static_cast<size_t>(n_out));
  const auto t1 = Clock::now();
  for (int64_t r = 0; r < std::max<int64_t>(rows, 0); ++r) {
    ctx.ClearInputs();
    ctx.SetIdentity(identities ? std::string_view(identities->data<std::string>()[r]) : std::string_view());
    for (int i = 0; i < n_inputs; ++i) {
      const engine::Tensor& t = *by_input[static_cast<size_t>(i)];
      Status s;
      switch (t.dtype()) {
        case engine::DataType::kFloat: {
          const float v = t.data<float>()[r];
          if (std::isnan(v)) ctx.SetMissing(i);
          else ctx.SetNumber(i, v);
          break;
        }
        case engine::DataType::kDouble: {
          const double v = t.data<double>()[r];
          if (std::isnan(v)) ctx.SetMissing(i);
          else ctx.SetNumber(i, v);
          break;
        }
        case engine::DataType::kInt64: ctx.SetNumber(i, static_cast<double>(t.data<int64_t>()[r])); break;
        case engine::DataType::kInt32: ctx.SetNumber(i, t.data<int32_t>()[r]); break;
        case engine::DataType::kBool: ctx.SetBool(i, t.data<bool>()[r]); break;
        case engine::DataType::kString: s = ctx.SetString(i, t.data<std::string>()[r]); break;
        default:
          return fail(InvalidArgumentError("input '" + p.inputs()[static_cast<size_t>(i)].name + "': unsupported datatype " +
                                           std::string(engine::DataTypeName(t.dtype()))));
      }
      if (!s.ok()) return fail(s.WithPrefix("row " + std::to_string(r)));
    }
    Status s = ctx.Run(now, profiles);
    if (!s.ok()) return fail(s.WithPrefix("row " + std::to_string(r)));
    for (int o = 0; o < n_out; ++o) {
      engine::Tensor& out = ts.pipeline_outputs[static_cast<size_t>(o)];
      if (r == 0) {
        engine::Shape shape;
        shape.PushBack(rows);
        engine::DataType dt = engine::DataType::kDouble;
        if (ctx.output_is_string(o)) dt = engine::DataType::kString;
        else if (ctx.output_is_vector(o)) shape.PushBack(static_cast<int64_t>(ctx.output_vector(o).size()));
        Status rs = out.Resize(dt, shape);
        if (!rs.ok()) return fail(rs);
      }
      if (ctx.output_is_string(o)) {
        auto sv = ctx.output_string(o);
        out.mutable_data<std::string>()[r].assign(sv ? *sv : std::string_view());
      } else if (ctx.output_is_vector(o)) {
        auto v = ctx.output_vector(o);
        std::copy(v.begin(), v.end(), out.mutable_data<double>() + r * static_cast<int64_t>(v.size()));
      } else {
        out.mutable_data<double>()[r] = ctx.output_number(o);
      }
    }
  }
  const auto t2 = Clock::now();
  ts.outputs.clear();
  for (int o = 0; o < n_out; ++o) {
    const std::string& name = p.output_names()[static_cast<size_t>(o)];
    bool wanted = ts.infer.num_outputs == 0;
    for (const auto& w : ts.infer.requested_outputs()) wanted = wanted || w == name;
    if (wanted) ts.outputs.push_back({name, &ts.pipeline_outputs[static_cast<size_t>(o)]});
  }
  resp.body.clear();
  serving::WriteInferResponse(svc.name, std::to_string(rev.number), &ts.infer, ts.outputs, &resp.body);
  resp.status = 200;
  const auto t3 = Clock::now();
  rev.stats->Count(shard, 2);
  RecordPhases(*svc.stats, shard, t0, t1, t2, t3);
}

void ApiServer::HandleKServeMetadata(Request& req, Response& resp, ThreadState& ts) {
  const serving::Service* svc = nullptr;
  const serving::Revision* rev = ResolveRevision(req, resp, ts, &svc, req.num_params > 1 ? req.param(1) : std::string_view(), 0);
  if (rev == nullptr) return;
  if (rev->pipeline) {
    // Pipeline services: one tensor per pipeline input, [N] (see docs/api.md).
    const pipeline::Pipeline& p = *rev->pipeline;
    auto type_name = [](pipeline::ValueKind k) {
      switch (k) {
        case pipeline::ValueKind::kString: return "BYTES";
        case pipeline::ValueKind::kBool: return "BOOL";
        case pipeline::ValueKind::kTimestamp: return "BYTES";
        default: return "FP64";
      }
    };
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
    w.String("rtml_pipeline");
    w.Key("inputs");
    w.BeginArray();
    for (const auto& in : p.inputs()) {
      w.BeginObject();
      w.Key("name");
      w.String(in.name);
      w.Key("datatype");
      w.String(type_name(in.value_type.kind));
      w.Key("shape");
      w.Raw("[-1]");
      w.EndObject();
    }
    w.EndArray();
    w.Key("outputs");
    w.BeginArray();
    for (size_t o = 0; o < p.output_names().size(); ++o) {
      const pipeline::ValueType t = p.output_type(static_cast<int>(o));
      w.BeginObject();
      w.Key("name");
      w.String(p.output_names()[o]);
      w.Key("datatype");
      w.String(t.kind == pipeline::ValueKind::kString ? "BYTES" : "FP64");
      w.Key("shape");
      w.Raw(t.kind == pipeline::ValueKind::kVector ? "[-1," + std::to_string(t.width) + "]" : std::string("[-1]"));
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return resp.SetJson(200, std::move(out));
  }
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
