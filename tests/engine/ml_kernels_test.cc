// ai.onnx.ml linear models, SVMs, transformers and encoders: values computed
// by hand (or with scipy where noted), every post_transform, binary layouts,
// input types, and the errors bad models and bad requests must produce.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>

#include "engine/model.h"
#include "onnx_builder.h"

namespace rtml::engine {
namespace {

using rtml::testing::OnnxBuilder;
using ::testing::HasSubstr;
constexpr int kF32 = onnx::TensorProto::FLOAT;
constexpr int kF64 = onnx::TensorProto::DOUBLE;
constexpr int kI32 = onnx::TensorProto::INT32;
constexpr int kI64 = onnx::TensorProto::INT64;
constexpr int kStr = onnx::TensorProto::STRING;
constexpr int kBool = onnx::TensorProto::BOOL;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
const char* const kMl = "ai.onnx.ml";

using Attrs = std::function<void(onnx::NodeProto*)>;
struct Io {
  std::string name;
  int type;
  std::vector<int64_t> dims;  // -1: dynamic
};

// A model with one ai.onnx.ml node `op` reading X and writing `outputs`.
std::string OneNode(const std::string& op, const Io& x, const std::vector<Io>& outputs,
                    const Attrs& attrs, int ml_opset = 1) {
  OnnxBuilder b(17, ml_opset);
  b.Input(x.name, x.type, x.dims);
  std::vector<std::string> names;
  for (const Io& o : outputs) {
    b.Output(o.name, o.type, o.dims);
    names.push_back(o.name);
  }
  attrs(b.Node(op, {x.name}, names, kMl, "n"));
  return b.Bytes();
}

// Loads a model and runs it; the model stays alive for the outputs (ZipMap
// keys are owned by the kernel).
class Runner {
 public:
  explicit Runner(const std::string& bytes, const LoadOptions& options = {})
      : model_(Model::Load(bytes, options)) {
    if (model_.ok()) ctx_ = (*model_)->NewContext();
  }
  const Status& load_status() const { return model_.status(); }
  Status Run(std::vector<const Tensor*> inputs) {
    if (!model_.ok()) return model_.status();
    return (*model_)->Run(*ctx_, inputs);
  }
  const Tensor& out(int i) const { return ctx_->output(i); }

 private:
  StatusOr<std::unique_ptr<Model>> model_;
  std::unique_ptr<RunContext> ctx_;
};

void ExpectFloats(const Tensor& t, const Shape& shape, const std::vector<float>& want,
                  float tol = 1e-5f) {
  ASSERT_EQ(t.dtype(), DataType::kFloat) << t.Describe();
  ASSERT_EQ(t.shape(), shape) << t.Describe();
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(t.data<float>()[i])) << "element " << i;
    } else {
      EXPECT_NEAR(t.data<float>()[i], want[i], tol * std::max(1.0f, std::abs(want[i])))
          << "element " << i;
    }
  }
}

template <typename T>
void ExpectValues(const Tensor& t, const std::vector<T>& want) {
  ASSERT_EQ(t.dtype(), kDataTypeOf<T>) << t.Describe();
  ASSERT_EQ(t.size(), static_cast<int64_t>(want.size())) << t.Describe();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(t.data<T>()[i], want[i]) << "element " << i;
}

void ExpectError(const Status& s, StatusCode code, const std::string& text) {
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr(text));
}

Tensor Floats(const Shape& shape, const std::vector<float>& v) {
  return Tensor::FromVector(shape, v);
}

// ------------------------------------------------------ LinearClassifier ---

// W = [[1, 0], [0, 1], [1, 1]], b = [0, 0.5, -2]: x = [1, 2] gives raw
// scores [1, 2.5, 1]; x = [0, 0] gives [0, 0.5, -2].
std::string ThreeClass(const std::string& post, std::vector<float> coef = {1, 0, 0, 1, 1, 1},
                       std::vector<float> intercepts = {0, 0.5f, -2}) {
  return OneNode("LinearClassifier", {"X", kF32, {-1, 2}},
                 {{"label", kStr, {-1}}, {"scores", kF32, {-1, 3}}}, [&](onnx::NodeProto* n) {
                   OnnxBuilder::FloatsAttr(n, "coefficients", coef);
                   OnnxBuilder::FloatsAttr(n, "intercepts", intercepts);
                   OnnxBuilder::StringsAttr(n, "classlabels_strings", {"a", "b", "c"});
                   OnnxBuilder::StringAttr(n, "post_transform", post);
                 });
}

TEST(LinearClassifier, PostTransforms) {
  struct Case {
    std::string post;
    std::vector<float> x;
    std::string label;
    std::vector<float> scores;
  };
  const std::vector<Case> cases = {
      {"NONE", {1, 2}, "b", {1, 2.5f, 1}},
      {"LOGISTIC", {1, 2}, "b", {0.73105858f, 0.92414182f, 0.73105858f}},
      {"SOFTMAX", {1, 2}, "b", {0.15428077f, 0.69143845f, 0.15428077f}},
      // The zero score stays zero and takes no part in the normalisation.
      {"SOFTMAX_ZERO", {0, 0}, "b", {0, 0.92414182f, 0.07585818f}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.post);
    Runner r(ThreeClass(c.post));
    Tensor x = Floats({1, 2}, c.x);
    ASSERT_TRUE(r.Run({&x}).ok());
    ExpectValues<std::string>(r.out(0), {c.label});
    ExpectFloats(r.out(1), {1, 3}, c.scores);
  }
  // PROBIT (inverse normal CDF, values from scipy.special.ndtri).
  Runner r(ThreeClass("PROBIT", {1, 0, 0, 1, 0.5f, 0.5f}, {0, 0, 0}));
  Tensor x = Floats({1, 2}, {0.975f, 0.5f});
  ASSERT_TRUE(r.Run({&x}).ok());
  ExpectValues<std::string>(r.out(0), {"a"});
  ExpectFloats(r.out(1), {1, 3}, {1.95996398f, 0, 0.63565701f}, 1e-4f);
}

