// Read-only SQL over a sandbox database: an authorizer that allows only
// reads, a progress handler enforcing the time limit, a row limit.
#include "data/query.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "common/json_writer.h"

namespace rtml::data {


namespace {

struct QueryGuard {
  std::chrono::steady_clock::time_point deadline;
  bool timed_out = false;
  std::string denied;  // first denied action
};

int Authorize(void* user, int action, const char* a, const char* b, const char*, const char*) {
  auto* guard = static_cast<QueryGuard*>(user);
  switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    default:
      break;
  }
  if (guard->denied.empty()) {
    const char* what = "this statement";
    switch (action) {
      case SQLITE_INSERT: what = "INSERT"; break;
      case SQLITE_UPDATE: what = "UPDATE"; break;
      case SQLITE_DELETE: what = "DELETE"; break;
      case SQLITE_ATTACH: what = "ATTACH"; break;
      case SQLITE_DETACH: what = "DETACH"; break;
      case SQLITE_PRAGMA: what = "PRAGMA"; break;
      case SQLITE_TRANSACTION: what = "a transaction statement"; break;
      case SQLITE_CREATE_TABLE: case SQLITE_CREATE_VIEW: case SQLITE_CREATE_INDEX: case SQLITE_CREATE_TRIGGER:
      case SQLITE_CREATE_TEMP_TABLE: case SQLITE_CREATE_TEMP_VIEW: case SQLITE_CREATE_TEMP_INDEX:
      case SQLITE_CREATE_TEMP_TRIGGER: case SQLITE_CREATE_VTABLE:
        what = "CREATE"; break;
      case SQLITE_DROP_TABLE: case SQLITE_DROP_VIEW: case SQLITE_DROP_INDEX: case SQLITE_DROP_TRIGGER:
      case SQLITE_DROP_TEMP_TABLE: case SQLITE_DROP_TEMP_VIEW: case SQLITE_DROP_TEMP_INDEX:
      case SQLITE_DROP_TEMP_TRIGGER: case SQLITE_DROP_VTABLE:
        what = "DROP"; break;
      case SQLITE_ALTER_TABLE: what = "ALTER"; break;
      default: break;
    }
    guard->denied = what;
    (void)a;
    (void)b;
  }
  return SQLITE_DENY;
}

int Progress(void* user) {
  auto* guard = static_cast<QueryGuard*>(user);
  if (std::chrono::steady_clock::now() > guard->deadline) {
    guard->timed_out = true;
    return 1;
  }
  return 0;
}

}  // namespace

namespace {

// Prepares and steps one read-only statement under the guards, calling
// on_start(stmt) once and on_row(stmt) per row (at most row_limit rows).
template <typename OnStart, typename OnRow>
Status StepQuery(const std::string& db_path, std::string_view sql, int64_t row_limit, int64_t time_limit_ms,
                 bool* truncated, OnStart&& on_start, OnRow&& on_row) {
  if (sql.empty()) return InvalidArgumentError("sql is empty");
  if (sql.size() > 100'000) return TooLargeError("sql is longer than 100,000 characters");
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return UnavailableError("cannot open the sandbox's data");
  }
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> holder(db, sqlite3_close);
  QueryGuard guard;
  guard.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(time_limit_ms);
  sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 16 << 20);
  sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
  sqlite3_busy_timeout(db, 2000);
  sqlite3_set_authorizer(db, Authorize, &guard);
  sqlite3_progress_handler(db, 1000, Progress, &guard);

  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt, &tail);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt_holder(stmt, sqlite3_finalize);
  if (rc != SQLITE_OK) {
    if (!guard.denied.empty()) {
      return InvalidArgumentError("queries are read-only: " + guard.denied + " is not allowed");
    }
    const std::string msg = sqlite3_errmsg(db);
    if (msg.find("cannot modify") != std::string::npos || msg.find("readonly") != std::string::npos) {
      return InvalidArgumentError("queries are read-only: " + msg);
    }
    return InvalidArgumentError("SQL error: " + msg);
  }
  if (stmt == nullptr) return InvalidArgumentError("sql holds no statement");
  // Anything after the statement must be empty: whitespace, semicolons or
  // comments prepare to no statement at all.
  if (tail != nullptr && *tail != '\0') {
    sqlite3_stmt* extra = nullptr;
    const char* rest = nullptr;
    const int rc2 = sqlite3_prepare_v2(db, tail, -1, &extra, &rest);
    const bool empty = rc2 == SQLITE_OK && extra == nullptr;
    sqlite3_finalize(extra);
    if (!empty) return InvalidArgumentError("send one statement per query");
  }
  if (!sqlite3_stmt_readonly(stmt)) return InvalidArgumentError("queries are read-only");
  on_start(stmt);
  int64_t rows = 0;
  *truncated = false;
  for (;;) {
    const int step = sqlite3_step(stmt);
    if (step == SQLITE_DONE) break;
    if (step != SQLITE_ROW) {
      if (guard.timed_out) {
        return DeadlineExceededError("query exceeded the time limit of " + std::to_string(time_limit_ms) + " ms");
      }
      return InvalidArgumentError(std::string("SQL error: ") + sqlite3_errmsg(db));
    }
    if (rows == row_limit) {
      *truncated = true;
      break;
    }
    ++rows;
    on_row(stmt);
  }
  return OkStatus();
}

