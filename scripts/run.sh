#!/usr/bin/env bash
# Installs what is missing (apt), builds rtml in Release mode and starts it
# with demo data. Environment: JOBS (default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
JOBS=${JOBS:-$(nproc)}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$JOBS"

demo=build/demo-models
/usr/bin/python3 tests/models/gen_models.py "$demo" > /dev/null
echo "== rtml run: scikit-learn gradient boosting, batch of one row"
./build/rtml run "$demo/gb_classifier.onnx" --request "$demo/gb_classifier.b1.json"
echo "== rtml bench: same request, 2 seconds"
./build/rtml bench "$demo/gb_classifier.onnx" --request "$demo/gb_classifier.b1.json" --seconds 2
