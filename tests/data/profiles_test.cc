// Tests of live profiles: definitions, every aggregate over windows with
// out-of-order events, retention, filters, identity stitching and merges,
// profile records, the JSON view, a brute-force comparison on a random event
// stream and a writer/readers concurrency test.
#include "data/profiles.h"

#include <gtest/gtest.h>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <thread>

namespace rtml::data {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kT0 = 1'760'000'000'000;  // 2025-10-09T08:53:20Z

// A settable wall clock for ProfileStoreOptions.
struct FakeClock {
  std::shared_ptr<std::atomic<int64_t>> now = std::make_shared<std::atomic<int64_t>>(kT0);
  std::function<int64_t()> fn() const {
    return [n = now] { return n->load(); };
  }
  void Set(int64_t t) { now->store(t); }
};

ProfileStoreOptions Options(const FakeClock& clock, size_t cap = 10'000) {
  ProfileStoreOptions o;
  o.clock = clock.fn();
  o.lateness_ms = 5 * kMinute;
  o.max_entries_per_attribute = cap;
  return o;
}

void Apply(ProfileStore& store, std::string_view dataset, int64_t ts, std::string_view type,
           const std::vector<std::string>& ids, std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element rec;
  ASSERT_EQ(parser.parse(simdjson::padded_string(json)).get(rec), simdjson::SUCCESS) << json;
  store.ApplyEvent(EventView{dataset, "evt", ts, type, ids, rec});
}

void ApplyRecord(ProfileStore& store, const std::vector<std::string>& ids, std::string_view json,
                 int64_t ts) {
  simdjson::dom::parser parser;
  simdjson::dom::element rec;
  ASSERT_EQ(parser.parse(simdjson::padded_string(json)).get(rec), simdjson::SUCCESS) << json;
  store.ApplyProfileRecord(ids, rec, ts);
}

void Define(ProfileStore& store, std::string_view name, std::string_view body) {
  auto def = ParseComputedAttribute(name, body);
  ASSERT_TRUE(def.ok()) << def.status().ToString();
  ASSERT_TRUE(store.SetComputedAttribute(*def).ok());
}

std::string Show(const Value& v) {
  char buf[32];
  switch (v.kind) {
    case Value::Kind::kNull:
      return "null";
    case Value::Kind::kNumber:
      return std::string(buf, std::to_chars(buf, buf + sizeof buf, v.number).ptr);
    case Value::Kind::kString:
      return "'" + v.string + "'";
    case Value::Kind::kBool:
      return v.number != 0 ? "true" : "false";
  }
  return "?";
}

// All attributes of `identity` at `now`, shown as text.
std::vector<std::string> Values(const ProfileStore& store, std::string_view identity, int64_t now) {
  const size_t n = store.ComputedAttributes().size();
  std::vector<int> indices(n);
  std::iota(indices.begin(), indices.end(), 0);
  std::vector<Value> out(n);
  store.Lookup(identity, indices, now, out);
  std::vector<std::string> shown;
  for (const Value& v : out) shown.push_back(Show(v));
  return shown;
}

std::string One(const ProfileStore& store, std::string_view identity, std::string_view attribute,
                int64_t now) {
  const auto index = store.AttributeIndex(attribute);
  if (!index) return "no such attribute";
  const int indices[] = {*index};
  Value out[1];
  store.Lookup(identity, indices, now, out);
  return Show(out[0]);
}

// ------------------------------------------------------------ parsing ---

TEST(ParseWindow, AcceptsEveryUnit) {
  EXPECT_EQ(*ParseWindow("30s"), 30'000);
  EXPECT_EQ(*ParseWindow("30m"), 30 * kMinute);
  EXPECT_EQ(*ParseWindow("24h"), 24 * kHour);
  EXPECT_EQ(*ParseWindow("7d"), 7 * 24 * kHour);
  EXPECT_EQ(*ParseWindow("2w"), 14 * 24 * kHour);
  EXPECT_EQ(*ParseWindow("400d"), kMaxWindowMs);
  EXPECT_EQ(*ParseWindow("57w"), 57 * 7 * 24 * kHour);
  EXPECT_EQ(*ParseWindow("007m"), 7 * kMinute);
}

TEST(ParseWindow, ErrorsNameTheValue) {
  const std::string kFormat =
      " must be a whole number followed by s, m, h, d or w (e.g. '30m', '24h', '7d')";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "window ''" + kFormat},
      {"m", "window 'm'" + kFormat},
      {"5", "window '5'" + kFormat},
      {"5y", "window '5y'" + kFormat},
      {"-5m", "window '-5m'" + kFormat},
      {"+5m", "window '+5m'" + kFormat},
      {"1.5h", "window '1.5h'" + kFormat},
      {" 5m", "window ' 5m'" + kFormat},
      {"5M", "window '5M'" + kFormat},
      {"0m", "window '0m' must be at least 1 unit (e.g. '1m')"},
      {"401d", "window '401d' exceeds the maximum of 400 days"},
      {"58w", "window '58w' exceeds the maximum of 400 days"},
      {"9601h", "window '9601h' exceeds the maximum of 400 days"},
      {"99999999999999999999999d",
       "window '99999999999999999999999d' exceeds the maximum of 400 days"},
      {std::string(60, '1') + "s",
       "window '" + std::string(40, '1') + "...' exceeds the maximum of 400 days"},
      {"5\nm", "window '5?m'" + kFormat},
  };
  for (const auto& [input, message] : cases) {
    auto r = ParseWindow(input);
    ASSERT_FALSE(r.ok()) << input;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), message) << input;
  }
}

TEST(ParseWindow, FormatWindowRoundTrips) {
  for (std::string_view w : {"30s", "90s", "30m", "24h", "36h", "7d", "400d"}) {
    const int64_t ms = *ParseWindow(w);
    EXPECT_EQ(*ParseWindow(FormatWindow(ms)), ms) << w;
  }
  EXPECT_EQ(FormatWindow(*ParseWindow("2w")), "14d");
  EXPECT_EQ(FormatWindow(*ParseWindow("120m")), "2h");
  EXPECT_EQ(FormatWindow(*ParseWindow("90s")), "90s");
}

