// Thin RAII wrapper over SQLite: connections, prepared statements and
// transactions, with errors as Status values naming the statement.
//
// A Database is one connection; callers serialise access to it (SQLite
// connections are not meant to be shared across threads concurrently).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace rtml::sqlite {

enum class Durability {
  kFull,    // WAL + synchronous=FULL: a committed transaction survives power loss
  kNormal,  // WAL + synchronous=NORMAL: survives process crashes (kill -9)
};

class Statement {
 public:
  ~Statement();
  Statement(Statement&& o) noexcept;
  Statement& operator=(Statement&& o) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based, as in SQLite.
  Statement& Bind(int i, int64_t v);
  Statement& Bind(int i, double v);
  Statement& Bind(int i, std::string_view v);
  Statement& BindBlob(int i, std::string_view v);
  // Binds without copying: `v` must stay valid until the statement is reset
  // or stepped to completion.
  Statement& BindStatic(int i, std::string_view v);
  Statement& BindNull(int i);
  // True while a row is available; false when done.
  StatusOr<bool> Step();
  // Runs to completion, ignoring rows.
  Status Run();
  void Reset();

  int64_t ColumnInt(int i) const;
  double ColumnDouble(int i) const;
  std::string ColumnText(int i) const;
  std::string_view ColumnBlob(int i) const;
  bool ColumnIsNull(int i) const;
  int ColumnCount() const;
  std::string ColumnName(int i) const;
  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL
  int ColumnType(int i) const;

 private:
  friend class Database;
  Statement(sqlite3_stmt* stmt, sqlite3* db, std::string sql);
  sqlite3_stmt* stmt_ = nullptr;
  sqlite3* db_ = nullptr;
  std::string sql_;
};

class Database {
 public:
  static StatusOr<std::unique_ptr<Database>> Open(const std::string& path, Durability durability,
                                                  bool read_only = false);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  Status Exec(std::string_view sql);
  StatusOr<Statement> Prepare(std::string_view sql);
  int64_t LastInsertId() const;
  int64_t Changes() const;
  sqlite3* raw() { return db_; }

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back unless Commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Database* db);
  ~Transaction();
  Status status() const { return begin_; }
  Status Commit();

 private:
  Database* db_;
  Status begin_;
  bool done_ = false;
};

}  // namespace rtml::sqlite
