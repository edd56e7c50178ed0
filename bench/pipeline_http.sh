#!/usr/bin/env bash
# Row predict through a pipeline service over HTTP: the demo data's 10-node
# feature pipeline (tools/demo_data.py: lower, one_hot, top_k, days_since,
# log1p, fillna, mul, concat) in front of a 100-tree GBDT that rtml itself
# trains (POST /v1/training-runs, num_round=100, eta 0.05, no early stopping,
# max_depth 3, exported to ONNX TreeEnsembleClassifier), deployed with
# {"training_run": id} and served by `rtml serve --threads 1`. wrk posts
# one-instance row-predict bodies of raw customer records (cycling through
# 256 different customers). Prints requests/s, wrk p50/p99 (round trip) and
# the server time of the same requests: mean and p50 from /metrics
# (rtml_service_latency_seconds, phase total and per phase, differenced
# around the run) and the gallery's finer p50 (GET /v1/services/{name}).
# SPEC target: p50 server time under 100 us. Then runs the in-process
# benchmark build/bench/rtml_pipeline_bench (target: under 5 us per row).
#
#   bench/pipeline_http.sh [--duration 10s] [--connections 8] [--wrk-threads 1] [--customers 20000]
#                          [--rtml build/rtml] [--no-pin] [--no-inprocess]
#
# By default the server runs on CPU 0 and wrk on CPU 1 (taskset).
# Needs: build/rtml (Release), wrk, curl, /usr/bin/python3 (+ python3-onnx to count the trees).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10s
conns=8
wrk_threads=1
customers=20000
rtml=build/rtml
pin=1
inprocess=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --wrk-threads) wrk_threads=$2; shift 2 ;;
    --customers) customers=$2; shift 2 ;;
    --rtml) rtml=$2; shift 2 ;;
    --no-pin) pin=0; shift ;;
    --no-inprocess) inprocess=0; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
for tool in wrk curl; do
  command -v "$tool" > /dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
[[ -x $rtml ]] || { echo "$rtml missing: build first (cmake --build build --target rtml)" >&2; exit 1; }
source bench/lib.sh
bench_init rtml-bench-pipeline  # pinning, $tmp, $pids, cleanup on exit

# ---- demo data: the snapshot rows, their schema, the pipeline and 256 predict bodies.
/usr/bin/python3 - "$tmp" "$customers" << 'EOF'
import json, os, sys
sys.path.insert(0, "tools")
import demo_data
out, n = sys.argv[1], int(sys.argv[2])
d = demo_data.generate(n, seed=1)  # now: the current hour, so days_since sees realistic recency
with open(os.path.join(out, "customers.ndjson"), "w") as f:
    for c in d.customers:
        f.write(json.dumps(c, separators=(",", ":")) + "\n")
json.dump(d.schemas["customer_snapshot"], open(os.path.join(out, "schema.json"), "w"))
json.dump({"model": "churn", "dataset": "customers", "label": "churned", "algorithm": "gbdt",
           "pipeline": d.pipeline, "params": {"num_round": 100, "early_stopping_rounds": 0, "max_depth": 3, "eta": 0.05}},
          open(os.path.join(out, "train.json"), "w"))
names = [i["name"] for i in d.pipeline["inputs"]]
with open(os.path.join(out, "bodies.txt"), "w") as f:
    for c in d.customers[:256]:
        f.write(json.dumps({"instances": [{k: c[k] for k in names if k in c}]}, separators=(",", ":")) + "\n")
print("demo data: %d customers, Bayes AUC %.4f" % (n, d.truth["bayes_auc"]))
EOF

# ---- rtml: one server thread; ingest, train (100 trees), deploy the run.
port=$(free_port)
base="http://127.0.0.1:$port"
"${server_cpu[@]}" "$rtml" serve --data-dir "$tmp/data" --listen "127.0.0.1:$port" --threads 1 > "$tmp/rtml.log" 2>&1 &
pids+=($!)
wait_http "$base/v2/health/ready"
key=$(cat "$tmp/data/admin.key")
auth="Authorization: Bearer $key"
api() {  # METHOD PATH [curl args...]
  local m=$1 p=$2; shift 2
  curl -sf -H "$auth" -H 'Content-Type: application/json' -X "$m" "$base$p" "$@"
}
api PUT /v1/schemas/customer_snapshot --data-binary "@$tmp/schema.json" > /dev/null
api PUT /v1/datasets/customers -d '{"schema":"customer_snapshot"}' > /dev/null
curl -sf -H "$auth" -H 'Content-Type: application/x-ndjson' --data-binary "@$tmp/customers.ndjson" \
  "$base/v1/datasets/customers/records" > /dev/null
