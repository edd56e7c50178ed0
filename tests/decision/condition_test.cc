// Tests of the condition language: evaluation tables for every operator and
// edge case, regex matching and its errors, every compile error message,
// segments and cycles, limits, exact numeric comparison, no allocation in
// Evaluate and concurrent evaluation of one Condition.
#include "decision/condition.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "alloc_counter.h"
#include "decision/condition_internal.h"
#include "decision/condition_regex.h"

namespace rtml::decision {
namespace {

using ::testing::ElementsAre;

// A parsed JSON document that stays valid as long as this object lives.
class Doc {
 public:
  explicit Doc(std::string_view json) {
    const auto error = parser_.parse(json.data(), json.size()).get(root_);
    EXPECT_EQ(error, simdjson::SUCCESS) << json;
  }
  const simdjson::dom::element* get() const { return &root_; }

 private:
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
};

constexpr char kProfile[] = R"({
  "country": "US", "age": 34, "ratio": 0.25, "neg": -5, "vip": true, "nothing": null,
  "big": 9007199254740993, "huge": 18446744073709551615, "name": "\u00c9mile",
  "tags": ["a", "b", 3], "empty": [], "nested": [[1, 2]],
  "address": {"city": "Paris", "zip": "75001", "geo": {"lat": 48.85}}})";
constexpr char kComputed[] = R"({"purchases_7d": 3, "spend_24h": 19.5})";
constexpr char kContext[] = R"({"page": "/checkout/step-2", "device": "mobile", "hour": 14,
  "q": "Hello World", "items": [{"sku": "x"}]})";
constexpr char kScore[] = R"({"churn": 0.82, "ltv": 120})";

// The four standard documents, parsed once.
const ConditionInput& StandardInput() {
  static const Doc* profile = new Doc(kProfile);  // test-only: lives for the process
  static const Doc* computed = new Doc(kComputed);
  static const Doc* context = new Doc(kContext);
  static const Doc* score = new Doc(kScore);
  static const ConditionInput input{profile->get(), computed->get(), context->get(), score->get()};
  return input;
}

Condition MustCompile(std::string_view json, const SegmentResolver& segments = nullptr) {
  StatusOr<Condition> c = Condition::Compile(json, segments);
  EXPECT_TRUE(c.ok()) << json << " -> " << c.status().ToString();
  return c.ok() ? *c : Condition();
}

std::string CompileError(std::string_view json, const SegmentResolver& segments = nullptr) {
  StatusOr<Condition> c = Condition::Compile(json, segments);
  if (c.ok()) return "(compiled)";
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << c.status().ToString();
  return c.status().message();
}

// ---------------------------------------------------------------------------
// Evaluation table: condition -> expected result on the standard documents.

struct EvalCase {
  const char* condition;
  bool expected;
};

void PrintTo(const EvalCase& c, std::ostream* os) { *os << c.condition; }

