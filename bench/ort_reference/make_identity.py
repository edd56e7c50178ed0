#!/usr/bin/python3
"""Write a near-empty ONNX model (one Identity on a [1,1] float tensor) and a
matching KServe v2 request, to measure the fixed per-call cost of a runtime.

Uses Debian's python3-onnx:  /usr/bin/python3 make_identity.py [OUTDIR]
Writes OUTDIR/identity_1x1.onnx and OUTDIR/identity_1x1.request.json
(OUTDIR defaults to the current directory).
"""
import json
import os
import sys

import onnx
from onnx import TensorProto, helper


def main() -> int:
    outdir = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(outdir, exist_ok=True)

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"], name="identity")],
        "identity_1x1",
        [x],
        [y],
    )
    model = helper.make_model(
        graph,
        producer_name="rtml-bench-ort-reference",
        opset_imports=[helper.make_opsetid("", 13)],
    )
    model.ir_version = 8
    onnx.checker.check_model(model)

    model_path = os.path.join(outdir, "identity_1x1.onnx")
    onnx.save(model, model_path)
    request = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}]}
    request_path = os.path.join(outdir, "identity_1x1.request.json")
    with open(request_path, "w") as f:
        json.dump(request, f)
        f.write("\n")
    print(model_path)
    print(request_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
