"""Data side end to end: schemas, datasets, durable ingestion, SQL query
service, identity stitching and computed attributes (docs/api.md "Data",
SPEC section 4), against the real `rtml serve`.

  TestSchemas      create / get / additive evolution / breaking 409 / bad 400, datasets
  TestBigIngest    100k generated events (tests/e2e/datagen.py) through `rtml ingest`
                   and HTTP NDJSON batches: exact accepted/duplicate/rejected counts,
                   SQL counts per eventType, computed attributes of ~200 identities
                   equal to a brute-force recomputation, retried batch, restart
  TestBadInput     malformed NDJSON lines, 1 MB strings, deep nesting, huge numbers,
                   invalid UTF-8, writing / endless / multi-statement SQL
  TestCrash        kill -9 five times under ingestion: every acknowledged record
                   present exactly once
  TestSandboxes    keys and data of one sandbox invisible from another
"""

import json
import os
import random
import subprocess
import tempfile
import threading
import time
import unittest
import zlib
import http.client
from datetime import datetime, timezone
from urllib.parse import quote

import datagen
from rtml_server import RtmlServer, ServerError, rtml_binary

SCHEMA = "web-events"
WINDOW_UNITS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


# ------------------------------------------------------------- helpers

def put_ok(srv, path, body, expect=(200, 201), sandbox=None, key="admin"):
    r = srv.request("PUT", path, body, sandbox=sandbox, key=key)
    if r.status not in expect:
        raise ServerError("PUT %s: %r" % (path, r))
    return r


def setup_events_dataset(srv, dataset="events", sandbox=None, schema=SCHEMA):
    put_ok(srv, "/v1/schemas/" + schema, datagen.event_schema(), sandbox=sandbox)
    put_ok(srv, "/v1/datasets/" + dataset, {"schema": schema}, sandbox=sandbox)


