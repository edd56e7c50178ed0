// Training with XGBoost's C API. Everything XGBoost-specific stays in this
// file: handles are owned by RAII wrappers, every C API failure becomes a
// Status carrying XGBGetLastError(), and nothing throws across the boundary.
#include "training/trainer.h"

#include <xgboost/c_api.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <unordered_set>

#include "engine/model.h"
#include "engine/tensor.h"
#include "training/onnx_export.h"

namespace rtml::training {
namespace {

constexpr int64_t kMinValidationRows = 10;
constexpr int64_t kMinTrainRows = 10;
constexpr int kMaxThreads = 64;
constexpr int kDefaultRounds = 100;
constexpr int kDefaultEarlyStopping = 10;
// Self-check of the export: rtml's engine must reproduce XGBoost's
// validation predictions within this (absolute for probabilities, relative
// to max(1, |value|) for regression).
constexpr double kExportTolerance = 1e-5;
constexpr float kMissingValue = std::numeric_limits<float>::quiet_NaN();

// ---------------------------------------------------------- parameters ---

enum class Applies { kBoth, kGbdt, kLogistic };
enum class Kind { kInt, kNumber, kChoice };

// A parameter callers may set. Numeric ranges are [lo, hi], with lo
// excluded when lo_open.
struct ParamSpec {
  std::string_view name;
  std::string_view alias;  // accepted spelling of the same parameter, or empty
  Applies applies;
  Kind kind;
  double lo = 0;
  double hi = 0;
  bool lo_open = false;
  std::string_view choices = {};  // kChoice: '|'-separated
};

constexpr double kInf = std::numeric_limits<double>::infinity();

// "num_round" and "early_stopping_rounds" are rtml's; the others go to XGBoost.
constexpr ParamSpec kParams[] = {
    {"num_round", "n_estimators", Applies::kBoth, Kind::kInt, 1, 10000},
    {"early_stopping_rounds", "", Applies::kBoth, Kind::kInt, 0, 10000},
    {"eta", "learning_rate", Applies::kBoth, Kind::kNumber, 0, 1, true},
    {"lambda", "reg_lambda", Applies::kBoth, Kind::kNumber, 0, kInf},
    {"alpha", "reg_alpha", Applies::kBoth, Kind::kNumber, 0, kInf},
    {"scale_pos_weight", "", Applies::kBoth, Kind::kNumber, 0, kInf, true},
    {"max_depth", "", Applies::kGbdt, Kind::kInt, 1, 20},
    {"min_child_weight", "", Applies::kGbdt, Kind::kNumber, 0, kInf},
    {"gamma", "min_split_loss", Applies::kGbdt, Kind::kNumber, 0, kInf},
    {"max_delta_step", "", Applies::kGbdt, Kind::kNumber, 0, kInf},
    {"subsample", "", Applies::kGbdt, Kind::kNumber, 0, 1, true},
    {"colsample_bytree", "", Applies::kGbdt, Kind::kNumber, 0, 1, true},
    {"colsample_bylevel", "", Applies::kGbdt, Kind::kNumber, 0, 1, true},
    {"colsample_bynode", "", Applies::kGbdt, Kind::kNumber, 0, 1, true},
    {"max_bin", "", Applies::kGbdt, Kind::kInt, 2, 1024},
    {"max_leaves", "", Applies::kGbdt, Kind::kInt, 0, 1 << 20},
    {"grow_policy", "", Applies::kGbdt, Kind::kChoice, 0, 0, false, "depthwise|lossguide"},
    {"tree_method", "", Applies::kGbdt, Kind::kChoice, 0, 0, false, "hist|approx|exact"},
};

bool AppliesTo(const ParamSpec& spec, Algorithm a) {
  return spec.applies == Applies::kBoth || (spec.applies == Applies::kGbdt) == (a == Algorithm::kGbdt);
}

std::string AllowedList(Algorithm a) {
  std::vector<std::string> names;
  for (const ParamSpec& spec : kParams) {
    if (!AppliesTo(spec, a)) continue;
    names.emplace_back(spec.name);
    if (!spec.alias.empty()) names.emplace_back(spec.alias);
  }
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string FormatNumber(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

std::string RangeText(const ParamSpec& spec) {
  if (spec.kind == Kind::kInt) {
    return "an integer from " + FormatNumber(spec.lo) + " to " + FormatNumber(spec.hi);
  }
  std::string text = "a number in " + std::string(spec.lo_open ? "(" : "[") + FormatNumber(spec.lo) + ", ";
  return text + (spec.hi == kInf ? "inf)" : FormatNumber(spec.hi) + "]");
}

// Checked value of one parameter, normalised for XGBoost.
StatusOr<std::string> CheckValue(const ParamSpec& spec, const std::string& key, const std::string& value) {
  if (spec.kind == Kind::kChoice) {
    std::string_view rest = spec.choices;
    while (!rest.empty()) {
      const size_t bar = rest.find('|');
      if (rest.substr(0, bar) == value) return value;
      rest = bar == std::string_view::npos ? std::string_view() : rest.substr(bar + 1);
    }
    std::string choices(spec.choices);
    std::replace(choices.begin(), choices.end(), '|', ',');
    return InvalidArgumentError("parameter '" + key + "' must be one of " + choices + ", got '" + value + "'");
  }
  double v = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, v);
  const bool parsed = ec == std::errc() && ptr == end && !value.empty() && std::isfinite(v);
  const bool integral = spec.kind != Kind::kInt || v == std::floor(v);
  const bool in_range = (spec.lo_open ? v > spec.lo : v >= spec.lo) && v <= spec.hi;
  if (!parsed || !integral || !in_range) {
    return InvalidArgumentError("parameter '" + key + "' must be " + RangeText(spec) + ", got '" + value + "'");
  }
  return spec.kind == Kind::kInt ? std::to_string(static_cast<int64_t>(v)) : FormatNumber(v);
}

struct ValidatedParams {
  int num_round = kDefaultRounds;
  int early_stopping_rounds = kDefaultEarlyStopping;
  std::map<std::string, std::string> xgboost;  // canonical name -> value
};

StatusOr<ValidatedParams> ValidateParams(const TrainOptions& options) {
  ValidatedParams out;
  std::map<std::string_view, std::string> seen_as;  // canonical -> spelling used
  for (const auto& [key, value] : options.params) {
    if (key == "nthread" || key == "n_jobs") {
      return InvalidArgumentError("parameter '" + key + "' is set by rtml; use the threads option");
    }
    if (key == "seed" || key == "random_state") {
      return InvalidArgumentError("parameter '" + key + "' is set by rtml; use the validation seed");
    }
    if (key == "objective" || key == "booster") {
      return InvalidArgumentError("parameter '" + key + "' is chosen by rtml from the algorithm and the label");
    }
    const ParamSpec* spec = nullptr;
    for (const ParamSpec& s : kParams) {
      if (key == s.name || (!s.alias.empty() && key == s.alias)) spec = &s;
    }
    const std::string algorithm(AlgorithmName(options.algorithm));
    if (spec == nullptr) {
      return InvalidArgumentError("unknown parameter '" + key + "' for algorithm " + algorithm +
                                  "; allowed: " + AllowedList(options.algorithm));
    }
    if (!AppliesTo(*spec, options.algorithm)) {
      return InvalidArgumentError("parameter '" + key + "' does not apply to algorithm " + algorithm +
                                  "; allowed: " + AllowedList(options.algorithm));
    }
    if (auto [it, fresh] = seen_as.emplace(spec->name, key); !fresh) {
      return InvalidArgumentError("parameters '" + it->second + "' and '" + key + "' are the same; set one");
    }
    ASSIGN_OR_RETURN(std::string normalised, CheckValue(*spec, key, value));
    if (spec->name == "num_round" || spec->name == "early_stopping_rounds") {
      int rounds = 0;
      std::from_chars(normalised.data(), normalised.data() + normalised.size(), rounds);
      (spec->name == "num_round" ? out.num_round : out.early_stopping_rounds) = rounds;
    } else {
      out.xgboost[std::string(spec->name)] = normalised;
    }
  }
  return out;
}

// ------------------------------------------------------------- XGBoost ---

Status XgbCheck(int rc, std::string_view call) {
  if (rc == 0) return OkStatus();
  return InternalError("XGBoost " + std::string(call) + " failed: " + XGBGetLastError());
}

struct DMatrixFree {
  void operator()(void* h) const { XGDMatrixFree(h); }
};
struct BoosterFree {
  void operator()(void* h) const { XGBoosterFree(h); }
};
using DMatrix = std::unique_ptr<void, DMatrixFree>;
using Booster = std::unique_ptr<void, BoosterFree>;

// A DMatrix of the given rows of X (as float32, as XGBoost stores them) and labels.
StatusOr<DMatrix> MakeDMatrix(std::span<const double> X, int64_t width, std::span<const double> y,
                              std::span<const int64_t> rows, int threads) {
  const auto w = static_cast<size_t>(width);
  std::vector<float> values(rows.size() * w);
  std::vector<float> labels(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto r = static_cast<size_t>(rows[i]);
    for (size_t j = 0; j < w; ++j) values[i * w + j] = static_cast<float>(X[r * w + j]);
    labels[i] = static_cast<float>(y[r]);
  }
  DMatrixHandle handle = nullptr;
  RETURN_IF_ERROR(XgbCheck(XGDMatrixCreateFromMat_omp(values.data(), rows.size(), w, kMissingValue, &handle, threads),
                           "XGDMatrixCreateFromMat_omp"));
  DMatrix m(handle);
  RETURN_IF_ERROR(XgbCheck(XGDMatrixSetFloatInfo(handle, "label", labels.data(), labels.size()),
                           "XGDMatrixSetFloatInfo(label)"));
  return m;
}

// Transformed predictions (probabilities or values) of all boosted rounds.
StatusOr<std::vector<double>> Predict(void* booster, void* dmatrix) {
  const char* config =
      R"({"type":0,"training":false,"iteration_begin":0,"iteration_end":0,"strict_shape":false,"cache_id":0})";
  const bst_ulong* shape = nullptr;
  bst_ulong dims = 0;
  const float* out = nullptr;
  RETURN_IF_ERROR(XgbCheck(XGBoosterPredictFromDMatrix(booster, dmatrix, config, &shape, &dims, &out),
                           "XGBoosterPredictFromDMatrix"));
  bst_ulong n = 1;
  for (bst_ulong i = 0; i < dims; ++i) n *= shape[i];
  return std::vector<double>(out, out + n);
}

StatusOr<std::string> SaveJson(void* booster) {
  bst_ulong len = 0;
  const char* data = nullptr;
  RETURN_IF_ERROR(XgbCheck(XGBoosterSaveModelToBuffer(booster, R"({"format":"json"})", &len, &data),
                           "XGBoosterSaveModelToBuffer"));
  return std::string(data, len);
}

StatusOr<Booster> LoadJson(const std::string& json, int threads) {
  BoosterHandle handle = nullptr;
  RETURN_IF_ERROR(XgbCheck(XGBoosterCreate(nullptr, 0, &handle), "XGBoosterCreate"));
  Booster b(handle);
  RETURN_IF_ERROR(XgbCheck(XGBoosterLoadModelFromBuffer(handle, json.data(), json.size()),
                           "XGBoosterLoadModelFromBuffer"));
  RETURN_IF_ERROR(XgbCheck(XGBoosterSetParam(handle, "nthread", std::to_string(threads).c_str()),
                           "XGBoosterSetParam(nthread)"));
  return b;
}

// ---------------------------------------------------------- input data ---

// splitmix64 (Steele, Lea, Flood 2014): the documented split PRNG.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by rejection (no modulo bias).
  uint64_t Below(uint64_t n) {
    const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % n;
    uint64_t r;
    do r = Next(); while (r >= limit);
    return r % n;
  }

 private:
  uint64_t state_;
};

void Shuffle(std::vector<int64_t>& v, SplitMix64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.Below(i)]);
}