TEST(ParseComputedAttribute, ParsesEveryField) {
  auto def = ParseComputedAttribute(
      "spend_7d",
      R"({"dataset":"web","eventType":"commerce.purchases","function":"sum","field":"commerce.order.priceTotal",
          "window":"7d","filter":{"device.type":"mobile","quantity":3.0,"member":true,"tier":"3"}})");
  ASSERT_TRUE(def.ok()) << def.status().ToString();
  EXPECT_EQ(def->name, "spend_7d");
  EXPECT_EQ(def->dataset, "web");
  EXPECT_EQ(def->event_type, "commerce.purchases");
  EXPECT_EQ(def->function, AggregateFunction::kSum);
  EXPECT_EQ(def->field, "commerce.order.priceTotal");
  EXPECT_EQ(def->window_ms, 7 * 24 * kHour);
  const std::vector<std::pair<std::string, std::string>> filters = {
      {"device.type", "\"mobile\""}, {"quantity", "3"}, {"member", "true"}, {"tier", "\"3\""}};
  EXPECT_EQ(def->filters, filters);
  // The JSON form parses back to the same definition.
  auto again = ParseComputedAttribute("spend_7d", ComputedAttributeJson(*def));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *def);
  EXPECT_EQ(
      ComputedAttributeJson(*def),
      R"({"dataset":"web","eventType":"commerce.purchases","function":"sum","field":"commerce.order.priceTotal",)"
      R"("window":"7d","filter":{"device.type":"mobile","quantity":3,"member":true,"tier":"3"}})");
}

TEST(ParseComputedAttribute, FunctionNames) {
  const std::vector<std::pair<std::string, AggregateFunction>> names = {
      {"count", AggregateFunction::kCount},
      {"sum", AggregateFunction::kSum},
      {"min", AggregateFunction::kMin},
      {"max", AggregateFunction::kMax},
      {"avg", AggregateFunction::kAvg},
      {"last", AggregateFunction::kLast},
      {"distinct_count", AggregateFunction::kDistinctCount}};
  for (const auto& [name, f] : names) {
    auto def = ParseComputedAttribute(
        "a", R"({"dataset":"d","function":")" + name + R"(","field":"x","window":"1h"})");
    ASSERT_TRUE(def.ok()) << name;
    EXPECT_EQ(def->function, f);
    EXPECT_EQ(AggregateFunctionName(f), name);
  }
  auto count = ParseComputedAttribute("a", R"({"dataset":"d","function":"count","window":"1h"})");
  ASSERT_TRUE(count.ok());
  EXPECT_TRUE(count->field.empty());
  EXPECT_FALSE(count->event_type.has_value());
}

TEST(ParseComputedAttribute, ErrorsNameTheField) {
  const std::string kFunctions = "count, sum, min, max, avg, last, distinct_count";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"dataset":)", "request body is not valid JSON: "},
      {R"([1])", "request body must be a JSON object"},
      {R"({"dataset":"d","function":"count","window":"1h","windw":"1h"})",
       "unknown field 'windw' (expected: dataset, eventType, function, field, window, filter)"},
      {R"({"dataset":"d","dataset":"e","function":"count","window":"1h"})",
       "duplicate field 'dataset'"},
      {R"({"function":"count","window":"1h"})", "'dataset' is required"},
      {R"({"dataset":5,"function":"count","window":"1h"})", "'dataset' must be a non-empty string"},
      {R"({"dataset":"","function":"count","window":"1h"})",
       "'dataset' must be a non-empty string"},
      {R"({"dataset":"d","eventType":"","function":"count","window":"1h"})",
       "'eventType' must be a non-empty string"},
      {R"({"dataset":"d","eventType":null,"function":"count","window":"1h"})",
       "'eventType' must be a non-empty string"},
      {R"({"dataset":"d","window":"1h"})", "'function' is required"},
      {R"({"dataset":"d","function":["sum"],"window":"1h"})",
       "'function' must be a string: one of " + kFunctions},
      {R"({"dataset":"d","function":"median","window":"1h"})",
       "'function' must be one of " + kFunctions + " (got 'median')"},
      {R"({"dataset":"d","function":"Sum","field":"x","window":"1h"})",
       "'function' must be one of " + kFunctions + " (got 'Sum')"},
      {R"({"dataset":"d","function":"sum","window":"1h"})",
       "'field' is required for function 'sum'"},
      {R"({"dataset":"d","function":"distinct_count","field":"","window":"1h"})",
       "'field' is required for function 'distinct_count'"},
      {R"({"dataset":"d","function":"max","field":7,"window":"1h"})", "'field' must be a string"},
      {R"({"dataset":"d","function":"max","field":"a..b","window":"1h"})",
       "'field' must be a dotted path of non-empty names such as 'commerce.order.priceTotal' (got "
       "'a..b')"},
      {R"({"dataset":"d","function":"max","field":".a","window":"1h"})",
       "'field' must be a dotted path of non-empty names such as 'commerce.order.priceTotal' (got "
       "'.a')"},
      {R"({"dataset":"d","function":"count"})", "'window' is required"},
      {R"({"dataset":"d","function":"count","window":30})",
       "'window' must be a string such as '30m', '24h' or '7d'"},
      {R"({"dataset":"d","function":"count","window":"0d"})",
       "window '0d' must be at least 1 unit (e.g. '1m')"},
      {R"({"dataset":"d","function":"count","window":"1y"})",
       "window '1y' must be a whole number followed by s, m, h, d or w (e.g. '30m', '24h', '7d')"},
      {R"({"dataset":"d","function":"count","window":"1h","filter":[]})",
       "'filter' must be an object mapping field paths to values"},
      {R"({"dataset":"d","function":"count","window":"1h","filter":{"device":{"type":"x"}}})",
       "'filter' value for 'device' must be a string, number or boolean"},
      {R"({"dataset":"d","function":"count","window":"1h","filter":{"device":null}})",
       "'filter' value for 'device' must be a string, number or boolean"},
      {R"({"dataset":"d","function":"count","window":"1h","filter":{"a.":1}})",
       "'filter' path must be a dotted path of non-empty names such as 'commerce.order.priceTotal' "
       "(got 'a.')"},
      {R"({"dataset":"d","function":"count","window":"1h","filter":{"a":1,"a":2}})",
       "'filter' names path 'a' twice"},
  };
  for (const auto& [body, message] : cases) {
    auto r = ParseComputedAttribute("attr", body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    if (message.ends_with(": ")) {
      EXPECT_TRUE(r.status().message().starts_with(message)) << r.status().message();
    } else {
      EXPECT_EQ(r.status().message(), message) << body;
    }
  }
}

TEST(ParseComputedAttribute, NameRules) {
  const std::string body = R"({"dataset":"d","function":"count","window":"1h"})";
  EXPECT_TRUE(ParseComputedAttribute("Orders_7d-v2", body).ok());
  EXPECT_EQ(ParseComputedAttribute("", body).status().message(),
            "computed attribute name must be 1 to 128 characters");
  EXPECT_EQ(ParseComputedAttribute(std::string(129, 'a'), body).status().message(),
            "computed attribute name must be 1 to 128 characters");
  EXPECT_EQ(ParseComputedAttribute("orders.7d", body).status().message(),
            "computed attribute name 'orders.7d' may not contain '.' (values are addressed as "
            "computed.<name>)");
  EXPECT_EQ(ParseComputedAttribute("orders 7d", body).status().message(),
            "computed attribute name 'orders 7d' may only contain letters, digits, '_' and '-'");
}

