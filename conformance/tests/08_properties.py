"""MQTT 5.0 properties: forwarded unaltered, Message Expiry, Subscription Identifiers, No Local, Request
Problem / Response Information, the client's Maximum Packet Size, and invalid property values."""

import time

import mqtt_raw as mq
from framework import BrokerTest, spec
from mqtt_raw import V5


class Properties(BrokerTest):

    @spec("5.0:MQTT-3.3.2-4", "5.0:MQTT-3.3.2-15", "5.0:MQTT-3.3.2-16", "5.0:MQTT-3.3.2-17",
          "5.0:MQTT-3.3.2-18", "5.0:MQTT-3.3.2-20")
    def test_publication_properties_forwarded_unaltered(self, v):
        """Payload Format Indicator, Content Type, Response Topic, Correlation Data and User Properties (with
        repeats, in order) reach every subscriber unaltered."""
        topic = self.topic()
        subs = [self.subscribed(v, [(topic, q)], self.cid(f"s{q}")) for q in (0, 1)]
        users = [("b", "2"), ("a", "1"), ("b", "1"), ("\u00e9", "")]
        sent = [(mq.PAYLOAD_FORMAT_INDICATOR, 1), (mq.CONTENT_TYPE, "text/plain; charset=utf-8"),
                (mq.RESPONSE_TOPIC, self.topic("reply")), (mq.CORRELATION_DATA, b"\x00\x01corr\xff")]
        sent += [(mq.USER_PROPERTY, u) for u in users]
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, "h\u00e9llo".encode(), qos=1, properties=sent)
        for s in subs:
            p = self.receive(s, topic)
            for ident, value in sent[:4]:
                self.assertEqual(p.properties.get(ident), value, mq.PROPERTIES[ident][0])
            self.assertEqual(p.properties.all(mq.USER_PROPERTY), users)

    @spec("5.0:MQTT-3.3.2-5", "5.0:MQTT-3.3.2-6")
    def test_message_expiry_while_queued(self, v):
        """A Message Expiry Interval is forwarded, reduced by the time the message waited: 60 s to a connected
        subscriber (60 or a little less), 5 s after 2 s in an offline session (at most 3); a message with 1 s
        queued as long is not delivered at all, and one without expiry is delivered without the property. (The
        countdown is checked in virtual time by tests/unit/core; this is the end-to-end one.)"""
        topic, cid = self.topic(), self.cid("s")
        live = self.subscribed(v, [(topic, 1)], self.cid("live"))
        c, _ = self.connect(v, cid, clean=False, properties=self.session(v))
        self.subscribe(c, [(topic, 1)])
        self.go_offline(c, v)
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"x", qos=1, properties=[(mq.MESSAGE_EXPIRY_INTERVAL, 60)])
        self.assertIn(self.receive(live, topic).properties.get(mq.MESSAGE_EXPIRY_INTERVAL), (59, 60))
        self.publish(pub, topic, b"old", qos=1, properties=[(mq.MESSAGE_EXPIRY_INTERVAL, 1)])
        self.publish(pub, topic, b"y", qos=1, properties=[(mq.MESSAGE_EXPIRY_INTERVAL, 5)])
        self.publish(pub, topic, b"kept", qos=1)
        time.sleep(2.1)  # the scenario, not synchronization: the messages wait in the offline session
        c, _ = self.connect(v, cid, clean=False, properties=self.session(v))
        got = self.collect(c, 0.6)
        self.assertEqual([p.payload for p in got], [b"x", b"y", b"kept"], f"{got!r}")
        expiry = {p.payload: p.properties.get(mq.MESSAGE_EXPIRY_INTERVAL) for p in got}
        self.assertLessEqual(expiry.get(b"y", 99), 3, f"{got!r}")
        self.assertLessEqual(expiry.get(b"x", 99), 58, f"{got!r}")
        self.assertIsNone(expiry.get(b"kept"), f"{got!r}")

    @spec("5.0:MQTT-3.3.4-3", "5.0:MQTT-3.3.4-4", "5.0:MQTT-3.3.4-5")
    def test_subscription_identifiers(self, v):
        """Subscription Identifiers come back with the messages of their subscriptions; with two overlapping
        subscriptions, one copy carries both identifiers or each copy carries its own."""
        a, b, plain = self.topic("x"), self.topic("#"), self.topic("plain")
        pub = self.connected(v, self.cid("pub"))
        other = self.subscribed(v, [(plain, 1)], self.cid("plain"))
        self.publish(pub, plain, b"none", qos=1)  # a subscription without an identifier adds none
        self.assertNotIn(mq.SUBSCRIPTION_IDENTIFIER, self.receive(other, plain).properties)
        c = self.connected(v)
        self.subscribe(c, [(a, 1)], packet_id=1, properties=[(mq.SUBSCRIPTION_IDENTIFIER, 7)])
        self.subscribe(c, [(b, 1)], packet_id=2, properties=[(mq.SUBSCRIPTION_IDENTIFIER, 268435455)])
        self.publish(pub, self.topic("y"), b"only-b", qos=1)
        self.assertEqual(self.receive(c).properties.all(mq.SUBSCRIPTION_IDENTIFIER), [268435455])
        self.publish(pub, a, b"both", qos=1)
        got = self.collect(c, 0.6)
        ids = sorted(sorted(p.properties.all(mq.SUBSCRIPTION_IDENTIFIER)) for p in got)
        self.assertIn(ids, ([[7, 268435455]], [[7], [268435455]]), f"{got!r}")

    @spec("5.0:MQTT-3.8.3-3")
    def test_no_local(self, v):
        """With No Local, a client's own messages are not sent back to it; other clients' messages are."""
        topic = self.topic()
        c = self.connected(v, self.cid("me"))
        self.subscribe(c, [(topic, mq.sub_options(1, no_local=True))])
        self.publish(c, topic, b"mine", qos=1)
        other = self.connected(v, self.cid("other"))
        self.publish(other, topic, b"theirs", qos=1)
        self.assertEqual([p.payload for p in self.collect(c, 0.6)], [b"theirs"])

    @spec("5.0:MQTT-3.1.2-28")
    def test_no_response_information_unless_requested(self, v):
        """Without Request Response Information (or with 0) the CONNACK has no Response Information."""
        _, ack = self.connect(v, self.cid("a"))
        self.assertNotIn(mq.RESPONSE_INFORMATION, ack.properties)
        _, ack = self.connect(v, self.cid("b"), properties=[(mq.REQUEST_RESPONSE_INFORMATION, 0)])
        self.assertNotIn(mq.RESPONSE_INFORMATION, ack.properties)

    @spec("5.0:MQTT-3.1.2-29")
    def test_request_problem_information_0(self, v):
        """With Request Problem Information 0, acknowledgements (PUBACK 0x10, PUBREC, PUBCOMP 0x92, SUBACK,
        UNSUBACK 0x11) carry no Reason String or User Property."""
        c = self.connected(v, properties=[(mq.REQUEST_PROBLEM_INFORMATION, 0)])
        c.send(mq.publish(v, self.topic("nobody"), b"x", qos=1, packet_id=1))
        c.send(mq.publish(v, self.topic("nobody"), b"x", qos=2, packet_id=2))
        c.send(mq.pubrel(v, 3))
        c.send(mq.subscribe(v, 4, [(self.topic("s"), 2)]))
        c.send(mq.unsubscribe(v, 5, [self.topic("none")]))
        for _ in range(5):
            p = c.recv()
            self.assertNotIn(mq.REASON_STRING, p.properties, f"{p!r}")
            self.assertNotIn(mq.USER_PROPERTY, p.properties, f"{p!r}")

    @spec("5.0:MQTT-3.1.2-24", "5.0:MQTT-3.1.2-25")
    def test_client_maximum_packet_size(self, v):
        """With the client's Maximum Packet Size 128, a larger message is skipped (not sent, not queued) and
        the next small one is delivered."""
        topic = self.topic()
        c = self.connected(v, properties=[(mq.MAXIMUM_PACKET_SIZE, 128)])
        c.max_packet_size = 128
        self.subscribe(c, [(topic, 1)])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"L" * 200, qos=1)
        self.publish(pub, topic, b"small", qos=1)
        self.assertEqual([p.payload for p in self.collect(c, 0.7)], [b"small"])

    @spec("5.0:MQTT-3.1.2-24", "5.0:MQTT-3.2.2-19", "5.0:MQTT-3.2.2-20", "5.0:MQTT-3.4.2-2",
          "5.0:MQTT-3.4.2-3", "5.0:MQTT-3.5.2-2", "5.0:MQTT-3.5.2-3", "5.0:MQTT-3.6.2-2", "5.0:MQTT-3.6.2-3",
          "5.0:MQTT-3.7.2-2", "5.0:MQTT-3.7.2-3", "5.0:MQTT-3.9.2-1", "5.0:MQTT-3.9.2-2", "5.0:MQTT-3.11.2-1",
          "5.0:MQTT-3.11.2-2", "5.0:MQTT-3.14.2-3", "5.0:MQTT-3.14.2-4")
    def test_small_maximum_packet_size_bounds_every_reply(self, v):
        """With Maximum Packet Size 16 and problem information requested, every reply (CONNACK, PUBACK, PUBREC,
        PUBREL, PUBCOMP, SUBACK, UNSUBACK, the DISCONNECT of a protocol error) is at most 16 bytes: Reason
        Strings and User Properties are left out when they would not fit."""
        c = self.client(v)
        c.max_packet_size = 16
        c.send(mq.connect(v, self.cid(), properties=[(mq.MAXIMUM_PACKET_SIZE, 16),
                                                     (mq.REQUEST_PROBLEM_INFORMATION, 1)]))
        self.assertEqual(c.expect(mq.CONNACK).reason, 0)
        topic = self.topic("t")
        self.subscribe(c, [(topic, 2)])
        c.send(mq.publish(v, self.topic("nobody"), b"", qos=1, packet_id=1))
        c.expect(mq.PUBACK)
        c.send(mq.publish(v, self.topic("nobody"), b"", qos=2, packet_id=2))
        c.expect(mq.PUBREC)
        c.send(mq.pubrel(v, 2))
        c.expect(mq.PUBCOMP)
        c.send(mq.pubrel(v, 3))
        c.expect(mq.PUBCOMP)
        c.send(mq.subscribe(v, 4, [(self.topic("s"), 1)]))
        c.expect(mq.SUBACK)
        c.send(mq.unsubscribe(v, 5, [self.topic("none")]))
        c.expect(mq.UNSUBACK)
        c.send(mq.publish(v, "", b"x", qos=0))  # empty topic and no alias: protocol error
        self.assert_closed(c)

    @spec("5.0:MQTT-3.3.2-13", "5.0:MQTT-1.5.4-1")
    def test_response_topic_ill_formed_utf8_closes(self, v):
        """A Response Topic that is not well-formed UTF-8 closes the connection."""
        c = self.connected(v)
        c.send(mq.publish(v, self.topic(), b"x", properties=[(mq.RESPONSE_TOPIC, b"r/\xed\xa0\x80")]))
        self.assert_closed(c, reasons={0x81, 0x82, 0x90})

    @spec("5.0:MQTT-3.3.2-19", "5.0:MQTT-1.5.4-2")
    def test_content_type_invalid_closes(self, v):
        """A Content Type that is not well-formed UTF-8, or holds U+0000, closes the connection."""
        for bad in (b"text/\xc0\x80", b"text\x00plain"):
            c = self.connected(v, self.cid("ct"))
            c.send(mq.publish(v, self.topic(), b"x", properties=[(mq.CONTENT_TYPE, bad)]))
            self.assert_closed(c, reasons={0x81, 0x82})

    @spec("5.0:MQTT-1.5.7-1")
    def test_user_property_in_publish_ill_formed_closes(self, v):
        """A User Property in a PUBLISH whose name is not well-formed UTF-8 closes the connection."""
        c = self.connected(v)
        c.send(mq.publish(v, self.topic(), b"x", properties=[(mq.USER_PROPERTY, (b"\xed\xa0\x80", "v"))]))
        self.assert_closed(c, reasons={0x81, 0x82})
