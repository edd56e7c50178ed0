#include "server/api_server.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <unordered_set>

#include "common/json_writer.h"
#include "decision/delivery.h"
#include "server/api_state.h"

namespace rtml::server {

using http::verb;

ApiServer::ApiServer(ApiOptions options, serving::ServiceRegistry* registry, KeyStore* keys, data::DataStore* data,
                     serving::TrainingRuns* training, decision::Delivery* delivery)
    : options_(std::move(options)),
      registry_(registry),
      keys_(keys),
      data_(data),
      training_(training),
      delivery_(delivery) {
  if (options_.rate_per_key > 0 && options_.rate_burst <= 0) options_.rate_burst = std::max(1.0, options_.rate_per_key);
  for (int i = -1; i < options_.threads; ++i) {
    auto ts = std::make_unique<ThreadState>();
    ts->index = i;
    states_.push_back(std::move(ts));
  }
  auto add = [&](verb m, std::string_view pattern, Permission p, HandlerFn fn, bool blocking = false,
                 bool inference = false) {
    router_.Add(m, pattern, RouteSpec{p, blocking, inference, fn});
  };
  // Hot routes first.
  add(verb::post, "/v2/models/{name}/infer", Permission::kPredict, &ApiServer::HandleKServeInfer, false, true);
  add(verb::post, "/v2/models/{name}/versions/{rev}/infer", Permission::kPredict, &ApiServer::HandleKServeInfer,
      false, true);
  add(verb::post, "/v1/services/{name}/predict", Permission::kPredict, &ApiServer::HandlePredict, false, true);
  if (delivery_ != nullptr) {
    add(verb::post, "/v1/decisions", Permission::kPredict, &ApiServer::HandleDecide, false, true);
    add(verb::post, "/v1/feedback", Permission::kPredict, &ApiServer::HandleFeedback, false, true);
  }
  add(verb::get, "/v2/health/live", Permission::kPublic, &ApiServer::HandleLive);
  add(verb::get, "/v2/health/ready", Permission::kPublic, &ApiServer::HandleReady);
  add(verb::get, "/v2", Permission::kPublic, &ApiServer::HandleServerMetadata);
  add(verb::get, "/metrics", Permission::kPublic, &ApiServer::HandleMetrics);
  add(verb::get, "/v2/models/{name}", Permission::kPredict, &ApiServer::HandleKServeMetadata);
  add(verb::get, "/v2/models/{name}/versions/{rev}", Permission::kPredict, &ApiServer::HandleKServeMetadata);
  add(verb::get, "/v2/models/{name}/ready", Permission::kPredict, &ApiServer::HandleKServeReady);
  add(verb::get, "/v2/models/{name}/versions/{rev}/ready", Permission::kPredict, &ApiServer::HandleKServeReady);
  add(verb::post, "/v1/models/{name}", Permission::kAuthor, &ApiServer::HandleUploadModel, true);
  add(verb::get, "/v1/models", Permission::kRead, &ApiServer::HandleListModels, true);
  add(verb::get, "/v1/models/{name}", Permission::kRead, &ApiServer::HandleGetModel, true);
  add(verb::get, "/v1/models/{name}/versions/{v}/artifact", Permission::kRead, &ApiServer::HandleGetArtifact, true);
  add(verb::delete_, "/v1/models/{name}/versions/{v}", Permission::kAuthor, &ApiServer::HandleDeleteModelVersion,
      true);
  add(verb::put, "/v1/services/{name}", Permission::kAuthor, &ApiServer::HandlePutService, true);
  add(verb::get, "/v1/services", Permission::kRead, &ApiServer::HandleListServices);
  add(verb::get, "/v1/services/{name}", Permission::kRead, &ApiServer::HandleGetService);
  add(verb::delete_, "/v1/services/{name}", Permission::kAuthor, &ApiServer::HandleDeleteService, true);
  add(verb::post, "/v1/services/{name}:rollback", Permission::kAuthor, &ApiServer::HandleRollback, true);
  add(verb::put, "/v1/services/{name}/traffic", Permission::kAuthor, &ApiServer::HandleTraffic, true);
  if (data_ != nullptr) {
    add(verb::post, "/v1/datasets/{name}/records", Permission::kIngest, &ApiServer::HandleIngest, true);
    add(verb::get, "/v1/profiles/{ns}/{id}", Permission::kRead, &ApiServer::HandleGetProfile);
    add(verb::put, "/v1/schemas/{name}", Permission::kIngest, &ApiServer::HandlePutSchema, true);
    add(verb::get, "/v1/schemas", Permission::kRead, &ApiServer::HandleListSchemas, true);
    add(verb::get, "/v1/schemas/{name}", Permission::kRead, &ApiServer::HandleGetSchema, true);
    add(verb::put, "/v1/datasets/{name}", Permission::kIngest, &ApiServer::HandlePutDataset, true);
    add(verb::get, "/v1/datasets", Permission::kRead, &ApiServer::HandleListDatasets, true);
    add(verb::get, "/v1/datasets/{name}", Permission::kRead, &ApiServer::HandleGetDataset, true);
    add(verb::post, "/v1/query", Permission::kRead, &ApiServer::HandleQuery, true);
    add(verb::put, "/v1/computed-attributes/{name}", Permission::kIngest, &ApiServer::HandlePutComputed, true);
    add(verb::get, "/v1/computed-attributes", Permission::kRead, &ApiServer::HandleListComputed, true);
    add(verb::delete_, "/v1/computed-attributes/{name}", Permission::kIngest, &ApiServer::HandleDeleteComputed, true);
  }
  if (training_ != nullptr) {
    add(verb::post, "/v1/training-runs", Permission::kAuthor, &ApiServer::HandleStartTraining, true);
    add(verb::get, "/v1/training-runs", Permission::kRead, &ApiServer::HandleListTraining);
    add(verb::post, "/v1/training-runs/{id}:cancel", Permission::kAuthor, &ApiServer::HandleCancelTraining, true);
    add(verb::get, "/v1/training-runs/{id}", Permission::kRead, &ApiServer::HandleGetTraining);
    add(verb::get, "/v1/training-runs/{id}/validation", Permission::kRead, &ApiServer::HandleTrainingValidation, true);
  }
  if (delivery_ != nullptr) {
    add(verb::put, "/v1/activities/{name}", Permission::kAuthor, &ApiServer::HandlePutActivity, true);
    add(verb::get, "/v1/activities", Permission::kRead, &ApiServer::HandleListActivities, true);
    add(verb::get, "/v1/activities/{name}", Permission::kRead, &ApiServer::HandleGetActivity, true);
    add(verb::delete_, "/v1/activities/{name}", Permission::kAuthor, &ApiServer::HandleDeleteActivity, true);
    add(verb::get, "/v1/activities/{name}/report", Permission::kRead, &ApiServer::HandleActivityReport, true);
    add(verb::get, "/v1/activities/{name}/learner", Permission::kRead, &ApiServer::HandleActivityLearner, true);
    add(verb::put, "/v1/segments/{name}", Permission::kAuthor, &ApiServer::HandlePutSegment, true);
    add(verb::get, "/v1/segments", Permission::kRead, &ApiServer::HandleListSegments, true);
    add(verb::get, "/v1/segments/{name}", Permission::kRead, &ApiServer::HandleGetSegment, true);
    add(verb::delete_, "/v1/segments/{name}", Permission::kAuthor, &ApiServer::HandleDeleteSegment, true);
  }
  add(verb::post, "/v1/keys", Permission::kAdmin, &ApiServer::HandleCreateKey, true);
  add(verb::get, "/v1/keys", Permission::kAdmin, &ApiServer::HandleListKeys, true);
  add(verb::delete_, "/v1/keys/{id}", Permission::kAdmin, &ApiServer::HandleDeleteKey, true);
}

ApiServer::~ApiServer() = default;

ApiServer::ThreadState& ApiServer::StateFor(int thread) {
  const size_t i = static_cast<size_t>(thread + 1);
  return i < states_.size() ? *states_[i] : *states_[0];
}

const serving::RegistrySnapshot& ApiServer::Snapshot(ThreadState& ts) {
  const uint64_t v = registry_->version();
  if (v != ts.snapshot_version || !ts.snapshot) {
    auto snap = registry_->snapshot();
    // Drop run contexts of models the new snapshot no longer references,
    // before the old snapshot (and possibly the model) is released.
    std::unordered_set<const engine::Model*> live;
    std::unordered_set<const pipeline::Pipeline*> live_pipelines;
    for (const auto& [sb, services] : snap->sandboxes)
      for (const auto& [name, svc] : services)
        for (const auto& rev : svc->revisions) {
          live.insert(rev->model.get());
          live_pipelines.insert(rev->pipeline.get());
        }
    for (auto it = ts.contexts.begin(); it != ts.contexts.end();) {
      if (live.count(it->first)) ++it;
      else it = ts.contexts.erase(it);
    }
    for (auto it = ts.row_contexts.begin(); it != ts.row_contexts.end();) {
      if (live_pipelines.count(it->first)) ++it;
      else it = ts.row_contexts.erase(it);
    }
    ts.snapshot = std::move(snap);
    ts.snapshot_version = v;
  }
  return *ts.snapshot;
}

engine::RunContext& ApiServer::ContextFor(ThreadState& ts, const engine::Model& model) {
  auto& slot = ts.contexts[&model];
  if (!slot) slot = model.NewContext();
  return *slot;
}

bool ApiServer::IsBlocking(const Request& req) const {
  Request probe;
  const RouteSpec* route = nullptr;
  if (router_.Match(req.method, req.path, &probe, &route) != Router<RouteSpec>::Result::kMatched) return false;
  return route->blocking;
}

void ApiServer::OnRejected(int status) {
  if (status >= 0 && status < 600) rejected_by_status_[status].fetch_add(1, std::memory_order_relaxed);
  responses_by_class_[status / 100 < 6 ? status / 100 : 5].fetch_add(1, std::memory_order_relaxed);
}

void ApiServer::Handle(Request& req, Response& resp, int thread) {
  ThreadState& ts = StateFor(thread);
  const RouteSpec* route = nullptr;
  const auto match = router_.Match(req.method, req.path, &req, &route);
  if (match != Router<RouteSpec>::Result::kMatched) {
    const std::string what = std::string(http::to_string(req.method)) + " " + std::string(req.path);
    resp.SetError(match == Router<RouteSpec>::Result::kWrongMethod
                      ? Status(StatusCode::kInvalidArgument, "method not allowed: " + what)
                      : NotFoundError("no such endpoint: " + what));
    if (match == Router<RouteSpec>::Result::kWrongMethod) resp.status = 405;
    responses_by_class_[4].fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::string_view sandbox = req.Header("x-sandbox-name");
  if (sandbox.empty()) sandbox = "prod";
  req.sandbox = sandbox;
  std::shared_ptr<const Principal> principal;
  if (route->permission != Permission::kPublic) {
    if (Status s = serving::ValidateName("sandbox", sandbox); !s.ok()) {
      resp.SetError(s);
      responses_by_class_[4].fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const std::string_view auth = req.Header(http::field::authorization);
    if (auth.empty()) {
      resp.SetError(UnauthenticatedError("missing 'Authorization: Bearer <key>' header"));
      responses_by_class_[4].fetch_add(1, std::memory_order_relaxed);
      return;
    }
    principal = keys_->Authenticate(auth, thread);
    if (!principal) {
      resp.SetError(UnauthenticatedError("invalid API key"));
      responses_by_class_[4].fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (!RoleAllows(principal->role, route->permission)) {
      resp.SetError(PermissionDeniedError("key '" + principal->key_id + "' has role '" +
                                          std::string(RoleName(principal->role)) + "', which may not " +
                                          std::string(http::to_string(req.method)) + " " + std::string(req.path)));
      responses_by_class_[4].fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (!principal->CanAccess(sandbox)) {
      resp.SetError(PermissionDeniedError("key '" + principal->key_id + "' has no access to sandbox '" +
                                          std::string(sandbox) + "'"));
      responses_by_class_[4].fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (options_.rate_per_key > 0) {
      const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::steady_clock::now().time_since_epoch()).count();
      if (!principal->Admit(now, options_.rate_per_key, options_.rate_burst)) {
        resp.SetError(ResourceExhaustedError("rate limit of " + std::to_string(options_.rate_per_key) +
                                             " requests/s for key '" + principal->key_id + "' exceeded"));
        resp.headers.emplace_back("Retry-After", "1");
        responses_by_class_[4].fetch_add(1, std::memory_order_relaxed);
        return;
      }
    }
    req.principal = principal.get();
  }
  bool counted = false;
  if (route->inference && options_.max_concurrent > 0) {
    counted = true;
    if (inflight_inference_.fetch_add(1, std::memory_order_relaxed) >= options_.max_concurrent) {
      inflight_inference_.fetch_sub(1, std::memory_order_relaxed);
      resp.SetError(ResourceExhaustedError("server is at its limit of " + std::to_string(options_.max_concurrent) +
                                           " concurrent inference requests"));
      resp.headers.emplace_back("Retry-After", "1");
      responses_by_class_[4].fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  (this->*route->fn)(req, resp, ts);
  if (counted) inflight_inference_.fetch_sub(1, std::memory_order_relaxed);
  if (!req.deferred) CountResponse(resp.status);
}

void ApiServer::CountResponse(int status) {
  const int cls = status / 100;
  responses_by_class_[cls >= 0 && cls < 6 ? cls : 5].fetch_add(1, std::memory_order_relaxed);
}

// ------------------------------------------------------------- server ---

void ApiServer::HandleLive(Request&, Response& resp, ThreadState&) { resp.SetJson(200, "{\"live\":true}"); }

void ApiServer::HandleReady(Request&, Response& resp, ThreadState&) {
  if (ready_.load(std::memory_order_acquire)) {
    resp.SetJson(200, "{\"ready\":true}");
  } else {
    resp.SetError(UnavailableError("rtml is loading its catalog"));
  }
}

void ApiServer::HandleServerMetadata(Request&, Response& resp, ThreadState&) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("name");
  w.String("rtml");
  w.Key("version");
  w.String(options_.version);
  w.Key("extensions");
  w.BeginArray();
  w.String("model_repository");
  w.String("service_gallery");
  w.EndArray();
  w.EndObject();
  resp.SetJson(200, std::move(out));
}

namespace {

int64_t ResidentBytes() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  in >> pages >> resident;
  return static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE);
}

void AppendLabel(std::string& out, std::string_view key, std::string_view value, bool first) {
  if (!first) out.push_back(',');
  out.append(key);
  out.append("=\"");
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out.append("\\n");
      continue;
    }
    out.push_back(c);
  }
  out.push_back('"');
}

void AppendNumber(std::string& out, double v) {
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%.9g", v);
  out.append(buf, static_cast<size_t>(n));
}

constexpr double kLatencyBounds[] = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                     0.005,   0.01,     0.025,   0.05,   0.1,     0.25,   0.5,   1,
                                     2.5,     5,        10};

void AppendHistogram(std::string& out, std::string_view name, const std::string& labels,
                     const LatencyHistogram& h) {
  const auto snap = h.Read();
  for (double le : kLatencyBounds) {
    out.append(name);
    out.append("_bucket{");
    out.append(labels);
    out.append(",le=\"");
    AppendNumber(out, le);
    out.append("\"} ");
    AppendNumber(out, static_cast<double>(snap.CountAtMost(static_cast<int64_t>(le * 1e9))));
    out.push_back('\n');
  }
  out.append(name);
  out.append("_bucket{");
  out.append(labels);
  out.append(",le=\"+Inf\"} ");
  AppendNumber(out, static_cast<double>(snap.total));
  out.push_back('\n');
  out.append(name);
  out.append("_sum{");
  out.append(labels);
  out.append("} ");
  AppendNumber(out, snap.sum_seconds);
  out.push_back('\n');
  out.append(name);
  out.append("_count{");
  out.append(labels);
  out.append("} ");
  AppendNumber(out, static_cast<double>(snap.total));
  out.push_back('\n');
}

}  // namespace

void ApiServer::HandleMetrics(Request&, Response& resp, ThreadState& ts) {
  const auto& snap = Snapshot(ts);
  std::string out;
  out.reserve(16384);
  auto gauge = [&](std::string_view name, std::string_view help, double v) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ").append(name).append(" gauge\n");
    out.append(name).append(" ");
    AppendNumber(out, v);
    out.push_back('\n');
  };
  gauge("rtml_up", "1 while the server runs.", 1);
  gauge("rtml_ready", "1 once the catalog is loaded and services are serving.", ready_.load() ? 1 : 0);
  gauge("rtml_uptime_seconds", "Seconds since start.",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
  gauge("rtml_process_resident_memory_bytes", "Resident set size.", static_cast<double>(ResidentBytes()));
  gauge("rtml_models_loaded", "Compiled model versions in memory.", registry_->num_models_loaded());
  size_t services = 0;
  for (const auto& [sb, svcs] : snap.sandboxes) services += svcs.size();
  gauge("rtml_services", "Deployed services.", static_cast<double>(services));
  if (http_) {
    gauge("rtml_http_open_connections", "Open client connections.", http_->open_connections());
    gauge("rtml_http_in_flight_requests", "Requests being read or processed.", static_cast<double>(http_->in_flight()));
  }

  out.append("# HELP rtml_http_responses_total HTTP responses by status class.\n");
  out.append("# TYPE rtml_http_responses_total counter\n");
  for (int c = 1; c < 6; ++c) {
    out.append("rtml_http_responses_total{class=\"").append(std::to_string(c)).append("xx\"} ");
    AppendNumber(out, static_cast<double>(responses_by_class_[c].load(std::memory_order_relaxed)));
    out.push_back('\n');
  }
  out.append("# HELP rtml_http_rejected_total Requests rejected by the HTTP layer (limits, malformed HTTP).\n");
  out.append("# TYPE rtml_http_rejected_total counter\n");
  for (int s : {400, 408, 413, 431, 503}) {
    out.append("rtml_http_rejected_total{status=\"").append(std::to_string(s)).append("\"} ");
    AppendNumber(out, static_cast<double>(rejected_by_status_[s].load(std::memory_order_relaxed)));
    out.push_back('\n');
  }

  out.append("# HELP rtml_service_requests_total Inference requests by service, revision and status class.\n");
  out.append("# TYPE rtml_service_requests_total counter\n");
  for (const auto& [sb, svcs] : snap.sandboxes) {
    for (const auto& [name, svc] : svcs) {
      for (const auto& rev : svc->revisions) {
        for (int c : {2, 4, 5}) {
          const uint64_t n = rev->stats->Total(c);
          if (n == 0 && c != 2) continue;
          std::string labels;
          AppendLabel(labels, "sandbox", sb, true);
          AppendLabel(labels, "service", name, false);
          AppendLabel(labels, "revision", std::to_string(rev->number), false);
          AppendLabel(labels, "status", std::to_string(c) + "xx", false);
          out.append("rtml_service_requests_total{").append(labels).append("} ");
          AppendNumber(out, static_cast<double>(n));
          out.push_back('\n');
        }
      }
    }
  }
  out.append("# HELP rtml_service_latency_seconds Server time of inference requests by phase.\n");
  out.append("# TYPE rtml_service_latency_seconds histogram\n");
  for (const auto& [sb, svcs] : snap.sandboxes) {
    for (const auto& [name, svc] : svcs) {
      const std::pair<const char*, const LatencyHistogram*> phases[] = {
          {"parse", &svc->stats->parse}, {"run", &svc->stats->run},
          {"serialize", &svc->stats->serialize}, {"total", &svc->stats->total}};
      for (const auto& [phase, h] : phases) {
        std::string labels;
        AppendLabel(labels, "sandbox", sb, true);
        AppendLabel(labels, "service", name, false);
        AppendLabel(labels, "phase", phase, false);
        AppendHistogram(out, "rtml_service_latency_seconds", labels, *h);
      }
    }
  }
  if (delivery_ != nullptr) delivery_->AppendMetrics(&out);
  resp.status = 200;
  resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
  resp.body = std::move(out);
}

}  // namespace rtml::server
