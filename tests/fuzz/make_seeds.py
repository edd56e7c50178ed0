#!/usr/bin/python3
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/).

Run once by hand (Debian's python3 + python3-onnx) when the seeds need to
change; the output is committed. Every seed is small (< 4 KB) and valid, so
mutations start from inputs that get deep into each parser. The
learner_snapshot seeds come from `rtml_fuzz_smoke --write-builtin-seeds DIR`
(the snapshot format is binary and owned by the C++ code).
"""
import os
import sys

import onnx
from onnx import TensorProto, helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
OPSETS = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    assert len(data) < 4096, (target, name, len(data))
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def model(nodes, inputs, outputs, inits=()):
    g = helper.make_graph(nodes, "seed", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=OPSETS, ir_version=8)
    onnx.checker.check_model(m)
    return m.SerializeToString()


def fin(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def onnx_seeds():
    write("onnx_model", "add.onnx", model(
        [helper.make_node("Add", ["x", "b"], ["y"])],
        [fin("x", [None, 3])], [fin("y", [None, 3])],
        [helper.make_tensor("b", TensorProto.FLOAT, [3], [1.0, 2.0, 3.0])]))
    write("onnx_model", "gemm_sigmoid.onnx", model(
        [helper.make_node("Gemm", ["x", "w", "c"], ["h"], transB=1),
         helper.make_node("Sigmoid", ["h"], ["y"])],
        [fin("x", [None, 2])], [fin("y", [None, 1])],
        [helper.make_tensor("w", TensorProto.FLOAT, [1, 2], [0.5, -0.25]),
         helper.make_tensor("c", TensorProto.FLOAT, [1], [0.1])]))
    write("onnx_model", "linear_classifier.onnx", model(
        [helper.make_node("LinearClassifier", ["x"], ["label", "prob"], domain="ai.onnx.ml",
                          coefficients=[0.1, -0.2, 0.3, -0.1, 0.2, -0.3], intercepts=[0.0, 0.5],
                          classlabels_ints=[0, 1], post_transform="LOGISTIC")],
        [fin("x", [None, 3])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None]), fin("prob", [None, 2])]))
    write("onnx_model", "tree_ensemble.onnx", model(
        [helper.make_node("TreeEnsembleRegressor", ["x"], ["y"], domain="ai.onnx.ml",
                          n_targets=1,
                          nodes_treeids=[0, 0, 0, 1, 1, 1],
                          nodes_nodeids=[0, 1, 2, 0, 1, 2],
                          nodes_featureids=[0, 0, 0, 1, 0, 0],
                          nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"] * 2,
                          nodes_values=[0.5, 0, 0, -1.0, 0, 0],
                          nodes_truenodeids=[1, 0, 0, 1, 0, 0],
                          nodes_falsenodeids=[2, 0, 0, 2, 0, 0],
                          nodes_hitrates=[1.0] * 6,
                          nodes_missing_value_tracks_true=[0] * 6,
                          target_treeids=[0, 0, 1, 1], target_nodeids=[1, 2, 1, 2],
                          target_ids=[0, 0, 0, 0], target_weights=[1.0, -1.0, 0.5, 0.25],
                          aggregate_function="SUM", post_transform="NONE")],
        [fin("x", [None, 2])], [fin("y", [None, 1])]))
    write("onnx_model", "reshape_softmax.onnx", model(
        [helper.make_node("Reshape", ["x", "shape"], ["r"]),
         helper.make_node("Softmax", ["r"], ["y"], axis=-1)],
        [fin("x", [1, 4])], [fin("y", [2, 2])],
        [helper.make_tensor("shape", TensorProto.INT64, [2], [2, 2])]))


JSON = {
    "kserve_request": {
        "fp32.json": '{"id":"r1","inputs":[{"name":"x","datatype":"FP32","shape":[2,3],'
                     '"data":[1,2,3,4.5,-5,6e3]}],"outputs":[{"name":"y"}]}',
        "nested.json": '{"inputs":[{"name":"x","datatype":"FP64","shape":[1,2],"data":[[0.5,-1]]}],'
                       '"parameters":{"now":"2026-12-04T10:00:00Z"}}',
        "mixed.json": '{"inputs":[{"name":"s","datatype":"BYTES","shape":[2],"data":["a","b"]},'
                      '{"name":"b","datatype":"BOOL","shape":[1],"data":[true]},'
                      '{"name":"i","datatype":"INT64","shape":[2,1],"data":[1,-9223372036854775808]}]}',
        "ints.json": '{"inputs":[{"name":"u","datatype":"UINT8","shape":[3],"data":[0,255,7]},'
                     '{"name":"h","datatype":"INT16","shape":[1],"data":[-32768]}]}',
    },
    "row_request": {
        "one.json": '{"instances":[{"x":[1,2,3],"s":"a","n":4}]}',
        "two.json": '{"id":"q","instances":[{"x":[[0.5,1,2]],"s":"b","n":[1],"identity":"crm:42"},'
                    '{"x":[0,0,0],"s":"","n":-2}]}',
        "missing.json": '{"instances":[{"x":[1,2],"n":1}]}',
    },
    "pipeline": {
        "numbers.json": '{"inputs":[{"name":"a","type":"number"},{"name":"b","type":"integer"}],'
                        '"nodes":[{"id":"s","op":"add","inputs":["a","b"]},'
                        '{"id":"l","op":"log1p","inputs":["s"]},'
                        '{"id":"t","op":"threshold","inputs":["l"],"params":{"value":0.5}}],'
                        '"outputs":{"sum":"s","flag":"t"}}',
        "strings.json": '{"inputs":[{"name":"d","type":"string"},{"name":"p","type":"number"}],'
                        '"nodes":[{"id":"lo","op":"lower","inputs":["d"]},'
                        '{"id":"m","op":"map","inputs":["lo"],"params":{"mapping":{"a":"x","b":"y"},"default":"z"}},'
                        '{"id":"oh","op":"one_hot","inputs":["m"],"params":{"categories":["x","y","z"]}},'
                        '{"id":"pf","op":"fillna","inputs":["p"],"params":{"value":0}},'
                        '{"id":"v","op":"concat","inputs":["oh","pf"]},'
                        '{"id":"am","op":"argmax","inputs":["v"]}],'
                        '"outputs":{"v":"v","am":"am","m":"m"}}',
        "fitted.json": '{"inputs":[{"name":"d","type":"string"},{"name":"p","type":"number"},'
                       '{"name":"t","type":"timestamp"}],'
                       '"nodes":[{"id":"pf","op":"fillna","inputs":["p"],"params":{"strategy":"mean"}},'
                       '{"id":"k","op":"top_k","inputs":["d"],"params":{"k":2}},'
                       '{"id":"oh","op":"one_hot","inputs":["k"]},'
                       '{"id":"q","op":"bucketize","inputs":["pf"],"params":{"quantiles":3}},'
                       '{"id":"z","op":"standardize","inputs":["pf"]},'
                       '{"id":"ds","op":"days_since","inputs":["t"]},'
                       '{"id":"h","op":"hour","inputs":["t"]},'
                       '{"id":"x","op":"concat","inputs":["oh","q","z","ds","h"]}],'
                       '"outputs":{"x":"x"}}',
        "onnx.json": '{"inputs":[{"name":"a","type":"number"},{"name":"b","type":"bool"}],'
                     '"nodes":[{"id":"x","op":"concat","inputs":["a","b"]},'
                     '{"id":"m","op":"onnx","inputs":["x"],"params":{"model":"tiny","version":1}},'
                     '{"id":"p","op":"profile","params":{"attributes":["visits"]}},'
                     '{"id":"s","op":"select","inputs":["m"],"params":{"index":0}},'
                     '{"id":"r","op":"div","inputs":["s","p"]}],'
                     '"outputs":{"score":"s","r":"r","v":"m"}}',
    },
    "condition": {
        "in.json": '{"profile.country":{"$in":["US","CA"]},"score.churn":{"$gt":0.7}}',
        "logic.json": '{"$or":[{"context.device":"mobile"},{"$and":[{"computed.purchases_7d":{"$gte":2}},'
                      '{"profile.vip":true}]}],"$not":{"context.page":{"$regex":"^/checkout"}}}',
        "misc.json": '{"profile.tags":{"$exists":true},"profile.address.city":{"$ne":"Rome"},'
                     '"profile.age":{"$lt":40,"$gte":18},"$segment":"vip"}',
        "empty.json": '{}',
    },
    "activity": {
        "split.json": '{"audience":{"context.device":"mobile"},"experiences":[{"id":"a","content":{"t":1}},'
                      '{"id":"b","content":{"t":2},"features":{"price":9.5}}],'
                      '"strategy":{"type":"split","weights":[1,3],"salt":"s"},"goal":"commerce.purchase",'
                      '"priority":2,"reward_window":"1h","default_reward":0}',
        "bandit.json": '{"audience":{"$segment":"vip"},"experiences":[{"id":"x","content":"hi"},'
                       '{"id":"y","content":[1,2]}],"strategy":{"type":"bandit","explore":"softmax",'
                       '"temperature":0.5,"features":["context.device"],'
                       '"learner":{"alpha":0.1,"beta":1,"l1":0.1,"l2":1,"bits":12}},"description":"d"}',
        "model.json": '{"audience":{},"experiences":[{"id":"only","content":null}],'
                      '"strategy":{"type":"model","service":"churn","output":"p"}}',
        "segment.json": '{"condition":{"profile.vip":true,"$segment":"vip"},"description":"big spenders"}',
    },
    "schema_record": {
        "record.json": '{"_id":"e1","timestamp":"2026-06-01T11:00:00Z","eventType":"commerce.purchase",'
                       '"commerce":{"order":{"priceTotal":19.5,"currency":"EUR"}},'
                       '"tags":["a","b"],"attrs":{"k":1},"count":3,"ok":true}',
        "record_bad.json": '{"_id":"e2","timestamp":"not a time","extra":1,"count":1.5}',
        "schema_profile.json": '{"class":"profile","identity":"person.id","properties":{"person":'
                               '{"type":"object","properties":{"id":{"type":"string"},'
                               '"age":{"type":"integer","minimum":0}},"required":["id"]},'
                               '"email":{"type":"string","pattern":"^[^@]+@[^@]+$","maxLength":200}},'
                               '"required":["person"]}',
        "schema_adhoc.json": '{"class":"adhoc","additionalProperties":true,"properties":{"d":'
                             '{"type":"string","format":"date"},"m":{"type":"map","values":{"type":"number"}},'
                             '"e":{"type":"string","enum":["a","b"]},"l":{"type":"array","items":'
                             '{"type":"integer"},"maxItems":5}},"description":"x"}',
    },
    "features_json": {
        "mixed.json": '{"context.device":"mobile","context.hour":14,"experience.price":9.5,"profile.vip":1}',
        "empty.json": '{}',
        "escapes.json": '{"a\\u00e9":"\\"q\\"","b":-0.0,"c":1e-300}',
    },
}


def main():
    onnx_seeds()
    for target, files in JSON.items():
        for name, text in files.items():
            write(target, name, text)
    print("seeds written under", ROOT, file=sys.stderr)


if __name__ == "__main__":
    main()