TEST(LinearClassifier, BatchesAndInputTypes) {
  Runner r(OneNode("LinearClassifier", {"X", kI64, {-1, 2}},
                   {{"label", kI64, {-1}}, {"scores", kF32, {-1, 3}}}, [](onnx::NodeProto* n) {
                     OnnxBuilder::FloatsAttr(n, "coefficients", {1, 0, 0, 1, 1, 1});
                     OnnxBuilder::FloatsAttr(n, "intercepts", {0, 0.5f, -2});
                     OnnxBuilder::IntsAttr(n, "classlabels_ints", {7, 8, 9});
                   }));
  Tensor x = Tensor::FromVector<int64_t>({3, 2}, {1, 2, 5, 0, 3, 4});
  ASSERT_TRUE(r.Run({&x}).ok());
  ExpectValues<int64_t>(r.out(0), {8, 7, 9});
  ExpectFloats(r.out(1), {3, 3}, {1, 2.5f, 1, 5, 0.5f, 3, 3, 4.5f, 5});

  // Doubles, int32 and a 1-D row [F] (read as [1, F]) convert to float.
  for (int type : {kF64, kI32}) {
    Runner r1(OneNode("LinearClassifier", {"X", type, {2}},
                      {{"label", kI64, {-1}}, {"scores", kF32, {-1, 3}}}, [](onnx::NodeProto* n) {
                        OnnxBuilder::FloatsAttr(n, "coefficients", {1, 0, 0, 1, 1, 1});
                        OnnxBuilder::FloatsAttr(n, "intercepts", {0, 0.5f, -2});
                        OnnxBuilder::IntsAttr(n, "classlabels_ints", {7, 8, 9});
                      }));
    Tensor xd = type == kF64 ? Tensor::FromVector<double>({2}, {5, 0})
                             : Tensor::FromVector<int32_t>({2}, {5, 0});
    ASSERT_TRUE(r1.Run({&xd}).ok());
    ExpectValues<int64_t>(r1.out(0), {7});
    ExpectFloats(r1.out(1), {1, 3}, {5, 0.5f, 3});
  }
}

// One coefficient row (ONNX Runtime's binary layout): label = labels[1] when
// raw > 0; with two labels the scores are [1 - p, p].
TEST(LinearClassifier, BinarySingleRow) {
  auto model = [](const std::string& post, bool labels) {
    return OneNode("LinearClassifier", {"X", kF32, {-1, 2}},
                   {{"label", labels ? kStr : kI64, {-1}}, {"scores", kF32, {-1, -1}}},
                   [&](onnx::NodeProto* n) {
                     OnnxBuilder::FloatsAttr(n, "coefficients", {2, -1});
                     OnnxBuilder::FloatsAttr(n, "intercepts", {0.5f});
                     if (labels) OnnxBuilder::StringsAttr(n, "classlabels_strings", {"no", "yes"});
                     OnnxBuilder::StringAttr(n, "post_transform", post);
                   });
  };
  Tensor x = Floats({2, 2}, {1, 1, 0, 1});  // raw 1.5 and -0.5
  Runner none(model("NONE", true));
  ASSERT_TRUE(none.Run({&x}).ok());
  ExpectValues<std::string>(none.out(0), {"yes", "no"});
  ExpectFloats(none.out(1), {2, 2}, {-0.5f, 1.5f, 1.5f, -0.5f});

  Runner logistic(model("LOGISTIC", true));
  ASSERT_TRUE(logistic.Run({&x}).ok());
  ExpectFloats(logistic.out(1), {2, 2}, {0.18242552f, 0.81757448f, 0.62245933f, 0.37754067f});

  Runner unlabeled(model("NONE", false));  // labels 1 / 0, one score column
  ASSERT_TRUE(unlabeled.Run({&x}).ok());
  ExpectValues<int64_t>(unlabeled.out(0), {1, 0});
  ExpectFloats(unlabeled.out(1), {2, 1}, {1.5f, -0.5f});

  ExpectError(Runner(model("SOFTMAX", true)).load_status(), StatusCode::kUnimplemented,
              "post_transform SOFTMAX");
}

