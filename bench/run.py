#!/usr/bin/env python3
"""Runs Tern's benchmark scenarios side by side against peer brokers (see bench/README.md).

    bench/run.py                      # every scenario, tern + mosquitto + flashmq + nanomq, 3 repeats
    bench/run.py --quick              # 1 repeat, short runs, fewer connections: a smoke check
    bench/run.py --scenarios fanin-16-v3,pairs-q1-v3 --brokers tern,flashmq
    bench/run.py --broker 'emqx=/opt/emqx/bin/emqx foreground:1883'   # any other broker: NAME=CMD:PORT
    bench/run.py --scenarios tls          # TLS against plain TCP: connection set-up, fan-in (tern, mosquitto, flashmq)
    bench/run.py --scenarios durable      # durable QoS 1: persistence on against off (tern, mosquitto)
    bench/run.py --scenarios auth         # passwords and a 1,000-rule ACL against none (tern)
    bench/run.py --scenarios websockets   # MQTT over WebSockets against TCP (tern, mosquitto), compression (tern)
    bench/run.py --scenarios rules        # fan-in with 20 local rules against none (tern)

Every run gets a fresh broker process on a fresh port (CMD may say {port}; otherwise its fixed PORT is used).
Runs are interleaved broker by broker (A B C D A B C D) so machine drift hits all alike; the table shows medians.
The broker's CPU time is read from /proc/PID/stat (utime + stime, its whole process tree) at the start and end of
the load generator's measured window, which the generator announces on stderr ("EVENT measure_start"); memory
from /proc/PID/status (VmHWM, VmRSS). A run that loses a QoS 1/2 message is FAILED, not a number.

Python 3 standard library only.
"""
import argparse
import atexit
import base64
import datetime
import hashlib
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = ("mosquitto", "flashmq", "nanomq")
START_PEER = os.environ.get("TERN_START_PEER", os.path.join(ROOT, "..", "shared", "peers", "start-peer"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
README = os.path.join(HERE, "README.md")
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

# id, description, loadgen arguments. Scenario numbers follow issue 8.
SCENARIOS = [
    ("fanin-16-v3", "1. fan-in 10->1, QoS 0, 16 B, 3.1.1", ["--scenario", "fanin", "--mqtt", "3"]),
    ("fanin-16-v5", "1. fan-in 10->1, QoS 0, 16 B, 5.0", ["--scenario", "fanin", "--mqtt", "5"]),
    ("fanin-1k-v3", "1. fan-in 10->1, QoS 0, 1 KiB, 3.1.1", ["--scenario", "fanin", "--mqtt", "3", "--payload", "1024"]),
    ("fanout-v3", "2. fan-out 1->100, QoS 0, 16 B, 3.1.1", ["--scenario", "fanout", "--mqtt", "3"]),
    ("fanout-v5", "2. fan-out 1->100, QoS 0, 16 B, 5.0", ["--scenario", "fanout", "--mqtt", "5"]),
    ("pairs-q1-v3", "3. 50 pairs, QoS 1, 64 B, 3.1.1", ["--scenario", "pairs", "--qos", "1", "--mqtt", "3"]),
    ("pairs-q1-v5", "3. 50 pairs, QoS 1, 64 B, 5.0", ["--scenario", "pairs", "--qos", "1", "--mqtt", "5"]),
    ("pairs-q2-v3", "3. 50 pairs, QoS 2, 64 B, 3.1.1", ["--scenario", "pairs", "--qos", "2", "--mqtt", "3"]),
    ("pairs-q2-v5", "3. 50 pairs, QoS 2, 64 B, 5.0", ["--scenario", "pairs", "--qos", "2", "--mqtt", "5"]),
    ("latency-q0-v3", "4. latency 10 pairs @10k/s, QoS 0, 3.1.1", ["--scenario", "latency", "--qos", "0", "--mqtt", "3"]),
    ("latency-q1-v3", "4. latency 10 pairs @10k/s, QoS 1, 3.1.1", ["--scenario", "latency", "--qos", "1", "--mqtt", "3"]),
    ("latency-q1-v5", "4. latency 10 pairs @10k/s, QoS 1, 5.0", ["--scenario", "latency", "--qos", "1", "--mqtt", "5"]),
    ("idle-v3", "5. idle connections, 3.1.1", ["--scenario", "idle", "--mqtt", "3"]),
    ("storm-clean-v3", "6. connect storm, clean session, 3.1.1", ["--scenario", "storm", "--mqtt", "3"]),
    ("storm-persist-v3", "6. connect storm, persistent session, 3.1.1",
     ["--scenario", "storm", "--mqtt", "3", "--persistent"]),
    ("storm-persist-v5", "6. connect storm, persistent session, 5.0",
     ["--scenario", "storm", "--mqtt", "5", "--persistent"]),
    ("retained-v3", "7. retained topics, then a # subscriber, 3.1.1", ["--scenario", "retained", "--mqtt", "3"]),
    ("wildcard-v3", "8. wildcard routing, 10,000 filters, QoS 0, 3.1.1", ["--scenario", "wildcard", "--mqtt", "3"]),
    ("startup", "startup and idle memory (Tern with threads 1)", None),
    # TLS (issue "TLS with mbedTLS"): each load over TLS and over plain TCP, same broker configuration otherwise.
    ("tls-connect-plain-v3", "9. connection set-up, 32 at a time, plain TCP, 3.1.1",
     ["--scenario", "connect", "--mqtt", "3"]),
    ("tls-connect-v3", "9. connection set-up, 32 at a time, TLS 1.2, 3.1.1",
     ["--scenario", "connect", "--mqtt", "3"]),
    ("tls-fanin-16-plain-v3", "9. fan-in 10->1, QoS 0, 16 B, plain TCP, 3.1.1", ["--scenario", "fanin", "--mqtt", "3"]),
    ("tls-fanin-16-v3", "9. fan-in 10->1, QoS 0, 16 B, TLS 1.2, 3.1.1", ["--scenario", "fanin", "--mqtt", "3"]),
    ("tls-fanin-1k-plain-v3", "9. fan-in 10->1, QoS 0, 1 KiB, plain TCP, 3.1.1",
     ["--scenario", "fanin", "--mqtt", "3", "--payload", "1024"]),
    ("tls-fanin-1k-v3", "9. fan-in 10->1, QoS 0, 1 KiB, TLS 1.2, 3.1.1",
     ["--scenario", "fanin", "--mqtt", "3", "--payload", "1024"]),
    # TLS session resumption (issue 23): the storm's connect / CONNACK / DISCONNECT loop over TLS, every handshake
    # full, against every reconnect resuming the client's session by ticket, or by session id (no tickets); the
    # set-up and the loops again with an EC P-256 certificate; and a reconnect storm after a broker restart.
    ("tls-storm-full-v3", "9. reconnect loop, 32 at a time, TLS 1.2, every handshake full, 3.1.1",
     ["--scenario", "storm", "--mqtt", "3"]),
    ("tls-storm-resumed-v3", "9. reconnect loop, 32 at a time, TLS 1.2, sessions resumed by ticket, 3.1.1",
     ["--scenario", "storm", "--mqtt", "3", "--tls-resume"]),
    ("tls-storm-cache-v3", "9. reconnect loop, 32 at a time, TLS 1.2, sessions resumed by id (no tickets), 3.1.1",
     ["--scenario", "storm", "--mqtt", "3", "--tls-resume", "--tls-no-tickets"]),
    ("tls-connect-ec-v3", "9. connection set-up, 32 at a time, TLS 1.2, EC P-256 certificate, 3.1.1",
     ["--scenario", "connect", "--mqtt", "3"]),
    ("tls-storm-full-ec-v3", "9. reconnect loop, TLS 1.2, EC P-256 certificate, every handshake full, 3.1.1",
     ["--scenario", "storm", "--mqtt", "3"]),
    ("tls-storm-resumed-ec-v3", "9. reconnect loop, TLS 1.2, EC P-256 certificate, resumed by ticket, 3.1.1",
     ["--scenario", "storm", "--mqtt", "3", "--tls-resume"]),
    ("tls-reboot-v3", "15. reconnect storm: 2,000 TLS clients (EC P-256), broker killed and restarted, 3.1.1",
     ["--scenario", "reconnect", "--mqtt", "3", "--tls-resume"]),
    ("tls-reboot-keyfile-v3",
     "15. reconnect storm as above, Tern with tls_session_ticket_key_file (tickets survive the restart), 3.1.1",
     ["--scenario", "reconnect", "--mqtt", "3", "--tls-resume"]),
    # Durable QoS 1 (issue "SQLite persistence"): every client has a persistent session, so the broker must store what
    # it queues for the subscribers; the same load with persistence off is the reference.
    ("durable-q1-v3", "10. durable: 50 pairs, QoS 1, 64 B, persistent sessions, persistence on, 3.1.1",
     ["--scenario", "pairs", "--qos", "1", "--mqtt", "3", "--persistent"]),
    ("durable-q1-off-v3", "10. durable: 50 pairs, QoS 1, 64 B, persistent sessions, persistence off, 3.1.1",
     ["--scenario", "pairs", "--qos", "1", "--mqtt", "3", "--persistent"]),
    ("durable-q1-v5", "10. durable: 50 pairs, QoS 1, 64 B, session expiry 3600 s, persistence on, 5.0",
     ["--scenario", "pairs", "--qos", "1", "--mqtt", "5", "--persistent"]),
    ("durable-q1-off-v5", "10. durable: 50 pairs, QoS 1, 64 B, session expiry 3600 s, persistence off, 5.0",
     ["--scenario", "pairs", "--qos", "1", "--mqtt", "5", "--persistent"]),
    # The same with client ids and topics of the lengths real clients use (34 and 40 characters; the rows above use
    # ~12, which std::string keeps inline, so they would hide a cost per byte of a name).
    ("durable-long-q1-v3", "10. durable, long names: 50 pairs, QoS 1, 64 B, persistent sessions, persistence on, 3.1.1",
     ["--scenario", "pairs", "--qos", "1", "--mqtt", "3", "--persistent", "--long-names"]),
    ("durable-long-q1-off-v3",
     "10. durable, long names: 50 pairs, QoS 1, 64 B, persistent sessions, persistence off, 3.1.1",
     ["--scenario", "pairs", "--qos", "1", "--mqtt", "3", "--persistent", "--long-names"]),
    # Tern on one network thread against mosquitto (single-threaded): issue 8's "threads 1 at least 5x mosquitto".
    ("t1-fanin-16-v3", "11. threads 1: fan-in 10->1, QoS 0, 16 B, 3.1.1", ["--scenario", "fanin", "--mqtt", "3"]),
    ("t1-fanout-v3", "11. threads 1: fan-out 1->100, QoS 0, 16 B, 3.1.1", ["--scenario", "fanout", "--mqtt", "3"]),
    ("t1-pairs-q1-v3", "11. threads 1: 50 pairs, QoS 1, 64 B, 3.1.1",
     ["--scenario", "pairs", "--qos", "1", "--mqtt", "3"]),
]
# Authentication and ACLs (issue "Authentication and ACLs"): the loads of rows 11 with every client logging in and a
# 1,000-rule ACL (AuthFiles), against none, and a connection set-up with $7$ passwords against none. Subscribers
# subscribe to F/# instead of F (--wide-filters, the same messages) in all three halves of a load, so that the ACL can
# grant the filter only in part.
AUTH_LOADS = [("fanin-16", "fan-in 10->1, QoS 0, 16 B", ["--scenario", "fanin"]),
              ("fanout", "fan-out 1->100, QoS 0, 16 B", ["--scenario", "fanout"]),
              ("pairs-q1", "50 pairs, QoS 1, 64 B", ["--scenario", "pairs", "--qos", "1"])]
AUTH_HALVES = [("-off", "no password file, no ACL"), ("", "passwords + ACL, filters partly readable"),
               ("-all", "passwords + ACL, filters wholly readable")]
SCENARIOS += [(f"auth-{kind}{half}-v3", f"12. threads 1: {what}, F/# filters, {how}, 3.1.1",
               [*largs, "--mqtt", "3", "--wide-filters"])
              for kind, what, largs in AUTH_LOADS for half, how in AUTH_HALVES]
SCENARIOS += [("auth-connect-off-v3", "12. connection set-up, 32 at a time, a username each, no password file, 3.1.1",
               ["--scenario", "connect", "--mqtt", "3"]),
              ("auth-connect-v3", "12. connection set-up, 32 at a time, $7$ passwords (101 iterations), 3.1.1",
               ["--scenario", "connect", "--mqtt", "3"])]
# MQTT over WebSockets (issue 20): each load over ws:// and over TCP against the same broker configuration but the
# listener's protocol; idle connections over both; wss:// fan-in; and, for Tern only, permessage-deflate on sensor
# JSON against the same JSON uncompressed. The group's ids start with "ws-" (--scenarios websockets selects them).
SCENARIOS += [
    ("ws-fanin-16-tcp-v3", "14. fan-in 10->1, QoS 0, 16 B, TCP, 3.1.1", ["--scenario", "fanin", "--mqtt", "3"]),
    ("ws-fanin-16-v3", "14. fan-in 10->1, QoS 0, 16 B, ws://, 3.1.1", ["--scenario", "fanin", "--mqtt", "3"]),
    ("ws-fanout-tcp-v3", "14. fan-out 1->100, QoS 0, 16 B, TCP, 3.1.1", ["--scenario", "fanout", "--mqtt", "3"]),
    ("ws-fanout-v3", "14. fan-out 1->100, QoS 0, 16 B, ws://, 3.1.1", ["--scenario", "fanout", "--mqtt", "3"]),
    ("ws-idle-tcp-v3", "14. idle connections, TCP, 3.1.1", ["--scenario", "idle", "--mqtt", "3"]),
    ("ws-idle-v3", "14. idle connections, ws://, 3.1.1", ["--scenario", "idle", "--mqtt", "3"]),
    ("ws-fanin-16-tls-v3", "14. fan-in 10->1, QoS 0, 16 B, wss:// (TLS 1.2), 3.1.1",
     ["--scenario", "fanin", "--mqtt", "3"]),
    ("ws-json-fanin-v3", "14. fan-in 10->1, QoS 0, 256 B JSON, ws://, uncompressed, 3.1.1",
     ["--scenario", "fanin", "--mqtt", "3", "--payload", "256", "--json-payload"]),
    ("ws-json-fanin-deflate-v3", "14. fan-in 10->1, QoS 0, 256 B JSON, ws:// + permessage-deflate, 3.1.1",
     ["--scenario", "fanin", "--mqtt", "3", "--payload", "256", "--json-payload"]),
    ("ws-json-fanout-v3", "14. fan-out 1->100, QoS 0, 256 B JSON, ws://, uncompressed, 3.1.1",
     ["--scenario", "fanout", "--mqtt", "3", "--payload", "256", "--json-payload"]),
    ("ws-json-fanout-deflate-v3", "14. fan-out 1->100, QoS 0, 256 B JSON, ws:// + permessage-deflate, 3.1.1",
     ["--scenario", "fanout", "--mqtt", "3", "--payload", "256", "--json-payload"]),
    # At a fixed rate nearly every frame holds one message, as with most real clients: what compression saves and
    # costs per message when it cannot lean on the rest of a 64 KiB batch.
    ("ws-json-latency-v3", "14. 10 pairs @10k/s, QoS 0, 256 B JSON, ws://, uncompressed, 3.1.1",
     ["--scenario", "latency", "--qos", "0", "--mqtt", "3", "--payload", "256", "--json-payload"]),
    ("ws-json-latency-deflate-v3", "14. 10 pairs @10k/s, QoS 0, 256 B JSON, ws:// + permessage-deflate, 3.1.1",
     ["--scenario", "latency", "--qos", "0", "--mqtt", "3", "--payload", "256", "--json-payload"]),
]
# Local rules (issue 24): fan-in with 20 rules loaded against none, Tern only. Five rules' FROM filters match the
# fan-in's topic (bench/all) and their WHERE never holds, so every message is evaluated by five rules and nothing is
# derived: what is measured is the cost of evaluation, not extra deliveries. Two of the five read the payload as JSON
# (the generator's payload is a binary stamp, so the parse fails at its first byte and the rule counts a payload that
# is not JSON); fifteen rules' filters match nothing.
SCENARIOS += [
    ("rules-fanin-16-off-v3", "16. fan-in 10->1, QoS 0, 16 B, no rules, 3.1.1", ["--scenario", "fanin", "--mqtt", "3"]),
    ("rules-fanin-16-v3", "16. fan-in 10->1, QoS 0, 16 B, 20 rules (5 match the topic), 3.1.1",
     ["--scenario", "fanin", "--mqtt", "3"]),
]


def bench_rules():
    """The 20 rules of the rules-fanin rows, as tern.conf lines."""
    matching = [('"bench/all"', "topic[3] = 'never'"), ('"bench/+"', "qos > 1"),
                ('"+/all"', "clientid = 'nobody' and qos = 0"), ('"bench/#"', "payload.t > 30"),
                ('"#"', "payload.alarm = true or payload.level >= 5")]
    lines = []
    for i, (source, where) in enumerate(matching):
        lines += [f"rule match{i}", f"  sql SELECT payload.t AS t, topic[2] AS room FROM {source} WHERE {where}",
                  f"  republish alarms/${{room}}/{i} qos 1"]
    for i in range(15):
        lines += [f"rule other{i}",
                  f'  sql SELECT payload.temp AS t FROM "sensors/+/temp{i}" WHERE payload.temp > {i}',
                  f"  republish alarms/{i}/${{topic[2]}}"]
    return lines


# Names for groups of rows in --scenarios, besides the ids' own prefixes.
SCENARIO_GROUPS = {"websockets": "ws-", "rules": "rules-"}

# Scenarios that need a broker configuration start-peer does not make: run.py writes every broker's configuration
# itself for them (the same settings as start-peer's, plus the listed ones), also for their plain / persistence-off
# halves, so that the two halves of a comparison differ in that one setting only.
#   tls: the listener speaks TLS (certificates made at run time, see Certificates); tls_key: "rsa" or "ec" for
#        this row whatever --tls-key says
#   reboot: the generator's reconnect scenario: once its clients are connected, the broker is killed (SIGKILL, as a
#           power cut or reboot) and started again on the same port; ticket_key_file: tern keeps its ticket keys in
#           the run's folder (tls_session_ticket_key_file), so they survive the restart
#   persistence: tern "persistence true" + "persistence_sync full"; mosquitto "persistence true" (autosave_interval
#                default: it writes its database every 1800 s and at exit, not per message)
#   tern_threads: Tern's "threads" (default: --tern-threads)
#   username: every client sends it (%i: the client's index) with AuthFiles.password, in both halves of a comparison
#   passwords: tern "allow_anonymous false" + "password_file" with a $7$ hash for every user (AuthFiles)
#   acl: tern "acl_file", the subscribers' filters "some" (partly) or "all" (wholly) readable (AuthFiles.acl_text)
#   ws: the listener speaks MQTT over WebSockets (tern and mosquitto "protocol websockets"; mosquitto 2.0.11 also
#       gets an MQTT listener on a unix socket in the run's folder, without which it does not start, see
#       bench/README.md); ws_compression: tern "websockets_compression true" and the generator offers
#       permessage-deflate (--ws-deflate)
#   brokers: the brokers that run it (NanoMQ was built without TLS; FlashMQ and NanoMQ are not in the durable set;
#            the threads 1 rows compare with mosquitto, the single-threaded peer; the websockets rows compare
#            with Debian's mosquitto, as issue 20 asks)
TLS_BROKERS = ("tern", "mosquitto", "flashmq")
DURABLE_BROKERS = ("tern", "mosquitto")
SINGLE_THREAD = {"tern_threads": 1, "brokers": ("tern", "mosquitto")}
SCENARIO_OPTIONS = {
    "tls-connect-plain-v3": {"tls": False, "brokers": TLS_BROKERS},
    "tls-connect-v3": {"tls": True, "brokers": TLS_BROKERS},
    "tls-fanin-16-plain-v3": {"tls": False, "brokers": TLS_BROKERS},
    "tls-fanin-16-v3": {"tls": True, "brokers": TLS_BROKERS},
    "tls-fanin-1k-plain-v3": {"tls": False, "brokers": TLS_BROKERS},
    "tls-fanin-1k-v3": {"tls": True, "brokers": TLS_BROKERS},
    "tls-storm-full-v3": {"tls": True, "brokers": TLS_BROKERS},
    "tls-storm-resumed-v3": {"tls": True, "brokers": TLS_BROKERS},
    "tls-storm-cache-v3": {"tls": True, "brokers": TLS_BROKERS},
    "tls-connect-ec-v3": {"tls": True, "tls_key": "ec", "brokers": TLS_BROKERS},
    "tls-storm-full-ec-v3": {"tls": True, "tls_key": "ec", "brokers": TLS_BROKERS},
    "tls-storm-resumed-ec-v3": {"tls": True, "tls_key": "ec", "brokers": TLS_BROKERS},
    "tls-reboot-v3": {"tls": True, "tls_key": "ec", "reboot": True, "brokers": TLS_BROKERS},
    "tls-reboot-keyfile-v3": {"tls": True, "tls_key": "ec", "reboot": True, "ticket_key_file": True,
                              "brokers": ("tern",)},
    "durable-q1-v3": {"persistence": True, "brokers": DURABLE_BROKERS},
    "durable-q1-off-v3": {"persistence": False, "brokers": DURABLE_BROKERS},
    "durable-q1-v5": {"persistence": True, "brokers": DURABLE_BROKERS},
    "durable-q1-off-v5": {"persistence": False, "brokers": DURABLE_BROKERS},
    "durable-long-q1-v3": {"persistence": True, "brokers": DURABLE_BROKERS},
    "durable-long-q1-off-v3": {"persistence": False, "brokers": DURABLE_BROKERS},
    "t1-fanin-16-v3": SINGLE_THREAD,
    "t1-fanout-v3": SINGLE_THREAD,
    "t1-pairs-q1-v3": SINGLE_THREAD,
}
AUTH_LOAD = {"tern_threads": 1, "brokers": ("tern",), "username": "bench"}
for _kind, _, _ in AUTH_LOADS:
    SCENARIO_OPTIONS[f"auth-{_kind}-off-v3"] = AUTH_LOAD
    SCENARIO_OPTIONS[f"auth-{_kind}-v3"] = {**AUTH_LOAD, "passwords": True, "acl": "some"}
    SCENARIO_OPTIONS[f"auth-{_kind}-all-v3"] = {**AUTH_LOAD, "passwords": True, "acl": "all"}
SCENARIO_OPTIONS["rules-fanin-16-off-v3"] = {"brokers": ("tern",)}
SCENARIO_OPTIONS["rules-fanin-16-v3"] = {"brokers": ("tern",), "rules": True}
SCENARIO_OPTIONS["auth-connect-off-v3"] = {"brokers": ("tern",), "username": "dev%i"}
SCENARIO_OPTIONS["auth-connect-v3"] = {"brokers": ("tern",), "username": "dev%i", "passwords": True}
WS_BROKERS = ("tern", "mosquitto")
for _sid, _, _ in SCENARIOS:
    if _sid.startswith("ws-json-"):
        SCENARIO_OPTIONS[_sid] = {"ws": True, "ws_compression": _sid.endswith("-deflate-v3"), "brokers": ("tern",)}
    elif _sid.startswith("ws-"):
        SCENARIO_OPTIONS[_sid] = {"ws": "-tcp-" not in _sid, "tls": "-tls-" in _sid, "brokers": WS_BROKERS}


def idle_row(sid):
    """Rows of the generator's idle scenario: RSS per idle connection."""
    return sid.startswith(("idle", "ws-idle"))


def connect_row(sid):
    """Rows whose measured window is the connection set-up itself (the generator's connect scenario), or so short
    that the broker's CPU time needs the fine clock (the reconnect storm)."""
    return sid.startswith(("tls-connect", "auth-connect", "tls-reboot"))


def reboot_row(sid):
    return SCENARIO_OPTIONS.get(sid, {}).get("reboot", False)


def runs_on(sid, broker):
    """Whether scenario sid runs on this broker (a --broker NAME=CMD cannot be given TLS or persistence)."""
    opts = SCENARIO_OPTIONS.get(sid)
    if opts is None:
        return True
    return broker.command is None and broker.name in opts.get("brokers", (broker.name,))


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------------------
# /proc sampling over a process tree (a broker started through a wrapper may fork).

def process_tree(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError):
            pass
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def cpu_seconds(pid):
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError):
            pass
    return total / CLK_TCK


def cpu_seconds_fine(pid):
    """utime + stime at nanosecond resolution, summed over the process tree: each process's CPU-time clock
    (clock_getcpuclockid(3): clock id (~pid << 3) | CPUCLOCK_SCHED). For windows too short for clock ticks: the
    plain connect row lasts ~0.3 s, in which a broker uses a few 10 ms ticks."""
    total = 0.0
    for p in process_tree(pid):
        try:
            total += time.clock_gettime(((~p) << 3) | 2)
        except OSError:
            pass
    return total


def memory_kib(pid):
    """(VmRSS, VmHWM) in KiB, summed over the process tree."""
    rss = hwm = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        hwm += int(line.split()[1])
        except OSError:
            pass
    return rss, hwm


# ----------------------------------------------------------------------------------------------------------------
# Brokers.

class Ports:
    def __init__(self, start):
        self.next = start

    def take(self):
        while True:
            port = self.next
            self.next = 20000 + (self.next - 20000 + 1) % 20000
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))  # no SO_REUSEADDR: TIME_WAIT sockets on it count as busy
                return port
            except OSError:
                continue
            finally:
                s.close()