TEST(SetComputedAttribute, ValidatesDefinitionsBuiltInCode) {
  FakeClock clock;
  ProfileStore store(Options(clock));
  ComputedAttributeDef def;
  def.name = "a";
  def.dataset = "d";
  def.window_ms = 1500;
  EXPECT_EQ(store.SetComputedAttribute(def).message(),
            "'window' must be a whole number of seconds from 1s to 400d (got 1500 ms)");
  def.window_ms = kMaxWindowMs + 1000;
  EXPECT_EQ(store.SetComputedAttribute(def).message(),
            "'window' must be a whole number of seconds from 1s to 400d (got 34560001000 ms)");
  def.window_ms = kHour;
  def.filters = {{"device", "mobile"}};
  EXPECT_EQ(store.SetComputedAttribute(def).message(),
            "'filter' value for 'device' must be a JSON string, number or boolean (got 'mobile')");
  def.filters = {{"n", "3.0"}};
  ASSERT_TRUE(store.SetComputedAttribute(def).ok());
  const std::vector<std::pair<std::string, std::string>> canonical = {{"n", "3"}};
  EXPECT_EQ(store.ComputedAttributes().at(0).filters, canonical);
  def.dataset.clear();
  EXPECT_EQ(store.SetComputedAttribute(def).message(), "'dataset' must be a non-empty string");
  EXPECT_EQ(store.RemoveComputedAttribute("nope").code(), StatusCode::kNotFound);
  EXPECT_EQ(store.RemoveComputedAttribute("nope").message(), "computed attribute 'nope' not found");
}

// ---------------------------------------------------------- functions ---

class FunctionsTest : public ::testing::Test {
 protected:
  FunctionsTest() : store_(Options(clock_)) {}
  FakeClock clock_;
  ProfileStore store_;
};

TEST_F(FunctionsTest, CountWindowBoundsAreExclusiveInclusive) {
  Define(store_, "c30m", R"({"dataset":"web","function":"count","window":"30m"})");
  Define(store_, "c1h", R"({"dataset":"web","function":"count","window":"1h"})");
  Define(store_, "c24h", R"({"dataset":"web","function":"count","window":"24h"})");
  const std::vector<std::string> a = {"ECID:1"};
  // Out of order on purpose.
  Apply(store_, "web", kT0 - 2 * kHour, "view", a, "{}");
  Apply(store_, "web", kT0 - 10 * kMinute, "view", a, "{}");
  Apply(store_, "web", kT0 - 30 * kMinute, "view", a, "{}");  // exactly on the 30m edge: excluded
  Apply(store_, "web", kT0, "view", a, "{}");                 // exactly now: included
  Apply(store_, "web", kT0 + kMinute, "view", a, "{}");       // after now: excluded
  Apply(store_, "app", kT0, "view", a, "{}");                 // other dataset
  EXPECT_EQ(Values(store_, "ECID:1", kT0), (std::vector<std::string>{"2", "3", "4"}));
  EXPECT_EQ(Values(store_, "ECID:1", kT0 + kMinute), (std::vector<std::string>{"3", "4", "5"}));
  EXPECT_EQ(Values(store_, "ECID:1", kT0 + 25 * kMinute),
            (std::vector<std::string>{"2", "4", "5"}));
  EXPECT_EQ(Values(store_, "ECID:1", kT0 + 31 * kMinute),
            (std::vector<std::string>{"0", "3", "5"}));
  EXPECT_EQ(Values(store_, "ECID:1", kT0 - 20 * kMinute),
            (std::vector<std::string>{"1", "1", "2"}));
}

TEST_F(FunctionsTest, NumericAggregatesIgnoreNonNumericValues) {
  for (std::string_view f : {"sum", "min", "max", "avg"}) {
    Define(store_, f,
           R"({"dataset":"web","function":")" + std::string(f) +
               R"(","field":"order.price","window":"1h"})");
  }
  const std::vector<std::string> a = {"ECID:1"};
  Apply(store_, "web", kT0 - 5 * kMinute, "buy", a, R"({"order":{"price":10}})");
  Apply(store_, "web", kT0 - 50 * kMinute, "buy", a, R"({"order":{"price":-2.5}})");
  Apply(store_, "web", kT0 - 20 * kMinute, "buy", a, R"({"order":{"price":4.5}})");
  Apply(store_, "web", kT0 - 2 * kHour, "buy", a, R"({"order":{"price":1000}})");  // outside 1h
  Apply(store_, "web", kT0 - kMinute, "buy", a, R"({"order":{"price":"99"}})");  // string: ignored
  Apply(store_, "web", kT0 - kMinute, "buy", a, R"({"order":{"price":true}})");  // bool: ignored
  Apply(store_, "web", kT0 - kMinute, "buy", a, R"({"order":{}})");              // missing: ignored
  Apply(store_, "web", kT0 - kMinute, "buy", a, R"({"order":5})");  // not an object: ignored
  Apply(store_, "web", kT0 - kMinute, "buy", a,
        R"({"order":{"price":18446744073709551615}})");  // uint64
  EXPECT_EQ(Values(store_, "ECID:1", kT0),
            (std::vector<std::string>{"18446744073709551616", "-2.5", "18446744073709551616",
                                      "4611686018427387904"}));
  // Without the huge value (one minute earlier).
  EXPECT_EQ(Values(store_, "ECID:1", kT0 - 2 * kMinute),
            (std::vector<std::string>{"12", "-2.5", "10", "4"}));
  // Nothing in (kT0, kT0 + 1h].
  EXPECT_EQ(Values(store_, "ECID:1", kT0 + kHour),
            (std::vector<std::string>{"0", "null", "null", "null"}));
}

