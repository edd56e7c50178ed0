#include "server/http_server.h"

#include <sys/socket.h>

#include <charconv>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

namespace rtml::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

std::string_view Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

void AppendInt(std::string& out, size_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace

struct HttpServer::Loop {
  explicit Loop(int idx) : index(idx), ioc(1), acceptor(ioc) {}
  int index;
  asio::io_context ioc;
  tcp::acceptor acceptor;
};

class Session : public std::enable_shared_from_this<Session>, public Deferrer {
 public:
  Session(tcp::socket socket, HttpServer* server, HttpServer::Loop* loop)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), server_(server), loop_(loop) {
    out_.reserve(4096);
    // Beast reads at most the buffer's free capacity per recv (512 bytes at
    // first); room for a typical request avoids a second system call.
    buffer_.reserve(16384);
  }
  ~Session() { server_->connections_.fetch_sub(1, std::memory_order_relaxed); }

  void Start() { ReadHeader(); }

 private:
  using Clock = std::chrono::steady_clock;
  const HttpServerOptions& opts() const { return server_->options_; }

  // Deadlines: one timer per connection, re-armed lazily. Setting a deadline
  // is a store; the timer only wakes when it might have passed, and on expiry
  // cancels the pending socket operation (the socket stays open, so a 408
  // can still be written).
  void SetDeadline(std::chrono::milliseconds d) {
    deadline_ = Clock::now() + d;
    if (!timer_armed_ || deadline_ < armed_at_) Arm(deadline_);
  }
  void ClearDeadline() { deadline_ = Clock::time_point::max(); }

  // (Re)starts the timer; a superseded wait sees a stale generation.
  void Arm(Clock::time_point at) {
    timer_armed_ = true;
    armed_at_ = at;
    const uint64_t gen = ++timer_gen_;
    timer_.expires_at(at);
    timer_.async_wait([self = shared_from_this(), gen](beast::error_code ec) { self->OnTimer(ec, gen); });
  }

  void OnTimer(beast::error_code ec, uint64_t gen) {
    if (gen != timer_gen_) return;
    timer_armed_ = false;
    if (ec || closed_ || deadline_ == Clock::time_point::max()) return;
    if (Clock::now() < deadline_) return Arm(deadline_);
    timed_out_ = true;
    beast::error_code ignored;
    socket_.cancel(ignored);
  }

  bool TimedOut(beast::error_code ec) {
    if (ec == asio::error::operation_aborted && timed_out_) {
      timed_out_ = false;
      return true;
    }
    return false;
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(opts().max_header_bytes));
    parser_->body_limit(opts().max_body_bytes);
    SetDeadline(opts().header_timeout);
    http::async_read_header(socket_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) {
      if (TimedOut(ec)) {
        // Bytes of a request had arrived: the client was too slow.
        if (buffer_.size() > 0 || parser_->got_some()) return Fail(408, "request header not received in time");
        return Close();
      }
      if (ec == http::error::header_limit) {
        return Fail(431, "request header exceeds the limit of " + std::to_string(opts().max_header_bytes) + " bytes");
      }
      if (ec == http::error::body_limit) {
        return Fail(413, "request body exceeds the limit of " + std::to_string(opts().max_body_bytes) + " bytes");
      }
      if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
          ec == asio::error::operation_aborted) {
        return Close();
      }
      return Fail(400, "malformed HTTP request: " + ec.message());
    }
    started_ = true;
    server_->in_flight_.fetch_add(1, std::memory_order_relaxed);
    auto& req = parser_->get();
    if (auto len = parser_->content_length(); len && *len > opts().max_body_bytes) {
      return Fail(413, "request body of " + std::to_string(*len) + " bytes exceeds the limit of " +
                           std::to_string(opts().max_body_bytes) + " bytes");
    }
    auto expect = req.find(http::field::expect);
    if (expect != req.end() && beast::iequals(expect->value(), "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      SetDeadline(opts().write_timeout);
      asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](beast::error_code e, size_t) {
                          if (e) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    if (parser_->is_done()) return Dispatch();
    SetDeadline(opts().body_timeout);
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnBody(beast::error_code ec) {
    if (ec) {
      if (TimedOut(ec)) return Fail(408, "request body not received in time");
      if (ec == http::error::body_limit) {
        return Fail(413, "request body exceeds the limit of " + std::to_string(opts().max_body_bytes) + " bytes");
      }
      if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
          ec == asio::error::operation_aborted) {
        return Close();
      }
      return Fail(400, "malformed HTTP request: " + ec.message());
    }
    Dispatch();
  }

  class Completer final : public ResponseCompleter {
   public:
    explicit Completer(std::shared_ptr<Session> s) : session_(std::move(s)) {}
    void Complete() override {
      if (!session_) return;
      auto s = std::move(session_);
      asio::post(s->socket_.get_executor(), [s] { s->Write(); });
    }

   private:
    std::shared_ptr<Session> session_;
  };

  std::shared_ptr<ResponseCompleter> Defer() override {
    deferred_ = true;
    return std::make_shared<Completer>(shared_from_this());
  }

  void Dispatch() {
    ClearDeadline();
    deferred_ = false;
    auto& msg = parser_->get();
    req_ = Request();
    req_.method = msg.method();
    req_.target = std::string_view(msg.target().data(), msg.target().size());
    const size_t q = req_.target.find('?');
    req_.path = req_.target.substr(0, q);
    req_.query = q == std::string_view::npos ? std::string_view() : req_.target.substr(q + 1);
    req_.headers = &msg.base();
    req_.body = &msg.body();
    req_.deferrer = this;
    keep_alive_ = msg.keep_alive();
    resp_.Clear();
    HttpHandler* handler = server_->handler_;
    if (handler->IsBlocking(req_)) {
      auto self = shared_from_this();
      const bool queued = server_->offload_->Submit([self, handler] {
        handler->Handle(self->req_, self->resp_, -1);
        if (!self->deferred_) asio::post(self->socket_.get_executor(), [self] { self->Write(); });
      });
      if (!queued) Fail(503, "the server is shutting down");
      return;
    }
    handler->Handle(req_, resp_, loop_->index);
    if (!deferred_) Write();
  }

  void Fail(int status, const std::string& message) {
    server_->handler_->OnRejected(status);
    resp_.Clear();
    resp_.SetError(Status(status == 413 || status == 431 ? StatusCode::kTooLarge
                          : status == 408             ? StatusCode::kDeadlineExceeded
                          : status == 503             ? StatusCode::kUnavailable
                                                      : StatusCode::kInvalidArgument,
                          message));
    resp_.status = status;
    resp_.close = true;
    keep_alive_ = false;
    lingering_ = true;
    Write();
  }

  void Write() {
    const bool close = resp_.close || !keep_alive_ || server_->draining_.load(std::memory_order_relaxed);
    out_.clear();
    out_.append("HTTP/1.1 ");
    AppendInt(out_, static_cast<size_t>(resp_.status));
    out_.push_back(' ');
    out_.append(Reason(resp_.status));
    out_.append("\r\nServer: rtml\r\nContent-Type: ");
    out_.append(resp_.content_type);
    out_.append("\r\nContent-Length: ");
    AppendInt(out_, resp_.body.size());
    out_.append("\r\n");
    for (const auto& [k, v] : resp_.headers) {
      out_.append(k);
      out_.append(": ");
      out_.append(v);
      out_.append("\r\n");
    }
    if (close) out_.append("Connection: close\r\n");
    out_.append("\r\n");
    out_.append(resp_.body);
    close_after_write_ = close;
    SetDeadline(opts().write_timeout);
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWrite(ec); });
  }

  void OnWrite(beast::error_code ec) {
    if (started_) {
      server_->in_flight_.fetch_sub(1, std::memory_order_relaxed);
      started_ = false;
    }
    if (ec) return Close();
    if (close_after_write_) return lingering_ ? Linger() : Close();
    ReadHeader();
  }

  // After an error response sent before the request was fully read: stop
  // sending, then drain what the client still sends for a moment so it can
  // read the response instead of getting a connection reset.
  void Linger() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    drain_.resize(16384);
    SetDeadline(std::chrono::milliseconds(2000));
    DrainSome(0);
  }

  void DrainSome(size_t total) {
    socket_.async_read_some(asio::buffer(drain_), [self = shared_from_this(), total](beast::error_code ec, size_t n) {
      if (ec || total + n > (size_t{64} << 20)) return self->Close();
      self->DrainSome(total + n);
    });
  }

  void Close() {
    if (started_) {
      server_->in_flight_.fetch_sub(1, std::memory_order_relaxed);
      started_ = false;
    }
    closed_ = true;
    beast::error_code ignored;
    timer_.cancel(ignored);
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  Clock::time_point deadline_ = Clock::time_point::max();
  Clock::time_point armed_at_ = Clock::time_point::max();
  uint64_t timer_gen_ = 0;
  bool timer_armed_ = false;
  bool timed_out_ = false;
  bool closed_ = false;
  HttpServer* server_;
  HttpServer::Loop* loop_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Request req_;
  Response resp_;
  std::string out_;
  bool keep_alive_ = true;
  bool close_after_write_ = false;
  bool started_ = false;  // counted in in_flight_
  bool lingering_ = false;
  bool deferred_ = false;  // the handler completes the response later
  std::string drain_;
};

