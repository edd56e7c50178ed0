// HttpServer: HTTP/1.1 keep-alive server on Boost.Beast/Asio.
//
// One event loop per thread; each thread has its own acceptor on the same
// port (SO_REUSEPORT), so the kernel spreads connections and no state is
// shared between loops on the request path. Requests are parsed by Beast
// with header/body size limits and timeouts; responses are serialised into a
// per-connection buffer and written with one async_write. Handlers marked
// blocking run on an offload pool and their responses are posted back.
// Thread-safety: Start/Stop/Wait from one controlling thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/thread_pool.h"
#include "server/http.h"

namespace rtml::server {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 picks a free port (see HttpServer::port())
  int threads = 1;
  int offload_threads = 2;
  size_t max_body_bytes = size_t{64} << 20;
  size_t max_header_bytes = size_t{16} << 10;
  std::chrono::milliseconds header_timeout{10'000};  // also the keep-alive idle limit
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
  int max_connections = 10'000;
};

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // True when the request may take long (model compilation, deploys); it then
  // runs on the offload pool instead of the event loop.
  virtual bool IsBlocking(const Request& req) const = 0;
  // Fills `resp`. `thread` is the event-loop index, or -1 on the offload pool.
  virtual void Handle(Request& req, Response& resp, int thread) = 0;
  // Called when the server rejects a request before it reaches Handle
  // (limits, malformed HTTP), for metrics.
  virtual void OnRejected(int status) { (void)status; }
};

class HttpServer {
 public:
  // Binds the listening sockets; fails if the address is unavailable.
  static StatusOr<std::unique_ptr<HttpServer>> Create(const HttpServerOptions& options,
                                                      HttpHandler* handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void Start();
  // Graceful stop: close the listeners, let in-flight requests finish (up to
  // `grace`), then stop the event loops.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(10'000));
  void Wait();

  uint16_t port() const { return port_; }
  int open_connections() const { return connections_.load(std::memory_order_relaxed); }
  int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

  struct Loop;  // one event loop + acceptor (internal)

 private:
  HttpServer(const HttpServerOptions& options, HttpHandler* handler);

  HttpServerOptions options_;
  HttpHandler* handler_;
  uint16_t port_ = 0;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  std::unique_ptr<ThreadPool> offload_;
  std::atomic<int> connections_{0};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> draining_{false};

  friend class Session;
};

}  // namespace rtml::server
