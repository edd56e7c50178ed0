// rtml: one executable, many subcommands.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include <map>

#include "cli/commands.h"
#include "server/server_config.h"

int main(int argc, char** argv) {
  CLI::App app{"rtml — real-time machine learning: ONNX inference, serving, data and decisions"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(rtml::cli::kVersion));

  rtml::cli::RunOptions run_opts;
  auto* run = app.add_subcommand("run", "Run an ONNX model on a KServe v2 request and print the response");
  run->add_option("model", run_opts.model, "ONNX model file")->required();
  run->add_option("--request", run_opts.request, "KServe v2 inference request body (JSON file, - for stdin)")->required();

  rtml::cli::BenchOptions bench_opts;
  auto* bench = app.add_subcommand("bench", "Time one request in a loop on one thread; prints one JSON line");
  bench->add_option("model", bench_opts.model, "ONNX model file")->required();
  bench->add_option("--request", bench_opts.request, "KServe v2 inference request body (JSON file)")->required();
  bench->add_option("--seconds", bench_opts.seconds, "how long to run")->check(CLI::PositiveNumber);

  rtml::cli::ConformanceOptions conf_opts;
  auto* conf = app.add_subcommand("conformance", "Run ONNX backend test cases found under DIR");
  conf->add_option("dir", conf_opts.dir, "directory searched for */model.onnx")->required();
  conf->add_option("--filter", conf_opts.filter, "only cases whose name contains this text");
  conf->add_flag("-v,--verbose", conf_opts.verbose, "print every case, not only failures and skips");
  conf->add_option("--min-passed", conf_opts.min_passed, "exit non-zero unless at least this many cases pass");

  auto* ops = app.add_subcommand("ops", "List the ONNX operators rtml implements");

  rtml::cli::ServeOptions serve_opts;
  std::string settings_help = "Settings (flag / environment variable / config-file key):\n";
  for (const auto& s : rtml::server::ServerConfig::Settings()) {
    settings_help += std::string("  --") + s.name + " / " + s.env + " / " + s.name + ": " + s.help + "\n";
  }
  settings_help += "  RTML_ADMIN_KEY: an admin key for all sandboxes (environment only)\n"
                   "Precedence: flags > environment > config file > defaults.";
  auto* serve = app.add_subcommand("serve", "Run the prediction server");
  serve->footer(settings_help);
  serve->add_option("--config", serve_opts.config_file, "JSON file of settings");
  std::map<std::string, std::string> serve_values;
  for (const auto& s : rtml::server::ServerConfig::Settings()) {
    std::string flag = std::string("--") + s.name;
    std::string alt;
    for (char c : std::string(s.name)) alt.push_back(c == '_' ? '-' : c);
    if (alt != s.name) flag += ",--" + alt;
    serve->add_option(flag, serve_values[s.name], s.help);
  }

  rtml::cli::QueryOptions query_opts;
  auto* query = app.add_subcommand("query", "Run a read-only SQL query over a data directory's datasets");
  query->add_option("sql", query_opts.sql, "one SELECT statement; each dataset is a table")->required();
  query->add_option("--data-dir", query_opts.data_dir, "data directory");
  query->add_option("--sandbox", query_opts.sandbox, "sandbox");
  query->add_option("--limit", query_opts.row_limit, "most rows returned");
  query->add_option("--timeout-ms", query_opts.time_limit_ms, "time limit");

  rtml::cli::IngestOptions ingest_opts;
  auto* ingest = app.add_subcommand("ingest", "Send a file of records (NDJSON or a JSON array) to a running server");
  ingest->add_option("file", ingest_opts.file, "NDJSON or JSON-array file")->required();
  ingest->add_option("--dataset", ingest_opts.dataset, "target dataset")->required();
  ingest->add_option("--server", ingest_opts.server, "HOST:PORT of the server");
  ingest->add_option("--sandbox", ingest_opts.sandbox, "sandbox");
  ingest->add_option("--key", ingest_opts.key, "API key (else RTML_API_KEY, else <data-dir>/admin.key)");
  ingest->add_option("--data-dir", ingest_opts.data_dir, "where to find admin.key");
  ingest->add_option("--batch", ingest_opts.batch, "records per request")->check(CLI::Range(1, 1000000));

  rtml::cli::TrainOptions train_opts;
  auto* train = app.add_subcommand("train", "Train a model on a running server's data (XGBoost), with progress");
  train->add_option("--model", train_opts.model, "name of the model to create")->required();
  auto* train_source = train->add_option_group("source");
  train_source->add_option("--dataset", train_opts.dataset, "dataset to train on");
  train_source->add_option("--sql", train_opts.sql, "SELECT producing the training table");
  train_source->require_option(1);
  train->add_option("--label", train_opts.label, "column to predict")->required();
  train->add_option("--pipeline", train_opts.pipeline_file, "pipeline JSON file (features)");
  train->add_option("--features", train_opts.features, "numeric feature columns (instead of a pipeline)")->delimiter(',');
  train->add_option("--algorithm", train_opts.algorithm, "gbdt or logistic");
  train->add_option("--param", train_opts.params, "XGBoost parameter name=value (repeatable)");
  train->add_option("--validation-fraction", train_opts.validation_fraction, "share of rows held out");
  train->add_option("--seed", train_opts.seed, "split and training seed");
  train->add_option("--deploy", train_opts.deploy, "deploy the result as this service");
  train->add_option("--server", train_opts.server, "HOST:PORT of the server");
  train->add_option("--sandbox", train_opts.sandbox, "sandbox");
  train->add_option("--key", train_opts.key, "API key (else RTML_API_KEY, else <data-dir>/admin.key)");
  train->add_option("--data-dir", train_opts.data_dir, "where to find admin.key");

  CLI11_PARSE(app, argc, argv);
  if (train->parsed()) return rtml::cli::TrainCommand(train_opts);
  if (query->parsed()) return rtml::cli::QueryCommand(query_opts);
  if (ingest->parsed()) return rtml::cli::IngestCommand(ingest_opts);

  if (run->parsed()) return rtml::cli::RunCommand(run_opts);
  if (bench->parsed()) return rtml::cli::BenchCommand(bench_opts);
  if (conf->parsed()) return rtml::cli::ConformanceCommand(conf_opts);
  if (ops->parsed()) return rtml::cli::OpsCommand();
  if (serve->parsed()) {
    for (const auto& s : rtml::server::ServerConfig::Settings()) {
      if (serve->count(std::string("--") + s.name) > 0) serve_opts.overrides.emplace_back(s.name, serve_values[s.name]);
    }
    return rtml::cli::ServeCommand(serve_opts);
  }
  return 1;
}
