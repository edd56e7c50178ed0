// Subcommand entry points of the rtml executable. Each returns the process
// exit code and reports failures as one line on stderr.
#pragma once

#include <string>
#include <string_view>

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

}  // namespace rtml::cli
