#include "cli/http_client.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace rtml::cli {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

HttpClient::HttpClient(std::string host, std::string port)
    : host_(std::move(host)), port_(std::move(port)), stream_(ioc_) {}

Status HttpClient::Connect() {
  beast::error_code ec;
  tcp::resolver resolver(ioc_);
  auto results = resolver.resolve(host_, port_, ec);
  if (ec) return UnavailableError("cannot resolve " + host_ + ": " + ec.message());
  stream_.connect(results, ec);
  if (ec) return UnavailableError("cannot connect to " + host_ + ":" + port_ + ": " + ec.message());
  return OkStatus();
}

StatusOr<std::pair<int, std::string>> HttpClient::Request(http::verb method, const std::string& target,
                                                          const std::string& key, const std::string& sandbox,
                                                          std::string body, const std::string& content_type) {
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, host_);
  req.set(http::field::content_type, content_type);
  req.set(http::field::authorization, "Bearer " + key);
  req.set("x-sandbox-name", sandbox);
  req.body() = std::move(body);
  req.prepare_payload();
  beast::error_code ec;
  http::write(stream_, req, ec);
  if (ec) return UnavailableError("sending to the server failed: " + ec.message());
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream_, buffer, res, ec);
  if (ec) return UnavailableError("reading the server's answer failed: " + ec.message());
  return std::make_pair(static_cast<int>(res.result_int()), std::move(res.body()));
}

std::pair<std::string, std::string> SplitServer(const std::string& server) {
  std::string s = server;
  if (s.rfind("http://", 0) == 0) s = s.substr(7);
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) return {s, "8080"};
  return {s.substr(0, colon), s.substr(colon + 1)};
}

std::string FindApiKey(const std::string& key, const std::string& data_dir) {
  if (!key.empty()) return key;
  if (const char* env = std::getenv("RTML_API_KEY")) return env;
  std::ifstream kf(std::filesystem::path(data_dir) / "admin.key");
  std::string k;
  std::getline(kf, k);
  return k;
}

}  // namespace rtml::cli