def fnv1a64(text):
    """64-bit FNV-1a (offset basis 0xcbf29ce484222325, prime 0x100000001b3): the person id of profiles.h.
    (rtml_server.fnv1a64 is the traffic router's variant, whose offset basis lacks a digit.)"""
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def ts_ms(ev):
    dt = datetime.strptime(ev["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return int(round(dt.timestamp() * 1000))


def rfc3339(ms):
    return datagen.rfc3339(ms)


def identities_of(ev):
    out = []
    for ns, items in ev.get("identityMap", {}).items():
        for item in items:
            out.append("%s:%s" % (ns, item["id"]))
    return out


def get_path(obj, path):
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def window_ms(w):
    return int(w[:-1]) * WINDOW_UNITS[w[-1]]


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def canonical(v):
    if is_number(v) and float(v).is_integer():
        return str(int(v))
    return json.dumps(v)


class Persons:
    """Union-find over the identities seen together in one identityMap."""

    def __init__(self, events):
        self.parent = {}
        for ev in events:
            ids = identities_of(ev)
            for i in ids:
                self.parent.setdefault(i, i)
            for other in ids[1:]:
                self._union(ids[0], other)
        self.members = {}
        for i in self.parent:
            self.members.setdefault(self.find(i), []).append(i)
        self.events = {}
        for ev in events:
            ids = identities_of(ev)
            if ids:
                self.events.setdefault(self.find(ids[0]), []).append(ev)

    def find(self, x):
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def _union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def expected_value(defn, events, now_ms):
    """Brute force of one computed attribute (docs: profiles.h contract)."""
    w = window_ms(defn["window"])
    fn = defn["function"]
    sel = []
    for ev in events:
        t = ev["_ts"]
        if not (now_ms - w < t <= now_ms):
            continue
        if "eventType" in defn and ev.get("eventType") != defn["eventType"]:
            continue
        if any(canonical(get_path(ev, p)) != canonical(v) for p, v in defn.get("filter", {}).items()):
            continue
        sel.append(ev)
    if fn == "count":
        return len(sel)
    vals = [(ev["_ts"], get_path(ev, defn["field"])) for ev in sel]
    vals = [(t, v) for t, v in vals if v is not None and not isinstance(v, (dict, list))]
    if fn == "distinct_count":
        return len({canonical(v) for _, v in vals})
    if fn == "last":
        return max(vals, key=lambda tv: tv[0])[1] if vals else None
    nums = [v for _, v in vals if is_number(v)]
    if fn == "sum":
        return sum(nums)
    if not nums:
        return None
    if fn == "min":
        return min(nums)
    if fn == "max":
        return max(nums)
    if fn == "avg":
        return sum(nums) / len(nums)
    raise ValueError(fn)


def same_value(expected, actual):
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected == actual
    if is_number(expected) and is_number(actual):
        return abs(expected - actual) <= 1e-9 * max(1.0, abs(expected))
    return expected == actual


def profile_path(identity):
    ns, _, ident = identity.partition(":")
    return "/v1/profiles/%s/%s" % (quote(ns, safe=""), quote(ident, safe=""))


class BatchChecker:
    """Expected (accepted, duplicates, rejected indices) of consecutive batches of a Generated stream."""

    def __init__(self, gen):
        self.gen = gen
        self.seen = set()

    def expect(self, start, stop, commit=True):
        seen = self.seen if commit else set(self.seen)
        accepted = dup = 0
        rejected = []
        for i in range(start, stop):
            if i in self.gen.invalid:
                rejected.append(i - start)
                continue
            accepted += 1
            eid = self.gen.ids[i]
            if eid in seen:
                dup += 1
            seen.add(eid)
        return accepted, dup, rejected


# ------------------------------------------------------------- schemas

class TestSchemas(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = RtmlServer(threads=2, name="schemas").start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def put(self, name, body):
        return self.srv.request("PUT", "/v1/schemas/" + name, body)

    def base(self):
        return {"class": "experience-event",
                "properties": {
                    "device": {"type": "enum", "enum": ["mobile", "desktop", "tablet"]},
                    "commerce": {"type": "object", "properties": {
                        "order": {"type": "object", "properties": {
                            "priceTotal": {"type": "number", "minimum": 0}}}}},
                    "web": {"type": "object", "properties": {
                        "name": {"type": "string", "maxLength": 256}}}},
                "required": ["device"]}

    def test_create_get_evolve(self):
        r = self.put("shop", self.base())
        self.assertEqual(r.status, 201, r)
        j = r.json()
        self.assertEqual((j["name"], j["class"], j["version"]), ("shop", "experience-event", 1), j)
        for k in ("created", "updated", "definition"):
            self.assertIn(k, j)
        # Identical again: 200, same version.
        r = self.put("shop", self.base())
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["version"], 1)
        r = self.srv.request("GET", "/v1/schemas/shop")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["name"], "shop")
        self.assertIn("priceTotal", json.dumps(r.json()["definition"]))
        names = [s["name"] for s in self.srv.request("GET", "/v1/schemas").json()["schemas"]]
        self.assertIn("shop", names)
        self.assertEqual(self.srv.request("GET", "/v1/schemas/nope").status, 404)

        # Additive: a new optional field, nested and top level.
        v2 = self.base()
        v2["properties"]["coupon"] = {"type": "string"}
        v2["properties"]["commerce"]["properties"]["order"]["properties"]["currencyCode"] = {"type": "string"}
        r = self.put("shop", v2)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["version"], 2, r)
        self.assertIn("coupon", json.dumps(r.json()["definition"]))

        # Breaking changes: 409 naming the field; nothing changes.
        breaking = []
        b = json.loads(json.dumps(v2))
        b["properties"]["commerce"]["properties"]["order"]["properties"]["priceTotal"] = {"type": "string"}
        breaking.append(("type change", b, "priceTotal"))
        b = json.loads(json.dumps(v2))
        del b["properties"]["coupon"]
        breaking.append(("removed field", b, "coupon"))
        b = json.loads(json.dumps(v2))
        b["properties"]["loyalty"] = {"type": "string"}
        b["required"] = ["device", "loyalty"]
        breaking.append(("new required field", b, "loyalty"))
        b = json.loads(json.dumps(v2))
        b["properties"]["web"]["properties"]["name"]["maxLength"] = 64
        breaking.append(("tighter maxLength", b, "name"))
        b = json.loads(json.dumps(v2))
        b["properties"]["device"]["enum"] = ["mobile", "desktop"]
        breaking.append(("enum value removed", b, "device"))
        for what, body, field in breaking:
            with self.subTest(what):
                r = self.put("shop", body)
                self.assertEqual(r.status, 409, "%s: %r" % (what, r))
                self.assertEqual(r.error[0], "CONFLICT", r)
                self.assertIn(field, r.error[1], r)
        r = self.srv.request("GET", "/v1/schemas/shop")
        self.assertEqual(r.json()["version"], 2, r)
        # Class change.
        b = json.loads(json.dumps(v2))
        b["class"] = "adhoc"
        r = self.put("shop", b)
        self.assertEqual(r.status, 409, r)

    def test_bad_schemas(self):
        cases = [
            ("unknown type", {"class": "adhoc", "properties": {"age": {"type": "strng"}}}, "strng"),
            ("unknown class", {"class": "experience", "properties": {}}, "experience"),
            ("required not a property", {"class": "adhoc", "properties": {"a": {"type": "string"}},
                                         "required": ["b"]}, "b"),
            ("bad pattern", {"class": "adhoc", "properties": {"code": {"type": "string", "pattern": "(["}}}, "code"),
            ("misspelt keyword", {"class": "adhoc", "properties": {"n": {"type": "string", "maxLenght": 3}}},
             "maxLenght"),
            ("enum without values", {"class": "adhoc", "properties": {"d": {"type": "enum"}}}, "d"),
            ("min above max", {"class": "adhoc", "properties": {"n": {"type": "integer", "minimum": 5,
                                                                       "maximum": 1}}}, "n"),
            ("unknown top-level field", {"class": "adhoc", "properties": {}, "propertys": {}}, "propertys"),
        ]
        for what, body, needle in cases:
            with self.subTest(what):
                r = self.put("bad", body)
                self.assertEqual(r.status, 400, "%s: %r" % (what, r))
                self.assertIn(needle, r.error[1], r)
        for what, raw in [("not JSON", "{class: adhoc"), ("array", "[]"), ("empty", "")]:
            with self.subTest(what):
                r = self.put("bad", raw)
                self.assertEqual(r.status, 400, "%s: %r" % (what, r))
        r = self.put("_hidden", {"class": "adhoc", "properties": {}})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(self.srv.request("GET", "/v1/schemas/bad").status, 404)

    def test_datasets(self):
        put_ok(self.srv, "/v1/schemas/ds-schema", {"class": "adhoc", "properties": {"a": {"type": "string"}}})
        put_ok(self.srv, "/v1/schemas/ds-other", {"class": "adhoc", "properties": {"b": {"type": "string"}}})
        r = self.srv.request("PUT", "/v1/datasets/ds1", {"schema": "ds-schema"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.srv.request("PUT", "/v1/datasets/ds1", {"schema": "ds-schema"}).status, 200)
        r = self.srv.request("PUT", "/v1/datasets/ds1", {"schema": "ds-other"})
        self.assertEqual(r.status, 409, r)
        r = self.srv.request("PUT", "/v1/datasets/ds2", {"schema": "missing"})
        self.assertEqual(r.status, 404, r)
        r = self.srv.request("PUT", "/v1/datasets/ds3", {"schema": "ds-schema", "bogus": 1})
        self.assertEqual(r.status, 400, r)
        self.assertIn("bogus", r.error[1])
        r = self.srv.ingest("ds1", [{"a": "x"}, {"a": 3}, {"c": "y"}])
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(j["accepted"], 1, j)
        self.assertEqual([x["index"] for x in j["rejected"]], [1, 2], j)
        self.assertIn("/a", j["rejected"][0]["errors"][0])
        r = self.srv.request("GET", "/v1/datasets/ds1")
        self.assertEqual(r.json()["records"], 1, r)
        self.assertEqual(self.srv.ingest("nope", [{"a": "x"}]).status, 404)


# ------------------------------------------------------------- the big one

LIVE_ATTRIBUTES = {  # defined before ingestion: updated as events arrive
    "purchases_7d": {"dataset": "events", "eventType": "commerce.purchases", "function": "count", "window": "7d"},
    "revenue_24h": {"dataset": "events", "eventType": "commerce.purchases", "function": "sum",
                    "field": "commerce.order.priceTotal", "window": "24h"},
    "categories_7d": {"dataset": "events", "function": "distinct_count", "field": "product.category", "window": "7d"},
    "pageviews_30m": {"dataset": "events", "eventType": "web.webpagedetails.pageViews", "function": "count",
                      "window": "30m"},
    "last_category_7d": {"dataset": "events", "function": "last", "field": "product.category", "window": "7d"},
}
REPLAY_ATTRIBUTES = {  # defined after ingestion: recomputed from stored events
    "last_device_30d": {"dataset": "events", "function": "last", "field": "device", "window": "30d"},
    "max_order_7d": {"dataset": "events", "function": "max", "field": "commerce.order.priceTotal", "window": "7d"},
    "min_price_30d": {"dataset": "events", "function": "min", "field": "product.price", "window": "30d"},
    "avg_order_30d": {"dataset": "events", "eventType": "commerce.purchases", "function": "avg",
                      "field": "commerce.order.priceTotal", "window": "30d"},
    "mobile_views_24h": {"dataset": "events", "eventType": "commerce.productViews", "function": "count",
                         "window": "24h", "filter": {"device": "mobile"}},
    "cart_qty_1h": {"dataset": "events", "eventType": "commerce.productListAdds", "function": "sum",
                    "field": "quantity", "window": "1h"},
    "last_login_7d": {"dataset": "events", "function": "last", "field": "loggedIn", "window": "7d"},
}


class TestBigIngest(unittest.TestCase):
    N = 100_000
    CLI_PART = 20_000
    BATCH = 1000
    MARGIN_MS = 10 * 60_000

    def test_big_ingest(self):
        t_start = time.monotonic()
        gen = datagen.generate(self.N, seed=7, margin_ms=self.MARGIN_MS)
        truth = gen.truth
        t_gen = time.monotonic() - t_start
        with RtmlServer(threads=2, name="big") as srv:
            setup_events_dataset(srv)
            for name, body in LIVE_ATTRIBUTES.items():
                put_ok(srv, "/v1/computed-attributes/" + name, body)
            checker = BatchChecker(gen)
            totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
            error_mismatch = []

            # 1. The first part through `rtml ingest` (NDJSON file, batches of 1,000).
            t0 = time.monotonic()
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "part1.ndjson")
                gen.write(path, 0, self.CLI_PART)
                p = subprocess.run([rtml_binary(), "ingest", path, "--dataset", "events",
                                    "--server", "127.0.0.1:%d" % srv.port, "--key", srv.admin_key],
                                   capture_output=True, timeout=300)
            self.assertIn(p.returncode, (0, 2), p.stderr.decode()[-2000:])
            cli = json.loads(p.stdout.decode().strip().splitlines()[-1])
            exp_acc, exp_dup, exp_rej = 0, 0, 0
            for start in range(0, self.CLI_PART, self.BATCH):
                a, d, rej = checker.expect(start, min(start + self.BATCH, self.CLI_PART))
                exp_acc, exp_dup, exp_rej = exp_acc + a, exp_dup + d, exp_rej + len(rej)
            self.assertEqual((cli["accepted"], cli["duplicates"], cli["rejected"]), (exp_acc, exp_dup, exp_rej),
                             "rtml ingest totals")
            self.assertEqual(p.returncode, 2 if exp_rej else 0)
            for k, v in (("accepted", exp_acc), ("duplicates", exp_dup), ("rejected", exp_rej)):
                totals[k] += v
            t_cli = time.monotonic() - t0

            # 2. The rest over HTTP, NDJSON batches of 1,000 on one keep-alive connection.
            t0 = time.monotonic()
            conn = srv.connect(timeout=120)
            batch_results = {}
            for start in range(self.CLI_PART, self.N, self.BATCH):
                stop = min(start + self.BATCH, self.N)
                r = srv.ingest("events", gen.ndjson(start, stop), conn=conn, timeout=120)
                self.assertEqual(r.status, 200, r)
                j = r.json()
                a, d, rej = checker.expect(start, stop)
                got_rej = [x["index"] for x in j["rejected"]]
                self.assertEqual((j["accepted"], j["duplicates"], got_rej), (a, d, rej),
                                 "batch at line %d" % start)
                batch_results[start] = j
                for x in j["rejected"]:
                    kind = gen.invalid[start + x["index"]]
                    needle = datagen.INVALID_KINDS[kind]
                    if not any(needle in e for e in x["errors"]):
                        error_mismatch.append((kind, needle, x["errors"]))
                totals["accepted"] += j["accepted"]
                totals["duplicates"] += j["duplicates"]
                totals["rejected"] += len(j["rejected"])
            conn.close()
            t_http = time.monotonic() - t0
            self.assertEqual(totals, {"accepted": truth["accepted"], "duplicates": truth["duplicates"],
                                      "rejected": truth["invalid"]})
            self.assertFalse(error_mismatch, "errors that do not name the problem (%d), e.g. %s"
                             % (len(error_mismatch), error_mismatch[:5]))

            # 3. SQL against the ground truth.
            self.check_sql(srv, gen)

            # 4. Computed attributes defined after ingestion (replayed from stored events).
            t0 = time.monotonic()
            for name, body in REPLAY_ATTRIBUTES.items():
                r = srv.request("PUT", "/v1/computed-attributes/" + name, body)
                self.assertEqual(r.status, 201, r)
            t_replay = time.monotonic() - t0
            listed = {a["name"] for a in srv.request("GET", "/v1/computed-attributes").json()["computed_attributes"]}
            self.assertEqual(listed, set(LIVE_ATTRIBUTES) | set(REPLAY_ATTRIBUTES))

            # 5. Profiles against a brute force over the raw valid events.
            for ev in gen.valid_events:
                ev["_ts"] = ts_ms(ev)
            persons = Persons(gen.valid_events)
            sample = self.sample_identities(persons, 200)
            # Plus people with non-empty values for every attribute (short windows are sparse).
            defs = dict(LIVE_ATTRIBUTES, **REPLAY_ATTRIBUTES)
            for name, d in defs.items():
                found = 0
                for root in sorted(persons.events):
                    if expected_value(d, persons.events[root], gen.truth["now_ms"]) not in (None, 0):
                        sample.append(persons.members[root][-1])
                        found += 1
                        if found == 3:
                            break
            t0 = time.monotonic()
            self.check_profiles(srv, gen, persons, sample, require_values=True)
            t_profiles = time.monotonic() - t0

            # Changing a definition recomputes it; a deleted attribute disappears.
            changed = dict(LIVE_ATTRIBUTES, **REPLAY_ATTRIBUTES)
            changed["pageviews_30m"] = {"dataset": "events", "eventType": "web.webpagedetails.pageViews",
                                        "function": "count", "window": "7d", "filter": {"device": "tablet"}}
            r = srv.request("PUT", "/v1/computed-attributes/pageviews_30m", changed["pageviews_30m"])
            self.assertEqual(r.status, 200, r)
            r = srv.request("DELETE", "/v1/computed-attributes/min_price_30d")
            self.assertEqual(r.status, 200, r)
            del changed["min_price_30d"]
            self.check_profiles(srv, gen, persons, sample[::3], defs=changed)
            self.assertEqual(srv.request("DELETE", "/v1/computed-attributes/min_price_30d").status, 404)
            put_ok(srv, "/v1/computed-attributes/pageviews_30m", LIVE_ATTRIBUTES["pageviews_30m"])
            put_ok(srv, "/v1/computed-attributes/min_price_30d", REPLAY_ATTRIBUTES["min_price_30d"])

            # 6. A retried batch: same accepted, all duplicates, nothing new.
            start = 50_000
            first = batch_results[start]
            r = srv.ingest("events", gen.ndjson(start, start + self.BATCH))
            self.assertEqual(r.status, 200, r)
            j = r.json()
            self.assertEqual(j["accepted"], first["accepted"])
            self.assertEqual(j["duplicates"], first["accepted"])
            self.assertEqual([x["index"] for x in j["rejected"]], [x["index"] for x in first["rejected"]])
            self.assertEqual(srv.sql_rows("SELECT COUNT(*) FROM events")[0][0], truth["valid_distinct"])

            # 7. Restart: counts and a sample of profiles again.
            t0 = time.monotonic()
            srv.restart()
            t_restart = time.monotonic() - t0
            self.check_sql(srv, gen)
            self.check_profiles(srv, gen, persons, sample[::4])
            # `rtml query` reads the same data directory while the server runs.
            p = subprocess.run([rtml_binary(), "query", 'SELECT "eventType", COUNT(*) FROM events GROUP BY 1',
                                "--data-dir", srv.data_dir], capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            self.assertEqual(dict(json.loads(p.stdout.decode())["rows"]), truth["by_event_type"])
        print("\n  big ingest: generate %.1fs, rtml ingest %d lines %.1fs, HTTP %d lines %.1fs (%.0f records/s), "
              "replay of %d attributes %.1fs, %d profiles %.1fs, restart %.1fs, total %.1fs"
              % (t_gen, self.CLI_PART, t_cli, self.N - self.CLI_PART, t_http, (self.N - self.CLI_PART) / t_http,
                 len(REPLAY_ATTRIBUTES), t_replay, len(sample), t_profiles, t_restart,
                 time.monotonic() - t_start))

    def check_sql(self, srv, gen):
        truth = gen.truth
        rows = srv.sql_rows("SELECT COUNT(*), COUNT(DISTINCT _id) FROM events")
        self.assertEqual(rows, [[truth["valid_distinct"], truth["valid_distinct"]]])
        rows = srv.sql_rows('SELECT "eventType", COUNT(*) FROM events GROUP BY 1 ORDER BY 1')
        self.assertEqual({k: v for k, v in rows}, truth["by_event_type"])
        # Nested fields by dotted name; compare sums in cents to avoid float noise.
        exp_cents = sum(int(round(ev["commerce"]["order"]["priceTotal"] * 100)) for ev in gen.valid_events
                        if ev["eventType"] == "commerce.purchases")
        rows = srv.sql_rows('SELECT SUM(CAST(ROUND("commerce.order.priceTotal" * 100) AS INTEGER)), '
                            'COUNT("commerce.order.priceTotal") FROM events')
        self.assertEqual(rows, [[exp_cents, truth["by_event_type"]["commerce.purchases"]]])
        exp_mobile = sum(1 for ev in gen.valid_events if ev["device"] == "mobile")
        rows = srv.sql_rows("SELECT COUNT(*) FROM events WHERE device = 'mobile'")
        self.assertEqual(rows[0][0], exp_mobile)
        rows = srv.sql_rows("SELECT COUNT(*) FROM events WHERE json_extract(_raw, '$.identityMap.Email') IS NOT NULL")
        self.assertEqual(rows[0][0], sum(1 for ev in gen.valid_events if "Email" in ev["identityMap"]))
        r = srv.request("GET", "/v1/datasets/events")
        self.assertEqual(r.json()["records"], truth["valid_distinct"], r)

    def sample_identities(self, persons, n):
        rng = random.Random(11)
        roots = sorted(persons.members)
        multi_ecid = [r for r in roots if sum(1 for i in persons.members[r] if i.startswith("ECID:")) > 1]
        by_ns = {}
        for r in roots:
            for i in persons.members[r]:
                by_ns.setdefault(i.split(":", 1)[0], []).append(i)
        for v in by_ns.values():
            v.sort()
        sample = []
        # Secondary ECIDs of people linked through an email, emails, phones, CRM ids, plain ECIDs.
        for r in rng.sample(multi_ecid, min(40, len(multi_ecid))):
            sample.append(rng.choice(sorted(i for i in persons.members[r] if i.startswith("ECID:"))))
        for ns, k in (("Email", 40), ("Phone", 20), ("CRMID", 20)):
            sample += rng.sample(by_ns.get(ns, []), min(k, len(by_ns.get(ns, []))))
        biggest = sorted(roots, key=lambda r: -len(persons.events.get(r, [])))[:10]
        sample += [persons.members[r][0] for r in biggest]
        sample += rng.sample(by_ns["ECID"], n - len(sample))
        self.assertGreaterEqual(len(multi_ecid), 20, "the generator should link several ECIDs per person")
        return sample

    def check_profiles(self, srv, gen, persons, sample, defs=None, require_values=False):
        if defs is None:
            defs = dict(LIVE_ATTRIBUTES, **REPLAY_ATTRIBUTES)
        conn = srv.connect()
        now_ms = int(time.time() * 1000)
        self.assertLess(now_ms - gen.truth["now_ms"], self.MARGIN_MS - 5000,
                        "the test took too long: window boundaries are only %d ms clear" % self.MARGIN_MS)
        mismatches = []
        persons_seen = {}
        nonzero = {name: 0 for name in defs}
        for identity in sample:
            r = srv.request("GET", profile_path(identity), conn=conn)
            self.assertEqual(r.status, 200, "%s: %r" % (identity, r))
            p = r.json()
            root = persons.find(identity)
            ids = sorted(persons.members[root])
            events = persons.events.get(root, [])
            self.assertEqual(p["identity"], identity)
            self.assertEqual(sorted(p["identities"]), ids, identity)
            self.assertEqual(p["person"], "%016x" % fnv1a64(min(ids)), identity)
            self.assertEqual(p["updated"], rfc3339(max(ev["_ts"] for ev in events)), identity)
            persons_seen.setdefault(root, p["person"])
            self.assertEqual(persons_seen[root], p["person"])
            self.assertEqual(set(p["computed"]), set(defs), identity)
            for name, d in defs.items():
                exp = expected_value(d, events, now_ms)
                got = p["computed"][name]
                if exp not in (None, 0):
                    nonzero[name] += 1
                if not same_value(exp, got):
                    mismatches.append((identity, name, exp, got))
        conn.close()
        self.assertFalse(mismatches, "%d computed values differ from the brute force (identity, attribute, "
                                     "expected, got), e.g. %s" % (len(mismatches), mismatches[:8]))
        # The full sample must exercise every attribute with real values.
        for name, k in nonzero.items():
            if require_values:
                self.assertGreater(k, 0, "no sampled identity has a non-empty %s" % name)
        r = srv.request("GET", "/v1/profiles/ECID/00000000000000000000000000000000000000")
        self.assertEqual(r.status, 404, r)


# ------------------------------------------------------------- bad input

class TestBadInput(unittest.TestCase):
    TIMEOUT_MS = 1000

    @classmethod
    def setUpClass(cls):
        cls.srv = RtmlServer(threads=2, name="bad-data",
                             args=["--query-timeout-ms", str(cls.TIMEOUT_MS)]).start()
        setup_events_dataset(cls.srv, "bad")
        cls.base_events = datagen.unique_events(200, seed=3, id_prefix="base")
        r = cls.srv.ingest("bad", cls.base_events)
        assert r.status == 200 and r.json()["accepted"] == 200 and r.json()["duplicates"] == 0, r
        cls.stored = 200  # records in dataset "bad" that the tests know of

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def tearDown(self):
        # After each case: the server serves and nothing stored was lost.
        self.assertTrue(self.srv.alive(), "the server died\n" + self.srv.log_tail())
        self.assertEqual(self.srv.request("GET", "/v2/health/live").status, 200)
        self.assertEqual(self.srv.sql_rows("SELECT COUNT(*) FROM bad")[0][0], type(self).stored)

    def event(self, eid, **fields):
        ev = datagen.unique_events(1, seed=zlib.crc32(eid.encode()), id_prefix="x")[0]
        ev["_id"] = eid
        ev.update(fields)
        return ev

    def ingest_lines(self, lines):
        body = b"".join((l if isinstance(l, bytes) else l.encode()) + b"\n" for l in lines)
        r = self.srv.ingest("bad", body)
        self.assertEqual(r.status, 200, r)
        j = json.loads(r.body.decode("utf-8"))  # strict UTF-8
        type(self).stored += j["accepted"] - j["duplicates"]
        return j

    def assert_error(self, r, status):
        self.assertEqual(r.status, status, r)
        r.body.decode("utf-8")  # the error body is valid UTF-8 JSON
        code, msg = r.error
        self.assertTrue(code and msg, r)
        return msg

    def test_malformed_ndjson_lines(self):
        good = [json.dumps(self.event("mal-%d" % i)) for i in range(7)]
        lines = [good[0], good[1], '{"_id": "mal-x", "timestamp": ', good[2], good[3], "not json at all",
                 good[4], '{"_id": "mal-y"}}', good[5], "", good[6], "[1, 2"]
        j = self.ingest_lines(lines)
        # Blank lines are skipped and do not count as records.
        self.assertEqual(j["accepted"], 7, j)
        self.assertEqual([x["index"] for x in j["rejected"]], [2, 5, 7, 10], j)
        for x in j["rejected"]:
            self.assertTrue(any("malformed JSON" in e for e in x["errors"]), x)
        rows = self.srv.sql_rows("SELECT COUNT(*) FROM bad WHERE _id LIKE 'mal-%'")
        self.assertEqual(rows[0][0], 7)
        # A JSON-array body that is not JSON at all: 400, nothing stored.
        r = self.srv.ingest("bad", b'[{"_id": "mal-z"},', ndjson=False)
        self.assert_error(r, 400)

    def test_one_megabyte_strings(self):
        big = "a" * (1 << 20)
        j = self.ingest_lines([json.dumps(self.event("mb-1", note=big)),
                               json.dumps(self.event("mb-2", userAgent=big)),
                               json.dumps(self.event("mb-3", note="é" * (1 << 19)))])
        self.assertEqual(j["accepted"], 2, j)
        self.assertEqual([x["index"] for x in j["rejected"]], [1], j)
        self.assertIn("/userAgent", " ".join(j["rejected"][0]["errors"]))
        rows = self.srv.sql_rows("SELECT _id, length(note) FROM bad WHERE _id IN ('mb-1', 'mb-3') ORDER BY 1")
        self.assertEqual(rows, [["mb-1", 1 << 20], ["mb-3", 1 << 19]])
        # The whole string comes back through the query service.
        r = self.srv.sql("SELECT note FROM bad WHERE _id = 'mb-3'")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["rows"][0][0], "é" * (1 << 19))
        # 1 MB as a schema name, a dataset name and an SQL string: clear 4xx.
        r = self.srv.request("PUT", "/v1/schemas/" + "s" * 200, {"class": "adhoc", "properties": {}})
        self.assert_error(r, 400)
        r = self.srv.sql("SELECT '%s'" % big)
        self.assertIn(r.status, (400, 413), r)

    def test_deep_nesting(self):
        deep_obj = '{"a":' * 1000 + "1" + "}" * 1000
        deep_arr = "[" * 1000 + "]" * 1000
        ev = self.event("deep-1")
        ev["context"] = {"x": 1}
        base = json.dumps(ev)
        line_obj = base.replace('{"x": 1}', deep_obj)
        line_arr = base.replace('{"x": 1}', '{"x": %s}' % deep_arr)
        very_deep = "[" * 100_000 + "]" * 100_000
        ok = json.dumps(self.event("deep-ok", context={"a": {"b": 1}}))
        j = self.ingest_lines([line_obj, line_arr, very_deep, ok])
        self.assertEqual(j["accepted"], 1, j)
        self.assertEqual([x["index"] for x in j["rejected"]], [0, 1, 2], j)
        for x in j["rejected"][:2]:
            text = " ".join(x["errors"]).lower()
            self.assertTrue("deep" in text or "depth" in text or "nest" in text, x)
        # As a JSON array body: 400 or that record rejected; the server is fine either way.
        r = self.srv.ingest("bad", ("[" + line_obj + "]").encode(), ndjson=False)
        if r.status == 200:
            self.assertEqual(r.json()["accepted"], 0, r)
        else:
            self.assert_error(r, 400)
        # Deep JSON in a management body and in a query body.
        r = self.srv.request("PUT", "/v1/schemas/deep", '{"class":"adhoc","properties":' + deep_obj + "}")
        self.assert_error(r, 400)
        r = self.srv.request("POST", "/v1/query", '{"sql":' + deep_arr + "}")
        self.assert_error(r, 400)
        # Queries over the dataset still work (every stored body is readable by json_extract).
        self.assertEqual(self.srv.sql_rows("SELECT COUNT(*) FROM bad WHERE _id = 'deep-ok'")[0][0], 1)
        self.srv.sql_rows("SELECT MAX(json_extract(_raw, '$.context')) FROM bad")

    def raw_event(self, eid, **raw):
        """A purchase record as JSON text with fields given as raw JSON text (numbers as typed)."""
        ev = self.event(eid, eventType="commerce.purchases")
        ev.pop("quantity", None)
        ev["commerce"] = {"order": {"priceTotal": 1.5}}
        text = json.dumps(ev)
        if "priceTotal" in raw:
            text = text.replace('"priceTotal": 1.5', '"priceTotal": ' + raw.pop("priceTotal"))
        if "purchases" in raw:
            text = text.replace('"commerce": {', '"commerce": {"purchases": {"value": %s}, ' % raw.pop("purchases"))
        for k, v in raw.items():
            text = text.replace('{"_id": ', '{"%s": %s, "_id": ' % (k, v), 1)
        return text

    def test_huge_numbers(self):
        lines = [
            self.raw_event("num-1", priceTotal="1e400"),                      # 0: overflows a double
            self.raw_event("num-2", quantity="1180591620717411303424"),       # 1: 2^70 for a long
            self.raw_event("num-3", quantity="9223372036854775808"),          # 2: 2^63 for a long
            self.raw_event("num-4", purchases="2147483648"),                  # 3: 2^31 for an integer
            self.raw_event("num-5", quantity="9223372036854775807"),          # 4: 2^63-1: valid
            self.raw_event("num-6", priceTotal="1e-400"),                     # 5: underflow (0 or rejected)
            self.raw_event("num-7", priceTotal="-0.0"),                       # 6: -0 (>= 0 or rejected)
            self.raw_event("num-8", priceTotal="NaN"),                        # 7: not JSON
            self.raw_event("num-9", quantity="1e3"),                          # 8: 1000 written as a float
            self.raw_event("num-10", quantity="-9223372036854775809"),        # 9: below -2^63
        ]
        j = self.ingest_lines(lines)
        rejected = {x["index"]: " ".join(x["errors"]) for x in j["rejected"]}
        for i in (0, 1, 2, 3, 7, 9):
            self.assertIn(i, rejected, "line %d should be rejected: %s" % (i, j))
        self.assertNotIn(4, rejected, j)
        self.assertIn("/commerce/purchases/value", rejected[3])
        self.assertIn("/quantity", rejected[2])
        rows = self.srv.sql_rows("SELECT quantity, typeof(quantity) FROM bad WHERE _id = 'num-5'")
        self.assertEqual(rows, [[9223372036854775807, "integer"]], "a long round-trips exactly through SQL")
        # Same numbers in a JSON-array body: 400 or per-record rejection, never a 5xx.
        for line in (lines[0], lines[1]):
            r = self.srv.ingest("bad", ("[" + line + "]").encode(), ndjson=False)
            if r.status == 200:
                self.assertEqual(r.json()["accepted"], 0, r)
            else:
                self.assert_error(r, 400)
        r = self.srv.request("POST", "/v1/query", '{"sql": "SELECT 1", "x": 1e400}')
        self.assert_error(r, 400)
        print("\n  huge numbers: %s" % {i: rejected.get(i, "accepted") for i in (0, 1, 5, 6, 8)})

    def test_invalid_utf8(self):
        ev = self.event("utf-1", note="__NOTE__")
        base = json.dumps(ev).encode()
        bad_lines = [
            base.replace(b"__NOTE__", b"abc\xff\xfedef"),      # not UTF-8 at all
            base.replace(b"__NOTE__", b"\xc0\xaf"),            # overlong encoding of '/'
            base.replace(b"__NOTE__", b"\xed\xa0\x80"),        # a surrogate encoded in UTF-8
            base.replace(b"__NOTE__", b"abc\xe2\x82"),         # truncated sequence
        ]
        ok = json.dumps(self.event("utf-ok", note="ok \u00e9\u4e2d\U0001F600")).encode()
        j = self.ingest_lines(bad_lines + [ok])
        self.assertEqual(j["accepted"], 1, j)
        self.assertEqual([x["index"] for x in j["rejected"]], [0, 1, 2, 3], j)
        for x in j["rejected"]:
            self.assertTrue(any("UTF-8" in e or "utf-8" in e.lower() for e in x["errors"]), x)
        self.assertEqual(self.srv.sql_rows("SELECT note FROM bad WHERE _id = 'utf-ok'"),
                         [["ok \u00e9\u4e2d\U0001F600"]])
        # An escaped lone surrogate is valid JSON text; if stored, it must come back as valid JSON.
        j = self.ingest_lines([json.dumps(self.event("utf-2", note="__NOTE__")).replace("__NOTE__", "\\ud800x")])
        r = self.srv.sql("SELECT note FROM bad WHERE _id = 'utf-2'")
        self.assertEqual(r.status, 200, r)
        json.loads(r.body.decode("utf-8"))
        # Array body, management body, query body with invalid UTF-8: clear 400.
        r = self.srv.ingest("bad", b"[" + bad_lines[0] + b"]", ndjson=False)
        self.assert_error(r, 400)
        r = self.srv.request("PUT", "/v1/schemas/utf", b'{"class":"adhoc","properties":{"\xff":{"type":"string"}}}',
                             content_type="application/json")
        self.assert_error(r, 400)
        r = self.srv.request("POST", "/v1/query", b'{"sql": "SELECT \'\xff\'"}', content_type="application/json")
        self.assert_error(r, 400)

    def test_sql_that_writes(self):
        target = os.path.join(self.srv._tmp, "stolen.db")
        statements = [
            "INSERT INTO _records_bad (_id, ts, body) VALUES ('evil', 0, '{}')",
            "UPDATE _records_bad SET body = '{}'",
            "DELETE FROM _records_bad",
            "DROP VIEW bad",
            "DROP TABLE _records_bad",
            "CREATE TABLE evil (x)",
            "CREATE TEMP TABLE evil (x)",
            "ALTER TABLE _records_bad RENAME TO evil",
            "ATTACH DATABASE '%s' AS evil" % target,
            "DETACH DATABASE main",
            "PRAGMA journal_mode = DELETE",
            "PRAGMA table_info(bad)",
            "BEGIN",
            "REPLACE INTO _records_bad (_id, ts, body) VALUES ('evil', 0, '{}')",
            "WITH x AS (SELECT 1) INSERT INTO _records_bad (_id, ts, body) SELECT 'evil', 0, '{}' FROM x",
            "VACUUM INTO '%s'" % target,
            "VACUUM",
            "REINDEX",
            "ANALYZE",
        ]
        for sql in statements:
            with self.subTest(sql=sql):
                r = self.srv.sql(sql)
                msg = self.assert_error(r, 400)
                self.assertIn("read-only", msg, r)
        self.assertFalse(os.path.exists(target), "a query wrote %s" % target)
        r = self.srv.sql("SELECT load_extension('/lib/x86_64-linux-gnu/libc.so.6')")
        self.assert_error(r, 400)
        r = self.srv.sql("SELECT COUNT(*) FROM evil")
        self.assert_error(r, 400)

    def test_sql_that_never_ends(self):
        endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"
        results = {}

        def run(name, sql):
            t0 = time.monotonic()
            r = self.srv.sql(sql, timeout=30)
            results[name] = (r, time.monotonic() - t0)

        # Two endless queries at once, and ingestion meanwhile is not held up.
        threads = [threading.Thread(target=run, args=("q%d" % i, endless)) for i in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.1)
        t0 = time.monotonic()
        j = self.ingest_lines([json.dumps(self.event("during-query"))])
        ingest_s = time.monotonic() - t0
        for t in threads:
            t.join()
        for name in ("q0", "q1"):
            r, secs = results[name]
            msg = self.assert_error(r, 408)
            self.assertEqual(r.error[0], "DEADLINE_EXCEEDED", r)
            self.assertLess(secs, self.TIMEOUT_MS / 1000.0 + 2.0, "408 after %.2f s" % secs)
            self.assertGreater(secs, self.TIMEOUT_MS / 1000.0 * 0.9, "408 after %.2f s" % secs)
        self.assertEqual(j["accepted"], 1)
        # Ingestion may queue behind queries on the offload pool, but not past their time limit.
        self.assertLess(ingest_s, self.TIMEOUT_MS / 1000.0 + 1.0, "ingestion waited %.2f s behind queries" % ingest_s)
        print("\n  endless queries: 408 after %.2f s and %.2f s; an ingest meanwhile took %.3f s"
              % (results["q0"][1], results["q1"][1], ingest_s))
        # An endless cross join, and a query stopped by the row limit instead.
        r = self.srv.sql("SELECT COUNT(*) FROM bad a, bad b, bad c, bad d")
        self.assert_error(r, 408)
        r = self.srv.sql("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json()["truncated"])
        self.assertEqual(len(r.json()["rows"]), 10_000)
        self.assertEqual(self.srv.sql_rows("SELECT 1"), [[1]])

    def test_sql_statements_and_errors(self):
        for sql in ["SELECT 1; SELECT 2", "SELECT 1; DROP VIEW bad", "SELECT COUNT(*) FROM bad;\nDELETE FROM bad"]:
            with self.subTest(sql=sql):
                self.assert_error(self.srv.sql(sql), 400)
        for sql in ["", "   ", "SELEC 1", "SELECT * FROM no_such_table", "SELECT nosuchfunc(1)"]:
            with self.subTest(sql=sql):
                self.assert_error(self.srv.sql(sql), 400)
        self.assertEqual(self.srv.sql_rows("SELECT 1;"), [[1]])
        for body in ['{"sql": 1}', '{"query": "SELECT 1"}', '{"sql": "SELECT 1", "limit": 5}', "SELECT 1"]:
            with self.subTest(body=body):
                self.assert_error(self.srv.request("POST", "/v1/query", body), 400)

    def test_sql_single_statement_with_trailing_comment(self):
        # One statement followed by a comment is still one statement.
        for sql in ["SELECT 1; -- one statement", "SELECT 1 /* c */;", "SELECT 1;\n-- done\n"]:
            with self.subTest(sql=sql):
                r = self.srv.sql(sql)
                self.assertEqual(r.status, 200, r)

    def test_zz_restart_keeps_everything(self):
        self.srv.restart()
        self.assertEqual(self.srv.sql_rows("SELECT COUNT(*) FROM bad WHERE _id LIKE 'base-%'")[0][0], 200)


# ------------------------------------------------------------- crash

class TestCrash(unittest.TestCase):
    KILLS = 5
    BATCH = 100

    def test_kill_9_loses_no_acknowledged_record(self):
        rng = random.Random(5)
        with RtmlServer(threads=2, name="crash") as srv:
            setup_events_dataset(srv, "crash")
            key = srv.admin_key
            stop = threading.Event()
            acked = [set(), set()]
            sent = [set(), set()]
            partial = []    # retried batches found partly stored (not atomic)
            retried = {"stored before": 0, "not stored": 0}  # retried batches: fate of the unanswered attempt
            failures = [0, 0]
            template = datagen.unique_events(self.BATCH, seed=9, id_prefix="t")
            lines = [json.dumps(ev, separators=(",", ":")) for ev in template]

            client_errors = []

            def client(c):
                try:
                    run_client(c)
                except Exception as e:  # reported by the test thread
                    client_errors.append(repr(e))

            def run_client(c):
                conn = None
                k = 0
                while not stop.is_set():
                    ids = ["c%d-%05d-%03d" % (c, k, j) for j in range(self.BATCH)]
                    body = "".join(line.replace('"_id":"t-%d"' % j, '"_id":"%s"' % ids[j], 1) + "\n"
                                   for j, line in enumerate(lines)).encode()
                    sent[c].update(ids)
                    attempts = 0
                    while True:  # retry the same batch until it is acknowledged (idempotent on _id)
                        attempts += 1
                        try:
                            if conn is None:
                                conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
                            conn.request("POST", "/v1/datasets/crash/records", body=body,
                                         headers={"Authorization": "Bearer " + key,
                                                  "Content-Type": "application/x-ndjson"})
                            r = conn.getresponse()
                            data = r.read()
                            if r.status == 200:
                                j = json.loads(data)
                                assert j["accepted"] == self.BATCH and not j["rejected"], j
                                if attempts == 1:
                                    assert j["duplicates"] == 0, j
                                elif 0 < j["duplicates"] < self.BATCH:
                                    partial.append((ids[0], j["duplicates"]))
                                else:
                                    retried["stored before" if j["duplicates"] else "not stored"] += 1
                                acked[c].update(ids)
                                break
                            failures[c] += 1
                            conn.close()
                            conn = None
                        except (OSError, http.client.HTTPException, ValueError):
                            failures[c] += 1
                            if conn is not None:
                                conn.close()
                            conn = None
                        time.sleep(0.02)
                    k += 1
                if conn is not None:
                    conn.close()

            threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(2)]
            for t in threads:
                t.start()
            kill_points = []
            for i in range(self.KILLS):
                time.sleep(rng.uniform(0.3, 1.5))
                kill_points.append(sum(len(a) for a in acked))
                srv.kill()  # SIGKILL
                srv.start()
            time.sleep(0.5)
            stop.set()
            for t in threads:
                t.join(60)
                self.assertFalse(t.is_alive(), "a client is stuck")
            self.assertFalse(client_errors, client_errors)

            all_acked = acked[0] | acked[1]
            all_sent = sent[0] | sent[1]
            self.assertGreater(len(all_acked), 5 * self.BATCH, "too little was acknowledged to mean anything")
            rows = srv.sql_rows("SELECT COUNT(*), COUNT(DISTINCT _id) FROM crash")
            stored = set()
            last = ""
            while True:
                page = srv.sql_rows("SELECT _id FROM crash WHERE _id > '%s' ORDER BY _id LIMIT 10000" % last)
                if not page:
                    break
                stored.update(r[0] for r in page)
                last = page[-1][0]
            self.assertEqual(rows[0][0], rows[0][1], "some _id is stored twice")
            self.assertEqual(rows[0][0], len(stored))
            missing = all_acked - stored
            self.assertFalse(missing, "%d acknowledged records lost, e.g. %s" % (len(missing), sorted(missing)[:5]))
            self.assertFalse(stored - all_sent, "records nobody sent")
            # Every batch was retried until acknowledged, so nothing else is there either.
            self.assertEqual(stored, all_acked)
            self.assertEqual(srv.request("GET", "/v1/datasets/crash").json()["records"], len(stored))
            srv.restart()
            self.assertEqual(srv.sql_rows("SELECT COUNT(*) FROM crash")[0][0], len(stored))
        print("\n  crash: %d kills, %d records acknowledged (at kills: %s), %d failed attempts, %d starts, "
              "retried batches: %s, partly stored: %s" % (self.KILLS, len(all_acked), kill_points, sum(failures),
                                                            srv.starts, retried, partial or "none"))


