// Tests of src/data/schema.h: definitions, record validation (exact pointers
// and messages), class rules, limits, evolution, columns and canonical JSON.
#include "data/schema.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rtml::data {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

const int64_t kNow = *ParseDateTimeMillis("2026-06-01T12:00:00Z");

std::shared_ptr<const Schema> MustParse(std::string_view json) {
  auto schema = Schema::Parse("test", json);
  EXPECT_TRUE(schema.ok()) << schema.status().ToString() << "\n" << json;
  return schema.ok() ? *schema : nullptr;
}

std::string ParseError(std::string_view json) {
  auto schema = Schema::Parse("test", json);
  if (schema.ok()) return "<parsed>";
  EXPECT_EQ(schema.status().code(), StatusCode::kInvalidArgument);
  return schema.status().message();
}

// Validates `record` and returns the error messages (empty when valid); also
// checks that the boolean result agrees with them.
std::vector<std::string> Errors(const Schema& schema, std::string_view record,
                                int64_t now_ms = kNow, size_t max_errors = 10) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  auto err = parser.parse(record.data(), record.size()).get(doc);
  EXPECT_FALSE(err) << "test record is not JSON: " << record;
  if (err) return {"<bad test JSON>"};
  std::vector<std::string> errors;
  const bool ok = schema.Validate(doc, now_ms, &errors, max_errors);
  EXPECT_EQ(ok, errors.empty()) << record;
  return errors;
}

// A one-field adhoc schema {"v": def} and the record {"v": value}.
struct FieldCase {
  const char* def;
  const char* value;
  const char* error;  // "" when the value is valid
};

void RunFieldCases(const std::vector<FieldCase>& cases) {
  for (const FieldCase& c : cases) {
    SCOPED_TRACE(std::string("def ") + c.def + "  value " + c.value);
    auto schema = MustParse(std::string(R"({"class":"adhoc","properties":{"v":)") + c.def + "}}");
    if (!schema) continue;
    const auto errors = Errors(*schema, std::string(R"({"v":)") + c.value + "}");
    if (*c.error == '\0') {
      EXPECT_THAT(errors, IsEmpty());
    } else {
      EXPECT_THAT(errors, ElementsAre(c.error));
    }
  }
}

// ---------------------------------------------------------------------------
// Types and constraints

TEST(SchemaTypes, String) {
  RunFieldCases({
      {R"({"type":"string"})", R"("abc")", ""},
      {R"({"type":"string"})", R"("")", ""},
      {R"({"type":"string"})", "5", "/v: expected string, got number"},
      {R"({"type":"string"})", "true", "/v: expected string, got boolean"},
      {R"({"type":"string"})", "[]", "/v: expected string, got array"},
      {R"({"type":"string"})", "{}", "/v: expected string, got object"},
      {R"({"type":"string"})", "null", "/v: null is not allowed; omit the field instead"},
  });
}

TEST(SchemaTypes, StringLengthCountsCodePoints) {
  RunFieldCases({
      {R"({"type":"string","minLength":3})", R"("abc")", ""},
      {R"({"type":"string","minLength":3})", R"("ab")",
       "/v: string has 2 characters, fewer than minLength 3"},
      {R"({"type":"string","maxLength":3})", R"("abcd")",
       "/v: string has 4 characters, more than maxLength 3"},
      // 3 code points in 8 bytes.
      {R"({"type":"string","maxLength":3})", R"("é日本")", ""},
      {R"({"type":"string","minLength":4})", R"("é日本")",
       "/v: string has 3 characters, fewer than minLength 4"},
      // Characters outside the BMP count once (4 bytes, or a surrogate pair when escaped).
      {R"({"type":"string","maxLength":2})", R"("😀😀")", ""},
      {R"({"type":"string","maxLength":1})", R"("\ud83d\ude00")", ""},
      {R"({"type":"string","maxLength":1})", R"("😀😀")",
       "/v: string has 2 characters, more than maxLength 1"},
      {R"({"type":"string","minLength":0,"maxLength":0})", R"("")", ""},
  });
}

TEST(SchemaTypes, StringPatternUsesSearchSemantics) {
  RunFieldCases({
      {R"({"type":"string","pattern":"^[A-Z]{2}-[0-9]+$"})", R"("AB-12")", ""},
      {R"({"type":"string","pattern":"^[A-Z]{2}-[0-9]+$"})", R"("ab-12")",
       "/v: 'ab-12' does not match pattern '^[A-Z]{2}-[0-9]+$'"},
      {R"({"type":"string","pattern":"^[A-Z]{2}-[0-9]+$"})", R"("AB-12x")",
       "/v: 'AB-12x' does not match pattern '^[A-Z]{2}-[0-9]+$'"},
      // Unanchored patterns match anywhere, as in JSON Schema.
      {R"({"type":"string","pattern":"[0-9]"})", R"("abc1def")", ""},
      {R"({"type":"string","pattern":"[0-9]"})", R"("abcdef")",
       "/v: 'abcdef' does not match pattern '[0-9]'"},
      {R"({"type":"string","pattern":"a|^b"})", R"("xxa")", ""},
      {R"({"type":"string","pattern":"a|^b"})", R"("xxb")",
       "/v: 'xxb' does not match pattern 'a|^b'"},
      {R"({"type":"string","pattern":"^\\d{3}$"})", R"("123")", ""},
      {R"({"type":"string","pattern":"^(?:ab)+$","maxLength":4})", R"("ababab")",
       "/v: string has 6 characters, more than maxLength 4"},
  });
}

