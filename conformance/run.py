#!/usr/bin/env python3
"""Runs the MQTT conformance suite against a broker.

    python3 conformance/run.py --host 127.0.0.1 --port 1883   # an already running broker (any MQTT broker)
    python3 conformance/run.py --tern build/tern              # starts a fresh tern per test module
    python3 conformance/run.py --mosquitto                    # the same with /usr/sbin/mosquitto

Options: -j N runs N test modules at once (default 4; the tests mostly wait on timers); -k TEXT runs only tests
whose id contains TEXT; -v prints every test; module names (e.g. 01_connect) limit the run to those modules.
Ends with "N passed, N failed, N skipped" and exits non-zero on any failure.
"""

import argparse
import concurrent.futures
import glob
import importlib.util
import json
import os
import subprocess
import sys
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

WORKER_TIMEOUT = 150  # seconds for one test module, broker start and stop included


def module_paths(names):
    paths = sorted(glob.glob(os.path.join(HERE, "tests", "[0-9][0-9]_*.py")))
    if names:
        paths = [p for p in paths if any(os.path.basename(p).startswith(n) for n in names)]
    return paths


def load_module(path):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class JsonResult(unittest.TestResult):
    """Prints one JSON line per finished test."""

    def __init__(self):
        super().__init__()
        self.started = 0.0

    def startTest(self, test):
        super().startTest(test)
        self.started = time.monotonic()

    def _emit(self, test, status, detail=""):
        print(json.dumps({"id": test.id(), "status": status, "detail": detail,
                          "seconds": round(time.monotonic() - self.started, 2)}), flush=True)

    def addSuccess(self, test):
        self._emit(test, "pass")

    def addFailure(self, test, err):
        self._emit(test, "fail", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        # An error outside a test (setUpClass) is reported against a _ErrorHolder; count it as a failure too.
        self._emit(test, "fail", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        self._emit(test, "skip", reason)


def worker(args):
    import framework
    framework.TARGET = target_from(args)
    try:
        module = load_module(args.worker)
        suite = unittest.defaultTestLoader.loadTestsFromModule(module)
        if args.k:
            suite = unittest.TestSuite(t for t in iterate(suite) if args.k in t.id())
        suite.run(JsonResult())
    except Exception:
        print(json.dumps({"id": os.path.basename(args.worker), "status": "fail",
                          "detail": traceback.format_exc(), "seconds": 0}), flush=True)
    finally:
        framework.TARGET.stop()


def iterate(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iterate(t)
        else:
            yield t


def target_from(args):
    import framework
    if args.tern:
        return framework.Target("tern", path=os.path.abspath(args.tern), wrapper=(args.wrapper or "").split())
    if args.mosquitto:
        return framework.Target("mosquitto", path=args.mosquitto_path)
    return framework.Target("external", host=args.host, port=args.port)


def run_module(path, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", path]
    if args.tern:
        cmd += ["--tern", os.path.abspath(args.tern)]
        if args.wrapper:
            cmd += ["--wrapper", args.wrapper]
    elif args.mosquitto:
        cmd += ["--mosquitto", "--mosquitto-path", args.mosquitto_path]
    else:
        cmd += ["--host", args.host, "--port", str(args.port)]
    if args.k:
        cmd += ["-k", args.k]
    name = os.path.basename(path)
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=WORKER_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        return name, [{"id": name, "status": "fail", "detail": f"module did not finish in {WORKER_TIMEOUT} s",
                       "seconds": WORKER_TIMEOUT}], (e.stderr or "")
    results = []
    for line in out.stdout.splitlines():
        try:
            results.append(json.loads(line))
        except ValueError:
            pass
    if out.returncode != 0:
        results.append({"id": name, "status": "fail", "detail": f"worker exited with {out.returncode}:\n"
                        + out.stderr[-3000:], "seconds": 0})
    return name, results, out.stderr


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--tern", metavar="PATH", help="start this tern binary for each test module")
    where.add_argument("--mosquitto", action="store_true", help="start mosquitto for each test module")
    parser.add_argument("--mosquitto-path", default="/usr/sbin/mosquitto", help=argparse.SUPPRESS)
    where.add_argument("--host", help="an already running broker (with --port)")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--wrapper", metavar="CMD", help="with --tern: run it under this command, split at spaces "
                        "(e.g. 'qemu-aarch64 -L /usr/aarch64-linux-gnu' for a cross-built tern)")
    parser.add_argument("-j", type=int, default=4, help="test modules run at once")
    parser.add_argument("-k", help="only tests whose id contains this text")
    parser.add_argument("-v", action="store_true", help="print every test")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("modules", nargs="*", help="module name prefixes, e.g. 01_connect")
    args = parser.parse_args()
    if not (args.tern or args.mosquitto or args.host):
        args.host = "127.0.0.1"
    if args.worker:
        worker(args)
        return 0

    import coverage
    problems = coverage.validate()
    started = time.monotonic()
    paths = module_paths(args.modules)
    counts = {"pass": 0, "fail": 0, "skip": 0}
    failures = []
    skipped_reasons = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.j)) as pool:
        futures = [pool.submit(run_module, p, args) for p in paths]
        for future in futures:
            name, results, stderr = future.result()
            for r in results:
                counts[r["status"]] += 1
                if r["status"] == "fail":
                    failures.append(r)
                elif r["status"] == "skip":
                    skipped_reasons.setdefault(r["detail"], []).append(r["id"])
                if args.v:
                    print(f"{r['status'].upper():4} {r['id']} ({r['seconds']} s)")
    for r in failures:
        print("=" * 100)
        print(f"FAIL {r['id']}")
        print(r["detail"].rstrip())
    for reason, ids in skipped_reasons.items():
        print(f"skipped {len(ids)}: {reason}")
    for p in problems:
        print(f"coverage: {p}")
        counts["fail"] += 1
    summary = f"{counts['pass']} passed, {counts['fail']} failed"
    if counts["skip"]:
        summary += f", {counts['skip']} skipped"
    print(f"({time.monotonic() - started:.1f} s)")
    print(summary)
    return 1 if counts["fail"] or not counts["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
