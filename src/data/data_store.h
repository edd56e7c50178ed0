// DataStore: schemas, datasets, durable ingestion, SQL queries and live
// profiles, one SQLite database per sandbox (<data-dir>/data/<sandbox>.db).
//
// Ingestion: a request's records are parsed and validated on the calling
// thread, then handed to one writer thread that commits whatever is queued
// in a single transaction (group commit: WAL, synchronous=FULL, so a commit
// returns only after fsync). Each request's completion callback runs after
// the commit that holds its records and after the profiles saw them, so an
// acknowledged record is durable and visible. Records are idempotent on
// `_id` (INSERT OR IGNORE on a unique column).
// Queries run on separate read-only connections with an authorizer that
// permits only reads, a row limit and a time limit.
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/sqlite.h"
#include "common/status.h"
#include "common/table.h"

namespace rtml::data {

class Schema;
class ProfileStore;

// An experience event just committed (first time stored), as seen by
// DataOptions::on_event. Views are valid only during the call.
struct CommittedEvent {
  std::string_view sandbox;
  std::string_view dataset;
  std::string_view event_type;
  std::span<const std::string> identities;  // "NS:ID" from identityMap
  int64_t timestamp_ms;
};

struct DataOptions {
  std::string data_dir;
  // Called on the writer thread after each commit, once per newly stored
  // experience event that has an eventType and an identity (duplicates are
  // not repeated). Must be quick; it runs before the batch is acknowledged.
  std::function<void(const CommittedEvent&)> on_event;
  int64_t query_row_limit = 10'000;
  int64_t query_time_limit_ms = 5'000;
  size_t max_group_records = 20'000;  // records per group commit
  size_t max_errors_per_record = 10;
  int64_t lateness_ms = 5 * 60 * 1000;
  int max_concurrent_queries = 2;  // more get ResourceExhausted (429)
};

struct IngestResult {
  int64_t accepted = 0;    // valid records (stored now or already stored)
  int64_t duplicates = 0;  // valid records whose _id was already stored
  struct Rejection {
    int64_t index = 0;
    std::vector<std::string> errors;
  };
  std::vector<Rejection> rejected;
  std::string ToJson() const;
};

class DataStore {
 public:
  static StatusOr<std::unique_ptr<DataStore>> Open(DataOptions options);
  ~DataStore();
  DataStore(const DataStore&) = delete;
  DataStore& operator=(const DataStore&) = delete;

  // Opens every sandbox database on disk and rebuilds profiles from the
  // stored events. Call once before serving.
  Status Load();

  // Schemas: PUT body per SPEC. `created` tells 201 from 200. Evolution is
  // additive; a breaking change is Conflict naming the field.
  StatusOr<std::string> PutSchema(const std::string& sandbox, const std::string& name, std::string_view body,
                                  bool* created);
  StatusOr<std::string> GetSchema(const std::string& sandbox, const std::string& name) const;
  StatusOr<std::string> ListSchemas(const std::string& sandbox) const;

  // Datasets: {"schema": name}. The schema of an existing dataset cannot change.
  StatusOr<std::string> PutDataset(const std::string& sandbox, const std::string& name, std::string_view body,
                                   bool* created);
  StatusOr<std::string> GetDataset(const std::string& sandbox, const std::string& name) const;
  StatusOr<std::string> ListDatasets(const std::string& sandbox) const;

  // Validates `*body` (a JSON array of records, or NDJSON when `ndjson`) and
  // queues the valid records. `done` runs once, on the writer thread after
  // the commit (or on this thread for request-level errors). The stored
  // records are slices of `*body`: it must stay alive and unchanged until
  // `done` has run (it may get padding capacity reserved).
  void Ingest(const std::string& sandbox, const std::string& dataset, std::string* body, bool ndjson,
              std::function<void(StatusOr<IngestResult>)> done);
  // Synchronous convenience (tests, tools).
  StatusOr<IngestResult> IngestAndWait(const std::string& sandbox, const std::string& dataset, std::string_view body,
                                       bool ndjson);

  // Read-only SQL over the sandbox's datasets: {"columns","rows","truncated","elapsed_ms"}.
  StatusOr<std::string> Query(const std::string& sandbox, std::string_view sql) const;
  // The same as a Table, for training and batch scoring (no concurrency cap;
  // the caller runs it on its own thread).
  StatusOr<Table> QueryTable(const std::string& sandbox, std::string_view sql, int64_t row_limit,
                             int64_t time_limit_ms) const;

  // Computed attributes: PUT body per SPEC. Defining or changing one
  // rebuilds the sandbox's profiles from stored events.
  StatusOr<std::string> PutComputedAttribute(const std::string& sandbox, const std::string& name,
                                             std::string_view body, bool* created);
  StatusOr<std::string> ListComputedAttributes(const std::string& sandbox) const;
  Status DeleteComputedAttribute(const std::string& sandbox, const std::string& name);

  // GET /v1/profiles/{namespace}/{id}
  StatusOr<std::string> ProfileJson(const std::string& sandbox, std::string_view identity) const;
  // The sandbox's profile store (for in-process lookups); null if none yet.
  std::shared_ptr<const ProfileStore> Profiles(const std::string& sandbox) const;

  const DataOptions& options() const { return options_; }

  struct Sandbox;
  struct Dataset;
  struct ParsedRecord;
  struct Batch;

 private:
  explicit DataStore(DataOptions options);
  StatusOr<Sandbox*> GetOrCreateSandbox(const std::string& name, bool create);
  Sandbox* FindSandbox(const std::string& name) const;
  Status OpenSandbox(const std::string& name, Sandbox* sb);
  Status RecreateView(Sandbox* sb, const std::string& dataset, const Schema& schema);  // requires sb->mu
  Status RebuildProfiles(Sandbox* sb);  // requires sb->mu
  void WriterLoop();
  void CommitGroup(std::vector<std::unique_ptr<Batch>>& group);

  const DataOptions options_;
  mutable std::mutex sandboxes_mu_;
  std::map<std::string, std::unique_ptr<Sandbox>> sandboxes_;  // guarded by sandboxes_mu_

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<std::unique_ptr<Batch>> queue_;  // guarded by queue_mu_
  bool stopping_ = false;                     // guarded by queue_mu_
  std::thread writer_;
  mutable std::atomic<int> running_queries_{0};
};

// "events" -> "\"_records_events\"" etc.
std::string QuoteIdentifier(std::string_view name);

}  // namespace rtml::data
