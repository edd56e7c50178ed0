"""(d) Hot swap under load: 4 keep-alive clients while the service is
redeployed 50 times, rolled back and its traffic split changed 10 times:
zero failed requests, and every response comes from a revision that was
live while the request was out.
(e) Memory smoke: resident memory flat across 100 redeploys under load."""

import time
import unittest

from rtml_server import LoadClients, RtmlServer, model_path, read_bytes

OUTPUTS = {1: ("label", "probabilities"), 2: ("output_label", "output_probability")}


class HotSwap(unittest.TestCase):
    def test_d_hot_swap_under_load(self):
        with RtmlServer(threads=2, name="hot-swap") as s:
            s.upload("m", read_bytes(model_path("logreg_binary")))
            s.upload("m", read_bytes(model_path("logreg_binary_zipmap")))
            rev_model = {s.deploy("hot", "m", 1)["revision"]: 1}
            # (start, end, revisions receiving traffic afterwards)
            events = [(float("-inf"), float("-inf"), {1})]
            load = LoadClients(s, "hot", n=4).start()
            time.sleep(0.3)
            deploy_times = []
            for i in range(50):
                version = 2 if i % 2 == 0 else 1
                t0 = time.monotonic()
                d = s.deploy("hot", "m", version)
                t1 = time.monotonic()
                deploy_times.append(t1 - t0)
                rev_model[d["revision"]] = version
                self.assertEqual(d["traffic"], [{"revision": d["revision"], "percent": 100}])
                events.append((t0, t1, {d["revision"]}))
                time.sleep(0.02)
            last = d["revision"]
            t0 = time.monotonic()
            rb = s.request("POST", "/v1/services/hot:rollback")
            t1 = time.monotonic()
            self.assertEqual(rb.status, 200, rb)
            self.assertEqual(rb.json()["traffic"], [{"revision": last - 1, "percent": 100}],
                             "rollback goes to the previous revision")
            events.append((t0, t1, {last - 1}))
            time.sleep(0.1)
            # Traffic changes under load too: 50/50 and back, 10 times.
            for i in range(10):
                split = ([{"revision": last - 1, "percent": 50}, {"revision": last, "percent": 50}]
                         if i % 2 == 0 else [{"revision": last, "percent": 100}])
                t0 = time.monotonic()
                r = s.request("PUT", "/v1/services/hot/traffic", {"traffic": split})
                t1 = time.monotonic()
                self.assertEqual(r.status, 200, r)
                events.append((t0, t1, {t["revision"] for t in split}))
                time.sleep(0.03)
            time.sleep(0.3)
            load.stop()

            records = load.all_records()
            errors = load.all_errors()
            by_rev = {}
            for rec in records:
                by_rev[rec[3]] = by_rev.get(rec[3], 0) + 1
            print("\n  hot swap: %d requests on 4 connections, %d errors, 50 deploys (median %.1f ms, max %.1f ms) "
                  "+ rollback + 10 traffic changes, %d revisions answered"
                  % (len(records), len(errors), 1000 * sorted(deploy_times)[25], 1000 * max(deploy_times),
                     len(by_rev)))
            self.assertEqual(errors, [], "failed requests during hot swap")
            self.assertTrue(all(r[2] == 200 for r in records))
            self.assertGreater(len(records), 200, "too little load to mean anything")

            # A revision receiving traffic after event i is live from the start
            # of event i until the end of event i+1 (which may replace it).
            live = {}
            for i, (start, _, revs) in enumerate(events):
                until = events[i + 1][1] if i + 1 < len(events) else float("inf")
                for rev in revs:
                    live.setdefault(rev, []).append((start, until))
            stale = []
            for sent, received, status, rev, names in records:
                if not any(a <= received and b >= sent for a, b in live.get(rev, [])):
                    stale.append((sent, received, rev))
                self.assertEqual(names, OUTPUTS[rev_model[rev]], "revision %d answered with the wrong model" % rev)
            self.assertEqual(stale[:5], [], "%d responses came from a revision that was not live "
                             "between send and receive (sent, received, revision)" % len(stale))
            self.assertGreaterEqual(len(by_rev), 10, "requests should have seen many revisions: %s" % by_rev)
            split_seen = {r[3] for r in records if r[0] > events[-10][1]}
            self.assertEqual(split_seen & {last - 1, last}, {last - 1, last}, "both revisions served during the split")
            svc = s.request("GET", "/v1/services/hot").json()
            self.assertEqual(svc["errors"], 0)
            self.assertEqual(s.stop(), 0)

    def test_e_memory_flat_across_redeploys(self):
        with RtmlServer(threads=2, name="memory") as s:
            s.upload("m", read_bytes(model_path("logreg_binary")))
            s.upload("m", read_bytes(model_path("logreg_binary_zipmap")))
            s.deploy("mem", "m", 1)
            load = LoadClients(s, "mem", n=1, pause=0.001).start()
            # Warm-up: fill the revision history (max_revisions = 50) and the
            # per-thread caches, so what follows is the steady state.
            for i in range(60):
                s.deploy("mem", "m", 2 if i % 2 == 0 else 1)
            time.sleep(0.3)
            before = s.rss_kb()
            series = [before]
            for i in range(100):
                s.deploy("mem", "m", 2 if i % 2 == 0 else 1)
                if i % 25 == 24:
                    series.append(s.rss_kb())
            time.sleep(0.3)
            after = s.rss_kb()
            load.stop()
            growth = (after - before) / float(before)
            print("\n  memory: VmRSS after warm-up %d kB, after 100 redeploys %d kB (%+.2f%%); series %s; "
                  "%d requests, %d errors" % (before, after, 100 * growth, series, load.count(),
                                              len(load.all_errors())))
            self.assertEqual(load.all_errors(), [])
            self.assertLessEqual(growth, 0.05, "resident memory grew more than 5%% over 100 redeploys")


if __name__ == "__main__":
    unittest.main()