TEST(SchemaTypes, StringFormats) {
  RunFieldCases({
      {R"({"type":"string","format":"email"})", R"("first.last+tag@mail.example.com")", ""},
      {R"({"type":"string","format":"email"})", R"("a@b")", "/v: 'a@b' is not a valid email"},
      {R"({"type":"string","format":"email"})", R"("a..b@example.com")",
       "/v: 'a..b@example.com' is not a valid email"},
      {R"({"type":"string","format":"email"})", R"("@example.com")",
       "/v: '@example.com' is not a valid email"},
      {R"({"type":"string","format":"email"})", R"("a b@example.com")",
       "/v: 'a b@example.com' is not a valid email"},
      {R"({"type":"string","format":"email"})", R"("a@-x.com")",
       "/v: 'a@-x.com' is not a valid email"},
      {R"({"type":"string","format":"uri"})", R"("https://example.com/a/b?q=1&r=%20#frag")", ""},
      {R"({"type":"string","format":"uri"})", R"("urn:isbn:0451450523")", ""},
      {R"({"type":"string","format":"uri"})", R"("example.com/path")",
       "/v: 'example.com/path' is not a valid uri"},
      {R"({"type":"string","format":"uri"})", R"("http://a b")",
       "/v: 'http://a b' is not a valid uri"},
      {R"({"type":"string","format":"uri"})", R"("http://x/%zz")",
       "/v: 'http://x/%zz' is not a valid uri"},
      {R"({"type":"string","format":"uri"})", R"("1http://x")",
       "/v: '1http://x' is not a valid uri"},
      {R"({"type":"string","format":"uuid"})", R"("123e4567-e89b-12d3-a456-426614174000")", ""},
      {R"({"type":"string","format":"uuid"})", R"("123E4567-E89B-12D3-A456-426614174000")", ""},
      {R"({"type":"string","format":"uuid"})", R"("123e4567e89b12d3a456426614174000")",
       "/v: '123e4567e89b12d3a456426614174000' is not a valid uuid"},
      {R"({"type":"string","format":"uuid"})", R"("123e4567-e89b-12d3-a456-42661417400g")",
       "/v: '123e4567-e89b-12d3-a456-42661417400g' is not a valid uuid"},
      {R"({"type":"string","format":"ipv4"})", R"("192.168.0.1")", ""},
      {R"({"type":"string","format":"ipv4"})", R"("0.0.0.0")", ""},
      {R"({"type":"string","format":"ipv4"})", R"("256.1.1.1")",
       "/v: '256.1.1.1' is not a valid ipv4"},
      {R"({"type":"string","format":"ipv4"})", R"("01.2.3.4")",
       "/v: '01.2.3.4' is not a valid ipv4"},
      {R"({"type":"string","format":"ipv4"})", R"("1.2.3")", "/v: '1.2.3' is not a valid ipv4"},
      {R"({"type":"string","format":"ipv4"})", R"("1.2.3.4.")",
       "/v: '1.2.3.4.' is not a valid ipv4"},
      {R"({"type":"string","format":"date"})", R"("2024-02-29")", ""},
      {R"({"type":"string","format":"date"})", R"("2023-02-29")",
       "/v: '2023-02-29' is not a valid date (YYYY-MM-DD)"},
      {R"({"type":"string","format":"date-time"})", R"("2026-12-04T10:00:00Z")", ""},
      {R"({"type":"string","format":"date-time"})", R"("2026-12-04")",
       "/v: '2026-12-04' is not a valid RFC 3339 date-time"},
  });
}

TEST(SchemaTypes, IntegerIs32Bit) {
  RunFieldCases({
      {R"({"type":"integer"})", "5", ""},
      {R"({"type":"integer"})", "-5", ""},
      {R"({"type":"integer"})", "2147483647", ""},
      {R"({"type":"integer"})", "-2147483648", ""},
      {R"({"type":"integer"})", "2147483648",
       "/v: 2147483648 is out of range for integer (32-bit)"},
      {R"({"type":"integer"})", "-2147483649",
       "/v: -2147483649 is out of range for integer (32-bit)"},
      {R"({"type":"integer"})", "3000000000",
       "/v: 3000000000 is out of range for integer (32-bit)"},
      {R"({"type":"integer"})", "18446744073709551615",
       "/v: 18446744073709551615 is out of range for integer (32-bit)"},
      {R"({"type":"integer"})", "1e10", "/v: 1e+10 is out of range for integer (32-bit)"},
      {R"({"type":"integer"})", "3.0", ""},
      {R"({"type":"integer"})", "1.5", "/v: expected integer, got 1.5"},
      {R"({"type":"integer"})", "-0.25", "/v: expected integer, got -0.25"},
      {R"({"type":"integer"})", R"("5")", "/v: expected integer, got string"},
      {R"({"type":"integer"})", "true", "/v: expected integer, got boolean"},
  });
}

TEST(SchemaTypes, LongIs64Bit) {
  RunFieldCases({
      {R"({"type":"long"})", "3000000000", ""},
      {R"({"type":"long"})", "9223372036854775807", ""},
      {R"({"type":"long"})", "-9223372036854775808", ""},
      {R"({"type":"long"})", "9223372036854775808",
       "/v: 9223372036854775808 is out of range for long (64-bit)"},
      {R"({"type":"long"})", "18446744073709551615",
       "/v: 18446744073709551615 is out of range for long (64-bit)"},
      {R"({"type":"long"})", "1e19", "/v: 1e+19 is out of range for long (64-bit)"},
      {R"({"type":"long"})", "-1e300", "/v: -1e+300 is out of range for long (64-bit)"},
      {R"({"type":"long"})", "1e18", ""},
      {R"({"type":"long"})", "-9.223372036854775808e18", ""},  // -2^63 as a double
      {R"({"type":"long"})", "9.223372036854775808e18",
       "/v: 9223372036854775808 is out of range for long (64-bit)"},
      {R"({"type":"long"})", "2.5", "/v: expected integer, got 2.5"},
      {R"({"type":"long"})", R"("1")", "/v: expected long, got string"},
      // Bounds compare exactly above 2^53.
      {R"({"type":"long","minimum":9007199254740993})", "9007199254740993", ""},
      {R"({"type":"long","minimum":9007199254740993})", "9007199254740992",
       "/v: 9007199254740992 is less than minimum 9007199254740993"},
  });
}

TEST(SchemaTypes, NumberAndDouble) {
  RunFieldCases({
      {R"({"type":"number"})", "1.5", ""},
      {R"({"type":"number"})", "5", ""},
      {R"({"type":"number"})", "1e308", ""},
      {R"({"type":"number"})", "-1e-308", ""},
      {R"({"type":"number"})", "18446744073709551615", ""},
      {R"({"type":"number"})", R"("1.5")", "/v: expected number, got string"},
      {R"({"type":"double"})", "2.25", ""},
      {R"({"type":"double"})", "[1]", "/v: expected number, got array"},
  });
}

TEST(SchemaTypes, NumericBounds) {
  RunFieldCases({
      {R"({"type":"integer","minimum":1,"maximum":10})", "1", ""},
      {R"({"type":"integer","minimum":1,"maximum":10})", "10", ""},
      {R"({"type":"integer","minimum":1,"maximum":10})", "0", "/v: 0 is less than minimum 1"},
      {R"({"type":"integer","minimum":1,"maximum":10})", "11", "/v: 11 is greater than maximum 10"},
      {R"({"type":"integer","exclusiveMinimum":0})", "1", ""},
      {R"({"type":"integer","exclusiveMinimum":0})", "0",
       "/v: 0 is not greater than exclusiveMinimum 0"},
      {R"({"type":"integer","exclusiveMaximum":10})", "9", ""},
      {R"({"type":"integer","exclusiveMaximum":10})", "10",
       "/v: 10 is not less than exclusiveMaximum 10"},
      {R"({"type":"number","minimum":0.5})", "0.5", ""},
      {R"({"type":"number","minimum":0.5})", "0.25", "/v: 0.25 is less than minimum 0.5"},
      {R"({"type":"number","maximum":-1.5})", "-1", "/v: -1 is greater than maximum -1.5"},
      {R"({"type":"number","exclusiveMaximum":1})", "0.999", ""},
      {R"({"type":"double","exclusiveMinimum":1e-9})", "0",
       "/v: 0 is not greater than exclusiveMinimum 1e-09"},
  });
}

TEST(SchemaTypes, Boolean) {
  RunFieldCases({
      {R"({"type":"boolean"})", "true", ""},
      {R"({"type":"boolean"})", "false", ""},
      {R"({"type":"boolean"})", R"("true")", "/v: expected boolean, got string"},
      {R"({"type":"boolean"})", "1", "/v: expected boolean, got number"},
      {R"({"type":"boolean","enum":[true]})", "false", "/v: false is not one of: true"},
  });
}

TEST(SchemaTypes, Date) {
  RunFieldCases({
      {R"({"type":"date"})", R"("2024-02-29")", ""},
      {R"({"type":"date"})", R"("2000-02-29")", ""},
      {R"({"type":"date"})", R"("2023-12-31")", ""},
      {R"({"type":"date"})", R"("2023-02-29")",
       "/v: '2023-02-29' is not a valid date (YYYY-MM-DD)"},
      {R"({"type":"date"})", R"("1900-02-29")",
       "/v: '1900-02-29' is not a valid date (YYYY-MM-DD)"},
      {R"({"type":"date"})", R"("2023-04-31")",
       "/v: '2023-04-31' is not a valid date (YYYY-MM-DD)"},
      {R"({"type":"date"})", R"("2023-13-01")",
       "/v: '2023-13-01' is not a valid date (YYYY-MM-DD)"},
      {R"({"type":"date"})", R"("2023-00-10")",
       "/v: '2023-00-10' is not a valid date (YYYY-MM-DD)"},
      {R"({"type":"date"})", R"("2023-1-01")", "/v: '2023-1-01' is not a valid date (YYYY-MM-DD)"},
      {R"({"type":"date"})", R"("2023-01-01T00:00:00Z")",
       "/v: '2023-01-01T00:00:00Z' is not a valid date (YYYY-MM-DD)"},
      {R"({"type":"date"})", "20230101", "/v: expected date string (YYYY-MM-DD), got number"},
  });
}

TEST(SchemaTypes, DateTime) {
  const char* dt = R"({"type":"date-time"})";
  RunFieldCases({
      {dt, R"("2026-12-04T10:00:00Z")", ""},
      {dt, R"("2026-12-04T10:00:00.123Z")", ""},
      {dt, R"("2026-12-04T10:00:00.123456789+05:30")", ""},
      {dt, R"("2026-12-04T10:00:00-08:00")", ""},
      {dt, R"("2026-12-04t10:00:00z")", ""},
      {dt, R"("2024-02-29T23:59:59Z")", ""},
      {dt, R"("2016-12-31T23:59:60Z")", ""},       // leap second at 23:59 UTC
      {dt, R"("2017-01-01T00:59:60+01:00")", ""},  // the same leap second
      {dt, R"("2099-01-01T00:00:00Z")", ""},       // the future is fine outside event timestamps
      {dt, R"("2023-02-29T00:00:00Z")",
       "/v: '2023-02-29T00:00:00Z' is not a valid RFC 3339 date-time"},
      {dt, R"("2026-12-04T24:00:00Z")",
       "/v: '2026-12-04T24:00:00Z' is not a valid RFC 3339 date-time"},
      {dt, R"("2026-12-04T10:60:00Z")",
       "/v: '2026-12-04T10:60:00Z' is not a valid RFC 3339 date-time"},
      {dt, R"("2016-12-31T12:59:60Z")",
       "/v: '2016-12-31T12:59:60Z' is not a valid RFC 3339 date-time"},
      {dt, R"("2026-12-04T10:00:00")",
       "/v: '2026-12-04T10:00:00' is not a valid RFC 3339 date-time"},
      {dt, R"("2026-12-04 10:00:00Z")",
       "/v: '2026-12-04 10:00:00Z' is not a valid RFC 3339 date-time"},
      {dt, R"("2026-12-04T10:00:00.Z")",
       "/v: '2026-12-04T10:00:00.Z' is not a valid RFC 3339 date-time"},
      {dt, R"("2026-12-04T10:00:00+24:00")",
       "/v: '2026-12-04T10:00:00+24:00' is not a valid RFC 3339 date-time"},
      {dt, R"("2026-12-04T10:00:00+0100")",
       "/v: '2026-12-04T10:00:00+0100' is not a valid RFC 3339 date-time"},
      {dt, R"("2026-12-04T10:00Z")", "/v: '2026-12-04T10:00Z' is not a valid RFC 3339 date-time"},
      {dt, R"("2026-12-04T10:00:00Zjunk")",
       "/v: '2026-12-04T10:00:00Zjunk' is not a valid RFC 3339 date-time"},
      {dt, "1764842400", "/v: expected date-time string (RFC 3339), got number"},
  });
}

TEST(SchemaTypes, DateTimeToEpochMillis) {
  EXPECT_EQ(ParseDateTimeMillis("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseDateTimeMillis("1970-01-01T00:00:01.5Z"), 1500);
  EXPECT_EQ(ParseDateTimeMillis("2000-03-01T00:00:00Z"), 951868800000);
  EXPECT_EQ(ParseDateTimeMillis("2000-03-01T02:00:00+02:00"), 951868800000);
  EXPECT_EQ(ParseDateTimeMillis("2000-02-29T19:00:00-05:00"), 951868800000);
  EXPECT_EQ(ParseDateTimeMillis("1969-12-31T23:59:59.999Z"), -1);
  EXPECT_EQ(ParseDateTimeMillis("2026-13-01T00:00:00Z"), std::nullopt);
}

TEST(SchemaTypes, Enum) {
  const char* mixed = R"({"type":"enum","enum":["gold","silver",3,true]})";
  RunFieldCases({
      {mixed, R"("gold")", ""},
      {mixed, "3", ""},
      {mixed, "3.0", ""},
      {mixed, "true", ""},
      {mixed, R"("bronze")", "/v: 'bronze' is not one of: 'gold', 'silver', 3, true"},
      {mixed, R"("3")", "/v: '3' is not one of: 'gold', 'silver', 3, true"},
      {mixed, "false", "/v: false is not one of: 'gold', 'silver', 3, true"},
      {mixed, "[1]", "/v: expected one of: 'gold', 'silver', 3, true, got array"},
      {R"({"type":"string","enum":["a","b"]})", R"("b")", ""},
      {R"({"type":"string","enum":["a","b"]})", R"("c")", "/v: 'c' is not one of: 'a', 'b'"},
      {R"({"type":"string","enum":["a","b"]})", "1", "/v: expected string, got number"},
      {R"({"type":"integer","enum":[1,2,3]})", "2", ""},
      {R"({"type":"integer","enum":[1,2,3]})", "4", "/v: 4 is not one of: 1, 2, 3"},
      {R"({"type":"number","enum":[0.5,1.5]})", "1.5", ""},
      {R"({"type":"number","enum":[0.5,1.5]})", "1", "/v: 1 is not one of: 0.5, 1.5"},
      {R"({"type":"date","enum":["2024-01-01"]})", R"("2024-01-02")",
       "/v: '2024-01-02' is not one of: '2024-01-01'"},
  });
}

TEST(SchemaTypes, Object) {
  const char* obj =
      R"({"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"required":["a"]})";
  RunFieldCases({
      {obj, R"({"a":"x"})", ""},
      {obj, R"({"a":"x","b":2})", ""},
      {obj, R"({"b":2})", "/v/a: required field is missing"},
      {obj, R"({"a":"x","c":1})", "/v/c: unknown field 'c' (allowed: a, b)"},
      {obj, R"({"a":null})", "/v/a: null is not allowed; omit the field instead"},
      {obj, R"({"a":"x","a":"y"})", "/v/a: duplicate field 'a'"},
      {obj, R"("x")", "/v: expected object, got string"},
      {obj, "[]", "/v: expected object, got array"},
      {R"({"type":"object"})", "{}", ""},
      {R"({"type":"object"})", R"({"z":1})", "/v/z: unknown field 'z' (allowed: )"},
  });
}

TEST(SchemaTypes, AdditionalProperties) {
  const char* open =
      R"({"type":"object","additionalProperties":true,"properties":{"a":{"type":"string"}}})";
  const char* closed =
      R"({"type":"object","additionalProperties":false,"properties":{"a":{"type":"string"}}})";
  RunFieldCases({
      {open, R"({"a":"x","b":{"c":[1,2,{"d":"e"}]},"f":true})", ""},
      {open, R"({"a":1,"b":2})",
       "/v/a: expected string, got number"},  // declared fields still checked
      {open, R"({"b":null})", "/v/b: null is not allowed; omit the field instead"},
      {open, R"({"b":[1,null]})", "/v/b/1: null is not allowed; omit the field instead"},
      {open, R"({"b":{"c":{"d":null}}})", "/v/b/c/d: null is not allowed; omit the field instead"},
      {closed, R"({"a":"x","b":1})", "/v/b: unknown field 'b' (allowed: a)"},
  });
}

TEST(SchemaTypes, Array) {
  const char* arr = R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3})";
  RunFieldCases({
      {arr, "[1]", ""},
      {arr, "[1,2,3]", ""},
      {arr, "[]", "/v: array has 0 items, fewer than minItems 1"},
      {arr, "[1,2,3,4]", "/v: array has 4 items, more than maxItems 3"},
      {arr, R"([1,"x",3])", "/v/1: expected integer, got string"},
      {arr, "[1,2,null]", "/v/2: null is not allowed; omit the field instead"},
      {arr, R"({"0":1})", "/v: expected array, got object"},
      {R"({"type":"array"})", R"([1,"a",{"b":[true]}])", ""},
      {R"({"type":"array"})", "[1,[null]]", "/v/1/0: null is not allowed; omit the field instead"},
      {R"({"type":"array","items":{"type":"object","properties":{"sku":{"type":"string"}},"required":["sku"]}})",
       R"([{"sku":"a"},{"sku":"b"},{},{"sku":"d"}])", "/v/2/sku: required field is missing"},
      {R"({"type":"array","items":{"type":"array","items":{"type":"boolean"}}})",
       "[[true],[false,0]]", "/v/1/1: expected boolean, got number"},
  });
}

