// DecisionLog: the delivery database (<data-dir>/delivery.db) and its writer.
//
// Writes are operations queued to one writer thread, which runs a group of
// them in one transaction (one fsync, SQLite WAL + synchronous=FULL) and then
// calls each operation's `done` with its own status. Operations run in the
// order they were submitted. Reads use a second connection (WAL readers never
// wait for the writer) under reader_mu().
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/sqlite.h"
#include "common/status.h"

namespace rtml::decision {

class DecisionLog {
 public:
  // The writer's view: statements prepared once and reused.
  class Writer {
   public:
    explicit Writer(sqlite::Database* db) : db_(db) {}
    StatusOr<sqlite::Statement*> Statement(const std::string& sql);
    sqlite::Database& db() { return *db_; }

   private:
    sqlite::Database* db_;
    std::map<std::string, sqlite::Statement> cache_;
  };
  using Op = std::function<Status(Writer&)>;
  using Done = std::function<void(Status)>;

  static StatusOr<std::unique_ptr<DecisionLog>> Open(const std::string& path, size_t max_group);
  ~DecisionLog();  // runs everything queued, then stops
  DecisionLog(const DecisionLog&) = delete;
  DecisionLog& operator=(const DecisionLog&) = delete;

  void Submit(Op op, Done done);
  // For an operation of one SQL statement, which SQLite already applies
  // atomically: no savepoint around it (the decision insert, the hot path).
  void SubmitSingleStatement(Op op, Done done);
  Status SubmitAndWait(Op op);

  sqlite::Database& reader() { return *reader_; }
  std::mutex& reader_mu() { return reader_mu_; }
  // A second read connection for point lookups on request paths.
  sqlite::Database& lookup() { return *lookup_; }
  std::mutex& lookup_mu() { return lookup_mu_; }

  uint64_t commits() const;
  uint64_t ops() const;

 private:
  DecisionLog(std::unique_ptr<sqlite::Database> writer, std::unique_ptr<sqlite::Database> reader,
              std::unique_ptr<sqlite::Database> lookup, size_t max_group);
  struct Item {
    Op op;
    Done done;
    bool savepoint = true;
  };
  void Loop();
  void Enqueue(Item item);
  Status RunOne(const Item& item);

  std::unique_ptr<sqlite::Database> writer_db_;
  std::unique_ptr<sqlite::Database> reader_;
  std::mutex reader_mu_;
  std::unique_ptr<sqlite::Database> lookup_;
  std::mutex lookup_mu_;
  Writer writer_;
  const size_t max_group_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  bool writer_idle_ = false;
  uint64_t commits_ = 0;
  uint64_t ops_ = 0;
  std::thread thread_;
};

}  // namespace rtml::decision
