// Deterministic traffic allocation (SPEC section 4): the same activity, salt
// and identity always land in the same arm, on every server and in any client
// that implements the documented hash (docs/conditions.md, "Traffic
// allocation", with test vectors). Pure functions: thread-safe, no allocation.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace rtml::decision {

// Number of buckets the hash is reduced to before arms are picked.
inline constexpr uint32_t kAllocationBuckets = 10'000;

// MurmurHash3 x86 32-bit (Austin Appleby, SMHasher, public domain algorithm).
uint32_t Murmur3_32(std::string_view bytes, uint32_t seed);

// MurmurHash3 x86 32-bit (seed 0) of the UTF-8 bytes of
// activity + ":" + salt + ":" + identity (hashed in place, nothing is copied).
uint32_t AllocationHash(std::string_view activity, std::string_view salt, std::string_view identity);

// The bucket hash % kAllocationBuckets, mapped onto cumulative weights: with
// W the sum of the positive weights and x = (bucket + 0.5) * W / 10000, returns
// the first arm i with weights[i] > 0 and x < weights[0] + ... + weights[i]
// (non-positive, infinite and NaN weights count as 0 and are never picked; rounding
// at the top end falls to the last positive arm). Weights need not sum to 1.
// Returns -1 when no weight is positive.
int PickByWeights(uint32_t hash, std::span<const double> weights);

}  // namespace rtml::decision
