// Subcommand entry points of the rtml executable. Each returns the process
// exit code and reports failures as one line on stderr.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtml::cli {

inline constexpr std::string_view kVersion = "0.1.0";

struct RunOptions {
  std::string model;
  std::string request;
};
int RunCommand(const RunOptions& options);

struct BenchOptions {
  std::string model;
  std::string request;
  double seconds = 3.0;
};
int BenchCommand(const BenchOptions& options);

struct ConformanceOptions {
  std::string dir;
  std::string filter;
  bool verbose = false;
  int min_passed = 0;  // fail unless at least this many cases pass
};
int ConformanceCommand(const ConformanceOptions& options);

int OpsCommand();

struct ServeOptions {
  std::string config_file;
  // Settings given on the command line, by setting name.
  std::vector<std::pair<std::string, std::string>> overrides;
};
int ServeCommand(const ServeOptions& options);

struct QueryOptions {
  std::string data_dir = "./rtml-data";
  std::string sandbox = "prod";
  std::string sql;
  int64_t row_limit = 10'000;
  int64_t time_limit_ms = 30'000;
};
int QueryCommand(const QueryOptions& options);

struct IngestOptions {
  std::string file;
  std::string dataset;
  std::string server = "127.0.0.1:8080";
  std::string sandbox = "prod";
  std::string key;  // else RTML_API_KEY, else <data-dir>/admin.key
  std::string data_dir = "./rtml-data";
  int64_t batch = 1000;
};
// Exit code 0 when every record was accepted, 2 when some were rejected,
// 1 on errors.
int IngestCommand(const IngestOptions& options);

struct TrainOptions {
  std::string model;
  std::string dataset;
  std::string sql;
  std::string label;
  std::string pipeline_file;
  std::vector<std::string> features;
  std::string algorithm = "gbdt";
  std::vector<std::string> params;  // name=value
  double validation_fraction = 0.2;
  uint64_t seed = 1;
  std::string deploy;  // service to deploy the run to when it succeeds
  std::string server = "127.0.0.1:8080";
  std::string sandbox = "prod";
  std::string key;
  std::string data_dir = "./rtml-data";
};
int TrainCommand(const TrainOptions& options);

}  // namespace rtml::cli
