// Loading and running hostile or broken models: every failure is a clear
// Status naming the problem, never a crash.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "engine/model.h"
#include "onnx_builder.h"

namespace rtml::engine {
namespace {

using rtml::testing::OnnxBuilder;
using ::testing::HasSubstr;

constexpr int kFloat = onnx::TensorProto::FLOAT;

OnnxBuilder LinearModel() {
  OnnxBuilder b;
  b.Input("X", kFloat, {-1, 3}).Output("Y", kFloat, {-1, 2});
  b.FloatInit("W", {3, 2}, {1, 2, 3, 4, 5, 6});
  b.FloatInit("B", {2}, {0.5f, -0.5f});
  b.Node("MatMul", {"X", "W"}, {"XW"});
  b.Node("Add", {"XW", "B"}, {"Y"});
  return b;
}

TEST(ModelLoad, RunsASimpleModel) {
  auto m = Model::Load(LinearModel().Bytes());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto ctx = (*m)->NewContext();
  float x[] = {1, 1, 1};
  Tensor in = Tensor::Borrow(DataType::kFloat, Shape{1, 3}, x);
  const Tensor* inputs[] = {&in};
  ASSERT_TRUE((*m)->Run(*ctx, inputs).ok());
  const Tensor& y = ctx->output(0);
  ASSERT_EQ(y.shape(), (Shape{1, 2}));
  EXPECT_FLOAT_EQ(y.data<float>()[0], 9.5f);
  EXPECT_FLOAT_EQ(y.data<float>()[1], 11.5f);
}

TEST(ModelLoad, EmptyAndGarbageBytes) {
  auto empty = Model::Load("");
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(empty.status().message(), HasSubstr("empty"));

  auto garbage = Model::Load("this is not an onnx file at all \xff\xfe");
  EXPECT_EQ(garbage.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(garbage.status().message(), HasSubstr("not an ONNX model"));
}

TEST(ModelLoad, RandomBytesAndEveryTruncationNeverCrash) {
  const std::string good = LinearModel().Bytes();
  for (size_t len = 0; len < good.size(); ++len) {
    auto m = Model::Load(std::string_view(good.data(), len));
    if (m.ok()) continue;  // some prefixes are valid protobuf; they must still run or fail cleanly
    EXPECT_NE(m.status().code(), StatusCode::kInternal) << m.status().ToString();
  }
  std::mt19937 rng(42);
  for (int i = 0; i < 300; ++i) {
    std::string bytes = good;
    // Flip a few random bytes.
    for (int k = 0; k < 1 + static_cast<int>(rng() % 8); ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    auto m = Model::Load(bytes);
    if (!m.ok()) {
      EXPECT_NE(m.status().code(), StatusCode::kInternal) << m.status().ToString();
      continue;
    }
    auto ctx = (*m)->NewContext();
    std::vector<Tensor> owned;
    std::vector<const Tensor*> ptrs;
    for (const auto& info : (*m)->inputs()) {
      Shape s;
      for (int64_t d : info.dims) s.PushBack(d < 0 ? 1 : std::min<int64_t>(d, 8));
      auto t = Tensor::Make(info.dtype == DataType::kUndefined ? DataType::kFloat : info.dtype, s);
      ASSERT_TRUE(t.ok());
      owned.push_back(std::move(*t));
    }
    for (auto& t : owned) ptrs.push_back(&t);
    (*m)->Run(*ctx, ptrs).IgnoreError();  // any status is fine; no crash
  }
  for (int i = 0; i < 300; ++i) {
    std::string bytes(rng() % 512, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    auto m = Model::Load(bytes);
    EXPECT_FALSE(m.ok() && (*m)->inputs().empty() && (*m)->outputs().empty());
  }
}

TEST(ModelLoad, CycleIsNamed) {
  OnnxBuilder b;
  b.Input("X", kFloat, {1}).Output("Y", kFloat, {1});
  b.Node("Add", {"X", "B"}, {"A"}, "", "first");
  b.Node("Relu", {"A"}, {"B"}, "", "second");
  b.Node("Identity", {"B"}, {"Y"}, "", "out");
  // The ONNX checker requires topological order and reports the offending input.
  auto checked = Model::Load(b.Bytes());
  ASSERT_FALSE(checked.ok());
  EXPECT_THAT(checked.status().message(), HasSubstr("topologically sorted"));
  // rtml's own graph analysis names the cycle when the checker is off.
  LoadOptions opts;
  opts.run_checker = false;
  auto m = Model::Load(b.Bytes(), opts);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(m.status().message(), HasSubstr("cycle"));
}

TEST(ModelLoad, MissingInitializerIsNamed) {
  OnnxBuilder b;
  b.Input("X", kFloat, {1, 3}).Output("Y", kFloat, {1, 2});
  b.Node("MatMul", {"X", "W_missing"}, {"Y"}, "", "mm");
  auto m = Model::Load(b.Bytes());
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("W_missing"));
  LoadOptions opts;
  opts.run_checker = false;
  auto m2 = Model::Load(b.Bytes(), opts);
  ASSERT_FALSE(m2.ok());
  EXPECT_THAT(m2.status().message(), HasSubstr("input 'W_missing' is not produced"));
  EXPECT_THAT(m2.status().message(), HasSubstr("node 'mm' (MatMul)"));
}

TEST(ModelLoad, WrongAttributeTypeIsNamed) {
  OnnxBuilder b;
  b.Input("X", kFloat, {2, 3}).Output("Y", kFloat, {2, 3});
  auto* n = b.Node("LeakyRelu", {"X"}, {"Y"}, "", "leaky");
  OnnxBuilder::StringAttr(n, "alpha", "a lot");
  auto m = Model::Load(b.Bytes());
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("alpha"));
  LoadOptions opts;
  opts.run_checker = false;
  auto m2 = Model::Load(b.Bytes(), opts);
  ASSERT_FALSE(m2.ok());
  EXPECT_THAT(m2.status().message(), HasSubstr("node 'leaky' (LeakyRelu): attribute 'alpha' must be FLOAT, got STRING"));
}

TEST(ModelLoad, UnsupportedOperatorIsNamed) {
  OnnxBuilder b;
  b.Input("X", kFloat, {1, 1, 4, 4}).Output("Y", kFloat, {1, 1, 2, 2});
  auto* n = b.Node("MaxPool", {"X"}, {"Y"}, "", "pool1");
  OnnxBuilder::IntsAttr(n, "kernel_shape", {2, 2});
  OnnxBuilder::IntsAttr(n, "strides", {2, 2});
  auto m = Model::Load(b.Bytes());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(m.status().message(), HasSubstr("node 'pool1' (MaxPool): operator MaxPool"));
}

TEST(ModelLoad, ExternalDataIsRejected) {
  OnnxBuilder b = LinearModel();
  auto* w = b.model().mutable_graph()->mutable_initializer(0);
  w->clear_float_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* kv = w->add_external_data();
  kv->set_key("location");
  kv->set_value("weights.bin");
  LoadOptions opts;
  opts.run_checker = false;  // the checker would try to open the file
  auto m = Model::Load(b.Bytes(), opts);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("external file"));
}

TEST(ModelLoad, InitializerSizeMismatchIsNamed) {
  OnnxBuilder b;
  b.Input("X", kFloat, {1, 3}).Output("Y", kFloat, {1, 2});
  b.FloatInit("W", {3, 2}, {1, 2, 3});  // 3 values for 6 elements
  b.Node("MatMul", {"X", "W"}, {"Y"});
  LoadOptions opts;
  opts.run_checker = false;
  auto m = Model::Load(b.Bytes(), opts);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("tensor 'W': 3 values in float_data but its shape [3,2] needs 6"));
}

TEST(ModelRun, WrongShapesAndTypesAreNamed) {
  auto m = Model::Load(LinearModel().Bytes());
  ASSERT_TRUE(m.ok());
  auto ctx = (*m)->NewContext();
  float x[4] = {1, 2, 3, 4};
  Tensor wide = Tensor::Borrow(DataType::kFloat, Shape{1, 4}, x);
  const Tensor* in1[] = {&wide};
  Status s = (*m)->Run(*ctx, in1);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("input 'X': expected shape [-1,3], got [1,4]"));

