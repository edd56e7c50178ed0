// Online logistic regression with FTRL-Proximal over hashed features
// (McMahan et al., "Ad Click Prediction: a View from the Trenches", KDD 2013,
// Algorithm 1: per-coordinate learning rates, z and n accumulators, L1/L2).
// One writer state (z, n and the weights they imply) lives behind a mutex;
// readers score against immutable published FtrlWeights snapshots that
// Publish() makes visible. Algorithm, guards and defaults: docs/learning.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "learning/feature_hasher.h"

namespace rtml::learning {

struct FtrlOptions {
  double alpha = 0.1;  // per-coordinate learning rate scale
  double beta = 1.0;   // smoothing of the per-coordinate rate at small n
  // Small L1: keeps the weights of coordinates whose accumulated gradient
  // stays under 0.1 (hash-collision noise, features seen once with a near
  // right prediction) at exactly zero, while a feature seen once with a
  // clearly wrong prediction starts to learn at once (feedback within 1 s).
  double l1 = 0.1;
  double l2 = 1.0;
  int bits = 20;                       // 2^bits coordinates, [10, 26]
  double max_abs_gradient = 10.0;      // per-coordinate gradient clipped to +-this
  double max_abs_feature_value = 1e4;  // an update with a larger |x| is rejected
  double max_abs_weight = 50.0;        // weights clamped to +-this
};

// OK, or INVALID_ARGUMENT naming the offending field and its allowed range.
Status ValidateOptions(const FtrlOptions& options);

// An immutable set of weights published by an FtrlLearner.
// Thread-safety: immutable once published; all methods are const, lock-free
// and allocation-free, and may run concurrently from any number of threads.
class FtrlWeights {
 public:
  FtrlWeights(const FtrlWeights&) = delete;
  FtrlWeights& operator=(const FtrlWeights&) = delete;

  // Sum of w[index] * value. Indices are masked to the table size (a feature
  // hashed with more bits cannot read out of bounds); non-finite values are
  // skipped, as the hasher does.
  double Margin(std::span<const HashedFeature> x) const;
  // sigmoid(Margin(x)) = 1 / (1 + exp(-margin)).
  double Predict(std::span<const HashedFeature> x) const;
  // Number of accepted updates contained in these weights.
  uint64_t version() const { return version_; }
  int bits() const { return bits_; }
  size_t size() const { return size_t{1} << bits_; }
  // The weight of one coordinate (index masked like Margin).
  double weight(uint32_t index) const { return w_[index & mask_]; }

 private:
  friend class FtrlLearner;
  explicit FtrlWeights(int bits);

  int bits_;
  uint32_t mask_;
  uint64_t version_ = 0;
  std::unique_ptr<double[]> w_;
};

// Progressive validation (each example is scored before it is learned from).
struct ProgressiveMetrics {
  uint64_t updates = 0;   // accepted Update calls
  uint64_t rejected = 0;  // Update calls refused with INVALID_ARGUMENT
  double logloss = 0;     // mean over all accepted updates (p clipped to [1e-15, 1 - 1e-15])
  // Over the most recent min(updates, kRecentWindow) predictions. AUC counts
  // labels >= 0.5 as positive and is NaN while the window lacks a positive or
  // a negative; recent_logloss is NaN with an empty window.
  double auc = 0;
  double recent_logloss = 0;
  uint64_t recent_count = 0;
  uint64_t published_version = 0;
};

// Thread-safety: Update and Publish may be called from several threads (they
// serialize on an internal mutex); Current, metrics and SaveSnapshot may run
// concurrently with them. Current() never waits for the writer.
class FtrlLearner {
 public:
  static constexpr size_t kRecentWindow = 10'000;

  // Constructors do not fail: `bits` is clamped into [10, 26] and any other
  // field that ValidateOptions would reject is replaced by its default (see
  // options()). Create returns the validation error instead.
  explicit FtrlLearner(FtrlOptions options);
  static StatusOr<std::unique_ptr<FtrlLearner>> Create(const FtrlOptions& options);
  ~FtrlLearner();
  FtrlLearner(const FtrlLearner&) = delete;
  FtrlLearner& operator=(const FtrlLearner&) = delete;

  // Progressive validation then learning: predicts x with the current
  // (unpublished) weights, records the prediction for the metrics, then
  // applies the FTRL-Proximal update with gradient weight * (p - label) * x_i.
  // label in [0, 1]; weight finite and > 0 (an importance weight). A
  // non-finite value, |value| > max_abs_feature_value, an index outside the
  // table, or a bad label/weight -> INVALID_ARGUMENT and nothing changes.
  // Allocation-free.
  Status Update(std::span<const HashedFeature> x, double label, double weight = 1.0);

  // Makes every update so far visible to Current(). Cost is proportional to
  // the coordinates changed since the previous Publish (a full copy only when
  // a reader still holds the snapshot before last, or more than 1/8 of the
  // table changed). A no-op when nothing changed.
  void Publish();

  // The latest published weights (version 0, all zero, before any Publish).
  std::shared_ptr<const FtrlWeights> Current() const {
    return current_.load(std::memory_order_acquire);
  }

  ProgressiveMetrics metrics() const;
  const FtrlOptions& options() const { return options_; }

  // Writer-side state of one coordinate (for tests and debugging).
  struct Coordinate {
    double z, n, w;
  };
  Coordinate coordinate(uint32_t index) const;

  // Durable snapshot of the whole learner state (options, z and n of every
  // touched coordinate, counters, progressive metrics), little-endian with a
  // CRC-32; format in docs/learning.md. Load gives a learner whose Current()
  // holds every saved update, and whose SaveSnapshot is byte-identical.
  std::string SaveSnapshot() const;
  static StatusOr<std::unique_ptr<FtrlLearner>> LoadSnapshot(std::string_view bytes);

 private:
  struct Recent {
    double p, label;
  };

  // Weight implied by (z, n) per the paper, clamped to +-max_abs_weight.
  double WeightOf(double z, double n) const;
  double WeightOfRoot(double z, double sqrt_n) const;  // same, given sqrt(n)
  void MarkDirty(uint32_t index);                      // requires mu_
  void PublishLocked();                                // requires mu_

  const FtrlOptions options_;
  const uint32_t mask_;

  mutable std::mutex mu_;
  // Guarded by mu_: the writer state.
  std::unique_ptr<Coordinate[]> coords_;
  uint64_t updates_ = 0;
  uint64_t rejected_ = 0;
  double logloss_sum_ = 0;
  std::vector<Recent> recent_;  // ring of kRecentWindow entries
  size_t recent_next_ = 0;
  size_t recent_size_ = 0;
  // Dirty tracking since the last Publish (bitmap dedups the list); when the
  // list would exceed 1/8 of the table, all_dirty_ replaces it.
  std::vector<uint64_t> dirty_bits_;
  std::vector<uint32_t> dirty_;
  bool all_dirty_ = false;
  // The delta applied by the previous Publish, to bring the retired buffer
  // (one version behind current) up to date.
  std::vector<uint32_t> previous_dirty_;
  bool previous_all_dirty_ = false;
  std::shared_ptr<FtrlWeights> front_;    // == current_, writable alias held by the writer
  std::shared_ptr<FtrlWeights> retired_;  // the snapshot before front_, reused when unshared

  std::atomic<std::shared_ptr<const FtrlWeights>> current_;
};

}  // namespace rtml::learning
