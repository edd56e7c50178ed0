// Export of a trained XGBoost booster to ONNX (ai.onnx.ml).
//
// Input is XGBoost 1.7's JSON model (XGBoosterSaveModelToBuffer with
// {"format":"json"}); output is a serialized onnx::ModelProto that passes
// onnx::checker and evaluates like XGBoost's own predictor (rtml's engine
// agrees within 1e-5; see README.md for the layout and why it is exact).
// Stateless functions; safe from any thread.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace rtml::training {

// Opsets of the exported models: the float-threshold attributes of the
// ai.onnx.ml tree operators (the same in ML opset 1 and 3) carry XGBoost's
// float32 split values exactly.
inline constexpr int64_t kExportIrVersion = 8;     // ONNX 1.12
inline constexpr int64_t kExportOnnxOpset = 17;    // default domain (no operator from it is used)
inline constexpr int64_t kExportOnnxMlOpset = 3;   // ai.onnx.ml

// Graph input and outputs of every exported model.
inline constexpr std::string_view kInputName = "features";              // FP32 [N, width]; NaN = missing
inline constexpr std::string_view kLabelOutput = "label";               // INT64 [N]      (classifiers)
inline constexpr std::string_view kProbabilitiesOutput = "probabilities";  // FP32 [N, 2] (classifiers)
inline constexpr std::string_view kRegressionOutput = "variable";       // FP32 [N, 1]    (regressors)

struct ExportOptions {
  // One name per input column (recorded as metadata "feature_names", a JSON
  // array); empty means f0, f1, ...
  std::span<const std::string> feature_names;
  // Extra metadata_props (for example algorithm, parameters, data source).
  std::map<std::string, std::string> metadata;
  std::string graph_name = "rtml_xgboost";
};

// Supported boosters and objectives:
//   gbtree   + binary:logistic  -> TreeEnsembleClassifier
//   gbtree   + reg:squarederror -> TreeEnsembleRegressor
//   gblinear + binary:logistic  -> Imputer(NaN -> 0) + LinearClassifier
//   gblinear + reg:squarederror -> Imputer(NaN -> 0) + LinearRegressor
// Anything else (dart, multi-class, categorical splits) is Unimplemented.
StatusOr<std::string> ExportXGBoostJsonToOnnx(std::string_view xgboost_json,
                                              const ExportOptions& options);

}  // namespace rtml::training
