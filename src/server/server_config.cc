#include "server/server_config.h"

#include <cstdlib>

#include "nlohmann/json.hpp"

namespace rtml::server {

const std::vector<ServerConfig::Setting>& ServerConfig::Settings() {
  static const std::vector<Setting> settings = {
      {"data_dir", "RTML_DATA_DIR", "data directory (catalog, model files, admin.key)"},
      {"listen", "RTML_LISTEN", "HOST:PORT to listen on"},
      {"threads", "RTML_THREADS", "event-loop threads (0 = one per core)"},
      {"offload_threads", "RTML_OFFLOAD_THREADS", "threads for uploads, deploys and other slow calls"},
      {"max_body_bytes", "RTML_MAX_BODY_BYTES", "largest request body accepted (413 above)"},
      {"max_batch", "RTML_MAX_BATCH", "most rows/instances per inference request (413 above)"},
      {"header_timeout_ms", "RTML_HEADER_TIMEOUT_MS", "time to receive request headers; also the keep-alive idle limit (408)"},
      {"body_timeout_ms", "RTML_BODY_TIMEOUT_MS", "time to receive a request body (408)"},
      {"max_connections", "RTML_MAX_CONNECTIONS", "open connections before new ones get 503"},
      {"max_concurrent", "RTML_MAX_CONCURRENT", "in-flight inference requests before 429 (0 = unlimited)"},
      {"rate_limit", "RTML_RATE_LIMIT", "requests per second per API key before 429 (0 = unlimited)"},
      {"rate_burst", "RTML_RATE_BURST", "burst allowed above the per-key rate (default: the rate)"},
      {"max_revisions", "RTML_MAX_REVISIONS", "revisions kept per service; older ones without traffic are pruned"},
      {"query_row_limit", "RTML_QUERY_ROW_LIMIT", "most rows a SQL query returns (the rest is cut, truncated=true)"},
      {"query_timeout_ms", "RTML_QUERY_TIMEOUT_MS", "time limit of a SQL query (408 above)"},
      {"demo_dir", "RTML_DEMO_DIR", "on first start, upload and deploy every *.onnx file here"},
  };
  return settings;
}

namespace {
StatusOr<int64_t> ToInt(const std::string& name, const std::string& v, int64_t lo, int64_t hi) {
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || x < lo || x > hi) {
    return InvalidArgumentError("setting '" + name + "' must be an integer between " + std::to_string(lo) + " and " +
                                std::to_string(hi) + ", got '" + v + "'");
  }
  return static_cast<int64_t>(x);
}
StatusOr<double> ToDouble(const std::string& name, const std::string& v) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !(x >= 0)) {
    return InvalidArgumentError("setting '" + name + "' must be a non-negative number, got '" + v + "'");
  }
  return x;
}
}  // namespace

Status ServerConfig::Set(const std::string& name, const std::string& value, const std::string& origin) {
  auto wrap = [&](Status s) { return s.ok() ? s : s.WithPrefix(origin); };
  constexpr int64_t kBig = int64_t{1} << 40;
  if (name == "data_dir") data_dir = value;
  else if (name == "listen") listen = value;
  else if (name == "demo_dir") demo_dir = value;
  else if (name == "threads") { auto v = ToInt(name, value, 0, 256); if (!v.ok()) return wrap(v.status()); threads = static_cast<int>(*v); }
  else if (name == "offload_threads") { auto v = ToInt(name, value, 1, 64); if (!v.ok()) return wrap(v.status()); offload_threads = static_cast<int>(*v); }
  else if (name == "max_body_bytes") { auto v = ToInt(name, value, 1024, kBig); if (!v.ok()) return wrap(v.status()); max_body_bytes = *v; }
  else if (name == "max_batch") { auto v = ToInt(name, value, 1, 1 << 24); if (!v.ok()) return wrap(v.status()); max_batch = *v; }
  else if (name == "header_timeout_ms") { auto v = ToInt(name, value, 10, kBig); if (!v.ok()) return wrap(v.status()); header_timeout_ms = *v; }
  else if (name == "body_timeout_ms") { auto v = ToInt(name, value, 10, kBig); if (!v.ok()) return wrap(v.status()); body_timeout_ms = *v; }
  else if (name == "max_connections") { auto v = ToInt(name, value, 1, 1 << 24); if (!v.ok()) return wrap(v.status()); max_connections = *v; }
  else if (name == "max_concurrent") { auto v = ToInt(name, value, 0, 1 << 24); if (!v.ok()) return wrap(v.status()); max_concurrent = *v; }
  else if (name == "max_revisions") { auto v = ToInt(name, value, 1, 100000); if (!v.ok()) return wrap(v.status()); max_revisions = *v; }
  else if (name == "query_row_limit") { auto v = ToInt(name, value, 1, 10'000'000); if (!v.ok()) return wrap(v.status()); query_row_limit = *v; }
  else if (name == "query_timeout_ms") { auto v = ToInt(name, value, 10, 3'600'000); if (!v.ok()) return wrap(v.status()); query_timeout_ms = *v; }
  else if (name == "rate_limit") { auto v = ToDouble(name, value); if (!v.ok()) return wrap(v.status()); rate_limit = *v; }
  else if (name == "rate_burst") { auto v = ToDouble(name, value); if (!v.ok()) return wrap(v.status()); rate_burst = *v; }
  else return wrap(InvalidArgumentError("unknown setting '" + name + "'"));
  return OkStatus();
}

Status ServerConfig::ApplyJson(const std::string& text, const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    return InvalidArgumentError(origin + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) return InvalidArgumentError(origin + ": must be a JSON object of settings");
  for (const auto& [key, value] : j.items()) {
    std::string v;
    if (value.is_string()) v = value.get<std::string>();
    else if (value.is_number_integer()) v = std::to_string(value.get<int64_t>());
    else if (value.is_number()) v = std::to_string(value.get<double>());
    else return InvalidArgumentError(origin + ": setting '" + key + "' must be a string or a number");
    RETURN_IF_ERROR(Set(key, v, origin));
  }
  return OkStatus();
}

Status ServerConfig::ApplyEnvironment() {
  for (const auto& s : Settings()) {
    if (const char* v = std::getenv(s.env)) RETURN_IF_ERROR(Set(s.name, v, std::string("environment ") + s.env));
  }
  return OkStatus();
}

StatusOr<std::pair<std::string, uint16_t>> ServerConfig::ListenAddress() const {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return InvalidArgumentError("listen must be HOST:PORT, got '" + listen + "'");
  auto port = ToInt("listen port", listen.substr(colon + 1), 0, 65535);
  if (!port.ok()) return port.status();
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  return std::make_pair(host, static_cast<uint16_t>(*port));
}

}  // namespace rtml::server
