#!/usr/bin/env bash
# Ingestion throughput of `rtml serve` over HTTP, driven by wrk:
#   (i)  POST /v1/datasets/events/records with NDJSON batches of 1,000
#        generated web-store events (~530 bytes each): records/s
#        (SPEC target: 100k records/s, validated and durable);
#   (ii) single-record requests (one JSON object per POST) with 32
#        connections: requests/s (SPEC target: 20k/s).
# Every record has a unique _id (wrk's Lua builds the bodies from templates
# with a per-thread counter), so no request is answered as duplicates.
# Prints requests/s, records/s, p50/p99, non-2xx, socket errors, the records
# actually stored (SQL count), and `uptime` before and after.
#
#   bench/ingest_bench.sh [--duration 10s] [--threads 1] [--batch-connections 4] [--connections 32]
#                         [--wrk-threads 1] [--no-attributes] [--rtml build/rtml] [--no-pin]
#
# --threads: server threads (default 1, SPEC's setting). By default three
# computed attributes are defined first, so each record also updates
# profiles (--no-attributes to measure storage alone). The server runs on
# CPU 0 and wrk on CPU 1 (taskset) unless --no-pin. The data directory is
# a fresh temporary directory (on /tmp's file system: its fsync speed counts).
# Needs: build/rtml (Release), wrk, curl, /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10s
threads=1
batch_conns=4
conns=32
wrk_threads=1
attributes=1
rtml=build/rtml
pin=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --batch-connections) batch_conns=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --wrk-threads) wrk_threads=$2; shift 2 ;;
    --no-attributes) attributes=0; shift ;;
    --rtml) rtml=$2; shift 2 ;;
    --no-pin) pin=0; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
for tool in wrk curl; do
  command -v "$tool" > /dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
[[ -x $rtml ]] || { echo "$rtml missing: build first (cmake --build build)" >&2; exit 1; }
source bench/lib.sh
bench_init rtml-bench-ingest  # pinning, $tmp, $pids, cleanup on exit
echo "load before: $(uptime)"

port=$(free_port)
"${server_cpu[@]}" "$rtml" serve --data-dir "$tmp/data" --listen "127.0.0.1:$port" --threads "$threads" \
  > "$tmp/rtml.log" 2>&1 &
pids+=($!)
pid=$!
wait_http "http://127.0.0.1:$port/v2/health/ready"
key=$(cat "$tmp/data/admin.key")
base="http://127.0.0.1:$port"
api() {  # METHOD PATH [BODY]: fails unless 2xx
  curl -sf -X "$1" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' ${3:+--data-binary "$3"} \
    "$base$2"
}
sql_count() {
  api POST /v1/query "{\"sql\": \"SELECT COUNT(*) FROM events WHERE _id LIKE '$1%'\"}" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["rows"][0][0])'
}

api PUT /v1/schemas/web-events "$(/usr/bin/python3 tests/e2e/datagen.py --schema)" > /dev/null
api PUT /v1/datasets/events '{"schema": "web-events"}' > /dev/null
if [[ $attributes == 1 ]]; then
  api PUT /v1/computed-attributes/purchases_7d \
    '{"dataset":"events","eventType":"commerce.purchases","function":"count","window":"7d"}' > /dev/null
  api PUT /v1/computed-attributes/revenue_24h \
    '{"dataset":"events","function":"sum","field":"commerce.order.priceTotal","window":"24h"}' > /dev/null
  api PUT /v1/computed-attributes/last_device_30d \
    '{"dataset":"events","function":"last","field":"device","window":"30d"}' > /dev/null
fi

# 1,000 event templates whose _id is "@@" (one per line), from the e2e generator.
/usr/bin/python3 - "$tmp/templates.ndjson" << 'EOF'
import json, sys
sys.path.insert(0, "tests/e2e")
import datagen
events = datagen.unique_events(1000, seed=1, id_prefix="x", people=5000)
with open(sys.argv[1], "w") as f:
    for ev in events:
        ev["_id"] = "@@"
        f.write(json.dumps(ev, separators=(",", ":")) + "\n")
sizes = [len(json.dumps(ev, separators=(",", ":"))) for ev in events]
print("templates: %d events, %.0f bytes on average" % (len(events), sum(sizes) / len(sizes)))
EOF

