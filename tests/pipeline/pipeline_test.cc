// Tests of the pipeline component: every op in row and columnar mode (which
// must agree bit for bit, missing values included), fitting with exact
// parameters, the fitted JSON round trip, every validation error, onnx nodes
// over small models built with the protobuf API, profile nodes over a fake
// source and a real ProfileStore, and no allocation in row mode.
#include "pipeline/pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <simdjson.h>
#include <thread>

#include "alloc_counter.h"
#include "data/profiles.h"
#include "onnx_builder.h"
#include "pipeline/profile_store_source.h"

namespace rtml::pipeline {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::ordered_json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int64_t kDay = 86'400'000;
constexpr int64_t kJan1 = 1'704'067'200'000;  // 2024-01-01T00:00:00Z, a Monday
constexpr int kF32 = onnx::TensorProto::FLOAT;
constexpr int kI64 = onnx::TensorProto::INT64;

// ----------------------------------------------------------------- helpers

class FakeModels final : public ModelResolver {
 public:
  void Add(std::string name, int64_t version, const std::string& bytes) {
    auto m = engine::Model::Load(bytes);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    models_[{std::move(name), version}] = std::shared_ptr<const engine::Model>(std::move(*m));
  }
  StatusOr<std::shared_ptr<const engine::Model>> Resolve(std::string_view name,
                                                         int64_t version) const override {
    auto it = models_.find({std::string(name), version});
    if (it == models_.end()) return NotFoundError("no such model");
    return it->second;
  }

 private:
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<const engine::Model>> models_;
};

const FakeModels& NoModels() {
  static const FakeModels* none = new FakeModels();
  return *none;
}

// Person -> attribute -> value; records the query time it was called with.
class FakeProfiles final : public ProfileSource {
 public:
  std::map<std::string, std::map<std::string, double, std::less<>>, std::less<>> people;
  mutable std::atomic<int64_t> last_now{0};
  bool Lookup(std::string_view identity, std::span<const std::string> attributes, int64_t now_ms,
              std::span<double> out) const override {
    last_now = now_ms;
    auto p = people.find(identity);
    if (p == people.end()) return false;
    for (size_t i = 0; i < attributes.size(); ++i) {
      auto a = p->second.find(attributes[i]);
      out[i] = a == p->second.end() ? kNaN : a->second;
    }
    return true;
  }
};

std::shared_ptr<const Pipeline> MustCompile(const std::string& json,
                                            const ModelResolver& models = NoModels(),
                                            const CompileOptions& options = {}) {
  auto p = Pipeline::Compile(json, models, options);
  EXPECT_TRUE(p.ok()) << p.status().ToString() << "\n" << json;
  return p.ok() ? *p : nullptr;
}

Status CompileError(const std::string& json, const ModelResolver& models = NoModels()) {
  auto p = Pipeline::Compile(json, models);
  if (p.ok()) return OkStatus();
  return p.status();
}

Column Strs(std::string name, std::vector<std::optional<std::string>> values) {
  Column c;
  c.name = std::move(name);
  c.type = ColumnType::kString;
  for (auto& v : values) {
    c.present.push_back(v.has_value() ? 1 : 0);
    c.strings.push_back(v.value_or(""));
  }
  return c;
}

Table MakeTable(std::vector<Column> columns) {
  Table t;
  for (auto& c : columns) EXPECT_TRUE(t.Add(std::move(c)).ok());
  return t;
}

bool SameBits(double a, double b) { return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b); }

// Runs `p` over `data` in columnar mode and again row by row through one
// RowContext; every output must agree bit for bit. Returns the columnar result.
Table RunBoth(const Pipeline& p, const Table& data, int64_t now, const ProfileSource* profiles = nullptr,
              const Column* ids = nullptr) {
  auto cols = p.RunColumns(data, now, profiles, ids);
  EXPECT_TRUE(cols.ok()) << cols.status().ToString();
  if (!cols.ok()) return Table();
  auto ctx = p.NewRowContext();
  for (int64_t r = 0; r < data.rows(); ++r) {
    const size_t row = static_cast<size_t>(r);
    for (size_t i = 0; i < p.inputs().size(); ++i) {
      const Column* c = data.Find(p.inputs()[i].name);
      const int in = static_cast<int>(i);
      if (c->type == ColumnType::kNumber) {
        ctx->SetNumber(in, c->numbers[row]);
      } else if (!c->present[row]) {
        ctx->SetMissing(in);
      } else {
        Status st = ctx->SetString(in, c->strings[row]);
        EXPECT_TRUE(st.ok()) << st.ToString();
      }
    }
    ctx->SetIdentity(ids != nullptr && ids->present[row] ? std::string_view(ids->strings[row]) : "");
    Status st = ctx->Run(now, profiles);
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok()) return Table();
    for (int o = 0; o < ctx->num_outputs(); ++o) {
      const Column& oc = cols->columns()[static_cast<size_t>(o)];
      if (ctx->output_is_string(o)) {
        auto s = ctx->output_string(o);
        EXPECT_EQ(s.has_value(), oc.present[row] != 0) << "row " << r << " output " << oc.name;
        if (s && oc.present[row]) {
          EXPECT_EQ(*s, oc.strings[row]) << "row " << r;
        }
        continue;
      }
      const auto v = ctx->output_vector(o);
      const int64_t width = oc.type == ColumnType::kVector ? oc.width : 1;
      EXPECT_EQ(static_cast<int64_t>(v.size()), width);
      for (int64_t j = 0; j < width && j < static_cast<int64_t>(v.size()); ++j) {
        const double col = oc.numbers[static_cast<size_t>(r * width + j)];
        EXPECT_TRUE(SameBits(v[static_cast<size_t>(j)], col))
            << "output " << oc.name << " row " << r << "[" << j << "]: row mode "
            << v[static_cast<size_t>(j)] << ", columnar " << col;
      }
      if (!ctx->output_is_vector(o)) {
        EXPECT_TRUE(SameBits(ctx->output_number(o), v[0]));
      }
    }
  }
  return *cols;
}

std::vector<double> Nums(const Table& t, std::string_view name) {
  const Column* c = t.Find(name);
  EXPECT_NE(c, nullptr) << name;
  return c == nullptr ? std::vector<double>() : c->numbers;
}

std::vector<std::string> StrsOf(const Table& t, std::string_view name) {
  const Column* c = t.Find(name);
  EXPECT_NE(c, nullptr) << name;
  std::vector<std::string> out;
  if (c == nullptr) return out;
  for (size_t i = 0; i < c->strings.size(); ++i) out.push_back(c->present[i] ? c->strings[i] : "<missing>");
  return out;
}

// Equal values, NaN matching NaN.
void ExpectNums(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i << " is " << got[i];
    } else {
      EXPECT_EQ(got[i], want[i]) << "element " << i;
    }
  }
}

// A pipeline of one node `op` over `inputs`, exposing the node as output "y".
std::string OneOp(const std::string& inputs, const std::string& op, const std::string& node_inputs,
                  const std::string& params = "{}") {
  return R"({"inputs": )" + inputs + R"(, "nodes": [{"id": "y", "op": ")" + op +
         R"(", "inputs": )" + node_inputs + R"(, "params": )" + params +
         R"(}], "outputs": {"y": "y"}})";
}

const char* const kNumberX = R"([{"name": "x", "type": "number"}])";
const char* const kStringS = R"([{"name": "s", "type": "string"}])";

// Fits `p` and returns the compiled fitted pipeline plus its params by node.
struct FitResult {
  std::shared_ptr<const Pipeline> pipeline;
  Json doc;
  Json Params(const std::string& id) const {
    for (const Json& n : doc["nodes"])
      if (n["id"] == id) return n.value("params", Json::object());
    return Json();
  }
};

FitResult FitOrDie(const Pipeline& p, const Table& data, int64_t now = kJan1,
                   const ModelResolver& models = NoModels(), const ProfileSource* profiles = nullptr,
                   const Column* ids = nullptr) {
  FitResult r;
  auto fitted = p.Fit(data, now, profiles, ids);
  EXPECT_TRUE(fitted.ok()) << fitted.status().ToString();
  if (!fitted.ok()) return r;
  r.doc = Json::parse(*fitted);
  r.pipeline = MustCompile(*fitted, models);
  if (r.pipeline != nullptr) {
    EXPECT_FALSE(r.pipeline->needs_fit());
    EXPECT_EQ(r.pipeline->json(), *fitted);  // canonical form is stable
  }
  return r;
}