std::string FeatureName(std::span<const std::string> names, size_t j) {
  return names.empty() ? "f" + std::to_string(j) : names[j];
}

Status ValidateShape(std::span<const double> X, int64_t width, std::span<const double> y,
                     std::span<const std::string> names) {
  if (width <= 0) return InvalidArgumentError("width is " + std::to_string(width) + ": there are no features to train on");
  if (X.size() % static_cast<size_t>(width) != 0) {
    return InvalidArgumentError("X has " + std::to_string(X.size()) + " values, which is not a multiple of width " +
                                std::to_string(width));
  }
  const size_t rows = X.size() / static_cast<size_t>(width);
  if (rows == 0) return InvalidArgumentError("no rows to train on");
  if (y.size() != rows) {
    return InvalidArgumentError("X has " + std::to_string(rows) + " rows but y has " + std::to_string(y.size()) + " labels");
  }
  if (!names.empty()) {
    if (names.size() != static_cast<size_t>(width)) {
      return InvalidArgumentError("feature_names has " + std::to_string(names.size()) + " names but width is " +
                                  std::to_string(width));
    }
    std::unordered_set<std::string_view> unique;
    for (const auto& n : names) {
      if (n.empty()) return InvalidArgumentError("feature_names has an empty name");
      if (!unique.insert(n).second) return InvalidArgumentError("feature '" + n + "' appears twice in feature_names");
    }
  }
  return OkStatus();
}

