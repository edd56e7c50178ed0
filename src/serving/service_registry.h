// ServiceRegistry: the service gallery in memory.
//
// Services hold immutable revisions (a compiled model plus its spec) and a
// traffic split. Every change builds a new RegistrySnapshot and publishes it
// with a version bump; request threads keep their own shared_ptr to the
// snapshot they use and only re-read it when the version changes, so the
// request path takes no lock and in-flight requests finish on the revision
// they started on. Writers (uploads, deploys, rollbacks) are serialised by a
// mutex and persist to the Catalog before publishing; a failed deploy leaves
// the published snapshot untouched.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/histogram.h"
#include "common/status.h"
#include "engine/model.h"
#include "serving/catalog.h"

namespace rtml::pipeline {
class Pipeline;
}

namespace rtml::serving {

// Request counters of one revision, sharded per thread.
class RevisionStats {
 public:
  explicit RevisionStats(int shards);
  // status_class: 2 for 2xx, 4 for 4xx, 5 for 5xx.
  void Count(int shard, int status_class);
  uint64_t Total(int status_class) const;

 private:
  struct alignas(64) Shard {
    std::atomic<uint64_t> by_class[6];
  };
  int num_shards_;
  std::unique_ptr<Shard[]> shards_;
};

// Latency by phase for one service; lives as long as the service name does.
struct ServiceStats {
  explicit ServiceStats(int shards) : parse(shards), run(shards), serialize(shards), total(shards) {}
  LatencyHistogram parse;
  LatencyHistogram run;
  LatencyHistogram serialize;
  LatencyHistogram total;
};

// One immutable deployment of a service: a model, or a pipeline (which
// references models through its onnx nodes).
struct Revision {
  int64_t number = 0;
  std::string created;
  std::string spec;  // JSON as stored in the catalog
  // Model revisions: the model. Pipeline revisions: null.
  std::string model_name;
  int64_t model_version = 0;
  std::string model_sha256;
  std::shared_ptr<const engine::Model> model;
  // Pipeline revisions: the compiled pipeline.
  std::shared_ptr<const pipeline::Pipeline> pipeline;
  // Every model version the revision uses.
  std::vector<std::pair<std::string, int64_t>> model_refs;
  std::shared_ptr<RevisionStats> stats;
};

// FNV-1a 64 of a request id or identity: deterministic traffic routing
// (Service::Route), the same for predict, infer and decisions.
uint64_t RouteHash(std::string_view s);

struct TrafficEntry {
  int64_t revision = 0;
  int percent = 0;
};

struct Service {
  std::string sandbox;
  std::string name;
  std::string created;
  std::string updated;
  std::vector<std::shared_ptr<const Revision>> revisions;  // ascending by number
  std::vector<TrafficEntry> traffic;                        // percents sum to 100
  std::shared_ptr<ServiceStats> stats;
  // Cumulative percent upper bounds -> revision, derived from traffic.
  std::vector<std::pair<int, const Revision*>> routes;

  // Picks the revision for a request whose routing hash is `hash`.
  const Revision* Route(uint64_t hash) const;
  const Revision* Find(int64_t number) const;
  std::string TrafficJson() const;
};

class RegistrySnapshot {
 public:
  uint64_t version = 0;
  const Service* Find(std::string_view sandbox, std::string_view name) const;
  std::vector<const Service*> List(std::string_view sandbox) const;

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using ByName = std::unordered_map<std::string, std::shared_ptr<const Service>, Hash, std::equal_to<>>;
  std::unordered_map<std::string, ByName, Hash, std::equal_to<>> sandboxes;
};

struct RegistryOptions {
  int stat_shards = 2;          // event-loop threads + 1 (the offload pool)
  size_t max_revisions = 50;    // per service; older revisions without traffic are pruned
};

struct UploadResult {
  ModelVersionRecord record;
  bool created = false;  // false when identical bytes were already stored
};

struct DeploySpec {
  // A pipeline (JSON) or a model reference.
  std::string pipeline_json;
  std::string model_name;
  std::optional<int64_t> model_version;  // latest when unset
  // Traffic after the deploy; empty means 100% to the new revision. An entry
  // with revision 0 stands for the new revision.
  std::vector<TrafficEntry> traffic;
};

class ServiceRegistry {
 public:
  ServiceRegistry(Catalog* catalog, RegistryOptions options);

