// Training: quality on synthetic data, agreement of the exported ONNX (run in
// rtml's engine) with XGBoost's own predictions, the export layout, metrics,
// bad input with exact messages, progress, cancel and determinism.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <xgboost/c_api.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>

#include "common/table.h"
#include "engine/model.h"
#include "onnx/onnx_pb.h"
#include "training/dataset.h"
#include "training/metrics.h"
#include "training/onnx_export.h"
#include "training/trainer.h"

namespace rtml::training {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kAgreement = 1e-5;

struct Data {
  std::vector<double> X;
  std::vector<double> y;
  int64_t width = 0;
  std::vector<std::string> names;
  int64_t rows() const { return static_cast<int64_t>(y.size()); }
};

std::vector<std::string> Names(int64_t width) {
  std::vector<std::string> names;
  for (int64_t j = 0; j < width; ++j) names.push_back("x" + std::to_string(j));
  return names;
}

// Logistic ground truth: P(y=1) = σ(1.5 x0 - x1 + 0.7 x2 + 0.8 x3 x4 - 0.3),
// (terms of features beyond `width` are 0),
// x ~ N(0, 1); the other features are noise. Values go missing (NaN) at
// random with probability `missing` after the label is drawn.
Data MakeBinary(int64_t rows, int64_t width, uint64_t seed, double missing) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform;
  Data d;
  d.width = width;
  d.names = Names(width);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> x(static_cast<size_t>(width));
    for (auto& v : x) v = normal(rng);
    const auto f = [&](size_t j) { return j < x.size() ? x[j] : 0.0; };  // narrow data: absent terms are 0
    const double z = 1.5 * f(0) - f(1) + 0.7 * f(2) + 0.8 * f(3) * f(4) - 0.3;
    d.y.push_back(uniform(rng) < 1.0 / (1.0 + std::exp(-z)) ? 1.0 : 0.0);
    for (auto& v : x) {
      if (uniform(rng) < missing) v = kNaN;
      d.X.push_back(v);
    }
  }
  return d;
}

// y = 2 x0 - x1 + sin(2 x2) + 3 + noise(0.3).
Data MakeRegression(int64_t rows, int64_t width, uint64_t seed, double missing) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform;
  Data d;
  d.width = width;
  d.names = Names(width);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> x(static_cast<size_t>(width));
    for (auto& v : x) v = normal(rng);
    const auto f = [&](size_t j) { return j < x.size() ? x[j] : 0.0; };
    d.y.push_back(2 * f(0) - f(1) + std::sin(2 * f(2)) + 3 + 0.3 * normal(rng));
    for (auto& v : x) {
      if (uniform(rng) < missing) v = kNaN;
      d.X.push_back(v);
    }
  }
  return d;
}

StatusOr<TrainResult> TrainOn(const Data& d, Algorithm algorithm, std::map<std::string, std::string> params = {},
                              const std::function<void(double)>& progress = nullptr,
                              const std::atomic<bool>* cancel = nullptr, uint64_t seed = 1, int threads = 1) {
  TrainOptions options;
  options.algorithm = algorithm;
  options.params = std::move(params);
  options.seed = seed;
  options.threads = threads;
  return Train(d.X, d.width, d.y, d.names, options, progress, cancel);
}

std::vector<float> AsFloat(const std::vector<double>& v) { return {v.begin(), v.end()}; }

// XGBoost's own predictions of a JSON model on all rows, from a float32
// DMatrix with NaN as missing (gblinear has no in-place prediction in 1.7).
std::vector<double> XGBoostPredict(const std::string& booster_json, const Data& d) {
  BoosterHandle booster = nullptr;
  EXPECT_EQ(XGBoosterCreate(nullptr, 0, &booster), 0);
  EXPECT_EQ(XGBoosterLoadModelFromBuffer(booster, booster_json.data(), booster_json.size()), 0) << XGBGetLastError();
  const std::vector<float> values = AsFloat(d.X);
  DMatrixHandle dmatrix = nullptr;
  EXPECT_EQ(XGDMatrixCreateFromMat(values.data(), static_cast<bst_ulong>(d.rows()), static_cast<bst_ulong>(d.width),
                                   std::numeric_limits<float>::quiet_NaN(), &dmatrix),
            0)
      << XGBGetLastError();
  const char* config = R"({"type":0,"training":false,"iteration_begin":0,"iteration_end":0,"strict_shape":false})";
  const bst_ulong* shape = nullptr;
  bst_ulong dims = 0;
  const float* out = nullptr;
  std::vector<double> result;
  if (XGBoosterPredictFromDMatrix(booster, dmatrix, config, &shape, &dims, &out) == 0) {
    result.assign(out, out + d.rows());
  } else {
    ADD_FAILURE() << XGBGetLastError();
  }
  XGDMatrixFree(dmatrix);
  XGBoosterFree(booster);
  return result;
}

