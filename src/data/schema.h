// Schema: an XDM-style record schema (a JSON-Schema subset), compiled once by
// Parse() into an immutable tree that validates records, checks additive
// evolution and lists the columns of the SQL view over a dataset.
//
// Objects are CLOSED by default: "additionalProperties" defaults to false at
// every level, so a field the schema does not declare is rejected ("unknown
// field"); set it to true to accept undeclared fields as free-form JSON.
// Thread-safety: immutable after Parse; every method may be called concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "simdjson.h"

namespace rtml::data {

enum class SchemaClass { kExperienceEvent, kProfile, kAdhoc };

// "experience-event", "profile", "adhoc".
std::string_view SchemaClassName(SchemaClass schema_class);
std::optional<SchemaClass> SchemaClassFromName(std::string_view name);

// One column of a dataset's SQL view: a scalar leaf, or an object, array or map
// held as JSON text.
struct FieldColumn {
  std::string path;       // "commerce.order.priceTotal"
  std::string json_path;  // "$.commerce.order.priceTotal"; odd keys quoted: $."a-b"
  std::string sql_type;   // "TEXT" | "INTEGER" | "REAL" (booleans are INTEGER 0/1)

  bool operator==(const FieldColumn&) const = default;
};

// Limits enforced by Parse and Validate.
inline constexpr int kMaxSchemaDepth = 32;     // nesting levels of field definitions
inline constexpr size_t kMaxRecordDepth = 64;  // nesting levels accepted in a record
inline constexpr size_t kMaxPropertiesPerObject = 1024;
inline constexpr size_t kMaxSchemaFields = 10000;  // fields in one schema, all levels
inline constexpr size_t kMaxPatternBytes = 1000;
inline constexpr size_t kMaxPropertyNameBytes = 256;
inline constexpr int64_t kMaxFutureSkewMs = 60'000;  // experience-event timestamps

// Parses an RFC 3339 date-time ("2026-12-04T10:00:00Z", "...T10:00:00.123+02:00")
// into milliseconds since the epoch (UTC); nullopt when malformed or out of range.
std::optional<int64_t> ParseDateTimeMillis(std::string_view text);
// True for "NS:ID": a non-empty namespace without ':', then ':', then a non-empty id.
bool IsIdentityString(std::string_view text);

namespace internal {
struct SchemaNode;
}

class Schema {
 private:
  struct PassKey {};

 public:
  // Parses the body of PUT /v1/schemas/{name}:
  //   {"class": "experience-event"|"profile"|"adhoc", "properties": {...},
  //    "required": [...], "identity"?: "<field path>", "additionalProperties"?: bool,
  //    "description"?, "title"?, "$comment"?, "meta:*"?}
  // Errors are InvalidArgumentError naming the definition path, e.g.
  // "properties.commerce.order.priceTotal: unknown type 'money' (...)"; array
  // items are "<field>[]" and map values "<field>.*".
  static StatusOr<std::shared_ptr<const Schema>> Parse(std::string_view name,
                                                       std::string_view json);

  Schema(PassKey, std::string name);  // use Parse
  ~Schema();
  Schema(const Schema&) = delete;
  Schema& operator=(const Schema&) = delete;

  const std::string& name() const { return name_; }
  SchemaClass schema_class() const { return class_; }
  // Profiles: dotted path of the required string field holding "NS:ID", or
  // empty when the identity comes from identityMap. Empty for other classes.
  const std::string& identity_path() const { return identity_path_; }

  // Validates one record. Returns true when valid; otherwise appends at most
  // `max_errors` messages "<RFC 6901 pointer>: <reason>" to `errors` (which may
  // be null) and returns false. `now_ms` (ms since the epoch) bounds
  // experience-event timestamps. Never throws; allocates only to report errors.
  bool Validate(simdjson::dom::element record, int64_t now_ms, std::vector<std::string>* errors,
                size_t max_errors = 10) const;

  // OK when `next` may replace this schema: same class and identity, every
  // existing field kept with an identical type and constraints (annotations may
  // change; a required field may become optional), and only optional fields
  // added, anywhere in the tree. Otherwise ConflictError naming the first
  // offending field, e.g. "field 'a.b': type changed from number to string".
  Status CheckEvolution(const Schema& next) const;

  // Every field, depth first in declaration order (class fields first); an
  // object yields its own JSON column and then its fields' columns. Array items
  // and map values are not expanded.
  const std::vector<FieldColumn>& Columns() const { return columns_; }

  // The definition normalized for storage: fixed keyword order, properties in
  // declaration order, "double" written "number", format dates as date types,
  // the object form of maps as "map". Parse(canonical_json()) gives an equal schema.
  const std::string& canonical_json() const { return canonical_json_; }

 private:
  std::string name_;
  SchemaClass class_ = SchemaClass::kAdhoc;
  std::string identity_path_;
  std::unique_ptr<const internal::SchemaNode> root_;
  std::vector<FieldColumn> columns_;
  std::string canonical_json_;
};

}  // namespace rtml::data