// ---- models built with the ONNX protobuf API

// Binary LinearClassifier over `w` features: raw = sum(coef * x) + b,
// probabilities [1 - s(raw), s(raw)] (FP32), label INT64.
std::string LinearModel(std::vector<float> coef, float intercept, int64_t width) {
  rtml::testing::OnnxBuilder b(17, 1);
  b.Input("X", kF32, {-1, width});
  b.Output("label", kI64, {-1});
  b.Output("probabilities", kF32, {-1, 2});
  auto* n = b.Node("LinearClassifier", {"X"}, {"label", "probabilities"}, "ai.onnx.ml", "lin");
  rtml::testing::OnnxBuilder::FloatsAttr(n, "coefficients", coef);
  rtml::testing::OnnxBuilder::FloatsAttr(n, "intercepts", {intercept});
  rtml::testing::OnnxBuilder::IntsAttr(n, "classlabels_ints", {0, 1});
  rtml::testing::OnnxBuilder::StringAttr(n, "post_transform", "LOGISTIC");
  return b.Bytes();
}

// TreeEnsembleRegressor with one stump: x[feature] <= t ? lo : hi; output Y [N, 1].
std::string StumpModel(int64_t width, int64_t feature, float t, float lo, float hi) {
  rtml::testing::OnnxBuilder b(17, 3);
  b.Input("X", kF32, {-1, width});
  b.Output("Y", kF32, {-1, 1});
  auto* n = b.Node("TreeEnsembleRegressor", {"X"}, {"Y"}, "ai.onnx.ml", "trees");
  using B = rtml::testing::OnnxBuilder;
  B::IntsAttr(n, "nodes_treeids", {0, 0, 0});
  B::IntsAttr(n, "nodes_nodeids", {0, 1, 2});
  B::IntsAttr(n, "nodes_featureids", {feature, 0, 0});
  B::StringsAttr(n, "nodes_modes", {"BRANCH_LEQ", "LEAF", "LEAF"});
  B::FloatsAttr(n, "nodes_values", {t, 0, 0});
  B::IntsAttr(n, "nodes_truenodeids", {1, 0, 0});
  B::IntsAttr(n, "nodes_falsenodeids", {2, 0, 0});
  B::IntsAttr(n, "nodes_missing_value_tracks_true", {1, 0, 0});
  B::IntsAttr(n, "target_treeids", {0, 0});
  B::IntsAttr(n, "target_nodeids", {1, 2});
  B::IntsAttr(n, "target_ids", {0, 0});
  B::FloatsAttr(n, "target_weights", {lo, hi});
  B::IntAttr(n, "n_targets", 1);
  return b.Bytes();
}

double Sigmoid32(float raw) { return 1.0 / (1.0 + std::exp(-static_cast<double>(raw))); }

// ========================================================== the brief's pipeline

const char* const kChurnPipeline = R"({
 "inputs": [{"name": "device", "type": "string"}, {"name": "price", "type": "number"},
            {"name": "last_visit", "type": "timestamp"}],
 "nodes": [
   {"id": "price_f", "op": "fillna", "inputs": ["price"], "params": {"strategy": "mean"}},
   {"id": "dev", "op": "lower", "inputs": ["device"]},
   {"id": "dev_top", "op": "top_k", "inputs": ["dev"], "params": {"k": 3}},
   {"id": "dev_oh", "op": "one_hot", "inputs": ["dev_top"]},
   {"id": "recency", "op": "days_since", "inputs": ["last_visit"]},
   {"id": "prof", "op": "profile", "params": {"attributes": ["purchases_7d", "spend_24h"]}},
   {"id": "x", "op": "concat", "inputs": ["price_f", "dev_oh", "recency", "prof"]},
   {"id": "m", "op": "onnx", "inputs": ["x"], "params": {"model": "churn", "version": 3, "output": "probabilities"}},
   {"id": "p", "op": "select", "inputs": ["m"], "params": {"index": 1}},
   {"id": "label", "op": "threshold", "inputs": ["p"], "params": {"value": 0.5}}],
 "outputs": {"probability": "p", "label": "label"}})";

// Width after fitting: price 1 + 3 devices + "other" + recency 1 + 2 attributes = 8.
const std::vector<float> kChurnCoef = {0.01f, 0.5f, -0.25f, 0.75f, -1.0f, -0.1f, 0.2f, 0.003f};
constexpr float kChurnIntercept = -0.3f;

struct ChurnData {
  Table table;
  Column ids;
  FakeProfiles profiles;
};

void MakeChurnData(int64_t rows, ChurnData* d) {
  const char* const devices[] = {"Mobile", "desktop", "TABLET", "tv", "mobile", "Desktop", "watch"};
  std::vector<std::optional<std::string>> dev, id;
  std::vector<double> price, visit;
  for (int64_t i = 0; i < rows; ++i) {
    dev.push_back(i % 11 == 0 ? std::nullopt : std::optional<std::string>(devices[i % 7]));
    price.push_back(i % 5 == 0 ? kNaN : 10.0 + static_cast<double>(i % 37) * 1.25);
    visit.push_back(i % 13 == 0 ? kNaN : static_cast<double>(kJan1 - (i % 90) * kDay - i * 1000));
    id.push_back(i % 4 == 0 ? std::nullopt : std::optional<std::string>("crm:" + std::to_string(i % 50)));
  }
  d->table = MakeTable({Strs("device", dev), Column::Numbers("price", price),
                        Column::Numbers("last_visit", visit)});
  d->ids = Strs("identity", id);
  for (int p = 0; p < 40; ++p) {  // crm:40..49 have no profile
    auto& attrs = d->profiles.people["crm:" + std::to_string(p)];
    attrs["purchases_7d"] = p % 6;
    if (p % 3 != 0) attrs["spend_24h"] = 12.5 * p;
  }
}

