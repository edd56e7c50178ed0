// Shared helpers of the op builders: parameter checks, number text, fitted
// statistics, input conversions and the op registry.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>

#include "data/schema.h"
#include "pipeline/internal/plan.h"

namespace rtml::pipeline::internal {

std::string_view KindName(ValueKind k) {
  switch (k) {
    case ValueKind::kNumber: return "number";
    case ValueKind::kBool: return "bool";
    case ValueKind::kTimestamp: return "timestamp";
    case ValueKind::kString: return "string";
    case ValueKind::kVector: return "vector";
  }
  return "?";
}

Status BuildContext::Error(std::string_view message) const {
  return InvalidArgumentError("node '" + node.id + "' (" + node.op + "): " + std::string(message));
}

std::vector<int> BuildContext::input_slots() const {
  std::vector<int> slots;
  slots.reserve(inputs.size());
  for (const auto& in : inputs) slots.push_back(in.slot);
  return slots;
}

bool IsNumeric(ValueType t) {
  return t.kind == ValueKind::kNumber || t.kind == ValueKind::kBool ||
         t.kind == ValueKind::kTimestamp;
}

Status CheckParams(const BuildContext& ctx, std::initializer_list<std::string_view> allowed) {
  if (!ctx.node.params.is_object()) return ctx.Error("params must be an object");
  std::string unknown;
  for (const auto& [key, value] : ctx.node.params.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    unknown += (unknown.empty() ? "'" : ", '") + key + "'";
  }
  if (unknown.empty()) return OkStatus();
  std::string list;
  for (std::string_view a : allowed) {
    if (a == "fitted") continue;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  return ctx.Error("unknown param " + unknown + " (allowed: " + (list.empty() ? "none" : list) +
                   ")");
}

Status CheckArity(const BuildContext& ctx, size_t min, size_t max) {
  const size_t n = ctx.inputs.size();
  if (n >= min && n <= max) return OkStatus();
  std::string want = min == max ? std::to_string(min)
                     : max == SIZE_MAX ? "at least " + std::to_string(min)
                                       : std::to_string(min) + " or " + std::to_string(max);
  return ctx.Error("expects " + want + (min == 1 && max == 1 ? " input" : " inputs") + ", got " +
                   std::to_string(n));
}

Status ExpectType(const BuildContext& ctx, size_t input, bool ok, std::string_view expected) {
  if (ok) return OkStatus();
  const InputRef& in = ctx.inputs[input];
  return ctx.Error("input '" + in.name + "' is " + TypeName(in.type) + ", expected " +
                   std::string(expected));
}

const Json* Param(const BuildContext& ctx, std::string_view key) {
  auto it = ctx.node.params.find(std::string(key));
  return it == ctx.node.params.end() ? nullptr : &*it;
}

bool ReadFinite(const Json& j, double* out) {
  if (!j.is_number()) return false;
  const double v = j.get<double>();
  if (!std::isfinite(v)) return false;
  *out = v;
  return true;
}

StatusOr<double> NumberParam(const BuildContext& ctx, std::string_view key) {
  const Json* j = Param(ctx, key);
  if (j == nullptr) return ctx.Error("missing param '" + std::string(key) + "'");
  double v;
  if (!ReadFinite(*j, &v)) return ctx.Error("param '" + std::string(key) + "' must be a number");
  return v;
}

StatusOr<int64_t> IntParam(const BuildContext& ctx, std::string_view key, int64_t min,
                           int64_t max) {
  const Json* j = Param(ctx, key);
  if (j == nullptr) return ctx.Error("missing param '" + std::string(key) + "'");
  auto bad = [&] {
    return ctx.Error("param '" + std::string(key) + "' must be an integer from " +
                     std::to_string(min) + " to " + std::to_string(max));
  };
  int64_t v;
  if (j->is_number_integer()) {
    if (j->is_number_unsigned() && j->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      return bad();
    v = j->get<int64_t>();
  } else if (j->is_number_float()) {
    const double d = j->get<double>();
    if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max)) || d != std::floor(d))
      return bad();
    v = static_cast<int64_t>(d);
  } else {
    return bad();
  }
  if (v < min || v > max) return bad();
  return v;
}

StatusOr<std::string> StringParam(const BuildContext& ctx, std::string_view key) {
  const Json* j = Param(ctx, key);
  if (j == nullptr) return ctx.Error("missing param '" + std::string(key) + "'");
  if (!j->is_string()) return ctx.Error("param '" + std::string(key) + "' must be a string");
  return j->get<std::string>();
}

const Json* FittedParam(const BuildContext& ctx) { return Param(ctx, "fitted"); }

void FormatNumber(double v, std::string* out) {
  char buf[40];
  std::to_chars_result r;
  // Integral values in the exactly representable range print as integers.
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
    r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
  } else {
    r = std::to_chars(buf, buf + sizeof buf, v);
  }
  out->assign(buf, r.ptr);
}

