#!/usr/bin/env python3
"""Row 15: a bridge's cost (bench/README.md), Tern against Debian's mosquitto bridging the same load.

    bench/bridge.py                                   # both rows, both brokers, 3 repeats
    bench/bridge.py --brokers tern --forward 200000 --backlog 1000000 --repeats 1
    bench/bridge.py --output bench/results/bridge-2026-12-06.json

Each run starts an upstream broker and an edge broker of the same kind; the edge bridges drain/# out at QoS 1
(`connection up`, cleansession false). Tern's edge runs with `persistence true` (`persistence_sync full`), so its
backlog lives in SQLite; mosquitto's bridge queues in memory whatever its persistence, so it runs as it would.
  forward: the upstream is up and "drainer" is subscribed there; a publisher sends N QoS 1 messages of 64 B to the
           edge (10,000 in flight at a time); the rate is N over the time from the first publish until the last
           message reached "drainer" through the bridge.
  backlog: "drainer" has a persistent session upstream; the upstream is stopped; N messages are published to the
           edge (its RSS measured after); the upstream starts again and the edge drains its backlog through the
           bridge: the drain's duration and rate, and the edge's RSS sampled every 0.2 s during it (peak).
Both check that every message arrived once, in order.
  pairs:   tern_loadgen's QoS 1 pairs row (50 pairs, 64 B, 3.1.1) run twice on brokers without persistence: once
           with publishers and subscribers on one broker, once with the publishers on the edge and the subscribers
           on the upstream (`--sub-port`), every message crossing the bridge (`topic bench/# out 1`);
           `max_inflight_messages 65535`, as run.py's pairs rows, and Tern's `bridge_max_inflight 65535`. Reported:
           delivered msgs/s of each, bridged / direct, and each broker's CPU: messages per CPU-second of the direct
           broker and of the edge (what bridging costs the gateway, whose upstream is elsewhere in a deployment;
           here the loadgen and both brokers share 2 cores, so the wall-clock ratio also measures that sharing).

Python 3 standard library only; the MQTT pieces are drain.py's.
"""
import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import drain

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Broker:
    def __init__(self, kind, binary, workdir, name, port, lines):
        self.kind, self.binary, self.port = kind, binary, port
        self.conf = os.path.join(workdir, name + ".conf")
        self.log = os.path.join(workdir, name + ".log")
        common = [f"listener {port} 127.0.0.1", "allow_anonymous true"]
        with open(self.conf, "w") as f:
            f.write("\n".join(common + lines) + "\n")
        self.proc = None

    def start(self):
        out = open(self.log, "a")
        self.proc = subprocess.Popen([self.binary, "-c", self.conf], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                drain.socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.kind} did not listen on {self.port}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def brokers_for(kind, args, workdir, durable_upstream, durable_edge=True, topic="drain/# out 1", tuning=()):
    up_port, edge_port = drain.free_port(), drain.free_port()
    binary = args.tern if kind == "tern" else "/usr/sbin/mosquitto"
    os.mkdir(os.path.join(workdir, "up-store"))
    os.mkdir(os.path.join(workdir, "edge-store"))
    queues = ["max_queued_messages 0"] + list(tuning)
    if kind == "tern":
        up_lines = queues + ["persistence true", f"persistence_location {workdir}/up-store", "threads 1"]
        if not durable_upstream:
            up_lines = queues + ["threads 1"]
        edge_lines = queues + ["persistence true", f"persistence_location {workdir}/edge-store", "threads 1",
                               "persistence_sync full"]
        if not durable_edge:
            edge_lines = queues + ["threads 1"]
    else:
        root = ["user root"] if os.geteuid() == 0 else []
        up_lines = queues + root + ["persistence true", f"persistence_location {workdir}/up-store/"]
        if not durable_upstream:
            up_lines = queues + root
        edge_lines = queues + root + ["persistence false"]
    edge_lines += ["connection up", f"address 127.0.0.1:{up_port}", f"topic {topic}", "restart_timeout 1",
                   "cleansession false", "remote_clientid edge"]
    if kind == "tern":
        edge_lines += ["bridge_queue_max_bytes 0"]
    edge_lines += args.edge_line or []
    return (Broker(kind, binary, workdir, "upstream", up_port, up_lines),
            Broker(kind, binary, workdir, "edge", edge_port, edge_lines))


