// Row-wise ops over numbers, strings and vectors: fillna, map, lower,
// bucketize, top_k, one_hot, arithmetic, log1p, standardize, concat, select,
// threshold, argmax. Each kernel loops over the rows of a frame; row mode is
// the same loop with n = 1.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "pipeline/internal/plan.h"

namespace rtml::pipeline::internal {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

size_t Count(int64_t n, int64_t width = 1) { return static_cast<size_t>(n * width); }

Status NotFitted() { return InternalError("a pipeline node ran before it was fitted"); }

// Turns a fitter's error into one naming the node.
class NamedFitter final : public Fitter {
 public:
  NamedFitter(std::unique_ptr<Fitter> inner, std::string prefix)
      : inner_(std::move(inner)), prefix_(std::move(prefix)) {}
  void Add(const Slot& input, int64_t rows) override { inner_->Add(input, rows); }
  StatusOr<Json> Finish() override {
    auto r = inner_->Finish();
    if (!r.ok()) return InvalidArgumentError(prefix_ + r.status().message());
    return r;
  }

 private:
  std::unique_ptr<Fitter> inner_;
  std::string prefix_;
};

std::string Prefix(const BuildContext& ctx) {
  return "node '" + ctx.node.id + "' (" + ctx.node.op + "): ";
}

Status NoValues(std::string_view what) {
  return InvalidArgumentError("the training data has no non-missing values to fit " +
                              std::string(what));
}

// ------------------------------------------------------------------ fillna

enum class Strategy { kConstant, kMean, kMedian, kMode };

class FillNumberOp final : public Op {
 public:
  FillNumberOp(std::vector<int> in, int out, Strategy strategy, bool fitted, double value,
               std::string prefix)
      : Op(std::move(in), out), strategy_(strategy), fitted_(fitted), value_(value),
        prefix_(std::move(prefix)) {}
  Status Eval(Frame& f, OpState*, int64_t n, const EvalEnv&) const override {
    if (!fitted_) return NotFitted();
    const Slot& x = in(f, 0);
    double* y = out(f).num.data();
    const size_t count = Count(n, x.type.width);
    for (size_t i = 0; i < count; ++i) y[i] = std::isnan(x.num[i]) ? value_ : x.num[i];
    return OkStatus();
  }
  std::unique_ptr<Fitter> NewFitter() const override {
    if (fitted_) return nullptr;
    Strategy s = strategy_;
    auto inner = std::make_unique<NumberCollector>([s](std::vector<double> v) -> StatusOr<Json> {
      if (v.empty()) return NoValues("the fill value");
      const double value = s == Strategy::kMean     ? Mean(v)
                           : s == Strategy::kMedian ? Median(std::move(v))
                                                    : NumberMode(std::move(v));
      return Json{{"value", value}};
    });
    return std::make_unique<NamedFitter>(std::move(inner), prefix_);
  }
  bool runnable() const override { return fitted_; }

 private:
  Strategy strategy_;
  bool fitted_;
  double value_;
  std::string prefix_;
};

class FillStringOp final : public Op {
 public:
  FillStringOp(std::vector<int> in, int out, bool fitted, std::string value, std::string prefix)
      : Op(std::move(in), out), fitted_(fitted), value_(std::move(value)),
        prefix_(std::move(prefix)) {}
  Status Eval(Frame& f, OpState*, int64_t n, const EvalEnv&) const override {
    if (!fitted_) return NotFitted();
    const Slot& x = in(f, 0);
    Slot& y = out(f);
    for (size_t i = 0; i < Count(n); ++i) y.str[i] = IsMissing(x.str[i]) ? value_ : x.str[i];
    return OkStatus();
  }
  std::unique_ptr<Fitter> NewFitter() const override {
    if (fitted_) return nullptr;
    auto inner = std::make_unique<StringCounter>(
        [](const std::map<std::string, int64_t, std::less<>>& counts) -> StatusOr<Json> {
          if (counts.empty()) return NoValues("the fill value");
          const std::string* best = nullptr;
          int64_t best_count = 0;
          for (const auto& [value, count] : counts) {  // sorted: ties keep the smallest
            if (count > best_count) {
              best = &value;
              best_count = count;
            }
          }
          return Json{{"value", *best}};
        });
    return std::make_unique<NamedFitter>(std::move(inner), prefix_);
  }
  bool runnable() const override { return fitted_; }

 private:
  bool fitted_;
  std::string value_;
  std::string prefix_;
};

}  // namespace