  int64_t xi[3] = {1, 2, 3};
  Tensor ints = Tensor::Borrow(DataType::kInt64, Shape{1, 3}, xi);
  const Tensor* in2[] = {&ints};
  s = (*m)->Run(*ctx, in2);
  EXPECT_THAT(s.message(), HasSubstr("input 'X': expected datatype FP32, got INT64"));

  const Tensor* none[] = {nullptr};
  s = (*m)->Run(*ctx, none);
  EXPECT_THAT(s.message(), HasSubstr("input 'X' is missing"));

  s = (*m)->Run(*ctx, std::span<const Tensor* const>());
  EXPECT_THAT(s.message(), HasSubstr("takes 1 inputs, got 0"));

  // The context still works after errors.
  float ok[3] = {0, 0, 0};
  Tensor good = Tensor::Borrow(DataType::kFloat, Shape{1, 3}, ok);
  const Tensor* in3[] = {&good};
  EXPECT_TRUE((*m)->Run(*ctx, in3).ok());
}

TEST(ModelRun, DynamicShapeMismatchInsideTheGraphIsNamed) {
  OnnxBuilder b;
  b.Input("A", kFloat, {-1, -1}).Input("B", kFloat, {-1, -1}).Output("Y", kFloat, {-1, -1});
  b.Node("MatMul", {"A", "B"}, {"Y"}, "", "mm");
  auto m = Model::Load(b.Bytes());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto ctx = (*m)->NewContext();
  float a[6] = {}, c[8] = {};
  Tensor ta = Tensor::Borrow(DataType::kFloat, Shape{2, 3}, a);
  Tensor tb = Tensor::Borrow(DataType::kFloat, Shape{4, 2}, c);
  const Tensor* in[] = {&ta, &tb};
  Status s = (*m)->Run(*ctx, in);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("node 'mm' (MatMul)"));
}

