"""Test support: brokers under test, the @spec tag, and the base class of every conformance test.

A test method is written once, tagged with the normative statements it checks, and takes the protocol version:

    @spec("3.1.1:MQTT-3.1.0-2", "5.0:MQTT-3.1.0-2")
    def test_second_connect_closes(self, v):
        ...

BrokerTest expands it into test_second_connect_closes_v311 and test_second_connect_closes_v5: one per
specification named in the tags (ids are per specification, the two number their statements separately).

The broker under test is chosen by run.py (TARGET). A test class that needs special broker settings lists them in
broker_config (mosquitto.conf names, which Tern shares); it then gets a broker of its own, started for the class,
or is skipped when the suite runs against an already running broker.
"""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import mqtt_raw as mq
from mqtt_raw import V311, V5

SPEC_OF_VERSION = {V311: "3.1.1", V5: "5.0"}
VERSION_OF_SPEC = {"3.1.1": V311, "5.0": V5}
SUFFIX = {V311: "v311", V5: "v5"}


class Target:
    """What the suite runs against: kind is 'external' (host, port given), 'tern' (path to the binary) or
    'mosquitto' (path to the mosquitto binary)."""

    def __init__(self, kind, host="127.0.0.1", port=None, path=None, wrapper=None):
        self.kind = kind
        self.host = host
        self.port = port
        self.path = path
        self.wrapper = list(wrapper or [])  # a command put in front of path, e.g. qemu-aarch64 -L /usr/aarch64-linux-gnu
        self.default = None  # the Broker shared by the classes of one test module

    def can_configure(self):
        return self.kind != "external"

    def default_endpoint(self):
        if self.kind == "external":
            return self.host, self.port
        if self.default is None:
            self.default = Broker(self, [])
            self.default.start()
        return self.default.host, self.default.port

    def stop(self):
        if self.default is not None:
            self.default.stop()
            self.default = None


