"""(f) Keys API, per-key rate limit, connection limit, /metrics, and SIGTERM
with requests in flight."""

import http.client
import json
import os
import re
import socket
import stat
import threading
import time
import unittest

from rtml_server import (DEFAULT_INFER_BODY, LoadClients, RtmlServer, model_path, parse_raw_response,
                         read_bytes)


def deploy_lr(s, service="svc"):
    s.upload("lr", read_bytes(model_path("logreg_binary_zipmap")))
    s.deploy(service, "lr", 1)


class Keys(unittest.TestCase):
    def test_keys_api(self):
        with RtmlServer(threads=1, name="keys") as s:
            deploy_lr(s)
            admin_key = s.admin_key
            mode = stat.S_IMODE(os.stat(os.path.join(s.data_dir, "admin.key")).st_mode)
            self.assertEqual(mode, 0o600, "admin.key must be mode 0600")

            r = s.request("POST", "/v1/keys", {"role": "predict", "sandboxes": ["prod"], "description": "ci"})
            self.assertEqual(r.status, 201, r)
            k = r.json()
            self.assertEqual({x: k[x] for x in ("role", "sandboxes", "description")},
                             {"role": "predict", "sandboxes": ["prod"], "description": "ci"})
            self.assertTrue(k["id"] and k["key"] and k["created"])
            self.assertEqual(s.infer("svc", DEFAULT_INFER_BODY, key=k["key"]).status, 200)

            r = s.request("GET", "/v1/keys")
            self.assertEqual(r.status, 200, r)
            listed = {x["id"]: x for x in r.json()["keys"]}
            self.assertIn(k["id"], listed)
            self.assertEqual(listed[k["id"]]["role"], "predict")
            self.assertEqual(listed[k["id"]]["sandboxes"], ["prod"])
            self.assertNotIn("key", listed[k["id"]])
            self.assertNotIn(k["key"].encode(), r.body, "key listing shows a secret")
            self.assertNotIn(admin_key.encode(), r.body, "key listing shows a secret")
            self.assertEqual(sorted(x["role"] for x in listed.values()), ["admin", "predict"])

            # Only hashes are stored: no file but admin.key holds a key in clear.
            for root, _, files in os.walk(s.data_dir):
                for f in files:
                    if f == "admin.key":
                        continue
                    data = read_bytes(os.path.join(root, f))
                    self.assertNotIn(k["key"].encode(), data, "plaintext key in " + f)
                    self.assertNotIn(admin_key.encode(), data, "plaintext admin key in " + f)

            # Validation.
            for body, msg in (({"role": "boss", "sandboxes": ["prod"]}, "role must be one of"),
                              ({"role": "read"}, "sandboxes must be an array"),
                              ({"role": "read", "sandboxes": []}, "at least one sandbox"),
                              ({"role": "read", "sandboxes": ["a b"]}, "sandbox name 'a b'"),
                              ({"role": "read", "sandboxes": [3]}, "sandboxes must be strings")):
                with self.subTest(body=body):
                    r = s.request("POST", "/v1/keys", body)
                    self.assertEqual((r.status, r.error[0]), (400, "INVALID_ARGUMENT"), r)
                    self.assertIn(msg, r.error[1])
            r = s.request("POST", "/v1/keys", {"role": "read", "sandboxes": ["prod"]}, key=k["key"])
            self.assertEqual((r.status, r.error[0]), (403, "PERMISSION_DENIED"), r)

            # Keys survive a restart; deleted keys stay deleted.
            other = s.create_key("author", ["prod"])
            s.restart()
            self.assertEqual(s.infer("svc", DEFAULT_INFER_BODY, key=k["key"]).status, 200)
            r = s.request("DELETE", "/v1/keys/" + k["id"])
            self.assertEqual((r.status, r.json()), (200, {"deleted": True}))
            r = s.infer("svc", DEFAULT_INFER_BODY, key=k["key"])
            self.assertEqual((r.status, r.error), (401, ("UNAUTHENTICATED", "invalid API key")))
            r = s.request("DELETE", "/v1/keys/" + k["id"])
            self.assertEqual((r.status, r.error[0]), (404, "NOT_FOUND"), r)
            self.assertIn(k["id"], r.error[1])
            self.assertNotIn(k["id"], [x["id"] for x in s.request("GET", "/v1/keys").json()["keys"]])
            s.restart()
            self.assertEqual(s.infer("svc", DEFAULT_INFER_BODY, key=k["key"]).status, 401)
            self.assertEqual(s.infer("svc", DEFAULT_INFER_BODY, key=other["key"]).status, 200)
            self.assertEqual(s.infer("svc", DEFAULT_INFER_BODY, key=admin_key).status, 200)

    def test_env_admin_key(self):
        env_key = "e2e-env-admin-key-0123456789"
        with RtmlServer(threads=1, name="env-key", env={"RTML_ADMIN_KEY": env_key}) as s:
            self.assertFalse(os.path.exists(os.path.join(s.data_dir, "admin.key")),
                             "no key is generated when RTML_ADMIN_KEY is set")
            r = s.request("GET", "/v1/keys", key=env_key)
            self.assertEqual(r.status, 200, r)
            r = s.request("PUT", "/v1/services/x", {"model": {"name": "nope"}}, key=env_key, sandbox="any-sandbox")
            self.assertEqual(r.status, 404, "the env key works in every sandbox: %r" % r)
            self.assertEqual(s.request("GET", "/v1/keys", key=env_key + "x").status, 401)


