// Fuzz targets: see fuzz_targets.h. Each target feeds the bytes exactly as the
// server's entry point does (request bodies as std::string, stored blobs as
// string_view) and checks the invariants the component documents.
#include "fuzz/fuzz_targets.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "data/schema.h"
#include "decision/activity.h"
#include "decision/condition.h"
#include "decision/features.h"
#include "engine/model.h"
#include "engine/tensor.h"
#include "learning/ftrl.h"
#include "learning/internal/snapshot_codec.h"
#include "onnx_builder.h"
#include "pipeline/pipeline.h"
#include "serving/kserve_codec.h"
#include "serving/row_codec.h"

namespace rtml::fuzz {
namespace {

// A broken invariant is a bug: abort so both drivers report it with the input.
#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

std::string_view AsView(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

constexpr int64_t kJan1 = 1'704'067'200'000;  // 2024-01-01T00:00:00Z

// RTML_FUZZ_VERBOSE=1 prints each input's outcome: with
// `rtml_fuzz_smoke --iterations 0` it shows which seeds parse.
void Note(const char* target, const Status& s) {
  static const bool verbose = std::getenv("RTML_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "  %s: %s\n", target, s.ToString().c_str());
}

// ------------------------------------------------------------------ engine

// Largest input a loaded model is run on: keeps one execution cheap.
constexpr int64_t kMaxRunDim = 16;
constexpr int64_t kMaxRunElements = 4096;

// Runs `model` once on zeros when every input is FP32 with a known shape whose
// dimensions are dynamic (run with 1) or small; otherwise does nothing.
void RunOnZeros(const engine::Model& model) {
  std::vector<engine::Tensor> tensors;
  for (const engine::TensorInfo& info : model.inputs()) {
    if (info.dtype != engine::DataType::kFloat || !info.has_shape || info.is_sequence_map) return;
    if (info.dims.size() > static_cast<size_t>(engine::Shape::kMaxRank)) return;
    engine::Shape shape;
    int64_t elements = 1;
    for (int64_t d : info.dims) {
      const int64_t dim = d < 0 ? 1 : d;
      if (dim > kMaxRunDim) return;
      elements *= dim;
      shape.PushBack(dim);
    }
    if (elements > kMaxRunElements) return;
    auto t = engine::Tensor::Make(engine::DataType::kFloat, shape);
    if (!t.ok()) return;
    tensors.push_back(std::move(*t));
  }
  std::vector<const engine::Tensor*> inputs;
  for (const auto& t : tensors) inputs.push_back(&t);
  auto ctx = model.NewContext();
  Status s = model.Run(*ctx, inputs);
  if (s.ok()) {
    FUZZ_CHECK(ctx->num_outputs() == static_cast<int>(model.outputs().size()));
    // A second run on the same context must behave the same (context reuse).
    FUZZ_CHECK(model.Run(*ctx, inputs).ok());
  }
}

}  // namespace

int FuzzOnnxModel(const uint8_t* data, size_t size) {
  auto model = engine::Model::Load(AsView(data, size));
  Note("onnx_model", model.status());
  if (!model.ok()) return 0;
  const engine::Model& m = **model;
  for (size_t i = 0; i < m.inputs().size(); ++i) {
    FUZZ_CHECK(m.InputIndex(m.inputs()[i].name) >= 0);
  }
  RunOnZeros(m);
  return 0;
}

// ----------------------------------------------------------------- serving

int FuzzKServeRequest(const uint8_t* data, size_t size) {
  // The server reuses one parser and one request per thread: parse twice into
  // the same request so the storage-reuse path is exercised too.
  serving::KServeParser parser;
  serving::InferRequest request;
  std::string body(AsView(data, size));
  const Status first = parser.Parse(&body, &request);
  Note("kserve_request", first);
  FUZZ_CHECK(body == AsView(data, size));  // contents are not changed
  if (first.ok()) {
    FUZZ_CHECK(request.num_inputs <= request.inputs.size());
    FUZZ_CHECK(request.num_outputs <= request.outputs.size());
    for (const auto& in : request.active_inputs()) {
      std::string out;
      serving::WriteOutputTensor(in.name, in.tensor, &out);
      FUZZ_CHECK(!out.empty());
    }
  }
  const Status second = parser.Parse(&body, &request);
  FUZZ_CHECK(first.ok() == second.ok());
  return 0;
}

namespace {

const std::vector<engine::TensorInfo>& RowSignature() {
  static const auto* inputs = new std::vector<engine::TensorInfo>{
      {.name = "x", .dtype = engine::DataType::kFloat, .dims = {-1, 3}, .has_shape = true},
      {.name = "s", .dtype = engine::DataType::kString, .dims = {-1}, .has_shape = true},
      {.name = "n", .dtype = engine::DataType::kInt64, .dims = {-1, 1}, .has_shape = true},
  };
  return *inputs;
}

}  // namespace

int FuzzRowRequest(const uint8_t* data, size_t size) {
  constexpr int64_t kMaxRows = 64;
  serving::RowParser parser;
  serving::RowRequest request;
  std::string body(AsView(data, size));
  const Status first = parser.Parse(&body, RowSignature(), kMaxRows, &request);
  Note("row_request", first);
  if (first.ok()) {
    FUZZ_CHECK(request.rows >= 0 && request.rows <= kMaxRows);
    FUZZ_CHECK(request.tensors.size() == RowSignature().size());
    for (const auto& t : request.tensors) {
      FUZZ_CHECK(t.shape().rank() >= 1 && t.shape()[0] == request.rows);
    }
  }
  const Status second = parser.Parse(&body, RowSignature(), kMaxRows, &request);
  FUZZ_CHECK(first.ok() == second.ok());
  return 0;
}

// ---------------------------------------------------------------- pipeline

namespace {

// Resolves model "tiny" version 1 (y = x · [0.5, -0.25], input [N, 2] FP32,
// output [N, 1]); everything else is NOT_FOUND.
class TinyModels final : public pipeline::ModelResolver {
 public:
  TinyModels() {
    testing::OnnxBuilder b;
    b.Input("x", onnx::TensorProto::FLOAT, {-1, 2})
        .Output("y", onnx::TensorProto::FLOAT, {-1, 1})
        .FloatInit("w", {2, 1}, {0.5F, -0.25F});
    b.Node("MatMul", {"x", "w"}, {"y"});
    auto m = engine::Model::Load(b.Bytes());
    FUZZ_CHECK(m.ok());
    tiny_ = std::shared_ptr<const engine::Model>(std::move(*m));
  }
  StatusOr<std::shared_ptr<const engine::Model>> Resolve(std::string_view name,
                                                         int64_t version) const override {
    if (name == "tiny" && version == 1) return tiny_;
    return NotFoundError("model " + std::string(name) + " version " + std::to_string(version));
  }

 private:
  std::shared_ptr<const engine::Model> tiny_;
};

// Every person has every attribute = 2.
class FixedProfiles final : public pipeline::ProfileSource {
 public:
  bool Lookup(std::string_view identity, std::span<const std::string> attributes, int64_t,
              std::span<double> out) const override {
    if (identity != "crm:1") return false;
    for (size_t i = 0; i < attributes.size(); ++i) out[i] = 2.0;
    return true;
  }
};

const TinyModels& Models() {
  static const auto* models = new TinyModels();
  return *models;
}

// One row with a value for every input, then the same row all-missing.
void RunOneRow(const pipeline::Pipeline& p) {
  static const FixedProfiles profiles;
  auto ctx = p.NewRowContext();
  for (size_t i = 0; i < p.inputs().size(); ++i) {
    const int input = static_cast<int>(i);
    switch (p.inputs()[i].value_type.kind) {
      case pipeline::ValueKind::kString:
        FUZZ_CHECK(ctx->SetString(input, "a").ok());
        break;
      case pipeline::ValueKind::kBool:
        ctx->SetBool(input, true);
        break;
      case pipeline::ValueKind::kTimestamp:
        FUZZ_CHECK(ctx->SetTimestamp(input, "2024-01-02T03:04:05Z").ok());
        break;
      default:
        ctx->SetNumber(input, 2.5);
        break;
    }
  }
  ctx->SetIdentity("crm:1");
  if (ctx->Run(kJan1, &profiles).ok()) {
    for (int o = 0; o < ctx->num_outputs(); ++o) {
      if (ctx->output_is_string(o)) {
        (void)ctx->output_string(o);
      } else {
        const auto v = ctx->output_vector(o);
        FUZZ_CHECK(ctx->output_type(o).kind != pipeline::ValueKind::kVector ||
                   static_cast<int64_t>(v.size()) == ctx->output_type(o).width);
      }
    }
  }
  ctx->ClearInputs();
  ctx->SetIdentity("");
  (void)ctx->Run(kJan1, nullptr);
}

// Four training rows: a column per input, with one missing value each.
Table TrainingTable(const pipeline::Pipeline& p) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  Table t;
  for (const auto& field : p.inputs()) {
    Column c;
    c.name = field.name;
    switch (field.value_type.kind) {
      case pipeline::ValueKind::kString:
        c.type = ColumnType::kString;
        c.strings = {"a", "b", "", "a"};
        c.present = {1, 1, 0, 1};
        break;
      case pipeline::ValueKind::kBool:
        c.numbers = {0, 1, kNaN, 1};
        break;
      case pipeline::ValueKind::kTimestamp:
        c.numbers = {kJan1, kJan1 + 3'600'000.0, kNaN, kJan1 - 86'400'000.0};
        break;
      default:
        c.numbers = {1.5, -2, kNaN, 40};
        break;
    }
    if (!t.Add(std::move(c)).ok()) return Table();
  }
  return t;
}

}  // namespace

int FuzzPipeline(const uint8_t* data, size_t size) {
  const std::string_view json = AsView(data, size);
  auto compiled = pipeline::Pipeline::Compile(json, Models());
  Note("pipeline", compiled.status());
  if (!compiled.ok()) {
    // Type-checking without models takes another path through the compiler.
    pipeline::CompileOptions deferred;
    deferred.defer_models = true;
    (void)pipeline::Pipeline::Compile(json, Models(), deferred);
    return 0;
  }
  const pipeline::Pipeline& p = **compiled;
  // The canonical form compiles to the same pipeline.
  auto again = pipeline::Pipeline::Compile(p.json(), Models());
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK((*again)->json() == p.json());
  if (p.runnable()) RunOneRow(p);
  if (p.needs_fit()) {
    const Table table = TrainingTable(p);
    auto fitted = p.Fit(table, kJan1);
    if (fitted.ok()) {
      // Fit promises JSON that compiles without further fitting.
      auto f = pipeline::Pipeline::Compile(*fitted, Models());
      FUZZ_CHECK(f.ok());
      FUZZ_CHECK(!(*f)->needs_fit());
      if ((*f)->runnable()) {
        RunOneRow(**f);
        (void)(*f)->RunColumns(table, kJan1);
      }
    }
  }
  return 0;
}

// ---------------------------------------------------------------- decision

namespace {

StatusOr<std::string> FixedSegments(std::string_view name) {
  if (name == "vip") return std::string(R"({"profile.vip": true, "computed.purchases_7d": {"$gte": 1}})");
  if (name == "loop") return std::string(R"({"$segment": "loop"})");
  if (name == "deep") return std::string(R"({"$or": [{"$segment": "vip"}, {"context.device": "tv"}]})");
  return NotFoundError("segment " + std::string(name));
}

// The four documents conditions are evaluated against, parsed once.
struct StandardDocs {
  simdjson::dom::parser parsers[4];
  simdjson::dom::element elements[4];
  decision::ConditionInput input;
  StandardDocs() {
    static constexpr std::string_view kDocs[4] = {
        R"({"country": "US", "age": 34, "ratio": 0.25, "neg": -5, "vip": true, "nothing": null,
            "big": 9007199254740993, "huge": 18446744073709551615, "name": "\u00c9mile",
            "tags": ["a", "b", 3], "empty": [], "nested": [[1, 2]],
            "address": {"city": "Paris", "zip": "75001", "geo": {"lat": 48.85}}})",
        R"({"purchases_7d": 3, "spend_24h": 19.5})",
        R"({"page": "/checkout/step-2", "device": "mobile", "hour": 14, "q": "Hello World",
            "items": [{"sku": "x"}]})",
        R"({"churn": 0.82, "ltv": 120})"};
    for (int i = 0; i < 4; ++i) {
      FUZZ_CHECK(!parsers[i].parse(kDocs[i].data(), kDocs[i].size()).get(elements[i]));
    }
    input = {&elements[0], &elements[1], &elements[2], &elements[3]};
  }
};

}  // namespace

