#include "decision/activity.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>

#include <nlohmann/json.hpp>

#include "data/profiles.h"

namespace rtml::decision {

namespace {

using nlohmann::json;

Status CheckFields(const json& obj, std::string_view where, std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string list;
    for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    return InvalidArgumentError("unknown field '" + (where.empty() ? "" : std::string(where) + ".") + key +
                                "' (expected: " + list + ")");
  }
  return OkStatus();
}

// Whether `v` is an integer in [lo, hi], checked before any narrowing (so
// 2^32 + 20 does not wrap around to 20).
bool IntegerIn(const json& v, int64_t lo, int64_t hi) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    return hi >= 0 && u <= static_cast<uint64_t>(hi) && static_cast<int64_t>(u) >= lo;
  }
  return v.is_number_integer() && v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
}

StatusOr<double> Number(const json& v, const std::string& where) {
  if (!v.is_number()) return InvalidArgumentError(where + ": expected a number");
  const double d = v.get<double>();
  if (!std::isfinite(d)) return InvalidArgumentError(where + ": must be finite");
  return d;
}

Status ValidId(std::string_view what, std::string_view id) {
  if (id.empty() || id.size() > 128) return InvalidArgumentError(std::string(what) + ": must be 1 to 128 characters");
  for (char c : id) {
    if (static_cast<unsigned char>(c) < 0x20) return InvalidArgumentError(std::string(what) + ": control character");
  }
  return OkStatus();
}

