#!/usr/bin/python3
"""Synthetic web-store demo data with a churn label of known difficulty.

Standard library only. For each customer the generator simulates 30 days of
web-store sessions (page views, product views, add-to-cart, purchases), writes
the resulting experience events, a one-row-per-customer snapshot computed from
those events, and a churn label drawn from a logistic latent model over the
snapshot's own columns. Because the label depends on observed columns only,
the generator knows the Bayes-optimal churn probability of every customer and
hence the best AUC any model can reach.

    /usr/bin/python3 tools/demo_data.py OUTDIR [--customers 20000] [--seed 1] [--now 2024-06-01T12:00:00Z]

writes OUTDIR/schemas/{web,customer_snapshot}.json (PUT /v1/schemas bodies),
events.ndjson, customers.ndjson, truth.json, pipeline.json and README.txt.

    import demo_data                                   # tools/ on sys.path
    d = demo_data.generate(2000, seed=1, now="2024-06-01T12:00:00Z")
    d.customers                 # snapshot rows (dicts), customer order
    d.event_lines()             # NDJSON lines (str), time order; d.events() the same as dicts
    d.truth                     # counts, label rate, Bayes AUCs, per-customer true probability
    d.schemas, d.pipeline       # the JSON bodies
    demo_data.churn_probability(row, now)   # the latent model on one snapshot row
    d.write(outdir)

Deterministic for a given (customers, seed, now). See tools/README.md.
"""

import argparse
import bisect
import json
import math
import os
import random
import sys
import time
from datetime import datetime, timezone

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
WINDOW_DAYS = 30

DEVICES = (("mobile", 0.52), ("desktop", 0.36), ("tablet", 0.12))
# Long tail: five common countries, then rare ones (some appear a handful of times in 20k rows).
COUNTRIES = (("US", 0.38), ("GB", 0.13), ("DE", 0.11), ("FR", 0.09), ("CA", 0.08))
RARE_COUNTRIES = ("ES", "IT", "NL", "SE", "PL", "BE", "AT", "CH", "IE", "DK", "NO", "FI", "PT", "CZ", "AU",
                  "NZ", "JP", "KR", "SG", "MX", "BR", "AR", "CL", "ZA", "IN", "IL", "GR", "HU", "RO", "SK",
                  "SI", "HR", "EE", "LT", "LV", "IS", "LU", "MT", "CY")
CATEGORIES = ("shoes", "shirts", "pants", "jackets", "hats", "bags", "socks", "watches", "sunglasses", "belts",
              "scarves", "gloves")
PAGES = ("home", "search", "category", "deals", "account", "help", "stores", "cart")
EVENT_TYPES = ("web.pageView", "commerce.productView", "commerce.addToCart", "commerce.purchase")
PAGE_VIEW, PRODUCT_VIEW, ADD_TO_CART, PURCHASE = range(4)

# ---------------------------------------------------------------- the latent churn model
#
# logit = B0 + recency + frequency + overdue + device + hour + price sensitivity + cart abandons;
# churned = 1[logit + e > 0] with e ~ Logistic(0, 1), i.e. churned ~ Bernoulli(sigmoid(logit)).
# Non-linear on purpose, so trees beat a linear model on the raw columns: log-shaped recency and
# frequency, "overdue" (days since the last visit in units of the customer's usual gap between
# visits: a recency x frequency interaction), night owls (23h-4h) churning much more, and a
# saturating price-sensitivity term in discount_share x avg_price.
B0 = -4.3
RECENCY = 1.1           # x log1p(days since last_visit)
FREQUENCY = -0.5        # x log1p(visits_30d)
OVERDUE = 2.4           # x (1 - exp(-overdue / 2)), overdue = days since last_visit * (visits_30d + 0.5) / 30
DEVICE_EFFECT = {"mobile": 0.55, "desktop": -0.55, "tablet": 0.1}
PRICE_SENS = 1.45       # x tanh((discount_share * avg_price - PRICE_SENS_CENTER) / PRICE_SENS_SCALE)
PRICE_SENS_CENTER = 12.0
PRICE_SENS_SCALE = 8.0
MISSING_PRICE = 40.0    # avg_price assumed by the model when the row has none (about the median)
ABANDONS = 0.5          # x min(cart_abandons_30d, 4)


