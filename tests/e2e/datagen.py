#!/usr/bin/python3
"""Deterministic web-store experience-event stream with its ground truth.

Standard library only. The stream is what a web shop's tag would send in
XDM style: page views, product views, add-to-cart, purchases (with
commerce.order.priceTotal), a device enum, product.category, and an
identityMap per event:

  * every event carries the person's ECID of the device it came from;
  * logged-in events also carry Email (and sometimes Phone / CRMID), so one
    person's namespaces are linked across events, and people with several
    ECIDs (several browsers/devices) are linked through the shared email.

Timestamps lie within the last 6 days (milliseconds, unique across the
stream), sorted but with a fraction of events moved later in the stream by
up to 2 minutes of event time (out of order, within the server's lateness
bound). No timestamp is within `margin_ms` of a window boundary
(now - W for W in `windows`), so profile values do not depend on the few
seconds between generating and querying.

Mixed in: a controlled number of invalid records (each invalid for exactly
one reason; see INVALID_KINDS) and duplicates (an earlier valid record
repeated byte for byte, same _id, later in the stream).

    from datagen import generate, event_schema
    g = generate(100_000, seed=7)
    g.lines            # NDJSON lines (str, no newline)
    g.truth            # counts: records, valid_distinct, duplicates, invalid, accepted, by_event_type, ...
                       # ("accepted" = valid_distinct + duplicates: the server counts a duplicate as accepted)
    g.valid_events     # the distinct valid records (dicts), in stream order
    g.invalid          # {line index: kind}

    /usr/bin/python3 tests/e2e/datagen.py --events 100000 --seed 7 --out events.ndjson   # prints the truth as JSON
    /usr/bin/python3 tests/e2e/datagen.py --schema    # the schema for PUT /v1/schemas
"""

import argparse
import json
import random
import sys
import time
from datetime import datetime, timezone

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000

EVENT_TYPES = [  # (eventType, share of valid events)
    ("web.webpagedetails.pageViews", 0.52),
    ("commerce.productViews", 0.25),
    ("commerce.productListAdds", 0.12),
    ("commerce.purchases", 0.06),
    ("web.webinteraction.linkClicks", 0.05),
]
DEVICES = ["mobile", "desktop", "tablet"]
CATEGORIES = ["shoes", "shirts", "pants", "jackets", "hats", "bags", "socks", "watches", "sunglasses", "belts",
              "scarves", "gloves"]
BROWSERS = ["Chrome", "Firefox", "Safari", "Edge"]
OSES = {"mobile": ["Android 14", "iOS 17.2"], "tablet": ["iPadOS 17.2", "Android 13"],
        "desktop": ["Windows 11", "macOS 14.2", "Ubuntu 22.04"]}
REFERRERS = ["https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/",
             "https://www.facebook.com/", "https://news.example.org/deals"]
PAGES = ["home", "search", "category", "cart", "checkout", "account", "help", "stores"]

# Each invalid record is invalid for exactly one of these reasons; `path`
# is what the server's error message should name.
INVALID_KINDS = {
    "wrong_type": "/commerce/order/priceTotal",     # "12.50" (string) for a number
    "missing_eventType": "eventType",
    "missing_id": "_id",
    "null_value": "/device",                        # "device": null
    "unknown_field_top": "trackingPixel",           # a field the (closed) schema does not have
    "unknown_field_nested": "discountCode",         # commerce.order.discountCode
    "future_timestamp": "timestamp",                # one day ahead
    "bad_timestamp": "timestamp",                   # not RFC 3339
    "bad_enum": "/device",                          # "smartwatch"
    "negative_price": "/commerce/order/priceTotal",  # minimum 0
    "fraction_for_long": "/quantity",               # 1.5 for a long
    "bad_identity": "identityMap",                  # id is a number
    "malformed_json": "malformed JSON",             # a truncated line
}