def wait_listening(port, proc, timeout=10.0):
    """Seconds until a TCP connect to the port succeeds, or None."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            return None
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return time.monotonic() - start
        except OSError:
            time.sleep(0.0005)
    return None


class Certificates:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost, made with openssl in a temporary folder
    on first use and deleted at exit; never committed. The folder and files are world-readable because mosquitto
    drops root to its own user before it reads them (test keys only, valid 2 days)."""

    def __init__(self, key_type):
        self.key_type = key_type
        self.dir = None

    def _newkey(self):
        if self.key_type == "rsa":
            return ["-newkey", "rsa:2048"]
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]

    def make(self):
        if self.dir is not None:
            return self
        self.dir = tempfile.mkdtemp(prefix="tern-bench-certs-")
        atexit.register(shutil.rmtree, self.dir, True)
        d = self.dir

        def openssl(*argv):
            r = subprocess.run(["openssl", *argv], cwd=d, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"run.py: openssl {' '.join(argv[:2])} failed: {r.stderr.strip()[-300:]}")

        with open(os.path.join(d, "server.ext"), "w") as f:
            f.write("basicConstraints = CA:FALSE\nsubjectAltName = IP:127.0.0.1,DNS:localhost\n"
                    "extendedKeyUsage = serverAuth\n")
        openssl("req", "-x509", *self._newkey(), "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
                "-subj", "/CN=tern-bench-ca", "-days", "2")
        openssl("req", "-new", *self._newkey(), "-nodes", "-keyout", "server.key", "-out", "server.csr",
                "-subj", "/CN=localhost")
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "server.crt", "-days", "2", "-extfile", "server.ext")
        os.chmod(d, 0o755)
        for f in os.listdir(d):
            os.chmod(os.path.join(d, f), 0o644)
        return self

    @property
    def ca(self):
        return os.path.join(self.dir, "ca.crt")

    @property
    def cert(self):
        return os.path.join(self.dir, "server.crt")

    @property
    def key(self):
        return os.path.join(self.dir, "server.key")


