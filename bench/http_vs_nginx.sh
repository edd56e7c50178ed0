#!/usr/bin/env bash
# HTTP load: rtml serve (one server thread, 32-feature logistic regression,
# KServe v2 infer, keep-alive) against nginx returning a fixed KServe-shaped
# body of the same size, both driven by wrk with the same settings in the
# same run. Prints requests/s, p50 and p99 for both and the ratio rtml/nginx
# (SPEC target: >= 70%; p99 under 1 ms with 8 connections), plus a row-form
# predict line for rtml.
#
#   bench/http_vs_nginx.sh [--duration 10s] [--connections 32] [--p99-connections 8]
#                          [--wrk-threads 1] [--rtml build/rtml] [--models DIR] [--no-pin]
#
# By default the servers run on CPU 0 and wrk on CPU 1 (taskset), so the
# single server thread and the load generator do not share a core.
# Needs: build/rtml (Release), nginx (nginx-light), wrk, curl, /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10s
conns=32
p99_conns=8
wrk_threads=1
rtml=build/rtml
models=build/bench-models
pin=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --p99-connections) p99_conns=$2; shift 2 ;;
    --wrk-threads) wrk_threads=$2; shift 2 ;;
    --rtml) rtml=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --no-pin) pin=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
for tool in nginx wrk curl; do
  command -v "$tool" > /dev/null || [[ -x /usr/sbin/$tool ]] || { echo "$tool is not installed" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $rtml ]] || { echo "$rtml missing: build first (cmake --build build)" >&2; exit 1; }
if [[ ! -f "$models/manifest.json" ]]; then
  /usr/bin/python3 tests/models/gen_models.py "$models" > /dev/null
fi
source bench/lib.sh
bench_init rtml-bench-http  # pinning, $tmp, $pids, cleanup on exit

# ---- rtml: one server thread, bench_linear32 deployed as service linear32.
rport=$(free_port)
"${server_cpu[@]}" "$rtml" serve --data-dir "$tmp/data" --listen "127.0.0.1:$rport" --threads 1 \
  > "$tmp/rtml.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$rport/v2/health/ready"
key=$(cat "$tmp/data/admin.key")
auth="Authorization: Bearer $key"
curl -sf -H "$auth" --data-binary "@$models/bench_linear32.onnx" "http://127.0.0.1:$rport/v1/models/linear32" > /dev/null
curl -sf -H "$auth" -X PUT -d '{"model":{"name":"linear32"}}' "http://127.0.0.1:$rport/v1/services/linear32" > /dev/null
infer_url="http://127.0.0.1:$rport/v2/models/linear32/infer"
predict_url="http://127.0.0.1:$rport/v1/services/linear32/predict"
cp "$models/bench_linear32.b1.json" "$tmp/infer.json"
/usr/bin/python3 - "$tmp/infer.json" "$tmp/predict.json" <<'PY'
import json, sys
req = json.load(open(sys.argv[1]))
inp = req["inputs"][0]
json.dump({"instances": [{inp["name"]: inp["data"]}]}, open(sys.argv[2], "w"), separators=(",", ":"))
PY
curl -sf -H "$auth" -H 'Content-Type: application/json' --data-binary "@$tmp/infer.json" "$infer_url" > "$tmp/response.json"
curl -sf -H "$auth" -H 'Content-Type: application/json' --data-binary "@$tmp/predict.json" "$predict_url" > /dev/null

# ---- nginx: one worker returning rtml's own response body as a fixed string.
nport=$(free_port)
mkdir -p "$tmp/nginx"
body=$(cat "$tmp/response.json")
[[ $body != *"'"* && $body != *'$'* ]] || { echo "response body needs escaping for nginx" >&2; exit 1; }
cat > "$tmp/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  default_type application/json;
  server {
    listen 127.0.0.1:$nport;
    location / { return 200 '$body'; }
  }
}
EOF
"${server_cpu[@]}" "$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" &
pids+=($!)
wait_http "http://127.0.0.1:$nport/"

