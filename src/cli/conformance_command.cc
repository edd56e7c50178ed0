// `rtml conformance DIR`: runs ONNX backend test cases (model.onnx plus
// test_data_set_*/input_*.pb and output_*.pb) and compares outputs.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "engine/internal/onnx_tensor.h"
#include "engine/model.h"

namespace rtml::cli {
namespace {

namespace fs = std::filesystem;
using engine::DataType;
using engine::Tensor;

constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-5;

enum class Outcome { kPass, kFail, kSkip };

struct CaseResult {
  Outcome outcome = Outcome::kPass;
  std::string reason;
};

StatusOr<Tensor> ReadTensorFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot open " + path.string());
  std::ostringstream buf;
  buf << in.rdbuf();
  const std::string bytes = buf.str();
  onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes) || (proto.dims_size() == 0 && proto.data_type() == 0)) {
    return UnimplementedError(path.filename().string() + " is not a plain tensor (sequence or optional)");
  }
  return engine::internal::TensorFromProto(proto);
}

template <typename T>
bool CloseFloat(T got, T want) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::abs(static_cast<double>(got) - static_cast<double>(want)) <=
         kAtol + kRtol * std::abs(static_cast<double>(want));
}

std::string Compare(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype()) {
    return "datatype " + std::string(engine::DataTypeName(got.dtype())) + ", expected " +
           std::string(engine::DataTypeName(want.dtype()));
  }
  if (got.shape() != want.shape()) {
    return "shape " + got.shape().ToString() + ", expected " + want.shape().ToString();
  }
  for (int64_t i = 0; i < want.size(); ++i) {
    bool ok = true;
    std::string g, w;
    switch (want.dtype()) {
      case DataType::kFloat:
        ok = CloseFloat(got.data<float>()[i], want.data<float>()[i]);
        g = std::to_string(got.data<float>()[i]);
        w = std::to_string(want.data<float>()[i]);
        break;
      case DataType::kDouble:
        ok = CloseFloat(got.data<double>()[i], want.data<double>()[i]);
        g = std::to_string(got.data<double>()[i]);
        w = std::to_string(want.data<double>()[i]);
        break;
      case DataType::kString:
        ok = got.data<std::string>()[i] == want.data<std::string>()[i];
        g = got.data<std::string>()[i];
        w = want.data<std::string>()[i];
        break;
      default: {
        const size_t sz = engine::SizeOf(want.dtype());
        ok = std::equal(static_cast<const char*>(got.raw_data()) + i * static_cast<int64_t>(sz),
                        static_cast<const char*>(got.raw_data()) + (i + 1) * static_cast<int64_t>(sz),
                        static_cast<const char*>(want.raw_data()) + i * static_cast<int64_t>(sz));
        g = "(bits differ)";
        break;
      }
    }
    if (!ok) return "element " + std::to_string(i) + " is " + g + ", expected " + w;
  }
  return "";
}

CaseResult RunCase(const fs::path& dir) {
  std::ifstream file(dir / "model.onnx", std::ios::binary);
  std::ostringstream bytes;
  bytes << file.rdbuf();
  engine::LoadOptions load_options;
  load_options.name = dir.filename().string();
  auto model_or = engine::Model::Load(bytes.str(), load_options);
  if (!model_or.ok()) {
    if (model_or.status().code() == StatusCode::kUnimplemented) {
      return {Outcome::kSkip, model_or.status().message()};
    }
    return {Outcome::kFail, "load: " + model_or.status().message()};
  }
  const engine::Model& model = **model_or;
  auto ctx = model.NewContext();
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
  }
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) return {Outcome::kSkip, "no test_data_set_* directories"};
  for (const auto& set : sets) {
    std::vector<Tensor> inputs;
    for (size_t i = 0; i < model.inputs().size(); ++i) {
      auto t = ReadTensorFile(set / ("input_" + std::to_string(i) + ".pb"));
      if (!t.ok()) {
        return {t.status().code() == StatusCode::kUnimplemented ? Outcome::kSkip : Outcome::kFail,
                t.status().message()};
      }
      inputs.push_back(std::move(*t));
    }
    std::vector<const Tensor*> ptrs;
    for (const auto& t : inputs) ptrs.push_back(&t);
    Status st = model.Run(*ctx, ptrs);
    if (!st.ok()) {
      if (st.code() == StatusCode::kUnimplemented) return {Outcome::kSkip, st.message()};
      return {Outcome::kFail, set.filename().string() + ": run: " + st.message()};
    }
    for (size_t o = 0; o < model.outputs().size(); ++o) {
      auto want = ReadTensorFile(set / ("output_" + std::to_string(o) + ".pb"));
      if (!want.ok()) {
        return {want.status().code() == StatusCode::kUnimplemented ? Outcome::kSkip : Outcome::kFail,
                want.status().message()};
      }
      const std::string diff = Compare(ctx->output(static_cast<int>(o)), *want);
      if (!diff.empty()) {
        return {Outcome::kFail, set.filename().string() + ": output '" + model.outputs()[o].name + "': " + diff};
      }
    }
  }
  return {Outcome::kPass, ""};
}

}  // namespace

int ConformanceCommand(const ConformanceOptions& o) {
  std::vector<fs::path> cases;
  std::error_code ec;
  if (!fs::is_directory(o.dir, ec)) {
    std::fprintf(stderr, "rtml: '%s' is not a directory\n", o.dir.c_str());
    return 1;
  }
  for (auto it = fs::recursive_directory_iterator(o.dir, ec); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_regular_file() && it->path().filename() == "model.onnx") {
      const std::string name = it->path().parent_path().filename().string();
      if (o.filter.empty() || name.find(o.filter) != std::string::npos) cases.push_back(it->path().parent_path());
    }
  }
  std::sort(cases.begin(), cases.end());
  int passed = 0, failed = 0, skipped = 0;
  for (const auto& dir : cases) {
    const std::string name = dir.filename().string();
    CaseResult r = RunCase(dir);
    switch (r.outcome) {
      case Outcome::kPass:
        ++passed;
        if (o.verbose) std::printf("PASS %s\n", name.c_str());
        break;
      case Outcome::kFail:
        ++failed;
        std::printf("FAIL %s: %s\n", name.c_str(), r.reason.c_str());
        break;
      case Outcome::kSkip:
        ++skipped;
        std::printf("SKIP %s: %s\n", name.c_str(), r.reason.c_str());
        break;
    }
  }
  std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (passed < o.min_passed) {
    std::fprintf(stderr, "rtml: only %d cases passed; at least %d are required\n", passed, o.min_passed);
    return 1;
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace rtml::cli