run_id=$(api POST /v1/training-runs --data-binary "@$tmp/train.json" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
for _ in $(seq 1 600); do
  api GET "/v1/training-runs/$run_id" > "$tmp/run.json"
  status=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$tmp/run.json")
  [[ $status == queued || $status == running ]] || break
  sleep 0.2
done
/usr/bin/python3 - "$tmp/run.json" << 'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
if r["status"] != "succeeded":
    sys.exit("training run %s: %s %s" % (r["id"], r["status"], r.get("error", "")))
m = r["metrics"]
print("training run %s: %d rows in %.2f s, validation AUC %.4f, best iteration %d"
      % (r["id"], r["rows"], r["duration_s"], m["auc"], m["best_iteration"]))
EOF
api GET /v1/models/churn/versions/1/artifact -o "$tmp/churn.onnx"
/usr/bin/python3 - "$tmp/churn.onnx" "$tmp/run.json" << 'EOF' || true
import json, sys
import onnx
m = onnx.load(sys.argv[1])
trees = set()
for n in m.graph.node:
    for a in n.attribute:
        if a.name == "nodes_treeids":
            trees.update(a.ints)
ops = [n.op_type for n in m.graph.node]
p = json.load(open(sys.argv[2]))["pipeline"]
print("model: %s, %d trees; pipeline: %d nodes (%d feature nodes before the model)"
      % ("+".join(ops), len(trees), len(p["nodes"]), sum(1 for x in p["nodes"]) - 3))
EOF
api PUT /v1/services/churn -d "{\"training_run\":\"$run_id\"}" > /dev/null
predict_url="$base/v1/services/churn/predict"
api POST /v1/services/churn/predict --data-binary "@$tmp/bodies.txt" -o /dev/null 2> /dev/null || true
head -1 "$tmp/bodies.txt" > "$tmp/one.json"
echo "sample request:  $(cat "$tmp/one.json")"
echo "sample response: $(api POST /v1/services/churn/predict --data-binary "@$tmp/one.json")"

cat > "$tmp/predict.lua" << EOF
local bodies = {}
for line in io.lines("$tmp/bodies.txt") do table.insert(bodies, line) end
local headers = {["Authorization"] = "Bearer $key", ["Content-Type"] = "application/json"}
local i = 0
function request()
  i = i % #bodies + 1
  return wrk.format("POST", "/v1/services/churn/predict", headers, bodies[i])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %.3f %d %d %d %d\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
EOF

metrics() { curl -sf "$base/metrics" | grep '^rtml_service_latency_seconds' | grep 'service="churn"' || true; }

# Warm-up (fills the per-thread contexts), then the measured run.
"${wrk_cpu[@]}" wrk -t1 -c"$conns" -d2s -s "$tmp/predict.lua" "$predict_url" > /dev/null
metrics > "$tmp/metrics.before"
echo "load before: $(uptime | sed 's/.*load average/load average/')"
out=$("${wrk_cpu[@]}" wrk -t"$wrk_threads" -c"$conns" -d"$duration" --latency -s "$tmp/predict.lua" "$predict_url")
echo "load after:  $(uptime | sed 's/.*load average/load average/')"
metrics > "$tmp/metrics.after"
api GET /v1/services/churn > "$tmp/service.json"
line=$(grep '^RESULT' <<< "$out") || { echo "$out" >&2; exit 1; }
/usr/bin/python3 - "$line" "$tmp/metrics.before" "$tmp/metrics.after" "$tmp/service.json" "$conns" "$duration" << 'EOF'
import json, re, sys
_, n, secs, p50, p99, non2xx, sockerr = sys.argv[1].split()
n, secs = int(n), float(secs)

def parse(path):
    out = {}
    for line in open(path):
        m = re.match(r'(\w+)\{(.*)\} (\S+)$', line.strip())
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        key = (m.group(1), labels.get("phase"), labels.get("le"))
        out[key] = out.get(key, 0.0) + float(m.group(3))
    return out

before, after = parse(sys.argv[2]), parse(sys.argv[3])
delta = {k: after[k] - before.get(k, 0.0) for k in after}

def phase_stats(phase):
    count = delta.get(("rtml_service_latency_seconds_count", phase, None), 0)
    total = delta.get(("rtml_service_latency_seconds_sum", phase, None), 0)
    buckets = sorted((float(le), v) for (name, ph, le), v in delta.items()
                     if name == "rtml_service_latency_seconds_bucket" and ph == phase and le != "+Inf")
    # p50 by linear interpolation inside the bucket (Prometheus histogram_quantile).
    p50, lo, hi, below = float("nan"), 0.0, float("inf"), 0.0
    for le, cum in buckets:
        if count and cum >= count / 2:
            p50, hi = lo + (le - lo) * ((count / 2 - below) / max(cum - below, 1)), le
            break
        lo, below = le, cum
    return count, (total / count if count else float("nan")), p50, lo, hi

svc = json.load(open(sys.argv[4]))
print()
print("wrk -c%s -d%s: %.0f requests/s, round trip p50 %.0f us, p99 %.0f us, non-2xx %s, socket errors %s"
      % (sys.argv[5], sys.argv[6], n / secs, int(p50), int(p99), non2xx, sockerr))
count, mean, p50m, lo, hi = phase_stats("total")
print("server time (/metrics, this run: %d requests): mean %.1f us, p50 %.1f us (histogram_quantile "
      "within the %.0f-%.0f us bucket)" % (count, mean * 1e6, p50m * 1e6, lo * 1e6, hi * 1e6))
for ph in ("parse", "run", "serialize"):
    c, m, _, _, _ = phase_stats(ph)
    print("  phase %-9s mean %.1f us" % (ph, m * 1e6))
print("server time p50 (gallery histogram, 8 buckets per octave, whole service life): %.1f us, p99 %.1f us"
      % (svc["latency_us"]["p50"], svc["latency_us"]["p99"]))
print("target: p50 server time < 100 us -> %s" % ("met" if svc["latency_us"]["p50"] < 100 else "NOT met"))
EOF

if [[ $inprocess == 1 ]]; then
  bench_bin=$(dirname "$rtml")/bench/rtml_pipeline_bench
  if [[ -x $bench_bin ]]; then
    echo
    echo "in-process ($bench_bin, target < 5 us per row):"
    "${server_cpu[@]}" "$bench_bin" --benchmark_min_time=0.5 2>&1 | grep -E '^(BM_|Benchmark|-)' || true
  else
    echo "($bench_bin not built: cmake --build build --target rtml_pipeline_bench)"
  fi
fi
