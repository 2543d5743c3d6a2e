"""PUBLISH: delivery to subscribers, topic names, QoS downgrade, DUP, ordering, and invalid topic names."""

import mqtt_raw as mq
from framework import BrokerTest, spec
from mqtt_raw import V311, V5


class Publish(BrokerTest):

    @spec("3.1.1:MQTT-2.3.1-5", "3.1.1:MQTT-3.3.1-2", "3.1.1:MQTT-4.3.1-1", "3.1.1:MQTT-3.3.2-1",
          "3.1.1:MQTT-3.3.2-3", "3.1.1:MQTT-4.5.0-1",
          "5.0:MQTT-2.2.1-2", "5.0:MQTT-3.3.1-2", "5.0:MQTT-4.3.1-1", "5.0:MQTT-3.3.2-1", "5.0:MQTT-3.3.2-3",
          "5.0:MQTT-4.5.0-1", "5.0:MQTT-2.2.2-1")
    def test_qos0_delivery(self, v):
        """A QoS 0 message reaches every matching subscriber as QoS 0, DUP 0, no Packet Identifier, its topic
        and payload intact."""
        topic = self.topic("q0")
        subs = [self.subscribed(v, [(topic, 2)], self.cid(f"s{i}")) for i in range(2)]
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"\x00payload\xff", qos=0)
        for s in subs:
            p = s.expect(mq.PUBLISH)
            self.assertEqual((p.topic, p.qos, p.dup, p.payload), (topic, 0, False, b"\x00payload\xff"))

    @spec("3.1.1:MQTT-3.3.5-1", "5.0:MQTT-3.3.4-2")
    def test_overlapping_subscriptions(self, v):
        """With overlapping subscriptions at QoS 0 and QoS 2, the message is delivered at QoS 2 (one copy at
        least is QoS 2; any single copy is QoS 2)."""
        topic = self.topic("o/x")
        s = self.subscribed(v, [(self.topic("o/#"), 0), (topic, 2)])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"m", qos=2)
        got = self.collect(s, 0.7)
        self.assertTrue(got, "no delivery")
        self.assertEqual(max(p.qos for p in got), 2, f"{got!r}")

    @spec("3.1.1:MQTT-3.8.4-6", "5.0:MQTT-3.8.4-8")
    def test_qos_is_minimum_of_publish_and_grant(self, v):
        """The delivered QoS is min(published QoS, granted QoS), for every pair."""
        pub = self.connected(v, self.cid("pub"))
        for granted in (0, 1, 2):
            topic = self.topic(f"g{granted}")
            s = self.connected(v, self.cid(f"s{granted}"))
            ack = self.subscribe(s, [(topic, granted)])
            got_grant = ack.reasons[0]
            for qos in (0, 1, 2):
                self.publish(pub, topic, f"{qos}".encode(), qos=qos)
                p = self.receive(s, topic, f"{qos}")
                self.assertEqual(p.qos, min(qos, got_grant), f"published {qos}, granted {got_grant}")

    @spec("3.1.1:MQTT-3.3.1-3", "5.0:MQTT-3.3.1-3")
    def test_dup_not_propagated(self, v):
        """A PUBLISH received with DUP 1 is forwarded with DUP 0 (it is not a retransmission)."""
        topic = self.topic("dup")
        s = self.subscribed(v, [(topic, 1)])
        pub = self.connected(v, self.cid("pub"))
        pub.send(mq.publish(v, topic, b"d", qos=1, dup=True, packet_id=3))
        pub.expect(mq.PUBACK)
        p = self.receive(s, topic, b"d")
        self.assertFalse(p.dup)

    @spec("3.1.1:MQTT-4.6.0-5", "3.1.1:MQTT-4.6.0-6", "3.1.1:MQTT-7.1.1-1",
          "5.0:MQTT-4.6.0-5", "5.0:MQTT-4.6.0-6", "5.0:MQTT-4.2.0-1")
    def test_order_is_kept(self, v):
        """Messages from one client on one topic, per QoS, reach a subscriber in the order they were sent."""
        topic = self.topic("order")
        s = self.subscribed(v, [(topic, 2)])
        pub = self.connected(v, self.cid("pub"))
        batch = b""
        for i in range(30):
            batch += mq.publish(v, topic, f"q0-{i}".encode(), qos=0)
            batch += mq.publish(v, topic, f"q1-{i}".encode(), qos=1, packet_id=100 + i)
        pub.send(batch)
        got = self.collect(s, 1.5)
        for prefix in (b"q0-", b"q1-"):
            seq = [p.payload for p in got if p.payload.startswith(prefix)]
            self.assertEqual(seq, [prefix + str(i).encode() for i in range(30)])

    @spec("5.0:MQTT-1.5.5-1")
    def test_large_message(self, v):
        """A 300 kB message is delivered intact (its Remaining Length in minimal form, checked by the decoder)."""
        topic = self.topic("big")
        s = self.subscribed(v, [(topic, 1)])
        pub = self.connected(v, self.cid("pub"))
        payload = bytes(range(256)) * 1200
        self.publish(pub, topic, payload, qos=1)
        self.receive(s, topic, payload, timeout=5)

    @spec("3.1.1:MQTT-1.5.3-3", "3.1.1:MQTT-4.7.3-4", "5.0:MQTT-1.5.4-3", "5.0:MQTT-4.7.3-4")
    def test_bom_is_not_stripped(self, v):
        """U+FEFF in a topic name is kept: it matches only a filter that has it, and is delivered as sent."""
        plain, bom = self.topic("ab"), self.topic("a\ufeffb")
        s_bom = self.subscribed(v, [(bom, 0)], self.cid("bom"))
        s_plain = self.subscribed(v, [(plain, 0)], self.cid("plain"))
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, bom, b"x")
        self.assertEqual(s_bom.expect(mq.PUBLISH).topic, bom)
        s_plain.expect_nothing(0.4)

    @spec("3.1.1:MQTT-4.7.3-4", "5.0:MQTT-4.7.3-4")
    def test_no_normalization(self, v):
        """Topics are matched byte for byte: no case folding, no Unicode normalization."""
        composed, decomposed, upper = self.topic("caf\u00e9"), self.topic("cafe\u0301"), self.topic("CAF\u00c9")
        s = self.subscribed(v, [(composed, 0)])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, decomposed, b"1")
        self.publish(pub, upper, b"2")
        self.publish(pub, composed, b"3")
        self.assertEqual(s.expect(mq.PUBLISH).payload, b"3")
        s.expect_nothing(0.3)

    @spec("3.1.1:MQTT-3.3.1-4", "3.1.1:MQTT-4.8.0-1", "5.0:MQTT-3.3.1-4", "5.0:MQTT-4.13.1-1")
    def test_qos_3_closes(self, v):
        """A PUBLISH with both QoS bits set closes the connection."""
        c = self.connected(v)
        c.send(mq.packet(0x36, mq.string(self.topic()) + mq.u16(1) + (mq.props() if v == V5 else b"") + b"x"))
        self.assert_closed(c, reasons={0x81, 0x82})

    @spec("3.1.1:MQTT-3.3.2-2", "3.1.1:MQTT-4.7.1-1", "5.0:MQTT-3.3.2-2", "5.0:MQTT-4.7.0-1")
    def test_wildcard_in_topic_name_closes(self, v):
        """A PUBLISH whose topic name holds + or # closes the connection (each case on its own connection)."""
        for bad in (self.topic("+"), self.topic("#"), self.topic("a+b")):
            c = self.connected(v, self.cid("w"))
            c.send(mq.publish(v, bad, b"x"))
            self.assert_closed(c, reasons={0x90, 0x82, 0x81})

    @spec("3.1.1:MQTT-4.7.3-1", "5.0:MQTT-4.7.3-1")
    def test_empty_topic_name_closes(self, v):
        """A PUBLISH with an empty topic name (and, in 5.0, no Topic Alias) closes the connection."""
        c = self.connected(v)
        c.send(mq.publish(v, "", b"x"))
        self.assert_closed(c, reasons={0x82, 0x81, 0x90})

    @spec("3.1.1:MQTT-4.7.3-2", "3.1.1:MQTT-1.5.3-2", "5.0:MQTT-4.7.3-2", "5.0:MQTT-1.5.4-2")
    def test_null_in_topic_name_closes(self, v):
        """A topic name containing U+0000 closes the connection."""
        c = self.connected(v)
        c.send(mq.publish(v, self.topic("a\x00b"), b"x"))
        self.assert_closed(c, reasons={0x81, 0x82, 0x90})

    @spec("3.1.1:MQTT-1.5.3-1", "3.1.1:MQTT-3.3.2-1", "5.0:MQTT-1.5.4-1", "5.0:MQTT-3.3.2-1")
    def test_ill_formed_utf8_topic_name_closes(self, v):
        """A topic name that is not well-formed UTF-8 (an encoded surrogate, an over-long form) closes the
        connection."""
        for bad in (b"t/\xed\xa0\x80", b"t/\xc0\xaf", b"t/\xff"):
            c = self.connected(v, self.cid("u"))
            c.send(mq.publish(v, bad, b"x"))
            self.assert_closed(c, reasons={0x81, 0x82, 0x90})

    @spec("3.1.1:MQTT-2.3.1-1", "5.0:MQTT-2.2.1-3")
    def test_packet_identifier_zero_closes(self, v):
        """A QoS 1 PUBLISH with Packet Identifier 0 closes the connection."""
        c = self.connected(v)
        c.send(mq.publish(v, self.topic(), b"x", qos=1, packet_id=0))
        self.assert_closed(c, reasons={0x81, 0x82})
