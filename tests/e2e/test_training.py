"""Authoring end to end (issue 5, SPEC sections 4 "Authoring" and 5): feature
pipelines, training runs (XGBoost) exported to ONNX, pipeline services.

One server and one generated web store (tools/demo_data.py, 20,000 customers,
ingested as dataset `customers`) are shared by every test; the gbdt and
logistic runs over the generated 10-node pipeline start in setUpClass.

  test_a_drift               validation rows scored by the run's columnar plan ==
                             the same rows predicted one per HTTP request (exact)
  test_b_quality             gbdt AUC >= 0.80, logistic >= 0.70, next to the Bayes AUC;
                             the reported AUC recomputed from the validation scores
  test_c_run_record          metrics, parameters, data source, rows, duration, list
  test_d_exported_onnx       the artifact passes onnx.checker; opset and operators;
                             exported model == XGBoost within 1e-5
  test_e_kserve_pipeline     {"pipeline": ...} deploy; KServe v2 columnar infer ==
                             row predict == validation scores
  test_f_bad_requests        every bad training request: status, code, message
  test_g_bad_pipelines       cycle, unknown op, type mismatch, missing model, input
                             not produced: 400 naming the node (runs and deploys)
  test_h_cancel_while_serving a long run is cancelled; predictions keep succeeding
                             with sane latency while it trains
  test_i_cli                 `rtml train --pipeline --deploy`, and a CLI error

    /usr/bin/python3 tests/e2e/run.py --rtml build/rtml --models build/testmodels -k test_training. -q
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True

from rtml_server import REPO, RtmlServer, rtml_binary

sys.path.insert(0, os.path.join(REPO, "tools"))
import demo_data  # noqa: E402

CUSTOMERS = 20000
SEED = 1
DATASET = "customers"
LABEL = "churned"


def wait_run(srv, run_id, timeout=300, until=("succeeded", "failed", "cancelled")):
    deadline = time.monotonic() + timeout
    while True:
        r = srv.request("GET", "/v1/training-runs/" + run_id)
        if r.status != 200:
            raise AssertionError("GET run %s: %r" % (run_id, r))
        run = r.json()
        if run["status"] in until:
            return run
        if time.monotonic() > deadline:
            raise AssertionError("run %s still %s after %d s" % (run_id, run["status"], timeout))
        time.sleep(0.05)


def percentile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


class TestTraining(unittest.TestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        t0 = time.monotonic()
        # now=None: the current hour, so days_since at training time matches the generator's recency.
        cls.demo = demo_data.generate(CUSTOMERS, seed=SEED, now=None)
        cls.customers = {c["_id"]: c for c in cls.demo.customers}
        cls.pipeline = cls.demo.pipeline
        cls.input_names = [i["name"] for i in cls.pipeline["inputs"]]
        cls.server = RtmlServer(threads=2, name="training").start()
        try:
            cls._prepare(cls.server)
        except BaseException:
            cls.server.close()  # tearDownClass does not run when setUpClass fails
            raise
        print("\n  setup: %d customers generated, ingested and trained twice in %.1f s"
              % (CUSTOMERS, time.monotonic() - t0), end="")

    @classmethod
    def _prepare(cls, srv):
        for path, body in (("/v1/schemas/customer_snapshot", cls.demo.schemas["customer_snapshot"]),
                           ("/v1/datasets/" + DATASET, {"schema": "customer_snapshot"}),
                           ("/v1/datasets/empty_customers", {"schema": "customer_snapshot"})):
            r = srv.request("PUT", path, body)
            assert r.status in (200, 201), (path, r)
        r = srv.ingest(DATASET, cls.demo.customers)
        assert r.status == 200 and r.json()["accepted"] == CUSTOMERS, r
        cls.runs = {}
        for algo in ("gbdt", "logistic"):
            r = srv.request("POST", "/v1/training-runs",
                            {"model": "churn_" + algo, "dataset": DATASET, "label": LABEL, "pipeline": cls.pipeline,
                             "algorithm": algo, "params": {"num_round": 200, "eta": 0.1} if algo == "gbdt" else {},
                             "validation": {"fraction": 0.2, "seed": 7}})
            assert r.status == 202, r
            cls.runs[algo] = r.json()["id"]
        cls.finished = {algo: wait_run(srv, rid) for algo, rid in cls.runs.items()}
        for algo, run in cls.finished.items():
            assert run["status"] == "succeeded", (algo, run.get("error"))
        r = srv.request("PUT", "/v1/services/churn", {"training_run": cls.runs["gbdt"]})
        assert r.status == 201, r

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            cls.server.close()

    # ----------------------------------------------------------- helpers

    def instance(self, customer):
        """The raw record a client would send: the pipeline's input fields (missing ones left out)."""
        return {k: customer[k] for k in self.input_names if k in customer}

    def validation(self, algo):
        r = self.server.request("GET", "/v1/training-runs/%s/validation" % self.runs[algo])
        self.assertEqual(r.status, 200, r)
        return r.json()

    def assert_error(self, r, status, code, *fragments):
        self.assertEqual(r.status, status, r)
        got_code, message = r.error
        self.assertEqual(got_code, code, r)
        for f in fragments:
            self.assertIn(f, message, r)
        return message

    def start_run(self, body):
        return self.server.request("POST", "/v1/training-runs", body)

    def base_request(self, **kw):
        body = {"model": "m_bad", "dataset": DATASET, "label": LABEL, "pipeline": self.pipeline, "algorithm": "gbdt"}
        body.update(kw)
        return {k: v for k, v in body.items() if v is not None}

    # ----------------------------------------------------------- tests

    def test_a_drift(self):
        """Columnar validation scores == one-row HTTP predictions, bit for bit."""
        run = self.finished["gbdt"]
        val = self.validation("gbdt")
        self.assertEqual(val["reference_time"], run["reference_time"])
        rows = val["rows"]
        self.assertEqual(len(rows), run["metrics"]["validation_rows"])
        self.assertEqual(len(rows), round(CUSTOMERS * 0.2))
        conn = self.server.connect()
        compared = 0
        mismatches = []
        try:
            for row in rows:
                customer = self.customers[row["_id"]]
                body = {"instances": [self.instance(customer)], "now": run["reference_time"]}
                r = self.server.predict("churn", body, conn=conn)
                self.assertEqual(r.status, 200, r)
                pred = r.json()["predictions"][0]
                self.assertEqual(set(pred), {"probability", "label"})
                for out in ("probability", "label"):
                    if pred[out] != row[out]:
                        mismatches.append((row["_id"], out, row[out], pred[out]))
                compared += 1
        finally:
            conn.close()
        print("\n  drift test: %d validation rows, columnar plan vs one-row HTTP predict: %d identical, "
              "%d different" % (compared, compared - len(mismatches), len(mismatches)))
        self.assertEqual(mismatches, [], "first differences: %r" % mismatches[:5])
        self.assertEqual(compared, len(rows))
        # Without "now" the request time is the wall clock: days_since moves on, scores are still valid.
        r = self.server.predict("churn", {"instances": [self.instance(self.customers[rows[0]["_id"]])]})
        self.assertEqual(r.status, 200, r)
        self.assertTrue(0 <= r.json()["predictions"][0]["probability"] <= 1)

    def test_b_quality(self):
        bayes = self.demo.truth["bayes_auc"]
        aucs = {}
        for algo in ("gbdt", "logistic"):
            m = self.finished[algo]["metrics"]
            aucs[algo] = m["auc"]
            # The reported AUC is the AUC of the validation scores against the labels.
            rows = self.validation(algo)["rows"]
            scores = [r["probability"] for r in rows]
            labels = [self.customers[r["_id"]][LABEL] for r in rows]
            self.assertAlmostEqual(demo_data.auc(scores, labels), m["auc"], delta=1e-3)
            bayes_val = demo_data.auc([self.demo.truth["probability"][r["_id"]] for r in rows], labels)
            aucs[algo + "_bayes_validation"] = bayes_val
        print("\n  quality (%d customers, seed %d, 80/20 split): gbdt AUC %.4f, logistic AUC %.4f; "
              "Bayes-optimal AUC %.4f (all rows), %.4f (validation rows)"
              % (CUSTOMERS, SEED, aucs["gbdt"], aucs["logistic"], bayes, aucs["gbdt_bayes_validation"]))
        self.assertGreaterEqual(aucs["gbdt"], 0.80)
        self.assertGreaterEqual(aucs["logistic"], 0.70)
        self.assertLessEqual(aucs["gbdt"], aucs["gbdt_bayes_validation"] + 0.01)  # nothing beats the truth

    def test_c_run_record(self):
        for algo in ("gbdt", "logistic"):
            run = self.finished[algo]
            self.assertEqual(run["status"], "succeeded")
            self.assertEqual(run["progress"], 1)
            self.assertEqual(run["id"], self.runs[algo])
            self.assertEqual(run["algorithm"], algo)
            self.assertEqual(run["data_source"], "dataset:" + DATASET)
            self.assertEqual(run["rows"], CUSTOMERS)
            self.assertEqual(run["task"], "binary")
            self.assertGreater(run["duration_s"], 0)
            for k in ("created", "started", "finished", "reference_time"):
                self.assertRegex(run[k], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", k)
            self.assertEqual(run["model"], {"name": "churn_" + algo, "version": 1})
            self.assertEqual(run["request"]["label"], LABEL)
            self.assertEqual(run["request"]["pipeline"], self.pipeline)
            if algo == "gbdt":
                self.assertEqual(run["request"]["params"], {"num_round": 200, "eta": 0.1})
            m = run["metrics"]
            for k in ("auc", "logloss", "accuracy"):
                self.assertIsInstance(m[k], float, k)
            self.assertTrue(0 < m["logloss"] < 0.69 and 0.5 < m["accuracy"] <= 1, m)
            self.assertEqual((m["train_rows"], m["validation_rows"]), (16000, 4000))
            self.assertGreaterEqual(m["best_iteration"], 0)
            cal = m["calibration"]
            self.assertGreaterEqual(len(cal), 5)
            self.assertEqual(sum(b["count"] for b in cal), 4000)
            for b in cal:
                if b["count"]:
                    self.assertTrue(0 <= b["predicted"] <= 1 and 0 <= b["observed"] <= 1, b)
            # The deployable pipeline: fitted feature nodes, then the model and its outputs.
            nodes = {n["id"]: n for n in run["pipeline"]["nodes"]}
            self.assertEqual(nodes["model"]["params"]["model"], "churn_" + algo)
            self.assertIn("fitted", nodes["price"]["params"])   # fillna median
            self.assertIn("fitted", nodes["ctry"]["params"])    # top_k
            self.assertEqual(run["pipeline"]["outputs"], {"probability": "probability", "label": "label"})
        r = self.server.request("GET", "/v1/training-runs")
        self.assertEqual(r.status, 200, r)
        listed = {x["id"]: x for x in r.json()["training_runs"]}
        for algo, rid in self.runs.items():
            self.assertEqual(listed[rid]["status"], "succeeded")
            self.assertNotIn("pipeline", listed[rid])
        # The model is stored like any upload.
        r = self.server.request("GET", "/v1/models/churn_gbdt")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["latest"], 1)

    def test_d_exported_onnx(self):
        import onnx
        import onnx.checker
        expected_op = {"gbdt": "TreeEnsembleClassifier", "logistic": "LinearClassifier"}
        for algo in ("gbdt", "logistic"):
            r = self.server.request("GET", "/v1/models/churn_%s/versions/1/artifact" % algo)
            self.assertEqual(r.status, 200, r)
            model = onnx.load_model_from_string(r.body)
            onnx.checker.check_model(model)
            ops = [n.op_type for n in model.graph.node]
            self.assertIn(expected_op[algo], ops)
            domains = {o.domain: o.version for o in model.opset_import}
            self.assertIn("ai.onnx.ml", domains)
            self.assertEqual(len(model.graph.input), 1)
            outs = [o.name for o in model.graph.output]
            self.assertIn("probabilities", outs)
            # Scored by rtml's engine, the exported model equals XGBoost's own predictions.
            self.assertLessEqual(self.finished[algo]["metrics"]["onnx_max_abs_diff"], 1e-5)
            print("\n  %s: %d bytes, opsets %s, ops %s, checker ok" % (algo, len(r.body), domains, sorted(set(ops))),
                  end="")
        # The stored model deploys alone, too (one onnx node over the feature vector).
        r = self.server.request("PUT", "/v1/services/churn_model_only", {"model": {"name": "churn_gbdt", "version": 1}})
        self.assertEqual(r.status, 201, r)

    def fixed_time_pipeline(self):
        """The gbdt run's deployable pipeline with days_since pinned to the run's reference time."""
        run = self.finished["gbdt"]
        p = json.loads(json.dumps(run["pipeline"]))
        for n in p["nodes"]:
            if n["op"] == "days_since":
                n.setdefault("params", {})["reference"] = run["reference_time"]
        return p

    def test_e_kserve_pipeline(self):
        srv = self.server
        r = srv.request("PUT", "/v1/services/churn_fixed", {"pipeline": self.fixed_time_pipeline()})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["endpoint"], "/v1/services/churn_fixed/predict")
        meta = srv.request("GET", "/v2/models/churn_fixed")
        self.assertEqual(meta.status, 200, meta)
        self.assertEqual([i["name"] for i in meta.json()["inputs"]], self.input_names)
        kinds = {i["name"]: i["datatype"] for i in meta.json()["inputs"]}
        val = {row["_id"]: row for row in self.validation("gbdt")["rows"]}
        ids = sorted(val)[:200]
        customers = [self.customers[i] for i in ids]
        inputs = []
        for name in self.input_names:
            dt = kinds[name]
            data = [c.get(name) for c in customers]
            if dt == "FP64":
                data = ["NaN" if v is None else v for v in data]
            inputs.append({"name": name, "shape": [len(data)], "datatype": dt, "data": data})
        r = srv.infer("churn_fixed", {"inputs": inputs})
        self.assertEqual(r.status, 200, r)
        outs = {o["name"]: o for o in r.json()["outputs"]}
        self.assertEqual(set(outs), {"probability", "label"})
        self.assertEqual(outs["probability"]["shape"], [len(ids)])
        # Row form, same rows in one request, and without "now" (the reference is pinned).
        r = srv.predict("churn_fixed", {"instances": [self.instance(c) for c in customers]})
        self.assertEqual(r.status, 200, r)
        preds = r.json()["predictions"]
        for k, i in enumerate(ids):
            self.assertEqual(outs["probability"]["data"][k], preds[k]["probability"], i)
            self.assertEqual(outs["label"]["data"][k], preds[k]["label"], i)
            self.assertEqual(preds[k]["probability"], val[i]["probability"], i)
        # The run's own deployable pipeline (days_since unpinned) over KServe with
        # parameters.now = the reference time equals the columnar validation scores too.
        r = srv.request("PUT", "/v1/services/churn_run", {"training_run": self.finished["gbdt"]["id"]})
        self.assertIn(r.status, (200, 201), r)
        now = self.finished["gbdt"]["reference_time"]
        r = srv.infer("churn_run", {"inputs": inputs, "parameters": {"now": now}})
        self.assertEqual(r.status, 200, r)
        probs = {o["name"]: o for o in r.json()["outputs"]}["probability"]["data"]
        for k, i in enumerate(ids):
            self.assertEqual(probs[k], val[i]["probability"], i)
        r = srv.infer("churn_run", {"inputs": inputs, "parameters": {"now": "yesterday"}})
        self.assert_error(r, 400, "INVALID_ARGUMENT", "parameters")
        # Requested outputs only; a missing input is named.
        r = srv.infer("churn_fixed", {"inputs": inputs, "outputs": [{"name": "label"}]})
        self.assertEqual([o["name"] for o in r.json()["outputs"]], ["label"])
        r = srv.infer("churn_fixed", {"inputs": inputs[1:]})
        self.assert_error(r, 400, "INVALID_ARGUMENT", "missing input '%s'" % self.input_names[0])
        r = srv.predict("churn_fixed", {"instances": [dict(self.instance(customers[0]), colour="red")]})
        self.assert_error(r, 400, "INVALID_ARGUMENT", "instances[0]: unknown field 'colour'")

    def test_f_bad_requests(self):
        cases = [
            ("unknown label", self.base_request(label="nosuch"), 400, "INVALID_ARGUMENT",
             ["unknown label column 'nosuch'", "churned"]),
            ("non-numeric label", self.base_request(label="device", pipeline=None, features=["visits_30d"]), 400,
             "INVALID_ARGUMENT", ["label 'device' is not numeric"]),
            ("empty dataset", self.base_request(dataset="empty_customers"), 400, "INVALID_ARGUMENT",
             ["dataset 'empty_customers' has no rows"]),
            ("leakage: feature is the label", self.base_request(pipeline=None, features=["visits_30d", LABEL]), 400,
             "INVALID_ARGUMENT", ["feature 'churned' is the label (label leakage)"]),
            ("leakage: pipeline input is the label",
             self.base_request(pipeline={"inputs": [{"name": "visits_30d", "type": "number"},
                                                    {"name": LABEL, "type": "number"}],
                                         "nodes": [{"id": "features", "op": "concat", "inputs": ["visits_30d", LABEL]}],
                                         "outputs": {"features": "features"}}),
             400, "INVALID_ARGUMENT", ["pipeline input 'churned' is the label (label leakage)"]),
            ("unknown dataset", self.base_request(dataset="nosuch_ds"), 404, "NOT_FOUND", ["nosuch_ds"]),
            ("bad SQL", self.base_request(dataset=None, sql="SELEC churned FROM customers"), 400, "INVALID_ARGUMENT",
             ["SQL error", "syntax error"]),
            ("SQL on an unknown table", self.base_request(dataset=None, sql="SELECT * FROM nosuch_table"), 400,
             "INVALID_ARGUMENT", ["nosuch_table"]),
            ("unknown algorithm", self.base_request(algorithm="forest"), 400, "INVALID_ARGUMENT",
             ["unknown algorithm 'forest'", "gbdt, logistic"]),
            ("unknown parameter", self.base_request(params={"depth": 3}), 400, "INVALID_ARGUMENT",
             ["unknown parameter 'depth'", "max_depth"]),
            ("parameter out of range", self.base_request(params={"max_depth": 99}), 400, "INVALID_ARGUMENT",
             ["parameter 'max_depth' must be an integer from 1 to 20, got '99'"]),
            ("parameter of the other algorithm", self.base_request(algorithm="logistic", params={"max_depth": 3}),
             400, "INVALID_ARGUMENT", ["parameter 'max_depth' does not apply to algorithm logistic"]),
            ("parameter not a number", self.base_request(params={"eta": [0.1]}), 400, "INVALID_ARGUMENT",
             ["params.eta must be a number or a string"]),
            ("unknown field", self.base_request(colour="red"), 400, "INVALID_ARGUMENT", ["unknown field 'colour'"]),
            ("unknown validation field", self.base_request(validation={"fraction": 0.2, "folds": 5}), 400,
             "INVALID_ARGUMENT", ["unknown field 'validation.folds'"]),
            ("validation fraction", self.base_request(validation={"fraction": 1.5}), 400, "INVALID_ARGUMENT",
             ["validation.fraction"]),
            ("no model name", self.base_request(model=None), 400, "INVALID_ARGUMENT", ["\"model\""]),
            ("two data sources", self.base_request(sql="SELECT * FROM customers"), 400, "INVALID_ARGUMENT",
             ["exactly one data source"]),
            ("pipeline and features", self.base_request(features=["visits_30d"]), 400, "INVALID_ARGUMENT",
             ["either \"pipeline\" or \"features\""]),
            ("unknown feature", self.base_request(pipeline=None, features=["nosuch"]), 400, "INVALID_ARGUMENT",
             ["unknown feature column 'nosuch'"]),
            ("text feature", self.base_request(pipeline=None, features=["device"]), 400, "INVALID_ARGUMENT",
             ["feature 'device' holds text"]),
            ("pipeline input not a column",
             self.base_request(pipeline={"inputs": [{"name": "shoe_size", "type": "number"}],
                                         "nodes": [], "outputs": {"features": "shoe_size"}}),
             400, "INVALID_ARGUMENT", ["pipeline input 'shoe_size' is not a column"]),
            ("not JSON", "{\"model\": ", 400, "INVALID_ARGUMENT", ["not valid JSON"]),
        ]
        before = len(self.server.request("GET", "/v1/training-runs").json()["training_runs"])
        for name, body, status, code, fragments in cases:
            with self.subTest(name):
                r = self.start_run(body)
                msg = self.assert_error(r, status, code, *fragments)
                print("\n  %-36s %d %s" % (name, r.status, msg), end="")
        # None of them created a run.
        self.assertEqual(len(self.server.request("GET", "/v1/training-runs").json()["training_runs"]), before)
        # Leakage hidden under another name is found on the data: the run fails naming the column.
        r = self.start_run({"model": "m_leak", "label": LABEL, "algorithm": "gbdt",
                            "sql": "SELECT visits_30d, churned, churned AS will_churn FROM customers",
                            "features": ["visits_30d", "will_churn"]})
        self.assertEqual(r.status, 202, r)
        run = wait_run(self.server, r.json()["id"])
        self.assertEqual(run["status"], "failed")
        self.assertIn("feature 'will_churn' equals the label 'churned' on every row (label leakage)", run["error"])
        print("\n  %-36s run failed: %s" % ("leakage: copy of the label", run["error"]))
        # A label that is not 0/1 (regression) still trains; a constant label is refused.
        r = self.start_run({"model": "m_const", "label": "one", "algorithm": "gbdt",
                            "sql": "SELECT visits_30d, 1 AS one FROM customers", "features": ["visits_30d"]})
        self.assertEqual(r.status, 202, r)
        run = wait_run(self.server, r.json()["id"])
        self.assertEqual(run["status"], "failed")
        self.assertIn("only one class", run["error"])
        # Unknown run ids.
        self.assert_error(self.server.request("GET", "/v1/training-runs/run_nosuch"), 404, "NOT_FOUND", "run_nosuch")
        self.assert_error(self.server.request("GET", "/v1/training-runs/run_nosuch/validation"), 404, "NOT_FOUND")
        self.assert_error(self.server.request("PUT", "/v1/services/x", {"training_run": "run_nosuch"}), 404,
                          "NOT_FOUND", "run_nosuch")

    def test_g_bad_pipelines(self):
        def pipe(nodes, outputs=None, inputs=None):
            return {"inputs": inputs or [{"name": "visits_30d", "type": "number"},
                                         {"name": "device", "type": "string"}],
                    "nodes": nodes, "outputs": outputs or {"features": "features"}}

        cases = [
            ("cycle", pipe([{"id": "a", "op": "log1p", "inputs": ["b"]},
                            {"id": "b", "op": "log1p", "inputs": ["a"]},
                            {"id": "features", "op": "concat", "inputs": ["a"]}]), ["cycle"], ["'a'", "'b'"]),
            ("unknown op", pipe([{"id": "features", "op": "sqrt", "inputs": ["visits_30d"]}]),
             ["node 'features'", "unknown op 'sqrt'"], []),
            ("type mismatch", pipe([{"id": "dev_log", "op": "log1p", "inputs": ["device"]},
                                    {"id": "features", "op": "concat", "inputs": ["dev_log"]}]),
             ["node 'dev_log'", "string"], []),
            ("input not produced", pipe([{"id": "features", "op": "concat", "inputs": ["visits_30d", "ghost"]}]),
             ["node 'features'", "'ghost'"], []),
            ("bad params", pipe([{"id": "features", "op": "fillna", "inputs": ["visits_30d"],
                                  "params": {"strategy": "average"}}]), ["node 'features'", "average"], []),
            ("unknown key", pipe([{"id": "features", "op": "concat", "inputs": ["visits_30d"], "colour": 1}]),
             ["colour"], []),
        ]
        missing_model = pipe([{"id": "features", "op": "concat", "inputs": ["visits_30d"]},
                              {"id": "m", "op": "onnx", "inputs": ["features"],
                               "params": {"model": "no_such_model", "version": 1}}],
                             outputs={"features": "features", "score": "m"})
        cases.append(("missing model", missing_model, ["node 'm' (onnx)", "model 'no_such_model' version 1 not found"],
                      []))
        for name, p, fragments, any_of in cases:
            for where in ("run", "deploy"):
                with self.subTest(where + ": " + name):
                    if where == "run":  # rejected before anything is queued
                        r = self.start_run(self.base_request(pipeline=p))
                    else:
                        r = self.server.request("PUT", "/v1/services/bad_pipe", {"pipeline": p})
                    msg = self.assert_error(r, 400, "INVALID_ARGUMENT", "pipeline: ", *fragments)
                    if any_of:
                        self.assertTrue(any(a in msg for a in any_of), msg)
                    print("\n  %-6s %-20s %s" % (where, name, msg), end="")
        self.assertEqual(self.server.request("GET", "/v1/services/bad_pipe").status, 404)

    def test_h_cancel_while_serving(self):
        srv = self.server
        body = {"instances": [self.instance(self.demo.customers[0])]}
        conn = srv.connect()

        def timed_predicts(n=None, seconds=None):
            lat = []
            end = time.monotonic() + (seconds or 0)
            while (len(lat) < n) if n else (time.monotonic() < end):
                t0 = time.monotonic()
                r = srv.predict("churn", body, conn=conn)
                lat.append(time.monotonic() - t0)
                self.assertEqual(r.status, 200, r)
            return lat

        idle = timed_predicts(n=300)
        r = self.start_run({"model": "m_long", "dataset": DATASET, "label": LABEL, "pipeline": self.pipeline,
                            "algorithm": "gbdt",
                            "params": {"num_round": 10000, "early_stopping_rounds": 0, "max_depth": 8, "eta": 0.01}})
        self.assertEqual(r.status, 202, r)
        rid = r.json()["id"]
        run = wait_run(srv, rid, timeout=60, until=("running", "succeeded", "failed", "cancelled"))
        self.assertEqual(run["status"], "running")
        deadline = time.monotonic() + 60
        while run["progress"] <= 0.1 and time.monotonic() < deadline:  # past loading: boosting rounds
            time.sleep(0.05)
            run = srv.request("GET", "/v1/training-runs/" + rid).json()
        self.assertEqual(run["status"], "running", run)
        progress_before = run["progress"]
        busy = timed_predicts(seconds=1.5)
        progress_during = srv.request("GET", "/v1/training-runs/" + rid).json()
        self.assertEqual(progress_during["status"], "running", "the run ended before it could be cancelled")
        self.assertGreater(progress_during["progress"], progress_before, "training made no progress meanwhile")
        r = srv.request("POST", "/v1/training-runs/%s:cancel" % rid)
        self.assertIn(r.status, (200, 202), r)
        run = wait_run(srv, rid, timeout=30)
        conn.close()
        self.assertEqual(run["status"], "cancelled", run)
        self.assertLess(run["progress"], 1)
        self.assertEqual(run["error"], "training cancelled")
        self.assertNotIn("model", run)
        self.assert_error(srv.request("POST", "/v1/training-runs/%s:cancel" % rid), 409, "CONFLICT")
        self.assert_error(srv.request("POST", "/v1/training-runs/%s:cancel" % self.runs["gbdt"]), 409, "CONFLICT",
                          "already succeeded")
        self.assert_error(srv.request("POST", "/v1/training-runs/run_nosuch:cancel"), 404, "NOT_FOUND")
        self.assert_error(srv.request("PUT", "/v1/services/x", {"training_run": rid}), 409, "CONFLICT",
                          "cancelled")
        self.assertEqual(srv.request("GET", "/v1/models/m_long").status, 404)
        p50_idle, p50_busy = percentile(idle, 0.5) * 1e3, percentile(busy, 0.5) * 1e3
        p99_busy = percentile(busy, 0.99) * 1e3
        print("\n  predict round trip (Python client) idle p50 %.2f ms; while training (%d requests, progress "
              "%.3f -> %.3f) p50 %.2f ms, p99 %.2f ms; run cancelled at progress %.3f"
              % (p50_idle, len(busy), progress_before, progress_during["progress"], p50_busy, p99_busy,
                 run["progress"]))
        # Training has its own thread: serving keeps answering, well within interactive latency.
        self.assertLess(p50_busy, max(20.0, 10 * p50_idle))
        self.assertLess(p99_busy, 200.0)

    def test_i_cli(self):
        srv = self.server
        with tempfile.TemporaryDirectory(prefix="rtml-train-cli-") as tmp:
            pfile = os.path.join(tmp, "pipeline.json")
            with open(pfile, "w") as f:
                json.dump(self.pipeline, f)
            cmd = [rtml_binary(), "train", "--server", "127.0.0.1:%d" % srv.port, "--data-dir", srv.data_dir,
                   "--dataset", DATASET, "--label", LABEL, "--pipeline", pfile, "--model", "churn_cli",
                   "--algorithm", "gbdt", "--param", "max_depth=4", "--deploy", "churn_cli"]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
            # Progress on stderr (line by line when stderr is not a terminal), the run and the deploy on stdout.
            self.assertRegex(p.stderr, r"run_[0-9a-f]+ +\d+\.\d% (queued|running)\n")
            self.assertRegex(p.stderr, r"run_[0-9a-f]+ +100\.0% succeeded\n")
            out = p.stdout
            run = json.JSONDecoder().raw_decode(out)[0]
            self.assertEqual(run["status"], "succeeded")
            self.assertEqual(run["request"]["params"], {"max_depth": "4"})
            self.assertGreaterEqual(run["metrics"]["auc"], 0.80)
            self.assertIn('"endpoint":"/v1/services/churn_cli/predict"', out.replace(" ", ""))
            r = srv.predict("churn_cli", {"instances": [self.instance(self.demo.customers[1])]})
            self.assertEqual(r.status, 200, r)
            self.assertTrue(0 <= r.json()["predictions"][0]["probability"] <= 1)
            print("\n  rtml train: exit 0, run %s AUC %.4f, deployed churn_cli; stderr:\n    %s"
                  % (run["id"], run["metrics"]["auc"], "\n    ".join(p.stderr.strip().splitlines()[-3:])))
            # One clear error line, non-zero exit.
            bad = cmd[:cmd.index("--label") + 1] + ["nosuch"] + cmd[cmd.index("--label") + 2:]
            p = subprocess.run(bad, capture_output=True, text=True, timeout=60)
            self.assertNotEqual(p.returncode, 0)
            lines = p.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, p.stderr)
            self.assertIn("unknown label column 'nosuch'", lines[0])
            self.assertNotIn("{", lines[0])
            print("  rtml train --label nosuch: exit %d, stderr: %s" % (p.returncode, lines[0]))


if __name__ == "__main__":
    unittest.main()