StatusOr<Built> BuildFillna(const BuildContext& ctx) {
  RETURN_IF_ERROR(CheckParams(ctx, {"value", "strategy", "fitted"}));
  RETURN_IF_ERROR(CheckArity(ctx, 1, 1));
  const ValueType t = ctx.inputs[0].type;
  const bool is_string = t.kind == ValueKind::kString;
  RETURN_IF_ERROR(ExpectType(ctx, 0, is_string || IsNumeric(t) || t.kind == ValueKind::kVector,
                             "number, string or vector"));
  const Json* value = Param(ctx, "value");
  const Json* strategy = Param(ctx, "strategy");
  const Json* fitted = FittedParam(ctx);
  if ((value == nullptr) == (strategy == nullptr)) {
    return ctx.Error("needs exactly one of params 'value' and 'strategy'");
  }
  Built b;
  b.type = t;
  if (value != nullptr) {
    if (fitted != nullptr) return ctx.Error("param 'fitted' goes only with a 'strategy'");
    if (is_string) {
      if (!value->is_string()) return ctx.Error("param 'value' must be a string (input is string)");
      b.op = std::make_unique<FillStringOp>(ctx.input_slots(), ctx.out_slot, true,
                                            value->get<std::string>(), Prefix(ctx));
      return b;
    }
    double v;
    if (!ReadFinite(*value, &v)) {
      return ctx.Error("param 'value' must be a number (input is " + TypeName(t) + ")");
    }
    if (t.kind == ValueKind::kBool && v != 0 && v != 1) b.type = {ValueKind::kNumber, 1};
    b.op = std::make_unique<FillNumberOp>(ctx.input_slots(), ctx.out_slot, Strategy::kConstant,
                                          true, v, Prefix(ctx));
    return b;
  }
  if (!strategy->is_string()) return ctx.Error("param 'strategy' must be a string");
  const std::string s = strategy->get<std::string>();
  Strategy st;
  if (s == "mean") {
    st = Strategy::kMean;
  } else if (s == "median") {
    st = Strategy::kMedian;
  } else if (s == "mode") {
    st = Strategy::kMode;
  } else {
    return ctx.Error("param 'strategy' must be \"mean\", \"median\" or \"mode\", not \"" + s + "\"");
  }
  if (t.kind == ValueKind::kVector) {
    return ctx.Error("a strategy needs a number or string input; fill a vector with a constant 'value'");
  }
  if (is_string && st != Strategy::kMode) {
    return ctx.Error("strategy \"" + s + "\" needs a numeric input; strings take \"mode\" or a 'value'");
  }
  if (t.kind == ValueKind::kBool && st != Strategy::kMode) b.type = {ValueKind::kNumber, 1};
  if (fitted != nullptr && !fitted->is_object()) return ctx.Error("param 'fitted' must be an object");
  const Json* fv = nullptr;
  if (fitted != nullptr) {
    auto it = fitted->find("value");
    if (it == fitted->end() || fitted->size() != 1) {
      return ctx.Error("param 'fitted' must be {\"value\": ...}");
    }
    fv = &*it;
  }
  if (is_string) {
    if (fv != nullptr && !fv->is_string()) return ctx.Error("fitted value must be a string");
    b.op = std::make_unique<FillStringOp>(ctx.input_slots(), ctx.out_slot, fv != nullptr,
                                          fv != nullptr ? fv->get<std::string>() : std::string(),
                                          Prefix(ctx));
    return b;
  }
  double v = 0;
  if (fv != nullptr && !ReadFinite(*fv, &v)) return ctx.Error("fitted value must be a number");
  b.op = std::make_unique<FillNumberOp>(ctx.input_slots(), ctx.out_slot, st, fv != nullptr, v,
                                        Prefix(ctx));
  return b;
}

// --------------------------------------------------------------------- map

namespace {

// Keys are strings (string input) or numbers (number input, keys written as
// strings in JSON); values are all strings or all numbers.
class MapOp final : public Op {
 public:
  MapOp(std::vector<int> in, int out) : Op(std::move(in), out) {}

  bool number_keys = false;
  bool string_values = false;
  StringIndex string_index;                          // string key -> value index
  std::vector<std::pair<double, int64_t>> number_index;  // sorted by key
  std::vector<std::string> string_values_list;
  std::vector<double> number_values;
  bool has_default = false;
  std::string default_string;
  double default_number = kNaN;

  Status Eval(Frame& f, OpState*, int64_t n, const EvalEnv&) const override {
    const Slot& x = in(f, 0);
    Slot& y = out(f);
    for (size_t i = 0; i < Count(n); ++i) {
      int64_t found = -1;
      bool missing;
      if (number_keys) {
        const double k = x.num[i];
        missing = std::isnan(k);
        if (!missing) {
          auto it = std::lower_bound(number_index.begin(), number_index.end(), k,
                                     [](const auto& e, double v) { return e.first < v; });
          if (it != number_index.end() && it->first == k) found = it->second;
        }
      } else {
        missing = IsMissing(x.str[i]);
        if (!missing) {
          auto it = string_index.find(x.str[i]);
          if (it != string_index.end()) found = it->second;
        }
      }
      const size_t idx = static_cast<size_t>(found);
      if (string_values) {
        y.str[i] = missing                       ? std::string_view()
                   : found >= 0                  ? std::string_view(string_values_list[idx])
                   : has_default                 ? std::string_view(default_string)
                                                 : std::string_view();
      } else {
        y.num[i] = missing ? kNaN : found >= 0 ? number_values[idx] : default_number;
      }
    }
    return OkStatus();
  }
};

}  // namespace

