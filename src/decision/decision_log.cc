#include "decision/decision_log.h"

#include <pthread.h>

#include <future>
#include <vector>

namespace rtml::decision {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS activities (
  sandbox TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,
  created INTEGER NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY (sandbox, name));
CREATE TABLE IF NOT EXISTS segments (
  sandbox TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, condition TEXT NOT NULL,
  updated INTEGER NOT NULL, PRIMARY KEY (sandbox, name));
CREATE TABLE IF NOT EXISTS decisions (
  id TEXT PRIMARY KEY, sandbox TEXT NOT NULL, activity TEXT NOT NULL, identity TEXT NOT NULL,
  experience TEXT NOT NULL, probability REAL NOT NULL, features TEXT NOT NULL, scores TEXT,
  ts INTEGER NOT NULL, expires INTEGER NOT NULL,
  reward REAL, closed INTEGER, close_reason TEXT, seq INTEGER,
  goal TEXT, default_reward REAL, learner_gen INTEGER);
CREATE INDEX IF NOT EXISTS decisions_by_activity ON decisions (sandbox, activity, ts);
CREATE INDEX IF NOT EXISTS decisions_by_seq ON decisions (seq) WHERE seq IS NOT NULL;
CREATE TABLE IF NOT EXISTS feedback (
  decision_id TEXT NOT NULL, ts INTEGER NOT NULL, reward REAL, event TEXT, source TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS feedback_by_decision ON feedback (decision_id);
CREATE TABLE IF NOT EXISTS learners (
  sandbox TEXT NOT NULL, activity TEXT NOT NULL, snapshot BLOB NOT NULL, seq INTEGER NOT NULL,
  saved INTEGER NOT NULL, gen INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (sandbox, activity));
)sql";

}  // namespace

StatusOr<sqlite::Statement*> DecisionLog::Writer::Statement(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    ASSIGN_OR_RETURN(sqlite::Statement st, db_->Prepare(sql));
    it = cache_.emplace(sql, std::move(st)).first;
  }
  it->second.Reset();
  return &it->second;
}

StatusOr<std::unique_ptr<DecisionLog>> DecisionLog::Open(const std::string& path, size_t max_group) {
  ASSIGN_OR_RETURN(auto writer, sqlite::Database::Open(path, sqlite::Durability::kFull));
  RETURN_IF_ERROR(writer->Exec(kSchema));
  // Columns added after the first release of the table.
  for (const char* column : {"decisions ADD COLUMN goal TEXT", "decisions ADD COLUMN default_reward REAL",
                             "decisions ADD COLUMN learner_gen INTEGER",
                             "learners ADD COLUMN gen INTEGER NOT NULL DEFAULT 0"}) {
    Status added = writer->Exec(std::string("ALTER TABLE ") + column);
    if (!added.ok() && added.message().find("duplicate column") == std::string::npos) return added;
  }
  ASSIGN_OR_RETURN(auto reader, sqlite::Database::Open(path, sqlite::Durability::kFull, /*read_only=*/true));
  ASSIGN_OR_RETURN(auto lookup, sqlite::Database::Open(path, sqlite::Durability::kFull, /*read_only=*/true));
  return std::unique_ptr<DecisionLog>(
      new DecisionLog(std::move(writer), std::move(reader), std::move(lookup), max_group));
}

DecisionLog::DecisionLog(std::unique_ptr<sqlite::Database> writer, std::unique_ptr<sqlite::Database> reader,
                         std::unique_ptr<sqlite::Database> lookup, size_t max_group)
    : writer_db_(std::move(writer)),
      reader_(std::move(reader)),
      lookup_(std::move(lookup)),
      writer_(writer_db_.get()),
      max_group_(max_group == 0 ? 1 : max_group) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "rtml-dlog");
    Loop();
  });
}

DecisionLog::~DecisionLog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void DecisionLog::Submit(Op op, Done done) { Enqueue(Item{std::move(op), std::move(done), true}); }

void DecisionLog::SubmitSingleStatement(Op op, Done done) {
  Enqueue(Item{std::move(op), std::move(done), false});
}

void DecisionLog::Enqueue(Item item) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(item));
    wake = writer_idle_;  // a busy writer takes the queue when its commit ends
  }
  if (wake) cv_.notify_one();
}

Status DecisionLog::SubmitAndWait(Op op) {
  std::promise<Status> p;
  auto f = p.get_future();
  Submit(std::move(op), [&p](Status s) { p.set_value(std::move(s)); });
  return f.get();
}

uint64_t DecisionLog::commits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return commits_;
}

uint64_t DecisionLog::ops() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ops_;
}

// One operation inside the group's transaction, in its own savepoint: a
// failing operation leaves none of its writes behind, the others commit.
Status DecisionLog::RunOne(const Item& item) {
  if (!item.savepoint) return item.op(writer_);
  auto step = [&](const char* sql) -> Status {
    ASSIGN_OR_RETURN(sqlite::Statement * st, writer_.Statement(sql));
    return st->Run();
  };
  RETURN_IF_ERROR(step("SAVEPOINT op"));
  Status s = item.op(writer_);
  if (!s.ok()) step("ROLLBACK TO op").IgnoreError();
  Status released = step("RELEASE op");
  return s.ok() ? released : s;
}

void DecisionLog::Loop() {
  std::vector<Item> group;
  std::vector<Status> results;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      writer_idle_ = true;
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      writer_idle_ = false;
      if (queue_.empty() && stopping_) return;
      while (!queue_.empty() && group.size() < max_group_) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    results.assign(group.size(), OkStatus());
    Status commit;
    {
      sqlite::Transaction txn(writer_db_.get());
      commit = txn.status();
      if (commit.ok()) {
        for (size_t i = 0; i < group.size(); ++i) results[i] = RunOne(group[i]);
        commit = txn.Commit();
      }
    }
    for (size_t i = 0; i < group.size(); ++i) {
      Status s = commit.ok() ? results[i] : commit.WithPrefix("not stored");
      if (group[i].done) group[i].done(std::move(s));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++commits_;
      ops_ += group.size();
    }
    group.clear();
  }
}

}  // namespace rtml::decision