// Finite labels, finite float32 features, no feature identical to the label.
Status ValidateValues(std::span<const double> X, int64_t width, std::span<const double> y,
                      std::span<const std::string> names) {
  int64_t missing = 0, infinite = 0;
  for (double v : y) {
    if (std::isnan(v)) ++missing;
    else if (std::isinf(v)) ++infinite;
  }
  if (missing > 0) {
    return InvalidArgumentError("label has " + std::to_string(missing) +
                                " missing values (NaN); drop those rows or fill the label");
  }
  if (infinite > 0) return InvalidArgumentError("label has " + std::to_string(infinite) + " infinite values");
  const auto w = static_cast<size_t>(width);
  const size_t rows = y.size();
  constexpr double kFloatMax = std::numeric_limits<float>::max();
  for (size_t r = 0; r < rows; ++r) {
    for (size_t j = 0; j < w; ++j) {
      const double v = X[r * w + j];
      if (!std::isnan(v) && !(std::abs(v) <= kFloatMax)) {
        return InvalidArgumentError("feature '" + FeatureName(names, j) + "' has the value " + FormatNumber(v) +
                                    " in row " + std::to_string(r) +
                                    ", which is not a finite float32 (use NaN for missing values)");
      }
    }
  }
  for (size_t j = 0; j < w; ++j) {
    bool equal = true;
    for (size_t r = 0; r < rows && equal; ++r) equal = X[r * w + j] == y[r];
    if (equal) {
      return InvalidArgumentError("feature '" + FeatureName(names, j) +
                                  "' equals the label on every row (label leakage); remove it from the features");
    }
  }
  return OkStatus();
}

