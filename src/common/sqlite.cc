#include "common/sqlite.h"

#include <sqlite3.h>

namespace rtml::sqlite {
namespace {
Status Error(sqlite3* db, std::string_view what) {
  const int code = sqlite3_extended_errcode(db);
  std::string msg = std::string(what) + ": " + sqlite3_errmsg(db);
  if ((code & 0xff) == SQLITE_CONSTRAINT) return ConflictError(msg);
  if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED) return UnavailableError(msg);
  if ((code & 0xff) == SQLITE_FULL) return ResourceExhaustedError(msg);
  return InternalError(msg);
}
}  // namespace

Statement::Statement(sqlite3_stmt* stmt, sqlite3* db, std::string sql)
    : stmt_(stmt), db_(db), sql_(std::move(sql)) {}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& o) noexcept : stmt_(o.stmt_), db_(o.db_), sql_(std::move(o.sql_)) {
  o.stmt_ = nullptr;
}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    if (stmt_) sqlite3_finalize(stmt_);
    stmt_ = o.stmt_;
    db_ = o.db_;
    sql_ = std::move(o.sql_);
    o.stmt_ = nullptr;
  }
  return *this;
}

Statement& Statement::Bind(int i, int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}
Statement& Statement::Bind(int i, double v) {
  sqlite3_bind_double(stmt_, i, v);
  return *this;
}
Statement& Statement::Bind(int i, std::string_view v) {
  sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}
Statement& Statement::BindStatic(int i, std::string_view v) {
  sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
  return *this;
}
Statement& Statement::BindBlob(int i, std::string_view v) {
  sqlite3_bind_blob64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::BindNull(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

StatusOr<bool> Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Error(db_, "SQL statement failed");
}

Status Statement::Run() {
  for (;;) {
    ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return OkStatus();
  }
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Statement::ColumnInt(int i) const { return sqlite3_column_int64(stmt_, i); }
double Statement::ColumnDouble(int i) const { return sqlite3_column_double(stmt_, i); }
std::string Statement::ColumnText(int i) const {
  const unsigned char* p = sqlite3_column_text(stmt_, i);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, i)))
           : std::string();
}
std::string_view Statement::ColumnBlob(int i) const {
  const void* p = sqlite3_column_blob(stmt_, i);
  return p ? std::string_view(static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, i)))
           : std::string_view();
}
bool Statement::ColumnIsNull(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
int Statement::ColumnCount() const { return sqlite3_column_count(stmt_); }
std::string Statement::ColumnName(int i) const {
  const char* n = sqlite3_column_name(stmt_, i);
  return n ? n : "";
}
int Statement::ColumnType(int i) const { return sqlite3_column_type(stmt_, i); }

StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path, Durability durability,
                                                   bool read_only) {
  sqlite3* db = nullptr;
  const int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                    SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    Status s = UnavailableError("cannot open database '" + path + "': " + (db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return s;
  }
  auto out = std::unique_ptr<Database>(new Database(db));
  sqlite3_busy_timeout(db, 5000);
  if (!read_only) {
    RETURN_IF_ERROR(out->Exec("PRAGMA journal_mode=WAL"));
    RETURN_IF_ERROR(out->Exec(durability == Durability::kFull ? "PRAGMA synchronous=FULL"
                                                              : "PRAGMA synchronous=NORMAL"));
  }
  RETURN_IF_ERROR(out->Exec("PRAGMA foreign_keys=ON"));
  return out;
}

Database::~Database() { sqlite3_close_v2(db_); }

Status Database::Exec(std::string_view sql) {
  char* err = nullptr;
  const std::string s(sql);
  if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    const int code = sqlite3_extended_errcode(db_) & 0xff;
    if (code == SQLITE_CONSTRAINT) return ConflictError(msg);
    return InternalError("SQL failed (" + s.substr(0, 60) + "): " + msg);
  }
  return OkStatus();
}

StatusOr<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) != SQLITE_OK) {
    return InvalidArgumentError(std::string(sqlite3_errmsg(db_)));
  }
  return Statement(stmt, db_, std::string(sql));
}

int64_t Database::LastInsertId() const { return sqlite3_last_insert_rowid(db_); }
int64_t Database::Changes() const { return sqlite3_changes64(db_); }

Transaction::Transaction(Database* db) : db_(db), begin_(db->Exec("BEGIN IMMEDIATE")) {}

Transaction::~Transaction() {
  if (!done_ && begin_.ok()) db_->Exec("ROLLBACK").IgnoreError();
}

Status Transaction::Commit() {
  if (!begin_.ok()) return begin_;
  done_ = true;
  Status s = db_->Exec("COMMIT");
  if (!s.ok()) db_->Exec("ROLLBACK").IgnoreError();
  return s;
}

}  // namespace rtml::sqlite
