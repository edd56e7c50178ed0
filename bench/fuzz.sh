#!/usr/bin/env bash
# Coverage-guided fuzzing of rtml's parsers and loaders with libFuzzer.
#
#   bench/fuzz.sh [--seconds 60] [--target all|NAME[,NAME...]] [--jobs N] [--build-dir build-fuzz]
#
# Configures a separate clang build (build-fuzz: CXX=clang++-14, RTML_FUZZ=ON,
# ASan + UBSan + libFuzzer), builds one rtml_fuzz_<target> per target
# (tests/fuzz/fuzz_targets.h) and runs each for --seconds on a scratch copy of
# its seed corpus (tests/fuzz/corpus/<target> is never written). Prints one
# line per target with executions, exec/s, corpus size and the result; on a
# crash, leak, timeout or OOM prints the reproducer path and exits 1.
# Replay a reproducer: build-fuzz/fuzz/rtml_fuzz_<target> <file>; then add it
# to tests/fuzz/corpus/<target>/ so rtml_fuzz_smoke (ctest) replays it.
# Exit codes: 0 clean, 1 a target failed, 2 missing tools.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=60
TARGETS=all
JOBS=${JOBS:-$(nproc)}
BUILD_DIR=build-fuzz
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_PER_TARGET=$2; shift 2 ;;
    --target) TARGETS=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds 60] [--target all|NAME[,NAME...]] [--jobs N] [--build-dir build-fuzz]" >&2; exit 2 ;;
  esac
done

ALL_TARGETS="onnx_model kserve_request row_request pipeline condition activity schema_record learner_snapshot features_json"
[[ "$TARGETS" == all ]] && TARGETS=$ALL_TARGETS
TARGETS=${TARGETS//,/ }

CXX_BIN=${CXX:-clang++-14}
if ! command -v "$CXX_BIN" > /dev/null; then
  echo "fuzz.sh: $CXX_BIN not found; install: apt-get install clang libclang-rt-14-dev" >&2
  exit 2
fi
RESOURCE_DIR=$("$CXX_BIN" -print-resource-dir)
if ! ls "$RESOURCE_DIR"/lib/linux/libclang_rt.fuzzer-x86_64.a > /dev/null 2>&1; then
  echo "fuzz.sh: libFuzzer runtime missing under $RESOURCE_DIR; install: apt-get install libclang-rt-14-dev" >&2
  exit 2
fi

export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
echo "== configure $BUILD_DIR ($CXX_BIN, RTML_FUZZ=ON)"
mkdir -p "$BUILD_DIR"
CXX=$CXX_BIN cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTML_FUZZ=ON \
  -DRTML_BUILD_TESTS=OFF -DRTML_BUILD_BENCH=OFF > "$BUILD_DIR/fuzz-configure.log" 2>&1 ||
  { cat "$BUILD_DIR/fuzz-configure.log" >&2; exit 1; }
build_targets=()
for t in $TARGETS; do build_targets+=("rtml_fuzz_$t"); done
echo "== build ${build_targets[*]}"
cmake --build "$BUILD_DIR" -j"$JOBS" --target "${build_targets[@]}" > "$BUILD_DIR/fuzz-build.log" 2>&1 ||
  { tail -50 "$BUILD_DIR/fuzz-build.log" >&2; exit 1; }

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/rtml-fuzz.XXXXXX")
echo "== scratch corpora and logs under $SCRATCH; ${SECONDS_PER_TARGET}s per target; load: $(cut -d' ' -f1-3 /proc/loadavg)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
for t in $TARGETS; do
  work=$SCRATCH/$t
  mkdir -p "$work/corpus" "$work/artifacts"
  cp tests/fuzz/corpus/"$t"/* "$work/corpus/"
  log=$work/fuzz.log
  set +e
  "$BUILD_DIR/fuzz/rtml_fuzz_$t" "$work/corpus" -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 \
    -timeout=10 -rss_limit_mb=2560 -print_final_stats=1 -artifact_prefix="$work/artifacts/" > "$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -oP 'stat::number_of_executed_units:\s*\K[0-9]+' "$log" | tail -1 || true)
  rate=$(grep -oP 'exec/s:\s*\K[0-9]+' "$log" | tail -1 || true)
  cov=$(grep -oP '\bcov: \K[0-9]+' "$log" | tail -1 || true)
  files=$(ls "$work/corpus" | wc -l)
  if [[ $rc -eq 0 ]]; then
    printf '%-17s %10s execs %7s exec/s  cov %6s  corpus %5s  ok\n' "$t" "$execs" "${rate:-?}" "${cov:-?}" "$files"
  else
    failed=1
    repro=$(ls "$work/artifacts"/* 2> /dev/null | head -1 || true)
    kind=$(grep -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|UndefinedBehaviorSanitizer)[^(]*|runtime error:.*|fuzz invariant failed.*|deadly signal|timeout|out-of-memory' "$log" | head -1 || true)
    printf '%-17s %10s execs %7s exec/s  FAILED (%s)\n' "$t" "$execs" "${rate:-?}" "${kind:-exit $rc}"
    echo "    reproducer: ${repro:-none}   log: $log"
    echo "    replay:     $BUILD_DIR/fuzz/rtml_fuzz_$t ${repro:-<file>}"
  fi
done
exit $failed
