"""SUBSCRIBE / SUBACK and UNSUBSCRIBE / UNSUBACK: acknowledgements, replacement, wildcards, $-topics and
invalid filters."""

import mqtt_raw as mq
from framework import BrokerTest, spec
from mqtt_raw import V311, V5


class Subscribe(BrokerTest):

    @spec("3.1.1:MQTT-3.8.4-1", "3.1.1:MQTT-3.8.4-2", "3.1.1:MQTT-3.8.4-4", "3.1.1:MQTT-3.8.4-5",
          "3.1.1:MQTT-3.9.3-1", "3.1.1:MQTT-3.9.3-2", "3.1.1:MQTT-2.3.1-7",
          "5.0:MQTT-3.8.4-1", "5.0:MQTT-3.8.4-2", "5.0:MQTT-3.8.4-5", "5.0:MQTT-3.8.4-6", "5.0:MQTT-3.8.4-7",
          "5.0:MQTT-3.9.3-1", "5.0:MQTT-3.9.3-2", "5.0:MQTT-2.2.1-6")
    def test_suback_per_filter_in_order(self, v):
        """One SUBACK with the SUBSCRIBE's Packet Identifier and one code per filter, in order, each the QoS
        granted (at most the one asked) or a failure; each subscription then works."""
        c = self.connected(v)
        filters = [(self.topic("a"), 2), (self.topic("b"), 0), (self.topic("c"), 1)]
        ack = self.subscribe(c, filters, packet_id=0x1234)
        self.assertEqual(len(ack.reasons), 3)
        for (topic, qos), code in zip(filters, ack.reasons):
            self.assertTrue(code <= qos or code >= 0x80, f"{topic}: asked {qos}, got 0x{code:02x}")
        self.assertEqual(ack.reasons, [2, 0, 1], "a broker granting what was asked answers [2, 0, 1]")
        pub = self.connected(v, self.cid("pub"))
        for topic, qos in filters:
            self.publish(pub, topic, b"x", qos=2)
            self.assertEqual(self.receive(c, topic).qos, qos)

    @spec("3.1.1:MQTT-3.8.4-3", "5.0:MQTT-3.8.4-3")
    def test_identical_filter_replaces_subscription(self, v):
        """Subscribing again to the same filter replaces the subscription: one copy, at the new QoS."""
        topic = self.topic()
        c = self.subscribed(v, [(topic, 2)])
        self.subscribe(c, [(topic, 1)], packet_id=2)
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"x", qos=2)
        got = self.collect(c, 0.6)
        self.assertEqual([(p.topic, p.qos) for p in got], [(topic, 1)])

    @spec("3.1.1:MQTT-3.10.4-1", "3.1.1:MQTT-3.10.4-2", "3.1.1:MQTT-3.10.4-4", "3.1.1:MQTT-2.3.1-7",
          "5.0:MQTT-3.10.4-1", "5.0:MQTT-3.10.4-2", "5.0:MQTT-3.10.4-4", "5.0:MQTT-3.10.4-5",
          "5.0:MQTT-2.2.1-6", "5.0:MQTT-3.11.3-2")
    def test_unsubscribe(self, v):
        """UNSUBSCRIBE gets an UNSUBACK with its Packet Identifier, and no more messages arrive."""
        topic = self.topic()
        c = self.subscribed(v, [(topic, 1)])
        c.send(mq.unsubscribe(v, 0x4321, [topic]))
        ack = c.expect(mq.UNSUBACK)
        self.assertEqual(ack.packet_id, 0x4321)
        if v == V5:
            self.assertEqual(ack.reasons, [0x00])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"x", qos=1)
        c.expect_nothing(0.5)

    @spec("3.1.1:MQTT-3.10.4-5", "5.0:MQTT-3.10.4-5", "5.0:MQTT-3.11.3-2")
    def test_unsubscribe_without_subscription(self, v):
        """UNSUBSCRIBE of a filter never subscribed still gets an UNSUBACK (5.0: 0x00 or 0x11)."""
        c = self.connected(v)
        c.send(mq.unsubscribe(v, 9, [self.topic("none")]))
        ack = c.expect(mq.UNSUBACK)
        self.assertEqual(ack.packet_id, 9)
        if v == V5:
            self.assertIn(ack.reasons, ([0x00], [0x11]))

    @spec("3.1.1:MQTT-3.10.4-1", "5.0:MQTT-3.10.4-1")
    def test_unsubscribe_compares_filters_exactly(self, v):
        """UNSUBSCRIBE of a topic that a wildcard filter matches does not remove the wildcard subscription."""
        wild, topic = self.topic("+"), self.topic("x")
        c = self.subscribed(v, [(wild, 0)])
        c.send(mq.unsubscribe(v, 3, [topic]))
        c.expect(mq.UNSUBACK)
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"still")
        self.receive(c, topic, b"still")
        c.send(mq.unsubscribe(v, 4, [wild]))
        c.expect(mq.UNSUBACK)
        self.publish(pub, topic, b"gone")
        c.expect_nothing(0.4)

    @spec("3.1.1:MQTT-3.10.4-6", "5.0:MQTT-3.10.4-6", "5.0:MQTT-3.11.3-1")
    def test_unsubscribe_several_filters(self, v):
        """An UNSUBSCRIBE of several filters removes each and gets one UNSUBACK (5.0: one code per filter, in
        order: 0x00 for the subscribed one, 0x00 or 0x11 for the other)."""
        a, b, none = self.topic("a"), self.topic("b"), self.topic("none")
        c = self.subscribed(v, [(a, 0), (b, 0)])
        c.send(mq.unsubscribe(v, 5, [a, none, b]))
        ack = c.expect(mq.UNSUBACK)
        if v == V5:
            self.assertEqual(len(ack.reasons), 3)
            self.assertEqual(ack.reasons[0], 0)
            self.assertIn(ack.reasons[1], (0x00, 0x11))
            self.assertEqual(ack.reasons[2], 0)
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, a, b"x")
        self.publish(pub, b, b"x")
        c.expect_nothing(0.4)

    @spec("3.1.1:MQTT-3.10.4-3", "5.0:MQTT-3.10.4-3")
    def test_unsubscribe_completes_inflight_delivery(self, v):
        """A QoS 2 delivery started before UNSUBSCRIBE is completed: PUBREC after the UNSUBACK still gets
        PUBREL, and PUBCOMP closes it."""
        topic = self.topic()
        c = self.subscribed(v, [(topic, 2)])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"x", qos=2)
        p = c.expect(mq.PUBLISH)
        c.send(mq.unsubscribe(v, 6, [topic]))
        c.expect(mq.UNSUBACK)
        c.send(mq.pubrec(v, p.packet_id))
        rel = c.expect(mq.PUBREL)
        self.assertEqual(rel.packet_id, p.packet_id)
        c.send(mq.pubcomp(v, p.packet_id))
        c.send(mq.pingreq())
        c.expect(mq.PINGRESP)

    @spec("3.1.1:MQTT-3.3.2-3", "3.1.1:MQTT-3.8.3-2", "5.0:MQTT-3.3.2-3")
    def test_wildcard_matching(self, v):
        """+ matches one level, # any number including none; the delivered topic is the published one."""
        c = self.subscribed(v, [(self.topic("p/+/x"), 0), (self.topic("h/#"), 0)])
        pub = self.connected(v, self.cid("pub"))
        matching = [self.topic("p/a/x"), self.topic("p//x"), self.topic("h"), self.topic("h/a"),
                    self.topic("h/a/b/c")]
        for t in [self.topic("p/a/b/x"), self.topic("p/a"), self.topic("hx")] + matching:
            self.publish(pub, t, t.encode())
        got = self.collect(c, 0.7)
        self.assertEqual(sorted(p.topic for p in got), sorted(matching))
        for p in got:
            self.assertEqual(p.payload, p.topic.encode())

    @spec("3.1.1:MQTT-4.7.2-1", "5.0:MQTT-4.7.2-1")
    def test_wildcards_do_not_match_dollar_topics(self, v):
        """Filters starting with # or + do not match topic names starting with $; an explicit $ filter does."""
        dollar = f"$conf{self.token}/x"
        c = self.subscribed(v, [("#", 0), ("+/x", 0)], self.cid("wild"))
        exact = self.subscribed(v, [(f"$conf{self.token}/#", 0)], self.cid("exact"))
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, dollar, b"d", qos=1)
        self.receive(exact, dollar, b"d")
        got = self.collect(c, 0.6)  # other tests' messages may arrive on "#"
        self.assertEqual([p.topic for p in got if p.topic.startswith("$")], [])

    def assert_filter_refused(self, v, topic_filter):
        """The SUBSCRIBE is refused: a failure code in the SUBACK, or the connection closed."""
        c = self.connected(v, self.cid("f"))
        c.send(mq.subscribe(v, 1, [(topic_filter, 0)]))
        try:
            p = c.recv()
        except mq.Closed:
            return
        if p.type == mq.DISCONNECT:
            self.assertGreaterEqual(p.reason, 0x80)
            c.expect_closed()
            return
        self.assertEqual(p.type, mq.SUBACK, f"{p!r}")
        self.assertGreaterEqual(p.reasons[0], 0x80, f"filter {topic_filter!r} was granted")

    @spec("3.1.1:MQTT-4.7.1-2", "5.0:MQTT-4.7.1-1")
    def test_misplaced_multi_level_wildcard(self, v):
        """Filters with # not last or not a whole level are refused."""
        for bad in (self.topic("#/x"), self.topic("a#"), self.topic("#x")):
            self.assert_filter_refused(v, bad)

    @spec("3.1.1:MQTT-4.7.1-3", "5.0:MQTT-4.7.1-2")
    def test_misplaced_single_level_wildcard(self, v):
        """Filters with + not occupying a whole level are refused."""
        for bad in (self.topic("a+"), self.topic("+a/x")):
            self.assert_filter_refused(v, bad)

    @spec("3.1.1:MQTT-4.7.3-1", "5.0:MQTT-4.7.3-1")
    def test_empty_filter(self, v):
        """An empty topic filter is refused."""
        self.assert_filter_refused(v, "")

    @spec("3.1.1:MQTT-4.7.3-2", "5.0:MQTT-4.7.3-2")
    def test_null_in_filter(self, v):
        """A topic filter containing U+0000 is refused."""
        self.assert_filter_refused(v, self.topic("a\x00b"))

    @spec("3.1.1:MQTT-3.8.3-1", "3.1.1:MQTT-1.5.3-1", "5.0:MQTT-3.8.3-1", "5.0:MQTT-1.5.4-1")
    def test_ill_formed_utf8_filter_closes(self, v):
        """A SUBSCRIBE whose filter is not well-formed UTF-8 closes the connection."""
        c = self.connected(v)
        c.send(mq.subscribe(v, 1, [(b"t/\xed\xb0\x80", 0)]))
        self.assert_closed(c, reasons={0x81, 0x82})

    @spec("3.1.1:MQTT-3.10.3-1", "5.0:MQTT-3.10.3-1")
    def test_ill_formed_utf8_unsubscribe_closes(self, v):
        """An UNSUBSCRIBE whose filter is not well-formed UTF-8 closes the connection."""
        c = self.connected(v)
        c.send(mq.unsubscribe(v, 1, [b"t/\xc1\xbf"]))
        self.assert_closed(c, reasons={0x81, 0x82})

    @spec("3.1.1:MQTT-3.8.3-3", "3.1.1:MQTT-4.8.0-1", "5.0:MQTT-3.8.3-2", "5.0:MQTT-4.13.1-1")
    def test_subscribe_without_filters_closes(self, v):
        """A SUBSCRIBE with no topic filter closes the connection."""
        c = self.connected(v)
        c.send(mq.subscribe(v, 1, []))
        self.assert_closed(c, reasons={0x81, 0x82})

    @spec("3.1.1:MQTT-3.10.3-2", "5.0:MQTT-3.10.3-2")
    def test_unsubscribe_without_filters_closes(self, v):
        """An UNSUBSCRIBE with no topic filter closes the connection."""
        c = self.connected(v)
        c.send(mq.unsubscribe(v, 1, []))
        self.assert_closed(c, reasons={0x81, 0x82})

    @spec("3.1.1:MQTT-3.8.3-4", "5.0:MQTT-3.8.3-5")
    def test_subscription_options_reserved_bits_close(self, v):
        """Requested QoS 3, or reserved bits of the options byte set, close the connection."""
        for options in (0x03, 0x40, 0x80) + ((0x30,) if v == V5 else (0x04,)):
            c = self.connected(v, self.cid("o"))
            c.send(mq.subscribe(v, 1, [(self.topic(), options)]))
            self.assert_closed(c, reasons={0x81, 0x82})

    @spec("3.1.1:MQTT-3.8.1-1", "3.1.1:MQTT-2.2.2-2", "5.0:MQTT-3.8.1-1", "5.0:MQTT-2.1.3-1")
    def test_subscribe_fixed_header_flags_close(self, v):
        """SUBSCRIBE with fixed header flags other than 0010 closes the connection."""
        for flags in (0x00, 0x03, 0x0A):
            c = self.connected(v, self.cid("h"))
            c.send(mq.subscribe(v, 1, [(self.topic(), 0)], flags=flags))
            self.assert_closed(c, reasons={0x81, 0x82})

    @spec("3.1.1:MQTT-3.10.1-1", "3.1.1:MQTT-2.2.2-2", "5.0:MQTT-3.10.1-1", "5.0:MQTT-2.1.3-1")
    def test_unsubscribe_fixed_header_flags_close(self, v):
        """UNSUBSCRIBE with fixed header flags other than 0010 closes the connection."""
        for flags in (0x00, 0x06):
            c = self.connected(v, self.cid("h"))
            c.send(mq.unsubscribe(v, 1, [self.topic()], flags=flags))
            self.assert_closed(c, reasons={0x81, 0x82})

    @spec("3.1.1:MQTT-2.3.1-1", "5.0:MQTT-2.2.1-3")
    def test_subscribe_packet_identifier_zero_closes(self, v):
        """SUBSCRIBE and UNSUBSCRIBE with Packet Identifier 0 close the connection."""
        c = self.connected(v, self.cid("s"))
        c.send(mq.subscribe(v, 0, [(self.topic(), 0)]))
        self.assert_closed(c, reasons={0x81, 0x82})
        c = self.connected(v, self.cid("u"))
        c.send(mq.unsubscribe(v, 0, [self.topic()]))
        self.assert_closed(c, reasons={0x81, 0x82})
