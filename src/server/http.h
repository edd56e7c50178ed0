// The HTTP types handlers see: a parsed request and a response to fill.
//
// Handlers run on the event-loop thread that owns the connection (or on the
// offload pool for routes marked blocking). They must not keep references to
// a Request after returning.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/verb.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace rtml::server {

namespace http = boost::beast::http;

struct Principal;

// Completes a deferred response from any thread: the handler fills the
// Response it was given, then calls Complete() once.
class ResponseCompleter {
 public:
  virtual ~ResponseCompleter() = default;
  virtual void Complete() = 0;
};

// Implemented by the connection: turns the current response into a deferred
// one. After Defer() the handler may return at once; the connection writes
// nothing until the completer is called.
class Deferrer {
 public:
  virtual ~Deferrer() = default;
  virtual std::shared_ptr<ResponseCompleter> Defer() = 0;
};

struct Request {
  http::verb method = http::verb::unknown;
  std::string_view target;  // path and query as sent
  std::string_view path;    // without the query string
  std::string_view query;   // after '?', may be empty
  const http::fields* headers = nullptr;
  std::string* body = nullptr;  // mutable: JSON parsers may reserve padding
  // Path parameters captured by the router, in pattern order.
  std::string_view params[4];
  int num_params = 0;
  // Set by the auth layer before the handler runs.
  const Principal* principal = nullptr;
  Deferrer* deferrer = nullptr;
  bool deferred = false;  // set by DeferResponse: the handler answers later
  std::string_view sandbox;

  std::string_view Header(http::field f) const;
  std::string_view Header(std::string_view name) const;
  std::string_view param(int i) const { return params[i]; }
  // Value of `key` in the query string (undecoded), or empty.
  std::string_view QueryParam(std::string_view key) const;
};

// Decodes %XX escapes (and '+' is kept as is, as in paths). Malformed
// escapes are kept verbatim.
std::string PercentDecode(std::string_view s);

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // ask the server to close the connection afterwards

  void Clear() {
    status = 200;
    content_type = "application/json";
    body.clear();
    headers.clear();
    close = false;
  }
  // Fills an error body {"error","code","details"} with the status's HTTP code.
  void SetError(const Status& status);
  void SetError(const Status& status, const std::vector<std::string>& details);
  void SetJson(int code, std::string json) {
    status = code;
    content_type = "application/json";
    body = std::move(json);
  }
};

}  // namespace rtml::server
