// Condition: a compiled audience/rule condition in the MongoDB-style JSON
// language of SPEC section 4 (full reference: docs/conditions.md), e.g.
//   {"profile.country": {"$in": ["US", "CA"]}, "score.churn": {"$gt": 0.7}}
// Compile parses, validates and inlines segment references once; Evaluate
// then tests parsed JSON documents without allocating.
// Thread-safety: a Condition is immutable; Evaluate and every accessor may run
// concurrently. Copies share the immutable compiled form (cheap to copy).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "common/status.h"

namespace rtml::decision {

// The four roots a condition path can start with.
enum class Root : uint8_t { kProfile, kComputed, kContext, kScore };

// "profile", "computed", "context" or "score".
std::string_view RootName(Root r);

// What a condition is evaluated against: each root is an optional parsed JSON
// object (nullptr = absent: every path under it is "missing"). The elements
// must outlive the Evaluate call.
struct ConditionInput {
  const simdjson::dom::element* profile = nullptr;
  const simdjson::dom::element* computed = nullptr;
  const simdjson::dom::element* context = nullptr;
  const simdjson::dom::element* score = nullptr;
};

// Resolves {"$segment": "name"} references at compile time: returns the
// segment's condition JSON text, or NOT_FOUND.
using SegmentResolver = std::function<StatusOr<std::string>(std::string_view name)>;

// Limits on one condition, segments included (documented in docs/conditions.md).
inline constexpr int kMaxConditionDepth = 32;
inline constexpr size_t kMaxConditionNodes = 1000;
inline constexpr size_t kMaxInEntries = 10'000;
inline constexpr size_t kMaxConditionBytes = 4 << 20;

namespace internal {
struct CompiledCondition;
}  // namespace internal

class Condition {
 public:
  // The empty condition: matches everything.
  Condition();
  // Copies share the compiled form. There is deliberately no move: a
  // moved-from Condition would have nothing to evaluate, so a "move" copies
  // the shared pointer instead.
  Condition(const Condition&) = default;
  Condition& operator=(const Condition&) = default;

  // Compiles condition JSON text once. Every error is INVALID_ARGUMENT and
  // names the path, operator, segment or limit, e.g.
  //   "context.page: $regex: invalid pattern '([': missing ')'"
  //   "unknown operator '$foo' at context.x"
  //   "path 'user.x' must start with profile., computed., context. or score."
  // (except a resolver failure other than NOT_FOUND, whose code is kept).
  static StatusOr<Condition> Compile(std::string_view json,
                                     const SegmentResolver& segments = nullptr);

  // Thread-safe and allocation-free.
  bool Evaluate(const ConditionInput& in) const;

  // The distinct paths the condition reads, sorted, e.g.
  // {"profile.country", "score.churn"}: callers use this to know which roots
  // (and services) to fetch before evaluating.
  const std::vector<std::string>& paths() const;
  bool reads(Root r) const;
  // Segment names referenced directly or transitively, sorted, distinct.
  const std::vector<std::string>& segments() const;
  // True for the empty condition and for `{}`.
  bool matches_everything() const;

 private:
  explicit Condition(std::shared_ptr<const internal::CompiledCondition> compiled);

  // Never null. Shared because it is immutable: copies are cheap and safe.
  std::shared_ptr<const internal::CompiledCondition> compiled_;
};

}  // namespace rtml::decision
