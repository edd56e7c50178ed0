// Tests of decision features: flattening request JSON into the sorted name ->
// value map, selection by path, the logged JSON form and its round trip, and
// the bandit's per-experience hashed vectors.
#include "decision/features.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace rtml::decision {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

FeatureValue Num(double v) { return FeatureValue{false, v, ""}; }
FeatureValue Str(std::string s) { return FeatureValue{true, 0, std::move(s)}; }

// Parses `json` and flattens it under `prefix`, sorted.
FeatureMap Flat(const std::string& json, std::string_view prefix = "context") {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  EXPECT_FALSE(parser.parse(json).get(root)) << json;
  FeatureMap out;
  FlattenObject(root, prefix, &out);
  SortFeatures(&out);
  return out;
}

std::vector<std::string> Names(const FeatureMap& m) {
  std::vector<std::string> out;
  for (const auto& [n, v] : m) out.push_back(n);
  return out;
}

TEST(FlattenObject, NestingScalarsBooleansAndSkippedValues) {
  const FeatureMap f = Flat(R"({"device": "mobile", "n": 3, "big": 18446744073709551615, "neg": -2,
                                "ratio": 0.25, "yes": true, "no": false, "none": null, "list": [1, 2],
                                "geo": {"country": "US", "lat": 1.5, "tags": ["a"], "deep": {"x": 1}}})");
  EXPECT_THAT(f, ElementsAre(Pair("context.big", Num(18446744073709551615.0)), Pair("context.device", Str("mobile")),
                             Pair("context.geo.country", Str("US")), Pair("context.geo.deep.x", Num(1)),
                             Pair("context.geo.lat", Num(1.5)), Pair("context.n", Num(3)),
                             Pair("context.neg", Num(-2)), Pair("context.no", Num(0)),
                             Pair("context.ratio", Num(0.25)), Pair("context.yes", Num(1))));
}

TEST(FlattenObject, NonObjectRootAddsNothing) {
  for (const char* json : {"[1, 2]", "3", "\"x\"", "null", "true"}) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    ASSERT_FALSE(parser.parse(std::string(json)).get(root));
    FeatureMap out;
    FlattenObject(root, "context", &out);
    EXPECT_TRUE(out.empty()) << json;
  }
}

TEST(FlattenObject, DepthLimit) {
  // Paths of up to kMaxFlattenDepth keys are kept; a deeper one is dropped.
  auto nested = [](const std::string& key, int levels, std::string leaf) {
    for (int i = 0; i < levels; ++i) leaf = "{\"" + key + "\": " + leaf + "}";
    return leaf;
  };
  const FeatureMap f = Flat("{\"a\": " + nested("k", kMaxFlattenDepth - 1, "1") + ", \"b\": " +
                            nested("d", kMaxFlattenDepth, "2") + "}");
  std::string kept = "context.a";
  for (int i = 0; i < kMaxFlattenDepth - 1; ++i) kept += ".k";
  EXPECT_THAT(Names(f), ElementsAre(kept));
  EXPECT_EQ(std::count(kept.begin(), kept.end(), '.'), kMaxFlattenDepth);
}

TEST(FlattenObject, CountLimitAcrossCalls) {
  std::string json = "{";
  for (int i = 0; i < 600; ++i) json += (i ? "," : "") + std::string("\"k") + std::to_string(1000 + i) + "\": 1";
  json += "}";
  EXPECT_EQ(Flat(json).size(), kMaxFeatures);
  // The limit counts what is already in the map (context, then profile...).
  simdjson::dom::parser parser;
  simdjson::dom::element small, big;
  ASSERT_FALSE(parser.parse(std::string(R"({"a": 1, "b": 2})")).get(small));
  FeatureMap out;
  for (size_t i = 0; i < kMaxFeatures - 1; ++i) out.emplace_back("x" + std::to_string(i), Num(1));
  FlattenObject(small, "profile", &out);
  EXPECT_EQ(out.size(), kMaxFeatures);
  EXPECT_EQ(out.back().first, "profile.a");
}

TEST(SortFeatures, SortsAndKeepsTheFirstOfDuplicates) {
  FeatureMap m = {{"b", Num(1)}, {"a", Str("x")}, {"b", Num(2)}, {"c", Num(3)}, {"a", Str("y")}};
  SortFeatures(&m);
  EXPECT_THAT(m, ElementsAre(Pair("a", Str("x")), Pair("b", Num(1)), Pair("c", Num(3))));
  // A repeated JSON key behaves the same way.
  EXPECT_THAT(Flat(R"({"k": 1, "k": 2})"), ElementsAre(Pair("context.k", Num(1))));
}

TEST(SelectFeatures, ExactNamesAndPrefixes) {
  const FeatureMap all = Flat(R"({"device": "m", "geo": {"country": "US", "lat": 1}, "geography": 1})");
  FeatureMap m = all;
  SelectFeatures({}, &m);
  EXPECT_EQ(m, all);

  m = all;
  SelectFeatures({"context.device"}, &m);
  EXPECT_THAT(Names(m), ElementsAre("context.device"));

  // A path names a subtree: context.geo keeps context.geo.*, not context.geography.
  m = all;
  SelectFeatures({"context.geo"}, &m);
  EXPECT_THAT(Names(m), ElementsAre("context.geo.country", "context.geo.lat"));

  // A prefix ending in '.' keeps everything under it (documented form).
  m = all;
  m.emplace_back("profile.tier", Str("gold"));
  SelectFeatures({"context."}, &m);
  EXPECT_THAT(Names(m), ElementsAre("context.device", "context.geo.country", "context.geo.lat", "context.geography"));

  m = all;
  SelectFeatures({"context.geo.", "context.device"}, &m);
  EXPECT_THAT(Names(m), ElementsAre("context.device", "context.geo.country", "context.geo.lat"));

  m = all;
  SelectFeatures({"context.nothing"}, &m);
  EXPECT_TRUE(m.empty());
}

