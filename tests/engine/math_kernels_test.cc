// Math and reduction kernels: the packed GEMM core against a naive reference
// for odd sizes (both micro-kernels, every epilogue), then operator behaviour
// through the public engine::Model interface on one-node models built with
// the ONNX protobuf API: values for the cases that are easy to get subtly
// wrong (broadcast batches, 1-D promotion, Gemm's C broadcast, tie order),
// and the status code and message for bad input.
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/internal/gemm.h"
#include "engine/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"

namespace rtml::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// ------------------------------------------------------------ GEMM core ---

struct GemmCase {
  int64_t m, n, k;
  bool transposed_b;
  bool use_bias;
  internal::GemmEpilogue ep;  // its bias pointer is filled in by CheckGemm
};

// Checks GemmPackedWith against a double-precision triple loop. A and C have
// padded rows (lda > k, ldc > n) to catch stride mix-ups, and C's padding
// must survive untouched.
void CheckGemm(internal::GemmKernel kernel, const GemmCase& gc, std::mt19937& rng) {
  const int64_t m = gc.m, n = gc.n, k = gc.k;
  const int64_t lda = k + 3, ldc = n + 5;
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> a(static_cast<size_t>(m * lda)), b(static_cast<size_t>(k * n)),
      bias(static_cast<size_t>(n)), c(static_cast<size_t>(m * ldc));
  for (float& v : a) v = u(rng);
  for (float& v : b) v = u(rng);
  for (float& v : bias) v = u(rng);
  for (float& v : c) v = u(rng);
  const std::vector<float> c_before = c;
  // B as given to PackB: k x n, or n x k when transposed.
  auto b_at = [&](int64_t p, int64_t j) {
    return gc.transposed_b ? b[static_cast<size_t>(j * k + p)] : b[static_cast<size_t>(p * n + j)];
  };
  internal::PackedB packed(b.data(), gc.transposed_b ? k : n, gc.transposed_b, k, n);
  internal::GemmEpilogue ep = gc.ep;
  ep.bias = gc.use_bias ? bias.data() : nullptr;
  internal::GemmPackedWith(kernel, m, n, k, a.data(), lda, packed.data(), c.data(), ldc, ep);

  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const size_t at = static_cast<size_t>(i * ldc + j);
      if (j >= n) {
        ASSERT_EQ(c[at], c_before[at]) << "padding written at row " << i << " col " << j;
        continue;
      }
      double dot = 0, magnitude = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double term = double{a[static_cast<size_t>(i * lda + p)]} * double{b_at(p, j)};
        dot += term;
        magnitude += std::abs(term);
      }
      double want = ep.alpha * dot;
      if (ep.accumulate) want += c_before[at];
      if (ep.bias != nullptr) want += bias[static_cast<size_t>(j)];
      if (ep.activation == internal::GemmActivation::kRelu) want = want > 0 ? want : 0;
      const double tol = 1e-5 * (std::abs(ep.alpha) * magnitude + std::abs(want)) + 1e-6;
      ASSERT_NEAR(c[at], want, tol) << internal::GemmKernelName(kernel) << " m=" << m << " n=" << n
                                    << " k=" << k << " at (" << i << "," << j << ")";
    }
  }
}

class GemmCoreTest : public ::testing::TestWithParam<internal::GemmKernel> {};