bool ParseNumber(std::string_view s, double* out) {
  if (s.empty()) return false;
  const char* begin = s.data();
  if (*begin == '+') ++begin;
  double v;
  auto r = std::from_chars(begin, s.data() + s.size(), v, std::chars_format::general);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

// ----- fitted statistics -----

double Mean(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

double StdDev(const std::vector<double>& values, double mean) {
  double ss = 0;
  for (double v : values) ss += (v - mean) * (v - mean);
  return std::sqrt(ss / static_cast<double>(values.size()));
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  if (n % 2 == 1) return values[n / 2];
  return (values[n / 2 - 1] + values[n / 2]) / 2;
}

double NumberMode(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  double best = values.front();
  size_t best_count = 0;
  for (size_t i = 0; i < values.size();) {
    size_t j = i;
    while (j < values.size() && values[j] == values[i]) ++j;
    if (j - i > best_count) {  // strictly greater: ties keep the smaller value
      best_count = j - i;
      best = values[i];
    }
    i = j;
  }
  return best == 0 ? 0.0 : best;  // -0 and 0 are one value; report 0
}

std::vector<double> QuantileBoundaries(std::vector<double> values, int64_t n) {
  std::sort(values.begin(), values.end());
  std::vector<double> out;
  const double last = static_cast<double>(values.size() - 1);
  for (int64_t i = 1; i < n; ++i) {
    const double h = last * static_cast<double>(i) / static_cast<double>(n);
    const double lo = std::floor(h);
    const size_t l = static_cast<size_t>(lo);
    const size_t u = std::min(l + 1, values.size() - 1);
    const double q = values[l] + (h - lo) * (values[u] - values[l]);
    if (out.empty() || q > out.back()) out.push_back(q);
  }
  return out;
}

void NumberCollector::Add(const Slot& input, int64_t rows) {
  const size_t n = static_cast<size_t>(rows * input.type.width);
  for (size_t i = 0; i < n; ++i) {
    if (std::isfinite(input.num[i])) values_.push_back(input.num[i]);
  }
}

void StringCounter::Add(const Slot& input, int64_t rows) {
  for (size_t i = 0; i < static_cast<size_t>(rows); ++i) {
    std::string_view s = input.str[i];
    if (IsMissing(s)) continue;
    auto it = counts_.find(s);
    if (it == counts_.end()) it = counts_.emplace(std::string(s), 0).first;
    ++it->second;
  }
}

// ----- input conversions -----

void StoreNumber(Slot& slot, int64_t row, double v) {
  const size_t r = static_cast<size_t>(row);
  switch (slot.type.kind) {
    case ValueKind::kBool:
      slot.num[r] = std::isnan(v) ? v : (v != 0 ? 1.0 : 0.0);
      return;
    case ValueKind::kString:
      if (std::isnan(v)) {
        slot.str[r] = {};
      } else {
        FormatNumber(v, &slot.text[r]);
        slot.str[r] = slot.text[r];
      }
      return;
    default:
      slot.num[r] = v;
      return;
  }
}

void StoreMissing(Slot& slot, int64_t row) {
  const size_t r = static_cast<size_t>(row);
  if (slot.type.kind == ValueKind::kString) {
    slot.str[r] = {};
  } else {
    slot.num[r] = std::numeric_limits<double>::quiet_NaN();
  }
}

Status StoreString(Slot& slot, int64_t row, std::string_view v, std::string_view name) {
  const size_t r = static_cast<size_t>(row);
  auto bad = [&](std::string_view what) {
    std::string shown(v.substr(0, 64));
    return InvalidArgumentError("input '" + std::string(name) + "': \"" + shown + "\" is not " +
                                std::string(what));
  };
  switch (slot.type.kind) {
    case ValueKind::kString:
      slot.text[r].assign(v);
      slot.str[r] = slot.text[r];
      return OkStatus();
    case ValueKind::kNumber: {
      double d;
      if (!ParseNumber(v, &d)) return bad("a number");
      slot.num[r] = d;
      return OkStatus();
    }
    case ValueKind::kBool:
      if (v == "true") {
        slot.num[r] = 1;
      } else if (v == "false") {
        slot.num[r] = 0;
      } else {
        return bad("true or false");
      }
      return OkStatus();
    case ValueKind::kTimestamp: {
      auto ms = data::ParseDateTimeMillis(v);
      if (!ms) return bad("an RFC 3339 date-time");
      slot.num[r] = static_cast<double>(*ms);
      return OkStatus();
    }
    case ValueKind::kVector:
      break;
  }
  return InternalError("vector input");
}

// ----- registry -----

namespace {
struct Entry {
  std::string_view name;
  BuildFn fn;
};
constexpr Entry kOps[] = {
    {"add", BuildArithmetic},     {"argmax", BuildArgmax},       {"bucketize", BuildBucketize},
    {"concat", BuildConcat},      {"dayofweek", BuildDayOfWeek}, {"days_since", BuildDaysSince},
    {"div", BuildArithmetic},     {"fillna", BuildFillna},       {"hour", BuildHour},
    {"log1p", BuildLog1p},        {"lower", BuildLower},         {"map", BuildMap},
    {"mul", BuildArithmetic},     {"one_hot", BuildOneHot},      {"onnx", BuildOnnx},
    {"profile", BuildProfile},    {"select", BuildSelect},       {"standardize", BuildStandardize},
    {"sub", BuildArithmetic},     {"threshold", BuildThreshold}, {"top_k", BuildTopK},
};
}  // namespace

BuildFn FindBuilder(std::string_view op) {
  for (const Entry& e : kOps)
    if (e.name == op) return e.fn;
  return nullptr;
}

std::vector<std::string> OpNames() {
  std::vector<std::string> names;
  for (const Entry& e : kOps) names.emplace_back(e.name);
  return names;
}

}  // namespace rtml::pipeline::internal

namespace rtml::pipeline {
std::string TypeName(ValueType type) {
  if (type.kind != ValueKind::kVector) return std::string(internal::KindName(type.kind));
  return type.width == kUnknownWidth ? "vector[?]" : "vector[" + std::to_string(type.width) + "]";
}
}  // namespace rtml::pipeline
