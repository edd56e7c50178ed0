#!/usr/bin/env python3
"""Compare a KServe v2 inference response with an expected-output file.

usage: check_outputs.py ACTUAL.json EXPECTED.json [--max-report=N]

ACTUAL.json is a KServe v2 response body:
    {"outputs": [{"name", "shape", "datatype", "data"}, ...], ...}
`data` may be flat or nested (row-major).  A ZipMap output is datatype
"SEQUENCE_MAP" with data = a list of {label: probability} objects.

EXPECTED.json is written by gen_models.py:
    {"outputs": [...same form...], "tolerance": {"abs": A, "rel": R}}

Rules: every expected output must be present with the same datatype and
shape (extra actual outputs are ignored).  INT*, UINT*, BOOL and BYTES data
must be equal.  FP16/FP32/FP64 values and SEQUENCE_MAP probabilities match
when |actual - expected| <= A + R * |expected|.  JSON has no NaN / infinity:
the strings "NaN", "Infinity", "-Infinity" (rtml's KServe convention) and
null are read as NaN / +-inf; NaN matches only NaN.  SEQUENCE_MAP entries must have exactly the same keys
(labels, always JSON strings).

Exit status: 0 match, 1 mismatch, 2 bad usage or unreadable input.
"""

import json
import math
import sys

FLOAT_TYPES = {"FP16", "FP32", "FP64"}
EXACT_TYPES = {"BOOL", "BYTES", "INT8", "INT16", "INT32", "INT64",
               "UINT8", "UINT16", "UINT32", "UINT64"}


def flatten(data):
    """Row-major flattening of nested lists (dicts and scalars are leaves)."""
    if not isinstance(data, list):
        return [data]
    out = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _as_float(v):
    if v is None:
        return math.nan
    if isinstance(v, str) and v in _SPECIAL:
        return _SPECIAL[v]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError("not a number: %r" % (v,))
    return float(v)


def close(actual, expected, abs_tol, rel_tol):
    a, e = _as_float(actual), _as_float(expected)
    if math.isnan(e) or math.isnan(a):
        return math.isnan(e) and math.isnan(a)
    if math.isinf(e) or math.isinf(a):
        return a == e
    return abs(a - e) <= abs_tol + rel_tol * abs(e)


def _fmt(v):
    return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else repr(v)


def compare(actual_body, expected_body, max_report=10):
    """Return a list of human-readable mismatch descriptions (empty = match).
    At most max_report value mismatches are described per output, followed by
    a count of the rest."""
    tol = expected_body.get("tolerance", {})
    abs_tol = float(tol.get("abs", 0.0))
    rel_tol = float(tol.get("rel", 0.0))
    actual = {}
    for out in actual_body.get("outputs", []):
        actual[out.get("name")] = out
    problems = []
    for exp in expected_body["outputs"]:
        name = exp["name"]
        if name not in actual:
            problems.append("output %r: missing (actual outputs: %s)"
                            % (name, sorted(k for k in actual if k is not None)))
            continue
        act = actual[name]
        dtype = exp["datatype"]
        if act.get("datatype") != dtype:
            problems.append("output %r: datatype %r, expected %r" % (name, act.get("datatype"), dtype))
            continue
        if list(act.get("shape", [])) != list(exp["shape"]):
            problems.append("output %r: shape %s, expected %s" % (name, act.get("shape"), exp["shape"]))
            continue
        a_data, e_data = flatten(act.get("data", [])), flatten(exp["data"])
        if len(a_data) != len(e_data):
            problems.append("output %r: %d values, expected %d" % (name, len(a_data), len(e_data)))
            continue
        bad = []
        for i, (a, e) in enumerate(zip(a_data, e_data)):
            try:
                if dtype == "SEQUENCE_MAP":
                    ok = (isinstance(a, dict) and set(a) == set(e)
                          and all(close(a[k], e[k], abs_tol, rel_tol) for k in e))
                elif dtype in FLOAT_TYPES:
                    ok = close(a, e, abs_tol, rel_tol)
                elif dtype in EXACT_TYPES:
                    ok = a == e and type(a) is type(e)
                else:
                    problems.append("output %r: unknown datatype %r" % (name, dtype))
                    break
            except (TypeError, AttributeError, KeyError):
                ok = False
            if not ok:
                bad.append(i)
        for i in bad[:max_report]:
            row = ""
            if len(exp["shape"]) >= 1 and exp["shape"][0]:
                per_row = max(1, len(e_data) // exp["shape"][0])
                row = " (row %d)" % (i // per_row)
            detail = ""
            if dtype in FLOAT_TYPES:
                try:
                    detail = "  |diff| = %.3g" % abs(_as_float(a_data[i]) - _as_float(e_data[i]))
                except TypeError:
                    pass
            problems.append("output %r[%d]%s: actual %s, expected %s%s"
                            % (name, i, row, _fmt(a_data[i]), _fmt(e_data[i]), detail))
        if len(bad) > max_report:
            problems.append("output %r: ... and %d more mismatching values (of %d)"
                            % (name, len(bad) - max_report, len(e_data)))
    return problems


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    max_report = 10
    for a in argv[1:]:
        if a.startswith("--max-report="):
            max_report = int(a.split("=", 1)[1])
    if len(args) != 2:
        sys.stderr.write(__doc__)
        return 2
    try:
        with open(args[0], encoding="utf-8") as f:
            actual = json.load(f)
        with open(args[1], encoding="utf-8") as f:
            expected = json.load(f)
    except (OSError, ValueError) as err:
        sys.stderr.write("check_outputs: %s\n" % err)
        return 2
    problems = compare(actual, expected, max_report)
    tol = expected.get("tolerance", {})
    if problems:
        print("MISMATCH %s vs %s (tolerance abs=%s rel=%s):"
              % (args[0], args[1], tol.get("abs"), tol.get("rel")))
        for p in problems:
            print("  " + p)
        return 1
    print("OK %s: %d outputs match %s" % (args[0], len(expected["outputs"]), args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