Status ParseExperience(const json& e, size_t i, Experience* out) {
  const std::string where = "experiences[" + std::to_string(i) + "]";
  if (!e.is_object()) return InvalidArgumentError(where + ": must be an object {\"id\", \"content\", \"features\"?}");
  RETURN_IF_ERROR(CheckFields(e, where, {"id", "content", "features"}));
  if (!e.contains("id") || !e["id"].is_string()) return InvalidArgumentError(where + ".id: required string");
  out->id = e["id"].get<std::string>();
  RETURN_IF_ERROR(ValidId(where + ".id", out->id));
  out->content_json = e.contains("content") ? e["content"].dump() : "{}";
  if (e.contains("features")) {
    const json& f = e["features"];
    if (!f.is_object()) return InvalidArgumentError(where + ".features: must be an object of numbers or strings");
    for (const auto& [key, value] : f.items()) {
      FeatureValue fv;
      if (value.is_string()) {
        fv.is_string = true;
        fv.text = value.get<std::string>();
      } else if (value.is_boolean()) {
        fv.number = value.get<bool>() ? 1 : 0;
      } else if (value.is_number()) {
        ASSIGN_OR_RETURN(fv.number, Number(value, where + ".features." + key));
      } else {
        return InvalidArgumentError(where + ".features." + key + ": must be a number, string or boolean");
      }
      out->features.emplace_back(key, std::move(fv));
    }
    std::sort(out->features.begin(), out->features.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  return OkStatus();
}

Status ParseSplit(const json& s, Activity* a) {
  RETURN_IF_ERROR(CheckFields(s, "strategy", {"type", "weights", "salt"}));
  const size_t n = a->experiences.size();
  if (s.contains("weights")) {
    const json& w = s["weights"];
    if (!w.is_array() || w.size() != n) {
      return InvalidArgumentError("strategy.weights: expected an array of " + std::to_string(n) +
                                  " numbers (one per experience)");
    }
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
      ASSIGN_OR_RETURN(double x, Number(w[i], "strategy.weights[" + std::to_string(i) + "]"));
      if (x < 0) return InvalidArgumentError("strategy.weights[" + std::to_string(i) + "]: must be >= 0");
      a->weights.push_back(x);
      sum += x;
    }
    if (!(sum > 0)) return InvalidArgumentError("strategy.weights: at least one weight must be positive");
    for (double& x : a->weights) x /= sum;
  } else {
    a->weights.assign(n, 1.0 / static_cast<double>(n));
  }
  if (s.contains("salt")) {
    if (!s["salt"].is_string()) return InvalidArgumentError("strategy.salt: must be a string");
    a->salt = s["salt"].get<std::string>();
  }
  return OkStatus();
}

Status ParseModel(const json& s, Activity* a) {
  RETURN_IF_ERROR(CheckFields(s, "strategy", {"type", "service", "output"}));
  if (!s.contains("service") || !s["service"].is_string()) {
    return InvalidArgumentError("strategy.service: required (the deployed service that scores each experience)");
  }
  a->service = s["service"].get<std::string>();
  if (s.contains("output")) {
    if (!s["output"].is_string()) return InvalidArgumentError("strategy.output: must be a string");
    a->output = s["output"].get<std::string>();
  }
  return OkStatus();
}

Status ParseLearner(const json& l, learning::FtrlOptions* o) {
  if (!l.is_object()) return InvalidArgumentError("strategy.learner: must be an object");
  RETURN_IF_ERROR(CheckFields(l, "strategy.learner", {"alpha", "beta", "l1", "l2", "bits"}));
  if (l.contains("alpha")) {
    ASSIGN_OR_RETURN(o->alpha, Number(l["alpha"], "strategy.learner.alpha"));
  }
  if (l.contains("beta")) {
    ASSIGN_OR_RETURN(o->beta, Number(l["beta"], "strategy.learner.beta"));
  }
  if (l.contains("l1")) {
    ASSIGN_OR_RETURN(o->l1, Number(l["l1"], "strategy.learner.l1"));
  }
  if (l.contains("l2")) {
    ASSIGN_OR_RETURN(o->l2, Number(l["l2"], "strategy.learner.l2"));
  }
  if (l.contains("bits")) {
    if (!l["bits"].is_number_integer()) return InvalidArgumentError("strategy.learner.bits: must be an integer");
    if (!IntegerIn(l["bits"], learning::FeatureHasher::kMinBits, kMaxActivityLearnerBits)) {
      return InvalidArgumentError("strategy.learner: bits must be in [" +
                                  std::to_string(learning::FeatureHasher::kMinBits) + ", " +
                                  std::to_string(kMaxActivityLearnerBits) + "], got " + l["bits"].dump());
    }
    o->bits = l["bits"].get<int>();
  }
  Status s = learning::ValidateOptions(*o);
  return s.ok() ? s : s.WithPrefix("strategy.learner");
}

Status ParseBandit(const json& s, Activity* a) {
  RETURN_IF_ERROR(CheckFields(s, "strategy", {"type", "explore", "epsilon", "temperature", "features", "learner"}));
  a->explore.kind = learning::ExploreKind::kEpsilonGreedy;
  if (s.contains("explore")) {
    const std::string e = s["explore"].is_string() ? s["explore"].get<std::string>() : "";
    if (e == "epsilon-greedy") a->explore.kind = learning::ExploreKind::kEpsilonGreedy;
    else if (e == "softmax") a->explore.kind = learning::ExploreKind::kSoftmax;
    else return InvalidArgumentError("strategy.explore: expected \"epsilon-greedy\" or \"softmax\"");
  }
  if (s.contains("epsilon")) {
    ASSIGN_OR_RETURN(a->explore.epsilon, Number(s["epsilon"], "strategy.epsilon"));
  }
  if (s.contains("temperature")) {
    ASSIGN_OR_RETURN(a->explore.temperature, Number(s["temperature"], "strategy.temperature"));
  }
  if (Status st = learning::ValidateExplore(a->explore); !st.ok()) return st.WithPrefix("strategy");
  if (s.contains("features")) {
    const json& f = s["features"];
    if (!f.is_array()) return InvalidArgumentError("strategy.features: must be an array of paths");
    for (size_t i = 0; i < f.size(); ++i) {
      const std::string where = "strategy.features[" + std::to_string(i) + "]";
      if (!f[i].is_string()) return InvalidArgumentError(where + ": must be a string path");
      std::string p = f[i].get<std::string>();
      if (!(p.starts_with("context.") || p.starts_with("profile.") || p.starts_with("computed."))) {
        return InvalidArgumentError(where + ": '" + p + "' must start with context., profile. or computed.");
      }
      a->feature_paths.push_back(std::move(p));
    }
  }
  if (s.contains("learner")) RETURN_IF_ERROR(ParseLearner(s["learner"], &a->learner));
  return OkStatus();
}

// Definitions nest at most this deep (experience content included); deeper
// values are refused while parsing, before anything walks them recursively.
constexpr int kMaxDefinitionDepth = 64;

StatusOr<json> ParseObject(std::string_view body, std::string_view what) {
  json j;
  bool too_deep = false;
  const json::parser_callback_t limit = [&](int depth, json::parse_event_t, json&) {
    if (depth > kMaxDefinitionDepth) too_deep = true;
    return !too_deep;  // discard instead of building
  };
  try {
    j = json::parse(body, limit);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for 1e309
    return InvalidArgumentError("request body: malformed JSON (" + std::string(e.what()) + ")");
  }
  if (too_deep) {
    return InvalidArgumentError("request body: nested deeper than " + std::to_string(kMaxDefinitionDepth) + " levels");
  }
  if (!j.is_object()) return InvalidArgumentError("request body must be a JSON object: " + std::string(what));
  return j;
}

}  // namespace

std::string_view StrategyName(StrategyType t) {
  switch (t) {
    case StrategyType::kSplit: return "split";
    case StrategyType::kModel: return "model";
    case StrategyType::kBandit: return "bandit";
  }
  return "?";
}

int Activity::ExperienceIndex(std::string_view id) const {
  for (size_t i = 0; i < experiences.size(); ++i) {
    if (experiences[i].id == id) return static_cast<int>(i);
  }
  return -1;
}

std::vector<std::string> Activity::audience_services() const {
  std::set<std::string> out;
  for (const std::string& p : audience.paths()) {
    if (!p.starts_with("score.")) continue;
    std::string rest = p.substr(6);
    out.insert(rest.substr(0, rest.find('.')));
  }
  return {out.begin(), out.end()};
}

