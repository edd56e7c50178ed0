// Read-only SQL queries over a sandbox database file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/table.h"

namespace rtml::data {

// Runs one read-only statement on a fresh read-only connection to
// `db_path`. Writes, ATTACH, PRAGMA and DDL are refused by an authorizer
// ("queries are read-only: INSERT is not allowed"); more than `row_limit`
// rows sets "truncated"; running past `time_limit_ms` is DeadlineExceeded.
// Returns {"columns":[...],"rows":[[...]],"truncated":bool,"elapsed_ms":x}.
StatusOr<std::string> RunReadOnlyQuery(const std::string& db_path, std::string_view sql, int64_t row_limit,
                                       int64_t time_limit_ms);
// The same, collected as a Table (training, batch scoring): a column is
// numeric (NULL = NaN) when all its non-NULL values are numbers, text
// otherwise. More than `row_limit` rows is TooLarge.
StatusOr<Table> RunReadOnlyQueryTable(const std::string& db_path, std::string_view sql, int64_t row_limit,
                                      int64_t time_limit_ms);

}  // namespace rtml::data
