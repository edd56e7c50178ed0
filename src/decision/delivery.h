// Delivery: activities, segments, decisions, feedback, online learning and
// reports (SPEC section 4, "Delivery and learning"). One per server; every
// object is scoped to a sandbox.
//
// Durability: activities, segments, decisions, feedback and learner
// snapshots live in <data-dir>/delivery.db (SQLite WAL, synchronous=FULL).
// Writes go through one writer thread that commits in groups; Decide and
// Feedback call `done` only after the commit holding their rows, so an
// acknowledged decision or reward survives kill -9.
//
// Learning: a decision stays open until a reward arrives (explicit feedback,
// or a goal event ingested for the same identity within the activity's
// reward window) or the window ends (default reward). Closing a decision of a
// bandit activity updates that activity's FTRL learner with the features
// logged at decision time; a publisher thread makes new weights visible to
// decisions every `publish_interval_ms`. Learner snapshots are saved with the
// sequence number of the last applied close; Load replays later closes, so a
// restart loses no learning.
//
// Thread-safety: all public methods may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "decision/activity.h"

namespace rtml::data {
class DataStore;
struct CommittedEvent;
}  // namespace rtml::data

namespace rtml::decision {

// Named feature values of one row to score (an experience with its request).
class FeatureSource {
 public:
  virtual ~FeatureSource() = default;
  // The value for a service input `name`, or null when there is none.
  virtual const FeatureValue* Find(std::string_view name) const = 0;
};

// Scores rows with a deployed service; implemented above this component
// (serving), which owns the services.
class ExperienceScorer {
 public:
  virtual ~ExperienceScorer() = default;
  // Whether `service` exists in `sandbox` and can score rows by named inputs
  // (a pipeline service) with `output` (empty: its first output).
  virtual Status Check(const std::string& sandbox, const std::string& service, const std::string& output) const = 0;
  // One score per row: the output's number (for a vector output, its last
  // element, the positive class of a binary classifier).
  virtual Status Score(const std::string& sandbox, const std::string& service, const std::string& output,
                       std::string_view identity, int64_t now_ms, std::span<const FeatureSource* const> rows,
                       std::span<double> scores) = 0;
};

struct DeliveryOptions {
  std::string data_dir;
  std::function<int64_t()> clock;       // epoch ms; default: the wall clock
  int64_t publish_interval_ms = 50;     // learner weights made visible at least this often
  int64_t sweep_interval_ms = 200;      // decisions past their window closed this often
  int64_t snapshot_interval_ms = 10'000;
  size_t max_open_decisions = 1'000'000;  // beyond: the oldest are closed with their default reward
  size_t max_group = 4096;                // writes per group commit
  size_t report_log_limit = 200'000;      // most recent closed decisions used by off-policy estimates
};

class Delivery {
 public:
  static StatusOr<std::unique_ptr<Delivery>> Open(DeliveryOptions options, data::DataStore* data,
                                                  ExperienceScorer* scorer);
  ~Delivery();  // stops the threads after a last snapshot
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;

  // Loads activities, segments, open decisions and learners; replays closes
  // newer than each learner's snapshot. Starts the background threads.
  Status Load();

  // Activities (PUT body per SPEC; `created` tells 201 from 200).
  StatusOr<std::string> PutActivity(const std::string& sandbox, const std::string& name, std::string_view body,
                                    bool* created);
  StatusOr<std::string> GetActivity(const std::string& sandbox, const std::string& name) const;
  StatusOr<std::string> ListActivities(const std::string& sandbox) const;
  Status DeleteActivity(const std::string& sandbox, const std::string& name);

  // Segments: named conditions, referenced as {"$segment": "name"}.
  StatusOr<std::string> PutSegment(const std::string& sandbox, const std::string& name, std::string_view body,
                                   bool* created);
  StatusOr<std::string> GetSegment(const std::string& sandbox, const std::string& name) const;
  StatusOr<std::string> ListSegments(const std::string& sandbox) const;
  Status DeleteSegment(const std::string& sandbox, const std::string& name);

  // POST /v1/decisions. `done` runs once the decision is durable (on the
  // writer thread), or at once on an error.
  void Decide(const std::string& sandbox, std::string_view body, std::function<void(StatusOr<std::string>)> done);
  // POST /v1/feedback. `done` runs once the reward is durable.
  void Feedback(const std::string& sandbox, std::string_view body, std::function<void(StatusOr<std::string>)> done);
  // Synchronous forms (tests, benchmarks).
  StatusOr<std::string> DecideAndWait(const std::string& sandbox, std::string_view body);
  StatusOr<std::string> FeedbackAndWait(const std::string& sandbox, std::string_view body);
  // The decision alone, neither logged nor opened (benchmarks of the decision path).
  StatusOr<std::string> DecideDryRun(const std::string& sandbox, std::string_view body);

  // GET /v1/activities/{name}/report and /learner.
  StatusOr<std::string> Report(const std::string& sandbox, const std::string& name) const;
  StatusOr<std::string> LearnerJson(const std::string& sandbox, const std::string& name) const;

  // Goal events from ingestion (DataOptions::on_event).
  void OnEvent(const data::CommittedEvent& event);

  // Prometheus text for /metrics.
  void AppendMetrics(std::string* out) const;

  struct Impl;

 private:
  explicit Delivery(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rtml::decision
