"""Retained messages: storing, replacing, clearing, the RETAIN flag on delivery, Retain Handling, Retain As
Published, and a broker without retained messages."""

import mqtt_raw as mq
from framework import BrokerTest, spec
from mqtt_raw import V311, V5


class Retain(BrokerTest):

    @spec("3.1.1:MQTT-3.3.1-5", "3.1.1:MQTT-3.3.1-6", "3.1.1:MQTT-3.3.1-8",
          "5.0:MQTT-3.3.1-5", "5.0:MQTT-3.3.1-9")
    def test_retained_message_sent_to_new_subscriber(self, v):
        """A retained message (with its QoS) is sent, RETAIN 1, to a later subscriber."""
        topic = self.topic()
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"kept", qos=1, retain=True)
        s = self.subscribed(v, [(topic, 2)])
        p = self.receive(s, topic, b"kept")
        self.assertTrue(p.retain)
        self.assertEqual(p.qos, 1)

    @spec("3.1.1:MQTT-3.3.1-5", "3.1.1:MQTT-3.3.1-6", "5.0:MQTT-3.3.1-5")
    def test_retained_message_replaced(self, v):
        """A second retained message on the topic replaces the first; wildcards see the last of each topic."""
        a, b = self.topic("r/a"), self.topic("r/b")
        pub = self.connected(v, self.cid("pub"))
        for t, payload in ((a, b"a1"), (a, b"a2"), (b, b"b1")):
            self.publish(pub, t, payload, qos=1, retain=True)
        s = self.subscribed(v, [(self.topic("r/+"), 1)])
        got = self.collect(s, 0.6)
        self.assertEqual(sorted((p.topic, p.payload) for p in got), [(a, b"a2"), (b, b"b1")])

    @spec("3.1.1:MQTT-3.3.1-7")
    def test_qos0_retained_discards_previous(self, v):
        """3.1.1: a retained QoS 0 message discards the previous retained message (and may itself be kept)."""
        topic = self.topic()
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"old", qos=1, retain=True)
        self.publish(pub, topic, b"new", qos=0, retain=True)
        pub.send(mq.pingreq())
        pub.expect(mq.PINGRESP)
        s = self.subscribed(v, [(topic, 1)])
        self.assertIn([p.payload for p in self.collect(s, 0.5)], ([b"new"], []))

    @spec("3.1.1:MQTT-3.3.1-9", "5.0:MQTT-3.3.1-12")
    def test_retain_flag_cleared_for_established_subscriptions(self, v):
        """A retained message forwarded to an existing subscription has RETAIN 0 (5.0: Retain As Published 0)."""
        topic = self.topic()
        s = self.subscribed(v, [(topic, 1)])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"x", qos=1, retain=True)
        self.assertFalse(self.receive(s, topic, b"x").retain)

    @spec("3.1.1:MQTT-3.3.1-10", "3.1.1:MQTT-3.3.1-11", "5.0:MQTT-3.3.1-6", "5.0:MQTT-3.3.1-7")
    def test_empty_retained_message_clears(self, v):
        """A zero-byte retained message is delivered normally to current subscribers, removes the retained
        message, and is not itself stored."""
        topic = self.topic()
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"x", qos=1, retain=True)
        s = self.subscribed(v, [(topic, 1)], self.cid("s1"))
        self.receive(s, topic, b"x")
        self.publish(pub, topic, b"", qos=1, retain=True)
        self.receive(s, topic, b"")
        later = self.subscribed(v, [(topic, 1)], self.cid("s2"))
        later.expect_nothing(0.5)

    @spec("3.1.1:MQTT-3.3.1-12", "5.0:MQTT-3.3.1-8")
    def test_non_retained_message_leaves_retained_alone(self, v):
        """A message published with RETAIN 0 neither replaces nor removes the retained message."""
        topic = self.topic()
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"kept", qos=1, retain=True)
        self.publish(pub, topic, b"live", qos=1, retain=False)
        self.publish(pub, topic, b"", qos=1, retain=False)
        s = self.subscribed(v, [(topic, 1)])
        self.assertEqual([p.payload for p in self.collect(s, 0.5)], [b"kept"])

    @spec("3.1.1:MQTT-3.1.2-7")
    def test_retained_messages_outlive_the_session(self, v):
        """Retained messages are not part of the publisher's session: they stay after its clean session ends."""
        topic = self.topic()
        pub = self.connected(v, self.cid("pub"), clean=True)
        self.publish(pub, topic, b"kept", qos=1, retain=True)
        pub.send(mq.disconnect(v))
        pub.expect_closed()
        s = self.subscribed(v, [(topic, 1)])
        self.receive(s, topic, b"kept")

    @spec("3.1.1:MQTT-3.8.4-3", "5.0:MQTT-3.8.4-4")
    def test_resubscribe_resends_retained(self, v):
        """Subscribing again to the same filter sends the retained messages again."""
        topic = self.topic()
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"kept", qos=1, retain=True)
        s = self.subscribed(v, [(topic, 1)])
        self.receive(s, topic, b"kept")
        self.subscribe(s, [(topic, 1)], packet_id=2)
        self.assertTrue(self.receive(s, topic, b"kept").retain)

    @spec("5.0:MQTT-3.3.1-10")
    def test_retain_handling_1(self, v):
        """5.0: Retain Handling 1 sends retained messages for a new subscription only, not on re-subscribe."""
        topic = self.topic()
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"kept", qos=1, retain=True)
        s = self.connected(v)
        self.subscribe(s, [(topic, mq.sub_options(1, retain_handling=1))])
        self.receive(s, topic, b"kept")
        self.subscribe(s, [(topic, mq.sub_options(1, retain_handling=1))], packet_id=2)
        s.expect_nothing(0.5)

    @spec("5.0:MQTT-3.3.1-11")
    def test_retain_handling_2(self, v):
        """5.0: Retain Handling 2 sends no retained messages at subscribe time; live messages still flow."""
        topic = self.topic()
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"kept", qos=1, retain=True)
        s = self.connected(v)
        self.subscribe(s, [(topic, mq.sub_options(1, retain_handling=2))])
        s.expect_nothing(0.5)
        self.publish(pub, topic, b"live", qos=1)
        self.receive(s, topic, b"live")

    @spec("5.0:MQTT-3.3.1-13", "5.0:MQTT-3.3.1-12")
    def test_retain_as_published(self, v):
        """5.0: with Retain As Published 1 the RETAIN flag is forwarded as received; with 0 it is cleared."""
        topic = self.topic()
        rap = self.connected(v, self.cid("rap"))
        self.subscribe(rap, [(topic, mq.sub_options(1, retain_as_published=True))])
        plain = self.connected(v, self.cid("plain"))
        self.subscribe(plain, [(topic, mq.sub_options(1))])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"r", qos=1, retain=True)
        self.publish(pub, topic, b"n", qos=1, retain=False)
        self.assertEqual([(p.payload, p.retain) for p in self.collect(rap, 0.5)], [(b"r", True), (b"n", False)])
        self.assertEqual([(p.payload, p.retain) for p in self.collect(plain, 0.5)], [(b"r", False), (b"n", False)])


class RetainUnavailable(BrokerTest):
    broker_config = ["retain_available false"]

    @spec("5.0:MQTT-3.2.2-13")
    def test_will_retain_refused(self, v):
        """5.0: without retained messages, a CONNECT with Will Retain 1 is refused (0x9A), then closed."""
        c = self.client(v)
        c.send(mq.connect(v, self.cid(), will=dict(topic=self.topic("w"), payload=b"x", retain=True)))
        self.assert_refused(c, v, codes5={0x9A})

    @spec("5.0:MQTT-3.2.2-14", "5.0:MQTT-4.13.1-1")
    def test_retained_publish_refused(self, v):
        """5.0: the CONNACK says Retain Available 0; a PUBLISH with RETAIN 1 then closes the connection."""
        c, ack = self.connect(v)
        self.assertEqual(ack.properties.get(mq.RETAIN_AVAILABLE), 0)
        c.send(mq.publish(v, self.topic(), b"x", qos=1, retain=True))
        self.assert_closed(c, reasons={0x9A})
