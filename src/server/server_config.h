// ServerConfig: every `rtml serve` setting, from (lowest to highest
// precedence) defaults, a JSON config file, RTML_* environment variables and
// command-line flags.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace rtml::server {

struct ServerConfig {
  std::string data_dir = "./rtml-data";
  std::string listen = "127.0.0.1:8080";
  int threads = 0;  // 0: one per core
  int offload_threads = 4;
  int64_t max_body_bytes = int64_t{64} << 20;
  int64_t max_batch = 4096;
  int64_t header_timeout_ms = 10'000;
  int64_t body_timeout_ms = 30'000;
  int64_t max_connections = 10'000;
  int64_t max_concurrent = 0;
  double rate_limit = 0;  // requests per second per key; 0 = off
  double rate_burst = 0;
  int64_t max_revisions = 50;
  int64_t query_row_limit = 10'000;
  int64_t query_timeout_ms = 5'000;
  std::string demo_dir;  // deploy every model here on first start

  // Name, environment variable and description of each setting, in order.
  struct Setting {
    const char* name;
    const char* env;
    const char* help;
  };
  static const std::vector<Setting>& Settings();

  // Applies a JSON object of settings (unknown keys are errors).
  Status ApplyJson(const std::string& json_text, const std::string& origin);
  // Applies RTML_* variables present in the environment.
  Status ApplyEnvironment();
  // Sets one setting from its string form.
  Status Set(const std::string& name, const std::string& value, const std::string& origin);

  StatusOr<std::pair<std::string, uint16_t>> ListenAddress() const;
};

}  // namespace rtml::server