TEST(ChurnPipeline, FitsRunsAndAgreesAcrossModesOverManyChunks) {
  FakeModels models;
  models.Add("churn", 3, LinearModel(kChurnCoef, kChurnIntercept, 8));
  auto p = MustCompile(kChurnPipeline, models);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->needs_fit());
  EXPECT_FALSE(p->runnable());
  EXPECT_EQ(p->model_refs(), (std::vector<ModelRef>{{"churn", 3}}));
  EXPECT_EQ(p->output_names(), (std::vector<std::string>{"probability", "label"}));
  EXPECT_EQ(*p->InputIndex("last_visit"), 2);
  EXPECT_EQ(p->InputIndex("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(p->output_type(1).kind, ValueKind::kBool);
  {
    auto ctx = p->NewRowContext();
    Status st = ctx->Run(kJan1, nullptr);
    EXPECT_THAT(st.message(), HasSubstr("unfitted nodes (price_f, dev_top, dev_oh)"));
  }

  ChurnData d;
  MakeChurnData(10'000, &d);  // three columnar chunks
  FitResult fit = FitOrDie(*p, d.table, kJan1, models, &d.profiles, &d.ids);
  ASSERT_NE(fit.pipeline, nullptr);
  EXPECT_EQ(fit.Params("dev_top")["fitted"], Json::parse(R"({"values": ["desktop", "mobile", "tablet"]})"));
  EXPECT_EQ(fit.Params("dev_oh")["fitted"],
            Json::parse(R"({"categories": ["desktop", "mobile", "tablet", "other"]})"));
  double sum = 0, count = 0;
  for (double v : d.table.Find("price")->numbers) {
    if (!std::isnan(v)) sum += v, ++count;
  }
  EXPECT_EQ(fit.Params("price_f")["fitted"]["value"].get<double>(), sum / count);
  EXPECT_EQ(fit.pipeline->output_type(0), (ValueType{ValueKind::kNumber, 1}));

  Table out = RunBoth(*fit.pipeline, d.table, kJan1 + 1234, &d.profiles, &d.ids);
  ASSERT_EQ(out.rows(), 10'000);
  EXPECT_EQ(d.profiles.last_now.load(), kJan1 + 1234);
  // Row 7: device "Mobile" -> mobile; price 10 + 7 * 1.25; visit 7 days + 7 s ago; crm:7.
  const auto prob = Nums(out, "probability");
  const auto label = Nums(out, "label");
  const float x[8] = {18.75f, 0, 1, 0, 0, static_cast<float>((7 * kDay + 7000 + 1234) / double(kDay)),
                      1, 87.5f};
  float raw = kChurnIntercept;
  for (int i = 0; i < 8; ++i) raw += kChurnCoef[static_cast<size_t>(i)] * x[i];
  EXPECT_NEAR(prob[7], Sigmoid32(raw), 1e-6);
  EXPECT_EQ(label[7], prob[7] >= 0.5 ? 1.0 : 0.0);
  // Row 40: no profile for crm:40 -> NaN features -> the linear model's NaN stays missing.
  EXPECT_TRUE(std::isnan(prob[40]));
  EXPECT_TRUE(std::isnan(label[40]));
}

TEST(ChurnPipeline, FittedJsonRoundTripsWithIdenticalResults) {
  FakeModels models;
  models.Add("churn", 3, LinearModel(kChurnCoef, kChurnIntercept, 8));
  auto p = MustCompile(kChurnPipeline, models);
  ChurnData d;
  MakeChurnData(500, &d);
  FitResult fit = FitOrDie(*p, d.table, kJan1, models, &d.profiles, &d.ids);
  ASSERT_NE(fit.pipeline, nullptr);
  // Refitting a fitted pipeline changes nothing; compiling its JSON again gives the same plan.
  auto again = fit.pipeline->Fit(d.table, kJan1, &d.profiles, &d.ids);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, fit.pipeline->json());
  auto copy = MustCompile(fit.pipeline->json(), models);
  ASSERT_NE(copy, nullptr);
  Table a = RunBoth(*fit.pipeline, d.table, kJan1, &d.profiles, &d.ids);
  Table b = RunBoth(*copy, d.table, kJan1, &d.profiles, &d.ids);
  const auto pa = Nums(a, "probability"), pb = Nums(b, "probability");
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(SameBits(pa[i], pb[i])) << i;
}

TEST(ChurnPipeline, FeatureMatrixIsTheOnnxInput) {
  FakeModels models;
  models.Add("churn", 3, LinearModel(kChurnCoef, kChurnIntercept, 8));
  ChurnData d;
  MakeChurnData(20, &d);
  FitResult fit = FitOrDie(*MustCompile(kChurnPipeline, models), d.table, kJan1, models,
                           &d.profiles, &d.ids);
  ASSERT_NE(fit.pipeline, nullptr);
  int64_t width = 0;
  auto m = fit.pipeline->FeatureMatrix(d.table, kJan1, "", &width, &d.profiles, &d.ids);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(width, 8);
  ASSERT_EQ(m->size(), 160u);
  // Row 1: "desktop", price 11.25, visit 1 day + 1 s ago, crm:1 (purchases 1, spend 12.5).
  const std::vector<double> row1(m->begin() + 8, m->begin() + 16);
  ExpectNums(row1, {11.25, 1, 0, 0, 0, (kDay + 1000.0) / kDay, 1, 12.5});
  auto recency = fit.pipeline->FeatureMatrix(d.table, kJan1, "recency", &width);
  ASSERT_TRUE(recency.ok());
  EXPECT_EQ(width, 1);
  EXPECT_EQ((*recency)[1], (kDay + 1000.0) / kDay);
  EXPECT_THAT(fit.pipeline->FeatureMatrix(d.table, kJan1, "dev", &width).status().message(),
              HasSubstr("node 'dev' is string"));
  EXPECT_THAT(fit.pipeline->FeatureMatrix(d.table, kJan1, "zzz", &width).status().message(),
              HasSubstr("no node or input 'zzz'"));
}

TEST(ChurnPipeline, DeferredModelsAllowFittingAndFeaturesButNotRunning) {
  CompileOptions deferred;
  deferred.defer_models = true;
  auto p = MustCompile(kChurnPipeline, NoModels(), deferred);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->model_refs(), (std::vector<ModelRef>{{"churn", 3}}));
  ChurnData d;
  MakeChurnData(100, &d);
  auto fitted = p->Fit(d.table, kJan1, &d.profiles, &d.ids);
  ASSERT_TRUE(fitted.ok()) << fitted.status().ToString();
  auto fp = MustCompile(*fitted, NoModels(), deferred);
  ASSERT_NE(fp, nullptr);
  EXPECT_FALSE(fp->needs_fit());
  EXPECT_FALSE(fp->runnable());
  int64_t width = 0;
  auto m = fp->FeatureMatrix(d.table, kJan1, "", &width, &d.profiles, &d.ids);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(width, 8);
  EXPECT_THAT(fp->RunColumns(d.table, kJan1).status().message(), HasSubstr("no resolved model"));
  // Without deferral the fitted JSON needs the model.
  EXPECT_EQ(CompileError(*fitted).message(), "node 'm' (onnx): model 'churn' version 3 not found");
}

TEST(ChurnPipeline, FittedWidthMustMatchTheModel) {
  FakeModels models;
  models.Add("churn", 3, LinearModel(std::vector<float>(12, 0.1f), 0, 12));
  auto p = MustCompile(kChurnPipeline, models);  // width unknown until fitted
  ASSERT_NE(p, nullptr);
  ChurnData d;
  MakeChurnData(100, &d);
  auto fitted = p->Fit(d.table, kJan1, &d.profiles, &d.ids);
  EXPECT_EQ(fitted.status().message(), "node 'm' (onnx): model expects 12 features, input 'x' has 8");
}

// ================================================================== each op

TEST(Fillna, ConstantNumberStringAndVector) {
  auto p = MustCompile(OneOp(kNumberX, "fillna", R"(["x"])", R"({"value": -1.5})"));
  ExpectNums(Nums(RunBoth(*p, MakeTable({Column::Numbers("x", {1, kNaN, 3})}), 0), "y"), {1, -1.5, 3});

  auto s = MustCompile(OneOp(kStringS, "fillna", R"(["s"])", R"({"value": "none"})"));
  EXPECT_EQ(StrsOf(RunBoth(*s, MakeTable({Strs("s", {"a", std::nullopt, ""})}), 0), "y"),
            (std::vector<std::string>{"a", "none", ""}));

  auto v = MustCompile(R"({"inputs": [{"name": "a", "type": "number"}, {"name": "b", "type": "number"}],
    "nodes": [{"id": "v", "op": "concat", "inputs": ["a", "b"]},
              {"id": "y", "op": "fillna", "inputs": ["v"], "params": {"value": 0}}],
    "outputs": {"y": "y"}})");
  Table t = RunBoth(*v, MakeTable({Column::Numbers("a", {kNaN, 2}), Column::Numbers("b", {3, kNaN})}), 0);
  ExpectNums(Nums(t, "y"), {0, 3, 2, 0});
}

TEST(Fillna, FitsMeanMedianAndModeExactly) {
  const Table data = MakeTable({Column::Numbers("x", {1, 2, kNaN, 4, 4})});
  struct Case {
    std::string strategy;
    double value;
  };
  for (const Case& c : {Case{"mean", 2.75}, Case{"median", 3}, Case{"mode", 4}}) {
    SCOPED_TRACE(c.strategy);
    auto p = MustCompile(OneOp(kNumberX, "fillna", R"(["x"])", R"({"strategy": ")" + c.strategy + R"("})"));
    ASSERT_TRUE(p->needs_fit());
    FitResult fit = FitOrDie(*p, data);
    ASSERT_NE(fit.pipeline, nullptr);
    EXPECT_EQ(fit.Params("y"), Json::parse(R"({"strategy": ")" + c.strategy +
                                           R"(", "fitted": {"value": )" + std::to_string(c.value) + "}}"));
    ExpectNums(Nums(RunBoth(*fit.pipeline, data, 0), "y"), {1, 2, c.value, 4, 4});
  }
  // Median of an odd count; mode ties go to the smallest value.
  auto med = MustCompile(OneOp(kNumberX, "fillna", R"(["x"])", R"({"strategy": "median"})"));
  EXPECT_EQ(FitOrDie(*med, MakeTable({Column::Numbers("x", {5, 1, 3})})).Params("y")["fitted"]["value"], 3.0);
  auto mode = MustCompile(OneOp(kNumberX, "fillna", R"(["x"])", R"({"strategy": "mode"})"));
  EXPECT_EQ(FitOrDie(*mode, MakeTable({Column::Numbers("x", {7, 2, 7, 2, kNaN})})).Params("y")["fitted"]["value"], 2.0);
  // Strings take the mode (ties: smallest); all-missing data cannot be fitted.
  auto smode = MustCompile(OneOp(kStringS, "fillna", R"(["s"])", R"({"strategy": "mode"})"));
  const Table sdata = MakeTable({Strs("s", {"b", "a", "b", std::nullopt, "a"})});
  FitResult sfit = FitOrDie(*smode, sdata);
  EXPECT_EQ(sfit.Params("y")["fitted"]["value"], "a");
  EXPECT_EQ(StrsOf(RunBoth(*sfit.pipeline, sdata, 0), "y"),
            (std::vector<std::string>{"b", "a", "b", "a", "a"}));
  auto empty = mode->Fit(MakeTable({Column::Numbers("x", {kNaN, kNaN})}), 0);
  EXPECT_EQ(empty.status().message(),
            "node 'y' (fillna): the training data has no non-missing values to fit the fill value");
}

