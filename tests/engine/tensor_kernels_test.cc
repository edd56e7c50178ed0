// Tensor / data-movement kernels: bad input must fail with the right status
// code and a message naming the problem, never crash; a few edge cases of
// valid input (negative steps, negative indices, string casts) are checked
// by value. Each test builds a one-node ONNX model with the protobuf API and
// loads it through the public engine::Model interface.
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "engine/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"

namespace rtml::engine {
namespace {

using ::testing::HasSubstr;

// Builds a single-node model. Inputs added with Input() are fed at Run time;
// Const() inputs are initializers (compile-time constants).
class OneNodeModel {
 public:
  OneNodeModel(const std::string& op, int opset) {
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

  OneNodeModel& Input(const std::string& name, int elem_type, const std::vector<int64_t>& dims) {
    auto* vi = graph_->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem_type);
    tt->mutable_shape();  // a scalar still has an (empty) shape
    for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
    node_->add_input(name);
    return *this;
  }
  OneNodeModel& Const(const std::string& name, const std::vector<int64_t>& dims, const std::vector<int64_t>& values) {
    auto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    for (int64_t d : dims) t->add_dims(d);
    for (int64_t v : values) t->add_int64_data(v);
    node_->add_input(name);
    return *this;
  }
  OneNodeModel& NoInput() {
    node_->add_input("");
    return *this;
  }
  // The checker wants a typed, shaped output; symbolic dims of `rank`.
  OneNodeModel& Output(const std::string& name = "y", int elem_type = onnx::TensorProto::FLOAT, int rank = 1) {
    auto* vi = graph_->add_output();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem_type);
    auto* shape = tt->mutable_shape();
    for (int i = 0; i < rank; ++i) shape->add_dim()->set_dim_param("d" + std::to_string(i));
    node_->add_output(name);
    return *this;
  }
  OneNodeModel& Int(const std::string& name, int64_t v) {
    auto* a = Attr(name, onnx::AttributeProto::INT);
    a->set_i(v);
    return *this;
  }
  OneNodeModel& Ints(const std::string& name, const std::vector<int64_t>& v) {
    auto* a = Attr(name, onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
    return *this;
  }
  OneNodeModel& Str(const std::string& name, const std::string& v) {
    auto* a = Attr(name, onnx::AttributeProto::STRING);
    a->set_s(v);
    return *this;
  }
  onnx::AttributeProto* Attr(const std::string& name, onnx::AttributeProto::AttributeType type) {
    auto* a = node_->add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
  }

  StatusOr<std::unique_ptr<Model>> Load() const { return Model::Load(model_.SerializeAsString()); }

 private:
  onnx::ModelProto model_;
  onnx::GraphProto* graph_;
  onnx::NodeProto* node_;
};

// Loads the model and runs it once on `inputs`; returns the status of
// whichever step failed, and the first output on success.
struct RunResult {
  Status status;
  Tensor output;
};

RunResult LoadAndRun(const OneNodeModel& m, const std::vector<const Tensor*>& inputs) {
  RunResult r;
  auto model = m.Load();
  if (!model.ok()) {
    r.status = model.status();
    return r;
  }
  auto ctx = (*model)->NewContext();
  r.status = (*model)->Run(*ctx, inputs);
  if (r.status.ok()) {
    Status copy = r.output.CopyFrom(ctx->output(0));
    EXPECT_TRUE(copy.ok());
  }
  return r;
}

constexpr int kFloat = onnx::TensorProto::FLOAT;
constexpr int kInt64 = onnx::TensorProto::INT64;
constexpr int kString = onnx::TensorProto::STRING;

Tensor Floats(const Shape& shape, const std::vector<float>& v) { return Tensor::FromVector<float>(shape, v); }
Tensor Int64s(const Shape& shape, const std::vector<int64_t>& v) { return Tensor::FromVector<int64_t>(shape, v); }

std::vector<float> FloatValues(const Tensor& t) {
  auto s = t.values<float>();
  return {s.begin(), s.end()};
}

// ---------------------------------------------------------------- Gather ---

TEST(TensorKernelsTest, GatherRejectsOutOfRangeIndex) {
  OneNodeModel m("Gather", 13);
  m.Input("data", kFloat, {3}).Const("indices", {2}, {1, 5}).Output();
  Tensor data = Floats({3}, {1, 2, 3});
  RunResult r = LoadAndRun(m, {&data});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("node 'n' (Gather)"));
  EXPECT_THAT(r.status.message(), HasSubstr("input 'indices' value 5 is out of range for axis 0 of size 3"));
}

TEST(TensorKernelsTest, GatherAcceptsNegativeIndex) {
  OneNodeModel m("Gather", 13);
  m.Input("data", kFloat, {3}).Const("indices", {2}, {-1, 0}).Output();
  Tensor data = Floats({3}, {1, 2, 3});
  RunResult r = LoadAndRun(m, {&data});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(FloatValues(r.output), (std::vector<float>{3, 1}));
}

TEST(TensorKernelsTest, GatherRejectsBadAxis) {
  OneNodeModel m("Gather", 13);
  m.Input("data", kFloat, {2, 2}).Const("indices", {1}, {0}).Int("axis", 3).Output("y", kFloat, 2);
  Tensor data = Floats({2, 2}, {1, 2, 3, 4});
  RunResult r = LoadAndRun(m, {&data});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("axis 3 is out of range for a tensor of rank 2"));
}

