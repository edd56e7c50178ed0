// Tests of ParseActivity and ParseSegment: every field, its default, the
// canonical JSON that is stored, and the exact error message for each kind
// of bad input (a data-driven corpus).
#include "decision/activity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rtml::decision {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

SegmentResolver NoSegments() {
  return [](std::string_view name) -> StatusOr<std::string> {
    return NotFoundError("segment '" + std::string(name) + "' does not exist");
  };
}

SegmentResolver Segments(std::map<std::string, std::string> segments) {
  return [segments = std::move(segments)](std::string_view name) -> StatusOr<std::string> {
    auto it = segments.find(std::string(name));
    if (it == segments.end()) return NotFoundError("segment '" + std::string(name) + "' does not exist");
    return it->second;
  };
}

std::shared_ptr<const Activity> MustParse(std::string_view body, std::string_view name = "hero") {
  auto a = ParseActivity(name, body, NoSegments());
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  return a.ok() ? *a : nullptr;
}

constexpr const char* kTwo = R"([{"id": "a"}, {"id": "b"}])";

std::string WithStrategy(const std::string& strategy, const std::string& extra = "") {
  return std::string(R"({"experiences": )") + kTwo + R"(, "strategy": )" + strategy + extra + "}";
}

TEST(ParseActivity, MinimalSplitTakesEveryDefault) {
  auto a = MustParse(WithStrategy(R"({"type": "split"})"));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->name, "hero");
  EXPECT_EQ(a->strategy, StrategyType::kSplit);
  ASSERT_EQ(a->experiences.size(), 2u);
  EXPECT_EQ(a->experiences[0].id, "a");
  EXPECT_EQ(a->experiences[0].content_json, "{}");
  EXPECT_TRUE(a->experiences[0].features.empty());
  EXPECT_THAT(a->weights, ElementsAre(0.5, 0.5));
  EXPECT_EQ(a->salt, "");
  EXPECT_EQ(a->goal, "");
  EXPECT_EQ(a->priority, 0);
  EXPECT_EQ(a->reward_window_ms, 3'600'000);
  EXPECT_EQ(a->default_reward, 0);
  EXPECT_TRUE(a->audience.matches_everything());
  EXPECT_TRUE(a->feature_paths.empty());
  EXPECT_EQ(a->ExperienceIndex("a"), 0);
  EXPECT_EQ(a->ExperienceIndex("b"), 1);
  EXPECT_EQ(a->ExperienceIndex("c"), -1);
  EXPECT_EQ(StrategyName(a->strategy), "split");
}

TEST(ParseActivity, EveryFieldIsRead) {
  const std::string body = R"({
    "description": "hero banner",
    "audience": {"context.device": "mobile", "score.churn": {"$gt": 0.5}, "score.ltv.value": {"$gt": 1}},
    "experiences": [
      {"id": "red", "content": {"color": "red", "n": [1, 2]}, "features": {"price": 9.5, "tone": "warm", "sale": true, "new": false}},
      {"id": "blue", "content": {"color": "blue"}}],
    "strategy": {"type": "split", "weights": [1, 3], "salt": "s1"},
    "goal": "commerce.purchase", "priority": 7, "reward_window": "30m", "default_reward": 0.25})";
  auto a = MustParse(body);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->experiences[0].content_json, R"({"color":"red","n":[1,2]})");
  // Features are sorted by name; booleans are 1/0.
  const FeatureMap& f = a->experiences[0].features;
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].first, "new");
  EXPECT_EQ(f[0].second, (FeatureValue{false, 0, ""}));
  EXPECT_EQ(f[1].first, "price");
  EXPECT_EQ(f[1].second, (FeatureValue{false, 9.5, ""}));
  EXPECT_EQ(f[2].first, "sale");
  EXPECT_EQ(f[2].second, (FeatureValue{false, 1, ""}));
  EXPECT_EQ(f[3].first, "tone");
  EXPECT_EQ(f[3].second, (FeatureValue{true, 0, "warm"}));
  EXPECT_THAT(a->weights, ElementsAre(0.25, 0.75));
  EXPECT_EQ(a->salt, "s1");
  EXPECT_EQ(a->goal, "commerce.purchase");
  EXPECT_EQ(a->priority, 7);
  EXPECT_EQ(a->reward_window_ms, 30 * 60 * 1000);
  EXPECT_EQ(a->default_reward, 0.25);
  EXPECT_FALSE(a->audience.matches_everything());
  EXPECT_TRUE(a->audience.reads(Root::kContext));
  EXPECT_THAT(a->audience_services(), ElementsAre("churn", "ltv"));
  // Stored canonically: the parsed body re-serialized (sorted keys, no spaces).
  EXPECT_EQ(a->json, nlohmann::json::parse(body).dump());
  EXPECT_THAT(a->json, StartsWith(R"({"audience":{"context.device":"mobile",)"));
}

