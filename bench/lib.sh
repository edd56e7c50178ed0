# Shared setup of the HTTP benchmark scripts (sourced, not run):
#   bench_init NAME   pinning (server_cpu / wrk_cpu arrays: server on CPU 0,
#                     load generator on CPU 1 when $pin is 1 and taskset and
#                     two CPUs exist), a scratch dir $tmp, the $pids array of
#                     background processes, and a trap that stops them and
#                     removes $tmp on exit
#   free_port         a loopback port that was free a moment ago
#   wait_http URL     waits (up to 10 s) until URL answers 200

bench_init() {
  server_cpu=() wrk_cpu=()
  if [[ ${pin:-1} == 1 ]] && command -v taskset > /dev/null && [[ $(nproc) -ge 2 ]]; then
    server_cpu=(taskset -c 0) wrk_cpu=(taskset -c 1)
  fi
  tmp=$(mktemp -d "/tmp/$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2> /dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2> /dev/null || true; done
  rm -rf "$tmp"
}

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() {
  for _ in $(seq 1 200); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$1" || true) == 200 ]] && return 0
    sleep 0.05
  done
  echo "no 200 from $1" >&2
  return 1
}