TEST(SchemaTypes, Map) {
  const char* map = R"({"type":"map","values":{"type":"number"}})";
  const char* object_form =
      R"({"type":"object","additionalProperties":{"type":"string","maxLength":2}})";
  RunFieldCases({
      {map, R"({"a":1,"b":2.5})", ""},
      {map, "{}", ""},
      {map, R"({"a":"x"})", "/v/a: expected number, got string"},
      {map, R"({"a":null})", "/v/a: null is not allowed; omit the field instead"},
      {map, "[]", "/v: expected map (a JSON object), got array"},
      {map, R"({"a/b~c":"x"})", "/v/a~1b~0c: expected number, got string"},  // RFC 6901 escaping
      {object_form, R"({"x":"ab"})", ""},
      {object_form, R"({"x":"abc"})", "/v/x: string has 3 characters, more than maxLength 2"},
      {R"({"type":"map"})", R"({"a":{"b":[1,2]},"c":"d"})", ""},
      {R"({"type":"map","values":{"type":"map","values":{"type":"boolean"}}})",
       R"({"a":{"b":true,"c":1}})", "/v/a/c: expected boolean, got number"},
  });
}

// ---------------------------------------------------------------------------
// Records as a whole

TEST(SchemaValidate, RootMustBeAnObject) {
  auto schema = MustParse(R"({"class":"adhoc"})");
  EXPECT_THAT(Errors(*schema, "[1]"), ElementsAre(": expected object, got array"));
  EXPECT_THAT(Errors(*schema, "\"x\""), ElementsAre(": expected object, got string"));
  EXPECT_THAT(Errors(*schema, "null"), ElementsAre(": expected object, got null"));
  EXPECT_THAT(Errors(*schema, "{}"), IsEmpty());
}

TEST(SchemaValidate, ReportsErrorsInOrderUpToTheLimit) {
  auto schema = MustParse(R"({"class":"adhoc","required":["a","b"],"properties":{
      "a":{"type":"integer"},"b":{"type":"string"},"c":{"type":"boolean"},"d":{"type":"number"}}})");
  const std::string record = R"({"c":1,"d":"x","e":1})";
  EXPECT_THAT(Errors(*schema, record),
              ElementsAre("/c: expected boolean, got number", "/d: expected number, got string",
                          "/e: unknown field 'e' (allowed: _id, a, b, c, d)",
                          "/a: required field is missing", "/b: required field is missing"));
  EXPECT_THAT(Errors(*schema, record, kNow, 2),
              ElementsAre("/c: expected boolean, got number", "/d: expected number, got string"));

  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(record);
  EXPECT_FALSE(schema->Validate(doc, kNow, nullptr));
  std::vector<std::string> errors;
  EXPECT_FALSE(schema->Validate(doc, kNow, &errors, 0));
  EXPECT_THAT(errors, IsEmpty());
}