double Mean(std::span<const double> y, std::span<const int64_t> rows) {
  double sum = 0;
  for (int64_t r : rows) sum += y[static_cast<size_t>(r)];
  return sum / static_cast<double>(rows.size());
}

// Runs the exported model in rtml's engine on the validation rows and checks
// it reproduces XGBoost's predictions (a failed check is a bug in export).
Status VerifyExport(const std::string& onnx, std::span<const double> X, int64_t width,
                    std::span<const int64_t> rows, std::span<const double> expected, Task task) {
  ASSIGN_OR_RETURN(auto model, engine::Model::Load(onnx, engine::LoadOptions{.name = "exported model"}));
  const auto w = static_cast<size_t>(width);
  std::vector<float> values(rows.size() * w);
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < w; ++j) values[i * w + j] = static_cast<float>(X[static_cast<size_t>(rows[i]) * w + j]);
  }
  const auto n = static_cast<int64_t>(rows.size());
  const engine::Tensor input = engine::Tensor::Borrow(engine::DataType::kFloat, engine::Shape{n, width}, values.data());
  const engine::Tensor* inputs[] = {&input};
  auto ctx = model->NewContext();
  RETURN_IF_ERROR(model->Run(*ctx, inputs));
  const bool binary = task == Task::kBinaryClassification;
  const int out = model->OutputIndex(binary ? kProbabilitiesOutput : kRegressionOutput);
  if (out < 0) return InternalError("the exported model has no output '" + std::string(kProbabilitiesOutput) + "'");
  const float* got = ctx->output(out).data<float>();
  const size_t stride = binary ? 2 : 1;
  for (size_t i = 0; i < rows.size(); ++i) {
    const double v = got[i * stride + (binary ? 1 : 0)];
    const double tolerance = binary ? kExportTolerance : kExportTolerance * std::max(1.0, std::abs(expected[i]));
    if (!(std::abs(v - expected[i]) <= tolerance)) {
      return InternalError("the exported ONNX model disagrees with XGBoost on row " + std::to_string(rows[i]) + ": " +
                           FormatNumber(v) + " vs " + FormatNumber(expected[i]));
    }
  }
  return OkStatus();
}

}  // namespace