TEST_F(FunctionsTest, LastTakesGreatestTimestampThenLaterApplied) {
  Define(store_, "last", R"({"dataset":"web","function":"last","field":"page","window":"1h"})");
  const std::vector<std::string> a = {"ECID:1"};
  Apply(store_, "web", kT0 - 10 * kMinute, "view", a, R"({"page":"home"})");
  EXPECT_EQ(One(store_, "ECID:1", "last", kT0), "'home'");
  Apply(store_, "web", kT0 - 20 * kMinute, "view", a,
        R"({"page":"older"})");  // late arrival, older
  EXPECT_EQ(One(store_, "ECID:1", "last", kT0), "'home'");
  Apply(store_, "web", kT0 - 10 * kMinute, "view", a,
        R"({"page":42})");  // same timestamp, applied later
  EXPECT_EQ(One(store_, "ECID:1", "last", kT0), "42");
  Apply(store_, "web", kT0 - 5 * kMinute, "view", a, R"({"page":false})");
  EXPECT_EQ(One(store_, "ECID:1", "last", kT0), "false");
  Apply(store_, "web", kT0 - 4 * kMinute, "view", a,
        R"({"page":{"x":1}})");                                          // not a scalar: ignored
  Apply(store_, "web", kT0 - 4 * kMinute, "view", a, R"({"other":1})");  // missing: ignored
  EXPECT_EQ(One(store_, "ECID:1", "last", kT0), "false");
  EXPECT_EQ(One(store_, "ECID:1", "last", kT0 - 6 * kMinute), "42");
  EXPECT_EQ(One(store_, "ECID:1", "last", kT0 - 15 * kMinute), "'older'");
  EXPECT_EQ(One(store_, "ECID:1", "last", kT0 + 51 * kMinute), "false");
  EXPECT_EQ(One(store_, "ECID:1", "last", kT0 + 56 * kMinute), "null");
}

TEST_F(FunctionsTest, DistinctCountUsesCanonicalText) {
  Define(store_, "d",
         R"({"dataset":"web","function":"distinct_count","field":"sku","window":"1h"})");
  const std::vector<std::string> a = {"ECID:1"};
  for (std::string_view sku :
       {R"("a")", R"("a")", "3", "3.0", "30e-1", R"("3")", "true", R"("b")", "null", "[1]"}) {
    Apply(store_, "web", kT0 - kMinute, "view", a, R"({"sku":)" + std::string(sku) + "}");
  }
  // "a", 3 (= 3.0 = 30e-1), "3", true, "b"; null and arrays are not values.
  EXPECT_EQ(One(store_, "ECID:1", "d", kT0), "5");
  Apply(store_, "web", kT0 - 30 * kMinute, "view", a, R"({"sku":"c"})");
  EXPECT_EQ(One(store_, "ECID:1", "d", kT0), "6");
  EXPECT_EQ(One(store_, "ECID:1", "d", kT0 - 10 * kMinute), "1");
  EXPECT_EQ(One(store_, "ECID:1", "d", kT0 + 2 * kHour), "0");
  // Integral doubles are canonical integers even where the shortest double
  // form differs ("1e+15").
  Apply(store_, "web", kT0 + 2 * kHour, "view", a, R"({"sku":1e15})");
  Apply(store_, "web", kT0 + 2 * kHour, "view", a, R"({"sku":1000000000000000})");
  Apply(store_, "web", kT0 + 2 * kHour, "view", a, R"({"sku":0.5})");
  EXPECT_EQ(One(store_, "ECID:1", "d", kT0 + 2 * kHour), "2");
}

TEST_F(FunctionsTest, EmptyWindowValuesAndUnknownIdentities) {
  for (std::string_view f : {"count", "sum", "min", "max", "avg", "last", "distinct_count"}) {
    Define(store_, f,
           R"({"dataset":"web","function":")" + std::string(f) + R"(","field":"x","window":"1h"})");
  }
  const std::vector<std::string> empty = {"0", "0", "null", "null", "null", "null", "0"};
  Apply(store_, "web", kT0 - 2 * kHour, "view", {"ECID:1"}, R"({"x":1})");
  EXPECT_EQ(Values(store_, "ECID:1", kT0), empty);
  // Unknown identity: empty-window values and false.
  std::vector<int> indices(7);
  std::iota(indices.begin(), indices.end(), 0);
  std::vector<Value> out(7);
  out[0].kind = Value::Kind::kString;
  EXPECT_FALSE(store_.Lookup("ECID:unknown", indices, kT0, out));
  EXPECT_TRUE(store_.Lookup("ECID:1", indices, kT0, out));
  // Out-of-range indices give null.
  const int bad[] = {-1, 7, 0};
  EXPECT_TRUE(store_.Lookup("ECID:1", bad, kT0, std::span<Value>(out).first(3)));
  EXPECT_EQ(Show(out[0]), "null");
  EXPECT_EQ(Show(out[1]), "null");
  EXPECT_EQ(Show(out[2]), "0");
  auto json = store_.ProfileJson("ECID:unknown", kT0);
  EXPECT_EQ(json.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(json.status().message(), "no profile for identity 'ECID:unknown'");
  EXPECT_FALSE(store_.PersonOf("ECID:unknown").has_value());
}

TEST_F(FunctionsTest, FiltersAndEventType) {
  Define(store_, "mobile_buys",
         R"({"dataset":"web","eventType":"buy","function":"count","window":"1h",
                                    "filter":{"device.type":"mobile","qty":2,"member":true}})");
  Define(store_, "buys", R"({"dataset":"web","eventType":"buy","function":"count","window":"1h"})");
  const std::vector<std::string> a = {"ECID:1"};
  const int64_t t = kT0 - kMinute;
  Apply(store_, "web", t, "buy", a,
        R"({"device":{"type":"mobile"},"qty":2,"member":true})");  // both
  Apply(store_, "web", t, "buy", a,
        R"({"device":{"type":"mobile"},"qty":2.0,"member":true})");  // 2.0 == 2
  Apply(store_, "web", t, "view", a,
        R"({"device":{"type":"mobile"},"qty":2,"member":true})");  // wrong type
  Apply(store_, "web", t, "buy", a,
        R"({"device":{"type":"desktop"},"qty":2,"member":true})");  // buys only
  Apply(store_, "web", t, "buy", a,
        R"({"device":{"type":"mobile"},"qty":"2","member":true})");  // "2" != 2
  Apply(store_, "web", t, "buy", a, R"({"device":{"type":"mobile"},"qty":2,"member":"true"})");
  Apply(store_, "web", t, "buy", a, R"({"device":{"type":"mobile"},"qty":2})");  // missing member
  Apply(store_, "web", t, "buy", a, R"({"device":"mobile","qty":2,"member":true})");
  EXPECT_EQ(Values(store_, "ECID:1", kT0), (std::vector<std::string>{"2", "7"}));
}

