#include "data/schema.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
// GCC 12 at -O3 with sanitizers reports a false -Wmaybe-uninitialized on the
// std::function moved inside <regex>'s _NFA::_M_insert_subexpr_end.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <regex>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#include <span>
#include <utility>

#include "common/json_writer.h"

namespace rtml::data {

namespace dom = simdjson::dom;
using ElementType = dom::element_type;

namespace internal {

enum class FieldType : uint8_t {
  kString,
  kInteger,  // 32-bit signed
  kLong,     // 64-bit signed
  kNumber,   // any finite JSON number ("number" or "double")
  kBoolean,
  kDate,      // "YYYY-MM-DD"
  kDateTime,  // RFC 3339
  kObject,
  kArray,
  kMap,
  kEnum,
};

enum class Format : uint8_t { kNone, kEmail, kUri, kUuid, kIpv4 };

// A numeric bound; `text` is its canonical JSON spelling (messages, storage).
// long double holds every int64, uint64 and double exactly on x86-64 and
// AArch64, so comparisons need no case analysis.
struct Bound {
  bool set = false;
  long double value = 0;
  std::string text;
};

struct EnumValue {
  ElementType kind = ElementType::STRING;  // STRING, BOOL, or DOUBLE for every number
  std::string text;                        // string value, or canonical JSON of a number/bool
  long double number = 0;
  bool boolean = false;
};

struct Property {
  std::string name;
  std::unique_ptr<SchemaNode> node;
  bool required = false;
  bool implicit = false;           // defined by the schema class, not the user
  bool required_by_class = false;  // implicit and required unless the user says so
};

struct SchemaNode {
  FieldType type = FieldType::kString;

  // string, date, date-time
  int64_t min_length = -1;
  int64_t max_length = -1;
  std::string pattern_source;
  std::unique_ptr<std::regex> pattern;  // search semantics (see CompilePattern)
  Format format = Format::kNone;

  // integer, long, number
  Bound minimum, maximum, exclusive_minimum, exclusive_maximum;

  // any scalar type, and "enum"
  std::vector<EnumValue> enum_values;

  // object
  std::vector<Property> properties;  // declaration order
  // Property lookup: NameTag of each property (scanned linearly), plus for
  // objects with more than kLinearLookupMax properties an open-addressing hash
  // of property indexes (-1: empty; a power of two in size, at most half full).
  std::vector<uint64_t> name_tags;
  std::vector<int32_t> lookup;
  std::vector<uint32_t> required_indexes;
  bool additional_properties = false;

  // array
  std::unique_ptr<SchemaNode> items;  // null: items of any shape
  int64_t min_items = -1;
  int64_t max_items = -1;

  // map
  std::unique_ptr<SchemaNode> values;  // null: values of any shape

  // Class rules set on implicit fields.
  bool not_in_future = false;         // experience-event timestamp
  bool identity_value = false;        // profile identity field: "NS:ID"
  bool identity_namespaces = false;   // identityMap keys: non-empty, no ':'
  bool require_one_identity = false;  // profile identityMap without an identity field