std::string_view AlgorithmName(Algorithm a) {
  return a == Algorithm::kGbdt ? "gbdt" : "logistic";
}

std::string_view TaskName(Task t) {
  return t == Task::kBinaryClassification ? "binary" : "regression";
}

StatusOr<Algorithm> ParseAlgorithm(std::string_view name) {
  if (name == "gbdt") return Algorithm::kGbdt;
  if (name == "logistic") return Algorithm::kLogistic;
  return InvalidArgumentError("unknown algorithm '" + std::string(name) + "'; allowed: gbdt, logistic");
}

Status CheckParams(Algorithm algorithm, const std::map<std::string, std::string>& params) {
  TrainOptions options;
  options.algorithm = algorithm;
  options.params = params;
  return ValidateParams(options).status();
}

StatusOr<Task> InferTask(std::span<const double> y) {
  int64_t ones = 0;
  bool binary = true;
  for (double v : y) {
    if (v == 1.0) ++ones;
    else if (v != 0.0) binary = false;
  }
  if (binary) {
    const auto rows = static_cast<int64_t>(y.size());
    if (ones == 0 || ones == rows) {
      return InvalidArgumentError(std::string("the label has only one class (every row is ") + (ones == 0 ? "0" : "1") +
                                  "); binary classification needs rows of both 0 and 1");
    }
    return Task::kBinaryClassification;
  }
  if (std::all_of(y.begin(), y.end(), [&](double v) { return v == y[0]; })) {
    return InvalidArgumentError("the label has only one value (" + FormatNumber(y[0]) +
                                " on every row); there is nothing to learn");
  }
  return Task::kRegression;
}

StatusOr<ValidationSplit> SplitRows(std::span<const double> y, Task task, double fraction, uint64_t seed) {
  if (!(fraction > 0.0 && fraction < 1.0)) {
    return InvalidArgumentError("validation_fraction must be in (0, 1), got " + FormatNumber(fraction));
  }
  std::vector<std::vector<int64_t>> groups(task == Task::kBinaryClassification ? 2 : 1);
  for (size_t i = 0; i < y.size(); ++i) {
    const size_t g = task == Task::kBinaryClassification && y[i] == 1.0 ? 1 : 0;
    groups[g].push_back(static_cast<int64_t>(i));
  }
  SplitMix64 rng(seed);
  ValidationSplit split;
  for (size_t g = 0; g < groups.size(); ++g) {
    std::vector<int64_t>& rows = groups[g];
    Shuffle(rows, rng);
    const auto n_valid = static_cast<size_t>(std::llround(static_cast<double>(rows.size()) * fraction));
    if (task == Task::kBinaryClassification && (n_valid == 0 || n_valid == rows.size())) {
      return InvalidArgumentError("class " + std::to_string(g) + " has " + std::to_string(rows.size()) +
                                  " rows, too few to put it in both the training and the validation set "
                                  "(validation_fraction " + FormatNumber(fraction) + ")");
    }
    split.validation.insert(split.validation.end(), rows.begin(), rows.begin() + static_cast<ptrdiff_t>(n_valid));
    split.train.insert(split.train.end(), rows.begin() + static_cast<ptrdiff_t>(n_valid), rows.end());
  }
  std::sort(split.train.begin(), split.train.end());
  std::sort(split.validation.begin(), split.validation.end());
  const auto n_valid = static_cast<int64_t>(split.validation.size());
  const auto n_train = static_cast<int64_t>(split.train.size());
  if (n_valid < kMinValidationRows) {
    return InvalidArgumentError("the validation set has " + std::to_string(n_valid) + " rows (" +
                                std::to_string(y.size()) + " rows x validation_fraction " + FormatNumber(fraction) +
                                "); at least " + std::to_string(kMinValidationRows) +
                                " are needed: add rows or raise validation_fraction");
  }
  if (n_train < kMinTrainRows) {
    return InvalidArgumentError("the training set has " + std::to_string(n_train) + " rows; at least " +
                                std::to_string(kMinTrainRows) + " are needed: lower validation_fraction");
  }
  return split;
}