def hour_effect(hour):
    """Night owls (23h-4h) churn much more, early birds a little more, evening shoppers (18-22h) less."""
    if hour <= 4 or hour == 23:
        return 2.4
    if hour <= 7:
        return 0.35
    if 18 <= hour <= 22:
        return -0.55
    return 0.0


def churn_logit(recency_days, visits_30d, device, sessions_hour, avg_price, discount_share, cart_abandons_30d):
    recency = max(0.0, recency_days)
    overdue = recency * (visits_30d + 0.5) / WINDOW_DAYS
    price = MISSING_PRICE if avg_price is None else avg_price
    return (B0 + RECENCY * math.log1p(recency) + FREQUENCY * math.log1p(visits_30d)
            + OVERDUE * (1.0 - math.exp(-overdue / 2.0))
            + DEVICE_EFFECT[device.lower()] + hour_effect(sessions_hour)
            + PRICE_SENS * math.tanh((discount_share * price - PRICE_SENS_CENTER) / PRICE_SENS_SCALE)
            + ABANDONS * min(cart_abandons_30d, 4))


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def churn_probability(row, now):
    """The true P(churned = 1) of one snapshot row (the Bayes-optimal score), `now` as for generate()."""
    now_ms = parse_now(now)
    recency = (now_ms - parse_rfc3339_ms(row["last_visit"])) / DAY_MS
    return round(sigmoid(churn_logit(recency, row["visits_30d"], row["device"], row["sessions_hour"],
                                     row.get("avg_price"), row["discount_share"], row["cart_abandons_30d"])), 6)


# ---------------------------------------------------------------- time helpers

def parse_rfc3339_ms(text):
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(round(dt.timestamp() * 1000))


def parse_now(now):
    """None -> the current time rounded down to the hour; int -> ms since the epoch; str -> RFC 3339;
    datetime -> itself."""
    if now is None:
        return int(time.time()) // 3600 * 3600 * 1000
    if isinstance(now, bool):
        raise TypeError("now: expected RFC 3339 text, ms or datetime")
    if isinstance(now, int):
        return now
    if isinstance(now, datetime):
        return int(round((now if now.tzinfo else now.replace(tzinfo=timezone.utc)).timestamp() * 1000))
    return parse_rfc3339_ms(now)


class _Clock:
    """Fast RFC 3339 (UTC, milliseconds) for timestamps near one reference time."""

    def __init__(self):
        self._days = {}

    def format(self, ms):
        day, rest = divmod(ms, DAY_MS)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = datetime.fromtimestamp(day * 86400, tz=timezone.utc).strftime("%Y-%m-%dT")
            self._days[day] = prefix
        s, milli = divmod(rest, 1000)
        h, s = divmod(s, 3600)
        m, s = divmod(s, 60)
        return "%s%02d:%02d:%02d.%03dZ" % (prefix, h, m, s, milli)


# ---------------------------------------------------------------- schemas and pipeline

def web_schema():
    """PUT /v1/schemas/web: the store's experience events."""
    product = {"type": "object", "properties": {
        "SKU": {"type": "string", "pattern": "^SKU-[0-9]{5}$"},
        "name": {"type": "string", "minLength": 1, "maxLength": 128},
        "category": {"type": "string", "enum": list(CATEGORIES)},
        "price": {"type": "number", "minimum": 0}}}
    return {
        "class": "experience-event",
        "description": "rtml demo web store: page views, product views, add-to-cart, purchases "
                       "(eventType web.pageView, commerce.productView, commerce.addToCart, commerce.purchase)",
        "properties": {
            "device": {"type": "enum", "enum": [d for d, _ in DEVICES]},
            "sessionId": {"type": "string", "minLength": 1, "maxLength": 64},
            "web": {"type": "object", "properties": {
                "webPageDetails": {"type": "object", "properties": {
                    "name": {"type": "string", "maxLength": 256},
                    "URL": {"type": "string", "format": "uri"}}}}},
            "product": product,
            "quantity": {"type": "long", "minimum": 1},
            "commerce": {"type": "object", "properties": {
                "order": {"type": "object", "properties": {
                    "priceTotal": {"type": "number", "minimum": 0},
                    "discountAmount": {"type": "number", "minimum": 0},
                    "currencyCode": {"type": "string", "pattern": "^[A-Z]{3}$"},
                    "purchaseID": {"type": "string"}}}}},
        },
        "required": ["device", "sessionId"],
    }