constexpr EvalCase kEvalCases[] = {
    // Empty and implicit $eq.
    {R"({})", true},
    {R"({"profile.country": "US"})", true},
    {R"({"profile.country": "us"})", false},  // bytewise
    {R"({"profile.age": 34})", true},
    {R"({"profile.age": 34.0})", true},  // int vs double
    {R"({"profile.age": "34"})", false},  // no coercion
    {R"({"profile.vip": true})", true},
    {R"({"profile.vip": 1})", false},
    {R"({"profile.nothing": null})", true},
    {R"({"profile.missing": null})", false},  // missing is not null
    {R"({"profile.country": null})", false},
    // Nested paths.
    {R"({"profile.address.city": "Paris"})", true},
    {R"({"profile.address.geo.lat": 48.85})", true},
    {R"({"profile.address.city.x": "Paris"})", false},  // through a string
    {R"({"profile.address": "Paris"})", false},          // an object is not a string
    {R"({"context.items.sku": "x"})", false},            // no traversal through arrays
    // Exact integers beyond 2^53 and uint64.
    {R"({"profile.big": 9007199254740993})", true},
    {R"({"profile.big": 9007199254740992})", false},
    {R"({"profile.big": 9007199254740992.0})", false},
    {R"({"profile.big": {"$gt": 9007199254740992.0}})", true},
    {R"({"profile.huge": 18446744073709551615})", true},
    {R"({"profile.huge": {"$gt": 9223372036854775807}})", true},
    {R"({"profile.huge": {"$lt": 1.8446744073709552e19}})", true},  // 2^64 as a double
    {R"({"profile.neg": {"$lt": 0}})", true},
    {R"({"profile.neg": {"$lt": 18446744073709551615}})", true},
    {R"({"profile.neg": {"$gt": -5.5}})", true},
    // $eq / $ne.
    {R"({"context.device": {"$eq": "mobile"}})", true},
    {R"({"context.device": {"$ne": "desktop"}})", true},
    {R"({"context.device": {"$ne": "mobile"}})", false},
    {R"({"context.missing": {"$ne": "x"}})", true},  // missing: $ne is true
    {R"({"context.missing": {"$eq": "x"}})", false},
    {R"({"profile.age": {"$ne": "34"}})", true},  // mismatch: not equal
    {R"({"profile.nothing": {"$ne": null}})", false},
    {R"({"profile.country": {"$ne": null}})", true},
    {R"({"profile.vip": {"$ne": false}})", true},
    // Ordering: numbers.
    {R"({"profile.age": {"$gt": 33}})", true},
    {R"({"profile.age": {"$gt": 34}})", false},
    {R"({"profile.age": {"$gte": 34}})", true},
    {R"({"profile.age": {"$lt": 34.5}})", true},
    {R"({"profile.age": {"$lt": 34}})", false},
    {R"({"profile.age": {"$lte": 34}})", true},
    {R"({"profile.ratio": {"$gt": 0.2}})", true},
    {R"({"score.churn": {"$gt": 0.7, "$lte": 0.9}})", true},
    {R"({"score.churn": {"$gt": 0.7, "$lt": 0.8}})", false},
    // Ordering: strings, bytewise.
    {R"({"profile.country": {"$gt": "UA"}})", true},
    {R"({"profile.country": {"$lt": "US"}})", false},
    {R"({"profile.country": {"$lte": "US"}})", true},
    {R"({"context.q": {"$lt": "hello"}})", true},  // 'H' < 'h'
    // Ordering: mismatches, missing and null are false.
    {R"({"profile.country": {"$gt": 1}})", false},
    {R"({"profile.age": {"$gt": "3"}})", false},
    {R"({"profile.vip": {"$gte": 0}})", false},
    {R"({"profile.nothing": {"$gte": 0}})", false},
    {R"({"profile.missing": {"$lt": 100}})", false},
    {R"({"profile.address": {"$gt": ""}})", false},
    // $in / $nin.
    {R"({"profile.country": {"$in": ["US", "CA"]}})", true},
    {R"({"profile.country": {"$in": ["FR"]}})", false},
    {R"({"profile.age": {"$in": [1, 34.0]}})", true},
    {R"({"profile.age": {"$in": ["34"]}})", false},
    {R"({"profile.vip": {"$in": [true]}})", true},
    {R"({"profile.vip": {"$in": [false, 1]}})", false},
    {R"({"profile.nothing": {"$in": [null]}})", true},
    {R"({"profile.missing": {"$in": [null]}})", false},
    {R"({"profile.big": {"$in": [9007199254740992, 9007199254740993]}})", true},
    {R"({"profile.huge": {"$in": [-1, 18446744073709551615]}})", true},
    {R"({"profile.country": {"$in": []}})", false},
    {R"({"profile.country": {"$nin": ["FR"]}})", true},
    {R"({"profile.country": {"$nin": ["US"]}})", false},
    {R"({"profile.missing": {"$nin": ["US"]}})", true},
    {R"({"profile.country": {"$nin": []}})", true},
    // $exists.
    {R"({"profile.country": {"$exists": true}})", true},
    {R"({"profile.nothing": {"$exists": true}})", true},  // null is present
    {R"({"profile.missing": {"$exists": false}})", true},
    {R"({"profile.missing": {"$exists": true}})", false},
    {R"({"profile.address.zip": {"$exists": true}})", true},
    {R"({"profile.address.zip.x": {"$exists": false}})", true},
    // Arrays: any element matches; $ne / $nin negate that.
    {R"({"profile.tags": "a"})", true},
    {R"({"profile.tags": 3})", true},
    {R"({"profile.tags": "z"})", false},
    {R"({"profile.tags": {"$ne": "a"}})", false},
    {R"({"profile.tags": {"$ne": "z"}})", true},
    {R"({"profile.tags": {"$in": ["z", "b"]}})", true},
    {R"({"profile.tags": {"$nin": ["b"]}})", false},
    {R"({"profile.tags": {"$nin": ["y", "z"]}})", true},
    {R"({"profile.tags": {"$gt": 2}})", true},
    {R"({"profile.tags": {"$gt": "a"}})", true},
    {R"({"profile.tags": {"$gt": "b"}})", false},
    {R"({"profile.tags": {"$regex": "^b$"}})", true},
    {R"({"profile.empty": {"$in": ["a"]}})", false},
    {R"({"profile.empty": {"$ne": "a"}})", true},
    {R"({"profile.empty": {"$exists": true}})", true},
    {R"({"profile.nested": 1})", false},  // nested arrays are not searched
    // $regex.
    {R"({"context.page": {"$regex": "^/checkout"}})", true},
    {R"({"context.page": {"$regex": "step-\\d$"}})", true},
    {R"({"context.page": {"$regex": "^/CHECKOUT"}})", false},
    {R"({"context.page": {"$regex": "^/CHECKOUT", "$options": "i"}})", true},
    {R"({"context.page": {"$regex": "^/CHECKOUT", "$options": ""}})", false},
    {R"({"profile.age": {"$regex": "3"}})", false},  // only strings match
    {R"({"profile.missing": {"$regex": ""}})", false},
    {R"({"profile.name": {"$regex": "^.mile$"}})", true},  // one code point
    {R"({"context.q": {"$regex": "\\bWorld\\b"}})", true},
    {R"({"context.q": {"$regex": "^(Hello|Bye) [A-Z][a-z]+$"}})", true},
    {R"({"context.q": {"$regex": "x{2,}"}})", false},
    // Field-level $not.
    {R"({"profile.age": {"$not": {"$gt": 40}}})", true},
    {R"({"profile.age": {"$not": {"$gt": 30}}})", false},
    {R"({"profile.missing": {"$not": {"$gt": 1}}})", true},
    {R"({"profile.country": {"$not": {"$in": ["US"]}}})", false},
    {R"({"profile.age": {"$not": {"$gte": 30, "$lte": 40}}})", false},
    {R"({"profile.age": {"$not": {"$gte": 30, "$lte": 33}}})", true},
    {R"({"context.page": {"$not": {"$regex": "^/home"}}})", true},
    {R"({"profile.age": {"$not": {"$not": {"$eq": 34}}}})", true},
    {R"({"profile.age": {"$gt": 30, "$not": {"$eq": 34}}})", false},
    // Logical operators.
    {R"({"$or": [{"profile.country": "FR"}, {"score.churn": {"$gt": 0.8}}]})", true},
    {R"({"$or": [{"profile.country": "FR"}, {"score.churn": {"$gt": 0.9}}]})", false},
    {R"({"$and": [{"profile.country": "US"}, {"score.ltv": {"$gte": 100}}]})", true},
    {R"({"$and": [{"profile.country": "US"}, {"score.ltv": {"$gte": 200}}]})", false},
    {R"({"$not": {"profile.country": "US"}})", false},
    {R"({"$not": {"profile.country": "FR"}})", true},
    {R"({"$not": {}})", false},
    {R"({"$and": [{}]})", true},
    {R"({"$or": [{}]})", true},
    {R"({"$or": [{"$and": [{"profile.age": {"$gt": 30}}, {"$not": {"context.device": "desktop"}}]},
                 {"profile.vip": false}]})",
     true},
    // Keys are AND-ed; all four roots.
    {R"({"profile.country": "US", "context.device": "desktop"})", false},
    {R"({"profile.country": {"$in": ["US", "CA"]}, "context.device": "mobile",
         "computed.purchases_7d": {"$gte": 2}, "score.churn": {"$gt": 0.7}})",
     true},
    {R"({"computed.spend_24h": {"$lt": 20}})", true},
    {R"({"score.ltv": 120, "$or": [{"context.hour": {"$lt": 6}}, {"context.hour": {"$gte": 12}}]})", true},
};

