// Condition compiler: JSON text -> CompiledCondition. Parses with
// nlohmann::json (exceptions stop at ParseDocument), validates every key,
// operator and operand, inlines segment references with cycle detection and
// enforces the limits in condition.h. Every error names where it happened.
#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "decision/condition_internal.h"

namespace rtml::decision::internal {
namespace {

using Json = nlohmann::ordered_json;

std::string DepthError() {
  return "condition nests deeper than " + std::to_string(kMaxConditionDepth) + " levels";
}

// Parses one document whose top-level object sits at JSON depth base_depth + 1,
// rejecting repeated keys and nesting beyond kMaxConditionDepth on the way.
StatusOr<Json> ParseDocument(std::string_view text, int base_depth) {
  if (text.size() > kMaxConditionBytes) {
    return InvalidArgumentError("condition is " + std::to_string(text.size()) +
                                " bytes, more than the limit of " +
                                std::to_string(kMaxConditionBytes));
  }
  std::string error;
  std::vector<std::unordered_set<std::string>> open_objects;
  auto check = [&](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (base_depth + depth + 1 > kMaxConditionDepth && error.empty()) error = DepthError();
        if (event == Json::parse_event_t::object_start) open_objects.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open_objects.empty() && !open_objects.back().insert(parsed.get<std::string>()).second &&
            error.empty()) {
          error = "repeated key '" + parsed.get<std::string>() + "'";
        }
        break;
      default:
        break;
    }
    return error.empty();  // after an error, discard the rest instead of building it
  };
  Json doc;
  try {
    doc = Json::parse(text.begin(), text.end(), check);
  } catch (const Json::exception& e) {
    // Drop nlohmann's "[json.exception.parse_error.101] " tag; keep the position and reason.
    const std::string what = e.what();
    const size_t tag_end = what.rfind("] ", what.find(' '));
    return InvalidArgumentError("condition is not valid JSON: " +
                                (tag_end == std::string::npos ? what : what.substr(tag_end + 2)));
  }
  if (!error.empty()) return InvalidArgumentError(error);
  return doc;
}

// A scalar JSON value as a Literal; false for arrays, objects and non-finite numbers.
bool ToLiteral(const Json& v, Literal* out) {
  switch (v.type()) {
    case Json::value_t::null:
      out->kind = Literal::Kind::kNull;
      return true;
    case Json::value_t::boolean:
      out->kind = Literal::Kind::kBool;
      out->boolean = v.get<bool>();
      return true;
    case Json::value_t::number_integer:
      out->kind = Literal::Kind::kNumber;
      out->number = Number::Int(v.get<int64_t>());
      return true;
    case Json::value_t::number_unsigned:
      out->kind = Literal::Kind::kNumber;
      out->number = Number::Uint(v.get<uint64_t>());
      return true;
    case Json::value_t::number_float:
      out->kind = Literal::Kind::kNumber;
      out->number = Number::Double(v.get<double>());
      return std::isfinite(out->number.d);
    case Json::value_t::string:
      out->kind = Literal::Kind::kString;
      out->string = v.get<std::string>();
      return true;
    default:
      return false;
  }
}

struct OperatorName {
  std::string_view name;
  FieldOp op;
};
constexpr OperatorName kFieldOperators[] = {
    {"$eq", FieldOp::kEq},   {"$ne", FieldOp::kNe},         {"$lt", FieldOp::kLt},
    {"$lte", FieldOp::kLte}, {"$gt", FieldOp::kGt},         {"$gte", FieldOp::kGte},
    {"$in", FieldOp::kIn},   {"$nin", FieldOp::kNin},       {"$exists", FieldOp::kExists},
    {"$regex", FieldOp::kRegex}, {"$not", FieldOp::kNot}};

bool LookupFieldOperator(std::string_view name, FieldOp* op) {
  for (const OperatorName& o : kFieldOperators) {
    if (o.name == name) {
      *op = o.op;
      return true;
    }
  }
  return false;
}

bool IsOperatorKey(std::string_view key) { return !key.empty() && key[0] == '$'; }

constexpr std::string_view kRootNames[] = {"profile", "computed", "context", "score"};

