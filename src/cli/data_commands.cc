// `rtml query` (read-only SQL over a data directory) and `rtml ingest`
// (streams a file of records to a running server in batches, with progress).
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/http_client.h"
#include "data/query.h"
#include "nlohmann/json.hpp"
#include "simdjson.h"

namespace rtml::cli {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

int QueryCommand(const QueryOptions& o) {
  const std::string path = (std::filesystem::path(o.data_dir) / "data" / (o.sandbox + ".db")).string();
  if (!std::filesystem::exists(path)) {
    std::fprintf(stderr, "rtml: sandbox '%s' has no data in %s\n", o.sandbox.c_str(), o.data_dir.c_str());
    return 1;
  }
  auto result = data::RunReadOnlyQuery(path, o.sql, o.row_limit, o.time_limit_ms);
  if (!result.ok()) {
    std::fprintf(stderr, "rtml: %s\n", result.status().message().c_str());
    return 1;
  }
  std::printf("%s\n", result->c_str());
  return 0;
}

namespace {

struct Totals {
  int64_t accepted = 0;
  int64_t duplicates = 0;
  int64_t rejected = 0;
};

void Progress(size_t done, size_t total, const Totals& t, double seconds, bool final) {
  if (!isatty(2) && !final) return;
  const double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  const int width = 30;
  const int fill = static_cast<int>(frac * width);
  std::fprintf(stderr, "\r[%.*s%*s] %5.1f%%  %lld accepted, %lld rejected, %.0f records/s%s", fill,
               "##############################", width - fill, "", frac * 100, static_cast<long long>(t.accepted),
               static_cast<long long>(t.rejected), seconds > 0 ? static_cast<double>(t.accepted + t.rejected) / seconds : 0.0,
               final ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace

int IngestCommand(const IngestOptions& o) {
  const std::string key = FindApiKey(o.key, o.data_dir);
  if (key.empty()) {
    std::fprintf(stderr, "rtml: no API key: pass --key, set RTML_API_KEY, or point --data-dir at the server's data\n");
    return 1;
  }
  std::ifstream in(o.file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "rtml: cannot open '%s'\n", o.file.c_str());
    return 1;
  }
  std::error_code fec;
  const size_t total = static_cast<size_t>(std::filesystem::file_size(o.file, fec));
  const auto [host, port] = SplitServer(o.server);
  HttpClient client(host, port);
  if (Status s = client.Connect(); !s.ok()) {
    std::fprintf(stderr, "rtml: %s\n", s.message().c_str());
    return 1;
  }
  const std::string target = "/v1/datasets/" + o.dataset + "/records";
  Totals totals;
  int64_t base_index = 0;
  size_t consumed = 0;
  const auto start = std::chrono::steady_clock::now();
  int printed_errors = 0;

  auto send = [&](std::string& batch, int64_t count) -> bool {
    auto r = client.Request(http::verb::post, target, key, o.sandbox, std::move(batch), "application/x-ndjson");
    batch.clear();
    if (!r.ok()) {
      std::fprintf(stderr, "\nrtml: %s\n", r.status().message().c_str());
      return false;
    }
    if (r->first != 200) {
      std::fprintf(stderr, "\nrtml: the server answered %d: %s\n", r->first, r->second.c_str());
      return false;
    }
    try {
      auto j = nlohmann::json::parse(r->second);
      totals.accepted += j.value("accepted", 0);
      totals.duplicates += j.value("duplicates", 0);
      for (const auto& rej : j["rejected"]) {
        ++totals.rejected;
        if (printed_errors < 10) {
          ++printed_errors;
          std::string errs;
          for (const auto& e : rej["errors"]) errs += (errs.empty() ? "" : "; ") + e.get<std::string>();
          std::fprintf(stderr, "\nrecord %lld: %s", static_cast<long long>(base_index + rej["index"].get<int64_t>() + 1),
                       errs.c_str());
        }
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "\nrtml: unreadable answer from the server: %s\n", e.what());
      return false;
    }
    base_index += count;
    Progress(consumed, total, totals,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), false);
    return true;
  };

  // JSON array files are re-sent as NDJSON; NDJSON files line by line.
  int first = in.peek();
  while (first == ' ' || first == '\n' || first == '\r' || first == '\t') {
    in.get();
    first = in.peek();
  }
  std::string batch;
  int64_t in_batch = 0;
  if (first == '[') {
    std::ostringstream buf;
    buf << in.rdbuf();
    simdjson::dom::parser parser;
    simdjson::dom::array arr;
    const std::string text = buf.str();
    if (auto e = parser.parse(text).get_array().get(arr)) {
      std::fprintf(stderr, "rtml: %s is not a JSON array: %s\n", o.file.c_str(), simdjson::error_message(e));
      return 1;
    }
    const size_t n = arr.size();
    size_t i = 0;
    for (simdjson::dom::element rec : arr) {
      batch += simdjson::minify(rec);
      batch += '\n';
      ++in_batch;
      ++i;
      consumed = total * i / std::max<size_t>(n, 1);
      if (in_batch == o.batch) {
        if (!send(batch, in_batch)) return 1;
        in_batch = 0;
      }
    }
  } else {
    std::string line;
    while (std::getline(in, line)) {
      consumed += line.size() + 1;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      batch += line;
      batch += '\n';
      if (++in_batch == o.batch) {
        if (!send(batch, in_batch)) return 1;
        in_batch = 0;
      }
    }
  }
  if (in_batch > 0 && !send(batch, in_batch)) return 1;
  consumed = total;
  Progress(consumed, total, totals, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), true);
  std::printf("{\"accepted\":%lld,\"duplicates\":%lld,\"rejected\":%lld}\n", static_cast<long long>(totals.accepted),
              static_cast<long long>(totals.duplicates), static_cast<long long>(totals.rejected));
  return totals.rejected > 0 ? 2 : 0;
}

}  // namespace rtml::cli
