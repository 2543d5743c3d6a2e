"""A small raw-packet MQTT client for black-box conformance tests (MQTT 3.1.1 and 5.0).

Independent of Tern's C++ codec on purpose: the tests build exact bytes (including malformed ones) with the
helpers below, and every packet the server sends is decoded strictly, so that a badly formed reply (wrong fixed
header flags, a non-minimal Variable Byte Integer, ill-formed UTF-8, an unknown property, a property on the wrong
packet) fails the test that received it.

Every socket operation has a deadline and every loop is bounded. Standard library only.
"""

import socket
import struct
import time

V311 = 4
V5 = 5
VERSION_NAMES = {V311: "3.1.1", V5: "5.0"}

# Control packet types.
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15
PACKET_NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL", 7: "PUBCOMP",
                8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
                14: "DISCONNECT", 15: "AUTH"}

# Property identifiers (MQTT 5.0 section 2.2.2.2).
PAYLOAD_FORMAT_INDICATOR = 0x01
MESSAGE_EXPIRY_INTERVAL = 0x02
CONTENT_TYPE = 0x03
RESPONSE_TOPIC = 0x08
CORRELATION_DATA = 0x09
SUBSCRIPTION_IDENTIFIER = 0x0B
SESSION_EXPIRY_INTERVAL = 0x11
ASSIGNED_CLIENT_IDENTIFIER = 0x12
SERVER_KEEP_ALIVE = 0x13
AUTHENTICATION_METHOD = 0x15
AUTHENTICATION_DATA = 0x16
REQUEST_PROBLEM_INFORMATION = 0x17
WILL_DELAY_INTERVAL = 0x18
REQUEST_RESPONSE_INFORMATION = 0x19
RESPONSE_INFORMATION = 0x1A
SERVER_REFERENCE = 0x1C
REASON_STRING = 0x1F
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
MAXIMUM_QOS = 0x24
RETAIN_AVAILABLE = 0x25
USER_PROPERTY = 0x26
MAXIMUM_PACKET_SIZE = 0x27
WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
SHARED_SUBSCRIPTION_AVAILABLE = 0x2A

BYTE, TWO, FOUR, VARINT, STRING, BINARY, PAIR = "byte", "two", "four", "varint", "string", "binary", "pair"
# id -> (name, type, packets the server may send it on). "W" is the will properties of CONNECT (never sent by a
# server); packets are named by type number.
PROPERTIES = {
    0x01: ("Payload Format Indicator", BYTE, {PUBLISH}),
    0x02: ("Message Expiry Interval", FOUR, {PUBLISH}),
    0x03: ("Content Type", STRING, {PUBLISH}),
    0x08: ("Response Topic", STRING, {PUBLISH}),
    0x09: ("Correlation Data", BINARY, {PUBLISH}),
    0x0B: ("Subscription Identifier", VARINT, {PUBLISH}),
    0x11: ("Session Expiry Interval", FOUR, {CONNACK}),
    0x12: ("Assigned Client Identifier", STRING, {CONNACK}),
    0x13: ("Server Keep Alive", TWO, {CONNACK}),
    0x15: ("Authentication Method", STRING, {CONNACK, AUTH}),
    0x16: ("Authentication Data", BINARY, {CONNACK, AUTH}),
    0x17: ("Request Problem Information", BYTE, set()),
    0x18: ("Will Delay Interval", FOUR, set()),
    0x19: ("Request Response Information", BYTE, set()),
    0x1A: ("Response Information", STRING, {CONNACK}),
    0x1C: ("Server Reference", STRING, {CONNACK, DISCONNECT}),
    0x1F: ("Reason String", STRING, {CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH}),
    0x21: ("Receive Maximum", TWO, {CONNACK}),
    0x22: ("Topic Alias Maximum", TWO, {CONNACK}),
    0x23: ("Topic Alias", TWO, {PUBLISH}),
    0x24: ("Maximum QoS", BYTE, {CONNACK}),
    0x25: ("Retain Available", BYTE, {CONNACK}),
    0x26: ("User Property", PAIR, {CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT,
                                   AUTH}),
    0x27: ("Maximum Packet Size", FOUR, {CONNACK}),
    0x28: ("Wildcard Subscription Available", BYTE, {CONNACK}),
    0x29: ("Subscription Identifier Available", BYTE, {CONNACK}),
    0x2A: ("Shared Subscription Available", BYTE, {CONNACK}),
}
# Properties that may appear more than once in one packet.
REPEATABLE = {USER_PROPERTY, SUBSCRIPTION_IDENTIFIER}