TEST(SchemaValidate, LongValuesAreCutInMessages) {
  auto schema = MustParse(R"({"class":"adhoc","properties":{"d":{"type":"date"}}})");
  const std::string value(1 << 20, 'x');
  EXPECT_THAT(
      Errors(*schema, R"({"d":")" + value + "\"}"),
      ElementsAre("/d: '" + std::string(64, 'x') + "...' is not a valid date (YYYY-MM-DD)"));
}

TEST(SchemaValidate, PatternsOnHugeStringsNeitherOverflowNorHang) {
  auto schema = MustParse(R"({"class":"adhoc","properties":{
      "a":{"type":"string","pattern":"^[a-z]+$"},"b":{"type":"string","pattern":"(a|b)*c"}}})");
  const std::string value(1 << 20, 'a');
  EXPECT_THAT(Errors(*schema, R"({"a":")" + value + "\"}"), IsEmpty());
  EXPECT_THAT(
      Errors(*schema, R"({"b":")" + value + "\"}"),
      ElementsAre("/b: '" + std::string(64, 'a') + "...' does not match pattern '(a|b)*c'"));
  // Catastrophic backtracking for a backtracking engine.
  auto nested =
      MustParse(R"({"class":"adhoc","properties":{"a":{"type":"string","pattern":"^(a+)+$"}}})");
  EXPECT_THAT(Errors(*nested, R"({"a":")" + std::string(40, 'a') + "b\"}"),
              ElementsAre("/a: '" + std::string(40, 'a') + "b' does not match pattern '^(a+)+$'"));
}

std::string NestedArrays(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string NestedObjects(size_t depth) {
  std::string s;
  for (size_t i = 0; i < depth; ++i) s += "{\"a\":";
  s += "1";
  s += std::string(depth, '}');
  return s;
}

std::vector<std::string> ErrorsDeep(const Schema& schema, const std::string& record) {
  simdjson::dom::parser parser;
  EXPECT_FALSE(parser.allocate(record.size() + 64, 30000));
  simdjson::dom::element doc;
  EXPECT_FALSE(parser.parse(record).get(doc));
  std::vector<std::string> errors;
  EXPECT_FALSE(schema.Validate(doc, kNow, &errors));
  return errors;
}

TEST(SchemaValidate, FreeFormNestingIsBounded) {
  auto open = MustParse(R"({"class":"adhoc","additionalProperties":true})");
  // /x is depth 1; the container at depth 64 is the first whose contents are too deep.
  std::string pointer = "/x";
  for (int i = 0; i < 63; ++i) pointer += "/0";
  EXPECT_THAT(ErrorsDeep(*open, R"({"x":)" + NestedArrays(10000) + "}"),
              ElementsAre(pointer + ": nesting deeper than 64 levels"));
  std::string object_pointer = "/x";
  for (int i = 0; i < 63; ++i) object_pointer += "/a";
  EXPECT_THAT(ErrorsDeep(*open, R"({"x":)" + NestedObjects(10000) + "}"),
              ElementsAre(object_pointer + ": nesting deeper than 64 levels"));
  // 64 levels are fine: /x plus 62 nested arrays plus an empty innermost one.
  EXPECT_THAT(Errors(*open, R"({"x":)" + NestedArrays(64) + "}"), IsEmpty());

  auto map = MustParse(R"({"class":"adhoc","properties":{"m":{"type":"map"}}})");
  std::string map_pointer = "/m/k";
  for (int i = 0; i < 62; ++i) map_pointer += "/0";
  EXPECT_THAT(ErrorsDeep(*map, R"({"m":{"k":)" + NestedArrays(10000) + "}}"),
              ElementsAre(map_pointer + ": nesting deeper than 64 levels"));
}

TEST(SchemaValidate, RecordsDeeperThanTheSchemaFailWhereTheSchemaStops) {
  auto schema = MustParse(R"({"class":"adhoc","properties":{"v":{"type":"object","properties":{
      "a":{"type":"string"}}}}})");
  EXPECT_THAT(ErrorsDeep(*schema, R"({"v":{"a":)" + NestedObjects(5000) + "}}"),
              ElementsAre("/v/a: expected string, got object"));
  EXPECT_THAT(ErrorsDeep(*schema, R"({"v":{"b":)" + NestedObjects(5000) + "}}"),
              ElementsAre("/v/b: unknown field 'b' (allowed: a)"));
}

TEST(SchemaValidate, LookupTellsApartNamesWithACommonPrefix) {
  auto schema = MustParse(R"({"class":"adhoc","properties":{"address1":{"type":"string"},
      "address2":{"type":"integer"},"addres":{"type":"boolean"},"address":{"type":"number"}}})");
  EXPECT_THAT(Errors(*schema, R"({"address1":"a","address2":2,"addres":true,"address":1.5})"),
              IsEmpty());
  EXPECT_THAT(
      Errors(*schema, R"({"address1":1,"address2":"b","addres":1,"address":"x","address3":1})"),
      ElementsAre("/address1: expected string, got number",
                  "/address2: expected integer, got string",
                  "/addres: expected boolean, got number", "/address: expected number, got string",
                  "/address3: unknown field 'address3' (allowed: _id, address1, address2, addres, "
                  "address)"));
}

TEST(SchemaValidate, LookupInWideObjects) {
  std::string props, record = "{";
  for (int i = 0; i < 200; ++i) {
    if (i) {
      props += ",";
      record += ",";
    }
    props += "\"f" + std::to_string(i) + "\":{\"type\":\"integer\"}";
    record += "\"f" + std::to_string(i) + "\":" + std::to_string(i);
  }
  auto schema = MustParse(R"({"class":"adhoc","required":["f199"],"properties":{)" + props + "}}");
  EXPECT_THAT(Errors(*schema, record + "}"), IsEmpty());
  EXPECT_THAT(Errors(*schema, R"({"f150":"x"})"), ElementsAre("/f150: expected integer, got string",
                                                              "/f199: required field is missing"));
  EXPECT_THAT(Errors(*schema, R"({"f199":1,"g":1})"),
              ElementsAre(StartsWith("/g: unknown field 'g' (allowed: _id, f0, f1,")));
  EXPECT_THAT(Errors(*schema, R"({"f199":1,"g":1})"), ElementsAre(HasSubstr("f18, ...)")));
}

// ---------------------------------------------------------------------------
// Classes

constexpr std::string_view kEventSchema = R"({"class":"experience-event","properties":{
  "commerce":{"type":"object","properties":{
    "order":{"type":"object","required":["priceTotal"],"properties":{
      "priceTotal":{"type":"number"},"currency":{"type":"string"}}}}}}})";

std::string Event(std::string_view extra_fields) {
  std::string s =
      R"({"_id":"e1","timestamp":"2026-06-01T11:59:00Z","eventType":"commerce.purchases")";
  if (!extra_fields.empty()) {
    s += ",";
    s += extra_fields;
  }
  return s + "}";
}

TEST(SchemaClasses, ExperienceEventRequiredFields) {
  auto schema = MustParse(kEventSchema);
  EXPECT_EQ(schema->schema_class(), SchemaClass::kExperienceEvent);
  EXPECT_THAT(Errors(*schema, Event(R"("commerce":{"order":{"priceTotal":10.5}})")), IsEmpty());
  EXPECT_THAT(Errors(*schema, "{}"), ElementsAre("/_id: required field is missing",
                                                 "/timestamp: required field is missing",
                                                 "/eventType: required field is missing"));
  EXPECT_THAT(Errors(*schema, R"({"_id":"","timestamp":"yesterday","eventType":""})"),
              ElementsAre("/_id: string has 0 characters, fewer than minLength 1",
                          "/timestamp: 'yesterday' is not a valid RFC 3339 date-time",
                          "/eventType: string has 0 characters, fewer than minLength 1"));
  EXPECT_THAT(Errors(*schema, R"({"_id":7,"timestamp":"2026-06-01T11:59:00Z","eventType":"x"})"),
              ElementsAre("/_id: expected string, got number"));
  EXPECT_THAT(Errors(*schema, R"({"_id":")" + std::string(257, 'i') +
                                  R"(","timestamp":"2026-06-01T11:59:00Z","eventType":"x"})"),
              ElementsAre("/_id: string has 257 characters, more than maxLength 256"));
  EXPECT_THAT(Errors(*schema, Event(R"("commerce":{"order":{"priceTotal":"12"}})")),
              ElementsAre("/commerce/order/priceTotal: expected number, got string"));
  EXPECT_THAT(Errors(*schema, Event(R"("commerce":{"order":{}})")),
              ElementsAre("/commerce/order/priceTotal: required field is missing"));
  EXPECT_THAT(
      Errors(*schema, Event(R"("foo":1)")),
      ElementsAre(
          "/foo: unknown field 'foo' (allowed: _id, timestamp, eventType, identityMap, commerce)"));
}

