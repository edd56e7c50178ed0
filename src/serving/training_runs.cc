#include "serving/training_runs.h"

#include <chrono>
#include <cmath>
#include <set>

#include "common/crypto.h"
#include "data/data_store.h"
#include "data/schema.h"
#include "data/time_util.h"
#include "nlohmann/json.hpp"
#include "pipeline/pipeline.h"
#include "serving/service_registry.h"
#include "training/dataset.h"
#include "training/trainer.h"

namespace rtml::serving {

using nlohmann::json;

struct TrainingRuns::Run {
  std::string id;
  std::string sandbox;
  std::string created;
  json request;
  // Parsed request.
  std::string model_name;
  std::string sql;
  std::string source;  // "dataset:<name>" or "sql"
  std::string label;
  std::string algorithm = "gbdt";
  std::optional<std::string> pipeline;  // JSON text
  std::vector<std::string> features;
  std::map<std::string, std::string> params;
  double validation_fraction = 0.2;
  uint64_t seed = 1;

  mutable std::mutex mu;  // guards the state below
  std::string status = "queued";
  double progress = 0;
  std::string error;
  json metrics = json::object();
  std::string task;
  int64_t rows = 0;
  int64_t model_version = 0;
  std::string pipeline_out;
  std::string started;
  std::string finished;
  double duration_s = 0;
  int64_t reference_ms = 0;
  std::atomic<bool> cancel{false};

  json ToJson() const {
    json j = {{"id", id},
              {"status", status},
              {"progress", progress},
              {"created", created},
              {"request", request},
              {"data_source", source},
              {"algorithm", algorithm}};
    if (!started.empty()) j["started"] = started;
    if (!finished.empty()) j["finished"] = finished;
    if (duration_s > 0) j["duration_s"] = duration_s;
    if (!error.empty()) j["error"] = error;
    if (!task.empty()) j["task"] = task;
    if (rows > 0) j["rows"] = rows;
    if (!metrics.empty()) j["metrics"] = metrics;
    if (model_version > 0) j["model"] = {{"name", model_name}, {"version", model_version}};
    if (reference_ms > 0) j["reference_time"] = data::FormatRfc3339Millis(reference_ms);
    if (!pipeline_out.empty()) j["pipeline"] = json::parse(pipeline_out);
    return j;
  }
};

namespace {

class RegistryResolver final : public pipeline::ModelResolver {
 public:
  RegistryResolver(ServiceRegistry* registry, std::string sandbox) : registry_(registry), sandbox_(std::move(sandbox)) {}
  StatusOr<std::shared_ptr<const engine::Model>> Resolve(std::string_view name, int64_t version) const override {
    ASSIGN_OR_RETURN(ModelVersionRecord rec, registry_->GetModelVersion(sandbox_, name, version));
    if (version > 0 && rec.version != version) {
      return NotFoundError("model '" + std::string(name) + "' version " + std::to_string(version) + " not found");
    }
    return registry_->CompiledModel(rec);
  }