TEST(ParseActivity, CanonicalJsonIsIndependentOfLayout) {
  auto a = MustParse(R"(  {"strategy" : {"weights":[2,2], "type":"split"},
                          "experiences":[{"id":"a"},{"id":"b"}]}  )");
  auto b = MustParse(R"({"experiences":[{"id":"a"},{"id":"b"}],"strategy":{"type":"split","weights":[2,2]}})");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->json, b->json);
  EXPECT_EQ(a->json, R"({"experiences":[{"id":"a"},{"id":"b"}],"strategy":{"type":"split","weights":[2,2]}})");
  // Re-parsing the stored form gives the same activity.
  auto c = MustParse(a->json);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->json, a->json);
  EXPECT_EQ(c->weights, a->weights);
}

TEST(ParseActivity, WeightsAreNormalizedAndZeroIsAllowed) {
  auto a = MustParse(R"({"experiences":[{"id":"a"},{"id":"b"},{"id":"c"},{"id":"d"}],
                         "strategy":{"type":"split","weights":[0, 2, 6, 0]}})");
  ASSERT_NE(a, nullptr);
  EXPECT_THAT(a->weights, ElementsAre(0, 0.25, 0.75, 0));
  auto one = MustParse(R"({"experiences":[{"id":"only"}],"strategy":{"type":"split"}})");
  ASSERT_NE(one, nullptr);
  EXPECT_THAT(one->weights, ElementsAre(1.0));
}

TEST(ParseActivity, ModelStrategy) {
  auto a = MustParse(WithStrategy(R"({"type": "model", "service": "ranker", "output": "probability"})"));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->strategy, StrategyType::kModel);
  EXPECT_EQ(a->service, "ranker");
  EXPECT_EQ(a->output, "probability");
  EXPECT_TRUE(a->weights.empty());
  auto b = MustParse(WithStrategy(R"({"type": "model", "service": "ranker"})"));
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->output, "");
  EXPECT_EQ(StrategyName(b->strategy), "model");
}

TEST(ParseActivity, BanditDefaults) {
  auto a = MustParse(WithStrategy(R"({"type": "bandit"})"));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->strategy, StrategyType::kBandit);
  EXPECT_EQ(StrategyName(a->strategy), "bandit");
  EXPECT_EQ(a->explore.kind, learning::ExploreKind::kEpsilonGreedy);
  EXPECT_EQ(a->explore.epsilon, learning::ExploreOptions{}.epsilon);
  EXPECT_EQ(a->explore.temperature, learning::ExploreOptions{}.temperature);
  const learning::FtrlOptions defaults;
  EXPECT_EQ(a->learner.alpha, defaults.alpha);
  EXPECT_EQ(a->learner.beta, defaults.beta);
  EXPECT_EQ(a->learner.l1, defaults.l1);
  EXPECT_EQ(a->learner.l2, defaults.l2);
  EXPECT_EQ(a->learner.bits, defaults.bits);
  EXPECT_TRUE(a->feature_paths.empty());
}

TEST(ParseActivity, BanditEveryOption) {
  auto a = MustParse(WithStrategy(
      R"({"type": "bandit", "explore": "softmax", "epsilon": 0.3, "temperature": 0.5,
          "features": ["context.device", "profile.", "computed.visits_7d"],
          "learner": {"alpha": 0.2, "beta": 0.5, "l1": 0, "l2": 2, "bits": 12}})"));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->explore.kind, learning::ExploreKind::kSoftmax);
  EXPECT_EQ(a->explore.epsilon, 0.3);
  EXPECT_EQ(a->explore.temperature, 0.5);
  EXPECT_THAT(a->feature_paths, ElementsAre("context.device", "profile.", "computed.visits_7d"));
  EXPECT_EQ(a->learner.alpha, 0.2);
  EXPECT_EQ(a->learner.beta, 0.5);
  EXPECT_EQ(a->learner.l1, 0);
  EXPECT_EQ(a->learner.l2, 2);
  EXPECT_EQ(a->learner.bits, 12);
  auto eg = MustParse(WithStrategy(R"({"type": "bandit", "explore": "epsilon-greedy", "epsilon": 0})"));
  ASSERT_NE(eg, nullptr);
  EXPECT_EQ(eg->explore.kind, learning::ExploreKind::kEpsilonGreedy);
  EXPECT_EQ(eg->explore.epsilon, 0);
}

