// Tests of traffic allocation: MurmurHash3 reference vectors, the published
// AllocationHash vectors of docs/conditions.md, the weighted bucket mapping,
// the split observed over 100k identities, determinism and salt reshuffling.
#include "decision/allocation.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "alloc_counter.h"

namespace rtml::decision {
namespace {

struct MurmurVector {
  std::string_view input;
  uint32_t seed;
  uint32_t hash;
};

// The widely published SMHasher vectors for MurmurHash3_x86_32.
constexpr MurmurVector kMurmurVectors[] = {
    {"", 0, 0x00000000},
    {"", 1, 0x514E28B7},
    {"", 0xffffffff, 0x81F16F39},
    {std::string_view("\0\0\0\0", 4), 0, 0x2362F9DE},
    {"hello", 0, 0x248BFA47},
    {"abc", 0, 0xB3DD93FA},
    {"The quick brown fox jumps over the lazy dog", 0, 0x2E4FF723},
    {"a", 0x9747b28c, 0x7FA09EA6},
    {"aaaa", 0x9747b28c, 0x5A97808A},
    {"Hello, world!", 0x9747b28c, 0x24884CBA},
};

TEST(Murmur3, ReferenceVectors) {
  for (const MurmurVector& v : kMurmurVectors) {
    EXPECT_EQ(Murmur3_32(v.input, v.seed), v.hash) << "'" << v.input << "' seed " << v.seed;
  }
}

struct AllocationVector {
  std::string_view activity, salt, identity;
  uint32_t hash;
  uint32_t bucket;
  int arm;  // with weights {0.5, 0.3, 0.2}
};

// Published in docs/conditions.md ("Test vectors"); computed by an independent
// implementation of the documented algorithm.
constexpr AllocationVector kAllocationVectors[] = {
    {"homepage-hero", "2024-06", "user-1", 0x5A71755C, 5052, 1},
    {"homepage-hero", "2024-06", "user-2", 0xBBBC5980, 3072, 0},
    {"homepage-hero", "2024-07", "user-1", 0x9C5D28B5, 965, 0},
    {"checkout-banner", "s1", "CRM:42", 0xB7B1E215, 8277, 2},
    {"a", "", "b", 0xF337DF1E, 5086, 1},
    {"", "", "", 0x6FC8B815, 5301, 1},
    {"promo", "x", "caf\xc3\xa9", 0x467FFA23, 2227, 0},
};

constexpr std::array<double, 3> kSplit = {0.5, 0.3, 0.2};

TEST(AllocationHash, PublishedVectors) {
  for (const AllocationVector& v : kAllocationVectors) {
    const uint32_t h = AllocationHash(v.activity, v.salt, v.identity);
    EXPECT_EQ(h, v.hash) << v.identity;
    EXPECT_EQ(h % kAllocationBuckets, v.bucket) << v.identity;
    EXPECT_EQ(PickByWeights(h, kSplit), v.arm) << v.identity;
  }
}

TEST(AllocationHash, EqualsTheHashOfTheJoinedString) {
  // Pieces of every length 0..9 so that 4-byte blocks straddle the separators.
  const std::string text = "abcdefghi";
  for (size_t a = 0; a < 10; ++a) {
    for (size_t s = 0; s < 10; ++s) {
      for (size_t i = 0; i < 10; ++i) {
        const std::string_view act(text.data(), a), salt(text.data(), s), id(text.data(), i);
        const std::string joined = std::string(act) + ":" + std::string(salt) + ":" + std::string(id);
        ASSERT_EQ(AllocationHash(act, salt, id), Murmur3_32(joined, 0)) << joined;
      }
    }
  }
}

TEST(AllocationHash, DeterministicAndAllocationFree) {
  const uint32_t first = AllocationHash("act", "salt", "user-42");
  testing::StartCountingAllocs();
  uint32_t again = 0;
  int arm = 0;
  for (int i = 0; i < 1000; ++i) {
    again = AllocationHash("act", "salt", "user-42");
    arm = PickByWeights(again, kSplit);
  }
  const int64_t allocations = testing::StopCountingAllocs();
  EXPECT_EQ(again, first);
  EXPECT_EQ(arm, PickByWeights(first, kSplit));
  if (testing::AllocCounterAvailable()) {
    EXPECT_EQ(allocations, 0);
  }
}

TEST(PickByWeights, BucketBoundaries) {
  // hash < 10000 is its own bucket.
  const std::array<double, 2> halves = {1, 1};
  EXPECT_EQ(PickByWeights(0, halves), 0);
  EXPECT_EQ(PickByWeights(4999, halves), 0);
  EXPECT_EQ(PickByWeights(5000, halves), 1);
  EXPECT_EQ(PickByWeights(9999, halves), 1);
  EXPECT_EQ(PickByWeights(10000, halves), 0);  // bucket 0 again
  EXPECT_EQ(PickByWeights(0xFFFFFFFF, halves), PickByWeights(0xFFFFFFFFu % 10000, halves));
  const std::array<double, 3> thirds = {0.2, 0.6, 0.2};
  EXPECT_EQ(PickByWeights(1999, thirds), 0);
  EXPECT_EQ(PickByWeights(2000, thirds), 1);
  EXPECT_EQ(PickByWeights(7999, thirds), 1);
  EXPECT_EQ(PickByWeights(8000, thirds), 2);
}

TEST(PickByWeights, WeightsAreNormalized) {
  const std::array<double, 3> raw = {2, 6, 2};
  const std::array<double, 3> unit = {0.2, 0.6, 0.2};
  for (uint32_t h = 0; h < 10000; ++h) ASSERT_EQ(PickByWeights(h, raw), PickByWeights(h, unit));
}

TEST(PickByWeights, ZeroNegativeAndNonFiniteWeightsAreNeverPicked) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::array<double, 5> weights = {0, 1, -3, nan, inf};
  const std::array<double, 3> last_only = {0, 0, 1};
  for (uint32_t h = 0; h < 10000; ++h) {
    ASSERT_EQ(PickByWeights(h, weights), 1);
    ASSERT_EQ(PickByWeights(h, last_only), 2);
  }
  const std::array<double, 3> tiny_first = {1e-300, 1, 0};
  EXPECT_EQ(PickByWeights(0, tiny_first), 1);
  EXPECT_EQ(PickByWeights(9999, tiny_first), 1);
}

TEST(PickByWeights, NoPositiveWeight) {
  EXPECT_EQ(PickByWeights(7, std::span<const double>()), -1);
  const std::array<double, 2> zeros = {0, -1};
  EXPECT_EQ(PickByWeights(7, zeros), -1);
}

std::vector<int> Assign(std::string_view activity, std::string_view salt,
                        std::span<const double> weights, int identities) {
  std::vector<int> arms;
  arms.reserve(static_cast<size_t>(identities));
  for (int i = 0; i < identities; ++i) {
    const std::string id = "user-" + std::to_string(i);
    arms.push_back(PickByWeights(AllocationHash(activity, salt, id), weights));
  }
  return arms;
}

TEST(Allocation, SplitOf100kIdentitiesFollowsTheWeights) {
  constexpr int kIdentities = 100'000;
  const std::vector<int> arms = Assign("homepage-hero", "2024-06", kSplit, kIdentities);
  std::array<int, 3> counts{};
  for (int a : arms) ++counts[static_cast<size_t>(a)];
  for (size_t i = 0; i < kSplit.size(); ++i) {
    const double share = counts[i] / static_cast<double>(kIdentities);
    EXPECT_NEAR(share, kSplit[i], 0.01) << "arm " << i;
  }
  // Ten equal arms: each within 1% absolute of 10%.
  const std::vector<double> ten(10, 1.0);
  std::array<int, 10> ten_counts{};
  for (int a : Assign("homepage-hero", "2024-06", ten, kIdentities)) ++ten_counts[static_cast<size_t>(a)];
  for (int c : ten_counts) EXPECT_NEAR(c / static_cast<double>(kIdentities), 0.1, 0.01);
}

TEST(Allocation, DeterministicAcrossCalls) {
  EXPECT_EQ(Assign("act", "s", kSplit, 5000), Assign("act", "s", kSplit, 5000));
}

TEST(Allocation, ChangingTheSaltReshuffles) {
  // Two equal arms: with independent hashes an identity keeps its arm with
  // probability 1/2, so about 50% change (binomial sd over 100k: 0.16%).
  constexpr int kIdentities = 100'000;
  const std::array<double, 2> halves = {0.5, 0.5};
  const std::vector<int> before = Assign("act", "salt-1", halves, kIdentities);
  const std::vector<int> after = Assign("act", "salt-2", halves, kIdentities);
  int changed = 0;
  for (size_t i = 0; i < before.size(); ++i) changed += before[i] != after[i] ? 1 : 0;
  const double share = changed / static_cast<double>(kIdentities);
  EXPECT_GT(share, 0.48);
  EXPECT_LT(share, 0.52);
  // A different activity with the same salt is reshuffled the same way.
  const std::vector<int> other = Assign("other-act", "salt-1", halves, kIdentities);
  changed = 0;
  for (size_t i = 0; i < before.size(); ++i) changed += before[i] != other[i] ? 1 : 0;
  EXPECT_NEAR(changed / static_cast<double>(kIdentities), 0.5, 0.02);
}

}  // namespace
}  // namespace rtml::decision