 private:
  ServiceRegistry* registry_;
  std::string sandbox_;
};

Status Fail(std::string message) { return InvalidArgumentError(std::move(message)); }

// Replaces string columns that feed timestamp inputs with ms since the epoch.
void ConvertTimestampColumns(const pipeline::Pipeline& p, Table* table) {
  for (const auto& in : p.inputs()) {
    if (in.value_type.kind != pipeline::ValueKind::kTimestamp) continue;
    for (Column& c : table->mutable_columns()) {
      if (c.name != in.name || c.type != ColumnType::kString) continue;
      std::vector<double> ms(c.strings.size(), kMissing);
      for (size_t i = 0; i < c.strings.size(); ++i) {
        if (!c.present[i]) continue;
        if (auto v = data::ParseDateTimeMillis(c.strings[i])) ms[i] = static_cast<double>(*v);
      }
      c.type = ColumnType::kNumber;
      c.numbers = std::move(ms);
      c.strings.clear();
      c.present.clear();
    }
  }
}

Table SelectRows(const Table& t, const std::vector<int64_t>& rows) {
  Table out;
  for (const Column& c : t.columns()) {
    Column s;
    s.name = c.name;
    s.type = c.type;
    s.width = c.width;
    for (int64_t r : rows) {
      const size_t i = static_cast<size_t>(r);
      switch (c.type) {
        case ColumnType::kNumber: s.numbers.push_back(c.numbers[i]); break;
        case ColumnType::kString:
          s.strings.push_back(c.strings[i]);
          s.present.push_back(c.present[i]);
          break;
        case ColumnType::kVector:
          for (int64_t k = 0; k < c.width; ++k) s.numbers.push_back(c.numbers[i * static_cast<size_t>(c.width) + static_cast<size_t>(k)]);
          break;
      }
    }
    out.Add(std::move(s)).IgnoreError();
  }
  out.set_rows_hint(static_cast<int64_t>(rows.size()));
  return out;
}

std::string ColumnList(const Table& t) {
  std::string out;
  for (const auto& c : t.columns()) out += (out.empty() ? "" : ", ") + c.name;
  return out;
}

}  // namespace

TrainingRuns::TrainingRuns(Catalog* catalog, ServiceRegistry* registry, data::DataStore* data)
    : catalog_(catalog), registry_(registry), data_(data), pool_(1, "rtml-train") {}

TrainingRuns::~TrainingRuns() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, run] : runs_) run->cancel = true;
}

Status TrainingRuns::Persist(const Run& run) {
  std::string record;
  {
    std::lock_guard<std::mutex> lock(run.mu);
    record = run.ToJson().dump();
  }
  return catalog_->SaveTrainingRun({run.id, run.sandbox, record});
}

Status TrainingRuns::Load() {
  ASSIGN_OR_RETURN(auto records, catalog_->ListTrainingRuns());
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& r : records) {
    auto run = std::make_shared<Run>();
    run->id = r.id;
    run->sandbox = r.sandbox;
    try {
      const json j = json::parse(r.record);
      run->status = j.value("status", "failed");
      run->progress = j.value("progress", 0.0);
      run->created = j.value("created", "");
      run->started = j.value("started", "");
      run->finished = j.value("finished", "");
      run->duration_s = j.value("duration_s", 0.0);
      run->error = j.value("error", "");
      run->task = j.value("task", "");
      run->rows = j.value("rows", int64_t{0});
      run->request = j.value("request", json::object());
      run->source = j.value("data_source", "");
      run->algorithm = j.value("algorithm", "gbdt");
      if (j.contains("metrics")) run->metrics = j["metrics"];
      if (j.contains("model")) {
        run->model_name = j["model"].value("name", "");
        run->model_version = j["model"].value("version", int64_t{0});
      }
      if (j.contains("pipeline")) run->pipeline_out = j["pipeline"].dump();
      if (j.contains("reference_time")) {
        if (auto ms = data::ParseDateTimeMillis(j["reference_time"].get<std::string>())) run->reference_ms = *ms;
      }
    } catch (const std::exception&) {
      run->status = "failed";
      run->error = "unreadable run record";
    }
    if (run->status == "queued" || run->status == "running") {
      run->status = "failed";
      run->error = "interrupted by a server restart";
    }
    runs_[run->id] = run;
  }
  return OkStatus();
}

