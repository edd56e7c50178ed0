// Formatting RFC 3339 timestamps and reading the wall clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtml::data {

// (Parsing lives with validation: ParseDateTimeMillis in data/schema.h, so
// what validates is exactly what is stored.)
// ms since the epoch -> "2026-12-04T10:00:00.123Z".
std::string FormatRfc3339Millis(int64_t ms);
// Wall clock now, ms since the epoch.
int64_t NowMillis();

}  // namespace rtml::data