# ---- wrk scripts: POST with body, Content-Type and Authorization.
for kind in infer predict; do
  cat > "$tmp/$kind.lua" <<EOF
local f = assert(io.open("$tmp/$kind.json", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
EOF
done

# run NAME CONNS SCRIPT URL -> one line: name conns req/s p50_us p99_us non2xx errors
run() {
  local name=$1 c=$2 script=$3 url=$4 out="$tmp/wrk-$1-$2.txt"
  "${wrk_cpu[@]}" wrk -t"$wrk_threads" -c"$c" -d"$duration" --latency -s "$script" "$url" > "$out" 2>&1 || true
  /usr/bin/python3 - "$name" "$c" "$out" <<'PY'
import re, sys
name, conns, path = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
def us(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
p = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", text, re.M))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
if not rps or "50" not in p:
    print("%s %s FAILED %s" % (name, conns, text.replace("\n", " | ")[:300]))
    sys.exit(0)
print("%s %s %.0f %.1f %.1f %d %d" % (name, conns, float(rps.group(1)), us(p["50"]), us(p["99"]),
                                      int(non2xx.group(1)) if non2xx else 0,
                                      sum(map(int, errs.groups())) if errs else 0))
PY
}

echo "rtml $("$rtml" --version 2>/dev/null | head -1 || true); $(nproc) cores; wrk -t$wrk_threads -d$duration; pinned: $([[ ${#server_cpu[@]} -gt 0 ]] && echo 'servers cpu0, wrk cpu1' || echo no)"
echo "response body: $(wc -c < "$tmp/response.json") bytes (nginx returns the same bytes)"
echo "load before: $(uptime | sed 's/.*load average/load average/')"
results=()
results+=("$(run nginx "$conns" "$tmp/infer.lua" "http://127.0.0.1:$nport/v2/models/linear32/infer")")
results+=("$(run rtml_infer "$conns" "$tmp/infer.lua" "$infer_url")")
results+=("$(run nginx "$p99_conns" "$tmp/infer.lua" "http://127.0.0.1:$nport/v2/models/linear32/infer")")
results+=("$(run rtml_infer "$p99_conns" "$tmp/infer.lua" "$infer_url")")
results+=("$(run rtml_predict "$conns" "$tmp/predict.lua" "$predict_url")")
echo "load after:  $(uptime | sed 's/.*load average/load average/')"
echo
printf '%-14s %5s %10s %10s %10s %8s %7s\n' target conns 'req/s' 'p50_us' 'p99_us' non2xx errors
for r in "${results[@]}"; do
  read -r n c rps p50 p99 bad err <<< "$r"
  if [[ $rps == FAILED ]]; then echo "$r"; continue; fi
  printf '%-14s %5s %10s %10s %10s %8s %7s\n' "$n" "$c" "$rps" "$p50" "$p99" "$bad" "$err"
done
/usr/bin/python3 - "$conns" "$p99_conns" "${results[@]}" <<'PY'
import sys
conns, p99c = sys.argv[1], sys.argv[2]
rows = {}
for line in sys.argv[3:]:
    f = line.split()
    if len(f) == 7:
        rows[(f[0], f[1])] = (float(f[2]), float(f[3]), float(f[4]), int(f[5]))
def ratio(c):
    a, b = rows.get(("rtml_infer", c)), rows.get(("nginx", c))
    return (a[0] / b[0]) if a and b and b[0] else None
print()
for c in (conns, p99c):
    r = ratio(c)
    if r is not None:
        print("rtml/nginx requests/s with %s connections: %.1f%%%s" % (c, 100 * r, "  (target >= 70%)" if c == conns else ""))
r8 = rows.get(("rtml_infer", p99c))
if r8:
    print("rtml p99 with %s connections: %.0f us (target < 1000 us)" % (p99c, r8[2]))
bad = sum(v[3] for k, v in rows.items() if k[0].startswith("rtml"))
print("rtml non-2xx responses: %d" % bad)
PY