TEST(Map, StringAndNumberKeysWithDefault) {
  auto s2s = MustCompile(OneOp(kStringS, "map", R"(["s"])",
                               R"({"mapping": {"iPhone": "mobile", "Mac": "desktop"}, "default": "unknown"})"));
  EXPECT_EQ(StrsOf(RunBoth(*s2s, MakeTable({Strs("s", {"Mac", "iPhone", "Linux", std::nullopt})}), 0), "y"),
            (std::vector<std::string>{"desktop", "mobile", "unknown", "<missing>"}));
  auto s2n = MustCompile(OneOp(kStringS, "map", R"(["s"])", R"({"mapping": {"low": 1, "high": 3}})"));
  ExpectNums(Nums(RunBoth(*s2n, MakeTable({Strs("s", {"high", "low", "mid", std::nullopt})}), 0), "y"),
             {3, 1, kNaN, kNaN});
  auto n2s = MustCompile(OneOp(kNumberX, "map", R"(["x"])", R"({"mapping": {"1": "one", "2.5": "two and a half"}, "default": "?"})"));
  EXPECT_EQ(StrsOf(RunBoth(*n2s, MakeTable({Column::Numbers("x", {1, 2.5, 3, kNaN})}), 0), "y"),
            (std::vector<std::string>{"one", "two and a half", "?", "<missing>"}));
  auto n2n = MustCompile(OneOp(kNumberX, "map", R"(["x"])", R"({"mapping": {"0": 10, "-1": 20}, "default": 0})"));
  ExpectNums(Nums(RunBoth(*n2n, MakeTable({Column::Numbers("x", {-0.0, -1, 7})}), 0), "y"), {10, 20, 0});
}

TEST(Lower, AsciiOnlyAndMissing) {
  auto p = MustCompile(OneOp(kStringS, "lower", R"(["s"])"));
  EXPECT_EQ(StrsOf(RunBoth(*p, MakeTable({Strs("s", {"MoBiLe", "ÄB", std::nullopt, ""})}), 0), "y"),
            (std::vector<std::string>{"mobile", "Äb", "<missing>", ""}));
}

TEST(Bucketize, BoundariesAndFittedQuantiles) {
  auto p = MustCompile(OneOp(kNumberX, "bucketize", R"(["x"])", R"({"boundaries": [0, 10]})"));
  ExpectNums(Nums(RunBoth(*p, MakeTable({Column::Numbers("x", {-1, 0, 5, 10, 11, kNaN})}), 0), "y"),
             {0, 1, 1, 2, 2, kNaN});
  auto q = MustCompile(OneOp(kNumberX, "bucketize", R"(["x"])", R"({"quantiles": 4})"));
  const Table data = MakeTable({Column::Numbers("x", {8, 1, 7, 2, kNaN, 6, 3, 5, 4})});
  FitResult fit = FitOrDie(*q, data);
  // Sorted 1..8: h = 7 i / 4 -> 2.75, 4.5, 6.25 (linear interpolation).
  EXPECT_EQ(fit.Params("y")["fitted"], Json::parse(R"({"boundaries": [2.75, 4.5, 6.25]})"));
  ExpectNums(Nums(RunBoth(*fit.pipeline, data, 0), "y"), {3, 0, 3, 0, kNaN, 2, 1, 2, 1});
  // Repeated quantiles collapse.
  FitResult flat = FitOrDie(*q, MakeTable({Column::Numbers("x", {1, 1, 1, 1, 2})}));
  EXPECT_EQ(flat.Params("y")["fitted"], Json::parse(R"({"boundaries": [1]})"));
}

TEST(TopK, KeepsMostFrequentTiesByValue) {
  auto p = MustCompile(OneOp(kStringS, "top_k", R"(["s"])", R"({"k": 2, "other": "rare"})"));
  const Table data = MakeTable({Strs("s", {"c", "a", "b", "a", "c", "b", "a", "d", std::nullopt})});
  FitResult fit = FitOrDie(*p, data);
  EXPECT_EQ(fit.Params("y"), Json::parse(R"({"k": 2, "other": "rare", "fitted": {"values": ["a", "b"]}})"));
  EXPECT_EQ(StrsOf(RunBoth(*fit.pipeline, MakeTable({Strs("s", {"a", "b", "c", "zz", std::nullopt})}), 0), "y"),
            (std::vector<std::string>{"a", "b", "rare", "rare", "<missing>"}));
}

TEST(OneHot, ExplicitFittedAndAfterTopK) {
  auto p = MustCompile(OneOp(kStringS, "one_hot", R"(["s"])", R"({"categories": ["x", "y"]})"));
  EXPECT_EQ(p->output_type(0), (ValueType{ValueKind::kVector, 2}));
  ExpectNums(Nums(RunBoth(*p, MakeTable({Strs("s", {"y", "x", "z", std::nullopt})}), 0), "y"),
             {0, 1, 1, 0, 0, 0, 0, 0});
  auto f = MustCompile(OneOp(kStringS, "one_hot", R"(["s"])"));
  EXPECT_EQ(f->output_type(0), (ValueType{ValueKind::kVector, kUnknownWidth}));
  FitResult fit = FitOrDie(*f, MakeTable({Strs("s", {"b", "c", "a", "b", std::nullopt})}));
  EXPECT_EQ(fit.Params("y")["fitted"], Json::parse(R"({"categories": ["a", "b", "c"]})"));
  ExpectNums(Nums(RunBoth(*fit.pipeline, MakeTable({Strs("s", {"c", "q"})}), 0), "y"), {0, 0, 1, 0, 0, 0});

  // After top_k the "other" value has a slot even when training never produced it.
  auto t = MustCompile(R"({"inputs": [{"name": "s", "type": "string"}],
    "nodes": [{"id": "top", "op": "top_k", "inputs": ["s"], "params": {"k": 5}},
              {"id": "y", "op": "one_hot", "inputs": ["top"]}],
    "outputs": {"y": "y"}})");
  FitResult tfit = FitOrDie(*t, MakeTable({Strs("s", {"b", "a", "b"})}));
  EXPECT_EQ(tfit.Params("y")["fitted"], Json::parse(R"({"categories": ["b", "a", "other"]})"));
  ExpectNums(Nums(RunBoth(*tfit.pipeline, MakeTable({Strs("s", {"a", "new"})}), 0), "y"),
             {0, 1, 0, 0, 0, 1});
}

TEST(TimeOps, HourDayOfWeekDaysSinceFromNumbersAndRfc3339) {
  const char* inputs = R"([{"name": "t", "type": "timestamp"}])";
  auto hour = MustCompile(OneOp(inputs, "hour", R"(["t"])"));
  auto dow = MustCompile(OneOp(inputs, "dayofweek", R"(["t"])"));
  auto since = MustCompile(OneOp(inputs, "days_since", R"(["t"])"));
  auto since_ref = MustCompile(OneOp(inputs, "days_since", R"(["t"])", R"({"reference": "2024-01-11T00:00:00Z"})"));
  // 2024-01-01 00:00 Mon; 2024-01-07 23:59:59.999 Sun; 1969-12-31 23:00 Wed; missing.
  const std::vector<double> ms = {double(kJan1), double(kJan1 + 7 * kDay - 1), -3'600'000.0, kNaN};
  const Table numbers = MakeTable({Column::Numbers("t", ms)});
  const Table texts = MakeTable({Strs("t", {"2024-01-01T00:00:00Z", "2024-01-08T01:59:59.999+02:00",
                                             "1969-12-31T23:00:00Z", std::nullopt})});
  for (const Table* data : {&numbers, &texts}) {
    ExpectNums(Nums(RunBoth(*hour, *data, 0), "y"), {0, 23, 23, kNaN});
    ExpectNums(Nums(RunBoth(*dow, *data, 0), "y"), {0, 6, 2, kNaN});
    ExpectNums(Nums(RunBoth(*since, *data, kJan1 + kDay / 2), "y"),
               {0.5, (kDay / 2.0 - 7 * kDay + 1) / kDay, (kJan1 + kDay / 2 + 3'600'000.0) / kDay, kNaN});
    ExpectNums(Nums(RunBoth(*since_ref, *data, 0), "y"),
               {10, (10.0 * kDay - 7 * kDay + 1) / kDay, (kJan1 + 10.0 * kDay + 3'600'000.0) / kDay, kNaN});
  }
  auto ctx = hour->NewRowContext();
  Status st = ctx->SetTimestamp(0, "yesterday");
  EXPECT_EQ(st.message(), "input 't': \"yesterday\" is not an RFC 3339 date-time");
  auto bad = hour->RunColumns(MakeTable({Strs("t", {"2024-01-01T00:00:00Z", "noon"})}), 0);
  EXPECT_EQ(bad.status().message(), "row 1: input 't': \"noon\" is not an RFC 3339 date-time");
}

