#include "common/histogram.h"

#include <bit>

namespace rtml {

LatencyHistogram::LatencyHistogram(int shards)
    : num_shards_(shards < 1 ? 1 : shards), shards_(std::make_unique<Shard[]>(static_cast<size_t>(num_shards_))) {
  for (int s = 0; s < num_shards_; ++s) {
    for (auto& c : shards_[static_cast<size_t>(s)].counts) c.store(0, std::memory_order_relaxed);
    shards_[static_cast<size_t>(s)].sum_nanos.store(0, std::memory_order_relaxed);
  }
}

int LatencyHistogram::BucketOf(int64_t nanos) {
  if (nanos < 64) return 0;
  const uint64_t v = static_cast<uint64_t>(nanos);
  const int log2 = 63 - std::countl_zero(v);  // >= 6
  const int octave = log2 - 6;
  if (octave >= kOctaves) return kBuckets - 1;
  const int sub = static_cast<int>((v >> (log2 - 3)) & 7);
  return 1 + octave * kSubBuckets + sub;
}

int64_t LatencyHistogram::BucketUpperNanos(int bucket) {
  if (bucket <= 0) return 64;
  if (bucket >= kBuckets - 1) return int64_t{1} << (6 + kOctaves);
  const int octave = (bucket - 1) / kSubBuckets;
  const int sub = (bucket - 1) % kSubBuckets;
  const int64_t base = int64_t{1} << (octave + 6);
  return base + (base / 8) * (sub + 1);
}

void LatencyHistogram::Record(int shard, int64_t nanos) {
  if (shard < 0 || shard >= num_shards_) shard = 0;
  Shard& s = shards_[static_cast<size_t>(shard)];
  s.counts[BucketOf(nanos)].fetch_add(1, std::memory_order_relaxed);
  s.sum_nanos.fetch_add(static_cast<uint64_t>(nanos < 0 ? 0 : nanos), std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::Read() const {
  Snapshot snap;
  snap.counts.assign(kBuckets, 0);
  uint64_t sum = 0;
  for (int s = 0; s < num_shards_; ++s) {
    const Shard& sh = shards_[static_cast<size_t>(s)];
    for (int b = 0; b < kBuckets; ++b) snap.counts[static_cast<size_t>(b)] += sh.counts[b].load(std::memory_order_relaxed);
    sum += sh.sum_nanos.load(std::memory_order_relaxed);
  }
  for (uint64_t c : snap.counts) snap.total += c;
  snap.sum_seconds = static_cast<double>(sum) / 1e9;
  return snap;
}

int64_t LatencyHistogram::Snapshot::QuantileNanos(double q) const {
  if (total == 0) return 0;
  const uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total - 1));
  uint64_t seen = 0;
  for (size_t b = 0; b < counts.size(); ++b) {
    seen += counts[b];
    if (seen > rank) return BucketUpperNanos(static_cast<int>(b));
  }
  return BucketUpperNanos(kBuckets - 1);
}

uint64_t LatencyHistogram::Snapshot::CountAtMost(int64_t nanos) const {
  uint64_t n = 0;
  for (size_t b = 0; b < counts.size(); ++b) {
    if (BucketUpperNanos(static_cast<int>(b)) > nanos) break;
    n += counts[b];
  }
  return n;
}

}  // namespace rtml
