// FeatureHasher: turns named features into sparse (index, value) pairs by
// hashing ("the hashing trick", Weinberger et al., ICML 2009) with 32-bit
// MurmurHash3 (x86_32), masked to `bits`. The exact scheme is documented in
// docs/learning.md; it is part of the snapshot contract (a model learned with
// one scheme is meaningless under another).
// Thread-safety: immutable after construction; every method is const and may
// run concurrently. Methods append to `out` and never clear it.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace rtml::learning {

// One non-zero coordinate of a hashed feature vector.
struct HashedFeature {
  uint32_t index;
  float value;
};

// MurmurHash3 x86_32 (Austin Appleby, public domain algorithm) of `data`.
uint32_t Murmur3(std::string_view data, uint32_t seed);
// Murmur3 of the 4 little-endian bytes of `key` (same result as the string
// form over those bytes, without building a string).
uint32_t Murmur3U32(uint32_t key, uint32_t seed);

class FeatureHasher {
 public:
  static constexpr int kMinBits = 10;
  static constexpr int kMaxBits = 26;

  // Clamps `bits` into [kMinBits, kMaxBits]; use Create to reject instead.
  explicit FeatureHasher(int bits = 20);
  // INVALID_ARGUMENT naming `bits` when outside [kMinBits, kMaxBits].
  static StatusOr<FeatureHasher> Create(int bits);

  int bits() const { return bits_; }
  uint32_t mask() const { return mask_; }

  // "name" with a numeric value: index = Murmur3(name, kNumericSeed) & mask.
  // Non-finite values append nothing (callers compare out.size() to count).
  void Numeric(std::string_view name, double value, std::vector<HashedFeature>& out) const;
  // One-hot "name=value" with value 1: index = Murmur3(value, Murmur3(name,
  // kCategoricalSeed)) & mask (the name's hash seeds the value's hash, so no
  // separator can make two (name, value) pairs collide by construction).
  void Categorical(std::string_view name, std::string_view value,
                   std::vector<HashedFeature>& out) const;
  // The global intercept: index = Murmur3("", kBiasSeed) & mask, value 1.
  void Bias(std::vector<HashedFeature>& out) const;
  // Appends every feature f of `base` re-hashed with the arm:
  //   a = Murmur3(arm, kArmSeed); index = Murmur3U32(f.index, a) & mask, same value,
  // then the arm's own bias: Murmur3U32(0xFFFFFFFF, a) & mask, value 1
  // (0xFFFFFFFF is never a masked base index). `base` may be a view of `out`.
  void CrossWithArm(std::string_view arm, std::span<const HashedFeature> base,
                    std::vector<HashedFeature>& out) const;

  static constexpr uint32_t kNumericSeed = 0x6e756d31;      // "num1"
  static constexpr uint32_t kCategoricalSeed = 0x63617431;  // "cat1"
  static constexpr uint32_t kBiasSeed = 0x62696131;         // "bia1"
  static constexpr uint32_t kArmSeed = 0x61726d31;          // "arm1"

 private:
  int bits_;
  uint32_t mask_;
};

}  // namespace rtml::learning