TEST(TensorKernelsTest, GatherNDAndScatterElementsRejectOutOfRangeIndices) {
  OneNodeModel g("GatherND", 13);
  g.Input("data", kFloat, {2, 2}).Const("indices", {1, 2}, {0, 2}).Output();
  Tensor data = Floats({2, 2}, {1, 2, 3, 4});
  RunResult r = LoadAndRun(g, {&data});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("value 2 is out of range for axis 1 of size 2"));

  OneNodeModel s("ScatterElements", 13);
  s.Input("data", kFloat, {3}).Const("indices", {1}, {-4}).Input("updates", kFloat, {1}).Output();
  Tensor d3 = Floats({3}, {0, 0, 0});
  Tensor upd = Floats({1}, {7});
  r = LoadAndRun(s, {&d3, &upd});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("value -4 is out of range for axis 0 of size 3"));
}

// --------------------------------------------------------------- Reshape ---

TEST(TensorKernelsTest, ReshapeRejectsIncompatibleShape) {
  OneNodeModel m("Reshape", 14);
  m.Input("data", kFloat, {2, 3}).Const("shape", {2}, {4, -1}).Output("y", kFloat, 2);
  Tensor data = Floats({2, 3}, {0, 1, 2, 3, 4, 5});
  RunResult r = LoadAndRun(m, {&data});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("Reshape: cannot reshape [2,3] (6 elements) into [4,-1]"));
}

TEST(TensorKernelsTest, ReshapeRejectsTwoInferredDimsAndZeroWithAllowZero) {
  Tensor data = Floats({2, 3}, {0, 1, 2, 3, 4, 5});
  OneNodeModel two("Reshape", 14);
  two.Input("data", kFloat, {2, 3}).Const("shape", {2}, {-1, -1}).Output("y", kFloat, 2);
  RunResult r = LoadAndRun(two, {&data});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("more than one dimension is -1"));

  OneNodeModel zero("Reshape", 14);
  zero.Input("data", kFloat, {2, 3}).Const("shape", {2}, {0, -1}).Int("allowzero", 1).Output("y", kFloat, 2);
  r = LoadAndRun(zero, {&data});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("both 0 and -1"));
}

TEST(TensorKernelsTest, ReshapeFoldsConstantsAtLoad) {
  // All inputs constant: the error surfaces when the model is loaded.
  OneNodeModel m("Reshape", 14);
  m.Const("data", {4}, {1, 2, 3, 4}).Const("shape", {1}, {3}).Output("y", kInt64);
  auto model = m.Load();
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("cannot reshape [4] (4 elements) into [3]"));
}

// ------------------------------------------------- axes and shape lists ---

TEST(TensorKernelsTest, ConcatRejectsBadAxisAndMismatchedShapes) {
  Tensor a = Floats({2, 2}, {1, 2, 3, 4});
  Tensor b = Floats({2, 3}, {1, 2, 3, 4, 5, 6});
  OneNodeModel axis("Concat", 13);
  axis.Input("a", kFloat, {2, 2}).Input("b", kFloat, {2, 2}).Int("axis", 3).Output("y", kFloat, 2);
  RunResult r = LoadAndRun(axis, {&a, &a});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("axis 3 is out of range for a tensor of rank 2"));

  OneNodeModel shapes("Concat", 13);
  shapes.Input("a", kFloat, {2, 2}).Input("b", kFloat, {2, 3}).Int("axis", 0).Output("y", kFloat, 2);
  r = LoadAndRun(shapes, {&a, &b});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("input 1 has shape [2,3], which does not match input 0 [2,2]"));
}