int FuzzCondition(const uint8_t* data, size_t size) {
  static const auto* docs = new StandardDocs();
  auto c = decision::Condition::Compile(AsView(data, size), FixedSegments);
  Note("condition", c.status());
  if (!c.ok()) return 0;
  const bool match = c->Evaluate(docs->input);
  FUZZ_CHECK(c->Evaluate(docs->input) == match);  // deterministic
  (void)c->Evaluate(decision::ConditionInput{});
  const auto& paths = c->paths();
  FUZZ_CHECK(std::adjacent_find(paths.begin(), paths.end(),
                                [](const auto& a, const auto& b) { return !(a < b); }) == paths.end());
  if (c->matches_everything()) FUZZ_CHECK(match);
  return 0;
}

int FuzzActivity(const uint8_t* data, size_t size) {
  const std::string_view body = AsView(data, size);
  auto a = decision::ParseActivity("fuzz", body, FixedSegments);
  Note("activity", a.status());
  if (a.ok()) {
    const decision::Activity& act = **a;
    FUZZ_CHECK(!act.experiences.empty() && act.experiences.size() <= decision::kMaxExperiences);
    if (act.strategy == decision::StrategyType::kSplit) {
      FUZZ_CHECK(act.weights.size() == act.experiences.size());
    }
    // The stored canonical body parses back to itself.
    auto again = decision::ParseActivity("fuzz", act.json, FixedSegments);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK((*again)->json == act.json);
  }
  auto segment = decision::ParseSegment("fuzz", body, FixedSegments);
  Note("segment", segment.status());
  if (segment.ok()) FUZZ_CHECK(decision::Condition::Compile(*segment, FixedSegments).ok());
  return 0;
}