def wait_bridge(edge):
    """Until the edge's log says the bridge connected (mosquitto: that it is connecting, then a second)."""
    marker = "Bridge up: connected" if edge.kind == "tern" else "Connecting bridge"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with open(edge.log, errors="replace") as f:
            if marker in f.read():
                break
        time.sleep(0.1)
    time.sleep(1)


def receive(port, n):
    done = threading.Event()
    d = drain.Drainer(port, n, done.set)
    d.start()
    return d, done


@contextlib.contextmanager
def bridged_pair(kind, args, **options):
    """An upstream and an edge bridging to it (brokers_for), stopped and removed afterwards; neither started."""
    workdir = tempfile.mkdtemp(prefix=f"tern-bridge-{kind}-")
    upstream, edge = brokers_for(kind, args, workdir, **options)
    try:
        yield upstream, edge
    finally:
        edge.stop()
        upstream.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# forward and backlog: the drainer's window as large as MQTT allows (max_inflight_messages on the upstream), so that
# they measure the bridge rather than 20 messages per round trip to a Python subscriber.
def run_forward(kind, args):
    with bridged_pair(kind, args, durable_upstream=False, tuning=["max_inflight_messages 65535"]) as (upstream, edge):
        upstream.start()
        drain.subscribe_offline(upstream.port)
        edge.start()
        wait_bridge(edge)
        d, done = receive(upstream.port, args.forward)
        time.sleep(0.3)
        start = time.monotonic()
        drain.fill(edge.port, args.forward)
        done.wait(600)
        end = d.end_s or time.monotonic()
        return {"broker": kind, "row": "forward", "messages": args.forward, "received": d.received,
                "duplicates": d.duplicates, "out_of_order": d.out_of_order, "error": d.error,
                "seconds": round(end - start, 3), "msgs_per_s": round(d.received / (end - start))}


def run_backlog(kind, args):
    with bridged_pair(kind, args, durable_upstream=True, tuning=["max_inflight_messages 65535"]) as (upstream, edge):
        upstream.start()
        drain.subscribe_offline(upstream.port)
        upstream.stop()
        edge.start()
        idle = rss_kib(edge.proc.pid)
        t0 = time.monotonic()
        drain.fill(edge.port, args.backlog)
        fill_s = time.monotonic() - t0
        time.sleep(1)
        after_fill = rss_kib(edge.proc.pid)
        upstream.start()
        start = time.monotonic()
        d, done = receive(upstream.port, args.backlog)
        peak = after_fill or 0
        while not done.wait(0.2):
            peak = max(peak, rss_kib(edge.proc.pid) or 0)
            if time.monotonic() - start > 1200:
                break
        end = d.end_s or time.monotonic()
        after = rss_kib(edge.proc.pid)
        return {"broker": kind, "row": "backlog", "messages": args.backlog, "received": d.received,
                "duplicates": d.duplicates, "out_of_order": d.out_of_order, "error": d.error,
                "fill_seconds": round(fill_s, 2), "drain_seconds": round(end - start, 3),
                "drain_msgs_per_s": round(d.received / (end - start)), "edge_rss_kib_idle": idle,
                "edge_rss_kib_after_fill": after_fill, "edge_rss_kib_peak_drain": peak,
                "edge_rss_kib_after_drain": after}


