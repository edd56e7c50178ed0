// Subcommand entry points of the rtml executable. Each returns the process
// exit code and reports failures as one line on stderr.
#pragma once

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

}  // namespace rtml::cli