namespace {

void Accept(HttpServer* server, HttpServer::Loop* loop, std::atomic<int>* connections, int max_connections) {
  loop->acceptor.async_accept([server, loop, connections, max_connections](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !loop->acceptor.is_open()) return;
    if (!ec) {
      if (connections->fetch_add(1, std::memory_order_relaxed) >= max_connections) {
        connections->fetch_sub(1, std::memory_order_relaxed);
        static const std::string kBusy = [] {
          const std::string body =
              "{\"error\":\"too many open connections\",\"code\":\"UNAVAILABLE\",\"details\":[]}";
          return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        }();
        beast::error_code ignored;
        asio::write(socket, asio::buffer(kBusy), ignored);
        socket.close(ignored);
      } else {
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<Session>(std::move(socket), server, loop)->Start();
      }
    }
    Accept(server, loop, connections, max_connections);
  });
}

}  // namespace

HttpServer::HttpServer(const HttpServerOptions& options, HttpHandler* handler)
    : options_(options), handler_(handler) {}

HttpServer::~HttpServer() {
  Stop(std::chrono::milliseconds(0));
  Wait();
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(const HttpServerOptions& options, HttpHandler* handler) {
  auto server = std::unique_ptr<HttpServer>(new HttpServer(options, handler));
  beast::error_code ec;
  auto address = asio::ip::make_address(options.host, ec);
  if (ec) return InvalidArgumentError("listen address '" + options.host + "' is not an IP address");
  uint16_t port = options.port;
  const int n = std::max(1, options.threads);
  for (int i = 0; i < n; ++i) {
    auto loop = std::make_unique<Loop>(i);
    tcp::endpoint ep(address, port);
    loop->acceptor.open(ep.protocol(), ec);
    if (!ec) loop->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) loop->acceptor.set_option(ReusePort(true), ec);
    if (!ec) loop->acceptor.bind(ep, ec);
    if (!ec) loop->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return UnavailableError("cannot listen on " + options.host + ":" + std::to_string(port) + ": " + ec.message());
    }
    if (port == 0) port = loop->acceptor.local_endpoint().port();
    server->loops_.push_back(std::move(loop));
  }
  server->port_ = port;
  server->offload_ = std::make_unique<ThreadPool>(options.offload_threads, "rtml-offload");
  return server;
}

void HttpServer::Start() {
  for (auto& loop : loops_) {
    Accept(this, loop.get(), &connections_, options_.max_connections);
    Loop* l = loop.get();
    threads_.emplace_back([l] { l->ioc.run(); });
    pthread_setname_np(threads_.back().native_handle(), ("rtml-http-" + std::to_string(l->index)).c_str());
  }
}

void HttpServer::Stop(std::chrono::milliseconds grace) {
  if (draining_.exchange(true)) return;
  for (auto& loop : loops_) {
    Loop* l = loop.get();
    asio::post(l->ioc, [l] {
      beast::error_code ignored;
      l->acceptor.close(ignored);
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& loop : loops_) loop->ioc.stop();
}

void HttpServer::Wait() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
  offload_.reset();
}

}  // namespace rtml::server