def event_schema(with_note=True):
    """The experience-event schema the generated records conform to."""
    props = {
        "device": {"type": "enum", "enum": DEVICES},
        "environment": {"type": "object", "properties": {
            "browserDetails": {"type": "object", "properties": {
                "name": {"type": "string", "maxLength": 64},
                "version": {"type": "string", "maxLength": 64}}},
            "operatingSystem": {"type": "string", "maxLength": 64},
            "ipV4": {"type": "string", "format": "ipv4"}}},
        "web": {"type": "object", "properties": {
            "webPageDetails": {"type": "object", "properties": {
                "name": {"type": "string", "maxLength": 256},
                "URL": {"type": "string", "format": "uri"}}},
            "webReferrer": {"type": "object", "properties": {
                "URL": {"type": "string", "format": "uri"}}}}},
        "product": {"type": "object", "properties": {
            "SKU": {"type": "string", "pattern": "^SKU-[0-9]{5}$"},
            "name": {"type": "string", "minLength": 1, "maxLength": 128},
            "category": {"type": "string"},
            "price": {"type": "number", "minimum": 0}}},
        "commerce": {"type": "object", "properties": {
            "order": {"type": "object", "properties": {
                "priceTotal": {"type": "number", "minimum": 0},
                "currencyCode": {"type": "string", "pattern": "^[A-Z]{3}$"},
                "purchaseID": {"type": "string"}}},
            "productViews": {"type": "object", "properties": {"value": {"type": "integer", "minimum": 0}}},
            "productListAdds": {"type": "object", "properties": {"value": {"type": "integer", "minimum": 0}}},
            "purchases": {"type": "object", "properties": {"value": {"type": "integer", "minimum": 0}}}}},
        "quantity": {"type": "long", "minimum": 1},
        "sessionId": {"type": "string", "format": "uuid"},
        "userAgent": {"type": "string", "maxLength": 1024},
        "loggedIn": {"type": "boolean"},
    }
    if with_note:
        # No maxLength: a 1 MB note is valid. `context` accepts anything.
        props["note"] = {"type": "string"}
        props["context"] = {"type": "object", "additionalProperties": True}
    return {"class": "experience-event", "properties": props}


def rfc3339(ms):
    dt = datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class Person:
    __slots__ = ("n", "ecids", "email", "phone", "crmid", "login_rate", "device_of")

    def identity_map(self, ecid_index, logged_in, rng):
        m = {"ECID": [{"id": self.ecids[ecid_index], "primary": True}]}
        if logged_in and self.email:
            m["Email"] = [{"id": self.email}]
            if self.phone and rng.random() < 0.5:
                m["Phone"] = [{"id": self.phone}]
            if self.crmid and rng.random() < 0.7:
                m["CRMID"] = [{"id": self.crmid}]
        return m


def make_people(rng, n_people, tag):
    people = []
    for n in range(n_people):
        p = Person()
        p.n = n
        r = rng.random()
        n_ecids = 1 if r < 0.7 else (2 if r < 0.9 else 3)
        p.ecids = ["%038d" % rng.randrange(10 ** 37, 10 ** 38) for _ in range(n_ecids)]
        known = n_ecids > 1 or rng.random() < 0.55  # several ECIDs are only linked through an email
        p.email = "%s.p%d@example.com" % (tag, n) if known else None
        p.phone = ("+1555%07d" % rng.randrange(10 ** 7)) if known and rng.random() < 0.25 else None
        p.crmid = ("CRM%s%06d" % (tag.upper(), n)) if known and rng.random() < 0.35 else None
        p.login_rate = 0.0 if not known else rng.choice([0.15, 0.4, 0.7])
        p.device_of = [rng.choice(DEVICES) for _ in range(n_ecids)]
        people.append(p)
    return people


def _pick(rng, weighted):
    r = rng.random()
    acc = 0.0
    for value, w in weighted:
        acc += w
        if r < acc:
            return value
    return weighted[-1][0]


def make_event(rng, eid, ts_ms, person, event_type=None):
    """One valid record (dict) of ~500 bytes."""
    et = event_type or _pick(rng, EVENT_TYPES)
    k = rng.randrange(len(person.ecids))
    device = person.device_of[k]
    logged_in = rng.random() < person.login_rate
    browser = BROWSERS[(person.n + k) % len(BROWSERS)]
    ev = {
        "_id": eid,
        "timestamp": rfc3339(ts_ms),
        "eventType": et,
        "identityMap": person.identity_map(k, logged_in, rng),
        "device": device,
        "environment": {"browserDetails": {"name": browser},
                        "operatingSystem": OSES[device][(person.n + k) % len(OSES[device])]},
        "sessionId": "%08x-%04x-4%03x-a%03x-%012x" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12),
                                                     rng.getrandbits(12), rng.getrandbits(48)),
        "loggedIn": logged_in,
    }
    page = rng.choice(PAGES)
    if et in ("commerce.productViews", "commerce.productListAdds", "commerce.purchases"):
        sku = rng.randrange(100000)
        cat = CATEGORIES[(sku * 7 + person.n) % len(CATEGORIES)] if rng.random() < 0.6 else rng.choice(CATEGORIES)
        price = rng.randrange(199, 49999) / 100.0
        ev["product"] = {"SKU": "SKU-%05d" % sku, "name": "item %d" % sku,
                         "category": cat, "price": price}
        page = "product"
        if et == "commerce.productViews":
            ev["commerce"] = {"productViews": {"value": 1}}
        elif et == "commerce.productListAdds":
            ev["commerce"] = {"productListAdds": {"value": 1}}
            ev["quantity"] = rng.randrange(1, 4)
        else:
            qty = rng.randrange(1, 4)
            ev["quantity"] = qty
            ev["commerce"] = {"purchases": {"value": 1},
                              "order": {"priceTotal": round(price * qty + rng.randrange(0, 1500) / 100.0, 2),
                                        "currencyCode": "USD", "purchaseID": "o-%s" % eid}}
            page = "checkout-confirmation"
    ev["web"] = {"webPageDetails": {"name": page, "URL": "https://shop.example.com/%s" % page}}
    if rng.random() < 0.3:
        ev["web"]["webReferrer"] = {"URL": rng.choice(REFERRERS)}
    return ev