TEST(LinearClassifier, BadModelsAndInputs) {
  std::vector<float> coef95(95, 0.5f);
  auto with = [](std::vector<int64_t> dims, const Attrs& attrs, int type = kF32) {
    return OneNode("LinearClassifier", {"X", type, dims},
                   {{"label", kI64, {-1}}, {"scores", kF32, {-1, -1}}}, attrs);
  };
  ExpectError(Runner(with({-1, 32},
                          [&](onnx::NodeProto* n) {
                            OnnxBuilder::FloatsAttr(n, "coefficients", coef95);
                            OnnxBuilder::FloatsAttr(n, "intercepts", {0, 0, 0});
                            OnnxBuilder::IntsAttr(n, "classlabels_ints", {0, 1, 2});
                          }))
                  .load_status(),
              StatusCode::kInvalidArgument,
              "coefficients' has 95 values, expected 3 classes x 32 features = 96");
  ExpectError(Runner(with({-1, -1},
                          [&](onnx::NodeProto* n) {
                            OnnxBuilder::FloatsAttr(n, "coefficients", coef95);
                            OnnxBuilder::FloatsAttr(n, "intercepts", {0, 0});
                            OnnxBuilder::IntsAttr(n, "classlabels_ints", {0, 1});
                          }))
                  .load_status(),
              StatusCode::kInvalidArgument, "not a multiple of the 2 classes");
  ExpectError(Runner(with({-1, 2},
                          [](onnx::NodeProto* n) {
                            OnnxBuilder::FloatsAttr(n, "coefficients", {1, 2, 3, 4});
                            OnnxBuilder::FloatsAttr(n, "intercepts", {0, 0});
                            OnnxBuilder::IntsAttr(n, "classlabels_ints", {0, 1, 2});
                          }))
                  .load_status(),
              StatusCode::kInvalidArgument,
              "2 coefficient rows but attribute 'classlabels_ints' has 3 labels");
  ExpectError(Runner(with({-1, 2},
                          [](onnx::NodeProto* n) {
                            OnnxBuilder::FloatsAttr(n, "coefficients", {1, 2});
                            OnnxBuilder::FloatsAttr(n, "intercepts", {0});
                            OnnxBuilder::IntsAttr(n, "classlabels_ints", {4, 5, 6});
                          }))
                  .load_status(),
              StatusCode::kInvalidArgument, "needs exactly 2 class labels");
  ExpectError(Runner(with({-1, 2},
                          [](onnx::NodeProto* n) {
                            OnnxBuilder::FloatsAttr(n, "coefficients", {1, 2, 3, 4});
                            OnnxBuilder::IntsAttr(n, "classlabels_ints", {0, 1});
                            OnnxBuilder::StringsAttr(n, "classlabels_strings", {"a", "b"});
                          }))
                  .load_status(),
              StatusCode::kInvalidArgument, "only one of the attributes");
  ExpectError(Runner(with({-1, 2},
                          [](onnx::NodeProto* n) {
                            OnnxBuilder::FloatsAttr(n, "coefficients", {1, 2});
                            OnnxBuilder::StringAttr(n, "post_transform", "SQUASH");
                          }))
                  .load_status(),
              StatusCode::kInvalidArgument, "attribute 'post_transform' must be NONE");
  ExpectError(Runner(with({-1, 2}, [](onnx::NodeProto*) {})).load_status(),
              StatusCode::kInvalidArgument, "'coefficients' is missing");
  ExpectError(Runner(with(
                         {-1, 2},
                         [](onnx::NodeProto* n) {
                           OnnxBuilder::FloatsAttr(n, "coefficients", {1, 2});
                         },
                         kBool))
                  .load_status(),
              StatusCode::kUnimplemented, "datatype BOOL");

  // Shapes are checked per request against the model's feature count.
  Runner r(with({-1, -1}, [](onnx::NodeProto* n) {
    OnnxBuilder::FloatsAttr(n, "coefficients", {1, 2, 3, 4, 5, 6});
    OnnxBuilder::FloatsAttr(n, "intercepts", {0, 0, 0});
    OnnxBuilder::IntsAttr(n, "classlabels_ints", {0, 1, 2});
  }));
  Tensor wide = Floats({1, 3}, {1, 2, 3});
  ExpectError(r.Run({&wide}), StatusCode::kInvalidArgument,
              "input 'X' has 3 features, the model expects 2");
  Runner r3(OneNode("LinearClassifier", {"X", kF32, {-1, -1, -1}},
                    {{"label", kI64, {-1}}, {"scores", kF32, {-1, -1}}}, [](onnx::NodeProto* n) {
                      OnnxBuilder::FloatsAttr(n, "coefficients", {1, 2});
                    }));
  ExpectError(r3.load_status(), StatusCode::kInvalidArgument, "[N, F] or [F]");
}

// ------------------------------------------------------- LinearRegressor ---

TEST(LinearRegressor, TargetsInterceptsAndTransforms) {
  auto model = [](const std::string& post, int64_t targets, std::vector<float> coef,
                  std::vector<float> b) {
    return OneNode("LinearRegressor", {"X", kF32, {-1, 2}}, {{"Y", kF32, {-1, -1}}},
                   [&](onnx::NodeProto* n) {
                     OnnxBuilder::FloatsAttr(n, "coefficients", coef);
                     if (!b.empty()) OnnxBuilder::FloatsAttr(n, "intercepts", b);
                     OnnxBuilder::IntAttr(n, "targets", targets);
                     OnnxBuilder::StringAttr(n, "post_transform", post);
                   });
  };
  Tensor x = Floats({2, 2}, {1, 2, -1, 0.5f});
  Runner two(model("NONE", 2, {1, 1, 2, -1}, {0.5f, 0}));
  ASSERT_TRUE(two.Run({&x}).ok());
  ExpectFloats(two.out(0), {2, 2}, {3.5f, 0, 0, -2.5f});

  Runner plain(model("NONE", 1, {1, 1}, {}));  // no intercepts
  ASSERT_TRUE(plain.Run({&x}).ok());
  ExpectFloats(plain.out(0), {2, 1}, {3, -0.5f});

  Runner logistic(model("LOGISTIC", 1, {1, 1}, {-3}));  // applied to a single target too
  ASSERT_TRUE(logistic.Run({&x}).ok());
  ExpectFloats(logistic.out(0), {2, 1}, {0.5f, 0.02931223f});

  Runner softmax(model("SOFTMAX", 1, {1, 1}, {-3}));  // degenerate on one score: left as is
  ASSERT_TRUE(softmax.Run({&x}).ok());
  ExpectFloats(softmax.out(0), {2, 1}, {0, -3.5f});

  ExpectError(Runner(model("NONE", 2, {1, 1, 2, -1}, {1})).load_status(),
              StatusCode::kInvalidArgument,
              "'intercepts' has 1 values, expected one per target (2)");
  ExpectError(Runner(model("NONE", 3, {1, 1, 2, -1}, {})).load_status(),
              StatusCode::kInvalidArgument, "expected 3 targets x 2 features = 6");
  Tensor wide = Floats({1, 3}, {1, 2, 3});
  Runner dyn(OneNode("LinearRegressor", {"X", kF32, {-1, -1}}, {{"Y", kF32, {-1, 1}}},
                     [](onnx::NodeProto* n) {
                       OnnxBuilder::FloatsAttr(n, "coefficients", {1, 2});
                     }));
  ExpectError(dyn.Run({&wide}), StatusCode::kInvalidArgument,
              "input 'X' has 3 features, the model expects 2");
}

// --------------------------------------------------------- SVMClassifier ---

// Three classes, one support vector each: sv0 = [1, 0], sv1 = [0, 1],
// sv2 = [1, 1]; coefficients [[1, -1, 0.5], [0.5, 1, -1]], rho [0, 0.1, -0.2].
// For x = [2, 1]:
//   d01 = c[0][0] K0 + c[0][1] K1 + rho0
//   d02 = c[1][0] K0 + c[0][2] K2 + rho1
//   d12 = c[1][1] K1 + c[1][2] K2 + rho2
std::string Svc3(
    const std::string& kernel, std::vector<float> params,
    const Attrs& extra = [](onnx::NodeProto*) {}, std::vector<int64_t> x_dims = {-1, 2}) {
  return OneNode("SVMClassifier", {"X", kF32, x_dims},
                 {{"label", kI64, {-1}}, {"scores", kF32, {-1, -1}}}, [&](onnx::NodeProto* n) {
                   OnnxBuilder::IntsAttr(n, "classlabels_ints", {10, 20, 30});
                   OnnxBuilder::IntsAttr(n, "vectors_per_class", {1, 1, 1});
                   OnnxBuilder::FloatsAttr(n, "support_vectors", {1, 0, 0, 1, 1, 1});
                   OnnxBuilder::FloatsAttr(n, "coefficients", {1, -1, 0.5f, 0.5f, 1, -1});
                   OnnxBuilder::FloatsAttr(n, "rho", {0, 0.1f, -0.2f});
                   OnnxBuilder::StringAttr(n, "kernel_type", kernel);
                   if (!params.empty()) OnnxBuilder::FloatsAttr(n, "kernel_params", params);
                   extra(n);
                 });
}