class AuthFiles:
    """A password file and ACL files for the auth rows, written to a temporary folder on first use (deleted at exit).

    Passwords: every user's password is AuthFiles.password, hashed as mosquitto_passwd 2.0 writes it ($7$, PBKDF2-
    HMAC-SHA512, 101 iterations, a random 12-byte salt; password_file.hpp), for the ACL's users, the load's user and
    the connect rows' dev0..devN-1.

    ACL: exactly ACL_RULES rules (topic and pattern lines): one anonymous rule, patterns with %c and %u, the load's
    user "bench" in the middle of the file and, for the rest, other users with rules of their own. bench may write
    bench/all and bench/pair/+ and read bench/#, and is denied a subtree the load never publishes to; with acl "some"
    that subtree lies under the subscribers' F/# filters (deny bench/all/private/#: bench/all/# is partly readable,
    so each delivery is checked, through the session's per-topic cache), with "all" it does not (deny
    archive/bench/#: bench/all/# is wholly readable, no check per delivery). The two files differ in those lines only."""

    password = "bench-secret"
    ACL_RULES = 1000
    PATTERNS = ["pattern readwrite clients/%c/#", "pattern deny clients/%c/secret/#", "pattern read users/%u/inbox/#",
                "pattern write users/%u/outbox/#", "pattern read fleet/%u/config/%c"]
    BENCH_DENIES = {"some": ["topic deny bench/all/private/#", "topic deny bench/pair/+/private/#"],
                    "all": ["topic deny archive/bench/all/#", "topic deny archive/bench/pair/#"]}
    BENCH_RULES = ["topic read fleet/+/announce", "topic write bench/all", "topic write bench/pair/+",
                   "topic read bench/#"]

    def __init__(self, connections):
        self.connections = connections
        self.dir = None
        self.others = []  # (user, its rules)
        anonymous = 1
        bench = len(self.BENCH_DENIES["some"]) + len(self.BENCH_RULES)
        spare = self.ACL_RULES - anonymous - len(self.PATTERNS) - bench
        for i in range(spare // 4):
            u = f"device-{i:04}"
            self.others.append((u, [f"topic readwrite devices/{u}/#", "topic read fleet/+/announce",
                                    f"topic deny devices/{u}/firmware/#", f"topic write telemetry/{u}/+"]))
        self.others[-1][1].extend(f"topic read telemetry/+/{n}" for n in range(spare % 4))

    @staticmethod
    def hash7(password, iterations=101):
        salt = os.urandom(12)
        digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
        return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"

    def acl_text(self, readable):
        lines = [f"# bench/run.py: {self.ACL_RULES} rules, bench's filters {readable} readable (bench/README.md)",
                 "topic read public/#", *self.PATTERNS]
        for i, (user, rules) in enumerate(self.others):
            if i == len(self.others) // 2:
                lines += ["user bench", *self.BENCH_DENIES[readable], *self.BENCH_RULES]
            lines += [f"user {user}", *rules]
        rules = sum(1 for l in lines if l.startswith(("topic ", "pattern ")))
        assert rules == self.ACL_RULES, rules
        return "\n".join(lines) + "\n"

    def make(self):
        if self.dir is not None:
            return self
        self.dir = tempfile.mkdtemp(prefix="tern-bench-auth-")
        atexit.register(shutil.rmtree, self.dir, True)
        users = ["bench"] + [u for u, _ in self.others] + [f"dev{i}" for i in range(self.connections)]
        with open(self.password_file, "w") as f:
            f.writelines(f"{u}:{self.hash7(self.password)}\n" for u in users)
        for readable in self.BENCH_DENIES:
            with open(self.acl_file(readable), "w") as f:
                f.write(self.acl_text(readable))
        return self

    @property
    def password_file(self):
        return os.path.join(self.dir, "passwd")

    def acl_file(self, readable):
        return os.path.join(self.dir, f"acl-{readable}")

    def tern_lines(self, opts):
        """Tern's configuration lines for an auth row's opts (see SCENARIO_OPTIONS)."""
        lines = []
        if opts.get("passwords"):
            lines += ["allow_anonymous false", f"password_file {self.make().password_file}"]
        if opts.get("acl"):
            lines += [f"acl_file {self.make().acl_file(opts['acl'])}"]
        return lines


def peer_config(name, port, workdir, opts, certs):
    """argv starting a peer with start-peer's settings plus opts' TLS / persistence / WebSockets (see
    SCENARIO_OPTIONS)."""
    tls, persistence, ws = opts.get("tls", False), opts.get("persistence", False), opts.get("ws", False)
    os.chmod(workdir, 0o777)  # mosquitto drops root before it opens its log and its database
    if name == "mosquitto":
        conf = os.path.join(workdir, "mosquitto.conf")
        lines = [f"listener {port} 127.0.0.1"]
        if ws:
            # mosquitto 2.0.11 refuses to start with only a websockets listener ("Unable to start any listening
            # sockets", eclipse-mosquitto/mosquitto#2284): an MQTT listener on a unix socket that nothing uses. It also
            # binds the websockets listener to every address, not the one given (#3045).
            lines = [f"listener 0 {workdir}/mqtt.sock", f"listener {port} 127.0.0.1", "protocol websockets"]
        if tls:
            lines += [f"certfile {certs.cert}", f"keyfile {certs.key}"]
        lines += ["allow_anonymous true", "set_tcp_nodelay true", "max_queued_messages 100000",
                  f"log_dest file {workdir}/mosquitto.log"]
        if persistence:
            store = os.path.join(workdir, "store")
            os.mkdir(store)
            os.chmod(store, 0o777)
            lines += ["persistence true", f"persistence_location {store}/"]  # the trailing slash is required
        else:
            lines += ["persistence false"]
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        return ["/usr/sbin/mosquitto", "-c", conf]
    if name == "flashmq":
        if persistence or ws:
            raise ValueError("run.py does not configure flashmq for persistence or WebSockets")
        conf = os.path.join(workdir, "flashmq.conf")
        tls_lines = f"    fullchain {certs.cert}\n    privkey {certs.key}\n" if tls else ""
        with open(conf, "w") as f:
            f.write(f"thread_count {os.cpu_count()}\nallow_anonymous true\nlog_file {workdir}/flashmq.log\n"
                    f"log_level warning\nrlimit_nofile {resource.getrlimit(resource.RLIMIT_NOFILE)[1]}\n"
                    f"max_qos_msg_pending_per_client 65535\nmax_qos_bytes_pending_per_client 104857600\n"
                    f"listen {{\n    protocol mqtt\n    inet_protocol ip4\n    inet4_bind_address 127.0.0.1\n"
                    f"    port {port}\n{tls_lines}    tcp_nodelay true\n}}\n")
        return [os.path.join(os.path.dirname(START_PEER), "flashmq"), "--config-file", conf]
    raise ValueError(f"run.py cannot configure {name} for TLS or persistence")


class Broker:
    def __init__(self, name, args, fixed_port=None, command=None):
        self.name, self.args, self.fixed_port, self.command = name, args, fixed_port, command

    def start(self, port, workdir, threads=None, opts=None, certs=None, auth=None):
        log_path = os.path.join(workdir, f"{self.name}.out")
        out = open(log_path, "wb")
        env = dict(os.environ, PEER_LOG_DIR=workdir)
        if self.name == "tern":
            conf = os.path.join(workdir, "tern.conf")
            lines = [f"listener {port} 127.0.0.1"]
            if opts and opts.get("ws"):
                lines += ["protocol websockets"]
                if opts.get("ws_compression"):
                    lines += ["websockets_compression true"]
            if opts and opts.get("tls"):
                lines += [f"certfile {certs.cert}", f"keyfile {certs.key}"]
            if opts and opts.get("ticket_key_file"):
                lines += [f"tls_session_ticket_key_file {os.path.join(workdir, 'tickets.key')}"]
            security = auth.tern_lines(opts) if opts else []
            if not any(line.startswith("allow_anonymous") for line in security):
                security.insert(0, "allow_anonymous true")
            lines += [*security, f"threads {threads if threads is not None else self.args.tern_threads}",
                      "max_queued_messages 100000", "max_inflight_messages 65535"]
            if opts and opts.get("rules"):
                lines += bench_rules()
            if opts and opts.get("persistence"):
                store = os.path.join(workdir, "store")
                os.makedirs(store, exist_ok=True)
                lines += ["persistence true", f"persistence_location {store}", "persistence_sync full"]
            with open(conf, "w") as f:
                f.write("\n".join(lines) + "\n")
            argv = [self.args.tern, "-c", conf]
        elif self.name in PEERS and self.command is None and opts is not None:
            argv = peer_config(self.name, port, workdir, opts, certs)
        elif self.name in PEERS and self.command is None:
            argv = [START_PEER, self.name, str(port)]
        else:
            argv = ["bash", "-c", "exec " + self.command.replace("{port}", str(port))]
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        out.close()
        startup = wait_listening(port, proc)
        return proc, startup, log_path


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything it left behind
    except OSError:
        pass


# ----------------------------------------------------------------------------------------------------------------
# One run.

def scenario_args(sid, args, certs):
    extra = ["--warmup", str(args.warmup), "--duration", str(args.duration), "--threads", str(args.loadgen_threads)]
    if idle_row(sid):
        extra = ["--connections", str(args.connections), "--hold", "60"]
    elif sid.startswith("retained"):
        extra = ["--topics", str(args.topics), "--retained-timeout", "30"]
    elif reboot_row(sid):
        extra = ["--connections", str(args.connect_connections), "--setup-timeout", "120",
                 "--reconnect-timeout", "120", "--threads", str(args.loadgen_threads)]
    elif connect_row(sid):
        extra = ["--connections", str(args.connect_connections), "--setup-timeout", "120",
                 "--threads", str(args.loadgen_threads)]
    opts = SCENARIO_OPTIONS.get(sid, {})
    if opts.get("tls"):
        extra += ["--tls", "--tls-ca", certs.ca]  # the generator verifies the server's certificate, as clients do
    if opts.get("ws"):
        extra += ["--ws"]
    if opts.get("ws_compression"):
        extra += ["--ws-deflate"]
    if opts.get("username"):
        extra += ["--username", opts["username"], "--password", AuthFiles.password]
    return extra


def run_once(broker, sid, loadgen_args, args, ports, all_certs, auth):
    port = broker.fixed_port or ports.take()
    workdir = tempfile.mkdtemp(prefix=f"tern-bench-{broker.name}-")
    opts = SCENARIO_OPTIONS.get(sid)
    threads = None
    if broker.name == "tern":
        threads = 1 if sid == "startup" else (opts or {}).get("tern_threads")
    certs = all_certs[(opts or {}).get("tls_key", args.tls_key)]
    if opts and opts.get("tls"):
        certs.make()
    proc, startup, log_path = broker.start(port, workdir, threads, opts, certs, auth)
    result = {"broker": broker.name, "scenario": sid, "port": port, "ok": False}
    try:
        if startup is None:
            result["error"] = "broker did not start listening: " + tail(log_path)
            return result
        result["startup_ms"] = round(startup * 1000, 2)
        time.sleep(0.3 if sid != "startup" else 0.5)
        result["rss_start_kib"], _ = memory_kib(proc.pid)
        if sid == "startup":
            result["ok"] = True
            return result

        cmd = [args.loadgen, "--port", str(port)] + loadgen_args + scenario_args(sid, args, certs)
        lg = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        samples, errors, fine_cpu = {}, [], {}
        connected = threading.Event()  # reboot rows: the generator's clients are all connected

        def on_stderr():
            for line in lg.stderr:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "EVENT":
                    event = parts[1]
                    if event == "ready" and reboot_row(sid):
                        connected.set()
                    samples[event] = (time.monotonic(), cpu_seconds(proc.pid), memory_kib(proc.pid))
                    if connect_row(sid):
                        fine_cpu[event] = cpu_seconds_fine(proc.pid)
                    if event == "ready" and idle_row(sid):
                        time.sleep(1.0)  # let the broker settle before reading its memory
                        samples["settled"] = (time.monotonic(), cpu_seconds(proc.pid), memory_kib(proc.pid))
                        try:
                            lg.stdin.write("\n")
                            lg.stdin.flush()
                        except OSError:
                            pass
                else:
                    errors.append(line.rstrip())

        stdout_lines = []

        def on_stdout():
            for line in lg.stdout:
                stdout_lines.append(line)

        readers = [threading.Thread(target=on_stderr, daemon=True), threading.Thread(target=on_stdout, daemon=True)]
        for t in readers:
            t.start()
        if reboot_row(sid):
            # A gateway reboot: the broker dies at once (SIGKILL: every connection drops) and is started again on the
            # same port with the same configuration (and, for tern with a ticket key file, the same key file).
            while not connected.wait(0.1):
                if lg.poll() is not None:
                    break
            if connected.is_set():
                old = proc
                os.killpg(old.pid, signal.SIGKILL)
                old.wait()
                proc, restart, log_path = broker.start(port, workdir, threads, opts, certs, auth)
                result["restart_ms"] = round(restart * 1000, 2) if restart is not None else None
                if restart is None:
                    result["error"] = "broker did not start listening again: " + tail(log_path)
        try:
            lg.wait(timeout=args.run_timeout)  # not communicate(): it would close stdin, which idle waits on
        except subprocess.TimeoutExpired:
            lg.kill()
            lg.wait()
            result["error"] = "load generator timed out"
        for t in readers:
            t.join(timeout=5)
        try:
            lg.stdin.close()
        except OSError:
            pass
        out = "".join(stdout_lines)
        rss_end, hwm = memory_kib(proc.pid)
        result["rss_end_kib"], result["rss_peak_kib"] = rss_end, hwm
        lines = [l for l in out.splitlines() if l.startswith("{")]
        if not lines:
            result.setdefault("error", "no result from the load generator: " + " ".join(errors)[-300:])
            return result
        lgres = json.loads(lines[-1])
        result["loadgen"] = lgres
        if proc.poll() is not None:
            result["error"] = f"broker exited with {proc.returncode}: " + tail(log_path)
            return result
        if reboot_row(sid) and "measure_end" in fine_cpu:
            # The restarted broker's whole CPU time until the last client was back (its start-up included).
            result["cpu_s"] = round(fine_cpu["measure_end"], 4)
        elif "measure_start" in samples and "measure_end" in samples:
            t0, c0, _ = samples["measure_start"]
            t1, c1, _ = samples["measure_end"]
            result["cpu_s"] = round(c1 - c0, 3)
            result["window_s"] = round(t1 - t0, 3)
            if "measure_start" in fine_cpu and "measure_end" in fine_cpu:
                result["cpu_s"] = round(fine_cpu["measure_end"] - fine_cpu["measure_start"], 4)
        if idle_row(sid) and "settled" in samples:
            rss_idle = samples["settled"][2][0]
            n = lgres.get("connections", 0)
            if n:
                result["kib_per_connection"] = round((rss_idle - result["rss_start_kib"]) / n, 3)
            result["rss_connected_kib"] = rss_idle
        if sid.startswith("retained") and "stored" in samples:
            result["rss_stored_kib"] = samples["stored"][2][0]
        if not lgres.get("ok"):
            result["error"] = lgres.get("error", "load generator failed")
            if "lost" in result["error"]:
                result["failed_loss"] = True
            return result
        result["ok"] = "error" not in result
        return result
    finally:
        stop(proc)
        if broker.name == "tern":
            lock = core_lock(log_path)
            if lock:
                result["core_lock"] = lock
        shutil.rmtree(workdir, ignore_errors=True)


CORE_LOCK = re.compile(r"core lock: held ([\d.]+) % of ([\d.]+) s, longest hold ([\d.]+) us, (\d+) acquisitions")


def core_lock(log_path):
    """The core lock's counters Tern logs at exit (over its whole life: set-up, window and drain), or None."""
    try:
        with open(log_path, errors="replace") as f:
            found = CORE_LOCK.findall(f.read())
    except OSError:
        return None
    if not found:
        return None
    pct, wall, longest, acquisitions = found[-1]
    return {"held_pct": float(pct), "wall_s": float(wall), "longest_hold_us": float(longest),
            "acquisitions": int(acquisitions)}


def tail(path, n=300):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")[-n:].replace("\n", " | ")
    except OSError:
        return ""


# ----------------------------------------------------------------------------------------------------------------
# Metrics and the table.

def metrics(r):
    """Flat dict of the numbers a run contributes to the tables."""
    m = {}
    lg = r.get("loadgen", {})
    if "startup_ms" in r:
        m["startup_ms"] = r["startup_ms"]
    if "rss_start_kib" in r:
        m["rss_start_mib"] = r["rss_start_kib"] / 1024
    if "rss_peak_kib" in r:
        m["rss_peak_mib"] = r["rss_peak_kib"] / 1024
    if "delivered_per_s" in lg:
        m["delivered_per_s"] = lg["delivered_per_s"]
        m["published_per_s"] = lg["published_per_s"]
        lat = lg.get("latency_us", {})
        for k in ("p50", "p99", "p999"):
            if lat.get("count"):
                m["lat_" + k] = lat[k]
        for k in ("lost", "duplicates", "out_of_order"):
            m[k] = lg.get(k, 0)
        if "acked_per_s" in lg:  # QoS 1/2: publish to PUBACK / PUBCOMP
            m["acked_per_s"] = lg["acked_per_s"]
            lat = lg.get("ack_latency_us", {})
            for k in ("p50", "p99", "p999"):
                if lat.get("count"):
                    m["ack_" + k] = lat[k]
        if r.get("cpu_s"):
            m["cpu_s"] = r["cpu_s"]
            m["msgs_per_cpu_s"] = lg["delivered"] / r["cpu_s"]
            if lg["delivered"]:
                m["cpu_us_per_msg"] = r["cpu_s"] / lg["delivered"] * 1e6
        if lg.get("loadgen_cpu_s") and lg["delivered"]:  # the generator's own CPU, same window
            m["loadgen_cpu_us_per_msg"] = lg["loadgen_cpu_s"] / lg["delivered"] * 1e6
        # Bytes through the sockets over the whole run (set-up included, a few KiB against the load's MiBs): to the
        # subscribers per message received, from the publishers per message sent; and per MQTT byte.
        b = lg.get("bytes")
        if b and lg.get("received"):
            m["wire_bytes_per_delivery"] = b["socket_in"] / lg["received"]
        if b and lg.get("sent"):
            m["wire_bytes_per_publish"] = b["socket_out"] / lg["sent"]
        if b and b.get("mqtt_in"):
            m["wire_per_mqtt_byte_in"] = b["socket_in"] / b["mqtt_in"]
    if "connacks_per_s" in lg:
        m["connacks_per_s"] = lg["connacks_per_s"]
        lat = lg.get("connect_latency_us", {})
        if lat.get("count"):
            m["connect_p50"] = lat["p50"]
            m["connect_p99"] = lat["p99"]
        if r.get("cpu_s"):
            m["cpu_s"] = r["cpu_s"]
            m["connacks_per_cpu_s"] = lg["connacks"] / r["cpu_s"]
            if lg["connacks"]:
                m["cpu_us_per_connect"] = r["cpu_s"] / lg["connacks"] * 1e6
    if lg.get("tls") and (lg.get("tls_full", 0) + lg.get("tls_resumed", 0)):
        m["resumed_pct"] = 100.0 * lg["tls_resumed"] / (lg["tls_full"] + lg["tls_resumed"])
    if "storm_s" in lg:  # the reconnect storm after a restart
        m["reboot_storm_s"] = lg["storm_s"]
        m["reboot_outage_s"] = lg["outage_s"]
        if r.get("restart_ms") is not None:
            m["restart_ms"] = r["restart_ms"]
        if r.get("cpu_s"):
            m["cpu_s"] = r["cpu_s"]
    if "core_lock" in r:
        m["lock_held_pct"] = r["core_lock"]["held_pct"]
        m["lock_longest_us"] = r["core_lock"]["longest_hold_us"]
    if "kib_per_connection" in r:
        m["kib_per_connection"] = r["kib_per_connection"]
        m["connections"] = lg.get("connections", 0)
    if "time_s" in lg:
        m["retained_time_s"] = lg["time_s"]
        m["retained_per_s"] = lg["per_s"]
        if "rss_stored_kib" in r:
            m["retained_rss_mib"] = r["rss_stored_kib"] / 1024
        if r.get("cpu_s"):
            m["cpu_s"] = r["cpu_s"]
    return m


def summarize(results, brokers):
    """{(scenario, broker): {"status": ok|FAILED|error, "metrics": medians, "runs": n}}"""
    out = {}
    for sid, _, _ in SCENARIOS:
        for b in brokers:
            runs = [r for r in results if r["scenario"] == sid and r["broker"] == b]
            if not runs:
                continue
            cell = {"runs": len(runs)}
            if any(r.get("failed_loss") for r in runs):
                cell["status"] = "FAILED"
                cell["error"] = next(r["error"] for r in runs if r.get("failed_loss"))
            elif not any(r["ok"] for r in runs):
                cell["status"] = "error"
                cell["error"] = runs[0].get("error", "?")
            else:
                cell["status"] = "ok" if all(r["ok"] for r in runs) else "partial"
                good = [metrics(r) for r in runs if r["ok"]]
                keys = set().union(*good)
                cell["metrics"] = {k: statistics.median([g[k] for g in good if k in g]) for k in keys}
                bad = [r.get("error") for r in runs if not r["ok"]]
                if bad:
                    cell["error"] = bad[0]
            out[(sid, b)] = cell
    return out


# (scenario prefix, metric key, label, higher is better, format)
TABLE_ROWS = [
    ("fanin-16-v3", "delivered_per_s", "delivered msgs/s", True, "int"),
    ("fanin-16-v3", "msgs_per_cpu_s", "msgs per broker CPU-s", True, "int"),
    ("fanin-16-v5", "delivered_per_s", "delivered msgs/s", True, "int"),
    ("fanin-16-v5", "msgs_per_cpu_s", "msgs per broker CPU-s", True, "int"),
    ("fanin-1k-v3", "delivered_per_s", "delivered msgs/s", True, "int"),
    ("fanin-1k-v3", "msgs_per_cpu_s", "msgs per broker CPU-s", True, "int"),
    ("fanout-v3", "delivered_per_s", "deliveries/s", True, "int"),
    ("fanout-v3", "msgs_per_cpu_s", "deliveries per broker CPU-s", True, "int"),
    ("fanout-v5", "delivered_per_s", "deliveries/s", True, "int"),
    ("fanout-v5", "msgs_per_cpu_s", "deliveries per broker CPU-s", True, "int"),
    ("pairs-q1-v3", "delivered_per_s", "msgs/s", True, "int"),
    ("pairs-q1-v3", "msgs_per_cpu_s", "msgs per broker CPU-s", True, "int"),
    ("pairs-q1-v5", "delivered_per_s", "msgs/s", True, "int"),
    ("pairs-q2-v3", "delivered_per_s", "msgs/s", True, "int"),
    ("pairs-q2-v5", "delivered_per_s", "msgs/s", True, "int"),
    ("pairs-q2-v5", "msgs_per_cpu_s", "msgs per broker CPU-s", True, "int"),
    ("latency-q0-v3", "lat_p50", "p50 µs", False, "us"),
    ("latency-q0-v3", "lat_p99", "p99 µs", False, "us"),
    ("latency-q0-v3", "lat_p999", "p99.9 µs", False, "us"),
    ("latency-q1-v3", "lat_p50", "p50 µs", False, "us"),
    ("latency-q1-v3", "lat_p99", "p99 µs", False, "us"),
    ("latency-q1-v3", "lat_p999", "p99.9 µs", False, "us"),
    ("latency-q1-v5", "lat_p99", "p99 µs", False, "us"),
    ("latency-q1-v5", "msgs_per_cpu_s", "msgs per broker CPU-s", True, "int"),
    ("idle-v3", "kib_per_connection", "KiB RSS per idle connection", False, "f2"),
    ("storm-clean-v3", "connacks_per_s", "CONNACKs/s", True, "int"),
    ("storm-persist-v3", "connacks_per_s", "CONNACKs/s", True, "int"),
    ("storm-persist-v5", "connacks_per_s", "CONNACKs/s", True, "int"),
    ("retained-v3", "retained_time_s", "s until the # subscriber has all", False, "f3"),
    ("retained-v3", "retained_rss_mib", "RSS with all stored, MiB", False, "f1"),
    ("wildcard-v3", "delivered_per_s", "delivered msgs/s", True, "int"),
    ("wildcard-v3", "msgs_per_cpu_s", "msgs per broker CPU-s", True, "int"),
    ("startup", "startup_ms", "start to first accepted connection, ms", False, "f1"),
    ("startup", "rss_start_mib", "RSS after start, MiB", False, "f1"),
    # A row whose first element is (A, B, title) shows A's median ÷ B's median for each broker (ratio_rows below).
]

THROUGHPUT = [("delivered_per_s", "delivered msgs/s", True, "int"),
              ("msgs_per_cpu_s", "msgs per broker CPU-s", True, "int")]
CONNECTS = [("connacks_per_s", "connections set up per s", True, "int"),
            ("connacks_per_cpu_s", "connections per broker CPU-s", True, "int")]
TLS_CONNECTS = [("connacks_per_s", "TLS handshakes + CONNACKs per s", True, "int"),
                ("connacks_per_cpu_s", "TLS handshakes per broker CPU-s", True, "int"),
                ("connect_p99", "connect to CONNACK p99 µs", False, "us")]
ACKED = [("acked_per_s", "acked msgs/s", True, "int"), ("ack_p50", "publish to PUBACK p50 µs", False, "us"),
         ("ack_p99", "publish to PUBACK p99 µs", False, "us")]


def metric_rows(sid, metrics):
    return [(sid, *m) for m in metrics]


def ratio_rows(sid, reference, title, metrics):
    """sid's median ÷ reference's median, per broker, for each metric (labelled as the metric, and better in the
    metric's direction)."""
    return [((sid, reference, title), key, label, higher, "f2") for key, label, higher, _ in metrics]


def difference_rows(sid, reference, title, metrics):
    """sid's median − reference's median, per broker, for each metric (labelled and formatted as the metric)."""
    return [((sid, reference, title, "difference"), key, label, higher, kind) for key, label, higher, kind in metrics]


# 9. TLS against plain TCP; 10. persistence on against off.
TABLE_ROWS += (metric_rows("tls-connect-plain-v3", CONNECTS) + metric_rows("tls-connect-v3", TLS_CONNECTS)
               + ratio_rows("tls-connect-v3", "tls-connect-plain-v3", "9. connection set-up: TLS ÷ plain TCP",
                            [("connacks_per_s", "connections per s", True, "f2"), CONNECTS[1]]))
# 9. session resumption: resumed ÷ full handshakes per broker CPU-second (issue 23: at least 5), P-256 ÷ RSA-2048.
TLS_STORM = [("connacks_per_s", "TLS handshakes + CONNACKs per s", True, "int"),
             ("connacks_per_cpu_s", "handshakes + CONNACKs per broker CPU-s", True, "int"),
             ("resumed_pct", "% of handshakes resumed", True, "f1")]
TABLE_ROWS += (metric_rows("tls-connect-ec-v3", TLS_CONNECTS)
               + ratio_rows("tls-connect-ec-v3", "tls-connect-v3", "9. connection set-up: EC P-256 ÷ RSA-2048",
                            TLS_CONNECTS[:2]))
for key in ("", "-ec"):
    TABLE_ROWS += (metric_rows(f"tls-storm-full{key}-v3", TLS_STORM[:2])
                   + metric_rows(f"tls-storm-resumed{key}-v3", TLS_STORM)
                   + ratio_rows(f"tls-storm-resumed{key}-v3", f"tls-storm-full{key}-v3",
                                f"9. reconnect loop{' (EC P-256)' if key else ''}: resumed by ticket ÷ full",
                                TLS_STORM[:2]))
TABLE_ROWS += (metric_rows("tls-storm-cache-v3", TLS_STORM)
               + ratio_rows("tls-storm-cache-v3", "tls-storm-full-v3", "9. reconnect loop: resumed by id ÷ full",
                            TLS_STORM[:2]))
# 15. the reconnect storm after a restart.
REBOOT = [("reboot_storm_s", "s from the first accepted connect to all 2,000 back", False, "f3"),
          ("reboot_outage_s", "s from the kill to all back (start-up and retries included)", False, "f3"),
          ("cpu_s", "restarted broker's CPU s until all back", False, "f3"),
          ("resumed_pct", "% of reconnects resumed", True, "f1")]
TABLE_ROWS += metric_rows("tls-reboot-v3", REBOOT) + metric_rows("tls-reboot-keyfile-v3", REBOOT)
for size, name in (("16", "16 B"), ("1k", "1 KiB")):
    TABLE_ROWS += (metric_rows(f"tls-fanin-{size}-plain-v3", THROUGHPUT)
                   + metric_rows(f"tls-fanin-{size}-v3", THROUGHPUT)
                   + ratio_rows(f"tls-fanin-{size}-v3", f"tls-fanin-{size}-plain-v3",
                                f"9. fan-in, {name}: TLS ÷ plain TCP", THROUGHPUT))
# 11. threads 1 against mosquitto.
TABLE_ROWS += metric_rows("t1-fanin-16-v3", THROUGHPUT) + metric_rows("t1-pairs-q1-v3", THROUGHPUT)
TABLE_ROWS += [("t1-fanout-v3", "delivered_per_s", "deliveries/s", True, "int"),
               ("t1-fanout-v3", "msgs_per_cpu_s", "deliveries per broker CPU-s", True, "int")]
for kind, v, name in (("", "v3", "3.1.1"), ("", "v5", "5.0"), ("long-", "v3", "long names, 3.1.1")):
    TABLE_ROWS += (metric_rows(f"durable-{kind}q1-{v}", ACKED) + metric_rows(f"durable-{kind}q1-off-{v}", ACKED)
                   + ratio_rows(f"durable-{kind}q1-{v}", f"durable-{kind}q1-off-{v}",
                                f"10. durable, {name}: persistence on ÷ off", ACKED[:1]))
# 12. authentication and ACLs against none (Tern only).
for kind, what, _ in AUTH_LOADS:
    TABLE_ROWS += [row for half, _ in AUTH_HALVES for row in metric_rows(f"auth-{kind}{half}-v3", THROUGHPUT)]
    TABLE_ROWS += (ratio_rows(f"auth-{kind}-v3", f"auth-{kind}-off-v3",
                              f"12. {what}: ACL partly readable ÷ none", THROUGHPUT)
                   + ratio_rows(f"auth-{kind}-all-v3", f"auth-{kind}-off-v3",
                                f"12. {what}: ACL wholly readable ÷ none", THROUGHPUT))
AUTH_CONNECTS = CONNECTS + [("cpu_us_per_connect", "broker CPU µs per connection", False, "us")]
TABLE_ROWS += (metric_rows("auth-connect-off-v3", AUTH_CONNECTS) + metric_rows("auth-connect-v3", AUTH_CONNECTS)
               + ratio_rows("auth-connect-v3", "auth-connect-off-v3", "12. connection set-up: $7$ passwords ÷ none",
                            CONNECTS))
# 14. WebSockets against TCP (the "Tern ÷ best peer" column of a ws:// row is Tern ÷ mosquitto over WebSockets).
for load, name in (("fanin-16", "fan-in"), ("fanout", "fan-out")):
    TABLE_ROWS += (metric_rows(f"ws-{load}-tcp-v3", THROUGHPUT) + metric_rows(f"ws-{load}-v3", THROUGHPUT)
                   + ratio_rows(f"ws-{load}-v3", f"ws-{load}-tcp-v3", f"14. {name}: ws:// ÷ TCP", THROUGHPUT))
TABLE_ROWS += (metric_rows("ws-fanin-16-tls-v3", THROUGHPUT)
               + ratio_rows("ws-fanin-16-tls-v3", "ws-fanin-16-v3", "14. fan-in: wss:// ÷ ws://", THROUGHPUT))
IDLE = [("kib_per_connection", "KiB RSS per idle connection", False, "f2")]
TABLE_ROWS += (metric_rows("ws-idle-tcp-v3", IDLE) + metric_rows("ws-idle-v3", IDLE)
               + difference_rows("ws-idle-v3", "ws-idle-tcp-v3", "14. idle connections: ws:// − TCP", IDLE))
COMPRESSION = THROUGHPUT + [("cpu_us_per_msg", "broker CPU µs per delivery", False, "f2"),
                            ("loadgen_cpu_us_per_msg", "generator CPU µs per delivery", False, "f2"),
                            ("wire_bytes_per_delivery", "socket bytes per delivery", False, "f1"),
                            ("wire_bytes_per_publish", "socket bytes per publish", False, "f1")]
LATENCY = [("lat_p50", "p50 µs", False, "us"), ("lat_p99", "p99 µs", False, "us")]
for load, name, metrics_ in (("fanin", "fan-in", COMPRESSION), ("fanout", "fan-out", COMPRESSION),
                             ("latency", "10 pairs @10k/s", COMPRESSION[2:] + LATENCY)):
    TABLE_ROWS += (metric_rows(f"ws-json-{load}-v3", metrics_) + metric_rows(f"ws-json-{load}-deflate-v3", metrics_)
                   + ratio_rows(f"ws-json-{load}-deflate-v3", f"ws-json-{load}-v3",
                                f"14. {name}, 256 B JSON: permessage-deflate ÷ uncompressed", metrics_))
# 16. local rules against none (Tern only).
TABLE_ROWS += (metric_rows("rules-fanin-16-off-v3", THROUGHPUT) + metric_rows("rules-fanin-16-v3", THROUGHPUT)
               + ratio_rows("rules-fanin-16-v3", "rules-fanin-16-off-v3", "16. fan-in: 20 rules ÷ none", THROUGHPUT))


def fmt(v, kind):
    if v is None:
        return "—"
    if kind == "int":
        return f"{v:,.0f}"
    if kind == "us":
        return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"
    return {"f1": f"{v:.1f}", "f2": f"{v:.2f}", "f3": f"{v:.3f}"}[kind]


def render(summary, brokers, meta):
    peers = [b for b in brokers if b != "tern"]
    lines = [
        f"Generated by `bench/run.py` on {meta['date']}: {meta['mode']}, {meta['repeats']} repeat(s), medians; "
        f"measured window {meta['duration']} s after {meta['warmup']} s warm-up; Tern threads {meta['tern_threads']}, "
        f"load generator threads {meta['loadgen_threads']}.",
        f"Machine: {meta['cpu']}, {meta['cores']} cores, {meta['mem']}, Linux {meta['kernel']}, a VM; "
        f"1-minute load average {meta['load_before']:.2f} when the run started (what else was running then). "
        f"Commit {meta['commit']}.",
        "",
        "Ratio: Tern ÷ the best peer in that row (↑ higher is better: > 1 means Tern leads; ↓ lower is better: "
        "< 1 means Tern leads). FAILED: a QoS 1/2 message was lost. error: the run did not complete (see "
        "bench/results/latest.json).",
        "",
    ]
    if any(SCENARIO_OPTIONS.get(sid, {}).get("tls") for sid, _ in summary):
        lines += [f"TLS rows: TLS 1.2, {meta.get('tls_key', '?')} CA and server certificate made at run time; the "
                  "generator (mbedTLS 2.28) verifies the certificate and offers what an OpenSSL 3 client does (X25519 "
                  "first; AES-GCM, then ChaCha20-Poly1305); every connection is a full handshake, except in the rows that say "
                  "resumed (and the reconnect storm), where each client offers the session of its last full handshake; "
                  "rows that say EC P-256 use that key whatever the run's. Blank cells: that broker does not run that row "
                  "(see bench/README.md).", ""]
    lines += [
        "| scenario | metric | " + " | ".join(brokers) + " | Tern ÷ best peer |",
        "|---|---|" + "---:|" * len(brokers) + "---:|",
    ]
    titles = {sid: title for sid, title, _ in SCENARIOS}
    for sid, key, label, higher, kind in TABLE_ROWS:
        ratio_of = sid if isinstance(sid, tuple) else None
        if ratio_of:
            sid = ratio_of[0]
        if not any((sid, b) in summary for b in brokers):
            continue
        cells, values = [], {}
        for b in brokers:
            cell = summary.get((sid, b))
            base = summary.get((ratio_of[1], b)) if ratio_of else None
            if cell is None or (ratio_of and base is None):
                cells.append("")
            elif cell["status"] in ("FAILED", "error"):
                cells.append(cell["status"])
            elif ratio_of and base["status"] in ("FAILED", "error"):
                cells.append(base["status"])
            else:
                v = cell["metrics"].get(key)
                if ratio_of and ratio_of[3:] == ("difference",):
                    b_v = base["metrics"].get(key)
                    v = v - b_v if v is not None and b_v is not None else None
                elif ratio_of:
                    b_v = base["metrics"].get(key)
                    v = v / b_v if v is not None and b_v else None
                    partial = "partial" in (cell["status"], base["status"])
                else:
                    partial = cell["status"] == "partial"
                values[b] = v
                cells.append(fmt(v, kind) + ("*" if partial else ""))
        ratio = ""
        peer_values = [values[p] for p in peers if values.get(p) is not None]
        if values.get("tern") is not None and peer_values and not (ratio_of and ratio_of[3:] == ("difference",)):
            best = max(peer_values) if higher else min(peer_values)
            if best:
                ratio = f"{values['tern'] / best:.2f}"
        arrow = "↑" if higher else "↓"
        title = ratio_of[2] if ratio_of else titles[sid]
        lines.append(f"| {title} | {label} {arrow} | " + " | ".join(cells) + f" | {ratio} |")
    lines += ["", "Per run detail (medians): broker CPU seconds in the measured window, latency p50 / p99 / p99.9 "
              "µs, lost / duplicated / out-of-order, broker peak RSS (VmHWM).", "",
              "| scenario | broker | msgs/s | CPU s | p50 / p99 / p99.9 µs | lost / dup / ooo | peak RSS MiB |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for sid, title, _ in SCENARIOS:
        for b in brokers:
            cell = summary.get((sid, b))
            if cell is None or sid == "startup" or idle_row(sid):
                continue
            if "metrics" not in cell:
                lines.append(f"| {sid} | {b} | {cell['status']}: {cell.get('error', '')[:80]} | | | | |")
                continue
            m = cell["metrics"]
            rate = m.get("delivered_per_s", m.get("connacks_per_s", m.get("retained_per_s")))
            lat = " / ".join(fmt(m.get("lat_" + k), "us") for k in ("p50", "p99", "p999")) if "lat_p50" in m else \
                (f"connect p99 {fmt(m['connect_p99'], 'us')}" if "connect_p99" in m else "")
            loss = f"{m.get('lost', 0):.0f} / {m.get('duplicates', 0):.0f} / {m.get('out_of_order', 0):.0f}" \
                if "lost" in m else ""
            note = "" if cell["status"] == "ok" else f" ({cell['status']}: {cell.get('error', '')[:60]})"
            lines.append(f"| {sid} | {b}{note} | {fmt(rate, 'int')} | {fmt(m.get('cpu_s'), 'f2')} | {lat} | {loss} "
                         f"| {fmt(m.get('rss_peak_mib'), 'f1')} |")
    return "\n".join(lines)


def machine_meta(args, mode):
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1048576:.0f} GiB RAM"
    except OSError:
        mem = "? RAM"
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip() or "?"
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        if dirty:
            commit += " (plus uncommitted work in the tree)"
    except OSError:
        commit = "?"
    return {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "mode": mode, "repeats": args.repeats,
            "duration": args.duration, "warmup": args.warmup, "tern_threads": args.tern_threads,
            "loadgen_threads": args.loadgen_threads, "tls_key": {"rsa": "RSA-2048", "ec": "EC P-256"}[args.tls_key],
            "cpu": cpu, "cores": os.cpu_count(), "mem": mem,
            "kernel": platform.release(), "commit": commit, "load_before": LOAD_BEFORE}


# The 1-minute load average when run.py started, before it ran anything: whether other work shared the machine.
LOAD_BEFORE = os.getloadavg()[0]


def update_readme(table):
    with open(README) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        log(f"run.py: {README} has no {BEGIN} / {END} markers; table not written")
        return
    head, rest = text.split(BEGIN, 1)
    _, tail_text = rest.split(END, 1)
    with open(README, "w") as f:
        f.write(head + BEGIN + "\n" + table + "\n" + END + tail_text)


# ----------------------------------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 repeat, short runs, fewer connections and topics")
    p.add_argument("--repeats", type=int)
    p.add_argument("--brokers", default="tern," + ",".join(PEERS), help="comma list among tern and the peers")
    p.add_argument("--broker", action="append", default=[], metavar="NAME=CMD:PORT",
                   help="another broker: a start command ({port} is replaced by a fresh port) and its port")
    p.add_argument("--scenarios", help="comma list of scenario ids (default: all); prefixes match; group names: "
                   + ", ".join(SCENARIO_GROUPS))
    p.add_argument("--tern", default=os.path.join(ROOT, "build-bench", "tern"))
    p.add_argument("--loadgen", default=os.path.join(ROOT, "build-bench", "bench", "tern_loadgen"))
    p.add_argument("--tern-threads", type=int, default=os.cpu_count())
    p.add_argument("--loadgen-threads", type=int, default=1)
    p.add_argument("--duration", type=float)
    p.add_argument("--warmup", type=float)
    p.add_argument("--connections", type=int, help="idle connections (default 10000, quick 1000)")
    p.add_argument("--topics", type=int, help="retained topics (default 100000, quick 10000)")
    p.add_argument("--connect-connections", type=int,
                   help="tls-connect and auth-connect rows: connections (default 2000, quick 500)")
    p.add_argument("--tls-key", choices=("rsa", "ec"), default="rsa",
                   help="TLS rows: RSA-2048 (default) or EC P-256 keys for the CA and the server certificate")
    p.add_argument("--run-timeout", type=float, default=180)
    p.add_argument("--port-base", type=int, default=21000)
    p.add_argument("--output", default=os.path.join(HERE, "results", "latest.json"))
    p.add_argument("--no-readme", action="store_true", help="do not rewrite the table in bench/README.md")
    args = p.parse_args()
    q = args.quick
    args.repeats = args.repeats or (1 if q else 3)
    args.duration = args.duration or (1.0 if q else 3.0)
    args.warmup = args.warmup if args.warmup is not None else (0.3 if q else 1.0)
    args.connections = args.connections or (1000 if q else 10000)
    args.topics = args.topics or (10000 if q else 100000)
    args.connect_connections = args.connect_connections or (500 if q else 2000)

    for path, what in ((args.tern, "tern"), (args.loadgen, "tern_loadgen")):
        if not os.access(path, os.X_OK):
            sys.exit(f"run.py: no {what} at {path}; build with: cmake -S . -B build-bench -G Ninja "
                     f"-DCMAKE_BUILD_TYPE=Release -DTERN_BUILD_BENCH=ON && cmake --build build-bench -j2 "
                     f"--target tern tern_loadgen")

    brokers = {}
    for name in [b for b in args.brokers.split(",") if b]:
        brokers[name] = Broker(name, args)
    for spec in args.broker:
        name, _, rest = spec.partition("=")
        cmd, _, port = rest.rpartition(":")
        if not name or not cmd or not port.isdigit():
            sys.exit(f"run.py: --broker wants NAME=CMD:PORT, got {spec!r}")
        brokers[name] = Broker(name, args, None if "{port}" in cmd else int(port), cmd)

    scenarios = SCENARIOS
    if args.scenarios:
        wanted = [SCENARIO_GROUPS.get(w, w) for w in args.scenarios.split(",")]
        scenarios = [s for s in SCENARIOS if any(s[0].startswith(w) for w in wanted)]

    runs = [(r, sid, largs) for r in range(args.repeats) for sid, _, largs in scenarios]
    total = sum(1 for _, sid, _ in runs for b in brokers.values() if runs_on(sid, b))
    log(f"run.py: {total} runs ({len(scenarios)} scenarios x up to {len(brokers)} brokers x {args.repeats} repeats)")
    ports = Ports(args.port_base)
    certs = {"rsa": Certificates("rsa"), "ec": Certificates("ec")}
    auth = AuthFiles(args.connect_connections)
    results, done, started = [], 0, time.monotonic()
    for repeat, sid, largs in runs:
        for broker in brokers.values():  # interleaved: A B C D, A B C D
            if not runs_on(sid, broker):
                continue
            r = run_once(broker, sid, largs or [], args, ports, certs, auth)
            r["repeat"] = repeat
            results.append(r)
            done += 1
            m = metrics(r)
            brief = ", ".join(f"{k}={v:,.1f}" for k, v in sorted(m.items()) if k in (
                "delivered_per_s", "msgs_per_cpu_s", "lat_p99", "connacks_per_s", "connacks_per_cpu_s", "acked_per_s",
                "ack_p99", "kib_per_connection", "cpu_us_per_msg", "wire_bytes_per_delivery",
                "retained_time_s", "startup_ms", "rss_start_mib"))
            status = "ok" if r["ok"] else ("FAILED" if r.get("failed_loss") else "error")
            elapsed = time.monotonic() - started
            log(f"[{done}/{total} {elapsed:5.0f}s] {sid} {broker.name}: {status} {brief} {r.get('error', '')[:200]}")

    names = list(brokers)
    summary = summarize(results, names)
    meta = machine_meta(args, "quick" if q else "full")
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump({"meta": meta, "brokers": names,
                   "summary": [{"scenario": s, "broker": b, **c} for (s, b), c in summary.items()],
                   "runs": results}, f, indent=1)
    table = render(summary, names, meta)
    print(table)
    if not args.no_readme:
        update_readme(table)
    log(f"run.py: wrote {args.output}" + ("" if args.no_readme else f" and the table in {README}"))


if __name__ == "__main__":
    main()
