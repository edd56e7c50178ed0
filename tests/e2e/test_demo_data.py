"""tools/demo_data.py: the demo data generator's files and invariants (no server).

  TestDemoData   runs the CLI for 2,000 customers twice (same seed and --now):
                 identical files; schemas with the documented fields; snapshot
                 rows typed and consistent with the events; label rate and the
                 Bayes AUC in range; truth recomputable from the rows; a
                 well-formed pipeline over snapshot columns.

    /usr/bin/python3 tests/e2e/test_demo_data.py        # standalone, ~2 s
"""

import filecmp
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TOOLS = os.path.join(REPO, "tools")
sys.path.insert(0, TOOLS)

import demo_data  # noqa: E402

NOW = "2024-06-01T12:00:00Z"
CUSTOMERS = 2000
SEED = 3
FILES = ["schemas/web.json", "schemas/customer_snapshot.json", "events.ndjson", "customers.ndjson",
         "truth.json", "pipeline.json", "README.txt"]
SNAPSHOT_TYPES = {  # field -> (schema type, Python type)
    "customer_id": ("string", str), "identity": ("string", str), "device": ("string", str),
    "country": ("string", str), "last_visit": ("date-time", str), "visits_30d": ("integer", int),
    "sessions_hour": ("integer", int), "avg_price": ("number", float), "discount_share": ("number", float),
    "cart_abandons_30d": ("integer", int), "churned": ("integer", int),
}
EVENT_TYPES = {"web.pageView", "commerce.productView", "commerce.addToCart", "commerce.purchase"}
PIPELINE_OPS = {"fillna", "map", "lower", "bucketize", "top_k", "one_hot", "hour", "dayofweek", "days_since", "add",
                "sub", "mul", "div", "log1p", "standardize", "concat", "select", "threshold", "argmax", "profile",
                "onnx"}
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def run_generator(outdir, seed=SEED):
    out = subprocess.run([PYTHON, "-B", os.path.join(TOOLS, "demo_data.py"), outdir, "--customers", str(CUSTOMERS),
                          "--seed", str(seed), "--now", NOW], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError("demo_data.py exited %d: %s" % (out.returncode, out.stderr))
    return json.loads(out.stdout)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_ndjson(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def field(schema, dotted):
    node = schema
    for part in dotted.split("."):
        node = node["properties"][part]
    return node


class TestDemoData(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="rtml-demo-data-")
        cls.dir_a = os.path.join(cls._tmp.name, "a")
        cls.dir_b = os.path.join(cls._tmp.name, "b")
        cls.summary = run_generator(cls.dir_a)
        run_generator(cls.dir_b)
        cls.customers = load_ndjson(os.path.join(cls.dir_a, "customers.ndjson"))
        cls.events = load_ndjson(os.path.join(cls.dir_a, "events.ndjson"))
        cls.truth = load_json(os.path.join(cls.dir_a, "truth.json"))
        cls.now_ms = demo_data.parse_rfc3339_ms(NOW)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_files_exist_and_are_deterministic(self):
        for name in FILES:
            self.assertTrue(os.path.getsize(os.path.join(self.dir_a, name)) > 0, name)
        _, mismatch, errors = filecmp.cmpfiles(self.dir_a, self.dir_b, FILES, shallow=False)
        self.assertEqual((mismatch, errors), ([], []))

    def test_other_seed_differs(self):
        other = os.path.join(self._tmp.name, "other")
        run_generator(other, seed=SEED + 1)
        self.assertFalse(filecmp.cmp(os.path.join(self.dir_a, "customers.ndjson"),
                                     os.path.join(other, "customers.ndjson"), shallow=False))

    def test_web_schema(self):
        s = load_json(os.path.join(self.dir_a, "schemas", "web.json"))
        self.assertEqual(s["class"], "experience-event")
        self.assertEqual(field(s, "device"), {"type": "enum", "enum": ["mobile", "desktop", "tablet"]})
        self.assertEqual(field(s, "commerce.order.priceTotal")["type"], "number")
        self.assertEqual(field(s, "product.category")["type"], "string")
        self.assertEqual(field(s, "product.price")["type"], "number")

    def test_customer_snapshot_schema(self):
        s = load_json(os.path.join(self.dir_a, "schemas", "customer_snapshot.json"))
        self.assertEqual(s["class"], "adhoc")
        self.assertEqual({k: v["type"] for k, v in s["properties"].items()},
                         {k: t for k, (t, _) in SNAPSHOT_TYPES.items()})
        self.assertEqual(set(s["required"]), set(SNAPSHOT_TYPES) - {"avg_price"})

    def test_customer_rows(self):
        self.assertEqual(len(self.customers), CUSTOMERS)
        ids = set()
        for row in self.customers:
            self.assertEqual(set(row) - {"avg_price"}, set(SNAPSHOT_TYPES) - {"avg_price"} | {"_id"}, row)
            for name, value in row.items():
                if name == "_id":
                    continue
                want = SNAPSHOT_TYPES[name][1]
                self.assertTrue(type(value) is want or (want is float and type(value) is int), (name, value))
            self.assertRegex(row["customer_id"], r"^C[0-9]{5}$")
            self.assertEqual(row["_id"], row["customer_id"])
            self.assertRegex(row["identity"], r"^email:c[0-9]{5}@example\.com$")
            self.assertIn(row["device"].lower(), ("mobile", "desktop", "tablet"))
            self.assertRegex(row["country"], r"^[A-Z]{2}$")
            self.assertTrue(0 <= row["sessions_hour"] <= 23)
            self.assertTrue(0.0 <= row["discount_share"] <= 1.0)
            self.assertIn(row["churned"], (0, 1))
            self.assertTrue(row["visits_30d"] >= 0 and row["cart_abandons_30d"] >= 0)
            self.assertTrue(row.get("avg_price", 1.0) > 0)
            last = demo_data.parse_rfc3339_ms(row["last_visit"])
            self.assertLess(last, self.now_ms)
            # No visit in the window <=> the last visit is older than 30 days.
            self.assertEqual(row["visits_30d"] == 0, last <= self.now_ms - 30 * demo_data.DAY_MS, row)
            ids.add(row["customer_id"])
        self.assertEqual(len(ids), CUSTOMERS)
        # The messiness the pipeline's lower / top_k / fillna nodes are there for.
        self.assertTrue(any(r["device"] != r["device"].lower() for r in self.customers))
        self.assertTrue(any("avg_price" not in r for r in self.customers))
        counts = {}
        for r in self.customers:
            counts[r["country"]] = counts.get(r["country"], 0) + 1
        self.assertGreater(len(counts), 15)
        self.assertGreater(sum(1 for c in counts.values() if c < CUSTOMERS * 0.01), 10)

    def test_label_and_truth(self):
        rate = sum(r["churned"] for r in self.customers) / len(self.customers)
        self.assertTrue(0.15 <= rate <= 0.60, rate)
        t = self.truth
        self.assertEqual((t["customers"], t["events"], t["churned"]),
                         (CUSTOMERS, len(self.events), sum(r["churned"] for r in self.customers)))
        self.assertTrue(0.80 <= t["bayes_auc"] <= 0.95, t["bayes_auc"])
        self.assertTrue(0.80 <= t["bayes_auc_expected"] <= 0.95, t["bayes_auc_expected"])
        self.assertEqual(self.summary["bayes_auc"], t["bayes_auc"])
        # The true probability is a function of the row alone, and the stored AUC is its AUC.
        probs = t["probability"]
        self.assertEqual(len(probs), CUSTOMERS)
        for row in self.customers:
            self.assertAlmostEqual(demo_data.churn_probability(row, NOW), probs[row["customer_id"]], places=6)
        scores = [probs[r["customer_id"]] for r in self.customers]
        labels = [r["churned"] for r in self.customers]
        self.assertAlmostEqual(demo_data.auc(scores, labels), t["bayes_auc"], places=4)
        # Mean probability and label rate agree within sampling noise (3 sigma).
        self.assertLess(abs(sum(scores) / len(scores) - rate), 3 * (0.25 / CUSTOMERS) ** 0.5)

    def test_events_consistent_with_snapshot(self):
        lo = self.now_ms - 30 * demo_data.DAY_MS
        seen_ids = set()
        per_customer = {}
        by_type = {}
        for ev in self.events:
            self.assertIn(ev["eventType"], EVENT_TYPES)
            self.assertIn(ev["device"], ("mobile", "desktop", "tablet"))
            self.assertNotIn(ev["_id"], seen_ids)
            seen_ids.add(ev["_id"])
            ts = demo_data.parse_rfc3339_ms(ev["timestamp"])
            self.assertTrue(lo < ts < self.now_ms, ev["timestamp"])
            self.assertIn("ECID", ev["identityMap"])
            by_type[ev["eventType"]] = by_type.get(ev["eventType"], 0) + 1
            cid = ev["sessionId"].split("-")[0]
            c = per_customer.setdefault(cid, {"sessions": {}, "last": 0, "prices": [], "emails": set()})
            c["last"] = max(c["last"], ts)
            c["emails"].update(e["id"] for e in ev["identityMap"].get("email", []))
            s = c["sessions"].setdefault(ev["sessionId"], set())
            s.add(ev["eventType"])
            if ev["eventType"] != "web.pageView":
                self.assertTrue(ev["product"]["price"] > 0 and ev["product"]["category"])
            if ev["eventType"] == "commerce.productView":
                c["prices"].append(ev["product"]["price"])
            if ev["eventType"] == "commerce.purchase":
                self.assertGreater(ev["commerce"]["order"]["priceTotal"], 0)
        self.assertEqual(by_type, self.truth["events_by_type"])
        for row in self.customers:
            c = per_customer.get(row["customer_id"])
            if row["visits_30d"] == 0:
                self.assertIsNone(c)
                continue
            self.assertEqual(len(c["sessions"]), row["visits_30d"], row)
            self.assertEqual(c["last"], demo_data.parse_rfc3339_ms(row["last_visit"]), row)
            self.assertEqual(c["emails"], {row["identity"][len("email:"):]})
            abandons = sum(1 for s in c["sessions"].values()
                           if "commerce.addToCart" in s and "commerce.purchase" not in s)
            self.assertEqual(abandons, row["cart_abandons_30d"], row)
            if c["prices"]:
                self.assertAlmostEqual(sum(c["prices"]) / len(c["prices"]), row["avg_price"], delta=0.00501)
            else:
                self.assertNotIn("avg_price", row)

    def test_importable_api_matches_files(self):
        d = demo_data.generate(CUSTOMERS, seed=SEED, now=NOW)
        self.assertEqual(d.customers, self.customers)
        lines = d.event_lines()
        for i, ev in enumerate(d.events()):
            self.assertEqual(json.loads(next(lines)), ev)
            self.assertEqual(ev, self.events[i])
            if i == 2000:
                break
        self.assertEqual(d.schemas["web"], load_json(os.path.join(self.dir_a, "schemas", "web.json")))

    def test_pipeline(self):
        p = load_json(os.path.join(self.dir_a, "pipeline.json"))
        self.assertEqual(set(p), {"inputs", "nodes", "outputs"})
        names = [i["name"] for i in p["inputs"]]
        self.assertTrue(set(names) <= set(SNAPSHOT_TYPES) - {"churned"}, names)  # no label leakage
        self.assertEqual(len(names), len(set(names)))
        for i in p["inputs"]:
            self.assertIn(i["type"], ("string", "number", "timestamp"))
        available = set(names)
        for node in p["nodes"]:
            self.assertIn(node["op"], PIPELINE_OPS, node)
            self.assertNotIn(node["id"], available, node)
            for src in node["inputs"]:
                self.assertIn(src, available, "node %s: input %s not produced earlier" % (node["id"], src))
            available.add(node["id"])
        self.assertTrue(8 <= len(p["nodes"]) <= 12, len(p["nodes"]))
        self.assertEqual(p["outputs"], {"features": "features"})
        ops = {n["op"] for n in p["nodes"]}
        self.assertTrue({"lower", "top_k", "fillna", "days_since", "mul", "concat"} <= ops, ops)

    def test_bad_arguments(self):
        for args in (["--now", "yesterday"], ["--customers", "0"]):
            out = subprocess.run([PYTHON, "-B", os.path.join(TOOLS, "demo_data.py"),
                                  os.path.join(self._tmp.name, "bad")] + args, capture_output=True, text=True,
                                 timeout=60)
            self.assertEqual(out.returncode, 2, args)
            self.assertIn("error:", out.stderr)


if __name__ == "__main__":
    unittest.main()
