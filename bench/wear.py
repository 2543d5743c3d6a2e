#!/usr/bin/env python3
"""Flash wear: bytes Tern writes per message with persistence on (issue 23; bench/README.md, "Flash wear").

    bench/wear.py                                    # both scenarios, 1 repeat, 200,000 messages of 64 B
    bench/wear.py --tern build/tern --loadgen build/bench/tern_loadgen --repeats 3
    bench/wear.py --scenarios queued --strace        # attribute the bytes to files (slow: strace -f)

Bytes written are the broker's `write_bytes` in /proc/PID/io: what the kernel counts as sent to the storage layer,
at the time a page becomes dirty (so one 4 KiB page per page dirtied, however few bytes of it changed; a page
written again before it is cleaned by a sync or by writeback counts once). Read before and after each phase and
divided by the phase's messages. The last reading is taken after a clean shutdown (SIGTERM), from the exited
broker before it is reaped (waitid WNOWAIT), so whatever Tern writes at exit counts too.

Scenarios (a fresh broker and persistence folder each (but see --warm); Tern's defaults but `persistence true`, the folder, and
`max_queued_messages 0` so that nothing queued is dropped; `persistence_sync` at its default, full, unless --sync):
  queued  "wear-drainer" (3.1.1, clean session 0) subscribes at QoS 1 to wear/backlog and disconnects; a
          publisher sends N QoS 1 messages of 64 B (10,000 in flight) and waits for every PUBACK (phase "queue");
          the drainer reconnects and takes all N, acknowledging each read's messages (phase "drain"); it
          disconnects and the broker is stopped (phase "close"). End to end = the three phases ÷ N. Every message
          must arrive, in order.
  pairs   tern_loadgen's durable load (bench/run.py rows 10: 50 pairs, QoS 1, 64 B, persistent sessions, 3.1.1),
          publishing as fast as flow control allows for --pairs-duration s: bytes ÷ messages published, from
          before the generator starts to after the broker stopped. The generator fails the run on any loss.

With --strace the broker runs under `strace -f` (pwrite64, write, fdatasync, fsync, ftruncate, openat); each file's
share is reported both as bytes passed to write calls and as a model of write_bytes (pages dirtied since the
file's last sync). strace slows the broker several times, so groups are larger; use it to attribute, not to
measure.

Python 3 standard library only.
"""
import argparse
import contextlib
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
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import drain  # noqa: E402  (the MQTT helpers of row 13)

TOPIC = b"wear/backlog"
CLIENT_ID = b"wear-drainer"
PAGE = 4096


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_io(pid):
    with open(f"/proc/{pid}/io") as f:
        fields = dict(line.split(": ") for line in f.read().splitlines())
    return {k: int(v) for k, v in fields.items()}


def file_sizes(store):
    out = {}
    for name in sorted(os.listdir(store)):
        try:
            out[name] = os.path.getsize(os.path.join(store, name))
        except OSError:
            pass
    return out


class LoopDisk:
    """A 1 GiB ext4 file system on a loop device (root only), so that what reaches the "disk" can be read from
    /sys/block/loopN/stat: the file system's own writes (its journal, inodes) included, and independent of how the
    kernel accounts dirty pages (below)."""

    def __init__(self, workroot):
        self.image = os.path.join(workroot, "disk.img")
        self.mount = os.path.join(workroot, "mnt")
        os.mkdir(self.mount)
        with open(self.image, "wb") as f:
            f.truncate(1 << 30)
        subprocess.run(["mkfs.ext4", "-q", "-F", self.image], check=True)
        self.dev = subprocess.run(["losetup", "--find", "--show", self.image], check=True, text=True,
                                  stdout=subprocess.PIPE).stdout.strip()
        subprocess.run(["mount", self.dev, self.mount], check=True)

    def written(self):
        """Bytes written to the device so far (after a sync of the file system, so that writeback is counted)."""
        fd = os.open(self.mount, os.O_RDONLY)
        try:
            os.syncfs(fd) if hasattr(os, "syncfs") else os.sync()
        finally:
            os.close(fd)
        with open(f"/sys/block/{os.path.basename(self.dev)}/stat") as f:
            return int(f.read().split()[6]) * 512

    def close(self):
        subprocess.run(["umount", self.mount], check=False)
        subprocess.run(["losetup", "-d", self.dev], check=False)
        os.unlink(self.image)


