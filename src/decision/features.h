// Decision features: the flat name -> value map a decision is made and
// logged with ("context.device", "profile.country", "computed.visits_7d",
// "experience.price"), and its hashed form for the bandit's learner.
// The same functions build the vector at decision time and when a logged
// decision is replayed or evaluated, so learning never sees skewed features.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "decision/activity.h"
#include "learning/feature_hasher.h"
#include "simdjson.h"

namespace rtml::decision {

inline constexpr int kMaxFlattenDepth = 8;
inline constexpr size_t kMaxFeatures = 512;
// Numbers are clipped to +-this before hashing: the learner refuses an update
// with a larger |x| (learning::FtrlOptions::max_abs_feature_value), and one
// large context value (a price in cents, a timestamp) must not make every
// reward of the activity unlearnable.
inline constexpr double kMaxAbsNumericFeature = 1e4;

// Appends prefix.key entries for the numbers, strings and booleans of an
// object, recursing into objects (arrays and nulls are skipped). Stops at
// kMaxFeatures entries. Call SortFeatures afterwards.
void FlattenObject(simdjson::dom::element object, std::string_view prefix, FeatureMap* out);
void SortFeatures(FeatureMap* features);
// Keeps only the listed names and what lies under them ("context.geo" keeps
// "context.geo.lat"; a path ending in '.', like "context.", keeps the whole
// root); an empty list keeps all.
void SelectFeatures(const std::vector<std::string>& paths, FeatureMap* features);
const FeatureValue* FindFeature(const FeatureMap& sorted, std::string_view name);

std::string FeaturesJson(const FeatureMap& features);
StatusOr<FeatureMap> ParseFeaturesJson(std::string_view json);

// The bandit's vector for one experience: a bias, every base feature and the
// experience's own features ("experience.<name>"), plus all of those crossed
// with the experience id so each experience learns its own weights.
void ArmFeatures(const learning::FeatureHasher& hasher, const FeatureMap& base, const Experience& experience,
                 std::vector<learning::HashedFeature>* scratch, std::vector<learning::HashedFeature>* out);

}  // namespace rtml::decision