StatusOr<std::shared_ptr<const Activity>> ParseActivity(std::string_view name, std::string_view body,
                                                        const SegmentResolver& segments) {
  RETURN_IF_ERROR(ValidId("activity name", name));
  ASSIGN_OR_RETURN(json j, ParseObject(body, "{\"audience\", \"experiences\", \"strategy\", \"goal\"}"));
  RETURN_IF_ERROR(CheckFields(j, "", {"audience", "experiences", "strategy", "goal", "priority", "reward_window",
                                      "default_reward", "description"}));
  auto a = std::make_shared<Activity>();
  a->name = std::string(name);
  if (j.contains("audience")) {
    if (!j["audience"].is_object()) return InvalidArgumentError("audience: must be a condition object");
    auto c = Condition::Compile(j["audience"].dump(), segments);
    if (!c.ok()) return c.status().WithPrefix("audience");
    a->audience = std::move(*c);
  }
  if (!j.contains("experiences") || !j["experiences"].is_array() || j["experiences"].empty()) {
    return InvalidArgumentError("experiences: required, a non-empty array of {\"id\", \"content\"}");
  }
  if (j["experiences"].size() > kMaxExperiences) {
    return InvalidArgumentError("experiences: at most " + std::to_string(kMaxExperiences) + " per activity");
  }
  std::set<std::string> ids;
  for (size_t i = 0; i < j["experiences"].size(); ++i) {
    Experience e;
    RETURN_IF_ERROR(ParseExperience(j["experiences"][i], i, &e));
    if (!ids.insert(e.id).second) {
      return InvalidArgumentError("experiences[" + std::to_string(i) + "].id: duplicate id '" + e.id + "'");
    }
    a->experiences.push_back(std::move(e));
  }
  if (!j.contains("strategy") || !j["strategy"].is_object() || !j["strategy"].contains("type") ||
      !j["strategy"]["type"].is_string()) {
    return InvalidArgumentError("strategy: required, {\"type\": \"split\"|\"model\"|\"bandit\", ...}");
  }
  const std::string type = j["strategy"]["type"].get<std::string>();
  if (type == "split") {
    a->strategy = StrategyType::kSplit;
    RETURN_IF_ERROR(ParseSplit(j["strategy"], a.get()));
  } else if (type == "model") {
    a->strategy = StrategyType::kModel;
    RETURN_IF_ERROR(ParseModel(j["strategy"], a.get()));
  } else if (type == "bandit") {
    a->strategy = StrategyType::kBandit;
    RETURN_IF_ERROR(ParseBandit(j["strategy"], a.get()));
  } else {
    return InvalidArgumentError("strategy.type: unknown strategy '" + type + "' (expected split, model or bandit)");
  }
  if (j.contains("goal")) {
    if (!j["goal"].is_string() || j["goal"].get<std::string>().empty()) {
      return InvalidArgumentError("goal: must be a non-empty event type such as \"commerce.purchase\"");
    }
    a->goal = j["goal"].get<std::string>();
  }
  if (j.contains("priority")) {
    const json& p = j["priority"];
    if (!IntegerIn(p, INT32_MIN, INT32_MAX)) {
      return InvalidArgumentError("priority: must be an integer in [-2147483648, 2147483647]");
    }
    a->priority = p.get<int>();
  }
  if (j.contains("reward_window")) {
    if (!j["reward_window"].is_string()) return InvalidArgumentError("reward_window: must be a window such as \"1h\"");
    auto w = data::ParseWindow(j["reward_window"].get<std::string>());
    if (!w.ok()) return w.status().WithPrefix("reward_window");
    a->reward_window_ms = *w;
  }
  if (j.contains("default_reward")) {
    ASSIGN_OR_RETURN(a->default_reward, Number(j["default_reward"], "default_reward"));
  }
  a->json = j.dump();
  return std::shared_ptr<const Activity>(std::move(a));
}

StatusOr<std::string> ParseSegment(std::string_view name, std::string_view body, const SegmentResolver& segments) {
  RETURN_IF_ERROR(ValidId("segment name", name));
  ASSIGN_OR_RETURN(json j, ParseObject(body, "{\"condition\": {...}}"));
  RETURN_IF_ERROR(CheckFields(j, "", {"condition", "description"}));
  if (!j.contains("condition") || !j["condition"].is_object()) {
    return InvalidArgumentError("condition: required, a condition object");
  }
  std::string text = j["condition"].dump();
  // The segment's own name resolves to its new body, so a reference back to
  // it (directly or through other segments) is reported as a cycle now, not
  // at the first activity that uses it.
  SegmentResolver self_aware;
  if (segments) {
    self_aware = [&](std::string_view ref) -> StatusOr<std::string> {
      return ref == name ? StatusOr<std::string>(text) : segments(ref);
    };
  }
  auto c = Condition::Compile(text, self_aware);
  if (!c.ok()) return c.status().WithPrefix("condition");
  return text;
}

}  // namespace rtml::decision