TEST(Arithmetic, TwoInputsConstantsAndDivisionByZero) {
  const char* inputs = R"([{"name": "a", "type": "number"}, {"name": "b", "type": "number"}])";
  const Table data = MakeTable({Column::Numbers("a", {6, 1, kNaN, 0, -3}),
                                Column::Numbers("b", {3, 0, 2, 0, 0.5})});
  struct Case {
    std::string op;
    std::vector<double> two;
    std::vector<double> constant;  // a op 2
  };
  const std::vector<Case> cases = {
      {"add", {9, 1, kNaN, 0, -2.5}, {8, 3, kNaN, 2, -1}},
      {"sub", {3, 1, kNaN, 0, -3.5}, {4, -1, kNaN, -2, -5}},
      {"mul", {18, 0, kNaN, 0, -1.5}, {12, 2, kNaN, 0, -6}},
      {"div", {2, kNaN, kNaN, kNaN, -6}, {3, 0.5, kNaN, 0, -1.5}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op);
    auto two = MustCompile(OneOp(inputs, c.op, R"(["a", "b"])"));
    ExpectNums(Nums(RunBoth(*two, data, 0), "y"), c.two);
    auto k = MustCompile(OneOp(inputs, c.op, R"(["a"])", R"({"value": 2})"));
    ExpectNums(Nums(RunBoth(*k, data, 0), "y"), c.constant);
  }
  auto zero = MustCompile(OneOp(inputs, "div", R"(["a"])", R"({"value": 0})"));
  ExpectNums(Nums(RunBoth(*zero, data, 0), "y"), {kNaN, kNaN, kNaN, kNaN, kNaN});
}

TEST(Log1pAndStandardize, ValuesAndFit) {
  auto l = MustCompile(OneOp(kNumberX, "log1p", R"(["x"])"));
  ExpectNums(Nums(RunBoth(*l, MakeTable({Column::Numbers("x", {0, std::expm1(2.0), kNaN, -2})}), 0), "y"),
             {0, std::log1p(std::expm1(2.0)), kNaN, kNaN});

  auto s = MustCompile(OneOp(kNumberX, "standardize", R"(["x"])"));
  const Table data = MakeTable({Column::Numbers("x", {1, 2, kNaN, 3, 4})});
  FitResult fit = FitOrDie(*s, data);
  const double sd = std::sqrt(1.25);
  EXPECT_EQ(fit.Params("y")["fitted"]["mean"].get<double>(), 2.5);
  EXPECT_EQ(fit.Params("y")["fitted"]["std"].get<double>(), sd);
  ExpectNums(Nums(RunBoth(*fit.pipeline, data, 0), "y"),
             {-1.5 / sd, -0.5 / sd, kNaN, 0.5 / sd, 1.5 / sd});
  FitResult flat = FitOrDie(*s, MakeTable({Column::Numbers("x", {7, 7})}));
  EXPECT_EQ(flat.Params("y")["fitted"], Json::parse(R"({"mean": 7.0, "std": 0.0})"));
  ExpectNums(Nums(RunBoth(*flat.pipeline, MakeTable({Column::Numbers("x", {7, 9, kNaN})}), 0), "y"),
             {0, 0, kNaN});
}

TEST(Profile, LooksUpTheIdentityAndMissingIsNaN) {
  FakeProfiles profiles;
  profiles.people["crm:1"] = {{"a", 1.5}, {"b", 2}};
  profiles.people["crm:2"] = {{"b", 7}};
  auto p = MustCompile(R"({"inputs": [], "nodes": [
      {"id": "v", "op": "profile", "params": {"attributes": ["a", "b"]}},
      {"id": "one", "op": "profile", "params": {"attributes": ["b"]}}],
    "outputs": {"v": "v", "one": "one"}})");
  EXPECT_EQ(p->output_type(0), (ValueType{ValueKind::kVector, 2}));
  EXPECT_EQ(p->output_type(1), (ValueType{ValueKind::kNumber, 1}));
  Table empty;
  empty.set_rows_hint(5);
  const Column ids = Strs("id", {"crm:1", "crm:2", "crm:3", std::nullopt, ""});
  Table out = RunBoth(*p, empty, 42, &profiles, &ids);
  ExpectNums(Nums(out, "v"), {1.5, 2, kNaN, 7, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN});
  ExpectNums(Nums(out, "one"), {2, 7, kNaN, kNaN, kNaN});
  EXPECT_EQ(profiles.last_now.load(), 42);
  // No source: every value is missing.
  ExpectNums(Nums(RunBoth(*p, empty, 42, nullptr, &ids), "one"), {kNaN, kNaN, kNaN, kNaN, kNaN});
}

TEST(Profile, ProfileStoreSourceResolvesNamesAndFollowsRedefinitions) {
  data::ProfileStoreOptions options;
  options.clock = [] { return kJan1; };
  data::ProfileStore store(options);
  auto define = [&](std::string_view name, std::string_view body) {
    auto def = data::ParseComputedAttribute(name, body);
    ASSERT_TRUE(def.ok()) << def.status().ToString();
    ASSERT_TRUE(store.SetComputedAttribute(*def).ok());
  };
  define("views", R"({"dataset": "ev", "function": "count", "window": "7d"})");
  define("spend", R"({"dataset": "ev", "function": "sum", "field": "price", "window": "7d"})");
  define("last_device", R"({"dataset": "ev", "function": "last", "field": "device", "window": "7d"})");
  simdjson::dom::parser parser;
  for (int i = 0; i < 3; ++i) {
    simdjson::padded_string json(std::string(R"({"price": )") + std::to_string(10 * (i + 1)) +
                                 R"(, "device": "mobile"})");
    simdjson::dom::element rec;
    ASSERT_EQ(parser.parse(json).get(rec), simdjson::SUCCESS);
    const std::vector<std::string> ids = {"crm:1"};
    store.ApplyEvent(data::EventView{"ev", "e", kJan1 - 1000 * (i + 1), "view", ids, rec});
  }
  ProfileStoreSource source(&store);
  auto p = MustCompile(R"({"inputs": [], "nodes": [
      {"id": "v", "op": "profile", "params": {"attributes": ["spend", "views", "last_device", "nope"]}}],
    "outputs": {"v": "v"}})");
  auto ctx = p->NewRowContext();
  ctx->SetIdentity("crm:1");
  ASSERT_TRUE(ctx->Run(kJan1, &source).ok());
  ExpectNums(std::vector<double>(ctx->output_vector(0).begin(), ctx->output_vector(0).end()),
             {60, 3, kNaN, kNaN});
  ctx->SetIdentity("crm:404");
  ASSERT_TRUE(ctx->Run(kJan1, &source).ok());
  ExpectNums(std::vector<double>(ctx->output_vector(0).begin(), ctx->output_vector(0).end()),
             {kNaN, kNaN, kNaN, kNaN});
  // Removing an attribute shifts indices; the source re-resolves names.
  ASSERT_TRUE(store.RemoveComputedAttribute("spend").ok());
  define("nope", R"({"dataset": "ev", "function": "count", "window": "7d"})");  // not replayed: 0
  ctx->SetIdentity("crm:1");
  ASSERT_TRUE(ctx->Run(kJan1, &source).ok());
  ExpectNums(std::vector<double>(ctx->output_vector(0).begin(), ctx->output_vector(0).end()),
             {kNaN, 3, kNaN, 0});
}