StatusOr<Built> BuildMap(const BuildContext& ctx) {
  RETURN_IF_ERROR(CheckParams(ctx, {"mapping", "default"}));
  RETURN_IF_ERROR(CheckArity(ctx, 1, 1));
  const ValueType t = ctx.inputs[0].type;
  RETURN_IF_ERROR(ExpectType(ctx, 0, t.kind == ValueKind::kString || IsNumeric(t),
                             "string or number"));
  const Json* mapping = Param(ctx, "mapping");
  if (mapping == nullptr) return ctx.Error("missing param 'mapping'");
  if (!mapping->is_object() || mapping->empty()) {
    return ctx.Error("param 'mapping' must be a non-empty object {from: to}");
  }
  auto op = std::make_unique<MapOp>(ctx.input_slots(), ctx.out_slot);
  op->number_keys = t.kind != ValueKind::kString;
  op->string_values = mapping->begin()->is_string();
  for (const auto& [key, value] : mapping->items()) {
    const int64_t index = op->string_values ? static_cast<int64_t>(op->string_values_list.size())
                                            : static_cast<int64_t>(op->number_values.size());
    if (op->string_values) {
      if (!value.is_string()) {
        return ctx.Error("param 'mapping': values must be all strings or all numbers ('" + key +
                         "' is not a string)");
      }
      op->string_values_list.push_back(value.get<std::string>());
    } else {
      double v;
      if (!ReadFinite(value, &v)) {
        return ctx.Error("param 'mapping': values must be all strings or all numbers ('" + key +
                         "' is not a number)");
      }
      op->number_values.push_back(v);
    }
    if (op->number_keys) {
      double k;
      if (!ParseNumber(key, &k)) {
        return ctx.Error("param 'mapping': key '" + key + "' is not a number (input '" +
                         ctx.inputs[0].name + "' is " + TypeName(t) + ")");
      }
      op->number_index.emplace_back(k == 0 ? 0.0 : k, index);
    } else {
      op->string_index.emplace(key, index);
    }
  }
  if (op->number_keys) {
    std::sort(op->number_index.begin(), op->number_index.end());
    for (size_t i = 1; i < op->number_index.size(); ++i) {
      if (op->number_index[i].first == op->number_index[i - 1].first) {
        return ctx.Error("param 'mapping': two keys name the number " +
                         std::to_string(op->number_index[i].first));
      }
    }
  }
  if (const Json* d = Param(ctx, "default")) {
    op->has_default = true;
    if (op->string_values) {
      if (!d->is_string()) return ctx.Error("param 'default' must be a string like the mapping's values");
      op->default_string = d->get<std::string>();
    } else if (!ReadFinite(*d, &op->default_number)) {
      return ctx.Error("param 'default' must be a number like the mapping's values");
    }
  }
  Built b;
  b.type = op->string_values ? ValueType{ValueKind::kString, 1} : ValueType{ValueKind::kNumber, 1};
  b.op = std::move(op);
  return b;
}

// ------------------------------------------------------------------- lower

namespace {
class LowerOp final : public Op {
 public:
  using Op::Op;
  Status Eval(Frame& f, OpState*, int64_t n, const EvalEnv&) const override {
    const Slot& x = in(f, 0);
    Slot& y = out(f);
    for (size_t i = 0; i < Count(n); ++i) {
      if (IsMissing(x.str[i])) {
        y.str[i] = {};
        continue;
      }
      std::string& t = y.text[i];
      t.assign(x.str[i]);
      for (char& c : t) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      }
      y.str[i] = t;
    }
    return OkStatus();
  }
};
}  // namespace

StatusOr<Built> BuildLower(const BuildContext& ctx) {
  RETURN_IF_ERROR(CheckParams(ctx, {}));
  RETURN_IF_ERROR(CheckArity(ctx, 1, 1));
  RETURN_IF_ERROR(ExpectType(ctx, 0, ctx.inputs[0].type.kind == ValueKind::kString, "string"));
  Built b;
  b.type = {ValueKind::kString, 1};
  b.op = std::make_unique<LowerOp>(ctx.input_slots(), ctx.out_slot);
  return b;
}

// --------------------------------------------------------------- bucketize

namespace {
class BucketizeOp final : public Op {
 public:
  BucketizeOp(std::vector<int> in, int out, bool fitted, std::vector<double> boundaries,
              int64_t quantiles, std::string prefix)
      : Op(std::move(in), out), fitted_(fitted), boundaries_(std::move(boundaries)),
        quantiles_(quantiles), prefix_(std::move(prefix)) {}
  Status Eval(Frame& f, OpState*, int64_t n, const EvalEnv&) const override {
    if (!fitted_) return NotFitted();
    const double* x = in(f, 0).num.data();
    double* y = out(f).num.data();
    for (size_t i = 0; i < Count(n); ++i) {
      y[i] = std::isnan(x[i]) ? kNaN
                              : static_cast<double>(std::upper_bound(boundaries_.begin(),
                                                                     boundaries_.end(), x[i]) -
                                                    boundaries_.begin());
    }
    return OkStatus();
  }
  std::unique_ptr<Fitter> NewFitter() const override {
    if (fitted_) return nullptr;
    const int64_t q = quantiles_;
    auto inner = std::make_unique<NumberCollector>([q](std::vector<double> v) -> StatusOr<Json> {
      if (v.empty()) return NoValues("quantiles");
      return Json{{"boundaries", QuantileBoundaries(std::move(v), q)}};
    });
    return std::make_unique<NamedFitter>(std::move(inner), prefix_);
  }
  bool runnable() const override { return fitted_; }

