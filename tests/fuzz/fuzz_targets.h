// Fuzz targets for rtml's parsers and loaders (SPEC section 7: "parsers and
// loaders are fuzzed"). Each target has libFuzzer's contract: it takes any
// byte string, returns 0, and must never crash, hang or leak. A target aborts
// (FuzzCheck) only when a real invariant breaks, e.g. an object that parsed
// successfully does not round-trip through its canonical form.
//
// The same functions are driven by rtml_fuzz_smoke (a deterministic mutation
// loop over the seed corpus, run by ctest) and, with -DRTML_FUZZ=ON and clang,
// by one libFuzzer binary per target (bench/fuzz.sh).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rtml::fuzz {

int FuzzOnnxModel(const uint8_t* data, size_t size);
int FuzzKServeRequest(const uint8_t* data, size_t size);
int FuzzRowRequest(const uint8_t* data, size_t size);
int FuzzPipeline(const uint8_t* data, size_t size);
int FuzzCondition(const uint8_t* data, size_t size);
int FuzzActivity(const uint8_t* data, size_t size);
int FuzzSchemaRecord(const uint8_t* data, size_t size);
int FuzzLearnerSnapshot(const uint8_t* data, size_t size);
int FuzzFeaturesJson(const uint8_t* data, size_t size);

using FuzzFunction = int (*)(const uint8_t* data, size_t size);

struct FuzzTarget {
  std::string_view name;  // also the corpus folder: tests/fuzz/corpus/<name>
  FuzzFunction function;
  bool json;  // input is JSON text (the smoke driver adds JSON-aware mutations)
};

// Every target, in a fixed order.
std::span<const FuzzTarget> AllTargets();
const FuzzTarget* FindTarget(std::string_view name);

// Valid inputs built in code, added to the on-disk corpus (learner snapshots,
// whose binary format belongs to the C++ code). Empty for most targets.
std::vector<std::string> BuiltinSeeds(std::string_view target);

}  // namespace rtml::fuzz
