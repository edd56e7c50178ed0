#!/usr/bin/env bash
# Installs what is missing (apt), builds rtml and runs the whole test suite:
#   1. Debug build with AddressSanitizer + UndefinedBehaviorSanitizer: unit tests.
#   2. Release build (-Werror): every test, including the ONNX conformance run,
#      the converter-model checks and the end-to-end tests.
# The output ends with ctest's summary line of the Release run.
# Environment: JOBS (default: nproc), RTML_SKIP_ASAN=1 to skip step 1.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
JOBS=${JOBS:-$(nproc)}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}

if [[ "${RTML_SKIP_ASAN:-0}" != 1 ]]; then
  echo "== Debug + ASan/UBSan build: unit tests"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRTML_SANITIZE=ON -DRTML_WERROR=ON \
        -DRTML_BUILD_BENCH=OFF > /dev/null
  cmake --build build-asan -j"$JOBS" --target rtml_engine_tests rtml_model_tests rtml_data_tests rtml_training_tests rtml_pipeline_tests \
    rtml_condition_tests rtml_learning_tests rtml_delivery_tests rtml_fuzz_smoke
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$JOBS" -L unit
fi

echo "== Release build: full suite"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DRTML_WERROR=ON > /dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -j"$JOBS"
