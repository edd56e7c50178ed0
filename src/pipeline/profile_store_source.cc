#include "pipeline/profile_store_source.h"

#include <cmath>
#include <limits>
#include <unordered_map>
#include <vector>

#include "pipeline/internal/plan.h"

namespace rtml::pipeline {

struct ProfileStoreSource::Snapshot {
  uint64_t version = 0;
  std::unordered_map<std::string, int, internal::StringHash, std::equal_to<>> index;
};

ProfileStoreSource::ProfileStoreSource(const data::ProfileStore* store) : store_(store) {}
ProfileStoreSource::~ProfileStoreSource() = default;

std::shared_ptr<const ProfileStoreSource::Snapshot> ProfileStoreSource::Current() const {
  auto snap = snapshot_.load(std::memory_order_acquire);
  const uint64_t version = store_->attributes_version();
  if (snap != nullptr && snap->version == version) return snap;
  // Rebuild; a definition change racing with the rebuild is retried so the
  // snapshot never mixes two versions.
  auto fresh = std::make_shared<Snapshot>();
  for (int attempt = 0; attempt < 8; ++attempt) {
    const uint64_t before = store_->attributes_version();
    auto defs = store_->ComputedAttributes();
    fresh->index.clear();
    for (size_t i = 0; i < defs.size(); ++i) fresh->index.emplace(defs[i].name, static_cast<int>(i));
    fresh->version = before;
    if (store_->attributes_version() == before) break;
  }
  snapshot_.store(fresh, std::memory_order_release);
  return fresh;
}

bool ProfileStoreSource::Lookup(std::string_view identity, std::span<const std::string> attributes,
                                int64_t now_ms, std::span<double> out) const {
  // Per-thread scratch: grows to the largest attribute list, then reused.
  thread_local std::vector<int> indices;
  thread_local std::vector<data::Value> values;
  const auto snap = Current();
  const size_t n = attributes.size();
  if (indices.size() < n) indices.resize(n);
  if (values.size() < n) values.resize(n);
  for (size_t i = 0; i < n; ++i) {
    auto it = snap->index.find(attributes[i]);
    indices[i] = it == snap->index.end() ? -1 : it->second;  // -1: null
  }
  const bool found = store_->Lookup(identity, std::span<const int>(indices.data(), n), now_ms,
                                    std::span<data::Value>(values.data(), n));
  if (!found) return false;
  for (size_t i = 0; i < n && i < out.size(); ++i) {
    const data::Value& v = values[i];
    out[i] = v.kind == data::Value::Kind::kNumber || v.kind == data::Value::Kind::kBool
                 ? v.number
                 : std::numeric_limits<double>::quiet_NaN();
  }
  return true;
}

}  // namespace rtml::pipeline