TEST(SVMClassifier, KernelsAndOneVsOneVotes) {
  struct Case {
    std::string kernel;
    std::vector<float> params;
    std::vector<float> decisions;  // d01, d02, d12
  };
  const std::vector<Case> cases = {
      {"LINEAR", {}, {1, 2.6f, -2.2f}},         // K = [2, 1, 3]
      {"POLY", {1, 1, 2}, {5, 12.6f, -12.2f}},  // K = (dot + 1)^2 = [9, 4, 16]
      {"RBF", {0.5f, 0, 0}, {0.23254416f, 0.58720505f, -0.67119538f}},      // exp(-0.5 |x - sv|^2)
      {"SIGMOID", {0.5f, 0, 0}, {0.29947700f, 0.93337120f, -0.64303110f}},  // tanh(0.5 dot)
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.kernel);
    Runner r(Svc3(c.kernel, c.params));
    Tensor x = Floats({1, 2}, {2, 1});
    ASSERT_TRUE(r.Run({&x}).ok()) << r.load_status().ToString();
    ExpectValues<int64_t>(r.out(0), {10});  // votes: class 0 twice, class 2 once
    ExpectFloats(r.out(1), {1, 3}, c.decisions);
  }
}

TEST(SVMClassifier, PlattProbabilities) {
  // Pairwise P(i | i or j) = 1 / (1 + exp(A d + B)) with A = -1, B = 0,
  // coupled as libsvm does (values from a Python transcription of libsvm).
  Runner r(Svc3("LINEAR", {}, [](onnx::NodeProto* n) {
    OnnxBuilder::FloatsAttr(n, "prob_a", {-1, -1, -1});
    OnnxBuilder::FloatsAttr(n, "prob_b", {0, 0, 0});
  }));
  Tensor x = Floats({1, 2}, {2, 1});
  ASSERT_TRUE(r.Run({&x}).ok());
  ExpectValues<int64_t>(r.out(0), {10});
  ExpectFloats(r.out(1), {1, 3}, {0.76269941f, 0.13813276f, 0.09916782f});
}

TEST(SVMClassifier, BinaryLayoutsAndLinearMode) {
  // d = 1 * K(x, [1, 0]) - 1 * K(x, [0, 1]) + 0.25 = -0.75 for x = [1, 2]:
  // votes for class 1; scores [-d, d] (ONNX Runtime).
  auto binary = [](const std::string& post, bool proba) {
    return OneNode("SVMClassifier", {"X", kF32, {-1, 2}},
                   {{"label", kStr, {-1}}, {"scores", kF32, {-1, 2}}}, [&](onnx::NodeProto* n) {
                     OnnxBuilder::StringsAttr(n, "classlabels_strings", {"neg", "pos"});
                     OnnxBuilder::IntsAttr(n, "vectors_per_class", {1, 1});
                     OnnxBuilder::FloatsAttr(n, "support_vectors", {1, 0, 0, 1});
                     OnnxBuilder::FloatsAttr(n, "coefficients", {1, -1});
                     OnnxBuilder::FloatsAttr(n, "rho", {0.25f});
                     OnnxBuilder::StringAttr(n, "post_transform", post);
                     if (proba) {
                       OnnxBuilder::FloatsAttr(n, "prob_a", {-2});
                       OnnxBuilder::FloatsAttr(n, "prob_b", {0.5f});
                     }
                   });
  };
  Tensor x = Floats({1, 2}, {1, 2});
  Runner none(binary("NONE", false));
  ASSERT_TRUE(none.Run({&x}).ok());
  ExpectValues<std::string>(none.out(0), {"pos"});
  ExpectFloats(none.out(1), {1, 2}, {0.75f, -0.75f});
  Runner logistic(binary("LOGISTIC", false));
  ASSERT_TRUE(logistic.Run({&x}).ok());
  ExpectFloats(logistic.out(1), {1, 2}, {0.67917870f, 0.32082130f});
  // Platt: P(neg) = 1 / (1 + e^2) = 0.1192, coupled iteratively as libsvm in
  // scikit-learn does (stops within 0.0025 of the fixed point).
  Runner proba(binary("NONE", true));
  ASSERT_TRUE(proba.Run({&x}).ok());
  ExpectValues<std::string>(proba.out(0), {"pos"});
  ExpectFloats(proba.out(1), {1, 2}, {0.11904692f, 0.88095308f});
  ExpectError(Runner(binary("PROBIT", false)).load_status(), StatusCode::kUnimplemented,
              "two-class SVMClassifier");

  // Without vectors_per_class: one coefficient row per class plus rho[0].
  Runner linear(OneNode("SVMClassifier", {"X", kF32, {-1, 2}},
                        {{"label", kI64, {-1}}, {"scores", kF32, {-1, 3}}}, [](onnx::NodeProto* n) {
                          OnnxBuilder::IntsAttr(n, "classlabels_ints", {1, 2, 3});
                          OnnxBuilder::FloatsAttr(n, "coefficients", {1, 0, 0, 1, -1, -1});
                          OnnxBuilder::FloatsAttr(n, "rho", {0.5f});
                        }));
  Tensor x2 = Floats({2, 2}, {1, 3, -2, -1});
  ASSERT_TRUE(linear.Run({&x2}).ok());
  ExpectValues<int64_t>(linear.out(0), {2, 3});
  ExpectFloats(linear.out(1), {2, 3}, {1.5f, 3.5f, -3.5f, -1.5f, -0.5f, 3.5f});
}