TEST(SchemaClasses, ExperienceEventTimestampNotInFuture) {
  auto schema = MustParse(kEventSchema);
  auto with_ts = [](std::string_view ts) {
    return R"({"_id":"e1","eventType":"x","timestamp":")" + std::string(ts) + "\"}";
  };
  EXPECT_THAT(Errors(*schema, with_ts("2026-06-01T12:01:00Z")), IsEmpty());  // exactly 60 s ahead
  EXPECT_THAT(Errors(*schema, with_ts("2026-06-01T14:01:00+02:00")), IsEmpty());
  EXPECT_THAT(Errors(*schema, with_ts("2026-06-01T12:01:00.001Z")),
              ElementsAre("/timestamp: 2026-06-01T12:01:00.001Z is in the future"));
  EXPECT_THAT(Errors(*schema, with_ts("2030-01-01T00:00:00Z")),
              ElementsAre("/timestamp: 2030-01-01T00:00:00Z is in the future"));
  EXPECT_THAT(Errors(*schema, with_ts("2030-01-01T00:00:00Z"),
                     *ParseDateTimeMillis("2030-01-01T00:00:00Z")),
              IsEmpty());
  EXPECT_THAT(Errors(*schema, with_ts("1999-01-01T00:00:00Z")), IsEmpty());
}

TEST(SchemaClasses, ExperienceEventIdentityMap) {
  auto schema = MustParse(kEventSchema);
  struct Case {
    const char* identity_map;
    const char* error;
  };
  const Case cases[] = {
      {R"({"ECID":[{"id":"123","primary":true,"authenticatedState":"ambiguous"}],"Email":[{"id":"a@b.com"}]})",
       ""},
      {R"({})", ""},
      {R"([])", "/identityMap: expected map (a JSON object), got array"},
      {R"({"ECID":[]})", "/identityMap/ECID: array has 0 items, fewer than minItems 1"},
      {R"({"ECID":{"id":"1"}})", "/identityMap/ECID: expected array, got object"},
      {R"({"ECID":[{"primary":true}]})", "/identityMap/ECID/0/id: required field is missing"},
      {R"({"ECID":[{"id":"1"},{"id":""}]})",
       "/identityMap/ECID/1/id: string has 0 characters, fewer than minLength 1"},
      {R"({"ECID":[{"id":1}]})", "/identityMap/ECID/0/id: expected string, got number"},
      {R"({"ECID":[{"id":"1","primary":"yes"}]})",
       "/identityMap/ECID/0/primary: expected boolean, got string"},
      {R"({"ECID":[{"id":"1","authenticatedState":"unknown"}]})",
       "/identityMap/ECID/0/authenticatedState: 'unknown' is not one of: 'ambiguous', "
       "'authenticated', 'loggedOut'"},
      {R"({"ECID":[{"id":"1","extra":1}]})",
       "/identityMap/ECID/0/extra: unknown field 'extra' (allowed: id, primary, "
       "authenticatedState)"},
      {R"({"a:b":[{"id":"1"}]})", "/identityMap/a:b: namespace must not contain ':'"},
      {R"({"":[{"id":"1"}]})", "/identityMap/: namespace must not be empty"},
      {R"({"ECID":null})", "/identityMap/ECID: null is not allowed; omit the field instead"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.identity_map);
    const auto errors = Errors(*schema, Event(std::string(R"("identityMap":)") + c.identity_map));
    if (*c.error == '\0') {
      EXPECT_THAT(errors, IsEmpty());
    } else {
      EXPECT_THAT(errors, ElementsAre(c.error));
    }
  }
}

TEST(SchemaClasses, ExperienceEventCanRequireIdentityMap) {
  auto schema = MustParse(R"({"class":"experience-event","required":["identityMap","_id"]})");
  EXPECT_THAT(Errors(*schema, Event("")), ElementsAre("/identityMap: required field is missing"));
  EXPECT_THAT(Errors(*schema, Event(R"("identityMap":{"ECID":[{"id":"1"}]})")), IsEmpty());
}

TEST(SchemaClasses, ClassFieldsCannotBeRedefined) {
  EXPECT_EQ(
      ParseError(R"({"class":"experience-event","properties":{"timestamp":{"type":"string"}}})"),
      "properties.timestamp: 'timestamp' is defined by the schema class and cannot be redefined");
  EXPECT_EQ(
      ParseError(R"({"class":"experience-event","properties":{"identityMap":{"type":"map"}}})"),
      "properties.identityMap: 'identityMap' is defined by the schema class and cannot be "
      "redefined");
  EXPECT_EQ(ParseError(R"({"class":"adhoc","properties":{"_id":{"type":"string"}}})"),
            "properties._id: '_id' is defined by the schema class and cannot be redefined");
  EXPECT_EQ(ParseError(R"({"class":"profile","properties":{"identityMap":{"type":"map"}}})"),
            "properties.identityMap: 'identityMap' is defined by the schema class and cannot be "
            "redefined");
  // A profile may declare its own _id.
  EXPECT_NE(MustParse(R"({"class":"profile","properties":{"_id":{"type":"integer"}}})"), nullptr);
}

TEST(SchemaClasses, ProfileWithIdentityField) {
  auto schema =
      MustParse(R"({"class":"profile","identity":"crmId","required":["crmId"],"properties":{
      "crmId":{"type":"string"},"name":{"type":"string"}}})");
  EXPECT_EQ(schema->identity_path(), "crmId");
  EXPECT_THAT(Errors(*schema, R"({"crmId":"CRM:123","name":"Ann"})"), IsEmpty());
  EXPECT_THAT(Errors(*schema, R"({"crmId":"CRM:a:b"})"), IsEmpty());  // the id may contain ':'
  EXPECT_THAT(Errors(*schema, R"({"crmId":"CRM:1","identityMap":{"Email":[{"id":"a@b.com"}]}})"),
              IsEmpty());
  EXPECT_THAT(Errors(*schema, R"({"crmId":"123"})"),
              ElementsAre("/crmId: '123' is not an identity of the form NS:ID"));
  EXPECT_THAT(Errors(*schema, R"({"crmId":":123"})"),
              ElementsAre("/crmId: ':123' is not an identity of the form NS:ID"));
  EXPECT_THAT(Errors(*schema, R"({"crmId":"CRM:"})"),
              ElementsAre("/crmId: 'CRM:' is not an identity of the form NS:ID"));
  EXPECT_THAT(Errors(*schema, R"({"name":"Ann"})"),
              ElementsAre("/crmId: required field is missing"));

  auto nested =
      MustParse(R"({"class":"profile","identity":"person.crmId","required":["person"],"properties":{
      "person":{"type":"object","required":["crmId"],"properties":{"crmId":{"type":"string"}}}}})");
  EXPECT_EQ(nested->identity_path(), "person.crmId");
  EXPECT_THAT(Errors(*nested, R"({"person":{"crmId":"CRM:1"}})"), IsEmpty());
  EXPECT_THAT(Errors(*nested, R"({"person":{"crmId":"x"}})"),
              ElementsAre("/person/crmId: 'x' is not an identity of the form NS:ID"));
}

TEST(SchemaClasses, ProfileIdentityFieldMustBeARequiredString) {
  EXPECT_EQ(
      ParseError(
          R"({"class":"profile","identity":"crmId","properties":{"crmId":{"type":"string"}}})"),
      "identity: field 'crmId' must be required");
  EXPECT_EQ(ParseError(R"({"class":"profile","identity":"nope","properties":{}})"),
            "identity: 'nope' is not a declared property");
  EXPECT_EQ(
      ParseError(
          R"({"class":"profile","identity":"n","required":["n"],"properties":{"n":{"type":"integer"}}})"),
      "identity: field 'n' must be of type string, not integer");
  EXPECT_EQ(ParseError(R"({"class":"profile","identity":"p.id","properties":{"p":{"type":"object",
      "required":["id"],"properties":{"id":{"type":"string"}}}}})"),
            "identity: field 'p' must be required");
  EXPECT_EQ(
      ParseError(
          R"({"class":"profile","identity":"s.id","required":["s"],"properties":{"s":{"type":"string"}}})"),
      "identity: 's' is not an object");
  EXPECT_EQ(ParseError(R"({"class":"profile","identity":"identityMap"})"),
            "identity: 'identityMap' is not a declared property");
  EXPECT_EQ(ParseError(R"({"class":"experience-event","identity":"x"})"),
            "identity: only profile schemas name an identity field (experience-event records use "
            "identityMap)");
  EXPECT_EQ(ParseError(R"({"class":"profile","identity":""})"),
            "identity: must be the dotted path of a string field");
}