def _invalidate(rng, ev, kind, now_ms):
    """Makes a valid record invalid for exactly one reason; returns the NDJSON line."""
    ev = json.loads(dumps(ev))
    if kind == "wrong_type":
        ev.setdefault("commerce", {}).setdefault("order", {})["priceTotal"] = "12.50"
    elif kind == "missing_eventType":
        del ev["eventType"]
    elif kind == "missing_id":
        del ev["_id"]
    elif kind == "null_value":
        ev["device"] = None
    elif kind == "unknown_field_top":
        ev["trackingPixel"] = "px-%d" % rng.randrange(1000)
    elif kind == "unknown_field_nested":
        ev.setdefault("commerce", {}).setdefault("order", {})["discountCode"] = "SAVE10"
    elif kind == "future_timestamp":
        ev["timestamp"] = rfc3339(now_ms + DAY_MS + rng.randrange(HOUR_MS))
    elif kind == "bad_timestamp":
        ev["timestamp"] = rng.choice(["yesterday", "2024-13-45T99:00:00Z", "2024-06-01 10:00:00", "1717236000"])
    elif kind == "bad_enum":
        ev["device"] = "smartwatch"
    elif kind == "negative_price":
        ev.setdefault("commerce", {}).setdefault("order", {})["priceTotal"] = -5.25
    elif kind == "fraction_for_long":
        ev["quantity"] = 1.5
    elif kind == "bad_identity":
        ev["identityMap"]["ECID"][0]["id"] = 12345
    elif kind == "malformed_json":
        text = dumps(ev)
        return text[: rng.randrange(10, len(text) - 1)]  # a proper prefix of an object is never valid JSON
    else:
        raise ValueError(kind)
    return dumps(ev)


class Generated:
    def __init__(self):
        self.lines = []         # NDJSON lines, no trailing newline
        self.valid_events = []  # distinct valid records, in stream order
        self.invalid = {}       # line index -> kind
        self.duplicate_lines = set()  # line indices that repeat an earlier valid record
        self.ids = []           # _id of every line (None when it has none)
        self.truth = {}
        self.people = []

    def write(self, path, start=0, stop=None):
        with open(path, "w", encoding="utf-8") as f:
            for line in self.lines[start:stop]:
                f.write(line)
                f.write("\n")

    def ndjson(self, start=0, stop=None):
        return ("\n".join(self.lines[start:stop]) + "\n").encode("utf-8")


def _timestamps(rng, n, now_ms, windows, margin_ms, span_ms):
    forbidden = [(now_ms - w - margin_ms, now_ms - w + margin_ms) for w in windows]
    lo, hi = now_ms - span_ms, now_ms - 5000
    out = set()
    while len(out) < n:
        t = rng.randrange(lo, hi)
        if any(a <= t <= b for a, b in forbidden):
            continue
        out.add(t)
    return sorted(out)


