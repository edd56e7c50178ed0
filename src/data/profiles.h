// Live profiles: identity stitching, merged profile attributes and computed
// attributes (windowed aggregates over a person's events), with a lookup fast
// enough for prediction pipelines. One ProfileStore per sandbox.
//
// Thread-safety: mutations (Set/RemoveComputedAttribute, Apply*, ReplayEvent,
// EvictExpired) are serialized by an internal mutex and are meant to come from
// the single ingestion writer thread; Lookup, ProfileJson, PersonOf and the
// other const methods may run on any number of threads concurrently with them.
//
// The product contract:
//
// Identity stitching. Identities ("NS:ID" strings) seen together in one
//   identityMap or profile record belong to one person (union-find); merges
//   are permanent. Any linked identity resolves to the same person. A person's
//   canonical identity is the lexicographically smallest of its identities and
//   its id is the 64-bit FNV-1a hash of that string, shown in JSON as 16 hex
//   digits. The id therefore does not depend on the order events are applied
//   (a replay after restart yields the same ids); it changes only when a merge
//   brings in a smaller identity. Two persons share an id only on a 64-bit
//   hash collision (about 3e-8 for a million persons). Empty identity strings
//   are ignored; an event or record without identities belongs to nobody and
//   updates no profile.
//
// Computed attributes. An event counts for an attribute iff its dataset and
//   (if set) eventType match, every filter path holds exactly the filter value
//   (canonical JSON scalar text: strings quoted, integral numbers without a
//   fraction so 3 == 3.0, true/false), and
//   now_ms - window_ms < timestamp_ms <= now_ms, where now_ms is the query
//   time. Arrival order does not matter. count ignores the field; sum, avg,
//   min and max use numeric fields only (an event whose field is missing or
//   not a number is ignored by that attribute); last is the number, string or
//   boolean of the event with the greatest timestamp (ties: the one applied
//   later); distinct_count counts distinct canonical texts of scalar values.
//   An empty window gives count = sum = distinct_count = 0 and null for min,
//   max, avg and last. Field paths are dot-separated object keys.
//
// Retention. Per person and attribute the store keeps (timestamp, value)
//   entries that may still fall inside a window. With `wall` the clock at
//   apply time, an event with timestamp <= wall - window - lateness is
//   dropped and such entries are evicted lazily (when the person's attribute
//   is next written, or by EvictExpired). Results are therefore exact for
//   every query time now_ms >= (wall clock of the latest apply) - lateness,
//   which includes the present. At most max_entries_per_attribute entries
//   (32 bytes each) are kept per person and attribute; beyond that the oldest
//   (smallest timestamp) are dropped first, so a window holding more events
//   than the cap undercounts.
//
// Profile attributes. A profile record's fields (nested objects merged field
//   by field; arrays and scalars are leaves) are merged into the person: per
//   field the write with the greater record timestamp wins, equal timestamps:
//   the later call wins. A value replaces an object (or the reverse) only when
//   it is newer than everything inside that object.
//
// Merging persons unions their computed entries (exactly, then the cap) and
// merges their attributes with the same per-field rule. "updated" is the
// greatest event or record timestamp ever applied to the person.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "simdjson.h"

namespace rtml::data {

enum class AggregateFunction { kCount, kSum, kMin, kMax, kAvg, kLast, kDistinctCount };

// "count", "sum", "min", "max", "avg", "last", "distinct_count".
std::string_view AggregateFunctionName(AggregateFunction f);

inline constexpr int64_t kMaxWindowMs = 400LL * 24 * 60 * 60 * 1000;  // 400 days

struct ComputedAttributeDef {
  std::string name;     // letters, digits, '_' and '-' (no '.': addressed as computed.<name>)
  std::string dataset;  // events of this dataset only
  std::optional<std::string> event_type;  // only events with this eventType
  AggregateFunction function = AggregateFunction::kCount;
  std::string field;  // dotted path into the event ("commerce.order.priceTotal"); empty for count
  int64_t window_ms = 0;  // whole seconds, 1s to 400 days
  // Field path -> required value as canonical JSON scalar text ("\"mobile\"", "3", "true").
  std::vector<std::pair<std::string, std::string>> filters;

