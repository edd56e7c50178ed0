"""(a) Every generated converter-style model through the real server:
upload, deploy, KServe infer and row predict compared with `rtml run`, then
a restart on the same data directory and the same calls again."""

import hashlib
import json
import math
import os
import unittest

from rtml_server import (RtmlServer, flatten, model_path, models_dir, numbers_close, read_bytes,
                         rtml_run)


def load_manifest():
    with open(os.path.join(models_dir(), "manifest.json")) as f:
        return json.load(f)


def one_value_per_row(shape):
    # docs/api.md: an instance value is a scalar when the input holds one value
    # per row (shape [N] or [N,1]).
    return len(shape) <= 1 or (len(shape) == 2 and shape[1] == 1)


def rows_from_kserve(request, manifest_inputs):
    """Row-form instances holding the same values as a KServe request."""
    declared = {i["name"]: i["shape"] for i in manifest_inputs}
    per_input = []
    n_rows = None
    for inp in request["inputs"]:
        shape = inp["shape"]
        data = flatten(inp["data"])
        n = shape[0]
        row_size = math.prod(shape[1:]) if len(shape) > 1 else 1
        assert len(data) == n * row_size, inp["name"]
        n_rows = n if n_rows is None else n_rows
        assert n == n_rows, "inputs disagree on the number of rows"
        per_input.append((inp["name"], data, row_size, one_value_per_row(declared.get(inp["name"], shape))))
    instances = []
    for r in range(n_rows):
        inst = {}
        for name, data, rs, scalar in per_input:
            vals = data[r * rs:(r + 1) * rs]
            inst[name] = vals[0] if scalar and rs == 1 else vals
        instances.append(inst)
    return instances, n_rows


def kserve_rows(output, n_rows):
    """Per-row values of one KServe output, in the row form's layout."""
    data = output["data"]
    if output["datatype"] == "SEQUENCE_MAP":
        return list(data)
    shape = output["shape"]
    flat = flatten(data)
    if len(shape) >= 1 and shape[0] == n_rows:
        per_row = math.prod(shape[1:]) if len(shape) > 1 else 1
        return [flat[r * per_row] if per_row == 1 else flat[r * per_row:(r + 1) * per_row] for r in range(n_rows)]
    whole = flat[0] if (len(shape) == 0 and len(flat) == 1) else flat
    return [whole] * n_rows