// Builds one condition's compiled form; segments are compiled recursively
// into the same CompiledCondition.
class ConditionCompiler {
 public:
  ConditionCompiler(const SegmentResolver& resolver, CompiledCondition* out)
      : resolver_(resolver), out_(out) {}

  // Compiles a document whose top-level object is at JSON depth `depth`.
  Status CompileText(std::string_view text, int depth, Expr* expr) {
    StatusOr<Json> doc = ParseDocument(text, depth - 1);
    if (!doc.ok()) return Error(doc.status().message());
    return CompileObject(*doc, depth, "a condition", expr);
  }

  void Finish() {
    for (const Path& p : out_->path_specs) {
      std::string text(kRootNames[static_cast<int>(p.root)]);
      for (const std::string& k : p.keys) text += "." + k;
      out_->paths.push_back(std::move(text));
      out_->reads[static_cast<size_t>(p.root)] = true;
    }
    std::sort(out_->paths.begin(), out_->paths.end());
    std::sort(out_->segments.begin(), out_->segments.end());
    out_->segments.erase(std::unique(out_->segments.begin(), out_->segments.end()),
                         out_->segments.end());
  }

 private:
  // An INVALID_ARGUMENT error, prefixed with the segment chain when the
  // failing text came from a segment.
  Status Error(std::string message) const {
    if (chain_.empty()) return InvalidArgumentError(std::move(message));
    std::string where = "segment ";
    for (size_t i = 0; i < chain_.size(); ++i) where += (i ? " -> '" : "'") + chain_[i] + "'";
    return InvalidArgumentError(where + ": " + message);
  }

  Status CountNode() {
    if (++nodes_ > kMaxConditionNodes) {
      return Error("condition has more than " + std::to_string(kMaxConditionNodes) +
                   " operator nodes");
    }
    return OkStatus();
  }

  Status CheckDepth(int depth) const {
    return depth > kMaxConditionDepth ? Error(DepthError()) : OkStatus();
  }

  // An object of implicitly AND-ed keys; `what` names it in errors.
  Status CompileObject(const Json& obj, int depth, const std::string& what, Expr* expr) {
    if (!obj.is_object()) return Error(what + " must be a JSON object");
    RETURN_IF_ERROR(CheckDepth(depth));
    if (obj.size() == 1) return CompileKey(obj.begin().key(), obj.begin().value(), depth, expr);
    RETURN_IF_ERROR(CountNode());
    expr->kind = ExprKind::kAnd;
    for (const auto& [key, value] : obj.items()) {
      Expr child;
      RETURN_IF_ERROR(CompileKey(key, value, depth, &child));
      expr->children.push_back(std::move(child));
    }
    return OkStatus();
  }

  Status CompileKey(const std::string& key, const Json& value, int depth, Expr* expr) {
    if (key == "$and" || key == "$or") return CompileList(key, value, depth, expr);
    if (key == "$not") {
      RETURN_IF_ERROR(CountNode());
      expr->kind = ExprKind::kNot;
      expr->children.resize(1);
      return CompileObject(value, depth + 1, "$not: the operand", &expr->children[0]);
    }
    if (key == "$segment") return CompileSegment(value, depth, expr);
    if (IsOperatorKey(key)) {
      return Error("unknown operator '" + key +
                   "' (conditions combine with $and, $or, $not and $segment)");
    }
    return CompileField(key, value, depth, expr);
  }

  Status CompileList(const std::string& key, const Json& value, int depth, Expr* expr) {
    if (!value.is_array() || value.empty()) {
      return Error(key + ": expected a non-empty array of conditions");
    }
    RETURN_IF_ERROR(CheckDepth(depth + 1));
    RETURN_IF_ERROR(CountNode());
    expr->kind = key == "$and" ? ExprKind::kAnd : ExprKind::kOr;
    for (size_t i = 0; i < value.size(); ++i) {
      Expr child;
      RETURN_IF_ERROR(
          CompileObject(value[i], depth + 2, key + "[" + std::to_string(i) + "]", &child));
      expr->children.push_back(std::move(child));
    }
    return OkStatus();
  }