TEST(ModelLoad, ConstantFoldingAndDeadNodes) {
  // (W * 2) is folded at load; the dead Relu branch is dropped.
  OnnxBuilder b;
  b.Input("X", kFloat, {-1, 2}).Output("Y", kFloat, {-1, 2});
  b.FloatInit("W", {2}, {1, 2});
  b.FloatInit("Two", {}, {2});
  b.Node("Mul", {"W", "Two"}, {"W2"});
  b.Node("Add", {"X", "W2"}, {"Y"});
  b.Node("Relu", {"X"}, {"unused"});
  auto m = Model::Load(b.Bytes());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->num_steps(), 1);
  auto ctx = (*m)->NewContext();
  float x[2] = {10, 20};
  Tensor in = Tensor::Borrow(DataType::kFloat, Shape{1, 2}, x);
  const Tensor* ins[] = {&in};
  ASSERT_TRUE((*m)->Run(*ctx, ins).ok());
  EXPECT_FLOAT_EQ(ctx->output(0).data<float>()[0], 12);
  EXPECT_FLOAT_EQ(ctx->output(0).data<float>()[1], 24);
}

}  // namespace
}  // namespace rtml::engine

namespace rtml::engine {
namespace {

using rtml::testing::OnnxBuilder;

std::vector<float> RunOne(const Model& m, std::vector<float> x, int64_t rows, int64_t cols) {
  auto ctx = m.NewContext();
  Tensor in = Tensor::Borrow(DataType::kFloat, Shape{rows, cols}, x.data());
  const Tensor* ins[] = {&in};
  Status s = m.Run(*ctx, ins);
  EXPECT_TRUE(s.ok()) << s.ToString();
  const Tensor& y = ctx->output(0);
  return std::vector<float>(y.data<float>(), y.data<float>() + y.size());
}

TEST(Fusion, MatMulAddReluBecomesOneStepWithTheSameResult) {
  OnnxBuilder b;
  b.Input("X", onnx::TensorProto::FLOAT, {-1, 3}).Output("Y", onnx::TensorProto::FLOAT, {-1, 2});
  b.FloatInit("W", {3, 2}, {1, -2, 3, -4, 5, -6});
  b.FloatInit("B", {2}, {0.5f, 100.0f});
  b.Node("MatMul", {"X", "W"}, {"XW"});
  b.Node("Add", {"B", "XW"}, {"Z"});  // bias first: Add is commutative
  b.Node("Relu", {"Z"}, {"Y"});
  auto m = Model::Load(b.Bytes());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->num_steps(), 1);
  auto y = RunOne(**m, {1, 1, 1, -1, -1, -1}, 2, 3);
  EXPECT_THAT(y, ::testing::ElementsAre(9.5f, 88.0f, 0.0f, 112.0f));
}

TEST(Fusion, AnIntermediateThatIsAlsoAnOutputIsNotFused) {
  OnnxBuilder b;
  b.Input("X", onnx::TensorProto::FLOAT, {-1, 3}).Output("Y", onnx::TensorProto::FLOAT, {-1, 2});
  b.Output("XW", onnx::TensorProto::FLOAT, {-1, 2});
  b.FloatInit("W", {3, 2}, {1, -2, 3, -4, 5, -6});
  b.FloatInit("B", {2}, {0.5f, 100.0f});
  b.Node("MatMul", {"X", "W"}, {"XW"});
  b.Node("Add", {"XW", "B"}, {"Y"});
  auto m = Model::Load(b.Bytes());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->num_steps(), 2);
}