struct OnnxOutput {
  std::vector<double> score;    // probability of class 1, or the regression value
  std::vector<int64_t> labels;  // classifiers only
};

OnnxOutput RunInRtml(const std::string& onnx, const Data& d, bool classifier) {
  OnnxOutput result;
  auto model = engine::Model::Load(onnx);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return result;
  const std::vector<float> values = AsFloat(d.X);
  const engine::Tensor input =
      engine::Tensor::Borrow(engine::DataType::kFloat, engine::Shape{d.rows(), d.width}, values.data());
  const engine::Tensor* inputs[] = {&input};
  auto ctx = (*model)->NewContext();
  Status s = (*model)->Run(*ctx, inputs);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return result;
  if (classifier) {
    const engine::Tensor& probabilities = ctx->output((*model)->OutputIndex("probabilities"));
    const engine::Tensor& labels = ctx->output((*model)->OutputIndex("label"));
    EXPECT_EQ(probabilities.shape(), (engine::Shape{d.rows(), 2}));
    for (int64_t r = 0; r < d.rows(); ++r) {
      const float p0 = probabilities.data<float>()[2 * r];
      const float p1 = probabilities.data<float>()[2 * r + 1];
      EXPECT_NEAR(p0 + p1, 1.0, 1e-6);
      result.score.push_back(p1);
      result.labels.push_back(labels.data<int64_t>()[r]);
    }
  } else {
    const engine::Tensor& y = ctx->output((*model)->OutputIndex("variable"));
    EXPECT_EQ(y.shape(), (engine::Shape{d.rows(), 1}));
    for (int64_t r = 0; r < d.rows(); ++r) result.score.push_back(y.data<float>()[r]);
  }
  return result;
}

int64_t RowsWithMissing(const Data& d) {
  int64_t n = 0;
  for (int64_t r = 0; r < d.rows(); ++r) {
    bool any = false;
    for (int64_t j = 0; j < d.width; ++j) any |= std::isnan(d.X[static_cast<size_t>(r * d.width + j)]);
    n += any ? 1 : 0;
  }
  return n;
}

// The exported model in rtml equals XGBoost on every row, and the result's
// validation predictions are XGBoost's for those rows.
void ExpectAgreement(const TrainResult& result, const Data& d) {
  const bool classifier = result.task == Task::kBinaryClassification;
  const std::vector<double> xgb = XGBoostPredict(result.booster_json, d);
  const OnnxOutput onnx = RunInRtml(result.onnx, d, classifier);
  ASSERT_EQ(onnx.score.size(), xgb.size());
  double worst = 0;
  for (size_t r = 0; r < xgb.size(); ++r) {
    const double scale = classifier ? 1.0 : std::max(1.0, std::abs(xgb[r]));
    worst = std::max(worst, std::abs(onnx.score[r] - xgb[r]) / scale);
    if (classifier && std::abs(xgb[r] - 0.5) > 1e-6) {
      EXPECT_EQ(onnx.labels[r], xgb[r] > 0.5 ? 1 : 0) << "row " << r;
    }
  }
  EXPECT_LE(worst, kAgreement);
  ASSERT_EQ(result.validation_rows.size(), result.validation_predictions.size());
  for (size_t i = 0; i < result.validation_rows.size(); ++i) {
    EXPECT_NEAR(result.validation_predictions[i], xgb[static_cast<size_t>(result.validation_rows[i])], 1e-7);
  }
}

onnx::ModelProto Parse(const std::string& bytes) {
  onnx::ModelProto proto;
  EXPECT_TRUE(proto.ParseFromString(bytes));
  return proto;
}

std::string Metadata(const onnx::ModelProto& proto, const std::string& key) {
  for (const auto& p : proto.metadata_props())
    if (p.key() == key) return p.value();
  return "";
}

// ------------------------------------------------------------ quality ---

