// ConditionRegex: the matcher behind the `$regex` condition operator. A
// pattern (a subset of ECMAScript syntax, see docs/conditions.md) is compiled
// once into a Thompson NFA of at most kMaxRegexInstructions instructions and
// searched with a Pike VM whose state lives in fixed-size stack buffers, so a
// search never allocates, never recurses and runs in O(text * pattern) time
// whatever the input (std::regex allocates per match and can overflow the
// stack on long inputs, which a request-time matcher must not do).
// Thread-safety: immutable after Compile; Search may run concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace rtml::decision {

inline constexpr size_t kMaxRegexInstructions = 1024;
inline constexpr int kMaxRegexRepeat = 1000;  // largest n or m in {n,m}
inline constexpr int kMaxRegexGroupDepth = 32;

class ConditionRegex {
 public:
  // Errors are INVALID_ARGUMENT with the reason only (e.g. "missing ')'");
  // the caller adds the path, operator and pattern.
  static StatusOr<ConditionRegex> Compile(std::string_view pattern, bool ignore_case);

  // True when the pattern matches somewhere in `text` (UTF-8; `^`/`$` anchor
  // at the ends of the text). No allocation, thread-safe.
  bool Search(std::string_view text) const;

  size_t instruction_count() const { return program_.size(); }

  enum class Opcode : uint8_t { kChar, kAny, kClass, kSplit, kJump, kAssert, kMatch };
  enum class Assertion : uint8_t { kBegin, kEnd, kWordBoundary, kNotWordBoundary };
  struct Instruction {
    Opcode op;
    Assertion assertion = Assertion::kBegin;  // kAssert only
    uint32_t arg = 0;  // kChar: code point; kClass: class index; kSplit/kJump: first target
    uint32_t alt = 0;  // kSplit: second target
  };
  struct Range {
    uint32_t lo;
    uint32_t hi;  // inclusive
  };
  struct CharClass {
    std::vector<Range> ranges;  // sorted, disjoint
    bool negated = false;
  };

 private:
  friend class RegexCompiler;
  friend class RegexVm;
  bool ClassMatches(const CharClass& c, uint32_t cp) const;
  bool Consumes(const Instruction& inst, uint32_t cp) const;

  std::vector<Instruction> program_;
  std::vector<CharClass> classes_;
  bool ignore_case_ = false;
  bool anchored_ = false;  // the program starts with `^`: only position 0 can start a match
};

}  // namespace rtml::decision