def generate(n_records, seed=1, now_ms=None, invalid_fraction=0.02, duplicate_fraction=0.01, out_of_order_fraction=0.02,
             people=None, id_prefix=None, windows=(30 * MINUTE_MS, HOUR_MS, 24 * HOUR_MS), margin_ms=10 * MINUTE_MS,
             span_ms=6 * DAY_MS):
    """n_records lines: valid distinct events + duplicates + invalid records."""
    rng = random.Random(seed)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    id_prefix = id_prefix or "ev%d" % seed
    n_people = people or max(10, n_records // 30)
    g = Generated()
    g.people = make_people(rng, n_people, "s%d" % seed)
    n_invalid = int(round(n_records * invalid_fraction))
    n_dup = int(round(n_records * duplicate_fraction))
    n_valid = n_records - n_invalid - n_dup
    times = _timestamps(rng, n_valid + n_invalid, now_ms, windows, margin_ms, span_ms)
    # Busy people and quiet ones (Zipf-like weights).
    weights = [1.0 / (1 + (i % 97)) ** 0.6 for i in range(n_people)]
    owners = rng.choices(g.people, weights=weights, k=n_valid + n_invalid)
    base = []  # (ts, event dict, invalid kind or None)
    kinds = list(INVALID_KINDS)
    invalid_slots = set(rng.sample(range(n_valid + n_invalid), n_invalid))
    k = 0
    for i, (ts, person) in enumerate(zip(times, owners)):
        et = "commerce.purchases" if (i in invalid_slots and kinds[k % len(kinds)] in
                                      ("wrong_type", "negative_price", "unknown_field_nested")) else None
        ev = make_event(rng, "%s-%07d" % (id_prefix, i), ts, person, et)
        if i in invalid_slots:
            base.append((ts, ev, kinds[k % len(kinds)]))
            k += 1
        else:
            base.append((ts, ev, None))
    # Out of order: move some events later in the stream, by at most 2 minutes of event time.
    n_move = int(len(base) * out_of_order_fraction)
    for _ in range(n_move):
        i = rng.randrange(len(base) - 1)
        j = i
        while j + 1 < len(base) and base[j + 1][0] - base[i][0] < 2 * MINUTE_MS and j - i < 40:
            j += 1
        if j > i:
            item = base.pop(i)
            base.insert(j, item)
    # Lines, then duplicates spliced in after their original.
    items = []
    for ts, ev, kind in base:
        line = _invalidate(rng, ev, kind, now_ms) if kind else dumps(ev)
        items.append([line, ev.get("_id"), kind, ev])
    valid_positions = [i for i, it in enumerate(items) if it[2] is None]
    dups = []
    for _ in range(n_dup):
        src = rng.choice(valid_positions)
        dst = min(len(items), src + 1 + rng.randrange(3000))  # same batch or a later one
        dups.append((dst, src))
    # Insert from the back so earlier positions stay valid.
    for dst, src in sorted(dups, reverse=True):
        line, eid, _, ev = items[src]
        items.insert(dst, [line, eid, "dup", ev])
    seen = set()
    by_type = {}
    for idx, (line, eid, kind, ev) in enumerate(items):
        g.lines.append(line)
        g.ids.append(eid)
        if kind == "dup":
            g.duplicate_lines.add(idx)
        elif kind is not None:
            g.invalid[idx] = kind
            continue
        if eid in seen:
            continue
        seen.add(eid)
        g.valid_events.append(ev)
        by_type[ev["eventType"]] = by_type.get(ev["eventType"], 0) + 1
    # Every duplicate line follows its original, so this is the count the server should report.
    assert len(g.valid_events) == n_valid and len(g.duplicate_lines) == n_dup, (len(g.valid_events), n_valid)
    sizes = [len(line) for i, line in enumerate(g.lines) if i not in g.invalid]
    kinds_count = {}
    for kind in g.invalid.values():
        kinds_count[kind] = kinds_count.get(kind, 0) + 1
    g.truth = {
        "seed": seed,
        "now_ms": now_ms,
        "records": len(g.lines),
        "valid_distinct": n_valid,
        "duplicates": n_dup,
        "invalid": n_invalid,
        "accepted": n_valid + n_dup,  # the server counts duplicates among accepted records
        "by_event_type": dict(sorted(by_type.items())),
        "invalid_kinds": dict(sorted(kinds_count.items())),
        "people": n_people,
        "avg_bytes": round(sum(sizes) / max(1, len(sizes)), 1),
    }
    return g


def unique_events(n, seed, id_prefix, now_ms=None, people=50):
    """n valid records with unique ids (no invalid, no duplicates): for load and crash tests."""
    rng = random.Random(seed)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    ppl = make_people(rng, people, "u%d" % seed)
    return [make_event(rng, "%s-%d" % (id_prefix, i), now_ms - rng.randrange(5000, 5 * DAY_MS), rng.choice(ppl))
            for i in range(n)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000, help="records (lines) to write")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--now-ms", type=int, default=None, help="reference time (default: now)")
    ap.add_argument("--invalid-fraction", type=float, default=0.02)
    ap.add_argument("--duplicate-fraction", type=float, default=0.01)
    ap.add_argument("--out", help="NDJSON file to write")
    ap.add_argument("--schema", action="store_true", help="print the schema (PUT /v1/schemas body) and exit")
    a = ap.parse_args()
    if a.schema:
        print(json.dumps(event_schema()))
        return 0
    g = generate(a.events, seed=a.seed, now_ms=a.now_ms, invalid_fraction=a.invalid_fraction,
                 duplicate_fraction=a.duplicate_fraction)
    if a.out:
        g.write(a.out)
    print(json.dumps(g.truth, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