TEST(TrainerTest, GbdtBinaryWithMissingValuesMatchesXGBoost) {
  const Data d = MakeBinary(5000, 6, 7, 0.05);
  ASSERT_GT(RowsWithMissing(d), 1000);
  auto result = TrainOn(d, Algorithm::kGbdt, {{"max_depth", "4"}, {"eta", "0.1"}});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->task, Task::kBinaryClassification);
  const Metrics& m = result->metrics;
  EXPECT_GT(m.auc, 0.80);
  EXPECT_LT(m.logloss, 0.55);
  EXPECT_GT(m.accuracy, 0.70);
  EXPECT_EQ(m.train_rows, 4000);
  EXPECT_EQ(m.validation_rows, 1000);
  EXPECT_TRUE(std::isnan(m.rmse));
  ASSERT_EQ(m.calibration.size(), 10u);
  // Validation metrics are those of the returned predictions.
  std::vector<double> labels;
  for (int64_t r : result->validation_rows) labels.push_back(d.y[static_cast<size_t>(r)]);
  EXPECT_DOUBLE_EQ(m.auc, Auc(result->validation_predictions, labels));
  ExpectAgreement(*result, d);
}

TEST(TrainerTest, LogisticBinaryWithMissingValuesMatchesXGBoost) {
  const Data d = MakeBinary(5000, 6, 8, 0.05);
  auto result = TrainOn(d, Algorithm::kLogistic, {{"num_round", "200"}});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->task, Task::kBinaryClassification);
  EXPECT_GT(result->metrics.auc, 0.75);
  ExpectAgreement(*result, d);
}

TEST(TrainerTest, GbdtRegressionMatchesXGBoost) {
  const Data d = MakeRegression(4000, 5, 9, 0.05);
  auto result = TrainOn(d, Algorithm::kGbdt, {{"max_depth", "5"}, {"num_round", "200"}});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->task, Task::kRegression);
  EXPECT_GT(result->metrics.r2, 0.85);
  EXPECT_LT(result->metrics.rmse, 0.9);
  EXPECT_GT(result->metrics.mae, 0.0);
  EXPECT_TRUE(std::isnan(result->metrics.auc));
  ExpectAgreement(*result, d);
}

TEST(TrainerTest, LinearRegressionMatchesXGBoost) {
  const Data d = MakeRegression(4000, 5, 10, 0.0);
  auto result = TrainOn(d, Algorithm::kLogistic, {{"num_round", "200"}});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->task, Task::kRegression);
  EXPECT_GT(result->metrics.r2, 0.75);
  ExpectAgreement(*result, d);
}

TEST(TrainerTest, EarlyStoppingKeepsTheBestIteration) {
  // Deep trees and a large learning rate on few rows overfit within a few rounds.
  const Data d = MakeBinary(1000, 6, 11, 0.0);
  std::vector<double> progress;
  auto result = TrainOn(d, Algorithm::kGbdt,
                        {{"eta", "0.3"}, {"max_depth", "6"}, {"num_round", "300"}, {"early_stopping_rounds", "5"}},
                        [&](double f) { progress.push_back(f); });
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const int best = result->metrics.best_iteration;
  EXPECT_GT(best, 0);
  EXPECT_LT(best, 100);
  // Training stopped 5 rounds after the best one (then progress jumps to 1).
  EXPECT_EQ(progress.size(), static_cast<size_t>(best + 5 + 1) + 1);
  const onnx::ModelProto proto = Parse(result->onnx);
  std::set<int64_t> trees;
  for (const auto& a : proto.graph().node(0).attribute())
    if (a.name() == "nodes_treeids") trees.insert(a.ints().begin(), a.ints().end());
  EXPECT_EQ(static_cast<int>(trees.size()), best + 1);
  EXPECT_EQ(Metadata(proto, "rtml_best_iteration"), std::to_string(best));
  ExpectAgreement(*result, d);
}

TEST(TrainerTest, LogisticEarlyStoppingKeepsTheBestRound) {
  const Data d = MakeBinary(400, 30, 12, 0.0);
  auto result = TrainOn(d, Algorithm::kLogistic, {{"eta", "1"}, {"num_round", "500"}, {"early_stopping_rounds", "3"}});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_LT(result->metrics.best_iteration, 499);
  ExpectAgreement(*result, d);
}

// ------------------------------------------------------------- export ---

