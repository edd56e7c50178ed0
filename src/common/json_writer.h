// JsonWriter: appends JSON text to a caller-owned std::string.
//
// Built for hot paths: no allocation beyond the target string's growth, so a
// reused string reaches steady state quickly. Numbers use the shortest
// round-trip form (std::to_chars); non-finite floats are written as the
// strings "NaN", "Infinity" and "-Infinity". The writer does not validate
// nesting; callers emit well-formed sequences. Not thread-safe.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

namespace rtml {

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  void BeginObject() { Sep(); out_->push_back('{'); first_ = true; }
  void EndObject() { out_->push_back('}'); first_ = false; }
  void BeginArray() { Sep(); out_->push_back('['); first_ = true; }
  void EndArray() { out_->push_back(']'); first_ = false; }
  // Writes "key": and expects a value next.
  void Key(std::string_view key) {
    Sep();
    AppendString(key);
    out_->push_back(':');
    first_ = true;  // the value that follows needs no comma
  }
  void String(std::string_view s) { Sep(); AppendString(s); }
  void Int(int64_t v) { Sep(); AppendInt(v); }
  void Uint(uint64_t v) {
    Sep();
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_->append(buf, r.ptr);
  }
  void Double(double v) { Sep(); AppendDouble(v); }
  void Float(float v) { Sep(); AppendFloat(v); }
  void Bool(bool v) { Sep(); out_->append(v ? "true" : "false"); }
  void Null() { Sep(); out_->append("null"); }
  // Inserts pre-serialised JSON as a value.
  void Raw(std::string_view json) { Sep(); out_->append(json); }

  // Low-level appenders (no separator handling).
  void AppendString(std::string_view s);
  void AppendInt(int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_->append(buf, r.ptr);
  }
  // Shortest round-trip form. From 2^63 up, always scientific: the plain form
  // of e.g. -2^63 - 2048 is "-9223372036854777856", an integer that simdjson
  // (and other int64 readers) reject as out of range.
  void AppendDouble(double v) {
    if (!std::isfinite(v)) { AppendNonFinite(v); return; }
    char buf[32];
    auto r = std::fabs(v) < kMinScientific ? std::to_chars(buf, buf + sizeof buf, v)
                                           : std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    out_->append(buf, r.ptr);
  }
  void AppendFloat(float v) {
    if (!std::isfinite(v)) { AppendNonFinite(v); return; }
    char buf[32];
    auto r = std::fabs(v) < kMinScientific ? std::to_chars(buf, buf + sizeof buf, v)
                                           : std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    out_->append(buf, r.ptr);
  }

  std::string* out() { return out_; }

 private:
  void Sep() {
    if (!first_) out_->push_back(',');
    first_ = false;
  }
  static constexpr double kMinScientific = 9223372036854775808.0;  // 2^63
  void AppendNonFinite(double v) {
    out_->append(std::isnan(v) ? "\"NaN\"" : (v > 0 ? "\"Infinity\"" : "\"-Infinity\""));
  }

  std::string* out_;
  bool first_ = true;
};

}  // namespace rtml