class ConverterModels(unittest.TestCase):
    """One server, ~50 services; methods run in name order and share state."""

    server = None
    results = {}   # name -> (kserve outputs, predictions)
    manifest = []

    @classmethod
    def setUpClass(cls):
        cls.manifest = load_manifest()
        cls.server = RtmlServer(threads=2, name="models").start()

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            cls.server.close()

    def compare_outputs(self, got, want, what):
        self.assertEqual([o["name"] for o in got], [o["name"] for o in want], what + ": output names")
        for g, w in zip(got, want):
            self.assertEqual(g["datatype"], w["datatype"], "%s: datatype of %s" % (what, w["name"]))
            self.assertEqual(g["shape"], w["shape"], "%s: shape of %s" % (what, w["name"]))
            self.assertTrue(numbers_close(g["data"], w["data"], 1e-6),
                            "%s: data of %s differs:\n got  %s\n want %s"
                            % (what, w["name"], json.dumps(g["data"])[:400], json.dumps(w["data"])[:400]))

    def check_predict_matches(self, name, predictions, kserve_outputs, n_rows):
        self.assertEqual(len(predictions), n_rows, name + ": one prediction per instance")
        for out in kserve_outputs:
            want = kserve_rows(out, n_rows)
            for r in range(n_rows):
                self.assertIn(out["name"], predictions[r], "%s: row %d lacks output %s" % (name, r, out["name"]))
                got = predictions[r][out["name"]]
                self.assertTrue(numbers_close(got, want[r], 1e-6),
                                "%s row %d output %s: predict %r vs KServe %r" % (name, r, out["name"], got, want[r]))
                if out["datatype"] == "SEQUENCE_MAP":
                    self.assertIsInstance(got, dict, "ZipMap outputs come back as {label: prob} objects")

    def test_a1_upload_deploy_infer_predict(self):
        srv = self.server
        for entry in self.manifest:
            name = entry["name"]
            with self.subTest(model=name):
                onnx_bytes = read_bytes(model_path(name))
                sha = hashlib.sha256(onnx_bytes).hexdigest()
                r = srv.request("POST", "/v1/models/" + name, onnx_bytes)
                self.assertEqual(r.status, 201, r)
                up = r.json()
                self.assertEqual((up["name"], up["version"], up["sha256"], up["size_bytes"]),
                                 (name, 1, sha, len(onnx_bytes)))
                self.assertEqual([i["name"] for i in up["inputs"]], [i["name"] for i in entry["inputs"]])
                self.assertEqual([o["name"] for o in up["outputs"]], [o["name"] for o in entry["outputs"]])
                r = srv.request("POST", "/v1/models/" + name, onnx_bytes)
                self.assertEqual(r.status, 200, "same bytes again: " + repr(r))
                self.assertEqual((r.json()["version"], r.json()["sha256"]), (1, sha))

                d = srv.request("PUT", "/v1/services/" + name, {"model": {"name": name, "version": 1}})
                self.assertEqual(d.status, 201, d)
                dj = d.json()
                self.assertEqual((dj["name"], dj["revision"], dj["status"], dj["endpoint"], dj["traffic"]),
                                 (name, 1, "ready", "/v1/services/%s/predict" % name,
                                  [{"revision": 1, "percent": 100}]))

                req_path = model_path(name, ".request.json")
                request = json.loads(read_bytes(req_path))
                want = rtml_run(model_path(name), req_path)
                r = srv.infer(name, read_bytes(req_path))
                self.assertEqual(r.status, 200, r)
                kj = r.json()
                self.assertEqual((kj["model_name"], kj["model_version"]), (name, "1"))
                self.compare_outputs(kj["outputs"], want["outputs"], name + " KServe vs rtml run")

                instances, n_rows = rows_from_kserve(request, entry["inputs"])
                p = srv.predict(name, {"instances": instances})
                self.assertEqual(p.status, 200, p)
                pj = p.json()
                self.assertEqual(pj["revision"], 1)
                self.check_predict_matches(name, pj["predictions"], kj["outputs"], n_rows)
                type(self).results[name] = (kj["outputs"], pj["predictions"], instances)

    def test_a2_catalog_reads(self):
        srv = self.server
        names = sorted(self.results)
        self.assertTrue(names, "no model got through test_a1")
        r = srv.request("GET", "/v1/services")
        self.assertEqual(r.status, 200, r)
        listed = {s["name"]: s for s in r.json()["services"]}
        for name in names:
            with self.subTest(model=name):
                self.assertIn(name, listed)
                self.assertEqual(listed[name]["models"], [{"name": name, "version": 1}])
                self.assertGreaterEqual(listed[name]["requests"], 2)
        name = "logreg_binary_zipmap" if "logreg_binary_zipmap" in self.results else names[0]
        onnx_bytes = read_bytes(model_path(name))
        a = srv.request("GET", "/v1/models/%s/versions/1/artifact" % name)
        self.assertEqual(a.status, 200, a)
        self.assertEqual(a.body, onnx_bytes)
        self.assertEqual(a.header("X-Model-Sha256"), hashlib.sha256(onnx_bytes).hexdigest())
        meta = srv.request("GET", "/v2/models/" + name)
        self.assertEqual(meta.status, 200, meta)
        model = srv.request("GET", "/v1/models/" + name).json()["versions"][0]
        self.assertEqual(meta.json()["inputs"], model["inputs"])
        self.assertEqual(meta.json()["outputs"], model["outputs"])
        self.assertEqual(meta.json()["versions"], ["1"])
        ready = srv.request("GET", "/v2/models/%s/ready" % name)
        self.assertEqual((ready.status, ready.json()), (200, {"name": name, "ready": True}))
        # "outputs" selects outputs.
        req = json.loads(read_bytes(model_path(name, ".request.json")))
        last = self.results[name][0][-1]["name"]
        req["outputs"] = [{"name": last}]
        r = srv.infer(name, req)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([o["name"] for o in r.json()["outputs"]], [last])
        self.assertEqual(r.json()["outputs"][0], self.results[name][0][-1])
        req["outputs"] = [{"name": "no_such_output"}]
        r = srv.infer(name, req)
        self.assertEqual((r.status, r.error), (400, ("INVALID_ARGUMENT", "unknown output 'no_such_output'")))

    def test_a3_restart_same_results(self):
        srv = self.server
        names = sorted(self.results)
        self.assertTrue(names, "no model got through test_a1")
        first_ready = {}

        def on_first_ready(s):
            # Right after the first 200 of /v2/health/ready every service must serve.
            for name in names:
                r = s.infer(name, read_bytes(model_path(name, ".b1.json")))
                first_ready[name] = r.status

        srv.restart(on_first_ready=on_first_ready)
        self.assertEqual(srv.exit_codes[-1], 0)
        not_serving = {n: s for n, s in first_ready.items() if s != 200}
        self.assertEqual(not_serving, {}, "services not serving when /v2/health/ready first said 200 "
                         "(polls: %s)" % srv.ready_polls[:20])
        self.assertEqual(len(first_ready), len(names))
        ready_lines = [l for l in srv.log().splitlines() if "rtml: ready:" in l]
        self.assertIn("ready: %d services loaded" % len(names), ready_lines[-1])
        for name in names:
            with self.subTest(model=name):
                kserve_before, predict_before, instances = self.results[name]
                r = srv.infer(name, read_bytes(model_path(name, ".request.json")))
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["model_version"], "1")
                self.assertEqual(r.json()["outputs"], kserve_before, name + ": KServe output changed after restart")
                p = srv.predict(name, {"instances": instances})
                self.assertEqual(p.status, 200, p)
                self.assertEqual(p.json()["predictions"], predict_before, name + ": predictions changed after restart")
        # The catalog survived: models and key.
        r = srv.request("GET", "/v1/models")
        self.assertEqual(r.status, 200, r)
        self.assertLessEqual(set(names), {m["name"] for m in r.json()["models"]})


if __name__ == "__main__":
    unittest.main()
