// Feature hashing with MurmurHash3 x86_32; see feature_hasher.h for the scheme.
#include "learning/feature_hasher.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>

namespace rtml::learning {
namespace {

constexpr uint32_t kC1 = 0xcc9e2d51;
constexpr uint32_t kC2 = 0x1b873593;

inline uint32_t MixBlock(uint32_t k) {
  k *= kC1;
  k = std::rotl(k, 15);
  return k * kC2;
}

inline uint32_t MixState(uint32_t h, uint32_t k) {
  h ^= MixBlock(k);
  h = std::rotl(h, 13);
  return h * 5 + 0xe6546b64;
}

inline uint32_t Finalize(uint32_t h, uint32_t length) {
  h ^= length;
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

inline uint32_t LoadLe32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

}  // namespace

uint32_t Murmur3(std::string_view data, uint32_t seed) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const size_t blocks = data.size() / 4;
  uint32_t h = seed;
  for (size_t i = 0; i < blocks; ++i) h = MixState(h, LoadLe32(bytes + 4 * i));
  const unsigned char* tail = bytes + 4 * blocks;
  uint32_t k = 0;
  switch (data.size() & 3) {
    case 3:
      k ^= static_cast<uint32_t>(tail[2]) << 16;
      [[fallthrough]];
    case 2:
      k ^= static_cast<uint32_t>(tail[1]) << 8;
      [[fallthrough]];
    case 1:
      k ^= tail[0];
      h ^= MixBlock(k);
      break;
    default:
      break;
  }
  // The reference algorithm mixes the length in modulo 2^32.
  return Finalize(h, static_cast<uint32_t>(data.size()));
}

uint32_t Murmur3U32(uint32_t key, uint32_t seed) { return Finalize(MixState(seed, key), 4); }

FeatureHasher::FeatureHasher(int bits)
    : bits_(std::clamp(bits, kMinBits, kMaxBits)), mask_((uint32_t{1} << bits_) - 1) {}

StatusOr<FeatureHasher> FeatureHasher::Create(int bits) {
  if (bits < kMinBits || bits > kMaxBits) {
    return InvalidArgumentError("bits must be in [" + std::to_string(kMinBits) + ", " +
                                std::to_string(kMaxBits) + "], got " + std::to_string(bits));
  }
  return FeatureHasher(bits);
}

void FeatureHasher::Numeric(std::string_view name, double value,
                            std::vector<HashedFeature>& out) const {
  if (!std::isfinite(value)) return;
  out.push_back({Murmur3(name, kNumericSeed) & mask_, static_cast<float>(value)});
}

void FeatureHasher::Categorical(std::string_view name, std::string_view value,
                                std::vector<HashedFeature>& out) const {
  out.push_back({Murmur3(value, Murmur3(name, kCategoricalSeed)) & mask_, 1.0f});
}

void FeatureHasher::Bias(std::vector<HashedFeature>& out) const {
  out.push_back({Murmur3(std::string_view(), kBiasSeed) & mask_, 1.0f});
}

void FeatureHasher::CrossWithArm(std::string_view arm, std::span<const HashedFeature> base,
                                 std::vector<HashedFeature>& out) const {
  const uint32_t arm_seed = Murmur3(arm, kArmSeed);
  // `base` may point into `out`: remember it by position so that growing
  // `out` cannot leave it dangling.
  const HashedFeature* out_begin = out.data();
  const bool aliased = !base.empty() && out_begin != nullptr &&
                       std::less_equal<const HashedFeature*>()(out_begin, base.data()) &&
                       std::less<const HashedFeature*>()(base.data(), out_begin + out.size());
  const size_t offset = aliased ? static_cast<size_t>(base.data() - out_begin) : 0;
  out.reserve(out.size() + base.size() + 1);
  if (aliased) base = std::span<const HashedFeature>(out.data() + offset, base.size());
  for (size_t i = 0; i < base.size(); ++i) {
    const HashedFeature f = base[i];
    out.push_back({Murmur3U32(f.index, arm_seed) & mask_, f.value});
  }
  out.push_back({Murmur3U32(0xFFFFFFFFu, arm_seed) & mask_, 1.0f});
}

}  // namespace rtml::learning
