// `rtml serve`: the prediction server.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "data/data_store.h"
#include "decision/delivery.h"
#include "server/api_server.h"
#include "server/auth.h"
#include "server/http_server.h"
#include "server/server_config.h"
#include "serving/catalog.h"
#include "serving/service_registry.h"
#include "serving/service_scorer.h"
#include "serving/training_runs.h"

namespace rtml::cli {

namespace {

void Log(const std::string& msg) {
  std::fprintf(stderr, "%s rtml: %s\n", serving::NowRfc3339().c_str(), msg.c_str());
  std::fflush(stderr);
}

// Uploads and deploys every *.onnx under `dir` (service name = file stem)
// into sandbox "prod"; used for the demo on an empty data directory.
void DeployDemo(const std::string& dir, serving::ServiceRegistry& registry) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".onnx") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  int deployed = 0;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::ostringstream buf;
    buf << in.rdbuf();
    const std::string name = f.stem().string();
    auto up = registry.UploadModel("prod", name, buf.str());
    if (!up.ok()) {
      Log("demo: skipping " + f.filename().string() + ": " + up.status().message());
      continue;
    }
    serving::DeploySpec spec;
    spec.model_name = name;
    spec.model_version = up->record.version;
    if (registry.Deploy("prod", name, spec, "").ok()) ++deployed;
  }
  Log("demo: deployed " + std::to_string(deployed) + " services from " + dir);
}

}  // namespace