class Limits(unittest.TestCase):
    def test_rate_limit(self):
        with RtmlServer(threads=1, name="rate", args=["--rate-limit", "20", "--rate-burst", "5"]) as s:
            deploy_lr(s)
            # The admin key is rate-limited too: setup stays within its burst of 5.
            k1 = s.create_key("predict", ["prod"])["key"]
            k2 = s.create_key("predict", ["prod"])["key"]
            conn = s.connect()
            statuses = []
            rejected = []
            t0 = time.monotonic()
            for _ in range(50):
                r = s.infer("svc", DEFAULT_INFER_BODY, key=k1, conn=conn)
                statuses.append(r.status)
                if r.status == 429:
                    rejected.append(r)
            elapsed = time.monotonic() - t0
            ok = statuses.count(200)
            print("\n  rate limit 20/s burst 5: %d x 200, %d x 429 in %.3f s" % (ok, len(rejected), elapsed))
            self.assertEqual(set(statuses) - {200, 429}, set(), statuses)
            self.assertGreater(len(rejected), 0)
            self.assertGreaterEqual(ok, 5, "the burst is admitted")
            self.assertLessEqual(ok, 5 + int(elapsed * 20) + 1, "more admitted than rate x time + burst")
            for r in rejected[:3]:
                self.assertEqual(r.error[0], "RESOURCE_EXHAUSTED")
                self.assertIn("rate limit of 20", r.error[1])
                self.assertIsNotNone(r.header("Retry-After"), "429 without Retry-After")
                self.assertGreaterEqual(int(r.header("Retry-After")), 1)
            # Another key has its own budget; health checks are not limited.
            self.assertEqual(s.infer("svc", DEFAULT_INFER_BODY, key=k2, conn=conn).status, 200)
            self.assertEqual({s.request("GET", "/v2/health/ready", key=None, conn=conn).status
                              for _ in range(30)}, {200})
            time.sleep(0.3)
            self.assertEqual(s.infer("svc", DEFAULT_INFER_BODY, key=k1, conn=conn).status, 200,
                             "the key is admitted again after a pause")
            conn.close()

    def test_connection_limit(self):
        with RtmlServer(threads=1, name="conn-limit", args=["--max-connections", "3"]) as s:
            time.sleep(0.1)  # let the ready poll's connection close
            held = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(3)]
            try:
                time.sleep(0.1)
                extra = socket.create_connection(("127.0.0.1", s.port), timeout=5)
                extra.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while True:
                    try:
                        d = extra.recv(65536)
                    except (ConnectionResetError, socket.timeout):
                        break
                    if not d:
                        break
                    data += d
                extra.close()
                status, headers, body = parse_raw_response(data)
                self.assertEqual(status, 503, data)
                j = json.loads(body)
                self.assertIn("too many open connections", j["error"])
                # docs/api.md: 503 is UNAVAILABLE ("not ready, or connection limit reached").
                self.assertEqual(j["code"], "UNAVAILABLE", body)
            finally:
                for h in held:
                    h.close()
            time.sleep(0.1)
            self.assertEqual(s.request("GET", "/v2/health/live", key=None).status, 200)