  Status CompileSegment(const Json& value, int depth, Expr* expr) {
    if (!value.is_string()) return Error("$segment: expected a segment name (a string)");
    const std::string name = value.get<std::string>();
    const auto in_chain = std::find(chain_.begin(), chain_.end(), name);
    if (in_chain != chain_.end()) {
      std::string cycle;
      for (auto it = in_chain; it != chain_.end(); ++it) cycle += "'" + *it + "' -> ";
      return InvalidArgumentError("segment cycle: " + cycle + "'" + name + "'");
    }
    if (!resolver_) return Error("$segment '" + name + "': segments cannot be referenced here");
    StatusOr<std::string> text = resolver_(name);
    if (!text.ok()) {
      if (text.status().code() == StatusCode::kNotFound) {
        return Error("unknown segment '" + name + "'");
      }
      return text.status().WithPrefix("$segment '" + name + "'");
    }
    out_->segments.push_back(name);
    chain_.push_back(name);
    Status status = CompileText(*text, depth + 1, expr);
    chain_.pop_back();
    return status;
  }

  Status CompileField(const std::string& path, const Json& value, int depth, Expr* expr) {
    ASSIGN_OR_RETURN(expr->path, InternPath(path));
    RETURN_IF_ERROR(CountNode());
    expr->kind = ExprKind::kField;
    if (value.is_object()) return CompileOperators(path, value, depth + 1, &expr->predicates);
    Predicate eq;
    if (!ToLiteral(value, &eq.literal)) {
      return Error(path + ": expected a string, number, boolean, null or an operator object");
    }
    expr->predicates.push_back(std::move(eq));
    return OkStatus();
  }

  // An operator object such as {"$gte": 1, "$lt": 5}: its operators are AND-ed.
  Status CompileOperators(const std::string& path, const Json& ops, int depth,
                          std::vector<Predicate>* out) {
    RETURN_IF_ERROR(CheckDepth(depth));
    if (ops.empty()) return Error(path + ": empty operator object");
    for (const auto& [key, value] : ops.items()) {
      if (!IsOperatorKey(key)) {
        return Error(path + ": expected an operator object (keys starting with '$'), found key '" +
                     key + "'");
      }
    }
    const auto options = ops.find("$options");
    if (options != ops.end() && !ops.contains("$regex")) {
      return Error(path + ": $options requires $regex");
    }
    for (const auto& [key, value] : ops.items()) {
      if (key == "$options") continue;
      Predicate p;
      const Json* opts = options == ops.end() ? nullptr : &options.value();
      RETURN_IF_ERROR(CompileOperator(path, key, value, opts, depth, &p));
      out->push_back(std::move(p));
    }
    return OkStatus();
  }

  Status CompileOperator(const std::string& path, const std::string& op, const Json& value,
                         const Json* options, int depth, Predicate* p) {
    if (!LookupFieldOperator(op, &p->op)) {
      return Error("unknown operator '" + op + "' at " + path);
    }
    RETURN_IF_ERROR(CountNode());
    const std::string where = path + ": " + op + ": ";
    switch (p->op) {
      case FieldOp::kEq:
      case FieldOp::kNe:
        if (!ToLiteral(value, &p->literal)) {
          return Error(where + "expected a string, number, boolean or null");
        }
        return OkStatus();
      case FieldOp::kLt:
      case FieldOp::kLte:
      case FieldOp::kGt:
      case FieldOp::kGte:
        if (!(value.is_number() || value.is_string()) || !ToLiteral(value, &p->literal)) {
          return Error(where + "expected a number or a string");
        }
        return OkStatus();
      case FieldOp::kIn:
      case FieldOp::kNin:
        return CompileInList(where, value, depth + 1, p);
      case FieldOp::kExists:
        if (!value.is_boolean()) return Error(where + "expected true or false");
        p->exists = value.get<bool>();
        return OkStatus();
      case FieldOp::kRegex:
        return CompileRegex(path, value, options, p);
      case FieldOp::kNot:
        if (!value.is_object()) return Error(where + "expected an operator object");
        return CompileOperators(path, value, depth + 1, &p->negated);
    }
    return InternalError("unhandled condition operator " + op);
  }