TEST_F(FunctionsTest, TooOldEventsAreDroppedAndEntriesEvicted) {
  Define(store_, "c", R"({"dataset":"web","function":"count","window":"1h"})");
  const std::vector<std::string> a = {"ECID:1"};
  // wall - window - lateness = kT0 - 65m: an event at that instant is dropped at apply.
  Apply(store_, "web", kT0 - 65 * kMinute, "view", a, "{}");
  Apply(store_, "web", kT0 - 64 * kMinute, "view", a, "{}");  // kept: within lateness
  Apply(store_, "web", kT0 - 30 * kMinute, "view", a, "{}");
  Apply(store_, "web", kT0, "view", a, "{}");
  // A query 5 minutes in the past (the lateness bound) still sees the late event.
  EXPECT_EQ(One(store_, "ECID:1", "c", kT0 - 5 * kMinute), "2");
  EXPECT_EQ(One(store_, "ECID:1", "c", kT0 - 64 * kMinute), "1");
  EXPECT_EQ(store_.EvictExpired(), 0u);
  clock_.Set(kT0 + 2 * kMinute);  // cutoff kT0 - 63m: evicts the -64m entry
  EXPECT_EQ(store_.EvictExpired(), 1u);
  EXPECT_EQ(One(store_, "ECID:1", "c", kT0 + 2 * kMinute), "2");
  clock_.Set(kT0 + 40 * kMinute);  // lazy eviction when the person is next written
  Apply(store_, "web", kT0 + 40 * kMinute, "view", a, "{}");
  EXPECT_EQ(One(store_, "ECID:1", "c", kT0 + 40 * kMinute), "2");
  EXPECT_EQ(store_.EvictExpired(), 0u);  // the -30m entry went with that write
  clock_.Set(kT0 + 3 * kHour);
  EXPECT_EQ(store_.EvictExpired(), 2u);
  EXPECT_EQ(One(store_, "ECID:1", "c", kT0 + 3 * kHour), "0");
}

TEST(ProfileStoreCap, OldestEntriesAreDroppedFirst) {
  FakeClock clock;
  ProfileStore store(Options(clock, /*cap=*/3));
  Define(store, "sum", R"({"dataset":"web","function":"sum","field":"v","window":"1h"})");
  Define(store, "distinct",
         R"({"dataset":"web","function":"distinct_count","field":"v","window":"1h"})");
  const std::vector<std::string> a = {"ECID:1"};
  for (int minutes : {10, 50, 20, 40, 30}) {  // values equal the minutes before kT0
    Apply(store, "web", kT0 - minutes * kMinute, "view", a,
          R"({"v":)" + std::to_string(minutes) + "}");
  }
  // Kept: the three newest (10, 20, 30 minutes ago).
  EXPECT_EQ(Values(store, "ECID:1", kT0), (std::vector<std::string>{"60", "3"}));
  // A merge is capped too.
  Apply(store, "web", kT0 - 5 * kMinute, "view", {"ECID:2"}, R"({"v":5})");
  Apply(store, "web", kT0 - 45 * kMinute, "view", {"ECID:2"}, R"({"v":45})");
  Apply(store, "web", kT0 - 50 * kMinute, "view", {"ECID:2", "ECID:1"}, R"({"v":0})");
  EXPECT_EQ(Values(store, "ECID:2", kT0), (std::vector<std::string>{"35", "3"}));  // 5 + 10 + 20
}

// ---------------------------------------------------------- identities ---

TEST(Identity, TransitiveLinksResolveToOnePerson) {
  FakeClock clock;
  ProfileStore store(Options(clock));
  Define(store, "c", R"({"dataset":"web","function":"count","window":"1h"})");
  Apply(store, "web", kT0, "view", {"ECID:b", "email:a@x"}, "{}");
  Apply(store, "web", kT0, "view", {"email:a@x", "phone:5"}, "{}");
  Apply(store, "web", kT0, "view", {"ECID:d"}, "{}");
  ASSERT_TRUE(store.PersonOf("ECID:b").has_value());
  EXPECT_EQ(store.PersonOf("ECID:b"), store.PersonOf("email:a@x"));
  EXPECT_EQ(store.PersonOf("ECID:b"), store.PersonOf("phone:5"));
  EXPECT_NE(store.PersonOf("ECID:b"), store.PersonOf("ECID:d"));
  EXPECT_EQ(store.num_persons(), 2u);
  EXPECT_EQ(One(store, "phone:5", "c", kT0), "2");
  EXPECT_EQ(One(store, "ECID:d", "c", kT0), "1");

  // The id does not depend on the order of application: another store
  // seeing the same links the other way round agrees.
  ProfileStore other(Options(clock));
  Apply(other, "web", kT0, "view", {"phone:5"}, "{}");
  Apply(other, "web", kT0, "view", {"ECID:d"}, "{}");
  Apply(other, "web", kT0, "view", {"phone:5", "email:a@x"}, "{}");
  Apply(other, "web", kT0, "view", {"ECID:b", "email:a@x", "", "ECID:b"}, "{}");
  EXPECT_EQ(other.PersonOf("phone:5"), store.PersonOf("phone:5"));
  EXPECT_EQ(other.PersonOf("ECID:d"), store.PersonOf("ECID:d"));
  // Events without identities belong to nobody.
  Apply(other, "web", kT0, "view", {}, "{}");
  Apply(other, "web", kT0, "view", {""}, "{}");
  EXPECT_EQ(other.num_persons(), 2u);
}

TEST(Identity, MergingPersonsUnionsTheirStateExactly) {
  FakeClock clock;
  ProfileStore store(Options(clock));
  Define(store, "count", R"({"dataset":"web","function":"count","window":"1h"})");
  Define(store, "sum", R"({"dataset":"web","function":"sum","field":"v","window":"1h"})");
  Define(store, "min", R"({"dataset":"web","function":"min","field":"v","window":"1h"})");
  Define(store, "distinct",
         R"({"dataset":"web","function":"distinct_count","field":"sku","window":"1h"})");
  Define(store, "last", R"({"dataset":"web","function":"last","field":"sku","window":"1h"})");
  const int64_t t = kT0 - 10 * kMinute;
  Apply(store, "web", t, "view", {"A"}, R"({"v":1,"sku":"x"})");
  Apply(store, "web", t - kMinute, "view", {"A"}, R"({"v":2,"sku":"y"})");
  Apply(store, "web", t, "view", {"C"},
        R"({"v":10,"sku":"y"})");  // ties A's first event, applied later
  Apply(store, "web", t - 2 * kMinute, "view", {"C"}, R"({"v":-5,"sku":"z"})");
  ApplyRecord(store, {"A"}, R"({"name":"Ann","address":{"city":"Basel"}})", t);
  ApplyRecord(store, {"C"}, R"({"name":"Anne","address":{"zip":"4051"}})", t - kHour);
  EXPECT_EQ(store.num_persons(), 2u);
  EXPECT_EQ(Values(store, "A", kT0), (std::vector<std::string>{"2", "3", "1", "2", "'x'"}));
  EXPECT_EQ(Values(store, "C", kT0), (std::vector<std::string>{"2", "5", "-5", "2", "'y'"}));
  // An event linking B~A and B~C merges both persons (and counts itself).
  Apply(store, "web", t - 3 * kMinute, "view", {"B", "A", "C"}, R"({"v":100,"sku":"x"})");
  EXPECT_EQ(store.num_persons(), 1u);
  for (const char* id : {"A", "B", "C"}) {
    EXPECT_EQ(Values(store, id, kT0), (std::vector<std::string>{"5", "108", "-5", "3", "'y'"}))
        << id;
  }
  auto json = store.ProfileJson("B", kT0);
  ASSERT_TRUE(json.ok());
  // Per field, the newer record wins; "name" from A's record (newer), zip kept from C's.
  EXPECT_NE(json->find(R"("attributes":{"address":{"city":"Basel","zip":"4051"},"name":"Ann"})"),
            std::string::npos)
      << *json;
  EXPECT_NE(json->find(R"("identities":["A","B","C"])"), std::string::npos) << *json;
}