TEST(Concat, NumbersAndVectors) {
  auto p = MustCompile(R"({"inputs": [{"name": "a", "type": "number"}, {"name": "b", "type": "bool"},
                                      {"name": "s", "type": "string"}],
    "nodes": [{"id": "oh", "op": "one_hot", "inputs": ["s"], "params": {"categories": ["u", "v"]}},
              {"id": "y", "op": "concat", "inputs": ["a", "oh", "b", "a"]}],
    "outputs": {"y": "y"}})");
  EXPECT_EQ(p->output_type(0), (ValueType{ValueKind::kVector, 5}));
  Table out = RunBoth(*p, MakeTable({Column::Numbers("a", {1, kNaN}), Column::Numbers("b", {5, 0}),
                                     Strs("s", {"v", std::nullopt})}), 0);
  ExpectNums(Nums(out, "y"), {1, 0, 1, 1, 1, kNaN, 0, 0, 0, kNaN});
}

TEST(SelectThresholdArgmax, Values) {
  auto p = MustCompile(R"({"inputs": [{"name": "a", "type": "number"}, {"name": "b", "type": "number"},
                                      {"name": "c", "type": "number"}],
    "nodes": [{"id": "v", "op": "concat", "inputs": ["a", "b", "c"]},
              {"id": "second", "op": "select", "inputs": ["v"], "params": {"index": 1}},
              {"id": "hi", "op": "threshold", "inputs": ["second"], "params": {"value": 0.5}},
              {"id": "best", "op": "argmax", "inputs": ["v"]}],
    "outputs": {"second": "second", "hi": "hi", "best": "best"}})");
  Table out = RunBoth(*p, MakeTable({Column::Numbers("a", {0.1, 3, kNaN, 1}),
                                     Column::Numbers("b", {0.5, 3, kNaN, 0.49}),
                                     Column::Numbers("c", {0.4, 1, kNaN, kNaN})}), 0);
  ExpectNums(Nums(out, "second"), {0.5, 3, kNaN, 0.49});
  ExpectNums(Nums(out, "hi"), {1, 1, kNaN, 0});
  ExpectNums(Nums(out, "best"), {1, 0, kNaN, 0});  // ties: first; NaN ignored; all NaN: NaN
}

TEST(Onnx, LinearClassifierFeedsFp32AndReadsTheNamedOutput) {
  FakeModels models;
  models.Add("lin", 1, LinearModel({0.5f, -1.0f, 2.0f}, 0.25f, 3));
  auto p = MustCompile(R"({"inputs": [{"name": "a", "type": "number"}, {"name": "b", "type": "number"},
                                      {"name": "c", "type": "number"}],
    "nodes": [{"id": "x", "op": "concat", "inputs": ["a", "b", "c"]},
              {"id": "m", "op": "onnx", "inputs": ["x"], "params": {"model": "lin", "version": 1, "output": "probabilities"}},
              {"id": "lab", "op": "onnx", "inputs": ["x"], "params": {"model": "lin", "version": 1}},
              {"id": "p", "op": "select", "inputs": ["m"], "params": {"index": 1}},
              {"id": "cls", "op": "argmax", "inputs": ["m"]}],
    "outputs": {"p": "p", "label": "lab", "scores": "m", "cls": "cls"}})", models);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->model_refs(), (std::vector<ModelRef>{{"lin", 1}}));  // listed once
  EXPECT_EQ(p->output_type(1), (ValueType{ValueKind::kNumber, 1}));  // INT64 label [N]
  EXPECT_EQ(p->output_type(2), (ValueType{ValueKind::kVector, 2}));
  std::vector<double> a, b, c;
  for (int i = 0; i < 50; ++i) {
    a.push_back(0.1 * i);
    b.push_back(i % 7 == 0 ? kNaN : 1.0 / (i + 1));
    c.push_back(-0.37 * (i % 5));
  }
  Table out = RunBoth(*p, MakeTable({Column::Numbers("a", a), Column::Numbers("b", b), Column::Numbers("c", c)}), 0);
  const auto prob = Nums(out, "p"), label = Nums(out, "label");
  for (int i = 1; i < 50; ++i) {
    if (i % 7 == 0) continue;
    const size_t r = static_cast<size_t>(i);
    const float raw = 0.25f + 0.5f * static_cast<float>(a[r]) - 1.0f * static_cast<float>(b[r]) +
                      2.0f * static_cast<float>(c[r]);
    EXPECT_NEAR(prob[r], Sigmoid32(raw), 1e-6) << i;
    EXPECT_EQ(label[r], raw > 0 ? 1 : 0) << i;
  }
}

TEST(Onnx, TreeRegressorOutputIsAVectorOfOne) {
  FakeModels models;
  models.Add("tree", 2, StumpModel(2, 1, 0.5f, -1.0f, 4.0f));
  auto p = MustCompile(R"({"inputs": [{"name": "a", "type": "number"}, {"name": "b", "type": "number"}],
    "nodes": [{"id": "x", "op": "concat", "inputs": ["a", "b"]},
              {"id": "m", "op": "onnx", "inputs": ["x"], "params": {"model": "tree", "version": 2, "input": "X"}},
              {"id": "y", "op": "select", "inputs": ["m"], "params": {"index": 0}}],
    "outputs": {"y": "y"}})", models);
  ASSERT_NE(p, nullptr);
  Table out = RunBoth(*p, MakeTable({Column::Numbers("a", {0, 0, 0}), Column::Numbers("b", {0.5, 0.6, kNaN})}), 0);
  ExpectNums(Nums(out, "y"), {-1, 4, -1});  // missing goes the "true" way
}

// ======================================================== validation errors