TEST(SchemaClasses, ProfileWithoutIdentityFieldNeedsIdentityMap) {
  auto schema = MustParse(R"({"class":"profile","properties":{"name":{"type":"string"}}})");
  EXPECT_EQ(schema->identity_path(), "");
  EXPECT_THAT(Errors(*schema, R"({"identityMap":{"ECID":[{"id":"1"}]},"name":"Ann"})"), IsEmpty());
  EXPECT_THAT(Errors(*schema, R"({"name":"Ann"})"),
              ElementsAre("/identityMap: required field is missing"));
  EXPECT_THAT(Errors(*schema, R"({"identityMap":{}})"),
              ElementsAre("/identityMap: must contain at least one identity"));
  EXPECT_THAT(Errors(*schema, R"({"identityMap":{"ECID":[]}})"),
              ElementsAre("/identityMap/ECID: array has 0 items, fewer than minItems 1"));
}

TEST(SchemaClasses, AdhocIdIsOptionalButNonEmpty) {
  auto schema = MustParse(R"({"class":"adhoc","properties":{"n":{"type":"integer"}}})");
  EXPECT_THAT(Errors(*schema, R"({"n":1})"), IsEmpty());
  EXPECT_THAT(Errors(*schema, R"({"_id":"r1","n":1})"), IsEmpty());
  EXPECT_THAT(Errors(*schema, R"({"_id":""})"),
              ElementsAre("/_id: string has 0 characters, fewer than minLength 1"));
  EXPECT_THAT(Errors(*schema, R"({"_id":5})"), ElementsAre("/_id: expected string, got number"));
  auto required = MustParse(R"({"class":"adhoc","required":["_id"]})");
  EXPECT_THAT(Errors(*required, "{}"), ElementsAre("/_id: required field is missing"));
}

// ---------------------------------------------------------------------------
// Definition errors

TEST(SchemaParse, Errors) {
  struct Case {
    const char* json;
    const char* error;
  };
  const Case cases[] = {
      {R"({"class":"experience-event","properties":{"commerce":{"type":"object","properties":{"order":{
          "type":"object","properties":{"priceTotal":{"type":"money"}}}}}}})",
       "properties.commerce.order.priceTotal: unknown type 'money' (use string, integer, long, "
       "number, double, "
       "boolean, date, date-time, object, array, map or enum)"},
      {R"({"class":"adhoc","properties":{"v":{"type":"string","maxLenght":3}}})",
       "properties.v: unknown keyword 'maxLenght'"},
      {R"({"class":"adhoc","properties":{"v":{"type":"integer","minLength":3}}})",
       "properties.v: keyword 'minLength' does not apply to type integer"},
      {R"({"class":"adhoc","properties":{"v":{"type":"string","minimum":3}}})",
       "properties.v: keyword 'minimum' does not apply to type string"},
      {R"({"class":"adhoc","properties":{"v":{"type":"array","properties":{}}}})",
       "properties.v: keyword 'properties' does not apply to type array"},
      {R"({"class":"adhoc","properties":{"v":{"type":"integer","format":"email"}}})",
       "properties.v: keyword 'format' does not apply to type integer"},
      {R"({"class":"adhoc","propertes":{}})",
       "schema: unknown keyword 'propertes' (use class, properties, required, identity, "
       "additionalProperties, "
       "description, title, $comment or meta:*)"},
      {R"({"properties":{}})", "class: missing (use experience-event, profile or adhoc)"},
      {R"({"class":"event"})", "class: must be experience-event, profile or adhoc"},
      {R"({"class":"adhoc","type":"array"})",
       "type: a schema describes an object; omit 'type' or set it to \"object\""},
      {R"({"class":"adhoc","properties":{"v":{}}})", "properties.v: missing 'type'"},
      {R"({"class":"adhoc","properties":{"v":{"type":["string"]}}})",
       "properties.v: 'type' must be a string"},
      {R"({"class":"adhoc","properties":{"v":"string"}})",
       "properties.v: a field definition must be a JSON object"},
      {R"({"class":"adhoc","properties":[]})", "properties: properties must be a JSON object"},
      {R"({"class":"adhoc","required":["x"],"properties":{}})",
       "required: 'x' is not a declared property"},
      {R"({"class":"adhoc","required":"x"})", "required: must be an array of property names"},
      {R"({"class":"adhoc","required":["v","v"],"properties":{"v":{"type":"string"}}})",
       "required: 'v' is listed twice"},
      {R"({"class":"adhoc","properties":{"o":{"type":"object","required":["y"],"properties":{}}}})",
       "properties.o.required: 'y' is not a declared property"},
      {R"({"class":"adhoc","properties":{"v":{"type":"string","pattern":"[a-"}}})",
       "properties.v: invalid pattern '[a-': "},  // prefix; libstdc++ words the rest
      {R"({"class":"adhoc","properties":{"v":{"type":"string","pattern":"(a)\\1"}}})",
       "properties.v: invalid pattern '(a)\\1': "},
      {R"({"class":"adhoc","properties":{"v":{"type":"string","pattern":5}}})",
       "properties.v: pattern must be a string"},
      {R"({"class":"adhoc","properties":{"v":{"type":"string","format":"phone"}}})",
       "properties.v: unknown format 'phone' (use email, uri, uuid, date, date-time or ipv4)"},
      {R"({"class":"adhoc","properties":{"v":{"type":"date","format":"email"}}})",
       "properties.v: format 'email' conflicts with type date"},
      {R"({"class":"adhoc","properties":{"v":{"type":"date-time","format":"date"}}})",
       "properties.v: format 'date' conflicts with type date-time"},
      {R"({"class":"adhoc","properties":{"v":{"type":"string","minLength":-1}}})",
       "properties.v: minLength must be a non-negative integer"},
      {R"({"class":"adhoc","properties":{"v":{"type":"string","maxLength":2.5}}})",
       "properties.v: maxLength must be a non-negative integer"},
      {R"({"class":"adhoc","properties":{"v":{"type":"string","minLength":5,"maxLength":3}}})",
       "properties.v: minLength 5 is greater than maxLength 3"},
      {R"({"class":"adhoc","properties":{"v":{"type":"number","minimum":5,"maximum":3}}})",
       "properties.v: minimum 5 is greater than maximum 3"},
      {R"({"class":"adhoc","properties":{"v":{"type":"number","exclusiveMinimum":true}}})",
       "properties.v: exclusiveMinimum must be a number"},
      {R"({"class":"adhoc","properties":{"v":{"type":"array","minItems":3,"maxItems":1}}})",
       "properties.v: minItems 3 is greater than maxItems 1"},
      {R"({"class":"adhoc","properties":{"v":{"type":"array","items":{"type":"strin"}}}})",
       "properties.v[]: unknown type 'strin' (use string, integer, long, number, double, boolean, "
       "date, "
       "date-time, object, array, map or enum)"},
      {R"({"class":"adhoc","properties":{"m":{"type":"map","values":{"type":"integer","max":1}}}})",
       "properties.m.*: unknown keyword 'max'"},
      {R"({"class":"adhoc","properties":{"m":{"type":"object","additionalProperties":{"type":"string"},
          "properties":{"a":{"type":"string"}}}}})",
       "properties.m: an object whose additionalProperties is a schema is a map and cannot also "
       "declare 'properties'"},
      {R"({"class":"adhoc","properties":{"o":{"type":"object","additionalProperties":"yes"}}})",
       "properties.o: additionalProperties must be true, false or a schema (map values)"},
      {R"({"class":"adhoc","additionalProperties":{}})",
       "additionalProperties: must be true or false"},
      {R"({"class":"adhoc","properties":{"v":{"type":"enum"}}})",
       "properties.v: type enum needs an 'enum' list of values"},
      {R"({"class":"adhoc","properties":{"v":{"type":"enum","enum":[]}}})",
       "properties.v: enum must be a non-empty array"},
      {R"({"class":"adhoc","properties":{"v":{"type":"enum","enum":["a",null]}}})",
       "properties.v: enum[1] must be a string, number or boolean, not null"},
      {R"({"class":"adhoc","properties":{"v":{"type":"enum","enum":["a","a"]}}})",
       "properties.v: enum[1] repeats 'a'"},
      {R"({"class":"adhoc","properties":{"v":{"type":"integer","enum":[1,1.0]}}})",
       "properties.v: enum[1] repeats 1"},
      {R"({"class":"adhoc","properties":{"v":{"type":"integer","enum":[1,"a"]}}})",
       "properties.v: enum[1] does not fit the field: expected integer, got string"},
      {R"({"class":"adhoc","properties":{"v":{"type":"string","maxLength":1,"enum":["ab"]}}})",
       "properties.v: enum[0] does not fit the field: string has 2 characters, more than maxLength "
       "1"},
      {R"({"class":"adhoc","properties":{"v":{"type":"date","enum":["2023-02-29"]}}})",
       "properties.v: enum[0] does not fit the field: '2023-02-29' is not a valid date "
       "(YYYY-MM-DD)"},
      {R"({"class":"adhoc","properties":{"a.b":{"type":"string"}}})",
       "properties: invalid property name 'a.b' (names are 1-256 bytes without '.', '\"' or "
       "control characters)"},
      {R"({"class":"adhoc","properties":{"":{"type":"string"}}})",
       "properties: invalid property name '' (names are 1-256 bytes without '.', '\"' or control "
       "characters)"},
      {R"({"class":"adhoc","properties":{"v":{"type":"string"},"v":{"type":"integer"}}})",
       "properties.v: duplicate property"},
      {R"({"class":"adhoc","properties":{"v":{"type":"string","type":"integer"}}})",
       "properties.v: duplicate keyword 'type'"},
      {R"({"class":"adhoc","properties":{"v":{"type":"string","description":5}}})",
       "properties.v: 'description' must be a string"},
      {R"({"class":"adhoc","description":["x"]})", "schema: 'description' must be a string"},
      {R"({"class":"adhoc",)", "schema: malformed JSON ("},
      {R"([])", "schema: must be a JSON object"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    const std::string error = ParseError(c.json);
    const std::string expected = c.error;
    if (expected.ends_with(": ") || expected.ends_with("(")) {
      EXPECT_THAT(error, StartsWith(expected));
    } else {
      EXPECT_EQ(error, expected);
    }
  }
}