// ------------------------------------------------------------ records ---

TEST(ProfileRecords, NewerFieldsWinTiesGoToTheLaterCall) {
  FakeClock clock;
  ProfileStore store(Options(clock));
  const std::vector<std::string> id = {"CRM:7"};
  ApplyRecord(store, id,
              R"({"name":"A","tier":"gold","address":{"city":"Basel","zip":"4051"},"tags":[1,2]})",
              200);
  ApplyRecord(store, id, R"({"name":"B","address":{"city":"Bern"},"age":40})",
              100);  // older: only new fields land
  ApplyRecord(store, id, R"({"tier":"silver","address":{"zip":"3000"},"tags":[3]})",
              200);  // tie: later call wins
  ApplyRecord(store, id, R"({"address":"unknown"})",
              150);  // older than the object's newest field: ignored
  auto json = store.ProfileJson("CRM:7", kT0);
  ASSERT_TRUE(json.ok());
  char person[17];
  std::snprintf(person, sizeof person, "%016llx",
                static_cast<unsigned long long>(*store.PersonOf("CRM:7")));
  EXPECT_EQ(
      *json,
      R"({"identity":"CRM:7","person":")" + std::string(person) +
          R"(","identities":["CRM:7"],"attributes":{"address":{"city":"Basel","zip":"3000"},"age":40,)"
          R"("name":"A","tags":[3],"tier":"silver"},"computed":{},"updated":"1970-01-01T00:00:00.200Z"})");
  // A newer scalar replaces the whole object, and a newer object replaces a scalar.
  ApplyRecord(store, id, R"({"address":"unknown","tags":{"a":"\"q\"\n"}})", 300);
  json = store.ProfileJson("CRM:7", kT0);
  EXPECT_NE(json->find(
                R"("attributes":{"address":"unknown","age":40,"name":"A","tags":{"a":"\"q\"\n"},)"),
            std::string::npos)
      << *json;
}

TEST(ProfileJson, ShapeAndAgreementWithLookup) {
  FakeClock clock;
  ProfileStore store(Options(clock));
  Define(store, "views_30m",
         R"({"dataset":"web","eventType":"view","function":"count","window":"30m"})");
  Define(store, "spend_7d", R"({"dataset":"web","function":"sum","field":"price","window":"7d"})");
  Define(store, "avg_7d", R"({"dataset":"web","function":"avg","field":"price","window":"7d"})");
  Define(store, "last_page", R"({"dataset":"web","function":"last","field":"page","window":"1d"})");
  Define(store, "max_1h", R"({"dataset":"web","function":"max","field":"price","window":"1h"})");
  Apply(store, "web", kT0 - kMinute, "view", {"ECID:1", "email:x@y"}, R"({"page":"a \"b\""})");
  Apply(store, "web", kT0 - 2 * kHour, "buy", {"ECID:1"}, R"({"price":12.25})");
  Apply(store, "web", kT0 - 3 * kHour, "buy", {"email:x@y"}, R"({"price":0.1})");
  ApplyRecord(store, {"email:x@y"}, R"({"country":"CH"})", kT0 - 4 * kHour);
  auto json = store.ProfileJson("email:x@y", kT0);
  ASSERT_TRUE(json.ok());
  char person[17];
  std::snprintf(person, sizeof person, "%016llx",
                static_cast<unsigned long long>(*store.PersonOf("ECID:1")));
  EXPECT_EQ(
      *json,
      std::string(R"({"identity":"email:x@y","person":")") + person +
          R"(","identities":["ECID:1","email:x@y"],"attributes":{"country":"CH"},)"
          R"("computed":{"views_30m":1,"spend_7d":12.35,"avg_7d":6.175,"last_page":"a \"b\"",)"
          R"("max_1h":null},"updated":"2025-10-09T08:52:20.000Z"})");
  // Lookup gives the same values, for any linked identity.
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(simdjson::padded_string(*json)).get(doc), simdjson::SUCCESS);
  const auto defs = store.ComputedAttributes();
  std::vector<int> indices(defs.size());
  std::iota(indices.begin(), indices.end(), 0);
  std::vector<Value> values(defs.size());
  ASSERT_TRUE(store.Lookup("ECID:1", indices, kT0, values));
  for (size_t i = 0; i < defs.size(); ++i) {
    simdjson::dom::element e = doc["computed"][defs[i].name];
    switch (values[i].kind) {
      case Value::Kind::kNull:
        EXPECT_TRUE(e.is_null()) << defs[i].name;
        break;
      case Value::Kind::kNumber:
        EXPECT_EQ(double(e), values[i].number) << defs[i].name;
        break;
      case Value::Kind::kString:
        EXPECT_EQ(std::string_view(e), values[i].string) << defs[i].name;
        break;
      case Value::Kind::kBool:
        EXPECT_EQ(bool(e), values[i].number != 0) << defs[i].name;
        break;
    }
  }
}

