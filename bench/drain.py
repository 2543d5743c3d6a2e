#!/usr/bin/env python3
"""Row 13: what a persistent session draining a long offline backlog costs everyone else (bench/README.md).

    bench/drain.py                                # persistence on and off, 3 repeats each, 300,000 queued messages
    bench/drain.py --tern build-h1/tern --loadgen build-h1/bench/tern_loadgen --repeats 1 --backlog 100000
    bench/drain.py --label before --output bench/results/drain-2026-12-06-before.json

Per run: a fresh Tern (persistence on: `persistence true`, `persistence_sync full`; off: `persistence false`), with
`max_queued_messages` above the backlog and `max_queued_in_memory` at its default (100), so that with persistence on
all but the first 100 queued messages live only in the store and come back a page at a time.
  1. "drainer" (3.1.1, clean session 0) subscribes to drain/backlog at QoS 1 and disconnects;
  2. a publisher sends it the backlog (QoS 1, 64 B; 10,000 in flight at a time) and disconnects;
  3. tern_loadgen starts 10 QoS 1 pairs at a fixed total rate (latency scenario, --rate 5000), warms up 1 s;
  4. at the generator's measured window start, "drainer" reconnects and takes its backlog as fast as the broker
     sends it (acknowledging each read's messages with one write); when the last one has arrived the window ends
     (tern_loadgen --until-stdin), so the pairs' latency percentiles cover exactly the drain.
Reported per run: the pairs' publish-to-receive latency (p50/p99/p99.9/max), the drain's duration and rate, whether
the backlog arrived whole and in order, and the core lock's counters from the broker's log at exit (if it logs them).

Python 3 standard library only.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOPIC = b"drain/backlog"
PAYLOAD = 64


def encode_length(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string(s):
    return struct.pack(">H", len(s)) + s


def connect_packet(client_id, clean):
    body = string(b"MQTT") + bytes([4, 0x02 if clean else 0x00]) + struct.pack(">H", 0) + string(client_id)
    return b"\x10" + encode_length(len(body)) + body


def read_packet(sock, buf):
    """(type byte, body) of the next packet; buf: bytearray of unread bytes."""
    while True:
        if len(buf) >= 2:
            n, mult, i = 0, 1, 1
            while i < len(buf) and i <= 4:
                b = buf[i]
                n += (b & 0x7F) * mult
                mult *= 128
                i += 1
                if not b & 0x80:
                    if len(buf) >= i + n:
                        head, body = buf[0], bytes(buf[i:i + n])
                        del buf[:i + n]
                        return head, body
                    break
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk


def mqtt_connect(port, client_id, clean):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_packet(client_id, clean))
    buf = bytearray()
    head, body = read_packet(sock, buf)
    if head != 0x20 or body[1] != 0:
        raise RuntimeError(f"CONNACK refused: {head:#x} {body!r}")
    return sock, buf, body[0] & 1


def subscribe_offline(port):
    sock, buf, _ = mqtt_connect(port, b"drainer", False)
    body = struct.pack(">H", 1) + string(TOPIC) + b"\x01"
    sock.sendall(b"\x82" + encode_length(len(body)) + body)
    head, body = read_packet(sock, buf)
    if head != 0x90 or body[-1] != 1:
        raise RuntimeError(f"SUBACK: {head:#x} {body!r}")
    sock.sendall(b"\xe0\x00")
    sock.close()


def fill(port, n, window=10000):
    """Publishes n QoS 1 messages to TOPIC, `window` in flight, payload = 8-byte sequence number + padding."""
    sock, buf, _ = mqtt_connect(port, b"filler", True)
    pad = b"x" * (PAYLOAD - 8)
    sent = 0
    while sent < n:
        count = min(window, n - sent)
        out = bytearray()
        for i in range(count):
            body = string(TOPIC) + struct.pack(">H", i + 1) + struct.pack(">Q", sent + i) + pad
            out += b"\x32" + encode_length(len(body)) + body
        sock.sendall(out)
        acked = 0
        while acked < count:
            head, _ = read_packet(sock, buf)
            if head == 0x40:
                acked += 1
        sent += count
    sock.sendall(b"\xe0\x00")
    sock.close()


class Drainer(threading.Thread):
    """Reconnects `client_id` (default "drainer") and takes n messages (payload: an 8-byte sequence number first),
    acknowledging each read's messages with one write. What came with the CONNACK is taken before the first read: with
    a small window (Tern's default 20) it can be all there is until it is acknowledged."""

    def __init__(self, port, n, done=None, client_id=b"drainer"):
        super().__init__(daemon=True)
        self.port, self.n, self.done, self.client_id = port, n, done, client_id
        self.received = self.out_of_order = self.duplicates = 0
        self.start_s = self.end_s = None
        self.session_present = None
        self.error = None
        self.expected, self.seen_max = 0, -1

    def take(self, buf):
        """Counts the whole PUBLISHes at the front of buf and removes them; returns their acknowledgements."""
        acks = bytearray()
        i, end = 0, len(buf)
        while i + 2 <= end:
            n, mult, j = 0, 1, i + 1
            while j < end:
                b = buf[j]
                n += (b & 0x7F) * mult
                mult *= 128
                j += 1
                if not b & 0x80:
                    break
            else:
                break
            if j + n > end:
                break
            head = buf[i]
            if head & 0xF0 == 0x30:
                tlen = (buf[j] << 8) | buf[j + 1]
                p = j + 2 + tlen
                if head & 0x06:
                    acks += b"\x40\x02" + bytes(buf[p:p + 2])
                    p += 2
                seq = int.from_bytes(buf[p:p + 8], "big")
                if seq <= self.seen_max:
                    self.duplicates += 1
                else:
                    if seq != self.expected:
                        self.out_of_order += 1
                    self.seen_max, self.expected = seq, seq + 1
                    self.received += 1
            i = j + n
        del buf[:i]
        return acks

    def run(self):
        try:
            self.start_s = time.monotonic()
            sock, buf, self.session_present = mqtt_connect(self.port, self.client_id, False)
            sock.settimeout(60)
            while True:
                acks = self.take(buf)
                if acks:
                    sock.sendall(acks)
                if self.received >= self.n:
                    break
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise ConnectionError("broker closed the connection")
                buf += chunk
            self.end_s = time.monotonic()
            sock.sendall(b"\xe0\x00")
            sock.close()
        except Exception as e:  # reported in the result
            self.error = f"{type(e).__name__}: {e}"
        finally:
            if self.done:
                self.done()


def write_results(path, meta, summary_, runs):
    """Writes {meta, summary, runs} to `path` as JSON, prints the summary; the exit status: 0 if every run is ok."""
    doc = {"meta": meta, "summary": summary_, "runs": runs}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    print(json.dumps(summary_, indent=1))
    return 0 if all(r.get("ok") for r in runs) else 1


LOCK_LINE = re.compile(r"core lock: held ([\d.]+) % of ([\d.]+) s, longest hold ([\d.]+) us, (\d+) acquisitions")


def lock_stats(log_path):
    try:
        with open(log_path, errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    found = LOCK_LINE.findall(text)
    if not found:
        return None
    pct, wall, longest, acq = found[-1]
    return {"held_pct": float(pct), "wall_s": float(wall), "longest_hold_us": float(longest),
            "acquisitions": int(acq)}


def report(args, runs, summary):
    """Prints the summary; with --output, writes the runs and the summary there as JSON (bridge.py, attacks.py)."""
    print(json.dumps(summary, indent=1))
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"date": datetime.date.today().isoformat(), "args": vars(args), "runs": runs,
                       "summary": summary}, f, indent=1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_once(args, persistence):
    workdir = tempfile.mkdtemp(prefix="tern-drain-")
    port = free_port()
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", f"threads {args.tern_threads}",
             f"max_queued_messages {args.backlog + 100000}", "max_inflight_messages 65535"]
    if persistence:
        os.mkdir(os.path.join(workdir, "store"))
        lines += ["persistence true", f"persistence_location {workdir}/store", "persistence_sync full"]
    conf = os.path.join(workdir, "tern.conf")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    log_path = os.path.join(workdir, "tern.out")
    with open(log_path, "wb") as out:
        broker = subprocess.Popen([args.tern, "-c", conf], stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
    result = {"persistence": persistence, "backlog": args.backlog, "rate": args.rate, "ok": False}
    lg = None
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or broker.poll() is not None:
                    raise RuntimeError("broker did not start")
                time.sleep(0.01)
        subscribe_offline(port)
        t = time.monotonic()
        fill(port, args.backlog)
        result["fill_s"] = round(time.monotonic() - t, 3)
        time.sleep(1.0)

        cmd = [args.loadgen, "--port", str(port), "--scenario", "latency", "--qos", "1", "--mqtt", "3",
               "--rate", str(args.rate), "--warmup", "1", "--duration", str(args.max_drain_s), "--until-stdin",
               "--threads", "1"]
        lg = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        finished = threading.Event()

        def end_window():
            finished.set()
            try:
                lg.stdin.write("\n")
                lg.stdin.flush()
            except OSError:
                pass

        drainer = Drainer(port, args.backlog, end_window)
        stdout_lines = []

        def on_stderr():
            for line in lg.stderr:
                parts = line.split()
                if parts[:2] == ["EVENT", "measure_start"]:
                    drainer.start()

        def on_stdout():
            stdout_lines.extend(lg.stdout)

        readers = [threading.Thread(target=on_stderr, daemon=True), threading.Thread(target=on_stdout, daemon=True)]
        for r in readers:
            r.start()
        lg.wait(timeout=args.max_drain_s + 60)
        for r in readers:
            r.join(timeout=5)
        if drainer.is_alive():
            drainer.join(timeout=5)
        lgres = json.loads([l for l in stdout_lines if l.startswith("{")][-1])
        result["pairs"] = {k: lgres.get(k) for k in ("latency_us", "ack_latency_us", "delivered", "lost",
                                                         "duplicates", "out_of_order", "duration_s", "ok", "error")
                           if k in lgres}
        drain_s = (drainer.end_s - drainer.start_s) if drainer.end_s else None
        result["drain"] = {"received": drainer.received, "out_of_order": drainer.out_of_order,
                           "duplicates": drainer.duplicates, "session_present": drainer.session_present,
                           "seconds": round(drain_s, 3) if drain_s else None,
                           "msgs_per_s": round(drainer.received / drain_s) if drain_s else None,
                           "error": drainer.error}
        result["ok"] = (lgres.get("ok", False) and drainer.error is None and drainer.received == args.backlog
                        and drainer.out_of_order == 0)
    except Exception as e:
        result["error"] = f"{type(e).__name__}: {e}"
    finally:
        if lg is not None and lg.poll() is None:
            lg.kill()
            lg.wait()
        if broker.poll() is None:
            broker.send_signal(signal.SIGTERM)
            try:
                broker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(broker.pid, signal.SIGKILL)
                broker.wait()
        result["core_lock"] = lock_stats(log_path)
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def summary(runs):
    out = {}
    for persistence in (True, False):
        mine = [r for r in runs if r["persistence"] == persistence and r.get("ok")]
        if not mine:
            continue
        cell = {"runs": len(mine)}
        for k in ("p50", "p99", "p999", "max"):
            cell["pairs_" + k + "_us"] = statistics.median(r["pairs"]["latency_us"][k] for r in mine)
        cell["drain_s"] = statistics.median(r["drain"]["seconds"] for r in mine)
        cell["drain_msgs_per_s"] = statistics.median(r["drain"]["msgs_per_s"] for r in mine)
        locks = [r["core_lock"] for r in mine if r.get("core_lock")]
        if locks:
            cell["lock_held_pct"] = statistics.median(l["held_pct"] for l in locks)
            cell["lock_longest_hold_us"] = statistics.median(l["longest_hold_us"] for l in locks)
        out["on" if persistence else "off"] = cell
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tern", default=os.path.join(ROOT, "build-bench", "tern"))
    p.add_argument("--loadgen", default=os.path.join(ROOT, "build-bench", "bench", "tern_loadgen"))
    p.add_argument("--tern-threads", type=int, default=os.cpu_count())
    p.add_argument("--backlog", type=int, default=300000)
    p.add_argument("--rate", type=float, default=5000, help="the pairs' total msgs/s")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-drain-s", type=float, default=120, help="the longest a drain may take")
    p.add_argument("--modes", default="on,off", help="persistence on, off or both")
    p.add_argument("--label", default="", help="stored in the result (e.g. before / after)")
    p.add_argument("--output", default=os.path.join(HERE, "results", "drain-latest.json"))
    args = p.parse_args()
    modes = [m == "on" for m in args.modes.split(",")]
    runs = []
    for i in range(args.repeats):
        for persistence in modes:  # interleaved, so drift hits both alike
            r = run_once(args, persistence)
            r["repeat"] = i
            runs.append(r)
            lat = r.get("pairs", {}).get("latency_us", {})
            print(f"persistence {'on ' if persistence else 'off'} #{i}: ok={r['ok']} pairs p50 {lat.get('p50')} "
                  f"p99 {lat.get('p99')} p99.9 {lat.get('p999')} max {lat.get('max')} us; drain "
                  f"{r.get('drain', {}).get('seconds')} s; lock {r.get('core_lock')} {r.get('error', '')}",
                  flush=True)
    meta = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "label": args.label,
            "tern": args.tern, "tern_threads": args.tern_threads, "backlog": args.backlog, "rate": args.rate,
            "repeats": args.repeats, "cores": os.cpu_count()}
    return write_results(args.output, meta, summary(runs), runs)


if __name__ == "__main__":
    sys.exit(main())