int ServeCommand(const ServeOptions& o) {
  server::ServerConfig config;
  if (!o.config_file.empty()) {
    std::ifstream in(o.config_file);
    if (!in) {
      std::fprintf(stderr, "rtml: cannot open config file '%s'\n", o.config_file.c_str());
      return 1;
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    if (Status s = config.ApplyJson(buf.str(), o.config_file); !s.ok()) {
      std::fprintf(stderr, "rtml: %s\n", s.message().c_str());
      return 1;
    }
  }
  if (Status s = config.ApplyEnvironment(); !s.ok()) {
    std::fprintf(stderr, "rtml: %s\n", s.message().c_str());
    return 1;
  }
  for (const auto& [name, value] : o.overrides) {
    if (Status s = config.Set(name, value, "--" + name); !s.ok()) {
      std::fprintf(stderr, "rtml: %s\n", s.message().c_str());
      return 1;
    }
  }
  auto address = config.ListenAddress();
  if (!address.ok()) {
    std::fprintf(stderr, "rtml: %s\n", address.status().message().c_str());
    return 1;
  }
  const int threads = config.threads > 0 ? config.threads : std::max(1u, std::thread::hardware_concurrency());
  // Request bodies of ingestion batches are large (hundreds of KB): keep
  // them on the heap instead of a fresh mmap (and page faults) each time.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);

  // Signals are handled by this thread only (sigwait below).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto catalog = serving::Catalog::Open(config.data_dir);
  if (!catalog.ok()) {
    std::fprintf(stderr, "rtml: %s\n", catalog.status().message().c_str());
    return 1;
  }
  serving::RegistryOptions reg_opts;
  reg_opts.stat_shards = threads + 1;
  reg_opts.max_revisions = static_cast<size_t>(config.max_revisions);
  serving::ServiceRegistry registry(catalog->get(), reg_opts);
  server::KeyStore keys(catalog->get());
  std::string generated;
  const char* env_key = std::getenv("RTML_ADMIN_KEY");
  if (Status s = keys.Init(env_key ? env_key : "", &generated); !s.ok()) {
    std::fprintf(stderr, "rtml: %s\n", s.message().c_str());
    return 1;
  }
  if (!generated.empty()) Log("generated an admin key; it is in " + generated + " (mode 0600)");

  // Goal events reach delivery once it is loaded (it needs the data store),
  // and stop before it is destroyed: the data store's writer calls this.
  std::mutex delivery_hook_mu;
  decision::Delivery* delivery_hook = nullptr;
  data::DataOptions data_opts;
  data_opts.data_dir = config.data_dir;
  data_opts.on_event = [&delivery_hook_mu, &delivery_hook](const data::CommittedEvent& ev) {
    std::lock_guard<std::mutex> lock(delivery_hook_mu);
    if (delivery_hook != nullptr) delivery_hook->OnEvent(ev);
  };
  data_opts.query_row_limit = config.query_row_limit;
  data_opts.query_time_limit_ms = config.query_timeout_ms;
  auto data_store = data::DataStore::Open(data_opts);
  if (!data_store.ok()) {
    std::fprintf(stderr, "rtml: %s\n", data_store.status().message().c_str());
    return 1;
  }

  server::ApiOptions api_opts;
  api_opts.threads = threads;
  api_opts.max_batch = static_cast<size_t>(config.max_batch);
  api_opts.max_concurrent = static_cast<int>(config.max_concurrent);
  api_opts.rate_per_key = config.rate_limit;
  api_opts.rate_burst = config.rate_burst;
  api_opts.version = std::string(kVersion);
  serving::TrainingRuns training(catalog->get(), &registry, data_store->get());
  serving::ServiceScorer scorer(&registry, data_store->get());
  decision::DeliveryOptions delivery_opts;
  delivery_opts.data_dir = config.data_dir;
  auto delivery = decision::Delivery::Open(delivery_opts, data_store->get(), &scorer);
  if (!delivery.ok()) {
    std::fprintf(stderr, "rtml: %s\n", delivery.status().message().c_str());
    return 1;
  }
  server::ApiServer api(api_opts, &registry, &keys, data_store->get(), &training, delivery->get());

  server::HttpServerOptions http_opts;
  http_opts.host = address->first;
  http_opts.port = address->second;
  http_opts.threads = threads;
  http_opts.offload_threads = config.offload_threads;
  http_opts.max_body_bytes = static_cast<size_t>(config.max_body_bytes);
  http_opts.header_timeout = std::chrono::milliseconds(config.header_timeout_ms);
  http_opts.body_timeout = std::chrono::milliseconds(config.body_timeout_ms);
  http_opts.max_connections = static_cast<int>(config.max_connections);
  auto http = server::HttpServer::Create(http_opts, &api);
  if (!http.ok()) {
    std::fprintf(stderr, "rtml: %s\n", http.status().message().c_str());
    return 1;
  }
  api.set_http_server(http->get());
  // Serve health endpoints (ready = 503) while the catalog loads.
  (*http)->Start();
  Log("listening on " + address->first + ":" + std::to_string((*http)->port()) + " with " + std::to_string(threads) +
      " threads, data in " + config.data_dir);
  const auto load_start = std::chrono::steady_clock::now();
  if (Status s = registry.LoadFromCatalog(); !s.ok()) {
    Log("cannot load the catalog: " + s.message());
    (*http)->Stop(std::chrono::milliseconds(0));
    (*http)->Wait();
    return 1;
  }
  if (Status s = training.Load(); !s.ok()) {
    Log("cannot load the training runs: " + s.message());
  }
  if (Status s = (*data_store)->Load(); !s.ok()) {
    Log("cannot load the data: " + s.message());
    (*http)->Stop(std::chrono::milliseconds(0));
    (*http)->Wait();
    return 1;
  }
  if (Status s = (*delivery)->Load(); !s.ok()) {
    Log("cannot load the delivery log: " + s.message());
    (*http)->Stop(std::chrono::milliseconds(0));
    (*http)->Wait();
    return 1;
  }
  {
    std::lock_guard<std::mutex> lock(delivery_hook_mu);
    delivery_hook = delivery->get();
  }
  if (!config.demo_dir.empty()) {
    auto models = registry.ListModels("prod");
    if (models.ok() && models->empty()) DeployDemo(config.demo_dir, registry);
  }
  size_t services = 0;
  for (const auto& [sb, svcs] : registry.snapshot()->sandboxes) services += svcs.size();
  api.set_ready(true);
  Log("ready: " + std::to_string(services) + " services loaded in " +
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - load_start).count()) +
      " ms");

  int sig = 0;
  sigwait(&signals, &sig);
  Log(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ", finishing in-flight requests");
  api.set_ready(false);
  (*http)->Stop(std::chrono::milliseconds(10'000));
  (*http)->Wait();
  // Delivery goes first, while the HTTP objects its pending completions post
  // to still exist; the data store no longer forwards events to it.
  {
    std::lock_guard<std::mutex> lock(delivery_hook_mu);
    delivery_hook = nullptr;
  }
  delivery->reset();
  Log("stopped");
  return 0;
}

}  // namespace rtml::cli