TEST(FindFeature, BinarySearchOverTheSortedMap) {
  const FeatureMap m = Flat(R"({"a": 1, "b": "x", "c": {"d": 2}})");
  ASSERT_NE(FindFeature(m, "context.b"), nullptr);
  EXPECT_EQ(*FindFeature(m, "context.b"), Str("x"));
  EXPECT_EQ(*FindFeature(m, "context.c.d"), Num(2));
  EXPECT_EQ(FindFeature(m, "context.c"), nullptr);
  EXPECT_EQ(FindFeature(m, "context"), nullptr);
  EXPECT_EQ(FindFeature(m, "zzz"), nullptr);
  EXPECT_EQ(FindFeature(FeatureMap{}, "a"), nullptr);
}

TEST(FeaturesJson, RoundTripsExactly) {
  FeatureMap m = {{"context.a", Num(0.1)},
                  {"context.b", Num(1e-300)},
                  {"context.c", Num(-3)},
                  {"context.d", Num(12345678901234567.0)},
                  {"context.e", Str("quote \" backslash \\ newline \n tab \t nul " + std::string(1, '\0') + " é")},
                  {"context.key \"odd\"", Num(2)},
                  {"profile.x", Num(1.0 / 3.0)}};
  SortFeatures(&m);
  const std::string json = FeaturesJson(m);
  auto back = ParseFeaturesJson(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString() << " " << json;
  EXPECT_EQ(*back, m);
  EXPECT_EQ(FeaturesJson(*back), json);
  EXPECT_EQ(FeaturesJson({}), "{}");
  auto empty = ParseFeaturesJson("{}");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(FeaturesJson, ParseSortsAndRejectsOtherTypes) {
  auto m = ParseFeaturesJson(R"({"b": 2, "a": "x", "b": 3})");
  ASSERT_TRUE(m.ok());
  EXPECT_THAT(*m, ElementsAre(Pair("a", Str("x")), Pair("b", Num(2))));
  for (const char* bad : {"{", "[]", "3", ""}) {
    auto r = ParseFeaturesJson(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().message(), "logged features: malformed JSON");
  }
  for (const char* bad : {R"({"flag": true})", R"({"flag": null})", R"({"flag": [1]})", R"({"flag": {}})"}) {
    auto r = ParseFeaturesJson(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), "logged features: 'flag' is not a number or string");
  }
}

Experience MakeExperience(std::string id, FeatureMap features) {
  Experience e;
  e.id = std::move(id);
  e.features = std::move(features);
  return e;
}

TEST(ArmFeatures, LayoutMatchesTheHasher) {
  const learning::FeatureHasher hasher(16);
  const FeatureMap base = {{"context.device", Str("mobile")}, {"context.n", Num(3)}};
  const Experience e = MakeExperience("red", {{"price", Num(9.5)}, {"tone", Str("warm")}});
  std::vector<learning::HashedFeature> scratch, out;
  ArmFeatures(hasher, base, e, &scratch, &out);

  std::vector<learning::HashedFeature> expected;
  hasher.Bias(expected);
  hasher.Categorical("context.device", "mobile", expected);
  hasher.Numeric("context.n", 3, expected);
  hasher.Numeric("experience.price", 9.5, expected);
  hasher.Categorical("experience.tone", "warm", expected);
  const std::vector<learning::HashedFeature> plain = expected;
  hasher.CrossWithArm("red", plain, expected);
  ASSERT_EQ(out.size(), expected.size());
  ASSERT_EQ(out.size(), 2 * 5 + 1u);  // plain + crossed + the arm's own bias
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].index, expected[i].index) << i;
    EXPECT_EQ(out[i].value, expected[i].value) << i;
  }
}

TEST(ArmFeatures, DeterministicAndDifferentPerExperience) {
  const learning::FeatureHasher hasher(20);
  const FeatureMap base = Flat(R"({"device": "mobile", "visits": 4})");
  const Experience red = MakeExperience("red", {});
  const Experience blue = MakeExperience("blue", {});
  std::vector<learning::HashedFeature> scratch, a, b, c;
  ArmFeatures(hasher, base, red, &scratch, &a);
  ArmFeatures(hasher, base, blue, &scratch, &b);
  ArmFeatures(hasher, base, red, &scratch, &c);
  auto indices = [](const std::vector<learning::HashedFeature>& v) {
    std::vector<uint32_t> out;
    for (const auto& f : v) out.push_back(f.index);
    return out;
  };
  EXPECT_EQ(indices(a), indices(c));
  ASSERT_EQ(a.size(), b.size());
  // The shared half (bias and base features) is the same; the crossed half differs.
  const size_t shared = (a.size() - 1) / 2;
  for (size_t i = 0; i < shared; ++i) EXPECT_EQ(a[i].index, b[i].index);
  size_t differ = 0;
  for (size_t i = shared; i < a.size(); ++i) differ += a[i].index != b[i].index;
  EXPECT_GE(differ, a.size() - shared - 1);
  // The same experience with its own feature value differs from the plain one.
  const Experience priced = MakeExperience("red", {{"price", Num(2)}});
  std::vector<learning::HashedFeature> d;
  ArmFeatures(hasher, base, priced, &scratch, &d);
  EXPECT_EQ(d.size(), a.size() + 2);
  // Output is replaced, not appended to.
  ArmFeatures(hasher, base, red, &scratch, &d);
  EXPECT_EQ(indices(d), indices(a));
}

}  // namespace
}  // namespace rtml::decision
