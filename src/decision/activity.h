// Activity: the marketer's unit of delivery (SPEC section 4, "Delivery and
// learning"): an audience condition, the experiences to choose from, an
// allocation strategy and a goal. ParseActivity validates a PUT body and
// compiles it into an immutable Activity; every error names the field.
//
//   {"audience": {...condition...}, "experiences": [{"id", "content", "features"?}, ...],
//    "strategy": {"type": "split", "weights": [...], "salt"?}
//              | {"type": "model", "service": "s", "output"?: "o"}
//              | {"type": "bandit", "explore"?: "epsilon-greedy"|"softmax", "epsilon"?, "temperature"?,
//                 "features"?: ["context.device", ...], "learner"?: {"alpha","beta","l1","l2","bits"}},
//    "goal"?: "commerce.purchase", "priority"?: 0, "reward_window"?: "1h", "default_reward"?: 0,
//    "description"?: "..."}
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "decision/condition.h"
#include "learning/explore.h"
#include "learning/ftrl.h"

namespace rtml::decision {

// A feature value: a number or a string (booleans are numbers 1/0).
struct FeatureValue {
  bool is_string = false;
  double number = 0;
  std::string text;
  bool operator==(const FeatureValue&) const = default;
};

// Flat feature map: "context.device" -> value, kept sorted by name.
using FeatureMap = std::vector<std::pair<std::string, FeatureValue>>;

struct Experience {
  std::string id;
  std::string content_json;  // the "content" object, verbatim (canonical JSON)
  FeatureMap features;       // "experience.<name>"
};

enum class StrategyType { kSplit, kModel, kBandit };
std::string_view StrategyName(StrategyType t);

struct Activity {
  std::string name;
  std::string json;  // canonical body as stored and returned
  Condition audience;
  std::vector<Experience> experiences;
  StrategyType strategy = StrategyType::kSplit;
  // split
  std::vector<double> weights;  // one per experience, normalized to sum 1
  std::string salt;
  // model
  std::string service;
  std::string output;  // empty: the service's first output
  // bandit
  learning::ExploreOptions explore;
  learning::FtrlOptions learner;
  std::vector<std::string> feature_paths;  // empty: every context, profile and computed value
  // goal and rewards
  std::string goal;  // event type that counts as reward 1; empty: explicit feedback only
  int priority = 0;
  int64_t reward_window_ms = 3'600'000;
  double default_reward = 0;

  int ExperienceIndex(std::string_view id) const;
  // Services whose scores the audience reads ("score.<service>").
  std::vector<std::string> audience_services() const;
};

inline constexpr size_t kMaxExperiences = 100;
// A learner holds about 40 bytes per coordinate (state plus two published
// weight buffers): 2^22 is ~170 MB, the most one activity may ask for.
inline constexpr int kMaxActivityLearnerBits = 22;

// Validates and compiles a PUT /v1/activities/{name} body.
StatusOr<std::shared_ptr<const Activity>> ParseActivity(std::string_view name, std::string_view body,
                                                        const SegmentResolver& segments);

// Segments: PUT /v1/segments/{name} bodies are {"condition": {...}, "description"?}.
// Returns the condition's JSON text after checking it compiles.
StatusOr<std::string> ParseSegment(std::string_view name, std::string_view body, const SegmentResolver& segments);

}  // namespace rtml::decision