StatusOr<TrainResult> Train(std::span<const double> X, int64_t width, std::span<const double> y,
                            std::span<const std::string> feature_names, const TrainOptions& options,
                            const std::function<void(double)>& progress, const std::atomic<bool>* cancel) {
  // Cheap checks first: options, then shape, then a pass over the values.
  if (options.threads < 1 || options.threads > kMaxThreads) {
    return InvalidArgumentError("threads must be from 1 to " + std::to_string(kMaxThreads) + ", got " +
                                std::to_string(options.threads));
  }
  ASSIGN_OR_RETURN(ValidatedParams params, ValidateParams(options));
  RETURN_IF_ERROR(ValidateShape(X, width, y, feature_names));
  RETURN_IF_ERROR(ValidateValues(X, width, y, feature_names));
  ASSIGN_OR_RETURN(const Task task, InferTask(y));
  if (task == Task::kRegression && params.xgboost.count("scale_pos_weight") > 0) {
    return InvalidArgumentError("parameter 'scale_pos_weight' applies to binary labels only");
  }
  ASSIGN_OR_RETURN(ValidationSplit split, SplitRows(y, task, options.validation_fraction, options.seed));
  const auto report = [&](double fraction) {
    if (progress) progress(fraction);
  };
  const auto cancelled = [&] { return cancel != nullptr && cancel->load(std::memory_order_relaxed); };

  // XGBoost's global configuration is per thread in 1.7: this silences
  // warnings for the training thread only.
  RETURN_IF_ERROR(XgbCheck(XGBSetGlobalConfig(R"({"verbosity":0})"), "XGBSetGlobalConfig"));
  ASSIGN_OR_RETURN(DMatrix train, MakeDMatrix(X, width, y, split.train, options.threads));
  ASSIGN_OR_RETURN(DMatrix valid, MakeDMatrix(X, width, y, split.validation, options.threads));
  std::vector<double> valid_labels;
  valid_labels.reserve(split.validation.size());
  for (int64_t r : split.validation) valid_labels.push_back(y[static_cast<size_t>(r)]);

  DMatrixHandle cache[] = {train.get(), valid.get()};
  BoosterHandle handle = nullptr;
  RETURN_IF_ERROR(XgbCheck(XGBoosterCreate(cache, 2, &handle), "XGBoosterCreate"));
  Booster booster(handle);
  const bool binary = task == Task::kBinaryClassification;
  const bool gbdt = options.algorithm == Algorithm::kGbdt;
  const int booster_threads = gbdt ? options.threads : 1;
  // Base score: the training label mean (XGBoost 2.0's default; 1.7 starts
  // from 0.5), a probability for binary:logistic.
  std::map<std::string, std::string> xgb = {
      {"booster", gbdt ? "gbtree" : "gblinear"},
      {"objective", binary ? "binary:logistic" : "reg:squarederror"},
      {"nthread", std::to_string(booster_threads)},
      {"seed", std::to_string(options.seed & 0x7fffffffULL)},
      {"base_score", FormatNumber(Mean(y, split.train))},
  };
  if (gbdt) {
    xgb["tree_method"] = "hist";
  } else {
    // gblinear always boosts on one thread with the "shotgun" updater: with
    // more threads shotgun's lock-free updates are not deterministic, and
    // coord_descent measured 4x slower on 2 threads than shotgun on 1.
    xgb["updater"] = "shotgun";
  }
  for (const auto& [k, v] : params.xgboost) xgb[k] = v;
  for (const auto& [k, v] : xgb) {
    RETURN_IF_ERROR(XgbCheck(XGBoosterSetParam(handle, k.c_str(), v.c_str()), "XGBoosterSetParam(" + k + ")"));
  }

  // Boosting with early stopping on the validation metric (log loss or RMSE,
  // computed here in double from XGBoost's cached validation predictions).
  double best_metric = std::numeric_limits<double>::infinity();
  int best_iteration = -1;
  std::string best_linear;  // gblinear cannot be sliced: keep the best model's JSON
  int rounds = 0;
  for (int iter = 0; iter < params.num_round; ++iter) {
    if (cancelled()) return ConflictError("training cancelled");
    RETURN_IF_ERROR(XgbCheck(XGBoosterUpdateOneIter(handle, iter, train.get()), "XGBoosterUpdateOneIter"));
    rounds = iter + 1;
    ASSIGN_OR_RETURN(std::vector<double> predictions, Predict(handle, valid.get()));
    const double metric = binary ? LogLoss(predictions, valid_labels) : Rmse(predictions, valid_labels);
    if (metric < best_metric) {
      best_metric = metric;
      best_iteration = iter;
      if (!gbdt) {
        ASSIGN_OR_RETURN(best_linear, SaveJson(handle));
      }
    }
    report(static_cast<double>(rounds) / static_cast<double>(params.num_round));
    if (params.early_stopping_rounds > 0 && iter - best_iteration >= params.early_stopping_rounds) break;
  }
  if (cancelled()) return ConflictError("training cancelled");
  if (best_iteration < 0) return InternalError("the validation metric was never finite");

  // The exported booster: boosting rounds [0, best_iteration].
  Booster final_booster;
  if (gbdt) {
    if (best_iteration + 1 < rounds) {
      BoosterHandle sliced = nullptr;
      RETURN_IF_ERROR(XgbCheck(XGBoosterSlice(handle, 0, best_iteration + 1, 1, &sliced), "XGBoosterSlice"));
      final_booster.reset(sliced);
    } else {
      final_booster = std::move(booster);
    }
  } else {
    ASSIGN_OR_RETURN(final_booster, LoadJson(best_linear, booster_threads));
  }

  TrainResult result;
  result.task = task;
  ASSIGN_OR_RETURN(result.booster_json, SaveJson(final_booster.get()));
  ASSIGN_OR_RETURN(result.validation_predictions, Predict(final_booster.get(), valid.get()));
  if (result.validation_predictions.size() != split.validation.size()) {
    return InternalError("XGBoost returned " + std::to_string(result.validation_predictions.size()) +
                         " predictions for " + std::to_string(split.validation.size()) + " validation rows");
  }
  Metrics& m = result.metrics;
  if (binary) ComputeBinaryMetrics(result.validation_predictions, valid_labels, &m);
  else ComputeRegressionMetrics(result.validation_predictions, valid_labels, &m);
  m.best_iteration = best_iteration;
  m.train_rows = static_cast<int64_t>(split.train.size());
  m.validation_rows = static_cast<int64_t>(split.validation.size());

  std::string param_text;
  for (const auto& [k, v] : xgb) {
    if (k != "nthread") param_text += (param_text.empty() ? "" : ",") + k + "=" + v;
  }
  ExportOptions export_options;
  export_options.feature_names = feature_names;
  export_options.metadata = {
      {"rtml_algorithm", std::string(AlgorithmName(options.algorithm))},
      {"rtml_task", std::string(TaskName(task))},
      {"rtml_best_iteration", std::to_string(best_iteration)},
      {"rtml_xgboost_params", param_text},
      {"rtml_train_rows", std::to_string(m.train_rows)},
      {"rtml_validation_rows", std::to_string(m.validation_rows)},
  };
  ASSIGN_OR_RETURN(result.onnx, ExportXGBoostJsonToOnnx(result.booster_json, export_options));
  RETURN_IF_ERROR(VerifyExport(result.onnx, X, width, split.validation, result.validation_predictions, task));
  result.validation_rows = std::move(split.validation);
  report(1.0);
  return result;
}

}  // namespace rtml::training