class Concurrency(unittest.TestCase):
    def test_concurrent_identical_uploads(self):
        # Uploads are idempotent by SHA-256: 8 clients posting the same bytes
        # at once get one 201 and seven 200s, all for version 1.
        with RtmlServer(threads=2, name="upload-race") as s:
            onnx_bytes = read_bytes(model_path("bench_gbdt100"))
            for trial in range(4):
                name = "race%d" % trial
                results = []

                def upload():
                    r = s.request("POST", "/v1/models/" + name, onnx_bytes)
                    results.append((r.status, r.json().get("version"), r.error[1]))
                threads = [threading.Thread(target=upload) for _ in range(8)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                versions = [v["version"] for v in s.request("GET", "/v1/models/" + name).json()["versions"]]
                with self.subTest(trial=trial):
                    self.assertEqual(sorted(r[0] for r in results), [200] * 7 + [201], results)
                    self.assertEqual({r[1] for r in results}, {1}, results)
                    self.assertEqual(versions, [1], "one version per distinct content")

    def test_concurrent_uploads_of_same_bytes_under_different_names(self):
        # Model files are stored once per SHA-256; concurrent writers of the
        # same content must not fail each other.
        with RtmlServer(threads=2, name="upload-race-names", args=["--offload-threads", "8"]) as s:
            onnx_bytes = read_bytes(model_path("bench_gbdt100"))
            failures = []
            for trial in range(25):
                results = []

                def upload(i):
                    r = s.request("POST", "/v1/models/t%d-m%d" % (trial, i), onnx_bytes)
                    results.append((r.status, r.error[1]))
                threads = [threading.Thread(target=upload, args=(i,)) for i in range(16)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                failures += [r for r in results if r[0] != 201]
            self.assertEqual(failures, [], "uploads failed")
            for trial in range(25):
                for i in range(16):
                    a = s.request("GET", "/v1/models/t%d-m%d/versions/1/artifact" % (trial, i))
                    self.assertEqual((a.status, a.body == onnx_bytes), (200, True))

    def test_concurrent_deploys(self):
        with RtmlServer(threads=2, name="deploy-race", args=["--offload-threads", "4"]) as s:
            s.upload("m", read_bytes(model_path("logreg_binary")))
            s.upload("m", read_bytes(model_path("logreg_binary_zipmap")))
            results = []

            def deploy(v):
                for _ in range(10):
                    r = s.request("PUT", "/v1/services/cd", {"model": {"name": "m", "version": v}})
                    results.append((r.status, r.json().get("revision")))
            threads = [threading.Thread(target=deploy, args=(1 + i % 2,)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual({r[0] for r in results}, {201}, results)
            self.assertEqual(sorted(r[1] for r in results), list(range(1, 41)), "revision numbers unique")
            svc = s.request("GET", "/v1/services/cd").json()
            self.assertEqual([r["revision"] for r in svc["revisions"]], list(range(1, 41)))
            self.assertEqual(svc["traffic"], [{"revision": 40, "percent": 100}])
            s.restart()
            svc2 = s.request("GET", "/v1/services/cd").json()
            self.assertEqual((svc2["traffic"], len(svc2["revisions"])), (svc["traffic"], 40))


class Metrics(unittest.TestCase):
    def test_metrics(self):
        with RtmlServer(threads=2, name="metrics") as s:
            deploy_lr(s)
            conn = s.connect()
            for _ in range(12):
                self.assertEqual(s.infer("svc", DEFAULT_INFER_BODY, conn=conn).status, 200)
            for _ in range(3):
                self.assertEqual(s.predict("svc", {"instances": [{"float_input": [1, 2, 3, 4, 5, 6]}]},
                                           conn=conn).status, 200)
            for _ in range(4):
                self.assertEqual(s.infer("svc", '{"inputs":[]}', conn=conn).status, 400)
            r = s.request("GET", "/metrics", key=None, conn=conn)
            conn.close()
            self.assertEqual(r.status, 200, r)
            self.assertTrue(r.header("Content-Type").startswith("text/plain"), r.header("Content-Type"))
            text = r.body.decode()
            samples = {}
            sample_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
            for line in text.splitlines():
                if not line or line.startswith("#"):
                    continue
                m = sample_re.match(line)
                self.assertIsNotNone(m, "not Prometheus text format: %r" % line)
                float(m.group(3))
                samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
            ok = samples.get('rtml_service_requests_total{sandbox="prod",service="svc",revision="1",status="2xx"}')
            bad = samples.get('rtml_service_requests_total{sandbox="prod",service="svc",revision="1",status="4xx"}')
            self.assertEqual((ok, bad), (15.0, 4.0), "request counters of service svc")
            for phase in ("parse", "run", "serialize", "total"):
                with self.subTest(phase=phase):
                    prefix = 'rtml_service_latency_seconds_bucket{sandbox="prod",service="svc",phase="%s",le=' % phase
                    buckets = [(k, v) for k, v in samples.items() if k.startswith(prefix)]
                    self.assertGreater(len(buckets), 5, "no latency histogram for phase " + phase)
                    inf = samples[prefix + '"+Inf"}']
                    self.assertEqual(inf, 15.0)
                    counts = [v for k, v in buckets]
                    self.assertEqual(counts, sorted(counts), "bucket counts must be cumulative")
                    self.assertEqual(samples['rtml_service_latency_seconds_count{sandbox="prod",service="svc",'
                                             'phase="%s"}' % phase], inf)
            self.assertEqual(samples["rtml_ready"], 1.0)
            self.assertEqual(samples["rtml_services"], 1.0)
            self.assertGreaterEqual(samples["rtml_models_loaded"], 1.0)
            self.assertGreater(samples["rtml_process_resident_memory_bytes"], 1e6)
            self.assertGreaterEqual(samples['rtml_http_responses_total{class="2xx"}'], 15.0)
            self.assertGreaterEqual(samples['rtml_http_responses_total{class="4xx"}'], 4.0)


class Shutdown(unittest.TestCase):
    def test_sigterm_finishes_request_in_flight(self):
        s = RtmlServer(threads=2, name="sigterm-inflight")
        try:
            s.start()
            deploy_lr(s)
            body = DEFAULT_INFER_BODY
            head = ("POST /v2/models/svc/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                    "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (s.admin_key, len(body))).encode()
            sock = socket.create_connection(("127.0.0.1", s.port), timeout=15)
            sock.sendall(head + body[:20])
            time.sleep(0.2)
            s.proc.send_signal(15)
            time.sleep(0.5)
            self.assertIsNone(s.proc.poll(), "the server exited with a request in flight")
            # The listener is closed: new clients are turned away (refused or not ready).
            try:
                c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=2)
                c.request("GET", "/v2/health/ready")
                self.assertNotEqual(c.getresponse().status, 200, "ready while draining")
                c.close()
            except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
                pass
            sock.sendall(body[20:])
            data = b""
            while True:
                d = sock.recv(65536)
                if not d:
                    break
                data += d
            sock.close()
            status, headers, resp = parse_raw_response(data)
            self.assertEqual(status, 200, data)
            self.assertEqual(json.loads(resp)["model_name"], "svc")
            self.assertEqual(headers.get("connection"), "close")
            rc = s.proc.wait(timeout=15)
            self.assertEqual(rc, 0, "exit code after SIGTERM\n" + s.log_tail())
            self.assertIn("received SIGTERM", s.log())
        finally:
            s.close()

    def test_sigterm_under_load(self):
        s = RtmlServer(threads=2, name="sigterm-load")
        try:
            s.start()
            deploy_lr(s)
            load = LoadClients(s, "svc", n=4).start()
            time.sleep(0.5)
            t_term = time.monotonic()
            s.proc.send_signal(15)
            rc = s.proc.wait(timeout=20)
            t_exit = time.monotonic()
            load.stop()
            records = load.all_records()
            statuses = {}
            for rec in records:
                statuses[rec[2]] = statuses.get(rec[2], 0) + 1
            errors = load.all_errors()
            print("\n  SIGTERM under load: exit code %d after %.3f s; responses %s; %d connection errors after SIGTERM"
                  % (rc, t_exit - t_term, statuses, len(errors)))
            self.assertEqual(rc, 0, s.log_tail())
            self.assertEqual(set(statuses), {200}, "every response to a request is a 200")
            early = [e for e in errors if e[0] < t_term]
            self.assertEqual(early, [], "errors before SIGTERM")
            self.assertGreater(len(records), 50)
        finally:
            s.close()


if __name__ == "__main__":
    unittest.main()
