// Tests of feature hashing: MurmurHash3 x86_32 against published vectors
// (the same values as scikit-learn's murmurhash3_32), the documented index
// scheme, determinism, masking, non-finite values, and CrossWithArm
// independence between arms (including `base` aliasing `out`).
#include "learning/feature_hasher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <string>

namespace rtml::learning {
namespace {

using ::testing::HasSubstr;

TEST(Murmur3Test, MatchesReferenceVectors) {
  EXPECT_EQ(Murmur3("", 0), 0u);
  EXPECT_EQ(Murmur3("", 1), 0x514E28B7u);
  EXPECT_EQ(Murmur3("", 0xFFFFFFFFu), 0x81F16F39u);
  EXPECT_EQ(Murmur3("hello", 0), 0x248BFA47u);
  EXPECT_EQ(Murmur3("The quick brown fox jumps over the lazy dog", 0), 0x2E4FF723u);
  EXPECT_EQ(Murmur3("aaaa", 0x9747B28Cu), 0x5A97808Au);
  EXPECT_EQ(Murmur3("abc", 0x9747B28Cu), 0xC84A62DDu);
  EXPECT_EQ(Murmur3("Hello, world!", 0x9747B28Cu), 0x24884CBAu);
}

TEST(Murmur3Test, U32FormEqualsStringFormOverLittleEndianBytes) {
  for (uint32_t key : {0u, 1u, 0x01020304u, 0xFFFFFFFFu, 123456789u}) {
    for (uint32_t seed : {0u, 7u, 0x61726D31u}) {
      const char bytes[4] = {static_cast<char>(key & 0xFF), static_cast<char>((key >> 8) & 0xFF),
                             static_cast<char>((key >> 16) & 0xFF), static_cast<char>(key >> 24)};
      EXPECT_EQ(Murmur3U32(key, seed), Murmur3(std::string_view(bytes, 4), seed))
          << key << " " << seed;
    }
  }
  EXPECT_EQ(Murmur3U32(0xFFFFFFFFu, 0x61726D31u), 0xC3C0E74Au);
}

TEST(FeatureHasherTest, BitsAreClampedOrRejected) {
  EXPECT_EQ(FeatureHasher(4).bits(), 10);
  EXPECT_EQ(FeatureHasher(40).bits(), 26);
  EXPECT_EQ(FeatureHasher().bits(), 20);
  EXPECT_EQ(FeatureHasher(12).mask(), 4095u);
  auto low = FeatureHasher::Create(9);
  ASSERT_FALSE(low.ok());
  EXPECT_EQ(low.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(low.status().message(), HasSubstr("bits"));
  EXPECT_FALSE(FeatureHasher::Create(27).ok());
  ASSERT_TRUE(FeatureHasher::Create(26).ok());
  EXPECT_EQ(FeatureHasher::Create(10)->bits(), 10);
}

TEST(FeatureHasherTest, FollowsTheDocumentedScheme) {
  const FeatureHasher h(18);
  std::vector<HashedFeature> out;
  h.Numeric("price", 2.5, out);
  h.Categorical("device", "mobile", out);
  h.Bias(out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].index, Murmur3("price", FeatureHasher::kNumericSeed) & h.mask());
  EXPECT_EQ(out[0].value, 2.5f);
  EXPECT_EQ(out[1].index,
            Murmur3("mobile", Murmur3("device", FeatureHasher::kCategoricalSeed)) & h.mask());
  EXPECT_EQ(out[1].value, 1.0f);
  EXPECT_EQ(out[2].index, Murmur3("", FeatureHasher::kBiasSeed) & h.mask());
  EXPECT_EQ(out[2].value, 1.0f);
}

TEST(FeatureHasherTest, DeterministicAcrossInstancesAndCalls) {
  const FeatureHasher a(20), b(20);
  std::vector<HashedFeature> x, y;
  for (int i = 0; i < 100; ++i) {
    const std::string name = "f" + std::to_string(i);
    a.Numeric(name, i, x);
    a.Categorical(name, "v" + std::to_string(i * 7), x);
    b.Numeric(name, i, y);
    b.Categorical(name, "v" + std::to_string(i * 7), y);
  }
  ASSERT_EQ(x.size(), y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(x[i].index, y[i].index);
    EXPECT_EQ(x[i].value, y[i].value);
    EXPECT_LT(x[i].index, 1u << 20);
  }
}

TEST(FeatureHasherTest, NameValueBoundaryMatters) {
  const FeatureHasher h(26);
  std::vector<HashedFeature> out;
  h.Categorical("ab", "c", out);
  h.Categorical("a", "bc", out);
  h.Categorical("c", "ab", out);
  h.Numeric("abc", 1, out);
  std::set<uint32_t> distinct;
  for (const auto& f : out) distinct.insert(f.index);
  EXPECT_EQ(distinct.size(), out.size());
}

TEST(FeatureHasherTest, NonFiniteNumericValuesAreSkipped) {
  const FeatureHasher h(12);
  std::vector<HashedFeature> out;
  h.Numeric("x", std::numeric_limits<double>::quiet_NaN(), out);
  h.Numeric("x", std::numeric_limits<double>::infinity(), out);
  h.Numeric("x", -std::numeric_limits<double>::infinity(), out);
  EXPECT_TRUE(out.empty());
  h.Numeric("x", 0.0, out);
  h.Numeric("x", -3.0, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].value, -3.0f);
}

TEST(FeatureHasherTest, CrossWithArmGivesEachArmItsOwnCoordinates) {
  const FeatureHasher h(20);
  std::vector<HashedFeature> base;
  h.Bias(base);
  for (int i = 0; i < 1000; ++i) h.Categorical("item", std::to_string(i), base);
  std::vector<HashedFeature> a, a_again, b;
  h.CrossWithArm("offer-a", base, a);
  h.CrossWithArm("offer-a", base, a_again);
  h.CrossWithArm("offer-b", base, b);
  ASSERT_EQ(a.size(), base.size() + 1);
  ASSERT_EQ(b.size(), base.size() + 1);
  // Deterministic, values carried over, per-arm bias last with value 1.
  const uint32_t seed_a = Murmur3("offer-a", FeatureHasher::kArmSeed);
  for (size_t i = 0; i < base.size(); ++i) {
    EXPECT_EQ(a[i].index, a_again[i].index);
    EXPECT_EQ(a[i].index, Murmur3U32(base[i].index, seed_a) & h.mask());
    EXPECT_EQ(a[i].value, base[i].value);
  }
  EXPECT_EQ(a.back().index, Murmur3U32(0xFFFFFFFFu, seed_a) & h.mask());
  EXPECT_EQ(a.back().value, 1.0f);
  EXPECT_NE(a.back().index, b.back().index);
  // Independence: arms share (almost) no coordinates with each other or the
  // base; 1001 random indices in 2^20 collide about once.
  std::set<uint32_t> in_a, in_base;
  for (const auto& f : a) in_a.insert(f.index);
  for (const auto& f : base) in_base.insert(f.index);
  int shared_ab = 0, shared_a_base = 0;
  for (const auto& f : b) shared_ab += static_cast<int>(in_a.count(f.index));
  for (const auto& f : a) shared_a_base += static_cast<int>(in_base.count(f.index));
  EXPECT_LE(shared_ab, 5);
  EXPECT_LE(shared_a_base, 5);
}

TEST(FeatureHasherTest, CrossWithArmAcceptsBaseInsideOut) {
  const FeatureHasher h(16);
  std::vector<HashedFeature> out;
  h.Bias(out);
  h.Numeric("age", 31, out);
  out.shrink_to_fit();  // capacity == size: appending must reallocate
  std::vector<HashedFeature> expected = out;
  h.CrossWithArm("arm", std::vector<HashedFeature>(out), expected);
  h.CrossWithArm("arm", out, out);
  ASSERT_EQ(out.size(), expected.size());
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].index, expected[i].index) << i;
    EXPECT_EQ(out[i].value, expected[i].value) << i;
  }
}

}  // namespace
}  // namespace rtml::learning