TEST(SVMClassifier, BadModels) {
  ExpectError(Runner(OneNode("SVMClassifier", {"X", kF32, {-1, 2}},
                             {{"label", kI64, {-1}}, {"s", kF32, {-1, 3}}},
                             [](onnx::NodeProto* n) {
                               OnnxBuilder::IntsAttr(n, "classlabels_ints", {10, 20, 30});
                               OnnxBuilder::IntsAttr(n, "vectors_per_class", {1, 1, 1});
                               OnnxBuilder::FloatsAttr(n, "support_vectors", {1, 0, 0, 1, 1, 1});
                               OnnxBuilder::FloatsAttr(n, "coefficients", {1, -1, 0.5f, 0.5f, 1});
                               OnnxBuilder::FloatsAttr(n, "rho", {0, 0.1f, -0.2f});
                             }))
                  .load_status(),
              StatusCode::kInvalidArgument,
              "'coefficients' has 5 values, expected 2 x 3 support vectors = 6");
  auto base = [](const Attrs& last) {
    return Runner(OneNode("SVMClassifier", {"X", kF32, {-1, 2}},
                          {{"label", kI64, {-1}}, {"s", kF32, {-1, 3}}},
                          [&](onnx::NodeProto* n) {
                            OnnxBuilder::IntsAttr(n, "classlabels_ints", {10, 20, 30});
                            OnnxBuilder::FloatsAttr(n, "support_vectors", {1, 0, 0, 1, 1, 1});
                            OnnxBuilder::FloatsAttr(n, "coefficients", {1, -1, 0.5f, 0.5f, 1, -1});
                            last(n);
                          }))
        .load_status();
  };
  ExpectError(base([](onnx::NodeProto* n) {
                OnnxBuilder::IntsAttr(n, "vectors_per_class", {1, 1, 1});
                OnnxBuilder::FloatsAttr(n, "rho", {0, 0.1f});
              }),
              StatusCode::kInvalidArgument, "'rho' has 2 values, expected 3");
  ExpectError(base([](onnx::NodeProto* n) {
                OnnxBuilder::IntsAttr(n, "vectors_per_class", {2, 1});
                OnnxBuilder::FloatsAttr(n, "rho", {0, 0.1f, 0});
              }),
              StatusCode::kInvalidArgument,
              "'vectors_per_class' has 2 entries, expected one per class (3)");
  ExpectError(base([](onnx::NodeProto* n) {
                OnnxBuilder::IntsAttr(n, "vectors_per_class", {1, 1, 1});
                OnnxBuilder::FloatsAttr(n, "rho", {0, 0.1f, 0});
                OnnxBuilder::FloatsAttr(n, "kernel_params", {1, 2});
              }),
              StatusCode::kInvalidArgument, "'kernel_params' must hold [gamma, coef0, degree]");
  ExpectError(base([](onnx::NodeProto* n) {
                OnnxBuilder::IntsAttr(n, "vectors_per_class", {1, 1, 1});
                OnnxBuilder::FloatsAttr(n, "rho", {0, 0.1f, 0});
                OnnxBuilder::FloatsAttr(n, "prob_a", {1, 1, 1});
              }),
              StatusCode::kInvalidArgument, "'prob_a' and 'prob_b' must have the same length");
  ExpectError(base([](onnx::NodeProto* n) {
                OnnxBuilder::IntsAttr(n, "vectors_per_class", {1, 1, 1});
                OnnxBuilder::FloatsAttr(n, "rho", {0, 0.1f, 0});
                OnnxBuilder::StringAttr(n, "kernel_type", "CUBIC");
              }),
              StatusCode::kInvalidArgument, "'kernel_type' must be LINEAR, POLY, RBF or SIGMOID");
  Runner r(Svc3("RBF", {0.5f, 0, 0}, [](onnx::NodeProto*) {}, {-1, -1}));
  Tensor narrow = Floats({1, 1}, {1});
  ExpectError(r.Run({&narrow}), StatusCode::kInvalidArgument,
              "input 'X' has 1 features, the model expects 2");
}

// ---------------------------------------------------------- SVMRegressor ---

TEST(SVMRegressor, KernelLinearModeAndOneClass) {
  auto model = [](int64_t supports, int64_t one_class, std::vector<float> coef) {
    return OneNode("SVMRegressor", {"X", kF32, {-1, 2}}, {{"Y", kF32, {-1, 1}}},
                   [&](onnx::NodeProto* n) {
                     OnnxBuilder::IntAttr(n, "n_supports", supports);
                     OnnxBuilder::IntAttr(n, "one_class", one_class);
                     OnnxBuilder::FloatsAttr(n, "coefficients", coef);
                     OnnxBuilder::FloatsAttr(n, "rho", {0.5f});
                     if (supports > 0) {
                       OnnxBuilder::FloatsAttr(n, "support_vectors", {1, 0, 0, 1});
                       OnnxBuilder::StringAttr(n, "kernel_type", "RBF");
                       OnnxBuilder::FloatsAttr(n, "kernel_params", {0.5f, 0, 0});
                     }
                   });
  };
  // 2 exp(-0.5 * 2) - exp(-0.5 * 4) + 0.5 for x = [2, 1].
  Tensor x = Floats({2, 2}, {2, 1, 40, 40});
  Runner rbf(model(2, 0, {2, -1}));
  ASSERT_TRUE(rbf.Run({&x}).ok());
  ExpectFloats(rbf.out(0), {2, 1}, {1.10042360f, 0.5f});
  Runner one_class(model(2, 1, {-2, 1}));  // -0.1004 -> -1, far point 0.5 -> +1
  ASSERT_TRUE(one_class.Run({&x}).ok());
  ExpectFloats(one_class.out(0), {2, 1}, {-1, 1});
  Runner linear(model(0, 0, {1, -2}));  // n_supports = 0: x . coefficients + rho
  ASSERT_TRUE(linear.Run({&x}).ok());
  ExpectFloats(linear.out(0), {2, 1}, {0.5f, -39.5f});
  ExpectError(Runner(model(3, 0, {2, -1})).load_status(), StatusCode::kInvalidArgument,
              "'coefficients' has 2 values, expected one per support vector (n_supports = 3)");
}

// ---------------------------------------------------------- transformers ---