def cpu_seconds(pids):
    """utime + stime of the processes, in seconds."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def loadgen_pairs(args, port, sub_port=None):
    cmd = [args.loadgen, "--port", str(port), "--scenario", "pairs", "--qos", "1", "--mqtt", "3", "--warmup", "2",
           "--duration", str(args.duration), "--threads", "1"]
    if sub_port:
        cmd += ["--sub-port", str(sub_port)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 120)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"tern_loadgen: {out.stderr.strip()}")
    return json.loads(lines[-1])


def run_pairs(kind, args):
    # As run.py's pairs rows: each client's window as large as MQTT allows, and the bridge's upstream window too
    # (Tern's bridge_max_inflight; mosquitto's bridge takes max_inflight_messages).
    tuning = ["max_inflight_messages 65535"]
    with bridged_pair(kind, args, durable_upstream=False, durable_edge=False, topic="bench/# out 1",
                      tuning=tuning) as (upstream, edge):
        if kind == "tern":
            with open(edge.conf, "a") as f:
                f.write("bridge_max_inflight 65535\n")
        upstream.start()
        cpu0 = cpu_seconds([upstream.proc.pid])
        direct = loadgen_pairs(args, upstream.port)
        direct_cpu = cpu_seconds([upstream.proc.pid]) - cpu0
        edge.start()
        wait_bridge(edge)
        up0, edge0 = cpu_seconds([upstream.proc.pid]), cpu_seconds([edge.proc.pid])
        bridged = loadgen_pairs(args, edge.port, upstream.port)
        up_cpu, edge_cpu = cpu_seconds([upstream.proc.pid]) - up0, cpu_seconds([edge.proc.pid]) - edge0
        d, b = direct.get("delivered_per_s", 0), bridged.get("delivered_per_s", 0)
        # Per CPU-second: every message of the run (warm-up and drain included: "received") over the CPU the
        # broker used meanwhile. The edge's figure is what bridging costs the gateway; the upstream is elsewhere.
        direct_per_cpu = direct.get("received", 0) / direct_cpu if direct_cpu else 0
        edge_per_cpu = bridged.get("received", 0) / edge_cpu if edge_cpu else 0
        return {"broker": kind, "row": "pairs", "direct_msgs_per_s": round(d), "bridged_msgs_per_s": round(b),
                "bridged_over_direct": round(b / d, 3) if d else None,
                "bridged_published_per_s": round(bridged.get("published_per_s", 0)),
                "direct_broker_cpu_s": round(direct_cpu, 2), "edge_cpu_s": round(edge_cpu, 2),
                "upstream_cpu_s": round(up_cpu, 2), "direct_msgs_per_cpu_s": round(direct_per_cpu),
                "edge_msgs_per_cpu_s": round(edge_per_cpu),
                "edge_over_direct_per_cpu": round(edge_per_cpu / direct_per_cpu, 3) if direct_per_cpu else None,
                "lost": bridged.get("lost"), "duplicates": bridged.get("duplicates"),
                "direct_error": direct.get("error"), "bridged_error": bridged.get("error")}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tern", default=os.path.join(ROOT, "build-bench", "tern"))
    p.add_argument("--brokers", default="tern,mosquitto")
    p.add_argument("--rows", default="pairs,forward,backlog")
    p.add_argument("--loadgen", default=os.path.join(ROOT, "build-bench", "bench", "tern_loadgen"))
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--forward", type=int, default=200000)
    p.add_argument("--backlog", type=int, default=1000000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--edge-line", action="append", help="a config line added to the edge (both brokers)")
    p.add_argument("--output")
    args = p.parse_args()
    runs = []
    for r in range(args.repeats):
        for kind in args.brokers.split(","):
            for row in args.rows.split(","):
                run = {"pairs": run_pairs, "forward": run_forward, "backlog": run_backlog}[row]
                result = run(kind, args)
                result["repeat"] = r
                print(json.dumps(result), flush=True)
                runs.append(result)
    summary = {}
    for kind in args.brokers.split(","):
        fw = [x["msgs_per_s"] for x in runs if x["broker"] == kind and x["row"] == "forward"]
        bl = [x for x in runs if x["broker"] == kind and x["row"] == "backlog"]
        pr = [x for x in runs if x["broker"] == kind and x["row"] == "pairs"]
        summary[kind] = {
            "pairs_direct_msgs_per_s_median": statistics.median([x["direct_msgs_per_s"] for x in pr]) if pr else None,
            "pairs_bridged_msgs_per_s_median": statistics.median([x["bridged_msgs_per_s"] for x in pr]) if pr else None,
            "pairs_edge_over_direct_per_cpu_median":
                statistics.median([x["edge_over_direct_per_cpu"] for x in pr]) if pr else None,
            "forward_msgs_per_s_median": statistics.median(fw) if fw else None,
            "backlog_drain_msgs_per_s_median": statistics.median([x["drain_msgs_per_s"] for x in bl]) if bl else None,
            "backlog_edge_rss_kib_after_fill_median":
                statistics.median([x["edge_rss_kib_after_fill"] or 0 for x in bl]) if bl else None,
            "backlog_edge_rss_kib_peak_median":
                statistics.median([x["edge_rss_kib_peak_drain"] for x in bl]) if bl else None,
        }
    drain.report(args, runs, summary)


if __name__ == "__main__":
    sys.exit(main())