TEST(TrainerTest, ExportLayoutTreeClassifier) {
  const Data d = MakeBinary(500, 5, 13, 0.1);
  auto result = TrainOn(d, Algorithm::kGbdt, {{"num_round", "5"}});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const onnx::ModelProto proto = Parse(result->onnx);
  EXPECT_EQ(proto.ir_version(), 8);
  std::map<std::string, int64_t> opsets;
  for (const auto& o : proto.opset_import()) opsets[o.domain()] = o.version();
  EXPECT_EQ(opsets["ai.onnx.ml"], 3);
  const auto& g = proto.graph();
  ASSERT_EQ(g.input_size(), 1);
  EXPECT_EQ(g.input(0).name(), "features");
  EXPECT_EQ(g.input(0).type().tensor_type().elem_type(), onnx::TensorProto::FLOAT);
  EXPECT_EQ(g.input(0).type().tensor_type().shape().dim(1).dim_value(), 5);
  ASSERT_EQ(g.output_size(), 2);
  EXPECT_EQ(g.output(0).name(), "label");
  EXPECT_EQ(g.output(0).type().tensor_type().elem_type(), onnx::TensorProto::INT64);
  EXPECT_EQ(g.output(1).name(), "probabilities");
  ASSERT_EQ(g.node_size(), 1);
  EXPECT_EQ(g.node(0).op_type(), "TreeEnsembleClassifier");
  std::map<std::string, const onnx::AttributeProto*> attrs;
  for (const auto& a : g.node(0).attribute()) attrs[a.name()] = &a;
  EXPECT_EQ(attrs["post_transform"]->s(), "LOGISTIC");
  EXPECT_THAT(std::vector<int64_t>(attrs["classlabels_int64s"]->ints().begin(), attrs["classlabels_int64s"]->ints().end()),
              ElementsAre(0, 1));
  for (int64_t id : attrs["class_ids"]->ints()) EXPECT_EQ(id, 0);  // one score column
  for (const auto& mode : attrs["nodes_modes"]->strings()) EXPECT_TRUE(mode == "BRANCH_LT" || mode == "LEAF");
  // base_values: the logit of base_score (the training label mean).
  ASSERT_EQ(attrs["base_values"]->floats_size(), 1);
  double mean = 0;
  for (double v : d.y) mean += v;
  mean /= static_cast<double>(d.y.size());
  EXPECT_NEAR(attrs["base_values"]->floats(0), std::log(mean / (1 - mean)), 0.05);
  EXPECT_EQ(Metadata(proto, "feature_names"), R"(["x0","x1","x2","x3","x4"])");
  EXPECT_EQ(Metadata(proto, "rtml_algorithm"), "gbdt");
}

TEST(TrainerTest, ExportLayoutLinear) {
  const Data d = MakeRegression(500, 4, 14, 0.0);
  auto result = TrainOn(d, Algorithm::kLogistic, {{"num_round", "5"}});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const onnx::ModelProto proto = Parse(result->onnx);
  const auto& g = proto.graph();
  ASSERT_EQ(g.node_size(), 2);
  EXPECT_EQ(g.node(0).op_type(), "Imputer");
  EXPECT_EQ(g.node(1).op_type(), "LinearRegressor");
  ASSERT_EQ(g.output_size(), 1);
  EXPECT_EQ(g.output(0).name(), "variable");
  EXPECT_EQ(g.output(0).type().tensor_type().shape().dim(1).dim_value(), 1);
}

// Every kind of exported model passes the reference checker (Debian's python3-onnx).
TEST(TrainerTest, ExportedModelsPassPythonOnnxChecker) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("rtml_training_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const Data binary = MakeBinary(500, 4, 15, 0.1);
  const Data regression = MakeRegression(500, 4, 16, 0.1);
  struct Case {
    const char* name;
    const Data* data;
    Algorithm algorithm;
  } cases[] = {{"gbdt_binary", &binary, Algorithm::kGbdt},
               {"gbdt_regression", &regression, Algorithm::kGbdt},
               {"logistic_binary", &binary, Algorithm::kLogistic},
               {"linear_regression", &regression, Algorithm::kLogistic}};
  for (const Case& c : cases) {
    auto result = TrainOn(*c.data, c.algorithm, {{"num_round", "10"}});
    ASSERT_TRUE(result.ok()) << c.name << ": " << result.status().ToString();
    const std::filesystem::path file = dir / (std::string(c.name) + ".onnx");
    std::ofstream(file, std::ios::binary) << result->onnx;
    const std::string command =
        "/usr/bin/python3 -c \"import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]))\" " + file.string();
    EXPECT_EQ(std::system(command.c_str()), 0) << c.name;
  }
  std::filesystem::remove_all(dir);
}

