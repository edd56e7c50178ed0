// ThreadPool: a fixed set of threads running submitted tasks in FIFO order.
//
// The one abstraction for background parallelism in rtml (blocking API
// calls, training, snapshots). Submit is thread-safe. The destructor stops
// accepting work, finishes queued tasks and joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rtml {

class ThreadPool {
 public:
  ThreadPool(int threads, std::string name);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues a task. Returns false once the pool is shutting down.
  bool Submit(std::function<void()> task);
  // Tasks queued or running.
  size_t pending() const;

 private:
  void Loop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  size_t running_ = 0;                       // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace rtml