# Reason codes a server may use, per packet (MQTT 5.0 tables 3-1, 3-4, 3-5, 3-6, 3-7, 3-9, 3-10, 3-11, 3-12).
CONNACK_CODES = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
                 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F}
PUBACK_CODES = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}
PUBREC_CODES = PUBACK_CODES
PUBREL_CODES = {0x00, 0x92}
PUBCOMP_CODES = {0x00, 0x92}
SUBACK_CODES = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2}
UNSUBACK_CODES = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91}
SERVER_DISCONNECT_CODES = {0x00, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
                           0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2}
AUTH_CODES = {0x00, 0x18, 0x19}
V311_CONNACK_CODES = {0, 1, 2, 3, 4, 5}
V311_SUBACK_CODES = {0x00, 0x01, 0x02, 0x80}


class ProtocolViolation(AssertionError):
    """The server sent bytes that do not form a well-formed packet."""


class Closed(AssertionError):
    """The server closed the connection while a packet was expected."""


class Timeout(AssertionError):
    """No (complete) packet arrived before the deadline."""


# ---------------------------------------------------------------------------------------------------------------
# Encoding primitives. They encode whatever they are given, so a test can build malformed packets on purpose.

def varint(value):
    """Variable Byte Integer, minimal form."""
    out = bytearray()
    for _ in range(5):
        byte = value % 128
        value //= 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
    raise ValueError("value too large for a Variable Byte Integer")


def u8(value):
    return struct.pack("!B", value)


def u16(value):
    return struct.pack("!H", value)


def u32(value):
    return struct.pack("!I", value)


def binary(data):
    """Two-byte length followed by the bytes."""
    return u16(len(data)) + data


def string(text):
    """UTF-8 Encoded String; bytes are taken as already encoded (so ill-formed UTF-8 can be sent)."""
    return binary(text if isinstance(text, bytes) else text.encode("utf-8"))


def prop(ident, value):
    """One property: identifier then value encoded per the property's type."""
    kind = PROPERTIES[ident][1]
    if kind == BYTE:
        body = u8(value)
    elif kind == TWO:
        body = u16(value)
    elif kind == FOUR:
        body = u32(value)
    elif kind == VARINT:
        body = varint(value)
    elif kind == STRING:
        body = string(value)
    elif kind == BINARY:
        body = binary(value)
    else:
        body = string(value[0]) + string(value[1])
    return varint(ident) + body


def props(items=None):
    """A property list: Property Length then the properties, in the given order. items: [(id, value), ...]
    or a dict, or raw bytes (taken as the already encoded properties)."""
    if items is None:
        items = []
    if isinstance(items, (bytes, bytearray)):
        body = bytes(items)
    else:
        if isinstance(items, dict):
            items = list(items.items())
        body = b"".join(prop(i, v) for i, v in items)
    return varint(len(body)) + body


def packet(first_byte, body):
    """Fixed header (first byte, Remaining Length) then the body."""
    return u8(first_byte) + varint(len(body)) + body


# ---------------------------------------------------------------------------------------------------------------
# Packet builders. Defaults are well formed; keyword arguments let a test change any field.