TEST(OnnxExportTest, RejectsWhatItCannotExport) {
  auto bad = ExportXGBoostJsonToOnnx("{not json", {});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "the XGBoost model is not valid JSON");

  const Data d = MakeBinary(300, 3, 17, 0.0);
  auto result = TrainOn(d, Algorithm::kGbdt, {{"num_round", "3"}});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  std::string json = result->booster_json;
  const size_t at = json.find("binary:logistic");
  ASSERT_NE(at, std::string::npos);
  auto multi = ExportXGBoostJsonToOnnx(json.replace(at, 15, "multi:softprob"), {});
  EXPECT_EQ(multi.status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(multi.status().message(),
            "XGBoost objective 'multi:softprob' cannot be exported; supported are binary:logistic and "
            "reg:squarederror");

  const std::vector<std::string> two = {"a", "b"};
  ExportOptions options;
  options.feature_names = two;
  auto names = ExportXGBoostJsonToOnnx(result->booster_json, options);
  EXPECT_EQ(names.status().message(), "feature_names has 2 names but the model has 3 features");
}

// ------------------------------------------------------------ metrics ---

TEST(MetricsTest, AucHandlesTiesWithAverageRanks) {
  const std::vector<double> scores = {0.1, 0.4, 0.4, 0.8};
  const std::vector<double> labels = {0, 0, 1, 1};
  // Pairs (pos, neg): (0.4, 0.1) 1, (0.4, 0.4) 0.5, (0.8, *) 2 -> 3.5 / 4.
  EXPECT_DOUBLE_EQ(Auc(scores, labels), 0.875);
  EXPECT_DOUBLE_EQ(Auc(std::vector<double>{0.5, 0.5, 0.5}, std::vector<double>{0, 1, 1}), 0.5);
  EXPECT_DOUBLE_EQ(Auc(std::vector<double>{0.9, 0.1}, std::vector<double>{0, 1}), 0.0);
  EXPECT_TRUE(std::isnan(Auc(std::vector<double>{0.1, 0.2}, std::vector<double>{1, 1})));
}

TEST(MetricsTest, BinaryMetrics) {
  const std::vector<double> p = {0.05, 0.15, 0.6, 0.95, 0.95, 1.0};
  const std::vector<double> y = {0, 1, 1, 1, 0, 1};
  Metrics m;
  ComputeBinaryMetrics(p, y, &m);
  const double expected_logloss =
      -(std::log(0.95) + std::log(0.15) + std::log(0.6) + std::log(0.95) + std::log(0.05) + std::log(1 - 1e-15)) / 6;
  EXPECT_NEAR(m.logloss, expected_logloss, 1e-12);
  EXPECT_DOUBLE_EQ(m.accuracy, 4.0 / 6.0);
  ASSERT_EQ(m.calibration.size(), 10u);
  EXPECT_THAT(m.calibration_counts, ElementsAre(1, 1, 0, 0, 0, 0, 1, 0, 0, 3));
  EXPECT_DOUBLE_EQ(m.calibration[0].first, 0.05);
  EXPECT_DOUBLE_EQ(m.calibration[0].second, 0.0);
  EXPECT_DOUBLE_EQ(m.calibration[9].first, (0.95 + 0.95 + 1.0) / 3);
  EXPECT_DOUBLE_EQ(m.calibration[9].second, 2.0 / 3.0);
  EXPECT_TRUE(std::isnan(m.calibration[2].first));
  EXPECT_TRUE(std::isnan(m.r2));
}

TEST(MetricsTest, RegressionMetrics) {
  const std::vector<double> pred = {1, 2, 4};
  const std::vector<double> y = {1, 3, 3};
  Metrics m;
  ComputeRegressionMetrics(pred, y, &m);
  EXPECT_DOUBLE_EQ(m.rmse, std::sqrt(2.0 / 3.0));
  EXPECT_DOUBLE_EQ(m.mae, 2.0 / 3.0);
  // mean 7/3; SS_tot = 16/9 + 4/9 + 4/9 = 24/9; SS_res = 2.
  EXPECT_DOUBLE_EQ(m.r2, 1 - 2 / (24.0 / 9.0));
  EXPECT_TRUE(std::isnan(m.auc));
  EXPECT_TRUE(m.calibration.empty());
}

// ---------------------------------------------------------- bad input ---

Status TrainError(const Data& d, TrainOptions options = {}) {
  return Train(d.X, d.width, d.y, d.names, options, nullptr, nullptr).status();
}

Status ParamError(Algorithm algorithm, std::map<std::string, std::string> params) {
  TrainOptions options;
  options.algorithm = algorithm;
  options.params = std::move(params);
  return TrainError(MakeBinary(100, 3, 1, 0.0), options);
}