std::string_view TextOf(sqlite3_stmt* stmt, int c) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
  return std::string_view(text ? text : "", static_cast<size_t>(sqlite3_column_bytes(stmt, c)));
}

}  // namespace

StatusOr<std::string> RunReadOnlyQuery(const std::string& db_path, std::string_view sql, int64_t row_limit,
                                       int64_t time_limit_ms) {
  const auto start = std::chrono::steady_clock::now();
  std::string out;
  JsonWriter w(&out);
  bool truncated = false;
  int cols = 0;
  Status s = StepQuery(
      db_path, sql, row_limit, time_limit_ms, &truncated,
      [&](sqlite3_stmt* stmt) {
        w.BeginObject();
        w.Key("columns");
        w.BeginArray();
        cols = sqlite3_column_count(stmt);
        for (int c = 0; c < cols; ++c) w.String(sqlite3_column_name(stmt, c));
        w.EndArray();
        w.Key("rows");
        w.BeginArray();
      },
      [&](sqlite3_stmt* stmt) {
        w.BeginArray();
        for (int c = 0; c < cols; ++c) {
          switch (sqlite3_column_type(stmt, c)) {
            case SQLITE_INTEGER: w.Int(sqlite3_column_int64(stmt, c)); break;
            case SQLITE_FLOAT: w.Double(sqlite3_column_double(stmt, c)); break;
            case SQLITE_NULL: w.Null(); break;
            default: w.String(TextOf(stmt, c));
          }
        }
        w.EndArray();
      });
  RETURN_IF_ERROR(s);
  w.EndArray();
  w.Key("truncated");
  w.Bool(truncated);
  w.Key("elapsed_ms");
  w.Double(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  w.EndObject();
  return out;
}

StatusOr<Table> RunReadOnlyQueryTable(const std::string& db_path, std::string_view sql, int64_t row_limit,
                                      int64_t time_limit_ms) {
  // Cells are collected as (kind, number, text); a column is numeric when
  // every non-NULL cell is a number, else text (numbers printed as text).
  struct Cell {
    int type;
    double number;
    std::string text;
  };
  std::vector<std::string> names;
  std::vector<std::vector<Cell>> cells;
  bool truncated = false;
  Status s = StepQuery(
      db_path, sql, row_limit, time_limit_ms, &truncated,
      [&](sqlite3_stmt* stmt) {
        const int n = sqlite3_column_count(stmt);
        for (int c = 0; c < n; ++c) names.emplace_back(sqlite3_column_name(stmt, c));
        cells.resize(static_cast<size_t>(n));
      },
      [&](sqlite3_stmt* stmt) {
        for (size_t c = 0; c < cells.size(); ++c) {
          const int ci = static_cast<int>(c);
          const int type = sqlite3_column_type(stmt, ci);
          Cell cell{type, 0, {}};
          if (type == SQLITE_INTEGER || type == SQLITE_FLOAT) cell.number = sqlite3_column_double(stmt, ci);
          else if (type != SQLITE_NULL) cell.text.assign(TextOf(stmt, ci));
          cells[c].push_back(std::move(cell));
        }
      });
  RETURN_IF_ERROR(s);
  if (truncated) {
    return TooLargeError("the query returns more than " + std::to_string(row_limit) + " rows");
  }
  Table table;
  for (size_t c = 0; c < cells.size(); ++c) {
    bool numeric = true;
    for (const Cell& cell : cells[c]) {
      if (cell.type == SQLITE_TEXT || cell.type == SQLITE_BLOB) numeric = false;
    }
    Column col;
    col.name = names[c];
    if (numeric) {
      col.type = ColumnType::kNumber;
      for (const Cell& cell : cells[c]) col.numbers.push_back(cell.type == SQLITE_NULL ? kMissing : cell.number);
    } else {
      col.type = ColumnType::kString;
      for (Cell& cell : cells[c]) {
        const bool present = cell.type != SQLITE_NULL;
        if (cell.type == SQLITE_INTEGER || cell.type == SQLITE_FLOAT) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.17g", cell.number);
          cell.text = buf;
        }
        col.strings.push_back(std::move(cell.text));
        col.present.push_back(present ? 1 : 0);
      }
    }
    RETURN_IF_ERROR(table.Add(std::move(col)));
  }
  if (cells.empty()) table.set_rows_hint(0);
  return table;
}

}  // namespace rtml::data
