#!/usr/bin/env bash
# Runs `rtml run` on every generated model and compares the printed KServe v2
# response with the reference outputs from scikit-learn / XGBoost.
set -euo pipefail
rtml=$1 models=$2 checker=$3
names=$(/usr/bin/python3 -c "import json,sys; print(' '.join(m['name'] for m in json.load(open(sys.argv[1]))))" "$models/manifest.json")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count=0
for name in $names; do
  "$rtml" run "$models/$name.onnx" --request "$models/$name.request.json" > "$tmp/$name.json"
  /usr/bin/python3 "$checker" "$tmp/$name.json" "$models/$name.expected.json" > "$tmp/$name.check" || {
    echo "MISMATCH $name"; cat "$tmp/$name.check"; exit 1; }
  count=$((count + 1))
done
# Errors: one clear line on stderr and a non-zero exit.
if "$rtml" run "$models/$name.onnx" --request /dev/null 2> "$tmp/err"; then echo "expected failure"; exit 1; fi
test "$(wc -l < "$tmp/err")" -eq 1 || { echo "stderr is not one line:"; cat "$tmp/err"; exit 1; }
echo "$count models match their reference outputs through rtml run"
