"""MQTT 5.0 shared subscriptions ($share/NAME/FILTER)."""

import mqtt_raw as mq
from framework import BrokerTest, spec
from mqtt_raw import V5


class SharedSubscriptions(BrokerTest):

    def share(self, name="t"):
        return f"$share/g{self.token}/{self.topic(name)}"

    @spec("5.0:MQTT-4.8.2-3")
    def test_each_message_to_one_member(self, v):
        """Each message published to a shared subscription goes to exactly one member, at the member's granted
        QoS at most."""
        members = [self.subscribed(v, [(self.share(), q)], self.cid(f"m{q}")) for q in (0, 1)]
        pub = self.connected(v, self.cid("pub"))
        for i in range(10):
            self.publish(pub, self.topic(), b"%d" % i, qos=1)
        got = []
        for q, m in zip((0, 1), members):
            for p in self.collect(m, 0.6):
                self.assertLessEqual(p.qos, q)
                got.append(p.payload)
        self.assertEqual(sorted(got), sorted(b"%d" % i for i in range(10)))

    @spec("5.0:MQTT-4.8.2-1")
    def test_empty_share_name_refused(self, v):
        """$share//FILTER (an empty ShareName) is refused."""
        self.assert_shared_refused(v, f"$share//{self.topic()}")

    @spec("5.0:MQTT-4.8.2-2")
    def test_bad_share_names_refused(self, v):
        """A ShareName with + or #, or with no / and filter after it, is refused."""
        for bad in (f"$share/a+b/{self.topic()}", f"$share/a#/{self.topic()}", f"$share/g{self.token}",
                    f"$share/g{self.token}/"):
            self.assert_shared_refused(v, bad)

    def assert_shared_refused(self, v, topic_filter):
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
        self.assertGreaterEqual(p.reasons[0], 0x80, f"{topic_filter!r} was granted")

    @spec("5.0:MQTT-3.8.3-4")
    def test_no_local_on_shared_subscription_closes(self, v):
        """No Local on a shared subscription is a Protocol Error: the connection is closed."""
        c = self.connected(v)
        c.send(mq.subscribe(v, 1, [(self.share(), mq.sub_options(0, no_local=True))]))
        self.assert_closed(c, reasons={0x82})

    @spec("5.0:MQTT-4.8.2-4")
    def test_delivery_completed_on_reconnect(self, v):
        """A message sent to a member that disconnects before acknowledging is re-sent to it when it
        reconnects (its session kept)."""
        cid = self.cid("m")
        m, _ = self.connect(v, cid, clean=False, properties=self.session(v))
        self.subscribe(m, [(self.share(), 1)])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, self.topic(), b"x", qos=1)
        first = m.expect(mq.PUBLISH)
        m.close()
        m, _ = self.connect(v, cid, clean=False, properties=self.session(v))
        again = m.expect(mq.PUBLISH)
        self.assertEqual((again.packet_id, again.payload, again.dup), (first.packet_id, b"x", True))
        m.send(mq.puback(v, again.packet_id))

    @spec("5.0:MQTT-4.8.2-5")
    def test_not_redirected_when_session_ends(self, v):
        """A message in flight to a member whose session ends (expiry 1 s) is not sent to another member. The end
        of the session is seen through the member's will, whose delay (100 s) outlasts the session, so it is
        published when the session ends [MQTT-3.1.2-8]."""
        will_topic = self.topic("will")
        watcher = self.subscribed(v, [(will_topic, 1)], self.cid("watch"))
        m, _ = self.connect(v, self.cid("m"), clean=False, properties=self.session(v, 1),
                            will=dict(topic=will_topic, payload=b"ended", qos=1,
                                      properties=[(mq.WILL_DELAY_INTERVAL, 100)]))
        self.subscribe(m, [(self.share(), 1)])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, self.topic(), b"x", qos=1)
        m.expect(mq.PUBLISH)
        other = self.subscribed(v, [(self.share(), 1)], self.cid("other"))
        m.drop()
        self.receive(watcher, will_topic, b"ended", timeout=5)  # the session has ended
        other.expect_nothing(0.5)  # bounded negative wait: the message is not redirected

    @spec("5.0:MQTT-4.8.2-6")
    def test_refused_message_not_sent_to_other_member(self, v):
        """A message a member refuses with PUBACK 0x80 is discarded, not sent to another member."""
        m = self.subscribed(v, [(self.share(), 1)], self.cid("m"))
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, self.topic(), b"x", qos=1)
        p = m.expect(mq.PUBLISH)
        other = self.subscribed(v, [(self.share(), 1)], self.cid("other"))
        m.send(mq.puback(v, p.packet_id, reason=0x80))
        other.expect_nothing(0.7)
        m.expect_nothing(0.2)