void ExpectInvalid(const Status& s, const std::string& message) {
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(s.message(), message);
}

TEST(TrainerErrorsTest, EmptyDataAndShapes) {
  Data empty;
  empty.width = 3;
  empty.names = Names(3);
  ExpectInvalid(TrainError(empty), "no rows to train on");

  Data no_features;
  no_features.y = {0, 1};
  ExpectInvalid(TrainError(no_features), "width is 0: there are no features to train on");

  Data ragged = MakeBinary(20, 3, 1, 0.0);
  ragged.X.pop_back();
  ExpectInvalid(TrainError(ragged), "X has 59 values, which is not a multiple of width 3");

  Data short_label = MakeBinary(20, 3, 1, 0.0);
  short_label.y.pop_back();
  ExpectInvalid(TrainError(short_label), "X has 20 rows but y has 19 labels");

  Data names = MakeBinary(20, 3, 1, 0.0);
  names.names.pop_back();
  ExpectInvalid(TrainError(names), "feature_names has 2 names but width is 3");
  names.names = {"a", "b", "a"};
  ExpectInvalid(TrainError(names), "feature 'a' appears twice in feature_names");
}

TEST(TrainerErrorsTest, Labels) {
  Data d = MakeBinary(100, 3, 1, 0.0);
  d.y[3] = d.y[50] = kNaN;
  ExpectInvalid(TrainError(d), "label has 2 missing values (NaN); drop those rows or fill the label");

  Data ones = MakeBinary(100, 3, 1, 0.0);
  std::fill(ones.y.begin(), ones.y.end(), 1.0);
  ExpectInvalid(TrainError(ones),
                "the label has only one class (every row is 1); binary classification needs rows of both 0 and 1");

  Data constant = MakeRegression(100, 3, 1, 0.0);
  std::fill(constant.y.begin(), constant.y.end(), 2.5);
  ExpectInvalid(TrainError(constant), "the label has only one value (2.5 on every row); there is nothing to learn");
}

TEST(TrainerErrorsTest, FeatureValues) {
  Data leak = MakeBinary(100, 3, 1, 0.0);
  for (size_t r = 0; r < 100; ++r) leak.X[r * 3 + 1] = leak.y[r];
  ExpectInvalid(TrainError(leak),
                "feature 'x1' equals the label on every row (label leakage); remove it from the features");

  Data huge = MakeBinary(100, 3, 1, 0.0);
  huge.X[7 * 3 + 2] = 1e300;
  ExpectInvalid(TrainError(huge),
                "feature 'x2' has the value 1e+300 in row 7, which is not a finite float32 (use NaN for missing "
                "values)");
}

TEST(TrainerErrorsTest, ValidationSplit) {
  ExpectInvalid(TrainError(MakeRegression(40, 3, 1, 0.0)),
                "the validation set has 8 rows (40 rows x validation_fraction 0.2); at least 10 are needed: add "
                "rows or raise validation_fraction");
  TrainOptions options;
  options.validation_fraction = 1.0;
  ExpectInvalid(TrainError(MakeBinary(100, 3, 1, 0.0), options), "validation_fraction must be in (0, 1), got 1");
  options.validation_fraction = 0.95;
  ExpectInvalid(TrainError(MakeRegression(100, 3, 1, 0.0), options),
                "the training set has 5 rows; at least 10 are needed: lower validation_fraction");
  // Two positives in 100 rows with a 10% validation set: class 1 cannot be in both sets.
  Data rare = MakeBinary(100, 3, 1, 0.0);
  std::fill(rare.y.begin(), rare.y.end(), 0.0);
  rare.y[10] = rare.y[20] = 1.0;
  options.validation_fraction = 0.1;
  ExpectInvalid(TrainError(rare, options),
                "class 1 has 2 rows, too few to put it in both the training and the validation set "
                "(validation_fraction 0.1)");
  options = {};
  options.threads = 0;
  ExpectInvalid(TrainError(MakeBinary(100, 3, 1, 0.0), options), "threads must be from 1 to 64, got 0");
}

