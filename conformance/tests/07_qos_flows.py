"""QoS 1 and QoS 2 flows, with the server as receiver and as sender; Packet Identifiers; ack fixed headers."""

import time

import mqtt_raw as mq
from framework import BrokerTest, spec
from mqtt_raw import V311, V5


class QosFlows(BrokerTest):

    @spec("3.1.1:MQTT-2.3.1-6", "3.1.1:MQTT-3.3.4-1", "3.1.1:MQTT-4.3.2-2",
          "5.0:MQTT-2.2.1-5", "5.0:MQTT-3.3.4-1", "5.0:MQTT-4.3.2-4", "5.0:MQTT-3.4.2-1")
    def test_qos1_publish_gets_puback(self, v):
        """A QoS 1 PUBLISH is answered by a PUBACK with its Packet Identifier (and a PUBACK Reason Code)."""
        c = self.connected(v)
        for pid in (1, 0x7FFF, 0xFFFF):
            c.send(mq.publish(v, self.topic(), b"x", qos=1, packet_id=pid))
            ack = c.expect(mq.PUBACK)
            self.assertEqual(ack.packet_id, pid)
            self.assertIn(ack.reason, (0x00, 0x10))

    @spec("3.1.1:MQTT-2.3.1-6", "3.1.1:MQTT-3.3.4-1", "3.1.1:MQTT-4.3.3-2",
          "5.0:MQTT-2.2.1-5", "5.0:MQTT-3.3.4-1", "5.0:MQTT-4.3.3-8", "5.0:MQTT-4.3.3-11", "5.0:MQTT-3.5.2-1",
          "5.0:MQTT-3.7.2-1")
    def test_qos2_publish_gets_pubrec_and_pubcomp(self, v):
        """A QoS 2 PUBLISH is answered by PUBREC, and its PUBREL by PUBCOMP, all with its Packet Identifier."""
        c = self.connected(v)
        c.send(mq.publish(v, self.topic(), b"x", qos=2, packet_id=0xBEEF))
        rec = c.expect(mq.PUBREC)
        self.assertEqual(rec.packet_id, 0xBEEF)
        self.assertIn(rec.reason, (0x00, 0x10))
        c.send(mq.pubrel(v, 0xBEEF))
        comp = c.expect(mq.PUBCOMP)
        self.assertEqual((comp.packet_id, comp.reason), (0xBEEF, 0))

    @spec("5.0:MQTT-3.7.2-1", "5.0:MQTT-4.3.3-11")
    def test_pubrel_for_unknown_packet_identifier(self, v):
        """5.0: a PUBREL for a Packet Identifier not in use is still answered by PUBCOMP (0x00 or 0x92)."""
        c = self.connected(v)
        c.send(mq.pubrel(v, 77))
        comp = c.expect(mq.PUBCOMP)
        self.assertEqual(comp.packet_id, 77)
        self.assertIn(comp.reason, (0x00, 0x92))

    @spec("3.1.1:MQTT-4.3.2-2", "5.0:MQTT-4.3.2-5")
    def test_qos1_same_packet_identifier_is_new_message(self, v):
        """After its PUBACK, a PUBLISH reusing the Packet Identifier (even with DUP 1) is a new message."""
        topic = self.topic()
        s = self.subscribed(v, [(topic, 1)])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"1", qos=1, packet_id=5)
        pub.send(mq.publish(v, topic, b"2", qos=1, packet_id=5, dup=True))
        pub.expect(mq.PUBACK)
        self.assertEqual([p.payload for p in self.collect(s, 0.6)], [b"1", b"2"])

    @spec("3.1.1:MQTT-4.3.3-2", "5.0:MQTT-4.3.3-10")
    def test_qos2_duplicate_before_pubrel_delivered_once(self, v):
        """A QoS 2 PUBLISH sent again before PUBREL gets another PUBREC and is delivered only once."""
        topic = self.topic()
        s = self.subscribed(v, [(topic, 2)])
        pub = self.connected(v, self.cid("pub"))
        pub.send(mq.publish(v, topic, b"once", qos=2, packet_id=9))
        self.assertEqual(pub.expect(mq.PUBREC).packet_id, 9)
        pub.send(mq.publish(v, topic, b"once", qos=2, packet_id=9, dup=True))
        self.assertEqual(pub.expect(mq.PUBREC).packet_id, 9)
        pub.send(mq.pubrel(v, 9))
        pub.expect(mq.PUBCOMP)
        self.assertEqual([p.payload for p in self.collect(s, 0.7)], [b"once"])

    @spec("3.1.1:MQTT-4.3.3-2", "5.0:MQTT-4.3.3-12")
    def test_qos2_same_packet_identifier_after_pubcomp_is_new_message(self, v):
        """After PUBCOMP, a QoS 2 PUBLISH reusing the Packet Identifier is a new message."""
        topic = self.topic()
        s = self.subscribed(v, [(topic, 2)])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"1", qos=2, packet_id=11)
        self.publish(pub, topic, b"2", qos=2, packet_id=11)
        self.assertEqual([p.payload for p in self.collect(s, 0.7)], [b"1", b"2"])

    @spec("3.1.1:MQTT-2.3.1-1", "3.1.1:MQTT-4.3.2-1",
          "5.0:MQTT-2.2.1-4", "5.0:MQTT-4.3.2-1", "5.0:MQTT-4.3.2-2")
    def test_server_qos1_packet_identifiers(self, v):
        """The server sends QoS 1 messages with DUP 0 and distinct non-zero Packet Identifiers while they are
        unacknowledged."""
        topic = self.topic()
        s = self.subscribed(v, [(topic, 1)])
        pub = self.connected(v, self.cid("pub"))
        for i in range(5):
            self.publish(pub, topic, b"%d" % i, qos=1)
        got = [s.expect(mq.PUBLISH) for _ in range(5)]
        ids = [p.packet_id for p in got]
        self.assertEqual(len(set(ids)), 5, f"Packet Identifiers {ids}")
        self.assertTrue(all(p.qos == 1 and not p.dup and p.packet_id for p in got))
        for p in got:
            s.send(mq.puback(v, p.packet_id))

    @spec("3.1.1:MQTT-4.3.3-1", "3.1.1:MQTT-2.3.1-6", "3.1.1:MQTT-2.2.2-1",
          "5.0:MQTT-4.3.3-1", "5.0:MQTT-4.3.3-2", "5.0:MQTT-4.3.3-4", "5.0:MQTT-4.3.3-6", "5.0:MQTT-3.6.2-1",
          "5.0:MQTT-2.2.1-5", "5.0:MQTT-2.1.3-1")
    def test_server_qos2_sender(self, v):
        """The server sends a QoS 2 message with DUP 0, answers PUBREC with a PUBREL (flags 0010) of the same
        Packet Identifier, and does not send the PUBLISH again."""
        topic = self.topic()
        s = self.subscribed(v, [(topic, 2)])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"x", qos=2)
        p = s.expect(mq.PUBLISH)
        self.assertEqual((p.qos, p.dup), (2, False))
        s.send(mq.pubrec(v, p.packet_id))
        rel = s.expect(mq.PUBREL)
        self.assertEqual((rel.packet_id, rel.flags, rel.reason), (p.packet_id, 0x2, 0))
        s.expect_nothing(0.5)
        s.send(mq.pubcomp(v, p.packet_id))
        s.expect_nothing(0.3)

    @spec("5.0:MQTT-4.3.3-13")
    def test_qos2_flow_completed_after_expiry(self, v):
        """5.0: a QoS 2 message with Message Expiry 1 s still gets PUBCOMP for a PUBREL sent after 1.5 s."""
        c = self.connected(v)
        c.send(mq.publish(v, self.topic(), b"x", qos=2, packet_id=3, properties=[(mq.MESSAGE_EXPIRY_INTERVAL, 1)]))
        c.expect(mq.PUBREC)
        time.sleep(1.5)  # the scenario, not synchronization: the message's 1 s expiry passes before PUBREL
        c.send(mq.pubrel(v, 3))
        self.assertEqual(c.expect(mq.PUBCOMP).packet_id, 3)

    @spec("3.1.1:MQTT-3.6.1-1", "3.1.1:MQTT-2.2.2-2", "5.0:MQTT-3.6.1-1", "5.0:MQTT-4.13.1-1")
    def test_pubrel_wrong_flags_closes(self, v):
        """A PUBREL with fixed header flags other than 0010 closes the connection."""
        c = self.connected(v)
        c.send(mq.publish(v, self.topic(), b"x", qos=2, packet_id=4))
        c.expect(mq.PUBREC)
        c.send(mq.pubrel(v, 4, flags=0x0))
        self.assert_closed(c, reasons={0x81})

    @spec("3.1.1:MQTT-2.2.2-2", "5.0:MQTT-2.1.3-1")
    def test_ack_and_ping_wrong_flags_close(self, v):
        """PUBACK, PUBREC, PUBCOMP, and PINGREQ with non-zero reserved flags close the
        connection."""
        for bad in (mq.puback(v, 1, flags=0x2), mq.pubrec(v, 1, flags=0x1), mq.pubcomp(v, 1, flags=0x8),
                    b"\xc1\x00"):
            c = self.connected(v, self.cid("f"))
            c.send(bad)
            self.assert_closed(c, reasons={0x81})