TEST(TensorKernelsTest, SqueezeAndUnsqueezeValidateAxes) {
  Tensor x = Floats({2, 1}, {1, 2});
  OneNodeModel sq("Squeeze", 13);
  sq.Input("x", kFloat, {2, 1}).Const("axes", {1}, {0}).Output();
  RunResult r = LoadAndRun(sq, {&x});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("cannot squeeze axis 0 of size 2"));

  OneNodeModel dup("Unsqueeze", 13);
  dup.Input("x", kFloat, {2, 1}).Const("axes", {2}, {0, -4}).Output("y", kFloat, 4);
  r = LoadAndRun(dup, {&x});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("input 'axes' repeats axis 0"));

  OneNodeModel far("Unsqueeze", 13);
  far.Input("x", kFloat, {2, 1}).Const("axes", {1}, {5}).Output("y", kFloat, 3);
  r = LoadAndRun(far, {&x});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("input 'axes' entry 5 is out of range for a tensor of rank 3"));

  OneNodeModel deep("Unsqueeze", 13);
  deep.Input("x", kFloat, {2, 1}).Const("axes", {7}, {0, 1, 2, 3, 4, 5, 6}).Output("y", kFloat, 9);
  r = LoadAndRun(deep, {&x});
  EXPECT_EQ(r.status.code(), StatusCode::kUnimplemented);
  EXPECT_THAT(r.status.message(), HasSubstr("rank 9"));
}

TEST(TensorKernelsTest, TransposeRejectsNonPermutationAtLoad) {
  OneNodeModel m("Transpose", 13);
  m.Input("x", kFloat, {2, 2}).Ints("perm", {0, 0}).Output("y", kFloat, 2);
  auto model = m.Load();
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("attribute 'perm' [0,0] is not a permutation"));
}

// ----------------------------------------------------------------- Slice ---

TEST(TensorKernelsTest, SliceHandlesNegativeStepsAndExtremeEnds) {
  OneNodeModel m("Slice", 13);
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  m.Input("x", kFloat, {10}).Const("starts", {1}, {-1}).Const("ends", {1}, {kMin}).NoInput()
      .Const("steps", {1}, {-3}).Output();
  Tensor x = Floats({10}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  RunResult r = LoadAndRun(m, {&x});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(FloatValues(r.output), (std::vector<float>{9, 6, 3, 0}));
}

TEST(TensorKernelsTest, SliceRejectsZeroStepAndMismatchedLists) {
  Tensor x = Floats({4}, {0, 1, 2, 3});
  OneNodeModel zero("Slice", 13);
  zero.Input("x", kFloat, {4}).Const("starts", {1}, {0}).Const("ends", {1}, {4}).Const("axes", {1}, {0})
      .Const("steps", {1}, {0}).Output();
  RunResult r = LoadAndRun(zero, {&x});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("input 'steps' entry 0 is 0"));

  OneNodeModel lists("Slice", 13);
  lists.Input("x", kFloat, {4}).Const("starts", {1}, {0}).Const("ends", {2}, {4, 4}).Output();
  r = LoadAndRun(lists, {&x});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("input 'ends' has 2 entries but input 'starts' has 1"));
}

TEST(TensorKernelsTest, SplitRejectsSizesThatDoNotCoverTheAxis) {
  OneNodeModel m("Split", 13);
  m.Input("x", kFloat, {3}).Const("split", {2}, {1, 1}).Output("a").Output("b");
  Tensor x = Floats({3}, {1, 2, 3});
  RunResult r = LoadAndRun(m, {&x});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("'split' entries sum to 2 but axis 0 has size 3"));
}

// ------------------------------------------------------------------ Cast ---

TEST(TensorKernelsTest, CastStringsFollowTheSpec) {
  OneNodeModel to_float("Cast", 13);
  to_float.Input("x", kString, {4}).Int("to", kFloat).Output();
  Tensor s = Tensor::FromVector<std::string>({4}, {"1.5", "-INF", "nan", "1e-2"});
  RunResult r = LoadAndRun(to_float, {&s});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.output.data<float>()[0], 1.5f);
  EXPECT_EQ(r.output.data<float>()[1], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(r.output.data<float>()[2]));
  EXPECT_EQ(r.output.data<float>()[3], 0.01f);

  Tensor bad = Tensor::FromVector<std::string>({4}, {"1", "2", "abc", "4"});
  r = LoadAndRun(to_float, {&bad});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("cannot convert string 'abc' (element 2) to FP32"));

  OneNodeModel to_string("Cast", 13);
  to_string.Input("x", kFloat, {3}).Int("to", kString).Output("y", kString);
  Tensor f = Floats({3}, {0.1f, std::numeric_limits<float>::infinity(), -2.0f});
  r = LoadAndRun(to_string, {&f});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.output.data<std::string>()[0], "0.1");
  EXPECT_EQ(r.output.data<std::string>()[1], "INF");
  EXPECT_EQ(r.output.data<std::string>()[2], "-2");
}