TEST(TrainerErrorsTest, Parameters) {
  ExpectInvalid(ParamError(Algorithm::kGbdt, {{"depth", "3"}}),
                "unknown parameter 'depth' for algorithm gbdt; allowed: alpha, colsample_bylevel, colsample_bynode, "
                "colsample_bytree, early_stopping_rounds, eta, gamma, grow_policy, lambda, learning_rate, "
                "max_bin, max_delta_step, max_depth, max_leaves, min_child_weight, min_split_loss, n_estimators, "
                "num_round, reg_alpha, reg_lambda, scale_pos_weight, subsample, tree_method");
  ExpectInvalid(ParamError(Algorithm::kLogistic, {{"max_depth", "3"}}),
                "parameter 'max_depth' does not apply to algorithm logistic; allowed: alpha, "
                "early_stopping_rounds, eta, lambda, learning_rate, n_estimators, num_round, reg_alpha, "
                "reg_lambda, scale_pos_weight");
  ExpectInvalid(ParamError(Algorithm::kGbdt, {{"max_depth", "0"}}),
                "parameter 'max_depth' must be an integer from 1 to 20, got '0'");
  ExpectInvalid(ParamError(Algorithm::kGbdt, {{"max_depth", "3.5"}}),
                "parameter 'max_depth' must be an integer from 1 to 20, got '3.5'");
  ExpectInvalid(ParamError(Algorithm::kGbdt, {{"subsample", "1.5"}}),
                "parameter 'subsample' must be a number in (0, 1], got '1.5'");
  ExpectInvalid(ParamError(Algorithm::kGbdt, {{"eta", "fast"}}), "parameter 'eta' must be a number in (0, 1], got 'fast'");
  ExpectInvalid(ParamError(Algorithm::kGbdt, {{"lambda", "-1"}}),
                "parameter 'lambda' must be a number in [0, inf), got '-1'");
  ExpectInvalid(ParamError(Algorithm::kGbdt, {{"tree_method", "gpu_hist"}}),
                "parameter 'tree_method' must be one of hist,approx,exact, got 'gpu_hist'");
  ExpectInvalid(ParamError(Algorithm::kGbdt, {{"eta", "0.1"}, {"learning_rate", "0.2"}}),
                "parameters 'eta' and 'learning_rate' are the same; set one");
  ExpectInvalid(ParamError(Algorithm::kGbdt, {{"nthread", "8"}}),
                "parameter 'nthread' is set by rtml; use the threads option");
  ExpectInvalid(ParamError(Algorithm::kGbdt, {{"objective", "reg:logistic"}}),
                "parameter 'objective' is chosen by rtml from the algorithm and the label");
  ExpectInvalid(ParamError(Algorithm::kGbdt, {{"num_round", "0"}}),
                "parameter 'num_round' must be an integer from 1 to 10000, got '0'");
  auto algorithm = ParseAlgorithm("forest");
  ExpectInvalid(algorithm.status(), "unknown algorithm 'forest'; allowed: gbdt, logistic");
  EXPECT_EQ(*ParseAlgorithm("logistic"), Algorithm::kLogistic);
}

// --------------------------------------------- progress, cancel, seeds ---

TEST(TrainerTest, ProgressIsMonotonicAndEndsAtOne) {
  const Data d = MakeBinary(500, 4, 18, 0.0);
  std::vector<double> seen;
  auto result = TrainOn(d, Algorithm::kGbdt, {{"num_round", "20"}, {"early_stopping_rounds", "0"}},
                        [&](double f) { seen.push_back(f); });
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(seen.size(), 21u);  // one per round, then 1 at the end
  EXPECT_DOUBLE_EQ(seen.front(), 0.05);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GE(seen[i], seen[i - 1]);
  EXPECT_DOUBLE_EQ(seen.back(), 1.0);
}

TEST(TrainerTest, CancelStopsBetweenRounds) {
  const Data d = MakeBinary(500, 4, 19, 0.0);
  std::atomic<bool> cancel{false};
  int calls = 0;
  auto result = TrainOn(d, Algorithm::kGbdt, {{"num_round", "100"}, {"early_stopping_rounds", "0"}},
                        [&](double) {
                          if (++calls == 3) cancel.store(true);
                        },
                        &cancel);
  EXPECT_EQ(result.status().code(), StatusCode::kConflict);
  EXPECT_EQ(result.status().message(), "training cancelled");
  EXPECT_EQ(calls, 3);

  std::atomic<bool> already{true};
  auto early = TrainOn(d, Algorithm::kLogistic, {}, nullptr, &already);
  EXPECT_EQ(early.status().message(), "training cancelled");
}

