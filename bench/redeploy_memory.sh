#!/usr/bin/env bash
# Resident memory across redeploys under load (SPEC: flat within 5% across
# 1,000 redeploys of a service under load).
#
# Starts rtml serve, deploys a 32-feature model as service "mem", keeps wrk
# load on its KServe infer endpoint, redeploys the service N times
# alternating two model versions (bench_linear32 and bench_gbdt100 uploaded
# as versions 1 and 2 of model "m"), samples VmRSS every S redeploys, and
# prints the series and the growth from the first sample after the warm-up
# to the end. Fails (exit 1) when growth > 5% or any wrk response was not 2xx.
#
#   bench/redeploy_memory.sh [--redeploys 1000] [--sample-every 50] [--warmup 100]
#                            [--connections 4] [--threads 1] [--rtml build/rtml] [--models DIR]
#
# The warm-up (default 100 redeploys) lets the revision history fill up to
# max_revisions (50), after which memory should stay flat.
# Needs: build/rtml (Release), wrk, curl, /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/.."

redeploys=1000
every=50
warmup=100
conns=4
threads=1
rtml=build/rtml
models=build/bench-models
while [[ $# -gt 0 ]]; do
  case $1 in
    --redeploys) redeploys=$2; shift 2 ;;
    --sample-every) every=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --rtml) rtml=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x $rtml ]] || { echo "$rtml missing: build first (cmake --build build)" >&2; exit 1; }
command -v wrk > /dev/null || { echo "wrk is not installed" >&2; exit 1; }
if [[ ! -f "$models/manifest.json" ]]; then
  /usr/bin/python3 tests/models/gen_models.py "$models" > /dev/null
fi

tmp=$(mktemp -d /tmp/rtml-bench-mem.XXXXXX)
rtml_pid= load_pid=
cleanup() {
  touch "$tmp/stop" 2> /dev/null || true
  [[ -n $rtml_pid ]] && kill -TERM "$rtml_pid" 2> /dev/null
  [[ -n $rtml_pid ]] && wait "$rtml_pid" 2> /dev/null
  # The load loop ends after its current wrk run (at most 5 s).
  [[ -n $load_pid ]] && wait "$load_pid" 2> /dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
"$rtml" serve --data-dir "$tmp/data" --listen "127.0.0.1:$port" --threads "$threads" > "$tmp/rtml.log" 2>&1 &
rtml_pid=$!
for _ in $(seq 1 200); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$base/v2/health/ready" || true) == 200 ]] && break
  sleep 0.05
done
key=$(cat "$tmp/data/admin.key")
auth="Authorization: Bearer $key"
curl -sf -H "$auth" --data-binary "@$models/bench_linear32.onnx" "$base/v1/models/m" > /dev/null
curl -sf -H "$auth" --data-binary "@$models/bench_gbdt100.onnx" "$base/v1/models/m" > /dev/null
curl -sf -H "$auth" -X PUT -d '{"model":{"name":"m","version":1}}' "$base/v1/services/mem" > /dev/null

cat > "$tmp/infer.lua" <<EOF
local f = assert(io.open("$models/bench_linear32.b1.json", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
EOF

# Load: back-to-back 5 s wrk runs until told to stop (wrk prints its
# counters only when a run ends normally).
(
  while [[ ! -f $tmp/stop ]]; do
    wrk -t1 -c"$conns" -d5s -s "$tmp/infer.lua" "$base/v2/models/mem/infer" >> "$tmp/wrk.out" 2>&1 || true
  done
) &
load_pid=$!
sleep 1

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$rtml_pid/status"; }
echo "rtml serve --threads $threads; wrk -t1 -c$conns on KServe infer; $redeploys redeploys, sample every $every, warm-up $warmup"
echo "load before: $(uptime | sed 's/.*load average/load average/')"
printf '%10s %10s %8s\n' redeploys VmRSS_kB seconds
printf '%10s %10s %8s\n' 0 "$(rss)" 0
declare -a samples_n samples_kb
t0=$(date +%s%N)
failed_deploys=0
for ((i = 1; i <= redeploys; i++)); do
  v=$(( i % 2 == 1 ? 2 : 1 ))
  code=$(curl -s -o "$tmp/deploy.json" -w '%{http_code}' -H "$auth" -X PUT \
              -d "{\"model\":{\"name\":\"m\",\"version\":$v}}" "$base/v1/services/mem")
  if [[ $code != 201 ]]; then
    failed_deploys=$((failed_deploys + 1))
    echo "deploy $i: HTTP $code $(cat "$tmp/deploy.json")" >&2
  fi
  if (( i % every == 0 )); then
    kb=$(rss)
    samples_n+=("$i") samples_kb+=("$kb")
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    printf '%10s %10s %8s\n' "$i" "$kb" "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  fi
done
touch "$tmp/stop"
wait "$load_pid" 2> /dev/null || true
echo "load after:  $(uptime | sed 's/.*load average/load average/')"

/usr/bin/python3 - "$tmp/wrk.out" "$warmup" "$failed_deploys" "${samples_n[*]}" "${samples_kb[*]}" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
warmup, failed_deploys = int(sys.argv[2]), int(sys.argv[3])
ns = [int(x) for x in sys.argv[4].split()]
kbs = [int(x) for x in sys.argv[5].split()]
requests = sum(int(x) for x in re.findall(r"(\d+) requests in", text))
non2xx = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", text))
errors = sum(sum(map(int, m)) for m in re.findall(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text))
runs = len(re.findall(r"requests in", text))
print("wrk: %d requests in %d runs, %d non-2xx, %d socket errors" % (requests, runs, non2xx, errors))
after = [(n, kb) for n, kb in zip(ns, kbs) if n >= warmup]
ok = True
if len(after) >= 2:
    (n0, kb0), (n1, kb1) = after[0], after[-1]
    growth = (kb1 - kb0) / kb0
    peak = max(kb for _, kb in after)
    print("VmRSS after %d redeploys: %d kB; after %d: %d kB; growth %+.2f%% (target within 5%%); peak %d kB"
          % (n0, kb0, n1, kb1, 100 * growth, peak))
    ok = growth <= 0.05
else:
    print("not enough samples after the warm-up")
    ok = False
if non2xx or errors or failed_deploys:
    print("FAIL: %d non-2xx, %d socket errors, %d failed deploys" % (non2xx, errors, failed_deploys))
    ok = False
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