SNAPSHOT_FIELDS = (  # name, schema type, Python type(s) of the value, required
    ("customer_id", "string", str, True),
    ("identity", "string", str, True),
    ("device", "string", str, True),
    ("country", "string", str, True),
    ("last_visit", "date-time", str, True),
    ("visits_30d", "integer", int, True),
    ("sessions_hour", "integer", int, True),
    ("avg_price", "number", float, False),
    ("discount_share", "number", float, True),
    ("cart_abandons_30d", "integer", int, True),
    ("churned", "integer", int, True),
)


def customer_snapshot_schema():
    """PUT /v1/schemas/customer_snapshot: one row per customer (adhoc; `_id` is implicit and set to customer_id)."""
    props = {
        "customer_id": {"type": "string", "pattern": "^C[0-9]{5,}$"},
        "identity": {"type": "string", "pattern": "^email:"},
        "device": {"type": "string", "minLength": 1, "maxLength": 32},
        "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "last_visit": {"type": "date-time"},
        "visits_30d": {"type": "integer", "minimum": 0},
        "sessions_hour": {"type": "integer", "minimum": 0, "maximum": 23},
        "avg_price": {"type": "number", "minimum": 0},
        "discount_share": {"type": "number", "minimum": 0, "maximum": 1},
        "cart_abandons_30d": {"type": "integer", "minimum": 0},
        "churned": {"type": "integer", "minimum": 0, "maximum": 1},
    }
    return {
        "class": "adhoc",
        "description": "rtml demo: customer snapshot with the churn label (avg_price missing when the "
                       "customer viewed no product in the last 30 days)",
        "properties": props,
        "required": [name for name, _, _, req in SNAPSHOT_FIELDS if req],
    }


def pipeline_definition():
    """A 10-node feature pipeline over customer_snapshot columns (docs: SPEC section 5)."""
    return {
        "inputs": [
            {"name": "device", "type": "string"},
            {"name": "country", "type": "string"},
            {"name": "last_visit", "type": "timestamp"},
            {"name": "visits_30d", "type": "number"},
            {"name": "sessions_hour", "type": "number"},
            {"name": "avg_price", "type": "number"},
            {"name": "discount_share", "type": "number"},
            {"name": "cart_abandons_30d", "type": "number"},
        ],
        "nodes": [
            {"id": "dev", "op": "lower", "inputs": ["device"]},
            {"id": "dev_oh", "op": "one_hot", "inputs": ["dev"]},
            {"id": "ctry", "op": "top_k", "inputs": ["country"], "params": {"k": 5}},
            {"id": "ctry_oh", "op": "one_hot", "inputs": ["ctry"]},
            {"id": "recency", "op": "days_since", "inputs": ["last_visit"]},
            {"id": "recency_log", "op": "log1p", "inputs": ["recency"]},
            {"id": "visits_log", "op": "log1p", "inputs": ["visits_30d"]},
            {"id": "price", "op": "fillna", "inputs": ["avg_price"], "params": {"strategy": "median"}},
            {"id": "sens", "op": "mul", "inputs": ["price", "discount_share"]},
            {"id": "features", "op": "concat",
             "inputs": ["dev_oh", "ctry_oh", "recency", "recency_log", "visits_30d", "visits_log",
                        "sessions_hour", "price", "discount_share", "sens", "cart_abandons_30d"]},
        ],
        "outputs": {"features": "features"},
    }


# ---------------------------------------------------------------- simulation

def _pick(rng, weighted):
    r = rng.random()
    acc = 0.0
    for value, w in weighted:
        acc += w
        if r < acc:
            return value
    return weighted[-1][0]


