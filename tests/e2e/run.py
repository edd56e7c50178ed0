#!/usr/bin/python3
"""Runs the end-to-end server tests (tests/e2e/test_*.py) and prints a summary.

    /usr/bin/python3 tests/e2e/run.py --rtml build/rtml --models build/testmodels [-k PATTERN] [-q]

--models: a directory written by tests/models/gen_models.py; generated there
when it has no manifest.json. -k selects tests whose id contains PATTERN
(repeatable). When a test fails, the log of every server it used is printed.
Set RTML_E2E_KEEP=1 to keep the servers' temporary data directories.
"""

import argparse
import os
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import rtml_server  # noqa: E402


_shown = {}  # server -> length of its log already printed


class Result(unittest.TextTestResult):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.timings = []
        self.outcomes = {}
        self._servers_before = 0

    def startTest(self, test):
        self._t0 = time.monotonic()
        self._servers_before = len(rtml_server.ALL_SERVERS)
        # Servers started by setUpClass are used by every test of the class.
        self._class_servers = [s for s in rtml_server.ALL_SERVERS if s.alive()]
        super().startTest(test)

    def stopTest(self, test):
        self.timings.append((test.id(), time.monotonic() - self._t0))
        self.outcomes.setdefault(test.id(), "ok")
        super().stopTest(test)

    def _dump_logs(self, test):
        servers = list(self._class_servers) + rtml_server.ALL_SERVERS[self._servers_before:]
        seen = set()
        for s in servers:
            if id(s) in seen:
                continue
            seen.add(id(s))
            text = s.log()
            shown = _shown.get(id(s), 0)
            new = text[shown:] if len(text) >= shown else text
            _shown[id(s)] = len(text)
            lines = new.splitlines()[-80:]
            self.stream.write("\n----- log of %s (pid %s, port %s, data %s)%s -----\n%s\n"
                              % (s.name, s.proc.pid if s.proc else "-", s.port, s.data_dir,
                                 ", new lines" if shown else "", "\n".join(lines) if lines else "(no new lines)"))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcomes[test.id()] = "FAIL"
        self._dump_logs(test)

    def addError(self, test, err):
        super().addError(test, err)
        self.outcomes[getattr(test, "id", lambda: str(test))()] = "ERROR"
        self._dump_logs(test)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.outcomes[test.id()] = "skipped: " + reason

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self.outcomes[subtest.id()] = "FAIL" if failed else "ERROR"
            self.outcomes[test.id()] = "FAIL"
            self._dump_logs(test)


def filter_suite(suite, patterns):
    out = unittest.TestSuite()
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            out.addTests(filter_suite(t, patterns))
        elif not patterns or any(p in t.id() for p in patterns):
            out.addTest(t)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rtml", default=os.path.join(REPO, "build", "rtml"))
    ap.add_argument("--models", default=os.path.join(REPO, "build", "testmodels"))
    ap.add_argument("-k", action="append", default=[], help="run tests whose id contains this")
    ap.add_argument("-q", action="store_true", help="less output")
    args = ap.parse_args()

    rtml = os.path.abspath(args.rtml)
    models = os.path.abspath(args.models)
    if not os.access(rtml, os.X_OK):
        print("e2e: %s is not an executable; build rtml first" % rtml)
        return 2
    if not os.path.isfile(os.path.join(models, "manifest.json")):
        print("e2e: generating test models into %s" % models)
        subprocess.run([sys.executable, os.path.join(REPO, "tests", "models", "gen_models.py"), models],
                       check=True, stdout=subprocess.DEVNULL)
    os.environ["RTML_BINARY"] = rtml
    os.environ["RTML_TEST_MODELS"] = models

    loader = unittest.TestLoader()
    suite = filter_suite(loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE), args.k)
    if suite.countTestCases() == 0:
        print("e2e: no test matches %s" % args.k)
        return 1
    t0 = time.monotonic()
    runner = unittest.TextTestRunner(verbosity=1 if args.q else 2, resultclass=Result, stream=sys.stdout)
    result = runner.run(suite)
    elapsed = time.monotonic() - t0

    print("\n================ e2e summary (%s, %.1f s) ================" % (os.path.basename(rtml), elapsed))
    times = dict(result.timings)
    width = max([len(k) for k in result.outcomes] + [10])
    for test_id in sorted(result.outcomes):
        label = result.outcomes[test_id]
        t = times.get(test_id)
        print("%-*s  %-6s %s" % (width, test_id, label.split(":")[0], "%6.2fs" % t if t is not None else ""))
    failed = sorted(k for k, v in result.outcomes.items() if v in ("FAIL", "ERROR") and " (" not in k)
    print("%d tests: %d passed, %d failed or errored, %d skipped"
          % (result.testsRun, result.testsRun - len(failed) - len(result.skipped), len(failed), len(result.skipped)))
    for k in failed:
        subs = sorted(s for s, v in result.outcomes.items() if s.startswith(k + " (") and v in ("FAIL", "ERROR"))
        print("  FAILED: %s%s" % (k, "  [%d subtests: %s]" % (len(subs), ", ".join(s[len(k) + 1:] for s in subs))
                                  if subs else ""))
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