def connect(version=V5, client_id="", clean=True, keepalive=60, will=None, username=None, password=None,
            properties=None, protocol_name="MQTT", flags=None, protocol_level=None):
    """will: dict(topic=, payload=, qos=0, retain=False, properties=None). flags overrides the computed Connect
    Flags byte; protocol_level overrides the version byte."""
    computed = 0x02 if clean else 0
    payload = string(client_id)
    if will is not None:
        computed |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
        if version == V5:
            payload += props(will.get("properties"))
        payload += string(will["topic"]) + binary(will.get("payload", b""))
    if username is not None:
        computed |= 0x80
        payload += string(username)
    if password is not None:
        computed |= 0x40
        payload += binary(password)
    variable = string(protocol_name) + u8(protocol_level if protocol_level is not None else version)
    variable += u8(flags if flags is not None else computed) + u16(keepalive)
    if version == V5:
        variable += props(properties)
    return packet(0x10, variable + payload)


def publish(version, topic, payload=b"", qos=0, retain=False, dup=False, packet_id=None, properties=None):
    if isinstance(payload, str):
        payload = payload.encode()
    first = 0x30 | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = string(topic)
    if qos > 0 or packet_id is not None:
        body += u16(packet_id if packet_id is not None else 1)
    if version == V5:
        body += props(properties)
    return packet(first, body + payload)


def ack(kind, version, packet_id, reason=None, properties=None, flags=None):
    """PUBACK, PUBREC, PUBREL or PUBCOMP. In 5.0 the Reason Code and properties are omitted when both are
    defaults, as the specification allows."""
    first = (kind << 4) | (flags if flags is not None else (0x02 if kind == PUBREL else 0))
    body = u16(packet_id)
    if version == V5 and (reason is not None or properties is not None):
        body += u8(reason or 0)
        if properties is not None:
            body += props(properties)
    return packet(first, body)


def puback(version, packet_id, **kw):
    return ack(PUBACK, version, packet_id, **kw)


def pubrec(version, packet_id, **kw):
    return ack(PUBREC, version, packet_id, **kw)


def pubrel(version, packet_id, **kw):
    return ack(PUBREL, version, packet_id, **kw)


def pubcomp(version, packet_id, **kw):
    return ack(PUBCOMP, version, packet_id, **kw)


def subscribe(version, packet_id, topics, properties=None, flags=0x02):
    """topics: [(filter, options byte), ...]; in 3.1.1 the options byte is the requested QoS."""
    body = u16(packet_id)
    if version == V5:
        body += props(properties)
    for topic_filter, options in topics:
        body += string(topic_filter) + u8(options)
    return packet(0x80 | flags, body)


def sub_options(qos=0, no_local=False, retain_as_published=False, retain_handling=0):
    return qos | (0x04 if no_local else 0) | (0x08 if retain_as_published else 0) | (retain_handling << 4)


def unsubscribe(version, packet_id, filters, properties=None, flags=0x02):
    body = u16(packet_id)
    if version == V5:
        body += props(properties)
    for topic_filter in filters:
        body += string(topic_filter)
    return packet(0xA0 | flags, body)


def pingreq():
    return b"\xc0\x00"


def disconnect(version, reason=None, properties=None):
    body = b""
    if version == V5 and (reason is not None or properties is not None):
        body = u8(reason or 0)
        if properties is not None:
            body += props(properties)
    return packet(0xE0, body)


def auth(reason=0x00, properties=None, flags=0):
    return packet(0xF0 | flags, u8(reason) + props(properties))


# ---------------------------------------------------------------------------------------------------------------
# Strict decoding of what the server sends.

class Properties:
    """Decoded properties, in the order they were received."""

    def __init__(self, items=None):
        self.items = items or []

    def get(self, ident, default=None):
        for i, v in self.items:
            if i == ident:
                return v
        return default

    def all(self, ident):
        return [v for i, v in self.items if i == ident]

    def __contains__(self, ident):
        return any(i == ident for i, _ in self.items)

    def __repr__(self):
        return "{" + ", ".join(f"{PROPERTIES[i][0]}: {v!r}" for i, v in self.items) + "}"