class Broker:
    def __init__(self, args, workdir, extra=()):
        self.port = free_port()
        self.disk = args.disk
        self.store = os.path.join(self.disk.mount if self.disk else workdir, "store")
        if os.path.exists(self.store):
            shutil.rmtree(self.store)
        os.mkdir(self.store)
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence true",
                 f"persistence_location {self.store}", "max_queued_messages 0"]
        if args.sync:
            lines.append(f"persistence_sync {args.sync}")
        lines += list(extra)
        conf = os.path.join(workdir, "tern.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log_path = os.path.join(workdir, "tern.out")
        cmd = [args.tern, "-c", conf]
        self.strace_path = None
        if args.strace:
            self.strace_path = os.path.join(workdir, "strace.txt")
            cmd = ["strace", "-f", "-qq", "-e", "trace=pwrite64,write,fdatasync,fsync,ftruncate,openat,close",
                   "-o", self.strace_path] + cmd
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("broker did not start")
                time.sleep(0.01)
        self.pid = self.broker_pid()

    def broker_pid(self):
        if not self.strace_path:
            return self.proc.pid
        # strace's child: the tern process
        for _ in range(200):
            try:
                with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                    kids = f.read().split()
                if kids:
                    return int(kids[0])
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError("no tern under strace")

    def io(self):
        return read_io(self.pid)["write_bytes"]

    def device(self):
        return self.disk.written() if self.disk else None

    def reading(self):
        """write_bytes, device bytes, the strace mark and the store's file sizes, now."""
        return self.io(), self.device(), self.mark(), file_sizes(self.store)

    def final_reading(self):
        """The same after a clean stop (no strace mark)."""
        written = self.stop()
        return written, self.device(), file_sizes(self.store)

    def mark(self):
        """Where the strace output is now (phases for attribute())."""
        return os.path.getsize(self.strace_path) if self.strace_path else 0

    def stop(self):
        """SIGTERM, wait for the exit without reaping, read write_bytes; returns it (None if it could not)."""
        os.kill(self.pid, signal.SIGTERM)
        final = None
        if not self.strace_path:
            try:
                os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
                final = self.io()
            except (OSError, ChildProcessError):
                final = None
        else:
            # Under strace the broker is strace's child: poll its io until it is gone, the last reading counts.
            while True:
                try:
                    final = self.io()
                except (OSError, ValueError):
                    break
                try:
                    with open(f"/proc/{self.pid}/stat") as f:
                        if f.read().split(") ")[1][0] == "Z":
                            break
                except OSError:
                    break
                time.sleep(0.02)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        return final


def attribute(strace_path, store, marks=()):
    """Per phase and file: bytes passed to write calls, calls, syncs, and a model of write_bytes (pages dirtied since
    the last sync of the file, 4 KiB each). `marks`: (phase name, offset in the strace output where it ends)."""
    line_re = re.compile(r"^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+)")
    open_re = re.compile(r'^[^,]+,\s+"([^"]+)"')
    fds = {}  # fd -> path (one process: fds are shared by its threads)
    files = {}  # path -> the phase's counters
    dirty = {}  # path -> pages dirtied since its last sync
    phases = {}
    marks = list(marks)

    def entry(path):
        dirty.setdefault(path, set())
        return files.setdefault(path, {"write_calls": 0, "bytes": 0, "syncs": 0, "model_bytes": 0})

    def end_phase(name):
        nonlocal files
        names = set(os.listdir(store)) if os.path.isdir(store) else set()
        phases[name] = {p: e for p, e in files.items() if p in names or p.startswith("tern") or p in ("fd1", "fd2")}
        files = {}

    with open(strace_path, "rb") as raw:
        data = raw.read()
    at = 0
    for raw_line in data.splitlines(keepends=True):
        at += len(raw_line)
        while marks and at > marks[0][1]:
            end_phase(marks.pop(0)[0])
        line = raw_line.decode(errors="replace")
        if True:
            m = line_re.match(line)
            if not m:
                continue
            call, argstr, ret = m.group(2), m.group(3), int(m.group(4))
            if call == "openat":
                om = open_re.match(argstr)
                if om and ret >= 0:
                    fds[ret] = os.path.basename(om.group(1))
                continue
            fd_text = argstr.split(",", 1)[0]
            if not fd_text.isdigit():
                continue
            fd = int(fd_text)
            if call == "close":
                fds.pop(fd, None)
                continue
            path = fds.get(fd, f"fd{fd}")
            if call in ("pwrite64", "write") and ret > 0:
                e = entry(path)
                e["write_calls"] += 1
                e["bytes"] += ret
                if call == "pwrite64":
                    off = int(argstr.rsplit(",", 1)[1])
                    for page in range(off // PAGE, (off + ret - 1) // PAGE + 1):
                        if page not in dirty[path]:
                            dirty[path].add(page)
                            e["model_bytes"] += PAGE
                else:
                    e["model_bytes"] += ret  # sockets, the log: not storage; kept apart below
            elif call in ("fdatasync", "fsync"):
                e = entry(path)
                e["syncs"] += 1
                dirty[path].clear()
            elif call == "ftruncate":
                e = entry(path)
                size = int(argstr.rsplit(",", 1)[1])
                dirty[path] = {p for p in dirty[path] if p * PAGE < size}
    for name, _ in marks:
        end_phase(name)
    end_phase("rest")
    return phases


@contextlib.contextmanager
def scenario_run(args, result):
    """A scenario's work folder, and its end: an exception is recorded in `result` and the broker (state["broker"])
    killed; the folder is removed unless --keep."""
    workdir = tempfile.mkdtemp(prefix="tern-wear-")
    state = {"workdir": workdir, "broker": None}
    try:
        yield state
    except Exception as e:
        result["error"] = f"{type(e).__name__}: {e}"
        broker = state["broker"]
        if broker and broker.proc.poll() is None:
            os.killpg(broker.proc.pid, signal.SIGKILL)
            broker.proc.wait()
    finally:
        if args.keep:
            result["workdir"] = workdir
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def run_queued(args, repeat):
    result = {"scenario": "queued", "repeat": repeat, "messages": args.messages, "warm": args.warm, "ok": False}
    with scenario_run(args, result) as state:
        broker = state["broker"] = Broker(args, state["workdir"])
        n = args.messages
        drain.TOPIC = TOPIC
        sock, buf, _ = drain.mqtt_connect(broker.port, CLIENT_ID, False)
        body = struct.pack(">H", 1) + drain.string(TOPIC) + b"\x01"
        sock.sendall(b"\x82" + drain.encode_length(len(body)) + body)
        head, body = drain.read_packet(sock, buf)
        if head != 0x90 or body[-1] != 1:
            raise RuntimeError(f"SUBACK: {head:#x} {body!r}")
        sock.sendall(b"\xe0\x00")
        sock.close()
        if args.warm:
            # A round first, not measured: the store is then as a running broker's is (its log preallocated and
            # written once, the database's freed pages there to reuse).
            drain.fill(broker.port, n)
            warm = drain.Drainer(broker.port, n, client_id=CLIENT_ID)
            warm.start()
            warm.join(timeout=args.max_drain_s)
            if warm.is_alive() or warm.error or warm.received != n:
                raise RuntimeError(f"the warm-up round failed: {warm.error} ({warm.received} of {n})")
        time.sleep(0.3)
        w0, d0, m0, sizes0 = broker.reading()
        t = time.monotonic()
        drain.fill(broker.port, n)
        result["queue_s"] = round(time.monotonic() - t, 3)
        w1, d1, m1, sizes1 = broker.reading()
        d = drain.Drainer(broker.port, n, client_id=CLIENT_ID)
        d.start()
        d.join(timeout=args.max_drain_s)
        if d.is_alive():
            raise RuntimeError(f"the drain did not end within {args.max_drain_s} s ({d.received} of {n})")
        result["drain_s"] = round(d.end_s - d.start_s, 3) if d.end_s else None
        time.sleep(0.3)
        w2, d2, m2, sizes2 = broker.reading()
        w3, d3, sizes3 = broker.final_reading()
        if d0 is not None:
            result["device_bytes_per_message"] = {
                "queue": round((d1 - d0) / n, 1), "drain": round((d2 - d1) / n, 1), "close": round((d3 - d2) / n, 1),
                "end_to_end": round((d3 - d0) / n, 1)}
        result["drain"] = {"received": d.received, "out_of_order": d.out_of_order, "duplicates": d.duplicates,
                           "session_present": d.session_present, "error": d.error}
        result["write_bytes"] = {"queue": w1 - w0, "drain": w2 - w1, "close": (w3 - w2) if w3 is not None else None}
        per = {"queue": (w1 - w0) / n, "drain": (w2 - w1) / n}
        if w3 is not None:
            per["close"] = (w3 - w2) / n
            per["end_to_end"] = (w3 - w0) / n
        result["bytes_per_message"] = {k: round(v, 1) for k, v in per.items()}
        result["file_sizes"] = {"before": sizes0, "after_queue": sizes1, "after_drain": sizes2, "after_close": sizes3}
        result["ok"] = d.error is None and d.received == n and d.out_of_order == 0 and w3 is not None
        if broker.strace_path:
            result["files"] = attribute(broker.strace_path, broker.store,
                                        [("start", m0), ("queue", m1), ("drain", m2)])
    return result


def run_pairs(args, repeat):
    result = {"scenario": "pairs", "repeat": repeat, "ok": False}
    with scenario_run(args, result) as state:
        broker = state["broker"] = Broker(args, state["workdir"],
                                          ["max_inflight_messages 65535", "max_queued_messages 100000"])
        time.sleep(0.3)
        w0, d0, m0, _ = broker.reading()
        cmd = [args.loadgen, "--port", str(broker.port), "--scenario", "pairs", "--qos", "1", "--mqtt", "3",
               "--persistent", "--warmup", "1", "--duration", str(args.pairs_duration), "--threads", "1"]
        lg = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            timeout=args.pairs_duration + 120)
        lines = [l for l in lg.stdout.splitlines() if l.startswith("{")]
        if not lines:
            raise RuntimeError("no result from tern_loadgen: " + lg.stderr[-500:])
        lgres = json.loads(lines[-1])
        time.sleep(0.3)
        w1, d1, m1, sizes1 = broker.reading()
        w2, d2, sizes2 = broker.final_reading()
        sent = lgres.get("sent", 0)
        if d0 is not None:
            result["device_bytes_per_message"] = {"run": round((d1 - d0) / sent, 1),
                                                  "end_to_end": round((d2 - d0) / sent, 1)}
        result["loadgen"] = {k: lgres.get(k) for k in ("sent", "received", "lost", "unacked", "duplicates",
                                                        "acked_per_s", "ok", "error") if k in lgres}
        result["write_bytes"] = {"run": w1 - w0, "close": (w2 - w1) if w2 is not None else None}
        per = {"run": (w1 - w0) / sent}
        if w2 is not None:
            per["end_to_end"] = (w2 - w0) / sent
        result["bytes_per_message"] = {k: round(v, 1) for k, v in per.items()}
        result["file_sizes"] = {"after_run": sizes1, "after_close": sizes2}
        result["ok"] = bool(lgres.get("ok")) and lgres.get("lost", 1) == 0 and w2 is not None
        if broker.strace_path:
            result["files"] = attribute(broker.strace_path, broker.store, [("start", m0), ("run", m1)])
    return result


def summary(runs):
    out = {}
    for scenario in ("queued", "pairs"):
        mine = [r for r in runs if r["scenario"] == scenario and r.get("ok")]
        if not mine:
            continue
        keys = mine[0]["bytes_per_message"].keys()
        out[scenario] = {"runs": len(mine)}
        for k in keys:
            vals = [r["bytes_per_message"][k] for r in mine if k in r["bytes_per_message"]]
            out[scenario][k] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
            dev = [r["device_bytes_per_message"][k] for r in mine if k in r.get("device_bytes_per_message", {})]
            if dev:
                out[scenario]["device_" + k] = {"median": statistics.median(dev), "min": min(dev), "max": max(dev)}
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tern", default=os.path.join(ROOT, "build-bench", "tern"))
    p.add_argument("--loadgen", default=os.path.join(ROOT, "build-bench", "bench", "tern_loadgen"))
    p.add_argument("--scenarios", default="queued,pairs")
    p.add_argument("--messages", type=int, default=200000, help="queued scenario: messages queued, then drained")
    p.add_argument("--pairs-duration", type=float, default=5)
    p.add_argument("--warm", action="store_true",
                   help="queued: measure a second round of queue and drain in the same broker (the first is not "
                        "measured): the store as on a gateway that has run for a while, its commit log written once")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--sync", choices=("full", "normal"), help="persistence_sync (default: Tern's, full)")
    p.add_argument("--strace", action="store_true", help="attribute the bytes to files (slow)")
    p.add_argument("--max-drain-s", type=float, default=300)
    p.add_argument("--keep", action="store_true", help="keep each run's folder")
    p.add_argument("--loop", action="store_true",
                   help="put the store on an ext4 file system of its own on a loop device (root) and also report "
                        "the bytes that reached that device")
    p.add_argument("--label", default="")
    p.add_argument("--output", default=os.path.join(HERE, "results", "wear-latest.json"))
    args = p.parse_args()
    args.disk = None
    workroot = None
    if args.loop:
        workroot = tempfile.mkdtemp(prefix="tern-wear-disk-")
        args.disk = LoopDisk(workroot)
    try:
        return run_all(args)
    finally:
        if args.disk:
            args.disk.close()
            shutil.rmtree(workroot, ignore_errors=True)


def run_all(args):
    runs = []
    for i in range(args.repeats):
        for scenario in args.scenarios.split(","):
            r = (run_queued if scenario == "queued" else run_pairs)(args, i)
            runs.append(r)
            print(f"{scenario} #{i}: ok={r['ok']} write_bytes/msg {r.get('bytes_per_message')} "
                  f"device bytes/msg {r.get('device_bytes_per_message')} {r.get('error', '')}", flush=True)
            n = r.get("messages") or r.get("loadgen", {}).get("sent") or 1
            for phase, files in (r.get("files") or {}).items():
                for name, e in sorted(files.items()):
                    print(f"    {phase:6} {name:18} {e['model_bytes'] / n:8.1f} B/msg (model), "
                          f"{e['bytes'] / n:8.1f} B/msg passed to {e['write_calls']} writes, {e['syncs']} syncs",
                          flush=True)
    meta = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "label": args.label, "tern": args.tern,
            "messages": args.messages, "sync": args.sync or "default (full)", "strace": args.strace,
            "repeats": args.repeats, "warm": args.warm, "loop": args.loop, "kernel": os.uname().release}
    return drain.write_results(args.output, meta, summary(runs), runs)


if __name__ == "__main__":
    sys.exit(main())