TEST(SchemaParse, PatternsThatCannotBeMatchedSafelyAreRejected) {
  EXPECT_THAT(
      ParseError(R"({"class":"adhoc","properties":{"v":{"type":"string","pattern":"(a)\\1"}}})"),
      HasSubstr("back-references"));
  // Counted repetitions multiply the automaton; matching time is its size times the string length.
  EXPECT_EQ(
      ParseError(
          R"({"class":"adhoc","properties":{"v":{"type":"string","pattern":"(a{300}){300}"}}})"),
      "properties.v: invalid pattern '(a{300}){300}': expands to more than 2000 positions (large "
      "counted "
      "repetitions); simplify it");
  EXPECT_EQ(
      ParseError(R"({"class":"adhoc","properties":{"v":{"type":"string","pattern":"x{2001}"}}})"),
      "properties.v: invalid pattern 'x{2001}': expands to more than 2000 positions (large counted "
      "repetitions); simplify it");
  EXPECT_EQ(ParseError(R"({"class":"adhoc","properties":{"v":{"type":"string","pattern":")" +
                       std::string(1001, 'a') + "\"}}}"),
            "properties.v: pattern is longer than 1000 bytes");
  auto iban = MustParse(R"({"class":"adhoc","properties":{"v":{"type":"string",
      "pattern":"^[A-Z]{2}[0-9]{2}[A-Z0-9]{4}[0-9]{7}([A-Z0-9]?){0,16}$"}}})");
  ASSERT_NE(iban, nullptr);
  EXPECT_THAT(Errors(*iban, R"({"v":"GB82WEST12345698765432"})"), IsEmpty());
  EXPECT_NE(
      MustParse(
          R"({"class":"adhoc","properties":{"v":{"type":"string","pattern":"^[0-9]{1,1000}$"}}})"),
      nullptr);
}

TEST(SchemaParse, AnnotationsAreAccepted) {
  auto schema = MustParse(
      R"({"class":"adhoc","description":"d","title":"t","$comment":"c","meta:owner":{"team":"x"},
      "properties":{"v":{"type":"string","description":"a value","title":"V","$comment":"c",
                         "meta:xdmType":"string","meta:tags":[1,2]}}})");
  ASSERT_NE(schema, nullptr);
  EXPECT_THAT(Errors(*schema, R"({"v":"x"})"), IsEmpty());
}

std::string NestedDefinition(int levels) {
  std::string s = R"({"type":"string"})";
  for (int i = 1; i < levels; ++i) s = R"({"type":"object","properties":{"a":)" + s + "}}";
  return R"({"class":"adhoc","properties":{"a":)" + s + "}}";
}

TEST(SchemaParse, DepthLimit) {
  EXPECT_NE(MustParse(NestedDefinition(kMaxSchemaDepth)), nullptr);
  std::string path = "a";
  for (int i = 1; i < kMaxSchemaDepth + 1; ++i) path += ".a";
  EXPECT_EQ(ParseError(NestedDefinition(kMaxSchemaDepth + 1)),
            "properties." + path + ": nested deeper than 32 levels");
  // Arrays count as levels too.
  std::string arrays = R"({"type":"string"})";
  for (int i = 0; i < 40; ++i) arrays = R"({"type":"array","items":)" + arrays + "}";
  EXPECT_THAT(ParseError(R"({"class":"adhoc","properties":{"t":)" + arrays + "}}"),
              StartsWith("properties.t[][][]"));
  EXPECT_THAT(ParseError(R"({"class":"adhoc","properties":{"t":)" + arrays + "}}"),
              HasSubstr(": nested deeper than 32 levels"));
}

TEST(SchemaParse, SchemaName) {
  EXPECT_TRUE(Schema::Parse("web-events.v2", R"({"class":"adhoc"})").ok());
  auto bad = Schema::Parse("../x", R"({"class":"adhoc"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "schema name '../x': use 1-128 letters, digits, '_', '-' or '.', starting with a "
            "letter or digit");
  EXPECT_FALSE(Schema::Parse("", R"({"class":"adhoc"})").ok());
}

TEST(SchemaParse, ClassNames) {
  EXPECT_EQ(SchemaClassName(SchemaClass::kExperienceEvent), "experience-event");
  EXPECT_EQ(SchemaClassName(SchemaClass::kProfile), "profile");
  EXPECT_EQ(SchemaClassName(SchemaClass::kAdhoc), "adhoc");
  EXPECT_EQ(SchemaClassFromName("profile"), SchemaClass::kProfile);
  EXPECT_EQ(SchemaClassFromName("Profile"), std::nullopt);
}

TEST(SchemaParse, CanonicalJsonIsNormalizedAndStable) {
  auto schema = MustParse(R"({"meta:owner":{"b":1, "a":[true]},"description":"Web events",
    "properties":{
      "price":{"description":"p","type":"double","minimum":0},
      "day":{"type":"string","format":"date"},
      "attrs":{"type":"object","additionalProperties":{"type":"string"}},
      "order":{"properties":{"sku":{"type":"string","pattern":"^[A-Z]+$"}},"type":"object","required":["sku"]},
      "tier":{"enum":["gold","silver"],"type":"enum"}},
    "required":["price"],"class":"experience-event"})");
  ASSERT_NE(schema, nullptr);
  const std::string expected =
      R"({"class":"experience-event","additionalProperties":false,"required":["price"],"properties":{)"
      R"("price":{"type":"number","minimum":0,"description":"p"},)"
      R"("day":{"type":"date"},)"
      R"("attrs":{"type":"map","values":{"type":"string"}},)"
      R"("order":{"type":"object","additionalProperties":false,"required":["sku"],"properties":{)"
      R"("sku":{"type":"string","pattern":"^[A-Z]+$"}}},)"
      R"("tier":{"type":"enum","enum":["gold","silver"]}},)"
      R"("description":"Web events","meta:owner":{"b":1,"a":[true]}})";
  EXPECT_EQ(schema->canonical_json(), expected);
  auto again = MustParse(schema->canonical_json());
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->canonical_json(), expected);
  EXPECT_TRUE(schema->CheckEvolution(*again).ok());
  EXPECT_TRUE(again->CheckEvolution(*schema).ok());
  EXPECT_EQ(schema->Columns(), again->Columns());

  auto profile = MustParse(
      R"({"class":"profile","identity":"id","required":["id"],"properties":{"id":{"type":"string"}}})");
  EXPECT_EQ(profile->canonical_json(),
            R"({"class":"profile","identity":"id","additionalProperties":false,"required":["id"],)"
            R"("properties":{"id":{"type":"string"}}})");
  auto event = MustParse(R"({"class":"experience-event","required":["eventType","identityMap"]})");
  EXPECT_EQ(
      event->canonical_json(),
      R"({"class":"experience-event","additionalProperties":false,"required":["identityMap"],"properties":{}})");
}

// ---------------------------------------------------------------------------
// Columns

