// A small synchronous HTTP/1.1 client (Beast) for the command line tools
// that talk to a running server (rtml ingest, rtml train). One connection,
// kept alive; not thread-safe.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <string>
#include <utility>

#include "common/status.h"

namespace rtml::cli {

class HttpClient {
 public:
  HttpClient(std::string host, std::string port);
  Status Connect();
  // Returns (status code, body).
  StatusOr<std::pair<int, std::string>> Request(boost::beast::http::verb method, const std::string& target,
                                                const std::string& key, const std::string& sandbox, std::string body,
                                                const std::string& content_type = "application/json");

 private:
  std::string host_, port_;
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
};

// Splits "host:port" (an optional "http://" prefix is dropped).
std::pair<std::string, std::string> SplitServer(const std::string& server);
// --key, else RTML_API_KEY, else <data-dir>/admin.key; empty if none.
std::string FindApiKey(const std::string& key, const std::string& data_dir);

}  // namespace rtml::cli