# ------------------------------------------------------------- profile lookups

class TestProfileLookup(unittest.TestCase):
    def test_identity_with_colon_in_id(self):
        # "NS:ID" splits at the first ':'; an id may itself hold ':' (e.g. CRMID "acme:42"),
        # and RFC 3986 allows ':' unencoded in a path segment.
        with RtmlServer(threads=2, name="profiles") as srv:
            setup_events_dataset(srv)
            put_ok(srv, "/v1/computed-attributes/n", {"dataset": "events", "function": "count", "window": "7d"})
            ev = datagen.unique_events(1, seed=1, id_prefix="p")[0]
            ev["identityMap"] = {"CRMID": [{"id": "acme:42", "primary": True}], "ECID": [{"id": "123"}]}
            self.assertEqual(srv.ingest("events", [ev]).json()["accepted"], 1)
            for path in ["/v1/profiles/ECID/123", "/v1/profiles/CRMID/acme%3A42", "/v1/profiles/CRMID/acme:42"]:
                with self.subTest(path=path):
                    r = srv.request("GET", path)
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(r.json()["identities"], ["CRMID:acme:42", "ECID:123"])
                    self.assertEqual(r.json()["computed"], {"n": 1})


# ------------------------------------------------------------- sandboxes

class TestSandboxes(unittest.TestCase):
    def test_data_isolation(self):
        with RtmlServer(threads=2, name="sandboxes") as srv:
            setup_events_dataset(srv, "alpha_events", sandbox="alpha")
            put_ok(srv, "/v1/schemas/b-schema", {"class": "adhoc", "properties": {"x": {"type": "integer"}}},
                   sandbox="beta")
            put_ok(srv, "/v1/datasets/beta_rows", {"schema": "b-schema"}, sandbox="beta")
            events = datagen.unique_events(50, seed=4, id_prefix="a")
            r = srv.ingest("alpha_events", events, sandbox="alpha")
            self.assertEqual(r.json()["accepted"], 50, r)
            r = srv.ingest("beta_rows", [{"x": 1}, {"x": 2}], sandbox="beta")
            self.assertEqual(r.json()["accepted"], 2, r)
            put_ok(srv, "/v1/computed-attributes/n", {"dataset": "alpha_events", "function": "count", "window": "7d"},
                   sandbox="alpha")
            identity = identities_of(events[0])[0]

            read_a = srv.create_key("read", ["alpha"])["key"]
            ingest_a = srv.create_key("ingest", ["alpha"])["key"]
            read_b = srv.create_key("read", ["beta"])["key"]

            # Allowed.
            self.assertEqual(srv.sql_rows("SELECT COUNT(*) FROM alpha_events", key=read_a, sandbox="alpha"), [[50]])
            self.assertEqual(srv.request("GET", profile_path(identity), key=read_a, sandbox="alpha").status, 200)
            self.assertEqual(srv.ingest("alpha_events", datagen.unique_events(1, seed=5, id_prefix="a2"),
                                        key=ingest_a, sandbox="alpha").status, 200)
            # Alpha's keys do nothing in beta.
            checks = [
                ("query beta with alpha read key",
                 srv.sql("SELECT COUNT(*) FROM beta_rows", key=read_a, sandbox="beta")),
                ("list beta datasets with alpha read key",
                 srv.request("GET", "/v1/datasets", key=read_a, sandbox="beta")),
                ("ingest beta with alpha ingest key",
                 srv.ingest("beta_rows", [{"x": 3}], key=ingest_a, sandbox="beta")),
                ("schema in beta with alpha ingest key",
                 srv.request("PUT", "/v1/schemas/evil", {"class": "adhoc", "properties": {}}, key=ingest_a,
                             sandbox="beta")),
                ("query alpha with beta read key",
                 srv.sql("SELECT COUNT(*) FROM alpha_events", key=read_b, sandbox="alpha")),
                ("profile of alpha with beta key", srv.request("GET", profile_path(identity), key=read_b,
                                                               sandbox="alpha")),
                # Roles: a read key cannot write, an ingest key cannot read.
                ("ingest with read key", srv.ingest("alpha_events", events[:1], key=read_a, sandbox="alpha")),
                ("query with ingest key", srv.sql("SELECT 1", key=ingest_a, sandbox="alpha")),
            ]
            for what, r in checks:
                with self.subTest(what):
                    self.assertEqual(r.status, 403, "%s: %r" % (what, r))
            self.assertEqual(srv.sql("SELECT 1", key=None, sandbox="alpha").status, 401)

            # Alpha's data is invisible from beta, even to an admin key.
            names = [d["name"] for d in srv.request("GET", "/v1/datasets", sandbox="beta").json()["datasets"]]
            self.assertEqual(names, ["beta_rows"])
            schemas = [s["name"] for s in srv.request("GET", "/v1/schemas", sandbox="beta").json()["schemas"]]
            self.assertEqual(schemas, ["b-schema"])
            self.assertEqual(srv.request("GET", "/v1/datasets/alpha_events", sandbox="beta").status, 404)
            self.assertEqual(srv.request("GET", "/v1/schemas/" + SCHEMA, sandbox="beta").status, 404)
            self.assertIn(srv.sql("SELECT COUNT(*) FROM alpha_events", sandbox="beta").status, (400, 404))
            self.assertIn(srv.sql("SELECT COUNT(*) FROM _records_alpha_events", sandbox="beta").status, (400, 404))
            self.assertEqual(srv.request("GET", profile_path(identity), sandbox="beta").status, 404)
            self.assertEqual(srv.ingest("alpha_events", events[:1], sandbox="beta").status, 404)
            r = srv.request("GET", "/v1/computed-attributes", sandbox="beta")
            self.assertEqual(r.json()["computed_attributes"], [])
            r = srv.sql("ATTACH DATABASE '%s' AS a" % os.path.join(srv.data_dir, "data", "alpha.db"), sandbox="beta")
            self.assertEqual(r.status, 400, r)
            # A sandbox with no data at all.
            self.assertIn(srv.sql("SELECT COUNT(*) FROM alpha_events", sandbox="gamma").status, (400, 404))
            self.assertEqual(srv.request("GET", "/v1/datasets", sandbox="gamma").json()["datasets"], [])
            # Same names in two sandboxes are two objects.
            setup_events_dataset(srv, "alpha_events", sandbox="beta")
            self.assertEqual(srv.sql_rows("SELECT COUNT(*) FROM alpha_events", sandbox="beta"), [[0]])
            self.assertEqual(srv.sql_rows("SELECT COUNT(*) FROM alpha_events", sandbox="alpha"), [[51]])
