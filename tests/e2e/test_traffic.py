"""(c) Traffic splits: sticky routing by request id / identity, a near-even
50/50 split, pinned revisions, rollback, and the split surviving a restart."""

import unittest

from rtml_server import RtmlServer, fnv1a64, model_path, read_bytes

ROW = [0.5, -1.0, 2.0, 0.25, -0.75, 1.5]


def infer_body(request_id=None):
    body = {"inputs": [{"name": "float_input", "shape": [1, 6], "datatype": "FP32", "data": ROW}]}
    if request_id is not None:
        body["id"] = request_id
    return body


# Model "m" version 1 is logreg_binary (outputs label, probabilities),
# version 2 is logreg_binary_zipmap (output_label, output_probability): the
# output names tell which model answered.
OUTPUTS = {1: ["label", "probabilities"], 2: ["output_label", "output_probability"]}


class TrafficSplit(unittest.TestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = s = RtmlServer(threads=2, name="traffic").start()
        s.upload("m", read_bytes(model_path("logreg_binary")))
        s.upload("m", read_bytes(model_path("logreg_binary_zipmap")))
        assert s.deploy("split", "m", 1)["revision"] == 1
        assert s.deploy("split", "m", 2)["revision"] == 2
        cls.rev_model = {1: 1, 2: 2}

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            cls.server.close()

    def set_traffic(self, traffic):
        r = self.server.request("PUT", "/v1/services/split/traffic", {"traffic": traffic})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["traffic"], traffic)
        return r.json()

    def expected_revision(self, key, traffic):
        """docs/api.md: FNV-1a 64 of the id modulo 100 against cumulative percents."""
        bucket = fnv1a64(key) % 100
        acc = 0
        for t in traffic:
            if t["percent"] == 0:
                continue
            acc += t["percent"]
            if bucket < acc:
                return t["revision"]
        return traffic[-1]["revision"]

    def call(self, conn, request_id=None, revision=None):
        r = self.server.infer("split", infer_body(request_id), revision=revision, conn=conn)
        self.assertEqual(r.status, 200, r)
        j = r.json()
        rev = int(j["model_version"])
        self.assertEqual([o["name"] for o in j["outputs"]], OUTPUTS[self.rev_model[rev]],
                         "revision %d answered with another model's outputs" % rev)
        if request_id is not None:
            self.assertEqual(j["id"], request_id)
        return rev

    def test_c1_fixed_id_is_sticky(self):
        traffic = [{"revision": 1, "percent": 50}, {"revision": 2, "percent": 50}]
        self.set_traffic(traffic)
        conn = self.server.connect()
        seen = set()
        for i in range(30):
            rid = "customer-%d" % i
            revs = {self.call(conn, rid) for _ in range(5)}
            self.assertEqual(len(revs), 1, "id %s reached revisions %s" % (rid, revs))
            rev = revs.pop()
            self.assertEqual(rev, self.expected_revision(rid, traffic), "id " + rid)
            seen.add(rev)
        self.assertEqual(seen, {1, 2})
        # Row form routes by the first instance's identity.
        for i in range(20):
            ident = "ECID:%d" % i
            revs = set()
            for _ in range(3):
                r = self.server.predict("split", {"instances": [{"float_input": ROW, "identity": ident}]}, conn=conn)
                self.assertEqual(r.status, 200, r)
                revs.add(r.json()["revision"])
            self.assertEqual(revs, {self.expected_revision(ident, traffic)}, ident)
        conn.close()

    def test_c2_distinct_ids_split_evenly(self):
        traffic = [{"revision": 1, "percent": 50}, {"revision": 2, "percent": 50}]
        self.set_traffic(traffic)
        conn = self.server.connect()
        counts = {1: 0, 2: 0}
        mismatched = 0
        for i in range(2000):
            rid = "req-%06d" % i
            rev = self.call(conn, rid)
            counts[rev] += 1
            mismatched += rev != self.expected_revision(rid, traffic)
        share = counts[1] / 2000.0
        print("\n  50/50 split over 2000 ids: rev1 %d, rev2 %d (%.1f%%)" % (counts[1], counts[2], 100 * share))
        self.assertTrue(0.45 <= share <= 0.55, counts)
        self.assertEqual(mismatched, 0, "requests not routed as docs/api.md describes")
        # Without an id, requests are spread over both revisions.
        counts = {1: 0, 2: 0}
        for _ in range(400):
            counts[self.call(conn)] += 1
        self.assertTrue(0.30 <= counts[1] / 400.0 <= 0.70, counts)
        # 90/10 moves the split accordingly.
        traffic = [{"revision": 1, "percent": 90}, {"revision": 2, "percent": 10}]
        self.set_traffic(traffic)
        counts = {1: 0, 2: 0}
        for i in range(1000):
            counts[self.call(conn, "other-%d" % i)] += 1
        self.assertTrue(0.85 <= counts[1] / 1000.0 <= 0.95, counts)
        conn.close()

    def test_c3_versions_path_pins_a_revision(self):
        self.set_traffic([{"revision": 1, "percent": 50}, {"revision": 2, "percent": 50}])
        conn = self.server.connect()
        for rev in (1, 2):
            for i in range(25):
                self.assertEqual(self.call(conn, "pin-%d" % i, revision=rev), rev)
            meta = self.server.request("GET", "/v2/models/split/versions/%d" % rev, conn=conn)
            self.assertEqual(meta.status, 200, meta)
            self.assertEqual([o["name"] for o in meta.json()["outputs"]], OUTPUTS[rev])
        # A revision with 0% traffic can still be called by number.
        self.set_traffic([{"revision": 2, "percent": 100}])
        self.assertEqual(self.call(conn, "x", revision=1), 1)
        self.assertEqual({self.call(conn, "id-%d" % i) for i in range(50)}, {2})
        conn.close()

    def test_c4_rollback(self):
        s = self.server
        self.set_traffic([{"revision": 1, "percent": 50}, {"revision": 2, "percent": 50}])
        r = s.request("POST", "/v1/services/split:rollback")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["traffic"], [{"revision": 1, "percent": 100}])
        conn = s.connect()
        self.assertEqual({self.call(conn, "rb-%d" % i) for i in range(200)}, {1})
        # A new deploy takes all traffic; rollback goes to the newest older revision.
        d = s.deploy("split", "m", 2)
        self.assertEqual(d["revision"], 3)
        self.rev_model[3] = 2
        self.assertEqual({self.call(conn, "rb-%d" % i) for i in range(100)}, {3})
        r = s.request("POST", "/v1/services/split:rollback")
        self.assertEqual((r.status, r.json()["traffic"]), (200, [{"revision": 2, "percent": 100}]))
        self.assertEqual({self.call(conn, "rb-%d" % i) for i in range(100)}, {2})
        r = s.request("POST", "/v1/services/split:rollback")
        self.assertEqual((r.status, r.json()["traffic"]), (200, [{"revision": 1, "percent": 100}]))
        r = s.request("POST", "/v1/services/split:rollback")
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.error[0], "CONFLICT")
        r = s.request("POST", "/v1/services/split:rollback", {"revision": 3})
        self.assertEqual((r.status, r.json()["traffic"]), (200, [{"revision": 3, "percent": 100}]))
        self.assertEqual({self.call(conn, "rb-%d" % i) for i in range(100)}, {3})
        conn.close()

    def test_c5_split_survives_restart(self):
        s = self.server
        traffic = [{"revision": 1, "percent": 30}, {"revision": 3, "percent": 70}]
        self.set_traffic(traffic)
        conn = s.connect()
        before = {i: self.call(conn, "keep-%d" % i) for i in range(200)}
        conn.close()
        s.restart()
        svc = s.request("GET", "/v1/services/split").json()
        self.assertEqual(svc["traffic"], traffic)
        self.assertEqual([r["revision"] for r in svc["revisions"]], [1, 2, 3])
        conn = s.connect()
        after = {i: self.call(conn, "keep-%d" % i) for i in range(200)}
        conn.close()
        self.assertEqual(before, after)
        d = s.deploy("split", "m", 1)
        self.assertEqual(d["revision"], 4, "revision numbers are never reused after a restart")


if __name__ == "__main__":
    unittest.main()
