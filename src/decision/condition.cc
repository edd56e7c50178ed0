// Condition: the public wrapper and the evaluator. Evaluation walks the
// compiled Expr tree over simdjson DOM elements using only views, binary
// searches and the stack-based regex VM, so it never allocates.
#include "decision/condition.h"

#include <algorithm>
#include <cmath>

#include "decision/condition_internal.h"

namespace rtml::decision {

std::string_view RootName(Root r) {
  switch (r) {
    case Root::kProfile: return "profile";
    case Root::kComputed: return "computed";
    case Root::kContext: return "context";
    case Root::kScore: return "score";
  }
  return "?";
}

namespace internal {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

template <typename T>
int Sign(T a, T b) {
  return a < b ? -1 : (a > b ? 1 : 0);
}

int Flip(int c) { return c == kUnordered ? c : -c; }

// Exact int64 vs double: compare with the double's integer part, then its fraction.
int CompareIntDouble(int64_t i, double d) {
  if (std::isnan(d)) return kUnordered;
  if (d >= 9223372036854775808.0) return -1;  // 2^63
  if (d < -9223372036854775808.0) return 1;
  const auto whole = static_cast<int64_t>(d);  // in range, truncates toward zero
  if (i != whole) return Sign(i, whole);
  const double frac = d - static_cast<double>(whole);  // exact
  return frac > 0 ? -1 : (frac < 0 ? 1 : 0);
}

int CompareUintDouble(uint64_t u, double d) {
  if (std::isnan(d)) return kUnordered;
  if (d < 0) return 1;
  if (d >= 18446744073709551616.0) return -1;  // 2^64
  const auto whole = static_cast<uint64_t>(d);
  if (u != whole) return Sign(u, whole);
  const double frac = d - static_cast<double>(whole);
  return frac > 0 ? -1 : (frac < 0 ? 1 : 0);
}

int CompareIntUint(int64_t i, uint64_t u) {
  return i < 0 ? -1 : Sign(static_cast<uint64_t>(i), u);
}

}  // namespace

int CompareNumbers(const Number& a, const Number& b) {
  using K = Number::Kind;
  switch (a.kind) {
    case K::kInt:
      if (b.kind == K::kInt) return Sign(a.i, b.i);
      if (b.kind == K::kUint) return CompareIntUint(a.i, b.u);
      return CompareIntDouble(a.i, b.d);
    case K::kUint:
      if (b.kind == K::kInt) return Flip(CompareIntUint(b.i, a.u));
      if (b.kind == K::kUint) return Sign(a.u, b.u);
      return CompareUintDouble(a.u, b.d);
    case K::kDouble:
      if (b.kind == K::kInt) return Flip(CompareIntDouble(b.i, a.d));
      if (b.kind == K::kUint) return Flip(CompareUintDouble(b.u, a.d));
      if (std::isnan(a.d) || std::isnan(b.d)) return kUnordered;
      return Sign(a.d, b.d);
  }
  return kUnordered;
}

namespace {

const element* RootOf(const ConditionInput& in, Root r) {
  switch (r) {
    case Root::kProfile: return in.profile;
    case Root::kComputed: return in.computed;
    case Root::kContext: return in.context;
    case Root::kScore: return in.score;
  }
  return nullptr;
}

// Follows the path's keys through nested objects; false when anything is missing.
bool Resolve(const Path& path, const ConditionInput& in, element* out) {
  const element* root = RootOf(in, path.root);
  if (root == nullptr) return false;
  element cur = *root;
  for (const std::string& key : path.keys) {
    simdjson::dom::object obj;
    if (cur.get_object().get(obj) != simdjson::SUCCESS) return false;
    if (obj.at_key(key).get(cur) != simdjson::SUCCESS) return false;
  }
  *out = cur;
  return true;
}

bool ToNumber(element e, Number* out) {
  switch (e.type()) {
    case element_type::INT64: out->kind = Number::Kind::kInt; return e.get_int64().get(out->i) == simdjson::SUCCESS;
    case element_type::UINT64: out->kind = Number::Kind::kUint; return e.get_uint64().get(out->u) == simdjson::SUCCESS;
    case element_type::DOUBLE: out->kind = Number::Kind::kDouble; return e.get_double().get(out->d) == simdjson::SUCCESS;
    default: return false;
  }
}

bool ToString(element e, std::string_view* out) {
  return e.type() == element_type::STRING && e.get_string().get(*out) == simdjson::SUCCESS;
}

// Orders a scalar element against a number or string literal; kUnordered on a
// type mismatch (or NaN).
int CompareToLiteral(element e, const Literal& lit) {
  if (lit.kind == Literal::Kind::kNumber) {
    Number n;
    return ToNumber(e, &n) ? CompareNumbers(n, lit.number) : kUnordered;
  }
  std::string_view s;
  if (lit.kind == Literal::Kind::kString && ToString(e, &s)) {
    const int c = s.compare(lit.string);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  return kUnordered;
}

bool EqualsLiteral(element e, const Literal& lit) {
  switch (lit.kind) {
    case Literal::Kind::kNull:
      return e.type() == element_type::NULL_VALUE;
    case Literal::Kind::kBool: {
      bool b = false;
      return e.type() == element_type::BOOL && e.get_bool().get(b) == simdjson::SUCCESS &&
             b == lit.boolean;
    }
    default:
      return CompareToLiteral(e, lit) == 0;
  }
}

bool InListContains(const InList& list, element e) {
  switch (e.type()) {
    case element_type::NULL_VALUE:
      return list.has_null;
    case element_type::BOOL: {
      bool b = false;
      if (e.get_bool().get(b) != simdjson::SUCCESS) return false;
      return b ? list.has_true : list.has_false;
    }
    case element_type::STRING: {
      std::string_view s;
      return ToString(e, &s) && std::binary_search(list.strings.begin(), list.strings.end(), s);
    }
    default: {
      Number n;
      if (!ToNumber(e, &n)) return false;
      const auto it = std::lower_bound(
          list.numbers.begin(), list.numbers.end(), n,
          [](const Number& a, const Number& b) { return CompareNumbers(a, b) == -1; });
      return it != list.numbers.end() && CompareNumbers(*it, n) == 0;
    }
  }
}

// One positive test (never kNe / kNin / kExists / kNot) on one non-array value.
bool MatchesScalar(FieldOp op, const Predicate& p, const CompiledCondition& c, element e) {
  switch (op) {
    case FieldOp::kEq: return EqualsLiteral(e, p.literal);
    case FieldOp::kLt: return CompareToLiteral(e, p.literal) == -1;
    case FieldOp::kLte: { const int r = CompareToLiteral(e, p.literal); return r == -1 || r == 0; }
    case FieldOp::kGt: return CompareToLiteral(e, p.literal) == 1;
    case FieldOp::kGte: { const int r = CompareToLiteral(e, p.literal); return r == 1 || r == 0; }
    case FieldOp::kIn: return InListContains(c.in_lists[p.index], e);
    case FieldOp::kRegex: {
      std::string_view s;
      return ToString(e, &s) && c.regexes[p.index].Search(s);
    }
    default: return false;
  }
}

// A positive test on a present value: on an array, true when any element matches.
bool MatchesValue(FieldOp op, const Predicate& p, const CompiledCondition& c, element e) {
  if (e.type() != element_type::ARRAY) return MatchesScalar(op, p, c, e);
  simdjson::dom::array items;
  if (e.get_array().get(items) != simdjson::SUCCESS) return false;
  for (element item : items) {
    if (MatchesScalar(op, p, c, item)) return true;
  }
  return false;
}

bool AllPredicates(const std::vector<Predicate>& predicates, const CompiledCondition& c,
                   const element* value);

// `value` is null when the path is missing.
bool EvalPredicate(const Predicate& p, const CompiledCondition& c, const element* value) {
  switch (p.op) {
    case FieldOp::kExists: return (value != nullptr) == p.exists;
    case FieldOp::kNe: return value == nullptr || !MatchesValue(FieldOp::kEq, p, c, *value);
    case FieldOp::kNin: return value == nullptr || !MatchesValue(FieldOp::kIn, p, c, *value);
    case FieldOp::kNot: return !AllPredicates(p.negated, c, value);
    default: return value != nullptr && MatchesValue(p.op, p, c, *value);
  }
}

bool AllPredicates(const std::vector<Predicate>& predicates, const CompiledCondition& c,
                   const element* value) {
  for (const Predicate& p : predicates) {
    if (!EvalPredicate(p, c, value)) return false;
  }
  return true;
}

bool EvalExpr(const Expr& e, const CompiledCondition& c, const ConditionInput& in) {
  switch (e.kind) {
    case ExprKind::kAnd:
      return std::all_of(e.children.begin(), e.children.end(),
                         [&](const Expr& x) { return EvalExpr(x, c, in); });
    case ExprKind::kOr:
      return std::any_of(e.children.begin(), e.children.end(),
                         [&](const Expr& x) { return EvalExpr(x, c, in); });
    case ExprKind::kNot:
      return !EvalExpr(e.children[0], c, in);
    case ExprKind::kField: {
      element value;
      const bool present = Resolve(c.path_specs[e.path], in, &value);
      return AllPredicates(e.predicates, c, present ? &value : nullptr);
    }
  }
  return false;
}

const std::shared_ptr<const CompiledCondition>& EmptyCondition() {
  static const std::shared_ptr<const CompiledCondition> kEmpty =
      std::make_shared<const CompiledCondition>();
  return kEmpty;
}

}  // namespace

bool EvaluateCompiled(const CompiledCondition& c, const ConditionInput& in) {
  return EvalExpr(c.root, c, in);
}

}  // namespace internal

Condition::Condition() : compiled_(internal::EmptyCondition()) {}

Condition::Condition(std::shared_ptr<const internal::CompiledCondition> compiled)
    : compiled_(std::move(compiled)) {}

StatusOr<Condition> Condition::Compile(std::string_view json, const SegmentResolver& segments) {
  ASSIGN_OR_RETURN(auto compiled, internal::CompileCondition(json, segments));
  return Condition(std::move(compiled));
}

bool Condition::Evaluate(const ConditionInput& in) const {
  return internal::EvaluateCompiled(*compiled_, in);
}

const std::vector<std::string>& Condition::paths() const { return compiled_->paths; }

bool Condition::reads(Root r) const { return compiled_->reads[static_cast<size_t>(r)]; }

const std::vector<std::string>& Condition::segments() const { return compiled_->segments; }

bool Condition::matches_everything() const {
  return compiled_->root.kind == internal::ExprKind::kAnd && compiled_->root.children.empty();
}

}  // namespace rtml::decision