TEST(Definitions, ReplaceClearsRemoveShiftsReplayFills) {
  FakeClock clock;
  ProfileStore store(Options(clock));
  Define(store, "a", R"({"dataset":"web","function":"count","window":"1h"})");
  Define(store, "b", R"({"dataset":"web","function":"sum","field":"v","window":"1h"})");
  Define(store, "c", R"({"dataset":"web","function":"max","field":"v","window":"1h"})");
  const uint64_t version = store.attributes_version();
  simdjson::dom::parser parser;
  simdjson::dom::element rec;
  ASSERT_EQ(parser.parse(simdjson::padded_string(std::string(R"({"v":4})"))).get(rec),
            simdjson::SUCCESS);
  const std::vector<std::string> ids = {"ECID:1"};
  const EventView event{"web", "e1", kT0, "view", ids, rec};
  store.ApplyEvent(event);
  EXPECT_EQ(Values(store, "ECID:1", kT0), (std::vector<std::string>{"1", "4", "4"}));
  // Replacing "b" keeps its index, clears its state; a replay of one attribute fills only it.
  Define(store, "b", R"({"dataset":"web","function":"min","field":"v","window":"1h"})");
  EXPECT_GT(store.attributes_version(), version);
  EXPECT_EQ(Values(store, "ECID:1", kT0), (std::vector<std::string>{"1", "null", "4"}));
  store.ReplayEvent(event, *store.AttributeIndex("b"));
  EXPECT_EQ(Values(store, "ECID:1", kT0), (std::vector<std::string>{"1", "4", "4"}));
  ASSERT_TRUE(store.RemoveComputedAttribute("a").ok());
  EXPECT_EQ(store.AttributeIndex("c"), 1);
  EXPECT_FALSE(store.AttributeIndex("a").has_value());
  EXPECT_EQ(Values(store, "ECID:1", kT0), (std::vector<std::string>{"4", "4"}));
  Define(store, "d", R"({"dataset":"web","function":"count","window":"1h"})");
  EXPECT_EQ(Values(store, "ECID:1", kT0), (std::vector<std::string>{"4", "4", "0"}));
}

// ---------------------------------------------------- brute force ---

// A random stream (linked identities, out-of-order timestamps, an advancing
// wall clock, missing and mistyped fields) against a direct recomputation.
TEST(BruteForce, RandomStreamMatchesRecomputation) {
  struct Raw {
    std::string dataset, type;
    int64_t ts;
    std::vector<int> ids;
    std::optional<double> price;  // when numeric
    std::string price_json;       // the field as written (may be absent or a string)
    std::string device;
    std::string sku_json, sku_canonical;
    bool flag;
  };
  const std::vector<std::pair<std::string, std::string>> kSkus = {
      {R"("a")", R"("a")"}, {R"("b")", R"("b")"}, {"3", "3"},
      {"3.0", "3"},         {R"("3")", R"("3")"}, {"true", "true"}};
  const std::vector<std::string> kDevices = {"mobile", "desktop", "tv"};
  std::mt19937_64 rng(12345);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };

  for (int round = 0; round < 4; ++round) {
    FakeClock clock;
    ProfileStore store(Options(clock));
    Define(store, "count_web_30m", R"({"dataset":"web","function":"count","window":"30m"})");
    Define(
        store, "sum_buy_1h",
        R"({"dataset":"web","eventType":"buy","function":"sum","field":"o.price","window":"1h"})");
    Define(store, "min_2h",
           R"({"dataset":"web","function":"min","field":"o.price","window":"2h"})");
    Define(
        store, "max_mobile_2h",
        R"({"dataset":"web","function":"max","field":"o.price","window":"2h","filter":{"device":"mobile"}})");
    Define(store, "avg_1h",
           R"({"dataset":"web","function":"avg","field":"o.price","window":"1h"})");
    Define(store, "last_sku_1h",
           R"({"dataset":"web","function":"last","field":"sku","window":"1h"})");
    Define(store, "distinct_sku_3h",
           R"({"dataset":"app","function":"distinct_count","field":"sku","window":"3h"})");
    Define(
        store, "flagged_views_10m",
        R"({"dataset":"app","eventType":"view","function":"count","window":"10m","filter":{"flag":true}})");

    const int kIdentities = 80;
    const int kEvents = 3000;
    std::vector<Raw> events;
    int64_t wall = kT0;
    for (int n = 0; n < kEvents; ++n) {
      wall += uniform(0, 3000);
      clock.Set(wall);
      Raw r;
      r.dataset = uniform(0, 3) == 0 ? "app" : "web";
      r.type = uniform(0, 2) == 0 ? "buy" : "view";
      r.ts = wall - uniform(0, 4 * kHour) +
             uniform(0, 1) * uniform(0, 5 * kMinute);  // out of order, some future
      r.ts -= r.ts % (uniform(0, 1) ? 1000 : 1);       // frequent timestamp ties
      r.ids.push_back(static_cast<int>(uniform(0, kIdentities - 1)));
      if (uniform(0, 30) == 0) r.ids.push_back(static_cast<int>(uniform(0, kIdentities - 1)));
      const int64_t price_kind = uniform(0, 9);
      if (price_kind < 7) {
        r.price = static_cast<double>(uniform(-20, 100)) * 0.5;
        char buf[32];
        r.price_json = std::string(buf, std::to_chars(buf, buf + sizeof buf, *r.price).ptr);
      } else if (price_kind == 7) {
        r.price_json = R"("12")";
      }
      r.device = kDevices[static_cast<size_t>(uniform(0, 2))];
      const auto& sku =
          kSkus[static_cast<size_t>(uniform(0, static_cast<int64_t>(kSkus.size()) - 1))];
      if (uniform(0, 5) != 0) {
        r.sku_json = sku.first;
        r.sku_canonical = sku.second;
      }
      r.flag = uniform(0, 1) == 1;
      std::string json = R"({"device":")" + r.device + R"(","flag":)" + (r.flag ? "true" : "false");
      if (!r.price_json.empty()) json += R"(,"o":{"price":)" + r.price_json + "}";
      if (!r.sku_json.empty()) json += R"(,"sku":)" + r.sku_json;
      json += "}";
      std::vector<std::string> ids;
      for (int i : r.ids) ids.push_back("ns:" + std::to_string(i));
      Apply(store, r.dataset, r.ts, r.type, ids, json);
      events.push_back(std::move(r));
    }

    // Union-find over the final links.
    std::vector<int> parent(kIdentities);
    std::iota(parent.begin(), parent.end(), 0);
    std::function<int(int)> find = [&](int x) {
      return parent[x] == x ? x : parent[x] = find(parent[x]);
    };
    std::set<int> seen;
    for (const Raw& r : events) {
      for (int i : r.ids) {
        seen.insert(i);
        parent[find(i)] = find(r.ids[0]);
      }
    }
    EXPECT_EQ(store.num_persons(),
              static_cast<size_t>(
                  std::count_if(seen.begin(), seen.end(), [&](int i) { return find(i) == i; })));
    for (int i : seen) {
      for (int j : seen) {
        EXPECT_EQ(find(i) == find(j), store.PersonOf("ns:" + std::to_string(i)) ==
                                          store.PersonOf("ns:" + std::to_string(j)));
      }
    }

    for (int64_t now :
         {wall - 5 * kMinute, wall, wall + 7 * kMinute, wall + kHour, wall + 150 * kMinute}) {
      for (int who : seen) {
        const int root = find(who);
        auto in = [&](const Raw& r, int64_t window) {
          return find(r.ids[0]) == root && now - window < r.ts && r.ts <= now;
        };
        int64_t count_web = 0, flagged = 0;
        double sum_buy = 0, avg_sum = 0;
        int64_t avg_n = 0;
        std::optional<double> min2, max_mobile;
        const Raw* last = nullptr;
        std::set<std::string> distinct;
        for (const Raw& r : events) {
          if (r.dataset == "web") {
            if (in(r, 30 * kMinute)) ++count_web;
            if (r.price && r.type == "buy" && in(r, kHour)) sum_buy += *r.price;
            if (r.price && in(r, 2 * kHour)) min2 = std::min(min2.value_or(*r.price), *r.price);
            if (r.price && r.device == "mobile" && in(r, 2 * kHour)) {
              max_mobile = std::max(max_mobile.value_or(*r.price), *r.price);
            }
            if (r.price && in(r, kHour)) {
              avg_sum += *r.price;
              ++avg_n;
            }
            if (!r.sku_json.empty() && in(r, kHour) && (last == nullptr || r.ts >= last->ts))
              last = &r;
          } else {
            if (!r.sku_json.empty() && in(r, 3 * kHour)) distinct.insert(r.sku_canonical);
            if (r.type == "view" && r.flag && in(r, 10 * kMinute)) ++flagged;
          }
        }
        auto num = [](double v) {
          char buf[32];
          return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
        };
        auto opt = [&](std::optional<double> v) { return v ? num(*v) : std::string("null"); };
        std::string last_shown = "null";
        if (last != nullptr) {
          const std::string& s = last->sku_canonical;
          last_shown = s == "true"        ? "true"
                       : s.front() == '"' ? "'" + s.substr(1, s.size() - 2) + "'"
                                          : s;
        }
        const std::vector<std::string> expected = {
            num(static_cast<double>(count_web)),
            num(sum_buy),
            opt(min2),
            opt(max_mobile),
            avg_n ? num(avg_sum / static_cast<double>(avg_n)) : "null",
            last_shown,
            num(static_cast<double>(distinct.size())),
            num(static_cast<double>(flagged))};
        ASSERT_EQ(Values(store, "ns:" + std::to_string(who), now), expected)
            << "round " << round << " identity ns:" << who << " now=wall" << (now - wall);
      }
    }
  }
}