TEST(Scaler, PerFeatureAndBroadcast) {
  auto model = [](int type, std::vector<float> offset, std::vector<float> scale) {
    return OneNode("Scaler", {"X", type, {-1, -1}}, {{"Y", kF32, {-1, -1}}},
                   [&](onnx::NodeProto* n) {
                     OnnxBuilder::FloatsAttr(n, "offset", offset);
                     OnnxBuilder::FloatsAttr(n, "scale", scale);
                   });
  };
  Runner r(model(kF32, {1, 2, 3}, {2, 0.5f, -1}));
  Tensor x = Floats({2, 3}, {1, 2, 3, 3, 6, 0});
  ASSERT_TRUE(r.Run({&x}).ok());
  ExpectFloats(r.out(0), {2, 3}, {0, 0, 0, 4, 2, 3});
  Runner ints(model(kI64, {1}, {0.5f}));
  Tensor xi = Tensor::FromVector<int64_t>({1, 3}, {1, 3, -5});
  ASSERT_TRUE(ints.Run({&xi}).ok());
  ExpectFloats(ints.out(0), {1, 3}, {0, 1, -3});
  Tensor narrow = Floats({1, 2}, {1, 2});
  ExpectError(r.Run({&narrow}), StatusCode::kInvalidArgument,
              "'scale' has 3 values, but input 'X' has 2 features");
}

TEST(Normalizer, Norms) {
  Tensor x = Floats({3, 3}, {1, -2, 2, 0, 0, 0, -4, -2, -1});
  const std::vector<std::pair<std::string, std::vector<float>>> cases = {
      // MAX divides by the signed row maximum; a zero row is left as is.
      {"MAX", {0.5f, -1, 1, 0, 0, 0, 4, 2, 1}},
      {"L1", {0.2f, -0.4f, 0.4f, 0, 0, 0, -4 / 7.f, -2 / 7.f, -1 / 7.f}},
      {"L2",
       {1 / 3.f, -2 / 3.f, 2 / 3.f, 0, 0, 0, -4 / std::sqrt(21.f), -2 / std::sqrt(21.f),
        -1 / std::sqrt(21.f)}},
  };
  for (const auto& [norm, want] : cases) {
    SCOPED_TRACE(norm);
    Runner r(OneNode("Normalizer", {"X", kF32, {-1, 3}}, {{"Y", kF32, {-1, 3}}},
                     [&](onnx::NodeProto* n) { OnnxBuilder::StringAttr(n, "norm", norm); }));
    ASSERT_TRUE(r.Run({&x}).ok());
    ExpectFloats(r.out(0), {3, 3}, want);
  }
  ExpectError(Runner(OneNode("Normalizer", {"X", kF32, {-1, 3}}, {{"Y", kF32, {-1, 3}}},
                             [](onnx::NodeProto* n) { OnnxBuilder::StringAttr(n, "norm", "L3"); }))
                  .load_status(),
              StatusCode::kInvalidArgument, "'norm' must be MAX, L1 or L2");
}

TEST(Binarizer, KeepsTypeAndMapsNanToZero) {
  Runner r(OneNode("Binarizer", {"X", kF32, {-1}}, {{"Y", kF32, {-1}}},
                   [](onnx::NodeProto* n) { OnnxBuilder::FloatAttr(n, "threshold", 0.5f); }));
  Tensor x = Floats({4}, {0.5f, 0.51f, kNaN, -3});
  ASSERT_TRUE(r.Run({&x}).ok());
  ExpectFloats(r.out(0), {4}, {0, 1, 0, 0});
  Runner ri(OneNode("Binarizer", {"X", kI64, {-1}}, {{"Y", kI64, {-1}}}, [](onnx::NodeProto*) {}));
  Tensor xi = Tensor::FromVector<int64_t>({3}, {-1, 0, 7});
  ASSERT_TRUE(ri.Run({&xi}).ok());
  ExpectValues<int64_t>(ri.out(0), {0, 0, 1});
}

TEST(Imputer, FloatsAndInts) {
  Runner r(OneNode("Imputer", {"X", kF32, {-1, 2}}, {{"Y", kF32, {-1, 2}}}, [](onnx::NodeProto* n) {
    OnnxBuilder::FloatsAttr(n, "imputed_value_floats", {10, 20});
    OnnxBuilder::FloatAttr(n, "replaced_value_float", kNaN);
  }));
  Tensor x = Floats({2, 2}, {kNaN, 1, 2, kNaN});
  ASSERT_TRUE(r.Run({&x}).ok());
  ExpectFloats(r.out(0), {2, 2}, {10, 1, 2, 20});
  Runner ri(
      OneNode("Imputer", {"X", kI64, {-1, 3}}, {{"Y", kI64, {-1, 3}}}, [](onnx::NodeProto* n) {
        OnnxBuilder::IntsAttr(n, "imputed_value_int64s", {9});
        OnnxBuilder::IntAttr(n, "replaced_value_int64", -1);
      }));
  Tensor xi = Tensor::FromVector<int64_t>({1, 3}, {-1, 4, -1});
  ASSERT_TRUE(ri.Run({&xi}).ok());
  ExpectValues<int64_t>(ri.out(0), {9, 4, 9});
  ExpectError(Runner(OneNode("Imputer", {"X", kF32, {-1, 3}}, {{"Y", kF32, {-1, 3}}},
                             [](onnx::NodeProto* n) {
                               OnnxBuilder::FloatsAttr(n, "imputed_value_floats", {1, 2});
                             }))
                  .load_status(),
              StatusCode::kInvalidArgument,
              "'imputed_value_floats' has 2 values, but input 'X' has 3 features");
}

// ------------------------------------------------------------- encoders ---