  Status CompileInList(const std::string& where, const Json& value, int depth, Predicate* p) {
    if (!value.is_array()) return Error(where + "expected an array");
    RETURN_IF_ERROR(CheckDepth(depth));
    if (value.size() > kMaxInEntries) {
      return Error(where + std::to_string(value.size()) + " entries exceed the limit of " +
                   std::to_string(kMaxInEntries));
    }
    InList list;
    for (size_t i = 0; i < value.size(); ++i) {
      Literal lit;
      if (!ToLiteral(value[i], &lit)) {
        return Error(where + "entry " + std::to_string(i) +
                     " must be a string, number, boolean or null");
      }
      AddToInList(std::move(lit), &list);
    }
    std::sort(list.strings.begin(), list.strings.end());
    std::sort(list.numbers.begin(), list.numbers.end(),
              [](const Number& a, const Number& b) { return CompareNumbers(a, b) < 0; });
    p->index = static_cast<uint32_t>(out_->in_lists.size());
    out_->in_lists.push_back(std::move(list));
    return OkStatus();
  }

  static void AddToInList(Literal lit, InList* list) {
    switch (lit.kind) {
      case Literal::Kind::kNull: list->has_null = true; break;
      case Literal::Kind::kBool: (lit.boolean ? list->has_true : list->has_false) = true; break;
      case Literal::Kind::kNumber: list->numbers.push_back(lit.number); break;
      case Literal::Kind::kString: list->strings.push_back(std::move(lit.string)); break;
    }
  }

  Status CompileRegex(const std::string& path, const Json& value, const Json* options,
                      Predicate* p) {
    if (!value.is_string()) return Error(path + ": $regex: expected a string pattern");
    bool ignore_case = false;
    if (options != nullptr) {
      if (!options->is_string()) return Error(path + ": $options: expected a string of flags");
      for (char flag : options->get<std::string>()) {
        if (flag != 'i') {
          return Error(path + ": $options: unsupported flag '" + std::string(1, flag) +
                       "' (only 'i' is supported)");
        }
      }
      ignore_case = !options->get<std::string>().empty();
    }
    const std::string pattern = value.get<std::string>();
    StatusOr<ConditionRegex> re = ConditionRegex::Compile(pattern, ignore_case);
    if (!re.ok()) {
      return Error(path + ": $regex: invalid pattern '" + pattern + "': " + re.status().message());
    }
    p->index = static_cast<uint32_t>(out_->regexes.size());
    out_->regexes.push_back(std::move(*re));
    return OkStatus();
  }

  // Returns the index of the path in path_specs, adding it on first use.
  StatusOr<uint32_t> InternPath(const std::string& text) {
    const auto known = path_index_.find(text);
    if (known != path_index_.end()) return known->second;
    ASSIGN_OR_RETURN(Path path, ParsePath(text));
    const auto index = static_cast<uint32_t>(out_->path_specs.size());
    out_->path_specs.push_back(std::move(path));
    path_index_.emplace(text, index);
    return index;
  }

  StatusOr<Path> ParsePath(const std::string& text) const {
    const size_t dot = text.find('.');
    Path path;
    bool root_known = false;
    for (size_t r = 0; r < std::size(kRootNames); ++r) {
      if (dot != std::string::npos && text.compare(0, dot, kRootNames[r]) == 0) {
        path.root = static_cast<Root>(r);
        root_known = true;
      }
    }
    if (!root_known) {
      return Error("path '" + text + "' must start with profile., computed., context. or score.");
    }
    size_t start = dot + 1;
    while (true) {
      const size_t end = std::min(text.find('.', start), text.size());
      if (end == start) return Error("path '" + text + "' has an empty key");
      path.keys.push_back(text.substr(start, end - start));
      if (end == text.size()) break;
      start = end + 1;
    }
    return path;
  }

  const SegmentResolver& resolver_;
  CompiledCondition* out_;
  size_t nodes_ = 0;
  std::vector<std::string> chain_;  // segments being compiled, outermost first
  std::unordered_map<std::string, uint32_t> path_index_;
};

}  // namespace

StatusOr<std::shared_ptr<const CompiledCondition>> CompileCondition(
    std::string_view json, const SegmentResolver& segments) {
  auto compiled = std::make_shared<CompiledCondition>();
  ConditionCompiler compiler(segments, compiled.get());
  RETURN_IF_ERROR(compiler.CompileText(json, 1, &compiled->root));
  compiler.Finish();
  return std::shared_ptr<const CompiledCondition>(std::move(compiled));
}

}  // namespace rtml::decision::internal