TARGET = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A broker process with a temporary config: listener on 127.0.0.1, anonymous clients allowed, then the given
    lines. Tern is given port 0 and its log names the port; mosquitto 2.0.11 cannot, so it is given a free port."""

    def __init__(self, target, lines):
        self.target = target
        self.lines = list(lines)
        self.host = "127.0.0.1"
        self.port = None
        self.proc = None
        self.dir = None

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="tern-conformance-")
        port = 0 if self.target.kind == "tern" else free_port()
        conf = os.path.join(self.dir, "broker.conf")
        with open(conf, "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
            for line in self.lines:
                f.write(line + "\n")
        self.log_path = os.path.join(self.dir, "broker.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.target.wrapper + [self.target.path, "-c", conf], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}: {self.read_log()}")
            if port == 0:
                m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.read_log())
                if m:
                    self.port = int(m.group(1))
            else:
                self.port = port
            if self.port and self._accepts():
                return
            time.sleep(0.02)  # polling the log and the port until the 10 s deadline
        self.stop()
        raise RuntimeError(f"broker did not start listening within 10 s: {self.read_log()}")

    def _accepts(self):
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def read_log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        if self.dir:
            self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def spec(*ids):
    """Tags a test with the normative statements it checks, each as 'SPEC:ID' with SPEC 3.1.1 or 5.0."""
    for i in ids:
        if not re.fullmatch(r"(3\.1\.1|5\.0):MQTT-\d+\.\d+\.\d+-\d+", i):
            raise ValueError(f"bad statement tag {i!r}: write e.g. '5.0:MQTT-3.1.2-4'")

    def deco(fn):
        fn._spec = ids
        return fn
    return deco


def _variant(fn, v, ids):
    def test(self):
        return fn(self, v)
    test.__name__ = f"{fn.__name__}_{SUFFIX[v]}"
    test.__qualname__ = test.__name__
    test.__doc__ = (fn.__doc__ or fn.__name__).strip().splitlines()[0] + "  " + " ".join(f"[{i}]" for i in ids)
    test._spec_ids = [f"{SPEC_OF_VERSION[v]}:{i}" for i in ids]
    return test


class BrokerTest(unittest.TestCase):
    broker_config = []  # config lines this class needs; non-empty means a broker of its own
    timeout = 2.0       # how long to wait for an expected packet

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        for name, fn in list(vars(cls).items()):
            ids = getattr(fn, "_spec", None)
            if ids is None or not callable(fn):
                continue
            delattr(cls, name)
            for v in (V311, V5):
                mine = [i.split(":", 1)[1] for i in ids if VERSION_OF_SPEC[i.split(":", 1)[0]] == v]
                if mine:
                    setattr(cls, f"{name}_{SUFFIX[v]}", _variant(fn, v, mine))

    @classmethod
    def setUpClass(cls):
        cls.own_broker = None
        if cls.broker_config:
            if not TARGET.can_configure():
                raise unittest.SkipTest("needs broker settings " + "; ".join(cls.broker_config) +
                                        " (run with --tern or --mosquitto)")
            cls.own_broker = Broker(TARGET, cls.broker_config)
            cls.own_broker.start()
            cls.host, cls.port = cls.own_broker.host, cls.own_broker.port
        else:
            cls.host, cls.port = TARGET.default_endpoint()

    @classmethod
    def tearDownClass(cls):
        if cls.own_broker is not None:
            cls.own_broker.stop()

    def setUp(self):
        self.token = os.urandom(4).hex()
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()

    # -- naming: every test uses its own client ids and topics, so tests can share a broker and run in parallel
    def cid(self, name="c"):
        return f"{name}-{self.token}"

    def topic(self, name="t"):
        return f"conf/{self.token}/{name}"

    # -- connections
    def client(self, v, name="client"):
        c = mq.Client(self.host, self.port, v, timeout=self.timeout, name=name)
        self.clients.append(c)
        return c

    def connect(self, v, cid=None, clean=True, keepalive=60, will=None, properties=None, username=None,
                password=None, name=None, check=True):
        """A new connection that has sent CONNECT and received CONNACK. With check, asserts success.
        Returns (client, connack)."""
        cid = self.cid() if cid is None else cid
        c = self.client(v, name or (cid or "client"))
        c.send(mq.connect(v, cid, clean=clean, keepalive=keepalive, will=will, properties=properties,
                          username=username, password=password))
        ack = c.expect(mq.CONNACK)
        if check:
            self.assertEqual(ack.reason, 0, f"CONNACK refused: {ack!r}")
        return c, ack

    def go_offline(self, c, v):
        """DISCONNECT and wait for the broker to close the connection: from then on the session is offline (a plain
        close could still be unprocessed by a slow broker when the next packet from another client arrives)."""
        c.send(mq.disconnect(v, 0x00 if v == V5 else None))
        c.expect_closed()

    def connected(self, v, cid=None, **kw):
        return self.connect(v, cid, **kw)[0]

    @staticmethod
    def session(v, expiry=60):
        """CONNECT properties that keep a 5.0 session after the connection closes (None for 3.1.1, where
        clean=False alone does it)."""
        return [(mq.SESSION_EXPIRY_INTERVAL, expiry)] if v == V5 else None

    def collect(self, c, duration):
        """Every PUBLISH arriving on c within duration seconds, acknowledged; other packets fail the test."""
        got = []
        deadline = time.monotonic() + duration
        for _ in range(100000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            p = c.poll(left)
            if p is None:
                break
            if p.type == mq.PUBREL:
                c.send(mq.pubcomp(c.version, p.packet_id))
                continue
            self.assertEqual(p.type, mq.PUBLISH, f"unexpected {p!r}")
            if p.qos == 1:
                c.send(mq.puback(c.version, p.packet_id))
            elif p.qos == 2:
                c.send(mq.pubrec(c.version, p.packet_id))
            got.append(p)
        return got

    def subscribe(self, c, filters, packet_id=1, properties=None):
        """filters: a filter, or [(filter, options)]; returns the SUBACK after checking its Packet Identifier."""
        if isinstance(filters, str):
            filters = [(filters, 0)]
        c.send(mq.subscribe(c.version, packet_id, filters, properties))
        ack = c.expect(mq.SUBACK)
        self.assertEqual(ack.packet_id, packet_id)
        return ack

    def subscribed(self, v, filters, cid=None, **kw):
        """A connected client with the given subscription(s), all granted."""
        c = self.connected(v, cid, **kw)
        ack = self.subscribe(c, filters)
        for code in ack.reasons:
            self.assertLess(code, 0x80, f"subscription refused: {ack!r}")
        return c

    def publish(self, c, topic, payload=b"", qos=0, retain=False, packet_id=None, properties=None):
        """Publishes and completes the QoS flow (PUBACK, or PUBREC/PUBREL/PUBCOMP) from the sender's side."""
        pid = packet_id if packet_id is not None else (7 if qos else None)
        c.send(mq.publish(c.version, topic, payload, qos, retain, packet_id=pid, properties=properties))
        if qos == 1:
            ack = c.expect(mq.PUBACK)
            self.assertEqual(ack.packet_id, pid)
            return ack
        if qos == 2:
            rec = c.expect(mq.PUBREC)
            self.assertEqual(rec.packet_id, pid)
            c.send(mq.pubrel(c.version, pid))
            comp = c.expect(mq.PUBCOMP)
            self.assertEqual(comp.packet_id, pid)
            return rec
        return None

    def receive(self, c, topic=None, payload=None, timeout=None):
        """The next packet on c, asserted to be a PUBLISH (of topic / payload when given); acknowledged as the
        QoS needs (QoS 2: PUBREC, then PUBREL answered... the PUBCOMP is sent after PUBREL arrives)."""
        p = c.expect(mq.PUBLISH, timeout)
        if topic is not None:
            self.assertEqual(p.topic, topic)
        if payload is not None:
            self.assertEqual(p.payload, payload if isinstance(payload, bytes) else payload.encode())
        if p.qos == 1:
            c.send(mq.puback(c.version, p.packet_id))
        elif p.qos == 2:
            c.send(mq.pubrec(c.version, p.packet_id))
            rel = c.expect(mq.PUBREL)
            self.assertEqual(rel.packet_id, p.packet_id)
            c.send(mq.pubcomp(c.version, p.packet_id))
        return p

    def assert_closed(self, c, timeout=None, reasons=None):
        """Asserts the server closes c. A 5.0 server may send a DISCONNECT first: with reasons, its Reason Code
        must be one of them. Returns that DISCONNECT or None."""
        got = c.expect_closed(timeout)
        d = next((p for p in got if p.type == mq.DISCONNECT), None)
        if d is not None and reasons is not None:
            self.assertIn(d.reason, reasons, f"DISCONNECT reason 0x{d.reason:02x}")
        return d

    def assert_refused(self, c, v, codes311=None, codes5=None, timeout=None):
        """Asserts the server refuses a CONNECT: either closes at once, or sends a CONNACK with a failure code
        (one of codes when given, session present 0) then closes."""
        got = c.expect_closed(timeout, allow=(mq.CONNACK,))
        if got:
            ack = got[0]
            self.assertFalse(ack.session_present, "refusing CONNACK with Session Present 1")
            if v == V5:
                self.assertGreaterEqual(ack.reason, 0x80, f"{ack!r}")
                if codes5 is not None:
                    self.assertIn(ack.reason, codes5, f"{ack!r}")
            else:
                self.assertNotEqual(ack.reason, 0, f"{ack!r}")
                if codes311 is not None:
                    self.assertIn(ack.reason, codes311, f"{ack!r}")
        return got[0] if got else None