  // Loads every service and compiles every referenced model; call once.
  Status LoadFromCatalog();

  // Hot path: a version counter readers compare against their cached copy.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  std::shared_ptr<const RegistrySnapshot> snapshot() const;

  // Models.
  StatusOr<UploadResult> UploadModel(const std::string& sandbox, const std::string& name, std::string bytes);
  StatusOr<std::vector<ModelVersionRecord>> ListModels(std::string_view sandbox, std::string_view name = {}) const;
  StatusOr<ModelVersionRecord> GetModelVersion(std::string_view sandbox, std::string_view name, int64_t version) const;
  Status DeleteModelVersion(const std::string& sandbox, const std::string& name, int64_t version);
  StatusOr<std::string> ReadModelBytes(const ModelVersionRecord& record) const {
    return catalog_->ReadModelFile(record.sha256);
  }
  // Compiled model of a stored version (loaded on demand, cached).
  StatusOr<std::shared_ptr<const engine::Model>> CompiledModel(const ModelVersionRecord& record);

  // Services.
  StatusOr<std::shared_ptr<const Service>> Deploy(const std::string& sandbox, const std::string& name,
                                                  const DeploySpec& spec, const std::string& spec_json);
  StatusOr<std::shared_ptr<const Service>> SetTraffic(const std::string& sandbox, const std::string& name,
                                                      std::vector<TrafficEntry> traffic);
  StatusOr<std::shared_ptr<const Service>> Rollback(const std::string& sandbox, const std::string& name,
                                                    std::optional<int64_t> revision);
  Status DeleteService(const std::string& sandbox, const std::string& name);

  int num_models_loaded() const;

 private:
  // Validates a split against the service's revisions.
  Status CheckTraffic(const Service& service, const std::vector<TrafficEntry>& traffic) const;
  static void BuildRoutes(Service* service);
  // Publishes a copy of the current snapshot with `service` replaced (or
  // removed when null). Requires mu_.
  void PublishLocked(const std::string& sandbox, const std::string& name, std::shared_ptr<const Service> service);
  StatusOr<std::shared_ptr<const engine::Model>> CompileLocked(const ModelVersionRecord& record);
  // Compiles a pipeline whose onnx nodes resolve to the sandbox's models. Requires mu_.
  StatusOr<std::shared_ptr<const pipeline::Pipeline>> CompilePipelineLocked(const std::string& sandbox,
                                                                           const std::string& json);
  void PruneLocked(Service* service, std::vector<int64_t>* pruned);

  Catalog* catalog_;
  RegistryOptions options_;
  std::mutex upload_mu_;  // serialises uploads: check-then-insert must be atomic
  mutable std::mutex mu_;
  std::shared_ptr<const RegistrySnapshot> current_;                      // guarded by mu_
  std::map<std::string, std::weak_ptr<const engine::Model>> compiled_;  // by sha256, guarded by mu_
  std::vector<std::shared_ptr<const engine::Model>> recent_uploads_;    // guarded by mu_
  std::map<std::pair<std::string, std::string>, int64_t> last_revision_;  // guarded by mu_
  std::map<std::pair<std::string, std::string>, std::shared_ptr<ServiceStats>> stats_;  // guarded by mu_
  std::atomic<uint64_t> version_{1};
};

// Model names, service names and sandboxes: 1-128 of [A-Za-z0-9_.-].
Status ValidateName(std::string_view kind, std::string_view name);

}  // namespace rtml::serving