  bool operator==(const ComputedAttributeDef&) const = default;
};

// "<n>s|m|h|d|w" with n >= 1 and at most 400 days -> milliseconds. Errors name the value.
StatusOr<int64_t> ParseWindow(std::string_view w);
// Milliseconds -> the largest exact unit among d, h, m, s ("7d", "90m"); inverse of ParseWindow.
std::string FormatWindow(int64_t window_ms);

// Parses the PUT /v1/computed-attributes/{name} body
// {"dataset","eventType"?,"function","field"?,"window","filter"?: {"path": scalar}}.
// Errors name the field. Filter values are stored canonically.
StatusOr<ComputedAttributeDef> ParseComputedAttribute(std::string_view name, std::string_view json);
// The PUT body for `def` (round-trips through ParseComputedAttribute).
std::string ComputedAttributeJson(const ComputedAttributeDef& def);

struct Value {
  enum class Kind {
    kNull,
    kNumber,
    kString,
    kBool
  } kind = Kind::kNull;  // kBool: `last` of a boolean field
  double number = 0;     // kNumber; kBool: 1 or 0
  std::string string;    // kString
};

// What the ingestion writer passes for each stored event (already validated).
// Views only need to live for the duration of the call.
struct EventView {
  std::string_view dataset;
  std::string_view event_id;  // _id
  int64_t timestamp_ms;       // event time
  std::string_view event_type;
  std::span<const std::string> identities;  // "NS:ID" from identityMap; may be empty
  simdjson::dom::element record;            // the whole event (must be a parsed element)
};

struct ProfileStoreOptions {
  int64_t lateness_ms = 5 * 60 * 1000;
  size_t max_entries_per_attribute = 10'000;
  // Wall clock, ms since the epoch; null means the system clock. A test seam.
  std::function<int64_t()> clock;
};

class ProfileStore {
 public:
  explicit ProfileStore(ProfileStoreOptions options = {});
  ~ProfileStore();
  ProfileStore(const ProfileStore&) = delete;
  ProfileStore& operator=(const ProfileStore&) = delete;

  // Adds `def`, or replaces the attribute of the same name in place (same
  // index; its state is cleared). Events are not replayed here: the caller
  // replays them (ApplyEvent on a fresh store, or ReplayEvent). Validates the
  // definition and canonicalizes its filter values.
  Status SetComputedAttribute(ComputedAttributeDef def);
  // Removes the attribute; later attributes shift down by one index.
  Status RemoveComputedAttribute(std::string_view name);
  std::vector<ComputedAttributeDef> ComputedAttributes() const;
  std::optional<int> AttributeIndex(std::string_view name) const;
  // Changes on every Set/Remove, so a pipeline holding indices knows to re-resolve them.
  uint64_t attributes_version() const;

  // Links the event's identities and updates every matching computed attribute.
  void ApplyEvent(const EventView& e);
  // Like ApplyEvent, but updates only attribute `attribute_index` (replay after
  // SetComputedAttribute).
  void ReplayEvent(const EventView& e, int attribute_index);
  // A profile-class record: links identities and merges `attributes` (an object).
  void ApplyProfileRecord(std::span<const std::string> identities,
                          simdjson::dom::element attributes, int64_t record_ts_ms);
  // Drops every entry that can no longer fall in a window (see Retention); returns how many.
  size_t EvictExpired();

  // The person id of a known identity.
  std::optional<uint64_t> PersonOf(std::string_view identity) const;
  // Computed values of the person of `identity` at query time now_ms, by
  // attribute index (position in ComputedAttributes()); out.size() must be >=
  // attribute_indices.size(). An unknown identity gives the empty-window
  // values and returns false; an out-of-range index gives null. Allocates
  // nothing for numeric values (strings reuse out[i].string's capacity).
  bool Lookup(std::string_view identity, std::span<const int> attribute_indices, int64_t now_ms,
              std::span<Value> out) const;
  // GET /v1/profiles/{ns}/{id}: {"identity","person","identities":[sorted],
  // "attributes":{...},"computed":{"name": value|null},"updated":"<RFC 3339>"}.
  // NotFound when the identity is unknown.
  StatusOr<std::string> ProfileJson(std::string_view identity, int64_t now_ms) const;
  size_t num_persons() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rtml::data