TEST(OneHotEncoder, StringsNumbersAndUnknowns) {
  Runner r(
      OneNode("OneHotEncoder", {"X", kStr, {-1}}, {{"Y", kF32, {-1, 3}}}, [](onnx::NodeProto* n) {
        OnnxBuilder::StringsAttr(n, "cats_strings", {"r", "g", "b"});
      }));
  Tensor x = Tensor::FromVector<std::string>({3}, {"g", "pink", "r"});
  ASSERT_TRUE(r.Run({&x}).ok());
  ExpectFloats(r.out(0), {3, 3}, {0, 1, 0, 0, 0, 0, 1, 0, 0});
  // Numbers are truncated to int64 before the lookup.
  Runner rd(OneNode("OneHotEncoder", {"X", kF64, {-1, 1}}, {{"Y", kF32, {-1, 1, 2}}},
                    [](onnx::NodeProto* n) {
                      OnnxBuilder::IntsAttr(n, "cats_int64s", {3, 5});
                      OnnxBuilder::IntAttr(n, "zeros", 0);
                    }));
  Tensor xd = Tensor::FromVector<double>({2, 1}, {5.9, 3});
  ASSERT_TRUE(rd.Run({&xd}).ok());
  ExpectFloats(rd.out(0), {2, 1, 2}, {0, 1, 1, 0});
  Tensor unknown = Tensor::FromVector<double>({1, 1}, {4});
  ExpectError(rd.Run({&unknown}), StatusCode::kInvalidArgument,
              "is not a known category and attribute 'zeros' is 0");
}

TEST(LabelEncoder, Opset1BothDirections) {
  auto model = [](int in, int out) {
    return OneNode("LabelEncoder", {"X", in, {-1}}, {{"Y", out, {-1}}}, [](onnx::NodeProto* n) {
      OnnxBuilder::StringsAttr(n, "classes_strings", {"a", "b", "c"});
      OnnxBuilder::IntAttr(n, "default_int64", 42);
    });
  };
  Runner s2i(model(kStr, kI64));
  Tensor xs = Tensor::FromVector<std::string>({3}, {"c", "zz", "a"});
  ASSERT_TRUE(s2i.Run({&xs}).ok());
  ExpectValues<int64_t>(s2i.out(0), {2, 42, 0});
  Runner i2s(model(kI64, kStr));
  Tensor xi = Tensor::FromVector<int64_t>({3}, {1, 3, -1});
  ASSERT_TRUE(i2s.Run({&xi}).ok());
  ExpectValues<std::string>(i2s.out(0), {"b", "_Unused", "_Unused"});
}

TEST(LabelEncoder, Opset2KeysValuesAndDefaults) {
  auto model = [](int in, int out, const Attrs& attrs) {
    return OneNode("LabelEncoder", {"X", in, {-1}}, {{"Y", out, {-1}}}, attrs, 2);
  };
  Runner s2f(model(kStr, kF32, [](onnx::NodeProto* n) {
    OnnxBuilder::StringsAttr(n, "keys_strings", {"x", "y"});
    OnnxBuilder::FloatsAttr(n, "values_floats", {0.5f, 1.5f});
  }));
  Tensor xs = Tensor::FromVector<std::string>({3}, {"y", "q", "x"});
  ASSERT_TRUE(s2f.Run({&xs}).ok());
  ExpectFloats(s2f.out(0), {3}, {1.5f, -0.0f, 0.5f});
  EXPECT_TRUE(std::signbit(s2f.out(0).data<float>()[1]));  // default_float is -0.0

  Runner f2i(model(kF32, kI64, [](onnx::NodeProto* n) {
    OnnxBuilder::FloatsAttr(n, "keys_floats", {0.25f, kNaN});
    OnnxBuilder::IntsAttr(n, "values_int64s", {1, 2});
    OnnxBuilder::IntAttr(n, "default_int64", -9);
  }));
  Tensor xf = Floats({3}, {0.25f, kNaN, 0.5f});
  ASSERT_TRUE(f2i.Run({&xf}).ok());
  ExpectValues<int64_t>(f2i.out(0), {1, 2, -9});

  ExpectError(Runner(model(kStr, kF32,
                           [](onnx::NodeProto* n) {
                             OnnxBuilder::StringsAttr(n, "keys_strings", {"x", "y"});
                             OnnxBuilder::FloatsAttr(n, "values_floats", {0.5f});
                           }))
                  .load_status(),
              StatusCode::kInvalidArgument, "keys (2) and values (1)");
  ExpectError(Runner(model(kI64, kF32,
                           [](onnx::NodeProto* n) {
                             OnnxBuilder::StringsAttr(n, "keys_strings", {"x"});
                             OnnxBuilder::FloatsAttr(n, "values_floats", {0.5f});
                           }))
                  .load_status(),
              StatusCode::kInvalidArgument,
              "input 'X' is declared INT64 but the keys are STRING values");
}

// The ONNX checker linked into rtml predates ai.onnx.ml opset 4, so such
// models load with LoadOptions::run_checker = false.
TEST(LabelEncoder, Opset4TensorAttributes) {
  LoadOptions unchecked;
  unchecked.run_checker = false;
  auto tensor_attr = [](onnx::NodeProto* n, const std::string& name, int type,
                        std::vector<int64_t> ints, std::vector<double> doubles) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::TENSOR);
    auto* t = a->mutable_t();
    t->set_data_type(type);
    t->add_dims(static_cast<int64_t>(ints.size() + doubles.size()));
    for (auto v : ints) t->add_int64_data(v);
    for (auto v : doubles) t->add_double_data(v);
  };
  Runner r(OneNode(
               "LabelEncoder", {"X", kI64, {-1}}, {{"Y", kF64, {-1}}},
               [&](onnx::NodeProto* n) {
                 tensor_attr(n, "keys_tensor", kI64, {4, 8}, {});
                 tensor_attr(n, "values_tensor", kF64, {}, {0.25, 0.75});
                 auto* a = n->add_attribute();
                 a->set_name("default_tensor");
                 a->set_type(onnx::AttributeProto::TENSOR);
                 a->mutable_t()->set_data_type(kF64);
                 a->mutable_t()->add_double_data(-1.5);
               },
               4),
           unchecked);
  ASSERT_TRUE(r.load_status().ok()) << r.load_status().ToString();
  Tensor x = Tensor::FromVector<int64_t>({3}, {8, 5, 4});
  ASSERT_TRUE(r.Run({&x}).ok());
  ExpectValues<double>(r.out(0), {0.75, -1.5, 0.25});
}