class EvalTableTest : public ::testing::TestWithParam<EvalCase> {};

TEST_P(EvalTableTest, MatchesExpected) {
  const EvalCase& c = GetParam();
  const Condition cond = MustCompile(c.condition);
  EXPECT_EQ(cond.Evaluate(StandardInput()), c.expected) << c.condition;
}

INSTANTIATE_TEST_SUITE_P(Conditions, EvalTableTest, ::testing::ValuesIn(kEvalCases));

// ---------------------------------------------------------------------------
// Compile errors: every message, exactly.

struct ErrorCase {
  const char* condition;
  const char* message;
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.condition; }

constexpr ErrorCase kErrorCases[] = {
    {R"([])", "a condition must be a JSON object"},
    {R"("x")", "a condition must be a JSON object"},
    {R"({"user.x": 1})", "path 'user.x' must start with profile., computed., context. or score."},
    {R"({"profile": 1})", "path 'profile' must start with profile., computed., context. or score."},
    {R"({"profiles.x": 1})", "path 'profiles.x' must start with profile., computed., context. or score."},
    {R"({"profile..x": 1})", "path 'profile..x' has an empty key"},
    {R"({"profile.x.": 1})", "path 'profile.x.' has an empty key"},
    {R"({"$foo": 1})", "unknown operator '$foo' (conditions combine with $and, $or, $not and $segment)"},
    {R"({"context.x": {"$foo": 1}})", "unknown operator '$foo' at context.x"},
    {R"({"context.x": {"$gt": 1, "$size": 2}})", "unknown operator '$size' at context.x"},
    {R"({"context.x": {}})", "context.x: empty operator object"},
    {R"({"context.x": {"$gt": 1, "y": 2}})",
     "context.x: expected an operator object (keys starting with '$'), found key 'y'"},
    {R"({"context.x": {"y": 2}})",
     "context.x: expected an operator object (keys starting with '$'), found key 'y'"},
    {R"({"context.x": [1, 2]})",
     "context.x: expected a string, number, boolean, null or an operator object"},
    {R"({"context.x": {"$eq": [1]}})", "context.x: $eq: expected a string, number, boolean or null"},
    {R"({"context.x": {"$ne": {"a": 1}}})", "context.x: $ne: expected a string, number, boolean or null"},
    {R"({"context.x": {"$gt": true}})", "context.x: $gt: expected a number or a string"},
    {R"({"context.x": {"$lte": null}})", "context.x: $lte: expected a number or a string"},
    {R"({"context.x": {"$lt": [1]}})", "context.x: $lt: expected a number or a string"},
    {R"({"context.x": {"$gte": 1e400}})", "condition is not valid JSON: number overflow parsing '1e400'"},
    {R"({"context.x": {"$in": "US"}})", "context.x: $in: expected an array"},
    {R"({"context.x": {"$nin": [[1]]}})",
     "context.x: $nin: entry 0 must be a string, number, boolean or null"},
    {R"({"context.x": {"$in": [1, {"a": 1}]}})",
     "context.x: $in: entry 1 must be a string, number, boolean or null"},
    {R"({"context.x": {"$exists": 1}})", "context.x: $exists: expected true or false"},
    {R"({"context.page": {"$regex": "(["}})", "context.page: $regex: invalid pattern '([': missing ']'"},
    {R"({"context.page": {"$regex": "(a"}})", "context.page: $regex: invalid pattern '(a': missing ')'"},
    {R"({"context.x": {"$regex": 5}})", "context.x: $regex: expected a string pattern"},
    {R"({"context.x": {"$options": "i"}})", "context.x: $options requires $regex"},
    {R"({"context.x": {"$regex": "a", "$options": "m"}})",
     "context.x: $options: unsupported flag 'm' (only 'i' is supported)"},
    {R"({"context.x": {"$regex": "a", "$options": 1}})", "context.x: $options: expected a string of flags"},
    {R"({"context.x": {"$not": 5}})", "context.x: $not: expected an operator object"},
    {R"({"context.x": {"$not": {"$foo": 5}}})", "unknown operator '$foo' at context.x"},
    {R"({"$and": []})", "$and: expected a non-empty array of conditions"},
    {R"({"$or": {}})", "$or: expected a non-empty array of conditions"},
    {R"({"$or": [{"context.x": 1}, 1]})", "$or[1] must be a JSON object"},
    {R"({"$not": []})", "$not: the operand must be a JSON object"},
    {R"({"$segment": 1})", "$segment: expected a segment name (a string)"},
    {R"({"$segment": "a"})", "$segment 'a': segments cannot be referenced here"},
    {R"({"context.x": 1, "context.x": 2})", "repeated key 'context.x'"},
    {R"({"context.x": {"$gt": 1, "$gt": 2}})", "repeated key '$gt'"},
};

class ErrorTableTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ErrorTableTest, ExactMessage) {
  EXPECT_EQ(CompileError(GetParam().condition), GetParam().message) << GetParam().condition;
}

INSTANTIATE_TEST_SUITE_P(Conditions, ErrorTableTest, ::testing::ValuesIn(kErrorCases));

TEST(ConditionCompile, InvalidJsonNamesTheParseError) {
  EXPECT_THAT(CompileError(R"({"profile.x": 1)"),
              ::testing::StartsWith("condition is not valid JSON: parse error"));
  EXPECT_THAT(CompileError(""), ::testing::StartsWith("condition is not valid JSON: parse error"));
}

// ---------------------------------------------------------------------------
// Regex: matching and pattern errors.

struct RegexCase {
  const char* pattern;
  bool ignore_case;
  std::string_view text;
  bool expected;
};

void PrintTo(const RegexCase& c, std::ostream* os) { *os << "/" << c.pattern << "/"; }

constexpr RegexCase kRegexCases[] = {
    {"", false, "", true},
    {"", false, "anything", true},
    {"^$", false, "", true},
    {"^$", false, "x", false},
    {"b", false, "abc", true},
    {"^b", false, "abc", false},
    {"c$", false, "abc", true},
    {"a|b", false, "xbx", true},
    {"colou?r", false, "color", true},
    {"colou?r", false, "colour", true},
    {"colou?r", false, "colouur", false},
    {"^a{2,3}$", false, "aa", true},
    {"^a{2,3}$", false, "aaaa", false},
    {"^a{2}$", false, "aa", true},
    {"^a{2,}$", false, "aaaaa", true},
    {"^a{2,}$", false, "a", false},
    {"[^0-9]", false, "123", false},
    {"[^0-9]", false, "12a", true},
    {"^[a-c]+$", false, "abcab", true},
    {"^[a-c]+$", false, "abd", false},
    {"\\.", false, "a.b", true},
    {"\\.", false, "ab", false},
    {"a.c", false, "abc", true},
    {"a.c", false, "a\nc", false},
    {"[\\s\\S]", false, "\n", true},
    {"\\d+", false, "abc123", true},
    {"^\\D+$", false, "abc", true},
    {"^\\w+$", false, "ab_9", true},
    {"^\\W$", false, "-", true},
    {"\\s", false, "a b", true},
    {"^\\S+$", false, "a b", false},
    {"[-a]", false, "-", true},
    {"[a-]", false, "-", true},
    {"[\\]]", false, "]", true},
    {"[]", false, "a", false},
    {"[^]", false, "a", true},
    {"^(?:ab)+$", false, "ababab", true},
    {"^(?:ab)+$", false, "ababa", false},
    {"^a+?b$", false, "aaab", true},
    {"\\bfoo\\b", false, "a foo b", true},
    {"\\bfoo\\b", false, "afoob", false},
    {"\\Bfoo", false, "afoo", true},
    {"a{b", false, "a{b", true},
    {"a{,2}", false, "a{,2}", true},
    {"}", false, "}", true},
    {"\\x41\\u00e9", false, "A\xc3\xa9", true},
    {"\\t", false, "a\tb", true},
    {"\\/", false, "a/b", true},
    {"\xc3\xa9", false, "caf\xc3\xa9", true},  // é
    {"^.$", false, "\xc3\xa9", true},
    {"^..$", false, "\xc3\xa9", false},
    {"^[\xc3\xa0-\xc3\xbf]$", false, "\xc3\xa9", true},  // [à-ÿ]
    {"^.$", false, "\xff", true},                          // an invalid byte is one "character"
    {"^[a-z]$", false, "\xff", false},
    {"^[^a-z]$", false, "\xff", true},
    {"HELLO", true, "say hello", true},
    {"HELLO", false, "say hello", false},
    {"^[A-Z]+$", true, "abc", true},
    {"^[^a-z]+$", true, "ABC", false},
    {"^(a*)*$", false, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", false},
    {"(x+x+)+y", false, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", false},
    {"^(a|ab)(c|bcd)(d*)$", false, "abcd", true},
};

class RegexTableTest : public ::testing::TestWithParam<RegexCase> {};

TEST_P(RegexTableTest, Search) {
  const RegexCase& c = GetParam();
  StatusOr<ConditionRegex> re = ConditionRegex::Compile(c.pattern, c.ignore_case);
  ASSERT_TRUE(re.ok()) << c.pattern << ": " << re.status().ToString();
  EXPECT_EQ(re->Search(c.text), c.expected) << "/" << c.pattern << "/ on '" << c.text << "'";
}

INSTANTIATE_TEST_SUITE_P(Conditions, RegexTableTest, ::testing::ValuesIn(kRegexCases));

struct RegexErrorCase {
  std::string pattern;
  std::string reason;
};

std::vector<RegexErrorCase> RegexErrorCases() {
  return {
      {"(", "missing ')'"},
      {")", "unmatched ')'"},
      {"a)", "unmatched ')'"},
      {"*a", "nothing to repeat before '*'"},
      {"a**", "nothing to repeat before '*'"},
      {"+", "nothing to repeat before '+'"},
      {"{2}", "nothing to repeat before '{'"},
      {"[a", "missing ']'"},
      {"[z-a]", "range out of order in character class"},
      {"[\\d-z]", "invalid character class range"},
      {"a{3,2}", "numbers out of order in {} quantifier"},
      {"a{1001}", "repetition count above 1000"},
      {"a{99999999999999999999}", "repetition count above 1000"},
      {"(a)\\1", "backreferences are not supported"},
      {"(?=a)", "lookaround and named groups '(?' are not supported"},
      {"\\p{L}", "unsupported escape '\\p'"},
      {"a\\", "pattern ends with '\\'"},
      {"\\xZZ", "invalid hex escape"},
      {"\\u12", "incomplete hex escape"},
      {"[\\B]", "unsupported escape '\\B' in a character class"},
      {"(abc){400}",
       "pattern too large: more than 1024 instructions once repetitions are expanded"},
      {std::string(33, '(') + std::string(33, ')'), "groups nest deeper than 32"},
  };
}

TEST(ConditionRegex, PatternErrors) {
  for (const RegexErrorCase& c : RegexErrorCases()) {
    StatusOr<ConditionRegex> re = ConditionRegex::Compile(c.pattern, false);
    ASSERT_FALSE(re.ok()) << c.pattern;
    EXPECT_EQ(re.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(re.status().message(), c.reason) << c.pattern;
  }
  // The boundaries themselves compile.
  EXPECT_TRUE(ConditionRegex::Compile("a{1000}", false).ok());
  EXPECT_TRUE(ConditionRegex::Compile(std::string(32, '(') + std::string(32, ')'), false).ok());
}

TEST(ConditionRegex, LongInputsRunInLinearTimeWithoutRecursion) {
  // std::regex overflows the stack on inputs like this; the Pike VM does not.
  const std::string text(200'000, 'a');
  StatusOr<ConditionRegex> star = ConditionRegex::Compile("^(a|b)*$", false);
  ASSERT_TRUE(star.ok());
  EXPECT_TRUE(star->Search(text));
  StatusOr<ConditionRegex> evil = ConditionRegex::Compile("(a*)*(a+)+c", false);
  ASSERT_TRUE(evil.ok());
  EXPECT_FALSE(evil->Search(text));
}

TEST(ConditionRegex, ErrorsNameThePathAndPattern) {
  EXPECT_EQ(CompileError(R"({"context.q": {"$regex": "a{5,1}", "$options": "i"}})"),
            "context.q: $regex: invalid pattern 'a{5,1}': numbers out of order in {} quantifier");
}

// ---------------------------------------------------------------------------
// Exact numeric comparison.

TEST(ConditionNumbers, CompareAcrossKinds) {
  using internal::CompareNumbers;
  using internal::kUnordered;
  using internal::Number;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  const uint64_t kMaxU = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(CompareNumbers(Number::Int(1), Number::Double(1.0)), 0);
  EXPECT_EQ(CompareNumbers(Number::Int(1), Number::Double(1.5)), -1);
  EXPECT_EQ(CompareNumbers(Number::Int(-1), Number::Double(-1.5)), 1);
  EXPECT_EQ(CompareNumbers(Number::Int(-2), Number::Double(-1.5)), -1);
  EXPECT_EQ(CompareNumbers(Number::Double(-1.5), Number::Int(-2)), 1);
  EXPECT_EQ(CompareNumbers(Number::Int((int64_t{1} << 53) + 1), Number::Double(9007199254740992.0)), 1);
  EXPECT_EQ(CompareNumbers(Number::Int(kMin), Number::Double(-9223372036854775808.0)), 0);
  EXPECT_EQ(CompareNumbers(Number::Int(kMin), Number::Double(-1e19)), 1);
  EXPECT_EQ(CompareNumbers(Number::Int(std::numeric_limits<int64_t>::max()), Number::Double(9.3e18)), -1);
  EXPECT_EQ(CompareNumbers(Number::Uint(kMaxU), Number::Double(1.8446744073709552e19)), -1);
  EXPECT_EQ(CompareNumbers(Number::Uint(kMaxU), Number::Int(-1)), 1);
  EXPECT_EQ(CompareNumbers(Number::Int(-1), Number::Uint(0)), -1);
  EXPECT_EQ(CompareNumbers(Number::Int(5), Number::Uint(5)), 0);
  EXPECT_EQ(CompareNumbers(Number::Uint(3), Number::Double(-0.5)), 1);
  EXPECT_EQ(CompareNumbers(Number::Double(0.1), Number::Double(0.2)), -1);
  EXPECT_EQ(CompareNumbers(Number::Double(-0.0), Number::Int(0)), 0);
  EXPECT_EQ(CompareNumbers(Number::Double(nan), Number::Double(nan)), kUnordered);
  EXPECT_EQ(CompareNumbers(Number::Int(1), Number::Double(nan)), kUnordered);
  EXPECT_EQ(CompareNumbers(Number::Double(nan), Number::Uint(1)), kUnordered);
}

TEST(ConditionNumbers, NanCannotReachAConditionThroughJson) {
  // Inputs are simdjson documents and JSON has no NaN or Infinity: the parser
  // refuses them, so a context number is always ordered (CompareNumbers
  // still treats NaN as unordered, see above).
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  EXPECT_NE(parser.parse(std::string_view(R"({"x": NaN})")).get(e), simdjson::SUCCESS);
  EXPECT_NE(parser.parse(std::string_view(R"({"x": Infinity})")).get(e), simdjson::SUCCESS);
}

// ---------------------------------------------------------------------------
// Roots, paths and the empty condition.

TEST(ConditionEvaluate, AbsentRootsMakeEveryPathMissing) {
  Doc profile(kProfile);
  ConditionInput only_profile;
  only_profile.profile = profile.get();
  EXPECT_FALSE(MustCompile(R"({"score.churn": {"$gt": 0.5}})").Evaluate(only_profile));
  EXPECT_TRUE(MustCompile(R"({"score.churn": {"$exists": false}})").Evaluate(only_profile));
  EXPECT_TRUE(MustCompile(R"({"score.churn": {"$ne": 1}})").Evaluate(only_profile));
  EXPECT_TRUE(MustCompile(R"({"context.x": {"$nin": [1]}})").Evaluate(only_profile));
  EXPECT_TRUE(MustCompile(R"({"profile.country": "US"})").Evaluate(only_profile));
  EXPECT_FALSE(MustCompile(R"({"profile.country": "US"})").Evaluate(ConditionInput{}));
  EXPECT_TRUE(MustCompile(R"({})").Evaluate(ConditionInput{}));
}

TEST(ConditionEvaluate, NonObjectRootHasNoPaths) {
  Doc text(R"("just a string")");
  ConditionInput in;
  in.context = text.get();
  EXPECT_FALSE(MustCompile(R"({"context.a": "just a string"})").Evaluate(in));
  EXPECT_TRUE(MustCompile(R"({"context.a": {"$exists": false}})").Evaluate(in));
}

TEST(ConditionPaths, DistinctSortedAndRoots) {
  const Condition c = MustCompile(
      R"({"score.churn": {"$gt": 0.7}, "profile.country": "US",
          "$or": [{"profile.country": "CA"}, {"$not": {"context.device": "tv"}}],
          "profile.address.city": {"$not": {"$eq": "x"}}})");
  EXPECT_THAT(c.paths(), ElementsAre("context.device", "profile.address.city", "profile.country",
                                     "score.churn"));
  EXPECT_TRUE(c.reads(Root::kProfile));
  EXPECT_TRUE(c.reads(Root::kContext));
  EXPECT_TRUE(c.reads(Root::kScore));
  EXPECT_FALSE(c.reads(Root::kComputed));
  EXPECT_TRUE(c.segments().empty());
  EXPECT_FALSE(c.matches_everything());
}

TEST(ConditionPaths, EmptyCondition) {
  const Condition empty;
  EXPECT_TRUE(empty.Evaluate(StandardInput()));
  EXPECT_TRUE(empty.Evaluate(ConditionInput{}));
  EXPECT_TRUE(empty.paths().empty());
  EXPECT_TRUE(empty.matches_everything());
  EXPECT_TRUE(MustCompile("{}").matches_everything());
  EXPECT_TRUE(MustCompile(" { } ").paths().empty());
  for (Root r : {Root::kProfile, Root::kComputed, Root::kContext, Root::kScore}) {
    EXPECT_FALSE(empty.reads(r)) << RootName(r);
  }
}

TEST(ConditionPaths, CopiesShareTheCompiledForm) {
  Condition a = MustCompile(R"({"profile.country": "US"})");
  Condition b = a;
  Condition c = std::move(a);  // copies: `a` stays usable
  EXPECT_TRUE(a.Evaluate(StandardInput()));  // NOLINT(bugprone-use-after-move): documented
  EXPECT_TRUE(b.Evaluate(StandardInput()));
  EXPECT_TRUE(c.Evaluate(StandardInput()));
  EXPECT_EQ(&b.paths(), &c.paths());
}

// ---------------------------------------------------------------------------
// Segments.

SegmentResolver Segments(std::map<std::string, std::string> texts) {
  return [texts = std::move(texts)](std::string_view name) -> StatusOr<std::string> {
    const auto it = texts.find(std::string(name));
    if (it == texts.end()) return NotFoundError("no segment " + std::string(name));
    return it->second;
  };
}

const SegmentResolver& TestSegments() {
  static const SegmentResolver* resolver = new SegmentResolver(Segments({
      {"us", R"({"profile.country": "US"})"},
      {"engaged", R"({"$segment": "us", "computed.purchases_7d": {"$gte": 1}})"},
      {"churny", R"({"score.churn": {"$gt": 0.9}})"},
      {"loop_a", R"({"$segment": "loop_b"})"},
      {"loop_b", R"({"context.x": 1, "$or": [{"$segment": "loop_a"}]})"},
      {"self", R"({"$segment": "self"})"},
      {"via_loop", R"({"$segment": "loop_a"})"},
      {"bad", R"({"context.x": {"$foo": 1}})"},
      {"broken", R"({"context.x": )"},
      {"uses_bad", R"({"$not": {"$segment": "bad"}})"},
  }));
  return *resolver;
}

TEST(ConditionSegments, InlinedAndEvaluated) {
  const Condition c = MustCompile(R"({"$segment": "engaged"})", TestSegments());
  EXPECT_TRUE(c.Evaluate(StandardInput()));
  EXPECT_THAT(c.segments(), ElementsAre("engaged", "us"));
  EXPECT_THAT(c.paths(), ElementsAre("computed.purchases_7d", "profile.country"));
  EXPECT_FALSE(MustCompile(R"({"$segment": "churny"})", TestSegments()).Evaluate(StandardInput()));
  EXPECT_TRUE(MustCompile(R"({"$not": {"$segment": "churny"}})", TestSegments())
                  .Evaluate(StandardInput()));
  EXPECT_TRUE(MustCompile(R"({"$or": [{"$segment": "churny"}, {"$segment": "us"}]})", TestSegments())
                  .Evaluate(StandardInput()));
}

TEST(ConditionSegments, RepeatedReferenceIsNotACycle) {
  const Condition c = MustCompile(
      R"({"$and": [{"$segment": "us"}, {"$segment": "engaged"}], "$segment": "us"})", TestSegments());
  EXPECT_TRUE(c.Evaluate(StandardInput()));
  EXPECT_THAT(c.segments(), ElementsAre("engaged", "us"));
}

TEST(ConditionSegments, Errors) {
  const SegmentResolver& s = TestSegments();
  EXPECT_EQ(CompileError(R"({"$segment": "loop_a"})", s),
            "segment cycle: 'loop_a' -> 'loop_b' -> 'loop_a'");
  EXPECT_EQ(CompileError(R"({"$segment": "via_loop"})", s),
            "segment cycle: 'loop_a' -> 'loop_b' -> 'loop_a'");
  EXPECT_EQ(CompileError(R"({"$segment": "self"})", s), "segment cycle: 'self' -> 'self'");
  EXPECT_EQ(CompileError(R"({"$segment": "nope"})", s), "unknown segment 'nope'");
  EXPECT_EQ(CompileError(R"({"$segment": "bad"})", s),
            "segment 'bad': unknown operator '$foo' at context.x");
  EXPECT_EQ(CompileError(R"({"$segment": "uses_bad"})", s),
            "segment 'uses_bad' -> 'bad': unknown operator '$foo' at context.x");
  EXPECT_THAT(CompileError(R"({"$segment": "broken"})", s),
              ::testing::StartsWith("segment 'broken': condition is not valid JSON: parse error"));
}

TEST(ConditionSegments, ResolverFailureKeepsItsCode) {
  SegmentResolver failing = [](std::string_view) -> StatusOr<std::string> {
    return UnavailableError("catalog is loading");
  };
  StatusOr<Condition> c = Condition::Compile(R"({"$segment": "x"})", failing);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(c.status().message(), "$segment 'x': catalog is loading");
}

// ---------------------------------------------------------------------------
// Limits.

std::string NestedNots(int count, std::string_view inner) {
  std::string s;
  for (int i = 0; i < count; ++i) s += R"({"$not": )";
  s += inner;
  s += std::string(static_cast<size_t>(count), '}');
  return s;
}

TEST(ConditionLimits, NestingDepth) {
  // k nested $not put the innermost object at depth k + 1.
  EXPECT_TRUE(Condition::Compile(NestedNots(31, "{}")).ok());
  EXPECT_EQ(CompileError(NestedNots(32, "{}")), "condition nests deeper than 32 levels");
  EXPECT_EQ(CompileError(NestedNots(5000, "{}")), "condition nests deeper than 32 levels");
  EXPECT_EQ(CompileError(std::string(1'000'000, '[') + std::string(1'000'000, ']')),
            "condition nests deeper than 32 levels");
  EXPECT_EQ(CompileError(R"({"context.x": {"$in": )" + std::string(40, '[') +
                         std::string(40, ']') + "}}"),
            "condition nests deeper than 32 levels");
  // Segments count towards the depth of the place they are inlined.
  const SegmentResolver deep = Segments({{"deep", NestedNots(20, "{}")}});
  EXPECT_TRUE(Condition::Compile(NestedNots(10, R"({"$segment": "deep"})"), deep).ok());
  EXPECT_EQ(CompileError(NestedNots(12, R"({"$segment": "deep"})"), deep),
            "segment 'deep': condition nests deeper than 32 levels");
}

std::string OrOfFields(int count) {
  std::string s = R"({"$or": [)";
  for (int i = 0; i < count; ++i) {
    s += (i ? "," : "") + std::string(R"({"context.x": )") + std::to_string(i) + "}";
  }
  return s + "]}";
}

TEST(ConditionLimits, OperatorNodes) {
  EXPECT_TRUE(Condition::Compile(OrOfFields(999)).ok());  // 1 $or + 999 fields
  EXPECT_EQ(CompileError(OrOfFields(1000)), "condition has more than 1000 operator nodes");
}

std::string InOf(int count, bool strings) {
  std::string s = R"({"context.x": {"$in": [)";
  for (int i = 0; i < count; ++i) {
    s += (i ? "," : "") + (strings ? "\"v" + std::to_string(i) + "\"" : std::to_string(i * 3));
  }
  return s + "]}}";
}

TEST(ConditionLimits, LargeInLists) {
  EXPECT_EQ(CompileError(InOf(10'001, true)), "context.x: $in: 10001 entries exceed the limit of 10000");
  const Condition strings = MustCompile(InOf(10'000, true));
  const Condition numbers = MustCompile(InOf(10'000, false));
  for (const auto& [json, in_strings, in_numbers] :
       std::vector<std::tuple<std::string, bool, bool>>{{R"({"x": "v0"})", true, false},
                                                        {R"({"x": "v9999"})", true, false},
                                                        {R"({"x": "v10000"})", false, false},
                                                        {R"({"x": 29997})", false, true},
                                                        {R"({"x": 29997.0})", false, true},
                                                        {R"({"x": 29998})", false, false},
                                                        {R"({"x": ["q", 0]})", false, true}}) {
    Doc context(json);
    ConditionInput in;
    in.context = context.get();
    EXPECT_EQ(strings.Evaluate(in), in_strings) << json;
    EXPECT_EQ(numbers.Evaluate(in), in_numbers) << json;
  }
}

TEST(ConditionLimits, DocumentSize) {
  const std::string huge = R"({"context.x": ")" + std::string(kMaxConditionBytes, 'a') + "\"}";
  EXPECT_EQ(CompileError(huge), "condition is " + std::to_string(huge.size()) +
                                    " bytes, more than the limit of 4194304");
}

// ---------------------------------------------------------------------------
// No allocation and thread safety.

// Uses every operator, the regex matcher, arrays, nested paths and $in lists.
constexpr char kEveryOperator[] = R"({
  "profile.country": {"$in": ["US", "CA"], "$nin": ["FR"], "$ne": "DE", "$exists": true},
  "profile.age": {"$gte": 18, "$lt": 99.5, "$not": {"$eq": 50}},
  "profile.address.city": {"$regex": "^pa", "$options": "i"},
  "profile.tags": {"$gt": "a", "$lte": 3},
  "score.churn": {"$gt": 0.7},
  "computed.purchases_7d": 3,
  "context.missing": {"$exists": false},
  "$or": [{"context.device": "desktop"}, {"context.page": {"$regex": "step-[0-9]+$"}}],
  "$and": [{"profile.vip": true}, {"profile.nothing": null}],
  "$not": {"context.hour": {"$in": [1, 2, 3]}}})";

TEST(ConditionEvaluate, DoesNotAllocate) {
  if (!testing::AllocCounterAvailable()) GTEST_SKIP() << "allocation counter not linked (sanitizer build)";
  const Condition c = MustCompile(kEveryOperator);
  const ConditionInput& in = StandardInput();
  ASSERT_TRUE(c.Evaluate(in));  // warm up; also checks the conjunction holds
  testing::StartCountingAllocs();
  bool all = true;
  for (int i = 0; i < 100; ++i) all = c.Evaluate(in) && all;
  const int64_t allocations = testing::StopCountingAllocs();
  EXPECT_TRUE(all);
  EXPECT_EQ(allocations, 0);

  // Every table condition, too (compiled outside the counted region).
  std::vector<Condition> table;
  for (const EvalCase& ec : kEvalCases) table.push_back(MustCompile(ec.condition));
  testing::StartCountingAllocs();
  int matches = 0;
  for (const Condition& t : table) matches += t.Evaluate(in) ? 1 : 0;
  EXPECT_EQ(testing::StopCountingAllocs(), 0);
  EXPECT_GT(matches, 0);
}

TEST(ConditionEvaluate, ManyThreadsShareOneCondition) {
  const Condition c = MustCompile(
      R"({"context.user": {"$regex": "^u[0-9]*7$"}, "context.n": {"$in": [1, 3, 5, 7, 9]}})");
  constexpr int kThreads = 8;
  constexpr int kDocs = 200;
  // Pre-parse the documents; expected: user ends in 7 and n odd <= 9.
  std::vector<std::unique_ptr<Doc>> docs;
  std::vector<bool> expected;
  for (int i = 0; i < kDocs; ++i) {
    docs.push_back(std::make_unique<Doc>(R"({"user": "u)" + std::to_string(i) + R"(", "n": )" +
                                         std::to_string(i % 12) + "}"));
    expected.push_back(i % 10 == 7 && (i % 12) % 2 == 1 && i % 12 <= 9);
  }
  std::atomic<int> mismatches{0};
  std::atomic<int> matches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 200; ++round) {
        for (int i = 0; i < kDocs; ++i) {
          const int d = (i + t * 13) % kDocs;
          ConditionInput in;
          in.context = docs[d]->get();
          const bool got = c.Evaluate(in);
          if (got != expected[d]) mismatches.fetch_add(1);
          if (got) matches.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
  const int per_round = static_cast<int>(std::count(expected.begin(), expected.end(), true));
  EXPECT_GT(per_round, 0);
  EXPECT_EQ(matches.load(), per_round * kThreads * 200);
}

}  // namespace
}  // namespace rtml::decision