cat > "$tmp/ingest.lua" << 'EOF'
-- args: templates file, mode ("batch" or "single"), id prefix, API key
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local function split(s, sep)
  local out, i = {}, 1
  while true do
    local j = string.find(s, sep, i, true)
    if not j then table.insert(out, string.sub(s, i)); return out end
    table.insert(out, string.sub(s, i, j - 1))
    i = j + #sep
  end
end

local counter = 0
local parts, pre, post = nil, {}, {}
local mode, prefix, headers
local path = "/v1/datasets/events/records"

function init(args)
  local f = assert(io.open(args[1], "r"))
  local text = f:read("*a")
  f:close()
  mode, prefix = args[2], args[3] .. tostring(tid) .. "-"
  if mode == "batch" then
    parts = split(text, "@@")  -- 1,001 pieces around the 1,000 ids
    headers = {["Authorization"] = "Bearer " .. args[4], ["Content-Type"] = "application/x-ndjson"}
  else
    for _, line in ipairs(split(text, "\n")) do
      if #line > 0 then
        local p = split(line, "@@")
        table.insert(pre, p[1]); table.insert(post, p[2])
      end
    end
    headers = {["Authorization"] = "Bearer " .. args[4], ["Content-Type"] = "application/json"}
  end
end

function request()
  counter = counter + 1
  if mode == "batch" then
    local buf, n = {}, #parts
    local p = prefix .. counter .. "-"
    for i = 1, n - 1 do
      buf[2 * i - 1] = parts[i]
      buf[2 * i] = p .. i
    end
    buf[2 * n - 1] = parts[n]
    return wrk.format("POST", path, headers, table.concat(buf))
  end
  local k = counter % #pre + 1
  return wrk.format("POST", path, headers, pre[k] .. prefix .. counter .. post[k])
end

function done(summary, latency, requests)
  local s = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("RESULT %d %.3f %d %d %d %d\n", summary.requests, s, latency:percentile(50),
    latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
EOF

run() {  # NAME MODE PREFIX CONNECTIONS RECORDS_PER_REQUEST
  local name=$1 mode=$2 prefix=$3 c=$4 per=$5
  local out
  out=$("${wrk_cpu[@]}" wrk -t "$wrk_threads" -c "$c" -d "$duration" --timeout 10s -s "$tmp/ingest.lua" \
        "$base/v1/datasets/events/records" -- "$tmp/templates.ndjson" "$mode" "$prefix" "$key")
  local line
  line=$(grep '^RESULT' <<< "$out") || { echo "$out" >&2; return 1; }
  read -r _ n secs p50 p99 non2xx sockerr <<< "$line"
  local stored
  stored=$(sql_count "$prefix")
  /usr/bin/python3 - "$name" "$n" "$secs" "$p50" "$p99" "$non2xx" "$sockerr" "$per" "$stored" "$c" << 'EOF'
import sys
name, n, secs, p50, p99, non2xx, sockerr, per, stored, c = sys.argv[1:]
n, secs, per, stored = int(n), float(secs), int(per), int(stored)
print("%-28s %3s conns  %9.0f requests/s  %10.0f records/s  p50 %7.2f ms  p99 %7.2f ms  non-2xx %s  "
      "socket errors %s  stored %d (%.0f/s)" % (name, c, n / secs, n * per / secs, int(p50) / 1000.0,
                                               int(p99) / 1000.0, non2xx, sockerr, stored, stored / secs))
EOF
}

echo "rtml serve --threads $threads$([[ ${#server_cpu[@]} -gt 0 ]] && echo ' (CPU 0; wrk on CPU 1)'), " \
     "wrk -t$wrk_threads, $duration per run, computed attributes: $([[ $attributes == 1 ]] && echo 3 || echo none)"
run "batches of 1,000 (NDJSON)" batch b "$batch_conns" 1000
run "single records (JSON)" single s "$conns" 1
echo "server: $(grep -c . "$tmp/rtml.log") log lines, RSS $(awk '/VmRSS/ {print $2 " kB"}' /proc/$pid/status)"
echo "load after:  $(uptime)"
