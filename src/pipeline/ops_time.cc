// Timestamp ops: hour, dayofweek (UTC, Monday = 0) and days_since.
#include <cmath>
#include <limits>

#include "data/schema.h"
#include "pipeline/internal/plan.h"

namespace rtml::pipeline::internal {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int64_t kMsPerDay = 86'400'000;
constexpr int64_t kMsPerHour = 3'600'000;
// ECMAScript's time value range (+-100,000,000 days); beyond it the result is missing.
constexpr double kMaxAbsMs = 8.64e15;

size_t Count(int64_t n) { return static_cast<size_t>(n); }

// Day number (days since 1970-01-01, floored) and ms into that day; false when out of range.
bool SplitDay(double ms, int64_t* day, int64_t* ms_of_day) {
  if (!(std::fabs(ms) <= kMaxAbsMs)) return false;  // also NaN
  const int64_t t = static_cast<int64_t>(std::floor(ms));
  int64_t d = t / kMsPerDay;
  if (t % kMsPerDay < 0) --d;
  *day = d;
  *ms_of_day = t - d * kMsPerDay;
  return true;
}

double HourOf(double ms) {
  int64_t day, in_day;
  if (!SplitDay(ms, &day, &in_day)) return kNaN;
  return static_cast<double>(in_day / kMsPerHour);
}

double DayOfWeekOf(double ms) {
  int64_t day, in_day;
  if (!SplitDay(ms, &day, &in_day)) return kNaN;
  // 1970-01-01 was a Thursday (3 with Monday = 0).
  int64_t dow = (day + 3) % 7;
  if (dow < 0) dow += 7;
  return static_cast<double>(dow);
}

template <double (*F)(double)>
class TimePartOp final : public Op {
 public:
  using Op::Op;
  Status Eval(Frame& f, OpState*, int64_t n, const EvalEnv&) const override {
    const double* x = in(f, 0).num.data();
    double* y = out(f).num.data();
    for (size_t i = 0; i < Count(n); ++i) y[i] = F(x[i]);
    return OkStatus();
  }
};

template <double (*F)(double)>
StatusOr<Built> BuildTimePart(const BuildContext& ctx) {
  RETURN_IF_ERROR(CheckParams(ctx, {}));
  RETURN_IF_ERROR(CheckArity(ctx, 1, 1));
  RETURN_IF_ERROR(
      ExpectType(ctx, 0, ctx.inputs[0].type.kind == ValueKind::kTimestamp, "timestamp"));
  Built b;
  b.type = {ValueKind::kNumber, 1};
  b.op = std::make_unique<TimePartOp<F>>(ctx.input_slots(), ctx.out_slot);
  return b;
}

class DaysSinceOp final : public Op {
 public:
  DaysSinceOp(std::vector<int> in, int out, bool now, double reference_ms)
      : Op(std::move(in), out), now_(now), reference_ms_(reference_ms) {}
  Status Eval(Frame& f, OpState*, int64_t n, const EvalEnv& env) const override {
    const double reference = now_ ? static_cast<double>(env.now_ms) : reference_ms_;
    const double* x = in(f, 0).num.data();
    double* y = out(f).num.data();
    for (size_t i = 0; i < Count(n); ++i) y[i] = (reference - x[i]) / static_cast<double>(kMsPerDay);
    return OkStatus();
  }

 private:
  bool now_;
  double reference_ms_;
};

}  // namespace

StatusOr<Built> BuildHour(const BuildContext& ctx) { return BuildTimePart<HourOf>(ctx); }
StatusOr<Built> BuildDayOfWeek(const BuildContext& ctx) { return BuildTimePart<DayOfWeekOf>(ctx); }

StatusOr<Built> BuildDaysSince(const BuildContext& ctx) {
  RETURN_IF_ERROR(CheckParams(ctx, {"reference"}));
  RETURN_IF_ERROR(CheckArity(ctx, 1, 1));
  RETURN_IF_ERROR(
      ExpectType(ctx, 0, ctx.inputs[0].type.kind == ValueKind::kTimestamp, "timestamp"));
  bool now = true;
  double reference = 0;
  if (const Json* r = Param(ctx, "reference")) {
    if (r->is_string() && r->get<std::string>() == "now") {
      now = true;
    } else if (r->is_string()) {
      auto ms = data::ParseDateTimeMillis(r->get<std::string>());
      if (!ms) {
        return ctx.Error("param 'reference' must be \"now\" or an RFC 3339 date-time, not \"" +
                         r->get<std::string>().substr(0, 64) + "\"");
      }
      now = false;
      reference = static_cast<double>(*ms);
    } else if (ReadFinite(*r, &reference)) {
      now = false;  // ms since the epoch
    } else {
      return ctx.Error("param 'reference' must be \"now\" or an RFC 3339 date-time");
    }
  }
  Built b;
  b.type = {ValueKind::kNumber, 1};
  b.op = std::make_unique<DaysSinceOp>(ctx.input_slots(), ctx.out_slot, now, reference);
  return b;
}

}  // namespace rtml::pipeline::internal
