#!/usr/bin/env bash
# Decisions over HTTP: POST /v1/decisions for an activity whose 5 experiences
# are scored by a pipeline service (fillna, mul, log1p, concat in front of a
# scikit-learn GradientBoostingClassifier, 100 trees depth 5, 10 features,
# converted by tests/models/gen_models.py's converter), served by
# `rtml serve --threads 1`. Every decision is logged durably before its
# response. wrk posts requests for 4,096 identities with varying context.
# Prints requests/s and wrk p50/p99, then the same for a bandit activity and
# for feedback-to-visible latency (from GET /v1/activities/{name}/learner).
#
#   bench/decisions_http.sh [--duration 10s] [--connections 32] [--rtml build/rtml] [--no-pin]
#
# Server on CPU 0, wrk on CPU 1 (taskset). Needs wrk, curl, /usr/bin/python3 with
# python3-onnx, python3-sklearn, python3-numpy. SPEC target: 50k decisions/s in process
# (bench/decision_bench.cc); this script gives the HTTP figures.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10s
conns=32
rtml=build/rtml
pin=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --rtml) rtml=$2; shift 2 ;;
    --no-pin) pin=0; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
for tool in wrk curl; do
  command -v "$tool" > /dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
[[ -x $rtml ]] || { echo "$rtml missing: build first (cmake --build build --target rtml)" >&2; exit 1; }
source bench/lib.sh
bench_init rtml-bench-decisions  # pinning, $tmp, $pids, cleanup on exit

# ---- the GBDT (10 features) as ONNX, the pipeline, the activities and the request bodies.
/usr/bin/python3 - "$tmp" << 'PY'
import json, os, sys
import numpy as np
from onnx import TensorProto
sys.path.insert(0, "tests/models")
import gen_models as gm
from sklearn.ensemble import GradientBoostingClassifier
out = sys.argv[1]
rng = np.random.default_rng(3)
X = rng.normal(size=(4000, 10)).astype(np.float32)
y = (X[:, 0] * X[:, 1] + X[:, 2] - X[:, 5] ** 2 + rng.normal(size=4000) > 0).astype(int)
gb = GradientBoostingClassifier(n_estimators=100, max_depth=5, random_state=0).fit(X, y)
g = gm.Graph()
label, proba = gm.conv_gradient_boosting_classifier(g, gb, "float_input", 10)
outs = gm.classifier_outputs(g, label, proba, gb.classes_, False)
model = gm.finish(g, "GradientBoostingClassifier", [gm.tensor_vi("float_input", TensorProto.FLOAT, [None, 10])], outs)
open(os.path.join(out, "gbdt.onnx"), "wb").write(model.SerializeToString())
inputs = ["price", "discount", "hour", "visits", "c4", "c5", "c6", "c7"]
pipeline = {
    "inputs": [{"name": n, "type": "number"} for n in inputs],
    "nodes": [{"id": "price_f", "op": "fillna", "inputs": ["price"], "params": {"value": 20}},
              {"id": "net", "op": "mul", "inputs": ["price_f", "discount"]},
              {"id": "visits_log", "op": "log1p", "inputs": ["visits"]},
              {"id": "x", "op": "concat", "inputs": ["price_f", "discount", "net", "hour", "visits_log", "c4", "c5",
                                                   "c6", "c7", "visits"]},
              {"id": "m", "op": "onnx", "inputs": ["x"],
               "params": {"model": "gbdt", "version": 1, "output": "probabilities"}}],
    "outputs": {"p": "m"}}
json.dump({"pipeline": pipeline}, open(os.path.join(out, "service.json"), "w"))
exps = [{"id": "sku%d" % i, "content": {"slot": i}, "features": {"price": 10 + 7 * i, "discount": 0.05 * i}}
        for i in range(5)]
json.dump({"experiences": exps, "strategy": {"type": "model", "service": "propensity", "output": "p"}},
          open(os.path.join(out, "recs.json"), "w"))
json.dump({"experiences": exps, "strategy": {"type": "bandit", "epsilon": 0.05,
                                             "features": ["context.device", "context.hour"]}},
          open(os.path.join(out, "bandit.json"), "w"))