def _poisson(rng, mean):
    if mean <= 0:
        return 0
    if mean > 30:  # normal approximation, plenty for visit counts
        return max(0, int(round(rng.gauss(mean, math.sqrt(mean)))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


_RARE_WEIGHTS = [1.0 / (i + 1) ** 1.0 for i in range(len(RARE_COUNTRIES))]
_RARE_CUM = []
for _w in _RARE_WEIGHTS:
    _RARE_CUM.append((_RARE_CUM[-1] if _RARE_CUM else 0.0) + _w)


def _country(rng):
    r = rng.random()
    acc = 0.0
    for c, w in COUNTRIES:
        acc += w
        if r < acc:
            return c
    return RARE_COUNTRIES[bisect.bisect_right(_RARE_CUM, rng.random() * _RARE_CUM[-1])]


def _device_text(rng, device):
    """Inconsistent casing from different collection paths: a `lower` node fixes it."""
    r = rng.random()
    if r < 0.08:
        return device.capitalize()
    if r < 0.10:
        return device.upper()
    return device


def _preferred_hour(rng):
    r = rng.random()
    if r < 0.12:  # night owls: 22h-4h
        return int(round(rng.gauss(1.0, 1.6))) % 24
    if r < 0.50:
        return min(17, max(6, int(round(rng.gauss(12.5, 2.6)))))
    return min(23, max(17, int(round(rng.gauss(20.0, 1.4)))))


def _session_start(rng, now_ms, lo_ms, hi_ms, hour):
    """A session start in [lo_ms, hi_ms) near `hour` of day, before now - 2 h (sessions end by then)."""
    hi_ms = min(hi_ms, now_ms - 2 * HOUR_MS)
    for _ in range(20):
        t = rng.uniform(lo_ms, hi_ms)
        h = (hour + int(round(rng.gauss(0.0, 0.9)))) % 24
        ms = int(t) // DAY_MS * DAY_MS + h * HOUR_MS + rng.randrange(HOUR_MS)
        if ms >= hi_ms:
            ms -= DAY_MS
        if ms < lo_ms:
            ms += DAY_MS
        if lo_ms <= ms < hi_ms:
            return ms
    return int(rng.uniform(lo_ms, hi_ms))


class Customer:
    __slots__ = ("n", "customer_id", "email", "ecid", "device", "row", "sessions", "favorite", "logit", "p")


def _simulate_customer(rng, n, now_ms, id_width):
    c = Customer()
    c.n = n
    c.customer_id = "C%0*d" % (id_width, n)
    c.email = "c%0*d@example.com" % (id_width, n)
    c.ecid = "%038d" % rng.randrange(10 ** 37, 10 ** 38)
    device = _pick(rng, DEVICES)
    c.device = device
    device_text = _device_text(rng, device)
    country = _country(rng)
    hour = _preferred_hour(rng)
    c.favorite = rng.randrange(len(CATEGORIES))
    # Engagement: expected visits per 30 days; some customers stopped visiting `stop` days ago.
    rate = min(45.0, math.exp(rng.gauss(math.log(4.5), 0.8)))
    stop_days = rng.uniform(0.0, 60.0) if rng.random() < 0.25 else 0.0
    price_level = math.exp(rng.gauss(math.log(40.0), 0.55))
    discount_share = round(min(1.0, max(0.0, rng.betavariate(1.6, 3.4) - 0.04 * math.log(price_level / 40.0))), 3)

    window_lo = now_ms - WINDOW_DAYS * DAY_MS
    active_hi = now_ms - int(stop_days * DAY_MS)
    visits = _poisson(rng, rate * max(0.0, WINDOW_DAYS - stop_days) / WINDOW_DAYS) if active_hi > window_lo else 0
    starts = sorted(_session_start(rng, now_ms, window_lo + 1, active_hi, hour) for _ in range(visits))
    sessions = []  # per session: its events as (ts_ms, kind, price, quantity, discount, session index)
    viewed = []
    abandons = 0
    for si, t in enumerate(starts):
        events = []
        for _ in range(1 + min(12, int(rng.expovariate(1.2)))):
            events.append([PAGE_VIEW, 0.0, 0, 0.0])
        prices = []
        if rng.random() < 0.75:
            for _ in range(1 + _poisson(rng, 1.1)):
                price = round(max(1.99, price_level * rng.lognormvariate(0.0, 0.35)), 2)
                prices.append(price)
                events.insert(rng.randrange(1, len(events) + 1), [PRODUCT_VIEW, price, 0, 0.0])
        viewed.extend(prices)
        if prices and rng.random() < 0.35:
            price = rng.choice(prices)
            qty = 1 if rng.random() < 0.75 else rng.randrange(2, 4)
            events.append([ADD_TO_CART, price, qty, 0.0])
            if rng.random() < 0.5:
                discount = round(price * qty * rng.choice((0.1, 0.15, 0.2, 0.3)), 2) \
                    if rng.random() < discount_share else 0.0
                events.append([PURCHASE, price, qty, discount])
            else:
                abandons += 1
        ts = t
        timed = []
        for ev in events:
            timed.append((ts, ev[0], ev[1], ev[2], ev[3], si))
            ts += rng.randrange(4_000, 180_000)
        sessions.append(timed)

    if sessions:
        last_ms = max(session[-1][0] for session in sessions)  # sessions may overlap
    else:  # the last visit was before the window (memoryless gap after the stop, at most ~180 days)
        gap_days = max(0.0, stop_days - WINDOW_DAYS) + min(150.0, rng.expovariate(rate / WINDOW_DAYS))
        lo = now_ms - int((WINDOW_DAYS + gap_days) * DAY_MS) - DAY_MS
        last_ms = _session_start(rng, now_ms, lo, min(lo + DAY_MS, window_lo - HOUR_MS), hour)
        last_ms = min(last_ms, window_lo - HOUR_MS)
    avg_price = round(sum(viewed) / len(viewed), 2) if viewed else None

    row = {
        "_id": c.customer_id,
        "customer_id": c.customer_id,
        "identity": "email:" + c.email,
        "device": device_text,
        "country": country,
        "last_visit": None,  # filled by the caller's clock
        "visits_30d": visits,
        "sessions_hour": hour,
    }
    if avg_price is not None:
        row["avg_price"] = avg_price
    row["discount_share"] = discount_share
    row["cart_abandons_30d"] = abandons
    c.row = row
    c.sessions = sessions
    c.logit = churn_logit((now_ms - last_ms) / DAY_MS, visits, device, hour, avg_price, discount_share, abandons)
    c.p = round(sigmoid(c.logit), 6)
    return c, last_ms


# ---------------------------------------------------------------- AUC

def auc(scores, labels):
    """Mann-Whitney AUC with mid-ranks for ties."""
    order = sorted(range(len(scores)), key=scores.__getitem__)
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mid = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            if labels[order[k]]:
                rank_sum += mid
        i = j + 1
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def expected_auc(probs):
    """The AUC of the true probabilities expected over label draws given these customers:
    sum over pairs i != j of p_i (1 - p_j) [p_i > p_j] (ties 1/2), over E[#pos x #neg]."""
    ps = sorted(probs)
    total_p = sum(ps)
    total_q = len(ps) - total_p
    num = 0.0
    below_q = 0.0  # sum of (1 - p) over strictly smaller p
    i = 0
    while i < len(ps):
        j = i
        while j + 1 < len(ps) and ps[j + 1] == ps[i]:
            j += 1
        group = ps[i:j + 1]
        gp = sum(group)
        gq = len(group) - gp
        num += gp * below_q + 0.5 * (gp * gq - sum(p * (1 - p) for p in group))
        below_q += gq
        i = j + 1
    den = total_p * total_q - sum(p * (1 - p) for p in ps)
    return num / den


# ---------------------------------------------------------------- the data set

class DemoData:
    def __init__(self, n_customers, seed, now_ms):
        self.n_customers = n_customers
        self.seed = seed
        self.now_ms = now_ms
        self.customers = []     # snapshot rows
        self._people = [None]   # Customer objects, customer n at index n
        self.truth = {}
        self.schemas = {"web": web_schema(), "customer_snapshot": customer_snapshot_schema()}
        self.pipeline = pipeline_definition()
        self._event_index = None

    # Events: all sessions' events in time order; ids s<seed>-e<n> in that order.
    def _index(self):
        if self._event_index is None:
            idx = []
            for c in self._people[1:]:
                for session in c.sessions:
                    for ev in session:
                        idx.append((ev[0], c.n, ev))
            idx.sort(key=lambda x: (x[0], x[1]))
            self._event_index = idx
        return self._event_index

    def _materialize(self, as_dict):
        rng = random.Random("events:%d" % self.seed)
        clock = _Clock()
        people = self._people
        session_ids = {}
        cart_sku = {}
        for i, (ts, cn, ev) in enumerate(self._index()):
            c = people[cn]
            _, kind, price, qty, discount, si = ev
            eid = "s%d-e%07d" % (self.seed, i)
            sid = session_ids.get((cn, si))
            if sid is None:
                sid = "%s-%d-%d" % (c.customer_id, self.seed, si)
                session_ids[(cn, si)] = sid
            stamp = clock.format(ts)
            # Logged in for most events; the email links the customer's ECID to the snapshot identity.
            logged_in = si == 0 or (cn * 31 + si) % 5 != 0
            if kind == PAGE_VIEW:
                page = PAGES[rng.randrange(len(PAGES))]
                sku = cat = None
            else:
                if kind == PRODUCT_VIEW:  # the SKU fixes the category; 60% from the customer's favorite
                    sku = rng.randrange(99984)
                    if rng.random() < 0.6:
                        sku += (c.favorite - sku) % len(CATEGORIES)
                    cart_sku[(cn, si, price)] = sku
                else:
                    sku = cart_sku.get((cn, si, price), 0)
                cat = CATEGORIES[sku % len(CATEGORIES)]
                page = "checkout-confirmation" if kind == PURCHASE else "product"
            if as_dict:
                yield self._event_dict(c, eid, stamp, kind, sid, logged_in, page, sku, cat, price, qty, discount)
            else:
                yield self._event_line(c, eid, stamp, kind, sid, logged_in, page, sku, cat, price, qty, discount)

    def _event_dict(self, c, eid, stamp, kind, sid, logged_in, page, sku, cat, price, qty, discount):
        ident = {"ECID": [{"id": c.ecid, "primary": True}]}
        if logged_in:
            ident["email"] = [{"id": c.email}]
        ev = {"_id": eid, "timestamp": stamp, "eventType": EVENT_TYPES[kind], "identityMap": ident,
              "device": c.device, "sessionId": sid,
              "web": {"webPageDetails": {"name": page, "URL": "https://shop.example.com/" + page}}}
        if kind != PAGE_VIEW:
            ev["product"] = {"SKU": "SKU-%05d" % sku, "name": "item %d" % sku, "category": cat, "price": price}
        if kind in (ADD_TO_CART, PURCHASE):
            ev["quantity"] = qty
        if kind == PURCHASE:
            order = {"priceTotal": round(price * qty - discount, 2), "currencyCode": "USD", "purchaseID": "o-" + eid}
            if discount:
                order["discountAmount"] = discount
            ev["commerce"] = {"order": order}
        return ev

    def _event_line(self, c, eid, stamp, kind, sid, logged_in, page, sku, cat, price, qty, discount):
        ident = ('{"ECID":[{"id":"%s","primary":true}],"email":[{"id":"%s"}]}' % (c.ecid, c.email) if logged_in
                 else '{"ECID":[{"id":"%s","primary":true}]}' % c.ecid)
        head = ('{"_id":"%s","timestamp":"%s","eventType":"%s","identityMap":%s,"device":"%s","sessionId":"%s",'
                '"web":{"webPageDetails":{"name":"%s","URL":"https://shop.example.com/%s"}}'
                % (eid, stamp, EVENT_TYPES[kind], ident, c.device, sid, page, page))
        if kind == PAGE_VIEW:
            return head + "}"
        head += (',"product":{"SKU":"SKU-%05d","name":"item %d","category":"%s","price":%s}'
                 % (sku, sku, cat, _num(price)))
        if kind == PRODUCT_VIEW:
            return head + "}"
        head += ',"quantity":%d' % qty
        if kind == ADD_TO_CART:
            return head + "}"
        total = _num(round(price * qty - discount, 2))
        order = '"priceTotal":%s,"currencyCode":"USD","purchaseID":"o-%s"' % (total, eid)
        if discount:
            order += ',"discountAmount":%s' % _num(discount)
        return head + ',"commerce":{"order":{%s}}}' % order

    def events(self):
        """Event records (dicts) in file order."""
        return self._materialize(True)

    def event_lines(self):
        """NDJSON lines (str, no newline) in file order; json.loads(line) equals the matching events() dict."""
        return self._materialize(False)

    def customer_lines(self):
        return [json.dumps(row, separators=(",", ":")) for row in self.customers]

    def readme(self):
        t = self.truth
        return README_TEXT.format(customers=t["customers"], events=t["events"], seed=self.seed, now=t["now"],
                                  rate=t["label_rate"], bayes=t["bayes_auc"], bayes_exp=t["bayes_auc_expected"])

    def write(self, outdir):
        os.makedirs(os.path.join(outdir, "schemas"), exist_ok=True)
        for name, body in self.schemas.items():
            _write_json(os.path.join(outdir, "schemas", name + ".json"), body)
        with open(os.path.join(outdir, "events.ndjson"), "w", encoding="utf-8", newline="\n") as f:
            buf = []
            for line in self.event_lines():
                buf.append(line)
                if len(buf) >= 8192:
                    f.write("\n".join(buf) + "\n")
                    buf = []
            if buf:
                f.write("\n".join(buf) + "\n")
        with open(os.path.join(outdir, "customers.ndjson"), "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(self.customer_lines()) + "\n")
        _write_json(os.path.join(outdir, "truth.json"), self.truth)
        _write_json(os.path.join(outdir, "pipeline.json"), self.pipeline)
        with open(os.path.join(outdir, "README.txt"), "w", encoding="utf-8", newline="\n") as f:
            f.write(self.readme())


def _num(x):
    """A JSON number that json.loads reads back as the same float."""
    return repr(float(x))


def _write_json(path, obj):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, indent=1, sort_keys=False)
        f.write("\n")


def generate(n_customers=20000, seed=1, now=None):
    """Simulates n_customers customers; events are materialized lazily (events(), event_lines(), write())."""
    if n_customers < 1:
        raise ValueError("n_customers must be at least 1")
    now_ms = parse_now(now)
    d = DemoData(n_customers, seed, now_ms)
    rng = random.Random("customers:%d" % seed)
    label_rng = random.Random("labels:%d" % seed)
    clock = _Clock()
    width = max(5, len(str(n_customers)))
    labels, probs = [], []
    by_type = [0, 0, 0, 0]
    for n in range(1, n_customers + 1):
        c, last_ms = _simulate_customer(rng, n, now_ms, width)
        c.row["last_visit"] = clock.format(last_ms)
        y = 1 if label_rng.random() < c.p else 0
        c.row["churned"] = y
        d._people.append(c)
        d.customers.append(c.row)
        labels.append(y)
        probs.append(c.p)
        for s in c.sessions:
            for ev in s:
                by_type[ev[1]] += 1
    n_events = sum(by_type)
    rows = d.customers
    d.truth = {
        "generator": "tools/demo_data.py",
        "seed": seed,
        "now": clock.format(now_ms),
        "now_ms": now_ms,
        "customers": n_customers,
        "events": n_events,
        "events_by_type": {EVENT_TYPES[k]: by_type[k] for k in range(4)},
        "churned": sum(labels),
        "label_rate": round(sum(labels) / n_customers, 4),
        "mean_probability": round(sum(probs) / n_customers, 4),
        "bayes_auc": round(auc(probs, labels), 4),
        "bayes_auc_expected": round(expected_auc(probs), 4),
        "avg_price_missing": sum(1 for r in rows if "avg_price" not in r),
        "device_values": _counts(r["device"] for r in rows),
        "countries": len(set(r["country"] for r in rows)),
        "model": {
            "form": "churned ~ Bernoulli(sigmoid(logit)); R = days since last_visit (at now), F = visits_30d; "
                    "logit = b0 + recency*log1p(R) + frequency*log1p(F) + overdue*(1 - exp(-R*(F+0.5)/30/2)) "
                    "+ device[lower(device)] + hour_effect[sessions_hour] "
                    "+ price_sensitivity*tanh((discount_share*avg_price - center)/scale) "
                    "+ abandons*min(cart_abandons_30d, 4); avg_price missing -> %g" % MISSING_PRICE,
            "b0": B0, "recency": RECENCY, "frequency": FREQUENCY, "overdue": OVERDUE, "device": DEVICE_EFFECT,
            "hour_effect": {str(h): hour_effect(h) for h in range(24)},
            "price_sensitivity": PRICE_SENS, "center": PRICE_SENS_CENTER, "scale": PRICE_SENS_SCALE,
            "abandons": ABANDONS,
        },
        "probability": {r["customer_id"]: p for r, p in zip(rows, probs)},
    }
    return d


def _counts(values):
    out = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


README_TEXT = """rtml demo data: a synthetic web store with a churn label
========================================================

Generated by tools/demo_data.py (seed {seed}, now {now}): {customers} customers, {events} events.

schemas/web.json                PUT /v1/schemas/web               experience events
schemas/customer_snapshot.json  PUT /v1/schemas/customer_snapshot adhoc, one row per customer
events.ndjson                   the customers' events over the 30 days before `now`, time order:
                                eventType web.pageView, commerce.productView, commerce.addToCart,
                                commerce.purchase; identityMap ECID (+ email when logged in)
customers.ndjson                the snapshot rows (label: churned)
truth.json                      counts, the latent model, the true churn probability of every
                                customer, and the Bayes-optimal AUC
pipeline.json                   a 10-node feature pipeline over the snapshot columns
                                (output "features"); train with label "churned"

The snapshot is computed from the events: visits_30d = sessions in the window,
last_visit = the customer's last event (before the window when visits_30d = 0),
avg_price = mean product.price of the customer's product views (missing when
none), cart_abandons_30d = sessions with an add-to-cart and no purchase.
sessions_hour is the customer's usual hour (UTC) and discount_share the share of
their orders bought with a discount (purchases carry commerce.order.discountAmount
with that probability). device has inconsistent casing ("Mobile", "DESKTOP") and
country a long tail of rare values.

churned is drawn from a logistic model of the snapshot columns (truth.json "model"):
recency, frequency, device, hour of day (night owls churn more) and price
sensitivity (discount_share x avg_price). Label rate {rate}. No model can beat
the true probability: its AUC on these labels is {bayes} (expected {bayes_exp}).

Load it into a server (a key with role ingest; `rtml ingest` reads it from RTML_API_KEY):

  A="Authorization: Bearer $RTML_API_KEY"; S=localhost:8080
  curl -H "$A" -X PUT $S/v1/schemas/web --data-binary @schemas/web.json
  curl -H "$A" -X PUT $S/v1/schemas/customer_snapshot --data-binary @schemas/customer_snapshot.json
  curl -H "$A" -X PUT $S/v1/datasets/events --data-binary '{{"schema": "web"}}'
  curl -H "$A" -X PUT $S/v1/datasets/customers --data-binary '{{"schema": "customer_snapshot"}}'
  rtml ingest events.ndjson --dataset events --server $S
  rtml ingest customers.ndjson --dataset customers --server $S

The pipeline's days_since counts from the time it runs, so generate with the
default --now (the current hour) for a live demo.
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--customers", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--now", default=None, help="reference time, RFC 3339 (default: the current hour)")
    a = ap.parse_args(argv)
    if a.customers < 1:
        ap.error("--customers must be at least 1")
    try:
        now_ms = parse_now(a.now)
    except ValueError:
        ap.error("--now: not an RFC 3339 date-time: %r" % a.now)
    t0 = time.monotonic()
    d = generate(a.customers, seed=a.seed, now=now_ms)
    d.write(a.outdir)
    t = d.truth
    print(json.dumps({k: t[k] for k in ("customers", "events", "label_rate", "bayes_auc", "bayes_auc_expected")}
                     | {"outdir": a.outdir, "seconds": round(time.monotonic() - t0, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
