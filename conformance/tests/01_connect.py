"""CONNECT and CONNACK: the first packets, protocol name and level, flags, payload fields, client identifiers,
takeover, keepalive, and refusals."""

import time

import mqtt_raw as mq
from framework import BrokerTest, spec
from mqtt_raw import V311, V5


def connect_with_flags(v, flags, payload_tail=b"", client_id="cid"):
    """A CONNECT whose Connect Flags byte and payload are built by hand (client id then payload_tail)."""
    variable = mq.string("MQTT") + mq.u8(v) + mq.u8(flags) + mq.u16(60)
    if v == V5:
        variable += mq.props()
    return mq.packet(0x10, variable + mq.string(client_id) + payload_tail)


class Connect(BrokerTest):

    @spec("3.1.1:MQTT-3.1.4-4", "3.1.1:MQTT-3.2.0-1", "3.1.1:MQTT-3.2.2-1", "3.1.1:MQTT-7.1.1-1",
          "5.0:MQTT-3.1.4-5", "5.0:MQTT-3.2.0-1", "5.0:MQTT-3.2.2-1", "5.0:MQTT-3.2.2-2", "5.0:MQTT-3.2.2-8",
          "5.0:MQTT-2.2.2-1", "5.0:MQTT-4.2.0-1", "5.0:MQTT-4.12.0-6")
    def test_connack_is_first_and_accepts(self, v):
        """A valid CONNECT is answered first by a CONNACK with code 0 and Session Present 0."""
        c = self.client(v)
        c.send(mq.connect(v, self.cid(), clean=True))
        ack = c.recv()
        self.assertEqual(ack.type, mq.CONNACK, f"first packet from the server: {ack!r}")
        self.assertEqual(ack.reason, 0)
        self.assertFalse(ack.session_present)
        if v == V5:
            self.assertNotIn(mq.AUTHENTICATION_METHOD, ack.properties)
        c.send(mq.pingreq())
        self.assertEqual(c.recv().type, mq.PINGRESP)  # and no AUTH

    @spec("3.1.1:MQTT-3.12.4-1", "5.0:MQTT-3.12.4-1")
    def test_pingreq_gets_pingresp(self, v):
        """Each PINGREQ is answered with a PINGRESP."""
        c = self.connected(v)
        for _ in range(3):
            c.send(mq.pingreq())
            c.expect(mq.PINGRESP)

    @spec("3.1.1:MQTT-3.1.0-1", "3.1.1:MQTT-4.8.0-1", "5.0:MQTT-3.1.0-1", "5.0:MQTT-3.14.0-1",
          "5.0:MQTT-4.13.1-1")
    def test_first_packet_must_be_connect(self, v):
        """A connection that starts with anything but CONNECT is closed, without a reply."""
        c = self.client(v)
        c.send(mq.pingreq())
        c.expect_closed(allow=())

    @spec("3.1.1:MQTT-3.1.0-2", "3.1.1:MQTT-4.8.0-1", "5.0:MQTT-3.1.0-2", "5.0:MQTT-3.2.0-2",
          "5.0:MQTT-4.13.1-1", "5.0:MQTT-4.13.2-1", "5.0:MQTT-3.14.2-1", "5.0:MQTT-3.14.4-2")
    def test_second_connect_is_a_protocol_error(self, v):
        """A second CONNECT closes the connection (5.0: at most a DISCONNECT first, never a second CONNACK)."""
        c = self.connected(v)
        c.send(mq.connect(v, self.cid()))
        self.assert_closed(c, reasons={0x82, 0x81})

    @spec("3.1.1:MQTT-3.1.2-1", "5.0:MQTT-3.1.2-1")
    def test_wrong_protocol_name(self, v):
        """A CONNECT whose protocol name is not MQTT is not accepted: the connection is closed (5.0 allows a
        CONNACK 0x84 first; 3.1.1 forbids carrying on under this specification, so no success CONNACK)."""
        c = self.client(v)
        c.send(mq.connect(v, self.cid(), protocol_name="MQTX"))
        data = c.raw_until_closed()
        if data:
            self.assertEqual(data[0], 0x20, f"reply {data.hex()}")
            self.assertIn(data[3], (0x84, 0x01), f"reply {data.hex()}")

    @spec("3.1.1:MQTT-3.1.2-2", "3.1.1:MQTT-3.2.2-4", "3.1.1:MQTT-3.2.2-5", "5.0:MQTT-3.1.2-2")
    def test_unsupported_protocol_level(self, v):
        """Protocol level 6: 3.1.1 requires CONNACK 0x01 then close; 5.0 allows CONNACK 0x84, then close."""
        c = self.client(v)
        c.send(mq.connect(v, self.cid(), protocol_level=6))
        data = c.raw_until_closed()
        if v == V311:
            self.assertEqual(data, b"\x20\x02\x00\x01")
        elif data:
            self.assertIn(data, (b"\x20\x03\x00\x84\x00", b"\x20\x02\x00\x01"), f"reply {data.hex()}")

    @spec("3.1.1:MQTT-3.1.2-3", "3.1.1:MQTT-3.1.4-1", "3.1.1:MQTT-3.2.2-6", "3.1.1:MQTT-2.2.2-2",
          "5.0:MQTT-3.1.2-3", "5.0:MQTT-3.1.4-1", "5.0:MQTT-3.14.0-1", "5.0:MQTT-4.13.1-1")
    def test_reserved_connect_flag(self, v):
        """The reserved Connect Flags bit set: the connection is closed (3.1.1: without a CONNACK; 5.0: at most a
        CONNACK 0x81, never a DISCONNECT)."""
        c = self.client(v)
        c.send(mq.connect(v, self.cid(), flags=0x03))
        if v == V311:
            c.expect_closed(allow=())
        else:
            self.assert_refused(c, v, codes5={0x81, 0x82})

    @spec("3.1.1:MQTT-3.1.2-11", "3.1.1:MQTT-3.1.2-13", "5.0:MQTT-3.1.2-11")
    def test_will_qos_without_will_flag(self, v):
        """Will QoS 1 with the Will Flag 0 is refused."""
        c = self.client(v)
        c.send(connect_with_flags(v, 0x02 | 0x08, client_id=self.cid()))
        self.assert_refused(c, v)

    @spec("3.1.1:MQTT-3.1.2-11", "3.1.1:MQTT-3.1.2-15", "5.0:MQTT-3.1.2-13")
    def test_will_retain_without_will_flag(self, v):
        """Will Retain 1 with the Will Flag 0 is refused."""
        c = self.client(v)
        c.send(connect_with_flags(v, 0x02 | 0x20, client_id=self.cid()))
        self.assert_refused(c, v)

    @spec("3.1.1:MQTT-3.1.2-14", "5.0:MQTT-3.1.2-12")
    def test_will_qos_3(self, v):
        """Will QoS 3 is refused."""
        c = self.client(v)
        will = (mq.props() if v == V5 else b"") + mq.string(self.topic("will")) + mq.binary(b"x")
        c.send(connect_with_flags(v, 0x02 | 0x04 | 0x18, will, client_id=self.cid()))
        self.assert_refused(c, v)

    @spec("3.1.1:MQTT-3.1.2-9", "5.0:MQTT-3.1.2-9")
    def test_will_flag_without_will_fields(self, v):
        """Will Flag 1 but no Will Topic / Will Message in the payload is refused."""
        c = self.client(v)
        c.send(connect_with_flags(v, 0x02 | 0x04, client_id=self.cid()))
        self.assert_refused(c, v)

    @spec("3.1.1:MQTT-3.1.2-19", "5.0:MQTT-3.1.2-17")
    def test_user_name_flag_without_user_name(self, v):
        """User Name Flag 1 but no User Name in the payload is refused."""
        c = self.client(v)
        c.send(connect_with_flags(v, 0x02 | 0x80, client_id=self.cid()))
        self.assert_refused(c, v)

    @spec("3.1.1:MQTT-3.1.2-18", "5.0:MQTT-3.1.2-16")
    def test_user_name_without_user_name_flag(self, v):
        """A User Name in the payload with the User Name Flag 0 is refused."""
        c = self.client(v)
        c.send(connect_with_flags(v, 0x02, mq.string("user"), client_id=self.cid()))
        self.assert_refused(c, v)

    @spec("3.1.1:MQTT-3.1.2-21", "5.0:MQTT-3.1.2-19")
    def test_password_flag_without_password(self, v):
        """Password Flag 1 but no Password in the payload is refused."""
        c = self.client(v)
        c.send(connect_with_flags(v, 0x02 | 0x80 | 0x40, mq.string("user"), client_id=self.cid()))
        self.assert_refused(c, v)

    @spec("3.1.1:MQTT-3.1.2-20", "5.0:MQTT-3.1.2-18")
    def test_password_without_password_flag(self, v):
        """A Password in the payload with the Password Flag 0 is refused."""
        c = self.client(v)
        c.send(connect_with_flags(v, 0x02 | 0x80, mq.string("user") + mq.binary(b"secret"), client_id=self.cid()))
        self.assert_refused(c, v)

    @spec("3.1.1:MQTT-3.1.2-22")
    def test_password_without_user_name(self, v):
        """3.1.1: a Password with the User Name Flag 0 is refused."""
        c = self.client(v)
        c.send(connect_with_flags(v, 0x02 | 0x40, mq.binary(b"secret"), client_id=self.cid()))
        self.assert_refused(c, v)

    @spec("3.1.1:MQTT-3.1.3-3", "5.0:MQTT-3.1.3-3")
    def test_missing_client_identifier(self, v):
        """A CONNECT payload without a Client Identifier is refused."""
        variable = mq.string("MQTT") + mq.u8(v) + mq.u8(0x02) + mq.u16(60) + (mq.props() if v == V5 else b"")
        c = self.client(v)
        c.send(mq.packet(0x10, variable))
        self.assert_refused(c, v)

    @spec("3.1.1:MQTT-3.1.3-4", "3.1.1:MQTT-1.5.3-1", "5.0:MQTT-3.1.3-4", "5.0:MQTT-1.5.4-1")
    def test_client_identifier_ill_formed_utf8(self, v):
        """A Client Identifier that is not well-formed UTF-8 (an encoded surrogate) closes the connection."""
        c = self.client(v)
        c.send(mq.connect(v, b"bad\xed\xa0\x80id"))
        self.assert_refused(c, v)

    @spec("3.1.1:MQTT-1.5.3-2", "5.0:MQTT-1.5.4-2")
    def test_client_identifier_with_null(self, v):
        """A Client Identifier containing U+0000 closes the connection."""
        c = self.client(v)
        c.send(mq.connect(v, b"bad\x00id"))
        self.assert_refused(c, v)

    @spec("3.1.1:MQTT-3.1.3-10", "5.0:MQTT-3.1.3-11")
    def test_will_topic_ill_formed_utf8(self, v):
        """A Will Topic that is not well-formed UTF-8 closes the connection."""
        c = self.client(v)
        c.send(mq.connect(v, self.cid(), will=dict(topic=b"w\xc0\xafx", payload=b"x")))
        self.assert_refused(c, v)

    @spec("3.1.1:MQTT-3.1.3-11", "5.0:MQTT-3.1.3-12")
    def test_user_name_ill_formed_utf8(self, v):
        """A User Name that is not well-formed UTF-8 closes the connection."""
        c = self.client(v)
        c.send(mq.connect(v, self.cid(), username=b"u\xff\xfe"))
        self.assert_refused(c, v)

    @spec("5.0:MQTT-1.5.7-1")
    def test_user_property_ill_formed_utf8(self, v):
        """5.0: a User Property whose value is not well-formed UTF-8 closes the connection."""
        c = self.client(v)
        c.send(mq.connect(v, self.cid(), properties=[(mq.USER_PROPERTY, ("k", b"v\xed\xbf\xbf"))]))
        self.assert_refused(c, v)

    @spec("3.1.1:MQTT-3.1.3-5", "5.0:MQTT-3.1.3-5")
    def test_23_character_client_identifier(self, v):
        """A 23-character alphanumeric Client Identifier is accepted."""
        cid = ("Az09" + self.token + "0123456789abcdefghijklmnopqrstuvwxyz")[:23]
        self.connect(v, cid)

    @spec("3.1.1:MQTT-3.1.3-6", "5.0:MQTT-3.1.3-6", "5.0:MQTT-3.1.3-7", "5.0:MQTT-3.2.2-16")
    def test_empty_client_identifier(self, v):
        """An empty Client Identifier (clean) gets a unique identifier: two such clients stay connected side by
        side, and 5.0 CONNACKs carry distinct Assigned Client Identifiers."""
        a, ack_a = self.connect(v, "", check=False)
        if v == V311 and ack_a.reason == 2:
            self.skipTest("the server does not allow empty Client Identifiers (a MAY)")
        self.assertEqual(ack_a.reason, 0)
        b, ack_b = self.connect(v, "")
        if v == V5:
            id_a = ack_a.properties.get(mq.ASSIGNED_CLIENT_IDENTIFIER)
            id_b = ack_b.properties.get(mq.ASSIGNED_CLIENT_IDENTIFIER)
            self.assertTrue(id_a and id_b, "no Assigned Client Identifier")
            self.assertNotEqual(id_a, id_b)
        for c in (a, b):
            c.send(mq.pingreq())
            c.expect(mq.PINGRESP)

    @spec("3.1.1:MQTT-3.1.3-8", "3.1.1:MQTT-3.1.3-9", "3.1.1:MQTT-3.2.2-4", "3.1.1:MQTT-3.2.2-5")
    def test_empty_client_identifier_persistent(self, v):
        """3.1.1: an empty Client Identifier with CleanSession 0 gets CONNACK 0x02, then the close."""
        c = self.client(v)
        c.send(mq.connect(v, "", clean=False))
        self.assertEqual(c.raw_until_closed(), b"\x20\x02\x00\x02")

    @spec("3.1.1:MQTT-3.1.4-2", "5.0:MQTT-3.1.4-3", "5.0:MQTT-3.14.4-1", "5.0:MQTT-3.14.4-2",
          "5.0:MQTT-3.14.2-1")
    def test_takeover_closes_existing_connection(self, v):
        """A second connection with the same Client Identifier closes the first (5.0: DISCONNECT 0x8E if any,
        and nothing after it)."""
        first = self.connected(v, self.cid("dup"), name="first")
        second = self.connected(v, self.cid("dup"), name="second")
        self.assert_closed(first, reasons={0x8E})
        second.send(mq.pingreq())
        second.expect(mq.PINGRESP)

    @spec("3.1.1:MQTT-3.1.2-24", "5.0:MQTT-3.1.2-22", "5.0:MQTT-3.2.2-22")
    def test_keepalive_timeout(self, v):
        """A client silent for 1.5 times its Keep Alive (1 s) is disconnected, not before the Keep Alive."""
        c, ack = self.connect(v, keepalive=1)
        keepalive = ack.properties.get(mq.SERVER_KEEP_ALIVE, 1) if v == V5 else 1
        if keepalive != 1:
            self.skipTest(f"the server imposes Server Keep Alive {keepalive}")
        start = time.monotonic()
        c.expect_closed(timeout=1.5 * keepalive + 1.0)
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 0.9 * keepalive, f"closed after {elapsed:.2f} s")

    @spec("3.1.1:MQTT-3.1.2-24", "5.0:MQTT-3.1.2-22")
    def test_keepalive_reset_by_traffic(self, v):
        """A client sending PINGREQ every 0.5 s with Keep Alive 1 s stays connected."""
        c = self.connected(v, keepalive=1)
        for _ in range(5):
            time.sleep(0.5)  # pacing the client's own traffic (the scenario), not synchronization
            c.send(mq.pingreq())
            c.expect(mq.PINGRESP)

    @spec("3.1.1:MQTT-3.1.4-5", "5.0:MQTT-3.1.4-6")
    def test_nothing_processed_after_refused_connect(self, v):
        """Bytes after a refused CONNECT (a retained PUBLISH in the same segment) are not processed."""
        topic = self.topic("after-refused")
        c = self.client(v)
        c.send(mq.connect(v, self.cid(), protocol_level=6) + mq.publish(v, topic, b"must not be stored", 0, True))
        c.raw_until_closed()
        sub = self.subscribed(v, topic, self.cid("sub"))
        sub.expect_nothing(0.5)  # bounded negative wait: no retained message was stored

    @spec("5.0:MQTT-4.12.0-1", "5.0:MQTT-3.2.2-6", "5.0:MQTT-3.2.2-7", "5.0:MQTT-4.13.2-1")
    def test_unsupported_authentication_method(self, v):
        """5.0: an Authentication Method the server does not support is refused and the connection closed."""
        c = self.client(v)
        c.send(mq.connect(v, self.cid(), properties=[(mq.AUTHENTICATION_METHOD, "X-CONFORMANCE-UNKNOWN")]))
        self.assert_refused(c, v)

    @spec("5.0:MQTT-4.12.0-7", "5.0:MQTT-4.13.1-1")
    def test_auth_without_authentication_method(self, v):
        """5.0: an AUTH from a client that gave no Authentication Method closes the connection."""
        c = self.connected(v)
        c.send(mq.auth(0x19))
        self.assert_closed(c, reasons={0x82, 0x81})

    @spec("5.0:MQTT-3.15.1-1")
    def test_auth_reserved_flags(self, v):
        """5.0: an AUTH with reserved flag bits set is malformed: the connection is closed."""
        c = self.connected(v)
        c.send(mq.auth(0x19, flags=0x01))
        self.assert_closed(c, reasons={0x81, 0x82})