TEST(Validation, EveryErrorNamesTheCulprit) {
  FakeModels models;
  models.Add("churn", 3, LinearModel(std::vector<float>(12, 0.1f), 0, 12));
  models.Add("zip", 1, [] {
    rtml::testing::OnnxBuilder b(17, 1);
    b.Input("X", kF32, {-1, 2});
    b.Output("label", onnx::TensorProto::STRING, {-1});
    auto* n = b.Node("LinearClassifier", {"X"}, {"label", "scores"}, "ai.onnx.ml", "lin");
    b.Output("scores", kF32, {-1, 2});
    rtml::testing::OnnxBuilder::FloatsAttr(n, "coefficients", {1, 1});
    rtml::testing::OnnxBuilder::FloatsAttr(n, "intercepts", {0});
    rtml::testing::OnnxBuilder::StringsAttr(n, "classlabels_strings", {"a", "b"});
    return b.Bytes();
  }());
  const std::string in = R"("inputs": [{"name": "price", "type": "number"}, {"name": "device", "type": "string"}])";
  auto doc = [&](const std::string& nodes, const std::string& outputs = R"({"y": "y"})") {
    return "{" + in + R"(, "nodes": )" + nodes + R"(, "outputs": )" + outputs + "}";
  };
  struct Case {
    std::string json;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"not json", "pipeline is not valid JSON: parse error at line 1, column 2"},
      {"[1]", "pipeline must be a JSON object"},
      {std::string(100, '[') + std::string(100, ']'), "pipeline JSON nests deeper than 64 levels"},
      {R"({"inputs": [], "nodes": [], "outputs": {"a": "b"}, "extra": 1})",
       "pipeline: unknown field 'extra' (allowed: inputs, nodes, outputs)"},
      {R"({"inputs": [{"name": "a", "type": "float"}], "nodes": [], "outputs": {"a": "a"}})",
       "input 'a': unknown type 'float' (types: number, integer, string, bool, timestamp)"},
      {R"({"inputs": [{"name": "a", "type": "number"}, {"name": "a", "type": "string"}], "nodes": [], "outputs": {"a": "a"}})",
       "input 'a' is declared twice"},
      {doc(R"([{"id": "y", "op": "frobnicate", "inputs": ["price"]}])"), "node 'y': unknown op 'frobnicate' (ops: add, "},
      {doc(R"([{"id": "y", "op": "log1p", "inputs": ["price"]}, {"id": "y", "op": "log1p", "inputs": ["price"]}])"),
       "node 'y': duplicate id"},
      {doc(R"([{"id": "price", "op": "log1p", "inputs": ["price"]}])", R"({"y": "price"})"),
       "node 'price': duplicate id (a pipeline input has the same name)"},
      {doc(R"([{"id": "y", "op": "log1p", "inputs": ["cost"]}])"),
       "node 'y' (log1p): input 'cost' is not a pipeline input or node"},
      {doc(R"([{"id": "a", "op": "add", "inputs": ["price", "c"]}, {"id": "b", "op": "log1p", "inputs": ["a"]},
               {"id": "c", "op": "log1p", "inputs": ["b"]}, {"id": "y", "op": "log1p", "inputs": ["c"]}])"),
       "node 'a' (add): the pipeline has a cycle: a -> b -> c -> a"},
      {doc(R"([{"id": "y", "op": "log1p", "inputs": ["y"]}])"), "node 'y' (log1p): the pipeline has a cycle: y -> y"},
      {doc(R"([{"id": "price_f", "op": "fillna", "inputs": ["price"], "params": {"value": 0}},
               {"id": "y", "op": "one_hot", "inputs": ["price_f"]}])"),
       "node 'y' (one_hot): input 'price_f' is number, expected string"},
      {doc(R"([{"id": "y", "op": "hour", "inputs": ["price"]}])"), "node 'y' (hour): input 'price' is number, expected timestamp"},
      {doc(R"([{"id": "y", "op": "add", "inputs": ["price", "device"]}])"), "node 'y' (add): input 'device' is string, expected number"},
      {doc(R"([{"id": "y", "op": "select", "inputs": ["price"], "params": {"index": 0}}])"),
       "node 'y' (select): input 'price' is number, expected vector"},
      {doc(R"([{"id": "y", "op": "concat", "inputs": ["price", "device"]}])"),
       "node 'y' (concat): input 'device' is string, expected number or vector"},
      {doc(R"([{"id": "y", "op": "log1p", "inputs": ["price"], "params": {"base": 2}}])"),
       "node 'y' (log1p): unknown param 'base' (allowed: none)"},
      {doc(R"([{"id": "y", "op": "fillna", "inputs": ["price"], "params": {"strat": "mean"}}])"),
       "node 'y' (fillna): unknown param 'strat' (allowed: value, strategy)"},
      {doc(R"([{"id": "y", "op": "fillna", "inputs": ["price"]}])"),
       "node 'y' (fillna): needs exactly one of params 'value' and 'strategy'"},
      {doc(R"([{"id": "y", "op": "fillna", "inputs": ["price"], "params": {"strategy": "max"}}])"),
       "node 'y' (fillna): param 'strategy' must be \"mean\", \"median\" or \"mode\", not \"max\""},
      {doc(R"([{"id": "y", "op": "fillna", "inputs": ["device"], "params": {"strategy": "mean"}}])"),
       "node 'y' (fillna): strategy \"mean\" needs a numeric input; strings take \"mode\" or a 'value'"},
      {doc(R"([{"id": "y", "op": "fillna", "inputs": ["device"], "params": {"value": 1}}])"),
       "node 'y' (fillna): param 'value' must be a string (input is string)"},
      {doc(R"([{"id": "y", "op": "top_k", "inputs": ["device"]}])"), "node 'y' (top_k): missing param 'k'"},
      {doc(R"([{"id": "y", "op": "top_k", "inputs": ["device"], "params": {"k": 0}}])"),
       "node 'y' (top_k): param 'k' must be an integer from 1 to 100000"},
      {doc(R"([{"id": "y", "op": "bucketize", "inputs": ["price"], "params": {"boundaries": [3, 1]}}])"),
       "node 'y' (bucketize): param 'boundaries' must be a non-empty array of numbers in increasing order"},
      {doc(R"([{"id": "y", "op": "map", "inputs": ["device"], "params": {"mapping": {"a": 1, "b": "x"}}}])"),
       "node 'y' (map): param 'mapping': values must be all strings or all numbers ('b' is not a number)"},
      {doc(R"([{"id": "y", "op": "map", "inputs": ["price"], "params": {"mapping": {"one": 1}}}])"),
       "node 'y' (map): param 'mapping': key 'one' is not a number (input 'price' is number)"},
      {doc(R"([{"id": "y", "op": "one_hot", "inputs": ["device"], "params": {"categories": ["a", "a"]}}])"),
       "node 'y' (one_hot): param 'categories' must be a non-empty array of distinct strings"},
      {doc(R"([{"id": "y", "op": "days_since", "inputs": ["price"]}])"),
       "node 'y' (days_since): input 'price' is number, expected timestamp"},
      {doc(R"([{"id": "y", "op": "add", "inputs": ["price"]}])"), "node 'y' (add): missing param 'value'"},
      {doc(R"([{"id": "y", "op": "add", "inputs": ["price", "price", "price"]}])"),
       "node 'y' (add): expects 1 or 2 inputs, got 3"},
      {doc(R"([{"id": "y", "op": "log1p"}])"), "node 'y' (log1p): expects 1 input, got 0"},
      {doc(R"([{"id": "y", "op": "profile", "params": {"attributes": []}}])"),
       "node 'y' (profile): param 'attributes' must be an array of 1 to 1024 distinct attribute names"},
      {doc(R"([{"id": "v", "op": "concat", "inputs": ["price", "price"]},
               {"id": "y", "op": "select", "inputs": ["v"], "params": {"index": 2}}])"),
       "node 'y' (select): param 'index' is 2 but input 'v' has 2 values"},
      {doc(R"([{"id": "y", "op": "threshold", "inputs": ["price"], "params": {"value": "high"}}])"),
       "node 'y' (threshold): param 'value' must be a number"},
      {doc(R"([{"id": "y", "op": "log1p", "inputs": ["price"]}])", R"({"y": "nope"})"),
       "output 'y': 'nope' is not a node or input"},
      {doc(R"([{"id": "y", "op": "log1p", "inputs": ["price"]}])", R"({})"),
       "pipeline: 'outputs' must be a non-empty object"},
      // onnx
      {doc(R"([{"id": "x", "op": "concat", "inputs": ["price", "price"]},
               {"id": "m", "op": "onnx", "inputs": ["x"], "params": {"model": "churn", "version": 4}}])", R"({"y": "m"})"),
       "node 'm' (onnx): model 'churn' version 4 not found"},
      {doc(R"([{"id": "x", "op": "concat", "inputs": ["price", "price", "price", "price", "price", "price", "price", "price", "price"]},
               {"id": "m", "op": "onnx", "inputs": ["x"], "params": {"model": "churn", "version": 3}}])", R"({"y": "m"})"),
       "node 'm' (onnx): model expects 12 features, input 'x' has 9"},
      {doc(R"([{"id": "m", "op": "onnx", "inputs": ["price"], "params": {"model": "churn"}}])", R"({"y": "m"})"),
       "node 'm' (onnx): missing param 'version'"},
      {doc(R"([{"id": "m", "op": "onnx", "inputs": ["device"], "params": {"model": "churn", "version": 3}}])", R"({"y": "m"})"),
       "node 'm' (onnx): input 'device' is string, expected vector or number"},
      {doc(R"([{"id": "x", "op": "concat", "inputs": ["price", "price"]},
               {"id": "m", "op": "onnx", "inputs": ["x"], "params": {"model": "zip", "version": 1, "output": "label"}}])", R"({"y": "m"})"),
       "node 'm' (onnx): model 'zip' version 1 output 'label' is BYTES; choose a numeric output"},
      {doc(R"([{"id": "x", "op": "concat", "inputs": ["price", "price"]},
               {"id": "m", "op": "onnx", "inputs": ["x"], "params": {"model": "zip", "version": 1, "output": "proba"}}])", R"({"y": "m"})"),
       "node 'm' (onnx): model 'zip' version 1 has no output 'proba' (outputs: label, scores)"},
      {doc(R"([{"id": "x", "op": "concat", "inputs": ["price", "price"]},
               {"id": "m", "op": "onnx", "inputs": ["x"], "params": {"model": "zip", "version": 1, "input": "features"}}])", R"({"y": "m"})"),
       "node 'm' (onnx): model 'zip' version 1 has no input 'features' (inputs: X)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    Status st = CompileError(c.json, models);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    EXPECT_THAT(st.message(), HasSubstr(c.message));
  }
  // Exact wording for the messages the brief quotes.
  EXPECT_EQ(CompileError(doc(R"([{"id": "price_f", "op": "fillna", "inputs": ["price"], "params": {"value": 0}},
               {"id": "dev_oh", "op": "one_hot", "inputs": ["price_f"]}])", R"({"y": "dev_oh"})")).message(),
            "node 'dev_oh' (one_hot): input 'price_f' is number, expected string");
}

