#!/usr/bin/python3
"""Loads the web-store demo into a running rtml server (sandbox "prod").

    /usr/bin/python3 tools/demo_load.py --url http://127.0.0.1:8080 --key-file rtml-data/admin.key
                                        [--customers 3000] [--seed 1]

Uses tools/demo_data.py to generate the data (default `now`: the current hour)
and loads, over HTTP on the loopback interface only:

 1. schemas `web` and `customer_snapshot`, datasets `events` and `customers`,
    the web events (NDJSON chunks) and the customer snapshot rows;
 2. computed attributes over the events: `product_views_7d`, `purchases_30d`,
    `spend_30d`;
 3. a gbdt training run on `customers` (label `churned`, demo_data's feature
    pipeline), deployed as the pipeline service `churn`;
 4. activities `homepage-hero` (bandit over context.device and
    computed.product_views_7d, goal commerce.purchase) and `retention-offer`
    (50/50 split for customers without a purchase in 30 days);

then prints a "try it" block of curl calls (predict, decision, feedback,
report). Idempotent: when the dataset `customers` already exists and the
service and activities are there too, nothing is loaded and only the block is
printed (an interrupted load is resumed: ingestion skips records whose `_id`
is stored). The key comes from --key-file, or from RTML_ADMIN_KEY when no file
is given. Every failed call stops with one line naming the step and the
server's error (exit 1). Standard library only.
"""

import argparse
import http.client
import ipaddress
import json
import os
import shlex
import signal
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_data  # noqa: E402

SANDBOX = "prod"
EVENTS_DATASET = "events"
CUSTOMERS_DATASET = "customers"
SERVICE = "churn"
CHUNK_LINES = 5000

COMPUTED = {
    "product_views_7d": {"dataset": EVENTS_DATASET, "eventType": "commerce.productView",
                         "function": "count", "window": "7d"},
    "purchases_30d": {"dataset": EVENTS_DATASET, "eventType": "commerce.purchase",
                      "function": "count", "window": "30d"},
    "spend_30d": {"dataset": EVENTS_DATASET, "eventType": "commerce.purchase",
                  "function": "sum", "field": "commerce.order.priceTotal", "window": "30d"},
}

ACTIVITIES = {
    "homepage-hero": {
        "description": "rtml demo: the home page hero banner, learned per device and browsing intensity",
        "experiences": [
            {"id": "hero-new-arrivals",
             "content": {"title": "New arrivals", "image": "/img/hero/new-arrivals.jpg", "link": "/new"}},
            {"id": "hero-free-shipping",
             "content": {"title": "Free shipping over $50", "image": "/img/hero/shipping.jpg", "link": "/deals"}},
            {"id": "hero-summer-sale",
             "content": {"title": "Summer sale: 20% off", "image": "/img/hero/sale.jpg", "link": "/sale"}},
        ],
        "strategy": {"type": "bandit", "explore": "epsilon-greedy", "epsilon": 0.1,
                     "features": ["context.device", "computed.product_views_7d"]},
        "goal": "commerce.purchase",
        "reward_window": "1h",
        "priority": 10,
    },
    "retention-offer": {
        "description": "rtml demo: a discount for customers without a purchase in 30 days (A/B vs. no offer)",
        "audience": {"computed.purchases_30d": 0},
        "experiences": [
            {"id": "offer-10pct", "content": {"message": "We miss you: 10% off your next order", "code": "BACK10"}},
            {"id": "control", "content": {}},
        ],
        "strategy": {"type": "split", "weights": [0.5, 0.5]},
        "goal": "commerce.purchase",
        "reward_window": "24h",
    },
}

TRAINING_PARAMS = {"num_round": 200, "eta": 0.1, "max_depth": 4}


class LoadError(Exception):
    pass


