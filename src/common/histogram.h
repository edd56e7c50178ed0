// LatencyHistogram: a lock-free, per-thread-sharded histogram of durations.
//
// Buckets are log-linear (8 per power of two) from 64 ns to about 70 s, so
// percentiles are accurate to about 9%. Each recording thread writes its own
// cache-line-aligned shard with relaxed atomics; readers sum the shards.
// Thread-safety: Record from any thread (shard index chosen by the caller,
// e.g. the event-loop index); Snapshot from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace rtml {

class LatencyHistogram {
 public:
  static constexpr int kSubBuckets = 8;
  static constexpr int kOctaves = 31;  // 2^6 ns .. 2^36 ns
  static constexpr int kBuckets = kSubBuckets * kOctaves + 1;

  explicit LatencyHistogram(int shards);
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  // shard in [0, shards); out-of-range shards fold into shard 0.
  void Record(int shard, int64_t nanos);

  struct Snapshot {
    std::vector<uint64_t> counts;  // per bucket
    uint64_t total = 0;
    double sum_seconds = 0;
    // Upper bound (ns) of the bucket holding quantile q in [0, 1]; 0 if empty.
    int64_t QuantileNanos(double q) const;
    // Observations <= `nanos` (bucket granularity).
    uint64_t CountAtMost(int64_t nanos) const;
  };
  Snapshot Read() const;

  static int BucketOf(int64_t nanos);
  static int64_t BucketUpperNanos(int bucket);

 private:
  struct alignas(64) Shard {
    std::atomic<uint64_t> counts[kBuckets];
    std::atomic<uint64_t> sum_nanos;
  };
  int num_shards_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace rtml