  // Constraint keywords with their canonical JSON value, in a fixed order;
  // compared by CheckEvolution and written by canonical_json().
  std::vector<std::pair<std::string, std::string>> constraints;
  // description, title, $comment, meta:* with their JSON, sorted by key.
  std::vector<std::pair<std::string, std::string>> annotations;
};

}  // namespace internal

using internal::Bound;
using internal::EnumValue;
using internal::FieldType;
using internal::Format;
using internal::Property;
using internal::SchemaNode;

namespace {

constexpr size_t kLinearLookupMax = 8;  // properties searched linearly up to this count
constexpr size_t kMaxQuotedBytes = 64;  // user text quoted in messages is cut here
constexpr size_t kMaxPointerSegmentBytes = 256;
constexpr size_t kMaxListedNames = 20;
constexpr size_t kMaxPathSegments = kMaxRecordDepth + 2;
constexpr size_t kMaxPatternPositions = 2000;  // see PatternSizeEstimate
static_assert(static_cast<size_t>(kMaxSchemaDepth) + 1 < kMaxPathSegments);

// ---------------------------------------------------------------------------
// Small text helpers

std::string_view TypeName(FieldType t) {
  switch (t) {
    case FieldType::kString:
      return "string";
    case FieldType::kInteger:
      return "integer";
    case FieldType::kLong:
      return "long";
    case FieldType::kNumber:
      return "number";
    case FieldType::kBoolean:
      return "boolean";
    case FieldType::kDate:
      return "date";
    case FieldType::kDateTime:
      return "date-time";
    case FieldType::kObject:
      return "object";
    case FieldType::kArray:
      return "array";
    case FieldType::kMap:
      return "map";
    case FieldType::kEnum:
      return "enum";
  }
  return "?";
}

std::string_view JsonTypeName(ElementType t) {
  switch (t) {
    case ElementType::ARRAY:
      return "array";
    case ElementType::OBJECT:
      return "object";
    case ElementType::INT64:
    case ElementType::UINT64:
    case ElementType::DOUBLE:
      return "number";
    case ElementType::STRING:
      return "string";
    case ElementType::BOOL:
      return "boolean";
    case ElementType::NULL_VALUE:
      return "null";
  }
  return "?";
}

bool IsNumber(ElementType t) {
  return t == ElementType::INT64 || t == ElementType::UINT64 || t == ElementType::DOUBLE;
}

// ASCII classes, independent of the C locale.
constexpr bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }
constexpr bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool IsAsciiAlnum(char c) { return IsAsciiDigit(c) || IsAsciiAlpha(c); }
constexpr bool IsHex(char c) {
  return IsAsciiDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
std::string_view CutUtf8(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

std::string Quote(std::string_view s) {
  std::string out = "'";
  std::string_view cut = CutUtf8(s, kMaxQuotedBytes);
  out.append(cut);
  if (cut.size() < s.size()) out.append("...");
  out.push_back('\'');
  return out;
}

std::string Truncated(std::string_view s) {
  std::string_view cut = CutUtf8(s, kMaxQuotedBytes);
  std::string out(cut);
  if (cut.size() < s.size()) out.append("...");
  return out;
}

std::string IntText(int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string UintText(uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string DoubleText(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// Canonical text and exact value of a JSON number element.
bool NumberOf(dom::element v, long double* value, std::string* text) {
  switch (v.type()) {
    case ElementType::INT64: {
      int64_t i = 0;
      if (v.get_int64().get(i)) return false;
      *value = static_cast<long double>(i);
      if (text) *text = IntText(i);
      return true;
    }
    case ElementType::UINT64: {
      uint64_t u = 0;
      if (v.get_uint64().get(u)) return false;
      *value = static_cast<long double>(u);
      if (text) *text = UintText(u);
      return true;
    }
    case ElementType::DOUBLE: {
      double d = 0;
      if (v.get_double().get(d) || !std::isfinite(d)) return false;
      *value = d;
      if (text) *text = DoubleText(d);
      return true;
    }
    default:
      return false;
  }
}

std::string NumberText(dom::element v) {
  long double ignored;
  std::string text;
  NumberOf(v, &ignored, &text);
  return text;
}

std::string JsonString(std::string_view s) {
  std::string out;
  JsonWriter(&out).AppendString(s);
  return out;
}

// Unicode code points in valid UTF-8 (simdjson validated the input).
size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string JoinNames(const std::vector<Property>& props) {
  std::string out;
  size_t listed = 0;
  for (const Property& p : props) {
    if (listed == kMaxListedNames) {
      out.append(", ...");
      break;
    }
    if (listed++) out.append(", ");
    out.append(p.name);
  }
  return out;
}

std::string EnumListText(const std::vector<EnumValue>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i == kMaxListedNames) {
      out.append(", ...");
      break;
    }
    if (i) out.append(", ");
    out.append(values[i].kind == ElementType::STRING ? Quote(values[i].text) : values[i].text);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Dates and formats

bool ReadDigits(std::string_view s, size_t pos, size_t count, int* out) {
  if (pos + count > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool IsLeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int y, int m) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

// "YYYY-MM-DD" at the start of `s`.
bool ParseDatePrefix(std::string_view s, int* y, int* m, int* d) {
  if (s.size() < 10 || s[4] != '-' || s[7] != '-') return false;
  if (!ReadDigits(s, 0, 4, y) || !ReadDigits(s, 5, 2, m) || !ReadDigits(s, 8, 2, d)) return false;
  return *m >= 1 && *m <= 12 && *d >= 1 && *d <= DaysInMonth(*y, *m);
}

bool IsDate(std::string_view s) {
  int y, m, d;
  return s.size() == 10 && ParseDatePrefix(s, &y, &m, &d);
}

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
// (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms", days_from_civil).
int64_t DaysFromCivil(int y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool IsEmail(std::string_view s) {
  if (s.size() > 254) return false;
  const size_t at = s.rfind('@');
  if (at == std::string_view::npos || at == 0 || at > 64) return false;
  const std::string_view local = s.substr(0, at);
  const std::string_view domain = s.substr(at + 1);
  static constexpr std::string_view kAtextPunct = "!#$%&'*+/=?^_`{|}~-";
  if (local.front() == '.' || local.back() == '.') return false;
  for (size_t i = 0; i < local.size(); ++i) {
    const char c = local[i];
    if (c == '.') {
      if (local[i - 1] == '.') return false;
      continue;
    }
    if (!IsAsciiAlnum(c) && kAtextPunct.find(c) == std::string_view::npos) {
      return false;
    }
  }
  if (domain.empty() || domain.size() > 253) return false;
  size_t labels = 0;
  size_t start = 0;
  while (start <= domain.size()) {
    size_t end = domain.find('.', start);
    if (end == std::string_view::npos) end = domain.size();
    const std::string_view label = domain.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label) {
      if (!IsAsciiAlnum(c) && c != '-') return false;
    }
    ++labels;
    start = end + 1;
  }
  return labels >= 2;
}

// An absolute URI (RFC 3986 section 4.3, plus an optional fragment): scheme ":"
// then unreserved, reserved or percent-encoded characters only.
bool IsUri(std::string_view s) {
  const size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  if (!IsAsciiAlpha(s[0])) return false;
  for (size_t i = 1; i < colon; ++i) {
    const char c = s[i];
    if (!IsAsciiAlnum(c) && c != '+' && c != '-' && c != '.') return false;
  }
  // Unreserved and reserved characters (RFC 3986 section 2).
  static constexpr auto kAllowed = [] {
    std::array<bool, 256> table{};
    for (int c = 0; c < 256; ++c) table[c] = IsAsciiAlnum(static_cast<char>(c));
    for (char c : std::string_view("-._~:/?#[]@!$&'()*+,;="))
      table[static_cast<unsigned char>(c)] = true;
    return table;
  }();
  bool fragment = false;
  for (size_t i = colon + 1; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || !IsHex(s[i + 1]) || !IsHex(s[i + 2])) return false;
      i += 2;
      continue;
    }
    if (c == '#') {
      if (fragment) return false;
      fragment = true;
      continue;
    }
    if (!kAllowed[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

bool IsIpv4(std::string_view s) {
  int parts = 0;
  size_t i = 0;
  while (true) {
    size_t digits = 0;
    int value = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && digits < 4) {
      value = value * 10 + (s[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0 || digits > 3 || value > 255) return false;
    if (digits > 1 && s[i - digits] == '0') return false;  // no leading zeros
    ++parts;
    if (i == s.size()) return parts == 4;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
}

std::string_view FormatName(Format f) {
  switch (f) {
    case Format::kNone:
      return "";
    case Format::kEmail:
      return "email";
    case Format::kUri:
      return "uri";
    case Format::kUuid:
      return "uuid";
    case Format::kIpv4:
      return "ipv4";
  }
  return "";
}

bool MatchesFormat(Format f, std::string_view s) {
  switch (f) {
    case Format::kNone:
      return true;
    case Format::kEmail:
      return IsEmail(s);
    case Format::kUri:
      return IsUri(s);
    case Format::kUuid:
      return IsUuid(s);
    case Format::kIpv4:
      return IsIpv4(s);
  }
  return false;
}

// ---------------------------------------------------------------------------
// Patterns
//
// libstdc++'s default std::regex executor backtracks recursively: it needs
// stack in proportion to the subject length (a 10 KB string overflows a 1 MB
// stack) and exponential time on patterns like ^(a+)+$. The "polynomial"
// extension flag selects its Thompson-NFA executor instead (constant stack,
// time linear in the subject for a match), which rejects back-references. JSON
// Schema's `pattern` has search semantics, so the subject is matched against
// [\s\S]*(?:p)[\s\S]* (one linear pass, not one pass per start position).

#if defined(__GLIBCXX__)
constexpr std::regex::flag_type kRegexFlags =
    std::regex::ECMAScript | std::regex_constants::__polynomial;
#else
constexpr std::regex::flag_type kRegexFlags = std::regex::ECMAScript;
#endif

// An upper bound on the NFA positions `source` compiles to: counted
// repetitions copy their operand (a{100} is 100 positions), and matching costs
// time proportional to positions times subject length. Saturates at `limit`+1.
size_t PatternSizeEstimate(std::string_view source, size_t limit) {
  struct Frame {
    size_t total = 0;
    size_t last = 0;  // size of the latest atom, which a quantifier repeats
  };
  auto sat_add = [&](size_t a, size_t b) { return std::min(a + b, limit + 1); };
  auto sat_mul = [&](size_t a, size_t b) {
    return b != 0 && a > (limit + 1) / b ? limit + 1 : std::min(a * b, limit + 1);
  };
  std::vector<Frame> stack(1);
  auto add_atom = [&](size_t size) {
    stack.back().total = sat_add(stack.back().total, size);
    stack.back().last = size;
  };
  auto repeat_last = [&](size_t times) {  // the atom now occurs `times` times
    Frame& f = stack.back();
    const size_t extra = sat_mul(f.last, times > 0 ? times - 1 : 0);
    f.total = sat_add(f.total, extra);
    f.last = sat_mul(f.last, std::max<size_t>(times, 1));
  };
  for (size_t i = 0; i < source.size(); ++i) {
    const char c = source[i];
    if (c == '\\') {
      ++i;
      add_atom(1);
    } else if (c == '[') {
      size_t j = i + 1;
      if (j < source.size() && source[j] == '^') ++j;
      if (j < source.size() && source[j] == ']') ++j;
      while (j < source.size() && source[j] != ']') j += source[j] == '\\' ? 2 : 1;
      i = j;
      add_atom(1);
    } else if (c == '(') {
      stack.emplace_back();
      if (i + 2 < source.size() && source[i + 1] == '?') i += 2;  // (?: (?= (?!
    } else if (c == ')') {
      if (stack.size() > 1) {
        const size_t size = sat_add(stack.back().total, 1);
        stack.pop_back();
        add_atom(size);
      }
    } else if (c == '*' || c == '+' || c == '?') {
      repeat_last(2);
    } else if (c == '{') {
      // {n}, {n,} or {n,m}: the operand occurs up to max(n, m) times ({n,} as n + 1).
      size_t j = i + 1, largest = 0, current = 0;
      bool digits = false;
      while (j < source.size() && (IsAsciiDigit(source[j]) || source[j] == ',')) {
        if (source[j] == ',') {
          largest = std::max(largest, current);
          current = 0;
        } else {
          current = sat_add(sat_mul(current, 10), static_cast<size_t>(source[j] - '0'));
          digits = true;
        }
        ++j;
      }
      if (digits && j < source.size() && source[j] == '}') {
        largest = std::max(largest, current);
        if (source[j - 1] == ',') largest = sat_add(largest, 1);
        repeat_last(largest);
        i = j;
      } else {
        add_atom(1);  // a literal '{'
      }
    } else {
      add_atom(1);
    }
  }
  size_t total = 0;
  for (const Frame& f : stack) total = sat_add(total, f.total);
  return total;
}

StatusOr<std::unique_ptr<std::regex>> CompilePattern(std::string_view source) {
  if (PatternSizeEstimate(source, kMaxPatternPositions) > kMaxPatternPositions) {
    return InvalidArgumentError("expands to more than " + std::to_string(kMaxPatternPositions) +
                                " positions (large counted repetitions); simplify it");
  }
  try {
    std::regex plain(source.begin(), source.end(),
                     kRegexFlags);  // rejects bad syntax exactly as written
    (void)plain;
    std::string wrapped = "[\\s\\S]*(?:";
    wrapped.append(source);
    wrapped.append(")[\\s\\S]*");
    return std::make_unique<std::regex>(wrapped, kRegexFlags);
  } catch (const std::regex_error& e) {
    std::string reason = e.code() == std::regex_constants::error_complexity ||
                                 e.code() == std::regex_constants::error_space
                             ? "too complex or uses back-references, which are not supported"
                             : e.what();
    return InvalidArgumentError(reason);
  } catch (const std::exception& e) {
    return InvalidArgumentError(e.what());
  }
}

// 1 match, 0 no match, -1 could not be evaluated.
int SearchPattern(const std::regex& re, std::string_view s) {
  try {
    return std::regex_match(s.begin(), s.end(), re) ? 1 : 0;
  } catch (...) {
    return -1;
  }
}

// ---------------------------------------------------------------------------
// Record validation

// Per-call state: the JSON pointer of the value being checked (as segments,
// materialized only for an error message) and the error budget.
class ValidationContext {
 public:
  ValidationContext(int64_t now_ms, std::vector<std::string>* errors, size_t max_errors)
      : now_ms_(now_ms), errors_(errors), max_errors_(errors ? max_errors : 0) {}

  int64_t now_ms() const { return now_ms_; }
  bool failed() const { return failed_; }
  bool stopped() const { return stopped_; }
  size_t depth() const { return depth_; }

  void PushKey(std::string_view key) {
    if (depth_ < kMaxPathSegments)
      segments_[depth_] = Segment{key.data() ? key.data() : "", key.size()};
    ++depth_;
  }
  void PushIndex(size_t index) {
    if (depth_ < kMaxPathSegments) segments_[depth_] = Segment{nullptr, index};
    ++depth_;
  }
  void Pop() { --depth_; }

  // Reports the reason `make_reason()` returns. Out of line and cold, so that
  // building messages costs nothing on the path of valid records.
  template <typename MakeReason>
  [[gnu::cold, gnu::noinline]] void FailWith(MakeReason&& make_reason) {
    Fail(make_reason());
  }

 private:
  void Fail(std::string_view reason) {
    failed_ = true;
    if (stopped_) return;
    if (errors_ && appended_ < max_errors_) {
      std::string message = Pointer();
      message.append(": ");
      message.append(reason);
      errors_->push_back(std::move(message));
      ++appended_;
    }
    if (appended_ >= max_errors_) stopped_ = true;
  }

  // Trivial, so that the segment array costs nothing to construct.
  struct Segment {
    const char* key;  // null for an array index
    size_t size_or_index;
  };

  // RFC 6901: "~" is written "~0" and "/" is written "~1".
  std::string Pointer() const {
    std::string out;
    for (size_t i = 0; i < std::min(depth_, kMaxPathSegments); ++i) {
      out.push_back('/');
      const Segment& seg = segments_[i];
      if (!seg.key) {
        out.append(UintText(seg.size_or_index));
        continue;
      }
      const std::string_view full(seg.key, seg.size_or_index);
      const std::string_view key = CutUtf8(full, kMaxPointerSegmentBytes);
      for (char c : key) {
        if (c == '~')
          out.append("~0");
        else if (c == '/')
          out.append("~1");
        else
          out.push_back(c);
      }
      if (key.size() < full.size()) out.append("...");
    }
    return out;
  }

  int64_t now_ms_;
  std::vector<std::string>* errors_;
  size_t max_errors_;
  size_t appended_ = 0;
  bool failed_ = false;
  bool stopped_ = false;
  size_t depth_ = 0;
  std::array<Segment, kMaxPathSegments> segments_;
};

constexpr std::string_view kNullReason = "null is not allowed; omit the field instead";

void ValidateValue(const SchemaNode& node, dom::element value, ValidationContext& ctx);

// A value the schema does not describe (additionalProperties: true, an array
// without items, a map without values): any JSON except null, nested at most
// kMaxRecordDepth levels from the record root.
void ValidateFreeForm(dom::element value, ValidationContext& ctx) {
  switch (value.type()) {
    case ElementType::NULL_VALUE:
      ctx.FailWith([&] { return kNullReason; });
      return;
    case ElementType::ARRAY: {
      dom::array arr;
      if (value.get_array().get(arr)) return;
      if (ctx.depth() >= kMaxRecordDepth && arr.begin() != arr.end()) {
        ctx.FailWith(
            [&] { return "nesting deeper than " + std::to_string(kMaxRecordDepth) + " levels"; });
        return;
      }
      size_t index = 0;
      for (dom::element item : arr) {
        if (ctx.stopped()) return;
        ctx.PushIndex(index++);
        ValidateFreeForm(item, ctx);
        ctx.Pop();
      }
      return;
    }
    case ElementType::OBJECT: {
      dom::object obj;
      if (value.get_object().get(obj)) return;
      if (ctx.depth() >= kMaxRecordDepth && obj.begin() != obj.end()) {
        ctx.FailWith(
            [&] { return "nesting deeper than " + std::to_string(kMaxRecordDepth) + " levels"; });
        return;
      }
      for (dom::key_value_pair kv : obj) {
        if (ctx.stopped()) return;
        ctx.PushKey(kv.key);
        ValidateFreeForm(kv.value, ctx);
        ctx.Pop();
      }
      return;
    }
    default:
      return;
  }
}

void ValidateChild(const SchemaNode* node, dom::element value, ValidationContext& ctx) {
  if (node) {
    ValidateValue(*node, value, ctx);
  } else {
    ValidateFreeForm(value, ctx);
  }
}

// Length and first 6 bytes of a name, read with at most two loads. Equal tags
// mean equal names for names of up to 6 bytes (on little-endian machines, where
// the overlapping loads below place each byte at its own position).
uint64_t NameTag(std::string_view name) {
  const size_t n = name.size();
  const char* p = name.data();
  uint64_t bytes = 0;
  if (n >= 8) {
    std::memcpy(&bytes, p, 8);
  } else if (n >= 4) {
    uint32_t head, tail;
    std::memcpy(&head, p, 4);
    std::memcpy(&tail, p + n - 4, 4);
    bytes = head | (uint64_t{tail} << (8 * (n - 4)));
  } else if (n > 0) {
    auto byte = [&](size_t i) { return uint64_t{static_cast<unsigned char>(p[i])} << (8 * i); };
    bytes = byte(0) | byte(n / 2) | byte(n - 1);
  }
  return (uint64_t{n} << 48) | (bytes & 0xFFFF'FFFF'FFFFull);
}

constexpr bool kTagIdentifiesShortNames = std::endian::native == std::endian::little;

uint64_t TagHash(uint64_t tag) { return (tag * 0x9E3779B97F4A7C15ull) >> 32; }

// Index of the property named `key`, or -1.
int FindProperty(const SchemaNode& node, std::string_view key) {
  if (key.size() > kMaxPropertyNameBytes) return -1;
  const uint64_t tag = NameTag(key);
  const bool tag_is_name = kTagIdentifiesShortNames && key.size() <= 6;
  if (node.lookup.empty()) {
    for (size_t i = 0; i < node.name_tags.size(); ++i) {
      if (node.name_tags[i] == tag && (tag_is_name || node.properties[i].name == key)) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }
  const size_t mask = node.lookup.size() - 1;
  for (size_t slot = TagHash(tag) & mask;; slot = (slot + 1) & mask) {
    const int32_t index = node.lookup[slot];
    if (index < 0) return -1;
    const size_t i = static_cast<size_t>(index);
    if (node.name_tags[i] == tag && (tag_is_name || node.properties[i].name == key)) return index;
  }
}

void ValidateObject(const SchemaNode& node, dom::object obj, ValidationContext& ctx) {
  std::array<uint64_t, kMaxPropertiesPerObject / 64> seen;
  const size_t words = (node.properties.size() + 63) / 64;
  for (size_t w = 0; w < words; ++w) seen[w] = 0;
  for (dom::key_value_pair kv : obj) {
    if (ctx.stopped()) return;
    ctx.PushKey(kv.key);
    const int index = FindProperty(node, kv.key);
    if (index >= 0) {
      const size_t i = static_cast<size_t>(index);
      const uint64_t bit = uint64_t{1} << (i % 64);
      if (seen[i / 64] & bit) {
        ctx.FailWith([&] { return "duplicate field " + Quote(kv.key); });
      } else {
        seen[i / 64] |= bit;
        ValidateValue(*node.properties[i].node, kv.value, ctx);
      }
    } else if (node.additional_properties) {
      ValidateFreeForm(kv.value, ctx);
    } else {
      ctx.FailWith([&] {
        return "unknown field " + Quote(kv.key) + " (allowed: " + JoinNames(node.properties) + ")";
      });
    }
    ctx.Pop();
  }
  for (const uint32_t i : node.required_indexes) {
    if (ctx.stopped()) return;
    const Property& p = node.properties[i];
    if (!(seen[i / 64] & (uint64_t{1} << (i % 64)))) {
      ctx.PushKey(p.name);
      ctx.FailWith([&] { return "required field is missing"; });
      ctx.Pop();
    }
  }
}

bool EnumContains(const SchemaNode& node, dom::element value) {
  const ElementType t = value.type();
  if (t == ElementType::STRING) {
    std::string_view s;
    if (value.get_string().get(s)) return false;
    for (const EnumValue& ev : node.enum_values) {
      if (ev.kind == ElementType::STRING && ev.text == s) return true;
    }
  } else if (t == ElementType::BOOL) {
    bool b = false;
    if (value.get_bool().get(b)) return false;
    for (const EnumValue& ev : node.enum_values) {
      if (ev.kind == ElementType::BOOL && ev.boolean == b) return true;
    }
  } else if (IsNumber(t)) {
    long double n = 0;
    if (!NumberOf(value, &n, nullptr)) return false;
    for (const EnumValue& ev : node.enum_values) {
      if (ev.kind == ElementType::DOUBLE && ev.number == n) return true;
    }
  }
  return false;
}

std::string ValueText(dom::element value) {
  switch (value.type()) {
    case ElementType::STRING: {
      std::string_view s;
      if (value.get_string().get(s)) return "''";
      return Quote(s);
    }
    case ElementType::BOOL: {
      bool b = false;
      if (value.get_bool().get(b)) return "?";
      return b ? "true" : "false";
    }
    default:
      return NumberText(value);
  }
}

// Checks enum membership; false (after reporting) when the value is not listed.
bool CheckEnum(const SchemaNode& node, dom::element value, ValidationContext& ctx) {
  if (node.enum_values.empty() || EnumContains(node, value)) return true;
  ctx.FailWith(
      [&] { return ValueText(value) + " is not one of: " + EnumListText(node.enum_values); });
  return false;
}

void ValidateNumberBounds(const SchemaNode& node, dom::element value, long double v,
                          ValidationContext& ctx) {
  if (node.minimum.set && v < node.minimum.value) {
    ctx.FailWith([&] { return NumberText(value) + " is less than minimum " + node.minimum.text; });
  } else if (node.exclusive_minimum.set && v <= node.exclusive_minimum.value) {
    ctx.FailWith([&] {
      return NumberText(value) + " is not greater than exclusiveMinimum " +
             node.exclusive_minimum.text;
    });
  } else if (node.maximum.set && v > node.maximum.value) {
    ctx.FailWith(
        [&] { return NumberText(value) + " is greater than maximum " + node.maximum.text; });
  } else if (node.exclusive_maximum.set && v >= node.exclusive_maximum.value) {
    ctx.FailWith([&] {
      return NumberText(value) + " is not less than exclusiveMaximum " +
             node.exclusive_maximum.text;
    });
  } else {
    CheckEnum(node, value, ctx);
  }
}

void ValidateInteger(const SchemaNode& node, dom::element value, ValidationContext& ctx) {
  const bool is_long = node.type == FieldType::kLong;
  const int64_t lo =
      is_long ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int32_t>::min();
  const int64_t hi =
      is_long ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int32_t>::max();
  const char* range =
      is_long ? " is out of range for long (64-bit)" : " is out of range for integer (32-bit)";
  long double v = 0;
  switch (value.type()) {
    case ElementType::INT64: {
      int64_t i = 0;
      if (value.get_int64().get(i)) return;
      if (i < lo || i > hi) return ctx.FailWith([&] { return IntText(i) + range; });
      v = static_cast<long double>(i);
      break;
    }
    case ElementType::UINT64:  // simdjson uses UINT64 only above INT64_MAX
      return ctx.FailWith([&] { return NumberText(value) + range; });
    case ElementType::DOUBLE: {
      double d = 0;
      if (value.get_double().get(d)) return;
      if (std::trunc(d) != d)
        return ctx.FailWith([&] { return "expected integer, got " + DoubleText(d); });
      // 2^63 is exactly representable; int64 covers [-2^63, 2^63).
      const bool in_range = is_long
                                ? (d >= -9223372036854775808.0 && d < 9223372036854775808.0)
                                : (d >= static_cast<double>(lo) && d <= static_cast<double>(hi));
      if (!in_range) return ctx.FailWith([&] { return DoubleText(d) + range; });
      v = d;
      break;
    }
    default:
      return ctx.FailWith([&] {
        return std::string("expected ") + std::string(TypeName(node.type)) + ", got " +
               std::string(JsonTypeName(value.type()));
      });
  }
  ValidateNumberBounds(node, value, v, ctx);
}

void ValidateString(const SchemaNode& node, dom::element value, ValidationContext& ctx) {
  std::string_view s;
  if (value.type() != ElementType::STRING || value.get_string().get(s)) {
    return ctx.FailWith([&] {
      const std::string_view expected = node.type == FieldType::kDate ? "date string (YYYY-MM-DD)"
                                        : node.type == FieldType::kDateTime
                                            ? "date-time string (RFC 3339)"
                                            : "string";
      return "expected " + std::string(expected) + ", got " +
             std::string(JsonTypeName(value.type()));
    });
  }
  // A code point takes 1 to 4 bytes, so the byte count often settles both
  // limits without counting.
  const bool count_needed =
      (node.max_length >= 0 && s.size() > static_cast<uint64_t>(node.max_length)) ||
      (node.min_length >= 0 && s.size() < 4 * static_cast<uint64_t>(node.min_length));
  if (count_needed) {
    const size_t n = CodePoints(s);
    if (node.min_length >= 0 && n < static_cast<uint64_t>(node.min_length)) {
      return ctx.FailWith([&] {
        return "string has " + std::to_string(n) + " characters, fewer than minLength " +
               std::to_string(node.min_length);
      });
    }
    if (node.max_length >= 0 && n > static_cast<uint64_t>(node.max_length)) {
      return ctx.FailWith([&] {
        return "string has " + std::to_string(n) + " characters, more than maxLength " +
               std::to_string(node.max_length);
      });
    }
  }
  int64_t timestamp_ms = 0;
  if (node.type == FieldType::kDate) {
    if (!IsDate(s))
      return ctx.FailWith([&] { return Quote(s) + " is not a valid date (YYYY-MM-DD)"; });
  } else if (node.type == FieldType::kDateTime) {
    auto ms = ParseDateTimeMillis(s);
    if (!ms) return ctx.FailWith([&] { return Quote(s) + " is not a valid RFC 3339 date-time"; });
    timestamp_ms = *ms;
  } else if (!MatchesFormat(node.format, s)) {
    return ctx.FailWith(
        [&] { return Quote(s) + " is not a valid " + std::string(FormatName(node.format)); });
  }
  if (node.pattern) {
    const int m = SearchPattern(*node.pattern, s);
    if (m == 0)
      return ctx.FailWith(
          [&] { return Quote(s) + " does not match pattern " + Quote(node.pattern_source); });
    if (m < 0)
      return ctx.FailWith([&] {
        return "pattern " + Quote(node.pattern_source) + " could not be evaluated on this value";
      });
  }
  if (!CheckEnum(node, value, ctx)) return;
  if (node.identity_value && !IsIdentityString(s)) {
    return ctx.FailWith([&] { return Quote(s) + " is not an identity of the form NS:ID"; });
  }
  if (node.not_in_future && timestamp_ms > ctx.now_ms() + kMaxFutureSkewMs) {
    return ctx.FailWith([&] { return Truncated(s) + " is in the future"; });
  }
}

void ValidateArray(const SchemaNode& node, dom::array arr, ValidationContext& ctx) {
  const size_t n = arr.size();
  if (node.min_items >= 0 && n < static_cast<uint64_t>(node.min_items)) {
    ctx.FailWith([&] {
      return "array has " + std::to_string(n) + " items, fewer than minItems " +
             std::to_string(node.min_items);
    });
  } else if (node.max_items >= 0 && n > static_cast<uint64_t>(node.max_items)) {
    ctx.FailWith([&] {
      return "array has " + std::to_string(n) + " items, more than maxItems " +
             std::to_string(node.max_items);
    });
  }
  size_t index = 0;
  for (dom::element item : arr) {
    if (ctx.stopped()) return;
    ctx.PushIndex(index++);
    ValidateChild(node.items.get(), item, ctx);
    ctx.Pop();
  }
}

void ValidateMap(const SchemaNode& node, dom::object obj, ValidationContext& ctx) {
  if (node.require_one_identity && obj.begin() == obj.end()) {
    return ctx.FailWith([&] { return "must contain at least one identity"; });
  }
  for (dom::key_value_pair kv : obj) {
    if (ctx.stopped()) return;
    ctx.PushKey(kv.key);
    if (node.identity_namespaces && kv.key.empty()) {
      ctx.FailWith([&] { return "namespace must not be empty"; });
    } else if (node.identity_namespaces && kv.key.find(':') != std::string_view::npos) {
      ctx.FailWith([&] { return "namespace must not contain ':'"; });
    } else {
      ValidateChild(node.values.get(), kv.value, ctx);
    }
    ctx.Pop();
  }
}

void ValidateValue(const SchemaNode& node, dom::element value, ValidationContext& ctx) {
  const ElementType t = value.type();
  if (t == ElementType::NULL_VALUE) return ctx.FailWith([&] { return kNullReason; });
  switch (node.type) {
    case FieldType::kString:
    case FieldType::kDate:
    case FieldType::kDateTime:
      return ValidateString(node, value, ctx);
    case FieldType::kInteger:
    case FieldType::kLong:
      return ValidateInteger(node, value, ctx);
    case FieldType::kNumber: {
      long double v = 0;
      if (!IsNumber(t))
        return ctx.FailWith([&] { return "expected number, got " + std::string(JsonTypeName(t)); });
      if (!NumberOf(value, &v, nullptr))
        return ctx.FailWith([&] { return "expected a finite number"; });
      return ValidateNumberBounds(node, value, v, ctx);
    }
    case FieldType::kBoolean:
      if (t != ElementType::BOOL)
        return ctx.FailWith(
            [&] { return "expected boolean, got " + std::string(JsonTypeName(t)); });
      CheckEnum(node, value, ctx);
      return;
    case FieldType::kEnum:
      if (t == ElementType::ARRAY || t == ElementType::OBJECT) {
        return ctx.FailWith([&] {
          return "expected one of: " + EnumListText(node.enum_values) + ", got " +
                 std::string(JsonTypeName(t));
        });
      }
      CheckEnum(node, value, ctx);
      return;
    case FieldType::kObject: {
      dom::object obj;
      if (t != ElementType::OBJECT || value.get_object().get(obj)) {
        return ctx.FailWith([&] { return "expected object, got " + std::string(JsonTypeName(t)); });
      }
      return ValidateObject(node, obj, ctx);
    }
    case FieldType::kArray: {
      dom::array arr;
      if (t != ElementType::ARRAY || value.get_array().get(arr)) {
        return ctx.FailWith([&] { return "expected array, got " + std::string(JsonTypeName(t)); });
      }
      return ValidateArray(node, arr, ctx);
    }
    case FieldType::kMap: {
      dom::object obj;
      if (t != ElementType::OBJECT || value.get_object().get(obj)) {
        return ctx.FailWith(
            [&] { return "expected map (a JSON object), got " + std::string(JsonTypeName(t)); });
      }
      return ValidateMap(node, obj, ctx);
    }
  }
}

// ---------------------------------------------------------------------------
// Definition parsing

bool IsAnnotation(std::string_view key) {
  return key == "description" || key == "title" || key == "$comment" || key.starts_with("meta:");
}

// Keys of one definition object, in document order, without duplicates.
class Keywords {
 public:
  Status Load(dom::object obj, const std::string& where) {
    for (dom::key_value_pair kv : obj) {
      if (Find(kv.key))
        return InvalidArgumentError(where + ": duplicate keyword '" + std::string(kv.key) + "'");
      entries_.emplace_back(kv.key, kv.value);
    }
    return OkStatus();
  }
  const dom::element* Find(std::string_view key) const {
    for (const auto& [k, v] : entries_) {
      if (k == key) return &v;
    }
    return nullptr;
  }
  const std::vector<std::pair<std::string_view, dom::element>>& entries() const { return entries_; }

 private:
  std::vector<std::pair<std::string_view, dom::element>> entries_;
};

// Collects annotations (description, title, $comment: strings; meta:*: any JSON).
Status ParseAnnotations(const Keywords& kw, const std::string& where,
                        std::vector<std::pair<std::string, std::string>>* out) {
  for (const auto& [key, value] : kw.entries()) {
    if (!IsAnnotation(key)) continue;
    if (!key.starts_with("meta:")) {
      std::string_view s;
      if (value.type() != ElementType::STRING || value.get_string().get(s)) {
        return InvalidArgumentError(where + ": '" + std::string(key) + "' must be a string");
      }
      out->emplace_back(std::string(key), JsonString(s));
    } else {
      out->emplace_back(std::string(key), simdjson::minify(value));
    }
  }
  std::sort(out->begin(), out->end());
  return OkStatus();
}

// "properties.a.b" for a field path "a.b"; the root is "schema".
std::string Where(const std::string& path) {
  return path.empty() ? "schema" : "properties." + path;
}

Status CheckPropertyName(std::string_view name, const std::string& where) {
  bool ok = !name.empty() && name.size() <= kMaxPropertyNameBytes;
  for (char c : name) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F || c == '.' || c == '"') ok = false;
  }
  if (!ok) {
    return InvalidArgumentError(where + ": invalid property name " + Quote(name) +
                                " (names are 1-" + std::to_string(kMaxPropertyNameBytes) +
                                " bytes without '.', '\"' or control characters)");
  }
  return OkStatus();
}

class DefinitionParser {
 public:
  // Parses one field definition at `path` ("a.b", "tags[]", "attrs.*"), `level`
  // levels below the record root.
  Status ParseField(dom::element def, const std::string& path, int level, SchemaNode* node);

  // Parses "properties" and "required" of an object (the root has path "").
  Status ParseProperties(const dom::element* properties, const dom::element* required,
                         const std::string& path, int level, SchemaNode* node);

 private:
  Status ParseCount(const Keywords& kw, std::string_view key, const std::string& where,
                    int64_t* out, SchemaNode* node);
  Status ParseBound(const Keywords& kw, std::string_view key, const std::string& where, Bound* out,
                    SchemaNode* node);
  Status ParseEnum(const dom::element& list, const std::string& where, SchemaNode* node);

  size_t fields_ = 0;
};

Status DefinitionParser::ParseCount(const Keywords& kw, std::string_view key,
                                    const std::string& where, int64_t* out, SchemaNode* node) {
  const dom::element* e = kw.Find(key);
  if (!e) return OkStatus();
  int64_t v = 0;
  if (e->type() != ElementType::INT64 || e->get_int64().get(v) || v < 0) {
    return InvalidArgumentError(where + ": " + std::string(key) +
                                " must be a non-negative integer");
  }
  *out = v;
  node->constraints.emplace_back(std::string(key), IntText(v));
  return OkStatus();
}

Status DefinitionParser::ParseBound(const Keywords& kw, std::string_view key,
                                    const std::string& where, Bound* out, SchemaNode* node) {
  const dom::element* e = kw.Find(key);
  if (!e) return OkStatus();
  if (!NumberOf(*e, &out->value, &out->text)) {
    return InvalidArgumentError(where + ": " + std::string(key) + " must be a number");
  }
  out->set = true;
  node->constraints.emplace_back(std::string(key), out->text);
  return OkStatus();
}

Status DefinitionParser::ParseEnum(const dom::element& list, const std::string& where,
                                   SchemaNode* node) {
  dom::array arr;
  if (list.type() != ElementType::ARRAY || list.get_array().get(arr) || arr.size() == 0) {
    return InvalidArgumentError(where + ": enum must be a non-empty array");
  }
  std::string canonical = "[";
  std::vector<EnumValue> values;
  size_t index = 0;
  for (dom::element v : arr) {
    const std::string at = where + ": enum[" + std::to_string(index) + "]";
    EnumValue ev;
    const ElementType t = v.type();
    if (t == ElementType::STRING) {
      std::string_view s;
      if (v.get_string().get(s)) return InvalidArgumentError(at + " is not a valid string");
      ev.kind = ElementType::STRING;
      ev.text.assign(s);
    } else if (t == ElementType::BOOL) {
      if (v.get_bool().get(ev.boolean)) return InvalidArgumentError(at + " is not a valid boolean");
      ev.kind = ElementType::BOOL;
      ev.text = ev.boolean ? "true" : "false";
    } else if (IsNumber(t)) {
      ev.kind = ElementType::DOUBLE;
      if (!NumberOf(v, &ev.number, &ev.text))
        return InvalidArgumentError(at + " is not a finite number");
    } else {
      return InvalidArgumentError(at + " must be a string, number or boolean, not " +
                                  std::string(JsonTypeName(t)));
    }
    // A typed enum lists values of its type: check each against the field's
    // other rules (node->enum_values is still empty here).
    if (node->type != FieldType::kEnum) {
      std::vector<std::string> errors;
      ValidationContext ctx(0, &errors, 1);
      ValidateValue(*node, v, ctx);
      if (ctx.failed()) {
        const std::string reason =
            errors.empty() ? "invalid" : errors[0].substr(2);  // drop the ": " of the empty pointer
        return InvalidArgumentError(at + " does not fit the field: " + reason);
      }
    }
    for (const EnumValue& other : values) {
      if (other.kind == ev.kind && other.text == ev.text && other.number == ev.number) {
        return InvalidArgumentError(at + " repeats " +
                                    (ev.kind == ElementType::STRING ? Quote(ev.text) : ev.text));
      }
    }
    if (index++) canonical.push_back(',');
    canonical.append(ev.kind == ElementType::STRING ? JsonString(ev.text) : ev.text);
    values.push_back(std::move(ev));
  }
  node->enum_values = std::move(values);
  canonical.push_back(']');
  node->constraints.emplace_back("enum", std::move(canonical));
  return OkStatus();
}

Status DefinitionParser::ParseField(dom::element def, const std::string& path, int level,
                                    SchemaNode* node) {
  const std::string where = Where(path);
  if (level > kMaxSchemaDepth) {
    return InvalidArgumentError(where + ": nested deeper than " + std::to_string(kMaxSchemaDepth) +
                                " levels");
  }
  if (++fields_ > kMaxSchemaFields) {
    return InvalidArgumentError(where + ": more than " + std::to_string(kMaxSchemaFields) +
                                " fields in the schema");
  }
  dom::object obj;
  if (def.type() != ElementType::OBJECT || def.get_object().get(obj)) {
    return InvalidArgumentError(where + ": a field definition must be a JSON object");
  }
  Keywords kw;
  RETURN_IF_ERROR(kw.Load(obj, where));

  const dom::element* type_el = kw.Find("type");
  std::string_view type_name;
  if (!type_el) return InvalidArgumentError(where + ": missing 'type'");
  if (type_el->type() != ElementType::STRING || type_el->get_string().get(type_name)) {
    return InvalidArgumentError(where + ": 'type' must be a string");
  }
  std::string_view format_name;
  if (const dom::element* f = kw.Find("format")) {
    if (f->type() != ElementType::STRING || f->get_string().get(format_name)) {
      return InvalidArgumentError(where + ": 'format' must be a string");
    }
  }
  const dom::element* additional = kw.Find("additionalProperties");
  bool object_as_map = false;

  if (type_name == "string") {
    node->type = format_name == "date"        ? FieldType::kDate
                 : format_name == "date-time" ? FieldType::kDateTime
                                              : FieldType::kString;
  } else if (type_name == "integer") {
    node->type = FieldType::kInteger;
  } else if (type_name == "long") {
    node->type = FieldType::kLong;
  } else if (type_name == "number" || type_name == "double") {
    node->type = FieldType::kNumber;
  } else if (type_name == "boolean") {
    node->type = FieldType::kBoolean;
  } else if (type_name == "date") {
    node->type = FieldType::kDate;
  } else if (type_name == "date-time") {
    node->type = FieldType::kDateTime;
  } else if (type_name == "object") {
    object_as_map = additional && additional->type() == ElementType::OBJECT;
    node->type = object_as_map ? FieldType::kMap : FieldType::kObject;
  } else if (type_name == "array") {
    node->type = FieldType::kArray;
  } else if (type_name == "map") {
    node->type = FieldType::kMap;
  } else if (type_name == "enum") {
    node->type = FieldType::kEnum;
  } else {
    return InvalidArgumentError(
        where + ": unknown type " + Quote(type_name) +
        " (use string, integer, long, number, double, boolean, date, date-time, "
        "object, array, map or enum)");
  }

  // Keywords each type accepts, besides type and annotations.
  static constexpr std::string_view kStringKeys[] = {"format", "minLength", "maxLength", "pattern",
                                                     "enum"};
  static constexpr std::string_view kNumberKeys[] = {"minimum", "maximum", "exclusiveMinimum",
                                                     "exclusiveMaximum", "enum"};
  static constexpr std::string_view kBooleanKeys[] = {"enum"};
  static constexpr std::string_view kObjectKeys[] = {"properties", "required",
                                                     "additionalProperties"};
  static constexpr std::string_view kArrayKeys[] = {"items", "minItems", "maxItems"};
  static constexpr std::string_view kMapKeys[] = {"values"};
  static constexpr std::string_view kObjectMapKeys[] = {"additionalProperties"};
  std::span<const std::string_view> allowed;
  switch (node->type) {
    case FieldType::kString:
    case FieldType::kDate:
    case FieldType::kDateTime:
      allowed = kStringKeys;
      break;
    case FieldType::kInteger:
    case FieldType::kLong:
    case FieldType::kNumber:
      allowed = kNumberKeys;
      break;
    case FieldType::kBoolean:
    case FieldType::kEnum:
      allowed = kBooleanKeys;
      break;
    case FieldType::kObject:
      allowed = kObjectKeys;
      break;
    case FieldType::kArray:
      allowed = kArrayKeys;
      break;
    case FieldType::kMap:
      allowed = object_as_map ? std::span<const std::string_view>(kObjectMapKeys) : kMapKeys;
      break;
  }
  static constexpr std::string_view kAllKeys[] = {"format",
                                                  "minLength",
                                                  "maxLength",
                                                  "pattern",
                                                  "enum",
                                                  "minimum",
                                                  "maximum",
                                                  "exclusiveMinimum",
                                                  "exclusiveMaximum",
                                                  "properties",
                                                  "required",
                                                  "additionalProperties",
                                                  "items",
                                                  "minItems",
                                                  "maxItems",
                                                  "values"};
  for (const auto& [key, value] : kw.entries()) {
    if (key == "type" || IsAnnotation(key)) continue;
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    if (object_as_map && (key == "properties" || key == "required")) {
      return InvalidArgumentError(
          where + ": an object whose additionalProperties is a schema is a map and " +
          "cannot also declare '" + std::string(key) + "'");
    }
    if (std::find(std::begin(kAllKeys), std::end(kAllKeys), key) != std::end(kAllKeys)) {
      return InvalidArgumentError(where + ": keyword '" + std::string(key) +
                                  "' does not apply to type " + std::string(type_name));
    }
    return InvalidArgumentError(where + ": unknown keyword " + Quote(key));
  }

  switch (node->type) {
    case FieldType::kString:
    case FieldType::kDate:
    case FieldType::kDateTime: {
      if (!format_name.empty()) {
        if (format_name == "email")
          node->format = Format::kEmail;
        else if (format_name == "uri")
          node->format = Format::kUri;
        else if (format_name == "uuid")
          node->format = Format::kUuid;
        else if (format_name == "ipv4")
          node->format = Format::kIpv4;
        else if (format_name == "date" || format_name == "date-time") {
          if (format_name != TypeName(node->type)) {
            return InvalidArgumentError(where + ": format '" + std::string(format_name) +
                                        "' conflicts with type " + std::string(type_name));
          }
        } else {
          return InvalidArgumentError(where + ": unknown format " + Quote(format_name) +
                                      " (use email, uri, uuid, date, date-time or ipv4)");
        }
        if (node->format != Format::kNone) {
          if (node->type != FieldType::kString) {
            return InvalidArgumentError(where + ": format '" + std::string(format_name) +
                                        "' conflicts with type " + std::string(type_name));
          }
          node->constraints.emplace_back("format", JsonString(format_name));
        }
      }
      RETURN_IF_ERROR(ParseCount(kw, "minLength", where, &node->min_length, node));
      RETURN_IF_ERROR(ParseCount(kw, "maxLength", where, &node->max_length, node));
      if (node->min_length >= 0 && node->max_length >= 0 && node->min_length > node->max_length) {
        return InvalidArgumentError(where + ": minLength " + std::to_string(node->min_length) +
                                    " is greater than maxLength " +
                                    std::to_string(node->max_length));
      }
      if (const dom::element* p = kw.Find("pattern")) {
        std::string_view source;
        if (p->type() != ElementType::STRING || p->get_string().get(source)) {
          return InvalidArgumentError(where + ": pattern must be a string");
        }
        if (source.size() > kMaxPatternBytes) {
          return InvalidArgumentError(where + ": pattern is longer than " +
                                      std::to_string(kMaxPatternBytes) + " bytes");
        }
        auto compiled = CompilePattern(source);
        if (!compiled.ok()) {
          return InvalidArgumentError(where + ": invalid pattern " + Quote(source) + ": " +
                                      compiled.status().message());
        }
        node->pattern = std::move(compiled).value();
        node->pattern_source.assign(source);
        node->constraints.emplace_back("pattern", JsonString(source));
      }
      break;
    }
    case FieldType::kInteger:
    case FieldType::kLong:
    case FieldType::kNumber: {
      RETURN_IF_ERROR(ParseBound(kw, "minimum", where, &node->minimum, node));
      RETURN_IF_ERROR(ParseBound(kw, "exclusiveMinimum", where, &node->exclusive_minimum, node));
      RETURN_IF_ERROR(ParseBound(kw, "maximum", where, &node->maximum, node));
      RETURN_IF_ERROR(ParseBound(kw, "exclusiveMaximum", where, &node->exclusive_maximum, node));
      if (node->minimum.set && node->maximum.set && node->minimum.value > node->maximum.value) {
        return InvalidArgumentError(where + ": minimum " + node->minimum.text +
                                    " is greater than maximum " + node->maximum.text);
      }
      break;
    }
    case FieldType::kObject: {
      bool open = false;
      if (additional &&
          (additional->type() != ElementType::BOOL || additional->get_bool().get(open))) {
        return InvalidArgumentError(
            where + ": additionalProperties must be true, false or a schema (map values)");
      }
      node->additional_properties = open;
      node->constraints.emplace_back("additionalProperties", open ? "true" : "false");
      RETURN_IF_ERROR(
          ParseProperties(kw.Find("properties"), kw.Find("required"), path, level, node));
      break;
    }
    case FieldType::kArray: {
      RETURN_IF_ERROR(ParseCount(kw, "minItems", where, &node->min_items, node));
      RETURN_IF_ERROR(ParseCount(kw, "maxItems", where, &node->max_items, node));
      if (node->min_items >= 0 && node->max_items >= 0 && node->min_items > node->max_items) {
        return InvalidArgumentError(where + ": minItems " + std::to_string(node->min_items) +
                                    " is greater than maxItems " + std::to_string(node->max_items));
      }
      if (const dom::element* items = kw.Find("items")) {
        node->items = std::make_unique<SchemaNode>();
        RETURN_IF_ERROR(ParseField(*items, path + "[]", level + 1, node->items.get()));
      }
      break;
    }
    case FieldType::kMap: {
      const dom::element* values = object_as_map ? additional : kw.Find("values");
      if (values) {
        node->values = std::make_unique<SchemaNode>();
        RETURN_IF_ERROR(ParseField(*values, path + ".*", level + 1, node->values.get()));
      }
      break;
    }
    case FieldType::kBoolean:
    case FieldType::kEnum:
      break;
  }

  if (const dom::element* list = kw.Find("enum")) {
    RETURN_IF_ERROR(ParseEnum(*list, where, node));
  } else if (node->type == FieldType::kEnum) {
    return InvalidArgumentError(where + ": type enum needs an 'enum' list of values");
  }
  return ParseAnnotations(kw, where, &node->annotations);
}

Status DefinitionParser::ParseProperties(const dom::element* properties,
                                         const dom::element* required, const std::string& path,
                                         int level, SchemaNode* node) {
  const std::string where = Where(path);
  const std::string props_where = path.empty() ? "properties" : where;
  if (properties) {
    dom::object obj;
    if (properties->type() != ElementType::OBJECT || properties->get_object().get(obj)) {
      return InvalidArgumentError(props_where + ": properties must be a JSON object");
    }
    for (dom::key_value_pair kv : obj) {
      const std::string child_path =
          path.empty() ? std::string(kv.key) : path + "." + std::string(kv.key);
      RETURN_IF_ERROR(CheckPropertyName(kv.key, props_where));
      for (const Property& p : node->properties) {
        if (p.name == kv.key) {
          if (p.implicit) {
            return InvalidArgumentError(Where(child_path) + ": '" + p.name +
                                        "' is defined by the schema class and cannot be redefined");
          }
          return InvalidArgumentError(Where(child_path) + ": duplicate property");
        }
      }
      if (node->properties.size() == kMaxPropertiesPerObject) {
        return InvalidArgumentError(props_where + ": more than " +
                                    std::to_string(kMaxPropertiesPerObject) +
                                    " properties in one object");
      }
      Property prop;
      prop.name.assign(kv.key);
      prop.node = std::make_unique<SchemaNode>();
      RETURN_IF_ERROR(ParseField(kv.value, child_path, level + 1, prop.node.get()));
      node->properties.push_back(std::move(prop));
    }
  }
  if (required) {
    const std::string req_where = path.empty() ? "required" : where + ".required";
    dom::array arr;
    if (required->type() != ElementType::ARRAY || required->get_array().get(arr)) {
      return InvalidArgumentError(req_where + ": must be an array of property names");
    }
    std::vector<std::string_view> seen;
    for (dom::element e : arr) {
      std::string_view name;
      if (e.type() != ElementType::STRING || e.get_string().get(name)) {
        return InvalidArgumentError(req_where + ": must be an array of property names");
      }
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
        return InvalidArgumentError(req_where + ": " + Quote(name) + " is listed twice");
      }
      seen.push_back(name);
      auto it = std::find_if(node->properties.begin(), node->properties.end(),
                             [&](const Property& p) { return p.name == name; });
      if (it == node->properties.end()) {
        return InvalidArgumentError(req_where + ": " + Quote(name) + " is not a declared property");
      }
      it->required = true;
    }
  }
  node->name_tags.clear();
  node->required_indexes.clear();
  for (size_t i = 0; i < node->properties.size(); ++i) {
    node->name_tags.push_back(NameTag(node->properties[i].name));
    if (node->properties[i].required) node->required_indexes.push_back(static_cast<uint32_t>(i));
  }
  node->lookup.clear();
  if (node->properties.size() > kLinearLookupMax) {
    size_t size = 8;
    while (size < 2 * node->properties.size()) size *= 2;
    node->lookup.assign(size, -1);
    for (size_t i = 0; i < node->properties.size(); ++i) {
      size_t slot = TagHash(node->name_tags[i]) & (size - 1);
      while (node->lookup[slot] >= 0) slot = (slot + 1) & (size - 1);
      node->lookup[slot] = static_cast<int32_t>(i);
    }
  }
  return OkStatus();
}

// Class-defined fields, parsed from these definitions by the same parser.
constexpr std::string_view kIdDefinition = R"({"type":"string","minLength":1,"maxLength":256})";
constexpr std::string_view kTimestampDefinition = R"({"type":"date-time"})";
constexpr std::string_view kEventTypeDefinition = R"({"type":"string","minLength":1})";
constexpr std::string_view kIdentityMapDefinition = R"({"type":"map","values":{
  "type":"array","minItems":1,"items":{"type":"object","required":["id"],"properties":{
    "id":{"type":"string","minLength":1},
    "primary":{"type":"boolean"},
    "authenticatedState":{"type":"enum","enum":["ambiguous","authenticated","loggedOut"]}}}}})";

Status AddImplicitField(std::string_view name, std::string_view definition, bool required,
                        SchemaNode* root, SchemaNode** added) {
  dom::parser parser;
  dom::element def;
  if (auto e = parser.parse(definition.data(), definition.size()).get(def)) {
    return InternalError("class field definition: " + std::string(simdjson::error_message(e)));
  }
  Property prop;
  prop.name.assign(name);
  prop.node = std::make_unique<SchemaNode>();
  prop.required = required;
  prop.implicit = true;
  prop.required_by_class = required;
  DefinitionParser parser_of_fields;
  RETURN_IF_ERROR(parser_of_fields.ParseField(def, std::string(name), 1, prop.node.get()));
  if (added) *added = prop.node.get();
  root->properties.push_back(std::move(prop));
  return OkStatus();
}

// ---------------------------------------------------------------------------
// Canonical JSON, columns and evolution

void WriteNode(const SchemaNode& node, JsonWriter& w);

void WriteObjectBody(const SchemaNode& node, JsonWriter& w, bool root) {
  bool any_required = false;
  for (const Property& p : node.properties) {
    const bool listed = p.implicit ? (p.required && !p.required_by_class) : p.required;
    if (!listed) continue;
    if (!any_required) {
      w.Key("required");
      w.BeginArray();
      any_required = true;
    }
    w.String(p.name);
  }
  if (any_required) w.EndArray();
  w.Key("properties");
  w.BeginObject();
  for (const Property& p : node.properties) {
    if (root && p.implicit) continue;
    w.Key(p.name);
    WriteNode(*p.node, w);
  }
  w.EndObject();
}

void WriteNode(const SchemaNode& node, JsonWriter& w) {
  w.BeginObject();
  w.Key("type");
  w.String(TypeName(node.type));
  for (const auto& [key, json] : node.constraints) {
    w.Key(key);
    w.Raw(json);
  }
  if (node.type == FieldType::kObject) WriteObjectBody(node, w, false);
  if (node.items) {
    w.Key("items");
    WriteNode(*node.items, w);
  }
  if (node.values) {
    w.Key("values");
    WriteNode(*node.values, w);
  }
  for (const auto& [key, json] : node.annotations) {
    w.Key(key);
    w.Raw(json);
  }
  w.EndObject();
}

std::string_view SqlType(const SchemaNode& node) {
  switch (node.type) {
    case FieldType::kInteger:
    case FieldType::kLong:
    case FieldType::kBoolean:
      return "INTEGER";
    case FieldType::kNumber:
      return "REAL";
    case FieldType::kEnum: {
      bool all_bool = true, all_int = true, all_number = true;
      for (const EnumValue& v : node.enum_values) {
        all_bool &= v.kind == ElementType::BOOL;
        all_number &= v.kind == ElementType::DOUBLE;
        all_int &= v.kind == ElementType::DOUBLE && std::trunc(v.number) == v.number &&
                   std::fabs(v.number) < 9.2e18L;
      }
      if (all_bool || all_int) return "INTEGER";
      return all_number ? "REAL" : "TEXT";
    }
    default:
      return "TEXT";
  }
}

// SQLite JSON path step: bare when the key is an identifier, else quoted.
void AppendJsonPathStep(std::string_view key, std::string* out) {
  bool bare = !key.empty() && !IsAsciiDigit(key[0]);
  for (char c : key) bare &= IsAsciiAlnum(c) || c == '_';
  out->push_back('.');
  if (bare) {
    out->append(key);
  } else {
    out->push_back('"');
    out->append(key);
    out->push_back('"');
  }
}

void CollectColumns(const SchemaNode& node, const std::string& path, const std::string& json_path,
                    std::vector<FieldColumn>* out) {
  for (const Property& p : node.properties) {
    FieldColumn col;
    col.path = path.empty() ? p.name : path + "." + p.name;
    col.json_path = json_path;
    AppendJsonPathStep(p.name, &col.json_path);
    col.sql_type = SqlType(*p.node);
    out->push_back(col);
    if (p.node->type == FieldType::kObject) CollectColumns(*p.node, col.path, col.json_path, out);
  }
}

std::string_view ConstraintValue(const SchemaNode& node, std::string_view key) {
  for (const auto& [k, v] : node.constraints) {
    if (k == key) return v;
  }
  return "none";
}

Status CompareNodes(const SchemaNode& old_node, const SchemaNode& new_node,
                    const std::string& path);

Status CompareChild(const SchemaNode* old_child, const SchemaNode* new_child,
                    std::string_view keyword, const std::string& path,
                    const std::string& child_path) {
  if (!old_child && !new_child) return OkStatus();
  if (!old_child || !new_child) {
    return ConflictError("field '" + path + "': " + std::string(keyword) + " changed from " +
                         std::string(old_child ? TypeName(old_child->type) : "any") + " to " +
                         std::string(new_child ? TypeName(new_child->type) : "any"));
  }
  return CompareNodes(*old_child, *new_child, child_path);
}

Status CompareProperties(const SchemaNode& old_node, const SchemaNode& new_node,
                         const std::string& path) {
  auto field = [&](const std::string& name) { return path.empty() ? name : path + "." + name; };
  for (const Property& op : old_node.properties) {
    const int index = FindProperty(new_node, op.name);
    if (index < 0) return ConflictError("field '" + field(op.name) + "': cannot be removed");
    const Property& np = new_node.properties[static_cast<size_t>(index)];
    RETURN_IF_ERROR(CompareNodes(*op.node, *np.node, field(op.name)));
    if (np.required && !op.required)
      return ConflictError("field '" + field(op.name) + "': cannot become required");
  }
  for (const Property& np : new_node.properties) {
    if (np.required && FindProperty(old_node, np.name) < 0) {
      return ConflictError("field '" + field(np.name) +
                           "': a new field cannot be required (add it as optional)");
    }
  }
  return OkStatus();
}

Status CompareNodes(const SchemaNode& old_node, const SchemaNode& new_node,
                    const std::string& path) {
  const std::string name = path.empty() ? "schema" : "field '" + path + "'";
  if (old_node.type != new_node.type) {
    return ConflictError(name + ": type changed from " + std::string(TypeName(old_node.type)) +
                         " to " + std::string(TypeName(new_node.type)));
  }
  // Constraint keywords appear in a fixed order; report the first that differs.
  for (const auto* list : {&old_node.constraints, &new_node.constraints}) {
    for (const auto& [key, ignored] : *list) {
      const std::string_view before = ConstraintValue(old_node, key);
      const std::string_view after = ConstraintValue(new_node, key);
      if (before != after) {
        return ConflictError(name + ": " + key + " changed from " + Truncated(before) + " to " +
                             Truncated(after));
      }
    }
  }
  RETURN_IF_ERROR(CompareProperties(old_node, new_node, path));
  RETURN_IF_ERROR(
      CompareChild(old_node.items.get(), new_node.items.get(), "items", path, path + "[]"));
  return CompareChild(old_node.values.get(), new_node.values.get(), "values", path, path + ".*");
}

bool IsValidSchemaName(std::string_view name) {
  if (name.empty() || name.size() > 128 || !IsAsciiAlnum(name[0])) return false;
  for (char c : name) {
    if (!IsAsciiAlnum(c) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------
// Public functions

std::string_view SchemaClassName(SchemaClass schema_class) {
  switch (schema_class) {
    case SchemaClass::kExperienceEvent:
      return "experience-event";
    case SchemaClass::kProfile:
      return "profile";
    case SchemaClass::kAdhoc:
      return "adhoc";
  }
  return "adhoc";
}

std::optional<SchemaClass> SchemaClassFromName(std::string_view name) {
  if (name == "experience-event") return SchemaClass::kExperienceEvent;
  if (name == "profile") return SchemaClass::kProfile;
  if (name == "adhoc") return SchemaClass::kAdhoc;
  return std::nullopt;
}

// RFC 3339 section 5.6: date "T" time (fraction optional) then "Z" or an
// offset; "t"/"z" accepted as the RFC allows. A leap second (:60) is accepted
// only at 23:59 UTC and counts as :59.999.
std::optional<int64_t> ParseDateTimeMillis(std::string_view s) {
  int year, month, day, hour, minute, second;
  if (!ParseDatePrefix(s, &year, &month, &day)) return std::nullopt;
  if (s.size() < 20 || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
    return std::nullopt;
  if (!ReadDigits(s, 11, 2, &hour) || !ReadDigits(s, 14, 2, &minute) ||
      !ReadDigits(s, 17, 2, &second)) {
    return std::nullopt;
  }
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
  size_t pos = 19;
  int64_t millis = 0;
  if (s[pos] == '.') {
    const size_t start = ++pos;
    int64_t scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      millis += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  if (pos >= s.size()) return std::nullopt;
  int offset_minutes = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (pos + 6 != s.size() || s[pos + 3] != ':' || !ReadDigits(s, pos + 1, 2, &oh) ||
        !ReadDigits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = (s[pos] == '-' ? -1 : 1) * (oh * 60 + om);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  if (second == 60) {
    const int utc_minute = ((hour * 60 + minute - offset_minutes) % 1440 + 1440) % 1440;
    if (utc_minute != 23 * 60 + 59) return std::nullopt;
    second = 59;
    millis = 999;
  }
  const int64_t seconds = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                          second - int64_t{offset_minutes} * 60;
  return seconds * 1000 + millis;
}

bool IsIdentityString(std::string_view text) {
  const size_t colon = text.find(':');
  return colon != std::string_view::npos && colon > 0 && colon + 1 < text.size();
}

Schema::Schema(PassKey, std::string name) : name_(std::move(name)) {}
Schema::~Schema() = default;

StatusOr<std::shared_ptr<const Schema>> Schema::Parse(std::string_view name,
                                                      std::string_view json) {
  if (!IsValidSchemaName(name)) {
    return InvalidArgumentError(
        "schema name " + Quote(name) +
        ": use 1-128 letters, digits, '_', '-' or '.', starting with a letter or digit");
  }
  dom::parser parser;
  dom::element doc;
  if (auto e = parser.parse(json.data(), json.size()).get(doc)) {
    return InvalidArgumentError("schema: malformed JSON (" +
                                std::string(simdjson::error_message(e)) + ")");
  }
  dom::object obj;
  if (doc.type() != ElementType::OBJECT || doc.get_object().get(obj)) {
    return InvalidArgumentError("schema: must be a JSON object");
  }
  Keywords kw;
  RETURN_IF_ERROR(kw.Load(obj, "schema"));
  static constexpr std::string_view kRootKeys[] = {"class",    "properties",           "required",
                                                   "identity", "additionalProperties", "type"};
  for (const auto& [key, value] : kw.entries()) {
    if (IsAnnotation(key) ||
        std::find(std::begin(kRootKeys), std::end(kRootKeys), key) != std::end(kRootKeys)) {
      continue;
    }
    return InvalidArgumentError(
        "schema: unknown keyword " + Quote(key) +
        " (use class, properties, required, identity, additionalProperties, description, "
        "title, $comment or meta:*)");
  }
  if (const dom::element* t = kw.Find("type")) {
    std::string_view type_name;
    if (t->type() != ElementType::STRING || t->get_string().get(type_name) ||
        type_name != "object") {
      return InvalidArgumentError(
          "type: a schema describes an object; omit 'type' or set it to \"object\"");
    }
  }

  std::string_view class_name;
  const dom::element* class_el = kw.Find("class");
  if (!class_el)
    return InvalidArgumentError("class: missing (use experience-event, profile or adhoc)");
  std::optional<SchemaClass> schema_class;
  if (class_el->type() == ElementType::STRING && !class_el->get_string().get(class_name)) {
    schema_class = SchemaClassFromName(class_name);
  }
  if (!schema_class) {
    return InvalidArgumentError("class: must be experience-event, profile or adhoc");
  }

  std::string_view identity;
  const dom::element* identity_el = kw.Find("identity");
  if (identity_el) {
    if (identity_el->type() != ElementType::STRING || identity_el->get_string().get(identity) ||
        identity.empty()) {
      return InvalidArgumentError("identity: must be the dotted path of a string field");
    }
    if (*schema_class != SchemaClass::kProfile) {
      return InvalidArgumentError("identity: only profile schemas name an identity field (" +
                                  std::string(SchemaClassName(*schema_class)) +
                                  " records use identityMap)");
    }
  }

  auto root = std::make_unique<SchemaNode>();
  root->type = FieldType::kObject;
  switch (*schema_class) {
    case SchemaClass::kExperienceEvent: {
      SchemaNode* timestamp = nullptr;
      SchemaNode* identity_map = nullptr;
      RETURN_IF_ERROR(AddImplicitField("_id", kIdDefinition, true, root.get(), nullptr));
      RETURN_IF_ERROR(
          AddImplicitField("timestamp", kTimestampDefinition, true, root.get(), &timestamp));
      RETURN_IF_ERROR(
          AddImplicitField("eventType", kEventTypeDefinition, true, root.get(), nullptr));
      RETURN_IF_ERROR(AddImplicitField("identityMap", kIdentityMapDefinition, false, root.get(),
                                       &identity_map));
      timestamp->not_in_future = true;
      identity_map->identity_namespaces = true;
      break;
    }
    case SchemaClass::kProfile: {
      SchemaNode* identity_map = nullptr;
      RETURN_IF_ERROR(AddImplicitField("identityMap", kIdentityMapDefinition, identity.empty(),
                                       root.get(), &identity_map));
      identity_map->identity_namespaces = true;
      identity_map->require_one_identity = identity.empty();
      break;
    }
    case SchemaClass::kAdhoc:
      RETURN_IF_ERROR(AddImplicitField("_id", kIdDefinition, false, root.get(), nullptr));
      break;
  }

  bool open = false;
  if (const dom::element* additional = kw.Find("additionalProperties")) {
    if (additional->type() != ElementType::BOOL || additional->get_bool().get(open)) {
      return InvalidArgumentError("additionalProperties: must be true or false");
    }
  }
  root->additional_properties = open;
  root->constraints.emplace_back("additionalProperties", open ? "true" : "false");

  DefinitionParser fields;
  RETURN_IF_ERROR(
      fields.ParseProperties(kw.Find("properties"), kw.Find("required"), "", 0, root.get()));
  RETURN_IF_ERROR(ParseAnnotations(kw, "schema", &root->annotations));

  // The identity field: every step a declared, required property; objects on
  // the way; a string at the end.
  if (!identity.empty()) {
    SchemaNode* node = root.get();
    size_t start = 0;
    while (true) {
      size_t dot = identity.find('.', start);
      if (dot == std::string_view::npos) dot = identity.size();
      const std::string_view step = identity.substr(start, dot - start);
      const std::string so_far(identity.substr(0, dot));
      if (node->type != FieldType::kObject) {
        return InvalidArgumentError("identity: " + Quote(identity.substr(0, start - 1)) +
                                    " is not an object");
      }
      auto it = std::find_if(node->properties.begin(), node->properties.end(),
                             [&](const Property& p) { return p.name == step; });
      if (it == node->properties.end() || it->implicit) {
        return InvalidArgumentError("identity: " + Quote(so_far) + " is not a declared property");
      }
      if (!it->required)
        return InvalidArgumentError("identity: field " + Quote(so_far) + " must be required");
      node = it->node.get();
      if (dot == identity.size()) break;
      start = dot + 1;
    }
    if (node->type != FieldType::kString) {
      return InvalidArgumentError("identity: field " + Quote(identity) +
                                  " must be of type string, not " +
                                  std::string(TypeName(node->type)));
    }
    node->identity_value = true;
  }

  auto schema = std::make_shared<Schema>(PassKey{}, std::string(name));
  schema->class_ = *schema_class;
  schema->identity_path_.assign(identity);

  JsonWriter w(&schema->canonical_json_);
  w.BeginObject();
  w.Key("class");
  w.String(SchemaClassName(*schema_class));
  if (!identity.empty()) {
    w.Key("identity");
    w.String(identity);
  }
  w.Key("additionalProperties");
  w.Bool(open);
  WriteObjectBody(*root, w, true);
  for (const auto& [key, value_json] : root->annotations) {
    w.Key(key);
    w.Raw(value_json);
  }
  w.EndObject();

  CollectColumns(*root, "", "$", &schema->columns_);
  schema->root_ = std::move(root);
  return std::shared_ptr<const Schema>(std::move(schema));
}

bool Schema::Validate(simdjson::dom::element record, int64_t now_ms,
                      std::vector<std::string>* errors, size_t max_errors) const {
  ValidationContext ctx(now_ms, errors, max_errors);
  dom::object obj;
  if (record.type() != ElementType::OBJECT || record.get_object().get(obj)) {
    ctx.FailWith(
        [&] { return "expected object, got " + std::string(JsonTypeName(record.type())); });
    return false;
  }
  ValidateObject(*root_, obj, ctx);
  return !ctx.failed();
}

Status Schema::CheckEvolution(const Schema& next) const {
  if (next.class_ != class_) {
    return ConflictError("class cannot change (from " + std::string(SchemaClassName(class_)) +
                         " to " + std::string(SchemaClassName(next.class_)) + ")");
  }
  if (next.identity_path_ != identity_path_) {
    return ConflictError(
        "identity cannot change (from " +
        (identity_path_.empty() ? std::string("identityMap") : Quote(identity_path_)) + " to " +
        (next.identity_path_.empty() ? std::string("identityMap") : Quote(next.identity_path_)) +
        ")");
  }
  return CompareNodes(*root_, *next.root_, "");
}

}  // namespace rtml::data