class Client:
    """Keep-alive JSON client for one loopback server; every error names its step."""

    def __init__(self, url, key):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http" or not u.hostname:
            raise LoadError("--url: expected http://127.0.0.1:PORT, got %r" % url)
        host = u.hostname
        if host != "localhost":
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                raise LoadError("--url: %r is not a loopback address (demo_load talks to 127.0.0.1 only)" % host)
        self.url = url.rstrip("/")
        self.host, self.port = host, u.port or 80
        self.headers = {"Authorization": "Bearer " + key, "x-sandbox-name": SANDBOX}
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)

    def request(self, step, method, path, body=None, ctype="application/json", ok=(200, 201, 202),
                retry=True, allow=()):
        """Returns (status, parsed JSON). Statuses in `allow` are returned too; anything else stops."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":")).encode()
        elif isinstance(body, str):
            body = body.encode()
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = ctype
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self._connect()
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                status = resp.status
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                self.conn.close()
                self.conn = None
                if attempt == 0 and retry:
                    continue  # the server closed an idle keep-alive connection: once more
                raise LoadError("%s: %s %s%s: connection lost (%s)" % (step, method, self.url, path, e))
            except OSError as e:
                if self.conn is not None:
                    self.conn.close()
                    self.conn = None
                raise LoadError("%s: cannot reach %s (%s)" % (step, self.url, e.strerror or e))
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        if status in ok or status in allow:
            return status, parsed
        if isinstance(parsed, dict) and "error" in parsed:
            msg = "HTTP %d %s: %s" % (status, parsed.get("code", ""), parsed["error"])
            details = parsed.get("details")
            if details:
                msg += " (%s)" % json.dumps(details)[:300]
        else:
            msg = "HTTP %d: %s" % (status, data[:300].decode("utf-8", "replace").strip())
        raise LoadError("%s: %s %s: %s" % (step, method, path, msg))


class Progress:
    """One status line on stderr: rewritten in place on a terminal, printed once when done otherwise."""

    def __init__(self):
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def update(self, text, force=False):
        if not self.tty:
            return
        now = time.monotonic()
        if force or now - self.last >= 0.1:
            self.last = now
            sys.stderr.write("\r\033[K" + text)
            sys.stderr.flush()

    def done(self, text):
        sys.stderr.write(("\r\033[K" if self.tty else "") + text + "\n")
        sys.stderr.flush()


def log(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def exists(client, step, path):
    status, _ = client.request(step, "GET", path, ok=(200,), allow=(404,))
    return status == 200


def ingest(client, step, dataset, lines, total, progress, label):
    path = "/v1/datasets/%s/records" % dataset
    accepted = duplicates = done = 0
    t0 = time.monotonic()
    chunk = []

    def send():
        nonlocal accepted, duplicates, done
        body = ("\n".join(chunk) + "\n").encode()
        _, r = client.request(step, "POST", path, body, ctype="application/x-ndjson", ok=(200,))
        if r.get("rejected"):
            first = r["rejected"][0]
            raise LoadError("%s: POST %s: %d of %d records rejected; first (record %d of this batch): %s"
                            % (step, path, len(r["rejected"]), len(chunk), first.get("index", -1),
                               "; ".join(first.get("errors", []))))
        accepted += r.get("accepted", 0)
        duplicates += r.get("duplicates", 0)
        done += len(chunk)
        chunk.clear()
        rate = done / max(1e-6, time.monotonic() - t0)
        progress.update("   %s: %d/%d (%d%%, %.0f/s)" % (label, done, total, 100 * done // max(1, total), rate))

    for line in lines:
        chunk.append(line)
        if len(chunk) >= CHUNK_LINES:
            send()
    if chunk:
        send()
    secs = time.monotonic() - t0
    note = " (%d were already stored)" % duplicates if duplicates else ""
    progress.done("   %s: %d records in %.1f s%s" % (label, accepted, secs, note))


def train(client, pipeline, progress):
    step = "step 3 (training run)"
    body = {"model": SERVICE, "dataset": CUSTOMERS_DATASET, "label": "churned", "pipeline": pipeline,
            "algorithm": "gbdt", "params": TRAINING_PARAMS, "validation": {"fraction": 0.2, "seed": 1}}
    _, r = client.request(step, "POST", "/v1/training-runs", body, ok=(200, 201, 202), retry=False)
    run_id = r["id"]
    t0 = time.monotonic()
    while True:
        _, run = client.request(step, "GET", "/v1/training-runs/" + run_id, ok=(200,))
        status = run.get("status")
        progress.update("   training %s: %s %d%%" % (run_id, status, round(100 * float(run.get("progress") or 0))))
        if status == "succeeded":
            break
        if status in ("failed", "cancelled"):
            raise LoadError("%s: run %s %s: %s" % (step, run_id, status, run.get("error", "no reason given")))
        if time.monotonic() - t0 > 600:
            raise LoadError("%s: run %s still %s after 600 s" % (step, run_id, status))
        time.sleep(0.2)
    m = run.get("metrics", {})
    progress.done("   training %s: gbdt on %s rows, validation AUC %.3f, best iteration %s (%.1f s)"
                  % (run_id, run.get("rows"), float(m.get("auc") or 0), m.get("best_iteration"), time.monotonic() - t0))
    return run


def sample_customer(client):
    """A real customer record: the first (by id) churner who viewed products and visited in the last 6 days
    (so their computed attributes are not all 0)."""
    step = "try-it (sample customer)"
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 6 * 86400))
    sql = ("SELECT _raw FROM %s WHERE churned = 1 AND avg_price IS NOT NULL AND last_visit > '%s' "
           "ORDER BY _id LIMIT 1" % (CUSTOMERS_DATASET, since))
    _, r = client.request(step, "POST", "/v1/query", {"sql": sql}, ok=(200,))
    if not r.get("rows"):
        sql = "SELECT _raw FROM %s ORDER BY _id LIMIT 1" % CUSTOMERS_DATASET
        _, r = client.request(step, "POST", "/v1/query", {"sql": sql}, ok=(200,))
    if not r.get("rows"):
        raise LoadError("%s: dataset %r has no rows" % (step, CUSTOMERS_DATASET))
    raw = r["rows"][0][0]
    return json.loads(raw) if isinstance(raw, str) else raw


def predict_instance(record, pipeline):
    names = [i["name"] for i in pipeline["inputs"]]
    inst = {k: record[k] for k in names if k in record}
    inst["identity"] = record["identity"]
    return inst


def load(client, args, progress):
    t_start = time.monotonic()
    pipeline = demo_data.pipeline_definition()
    if exists(client, "check (dataset customers)", "/v1/datasets/" + CUSTOMERS_DATASET):
        wanted = [("service " + SERVICE, "/v1/services/" + SERVICE)] + \
            [("activity " + a, "/v1/activities/" + a) for a in ACTIVITIES]
        missing = [what for what, path in wanted if not exists(client, "check (%s)" % what, path)]
        if not missing:
            log("== demo data: already loaded in sandbox %r (dataset %r exists); nothing to do"
                % (SANDBOX, CUSTOMERS_DATASET))
            return pipeline, None
        log("== demo data: an earlier load was interrupted (missing %s); resuming" % ", ".join(missing))
    else:
        log("== demo data: loading a web store into sandbox %r (%d customers, seed %d)"
            % (SANDBOX, args.customers, args.seed))

    d = demo_data.generate(args.customers, seed=args.seed)
    t = d.truth

    # 1. schemas, datasets, data
    step = "step 1 (schemas and datasets)"
    client.request(step, "PUT", "/v1/schemas/web", d.schemas["web"], ok=(200, 201))
    client.request(step, "PUT", "/v1/schemas/customer_snapshot", d.schemas["customer_snapshot"], ok=(200, 201))
    client.request(step, "PUT", "/v1/datasets/" + EVENTS_DATASET, {"schema": "web"}, ok=(200, 201))
    client.request(step, "PUT", "/v1/datasets/" + CUSTOMERS_DATASET, {"schema": "customer_snapshot"}, ok=(200, 201))

    # 2. computed attributes (defined before the events arrive, so ingestion maintains them)
    step = "step 2 (computed attributes)"
    for name, body in COMPUTED.items():
        client.request(step, "PUT", "/v1/computed-attributes/" + name, body, ok=(200, 201))
    log("   computed attributes: " + ", ".join(COMPUTED))

    ingest(client, "step 1 (ingest web events)", EVENTS_DATASET, d.event_lines(), t["events"], progress,
           "web events")
    ingest(client, "step 1 (ingest customer snapshot)", CUSTOMERS_DATASET, d.customer_lines(), t["customers"],
           progress, "customer snapshot")

    # 3. train and deploy the churn model
    run = None
    if not exists(client, "step 3 (check service)", "/v1/services/" + SERVICE):
        run = train(client, d.pipeline, progress)
        step = "step 3 (deploy service %s)" % SERVICE
        _, r = client.request(step, "PUT", "/v1/services/" + SERVICE, {"training_run": run["id"]}, ok=(200, 201))
        log("   service %r: revision %s %s" % (SERVICE, r.get("revision"), r.get("status", "")))

    # 4. activities
    step = "step 4 (activities)"
    for name, body in ACTIVITIES.items():
        client.request(step + " " + name, "PUT", "/v1/activities/" + name, body, ok=(200, 201))
    _, listed = client.request(step, "GET", "/v1/activities", ok=(200,))
    names = {a.get("name") for a in (listed or {}).get("activities", [])}
    for name in ACTIVITIES:
        if name not in names:
            raise LoadError("%s: activity %r was accepted but is not listed by GET /v1/activities" % (step, name))
    log("   activities: homepage-hero (bandit, 3 heroes), retention-offer (50/50 split, no purchase in 30 days)")
    log("== demo data: loaded in %.1f s (%d customers, %d web events, label rate %.2f, best possible AUC %.3f)"
        % (time.monotonic() - t_start, t["customers"], t["events"], t["label_rate"], t["bayes_auc"]))
    return pipeline, run


def try_it(client, args, pipeline):
    record = sample_customer(client)
    inst = predict_instance(record, pipeline)
    # Check the service answers for this record before advertising the call.
    _, pred = client.request("check (predict %s)" % SERVICE, "POST", "/v1/services/%s/predict" % SERVICE,
                             {"instances": [inst]}, ok=(200,))
    p = (pred.get("predictions") or [{}])[0].get("probability")
    identity = record["identity"]
    url = client.url
    if args.key_file:
        auth = '-H "Authorization: Bearer $(cat %s)"' % shlex.quote(args.key_file)
    else:
        auth = '-H "Authorization: Bearer $RTML_ADMIN_KEY"'

    def js(obj):
        return shlex.quote(json.dumps(obj, separators=(",", ":")))

    decision = {"activity": "homepage-hero", "identity": identity, "context": {"device": inst.get("device", "mobile").lower()}}
    lines = [
        "== Try the demo (sandbox %s; customer %s, churned, model says p=%s)" % (SANDBOX, record["customer_id"],
                                                                                "%.3f" % p if p is not None else "?"),
        "   Churn score from raw fields (service %r: demo pipeline + gbdt trained in rtml):" % SERVICE,
        "     curl -s %s %s/v1/services/%s/predict \\" % (auth, url, SERVICE),
        "       -d %s" % js({"instances": [inst]}),
        "   Profile with computed attributes (product_views_7d, purchases_30d, spend_30d):",
        "     curl -s %s %s/v1/profiles/%s" % (auth, url, identity.replace(":", "/", 1)),
        "   Decide their home page hero (bandit), keeping the decision id in $D:",
        "     D=$(curl -s %s %s/v1/decisions \\" % (auth, url),
        "       -d %s | tee /dev/stderr | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"decisionId\"])')"
        % js(decision),
        "   They bought something (reward 1; the bandit learns from it within a second):",
        "     curl -s %s %s/v1/feedback -d '{\"decisionId\":\"'$D'\",\"event\":\"commerce.purchase\"}'" % (auth, url),
        "   Report (per hero: decisions, reward rate with 95% interval, off-policy estimate):",
        "     curl -s %s %s/v1/activities/homepage-hero/report" % (auth, url),
    ]
    print("\n".join(lines), flush=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080", help="server URL on the loopback interface")
    ap.add_argument("--key-file", help="file holding an admin key (default: $RTML_ADMIN_KEY)")
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started in the background by a script
        signal.signal(signal.SIGINT, _interrupt)
    if args.customers < 10:
        ap.error("--customers must be at least 10")
    try:
        if args.key_file:
            try:
                with open(args.key_file, encoding="utf-8") as f:
                    key = f.read().strip()
            except OSError as e:
                raise LoadError("--key-file: cannot read %s (%s)" % (args.key_file, e.strerror))
        else:
            key = os.environ.get("RTML_ADMIN_KEY", "").strip()
            if not key:
                raise LoadError("no key: pass --key-file or set RTML_ADMIN_KEY")
        client = Client(args.url, key)
        progress = Progress()
        pipeline, _ = load(client, args, progress)
        try_it(client, args, pipeline)
    except LoadError as e:
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K")
        sys.stderr.write("demo_load: %s\n" % e)
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(("\r\033[K" if sys.stderr.isatty() else "\n") + "demo_load: interrupted\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
