"""Sessions: Clean Session / Clean Start, Session Present, state kept across connections, messages queued while
offline, redelivery on reconnect, and 5.0 session expiry."""

import time

import mqtt_raw as mq
from framework import BrokerTest, spec
from mqtt_raw import V311, V5


class Session(BrokerTest):

    def reconnect(self, v, cid, clean=False, expiry=60):
        return self.connect(v, cid, clean=clean, properties=self.session(v, expiry))

    @spec("3.1.1:MQTT-3.1.2-4", "3.1.1:MQTT-3.2.2-2", "3.1.1:MQTT-3.2.2-3", "3.1.1:MQTT-3.1.3-2",
          "3.1.1:MQTT-4.1.0-1",
          "5.0:MQTT-3.1.2-5", "5.0:MQTT-3.1.2-6", "5.0:MQTT-3.2.2-3", "5.0:MQTT-3.1.3-2", "5.0:MQTT-3.1.2-23",
          "5.0:MQTT-4.1.0-1")
    def test_session_resumed(self, v):
        """Clean 0: a first connection creates a session (Session Present 0); after a disconnect, reconnecting
        resumes it (Session Present 1) with its subscriptions; another Client Identifier has none."""
        cid, topic = self.cid("s"), self.topic()
        c, ack = self.reconnect(v, cid)
        self.assertFalse(ack.session_present)
        self.subscribe(c, [(topic, 1)])
        c.send(mq.disconnect(v))
        c.expect_closed()
        c, ack = self.reconnect(v, cid)
        self.assertTrue(ack.session_present)
        other, ack = self.reconnect(v, self.cid("other"))
        self.assertFalse(ack.session_present)
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"x", qos=1)
        self.receive(c, topic, b"x")
        other.expect_nothing(0.3)

    @spec("3.1.1:MQTT-3.1.2-6", "3.1.1:MQTT-3.1.4-3", "3.1.1:MQTT-3.2.2-1",
          "5.0:MQTT-3.1.2-4", "5.0:MQTT-3.1.4-4", "5.0:MQTT-3.2.2-2")
    def test_clean_session_discards_state(self, v):
        """Connecting clean discards the stored session: Session Present 0 and the old subscription is gone,
        also for a later clean 0 connection."""
        cid, topic = self.cid("s"), self.topic()
        c, _ = self.reconnect(v, cid)
        self.subscribe(c, [(topic, 1)])
        c.close()
        c, ack = self.connect(v, cid, clean=True)
        self.assertFalse(ack.session_present)
        c.send(mq.disconnect(v))
        c.expect_closed()
        c, ack = self.reconnect(v, cid)
        self.assertFalse(ack.session_present)
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"x", qos=1)
        c.expect_nothing(0.5)

    @spec("3.1.1:MQTT-3.1.2-5", "3.1.1:MQTT-3.1.2-4", "3.1.1:MQTT-4.5.0-1",
          "5.0:MQTT-3.1.2-23", "5.0:MQTT-3.1.2-5", "5.0:MQTT-4.5.0-1")
    def test_messages_queued_while_offline(self, v):
        """QoS 1 and QoS 2 messages for an offline session are kept and delivered, in order, on reconnect."""
        cid, topic = self.cid("s"), self.topic()
        c, _ = self.reconnect(v, cid)
        self.subscribe(c, [(topic, 2)])
        c.send(mq.disconnect(v))
        c.expect_closed()
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"one", qos=1)
        self.publish(pub, topic, b"two", qos=2)
        c, ack = self.reconnect(v, cid)
        self.assertTrue(ack.session_present)
        got = self.collect(c, 1.0)
        self.assertEqual([(p.payload, p.qos) for p in got], [(b"one", 1), (b"two", 2)])

    @spec("3.1.1:MQTT-4.4.0-1", "3.1.1:MQTT-3.3.1-1", "3.1.1:MQTT-2.3.1-4", "3.1.1:MQTT-4.3.2-1",
          "5.0:MQTT-4.4.0-1", "5.0:MQTT-3.3.1-1", "5.0:MQTT-4.3.2-3", "5.0:MQTT-2.2.1-4")
    def test_unacknowledged_publish_resent_on_reconnect(self, v):
        """A QoS 1 PUBLISH not acknowledged before the connection dropped is re-sent on reconnect with the same
        Packet Identifier and DUP 1."""
        cid, topic = self.cid("s"), self.topic()
        c, _ = self.reconnect(v, cid)
        self.subscribe(c, [(topic, 1)])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"x", qos=1)
        first = c.expect(mq.PUBLISH)
        self.assertFalse(first.dup)
        c.close()
        c, ack = self.reconnect(v, cid)
        again = c.expect(mq.PUBLISH)
        self.assertEqual((again.packet_id, again.payload, again.qos, again.dup), (first.packet_id, b"x", 1, True))
        c.send(mq.puback(v, again.packet_id))
        c.expect_nothing(0.4)

    @spec("3.1.1:MQTT-4.4.0-1", "3.1.1:MQTT-4.3.3-1",
          "5.0:MQTT-4.4.0-1", "5.0:MQTT-4.3.3-3", "5.0:MQTT-4.3.3-5", "5.0:MQTT-4.3.3-6")
    def test_unacknowledged_pubrel_resent_on_reconnect(self, v):
        """A QoS 2 delivery that reached PUBREL is resumed on reconnect with PUBREL (same Packet Identifier),
        never the PUBLISH again."""
        cid, topic = self.cid("s"), self.topic()
        c, _ = self.reconnect(v, cid)
        self.subscribe(c, [(topic, 2)])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"x", qos=2)
        p = c.expect(mq.PUBLISH)
        c.send(mq.pubrec(v, p.packet_id))
        self.assertEqual(c.expect(mq.PUBREL).packet_id, p.packet_id)
        c.close()
        c, _ = self.reconnect(v, cid)
        rel = c.expect(mq.PUBREL)
        self.assertEqual(rel.packet_id, p.packet_id)
        c.send(mq.pubcomp(v, p.packet_id))
        c.expect_nothing(0.4)

    @spec("3.1.1:MQTT-4.3.3-1", "5.0:MQTT-4.4.0-1", "5.0:MQTT-4.3.3-3")
    def test_unacknowledged_qos2_publish_resent_on_reconnect(self, v):
        """A QoS 2 PUBLISH without PUBREC is re-sent on reconnect with the same Packet Identifier, DUP 1."""
        cid, topic = self.cid("s"), self.topic()
        c, _ = self.reconnect(v, cid)
        self.subscribe(c, [(topic, 2)])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"x", qos=2)
        p = c.expect(mq.PUBLISH)
        c.close()
        c, _ = self.reconnect(v, cid)
        again = c.expect(mq.PUBLISH)
        self.assertEqual((again.packet_id, again.qos, again.dup), (p.packet_id, 2, True))
        c.send(mq.pubrec(v, again.packet_id))
        c.expect(mq.PUBREL)
        c.send(mq.pubcomp(v, again.packet_id))

    @spec("5.0:MQTT-4.4.0-1", "5.0:MQTT-4.3.2-3")
    def test_no_resend_while_connected(self, v):
        """5.0: an unacknowledged PUBLISH is not re-sent on the same connection."""
        topic = self.topic()
        c = self.subscribed(v, [(topic, 1)])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"x", qos=1)
        p = c.expect(mq.PUBLISH)
        c.expect_nothing(2.0)
        c.send(mq.puback(v, p.packet_id))

    @spec("5.0:MQTT-4.4.0-2")
    def test_failed_puback_is_final(self, v):
        """5.0: a PUBACK with Reason Code 0x80 acknowledges the message: it is not re-sent on reconnect."""
        cid, topic = self.cid("s"), self.topic()
        c, _ = self.reconnect(v, cid)
        self.subscribe(c, [(topic, 1)])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"x", qos=1)
        p = c.expect(mq.PUBLISH)
        c.send(mq.puback(v, p.packet_id, reason=0x80))
        c.send(mq.pingreq())
        c.expect(mq.PINGRESP)
        c.close()
        c, ack = self.reconnect(v, cid)
        self.assertTrue(ack.session_present)
        c.expect_nothing(0.5)

    @spec("5.0:MQTT-4.1.0-2", "5.0:MQTT-3.1.2-23")
    def test_session_expiry(self, v):
        """5.0: a session with Session Expiry Interval 1 s outlives its connection and is gone 2.5 s after the
        close. (The countdown itself is checked in virtual time by tests/unit/core; this is the end-to-end one.)"""
        cid = self.cid("s")
        c, _ = self.reconnect(v, cid, expiry=1)
        c.drop()  # the server has seen the close: the reconnect is not a takeover of a live connection
        c, ack = self.reconnect(v, cid, expiry=1)
        self.assertTrue(ack.session_present)
        c.drop()
        time.sleep(2.5)  # the scenario, not synchronization: the session must stay offline past its expiry
        c, ack = self.reconnect(v, cid, expiry=1)
        self.assertFalse(ack.session_present)

    @spec("5.0:MQTT-4.1.0-2")
    def test_session_expiry_zero(self, v):
        """5.0: without a Session Expiry Interval the session ends with the connection."""
        cid = self.cid("s")
        c, _ = self.connect(v, cid, clean=False)
        c.send(mq.disconnect(v))
        c.expect_closed()
        c, ack = self.connect(v, cid, clean=False)
        self.assertFalse(ack.session_present)

    @spec("3.1.1:MQTT-4.1.0-2", "5.0:MQTT-4.1.0-1")
    def test_clean_session_lasts_while_connected(self, v):
        """A clean session keeps its subscriptions for as long as the connection is open."""
        topic = self.topic()
        c = self.subscribed(v, [(topic, 1)])
        pub = self.connected(v, self.cid("pub"))
        for i in range(3):
            time.sleep(0.3)  # the scenario, not synchronization: time passes while the connection stays open
            self.publish(pub, topic, b"%d" % i, qos=1)
            self.receive(c, topic, b"%d" % i)

    @spec("3.1.1:MQTT-3.1.4-2", "3.1.1:MQTT-3.1.2-4", "5.0:MQTT-3.1.4-3", "5.0:MQTT-3.1.2-5")
    def test_takeover_keeps_session(self, v):
        """A second connection (clean 0) with the same identifier takes over the session of the first:
        Session Present 1, and the first connection is closed."""
        cid, topic = self.cid("s"), self.topic()
        first, _ = self.reconnect(v, cid)
        self.subscribe(first, [(topic, 1)])
        second, ack = self.reconnect(v, cid)
        self.assertTrue(ack.session_present)
        self.assert_closed(first, reasons={0x8E})
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"x", qos=1)
        self.receive(second, topic, b"x")

    @spec("5.0:MQTT-4.3.3-7")
    def test_no_expiry_once_qos2_publish_sent(self, v):
        """5.0: a QoS 2 message with Message Expiry 1 s, sent but not acknowledged, is still re-sent on
        reconnect after 2 s (expiry no longer applies once the PUBLISH was sent)."""
        cid, topic = self.cid("s"), self.topic()
        c, _ = self.reconnect(v, cid)
        self.subscribe(c, [(topic, 2)])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"x", qos=2, properties=[(mq.MESSAGE_EXPIRY_INTERVAL, 1)])
        p = c.expect(mq.PUBLISH)
        c.close()
        time.sleep(2.0)  # the scenario, not synchronization: the message's 1 s expiry passes while it is in flight
        c, _ = self.reconnect(v, cid)
        again = c.expect(mq.PUBLISH)
        self.assertEqual(again.packet_id, p.packet_id)
