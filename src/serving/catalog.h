// Catalog: the durable record of models, services, revisions and API keys.
//
// Rows live in <data-dir>/catalog.db (SQLite, WAL, synchronous=FULL: the
// catalog changes rarely and every change must survive a crash); model files
// live in <data-dir>/models/<sha256>.onnx, written to a temporary file,
// fsynced and renamed into place. Thread-safe: one mutex serialises access
// to the connection.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/sqlite.h"
#include "common/status.h"

namespace rtml::serving {

struct ModelVersionRecord {
  std::string sandbox;
  std::string name;
  int64_t version = 0;
  std::string sha256;
  int64_t size_bytes = 0;
  std::string created;    // RFC 3339, UTC
  std::string signature;  // JSON {"inputs":[...],"outputs":[...]}
};

struct ServiceRecord {
  std::string sandbox;
  std::string name;
  std::string created;
  std::string updated;
  std::string traffic;  // JSON [{"revision":n,"percent":p}, ...]
};

struct RevisionRecord {
  std::string sandbox;
  std::string service;
  int64_t revision = 0;
  std::string spec;  // JSON: {"model":{"name","version"}} or {"pipeline":{...}}
  std::string created;
};

struct KeyRecord {
  std::string id;
  std::string hash;       // SHA-256 of the key; the key itself is never stored
  std::string role;
  std::string sandboxes;  // JSON array; ["*"] for all
  std::string description;
  std::string created;
};

// Current time as RFC 3339 with millisecond precision, UTC.
std::string NowRfc3339();

class Catalog {
 public:
  static StatusOr<std::unique_ptr<Catalog>> Open(const std::string& data_dir);

  const std::string& data_dir() const { return data_dir_; }
  std::string ModelPath(const std::string& sha256) const;
  // Writes the file once (content-addressed); durable on return.
  Status StoreModelFile(const std::string& sha256, std::string_view bytes);
  StatusOr<std::string> ReadModelFile(const std::string& sha256) const;
  Status RemoveModelFileIfUnused(const std::string& sha256);

  StatusOr<std::vector<ModelVersionRecord>> ListModels() const;
  // The version of (sandbox, name) holding exactly this content, if any.
  StatusOr<std::optional<ModelVersionRecord>> FindModelBySha(std::string_view sandbox, std::string_view name,
                                                              std::string_view sha256) const;
  // Inserts the next version number of (sandbox, name).
  StatusOr<ModelVersionRecord> AddModelVersion(ModelVersionRecord record);
  Status DeleteModelVersion(std::string_view sandbox, std::string_view name, int64_t version);

  StatusOr<std::vector<ServiceRecord>> ListServices() const;
  StatusOr<std::vector<RevisionRecord>> ListRevisions() const;
  // Upserts the service row and inserts the revision in one transaction.
  Status SaveRevision(const ServiceRecord& service, const RevisionRecord& revision);
  Status UpdateService(const ServiceRecord& service);
  Status DeleteRevisions(std::string_view sandbox, std::string_view service, const std::vector<int64_t>& revisions);
  Status DeleteService(std::string_view sandbox, std::string_view name);

  // Training runs: one JSON record per run (the run's full state).
  struct TrainingRunRecord {
    std::string id;
    std::string sandbox;
    std::string record;  // JSON
  };
  Status SaveTrainingRun(const TrainingRunRecord& run);
  StatusOr<std::vector<TrainingRunRecord>> ListTrainingRuns() const;
  // <data-dir>/runs/<id>.<suffix>: run artifacts (validation scores).
  Status StoreRunArtifact(const std::string& id, const std::string& suffix, std::string_view bytes);
  StatusOr<std::string> ReadRunArtifact(const std::string& id, const std::string& suffix) const;

  StatusOr<std::vector<KeyRecord>> ListKeys() const;
  Status AddKey(const KeyRecord& key);
  // NotFound when no such key.
  Status DeleteKey(std::string_view id);

 private:
  Catalog(std::string data_dir, std::unique_ptr<sqlite::Database> db);
  Status Migrate();

  const std::string data_dir_;
  mutable std::mutex mu_;
  std::unique_ptr<sqlite::Database> db_;  // guarded by mu_
};

}  // namespace rtml::serving
