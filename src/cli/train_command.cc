// `rtml train`: starts a training run on a running server, shows its
// progress and prints the finished run.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "cli/http_client.h"
#include "nlohmann/json.hpp"

namespace rtml::cli {

namespace http = boost::beast::http;
using nlohmann::json;

namespace {

// The server's error message ("<message> (HTTP 400 INVALID_ARGUMENT)"), or
// the raw body when it is not an rtml error object.
std::string ErrorText(int status, const std::string& body) {
  try {
    const json j = json::parse(body);
    if (j.is_object() && j.contains("error") && j["error"].is_string()) {
      return j["error"].get<std::string>() + " (HTTP " + std::to_string(status) + " " + j.value("code", "") + ")";
    }
  } catch (const std::exception&) {
  }
  return "the server answered " + std::to_string(status) + ": " + body;
}

}  // namespace

int TrainCommand(const TrainOptions& o) {
  const std::string key = FindApiKey(o.key, o.data_dir);
  if (key.empty()) {
    std::fprintf(stderr, "rtml: no API key: pass --key, set RTML_API_KEY, or point --data-dir at the server's data\n");
    return 1;
  }
  json req = {{"model", o.model}, {"label", o.label}, {"algorithm", o.algorithm}};
  if (!o.dataset.empty()) req["dataset"] = o.dataset;
  if (!o.sql.empty()) req["sql"] = o.sql;
  if (!o.pipeline_file.empty()) {
    std::ifstream in(o.pipeline_file);
    if (!in) {
      std::fprintf(stderr, "rtml: cannot open '%s'\n", o.pipeline_file.c_str());
      return 1;
    }
    std::stringstream buf;
    buf << in.rdbuf();
    try {
      req["pipeline"] = json::parse(buf.str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "rtml: %s is not JSON: %s\n", o.pipeline_file.c_str(), e.what());
      return 1;
    }
  }
  if (!o.features.empty()) req["features"] = o.features;
  json params = json::object();
  for (const auto& p : o.params) {
    const auto eq = p.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "rtml: --param needs name=value, got '%s'\n", p.c_str());
      return 1;
    }
    params[p.substr(0, eq)] = p.substr(eq + 1);
  }
  if (!params.empty()) req["params"] = params;
  req["validation"] = {{"fraction", o.validation_fraction}, {"seed", o.seed}};

  const auto [host, port] = SplitServer(o.server);
  HttpClient client(host, port);
  if (Status s = client.Connect(); !s.ok()) {
    std::fprintf(stderr, "rtml: %s\n", s.message().c_str());
    return 1;
  }
  auto started = client.Request(http::verb::post, "/v1/training-runs", key, o.sandbox, req.dump());
  if (!started.ok()) {
    std::fprintf(stderr, "rtml: %s\n", started.status().message().c_str());
    return 1;
  }
  if (started->first != 202) {
    std::fprintf(stderr, "rtml: %s\n", ErrorText(started->first, started->second).c_str());
    return 1;
  }
  const std::string id = json::parse(started->second).value("id", "");
  const bool tty = isatty(2);
  json run;
  std::string last_status;
  int last_step = -1;  // tenths of progress already reported (not a terminal)
  for (;;) {
    auto r = client.Request(http::verb::get, "/v1/training-runs/" + id, key, o.sandbox, "");
    if (!r.ok() || r->first != 200) {
      std::fprintf(stderr, "\nrtml: cannot read the run: %s\n", r.ok() ? r->second.c_str() : r.status().message().c_str());
      return 1;
    }
    run = json::parse(r->second);
    const std::string status = run.value("status", "");
    const double p = run.value("progress", 0.0);
    if (tty) {
      const int fill = static_cast<int>(p * 30);
      std::fprintf(stderr, "\r%s [%.*s%*s] %5.1f%% %-10s", id.c_str(), fill, "##############################", 30 - fill,
                   "", p * 100, status.c_str());
      std::fflush(stderr);
    } else if (status != last_status || static_cast<int>(p * 10) > last_step) {
      // Not a terminal (a log, CI): one line per status change and per 10%.
      std::fprintf(stderr, "%s %5.1f%% %s\n", id.c_str(), p * 100, status.c_str());
      last_status = status;
      last_step = static_cast<int>(p * 10);
    }
    if (status != "queued" && status != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (tty) std::fprintf(stderr, "\n");
  run.erase("pipeline");
  std::printf("%s\n", run.dump(2).c_str());
  if (run.value("status", "") != "succeeded") {
    std::fprintf(stderr, "rtml: training run %s %s: %s\n", id.c_str(), run.value("status", "").c_str(),
                 run.value("error", "no error recorded").c_str());
    return 1;
  }
  if (!o.deploy.empty()) {
    auto d = client.Request(http::verb::put, "/v1/services/" + o.deploy, key, o.sandbox, json{{"training_run", id}}.dump());
    if (!d.ok() || d->first != 201) {
      std::fprintf(stderr, "rtml: deploying failed: %s\n",
                   d.ok() ? ErrorText(d->first, d->second).c_str() : d.status().message().c_str());
      return 1;
    }
    std::printf("%s\n", d->second.c_str());
  }
  return 0;
}

}  // namespace rtml::cli