TEST_P(GemmCoreTest, MatchesReferenceForOddSizes) {
  std::mt19937 rng(7);
  const int64_t sizes[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 48, 63, 64, 65, 70};
  for (int64_t m : sizes) {
    for (int64_t n : sizes) {
      for (int64_t k : sizes) {
        GemmCase gc{m, n, k, false, false, {}};
        CheckGemm(GetParam(), gc, rng);
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST_P(GemmCoreTest, EpiloguesTransposedBAndDeepK) {
  std::mt19937 rng(11);
  const int64_t sizes[] = {1, 4, 6, 7, 13, 16, 17, 40, 70};
  int variant = 0;
  for (int64_t m : sizes) {
    for (int64_t n : sizes) {
      // k = 0 (epilogue only), and depths past one 256-deep block.
      for (int64_t k : {int64_t{0}, int64_t{3}, int64_t{37}, int64_t{257}, int64_t{600}}) {
        GemmCase gc{m, n, k, (variant & 1) != 0, (variant & 4) != 0, {}};
        gc.ep.alpha = (variant % 3 == 0) ? 1.0f : -0.75f;
        gc.ep.accumulate = (variant & 2) != 0;
        gc.ep.activation =
            (variant & 8) != 0 ? internal::GemmActivation::kRelu : internal::GemmActivation::kNone;
        ++variant;
        CheckGemm(GetParam(), gc, rng);
        if (HasFatalFailure()) return;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Kernels, GemmCoreTest,
    ::testing::Values(internal::GemmKernel::kAuto, internal::GemmKernel::kPortable),
    [](const auto& param_info) {
      return std::string(param_info.param == internal::GemmKernel::kAuto ? "Auto" : "Portable");
    });

TEST(GemmCoreTest, PackedSizes) {
  // Narrow B (<= 4 columns) is stored transposed, others as 16-wide panels.
  EXPECT_EQ(internal::PackedBSize(3, 1), size_t{3});
  EXPECT_EQ(internal::PackedBSize(3, 4), size_t{12});
  EXPECT_EQ(internal::PackedBSize(3, 5), size_t{3 * internal::kGemmPanelWidth});
  EXPECT_EQ(internal::PackedBSize(3, 17), size_t{3 * 2 * internal::kGemmPanelWidth});
  EXPECT_EQ(internal::PackedBSize(0, 17), size_t{0});
}

// ------------------------------------------------------ model building ---

constexpr int kFloat = onnx::TensorProto::FLOAT;
constexpr int kInt64 = onnx::TensorProto::INT64;

// One-node model. Input() values are fed at Run time (-1 = dynamic
// dimension); FloatConst()/IntConst() become initializers.
class NodeModel {
 public:
  NodeModel(const std::string& op, int opset) {
    model_.set_ir_version(8);
    auto* imp = model_.add_opset_import();
    imp->set_domain("");
    imp->set_version(opset);
    graph_ = model_.mutable_graph();
    graph_->set_name("t");
    node_ = graph_->add_node();
    node_->set_op_type(op);
    node_->set_name("n");
  }
  NodeModel& Input(const std::string& name, const std::vector<int64_t>& dims, int type = kFloat) {
    auto* vi = graph_->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(type);
    auto* shape = tt->mutable_shape();
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] >= 0)
        shape->add_dim()->set_dim_value(dims[i]);
      else
        shape->add_dim()->set_dim_param(name + "_d" + std::to_string(i));
    }
    node_->add_input(name);
    return *this;
  }
  NodeModel& FloatConst(const std::string& name, const std::vector<int64_t>& dims,
                        const std::vector<float>& v) {
    auto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(kFloat);
    for (int64_t d : dims) t->add_dims(d);
    for (float x : v) t->add_float_data(x);
    node_->add_input(name);
    return *this;
  }
  NodeModel& IntConst(const std::string& name, const std::vector<int64_t>& dims,
                      const std::vector<int64_t>& v) {
    auto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(kInt64);
    for (int64_t d : dims) t->add_dims(d);
    for (int64_t x : v) t->add_int64_data(x);
    node_->add_input(name);
    return *this;
  }
  // The checker wants a shaped output type: `rank` symbolic dimensions.
  NodeModel& Output(const std::string& name, int rank, int type = kFloat) {
    auto* vi = graph_->add_output();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(type);
    auto* shape = tt->mutable_shape();
    for (int i = 0; i < rank; ++i) shape->add_dim()->set_dim_param(name + "_d" + std::to_string(i));
    node_->add_output(name);
    return *this;
  }
  NodeModel& Int(const std::string& name, int64_t v) {
    Attr(name, onnx::AttributeProto::INT)->set_i(v);
    return *this;
  }
  NodeModel& Float(const std::string& name, float v) {
    Attr(name, onnx::AttributeProto::FLOAT)->set_f(v);
    return *this;
  }
  NodeModel& Ints(const std::string& name, const std::vector<int64_t>& v) {
    auto* a = Attr(name, onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
    return *this;
  }
  StatusOr<std::unique_ptr<Model>> Load() const { return Model::Load(model_.SerializeAsString()); }

 private:
  onnx::AttributeProto* Attr(const std::string& name, onnx::AttributeProto::AttributeType type) {
    auto* a = node_->add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
  }
  onnx::ModelProto model_;
  onnx::GraphProto* graph_;
  onnx::NodeProto* node_;
};

// Loads and runs; on success the outputs are in `ctx`.
struct Ran {
  std::unique_ptr<Model> model;
  std::unique_ptr<RunContext> ctx;
  Status status;
  const Tensor& out(int i) const { return ctx->output(i); }
};

Ran LoadAndRun(const NodeModel& nm, const std::vector<const Tensor*>& inputs) {
  Ran r;
  auto m = nm.Load();
  if (!m.ok()) {
    r.status = m.status();
    return r;
  }
  r.model = std::move(*m);
  r.ctx = r.model->NewContext();
  r.status = r.model->Run(*r.ctx, inputs);
  return r;
}

std::vector<float> Floats(const Tensor& t) { return {t.data<float>(), t.data<float>() + t.size()}; }
std::vector<int64_t> Int64s(const Tensor& t) {
  return {t.data<int64_t>(), t.data<int64_t>() + t.size()};
}

// ----------------------------------------------------------- MatMul, Gemm ---

TEST(MatMulTest, BroadcastsBatchesAndPromotesVectors) {
  // A [2,1,2,3] x B [3,3,2]: batch [2,1] with [3] -> [2,3].
  std::vector<float> av(12), bv(18);
  for (size_t i = 0; i < av.size(); ++i) av[i] = static_cast<float>(i) - 5.0f;
  for (size_t i = 0; i < bv.size(); ++i) bv[i] = 0.5f * static_cast<float>(i) - 3.0f;
  Tensor a = Tensor::FromVector(Shape{2, 1, 2, 3}, av);
  Tensor b = Tensor::FromVector(Shape{3, 3, 2}, bv);
  Ran r = LoadAndRun(
      NodeModel("MatMul", 13).Input("a", {-1, -1, -1, -1}).Input("b", {-1, -1, -1}).Output("y", 4),
      {&a, &b});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.out(0).shape(), (Shape{2, 3, 2, 2}));
  const float* y = r.out(0).data<float>();
  for (int ba = 0; ba < 2; ++ba)
    for (int bb = 0; bb < 3; ++bb)
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) {
          float want = 0;
          for (int p = 0; p < 3; ++p)
            want += av[static_cast<size_t>(ba * 6 + i * 3 + p)] *
                    bv[static_cast<size_t>(bb * 6 + p * 2 + j)];
          EXPECT_FLOAT_EQ(y[((ba * 3 + bb) * 2 + i) * 2 + j], want);
        }

  // 1-D x 1-D is a dot product with a scalar result; constant B takes the
  // pre-packed path.
  Tensor v = Tensor::FromVector(Shape{3}, std::vector<float>{1, 2, 3});
  Ran dot = LoadAndRun(
      NodeModel("MatMul", 13).Input("a", {3}).FloatConst("b", {3}, {4, 5, 6}).Output("y", 0), {&v});
  ASSERT_TRUE(dot.status.ok()) << dot.status.ToString();
  EXPECT_EQ(dot.out(0).rank(), 0);
  EXPECT_THAT(Floats(dot.out(0)), ElementsAre(32.0f));
}

TEST(MatMulTest, IntegerMatMulWrapsAround) {
  Tensor a = Tensor::FromVector(Shape{1, 2}, std::vector<int32_t>{0x40000000, 3});
  Tensor b = Tensor::FromVector(Shape{2, 1}, std::vector<int32_t>{4, -2});
  Ran r = LoadAndRun(NodeModel("MatMul", 13)
                         .Input("a", {1, 2}, onnx::TensorProto::INT32)
                         .Input("b", {2, 1}, onnx::TensorProto::INT32)
                         .Output("y", 2, onnx::TensorProto::INT32),
                     {&a, &b});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.out(0).data<int32_t>()[0], -6);  // 2^32 wraps to 0
}

TEST(MatMulTest, MismatchedInnerDimensionsFailAtLoadWhenKnown) {
  auto m = NodeModel("MatMul", 13)
               .Input("a", {2, 3})
               .FloatConst("b", {4, 5}, std::vector<float>(20, 1.0f))
               .Output("y", 2)
               .Load();
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(m.status().message(), HasSubstr("(MatMul): inner dimensions differ: [2,3] x [4,5]"));
}

TEST(MatMulTest, MismatchedInnerDimensionsFailAtRun) {
  Tensor a = Tensor::FromVector(Shape{2, 3}, std::vector<float>(6, 1.0f));
  Tensor b = Tensor::FromVector(Shape{4, 5}, std::vector<float>(20, 1.0f));
  Ran r = LoadAndRun(
      NodeModel("MatMul", 13).Input("a", {-1, -1}).Input("b", {-1, -1}).Output("y", 2), {&a, &b});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("inner dimensions differ: [2,3] x [4,5]"));

  Tensor a3 = Tensor::FromVector(Shape{2, 2, 3}, std::vector<float>(12, 1.0f));
  Tensor b3 = Tensor::FromVector(Shape{3, 3, 1}, std::vector<float>(9, 1.0f));
  Ran batch = LoadAndRun(
      NodeModel("MatMul", 13).Input("a", {-1, -1, -1}).Input("b", {-1, -1, -1}).Output("y", 3),
      {&a3, &b3});
  EXPECT_EQ(batch.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(batch.status.message(), HasSubstr("batch dimensions of [2,2,3] and [3,3,1]"));
}

TEST(MatMulTest, UnsupportedDatatypeIsUnimplemented) {
  Tensor a = Tensor::FromVector(Shape{1, 1}, std::vector<bool>{true});
  Ran r = LoadAndRun(NodeModel("MatMul", 13)
                         .Input("a", {1, 1}, onnx::TensorProto::BOOL)
                         .Input("b", {1, 1}, onnx::TensorProto::BOOL)
                         .Output("y", 2, onnx::TensorProto::BOOL),
                     {&a, &a});
  EXPECT_EQ(r.status.code(), StatusCode::kUnimplemented);
  EXPECT_THAT(r.status.message(), HasSubstr("MatMul does not support datatype BOOL"));
}

TEST(GemmTest, TransposesAndBroadcastsColumnC) {
  // Y = 0.5 * A^T * B^T + 2 * C, A^T is 2x3, B^T is 3x2, C is [2,1].
  Tensor a = Tensor::FromVector(Shape{3, 2},
                                std::vector<float>{1, 4, 2, 5, 3, 6});  // A^T = [[1,2,3],[4,5,6]]
  Tensor c = Tensor::FromVector(Shape{2, 1}, std::vector<float>{10, 20});
  Ran r = LoadAndRun(NodeModel("Gemm", 13)
                         .Input("a", {3, 2})
                         .FloatConst("b", {2, 3}, {1, 0, 1, 0, 1, 1})  // B^T = [[1,0],[0,1],[1,1]]
                         .Input("c", {2, 1})
                         .Output("y", 2)
                         .Int("transA", 1)
                         .Int("transB", 1)
                         .Float("alpha", 0.5f)
                         .Float("beta", 2.0f),
                     {&a, &c});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  // A^T B^T = [[4,5],[10,11]]
  EXPECT_THAT(Floats(r.out(0)), ElementsAre(22.0f, 22.5f, 45.0f, 45.5f));
}

TEST(GemmTest, BadInputsAreRejected) {
  Tensor a = Tensor::FromVector(Shape{2, 3}, std::vector<float>(6, 1.0f));
  Tensor c = Tensor::FromVector(Shape{3, 2}, std::vector<float>(6, 1.0f));
  Ran bad_c = LoadAndRun(NodeModel("Gemm", 13)
                             .Input("a", {-1, -1})
                             .FloatConst("b", {3, 2}, std::vector<float>(6, 1.0f))
                             .Input("c", {-1, -1})
                             .Output("y", 2),
                         {&a, &c});
  EXPECT_EQ(bad_c.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_c.status.message(),
              HasSubstr("input 'C' of shape [3,2] does not broadcast to the result shape [2,2]"));

  auto k_mismatch = NodeModel("Gemm", 13)
                        .Input("a", {2, 3})
                        .FloatConst("b", {4, 2}, std::vector<float>(8, 1.0f))
                        .Output("y", 2)
                        .Load();
  ASSERT_FALSE(k_mismatch.ok());
  EXPECT_EQ(k_mismatch.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(k_mismatch.status().message(),
              HasSubstr("inner dimensions differ: A [2,3] x B [4,2]"));
}

// ------------------------------------------------------ softmax, norms ---

TEST(SoftmaxTest, OpsetDecidesBetweenAxisAndCoercion) {
  Tensor x = Tensor::FromVector(Shape{1, 2, 2}, std::vector<float>{0, 0, 0, 0});
  // Opset 13, axis 1: each column of two sums to one.
  Ran v13 = LoadAndRun(NodeModel("Softmax", 13).Input("x", {1, 2, 2}).Output("y", 3).Int("axis", 1),
                       {&x});
  ASSERT_TRUE(v13.status.ok()) << v13.status.ToString();
  EXPECT_THAT(Floats(v13.out(0)), ElementsAre(0.5f, 0.5f, 0.5f, 0.5f));
  // Opset 11, axis 1: coerced to [1, 4], so each of the four gets a quarter.
  Ran v11 = LoadAndRun(NodeModel("Softmax", 11).Input("x", {1, 2, 2}).Output("y", 3).Int("axis", 1),
                       {&x});
  ASSERT_TRUE(v11.status.ok()) << v11.status.ToString();
  EXPECT_THAT(Floats(v11.out(0)), ElementsAre(0.25f, 0.25f, 0.25f, 0.25f));
}

TEST(SoftmaxTest, BadAxisIsInvalidArgument) {
  Tensor x = Tensor::FromVector(Shape{2, 3}, std::vector<float>(6, 1.0f));
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) {
    Ran r = LoadAndRun(NodeModel(op, 13).Input("x", {2, 3}).Output("y", 2).Int("axis", 2), {&x});
    EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument) << op;
    EXPECT_THAT(r.status.message(),
                HasSubstr("attribute 'axis' 2 is out of range for a tensor of rank 2"))
        << op;
  }
}

TEST(BatchNormTest, TrainingModeIsUnimplemented) {
  auto m = NodeModel("BatchNormalization", 15)
               .Input("x", {2, 1})
               .FloatConst("s", {1}, {1})
               .FloatConst("b", {1}, {0})
               .FloatConst("mean", {1}, {0})
               .FloatConst("var", {1}, {1})
               .Output("y", 2)
               .Output("running_mean", 1)
               .Output("running_var", 1)
               .Int("training_mode", 1)
               .Load();
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(m.status().message(), HasSubstr("training_mode=1"));
}

TEST(LayerNormTest, MeanAndInvStdDevOutputs) {
  Tensor x = Tensor::FromVector(Shape{2, 2}, std::vector<float>{1, 3, -2, 2});
  Ran r = LoadAndRun(NodeModel("LayerNormalization", 17)
                         .Input("x", {2, 2})
                         .FloatConst("scale", {2}, {1, 2})
                         .FloatConst("bias", {2}, {0, 1})
                         .Output("y", 2)
                         .Output("mean", 2)
                         .Output("inv_std", 2)
                         .Float("epsilon", 0.0f),
                     {&x});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_THAT(Floats(r.out(0)), ElementsAre(-1.0f, 3.0f, -1.0f, 3.0f));
  EXPECT_EQ(r.out(1).shape(), (Shape{2, 1}));
  EXPECT_THAT(Floats(r.out(1)), ElementsAre(2.0f, 0.0f));
  EXPECT_THAT(Floats(r.out(2)), ElementsAre(1.0f, 0.5f));
}

// ------------------------------------------------------------ reductions ---

TEST(ReduceTest, AxesInputAndNoop) {
  Tensor x = Tensor::FromVector(Shape{2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6});
  Ran cols = LoadAndRun(NodeModel("ReduceSum", 13)
                            .Input("x", {2, 3})
                            .IntConst("axes", {1}, {-2})
                            .Output("y", 1)
                            .Int("keepdims", 0),
                        {&x});
  ASSERT_TRUE(cols.status.ok()) << cols.status.ToString();
  EXPECT_EQ(cols.out(0).shape(), (Shape{3}));
  EXPECT_THAT(Floats(cols.out(0)), ElementsAre(5.0f, 7.0f, 9.0f));

  Ran noop = LoadAndRun(NodeModel("ReduceSum", 13)
                            .Input("x", {2, 3})
                            .IntConst("axes", {0}, {})
                            .Output("y", 2)
                            .Int("noop_with_empty_axes", 1),
                        {&x});
  ASSERT_TRUE(noop.status.ok()) << noop.status.ToString();
  EXPECT_EQ(noop.out(0).shape(), (Shape{2, 3}));
  EXPECT_THAT(Floats(noop.out(0)), ElementsAre(1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f));

  Ran all = LoadAndRun(NodeModel("ReduceLogSumExp", 13).Input("x", {2, 3}).Output("y", 2), {&x});
  ASSERT_TRUE(all.status.ok()) << all.status.ToString();
  EXPECT_EQ(all.out(0).shape(), (Shape{1, 1}));
  EXPECT_NEAR(all.out(0).data<float>()[0],
              std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0) + std::exp(4.0) +
                       std::exp(5.0) + std::exp(6.0)),
              1e-5);
}

