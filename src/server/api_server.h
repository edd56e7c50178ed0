// ApiServer: rtml's HTTP API (SPEC section 4) on top of HttpServer.
//
// Every request passes, in order: routing (404/405), sandbox resolution
// (x-sandbox-name, default "prod"), authentication and role/sandbox checks
// (401/403), per-key rate and concurrency limits (429), then the route's
// handler. Inference handlers run on the event loop with per-thread state
// (parser, tensors, run contexts, a cached registry snapshot) and take no
// lock; catalog-changing handlers run on the offload pool.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/auth.h"
#include "server/http_server.h"
#include "server/router.h"
#include "serving/kserve_codec.h"
#include "serving/service_registry.h"

namespace rtml::data {
class DataStore;
}
namespace rtml::serving {
class TrainingRuns;
}
namespace rtml::decision {
class Delivery;
}

namespace rtml::server {

struct ApiOptions {
  int threads = 1;                 // event loops, for per-thread state
  size_t max_batch = 4096;         // instances / rows per inference request
  int max_concurrent = 0;          // in-flight inference requests; 0 = unlimited
  double rate_per_key = 0;         // requests per second per key; 0 = unlimited
  double rate_burst = 0;           // burst size; defaults to max(1, rate)
  std::string version = "0.1.0";
};

class ApiServer final : public HttpHandler {
 public:
  // `data`, `training` and `delivery` may be null (no such endpoints).
  ApiServer(ApiOptions options, serving::ServiceRegistry* registry, KeyStore* keys, data::DataStore* data = nullptr,
            serving::TrainingRuns* training = nullptr, decision::Delivery* delivery = nullptr);
  ~ApiServer() override;

  bool IsBlocking(const Request& req) const override;
  void Handle(Request& req, Response& resp, int thread) override;
  void OnRejected(int status) override;
  // Counts a response by status class (deferred responses, when completed).
  void CountResponse(int status);

  void set_ready(bool ready) { ready_.store(ready, std::memory_order_release); }
  void set_http_server(const HttpServer* http) { http_ = http; }

  struct ThreadState;
  using HandlerFn = void (ApiServer::*)(Request&, Response&, ThreadState&);
  struct RouteSpec {
    Permission permission = Permission::kPublic;
    bool blocking = false;
    bool inference = false;  // counted against the concurrency limit
    HandlerFn fn = nullptr;
  };

 private:
  ThreadState& StateFor(int thread);
  const serving::RegistrySnapshot& Snapshot(ThreadState& ts);

  // Server
  void HandleLive(Request&, Response&, ThreadState&);
  void HandleReady(Request&, Response&, ThreadState&);
  void HandleServerMetadata(Request&, Response&, ThreadState&);
  void HandleMetrics(Request&, Response&, ThreadState&);
  // Models
  void HandleUploadModel(Request&, Response&, ThreadState&);
  void HandleListModels(Request&, Response&, ThreadState&);
  void HandleGetModel(Request&, Response&, ThreadState&);
  void HandleGetArtifact(Request&, Response&, ThreadState&);
  void HandleDeleteModelVersion(Request&, Response&, ThreadState&);
  // Services
  void HandlePutService(Request&, Response&, ThreadState&);
  void HandleListServices(Request&, Response&, ThreadState&);
  void HandleGetService(Request&, Response&, ThreadState&);
  void HandleDeleteService(Request&, Response&, ThreadState&);
  void HandleRollback(Request&, Response&, ThreadState&);
  void HandleTraffic(Request&, Response&, ThreadState&);
  // Inference
  void HandlePredict(Request&, Response&, ThreadState&);
  void HandleKServeMetadata(Request&, Response&, ThreadState&);
  void HandleKServeReady(Request&, Response&, ThreadState&);
  void HandleKServeInfer(Request&, Response&, ThreadState&);
  // Data
  void HandlePutSchema(Request&, Response&, ThreadState&);
  void HandleListSchemas(Request&, Response&, ThreadState&);
  void HandleGetSchema(Request&, Response&, ThreadState&);
  void HandlePutDataset(Request&, Response&, ThreadState&);
  void HandleListDatasets(Request&, Response&, ThreadState&);
  void HandleGetDataset(Request&, Response&, ThreadState&);
  void HandleIngest(Request&, Response&, ThreadState&);
  void HandleQuery(Request&, Response&, ThreadState&);
  void HandlePutComputed(Request&, Response&, ThreadState&);
  void HandleListComputed(Request&, Response&, ThreadState&);
  void HandleDeleteComputed(Request&, Response&, ThreadState&);
  void HandleGetProfile(Request&, Response&, ThreadState&);
  // Training
  void HandleStartTraining(Request&, Response&, ThreadState&);
  void HandleListTraining(Request&, Response&, ThreadState&);
  void HandleGetTraining(Request&, Response&, ThreadState&);
  void HandleCancelTraining(Request&, Response&, ThreadState&);
  void HandleTrainingValidation(Request&, Response&, ThreadState&);
  // Delivery (api_delivery.cc)
  void HandlePutActivity(Request&, Response&, ThreadState&);
  void HandleGetActivity(Request&, Response&, ThreadState&);
  void HandleListActivities(Request&, Response&, ThreadState&);
  void HandleDeleteActivity(Request&, Response&, ThreadState&);
  void HandleActivityReport(Request&, Response&, ThreadState&);
  void HandleActivityLearner(Request&, Response&, ThreadState&);
  void HandlePutSegment(Request&, Response&, ThreadState&);
  void HandleGetSegment(Request&, Response&, ThreadState&);
  void HandleListSegments(Request&, Response&, ThreadState&);
  void HandleDeleteSegment(Request&, Response&, ThreadState&);
  void HandleDecide(Request&, Response&, ThreadState&);
  void HandleFeedback(Request&, Response&, ThreadState&);
  // Pipeline services (api_inference.cc)
  void PredictPipeline(Request&, Response&, ThreadState&, const serving::Service&, const serving::Revision&);
  void KServeInferPipeline(Request&, Response&, ThreadState&, const serving::Service&, const serving::Revision&);
  // Keys
  void HandleCreateKey(Request&, Response&, ThreadState&);
  void HandleListKeys(Request&, Response&, ThreadState&);
  void HandleDeleteKey(Request&, Response&, ThreadState&);

  // Resolves the service and revision for an inference route; writes the
  // error response and returns null on failure.
  const serving::Revision* ResolveRevision(Request& req, Response& resp, ThreadState& ts,
                                           const serving::Service** service, std::string_view version_param,
                                           uint64_t route_hash);
  engine::RunContext& ContextFor(ThreadState& ts, const engine::Model& model);
  void WriteServiceJson(const serving::Service& svc, std::string* out, bool detailed) const;

  ApiOptions options_;
  serving::ServiceRegistry* registry_;
  KeyStore* keys_;
  data::DataStore* data_;
  serving::TrainingRuns* training_;
  decision::Delivery* delivery_;
  const HttpServer* http_ = nullptr;
  Router<RouteSpec> router_;
  std::vector<std::unique_ptr<ThreadState>> states_;  // [0] offload pool, [1 + i] event loop i
  std::atomic<bool> ready_{false};
  std::atomic<int64_t> inflight_inference_{0};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();

  // Server-level counters (relaxed atomics).
  std::atomic<uint64_t> responses_by_class_[6] = {};
  std::atomic<uint64_t> rejected_by_status_[600] = {};
};

}  // namespace rtml::server