TEST(CategoryMapper, BothDirectionsAndBadType) {
  auto model = [](int in, int out) {
    return OneNode("CategoryMapper", {"X", in, {-1}}, {{"Y", out, {-1}}}, [](onnx::NodeProto* n) {
      OnnxBuilder::StringsAttr(n, "cats_strings", {"a", "b"});
      OnnxBuilder::IntsAttr(n, "cats_int64s", {5, 6});
      OnnxBuilder::IntAttr(n, "default_int64", -7);
    });
  };
  Runner s2i(model(kStr, kI64));
  Tensor xs = Tensor::FromVector<std::string>({3}, {"b", "c", "a"});
  ASSERT_TRUE(s2i.Run({&xs}).ok());
  ExpectValues<int64_t>(s2i.out(0), {6, -7, 5});
  Runner i2s(model(kI64, kStr));
  Tensor xi = Tensor::FromVector<int64_t>({2}, {5, 0});
  ASSERT_TRUE(i2s.Run({&xi}).ok());
  ExpectValues<std::string>(i2s.out(0), {"a", "_Unused"});
  ExpectError(Runner(model(kF32, kI64)).load_status(), StatusCode::kInvalidArgument,
              "input 'X' must be STRING or INT64, got FP32");
}

// ----------------------------------------------- selection and assembly ---

TEST(ArrayFeatureExtractor, SelectsAlongLastAxis) {
  auto model = [](std::vector<int64_t> x_dims, std::vector<int64_t> indices, int type) {
    OnnxBuilder b;
    b.Input("X", type, x_dims).Output("Z", type, {-1, -1});
    b.Int64Init("idx", {static_cast<int64_t>(indices.size())}, indices);
    b.Node("ArrayFeatureExtractor", {"X", "idx"}, {"Z"}, kMl, "afe");
    return b.Bytes();
  };
  Runner r(model({-1, 4}, {3, 0, 3}, kF32));
  Tensor x = Floats({2, 4}, {0, 1, 2, 3, 4, 5, 6, 7});
  ASSERT_TRUE(r.Run({&x}).ok());
  ExpectFloats(r.out(0), {2, 3}, {3, 0, 3, 7, 4, 7});
  Runner strings(model({3}, {2, 1}, kStr));  // 1-D X gives [1, n]
  Tensor xs = Tensor::FromVector<std::string>({3}, {"a", "b", "c"});
  ASSERT_TRUE(strings.Run({&xs}).ok());
  EXPECT_EQ(strings.out(0).shape(), (Shape{1, 2}));
  ExpectValues<std::string>(strings.out(0), {"c", "b"});
  Runner bad(model({-1, 32}, {40}, kF32));
  Tensor x32 = Floats({1, 32}, std::vector<float>(32, 1));
  ExpectError(bad.Run({&x32}), StatusCode::kInvalidArgument,
              "index 40 (input 'Y'[0]) is out of range for 32 features");
}

TEST(FeatureVectorizer, ConcatenatesPadsAndTruncates) {
  OnnxBuilder b;
  b.Input("A", kF32, {-1, 2}).Input("B", kI64, {-1, 3}).Output("Y", kF32, {-1, 5});
  auto* n = b.Node("FeatureVectorizer", {"A", "B"}, {"Y"}, kMl, "fv");
  OnnxBuilder::IntsAttr(n, "inputdimensions", {3, 2});  // A is zero-padded, B truncated
  Runner r(b.Bytes());
  Tensor a = Floats({2, 2}, {1, 2, 3, 4});
  Tensor bi = Tensor::FromVector<int64_t>({2, 3}, {5, 6, 7, 8, 9, 10});
  ASSERT_TRUE(r.Run({&a, &bi}).ok());
  ExpectFloats(r.out(0), {2, 5}, {1, 2, 0, 5, 6, 3, 4, 0, 8, 9});
  Tensor short_b = Tensor::FromVector<int64_t>({1, 3}, {5, 6, 7});
  ExpectError(r.Run({&a, &short_b}), StatusCode::kInvalidArgument,
              "input 1 has 1 rows, input 0 has 2");
}

TEST(ZipMap, AttachesKeysOwnedByTheKernel) {
  auto model = [](const Attrs& attrs, std::vector<int64_t> dims = {-1, 3}) {
    OnnxBuilder b;
    b.Input("X", kF32, dims);
    auto* out = b.model().mutable_graph()->add_output();
    out->set_name("Z");
    auto* map =
        out->mutable_type()->mutable_sequence_type()->mutable_elem_type()->mutable_map_type();
    map->set_key_type(kI64);
    map->mutable_value_type()->mutable_tensor_type()->set_elem_type(kF32);
    attrs(b.Node("ZipMap", {"X"}, {"Z"}, kMl, "zm"));
    return b.Bytes();
  };
  Runner r(model([](onnx::NodeProto* n) {
    OnnxBuilder::IntsAttr(n, "classlabels_int64s", {10, 20, 30});
  }));
  Tensor x = Floats({2, 3}, {0.1f, 0.2f, 0.7f, 0.3f, 0.3f, 0.4f});
  ASSERT_TRUE(r.Run({&x}).ok());
  const Tensor& z = r.out(0);
  ASSERT_NE(z.map_keys(), nullptr);
  EXPECT_FALSE(z.map_keys()->is_string());
  EXPECT_EQ(z.map_keys()->int_keys, (std::vector<int64_t>{10, 20, 30}));
  ExpectFloats(z, {2, 3}, {0.1f, 0.2f, 0.7f, 0.3f, 0.3f, 0.4f});
  Runner dynamic(model(
      [](onnx::NodeProto* n) {
        OnnxBuilder::StringsAttr(n, "classlabels_strings", {"a", "b"});
      },
      {-1, -1}));
  Tensor narrow = Floats({1, 3}, {0.2f, 0.3f, 0.5f});
  ExpectError(dynamic.Run({&narrow}), StatusCode::kInvalidArgument,
              "input 'X' has 3 columns but there are 2 class labels");
  ExpectError(Runner(model([](onnx::NodeProto* n) {
                OnnxBuilder::IntsAttr(n, "classlabels_int64s", {1, 2});
              })).load_status(),
              StatusCode::kInvalidArgument, "declared with 3 columns but there are 2 class labels");
  ExpectError(Runner(model([](onnx::NodeProto*) {})).load_status(), StatusCode::kInvalidArgument,
              "exactly one of the attributes 'classlabels_strings' and 'classlabels_int64s'");
}

}  // namespace
}  // namespace rtml::engine
