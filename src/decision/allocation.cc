// Traffic allocation: MurmurHash3 x86 32-bit written as a streaming hasher
// (so activity:salt:identity is hashed without building the string) and the
// weighted bucket mapping.
#include "decision/allocation.h"

#include <bit>
#include <cmath>

namespace rtml::decision {
namespace {

constexpr uint32_t kC1 = 0xcc9e2d51;
constexpr uint32_t kC2 = 0x1b873593;

uint32_t ScrambleBlock(uint32_t k) {
  k *= kC1;
  k = std::rotl(k, 15);
  return k * kC2;
}

uint32_t FinalMix(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

// MurmurHash3_x86_32 over input given in pieces: 4-byte blocks are read
// little-endian across piece boundaries, so the result equals the hash of the
// concatenation.
class Murmur3Stream {
 public:
  explicit Murmur3Stream(uint32_t seed) : h_(seed) {}

  void Add(std::string_view bytes) {
    for (char c : bytes) {
      pending_ |= static_cast<uint32_t>(static_cast<unsigned char>(c)) << (8 * pending_bytes_);
      ++length_;
      if (++pending_bytes_ == 4) {
        h_ ^= ScrambleBlock(pending_);
        h_ = std::rotl(h_, 13) * 5 + 0xe6546b64;
        pending_ = 0;
        pending_bytes_ = 0;
      }
    }
  }

  uint32_t Finish() const {
    uint32_t h = h_;
    if (pending_bytes_ > 0) h ^= ScrambleBlock(pending_);
    h ^= static_cast<uint32_t>(length_);  // the reference takes the length mod 2^32
    return FinalMix(h);
  }

 private:
  uint32_t h_;
  uint32_t pending_ = 0;  // the bytes of an incomplete block, little-endian
  uint32_t pending_bytes_ = 0;
  uint64_t length_ = 0;
};

}  // namespace

uint32_t Murmur3_32(std::string_view bytes, uint32_t seed) {
  Murmur3Stream stream(seed);
  stream.Add(bytes);
  return stream.Finish();
}

uint32_t AllocationHash(std::string_view activity, std::string_view salt,
                        std::string_view identity) {
  Murmur3Stream stream(0);
  stream.Add(activity);
  stream.Add(":");
  stream.Add(salt);
  stream.Add(":");
  stream.Add(identity);
  return stream.Finish();
}

int PickByWeights(uint32_t hash, std::span<const double> weights) {
  auto positive = [](double w) { return w > 0 && std::isfinite(w); };
  double total = 0;
  int last = -1;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (!positive(weights[i])) continue;
    total += weights[i];
    last = static_cast<int>(i);
  }
  if (last < 0) return -1;
  const double bucket = hash % kAllocationBuckets;
  const double x = (bucket + 0.5) * total / kAllocationBuckets;
  double cumulative = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (!positive(weights[i])) continue;
    cumulative += weights[i];
    if (x < cumulative) return static_cast<int>(i);
  }
  return last;
}

}  // namespace rtml::decision