TEST(TensorKernelsTest, CastFloatToIntTruncatesAndUnsupportedTypeIsUnimplemented) {
  OneNodeModel m("Cast", 13);
  m.Input("x", kFloat, {3}).Int("to", kInt64).Output("y", kInt64);
  Tensor f = Floats({3}, {-2.7f, 2.7f, 1e30f});
  RunResult r = LoadAndRun(m, {&f});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.output.data<int64_t>()[0], -2);
  EXPECT_EQ(r.output.data<int64_t>()[1], 2);
  EXPECT_EQ(r.output.data<int64_t>()[2], std::numeric_limits<int64_t>::max());  // saturates

  OneNodeModel half("Cast", 13);
  half.Input("x", kFloat, {3}).Int("to", onnx::TensorProto::FLOAT16).Output("y", onnx::TensorProto::FLOAT16);
  auto model = half.Load();
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(model.status().message(), HasSubstr("Cast to FLOAT16 is not supported"));
}

// -------------------------------------------------- sizes from tensors ---

TEST(TensorKernelsTest, ShapesFromTensorsAreValidated) {
  Tensor x = Floats({3}, {1, 2, 3});
  OneNodeModel expand("Expand", 13);
  expand.Input("x", kFloat, {3}).Const("shape", {1}, {2}).Output();
  RunResult r = LoadAndRun(expand, {&x});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("cannot be broadcast"));

  OneNodeModel tile("Tile", 13);
  tile.Input("x", kFloat, {3}).Const("repeats", {1}, {-2}).Output();
  r = LoadAndRun(tile, {&x});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("'repeats' entry 0 is negative"));

  OneNodeModel pad("Pad", 13);
  pad.Input("x", kFloat, {3}).Const("pads", {2}, {-2, -2}).Output();
  r = LoadAndRun(pad, {&x});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("negative size"));

  OneNodeModel cos("ConstantOfShape", 9);
  cos.Input("shape", kInt64, {2}).Output("y", kFloat, 2);
  Tensor negative = Int64s({2}, {2, -1});
  r = LoadAndRun(cos, {&negative});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("input 'input': negative dimension -1"));
  Tensor huge = Int64s({2}, {int64_t{1} << 31, int64_t{1} << 31});
  r = LoadAndRun(cos, {&huge});
  EXPECT_EQ(r.status.code(), StatusCode::kTooLarge);
}

TEST(TensorKernelsTest, RangeAndOneHotValidateScalars) {
  OneNodeModel range("Range", 11);
  range.Input("start", kInt64, {}).Input("limit", kInt64, {}).Input("delta", kInt64, {}).Output("y", kInt64);
  Tensor s = Int64s({}, {0}), l = Int64s({}, {10}), zero = Int64s({}, {0});
  RunResult r = LoadAndRun(range, {&s, &l, &zero});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("input 'delta' must not be 0"));

  OneNodeModel onehot("OneHot", 11);
  onehot.Input("indices", kInt64, {2}).Input("depth", kInt64, {}).Input("values", kFloat, {2}).Output("y", kFloat, 2);
  Tensor idx = Int64s({2}, {0, 1}), depth = Int64s({}, {0});
  Tensor values = Floats({2}, {0, 1});
  r = LoadAndRun(onehot, {&idx, &depth, &values});
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("input 'depth' must be a positive number"));
}

// ---------------------------------------------- unsupported features ---

TEST(TensorKernelsTest, UnsupportedFeaturesAreUnimplemented) {
  OneNodeModel sparse("Constant", 13);
  sparse.Output();
  auto* a = sparse.Attr("sparse_value", onnx::AttributeProto::SPARSE_TENSOR);
  auto* st = a->mutable_sparse_tensor();
  st->add_dims(4);
  st->mutable_values()->set_data_type(kFloat);
  st->mutable_values()->add_dims(1);
  st->mutable_values()->add_float_data(1.0f);
  st->mutable_indices()->set_data_type(kInt64);
  st->mutable_indices()->add_dims(1);
  st->mutable_indices()->add_int64_data(2);
  auto model = sparse.Load();
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(model.status().message(), HasSubstr("sparse_value"));

  OneNodeModel dropout("Dropout", 13);
  dropout.Input("x", kFloat, {2}).Input("ratio", kFloat, {}).Input("training_mode", onnx::TensorProto::BOOL, {})
      .Output();
  Tensor x = Floats({2}, {1, 2});
  Tensor ratio = Floats({}, {0.5f});
  Tensor training = Tensor::FromVector<bool>({}, {true});
  RunResult r = LoadAndRun(dropout, {&x, &ratio, &training});
  EXPECT_EQ(r.status.code(), StatusCode::kUnimplemented);
  EXPECT_THAT(r.status.message(), HasSubstr("'seed'"));

  // Inference mode (or ratio 0) is the identity.
  Tensor no = Tensor::FromVector<bool>({}, {false});
  r = LoadAndRun(dropout, {&x, &ratio, &no});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(FloatValues(r.output), (std::vector<float>{1, 2}));
}

}  // namespace
}  // namespace rtml::engine