TEST(ReduceTest, BadAxesAreInvalidArgument) {
  Tensor x = Tensor::FromVector(Shape{2, 3}, std::vector<float>(6, 1.0f));
  Ran dup = LoadAndRun(
      NodeModel("ReduceMax", 13).Input("x", {2, 3}).Output("y", 2).Ints("axes", {1, -1}), {&x});
  EXPECT_EQ(dup.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(dup.status.message(), HasSubstr("axes lists axis 1 twice"));
  Ran range = LoadAndRun(
      NodeModel("ReduceSum", 13).Input("x", {2, 3}).IntConst("axes", {1}, {2}).Output("y", 2),
      {&x});
  EXPECT_EQ(range.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(range.status.message(),
              HasSubstr("axes entry 2 is out of range for a tensor of rank 2"));
}

TEST(ArgMaxTest, TiesAndSelectLastIndex) {
  Tensor x = Tensor::FromVector(Shape{2, 3}, std::vector<float>{1, 5, 5, 7, 7, 2});
  Ran first = LoadAndRun(
      NodeModel("ArgMax", 13).Input("x", {2, 3}).Output("y", 2, kInt64).Int("axis", 1), {&x});
  ASSERT_TRUE(first.status.ok()) << first.status.ToString();
  EXPECT_EQ(first.out(0).shape(), (Shape{2, 1}));
  EXPECT_THAT(Int64s(first.out(0)), ElementsAre(1, 0));
  Ran last = LoadAndRun(NodeModel("ArgMax", 13)
                            .Input("x", {2, 3})
                            .Output("y", 2, kInt64)
                            .Int("axis", 1)
                            .Int("select_last_index", 1),
                        {&x});
  ASSERT_TRUE(last.status.ok()) << last.status.ToString();
  EXPECT_THAT(Int64s(last.out(0)), ElementsAre(2, 1));
  Ran bad = LoadAndRun(
      NodeModel("ArgMin", 13).Input("x", {2, 3}).Output("y", 2, kInt64).Int("axis", -3), {&x});
  EXPECT_EQ(bad.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status.message(), HasSubstr("attribute 'axis' -3 is out of range"));
}

TEST(TopKTest, EqualValuesKeepLowerIndexFirst) {
  Tensor x = Tensor::FromVector(Shape{1, 5}, std::vector<float>{3, 1, 3, 2, 3});
  Ran r = LoadAndRun(NodeModel("TopK", 11)
                         .Input("x", {1, 5})
                         .IntConst("k", {1}, {3})
                         .Output("v", 2)
                         .Output("i", 2, kInt64),
                     {&x});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_THAT(Floats(r.out(0)), ElementsAre(3.0f, 3.0f, 3.0f));
  EXPECT_THAT(Int64s(r.out(1)), ElementsAre(0, 2, 4));
  Ran smallest = LoadAndRun(NodeModel("TopK", 11)
                                .Input("x", {1, 5})
                                .IntConst("k", {1}, {2})
                                .Output("v", 2)
                                .Output("i", 2, kInt64)
                                .Int("largest", 0),
                            {&x});
  ASSERT_TRUE(smallest.status.ok()) << smallest.status.ToString();
  EXPECT_THAT(Int64s(smallest.out(1)), ElementsAreArray({1, 3}));
}

TEST(TopKTest, KLargerThanAxisIsInvalidArgument) {
  Tensor x = Tensor::FromVector(Shape{1, 5}, std::vector<float>(5, 0.0f));
  Ran r = LoadAndRun(NodeModel("TopK", 11)
                         .Input("x", {1, 5})
                         .IntConst("k", {1}, {6})
                         .Output("v", 2)
                         .Output("i", 2, kInt64),
                     {&x});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("K = 6 exceeds the size 5 of axis 1"));
}

}  // namespace
}  // namespace rtml::engine
