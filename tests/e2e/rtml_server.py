"""Harness for end-to-end tests: runs the real `rtml serve` on a loopback port.

Standard library only (Debian's /usr/bin/python3). Configuration comes from
the environment, which tests/e2e/run.py sets:

  RTML_BINARY      path of the rtml executable (default: <repo>/build/rtml)
  RTML_TEST_MODELS directory written by tests/models/gen_models.py

Typical use:

    with RtmlServer(args=["--threads", "2"]) as srv:
        r = srv.request("POST", "/v1/models/m", body=onnx_bytes)
        assert r.status == 201, r
        srv.restart()               # same data dir, SIGTERM + exit code 0
        srv.stop()                  # raises unless the exit code is 0
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Every server started in this process, newest last; run.py prints the logs
# of the servers a failing test used.
ALL_SERVERS = []
_ALL_LOCK = threading.Lock()


def rtml_binary():
    return os.environ.get("RTML_BINARY") or os.path.join(REPO, "build", "rtml")


def models_dir():
    d = os.environ.get("RTML_TEST_MODELS")
    if not d:
        raise RuntimeError("RTML_TEST_MODELS is not set (run tests/e2e/run.py --models DIR)")
    return d


def model_path(name, suffix=".onnx"):
    return os.path.join(models_dir(), name + suffix)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def free_port():
    """A loopback port that was free a moment ago (the server reports no port for :0)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # dict, lower-case names
        self.body = body        # bytes
        self._json = None

    def json(self):
        if self._json is None:
            self._json = json.loads(self.body.decode("utf-8"))
        return self._json

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    @property
    def error(self):
        """(code, message) of an error body, or (None, None)."""
        try:
            j = self.json()
        except ValueError:
            return None, None
        if not isinstance(j, dict):
            return None, None
        return j.get("code"), j.get("error")

    def __repr__(self):
        text = self.body[:600].decode("utf-8", "replace")
        return "<HTTP %d %s>" % (self.status, text)


class ServerError(AssertionError):
    pass