class Refusal(BrokerTest):
    broker_config = ["allow_anonymous false"]

    @spec("3.1.1:MQTT-3.2.2-4", "3.1.1:MQTT-3.2.2-5", "5.0:MQTT-3.1.4-2", "5.0:MQTT-3.2.2-6",
          "5.0:MQTT-3.2.2-7", "5.0:MQTT-4.13.2-1")
    def test_refused_connection(self, v):
        """With anonymous clients refused, an anonymous CONNECT (clean 0) gets a failure CONNACK with Session
        Present 0, then the close."""
        c = self.client(v)
        c.send(mq.connect(v, self.cid(), clean=False))
        ack = self.assert_refused(c, v, codes311={4, 5}, codes5={0x86, 0x87})
        self.assertIsNotNone(ack, "closed without a CONNACK")


class MaxKeepalive(BrokerTest):
    broker_config = ["max_keepalive 10"]  # mosquitto 2.0.11 refuses values under 10

    @spec("3.1.1:MQTT-3.2.2-4", "3.1.1:MQTT-3.2.2-5")
    def test_keepalive_above_maximum(self, v):
        """3.1.1: with max_keepalive 10 a client asking for 60 s, if refused, gets CONNACK 0x02 with Session
        Present 0, then the close."""
        c = self.client(v)
        c.send(mq.connect(v, self.cid(), keepalive=60))
        ack = c.expect(mq.CONNACK)
        if ack.reason == 0:
            self.skipTest("the server accepts a 3.1.1 Keep Alive above max_keepalive")
        self.assertEqual((ack.reason, ack.session_present), (2, False))
        c.expect_closed()