TEST(Fusion, GemmReluAndScalerLinearFold) {
  OnnxBuilder b;
  b.Input("X", onnx::TensorProto::FLOAT, {-1, 2}).Output("Y", onnx::TensorProto::FLOAT, {-1, 2});
  b.FloatInit("W", {2, 2}, {1, -1, 2, -2});
  b.Node("Gemm", {"X", "W"}, {"G"});
  b.Node("Relu", {"G"}, {"Y"});
  auto m = Model::Load(b.Bytes());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->num_steps(), 1);
  EXPECT_THAT(RunOne(**m, {1, 1}, 1, 2), ::testing::ElementsAre(3.0f, 0.0f));

  OnnxBuilder s;
  s.Input("X", onnx::TensorProto::FLOAT, {-1, 2}).Output("Y", onnx::TensorProto::FLOAT, {-1, 1});
  auto* scaler = s.Node("Scaler", {"X"}, {"S"}, "ai.onnx.ml");
  OnnxBuilder::FloatsAttr(scaler, "offset", {1, 2});
  OnnxBuilder::FloatsAttr(scaler, "scale", {0.5f, 2});
  auto* lin = s.Node("LinearRegressor", {"S"}, {"Y"}, "ai.onnx.ml");
  OnnxBuilder::FloatsAttr(lin, "coefficients", {3, 4});
  OnnxBuilder::FloatsAttr(lin, "intercepts", {1});
  auto m2 = Model::Load(s.Bytes());
  ASSERT_TRUE(m2.ok()) << m2.status().ToString();
  EXPECT_EQ((*m2)->num_steps(), 1);
  // ((5-1)*0.5)*3 + ((3-2)*2)*4 + 1 = 6 + 8 + 1
  EXPECT_THAT(RunOne(**m2, {5, 3}, 1, 2), ::testing::ElementsAre(15.0f));
}

TEST(ModelLoad, InternalDomainIsRejected) {
  OnnxBuilder b;
  b.model().add_opset_import()->set_domain("ai.rtml");
  b.model().mutable_opset_import(2)->set_version(1);
  b.Input("X", onnx::TensorProto::FLOAT, {1, 2}).Output("Y", onnx::TensorProto::FLOAT, {1, 2});
  b.FloatInit("W", {2, 2}, {1, 0, 0, 1});
  b.FloatInit("B", {2}, {0, 0});
  b.Node("FusedMatMul", {"X", "W", "B"}, {"Y"}, "ai.rtml", "sneaky");
  LoadOptions opts;
  opts.run_checker = false;
  auto m = Model::Load(b.Bytes(), opts);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), ::testing::HasSubstr("internal domain"));
}

}  // namespace
}  // namespace rtml::engine