TEST(ParseActivity, AudienceWithSegments) {
  auto ok = ParseActivity("hero", WithStrategy(R"({"type":"split"})", R"(, "audience": {"$segment": "vip"})"),
                          Segments({{"vip", R"({"profile.tier": "gold"})"}}));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_THAT((*ok)->audience.segments(), ElementsAre("vip"));
  EXPECT_TRUE((*ok)->audience.reads(Root::kProfile));
  // The stored JSON keeps the reference, not the inlined condition.
  EXPECT_THAT((*ok)->json, HasSubstr(R"("audience":{"$segment":"vip"})"));
}

TEST(ParseActivity, ActivityNames) {
  EXPECT_TRUE(ParseActivity(std::string(128, 'n'), WithStrategy(R"({"type":"split"})"), NoSegments()).ok());
  struct Case {
    std::string name, message;
  } cases[] = {
      {"", "activity name: must be 1 to 128 characters"},
      {std::string(129, 'n'), "activity name: must be 1 to 128 characters"},
      {"bad\nname", "activity name: control character"},
  };
  for (const Case& c : cases) {
    auto a = ParseActivity(c.name, WithStrategy(R"({"type":"split"})"), NoSegments());
    ASSERT_FALSE(a.ok()) << c.name;
    EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(a.status().message(), c.message);
  }
}

struct BadActivity {
  std::string body;
  std::string message;  // exact, or a prefix when `prefix` is set
  bool prefix = false;
};

std::string Exps(size_t n) {
  std::string out = "[";
  for (size_t i = 0; i < n; ++i) out += (i ? "," : "") + std::string(R"({"id":"e)") + std::to_string(i) + "\"}";
  return out + "]";
}