// -------------------------------------------------------------------- data

namespace {

constexpr std::string_view kRecordSchema = R"({"class":"experience-event","properties":{
  "commerce":{"type":"object","properties":{"order":{"type":"object","required":["priceTotal"],
    "properties":{"priceTotal":{"type":"number","minimum":0},"currency":{"type":"string","enum":["EUR","USD"]}}}}},
  "tags":{"type":"array","items":{"type":"string","maxLength":8},"maxItems":4},
  "attrs":{"type":"map","values":{"type":"integer"}},
  "count":{"type":"integer","minimum":0,"maximum":1000},
  "ok":{"type":"boolean"},
  "day":{"type":"string","format":"date"},
  "email":{"type":"string","pattern":"^[^@]+@[^@]+$"},
  "free":{"type":"object","additionalProperties":true}}})";

}  // namespace

int FuzzSchemaRecord(const uint8_t* data, size_t size) {
  static const auto* holder = [] {
    auto s = data::Schema::Parse("fuzz_events", kRecordSchema);
    FUZZ_CHECK(s.ok());
    return new std::shared_ptr<const data::Schema>(*s);  // lives for the process
  }();
  const data::Schema* schema = holder->get();
  const int64_t now = *data::ParseDateTimeMillis("2026-06-01T12:00:00Z");
  const std::string_view bytes = AsView(data, size);

  // The bytes as a record (the ingestion path parses with simdjson first).
  simdjson::dom::parser parser;
  simdjson::dom::element record;
  if (!parser.parse(bytes.data(), bytes.size()).get(record)) {
    std::vector<std::string> errors;
    const bool valid = schema->Validate(record, now, &errors, 10);
    Note("record", valid ? OkStatus() : InvalidArgumentError(errors.empty() ? "" : errors[0]));
    FUZZ_CHECK(valid == errors.empty());
    FUZZ_CHECK(errors.size() <= 10);
    FUZZ_CHECK(schema->Validate(record, now, nullptr) == valid);
  }

  // The bytes as a schema body.
  auto parsed = data::Schema::Parse("fuzz", bytes);
  Note("schema", parsed.status());
  if (parsed.ok()) {
    const data::Schema& s = **parsed;
    auto again = data::Schema::Parse("fuzz", s.canonical_json());
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK((*again)->canonical_json() == s.canonical_json());
    FUZZ_CHECK((*again)->Columns() == s.Columns());
    FUZZ_CHECK(s.CheckEvolution(**again).ok());
    (void)schema->CheckEvolution(s);
    if (!parser.parse(bytes.data(), bytes.size()).get(record)) (void)s.Validate(record, now, nullptr);
  }
  return 0;
}

