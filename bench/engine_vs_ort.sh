#!/usr/bin/env bash
# Times rtml's engine and ONNX Runtime (onnxruntime-node, 1 thread) on the same
# converter-style models and requests, in one run, and prints a table with
# per-call p50 and the speed-up (ORT p50 / rtml p50).
#
#   bench/engine_vs_ort.sh [--seconds S] [--models DIR] [--filter REGEX]
#
# Needs: build/rtml (Release), node + npm (installs onnxruntime-node from the
# npm registry into bench/ort_reference on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=3
models=build/bench-models
filter='^bench_'
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --filter) filter=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x build/rtml ]] || { echo "build/rtml missing: build first (cmake --build build)" >&2; exit 1; }
if [[ ! -d bench/ort_reference/node_modules/onnxruntime-node ]]; then
  (cd bench/ort_reference && npm ci --silent)
fi
if [[ ! -f "$models/manifest.json" ]]; then
  /usr/bin/python3 tests/models/gen_models.py "$models" > /dev/null
fi

printf '%-22s %5s %12s %12s %12s %12s %8s\n' model batch rtml_p50_ns rtml_p99_ns ort_p50_ns ort_p99_ns speedup
for onnx in "$models"/*.onnx; do
  name=$(basename "$onnx" .onnx)
  [[ $name =~ $filter ]] || continue
  for b in b1 b64; do
    req="$models/$name.$b.json"
    [[ -f $req ]] || continue
    r=$(./build/rtml bench "$onnx" --request "$req" --seconds "$seconds")
    o=$(node bench/ort_reference/ort_bench.js "$onnx" --request "$req" --seconds "$seconds")
    /usr/bin/python3 - "$name" "$r" "$o" <<'PY'
import json, sys
name, r, o = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"{name:<22} {r['batch']:>5} {r['per_call_ns_p50']:>12} {r['per_call_ns_p99']:>12} "
      f"{o['per_call_ns_p50']:>12} {o['per_call_ns_p99']:>12} {o['per_call_ns_p50']/max(r['per_call_ns_p50'],1):>7.1f}x")
PY
  done
done