class RtmlServer:
    """One `rtml serve` process with its own temporary data directory."""

    def __init__(self, args=(), env=None, threads=2, data_dir=None, ready_timeout=30.0, name="rtml"):
        self.binary = rtml_binary()
        self.args = list(args)
        self.threads = threads
        self.extra_env = dict(env or {})
        self.name = name
        self.ready_timeout = ready_timeout
        self._tmp = tempfile.mkdtemp(prefix="rtml-e2e-")
        self.data_dir = data_dir or os.path.join(self._tmp, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.log_path = os.path.join(self._tmp, "server.log")
        self.proc = None
        self.port = None
        self.starts = 0
        self.exit_codes = []
        self._admin_key = None
        # Health polls of the last start: (seconds since spawn, status or error name).
        self.ready_polls = []
        with _ALL_LOCK:
            ALL_SERVERS.append(self)

    # ------------------------------------------------------------ lifecycle

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def command(self, port):
        cmd = [self.binary, "serve", "--data-dir", self.data_dir, "--listen", "127.0.0.1:%d" % port]
        if self.threads is not None:
            cmd += ["--threads", str(self.threads)]
        return cmd + self.args

    def start(self, on_first_ready=None):
        """Spawns the server and waits for /v2/health/ready == 200.

        on_first_ready(self), when given, runs right after the first 200 from
        /v2/health/ready (used to check that services already serve then).
        """
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        env = dict(os.environ)
        env.pop("RTML_ADMIN_KEY", None)
        env.update(self.extra_env)
        last_error = None
        for attempt in range(5):
            port = self.port if (self.port and attempt == 0) else free_port()
            with open(self.log_path, "ab") as log:
                log.write(("---- start %d: %s\n" % (self.starts + 1, " ".join(self.command(port)))).encode())
                log.flush()
                self.proc = subprocess.Popen(self.command(port), stdout=log, stderr=subprocess.STDOUT,
                                             env=env, cwd=self._tmp)
            self.port = port
            self.starts += 1
            try:
                self._wait_ready(on_first_ready)
                return self
            except ServerError as e:
                last_error = e
                if self.proc.poll() is not None and "cannot listen" in self.log_tail():
                    continue  # the port was taken in between; try another one
                self.kill()
                raise
        raise last_error

    def _wait_ready(self, on_first_ready):
        self.ready_polls = []
        t0 = time.monotonic()
        deadline = t0 + self.ready_timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise ServerError("rtml serve exited with code %d before it was ready\n%s" % (rc, self.log_tail()))
            status = None
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/v2/health/ready")
                r = c.getresponse()
                r.read()
                c.close()
                status = r.status
                self.ready_polls.append((time.monotonic() - t0, status))
            except (OSError, http.client.HTTPException) as e:
                self.ready_polls.append((time.monotonic() - t0, type(e).__name__))
            if status == 200:
                if on_first_ready:
                    on_first_ready(self)
                return
            time.sleep(0.002)
        raise ServerError("rtml serve not ready after %.0f s\n%s" % (self.ready_timeout, self.log_tail()))

    def stop(self, timeout=20.0, expect_code=0):
        """SIGTERM, wait, and check the exit code (0 unless told otherwise)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServerError("rtml serve did not exit within %.0f s of SIGTERM\n%s" % (timeout, self.log_tail()))
        self.exit_codes.append(rc)
        if expect_code is not None and rc != expect_code:
            raise ServerError("rtml serve exited with code %d after SIGTERM, expected %d\n%s"
                              % (rc, expect_code, self.log_tail()))
        return rc

    def restart(self, on_first_ready=None):
        self.stop()
        return self.start(on_first_ready=on_first_ready)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        """Stops the server (without checking the exit code) and removes its files."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.stop(expect_code=None, timeout=15)
            except ServerError:
                pass
        self.kill()
        self._final_log = self.log()  # kept for failure reports after the files are gone
        if os.environ.get("RTML_E2E_KEEP"):
            return
        shutil.rmtree(self._tmp, ignore_errors=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return getattr(self, "_final_log", "")

    def log_tail(self, lines=60):
        return "\n".join(self.log().splitlines()[-lines:])

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise ServerError("no VmRSS for pid %d" % self.proc.pid)

    # ----------------------------------------------------------------- keys

    @property
    def admin_key(self):
        if self.extra_env.get("RTML_ADMIN_KEY"):
            return self.extra_env["RTML_ADMIN_KEY"]
        if self._admin_key is None:
            with open(os.path.join(self.data_dir, "admin.key")) as f:
                self._admin_key = f.read().strip()
        return self._admin_key

    def create_key(self, role, sandboxes, description=None):
        body = {"role": role, "sandboxes": list(sandboxes)}
        if description is not None:
            body["description"] = description
        r = self.request("POST", "/v1/keys", body)
        if r.status != 201:
            raise ServerError("cannot create a %s key: %r" % (role, r))
        return r.json()

    # ------------------------------------------------------------- requests

    def connect(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, key="admin", sandbox=None, headers=None, conn=None,
                content_type=None, timeout=30):
        """One HTTP request. key="admin" uses the admin key, None sends no
        Authorization header, any other string is sent as the bearer key.
        body: dict/list (sent as JSON), str or bytes. With conn (an
        http.client.HTTPConnection) the connection is reused (keep-alive)."""
        h = {}
        if key == "admin":
            key = self.admin_key
        if key is not None:
            h["Authorization"] = "Bearer " + key
        if sandbox is not None:
            h["x-sandbox-name"] = sandbox
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h["Content-Type"] = content_type or "application/json"
        elif isinstance(body, str):
            body = body.encode()
            h["Content-Type"] = content_type or "application/json"
        elif body is not None:
            h["Content-Type"] = content_type or "application/octet-stream"
        if headers:
            h.update(headers)
        own = conn is None
        c = conn or self.connect(timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            if own:
                c.close()

    # Convenience wrappers around the catalog API.

    def upload(self, name, onnx_bytes, sandbox=None, expect=(200, 201)):
        r = self.request("POST", "/v1/models/" + name, onnx_bytes, sandbox=sandbox)
        if r.status not in expect:
            raise ServerError("upload of %s: %r" % (name, r))
        return r

    def deploy(self, service, model, version=None, traffic=None, sandbox=None):
        m = {"name": model}
        if version is not None:
            m["version"] = version
        body = {"model": m}
        if traffic is not None:
            body["traffic"] = traffic
        r = self.request("PUT", "/v1/services/" + service, body, sandbox=sandbox)
        if r.status != 201:
            raise ServerError("deploy of %s: %r" % (service, r))
        return r.json()

    def infer(self, service, request_body, revision=None, key="admin", sandbox=None, conn=None):
        path = "/v2/models/%s%s/infer" % (service, "/versions/%s" % revision if revision is not None else "")
        return self.request("POST", path, request_body, key=key, sandbox=sandbox, conn=conn)

    def predict(self, service, body, key="admin", sandbox=None, conn=None):
        return self.request("POST", "/v1/services/%s/predict" % service, body, key=key, sandbox=sandbox, conn=conn)

    # Data API (docs/api.md "Data").

    def ingest(self, dataset, body, ndjson=True, key="admin", sandbox=None, conn=None, timeout=60):
        """POST /v1/datasets/{dataset}/records. body: bytes/str (sent as is),
        or a list of records (NDJSON when ndjson, else a JSON array)."""
        if isinstance(body, list):
            if ndjson:
                body = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in body)
            else:
                body = json.dumps(body, separators=(",", ":"))
        if isinstance(body, str):
            body = body.encode("utf-8")
        ctype = "application/x-ndjson" if ndjson else "application/json"
        return self.request("POST", "/v1/datasets/%s/records" % dataset, body, key=key, sandbox=sandbox, conn=conn,
                            content_type=ctype, timeout=timeout)

    def sql(self, sql, key="admin", sandbox=None, conn=None, timeout=60):
        """POST /v1/query {"sql": sql}."""
        return self.request("POST", "/v1/query", {"sql": sql}, key=key, sandbox=sandbox, conn=conn, timeout=timeout)

    def sql_rows(self, sql, key="admin", sandbox=None, conn=None):
        """The rows of a query that must succeed (raises ServerError otherwise)."""
        r = self.sql(sql, key=key, sandbox=sandbox, conn=conn)
        if r.status != 200:
            raise ServerError("query %r: %r" % (sql, r))
        return r.json()["rows"]


# ---------------------------------------------------------------- helpers

# A one-row KServe request for the 6-feature logistic regressions.
DEFAULT_INFER_BODY = (b'{"inputs":[{"name":"float_input","shape":[1,6],"datatype":"FP32",'
                      b'"data":[0.5,-1.0,2.0,0.25,-0.75,1.5]}]}')


class LoadClients:
    """N threads, each with one keep-alive connection, sending KServe infer
    requests until stopped. Records (sent, received, status, revision, output
    names) per request and every exception."""

    def __init__(self, server, service, n=4, pause=0.0, body=None):
        self.server = server
        self.service = service
        self.n = n
        self.pause = pause
        self.body = body or DEFAULT_INFER_BODY
        self.stop_flag = threading.Event()
        self.records = [[] for _ in range(n)]
        self.errors = [[] for _ in range(n)]
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(n)]
        self.headers = {"Authorization": "Bearer " + server.admin_key, "Content-Type": "application/json"}

    def _run(self, i):
        path = "/v2/models/%s/infer" % self.service
        conn = None
        while not self.stop_flag.is_set():
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
            t0 = time.monotonic()
            try:
                conn.request("POST", path, body=self.body, headers=self.headers)
                r = conn.getresponse()
                data = r.read()
                t1 = time.monotonic()
            except (OSError, http.client.HTTPException) as e:
                self.errors[i].append((time.monotonic(), repr(e)))
                conn.close()
                conn = None
                continue
            rev, names = None, None
            if r.status == 200:
                # Cheap parse: model_version and output names.
                text = data.decode()
                mv = text.index('"model_version":"') + len('"model_version":"')
                rev = int(text[mv:text.index('"', mv)])
                names = tuple(p.split('"')[0] for p in text.split('{"name":"')[1:])
            else:
                self.errors[i].append((t1, "HTTP %d %s" % (r.status, data[:200])))
            self.records[i].append((t0, t1, r.status, rev, names))
            if self.pause:
                time.sleep(self.pause)
        if conn is not None:
            conn.close()

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(60)

    def all_records(self):
        return [r for rs in self.records for r in rs]

    def all_errors(self):
        return [e for es in self.errors for e in es]

    def count(self):
        return sum(len(r) for r in self.records)




def rtml_run(model, request_path):
    """The engine's direct KServe response (`rtml run MODEL --request REQ`)."""
    p = subprocess.run([rtml_binary(), "run", model, "--request", request_path], capture_output=True, timeout=120)
    if p.returncode != 0:
        raise ServerError("rtml run %s failed (%d): %s" % (model, p.returncode, p.stderr.decode()[-2000:]))
    return json.loads(p.stdout.decode())


def flatten(data):
    out = []

    def walk(x):
        if isinstance(x, list):
            for y in x:
                walk(y)
        else:
            out.append(x)
    walk(data)
    return out


def numbers_close(a, b, tol=1e-6):
    """Equal JSON values: exact for strings/ints/bools, floats within tol
    (absolute or relative); NaN/Infinity travel as strings and compare exactly."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if a == b:
            return True
        return abs(a - b) <= tol * max(1.0, abs(a), abs(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(numbers_close(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(numbers_close(x, y, tol) for x, y in zip(a, b))
    return a == b


def fnv1a64(text):
    """The route hash documented in docs/api.md (64-bit FNV-1a)."""
    h = 14695981039346656037
    for byte in text.encode("utf-8"):
        h ^= byte
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def raw_exchange(port, payload, wait=3.0, chunks=(), pause=0.0):
    """Sends raw bytes on a fresh socket and reads until the server closes it
    (or `wait` seconds pass). Returns (bytes received, closed_by_server,
    seconds until the server's first byte or close)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    t0 = time.monotonic()
    first = None
    data = b""
    closed = False
    try:
        try:
            if payload:
                s.sendall(payload)
            for c in chunks:
                time.sleep(pause)
                s.sendall(c)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection; read what it sent
        s.settimeout(wait)
        while True:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if first is None:
                first = time.monotonic() - t0
            if not d:
                closed = True
                break
            data += d
    finally:
        s.close()
    return data, closed, first


def parse_raw_response(data):
    """(status, headers dict, body bytes) of the first HTTP response in data."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", len(body)))
    return status, headers, body[:n]