TEST(TrainerTest, SameSeedGivesTheSameModel) {
  const Data d = MakeBinary(2000, 5, 20, 0.05);
  const std::map<std::string, std::string> params = {{"subsample", "0.8"}, {"colsample_bytree", "0.8"}, {"num_round", "30"}};
  auto a = TrainOn(d, Algorithm::kGbdt, params, nullptr, nullptr, 42);
  auto b = TrainOn(d, Algorithm::kGbdt, params, nullptr, nullptr, 42);
  auto c = TrainOn(d, Algorithm::kGbdt, params, nullptr, nullptr, 43);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->onnx, b->onnx);
  EXPECT_EQ(a->validation_rows, b->validation_rows);
  EXPECT_NE(a->validation_rows, c->validation_rows);
  EXPECT_NE(a->onnx, c->onnx);

  for (int threads : {1, 2}) {
    auto l1 = TrainOn(d, Algorithm::kLogistic, {}, nullptr, nullptr, 42, threads);
    auto l2 = TrainOn(d, Algorithm::kLogistic, {}, nullptr, nullptr, 42, threads);
    ASSERT_TRUE(l1.ok() && l2.ok());
    EXPECT_EQ(l1->onnx, l2->onnx) << threads << " threads";
  }
  auto g2a = TrainOn(d, Algorithm::kGbdt, params, nullptr, nullptr, 42, 2);
  auto g2b = TrainOn(d, Algorithm::kGbdt, params, nullptr, nullptr, 42, 2);
  ASSERT_TRUE(g2a.ok() && g2b.ok());
  EXPECT_EQ(g2a->onnx, g2b->onnx);
}

TEST(TrainerTest, SplitIsStratifiedAndDisjoint) {
  const Data d = MakeBinary(1000, 3, 21, 0.0);
  auto result = TrainOn(d, Algorithm::kLogistic, {{"num_round", "3"}});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const auto& rows = result->validation_rows;
  EXPECT_TRUE(std::is_sorted(rows.begin(), rows.end()));
  EXPECT_EQ(std::set<int64_t>(rows.begin(), rows.end()).size(), rows.size());
  double positives = 0, valid_positives = 0;
  for (double v : d.y) positives += v;
  for (int64_t r : rows) valid_positives += d.y[static_cast<size_t>(r)];
  EXPECT_EQ(valid_positives, std::round(positives * 0.2));
  // The public split is the one Train used.
  auto split = SplitRows(d.y, Task::kBinaryClassification, 0.2, 1);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(split->validation, rows);
  EXPECT_EQ(split->train.size() + rows.size(), d.y.size());
  EXPECT_EQ(*InferTask(d.y), Task::kBinaryClassification);
  EXPECT_EQ(*InferTask(std::vector<double>{0, 1, 2}), Task::kRegression);
}

// ------------------------------------------------------------- tables ---

TEST(DatasetTest, FromTable) {
  Table t;
  ASSERT_TRUE(t.Add(Column::Numbers("age", {30, 40, kNaN})).ok());
  Column v;
  v.name = "emb";
  v.type = ColumnType::kVector;
  v.width = 2;
  v.numbers = {1, 2, 3, 4, 5, 6};
  ASSERT_TRUE(t.Add(std::move(v)).ok());
  ASSERT_TRUE(t.Add(Column::Strings("device", {"ios", "web", "ios"})).ok());
  ASSERT_TRUE(t.Add(Column::Numbers("churned", {0, 1, 0})).ok());

  auto all = TrainingDataFromTable(t, "churned", {});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_THAT(all->feature_names, ElementsAre("age", "emb[0]", "emb[1]"));
  EXPECT_EQ(all->width, 3);
  EXPECT_EQ(all->X[3], 40);
  EXPECT_EQ(all->X[5], 4);
  EXPECT_TRUE(std::isnan(all->X[6]));
  EXPECT_THAT(all->y, ElementsAre(0, 1, 0));

  const std::vector<std::string> device = {"device"};
  ExpectInvalid(TrainingDataFromTable(t, "churned", device).status(),
                "feature 'device' is a string column; encode it in a pipeline (for example one_hot) first");
  ExpectInvalid(TrainingDataFromTable(t, "device", {}).status(),
                "label 'device' is not numeric (a string column); map it to numbers first");
  ExpectInvalid(TrainingDataFromTable(t, "plan", {}).status(),
                "label 'plan' is not a column of the data; columns: age, emb, device, churned");
  const std::vector<std::string> leak = {"age", "churned"};
  ExpectInvalid(TrainingDataFromTable(t, "churned", leak).status(),
                "the label 'churned' is also listed as a feature (label leakage)");
}

}  // namespace
}  // namespace rtml::training