r = np.random.default_rng(5)
for name in ("recs", "bandit"):
    with open(os.path.join(out, name + ".bodies"), "w") as f:
        for i in range(4096):
            ctx = {"hour": int(r.integers(24)), "visits": int(r.integers(30)), "c4": float(r.normal()),
                   "c5": float(r.normal()), "c6": float(r.normal()), "c7": float(r.normal()),
                   "device": ["mobile", "desktop", "tablet"][int(r.integers(3))]}
            f.write(json.dumps({"activity": name, "identity": "ECID:%d" % i, "context": ctx},
                               separators=(",", ":")) + "\n")
PY

port=$(free_port)
base="http://127.0.0.1:$port"
"${server_cpu[@]}" "$rtml" serve --data-dir "$tmp/data" --listen "127.0.0.1:$port" --threads 1 > "$tmp/rtml.log" 2>&1 &
pids+=($!)
wait_http "$base/v2/health/ready"
key=$(cat "$tmp/data/admin.key")
auth="Authorization: Bearer $key"
api() { local m=$1 p=$2; shift 2; curl -sf -H "$auth" -H 'Content-Type: application/json' -X "$m" "$base$p" "$@"; }
curl -sf -H "$auth" --data-binary "@$tmp/gbdt.onnx" "$base/v1/models/gbdt" > /dev/null
api PUT /v1/services/propensity --data-binary "@$tmp/service.json" > /dev/null
api PUT /v1/activities/recs --data-binary "@$tmp/recs.json" > /dev/null
api PUT /v1/activities/bandit --data-binary "@$tmp/bandit.json" > /dev/null
head -1 "$tmp/recs.bodies" > "$tmp/one.json"
echo "sample decision: $(api POST /v1/decisions --data-binary "@$tmp/one.json")"

run() {  # NAME: wrk over NAME.bodies, prints one line
  local name=$1
  cat > "$tmp/$name.lua" << EOF
local bodies = {}
for line in io.lines("$tmp/$name.bodies") do table.insert(bodies, line) end
local headers = {["Authorization"] = "Bearer $key", ["Content-Type"] = "application/json"}
local i = 0
function request()
  i = i % #bodies + 1
  return wrk.format("POST", "/v1/decisions", headers, bodies[i])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %.3f %d %d %d %d\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
EOF
  "${wrk_cpu[@]}" wrk -t1 -c"$conns" -d2s -s "$tmp/$name.lua" "$base/v1/decisions" > /dev/null
  local out
  out=$("${wrk_cpu[@]}" wrk -t1 -c"$conns" -d"$duration" --latency -s "$tmp/$name.lua" "$base/v1/decisions")
  local line
  line=$(grep '^RESULT' <<< "$out") || { echo "$out" >&2; exit 1; }
  read -r _ n secs p50 p99 non2xx sockerr <<< "$line"
  /usr/bin/python3 -c "
n, secs, p50, p99, bad, err = int('$n'), float('$secs'), int('$p50'), int('$p99'), int('$non2xx'), int('$sockerr')
print('%-8s %8.0f decisions/s  p50 %6.0f us  p99 %7.0f us  non-2xx %d  socket errors %d  (%d connections, 1 server thread)'
      % ('$name', n / secs, p50, p99, bad, err, $conns))
"
}
echo "load before: $(uptime | sed 's/.*load average/load average/')"
run recs
run bandit
echo "load after:  $(uptime | sed 's/.*load average/load average/')"

# ---- feedback -> visible weights, 50 times (ms).
/usr/bin/python3 - "$base" "$key" << 'PY'
import http.client, json, sys, time
base, key = sys.argv[1], sys.argv[2]
host, port = base[len("http://"):].split(":")
c = http.client.HTTPConnection(host, int(port))
H = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
def call(m, p, body=None):
    c.request(m, p, body=json.dumps(body) if body is not None else None, headers=H)
    r = c.getresponse()
    return json.loads(r.read())
lat = []
for i in range(50):
    d = call("POST", "/v1/decisions", {"activity": "bandit", "identity": "ECID:fb%d" % i, "context": {"device": "mobile"}})
    call("POST", "/v1/feedback", {"decisionId": d["decisionId"], "reward": i % 2})
    t0 = time.monotonic()
    while True:
        j = call("GET", "/v1/activities/bandit/learner")
        if j["published_version"] >= j["updates"]:
            break
        time.sleep(0.001)
    lat.append((time.monotonic() - t0) * 1000)
lat.sort()
print("feedback -> visible weights: p50 %.1f ms, p99 %.1f ms, max %.1f ms (50 rewards; publish interval 50 ms)"
      % (lat[25], lat[49], lat[-1]))
PY