class Packet:
    """A decoded packet. Always: type, flags, raw (every byte of it). Other fields depend on the type:
    CONNACK session_present, reason, properties; PUBLISH dup, qos, retain, topic, packet_id, properties, payload;
    PUBACK..PUBCOMP packet_id, reason, properties; SUBACK/UNSUBACK packet_id, properties, reasons;
    DISCONNECT/AUTH reason, properties."""

    def __init__(self, ptype, flags, raw):
        self.type = ptype
        self.flags = flags
        self.raw = raw
        self.properties = Properties()
        self.reason = 0
        self.packet_id = None

    @property
    def name(self):
        return PACKET_NAMES.get(self.type, f"type {self.type}")

    def __repr__(self):
        fields = {k: v for k, v in vars(self).items() if k not in ("type", "flags", "raw")}
        if not self.properties.items:
            fields.pop("properties", None)
        return f"{self.name}{fields}"


class _Reader:
    def __init__(self, data, what):
        self.data = data
        self.pos = 0
        self.what = what

    def fail(self, why):
        raise ProtocolViolation(f"{self.what}: {why} (bytes {self.data.hex()})")

    def left(self):
        return len(self.data) - self.pos

    def take(self, n):
        if self.left() < n:
            self.fail(f"needs {n} more bytes at offset {self.pos}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("!H", self.take(2))[0]

    def u32(self):
        return struct.unpack("!I", self.take(4))[0]

    def varint(self):
        value, used = decode_varint(self.data, self.pos)
        if value is None:
            self.fail("truncated or over-long Variable Byte Integer")
        if used != len(varint(value)):
            self.fail("Variable Byte Integer not in its minimal form [MQTT-1.5.5-1]")
        self.pos += used
        return value

    def binary(self):
        return self.take(self.u16())

    def string(self):
        raw = self.binary()
        try:
            text = raw.decode("utf-8")  # Python rejects surrogates and over-long forms
        except UnicodeDecodeError:
            self.fail(f"ill-formed UTF-8 string {raw!r} [MQTT-1.5.4-1]")
        if "\x00" in text:
            self.fail(f"string contains U+0000 {raw!r} [MQTT-1.5.4-2]")
        return text

    def properties(self, ptype):
        length = self.varint()
        end = self.pos + length
        if end > len(self.data):
            self.fail("Property Length runs past the packet")
        items = []
        while self.pos < end:
            ident = self.varint()
            if ident not in PROPERTIES:
                self.fail(f"unknown property 0x{ident:02x}")
            name, kind, allowed = PROPERTIES[ident]
            if ptype not in allowed:
                self.fail(f"property {name} is not allowed on {PACKET_NAMES[ptype]}")
            if ident not in REPEATABLE and any(i == ident for i, _ in items):
                self.fail(f"property {name} appears twice")
            if kind == BYTE:
                value = self.u8()
            elif kind == TWO:
                value = self.u16()
            elif kind == FOUR:
                value = self.u32()
            elif kind == VARINT:
                value = self.varint()
            elif kind == STRING:
                value = self.string()
            elif kind == BINARY:
                value = self.binary()
            else:
                value = (self.string(), self.string())
            items.append((ident, value))
        if self.pos != end:
            self.fail("a property runs past the Property Length")
        return Properties(items)

    def done(self):
        if self.left():
            self.fail(f"{self.left()} unexpected trailing bytes")


def decode_varint(data, pos):
    """(value, bytes used) or (None, 0) if incomplete or longer than four bytes."""
    value, mult = 0, 1
    for i in range(4):
        if pos + i >= len(data):
            return None, 0
        byte = data[pos + i]
        value += (byte & 0x7F) * mult
        if not byte & 0x80:
            return value, i + 1
        mult *= 128
    return None, 0


REQUIRED_FLAGS = {CONNACK: 0, PUBACK: 0, PUBREC: 0, PUBREL: 2, PUBCOMP: 0, SUBACK: 0, UNSUBACK: 0, PINGRESP: 0,
                  DISCONNECT: 0, AUTH: 0}


def decode(raw, version):
    """Decodes one whole packet (fixed header included) sent by a server; raises ProtocolViolation."""
    ptype, flags = raw[0] >> 4, raw[0] & 0x0F
    r = _Reader(raw, f"server packet {PACKET_NAMES.get(ptype, ptype)}")
    r.take(1)
    r.varint()
    p = Packet(ptype, flags, raw)
    if ptype in (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ) or ptype == 0:
        r.fail("a server never sends this packet type")
    if ptype == AUTH and version != V5:
        r.fail("AUTH does not exist in MQTT 3.1.1")
    if ptype == DISCONNECT and version != V5:
        r.fail("a 3.1.1 server never sends DISCONNECT")
    if ptype != PUBLISH and flags != REQUIRED_FLAGS[ptype]:
        r.fail(f"reserved fixed header flags are {flags:04b}, must be {REQUIRED_FLAGS[ptype]:04b} [MQTT-2.1.3-1]")
    if ptype == CONNACK:
        ack_flags = r.u8()
        if ack_flags & 0xFE:
            r.fail("Connect Acknowledge Flags bits 7-1 are not 0 [MQTT-3.2.2-1]")
        p.session_present = bool(ack_flags & 1)
        p.reason = r.u8()
        if version == V5:
            p.properties = r.properties(ptype)
            if p.reason not in CONNACK_CODES:
                r.fail(f"0x{p.reason:02x} is not a CONNACK Reason Code [MQTT-3.2.2-8]")
        elif p.reason not in V311_CONNACK_CODES:
            r.fail(f"{p.reason} is not a 3.1.1 CONNACK return code")
    elif ptype == PUBLISH:
        p.dup, p.qos, p.retain = bool(flags & 8), (flags >> 1) & 3, bool(flags & 1)
        if p.qos == 3:
            r.fail("PUBLISH with both QoS bits set [MQTT-3.3.1-4]")
        if p.qos == 0 and p.dup:
            r.fail("QoS 0 PUBLISH with DUP set [MQTT-3.3.1-2]")
        p.topic = r.string()
        if p.qos:
            p.packet_id = r.u16()
            if p.packet_id == 0:
                r.fail("PUBLISH with QoS > 0 and Packet Identifier 0 [MQTT-2.2.1-4]")
        if version == V5:
            p.properties = r.properties(ptype)
        p.payload = r.take(r.left())
    elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        p.packet_id = r.u16()
        if version == V5 and r.left():
            p.reason = r.u8()
            if r.left():
                p.properties = r.properties(ptype)
            codes = {PUBACK: PUBACK_CODES, PUBREC: PUBREC_CODES, PUBREL: PUBREL_CODES, PUBCOMP: PUBCOMP_CODES}
            if p.reason not in codes[ptype]:
                r.fail(f"0x{p.reason:02x} is not a {p.name} Reason Code")
    elif ptype in (SUBACK, UNSUBACK):
        p.packet_id = r.u16()
        if version == V5:
            p.properties = r.properties(ptype)
        p.reasons = list(r.take(r.left()))
        if version == V5 or ptype == SUBACK:
            if not p.reasons:
                r.fail("no Reason Codes")
            allowed = (SUBACK_CODES if ptype == SUBACK else UNSUBACK_CODES) if version == V5 else V311_SUBACK_CODES
            for code in p.reasons:
                if code not in allowed:
                    r.fail(f"0x{code:02x} is not a {p.name} Reason Code")
    elif ptype == PINGRESP:
        pass
    elif ptype in (DISCONNECT, AUTH):
        if r.left():
            p.reason = r.u8()
            if r.left():
                p.properties = r.properties(ptype)
        allowed = SERVER_DISCONNECT_CODES if ptype == DISCONNECT else AUTH_CODES
        if p.reason not in allowed:
            r.fail(f"0x{p.reason:02x} is not a {p.name} Reason Code a server may send")
        if ptype == DISCONNECT and SESSION_EXPIRY_INTERVAL in p.properties:
            r.fail("server DISCONNECT carries a Session Expiry Interval [MQTT-3.14.2-2]")
    r.done()
    return p


# ---------------------------------------------------------------------------------------------------------------

class Client:
    """One TCP connection to the broker, speaking one protocol version. Not thread safe."""

    def __init__(self, host, port, version=V5, timeout=2.0, name="client"):
        self.version = version
        self.timeout = timeout
        self.name = name
        self.buffer = bytearray()
        self.closed = False
        self.received = []  # every packet decoded on this connection, in order
        self.max_packet_size = None  # if set, every received packet is checked against it
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- sending
    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:  # the server may already have closed: later reads report it
            self.closed = True
            self.send_error = e

    # -- receiving
    def _fill(self, deadline):
        """Reads once; returns False on timeout, raises Closed at end of stream."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.closed = True
            raise Closed(f"{self.name}: connection closed by the server")
        self.buffer += chunk
        return True

    def _complete_packet(self):
        if len(self.buffer) < 2:
            return None
        length, used = decode_varint(self.buffer, 1)
        if length is None:
            if len(self.buffer) >= 5:
                raise ProtocolViolation(f"{self.name}: invalid Remaining Length {bytes(self.buffer[:5]).hex()}")
            return None
        total = 1 + used + length
        if len(self.buffer) < total:
            return None
        raw = bytes(self.buffer[:total])
        del self.buffer[:total]
        return raw

    def recv(self, timeout=None):
        """The next packet; raises Timeout or Closed."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for _ in range(100000):
            raw = self._complete_packet()
            if raw is not None:
                p = decode(raw, self.version)
                if self.max_packet_size is not None and len(raw) > self.max_packet_size:
                    raise ProtocolViolation(f"{self.name}: server sent a {len(raw)}-byte {p.name}, above the "
                                            f"Maximum Packet Size {self.max_packet_size} [MQTT-3.1.2-24]")
                self.received.append(p)
                return p
            if not self._fill(deadline):
                wait = self.timeout if timeout is None else timeout
                raise Timeout(f"{self.name}: no packet within {wait:g} s")
        raise Timeout(f"{self.name}: too many reads")

    def expect(self, ptype, timeout=None):
        p = self.recv(timeout)
        if p.type != ptype:
            raise AssertionError(f"{self.name}: expected {PACKET_NAMES[ptype]}, got {p!r}")
        return p

    def poll(self, timeout):
        """The next packet, or None if none arrives within timeout (a close raises Closed)."""
        try:
            return self.recv(timeout)
        except Timeout:
            return None

    def expect_nothing(self, duration=0.5):
        """Asserts that no packet arrives (and the connection stays open) for duration seconds."""
        p = self.poll(duration)
        if p is not None:
            raise AssertionError(f"{self.name}: expected no packet, got {p!r}")

    def expect_closed(self, timeout=None, allow=(DISCONNECT,)):
        """Asserts that the server closes the connection within timeout. Packets of the types in allow may arrive
        first (by default a DISCONNECT); any other packet fails. Returns the packets received before the close."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        got = []
        for _ in range(1000):
            try:
                p = self.recv(max(0.0, deadline - time.monotonic()))
            except Closed:
                return got
            except Timeout:
                raise AssertionError(f"{self.name}: connection still open after "
                                     f"{self.timeout if timeout is None else timeout} s; received {got!r}")
            if any(g.type == DISCONNECT for g in got):
                raise AssertionError(f"{self.name}: server sent {p!r} after its DISCONNECT [MQTT-3.14.4-1]")
            if p.type not in allow:
                raise AssertionError(f"{self.name}: expected the connection to close, got {p!r}")
            got.append(p)
        raise AssertionError("too many packets")

    def raw_until_closed(self, timeout=None):
        """Every byte the server sends until it closes the connection, undecoded (for replies whose format the
        test cannot know in advance). Fails if the connection is still open after timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for _ in range(10000):
            try:
                if not self._fill(deadline):
                    raise AssertionError(f"{self.name}: connection still open; received {bytes(self.buffer).hex()}")
            except Closed:
                return bytes(self.buffer)
        raise AssertionError("too many reads")

    def drop(self, timeout=None):
        """Ends the connection without DISCONNECT, as a network failure would, and returns once the server has
        processed it: the write side is shut down, so the server reads end of stream and closes its side, which is
        awaited here (whatever the server still sent is discarded). Unlike close(), after drop() the server has
        seen the end of the connection (a will is due, the session is offline), so the next step of a test is
        ordered after it."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.raw_until_closed(timeout)
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True
