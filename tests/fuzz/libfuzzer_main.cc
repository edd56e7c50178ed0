// libFuzzer entry point: compiled once per target with
// -DRTML_FUZZ_TARGET_NAME="<target>" (tests/fuzz/fuzz.cmake, RTML_FUZZ=ON).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const rtml::fuzz::FuzzFunction fn = [] {
    const rtml::fuzz::FuzzTarget* t = rtml::fuzz::FindTarget(RTML_FUZZ_TARGET_NAME);
    if (t == nullptr) {
      std::fprintf(stderr, "unknown fuzz target %s\n", RTML_FUZZ_TARGET_NAME);
      std::abort();
    }
    return t->function;
  }();
  return fn(data, size);
}