TEST(ParseActivity, EveryErrorNamesTheField) {
  const std::string two = kTwo;
  const std::string split = R"(, "strategy": {"type": "split"})";
  const BadActivity cases[] = {
      {"{", "request body: malformed JSON", true},
      {"[1]", R"(request body must be a JSON object: {"audience", "experiences", "strategy", "goal"})"},
      {R"({"experiences": )" + two + split + R"(, "colour": 1})",
       "unknown field 'colour' (expected: audience, experiences, strategy, goal, priority, reward_window, "
       "default_reward, description)"},
      // audience
      {R"({"audience": [1], "experiences": )" + two + split + "}", "audience: must be a condition object"},
      {R"({"audience": {"context.x": {"$foo": 1}}, "experiences": )" + two + split + "}", "audience: ", true},
      {R"({"audience": {"user.x": 1}, "experiences": )" + two + split + "}",
       "audience: path 'user.x' must start with", true},
      {R"({"audience": {"$segment": "vip"}, "experiences": )" + two + split + "}", "audience: ", true},
      // experiences
      {R"({"strategy": {"type": "split"}})", R"(experiences: required, a non-empty array of {"id", "content"})"},
      {R"({"experiences": {"id": "a"})" + split + "}", R"(experiences: required, a non-empty array of {"id", "content"})"},
      {R"({"experiences": [])" + split + "}", R"(experiences: required, a non-empty array of {"id", "content"})"},
      {R"({"experiences": )" + Exps(101) + split + "}", "experiences: at most 100 per activity"},
      {R"({"experiences": ["a"])" + split + "}",
       R"(experiences[0]: must be an object {"id", "content", "features"?})"},
      {R"({"experiences": [{"id": "a"}, {"id": "b", "bogus": 1}])" + split + "}",
       "unknown field 'experiences[1].bogus' (expected: id, content, features)"},
      {R"({"experiences": [{"content": {}}])" + split + "}", "experiences[0].id: required string"},
      {R"({"experiences": [{"id": 5}])" + split + "}", "experiences[0].id: required string"},
      {R"({"experiences": [{"id": ""}])" + split + "}", "experiences[0].id: must be 1 to 128 characters"},
      {R"({"experiences": [{"id": "a\u0001"}])" + split + "}", "experiences[0].id: control character"},
      {R"({"experiences": [{"id": "a", "features": [1]}])" + split + "}",
       "experiences[0].features: must be an object of numbers or strings"},
      {R"({"experiences": [{"id": "a", "features": {"x": [1]}}])" + split + "}",
       "experiences[0].features.x: must be a number, string or boolean"},
      {R"({"experiences": [{"id": "a", "features": {"x": null}}])" + split + "}",
       "experiences[0].features.x: must be a number, string or boolean"},
      {R"({"experiences": [{"id": "a"}, {"id": "b"}, {"id": "a"}])" + split + "}",
       "experiences[2].id: duplicate id 'a'"},
      // strategy
      {R"({"experiences": )" + two + "}", R"(strategy: required, {"type": "split"|"model"|"bandit", ...})"},
      {R"({"experiences": )" + two + R"(, "strategy": "split"})",
       R"(strategy: required, {"type": "split"|"model"|"bandit", ...})"},
      {R"({"experiences": )" + two + R"(, "strategy": {"weights": [1, 1]}})",
       R"(strategy: required, {"type": "split"|"model"|"bandit", ...})"},
      {R"({"experiences": )" + two + R"(, "strategy": {"type": 1}})",
       R"(strategy: required, {"type": "split"|"model"|"bandit", ...})"},
      {WithStrategy(R"({"type": "greedy"})"), "strategy.type: unknown strategy 'greedy' (expected split, model or bandit)"},
      // split
      {WithStrategy(R"({"type": "split", "service": "x"})"),
       "unknown field 'strategy.service' (expected: type, weights, salt)"},
      {WithStrategy(R"({"type": "split", "weights": [1]})"),
       "strategy.weights: expected an array of 2 numbers (one per experience)"},
      {WithStrategy(R"({"type": "split", "weights": {"a": 1}})"),
       "strategy.weights: expected an array of 2 numbers (one per experience)"},
      {WithStrategy(R"({"type": "split", "weights": [1, "2"]})"), "strategy.weights[1]: expected a number"},
      {WithStrategy(R"({"type": "split", "weights": [-1, 2]})"), "strategy.weights[0]: must be >= 0"},
      {WithStrategy(R"({"type": "split", "weights": [0, 0]})"),
       "strategy.weights: at least one weight must be positive"},
      {WithStrategy(R"({"type": "split", "salt": 7})"), "strategy.salt: must be a string"},
      // model
      {WithStrategy(R"({"type": "model"})"),
       "strategy.service: required (the deployed service that scores each experience)"},
      {WithStrategy(R"({"type": "model", "service": 3})"),
       "strategy.service: required (the deployed service that scores each experience)"},
      {WithStrategy(R"({"type": "model", "service": "s", "output": 1})"), "strategy.output: must be a string"},
      {WithStrategy(R"({"type": "model", "service": "s", "weights": [1, 1]})"),
       "unknown field 'strategy.weights' (expected: type, service, output)"},
      // bandit
      {WithStrategy(R"({"type": "bandit", "salt": "x"})"),
       "unknown field 'strategy.salt' (expected: type, explore, epsilon, temperature, features, learner)"},
      {WithStrategy(R"({"type": "bandit", "explore": "greedy"})"),
       R"(strategy.explore: expected "epsilon-greedy" or "softmax")"},
      {WithStrategy(R"({"type": "bandit", "explore": 1})"), R"(strategy.explore: expected "epsilon-greedy" or "softmax")"},
      {WithStrategy(R"({"type": "bandit", "epsilon": 1.5})"), "strategy: epsilon must be in [0, 1], got 1.5"},
      {WithStrategy(R"({"type": "bandit", "epsilon": -0.1})"), "strategy: epsilon must be in [0, 1], got -0.10000000000000001"},
      {WithStrategy(R"({"type": "bandit", "epsilon": "x"})"), "strategy.epsilon: expected a number"},
      {WithStrategy(R"({"type": "bandit", "temperature": 0})"), "strategy: temperature must be in [1e-06, 1e+06], got 0"},
      {WithStrategy(R"({"type": "bandit", "temperature": true})"), "strategy.temperature: expected a number"},
      {WithStrategy(R"({"type": "bandit", "features": "context.x"})"), "strategy.features: must be an array of paths"},
      {WithStrategy(R"({"type": "bandit", "features": [1]})"), "strategy.features[0]: must be a string path"},
      {WithStrategy(R"({"type": "bandit", "features": ["context.x", "user.x"]})"),
       "strategy.features[1]: 'user.x' must start with context., profile. or computed."},
      {WithStrategy(R"({"type": "bandit", "features": ["score.x"]})"),
       "strategy.features[0]: 'score.x' must start with context., profile. or computed."},
      {WithStrategy(R"({"type": "bandit", "learner": 1})"), "strategy.learner: must be an object"},
      {WithStrategy(R"({"type": "bandit", "learner": {"gamma": 1}})"),
       "unknown field 'strategy.learner.gamma' (expected: alpha, beta, l1, l2, bits)"},
      {WithStrategy(R"({"type": "bandit", "learner": {"alpha": 0}})"),
       "strategy.learner: alpha must be finite and in (0, ", true},
      {WithStrategy(R"({"type": "bandit", "learner": {"beta": -1}})"),
       "strategy.learner: beta must be finite and in [0, ", true},
      {WithStrategy(R"({"type": "bandit", "learner": {"l1": -1}})"), "strategy.learner: l1 must be finite and in [0, ", true},
      {WithStrategy(R"({"type": "bandit", "learner": {"l2": "x"}})"), "strategy.learner.l2: expected a number"},
      {WithStrategy(R"({"type": "bandit", "learner": {"beta": 0, "l2": 0}})"),
       "strategy.learner: beta and l2 must not both be 0 (the first weight would divide by 0)"},
      {WithStrategy(R"({"type": "bandit", "learner": {"bits": 12.5}})"), "strategy.learner.bits: must be an integer"},
      {WithStrategy(R"({"type": "bandit", "learner": {"bits": 40}})"), "strategy.learner: bits must be in [10, 22], got 40"},
      {WithStrategy(R"({"type": "bandit", "learner": {"bits": 9}})"), "strategy.learner: bits must be in [10, 22], got 9"},
      // 2^32 + 20 must not wrap around to a valid 20.
      {WithStrategy(R"({"type": "bandit", "learner": {"bits": 4294967316}})"),
       "strategy.learner: bits must be in [10, 22], got 4294967316"},
      // goal, priority, reward window, default reward
      {WithStrategy(R"({"type": "split"})", R"(, "goal": "")"),
       R"(goal: must be a non-empty event type such as "commerce.purchase")"},
      {WithStrategy(R"({"type": "split"})", R"(, "goal": 1)"),
       R"(goal: must be a non-empty event type such as "commerce.purchase")"},
      {WithStrategy(R"({"type": "split"})", R"(, "priority": 1.5)"), "priority: must be an integer", true},
      {WithStrategy(R"({"type": "split"})", R"(, "priority": "high")"), "priority: must be an integer", true},
      // 2^32 + 3 must not wrap around to priority 3.
      {WithStrategy(R"({"type": "split"})", R"(, "priority": 4294967299)"), "priority: must be an integer", true},
      {WithStrategy(R"({"type": "split"})", R"(, "reward_window": 3600)"),
       R"(reward_window: must be a window such as "1h")"},
      {WithStrategy(R"({"type": "split"})", R"(, "reward_window": "forever")"),
       "reward_window: window 'forever' must be a whole number followed by s, m, h, d or w", true},
      {WithStrategy(R"({"type": "split"})", R"(, "reward_window": "0s")"), "reward_window: ", true},
      {WithStrategy(R"({"type": "split"})", R"(, "default_reward": "1")"), "default_reward: expected a number"},
  };
  for (const BadActivity& c : cases) {
    auto a = ParseActivity("hero", c.body, NoSegments());
    EXPECT_FALSE(a.ok()) << c.body;
    if (a.ok()) continue;
    EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument) << c.body;
    if (c.prefix) {
      EXPECT_THAT(a.status().message(), StartsWith(c.message)) << c.body;
    } else {
      EXPECT_EQ(a.status().message(), c.message) << c.body;
    }
  }
}

