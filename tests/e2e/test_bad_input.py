"""(b) Hostile and wrong input: each case checks the status code, the error
code and the message, and that the server still serves afterwards."""

import http.client
import json
import subprocess
import time
import unittest

from rtml_server import (RtmlServer, model_path, parse_raw_response, raw_exchange, read_bytes)

MAX_BODY = 65536
MAX_BATCH = 100
HEADER_TIMEOUT_MS = 500
BODY_TIMEOUT_MS = 1000

GOOD = {"inputs": [{"name": "float_input", "shape": [1, 6], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}]}


def kserve_rows(n):
    return {"inputs": [{"name": "float_input", "shape": [n, 6], "datatype": "FP32",
                        "data": [float(i % 7) for i in range(6 * n)]}]}


def unsupported_op_model():
    """A valid ONNX model whose only node is MaxPool (not an rtml operator)."""
    code = r"""
import sys
from onnx import helper, TensorProto, checker
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 2, 2])
node = helper.make_node("MaxPool", ["x"], ["y"], name="pool1", kernel_shape=[2, 2], strides=[2, 2])
m = helper.make_model(helper.make_graph([node], "pool", [x], [y]), opset_imports=[helper.make_opsetid("", 15)])
checker.check_model(m)
sys.stdout.buffer.write(m.SerializeToString())
"""
    p = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True)
    if p.returncode != 0:
        raise unittest.SkipTest("cannot build an ONNX model with /usr/bin/python3 + onnx: " + p.stderr.decode()[-300:])
    return p.stdout


