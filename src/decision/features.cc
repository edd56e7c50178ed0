#include "decision/features.h"

#include <algorithm>
#include <cmath>

#include "common/json_writer.h"

namespace rtml::decision {

namespace {

void Flatten(simdjson::dom::element e, std::string& name, FeatureMap* out, int depth) {
  if (out->size() >= kMaxFeatures) return;
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      if (depth >= kMaxFlattenDepth) return;
      const size_t base = name.size();
      for (auto field : simdjson::dom::object(e)) {
        name.resize(base);
        name.push_back('.');
        name.append(field.key);
        Flatten(field.value, name, out, depth + 1);
      }
      name.resize(base);
      return;
    }
    case simdjson::dom::element_type::STRING: {
      FeatureValue v;
      v.is_string = true;
      v.text = std::string(std::string_view(e));
      out->emplace_back(name, std::move(v));
      return;
    }
    case simdjson::dom::element_type::BOOL: {
      FeatureValue v;
      v.number = bool(e) ? 1 : 0;
      out->emplace_back(name, std::move(v));
      return;
    }
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE: {
      double d = 0;
      if (e.get_double().get(d) || !std::isfinite(d)) return;
      FeatureValue v;
      v.number = d;
      out->emplace_back(name, std::move(v));
      return;
    }
    default:
      return;  // arrays and nulls
  }
}

}  // namespace

void FlattenObject(simdjson::dom::element object, std::string_view prefix, FeatureMap* out) {
  if (!object.is_object()) return;
  std::string name(prefix);
  Flatten(object, name, out, 0);
}

void SortFeatures(FeatureMap* features) {
  std::stable_sort(features->begin(), features->end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // Duplicate names (a JSON object with a repeated key): keep the first.
  features->erase(std::unique(features->begin(), features->end(),
                              [](const auto& a, const auto& b) { return a.first == b.first; }),
                  features->end());
}

void SelectFeatures(const std::vector<std::string>& paths, FeatureMap* features) {
  if (paths.empty()) return;
  std::erase_if(*features, [&](const auto& f) {
    for (const std::string& p : paths) {
      if (f.first == p) return false;
      // Under p: "context.geo" keeps "context.geo.lat"; "context." keeps every "context.*".
      if (f.first.size() > p.size() && f.first.starts_with(p) && (p.ends_with('.') || f.first[p.size()] == '.')) {
        return false;
      }
    }
    return true;
  });
}

const FeatureValue* FindFeature(const FeatureMap& sorted, std::string_view name) {
  auto it = std::lower_bound(sorted.begin(), sorted.end(), name,
                             [](const auto& f, std::string_view n) { return std::string_view(f.first) < n; });
  return it != sorted.end() && it->first == name ? &it->second : nullptr;
}

std::string FeaturesJson(const FeatureMap& features) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  for (const auto& [name, v] : features) {
    w.Key(name);
    if (v.is_string) w.String(v.text);
    else w.Double(v.number);
  }
  w.EndObject();
  return out;
}

StatusOr<FeatureMap> ParseFeaturesJson(std::string_view json) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) || !root.is_object()) {
    return InvalidArgumentError("logged features: malformed JSON");
  }
  FeatureMap out;
  for (auto field : simdjson::dom::object(root)) {
    FeatureValue v;
    if (field.value.is_string()) {
      v.is_string = true;
      v.text = std::string(std::string_view(field.value));
    } else if (field.value.get_double().get(v.number)) {
      return InvalidArgumentError("logged features: '" + std::string(field.key) + "' is not a number or string");
    }
    out.emplace_back(std::string(field.key), std::move(v));
  }
  SortFeatures(&out);
  return out;
}

namespace {

void HashInto(const learning::FeatureHasher& hasher, std::string_view name, const FeatureValue& v,
              std::vector<learning::HashedFeature>* out) {
  if (v.is_string) hasher.Categorical(name, v.text, *out);
  else hasher.Numeric(name, std::clamp(v.number, -kMaxAbsNumericFeature, kMaxAbsNumericFeature), *out);
}

}  // namespace

void ArmFeatures(const learning::FeatureHasher& hasher, const FeatureMap& base, const Experience& experience,
                 std::vector<learning::HashedFeature>* scratch, std::vector<learning::HashedFeature>* out) {
  scratch->clear();
  hasher.Bias(*scratch);
  for (const auto& [name, v] : base) HashInto(hasher, name, v, scratch);
  thread_local std::string name;
  for (const auto& [fname, v] : experience.features) {
    name.assign("experience.");
    name.append(fname);
    HashInto(hasher, name, v, scratch);
  }
  out->assign(scratch->begin(), scratch->end());
  hasher.CrossWithArm(experience.id, *scratch, *out);
}

}  // namespace rtml::decision
