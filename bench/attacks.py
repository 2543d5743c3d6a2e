#!/usr/bin/env python3
"""Row 16: well-behaved clients' latency while hostile clients attack (issue 22; bench/README.md).

    bench/attacks.py                                  # every attack, tern and mosquitto, 3 repeats
    bench/attacks.py --brokers tern --attacks quiet,connect_flood --repeats 1
    bench/attacks.py --output bench/results/attacks-2026-12-06.json

Each run starts a fresh broker, starts one attack (in its own processes) and, a second later, tern_loadgen's latency
scenario with 50 QoS 1 pairs (100 clients) publishing 64 B messages at 5,000 msgs/s in all: publish-to-delivery
latency p50 / p99 / p99.9 and messages lost, over a 10 s window. `quiet` is the run without an attack; the table gives
each attack's p99 over the quiet p99 of the same broker (the issue's bound: 2x). The attacks are those of
tests/integration/35_hostile_clients_test.cpp at a sustained rate:
  connect_flood   two processes opening 5,000 connections/s each: CONNECT, then gone (half with a reset)
  slow_loris      1,000 connections sending their CONNECT one byte per second each
  half_open       1,000 clients that CONNECT (keep alive 60) and then neither send, read nor close
  huge_packets    20 clients announcing a 256 MB PUBLISH and sending 64 KiB a second of it
  random_bytes    one process connecting and sending 1 MB of random bytes, over and over
  never_reads     a client subscribed to # (every bystander message) that never reads
  hash_10000      a client subscribed to # 10,000 times, reading everything
  many_topics     a client publishing QoS 0 to 100,000 distinct topics in turn, as fast as it may
  deep_topics     a client publishing QoS 0 to topics 1,000 levels deep, as fast as it may
  packet_ids      a client holding 65,535 unreleased QoS 2 messages (every packet id)
With --decoy each attack also runs against a second broker of the same kind on the clients' CPU while the pairs
measure the first, undisturbed one ("ATTACK@decoy"): what the attack costs the clients' side of this 2-core machine
(the attack's own CPU and kernel work share CPU 1 with the load generator). It is an upper bound of that share: the
decoy's own work lands on CPU 1 too, which matters for attacks that cost a broker much (a connect flood), little for
those that cost it little (random bytes: 6 % of a core).
The attacker stands for other devices, so it must not take the broker's CPU by sharing its machine: the broker runs
with one thread (`threads 1` for Tern; mosquitto has one) pinned to CPU 0, the load generator and the attack on
CPU 1, the attack at nice 19 so that the well-behaved clients come first there. What the broker spends on the
attack (accepting, decoding, refusing, closing) is on its own core, as on a gateway. The attack still runs as fast
as the broker lets it: a broker that accepts connections faster serves more of the flood.

Python 3 standard library only.
"""
import argparse
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import drain
from drain import encode_length, string

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def connect_packet(client_id, keep_alive=60):
    body = string(b"MQTT") + bytes([4, 0x02]) + struct.pack(">H", keep_alive) + string(client_id)
    return b"\x10" + encode_length(len(body)) + body


def publish_packet(topic, payload, qos=0, packet_id=0):
    body = string(topic) + (struct.pack(">H", packet_id) if qos else b"") + payload
    return bytes([0x30 | qos << 1]) + encode_length(len(body)) + body


def subscribe_packet(packet_id, topic):
    body = struct.pack(">H", packet_id) + string(topic) + b"\x00"
    return b"\x82" + encode_length(len(body)) + body


def client(port, client_id, keep_alive=60):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(connect_packet(client_id, keep_alive))
    return sock


def drain_forever(sock, stop):
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            if not sock.recv(1 << 16):
                return
        except socket.timeout:
            pass


# ---- the attacks: each runs until `stop` is set (bounded by the run's length) ----

BROKER_CPUS, CLIENT_CPUS = ({0}, {1}) if (os.cpu_count() or 1) >= 2 else (None, None)


def pin(cpus):
    if cpus:
        os.sched_setaffinity(0, cpus)


def attacker(f, port, stop, seed):
    pin(CLIENT_CPUS)
    os.nice(19)
    f(port, stop, seed)


def connect_flood(port, stop, seed):
    connect = connect_packet(b"")
    start, i = time.monotonic(), 0
    while not stop.is_set():
        delay = start + i / 5000 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.send(connect)
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        except OSError:
            pass
        i += 1


def slow_loris(port, stop, seed):
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(1000)]
    connect = connect_packet(b"slow")
    for at in range(len(connect) - 1):
        if stop.wait(1.0):
            break
        for s in socks:
            try:
                s.send(connect[at:at + 1])
            except OSError:
                pass
    stop.wait()


def half_open(port, stop, seed):
    socks = [client(port, b"half-open-%d" % i) for i in range(1000)]
    stop.wait()
    del socks


def huge_packets(port, stop, seed):
    socks = [client(port, b"huge-%d" % i) for i in range(20)]
    for s in socks:
        s.send(b"\x30\xff\xff\xff\x7f")
    chunk = b"x" * 65536
    while not stop.wait(1.0):
        for s in socks:
            try:
                s.send(chunk)
            except OSError:
                pass


def random_bytes(port, stop, seed):
    rng = random.Random(seed)
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(rng.randbytes(1 << 20))
        except OSError:
            pass


def never_reads(port, stop, seed):
    s = client(port, b"never-reads")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(subscribe_packet(1, b"#"))
    stop.wait()


def hash_10000(port, stop, seed):
    s = client(port, b"hashes")
    s.sendall(b"".join(subscribe_packet(i, b"#") for i in range(1, 10001)))
    drain_forever(s, stop)


