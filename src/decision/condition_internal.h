// The compiled form of a Condition, shared by the compiler
// (condition_compile.cc) and the evaluator (condition.cc). A tree of Expr
// nodes; each field test holds AND-ed Predicates; $in lists and regexes live in
// side tables so that evaluation only reads.
// Thread-safety: built once by the compiler, then immutable.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "decision/condition.h"
#include "decision/condition_regex.h"

namespace rtml::decision::internal {

// A JSON number in the kind it was parsed as, so that comparisons between
// int64, uint64 and double are exact (no rounding through double).
struct Number {
  enum class Kind : uint8_t { kInt, kUint, kDouble };
  Kind kind = Kind::kInt;
  int64_t i = 0;   // kInt
  uint64_t u = 0;  // kUint
  double d = 0;    // kDouble

  static Number Int(int64_t v) { return {Kind::kInt, v, 0, 0}; }
  static Number Uint(uint64_t v) { return {Kind::kUint, 0, v, 0}; }
  static Number Double(double v) { return {Kind::kDouble, 0, 0, v}; }
};

// -1, 0 or 1 as a <, ==, > b; kUnordered when either is NaN.
inline constexpr int kUnordered = 2;
int CompareNumbers(const Number& a, const Number& b);

// A scalar operand written in the condition.
struct Literal {
  enum class Kind : uint8_t { kNull, kBool, kNumber, kString };
  Kind kind = Kind::kNull;
  bool boolean = false;
  Number number;
  std::string string;
};

// The entries of one $in / $nin list, split by type for binary search.
struct InList {
  std::vector<std::string> strings;  // sorted bytewise
  std::vector<Number> numbers;       // sorted by CompareNumbers
  bool has_true = false;
  bool has_false = false;
  bool has_null = false;
};

enum class FieldOp : uint8_t { kEq, kNe, kLt, kLte, kGt, kGte, kIn, kNin, kExists, kRegex, kNot };

struct Predicate {
  FieldOp op = FieldOp::kEq;
  Literal literal;                 // kEq kNe kLt kLte kGt kGte
  bool exists = true;              // kExists
  uint32_t index = 0;              // kIn kNin: in_lists; kRegex: regexes
  std::vector<Predicate> negated;  // kNot: AND-ed, then negated
};

struct Path {
  Root root = Root::kProfile;
  std::vector<std::string> keys;  // at least one
};

enum class ExprKind : uint8_t { kAnd, kOr, kNot, kField };

struct Expr {
  ExprKind kind = ExprKind::kAnd;
  uint32_t path = 0;                  // kField: index into CompiledCondition::path_specs
  std::vector<Predicate> predicates;  // kField: AND-ed
  std::vector<Expr> children;         // kAnd / kOr: operands (kAnd of none is true); kNot: one
};

struct CompiledCondition {
  Expr root;
  std::vector<Path> path_specs;
  std::vector<std::string> paths;     // sorted, distinct
  std::vector<std::string> segments;  // sorted, distinct
  std::vector<InList> in_lists;
  std::vector<ConditionRegex> regexes;
  std::array<bool, 4> reads{};  // indexed by Root
};

StatusOr<std::shared_ptr<const CompiledCondition>> CompileCondition(
    std::string_view json, const SegmentResolver& segments);

bool EvaluateCompiled(const CompiledCondition& c, const ConditionInput& in);

}  // namespace rtml::decision::internal