TEST(SchemaColumns, DepthFirstInDeclarationOrder) {
  auto schema = MustParse(R"({"class":"experience-event","properties":{
      "commerce":{"type":"object","properties":{
        "order":{"type":"object","properties":{"priceTotal":{"type":"number"},"qty":{"type":"integer"}}},
        "paid":{"type":"boolean"}}},
      "sku-id":{"type":"string"},
      "na me":{"type":"long"},
      "tags":{"type":"array","items":{"type":"object","properties":{"x":{"type":"string"}}}},
      "attrs":{"type":"map","values":{"type":"integer"}},
      "tier":{"type":"enum","enum":[1,2]},
      "level":{"type":"enum","enum":["a",1]},
      "ratio":{"type":"enum","enum":[0.5,1]},
      "day":{"type":"date"}}})");
  ASSERT_NE(schema, nullptr);
  EXPECT_THAT(
      schema->Columns(),
      ElementsAre(FieldColumn{"_id", "$._id", "TEXT"},
                  FieldColumn{"timestamp", "$.timestamp", "TEXT"},
                  FieldColumn{"eventType", "$.eventType", "TEXT"},
                  FieldColumn{"identityMap", "$.identityMap", "TEXT"},
                  FieldColumn{"commerce", "$.commerce", "TEXT"},
                  FieldColumn{"commerce.order", "$.commerce.order", "TEXT"},
                  FieldColumn{"commerce.order.priceTotal", "$.commerce.order.priceTotal", "REAL"},
                  FieldColumn{"commerce.order.qty", "$.commerce.order.qty", "INTEGER"},
                  FieldColumn{"commerce.paid", "$.commerce.paid", "INTEGER"},
                  FieldColumn{"sku-id", "$.\"sku-id\"", "TEXT"},
                  FieldColumn{"na me", "$.\"na me\"", "INTEGER"},
                  FieldColumn{"tags", "$.tags", "TEXT"}, FieldColumn{"attrs", "$.attrs", "TEXT"},
                  FieldColumn{"tier", "$.tier", "INTEGER"}, FieldColumn{"level", "$.level", "TEXT"},
                  FieldColumn{"ratio", "$.ratio", "REAL"}, FieldColumn{"day", "$.day", "TEXT"}));
  auto adhoc = MustParse(R"({"class":"adhoc","properties":{"n":{"type":"integer"}}})");
  EXPECT_THAT(adhoc->Columns(),
              ElementsAre(FieldColumn{"_id", "$._id", "TEXT"}, FieldColumn{"n", "$.n", "INTEGER"}));
}

// ---------------------------------------------------------------------------
// Evolution

constexpr std::string_view kBase = R"({"class":"experience-event","properties":{
  "commerce":{"type":"object","required":["priceTotal"],"properties":{
    "priceTotal":{"type":"number","minimum":0},"currency":{"type":"string","maxLength":3}}},
  "tags":{"type":"array","items":{"type":"object","properties":{"k":{"type":"string"}}}},
  "attrs":{"type":"map","values":{"type":"string"}},
  "tier":{"type":"string","enum":["gold","silver"]},
  "name":{"type":"string","maxLength":10}},
  "required":["name"]})";

// `base` (kBase by default) with `from` replaced by `to` (exactly once).
std::string Edit(std::string_view from, std::string_view to, std::string s = std::string(kBase)) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  EXPECT_EQ(s.find(from, at + 1), std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST(SchemaEvolution, AdditiveChangesAreAccepted) {
  auto base = MustParse(kBase);
  const std::string ok_cases[] = {
      std::string(kBase),
      Edit(R"("name":{"type":"string","maxLength":10}})",
           R"("name":{"type":"string","maxLength":10},"age":{"type":"integer"}})"),
      Edit(R"("currency":{"type":"string","maxLength":3})",
           R"("currency":{"type":"string","maxLength":3},"coupon":{"type":"string"})"),
      Edit(R"("k":{"type":"string"})", R"("k":{"type":"string"},"v":{"type":"long"})"),
      Edit(R"("priceTotal":{"type":"number","minimum":0})",
           R"("priceTotal":{"type":"double","minimum":0,"description":"total","meta:unit":"USD"})"),
      Edit(R"("required":["name"])",
           R"("required":[])"),  // required -> optional is allowed (as in XDM)
      Edit(R"("attrs":{"type":"map","values":{"type":"string"}})",
           R"("attrs":{"type":"object","additionalProperties":{"type":"string"}})"),
  };
  for (const std::string& next_json : ok_cases) {
    SCOPED_TRACE(next_json);
    auto next = MustParse(next_json);
    ASSERT_NE(next, nullptr);
    EXPECT_TRUE(base->CheckEvolution(*next).ok()) << base->CheckEvolution(*next).ToString();
  }
}

TEST(SchemaEvolution, BreakingChangesAreConflictsNamingTheField) {
  auto base = MustParse(kBase);
  struct Case {
    std::string next;
    std::string error;
  };
  const Case cases[] = {
      {Edit(R"("required":["name"])", R"("required":["name","age"])",
            Edit(R"("name":{)", R"("age":{"type":"integer"},"name":{)")),
       "field 'age': a new field cannot be required (add it as optional)"},
      {Edit(R"("required":["name"])", R"("required":["name","tier"])"),
       "field 'tier': cannot become required"},
      {Edit(R"("required":["priceTotal"])", R"("required":["priceTotal","currency"])"),
       "field 'commerce.currency': cannot become required"},
      {Edit(R"("priceTotal":{"type":"number","minimum":0})", R"("priceTotal":{"type":"string"})"),
       "field 'commerce.priceTotal': type changed from number to string"},
      {Edit(R"(,"currency":{"type":"string","maxLength":3})", ""),
       "field 'commerce.currency': cannot be removed"},
      {Edit(R"("maxLength":10)", R"("maxLength":20)"),
       "field 'name': maxLength changed from 10 to 20"},
      {Edit(R"("priceTotal":{"type":"number","minimum":0})", R"("priceTotal":{"type":"number"})"),
       "field 'commerce.priceTotal': minimum changed from 0 to none"},
      {Edit(R"("currency":{"type":"string","maxLength":3})",
            R"("currency":{"type":"string","maxLength":3,"pattern":"^[A-Z]+$"})"),
       "field 'commerce.currency': pattern changed from none to \"^[A-Z]+$\""},
      {Edit(R"("enum":["gold","silver"])", R"("enum":["gold","silver","bronze"])"),
       "field 'tier': enum changed from [\"gold\",\"silver\"] to [\"gold\",\"silver\",\"bronze\"]"},
      {Edit(R"("k":{"type":"string"})", R"("k":{"type":"integer"})"),
       "field 'tags[].k': type changed from string to integer"},
      {Edit(R"("values":{"type":"string"})", R"("values":{"type":"boolean"})"),
       "field 'attrs.*': type changed from string to boolean"},
      {Edit(R"("attrs":{"type":"map","values":{"type":"string"}})", R"("attrs":{"type":"map"})"),
       "field 'attrs': values changed from string to any"},
      {Edit(R"("tags":{"type":"array",)", R"("tags":{"type":"array","maxItems":5,)"),
       "field 'tags': maxItems changed from none to 5"},
      {Edit(R"("commerce":{"type":"object",)",
            R"("commerce":{"type":"object","additionalProperties":true,)"),
       "field 'commerce': additionalProperties changed from false to true"},
      {Edit(R"("class":"experience-event",)",
            R"("class":"experience-event","additionalProperties":true,)"),
       "schema: additionalProperties changed from false to true"},
      {Edit(R"("required":["name"])", R"("required":["name","identityMap"])"),
       "field 'identityMap': cannot become required"},
      {Edit(R"("class":"experience-event")", R"("class":"adhoc")"),
       "class cannot change (from experience-event to adhoc)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.next);
    auto next = MustParse(c.next);
    ASSERT_NE(next, nullptr);
    const Status s = base->CheckEvolution(*next);
    EXPECT_EQ(s.code(), StatusCode::kConflict);
    EXPECT_EQ(s.message(), c.error);
  }
}

TEST(SchemaEvolution, ProfileIdentityCannotChange) {
  auto by_field = MustParse(R"({"class":"profile","identity":"a","required":["a","b"],"properties":{
      "a":{"type":"string"},"b":{"type":"string"}}})");
  auto other_field =
      MustParse(R"({"class":"profile","identity":"b","required":["a","b"],"properties":{
      "a":{"type":"string"},"b":{"type":"string"}}})");
  auto by_map = MustParse(
      R"({"class":"profile","properties":{"a":{"type":"string"},"b":{"type":"string"}}})");
  EXPECT_EQ(by_field->CheckEvolution(*other_field).message(),
            "identity cannot change (from 'a' to 'b')");
  EXPECT_EQ(by_field->CheckEvolution(*by_map).message(),
            "identity cannot change (from 'a' to identityMap)");
  EXPECT_EQ(by_field->CheckEvolution(*other_field).code(), StatusCode::kConflict);
}

}  // namespace
}  // namespace rtml::data