def many_topics(port, stop, seed):
    s = client(port, b"many-topics")
    i = 0
    while not stop.is_set():
        s.sendall(b"".join(publish_packet(b"distinct/%d" % ((i + k) % 100000), b"x") for k in range(100)))
        i += 100


def deep_topics(port, stop, seed):
    s = client(port, b"deep-topics")
    i = 0
    while not stop.is_set():
        topic = b"/".join([b"d"] * 999 + [b"%d" % (i % 1000)])
        s.sendall(b"".join(publish_packet(topic, b"x") for _ in range(10)))
        i += 1


def packet_ids(port, stop, seed):
    s = client(port, b"packet-ids")
    s.sendall(b"".join(publish_packet(b"ids/x", b"x", 2, i) for i in range(1, 65536)))
    drain_forever(s, stop)


ATTACKS = {"quiet": [], "connect_flood": [connect_flood, connect_flood], "slow_loris": [slow_loris],
           "half_open": [half_open], "huge_packets": [huge_packets], "random_bytes": [random_bytes],
           "never_reads": [never_reads], "hash_10000": [hash_10000], "many_topics": [many_topics],
           "deep_topics": [deep_topics], "packet_ids": [packet_ids]}


def start_broker(kind, args, workdir, port, cpus=BROKER_CPUS):
    conf = os.path.join(workdir, "broker.conf")
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "max_connections -1"]
    if kind == "tern":
        lines.append("threads 1")
    elif os.geteuid() == 0:
        lines.append("user root")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    binary = args.tern if kind == "tern" else "/usr/sbin/mosquitto"
    log = open(os.path.join(workdir, "broker.log"), "a")
    proc = subprocess.Popen([binary, "-c", conf], stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=lambda: pin(cpus))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{kind} did not listen on {port}")


def run_once(kind, attack, args, seed, decoy=False):
    workdir = tempfile.mkdtemp(prefix="tern-attack-")
    port = drain.free_port()
    proc = start_broker(kind, args, workdir, port)
    # decoy: the attack goes to a second broker of the same kind on the clients' CPU, not to the measured one
    decoy_proc, target = None, port
    if decoy:
        target = drain.free_port()
        decoy_proc = start_broker(kind, args, tempfile.mkdtemp(prefix="tern-decoy-"), target, CLIENT_CPUS)
    stop = multiprocessing.Event()
    workers = [multiprocessing.Process(target=attacker, args=(f, target, stop, seed + i), daemon=True)
               for i, f in enumerate(ATTACKS[attack])]
    try:
        for w in workers:
            w.start()
        time.sleep(1.0)  # the attack is under way when the pairs start
        cmd = [args.loadgen, "--port", str(port), "--scenario", "latency", "--qos", "1", "--mqtt", "3",
               "--pubs", "50", "--subs", "50", "--rate", str(args.rate), "--warmup", "2",
               "--duration", str(args.duration), "--threads", "1"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 120,
                             preexec_fn=lambda: pin(CLIENT_CPUS))
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        lg = json.loads(lines[-1]) if lines else {"error": out.stderr.strip()[-300:]}
    finally:
        stop.set()
        for w in workers:
            w.join(5)
            if w.is_alive():
                w.kill()
        alive = proc.poll() is None
        if decoy_proc:
            decoy_proc.kill()
            decoy_proc.wait()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    lat = lg.get("latency_us", {})
    return {"broker": kind, "attack": attack + ("@decoy" if decoy else ""), "seed": seed, "alive_at_end": alive,
            "p50_us": lat.get("p50"), "p99_us": lat.get("p99"), "p999_us": lat.get("p999"),
            "sent": lg.get("sent"), "received": lg.get("received"), "lost": lg.get("lost"),
            "error": lg.get("error")}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tern", default=os.path.join(ROOT, "build-bench", "tern"))
    p.add_argument("--loadgen", default=os.path.join(ROOT, "build-bench", "bench", "tern_loadgen"))
    p.add_argument("--brokers", default="tern,mosquitto")
    p.add_argument("--attacks", default=",".join(ATTACKS))
    p.add_argument("--rate", type=int, default=5000)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--decoy", action="store_true",
                   help="also run each attack against a decoy broker on the clients' CPU (the environment's share)")
    p.add_argument("--output")
    args = p.parse_args()
    runs = []
    attacks = args.attacks.split(",")
    if args.decoy:
        attacks += [a + "@decoy" for a in attacks if a != "quiet"]
    for r in range(args.repeats):  # interleaved: each repeat runs every attack on every broker
        for attack in attacks:
            for kind in args.brokers.split(","):
                name, _, decoy = attack.partition("@")
                result = run_once(kind, name, args, seed=1000 * r + 1, decoy=bool(decoy))
                result["repeat"] = r
                print(json.dumps(result), flush=True)
                runs.append(result)
    summary = {}
    for kind in args.brokers.split(","):
        def median(attack, key):
            xs = [x[key] for x in runs if x["broker"] == kind and x["attack"] == attack and x[key] is not None]
            return statistics.median(xs) if xs else None
        quiet = median("quiet", "p99_us")
        summary[kind] = {a: {"p50_us": median(a, "p50_us"), "p99_us": median(a, "p99_us"),
                             "p99_over_quiet": round(median(a, "p99_us") / quiet, 2)
                             if quiet and median(a, "p99_us") else None,
                             "lost": sum(x["lost"] or 0 for x in runs if x["broker"] == kind and x["attack"] == a),
                             "all_alive": all(x["alive_at_end"] for x in runs
                                              if x["broker"] == kind and x["attack"] == a)}
                         for a in attacks}
    drain.report(args, runs, summary)


if __name__ == "__main__":
    sys.exit(main())
