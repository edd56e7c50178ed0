#!/usr/bin/env bash
# Installs every Debian package rtml needs to build, test and benchmark.
# Idempotent: only missing packages are installed, and `apt-get update` runs
# only when something is missing. Must run as root (or via sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake ccache pkg-config git
  libboost-dev libsimdjson-dev nlohmann-json3-dev
  libonnx-dev libprotobuf-dev protobuf-compiler
  libeigen3-dev libsqlite3-dev sqlite3 libssl-dev
  libxgboost-dev xgboost
  prometheus-cpp-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libhiredis-dev redis-server
  python3 python3-onnx python3-sklearn python3-numpy python3-xgboost
  libonnx-testdata
  wrk nginx-light curl
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# nginx-light and redis-server start system services on install; rtml's
# benchmarks and tests start their own instances on chosen ports.
for svc in nginx redis-server; do
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl stop "$svc" 2>/dev/null || true; fi
  $SUDO service "$svc" stop 2>/dev/null || true
done
echo "setup: done"