// -------------------------------------------------------- concurrency ---

// One writer applies events (with merges) while four readers look up; every
// snapshot a reader sees must be internally consistent and monotone.
TEST(Concurrency, ReadersSeeConsistentSnapshotsWhileTheWriterApplies) {
  FakeClock clock;
  ProfileStore store(Options(clock, /*cap=*/1'000'000));
  Define(store, "count", R"({"dataset":"web","function":"count","window":"1d"})");
  Define(store, "sum", R"({"dataset":"web","function":"sum","field":"one","window":"1d"})");
  Define(store, "distinct",
         R"({"dataset":"web","function":"distinct_count","field":"sku","window":"1d"})");
  Define(store, "last", R"({"dataset":"web","function":"last","field":"sku","window":"1d"})");
  constexpr int kIdentities = 2000;
  constexpr int kEvents = 20'000;
  std::vector<std::vector<int>> links(kEvents);
  std::mt19937 rng(7);
  for (auto& l : links) {  // about 800 links: many merges, no single giant person
    l.push_back(static_cast<int>(rng() % kIdentities));
    if (rng() % 25 == 0) l.push_back(static_cast<int>(rng() % kIdentities));
  }
  std::atomic<bool> done{false};
  std::atomic<int64_t> lookups{0};
  std::atomic<int64_t> lookups_during_writes{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 r(static_cast<unsigned>(t));
      std::vector<double> last_count(kIdentities, 0);
      const int indices[] = {0, 1, 2, 3};
      std::vector<Value> out(4);
      int64_t n = 0;
      while (!done.load(std::memory_order_acquire) || n < 1000) {
        const int who = static_cast<int>(r() % kIdentities);
        const std::string id = "ns:" + std::to_string(who);
        if (!done.load(std::memory_order_relaxed))
          lookups_during_writes.fetch_add(1, std::memory_order_relaxed);
        if (store.Lookup(id, indices, kT0, out)) {
          // A person is visible from its first identity's publication, just
          // before its first event lands: count 0 and last null then.
          const bool ok = out[0].number == out[1].number && out[2].number <= out[0].number &&
                          out[0].number >= last_count[who] &&
                          (out[0].number > 0) == (out[3].kind == Value::Kind::kString);
          if (!ok) failures.fetch_add(1);
          last_count[who] = out[0].number;
        }
        if (n % 64 == 0) {
          auto json = store.ProfileJson(id, kT0);
          if (!json.ok() && json.status().code() != StatusCode::kNotFound) failures.fetch_add(1);
          (void)store.PersonOf(id);
        }
        ++n;
      }
      lookups.fetch_add(n);
    });
  }
  simdjson::dom::parser parser;
  for (int i = 0; i < kEvents; ++i) {
    std::vector<std::string> ids;
    for (int who : links[static_cast<size_t>(i)]) ids.push_back("ns:" + std::to_string(who));
    const std::string json = R"({"one":1,"sku":"s)" + std::to_string(i % 37) + R"("})";
    simdjson::dom::element rec;
    ASSERT_EQ(parser.parse(simdjson::padded_string(json)).get(rec), simdjson::SUCCESS);
    store.ApplyEvent(EventView{"web", "e", kT0 - (i * 7919) % kHour, "view", ids, rec});
  }
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(lookups.load(), 4000);
  EXPECT_GT(lookups_during_writes.load(), 0);

  // Final state equals the recomputation.
  std::vector<int> parent(kIdentities);
  std::iota(parent.begin(), parent.end(), 0);
  std::function<int(int)> find = [&](int x) {
    return parent[x] == x ? x : parent[x] = find(parent[x]);
  };
  for (const auto& l : links) {
    for (int who : l) parent[find(who)] = find(l[0]);
  }
  std::map<int, int> events_of;
  for (const auto& l : links) ++events_of[find(l[0])];
  for (int who = 0; who < kIdentities; ++who) {
    if (!store.PersonOf("ns:" + std::to_string(who))) continue;
    EXPECT_EQ(One(store, "ns:" + std::to_string(who), "count", kT0),
              std::to_string(events_of[find(who)]));
  }
}

}  // namespace
}  // namespace rtml::data