class BadInput(unittest.TestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = RtmlServer(threads=2, name="bad-input", args=[
            "--max-body-bytes", str(MAX_BODY), "--max-batch", str(MAX_BATCH),
            "--header-timeout-ms", str(HEADER_TIMEOUT_MS), "--body-timeout-ms", str(BODY_TIMEOUT_MS)]).start()
        cls.lr_bytes = read_bytes(model_path("logreg_binary_zipmap"))
        cls.server.upload("lr", cls.lr_bytes)
        cls.server.deploy("lr", "lr", 1)

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            cls.server.close()

    def tearDown(self):
        # Whatever the test sent, the server keeps serving.
        self.assertTrue(self.server.alive(), "rtml serve died:\n" + self.server.log_tail())
        r = self.server.infer("lr", GOOD)
        self.assertEqual(r.status, 200, "server no longer serves after the test: %r" % r)

    def assertError(self, r, status, code, message_pattern):
        """Status, error code and a regex the message must contain; the body is the SPEC error shape."""
        self.assertEqual(r.status, status, r)
        j = r.json()
        self.assertEqual(set(j), {"error", "code", "details"}, r)
        self.assertEqual(j["code"], code, r)
        self.assertRegex(j["error"], message_pattern)
        self.assertEqual(r.header("Content-Type"), "application/json")

    # ------------------------------------------------------------ JSON body

    def test_malformed_json(self):
        s = self.server
        for body in ['not json', '{"inputs": [}', '{"inputs":[', '', '{"inputs":[{"name":"float_input"',
                     '{"inputs":[{"name":"float_input","shape":[1,6],"datatype":"FP32","data":[1,2,3,4,5,6]}]} x']:
            with self.subTest(body=body):
                self.assertError(s.infer("lr", body), 400, "INVALID_ARGUMENT", r"(?i)json")
                self.assertError(s.predict("lr", body.replace("inputs", "instances")), 400, "INVALID_ARGUMENT",
                                 r"(?i)json")
        # Valid JSON but broken inside: still a clear 400.
        r = s.infer("lr", '{"inputs":[{"name":"float_input",,}]}')
        self.assertEqual((r.status, r.error[0]), (400, "INVALID_ARGUMENT"), r)
        self.assertError(s.infer("lr", '[1, 2]'), 400, "INVALID_ARGUMENT", "must be a JSON object")
        self.assertError(s.infer("lr", '{"inputs": 5}'), 400, "INVALID_ARGUMENT", "inputs: must be an array")
        self.assertError(s.predict("lr", '{"instances": {}}'), 400, "INVALID_ARGUMENT", "instances: must be an array")
        self.assertError(s.predict("lr", '{"instances": []}'), 400, "INVALID_ARGUMENT", "must not be empty")
        # Management calls parse with a different parser: same contract.
        self.assertError(s.request("PUT", "/v1/services/lr", '{"model":'), 400, "INVALID_ARGUMENT",
                         "not valid JSON")
        self.assertError(s.request("POST", "/v1/keys", 'nope'), 400, "INVALID_ARGUMENT", "not valid JSON")

    def test_malformed_json_extra_closing_brace_rejected(self):
        # The document ends with a superfluous '}'; it is not valid JSON.
        body = '{"inputs":[{"name":"float_input","shape":[1,6],"datatype":"FP32","data":[1,2,3,4,5,6]}]}}'
        self.assertError(self.server.infer("lr", body), 400, "INVALID_ARGUMENT", r"(?i)json")
        body = '{"instances":[{"float_input":[1,2,3,4,5,6]}]}}'
        self.assertError(self.server.predict("lr", body), 400, "INVALID_ARGUMENT", r"(?i)json")

    def test_deep_nesting_and_non_finite(self):
        s = self.server
        deep = '{"inputs":[{"name":"float_input","shape":[1,6],"datatype":"FP32","data":%s1%s}]}' % (
            "[" * 20000, "]" * 20000)
        r = s.infer("lr", deep)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.error[0], "INVALID_ARGUMENT")
        # 1e400 is no finite double: rejected while the document is validated.
        self.assertError(s.infer("lr", '{"inputs":[{"name":"float_input","shape":[1,6],"datatype":"FP32",'
                                        '"data":[1e400,2,3,4,5,6]}]}'), 400, "INVALID_ARGUMENT",
                         r"number is malformed or outside the range of a double")
        r = s.infer("lr", {"inputs": [dict(GOOD["inputs"][0], data=["NaN", "Infinity", "-Infinity", 4, 5, 6])]})
        self.assertEqual(r.status, 200, "non-finite floats travel as strings: %r" % r)
        self.assertError(s.infer("lr", {"inputs": [dict(GOOD["inputs"][0], data=["nan?", 2, 3, 4, 5, 6])]}),
                         400, "INVALID_ARGUMENT", r"data\[0\] must be a number")

    # -------------------------------------------------------- tensor input

    def test_wrong_datatype(self):
        s = self.server
        for dt in ("FP64", "INT64", "BYTES"):
            with self.subTest(datatype=dt):
                data = [str(i) for i in range(6)] if dt == "BYTES" else [1, 2, 3, 4, 5, 6]
                r = s.infer("lr", {"inputs": [dict(GOOD["inputs"][0], datatype=dt, data=data)]})
                self.assertError(r, 400, "INVALID_ARGUMENT", "input 'float_input': expected datatype FP32, got " + dt)
        self.assertError(s.infer("lr", {"inputs": [dict(GOOD["inputs"][0], datatype="FP17")]}), 400,
                         "INVALID_ARGUMENT", "unsupported datatype 'FP17'")
        self.assertError(s.infer("lr", {"inputs": [dict(GOOD["inputs"][0], data=[1, 2, "x", 4, 5, 6])]}), 400,
                         "INVALID_ARGUMENT", r"input 'float_input'.data: data\[2\] must be a number")
        self.assertError(s.predict("lr", {"instances": [{"float_input": [1, 2, 3, 4, 5, "six"]}]}), 400,
                         "INVALID_ARGUMENT", r"instances\[0\].*float_input.*must be a number")
        self.assertError(s.predict("lr", {"instances": [{"float_input": [1, 2, 3, 4, 5, 6], "identity": 7}]}),
                         400, "INVALID_ARGUMENT", r"instances\[0\]\.identity")

    def test_wrong_shape(self):
        s = self.server
        self.assertError(s.infer("lr", {"inputs": [dict(GOOD["inputs"][0], shape=[1, 5], data=[1, 2, 3, 4, 5])]}),
                         400, "INVALID_ARGUMENT", r"input 'float_input': expected shape \[-1,6\], got \[1,5\]")
        self.assertError(s.infer("lr", {"inputs": [dict(GOOD["inputs"][0], shape=[1, 2, 3])]}),
                         400, "INVALID_ARGUMENT", r"expected shape \[-1,6\], got \[1,2,3\]")
        self.assertError(s.infer("lr", {"inputs": [dict(GOOD["inputs"][0], data=[1, 2, 3, 4, 5])]}),
                         400, "INVALID_ARGUMENT", r"shape \[1,6\] needs 6 values, got 5")
        self.assertError(s.infer("lr", {"inputs": [dict(GOOD["inputs"][0], shape=[-1, 6])]}),
                         400, "INVALID_ARGUMENT", "shape: must be an array of non-negative integers")
        self.assertError(s.predict("lr", {"instances": [{"float_input": [1, 2, 3, 4, 5]}]}),
                         400, "INVALID_ARGUMENT", r"instances\[0\]\.float_input: expected 6 values, got 5")

    def test_missing_and_unknown_input(self):
        s = self.server
        self.assertError(s.infer("lr", {"inputs": []}), 400, "INVALID_ARGUMENT", "missing input 'float_input'")
        self.assertError(s.infer("lr", {"id": "x"}), 400, "INVALID_ARGUMENT", "missing 'inputs'")
        self.assertError(s.infer("lr", {"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}), 400,
                         "INVALID_ARGUMENT", r"inputs\[0\]: missing 'name'")
        self.assertError(s.predict("lr", {"instances": [{}]}), 400, "INVALID_ARGUMENT",
                         r"instances\[0\]: missing input 'float_input'")
        extra = {"name": "zzz", "shape": [1], "datatype": "FP32", "data": [1]}
        self.assertError(s.infer("lr", {"inputs": [GOOD["inputs"][0], extra]}), 400, "INVALID_ARGUMENT",
                         "unknown input 'zzz' for service 'lr'")
        self.assertError(s.infer("lr", {"inputs": [GOOD["inputs"][0], GOOD["inputs"][0]]}), 400,
                         "INVALID_ARGUMENT", "input 'float_input' given twice")
        self.assertError(s.predict("lr", {"instances": [{"float_input": [1, 2, 3, 4, 5, 6], "x": 1}]}), 400,
                         "INVALID_ARGUMENT", r"instances\[0\]: unknown field 'x' \(model inputs: float_input\)")

    # ------------------------------------------------------------ 404s

    def test_unknown_service_model_revision(self):
        s = self.server
        self.assertError(s.infer("nope", GOOD), 404, "NOT_FOUND", "service 'nope' not found in sandbox 'prod'")
        self.assertError(s.predict("nope", {"instances": [{"float_input": [1, 2, 3, 4, 5, 6]}]}), 404, "NOT_FOUND",
                         "service 'nope' not found")
        self.assertError(s.request("GET", "/v2/models/nope"), 404, "NOT_FOUND", "service 'nope' not found")
        self.assertError(s.request("GET", "/v2/models/nope/ready"), 404, "NOT_FOUND", "service 'nope' not found")
        self.assertError(s.request("GET", "/v1/services/nope"), 404, "NOT_FOUND", "service 'nope' not found")
        self.assertError(s.request("DELETE", "/v1/services/nope"), 404, "NOT_FOUND", "service 'nope' not found")
        self.assertError(s.request("POST", "/v1/services/nope:rollback"), 404, "NOT_FOUND", "service 'nope'")
        self.assertError(s.request("PUT", "/v1/services/nope/traffic", {"traffic": [{"revision": 1, "percent": 100}]}),
                         404, "NOT_FOUND", "service 'nope' not found")
        self.assertError(s.infer("lr", GOOD, revision=9), 404, "NOT_FOUND", "service 'lr' has no revision 9")
        self.assertError(s.request("GET", "/v2/models/lr/versions/9"), 404, "NOT_FOUND", "has no revision 9")
        self.assertError(s.request("GET", "/v2/models/lr/versions/9/ready"), 404, "NOT_FOUND", "has no revision 9")
        self.assertError(s.infer("lr", GOOD, revision="abc"), 400, "INVALID_ARGUMENT",
                         "revision must be a positive integer")
        self.assertError(s.request("GET", "/v1/models/nope"), 404, "NOT_FOUND", "model 'nope' not found")
        self.assertError(s.request("GET", "/v1/models/lr/versions/9/artifact"), 404, "NOT_FOUND",
                         "model 'lr' has no version 9")
        self.assertError(s.request("DELETE", "/v1/models/lr/versions/9"), 404, "NOT_FOUND", "has no version 9")
        self.assertError(s.request("PUT", "/v1/services/x", {"model": {"name": "nope"}}), 404, "NOT_FOUND",
                         "model 'nope' not found")
        self.assertError(s.request("PUT", "/v1/services/x", {"model": {"name": "lr", "version": 5}}), 404,
                         "NOT_FOUND", "model 'lr' has no version 5")
        self.assertError(s.request("GET", "/v1/nothing"), 404, "NOT_FOUND", "no such endpoint: GET /v1/nothing")
        r = s.request("GET", "/v2/models/lr/infer")
        self.assertEqual(r.status, 405, r)
        self.assertIn("method not allowed", r.error[1])

    # ------------------------------------------------------------- uploads

    def test_onnx_garbage_upload(self):
        s = self.server
        garbage = bytes((i * 7919 + 13) % 256 for i in range(4096))
        self.assertError(s.upload("junk", garbage, expect=(400,)), 400, "INVALID_ARGUMENT", "not an ONNX model")
        self.assertError(s.upload("junk", b"hello world", expect=(400,)), 400, "INVALID_ARGUMENT",
                         "not an ONNX model")
        self.assertError(s.upload("junk", b"", expect=(400,)), 400, "INVALID_ARGUMENT", "not an ONNX model.*empty")
        self.assertError(s.upload("junk", self.lr_bytes[:len(self.lr_bytes) // 2], expect=(400,)), 400,
                         "INVALID_ARGUMENT", "(?i)onnx")
        self.assertError(s.request("GET", "/v1/models/junk"), 404, "NOT_FOUND", "model 'junk' not found")
        self.assertError(s.upload("bad/name", self.lr_bytes, expect=(400, 404)), 404, "NOT_FOUND",
                         "no such endpoint")
        self.assertError(s.upload("bad%20name", self.lr_bytes, expect=(400, 404)), 400, "INVALID_ARGUMENT",
                         "model name 'bad%20name' may only contain")

    def test_unsupported_operator_upload(self):
        s = self.server
        r = s.upload("pool", unsupported_op_model(), expect=(400,))
        self.assertEqual(r.status, 400, r)
        self.assertIn(r.error[0], ("UNIMPLEMENTED", "INVALID_ARGUMENT"))
        self.assertRegex(r.error[1], r"MaxPool")
        self.assertRegex(r.error[1], r"node 'pool1'")
        self.assertRegex(r.error[1], r"not supported")
        self.assertError(s.request("GET", "/v1/models/pool"), 404, "NOT_FOUND", "model 'pool' not found")

    # -------------------------------------------------------------- limits

    def test_body_over_limit_with_content_length(self):
        # A declared Content-Length above --max-body-bytes is 413 TOO_LARGE.
        s = self.server
        body = b"{" + b" " * (MAX_BODY + 10) + b"}"
        self.assertError(s.infer("lr", body), 413, "TOO_LARGE", "exceeds the limit of %d bytes" % MAX_BODY)
        self.assertError(s.upload("big", b"\0" * (MAX_BODY * 2), expect=(400, 413)), 413, "TOO_LARGE",
                         "exceeds the limit")

    def test_body_over_limit_chunked(self):
        s = self.server
        c = s.connect()
        chunks = [b"{" + b" " * 8191] * (MAX_BODY // 8192 + 2) + [b"}"]
        c.request("POST", "/v2/models/lr/infer", body=iter(chunks), encode_chunked=True,
                  headers={"Authorization": "Bearer " + s.admin_key, "Transfer-Encoding": "chunked"})
        r = c.getresponse()
        body = r.read()
        c.close()
        self.assertEqual(r.status, 413, body)
        j = json.loads(body)
        self.assertEqual(j["code"], "TOO_LARGE")
        self.assertIn("exceeds the limit of %d bytes" % MAX_BODY, j["error"])

    def test_body_at_limit_is_accepted(self):
        body = json.dumps(GOOD).encode()
        body = body[:-1] + b" " * (MAX_BODY - len(body)) + b"}"
        self.assertEqual(len(body), MAX_BODY)
        r = self.server.infer("lr", body)
        self.assertEqual(r.status, 200, r)

    def test_batch_over_limit(self):
        s = self.server
        self.assertEqual(s.infer("lr", kserve_rows(MAX_BATCH)).status, 200)
        self.assertError(s.infer("lr", kserve_rows(MAX_BATCH + 1)), 413, "TOO_LARGE",
                         "input 'float_input' has a batch of %d rows, above the limit of %d"
                         % (MAX_BATCH + 1, MAX_BATCH))
        inst = [{"float_input": [1, 2, 3, 4, 5, 6]}]
        self.assertEqual(s.predict("lr", {"instances": inst * MAX_BATCH}).status, 200)
        self.assertError(s.predict("lr", {"instances": inst * (MAX_BATCH + 1)}), 413, "TOO_LARGE",
                         "instances: %d rows exceed the batch limit of %d" % (MAX_BATCH + 1, MAX_BATCH))

    # ---------------------------------------------------------------- auth

    def test_missing_and_invalid_key(self):
        s = self.server
        self.assertError(s.infer("lr", GOOD, key=None), 401, "UNAUTHENTICATED",
                         "missing 'Authorization: Bearer <key>' header")
        self.assertError(s.infer("lr", GOOD, key="rtml_" + "0" * 64), 401, "UNAUTHENTICATED", "invalid API key")
        self.assertError(s.request("GET", "/v1/models", key=None, headers={"Authorization": "Basic YTpi"}), 401,
                         "UNAUTHENTICATED", "invalid API key")
        self.assertError(s.request("POST", "/v1/models/x", self.lr_bytes, key=None), 401, "UNAUTHENTICATED",
                         "missing")
        self.assertError(s.request("GET", "/v1/keys", key="x" * 1000), 401, "UNAUTHENTICATED", "invalid API key")
        # Health, server metadata and metrics need no key.
        for path in ("/v2/health/live", "/v2/health/ready", "/v2", "/metrics"):
            with self.subTest(path=path):
                self.assertEqual(s.request("GET", path, key=None).status, 200)

    def test_roles(self):
        s = self.server
        predict = s.create_key("predict", ["prod"])
        read = s.create_key("read", ["prod"])
        self.assertEqual(s.infer("lr", GOOD, key=predict["key"]).status, 200)
        self.assertError(s.request("PUT", "/v1/services/lr", {"model": {"name": "lr"}}, key=predict["key"]), 403,
                         "PERMISSION_DENIED",
                         "key '%s' has role 'predict', which may not PUT /v1/services/lr" % predict["id"])
        self.assertError(s.request("POST", "/v1/models/lr2", self.lr_bytes, key=predict["key"]), 403,
                         "PERMISSION_DENIED", "role 'predict'")
        self.assertError(s.request("POST", "/v1/services/lr:rollback", key=predict["key"]), 403,
                         "PERMISSION_DENIED", "role 'predict'")
        self.assertError(s.request("GET", "/v1/services", key=predict["key"]), 403, "PERMISSION_DENIED",
                         "role 'predict'")
        self.assertError(s.request("GET", "/v1/keys", key=predict["key"]), 403, "PERMISSION_DENIED",
                         "role 'predict'")
        self.assertError(s.infer("lr", GOOD, key=read["key"]), 403, "PERMISSION_DENIED", "role 'read'")
        self.assertEqual(s.request("GET", "/v1/services", key=read["key"]).status, 200)
        self.assertError(s.request("DELETE", "/v1/services/lr", key=read["key"]), 403, "PERMISSION_DENIED",
                         "role 'read'")
        self.assertEqual(s.request("GET", "/v1/services/lr").status, 200, "the service is still there")

    def test_sandbox_key_cannot_read_other_sandbox(self):
        s = self.server
        a = s.create_key("author", ["sbA"])
        self.assertEqual(s.request("GET", "/v1/models", key=a["key"], sandbox="sbA").status, 200)
        for method, path, body in (("GET", "/v1/models", None), ("GET", "/v1/services", None),
                                   ("POST", "/v2/models/lr/infer", GOOD),
                                   ("PUT", "/v1/services/lr", {"model": {"name": "lr"}})):
            with self.subTest(path=path):
                self.assertError(s.request(method, path, body, key=a["key"], sandbox="sbB"), 403,
                                 "PERMISSION_DENIED", "key '%s' has no access to sandbox 'sbB'" % a["id"])
        # No header means sandbox "prod", which this key cannot see either.
        self.assertError(s.infer("lr", GOOD, key=a["key"]), 403, "PERMISSION_DENIED", "no access to sandbox 'prod'")
        self.assertError(s.request("GET", "/v1/models", sandbox="bad/name"), 400, "INVALID_ARGUMENT",
                         "sandbox name 'bad/name'")

    def test_sandbox_isolation(self):
        s = self.server
        other = read_bytes(model_path("logreg_binary"))
        self.assertEqual(s.upload("iso", other, sandbox="sbA").status, 201)
        s.deploy("iso", "iso", 1, sandbox="sbA")
        ra = s.infer("iso", GOOD, sandbox="sbA")
        self.assertEqual(ra.status, 200, ra)
        # Same names, other sandbox: nothing is visible, even to an admin key.
        self.assertError(s.infer("iso", GOOD, sandbox="sbB"), 404, "NOT_FOUND",
                         "service 'iso' not found in sandbox 'sbB'")
        self.assertError(s.request("GET", "/v1/services/iso", sandbox="sbB"), 404, "NOT_FOUND", "'iso' not found")
        self.assertError(s.request("GET", "/v1/models/iso", sandbox="sbB"), 404, "NOT_FOUND", "'iso' not found")
        self.assertError(s.request("GET", "/v1/models/iso/versions/1/artifact", sandbox="sbB"), 404, "NOT_FOUND",
                         "'iso' not found")
        self.assertError(s.request("PUT", "/v1/services/iso", {"model": {"name": "iso"}}, sandbox="sbB"), 404,
                         "NOT_FOUND", "model 'iso' not found")
        self.assertError(s.request("DELETE", "/v1/services/iso", sandbox="sbB"), 404, "NOT_FOUND", "'iso'")
        self.assertError(s.request("DELETE", "/v1/models/iso/versions/1", sandbox="sbB"), 404, "NOT_FOUND", "iso")
        self.assertNotIn("iso", [m["name"] for m in s.request("GET", "/v1/models", sandbox="sbB").json()["models"]])
        self.assertNotIn("iso", [x["name"] for x in s.request("GET", "/v1/services").json()["services"]])
        # A same-named service in prod with another model answers with its own model.
        s.upload("iso", self.lr_bytes)
        s.deploy("iso", "iso", 1)
        rp = s.infer("iso", GOOD)
        self.assertEqual(rp.status, 200, rp)
        self.assertEqual([o["name"] for o in ra.json()["outputs"]], ["label", "probabilities"])
        self.assertEqual([o["name"] for o in rp.json()["outputs"]], ["output_label", "output_probability"])
        self.assertEqual(s.request("DELETE", "/v1/services/iso").status, 200)
        self.assertEqual(s.infer("iso", GOOD, sandbox="sbA").status, 200, "deleting prod/iso left sbA/iso alone")

    # --------------------------------------------------- management calls

    def test_unknown_fields_in_management_bodies(self):
        s = self.server
        self.assertError(s.request("PUT", "/v1/services/lr", {"model": {"name": "lr"}, "foo": 1}), 400,
                         "INVALID_ARGUMENT", r"unknown field 'foo' \(expected: model, pipeline, training_run, traffic, description\)")
        self.assertError(s.request("PUT", "/v1/services/lr", {"model": {"name": "lr", "bar": 2}}), 400,
                         "INVALID_ARGUMENT", "unknown field 'model.bar'")
        self.assertError(s.request("POST", "/v1/keys", {"role": "read", "sandboxes": ["prod"], "zz": 1}), 400,
                         "INVALID_ARGUMENT", "unknown field 'zz'")
        self.assertError(s.request("POST", "/v1/services/lr:rollback", {"revision": 1, "x": 2}), 400,
                         "INVALID_ARGUMENT", "unknown field 'x'")
        self.assertError(s.request("PUT", "/v1/services/lr/traffic", {"traffic": [], "x": 1}), 400,
                         "INVALID_ARGUMENT", "unknown field 'x'")
        self.assertError(s.request("PUT", "/v1/services/lr", {"model": {"name": "lr"}, "pipeline": {}}), 400,
                         "INVALID_ARGUMENT", "exactly one of")
        self.assertError(s.request("PUT", "/v1/services/lr", {}), 400, "INVALID_ARGUMENT", 'needs exactly one of "model"')
        self.assertEqual(s.request("GET", "/v1/services/lr").json()["revisions"][-1]["revision"], 1,
                         "rejected deploys created no revision")

    def test_unknown_field_in_traffic_entry(self):
        # docs/api.md: unknown fields in management bodies are rejected, naming the field.
        s = self.server
        self.assertError(s.request("PUT", "/v1/services/lr/traffic",
                                   {"traffic": [{"revision": 1, "percent": 100, "weight": 3}]}), 400,
                         "INVALID_ARGUMENT", "weight")

    def test_delete_model_version_in_use(self):
        s = self.server
        self.assertEqual(s.upload("inuse", self.lr_bytes).status, 201)
        s.deploy("inuse", "inuse", 1)
        self.assertError(s.request("DELETE", "/v1/models/inuse/versions/1"), 409, "CONFLICT",
                         "model 'inuse' version 1 is used by service 'inuse' revision 1")
        self.assertEqual(s.infer("inuse", GOOD).status, 200)
        self.assertEqual(s.request("DELETE", "/v1/services/inuse").status, 200)
        self.assertError(s.infer("inuse", GOOD), 404, "NOT_FOUND", "service 'inuse' not found")
        r = s.request("DELETE", "/v1/models/inuse/versions/1")
        self.assertEqual((r.status, r.json()), (200, {"deleted": True}))
        self.assertError(s.request("GET", "/v1/models/inuse/versions/1/artifact"), 404, "NOT_FOUND", "inuse")

    def test_traffic_errors(self):
        s = self.server
        self.assertError(s.request("PUT", "/v1/services/lr/traffic", {"traffic": [{"revision": 1, "percent": 50}]}),
                         400, "INVALID_ARGUMENT", "traffic percents must sum to 100, got 50")
        self.assertError(s.request("PUT", "/v1/services/lr/traffic", {"traffic": [{"revision": 1, "percent": 60},
                                                                                  {"revision": 1, "percent": 60}]}),
                         400, "INVALID_ARGUMENT", "must sum to 100, got 120")
        self.assertError(s.request("PUT", "/v1/services/lr/traffic", {"traffic": [{"revision": 7, "percent": 100}]}),
                         400, "INVALID_ARGUMENT", "traffic names revision 7, which service 'lr' does not have")
        self.assertError(s.request("PUT", "/v1/services/lr/traffic", {"traffic": [{"revision": 1, "percent": 101},
                                                                                  {"revision": 1, "percent": -1}]}),
                         400, "INVALID_ARGUMENT", "between 0 and 100")
        self.assertError(s.request("PUT", "/v1/services/lr/traffic", {"traffic": []}), 400, "INVALID_ARGUMENT",
                         "at least one revision")
        self.assertError(s.request("PUT", "/v1/services/lr/traffic", {"traffic": [{"revision": 1}]}), 400,
                         "INVALID_ARGUMENT", '"revision" and "percent"')
        self.assertError(s.request("PUT", "/v1/services/lr", {"model": {"name": "lr"},
                                                              "traffic": [{"revision": "latest", "percent": 90}]}),
                         400, "INVALID_ARGUMENT", "must sum to 100, got 90")
        svc = s.request("GET", "/v1/services/lr").json()
        self.assertEqual(svc["traffic"], [{"revision": 1, "percent": 100}], "failed changes left traffic alone")
        self.assertEqual(len(svc["revisions"]), 1, "a failed deploy created no revision")

    def test_rollback_with_nothing_to_roll_back_to(self):
        s = self.server
        self.assertError(s.request("POST", "/v1/services/lr:rollback"), 409, "CONFLICT",
                         "service 'lr' has no revision older than 1 to roll back to")
        self.assertError(s.request("POST", "/v1/services/lr:rollback", {"revision": 42}), 404, "NOT_FOUND",
                         "service 'lr' has no revision 42")

    # --------------------------------------------------------- slow clients

    def _assert_408(self, payload, chunks=(), pause=0.0, label=""):
        data, closed, first = raw_exchange(self.server.port, payload, wait=5, chunks=chunks, pause=pause)
        self.assertTrue(closed, "%s: the server kept the connection open" % label)
        self.assertTrue(data.startswith(b"HTTP/1.1 408 "),
                        "%s: expected a 408 response before the close, got %r after %.2fs"
                        % (label, data[:200], first or -1))
        status, headers, body = parse_raw_response(data)
        j = json.loads(body)
        self.assertEqual(j["code"], "DEADLINE_EXCEEDED")
        self.assertRegex(j["error"], "not received in time")
        self.assertEqual(headers.get("connection"), "close")
        self.assertGreaterEqual(first, HEADER_TIMEOUT_MS / 1000.0 * 0.9)

    def test_slow_request_line_gets_408(self):
        self._assert_408(b"GET /v2/heal", label="partial request line")

    def test_slow_headers_get_408(self):
        self._assert_408(b"POST /v2/models/lr/infer HTTP/1.1\r\nHost: x\r\nContent-Type: appl",
                         label="partial headers")

    def test_slow_body_gets_408(self):
        head = ("POST /v2/models/lr/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n" % self.server.admin_key).encode()
        self._assert_408(head + b'{"inputs":', label="partial body")

    def test_trickling_header_still_times_out(self):
        # One byte every 100 ms: the header deadline is absolute, not per read.
        t0 = time.monotonic()
        data, closed, first = raw_exchange(self.server.port, b"G", wait=6,
                                           chunks=[bytes([c]) for c in b"ET /v2/health/live HTTP/1.1\r\nX: "
                                                   + b"a" * 60], pause=0.1)
        self.assertTrue(closed, "a trickling client held the connection %.1fs" % (time.monotonic() - t0))
        self.assertLess(first, 3.0, "the connection outlived the header timeout by far")

    def test_idle_connections_closed_without_response(self):
        # Connected but silent: closed after the header timeout, no bytes sent.
        data, closed, first = raw_exchange(self.server.port, b"", wait=5)
        self.assertEqual((data, closed), (b"", True))
        self.assertGreaterEqual(first, HEADER_TIMEOUT_MS / 1000.0 * 0.9)
        # Keep-alive: one full request, then idle: one response, then a silent close.
        data, closed, first = raw_exchange(self.server.port, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n", wait=5)
        self.assertTrue(closed)
        self.assertEqual(data.count(b"HTTP/1.1 "), 1, data)
        status, headers, body = parse_raw_response(data)
        self.assertEqual((status, json.loads(body)), (200, {"live": True}))
        # http.client notices the close on its next request.
        c = self.server.connect()
        c.request("GET", "/v2/health/live")
        self.assertEqual(c.getresponse().read(), b'{"live":true}')
        time.sleep(HEADER_TIMEOUT_MS / 1000.0 + 0.4)
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
            c.request("GET", "/v2/health/live")
            c.getresponse()
        c.close()

    def test_malformed_http(self):
        data, closed, _ = raw_exchange(self.server.port, b"GARBAGE\r\n\r\n", wait=3)
        status, headers, body = parse_raw_response(data)
        self.assertEqual((status, json.loads(body)["code"]), (400, "INVALID_ARGUMENT"))
        self.assertIn("malformed HTTP request", json.loads(body)["error"])
        self.assertTrue(closed)
        huge = b"GET /v2/health/live HTTP/1.1\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
        data, closed, _ = raw_exchange(self.server.port, huge, wait=3)
        status, headers, body = parse_raw_response(data)
        self.assertIn(status, (413, 431))
        self.assertEqual(json.loads(body)["code"], "TOO_LARGE")


if __name__ == "__main__":
    unittest.main()