TEST(Validation, FittedParamsAreCheckedToo) {
  EXPECT_EQ(CompileError(OneOp(kNumberX, "standardize", R"(["x"])", R"({"fitted": {"mean": 1, "std": -1}})")).message(),
            "node 'y' (standardize): param 'fitted' must be {\"mean\": number, \"std\": number >= 0}");
  EXPECT_EQ(CompileError(OneOp(kStringS, "top_k", R"(["s"])", R"({"k": 1, "fitted": {"values": ["a", "b"]}})")).message(),
            "node 'y' (top_k): param 'fitted' must be {\"values\": [at most k distinct strings]}");
  EXPECT_EQ(CompileError(OneOp(kNumberX, "fillna", R"(["x"])", R"({"value": 1, "fitted": {"value": 2}})")).message(),
            "node 'y' (fillna): param 'fitted' goes only with a 'strategy'");
}

TEST(Validation, InputConversionsInBothModes) {
  auto p = MustCompile(R"({"inputs": [{"name": "n", "type": "integer"}, {"name": "b", "type": "bool"},
                                      {"name": "s", "type": "string"}],
    "nodes": [], "outputs": {"n": "n", "b": "b", "s": "s"}})");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->inputs()[0].type, "integer");
  EXPECT_EQ(p->inputs()[0].value_type.kind, ValueKind::kNumber);
  // Strings for numbers and bools parse; numbers for strings print shortest.
  Table out = RunBoth(*p, MakeTable({Strs("n", {"3", "-2.5e1", std::nullopt}),
                                     Strs("b", {"true", "false", std::nullopt}),
                                     Column::Numbers("s", {3, 0.1, kNaN})}), 0);
  ExpectNums(Nums(out, "n"), {3, -25, kNaN});
  ExpectNums(Nums(out, "b"), {1, 0, kNaN});
  EXPECT_EQ(StrsOf(out, "s"), (std::vector<std::string>{"3", "0.1", "<missing>"}));
  auto ctx = p->NewRowContext();
  EXPECT_EQ(ctx->SetString(0, "3 apples").message(), "input 'n': \"3 apples\" is not a number");
  EXPECT_EQ(ctx->SetString(1, "yes").message(), "input 'b': \"yes\" is not true or false");
  ctx->SetNumber(1, 7);
  ASSERT_TRUE(ctx->Run(0, nullptr).ok());
  EXPECT_EQ(ctx->output_number(1), 1);
  ctx->SetBool(1, false);
  ASSERT_TRUE(ctx->Run(0, nullptr).ok());
  EXPECT_EQ(ctx->output_number(1), 0);
  ctx->ClearInputs();
  ASSERT_TRUE(ctx->Run(0, nullptr).ok());
  EXPECT_TRUE(std::isnan(ctx->output_number(0)));
  EXPECT_FALSE(ctx->output_string(2).has_value());
  EXPECT_THAT(p->RunColumns(MakeTable({Column::Numbers("n", {1})}), 0).status().message(),
              HasSubstr("input 'b': the data has no column 'b'"));
}

TEST(Json, CanonicalFormKeepsOrderAndDropsWhitespace) {
  auto p = MustCompile(R"({ "nodes": [ {"op": "log1p", "id": "y", "inputs": ["x"]} ],
     "inputs": [ {"type": "number", "name": "x"} ], "outputs": {"z": "y", "a": "x"} })");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->json(),
            R"({"inputs":[{"name":"x","type":"number"}],"nodes":[{"id":"y","op":"log1p","inputs":["x"]}],)"
            R"("outputs":{"z":"y","a":"x"}})");
  EXPECT_EQ(p->output_names(), (std::vector<std::string>{"z", "a"}));
  EXPECT_FALSE(p->needs_fit());
  auto fitted = p->Fit(Table(), 0);  // nothing to fit: the same JSON
  ASSERT_TRUE(fitted.ok());
  EXPECT_EQ(*fitted, p->json());
}

TEST(Hostile, TruncatedAndMutatedDocumentsFailCleanly) {
  FakeModels models;
  models.Add("churn", 3, LinearModel(kChurnCoef, kChurnIntercept, 8));
  const std::string good = kChurnPipeline;
  for (size_t n = 0; n < good.size(); ++n) {
    auto p = Pipeline::Compile(good.substr(0, n), models);
    EXPECT_FALSE(p.ok()) << n;
  }
  std::mt19937 rng(5);
  const char alphabet[] = "{}[]\":,0123456789-.eE truefalsnul\\xyz";
  int compiled = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string doc = good;
    for (int k = 0; k < 3; ++k) {
      doc[rng() % doc.size()] = alphabet[rng() % (sizeof alphabet - 1)];
    }
    auto p = Pipeline::Compile(doc, models);
    if (p.ok()) {
      ++compiled;
      EXPECT_FALSE((*p)->json().empty());
    } else {
      EXPECT_FALSE(p.status().message().empty());
    }
  }
  EXPECT_LT(compiled, 3000);
}

TEST(Threads, RowContextsOnManyThreadsMatchColumnar) {
  FakeModels models;
  models.Add("churn", 3, LinearModel(kChurnCoef, kChurnIntercept, 8));
  ChurnData d;
  MakeChurnData(2000, &d);
  FitResult fit = FitOrDie(*MustCompile(kChurnPipeline, models), d.table, kJan1, models,
                           &d.profiles, &d.ids);
  ASSERT_NE(fit.pipeline, nullptr);
  auto cols = fit.pipeline->RunColumns(d.table, kJan1, &d.profiles, &d.ids);
  ASSERT_TRUE(cols.ok());
  const std::vector<double> want = cols->Find("probability")->numbers;
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto ctx = fit.pipeline->NewRowContext();
      const Column& dev = *d.table.Find("device");
      for (size_t r = static_cast<size_t>(t); r < want.size(); r += 4) {
        if (dev.present[r]) ctx->SetString(0, dev.strings[r]).IgnoreError(); else ctx->SetMissing(0);
        ctx->SetNumber(1, d.table.Find("price")->numbers[r]);
        ctx->SetNumber(2, d.table.Find("last_visit")->numbers[r]);
        ctx->SetIdentity(d.ids.present[r] ? std::string_view(d.ids.strings[r]) : "");
        if (!ctx->Run(kJan1, &d.profiles).ok() || !SameBits(ctx->output_number(0), want[r])) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// ============================================================ no allocation

TEST(RowMode, NoAllocationPerCallOnceWarm) {
  if (!rtml::testing::AllocCounterAvailable()) GTEST_SKIP() << "allocation counter not linked";
  FakeModels models;
  models.Add("churn", 3, LinearModel(kChurnCoef, kChurnIntercept, 8));
  ChurnData d;
  MakeChurnData(300, &d);
  FitResult fit = FitOrDie(*MustCompile(kChurnPipeline, models), d.table, kJan1, models,
                           &d.profiles, &d.ids);
  ASSERT_NE(fit.pipeline, nullptr);
  const Pipeline& p = *fit.pipeline;
  rtml::testing::StartCountingAllocs();  // the counter works: creating a context allocates
  auto ctx = p.NewRowContext();
  EXPECT_GT(rtml::testing::StopCountingAllocs(), 0);
  const std::string devices[] = {"Mobile-Phone-With-A-Long-Name", "desktop", "TV", "Tablet"};
  const std::string ids[] = {"crm:1", "crm:2", "crm:nobody-with-a-longer-identity", "crm:3"};
  auto one = [&](int i) {
    ctx->SetString(0, devices[i % 4]).IgnoreError();
    if (i % 5 == 0) ctx->SetMissing(1); else ctx->SetNumber(1, 10.0 + i);
    ctx->SetTimestamp(2, "2023-12-25T10:00:00Z").IgnoreError();
    ctx->SetIdentity(ids[i % 4]);
    return ctx->Run(kJan1, &d.profiles);
  };
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(one(i).ok());
  double sink = 0;
  rtml::testing::StartCountingAllocs();
  for (int i = 0; i < 1000; ++i) {
    Status st = one(i);
    sink += st.ok() && !std::isnan(ctx->output_number(0)) ? 1 : 0;
  }
  const int64_t allocs = rtml::testing::StopCountingAllocs();
  EXPECT_EQ(allocs, 0);
  EXPECT_GT(sink, 0);
}

}  // namespace
}  // namespace rtml::pipeline