StatusOr<std::string> TrainingRuns::Start(const std::string& sandbox, std::string_view body) {
  json b;
  try {
    b = json::parse(body);
  } catch (const std::exception&) {
    return Fail("request body is not valid JSON");
  }
  if (!b.is_object()) return Fail("request body must be a JSON object");
  static const std::set<std::string> kAllowed = {"model", "dataset", "sql", "label", "pipeline", "features",
                                                 "algorithm", "params", "validation", "description"};
  for (const auto& [key, value] : b.items()) {
    if (!kAllowed.count(key)) {
      return Fail("unknown field '" + key +
                  "' (expected: model, dataset, sql, label, pipeline, features, algorithm, params, validation)");
    }
  }
  auto run = std::make_shared<Run>();
  run->sandbox = sandbox;
  run->request = b;
  if (!b.contains("model") || !b["model"].is_string()) return Fail("\"model\" (the name to store the trained model under) is required");
  run->model_name = b["model"].get<std::string>();
  RETURN_IF_ERROR(ValidateName("model", run->model_name));
  const bool has_dataset = b.contains("dataset"), has_sql = b.contains("sql");
  if (has_dataset == has_sql) return Fail("give exactly one data source: \"dataset\" or \"sql\"");
  if (has_dataset) {
    if (!b["dataset"].is_string()) return Fail("\"dataset\" must be a dataset name");
    const std::string ds = b["dataset"].get<std::string>();
    RETURN_IF_ERROR(data_->GetDataset(sandbox, ds).status());
    run->sql = "SELECT * FROM \"" + ds + "\"";
    run->source = "dataset:" + ds;
  } else {
    if (!b["sql"].is_string()) return Fail("\"sql\" must be a SELECT statement");
    run->sql = b["sql"].get<std::string>();
    run->source = "sql";
  }
  if (!b.contains("label") || !b["label"].is_string()) return Fail("\"label\" (the column to predict) is required");
  run->label = b["label"].get<std::string>();
  if (b.contains("algorithm")) {
    if (!b["algorithm"].is_string()) return Fail("\"algorithm\" must be \"gbdt\" or \"logistic\"");
    run->algorithm = b["algorithm"].get<std::string>();
  }
  ASSIGN_OR_RETURN(const training::Algorithm algorithm, training::ParseAlgorithm(run->algorithm));
  if (b.contains("params")) {
    if (!b["params"].is_object()) return Fail("\"params\" must be an object of XGBoost parameters");
    for (const auto& [k, v] : b["params"].items()) {
      if (v.is_string()) run->params[k] = v.get<std::string>();
      else if (v.is_number() || v.is_boolean()) run->params[k] = v.dump();
      else return Fail("params." + k + " must be a number or a string");
    }
  }
  RETURN_IF_ERROR(training::CheckParams(algorithm, run->params));
  if (b.contains("validation")) {
    const json& v = b["validation"];
    if (!v.is_object()) return Fail("\"validation\" must be {\"fraction\": 0.2, \"seed\": 1}");
    for (const auto& [k, value] : v.items()) {
      if (k != "fraction" && k != "seed") return Fail("unknown field 'validation." + k + "' (expected: fraction, seed)");
    }
    if (v.contains("fraction")) {
      if (!v["fraction"].is_number() || v["fraction"].get<double>() <= 0 || v["fraction"].get<double>() >= 1) {
        return Fail("validation.fraction must be a number between 0 and 1 (exclusive)");
      }
      run->validation_fraction = v["fraction"].get<double>();
    }
    if (v.contains("seed")) {
      if (!v["seed"].is_number_unsigned()) return Fail("validation.seed must be a non-negative integer");
      run->seed = v["seed"].get<uint64_t>();
    }
  }
  if (b.contains("pipeline") && b.contains("features")) return Fail("give either \"pipeline\" or \"features\", not both");
  if (b.contains("pipeline")) {
    if (!b["pipeline"].is_object()) return Fail("\"pipeline\" must be a pipeline object");
    run->pipeline = b["pipeline"].dump();
    RegistryResolver resolver(registry_, sandbox);
    pipeline::CompileOptions opts;
    opts.defer_models = true;
    auto p = pipeline::Pipeline::Compile(*run->pipeline, resolver, opts);
    if (!p.ok()) return p.status().WithPrefix("pipeline");
    // Models other than the one being trained must exist now, not only when
    // the finished run compiles its deployable pipeline.
    bool refers_to_trained_model = false;
    for (const auto& ref : (*p)->model_refs()) refers_to_trained_model |= ref.name == run->model_name;
    if (!refers_to_trained_model) {
      auto resolved = pipeline::Pipeline::Compile(*run->pipeline, resolver);
      if (!resolved.ok()) return resolved.status().WithPrefix("pipeline");
    }
  }
  if (b.contains("features")) {
    if (!b["features"].is_array()) return Fail("\"features\" must be an array of column names");
    for (const auto& f : b["features"]) {
      if (!f.is_string()) return Fail("\"features\" must be an array of column names");
      run->features.push_back(f.get<std::string>());
    }
    if (run->features.empty()) return Fail("\"features\" is empty");
  }
  // Cheap checks on a sample now (clear 400s); the full data at run time.
  ASSIGN_OR_RETURN(Table sample, data_->QueryTable(sandbox, "SELECT * FROM (" + run->sql + ") LIMIT 1000", 1000, 30'000));
  if (sample.rows() == 0) {
    return Fail(has_dataset ? "dataset '" + b["dataset"].get<std::string>() + "' has no rows to train on"
                            : "the query returns no rows to train on");
  }
  const Column* label = sample.Find(run->label);
  if (label == nullptr) return Fail("unknown label column '" + run->label + "' (columns: " + ColumnList(sample) + ")");
  if (label->type != ColumnType::kNumber) {
    return Fail("label '" + run->label + "' is not numeric (it holds text); use a 0/1 or numeric column");
  }
  for (const auto& f : run->features) {
    const Column* c = sample.Find(f);
    if (c == nullptr) return Fail("unknown feature column '" + f + "' (columns: " + ColumnList(sample) + ")");
    if (f == run->label) return Fail("feature '" + f + "' is the label (label leakage)");
    if (c->type == ColumnType::kString) return Fail("feature '" + f + "' holds text; encode it with a pipeline (one_hot)");
  }
  if (run->pipeline) {
    RegistryResolver resolver(registry_, sandbox);
    pipeline::CompileOptions opts;
    opts.defer_models = true;
    auto p = pipeline::Pipeline::Compile(*run->pipeline, resolver, opts);
    for (const auto& in : (*p)->inputs()) {
      if (sample.Find(in.name) == nullptr) {
        return Fail("pipeline input '" + in.name + "' is not a column of the data (columns: " + ColumnList(sample) + ")");
      }
      if (in.name == run->label) return Fail("pipeline input '" + in.name + "' is the label (label leakage)");
    }
  }

  run->id = "run_" + RandomHex(6);
  run->created = data::FormatRfc3339Millis(data::NowMillis());
  RETURN_IF_ERROR(Persist(*run));
  {
    std::lock_guard<std::mutex> lock(mu_);
    runs_[run->id] = run;
  }
  if (!pool_.Submit([this, run] { Execute(run); })) return UnavailableError("the server is shutting down");
  return json{{"id", run->id}, {"status", "queued"}}.dump();
}

void TrainingRuns::Execute(std::shared_ptr<Run> run) {
  const auto start = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(run->mu);
    if (run->cancel || run->status != "queued") return;
    run->status = "running";
    run->started = data::FormatRfc3339Millis(data::NowMillis());
    run->reference_ms = data::NowMillis();
  }
  Persist(*run).IgnoreError();
  auto set_progress = [&](double p) {
    std::lock_guard<std::mutex> lock(run->mu);
    run->progress = std::max(run->progress, std::min(1.0, p));
  };
  auto finish = [&](const Status& s, const std::string& status) {
    {
      std::lock_guard<std::mutex> lock(run->mu);
      run->status = status;
      if (!s.ok()) run->error = s.message();
      if (status == "succeeded") run->progress = 1;
      run->finished = data::FormatRfc3339Millis(data::NowMillis());
      run->duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    Persist(*run).IgnoreError();
  };
  Status s = [&]() -> Status {
    const int64_t ref = run->reference_ms;
    ASSIGN_OR_RETURN(Table table, data_->QueryTable(run->sandbox, run->sql, 5'000'000, 600'000));
    set_progress(0.05);
    const int64_t n = table.rows();
    if (n == 0) return Fail("no rows to train on");
    {
      std::lock_guard<std::mutex> lock(run->mu);
      run->rows = n;
    }
    const Column* label = table.Find(run->label);
    if (label == nullptr) return Fail("unknown label column '" + run->label + "' (columns: " + ColumnList(table) + ")");
    if (label->type != ColumnType::kNumber) return Fail("label '" + run->label + "' is not numeric");
    std::vector<double> y = label->numbers;
    int64_t missing = 0;
    bool binary = true;
    for (double v : y) {
      if (std::isnan(v)) ++missing;
      else if (v != 0 && v != 1) binary = false;
    }
    if (missing > 0) return Fail("label '" + run->label + "' has " + std::to_string(missing) + " missing values");

    RegistryResolver resolver(registry_, run->sandbox);
    std::vector<double> X;
    int64_t width = 0;
    std::vector<std::string> names;
    std::string fitted_json;
    std::string features_node;
    std::vector<pipeline::Pipeline::Field> inputs;
    if (run->pipeline) {
      pipeline::CompileOptions deferred;
      deferred.defer_models = true;
      ASSIGN_OR_RETURN(auto p0, pipeline::Pipeline::Compile(*run->pipeline, resolver, deferred));
      ConvertTimestampColumns(*p0, &table);
      for (const auto& in : p0->inputs()) {
        if (in.name == run->label) return Fail("pipeline input '" + in.name + "' is the label (label leakage)");
      }
      // Fitted nodes learn from the training rows only.
      ASSIGN_OR_RETURN(auto split, training::SplitRows(y, binary ? training::Task::kBinaryClassification
                                                                 : training::Task::kRegression,
                                                      run->validation_fraction, run->seed));
      Table train_rows = SelectRows(table, split.train);
      auto fitted = p0->Fit(train_rows, ref);
      if (!fitted.ok()) return fitted.status().WithPrefix("pipeline");
      fitted_json = *fitted;
      ASSIGN_OR_RETURN(auto p1, pipeline::Pipeline::Compile(fitted_json, resolver, deferred));
      auto fx = p1->FeatureMatrix(table, ref, "", &width);
      if (!fx.ok()) return fx.status().WithPrefix("pipeline");
      X = std::move(*fx);
      for (int64_t k = 0; k < width; ++k) names.push_back("f" + std::to_string(k));
      inputs = p1->inputs();
      const json pj = json::parse(fitted_json);
      if (pj.contains("outputs") && pj["outputs"].contains("features")) {
        features_node = pj["outputs"]["features"].get<std::string>();
      } else if (pj.contains("outputs") && pj["outputs"].size() == 1) {
        features_node = pj["outputs"].begin().value().get<std::string>();
      } else {
        return Fail("pipeline: name the feature vector output \"features\"");
      }
    } else {
      std::vector<std::string> features = run->features;
      if (features.empty()) {
        for (const auto& c : table.columns()) {
          if (c.type == ColumnType::kNumber && c.name != run->label && c.name.rfind('_', 0) != 0) features.push_back(c.name);
        }
        if (features.empty()) return Fail("no numeric feature columns besides the label; pass \"features\" or a pipeline");
      }
      ASSIGN_OR_RETURN(training::TrainingData td, training::TrainingDataFromTable(table, run->label, features));
      X = std::move(td.X);
      width = td.width;
      names = std::move(td.feature_names);
      for (const auto& f : features) inputs.push_back({f, "number", {}});
    }
    set_progress(0.1);
    // Label leakage: a feature column identical to the label.
    for (int64_t k = 0; k < width; ++k) {
      bool same = true;
      for (int64_t i = 0; i < n && same; ++i) same = X[static_cast<size_t>(i * width + k)] == y[static_cast<size_t>(i)];
      if (same) {
        return Fail("feature '" + names[static_cast<size_t>(k)] + "' equals the label '" + run->label +
                    "' on every row (label leakage); remove it");
      }
    }
    training::TrainOptions opts;
    ASSIGN_OR_RETURN(opts.algorithm, training::ParseAlgorithm(run->algorithm));
    opts.params = run->params;
    opts.validation_fraction = run->validation_fraction;
    opts.seed = run->seed;
    opts.threads = 1;
    ASSIGN_OR_RETURN(training::TrainResult result,
                     training::Train(X, width, y, names, opts, [&](double f) { set_progress(0.1 + 0.8 * f); },
                                     &run->cancel));
    const bool is_binary = result.task == training::Task::kBinaryClassification;
    ASSIGN_OR_RETURN(UploadResult up, registry_->UploadModel(run->sandbox, run->model_name, result.onnx));
    set_progress(0.92);

    // The deployable pipeline: features, then the model and its outputs.
    json dp;
    if (!fitted_json.empty()) {
      dp = json::parse(fitted_json);
    } else {
      dp = json::object();
      dp["inputs"] = json::array();
      json concat_inputs = json::array();
      for (const auto& in : inputs) {
        dp["inputs"].push_back({{"name", in.name}, {"type", "number"}});
        concat_inputs.push_back(in.name);
      }
      dp["nodes"] = json::array({{{"id", "features"}, {"op", "concat"}, {"inputs", concat_inputs}}});
      features_node = "features";
    }
    dp["nodes"].push_back({{"id", "model"},
                           {"op", "onnx"},
                           {"inputs", {features_node}},
                           {"params", {{"model", run->model_name}, {"version", up.record.version},
                                       {"output", is_binary ? "probabilities" : "variable"}}}});
    if (is_binary) {
      dp["nodes"].push_back({{"id", "probability"}, {"op", "select"}, {"inputs", {"model"}}, {"params", {{"index", 1}}}});
      dp["nodes"].push_back({{"id", "label"}, {"op", "threshold"}, {"inputs", {"probability"}}, {"params", {{"value", 0.5}}}});
      dp["outputs"] = {{"probability", "probability"}, {"label", "label"}};
    } else {
      dp["nodes"].push_back({{"id", "prediction"}, {"op", "select"}, {"inputs", {"model"}}, {"params", {{"index", 0}}}});
      dp["outputs"] = {{"prediction", "prediction"}};
    }
    const std::string deployable = dp.dump();
    ASSIGN_OR_RETURN(auto final_pipeline, pipeline::Pipeline::Compile(deployable, resolver));

    // Score the validation rows through the columnar plan; they must agree
    // with XGBoost's own predictions.
    Table validation = SelectRows(table, result.validation_rows);
    auto scored = final_pipeline->RunColumns(validation, ref);
    if (!scored.ok()) return scored.status().WithPrefix("scoring the validation rows");
    const Column* out = scored->Find(is_binary ? "probability" : "prediction");
    double max_diff = 0;
    if (out != nullptr) {
      for (size_t i = 0; i < result.validation_predictions.size() && i < out->numbers.size(); ++i) {
        max_diff = std::max(max_diff, std::abs(out->numbers[i] - result.validation_predictions[i]));
      }
    }
    json rows = json::array();
    const Column* ids = validation.Find("_id");
    for (int64_t i = 0; i < validation.rows(); ++i) {
      json r = {{"row", result.validation_rows[static_cast<size_t>(i)]}};
      if (ids && ids->type == ColumnType::kString && ids->present[static_cast<size_t>(i)]) r["_id"] = ids->strings[static_cast<size_t>(i)];
      for (const Column& c : scored->columns()) {
        if (c.type == ColumnType::kNumber) r[c.name] = c.numbers[static_cast<size_t>(i)];
      }
      rows.push_back(std::move(r));
    }
    RETURN_IF_ERROR(catalog_->StoreRunArtifact(run->id, "validation.json",
                                               json{{"reference_time", data::FormatRfc3339Millis(ref)}, {"rows", rows}}.dump()));
    json m;
    const training::Metrics& mt = result.metrics;
    if (is_binary) {
      m = {{"auc", mt.auc}, {"logloss", mt.logloss}, {"accuracy", mt.accuracy}};
      json cal = json::array();
      for (size_t i = 0; i < mt.calibration.size(); ++i) {
        cal.push_back({{"predicted", std::isnan(mt.calibration[i].first) ? json(nullptr) : json(mt.calibration[i].first)},
                       {"observed", std::isnan(mt.calibration[i].second) ? json(nullptr) : json(mt.calibration[i].second)},
                       {"count", i < mt.calibration_counts.size() ? mt.calibration_counts[i] : 0}});
      }
      m["calibration"] = cal;
    } else {
      m = {{"rmse", mt.rmse}, {"mae", mt.mae}, {"r2", std::isnan(mt.r2) ? json(nullptr) : json(mt.r2)}};
    }
    m["best_iteration"] = mt.best_iteration;
    m["train_rows"] = mt.train_rows;
    m["validation_rows"] = mt.validation_rows;
    m["onnx_max_abs_diff"] = max_diff;
    {
      std::lock_guard<std::mutex> lock(run->mu);
      run->metrics = m;
      run->task = is_binary ? "binary" : "regression";
      run->model_version = up.record.version;
      run->pipeline_out = deployable;
    }
    return OkStatus();
  }();
  if (s.ok()) return finish(s, "succeeded");
  finish(s, run->cancel ? "cancelled" : "failed");
}

StatusOr<std::string> TrainingRuns::Get(const std::string& sandbox, const std::string& id) const {
  std::shared_ptr<Run> run;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = runs_.find(id);
    if (it == runs_.end() || it->second->sandbox != sandbox) return NotFoundError("training run '" + id + "' not found");
    run = it->second;
  }
  std::lock_guard<std::mutex> lock(run->mu);
  return run->ToJson().dump();
}

StatusOr<std::string> TrainingRuns::List(const std::string& sandbox) const {
  json out = json::array();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, run] : runs_) {
    if (run->sandbox != sandbox) continue;
    std::lock_guard<std::mutex> rl(run->mu);
    json j = run->ToJson();
    j.erase("pipeline");
    out.push_back(std::move(j));
  }
  return json{{"training_runs", out}}.dump();
}

Status TrainingRuns::Cancel(const std::string& sandbox, const std::string& id) {
  std::shared_ptr<Run> run;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = runs_.find(id);
    if (it == runs_.end() || it->second->sandbox != sandbox) return NotFoundError("training run '" + id + "' not found");
    run = it->second;
  }
  {
    std::lock_guard<std::mutex> lock(run->mu);
    if (run->status != "queued" && run->status != "running") {
      return ConflictError("training run '" + id + "' has already " + (run->status == "succeeded" ? "succeeded" : "ended"));
    }
    run->cancel = true;
    if (run->status == "queued") {
      run->status = "cancelled";
      run->finished = data::FormatRfc3339Millis(data::NowMillis());
    }
  }
  return Persist(*run);
}

StatusOr<std::string> TrainingRuns::PipelineOf(const std::string& sandbox, const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = runs_.find(id);
  if (it == runs_.end() || it->second->sandbox != sandbox) return NotFoundError("training run '" + id + "' not found");
  std::lock_guard<std::mutex> rl(it->second->mu);
  if (it->second->status != "succeeded") {
    return ConflictError("training run '" + id + "' is " + it->second->status + "; only a succeeded run can be deployed");
  }
  return it->second->pipeline_out;
}

StatusOr<std::string> TrainingRuns::ValidationOf(const std::string& sandbox, const std::string& id) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = runs_.find(id);
    if (it == runs_.end() || it->second->sandbox != sandbox) return NotFoundError("training run '" + id + "' not found");
  }
  return catalog_->ReadRunArtifact(id, "validation.json");
}

}  // namespace rtml::serving
