// TrainingRuns: background training jobs (POST /v1/training-runs).
//
// A run reads its data through the data store's read-only SQL (a dataset is
// `SELECT * FROM <dataset>`), fits the pipeline's fitted nodes on the
// training rows, trains with XGBoost on one dedicated thread (never an
// event-loop thread), exports the booster to ONNX, stores it as a new model
// version and records a deployable pipeline: the fitted feature pipeline
// followed by the model and its outputs. Runs and their results are kept in
// the catalog. Thread-safety: all methods may be called from any thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/thread_pool.h"
#include "serving/catalog.h"

namespace rtml::data {
class DataStore;
}

namespace rtml::serving {

class ServiceRegistry;

class TrainingRuns {
 public:
  TrainingRuns(Catalog* catalog, ServiceRegistry* registry, data::DataStore* data);
  ~TrainingRuns();

  // Loads run records; runs that were queued or running when the server
  // stopped are marked failed ("interrupted by a restart").
  Status Load();

  // Validates the request and queues the run: {"id","status"}.
  StatusOr<std::string> Start(const std::string& sandbox, std::string_view body);
  StatusOr<std::string> Get(const std::string& sandbox, const std::string& id) const;
  StatusOr<std::string> List(const std::string& sandbox) const;
  Status Cancel(const std::string& sandbox, const std::string& id);
  // The deployable pipeline JSON of a succeeded run.
  StatusOr<std::string> PipelineOf(const std::string& sandbox, const std::string& id) const;
  // Validation rows scored by the final pipeline's columnar plan:
  // {"rows":[{"row": i, "_id"?: "...", "<output>": value, ...}]}.
  StatusOr<std::string> ValidationOf(const std::string& sandbox, const std::string& id) const;

  struct Run;

 private:
  void Execute(std::shared_ptr<Run> run);
  Status Persist(const Run& run);

  Catalog* catalog_;
  ServiceRegistry* registry_;
  data::DataStore* data_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Run>> runs_;  // by id, guarded by mu_
  ThreadPool pool_;                                   // one training thread
};

}  // namespace rtml::serving