TEST(ParseActivity, PriorityAcceptsNegativeAndLargeInts) {
  auto a = MustParse(WithStrategy(R"({"type": "split"})", R"(, "priority": -5)"));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->priority, -5);
  auto b = MustParse(WithStrategy(R"({"type": "split"})", R"(, "priority": 2147483647)"));
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->priority, 2147483647);
}

TEST(ParseSegment, ReturnsTheCanonicalCondition) {
  auto s = ParseSegment("mobile", R"({"description": "phones", "condition": { "context.device" : "mobile" }})",
                        NoSegments());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s, R"({"context.device":"mobile"})");
  auto nested = ParseSegment("vip_mobile", R"({"condition": {"$and": [{"$segment": "vip"}, {"$segment": "mobile"}]}})",
                             Segments({{"vip", R"({"profile.tier": "gold"})"}, {"mobile", R"({"context.device": "m"})"}}));
  ASSERT_TRUE(nested.ok()) << nested.status().ToString();
  EXPECT_EQ(*nested, R"({"$and":[{"$segment":"vip"},{"$segment":"mobile"}]})");
}

TEST(ParseSegment, Errors) {
  struct Case {
    std::string name, body, message;
    bool prefix = false;
  } cases[] = {
      {"", R"({"condition": {}})", "segment name: must be 1 to 128 characters"},
      {"s", "nope", "request body: malformed JSON", true},
      {"s", "[]", R"(request body must be a JSON object: {"condition": {...}})"},
      {"s", R"({"condition": {}, "audience": {}})", "unknown field 'audience' (expected: condition, description)"},
      {"s", R"({"description": "x"})", "condition: required, a condition object"},
      {"s", R"({"condition": [1]})", "condition: required, a condition object"},
      {"s", R"({"condition": {"context.x": {"$regex": "(["}}})", "condition: ", true},
      {"s", R"({"condition": {"$segment": "nope"}})", "condition: ", true},
  };
  for (const Case& c : cases) {
    auto s = ParseSegment(c.name, c.body, NoSegments());
    ASSERT_FALSE(s.ok()) << c.body;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << c.body;
    if (c.prefix) {
      EXPECT_THAT(s.status().message(), StartsWith(c.message)) << c.body;
    } else {
      EXPECT_EQ(s.status().message(), c.message) << c.body;
    }
  }
}

TEST(ParseSegment, ASegmentCannotReferenceItself) {
  // Updating "loop" to refer to itself: the resolver still knows the old body,
  // but the new one would make every use of "loop" a cycle.
  auto self = ParseSegment("loop", R"({"condition": {"$segment": "loop"}})",
                           Segments({{"loop", R"({"context.x": 1})"}}));
  ASSERT_FALSE(self.ok());
  EXPECT_EQ(self.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(self.status().message(), HasSubstr("cycle"));
  // Nor through another segment that refers back to it.
  auto mutual = ParseSegment("b", R"({"condition": {"$segment": "a"}})",
                             Segments({{"a", R"({"$segment": "b"})"}, {"b", R"({"context.x": 1})"}}));
  ASSERT_FALSE(mutual.ok());
  EXPECT_THAT(mutual.status().message(), HasSubstr("cycle"));
}

TEST(ParseActivity, DeepNestingIsRefusedBeforeAnythingWalksIt) {
  // A million nested arrays in an experience's content: refused while parsing
  // (recursive serialization of such a value would overflow the stack).
  const std::string deep = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  auto r = ParseActivity("x", R"({"experiences": [{"id": "a", "content": {"v": )" + deep +
                                  R"(}}], "strategy": {"type": "split"}})",
                         nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "request body: nested deeper than 64 levels");
  auto seg = ParseSegment("s", R"({"condition": {"context.a": )" + deep + "}}", nullptr);
  ASSERT_FALSE(seg.ok());
  EXPECT_EQ(seg.status().message(), "request body: nested deeper than 64 levels");
  // 60 levels are fine.
  const std::string ok = std::string(60, '[') + std::string(60, ']');
  EXPECT_TRUE(ParseActivity("x", R"({"experiences": [{"id": "a", "content": {"v": )" + ok +
                                     R"(}}], "strategy": {"type": "split"}})",
                            nullptr)
                  .ok());
}

}  // namespace
}  // namespace rtml::decision