 private:
  bool fitted_;
  std::vector<double> boundaries_;
  int64_t quantiles_;
  std::string prefix_;
};

// Reads a strictly increasing array of finite numbers.
bool ReadBoundaries(const Json& j, std::vector<double>* out, bool allow_empty) {
  if (!j.is_array() || (!allow_empty && j.empty())) return false;
  out->clear();
  for (const Json& e : j) {
    double v;
    if (!ReadFinite(e, &v) || (!out->empty() && !(v > out->back()))) return false;
    out->push_back(v);
  }
  return true;
}
}  // namespace

StatusOr<Built> BuildBucketize(const BuildContext& ctx) {
  RETURN_IF_ERROR(CheckParams(ctx, {"boundaries", "quantiles", "fitted"}));
  RETURN_IF_ERROR(CheckArity(ctx, 1, 1));
  RETURN_IF_ERROR(ExpectType(ctx, 0, IsNumeric(ctx.inputs[0].type), "number"));
  const Json* boundaries = Param(ctx, "boundaries");
  const Json* quantiles = Param(ctx, "quantiles");
  const Json* fitted = FittedParam(ctx);
  if ((boundaries == nullptr) == (quantiles == nullptr)) {
    return ctx.Error("needs exactly one of params 'boundaries' and 'quantiles'");
  }
  Built b;
  b.type = {ValueKind::kNumber, 1};
  std::vector<double> bounds;
  if (boundaries != nullptr) {
    if (fitted != nullptr) return ctx.Error("param 'fitted' goes only with 'quantiles'");
    if (!ReadBoundaries(*boundaries, &bounds, false)) {
      return ctx.Error("param 'boundaries' must be a non-empty array of numbers in increasing order");
    }
    b.op = std::make_unique<BucketizeOp>(ctx.input_slots(), ctx.out_slot, true, std::move(bounds),
                                         0, Prefix(ctx));
    return b;
  }
  ASSIGN_OR_RETURN(const int64_t q, IntParam(ctx, "quantiles", 2, 10'000));
  if (fitted != nullptr) {
    auto it = fitted->is_object() ? fitted->find("boundaries") : fitted->end();
    if (it == fitted->end() || fitted->size() != 1 || !ReadBoundaries(*it, &bounds, true) ||
        static_cast<int64_t>(bounds.size()) >= q) {
      return ctx.Error("param 'fitted' must be {\"boundaries\": [fewer than 'quantiles' numbers in increasing order]}");
    }
  }
  b.op = std::make_unique<BucketizeOp>(ctx.input_slots(), ctx.out_slot, fitted != nullptr,
                                       std::move(bounds), q, Prefix(ctx));
  return b;
}

// ------------------------------------------------------------------- top_k

namespace {
class TopKOp final : public Op {
 public:
  TopKOp(std::vector<int> in, int out, bool fitted, std::vector<std::string> kept,
         std::string other, int64_t k, std::string prefix)
      : Op(std::move(in), out), fitted_(fitted), kept_(std::move(kept)), other_(std::move(other)),
        k_(k), prefix_(std::move(prefix)) {
    for (size_t i = 0; i < kept_.size(); ++i) index_.emplace(kept_[i], static_cast<int64_t>(i));
  }
  Status Eval(Frame& f, OpState*, int64_t n, const EvalEnv&) const override {
    if (!fitted_) return NotFitted();
    const Slot& x = in(f, 0);
    Slot& y = out(f);
    for (size_t i = 0; i < Count(n); ++i) {
      if (IsMissing(x.str[i])) {
        y.str[i] = {};
        continue;
      }
      auto it = index_.find(x.str[i]);
      y.str[i] = it == index_.end() ? std::string_view(other_)
                                    : std::string_view(kept_[static_cast<size_t>(it->second)]);
    }
    return OkStatus();
  }
  std::unique_ptr<Fitter> NewFitter() const override {
    if (fitted_) return nullptr;
    const size_t k = static_cast<size_t>(k_);
    auto inner = std::make_unique<StringCounter>(
        [k](const std::map<std::string, int64_t, std::less<>>& counts) -> StatusOr<Json> {
          std::vector<std::pair<int64_t, const std::string*>> order;
          for (const auto& [value, count] : counts) order.emplace_back(count, &value);
          // Most frequent first; ties by value (byte order).
          std::stable_sort(order.begin(), order.end(),
                           [](const auto& a, const auto& b) { return a.first > b.first; });
          Json values = Json::array();
          for (size_t i = 0; i < order.size() && i < k; ++i) values.push_back(*order[i].second);
          return Json{{"values", std::move(values)}};
        });
    return std::make_unique<NamedFitter>(std::move(inner), prefix_);
  }
  bool runnable() const override { return fitted_; }

 private:
  bool fitted_;
  std::vector<std::string> kept_;
  std::string other_;
  int64_t k_;
  std::string prefix_;
  StringIndex index_;
};

// Reads an array of distinct strings.
bool ReadDistinctStrings(const Json& j, std::vector<std::string>* out) {
  if (!j.is_array()) return false;
  std::set<std::string, std::less<>> seen;
  for (const Json& e : j) {
    if (!e.is_string()) return false;
    if (!seen.insert(e.get<std::string>()).second) return false;
    out->push_back(e.get<std::string>());
  }
  return true;
}

std::string TopKOther(const NodeSpec& spec) {
  auto it = spec.params.find("other");
  return it != spec.params.end() && it->is_string() ? it->get<std::string>() : "other";
}
}  // namespace

StatusOr<Built> BuildTopK(const BuildContext& ctx) {
  RETURN_IF_ERROR(CheckParams(ctx, {"k", "other", "fitted"}));
  RETURN_IF_ERROR(CheckArity(ctx, 1, 1));
  RETURN_IF_ERROR(ExpectType(ctx, 0, ctx.inputs[0].type.kind == ValueKind::kString, "string"));
  ASSIGN_OR_RETURN(const int64_t k, IntParam(ctx, "k", 1, 100'000));
  std::string other = "other";
  if (Param(ctx, "other") != nullptr) {
    ASSIGN_OR_RETURN(other, StringParam(ctx, "other"));
  }
  std::vector<std::string> kept;
  const Json* fitted = FittedParam(ctx);
  if (fitted != nullptr) {
    auto it = fitted->is_object() ? fitted->find("values") : fitted->end();
    if (it == fitted->end() || fitted->size() != 1 || !ReadDistinctStrings(*it, &kept) ||
        static_cast<int64_t>(kept.size()) > k) {
      return ctx.Error("param 'fitted' must be {\"values\": [at most k distinct strings]}");
    }
  }
  Built b;
  b.type = {ValueKind::kString, 1};
  b.op = std::make_unique<TopKOp>(ctx.input_slots(), ctx.out_slot, fitted != nullptr,
                                  std::move(kept), std::move(other), k, Prefix(ctx));
  return b;
}

// ----------------------------------------------------------------- one_hot

namespace {
class OneHotOp final : public Op {
 public:
  OneHotOp(std::vector<int> in, int out, bool fitted, std::vector<std::string> categories,
           std::unique_ptr<Json> derived, std::string prefix)
      : Op(std::move(in), out), fitted_(fitted), categories_(std::move(categories)),
        derived_(std::move(derived)), prefix_(std::move(prefix)) {
    for (size_t i = 0; i < categories_.size(); ++i) {
      index_.emplace(categories_[i], static_cast<int64_t>(i));
    }
  }
  Status Eval(Frame& f, OpState*, int64_t n, const EvalEnv&) const override {
    if (!fitted_) return NotFitted();
    const Slot& x = in(f, 0);
    double* y = out(f).num.data();
    const size_t width = categories_.size();
    std::fill(y, y + Count(n, static_cast<int64_t>(width)), 0.0);
    for (size_t i = 0; i < Count(n); ++i) {
      if (IsMissing(x.str[i])) continue;
      auto it = index_.find(x.str[i]);
      if (it != index_.end()) y[i * width + static_cast<size_t>(it->second)] = 1.0;
    }
    return OkStatus();
  }
  std::unique_ptr<Fitter> NewFitter() const override {
    if (fitted_) return nullptr;
    if (derived_ != nullptr) return std::make_unique<ConstantFitter>(*derived_);
    auto inner = std::make_unique<StringCounter>(
        [](const std::map<std::string, int64_t, std::less<>>& counts) -> StatusOr<Json> {
          if (counts.empty()) return NoValues("categories");
          Json cats = Json::array();
          for (const auto& [value, count] : counts) cats.push_back(value);
          return Json{{"categories", std::move(cats)}};
        });
    return std::make_unique<NamedFitter>(std::move(inner), prefix_);
  }
  bool runnable() const override { return fitted_; }

 private:
  bool fitted_;
  std::vector<std::string> categories_;
  std::unique_ptr<Json> derived_;  // fitted params taken from a top_k input
  std::string prefix_;
  StringIndex index_;
};
}  // namespace

StatusOr<Built> BuildOneHot(const BuildContext& ctx) {
  RETURN_IF_ERROR(CheckParams(ctx, {"categories", "fitted"}));
  RETURN_IF_ERROR(CheckArity(ctx, 1, 1));
  RETURN_IF_ERROR(ExpectType(ctx, 0, ctx.inputs[0].type.kind == ValueKind::kString, "string"));
  const Json* categories = Param(ctx, "categories");
  const Json* fitted = FittedParam(ctx);
  std::vector<std::string> cats;
  bool ready = false;
  if (categories != nullptr) {
    if (fitted != nullptr) return ctx.Error("param 'fitted' goes only without 'categories'");
    if (!ReadDistinctStrings(*categories, &cats) || cats.empty()) {
      return ctx.Error("param 'categories' must be a non-empty array of distinct strings");
    }
    ready = true;
  } else if (fitted != nullptr) {
    auto it = fitted->is_object() ? fitted->find("categories") : fitted->end();
    if (it == fitted->end() || fitted->size() != 1 || !ReadDistinctStrings(*it, &cats) ||
        cats.empty()) {
      return ctx.Error("param 'fitted' must be {\"categories\": [distinct strings]}");
    }
    ready = true;
  }
  if (static_cast<int64_t>(cats.size()) > kMaxVectorWidth) {
    return ctx.Error("has " + std::to_string(cats.size()) + " categories, more than " +
                     std::to_string(kMaxVectorWidth));
  }
  // After top_k the categories are its kept values then its "other" value.
  std::unique_ptr<Json> derived;
  const NodeSpec* producer = ctx.inputs[0].producer;
  if (!ready && producer != nullptr && producer->op == "top_k") {
    auto fit = producer->params.find("fitted");
    if (fit != producer->params.end() && fit->is_object() && fit->contains("values")) {
      Json cat_list = (*fit)["values"];
      const std::string other = TopKOther(*producer);
      bool has_other = false;
      for (const Json& v : cat_list) has_other |= v.is_string() && v.get<std::string>() == other;
      if (!has_other) cat_list.push_back(other);
      derived = std::make_unique<Json>(Json{{"categories", std::move(cat_list)}});
    }
  }
  Built b;
  b.type = {ValueKind::kVector, ready ? static_cast<int64_t>(cats.size()) : kUnknownWidth};
  b.op = std::make_unique<OneHotOp>(ctx.input_slots(), ctx.out_slot, ready, std::move(cats),
                                    std::move(derived), Prefix(ctx));
  return b;
}

// -------------------------------------------------------------- arithmetic

namespace {
enum class Arith { kAdd, kSub, kMul, kDiv };

template <Arith A>
inline double Apply(double a, double b) {
  if constexpr (A == Arith::kAdd) {
    return a + b;
  } else if constexpr (A == Arith::kSub) {
    return a - b;
  } else if constexpr (A == Arith::kMul) {
    return a * b;
  } else {
    return b == 0 ? kNaN : a / b;
  }
}

template <Arith A>
class ArithOp final : public Op {
 public:
  ArithOp(std::vector<int> in, int out, bool constant, double value)
      : Op(std::move(in), out), constant_(constant), value_(value) {}
  Status Eval(Frame& f, OpState*, int64_t n, const EvalEnv&) const override {
    const double* a = in(f, 0).num.data();
    double* y = out(f).num.data();
    if (constant_) {
      for (size_t i = 0; i < Count(n); ++i) y[i] = Apply<A>(a[i], value_);
    } else {
      const double* b = in(f, 1).num.data();
      for (size_t i = 0; i < Count(n); ++i) y[i] = Apply<A>(a[i], b[i]);
    }
    return OkStatus();
  }

 private:
  bool constant_;
  double value_;
};
}  // namespace

StatusOr<Built> BuildArithmetic(const BuildContext& ctx) {
  RETURN_IF_ERROR(CheckParams(ctx, {"value"}));
  RETURN_IF_ERROR(CheckArity(ctx, 1, 2));
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    RETURN_IF_ERROR(ExpectType(ctx, i, IsNumeric(ctx.inputs[i].type), "number"));
  }
  const bool constant = ctx.inputs.size() == 1;
  double value = 0;
  if (constant) {
    ASSIGN_OR_RETURN(value, NumberParam(ctx, "value"));
  } else if (Param(ctx, "value") != nullptr) {
    return ctx.Error("param 'value' goes only with one input (two inputs were given)");
  }
  Built b;
  b.type = {ValueKind::kNumber, 1};
  const std::string& op = ctx.node.op;
  auto slots = ctx.input_slots();
  if (op == "add") b.op = std::make_unique<ArithOp<Arith::kAdd>>(slots, ctx.out_slot, constant, value);
  else if (op == "sub") b.op = std::make_unique<ArithOp<Arith::kSub>>(slots, ctx.out_slot, constant, value);
  else if (op == "mul") b.op = std::make_unique<ArithOp<Arith::kMul>>(slots, ctx.out_slot, constant, value);
  else b.op = std::make_unique<ArithOp<Arith::kDiv>>(slots, ctx.out_slot, constant, value);
  return b;
}

// ------------------------------------------------------------------- log1p

namespace {
class Log1pOp final : public Op {
 public:
  using Op::Op;
  Status Eval(Frame& f, OpState*, int64_t n, const EvalEnv&) const override {
    const double* x = in(f, 0).num.data();
    double* y = out(f).num.data();
    for (size_t i = 0; i < Count(n); ++i) y[i] = std::log1p(x[i]);
    return OkStatus();
  }
};
}  // namespace

StatusOr<Built> BuildLog1p(const BuildContext& ctx) {
  RETURN_IF_ERROR(CheckParams(ctx, {}));
  RETURN_IF_ERROR(CheckArity(ctx, 1, 1));
  RETURN_IF_ERROR(ExpectType(ctx, 0, IsNumeric(ctx.inputs[0].type), "number"));
  Built b;
  b.type = {ValueKind::kNumber, 1};
  b.op = std::make_unique<Log1pOp>(ctx.input_slots(), ctx.out_slot);
  return b;
}

// ------------------------------------------------------------- standardize

namespace {
class StandardizeOp final : public Op {
 public:
  StandardizeOp(std::vector<int> in, int out, bool fitted, double mean, double std,
                std::string prefix)
      : Op(std::move(in), out), fitted_(fitted), mean_(mean), std_(std),
        prefix_(std::move(prefix)) {}
  Status Eval(Frame& f, OpState*, int64_t n, const EvalEnv&) const override {
    if (!fitted_) return NotFitted();
    const double* x = in(f, 0).num.data();
    double* y = out(f).num.data();
    for (size_t i = 0; i < Count(n); ++i) {
      y[i] = std::isnan(x[i]) ? kNaN : std_ == 0 ? 0.0 : (x[i] - mean_) / std_;
    }
    return OkStatus();
  }
  std::unique_ptr<Fitter> NewFitter() const override {
    if (fitted_) return nullptr;
    auto inner = std::make_unique<NumberCollector>([](std::vector<double> v) -> StatusOr<Json> {
      if (v.empty()) return NoValues("mean and std");
      const double mean = Mean(v);
      return Json{{"mean", mean}, {"std", StdDev(v, mean)}};
    });
    return std::make_unique<NamedFitter>(std::move(inner), prefix_);
  }
  bool runnable() const override { return fitted_; }

 private:
  bool fitted_;
  double mean_, std_;
  std::string prefix_;
};
}  // namespace

StatusOr<Built> BuildStandardize(const BuildContext& ctx) {
  RETURN_IF_ERROR(CheckParams(ctx, {"fitted"}));
  RETURN_IF_ERROR(CheckArity(ctx, 1, 1));
  RETURN_IF_ERROR(ExpectType(ctx, 0, IsNumeric(ctx.inputs[0].type), "number"));
  double mean = 0, std = 0;
  const Json* fitted = FittedParam(ctx);
  if (fitted != nullptr) {
    const bool ok = fitted->is_object() && fitted->size() == 2 && fitted->contains("mean") &&
                    fitted->contains("std") && ReadFinite((*fitted)["mean"], &mean) &&
                    ReadFinite((*fitted)["std"], &std) && std >= 0;
    if (!ok) return ctx.Error("param 'fitted' must be {\"mean\": number, \"std\": number >= 0}");
  }
  Built b;
  b.type = {ValueKind::kNumber, 1};
  b.op = std::make_unique<StandardizeOp>(ctx.input_slots(), ctx.out_slot, fitted != nullptr, mean,
                                         std, Prefix(ctx));
  return b;
}

// ------------------------------------------------------------------ concat

namespace {
class ConcatOp final : public Op {
 public:
  ConcatOp(std::vector<int> in, int out, std::vector<int64_t> widths, int64_t total)
      : Op(std::move(in), out), widths_(std::move(widths)), total_(total) {}
  Status Eval(Frame& f, OpState*, int64_t n, const EvalEnv&) const override {
    double* y = out(f).num.data();
    size_t offset = 0;
    const size_t total = static_cast<size_t>(total_);
    for (size_t k = 0; k < widths_.size(); ++k) {
      const double* x = in(f, k).num.data();
      const size_t w = static_cast<size_t>(widths_[k]);
      for (size_t i = 0; i < Count(n); ++i) {
        std::memcpy(y + i * total + offset, x + i * w, w * sizeof(double));
      }
      offset += w;
    }
    return OkStatus();
  }
  bool runnable() const override { return total_ != kUnknownWidth; }

 private:
  std::vector<int64_t> widths_;
  int64_t total_;
};
}  // namespace

StatusOr<Built> BuildConcat(const BuildContext& ctx) {
  RETURN_IF_ERROR(CheckParams(ctx, {}));
  RETURN_IF_ERROR(CheckArity(ctx, 1, SIZE_MAX));
  std::vector<int64_t> widths;
  int64_t total = 0;
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    const ValueType t = ctx.inputs[i].type;
    RETURN_IF_ERROR(ExpectType(ctx, i, IsNumeric(t) || t.kind == ValueKind::kVector,
                               "number or vector"));
    widths.push_back(t.width);
    if (total != kUnknownWidth) total = t.width == kUnknownWidth ? kUnknownWidth : total + t.width;
    if (total > kMaxVectorWidth) {
      return ctx.Error("output would have more than " + std::to_string(kMaxVectorWidth) + " values");
    }
  }
  Built b;
  b.type = {ValueKind::kVector, total};
  b.op = std::make_unique<ConcatOp>(ctx.input_slots(), ctx.out_slot, std::move(widths), total);
  return b;
}

// ------------------------------------------------------------------ select

namespace {
class SelectOp final : public Op {
 public:
  SelectOp(std::vector<int> in, int out, int64_t index, int64_t width)
      : Op(std::move(in), out), index_(static_cast<size_t>(index)), width_(static_cast<size_t>(width)) {}
  Status Eval(Frame& f, OpState*, int64_t n, const EvalEnv&) const override {
    const double* x = in(f, 0).num.data();
    double* y = out(f).num.data();
    for (size_t i = 0; i < Count(n); ++i) y[i] = x[i * width_ + index_];
    return OkStatus();
  }

 private:
  size_t index_, width_;
};

class UnrunnableOp final : public Op {
 public:
  using Op::Op;
  Status Eval(Frame&, OpState*, int64_t, const EvalEnv&) const override { return NotFitted(); }
  bool runnable() const override { return false; }
};
}  // namespace

StatusOr<Built> BuildSelect(const BuildContext& ctx) {
  RETURN_IF_ERROR(CheckParams(ctx, {"index"}));
  RETURN_IF_ERROR(CheckArity(ctx, 1, 1));
  const ValueType t = ctx.inputs[0].type;
  RETURN_IF_ERROR(ExpectType(ctx, 0, t.kind == ValueKind::kVector, "vector"));
  ASSIGN_OR_RETURN(const int64_t index, IntParam(ctx, "index", 0, kMaxVectorWidth));
  Built b;
  b.type = {ValueKind::kNumber, 1};
  if (t.width == kUnknownWidth) {  // checked again once the input's width is known
    b.op = std::make_unique<UnrunnableOp>(ctx.input_slots(), ctx.out_slot);
    return b;
  }
  if (index >= t.width) {
    return ctx.Error("param 'index' is " + std::to_string(index) + " but input '" +
                     ctx.inputs[0].name + "' has " + std::to_string(t.width) + " values");
  }
  b.op = std::make_unique<SelectOp>(ctx.input_slots(), ctx.out_slot, index, t.width);
  return b;
}

// --------------------------------------------------------------- threshold

namespace {
class ThresholdOp final : public Op {
 public:
  ThresholdOp(std::vector<int> in, int out, double value) : Op(std::move(in), out), value_(value) {}
  Status Eval(Frame& f, OpState*, int64_t n, const EvalEnv&) const override {
    const double* x = in(f, 0).num.data();
    double* y = out(f).num.data();
    for (size_t i = 0; i < Count(n); ++i) {
      y[i] = std::isnan(x[i]) ? kNaN : x[i] >= value_ ? 1.0 : 0.0;
    }
    return OkStatus();
  }

 private:
  double value_;
};
}  // namespace

StatusOr<Built> BuildThreshold(const BuildContext& ctx) {
  RETURN_IF_ERROR(CheckParams(ctx, {"value"}));
  RETURN_IF_ERROR(CheckArity(ctx, 1, 1));
  RETURN_IF_ERROR(ExpectType(ctx, 0, IsNumeric(ctx.inputs[0].type), "number"));
  ASSIGN_OR_RETURN(const double value, NumberParam(ctx, "value"));
  Built b;
  b.type = {ValueKind::kBool, 1};
  b.op = std::make_unique<ThresholdOp>(ctx.input_slots(), ctx.out_slot, value);
  return b;
}

// ------------------------------------------------------------------ argmax

namespace {
class ArgmaxOp final : public Op {
 public:
  ArgmaxOp(std::vector<int> in, int out, int64_t width)
      : Op(std::move(in), out), width_(static_cast<size_t>(width)) {}
  Status Eval(Frame& f, OpState*, int64_t n, const EvalEnv&) const override {
    const double* x = in(f, 0).num.data();
    double* y = out(f).num.data();
    for (size_t i = 0; i < Count(n); ++i) {
      const double* row = x + i * width_;
      double best = kNaN;
      size_t best_index = 0;
      for (size_t j = 0; j < width_; ++j) {
        if (row[j] > best || (std::isnan(best) && !std::isnan(row[j]))) {
          best = row[j];
          best_index = j;
        }
      }
      y[i] = std::isnan(best) ? kNaN : static_cast<double>(best_index);
    }
    return OkStatus();
  }

 private:
  size_t width_;
};
}  // namespace

StatusOr<Built> BuildArgmax(const BuildContext& ctx) {
  RETURN_IF_ERROR(CheckParams(ctx, {}));
  RETURN_IF_ERROR(CheckArity(ctx, 1, 1));
  const ValueType t = ctx.inputs[0].type;
  RETURN_IF_ERROR(ExpectType(ctx, 0, t.kind == ValueKind::kVector, "vector"));
  Built b;
  b.type = {ValueKind::kNumber, 1};
  if (t.width == kUnknownWidth) {
    b.op = std::make_unique<UnrunnableOp>(ctx.input_slots(), ctx.out_slot);
  } else {
    b.op = std::make_unique<ArgmaxOp>(ctx.input_slots(), ctx.out_slot, t.width);
  }
  return b;
}

}  // namespace rtml::pipeline::internal