// ---------------------------------------------------------------- learning

namespace {

// Offsets in the snapshot format (docs/learning.md): magic (8), version (4),
// total length (8), seven option doubles, then bits (u32); CRC-32 at the end.
constexpr size_t kTotalOffset = 12;
constexpr size_t kBitsOffset = 20 + 7 * 8;
// Learners above 2^16 coordinates are skipped: their size (tens of MB per
// load, 2.7 GB at the 2^26 maximum) is a legitimate allocation, not parser
// logic, and would only slow the fuzzer down or trip its memory limit.
constexpr uint32_t kMaxFuzzBits = 16;

uint32_t ReadU32(std::string_view b, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + static_cast<size_t>(i)]);
  return v;
}

void WriteLe(std::string& b, size_t at, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b[at + static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

void LoadAndCheck(std::string_view bytes) {
  if (bytes.size() >= kBitsOffset + 4 && ReadU32(bytes, kBitsOffset) > kMaxFuzzBits) return;
  auto learner = learning::FtrlLearner::LoadSnapshot(bytes);
  Note("learner_snapshot", learner.status());
  if (!learner.ok()) return;
  // What a loaded learner saves loads back and saves byte-identically. (Not
  // necessarily the input itself: the loader also accepts an explicit all-zero
  // coordinate record, which SaveSnapshot leaves out; that is harmless.)
  const std::string saved = (*learner)->SaveSnapshot();
  auto reloaded = learning::FtrlLearner::LoadSnapshot(saved);
  FUZZ_CHECK(reloaded.ok());
  FUZZ_CHECK((*reloaded)->SaveSnapshot() == saved);
  FUZZ_CHECK(saved.size() <= bytes.size());
  const auto metrics = (*learner)->metrics();
  FUZZ_CHECK(metrics.recent_count <= learning::FtrlLearner::kRecentWindow);
  // A loaded learner keeps learning.
  const learning::HashedFeature x[] = {{1, 1.0F}, {7, -0.5F}};
  (void)(*learner)->Update(x, 1.0);
  (*learner)->Publish();
  const double p = (*learner)->Current()->Predict(x);
  FUZZ_CHECK(p >= 0 && p <= 1);
}

}  // namespace

int FuzzLearnerSnapshot(const uint8_t* data, size_t size) {
  const std::string_view bytes = AsView(data, size);
  LoadAndCheck(bytes);
  // Stored snapshots carry their length and a CRC-32, so almost every mutation
  // stops at the checksum. Fix both up to reach the decoder behind them.
  if (size >= kBitsOffset + 4 + 4) {
    std::string fixed(bytes);
    WriteLe(fixed, kTotalOffset, fixed.size(), 8);
    const uint32_t crc = learning::internal::Crc32(std::string_view(fixed).substr(0, fixed.size() - 4));
    WriteLe(fixed, fixed.size() - 4, crc, 4);
    if (fixed != bytes) LoadAndCheck(fixed);
  }
  return 0;
}

int FuzzFeaturesJson(const uint8_t* data, size_t size) {
  auto features = decision::ParseFeaturesJson(AsView(data, size));
  Note("features_json", features.status());
  if (!features.ok()) return 0;
  FUZZ_CHECK(std::is_sorted(features->begin(), features->end(),
                            [](const auto& a, const auto& b) { return a.first < b.first; }));
  const std::string json = decision::FeaturesJson(*features);
  auto again = decision::ParseFeaturesJson(json);
  FUZZ_CHECK(again.ok());
  // Equal values (the text may differ: -0 is written "-0" and read back as
  // the integer 0, which compares equal).
  FUZZ_CHECK(*again == *features);
  return 0;
}

// ---------------------------------------------------------------- registry

std::span<const FuzzTarget> AllTargets() {
  static constexpr FuzzTarget kTargets[] = {
      {"onnx_model", FuzzOnnxModel, false},
      {"kserve_request", FuzzKServeRequest, true},
      {"row_request", FuzzRowRequest, true},
      {"pipeline", FuzzPipeline, true},
      {"condition", FuzzCondition, true},
      {"activity", FuzzActivity, true},
      {"schema_record", FuzzSchemaRecord, true},
      {"learner_snapshot", FuzzLearnerSnapshot, false},
      {"features_json", FuzzFeaturesJson, true},
  };
  return kTargets;
}

const FuzzTarget* FindTarget(std::string_view name) {
  for (const FuzzTarget& t : AllTargets()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::vector<std::string> BuiltinSeeds(std::string_view target) {
  std::vector<std::string> seeds;
  if (target == "learner_snapshot") {
    learning::FtrlOptions options;
    options.bits = 10;
    learning::FtrlLearner empty(options);
    seeds.push_back(empty.SaveSnapshot());
    learning::FtrlLearner trained(options);
    for (int i = 0; i < 6; ++i) {
      const learning::HashedFeature x[] = {{static_cast<uint32_t>(i * 37 % 1024), 1.0F},
                                           {static_cast<uint32_t>(3 + i), 0.5F * static_cast<float>(i)}};
      (void)trained.Update(x, i % 2 == 0 ? 1.0 : 0.0);
    }
    trained.Publish();
    seeds.push_back(trained.SaveSnapshot());
  }
  return seeds;
}

}  // namespace rtml::fuzz
